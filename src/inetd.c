/*
 * echod -i: inetd mode.  A super-server (inetd, xinetd, tcpserver, or
 * systemd with Accept=yes) has accepted the connection and hands it over
 * as standard input and output, usually one socket on both.  echod
 * echoes it with the worker's own loop until the client closes, and
 * exits: no master, no workers, no pidfile, no control socket.  The
 * super-server listens, limits and counts the connections.
 *
 * Of the configuration, what concerns one connection applies:
 * idle-timeout, and, when started as root, chroot, user and group,
 * exactly as for a worker; then the syslog facility.  The pool, the
 * addresses, the pidfile and the control socket are not used, nor is
 * max-connections-per-address: one process sees one connection, and the
 * super-server has its own limit (systemd's MaxConnectionsPerSource=).
 *
 * Logging goes to syslog even in the foreground: standard error may be
 * the client's socket (inetd passes it as 0, 1 and 2), and a message
 * there would be echoed into the client's data.  -d logs to standard
 * error instead, for a terminal (LOG_TO_STDERR in logflags).
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "addr.h"
#include "conf.h"
#include "inetd.h"
#include "log.h"
#include "privdrop.h"
#include "scoreboard.h"
#include "signals.h"
#include "title.h"
#include "worker.h"

/*
 * idle-timeout as for a worker: SO_RCVTIMEO on the socket read,
 * SO_SNDTIMEO on the one written, so that a read() or write() without
 * progress for that long fails with EAGAIN.  A pipe or a terminal has no
 * such option, and no timeout.
 */
static int
set_timeout(int fd, int option, int seconds)
{
	struct timeval	 tv;

	tv.tv_sec = seconds;
	tv.tv_usec = 0;
	if (setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv)) == -1 &&
	    errno != ENOTSOCK) {
		log_warn("setsockopt %s", option == SO_RCVTIMEO ?
		    "SO_RCVTIMEO" : "SO_SNDTIMEO");
		return -1;
	}
	return 0;
}

int
inetd_run(const char *conffile, unsigned int logflags)
{
	struct config		*conf;
	struct slot		 counters;
	struct sockaddr_storage	 ss;
	struct sigaction	 sa;
	socklen_t		 sslen = sizeof(ss);
	char			 err[1024], peer[ADDR_NAME_MAX];

	log_init(logflags, LOG_DAEMON);
	if ((conf = config_load(conffile, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		return 1;
	}
	log_setfacility(conf->syslog_facility);

	/* A client gone mid-write ends with EPIPE, not a signal. */
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		log_warn("sigaction SIGPIPE");
	/* Nor does a stray signal (signals.c), nor USR2, the master's. */
	signals_ignore_unused();
	(void)sigaction(SIGUSR2, &sa, NULL);

	memset(&ss, 0, sizeof(ss));
	if (getpeername(STDIN_FILENO, (struct sockaddr *)&ss, &sslen) == 0)
		addr_format_peer(&ss, sslen, peer, sizeof(peer));
	else
		strlcpy(peer, "standard input", sizeof(peer));
	title_set("inetd [%s]", peer);

	if (set_timeout(STDIN_FILENO, SO_RCVTIMEO, conf->idle_timeout) == -1 ||
	    set_timeout(STDOUT_FILENO, SO_SNDTIMEO, conf->idle_timeout) == -1 ||
	    privdrop(conf) == -1) {
		log_warnx("%s: cannot set up; closing", peer);
		config_free(conf);
		return 1;
	}

	memset(&counters, 0, sizeof(counters));
	worker_echo(STDIN_FILENO, STDOUT_FILENO, &counters);
	log_debug("%s: %llu bytes echoed%s", peer,
	    (unsigned long long)counters.bytes_out,
	    counters.timeouts > 0 ? ", closed by idle-timeout" :
	    counters.resets > 0 ? ", reset by the client" :
	    counters.errors > 0 ? ", ended by an error" : "");
	config_free(conf);
	/* A client that reset or went idle is no failure of the service. */
	return 0;
}
