/*
 * echotest: the client the test suite talks to echod with.
 *
 *   echotest echo    -p PORT [-H HOST] [-n BYTES] [-c CONNS] [-s]
 *	C connections at once, each sending BYTES pseudo-random bytes and
 *	checking that every byte comes back in order; -s half-closes each
 *	connection (shutdown SHUT_WR) once all is sent and then requires
 *	EOF after the last byte.
 *   echotest load    -p PORT -f STOPFILE [-H HOST] [-c CONNS]
 *	Connects nonstop, CONNS at a time, one short round trip each,
 *	until STOPFILE exists.  Prints "attempted N failed M".
 *   echotest session -p PORT -f STOPFILE [-H HOST] [-r READYFILE]
 *	One long connection with a round trip every 20 ms until STOPFILE
 *	exists; READYFILE is created after the first round trip.  With
 *	-m, once MARKFILE exists, MARKFILE.done is created after five more
 *	round trips: proof that the session still echoes after whatever
 *	the test did before creating MARKFILE.
 *   echotest reset   -p PORT [-H HOST] [-n BYTES]
 *	Sends up to BYTES without reading any echo, then closes with an
 *	RST (SO_LINGER 0), leaving the server's worker in the middle of a
 *	write.  With -s it half-closes after sending (so the server's side
 *	is in CLOSE_WAIT), waits for the first echoed bytes and then
 *	closes: the server's next write meets EPIPE, and SIGPIPE.
 *   echotest hold    -p PORT [-H HOST] [-c CONNS]
 *	Opens C connections at once and keeps every one of them open
 *	until each has had one round trip: with a server that serves one
 *	connection per worker, all C must be served at the same time.
 *   echotest idle    -p PORT [-H HOST] | -U PATH
 *	Connects and sends nothing; succeeds when the server closes the
 *	connection before the deadline.  -U connects to a UNIX socket
 *	(echod's control socket) instead.
 *   echotest noread  -p PORT [-H HOST]
 *	Sends without ever reading; succeeds when the server gives up on
 *	the connection before the deadline.
 *   echotest freeport [-H HOST]
 *	Prints a TCP port that is free on HOST now.
 *   echotest badserver -p PORT -m FAULT [-H HOST] [-n OFFSET]
 *	A faulty echo server, for testing echobench: it serves up to 64
 *	connections at once, prints nothing and exits after -t SECONDS.
 *	FAULT is corrupt (echo everything, but flip the byte at OFFSET of
 *	each connection), drop (echo the first OFFSET bytes of each
 *	connection, then close its sending side: a FIN), reset (the same,
 *	then an RST), extra (echo everything, and one byte more with the
 *	chunk that holds OFFSET) or silent (accept, never read nor answer).
 *   echotest ask     -U PATH -q LINE
 *	Sends LINE and a newline to the UNIX socket PATH and prints what
 *	comes back until EOF (HAProxy's stats socket, "show stat").
 *   echotest notify  -U PATH -O FILE [-f STOPFILE]
 *	Stands in for systemd's NOTIFY_SOCKET: binds a UNIX datagram
 *	socket at PATH and appends each datagram to FILE as one line, its
 *	own newlines written as "|", until STOPFILE exists or the deadline.
 *
 * -B ADDR binds each connection's local end to ADDR first (another
 * loopback address stands for another client).
 *
 * -P KIND makes each connection begin as a load balancer's would, with
 * a PROXY protocol header, sent in one segment with the first data:
 * "1" (v1, TCP4 or TCP6 after the family of -a), "2" (v2 PROXY, with
 * two TLVs), "2-big" (the same with a 3000-byte TLV more), "1-unknown"
 * (v1 UNKNOWN), "2-local" (v2 LOCAL); or, to be
 * refused, "junk" (an HTTP request line) or "none" (no header).  The
 * header announces the client -a ADDR (default 203.0.113.7) with the
 * port -o PORT (default 40000) plus the connection's index; the bytes
 * echoed must not include it.  -S sends the header in two halves, 100
 * ms apart.  With -P, "idle" sends the header and a line of data, and
 * succeeds when the server closes the connection with nothing echoed.
 *
 * Every mode checks each byte, has a deadline (-t SECONDS, default 20)
 * and exits 0 only if nothing went wrong.  Data comes from a generator
 * that the checker replays, so 16 MiB need no 16 MiB buffer.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/sockios.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK	(16 * 1024)

/* xorshift64*: a cheap stream of bytes that can be replayed. */
struct stream {
	uint64_t	 state;
	uint64_t	 word;
	int		 left;		/* bytes of word not yet used */
};

