/*
 * A UDP worker's loop (udpecho.c): datagrams received in batches on the
 * shared UDP sockets and sent back, unchanged, from the address they
 * were sent to, past the reflection guard (udpguard.c).
 */

#ifndef ECHOD_UDPECHO_H
#define ECHOD_UDPECHO_H

#include <sys/types.h>
#include <netinet/in.h>

#include <signal.h>
#include <stddef.h>

#include "conf.h"
#include "scoreboard.h"

struct udpecho_args {
	const struct config	*conf;
	const int		*fds;		/* the UDP sockets */
	const in_port_t		*ports;		/* each one's, host order */
	size_t			 nfds;
	struct scoreboard	*sb;
	struct slot		*self;
	volatile sig_atomic_t	*draining;	/* set by SIGQUIT */
};

int	udpecho_prepare(const int *, size_t);
void	udpecho_run(const struct udpecho_args *);

#endif /* ECHOD_UDPECHO_H */
