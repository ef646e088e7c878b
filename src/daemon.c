/*
 * Becoming a daemon, in the steps of Stevens' daemon_init() (UNIX
 * Network Programming vol. 1, section 13.4).
 */

#include <sys/types.h>

#include <fcntl.h>
#include <paths.h>
#include <unistd.h>

#include "coverage.h"
#include "echod.h"
#include "log.h"

void
daemonize(void)
{
	pid_t	 pid;
	int	 fd;

	/* Not a process group leader, so setsid() can succeed. */
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid != 0) {
		coverage_dump();
		_exit(0);
	}
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
}