struct conn {
	int		 fd;
	int		 connected;
	int		 done;
	int		 failed;
	size_t		 total;		/* bytes to send */
	size_t		 sent;
	size_t		 received;
	int		 shut;		/* SHUT_WR done */
	struct stream	 tx, rx;
	char		 txbuf[CHUNK];
	size_t		 txoff, txlen;
	unsigned char	 pre[4096];	/* -P: the header to send first */
	size_t		 prelen;
	size_t		 txpre;		/* header bytes in txbuf unsent */
};

static const char	*host = "127.0.0.1";
static const char	*source;		/* -B */
static const char	*unix_path;		/* -U */
static const char	*port;
static int		 timeout_s = 20;
static int		 verbose;
static const char	*proxy_kind;		/* -P */
static const char	*proxy_src = "203.0.113.7";	/* -a */
static int		 proxy_sport = 40000;	/* -o */
static int		 split_header;		/* -S */

static void
stream_init(struct stream *s, uint64_t seed)
{
	s->state = seed ? seed : 0x9e3779b97f4a7c15ULL;
	s->left = 0;
}

static void
stream_fill(struct stream *s, unsigned char *buf, size_t n)
{
	while (n-- > 0) {
		if (s->left == 0) {
			s->state ^= s->state >> 12;
			s->state ^= s->state << 25;
			s->state ^= s->state >> 27;
			s->word = s->state * 0x2545f4914f6cdd1dULL;
			s->left = 8;
		}
		*buf++ = s->word & 0xff;
		s->word >>= 8;
		s->left--;
	}
}

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
file_exists(const char *path)
{
	struct stat	 st;

	return stat(path, &st) == 0;
}

static struct addrinfo *
resolve(void)
{
	struct addrinfo	 hints, *res;
	int		 error;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((error = getaddrinfo(host, port, &hints, &res)) != 0)
		errx(2, "%s port %s: %s", host, port ? port : "-",
		    gai_strerror(error));
	return res;
}

static int		 failures_reported;

static void
conn_fail(struct conn *c, const char *what, int error)
{
	/* Enough to see the pattern; a broken server must not flood. */
	if (!c->failed && ++failures_reported <= 10)
		fprintf(stderr, "echotest: connection %d: %s%s%s (sent %zu, "
		    "received %zu of %zu)\n", c->fd, what,
		    error ? ": " : "", error ? strerror(error) : "",
		    c->sent, c->received, c->total);
	c->failed = 1;
	c->done = 1;
}

