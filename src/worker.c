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
 * A client that sends in bulk (a read() fills the whole buffer) is
 * echoed from then on with splice(2) through a pipe the worker keeps:
 * the kernel moves the data from socket to socket without copying it
 * through the worker, which halved the CPU per GB echoed and raised a
 * single stream's rate by half (BENCHMARKS.md).  Small round trips stay
 * with read() and write(), which splice would make dearer.
 *
 * idle-timeout needs no call either: the listening sockets carry it as
 * SO_RCVTIMEO and SO_SNDTIMEO, which accept() copies into each
 * connection, so a read() or write() that waits that long fails with
 * EAGAIN.
 *
 * A listener with "proxy-protocol" (echod.conf(5)) costs its own
 * connections a few more calls, to read the PROXY header that a load
 * balancer sends first (read_proxy_header()); the other listeners'
 * connections take the path above, unchanged.
 *
 * Signals:
 *   SIGQUIT  drain: stop accepting, finish the current connection, exit 0.
 *            The master sends it to the old generation on a reload and
 *            to every worker on a graceful stop.
 *   SIGTERM  left at its default action: the worker ends at once and
 *            the kernel closes its sockets.  Nothing is left to clean up.
 *            (A gcov build writes its counts first: coverage.h.)
 *   SIGHUP, SIGINT  ignored: they are meant for the master (a terminal
 *            sends them to the whole process group with -d).
 *   SIGPIPE  ignored: a peer that resets ends its connection with EPIPE
 *            from write(), not the worker.
 */

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
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

#include "coverage.h"
#include "echod.h"
#include "log.h"
#include "proxyproto.h"
#include "scoreboard.h"

/*
 * One buffer for the worker's whole life: however much a client sends or
 * refuses to read, a worker's memory does not grow.
 */
#define ECHO_BUFSIZE	(16 * 1024)
/* The most a splice() takes at once: the pipe's default capacity. */
#define ECHO_SPLICE_MAX	(64 * 1024)

/* A descriptor shortage, or clients over their limit, logged this often. */
#define WARN_INTERVAL	10

/*
 * How long a connection on a proxy-protocol listener has to send its
 * whole PROXY header, in seconds, or idle-timeout if that is shorter.
 * A balancer sends the header at once with the connection's first
 * segment, so a connection that has not after this long is not from a
 * working balancer, and must not hold a worker for all of idle-timeout
 * (300 s by default).  The specification asks for at least 3 s, to
 * cover a retransmitted segment.
 */
#define PROXY_HEADER_TIMEOUT	5

/* A v1 line, or a v2 header with a few TLVs, in one peek. */
#define PROXY_PEEK		512

/* Events taken per epoll_wait(); level-triggered, the rest come next. */
#define EPOLL_EVENTS		8

/* A single writer's counter: readers see whole values, never torn ones. */
#define SLOT_ADD(field, n) \
	__atomic_store_n(&self->field, self->field + (n), __ATOMIC_RELAXED)

static volatile sig_atomic_t	 draining;
static int			*drain_fds;
static size_t			 ndrain_fds;
static struct pollfd		*listen_pfd;	/* serve_many() */
static int			 dead_fd = -1;
static int			 epoll_fd = -1;		/* serve_epoll() */
static int			 drain_event = -1;	/* serve_epoll() */
static volatile sig_atomic_t	 waiting;		/* serve_epoll() */
static char			 echo_buf[ECHO_BUFSIZE];
/* For splice(): [0] read end, [1] write end; -1 when there is none. */
static int			 splice_pipe[2] = { -1, -1 };
/* Untouched, and so no memory, unless a proxy-protocol listener is used. */
static uint8_t			 proxy_buf[PROXY_HEADER_MAX];

static const struct worker_args	*args;
static struct scoreboard	*sb;
static struct slot		*self;
static uint64_t			 recycle_after;	/* connections; 0: never */
static int			 recycled;

