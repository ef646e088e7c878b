/*
 * echod's side of systemd: readiness notification (sd_notify(3)) and the
 * listening sockets of socket activation (sd_listen_fds(3)).
 *
 * Everything here does nothing when echod was built without libsystemd,
 * or when systemd did not start it (no NOTIFY_SOCKET, no LISTEN_FDS):
 * echod then runs as if this file did not exist.
 *
 * What the master tells systemd, in this order (systemd.service(5)):
 *   READY=1         once the first generation of workers serves
 *   RELOADING=1     when a reload begins, with MONOTONIC_USEC, the time
 *                   it began, by which systemd tells reloads apart
 *   READY=1         when the reload's new generation serves, or at once,
 *                   with STATUS=reload failed: ..., when it was refused
 *   STOPPING=1      when a stop begins
 *   STATUS=...      the busy and idle workers, whenever that changes, at
 *                   most once a second
 *
 * "Serves" is what echodctl reload waits for: prefork workers of the
 * generation have set themselves up and reached accept().  The sockets
 * listen before that, and clients would only queue; but a worker that
 * cannot set itself up (its user was removed, say) makes the master give
 * up, and waiting for the workers lets "systemctl start" report that as
 * the failed start it is, not as a service that started and then died.
 *
 * This file only tells: the master feeds it the pool's counts (pool.h)
 * and the events, among them that a generation serves, which the pool
 * works out once for echodctl reload and for systemd alike
 * (pool_census()).  STATUS= is composed from the counts every
 * STATUS_INTERVAL_MS, and only when systemd listens.  sd_notify() (a
 * socket, a sendmsg() and a close()) is called only when there is
 * something new to say.  Its datagram could wait only if systemd's
 * queue were full, and the master sends a few a second at most.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <dlfcn.h>
#include <systemd/sd-daemon.h>
#endif

#include "clock.h"
#include "log.h"
#include "pool.h"
#include "systemd.h"

#define STATUS_INTERVAL_MS	1000

static int	 notify = -1;		/* systemd listens; -1: not known yet */
static int	 ready_sent;		/* the first READY=1 */
static int	 waiting = 1;		/* for the generation to serve */
static int	 stopping;
static int	 daemonized;
static int64_t	 next_status;
static char	 status[512];		/* as last sent */
static char	 reload_error[384];	/* since the last good reload */

#ifdef HAVE_LIBSYSTEMD
/*
 * libsystemd is opened only when systemd started echod (NOTIFY_SOCKET,
 * LISTEN_PID or LISTEN_FDS), not linked: it and the six libraries it
 * needs are 35 of the master's 83 mappings, and every fork copies every
 * mapping, so linked they made each worker's start a third dearer
 * (BENCHMARKS.md, the burst).  The prototypes are the header's.
 */
#define LIBSYSTEMD_SONAME	"libsystemd.so.0"

static struct {
	int		  tried;
	void		 *handle;
	__typeof__(sd_notify)		*notify;
	__typeof__(sd_listen_fds)	*listen_fds;
	__typeof__(sd_is_socket_inet)	*is_socket_inet;
} lib;

/* Whether libsystemd is there to use; said once if it is not. */
static int
libsystemd_open(void)
{
	if (lib.tried)
		return lib.handle != NULL;
	lib.tried = 1;
	if ((lib.handle = dlopen(LIBSYSTEMD_SONAME, RTLD_NOW | RTLD_LOCAL))
	    == NULL) {
		log_warnx("systemd: cannot open %s: %s", LIBSYSTEMD_SONAME,
		    dlerror());
		return 0;
	}
	/* POSIX's way from a void * to a function pointer (dlsym(3)). */
	*(void **)&lib.notify = dlsym(lib.handle, "sd_notify");
	*(void **)&lib.listen_fds = dlsym(lib.handle, "sd_listen_fds");
	*(void **)&lib.is_socket_inet = dlsym(lib.handle,
	    "sd_is_socket_inet");
	if (lib.notify == NULL || lib.listen_fds == NULL ||
	    lib.is_socket_inet == NULL) {
		log_warnx("systemd: %s lacks sd_notify, sd_listen_fds or "
		    "sd_is_socket_inet", LIBSYSTEMD_SONAME);
		dlclose(lib.handle);
		lib.handle = NULL;
		return 0;
	}
	return 1;
}
#endif

