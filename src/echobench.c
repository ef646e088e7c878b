/*
 * echobench: a load generator for any Echo Protocol (RFC 862) server.
 *
 *   echobench rr|stream|connect|hold [-j] [-c conns] [-d seconds]
 *       [-w seconds] [-s size] [-T threads] [-t timeout] host port
 *   echobench udp [-j] [-c sockets] [-d seconds | -n count] [-r rate]
 *       [-w seconds] [-s size] [-t timeout] host port
 *
 * rr:      C connections each send S bytes and wait for all S back, over
 *          and over: round trips per second and their latency.
 * stream:  C connections send S-byte chunks and read the echo at the same
 *          time, nonstop: megabytes per second.
 * connect: C slots each connect, send S bytes, read them back and close,
 *          over and over: connections per second and their latency.
 * hold:    C connections opened at once and kept, each with one round trip
 *          a second, for D seconds after the last was first served: how
 *          many were served, and how long that took.
 * udp:     C UDP sockets, each with one datagram in flight, or paced at R
 *          a second: their rate and round-trip time, and how many were
 *          lost, duplicated, reordered or corrupt (see the comment before
 *          struct usock).
 *
 * rr, stream and connect run W seconds of warm-up and then measure for D
 * seconds; then, in every mode, no new work starts and echobench waits for
 * the echo of whatever is still in flight, so that every byte sent is
 * checked.  A wrong, missing or extra byte is an error, as is a
 * connection that is refused, reset, closed by the server, or silent for
 * the timeout.
 *
 * One process, epoll, non-blocking sockets.  Nothing is allocated once
 * the run has begun.  With -T, the C connections of rr, stream, connect
 * and hold are shared out among that many threads (the first C mod T
 * threads take one more), each with its own epoll set, connections and
 * counters, so that a server on several CPUs is not measured against
 * what one client thread can drive; their counters and latency
 * histograms are added together at the end, and reported as one run.
 */

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <err.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

#define MAX_SIZE	(1024 * 1024)	/* largest -s */
#define PERIOD		1048583		/* a prime above MAX_SIZE: the period */
#define MAX_EVENTS	1024
#define SHOWN_ERRORS	10		/* a broken server must not flood */
#define HIST_SUB	1024		/* buckets per power of two: < 0.1% */
#define HIST_BITS	40		/* latencies up to 2^40 us (12 days) */
#define HIST_BUCKETS	((HIST_BITS - 9) * HIST_SUB)
#define US		1000000LL

enum mode { RR, STREAM, CONNECT, HOLD, UDP, NMODES };
static const char *const mode_names[] = { "rr", "stream", "connect", "hold",
    "udp" };

enum state {
	IDLE,		/* connect: no connection, queued to open one */
	BUSY,		/* a round trip, a cycle or the stream under way */
	WAITING,	/* hold: between round trips, queued */
	CLOSED,		/* finished or failed */
};

struct conn {
	int		 fd;
	enum state	 state;
	int		 out;		/* EPOLLOUT is in the interest set */
	int		 served;	/* hold: has had its first echo */
	uint64_t	 id;		/* names it in messages, seeds its bytes */
	uint64_t	 sent, received;	/* bytes on this connection */
	uint64_t	 target;	/* what sent will be when this round is out */
	size_t		 txpos, rxpos;	/* sent and received, in pattern[] */
	int64_t		 start;		/* us: this round (or cycle) began */
	int64_t		 heard;		/* us: last progress, for -t */
	int64_t		 due;		/* us: when to leave the queue */
	struct conn	*next;		/* in the queue */
};

static struct {
	enum mode	 mode;
	int		 json;
	size_t		 conns;		/* in all threads */
	size_t		 threads;	/* -T */
	long long	 duration, warmup, timeout;	/* seconds */
	size_t		 size;
	const char	*host;
} opt;

struct stats {
	long		 count;		/* round trips, cycles, hold's rounds */
	uint64_t	 bytes;		/* stream: echoed and checked */
	long		 errors;
	long		 refused, reset, closed, corrupt, timeouts;
	long		 served, lost;	/* hold: served; failed before that */
	int64_t		 all_served;	/* hold: us, 0 until then */
	int64_t		 max;		/* us */
	uint64_t	 hist[HIST_BUCKETS];
};

/*
 * Shared by the threads, and only read once they run: the options, the
 * server's address, the pattern, and when the run began.  Errors shown
 * are counted over all threads, so that -T does not multiply them.
 */
static struct addrinfo	*addr;
static unsigned char	*pattern;
static size_t		 rxlen;
static int64_t		 t0;
static long		 shown;

/*
 * Each thread's own: its counters, its share of the connections (slice
 * is its number, from 0), its epoll set and queue.  The first thread is
 * main()'s; the others' counters are added into its st at the end.
 */
static __thread struct stats	 st;
static __thread size_t		 slice, nconns;
static __thread struct conn	*conns;
static __thread unsigned char	*rxbuf;
static __thread int		 ep = -1;
static __thread uint64_t	 next_id;
static __thread size_t		 nopen;	/* connections with a descriptor */
static __thread int		 draining;	/* the run is over: no new work */
static __thread struct conn	*queue_head, *queue_tail;
static __thread size_t		 nqueued;

/*
 * The clock, in us: now is read once per turn of the loop.  Statistics
 * cover what starts at or after measure_from and ends before end; stop
 * is when the drain began.
 */
static __thread int64_t	 now, measure_from, end = INT64_MAX, stop;

/* clock.c's clock, which echod keeps time by too. */
static int64_t
now_us(void)
{
	return (int64_t)clock_us();
}

/*
 * What is sent: a fixed xorshift64* sequence of PERIOD bytes, followed by
 * a copy of its first MAX_SIZE bytes so that every send and receive is
 * one contiguous slice of it.  Byte k of connection n is the byte
 * (k + n * golden ratio) mod PERIOD of the sequence, so checking an echo
 * is one memcmp() and stream mode needs no memory of what it sent; a
 * byte from the wrong place or the wrong connection does not match.
 */