/*
 * Stop accepting on every listener: point each listening descriptor at
 * /dev/null.  Async-signal-safe (dup2(2) only), for on_sigquit().
 */
static void
drop_listeners(void)
{
	size_t	 i;

	for (i = 0; i < ndrain_fds; i++)
		(void)dup2(dead_fd, drain_fds[i]);
}

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
 *
 * accept-strategy epoll is the exception, while the worker waits
 * (serve_epoll() explains why): there the handler leaves the listeners
 * alone and wakes epoll_wait() through drain_event instead, which works
 * whenever the signal arrived, since the event stays readable.
 */
static void
on_sigquit(int sig)
{
	int		 saved_errno = errno;
	uint64_t	 one = 1;

	(void)sig;
	draining = 1;
	if (waiting)
		(void)write(drain_event, &one, sizeof(one));
	else
		drop_listeners();
	errno = saved_errno;
}

/* An end before the worker serves: no exit() handlers of the master's. */
static void __attribute__((__noreturn__))
worker_exit(int status)
{
	coverage_dump();
	_exit(status);
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
	coverage_catch(SIGTERM);
	/*
	 * Restart read() and write(); accept() then fails on dead_fd.
	 * (poll(2) and epoll_wait(2) fail with EINTR all the same.)
	 */
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
	__atomic_store_n(&self->via_port, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&self->conn_in, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&self->conn_out, 0, __ATOMIC_RELAXED);
	slot_enter(SLOT_BUSY);
	peer_format(ss, sslen, peer, sizeof(peer));
	setproctitle("worker [%s]", peer);
	if (idle < args->conf->min_spare)
		wake_master();
}

/*
 * The client a PROXY header named, in place of the balancer the slot
 * showed while the header was read; the balancer becomes the "via" by
 * which echodctl conns finds the socket in the kernel.  The slot is
 * busy meanwhile, so a reader may catch the address half-written: a
 * moment's wrong PEER in echodctl, or a key that matches nothing, which
 * errs towards serving as the per-address limit does anyway.
 */
