/*
 * The master: keeps the pool of workers full, reaps them, reloads the
 * configuration and stops.
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
 * Every iteration of the loop does, in this order: reap the dead, act on
 * a stop request, act on a reload request, then enforce deadlines and
 * refill the pool.  Workers are only signalled from this loop, before
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

#include "echod.h"
#include "log.h"

/* A worker that stops faster than this after its start "failed to start". */
#define START_FAILURE_MS	1000
/* Start-up failures in a row that make the master give up. */
#define START_FAILURES_MAX	10
/* The delay before the next start after a failure doubles up to this. */
#define RESPAWN_DELAY_MIN_MS	25
#define RESPAWN_DELAY_MAX_MS	2000
/* How long a worker told to stop (SIGTERM) has before SIGKILL. */
#define KILL_GRACE_MS		1000

enum worker_state {
	W_SERVING,	/* accepting and echoing */
	W_DRAINING,	/* told to finish its connection (SIGQUIT) */
	W_STOPPING,	/* told to stop now (SIGTERM) */
};

struct worker {
	pid_t			 pid;		/* 0: free slot */
	unsigned int		 generation;
	enum worker_state	 state;
	int64_t			 started;	/* ms, monotonic */
	int64_t			 deadline;	/* draining, stopping: ms */
};

enum stop_mode {
	RUNNING,
	STOP_GRACEFUL,
	STOP_FAST,
};

struct master {
	struct config	*conf;
	struct listener	*listeners;
	size_t		 nlisteners;
	struct pidfh	*pfh;
	struct worker	*workers;
	size_t		 nslots;
	unsigned int	 generation;
	enum stop_mode	 stop;
	int		 exit_status;
	int		 start_failures;	/* in a row */
	int64_t		 next_start;		/* no fork before this */
	pid_t		 probe;		/* started after a failure */
};

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

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
master_title(const struct master *m)
{
	if (m->stop != RUNNING)
		setproctitle("master [stopping] %s", m->conf->path);
	else
		setproctitle("master [gen %u, %d worker%s] %s", m->generation,
		    m->conf->prefork, m->conf->prefork == 1 ? "" : "s",
		    m->conf->path);
}

static struct worker *
worker_by_pid(struct master *m, pid_t pid)
{
	size_t	 i;

	for (i = 0; i < m->nslots; i++)
		if (m->workers[i].pid == pid)
			return &m->workers[i];
	return NULL;
}

static size_t
count_workers(const struct master *m, int current_only)
{
	size_t	 i, n = 0;

	for (i = 0; i < m->nslots; i++) {
		const struct worker *w = &m->workers[i];

		if (w->pid == 0)
			continue;
		if (current_only && (w->state != W_SERVING ||
		    w->generation != m->generation))
			continue;
		n++;
	}
	return n;
}

/* A free slot, growing the table if every slot is taken. */
static struct worker *
free_slot(struct master *m)
{
	struct worker	*grown;
	size_t		 i, n;

	for (i = 0; i < m->nslots; i++)
		if (m->workers[i].pid == 0)
			return &m->workers[i];
	n = m->nslots ? m->nslots * 2 : 8;
	if ((grown = reallocarray(m->workers, n, sizeof(*grown))) == NULL) {
		log_warn("reallocarray");
		return NULL;
	}
	memset(grown + m->nslots, 0, (n - m->nslots) * sizeof(*grown));
	m->workers = grown;
	i = m->nslots;
	m->nslots = n;
	return &m->workers[i];
}

static void	begin_stop(struct master *, int, const char *, int64_t);

static void
start_failed(struct master *m, int64_t now, const char *why)
{
	int64_t	 delay;

	if (++m->start_failures >= START_FAILURES_MAX) {
		log_warnx("%s", why);
		m->exit_status = 1;
		begin_stop(m, 1, "workers keep failing at start-up; giving up",
		    now);
		return;
	}
	delay = RESPAWN_DELAY_MIN_MS << (m->start_failures - 1);
	if (delay > RESPAWN_DELAY_MAX_MS)
		delay = RESPAWN_DELAY_MAX_MS;
	m->next_start = now + delay;
	log_warnx("%s; next worker start in %lld ms", why, (long long)delay);
}

static int
spawn_worker(struct master *m, int64_t now)
{
	struct worker_args	 wa;
	struct worker		*w;
	pid_t			 pid;

	if ((w = free_slot(m)) == NULL) {
		/* Throttled like a failed start, or the loop would spin. */
		start_failed(m, now, "no memory for another worker");
		return -1;
	}
	wa.conf = m->conf;
	wa.listeners = m->listeners;
	wa.nlisteners = m->nlisteners;
	wa.generation = m->generation;
	wa.master_pid = getpid();

	switch (pid = fork()) {
	case -1:
		log_warn("fork");
		start_failed(m, now, "cannot fork a worker");
		return -1;
	case 0:
		/* The pidfile's lock belongs to the master alone. */
		pidfile_close(m->pfh);
		worker_run(&wa);
		/* NOTREACHED */
	}
	w->pid = pid;
	w->generation = m->generation;
	w->state = W_SERVING;
	w->started = now;
	w->deadline = 0;
	if (m->start_failures > 0)
		m->probe = pid;
	log_debug("worker %ld started (generation %u)", (long)pid,
	    m->generation);
	return 0;
}