static void
pattern_init(void)
{
	uint64_t	 x = 0x9e3779b97f4a7c15ULL, w = 0;
	size_t		 i;

	if ((pattern = malloc(PERIOD + MAX_SIZE)) == NULL)
		err(2, "malloc");
	for (i = 0; i < PERIOD; i++) {
		if (i % 8 == 0) {
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
			w = x * 0x2545f4914f6cdd1dULL;
		}
		pattern[i] = (w >> (i % 8 * 8)) & 0xff;
	}
	memcpy(pattern + PERIOD, pattern, MAX_SIZE);
}

/* A place in the pattern moved on by n <= MAX_SIZE bytes. */
static size_t
advance(size_t pos, size_t n)
{
	pos += n;
	return pos >= PERIOD ? pos - PERIOD : pos;
}

/*
 * Latencies go into a log-linear histogram: exact below 2048 us, within
 * 0.1% above, in constant memory however long the run.
 */
static size_t
hist_index(uint64_t v)
{
	int	 e;

	if (v < 2 * HIST_SUB)
		return v;
	if (v >= 1ULL << HIST_BITS)
		v = (1ULL << HIST_BITS) - 1;
	e = 63 - __builtin_clzll(v);
	return (size_t)(e - 10) * HIST_SUB + (v >> (e - 10));
}

/* The largest latency that falls in bucket i. */
static int64_t
hist_value(size_t i)
{
	int	 shift;

	if (i < 2 * HIST_SUB)
		return i;
	shift = i / HIST_SUB - 1;
	return ((int64_t)(i % HIST_SUB + HIST_SUB + 1) << shift) - 1;
}

static void
record(int64_t us)
{
	st.count++;
	st.hist[hist_index(us)]++;
	if (us > st.max)
		st.max = us;
}

/* The sample of rank p * (count - 1), rounded, as if all were sorted. */
static int64_t
percentile(double p)
{
	uint64_t	 rank, seen = 0;
	size_t		 i;

	if (st.count == 0)
		return 0;
	rank = p * (st.count - 1) + 0.5;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += st.hist[i];
		if (seen > rank)
			return hist_value(i) < st.max ? hist_value(i) : st.max;
	}
	return st.max;
}

static void
enqueue(struct conn *c, int64_t due)
{
	c->due = due;
	c->next = NULL;
	if (queue_tail != NULL)
		queue_tail->next = c;
	else
		queue_head = c;
	queue_tail = c;
	nqueued++;
}

static struct conn *
dequeue(void)
{
	struct conn	*c = queue_head;

	if ((queue_head = c->next) == NULL)
		queue_tail = NULL;
	nqueued--;
	return c;
}

static void
conn_close(struct conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->state = CLOSED;
	nopen--;
}

/* Whether to show this error: the first few of all threads, then a note. */
static int
show_error(void)
{
	long	 n;

	n = __atomic_add_fetch(&shown, 1, __ATOMIC_RELAXED);
	if (n == SHOWN_ERRORS + 1)
		fprintf(stderr, "echobench: more errors, not shown\n");
	return n <= SHOWN_ERRORS;
}

/*
 * A connection failed: say why (the first few times), count it under
 * its kind, and close it.  In connect mode the slot opens a new
 * connection after a pause, so that a connect() that fails at once
 * (EADDRNOTAVAIL) does not spin.
 */
static void __attribute__((__format__(__printf__, 3, 4)))
fail(struct conn *c, long *counter, const char *fmt, ...)
{
	va_list	 ap;

	st.errors++;
	if (show_error()) {
		fprintf(stderr, "echobench: connection %llu: ",
		    (unsigned long long)c->id);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	(*counter)++;
	if (opt.mode == HOLD && !c->served)
		st.lost++;
	conn_close(c);
	if (opt.mode == CONNECT && !draining) {
		c->state = IDLE;
		enqueue(c, now + 1000);
	}
}

/* A failed system call: refused, timed out by the kernel, or reset. */
static int
fail_errno(struct conn *c, const char *what, int error)
{
	long	*counter = &st.reset;

	switch (error) {
	case ECONNREFUSED:
	case EADDRNOTAVAIL:
	case ENETUNREACH:
	case EHOSTUNREACH:
		counter = &st.refused;
		break;
	case ETIMEDOUT:
		counter = &st.timeouts;
		break;
	}
	fail(c, counter, "%s: %s", what, strerror(error));
	return -1;
}

/* Wake for output only while there is something left to send. */
static void
update_events(struct conn *c)
{
	struct epoll_event	 ev;
	int			 out;

	if (opt.mode == STREAM)
		out = !draining;
	else
		out = c->state == BUSY && c->sent < c->target;
	if (out == c->out)
		return;
	ev.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0);
	ev.data.u64 = c - conns;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == -1)
		err(2, "epoll_ctl");
	c->out = out;
}

/*
 * Send what is left of this round, straight from the pattern.  Stream
 * sends chunks until the socket is full, but no more than rxlen bytes at
 * a time: with small chunks the server may drain the socket as fast as
 * they come, and the echo must be read too.  0, or -1 if it failed.
 */
static int
conn_send(struct conn *c)
{
	uint64_t	 first = c->sent;
	size_t		 len;
	ssize_t		 n;

	for (;;) {
		if (opt.mode != STREAM)
			len = c->target - c->sent;
		else if (draining || c->sent - first >= rxlen)
			len = 0;
		else
			len = opt.size;
		if (len == 0)
			return 0;
		n = send(c->fd, pattern + c->txpos, len, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return fail_errno(c, "send", errno);
		}
		c->sent += n;
		c->txpos = advance(c->txpos, n);
		if ((size_t)n < len)
			return 0;	/* the socket is full */
	}
}

static int
wrong_byte(struct conn *c, size_t n)
{
	const unsigned char	*want = pattern + c->rxpos;
	size_t			 i;

	for (i = 0; i < n - 1 && rxbuf[i] == want[i]; i++)
		;
	fail(c, &st.corrupt, "wrong byte at offset %llu: sent 0x%02x, "
	    "got 0x%02x", (unsigned long long)(c->received + i), want[i],
	    rxbuf[i]);
	return -1;
}

/*
 * Read what came back and check it against what was sent.  Returns 1
 * once all of this round is back (stream: all that was sent, once
 * draining), 0 when there is nothing more to read, -1 if it failed.
 */
