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
 *     each second.  Each round starts START_BATCH workers at most, in
 *     START_TURN_MS at most, so that signals and echodctl are seen
 *     between rounds; while the workers of one round are still setting
 *     up, the next looks at the queue again and starts for what they
 *     will not take, START_INFLIGHT of them setting up at once at most
 *     (poolplan.c).
 *   - Shrink.  While more than max-spare workers are idle and the pool
 *     is above prefork, half of the surplus is told to stop (SIGQUIT) at
 *     each RETIRE_INTERVAL_MS, beginning RETIRE_HOLDOFF_MS after the
 *     pool last grew: a burst that ends is followed by a calm, quick
 *     retreat, not by a saw-tooth.
 *
 * Workers that die right after they start are another matter: see
 * start_failed().
 *
 * The master calls in here once per turn of its loop (pool_reap(),
 * pool_census(), pool_enforce_deadlines(), pool_adjust()) and hears
 * back through the events these return: the pool never calls up into
 * the master.  What a new worker must close of the master's is the
 * master's hook, run in the child after fork().
 */

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "listener.h"
#include "log.h"
#include "pool.h"
#include "poolplan.h"
#include "rlimits.h"
#include "sandbox.h"
#include "scoreboard.h"
#include "worker.h"

/* Start-up failures in a row that make the master give up. */
#define START_FAILURES_MAX	10
/* The delay before the next start after a failure doubles up to this. */
#define RESPAWN_DELAY_MIN_MS	25
#define RESPAWN_DELAY_MAX_MS	2000
/* How long a worker told to stop (SIGTERM) has before SIGKILL. */
#define KILL_GRACE_MS		1000
/* "max-workers reached" and failed forks are logged this often at most. */
#define MAX_WORKERS_LOG_MS	60000
#define FORK_FAILED_LOG_MS	60000
/* While a generation is awaited, its workers are looked at this often. */
#define SERVE_POLL_MS		20

/*
 * The master's own bookkeeping of a worker; index i is scoreboard slot
 * i, which holds everything else (generation, start, state, counters).
 * The pid and the order are in the slot too, for its readers, but only
 * these copies are acted on: every worker can write the whole shared
 * table, and the master, root, must never signal a pid a worker wrote.
 */
struct worker {
	pid_t			 pid;		/* 0: free slot */
	enum slot_order		 order;
	int64_t			 deadline;	/* draining, stopping: ms */
	int			 udp;		/* a UDP worker */
};

struct pool {
	const struct config	*conf;
	/* The TCP workers' listeners and the UDP workers', copies. */
	const struct listener	*listeners;
	size_t			 nlisteners;
	const struct listener	*udp;
	size_t			 nudp;
	struct scoreboard	*sb;
	struct worker		*workers;	/* SCOREBOARD_SLOTS of them */
	uint32_t		 high_water;	/* slots in use are below */
	unsigned int		 generation;
	int			 wake[2];	/* workers ask for workers */
	pool_child_hook		*child_hook;
	void			*child_arg;
	int			 stopping;	/* all told to drain or stop */
	const char		*give_up;	/* why, once it gave up */

	/* pool_census(), kept up to date by what the pool does after it. */
	struct pool_counts	 counts;
	size_t			 reported;	/* counts.current, last said */
	int64_t			 next_deadline;	/* soonest of a worker's */
	int64_t			 probe_age;	/* ms; -1: no probe alive */

	/* Whether the current generation serves: see pool_census(). */
	int			 awaiting;
	int64_t			 await_until;

	/*
	 * A reload's generation on trial: the previous one (generation - 1)
	 * serves until it has proved itself (see pool_new_generation()).
	 */
	int			 trial;
	int64_t			 trial_started;
	int64_t			 trial_ready;	/* prefork ready since; -1 */
	char			 trial_failed[192];	/* why, once it failed */

	/* Time with no worker of any generation waiting in accept(). */
	int			 served;	/* once a generation has */
	int64_t			 no_acceptor_since;	/* -1: one waits */
	int64_t			 no_acceptor_ms;

	/* Start-up failures: see start_failed(). */
	int			 start_failures;	/* in a row */
	int64_t			 next_start;		/* no fork before */
	pid_t			 probe;

