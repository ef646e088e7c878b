/*
 * proxyproto_test: unit tests for the PROXY protocol parser,
 * src/proxyproto.c.
 *
 * Each case hands proxy_parse() a byte string and checks its verdict
 * and, for a whole header, its length and the addresses it gives.  A
 * valid header is also checked against every one of its prefixes (each
 * must ask for more, so that a header split across segments is waited
 * for, never refused) and with the client's data after it (which must
 * not be counted into the header).  One line per failed case; exit
 * status 0 only if none failed, as automake's test driver expects.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <err.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/proxyproto.h"

static int	 ncases;
static int	 nfailed;
static char	 why[512];

static void	fail(const char *, ...)
		    __attribute__((__format__ (printf, 1, 2)));

static void
fail(const char *fmt, ...)
{
	va_list	 ap;

	if (why[0] != '\0')
		return;		/* the first failure says the most */
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (why[0] == '\0')
		strlcpy(why, "(no message)", sizeof(why));
}

static void
begin(void)
{
	why[0] = '\0';
	ncases++;
}

static void
end(const char *name)
{
	if (why[0] != '\0') {
		nfailed++;
		printf("FAIL %s: %s\n", name, why);
	}
}

static const char *
status_name(enum proxy_status st)
{
	switch (st) {
	case PROXY_MORE:
		return "MORE";
	case PROXY_INVALID:
		return "INVALID";
	case PROXY_DONE:
		return "DONE";
	}
	return "?";
}

/* "203.0.113.7:4000" or "[2001:db8::7]:4000", as the cases write them. */
static void
format_addr(const struct sockaddr_storage *ss, socklen_t sslen, char *buf,
    size_t len)
{
	const struct sockaddr_in	*sin = (const void *)ss;
	const struct sockaddr_in6	*sin6 = (const void *)ss;
	char				 host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET && sslen == sizeof(*sin)) {
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6 && sslen == sizeof(*sin6)) {
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else
		snprintf(buf, len, "family %d, length %u", ss->ss_family,
		    (unsigned)sslen);
}

/*
 * What a case expects.  For PROXY_DONE: the header's length, version,
 * and either local (the connection's own addresses are kept) or the
 * source and destination.  For PROXY_INVALID: a part of the reason.
 */
struct expect {
	enum proxy_status	 status;
	size_t			 len;
	int			 version;
	int			 local;
	const char		*src;
	const char		*dst;
	const char		*why;
};

static void
check_once(const uint8_t *buf, size_t len, const struct expect *e,
    const char *what)
{
	struct proxy_header	 ph;
	enum proxy_status	 st;
	const char		*reason = NULL;
	char			 got[128];

	st = proxy_parse(buf, len, &ph, &reason);
	if (st != e->status) {
		fail("%s: %s (%s), expected %s", what, status_name(st),
		    reason ? reason : "-", status_name(e->status));
		return;
	}
	if (st == PROXY_INVALID) {
		if (reason == NULL || (e->why != NULL &&
		    strstr(reason, e->why) == NULL))
			fail("%s: reason \"%s\", expected \"%s\"", what,
			    reason ? reason : "(none)", e->why);
		return;
	}
	if (st != PROXY_DONE)
		return;
	if (ph.len != e->len)
		fail("%s: length %zu, expected %zu", what, ph.len, e->len);
	else if (ph.version != e->version)
		fail("%s: version %d, expected %d", what, ph.version,
		    e->version);
	else if (ph.local != e->local)
		fail("%s: local %d, expected %d", what, ph.local, e->local);
	if (e->local || why[0] != '\0')
		return;
	format_addr(&ph.src, ph.srclen, got, sizeof(got));
	if (strcmp(got, e->src) != 0)
		fail("%s: source %s, expected %s", what, got, e->src);
	format_addr(&ph.dst, ph.dstlen, got, sizeof(got));
	if (strcmp(got, e->dst) != 0)
		fail("%s: destination %s, expected %s", what, got, e->dst);
}

/*
 * The case itself, and for a whole header: each prefix asks for more,
 * and data after it is left to the client (a v1 line is followed by
 * bytes that look like another header, to show that they are not
 * read as part of this one).
 */
