/*
 * The metrics process: "metrics listen on ADDRESS port PORT" (off by
 * default) serves the exposition of metrics.c over HTTP, for Prometheus.
 *
 * Parsing requests from the network never happens in the master, which
 * keeps root: as in OpenBSD's privilege separation, the master only
 * binds the socket, then forks a process of its own for it, which
 * gives up root (to "user", or to nobody), enters the workers' seccomp
 * sandbox, and reads the scoreboard through its read-only mapping
 * alone (scoreboard.c): nothing it is made to do can change what the
 * master or the workers act on.  The master watches it through a pidfd
 * in its ppoll() and starts it again when it dies, after a delay that
 * grows while it keeps dying young.
 *
 * It answers GET /metrics and nothing else, one request per
 * connection, with bounds on everything a client can hold: the request
 * (METRICS_REQUEST_MAX bytes), the time to send it and to read the
 * answer, and the clients at once (METRICS_CLIENTS: when all are taken,
 * a new one replaces the oldest, so that clients that never finish
 * cannot lock out a scrape).
 */

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "conf.h"
#include "coverage.h"
#include "log.h"
#include "metrics.h"
#include "metricsd.h"
#include "privdrop.h"
#include "sandbox.h"
#include "scoreboard.h"
#include "title.h"

#define METRICS_CLIENTS		16
#define METRICS_REQUEST_MAX	4096
#define METRICS_READ_MS		2000	/* to send the request */
#define METRICS_WRITE_MS	5000	/* to read the answer */
#define METRICS_BACKLOG		128
/* Restarts: at once after a long life, else after a growing delay. */
#define RESTART_DELAY_MIN_MS	100
#define RESTART_DELAY_MAX_MS	30000
#define RESTART_HEALTHY_MS	10000

/* The master's side. */
static int	 listen_fd = -1;
static int	 inherited_fd = -1;	/* from an old master, to match */
static pid_t	 child;
static int	 child_pidfd = -1;
static int64_t	 child_started;
static int64_t	 next_start;
static int64_t	 restart_delay = RESTART_DELAY_MIN_MS;

/*
 * A live upgrade (upgrade.c): the socket the old master's metrics
 * process serves, handed to this new master, which matches it to its
 * own "metrics listen on" in metricsd_listen().
 */
void
metricsd_inherit(int fd)
{
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		log_warn("metrics: fcntl");
	inherited_fd = fd;
}

/* The metrics socket, for an upgrade to hand over; -1: none. */
int
metricsd_fd(void)
{
	return listen_fd;
}

/* Whether fd is a TCP socket listening on exactly the address of la. */
static int
names(int fd, const struct listen_addr *la)
{
	struct sockaddr_storage		 ss;
	const struct sockaddr_in	*sin = (const void *)&ss;
	const struct sockaddr_in6	*sin6 = (const void *)&ss;
	const struct sockaddr_in	*lsin = (const void *)&la->ss;
	const struct sockaddr_in6	*lsin6 = (const void *)&la->ss;
	socklen_t			 len = sizeof(ss);
	int				 v, type;

	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    ss.ss_family != la->ss.ss_family)
		return 0;
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_STREAM)
		return 0;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == -1 || !v)
		return 0;
	if (ss.ss_family == AF_INET)
		return sin->sin_port == lsin->sin_port &&
		    sin->sin_addr.s_addr == lsin->sin_addr.s_addr;
	return sin6->sin6_port == lsin6->sin6_port &&
	    sin6->sin6_scope_id == lsin6->sin6_scope_id &&
	    IN6_ARE_ADDR_EQUAL(&sin6->sin6_addr, &lsin6->sin6_addr);
}

/*
 * The master binds the endpoint at start-up, as root (a port below 1024
 * is allowed), and keeps it for the metrics processes to come.  Nothing
 * to do without "metrics listen on".  After a live upgrade, the old
 * master's socket is kept if the configuration still names its address,
 * so that both masters' metrics processes accept on the one socket and
 * no scrape is refused while they change over; otherwise it is closed,
 * and the configured address bound as at any start.
 */
