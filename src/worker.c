/*
 * A worker: accept a connection, echo every byte of it back until the
 * client closes, and go back to accept().  One connection at a time, as
 * in Stevens' child_main() (UNIX Network Programming vol. 1, 30.6).
 *
 * The hot path is accept(), then read() and write() per chunk, then
 * close(): no other system call is made per connection.  The worker's
 * slot in the scoreboard is kept up to date with plain stores, and its
 * bits in the pool map (idle, busy) with one atomic operation each way.
 * Only when a connection takes the pool below min-spare does a worker
 * write to the master's wake pipe, once per shortage.
 *
 * A client that sends in bulk (a read() fills the whole buffer) is
 * echoed from then on with splice(2) through a pipe the worker keeps:
 * the kernel moves the data from socket to socket without copying it
 * through the worker (what that saves: BENCHMARKS.md, "splice(2) for
 * bulk").  Small round trips stay with read() and write(), which splice
 * would make dearer.
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
 *   SIGCHLD  left at its default action, which ignores it.
 *   SIGUSR2  ignored: it is the master's (a binary upgrade).
 *   any other catchable signal: ignored (signals.c), so that a stray one
 *            cannot end a connection; no handler, so nothing more for the
 *            sandbox to allow.
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

#include "addr.h"
#include "clock.h"
#include "coverage.h"
#include "daemon.h"
#include "log.h"
#include "privdrop.h"
#include "proxyproto.h"
#include "rlimits.h"
#include "sandbox.h"
#include "scoreboard.h"
#include "title.h"
#include "udpecho.h"
#include "worker.h"

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

/*
 * max-connections-per-address (over_address_limit()): the reserve, the
 * workers of max-workers that an address over its share cannot take,
 * as a fraction; and how long a connection must have lasted to count
 * towards the share, in ms.
 */
#define ADDRESS_RESERVE_DIV	8
#define ADDRESS_HELD_MS		1000

/* Events taken per epoll_wait(); level-triggered, the rest come next. */
#define EPOLL_EVENTS		8

/* A single writer's counter: readers see whole values, never torn ones. */
#define SLOT_ADD(field, n) \
	__atomic_store_n(&ws.self->field, ws.self->field + (n), \
	    __ATOMIC_RELAXED)

/*
 * Everything a worker keeps, in one place.  One per process, for its
 * whole life, and at file scope because the SIGQUIT handler needs part
 * of it: the handler touches only draining, waiting and what
 * drop_listeners() and the drain event need.
 */
struct worker_state {
	/* Set by the SIGQUIT handler, read by the loops. */
	volatile sig_atomic_t	 draining;
	/* serve_epoll() is between its look at draining and accept(). */
	volatile sig_atomic_t	 waiting;
	/* What the handler points at /dev/null (dead_fd), or wakes. */
	int			*drain_fds;
	size_t			 ndrain_fds;
	int			 dead_fd;
	int			 drain_event;	/* serve_epoll() */

	const struct worker_args *args;
	struct scoreboard	*sb;
	struct slot		*self;
	unsigned		 map_bits;	/* ours in the pool map */
	struct pollfd		*listen_pfd;	/* serve_many() */
	int			 epoll_fd;	/* serve_epoll() */
	/* For splice(): [0] read end, [1] write end; -1 when there is none. */
	int			 splice_pipe[2];
	uint64_t		 recycle_after;	/* connections; 0: never */
	int			 recycled;
	/* Rate-limited warnings: when each was last logged. */
	int64_t			 refused_warned;
	int64_t			 header_warned;
	int64_t			 accept_warned;
	char			 timed_out[64];	/* read_proxy_header()'s why */

	char			 echo_buf[ECHO_BUFSIZE];
	/* Untouched, and so no memory, unless a proxy-protocol listener is. */
	uint8_t			 proxy_buf[PROXY_HEADER_MAX];
};

static struct worker_state	 ws = {
	.dead_fd = -1,
	.drain_event = -1,
	.epoll_fd = -1,
	.splice_pipe = { -1, -1 },
};

/*
 * Stop accepting on every listener: point each listening descriptor at
 * /dev/null.  Async-signal-safe (dup2(2) only), for on_sigquit().
 */
