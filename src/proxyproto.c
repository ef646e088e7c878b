/*
 * The PROXY protocol parser: a pure function of the bytes received so
 * far, with no I/O, so that the worker decides how to read them
 * (worker.c reads no byte past the header) and so that the unit tests
 * and the fuzzer can call it on any input.
 *
 * It follows HAProxy's doc/proxy-protocol.txt to the letter where the
 * specification says MUST, and takes the strict side where it leaves a
 * choice, since anything that does not match exactly is to be dropped:
 *
 * Version 1, "PROXY TCP4 SRC DST SPORT DPORT\r\n": exactly one space
 * between fields; IPv4 addresses as four decimal numbers of at most
 * 255 without heading zeroes; IPv6 addresses as inet_pton(3) reads
 * them (HAProxy writes the IPv4-mapped ones as ::ffff:a.b.c.d); ports
 * from 0 to 65535 without heading zeroes; the line ends at the first
 * CRLF, within 107 bytes, and a lone CR or LF is an error.  For
 * "UNKNOWN" anything up to the CRLF is ignored and the connection's own
 * addresses are kept.
 *
 * Version 2: the 12-byte signature, version 2, command LOCAL (keep the
 * connection's own addresses, whatever follows) or PROXY, one of the
 * family and transport pairs the specification lists, and an address
 * block at least as long as that family's.  TCP over IPv4 and IPv6
 * give the client's address; the other listed pairs (UNSPEC, UDP,
 * UNIX) fall back to the connection's own addresses, as the
 * specification allows a receiver that does not support them.  The
 * bytes after the address block (TLVs) are skipped unread: echod uses
 * none of them, and the specification lets a receiver ignore them.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>

#include "proxyproto.h"

static const uint8_t	 v2_signature[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};
static const char	 v1_prefix[] = "PROXY ";

#define V2_CMD_LOCAL	0x0
#define V2_CMD_PROXY	0x1

static enum proxy_status
invalid(const char **why, const char *reason)
{
	if (why != NULL)
		*why = reason;
	return PROXY_INVALID;
}

/* Whether buf, of len bytes, is a prefix of (or starts with) want. */
static int
starts_like(const uint8_t *buf, size_t len, const void *want, size_t wlen)
{
	return memcmp(buf, want, len < wlen ? len : wlen) == 0;
}

/* A decimal number of 1 to maxdigits digits, no heading zero. */
static int
decimal(const char *s, size_t len, size_t maxdigits, unsigned long max,
    unsigned long *value)
{
	size_t	 i;

	if (len == 0 || len > maxdigits || (len > 1 && s[0] == '0'))
		return -1;
	*value = 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*value = *value * 10 + (s[i] - '0');
	}
	return *value <= max ? 0 : -1;
}

/* "a.b.c.d", each 0 to 255 with no heading zero; nothing else. */
static int
ipv4_strict(const char *s, size_t len, struct in_addr *addr)
{
	uint8_t		 octets[4];
	unsigned long	 v;
	size_t		 start = 0, i;
	int		 n = 0;

	for (i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (n == 4 || decimal(s + start, i - start, 3, 255, &v) == -1)
			return -1;
		octets[n++] = v;
		start = i + 1;
	}
	if (n != 4)
		return -1;
	memcpy(addr, octets, 4);
	return 0;
}

/* Hexadecimal digits, colons and dots, as inet_pton(3) reads them. */
static int
ipv6_text(const char *s, size_t len, struct in6_addr *addr)
{
	char	 text[INET6_ADDRSTRLEN];
	size_t	 i;

	if (len == 0 || len >= sizeof(text))
		return -1;
	for (i = 0; i < len; i++) {
		if ((s[i] < '0' || s[i] > '9') && (s[i] < 'a' || s[i] > 'f') &&
		    (s[i] < 'A' || s[i] > 'F') && s[i] != ':' && s[i] != '.')
			return -1;
	}
	memcpy(text, s, len);
	text[len] = '\0';
	return inet_pton(AF_INET6, text, addr) == 1 ? 0 : -1;
}