static void
show_client(const struct sockaddr_storage *client, socklen_t clientlen,
    const uint8_t key[16])
{
	const struct sockaddr_storage	*via = &self->peer;
	char				 peer[LISTEN_NAME_MAX];

	memcpy(self->via_key, self->peer_key, sizeof(self->via_key));
	__atomic_store_n(&self->via_port, via->ss_family == AF_INET6 ?
	    ntohs(((const struct sockaddr_in6 *)via)->sin6_port) :
	    ntohs(((const struct sockaddr_in *)via)->sin_port),
	    __ATOMIC_RELAXED);
	memcpy(&self->peer, client, clientlen);
	memcpy(self->peer_key, key, sizeof(self->peer_key));
	peer_format(client, clientlen, peer, sizeof(peer));
	setproctitle("worker [%s]", peer);
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

/* Whether a warning last given at *last may be given again; if so, now. */
static int
warn_due(int64_t *last)
{
	int64_t	 now = scoreboard_now();

	if (*last != 0 && now - *last < WARN_INTERVAL * 1000)
		return 0;
	*last = now;
	return 1;
}

static void
refuse(int fd, const struct sockaddr_storage *ss, socklen_t sslen)
{
	static int64_t	 last_warned;
	char		 peer[LISTEN_NAME_MAX];

	close(fd);
	SLOT_ADD(refused, 1);
	if (!warn_due(&last_warned))
		return;
	peer_format(ss, sslen, peer, sizeof(peer));
	log_warnx("%s: its address has max-connections-per-address (%d) "
	    "connections already: closed (logged once per %d s)", peer,
	    args->conf->max_conns_per_address, WARN_INTERVAL);
}

/* No valid PROXY header: closed unechoed, an error, logged like refuse(). */
static void
bad_header(int fd, const struct sockaddr_storage *ss, socklen_t sslen,
    const char *why)
{
	static int64_t	 last_warned;
	char		 peer[LISTEN_NAME_MAX];

	close(fd);
	SLOT_ADD(errors, 1);
	if (!warn_due(&last_warned))
		return;
	peer_format(ss, sslen, peer, sizeof(peer));
	log_warnx("%s, on a proxy-protocol listener: %s: closed (logged "
	    "once per %d s)", peer, why, WARN_INTERVAL);
}

/*
 * The pipe is empty between connections.  A connection that ends with
 * data still in it (the client reset, or stopped reading) leaves it
 * holding stale bytes, which must never reach the next client: the pipe
 * is replaced.  Without one, the worker goes on with read() and write().
 */
static void
open_splice_pipe(void)
{
	if (pipe2(splice_pipe, O_CLOEXEC) == -1) {
		log_warn("pipe2 (echoing without splice from now on)");
		splice_pipe[0] = splice_pipe[1] = -1;
	}
}

static void
replace_splice_pipe(void)
{
	close(splice_pipe[0]);
	close(splice_pipe[1]);
	open_splice_pipe();
}

/*
 * How a read, write or splice that failed ends its connection: counted
 * as an idle-timeout (EAGAIN: SO_RCVTIMEO or SO_SNDTIMEO expired) or an
 * error (reset, gone).  EINTR is not a failure: 0, try again.
 */
static int
io_failed(void)
{
	if (errno == EINTR)
		return 0;
	if (errno == EAGAIN)
		SLOT_ADD(timeouts, 1);
	else
		SLOT_ADD(errors, 1);
	return -1;
}

/* Write all of buf; -1 if the peer went away or stopped reading. */
static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (io_failed() == -1)
				return -1;
			continue;
		}
		SLOT_ADD(conn_out, n);
		SLOT_ADD(bytes_out, n);
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * Echo the rest of a connection with splice(): socket to pipe, pipe to
 * socket, each chunk in full before the next, as with read() and
 * write().  Returns when the client has closed or the connection failed.
 */
static void
echo_spliced(int in, int out)
{
	ssize_t	 n, m;

	for (;;) {
		n = splice(in, NULL, splice_pipe[1], NULL, ECHO_SPLICE_MAX,
		    SPLICE_F_MOVE);
		if (n == 0)
			return;		/* closed, and everything echoed */
		if (n == -1) {
			if (io_failed() == -1)
				return;
			continue;
		}
		SLOT_ADD(conn_in, n);
		SLOT_ADD(bytes_in, n);
		while (n > 0) {
			m = splice(splice_pipe[0], NULL, out, NULL, n,
			    SPLICE_F_MOVE);
			if (m == -1) {
				if (io_failed() == 0)
					continue;
				replace_splice_pipe();
				return;
			}
			SLOT_ADD(conn_out, m);
			SLOT_ADD(bytes_out, m);
			n -= m;
		}
	}
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
			if (n == sizeof(echo_buf) && splice_pipe[0] != -1) {
				echo_spliced(in, out);	/* a bulk sender */
				break;
			}
		} else if (n == 0)
			break;		/* closed */
		else if (io_failed() == -1)
			break;
	}
}

/*
 * echod -i: the same loop on standard input and output, counting into
 * the caller's slot, since there is no scoreboard.  Without the pipe of
 * a worker, it stays with read() and write().
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
 * Read exactly len bytes that recv(MSG_PEEK) has shown are there, into
 * buf.  A read() may in theory return fewer (a signal), hence the loop.
 */