int
metricsd_listen(const struct config *conf)
{
	const struct listen_addr	*la = &conf->metrics;
	int				 one = 1;

	if (inherited_fd != -1) {
		if (conf->metrics_on && names(inherited_fd, la)) {
			listen_fd = inherited_fd;
			inherited_fd = -1;
			log_info("metrics on http://%s/metrics (the old "
			    "master's socket)", la->name);
			return 0;
		}
		log_info("upgrade: the old master's metrics socket is no "
		    "longer configured; closed");
		close(inherited_fd);
		inherited_fd = -1;
	}
	if (!conf->metrics_on)
		return 0;
	if ((listen_fd = socket(la->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		log_warn("metrics: socket");
		return -1;
	}
	if (setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1 ||
	    bind(listen_fd, (const struct sockaddr *)&la->ss, la->sslen) ==
	    -1 || listen(listen_fd, METRICS_BACKLOG) == -1) {
		log_warn("metrics listen on %s", la->name);
		close(listen_fd);
		listen_fd = -1;
		return -1;
	}
	log_info("metrics on http://%s/metrics", la->name);
	return 0;
}

/*
 * In a worker, after fork(): the metrics socket and the metrics
 * process are none of its business.
 */
void
metricsd_forget(void)
{
	if (listen_fd != -1)
		close(listen_fd);
	if (child_pidfd != -1)
		close(child_pidfd);
	listen_fd = child_pidfd = -1;
	child = 0;
}

/* The pidfd to wait on, or the time of the next start (INT64_MAX: none). */
int
metricsd_pollfd(struct pollfd *pfd, int64_t now, int64_t *deadline)
{
	(void)now;
	*deadline = INT64_MAX;
	if (listen_fd == -1)
		return 0;
	if (child == 0) {
		*deadline = next_start;
		return 0;
	}
	pfd->fd = child_pidfd;
	pfd->events = POLLIN;
	pfd->revents = 0;
	return 1;
}

static void	serve(const struct config *) __attribute__((__noreturn__));

static void
start(const struct config *conf, int64_t now, metricsd_child_hook *hook,
    void *arg)
{
	pid_t	 pid, master = getpid();
	int	 fd;

	switch (pid = fork()) {
	case -1:
		log_warn("metrics: fork");
		next_start = now + RESTART_DELAY_MAX_MS;
		return;
	case 0:
		/* A master that is gone leaves no metrics behind. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 ||
		    getppid() != master)
			_exit(1);
		if (hook != NULL)
			hook(arg);
		serve(conf);
		/* NOTREACHED */
	}
	/*
	 * A pidfd becomes readable when the process ends, whoever reaps
	 * it (the pool's waitpid(-1) does): the master hears of the death
	 * in its ppoll(), never waiting.  The child cannot have been
	 * reaped yet: reaping happens in the master's loop, not here.
	 */
	if ((fd = syscall(SYS_pidfd_open, pid, 0)) == -1) {
		log_warn("metrics: pidfd_open");
		kill(pid, SIGKILL);
		next_start = now + RESTART_DELAY_MAX_MS;
		return;
	}
	child = pid;
	child_pidfd = fd;
	child_started = now;
	log_debug("metrics process %ld started", (long)pid);
}

/*
 * Once per turn of the master's loop: a metrics process that has died
 * is noted, and one is started when none runs and its time has come.
 */
void
metricsd_service(const struct config *conf, const struct pollfd *pfd,
    int64_t now, metricsd_child_hook *hook, void *arg)
{
	if (listen_fd == -1)
		return;
	if (child != 0 && pfd != NULL && (pfd->revents & (POLLIN | POLLHUP |
	    POLLERR))) {
		close(child_pidfd);
		child_pidfd = -1;
		if (now - child_started >= RESTART_HEALTHY_MS)
			restart_delay = RESTART_DELAY_MIN_MS;
		else if ((restart_delay *= 2) > RESTART_DELAY_MAX_MS)
			restart_delay = RESTART_DELAY_MAX_MS;
		log_warnx("metrics process %ld ended; restarting it in %lld ms",
		    (long)child, (long long)restart_delay);
		child = 0;
		next_start = now + restart_delay;
	}
	if (child == 0 && now >= next_start)
		start(conf, now, hook, arg);
}

/* The master stops: so does the metrics process. */
void
metricsd_stop(void)
{
	if (child != 0)
		kill(child, SIGTERM);
	if (listen_fd != -1)
		close(listen_fd);
	listen_fd = -1;
}

/* The metrics process's side. */

struct client {
	int64_t		 since;
	int64_t		 deadline;
	size_t		 inlen;
	size_t		 off;
	struct buf	 out;
	int		 fd;		/* -1: free */
	int		 writing;
	char		 in[METRICS_REQUEST_MAX];
};

static struct client		 clients[METRICS_CLIENTS];
static const struct scoreboard	*ro;
static volatile int32_t		 violation;
static volatile sig_atomic_t	 got_sigterm;

static void
on_sigterm(int sig)
{
	(void)sig;
	got_sigterm = 1;
}

static void
drop(struct client *c)
{
	close(c->fd);
	c->fd = -1;
	buf_free(&c->out);
}

static void
answer(struct client *c, const char *status, const char *extra,
    const struct buf *body)
{
	buf_printf(&c->out, "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
	    body != NULL ? "text/plain; version=0.0.4; charset=utf-8" :
	    "text/plain", body != NULL ? body->len : strlen(status) + 1,
	    extra);
	if (body != NULL)
		buf_printf(&c->out, "%.*s", (int)body->len, body->data);
	else
		buf_printf(&c->out, "%s\n", status);
	c->writing = 1;
	c->deadline = clock_ms() + METRICS_WRITE_MS;
}

/*
 * A whole request header has arrived (or the most there is room for):
 * only its first line counts.
 */
static void
respond(struct client *c, int complete)
{
	struct buf	 body;
	const char	*target, *end;

	if (!complete) {
		answer(c, "431 Request Header Fields Too Large", "", NULL);
		return;
	}
	if (strncmp(c->in, "GET ", 4) != 0) {
		if (memchr(c->in, ' ', c->inlen) != NULL &&
		    strstr(c->in, " HTTP/1.") != NULL)
			answer(c, "405 Method Not Allowed", "Allow: GET\r\n",
			    NULL);
		else
			answer(c, "400 Bad Request", "", NULL);
		return;
	}
	target = c->in + 4;
	if ((end = strchr(target, ' ')) == NULL ||
	    strncmp(end, " HTTP/1.", 8) != 0) {
		answer(c, "400 Bad Request", "", NULL);
		return;
	}
	if ((end - target != 8 && target[8] != '?') ||
	    strncmp(target, "/metrics", 8) != 0) {
		answer(c, "404 Not Found", "", NULL);
		return;
	}
	memset(&body, 0, sizeof(body));
	metrics_format(&body, ro);
	if (body.oom)
		answer(c, "503 Service Unavailable", "", NULL);
	else
		answer(c, "200 OK", "", &body);
	buf_free(&body);
}

static void
on_readable(struct client *c)
{
	ssize_t	 n;

	/* One byte kept for the NUL that the parsing relies on. */
	n = read(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		drop(c);
		return;
	}
	c->inlen += n;
	c->in[c->inlen] = '\0';
	if (strstr(c->in, "\r\n\r\n") != NULL || strstr(c->in, "\n\n") !=
	    NULL)
		respond(c, 1);
	else if (c->inlen == sizeof(c->in) - 1)
		respond(c, 0);
}

static void
on_writable(struct client *c)
{
	ssize_t	 n;

	n = write(c->fd, c->out.data + c->off, c->out.len - c->off);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || (c->off += n) == c->out.len)
		drop(c);
}

/* New clients; when all places are taken, the oldest client's is given. */
static void
accept_clients(int lfd, int64_t now)
{
	struct client	*c;
	int		 fd, i, n;

	for (n = 0; n < METRICS_CLIENTS; n++) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC)) == -1)
			return;
		c = &clients[0];
		for (i = 0; i < METRICS_CLIENTS; i++) {
			if (clients[i].fd == -1) {
				c = &clients[i];
				break;
			}
			if (clients[i].since < c->since)
				c = &clients[i];
		}
		if (c->fd != -1)
			drop(c);
		memset(c, 0, offsetof(struct client, in));
		c->fd = fd;
		c->since = now;
		c->deadline = now + METRICS_READ_MS;
		c->in[0] = '\0';
	}
}

