/*
 * What echodctl status, workers and conns answer, for people (aligned
 * columns within 80) or as JSON (field names documented in echodctl(8)
 * and kept stable).  Everything comes from const views: the scoreboard
 * and the counts of the pool (pool.h), the configuration, the listening
 * sockets' TCP_INFO (listener.c) and, for conns, the kernel's sock_diag
 * (tcpdiag.c).  Nothing here changes the master's state.
 *
 * All but each worker's resident memory: that is in /proc/PID/statm,
 * a file to open for every worker (up to 32768 of them) from the
 * master's loop, which would hold up reaping and signals while a
 * monitoring script polls.  The master writes "rss":null and an RSS
 * column of "-" instead, and echodctl, which may take its time, reads
 * the files (world-readable) and fills them in.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "human.h"
#include "listener.h"
#include "pool.h"
#include "report.h"
#include "scoreboard.h"
#include "tcpdiag.h"
#include "udpguard.h"

/* A worker's state as shown: draining once told to, even if busy. */
static const char *
state_name(const struct slot *s)
{
	static const char *names[] = {
		"free", "starting", "idle", "busy", "draining"
	};
	int	 state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);

	if (__atomic_load_n(&s->order, __ATOMIC_RELAXED) != ORDER_SERVE)
		state = SLOT_DRAINING;
	if (state < 0 || state > SLOT_DRAINING)
		return "?";
	return names[state];
}

static int
slot_busy(const struct slot *s)
{
	return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == SLOT_BUSY;
}

/*
 * The balancer a busy slot's connection came through, on a
 * proxy-protocol listener, as "192.0.2.1:4000", or "" if none.
 */
static void
via_format(const struct slot *s, char *buf, size_t len)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	uint16_t		 port;

	buf[0] = '\0';
	if ((port = __atomic_load_n(&s->via_port, __ATOMIC_RELAXED)) == 0)
		return;
	addr_from_key(s->via_key, port, &ss, &sslen);
	addr_format_peer(&ss, sslen, buf, len);
}

/* JSON: ",\"via\":\"ADDRESS:PORT\"" or ",\"via\":null". */
static void
out_via(struct buf *b, const struct slot *s)
{
	char	 via[ADDR_NAME_MAX];

	via_format(s, via, sizeof(via));
	buf_printf(b, ",\"via\":");
	if (via[0] == '\0')
		buf_printf(b, "null");
	else
		buf_json_string(b, via);
}

/* A worker may stamp a time just after the report read the clock. */
static double
seconds_since(int64_t then, int64_t now)
{
	return now > then ? (now - then) / 1000.0 : 0.0;
}

