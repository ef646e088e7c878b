/*
 * The live binary upgrade, as nginx and unicorn do it: the old master
 * forks and executes the installed binary, with the path and arguments
 * it was itself started with, and hands it its listening sockets, its
 * control socket and one end of a start-up channel; the new master reads
 * the configuration, starts its workers and, once its first generation
 * serves, says so on the channel (daemon.c's protocol: log lines, then a
 * single NUL).  Only then does the old master stop accepting.  Both
 * masters accept on the very same sockets meanwhile, so that at no
 * moment is there nobody to accept.
 *
 * What crosses exec(), from descriptor 3 on, and ECHOD_UPGRADE="n s pid m"
 * that says so (a variable of echod's own, not systemd's LISTEN_FDS, so
 * that the sockets are matched to the "listen on" lines and kept as
 * echod's, or as systemd's if they were: s is 1):
 *
 *   3 .. 3+n-1   the listening sockets
 *   3+n          the control socket (listening)
 *   3+n+1        the new master's end of the start-up channel
 *   3+n+2        the metrics socket (listening), if m is 1
 *
 * m comes last so that a binary of before it, which reads three fields,
 * still takes the rest: it closes the metrics socket as a stray
 * descriptor and binds its own, which fails while the old one holds the
 * port, and the old master serves on.
 *
 * The pidfile, the nginx way: the old master renames it to
 * PIDFILE.oldbin before the exec, keeping its lock (the lock is on the
 * open file, which the rename does not change), and the new master
 * creates and locks PIDFILE as at any start.  If the new master fails,
 * the old one renames PIDFILE.oldbin back once the new one is gone; if
 * it serves, the old one removes PIDFILE.oldbin as it leaves.  Neither
 * the old master leaving nor a new master that fails while the old one
 * still runs removes the pidfile or the control socket: upgrade_owner().
 *
 * The argument vector and the working directory are saved at the very
 * start of main(), before setproctitle_init() writes over argv and
 * daemonize() changes to "/".
 */

#include <sys/types.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "upgrade.h"

#define ENV_NAME	"ECHOD_UPGRADE"

static char	**saved_argv;
static char	 saved_cwd[PATH_MAX];
static char	 saved_path[PATH_MAX];

/* The new master: its parent, the old master, while that one lives. */
static pid_t	 old_pid;
static int	 served;		/* it said so: the files are its own */

/* The old master: the upgrade under way. */
static pid_t	 child;			/* 0: none */
static int	 chan = -1;		/* its end of the start-up channel */
static int	 handed;		/* the new master serves */
static int	 killed;		/* by us, at the deadline */
static int64_t	 deadline;
static char	 last_word[512];	/* the last line it logged */
static char	 pidfile[PATH_MAX], oldbin[PATH_MAX + 8];

void
upgrade_save(int argc, char *argv[])
{
	int	 i;

	if (argc < 1 || (saved_argv = calloc(argc + 1, sizeof(char *))) ==
	    NULL)
		return;
	for (i = 0; i < argc; i++)
		if ((saved_argv[i] = strdup(argv[i])) == NULL) {
			saved_argv = NULL;	/* no upgrade, then */
			return;
		}
	if (getcwd(saved_cwd, sizeof(saved_cwd)) == NULL)
		saved_cwd[0] = '\0';
	/* A relative path is relative to where we were started. */
	if (strchr(argv[0], '/') != NULL && argv[0][0] != '/' &&
	    saved_cwd[0] != '\0') {
		if (snprintf(saved_path, sizeof(saved_path), "%s/%s",
		    saved_cwd, argv[0]) >= (int)sizeof(saved_path))
			saved_argv = NULL;	/* too long: no upgrade */
	} else if (strlcpy(saved_path, argv[0], sizeof(saved_path)) >=
	    sizeof(saved_path))
		saved_argv = NULL;
}

/* Whether fd is a Unix socket made by the process pid (SO_PEERCRED). */
static int
made_by(int fd, pid_t pid)
{
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	    len == sizeof(cred) && cred.pid == pid;
}

/*
 * The new master, first thing in main(): whether an old master handed
 * it descriptors.  Returns how many (from 3 on), 0 if none; *nls and
 * *from_systemd say what they are, *metricsfd is the metrics socket's
 * (-1: none).
 */
int
upgrade_inherited(size_t *nls, int *from_systemd, int *metricsfd)
{
	const char	*env = getenv(ENV_NAME);
	unsigned long	 n;
	long		 pid;
	int		 s, m = 0, fields;

	*metricsfd = -1;
	if (env == NULL)
		return 0;
	fields = sscanf(env, "%lu %d %ld %d", &n, &s, &pid, &m);
	if (fields < 3 || n > 1024 || pid <= 1 || m < 0 || m > 1) {
		unsetenv(ENV_NAME);
		return 0;
	}
	unsetenv(ENV_NAME);
	/*
	 * Started by echod? Not if the variable leaked to another command.
	 * The start-up channel says: its peer is the old master, which
	 * made it, even if that one has died since (killed midway), when
	 * getppid() could no longer tell.
	 */
	if (!made_by(3 + (int)n + 1, (pid_t)pid))
		return 0;
	old_pid = pid;
	*nls = n;
	*from_systemd = s != 0;
	if (m)
		*metricsfd = (int)(3 + n + 2);
	return (int)n + 2 + m;
}

