/*
 * The master: its signals, its loop, reloading the configuration and
 * stopping.  The workers themselves are managed in pool.c.
 *
 * Signals.  The handlers only set flags.  The master keeps its signals
 * blocked at all times except inside ppoll(), which unblocks them and
 * sleeps in one atomic step: a signal that arrives while the master is
 * busy stays pending until the next ppoll(), which then returns at once.
 * Checking a flag and then calling plain poll() or pause() would leave a
 * window in which a signal is noticed only when the next one comes.
 *
 *   SIGHUP   reload
 *   SIGTERM, SIGINT  fast stop
 *   SIGQUIT  graceful stop
 *   SIGCHLD  reap
 *
 * Besides signals, ppoll() waits on the wake pipe, to which a worker
 * writes when the pool runs short of idle workers (pool.c).
 *
 * Every iteration of the loop does, in this order: reap the dead, act on
 * a stop request, act on a reload request, then enforce deadlines and
 * adjust the pool.  Workers are only signalled from this loop, before
 * they have been reaped, so a pid that is signalled cannot have been
 * reused by another process.
 */

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "title.h"

static volatile sig_atomic_t	 got_sighup;
static volatile sig_atomic_t	 got_sigchld;
static volatile sig_atomic_t	 got_stop;	/* the signal's number */

static void
on_signal(int sig)
{
	switch (sig) {
	case SIGHUP:
		got_sighup = 1;
		break;
	case SIGCHLD:
		got_sigchld = 1;
		break;
	case SIGQUIT:
		/* A fast stop already asked for stays fast. */
		if (got_stop == 0)
			got_stop = sig;
		break;
	default:
		got_stop = sig;
		break;
	}
}

static const int master_signals[] = {
	SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGCHLD
};
#define NSIGNALS	(sizeof(master_signals) / sizeof(master_signals[0]))

/*
 * Called from main() before the pidfile names us: from then on a signal
 * waits, pending, for the loop instead of killing a half-started master.
 */
