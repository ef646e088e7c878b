/*
 * A worker: accept a connection, echo every byte of it back until the
 * client closes, and go back to accept().  One connection at a time, as
 * in Stevens' child_main() (UNIX Network Programming vol. 1, 30.6).
 *
 * The hot path is accept(), then read() and write() per chunk, then
 * close(): nothing else is called per connection.
 *
 * Signals:
 *   SIGQUIT  drain: stop accepting, finish the current connection, exit 0.
 *            The master sends it to the old generation on a reload and
 *            to every worker on a graceful stop.
 *   SIGTERM  left at its default action: the worker ends at once and
 *            the kernel closes its sockets.  Nothing is left to clean up.
 *   SIGHUP, SIGINT  ignored: they are meant for the master (a terminal
 *            sends them to the whole process group with -d).
 *   SIGPIPE  ignored: a peer that resets ends its connection with EPIPE
 *            from write(), not the worker.
 */

#include <sys/types.h>
#include <sys/socket.h>
#ifdef HAVE_PRCTL
#include <sys/prctl.h>
#endif
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <paths.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "echod.h"
#include "log.h"

/*
 * One buffer for the worker's whole life: however much a client sends or
 * refuses to read, a worker's memory does not grow.
 */
#define ECHO_BUFSIZE	(16 * 1024)

/* A descriptor shortage is logged at most this often. */
#define ACCEPT_WARN_INTERVAL	10

static volatile sig_atomic_t	 draining;
static int			*drain_fds;
static size_t			 ndrain_fds;
static struct pollfd		*listen_pfd;	/* serve_many() */
static int			 dead_fd = -1;
static char			 echo_buf[ECHO_BUFSIZE];

/*
 * SIGQUIT: stop accepting.
 *
 * Setting a flag is not enough here.  A worker that has just checked the
 * flag and is about to call accept() would block in it, and then take
 * one more connection after it was told to stop; unlike the master's
 * ppoll(), accept() has no way to unblock signals atomically.  So the
 * handler also points each listening descriptor at /dev/null with
 * dup2(2), which is async-signal-safe: from then on accept() fails at
 * once with ENOTSOCK (and poll() reports the descriptor ready), whenever
 * the signal arrived.  It also drops this worker's reference to the
 * listening sockets, which the master and the new generation keep open.
 */
static void
on_sigquit(int sig)
{
	int	 saved_errno = errno;
	size_t	 i;

	(void)sig;
	draining = 1;
	for (i = 0; i < ndrain_fds; i++)
		(void)dup2(dead_fd, drain_fds[i]);
	errno = saved_errno;
}

