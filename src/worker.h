/*
 * A worker (worker.c): the child that accepts connections and echoes
 * them, one at a time, in its own process.
 */

#ifndef ECHOD_WORKER_H
#define ECHOD_WORKER_H

#include <sys/types.h>

#include <stddef.h>

#include "conf.h"
#include "listener.h"
#include "scoreboard.h"

/* What a worker is handed by the master when it is forked. */
struct worker_args {
	const struct config	*conf;
	const struct listener	*listeners;
	size_t			 nlisteners;
	unsigned int		 generation;
	pid_t			 master_pid;
	struct scoreboard	*scoreboard;
	size_t			 slot;		/* its own, in scoreboard */
	int			 wake_fd;	/* the master's wake pipe */
	int			 udp;	/* a UDP worker: listeners are UDP */
	int			 highest_fd;	/* the master's; -1: unknown */
};

/*
 * A worker that cannot set itself up (privilege drop failed) exits with
 * this status; the master then stops, since every new worker would fail
 * the same way.
 */
#define WORKER_EXIT_SETUP	3
/* A worker that has served max-connections-per-worker exits with this. */
#define WORKER_EXIT_RECYCLED	4

void	worker_run(const struct worker_args *)
	    __attribute__((__noreturn__));
void	worker_echo(int, int, struct slot *);

#endif /* ECHOD_WORKER_H */
