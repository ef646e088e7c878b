/*
 * What echodctl status, workers and conns answer, for people (aligned
 * columns within 80) or as JSON (field names documented in echodctl(8)
 * and kept stable).  Everything comes from the scoreboard, the master's
 * own table, the listening sockets' TCP_INFO and, for conns, the
 * kernel's sock_diag (tcpdiag.c).
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

#include "human.h"
#include "log.h"
#include "master.h"

/* A worker's state as shown: draining once told to, even if busy. */
static int
shown_state(const struct master *m, uint32_t i)
{
	if (m->workers[i].state != W_SERVING)
		return SLOT_DRAINING;
	return __atomic_load_n(&m->sb->slots[i].state, __ATOMIC_ACQUIRE);
}

static const char *
state_name(const struct master *m, uint32_t i)
{
	static const char *names[] = {
		"free", "starting", "idle", "busy", "draining"
	};
	int	 state = shown_state(m, i);

	if (state < 0 || state > SLOT_DRAINING)
		return "?";
	return names[state];
}

static int
slot_busy(const struct master *m, uint32_t i)
{
	return __atomic_load_n(&m->sb->slots[i].state, __ATOMIC_ACQUIRE) ==
	    SLOT_BUSY;
}

static socklen_t
peer_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}

static uint16_t
peer_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

/*
 * The balancer a busy slot's connection came through, on a
 * proxy-protocol listener, as "192.0.2.1:4000", or "" if none.
 */
static void
via_format(const struct slot *s, char *buf, size_t len)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	uint16_t		 port;

	buf[0] = '\0';
	if ((port = __atomic_load_n(&s->via_port, __ATOMIC_RELAXED)) == 0)
		return;
	memset(&ss, 0, sizeof(ss));
	sin6->sin6_family = AF_INET6;
	memcpy(&sin6->sin6_addr, s->via_key, 16);
	sin6->sin6_port = htons(port);
	peer_format(&ss, sizeof(*sin6), buf, len);
}

/* JSON: ",\"via\":\"ADDRESS:PORT\"" or ",\"via\":null". */
static void
out_via(struct control_client *c, const struct slot *s)
{
	char	 via[LISTEN_NAME_MAX];

	via_format(s, via, sizeof(via));
	out_printf(c, ",\"via\":");
	if (via[0] == '\0')
		out_printf(c, "null");
	else
		out_json_string(c, via);
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

/* The workers by state, for echodctl status and systemd's STATUS=. */
void
count_pool(const struct master *m, struct pool_counts *pc)
{
	uint32_t	 i;

	memset(pc, 0, sizeof(*pc));
	for (i = 0; i < m->high_water; i++) {
		if (m->workers[i].pid == 0)
			continue;
		pc->total++;
		switch (shown_state(m, i)) {
		case SLOT_STARTING:
			pc->starting++;
			break;
		case SLOT_IDLE:
			pc->idle++;
			break;
		case SLOT_BUSY:
			pc->busy++;
			break;
		default:
			pc->draining++;
			break;
		}
	}
}

static void
listener_queue(const struct listener *l, unsigned int *backlog,
    unsigned int *queued)
{
	struct tcp_info	 ti;
	socklen_t	 len = sizeof(ti);

	*backlog = *queued = 0;
	if (l->fd != -1 && getsockopt(l->fd, IPPROTO_TCP, TCP_INFO, &ti,
	    &len) == 0) {
		*backlog = ti.tcpi_sacked;	/* of a listener: backlog */
		*queued = ti.tcpi_unacked;	/* and its queue */
	}
}

static size_t
count_active(const struct master *m)
{
	uint32_t	 i;
	size_t		 n = 0;

	for (i = 0; i < m->high_water; i++)
		if (m->workers[i].pid != 0 && slot_busy(m, i))
			n++;
	return n;
}

static void
status_json(struct master *m, struct control_client *c, int64_t now)
{
	const struct scoreboard	*sb = m->sb;
	struct pool_counts	 pc;
	struct totals		 t;
	char			 peer[LISTEN_NAME_MAX];
	unsigned int		 backlog, queued;
	uint32_t		 i;
	size_t			 k;
	int			 first = 1;

	count_pool(m, &pc);
	scoreboard_totals(sb, &t);
	out_printf(c, "{\"pid\":%ld,\"version\":\"%s\",\"uptime\":%" PRId64
	    ",\"config\":", (long)getpid(), PACKAGE_VERSION,
	    (now - sb->started) / 1000);
	out_json_string(c, m->conf->path);
	out_printf(c, ",\"generation\":%u,\"listeners\":[", m->generation);
	for (k = 0; k < m->nlisteners; k++) {
		listener_queue(&m->listeners[k], &backlog, &queued);
		out_printf(c, "%s{\"address\":", k ? "," : "");
		out_json_string(c, m->listeners[k].bound);
		out_printf(c, ",\"backlog\":%u,\"queued\":%u,"
		    "\"proxy_protocol\":%s}", backlog, queued,
		    m->listeners[k].addr.proxy_protocol ? "true" : "false");
	}
	out_printf(c, "],\"pool\":{\"workers\":%zu,\"starting\":%zu,"
	    "\"idle\":%zu,\"busy\":%zu,\"draining\":%zu},\"workers\":[",
	    pc.total, pc.starting, pc.idle, pc.busy, pc.draining);
	for (i = 0; i < m->high_water; i++) {
		const struct slot	*s = &sb->slots[i];
		int			 busy;

		if (m->workers[i].pid == 0)
			continue;
		busy = slot_busy(m, i);
		out_printf(c, "%s{\"pid\":%ld,\"generation\":%u,\"state\":"
		    "\"%s\",\"connections\":%" PRIu64 ",\"bytes_in\":%" PRIu64
		    ",\"bytes_out\":%" PRIu64 ",\"peer\":", first ? "" : ",",
		    (long)m->workers[i].pid, m->workers[i].generation,
		    state_name(m, i), s->connections, s->bytes_in,
		    s->bytes_out);
		first = 0;
		if (busy) {
			peer_format(&s->peer, peer_len(&s->peer), peer,
			    sizeof(peer));
			out_json_string(c, peer);
			out_via(c, s);
			out_printf(c, ",\"connection_age\":%.3f,\"idle\":null",
			    seconds_since(s->since, now));
		} else if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) ==
		    SLOT_IDLE)
			out_printf(c, "null,\"via\":null,\"connection_age\":"
			    "null,\"idle\":%.3f", seconds_since(s->since, now));
		else
			out_printf(c, "null,\"via\":null,\"connection_age\":"
			    "null,\"idle\":null");
		/* Filled in by echodctl: see the top of this file. */
		out_printf(c, ",\"rss\":null}");
	}
	out_printf(c, "],\"totals\":{\"accepted\":%" PRIu64 ",\"active\":%zu,"
	    "\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64 ",\"errors\":%"
	    PRIu64 ",\"timeouts\":%" PRIu64 ",\"refused\":%" PRIu64
	    ",\"max_workers_reached\":%" PRIu64 "}}\n", t.connections,
	    count_active(m), t.bytes_in, t.bytes_out, t.errors, t.timeouts,
	    t.refused, sb->max_workers_reached);
}