static void
set_inet(struct sockaddr_storage *ss, socklen_t *sslen,
    const struct in_addr *addr, uint16_t port)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_addr = *addr;
	sin->sin_port = htons(port);
	*sslen = sizeof(*sin);
}

static void
set_inet6(struct sockaddr_storage *ss, socklen_t *sslen,
    const struct in6_addr *addr, uint16_t port)
{
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_addr = *addr;
	sin6->sin6_port = htons(port);
	*sslen = sizeof(*sin6);
}

/*
 * The fields of a complete v1 line, without "PROXY " and its CRLF:
 * "TCP4 SRC DST SPORT DPORT", "TCP6 ..." or "UNKNOWN[ ...]".
 */
static enum proxy_status
v1_fields(const char *line, size_t len, struct proxy_header *ph,
    const char **why)
{
	const char	*field[4];
	size_t		 flen[4], start = 0, i;
	struct in_addr	 a4[2];
	struct in6_addr	 a6[2];
	unsigned long	 port[2];
	int		 n = 0, v6;

	if (len >= 7 && memcmp(line, "UNKNOWN", 7) == 0 &&
	    (len == 7 || line[7] == ' ')) {
		ph->local = 1;
		return PROXY_DONE;
	}
	if (len < 5 || (memcmp(line, "TCP4 ", 5) != 0 &&
	    memcmp(line, "TCP6 ", 5) != 0))
		return invalid(why, "v1: protocol is not TCP4, TCP6 or UNKNOWN");
	v6 = line[3] == '6';
	line += 5;
	len -= 5;
	/* Split at single spaces: two in a row make an empty field. */
	for (i = 0; i <= len; i++) {
		if (i < len && line[i] != ' ')
			continue;
		if (n == 4)
			return invalid(why, "v1: more than 4 fields after the "
			    "protocol");
		field[n] = line + start;
		flen[n++] = i - start;
		start = i + 1;
	}
	if (n != 4)
		return invalid(why, "v1: fewer than 4 fields after the "
		    "protocol");
	for (i = 0; i < 2; i++) {
		if (v6 ? ipv6_text(field[i], flen[i], &a6[i]) == -1 :
		    ipv4_strict(field[i], flen[i], &a4[i]) == -1)
			return invalid(why, v6 ? "v1: bad IPv6 address" :
			    "v1: bad IPv4 address");
		if (decimal(field[i + 2], flen[i + 2], 5, 65535, &port[i]) ==
		    -1)
			return invalid(why, "v1: bad port");
	}
	if (v6) {
		set_inet6(&ph->src, &ph->srclen, &a6[0], port[0]);
		set_inet6(&ph->dst, &ph->dstlen, &a6[1], port[1]);
	} else {
		set_inet(&ph->src, &ph->srclen, &a4[0], port[0]);
		set_inet(&ph->dst, &ph->dstlen, &a4[1], port[1]);
	}
	return PROXY_DONE;
}

static enum proxy_status
parse_v1(const uint8_t *buf, size_t len, struct proxy_header *ph,
    const char **why)
{
	size_t	 i, limit = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;

	if (!starts_like(buf, len, v1_prefix, sizeof(v1_prefix) - 1))
		return invalid(why, "neither a v1 nor a v2 header");
	for (i = 0; i < limit; i++) {
		if (buf[i] == '\n')
			return invalid(why, "v1: LF without CR");
		if (buf[i] != '\r')
			continue;
		if (i + 1 >= PROXY_V1_MAX)
			return invalid(why, "v1: no CRLF in the first 107 "
			    "bytes");
		if (i + 1 == len)
			return PROXY_MORE;
		if (buf[i + 1] != '\n')
			return invalid(why, "v1: CR without LF");
		ph->version = 1;
		ph->len = i + 2;
		return v1_fields((const char *)buf + sizeof(v1_prefix) - 1,
		    i - (sizeof(v1_prefix) - 1), ph, why);
	}
	if (len >= PROXY_V1_MAX)
		return invalid(why, "v1: no CRLF in the first 107 bytes");
	return PROXY_MORE;
}

