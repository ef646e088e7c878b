/*
 * The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1
 * and 2), as a load balancer sends it before its client's first byte on
 * a listener configured with "proxy-protocol" (echod.conf(5)).
 */

#ifndef ECHOD_PROXYPROTO_H
#define ECHOD_PROXYPROTO_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

/* A version 1 line, CRLF included, is never longer than this. */
#define PROXY_V1_MAX		107
/* The fixed part of a version 2 header; its length field follows. */
#define PROXY_V2_FIXED		16
/* The longest header of either version: 16 bytes and a 16-bit length. */
#define PROXY_HEADER_MAX	(PROXY_V2_FIXED + 65535)

enum proxy_status {
	PROXY_MORE,	/* no error so far; the header goes on past buf */
	PROXY_INVALID,	/* not a header this receiver may accept */
	PROXY_DONE,	/* a whole header, of ph->len bytes */
};

struct proxy_header {
	size_t			 len;		/* bytes of the header */
	int			 version;	/* 1 or 2 */
	/*
	 * 1: keep the connection's own addresses (v1 UNKNOWN, v2 LOCAL,
	 * and v2 PROXY for a family other than TCP over IPv4 or IPv6, which
	 * the specification lets a receiver treat as UNSPEC).  src and dst
	 * are then unset.
	 */
	int			 local;
	struct sockaddr_storage	 src;		/* the balancer's client */
	socklen_t		 srclen;
	struct sockaddr_storage	 dst;		/* what the client reached */
	socklen_t		 dstlen;
};

enum proxy_status	proxy_parse(const uint8_t *, size_t,
			    struct proxy_header *, const char **);

#endif /* ECHOD_PROXYPROTO_H */