static int
notify_enabled(void)
{
	if (notify == -1) {
#ifdef HAVE_LIBSYSTEMD
		notify = getenv("NOTIFY_SOCKET") != NULL && libsystemd_open();
#else
		notify = 0;
#endif
	}
	return notify;
}

static void	send_state(const char *, ...)
		    __attribute__((__format__ (printf, 1, 2)));

static void
send_state(const char *fmt, ...)
{
	static int	 warned;
	char		 msg[1024];
	va_list		 ap;
	int		 r = 1;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
#ifdef HAVE_LIBSYSTEMD
	/* Every caller asked notify_enabled(), which opened libsystemd. */
	r = lib.notify(0, msg);
#endif
	/* Once: systemd gone away is no reason to fill the log. */
	if (r < 0 && !warned) {
		errno = -r;
		log_warn("sd_notify");
		warned = 1;
	}
}

/* "2 busy, 2 idle workers (generation 1)", or how the stop goes. */
static void
format_status(const struct pool_counts *pc, unsigned int generation,
    char *buf, size_t len)
{
	size_t	 n;

	if (stopping) {
		snprintf(buf, len, "stopping: %zu worker%s left", pc->total,
		    pc->total == 1 ? "" : "s");
		return;
	}
	n = snprintf(buf, len, "%zu busy, %zu idle workers (generation %u",
	    pc->busy, pc->idle, generation);
	if (pc->starting > 0 && n < len)
		n += snprintf(buf + n, len - n, ", %zu starting", pc->starting);
	if (pc->draining > 0 && n < len)
		n += snprintf(buf + n, len - n, ", %zu draining", pc->draining);
	if (n < len)
		n += snprintf(buf + n, len - n, ")");
	/* Until a reload succeeds, "systemctl status" says why one failed. */
	if (reload_error[0] != '\0' && n < len)
		snprintf(buf + n, len - n, "; reload failed: %s", reload_error);
}

/*
 * The generation serves (failure NULL), or did not in time (failure
 * says how): READY=1, at start-up and after each reload.
 */
void
systemd_ready(const struct pool_counts *pc, unsigned int generation,
    const char *failure, int64_t now)
{
	if (!notify_enabled() || stopping)
		return;
	waiting = 0;
	if (failure != NULL)
		strlcpy(status, failure, sizeof(status));
	else
		format_status(pc, generation, status, sizeof(status));
	/* Forked into the background: tell systemd who we are. */
	if (daemonized && !ready_sent)
		send_state("READY=1\nMAINPID=%ld\nSTATUS=%s", (long)getpid(),
		    status);
	else
		send_state("READY=1\nSTATUS=%s", status);
	ready_sent = 1;
	next_status = now + STATUS_INTERVAL_MS;
}

/*
 * Called on every turn of the master's loop, with the pool's counts.
 * Returns when it wants to be called again (ms, monotonic), or
 * INT64_MAX.
 */
int64_t
systemd_status(const struct pool_counts *pc, unsigned int generation,
    int64_t now)
{
	char	 buf[sizeof(status)];

	if (!notify_enabled() || !ready_sent || waiting)
		return INT64_MAX;
	if (now < next_status)
		return next_status;
	format_status(pc, generation, buf, sizeof(buf));
	if (strcmp(buf, status) != 0) {
		send_state("STATUS=%s", buf);
		strlcpy(status, buf, sizeof(status));
	}
	next_status = now + STATUS_INTERVAL_MS;
	return next_status;
}

