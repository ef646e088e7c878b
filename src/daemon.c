/*
 * Becoming a daemon, in the steps of Stevens' daemon_init() (UNIX
 * Network Programming vol. 1, section 13.4), with one change: the
 * process the shell started does not exit as soon as the daemon exists.
 * Much can still fail after that (the sandbox's filter, the pidfile's
 * write, above all workers that cannot drop their privileges), and an
 * exit status of 0 must mean that echod serves.  So the starting process
 * waits until the daemon says that its first workers serve, and prints
 * on its standard error, still the terminal, every warning and error
 * the daemon and its starting workers log until then.
 *
 * The start-up channel is a socketpair of type SOCK_SEQPACKET rather
 * than a pipe: each log line is one message, whole, whichever process
 * sent it; send() with MSG_NOSIGNAL and MSG_DONTWAIT never raises
 * SIGPIPE (the starting process may have been interrupted) and never
 * blocks the daemon; and the starting process sees end-of-file when the
 * last holder of the daemon's end is gone.  What it receives:
 *
 *   a text message   a log line, printed on its standard error
 *   a single NUL     ready: exit 0 (daemon_ready())
 *   end-of-file      the daemon ended before it was ready: exit 1
 *
 * The daemon's end is close-on-exec, and is let go of as soon as it is
 * of no more use: by the master once it is ready, by each worker forked
 * before that once the worker has set itself up (daemon_detach()), so
 * that its set-up errors reach the terminal too.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <paths.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "coverage.h"
#include "daemon.h"
#include "log.h"

/* The daemon's end of the start-up channel; -1: none, or let go of. */
static int	 start_fd = -1;

/*
 * The starting process: relay what the daemon says until it is ready
 * (exit 0) or gone (exit 1).  The master gives up by itself after
 * DAEMON_START_WAIT_MS; this deadline, a little later, is for a daemon
 * that cannot even say so (stopped, or wedged).
 */
static void __attribute__((__noreturn__))
wait_for_daemon(int fd)
{
	struct pollfd	 pfd;
	char		 msg[2048];
	ssize_t		 n;
	int64_t		 deadline, left;
	int		 said = 0;

	deadline = clock_ms() + DAEMON_START_WAIT_MS +
	    DAEMON_STOP_WAIT_MS;
	for (;;) {
		if ((left = deadline - clock_ms()) <= 0) {
			fprintf(stderr, "%s: no word from the daemon after "
			    "%d s; it may still be running (see the system "
			    "log)\n", getprogname(), (DAEMON_START_WAIT_MS +
			    DAEMON_STOP_WAIT_MS) / 1000);
			_exit(1);
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)left) == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "%s: poll: %s\n", getprogname(),
			    strerror(errno));
			_exit(1);
		}
		if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) == 0)
			continue;
		if ((n = recv(fd, msg, sizeof(msg) - 1, 0)) == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "%s: the daemon's start-up channel: "
			    "%s\n", getprogname(), strerror(errno));
			_exit(1);
		}
		if (n == 0) {
			if (!said)
				fprintf(stderr, "%s: the daemon ended before "
				    "its workers served (see the system log)\n",
				    getprogname());
			_exit(1);
		}
		if (n == 1 && msg[0] == '\0')
			_exit(0);
		msg[n] = '\0';
		fprintf(stderr, "%s\n", msg);
		said = 1;
	}
}

void
daemonize(void)
{
	sigset_t	 none;
	pid_t		 pid;
	int		 fd, sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		fatal("socketpair");
	/* Not a process group leader, so setsid() can succeed. */
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid != 0) {
		close(sv[1]);
		/*
		 * main() blocked the master's signals; this process is not
		 * the master, and Ctrl-C must end its wait.
		 */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* The first child ends as soon as it has forked the daemon. */
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		coverage_dump();
		wait_for_daemon(sv[0]);
	}
	close(sv[0]);
	/* A new session: no controlling terminal. */
	if (setsid() == -1)
		fatal("setsid");
	/* No longer a session leader: opening a tty cannot adopt it. */
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid != 0) {
		coverage_dump();
		_exit(0);
	}

	/* Hold no mount point busy.  (main() has set the umask already.) */
	if (chdir("/") == -1)
		fatal("chdir /");

	if ((fd = open(_PATH_DEVNULL, O_RDWR)) == -1)
		fatal("open %s", _PATH_DEVNULL);
	if (dup2(fd, STDIN_FILENO) == -1 || dup2(fd, STDOUT_FILENO) == -1 ||
	    dup2(fd, STDERR_FILENO) == -1)
		fatal("dup2");
	if (fd > STDERR_FILENO)
		close(fd);

	/* From now on, warnings and errors go to the terminal this way. */
	start_fd = sv[1];
	log_tee(start_fd);
}

/*
 * A live upgrade (upgrade.c): the new master is already detached, a
 * child of the old one, and the old master is the one that waits on the
 * start-up channel, handed over as descriptor fd.
 */
void
daemon_inherit(int fd)
{
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		fatal("fcntl");
	start_fd = fd;
	log_tee(start_fd);
}

/* Whether the starting process still waits for daemon_ready(). */
int
daemon_starting(void)
{
	return start_fd != -1;
}

/* The master: the first workers serve; the starting process exits 0. */
void
daemon_ready(void)
{
	static const char	 ready = '\0';

	if (start_fd == -1)
		return;
	if (send(start_fd, &ready, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == -1 &&
	    errno != EPIPE && errno != ECONNRESET)
		log_warn("the start-up channel");
	daemon_detach();
}

/*
 * Let go of the start-up channel without a word: a worker once it has
 * set itself up, the master once it is ready.
 */
void
daemon_detach(void)
{
	if (start_fd == -1)
		return;
	log_tee(-1);
	close(start_fd);
	start_fd = -1;
}
