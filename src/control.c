/*
 * The control socket: what echodctl(8) talks to.
 *
 * A UNIX stream socket, served by the master's own loop: the master
 * never blocks on it.  Its sockets are non-blocking and polled with the
 * rest; a command is one short line; the answer is built in memory and
 * written as fast as the client reads it; a client that has not sent
 * its command, or not read its answer, within CONTROL_TIMEOUT_MS is
 * dropped; at most CONTROL_CLIENTS_MAX are served at once.  So a slow
 * or hostile client cannot delay reaping, reloads or a stop.
 *
 * Access: the socket file is mode 0660, owned by root and the "control
 * group", so the kernel refuses anyone else at connect(); the master
 * checks again with SO_PEERCRED and SO_PEERGROUPS, and requires root
 * (or the user echod itself runs as) for the commands that change
 * something (reload, stop).  The group is the one the socket was
 * created with: a reload does not change it, as it does not change the
 * file.
 *
 * Protocol: the client sends "COMMAND [-g] [json]\n".  The first line
 * of the answer is "ok" or "error: WHY"; the rest is the answer itself,
 * for people or, with "json", one JSON object.  Then the master closes.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"

#define CONTROL_TIMEOUT_MS	5000
#define CONTROL_RELOAD_MS	10000	/* for the new generation to start */

static int
bind_control(int fd, const struct sockaddr_un *sun)
{
	return bind(fd, (const struct sockaddr *)sun, sizeof(*sun));
}

/*
 * Create the control socket, before the master daemonizes so that an
 * error reaches the terminal.  A socket file nobody listens on is left
 * by a master that was killed: it is replaced.  One that answers belongs
 * to a running echod: that is an error.
 */
int
control_open(struct control *ctl, const struct config *conf, char *err,
    size_t errlen)
{
	struct sockaddr_un	 sun;
	size_t			 i;
	int			 fd = -1, probe, saved;

	memset(ctl, 0, sizeof(*ctl));
	ctl->fd = -1;
	for (i = 0; i < CONTROL_CLIENTS_MAX; i++)
		ctl->clients[i].fd = -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, conf->control_path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket %s: path too long",
		    conf->control_path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (bind_control(fd, &sun) == -1) {
		if (errno != EADDRINUSE)
			goto fail;
		if ((probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0))
		    == -1)
			goto fail;
		if (connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(probe);
			close(fd);
			snprintf(err, errlen, "control socket %s: another echod "
			    "is listening on it", conf->control_path);
			return -1;
		}
		saved = errno;
		close(probe);
		if (saved != ECONNREFUSED) {
			errno = saved;
			goto fail;
		}
		/* Stale: its master is gone. */
		if (unlink(conf->control_path) == -1 ||
		    bind_control(fd, &sun) == -1)
			goto fail;
	}
	if (chmod(conf->control_path, 0660) == -1 ||
	    (geteuid() == 0 && chown(conf->control_path, 0,
	    conf->control_group ? conf->control_gid : 0) == -1) ||
	    listen(fd, 16) == -1)
		goto fail;
	ctl->fd = fd;
	strlcpy(ctl->path, conf->control_path, sizeof(ctl->path));
	ctl->has_group = conf->control_group != NULL;
	ctl->gid = conf->control_gid;
	return 0;