static void
worker_signals(void)
{
	struct sigaction	 sa;
	sigset_t		 none;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	/* Restart read() and write(); accept() then fails on dead_fd. */
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_sigquit;
	sigaction(SIGQUIT, &sa, NULL);

	/* The master forked us with its signals blocked. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * "worker [192.0.2.7:57032]": an IPv4 client of the dual-stack socket is
 * shown as IPv4, not as ::ffff:192.0.2.7.  This costs no system call.
 */
static void
title_peer(const struct sockaddr_storage *ss, socklen_t sslen)
{
	const struct sockaddr_in6	*sin6 = (const void *)ss;
	struct sockaddr_storage		 v4;
	struct sockaddr_in		*sin = (void *)&v4;
	char				 host[NI_MAXHOST], serv[NI_MAXSERV];

	if (ss->ss_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		memset(&v4, 0, sizeof(v4));
		sin->sin_family = AF_INET;
		sin->sin_port = sin6->sin6_port;
		memcpy(&sin->sin_addr, &sin6->sin6_addr.s6_addr[12], 4);
		ss = &v4;
		sslen = sizeof(*sin);
	}
	if (getnameinfo((const struct sockaddr *)ss, sslen, host, sizeof(host),
	    serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		setproctitle("worker [busy]");
	else if (ss->ss_family == AF_INET6)
		setproctitle("worker [[%s]:%s]", host, serv);
	else
		setproctitle("worker [%s:%s]", host, serv);
}

static void
title_idle(void)
{
	setproctitle(draining ? "worker [draining]" : "worker [idle]");
}

/* Write all of buf; -1 if the peer went away. */
static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * Echo until the client closes.  A client that half-closes (shutdown
 * SHUT_WR) has had every byte echoed by the time read() returns 0, since
 * each chunk is written back in full before the next one is read.
 */
static void
echo_connection(int fd)
{
	ssize_t	 n;

	for (;;) {
		n = read(fd, echo_buf, sizeof(echo_buf));
		if (n > 0) {
			if (write_all(fd, echo_buf, n) == -1)
				break;
		} else if (n == 0 || errno != EINTR)
			break;	/* closed, or reset: this connection only */
	}
	close(fd);
}

/*
 * What to do after accept() failed: 0 to try again, 1 to stop accepting.
 * Errors that concern one connection are retried at once (accept(2),
 * "Error handling"); a shortage of descriptors or memory is retried after
 * a pause, so that a worker out of descriptors does not spin.
 */
static int
accept_failed(int error)
{
	static time_t	 last_warned;
	struct timespec	 now;

	if (draining)
		return 1;
	switch (error) {
	case EINTR:
	case EAGAIN:
#if EWOULDBLOCK != EAGAIN
	case EWOULDBLOCK:
#endif
	case ECONNABORTED:
	case EPROTO:
	case EPERM:
	case ETIMEDOUT:
	case ENETDOWN:
	case ENETUNREACH:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case EHOSTUNREACH:
	case ENONET:
	case EOPNOTSUPP:
		return 0;
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (last_warned == 0 ||
		    now.tv_sec - last_warned >= ACCEPT_WARN_INTERVAL) {
			errno = error;
			log_warn("accept (pausing, logged once per %d s)",
			    ACCEPT_WARN_INTERVAL);
			last_warned = now.tv_sec;
		}
		(void)poll(NULL, 0, 100);
		return 0;
	default:
		errno = error;
		log_warn("accept");
		return 1;
	}
}

static void
serve_accepted(int fd, const struct sockaddr_storage *ss, socklen_t sslen)
{
	title_peer(ss, sslen);
	echo_connection(fd);
	title_idle();
}

/* One listener: block in accept(); Linux wakes one waiting worker. */
static void
serve_one(int lfd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	int			 fd;

	while (!draining) {
		sslen = sizeof(ss);
		if ((fd = accept(lfd, (struct sockaddr *)&ss, &sslen)) == -1) {
			if (accept_failed(errno))
				return;
			continue;
		}
		serve_accepted(fd, &ss, sslen);
	}
}

/* Several listeners: poll them all; they are non-blocking. */
static void
serve_many(size_t n)
{
	struct sockaddr_storage	 ss;
	struct pollfd		*pfd = listen_pfd;
	socklen_t		 sslen;
	size_t			 i;
	int			 fd;

	while (!draining) {
		if (poll(pfd, n, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		for (i = 0; i < n && !draining; i++) {
			if (pfd[i].revents == 0)
				continue;
			sslen = sizeof(ss);
			fd = accept(pfd[i].fd, (struct sockaddr *)&ss, &sslen);
			if (fd == -1) {
				if (accept_failed(errno))
					return;
				continue;
			}
			serve_accepted(fd, &ss, sslen);
		}
	}
}

void
worker_run(const struct worker_args *wa)
{
	size_t	 i;

	setproctitle("worker [starting]");

#if defined(HAVE_PRCTL) && defined(PR_SET_PDEATHSIG)
	/*
	 * A worker must not outlive its master: orphans would keep the
	 * listening sockets (and so the port) and go unmanaged.  If the
	 * master died before this call, our parent is already someone else.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		log_warn("prctl PR_SET_PDEATHSIG");
	if (getppid() != wa->master_pid)
		_exit(0);
#endif

	if ((dead_fd = open(_PATH_DEVNULL, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("open %s", _PATH_DEVNULL);
		_exit(WORKER_EXIT_SETUP);
	}
	/* Allocated for the worker's life, which may end by SIGTERM. */
	if ((drain_fds = calloc(wa->nlisteners, sizeof(*drain_fds))) == NULL ||
	    (listen_pfd = calloc(wa->nlisteners, sizeof(*listen_pfd))) ==
	    NULL) {
		log_warn("calloc");
		_exit(WORKER_EXIT_SETUP);
	}
	for (i = 0; i < wa->nlisteners; i++) {
		drain_fds[i] = wa->listeners[i].fd;
		listen_pfd[i].fd = wa->listeners[i].fd;
		listen_pfd[i].events = POLLIN;
	}
	ndrain_fds = wa->nlisteners;

	if (privdrop(wa->conf) == -1) {
		log_warnx("worker cannot drop privileges; exiting");
		_exit(WORKER_EXIT_SETUP);
	}

	/* Only now may a SIGQUIT queued since fork() be delivered. */
	worker_signals();
	title_idle();

	if (wa->nlisteners == 1)
		serve_one(wa->listeners[0].fd);
	else
		serve_many(wa->nlisteners);
	/* Told to drain, or a listener broke (logged): the master decides. */
	exit(draining ? 0 : 1);
}