static int
consume(int fd, uint8_t *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = read(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * Read the PROXY header of a connection, and not one byte more: what
 * follows it, often in the same segment, is the client's, to be echoed
 * by echo_connection().  Returns 0 with ph filled in, or -1 with *why
 * set.
 *
 * How, without reading too far: recv(MSG_PEEK) shows what has arrived
 * without taking it, and proxy_parse() says where the header ends.
 * Once it does, read() takes exactly the header.  While it does not,
 * every byte seen is part of the header still to come (proxy_parse()
 * asks for more only then), so read() takes them all, and the next
 * peek waits for new ones instead of showing the same bytes again.  A
 * balancer sends the whole header at once, so this is one peek and one
 * read.  Reading v2's fixed 16 bytes and then its length would do for
 * v2 alone, but v1 has no length, and its shortest form ("PROXY
 * UNKNOWN\r\n") is 15 bytes: a 16-byte read could take a byte of the
 * client's; and v1 byte by byte would cost a call per byte.
 *
 * The peeks do not block (MSG_DONTWAIT): poll() waits instead, so that
 * the wait for the whole header is bounded by PROXY_HEADER_TIMEOUT, or
 * idle-timeout if shorter, without touching the socket's SO_RCVTIMEO,
 * which stays idle-timeout for the echo that follows.
 */
static int
read_proxy_header(int fd, struct proxy_header *ph, const char **why)
{
	static char	 timed_out[64];
	struct pollfd	 pfd;
	size_t		 have = 0, want;
	ssize_t		 n;
	int64_t		 deadline, left;
	int		 timeout = PROXY_HEADER_TIMEOUT;

	if (args->conf->idle_timeout > 0 &&
	    args->conf->idle_timeout < timeout)
		timeout = args->conf->idle_timeout;
	deadline = scoreboard_now() + (int64_t)timeout * 1000;
	for (;;) {
		/*
		 * A peek copies all it is allowed to: no more than a
		 * header usually needs, not the client's data after it.
		 */
		want = sizeof(proxy_buf) - have;
		if (want > PROXY_PEEK)
			want = PROXY_PEEK;
		n = recv(fd, proxy_buf + have, want, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0) {
			*why = have == 0 ? "closed before sending a PROXY "
			    "header" : "closed in the middle of its PROXY "
			    "header";
			return -1;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				*why = "reset before the end of its PROXY "
				    "header";
				return -1;
			}
			if ((left = deadline - scoreboard_now()) <= 0) {
				snprintf(timed_out, sizeof(timed_out), "no "
				    "whole PROXY header within %d s", timeout);
				*why = timed_out;
				return -1;
			}
			pfd.fd = fd;
			pfd.events = POLLIN;
			(void)poll(&pfd, 1, (int)left);
			continue;
		}
		switch (proxy_parse(proxy_buf, have + n, ph, why)) {
		case PROXY_INVALID:
			return -1;
		case PROXY_DONE:
			if (consume(fd, proxy_buf + have, ph->len - have) ==
			    -1) {
				*why = "reset while its PROXY header was read";
				return -1;
			}
			return 0;
		case PROXY_MORE:
			if (consume(fd, proxy_buf + have, n) == -1) {
				*why = "reset while its PROXY header was read";
				return -1;
			}
			have += n;
			break;
		}
	}
}

/*
 * After a connection: recycle the worker once it has served its
 * max-connections-per-worker (returns 1), or back to idle.
 */
static int
connection_done(void)
{
	if (recycle_after != 0 && self->connections >= recycle_after) {
		slot_enter(SLOT_DRAINING);
		recycled = 1;
		return 1;
	}
	become_idle();
	return 0;
}

/*
 * A connection on a proxy-protocol listener.  The worker is busy from
 * accept() on, and shows the balancer while it reads the header; only
 * once the header names the client is that client held to
 * max-connections-per-address (refused as on any listener, with the
 * balancer's own address still in the slot, so that it does not count
 * itself) and the connection counted as served.  A v1 UNKNOWN or v2
 * LOCAL header leaves the balancer as the peer.
 */
static int
serve_proxied(int fd, const struct sockaddr_storage *ss, socklen_t sslen)
{
	const struct sockaddr_storage	*client = ss;
	struct proxy_header		 ph;
	const char			*why = "?";
	socklen_t			 clientlen = sslen;
	uint8_t				 key[16];

	peer_key(ss, key);
	become_busy(ss, sslen, key);
	if (read_proxy_header(fd, &ph, &why) == -1) {
		bad_header(fd, ss, sslen, why);
		return connection_done();
	}
	if (!ph.local) {
		client = &ph.src;
		clientlen = ph.srclen;
		peer_key(client, key);
	}
	if (over_address_limit(key)) {
		refuse(fd, client, clientlen);
		return connection_done();
	}
	if (!ph.local)
		show_client(client, clientlen, key);
	SLOT_ADD(connections, 1);
	echo_connection(fd, fd);
	close(fd);
	return connection_done();
}

/*
 * One accepted connection, start to end.  Returns 1 when the worker has
 * served its max-connections-per-worker and should make room for a new
 * one.
 */
static int
serve_accepted(int fd, const struct sockaddr_storage *ss, socklen_t sslen,
    int proxied)
{
	uint8_t	 key[16];

	if (proxied)
		return serve_proxied(fd, ss, sslen);
	peer_key(ss, key);
	if (over_address_limit(key)) {
		refuse(fd, ss, sslen);
		return 0;
	}
	SLOT_ADD(connections, 1);
	become_busy(ss, sslen, key);
	echo_connection(fd, fd);
	close(fd);
	return connection_done();
}

/* One listener: block in accept(); Linux wakes one waiting worker. */
static void
serve_one(const struct listener *l)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	int			 fd, proxied = l->addr.proxy_protocol;

	while (!draining) {
		sslen = sizeof(ss);
		if ((fd = accept(l->fd, (struct sockaddr *)&ss, &sslen)) ==
		    -1) {
			if (accept_failed(errno))
				return;
			continue;
		}
		if (serve_accepted(fd, &ss, sslen, proxied))
			return;
	}
}

/*
 * Several listeners, accept-strategy poll: poll them all; they are
 * non-blocking.  Every idle worker wakes for each connection, and all
 * but one find nothing to accept.
 */
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
			if (serve_accepted(fd, &ss, sslen,
			    args->listeners[i].addr.proxy_protocol))
				return;
		}
	}
}

