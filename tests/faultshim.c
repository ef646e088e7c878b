/*
 * faultshim.so: an LD_PRELOAD library with which the tests make echod's
 * system calls fail on purpose.  ECHOD_FAULT names the fault:
 *
 *   crash-accept     accept() aborts: every worker dies at start-up,
 *                    as a worker with a start-up bug would.
 *   crash-accept-after
 *                    the first ECHOD_FAULT_HEALTHY workers run normally,
 *                    every later one aborts in accept(): one slot of the
 *                    pool keeps failing beside healthy ones.  Workers
 *                    count themselves by creating numbered directories
 *                    in ECHOD_FAULT_DIR (mkdir is atomic).
 *   crash-accept-while
 *                    accept() aborts while the file ECHOD_FAULT_FILE
 *                    exists: a fault that comes and goes.
 *   accept-errors    each worker's first accept() calls fail with
 *                    EINTR, ECONNABORTED, EPROTO, ENOBUFS and EMFILE, one
 *                    each, as accept(2) says they may; later calls work.
 *   fail-setresuid   setresuid() fails with EPERM: the privilege drop
 *                    of every worker fails.
 *   fail-pwrite      pwrite() fails with ENOSPC: libbsd's pidfile_write()
 *                    fails, as on a full disk.
 *   slow-setup       a worker's set-up takes ECHOD_FAULT_DELAY_MS longer:
 *                    its first getppid(), near its end, sleeps first.
 *   crash-setup      a worker aborts in its first getppid(), near the end
 *                    of its set-up: a crash at start-up, before it ever
 *                    waits in accept().
 *   fail-fork-after  the first ECHOD_FAULT_FORKS fork() calls work, later
 *                    ones fail with EAGAIN, as at a process limit; each
 *                    attempt is counted in ECHOD_FAULT_DIR.
 *   exec-on-accept   a worker that accepts a connection from 127.0.0.2
 *                    runs "sh -c $ECHOD_FAULT_EXEC", as an attacker who
 *                    took over the echo path would try to; the sandbox
 *                    must stop it.  The choice costs no system call, so
 *                    that the first call the sandbox sees is execve().
 *   exec-on-recvmmsg a UDP worker that receives a datagram from 127.0.0.2
 *                    runs "sh -c $ECHOD_FAULT_EXEC", as exec-on-accept.
 *   trunc-on-recvmmsg
 *                    recvmmsg() says each datagram from 127.0.0.3 did not
 *                    fit (MSG_TRUNC), as one larger than the UDP worker's
 *                    buffer would, which no datagram over IP can be.
 *   kill-when-busy   a worker that accepts a connection from 127.0.0.3
 *                    dies by SIGKILL in its next clock_gettime(), the
 *                    time stamp of its slot as it turns busy: a kill -9
 *                    in the middle of its change from idle to busy in
 *                    the scoreboard.  Needs "sandbox no" (kill(2)).
 *
 * With ECHOD_FAULT_GATE set to a path instead, the fault is the name
 * written in that file, read by each process as it is forked (and by the
 * first one as it starts): none while there is no file.  A test writes
 * it before a reload, so that the new generation's workers fail while
 * the old one's, forked before, do not.
 *
 * Only workers call accept(), setresuid() and getppid(), only the
 * master fork(), and only pidfile_write() pwrite(), so the tests see how the master
 * handles the failures.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ECHOD_FAULT_GATE: the fault its file named when this process began. */
static char	 gate_fault[64];

static void
look_at_gate(void)
{
	const char	*gate = getenv("ECHOD_FAULT_GATE");
	ssize_t		 n = 0;
	int		 fd;

	if (gate != NULL && (fd = open(gate, O_RDONLY | O_CLOEXEC)) != -1) {
		if ((n = read(fd, gate_fault, sizeof(gate_fault) - 1)) < 0)
			n = 0;
		close(fd);
	}
	while (n > 0 && (gate_fault[n - 1] == '\n' || gate_fault[n - 1] == ' '))
		n--;
	gate_fault[n] = '\0';
}

static void __attribute__((__constructor__))
faultshim_init(void)
{
	look_at_gate();
	(void)pthread_atfork(NULL, NULL, look_at_gate);
}

static int
fault_is(const char *name)
{
	const char	*fault = getenv("ECHOD_FAULT");

	if (getenv("ECHOD_FAULT_GATE") != NULL)
		fault = gate_fault;
	return fault != NULL && strcmp(fault, name) == 0;
}

/* Count one more event in ECHOD_FAULT_DIR; returns its number, from 0. */
static long
count_event(void)
{
	const char	*dir = getenv("ECHOD_FAULT_DIR");
	char		 path[4096];
	long		 number;

	if (dir == NULL)
		return -1;
	for (number = 0; number < 100000; number++) {
		snprintf(path, sizeof(path), "%s/%ld", dir, number);
		if (mkdir(path, 0700) == 0)
			break;
	}
	return number;
}

/* This worker's number among all workers started, from 0. */
static long
worker_number(void)
{
	static long	 number = -1;

	if (number < 0)
		number = count_event();
	return number;
}

