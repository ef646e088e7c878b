/*
 * config_test: unit tests for the echod.conf(5) parser, src/conf.c.
 *
 * Each case hands a configuration text to config_parse() through
 * fmemopen(3), so that no file is needed, and checks either the values
 * it produced or the line and a distinctive part of its error.  A case
 * that fails prints one line, naming itself and its first failed check;
 * the exit status is 0 only if no case failed, as automake's test
 * driver expects.  Every configuration is freed again, so that the
 * program can be run under valgrind --leak-check=full.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "../src/conf.h"

/* The file name config_parse() is given, and so the prefix of errors. */
#define NAME		"test.conf"

/* The one message every malformed "listen" line gets. */
#define LISTEN_SHAPE	\
	"listen: expected \"listen on ADDRESS port PORT [proxy-protocol | udp]\""

/* A text holding NUL bytes, with its length, for struct error_case. */
#define WITH_LEN(s)	s, sizeof(s) - 1

static int	 ncases;
static int	 nfailed;
static int	 nskipped;
static const char *casename;
static char	 why[1024];	/* the current case's first failure, or "" */
static char	 skipwhy[256];	/* why the current case could not run */

/*
 * Out-of-memory injection.  The strdup() and reallocarray() defined at
 * the end of this file take the place of the C library's for conf.c,
 * since a definition in the program wins over a shared library's, and
 * the one numbered alloc_fail_at fails.  malloc() and calloc() are left
 * alone: the C library and valgrind depend on them.
 */
static int	 alloc_calls;
static int	 alloc_fail_at;	/* 0: never fail */

static void	fail(const char *, ...)
		    __attribute__((__format__ (printf, 1, 2)));
static void	make_addr(struct listen_addr *, const char *, in_port_t, int);

static void
begin(const char *name)
{
	casename = name;
	why[0] = '\0';
	skipwhy[0] = '\0';
	ncases++;
}

static void
end(void)
{
	if (why[0] != '\0') {
		nfailed++;
		printf("FAIL %s: %s\n", casename, why);
	} else if (skipwhy[0] != '\0') {
		nskipped++;
		printf("SKIP %s: %s\n", casename, skipwhy);
	}
}

/*
 * Record a failure of the current case.  Only the first one is kept:
 * later checks mostly report consequences of it, and the case must
 * print one line, not a cascade.
 */
