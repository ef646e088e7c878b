/*
 * echod.conf(5): the configuration, parsed into a fresh structure each
 * time it is read, so that a reload that fails leaves the running one
 * untouched.
 */

#ifndef ECHOD_CONF_H
#define ECHOD_CONF_H

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <stdio.h>

#include "addr.h"
#include "pathnames.h"

#define DEFAULT_PORT		2000
#define DEFAULT_PREFORK		4
#define DEFAULT_MIN_SPARE	2
#define DEFAULT_MAX_SPARE	8
#define DEFAULT_MAX_WORKERS	256
#define DEFAULT_BACKLOG		511
#define DEFAULT_DRAIN_TIMEOUT	60
#define DEFAULT_IDLE_TIMEOUT	300
#define DEFAULT_MAX_PER_ADDRESS	64
#define MAX_WORKERS_LIMIT	16384
#define MAX_SECONDS		86400
#define MAX_UDP_WORKERS		1024
#define MAX_UDP_RCVBUF		(64 * 1024 * 1024)
/* udp-guard-ports: source ports below this are not answered. */
#define DEFAULT_UDP_GUARD_BELOW	1024
/* udp-rate: per source address, datagrams and bytes per second. */
#define DEFAULT_UDP_RATE_PPS	1000
#define DEFAULT_UDP_RATE_BPS	(4 * 1024 * 1024)
/* udp-total-rate: all sources together, datagrams per second. */
#define DEFAULT_UDP_TOTAL_PPS	200000
#ifdef HAVE_SECCOMP
#define DEFAULT_SANDBOX		1
#else
#define DEFAULT_SANDBOX		0
#endif

/*
 * How a worker with several listeners waits for a connection (with one
 * it always blocks in accept()); see worker.c and echod.conf(5).
 */
#define ACCEPT_POLL		0	/* poll() all, non-blocking accept() */
#define ACCEPT_EPOLL		1	/* epoll, EPOLLEXCLUSIVE */
#define DEFAULT_ACCEPT		ACCEPT_EPOLL	/* why: BENCHMARKS.md */

/*
 * One address to listen on.  A host name in the file becomes one of
 * these per address it resolves to; "*" stays a single wildcard entry
 * whose family (dual-stack IPv6, else IPv4) is settled when it is bound.
 */
struct listen_addr {
	int			 wildcard;
	struct sockaddr_storage	 ss;	/* unused when wildcard */
	socklen_t		 sslen;
	in_port_t		 port;	/* host byte order */
	int			 line;	/* where it was configured */
	int			 proxy_protocol; /* a PROXY header first */
	int			 udp;	/* SOCK_DGRAM, not SOCK_STREAM */
	char			 name[ADDR_NAME_MAX];
};

struct config {
	char			*path;
	struct listen_addr	*listens;
	size_t			 nlistens;
	int			 prefork;	/* workers at start */
	int			 min_spare;	/* idle workers kept */
	int			 max_spare;
	int			 max_workers;
	int			 max_conns_per_worker;	/* 0: no limit */
	int			 backlog;
	int			 idle_timeout;		/* s, 0: none */
	int			 max_conns_per_address;	/* 0: no limit */
	int			 max_conns_per_address_hard; /* at any load */
	char			*pidfile;
	char			*user;		/* NULL: no privilege drop */
	char			*chroot_dir;	/* NULL: none */
	char			*group;
	uid_t			 uid;
	gid_t			 gid;
	int			 drain_timeout;	/* seconds */
	char			*control_path;	/* echodctl's socket */
	char			*control_group;	/* NULL: root only */
	gid_t			 control_gid;
	int			 syslog_facility;
	int			 sandbox;	/* seccomp filter for workers */
	long long		 core_limit;	/* bytes, -1: unlimited */
	int			 accept_strategy; /* ACCEPT_* */
	int			 udp_workers;	/* while a udp listener is */
	int			 udp_rcvbuf;	/* SO_RCVBUF, 0: the kernel's */
	int			 udp_guard;	/* the reflection guard */
	int			 udp_guard_below; /* ports below not answered */
	int			 udp_rate_pps;	/* per source; 0: no limit */
	int			 udp_rate_bps;
	int			 udp_total_pps;	/* all sources; 0: no limit */
	int			 metrics_on;	/* metrics listen on, set */
	struct listen_addr	 metrics;	/* its address (metricsd.c) */
};

/*
 * 0: "listen" takes numeric addresses only and looks up no host name
 * (for the fuzzer, which must not wait on DNS).  1 by default.
 */
extern int	 config_resolve_names;

struct config	*config_load(const char *path, char *err, size_t errlen);
struct config	*config_parse(FILE *fp, const char *name, char *err,
		    size_t errlen);
void		 config_free(struct config *);
int		 listen_addr_equal(const struct listen_addr *,
		    const struct listen_addr *);
const char	*facility_name(int facility);
const char	*accept_strategy_name(int strategy);
size_t		 config_count_udp(const struct config *);

#endif /* ECHOD_CONF_H */
