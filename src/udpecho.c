/*
 * A UDP worker: the datagram half of RFC 862, in the Stevens style.
 * Every UDP worker blocks in recvmmsg(2) on the one shared socket (or
 * polls the several, when there are), and Linux wakes one waiter per
 * datagram; each datagram goes back unchanged to its sender, with
 * sendmmsg(2), from the address it was sent to, with its TOS or
 * traffic class.
 *
 * The batch never delays a lone probe: MSG_WAITFORONE returns as soon
 * as one datagram is in and takes only those already queued after it.
 * A batch costs two system calls however many datagrams it holds; a
 * datagram between them makes none of its own (clock_ms() is the vDSO).
 *
 * Every datagram passes the reflection guard (udpguard.c) first; what
 * it drops is counted per reason in the worker's slot and logged once
 * per LOG_INTERVAL_MS at most.
 *
 * Answers go out on a duplicate of each socket (udpecho_prepare()),
 * not on the descriptor the worker receives on: a SIGQUIT points that
 * one at /dev/null (worker.c), and it may come between a recvmmsg()
 * and its sendmmsg(); the batch taken from the socket is answered all
 * the same, so that a reload, which drains every old UDP worker, loses
 * no datagram.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "clock.h"
#include "log.h"
#include "udpecho.h"
#include "udpguard.h"

/* Datagrams per recvmmsg(), as many as the floor takes (BENCHMARKS.md). */
#define BATCH		32
/* Larger than the largest datagram (65,527 bytes over IPv6). */
#define DGRAM_MAX	65536
/* What the kernel attaches, and what goes back: pktinfo and TOS. */
#define CMSG_ROOM	(CMSG_SPACE(sizeof(struct in6_pktinfo)) + \
			    CMSG_SPACE(sizeof(struct in_pktinfo)) + \
			    2 * CMSG_SPACE(sizeof(int)))
#define LOG_INTERVAL_MS	10000

#define SLOT_ADD(s, field, n) \
	__atomic_store_n(&(s)->field, (s)->field + (n), __ATOMIC_RELAXED)

struct udp_state {
	const struct udpecho_args *a;
	struct mmsghdr		 in[BATCH];
	struct mmsghdr		 out[BATCH];
	struct iovec		 in_iov[BATCH];
	struct iovec		 out_iov[BATCH];
	struct sockaddr_storage	 peer[BATCH];
	union {
		char		 buf[CMSG_ROOM];
		struct cmsghdr	 align;
	}			 in_cmsg[BATCH], out_cmsg[BATCH];
	int64_t			 logged;
	uint64_t		 unlogged;	/* drops since the last log */
	enum udp_drop		 last_reason;
};

static struct udp_state	 us;
/* Per socket: what the answers go out on, a duplicate of it. */
static int		*send_fds;
/* Per socket: bound to one address (not "*"). */
static int		*bound_one;
static char		 bufs[BATCH][DGRAM_MAX];

/* What the kernel said of a received datagram (its control messages). */
struct dgram_info {
	int			 have4, have6;
	struct in_pktinfo	 pi4;
	struct in6_pktinfo	 pi6;
	int			 tos, tclass;	/* -1: none */
};

static void
read_cmsgs(struct msghdr *mh, struct dgram_info *di)
{
	struct cmsghdr	*c;

	memset(di, 0, sizeof(*di));
	di->tos = di->tclass = -1;
	for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(di->pi4))) {
			memcpy(&di->pi4, CMSG_DATA(c), sizeof(di->pi4));
			di->have4 = 1;
		} else if (c->cmsg_level == IPPROTO_IP &&
		    c->cmsg_type == IP_TOS && c->cmsg_len >= CMSG_LEN(1))
			di->tos = *(unsigned char *)CMSG_DATA(c);
		else if (c->cmsg_level == IPPROTO_IPV6 &&
		    c->cmsg_type == IPV6_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(di->pi6))) {
			memcpy(&di->pi6, CMSG_DATA(c), sizeof(di->pi6));
			di->have6 = 1;
		} else if (c->cmsg_level == IPPROTO_IPV6 &&
		    c->cmsg_type == IPV6_TCLASS &&
		    c->cmsg_len >= CMSG_LEN(sizeof(int)))
			memcpy(&di->tclass, CMSG_DATA(c), sizeof(int));
	}
}

