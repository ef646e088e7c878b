/*
 * The workers' seccomp sandbox ("sandbox yes" in echod.conf(5)).
 *
 * A worker that has dropped its privileges needs very little from the
 * kernel: accept, read, write, close, a way to wait and to log, memory,
 * and a way to die.  Everything else (execve, open, fork, ptrace,
 * socket families other than the syslog socket, ...) is refused by a
 * seccomp-bpf filter, so that a bug in the echo path cannot become a
 * shell, in the spirit of OpenSSH's sandbox-seccomp-filter.c.
 *
 * The filter is compiled once, by the master at start-up, with
 * libseccomp; each worker only loads the compiled program, which is one
 * prctl() and costs no rule generation per fork.
 *
 * A forbidden system call raises SIGSYS (SECCOMP_RET_TRAP) rather than
 * killing outright, so that the worker can note in its scoreboard slot
 * which call it was; the handler then lets SIGSYS kill the worker, and
 * the master, reaping it, logs the call by name.  The handler only
 * stores a number and re-raises the signal.
 */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coverage.h"
#include "log.h"
#include "sandbox.h"

/*
 * The sanitizers' run-time (leak check at exit, error reports written
 * to log_path) needs far more than a worker does: threads, ptrace,
 * /proc.  A sanitizer build lets those through so that its workers are
 * still checked; execve, fork and the rest stay forbidden.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_FOR_SANITIZERS	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_FOR_SANITIZERS	1
#endif
#endif

/* What a worker may call, and why. */
static const char *const allowed[] = {
	/* Serving: the hot path, several listeners, the EMFILE pause. */
	"accept", "accept4", "read", "write", "close", "poll", "ppoll",
	/* UDP workers: a batch of datagrams in, a batch out. */
	"recvmmsg", "sendmmsg",
	/* Bulk echo through a pipe, replaced after a failed connection. */
	"splice", "pipe2",
	/* accept-strategy epoll (the eventfd it waits on is written). */
	"epoll_wait", "epoll_pwait",
	/* Draining: the SIGQUIT handler dup2()s /dev/null over listeners. */
	"dup2", "dup3",
	/* Signals: handlers, and the master's wake-up pipe is a write. */
	"rt_sigreturn", "rt_sigaction", "rt_sigprocmask", "restart_syscall",
	/* Logging to stderr (write) or syslog (its socket, see below). */
	"connect", "sendto", "getpid", "gettid",
	/* Time, for the scoreboard and syslog; sleeping. */
	"clock_gettime", "gettimeofday", "time", "nanosleep",
	"clock_nanosleep",
	/* Memory: malloc in the C library's formatting and syslog. */
	"brk", "munmap", "mremap", "madvise",
	/* arc4random(3) reseeds from the kernel. */
	"getrandom",
	/* Ending: exit(), and abort() on a failed assertion. */
	"exit", "exit_group",
};

#ifdef SANDBOX_FOR_SANITIZERS
static const char *const allowed_for_sanitizers[] = {
	"clone", "clone3", "ptrace", "prctl", "wait4", "sched_yield",
	"open", "openat", "getdents", "getdents64", "readlink", "readlinkat",
	"fstat", "newfstatat", "lseek", "pread64", "sigaltstack", "getppid",
	"kill", "tgkill", "mprotect", "set_robust_list", "rseq", "futex",
	"mmap", "writev", "statx", "uname", "sysinfo",
};
#endif

/*
 * A build for gcov (coverage.h) writes each worker's counts as it ends:
 * libgcov opens, locks, reads and rewrites one file per source file.
 * Never in any other build.
 */
#ifdef ECHOD_COVERAGE
static const char *const allowed_for_coverage[] = {
	"open", "openat", "fcntl", "lseek", "fstat", "newfstatat", "mkdir",
	"ftruncate",
};
#endif

static struct sock_fprog	 compiled;	/* the master's, inherited */
static volatile int32_t		*violation;	/* in the worker's slot */

static int
allow(scmp_filter_ctx ctx, const char *name)
{
	int	 nr, rc;

	/* Not every architecture has every call (poll, time, dup2). */
	if ((nr = seccomp_syscall_resolve_name(name)) == __NR_SCMP_ERROR)
		return 0;
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) < 0) {
		log_warnx("sandbox: cannot allow %s: %s", name, strerror(-rc));
		return -1;
	}
	return 0;
}