static void
check(const char *name, const uint8_t *buf, size_t len,
    const struct expect *e)
{
	struct expect	 more = { PROXY_MORE, 0, 0, 0, NULL, NULL, NULL };
	uint8_t		*with;
	char		 what[64];
	size_t		 k;
	static const char after[] = "PROXY TCP4 1.1.1.1 2.2.2.2 1 2\r\nhi";

	begin();
	check_once(buf, len, e, "whole");
	if (e->status == PROXY_DONE) {
		for (k = 0; k < len; k++) {
			snprintf(what, sizeof(what), "first %zu bytes", k);
			check_once(buf, k, &more, what);
		}
		if ((with = malloc(len + sizeof(after))) == NULL)
			err(1, "malloc");
		memcpy(with, buf, len);
		memcpy(with + len, after, sizeof(after));
		check_once(with, len + sizeof(after), e, "with data after");
		free(with);
	}
	end(name);
}

static void
check_text(const char *name, const char *text, const struct expect *e)
{
	check(name, (const uint8_t *)text, strlen(text), e);
}

#define DONE1(len, src, dst) \
	{ PROXY_DONE, (len), 1, 0, (src), (dst), NULL }
#define LOCAL1(len) \
	{ PROXY_DONE, (len), 1, 1, NULL, NULL, NULL }
#define BAD(reason) \
	{ PROXY_INVALID, 0, 0, 0, NULL, NULL, (reason) }
#define MORE \
	{ PROXY_MORE, 0, 0, 0, NULL, NULL, NULL }