/*
 * accept-strategy epoll: several listeners in one epoll set per worker,
 * each with EPOLLEXCLUSIVE, so that a connection wakes one waiting
 * worker (or a few), not every idle one as poll() does.
 *
 * The price is that a worker woken for a connection must take it: the
 * others were not woken, and the connection would wait in the queue
 * until the next one arrives.  So a SIGQUIT while the worker waits
 * (waiting is 1 from before its look at draining to after its accept())
 * must not dup2() /dev/null over the listeners, or the accept() of the
 * connection it was woken for would fail with ENOTSOCK.  The handler
 * writes to drain_event instead, an eventfd in the same set, which
 * keeps epoll_wait() from sleeping however late the signal came
 * (epoll_wait() fails with EINTR too, but the signal may come just
 * before it sleeps).  The worker then accepts what it was woken for,
 * serves it, and stops; it drops the listeners itself, at once, so that
 * a graceful stop refuses new clients while it serves.  Outside that
 * window, the handler drops them as for the other strategies.
 *
 * epoll registrations belong to the listening sockets' open file
 * descriptions, which the master keeps open: the dup2() does not remove
 * them, and would not wake epoll_wait() either.
 */
static void
serve_epoll(size_t n)
{
	struct epoll_event	 ev[EPOLL_EVENTS];
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = 0;
	size_t			 l = 0;
	int			 i, nev, fd, stop = 0;

	for (;;) {
		waiting = 1;
		if (draining)
			break;
		if ((nev = epoll_wait(epoll_fd, ev, EPOLL_EVENTS, -1)) == -1) {
			if (errno != EINTR)
				fatal("epoll_wait");
			nev = 0;
		}
		/* One connection per wake-up: the next wait shows the rest. */
		fd = -1;
		for (i = 0; i < nev && fd == -1 && !stop; i++) {
			if ((l = ev[i].data.u32) >= n)
				continue;	/* drain_event */
			sslen = sizeof(ss);
			fd = accept(args->listeners[l].fd,
			    (struct sockaddr *)&ss, &sslen);
			if (fd == -1 && accept_failed(errno))
				stop = 1;
		}
		waiting = 0;
		if (draining)
			drop_listeners();
		if (fd != -1 && serve_accepted(fd, &ss, sslen,
		    args->listeners[l].addr.proxy_protocol))
			return;
		if (stop || draining)
			return;
	}
}