static void
fail(const char *fmt, ...)
{
	va_list	 ap;

	if (why[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	/* An empty message would read as a pass. */
	if (why[0] == '\0')
		strlcpy(why, "(no message)", sizeof(why));
}

static void
skip(const char *reason)
{
	strlcpy(skipwhy, reason, sizeof(skipwhy));
}

/* Run a case that is a function of its own. */
static void
run(const char *name, void (*fn)(void))
{
	begin(name);
	fn();
	end();
}

/*
 * Parse text as the file NAME.  len is its length, 0 meaning up to its
 * NUL, so that a text may hold NUL bytes.  The text is copied because
 * fmemopen() takes a buffer it could write to.
 */
static struct config *
parse(const char *text, size_t len, char *errbuf, size_t errlen)
{
	struct config	*conf;
	FILE		*fp;
	char		*buf;

	if (len == 0)
		len = strlen(text);
	if ((buf = malloc(len + 1)) == NULL)
		err(1, "malloc");
	memcpy(buf, text, len);
	buf[len] = '\0';
	/* glibc has taken a size of 0, an empty file, since 2.22. */
	if ((fp = fmemopen(buf, len, "r")) == NULL)
		err(1, "fmemopen");
	conf = config_parse(fp, NAME, errbuf, errlen);
	fclose(fp);
	free(buf);
	return conf;
}

/* Parse text that must be valid; NULL (and a failure) if it is not. */
static struct config *
parse_ok(const char *text)
{
	struct config	*conf;
	char		 errbuf[1024];

	if ((conf = parse(text, 0, errbuf, sizeof(errbuf))) == NULL)
		fail("valid text refused: %s", errbuf);
	return conf;
}

/*
 * Check that text is refused with "NAME:line: ..." and that the message
 * holds msg.  The line is matched exactly, with the ": " after it, so
 * that line 1 cannot pass for line 12.
 */
static void
expect_error(const char *text, size_t len, int line, const char *msg)
{
	struct config	*conf;
	char		 errbuf[1024], prefix[64];
	size_t		 plen;

	/* Garbage, so that an error left unset cannot pass. */
	memset(errbuf, 'X', sizeof(errbuf) - 1);
	errbuf[sizeof(errbuf) - 1] = '\0';
	if ((conf = parse(text, len, errbuf, sizeof(errbuf))) != NULL) {
		fail("accepted, expected line %d: \"%s\"", line, msg);
		config_free(conf);
		return;
	}
	plen = snprintf(prefix, sizeof(prefix), "%s:%d: ", NAME, line);
	if (strncmp(errbuf, prefix, plen) != 0)
		fail("error \"%s\", expected it on line %d", errbuf, line);
	else if (strstr(errbuf + plen, msg) == NULL)
		fail("error \"%s\", expected \"%s\"", errbuf, msg);
}

/* The checks every configuration must pass, whatever it says. */
static void
check_sane(const struct config *conf)
{
	if (conf->path == NULL || strcmp(conf->path, NAME) != 0)
		fail("path is \"%s\", not \"%s\"",
		    conf->path ? conf->path : "(null)", NAME);
	if (conf->nlistens == 0 || conf->listens == NULL)
		fail("no listen address");
	if (conf->pidfile == NULL)
		fail("pidfile is NULL");
}

/* Check listens[i] against a wildcard on port. */
static void
check_wildcard(const struct config *conf, size_t i, in_port_t port,
    int line)
{
	const struct listen_addr	*la;
	char				 name[ADDR_NAME_MAX];

	if (i >= conf->nlistens) {
		fail("listen %zu missing, only %zu", i, conf->nlistens);
		return;
	}
	la = &conf->listens[i];
	snprintf(name, sizeof(name), "*:%u", (unsigned)port);
	if (!la->wildcard)
		fail("listen %zu (%s) is not a wildcard", i, la->name);
	else if (la->port != port)
		fail("listen %zu: port %u, expected %u", i,
		    (unsigned)la->port, (unsigned)port);
	else if (strcmp(la->name, name) != 0)
		fail("listen %zu: name \"%s\", expected \"%s\"", i, la->name,
		    name);
	else if (la->line != line)
		fail("listen %zu: line %d, expected %d", i, la->line, line);
}

/*
 * Check listens[i] against the literal address addr on port: the name
 * as it is printed, and a socket address that bind(2) can use as it is,
 * its port in network byte order while the "port" field is in host
 * byte order.
 */
static void
check_literal(const struct config *conf, size_t i, int family,
    const char *addr, in_port_t port, const char *name, int line)
{
	const struct listen_addr	*la;
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	unsigned char			 want[sizeof(struct in6_addr)];

	if (i >= conf->nlistens) {
		fail("listen %zu missing, only %zu", i, conf->nlistens);
		return;
	}
	la = &conf->listens[i];
	if (inet_pton(family, addr, want) != 1) {
		fail("test bug: bad address %s", addr);
		return;
	}
	if (la->wildcard)
		fail("listen %zu (%s) is a wildcard", i, la->name);
	else if (strcmp(la->name, name) != 0)
		fail("listen %zu: name \"%s\", expected \"%s\"", i, la->name,
		    name);
	else if (la->port != port)
		fail("listen %zu: port %u, expected %u", i,
		    (unsigned)la->port, (unsigned)port);
	else if (la->line != line)
		fail("listen %zu: line %d, expected %d", i, la->line, line);
	else if (la->ss.ss_family != family)
		fail("listen %zu: family %d, expected %d", i,
		    (int)la->ss.ss_family, family);
	else if (family == AF_INET) {
		sin = (const struct sockaddr_in *)&la->ss;
		if (la->sslen != sizeof(*sin))
			fail("listen %zu: sslen %u, expected %zu", i,
			    (unsigned)la->sslen, sizeof(*sin));
		else if (sin->sin_port != htons(port))
			fail("listen %zu: sin_port %u in host order, "
			    "expected %u", i, (unsigned)ntohs(sin->sin_port),
			    (unsigned)port);
		else if (memcmp(&sin->sin_addr, want,
		    sizeof(sin->sin_addr)) != 0)
			fail("listen %zu: wrong IPv4 address", i);
	} else {
		sin6 = (const struct sockaddr_in6 *)&la->ss;
		if (la->sslen != sizeof(*sin6))
			fail("listen %zu: sslen %u, expected %zu", i,
			    (unsigned)la->sslen, sizeof(*sin6));
		else if (sin6->sin6_port != htons(port))
			fail("listen %zu: sin6_port %u in host order, "
			    "expected %u", i, (unsigned)ntohs(sin6->sin6_port),
			    (unsigned)port);
		else if (memcmp(&sin6->sin6_addr, want,
		    sizeof(sin6->sin6_addr)) != 0)
			fail("listen %zu: wrong IPv6 address", i);
	}
}

static void
check_string(const char *what, const char *got, const char *want)
{
	if (want == NULL && got != NULL)
		fail("%s is \"%s\", expected NULL", what, got);
	else if (want != NULL && got == NULL)
		fail("%s is NULL, expected \"%s\"", what, want);
	else if (want != NULL && strcmp(got, want) != 0)
		fail("%s is \"%s\", expected \"%s\"", what, got, want);
}

static void
check_int(const char *what, long long got, long long want)
{
	if (got != want)
		fail("%s is %lld, expected %lld", what, got, want);
}

/* The defaults, as conf.h and echod.conf(5) promise them. */
static void
check_defaults(const struct config *conf)
{
	check_sane(conf);
	check_int("prefork", conf->prefork, DEFAULT_PREFORK);
	check_int("prefork", conf->prefork, 4);
	check_int("drain_timeout", conf->drain_timeout, DEFAULT_DRAIN_TIMEOUT);
	check_int("drain_timeout", conf->drain_timeout, 60);
	check_int("syslog_facility", conf->syslog_facility, LOG_DAEMON);
	check_int("sandbox", conf->sandbox, DEFAULT_SANDBOX);
	check_int("core_limit", conf->core_limit, 0);
	check_int("accept_strategy", conf->accept_strategy, ACCEPT_EPOLL);
	check_int("max_conns_per_address", conf->max_conns_per_address,
	    DEFAULT_MAX_PER_ADDRESS);
	check_int("max_conns_per_address", conf->max_conns_per_address, 64);
	check_int("max_conns_per_address_hard",
	    conf->max_conns_per_address_hard, 0);
	check_string("pidfile", conf->pidfile, DEFAULT_PIDFILE);
	check_string("user", conf->user, NULL);
	check_string("group", conf->group, NULL);
	check_int("nlistens", conf->nlistens, 1);
	check_wildcard(conf, 0, DEFAULT_PORT, 0);
	check_wildcard(conf, 0, 2000, 0);
	if (conf->nlistens > 0)
		check_int("default listen sslen", conf->listens[0].sslen, 0);
}

/*
 * Valid configurations and what they produce.
 */

static void
t_empty(void)
{
	struct config	*conf;

	if ((conf = parse_ok("")) == NULL)
		return;
	check_defaults(conf);
	config_free(conf);
}

static void
t_only_comments(void)
{
	struct config	*conf;

	if ((conf = parse_ok("# nothing but comments\n\n   \n\t# indented\n"
	    "\r\n#listen on 127.0.0.1 port 1\n")) == NULL)
		return;
	check_defaults(conf);
	config_free(conf);
}

static void
t_every_keyword(void)
{
	struct config	*conf;

	if ((conf = parse_ok(
	    "listen on 127.0.0.1 port 2001\n"
	    "prefork 8\n"
	    "pidfile /tmp/echod-test.pid\n"
	    "user root\n"
	    "group root\n"
	    "drain-timeout 30\n"
	    "syslog facility local3\n")) == NULL)
		return;
	check_sane(conf);
	check_int("nlistens", conf->nlistens, 1);
	check_literal(conf, 0, AF_INET, "127.0.0.1", 2001, "127.0.0.1:2001",
	    1);
	check_int("prefork", conf->prefork, 8);
	check_string("pidfile", conf->pidfile, "/tmp/echod-test.pid");
	check_string("user", conf->user, "root");
	check_string("group", conf->group, "root");
	check_int("uid", conf->uid, 0);
	check_int("gid", conf->gid, 0);
	check_int("drain_timeout", conf->drain_timeout, 30);
	check_int("syslog_facility", conf->syslog_facility, LOG_LOCAL3);
	config_free(conf);
}

/* Blanks of every kind, CRLF and comments must not reach the values. */
static void
t_layout(void)
{
	struct config	*conf;

	if ((conf = parse_ok(
	    "# echod.conf\r\n"
	    "\r\n"
	    "  \t  \r\n"
	    "\tprefork\t\t12   # twelve\r\n"
	    "   drain-timeout 5\t\r\n"
	    "pidfile /tmp/crlf.pid\r\n"
	    "syslog\tfacility\tuser\r\n"
	    "listen  on\t127.0.0.1   port 2001 \r\n"
	    "# the end\r\n")) == NULL)
		return;
	check_sane(conf);
	check_int("prefork", conf->prefork, 12);
	check_int("drain_timeout", conf->drain_timeout, 5);
	check_string("pidfile", conf->pidfile, "/tmp/crlf.pid");
	check_int("syslog_facility", conf->syslog_facility, LOG_USER);
	check_literal(conf, 0, AF_INET, "127.0.0.1", 2001, "127.0.0.1:2001",
	    8);
	config_free(conf);
}

/* "#" starts a comment even right after a word. */
static void
t_comment_after_word(void)
{
	struct config	*conf;

	if ((conf = parse_ok("prefork 6#six\npidfile /tmp/a#b\n")) == NULL)
		return;
	check_int("prefork", conf->prefork, 6);
	check_string("pidfile", conf->pidfile, "/tmp/a");
	config_free(conf);
}

/* An editor may leave the last line without its newline. */
static void
t_no_final_newline(void)
{
	struct config	*conf;

	if ((conf = parse_ok("prefork 3\ndrain-timeout 7")) == NULL)
		return;
	check_int("prefork", conf->prefork, 3);
	check_int("drain_timeout", conf->drain_timeout, 7);
	config_free(conf);
}

static void
t_quoted_blank_hash(void)
{
	struct config	*conf;

	if ((conf = parse_ok("pidfile \"/tmp/a b#c\"\n")) == NULL)
		return;
	check_string("pidfile", conf->pidfile, "/tmp/a b#c");
	config_free(conf);
}

/* \" and \\ stand for themselves; any other backslash is kept. */
static void
t_quoted_escapes(void)
{
	struct config	*conf;

	if ((conf = parse_ok(
	    "pidfile \"/tmp/q\\\"x\\\\y\\n\"  # \"comment\"\n")) == NULL)
		return;
	check_string("pidfile", conf->pidfile, "/tmp/q\"x\\y\\n");
	config_free(conf);
}

/* Any word may be quoted, a keyword too, and "#" may follow a quote. */
static void
t_quoted_anywhere(void)
{
	struct config	*conf;

	if ((conf = parse_ok(
	    "\"prefork\" \"9\"\r\n"
	    "listen \"on\" \"::1\" port \"2002\"#comment\n"
	    "pidfile\t\"/tmp/tab\tin\"\r\n")) == NULL)
		return;
	check_int("prefork", conf->prefork, 9);
	check_literal(conf, 0, AF_INET6, "::1", 2002, "[::1]:2002", 2);
	check_string("pidfile", conf->pidfile, "/tmp/tab\tin");
	config_free(conf);
}

static void
t_several_listens(void)
{
	struct config	*conf;

	if ((conf = parse_ok(
	    "listen on 127.0.0.1 port 2001\n"
	    "# IPv6 too\n"
	    "listen on ::1 port 2002\n")) == NULL)
		return;
	check_sane(conf);
	check_int("nlistens", conf->nlistens, 2);
	check_literal(conf, 0, AF_INET, "127.0.0.1", 2001, "127.0.0.1:2001",
	    1);
	check_literal(conf, 1, AF_INET6, "::1", 2002, "[::1]:2002", 3);
	config_free(conf);
}

/* An IPv6 literal may be written in brackets, as it is printed. */
static void
t_bracketed_ipv6(void)
{
	struct config	*conf;

	if ((conf = parse_ok("listen on [::1] port 2003\n")) == NULL)
		return;
	check_int("nlistens", conf->nlistens, 1);
	check_literal(conf, 0, AF_INET6, "::1", 2003, "[::1]:2003", 1);
	config_free(conf);
}

/*
 * A name becomes one entry per address it resolves to.  Which addresses
 * "localhost" has depends on the host, so only their shape is checked,
 * and that none was entered twice.
 */
static void
t_localhost(void)
{
	struct config		*conf;
	const struct listen_addr *la;
	size_t			 i, j, len;

	if ((conf = parse_ok("listen on localhost port 2004\n")) == NULL)
		return;
	check_sane(conf);
	for (i = 0; i < conf->nlistens; i++) {
		la = &conf->listens[i];
		len = strlen(la->name);
		if (la->wildcard)
			fail("%s is a wildcard", la->name);
		else if (la->ss.ss_family != AF_INET &&
		    la->ss.ss_family != AF_INET6)
			fail("%s has family %d", la->name,
			    (int)la->ss.ss_family);
		else if (la->port != 2004)
			fail("%s has port %u", la->name, (unsigned)la->port);
		else if (la->line != 1)
			fail("%s has line %d", la->name, la->line);
		else if (len < 5 || strcmp(la->name + len - 5, ":2004") != 0)
			fail("name \"%s\" does not end in :2004", la->name);
		for (j = 0; j < i; j++)
			if (listen_addr_equal(&conf->listens[j], la))
				fail("%s entered twice", la->name);
	}
	config_free(conf);
}

/*
 * "*" is one entry however many addresses there are; it is a different
 * address from any literal, "0.0.0.0" and "::" too, and each port is a
 * different address.
 */
static void
t_wildcards(void)
{
	struct config	*conf;

	/*
	 * "*" takes its port on every address; 0.0.0.0 and :: take it on
	 * every address of their family, so they can share a port with
	 * each other and with addresses of the other family only.
	 */
	if ((conf = parse_ok(
	    "listen on * port 7\n"
	    "listen on 0.0.0.0 port 2000\n"
	    "listen on :: port 2000\n"
	    "listen on 127.0.0.1 port 2001\n"
	    "listen on ::1 port 2001\n"
	    "listen on 0.0.0.0 port 2002\n"
	    "listen on ::1 port 2002\n")) == NULL)
		return;
	check_int("nlistens", conf->nlistens, 7);
	check_wildcard(conf, 0, 7, 1);
	check_literal(conf, 1, AF_INET, "0.0.0.0", 2000, "0.0.0.0:2000", 2);
	check_literal(conf, 2, AF_INET6, "::", 2000, "[::]:2000", 3);
	check_literal(conf, 3, AF_INET, "127.0.0.1", 2001,
	    "127.0.0.1:2001", 4);
	check_literal(conf, 4, AF_INET6, "::1", 2001, "[::1]:2001", 5);
	check_literal(conf, 5, AF_INET, "0.0.0.0", 2002, "0.0.0.0:2002", 6);
	check_literal(conf, 6, AF_INET6, "::1", 2002, "[::1]:2002", 7);
	config_free(conf);
}

/*
 * "proxy-protocol" marks its own line's addresses, every one a name
 * resolves to, and no other line's.
 */
static void
t_proxy_protocol(void)
{
	struct config	*conf;
	size_t		 i;

	if ((conf = parse_ok(
	    "listen on 127.0.0.1 port 2001 proxy-protocol\n"
	    "listen on 127.0.0.1 port 2002\n"
	    "listen on [::1] port 2001 \"proxy-protocol\" # quoted\n"
	    "listen on * port 2003 proxy-protocol\n"
	    "listen on localhost port 2004 proxy-protocol\n")) == NULL)
		return;
	check_sane(conf);
	check_literal(conf, 0, AF_INET, "127.0.0.1", 2001, "127.0.0.1:2001",
	    1);
	check_literal(conf, 1, AF_INET, "127.0.0.1", 2002, "127.0.0.1:2002",
	    2);
	check_literal(conf, 2, AF_INET6, "::1", 2001, "[::1]:2001", 3);
	check_wildcard(conf, 3, 2003, 4);
	if (conf->nlistens < 5)
		fail("localhost gave no address");
	for (i = 0; i < conf->nlistens; i++)
		check_int(conf->listens[i].name,
		    conf->listens[i].proxy_protocol, i != 1);
	config_free(conf);

	/* Off by default, the implicit "*:2000" included. */
	if ((conf = parse_ok("listen on ::1 port 2001\n")) != NULL) {
		check_int("proxy_protocol", conf->listens[0].proxy_protocol, 0);
		config_free(conf);
	}
	if ((conf = parse_ok("prefork 2\n")) != NULL) {
		check_int("default proxy_protocol",
		    conf->listens[0].proxy_protocol, 0);
		config_free(conf);
	}
}

/*
 * "udp" makes a datagram listener, which may share a TCP one's address
 * and port, and not another UDP one's; the UDP settings and defaults.
 */
static void
t_udp(void)
{
	struct config		*conf;
	struct listen_addr	 a, b;

	if ((conf = parse_ok(
	    "listen on 127.0.0.1 port 2001\n"
	    "listen on 127.0.0.1 port 2001 udp\n"
	    "listen on * port 2002 udp\n"
	    "listen on * port 2002\n"
	    "udp-workers 3\n"
	    "udp-receive-buffer 1048576\n"
	    "udp-guard no\n"
	    "udp-guard-ports-below 512\n"
	    "udp-rate 10 2000\n"
	    "udp-total-rate 50\n")) == NULL)
		return;
	check_sane(conf);
	check_int("nlistens", conf->nlistens, 4);
	if (conf->nlistens == 4) {
		check_int("tcp udp", conf->listens[0].udp, 0);
		check_int("udp", conf->listens[1].udp, 1);
		check_int("* udp", conf->listens[2].udp, 1);
		check_int("* tcp", conf->listens[3].udp, 0);
		check_string("udp name", conf->listens[1].name,
		    "127.0.0.1:2001/udp");
		check_string("* udp name", conf->listens[2].name, "*:2002/udp");
	}
	check_int("config_count_udp", config_count_udp(conf), 2);
	check_int("udp_workers", conf->udp_workers, 3);
	check_int("udp_rcvbuf", conf->udp_rcvbuf, 1048576);
	check_int("udp_guard", conf->udp_guard, 0);
	check_int("udp_guard_below", conf->udp_guard_below, 512);
	check_int("udp_rate_pps", conf->udp_rate_pps, 10);
	check_int("udp_rate_bps", conf->udp_rate_bps, 2000);
	check_int("udp_total_pps", conf->udp_total_pps, 50);
	config_free(conf);

	if ((conf = parse_ok("prefork 2\n")) != NULL) {
		check_int("default: no udp", config_count_udp(conf), 0);
		check_int("default udp_guard", conf->udp_guard, 1);
		check_int("default udp_guard_below", conf->udp_guard_below,
		    DEFAULT_UDP_GUARD_BELOW);
		check_int("default udp_rcvbuf", conf->udp_rcvbuf, 0);
		if (conf->udp_workers < 1)
			fail("default udp_workers %d", conf->udp_workers);
		config_free(conf);
	}
	/* A TCP and a UDP listener on one address are not the same. */
	make_addr(&a, "127.0.0.1", 2000, 1);
	make_addr(&b, "127.0.0.1", 2000, 2);
	b.udp = 1;
	if (listen_addr_equal(&a, &b) || listen_addr_equal(&b, &a))
		fail("TCP and UDP listeners equal");
	a.udp = 1;
	if (!listen_addr_equal(&a, &b))
		fail("two UDP listeners on one address not equal");
}

/*
 * An address reached through a host name is as taken as a written one.
 * Skipped where "localhost" does not resolve to 127.0.0.1.
 */
static void
t_name_duplicate(void)
{
	struct config		*conf;
	struct listen_addr	 lo;
	size_t			 i;
	int			 found = 0;

	if ((conf = parse_ok("listen on localhost port 2005\n")) == NULL)
		return;
	make_addr(&lo, "127.0.0.1", 2005, 1);
	for (i = 0; i < conf->nlistens; i++)
		if (listen_addr_equal(&conf->listens[i], &lo))
			found = 1;
	config_free(conf);
	if (!found) {
		skip("localhost is not 127.0.0.1 here");
		return;
	}
	expect_error("listen on localhost port 2005\n"
	    "listen on 127.0.0.1 port 2005\n", 0, 2,
	    "listen: 127.0.0.1:2005 is already configured on line 1");
}

static void
t_user_root(void)
{
	struct config	*conf;

	if ((conf = parse_ok("user root\n")) == NULL)
		return;
	check_string("user", conf->user, "root");
	check_string("group", conf->group, NULL);
	check_int("uid", conf->uid, 0);
	check_int("gid", conf->gid, 0);
	config_free(conf);
}

/*
 * The accounts below are the usual Debian ones; where one is missing the
 * case is skipped, not failed, since that says nothing about conf.c.
 */
static int
lookup(const char *user, const char *group, uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;
	struct group	*gr;

	if (user != NULL) {
		if ((pw = getpwnam(user)) == NULL) {
			snprintf(skipwhy, sizeof(skipwhy), "no user \"%s\"",
			    user);
			return -1;
		}
		*uid = pw->pw_uid;
	}
	if ((gr = getgrnam(group)) == NULL) {
		snprintf(skipwhy, sizeof(skipwhy), "no group \"%s\"", group);
		return -1;
	}
	*gid = gr->gr_gid;
	return 0;
}

static void
t_user_nobody_group_nogroup(void)
{
	struct config	*conf;
	uid_t		 uid;
	gid_t		 gid;

	if (lookup("nobody", "nogroup", &uid, &gid) == -1)
		return;
	if ((conf = parse_ok("user nobody\ngroup nogroup\n")) == NULL)
		return;
	check_string("user", conf->user, "nobody");
	check_string("group", conf->group, "nogroup");
	check_int("uid", conf->uid, uid);
	check_int("gid", conf->gid, gid);
	config_free(conf);
}

/* chroot with a user who is not root, whichever line comes first. */
static void
t_chroot_user(void)
{
	struct config	*conf;
	uid_t		 uid;
	gid_t		 gid;

	if (lookup("nobody", "nogroup", &uid, &gid) == -1)
		return;
	if (uid == 0) {
		skip("nobody has uid 0");
		return;
	}
	if ((conf = parse_ok("chroot /\nuser nobody\n")) == NULL)
		return;
	check_string("chroot", conf->chroot_dir, "/");
	check_string("user", conf->user, "nobody");
	config_free(conf);
}

/*
 * root's own group is 0, so a gid of nogroup's can only come from the
 * "group" line, whether that comes before "user" or after it.
 */
static void
group_wins(const char *text)
{
	struct config	*conf;
	gid_t		 gid;

	if (lookup(NULL, "nogroup", NULL, &gid) == -1)
		return;
	if (gid == 0) {
		skip("nogroup has gid 0");
		return;
	}
	if ((conf = parse_ok(text)) == NULL)
		return;
	check_string("user", conf->user, "root");
	check_string("group", conf->group, "nogroup");
	check_int("uid", conf->uid, 0);
	check_int("gid", conf->gid, gid);
	config_free(conf);
}

static void
t_group_before_user(void)
{
	group_wins("group nogroup\nprefork 2\nuser root\n");
}

static void
t_group_after_user(void)
{
	group_wins("user root\ngroup nogroup\n");
}

/* The ends of each range are allowed (one past them is in errors). */
static const struct number_case {
	const char	*name;
	const char	*text;
	enum { PREFORK, DRAIN, PORT } field;
	long long	 want;
} number_cases[] = {
	{ "prefork 1", "prefork 1\n", PREFORK, 1 },
	{ "prefork 16384", "max-workers 16384\nprefork 16384\n", PREFORK,
	    16384 },
	{ "prefork MAX_WORKERS_LIMIT", "max-workers 16384\nprefork 16384\n",
	    PREFORK, MAX_WORKERS_LIMIT },
	{ "drain-timeout 0", "drain-timeout 0\n", DRAIN, 0 },
	{ "drain-timeout 86400", "drain-timeout 86400\n", DRAIN, 86400 },
	{ "drain-timeout MAX_SECONDS", "drain-timeout 86400\n", DRAIN,
	    MAX_SECONDS },
	{ "port 1", "listen on * port 1\n", PORT, 1 },
	{ "port 65535", "listen on * port 65535\n", PORT, 65535 },
	{ "port 65535 literal", "listen on 127.0.0.1 port 65535\n", PORT,
	    65535 },
	{ "port with leading zeros", "listen on * port 02000\n", PORT, 2000 },
};

static void
number_case(const struct number_case *nc)
{
	struct config	*conf;

	if ((conf = parse_ok(nc->text)) == NULL)
		return;
	switch (nc->field) {
	case PREFORK:
		check_int("prefork", conf->prefork, nc->want);
		break;
	case DRAIN:
		check_int("drain_timeout", conf->drain_timeout, nc->want);
		break;
	case PORT:
		check_int("nlistens", conf->nlistens, 1);
		if (conf->nlistens >= 1)
			check_int("port", conf->listens[0].port, nc->want);
		break;
	}
	config_free(conf);
}

/* Every facility echod.conf(5) names, with the value syslog(3) wants. */
static const struct {
	const char	*name;
	int		 value;
} facilities[] = {
	{ "auth",	LOG_AUTH },	{ "authpriv",	LOG_AUTHPRIV },
	{ "cron",	LOG_CRON },	{ "daemon",	LOG_DAEMON },
	{ "ftp",	LOG_FTP },	{ "kern",	LOG_KERN },
	{ "lpr",	LOG_LPR },	{ "mail",	LOG_MAIL },
	{ "news",	LOG_NEWS },	{ "syslog",	LOG_SYSLOG },
	{ "user",	LOG_USER },	{ "uucp",	LOG_UUCP },
	{ "local0",	LOG_LOCAL0 },	{ "local1",	LOG_LOCAL1 },
	{ "local2",	LOG_LOCAL2 },	{ "local3",	LOG_LOCAL3 },
	{ "local4",	LOG_LOCAL4 },	{ "local5",	LOG_LOCAL5 },
	{ "local6",	LOG_LOCAL6 },	{ "local7",	LOG_LOCAL7 },
};

/* The name parses to the value, and facility_name() gives it back. */
static void
facility_case(const char *name, int value)
{
	struct config	*conf;
	char		 text[64];

	snprintf(text, sizeof(text), "syslog facility %s\n", name);
	if ((conf = parse_ok(text)) == NULL)
		return;
	check_int("syslog_facility", conf->syslog_facility, value);
	check_string("facility_name()",
	    facility_name(conf->syslog_facility), name);
	config_free(conf);
}

/* metrics listen on: off by default, an address and port, and its errors. */
static void
t_metrics(void)
{
	struct config	*conf;

	if ((conf = parse_ok("prefork 1\n")) != NULL) {
		check_int("metrics by default", conf->metrics_on, 0);
		config_free(conf);
	}
	if ((conf = parse_ok("metrics listen on 127.0.0.1 port 9862\n")) !=
	    NULL) {
		check_int("metrics listen on", conf->metrics_on, 1);
		check_int("metrics port", conf->metrics.port, 9862);
		check_string("metrics address", conf->metrics.name,
		    "127.0.0.1:9862");
		config_free(conf);
	}
	if ((conf = parse_ok("metrics listen on ::1 port 80\n")) != NULL) {
		check_string("metrics address", conf->metrics.name,
		    "[::1]:80");
		config_free(conf);
	}
	expect_error("metrics on 127.0.0.1 port 1\n", 0, 1,
	    "expected \"metrics listen on ADDRESS port PORT\"");
	expect_error("metrics listen on 127.0.0.1 port 0\n", 0, 1,
	    "metrics: port");
	expect_error("metrics listen on 127.0.0.1 port 1\n"
	    "metrics listen on 127.0.0.1 port 2\n", 0, 2, "already set");
}

/* accept-strategy's words, core-limit's forms, and sandbox no (and yes where it is built in). */
static void
t_containment(void)
{
	static const struct {
		const char	*arg;
		long long	 bytes;
	} sizes[] = {
		{ "0", 0 }, { "512", 512 }, { "2m", 2LL << 20 },
		{ "2M", 2LL << 20 }, { "1G", 1LL << 30 }, { "64k", 64 << 10 },
		{ "1024g", 1LL << 40 }, { "unlimited", -1 },
	};
	struct config	*conf;
	char		 text[64];
	size_t		 i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(text, sizeof(text), "core-limit %s\n", sizes[i].arg);
		if ((conf = parse_ok(text)) == NULL)
			continue;
		check_int(text, conf->core_limit, sizes[i].bytes);
		config_free(conf);
	}
	if ((conf = parse_ok("accept-strategy poll\n")) != NULL) {
		check_int("accept-strategy poll", conf->accept_strategy,
		    ACCEPT_POLL);
		config_free(conf);
	}
	if ((conf = parse_ok("accept-strategy epoll\n")) != NULL) {
		check_int("accept-strategy epoll", conf->accept_strategy,
		    ACCEPT_EPOLL);
		check_string("accept_strategy_name()",
		    accept_strategy_name(conf->accept_strategy), "epoll");
		config_free(conf);
	}
	if ((conf = parse_ok("sandbox no\n")) != NULL) {
		check_int("sandbox no", conf->sandbox, 0);
		config_free(conf);
	}
#ifdef HAVE_SECCOMP
	if ((conf = parse_ok("sandbox yes\n")) != NULL) {
		check_int("sandbox yes", conf->sandbox, 1);
		config_free(conf);
	}
#endif
}

/*
 * max-connections-per-address N binds near max-workers only; with
 * "hard", at any load (worker.c).
 */
static void
t_per_address(void)
{
	static const struct {
		const char	*text;
		int		 limit, hard;
	} cases[] = {
		{ "max-connections-per-address 10\n", 10, 0 },
		{ "max-connections-per-address 10 hard\n", 10, 1 },
		{ "max-connections-per-address\t2\thard # as before\n", 2, 1 },
		{ "max-connections-per-address 0\n", 0, 0 },
		{ "max-connections-per-address 0 hard\n", 0, 1 },
		{ "max-connections-per-address 16384 hard\n", 16384, 1 },
		{ "max-connections-per-address \"64\" \"hard\"\n", 64, 1 },
	};
	struct config	*conf;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if ((conf = parse_ok(cases[i].text)) == NULL)
			continue;
		check_int(cases[i].text, conf->max_conns_per_address,
		    cases[i].limit);
		check_int(cases[i].text, conf->max_conns_per_address_hard,
		    cases[i].hard);
		config_free(conf);
	}
}

