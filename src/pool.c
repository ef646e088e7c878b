/*
 * The pool of workers: starting them, reaping them, and keeping their
 * number where the load wants it.
 *
 * The pool of the current generation holds at least "prefork" workers
 * and at most "max-workers".  Between the two it follows the load, as
 * Apache's prefork MPM does, but without waiting for a timer:
 *
 *   - Grow.  A worker that takes the pool's idle count below min-spare
 *     writes one byte to the master's wake pipe (worker.c).  The master
 *     then starts at once as many workers as are missing: min-spare idle
 *     ones, plus one for every client waiting in the listening sockets'
 *     accept queues (which the kernel reports, TCP_INFO).  A burst of
 *     clients is met by one round of forks, not by a rate that doubles
 *     each second.  Each round starts START_BATCH workers at most, so
 *     that signals are seen between rounds.
 *   - Shrink.  While more than max-spare workers are idle and the pool
 *     is above prefork, half of the surplus is told to stop (SIGQUIT) at
 *     each RETIRE_INTERVAL_MS, beginning RETIRE_HOLDOFF_MS after the
 *     pool last grew: a burst that ends is followed by a calm, quick
 *     retreat, not by a saw-tooth.
 *
 * Workers that die right after they start are another matter: see
 * start_failed().
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <libutil.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"

/* A worker that stops faster than this after its start "failed to start". */
#define START_FAILURE_MS	1000
/* Start-up failures in a row that make the master give up. */
#define START_FAILURES_MAX	10
/* The delay before the next start after a failure doubles up to this. */
#define RESPAWN_DELAY_MIN_MS	25
#define RESPAWN_DELAY_MAX_MS	2000
/* How long a worker told to stop (SIGTERM) has before SIGKILL. */
#define KILL_GRACE_MS		1000
/* Workers started in one round of the master's loop, at most. */
#define START_BATCH		256
/* Shrinking: see the top of this file. */
#define RETIRE_HOLDOFF_MS	1000
#define RETIRE_INTERVAL_MS	500
/* "max-workers reached" and failed forks are logged this often at most. */
#define MAX_WORKERS_LOG_MS	60000
#define FORK_FAILED_LOG_MS	60000

int
pool_init(struct master *m)
{
	if ((m->sb = scoreboard_create()) == NULL) {
		log_warn("scoreboard");
		return -1;
	}
	if ((m->workers = calloc(SCOREBOARD_SLOTS, sizeof(*m->workers))) ==
	    NULL) {
		log_warn("calloc");
		return -1;
	}
	/*
	 * The wake pipe: non-blocking, so that a worker never waits on a
	 * full pipe (a full pipe wakes the master anyway).
	 */
	if (pipe2(m->wake, O_NONBLOCK | O_CLOEXEC) == -1) {
		log_warn("pipe2");
		return -1;
	}
	return 0;
}

static struct worker *
worker_by_pid(struct master *m, pid_t pid)
{
	uint32_t	 i;

	for (i = 0; i < m->high_water; i++)
		if (m->workers[i].pid == pid)
			return &m->workers[i];
	return NULL;
}