/* Whether a peer is 127.0.0.N, as IPv4 or IPv4-mapped IPv6. */
static int
from_127_0_0(const struct sockaddr *sa, unsigned char n)
{
	const struct sockaddr_in	*sin = (const void *)sa;
	const struct sockaddr_in6	*sin6 = (const void *)sa;
	unsigned char			 mapped[16] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 0
	};

	if (sa == NULL)
		return 0;
	mapped[15] = n;
	if (sa->sa_family == AF_INET)
		return sin->sin_addr.s_addr == htonl(0x7f000000 | n);
	return sa->sa_family == AF_INET6 &&
	    memcmp(&sin6->sin6_addr, mapped, sizeof(mapped)) == 0;
}

/* kill-when-busy: set by accept(), acted on by clock_gettime(). */
static volatile int	 kill_at_clock;

int
clock_gettime(clockid_t clock, struct timespec *ts)
{
	static int	(*real_clock_gettime)(clockid_t, struct timespec *);

	if (kill_at_clock)
		kill(getpid(), SIGKILL);
	if (real_clock_gettime == NULL)
		real_clock_gettime = (int (*)(clockid_t, struct timespec *))
		    dlsym(RTLD_NEXT, "clock_gettime");
	return real_clock_gettime(clock, ts);
}

pid_t
fork(void)
{
	static pid_t	(*real_fork)(void);
	const char	*forks = getenv("ECHOD_FAULT_FORKS");

	if (fault_is("fail-fork-after") && forks != NULL &&
	    count_event() >= atol(forks)) {
		errno = EAGAIN;
		return -1;
	}
	if (real_fork == NULL)
		real_fork = (pid_t (*)(void))dlsym(RTLD_NEXT, "fork");
	return real_fork();
}

int
accept(int fd, struct sockaddr *sa, socklen_t *len)
{
	static int	(*real_accept)(int, struct sockaddr *, socklen_t *);
	const char	*healthy = getenv("ECHOD_FAULT_HEALTHY");
	const char	*file = getenv("ECHOD_FAULT_FILE");

	static const int errors[] = {
		EINTR, ECONNABORTED, EPROTO, ENOBUFS, EMFILE
	};
	static size_t	 nerrors;

	if (fault_is("crash-accept"))
		abort();
	if (fault_is("accept-errors") &&
	    nerrors < sizeof(errors) / sizeof(errors[0])) {
		errno = errors[nerrors++];
		return -1;
	}
	if (fault_is("crash-accept-after") && healthy != NULL &&
	    worker_number() >= atol(healthy))
		abort();
	if (fault_is("crash-accept-while") && file != NULL &&
	    access(file, F_OK) == 0)
		abort();
	if (real_accept == NULL)
		real_accept = (int (*)(int, struct sockaddr *, socklen_t *))
		    dlsym(RTLD_NEXT, "accept");
	fd = real_accept(fd, sa, len);
	if (fd != -1 && fault_is("kill-when-busy") && from_127_0_0(sa, 3))
		kill_at_clock = 1;
	if (fd != -1 && fault_is("exec-on-accept") && from_127_0_0(sa, 2))
		execl("/bin/sh", "sh", "-c", getenv("ECHOD_FAULT_EXEC"),
		    (char *)NULL);
	return fd;
}

int
setresuid(uid_t r, uid_t e, uid_t s)
{
	static int	(*real_setresuid)(uid_t, uid_t, uid_t);

	if (fault_is("fail-setresuid")) {
		errno = EPERM;
		return -1;
	}
	if (real_setresuid == NULL)
		real_setresuid = (int (*)(uid_t, uid_t, uid_t))
		    dlsym(RTLD_NEXT, "setresuid");
	return real_setresuid(r, e, s);
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	static ssize_t	(*real_pwrite)(int, const void *, size_t, off_t);

	if (fault_is("fail-pwrite")) {
		errno = ENOSPC;
		return -1;
	}
	if (real_pwrite == NULL)
		real_pwrite = (ssize_t (*)(int, const void *, size_t, off_t))
		    dlsym(RTLD_NEXT, "pwrite");
	return real_pwrite(fd, buf, len, off);
}

pid_t
getppid(void)
{
	static pid_t	(*real_getppid)(void);
	static int	 slept;
	const char	*delay = getenv("ECHOD_FAULT_DELAY_MS");

	if (fault_is("crash-setup"))
		abort();
	if (fault_is("slow-setup") && !slept && delay != NULL) {
		slept = 1;
		usleep(atol(delay) * 1000);
	}
	if (real_getppid == NULL)
		real_getppid = (pid_t (*)(void))dlsym(RTLD_NEXT, "getppid");
	return real_getppid();
}

int
recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags,
    struct timespec *timeout)
{
	static int	(*real_recvmmsg)(int, struct mmsghdr *, unsigned int,
			    int, struct timespec *);
	int		 got, i;

	if (real_recvmmsg == NULL)
		real_recvmmsg = (int (*)(int, struct mmsghdr *, unsigned int,
		    int, struct timespec *))dlsym(RTLD_NEXT, "recvmmsg");
	got = real_recvmmsg(fd, v, n, flags, timeout);
	if (got > 0 && fault_is("trunc-on-recvmmsg"))
		for (i = 0; i < got; i++)
			if (from_127_0_0(v[i].msg_hdr.msg_name, 3))
				v[i].msg_hdr.msg_flags |= MSG_TRUNC;
	if (got > 0 && fault_is("exec-on-recvmmsg") &&
	    from_127_0_0(v[0].msg_hdr.msg_name, 2))
		execl("/bin/sh", "sh", "-c", getenv("ECHOD_FAULT_EXEC"),
		    (char *)NULL);
	return got;
}