	/* Growing and shrinking: see pool_adjust() and poolplan.c. */
	struct poolplan_state	 plan;
	uint64_t		 accepted;	/* by the census, all slots */
	uint64_t		 finished_seen;	/* at the last decision */
	int64_t			 fork_failed_logged;
	int64_t			 max_workers_logged;
};

/*
 * The scoreboard, the table and the wake pipe, before any worker; the
 * first generation is awaited without a time limit (systemd's start
 * timeout is the limit then).
 */
struct pool *
pool_create(pool_child_hook *hook, void *arg)
{
	struct pool	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		log_warn("calloc");
		return NULL;
	}
	p->wake[0] = p->wake[1] = -1;
	p->generation = 1;
	p->child_hook = hook;
	p->child_arg = arg;
	p->next_deadline = INT64_MAX;
	p->probe_age = -1;
	p->awaiting = 1;
	p->await_until = INT64_MAX;
	p->no_acceptor_since = -1;
	if ((p->sb = scoreboard_create()) == NULL) {
		log_warn("scoreboard");
		pool_free(p);
		return NULL;
	}
	p->sb->generation = p->generation;
	if ((p->workers = calloc(SCOREBOARD_SLOTS, sizeof(*p->workers))) ==
	    NULL) {
		log_warn("calloc");
		pool_free(p);
		return NULL;
	}
	/*
	 * The wake pipe: non-blocking, so that a worker never waits on a
	 * full pipe (a full pipe wakes the master anyway).
	 */
	if (pipe2(p->wake, O_NONBLOCK | O_CLOEXEC) == -1) {
		log_warn("pipe2");
		pool_free(p);
		return NULL;
	}
	return p;
}

void
pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	if (p->wake[0] != -1)
		close(p->wake[0]);
	if (p->wake[1] != -1)
		close(p->wake[1]);
	free(p->workers);
	free(p);
}

/*
 * The configuration and listeners new workers get, from now on: the TCP
 * ones to the TCP workers, the UDP ones to the UDP workers, each kind
 * waiting on its own sockets only (listeners_open() puts the TCP ones
 * first).
 */
void
pool_configure(struct pool *p, const struct config *conf,
    const struct listener *ls, size_t nls)
{
	size_t	 ntcp = 0;

	while (ntcp < nls && !ls[ntcp].addr.udp)
		ntcp++;
	p->conf = conf;
	p->listeners = ls;
	p->nlisteners = ntcp;
	p->udp = ls + ntcp;
	p->nudp = nls - ntcp;
	p->sb->max_workers = conf->max_workers;
}

int
pool_wake_fd(const struct pool *p)
{
	return p->wake[0];
}

/* Empty the wake pipe. */
void
pool_wake_drain(struct pool *p)
{
	char	 buf[64];

	while (read(p->wake[0], buf, sizeof(buf)) > 0)
		;
}

unsigned int
pool_generation(const struct pool *p)
{
	return p->generation;
}

const struct pool_counts *
pool_counts(const struct pool *p)
{
	return &p->counts;
}

const struct scoreboard *
pool_scoreboard(const struct pool *p)
{
	return p->sb;
}

/* A reload's outcome, for the metrics (master.c decides it). */
void
pool_count_reload(struct pool *p, enum reload_outcome outcome)
{
	__atomic_store_n(&p->sb->reloads[outcome], p->sb->reloads[outcome] + 1,
	    __ATOMIC_RELAXED);
}

const char *
pool_give_up_reason(const struct pool *p)
{
	return p->give_up;
}

int
pool_on_trial(const struct pool *p)
{
	return p->trial;
}

const char *
pool_trial_failure(const struct pool *p)
{
	return p->trial_failed;
}

/*
 * The time, in ms, during which no worker of any generation was waiting
 * for a connection since the first generation served, as seen by the
 * census on each turn of the master's loop (which, while a generation
 * starts, runs every SERVE_POLL_MS at least): a reload must leave none.
 */
int64_t
pool_no_acceptor_ms(const struct pool *p, int64_t now)
{
	if (p->no_acceptor_since >= 0)
		return p->no_acceptor_ms + (now - p->no_acceptor_since);
	return p->no_acceptor_ms;
}