static void
t_facility_unknown(void)
{
	check_string("facility_name(-1)", facility_name(-1), "?");
	check_string("facility_name(LOG_NFACILITIES << 3)",
	    facility_name(LOG_NFACILITIES << 3), "?");
}

/*
 * Errors: every one conf.c can report, each with the line it must
 * name and a part of its message that no other error has.
 */
static const struct error_case {
	const char	*name;
	const char	*text;
	size_t		 len;	/* 0: up to the NUL; else holds NULs */
	int		 line;
	const char	*msg;
} error_cases[] = {
	{ "udp twice", "listen on * port 7 udp\nlisten on * port 7 udp\n",
	    0, 2, "listen: *:7/udp is already configured on line 1" },
	{ "udp overlap", "listen on * port 7 udp\n"
	    "listen on 127.0.0.1 port 7 udp\n", 0, 2,
	    "listen: 127.0.0.1:7/udp overlaps *:7/udp on line 1" },
	{ "udp and proxy-protocol", "listen on * port 7 udp proxy-protocol\n",
	    0, 1, LISTEN_SHAPE },
	{ "udp-workers 0", "udp-workers 0\n", 0, 1,
	    "udp-workers: \"0\" is too small" },
	{ "udp-guard maybe", "udp-guard maybe\n", 0, 1,
	    "udp-guard: expected \"yes\" or \"no\", not \"maybe\"" },
	{ "udp-rate one number", "udp-rate 10\n", 0, 1,
	    "udp-rate: missing argument" },
	{ "unknown keyword", "prefork 4\nprefork-count 4\n", 0, 2,
	    "unknown keyword \"prefork-count\"" },
	{ "keywords are case-sensitive", "Prefork 4\n", 0, 1,
	    "unknown keyword \"Prefork\"" },
	{ "missing argument: prefork", "prefork\n", 0, 1,
	    "prefork: missing argument" },
	{ "missing argument: pidfile", "pidfile # none\n", 0, 1,
	    "pidfile: missing argument" },
	{ "missing argument: user", "user\n", 0, 1,
	    "user: missing argument" },
	{ "missing argument: group", "user root\ngroup\n", 0, 2,
	    "group: missing argument" },
	{ "missing argument: drain-timeout", "drain-timeout\r\n", 0, 1,
	    "drain-timeout: missing argument" },
	{ "missing argument: syslog", "syslog facility\n", 0, 1,
	    "syslog: missing argument" },
	{ "unexpected argument: prefork", "prefork 4 5\n", 0, 1,
	    "prefork: unexpected \"5\"" },
	{ "unexpected argument: pidfile", "pidfile /a /b\n", 0, 1,
	    "pidfile: unexpected \"/b\"" },
	{ "unexpected argument: user", "user root wheel\n", 0, 1,
	    "user: unexpected \"wheel\"" },
	{ "unexpected argument: group", "user root\ngroup root x\n", 0, 2,
	    "group: unexpected \"x\"" },
	{ "unexpected argument: drain-timeout", "drain-timeout 1 s\n", 0, 1,
	    "drain-timeout: unexpected \"s\"" },
	{ "unexpected argument: syslog",
	    "syslog facility daemon local0\n", 0, 1,
	    "syslog: unexpected \"local0\"" },
	{ "prefork twice", "prefork 4\n\nprefork 4\n", 0, 3,
	    "prefork: already set on line 1" },
	{ "pidfile twice", "# pid\npidfile /a\npidfile /a\n", 0, 3,
	    "pidfile: already set on line 2" },
	{ "user twice", "user root\nprefork 2\n\nuser root\n", 0, 4,
	    "user: already set on line 1" },
	{ "group twice", "user root\ngroup root\ngroup root\n", 0, 3,
	    "group: already set on line 2" },
	{ "drain-timeout twice", "\n\ndrain-timeout 1\ndrain-timeout 2\n",
	    0, 4, "drain-timeout: already set on line 3" },
	{ "syslog twice", "syslog facility daemon\nsyslog facility local0\n",
	    0, 2, "syslog: already set on line 1" },
	{ "prefork 0", "prefork 0\n", 0, 1,
	    "prefork: \"0\" is too small (allowed: 1 to 16384)" },
	{ "prefork 16385", "prefork 16385\n", 0, 1,
	    "prefork: \"16385\" is too large (allowed: 1 to 16384)" },
	{ "prefork -1", "prefork -1\n", 0, 1,
	    "prefork: \"-1\" is too small" },
	{ "prefork abc", "prefork abc\n", 0, 1,
	    "prefork: \"abc\" is invalid" },
	{ "prefork \"abc\"", "prefork \"abc\"\n", 0, 1,
	    "prefork: \"abc\" is invalid" },
	{ "prefork 4x", "prefork 4x\n", 0, 1, "prefork: \"4x\" is invalid" },
	{ "prefork \"\"", "prefork \"\"\n", 0, 1, "empty quoted string" },
	{ "drain-timeout -1", "drain-timeout -1\n", 0, 1,
	    "drain-timeout: \"-1\" is too small (allowed: 0 to 86400)" },
	{ "drain-timeout 86401", "drain-timeout 86401\n", 0, 1,
	    "drain-timeout: \"86401\" is too large (allowed: 0 to 86400)" },
	{ "port 0", "listen on * port 0\n", 0, 1,
	    "listen: port: \"0\" is too small (allowed: 1 to 65535)" },
	{ "port 65536", "listen on * port 65536\n", 0, 1,
	    "listen: port: \"65536\" is too large (allowed: 1 to 65535)" },
	{ "port http", "listen on * port http\n", 0, 1,
	    "listen: port: \"http\" is invalid" },
	{ "port 0 on a literal", "listen on 127.0.0.1 port 0\n", 0, 1,
	    "listen: port: \"0\" is too small" },
	{ "listen without \"on\"", "listen * port 2000\n", 0, 1,
	    LISTEN_SHAPE },
	{ "listen at, not on", "listen at * port 2000\n", 0, 1,
	    LISTEN_SHAPE },
	{ "listen without \"port\"", "listen on * 2000\n", 0, 1,
	    LISTEN_SHAPE },
	{ "listen with \"ports\"", "listen on * ports 2000\n", 0, 1,
	    LISTEN_SHAPE },
	{ "listen alone", "listen\n", 0, 1, LISTEN_SHAPE },
	{ "listen on ADDRESS", "listen on *\n", 0, 1, LISTEN_SHAPE },
	{ "listen without a port number", "listen on * port\n", 0, 1,
	    LISTEN_SHAPE },
	{ "listen with a word too many", "listen on * port 2000 2001\n", 0,
	    1, LISTEN_SHAPE },
	{ "listen with a misspelt proxy-protocol",
	    "listen on * port 2000 proxy_protocol\n", 0, 1, LISTEN_SHAPE },
	{ "listen with proxy-protocol before the port",
	    "listen on * proxy-protocol port 2000\n", 0, 1, LISTEN_SHAPE },
	{ "listen with a word after proxy-protocol",
	    "listen on * port 2000 proxy-protocol v2\n", 0, 1, LISTEN_SHAPE },
	{ "proxy-protocol is case-sensitive",
	    "listen on * port 2000 PROXY-PROTOCOL\n", 0, 1, LISTEN_SHAPE },
	{ "proxy-protocol does not make a second address",
	    "listen on 127.0.0.1 port 2001\n"
	    "listen on 127.0.0.1 port 2001 proxy-protocol\n", 0, 2,
	    "listen: 127.0.0.1:2001 is already configured on line 1" },
	{ "sixteen words are not too many",
	    "listen on * port 2000 a b c d e f g h i j k # l m n\n", 0, 1,
	    LISTEN_SHAPE },
	{ "listen on an unresolvable name",
	    "listen on no-such-host.invalid port 2000\n", 0, 1,
	    "listen: cannot resolve \"no-such-host.invalid\"" },
	{ "listen on empty brackets", "listen on [] port 2000\n", 0, 1,
	    "listen: cannot resolve \"[]\"" },
	{ "same address twice",
	    "listen on 127.0.0.1 port 2001\nlisten on 127.0.0.1 port 2001\n",
	    0, 2, "listen: 127.0.0.1:2001 is already configured on line 1" },
	{ "* twice on one port",
	    "listen on * port 2000\n# again\nlisten on * port 2000\n", 0, 3,
	    "listen: *:2000 is already configured on line 1" },
	{ "::1 and [::1]",
	    "listen on ::1 port 2002\nlisten on [::1] port 2002\n", 0, 2,
	    "listen: [::1]:2002 is already configured on line 1" },
	{ "duplicate among others",
	    "listen on * port 2001\n"
	    "listen on 127.0.0.1 port 2000\n"
	    "listen on ::1 port 2000\n"
	    "listen on 127.0.0.1 port 2000\n", 0, 4,
	    "listen: 127.0.0.1:2000 is already configured on line 2" },
	{ "an address under the wildcard",
	    "listen on * port 2000\nlisten on 127.0.0.1 port 2000\n", 0, 2,
	    "listen: 127.0.0.1:2000 overlaps *:2000 on line 1" },
	{ "the wildcard over an address",
	    "listen on ::1 port 2000\nlisten on * port 2000\n", 0, 2,
	    "listen: *:2000 overlaps [::1]:2000 on line 1" },
	{ "0.0.0.0 and the wildcard",
	    "listen on * port 2000\nlisten on 0.0.0.0 port 2000\n", 0, 2,
	    "listen: 0.0.0.0:2000 overlaps *:2000 on line 1" },
	{ "an IPv4 address under 0.0.0.0",
	    "listen on 0.0.0.0 port 2000\nlisten on 127.0.0.1 port 2000\n",
	    0, 2, "listen: 127.0.0.1:2000 overlaps 0.0.0.0:2000 on line 1" },
	{ ":: over an IPv6 address",
	    "listen on ::1 port 2000\nlisten on :: port 2000\n", 0, 2,
	    "listen: [::]:2000 overlaps [::1]:2000 on line 1" },
	{ "prefork over the default max-workers", "prefork 300\n", 0, 1,
	    "prefork 300 is more than max-workers 256" },
	{ "prefork over max-workers, on the later line",
	    "max-workers 10\n# comment\nprefork 11\n", 0, 3,
	    "prefork 11 is more than max-workers 10" },
	{ "min-spare over max-spare", "min-spare 9\nmax-spare 3\n", 0, 2,
	    "min-spare 9 is more than max-spare 3" },
	{ "min-spare over max-workers",
	    "min-spare 5\nmax-spare 10\nmax-workers 4\n", 0, 3,
	    "min-spare 5 is more than max-workers 4" },
	{ "max-connections-per-address missing",
	    "max-connections-per-address\n", 0, 1,
	    "max-connections-per-address: missing argument" },
	{ "max-connections-per-address soft",
	    "max-connections-per-address 64 soft\n", 0, 1,
	    "max-connections-per-address: expected \"hard\" or nothing "
	    "after the number, not \"soft\"" },
	{ "max-connections-per-address HARD",
	    "max-connections-per-address 64 HARD\n", 0, 1,
	    "not \"HARD\"" },
	{ "max-connections-per-address hard first",
	    "max-connections-per-address hard 64\n", 0, 1,
	    "max-connections-per-address: \"hard\" is invalid" },
	{ "max-connections-per-address hard alone",
	    "max-connections-per-address hard\n", 0, 1,
	    "max-connections-per-address: \"hard\" is invalid" },
	{ "max-connections-per-address a word after hard",
	    "max-connections-per-address 64 hard now\n", 0, 1,
	    "max-connections-per-address: unexpected \"now\"" },
	{ "max-connections-per-address 16385",
	    "max-connections-per-address 16385 hard\n", 0, 1,
	    "max-connections-per-address: \"16385\" is too large "
	    "(allowed: 0 to 16384)" },
	{ "max-connections-per-address -1",
	    "max-connections-per-address -1\n", 0, 1,
	    "max-connections-per-address: \"-1\" is too small" },
	{ "max-connections-per-address twice",
	    "max-connections-per-address 64\n"
	    "max-connections-per-address 8 hard\n", 0, 2,
	    "max-connections-per-address: already set on line 1" },
	{ "accept-strategy unknown", "accept-strategy fcntl\n", 0, 1,
	    "accept-strategy: expected \"poll\" or \"epoll\", not "
	    "\"fcntl\"" },
	{ "accept-strategy missing", "accept-strategy\n", 0, 1,
	    "accept-strategy: missing argument" },
	{ "accept-strategy twice", "accept-strategy epoll\n"
	    "accept-strategy poll\n", 0, 2,
	    "accept-strategy: already set on line 1" },
	{ "sandbox maybe", "sandbox maybe\n", 0, 1,
	    "sandbox: expected \"yes\" or \"no\", not \"maybe\"" },
	{ "sandbox twice", "sandbox no\nsandbox no\n", 0, 2,
	    "sandbox: already set on line 1" },
#ifndef HAVE_SECCOMP
	{ "sandbox yes without libseccomp", "sandbox yes\n", 0, 1,
	    "sandbox: this echod was built without libseccomp" },
#endif
	{ "core-limit empty unit", "core-limit k\n", 0, 1,
	    "core-limit: expected a size in bytes (with k, m or g) or "
	    "\"unlimited\", not \"k\"" },
	{ "core-limit unknown unit", "core-limit 5t\n", 0, 1,
	    "core-limit: \"5t\" is invalid" },
	{ "core-limit negative", "core-limit -1\n", 0, 1,
	    "core-limit: \"-1\" is too small" },
	{ "core-limit over 1 TiB", "core-limit 1025g\n", 0, 1,
	    "core-limit: \"1025\" is too large (allowed: 0 to 1024)" },
	{ "core-limit missing", "core-limit\n", 0, 1,
	    "core-limit: missing argument" },
	{ "chroot relative", "chroot var/empty\n", 0, 1,
	    "chroot: \"var/empty\" is not an absolute path" },
	{ "chroot missing", "chroot /no/such/dir/for/echod\n", 0, 1,
	    "chroot: /no/such/dir/for/echod: No such file or directory" },
	{ "chroot not a directory", "chroot /etc/passwd\n", 0, 1,
	    "chroot: /etc/passwd: not a directory" },
	{ "chroot writable by everyone", "chroot /tmp\n", 0, 1,
	    "chroot: /tmp: writable by everyone" },
	{ "chroot twice", "chroot /\nchroot /\n", 0, 2,
	    "chroot: already set on line 1" },
	{ "chroot without user", "chroot /\nprefork 2\n", 0, 1,
	    "chroot: needs a \"user\" line too, or the workers would keep "
	    "root, which can leave a chroot" },
	{ "chroot with user root", "prefork 2\nchroot /\nuser root\n", 0, 2,
	    "chroot: needs a \"user\" other than root, which can leave a "
	    "chroot" },
	{ "pidfile relative", "pidfile echod.pid\n", 0, 1,
	    "pidfile: \"echod.pid\" is not an absolute path" },
	{ "pidfile with a blank first", "pidfile \" /tmp/x\"\n", 0, 1,
	    "pidfile: \" /tmp/x\" is not an absolute path" },
	{ "unknown user", "user no-such-user-for-echod\n", 0, 1,
	    "user: unknown user \"no-such-user-for-echod\"" },
	{ "unknown group", "user root\ngroup no-such-group-for-echod\n", 0,
	    2, "group: unknown group \"no-such-group-for-echod\"" },
	{ "group without user",
	    "prefork 2\n\ngroup root\ndrain-timeout 5\n", 0, 3,
	    "group: needs a \"user\" line too" },
	{ "syslog without \"facility\"", "syslog level daemon\n", 0, 1,
	    "syslog: expected \"syslog facility NAME\"" },
	{ "unknown facility", "syslog facility local8\n", 0, 1,
	    "syslog: unknown facility \"local8\"" },
	{ "facilities are case-sensitive", "syslog facility Daemon\n", 0, 1,
	    "syslog: unknown facility \"Daemon\"" },
	{ "unterminated quote", "prefork 2\npidfile \"/tmp/x\nprefork 3\n",
	    0, 2, "unterminated quoted string" },
	{ "unterminated quote at the end of the file", "pidfile \"/tmp/x",
	    0, 1, "unterminated quoted string" },
	{ "escaped quote does not close", "pidfile \"/tmp/x\\\"\n", 0, 1,
	    "unterminated quoted string" },
	{ "quote followed by a non-blank", "pidfile \"/tmp/x\"y\n", 0, 1,
	    "a blank must follow a quoted string" },
	{ "empty quote followed by a non-blank", "pidfile \"\"y\n", 0, 1,
	    "a blank must follow a quoted string" },
	{ "quote inside a word", "pidfile /tmp/x\"y\"\n", 0, 1,
	    "a quote inside a word" },
	{ "quote at the end of a word", "prefork 4\"\n", 0, 1,
	    "a quote inside a word" },
	{ "empty quoted string", "pidfile \"\"\n", 0, 1,
	    "empty quoted string" },
	{ "seventeen words",
	    "a b c d e f g h i j k l m n o p q\n", 0, 1,
	    "too many words on one line" },
	{ "seventeen words, a keyword first",
	    "prefork 4\nlisten on * port 2000 a b c d e f g h i j k l\n", 0, 2,
	    "too many words on one line" },
	{ "NUL byte in a line", WITH_LEN("prefork 4\nprefork\0 4\n"), 2,
	    "NUL byte in line" },
	{ "NUL byte in a comment", WITH_LEN("\n\n# a\0b\n"), 3,
	    "NUL byte in line" },
	{ "error on line 5",
	    "# echod.conf\n\nlisten on * port 2000\n\tprefork 8\n"
	    "drain-timeout 86401\nsyslog facility daemon\n", 0, 5,
	    "drain-timeout: \"86401\" is too large" },
	{ "error after CRLF lines", "prefork 4\r\ndrain-timeout x\r\n", 0, 2,
	    "drain-timeout: \"x\" is invalid" },
};

