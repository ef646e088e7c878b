/*
 * The control socket: what echodctl(8) talks to.  Transport only: the
 * commands are run by the master's handler (master.c), which this file
 * hands each complete line to.
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
 * An answer may be deferred (echodctl reload waits for the new
 * generation): the client is then polled for nothing until the handler
 * gives the answer with control_answer().
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "control.h"
#include "log.h"

#define CONTROL_TIMEOUT_MS	5000

struct control_client {
	int			 fd;		/* -1: free */
	int			 allowed;	/* may use the socket */
	int			 owner;		/* may change things */
	int			 answered;	/* out holds the answer */
	int			 pfd_index;	/* in ppoll()'s array, or -1 */
	unsigned int		 deferred;	/* the answer's tag, or 0 */
	int64_t			 deadline;	/* ms */
	char			 in[128];
	size_t			 inlen;
	struct buf		 out;
	size_t			 outoff;
};

struct control {
	int			 fd;		/* listening; -1: none */
	char			 path[108];
	int			 has_group;	/* as created */
	gid_t			 gid;
	int64_t			 paused_until;	/* accept failed: ms */
	int64_t			 warned;
	control_handler		*handler;
	void			*handler_arg;
	struct control_client	 clients[CONTROL_CLIENTS_MAX];
};

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
struct control *
control_open(const struct config *conf, char *err, size_t errlen)
{
	struct control		*ctl;
	struct sockaddr_un	 sun;
	size_t			 i;
	int			 fd = -1, probe, saved;

	if ((ctl = calloc(1, sizeof(*ctl))) == NULL) {
		snprintf(err, errlen, "control socket: out of memory");
		return NULL;
	}
	ctl->fd = -1;
	for (i = 0; i < CONTROL_CLIENTS_MAX; i++)
		ctl->clients[i].fd = -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, conf->control_path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket %s: path too long",
		    conf->control_path);
		free(ctl);
		return NULL;
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
			free(ctl);
			return NULL;
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
	return ctl;
fail:
	snprintf(err, errlen, "control socket %s: %s", conf->control_path,
	    strerror(errno));
	if (fd != -1)
		close(fd);
	free(ctl);
	return NULL;
}

/*
 * A live upgrade: the control socket the old master listened on, handed
 * over as descriptor fd (upgrade.c), taken as it is: same file, same
 * owner and mode, and no moment without a listener on it.
 */
struct control *
control_adopt(const struct config *conf, int fd, char *err, size_t errlen)
{
	struct control	*ctl;
	size_t		 i;

	if ((ctl = calloc(1, sizeof(*ctl))) == NULL) {
		snprintf(err, errlen, "control socket: out of memory");
		return NULL;
	}
	for (i = 0; i < CONTROL_CLIENTS_MAX; i++)
		ctl->clients[i].fd = -1;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) == -1) {
		snprintf(err, errlen, "control socket %s: %s",
		    conf->control_path, strerror(errno));
		free(ctl);
		return NULL;
	}
	ctl->fd = fd;
	strlcpy(ctl->path, conf->control_path, sizeof(ctl->path));
	ctl->has_group = conf->control_group != NULL;
	ctl->gid = conf->control_gid;
	return ctl;
}

/* The listening socket, to hand over to a new master. */
int
control_fd(const struct control *ctl)
{
	return ctl->fd;
}

/*
 * Stop accepting on the control socket, and never unlink it: another
 * master listens on the same socket (a live upgrade).  The clients
 * connected already are still answered.
 */
void
control_disown(struct control *ctl)
{
	if (ctl->fd != -1) {
		close(ctl->fd);
		ctl->fd = -1;
	}
}

/* Who runs the commands: the master, once it runs its loop. */
void
control_set_handler(struct control *ctl, control_handler *fn, void *arg)
{
	ctl->handler = fn;
	ctl->handler_arg = arg;
}