static struct worker *
worker_by_pid(struct pool *p, pid_t pid)
{
	uint32_t	 i;

	for (i = 0; i < p->high_water; i++)
		if (p->workers[i].pid == pid)
			return &p->workers[i];
	return NULL;
}

/*
 * The one pass over the table per turn, after pool_reap(): the counts,
 * the soonest deadline and the probe's age, which everything until the
 * next turn reads.  It also says, once per generation, whether the
 * generation serves: when prefork of its workers have set themselves up
 * and reached accept() (POOL_SERVING), or not by the time given to
 * pool_new_generation() (POOL_NOT_SERVING).  echodctl reload waits for
 * that, and so does systemd's READY=1.
 */
static void
count(struct pool *p, int64_t now)
{
	struct pool_counts	*pc = &p->counts;
	uint32_t		 i;
	int			 state;

	memset(pc, 0, sizeof(*pc));
	p->next_deadline = INT64_MAX;
	p->probe_age = -1;
	p->accepted = 0;
	for (i = 0; i < p->high_water; i++) {
		const struct worker	*w = &p->workers[i];
		const struct slot	*s = &p->sb->slots[i];

		if (w->pid == 0)
			continue;
		state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		p->accepted += __atomic_load_n(&s->accepted, __ATOMIC_RELAXED);
		pc->total++;
		if (state == SLOT_BUSY)
			pc->active++;
		if (w->pid == p->probe)
			p->probe_age = now - s->started;
		if (w->order != ORDER_SERVE) {
			pc->draining++;
			if (w->deadline < p->next_deadline)
				p->next_deadline = w->deadline;
			continue;
		}
		if (w->udp) {
			if (s->generation != p->generation)
				pc->draining++;
			else {
				pc->udp++;
				pc->udp_ready += state == SLOT_IDLE;
			}
			continue;
		}
		switch (state) {
		case SLOT_STARTING:
			pc->starting++;
			break;
		case SLOT_IDLE:
			pc->idle++;
			break;
		case SLOT_BUSY:
			pc->busy++;
			break;
		default:
			pc->draining++;
			break;
		}
		if (s->generation != p->generation)
			continue;
		pc->current++;
		if (state == SLOT_IDLE || state == SLOT_STARTING)
			pc->spare++;
		if (state == SLOT_IDLE || state == SLOT_BUSY)
			pc->ready++;
	}
}

static void	drain(struct pool *, int64_t, unsigned int);

int
pool_census(struct pool *p, int64_t now)
{
	struct pool_counts	*pc = &p->counts;
	int			 ready;

	/*
	 * Workers may ask again from here on: whatever made them ask
	 * before is seen by this look at the pool (worker.c, wake_master()).
	 * Not while the pool keeps up (poolplan.c): the flag stays set and
	 * the workers silent until the look that poolplan_next_look()
	 * asks for, instead of a wake-up per connection.
	 */
	if (!poolplan_quiet(&p->plan, now))
		__atomic_store_n(&p->sb->wake, 0, __ATOMIC_SEQ_CST);
	count(p, now);

	/* Idle workers of every generation told to serve wait in accept(). */
	if (p->served && !p->stopping && pc->idle == 0) {
		if (p->no_acceptor_since < 0)
			p->no_acceptor_since = now;
	} else if (p->no_acceptor_since >= 0) {
		p->no_acceptor_ms += now - p->no_acceptor_since;
		p->no_acceptor_since = -1;
	}

	if (!p->awaiting || p->stopping)
		return 0;
	ready = (p->nlisteners == 0 || pc->ready >= (size_t)p->conf->prefork) &&
	    (p->nudp == 0 || pc->udp_ready >= (size_t)p->conf->udp_workers);
	if (!ready)
		p->trial_ready = -1;
	else if (p->trial && p->trial_ready < 0)
		p->trial_ready = now;
	/*
	 * A reload's workers must also stay ready for one look at the pool
	 * more: one that crashes in its first accept() is not proof.
	 */
	if (ready && (!p->trial || now - p->trial_ready >= SERVE_POLL_MS)) {
		p->awaiting = 0;
		p->served = 1;
		if (p->trial) {
			/* Proved: only now do the older generations drain. */
			p->trial = 0;
			drain(p, now, p->generation);
			count(p, now);
		}
		return POOL_SERVING;
	}
	if (now >= p->await_until) {
		p->awaiting = 0;
		if (p->trial) {
			snprintf(p->trial_failed, sizeof(p->trial_failed),
			    "%zu of %d workers serving after %lld ms",
			    pc->ready, p->conf->prefork,
			    (long long)(now - p->trial_started));
			return POOL_TRIAL_FAILED;
		}
		return POOL_NOT_SERVING;
	}
	return 0;
}

