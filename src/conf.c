/*
 * The echod.conf(5) parser.
 *
 * The format is line-oriented: a keyword and its arguments, separated by
 * blanks; "#" starts a comment; a word may be put in double quotes to
 * hold blanks or "#".  Every error names the file, the line and what is
 * wrong, and the first error ends the parse: echod never runs with a
 * configuration that it only partly understood.
 *
 * Names (users, groups, hosts) are resolved here, while parsing, so that
 * "echod -n" and a reload catch a misspelt name before anything changes.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "conf.h"

#define MAX_WORDS	16

struct keyword;

struct parser {
	const char	*name;		/* file name, for messages */
	int		 line;
	char		*err;
	size_t		 errlen;
	struct config	*conf;
	int		 user_line;	/* where "user" was, 0 if nowhere */
	int		 group_line;
	int		 chroot_line;
	int		 control_socket_line;
	int		 control_group_line;
};

struct keyword {
	const char	*name;
	int		 nargs;		/* exact count; -1: checked by parse */
	int		 (*parse)(struct parser *, const struct keyword *, int,
			    char **);
	/* For numbers (parse_int): the range and the field it sets. */
	long long	 min, max;
	size_t		 field;
};

static int	parse_listen(struct parser *, const struct keyword *, int,
		    char **);
static int	parse_int(struct parser *, const struct keyword *, int,
		    char **);
static int	parse_pidfile(struct parser *, const struct keyword *, int,
		    char **);
static int	parse_user(struct parser *, const struct keyword *, int,
		    char **);
static int	parse_group(struct parser *, const struct keyword *, int,
		    char **);
static int	parse_syslog(struct parser *, const struct keyword *, int,
		    char **);
static int	parse_control(struct parser *, const struct keyword *, int,
		    char **);
static int	parse_chroot(struct parser *, const struct keyword *, int,
		    char **);
static int	parse_sandbox(struct parser *, const struct keyword *, int,
		    char **);
static int	parse_core_limit(struct parser *, const struct keyword *,
		    int, char **);
static int	parse_accept(struct parser *, const struct keyword *, int,
		    char **);
static int	parse_per_address(struct parser *, const struct keyword *,
		    int, char **);
static int	parse_onoff(struct parser *, const struct keyword *, int,
		    char **);
static int	parse_udp_rate(struct parser *, const struct keyword *, int,
		    char **);
static int	parse_metrics(struct parser *, const struct keyword *,
		    int, char **);

#define INT_FIELD(f)	offsetof(struct config, f)

int	 config_resolve_names = 1;

static const struct keyword keywords[] = {
	{ "listen",		-1,	parse_listen,	0, 0, 0 },
	{ "prefork",		1,	parse_int,
	    1, MAX_WORKERS_LIMIT,	INT_FIELD(prefork) },
	{ "min-spare",		1,	parse_int,
	    0, MAX_WORKERS_LIMIT,	INT_FIELD(min_spare) },
	{ "max-spare",		1,	parse_int,
	    1, MAX_WORKERS_LIMIT,	INT_FIELD(max_spare) },
	{ "max-workers",	1,	parse_int,
	    1, MAX_WORKERS_LIMIT,	INT_FIELD(max_workers) },
	{ "max-connections-per-worker", 1, parse_int,
	    0, 1000000000,		INT_FIELD(max_conns_per_worker) },
	{ "max-connections-per-address", -1, parse_per_address,
	    0, MAX_WORKERS_LIMIT,	INT_FIELD(max_conns_per_address) },
	{ "backlog",		1,	parse_int,
	    1, 65535,			INT_FIELD(backlog) },
	{ "idle-timeout",	1,	parse_int,
	    0, MAX_SECONDS,		INT_FIELD(idle_timeout) },
	{ "drain-timeout",	1,	parse_int,
	    0, MAX_SECONDS,		INT_FIELD(drain_timeout) },
	{ "pidfile",		1,	parse_pidfile,	0, 0, 0 },
	{ "user",		1,	parse_user,	0, 0, 0 },
	{ "chroot",		1,	parse_chroot,	0, 0, 0 },
	{ "group",		1,	parse_group,	0, 0, 0 },
	{ "syslog",		2,	parse_syslog,	0, 0, 0 },
	{ "control",		2,	parse_control,	0, 0, 0 },
	{ "sandbox",		1,	parse_sandbox,	0, 0, 0 },
	{ "core-limit",		1,	parse_core_limit, 0, 0, 0 },
	{ "accept-strategy",	1,	parse_accept,	0, 0, 0 },
	{ "udp-workers",	1,	parse_int,
	    1, MAX_UDP_WORKERS,		INT_FIELD(udp_workers) },
	{ "udp-receive-buffer",	1,	parse_int,
	    0, MAX_UDP_RCVBUF,		INT_FIELD(udp_rcvbuf) },
	{ "udp-guard",		1,	parse_onoff,
	    0, 1,			INT_FIELD(udp_guard) },
	{ "udp-guard-ports-below", 1,	parse_int,
	    0, 65535,			INT_FIELD(udp_guard_below) },
	{ "udp-rate",		2,	parse_udp_rate,	0, 0, 0 },
	{ "udp-total-rate",	1,	parse_int,
	    0, 100000000,		INT_FIELD(udp_total_pps) },
	{ "metrics",		-1,	parse_metrics,	0, 0, 0 },
};
#define NKEYWORDS	(sizeof(keywords) / sizeof(keywords[0]))

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

