/*
 * The pool's decisions (poolplan.h): how many workers to start, how
 * many idle ones to retire, and when to look again.  The policy is
 * described at the top of pool.c; here it is, stage by stage.
 */

#include <stdint.h>
#include <string.h>

#include "poolplan.h"

/*
 * Whether this turn's decision needs the length of the accept queues
 * (a system call per listener): only when the pool is short of workers
 * waiting in accept().  Those still starting are not counted: in a
 * burst the master would otherwise fork one round, see that round's
 * workers as spares while they set up, and sit idle until most of them
 * had taken a client, however long the queue behind them.
 */
int
poolplan_wants_queue(const struct poolplan_settings *s, size_t waiting)
{
	return s->min_spare > 0 && waiting < s->min_spare + 1;
}

static size_t
waiting(const struct poolplan_input *in)
{
	return in->spare > in->starting ? in->spare - in->starting : 0;
}

/* Whether queued clients are served within KEEP_UP_MS at this rate. */
static int
serves_within(size_t queued, uint64_t finished, int64_t dt)
{
	if (finished == 0 || dt <= 0)
		return 0;
	/* queued / (finished / dt) <= KEEP_UP_MS, without a division. */
	return (uint64_t)queued * (uint64_t)dt <= finished * KEEP_UP_MS;
}

/*
 * Whether a pool short of spares keeps up with its clients anyway
 * (KEEP_UP_MS): the queue is served within moments by workers that are
 * finishing connections, as under many short ones.  More workers would not serve them sooner, on
 * the same CPUs, but would cost every connection their share of the
 * scheduler and the caches; nor is the min-spare margin wanted while
 * the busy workers free up every few microseconds.  A pool whose
 * workers hold their clients finishes none: never keeping up.
 */
static int
keeping_up(const struct poolplan_settings *s, const struct poolplan_input *in,
    struct poolplan_state *st, int64_t now)
{
	int64_t		 dt;
	uint64_t	 finished;

	/*
	 * The rate over this window and the one before it; a window is
	 * KEEP_UP_WINDOW_MS or the silence between two looks, if longer.
	 */
	if (st->window == 0) {
		st->window = now;
		return 0;
	}
	st->window_finished += in->finished;
	if (now - st->window >= KEEP_UP_WINDOW_MS) {
		st->last_window = now - st->window;
		st->last_finished = st->window_finished;
		st->window = now;
		st->window_finished = 0;
	}
	if (!poolplan_wants_queue(s, waiting(in)))
		return 0;
	finished = st->last_finished + st->window_finished;
	dt = st->last_window + (now - st->window);
	if (serves_within(in->queued, finished, dt))
		return 1;
	/*
	 * Or by this window alone: a window before it that was a rest
	 * made clients that began to connect and close look like a
	 * trickle, and the pool grew to 20 for 8 of them before it saw
	 * them finish.
	 */
	return serves_within(in->queued, st->window_finished, now - st->window);
}

/* Whether wake-ups may wait until the pool is looked at again. */
int
poolplan_quiet(const struct poolplan_state *st, int64_t now)
{
	return now < st->quiet_until;
}

void
poolplan_decide(const struct poolplan_settings *s,
    const struct poolplan_input *in, struct poolplan_state *st, int64_t now,
    struct poolplan *out)
{
	size_t	 want = 0, need, room, surplus, prefork_need, inflight;
	int	 up;

	memset(out, 0, sizeof(*out));
	up = keeping_up(s, in, st, now);
	st->keeping_up = up;
	if (up)
		st->quiet_until = now + KEEP_UP_QUIET_MS;

	/* Only the probe's survival proves that workers can start again. */
	if (in->failures > 0 && in->probe_age >= START_FAILURE_MS)
		out->forget_failures = 1;
	out->probe = in->failures > 0 && !out->forget_failures;