/* A free slot's index, or -1 if the scoreboard is full. */
static int
free_slot(struct pool *p)
{
	uint32_t	 i;

	for (i = 0; i < p->high_water; i++)
		if (p->workers[i].pid == 0)
			return i;
	if (p->high_water == SCOREBOARD_SLOTS)
		return -1;
	/* Workers scan up to high_water: publish it before the fork. */
	__atomic_store_n(&p->sb->high_water, ++p->high_water,
	    __ATOMIC_RELEASE);
	return p->high_water - 1;
}

/*
 * A start-up failure: the next worker starts after a delay that doubles
 * each time, one at a time (a probe); once a probe lives through
 * START_FAILURE_MS the failures are forgotten (pool_adjust()).  After
 * START_FAILURES_MAX in a row the pool gives up: whatever breaks the
 * workers will not mend itself.
 */
static int
start_failed(struct pool *p, int64_t now, const char *why)
{
	int64_t	 delay;

	if (++p->start_failures >= START_FAILURES_MAX) {
		log_warnx("%s", why);
		if (p->trial) {
			snprintf(p->trial_failed, sizeof(p->trial_failed),
			    "its workers keep failing at start-up (%d in a "
			    "row)", p->start_failures);
			return POOL_TRIAL_FAILED;
		}
		p->give_up = "workers keep failing at start-up; giving up";
		return POOL_GIVE_UP;
	}
	delay = RESPAWN_DELAY_MIN_MS << (p->start_failures - 1);
	if (delay > RESPAWN_DELAY_MAX_MS)
		delay = RESPAWN_DELAY_MAX_MS;
	p->next_start = now + delay;
	log_warnx("%s; next worker start in %lld ms", why, (long long)delay);
	return 0;
}

/* highest_fd: the master's highest descriptor (limits_highest_fd()). */
static int
spawn_worker(struct pool *p, int64_t now, int udp, int highest_fd)
{
	struct worker_args	 wa;
	struct slot		*slot;
	struct worker		*w;
	pid_t			 pid;
	int			 i;

	if ((i = free_slot(p)) == -1) {
		/* Only draining workers can free slots: wait for them. */
		log_warnx("the scoreboard is full (%d workers); waiting",
		    SCOREBOARD_SLOTS);
		p->next_start = now + 1000;
		return -1;
	}
	w = &p->workers[i];
	slot = &p->sb->slots[i];
	memset(slot, 0, sizeof(*slot));
	slot->generation = p->generation;
	slot->started = slot->since = now;
	slot->order = ORDER_SERVE;
	slot->kind = udp ? KIND_UDP : KIND_TCP;
	__atomic_store_n(&slot->state, SLOT_STARTING, __ATOMIC_RELEASE);

	wa.conf = p->conf;
	wa.listeners = udp ? p->udp : p->listeners;
	wa.nlisteners = udp ? p->nudp : p->nlisteners;
	wa.udp = udp;
	wa.generation = p->generation;
	wa.master_pid = getpid();
	wa.scoreboard = p->sb;
	wa.slot = i;
	wa.wake_fd = p->wake[1];
	wa.highest_fd = highest_fd;

	switch (pid = fork()) {
	case -1:
		/*
		 * A process limit (RLIMIT_NPROC, pid_max, a cgroup's) or
		 * memory: not a broken worker, so not a start-up failure.
		 * The pool stays as it is and tries again in a second.
		 */
		if (log_due(&p->fork_failed_logged, now, FORK_FAILED_LOG_MS))
			log_warn("fork (the pool stays at %zu workers; logged "
			    "once a minute at most)", p->counts.current);
		__atomic_store_n(&slot->state, SLOT_FREE, __ATOMIC_RELEASE);
		p->next_start = now + 1000;
		return -1;
	case 0:
		close(p->wake[0]);
		if (p->child_hook != NULL)
			p->child_hook(p->child_arg);
		worker_run(&wa);
		/* NOTREACHED */
	}
	__atomic_store_n(&slot->pid, pid, __ATOMIC_RELAXED);
	__atomic_store_n(&p->sb->worker_starts, p->sb->worker_starts + 1,
	    __ATOMIC_RELAXED);
	w->pid = pid;
	w->order = ORDER_SERVE;
	w->deadline = 0;
	w->udp = udp;
	if (p->start_failures > 0)
		p->probe = pid;
	/* Started after the census: counted as it would have counted it. */
	p->counts.total++;
	if (udp)
		p->counts.udp++;
	else {
		p->counts.starting++;
		p->counts.current++;
		p->counts.spare++;
	}
	log_debug("%sworker %ld started (generation %u)", udp ? "udp " : "",
	    (long)pid, p->generation);
	return 0;
}

