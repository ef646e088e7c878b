/*
 * The reflection guard: a forged source makes an echo server a reflector
 * aimed at the forged address, and a forged echo or chargen port starts
 * a loop between two servers that never ends (the "UDP packet storm",
 * CVE-1999-0103).  So, as OpenBSD's inetd does (dg_badinput()), a
 * datagram from a privileged port, from port 0 or NFS's 2049 (NFS
 * trusts a client by its port), from a broadcast, multicast or
 * unspecified address, or from an echo port is not answered; nor one
 * sent to a broadcast or multicast address (echod would amplify); and
 * no source is answered faster than its token bucket allows.
 *
 * Pure functions, for the unit test (tests/udpguard_test.c): the
 * callers pass the addresses with a v4-mapped IPv6 one unwrapped first
 * (udpguard_unmap()), so that every rule sees IPv4 as IPv4.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <string.h>

#include "udpguard.h"

#define NFS_PORT	2049

static const char *const reason_names[UDP_DROP_NREASONS] = {
	[UDP_DROP_PORT_ZERO] = "port-zero",
	[UDP_DROP_LOW_PORT] = "low-port",
	[UDP_DROP_NFS] = "nfs-port",
	[UDP_DROP_OWN_PORT] = "echo-port",
	[UDP_DROP_SOURCE] = "bad-source",
	[UDP_DROP_DEST] = "bad-destination",
	[UDP_DROP_RATE] = "rate",
	[UDP_DROP_TOTAL] = "total-rate",
	[UDP_DROP_OVERSIZE] = "oversize",
};

const char *
udpguard_reason_name(enum udp_drop r)
{
	if ((unsigned)r >= UDP_DROP_NREASONS)
		return "?";
	return reason_names[r];
}

/* ::ffff:a.b.c.d becomes a.b.c.d, in place. */
void
udpguard_unmap(struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in6	 sin6;
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;

	if (ss->ss_family != AF_INET6)
		return;
	memcpy(&sin6, ss, sizeof(sin6));
	if (!IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr))
		return;
	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_port = sin6.sin6_port;
	memcpy(&sin->sin_addr, &sin6.sin6_addr.s6_addr[12], 4);
	*len = sizeof(*sin);
}

/* Broadcast, multicast or unspecified: nobody to answer, or everybody. */
static int
bad_address(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in	*sin = (const void *)ss;
	const struct sockaddr_in6	*sin6 = (const void *)ss;
	uint32_t			 a;

	if (ss->ss_family == AF_INET) {
		a = ntohl(sin->sin_addr.s_addr);
		/* 0/8 "this network", 224/4 multicast, 240/4 and broadcast. */
		return (a >> 24) == 0 || IN_MULTICAST(a) || a >= 0xf0000000u;
	}
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) ||
		    IN6_IS_ADDR_MULTICAST(&sin6->sin6_addr);
	return 1;
}

/*
 * Whether to answer a datagram from src (unwrapped), received on a
 * socket of port own: -1 if so, else the reason not to.  below: the
 * lowest source port answered (udp-guard-ports-below).
 */
int
udpguard_source(const struct sockaddr_storage *src, int below, in_port_t own)
{
	const struct sockaddr_in	*sin = (const void *)src;
	const struct sockaddr_in6	*sin6 = (const void *)src;
	in_port_t			 port;

	if (src->ss_family == AF_INET)
		port = ntohs(sin->sin_port);
	else if (src->ss_family == AF_INET6)
		port = ntohs(sin6->sin6_port);
	else
		return UDP_DROP_SOURCE;
	if (port == 0)
		return UDP_DROP_PORT_ZERO;
	if (port < below)
		return UDP_DROP_LOW_PORT;
	if (port == NFS_PORT)
		return UDP_DROP_NFS;
	if (port == own)
		return UDP_DROP_OWN_PORT;
	if (bad_address(src))
		return UDP_DROP_SOURCE;
	return -1;
}

/* Whether a datagram sent to dst (unwrapped) may be answered. */
int
udpguard_dest(const struct sockaddr_storage *dst)
{
	const struct sockaddr_in	*sin = (const void *)dst;

	/*
	 * The limited broadcast, multicast and the unspecified address.
	 * A directed broadcast (a.b.c.255) is known only by its route:
	 * udpecho.c tells it by IP_PKTINFO (reply_cmsgs()).
	 */
	if (dst->ss_family == AF_INET &&
	    ntohl(sin->sin_addr.s_addr) == INADDR_BROADCAST)
		return UDP_DROP_DEST;
	return bad_address(dst) ? UDP_DROP_DEST : -1;
}

/*
 * The rate table's key of a source: an IPv4 address as v4-mapped, an
 * IPv6 one by its /64 (one host holds a whole /64, so per address a
 * flood of its addresses would be a flood of buckets).
 */
void
udpguard_key(const struct sockaddr_storage *src, uint8_t key[16])
{
	const struct sockaddr_in	*sin = (const void *)src;
	const struct sockaddr_in6	*sin6 = (const void *)src;

	memset(key, 0, 16);
	if (src->ss_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &sin->sin_addr, 4);
	} else if (src->ss_family == AF_INET6)
		memcpy(key, &sin6->sin6_addr, 8);
}

/*
 * Take one datagram of len bytes from bucket b at now (ms), refilled at
 * pps datagrams and bps bytes per second, and holding one second of
 * each at most (the burst).  0 of a kind: no limit of that kind.
 * Returns 1 if the datagram may be answered.
 */
int
udpguard_take(struct udp_bucket *b, int64_t now, int64_t pps, int64_t bps,
    size_t len)
{
	int64_t	 dt;

	if (b->stamp == 0) {
		b->packets = pps * 1000;
		b->bytes = bps * 1000;
	} else if ((dt = now - b->stamp) > 0) {
		if (dt > 1000)
			dt = 1000;
		b->packets += pps * dt;
		if (b->packets > pps * 1000)
			b->packets = pps * 1000;
		b->bytes += bps * dt;
		if (b->bytes > bps * 1000)
			b->bytes = bps * 1000;
	}
	if (now > b->stamp)
		b->stamp = now;
	if ((pps > 0 && b->packets < 1000) ||
	    (bps > 0 && b->bytes < (int64_t)len * 1000))
		return 0;
	if (pps > 0)
		b->packets -= 1000;
	if (bps > 0)
		b->bytes -= (int64_t)len * 1000;
	return 1;
}