/*
 * listen_addr_equal() decides which sockets a reload keeps, so it must
 * look at the address alone: never at the line or the name.
 */
static const struct equal_case {
	const char	*name;
	const char	*a;	/* "*" or a numeric address */
	in_port_t	 aport;
	const char	*b;
	in_port_t	 bport;
	int		 equal;
} equal_cases[] = {
	{ "wildcard, same port", "*", 2000, "*", 2000, 1 },
	{ "wildcard, other port", "*", 2000, "*", 2001, 0 },
	{ "wildcard and 0.0.0.0", "*", 2000, "0.0.0.0", 2000, 0 },
	{ "wildcard and ::", "*", 2000, "::", 2000, 0 },
	{ "wildcard and 127.0.0.1", "*", 2000, "127.0.0.1", 2000, 0 },
	{ "IPv4, same", "127.0.0.1", 2000, "127.0.0.1", 2000, 1 },
	{ "IPv4, other address", "127.0.0.1", 2000, "127.0.0.2", 2000, 0 },
	{ "IPv4, other port", "127.0.0.1", 2000, "127.0.0.1", 2001, 0 },
	{ "IPv6, same", "::1", 2000, "::1", 2000, 1 },
	{ "IPv6, other port", "::1", 2000, "::1", 2001, 0 },
	{ "IPv4 and IPv6", "0.0.0.0", 2000, "::", 2000, 0 },
	{ "IPv4 and IPv4-mapped IPv6", "127.0.0.1", 2000,
	    "::ffff:127.0.0.1", 2000, 0 },
};