/* With -B: the local address a connection comes from. */
static int
bind_source(int fd, int family)
{
	struct addrinfo	 hints, *res;
	int		 error;

	if (source == NULL)
		return 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST;
	if ((error = getaddrinfo(source, "0", &hints, &res)) != 0)
		errx(2, "-B %s: %s", source, gai_strerror(error));
	error = bind(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return error;
}

/*
 * The PROXY header of -P for connection i, into buf; its length.  It
 * tells the server that -a ADDR, port -o PORT + i, reached it.
 */
static size_t
proxy_header(unsigned char *buf, size_t len, int i)
{
	static const unsigned char sig[12] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
		0x54, 0x0a
	};
	/* A NOOP TLV and an AUTHORITY TLV: to be skipped by the server. */
	static const unsigned char tlvs[] = {
		0x04, 0x00, 0x02, 0, 0,
		0x02, 0x00, 0x08, 'e', 'c', 'h', 'o', 't', 'e', 's', 't'
	};
	struct in_addr	 src4, dst4;
	struct in6_addr	 src6, dst6;
	unsigned int	 sport = (proxy_sport + i) & 0xffff;
	unsigned int	 dport = atoi(port);
	size_t		 n, alen;
	int		 v6;

	if (proxy_kind == NULL || strcmp(proxy_kind, "none") == 0)
		return 0;
	if (strcmp(proxy_kind, "junk") == 0)
		return strlcpy((char *)buf, "GET / HTTP/1.0\r\n\r\n", len);
	if (strcmp(proxy_kind, "1-unknown") == 0)
		return strlcpy((char *)buf, "PROXY UNKNOWN\r\n", len);
	v6 = inet_pton(AF_INET6, proxy_src, &src6) == 1;
	if (!v6 && inet_pton(AF_INET, proxy_src, &src4) != 1)
		errx(2, "-a %s: not a numeric address", proxy_src);
	inet_pton(AF_INET, "127.0.0.1", &dst4);
	inet_pton(AF_INET6, "::1", &dst6);
	if (strcmp(proxy_kind, "1") == 0)
		return snprintf((char *)buf, len, "PROXY TCP%c %s %s %u %u\r\n",
		    v6 ? '6' : '4', proxy_src, v6 ? "::1" : "127.0.0.1", sport,
		    dport);
	if (strcmp(proxy_kind, "2") != 0 && strcmp(proxy_kind, "2-big") != 0 &&
	    strcmp(proxy_kind, "2-local") != 0)
		errx(2, "-P %s: expected 1, 2, 2-big, 1-unknown, 2-local, junk "
		    "or none", proxy_kind);
	memcpy(buf, sig, 12);
	if (strcmp(proxy_kind, "2-local") == 0) {
		buf[12] = 0x20;
		buf[13] = buf[14] = buf[15] = 0;
		return 16;
	}
	buf[12] = 0x21;
	buf[13] = v6 ? 0x21 : 0x11;
	n = 16;
	if (v6) {
		memcpy(buf + n, &src6, 16);
		memcpy(buf + n + 16, &dst6, 16);
		n += 32;
	} else {
		memcpy(buf + n, &src4, 4);
		memcpy(buf + n + 4, &dst4, 4);
		n += 8;
	}
	buf[n++] = sport >> 8;
	buf[n++] = sport & 0xff;
	buf[n++] = dport >> 8;
	buf[n++] = dport & 0xff;
	memcpy(buf + n, tlvs, sizeof(tlvs));
	n += sizeof(tlvs);
	if (strcmp(proxy_kind, "2-big") == 0 && len >= n + 3003) {
		/* A custom TLV, more than a peek of the server's. */
		buf[n++] = 0xe0;
		buf[n++] = 3000 >> 8;
		buf[n++] = 3000 & 0xff;
		memset(buf + n, 'x', 3000);
		n += 3000;
	}
	alen = n - 16;
	buf[14] = alen >> 8;
	buf[15] = alen & 0xff;
	return n;
}

static void
conn_start(struct conn *c, const struct addrinfo *ai, size_t total,
    uint64_t seed, int index)
{
	memset(c, 0, sizeof(*c));
	c->prelen = proxy_header(c->pre, sizeof(c->pre), index);
	c->total = total;
	stream_init(&c->tx, seed);
	stream_init(&c->rx, seed);
	c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd == -1) {
		conn_fail(c, "socket", errno);
		return;
	}
	if (bind_source(c->fd, ai->ai_family) == -1) {
		conn_fail(c, "bind -B", errno);
		return;
	}
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
		c->connected = 1;
	else if (errno != EINPROGRESS)
		conn_fail(c, "connect", errno);
}

static void
conn_send(struct conn *c, int halfclose)
{
	ssize_t	 n;

	size_t	 want, pre;

	while (c->sent < c->total) {
		if (c->txlen == 0) {
			/* The header, if any, goes with the first data. */
			pre = c->prelen;
			memcpy(c->txbuf, c->pre, pre);
			c->prelen = 0;
			c->txpre = pre;
			c->txlen = c->total - c->sent;
			if (c->txlen > CHUNK - pre)
				c->txlen = CHUNK - pre;
			stream_fill(&c->tx, (unsigned char *)c->txbuf + pre,
			    c->txlen);
			c->txlen += pre;
			c->txoff = 0;
		}
		want = c->txlen - c->txoff;
		if (split_header && c->txoff == 0 && c->txpre > 1)
			want = c->txpre / 2;
		n = send(c->fd, c->txbuf + c->txoff, want, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_fail(c, "send", errno);
			return;
		}
		if (split_header && c->txoff == 0 && c->txpre > 1)
			poll(NULL, 0, 100);	/* the half goes alone */
		/* Header bytes are not data: they must not come back. */
		want = (size_t)n < c->txpre ? (size_t)n : c->txpre;
		c->txpre -= want;
		c->sent += n - want;
		c->txoff += n;
		if (c->txoff == c->txlen)
			c->txlen = 0;
	}
	if (halfclose && !c->shut) {
		if (shutdown(c->fd, SHUT_WR) == -1)
			conn_fail(c, "shutdown", errno);
		c->shut = 1;
	}
}