/* One control message at *len bytes into the reply's, which grows. */
static void
put_cmsg(struct msghdr *mh, size_t *len, int level, int type,
    const void *data, size_t dlen)
{
	struct cmsghdr	*c = (struct cmsghdr *)((char *)mh->msg_control +
			    *len);

	memset(c, 0, CMSG_SPACE(dlen));
	c->cmsg_level = level;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(dlen);
	memcpy(CMSG_DATA(c), data, dlen);
	*len += CMSG_SPACE(dlen);
}

/*
 * The reply's control messages: from the address the datagram was sent
 * to (on a socket bound to "*" the kernel would pick one by the route),
 * with the class the request carried.  A datagram of an IPv4 peer, on
 * an IPv4 socket or a dual-stack one, is answered with IPv4's.  Returns
 * the reason to drop it (its destination), or -1.
 *
 * A datagram queued before the socket had IP_PKTINFO (systemd's socket,
 * with the one that started echod in it) has its address, which Linux
 * reads from the header, but neither interface nor spec_dst, which it
 * records on arrival: on a socket bound to one address, which receives
 * no broadcast, that address is its own; on a "*" one it cannot be told
 * from a directed broadcast, and is dropped.
 */
static int
reply_cmsgs(struct msghdr *mh, const struct dgram_info *di, int v4,
    int one)
{
	struct sockaddr_storage	 dst;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&dst;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&dst;
	struct in_pktinfo	 pi4;
	struct in6_pktinfo	 pi6;
	size_t			 len = 0;
	int			 v;

	memset(&dst, 0, sizeof(dst));
	if (v4 && di->have4) {
		sin->sin_family = AF_INET;
		sin->sin_addr = di->pi4.ipi_addr;
		/*
		 * For a datagram to a local address the kernel's spec_dst
		 * is that address; for a broadcast (or multicast) one, the
		 * interface's: they differ.
		 */
		if (udpguard_dest(&dst) != -1)
			return UDP_DROP_DEST;
		if (di->pi4.ipi_spec_dst.s_addr != di->pi4.ipi_addr.s_addr &&
		    !(one && di->pi4.ipi_ifindex == 0 &&
		    di->pi4.ipi_spec_dst.s_addr == htonl(INADDR_ANY)))
			return UDP_DROP_DEST;
		memset(&pi4, 0, sizeof(pi4));
		pi4.ipi_spec_dst = di->pi4.ipi_addr;
		put_cmsg(mh, &len, IPPROTO_IP, IP_PKTINFO, &pi4, sizeof(pi4));
	} else if (!v4 && di->have6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = di->pi6.ipi6_addr;
		if (udpguard_dest(&dst) != -1)
			return UDP_DROP_DEST;
		pi6 = di->pi6;
		put_cmsg(mh, &len, IPPROTO_IPV6, IPV6_PKTINFO, &pi6,
		    sizeof(pi6));
	}
	if (v4 && di->tos > 0) {
		v = di->tos;
		put_cmsg(mh, &len, IPPROTO_IP, IP_TOS, &v, sizeof(v));
	} else if (!v4 && di->tclass > 0) {
		v = di->tclass;
		put_cmsg(mh, &len, IPPROTO_IPV6, IPV6_TCLASS, &v, sizeof(v));
	}
	mh->msg_controllen = len;
	if (len == 0)
		mh->msg_control = NULL;
	return -1;
}