static void
make_addr(struct listen_addr *la, const char *addr, in_port_t port,
    int line)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;

	memset(la, 0, sizeof(*la));
	la->port = port;
	la->line = line;
	/* Unlike the parser's names, so that a name compare would show. */
	snprintf(la->name, sizeof(la->name), "test %s line %d", addr, line);
	if (strcmp(addr, "*") == 0) {
		la->wildcard = 1;
		return;
	}
	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, addr, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		memcpy(&la->ss, &sin, sizeof(sin));
		la->sslen = sizeof(sin);
	} else if (inet_pton(AF_INET6, addr, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(port);
		memcpy(&la->ss, &sin6, sizeof(sin6));
		la->sslen = sizeof(sin6);
	} else
		errx(1, "test bug: bad address %s", addr);
}

/* Both ways round: equality must not depend on the order. */
static void
equal_case(const struct equal_case *ec)
{
	struct listen_addr	 a, b;
	int			 ab, ba;

	make_addr(&a, ec->a, ec->aport, 1);
	make_addr(&b, ec->b, ec->bport, 2);
	ab = listen_addr_equal(&a, &b) != 0;
	ba = listen_addr_equal(&b, &a) != 0;
	if (ab != ec->equal || ba != ec->equal)
		fail("equal(a, b) %d, equal(b, a) %d, expected %d", ab, ba,
		    ec->equal);
}