	/* 1. prefork workers, always. */
	if (in->current < s->prefork)
		want = s->prefork - in->current;
	/*
	 * 2. Short of spares: min-spare of them, and a worker for every
	 * queued client, unless the pool keeps up.  The spares still
	 * starting count, since each will take a queued client.  (With
	 * min-spare 0 the pool is fixed at prefork, as in Stevens' model.)
	 */
	if (poolplan_wants_queue(s, waiting(in)) && !up) {
		need = s->min_spare + in->queued;
		if (need > in->spare && need - in->spare > want)
			want = need - in->spare;
	}
	/* 3. Demand that is known, not guessed, is what meets max-workers. */
	room = in->current < s->max_workers ? s->max_workers - in->current :
	    0;
	if (want > room) {
		if (!st->at_max_workers)
			out->max_reached = 1;
		st->at_max_workers = 1;
	} else if (in->current < s->max_workers)
		st->at_max_workers = 0;
	/*
	 * 4. The accept queue shows only the clients whose handshake is
	 * done; in a burst many more are on their way.  A pool still short
	 * of spares after a round of starts doubles its next round.
	 */
	if (in->spare < s->min_spare && st->growth_step > 0 && !up) {
		if (want < st->growth_step * 2)
			want = st->growth_step * 2;
	} else if (in->spare >= s->min_spare)
		st->growth_step = 0;
	if (want > room)
		want = room;
	/*
	 * 5. Beyond prefork, START_INFLIGHT workers setting up at once at
	 * most.  More would not serve the queue sooner, on the same CPUs,
	 * but would crowd every other process off them: echodctl, asked
	 * during a burst, waited behind hundreds of new workers.  Those
	 * that finish take their clients and wake the master for more.
	 */
	prefork_need = in->current < s->prefork ? s->prefork - in->current : 0;
	inflight = in->starting < START_INFLIGHT ?
	    START_INFLIGHT - in->starting : 0;
	if (want > prefork_need && want > inflight)
		want = prefork_need > inflight ? prefork_need : inflight;

	/* Batches: one probe while failing, START_BATCH at most. */
	st->more = 0;
	if (want > 0) {
		if (out->probe)
			want = 1;
		else if (want > START_BATCH) {
			want = START_BATCH;
			st->more = 1;
		}
		if (now >= in->next_start)
			out->start = want;
		st->last_growth = now;
		return;
	}

	/*
	 * Shrinking: while more than max-spare are idle and the pool is
	 * above prefork, half of the surplus at each RETIRE_INTERVAL_MS,
	 * from RETIRE_HOLDOFF_MS after the pool last grew.  A pool short
	 * of spares that keeps up has no use for its idle workers beyond
	 * prefork: they are surplus too, and the pool comes back to
	 * prefork under a load that prefork workers serve.
	 */
	if (in->spare > (up ? 0 : s->max_spare) &&
	    in->current > s->prefork && now >= st->next_retire &&
	    now - st->last_growth >= RETIRE_HOLDOFF_MS) {
		surplus = in->spare - (up ? 0 : s->max_spare);
		if (surplus > in->current - s->prefork)
			surplus = in->current - s->prefork;
		out->retire = (surplus + 1) / 2;
		st->next_retire = now + RETIRE_INTERVAL_MS;
	}
}

/*
 * After the starts: the next round of a growing pool doubles this one.
 * A round cut short by START_TURN_MS (cut) goes on at the next turn, as
 * one cut by START_BATCH does.
 */
void
poolplan_started(struct poolplan_state *st, size_t started, int cut)
{
	if (started > 0)
		st->growth_step = started;
	if (cut)
		st->more = 1;
}

/*
 * When the decision should be taken again although nothing happened
 * (INT64_MAX: not before something does): at once after a cut batch,
 * and, while the pool is larger than prefork, when it may shrink, since
 * workers go idle silently.
 */
int64_t
poolplan_next_look(const struct poolplan_settings *s,
    const struct poolplan_state *st, size_t current, int64_t now)
{
	int64_t	 when = INT64_MAX, look;

	if (st->more)
		when = now;
	/* Wake-ups unheard meanwhile: a look when the quiet ends. */
	if (st->quiet_until > now && st->quiet_until < when)
		when = st->quiet_until;
	if (current > s->prefork) {
		look = st->last_growth + RETIRE_HOLDOFF_MS;
		if (look < st->next_retire)
			look = st->next_retire;
		/*
		 * Due already: the decision just taken had no surplus to
		 * retire.  The next such look is an interval away, not at
		 * once, or the master's loop would spin for as long as the
		 * pool rests above prefork.  (A retirement stays due: the
		 * first look that finds a surplus, whatever woke it, acts.)
		 */
		if (look <= now)
			look = now + RETIRE_INTERVAL_MS;
		if (look < when)
			when = look;
	}
	return when;
}