static void
client_close(struct control_client *c)
{
	close(c->fd);
	buf_free(&c->out);
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
	free(ctl);
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
accept_clients(struct control *ctl, int64_t now)
{
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
			if (log_due(&ctl->warned, now, 60000))
				log_warn("control socket: accept (logged once "
				    "a minute at most)");
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
			c->owner = peer_is_owner(&cred);
		}
	}
}

/* A whole line has come: the handler answers it, now or later. */
static void
run_command(struct control *ctl, struct control_client *c)
{
	struct control_cmd	 cmd;
	char			*nl;

	c->in[c->inlen] = '\0';
	if ((nl = strchr(c->in, '\n')) != NULL)
		*nl = '\0';
	memset(&cmd, 0, sizeof(cmd));
	cmd.line = c->in;
	cmd.allowed = c->allowed;
	cmd.owner = c->owner;
	cmd.out = &c->out;
	if (ctl->handler != NULL)
		ctl->handler(ctl->handler_arg, &cmd);
	else
		buf_printf(&c->out, "error: not ready\n");
	if (cmd.defer != 0) {
		c->deferred = cmd.defer;
		c->deadline = cmd.defer_until;
	} else
		c->answered = 1;
}

/*
 * The answer to the commands deferred with tag: each gets the same
 * text, and a fresh deadline to read it in.
 */
void
control_answer(struct control *ctl, unsigned int tag, int64_t now,
    const char *fmt, ...)
{
	struct control_client	*c;
	va_list			 ap;
	char			 text[512];
	size_t			 i;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		c = &ctl->clients[i];
		if (c->fd == -1 || c->answered || c->deferred != tag)
			continue;
		buf_printf(&c->out, "%s", text);
		c->answered = 1;
		c->deferred = 0;
		c->deadline = now + CONTROL_TIMEOUT_MS;
	}
}

/* What is written: the answer, or only that there was no room for it. */
static ssize_t
write_answer(struct control_client *c)
{
	static const char	 oom[] = "error: out of memory\n";

	if (c->out.oom) {
		c->outoff = c->out.len = 0;
		c->out.oom = 0;
		buf_printf(&c->out, "%s", oom);
		if (c->out.oom)
			return -1;
	}
	return write(c->fd, c->out.data + c->outoff, c->out.len - c->outoff);
}

/*
 * Serve the control socket after a ppoll(): pfd[] are the descriptors
 * control_pollfds() asked for, in the same order.
 */
void
control_service(struct control *ctl, const struct pollfd *pfd, size_t npfd,
    int64_t now)
{
	struct control_client	*c;
	size_t			 i, k = 0;
	ssize_t			 n;

	if (npfd > 0 && (pfd[k++].revents & POLLIN) && ctl->fd != -1)
		accept_clients(ctl, now);

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
		if (!c->answered && c->deferred == 0 &&
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
				run_command(ctl, c);
			else if (c->inlen == sizeof(c->in) - 1) {
				buf_printf(&c->out, "error: command too "
				    "long\n");
				c->answered = 1;
			}
		}
		if (c->answered && (c->out.oom || c->outoff < c->out.len)) {
			n = write_answer(c);
			if (n > 0)
				c->outoff += n;
			else if (n == -1 && errno != EAGAIN && errno != EINTR) {
				client_close(c);
				continue;
			}
		}
		if ((c->answered && c->outoff >= c->out.len) ||
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
	/* Disowned (control_disown()): -1, which ppoll() skips. */
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
		 * Waiting for its deferred answer, a client is polled for
		 * nothing: its half-close must not make ppoll() return on
		 * every turn; a hang-up is reported regardless.
		 */
		pfd[n].fd = c->fd;
		pfd[n].events = c->answered ? POLLOUT :
		    c->deferred != 0 ? 0 : POLLIN;
		pfd[n].revents = 0;
		c->pfd_index = n++;
		if (c->deadline < *deadline)
			*deadline = c->deadline;
	}
	return n;
}
