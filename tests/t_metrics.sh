# Metrics (echodctl metrics): valid Prometheus exposition (promtool),
# counters exact for what the test's clients did (bytes, connections, a
# close, a reset, an idle timeout, a refusal), histograms whose counts
# and sums agree with them, worker exits and reloads by outcome, and no
# counter going backwards when a worker is killed and folded into the
# retired totals.
. "$TESTS_SRCDIR/lib.sh"

command -v promtool >/dev/null 2>&1 ||
    fail "promtool is needed (apt-get install prometheus)"
metrics() {
	"$ECHODCTL" -s "$CTL" metrics
}
# metric NAME [LABELS]: the value of one series.
metric() {
	local s=$1
	[ -n "${2:-}" ] && s="$1{$2}"
	metrics | awk -v s="$s" '$1 == s { print $2; f = 1 } END { exit !f }'
}
is() {
	local v
	v=$(metric "$1" "${2:-}") || fail "no series $1{${2:-}}"
	[ "$v" = "$3" ] || fail "$1{${2:-}} is $v, want $3"
}
check() {
	metrics > "$T/m.txt" || fail "echodctl metrics"
	promtool check metrics < "$T/m.txt" > "$T/promtool.out" 2>&1 ||
	    fail "promtool: $(cat "$T/promtool.out")"
}

write_conf "prefork 3" "idle-timeout 2" "max-connections-per-address 1 hard"
WANT_WORKERS=3 start_echod
check
ok "a fresh echod's exposition passes promtool check metrics"

# One at a time: max-connections-per-address 1 refuses a second at once.
for i in 1 2 3; do
	"$ECHOTEST" echo -p "$PORT" -n 1000 >/dev/null || fail "echo $i"
done
"$ECHOTEST" echo -p "$PORT" -n 5000 -s || fail "half-close"
ended4() {
	[ "$(metric echod_connection_received_bytes_count)" = 4 ]
}
wait_for 5 "4 connections ended" ended4
is echod_connections_accepted_total "" 4
is echod_connections_ended_total 'reason="closed"' 4
is echod_received_bytes_total "" 8000
is echod_sent_bytes_total "" 8000
is echod_connection_received_bytes_sum "" 8000
is echod_connection_received_bytes_bucket 'le="1024"' 3
is echod_connection_received_bytes_bucket 'le="16384"' 4
is echod_connection_duration_seconds_count "" 4
ok "4 connections, 8000 bytes each way, exactly, and in the histograms"

"$ECHOTEST" reset -p "$PORT" -n 4096 >/dev/null || fail "reset client"
"$ECHOTEST" idle -p "$PORT" -t 10 >/dev/null || fail "idle client"
# The session must not meet the limit of 1 on a worker that has not yet
# seen its reset or timeout: both ended, and counted, first.
ended_both() {
	[ "$(metric echod_connections_ended_total 'reason="reset"')" = 1 ] &&
	    [ "$(metric echod_connections_ended_total \
	    'reason="idle_timeout"')" = 1 ]
}
wait_for 5 "the reset and the timeout counted" ended_both
background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/ready"
session=$LAST_BG
wait_for 10 "session" test -f "$T/ready"
! "$ECHOTEST" echo -p "$PORT" -n 10 >/dev/null 2>&1 ||
    fail "a second connection beside the session was served"
refused() {
	[ "$(metric echod_connections_ended_total 'reason="refused"')" = 1 ]
}
wait_for 5 "a refusal counted" refused
is echod_connections_accepted_total "" 8
is echod_connections_active "" 1
is echod_workers 'generation="current",state="busy"' 1
is echod_connections_ended_total 'reason="reset"' 1
is echod_connections_ended_total 'reason="idle_timeout"' 1
is echod_connections_ended_total 'reason="error"' 0
check
ok "a reset, an idle timeout and a refusal, each counted once; one active"

touch "$T/stop"
wait "$session" || fail "the session"
ended8() {
	[ "$(metric echod_connection_duration_seconds_count)" = 8 ]
}
wait_for 5 "8 connections ended" ended8
is echod_connection_received_bytes_count "" 8
is echod_connection_received_bytes_sum "" "$(metric echod_received_bytes_total)"
is echod_connections_active "" 0
# The idle client lasted its idle-timeout of 2 s at least.
sum=$(metric echod_connection_duration_seconds_sum)
awk -v s="$sum" 'BEGIN { exit !(s >= 2) }' ||
    fail "duration sum $sum, want the idle client's 2 s at least"
ok "histograms: 8 connections, their bytes, the idle one's 2 s"

# A worker killed mid-life: its counters move to the retired totals,
# none goes backwards; its exit is a crash, its replacement a start.
before=$(metric echod_connections_accepted_total)
in_before=$(metric echod_received_bytes_total)
kill -9 $(workers)
wait_for 10 "3 new workers" has_workers 3
is echod_connections_accepted_total "" "$before"
is echod_received_bytes_total "" "$in_before"
is echod_worker_exits_total 'cause="crash"' 3
is echod_worker_starts_total "" 6
ok "3 workers killed: counters kept, 3 crashes, 6 starts"

kill -HUP "$(master_pid)"
reloaded() {
	[ "$(metric echod_reloads_total 'outcome="ok"')" = 1 ]
}
wait_for 10 "a reload counted" reloaded
is echod_generation "" 2
echo "no such setting" >> "$CONF"
kill -HUP "$(master_pid)"
failed() {
	[ "$(metric echod_reloads_total 'outcome="failed"')" = 1 ]
}
wait_for 10 "a failed reload counted" failed
drained() {
	[ "$(metric echod_worker_exits_total 'cause="retired"')" = 3 ]
}
wait_for 10 "the old generation's 3 workers retired" drained
is echod_connections_accepted_total "" "$before"
check
ok "reloads by outcome: 1 ok, 1 failed; 3 workers retired"
