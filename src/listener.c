/*
 * Listening sockets: opened by the master, shared by every worker, and
 * carried across reloads.
 *
 * On a reload the new configuration's addresses are matched against the
 * open sockets: a socket whose address is still wanted is handed on as
 * it is (the very same socket, so its accept queue and the clients in it
 * survive); only new addresses are bound and only dropped ones closed.
 *
 * With socket activation the sockets are systemd's, passed at start
 * (listeners_adopt()), and the configured addresses are not bound: the
 * listen lines only give them their options (match_activated()), and a
 * reload hands every one of them on, whatever "listen on" now says.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "listener.h"
#include "log.h"

static int
set_nonblocking(int fd, int on)
{
	int	 flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return -1;
	flags = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, flags);
}

static int
is_datagram(int fd)
{
	socklen_t	 len;
	int		 type = 0;

	len = sizeof(type);
	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	    type == SOCK_DGRAM;
}

static void
format_bound(int fd, char *buf, size_t len)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1)
		strlcpy(buf, "?", len);
	else
		addr_format((struct sockaddr *)&ss, sslen, buf, len);
	if (is_datagram(fd))
		strlcat(buf, "/udp", len);
}

/*
 * What the configuration says about a listening socket, applied to a new
 * one and again to a kept one on every reload.  Returns what failed, or
 * NULL.
 *
 * - O_NONBLOCK: a worker with one listener blocks in accept(); with
 *   several it polls them all, and must not then block in accept() on
 *   one that another worker emptied first.  The flag belongs to the
 *   socket, shared by every process, so it is set here, for the
 *   generation about to be forked.
 * - idle-timeout as SO_RCVTIMEO and SO_SNDTIMEO: Linux copies both into
 *   every socket accept() returns, so a worker's read() or write() that
 *   makes no progress for that long fails with EAGAIN, at no cost of a
 *   system call per connection.  (A worker idle in accept() also wakes
 *   that often, and simply calls it again.)
 * - the backlog: listen() on a listening socket changes it in place.
 */
/*
 * A UDP socket's settings: always blocking (a UDP worker blocks in
 * recvmmsg() on it, or polls its several and receives with
 * MSG_DONTWAIT, so it never spins on EAGAIN); the receive buffer that
 * holds a burst or the datagrams of a reload while no worker reads; and
 * what each datagram is to carry for the worker: the address it was
 * sent to (IP_PKTINFO, IPV6_RECVPKTINFO), to answer from it and to
 * refuse broadcasts, and its TOS / traffic class, to echo it.
 */
static const char *
apply_udp_settings(int fd, const struct config *conf)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	int			 on = 1;

	memset(&ss, 0, sizeof(ss));
	if (set_nonblocking(fd, 0) == -1)
		return "fcntl";
	if (conf->udp_rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF,
	    &conf->udp_rcvbuf, sizeof(conf->udp_rcvbuf)) == -1)
		return "setsockopt SO_RCVBUF";
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1)
		return "getsockname";
	if (ss.ss_family == AF_INET6) {
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on,
		    sizeof(on)) == -1)
			return "setsockopt IPV6_RECVPKTINFO";
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &on,
		    sizeof(on)) == -1)
			return "setsockopt IPV6_RECVTCLASS";
	}
	/* On a dual-stack socket, for its IPv4 datagrams too. */
	if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)) == -1 &&
	    ss.ss_family == AF_INET)
		return "setsockopt IP_PKTINFO";
	if (setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &on, sizeof(on)) == -1 &&
	    ss.ss_family == AF_INET)
		return "setsockopt IP_RECVTOS";
	return NULL;
}

static const char *
apply_settings(int fd, const struct config *conf, int nonblocking)
{
	struct timeval	 tv;
	int		 on = 1;

	if (set_nonblocking(fd, nonblocking) == -1)
		return "fcntl";
	tv.tv_sec = conf->idle_timeout;
	tv.tv_usec = 0;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1)
		return "setsockopt SO_RCVTIMEO";
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		return "setsockopt SO_SNDTIMEO";
	/*
	 * An echo is a write of what was just read.  With Nagle's algorithm
	 * the last, short segment of a large echo waits for the client's
	 * ACK of the previous one, which the client delays because it sends
	 * nothing meanwhile (BENCHMARKS.md, "TCP_NODELAY on the listener").
	 * Linux copies the option into every accepted socket, so the
	 * workers pay nothing for it.
	 */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)
		return "setsockopt TCP_NODELAY";
	if (listen(fd, conf->backlog) == -1)
		return "listen";
	return NULL;
}

