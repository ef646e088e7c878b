/*
 * The counts of a gcov build (coverage.h), written before a worker's
 * _exit() or death by signal.  Only in that build: writing them calls
 * stdio and opens files, neither of which a signal handler may do in
 * echod itself.
 */

#include <signal.h>
#include <string.h>

#include "coverage.h"

#ifdef ECHOD_COVERAGE

/* libgcov's: write this process's counts now (only once). */
void	__gcov_dump(void);

void
coverage_dump(void)
{
	__gcov_dump();
}

/* The signal's action is the default again: die of it, as without us. */
static void
on_fatal(int sig)
{
	__gcov_dump();
	raise(sig);
}

/* Dump the counts before sig, left at its default, ends the process. */
void
coverage_catch(int sig)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_fatal;
	sa.sa_flags = SA_RESETHAND;
	sigaction(sig, &sa, NULL);
}
#endif /* ECHOD_COVERAGE */