static enum proxy_status
parse_v2(const uint8_t *buf, size_t len, struct proxy_header *ph,
    const char **why)
{
	size_t		 addrlen, need;
	uint16_t	 sport, dport;
	int		 cmd, fam;

	if (!starts_like(buf, len, v2_signature, sizeof(v2_signature)))
		return invalid(why, "neither a v1 nor a v2 header");
	if (len <= 12)
		return PROXY_MORE;
	if ((buf[12] >> 4) != 2)
		return invalid(why, "v2: version is not 2");
	cmd = buf[12] & 0x0f;
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return invalid(why, "v2: command is neither LOCAL nor PROXY");
	if (len < PROXY_V2_FIXED)
		return PROXY_MORE;
	fam = buf[13];
	addrlen = (size_t)buf[14] << 8 | buf[15];

	/* The address block each listed family and transport needs. */
	switch (fam) {
	case 0x00:
		need = 0;
		break;
	case 0x11:
	case 0x12:
		need = 12;
		break;
	case 0x21:
	case 0x22:
		need = 36;
		break;
	case 0x31:
	case 0x32:
		need = 216;
		break;
	default:
		if (cmd == V2_CMD_LOCAL) {
			need = 0;	/* LOCAL: the family is ignored */
			break;
		}
		return invalid(why, "v2: unknown family or transport");
	}
	if (cmd == V2_CMD_PROXY && addrlen < need)
		return invalid(why, "v2: address block too short for its "
		    "family");
	if (len < PROXY_V2_FIXED + addrlen)
		return PROXY_MORE;

	ph->version = 2;
	ph->len = PROXY_V2_FIXED + addrlen;
	if (cmd == V2_CMD_LOCAL || (fam != 0x11 && fam != 0x21)) {
		ph->local = 1;
		return PROXY_DONE;
	}
	buf += PROXY_V2_FIXED;
	if (fam == 0x11) {
		struct in_addr	 src, dst;

		memcpy(&src, buf, 4);
		memcpy(&dst, buf + 4, 4);
		sport = (uint16_t)(buf[8] << 8 | buf[9]);
		dport = (uint16_t)(buf[10] << 8 | buf[11]);
		set_inet(&ph->src, &ph->srclen, &src, sport);
		set_inet(&ph->dst, &ph->dstlen, &dst, dport);
	} else {
		struct in6_addr	 src, dst;

		memcpy(&src, buf, 16);
		memcpy(&dst, buf + 16, 16);
		sport = (uint16_t)(buf[32] << 8 | buf[33]);
		dport = (uint16_t)(buf[34] << 8 | buf[35]);
		set_inet6(&ph->src, &ph->srclen, &src, sport);
		set_inet6(&ph->dst, &ph->dstlen, &dst, dport);
	}
	return PROXY_DONE;
}

/*
 * Parse the len bytes a connection has received so far.  PROXY_MORE
 * means that they are all part of a header still to be completed, so
 * that the caller may consume them and wait for more; PROXY_DONE fills
 * in ph, whose len is the header's length, never more than len: the
 * bytes after it are the client's.  On PROXY_INVALID, *why (if why is
 * not NULL) says what was wrong, for the log.
 */
enum proxy_status
proxy_parse(const uint8_t *buf, size_t len, struct proxy_header *ph,
    const char **why)
{
	memset(ph, 0, sizeof(*ph));
	if (len == 0)
		return PROXY_MORE;
	if (buf[0] == v2_signature[0])
		return parse_v2(buf, len, ph, why);
	return parse_v1(buf, len, ph, why);
}
