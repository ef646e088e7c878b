/*
 * udp_floor: the bare UDP echo loop that echod's UDP workers are
 * measured against (bench/udp.sh), and a faulty echo server for the
 * test of echobench udp (tests/t_echobench_udp.sh).
 *
 *   udp_floor -p port [-a addr] [-n procs] [-b batch] [-R]
 *       [-D n] [-F n] [-U n] [-t seconds]
 *
 * -n processes (default: one per CPU) each loop in recvmmsg() and
 * sendmmsg() with MSG_WAITFORONE, up to -b datagrams a call (default
 * 32; 1 makes it a recvfrom()/sendto() loop in effect).  By default they
 * share one socket, bound before the fork: Stevens' preforked design,
 * and echod's (the floor).  With -R each process binds a socket of its
 * own with SO_REUSEPORT, and the kernel spreads the senders over them by
 * a hash of their addresses (the ceiling).
 *
 * For the test only: -D n drops every n-th datagram a process receives,
 * -F n flips the last byte of every n-th one, -U n sends every n-th one
 * back twice (counted per process: run one process for a fault at a
 * known place).  -t: exit after that many
 * seconds (default 600), so that a forgotten one does not stay.
 *
 * It prints "ready" once every process is bound.  SIGTERM (or SIGINT)
 * ends all of them.
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

#define MAX_BATCH	256
#define MAX_DGRAM	65536

static const char	*host = "127.0.0.1", *port;
static int		 batch = 32, reuseport, drop_every, flip_every, dup_every;

static int
bind_socket(void)
{
	struct addrinfo	 hints, *res;
	int		 fd, one = 1, buf = 4 * 1024 * 1024, error;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
	if ((error = getaddrinfo(host, port, &hints, &res)) != 0)
		errx(2, "%s port %s: %s", host, port, gai_strerror(error));
	if ((fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		err(2, "socket");
	/* A burst must not overflow the socket before a process reads. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
	    sizeof(one)) == -1)
		err(2, "SO_REUSEPORT");
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
		err(2, "bind %s port %s", host, port);
	freeaddrinfo(res);
	return fd;
}

static void __attribute__((__noreturn__))
serve(int fd)
{
	static unsigned char		 bufs[MAX_BATCH][MAX_DGRAM];
	static struct sockaddr_storage	 from[MAX_BATCH];
	static struct iovec		 iov[MAX_BATCH];
	static struct mmsghdr		 msg[MAX_BATCH], out[2 * MAX_BATCH];
	unsigned long			 seen = 0;
	int				 i, n, k, sent;

	for (i = 0; i < batch; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = MAX_DGRAM;
		msg[i].msg_hdr.msg_iov = &iov[i];
		msg[i].msg_hdr.msg_iovlen = 1;
		msg[i].msg_hdr.msg_name = &from[i];
	}
	for (;;) {
		for (i = 0; i < batch; i++)
			msg[i].msg_hdr.msg_namelen = sizeof(from[i]);
		n = recvmmsg(fd, msg, batch, MSG_WAITFORONE, NULL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err(1, "recvmmsg");
		}
		for (i = k = 0; i < n; i++) {
			seen++;
			if (drop_every > 0 && seen % drop_every == 0)
				continue;
			if (flip_every > 0 && seen % flip_every == 0 &&
			    msg[i].msg_len > 0)
				bufs[i][msg[i].msg_len - 1] ^= 0x01;
			out[k].msg_hdr = msg[i].msg_hdr;
			/* The reply's length is what came, not the buffer. */
			iov[i].iov_len = msg[i].msg_len;
			k++;
			if (dup_every > 0 && seen % dup_every == 0) {
				out[k] = out[k - 1];
				k++;
			}
		}
		for (sent = 0; sent < k; ) {
			i = sendmmsg(fd, out + sent, k - sent, 0);
			if (i == -1) {
				if (errno == EINTR)
					continue;
				break;	/* ECONNREFUSED and kin: drop the rest */
			}
			sent += i;
		}
		for (i = 0; i < n; i++)
			iov[i].iov_len = MAX_DGRAM;
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
	long			 ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int			 ch, i, nproc = ncpu > 0 ? ncpu : 1, fd = -1;
	int			 lifetime = 600;

	while ((ch = getopt(argc, argv, "a:b:D:F:n:p:Rt:U:")) != -1) {
		switch (ch) {
		case 'a':
			host = optarg;
			break;
		case 'b':
			batch = number(optarg, 1, MAX_BATCH);
			break;
		case 'D':
			drop_every = number(optarg, 1, 1000000000);
			break;
		case 'F':
			flip_every = number(optarg, 1, 1000000000);
			break;
		case 'n':
			nproc = number(optarg, 1, 1024);
			break;
		case 'p':
			port = optarg;
			break;
		case 'R':
			reuseport = 1;
			break;
		case 't':
			lifetime = number(optarg, 1, 86400);
			break;
		case 'U':
			dup_every = number(optarg, 1, 1000000000);
			break;
		default:
			goto usage;
		}
	}
	if (port == NULL || optind != argc) {
usage:
		fprintf(stderr, "usage: udp_floor -p port [-a addr] [-n procs] "
		    "[-b batch] [-R] [-D n] [-F n] [-U n] [-t seconds]\n");
		return 2;
	}

	/* Signals wait until the children exist: sigsuspend() below. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGALRM);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);

	if (!reuseport)
		fd = bind_socket();
	if ((pids = calloc(nproc, sizeof(*pids))) == NULL)
		err(2, "calloc");
	for (i = 0; i < nproc; i++) {
		if (reuseport)
			fd = bind_socket();
		if ((pids[i] = fork()) == -1)
			err(2, "fork");
		if (pids[i] == 0) {
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			sigprocmask(SIG_SETMASK, &old, NULL);
			free(pids);	/* the parent's table: not the child's */
			serve(fd);
		}
		if (reuseport)
			close(fd);
	}
	printf("ready\n");
	fflush(stdout);
	alarm(lifetime);
	while (!quit)
		sigsuspend(&old);
	for (i = 0; i < nproc; i++)
		kill(pids[i], SIGTERM);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	free(pids);
	return 0;
}
