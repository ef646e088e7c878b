/*
 * The listening sockets (listener.c): bound by the master, shared by
 * every worker, kept open across reloads.  Sockets only: systemd's are
 * checked by systemd.c before they are handed in here.
 */

#ifndef ECHOD_LISTENER_H
#define ECHOD_LISTENER_H

#include <stddef.h>

#include "addr.h"
#include "conf.h"

struct listener {
	struct listen_addr	 addr;	/* as configured, or systemd's own */
	int			 fd;
	char			 bound[ADDR_NAME_MAX]; /* e.g. "[::]:2000" */
	int			 from_systemd;	/* socket activation */
};

/* listeners_open() and listeners_adopt() put the TCP ones first. */
int	listeners_open(const struct config *, struct listener *, size_t,
	    struct listener **, size_t *, char *, size_t);
int	listeners_adopt(const struct config *, int, int, struct listener **,
	    size_t *, char *, size_t);
int	listeners_inherit(const struct config *, int, int, int,
	    struct listener **, size_t *, char *, size_t);
int	listeners_apply(const struct config *, struct listener *, size_t,
	    char *, size_t);
void	listeners_close(struct listener *, size_t);
size_t	listeners_queued(const struct listener *, size_t);
void	listener_queue(const struct listener *, unsigned int *,
	    unsigned int *);

#endif /* ECHOD_LISTENER_H */