static int
conn_recv(struct conn *c)
{
	ssize_t	 n;

	for (;;) {
		n = recv(c->fd, rxbuf, rxlen, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return fail_errno(c, "recv", errno);
		}
		if (n == 0) {
			fail(c, &st.closed, "closed by the server after %llu "
			    "of %llu bytes", (unsigned long long)c->received,
			    (unsigned long long)c->sent);
			return -1;
		}
		if ((uint64_t)n > c->sent - c->received) {
			fail(c, &st.corrupt, "%zd bytes came back at offset "
			    "%llu, but only %llu were sent", n,
			    (unsigned long long)c->received,
			    (unsigned long long)(c->sent - c->received));
			return -1;
		}
		if (memcmp(rxbuf, pattern + c->rxpos, n) != 0)
			return wrong_byte(c, n);
		c->received += n;
		c->rxpos = advance(c->rxpos, n);
		c->heard = now;
		if (opt.mode != STREAM) {
			if (c->received == c->target)
				return 1;
		} else if (now >= measure_from && now < end)
			st.bytes += n;
	}
	return opt.mode == STREAM && draining && c->received == c->sent;
}

/* Start a round trip: send the next S bytes. */
static int
round_begin(struct conn *c, int64_t t)
{
	c->state = BUSY;
	c->start = c->heard = t;
	c->target = c->sent + opt.size;
	return conn_send(c);
}

/*
 * Open a connection and start its first round trip at once: on loopback
 * the handshake is usually over before connect() returns, and if it is
 * not, send() says EAGAIN and EPOLLOUT tells when it is.
 */
static void
conn_open(struct conn *c)
{
	struct epoll_event	 ev;
	int			 one = 1;

	/* Thread k numbers its connections k+1, k+1+T, k+1+2T, ... */
	c->id = next_id++ * opt.threads + slice + 1;
	c->sent = c->received = 0;
	c->txpos = c->rxpos = c->id * 0x9e3779b97f4a7c15ULL % PERIOD;
	c->served = c->out = 0;
	c->start = now_us();
	c->fd = socket(addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd == -1)
		err(2, "socket");
	nopen++;
	c->state = BUSY;
	/* Small messages must leave at once, not wait for an ACK. */
	if (opt.mode != STREAM && setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY,
	    &one, sizeof(one)) == -1)
		err(2, "TCP_NODELAY");
	if (connect(c->fd, addr->ai_addr, addr->ai_addrlen) == -1 &&
	    errno != EINPROGRESS) {
		fail_errno(c, "connect", errno);
		return;
	}
	if (round_begin(c, c->start) == -1)
		return;
	c->out = opt.mode == STREAM || c->sent < c->target;
	ev.events = EPOLLIN | EPOLLRDHUP | (c->out ? EPOLLOUT : 0);
	ev.data.u64 = c - conns;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) == -1)
		err(2, "epoll_ctl");
}

/*
 * A round trip is complete: count it, then start the next one (rr), a
 * new connection (connect), or wait for the next second (hold).
 */
static void
round_done(struct conn *c)
{
	int64_t	 t;

	/*
	 * connect: a plain close(), so the server sees an orderly end.
	 * TIME_WAIT is left on this side; see CAVEATS in echobench(1).
	 */
	if (opt.mode == CONNECT)
		conn_close(c);
	t = now_us();
	if (c->start >= measure_from && t < end)
		record(t - c->start);
	if (opt.mode == HOLD && !c->served) {
		c->served = 1;
		st.served++;
	}
	if (draining) {
		if (c->fd != -1)
			conn_close(c);
		return;
	}
	switch (opt.mode) {
	case RR:
		round_begin(c, t);
		break;
	case CONNECT:
		conn_open(c);
		break;
	case HOLD:
		c->state = WAITING;
		enqueue(c, c->start + US);
		break;
	case STREAM:
	case UDP:
	case NMODES:
		break;
	}
}

/* hold, between round trips: anything readable is a fault. */
static void
between_rounds(struct conn *c)
{
	char	 b;
	ssize_t	 n;

	if ((n = recv(c->fd, &b, 1, MSG_PEEK)) > 0)
		fail(c, &st.corrupt, "bytes nobody sent, after offset %llu",
		    (unsigned long long)c->received);
	else if (n == 0)
		fail(c, &st.closed, "closed by the server");
	else if (errno != EAGAIN && errno != EINTR)
		fail_errno(c, "recv", errno);
}

static void
conn_event(struct conn *c, uint32_t events)
{
	int	 r;

	if (c->state == WAITING) {
		between_rounds(c);
		return;
	}
	if (c->state != BUSY)
		return;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		if ((r = conn_recv(c)) == -1)
			return;
		if (r == 1) {
			if (opt.mode == STREAM)
				conn_close(c);	/* drained */
			else
				round_done(c);
			if (c->fd != -1)
				update_events(c);
			return;
		}
	}
	if ((events & EPOLLOUT) && conn_send(c) == -1)
		return;
	update_events(c);
}

/* Start the round trips (hold) or connections (connect) that are due. */
static void
start_due(void)
{
	struct conn	*c;
	size_t		 n;

	/* Only those queued before: a slot that fails again waits. */
	for (n = nqueued; n > 0 && queue_head != NULL &&
	    queue_head->due <= now; n--) {
		c = dequeue();
		if (c->state == IDLE)
			conn_open(c);
		else if (c->state == WAITING && round_begin(c, now) == 0)
			update_events(c);
	}
}

static void
check_timeouts(void)
{
	struct conn	*c;
	size_t		 i;

	for (i = 0; i < nconns; i++) {
		c = &conns[i];
		if (c->state == BUSY && now - c->heard > opt.timeout * US)
			fail(c, &st.timeouts, "nothing back for %lld s, %llu "
			    "of %llu bytes echoed", opt.timeout,
			    (unsigned long long)c->received,
			    (unsigned long long)c->sent);
	}
}

/*
 * The run is over: start nothing new, stop sending, and wait for the
 * echo of what is in flight, and for the connects not yet done (the
 * timeout still applies).
 */
static void
start_drain(void)
{
	struct conn	*c;
	size_t		 i;

	draining = 1;
	stop = now < end ? now : end;
	queue_head = queue_tail = NULL;
	nqueued = 0;
	for (i = 0; i < nconns; i++) {
		c = &conns[i];
		if (c->state == IDLE)
			c->state = CLOSED;
		else if (c->state == WAITING || (c->state == BUSY &&
		    c->sent > 0 && c->received == c->sent))
			conn_close(c);
		else if (c->state == BUSY)
			update_events(c);
	}
}