/* An address is equal to itself, whatever it is. */
static void
t_equal_self(void)
{
	struct listen_addr	 la;

	make_addr(&la, "*", 2000, 1);
	if (!listen_addr_equal(&la, &la))
		fail("wildcard not equal to itself");
	make_addr(&la, "::1", 2000, 1);
	if (!listen_addr_equal(&la, &la))
		fail("::1 not equal to itself");
}

/*
 * config_load(), on real files in a directory of our own.
 */

static char	 tmpdir[] = "/tmp/config_test.XXXXXX";

static void
write_file(const char *path, const char *text)
{
	FILE	*fp;

	if ((fp = fopen(path, "w")) == NULL)
		err(1, "%s", path);
	if (fputs(text, fp) == EOF || fclose(fp) == EOF)
		err(1, "%s", path);
}

static void
t_load_missing(void)
{
	struct config	*conf;
	char		 path[256], want[512], errbuf[1024];

	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	if ((conf = config_load(path, errbuf, sizeof(errbuf))) != NULL) {
		fail("loaded a missing file");
		config_free(conf);
		return;
	}
	check_string("error", errbuf, want);
}

static void
t_load_file(void)
{
	struct config	*conf;
	char		 path[256], errbuf[1024];

	snprintf(path, sizeof(path), "%s/good.conf", tmpdir);
	write_file(path, "prefork 9\nlisten on 127.0.0.1 port 2001\n");
	conf = config_load(path, errbuf, sizeof(errbuf));
	unlink(path);
	if (conf == NULL) {
		fail("refused: %s", errbuf);
		return;
	}
	check_string("path", conf->path, path);
	check_int("prefork", conf->prefork, 9);
	check_literal(conf, 0, AF_INET, "127.0.0.1", 2001, "127.0.0.1:2001",
	    2);
	config_free(conf);
}

