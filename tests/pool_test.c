/*
 * pool_test: unit tests for the pool's decisions, src/poolplan.c.
 *
 * poolplan_decide() is a pure function of the pool's counts, its
 * settings, the state it carries from turn to turn and the time: each
 * case sets those up and checks how many workers it starts and retires.
 * The cases follow what the shell tests see from outside (t_pool.sh:
 * a burst served at once and the calm retreat after it, a fixed pool
 * with min-spare 0, max-workers; t_respawn.sh: the probe after start-up
 * failures, a throttled start), and the edges they cannot reach.  A
 * case that fails prints one line; the exit status is 0 only if none
 * failed, as automake's test driver expects.
 */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../src/poolplan.h"

/* A time far from 0, where the state's zeroes are long past. */
#define T0	1000000

static int		 ncases;
static int		 nfailed;
static const char	*casename;
static char		 why[512];

static void	fail(const char *, ...)
		    __attribute__((__format__ (printf, 1, 2)));

static void
fail(const char *fmt, ...)
{
	va_list	 ap;

	if (why[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
}

static void
run(const char *name, void (*fn)(void))
{
	casename = name;
	why[0] = '\0';
	ncases++;
	fn();
	if (why[0] != '\0') {
		nfailed++;
		printf("FAIL %s: %s\n", casename, why);
	}
}

#define CHECK(cond)	do {						\
	if (!(cond))							\
		fail("line %d: %s", __LINE__, #cond);			\
} while (0)
#define CHECK_EQ(got, want)	do {					\
	long long got_ = (long long)(got), want_ = (long long)(want);	\
	if (got_ != want_)						\
		fail("line %d: %s is %lld, not %lld", __LINE__, #got,	\
		    got_, want_);					\
} while (0)

/* echod.conf(5)'s defaults: prefork 4, min-spare 2, max-spare 8, 256. */
static struct poolplan_settings
defaults(void)
{
	struct poolplan_settings s = { 4, 2, 8, 256 };

	return s;
}

static struct poolplan_input
counts(size_t current, size_t spare, size_t queued)
{
	struct poolplan_input in;

	memset(&in, 0, sizeof(in));
	in.current = current;
	in.spare = spare;
	in.queued = queued;
	in.probe_age = -1;
	return in;
}

/* One decision, from a state that has seen no growth for long. */
static struct poolplan
decide_once(const struct poolplan_settings *s,
    const struct poolplan_input *in)
{
	struct poolplan_state	 st;
	struct poolplan		 plan;

	memset(&st, 0, sizeof(st));
	poolplan_decide(s, in, &st, T0, &plan);
	return plan;
}

static void
t_start_prefork(void)
{
	struct poolplan_settings s = defaults();
	struct poolplan_input	 in = counts(0, 0, 0);
	struct poolplan		 p = decide_once(&s, &in);

	CHECK_EQ(p.start, 4);
	CHECK_EQ(p.retire, 0);
	CHECK(!p.probe);
	CHECK(!p.max_reached);
}

static void
t_at_rest(void)
{
	struct poolplan_settings s = defaults();
	struct poolplan_input	 in = counts(4, 4, 0);
	struct poolplan		 p = decide_once(&s, &in);

	CHECK_EQ(p.start, 0);
	CHECK_EQ(p.retire, 0);
	/* With min-spare + 1 spares, the queue is not even asked for. */
	CHECK(!poolplan_wants_queue(&s, 3));
	CHECK(poolplan_wants_queue(&s, 2));
}

/* Short of spares: min-spare of them, plus one per queued client. */
static void
t_short_of_spares(void)
{
	struct poolplan_settings s = defaults();
	struct poolplan_input	 in = counts(4, 1, 10);
	struct poolplan		 p = decide_once(&s, &in);

	CHECK_EQ(p.start, 2 + 10 - 1);
	in = counts(4, 2, 0);
	p = decide_once(&s, &in);
	CHECK_EQ(p.start, 0);	/* min-spare idle, nobody queued */
}

/* prefork below: the larger of the two demands, not their sum. */
static void
t_prefork_and_spares(void)
{
	struct poolplan_settings s = defaults();
	struct poolplan_input	 in = counts(1, 0, 1);
	struct poolplan		 p = decide_once(&s, &in);

	CHECK_EQ(p.start, 3);	/* prefork 4 - 1 > min-spare 2 + 1 - 0 */
	in = counts(1, 0, 10);
	p = decide_once(&s, &in);
	CHECK_EQ(p.start, 12);
}

/* min-spare 0: Stevens' fixed pool of prefork, whatever is queued. */
static void
t_fixed_pool(void)
{
	struct poolplan_settings s = { 2, 0, 8, 256 };
	struct poolplan_input	 in = counts(2, 0, 8);
	struct poolplan		 p = decide_once(&s, &in);

	CHECK_EQ(p.start, 0);
	CHECK(!poolplan_wants_queue(&s, 0));
	in = counts(1, 0, 8);
	p = decide_once(&s, &in);
	CHECK_EQ(p.start, 1);	/* a dead one replaced */
}

/* At max-workers: nothing more starts, and it is said once per time. */
static void
t_max_workers(void)
{
	struct poolplan_settings s = { 2, 1, 4, 4 };
	struct poolplan_state	 st;
	struct poolplan_input	 in;
	struct poolplan		 p;

	memset(&st, 0, sizeof(st));
	in = counts(4, 0, 2);
	poolplan_decide(&s, &in, &st, T0, &p);
	CHECK_EQ(p.start, 0);
	CHECK(p.max_reached);
	poolplan_decide(&s, &in, &st, T0 + 10, &p);
	CHECK(!p.max_reached);	/* still there: not newly */
	/* A worker freed up, no demand beyond the room: left max-workers. */
	in = counts(3, 1, 0);
	poolplan_decide(&s, &in, &st, T0 + 20, &p);
	CHECK(!st.at_max_workers);
	in = counts(4, 0, 1);
	poolplan_decide(&s, &in, &st, T0 + 30, &p);
	CHECK(p.max_reached);	/* reached again: counted again */
}

/* Demand above the room: what fits starts, and max-workers is reached. */
static void
t_max_workers_clamps(void)
{
	struct poolplan_settings s = { 2, 1, 4, 4 };
	struct poolplan_input	 in = counts(2, 0, 10);
	struct poolplan		 p = decide_once(&s, &in);

	CHECK_EQ(p.start, 2);
	CHECK(p.max_reached);
}

/* Still short after a round: the next round doubles it. */
static void
t_doubling(void)
{
	struct poolplan_settings s = defaults();
	struct poolplan_state	 st;
	struct poolplan_input	 in;
	struct poolplan		 p;

	memset(&st, 0, sizeof(st));
	in = counts(4, 0, 0);
	poolplan_decide(&s, &in, &st, T0, &p);
	CHECK_EQ(p.start, 2);
	poolplan_started(&st, p.start, 0);
	CHECK_EQ(st.growth_step, 2);
	/* The two went busy at once, and nobody is queued yet. */
	in = counts(6, 0, 0);
	poolplan_decide(&s, &in, &st, T0 + 1, &p);
	CHECK_EQ(p.start, 4);
	poolplan_started(&st, p.start, 0);
	in = counts(10, 1, 0);
	poolplan_decide(&s, &in, &st, T0 + 2, &p);
	CHECK_EQ(p.start, 8);
	poolplan_started(&st, p.start, 0);
	/* Enough spares again: the next shortage starts from scratch. */
	in = counts(18, 2, 0);
	poolplan_decide(&s, &in, &st, T0 + 3, &p);
	CHECK_EQ(p.start, 0);
	CHECK_EQ(st.growth_step, 0);
}

/* A round that started nothing does not double the next. */
static void
t_doubling_needs_starts(void)
{
	struct poolplan_state	 st;

	memset(&st, 0, sizeof(st));
	st.growth_step = 3;
	poolplan_started(&st, 0, 0);
	CHECK_EQ(st.growth_step, 3);
	poolplan_started(&st, 5, 0);
	CHECK_EQ(st.growth_step, 5);
}

/*
 * START_BATCH at most per round, and the next look is at once: a
 * prefork larger than a batch, which START_INFLIGHT does not bound.
 */
static void
t_batch(void)
{
	struct poolplan_settings s = { 1000, 2, 8, 16384 };
	struct poolplan_state	 st;
	struct poolplan_input	 in;
	struct poolplan		 p;

	memset(&st, 0, sizeof(st));
	in = counts(0, 0, 0);
	poolplan_decide(&s, &in, &st, T0, &p);
	CHECK_EQ(p.start, START_BATCH);
	CHECK(st.more);
	CHECK_EQ(poolplan_next_look(&s, &st, 0, T0), T0);
	in = counts(START_BATCH, START_BATCH, 0);
	in.starting = START_BATCH;
	poolplan_started(&st, p.start, 0);
	poolplan_decide(&s, &in, &st, T0, &p);
	CHECK_EQ(p.start, START_BATCH);
}

/*
 * A round cut short by START_TURN_MS: the master looks again at once,
 * and the next round goes on from what did start.
 */
static void
t_turn_cut(void)
{
	struct poolplan_settings s = { 4, 2, 8, 16384 };
	struct poolplan_state	 st;
	struct poolplan_input	 in;
	struct poolplan		 p;

	memset(&st, 0, sizeof(st));
	in = counts(4, 0, 12);
	poolplan_decide(&s, &in, &st, T0, &p);
	CHECK_EQ(p.start, 14);
	CHECK(!st.more);
	poolplan_started(&st, 5, 1);	/* 5 forks took START_TURN_MS */
	CHECK(st.more);
	CHECK_EQ(poolplan_next_look(&s, &st, 9, T0 + START_TURN_MS),
	    T0 + START_TURN_MS);
	/* The 5 took their clients at once: still short, so on it goes. */
	in = counts(9, 0, 7);
	poolplan_decide(&s, &in, &st, T0 + START_TURN_MS, &p);
	CHECK_EQ(p.start, 10);		/* 2 + 7, or twice the 5 */
	poolplan_started(&st, 10, 0);
	CHECK(!st.more);
}

/*
 * A burst: the workers of the last round are still starting when the
 * master looks again.  They count as spares, each to take one queued
 * client, but the master reads the queue anyway and starts for the
 * rest, instead of waiting for them to have set up, up to
 * START_INFLIGHT of them setting up at once.
 */
static void
t_starting_spares(void)
{
	struct poolplan_settings s = { 4, 2, 8, 16384 };
	struct poolplan_state	 st;
	struct poolplan_input	 in;
	struct poolplan		 p;

	memset(&st, 0, sizeof(st));
	in = counts(4, 0, 4000);
	poolplan_decide(&s, &in, &st, T0, &p);
	CHECK_EQ(p.start, START_INFLIGHT);
	poolplan_started(&st, 10, 1);	/* 10 forks took START_TURN_MS */
	/* The 10 are still starting; 3,990 clients wait behind them. */
	in = counts(14, 10, 4000);
	in.starting = 10;
	CHECK(poolplan_wants_queue(&s, in.spare - in.starting));
	poolplan_decide(&s, &in, &st, T0 + START_TURN_MS, &p);
	CHECK_EQ(p.start, START_INFLIGHT - 10);
	poolplan_started(&st, p.start, 0);
	/* START_INFLIGHT setting up: the next starts wait for them. */
	in = counts(4 + START_INFLIGHT, START_INFLIGHT, 4000);
	in.starting = START_INFLIGHT;
	poolplan_decide(&s, &in, &st, T0 + START_TURN_MS + 1, &p);
	CHECK_EQ(p.start, 0);
	CHECK(poolplan_next_look(&s, &st, 4 + START_INFLIGHT,
	    T0 + START_TURN_MS + 1) > T0 + START_TURN_MS + 1);
	/* Half of them set up and took clients: as many start again. */
	in = counts(4 + START_INFLIGHT, START_INFLIGHT / 2, 4000);
	in.starting = START_INFLIGHT / 2;
	poolplan_decide(&s, &in, &st, T0 + START_TURN_MS + 2, &p);
	CHECK_EQ(p.start, START_INFLIGHT / 2);
	/* Enough on their way for the queue: nobody more. */
	in = counts(64, 30, 20);
	in.starting = 30;
	poolplan_decide(&s, &in, &st, T0 + 2 * START_TURN_MS, &p);
	CHECK_EQ(p.start, 0);
	/* Spares waiting in accept(): the queue is not even asked for. */
	CHECK(!poolplan_wants_queue(&s, 30));
}

/*
 * Grown, and at rest with no surplus (up to max-spare idle): nothing to
 * retire, and the next look is an interval away, not due at once.  A
 * look that stays due makes the master's loop spin (a full CPU while
 * the pool rests between prefork and max-spare).
 */
static void
t_rest_above_prefork(void)
{
	struct poolplan_settings s = defaults();
	struct poolplan_state	 st;
	struct poolplan_input	 in;
	struct poolplan		 p;
	int64_t			 now = T0 + RETIRE_HOLDOFF_MS;

	memset(&st, 0, sizeof(st));
	st.last_growth = T0;
	in = counts(8, 7, 0);
	poolplan_decide(&s, &in, &st, now, &p);
	CHECK_EQ(p.start, 0);
	CHECK_EQ(p.retire, 0);
	CHECK(poolplan_next_look(&s, &st, 8, now) > now);
	CHECK_EQ(poolplan_next_look(&s, &st, 8, now), now + RETIRE_INTERVAL_MS);
	/* Idle workers beyond max-spare at that look: half of them go. */
	now += RETIRE_INTERVAL_MS;
	in = counts(14, 12, 0);
	poolplan_decide(&s, &in, &st, now, &p);
	CHECK_EQ(p.retire, 2);
}

/*
 * Clients that begin to connect and close after a pool has rested: the
 * rest is no window of the rate (it would make them look like a
 * trickle); the first look that sees them finish sees it keep up.
 */
static void
t_keeping_up_after_rest(void)
{
	struct poolplan_settings s = defaults();
	struct poolplan_state	 st;
	struct poolplan_input	 in;
	struct poolplan		 p;

	memset(&st, 0, sizeof(st));
	in = counts(4, 4, 0);
	poolplan_decide(&s, &in, &st, T0, &p);	/* at rest: the window opens */
	in = counts(4, 1, 0);			/* a second later, 3 busy */
	poolplan_decide(&s, &in, &st, T0 + 1000, &p);
	CHECK_EQ(p.start, 1);			/* min-spare: no rate yet */
	in = counts(5, 1, 7);			/* 14 ended in 1 ms */
	in.finished = 14;
	poolplan_decide(&s, &in, &st, T0 + 1001, &p);
	CHECK_EQ(p.start, 0);
	CHECK(st.keeping_up);
}

/*
 * Eight clients that connect, echo and close, as fast as they can, on
 * a pool of 4 (min-spare 2): the workers are nearly always busy and the
 * queue is rarely empty, but it empties within moments.  A pool that
 * keeps up starts nobody, hears no wake-up for KEEP_UP_QUIET_MS, and,
 * grown, comes back to prefork rather than to max-spare idle workers.
 */
static void
t_keeping_up(void)
{
	struct poolplan_settings s = defaults();
	struct poolplan_state	 st;
	struct poolplan_input	 in;
	struct poolplan		 p;
	int64_t			 now = T0;

	memset(&st, 0, sizeof(st));
	in = counts(4, 0, 4);
	poolplan_decide(&s, &in, &st, now, &p);
	CHECK_EQ(p.start, 6);		/* no rate yet: 2 + 4 */
	poolplan_started(&st, p.start, 0);
	/* 2,000 connections ended in each window since: 20,000/s. */
	for (now = T0 + 50; now <= T0 + 2 * KEEP_UP_WINDOW_MS; now += 50) {
		in = counts(10, 0, 4);
		in.finished = 1000;
		poolplan_decide(&s, &in, &st, now, &p);
	}
	CHECK_EQ(p.start, 0);
	CHECK(st.keeping_up);
	CHECK(poolplan_quiet(&st, now - 50));
	CHECK(!poolplan_quiet(&st, now - 50 + KEEP_UP_QUIET_MS));
	CHECK_EQ(poolplan_next_look(&s, &st, 10, now - 50),
	    now - 50 + KEEP_UP_QUIET_MS);
	/* After the hold-off: the idle ones beyond prefork go too. */
	now = T0 + RETIRE_HOLDOFF_MS;
	in = counts(10, 2, 3);
	in.finished = 20000;
	poolplan_decide(&s, &in, &st, now, &p);
	CHECK_EQ(p.start, 0);
	CHECK_EQ(p.retire, 1);		/* (2 + 1) / 2 */
	/* Not short of spares: max-spare as ever, no quiet. */
	in = counts(10, 6, 0);
	in.finished = 2000;
	poolplan_decide(&s, &in, &st, now + RETIRE_INTERVAL_MS, &p);
	CHECK(!st.keeping_up);
	CHECK_EQ(p.retire, 0);
}

/*
 * A burst on a pool that keeps up with short connections: thousands
 * queued are more than the rate clears within KEEP_UP_MS, and start at
 * once; clients that hold their connections end none, and are never
 * kept up with.
 */
static void
t_burst_while_keeping_up(void)
{
	struct poolplan_settings s = { 4, 2, 8, 16384 };
	struct poolplan_state	 st;
	struct poolplan_input	 in;
	struct poolplan		 p;

	memset(&st, 0, sizeof(st));
	in = counts(4, 0, 4);
	poolplan_decide(&s, &in, &st, T0, &p);
	in = counts(4, 0, 4);
	in.finished = 2000;
	poolplan_decide(&s, &in, &st, T0 + KEEP_UP_WINDOW_MS, &p);
	CHECK(st.keeping_up);
	CHECK_EQ(p.start, 0);
	in = counts(4, 0, 3000);
	in.finished = 100;
	poolplan_decide(&s, &in, &st, T0 + KEEP_UP_WINDOW_MS + 5, &p);
	CHECK(!st.keeping_up);
	CHECK_EQ(p.start, START_INFLIGHT);
	/* Held: nothing ends, and the pool grows however long it looks. */
	memset(&st, 0, sizeof(st));
	in = counts(4, 0, 10);
	poolplan_decide(&s, &in, &st, T0, &p);
	poolplan_decide(&s, &in, &st, T0 + KEEP_UP_WINDOW_MS, &p);
	CHECK(!st.keeping_up);
	CHECK_EQ(p.start, 12);
}

/* While starts fail: one probe at a time, until one lives long enough. */
static void
t_probe_pending(void)
{
	struct poolplan_settings s = defaults();
	struct poolplan_input	 in = counts(0, 0, 0);
	struct poolplan		 p;

	in.failures = 3;
	p = decide_once(&s, &in);
	CHECK_EQ(p.start, 1);
	CHECK(p.probe);
	CHECK(!p.forget_failures);
	/* A probe alive, but young: still probing. */
	in.probe_age = START_FAILURE_MS - 1;
	in.current = in.spare = 1;
	p = decide_once(&s, &in);
	CHECK_EQ(p.start, 1);
	CHECK(p.probe);
	/* It lived: the failures are forgotten, the pool fills at once. */
	in.probe_age = START_FAILURE_MS;
	p = decide_once(&s, &in);
	CHECK(p.forget_failures);
	CHECK(!p.probe);
	CHECK_EQ(p.start, 3);
}

/* A probe is one worker even for a burst beyond START_BATCH. */
static void
t_probe_in_burst(void)
{
	struct poolplan_settings s = { 4, 2, 8, 16384 };
	struct poolplan_state	 st;
	struct poolplan_input	 in = counts(4, 0, 1000);
	struct poolplan		 p;

	memset(&st, 0, sizeof(st));
	in.failures = 1;
	poolplan_decide(&s, &in, &st, T0, &p);
	CHECK_EQ(p.start, 1);
	CHECK(!st.more);
}

/* A start held back (throttled, failed fork): none now, growth noted. */
static void
t_throttled(void)
{
	struct poolplan_settings s = defaults();
	struct poolplan_state	 st;
	struct poolplan_input	 in = counts(2, 0, 0);
	struct poolplan		 p;

	memset(&st, 0, sizeof(st));
	in.next_start = T0 + 25;
	poolplan_decide(&s, &in, &st, T0, &p);
	CHECK_EQ(p.start, 0);
	CHECK_EQ(st.last_growth, T0);
	poolplan_decide(&s, &in, &st, T0 + 25, &p);
	CHECK_EQ(p.start, 2);
}

/* After a burst: half the surplus over max-spare, every interval. */
static void
t_shrink(void)
{
	struct poolplan_settings s = defaults();
	struct poolplan_state	 st;
	struct poolplan_input	 in = counts(20, 20, 0);
	struct poolplan		 p;

	memset(&st, 0, sizeof(st));
	poolplan_decide(&s, &in, &st, T0, &p);
	CHECK_EQ(p.start, 0);
	CHECK_EQ(p.retire, 6);		/* (20 - 8 + 1) / 2 */
	CHECK_EQ(st.next_retire, T0 + RETIRE_INTERVAL_MS);
	in = counts(14, 14, 0);
	poolplan_decide(&s, &in, &st, T0 + RETIRE_INTERVAL_MS - 1, &p);
	CHECK_EQ(p.retire, 0);
	poolplan_decide(&s, &in, &st, T0 + RETIRE_INTERVAL_MS, &p);
	CHECK_EQ(p.retire, 3);		/* (14 - 8 + 1) / 2 */
	in = counts(9, 9, 0);
	poolplan_decide(&s, &in, &st, T0 + 2 * RETIRE_INTERVAL_MS, &p);
	CHECK_EQ(p.retire, 1);
	in = counts(8, 8, 0);
	poolplan_decide(&s, &in, &st, T0 + 3 * RETIRE_INTERVAL_MS, &p);
	CHECK_EQ(p.retire, 0);		/* max-spare idle may stay */
}

/* No retreat sooner than RETIRE_HOLDOFF_MS after the pool grew. */
static void
t_shrink_holdoff(void)
{
	struct poolplan_settings s = defaults();
	struct poolplan_state	 st;
	struct poolplan_input	 in;
	struct poolplan		 p;

	memset(&st, 0, sizeof(st));
	in = counts(4, 0, 12);
	poolplan_decide(&s, &in, &st, T0, &p);
	CHECK_EQ(p.start, 14);
	poolplan_started(&st, p.start, 0);
	in = counts(18, 18, 0);		/* the clients left at once */
	poolplan_decide(&s, &in, &st, T0 + RETIRE_HOLDOFF_MS - 1, &p);
	CHECK_EQ(p.retire, 0);
	CHECK_EQ(poolplan_next_look(&s, &st, 18, T0 + 1),
	    T0 + RETIRE_HOLDOFF_MS);
	poolplan_decide(&s, &in, &st, T0 + RETIRE_HOLDOFF_MS, &p);
	CHECK_EQ(p.retire, 5);		/* (18 - 8 + 1) / 2 */
	CHECK_EQ(poolplan_next_look(&s, &st, 13, T0 + RETIRE_HOLDOFF_MS),
	    T0 + RETIRE_HOLDOFF_MS + RETIRE_INTERVAL_MS);
}

/* Never below prefork, whatever max-spare says. */
static void
t_shrink_to_prefork(void)
{
	struct poolplan_settings s = { 4, 0, 1, 256 };
	struct poolplan_input	 in = counts(6, 6, 0);
	struct poolplan		 p = decide_once(&s, &in);

	CHECK_EQ(p.retire, 1);		/* (min(5, 2) + 1) / 2 */
	in = counts(4, 4, 0);
	p = decide_once(&s, &in);
	CHECK_EQ(p.retire, 0);
	/* At prefork, nothing to look at later. */
	{
		struct poolplan_state st;

		memset(&st, 0, sizeof(st));
		CHECK_EQ(poolplan_next_look(&s, &st, 4, T0), INT64_MAX);
	}
}

/* Busy workers are no surplus: only idle (and starting) spares count. */
static void
t_shrink_busy(void)
{
	struct poolplan_settings s = defaults();
	struct poolplan_input	 in = counts(40, 8, 0);
	struct poolplan		 p = decide_once(&s, &in);

	CHECK_EQ(p.retire, 0);
	CHECK_EQ(p.start, 0);
}

/*
 * Just after a reload the new generation has no workers: the old
 * generation's, draining, are not in the counts (pool_census() counts
 * the current generation only), so prefork start at once, however many
 * old ones are still idle or busy.  Nor is the old one's growth state
 * carried over (pool_new_generation() resets it).
 */
static void
t_draining_generation(void)
{
	struct poolplan_settings s = defaults();
	struct poolplan_state	 st;
	struct poolplan_input	 in = counts(0, 0, 0);
	struct poolplan		 p;

	memset(&st, 0, sizeof(st));
	poolplan_decide(&s, &in, &st, T0, &p);
	CHECK_EQ(p.start, 4);
	CHECK_EQ(p.retire, 0);
}

/*
 * t_pool.sh's burst, turn by turn: 300 clients held at once on a pool
 * of 4 (min-spare 2, max-spare 8, max-workers 400).  Each turn, every
 * idle worker takes a queued client, the queue shows what is left, and
 * the started workers are idle by the next turn.  All 300 must be
 * served within a few turns, without max-workers; once they leave, the
 * pool must come back to at most max-spare idle workers, never below
 * prefork, retiring no sooner than the hold-off.
 */
static void
t_burst(void)
{
	struct poolplan_settings s = { 4, 2, 8, 400 };
	struct poolplan_state	 st;
	struct poolplan_input	 in;
	struct poolplan		 p;
	size_t			 workers = 4, busy = 0, waiting = 300, take;
	int64_t			 now = T0, grown = T0;
	int			 turn;

	memset(&st, 0, sizeof(st));
	for (turn = 0; turn < 40 && (waiting > 0 || workers - busy < 2);
	    turn++, now += 5) {
		take = workers - busy < waiting ? workers - busy : waiting;
		busy += take;
		waiting -= take;
		in = counts(workers, workers - busy, waiting);
		poolplan_decide(&s, &in, &st, now, &p);
		CHECK(!p.max_reached);
		CHECK_EQ(p.retire, 0);
		poolplan_started(&st, p.start, 0);
		if (p.start > 0)
			grown = now;
		workers += p.start;
	}
	CHECK_EQ(waiting, 0);
	/* START_INFLIGHT a turn, since they have set up by the next. */
	CHECK(turn <= 300 / START_INFLIGHT + 3);
	CHECK(workers >= 302 && workers <= 400);

	/* The clients leave; the master looks whenever it said it would. */
	busy = 0;
	for (turn = 0; turn < 100; turn++) {
		now = poolplan_next_look(&s, &st, workers, now);
		if (now == INT64_MAX)
			break;
		in = counts(workers, workers, 0);
		poolplan_decide(&s, &in, &st, now, &p);
		CHECK_EQ(p.start, 0);
		if (p.retire > 0)
			CHECK(now - grown >= RETIRE_HOLDOFF_MS);
		workers -= p.retire;
		if (p.retire == 0)
			break;
	}
	CHECK(workers <= 8);
	CHECK(workers >= 4);
	CHECK(turn < 20);
}

int
main(void)
{
	run("start: prefork workers", t_start_prefork);
	run("at rest: nothing to do", t_at_rest);
	run("short of spares: min-spare plus the queue", t_short_of_spares);
	run("below prefork and short of spares", t_prefork_and_spares);
	run("min-spare 0: a fixed pool", t_fixed_pool);
	run("max-workers: no more, said once", t_max_workers);
	run("max-workers: what fits starts", t_max_workers_clamps);
	run("growth: rounds double while short", t_doubling);
	run("growth: only rounds that started", t_doubling_needs_starts);
	run("growth: START_BATCH per round", t_batch);
	run("growth: a round cut by START_TURN_MS", t_turn_cut);
	run("growth: spares still starting do not hold it back",
	    t_starting_spares);
	run("shrinking: at rest above prefork, the next look is ahead",
	    t_rest_above_prefork);
	run("keeping up: a rest before the clients is no window",
	    t_keeping_up_after_rest);
	run("keeping up: short connections start nobody", t_keeping_up);
	run("keeping up: a burst or held clients still grow",
	    t_burst_while_keeping_up);
	run("start failures: the probe", t_probe_pending);
	run("start failures: one probe in a burst", t_probe_in_burst);
	run("throttled: no start before next_start", t_throttled);
	run("shrink: half the surplus per interval", t_shrink);
	run("shrink: the hold-off after growth", t_shrink_holdoff);
	run("shrink: never below prefork", t_shrink_to_prefork);
	run("shrink: busy workers stay", t_shrink_busy);
	run("reload: the draining generation does not count",
	    t_draining_generation);
	run("t_pool.sh's burst, turn by turn", t_burst);

	printf("pool_test: %d cases, %d failed\n", ncases, nfailed);
	return nfailed == 0 ? 0 : 1;
}