/* Sleep at most 10 ms: the timeouts and the end are checked on waking. */
static int
wait_ms(void)
{
	int64_t	 ms;

	if (queue_head == NULL)
		return 10;
	ms = (queue_head->due - now + 999) / 1000;
	return ms < 0 ? 0 : ms > 10 ? 10 : ms;
}

static void
run(void)
{
	struct epoll_event	 events[MAX_EVENTS];
	int64_t			 last_check = 0;
	size_t			 i;
	int			 n, k;

	now = now_us();
	if (opt.mode == HOLD)
		measure_from = opt.warmup == 0 ? t0 : INT64_MAX;
	else {
		measure_from = t0 + opt.warmup * US;
		end = measure_from + opt.duration * US;
	}
	for (i = 0; i < nconns; i++)
		conn_open(&conns[i]);

	for (;;) {
		now = now_us();
		start_due();
		if (now - last_check >= 100000) {
			last_check = now;
			check_timeouts();
		}
		/* hold measures from when every connection was served. */
		if (opt.mode == HOLD && st.all_served == 0 &&
		    st.served + st.lost >= (long)nconns) {
			st.all_served = now;
			if (opt.warmup > 0)
				measure_from = now + opt.warmup * US;
			end = now + (opt.warmup + opt.duration) * US;
		}
		if (!draining && (now >= end ||
		    (nopen == 0 && opt.mode != CONNECT)))
			start_drain();
		if (draining && nopen == 0)
			break;

		n = epoll_wait(ep, events, MAX_EVENTS, wait_ms());
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err(2, "epoll_wait");
		}
		now = now_us();
		for (k = 0; k < n; k++)
			conn_event(&conns[events[k].data.u64],
			    events[k].events);
	}
}

/* A string for JSON: quotes, backslashes and control bytes escaped. */
static void
json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static unsigned int
port_number(void)
{
	if (addr->ai_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)addr->ai_addr)->sin6_port);
	return ntohs(((struct sockaddr_in *)addr->ai_addr)->sin_port);
}

static void
json_where(double secs)
{
	printf("\"host\":");
	json_string(opt.host);
	printf(",\"port\":%u,\"size\":%zu,\"duration\":%.3f,"
	    "\"warmup\":%lld,\"threads\":%zu", port_number(), opt.size, secs,
	    opt.warmup, opt.threads);
}

static void
json_errors(void)
{
	printf("\"errors\":%ld,\"refused\":%ld,\"reset\":%ld,"
	    "\"closed\":%ld,\"corrupt\":%ld,\"timeouts\":%ld", st.errors,
	    st.refused, st.reset, st.closed, st.corrupt, st.timeouts);
}

static void
json_latency(void)
{
	printf("\"latency_us\":{\"p50\":%lld,\"p99\":%lld,\"p999\":%lld,"
	    "\"max\":%lld}", (long long)percentile(0.50),
	    (long long)percentile(0.99), (long long)percentile(0.999),
	    (long long)st.max);
}

static void
report_json(double secs)
{
	if (opt.mode == HOLD) {
		/* Its fields first, as they always were. */
		printf("{\"mode\":\"hold\",\"connections\":%zu,"
		    "\"served\":%ld,\"all_served_ms\":%.1f,\"rounds\":%ld,",
		    opt.conns, st.served, st.all_served ?
		    (st.all_served - t0) / 1000.0 : -1.0, st.count);
		json_errors();
		printf(",\"rtt_p50_us\":%lld,\"rtt_p99_us\":%lld,"
		    "\"rtt_p999_us\":%lld,", (long long)percentile(0.50),
		    (long long)percentile(0.99), (long long)percentile(0.999));
		json_where(secs);
		putchar(',');
		json_latency();
		printf("}\n");
		return;
	}
	printf("{\"mode\":\"%s\",", mode_names[opt.mode]);
	json_where(secs);
	printf(",\"connections\":%zu,", opt.conns);
	json_errors();
	if (opt.mode == STREAM) {
		printf(",\"bytes\":%llu,\"mbytes_per_s\":%.1f}\n",
		    (unsigned long long)st.bytes,
		    secs > 0 ? st.bytes / secs / 1e6 : 0.0);
		return;
	}
	printf(",\"%s\":%ld,\"rate\":%.1f,", opt.mode == RR ?
	    "round_trips" : "connects", st.count,
	    secs > 0 ? st.count / secs : 0.0);
	json_latency();
	printf("}\n");
}

static void
report_errors(void)
{
	printf("    %ld errors (refused %ld, reset %ld, closed %ld, corrupt "
	    "%ld, timeouts %ld)\n", st.errors, st.refused, st.reset,
	    st.closed, st.corrupt, st.timeouts);
}

static void
report_text(double secs)
{
	if (opt.mode == HOLD) {		/* as it always was */
		printf("hold: %ld of %zu connections served", st.served,
		    opt.conns);
		if (st.all_served)
			printf(", all within %.1f ms of the first connect",
			    (st.all_served - t0) / 1000.0);
		printf("\n      %ld round trips of %zu bytes, %ld errors "
		    "(refused %ld, reset %ld, closed %ld, corrupt %ld, "
		    "timeouts %ld)\n", st.count, opt.size, st.errors,
		    st.refused, st.reset, st.closed, st.corrupt, st.timeouts);
		printf("      round trip: p50 %lld us, p99 %lld us, "
		    "p99.9 %lld us\n", (long long)percentile(0.50),
		    (long long)percentile(0.99), (long long)percentile(0.999));
		return;
	}
	printf("%s: %zu %s%s", mode_names[opt.mode], opt.conns,
	    opt.mode == CONNECT ? "slot" : "connection",
	    opt.conns == 1 ? "" : "s");
	if (opt.threads > 1)
		printf(" in %zu threads", opt.threads);
	printf(" to %s port %u, %zu-byte %s, %.3f s measured "
	    "after %lld s of warm-up\n", opt.host, port_number(), opt.size,
	    opt.mode == STREAM ? "sends" : "messages", secs, opt.warmup);
	if (opt.mode == STREAM) {
		printf("    %llu bytes echoed and checked, %.1f MB/s\n",
		    (unsigned long long)st.bytes,
		    secs > 0 ? st.bytes / secs / 1e6 : 0.0);
	} else {
		printf("    %ld %s, %.1f per second\n", st.count,
		    opt.mode == RR ? "round trips" : "connections",
		    secs > 0 ? st.count / secs : 0.0);
		printf("    %s: p50 %lld us, p99 %lld us, p99.9 %lld us, "
		    "max %lld us\n", opt.mode == RR ? "round trip" :
		    "connect to close", (long long)percentile(0.50),
		    (long long)percentile(0.99), (long long)percentile(0.999),
		    (long long)st.max);
	}
	report_errors();
}