static void
drop_listeners(void)
{
	size_t	 i;

	for (i = 0; i < ws.ndrain_fds; i++)
		(void)dup2(ws.dead_fd, ws.drain_fds[i]);
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
	ws.draining = 1;
	if (ws.waiting)
		(void)write(ws.drain_event, &one, sizeof(one));
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
	/*
	 * What the master ignores (signals_ignore_unused(), before its
	 * first fork) the fork has ignored already: not asked again, since
	 * a worker started in a burst has better to do than 45 sigaction()
	 * calls.
	 */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
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

/*
 * The slot's state, for echodctl and the master's look at the pool, and
 * the worker's bits in the pool map (MAP_IDLE, MAP_BUSY or none), from
 * which the workers count the idle and busy ones (scoreboard.h).
 */
static void
slot_enter_at(enum slot_state state, unsigned bits, int64_t now)
{
	__atomic_store_n(&ws.self->since, now, __ATOMIC_RELAXED);
	__atomic_store_n(&ws.self->state, state, __ATOMIC_RELEASE);
	scoreboard_map_set(ws.sb, ws.args->slot, ws.map_bits, bits);
	ws.map_bits = bits;
}

static void
slot_enter(enum slot_state state, unsigned bits)
{
	slot_enter_at(state, bits, clock_ms());
}

/* Between connections. */
static void
become_idle(int64_t now)
{
	if (ws.draining) {
		slot_enter_at(SLOT_DRAINING, 0, now);
		title_set_str("worker [draining]");
		return;
	}
	slot_enter_at(SLOT_IDLE, MAP_IDLE, now);
	title_set_str("worker [idle]");
}

/*
 * "worker [192.0.2.7:51234]": composed without a format, as it is on
 * every connection (title_set_str()).
 */
static void
title_peer(const struct sockaddr_storage *ss, socklen_t sslen)
{
	static const char	 head[] = "worker [";
	char			 title[sizeof(head) + ADDR_NAME_MAX + 1];
	size_t			 n;

	memcpy(title, head, sizeof(head) - 1);
	addr_format_peer(ss, sslen, title + sizeof(head) - 1, ADDR_NAME_MAX);
	n = strlen(title);
	title[n] = ']';
	title[n + 1] = '\0';
	title_set_str(title);
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
	if (__atomic_exchange_n(&ws.sb->wake, 1, __ATOMIC_SEQ_CST) == 0)
		(void)write(ws.args->wake_fd, "", 1);	/* non-blocking */
}

/*
 * A connection accepted: the slot shows its client, whose key is written
 * before the busy bit, for the other workers' over_address_limit().
 * Returns the number of busy workers, this one included, counted in the
 * same look at the pool map as the idle ones.
 */
static uint32_t
become_busy(const struct sockaddr_storage *ss, socklen_t sslen,
    const uint8_t key[16])
{
	struct map_count	 mc;

	memcpy(&ws.self->peer, ss, sslen);
	memcpy(ws.self->peer_key, key, sizeof(ws.self->peer_key));
	__atomic_store_n(&ws.self->via_port, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&ws.self->conn_in, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&ws.self->conn_out, 0, __ATOMIC_RELAXED);
	SLOT_ADD(accepted, 1);
	slot_enter(SLOT_BUSY, MAP_BUSY);
	scoreboard_map_count(ws.sb, &mc);
	title_peer(ss, sslen);
	if (mc.idle < (uint32_t)ws.args->conf->min_spare)
		wake_master();
	return mc.busy;
}

/*
 * The client a PROXY header named, in place of the balancer the slot
 * showed while the header was read; the balancer becomes the "via" by
 * which echodctl conns finds the socket in the kernel.  The slot is
 * busy meanwhile, so a reader may catch the address half-written: a
 * moment's wrong PEER in echodctl, or a key that matches nothing, one
 * connection fewer for another worker's over_address_limit() to count.
 */
static void
show_client(const struct sockaddr_storage *client, socklen_t clientlen,
    const uint8_t key[16])
{
	const struct sockaddr_storage	*via = &ws.self->peer;

	memcpy(ws.self->via_key, ws.self->peer_key, sizeof(ws.self->via_key));
	__atomic_store_n(&ws.self->via_port, addr_port(via), __ATOMIC_RELAXED);
	memcpy(&ws.self->peer, client, clientlen);
	memcpy(ws.self->peer_key, key, sizeof(ws.self->peer_key));
	title_peer(client, clientlen);
}

/*
 * max-connections-per-address N (echod.conf(5)): whether to refuse a
 * connection from the client key, which this worker serves as one of
 * busy busy workers.  Returns 0 to serve it, or the share that the
 * address already holds.
 *
 * The limit is there so that one address cannot take the workers that
 * everyone else needs, so it binds only when they are scarce.  While
 * the busy workers, this one included, are no more than max-workers
 * less the reserve (an eighth of max-workers, rounded up), no one is
 * refused: the common case, decided from the count that become_busy()
 * took anyway, without reading a slot.  Beyond that, an address is
 * refused that already holds N connections (or max-workers less the
 * reserve, if that is fewer), where only connections that have lasted
 * ADDRESS_HELD_MS count as held.
 *
 * Why the age: a worker whose client has closed stays busy until it is
 * next scheduled to read the end of the connection, and under a load
 * of short connections from one host those are many: far more workers
 * are busy than there are clients, up to every worker of the pool, and
 * for hundreds of milliseconds on a busy machine (BENCHMARKS.md).
 * Counted by number alone, a load test from one host would look like a
 * holder of the pool.  A holder's connections last; a load test's are
 * gone within the second.
 *
 * The last worker of max-workers cannot take the age as it finds it,
 * though: an address that opens many connections at once would take
 * every worker before any of them is a second old.  So the last worker,
 * when the address has N connections but not N held, waits for them to
 * be ADDRESS_HELD_MS old and counts those still there: a holder's are,
 * a load test's have ended.  One worker at a time looks so (look_until
 * in the scoreboard), and a look that found a load test holds for
 * another ADDRESS_HELD_MS: a pool kept full by a load test makes one
 * worker wait now and then, not each, and the connections of waiting
 * workers do not pass for held ones.  That wait, a poll(), is the only
 * system call the limit ever makes, and only with every worker busy.
 *
 * With "hard", N binds at any load, and every connection counts.
 *
 * now is the time of the count of busy workers, in ms, or -1 to read
 * the clock here: a plain listener's count is of the accept(), whose
 * time the slot has, and one clock read fewer per connection matters
 * in a pool near max-workers, where this looks at every connection.
 *
 * Each worker writes its client's key and sets its busy bit before it
 * counts, and the counts are sequentially consistent
 * (scoreboard_map_set()): of two workers that take a connection at the
 * same instant, at least one sees the other's.  So where the limit
 * binds, no connection is served that gives its address more than N,
 * though two that arrive together may then both be refused.
 */
static uint32_t
over_address_limit(const uint8_t key[16], uint32_t busy, int64_t now)
{
	const struct config	*conf = ws.args->conf;
	uint32_t		 share = conf->max_conns_per_address, room;
	uint32_t		 max = conf->max_workers;
	int64_t			 look;

	if (share == 0)
		return 0;
	if (conf->max_conns_per_address_hard)
		return scoreboard_peers(ws.sb, key, ws.args->slot, INT64_MAX,
		    share) >= share ? share : 0;
	room = max - (max + ADDRESS_RESERVE_DIV - 1) / ADDRESS_RESERVE_DIV;
	if (busy <= room)
		return 0;
	if (share > room)
		share = room > 0 ? room : 1;
	if (now == -1)
		now = clock_ms();
	if (scoreboard_peers(ws.sb, key, ws.args->slot, now - ADDRESS_HELD_MS,
	    share) >= share)
		return share;
	if (busy < max ||
	    scoreboard_peers(ws.sb, key, ws.args->slot, INT64_MAX, share) <
	    share)
		return 0;
	/*
	 * The last worker, and an address with N young connections.  A
	 * worker killed while it looks blocks the next look only until
	 * look_until.
	 */
	look = __atomic_load_n(&ws.sb->look_until, __ATOMIC_RELAXED);
	if (now < look || !__atomic_compare_exchange_n(&ws.sb->look_until,
	    &look, now + 2 * ADDRESS_HELD_MS, 0, __ATOMIC_RELAXED,
	    __ATOMIC_RELAXED))
		return 0;
	(void)poll(NULL, 0, ADDRESS_HELD_MS);
	if (scoreboard_peers(ws.sb, key, ws.args->slot, now, share) < share)
		return 0;
	/* A holder: its next connections are held ones already. */
	__atomic_store_n(&ws.sb->look_until, 0, __ATOMIC_RELAXED);
	return share;
}

/* Over max-connections-per-address: its share, with busy workers busy. */
static void
refuse(int fd, const struct sockaddr_storage *ss, socklen_t sslen,
    uint32_t share, uint32_t busy)
{
	char		 peer[ADDR_NAME_MAX];

	close(fd);
	SLOT_ADD(refused, 1);
	if (!log_due(&ws.refused_warned, clock_ms(), WARN_INTERVAL * 1000))
		return;
	addr_format_peer(ss, sslen, peer, sizeof(peer));
	if (ws.args->conf->max_conns_per_address_hard)
		log_warnx("%s: its address has max-connections-per-address "
		    "(%d) connections already: closed (logged once per %d s)",
		    peer, ws.args->conf->max_conns_per_address, WARN_INTERVAL);
	else
		log_warnx("%s: its address already holds its share of %u "
		    "connections while %u of max-workers (%d) are busy: closed "
		    "by max-connections-per-address (logged once per %d s)",
		    peer, share, busy, ws.args->conf->max_workers,
		    WARN_INTERVAL);
}

/* No valid PROXY header: closed unechoed, an error, logged like refuse(). */
static void
bad_header(int fd, const struct sockaddr_storage *ss, socklen_t sslen,
    const char *why)
{
	char		 peer[ADDR_NAME_MAX];

	close(fd);
	SLOT_ADD(errors, 1);
	if (!log_due(&ws.header_warned, clock_ms(), WARN_INTERVAL * 1000))
		return;
	addr_format_peer(ss, sslen, peer, sizeof(peer));
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
	if (pipe2(ws.splice_pipe, O_CLOEXEC) == -1) {
		log_warn("pipe2 (echoing without splice from now on)");
		ws.splice_pipe[0] = ws.splice_pipe[1] = -1;
	}
}

static void
replace_splice_pipe(void)
{
	close(ws.splice_pipe[0]);
	close(ws.splice_pipe[1]);
	open_splice_pipe();
}

/*
 * How a read, write or splice that failed ends its connection: counted
 * as an idle-timeout (EAGAIN: SO_RCVTIMEO or SO_SNDTIMEO expired), a
 * reset (the client's RST: ECONNRESET, or EPIPE once the RST has
 * arrived while writing) or another error.  EINTR is not a failure: 0,
 * try again.
 */
static int
io_failed(void)
{
	if (errno == EINTR)
		return 0;
	if (errno == EAGAIN)
		SLOT_ADD(timeouts, 1);
	else if (errno == ECONNRESET || errno == EPIPE)
		SLOT_ADD(resets, 1);
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
		n = splice(in, NULL, ws.splice_pipe[1], NULL, ECHO_SPLICE_MAX,
		    SPLICE_F_MOVE);
		if (n == 0) {
			SLOT_ADD(closed, 1);
			return;		/* closed, and everything echoed */
		}
		if (n == -1) {
			if (io_failed() == -1)
				return;
			continue;
		}
		SLOT_ADD(conn_in, n);
		SLOT_ADD(bytes_in, n);
		while (n > 0) {
			m = splice(ws.splice_pipe[0], NULL, out, NULL, n,
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
		n = read(in, ws.echo_buf, sizeof(ws.echo_buf));
		if (n > 0) {
			SLOT_ADD(conn_in, n);
			SLOT_ADD(bytes_in, n);
			if (write_all(out, ws.echo_buf, n) == -1)
				break;
			if (n == sizeof(ws.echo_buf) &&
			    ws.splice_pipe[0] != -1) {
				echo_spliced(in, out);	/* a bulk sender */
				break;
			}
		} else if (n == 0) {
			SLOT_ADD(closed, 1);
			break;		/* closed */
		}
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
	ws.self = counters;
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
	if (ws.draining)
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
		if (log_due(&ws.accept_warned, clock_ms(),
		    WARN_INTERVAL * 1000)) {
			errno = error;
			log_warn("accept (pausing, logged once per %d s)",
			    WARN_INTERVAL);
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
	struct pollfd	 pfd;
	size_t		 have = 0, want;
	ssize_t		 n;
	int64_t		 deadline, left;
	int		 timeout = PROXY_HEADER_TIMEOUT;

	if (ws.args->conf->idle_timeout > 0 &&
	    ws.args->conf->idle_timeout < timeout)
		timeout = ws.args->conf->idle_timeout;
	deadline = clock_ms() + (int64_t)timeout * 1000;
	for (;;) {
		/*
		 * A peek copies all it is allowed to: no more than a
		 * header usually needs, not the client's data after it.
		 */
		want = sizeof(ws.proxy_buf) - have;
		if (want > PROXY_PEEK)
			want = PROXY_PEEK;
		n = recv(fd, ws.proxy_buf + have, want,
		    MSG_PEEK | MSG_DONTWAIT);
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
			if ((left = deadline - clock_ms()) <= 0) {
				snprintf(ws.timed_out, sizeof(ws.timed_out),
				    "no whole PROXY header within %d s",
				    timeout);
				*why = ws.timed_out;
				return -1;
			}
			pfd.fd = fd;
			pfd.events = POLLIN;
			(void)poll(&pfd, 1, (int)left);
			continue;
		}
		switch (proxy_parse(ws.proxy_buf, have + n, ph, why)) {
		case PROXY_INVALID:
			return -1;
		case PROXY_DONE:
			if (consume(fd, ws.proxy_buf + have, ph->len - have) ==
			    -1) {
				*why = "reset while its PROXY header was read";
				return -1;
			}
			return 0;
		case PROXY_MORE:
			if (consume(fd, ws.proxy_buf + have, n) == -1) {
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
	int64_t	 now = clock_ms();

	/* since: when the worker became busy, at the accept(). */
	scoreboard_observe(ws.self, now - ws.self->since, ws.self->conn_in);
	if (ws.recycle_after != 0 && ws.self->connections >= ws.recycle_after) {
		slot_enter_at(SLOT_DRAINING, 0, now);
		ws.recycled = 1;
		return 1;
	}
	become_idle(now);
	return 0;
}

/*
 * A connection on a proxy-protocol listener.  The worker is busy from
 * accept() on, and shows the balancer while it reads the header; only
 * once the header names the client is that client shown, held to
 * max-connections-per-address as on any listener, and the connection
 * counted as served.  A v1 UNKNOWN or v2 LOCAL header leaves the
 * balancer as the peer.
 */
static int
serve_proxied(int fd, const struct sockaddr_storage *ss, socklen_t sslen)
{
	const struct sockaddr_storage	*client = ss;
	struct proxy_header		 ph;
	struct map_count		 mc;
	const char			*why = "?";
	socklen_t			 clientlen = sslen;
	uint32_t			 share;
	uint8_t				 key[16];

	addr_key(ss, key);
	(void)become_busy(ss, sslen, key);
	if (read_proxy_header(fd, &ph, &why) == -1) {
		bad_header(fd, ss, sslen, why);
		return connection_done();
	}
	if (!ph.local) {
		client = &ph.src;
		clientlen = ph.srclen;
		addr_key(client, key);
		show_client(client, clientlen, key);
	}
	/*
	 * The client's key, written by show_client(), before the look at
	 * the others' (over_address_limit()); and a count of now, not of
	 * the accept(), which may be seconds old.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	scoreboard_map_count(ws.sb, &mc);
	if ((share = over_address_limit(key, mc.busy, -1)) != 0) {
		refuse(fd, client, clientlen, share, mc.busy);
		return connection_done();
	}
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
	uint32_t	 busy, share;
	uint8_t		 key[16];

	if (proxied)
		return serve_proxied(fd, ss, sslen);
	addr_key(ss, key);
	busy = become_busy(ss, sslen, key);
	/* The clock read of become_busy(), at the count it returned. */
	if ((share = over_address_limit(key, busy, ws.self->since)) != 0) {
		refuse(fd, ss, sslen, share, busy);
		return connection_done();
	}
	SLOT_ADD(connections, 1);
	echo_connection(fd, fd);
	close(fd);
	return connection_done();
}

/*
 * One listener: block in accept(); Linux wakes one waiting worker.
 *
 * The socket may be non-blocking all the same: O_NONBLOCK belongs to the
 * socket, and while a reload's generation with several listeners is on
 * trial beside this one, or this one is on trial beside such a
 * generation, both share it (listener.c).  accept() then fails with
 * EAGAIN instead of waiting, and poll() waits in its place, so that the
 * worker does not spin; on a blocking socket it costs nothing.  A SIGQUIT
 * before the poll() points the descriptor at /dev/null, which poll()
 * finds readable at once; one during it interrupts it (EINTR).
 */
static void
serve_one(const struct listener *l)
{
	struct sockaddr_storage	 ss;
	struct pollfd		 pfd;
	socklen_t		 sslen;
	int			 fd, proxied = l->addr.proxy_protocol;

	while (!ws.draining) {
		sslen = sizeof(ss);
		if ((fd = accept(l->fd, (struct sockaddr *)&ss, &sslen)) ==
		    -1) {
			if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
			    !ws.draining) {
				pfd.fd = l->fd;
				pfd.events = POLLIN;
				(void)poll(&pfd, 1, -1);
				continue;
			}
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
	struct pollfd		*pfd = ws.listen_pfd;
	socklen_t		 sslen;
	size_t			 i;
	int			 fd;

	while (!ws.draining) {
		if (poll(pfd, n, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		for (i = 0; i < n && !ws.draining; i++) {
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
			    ws.args->listeners[i].addr.proxy_protocol))
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
		ws.waiting = 1;
		if (ws.draining)
			break;
		if ((nev = epoll_wait(ws.epoll_fd, ev, EPOLL_EVENTS, -1)) ==
		    -1) {
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
			fd = accept(ws.args->listeners[l].fd,
			    (struct sockaddr *)&ss, &sslen);
			if (fd == -1 && accept_failed(errno))
				stop = 1;
		}
		ws.waiting = 0;
		if (ws.draining)
			drop_listeners();
		if (fd != -1 && serve_accepted(fd, &ss, sslen,
		    ws.args->listeners[l].addr.proxy_protocol))
			return;
		if (stop || ws.draining)
			return;
	}
}

/* accept-strategy epoll: this worker's epoll set, made before the sandbox. */
static void
epoll_setup(const struct worker_args *wa)
{
	struct epoll_event	 ev;
	size_t			 i;

	if ((ws.epoll_fd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (ws.drain_event = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
		log_warn("accept-strategy epoll");
		worker_exit(WORKER_EXIT_SETUP);
	}
	memset(&ev, 0, sizeof(ev));
	for (i = 0; i < wa->nlisteners; i++) {
		ev.events = EPOLLIN | EPOLLEXCLUSIVE;
		ev.data.u32 = i;
		if (epoll_ctl(ws.epoll_fd, EPOLL_CTL_ADD, wa->listeners[i].fd,
		    &ev) == -1) {
			log_warn("accept-strategy epoll: epoll_ctl");
			worker_exit(WORKER_EXIT_SETUP);
		}
	}
	ev.events = EPOLLIN;
	ev.data.u32 = wa->nlisteners;
	if (epoll_ctl(ws.epoll_fd, EPOLL_CTL_ADD, ws.drain_event, &ev) == -1) {
		log_warn("accept-strategy epoll: epoll_ctl");
		worker_exit(WORKER_EXIT_SETUP);
	}
}

/*
 * A UDP worker, once set up as a TCP one is: the datagram loop
 * (udpecho.c) until it is told to drain (SIGQUIT points its sockets at
 * /dev/null, as a TCP worker's) or a socket breaks.  Its state stays
 * "idle" and it sets no bits in the pool map, which counts TCP workers.
 */
static void
udp_worker(const struct worker_args *wa)
{
	struct udpecho_args	 ua;
	in_port_t		*ports;
	size_t			 i;

	if ((ports = calloc(wa->nlisteners, sizeof(*ports))) == NULL) {
		log_warn("calloc");
		exit(1);
	}
	for (i = 0; i < wa->nlisteners; i++)
		ports[i] = wa->listeners[i].addr.port;
	memset(&ua, 0, sizeof(ua));
	ua.conf = wa->conf;
	ua.fds = ws.drain_fds;
	ua.ports = ports;
	ua.nfds = wa->nlisteners;
	ua.sb = ws.sb;
	ua.self = ws.self;
	ua.draining = &ws.draining;
	__atomic_store_n(&ws.self->since, clock_ms(), __ATOMIC_RELAXED);
	__atomic_store_n(&ws.self->state, SLOT_IDLE, __ATOMIC_RELEASE);
	title_set("udp worker");
	udpecho_run(&ua);
	exit(ws.draining ? 0 : 1);
}

/*
 * The highest descriptor a TCP worker holds: what it inherited, at most
 * the master's highest, and what it opened since.  A UDP worker's reply
 * sockets are udpecho.c's: it reads /proc (-1), once in its life.
 */
static int
highest_held(const struct worker_args *wa)
{
	int	 own[] = { wa->highest_fd, ws.dead_fd, ws.splice_pipe[0],
	    ws.splice_pipe[1], ws.epoll_fd, ws.drain_event };
	size_t	 i;
	int	 highest = -1;

	if (wa->udp || wa->highest_fd == -1)
		return -1;
	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (own[i] > highest)
			highest = own[i];
	return highest;
}

void
worker_run(const struct worker_args *wa)
{
	size_t	 i;
	int	 n;

	ws.args = wa;
	ws.sb = wa->scoreboard;
	ws.self = &ws.sb->slots[wa->slot];
	title_set(wa->udp ? "udp worker [starting]" : "worker [starting]");

	if ((ws.dead_fd = open(_PATH_DEVNULL, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("open %s", _PATH_DEVNULL);
		worker_exit(WORKER_EXIT_SETUP);
	}
	/* Allocated for the worker's life, which may end by SIGTERM. */
	if ((ws.drain_fds = calloc(wa->nlisteners,
	    sizeof(*ws.drain_fds))) == NULL ||
	    (ws.listen_pfd = calloc(wa->nlisteners, sizeof(*ws.listen_pfd))) ==
	    NULL) {
		log_warn("calloc");
		worker_exit(WORKER_EXIT_SETUP);
	}
	for (i = 0; i < wa->nlisteners; i++) {
		ws.drain_fds[i] = wa->listeners[i].fd;
		ws.listen_pfd[i].fd = wa->listeners[i].fd;
		ws.listen_pfd[i].events = POLLIN;
	}
	ws.ndrain_fds = wa->nlisteners;
	if (!wa->udp && wa->nlisteners > 1 &&
	    wa->conf->accept_strategy == ACCEPT_EPOLL)
		epoll_setup(wa);

	/* Before the limits, which count the descriptors held. */
	if (!wa->udp)
		open_splice_pipe();
	else if (udpecho_prepare(ws.drain_fds, ws.ndrain_fds) == -1)
		worker_exit(WORKER_EXIT_SETUP);
	limits_apply(wa->conf, highest_held(wa));
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
		ws.recycle_after = n - arc4random_uniform(n / 4 + 1);

#ifdef HAVE_SECCOMP
	/* Last, since the set-up above needs calls the sandbox refuses. */
	if (wa->conf->sandbox &&
	    sandbox_enter(&ws.self->sandbox_syscall) == -1) {
		log_warnx("worker cannot enter its sandbox; exiting");
		worker_exit(WORKER_EXIT_SETUP);
	}
#endif
	/*
	 * Set up: its errors, had there been any, would have reached the
	 * terminal of a starting echod (daemon.c); nothing later does.
	 */
	daemon_detach();
	/* Only now may a SIGQUIT queued since fork() be delivered. */
	worker_signals();
	if (wa->udp)
		udp_worker(wa);
	become_idle(clock_ms());

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
	if (ws.recycled)
		exit(WORKER_EXIT_RECYCLED);
	exit(ws.draining ? 0 : 1);
}