fail:
	snprintf(err, errlen, "control socket %s: %s", conf->control_path,
	    strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

static void
client_close(struct control_client *c)
{
	close(c->fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

void
control_close(struct control *ctl)
{
	size_t	 i;

	for (i = 0; i < CONTROL_CLIENTS_MAX; i++)
		if (ctl->clients[i].fd != -1)
			client_close(&ctl->clients[i]);
	if (ctl->fd != -1) {
		close(ctl->fd);
		unlink(ctl->path);
		ctl->fd = -1;
	}
}

/* In a new worker: none of this is its business. */
void
control_forget(struct control *ctl)
{
	size_t	 i;

	for (i = 0; i < CONTROL_CLIENTS_MAX; i++)
		if (ctl->clients[i].fd != -1)
			close(ctl->clients[i].fd);
	if (ctl->fd != -1)
		close(ctl->fd);
}

void
out_printf(struct control_client *c, const char *fmt, ...)
{
	va_list	 ap;
	char	*grown;
	int	 n;
	size_t	 need;

	if (c->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(c->out ? c->out + c->outlen : NULL,
		    c->out ? c->outcap - c->outlen : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (c->out != NULL && c->outlen + n < c->outcap) {
			c->outlen += n;
			return;
		}
		need = c->outlen + n + 1;
		need = need < 4096 ? 4096 : need * 2;
		if ((grown = realloc(c->out, need)) == NULL) {
			/* No half answer: the client is told, and no more. */
			static char	 oom[] = "error: out of memory\n";

			if (c->out != NULL && c->outcap > sizeof(oom)) {
				memcpy(c->out, oom, sizeof(oom) - 1);
				c->outlen = sizeof(oom) - 1;
			} else
				c->outlen = 0;
			c->oom = 1;
			return;
		}
		c->out = grown;
		c->outcap = need;
	}
}

/* A string as a JSON string, with the few escapes a path may need. */
void
out_json_string(struct control_client *c, const char *s)
{
	out_printf(c, "\"");
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			out_printf(c, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			out_printf(c, "\\u%04x", (unsigned char)*s);
		else
			out_printf(c, "%c", *s);
	}
	out_printf(c, "\"");
}

/* Root, or the user echod runs as: may change things too. */
static int
peer_is_owner(const struct ucred *cred)
{
	return cred->uid == 0 || cred->uid == geteuid();
}

/*
 * Whether the peer of the accepted connection fd may use the socket: an
 * owner, or in the control group.  SO_PEERCRED names the primary group
 * only; the supplementary ones come from SO_PEERGROUPS (Linux 4.13), the
 * kernel's copy of the peer's groups at connect(), not from
 * /proc/PID/status, whose pid may by then be another process's and
 * whose "Groups:" line has no length limit.  A buffer too small for the
 * list fails with ERANGE and the length needed: asked again with that.
 */
static int
peer_allowed(const struct control *ctl, int fd, const struct ucred *cred)
{
	static int	 warned;
	gid_t		*groups = NULL, *grown;
	socklen_t	 len = 64 * sizeof(gid_t);
	size_t		 i;
	int		 found = 0;

	if (peer_is_owner(cred))
		return 1;
	if (!ctl->has_group)
		return 0;
	if (cred->gid == ctl->gid)
		return 1;
	for (;;) {
		if ((grown = realloc(groups, len)) == NULL)
			break;
		groups = grown;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups,
		    &len) == 0) {
			for (i = 0; i < len / sizeof(gid_t); i++)
				if (groups[i] == ctl->gid)
					found = 1;
			break;
		}
		if (errno != ERANGE) {
			/* Before Linux 4.13: the primary group only. */
			if (!warned)
				log_warn("control socket: SO_PEERGROUPS (a "
				    "member by a supplementary group is "
				    "refused)");
			warned = 1;
			break;
		}
	}
	free(groups);
	return found;
}

static void
accept_clients(struct master *m, int64_t now)
{
	struct control		*ctl = &m->ctl;
	struct control_client	*c;
	struct ucred		 cred;
	socklen_t		 len;
	size_t			 i;
	int			 fd;

	for (;;) {
		for (i = 0; i < CONTROL_CLIENTS_MAX; i++)
			if (ctl->clients[i].fd == -1)
				break;
		if (i == CONTROL_CLIENTS_MAX)
			return;		/* the rest wait in the backlog */
		fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			/*
			 * Out of descriptors or memory: the clients wait in
			 * the backlog while the listener is left alone for a
			 * moment, or ppoll() would return at once for them.
			 */
			ctl->paused_until = now + 100;
			if (ctl->warned == 0 || now - ctl->warned >= 60000) {
				log_warn("control socket: accept (logged once "
				    "a minute at most)");
				ctl->warned = now;
			}
			return;
		}
		c = &ctl->clients[i];
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->pfd_index = -1;
		c->deadline = now + CONTROL_TIMEOUT_MS;
		/*
		 * Refused clients are told so once their command has come:
		 * closing with their command unread would reset the
		 * connection, and they would never see why.
		 */
		len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
			c->allowed = peer_allowed(ctl, fd, &cred);
			c->root = peer_is_owner(&cred);
		}
	}
}

static void
run_command(struct master *m, struct control_client *c, int64_t now)
{
	char	*argv[4], *p, err[1024];
	int	 argc = 0, json = 0, graceful = 0, i;

	/* Fresh: workers stamp their times after the loop read its clock. */
	now = scoreboard_now();

	c->in[c->inlen] = '\0';
	for (p = strtok(c->in, " \t\r\n"); p != NULL && argc < 4;
	    p = strtok(NULL, " \t\r\n"))
		argv[argc++] = p;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "json") == 0)
			json = 1;
		else if (strcmp(argv[i], "-g") == 0)
			graceful = 1;
		else {
			out_printf(c, "error: unexpected \"%s\"\n", argv[i]);
			c->answered = 1;
			return;
		}
	}
	c->answered = 1;
	if (!c->allowed)
		out_printf(c, "error: permission denied (root or the control "
		    "group only)\n");
	else if (argc == 0)
		out_printf(c, "error: no command\n");
	else if (strcmp(argv[0], "status") == 0 ||
	    strcmp(argv[0], "workers") == 0) {
		out_printf(c, "ok\n");
		report_status(m, c, argv[0][0] == 'w', json, now);
	} else if (strcmp(argv[0], "conns") == 0) {
		out_printf(c, "ok\n");
		report_conns(m, c, json, now);
	} else if (strcmp(argv[0], "reload") == 0 ||
	    strcmp(argv[0], "stop") == 0) {
		if (!c->root)
			out_printf(c, "error: permission denied: %s needs "
			    "root\n", argv[0]);
		else if (argv[0][0] == 's') {
			begin_stop(m, !graceful, graceful ? "echodctl stop -g" :
			    "echodctl stop", now);
			out_printf(c, "ok: %s stop\n", m->stop == STOP_FAST ?
			    "fast" : "graceful");
		} else if (m->stop != RUNNING)
			out_printf(c, "error: stopping\n");
		else if (master_reload(m, now, err, sizeof(err)) == -1)
			out_printf(c, "error: %s\n", err);
		else {
			/* Answered once the new generation serves. */
			c->answered = 0;
			c->reload_generation = m->generation;
			c->deadline = now + CONTROL_RELOAD_MS;
		}
	} else
		out_printf(c, "error: unknown command \"%s\"\n", argv[0]);
}