/*
 * udp: datagrams.  Each of C sockets is connect()ed to the server, so
 * that only the server's answers, from the address they were sent to,
 * are read.  Datagram k (counted over all sockets, from 0) carries k in
 * its first 8 bytes, big-endian, and then the bytes of the pattern from
 * place k * golden ratio mod PERIOD: an echo is checked whole with one
 * memcmp().  Without -r each socket has one datagram in flight and sends
 * the next when it is back (or after the timeout); with -r they are sent
 * on a schedule of R a second, round robin over the sockets, whatever
 * comes back.
 *
 * What came back is kept in a ring of UDP_WINDOW bits, and when each
 * datagram left in a ring of as many times: a datagram is lost once
 * UDP_WINDOW later ones were sent, or at the end, if its bit is not
 * set; one whose bit is set already is a duplicate; one older than the
 * window is late (and was counted lost).  Memory stays constant however
 * long the run.
 */
#define UDP_HEADER	8		/* the sequence number */
#define UDP_MAX4	65507		/* 65535 - IPv4 and UDP headers */
#define UDP_MAX6	65527		/* 65535 - UDP header */
#define UDP_WINDOW	(1 << 20)
#define UDP_BURST	64		/* sends a turn, per socket, when late */

struct usock {
	int		 fd;
	int		 failed;
	uint64_t	 waiting;	/* rr: the sequence number in flight */
	int		 busy;		/* rr: one is in flight */
	int64_t		 sent_at;	/* rr: when it left */
	uint64_t	 highest;	/* the highest sequence number back + 1 */
	uint32_t	 drops;		/* SO_RXQ_OVFL: what the socket dropped */
};

static struct usock	*usocks;
static int64_t		*utimes;	/* when datagram k % WINDOW left */
static uint64_t		*ubits;		/* whether it came back */
static unsigned char	*udgram;	/* the datagram being composed */
static uint64_t		 useq;		/* the next sequence number */
static uint64_t		 m_lo, m_hi = UINT64_MAX;	/* measured: [lo, hi) */
static long long	 opt_rate, opt_count;

static struct {
	uint64_t	 sent, received;	/* measured */
	uint64_t	 lost, duplicates, reordered, late, corrupt;
	uint64_t	 refused, timeouts, client_drops;
} us;

static int
bit_get(uint64_t k)
{
	k %= UDP_WINDOW;
	return (ubits[k / 64] >> (k % 64)) & 1;
}

static void
bit_set(uint64_t k, int v)
{
	k %= UDP_WINDOW;
	if (v)
		ubits[k / 64] |= 1ULL << (k % 64);
	else
		ubits[k / 64] &= ~(1ULL << (k % 64));
}

static size_t
udp_place(uint64_t k)
{
	return k * 0x9e3779b97f4a7c15ULL % PERIOD;
}

static int
measured(uint64_t k)
{
	return k >= m_lo && k < m_hi;
}

/* Datagram k leaves the window: never back means lost. */
static void
udp_retire(uint64_t k)
{
	if (!bit_get(k) && measured(k))
		us.lost++;
	bit_set(k, 0);
}

