/*
 * The metrics in the Prometheus text exposition format (version 0.0.4),
 * from the scoreboard alone: echodctl metrics asks the master for them,
 * the metrics process (metricsd.c) serves them over HTTP from its
 * read-only mapping.  Every name, type and label is in echodctl(8).
 *
 * Names follow Prometheus' conventions: base units (seconds, bytes),
 * _total for counters, and labels only with a few fixed values (a
 * state, a reason, "current" or "previous" generation), so that the
 * number of series never grows with the daemon's age.
 */

#include <sys/types.h>

#include <inttypes.h>
#include <stdint.h>

#include "buf.h"
#include "metrics.h"
#include "scoreboard.h"
#include "udpguard.h"

#define LOAD(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)

static void
header(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
single(struct buf *b, const char *name, const char *type, const char *help,
    uint64_t v)
{
	header(b, name, type, help);
	buf_printf(b, "%s %" PRIu64 "\n", name, v);
}

/* ms shown as seconds (ms set), or bytes. */
static void
histogram(struct buf *b, const char *name, const char *help,
    const uint64_t *buckets, const uint64_t *bounds, int n, uint64_t sum,
    int ms)
{
	uint64_t	 cum = 0;
	int		 i;

	header(b, name, "histogram", help);
	for (i = 0; i < n - 1; i++) {
		cum += buckets[i];
		if (ms)
			buf_printf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n",
			    name, (double)bounds[i] / 1000, cum);
		else
			buf_printf(b, "%s_bucket{le=\"%" PRIu64 "\"} %" PRIu64
			    "\n", name, bounds[i], cum);
	}
	cum += buckets[n - 1];
	buf_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	if (ms)
		buf_printf(b, "%s_sum %" PRIu64 ".%03" PRIu64 "\n", name,
		    sum / 1000, sum % 1000);
	else
		buf_printf(b, "%s_sum %" PRIu64 "\n", name, sum);
	buf_printf(b, "%s_count %" PRIu64 "\n", name, cum);
}

static const char *const state_names[] = {
	[SLOT_STARTING] = "starting",
	[SLOT_IDLE] = "idle",
	[SLOT_BUSY] = "busy",
	[SLOT_DRAINING] = "draining",
};
static const char *const cause_names[EXIT_CAUSES] = {
	[EXIT_RETIRED] = "retired",
	[EXIT_RECYCLED] = "recycled",
	[EXIT_SANDBOX] = "sandbox",
	[EXIT_CRASH] = "crash",
};
static const char *const outcome_names[RELOAD_OUTCOMES] = {
	[RELOAD_OK] = "ok",
	[RELOAD_FAILED] = "failed",
	[RELOAD_NOT_SERVING] = "not_serving",
};

/* The workers alive, by generation (the current one or older) and state. */
static void
workers(struct buf *b, const struct scoreboard *sb, uint64_t *busy)
{
	uint64_t	 n[2][SLOT_DRAINING + 1] = { { 0 } };
	uint32_t	 i, high, gen = LOAD(sb->generation);
	int32_t		 st;
	int		 g;

	high = __atomic_load_n(&sb->high_water, __ATOMIC_ACQUIRE);
	for (i = 0; i < high; i++) {
		const struct slot *s = &sb->slots[i];

		st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		if (st <= SLOT_FREE || st > SLOT_DRAINING ||
		    LOAD(s->pid) == 0)
			continue;
		n[LOAD(s->generation) == gen ? 0 : 1][st]++;
	}
	*busy = n[0][SLOT_BUSY] + n[1][SLOT_BUSY];
	header(b, "echod_workers", "gauge", "Worker processes alive, by "
	    "generation (current or previous) and state.");
	for (g = 0; g < 2; g++)
		for (st = SLOT_STARTING; st <= SLOT_DRAINING; st++)
			buf_printf(b, "echod_workers{generation=\"%s\","
			    "state=\"%s\"} %" PRIu64 "\n",
			    g == 0 ? "current" : "previous", state_names[st],
			    n[g][st]);
}

/*
 * The UDP workers' counters, of live and reaped ones (folded like the
 * TCP ones): a drop reason is udpguard's name, a fixed set.
 */