/*
 * accept-strategy's words, indexed by ACCEPT_*.  Stevens' accept locks
 * (an fcntl() record lock, a process-shared mutex) were measured too,
 * and left out: BENCHMARKS.md, "Accept strategies".
 */
static const char *const accept_strategies[] = { "poll", "epoll" };

static int	perror_at(struct parser *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));

/* Record the first error as "FILE:LINE: message"; always returns -1. */
static int
perror_at(struct parser *p, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "%s:%d: %s", p->name, p->line, msg);
	return -1;
}

/*
 * One UDP worker per CPU: each blocks in recvmmsg() on the shared
 * socket, and the kernel wakes one per datagram, so more than the CPUs
 * only wait their turn.
 */
static int
default_udp_workers(void)
{
	long	 n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > MAX_UDP_WORKERS ? MAX_UDP_WORKERS : (int)n;
}

static struct config *
config_new(void)
{
	struct config	*conf;

	if ((conf = calloc(1, sizeof(*conf))) == NULL)
		return NULL;
	conf->prefork = DEFAULT_PREFORK;
	conf->min_spare = DEFAULT_MIN_SPARE;
	conf->max_spare = DEFAULT_MAX_SPARE;
	conf->max_workers = DEFAULT_MAX_WORKERS;
	conf->backlog = DEFAULT_BACKLOG;
	conf->idle_timeout = DEFAULT_IDLE_TIMEOUT;
	conf->max_conns_per_address = DEFAULT_MAX_PER_ADDRESS;
	conf->drain_timeout = DEFAULT_DRAIN_TIMEOUT;
	conf->syslog_facility = LOG_DAEMON;
	conf->sandbox = DEFAULT_SANDBOX;
	conf->core_limit = 0;
	conf->accept_strategy = DEFAULT_ACCEPT;
	conf->udp_workers = default_udp_workers();
	conf->udp_guard = 1;
	conf->udp_guard_below = DEFAULT_UDP_GUARD_BELOW;
	conf->udp_rate_pps = DEFAULT_UDP_RATE_PPS;
	conf->udp_rate_bps = DEFAULT_UDP_RATE_BPS;
	conf->udp_total_pps = DEFAULT_UDP_TOTAL_PPS;
	if ((conf->pidfile = strdup(DEFAULT_PIDFILE)) == NULL ||
	    (conf->control_path = strdup(DEFAULT_CONTROL)) == NULL) {
		free(conf->pidfile);
		free(conf);
		return NULL;
	}
	return conf;
}

void
config_free(struct config *conf)
{
	if (conf == NULL)
		return;
	free(conf->path);
	free(conf->listens);
	free(conf->pidfile);
	free(conf->user);
	free(conf->group);
	free(conf->control_path);
	free(conf->control_group);
	free(conf->chroot_dir);
	free(conf);
}

/* A number in [min, max], or an error naming the keyword. */
static int
parse_number(struct parser *p, const char *keyword, const char *word,
    long long min, long long max, long long *value)
{
	const char	*errstr;

	*value = strtonum(word, min, max, &errstr);
	if (errstr != NULL)
		return perror_at(p, "%s: \"%s\" is %s (allowed: %lld to %lld)",
		    keyword, word, errstr, min, max);
	return 0;
}