/* Calls allowed only with some arguments. */
static int
allow_narrowly(scmp_filter_ctx ctx)
{
	int	 rc;

	/* syslog(3) reconnects to /dev/log: an AF_UNIX socket only. */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	/*
	 * A proxy-protocol listener's PROXY header is peeked at, without
	 * blocking, before it is read (worker.c, read_proxy_header());
	 * recv(2) is recvfrom(2) to the kernel.  Only with those flags:
	 * nothing else in a worker receives this way.
	 */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
		    SCMP_SYS(recvfrom), 1, SCMP_A3(SCMP_CMP_EQ,
		    MSG_PEEK | MSG_DONTWAIT));
	/* Memory that is never executable. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
		    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect),
		    1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* raise(3) from the SIGSYS handler and from abort(). */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill),
		    1, SCMP_A2(SCMP_CMP_EQ, SIGSYS));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill),
		    1, SCMP_A2(SCMP_CMP_EQ, SIGABRT));
	if (rc < 0) {
		log_warnx("sandbox: cannot add a rule: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

/* Read back what seccomp_export_bpf() wrote into a memory file. */
static int
load_program(int fd)
{
	struct stat	 st;

	if (fstat(fd, &st) == -1 || st.st_size <= 0 ||
	    st.st_size % sizeof(struct sock_filter) != 0 ||
	    st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS) {
		log_warnx("sandbox: the compiled filter has a bad size");
		return -1;
	}
	if ((compiled.filter = malloc(st.st_size)) == NULL) {
		log_warn("sandbox");
		return -1;
	}
	if (pread(fd, compiled.filter, st.st_size, 0) != st.st_size) {
		log_warnx("sandbox: cannot read the compiled filter back");
		free(compiled.filter);
		compiled.filter = NULL;
		return -1;
	}
	compiled.len = st.st_size / sizeof(struct sock_filter);
	return 0;
}

int
sandbox_prepare(void)
{
	scmp_filter_ctx	 ctx;
	size_t		 i;
	int		 fd = -1, rc, ret = -1;

	if (compiled.filter != NULL)
		return 0;
	if ((ctx = seccomp_init(SCMP_ACT_TRAP)) == NULL) {
		log_warnx("sandbox: seccomp_init failed");
		return -1;
	}
	/*
	 * The rules as a binary tree, not a list.  Each worker's prctl()
	 * makes the kernel run the filter once for every system call
	 * number of both x86 ABIs (its cache of the calls always allowed):
	 * on a list that walks most of the list per number, the largest
	 * part of a worker's start-up.  A libseccomp without trees keeps
	 * the list, which filters the same.
	 */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (allow(ctx, allowed[i]) == -1)
			goto out;
#ifdef SANDBOX_FOR_SANITIZERS
	for (i = 0; i < sizeof(allowed_for_sanitizers) /
	    sizeof(allowed_for_sanitizers[0]); i++)
		if (allow(ctx, allowed_for_sanitizers[i]) == -1)
			goto out;
#endif
#ifdef ECHOD_COVERAGE
	for (i = 0; i < sizeof(allowed_for_coverage) /
	    sizeof(allowed_for_coverage[0]); i++)
		if (allow(ctx, allowed_for_coverage[i]) == -1)
			goto out;
	/* coverage_catch(): SIGTERM raised again once the counts are out. */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
	    SCMP_A2(SCMP_CMP_EQ, SIGTERM))) < 0) {
		log_warnx("sandbox: cannot add a rule: %s", strerror(-rc));
		goto out;
	}
#endif
	if (allow_narrowly(ctx) == -1)
		goto out;
	if ((fd = memfd_create("echod-sandbox", MFD_CLOEXEC)) == -1) {
		log_warn("sandbox: memfd_create");
		goto out;
	}
	if ((rc = seccomp_export_bpf(ctx, fd)) < 0) {
		log_warnx("sandbox: seccomp_export_bpf: %s", strerror(-rc));
		goto out;
	}
	ret = load_program(fd);
out:
	if (fd != -1)
		close(fd);
	seccomp_release(ctx);
	return ret;
}

static void
on_sigsys(int sig, siginfo_t *info, void *context)
{
	(void)context;
	/* The slot is 0 until now; the master reads it after reaping. */
	*violation = info->si_syscall + 1;
	coverage_dump();
	/* SA_RESETHAND made the action the default one: die of SIGSYS. */
	raise(sig);
}

int
sandbox_enter(volatile int32_t *slot_violation)
{
	struct sigaction	 sa;

	if (compiled.filter == NULL) {
		log_warnx("sandbox: no compiled filter");
		return -1;
	}
	violation = slot_violation;
	*violation = 0;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
	if (sigaction(SIGSYS, &sa, NULL) == -1) {
		log_warn("sandbox: sigaction SIGSYS");
		return -1;
	}
	/* Required to load a filter without privilege; we want it anyway. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		log_warn("sandbox: prctl PR_SET_NO_NEW_PRIVS");
		return -1;
	}
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &compiled) == -1) {
		log_warn("sandbox: prctl PR_SET_SECCOMP");
		return -1;
	}
	return 0;
}

void
sandbox_syscall_name(int32_t recorded, char *buf, size_t len)
{
	char	*name;

	if (recorded <= 0) {
		snprintf(buf, len, "unknown");
		return;
	}
	name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE,
	    recorded - 1);
	if (name != NULL)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "number %d", recorded - 1);
	free(name);
}
