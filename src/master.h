/*
 * The master (master.c): its signals, its loop, reloading and stopping,
 * and the commands of the control socket.  The top of echod's layers:
 * main() hands it what start-up made, and it drives the rest.
 */

#ifndef ECHOD_MASTER_H
#define ECHOD_MASTER_H

#include <stddef.h>

#include "conf.h"
#include "control.h"
#include "listener.h"

struct pidfh;

void	master_block_signals(void);
int	master_run(struct config *, struct listener *, size_t,
	    struct pidfh *, struct control *);

#endif /* ECHOD_MASTER_H */