/* 59s, 59m, 23h, 9d: at most 4 characters. */
static const char *
human_age(int64_t ms, char *buf, size_t len)
{
	int64_t	 s = ms > 0 ? ms / 1000 : 0;

	if (s < 60)
		snprintf(buf, len, "%" PRId64 "s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRId64 "m", s / 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRId64 "h", s / 3600);
	else
		snprintf(buf, len, "%" PRId64 "d", s / 86400);
	return buf;
}

static const char *
human_us(uint32_t us, char *buf, size_t len)
{
	if (us < 10000)
		snprintf(buf, len, "%" PRIu32 "us", us);
	else if (us < 10000000)
		snprintf(buf, len, "%" PRIu32 "ms", us / 1000);
	else
		snprintf(buf, len, "%" PRIu32 "s", us / 1000000);
	return buf;
}

static void
status_json(const struct report_view *v, struct buf *b, int64_t now)
{
	const struct scoreboard	*sb = pool_scoreboard(v->pool);
	const struct pool_counts *pc = pool_counts(v->pool);
	struct totals		 t;
	struct udp_totals	 u;
	char			 peer[ADDR_NAME_MAX];
	unsigned int		 backlog, queued;
	uint32_t		 i;
	size_t			 k;
	int			 first = 1, r;

	scoreboard_totals(sb, &t);
	buf_printf(b, "{\"pid\":%ld,\"version\":\"%s\",\"uptime\":%" PRId64
	    ",\"config\":", (long)getpid(), PACKAGE_VERSION,
	    (now - sb->started) / 1000);
	buf_json_string(b, v->conf->path);
	buf_printf(b, ",\"generation\":%u,\"listeners\":[",
	    pool_generation(v->pool));
	for (k = 0; k < v->nlisteners; k++) {
		listener_queue(&v->listeners[k], &backlog, &queued);
		buf_printf(b, "%s{\"address\":", k ? "," : "");
		buf_json_string(b, v->listeners[k].bound);
		buf_printf(b, ",\"backlog\":%u,\"queued\":%u,"
		    "\"proxy_protocol\":%s,\"udp\":%s}", backlog, queued,
		    v->listeners[k].addr.proxy_protocol ? "true" : "false",
		    v->listeners[k].addr.udp ? "true" : "false");
	}
	buf_printf(b, "],\"pool\":{\"workers\":%zu,\"starting\":%zu,"
	    "\"idle\":%zu,\"busy\":%zu,\"draining\":%zu,\"no_acceptor_ms\":%"
	    PRId64 "},\"workers\":[", pc->total, pc->starting, pc->idle,
	    pc->busy, pc->draining, pool_no_acceptor_ms(v->pool, now));
	for (i = 0; i < sb->high_water; i++) {
		const struct slot	*s = &sb->slots[i];
		int			 busy;

		if (s->pid == 0)
			continue;
		busy = slot_busy(s);
		buf_printf(b, "%s{\"pid\":%ld,\"generation\":%u,\"kind\":"
		    "\"%s\",\"state\":\"%s\",\"connections\":%" PRIu64
		    ",\"datagrams_in\":%" PRIu64 ",\"datagrams_out\":%" PRIu64
		    ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
		    ",\"peer\":", first ? "" : ",", (long)s->pid,
		    s->generation, s->kind == KIND_UDP ? "udp" : "tcp",
		    state_name(s), s->connections, s->datagrams_in,
		    s->datagrams_out, s->bytes_in, s->bytes_out);
		first = 0;
		if (busy) {
			addr_format_peer(&s->peer, addr_len(&s->peer), peer,
			    sizeof(peer));
			buf_json_string(b, peer);
			out_via(b, s);
			buf_printf(b, ",\"connection_age\":%.3f,\"idle\":null",
			    seconds_since(s->since, now));
		} else if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) ==
		    SLOT_IDLE)
			buf_printf(b, "null,\"via\":null,\"connection_age\":"
			    "null,\"idle\":%.3f", seconds_since(s->since, now));
		else
			buf_printf(b, "null,\"via\":null,\"connection_age\":"
			    "null,\"idle\":null");
		/* Filled in by echodctl: see the top of this file. */
		buf_printf(b, ",\"rss\":null}");
	}
	buf_printf(b, "],\"totals\":{\"accepted\":%" PRIu64 ",\"active\":%zu,"
	    "\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64 ",\"errors\":%"
	    PRIu64 ",\"timeouts\":%" PRIu64 ",\"refused\":%" PRIu64
	    ",\"max_workers_reached\":%" PRIu64 "},", t.connections,
	    pc->active, t.bytes_in, t.bytes_out, t.errors, t.timeouts,
	    t.refused, sb->max_workers_reached);
	scoreboard_udp_totals(sb, &u);
	buf_printf(b, "\"udp\":{\"workers\":%zu,\"datagrams_in\":%" PRIu64
	    ",\"datagrams_out\":%" PRIu64 ",\"bytes_in\":%" PRIu64
	    ",\"bytes_out\":%" PRIu64 ",\"drops\":{", pc->udp,
	    u.datagrams_in, u.datagrams_out, u.bytes_in, u.bytes_out);
	for (r = 0; r < UDP_DROP_NREASONS; r++)
		buf_printf(b, "%s\"%s\":%" PRIu64, r ? "," : "",
		    udpguard_reason_name(r), u.drops[r]);
	buf_printf(b, "}}}\n");
}

