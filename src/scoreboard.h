/*
 * The scoreboard: one shared-memory table, created by the master before
 * it forks, in which every worker keeps the state and counters of its
 * own slot (as Apache's prefork MPM does, and as Stevens keeps per-child
 * counters in UNIX Network Programming vol. 1, section 30.6).
 *
 * A worker writes only its own slot, with plain atomic stores, and its
 * own bits of the pool map: no system call per update.  The master reads
 * every slot to manage the pool, and is the only writer of the header's
 * totals.  The master's view of the pool and echodctl's both come from
 * here: it is the single source of truth about the workers, for any
 * process that maps it.
 */

#ifndef ECHOD_SCOREBOARD_H
#define ECHOD_SCOREBOARD_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stdint.h>

#include "conf.h"
#include "udpguard.h"

/*
 * Room for a full pool of the largest size plus as many draining old
 * workers: the table cannot grow once workers map it.
 */
#define SCOREBOARD_SLOTS	(2 * MAX_WORKERS_LIMIT)

/* The pool map (struct scoreboard): two bits per slot, 32 slots a word. */
#define MAP_IDLE		1u
#define MAP_BUSY		2u
#define MAP_BITS		2
#define MAP_SLOTS_PER_WORD	(64 / MAP_BITS)

enum slot_state {
	SLOT_FREE,
	SLOT_STARTING,	/* forked, setting itself up */
	SLOT_IDLE,	/* waiting in accept() */
	SLOT_BUSY,	/* echoing a connection */
	SLOT_DRAINING,	/* told to stop accepting */
};

/* What a slot's worker serves. */
enum slot_kind {
	KIND_TCP,	/* accepts connections */
	KIND_UDP,	/* echoes datagrams */
};

/*
 * The reflection guard's token buckets, one per source (IPv6: per /64),
 * shared by every UDP worker: a shared socket spreads one source's
 * datagrams over all of them.  A fixed table, hashed: an address flood
 * takes over entries (whose sources then start from a full bucket, which
 * the total bucket still caps), it never grows the table.
 */
#define UDP_RATE_SLOTS		4096
#define UDP_RATE_WAYS		4	/* entries looked at per source */

struct udp_rate_entry {
	int64_t			 lock;	/* ms taken; 0: free (rate_lock()) */
	uint8_t			 key[16];
	struct udp_bucket	 bucket;
};

/*
 * The histograms' upper bounds (scoreboard.c): of a connection's
 * duration, in ms, and of the bytes it sent; the last bucket, beyond
 * the last bound, is +Inf.
 */
#define DURATION_BUCKETS	9
#define SIZE_BUCKETS		8

/* How a worker ended, as the master saw it (pool.c). */
enum exit_cause {
	EXIT_RETIRED,	/* told to drain or stop */
	EXIT_RECYCLED,	/* max-connections-per-worker */
	EXIT_SANDBOX,	/* SIGSYS: a system call the sandbox refuses */
	EXIT_CRASH,	/* anything else: a signal, an error */
	EXIT_CAUSES
};

/* How a reload ended (master.c). */
enum reload_outcome {
	RELOAD_OK,		/* the new generation serves */
	RELOAD_FAILED,		/* refused: the old one serves on */
	RELOAD_NOT_SERVING,	/* the new generation did not serve in time */
	RELOAD_OUTCOMES
};

/* What the master told a worker. */
enum slot_order {
	ORDER_SERVE,	/* accept and echo */
	ORDER_DRAIN,	/* finish the connection, then exit (SIGQUIT) */
	ORDER_STOP,	/* exit now (SIGTERM, then SIGKILL) */
};

/*
 * A worker's slot.  The master writes pid, generation, started and
 * order (pid right after the fork, the others before it); the worker
 * writes the rest.
 */