static void __attribute__((__format__(__printf__, 1, 2)))
udp_error(const char *fmt, ...)
{
	va_list	 ap;

	st.errors++;
	if (show_error()) {
		fputs("echobench: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
}

static void
udp_fail(struct usock *u, int error)
{
	if (error == ECONNREFUSED)
		us.refused++;
	udp_error("socket %zu: %s", (size_t)(u - usocks) + 1,
	    strerror(error));
	u->failed = 1;
	u->busy = 0;
	close(u->fd);
	u->fd = -1;
	nopen--;
}

/* Send the next datagram on u: 0, or -1 if the socket failed. */
static int
udp_send(struct usock *u)
{
	uint64_t	 k = useq;
	int64_t		 t;
	int		 i;

	/* -n: no more than the count, whatever is in flight. */
	if (opt_count > 0 && m_lo != UINT64_MAX - 1 &&
	    useq - m_lo >= (uint64_t)opt_count)
		return 0;
	if (k >= UDP_WINDOW)
		udp_retire(k - UDP_WINDOW);
	for (i = 0; i < UDP_HEADER; i++)
		udgram[i] = k >> (56 - 8 * i);
	memcpy(udgram + UDP_HEADER, pattern + udp_place(k),
	    opt.size - UDP_HEADER);
	/* The clock, not the turn's now: the echo may be back this turn. */
	t = now_us();
	for (;;) {
		if (send(u->fd, udgram, opt.size, 0) != -1)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == ENOBUFS)
			return 0;	/* not sent: no sequence number used */
		udp_fail(u, errno);
		return -1;
	}
	useq++;
	utimes[k % UDP_WINDOW] = t;
	bit_set(k, 0);
	if (measured(k))
		us.sent++;
	u->waiting = k;
	u->busy = 1;
	u->sent_at = t;
	return 0;
}

/* Check one datagram that came back on u. */
static void
udp_check(struct usock *u, ssize_t n, int truncated)
{
	uint64_t	 k = 0;
	size_t		 i;

	if (truncated || (size_t)n != opt.size) {
		us.corrupt++;
		udp_error("socket %zu: a datagram of %s%zd bytes came back; "
		    "%zu were sent", (size_t)(u - usocks) + 1,
		    truncated ? "more than " : "", n, opt.size);
		return;
	}
	for (i = 0; i < UDP_HEADER; i++)
		k = k << 8 | rxbuf[i];
	if (k >= useq) {
		us.corrupt++;
		udp_error("socket %zu: sequence number %llu came back, "
		    "only %llu were sent", (size_t)(u - usocks) + 1,
		    (unsigned long long)k, (unsigned long long)useq);
		return;
	}
	if (memcmp(rxbuf + UDP_HEADER, pattern + udp_place(k),
	    opt.size - UDP_HEADER) != 0) {
		const unsigned char *want = pattern + udp_place(k);

		for (i = 0; rxbuf[UDP_HEADER + i] == want[i]; i++)
			;
		us.corrupt++;
		udp_error("datagram %llu: wrong byte at offset %zu: sent "
		    "0x%02x, got 0x%02x", (unsigned long long)k,
		    i + UDP_HEADER, want[i], rxbuf[UDP_HEADER + i]);
		return;
	}
	if (useq - k > UDP_WINDOW) {
		us.late++;
		return;
	}
	if (bit_get(k)) {
		us.duplicates++;
		if (measured(k))
			udp_error("datagram %llu came back twice",
			    (unsigned long long)k);
		return;
	}
	bit_set(k, 1);
	if (k + 1 < u->highest)
		us.reordered++;
	else
		u->highest = k + 1;
	if (measured(k)) {
		us.received++;
		now = now_us();
		record(now - utimes[k % UDP_WINDOW]);
	}
	if (u->busy && k == u->waiting)
		u->busy = 0;
}

/* Read all that u has; without -r, send the next one when it is back. */
static void
udp_recv(struct usock *u)
{
	char		 cbuf[CMSG_SPACE(sizeof(uint32_t))];
	struct iovec	 iov;
	struct msghdr	 m;
	struct cmsghdr	*cm;
	ssize_t		 n;

	for (;;) {
		memset(&m, 0, sizeof(m));
		iov.iov_base = rxbuf;
		iov.iov_len = rxlen;
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		m.msg_control = cbuf;
		m.msg_controllen = sizeof(cbuf);
		if ((n = recvmsg(u->fd, &m, 0)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				udp_fail(u, errno);
			return;
		}
		for (cm = CMSG_FIRSTHDR(&m); cm != NULL;
		    cm = CMSG_NXTHDR(&m, cm))
			if (cm->cmsg_level == SOL_SOCKET &&
			    cm->cmsg_type == SO_RXQ_OVFL)
				memcpy(&u->drops, CMSG_DATA(cm),
				    sizeof(u->drops));
		udp_check(u, n, (m.msg_flags & MSG_TRUNC) != 0);
		if (opt_rate == 0 && !u->busy && !draining &&
		    udp_send(u) == -1)
			return;
	}
}

static void
udp_open(struct usock *u)
{
	struct epoll_event	 ev;
	int			 one = 1, buf = 4 * 1024 * 1024;

	u->fd = socket(addr->ai_family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (u->fd == -1)
		err(2, "socket");
	nopen++;
	/* Paced bursts must not be dropped here and blamed on the server. */
	(void)setsockopt(u->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	(void)setsockopt(u->fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	if (connect(u->fd, addr->ai_addr, addr->ai_addrlen) == -1) {
		udp_fail(u, errno);
		return;
	}
	ev.events = EPOLLIN;
	ev.data.u64 = u - usocks;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, u->fd, &ev) == -1)
		err(2, "epoll_ctl");
}

/* The next socket that can send, round robin; NULL if none. */
static struct usock *
udp_next(void)
{
	static size_t	 rr;
	size_t		 i;

	for (i = 0; i < opt.conns; i++) {
		rr = (rr + 1) % opt.conns;
		if (!usocks[rr].failed)
			return &usocks[rr];
	}
	return NULL;
}

/* When the datagrams sent so far were due, at R a second. */
static int64_t
udp_due(uint64_t k)
{
	return t0 + (int64_t)((double)k * US / opt_rate);
}

static void
udp_run(void)
{
	struct epoll_event	 events[MAX_EVENTS];
	struct usock		*u;
	int64_t			 last_check = 0, last_sent = 0;
	uint64_t		 k;
	size_t			 i;
	int			 n, e, ms, burst;

	now = t0 = now_us();
	measure_from = t0 + opt.warmup * US;
	end = opt_count > 0 ? INT64_MAX : measure_from + opt.duration * US;
	if (opt.warmup == 0)
		m_lo = 0;
	else
		m_lo = UINT64_MAX - 1;	/* set by the first measured send */
	for (i = 0; i < opt.conns; i++)
		udp_open(&usocks[i]);
	if (opt_rate == 0)
		for (i = 0; i < opt.conns; i++)
			if (!usocks[i].failed)
				udp_send(&usocks[i]);

	for (;;) {
		now = now_us();
		if (m_lo == UINT64_MAX - 1 && now >= measure_from)
			m_lo = useq;
		if (!draining && (now >= end || nopen == 0 ||
		    (opt_count > 0 && m_lo != UINT64_MAX - 1 &&
		    useq - m_lo >= (uint64_t)opt_count))) {
			draining = 1;
			stop = now < end ? now : end;
			m_hi = useq;
			if (m_lo > m_hi)
				m_lo = m_hi;
			last_sent = now;
		}
		if (draining) {
			/* Done when all is back, or after the timeout. */
			for (k = useq > UDP_WINDOW ? useq - UDP_WINDOW : 0;
			    k < useq && bit_get(k); k++)
				;
			if (k == useq || nopen == 0 ||
			    now - last_sent > opt.timeout * US)
				break;
		} else if (opt_rate > 0) {
			for (burst = 0; burst < UDP_BURST * (int)opt.conns &&
			    udp_due(useq) <= now &&
			    (u = udp_next()) != NULL; burst++)
				if (udp_send(u) == -1)
					break;
		}
		if (opt_rate == 0 && now - last_check >= 10000) {
			last_check = now;
			for (i = 0; i < opt.conns; i++) {
				u = &usocks[i];
				if (u->failed || (u->busy &&
				    now - u->sent_at <= opt.timeout * US))
					continue;
				/* Timed out, or its last send said EAGAIN. */
				if (u->busy)
					us.timeouts++;
				u->busy = 0;
				if (!draining)
					udp_send(u);
			}
		}
		ms = 10;
		if (opt_rate > 0 && !draining) {
			int64_t	 wait = udp_due(useq) - now;

			ms = wait <= 0 ? 0 : wait < 1000 ? 1 : wait / 1000;
			if (ms > 10)
				ms = 10;
		}
		n = epoll_wait(ep, events, MAX_EVENTS, ms);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err(2, "epoll_wait");
		}
		now = now_us();
		for (e = 0; e < n; e++) {
			u = &usocks[events[e].data.u64];
			if (!u->failed)
				udp_recv(u);
		}
	}
	/* What is still not back is lost. */
	for (k = useq > UDP_WINDOW ? useq - UDP_WINDOW : 0; k < useq; k++)
		udp_retire(k);
	for (i = 0; i < opt.conns; i++)
		us.client_drops += usocks[i].drops;
}

static void
udp_report(double secs)
{
	double	 loss = us.sent > 0 ? 100.0 * us.lost / us.sent : 0.0;

	if (opt.json) {
		printf("{\"mode\":\"udp\",");
		json_where(secs);
		printf(",\"sockets\":%zu,\"paced\":%lld,\"sent\":%llu,"
		    "\"received\":%llu,\"rate\":%.1f,\"lost\":%llu,"
		    "\"loss_pct\":%.3f,\"duplicates\":%llu,\"reordered\":%llu,"
		    "\"late\":%llu,\"corrupt\":%llu,\"refused\":%llu,"
		    "\"timeouts\":%llu,\"client_drops\":%llu,\"errors\":%ld,",
		    opt.conns, opt_rate, (unsigned long long)us.sent,
		    (unsigned long long)us.received,
		    secs > 0 ? us.received / secs : 0.0,
		    (unsigned long long)us.lost, loss,
		    (unsigned long long)us.duplicates,
		    (unsigned long long)us.reordered,
		    (unsigned long long)us.late,
		    (unsigned long long)us.corrupt,
		    (unsigned long long)us.refused,
		    (unsigned long long)us.timeouts,
		    (unsigned long long)us.client_drops, st.errors);
		printf("\"latency_us\":{\"p50\":%lld,\"p90\":%lld,\"p99\":%lld,"
		    "\"p999\":%lld,\"max\":%lld}}\n",
		    (long long)percentile(0.50), (long long)percentile(0.90),
		    (long long)percentile(0.99), (long long)percentile(0.999),
		    (long long)st.max);
		return;
	}
	printf("udp: %zu socket%s to %s port %u, %zu-byte datagrams, ",
	    opt.conns, opt.conns == 1 ? "" : "s", opt.host, port_number(),
	    opt.size);
	if (opt_rate > 0)
		printf("paced at %lld/s", opt_rate);
	else
		printf("round trips");
	printf(", %.3f s measured after %lld s of warm-up\n", secs,
	    opt.warmup);
	printf("    %llu sent, %llu back, %.1f per second\n",
	    (unsigned long long)us.sent, (unsigned long long)us.received,
	    secs > 0 ? us.received / secs : 0.0);
	printf("    round trip: p50 %lld us, p90 %lld us, p99 %lld us, "
	    "max %lld us\n", (long long)percentile(0.50),
	    (long long)percentile(0.90), (long long)percentile(0.99),
	    (long long)st.max);
	printf("    lost %llu (%.3f%%), duplicates %llu, reordered %llu, "
	    "late %llu, corrupt %llu, refused %llu, timeouts %llu, client "
	    "drops %llu\n", (unsigned long long)us.lost, loss,
	    (unsigned long long)us.duplicates,
	    (unsigned long long)us.reordered, (unsigned long long)us.late,
	    (unsigned long long)us.corrupt, (unsigned long long)us.refused,
	    (unsigned long long)us.timeouts,
	    (unsigned long long)us.client_drops);
}

static int
udp_main(void)
{
	size_t	 max = addr->ai_family == AF_INET6 ? UDP_MAX6 : UDP_MAX4;
	double	 secs;

	if (opt.size < UDP_HEADER || opt.size > max)
		errx(2, "-s %zu: udp datagrams are %d to %zu bytes over %s",
		    opt.size, UDP_HEADER, max,
		    addr->ai_family == AF_INET6 ? "IPv6" : "IPv4");
	if ((usocks = calloc(opt.conns, sizeof(*usocks))) == NULL ||
	    (utimes = calloc(UDP_WINDOW, sizeof(*utimes))) == NULL ||
	    (ubits = calloc(UDP_WINDOW / 64, sizeof(*ubits))) == NULL ||
	    (udgram = malloc(opt.size)) == NULL)
		err(2, "malloc");
	udp_run();
	secs = measure_from < stop ? (stop - measure_from) / 1e6 : 0.0;
	/* Lost and duplicated datagrams are errors, reordered ones not. */
	st.errors = us.lost + us.duplicates + us.corrupt + us.refused;
	udp_report(secs);
	free(usocks);
	free(utimes);
	free(ubits);
	free(udgram);
	return st.errors == 0 ? 0 : 1;
}

/* A thread of -T, and what it leaves for main() to add up. */
struct result {
	pthread_t	 thread;
	size_t		 slice;
	struct stats	 st;
	int64_t		 measure_from, stop;
};

/*
 * One thread's share of the connections, from set-up to the end of the
 * drain.  The first C mod T threads take one connection more.
 */
static void *
run_slice(void *arg)
{
	struct result	*r = arg;
	size_t		 i;

	slice = r->slice;
	nconns = opt.conns / opt.threads + (slice < opt.conns % opt.threads);
	if ((rxbuf = malloc(rxlen)) == NULL ||
	    (conns = calloc(nconns, sizeof(*conns))) == NULL)
		err(2, "malloc");
	for (i = 0; i < nconns; i++)
		conns[i].fd = -1;
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		err(2, "epoll_create1");
	run();
	close(ep);
	free(conns);
	free(rxbuf);
	if (slice > 0)
		r->st = st;
	r->measure_from = measure_from;
	r->stop = stop;
	return NULL;
}

/*
 * Another thread's counters added into main()'s, as if one thread had
 * run them all: counts and histograms summed (so the percentiles are of
 * every sample), the largest maximum; hold is all served once every
 * thread's connections are, when the last of them was.  The measured
 * time runs from the earliest start to the latest stop (the same for
 * every thread but in hold).
 */
static void
merge(const struct result *r)
{
	size_t	 i;

	st.count += r->st.count;
	st.bytes += r->st.bytes;
	st.errors += r->st.errors;
	st.refused += r->st.refused;
	st.reset += r->st.reset;
	st.closed += r->st.closed;
	st.corrupt += r->st.corrupt;
	st.timeouts += r->st.timeouts;
	st.served += r->st.served;
	st.lost += r->st.lost;
	if (st.all_served == 0 || r->st.all_served == 0)
		st.all_served = 0;
	else if (r->st.all_served > st.all_served)
		st.all_served = r->st.all_served;
	if (r->st.max > st.max)
		st.max = r->st.max;
	for (i = 0; i < HIST_BUCKETS; i++)
		st.hist[i] += r->st.hist[i];
	if (r->measure_from < measure_from)
		measure_from = r->measure_from;
	if (r->stop > stop)
		stop = r->stop;
}

static void
raise_nofile(size_t want)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		err(2, "getrlimit");
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur < want)
		errx(2, "%zu connections need %zu descriptors; RLIMIT_NOFILE "
		    "allows %llu (raise it: ulimit -n)", want - 16, want,
		    (unsigned long long)rl.rlim_cur);
}

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr, "usage: echobench rr|stream|connect|hold [-j] "
	    "[-c conns] [-d seconds] [-w seconds]\n"
	    "                 [-s size] [-T threads] [-t timeout] host port\n"
	    "       echobench udp [-j] [-c sockets] [-d seconds | -n count] "
	    "[-r rate]\n"
	    "                 [-w seconds] [-s size] [-t timeout] host port\n");
	exit(2);
}