/*
 * Start the workers the current generation lacks.  After a start-up
 * failure, one worker at a time is started as a probe, each after the
 * failure's delay; once a probe has lived through START_FAILURE_MS the
 * failures are forgotten and the rest start together.
 */
static void
fill_pool(struct master *m, int64_t now)
{
	struct worker	*probe;
	size_t		 have = count_workers(m, 1);

	/* Only the probe's survival proves that workers can start again. */
	if (m->start_failures > 0 && m->probe != 0 &&
	    (probe = worker_by_pid(m, m->probe)) != NULL &&
	    now - probe->started >= START_FAILURE_MS) {
		m->start_failures = 0;
		m->probe = 0;
	}
	while (have < (size_t)m->conf->prefork && now >= m->next_start &&
	    m->stop == RUNNING) {
		if (spawn_worker(m, now) == -1)
			return;
		have++;
		if (m->start_failures > 0) {
			m->next_start = now + START_FAILURE_MS;
			break;
		}
	}
}

static void
describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)%s",
		    WTERMSIG(status), strsignal(WTERMSIG(status)),
		    WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, len, "stopped with status %#x", status);
}

/*
 * Whether a death right after start-up says that workers cannot start.
 * A worker that someone else killed (kill -9, kill, the OOM killer) says
 * nothing about the next one and is replaced at once.
 */
static int
is_start_failure(int status, int64_t age)
{
	if (age >= START_FAILURE_MS)
		return 0;
	if (WIFSIGNALED(status))
		return WTERMSIG(status) != SIGKILL &&
		    WTERMSIG(status) != SIGTERM &&
		    WTERMSIG(status) != SIGINT;
	return WIFEXITED(status) && WEXITSTATUS(status) != 0;
}

/* Reap every child that has died: waitpid() until nothing is left. */
static void
reap(struct master *m, int64_t now)
{
	struct worker	*w;
	char		 how[128], why[192];
	pid_t		 pid;
	int		 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((w = worker_by_pid(m, pid)) == NULL)
			continue;
		describe_status(status, how, sizeof(how));
		if (w->state == W_SERVING && m->stop == RUNNING) {
			log_warnx("worker %ld (generation %u) %s", (long)pid,
			    w->generation, how);
			if (WIFEXITED(status) &&
			    WEXITSTATUS(status) == WORKER_EXIT_SETUP) {
				m->exit_status = 1;
				begin_stop(m, 1, "a worker could not set "
				    "itself up", now);
			} else if (is_start_failure(status, now - w->started)) {
				snprintf(why, sizeof(why), "worker %ld %s "
				    "%lld ms after it started", (long)pid, how,
				    (long long)(now - w->started));
				start_failed(m, now, why);
			} else
				m->start_failures = 0;
		} else
			log_debug("worker %ld (generation %u) %s", (long)pid,
			    w->generation, how);
		memset(w, 0, sizeof(*w));
	}
	if (pid == -1 && errno != ECHILD)
		log_warn("waitpid");
}

static void
signal_worker(struct worker *w, int sig, enum worker_state state,
    int64_t deadline)
{
	if (kill(w->pid, sig) == -1 && errno != ESRCH)
		log_warn("kill %ld", (long)w->pid);
	w->state = state;
	w->deadline = deadline;
}

/* Tell every serving worker older than the current generation to drain. */
static void
drain_old(struct master *m, int64_t now, int all)
{
	size_t	 i;

	for (i = 0; i < m->nslots; i++) {
		struct worker *w = &m->workers[i];

		if (w->pid == 0 || w->state != W_SERVING ||
		    (!all && w->generation == m->generation))
			continue;
		signal_worker(w, SIGQUIT, W_DRAINING,
		    now + (int64_t)m->conf->drain_timeout * 1000);
	}
}

/* Draining past drain-timeout: SIGTERM; stopping past the grace: SIGKILL. */
static void
enforce_deadlines(struct master *m, int64_t now)
{
	size_t	 i;

	for (i = 0; i < m->nslots; i++) {
		struct worker *w = &m->workers[i];

		if (w->pid == 0 || w->state == W_SERVING || now < w->deadline)
			continue;
		if (w->state == W_DRAINING) {
			log_info("worker %ld (generation %u) still busy after "
			    "drain-timeout; stopping it", (long)w->pid,
			    w->generation);
			signal_worker(w, SIGTERM, W_STOPPING,
			    now + KILL_GRACE_MS);
		} else {
			log_warnx("worker %ld ignored SIGTERM; killing it",
			    (long)w->pid);
			signal_worker(w, SIGKILL, W_STOPPING, INT64_MAX);
		}
	}
}

/*
 * Stop: fast (SIGTERM to every worker) or graceful (SIGQUIT, then
 * SIGTERM at drain-timeout).  A fast stop may overtake a graceful one.
 */
