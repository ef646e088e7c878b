/*
 * A worker: accept a connection, echo every byte of it back until the
 * client closes, and go back to accept().  One connection at a time, as
 * in Stevens' child_main() (UNIX Network Programming vol. 1, 30.6).
 *
 * The hot path is accept(), then read() and write() per chunk, then
 * close(): no other system call is made per connection.  The worker's slot in
 * the scoreboard is kept up to date with plain stores, and the pool's
 * count of idle workers with one atomic operation each way.  Only when a
 * connection takes the pool below min-spare does a worker write to the
 * master's wake pipe, once per shortage.
 *
 * idle-timeout needs no call either: the listening sockets carry it as
 * SO_RCVTIMEO and SO_SNDTIMEO, which accept() copies into each
 * connection, so a read() or write() that waits that long fails with
 * EAGAIN.
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
#include "scoreboard.h"

/*
 * One buffer for the worker's whole life: however much a client sends or
 * refuses to read, a worker's memory does not grow.
 */
#define ECHO_BUFSIZE	(16 * 1024)

/* A descriptor shortage, or clients over their limit, logged this often. */
#define WARN_INTERVAL	10

/* A single writer's counter: readers see whole values, never torn ones. */
#define SLOT_ADD(field, n) \
	__atomic_store_n(&self->field, self->field + (n), __ATOMIC_RELAXED)

static volatile sig_atomic_t	 draining;
static int			*drain_fds;
static size_t			 ndrain_fds;
static struct pollfd		*listen_pfd;	/* serve_many() */
static int			 dead_fd = -1;
static char			 echo_buf[ECHO_BUFSIZE];

static const struct worker_args	*args;
static struct scoreboard	*sb;
static struct slot		*self;
static uint64_t			 recycle_after;	/* connections; 0: never */
static int			 recycled;

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

static void
slot_enter(enum slot_state state)
{
	__atomic_store_n(&self->since, scoreboard_now(), __ATOMIC_RELAXED);
	__atomic_store_n(&self->state, state, __ATOMIC_RELEASE);
}

/*
 * Between connections.  The idle count goes up only after the slot says
 * idle (see scoreboard.h: the count may err low, never high).
 */
static void
become_idle(void)
{
	if (draining) {
		slot_enter(SLOT_DRAINING);
		setproctitle("worker [draining]");
		return;
	}
	slot_enter(SLOT_IDLE);
	__atomic_add_fetch(&sb->idle, 1, __ATOMIC_RELAXED);
	setproctitle("worker [idle]");
}

/*
 * Ask the master for more workers: one byte per shortage, not per client.
 * Sequentially consistent, as is the master's clearing of the flag: the
 * worker's "busy" must not pass the master's look at the slots while
 * each still sees the other's old value, or the wake-up is lost.
 */
static void
wake_master(void)
{
	if (__atomic_exchange_n(&sb->wake, 1, __ATOMIC_SEQ_CST) == 0)
		(void)write(args->wake_fd, "", 1);	/* non-blocking */
}

static void
become_busy(const struct sockaddr_storage *ss, socklen_t sslen,
    const uint8_t key[16])
{
	char	 peer[LISTEN_NAME_MAX];
	int	 idle;

	idle = __atomic_sub_fetch(&sb->idle, 1, __ATOMIC_RELAXED);
	memcpy(&self->peer, ss, sslen);
	memcpy(self->peer_key, key, sizeof(self->peer_key));
	__atomic_store_n(&self->conn_in, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&self->conn_out, 0, __ATOMIC_RELAXED);
	SLOT_ADD(connections, 1);
	slot_enter(SLOT_BUSY);
	peer_format(ss, sslen, peer, sizeof(peer));
	setproctitle("worker [%s]", peer);
	if (idle < args->conf->min_spare)
		wake_master();
}

/*
 * Whether this client already has max-connections-per-address others
 * being served, by any worker.  Two of its connections accepted at the
 * same instant may both pass: the limit errs towards serving.
 */
static int
over_address_limit(const uint8_t key[16])
{
	uint32_t	 i, n = 0, high;
	int		 limit = args->conf->max_conns_per_address;

	if (limit == 0)
		return 0;
	high = __atomic_load_n(&sb->high_water, __ATOMIC_ACQUIRE);
	for (i = 0; i < high; i++) {
		const struct slot *s = &sb->slots[i];

		if (s == self ||
		    __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != SLOT_BUSY)
			continue;
		if (memcmp(s->peer_key, key, 16) == 0 && ++n >= (uint32_t)limit)
			return 1;
	}
	return 0;
}