struct slot {
	pid_t			 pid;
	uint32_t		 generation;
	int32_t			 state;		/* enum slot_state */
	int32_t			 order;		/* enum slot_order */
	int32_t			 sandbox_syscall; /* +1, 0: none; see sandbox.c */
	int32_t			 kind;		/* enum slot_kind, by the master */
	int32_t			 unused;
	int64_t			 started;	/* worker start, ms */
	int64_t			 since;		/* state entered, ms */
	uint64_t		 connections;	/* accepted, lifetime */
	uint64_t		 bytes_in;	/* lifetime */
	uint64_t		 bytes_out;
	uint64_t		 conn_in;	/* current connection */
	uint64_t		 conn_out;
	uint64_t		 timeouts;	/* closed by idle-timeout */
	uint64_t		 refused;	/* per-address limit */
	uint64_t		 errors;	/* ended by an error */
	uint64_t		 resets;	/* ended by the client's reset */
	uint64_t		 accepted;	/* every accept(), refused too */
	uint64_t		 closed;	/* ended by the client's close */
	/* Every connection that ended, by duration and by bytes sent. */
	uint64_t		 duration_buckets[DURATION_BUCKETS];
	uint64_t		 duration_sum;	/* ms */
	uint64_t		 size_buckets[SIZE_BUCKETS];
	uint64_t		 size_sum;	/* bytes */
	uint8_t			 peer_key[16];	/* IPv6 or v4-mapped */
	/*
	 * On a proxy-protocol listener, peer is the client the PROXY
	 * header named, and via the connection's own remote end, the
	 * balancer, by which echodctl conns finds the socket in the
	 * kernel.  via_port 0: peer is the connection's own remote end.
	 */
	uint8_t			 via_key[16];
	uint16_t		 via_port;	/* host byte order */
	struct sockaddr_storage	 peer;		/* while busy */
	/* A UDP worker's (bytes_in and bytes_out count its bytes). */
	uint64_t		 datagrams_in;
	uint64_t		 datagrams_out;
	uint64_t		 drops[UDP_DROP_NREASONS];
} __attribute__((__aligned__(64)));

struct scoreboard {
	/* Written by the master only. */
	int64_t			 started;	/* master start, ms */
	uint32_t		 high_water;	/* slots in use are below */
	uint32_t		 unused;
	uint64_t		 retired_connections;	/* of reaped workers */
	uint64_t		 retired_bytes_in;
	uint64_t		 retired_bytes_out;
	uint64_t		 retired_timeouts;
	uint64_t		 retired_refused;
	uint64_t		 retired_errors;
	uint64_t		 retired_resets;
	uint64_t		 retired_accepted;
	uint64_t		 retired_closed;
	uint64_t		 retired_duration_buckets[DURATION_BUCKETS];
	uint64_t		 retired_duration_sum;
	uint64_t		 retired_size_buckets[SIZE_BUCKETS];
	uint64_t		 retired_size_sum;
	uint64_t		 max_workers_reached;	/* times */
	uint64_t		 retired_datagrams_in;
	uint64_t		 retired_datagrams_out;
	uint64_t		 retired_udp_bytes_in;
	uint64_t		 retired_udp_bytes_out;
	uint64_t		 retired_drops[UDP_DROP_NREASONS];
	/*
	 * Odd while the master moves a reaped worker's counters into the
	 * retired ones: a reader that saw it odd, or changed, reads again
	 * (scoreboard_totals()), so that no total is ever seen counted
	 * twice, or not at all, and none goes backwards.
	 */
	uint32_t		 fold_seq;
	/* What only the master knows, for readers of the scoreboard. */
	uint32_t		 generation;	/* the current one */
	int64_t			 start_time;	/* master start, Unix time, s */
	uint64_t		 worker_starts;
	uint64_t		 worker_exits[EXIT_CAUSES];
	uint64_t		 reloads[RELOAD_OUTCOMES];
	int32_t			 max_workers;	/* as configured */
	int32_t			 unused3;