static void
status_human(struct master *m, struct control_client *c, int64_t now)
{
	const struct scoreboard	*sb = m->sb;
	struct pool_counts	 pc;
	struct totals		 t;
	unsigned int		 backlog, queued;
	char			 age[16];
	size_t			 k;

	count_pool(m, &pc);
	scoreboard_totals(sb, &t);
	out_printf(c, "echod %s, pid %ld, up %s, generation %u\n",
	    PACKAGE_VERSION, (long)getpid(),
	    human_age(now - sb->started, age, sizeof(age)), m->generation);
	out_printf(c, "configuration  %s\n", m->conf->path);
	for (k = 0; k < m->nlisteners; k++) {
		listener_queue(&m->listeners[k], &backlog, &queued);
		out_printf(c, "listening on   %s (backlog %u, %u waiting%s)\n",
		    m->listeners[k].bound, backlog, queued,
		    m->listeners[k].addr.proxy_protocol ? ", proxy-protocol" :
		    "");
	}
	out_printf(c, "workers        %zu: %zu busy, %zu idle, %zu starting, "
	    "%zu draining\n", pc.total, pc.busy, pc.idle, pc.starting,
	    pc.draining);
	out_printf(c, "connections    %" PRIu64 " accepted, %zu active, %"
	    PRIu64 " errors, %" PRIu64 " idle timeouts, %" PRIu64
	    " refused\n", t.connections, count_active(m), t.errors,
	    t.timeouts, t.refused);
	out_printf(c, "bytes          %" PRIu64 " in, %" PRIu64 " out\n",
	    t.bytes_in, t.bytes_out);
	out_printf(c, "max-workers    %d, reached %" PRIu64 " times\n",
	    m->conf->max_workers, sb->max_workers_reached);
}

static void
workers_human(struct master *m, struct control_client *c, int64_t now)
{
	const struct scoreboard	*sb = m->sb;
	char			 in[16], out[16], age[16], idle[16];
	char			 conns[16];
	char			 peer[LISTEN_NAME_MAX];
	uint32_t		 i;

	out_printf(c, "%7s %3s %-8s %5s %5s %5s %-21s %4s %4s %5s\n", "PID",
	    "GEN", "STATE", "CONNS", "IN", "OUT", "PEER", "AGE", "IDLE",
	    "RSS");
	for (i = 0; i < m->high_water; i++) {
		const struct slot	*s = &sb->slots[i];
		int			 state;

		if (m->workers[i].pid == 0)
			continue;
		state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		strlcpy(peer, "-", sizeof(peer));
		strlcpy(age, "-", sizeof(age));
		strlcpy(idle, "-", sizeof(idle));
		if (state == SLOT_BUSY) {
			peer_format(&s->peer, peer_len(&s->peer), peer,
			    sizeof(peer));
			human_age(now - s->since, age, sizeof(age));
		} else if (state == SLOT_IDLE)
			human_age(now - s->since, idle, sizeof(idle));
		out_printf(c, "%7ld %3u %-8s %5s %5s %5s %-21.21s %4s %4s "
		    "%5s\n", (long)m->workers[i].pid, m->workers[i].generation,
		    state_name(m, i),
		    human_bytes(s->connections, conns, sizeof(conns)),
		    human_bytes(s->bytes_in, in, sizeof(in)),
		    human_bytes(s->bytes_out, out, sizeof(out)), peer, age,
		    idle, "-");	/* RSS: filled in by echodctl */
	}
}

