/*
 * echobench: a load generator for any Echo Protocol (RFC 862) server.
 *
 *   echobench hold [-j] [-c conns] [-d seconds] [-s size] [-t timeout]
 *       host port
 *
 * hold: opens C connections at once and keeps them all open; each sends
 * S bytes once a second and waits for all of them to come back, for D
 * seconds after the last connection was first served.  It reports how
 * many were served, how long it took from the first connect until every
 * connection had its first echo, the errors, and the round-trip times.
 *
 * Every echoed byte is checked against what was sent: a wrong, missing
 * or extra byte is an error, as is a connection that is refused, reset,
 * closed, or silent for the timeout.  One process, one thread, epoll.
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE	65536

enum conn_state {
	C_CONNECTING,
	C_WAITING,	/* between round trips */
	C_SENDING,
	C_RECEIVING,
	C_FAILED,
};

struct conn {
	int		 fd;
	enum conn_state	 state;
	uint32_t	 round;
	size_t		 sent, received;
	int64_t		 round_start;	/* us */
	int64_t		 due;		/* next round, us */
	int		 served;	/* had its first echo */
	int		 partial;	/* waiting for EPOLLOUT */
	struct conn	*next_due;	/* FIFO of waiting connections */
};

struct stats {
	long		 served;
	long		 rounds;
	long		 errors;
	long		 refused, reset, closed, corrupt, timeouts;
	int64_t		 first_connect;		/* us */
	int64_t		 all_served;		/* us, 0 until then */
	int64_t		*rtt;			/* us, one per round */
	size_t		 nrtt, rtt_cap;
};

static size_t		 msg_size = 64;
static int		 ep = -1;
static int		 timeout_s = 10;
static struct stats	 st;

static int64_t
now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The byte at offset i of round r of connection c: cheap, replayable. */
static unsigned char
pattern(size_t c, uint32_t r, size_t i)
{
	uint64_t	 x = (c * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)r << 32) ^ i;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x & 0xff;
}

static void
fail_conn(struct conn *c, long *counter, const char *what, int error)
{
	if (st.errors < 10)
		fprintf(stderr, "echobench: connection %d: %s%s%s\n", c->fd,
		    what, error ? ": " : "", error ? strerror(error) : "");
	st.errors++;
	(*counter)++;
	c->state = C_FAILED;
	close(c->fd);
	c->fd = -1;
}

static void
record_rtt(int64_t us)
{
	int64_t	*grown;

	if (st.nrtt == st.rtt_cap) {
		st.rtt_cap = st.rtt_cap ? st.rtt_cap * 2 : 4096;
		if ((grown = reallocarray(st.rtt, st.rtt_cap,
		    sizeof(*st.rtt))) == NULL)
			err(2, "reallocarray");
		st.rtt = grown;
	}
	st.rtt[st.nrtt++] = us;
}

static int
cmp_int64(const void *a, const void *b)
{
	int64_t	 x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int64_t
percentile(double p)
{
	size_t	 i;

	if (st.nrtt == 0)
		return 0;
	i = (size_t)(p * (st.nrtt - 1) + 0.5);
	return st.rtt[i];
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

/* Wake for output only while a message is partly sent. */
static void
want_output(struct conn *c, size_t idx, int on)
{
	struct epoll_event	 ev;

	ev.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0);
	ev.data.u64 = idx;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == -1)
		err(2, "epoll_ctl");
}

/* Send what is left of this round's message; 0, or -1 on failure. */
static int
conn_send(struct conn *c, size_t idx)
{
	unsigned char	 buf[MAX_SIZE];
	size_t		 i, left = msg_size - c->sent;
	ssize_t		 n;

	for (i = 0; i < left; i++)
		buf[i] = pattern(idx, c->round, c->sent + i);
	n = send(c->fd, buf, left, MSG_NOSIGNAL);
	if (n == -1 && errno != EAGAIN && errno != EINTR) {
		fail_conn(c, &st.reset, "send", errno);
		return -1;
	}
	if (n > 0)
		c->sent += n;
	if (c->sent == msg_size) {
		if (c->partial)
			want_output(c, idx, 0);
		c->partial = 0;
		c->state = C_RECEIVING;
	} else if (!c->partial) {
		want_output(c, idx, 1);
		c->partial = 1;
	}
	return 0;
}