	/*
	 * Set by the worker that writes to the master's wake pipe, so that a
	 * burst writes one byte, not one per client (worker.c).
	 */
	int32_t			 wake;
	int32_t			 unused2;
	/*
	 * max-connections-per-address (worker.c, over_address_limit()):
	 * until when (ms) a worker is looking at an address's young
	 * connections, or the last look found them short ones; meanwhile
	 * no other worker looks.
	 */
	int64_t			 look_until;

	/*
	 * The pool map: two bits per slot, MAP_IDLE while its worker waits
	 * in accept() and MAP_BUSY while it serves a connection.  A worker
	 * changes its own bits, both at once, with one atomic operation on
	 * their word; the master clears them when it reaps the worker.  How
	 * many workers are idle, or busy, is the number of bits set: a few
	 * words to count (scoreboard_map_count()), not every slot.
	 *
	 * A counter beside the slots could not be exact: a worker killed
	 * between the change of its slot and that of the counter would
	 * leave the counter one off for good, since the master could not
	 * tell which of the two it had made.  Here a worker's part of
	 * the count is its own two bits, whatever instruction it died at.
	 */
	uint64_t		 pool_map[SCOREBOARD_SLOTS / MAP_SLOTS_PER_WORD]
	    __attribute__((__aligned__(64)));

	struct slot		 slots[SCOREBOARD_SLOTS];
	/* The UDP workers' rate limits (scoreboard_udp_admit()). */
	struct udp_rate_entry	 udp_rate[UDP_RATE_SLOTS];
	int64_t			 udp_total_lock;
	struct udp_bucket	 udp_total;
};

/* Everything served since the master started, by live and dead workers. */
struct totals {
	uint64_t		 connections;
	uint64_t		 bytes_in;
	uint64_t		 bytes_out;
	uint64_t		 timeouts;
	uint64_t		 refused;
	uint64_t		 errors;	/* resets too, as echodctl shows */
	uint64_t		 resets;
	uint64_t		 accepted;
	uint64_t		 closed;
	uint64_t		 duration_buckets[DURATION_BUCKETS];
	uint64_t		 duration_sum;
	uint64_t		 size_buckets[SIZE_BUCKETS];
	uint64_t		 size_sum;
};

/* The UDP workers' counts, of live and dead ones. */
struct udp_totals {
	uint64_t		 datagrams_in;
	uint64_t		 datagrams_out;
	uint64_t		 bytes_in;
	uint64_t		 bytes_out;
	uint64_t		 drops[UDP_DROP_NREASONS];
};

/* Workers idle and busy, of every generation: scoreboard_map_count(). */
struct map_count {
	uint32_t		 idle;
	uint32_t		 busy;
};

extern const uint64_t	 scoreboard_duration_bounds[DURATION_BUCKETS - 1];
extern const uint64_t	 scoreboard_size_bounds[SIZE_BUCKETS - 1];

struct scoreboard	*scoreboard_create(void);
const struct scoreboard	*scoreboard_readonly(void);
int			 scoreboard_drop_writable(void);
void			 scoreboard_observe(struct slot *, uint64_t, uint64_t);
void			 scoreboard_fold(struct scoreboard *, struct slot *);
void			 scoreboard_map_set(struct scoreboard *, uint32_t,
			    unsigned, unsigned);
void			 scoreboard_map_clear(struct scoreboard *, uint32_t);
void			 scoreboard_map_count(const struct scoreboard *,
			    struct map_count *);
uint32_t		 scoreboard_peers(const struct scoreboard *,
			    const uint8_t[16], uint32_t, int64_t, uint32_t);
void			 scoreboard_totals(const struct scoreboard *,
			    struct totals *);
void			 scoreboard_udp_totals(const struct scoreboard *,
			    struct udp_totals *);
int			 scoreboard_udp_admit(struct scoreboard *,
			    const uint8_t[16], int64_t, const struct config *,
			    size_t);

#endif /* ECHOD_SCOREBOARD_H */