static void
conn_recv(struct conn *c, int halfclose)
{
	unsigned char	 buf[CHUNK], want[CHUNK];
	ssize_t		 n, i;

	for (;;) {
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_fail(c, "recv", errno);
			return;
		}
		if (n == 0) {
			if (!halfclose || c->received != c->total)
				conn_fail(c, "early EOF", 0);
			else
				c->done = 1;	/* all echoed, then EOF */
			return;
		}
		if (c->received + n > c->sent) {
			conn_fail(c, "more bytes back than sent", 0);
			return;
		}
		stream_fill(&c->rx, want, n);
		for (i = 0; i < n; i++) {
			if (buf[i] != want[i]) {
				char	 what[96];

				snprintf(what, sizeof(what), "wrong byte at "
				    "offset %zu", c->received + i);
				conn_fail(c, what, 0);
				return;
			}
		}
		c->received += n;
		if (c->received == c->total && !halfclose) {
			c->done = 1;
			return;
		}
	}
}

/*
 * Run n connections to completion or the deadline; returns how many
 * failed.  Each sends total bytes; with halfclose each also expects EOF.
 */
static int
run_conns(const struct addrinfo *ai, int n, size_t total, int halfclose,
    int hold, int64_t deadline)
{
	struct conn	*c;
	struct pollfd	*pfd;
	int		 i, active, failed = 0, error;
	socklen_t	 len;

	if ((c = calloc(n, sizeof(*c))) == NULL ||
	    (pfd = calloc(n, sizeof(*pfd))) == NULL)
		err(2, "calloc");
	for (i = 0; i < n; i++) {
		conn_start(&c[i], ai, total,
		    ((uint64_t)now_ms() << 20) ^ (uint64_t)i * 7919 ^ getpid(),
		    i);
		if (c[i].done && c[i].fd != -1) {
			close(c[i].fd);
			c[i].fd = -1;
		}
	}

	for (;;) {
		active = 0;
		for (i = 0; i < n; i++) {
			pfd[i].fd = c[i].done ? -1 : c[i].fd;
			pfd[i].events = POLLIN;
			if (!c[i].connected || c[i].sent < c[i].total)
				pfd[i].events |= POLLOUT;
			pfd[i].revents = 0;
			if (!c[i].done)
				active++;
		}
		if (active == 0)
			break;
		if (now_ms() >= deadline) {
			for (i = 0; i < n; i++)
				if (!c[i].done)
					conn_fail(&c[i], "timed out", 0);
			break;
		}
		if (poll(pfd, n, 100) == -1 && errno != EINTR)
			err(2, "poll");
		for (i = 0; i < n; i++) {
			if (c[i].done || pfd[i].revents == 0)
				continue;
			if (!c[i].connected) {
				len = sizeof(error);
				if (getsockopt(c[i].fd, SOL_SOCKET, SO_ERROR,
				    &error, &len) == -1)
					error = errno;
				if (error != 0) {
					conn_fail(&c[i], "connect", error);
					continue;
				}
				c[i].connected = 1;
			}
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				conn_recv(&c[i], halfclose);
			if (!c[i].done)
				conn_send(&c[i], halfclose);
			/*
			 * Close as soon as it is complete: a preforked
			 * server's worker is busy until the client closes.
			 * (Unless holding: then every connection stays.)
			 */
			if (c[i].done && c[i].fd != -1 &&
			    (!hold || c[i].failed)) {
				close(c[i].fd);
				c[i].fd = -1;
			}
		}
	}
	for (i = 0; i < n; i++) {
		if (c[i].failed)
			failed++;
		if (c[i].fd != -1)
			close(c[i].fd);
	}
	free(c);
	free(pfd);
	return failed;
}

static int
mode_echo(int nconns, size_t nbytes, int halfclose)
{
	struct addrinfo	*ai = resolve();
	int		 failed;

	failed = run_conns(ai, nconns, nbytes, halfclose, 0,
	    now_ms() + (int64_t)timeout_s * 1000);
	freeaddrinfo(ai);
	printf("echo: %d connections of %zu bytes%s, %d failed\n", nconns,
	    nbytes, halfclose ? " (half-closed)" : "", failed);
	return failed == 0 ? 0 : 1;
}

