/*
 * Every catchable signal that echod does not use is ignored, in the
 * master and in the workers, so that a stray one (a log-rotation script
 * sending SIGUSR1 to every process named echod, as it would to nginx, a
 * SIGALRM, a real-time signal) cannot kill the service by its default
 * action.  Ignoring, rather than catching, needs no handler and so no
 * rt_sigreturn(2) in the workers' sandbox, and an ignored signal does
 * not even interrupt a system call.
 *
 * Left alone: SIGKILL and SIGSTOP (they cannot be caught), SIGCONT (its
 * default only continues a stopped process), the synchronous fault
 * signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS:
 * a bug or the sandbox, which must end the process), and the C
 * library's reserved real-time signals below SIGRTMIN.  The signals
 * echod uses (SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGCHLD, SIGPIPE,
 * SIGUSR2) are set by the master and the workers themselves, after this.
 */

#include <signal.h>
#include <string.h>

#include "signals.h"

static const int unused_signals[] = {
	SIGUSR1, SIGALRM, SIGVTALRM, SIGPROF, SIGWINCH, SIGURG, SIGIO,
	SIGPWR, SIGTSTP, SIGTTIN, SIGTTOU, SIGXCPU, SIGXFSZ,
#ifdef SIGSTKFLT
	SIGSTKFLT,
#endif
#ifdef SIGEMT
	SIGEMT,
#endif
#ifdef SIGINFO
	SIGINFO,
#endif
};

void
signals_ignore_unused(void)
{
	struct sigaction	 sa;
	size_t			 i;
	int			 sig;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	for (i = 0; i < sizeof(unused_signals) / sizeof(unused_signals[0]);
	    i++)
		(void)sigaction(unused_signals[i], &sa, NULL);
	for (sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		(void)sigaction(sig, &sa, NULL);
}
