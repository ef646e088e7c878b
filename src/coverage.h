/*
 * A build for gcov (configure --enable-coverage, make coverage) writes
 * each process's counts when the process exits.  gcov does that from
 * exit(), and a forked child starts counting from zero; a process that
 * ends by _exit() (daemonize()'s parents, a worker that cannot set
 * itself up) or by a signal (a worker's SIGTERM) would lose its counts,
 * so in that build it dumps them first.  In any other build these are
 * nothing.
 */

#ifndef ECHOD_COVERAGE_H
#define ECHOD_COVERAGE_H

#ifdef ECHOD_COVERAGE
void	coverage_dump(void);
void	coverage_catch(int);
#else
static inline void
coverage_dump(void)
{
}

static inline void
coverage_catch(int sig)
{
	(void)sig;
}
#endif

#endif /* ECHOD_COVERAGE_H */