static int
mode_load(const char *stopfile, int nconns)
{
	struct addrinfo	*ai = resolve();
	long		 attempted = 0, failed = 0;
	int64_t		 hard_deadline = now_ms() + (int64_t)timeout_s * 1000;

	while (!file_exists(stopfile) && now_ms() < hard_deadline) {
		failed += run_conns(ai, nconns, 32, 0, 0, now_ms() + 5000);
		attempted += nconns;
	}
	freeaddrinfo(ai);
	if (!file_exists(stopfile)) {
		fprintf(stderr, "echotest: load: %s never appeared\n",
		    stopfile);
		failed++;
	}
	printf("attempted %ld failed %ld\n", attempted, failed);
	return failed == 0 && attempted > 0 ? 0 : 1;
}

static void
touch(const char *path)
{
	int	 fd;

	if ((fd = open(path, O_WRONLY | O_CREAT, 0644)) == -1)
		err(2, "%s", path);
	close(fd);
}

static int
mode_session(const char *stopfile, const char *readyfile,
    const char *markfile)
{
	char		 donefile[4096];
	long		 marked = 0;
	struct addrinfo	*ai = resolve();
	struct conn	*c;
	struct pollfd	 pfd;
	long		 rounds = 0;
	size_t		 target;
	int64_t		 deadline = now_ms() + (int64_t)timeout_s * 1000;
	int		 error;
	socklen_t	 len;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		err(2, "calloc");
	conn_start(c, ai, 0, (uint64_t)now_ms() ^ getpid(), 0);
	freeaddrinfo(ai);

	/* Each round adds 64 bytes to send and waits for all of it back. */
	while (!c->failed) {
		if (rounds > 0 && file_exists(stopfile))
			break;
		if (now_ms() >= deadline) {
			conn_fail(c, "stop file never appeared", 0);
			break;
		}
		target = c->total + 64;
		c->total = target;
		while (!c->failed && c->received < target) {
			if (now_ms() >= deadline) {
				conn_fail(c, "timed out", 0);
				break;
			}
			pfd.fd = c->fd;
			pfd.events = POLLIN | (c->sent < c->total ||
			    !c->connected ? POLLOUT : 0);
			if (poll(&pfd, 1, 100) == -1 && errno != EINTR)
				err(2, "poll");
			if (pfd.revents == 0)
				continue;
			if (!c->connected) {
				len = sizeof(error);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error,
				    &len);
				if (error != 0) {
					conn_fail(c, "connect", error);
					break;
				}
				c->connected = 1;
			}
			if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
				conn_recv(c, 0);
			c->done = 0;	/* a round's end is not the end */
			if (!c->failed)
				conn_send(c, 0);
		}
		if (c->failed)
			break;
		if (++rounds == 1 && readyfile != NULL)
			touch(readyfile);
		if (markfile != NULL && file_exists(markfile) &&
		    ++marked == 5) {
			snprintf(donefile, sizeof(donefile), "%s.done",
			    markfile);
			touch(donefile);
		}
		poll(NULL, 0, 20);
	}
	printf("session: %ld round trips (%ld after the mark), %zu bytes "
	    "echoed, %s\n", rounds, marked, c->received,
	    c->failed ? "FAILED" : "ok");
	error = c->failed;
	close(c->fd);
	free(c);
	return error ? 1 : 0;
}

static int
mode_hold(int nconns)
{
	struct addrinfo	*ai = resolve();
	int		 failed;

	failed = run_conns(ai, nconns, 64, 0, 1,
	    now_ms() + (int64_t)timeout_s * 1000);
	freeaddrinfo(ai);
	printf("hold: %d of %d connections served at once\n",
	    nconns - failed, nconns);
	return failed == 0 ? 0 : 1;
}

/* One blocking connection, or exit. */
static int
connect_one(void)
{
	struct addrinfo		*ai;
	struct sockaddr_un	 sun;
	int			 fd;

	if (unix_path != NULL) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		strlcpy(sun.sun_path, unix_path, sizeof(sun.sun_path));
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
			err(2, "socket");
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
			err(1, "connect %s", unix_path);
		return fd;
	}
	ai = resolve();

	if ((fd = socket(ai->ai_family, SOCK_STREAM, 0)) == -1)
		err(2, "socket");
	if (bind_source(fd, ai->ai_family) == -1)
		err(2, "bind -B %s", source);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1)
		err(1, "connect");
	freeaddrinfo(ai);
	return fd;
}

