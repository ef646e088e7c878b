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
 *   SIGUSR2  live binary upgrade (upgrade.c), as echodctl upgrade
 *   SIGPIPE and every other catchable signal not listed: ignored
 *            (signals.c), so that none kills the master by accident
 *
 * Besides signals, ppoll() waits on the wake pipe, to which a worker
 * writes when the pool runs short of idle workers (pool.c), and on the
 * control socket and its clients (control.c).
 *
 * Every iteration of the loop does, in this order: reap the dead, act on
 * a stop request, act on a reload request, count the pool (the one pass
 * over the worker table, pool_census()), serve the control socket, then
 * enforce deadlines and adjust the pool.  Workers are only signalled
 * from this loop, before they have been reaped, so a pid that is
 * signalled cannot have been reused by another process.
 *
 * The master sits on top: it calls down into the pool, the control
 * socket, the reports and systemd's notifier, and hears from the pool
 * through the events its calls return (pool_events()).  The commands of
 * the control socket are run here (master_command()).
 */

#include <sys/types.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "conf.h"
#include "control.h"
#include "daemon.h"
#include "listener.h"
#include "log.h"
#include "master.h"
#include "metrics.h"
#include "metricsd.h"
#include "pool.h"
#include "privdrop.h"
#include "report.h"
#include "rlimits.h"
#include "sandbox.h"
#include "scoreboard.h"
#include "signals.h"
#include "systemd.h"
#include "title.h"
#include "upgrade.h"

/*
 * How long a reload's generation has to serve (pool_census()): echodctl
 * reload and systemd both wait that long for it.
 */
#define RELOAD_WAIT_MS		10000

enum stop_mode {
	RUNNING,
	STOP_GRACEFUL,
	STOP_FAST,
};

struct master {
	struct config		*conf;
	struct listener		*listeners;
	size_t			 nlisteners;
	struct pidfh		*pfh;
	struct pool		*pool;
	struct control		*ctl;
	enum stop_mode		 stop;
	int			 exit_status;
	int64_t			 serve_wait;	/* ms the generation has */

	/*
	 * While a reload's generation is on trial (pool.c), what the
	 * previous one runs with, to go back to: its configuration, its
	 * listeners (the same descriptors as those kept in listeners[], and
	 * those the new configuration no longer has, still open in
	 * removed[]), freed once the new generation serves.
	 */
	struct config		*prev_conf;
	struct listener		*prev_listeners;
	size_t			 nprev_listeners;
	struct listener		*removed;
	size_t			 nremoved;
	int			 reloading;	/* its generation to serve */
	pid_t			 upgraded;	/* the new master that serves */
};

static volatile sig_atomic_t	 got_sighup;
static volatile sig_atomic_t	 got_sigchld;
static volatile sig_atomic_t	 got_sigusr2;
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
	case SIGUSR2:
		got_sigusr2 = 1;
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
	SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGCHLD, SIGUSR2
};
#define NSIGNALS	(sizeof(master_signals) / sizeof(master_signals[0]))

/*
 * Called from main() before the pidfile names us: from then on a signal
 * waits, pending, for the loop instead of killing a half-started master,
 * and one that echod does not use is ignored.
 */