static void
dropped(enum udp_drop why, const struct sockaddr_storage *src,
    socklen_t srclen, int64_t now)
{
	char	 name[ADDR_NAME_MAX];

	SLOT_ADD(us.a->self, drops[why], 1);
	us.unlogged++;
	us.last_reason = why;
	if (!log_due(&us.logged, now, LOG_INTERVAL_MS))
		return;
	addr_format((const struct sockaddr *)src, srclen, name, sizeof(name));
	log_info("udp: not answered: %s (%s); %llu datagram%s dropped since "
	    "the last such message (logged every %d s at most)", name,
	    udpguard_reason_name(why), (unsigned long long)us.unlogged,
	    us.unlogged == 1 ? "" : "s", LOG_INTERVAL_MS / 1000);
	us.unlogged = 0;
}

/*
 * Whether datagram i of the batch just received goes back: the guard,
 * then the reply's header in out[*nout].
 */
static void
take(int i, size_t k, in_port_t own, int64_t now, unsigned int *nout)
{
	struct msghdr		*mh = &us.in[i].msg_hdr;
	struct sockaddr_storage	 src;
	socklen_t		 srclen = mh->msg_namelen;
	struct dgram_info	 di;
	struct msghdr		*reply;
	uint8_t			 key[16];
	size_t			 len = us.in[i].msg_len;
	int			 why;

	SLOT_ADD(us.a->self, datagrams_in, 1);
	SLOT_ADD(us.a->self, bytes_in, len);
	memset(&src, 0, sizeof(src));
	memcpy(&src, &us.peer[i], srclen <= sizeof(src) ? srclen :
	    sizeof(src));
	/* Every rule sees an IPv4 peer as IPv4. */
	udpguard_unmap(&src, &srclen);
	if (mh->msg_flags & MSG_TRUNC) {
		dropped(UDP_DROP_OVERSIZE, &src, srclen, now);
		return;
	}
	if (us.a->conf->udp_guard &&
	    (why = udpguard_source(&src, us.a->conf->udp_guard_below, own)) !=
	    -1) {
		dropped(why, &src, srclen, now);
		return;
	}
	read_cmsgs(mh, &di);
	reply = &us.out[*nout].msg_hdr;
	memset(reply, 0, sizeof(*reply));
	reply->msg_name = &us.peer[i];
	reply->msg_namelen = mh->msg_namelen;
	us.out_iov[*nout].iov_base = us.in_iov[i].iov_base;
	us.out_iov[*nout].iov_len = len;
	reply->msg_iov = &us.out_iov[*nout];
	reply->msg_iovlen = 1;
	reply->msg_control = us.out_cmsg[*nout].buf;
	if ((why = reply_cmsgs(reply, &di, src.ss_family == AF_INET,
	    bound_one[k])) != -1) {
		if (us.a->conf->udp_guard) {
			dropped(why, &src, srclen, now);
			return;
		}
		/* Unguarded: answered from wherever the route says. */
		reply->msg_control = NULL;
		reply->msg_controllen = 0;
	}
	if (us.a->conf->udp_guard) {
		udpguard_key(&src, key);
		if ((why = scoreboard_udp_admit(us.a->sb, key, now,
		    us.a->conf, len)) != -1) {
			dropped(why, &src, srclen, now);
			return;
		}
	}
	(*nout)++;
}

/* Send back what passed, each once: one that fails is skipped. */
static void
answer(int fd, unsigned int n)
{
	unsigned int	 i = 0, k;
	int		 sent;

	while (i < n) {
		sent = sendmmsg(fd, us.out + i, n - i, 0);
		if (sent <= 0) {
			if (sent == -1 && errno == EINTR)
				continue;
			i++;
			continue;
		}
		for (k = i; k < i + (unsigned int)sent; k++) {
			SLOT_ADD(us.a->self, datagrams_out, 1);
			SLOT_ADD(us.a->self, bytes_out, us.out[k].msg_len);
		}
		i += sent;
	}
}

/*
 * One batch from socket k: blocking for the first datagram unless flags
 * says MSG_DONTWAIT.  Returns -1 when the socket is gone (drained: the
 * SIGQUIT handler pointed it at /dev/null) or broken.
 */