static void
signal_worker(struct pool *p, uint32_t i, int sig, enum slot_order order,
    int64_t deadline)
{
	struct worker	*w = &p->workers[i];

	if (kill(w->pid, sig) == -1 && errno != ESRCH)
		log_warn("kill %ld", (long)w->pid);
	w->order = order;
	w->deadline = deadline;
	__atomic_store_n(&p->sb->slots[i].order, order, __ATOMIC_RELAXED);
	if (deadline < p->next_deadline)
		p->next_deadline = deadline;
}

/* Tell up to n idle workers of the current generation to stop. */
static size_t
retire_idle(struct pool *p, size_t n, int64_t now)
{
	uint32_t	 i;
	size_t		 retired = 0;

	/* From the top, so that the scoreboard's used part shrinks. */
	for (i = p->high_water; i-- > 0 && n > 0;) {
		const struct worker *w = &p->workers[i];

		if (w->pid == 0 || w->order != ORDER_SERVE || w->udp ||
		    p->sb->slots[i].generation != p->generation ||
		    __atomic_load_n(&p->sb->slots[i].state, __ATOMIC_ACQUIRE)
		    != SLOT_IDLE)
			continue;
		signal_worker(p, i, SIGQUIT, ORDER_DRAIN,
		    now + (int64_t)p->conf->drain_timeout * 1000);
		n--;
		retired++;
	}
	/* Counted as the census would count them now. */
	p->counts.idle -= retired;
	p->counts.draining += retired;
	p->counts.current -= retired;
	p->counts.spare -= retired;
	p->counts.ready -= retired;
	return retired;
}

/* Demand met max-workers (poolplan_decide() says when it is new). */
static void
note_max_workers(struct pool *p, int64_t now)
{
	p->sb->max_workers_reached++;
	if (!log_due(&p->max_workers_logged, now, MAX_WORKERS_LOG_MS))
		return;
	log_warnx("max-workers (%d) reached: new clients wait in the backlog "
	    "(reached %llu times; logged once a minute at most)",
	    p->conf->max_workers,
	    (unsigned long long)p->sb->max_workers_reached);
}

/* POOL_RESIZED if the current generation's count is not what was said. */
static int
resized(struct pool *p)
{
	if (p->counts.current == p->reported)
		return 0;
	p->reported = p->counts.current;
	return POOL_RESIZED;
}

static void
plan_settings(const struct config *conf, struct poolplan_settings *ps)
{
	ps->prefork = conf->prefork;
	ps->min_spare = conf->min_spare;
	ps->max_spare = conf->max_spare;
	ps->max_workers = conf->max_workers;
}

/*
 * The UDP workers: udp-workers of them while a UDP listener is, however
 * busy; one killed is replaced at once, one that fails at start-up as a
 * TCP worker is (start_failed()).
 */
static void
adjust_udp(struct pool *p, int64_t now)
{
	size_t	 started = 0;

	if (p->nudp == 0 || p->stopping || now < p->next_start)
		return;
	/* -1: a UDP worker reads its descriptors itself (highest_held()). */
	while (p->counts.udp < (size_t)p->conf->udp_workers &&
	    started < START_BATCH) {
		if (spawn_worker(p, now, 1, -1) == -1)
			break;
		started++;
		if (p->start_failures > 0) {
			p->next_start = now + START_FAILURE_MS;
			break;
		}
	}
}

