/*
 * The pool of workers (pool.c): the worker table, the generations, the
 * wake pipe, the throttling of workers that fail to start, and the
 * growing and shrinking.  The master drives it once per turn of its
 * loop and hears back through events; it is the only caller.
 */

#ifndef ECHOD_POOL_H
#define ECHOD_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "listener.h"
#include "scoreboard.h"

struct pool;

/*
 * The workers, counted by pool_census() in one pass over the table per
 * turn of the master's loop, for everyone who reads them: the pool's
 * decisions, the process title, systemd's STATUS= and echodctl.
 */
struct pool_counts {
	/* Every worker alive, as echodctl shows them. */
	size_t	 total;
	size_t	 starting, idle, busy;
	size_t	 draining;	/* told to stop, or stopping by itself */
	size_t	 active;	/* with a client, draining or not */
	/* The current generation's workers that are told to serve. */
	size_t	 current;
	size_t	 spare;		/* of those, idle or still starting */
	size_t	 ready;		/* of those, set up: idle or busy */
	/* UDP workers (in total and draining too, not in the above). */
	size_t	 udp;		/* current generation, told to serve */
	size_t	 udp_ready;	/* of those, set up */
};

/* Events, returned to the master by the calls that see them happen. */
#define POOL_GIVE_UP		0x01	/* workers cannot start: stop */
#define POOL_RESIZED		0x02	/* counts.current has changed */
#define POOL_SERVING		0x04	/* the generation serves */
#define POOL_NOT_SERVING	0x08	/* it did not within the time given */
#define POOL_TRIAL_FAILED	0x10	/* a reload's generation cannot serve */

/* Run in each new worker after fork(), before it becomes a worker. */
typedef void	 pool_child_hook(void *);

struct pool	*pool_create(pool_child_hook *, void *);
void		 pool_free(struct pool *);
void		 pool_configure(struct pool *, const struct config *,
		    const struct listener *, size_t);
int		 pool_wake_fd(const struct pool *);
void		 pool_wake_drain(struct pool *);

int		 pool_reap(struct pool *, int64_t);
int		 pool_census(struct pool *, int64_t);
void		 pool_enforce_deadlines(struct pool *, int64_t);
int		 pool_adjust(struct pool *, int64_t);
void		 pool_new_generation(struct pool *, int64_t, int64_t);
void		 pool_rollback(struct pool *, int64_t, const struct config *,
		    const struct listener *, size_t);
void		 pool_await(struct pool *, int64_t);
void		 pool_drain_all(struct pool *, int64_t);
void		 pool_stop_all(struct pool *, int64_t);
int64_t		 pool_next_wakeup(const struct pool *, int64_t);

unsigned int		 pool_generation(const struct pool *);
const struct pool_counts *pool_counts(const struct pool *);
const struct scoreboard	*pool_scoreboard(const struct pool *);
const char		*pool_give_up_reason(const struct pool *);
int			 pool_on_trial(const struct pool *);
const char		*pool_trial_failure(const struct pool *);
int64_t			 pool_no_acceptor_ms(const struct pool *, int64_t);
void			 pool_count_reload(struct pool *, enum reload_outcome);

#endif /* ECHOD_POOL_H */
