/*
 * The answers to echodctl status, workers and conns (report.c), for
 * people or as JSON, from const views of the pool, the listening
 * sockets and the configuration.
 */

#ifndef ECHOD_REPORT_H
#define ECHOD_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"
#include "listener.h"
#include "pool.h"

enum report_what {
	REPORT_STATUS,
	REPORT_WORKERS,
	REPORT_CONNS,
};
#define REPORT_JSON	0x01	/* one JSON object, not text for people */

/* What a report is made from; the report changes none of it. */
struct report_view {
	const struct config	*conf;
	const struct listener	*listeners;
	size_t			 nlisteners;
	const struct pool	*pool;
};

void	report(struct buf *, const struct report_view *, enum report_what,
	    unsigned int, int64_t);

#endif /* ECHOD_REPORT_H */