/*
 * Grow or shrink the current generation's pool (see the top of this
 * file): what poolplan_decide() says, done.  Called on every turn of
 * the master's loop while it runs, after pool_census().
 */
int
pool_adjust(struct pool *p, int64_t now)
{
	struct poolplan_settings ps;
	struct poolplan_input	 in;
	struct poolplan		 plan;
	uint64_t		 finished;
	size_t			 started = 0;
	int			 cut = 0, highest_fd = -1;

	adjust_udp(p, now);
	if (p->nlisteners == 0)
		return resized(p);
	plan_settings(p->conf, &ps);
	memset(&in, 0, sizeof(in));
	in.current = p->counts.current;
	in.spare = p->counts.spare;
	in.starting = p->counts.current - p->counts.ready;
	if (poolplan_wants_queue(&ps, in.spare - in.starting))
		in.queued = listeners_queued(p->listeners, p->nlisteners);
	/*
	 * Connections ended since the last decision: every accept() the
	 * slots (and the reaped workers' totals) count, less the clients
	 * still being served.
	 */
	finished = p->accepted + p->sb->retired_accepted - p->counts.active;
	in.finished = finished > p->finished_seen ?
	    finished - p->finished_seen : 0;
	p->finished_seen = finished;
	in.failures = p->start_failures;
	in.probe_age = p->probe_age;
	in.next_start = p->next_start;
	poolplan_decide(&ps, &in, &p->plan, now, &plan);

	if (plan.forget_failures) {
		p->start_failures = 0;
		p->probe = 0;
	}
	if (plan.max_reached)
		note_max_workers(p, now);
	/* One look for the round: the master opens nothing during it. */
	if (plan.start > 0 && !p->stopping)
		highest_fd = limits_highest_fd();
	while (started < plan.start && !p->stopping) {
		if (spawn_worker(p, now, 0, highest_fd) == -1)
			break;
		started++;
		if (plan.probe) {
			p->next_start = now + START_FAILURE_MS;
			break;
		}
		/*
		 * Bounded by time as well as by count: under a burst a
		 * fork takes from 0.1 to several ms, and the master must
		 * come back to its signals and the control socket between
		 * rounds (clock_ms() is no system call, the vDSO's).  Not
		 * below prefork: those start as one batch, which, if it
		 * fails at start-up, fails as one (start_failed()).
		 */
		if (started < plan.start &&
		    in.current + started >= (size_t)p->conf->prefork &&
		    clock_ms() - now >= START_TURN_MS) {
			cut = 1;
			break;
		}
	}
	poolplan_started(&p->plan, started, cut);
	if (plan.retire > 0)
		retire_idle(p, plan.retire, now);
	return resized(p);
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

/* Why a worker ended, for the metrics. */
static enum exit_cause
exit_cause(int status, enum slot_order order, int stopping)
{
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		return EXIT_SANDBOX;
	if (order != ORDER_SERVE || stopping)
		return EXIT_RETIRED;
	if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_RECYCLED)
		return EXIT_RECYCLED;
	return EXIT_CRASH;
}

/*
 * A reaped worker's slot: its counters go to the retired totals, so that
 * the totals stay exact across deaths, and its bits leave the pool map,
 * whatever it was doing when it died.
 */
static void
release_slot(struct pool *p, struct worker *w)
{
	struct scoreboard	*sb = p->sb;
	struct slot		*slot = &sb->slots[w - p->workers];

	scoreboard_map_clear(sb, w - p->workers);
	scoreboard_fold(sb, slot);
	memset(w, 0, sizeof(*w));
	while (p->high_water > 0 && p->workers[p->high_water - 1].pid == 0)
		p->high_water--;
	__atomic_store_n(&sb->high_water, p->high_water, __ATOMIC_RELEASE);
}

/*
 * Reap every child that has died: waitpid() until nothing is left.
 * POOL_GIVE_UP when workers cannot start (pool_give_up_reason() says
 * why): the master then stops.
 */
