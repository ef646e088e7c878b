/*
 * Logging: stderr in the foreground, syslog as a daemon.
 */

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

static void
vlog(int priority, const char *fmt, va_list ap)
{
	int	 saved_errno = errno;

	if (log_to_stderr) {
		/* One write per line, so lines of several processes don't mix. */
		char	 line[1024];
		int	 n;

		n = snprintf(line, sizeof(line), "%s[%ld]: ", getprogname(),
		    (long)getpid());
		if (n < 0)
			n = 0;
		if ((size_t)n < sizeof(line))
			vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		fprintf(stderr, "%s\n", line);
		fflush(stderr);
	} else
		vsyslog(priority, fmt, ap);

	errno = saved_errno;
}

static void
vlog_errno(int priority, const char *fmt, va_list ap)
{
	char	 msg[1024];
	int	 saved_errno = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	errno = saved_errno;
	if (log_to_stderr)
		fprintf(stderr, "%s[%ld]: %s: %s\n", getprogname(),
		    (long)getpid(), msg, strerror(saved_errno));
	else
		syslog(priority, "%s: %s", msg, strerror(saved_errno));
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