/*
 * A socket of the given family, bound and listening (TCP) or bound
 * (UDP), or -1 and errno.
 */
static int
bind_one(const struct sockaddr *sa, socklen_t salen, int v6only, int backlog,
    int udp, const char **what)
{
	int	 fd, on = 1, saved_errno;

	*what = "socket";
	if ((fd = socket(sa->sa_family, (udp ? SOCK_DGRAM : SOCK_STREAM) |
	    SOCK_CLOEXEC, 0)) == -1)
		return -1;
	/* A restart must bind at once, despite connections in TIME_WAIT. */
	*what = "setsockopt SO_REUSEADDR";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		goto fail;
	if (sa->sa_family == AF_INET6) {
		*what = "setsockopt IPV6_V6ONLY";
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
		    sizeof(v6only)) == -1)
			goto fail;
	}
	*what = "bind";
	if (bind(fd, sa, salen) == -1)
		goto fail;
	*what = "listen";
	if (!udp && listen(fd, backlog) == -1)
		goto fail;
	return fd;
fail:
	saved_errno = errno;
	close(fd);
	errno = saved_errno;
	return -1;
}

/*
 * Bind one configured address.  "*" is one dual-stack IPv6 socket, so
 * IPv4 clients arrive as ::ffff:a.b.c.d (as with Go's net.Listen); where
 * the host has no IPv6 it falls back to IPv4.  An explicit "::" is IPv6
 * only, so that "::" and "0.0.0.0" can be listed side by side.
 */
static int
listener_bind(const struct listen_addr *la, int backlog, char *err,
    size_t errlen)
{
	struct sockaddr_in6	 sin6;
	struct sockaddr_in	 sin;
	const char		*what;
	int			 fd;

	if (!la->wildcard)
		fd = bind_one((const struct sockaddr *)&la->ss, la->sslen, 1,
		    backlog, la->udp, &what);
	else {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_addr = in6addr_any;
		sin6.sin6_port = htons(la->port);
		fd = bind_one((struct sockaddr *)&sin6, sizeof(sin6), 0,
		    backlog, la->udp, &what);
		if (fd == -1 && (errno == EAFNOSUPPORT ||
		    errno == EADDRNOTAVAIL)) {
			memset(&sin, 0, sizeof(sin));
			sin.sin_family = AF_INET;
			sin.sin_addr.s_addr = htonl(INADDR_ANY);
			sin.sin_port = htons(la->port);
			fd = bind_one((struct sockaddr *)&sin, sizeof(sin), 0,
			    backlog, la->udp, &what);
		}
	}
	if (fd == -1 && la->line == 0)
		snprintf(err, errlen, "listen on %s (the default): %s: %s",
		    la->name, what, strerror(errno));
	else if (fd == -1)
		snprintf(err, errlen, "listen on %s (line %d): %s: %s",
		    la->name, la->line, what, strerror(errno));
	return fd;
}

/*
 * The settings of conf applied to the sockets in ls[], as to echod's
 * own (apply_settings()).  Returns -1 with err on failure.
 */
static size_t
count_tcp(const struct listener *ls, size_t n)
{
	size_t	 i, ntcp = 0;

	for (i = 0; i < n; i++)
		ntcp += ls[i].fd != -1 && !ls[i].addr.udp;
	return ntcp;
}