void
master_block_signals(void)
{
	sigset_t	 set;
	size_t		 i;

	signals_ignore_unused();
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

/* The master's title shows the pool's size: no system call, argv memory. */
static void
master_title(const struct master *m)
{
	size_t	 n = pool_counts(m->pool)->current;

	if (m->upgraded != 0)
		title_set("master [upgraded to %ld, draining] %s",
		    (long)m->upgraded, m->conf->path);
	else if (m->stop != RUNNING)
		title_set("master [stopping] %s", m->conf->path);
	else
		title_set("master [gen %u, %zu worker%s] %s",
		    pool_generation(m->pool), n, n == 1 ? "" : "s",
		    m->conf->path);
}

/*
 * Stop: fast (SIGTERM to every worker) or graceful (SIGQUIT, then
 * SIGTERM at drain-timeout).  A fast stop may overtake a graceful one.
 */
static void
begin_stop(struct master *m, enum stop_mode how, const char *why,
    int64_t now)
{
	if (m->stop == STOP_FAST || (m->stop == STOP_GRACEFUL &&
	    how == STOP_GRACEFUL))
		return;
	/* A stop for a failure is a warning: it reaches the terminal too. */
	if (m->exit_status != 0)
		log_warnx("%s: %s stop", why, how == STOP_FAST ? "fast" :
		    "graceful");
	else
		log_info("%s: %s stop", why, how == STOP_FAST ? "fast" :
		    "graceful");
	m->stop = how;
	/* Handed over, the service does not stop: its new master serves. */
	if (m->upgraded == 0)
		systemd_stopping();
	upgrade_abort();
	metricsd_stop();
	/* From here on, new connections are refused by the kernel. */
	listeners_close(m->listeners, m->nlisteners);
	listeners_close(m->removed, m->nremoved);
	if (how == STOP_FAST)
		pool_stop_all(m->pool, now);
	else
		pool_drain_all(m->pool, now);
	master_title(m);
}

static void	reload_outcome(struct master *, enum reload_outcome);

/* What a reload kept to go back to, no longer needed. */
static void
forget_previous(struct master *m)
{
	listeners_close(m->removed, m->nremoved);
	free(m->removed);
	free(m->prev_listeners);
	config_free(m->prev_conf);
	m->removed = m->prev_listeners = NULL;
	m->nremoved = m->nprev_listeners = 0;
	m->prev_conf = NULL;
}

/*
 * The reload's generation serves, and the previous one drains (pool.c):
 * the listeners the new configuration dropped close now, and the kept
 * sockets block again if only one is left.
 */
static void
reload_proved(struct master *m)
{
	char	 err[256];

	forget_previous(m);
	if (listeners_apply(m->conf, m->listeners, m->nlisteners, err,
	    sizeof(err)) == -1)
		log_warnx("%s", err);
	log_info("generation %u serves; the previous generation drains",
	    pool_generation(m->pool));
}

/*
 * The reload's generation cannot serve: its workers drain, and the
 * previous generation, which never stopped accepting, goes on with its
 * configuration and listeners.  echodctl reload and systemd are told.
 */
static void
reload_rollback(struct master *m, int64_t now)
{
	struct listener	*ls = m->listeners;
	size_t		 nls = m->nlisteners, i, j;
	unsigned int	 failed = pool_generation(m->pool);
	char		 why[512], err[256];

	/* The sockets only the new configuration had close. */
	for (i = 0; i < nls; i++) {
		for (j = 0; j < m->nprev_listeners; j++)
			if (ls[i].fd == m->prev_listeners[j].fd)
				break;
		if (j == m->nprev_listeners && ls[i].fd != -1)
			close(ls[i].fd);
	}
	free(ls);
	/* Those it dropped are in prev_listeners: not closed. */
	free(m->removed);
	m->removed = NULL;
	m->nremoved = 0;
	m->listeners = m->prev_listeners;
	m->nlisteners = m->nprev_listeners;
	m->prev_listeners = NULL;
	m->nprev_listeners = 0;
	config_free(m->conf);
	m->conf = m->prev_conf;
	m->prev_conf = NULL;
	log_setfacility(m->conf->syslog_facility);
	if (listeners_apply(m->conf, m->listeners, m->nlisteners, err,
	    sizeof(err)) == -1)
		log_warnx("%s", err);
	pool_rollback(m->pool, now, m->conf, m->listeners, m->nlisteners);

	snprintf(why, sizeof(why), "generation %u: %s; back to generation "
	    "%u with the previous configuration", failed,
	    pool_trial_failure(m->pool), pool_generation(m->pool));
	log_warnx("reload failed: %s", why);
	reload_outcome(m, RELOAD_NOT_SERVING);
	control_answer(m->ctl, failed, now, "error: reload failed: %s\n",
	    why);
	systemd_reload_failed(why);
	master_title(m);
}

/*
 * The one place where a reload's outcome is decided and counted: at
 * once when it is refused, or when its generation serves or does not in
 * time.  A reload replaced by the next before its generation served
 * ends with the next one's outcome.
 */
static void
reload_outcome(struct master *m, enum reload_outcome outcome)
{
	if (outcome == RELOAD_OK || outcome == RELOAD_NOT_SERVING) {
		if (!m->reloading)
			return;		/* the first generation, not a reload */
		m->reloading = 0;
	}
	pool_count_reload(m->pool, outcome);
}

/* Whether a UDP listener is: the UDP workers' count is worth saying. */
static int
has_udp(const struct master *m)
{
	size_t	 i;

	for (i = 0; i < m->nlisteners; i++)
		if (m->listeners[i].addr.udp)
			return 1;
	return 0;
}

/*
 * What the pool's calls said happened: workers that cannot start (stop),
 * a new size (the title), a generation that serves or does not (the
 * answer to echodctl reload, and READY=1 for systemd).
 */
static void
pool_events(struct master *m, int events, int64_t now)
{
	const struct pool_counts	*pc = pool_counts(m->pool);
	unsigned int			 gen = pool_generation(m->pool);
	char				 failure[128];

	/* A trial is always a reload's: there is a previous to go back to. */
	if ((events & POOL_TRIAL_FAILED) && m->prev_conf != NULL) {
		reload_rollback(m, now);
		return;
	}
	if ((events & POOL_SERVING) && m->prev_conf != NULL)
		reload_proved(m);
	if (events & POOL_GIVE_UP) {
		m->exit_status = 1;
		begin_stop(m, STOP_FAST, pool_give_up_reason(m->pool), now);
	}
	if (events & POOL_RESIZED)
		master_title(m);
	if (events & POOL_SERVING) {
		/*
		 * Without -d, the command that started echod exits 0; in
		 * an upgrade, the old master hands over.
		 */
		if (daemon_starting())
			upgrade_served();
		daemon_ready();
		reload_outcome(m, RELOAD_OK);
		if (has_udp(m))
			control_answer(m->ctl, gen, now, "ok: generation %u "
			    "serving with %zu workers and %zu UDP workers\n",
			    gen, pc->ready, pc->udp_ready);
		else
			control_answer(m->ctl, gen, now, "ok: generation %u "
			    "serving with %zu workers\n", gen, pc->ready);
		systemd_ready(pc, gen, NULL, now);
	}
	if ((events & POOL_NOT_SERVING) && daemon_starting()) {
		/*
		 * Still starting without -d (forks that keep failing at a
		 * process limit, say): a start that failed, as systemd's
		 * start timeout would make it.
		 */
		log_warnx("%zu of %d workers serve after %d s", pc->ready,
		    m->conf->prefork, (int)(m->serve_wait / 1000));
		m->exit_status = 1;
		begin_stop(m, STOP_FAST, "the workers did not start in time; "
		    "giving up", now);
	} else if (events & POOL_NOT_SERVING) {
		reload_outcome(m, RELOAD_NOT_SERVING);
		snprintf(failure, sizeof(failure), "generation %u has %zu of "
		    "%d workers serving after %d s", gen, pc->ready,
		    m->conf->prefork, (int)(m->serve_wait / 1000));
		control_answer(m->ctl, gen, now, "error: %s\n", failure);
		systemd_ready(pc, gen, failure, now);
	}
}

/*
 * The workers a generation of conf has on ls, for the log: "4 workers",
 * "1 worker and 2 UDP workers", "2 UDP workers".  Each kind is named
 * only where it has a socket to serve (the pool starts no TCP worker
 * without a TCP listener); without UDP the words are those echod has
 * always logged, which scripts may read.
 */
static void
worker_words(const struct config *conf, const struct listener *ls,
    size_t nls, char *buf, size_t len)
{
	size_t	 i, nudp = 0;

	for (i = 0; i < nls; i++)
		nudp += ls[i].addr.udp != 0;
	if (nudp == 0)
		snprintf(buf, len, "%d worker%s", conf->prefork,
		    conf->prefork == 1 ? "" : "s");
	else if (nudp == nls)
		snprintf(buf, len, "%d UDP worker%s", conf->udp_workers,
		    conf->udp_workers == 1 ? "" : "s");
	else
		snprintf(buf, len, "%d worker%s and %d UDP worker%s",
		    conf->prefork, conf->prefork == 1 ? "" : "s",
		    conf->udp_workers, conf->udp_workers == 1 ? "" : "s");
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
static int
master_reload(struct master *m, int64_t now, char *err, size_t errlen)
{
	struct config	*conf;
	struct listener	*ls, *prev;
	char		 words[64];
	size_t		 nls;
	unsigned int	 old;

	if (pool_on_trial(m->pool)) {
		snprintf(err, errlen, "a reload is under way: generation %u "
		    "is not serving yet", pool_generation(m->pool));
		log_warnx("reload refused: %s", err);
		return -1;
	}
	log_info("reloading %s", m->conf->path);
	systemd_reloading();
	/* The listeners as they are, before listeners_open() takes some. */
	if ((prev = reallocarray(NULL, m->nlisteners, sizeof(*prev))) ==
	    NULL) {
		snprintf(err, errlen, "out of memory");
		systemd_reload_failed(err);
		return -1;
	}
	memcpy(prev, m->listeners, m->nlisteners * sizeof(*prev));
	if ((conf = config_load(m->conf->path, err, errlen)) == NULL ||
	    sandbox_ready(conf, err, errlen) == -1 ||
	    listeners_open(conf, m->listeners, m->nlisteners, &ls, &nls, err,
	    errlen) == -1) {
		log_warnx("reload failed: %s; still serving generation %u "
		    "with the previous configuration", err,
		    pool_generation(m->pool));
		systemd_reload_failed(err);
		config_free(conf);
		free(prev);
		reload_outcome(m, RELOAD_FAILED);
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
	if (conf->metrics_on != m->conf->metrics_on || (conf->metrics_on &&
	    !listen_addr_equal(&conf->metrics, &m->conf->metrics)))
		log_warnx("metrics listen on: a new metrics endpoint takes "
		    "effect only at the next start");
	config_notes(conf);
	log_setfacility(conf->syslog_facility);

	/*
	 * The addresses no longer configured are those still open in the
	 * old array: kept open, with the old configuration, until the new
	 * generation serves (reload_proved()) or fails (reload_rollback()).
	 */
	m->prev_conf = m->conf;
	m->removed = m->listeners;
	m->nremoved = m->nlisteners;
	m->prev_listeners = prev;
	m->nprev_listeners = m->nlisteners;
	m->listeners = ls;
	m->nlisteners = nls;
	m->conf = conf;

	old = pool_generation(m->pool);
	pool_configure(m->pool, conf, ls, nls);
	/* Now: pool_events() may roll the reload back, freeing conf and ls. */
	worker_words(conf, ls, nls, words, sizeof(words));
	m->serve_wait = RELOAD_WAIT_MS;
	m->reloading = 1;
	pool_new_generation(m->pool, now, m->serve_wait);
	/* An echodctl reload still waiting for the old one is answered. */
	control_answer(m->ctl, old, now, "ok: generation %u was replaced by "
	    "generation %u\n", old, pool_generation(m->pool));
	pool_events(m, pool_adjust(m->pool, now), now);
	master_title(m);
	systemd_reloaded();
	log_info("reloaded: generation %u, %s, %zu listening socket%s; "
	    "generation %u serves until it does", pool_generation(m->pool),
	    words, nls, nls == 1 ? "" : "s", old);
	return 0;
}

/*
 * SIGUSR2 or echodctl upgrade: start the installed binary with our
 * sockets (upgrade.c).  Until it serves, this master goes on as if
 * nothing happened; upgrade_outcome() then hands over or carries on.
 */
static int
master_upgrade(struct master *m, int64_t now, char *err, size_t errlen)
{
	int	*fds;
	size_t	 i;
	int	 r;

	if (m->stop != RUNNING) {
		snprintf(err, errlen, "stopping");
		return -1;
	}
	if (upgrade_old_master() != 0) {
		snprintf(err, errlen, "an upgrade is under way: the previous "
		    "master, pid %ld, is still finishing its connections",
		    (long)upgrade_old_master());
		return -1;
	}
	if (pool_on_trial(m->pool)) {
		snprintf(err, errlen, "a reload is under way: its generation "
		    "is on trial; upgrade when it is decided");
		return -1;
	}
	if (upgrade_busy()) {
		snprintf(err, errlen, "an upgrade is under way already (new "
		    "master pid %ld); wait for its outcome", (long)upgrade_pid());
		return -1;
	}
	if ((fds = calloc(m->nlisteners + 1, sizeof(int))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < m->nlisteners; i++)
		fds[i] = m->listeners[i].fd;
	r = upgrade_begin(fds, m->nlisteners, m->nlisteners > 0 &&
	    m->listeners[0].from_systemd, control_fd(m->ctl), metricsd_fd(),
	    m->conf->pidfile, now, err, errlen);
	free(fds);
	return r;
}

/* A refusal is logged too: a SIGUSR2 has no one else to tell. */
static int
master_upgrade_logged(struct master *m, int64_t now, char *err,
    size_t errlen)
{
	if (master_upgrade(m, now, err, errlen) == -1) {
		log_warnx("upgrade refused: %s", err);
		return -1;
	}
	return 0;
}

/*
 * The new master serves: say so, let it have the control socket, and
 * stop accepting; our workers finish their connections under
 * drain-timeout, and we leave once they have (they die with us).  Or it
 * failed and is gone: carry on.
 */
static void
upgrade_outcome(struct master *m, int what, const char *why, int64_t now)
{
	pid_t	 pid = upgrade_pid();

	if (what == UPGRADE_READY) {
		log_info("upgrade: pid %ld serves; pid %ld stops accepting and "
		    "leaves once its connections have finished", (long)pid,
		    (long)getpid());
		m->upgraded = pid;
		systemd_mainpid(pid);
		control_answer(m->ctl, UPGRADE_TAG, now, "ok: pid %ld serves "
		    "(upgraded from pid %ld)\n", (long)pid, (long)getpid());
		control_disown(m->ctl);
		begin_stop(m, STOP_GRACEFUL, "upgraded", now);
	} else if (what == UPGRADE_FAILED) {
		log_warnx("upgrade failed: %s; pid %ld still serves", why,
		    (long)getpid());
		control_answer(m->ctl, UPGRADE_TAG, now, "error: upgrade "
		    "failed: %s; pid %ld still serves\n", why, (long)getpid());
	}
}

/*
 * The commands of the control socket (control.c hands each line here):
 * "status", "workers" and "conns" [json] and "metrics" (always in
 * Prometheus' text format) for anyone the socket lets in,
 * "reload" and "stop" [-g] for root (or echod's own user).
 */
static void
master_command(void *arg, struct control_cmd *cmd)
{
	struct master		*m = arg;
	struct buf		*out = cmd->out;
	struct report_view	 view;
	char		*argv[4], *p, err[1024];
	int64_t		 now;
	unsigned int	 flags = 0;
	int		 argc = 0, graceful = 0, i;

	/* Fresh: workers stamp their times after the loop read its clock. */
	now = clock_ms();

	for (p = strtok(cmd->line, " \t\r\n"); p != NULL && argc < 4;
	    p = strtok(NULL, " \t\r\n"))
		argv[argc++] = p;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "json") == 0)
			flags |= REPORT_JSON;
		else if (strcmp(argv[i], "-g") == 0)
			graceful = 1;
		else {
			buf_printf(out, "error: unexpected \"%s\"\n", argv[i]);
			return;
		}
	}
	if (!cmd->allowed)
		buf_printf(out, "error: permission denied (root or the "
		    "control group only)\n");
	else if (argc == 0)
		buf_printf(out, "error: no command\n");
	else if (strcmp(argv[0], "status") == 0 ||
	    strcmp(argv[0], "workers") == 0 ||
	    strcmp(argv[0], "conns") == 0) {
		buf_printf(out, "ok\n");
		view.conf = m->conf;
		view.listeners = m->listeners;
		view.nlisteners = m->nlisteners;
		view.pool = m->pool;
		report(out, &view, argv[0][0] == 's' ? REPORT_STATUS :
		    argv[0][0] == 'w' ? REPORT_WORKERS : REPORT_CONNS, flags,
		    now);
	} else if (strcmp(argv[0], "metrics") == 0) {
		buf_printf(out, "ok\n");
		metrics_format(out, pool_scoreboard(m->pool));
	} else if (strcmp(argv[0], "upgrade") == 0) {
		if (!cmd->owner)
			buf_printf(out, "error: permission denied: upgrade "
			    "needs root\n");
		else if (master_upgrade_logged(m, now, err, sizeof(err)) ==
		    -1)
			buf_printf(out, "error: %s\n", err);
		else {
			cmd->defer = UPGRADE_TAG;
			cmd->defer_until = now + 2 * UPGRADE_WAIT_MS;
		}
	} else if (strcmp(argv[0], "reload") == 0 ||
	    strcmp(argv[0], "stop") == 0) {
		if (!cmd->owner)
			buf_printf(out, "error: permission denied: %s needs "
			    "root\n", argv[0]);
		else if (argv[0][0] == 's') {
			begin_stop(m, graceful ? STOP_GRACEFUL : STOP_FAST,
			    graceful ? "echodctl stop -g" : "echodctl stop",
			    now);
			buf_printf(out, "ok: %s stop\n", m->stop == STOP_FAST ?
			    "fast" : "graceful");
		} else if (m->stop != RUNNING)
			buf_printf(out, "error: stopping\n");
		else if (upgrade_busy())
			buf_printf(out, "error: an upgrade is under way; reload "
			    "once it is over\n");
		else if (master_reload(m, now, err, sizeof(err)) == -1)
			buf_printf(out, "error: %s\n", err);
		else {
			/*
			 * Answered once the new generation serves, or does
			 * not in time (pool_events()).
			 */
			cmd->defer = pool_generation(m->pool);
			cmd->defer_until = now + 2 * RELOAD_WAIT_MS;
		}
	} else
		buf_printf(out, "error: unknown command \"%s\"\n", argv[0]);
}

/* In a new child, after fork(): none of the master's is its business. */
static void
in_child(struct master *m)
{
	/* The pidfile's lock belongs to the master alone. */
	pidfile_close(m->pfh);
	control_forget(m->ctl);
	upgrade_forget();
	/*
	 * The listeners a reload on trial dropped: they must close once it
	 * has proved itself, so its workers must not keep them.
	 */
	listeners_close(m->removed, m->nremoved);
}

/*
 * The control socket and the pidfile as the master ends: removed, but
 * not by an old master that handed them over, nor by a new one whose
 * old master still runs (upgrade_owner()).
 */
static void
control_close_owned(struct control *ctl)
{
	if (!upgrade_owner())
		control_disown(ctl);
	control_close(ctl);
}

static void
pidfile_release(struct pidfh *pfh)
{
	if (upgrade_owner())
		pidfile_remove(pfh);
	else {
		pidfile_close(pfh);
		upgrade_left();
	}
}

static void
release(struct control *ctl, struct pidfh *pfh)
{
	control_close_owned(ctl);
	pidfile_release(pfh);
}

static void
in_worker(void *arg)
{
	in_child(arg);
	metricsd_forget();
}

/* The metrics process keeps its socket alone. */
static void
in_metrics(void *arg)
{
	struct master	*m = arg;

	in_child(m);
	close(pool_wake_fd(m->pool));
	listeners_close(m->listeners, m->nlisteners);
}

/* The soonest of two deadlines as a ppoll() wait in ms (-1: none). */
static int64_t
sooner(int64_t wait, int64_t deadline, int64_t now)
{
	if (deadline == INT64_MAX)
		return wait;
	if (wait < 0 || deadline - now < wait)
		return deadline > now ? deadline - now : 0;
	return wait;
}

int
master_run(struct config *conf, struct listener *ls, size_t nls,
    struct pidfh *pfh, struct control *ctl)
{
	struct master	 m;
	struct totals	 t;
	char		 words[64];
	struct pollfd	 pfd[2 + CONTROL_POLLFDS + 1];
	struct timespec	 ts;
	sigset_t	 waitmask;
	int64_t		 now, wait, ctl_deadline, md_deadline;
	size_t		 i, nctl = 0, npfd = 2;
	char		 err[1024];
	int		 up_revents = 0, metrics_held;

	memset(&m, 0, sizeof(m));
	m.conf = conf;
	m.listeners = ls;
	m.nlisteners = nls;
	m.pfh = pfh;
	m.ctl = ctl;
	master_install_handlers(&waitmask);
	/* A new master: told by SIGCHLD when its old master is gone. */
	upgrade_watch();
	upgrade_settle(conf->pidfile);
	control_set_handler(ctl, master_command, &m);
	if (sandbox_ready(conf, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		release(m.ctl, pfh);
		return 1;
	}
	if ((m.pool = pool_create(in_worker, &m)) == NULL) {
		release(m.ctl, pfh);
		return 1;
	}
	pool_configure(m.pool, conf, ls, nls);
	if (metricsd_listen(conf) == -1) {
		release(m.ctl, pfh);
		pool_free(m.pool);
		return 1;
	}
	/*
	 * Without -d, the command that started echod waits until the first
	 * generation serves (daemon.c), DAEMON_START_WAIT_MS at most; under
	 * systemd (-d), systemd's own start timeout is the limit.
	 */
	if (daemon_starting()) {
		m.serve_wait = DAEMON_START_WAIT_MS;
		pool_await(m.pool, clock_ms() + m.serve_wait);
	}

	worker_words(conf, ls, nls, words, sizeof(words));
	log_info("echod %s starting: %s, configuration %s", PACKAGE_VERSION,
	    words, conf->path);
	for (i = 0; i < nls; i++)
		log_info("listening on %s%s%s", ls[i].bound,
		    ls[i].from_systemd ? " (from systemd)" : "",
		    ls[i].addr.proxy_protocol ? " (proxy-protocol)" : "");
	config_notes(conf);
	master_title(&m);

	/*
	 * pfd[0]: the wake pipe; pfd[1]: the metrics process's pidfd (or
	 * -1, which ppoll() passes over); then the control socket and its
	 * clients.
	 */
	pfd[0].fd = pool_wake_fd(m.pool);
	pfd[0].events = POLLIN;
	pfd[0].revents = 0;
	pfd[1].fd = -1;
	pfd[1].revents = 0;
	for (;;) {
		now = clock_ms();
		if (pfd[0].revents & POLLIN)
			pool_wake_drain(m.pool);
		/* Before pool_reap(): its waitpid(-1) would take the new one. */
		if (upgrade_pid() != 0)
			upgrade_outcome(&m, upgrade_poll(up_revents, now, err,
			    sizeof(err)), err, now);
		if (got_sigchld) {
			got_sigchld = 0;
			pool_events(&m, pool_reap(m.pool, now), now);
			upgrade_settle(m.conf->pidfile);
		}
		if (got_stop != 0)
			begin_stop(&m, got_stop == SIGQUIT ? STOP_GRACEFUL :
			    STOP_FAST, strsignal(got_stop), now);
		if (got_sigusr2) {
			got_sigusr2 = 0;
			(void)master_upgrade_logged(&m, now, err, sizeof(err));
		}
		/* One during a reload's trial waits until it is decided. */
		if (got_sighup && !pool_on_trial(m.pool)) {
			got_sighup = 0;
			if (m.stop == RUNNING && upgrade_busy())
				log_warnx("an upgrade is under way: reload "
				    "refused");
			else if (m.stop == RUNNING)
				master_reload(&m, now, err, sizeof(err));
			else
				log_info("stopping: reload ignored");
		}
		pool_events(&m, pool_census(m.pool, now), now);
		/*
		 * A new master in a live upgrade starts its metrics process
		 * only once it serves: until then the old master's answers
		 * scrapes on the socket they share, alone, and a new master
		 * that fails has shown no numbers of its own.
		 */
		metrics_held = daemon_starting() && upgrade_old_master() != 0;
		if (!metrics_held)
			metricsd_service(m.conf, pfd[1].fd != -1 ? &pfd[1] :
			    NULL, now, in_metrics, &m);
		control_service(m.ctl, pfd + 2, nctl, now);
		pool_enforce_deadlines(m.pool, now);
		if (m.stop == RUNNING)
			pool_events(&m, pool_adjust(m.pool, now), now);
		else if (pool_counts(m.pool)->total == 0 &&
		    upgrade_next_wakeup(now) < 0)	/* no new master pending */
			break;

		nctl = control_pollfds(m.ctl, pfd + 2, now, &ctl_deadline);
		wait = sooner(pool_next_wakeup(m.pool, now), ctl_deadline, now);
		if (metrics_held)
			md_deadline = INT64_MAX;
		if (metrics_held ||
		    metricsd_pollfd(&pfd[1], now, &md_deadline) == 0)
			pfd[1].fd = -1;
		wait = sooner(wait, md_deadline, now);
		if (upgrade_next_wakeup(now) >= 0)
			wait = sooner(wait, now + upgrade_next_wakeup(now), now);
		/* Last, after the control socket's: the upgrade's channel. */
		npfd = 2 + nctl;
		if (upgrade_fd() != -1) {
			pfd[npfd].fd = upgrade_fd();
			pfd[npfd].events = POLLIN;
			pfd[npfd++].revents = 0;
		}
		/*
		 * systemd (systemd.c): STATUS= now and then.  Only a
		 * deadline for ppoll(): nothing here waits.
		 */
		wait = sooner(wait, systemd_status(pool_counts(m.pool),
		    pool_generation(m.pool), now), now);
		if (wait >= 0) {
			ts.tv_sec = wait / 1000;
			ts.tv_nsec = (wait % 1000) * 1000000;
		}
		pfd[0].revents = 0;
		if (ppoll(pfd, npfd, wait >= 0 ? &ts : NULL, &waitmask) ==
		    -1) {
			if (errno != EINTR)
				fatal("ppoll");
			for (i = 0; i < npfd; i++)
				pfd[i].revents = 0;
		}
		up_revents = npfd > 2 + nctl ? pfd[2 + nctl].revents : 0;
	}

	control_close_owned(m.ctl);
	scoreboard_totals(pool_scoreboard(m.pool), &t);
	log_info("%s after %llu connections, %llu bytes in, %llu bytes "
	    "out, %llu idle timeouts, %llu refused by "
	    "max-connections-per-address",
	    m.upgraded != 0 ? "upgraded: this master stopped" : "stopped",
	    (unsigned long long)t.connections, (unsigned long long)t.bytes_in,
	    (unsigned long long)t.bytes_out, (unsigned long long)t.timeouts,
	    (unsigned long long)t.refused);
	listeners_close(m.listeners, m.nlisteners);
	/* Last: once the pidfile is gone, echod has said all it will say. */
	pidfile_release(m.pfh);
	pool_free(m.pool);
	forget_previous(&m);
	free(m.listeners);
	config_free(m.conf);
	return m.exit_status;
}