/*
 * A PIDFILE.oldbin that no master holds locked is stale: its old master
 * was killed (SIGKILL) midway through an upgrade and could not remove it.
 * It names a dead process, so it goes; one still locked is a live old
 * master's, and stays.  Called at every start and by a new master once
 * its old master is gone.
 */
void
upgrade_stale_oldbin(const char *path)
{
	char	 name[PATH_MAX + 8];
	int	 fd;

	if (snprintf(name, sizeof(name), "%s.oldbin", path) >=
	    (int)sizeof(name))
		return;
	if ((fd = open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return;
	/* libbsd's pidfile_open() locks with flock(), as here. */
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		if (unlink(name) == -1)
			log_warn("upgrade: unlink %s", name);
		else
			log_info("upgrade: removed %s, left by an old master "
			    "that was killed", name);
	}
	close(fd);
}

/*
 * The new master, once it runs its loop: the old master's death, whether
 * it left after handing over or was killed, is told by SIGCHLD (which the
 * master handles anyway, and which costs only a turn of the loop), so
 * that upgrade_settle() can see it.
 */
void
upgrade_watch(void)
{
	if (old_pid == 0)
		return;
	if (prctl(PR_SET_PDEATHSIG, SIGCHLD) == -1)
		log_warn("upgrade: prctl PR_SET_PDEATHSIG");
}

/*
 * The new master, after a SIGCHLD: once its old master is gone it is an
 * ordinary master, and a PIDFILE.oldbin left behind is removed.
 */
void
upgrade_settle(const char *path)
{
	if (old_pid == 0 || getppid() == old_pid)
		return;
	log_info("upgrade: the old master, pid %ld, is gone", (long)old_pid);
	old_pid = 0;
	upgrade_stale_oldbin(path);
}

/*
 * Whether an upgrade is under way, seen by either master: a second one
 * and a reload are refused meanwhile.
 */
int
upgrade_busy(void)
{
	if (child != 0 && !handed)
		return 1;
	return old_pid != 0 && getppid() == old_pid;
}

/* The new master: its old master, while it finishes; 0: gone or none. */
pid_t
upgrade_old_master(void)
{
	return old_pid != 0 && getppid() == old_pid ? old_pid : 0;
}

/*
 * The new master, as its first generation serves and it says so on the
 * start-up channel: from then on the old master hands over and never
 * puts its pidfile back, so the pidfile and the control socket are this
 * master's to remove, even if it stops while the old one still drains.
 */
void
upgrade_served(void)
{
	served = 1;
}

/*
 * Whether this master may remove the pidfile and the control socket as
 * it ends: not an old master that handed over, nor a new one that has
 * not served while its old master still runs (that one puts its own
 * pidfile back).
 */
int
upgrade_owner(void)
{
	if (handed)
		return 0;
	return served || !(old_pid != 0 && getppid() == old_pid);
}

static void __attribute__((__noreturn__))
exec_new(const int *fds, size_t n, int from_systemd, int ctlfd, int end,
    int metricsfd)
{
	char	 env[80], msg[PATH_MAX + 64];
	int	*tmp;
	size_t	 i, total = n + 2 + (metricsfd != -1);

	if ((tmp = calloc(total, sizeof(int))) == NULL)
		_exit(127);
	/* Out of the way first, then into place: dup2() clears CLOEXEC. */
	for (i = 0; i < total; i++) {
		int	 fd = i < n ? fds[i] : i == n ? ctlfd : i == n + 1 ?
		    end : metricsfd;

		if ((tmp[i] = fcntl(fd, F_DUPFD_CLOEXEC, (int)(3 + total))) ==
		    -1)
			_exit(127);
	}
	for (i = 0; i < total; i++)
		if (dup2(tmp[i], (int)(3 + i)) == -1)
			_exit(127);
	snprintf(env, sizeof(env), "%zu %d %ld %d", n, from_systemd,
	    (long)getppid(), metricsfd != -1);
	if (setenv(ENV_NAME, env, 1) == -1)
		_exit(127);
	if (saved_cwd[0] != '\0')
		(void)chdir(saved_cwd);
	execvp(saved_path, saved_argv);
	snprintf(msg, sizeof(msg), "exec %s: %s", saved_path,
	    strerror(errno));
	(void)send((int)(3 + n + 1), msg, strlen(msg), MSG_NOSIGNAL);
	_exit(127);
}

/*
 * The old master: start the new one, with the listening sockets fds, the
 * control socket ctlfd and the metrics socket metricsfd (-1: none).
 * Returns -1 with err if it cannot even be started (and then changes
 * nothing).
 */
int
upgrade_begin(const int *fds, size_t n, int from_systemd, int ctlfd,
    int metricsfd, const char *path, int64_t now, char *err, size_t errlen)
{
	pid_t	 pid;
	int	 sv[2];

	if (saved_argv == NULL) {
		snprintf(err, errlen, "the command line was not saved");
		return -1;
	}
	strlcpy(pidfile, path, sizeof(pidfile));
	snprintf(oldbin, sizeof(oldbin), "%s.oldbin", path);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	if (rename(pidfile, oldbin) == -1) {
		snprintf(err, errlen, "rename %s to %s: %s", pidfile, oldbin,
		    strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		(void)rename(oldbin, pidfile);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0)
		exec_new(fds, n, from_systemd, ctlfd, sv[1], metricsfd);
	close(sv[1]);
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1)
		log_warn("fcntl");
	child = pid;
	chan = sv[0];
	handed = killed = 0;
	last_word[0] = '\0';
	deadline = now + UPGRADE_WAIT_MS;
	log_info("upgrade: started %s as pid %ld", saved_path, (long)pid);
	return 0;
}

/* The channel, for ppoll(); -1: nothing to watch. */
int
upgrade_fd(void)
{
	return chan;
}

pid_t
upgrade_pid(void)
{
	return child;
}

int64_t
upgrade_next_wakeup(int64_t now)
{
	if (child == 0 || handed)
		return -1;
	if (killed)
		return 100;	/* until it is reaped */
	return deadline > now ? deadline - now : 0;
}

static void
read_channel(void)
{
	char	 msg[1024];
	ssize_t	 n;

	for (;;) {
		if ((n = recv(chan, msg, sizeof(msg) - 1, 0)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				log_warn("upgrade: the start-up channel");
			return;
		}
		if (n == 0) {
			close(chan);
			chan = -1;
			return;
		}
		if (n == 1 && msg[0] == '\0') {
			handed = 1;
			return;
		}
		msg[n] = '\0';
		strlcpy(last_word, msg, sizeof(last_word));
	}
}

static void
describe(int status, char *why, size_t len)
{
	if (WIFEXITED(status))
		snprintf(why, len, "it exited with status %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(why, len, "it was killed by signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(why, len, "it ended");
}

/*
 * Called on every turn of the old master's loop while an upgrade is
 * under way, with the channel's revents: UPGRADE_READY once the new
 * master serves, UPGRADE_FAILED (why says why) once a new master that
 * did not is gone and the pidfile is back, or 0.
 */
int
upgrade_poll(int revents, int64_t now, char *why, size_t len)
{
	char	 how[128];
	pid_t	 r;
	int	 status = 0;

	if (child == 0 || handed)
		return 0;
	if (chan != -1 && (revents & (POLLIN | POLLHUP | POLLERR)))
		read_channel();
	if (handed) {
		close(chan);
		chan = -1;
		return UPGRADE_READY;
	}
	/* Before pool_reap()'s waitpid(-1): ECHILD if that took it. */
	r = waitpid(child, &status, WNOHANG);
	if (r == child || (r == -1 && errno == ECHILD)) {
		if (r == child)
			describe(status, how, sizeof(how));
		else
			strlcpy(how, "it ended", sizeof(how));
		if (killed)
			snprintf(why, len, "pid %ld did not serve within %d s "
			    "and was killed", (long)child,
			    UPGRADE_WAIT_MS / 1000);
		else if (last_word[0] != '\0')
			snprintf(why, len, "pid %ld: %s (%s)", (long)child,
			    last_word, how);
		else
			snprintf(why, len, "pid %ld ended before it served: %s",
			    (long)child, how);
		if (rename(oldbin, pidfile) == -1)
			log_warn("upgrade: rename %s to %s", oldbin, pidfile);
		if (chan != -1) {
			close(chan);
			chan = -1;
		}
		child = 0;
		return UPGRADE_FAILED;
	}
	if (!killed && now >= deadline) {
		log_warnx("upgrade: pid %ld does not serve after %d s; "
		    "killing it", (long)child, UPGRADE_WAIT_MS / 1000);
		kill(child, SIGKILL);
		killed = 1;
	}
	return 0;
}

/* A stop while the new master proves itself: it goes too. */
void
upgrade_abort(void)
{
	if (child == 0 || handed)
		return;
	log_info("upgrade: stopping; pid %ld goes too", (long)child);
	kill(child, SIGTERM);
}

/* In a worker of the old master, after fork(). */
void
upgrade_forget(void)
{
	if (chan != -1) {
		close(chan);
		chan = -1;
	}
}

/* The old master, last, once it handed over: its pidfile goes. */
void
upgrade_left(void)
{
	if (handed && unlink(oldbin) == -1 && errno != ENOENT)
		log_warn("upgrade: unlink %s", oldbin);
}
