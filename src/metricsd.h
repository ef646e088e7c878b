/*
 * The metrics process (metricsd.c): the HTTP endpoint of "metrics
 * listen on", a child of the master that serves GET /metrics from a
 * read-only mapping of the scoreboard, unprivileged and sandboxed.  The
 * master binds its socket, starts it, and starts it again when it dies.
 */

#ifndef ECHOD_METRICSD_H
#define ECHOD_METRICSD_H

#include <poll.h>
#include <stdint.h>

#include "conf.h"

/* Run in the metrics process after fork(), before it serves. */
typedef void	 metricsd_child_hook(void *);

void	 metricsd_inherit(int);
int	 metricsd_listen(const struct config *);
int	 metricsd_fd(void);
void	 metricsd_service(const struct config *, const struct pollfd *,
	    int64_t, metricsd_child_hook *, void *);
int	 metricsd_pollfd(struct pollfd *, int64_t, int64_t *);
void	 metricsd_stop(void);
void	 metricsd_forget(void);

#endif /* ECHOD_METRICSD_H */