/* accept-strategy epoll: this worker's epoll set, made before the sandbox. */
static void
epoll_setup(const struct worker_args *wa)
{
	struct epoll_event	 ev;
	size_t			 i;

	if ((epoll_fd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (drain_event = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
		log_warn("accept-strategy epoll");
		worker_exit(WORKER_EXIT_SETUP);
	}
	memset(&ev, 0, sizeof(ev));
	for (i = 0; i < wa->nlisteners; i++) {
		ev.events = EPOLLIN | EPOLLEXCLUSIVE;
		ev.data.u32 = i;
		if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wa->listeners[i].fd,
		    &ev) == -1) {
			log_warn("accept-strategy epoll: epoll_ctl");
			worker_exit(WORKER_EXIT_SETUP);
		}
	}
	ev.events = EPOLLIN;
	ev.data.u32 = wa->nlisteners;
	if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, drain_event, &ev) == -1) {
		log_warn("accept-strategy epoll: epoll_ctl");
		worker_exit(WORKER_EXIT_SETUP);
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
		worker_exit(WORKER_EXIT_SETUP);
	}
	/* Allocated for the worker's life, which may end by SIGTERM. */
	if ((drain_fds = calloc(wa->nlisteners, sizeof(*drain_fds))) == NULL ||
	    (listen_pfd = calloc(wa->nlisteners, sizeof(*listen_pfd))) ==
	    NULL) {
		log_warn("calloc");
		worker_exit(WORKER_EXIT_SETUP);
	}
	for (i = 0; i < wa->nlisteners; i++) {
		drain_fds[i] = wa->listeners[i].fd;
		listen_pfd[i].fd = wa->listeners[i].fd;
		listen_pfd[i].events = POLLIN;
	}
	ndrain_fds = wa->nlisteners;
	if (wa->nlisteners > 1 && wa->conf->accept_strategy == ACCEPT_EPOLL)
		epoll_setup(wa);

	/* Before the limits, which count the descriptors held. */
	open_splice_pipe();
	limits_apply(wa->conf);
	if (privdrop(wa->conf) == -1) {
		log_warnx("worker cannot drop privileges; exiting");
		worker_exit(WORKER_EXIT_SETUP);
	}
	limits_allow_core(wa->conf);

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
		worker_exit(0);
#endif

	/*
	 * Workers started together must not all be recycled together: each
	 * stops after N connections less a random quarter of N at most.
	 */
	if ((n = wa->conf->max_conns_per_worker) > 0)
		recycle_after = n - arc4random_uniform(n / 4 + 1);

#ifdef HAVE_SECCOMP
	/* Last, since the set-up above needs calls the sandbox refuses. */
	if (wa->conf->sandbox && sandbox_enter(&self->sandbox_syscall) == -1) {
		log_warnx("worker cannot enter its sandbox; exiting");
		worker_exit(WORKER_EXIT_SETUP);
	}
#endif
	/* Only now may a SIGQUIT queued since fork() be delivered. */
	worker_signals();
	become_idle();

	if (wa->nlisteners == 1)
		serve_one(&wa->listeners[0]);
	else if (wa->conf->accept_strategy == ACCEPT_EPOLL)
		serve_epoll(wa->nlisteners);
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