static const struct text_case {
	const char	*name;
	const char	*text;
	struct expect	 e;
} text_cases[] = {
	{ "v1 TCP4", "PROXY TCP4 203.0.113.7 192.0.2.1 56324 2000\r\n",
	    DONE1(45, "203.0.113.7:56324", "192.0.2.1:2000") },
	{ "v1 TCP4, the longest",
	    "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
	    DONE1(56, "255.255.255.255:65535", "255.255.255.255:65535") },
	{ "v1 TCP4, zeroes", "PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n",
	    DONE1(33, "0.0.0.0:0", "10.0.0.1:0") },
	{ "v1 TCP6", "PROXY TCP6 2001:db8::7 2001:db8::1 56324 2000\r\n",
	    DONE1(47, "[2001:db8::7]:56324", "[2001:db8::1]:2000") },
	{ "v1 TCP6, the longest",
	    "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFE 65535 65535\r\n",
	    DONE1(104, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535") },
	{ "v1 TCP6, IPv4-mapped as HAProxy writes it",
	    "PROXY TCP6 ::ffff:203.0.113.7 ::1 1 2\r\n",
	    DONE1(39, "[::ffff:203.0.113.7]:1", "[::1]:2") },
	{ "v1 UNKNOWN, short", "PROXY UNKNOWN\r\n", LOCAL1(15) },
	{ "v1 UNKNOWN with addresses, ignored",
	    "PROXY UNKNOWN 1.2.3.4 nonsense here\r\n", LOCAL1(37) },
	{ "v1 UNKNOWN, the longest (107 bytes)",
	    "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
	    LOCAL1(107) },

	{ "empty", "", MORE },
	{ "P", "P", MORE },
	{ "PROXY", "PROXY", MORE },
	{ "v1 cut after the source",
	    "PROXY TCP4 203.0.113.7", MORE },
	{ "v1 cut between CR and LF",
	    "PROXY TCP4 203.0.113.7 192.0.2.1 56324 2000\r", MORE },
	{ "v1 cut, bad fields not yet judged",
	    "PROXY TCP4 999.1.1.1 x y z", MORE },

	{ "an HTTP request", "GET / HTTP/1.0\r\n\r\n",
	    BAD("neither a v1 nor a v2 header") },
	{ "a line of data", "hello\n", BAD("neither") },
	{ "lower case", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", BAD("neither") },
	{ "no space after PROXY", "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
	    BAD("neither") },
	{ "refused before the line ends", "GET", BAD("neither") },
	{ "LF alone", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", BAD("LF without CR") },
	{ "CR alone", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx\n",
	    BAD("CR without LF") },
	{ "no CRLF in 107 bytes",
	    "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 6553555",
	    BAD("no CRLF in the first 107 bytes") },
	{ "108 bytes with CRLF",
	    "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655355\r\n",
	    BAD("no CRLF in the first 107 bytes") },
	{ "CR as the 107th byte",
	    "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535 \r",
	    BAD("no CRLF in the first 107 bytes") },
	{ "no protocol", "PROXY \r\n", BAD("protocol is not") },
	{ "protocol TCP5", "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
	    BAD("protocol is not") },
	{ "UNKNOWN glued", "PROXY UNKNOWNX\r\n", BAD("protocol is not") },
	{ "two spaces after PROXY", "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
	    BAD("protocol is not") },
	{ "two spaces between fields", "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
	    BAD("more than 4 fields") },
	{ "a space at the end", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
	    BAD("more than 4 fields") },
	{ "five fields", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
	    BAD("more than 4 fields") },
	{ "three fields", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
	    BAD("fewer than 4 fields") },
	{ "a tab for a space", "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
	    BAD("fewer than 4 fields") },
	{ "octet 256", "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
	    BAD("bad IPv4 address") },
	{ "octet with a heading zero", "PROXY TCP4 1.2.3.4 05.6.7.8 1 2\r\n",
	    BAD("bad IPv4 address") },
	{ "three octets", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
	    BAD("bad IPv4 address") },
	{ "five octets", "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
	    BAD("bad IPv4 address") },
	{ "empty octet", "PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n",
	    BAD("bad IPv4 address") },
	{ "hexadecimal octet", "PROXY TCP4 0x1.2.3.4 5.6.7.8 1 2\r\n",
	    BAD("bad IPv4 address") },
	{ "IPv6 in TCP4", "PROXY TCP4 ::1 ::1 1 2\r\n",
	    BAD("bad IPv4 address") },
	{ "IPv4 in TCP6", "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
	    BAD("bad IPv6 address") },
	{ "IPv6 with a zone", "PROXY TCP6 fe80::1%lo ::1 1 2\r\n",
	    BAD("bad IPv6 address") },
	{ "IPv6 with two ::", "PROXY TCP6 1::2::3 ::1 1 2\r\n",
	    BAD("bad IPv6 address") },
	{ "IPv6 in brackets", "PROXY TCP6 [::1] ::1 1 2\r\n",
	    BAD("bad IPv6 address") },
	{ "port 65536", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
	    BAD("bad port") },
	{ "port with a heading zero", "PROXY TCP4 1.2.3.4 5.6.7.8 1 02\r\n",
	    BAD("bad port") },
	{ "port 00", "PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n", BAD("bad port") },
	{ "port with a sign", "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
	    BAD("bad port") },
	{ "port of six digits", "PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n",
	    BAD("bad port") },
	{ "named port", "PROXY TCP4 1.2.3.4 5.6.7.8 http 2\r\n",
	    BAD("bad port") },
};

/*
 * Version 2, built from its parts: command, family and transport, the
 * length field, and the bytes after the fixed part.
 */
static size_t
v2(uint8_t *buf, int ver_cmd, int fam, size_t lenfield, const void *rest,
    size_t restlen)
{
	static const uint8_t sig[12] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
		0x54, 0x0a
	};

	memcpy(buf, sig, 12);
	buf[12] = ver_cmd;
	buf[13] = fam;
	buf[14] = lenfield >> 8;
	buf[15] = lenfield & 0xff;
	if (restlen > 0)
		memcpy(buf + 16, rest, restlen);
	return 16 + restlen;
}

/* 203.0.113.7:56324 to 192.0.2.1:2000 */
static const uint8_t inet4[12] = {
	203, 0, 113, 7, 192, 0, 2, 1, 0xdc, 0x04, 0x07, 0xd0
};
/* [2001:db8::7]:56324 to [2001:db8::1]:2000 */
static const uint8_t inet6[36] = {
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	0xdc, 0x04, 0x07, 0xd0
};

static void
v2_cases(void)
{
	uint8_t		 buf[1024], rest[512];
	size_t		 n;
	struct expect	 e4 = { PROXY_DONE, 28, 2, 0, "203.0.113.7:56324",
			    "192.0.2.1:2000", NULL };
	struct expect	 e6 = { PROXY_DONE, 52, 2, 0, "[2001:db8::7]:56324",
			    "[2001:db8::1]:2000", NULL };
	struct expect	 local = { PROXY_DONE, 16, 2, 1, NULL, NULL, NULL };
	struct expect	 more = MORE;
	struct expect	 bad = BAD(NULL);
	/* A NOOP TLV and an AUTHORITY TLV, as a balancer may add. */
	static const uint8_t tlvs[] = {
		0x04, 0x00, 0x03, 0, 0, 0,
		0x02, 0x00, 0x0b, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'o',
		'r', 'g'
	};

	n = v2(buf, 0x21, 0x11, 12, inet4, 12);
	check("v2 PROXY TCP4", buf, n, &e4);
	n = v2(buf, 0x21, 0x21, 36, inet6, 36);
	check("v2 PROXY TCP6", buf, n, &e6);

	memcpy(rest, inet4, 12);
	memcpy(rest + 12, tlvs, sizeof(tlvs));
	n = v2(buf, 0x21, 0x11, 12 + sizeof(tlvs), rest, 12 + sizeof(tlvs));
	e4.len = n;
	check("v2 PROXY TCP4 with TLVs", buf, n, &e4);
	memcpy(rest, inet6, 36);
	memcpy(rest + 36, tlvs, sizeof(tlvs));
	n = v2(buf, 0x21, 0x21, 36 + sizeof(tlvs), rest, 36 + sizeof(tlvs));
	e6.len = n;
	check("v2 PROXY TCP6 with TLVs", buf, n, &e6);

	/* TLVs are skipped unread: even a malformed one. */
	memcpy(rest, inet4, 12);
	memset(rest + 12, 0xff, 5);
	n = v2(buf, 0x21, 0x11, 17, rest, 17);
	e4.len = n;
	check("v2 PROXY TCP4, bytes after the addresses skipped", buf, n,
	    &e4);

	n = v2(buf, 0x20, 0x00, 0, NULL, 0);
	check("v2 LOCAL", buf, n, &local);
	n = v2(buf, 0x20, 0x11, 12, inet4, 12);
	local.len = n;
	check("v2 LOCAL with addresses, ignored", buf, n, &local);
	memcpy(rest, inet4, 12);
	memcpy(rest + 12, tlvs, sizeof(tlvs));
	n = v2(buf, 0x20, 0x11, 12 + sizeof(tlvs), rest, 12 + sizeof(tlvs));
	local.len = n;
	check("v2 LOCAL with TLVs", buf, n, &local);
	n = v2(buf, 0x20, 0xff, 3, "abc", 3);
	local.len = n;
	check("v2 LOCAL ignores the family", buf, n, &local);
	n = v2(buf, 0x20, 0x21, 0, NULL, 0);
	local.len = n;
	check("v2 LOCAL, TCP6 without addresses", buf, n, &local);

	/* Families the specification lists that echod keeps no address of. */
	n = v2(buf, 0x21, 0x00, 0, NULL, 0);
	local.len = n;
	check("v2 PROXY UNSPEC", buf, n, &local);
	n = v2(buf, 0x21, 0x12, 12, inet4, 12);
	local.len = n;
	check("v2 PROXY UDP over IPv4", buf, n, &local);
	n = v2(buf, 0x21, 0x22, 36, inet6, 36);
	local.len = n;
	check("v2 PROXY UDP over IPv6", buf, n, &local);
	memset(rest, 'u', 216);
	n = v2(buf, 0x21, 0x31, 216, rest, 216);
	local.len = n;
	check("v2 PROXY UNIX stream", buf, n, &local);

	/* Truncated: the fixed part, or the address block, not all there. */
	n = v2(buf, 0x21, 0x11, 12, inet4, 12);
	check("v2 signature only", buf, 12, &more);
	check("v2 cut in the fixed part", buf, 15, &more);
	check("v2 cut in the addresses", buf, 20, &more);
	n = v2(buf, 0x21, 0x11, 500, inet4, 12);
	check("v2 announcing more than has come", buf, n, &more);

	/* Invalid. */
	n = v2(buf, 0x21, 0x11, 12, inet4, 12);
	buf[7] = 'q';
	bad.why = "neither a v1 nor a v2 header";
	check("v2 signature wrong in byte 8", buf, n, &bad);
	check("v2 signature wrong, seen early", buf, 8, &bad);
	n = v2(buf, 0x11, 0x11, 12, inet4, 12);
	bad.why = "version is not 2";
	check("v2 header of version 1", buf, n, &bad);
	check("v2 version refused before the rest", buf, 13, &bad);
	n = v2(buf, 0x31, 0x11, 12, inet4, 12);
	check("v2 header of version 3", buf, n, &bad);
	n = v2(buf, 0x22, 0x11, 12, inet4, 12);
	bad.why = "neither LOCAL nor PROXY";
	check("v2 command 2", buf, n, &bad);
	n = v2(buf, 0x2f, 0x11, 12, inet4, 12);
	check("v2 command 15", buf, n, &bad);
	bad.why = "unknown family or transport";
	n = v2(buf, 0x21, 0x13, 12, inet4, 12);
	check("v2 PROXY, transport 3", buf, n, &bad);
	n = v2(buf, 0x21, 0x41, 12, inet4, 12);
	check("v2 PROXY, family 4", buf, n, &bad);
	n = v2(buf, 0x21, 0x10, 12, inet4, 12);
	check("v2 PROXY, IPv4 without a transport", buf, n, &bad);
	n = v2(buf, 0x21, 0x01, 12, inet4, 12);
	check("v2 PROXY, a transport without a family", buf, n, &bad);
	bad.why = "address block too short";
	n = v2(buf, 0x21, 0x11, 11, inet4, 11);
	check("v2 PROXY TCP4, 11 address bytes", buf, n, &bad);
	check("v2 PROXY TCP4, short block refused early", buf, 16, &bad);
	n = v2(buf, 0x21, 0x21, 35, inet6, 35);
	check("v2 PROXY TCP6, 35 address bytes", buf, n, &bad);
	n = v2(buf, 0x21, 0x21, 12, inet4, 12);
	check("v2 PROXY TCP6 with an IPv4 block", buf, n, &bad);
	memset(rest, 'u', 215);
	n = v2(buf, 0x21, 0x31, 215, rest, 215);
	check("v2 PROXY UNIX, 215 address bytes", buf, n, &bad);
	/* A v1 line is no v2 header, nor the reverse. */
	bad.why = "neither";
	check_text("\\r\\n then text", "\r\nPROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
	    &bad);
}

/* The longest v2 header there can be: 16 + 65535 bytes. */
static void
v2_longest(void)
{
	struct expect	 e = { PROXY_DONE, PROXY_HEADER_MAX, 2, 0,
			    "203.0.113.7:56324", "192.0.2.1:2000", NULL };
	struct expect	 more = MORE;
	uint8_t		*buf;

	if ((buf = calloc(1, PROXY_HEADER_MAX + 10)) == NULL)
		err(1, "calloc");
	v2(buf, 0x21, 0x11, 65535, inet4, 12);
	begin();
	check_once(buf, PROXY_HEADER_MAX - 1, &more, "one byte short");
	check_once(buf, PROXY_HEADER_MAX, &e, "whole");
	check_once(buf, PROXY_HEADER_MAX + 10, &e, "with data after");
	end("v2 with a 65535-byte address block");
	free(buf);
}

/* why may be NULL; the result must not depend on it. */
static void
t_null_why(void)
{
	struct proxy_header	 ph;

	begin();
	if (proxy_parse((const uint8_t *)"GET /", 5, &ph, NULL) !=
	    PROXY_INVALID)
		fail("GET / not refused without a why");
	if (proxy_parse((const uint8_t *)"PROXY UNKNOWN\r\n", 15, &ph,
	    NULL) != PROXY_DONE || ph.len != 15)
		fail("UNKNOWN not accepted without a why");
	end("NULL for why");
}

int
main(void)
{
	size_t	 i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++)
		check_text(text_cases[i].name, text_cases[i].text,
		    &text_cases[i].e);
	v2_cases();
	v2_longest();
	t_null_why();
	printf("proxyproto_test: %d cases, %d failed\n", ncases, nfailed);
	return nfailed == 0 ? 0 : 1;
}