/* How many of the listen lines' addresses are UDP ones. */
size_t
config_count_udp(const struct config *conf)
{
	size_t	 i, n = 0;

	for (i = 0; i < conf->nlistens; i++)
		n += conf->listens[i].udp != 0;
	return n;
}

int
listen_addr_equal(const struct listen_addr *a, const struct listen_addr *b)
{
	if (a->udp != b->udp)
		return 0;
	if (a->wildcard || b->wildcard)
		return a->wildcard == b->wildcard && a->port == b->port;
	return a->sslen == b->sslen && memcmp(&a->ss, &b->ss, a->sslen) == 0;
}

/* The unspecified address of a family: 0.0.0.0 or ::. */
static int
is_unspecified(const struct listen_addr *la)
{
	const struct sockaddr_in	*sin = (const void *)&la->ss;
	const struct sockaddr_in6	*sin6 = (const void *)&la->ss;

	if (la->ss.ss_family == AF_INET)
		return sin->sin_addr.s_addr == htonl(INADDR_ANY);
	return la->ss.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

/*
 * Whether two addresses on one port cannot both be bound: "*" covers
 * every address, 0.0.0.0 every IPv4 address and :: every IPv6 address.
 * Found here, "echod -n" reports it instead of the bind at start-up.
 */
static int
listen_addr_overlap(const struct listen_addr *a, const struct listen_addr *b)
{
	if (a->port != b->port || a->udp != b->udp)
		return 0;
	if (a->wildcard || b->wildcard)
		return 1;
	if (a->ss.ss_family != b->ss.ss_family)
		return 0;
	return is_unspecified(a) || is_unspecified(b);
}

static int
add_listen_addr(struct parser *p, const struct listen_addr *la)
{
	struct config		*conf = p->conf;
	struct listen_addr	*grown;
	size_t			 i;

	for (i = 0; i < conf->nlistens; i++) {
		if (listen_addr_equal(&conf->listens[i], la))
			return perror_at(p, "listen: %s is already configured "
			    "on line %d", la->name, conf->listens[i].line);
		if (listen_addr_overlap(&conf->listens[i], la))
			return perror_at(p, "listen: %s overlaps %s on line %d",
			    la->name, conf->listens[i].name,
			    conf->listens[i].line);
	}
	grown = reallocarray(conf->listens, conf->nlistens + 1,
	    sizeof(*conf->listens));
	if (grown == NULL)
		return perror_at(p, "out of memory");
	conf->listens = grown;
	conf->listens[conf->nlistens++] = *la;
	return 0;
}

/*
 * listen on ADDRESS port PORT [proxy-protocol | udp]
 *
 * "udp" makes it a datagram socket, echoed by the UDP workers; a TCP
 * and a UDP listener may share an address and port.
 *
 * The flag belongs to the configuration, not to the socket: a reload
 * that adds or drops it keeps the very same socket (listen_addr_equal()
 * looks at the address alone), and the new generation of workers reads
 * the header while the old one, draining, does not.
 */
static int
parse_listen(struct parser *p, const struct keyword *kw, int argc,
    char **argv)
{
	struct addrinfo		 hints, *res, *ai;
	struct listen_addr	 la;
	const char		*host;
	char			 hostbuf[256];
	long long		 port;
	size_t			 len;
	int			 error;

	if (argc < 5 || argc > 6 || strcmp(argv[1], "on") != 0 ||
	    strcmp(argv[3], "port") != 0 ||
	    (argc == 6 && strcmp(argv[5], "proxy-protocol") != 0 &&
	    strcmp(argv[5], "udp") != 0))
		return perror_at(p, "listen: expected \"listen on ADDRESS "
		    "port PORT [proxy-protocol | udp]\"");
	if (parse_number(p, "listen: port", argv[4], 1, 65535, &port) == -1)
		return -1;

	memset(&la, 0, sizeof(la));
	la.port = port;
	la.line = p->line;
	la.proxy_protocol = argc == 6 && strcmp(argv[5], "proxy-protocol") == 0;
	la.udp = argc == 6 && strcmp(argv[5], "udp") == 0;
	(void)kw;
	host = argv[2];
	if (strcmp(host, "*") == 0) {
		la.wildcard = 1;
		snprintf(la.name, sizeof(la.name), "*:%lld%s", port,
		    la.udp ? "/udp" : "");
		return add_listen_addr(p, &la);
	}

	/* Accept an IPv6 literal in brackets too, as it is printed. */
	len = strlen(host);
	if (host[0] == '[' && len > 2 && host[len - 1] == ']' &&
	    len - 2 < sizeof(hostbuf)) {
		memcpy(hostbuf, host + 1, len - 2);
		hostbuf[len - 2] = '\0';
		host = hostbuf;
	}

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | (config_resolve_names ? 0 : AI_NUMERICHOST);
	if ((error = getaddrinfo(host, NULL, &hints, &res)) != 0)
		return perror_at(p, "listen: cannot resolve \"%s\": %s",
		    argv[2], gai_strerror(error));

	error = 0;
	for (ai = res; ai != NULL && error == 0; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(la.ss))
			continue;
		memset(&la.ss, 0, sizeof(la.ss));
		memcpy(&la.ss, ai->ai_addr, ai->ai_addrlen);
		la.sslen = ai->ai_addrlen;
		if (ai->ai_family == AF_INET)
			((struct sockaddr_in *)&la.ss)->sin_port = htons(port);
		else
			((struct sockaddr_in6 *)&la.ss)->sin6_port =
			    htons(port);
		addr_format((struct sockaddr *)&la.ss, la.sslen, la.name,
		    sizeof(la.name));
		if (la.udp)
			strlcat(la.name, "/udp", sizeof(la.name));
		/* A name may resolve to one address twice (per protocol). */
		if (p->conf->nlistens > 0 && listen_addr_equal(&la,
		    &p->conf->listens[p->conf->nlistens - 1]) &&
		    p->conf->listens[p->conf->nlistens - 1].line == p->line)
			continue;
		error = add_listen_addr(p, &la);
	}
	freeaddrinfo(res);
	return error;
}

