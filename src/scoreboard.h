/*
 * The scoreboard: one shared-memory table, created by the master before
 * it forks, in which every worker keeps the state and counters of its
 * own slot (as Apache's prefork MPM does, and as Stevens keeps per-child
 * counters in UNIX Network Programming vol. 1, section 30.6).
 *
 * A worker writes only its own slot, with plain atomic stores: no system
 * call per update.  The master reads every slot to manage the pool, and
 * is the only writer of the header's totals.  The master's view of the
 * pool and echodctl's both come from here: it is the single source of
 * truth about the workers, for any process that maps it.
 */

#ifndef ECHOD_SCOREBOARD_H
#define ECHOD_SCOREBOARD_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stdint.h>

#include "conf.h"

/*
 * Room for a full pool of the largest size plus as many draining old
 * workers: the table cannot grow once workers map it.
 */
#define SCOREBOARD_SLOTS	(2 * MAX_WORKERS_LIMIT)

enum slot_state {
	SLOT_FREE,
	SLOT_STARTING,	/* forked, setting itself up */
	SLOT_IDLE,	/* waiting in accept() */
	SLOT_BUSY,	/* echoing a connection */
	SLOT_DRAINING,	/* told to stop accepting */
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
	int64_t			 started;	/* worker start, ms */
	int64_t			 since;		/* state entered, ms */
	uint64_t		 connections;	/* accepted, lifetime */
	uint64_t		 bytes_in;	/* lifetime */
	uint64_t		 bytes_out;
	uint64_t		 conn_in;	/* current connection */
	uint64_t		 conn_out;
	uint64_t		 timeouts;	/* closed by idle-timeout */
	uint64_t		 refused;	/* per-address limit */
	uint64_t		 errors;	/* ended by reset etc. */
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
	uint64_t		 max_workers_reached;	/* times */

	/*
	 * Updated by workers with atomic operations.  idle counts the
	 * workers waiting in accept(); a worker lowers it before it says
	 * it is busy and raises it after it says it is idle, and the
	 * master lowers it for an idle worker it reaps, so the count may
	 * only err low, which costs a needless wake-up, never a missed
	 * one.  wake is set by the worker that writes to the master's
	 * wake pipe, so that a burst writes one byte, not one per client.
	 */
	int32_t			 idle;
	int32_t			 wake;

	struct slot		 slots[SCOREBOARD_SLOTS];
};

/* Everything served since the master started, by live and dead workers. */
struct totals {
	uint64_t		 connections;
	uint64_t		 bytes_in;
	uint64_t		 bytes_out;
	uint64_t		 timeouts;
	uint64_t		 refused;
	uint64_t		 errors;
};

struct scoreboard	*scoreboard_create(void);
void			 scoreboard_totals(const struct scoreboard *,
			    struct totals *);

#endif /* ECHOD_SCOREBOARD_H */