static long long
number(int ch, const char *arg, long long min, long long max)
{
	const char	*errstr;
	long long	 n;

	n = strtonum(arg, min, max, &errstr);
	if (errstr != NULL)
		errx(2, "-%c %s: %s", ch, arg, errstr);
	return n;
}

int
main(int argc, char *argv[])
{
	/* Per mode: rr, stream, connect, hold, udp. */
	static const long long	 conns_default[] = { 1, 1, 8, 100, 1 };
	static const long long	 duration_default[] = { 5, 5, 5, 30, 5 };
	static const long long	 warmup_default[] = { 1, 1, 1, 0, 1 };
	static const long long	 size_default[] = { 64, 65536, 64, 64, 64 };
	struct addrinfo		 hints;
	struct result		*results;
	double			 secs;
	long long		 c = -1, d = -1, w = -1, s = -1, t = -1;
	long long		 threads = 1;
	size_t			 i;
	int			 ch, error, m, rc;

	if (argc < 2)
		usage();
	for (m = 0; m < NMODES && strcmp(argv[1], mode_names[m]) != 0; m++)
		;
	if (m == NMODES)
		usage();
	opt.mode = m;
	optind = 2;
	while ((ch = getopt(argc, argv, m == UDP ? "c:d:jn:r:s:t:w:" :
	    "c:d:js:T:t:w:")) != -1) {
		switch (ch) {
		case 'c':
			c = number(ch, optarg, 1, 1000000);
			break;
		case 'd':
			d = number(ch, optarg, 0, 86400);
			break;
		case 'j':
			opt.json = 1;
			break;
		case 'n':
			opt_count = number(ch, optarg, 1, 1LL << 48);
			break;
		case 'r':
			opt_rate = number(ch, optarg, 1, 100000000);
			break;
		case 's':
			s = number(ch, optarg, 1, MAX_SIZE);
			break;
		case 'T':
			threads = number(ch, optarg, 1, 1024);
			break;
		case 't':
			t = number(ch, optarg, 1, 3600);
			break;
		case 'w':
			w = number(ch, optarg, 0, 86400);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	opt.conns = c != -1 ? c : conns_default[m];
	opt.duration = d != -1 ? d : duration_default[m];
	opt.warmup = w != -1 ? w : opt_count > 0 ? 0 : warmup_default[m];
	opt.size = s != -1 ? s : size_default[m];
	/* A datagram not back within a second is lost on any LAN. */
	opt.timeout = t != -1 ? t : m == UDP ? 1 : 10;
	opt.host = argv[optind];
	if (opt_count > 0 && d != -1)
		usage();
	opt.threads = threads;
	if (opt.threads > opt.conns)
		errx(2, "-T %zu: more threads than the %zu connections",
		    opt.threads, opt.conns);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = m == UDP ? SOCK_DGRAM : SOCK_STREAM;
	if ((error = getaddrinfo(opt.host, argv[optind + 1], &hints, &addr))
	    != 0)
		errx(2, "%s port %s: %s", opt.host, argv[optind + 1],
		    gai_strerror(error));
	raise_nofile(opt.conns + opt.threads + 16);
	pattern_init();
	/* Reads take what is there, up to S or 64 KiB, whichever is more. */
	rxlen = opt.size > 65536 ? opt.size : 65536;
	if (m == UDP) {
		/* One byte more than the largest: a longer echo shows. */
		rxlen = UDP_MAX6 + 1;
		if ((rxbuf = malloc(rxlen)) == NULL ||
		    (ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
			err(2, "malloc");
		rc = udp_main();
		close(ep);
		free(rxbuf);
		free(pattern);
		freeaddrinfo(addr);
		return rc;
	}
	if ((results = calloc(opt.threads, sizeof(*results))) == NULL)
		err(2, "calloc");
	t0 = now_us();
	for (i = 1; i < opt.threads; i++) {
		results[i].slice = i;
		if ((error = pthread_create(&results[i].thread, NULL,
		    run_slice, &results[i])) != 0)
			errc(2, error, "pthread_create");
	}
	run_slice(&results[0]);
	for (i = 1; i < opt.threads; i++) {
		if ((error = pthread_join(results[i].thread, NULL)) != 0)
			errc(2, error, "pthread_join");
		merge(&results[i]);
	}
	secs = measure_from < stop ? (stop - measure_from) / 1e6 : 0.0;
	if (opt.json)
		report_json(secs);
	else
		report_text(secs);

	free(results);
	free(pattern);
	freeaddrinfo(addr);
	if (opt.mode == HOLD && st.served != (long)opt.conns)
		return 1;
	return st.errors == 0 ? 0 : 1;
}
