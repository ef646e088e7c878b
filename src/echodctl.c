/*
 * echodctl: a live view into a running echod, through its control
 * socket (see control.c for the protocol).
 *
 *   echodctl [-j] [-s socket] [-t seconds] status | workers | conns |
 *       metrics | reload | stop [-g]
 *
 * The master composes the answer; echodctl sends one line, prints what
 * comes back, and turns an "error:" answer into a message on stderr and
 * exit status 1.  Each command has a deadline, the connection included,
 * past which echodctl gives up with exit status 3.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "pathnames.h"

/*
 * How long a command may take, from the connection to the end of the
 * answer: a master that is stopped or wedged, or a control socket whose
 * queue is full, must not hold a script or a monitor for ever.  The
 * master answers a query at once, and a reload once the new generation
 * serves, which it gives 10 s (master.c): a little more here, so that
 * its own verdict arrives.
 */
#define DEADLINE_S		5
#define DEADLINE_RELOAD_S	15
/* The deadline passed: the command may or may not have been carried out. */
#define EXIT_DEADLINE		3

static int	deadline_s;
static int64_t	deadline;

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr, "usage: echodctl [-j] [-s socket] [-t seconds] "
	    "command\n"
	    "commands: status, workers, conns, metrics, reload, stop [-g]\n");
	exit(2);
}

/* Milliseconds to the deadline; none left ends echodctl, saying why. */
static int
time_left(const char *what, const char *why)
{
	int64_t	 left = deadline - clock_ms();

	if (left <= 0)
		errx(EXIT_DEADLINE, "%s within %d s%s", what, deadline_s, why);
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Wait, until the deadline, for fd to be ready for events. */
static void
wait_fd(int fd, short events, const char *what)
{
	struct pollfd	 pfd;
	int		 n;

	pfd.fd = fd;
	pfd.events = events;
	while ((n = poll(&pfd, 1, time_left(what, ""))) != 1) {
		if (n == -1 && errno != EINTR)
			err(1, "poll");
	}
}

/*
 * A UNIX-domain connect() does not wait for the master to accept, only
 * for room in its listening socket's queue; when that is full (the
 * master is stopped, or flooded), it blocks, as long as SO_SNDTIMEO
 * allows, and is woken as soon as there is room.  O_NONBLOCK would
 * only say EAGAIN and leave us to retry blindly.
 */
static int
connect_control(const char *path)
{
	struct sockaddr_un	 sun;
	struct timeval		 tv;
	char			 what[sizeof(sun.sun_path) + 64];
	int			 fd, left;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		errx(1, "%s: path too long", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(1, "socket");
	snprintf(what, sizeof(what), "%s: echod did not take the connection",
	    path);
	for (;;) {
		left = time_left(what, " (stopped, or its queue is full)");
		tv.tv_sec = left / 1000;
		tv.tv_usec = (left % 1000) * 1000;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
		    sizeof(tv)) == -1)
			err(1, "setsockopt SO_SNDTIMEO");
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		if (errno == EINTR || errno == EAGAIN ||
		    errno == EINPROGRESS)
			continue;	/* time_left() decides */
		if (errno == ENOENT || errno == ECONNREFUSED)
			errx(1, "no echod is running on %s (%s)", path,
			    strerror(errno));
		if (errno == EACCES || errno == EPERM)
			errx(1, "%s: permission denied (root or the control "
			    "group only)", path);
		err(1, "%s", path);
	}
	/* From here on, poll() keeps the deadline. */
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		err(1, "fcntl O_NONBLOCK");
	return fd;
}

/* Write the whole command, or exit. */
static void
send_command(int fd, const char *line)
{
	size_t	 len = strlen(line), off = 0;
	ssize_t	 n;

	while (off < len) {
		wait_fd(fd, POLLOUT, "no answer from echod");
		if ((n = write(fd, line + off, len - off)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err(1, "write");
		}
		off += n;
	}
}

int
main(int argc, char *argv[])
{
	const char	*path = DEFAULT_CONTROL;
	const char	*errstr;
	char		 line[128], buf[8192], *answer = NULL, *body, *grown;
	size_t		 len = 0, cap = 0;
	ssize_t		 n;
	int		 ch, json = 0, graceful = 0, fd;

	/* An echod that goes away mid-command is reported, not fatal. */
	signal(SIGPIPE, SIG_IGN);

	while ((ch = getopt(argc, argv, "+js:t:")) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 's':
			path = optarg;
			break;
		case 't':
			deadline_s = strtonum(optarg, 1, 3600, &errstr);
			if (errstr != NULL) {
				warnx("-t %s: %s", optarg, errstr);
				usage();
			}
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 2 && strcmp(argv[0], "stop") == 0 &&
	    strcmp(argv[1], "-g") == 0)
		graceful = 1;
	else if (argc != 1)
		usage();
	if (strcmp(argv[0], "status") != 0 && strcmp(argv[0], "workers") != 0 &&
	    strcmp(argv[0], "conns") != 0 && strcmp(argv[0], "metrics") != 0 &&
	    strcmp(argv[0], "reload") != 0 && strcmp(argv[0], "stop") != 0)
		usage();
	if (deadline_s == 0)
		deadline_s = strcmp(argv[0], "reload") == 0 ?
		    DEADLINE_RELOAD_S : DEADLINE_S;
	deadline = clock_ms() + (int64_t)deadline_s * 1000;

	fd = connect_control(path);
	snprintf(line, sizeof(line), "%s%s%s\n", argv[0], graceful ? " -g" : "",
	    json ? " json" : "");
	send_command(fd, line);

	for (;;) {
		wait_fd(fd, POLLIN, "no answer from echod");
		if ((n = read(fd, buf, sizeof(buf))) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err(1, "read");
		}
		if (n == 0)
			break;
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			if ((grown = realloc(answer, cap)) == NULL)
				err(1, "realloc");
			answer = grown;
		}
		memcpy(answer + len, buf, n);
		len += n;
	}
	close(fd);
	if (answer == NULL)
		errx(1, "echod closed the control connection without an answer");
	answer[len] = '\0';

	/* The first line is "ok", "ok: ...", or "error: ...". */
	if ((body = strchr(answer, '\n')) != NULL)
		*body++ = '\0';
	else
		body = answer + len;
	if (strncmp(answer, "error: ", 7) == 0) {
		fprintf(stderr, "echodctl: %s\n", answer + 7);
		free(answer);
		return 1;
	}
	if (strncmp(answer, "ok", 2) != 0)
		errx(1, "unexpected answer: %s", answer);
	/* reload and stop answer on the first line: "ok: what happened". */
	if (answer[2] == ':' && answer[3] == ' ') {
		if (json) {
			printf("{\"ok\":true,\"message\":\"");
			for (body = answer + 4; *body != '\0'; body++)
				printf(*body == '"' || *body == '\\' ?
				    "\\%c" : "%c", *body);
			printf("\"}\n");
		} else
			printf("%s\n", answer + 4);
	} else
		fputs(body, stdout);
	free(answer);
	return 0;
}