static void
udp(struct buf *b, const struct scoreboard *sb)
{
	struct udp_totals	 u;
	int			 r;

	scoreboard_udp_totals(sb, &u);
	single(b, "echod_udp_datagrams_received_total", "counter",
	    "UDP datagrams received, dropped ones included.", u.datagrams_in);
	single(b, "echod_udp_datagrams_sent_total", "counter", "UDP "
	    "datagrams echoed.", u.datagrams_out);
	single(b, "echod_udp_received_bytes_total", "counter", "Bytes "
	    "received in UDP datagrams, dropped ones included.", u.bytes_in);
	single(b, "echod_udp_sent_bytes_total", "counter", "Bytes echoed "
	    "in UDP datagrams.", u.bytes_out);
	header(b, "echod_udp_datagrams_dropped_total", "counter", "UDP "
	    "datagrams not answered, by reason.");
	for (r = 0; r < UDP_DROP_NREASONS; r++)
		buf_printf(b, "echod_udp_datagrams_dropped_total{reason=\"%s\"} "
		    "%" PRIu64 "\n", udpguard_reason_name(r), u.drops[r]);
}

void
metrics_format(struct buf *b, const struct scoreboard *sb)
{
	struct totals	 t;
	uint64_t	 busy;
	int		 i;

	scoreboard_totals(sb, &t);
	single(b, "echod_start_time_seconds", "gauge", "When the master "
	    "started, in seconds since the Unix epoch.",
	    (uint64_t)LOAD(sb->start_time));
	single(b, "echod_generation", "gauge", "The current generation of "
	    "workers: 1 at start, one more for each reload.",
	    LOAD(sb->generation));
	workers(b, sb, &busy);
	single(b, "echod_max_workers", "gauge", "The max-workers setting.",
	    (uint64_t)LOAD(sb->max_workers));
	single(b, "echod_max_workers_reached_total", "counter", "Times the "
	    "pool wanted to grow beyond max-workers.",
	    LOAD(sb->max_workers_reached));
	single(b, "echod_worker_starts_total", "counter", "Worker processes "
	    "started.", LOAD(sb->worker_starts));
	header(b, "echod_worker_exits_total", "counter", "Worker processes "
	    "ended, by cause.");
	for (i = 0; i < EXIT_CAUSES; i++)
		buf_printf(b, "echod_worker_exits_total{cause=\"%s\"} %" PRIu64
		    "\n", cause_names[i], LOAD(sb->worker_exits[i]));
	header(b, "echod_reloads_total", "counter", "Reloads of the "
	    "configuration, by outcome.");
	for (i = 0; i < RELOAD_OUTCOMES; i++)
		buf_printf(b, "echod_reloads_total{outcome=\"%s\"} %" PRIu64
		    "\n", outcome_names[i], LOAD(sb->reloads[i]));
	single(b, "echod_connections_accepted_total", "counter",
	    "Connections accepted, refused ones included.", t.accepted);
	single(b, "echod_connections_active", "gauge", "Connections being "
	    "served now.", busy);
	header(b, "echod_connections_ended_total", "counter", "Connections "
	    "ended, by reason.");
	buf_printf(b, "echod_connections_ended_total{reason=\"closed\"} %"
	    PRIu64 "\n", t.closed);
	buf_printf(b, "echod_connections_ended_total{reason=\"reset\"} %"
	    PRIu64 "\n", t.resets);
	buf_printf(b, "echod_connections_ended_total{reason=\"idle_timeout\"} "
	    "%" PRIu64 "\n", t.timeouts);
	buf_printf(b, "echod_connections_ended_total{reason=\"refused\"} %"
	    PRIu64 "\n", t.refused);
	buf_printf(b, "echod_connections_ended_total{reason=\"error\"} %"
	    PRIu64 "\n", t.errors - t.resets);
	single(b, "echod_received_bytes_total", "counter", "Bytes received "
	    "from clients, over TCP and UDP.", t.bytes_in);
	single(b, "echod_sent_bytes_total", "counter", "Bytes echoed to "
	    "clients, over TCP and UDP.", t.bytes_out);
	histogram(b, "echod_connection_duration_seconds", "How long the "
	    "connections that ended lasted, from accept to close.",
	    t.duration_buckets, scoreboard_duration_bounds, DURATION_BUCKETS,
	    t.duration_sum, 1);
	histogram(b, "echod_connection_received_bytes", "Bytes received on "
	    "each connection that ended.", t.size_buckets,
	    scoreboard_size_bounds, SIZE_BUCKETS, t.size_sum, 0);
	udp(b, sb);
}
