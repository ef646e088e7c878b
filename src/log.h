/*
 * Logging for echod, after OpenNTPD's log.c: messages go to stderr
 * while echod runs in the foreground (-d, or before it daemonizes) and
 * to syslog once it has become a daemon; until the daemon is ready,
 * warnings and errors also go to the terminal of the command that
 * started it (log_tee(), daemon.c).  errno is preserved, so a caller
 * may log and then still look at it.
 */

#ifndef ECHOD_LOG_H
#define ECHOD_LOG_H

#include <stdarg.h>
#include <stdint.h>

/* log_init()'s flags. */
#define LOG_TO_STDERR	0x01	/* not syslog */
#define LOG_VERBOSE	0x02	/* log_debug() too */

void	log_init(unsigned int, int);
void	log_setfacility(int facility);
void	log_tee(int fd);
void	log_warn(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	log_warnx(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	log_info(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	log_debug(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
int	log_due(int64_t *, int64_t, int64_t);
void	fatal(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2), __noreturn__));

#endif /* ECHOD_LOG_H */
