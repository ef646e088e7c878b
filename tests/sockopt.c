/*
 * sockopt: print a TCP option of a socket that another process holds.
 *
 *   sockopt PID FD
 *
 * Prints "nodelay N" for TCP_NODELAY of descriptor FD of process PID,
 * which it copies with pidfd_getfd(2) (Linux 5.6; needs the right to
 * ptrace PID).  The tests use it to see that echod's connections carry
 * what the listening socket was given, without echod being asked.
 * Exit 2 when the kernel or the permissions do not allow it.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int
main(int argc, char *argv[])
{
	socklen_t	 len;
	int		 pidfd, fd, on;

	if (argc != 3) {
		fprintf(stderr, "usage: sockopt PID FD\n");
		return 2;
	}
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
	if ((pidfd = syscall(SYS_pidfd_open, atoi(argv[1]), 0)) == -1)
		err(2, "pidfd_open %s", argv[1]);
	if ((fd = syscall(SYS_pidfd_getfd, pidfd, atoi(argv[2]), 0)) == -1)
		err(2, "pidfd_getfd %s %s", argv[1], argv[2]);
	len = sizeof(on);
	if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == -1)
		err(1, "getsockopt TCP_NODELAY");
	printf("nodelay %d\n", on != 0);
	return 0;
#else
	(void)pidfd;
	(void)fd;
	(void)on;
	(void)len;
	errx(2, "no pidfd_getfd(2) on this system");
#endif
}
