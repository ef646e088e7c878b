/*
 * udpguard_test: unit tests for the UDP reflection guard, src/udpguard.c:
 * the source and destination rules (most of whose addresses Linux drops
 * as martians before a real socket could show them), the unwrapping of
 * v4-mapped addresses, the rate table's keys and the token bucket.
 * Exit status 0 only if every check passed.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <err.h>
#include <stdio.h>
#include <string.h>

#include "../src/udpguard.h"

static int	 nchecks, nfailed;

static void
check(int ok, const char *what)
{
	nchecks++;
	if (!ok) {
		nfailed++;
		printf("FAIL: %s\n", what);
	}
}

static socklen_t
addr(struct sockaddr_storage *ss, const char *a, in_port_t port)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, a, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return sizeof(*sin);
	}
	if (inet_pton(AF_INET6, a, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		return sizeof(*sin6);
	}
	errx(1, "test bug: %s", a);
}

static const struct {
	const char	*addr;
	in_port_t	 port;
	int		 want;	/* -1: answered */
} sources[] = {
	{ "192.0.2.1", 40000, -1 },
	{ "2001:db8::1", 40000, -1 },
	{ "192.0.2.1", 0, UDP_DROP_PORT_ZERO },
	{ "192.0.2.1", 7, UDP_DROP_LOW_PORT },		/* echo */
	{ "192.0.2.1", 19, UDP_DROP_LOW_PORT },		/* chargen */
	{ "192.0.2.1", 1023, UDP_DROP_LOW_PORT },
	{ "192.0.2.1", 1024, -1 },
	{ "192.0.2.1", 2049, UDP_DROP_NFS },
	{ "192.0.2.1", 2000, UDP_DROP_OWN_PORT },	/* another echod */
	{ "255.255.255.255", 40000, UDP_DROP_SOURCE },
	{ "224.0.0.1", 40000, UDP_DROP_SOURCE },
	{ "239.1.2.3", 40000, UDP_DROP_SOURCE },
	{ "240.0.0.1", 40000, UDP_DROP_SOURCE },
	{ "0.0.0.0", 40000, UDP_DROP_SOURCE },
	{ "0.1.2.3", 40000, UDP_DROP_SOURCE },
	{ "::", 40000, UDP_DROP_SOURCE },
	{ "ff02::1", 40000, UDP_DROP_SOURCE },
	{ "::ffff:224.0.0.1", 40000, UDP_DROP_SOURCE },	/* unwrapped */
	{ "::ffff:192.0.2.1", 2049, UDP_DROP_NFS },
	{ "::ffff:192.0.2.1", 40000, -1 },
};

static void
t_sources(void)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	char			 what[128];
	size_t			 i;
	int			 got;

	for (i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		len = addr(&ss, sources[i].addr, sources[i].port);
		udpguard_unmap(&ss, &len);
		got = udpguard_source(&ss, 1024, 2000);
		snprintf(what, sizeof(what), "source %s port %u: %s, want %s",
		    sources[i].addr, sources[i].port,
		    got == -1 ? "answered" : udpguard_reason_name(got),
		    sources[i].want == -1 ? "answered" :
		    udpguard_reason_name(sources[i].want));
		check(got == sources[i].want, what);
	}
	/* udp-guard-ports-below 0: privileged ports answered, 0 not. */
	addr(&ss, "192.0.2.1", 7);
	check(udpguard_source(&ss, 0, 2000) == -1, "below 0 answers port 7");
	addr(&ss, "192.0.2.1", 0);
	check(udpguard_source(&ss, 0, 2000) == UDP_DROP_PORT_ZERO,
	    "below 0 still drops port 0");
}

static void
t_unmap(void)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	socklen_t		 len;

	len = addr(&ss, "::ffff:198.51.100.7", 4242);
	udpguard_unmap(&ss, &len);
	check(ss.ss_family == AF_INET && len == sizeof(*sin) &&
	    ntohl(sin->sin_addr.s_addr) == 0xc6336407 &&
	    ntohs(sin->sin_port) == 4242, "v4-mapped unwrapped");
	len = addr(&ss, "2001:db8::7", 4242);
	udpguard_unmap(&ss, &len);
	check(ss.ss_family == AF_INET6, "IPv6 left alone");
}

static void
t_dest(void)
{
	struct sockaddr_storage	 ss;

	addr(&ss, "127.0.0.1", 0);
	check(udpguard_dest(&ss) == -1, "unicast destination answered");
	addr(&ss, "255.255.255.255", 0);
	check(udpguard_dest(&ss) == UDP_DROP_DEST, "broadcast destination");
	addr(&ss, "224.0.0.251", 0);
	check(udpguard_dest(&ss) == UDP_DROP_DEST, "multicast destination");
	addr(&ss, "ff02::fb", 0);
	check(udpguard_dest(&ss) == UDP_DROP_DEST, "IPv6 multicast dest");
	addr(&ss, "::1", 0);
	check(udpguard_dest(&ss) == -1, "IPv6 unicast destination answered");
}

static void
t_key(void)
{
	struct sockaddr_storage	 a, b;
	uint8_t			 ka[16], kb[16];

	addr(&a, "2001:db8:1:2::1", 1);
	addr(&b, "2001:db8:1:2:ffff::9", 2);
	udpguard_key(&a, ka);
	udpguard_key(&b, kb);
	check(memcmp(ka, kb, 16) == 0, "one /64, one key");
	addr(&b, "2001:db8:1:3::1", 1);
	udpguard_key(&b, kb);
	check(memcmp(ka, kb, 16) != 0, "another /64, another key");
	addr(&a, "192.0.2.1", 1);
	addr(&b, "192.0.2.2", 1);
	udpguard_key(&a, ka);
	udpguard_key(&b, kb);
	check(memcmp(ka, kb, 16) != 0, "IPv4 by address");
}

static void
t_bucket(void)
{
	struct udp_bucket	 b;
	int			 i, n;

	/* A new bucket holds one second: 10 datagrams, not 11. */
	memset(&b, 0, sizeof(b));
	for (i = n = 0; i < 20; i++)
		n += udpguard_take(&b, 1000, 10, 0, 100);
	check(n == 10, "burst of one second of datagrams");
	/* 100 ms later, one more. */
	n = udpguard_take(&b, 1100, 10, 0, 100) +
	    udpguard_take(&b, 1100, 10, 0, 100);
	check(n == 1, "refilled at the rate");
	/* Long idle refills one second's worth, no more. */
	for (i = n = 0; i < 30; i++)
		n += udpguard_take(&b, 100000, 10, 0, 100);
	check(n == 10, "refill capped at one second");
	/* Bytes: 1000 per second is ten 100-byte datagrams. */
	memset(&b, 0, sizeof(b));
	for (i = n = 0; i < 20; i++)
		n += udpguard_take(&b, 5, 0, 1000, 100);
	check(n == 10, "byte rate");
	/* 0 and 0: no limit. */
	memset(&b, 0, sizeof(b));
	for (i = n = 0; i < 1000; i++)
		n += udpguard_take(&b, 5, 0, 0, 65507);
	check(n == 1000, "no limit");
	/* A clock that steps back takes nothing extra. */
	memset(&b, 0, sizeof(b));
	for (i = 0; i < 10; i++)
		(void)udpguard_take(&b, 5000, 10, 0, 1);
	check(udpguard_take(&b, 10, 10, 0, 1) == 0, "clock back");
}

int
main(void)
{
	t_sources();
	t_unmap();
	t_dest();
	t_key();
	t_bucket();
	printf("udpguard_test: %d checks, %d failed\n", nchecks, nfailed);
	return nfailed != 0;
}