/*
 * metrics listen on ADDRESS port PORT: the HTTP endpoint of the metrics
 * process (metricsd.c), on the first address ADDRESS resolves to; "*"
 * is every IPv4 address.
 */
static int
parse_metrics(struct parser *p, const struct keyword *kw, int argc,
    char **argv)
{
	struct addrinfo		 hints, *res;
	struct listen_addr	*la = &p->conf->metrics;
	const char		*host;
	long long		 port;
	int			 error;

	(void)kw;
	if (argc != 6 || strcmp(argv[1], "listen") != 0 ||
	    strcmp(argv[2], "on") != 0 || strcmp(argv[4], "port") != 0)
		return perror_at(p, "metrics: expected \"metrics listen on "
		    "ADDRESS port PORT\"");
	if (parse_number(p, "metrics: port", argv[5], 1, 65535, &port) == -1)
		return -1;
	host = strcmp(argv[3], "*") == 0 ? "0.0.0.0" : argv[3];
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | (config_resolve_names ? 0 : AI_NUMERICHOST);
	if ((error = getaddrinfo(host, NULL, &hints, &res)) != 0)
		return perror_at(p, "metrics: cannot resolve \"%s\": %s",
		    argv[3], gai_strerror(error));
	if ((res->ai_family != AF_INET && res->ai_family != AF_INET6) ||
	    res->ai_addrlen > sizeof(la->ss)) {
		freeaddrinfo(res);
		return perror_at(p, "metrics: \"%s\" is not an IP address",
		    argv[3]);
	}
	memset(la, 0, sizeof(*la));
	memcpy(&la->ss, res->ai_addr, res->ai_addrlen);
	la->sslen = res->ai_addrlen;
	freeaddrinfo(res);
	if (la->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&la->ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&la->ss)->sin6_port = htons(port);
	la->port = port;
	la->line = p->line;
	addr_format((struct sockaddr *)&la->ss, la->sslen, la->name,
	    sizeof(la->name));
	p->conf->metrics_on = 1;
	return 0;
}

/* KEYWORD N, for every keyword whose argument is one number. */
static int
parse_int(struct parser *p, const struct keyword *kw, int argc, char **argv)
{
	long long	 n;

	(void)argc;
	if (parse_number(p, kw->name, argv[1], kw->min, kw->max, &n) == -1)
		return -1;
	*(int *)((char *)p->conf + kw->field) = n;
	return 0;
}

/*
 * max-connections-per-address N [hard]: without "hard", N binds only
 * while the pool is near max-workers (worker.c, over_address_limit()).
 */