static void
status_human(const struct report_view *v, struct buf *b, int64_t now)
{
	const struct scoreboard	*sb = pool_scoreboard(v->pool);
	const struct pool_counts *pc = pool_counts(v->pool);
	struct totals		 t;
	struct udp_totals	 u;
	unsigned int		 backlog, queued;
	char			 age[16];
	size_t			 k, nudp = 0;
	int			 r;

	scoreboard_totals(sb, &t);
	buf_printf(b, "echod %s, pid %ld, up %s, generation %u\n",
	    PACKAGE_VERSION, (long)getpid(),
	    human_age(now - sb->started, age, sizeof(age)),
	    pool_generation(v->pool));
	buf_printf(b, "configuration  %s\n", v->conf->path);
	for (k = 0; k < v->nlisteners; k++) {
		if (v->listeners[k].addr.udp) {
			buf_printf(b, "listening on   %s\n",
			    v->listeners[k].bound);
			nudp++;
			continue;
		}
		listener_queue(&v->listeners[k], &backlog, &queued);
		buf_printf(b, "listening on   %s (backlog %u, %u waiting%s)\n",
		    v->listeners[k].bound, backlog, queued,
		    v->listeners[k].addr.proxy_protocol ? ", proxy-protocol" :
		    "");
	}
	buf_printf(b, "workers        %zu: %zu busy, %zu idle, %zu starting, "
	    "%zu draining\n", pc->total, pc->busy, pc->idle, pc->starting,
	    pc->draining);
	buf_printf(b, "no acceptor    %" PRId64 " ms\n",
	    pool_no_acceptor_ms(v->pool, now));
	buf_printf(b, "connections    %" PRIu64 " accepted, %zu active, %"
	    PRIu64 " errors, %" PRIu64 " idle timeouts, %" PRIu64
	    " refused\n", t.connections, pc->active, t.errors,
	    t.timeouts, t.refused);
	buf_printf(b, "bytes          %" PRIu64 " in, %" PRIu64 " out\n",
	    t.bytes_in, t.bytes_out);
	buf_printf(b, "max-workers    %d, reached %" PRIu64 " times\n",
	    v->conf->max_workers, sb->max_workers_reached);
	if (nudp == 0)
		return;
	scoreboard_udp_totals(sb, &u);
	buf_printf(b, "udp workers    %zu\n", pc->udp);
	buf_printf(b, "datagrams      %" PRIu64 " in, %" PRIu64 " out; bytes %"
	    PRIu64 " in, %" PRIu64 " out\n", u.datagrams_in, u.datagrams_out,
	    u.bytes_in, u.bytes_out);
	/* Not answered, by reason: a few to a line, within 80 columns. */
	for (r = 0; r < UDP_DROP_NREASONS; r++)
		buf_printf(b, "%s%s %" PRIu64, r % 3 == 0 ?
		    (r == 0 ? "udp dropped    " : "\n               ") : ", ",
		    udpguard_reason_name(r), u.drops[r]);
	buf_printf(b, "\n");
}

static void
workers_human(const struct report_view *v, struct buf *b, int64_t now)
{
	const struct scoreboard	*sb = pool_scoreboard(v->pool);
	char			 in[16], out[16], age[16], idle[16];
	char			 conns[16];
	char			 peer[ADDR_NAME_MAX];
	uint32_t		 i;

	buf_printf(b, "%7s %3s %-8s %5s %5s %5s %-21s %4s %4s %5s\n", "PID",
	    "GEN", "STATE", "CONNS", "IN", "OUT", "PEER", "AGE", "IDLE",
	    "RSS");
	for (i = 0; i < sb->high_water; i++) {
		const struct slot	*s = &sb->slots[i];
		int			 state;

		if (s->pid == 0)
			continue;
		state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		strlcpy(peer, "-", sizeof(peer));
		strlcpy(age, "-", sizeof(age));
		strlcpy(idle, "-", sizeof(idle));
		if (state == SLOT_BUSY) {
			addr_format_peer(&s->peer, addr_len(&s->peer), peer,
			    sizeof(peer));
			human_age(now - s->since, age, sizeof(age));
		} else if (state == SLOT_IDLE)
			human_age(now - s->since, idle, sizeof(idle));
		/* A UDP worker's: "udp", and datagrams in for CONNS. */
		buf_printf(b, "%7ld %3u %-8s %5s %5s %5s %-21.21s %4s %4s "
		    "%5s\n", (long)s->pid, s->generation,
		    s->kind == KIND_UDP && s->order == ORDER_SERVE ? "udp" :
		    state_name(s), human_bytes(s->kind == KIND_UDP ?
		    s->datagrams_in : s->connections, conns, sizeof(conns)),
		    human_bytes(s->bytes_in, in, sizeof(in)),
		    human_bytes(s->bytes_out, out, sizeof(out)), peer, age,
		    idle, "-");	/* RSS: filled in by echodctl */
	}
}