static void
begin_stop(struct master *m, int fast, const char *why, int64_t now)
{
	size_t	 i;

	if (m->stop == STOP_FAST || (m->stop == STOP_GRACEFUL && !fast))
		return;
	log_info("%s: %s stop", why, fast ? "fast" : "graceful");
	m->stop = fast ? STOP_FAST : STOP_GRACEFUL;
	/* From here on, new connections are refused by the kernel. */
	listeners_close(m->listeners, m->nlisteners);
	if (fast) {
		for (i = 0; i < m->nslots; i++) {
			struct worker *w = &m->workers[i];

			if (w->pid != 0 && w->state != W_STOPPING)
				signal_worker(w, SIGTERM, W_STOPPING,
				    now + KILL_GRACE_MS);
		}
	} else
		drain_old(m, now, 1);
	master_title(m);
}

/*
 * SIGHUP: read the file into a fresh configuration and, only if it is
 * valid and its new addresses can be bound, switch to it: the listening
 * sockets that are still configured stay open as they are, a new
 * generation of workers starts, and the old one finishes its connections.
 * Any failure leaves the running configuration and workers untouched.
 */
static void
reload(struct master *m, int64_t now)
{
	struct config	*conf;
	struct listener	*ls;
	size_t		 nls;
	char		 err[1024];

	log_info("reloading %s", m->conf->path);
	if ((conf = config_load(m->conf->path, err, sizeof(err))) == NULL ||
	    listeners_open(conf, m->listeners, m->nlisteners, &ls, &nls, err,
	    sizeof(err)) == -1) {
		log_warnx("reload failed: %s; still serving generation %u "
		    "with the previous configuration", err, m->generation);
		config_free(conf);
		return;
	}
	if (strcmp(conf->pidfile, m->conf->pidfile) != 0)
		log_warnx("pidfile %s: a new pidfile takes effect only at the "
		    "next start; still using %s", conf->pidfile,
		    m->conf->pidfile);
	if (conf->user != NULL && !privdrop_applies(conf))
		log_warnx("not running as root: user %s is ignored",
		    conf->user);
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
	drain_old(m, now, 0);
	fill_pool(m, now);
	master_title(m);
	log_info("reloaded: generation %u, %d workers, %zu listening "
	    "socket%s", m->generation, conf->prefork, nls, nls == 1 ? "" : "s");
}

/* How long ppoll() may sleep: until the next deadline or start. */
static int64_t
next_wakeup(const struct master *m, int64_t now)
{
	int64_t	 when = INT64_MAX;
	size_t	 i;

	for (i = 0; i < m->nslots; i++) {
		const struct worker *w = &m->workers[i];

		if (w->pid != 0 && w->state != W_SERVING &&
		    w->deadline < when)
			when = w->deadline;
	}
	if (m->stop == RUNNING &&
	    count_workers(m, 1) < (size_t)m->conf->prefork &&
	    m->next_start < when)
		when = m->next_start;
	if (when == INT64_MAX)
		return -1;
	return when > now ? when - now : 0;
}

int
master_run(struct config *conf, struct listener *ls, size_t nls,
    struct pidfh *pfh)
{
	struct master	 m;
	struct timespec	 ts;
	sigset_t	 waitmask;
	int64_t		 now, wait;
	size_t		 i;

	memset(&m, 0, sizeof(m));
	m.conf = conf;
	m.listeners = ls;
	m.nlisteners = nls;
	m.pfh = pfh;
	m.generation = 1;
	master_install_handlers(&waitmask);

	log_info("echod %s starting: %d worker%s, configuration %s",
	    PACKAGE_VERSION, conf->prefork, conf->prefork == 1 ? "" : "s",
	    conf->path);
	for (i = 0; i < nls; i++)
		log_info("listening on %s", ls[i].bound);
	if (conf->user != NULL && !privdrop_applies(conf))
		log_warnx("not running as root: user %s is ignored",
		    conf->user);
	master_title(&m);

	for (;;) {
		now = now_ms();
		if (got_sigchld) {
			got_sigchld = 0;
			reap(&m, now);
		}
		if (got_stop != 0)
			begin_stop(&m, got_stop != SIGQUIT, strsignal(got_stop),
			    now);
		if (got_sighup) {
			got_sighup = 0;
			if (m.stop == RUNNING)
				reload(&m, now);
			else
				log_info("stopping: reload ignored");
		}
		enforce_deadlines(&m, now);
		if (m.stop == RUNNING)
			fill_pool(&m, now);
		else if (count_workers(&m, 0) == 0)
			break;

		if ((wait = next_wakeup(&m, now)) >= 0) {
			ts.tv_sec = wait / 1000;
			ts.tv_nsec = (wait % 1000) * 1000000;
		}
		if (ppoll(NULL, 0, wait >= 0 ? &ts : NULL, &waitmask) == -1 &&
		    errno != EINTR)
			fatal("ppoll");
	}

	pidfile_remove(m.pfh);
	log_info("stopped");
	listeners_close(m.listeners, m.nlisteners);
	free(m.listeners);
	free(m.workers);
	config_free(m.conf);
	return m.exit_status;
}