void
report_status(struct master *m, struct control_client *c, int workers,
    int json, int64_t now)
{
	if (json)
		status_json(m, c, now);
	else if (workers)
		workers_human(m, c, now);
	else
		status_human(m, c, now);
}

void
report_conns(struct master *m, struct control_client *c, int json,
    int64_t now)
{
	const struct scoreboard	*sb = m->sb;
	struct conn_info	*conns;
	uint16_t		*ports;
	char			 peer[LISTEN_NAME_MAX], age[16], in[16];
	char			 out[16], rtt[16], rttvar[16];
	size_t			 n = 0, k;
	uint32_t		 i;
	int			 diag;

	if ((conns = calloc(m->high_water + 1, sizeof(*conns))) == NULL ||
	    (ports = calloc(m->nlisteners + 1, sizeof(*ports))) == NULL) {
		free(conns);
		out_printf(c, json ? "{}\n" : "out of memory\n");
		return;
	}
	for (i = 0; i < m->high_water; i++) {
		if (m->workers[i].pid == 0 || !slot_busy(m, i))
			continue;
		/* The kernel knows the socket by its own remote end. */
		if ((conns[n].port = __atomic_load_n(&sb->slots[i].via_port,
		    __ATOMIC_RELAXED)) != 0)
			memcpy(conns[n].key, sb->slots[i].via_key, 16);
		else {
			memcpy(conns[n].key, sb->slots[i].peer_key, 16);
			conns[n].port = peer_port(&sb->slots[i].peer);
		}
		conns[n++].slot = i;
	}
	for (k = 0; k < m->nlisteners; k++)
		ports[k] = m->listeners[k].addr.port;
	diag = tcpdiag_fill(conns, n, ports, m->nlisteners);

	if (json)
		out_printf(c, "{\"pid\":%ld,\"generation\":%u,"
		    "\"tcp_info\":%s,\"conns\":[", (long)getpid(),
		    m->generation, diag == 0 ? "true" : "false");
	else
		out_printf(c, "%7s %-21s %4s %5s %5s %6s %6s %4s %5s\n", "PID",
		    "PEER", "AGE", "IN", "OUT", "RTT", "RTTVAR", "RETR",
		    "CWND");
	for (k = 0; k < n; k++) {
		const struct slot	*s = &sb->slots[conns[k].slot];
		const struct tcp_info	*ti = &conns[k].ti;

		peer_format(&s->peer, peer_len(&s->peer), peer, sizeof(peer));
		if (json) {
			out_printf(c, "%s{\"pid\":%ld,\"peer\":", k ? "," : "",
			    (long)m->workers[conns[k].slot].pid);
			out_json_string(c, peer);
			out_via(c, s);
			out_printf(c, ",\"age\":%.3f,\"bytes_in\":%" PRIu64
			    ",\"bytes_out\":%" PRIu64, seconds_since(s->since,
			    now), s->conn_in, s->conn_out);
			if (conns[k].found)
				out_printf(c, ",\"rtt_us\":%u,\"rttvar_us\":%u,"
				    "\"retransmits\":%u,\"total_retrans\":%u,"
				    "\"cwnd\":%u}", ti->tcpi_rtt,
				    ti->tcpi_rttvar, ti->tcpi_retransmits,
				    ti->tcpi_total_retrans, ti->tcpi_snd_cwnd);
			else
				out_printf(c, ",\"rtt_us\":null,\"rttvar_us\":"
				    "null,\"retransmits\":null,"
				    "\"total_retrans\":null,\"cwnd\":null}");
			continue;
		}
		human_age(now - s->since, age, sizeof(age));
		human_bytes(s->conn_in, in, sizeof(in));
		human_bytes(s->conn_out, out, sizeof(out));
		if (conns[k].found)
			out_printf(c, "%7ld %-21.21s %4s %5s %5s %6s %6s %4u "
			    "%5u\n", (long)m->workers[conns[k].slot].pid, peer,
			    age, in, out, human_us(ti->tcpi_rtt, rtt,
			    sizeof(rtt)), human_us(ti->tcpi_rttvar, rttvar,
			    sizeof(rttvar)), ti->tcpi_total_retrans,
			    ti->tcpi_snd_cwnd);
		else
			out_printf(c, "%7ld %-21.21s %4s %5s %5s %6s %6s %4s "
			    "%5s\n", (long)m->workers[conns[k].slot].pid, peer,
			    age, in, out, "-", "-", "-", "-");
	}
	if (json)
		out_printf(c, "]}\n");
	free(conns);
	free(ports);
}
