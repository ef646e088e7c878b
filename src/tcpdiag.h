/*
 * The kernel's TCP_INFO of the workers' connections (tcpdiag.c).
 */

#ifndef ECHOD_TCPDIAG_H
#define ECHOD_TCPDIAG_H

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <stddef.h>
#include <stdint.h>

/* A connection whose TCP_INFO echodctl conns shows. */
struct conn_info {
	uint8_t			 key[16];	/* client address */
	uint16_t		 port;		/* client port */
	uint32_t		 slot;
	int			 found;
	struct tcp_info		 ti;
};

int	tcpdiag_fill(struct conn_info *, size_t, const uint16_t *, size_t);

#endif /* ECHOD_TCPDIAG_H */