/* Read and check the echo; returns 1 when the round is complete. */
static int
conn_recv(struct conn *c, size_t idx)
{
	unsigned char	 buf[MAX_SIZE];
	ssize_t		 n, i;

	for (;;) {
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			fail_conn(c, &st.reset, "recv", errno);
			return -1;
		}
		if (n == 0) {
			fail_conn(c, &st.closed, "closed by the server", 0);
			return -1;
		}
		if (c->received + n > c->sent) {
			fail_conn(c, &st.corrupt, "more bytes than sent", 0);
			return -1;
		}
		for (i = 0; i < n; i++) {
			if (buf[i] != pattern(idx, c->round, c->received + i)) {
				fail_conn(c, &st.corrupt, "wrong byte", 0);
				return -1;
			}
		}
		c->received += n;
		if (c->received == msg_size)
			return 1;
	}
}

static int
mode_hold(const char *host, const char *port, size_t nconns, int duration,
    int json)
{
	struct addrinfo		 hints, *ai;
	struct epoll_event	 ev, *events;
	struct conn		*conns, *c, *due_head = NULL, *due_tail = NULL;
	int64_t			 now, end = 0, last_check = 0;
	size_t			 i, idx;
	int			 n, k, error, active;
	socklen_t		 len;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((error = getaddrinfo(host, port, &hints, &ai)) != 0)
		errx(2, "%s port %s: %s", host, port, gai_strerror(error));
	raise_nofile(nconns + 16);
	if ((conns = calloc(nconns, sizeof(*conns))) == NULL ||
	    (events = calloc(1024, sizeof(*events))) == NULL)
		err(2, "calloc");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		err(2, "epoll_create1");

	st.first_connect = now_us();
	for (i = 0; i < nconns; i++) {
		c = &conns[i];
		c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (c->fd == -1)
			err(2, "socket");
		c->state = C_CONNECTING;
		c->round_start = now_us();
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
		    errno != EINPROGRESS) {
			fail_conn(c, &st.refused, "connect", errno);
			continue;
		}
		ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
		ev.data.u64 = i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) == -1)
			err(2, "epoll_ctl");
	}
	freeaddrinfo(ai);

	for (;;) {
		now = now_us();
		/* Start the rounds that are due, oldest first. */
		while (due_head != NULL && due_head->due <= now) {
			c = due_head;
			due_head = c->next_due;
			if (due_head == NULL)
				due_tail = NULL;
			if (c->state != C_WAITING)
				continue;
			c->round++;
			c->sent = c->received = 0;
			c->round_start = now;
			c->state = C_SENDING;
			conn_send(c, c - conns);
		}
		/* A round that takes longer than the timeout is an error. */
		if (now - last_check >= 100000) {
			last_check = now;
			for (i = 0, active = 0; i < nconns; i++) {
				c = &conns[i];
				if (c->state == C_FAILED)
					continue;
				active++;
				if (c->state != C_WAITING && now -
				    c->round_start > (int64_t)timeout_s * 1000000)
					fail_conn(c, &st.timeouts,
					    "no echo within the timeout", 0);
			}
			if (active == 0)
				break;
			if (st.all_served == 0 &&
			    st.served + st.errors >= (long)nconns) {
				st.all_served = now;
				end = now + (int64_t)duration * 1000000;
			}
			if (end != 0 && now >= end)
				break;
		}

		if ((n = epoll_wait(ep, events, 1024, 10)) == -1) {
			if (errno == EINTR)
				continue;
			err(2, "epoll_wait");
		}
		for (k = 0; k < n; k++) {
			idx = events[k].data.u64;
			c = &conns[idx];
			if (c->state == C_FAILED)
				continue;
			if (c->state == C_CONNECTING) {
				len = sizeof(error);
				if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR,
				    &error, &len) == -1)
					error = errno;
				if (error != 0) {
					fail_conn(c, &st.refused, "connect",
					    error);
					continue;
				}
				/* Level-triggered: only wake for input now. */
				want_output(c, idx, 0);
				c->state = C_SENDING;
			}
			if (c->state == C_SENDING && conn_send(c, idx) == -1)
				continue;
			if (!(events[k].events & (EPOLLIN | EPOLLRDHUP |
			    EPOLLERR | EPOLLHUP)))
				continue;
			if (c->state == C_WAITING) {
				/* Between rounds: the server closed or lied. */
				char	 b;
				ssize_t	 r = recv(c->fd, &b, 1, MSG_PEEK);

				if (r > 0)
					fail_conn(c, &st.corrupt,
					    "bytes nobody sent", 0);
				else if (r == 0)
					fail_conn(c, &st.closed,
					    "closed by the server", 0);
				else if (errno != EAGAIN && errno != EINTR)
					fail_conn(c, &st.reset, "recv", errno);
				continue;
			}
			if (conn_recv(c, idx) != 1)
				continue;
			record_rtt(now_us() - c->round_start);
			st.rounds++;
			if (!c->served) {
				c->served = 1;
				st.served++;
			}
			c->state = C_WAITING;
			c->due = c->round_start + 1000000;
			c->next_due = NULL;
			if (due_tail != NULL)
				due_tail->next_due = c;
			else
				due_head = c;
			due_tail = c;
		}
	}

	qsort(st.rtt, st.nrtt, sizeof(*st.rtt), cmp_int64);
	if (json)
		printf("{\"mode\":\"hold\",\"connections\":%zu,"
		    "\"served\":%ld,\"all_served_ms\":%.1f,\"rounds\":%ld,"
		    "\"errors\":%ld,\"refused\":%ld,\"reset\":%ld,"
		    "\"closed\":%ld,\"corrupt\":%ld,\"timeouts\":%ld,"
		    "\"rtt_p50_us\":%lld,\"rtt_p99_us\":%lld,"
		    "\"rtt_p999_us\":%lld}\n", nconns, st.served,
		    st.all_served ? (st.all_served - st.first_connect) / 1000.0 :
		    -1.0, st.rounds, st.errors, st.refused, st.reset, st.closed,
		    st.corrupt, st.timeouts, (long long)percentile(0.50),
		    (long long)percentile(0.99), (long long)percentile(0.999));
	else {
		printf("hold: %ld of %zu connections served", st.served,
		    nconns);
		if (st.all_served)
			printf(", all within %.1f ms of the first connect",
			    (st.all_served - st.first_connect) / 1000.0);
		printf("\n      %ld round trips of %zu bytes, %ld errors "
		    "(refused %ld, reset %ld, closed %ld, corrupt %ld, "
		    "timeouts %ld)\n", st.rounds, msg_size, st.errors,
		    st.refused, st.reset, st.closed, st.corrupt, st.timeouts);
		printf("      round trip: p50 %lld us, p99 %lld us, "
		    "p99.9 %lld us\n", (long long)percentile(0.50),
		    (long long)percentile(0.99), (long long)percentile(0.999));
	}
	for (i = 0; i < nconns; i++)
		if (conns[i].fd != -1)
			close(conns[i].fd);
	free(conns);
	free(events);
	free(st.rtt);
	close(ep);
	return st.errors == 0 && st.served == (long)nconns ? 0 : 1;
}

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr, "usage: echobench hold [-j] [-c conns] [-d seconds] "
	    "[-s size] [-t timeout] host port\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	const char	*errstr;
	long long	 nconns = 100, duration = 30;
	int		 ch, json = 0;

	if (argc < 2 || strcmp(argv[1], "hold") != 0)
		usage();
	optind = 2;
	while ((ch = getopt(argc, argv, "c:d:js:t:")) != -1) {
		switch (ch) {
		case 'c':
			nconns = strtonum(optarg, 1, 1000000, &errstr);
			if (errstr != NULL)
				errx(2, "-c %s: %s", optarg, errstr);
			break;
		case 'd':
			duration = strtonum(optarg, 0, 86400, &errstr);
			if (errstr != NULL)
				errx(2, "-d %s: %s", optarg, errstr);
			break;
		case 'j':
			json = 1;
			break;
		case 's':
			msg_size = strtonum(optarg, 1, MAX_SIZE, &errstr);
			if (errstr != NULL)
				errx(2, "-s %s: %s", optarg, errstr);
			break;
		case 't':
			timeout_s = strtonum(optarg, 1, 3600, &errstr);
			if (errstr != NULL)
				errx(2, "-t %s: %s", optarg, errstr);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	return mode_hold(argv[optind], argv[optind + 1], nconns, duration,
	    json);
}