static int
parse_per_address(struct parser *p, const struct keyword *kw, int argc,
    char **argv)
{
	if (argc < 2)
		return perror_at(p, "%s: missing argument", kw->name);
	if (argc > 3)
		return perror_at(p, "%s: unexpected \"%s\"", kw->name,
		    argv[3]);
	if (parse_int(p, kw, argc, argv) == -1)
		return -1;
	if (argc == 3 && strcmp(argv[2], "hard") != 0)
		return perror_at(p, "%s: expected \"hard\" or nothing after "
		    "the number, not \"%s\"", kw->name, argv[2]);
	p->conf->max_conns_per_address_hard = argc == 3;
	return 0;
}

/* udp-guard yes | no, and its like: into the keyword's int field. */
static int
parse_onoff(struct parser *p, const struct keyword *kw, int argc,
    char **argv)
{
	int	*field = (int *)((char *)p->conf + kw->field);

	(void)argc;
	if (strcmp(argv[1], "yes") == 0)
		*field = 1;
	else if (strcmp(argv[1], "no") == 0)
		*field = 0;
	else
		return perror_at(p, "%s: expected \"yes\" or \"no\", not "
		    "\"%s\"", kw->name, argv[1]);
	return 0;
}

/*
 * udp-rate DATAGRAMS BYTES: what one source address may be answered,
 * per second (0: no limit of that kind).
 */
static int
parse_udp_rate(struct parser *p, const struct keyword *kw, int argc,
    char **argv)
{
	long long	 pps, bps;

	(void)kw;
	(void)argc;
	if (parse_number(p, "udp-rate: datagrams per second", argv[1], 0,
	    100000000, &pps) == -1 ||
	    parse_number(p, "udp-rate: bytes per second", argv[2], 0,
	    1000000000, &bps) == -1)
		return -1;
	p->conf->udp_rate_pps = pps;
	p->conf->udp_rate_bps = bps;
	return 0;
}

/* pidfile PATH */
static int
parse_pidfile(struct parser *p, const struct keyword *kw, int argc,
    char **argv)
{
	(void)kw;
	(void)argc;
	/* A daemon works from "/": a relative path would move. */
	if (argv[1][0] != '/')
		return perror_at(p, "pidfile: \"%s\" is not an absolute path",
		    argv[1]);
	free(p->conf->pidfile);
	if ((p->conf->pidfile = strdup(argv[1])) == NULL)
		return perror_at(p, "out of memory");
	return 0;
}

/* user NAME */
static int
parse_user(struct parser *p, const struct keyword *kw, int argc, char **argv)
{
	struct passwd	*pw;

	(void)kw;
	(void)argc;
	errno = 0;
	if ((pw = getpwnam(argv[1])) == NULL)
		return perror_at(p, "user: unknown user \"%s\"", argv[1]);
	if ((p->conf->user = strdup(argv[1])) == NULL)
		return perror_at(p, "out of memory");
	p->conf->uid = pw->pw_uid;
	/* The user's own group, unless a "group" line says otherwise. */
	if (p->group_line == 0)
		p->conf->gid = pw->pw_gid;
	p->user_line = p->line;
	return 0;
}

/* group NAME */
static int
parse_group(struct parser *p, const struct keyword *kw, int argc,
    char **argv)
{
	struct group	*gr;

	(void)kw;
	(void)argc;
	errno = 0;
	if ((gr = getgrnam(argv[1])) == NULL)
		return perror_at(p, "group: unknown group \"%s\"", argv[1]);
	if ((p->conf->group = strdup(argv[1])) == NULL)
		return perror_at(p, "out of memory");
	p->conf->gid = gr->gr_gid;
	p->group_line = p->line;
	return 0;
}

/* sandbox yes | no */
static int
parse_sandbox(struct parser *p, const struct keyword *kw, int argc,
    char **argv)
{
	(void)kw;
	(void)argc;
	if (strcmp(argv[1], "no") == 0) {
		p->conf->sandbox = 0;
		return 0;
	}
	if (strcmp(argv[1], "yes") != 0)
		return perror_at(p, "sandbox: expected \"yes\" or \"no\", "
		    "not \"%s\"", argv[1]);
#ifndef HAVE_SECCOMP
	return perror_at(p, "sandbox: this echod was built without "
	    "libseccomp; say \"sandbox no\"");
#else
	p->conf->sandbox = 1;
	return 0;
#endif
}