static int
batch(size_t k, int flags)
{
	int		 fd = us.a->fds[k];
	unsigned int	 nout = 0;
	int		 i, n;
	int64_t		 now;

	for (i = 0; i < BATCH; i++) {
		us.in[i].msg_hdr.msg_namelen = sizeof(us.peer[i]);
		us.in[i].msg_hdr.msg_controllen = CMSG_ROOM;
		us.in[i].msg_hdr.msg_flags = 0;
	}
	n = recvmmsg(fd, us.in, BATCH, flags | MSG_WAITFORONE, NULL);
	if (n == -1) {
		if (errno == EINTR || errno == EAGAIN || errno == ENOMEM ||
		    errno == ECONNREFUSED)
			return 0;
		if (!*us.a->draining)
			log_warn("udp worker: recvmmsg");
		return -1;
	}
	now = clock_ms();
	for (i = 0; i < n; i++)
		take(i, k, us.a->ports[k], now, &nout);
	if (nout > 0)
		answer(send_fds[k], nout);
	return 0;
}

static int
unspecified(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in	*sin = (const void *)ss;
	const struct sockaddr_in6	*sin6 = (const void *)ss;

	if (ss->ss_family == AF_INET)
		return sin->sin_addr.s_addr == htonl(INADDR_ANY);
	return ss->ss_family != AF_INET6 ||
	    IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

/*
 * Before the sandbox, which refuses fcntl(): the duplicates the
 * answers go out on, and what each socket is bound to.  Returns -1 if
 * they cannot be made.
 */
int
udpecho_prepare(const int *fds, size_t nfds)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	size_t			 i;

	if ((send_fds = calloc(nfds, sizeof(*send_fds))) == NULL ||
	    (bound_one = calloc(nfds, sizeof(*bound_one))) == NULL) {
		log_warn("calloc");
		return -1;
	}
	for (i = 0; i < nfds; i++) {
		if ((send_fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0)) == -1) {
			log_warn("udp worker: fcntl F_DUPFD_CLOEXEC");
			return -1;
		}
		memset(&ss, 0, sizeof(ss));
		sslen = sizeof(ss);
		if (getsockname(fds[i], (struct sockaddr *)&ss, &sslen) == -1) {
			log_warn("udp worker: getsockname");
			return -1;
		}
		bound_one[i] = !unspecified(&ss);
	}
	return 0;
}

void
udpecho_run(const struct udpecho_args *a)
{
	struct pollfd	*pfd;
	size_t		 i;
	int		 i2;

	us.a = a;
	for (i2 = 0; i2 < BATCH; i2++) {
		us.in_iov[i2].iov_base = bufs[i2];
		us.in_iov[i2].iov_len = DGRAM_MAX;
		us.in[i2].msg_hdr.msg_name = &us.peer[i2];
		us.in[i2].msg_hdr.msg_iov = &us.in_iov[i2];
		us.in[i2].msg_hdr.msg_iovlen = 1;
		us.in[i2].msg_hdr.msg_control = us.in_cmsg[i2].buf;
		us.out[i2].msg_hdr.msg_iov = &us.out_iov[i2];
	}
	if (a->nfds == 1) {
		while (!*a->draining && batch(0, 0) == 0)
			;
		return;
	}
	/*
	 * Several sockets: poll them, and take from each ready one without
	 * waiting (another worker may have emptied it first), so that a
	 * blocking socket never blocks this worker off the others.
	 */
	if ((pfd = calloc(a->nfds, sizeof(*pfd))) == NULL) {
		log_warn("calloc");
		return;
	}
	for (i = 0; i < a->nfds; i++) {
		pfd[i].fd = a->fds[i];
		pfd[i].events = POLLIN;
	}
	while (!*a->draining) {
		if (poll(pfd, a->nfds, -1) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("udp worker: poll");
			break;
		}
		for (i = 0; i < a->nfds; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (pfd[i].revents & POLLNVAL)
				goto out;
			if (batch(i, MSG_DONTWAIT) == -1)
				goto out;
		}
	}
out:
	free(pfd);
}