static void
conns(const struct report_view *v, struct buf *b, int json, int64_t now)
{
	const struct scoreboard	*sb = pool_scoreboard(v->pool);
	struct conn_info	*conns;
	uint16_t		*ports;
	char			 peer[ADDR_NAME_MAX], age[16], in[16];
	char			 out[16], rtt[16], rttvar[16];
	size_t			 n = 0, k;
	uint32_t		 i;
	int			 diag;

	if ((conns = calloc(sb->high_water + 1, sizeof(*conns))) == NULL ||
	    (ports = calloc(v->nlisteners + 1, sizeof(*ports))) == NULL) {
		free(conns);
		buf_printf(b, json ? "{}\n" : "out of memory\n");
		return;
	}
	for (i = 0; i < sb->high_water; i++) {
		if (sb->slots[i].pid == 0 || !slot_busy(&sb->slots[i]))
			continue;
		/* The kernel knows the socket by its own remote end. */
		if ((conns[n].port = __atomic_load_n(&sb->slots[i].via_port,
		    __ATOMIC_RELAXED)) != 0)
			memcpy(conns[n].key, sb->slots[i].via_key, 16);
		else {
			memcpy(conns[n].key, sb->slots[i].peer_key, 16);
			conns[n].port = addr_port(&sb->slots[i].peer);
		}
		conns[n++].slot = i;
	}
	for (k = 0; k < v->nlisteners; k++)
		ports[k] = v->listeners[k].addr.port;
	diag = tcpdiag_fill(conns, n, ports, v->nlisteners);

	if (json)
		buf_printf(b, "{\"pid\":%ld,\"generation\":%u,"
		    "\"tcp_info\":%s,\"conns\":[", (long)getpid(),
		    pool_generation(v->pool), diag == 0 ? "true" : "false");
	else
		buf_printf(b, "%7s %-21s %4s %5s %5s %6s %6s %4s %5s\n", "PID",
		    "PEER", "AGE", "IN", "OUT", "RTT", "RTTVAR", "RETR",
		    "CWND");
	for (k = 0; k < n; k++) {
		const struct slot	*s = &sb->slots[conns[k].slot];
		const struct tcp_info	*ti = &conns[k].ti;

		addr_format_peer(&s->peer, addr_len(&s->peer), peer,
		    sizeof(peer));
		if (json) {
			buf_printf(b, "%s{\"pid\":%ld,\"peer\":", k ? "," : "",
			    (long)s->pid);
			buf_json_string(b, peer);
			out_via(b, s);
			buf_printf(b, ",\"age\":%.3f,\"bytes_in\":%" PRIu64
			    ",\"bytes_out\":%" PRIu64, seconds_since(s->since,
			    now), s->conn_in, s->conn_out);
			if (conns[k].found)
				buf_printf(b, ",\"rtt_us\":%u,\"rttvar_us\":%u,"
				    "\"retransmits\":%u,\"total_retrans\":%u,"
				    "\"cwnd\":%u}", ti->tcpi_rtt,
				    ti->tcpi_rttvar, ti->tcpi_retransmits,
				    ti->tcpi_total_retrans, ti->tcpi_snd_cwnd);
			else
				buf_printf(b, ",\"rtt_us\":null,\"rttvar_us\":"
				    "null,\"retransmits\":null,"
				    "\"total_retrans\":null,\"cwnd\":null}");
			continue;
		}
		human_age(now - s->since, age, sizeof(age));
		human_bytes(s->conn_in, in, sizeof(in));
		human_bytes(s->conn_out, out, sizeof(out));
		if (conns[k].found)
			buf_printf(b, "%7ld %-21.21s %4s %5s %5s %6s %6s %4u "
			    "%5u\n", (long)s->pid, peer,
			    age, in, out, human_us(ti->tcpi_rtt, rtt,
			    sizeof(rtt)), human_us(ti->tcpi_rttvar, rttvar,
			    sizeof(rttvar)), ti->tcpi_total_retrans,
			    ti->tcpi_snd_cwnd);
		else
			buf_printf(b, "%7ld %-21.21s %4s %5s %5s %6s %6s %4s "
			    "%5s\n", (long)s->pid, peer,
			    age, in, out, "-", "-", "-", "-");
	}
	if (json)
		buf_printf(b, "]}\n");
	free(conns);
	free(ports);
}

/* The answer to echodctl status, workers or conns, after its "ok". */
void
report(struct buf *b, const struct report_view *v, enum report_what what,
    unsigned int flags, int64_t now)
{
	if (what == REPORT_CONNS)
		conns(v, b, flags & REPORT_JSON, now);
	else if (flags & REPORT_JSON)
		status_json(v, b, now);
	else if (what == REPORT_WORKERS)
		workers_human(v, b, now);
	else
		status_human(v, b, now);
}