static int
apply_all(const struct config *conf, struct listener *ls, size_t n,
    char *err, size_t errlen)
{
	const char	*what;
	size_t		 i, ntcp = count_tcp(ls, n);

	for (i = 0; i < n; i++) {
		what = ls[i].addr.udp ? apply_udp_settings(ls[i].fd, conf) :
		    apply_settings(ls[i].fd, conf, ntcp > 1);
		if (what != NULL) {
			snprintf(err, errlen, "listening socket %s from "
			    "systemd: %s: %s", ls[i].bound, what,
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

/*
 * Whether the listen line la names the socket bound to ss: the same
 * address and port, or, for "*", the unspecified address of either
 * family (one dual-stack socket, or one of each) on its port.
 */
static int
line_names(const struct listen_addr *la, const struct sockaddr_storage *ss)
{
	const struct sockaddr_in	*sin = (const void *)ss;
	const struct sockaddr_in6	*sin6 = (const void *)ss;
	const struct sockaddr_in	*lsin = (const void *)&la->ss;
	const struct sockaddr_in6	*lsin6 = (const void *)&la->ss;

	if (ss->ss_family == AF_INET) {
		if (la->wildcard)
			return ntohs(sin->sin_port) == la->port &&
			    sin->sin_addr.s_addr == htonl(INADDR_ANY);
		return la->ss.ss_family == AF_INET &&
		    lsin->sin_port == sin->sin_port &&
		    lsin->sin_addr.s_addr == sin->sin_addr.s_addr;
	}
	if (ss->ss_family == AF_INET6) {
		if (la->wildcard)
			return ntohs(sin6->sin6_port) == la->port &&
			    IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
		return la->ss.ss_family == AF_INET6 &&
		    lsin6->sin6_port == sin6->sin6_port &&
		    lsin6->sin6_scope_id == sin6->sin6_scope_id &&
		    IN6_ARE_ADDR_EQUAL(&lsin6->sin6_addr, &sin6->sin6_addr);
	}
	return 0;
}

/*
 * Socket activation: the options of the sockets systemd passed come from
 * the listen lines of conf that name their addresses, as echod's own
 * sockets' do; a socket takes those of the first such line.  A socket no
 * line names is served with the defaults, that is without
 * proxy-protocol: believing headers is for a listener the configuration
 * says is reached by balancers only.  A line that names no socket is not
 * bound: under socket activation the socket unit says what to listen on.
 * Both are logged, at start and at every reload.
 */
static int
match_activated(const struct config *conf, struct listener *ls, size_t n,
    char *err, size_t errlen)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	size_t			 i, j;
	char			*named;
	int			 udp;

	if ((named = calloc(conf->nlistens, 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		sslen = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		if (getsockname(ls[i].fd, (struct sockaddr *)&ss, &sslen) ==
		    -1) {
			snprintf(err, errlen, "listening socket %s from "
			    "systemd: getsockname: %s", ls[i].bound,
			    strerror(errno));
			free(named);
			return -1;
		}
		udp = is_datagram(ls[i].fd);
		for (j = 0; j < conf->nlistens; j++)
			if (conf->listens[j].udp == udp &&
			    line_names(&conf->listens[j], &ss))
				break;
		if (j < conf->nlistens) {
			ls[i].addr = conf->listens[j];
			named[j] = 1;
		} else {
			memset(&ls[i].addr, 0, sizeof(ls[i].addr));
			strlcpy(ls[i].addr.name, ls[i].bound,
			    sizeof(ls[i].addr.name));
			log_warnx("socket activation: %s from systemd: no "
			    "\"listen on\" line of %s names it; served with "
			    "the defaults (no proxy-protocol)", ls[i].bound,
			    conf->path);
		}
		/* Its own address: what sock_diag knows its clients by. */
		memcpy(&ls[i].addr.ss, &ss, sizeof(ss));
		ls[i].addr.sslen = sslen;
		ls[i].addr.wildcard = 0;
		ls[i].addr.port = addr_port(&ss);
		ls[i].addr.udp = udp;
	}
	for (j = 0; j < conf->nlistens; j++) {
		/* Not the default "*:2000" of a file without listen lines. */
		if (!named[j] && conf->listens[j].line != 0)
			log_warnx("listen on %s (line %d): no socket from "
			    "systemd has this address; not bound (socket "
			    "activation)", conf->listens[j].name,
			    conf->listens[j].line);
	}
	free(named);
	return apply_all(conf, ls, n, err, errlen);
}

/*
 * The TCP listeners first, then the UDP ones, each in their order: the
 * pool hands each kind of worker its own part (pool_configure()).
 */
static void
tcp_first(struct listener *ls, size_t n)
{
	struct listener	 l;
	size_t		 i, j;

	for (i = 1; i < n; i++) {
		for (j = i; j > 0 && ls[j - 1].addr.udp && !ls[j].addr.udp;
		    j--) {
			l = ls[j - 1];
			ls[j - 1] = ls[j];
			ls[j] = l;
		}
	}
}

/*
 * Socket activation at start: the n sockets systemd passed, descriptors
 * first to first + n - 1, which systemd_check_fds() found to be
 * listening TCP sockets, take the place of echod's own.
 */
int
listeners_adopt(const struct config *conf, int first, int n,
    struct listener **out, size_t *nout, char *err, size_t errlen)
{
	struct listener	*ls;
	int		 i;

	if ((ls = calloc(n, sizeof(*ls))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		ls[i].fd = first + i;
		ls[i].from_systemd = 1;
		format_bound(ls[i].fd, ls[i].bound, sizeof(ls[i].bound));
	}
	log_info("socket activation: %d listening socket%s from systemd, "
	    "matched to the \"listen on\" lines of %s by address", n,
	    n == 1 ? "" : "s", conf->path);
	if (match_activated(conf, ls, n, err, errlen) == -1) {
		free(ls);
		return -1;
	}
	tcp_first(ls, n);
	*out = ls;
	*nout = n;
	return 0;
}

/*
 * A reload while socket-activated: every socket is handed on, matched
 * to the new listen lines, with the new settings; none is bound or
 * closed.  old[] is then left with none, as listeners_open() leaves it.
 */
static int
keep_activated(const struct config *conf, struct listener *old, size_t nold,
    struct listener **out, size_t *nout, char *err, size_t errlen)
{
	struct listener	*ls;
	size_t		 i;

	if ((ls = calloc(nold, sizeof(*ls))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(ls, old, nold * sizeof(*ls));
	if (match_activated(conf, ls, nold, err, errlen) == -1) {
		free(ls);
		return -1;
	}
	for (i = 0; i < nold; i++)
		old[i].fd = -1;
	*out = ls;
	*nout = nold;
	return 0;
}

/*
 * Make the listeners for conf, reusing the sockets in old[] whose address
 * is still configured.  On success the reused entries of old[] are marked
 * fd -1, so that closing old[] afterwards closes exactly the dropped
 * addresses.  On failure old[] keeps all its sockets and every socket
 * opened here is closed again: a reload that cannot bind is refused
 * whole.  (Only if fcntl(), setsockopt() or listen() failed on a socket
 * that is already bound, which does not happen in practice, would the
 * kept sockets before it have taken the new settings.)
 */
int
listeners_open(const struct config *conf, struct listener *old, size_t nold,
    struct listener **out, size_t *nout, char *err, size_t errlen)
{
	struct listener	*ls;
	size_t		*reuse, i, j;
	int		 nonblocking;

	if (nold > 0 && old[0].from_systemd)
		return keep_activated(conf, old, nold, out, nout, err, errlen);
	if ((ls = calloc(conf->nlistens, sizeof(*ls))) == NULL ||
	    (reuse = calloc(conf->nlistens, sizeof(*reuse))) == NULL) {
		free(ls);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < conf->nlistens; i++) {
		ls[i].addr = conf->listens[i];
		ls[i].fd = -1;
		reuse[i] = nold;
		for (j = 0; j < nold; j++) {
			if (old[j].fd != -1 &&
			    listen_addr_equal(&old[j].addr, &ls[i].addr)) {
				reuse[i] = j;
				break;
			}
		}
		if (reuse[i] == nold &&
		    (ls[i].fd = listener_bind(&ls[i].addr, conf->backlog, err,
		    errlen)) == -1)
			goto fail;
	}

	/*
	 * While the new generation is on trial, the old one accepts too:
	 * if either polls several listeners, their shared sockets must not
	 * block (a worker with one listener copes with EAGAIN, worker.c).
	 * listeners_apply() sets them as conf alone says once one of the
	 * two has gone.  Only TCP workers poll their listeners; UDP sockets
	 * stay blocking.
	 */
	nonblocking = conf->nlistens - config_count_udp(conf) > 1 ||
	    count_tcp(old, nold) > 1;
	for (i = 0; i < conf->nlistens; i++) {
		int		 fd = reuse[i] < nold ? old[reuse[i]].fd :
				    ls[i].fd;
		const char	*what;

		what = ls[i].addr.udp ? apply_udp_settings(fd, conf) :
		    apply_settings(fd, conf, nonblocking);
		if (what != NULL) {
			snprintf(err, errlen, "listen on %s: %s: %s",
			    ls[i].addr.name, what, strerror(errno));
			goto fail;
		}
	}

	for (i = 0; i < conf->nlistens; i++) {
		if (reuse[i] < nold) {
			ls[i].fd = old[reuse[i]].fd;
			strlcpy(ls[i].bound, old[reuse[i]].bound,
			    sizeof(ls[i].bound));
			old[reuse[i]].fd = -1;
		} else
			format_bound(ls[i].fd, ls[i].bound,
			    sizeof(ls[i].bound));
	}
	free(reuse);
	tcp_first(ls, conf->nlistens);
	*out = ls;
	*nout = conf->nlistens;
	return 0;

fail:
	for (i = 0; i < conf->nlistens; i++)
		if (reuse[i] == nold && ls[i].fd != -1)
			close(ls[i].fd);
	free(reuse);
	free(ls);
	return -1;
}

/*
 * A live upgrade (upgrade.c): the n sockets the old master handed over,
 * descriptors first to first + n - 1, are matched to the "listen on"
 * lines of conf by the address each is bound to, and kept as the
 * sockets of those lines, the very same ones (their accept queues, the
 * clients in them, their inode), with conf's settings; the lines no
 * socket matches are bound, and the sockets no line names are closed,
 * as a reload would.  Sockets that were systemd's stay systemd's.
 */
int
listeners_inherit(const struct config *conf, int first, int n,
    int from_systemd, struct listener **out, size_t *nout, char *err,
    size_t errlen)
{
	struct sockaddr_storage	 ss;
	struct listener		*old;
	socklen_t		 sslen;
	size_t			 j;
	int			 i, r, udp;

	/* config_load() gives every configuration a listen line at least. */
	if (conf->nlistens == 0) {
		snprintf(err, errlen, "no listen lines");
		return -1;
	}
	if (from_systemd) {
		if (listeners_adopt(conf, first, n, out, nout, err, errlen) ==
		    -1)
			return -1;
		return 0;
	}
	if ((old = calloc(n > 0 ? n : 1, sizeof(*old))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		old[i].fd = first + i;
		format_bound(old[i].fd, old[i].bound, sizeof(old[i].bound));
		sslen = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		if (getsockname(old[i].fd, (struct sockaddr *)&ss, &sslen) ==
		    -1)
			continue;
		/* A TCP and a UDP line may share an address and port. */
		udp = is_datagram(old[i].fd);
		for (j = 0; j < conf->nlistens; j++)
			if (conf->listens[j].udp == udp &&
			    line_names(&conf->listens[j], &ss)) {
				old[i].addr = conf->listens[j];
				break;
			}
	}
	r = listeners_open(conf, old, n, out, nout, err, errlen);
	for (i = 0; i < n; i++)
		if (old[i].fd != -1)
			log_info("upgrade: %s is no longer configured; closed",
			    old[i].bound);
	listeners_close(old, n);
	free(old);
	return r;
}

/*
 * The settings of conf, applied again to its listeners: after a reload's
 * generation has proved itself or been rolled back, when the sockets'
 * O_NONBLOCK need serve only the generation that stays.
 */
int
listeners_apply(const struct config *conf, struct listener *ls, size_t n,
    char *err, size_t errlen)
{
	const char	*what;
	size_t		 i, ntcp = count_tcp(ls, n);

	for (i = 0; i < n; i++) {
		if (ls[i].fd == -1)
			continue;
		what = ls[i].addr.udp ? apply_udp_settings(ls[i].fd, conf) :
		    apply_settings(ls[i].fd, conf, ntcp > 1);
		if (what != NULL) {
			snprintf(err, errlen, "listen on %s: %s: %s",
			    ls[i].addr.name, what, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Clients waiting in the accept queues of all listening sockets. */
size_t
listeners_queued(const struct listener *ls, size_t n)
{
	unsigned int	 backlog, queued;
	size_t		 i, total = 0;

	for (i = 0; i < n; i++) {
		listener_queue(&ls[i], &backlog, &queued);
		total += queued;
	}
	return total;
}

/* A listening socket's backlog and the clients in its queue (TCP_INFO). */
void
listener_queue(const struct listener *l, unsigned int *backlog,
    unsigned int *queued)
{
	struct tcp_info	 ti;
	socklen_t	 len = sizeof(ti);

	*backlog = *queued = 0;
	if (l->fd != -1 && !l->addr.udp && getsockopt(l->fd, IPPROTO_TCP, TCP_INFO, &ti,
	    &len) == 0) {
		*backlog = ti.tcpi_sacked;	/* of a listener: backlog */
		*queued = ti.tcpi_unacked;	/* and its queue */
	}
}

void
listeners_close(struct listener *ls, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (ls[i].fd != -1) {
			close(ls[i].fd);
			ls[i].fd = -1;
		}
	}
}