/* Root is given up for the configured user, or for nobody. */
static int
give_up_root(const struct config *conf)
{
	struct config	 as_nobody;
	struct passwd	*pw;

	if (privdrop_applies(conf) || geteuid() != 0)
		return privdrop(conf);
	if ((pw = getpwnam("nobody")) == NULL) {
		log_warnx("metrics: no user \"nobody\" to run as; set \"user\"");
		return -1;
	}
	as_nobody = *conf;
	as_nobody.user = pw->pw_name;
	as_nobody.group = NULL;
	as_nobody.uid = pw->pw_uid;
	as_nobody.gid = pw->pw_gid;
	return privdrop(&as_nobody);
}

static void
serve(const struct config *conf)
{
	struct pollfd		 pfd[1 + METRICS_CLIENTS];
	struct sigaction	 sa;
	struct timespec		 ts;
	sigset_t		 none, term;
	int64_t			 now, wait;
	int			 i, busy, lfd = listen_fd;

	title_set("metrics [%s]", conf->metrics.name);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	/*
	 * The master's (a binary upgrade); its handler, inherited, would
	 * need a call the sandbox refuses.  The other stray signals are
	 * ignored since the master's start (signals.c).
	 */
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	/*
	 * SIGTERM (the master stops, hands over to a new master in a live
	 * upgrade, or dies: PR_SET_PDEATHSIG) ends it once the scrapes it
	 * has accepted are answered: with the socket shared by the new
	 * master's metrics process, none is cut, and those still queued
	 * are the new one's.  It waits, blocked, for ppoll() alone: a
	 * SIGTERM just before the wait is not missed.
	 */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_SETMASK, &term, NULL);
	sa.sa_handler = on_sigterm;
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&none);

	/* Only the read-only mapping is left: see scoreboard_create(). */
	ro = scoreboard_readonly();
	if (ro == NULL || scoreboard_drop_writable() == -1) {
		log_warn("metrics: the scoreboard");
		_exit(1);
	}
	if (give_up_root(conf) == -1)
		_exit(1);