int
pool_reap(struct pool *p, int64_t now)
{
	struct worker	*w;
	const struct slot *slot;
	char		 how[128], why[192];
	enum slot_order	 order;
	enum exit_cause	 cause;
	unsigned int	 generation;
	int64_t		 age;
	pid_t		 pid;
	int32_t		 bad_call;
	int		 status, events = 0;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((w = worker_by_pid(p, pid)) == NULL)
			continue;
		/*
		 * Free the slot first: whatever follows (a stop, above all)
		 * signals the workers in the table, and this pid is no
		 * longer ours to signal.
		 */
		slot = &p->sb->slots[w - p->workers];
		order = w->order;
		generation = slot->generation;
		age = now - slot->started;
		bad_call = slot->sandbox_syscall;
		release_slot(p, w);
		cause = exit_cause(status, order, p->stopping);
		__atomic_store_n(&p->sb->worker_exits[cause],
		    p->sb->worker_exits[cause] + 1, __ATOMIC_RELAXED);
		describe_status(status, how, sizeof(how));
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
			log_sandbox_violation(pid, bad_call);
		if (order != ORDER_SERVE || p->stopping || p->give_up != NULL)
			log_debug("worker %ld (generation %u) %s", (long)pid,
			    generation, how);
		else if (generation != p->generation)
			/* The previous generation, while a new one is tried. */
			log_warnx("worker %ld (generation %u) %s", (long)pid,
			    generation, how);
		else if (WIFEXITED(status) &&
		    WEXITSTATUS(status) == WORKER_EXIT_RECYCLED)
			log_debug("worker %ld (generation %u) recycled after "
			    "max-connections-per-worker", (long)pid,
			    generation);
		else {
			log_warnx("worker %ld (generation %u) %s", (long)pid,
			    generation, how);
			if (WIFEXITED(status) &&
			    WEXITSTATUS(status) == WORKER_EXIT_SETUP &&
			    p->trial) {
				snprintf(p->trial_failed,
				    sizeof(p->trial_failed), "worker %ld "
				    "could not set itself up (exit status %d)",
				    (long)pid, WORKER_EXIT_SETUP);
				events |= POOL_TRIAL_FAILED;
			} else if (WIFEXITED(status) &&
			    WEXITSTATUS(status) == WORKER_EXIT_SETUP) {
				p->give_up = "a worker could not set itself up";
				events |= POOL_GIVE_UP;
			} else if (is_start_failure(status, age)) {
				/*
				 * Workers started together fail together:
				 * while failing, only the probe's death is
				 * another failure in a row.
				 */
				if (p->start_failures > 0 && pid != p->probe)
					continue;
				snprintf(why, sizeof(why), "worker %ld %s "
				    "%lld ms after it started", (long)pid, how,
				    (long long)age);
				events |= start_failed(p, now, why);
			} else
				p->start_failures = 0;
		}
	}
	if (pid == -1 && errno != ECHILD)
		log_warn("waitpid");
	return events;
}

/*
 * Tell every worker told to serve, but of generation keep (0: none), to
 * drain: those of older generations after a reload, or all of them for
 * a graceful stop.
 */
static void
drain(struct pool *p, int64_t now, unsigned int keep)
{
	uint32_t	 i;

	for (i = 0; i < p->high_water; i++) {
		const struct worker *w = &p->workers[i];

		if (w->pid == 0 || w->order != ORDER_SERVE ||
		    p->sb->slots[i].generation == keep)
			continue;
		signal_worker(p, i, SIGQUIT, ORDER_DRAIN,
		    now + (int64_t)p->conf->drain_timeout * 1000);
	}
}

/* The current generation is awaited until then (see pool_census()). */
void
pool_await(struct pool *p, int64_t until)
{
	p->awaiting = 1;
	p->await_until = until;
}

/*
 * A reload: a new generation starts (pool_adjust() forks it), on trial.
 * The previous one goes on accepting until prefork of the new one's
 * workers are set up (pool_census() then drains it and says
 * POOL_SERVING).  If they are not within wait ms, or a worker cannot
 * set itself up, or they keep failing at start-up, POOL_TRIAL_FAILED
 * says so, and the master goes back with pool_rollback().
 */
void
pool_new_generation(struct pool *p, int64_t now, int64_t wait)
{
	p->generation++;
	__atomic_store_n(&p->sb->generation, p->generation, __ATOMIC_RELAXED);
	p->start_failures = 0;
	p->next_start = 0;
	p->probe = 0;
	p->plan.growth_step = 0;
	p->plan.more = 0;
	p->awaiting = 1;
	p->await_until = now + wait;
	p->trial = 1;
	p->trial_started = now;
	p->trial_ready = -1;
	p->trial_failed[0] = '\0';
	pool_census(p, now);
}

