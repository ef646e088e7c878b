/*
 * The metrics in the Prometheus text exposition format (metrics.c),
 * from the scoreboard, for echodctl metrics and the metrics process.
 */

#ifndef ECHOD_METRICS_H
#define ECHOD_METRICS_H

#include "buf.h"
#include "scoreboard.h"

void	metrics_format(struct buf *, const struct scoreboard *);

#endif /* ECHOD_METRICS_H */