/* Errors in a loaded file name the file by the path it was given. */
static void
t_load_error(void)
{
	struct config	*conf;
	char		 path[256], want[512], errbuf[1024];

	snprintf(path, sizeof(path), "%s/bad.conf", tmpdir);
	write_file(path, "prefork 9\n\nprefork 0\n");
	conf = config_load(path, errbuf, sizeof(errbuf));
	unlink(path);
	if (conf != NULL) {
		fail("accepted prefork given twice");
		config_free(conf);
		return;
	}
	snprintf(want, sizeof(want), "%s:3: prefork: already set on line 1",
	    path);
	check_string("error", errbuf, want);
}

/*
 * A FIFO, a directory, a device: refused at once, by what they are.
 * Opening a FIFO used to wait for a writer forever; the alarm makes a
 * return of that a failure (the test dies) rather than a hang.
 */
static void
not_a_file(const char *path, const char *what)
{
	struct config	*conf;
	char		 want[512], errbuf[1024];

	snprintf(want, sizeof(want), "%s: %s, not a regular file", path,
	    what);
	alarm(10);
	conf = config_load(path, errbuf, sizeof(errbuf));
	alarm(0);
	if (conf != NULL) {
		fail("loaded %s", what);
		config_free(conf);
		return;
	}
	check_string("error", errbuf, want);
}

