/*
 * Socket addresses as text and as keys (addr.h).
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

/* The decimal digits of v at p, which has room for 5; returns their end. */
static char *
put_decimal(char *p, unsigned v)
{
	char	 d[5];
	int	 n = 0;

	do {
		d[n++] = '0' + v % 10;
		v /= 10;
	} while (v != 0 && n < (int)sizeof(d));
	while (n > 0)
		*p++ = d[--n];
	return p;
}

/*
 * What getnameinfo(NI_NUMERICHOST | NI_NUMERICSERV) and a format make
 * of an IPv4 address, or of an IPv6 one without a scope, written by
 * hand: a worker shows its client's address in its title on every
 * connection, and getnameinfo() with snprintf() was most of a
 * connection's user-space time (BENCHMARKS.md, "Where a connection's
 * time goes").  Returns -1 for what it leaves to getnameinfo(): other
 * families, a scope (an interface name to look up), too small a buffer.
 */
static int
format_fast(const struct sockaddr *sa, socklen_t salen, char *buf,
    size_t len)
{
	const struct sockaddr_in	*sin = (const void *)sa;
	const struct sockaddr_in6	*sin6 = (const void *)sa;
	const uint8_t			*a;
	char				 tmp[ADDR_NAME_MAX], *p = tmp;
	int				 i;

	if (sa->sa_family == AF_INET && salen >= sizeof(*sin)) {
		a = (const uint8_t *)&sin->sin_addr;
		for (i = 0; i < 4; i++) {
			p = put_decimal(p, a[i]);
			*p++ = i < 3 ? '.' : ':';
		}
		p = put_decimal(p, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6 && salen >= sizeof(*sin6) &&
	    sin6->sin6_scope_id == 0) {
		*p++ = '[';
		if (inet_ntop(AF_INET6, &sin6->sin6_addr, p,
		    sizeof(tmp) - 9) == NULL)
			return -1;
		p += strlen(p);
		*p++ = ']';
		*p++ = ':';
		p = put_decimal(p, ntohs(sin6->sin6_port));
	} else
		return -1;
	if ((size_t)(p - tmp) >= len)
		return -1;
	memcpy(buf, tmp, p - tmp);
	buf[p - tmp] = '\0';
	return 0;
}

/*
 * "192.0.2.7:2000" or "[2001:db8::7]:2000", exactly as the address is:
 * a listening socket or a configured address.  "?" if it cannot be
 * formatted.
 */
void
addr_format(const struct sockaddr *sa, socklen_t salen, char *buf,
    size_t len)
{
	char	 host[NI_MAXHOST], serv[NI_MAXSERV];

	if (format_fast(sa, salen, buf, len) == 0)
		return;
	if (getnameinfo(sa, salen, host, sizeof(host), serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		strlcpy(buf, "?", len);
	else
		snprintf(buf, len, sa->sa_family == AF_INET6 ? "[%s]:%s" :
		    "%s:%s", host, serv);
}

/*
 * A client's address for people, with an IPv4 client of the dual-stack
 * socket shown as IPv4, not as ::ffff:192.0.2.7.
 */
void
addr_format_peer(const struct sockaddr_storage *ss, socklen_t sslen,
    char *buf, size_t len)
{
	const struct sockaddr_in6	*sin6 = (const void *)ss;
	struct sockaddr_in		 sin;

	if (ss->ss_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = sin6->sin6_port;
		memcpy(&sin.sin_addr, &sin6->sin6_addr.s6_addr[12], 4);
		addr_format((const struct sockaddr *)&sin, sizeof(sin), buf,
		    len);
	} else
		addr_format((const struct sockaddr *)ss, sslen, buf, len);
}

/* The key of a raw address of family AF_INET (4 bytes) or AF_INET6 (16). */
void
addr_key_raw(int family, const void *raw, addr_key_t key)
{
	memset(key, 0, sizeof(addr_key_t));
	if (family == AF_INET6)
		memcpy(key, raw, 16);
	else if (family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, raw, 4);
	}
}

void
addr_key(const struct sockaddr_storage *ss, addr_key_t key)
{
	const struct sockaddr_in	*sin = (const void *)ss;
	const struct sockaddr_in6	*sin6 = (const void *)ss;

	if (ss->ss_family == AF_INET6)
		addr_key_raw(AF_INET6, &sin6->sin6_addr, key);
	else if (ss->ss_family == AF_INET)
		addr_key_raw(AF_INET, &sin->sin_addr, key);
	else
		addr_key_raw(AF_UNSPEC, NULL, key);
}

/* The IPv6 (or v4-mapped) address of a key and a port. */
void
addr_from_key(const addr_key_t key, uint16_t port,
    struct sockaddr_storage *ss, socklen_t *sslen)
{
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	sin6->sin6_family = AF_INET6;
	memcpy(&sin6->sin6_addr, key, 16);
	sin6->sin6_port = htons(port);
	*sslen = sizeof(*sin6);
}

/* The port, in host byte order. */
uint16_t
addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

socklen_t
addr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}