/* Workers alive, or only the serving ones of the current generation. */
size_t
pool_count(const struct master *m, int current_only)
{
	uint32_t	 i;
	size_t		 n = 0;

	for (i = 0; i < m->high_water; i++) {
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

/*
 * Workers of the current generation that have set themselves up and
 * reached accept() (or already a client): the generation serves once
 * prefork of them do (echodctl reload, systemd's READY=1).
 */
size_t
pool_serving(const struct master *m)
{
	uint32_t	 i;
	size_t		 n = 0;
	int		 state;

	for (i = 0; i < m->high_water; i++) {
		const struct worker *w = &m->workers[i];

		if (w->pid == 0 || w->generation != m->generation ||
		    w->state != W_SERVING)
			continue;
		state = __atomic_load_n(&m->sb->slots[i].state,
		    __ATOMIC_ACQUIRE);
		if (state == SLOT_IDLE || state == SLOT_BUSY)
			n++;
	}
	return n;
}

/* A free slot's index, or -1 if the scoreboard is full. */
static int
free_slot(struct master *m)
{
	uint32_t	 i;

	for (i = 0; i < m->high_water; i++)
		if (m->workers[i].pid == 0)
			return i;
	if (m->high_water == SCOREBOARD_SLOTS)
		return -1;
	/* Workers scan up to high_water: publish it before the fork. */
	__atomic_store_n(&m->sb->high_water, ++m->high_water,
	    __ATOMIC_RELEASE);
	return m->high_water - 1;
}

/*
 * A start-up failure: the next worker starts after a delay that doubles
 * each time, one at a time (a probe); once a probe lives through
 * START_FAILURE_MS the failures are forgotten (pool_adjust()).  After
 * START_FAILURES_MAX in a row the master gives up: whatever breaks the
 * workers will not mend itself.
 */
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
	struct slot		*slot;
	struct worker		*w;
	pid_t			 pid;
	int			 i;

	if ((i = free_slot(m)) == -1) {
		/* Only draining workers can free slots: wait for them. */
		log_warnx("the scoreboard is full (%d workers); waiting",
		    SCOREBOARD_SLOTS);
		m->next_start = now + 1000;
		return -1;
	}
	w = &m->workers[i];
	slot = &m->sb->slots[i];
	memset(slot, 0, sizeof(*slot));
	slot->generation = m->generation;
	slot->started = slot->since = now;
	__atomic_store_n(&slot->state, SLOT_STARTING, __ATOMIC_RELEASE);

	wa.conf = m->conf;
	wa.listeners = m->listeners;
	wa.nlisteners = m->nlisteners;
	wa.generation = m->generation;
	wa.master_pid = getpid();
	wa.scoreboard = m->sb;
	wa.slot = i;
	wa.wake_fd = m->wake[1];

	switch (pid = fork()) {
	case -1:
		/*
		 * A process limit (RLIMIT_NPROC, pid_max, a cgroup's) or
		 * memory: not a broken worker, so not a start-up failure.
		 * The pool stays as it is and tries again in a second.
		 */
		if (m->fork_failed_logged == 0 ||
		    now - m->fork_failed_logged >= FORK_FAILED_LOG_MS) {
			log_warn("fork (the pool stays at %zu workers; logged "
			    "once a minute at most)", pool_count(m, 1));
			m->fork_failed_logged = now;
		}
		__atomic_store_n(&slot->state, SLOT_FREE, __ATOMIC_RELEASE);
		m->next_start = now + 1000;
		return -1;
	case 0:
		/* The pidfile's lock belongs to the master alone. */
		pidfile_close(m->pfh);
		close(m->wake[0]);
		control_forget(&m->ctl);
		worker_run(&wa);
		/* NOTREACHED */
	}
	__atomic_store_n(&slot->pid, pid, __ATOMIC_RELAXED);
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

/* Clients waiting in the accept queues of all listening sockets. */
static size_t
accept_queue_length(const struct master *m)
{
	struct tcp_info	 ti;
	socklen_t	 len;
	size_t		 i, n = 0;

	for (i = 0; i < m->nlisteners; i++) {
		len = sizeof(ti);
		if (m->listeners[i].fd != -1 && getsockopt(m->listeners[i].fd,
		    IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
			n += ti.tcpi_unacked;	/* of a listener: queued */
	}
	return n;
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

/* The master's title shows the pool's size: no system call, argv memory. */
static void
set_count(struct master *m, size_t n)
{
	if (n != m->nworkers) {
		m->nworkers = n;
		master_title(m);
	}
}

/* Tell up to n idle workers of the current generation to stop. */
static size_t
retire_idle(struct master *m, size_t n, int64_t now)
{
	uint32_t	 i;
	size_t		 retired = 0;

	/* From the top, so that the scoreboard's used part shrinks. */
	for (i = m->high_water; i-- > 0 && n > 0;) {
		struct worker *w = &m->workers[i];

		if (w->pid == 0 || w->state != W_SERVING ||
		    w->generation != m->generation ||
		    __atomic_load_n(&m->sb->slots[i].state, __ATOMIC_ACQUIRE)
		    != SLOT_IDLE)
			continue;
		signal_worker(w, SIGQUIT, W_DRAINING,
		    now + (int64_t)m->conf->drain_timeout * 1000);
		n--;
		retired++;
	}
	return retired;
}

static void
note_max_workers(struct master *m, int64_t now)
{
	if (m->at_max_workers)
		return;
	m->at_max_workers = 1;
	m->sb->max_workers_reached++;
	if (m->max_workers_logged != 0 &&
	    now - m->max_workers_logged < MAX_WORKERS_LOG_MS)
		return;
	m->max_workers_logged = now;
	log_warnx("max-workers (%d) reached: new clients wait in the backlog "
	    "(reached %llu times; logged once a minute at most)",
	    m->conf->max_workers,
	    (unsigned long long)m->sb->max_workers_reached);
}

/*
 * Grow or shrink the current generation's pool (see the top of this
 * file).  Called on every turn of the master's loop while it runs.
 */
void
pool_adjust(struct master *m, int64_t now)
{
	const struct config	*conf = m->conf;
	struct worker		*probe;
	size_t			 total = 0, spare = 0, want = 0, need, room;
	uint32_t		 i;
	int			 state;

	/* Only the probe's survival proves that workers can start again. */
	if (m->start_failures > 0 && m->probe != 0 &&
	    (probe = worker_by_pid(m, m->probe)) != NULL &&
	    now - probe->started >= START_FAILURE_MS) {
		m->start_failures = 0;
		m->probe = 0;
	}

	for (i = 0; i < m->high_water; i++) {
		const struct worker *w = &m->workers[i];

		if (w->pid == 0 || w->state != W_SERVING ||
		    w->generation != m->generation)
			continue;
		total++;
		state = __atomic_load_n(&m->sb->slots[i].state,
		    __ATOMIC_ACQUIRE);
		if (state == SLOT_IDLE || state == SLOT_STARTING)
			spare++;
	}

	if (total < (size_t)conf->prefork)
		want = conf->prefork - total;
	if (conf->min_spare > 0 && spare < (size_t)conf->min_spare + 1) {
		/*
		 * Short of spares: every queued client wants a worker too.
		 * (With min-spare 0 the pool is fixed at prefork, as in
		 * Stevens' model.)
		 */
		need = conf->min_spare + accept_queue_length(m);
		if (need > spare && need - spare > want)
			want = need - spare;
	}
	/* Demand that is known, not guessed, is what meets max-workers. */
	room = total < (size_t)conf->max_workers ?
	    conf->max_workers - total : 0;
	if (want > room)
		note_max_workers(m, now);
	else if (total < (size_t)conf->max_workers)
		m->at_max_workers = 0;
	/*
	 * The accept queue shows only the clients whose handshake is done;
	 * in a burst many more are on their way.  A pool still short of
	 * spares after a round of starts doubles its next round.
	 */
	if (spare < (size_t)conf->min_spare && m->growth_step > 0) {
		if (want < m->growth_step * 2)
			want = m->growth_step * 2;
	} else if (spare >= (size_t)conf->min_spare)
		m->growth_step = 0;
	if (want > room)
		want = room;

	m->more_to_start = 0;
	if (want > 0) {
		size_t	 started = 0;

		if (m->start_failures > 0)
			want = 1;	/* a probe */
		else if (want > START_BATCH) {
			want = START_BATCH;
			m->more_to_start = 1;
		}
		while (started < want && now >= m->next_start &&
		    m->stop == RUNNING) {
			if (spawn_worker(m, now) == -1)
				break;
			started++;
			if (m->start_failures > 0) {
				m->next_start = now + START_FAILURE_MS;
				break;
			}
		}
		if (started > 0)
			m->growth_step = started;
		m->last_growth = now;
		set_count(m, total + started);
		return;
	}

	if (spare > (size_t)conf->max_spare && total > (size_t)conf->prefork &&
	    now >= m->next_retire &&
	    now - m->last_growth >= RETIRE_HOLDOFF_MS) {
		size_t surplus = spare - conf->max_spare;

		if (surplus > total - conf->prefork)
			surplus = total - conf->prefork;
		total -= retire_idle(m, (surplus + 1) / 2, now);
		m->next_retire = now + RETIRE_INTERVAL_MS;
	}
	set_count(m, total);
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
 * A worker killed by SIGSYS made a system call outside its sandbox; the
 * SIGSYS handler noted which one in its slot (sandbox.c).  Always worth
 * a warning: it is either a bug in echod or an attack that got as far
 * as running code in a worker.
 */
static void
log_sandbox_violation(pid_t pid, int32_t bad_call)
{
#ifdef HAVE_SECCOMP
	char	 name[64];

	if (bad_call > 0) {
		sandbox_syscall_name(bad_call, name, sizeof(name));
		log_warnx("worker %ld killed by the sandbox: system call %s "
		    "is not allowed", (long)pid, name);
		return;
	}
#endif
	(void)bad_call;
	log_warnx("worker %ld killed by SIGSYS", (long)pid);
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
	return WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
	    WEXITSTATUS(status) != WORKER_EXIT_RECYCLED;
}

/*
 * A reaped worker's slot: its counters go to the retired totals, so that
 * the totals stay exact across deaths, and its bits leave the pool map,
 * whatever it was doing when it died.
 */
static void
release_slot(struct master *m, struct worker *w)
{
	struct scoreboard	*sb = m->sb;
	struct slot		*slot = &sb->slots[w - m->workers];

	scoreboard_map_clear(sb, w - m->workers);
	sb->retired_connections += slot->connections;
	sb->retired_bytes_in += slot->bytes_in;
	sb->retired_bytes_out += slot->bytes_out;
	sb->retired_timeouts += slot->timeouts;
	sb->retired_refused += slot->refused;
	sb->retired_errors += slot->errors;
	memset(slot, 0, sizeof(*slot));
	memset(w, 0, sizeof(*w));
	while (m->high_water > 0 && m->workers[m->high_water - 1].pid == 0)
		m->high_water--;
	__atomic_store_n(&sb->high_water, m->high_water, __ATOMIC_RELEASE);
}

/* Reap every child that has died: waitpid() until nothing is left. */
void
pool_reap(struct master *m, int64_t now)
{
	struct worker	*w, dead;
	char		 how[128], why[192];
	pid_t		 pid;
	int32_t		 bad_call;
	int		 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((w = worker_by_pid(m, pid)) == NULL)
			continue;
		/*
		 * Free the slot first: whatever follows (a stop, above all)
		 * signals the workers in the table, and this pid is no
		 * longer ours to signal.
		 */
		dead = *w;
		bad_call = m->sb->slots[w - m->workers].sandbox_syscall;
		release_slot(m, w);
		describe_status(status, how, sizeof(how));
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
			log_sandbox_violation(pid, bad_call);
		if (dead.state != W_SERVING || m->stop != RUNNING)
			log_debug("worker %ld (generation %u) %s", (long)pid,
			    dead.generation, how);
		else if (WIFEXITED(status) &&
		    WEXITSTATUS(status) == WORKER_EXIT_RECYCLED)
			log_debug("worker %ld (generation %u) recycled after "
			    "max-connections-per-worker", (long)pid,
			    dead.generation);
		else {
			log_warnx("worker %ld (generation %u) %s", (long)pid,
			    dead.generation, how);
			if (WIFEXITED(status) &&
			    WEXITSTATUS(status) == WORKER_EXIT_SETUP) {
				m->exit_status = 1;
				begin_stop(m, 1, "a worker could not set "
				    "itself up", now);
			} else if (is_start_failure(status,
			    now - dead.started)) {
				/*
				 * Workers started together fail together:
				 * while failing, only the probe's death is
				 * another failure in a row.
				 */
				if (m->start_failures > 0 && pid != m->probe)
					continue;
				snprintf(why, sizeof(why), "worker %ld %s "
				    "%lld ms after it started", (long)pid, how,
				    (long long)(now - dead.started));
				start_failed(m, now, why);
			} else
				m->start_failures = 0;
		}
	}
	if (pid == -1 && errno != ECHILD)
		log_warn("waitpid");
}

/*
 * Tell serving workers to drain (SIGQUIT): those of older generations
 * after a reload, or all of them for a graceful stop.
 */
void
pool_drain(struct master *m, int64_t now, int all)
{
	uint32_t	 i;

	for (i = 0; i < m->high_water; i++) {
		struct worker *w = &m->workers[i];

		if (w->pid == 0 || w->state != W_SERVING ||
		    (!all && w->generation == m->generation))
			continue;
		signal_worker(w, SIGQUIT, W_DRAINING,
		    now + (int64_t)m->conf->drain_timeout * 1000);
	}
}

/* Fast stop: SIGTERM to every worker not told so already. */
void
pool_stop_all(struct master *m, int64_t now)
{
	uint32_t	 i;

	for (i = 0; i < m->high_water; i++) {
		struct worker *w = &m->workers[i];

		if (w->pid != 0 && w->state != W_STOPPING)
			signal_worker(w, SIGTERM, W_STOPPING,
			    now + KILL_GRACE_MS);
	}
}

/* Draining past drain-timeout: SIGTERM; stopping past the grace: SIGKILL. */
void
pool_enforce_deadlines(struct master *m, int64_t now)
{
	uint32_t	 i;

	for (i = 0; i < m->high_water; i++) {
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
 * How long the master may sleep, in ms (-1: until a signal or a wake-up
 * byte): until the next deadline, the next allowed start, or the next
 * look at a pool that is larger than prefork.
 */
int64_t
pool_next_wakeup(const struct master *m, int64_t now)
{
	int64_t		 when = INT64_MAX;
	uint32_t	 i;
	size_t		 current;

	for (i = 0; i < m->high_water; i++) {
		const struct worker *w = &m->workers[i];

		if (w->pid != 0 && w->state != W_SERVING &&
		    w->deadline < when)
			when = w->deadline;
	}
	if (m->stop == RUNNING) {
		current = pool_count(m, 1);
		if (m->more_to_start)
			when = now;
		/* A start held back (throttled, or a failed fork). */
		if (m->next_start > now && m->next_start < when)
			when = m->next_start;
		/* Workers go idle silently: look for a surplus now and then. */
		if (current > (size_t)m->conf->prefork) {
			int64_t look = m->last_growth + RETIRE_HOLDOFF_MS;

			if (look < m->next_retire)
				look = m->next_retire;
			if (look < when)
				when = look;
		}
	}
	if (when == INT64_MAX)
		return -1;
	return when > now ? when - now : 0;
}
