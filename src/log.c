/*
 * Logging: stderr in the foreground, syslog as a daemon.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static unsigned int log_flags = LOG_TO_STDERR;
static int	log_to_stderr = 1;
static int	log_verbose;
static int	log_facility = LOG_DAEMON;
static int	log_tee_fd = -1;

static void	vlog(int, const char *, va_list)
		    __attribute__((__format__ (printf, 2, 0)));

void
log_init(unsigned int flags, int facility)
{
	log_flags = flags;
	log_to_stderr = (flags & LOG_TO_STDERR) != 0;
	log_verbose = (flags & LOG_VERBOSE) != 0;
	log_facility = facility;

	if (!log_to_stderr) {
		/*
		 * LOG_NDELAY opens the syslog socket now, before the
		 * workers fork and drop privileges, so that they share it
		 * instead of each one connecting on its first message.
		 */
		closelog();
		openlog(getprogname(), LOG_PID | LOG_NDELAY, log_facility);
	}
	tzset();
}

void
log_setfacility(int facility)
{
	if (facility == log_facility)
		return;
	log_init(log_flags, facility);
}

/*
 * While fd is not -1, warnings and errors also go to it, one message
 * each, as they would to stderr: daemon.c's start-up channel, through
 * which the process the shell started prints them on the terminal until
 * the daemon is ready.
 */
void
log_tee(int fd)
{
	log_tee_fd = fd;
}

/* Never blocks, never raises SIGPIPE: a lost line is the lesser harm. */
static void
tee(int priority, const char *msg)
{
	char	 line[1280];
	int	 n;

	if (log_tee_fd == -1 || priority > LOG_WARNING)
		return;
	n = snprintf(line, sizeof(line), "%s[%ld]: %s", getprogname(),
	    (long)getpid(), msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	(void)send(log_tee_fd, line, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void
vlog(int priority, const char *fmt, va_list ap)
{
	char	 msg[1024];
	int	 saved_errno = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_to_stderr) {
		/* One write per line, so lines of several processes don't mix. */
		fprintf(stderr, "%s[%ld]: %s\n", getprogname(),
		    (long)getpid(), msg);
		fflush(stderr);
	} else
		syslog(priority, "%s", msg);
	tee(priority, msg);

	errno = saved_errno;
}

static void
vlog_errno(int priority, const char *fmt, va_list ap)
{
	char	 msg[1024], full[1280];
	int	 saved_errno = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	errno = saved_errno;
	if (log_to_stderr)
		fprintf(stderr, "%s[%ld]: %s: %s\n", getprogname(),
		    (long)getpid(), msg, strerror(saved_errno));
	else
		syslog(priority, "%s: %s", msg, strerror(saved_errno));
	if (log_tee_fd != -1) {
		snprintf(full, sizeof(full), "%s: %s", msg,
		    strerror(saved_errno));
		tee(priority, full);
	}
	errno = saved_errno;
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_errno(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

/*
 * For a message that may repeat: whether one last logged at *last (0:
 * never) may be logged again at now, interval ms later.  If so, *last
 * becomes now.
 */
int
log_due(int64_t *last, int64_t now, int64_t interval)
{
	if (*last != 0 && now - *last < interval)
		return 0;
	*last = now;
	return 1;
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_errno(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}