/* "unlimited", or bytes with an optional k, m or g (powers of 1024). */
static int
parse_core_limit(struct parser *p, const struct keyword *kw, int argc,
    char **argv)
{
	char		 digits[32];
	const char	*arg = argv[1];
	size_t		 len = strlen(arg);
	long long	 n, unit = 1;

	(void)argc;
	if (strcmp(arg, "unlimited") == 0) {
		p->conf->core_limit = -1;
		return 0;
	}
	if (len > 0 && len < sizeof(digits)) {
		switch (arg[len - 1]) {
		case 'k': case 'K': unit = 1LL << 10; break;
		case 'm': case 'M': unit = 1LL << 20; break;
		case 'g': case 'G': unit = 1LL << 30; break;
		}
	}
	if (len == 0 || len >= sizeof(digits) || (unit > 1 && len == 1))
		return perror_at(p, "core-limit: expected a size in bytes "
		    "(with k, m or g) or \"unlimited\", not \"%s\"", arg);
	memcpy(digits, arg, len + 1);
	if (unit > 1)
		digits[len - 1] = '\0';
	/* Up to 1 TiB, whatever the unit: plenty for one worker's core. */
	if (parse_number(p, kw->name, digits, 0, (1LL << 40) / unit, &n) ==
	    -1)
		return -1;
	p->conf->core_limit = n * unit;
	return 0;
}

/* accept-strategy poll | epoll */
static int
parse_accept(struct parser *p, const struct keyword *kw, int argc,
    char **argv)
{
	size_t	 i;

	(void)kw;
	(void)argc;
	for (i = 0; i < sizeof(accept_strategies) /
	    sizeof(accept_strategies[0]); i++) {
		if (strcmp(argv[1], accept_strategies[i]) == 0) {
			p->conf->accept_strategy = i;
			return 0;
		}
	}
	return perror_at(p, "accept-strategy: expected \"poll\" or "
	    "\"epoll\", not \"%s\"", argv[1]);
}

/* syslog facility NAME */
static int
parse_syslog(struct parser *p, const struct keyword *kw, int argc,
    char **argv)
{
	size_t	 i;

	(void)kw;
	(void)argc;
	if (strcmp(argv[1], "facility") != 0)
		return perror_at(p, "syslog: expected \"syslog facility "
		    "NAME\"");
	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++) {
		if (strcmp(argv[2], facilities[i].name) == 0) {
			p->conf->syslog_facility = facilities[i].value;
			return 0;
		}
	}
	return perror_at(p, "syslog: unknown facility \"%s\"", argv[2]);
}

/*
 * chroot DIRECTORY: the workers' root.  Like OpenSSH's ChrootDirectory,
 * it must belong to root and be writable by nobody else, or a worker's
 * user could plant files in its own prison.
 */
