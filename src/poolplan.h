/*
 * How many workers to start and to retire (poolplan.c): the pool's
 * decisions as a pure function of its counts, its settings and the time,
 * with no system call and no state but what is passed in.  pool.c acts
 * on them; tests/pool_test.c tries them case by case.
 */

#ifndef ECHOD_POOLPLAN_H
#define ECHOD_POOLPLAN_H

#include <stddef.h>
#include <stdint.h>

/* A worker that stops faster than this after its start "failed to start". */
#define START_FAILURE_MS	1000
/*
 * Workers started in one round of the master's loop, at most, and,
 * beyond prefork, for this long at most (pool_adjust()): between rounds
 * the master serves its signals and the control socket, so that
 * echodctl answers while a burst forks thousands.
 */
#define START_BATCH		256
#define START_TURN_MS		10
/* Workers setting up at once, beyond prefork, at most. */
#define START_INFLIGHT		16
/* Shrinking: no sooner than this after the pool last grew, then this often. */
#define RETIRE_HOLDOFF_MS	1000
#define RETIRE_INTERVAL_MS	500
/*
 * A pool that keeps up: the clients queued now would all be served
 * within KEEP_UP_MS at the rate the workers have been finishing
 * connections (over the last one or two windows of KEEP_UP_WINDOW_MS).
 * It is then not short of workers, whatever its idle count, and
 * wake-ups are not heard for KEEP_UP_QUIET_MS (it is looked at again
 * then).
 */
#define KEEP_UP_MS		10
#define KEEP_UP_WINDOW_MS	100
#define KEEP_UP_QUIET_MS	20

/* From echod.conf(5). */
struct poolplan_settings {
	size_t		 prefork;
	size_t		 min_spare;
	size_t		 max_spare;
	size_t		 max_workers;
};

/* This turn's facts. */
struct poolplan_input {
	size_t		 current;	/* the generation's serving workers */
	size_t		 spare;		/* of those, idle or starting */
	size_t		 starting;	/* of the spares, still starting */
	size_t		 queued;	/* clients in the accept queues */
	uint64_t	 finished;	/* connections ended since the last look */
	int		 failures;	/* start-up failures in a row */
	int64_t		 probe_age;	/* ms the probe has lived; -1: none */
	int64_t		 next_start;	/* no start before (ms) */
};

/* What the decisions carry from one turn to the next. */
struct poolplan_state {
	size_t		 growth_step;	/* workers started last round */
	int64_t		 last_growth;	/* ms */
	int64_t		 next_retire;	/* ms */
	int		 at_max_workers;
	int		 more;		/* a batch was cut short */
	int64_t		 window;	/* this window began, ms; 0: none */
	uint64_t	 window_finished;	/* connections ended in it */
	int64_t		 last_window;	/* the previous one's length, ms */
	uint64_t	 last_finished;	/* and its connections ended */
	int		 keeping_up;	/* at the last look */
	int64_t		 quiet_until;	/* wake-ups not heard before, ms */
};

/* The decision. */
struct poolplan {
	size_t		 start;		/* workers to start now */
	size_t		 retire;	/* idle workers to tell to stop */
	int		 probe;		/* start only one, a probe */
	int		 forget_failures; /* the probe lived: starts work */
	int		 max_reached;	/* demand met max-workers, newly */
};

int	poolplan_wants_queue(const struct poolplan_settings *, size_t);
int	poolplan_quiet(const struct poolplan_state *, int64_t);
void	poolplan_decide(const struct poolplan_settings *,
	    const struct poolplan_input *, struct poolplan_state *, int64_t,
	    struct poolplan *);
void	poolplan_started(struct poolplan_state *, size_t, int);
int64_t	poolplan_next_look(const struct poolplan_settings *,
	    const struct poolplan_state *, size_t, int64_t);

#endif /* ECHOD_POOLPLAN_H */
