/*
 * The reflection guard of UDP echo (udpguard.c): which datagrams are not
 * answered, as pure functions of their addresses, and the token bucket
 * that limits how fast one source is answered.  The UDP workers apply
 * them (udpecho.c); the buckets live in the scoreboard, shared.
 */

#ifndef ECHOD_UDPGUARD_H
#define ECHOD_UDPGUARD_H

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <stdint.h>

/* Why a datagram was not answered; counted per reason in each slot. */
enum udp_drop {
	UDP_DROP_PORT_ZERO,	/* source port 0 */
	UDP_DROP_LOW_PORT,	/* source port below udp-guard-ports-below */
	UDP_DROP_NFS,		/* source port 2049 */
	UDP_DROP_OWN_PORT,	/* from an echo port: a loop */
	UDP_DROP_SOURCE,	/* broadcast, multicast or unspecified */
	UDP_DROP_DEST,		/* sent to a broadcast or multicast address */
	UDP_DROP_RATE,		/* over its source's udp-rate */
	UDP_DROP_TOTAL,		/* over udp-total-rate */
	UDP_DROP_OVERSIZE,	/* did not fit (MSG_TRUNC): never sent cut */
	UDP_DROP_NREASONS
};

/* A token bucket, in thousandths of a datagram and of a byte. */
struct udp_bucket {
	int64_t		 stamp;		/* ms of the last refill; 0: new */
	int64_t		 packets;	/* milli-datagrams */
	int64_t		 bytes;		/* milli-bytes */
};

const char	*udpguard_reason_name(enum udp_drop);
void		 udpguard_unmap(struct sockaddr_storage *, socklen_t *);
int		 udpguard_source(const struct sockaddr_storage *, int,
		    in_port_t);
int		 udpguard_dest(const struct sockaddr_storage *);
void		 udpguard_key(const struct sockaddr_storage *, uint8_t[16]);
int		 udpguard_take(struct udp_bucket *, int64_t, int64_t,
		    int64_t, size_t);

#endif /* ECHOD_UDPGUARD_H */