void
master_block_signals(void)
{
	sigset_t	 set;
	size_t		 i;

	sigemptyset(&set);
	for (i = 0; i < NSIGNALS; i++)
		sigaddset(&set, master_signals[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		fatal("sigprocmask");
}

static void
master_install_handlers(sigset_t *waitmask)
{
	struct sigaction	 sa;
	sigset_t		 current;
	size_t			 i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < NSIGNALS; i++)
		sigaddset(&sa.sa_mask, master_signals[i]);
	for (i = 0; i < NSIGNALS; i++)
		if (sigaction(master_signals[i], &sa, NULL) == -1)
			fatal("sigaction");
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		fatal("sigaction");

	/* ppoll() waits with our signals unblocked, and only there. */
	if (sigprocmask(SIG_BLOCK, NULL, &current) == -1)
		fatal("sigprocmask");
	*waitmask = current;
	for (i = 0; i < NSIGNALS; i++)
		sigdelset(waitmask, master_signals[i]);
}

void
master_title(const struct master *m)
{
	if (m->stop != RUNNING)
		title_set("master [stopping] %s", m->conf->path);
	else
		title_set("master [gen %u, %zu worker%s] %s", m->generation,
		    m->nworkers, m->nworkers == 1 ? "" : "s", m->conf->path);
}

/*
 * Stop: fast (SIGTERM to every worker) or graceful (SIGQUIT, then
 * SIGTERM at drain-timeout).  A fast stop may overtake a graceful one.
 */
void
begin_stop(struct master *m, int fast, const char *why, int64_t now)
{
	if (m->stop == STOP_FAST || (m->stop == STOP_GRACEFUL && !fast))
		return;
	/* A stop for a failure is a warning: it reaches the terminal too. */
	if (m->exit_status != 0)
		log_warnx("%s: %s stop", why, fast ? "fast" : "graceful");
	else
		log_info("%s: %s stop", why, fast ? "fast" : "graceful");
	m->stop = fast ? STOP_FAST : STOP_GRACEFUL;
	systemd_stopping();
	/* From here on, new connections are refused by the kernel. */
	listeners_close(m->listeners, m->nlisteners);
	if (fast)
		pool_stop_all(m, now);
	else
		pool_drain(m, now, 1);
	master_title(m);
}

/* What a configuration means on this system, said once per load. */
static void
config_notes(const struct config *conf)
{
	if (conf->user != NULL && !privdrop_applies(conf))
		log_warnx("not running as root: user %s is ignored",
		    conf->user);
	if (conf->chroot_dir != NULL && geteuid() != 0)
		log_warnx("not running as root: chroot %s is ignored",
		    conf->chroot_dir);
	limits_check(conf);
}

/*
 * The sandbox's filter is compiled once, when a configuration first
 * asks for it; a failure refuses that configuration.
 */
static int
sandbox_ready(const struct config *conf, char *err, size_t errlen)
{
#ifdef HAVE_SECCOMP
	if (conf->sandbox && sandbox_prepare() == -1) {
		snprintf(err, errlen, "%s: the sandbox's seccomp filter "
		    "cannot be compiled (see above); \"sandbox no\" runs "
		    "workers without it", conf->path);
		return -1;
	}
#else
	(void)conf;
	(void)err;
	(void)errlen;
#endif
	return 0;
}

/*
 * SIGHUP: read the file into a fresh configuration and, only if it is
 * valid and its new addresses can be bound, switch to it: the listening
 * sockets that are still configured stay open as they are, a new
 * generation of workers starts, and the old one finishes its connections.
 * Any failure leaves the running configuration and workers untouched.
 */
int
master_reload(struct master *m, int64_t now, char *err, size_t errlen)
{
	struct config	*conf;
	struct listener	*ls;
	size_t		 nls;

	log_info("reloading %s", m->conf->path);
	systemd_reloading();
	if ((conf = config_load(m->conf->path, err, errlen)) == NULL ||
	    sandbox_ready(conf, err, errlen) == -1 ||
	    listeners_open(conf, m->listeners, m->nlisteners, &ls, &nls, err,
	    errlen) == -1) {
		log_warnx("reload failed: %s; still serving generation %u "
		    "with the previous configuration", err, m->generation);
		systemd_reload_failed(err);
		config_free(conf);
		return -1;
	}
	if (strcmp(conf->pidfile, m->conf->pidfile) != 0)
		log_warnx("pidfile %s: a new pidfile takes effect only at the "
		    "next start; still using %s", conf->pidfile,
		    m->conf->pidfile);
	if (strcmp(conf->control_path, m->conf->control_path) != 0)
		log_warnx("control socket %s: a new control socket takes "
		    "effect only at the next start; still using %s",
		    conf->control_path, m->conf->control_path);
	if (conf->control_gid != m->conf->control_gid ||
	    (conf->control_group == NULL) != (m->conf->control_group == NULL))
		log_warnx("control group: a new control group takes effect "
		    "only at the next start");
	config_notes(conf);
	log_setfacility(conf->syslog_facility);

	/* The addresses no longer configured are those still open in old. */
	listeners_close(m->listeners, m->nlisteners);
	free(m->listeners);
	m->listeners = ls;
	m->nlisteners = nls;
	config_free(m->conf);
	m->conf = conf;

	m->generation++;
	m->start_failures = 0;
	m->next_start = 0;
	m->growth_step = 0;
	m->more_to_start = 0;
	pool_drain(m, now, 0);
	pool_adjust(m, now);
	master_title(m);
	systemd_reloaded(now);
	log_info("reloaded: generation %u, %d worker%s, %zu listening "
	    "socket%s", m->generation, conf->prefork,
	    conf->prefork == 1 ? "" : "s", nls, nls == 1 ? "" : "s");
	return 0;
}

/* How often the master looks whether its first workers serve. */
#define START_POLL_MS	20

/*
 * Without -d, the command that started echod waits until prefork workers
 * of the first generation serve, and then exits 0 (daemon.c): the point
 * at which systemd hears READY=1.  Workers do not say when they reach
 * accept(), so the master looks at their slots now and then.  Workers
 * that do not serve within DAEMON_START_WAIT_MS (forks that keep failing
 * at a process limit, say) make a start that failed, as systemd's start
 * timeout would.  Returns when to look again.
 */
static int64_t
check_started(struct master *m, int64_t now, int64_t deadline)
{
	size_t	 serving;

	if (!daemon_starting() || m->stop != RUNNING)
		return INT64_MAX;
	serving = pool_serving(m);
	if (serving >= (size_t)m->conf->prefork) {
		daemon_ready();
		return INT64_MAX;
	}
	if (now >= deadline) {
		log_warnx("%zu of %d workers serve after %d s", serving,
		    m->conf->prefork, DAEMON_START_WAIT_MS / 1000);
		m->exit_status = 1;
		begin_stop(m, 1, "the workers did not start in time; giving up",
		    now);
		return INT64_MAX;
	}
	return now + START_POLL_MS < deadline ? now + START_POLL_MS : deadline;
}

/* Empty the wake pipe. */
static void
drain_wake_pipe(struct master *m)
{
	char	 buf[64];

	while (read(m->wake[0], buf, sizeof(buf)) > 0)
		;
}

int
master_run(struct config *conf, struct listener *ls, size_t nls,
    struct pidfh *pfh, struct control *ctl)
{
	struct master	 m;
	struct totals	 t;
	struct pollfd	 pfd[1 + 1 + CONTROL_CLIENTS_MAX];
	struct timespec	 ts;
	sigset_t	 waitmask;
	int64_t		 now, wait, ctl_deadline, sd_deadline, start_deadline;
	int64_t		 st_deadline;
	size_t		 i, nctl = 0;
	char		 err[1024];

	memset(&m, 0, sizeof(m));
	m.conf = conf;
	m.listeners = ls;
	m.nlisteners = nls;
	m.pfh = pfh;
	m.ctl = *ctl;
	m.generation = 1;
	start_deadline = scoreboard_now() + DAEMON_START_WAIT_MS;
	master_install_handlers(&waitmask);
	if (sandbox_ready(conf, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		control_close(&m.ctl);
		pidfile_remove(pfh);
		return 1;
	}
	if (pool_init(&m) == -1) {
		control_close(&m.ctl);
		pidfile_remove(pfh);
		return 1;
	}

	log_info("echod %s starting: %d worker%s, configuration %s",
	    PACKAGE_VERSION, conf->prefork, conf->prefork == 1 ? "" : "s",
	    conf->path);
	for (i = 0; i < nls; i++)
		log_info("listening on %s%s%s", ls[i].bound,
		    ls[i].from_systemd ? " (from systemd)" : "",
		    ls[i].addr.proxy_protocol ? " (proxy-protocol)" : "");
	config_notes(conf);
	master_title(&m);

	/* pfd[0]: the wake pipe; then the control socket and its clients. */
	pfd[0].fd = m.wake[0];
	pfd[0].events = POLLIN;
	pfd[0].revents = 0;
	for (;;) {
		now = scoreboard_now();
		if (pfd[0].revents & POLLIN)
			drain_wake_pipe(&m);
		if (got_sigchld) {
			got_sigchld = 0;
			pool_reap(&m, now);
		}
		if (got_stop != 0)
			begin_stop(&m, got_stop != SIGQUIT, strsignal(got_stop),
			    now);
		if (got_sighup) {
			got_sighup = 0;
			if (m.stop == RUNNING)
				master_reload(&m, now, err, sizeof(err));
			else
				log_info("stopping: reload ignored");
		}
		control_service(&m, pfd + 1, nctl, now);
		pool_enforce_deadlines(&m, now);
		/*
		 * Workers may ask again from here on: whatever made them ask
		 * before is seen by this look at the pool.
		 */
		__atomic_store_n(&m.sb->wake, 0, __ATOMIC_SEQ_CST);
		if (m.stop == RUNNING)
			pool_adjust(&m, now);
		else if (pool_count(&m, 0) == 0)
			break;

		nctl = control_pollfds(&m.ctl, pfd + 1, now, &ctl_deadline);
		wait = pool_next_wakeup(&m, now);
		if (ctl_deadline != INT64_MAX && (wait < 0 ||
		    ctl_deadline - now < wait))
			wait = ctl_deadline > now ? ctl_deadline - now : 0;
		/*
		 * systemd (systemd.c): READY=1 once prefork workers of the
		 * generation serve, STATUS= now and then.  Only a deadline
		 * for ppoll(): nothing here waits.
		 */
		sd_deadline = systemd_update(&m, now);
		if (sd_deadline != INT64_MAX && (wait < 0 ||
		    sd_deadline - now < wait))
			wait = sd_deadline > now ? sd_deadline - now : 0;
		st_deadline = check_started(&m, now, start_deadline);
		if (st_deadline != INT64_MAX && (wait < 0 ||
		    st_deadline - now < wait))
			wait = st_deadline > now ? st_deadline - now : 0;
		if (wait >= 0) {
			ts.tv_sec = wait / 1000;
			ts.tv_nsec = (wait % 1000) * 1000000;
		}
		pfd[0].revents = 0;
		if (ppoll(pfd, 1 + nctl, wait >= 0 ? &ts : NULL, &waitmask) ==
		    -1) {
			if (errno != EINTR)
				fatal("ppoll");
			for (i = 0; i < 1 + nctl; i++)
				pfd[i].revents = 0;
		}
	}

	control_close(&m.ctl);
	scoreboard_totals(m.sb, &t);
	log_info("stopped after %llu connections, %llu bytes in, %llu bytes "
	    "out, %llu idle timeouts, %llu refused by "
	    "max-connections-per-address",
	    (unsigned long long)t.connections, (unsigned long long)t.bytes_in,
	    (unsigned long long)t.bytes_out, (unsigned long long)t.timeouts,
	    (unsigned long long)t.refused);
	listeners_close(m.listeners, m.nlisteners);
	/* Last: once the pidfile is gone, echod has said all it will say. */
	pidfile_remove(m.pfh);
	free(m.listeners);
	free(m.workers);
	config_free(m.conf);
	return m.exit_status;
}