/* A reload is done when all of the new generation's workers have started. */
static void
check_reload(struct master *m, struct control_client *c, int64_t now)
{
	size_t	 ready;

	if (m->generation != c->reload_generation) {
		c->answered = 1;
		out_printf(c, "ok: generation %u was replaced by generation "
		    "%u\n", c->reload_generation, m->generation);
		return;
	}
	ready = pool_serving(m);
	if (ready >= (size_t)m->conf->prefork) {
		c->answered = 1;
		out_printf(c, "ok: generation %u serving with %zu workers\n",
		    m->generation, ready);
	} else if (now >= c->deadline) {
		c->answered = 1;
		out_printf(c, "error: generation %u has %zu of %d workers "
		    "serving after %d s\n", m->generation, ready,
		    m->conf->prefork, CONTROL_RELOAD_MS / 1000);
	}
}

/*
 * Serve the control socket after a ppoll(): pfd[] are the descriptors
 * control_pollfds() asked for, in the same order.
 */
void
control_service(struct master *m, const struct pollfd *pfd, size_t npfd,
    int64_t now)
{
	struct control		*ctl = &m->ctl;
	struct control_client	*c;
	size_t			 i, k = 0;
	ssize_t			 n;

	if (ctl->fd == -1)
		return;
	if (npfd > 0 && (pfd[k++].revents & POLLIN))
		accept_clients(m, now);

	for (i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		c = &ctl->clients[i];
		if (c->fd == -1)
			continue;
		/* Gone altogether (a half-close is no reason to leave). */
		if (c->pfd_index >= 0 && (size_t)c->pfd_index < npfd &&
		    (pfd[c->pfd_index].revents & (POLLHUP | POLLERR))) {
			client_close(c);
			continue;
		}
		if (!c->answered && c->reload_generation == 0 &&
		    c->inlen < sizeof(c->in) - 1) {
			n = read(c->fd, c->in + c->inlen,
			    sizeof(c->in) - 1 - c->inlen);
			if (n == 0 || (n == -1 && errno != EAGAIN &&
			    errno != EINTR)) {
				client_close(c);
				continue;
			}
			if (n > 0)
				c->inlen += n;
			if (memchr(c->in, '\n', c->inlen) != NULL)
				run_command(m, c, now);
			else if (c->inlen == sizeof(c->in) - 1) {
				out_printf(c, "error: command too long\n");
				c->answered = 1;
			}
		}
		if (c->reload_generation != 0 && !c->answered)
			check_reload(m, c, now);
		if (c->answered && c->outoff < c->outlen) {
			n = write(c->fd, c->out + c->outoff,
			    c->outlen - c->outoff);
			if (n > 0)
				c->outoff += n;
			else if (n == -1 && errno != EAGAIN && errno != EINTR) {
				client_close(c);
				continue;
			}
		}
		if ((c->answered && c->outoff >= c->outlen) ||
		    now >= c->deadline)
			client_close(c);
	}
}

/*
 * The descriptors ppoll() should watch for the control socket, and the
 * soonest client deadline (or INT64_MAX).
 */
size_t
control_pollfds(struct control *ctl, struct pollfd *pfd, int64_t now,
    int64_t *deadline)
{
	struct control_client		*c;
	size_t				 i, n = 0;

	*deadline = INT64_MAX;
	if (ctl->fd == -1)
		return 0;
	/*
	 * With every slot taken, new clients wait in the backlog: the
	 * listening socket is not polled, or ppoll() would return at once
	 * for them on every turn.
	 */
	pfd[n].fd = ctl->fd;
	pfd[n].events = 0;
	for (i = 0; i < CONTROL_CLIENTS_MAX; i++)
		if (ctl->clients[i].fd == -1)
			pfd[n].events = POLLIN;
	if (now < ctl->paused_until) {
		pfd[n].events = 0;
		*deadline = ctl->paused_until;
	}
	pfd[n++].revents = 0;
	for (i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		c = &ctl->clients[i];
		if (c->fd == -1)
			continue;
		/*
		 * Waiting for its reload, a client is polled for nothing:
		 * its half-close must not make ppoll() return on every
		 * turn; a hang-up is reported regardless.
		 */
		pfd[n].fd = c->fd;
		pfd[n].events = c->answered ? POLLOUT :
		    c->reload_generation != 0 ? 0 : POLLIN;
		pfd[n].revents = 0;
		c->pfd_index = n++;
		if (c->deadline < *deadline)
			*deadline = c->deadline;
		/* A pending reload is looked at every 20 ms. */
		if (c->reload_generation != 0 && !c->answered &&
		    *deadline > now + 20)
			*deadline = now + 20;
	}
	return n;
}