/*
 * A reload begins (SIGHUP or echodctl reload).  During start-up, before
 * the first READY=1, there is nothing to tell: that READY=1 comes when
 * whichever generation is current serves.
 */
void
systemd_reloading(void)
{
	if (!notify_enabled() || !ready_sent)
		return;
	send_state("RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)clock_us());
}

/* The reload was refused: the running generation goes on serving. */
void
systemd_reload_failed(const char *err)
{
	if (!notify_enabled())
		return;
	strlcpy(reload_error, err, sizeof(reload_error));
	waiting = 0;
	if (!ready_sent)
		return;
	snprintf(status, sizeof(status), "reload failed: %s", err);
	send_state("READY=1\nSTATUS=%s", status);
}

/* The reload took: READY=1 once the new generation serves. */
void
systemd_reloaded(void)
{
	if (!notify_enabled())
		return;
	reload_error[0] = '\0';
	waiting = 1;
}

void
systemd_stopping(void)
{
	if (!notify_enabled())
		return;
	waiting = 0;
	stopping = 1;
	snprintf(status, sizeof(status), "stopping");
	send_state("STOPPING=1\nSTATUS=%s", status);
}

/* echod forked into the background: READY=1 will carry MAINPID=. */
void
systemd_daemonized(void)
{
	daemonized = 1;
}

/*
 * A live upgrade handed over: the new master, pid, is the service's main
 * process from now on, said before this one, the unit's main pid, exits
 * (NotifyAccess= must let the new one's notices in).
 */
void
systemd_mainpid(pid_t pid)
{
	if (!notify_enabled())
		return;
	send_state("MAINPID=%ld\nSTATUS=upgraded: pid %ld serves",
	    (long)pid, (long)pid);
}

/*
 * The number of listening sockets systemd passed (LISTEN_FDS, from
 * descriptor 3 on), or 0.  sd_listen_fds() checks that LISTEN_PID is
 * ours, sets close-on-exec on them and removes the variables, so that
 * nothing started by echod takes them for its own.  Without libsystemd
 * the variables are ignored, and main() closes the descriptors.
 */
int
systemd_listen_fds(void)
{
#ifdef HAVE_LIBSYSTEMD
	int	 n;

	/* Not started by systemd: nothing to open libsystemd for. */
	if (getenv("LISTEN_PID") == NULL && getenv("LISTEN_FDS") == NULL)
		return 0;
	if (!libsystemd_open())
		return 0;
	if ((n = lib.listen_fds(1)) < 0) {
		errno = -n;
		log_warn("socket activation: sd_listen_fds");
		return 0;
	}
	return n;
#else
	return 0;
#endif
}

/*
 * Whether systemd's n descriptors from first on are what echod can
 * serve: listening TCP sockets and UDP sockets (ListenDatagram=), over
 * IPv4 or IPv6.  A connected socket or a UNIX one in the socket unit is
 * a mistake to report before echod starts, not something to serve.
 * Returns -1 with err.
 */
int
systemd_check_fds(int first, int n, char *err, size_t errlen)
{
#ifdef HAVE_LIBSYSTEMD
	int	 fd;

	if (n > 0 && !libsystemd_open()) {
		snprintf(err, errlen, "socket activation: cannot open %s",
		    LIBSYSTEMD_SONAME);
		return -1;
	}
	for (fd = first; fd < first + n; fd++) {
		if (lib.is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) <= 0 &&
		    lib.is_socket_inet(fd, AF_UNSPEC, SOCK_DGRAM, -1, 0) <= 0) {
			snprintf(err, errlen, "socket activation: descriptor "
			    "%d is not a listening TCP socket nor a UDP one",
			    fd);
			return -1;
		}
	}
	return 0;
#else
	(void)first;
	(void)n;
	snprintf(err, errlen, "socket activation: built without libsystemd");
	return -1;
#endif
}
