/*
 * tcp_floor: the bare TCP echo servers that echod is measured against
 * (make bench): nothing but what the model itself costs.
 *
 *   tcp_floor -p port [-a addr] [-m prefork|fork] [-n procs]
 *       [-b bufsize] [-B backlog] [-t seconds]
 *
 * -m prefork (the default): Stevens' preforked server, UNP vol. 1
 * chapter 30.3 -- -n processes (default 4) each block in accept() on
 * one socket bound before the fork, and echo their connection with a
 * read()/write() loop until the client closes: the floor of echod's
 * design, without a scoreboard, a pool that grows, a sandbox, limits or
 * timeouts.
 *
 * -m fork: one process accepts and forks a child per connection that
 * echoes it and exits (chapter 30.2, the design of inetd and socat
 * without their exec or set-up); children are reaped by the kernel
 * (SA_NOCLDWAIT).  This is the floor of a burst of new connections: how
 * fast this machine can give each of them a process of its own.
 *
 * -b: the read buffer (default 65536 bytes).  -B: the listen backlog
 * (default 4096).  -t: exit after that many seconds (default 600), so
 * that a forgotten one does not stay.
 *
 * It prints "ready" once the socket listens and every process is
 * forked.  SIGTERM (or SIGINT) ends all of them.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include <err.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char	*host = "127.0.0.1", *port;
static size_t		 bufsize = 65536;
static int		 backlog = 4096;

static int
listen_socket(void)
{
	struct addrinfo	 hints, *res;
	int		 fd, one = 1, error;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
	if ((error = getaddrinfo(host, port, &hints, &res)) != 0)
		errx(2, "%s port %s: %s", host, port, gai_strerror(error));
	if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(2, "socket");
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
		err(2, "bind %s port %s", host, port);
	if (listen(fd, backlog) == -1)
		err(2, "listen");
	freeaddrinfo(res);
	return fd;
}

static void
echo_connection(int fd, char *buf)
{
	ssize_t	 n, off, w;

	while ((n = read(fd, buf, bufsize)) > 0) {
		for (off = 0; off < n; off += w) {
			if ((w = write(fd, buf + off, n - off)) == -1)
				return;
		}
	}
}

static void __attribute__((__noreturn__))
serve_preforked(int lfd)
{
	char	*buf;
	int	 fd;

	if ((buf = malloc(bufsize)) == NULL)
		err(1, "malloc");
	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			err(1, "accept");
		}
		echo_connection(fd, buf);
		close(fd);
	}
}

static void __attribute__((__noreturn__))
serve_forking(int lfd)
{
	struct sigaction	 sa;
	char			*buf;
	int			 fd;

	/* The kernel reaps the children: no SIGCHLD, no waitpid(). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = SA_NOCLDWAIT;
	sigaction(SIGCHLD, &sa, NULL);
	if ((buf = malloc(bufsize)) == NULL)
		err(1, "malloc");
	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOMEM || errno == ENOBUFS)
				continue;
			err(1, "accept");
		}
		switch (fork()) {
		case -1:
			warn("fork");
			break;
		case 0:
			close(lfd);
			echo_connection(fd, buf);
			_exit(0);
		default:
			break;
		}
		close(fd);
	}
}

static volatile sig_atomic_t	 quit;

static void
on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static int
number(const char *arg, int min, int max)
{
	const char	*errstr;
	int		 n;

	n = strtonum(arg, min, max, &errstr);
	if (errstr != NULL)
		errx(2, "%s: %s", arg, errstr);
	return n;
}

int
main(int argc, char *argv[])
{
	struct sigaction	 sa;
	sigset_t		 block, old;
	pid_t			*pids;
	const char		*mode = "prefork";
	int			 ch, i, nproc = 4, lfd, lifetime = 600, forking;

	while ((ch = getopt(argc, argv, "a:B:b:m:n:p:t:")) != -1) {
		switch (ch) {
		case 'a':
			host = optarg;
			break;
		case 'B':
			backlog = number(optarg, 1, 65535);
			break;
		case 'b':
			bufsize = number(optarg, 1, 16 * 1024 * 1024);
			break;
		case 'm':
			mode = optarg;
			break;
		case 'n':
			nproc = number(optarg, 1, 4096);
			break;
		case 'p':
			port = optarg;
			break;
		case 't':
			lifetime = number(optarg, 1, 86400);
			break;
		default:
			goto usage;
		}
	}
	forking = strcmp(mode, "fork") == 0;
	if (port == NULL || optind != argc ||
	    (!forking && strcmp(mode, "prefork") != 0)) {
usage:
		fprintf(stderr, "usage: tcp_floor -p port [-a addr] "
		    "[-m prefork|fork] [-n procs] [-b bufsize] [-B backlog] "
		    "[-t seconds]\n");
		return 2;
	}
	if (forking)
		nproc = 1;

	/* Signals wait until the children exist: sigsuspend() below. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGALRM);
	sigprocmask(SIG_BLOCK, &block, &old);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);

	lfd = listen_socket();
	if ((pids = calloc(nproc, sizeof(*pids))) == NULL)
		err(2, "calloc");
	for (i = 0; i < nproc; i++) {
		if ((pids[i] = fork()) == -1)
			err(2, "fork");
		/* Both sides, so that the group exists before kill() names it. */
		if (forking && pids[i] > 0)
			(void)setpgid(pids[i], pids[i]);
		if (pids[i] == 0) {
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			sigprocmask(SIG_SETMASK, &old, NULL);
			free(pids);	/* the parent's table: not the child's */
			if (forking) {
				(void)setpgid(0, 0);
				serve_forking(lfd);
			}
			serve_preforked(lfd);
		}
	}
	close(lfd);
	printf("ready\n");
	fflush(stdout);
	alarm(lifetime);
	while (!quit)
		sigsuspend(&old);
	/*
	 * The forking server's children are in its process group (set up
	 * above), not ours to name one by one: the group goes with it.
	 */
	for (i = 0; i < nproc; i++)
		kill(pids[i], SIGTERM);
	if (forking)
		kill(0 - pids[0], SIGTERM);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	free(pids);
	return 0;
}