#ifdef HAVE_SECCOMP
	if (conf->sandbox && sandbox_enter(&violation) == -1)
		_exit(1);
#endif
	for (i = 0; i < METRICS_CLIENTS; i++)
		clients[i].fd = -1;

	for (;;) {
		now = clock_ms();
		if (got_sigterm && lfd != -1) {
			close(lfd);
			lfd = -1;
		}
		pfd[0].fd = lfd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		wait = METRICS_READ_MS;
		busy = 0;
		for (i = 0; i < METRICS_CLIENTS; i++) {
			struct client *c = &clients[i];

			if (c->fd != -1 && now >= c->deadline)
				drop(c);
			pfd[1 + i].fd = c->fd;
			pfd[1 + i].events = c->writing ? POLLOUT : POLLIN;
			pfd[1 + i].revents = 0;
			if (c->fd != -1) {
				busy = 1;
				if (c->deadline - now < wait)
					wait = c->deadline - now;
			}
		}
		if (lfd == -1 && !busy) {
			coverage_dump();
			_exit(0);
		}
		ts.tv_sec = wait / 1000;
		ts.tv_nsec = (wait % 1000) * 1000000;
		if (ppoll(pfd, 1 + METRICS_CLIENTS, &ts, &none) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("metrics: ppoll");
			_exit(1);
		}
		for (i = 0; i < METRICS_CLIENTS; i++) {
			struct client *c = &clients[i];

			if (c->fd == -1 || pfd[1 + i].revents == 0)
				continue;
			if (c->writing)
				on_writable(c);
			else
				on_readable(c);
			/* Answered at once: most answers fit the buffer. */
			if (c->fd != -1 && c->writing)
				on_writable(c);
		}
		if (lfd != -1 && (pfd[0].revents & POLLIN))
			accept_clients(lfd, clock_ms());
	}
}