static int
mode_idle(void)
{
	struct pollfd	 pfd;
	unsigned char	 buf[4096];
	int64_t		 start = now_ms();
	ssize_t		 n;
	size_t		 len;

	pfd.fd = connect_one();
	pfd.events = POLLIN;
	if (proxy_kind != NULL) {
		/* What a client that is no balancer would send. */
		len = proxy_header(buf, sizeof(buf) - 8, 0);
		memcpy(buf + len, "hello\n", 6);
		if (send(pfd.fd, buf, len + 6, MSG_NOSIGNAL) == -1)
			err(1, "send");
	}
	if (poll(&pfd, 1, timeout_s * 1000) <= 0) {
		printf("idle: still open after %d s\n", timeout_s);
		return 1;
	}
	n = recv(pfd.fd, buf, sizeof(buf), 0);
	printf("idle: closed by the server after %lld ms (%s)\n",
	    (long long)(now_ms() - start), n == 0 ? "EOF" :
	    n < 0 ? strerror(errno) : "data?");
	return n > 0 ? 1 : 0;
}

static int
mode_noread(void)
{
	char	 buf[CHUNK];
	int64_t	 start = now_ms(), deadline = start + timeout_s * 1000;
	size_t	 sent = 0;
	ssize_t	 n;
	int	 fd = connect_one();

	memset(buf, 'n', sizeof(buf));
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		err(2, "fcntl");
	while (now_ms() < deadline) {
		n = send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
		if (n > 0) {
			sent += n;
			continue;
		}
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			printf("noread: the server gave up after %lld ms and "
			    "%zu bytes (%s)\n", (long long)(now_ms() - start),
			    sent, strerror(errno));
			return 0;
		}
		poll(NULL, 0, 20);
	}
	printf("noread: still open after %d s, %zu bytes sent\n", timeout_s,
	    sent);
	return 1;
}

static int
mode_reset(size_t nbytes, int plainclose)
{
	struct addrinfo	*ai = resolve();
	struct timeval	 tv = { 1, 0 };
	struct linger	 lg = { 1, 0 };
	char		 buf[CHUNK];
	size_t		 sent = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = socket(ai->ai_family, SOCK_STREAM, 0)) == -1)
		err(2, "socket");
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1)
		err(1, "connect");
	freeaddrinfo(ai);
	/* The server fills our receive buffer, then its own, then stops. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		err(2, "SO_SNDTIMEO");
	memset(buf, 'r', sizeof(buf));
	while (sent < nbytes) {
		if ((n = send(fd, buf, sizeof(buf), MSG_NOSIGNAL)) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			err(1, "send");
		}
		sent += n;
	}
	if (plainclose) {
		int	 queued = 1, tries;

		if (shutdown(fd, SHUT_WR) == -1)
			err(1, "shutdown");
		/* Everything, FIN included, must have reached the server. */
		for (tries = 0; tries < 500 && queued > 0; tries++) {
			if (ioctl(fd, SIOCOUTQ, &queued) == -1)
				err(2, "SIOCOUTQ");
			if (queued > 0)
				poll(NULL, 0, 10);
		}
		if (queued > 0)
			errx(1, "data still unsent after 5 s");
		if (recv(fd, buf, 1, MSG_PEEK) == -1)
			err(1, "recv");
	} else if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg))
	    == -1)
		err(2, "SO_LINGER");
	close(fd);
	printf("reset: sent %zu bytes unread, then %s\n", sent,
	    plainclose ? "half-close and close" : "RST");
	return 0;
}