/*
 * The generation on trial failed: its workers are told to drain (those
 * that did start may have clients already, who finish) and the previous
 * generation, which never stopped serving, is current again, with the
 * configuration and listeners it was started with.
 */
void
pool_rollback(struct pool *p, int64_t now, const struct config *conf,
    const struct listener *ls, size_t nls)
{
	uint32_t	 i;

	for (i = 0; i < p->high_water; i++) {
		const struct worker *w = &p->workers[i];

		if (w->pid != 0 && w->order == ORDER_SERVE &&
		    p->sb->slots[i].generation == p->generation)
			signal_worker(p, i, SIGQUIT, ORDER_DRAIN,
			    now + (int64_t)conf->drain_timeout * 1000);
	}
	p->generation--;
	p->trial = 0;
	p->awaiting = 0;
	p->start_failures = 0;
	p->next_start = 0;
	p->probe = 0;
	p->plan.growth_step = 0;
	p->plan.more = 0;
	pool_configure(p, conf, ls, nls);
	pool_census(p, now);
}

/* A graceful stop: every worker finishes its connection. */
void
pool_drain_all(struct pool *p, int64_t now)
{
	p->stopping = 1;
	drain(p, now, 0);	/* generations begin at 1 */
	pool_census(p, now);
}

/* A fast stop: SIGTERM to every worker not told so already. */
void
pool_stop_all(struct pool *p, int64_t now)
{
	uint32_t	 i;

	p->stopping = 1;
	for (i = 0; i < p->high_water; i++) {
		const struct worker *w = &p->workers[i];

		if (w->pid != 0 && w->order != ORDER_STOP)
			signal_worker(p, i, SIGTERM, ORDER_STOP,
			    now + KILL_GRACE_MS);
	}
	pool_census(p, now);
}

/*
 * Draining past drain-timeout: SIGTERM; stopping past the grace: SIGKILL.
 * Nothing to look at before the soonest deadline the census saw.
 */
void
pool_enforce_deadlines(struct pool *p, int64_t now)
{
	uint32_t	 i;

	if (now < p->next_deadline)
		return;
	p->next_deadline = INT64_MAX;
	for (i = 0; i < p->high_water; i++) {
		const struct worker *w = &p->workers[i];

		if (w->pid == 0 || w->order == ORDER_SERVE)
			continue;
		if (now < w->deadline) {
			if (w->deadline < p->next_deadline)
				p->next_deadline = w->deadline;
			continue;
		}
		if (w->order == ORDER_DRAIN) {
			log_info("worker %ld (generation %u) still busy after "
			    "drain-timeout; stopping it", (long)w->pid,
			    p->sb->slots[i].generation);
			signal_worker(p, i, SIGTERM, ORDER_STOP,
			    now + KILL_GRACE_MS);
		} else {
			log_warnx("worker %ld ignored SIGTERM; killing it",
			    (long)w->pid);
			signal_worker(p, i, SIGKILL, ORDER_STOP, INT64_MAX);
		}
	}
}

/*
 * How long the master may sleep, in ms (-1: until a signal or a wake-up
 * byte): until the next deadline, the next allowed start, the next look
 * at a pool that is larger than prefork, or at an awaited generation.
 */
int64_t
pool_next_wakeup(const struct pool *p, int64_t now)
{
	int64_t			 when = p->next_deadline;

	struct poolplan_settings ps;
	int64_t			 look;

	if (!p->stopping) {
		plan_settings(p->conf, &ps);
		look = poolplan_next_look(&ps, &p->plan, p->counts.current,
		    now);
		if (look < when)
			when = look;
		/* A start held back (throttled, or a failed fork). */
		if (p->next_start > now && p->next_start < when)
			when = p->next_start;
		/* Nor do they say when they are ready. */
		if (p->awaiting) {
			if (now + SERVE_POLL_MS < when)
				when = now + SERVE_POLL_MS;
			if (p->await_until < when)
				when = p->await_until;
		}
	}
	if (when == INT64_MAX)
		return -1;
	return when > now ? when - now : 0;
}