static int
parse_chroot(struct parser *p, const struct keyword *kw, int argc,
    char **argv)
{
	struct stat	 st;

	(void)kw;
	(void)argc;
	if (argv[1][0] != '/')
		return perror_at(p, "chroot: \"%s\" is not an absolute path",
		    argv[1]);
	if (stat(argv[1], &st) == -1)
		return perror_at(p, "chroot: %s: %s", argv[1],
		    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return perror_at(p, "chroot: %s: not a directory", argv[1]);
	if (st.st_uid != 0)
		return perror_at(p, "chroot: %s: owned by uid %lu, not root",
		    argv[1], (unsigned long)st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return perror_at(p, "chroot: %s: writable by %s (mode %03o)",
		    argv[1], st.st_mode & S_IWOTH ? "everyone" : "its group",
		    (unsigned)(st.st_mode & 0777));
	if ((p->conf->chroot_dir = strdup(argv[1])) == NULL)
		return perror_at(p, "out of memory");
	p->chroot_line = p->line;
	return 0;
}

/* control socket PATH, control group NAME */
static int
parse_control(struct parser *p, const struct keyword *kw, int argc,
    char **argv)
{
	struct group	*gr;
	int		*line;

	(void)kw;
	(void)argc;
	if (strcmp(argv[1], "socket") == 0)
		line = &p->control_socket_line;
	else if (strcmp(argv[1], "group") == 0)
		line = &p->control_group_line;
	else
		return perror_at(p, "control: expected \"control socket "
		    "PATH\" or \"control group NAME\"");
	if (*line != 0)
		return perror_at(p, "control %s: already set on line %d",
		    argv[1], *line);
	*line = p->line;

	if (line == &p->control_socket_line) {
		/* A UNIX socket's path must fit in sun_path. */
		if (argv[2][0] != '/' || strlen(argv[2]) >= 100)
			return perror_at(p, "control socket: \"%s\" is not "
			    "an absolute path of under 100 bytes", argv[2]);
		free(p->conf->control_path);
		if ((p->conf->control_path = strdup(argv[2])) == NULL)
			return perror_at(p, "out of memory");
		return 0;
	}
	errno = 0;
	if ((gr = getgrnam(argv[2])) == NULL)
		return perror_at(p, "control group: unknown group \"%s\"",
		    argv[2]);
	if ((p->conf->control_group = strdup(argv[2])) == NULL)
		return perror_at(p, "out of memory");
	p->conf->control_gid = gr->gr_gid;
	return 0;
}

const char *
facility_name(int facility)
{
	size_t	 i;

	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (facilities[i].value == facility)
			return facilities[i].name;
	return "?";
}

const char *
accept_strategy_name(int strategy)
{
	if (strategy < 0 || (size_t)strategy >= sizeof(accept_strategies) /
	    sizeof(accept_strategies[0]))
		return "?";
	return accept_strategies[strategy];
}

/*
 * Split a line into words in place.  Blanks separate words, "#" outside
 * quotes ends the line, and "..." is one word in which \" and \\ stand
 * for themselves.  Returns the number of words, or -1 after an error.
 */
static int
split_words(struct parser *p, char *line, char **words)
{
	char	*in = line, *out;
	int	 n = 0;

	for (;;) {
		while (*in == ' ' || *in == '\t' || *in == '\r' ||
		    *in == '\n')
			in++;
		if (*in == '\0' || *in == '#')
			return n;
		if (n == MAX_WORDS)
			return perror_at(p, "too many words on one line");
		words[n++] = out = in;
		if (*in == '"') {
			for (in++; *in != '"'; in++) {
				if (*in == '\0' || *in == '\n')
					return perror_at(p, "unterminated "
					    "quoted string");
				if (*in == '\\' && (in[1] == '"' ||
				    in[1] == '\\'))
					in++;
				*out++ = *in;
			}
			in++;
			if (*in != '\0' && *in != ' ' && *in != '\t' &&
			    *in != '\r' && *in != '\n' && *in != '#')
				return perror_at(p, "a blank must follow a "
				    "quoted string");
			if (out == words[n - 1])
				return perror_at(p, "empty quoted string");
		} else {
			while (*in != '\0' && *in != ' ' && *in != '\t' &&
			    *in != '\r' && *in != '\n' && *in != '#') {
				if (*in == '"')
					return perror_at(p, "a quote inside "
					    "a word");
				in++;
			}
			out = in;
		}
		if (*in == '#') {
			*out = '\0';
			return n;
		}
		if (*in != '\0')
			in++;
		*out = '\0';
	}
}

static int
parse_line(struct parser *p, char *line, int *seen)
{
	char	*words[MAX_WORDS];
	size_t	 i;
	int	 n;

	if ((n = split_words(p, line, words)) <= 0)
		return n;

	for (i = 0; i < NKEYWORDS; i++)
		if (strcmp(words[0], keywords[i].name) == 0)
			break;
	if (i == NKEYWORDS)
		return perror_at(p, "unknown keyword \"%s\"", words[0]);
	if (keywords[i].nargs >= 0 && n - 1 < keywords[i].nargs)
		return perror_at(p, "%s: missing argument", words[0]);
	if (keywords[i].nargs >= 0 && n - 1 > keywords[i].nargs)
		return perror_at(p, "%s: unexpected \"%s\"", words[0],
		    words[keywords[i].nargs + 1]);
	/*
	 * Every keyword but "listen" may be given once ("control" checks
	 * each of its two forms itself).
	 */
	if (keywords[i].parse != parse_listen &&
	    keywords[i].parse != parse_control) {
		if (seen[i] != 0)
			return perror_at(p, "%s: already set on line %d",
			    words[0], seen[i]);
		seen[i] = p->line;
	}
	return keywords[i].parse(p, &keywords[i], n, words);
}

static int
keyword_line(const int *seen, const char *name)
{
	size_t	 i;

	for (i = 0; i < NKEYWORDS; i++)
		if (strcmp(keywords[i].name, name) == 0)
			return seen[i];
	return 0;
}

/*
 * Two settings, each valid, that contradict each other when small is
 * more than large.  The error is put on the line of whichever of the two
 * was written last.
 */
static int
no_more_than(struct parser *p, const int *seen, const char *small_kw,
    int small, const char *large_kw, int large)
{
	int	 a, b;

	if (small <= large)
		return 0;
	a = keyword_line(seen, small_kw);
	b = keyword_line(seen, large_kw);
	p->line = a > b ? a : b;
	return perror_at(p, "%s %d is more than %s %d", small_kw, small,
	    large_kw, large);
}

static int
check_pool(struct parser *p, const int *seen)
{
	const struct config	*c = p->conf;

	if (no_more_than(p, seen, "prefork", c->prefork, "max-workers",
	    c->max_workers) == -1 ||
	    no_more_than(p, seen, "min-spare", c->min_spare, "max-spare",
	    c->max_spare) == -1 ||
	    no_more_than(p, seen, "min-spare", c->min_spare, "max-workers",
	    c->max_workers) == -1)
		return -1;
	return 0;
}

struct config *
config_parse(FILE *fp, const char *name, char *err, size_t errlen)
{
	struct parser	 p;
	struct listen_addr defaults;
	char		*line = NULL;
	size_t		 linesize = 0;
	ssize_t		 len;
	int		 seen[NKEYWORDS] = { 0 };
	int		 rc = 0;

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.err = err;
	p.errlen = errlen;
	if ((p.conf = config_new()) == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	while (rc == 0 && (len = getline(&line, &linesize, fp)) != -1) {
		p.line++;
		if ((size_t)len != strlen(line))
			rc = perror_at(&p, "NUL byte in line");
		else
			rc = parse_line(&p, line, seen);
	}
	if (rc == 0 && ferror(fp))
		rc = perror_at(&p, "read error: %s", strerror(errno));
	free(line);

	if (rc == 0)
		rc = check_pool(&p, seen);
	if (rc == 0 && p.group_line != 0 && p.user_line == 0) {
		p.line = p.group_line;
		rc = perror_at(&p, "group: needs a \"user\" line too");
	}
	/*
	 * A worker that kept root could leave its chroot (chroot() again,
	 * then chdir("..")): the directory would only seem to hold it.  The
	 * same file is refused whoever runs echod, so that "echod -n" as
	 * anyone tells what root's echod will say.
	 */
	if (rc == 0 && p.chroot_line != 0 &&
	    (p.user_line == 0 || p.conf->uid == 0)) {
		p.line = p.chroot_line;
		rc = perror_at(&p, p.user_line == 0 ?
		    "chroot: needs a \"user\" line too, or the workers "
		    "would keep root, which can leave a chroot" :
		    "chroot: needs a \"user\" other than root, which can "
		    "leave a chroot");
	}
	if (rc == 0 && p.conf->nlistens == 0) {
		/* Like net.Listen("tcp", ":2000"): every address, both IPs. */
		memset(&defaults, 0, sizeof(defaults));
		defaults.wildcard = 1;
		defaults.port = DEFAULT_PORT;
		snprintf(defaults.name, sizeof(defaults.name), "*:%d",
		    DEFAULT_PORT);
		rc = add_listen_addr(&p, &defaults);
	}
	if (rc == 0 && (p.conf->path = strdup(name)) == NULL)
		rc = perror_at(&p, "out of memory");
	if (rc != 0) {
		config_free(p.conf);
		return NULL;
	}
	return p.conf;
}

static const char *
file_type(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISSOCK(mode))
		return "a socket";
	return "of an unknown type";
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct config	*conf;
	struct stat	 st;
	FILE		*fp;
	int		 fd;

	/*
	 * Not blocking: opening a FIFO for reading would wait for a writer,
	 * forever for "echod -n" and in the master's loop for a reload.
	 * The descriptor, not the name, is then looked at, so what is read
	 * is what was checked.
	 */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) ==
	    -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: %s, not a regular file", path,
		    file_type(st.st_mode));
		close(fd);
		return NULL;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	/*
	 * Whoever can write the file can choose the user the workers run
	 * as: like sshd, refuse a file that anyone but root (or the user
	 * echod runs as) can change.
	 */
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: owned by uid %lu, neither root nor "
		    "the user echod runs as; refusing it", path,
		    (unsigned long)st.st_uid);
		fclose(fp);
		return NULL;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "%s: writable by %s (mode %03o); "
		    "refusing it", path, st.st_mode & S_IWOTH ? "everyone" :
		    "its group", (unsigned)(st.st_mode & 0777));
		fclose(fp);
		return NULL;
	}
	conf = config_parse(fp, path, err, errlen);
	fclose(fp);
	return conf;
}