static int
mode_freeport(void)
{
	struct addrinfo		 hints, *res;
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	char			 serv[NI_MAXSERV];
	int			 fd, error;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((error = getaddrinfo(host, "0", &hints, &res)) != 0)
		errx(2, "%s: %s", host, gai_strerror(error));
	if ((fd = socket(res->ai_family, SOCK_STREAM, 0)) == -1 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		err(2, "bind %s port 0", host);
	if (getnameinfo((struct sockaddr *)&ss, len, NULL, 0, serv,
	    sizeof(serv), NI_NUMERICSERV) != 0)
		errx(2, "getnameinfo");
	printf("%s\n", serv);
	close(fd);
	freeaddrinfo(res);
	return 0;
}

static int
write_all(int fd, const unsigned char *buf, size_t len)
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

#define BAD_CLIENTS	64

static int
mode_badserver(const char *fault, size_t offset)
{
	struct addrinfo	*ai = resolve();
	struct pollfd	 pfd[1 + BAD_CLIENTS];
	size_t		 echoed[1 + BAD_CLIENTS];
	unsigned char	 buf[CHUNK];
	struct linger	 lg = { 1, 0 };
	int64_t		 deadline = now_ms() + (int64_t)timeout_s * 1000;
	int		 lfd, fd, one = 1, n = 1, i, corrupt, cut, extra, silent;
	size_t		 len;
	ssize_t		 r;

	corrupt = strcmp(fault, "corrupt") == 0;
	cut = strcmp(fault, "drop") == 0 || strcmp(fault, "reset") == 0;
	extra = strcmp(fault, "extra") == 0;
	silent = strcmp(fault, "silent") == 0;
	if (!corrupt && !cut && !extra && !silent)
		errx(2, "-m %s: not corrupt, drop, reset, extra or silent",
		    fault);
	if ((lfd = socket(ai->ai_family, SOCK_STREAM, 0)) == -1 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1 ||
	    bind(lfd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(lfd, 128) == -1)
		err(2, "listen on %s port %s", host, port);
	freeaddrinfo(ai);
	pfd[0].fd = lfd;

	while (now_ms() < deadline) {
		pfd[0].events = n < 1 + BAD_CLIENTS ? POLLIN : 0;
		if (poll(pfd, n, 100) == -1 && errno != EINTR)
			err(2, "poll");
		if ((pfd[0].revents & POLLIN) &&
		    (fd = accept(lfd, NULL, NULL)) != -1) {
			/* A free slot, or a new one at the end. */
			for (i = 1; i < n && pfd[i].fd != -1; i++)
				;
			if (i == n)
				n++;
			pfd[i].fd = fd;
			pfd[i].events = silent ? 0 : POLLIN;
			pfd[i].revents = 0;
			echoed[i] = 0;
		}
		for (i = 1; i < n; i++) {
			if (pfd[i].fd == -1 ||
			    !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			/* (Room for extra's byte.) */
			if ((r = read(pfd[i].fd, buf, sizeof(buf) - 1)) <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				continue;
			}
			len = r;
			if (cut) {
				if (echoed[i] >= offset)
					continue;	/* after the FIN */
				if (echoed[i] + len > offset)
					len = offset - echoed[i];
			}
			if (corrupt && offset >= echoed[i] &&
			    offset < echoed[i] + len)
				buf[offset - echoed[i]] ^= 0x5a;
			r = len;
			if (extra && offset >= echoed[i] &&
			    offset < echoed[i] + len)
				buf[r++] = buf[len - 1];
			if (write_all(pfd[i].fd, buf, r) == -1) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				continue;
			}
			echoed[i] += len;
			if (!cut || echoed[i] < offset)
				continue;
			if (strcmp(fault, "reset") == 0) {
				setsockopt(pfd[i].fd, SOL_SOCKET, SO_LINGER,
				    &lg, sizeof(lg));
				close(pfd[i].fd);
				pfd[i].fd = -1;
			} else
				shutdown(pfd[i].fd, SHUT_WR);
		}
	}
	return 0;
}

static int
mode_ask(const char *line)
{
	char	 buf[4096];
	ssize_t	 n;
	int	 fd = connect_one();

	if (write(fd, line, strlen(line)) == -1 || write(fd, "\n", 1) == -1)
		err(1, "write %s", unix_path);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, n, stdout);
	if (n == -1)
		err(1, "read %s", unix_path);
	close(fd);
	return 0;
}

static int
mode_notify(const char *outfile, const char *stopfile)
{
	struct sockaddr_un	 sun;
	struct pollfd		 pfd;
	char			 buf[4096];
	int64_t			 deadline = now_ms() + (int64_t)timeout_s * 1000;
	ssize_t			 n, i;
	int			 out;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, unix_path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		errx(2, "%s: path too long", unix_path);
	unlink(unix_path);
	if ((pfd.fd = socket(AF_UNIX, SOCK_DGRAM, 0)) == -1 ||
	    bind(pfd.fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		err(2, "%s", unix_path);
	if ((out = open(outfile, O_WRONLY | O_CREAT | O_APPEND, 0644)) == -1)
		err(2, "%s", outfile);
	pfd.events = POLLIN;
	while (now_ms() < deadline &&
	    (stopfile == NULL || !file_exists(stopfile))) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if ((n = recv(pfd.fd, buf, sizeof(buf) - 1, 0)) <= 0)
			continue;
		/* One line per datagram, written at once. */
		while (n > 0 && buf[n - 1] == '\n')
			n--;
		for (i = 0; i < n; i++)
			if (buf[i] == '\n')
				buf[i] = '|';
		buf[n++] = '\n';
		if (write(out, buf, n) != n)
			err(2, "%s", outfile);
	}
	close(out);
	close(pfd.fd);
	unlink(unix_path);
	return 0;
}

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr,
	    "usage: echotest echo -p port [-H host] [-n bytes] [-c conns] "
	    "[-s] [-t secs] [-B source]\n"
	    "       echotest load -p port -f stopfile [-H host] [-c conns]\n"
	    "       echotest session -p port -f stopfile [-r readyfile] "
	    "[-m markfile]\n"
	    "       echotest reset -p port [-H host] [-n bytes] [-s]\n"
	    "       echotest hold|idle|noread -p port [-H host] [-c conns]\n"
	    "       echotest freeport [-H host]\n"
	    "       echotest badserver -p port -m corrupt|drop|reset|extra|silent"
	    " [-n offset] [-t secs]\n"
	    "       echotest ask -U path -q line\n"
	    "       echotest notify -U path -O file [-f stopfile]\n"
	    "       (each TCP mode: [-P kind [-a addr] [-o port] [-S]])\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	const char	*mode, *stopfile = NULL, *readyfile = NULL, *errstr;
	const char	*markfile = NULL, *query = NULL, *outfile = NULL;
	long long	 nbytes = 1;
	int		 ch, nconns = 1, halfclose = 0;

	if (argc < 2)
		usage();
	mode = argv[1];
	optind = 2;
	while ((ch = getopt(argc, argv, "a:B:c:f:H:m:n:o:O:p:P:q:r:sSt:U:v")) !=
	    -1) {
		switch (ch) {
		case 'O':
			outfile = optarg;
			break;
		case 'U':
			unix_path = optarg;
			break;
		case 'a':
			proxy_src = optarg;
			break;
		case 'o':
			proxy_sport = strtonum(optarg, 0, 65535, &errstr);
			if (errstr != NULL)
				errx(2, "-o %s: %s", optarg, errstr);
			break;
		case 'P':
			proxy_kind = optarg;
			break;
		case 'q':
			query = optarg;
			break;
		case 'S':
			split_header = 1;
			break;
		case 'B':
			source = optarg;
			break;
		case 'c':
			nconns = strtonum(optarg, 1, 100000, &errstr);
			if (errstr != NULL)
				errx(2, "-c %s: %s", optarg, errstr);
			break;
		case 'f':
			stopfile = optarg;
			break;
		case 'H':
			host = optarg;
			break;
		case 'm':	/* session's mark file, badserver's fault */
			markfile = optarg;
			break;
		case 'n':
			nbytes = strtonum(optarg, 1, 1LL << 34, &errstr);
			if (errstr != NULL)
				errx(2, "-n %s: %s", optarg, errstr);
			break;
		case 'p':
			port = optarg;
			break;
		case 'r':
			readyfile = optarg;
			break;
		case 's':
			halfclose = 1;
			break;
		case 't':
			timeout_s = strtonum(optarg, 1, 3600, &errstr);
			if (errstr != NULL)
				errx(2, "-t %s: %s", optarg, errstr);
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	if (strcmp(mode, "freeport") == 0)
		return mode_freeport();
	if (strcmp(mode, "idle") == 0 && unix_path != NULL)
		return mode_idle();
	if (strcmp(mode, "ask") == 0 && unix_path != NULL && query != NULL)
		return mode_ask(query);
	if (strcmp(mode, "notify") == 0 && unix_path != NULL &&
	    outfile != NULL)
		return mode_notify(outfile, stopfile);
	if (port == NULL)
		usage();
	if (strcmp(mode, "echo") == 0)
		return mode_echo(nconns, nbytes, halfclose);
	if (strcmp(mode, "reset") == 0)
		return mode_reset(nbytes, halfclose);
	if (strcmp(mode, "hold") == 0)
		return mode_hold(nconns);
	if (strcmp(mode, "idle") == 0)
		return mode_idle();
	if (strcmp(mode, "noread") == 0)
		return mode_noread();
	if (strcmp(mode, "load") == 0 && stopfile != NULL)
		return mode_load(stopfile, nconns);
	if (strcmp(mode, "badserver") == 0 && markfile != NULL)
		return mode_badserver(markfile, nbytes);
	if (strcmp(mode, "session") == 0 && stopfile != NULL)
		return mode_session(stopfile, readyfile, markfile);
	usage();
}
