/*
 * addr_test: addr_format() and addr_format_peer() (src/addr.c) against
 * what getnameinfo(NI_NUMERICHOST | NI_NUMERICSERV) makes of the same
 * address, which they wrote before they formatted IPv4 and unscoped
 * IPv6 by hand (a worker's title, on every connection).  Every octet
 * value, ports of each length, IPv6 forms that inet_ntop() compresses
 * differently, v4-mapped clients shown as IPv4, a scoped address left
 * to getnameinfo(), and buffers too small.  One line per failed case;
 * exit status 0 only if none failed.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/addr.h"

static int	 ncases;
static int	 nfailed;

/* What addr_format() wrote before: getnameinfo() and a format. */
static void
expected(const struct sockaddr *sa, socklen_t salen, char *buf, size_t len)
{
	char	 host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getnameinfo(sa, salen, host, sizeof(host), serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, sa->sa_family == AF_INET6 ? "[%s]:%s" :
		    "%s:%s", host, serv);
}

static void
check(const struct sockaddr *sa, socklen_t salen, size_t len)
{
	char	 got[ADDR_NAME_MAX + 8], want[ADDR_NAME_MAX + 8];

	ncases++;
	memset(got, 'x', sizeof(got));
	addr_format(sa, salen, got, len);
	expected(sa, salen, want, len);
	if (strcmp(got, want) != 0) {
		printf("FAIL: buffer %zu: \"%s\", want \"%s\"\n", len, got,
		    want);
		nfailed++;
	}
}

static void
check_v4(const char *a, unsigned port)
{
	struct sockaddr_in	 sin;
	size_t			 len;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	if (inet_pton(AF_INET, a, &sin.sin_addr) != 1)
		abort();
	check((struct sockaddr *)&sin, sizeof(sin), ADDR_NAME_MAX);
	/* Too small: cut as snprintf() cuts, to the very last byte. */
	for (len = 1; len < 24; len++)
		check((struct sockaddr *)&sin, sizeof(sin), len);
}

static void
check_v6(const char *a, unsigned port, uint32_t scope)
{
	struct sockaddr_in6	 sin6;
	struct sockaddr_storage	 ss;
	char			 got[ADDR_NAME_MAX], want[ADDR_NAME_MAX];
	char			 host[INET6_ADDRSTRLEN];
	size_t			 len;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(port);
	sin6.sin6_scope_id = scope;
	if (inet_pton(AF_INET6, a, &sin6.sin6_addr) != 1)
		abort();
	check((struct sockaddr *)&sin6, sizeof(sin6), ADDR_NAME_MAX);
	for (len = 1; len < 56; len++)
		check((struct sockaddr *)&sin6, sizeof(sin6), len);

	/* A client of the dual-stack socket: v4-mapped ones as IPv4. */
	ncases++;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, &sin6, sizeof(sin6));
	addr_format_peer(&ss, sizeof(sin6), got, sizeof(got));
	if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) {
		inet_ntop(AF_INET, &sin6.sin6_addr.s6_addr[12], host,
		    sizeof(host));
		snprintf(want, sizeof(want), "%s:%u", host, port);
	} else
		expected((struct sockaddr *)&sin6, sizeof(sin6), want,
		    sizeof(want));
	if (strcmp(got, want) != 0) {
		printf("FAIL: peer \"%s\", want \"%s\"\n", got, want);
		nfailed++;
	}
}

int
main(void)
{
	static const unsigned	 ports[] = { 0, 1, 9, 10, 99, 100, 999, 1000,
	    2000, 9999, 10000, 51234, 65535 };
	static const char	*v6[] = { "::", "::1", "::ffff:127.0.0.1",
	    "::ffff:0.0.0.0", "::ffff:255.255.255.255", "2001:db8::23",
	    "2001:db8:0:0:1:0:0:1", "fe80::1", "ff02::1:ff00:1",
	    "1:2:3:4:5:6:7:8", "::127.0.0.1", "2001:db8:1234:5678:9abc:def0:"
	    "1234:5678" };
	char			 a[32];
	size_t			 i;
	unsigned		 o;

	for (o = 0; o < 256; o++) {
		snprintf(a, sizeof(a), "%u.%u.%u.%u", o, 255 - o, o / 3, o % 7);
		check_v4(a, ports[o % (sizeof(ports) / sizeof(ports[0]))]);
	}
	for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		check_v4("127.0.0.1", ports[i]);
		check_v4("255.255.255.255", ports[i]);
		check_v4("0.0.0.0", ports[i]);
	}
	for (i = 0; i < sizeof(v6) / sizeof(v6[0]); i++) {
		check_v6(v6[i], ports[i % (sizeof(ports) / sizeof(ports[0]))],
		    0);
		check_v6(v6[i], 2000, 0);
	}
	/* A scope: the interface, as getnameinfo() names it. */
	check_v6("fe80::1", 2000, 1);
	printf("%d cases, %d failed\n", ncases, nfailed);
	return nfailed != 0;
}