static void
refuse(int fd, const struct sockaddr_storage *ss, socklen_t sslen)
{
	static int64_t	 last_warned;
	char		 peer[LISTEN_NAME_MAX];
	int64_t		 now = scoreboard_now();

	close(fd);
	SLOT_ADD(refused, 1);
	if (last_warned != 0 && now - last_warned < WARN_INTERVAL * 1000)
		return;
	last_warned = now;
	peer_format(ss, sslen, peer, sizeof(peer));
	log_warnx("%s: its address has max-connections-per-address (%d) "
	    "connections already: closed (logged once per %d s)", peer,
	    args->conf->max_conns_per_address, WARN_INTERVAL);
}

/* Write all of buf; -1 if the peer went away or stopped reading. */
static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)	/* idle-timeout */
				SLOT_ADD(timeouts, 1);
			else			/* reset, or gone */
				SLOT_ADD(errors, 1);
			return -1;
		}
		SLOT_ADD(conn_out, n);
		SLOT_ADD(bytes_out, n);
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * Echo until the client closes.  A client that half-closes (shutdown
 * SHUT_WR) has had every byte echoed by the time read() returns 0, since
 * each chunk is written back in full before the next one is read.
 * in and out are one socket, but for echod -i (inetd.c).
 */
static void
echo_connection(int in, int out)
{
	ssize_t	 n;

	for (;;) {
		n = read(in, echo_buf, sizeof(echo_buf));
		if (n > 0) {
			SLOT_ADD(conn_in, n);
			SLOT_ADD(bytes_in, n);
			if (write_all(out, echo_buf, n) == -1)
				break;
		} else if (n == 0)
			break;		/* closed */
		else if (errno == EAGAIN) {
			SLOT_ADD(timeouts, 1);	/* idle-timeout */
			break;
		} else if (errno != EINTR) {
			SLOT_ADD(errors, 1);	/* reset: this connection only */
			break;
		}
	}
}

/*
 * echod -i: the same loop on standard input and output, counting into
 * the caller's slot, since there is no scoreboard.
 */
void
worker_echo(int in, int out, struct slot *counters)
{
	self = counters;
	echo_connection(in, out);
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
	static int64_t	 last_warned;
	int64_t		 now;

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
		now = scoreboard_now();
		if (last_warned == 0 ||
		    now - last_warned >= WARN_INTERVAL * 1000) {
			errno = error;
			log_warn("accept (pausing, logged once per %d s)",
			    WARN_INTERVAL);
			last_warned = now;
		}
		(void)poll(NULL, 0, 100);
		return 0;
	default:
		errno = error;
		log_warn("accept");
		return 1;
	}
}

/*
 * One accepted connection, start to end.  Returns 1 when the worker has
 * served its max-connections-per-worker and should make room for a new
 * one.
 */
static int
serve_accepted(int fd, const struct sockaddr_storage *ss, socklen_t sslen)
{
	uint8_t	 key[16];

	peer_key(ss, key);
	if (over_address_limit(key)) {
		refuse(fd, ss, sslen);
		return 0;
	}
	become_busy(ss, sslen, key);
	echo_connection(fd, fd);
	close(fd);
	if (recycle_after != 0 && self->connections >= recycle_after) {
		slot_enter(SLOT_DRAINING);
		recycled = 1;
		return 1;
	}
	become_idle();
	return 0;
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
		if (serve_accepted(fd, &ss, sslen))
			return;
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
			if (serve_accepted(fd, &ss, sslen))
				return;
		}
	}
}

void
worker_run(const struct worker_args *wa)
{
	size_t	 i;
	int	 n;

	args = wa;
	sb = wa->scoreboard;
	self = &sb->slots[wa->slot];
	setproctitle("worker [starting]");

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

#if defined(HAVE_PRCTL) && defined(PR_SET_PDEATHSIG)
	/*
	 * A worker must not outlive its master: orphans would keep the
	 * listening sockets (and so the port) and go unmanaged.  This comes
	 * after the privilege drop because Linux clears the parent-death
	 * signal when a process's credentials change.  If the master died
	 * before this call, our parent is already someone else.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		log_warn("prctl PR_SET_PDEATHSIG");
	if (getppid() != wa->master_pid)
		_exit(0);
#endif

	/*
	 * Workers started together must not all be recycled together: each
	 * stops after N connections less a random quarter of N at most.
	 */
	if ((n = wa->conf->max_conns_per_worker) > 0)
		recycle_after = n - arc4random_uniform(n / 4 + 1);

	/* Only now may a SIGQUIT queued since fork() be delivered. */
	worker_signals();
	become_idle();

	if (wa->nlisteners == 1)
		serve_one(wa->listeners[0].fd);
	else
		serve_many(wa->nlisteners);
	/*
	 * Told to drain, or recycled: a normal end.  Otherwise a listener
	 * broke (logged) and the master decides what follows.
	 */
	if (recycled)
		exit(WORKER_EXIT_RECYCLED);
	exit(draining ? 0 : 1);
}