static void
t_load_fifo(void)
{
	char	 path[256];

	snprintf(path, sizeof(path), "%s/fifo.conf", tmpdir);
	if (mkfifo(path, 0644) == -1)
		err(1, "mkfifo %s", path);
	not_a_file(path, "a FIFO");
	unlink(path);
}

static void
t_load_directory(void)
{
	not_a_file(tmpdir, "a directory");
}

static void
t_load_device(void)
{
	not_a_file("/dev/null", "a character device");
}

/*
 * A stream that cannot be read (one opened for writing only) must be
 * an error, not an empty and so valid file.  Its line is not checked:
 * conf.c names the last line it did read, here the nonexistent 0.
 */
static void
t_read_error(void)
{
	struct config	*conf;
	FILE		*fp;
	char		 buf[64], errbuf[1024];

	if ((fp = fmemopen(buf, sizeof(buf), "w")) == NULL)
		err(1, "fmemopen");
	conf = config_parse(fp, NAME, errbuf, sizeof(errbuf));
	fclose(fp);
	if (conf != NULL) {
		fail("an unreadable stream parsed as a configuration");
		config_free(conf);
		return;
	}
	if (strncmp(errbuf, NAME ":", strlen(NAME ":")) != 0 ||
	    strstr(errbuf, ": read error") == NULL)
		fail("error \"%s\", expected \"%s:N: read error\"", errbuf,
		    NAME);
}

/*
 * The message is cut to the buffer it is given, and still ends in a
 * NUL.  The buffer is exactly that long, so valgrind sees any overrun.
 */
static void
t_short_errbuf(void)
{
	struct config	*conf;
	char		*errbuf;

	if ((errbuf = malloc(8)) == NULL)
		err(1, "malloc");
	if ((conf = parse("prefork 0\n", 0, errbuf, 8)) != NULL) {
		fail("accepted prefork 0");
		config_free(conf);
	} else
		check_string("error", errbuf, "test.co");
	free(errbuf);
}

static void
t_free_null(void)
{
	/* Callers free whatever config_parse() returned, NULL included. */
	config_free(NULL);
}

/*
 * Out of memory at each allocation in turn (as far as the injection
 * reaches, see alloc_fail_at): each must give an error, and nothing
 * may leak, which valgrind checks.  No "user" or "group": getpwnam()
 * may go through NSS modules that call strdup() themselves, and then an
 * injected failure would land there instead.
 */
static void
t_out_of_memory(void)
{
	struct config	*conf;
	char		 errbuf[1024];
	int		 n;

	for (n = 1; n < 100; n++) {
		alloc_calls = 0;
		alloc_fail_at = n;
		conf = parse("pidfile /tmp/oom.pid\n"
		    "listen on 127.0.0.1 port 2001\n"
		    "listen on ::1 port 2002\n", 0, errbuf, sizeof(errbuf));
		alloc_fail_at = 0;
		if (alloc_calls < n) {
			/* Every allocation has had its turn. */
			if (conf == NULL)
				fail("refused with no failed allocation: %s",
				    errbuf);
			else if (n < 5)
				fail("only %d allocations seen", n - 1);
			config_free(conf);
			return;
		}
		if (conf != NULL) {
			fail("allocation %d failed, yet parsed", n);
			config_free(conf);
			return;
		}
		if (strncmp(errbuf, NAME ":", strlen(NAME ":")) != 0 ||
		    strstr(errbuf, "out of memory") == NULL) {
			fail("allocation %d: error \"%s\"", n, errbuf);
			return;
		}
	}
	fail("more than 100 allocations");
}

int
main(void)
{
	char	 name[128];
	size_t	 i;

	/* A line per failure must not sit in a buffer if we crash. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (mkdtemp(tmpdir) == NULL)
		err(1, "mkdtemp");

	run("empty file gives the defaults", t_empty);
	run("comments only give the defaults", t_only_comments);
	run("every keyword", t_every_keyword);
	run("comments, blank lines, CRLF and tabs", t_layout);
	run("comment right after a word", t_comment_after_word);
	run("no newline at the end", t_no_final_newline);
	run("quoted word with blanks and #", t_quoted_blank_hash);
	run("quoted word with escapes", t_quoted_escapes);
	run("quoted keyword, number and address", t_quoted_anywhere);
	run("several listen lines", t_several_listens);
	run("bracketed IPv6", t_bracketed_ipv6);
	run("localhost", t_localhost);
	run("proxy-protocol", t_proxy_protocol);
	run("udp", t_udp);
	run("wildcards and literals side by side", t_wildcards);
	run("error: an address twice, once through a name",
	    t_name_duplicate);
	run("user root", t_user_root);
	run("user nobody, group nogroup", t_user_nobody_group_nogroup);
	run("group before user wins", t_group_before_user);
	run("group after user wins", t_group_after_user);
	run("chroot with user nobody", t_chroot_user);
	for (i = 0; i < sizeof(number_cases) / sizeof(number_cases[0]); i++) {
		begin(number_cases[i].name);
		number_case(&number_cases[i]);
		end();
	}
	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++) {
		snprintf(name, sizeof(name), "syslog facility %s",
		    facilities[i].name);
		begin(name);
		facility_case(facilities[i].name, facilities[i].value);
		end();
	}
	run("facility_name of an unknown facility", t_facility_unknown);
	run("sandbox and core-limit", t_containment);
	run("metrics listen on", t_metrics);
	run("max-connections-per-address, with and without hard",
	    t_per_address);

	for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		snprintf(name, sizeof(name), "error: %s", error_cases[i].name);
		begin(name);
		expect_error(error_cases[i].text, error_cases[i].len,
		    error_cases[i].line, error_cases[i].msg);
		end();
	}

	for (i = 0; i < sizeof(equal_cases) / sizeof(equal_cases[0]); i++) {
		snprintf(name, sizeof(name), "listen_addr_equal: %s",
		    equal_cases[i].name);
		begin(name);
		equal_case(&equal_cases[i]);
		end();
	}
	run("listen_addr_equal: itself", t_equal_self);

	run("config_load: missing file", t_load_missing);
	run("config_load: a file", t_load_file);
	run("config_load: error names the path", t_load_error);
	run("config_load: a FIFO", t_load_fifo);
	run("config_load: a directory", t_load_directory);
	run("config_load: a device", t_load_device);
	run("read error", t_read_error);
	run("error cut to a short buffer", t_short_errbuf);
	run("config_free(NULL)", t_free_null);
	run("out of memory", t_out_of_memory);

	if (rmdir(tmpdir) == -1)
		warn("rmdir %s", tmpdir);

	printf("config_test: %d cases, %d failed", ncases, nfailed);
	if (nskipped > 0)
		printf(", %d skipped", nskipped);
	printf("\n");
	return nfailed == 0 ? 0 : 1;
}

/*
 * The out-of-memory injection (see alloc_fail_at).  Our own code calls
 * neither, so that the count is conf.c's alone.
 */
char *
strdup(const char *s)
{
	char	*copy;
	size_t	 len;

	if (++alloc_calls == alloc_fail_at) {
		errno = ENOMEM;
		return NULL;
	}
	len = strlen(s) + 1;
	if ((copy = malloc(len)) != NULL)
		memcpy(copy, s, len);
	return copy;
}

void *
reallocarray(void *ptr, size_t nmemb, size_t size)
{
	if (++alloc_calls == alloc_fail_at) {
		errno = ENOMEM;
		return NULL;
	}
	if (size != 0 && nmemb > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(ptr, nmemb * size);
}
