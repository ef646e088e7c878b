# echobench(1): each mode against echod, every byte checked, then the
# faults it must catch and name: a corrupted byte, a byte too many, a
# connection closed or reset by the server, a server that never answers,
# nothing listening.
# Rates and latencies are printed, never asserted.
. "$TESTS_SRCDIR/lib.sh"

ECHOBENCH=${ECHOBENCH:-$(dirname "$ECHOD")/echobench}

write_conf "prefork 4"
start_echod

# bench ARGS...: run echobench; its stdout is in $T/out, its stderr in
# $T/err, its exit status in $rc.  A run that hangs is cut short.
bench() {
	timeout -k 5 60 "$ECHOBENCH" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "echobench $* hung"
}

# field FILTER: a field of the JSON echobench printed.
field() {
	jq -r "$1" "$T/out" 2>/dev/null
}

# expect_ok MODE COUNT-FIELD ARGS...: a run against echod that exits 0
# with no error and a count above 0.
expect_ok() {
	local mode=$1 count=$2
	shift 2
	bench "$mode" -j -d 1 -w 0 "$@" 127.0.0.1 "$PORT"
	[ "$rc" -eq 0 ] || fail "$mode: exit $rc: $(cat "$T/out" "$T/err")"
	[ "$(field .mode)" = "$mode" ] || fail "$mode: not one JSON object: $(cat "$T/out")"
	[ "$(field .errors)" -eq 0 ] || fail "$mode: errors: $(cat "$T/out")"
	[ "$(field ".$count")" -gt 0 ] || fail "$mode: no $count: $(cat "$T/out")"
	[ "$(field .port)" -eq "$PORT" ] && [ "$(field .host)" = 127.0.0.1 ] ||
	    fail "$mode: host and port: $(cat "$T/out")"
	field 'has("connections") and has("size") and has("duration") and
	    has("refused") and has("reset") and has("closed") and
	    has("corrupt") and has("timeouts")' | grep -qx true ||
	    fail "$mode: a common field is missing: $(cat "$T/out")"
	log "$(cat "$T/out")"
}

# A latency object whose percentiles are in order.
latency_ok() {
	field '.latency_us | .p50 <= .p99 and .p99 <= .p999 and
	    .p999 <= .max' | grep -qx true
}

expect_ok rr round_trips
[ "$(field .connections)" -eq 1 ] && [ "$(field .size)" -eq 64 ] ||
    fail "rr defaults: $(cat "$T/out")"
[ "$(field .duration)" = 1 ] || fail "rr measured $(field .duration) s"
field '.rate > 0' | grep -qx true || fail "rr: no rate"
latency_ok || fail "rr: latency_us: $(cat "$T/out")"
ok "rr: 1 connection, round trips checked, no error"

expect_ok rr round_trips -c 3 -s 3000
[ "$(field .connections)" -eq 3 ] && [ "$(field .size)" -eq 3000 ] ||
    fail "rr -c 3 -s 3000: $(cat "$T/out")"
ok "rr: 3 connections of 3000-byte messages"

expect_ok stream bytes -c 2
[ "$(field .size)" -eq 65536 ] || fail "stream default size: $(cat "$T/out")"
field '.mbytes_per_s > 0' | grep -qx true || fail "stream: no MB/s"
ok "stream: 2 connections, every byte checked, no error"

# 1-byte sends are drained as fast as they come: sending must still
# leave room for reading the echo.
expect_ok stream bytes -s 1 -t 5
ok "stream: 1-byte sends, echo read"

expect_ok connect connects
[ "$(field .connections)" -eq 8 ] || fail "connect default: $(cat "$T/out")"
field '.rate > 0' | grep -qx true || fail "connect: no rate"
latency_ok || fail "connect: latency_us: $(cat "$T/out")"
ok "connect: 8 slots, cycles checked, no error"

expect_ok hold rounds -c 4
[ "$(field .served)" -eq 4 ] || fail "hold: served $(field .served) of 4"
[ "$(field .rtt_p50_us)" != null ] && [ "$(field .all_served_ms)" != null ] ||
    fail "hold: its fields changed: $(cat "$T/out")"
ok "hold: 4 of 4 connections served, no error"

# -T: the connections shared out among threads and their results
# added up.  echod's own totals say how many connections and bytes there
# were; echobench counts all of them but those that ended after the
# measured time, at most two per connection (one may end after it but
# before the loop sees the time, and start another), so a thread's
# results left out show.
command -v jq >/dev/null 2>&1 || fail "jq is needed (apt-get install jq)"
total() {
	"$ECHODCTL" -s "$CTL" -j status | jq -r ".totals.$1"
}
quiet() {
	[ "$(total active)" -eq 0 ]
}
wait_for 10 "no connection active" quiet
before=$(total accepted)
expect_ok connect connects -c 4 -T 2
[ "$(field .threads)" -eq 2 ] && [ "$(field .connections)" -eq 4 ] ||
    fail "connect -c 4 -T 2: $(cat "$T/out")"
latency_ok || fail "connect -T 2: latency_us: $(cat "$T/out")"
wait_for 10 "no connection active" quiet
n=$(( $(total accepted) - before ))
counted=$(field .connects)
[ "$counted" -le "$n" ] && [ "$n" -le $((counted + 8)) ] ||
    fail "connect -c 4 -T 2: $counted connections counted, echod accepted $n"
ok "connect -c 4 -T 2: $counted of echod's $n connections counted, in 2 threads"

before=$(total bytes_in)
expect_ok rr round_trips -c 3 -T 2
[ "$(field .threads)" -eq 2 ] && [ "$(field .connections)" -eq 3 ] ||
    fail "rr -c 3 -T 2: $(cat "$T/out")"
latency_ok || fail "rr -T 2: latency_us: $(cat "$T/out")"
wait_for 10 "no connection active" quiet
n=$(( ($(total bytes_in) - before) / 64 ))
counted=$(field .round_trips)
[ "$counted" -le "$n" ] && [ "$n" -le $((counted + 6)) ] ||
    fail "rr -c 3 -T 2: $counted round trips counted, echod echoed $n"
ok "rr -c 3 -T 2: $counted of echod's $n round trips counted, in 2 threads"

expect_ok hold rounds -c 4 -T 3
[ "$(field .served)" -eq 4 ] && [ "$(field .connections)" -eq 4 ] ||
    fail "hold -c 4 -T 3: served $(field .served) of 4"
ok "hold -c 4 -T 3: 4 of 4 served"

bench rr -c 2 -T 3 -d 1 -w 0 127.0.0.1 "$PORT"
[ "$rc" -eq 2 ] && grep -q 'more threads than' "$T/err" ||
    fail "rr -c 2 -T 3: exit $rc: $(cat "$T/err")"
bench udp -T 2 127.0.0.1 "$PORT"
[ "$rc" -eq 2 ] || fail "udp -T 2: exit $rc, not 2"
ok "-T: more threads than connections, or udp, is a usage error"

bench rr -d 1 -w 0 127.0.0.1 "$PORT"
[ "$rc" -eq 0 ] && grep -q '^rr: 1 connection to 127.0.0.1' "$T/out" &&
    grep -q ' 0 errors' "$T/out" || fail "rr summary: $(cat "$T/out")"
ok "rr: a human summary without -j"

for args in "" "ping 127.0.0.1 $PORT" "rr 127.0.0.1" "rr -s 0 127.0.0.1 $PORT" \
    "rr -s 1048577 127.0.0.1 $PORT" "connect -c 0 127.0.0.1 $PORT" \
    "rr -x 127.0.0.1 $PORT"; do
	# shellcheck disable=SC2086 # the words are the arguments
	bench $args
	[ "$rc" -eq 2 ] || fail "echobench $args: exit $rc, not 2"
done
ok "usage errors exit 2"

# Faulty servers: echotest badserver, each on a port of its own.
listening() {
	[ -n "$(listen_inode "$1")" ]
}

start_bad() {
	BPORT=$("$ECHOTEST" freeport) || fail "no free port"
	background "$ECHOTEST" badserver -p "$BPORT" -m "$1" -n "$2" -t 120
	wait_for 10 "the $1 server on port $BPORT" listening "$BPORT"
}

stop_bad() {
	kill -TERM "$LAST_BG"
	wait_gone 10 "the fault server" "$LAST_BG"
}

# expect_fault WHAT KIND MESSAGE ARGS...: echobench exits 1, its errors
# are all of KIND (at least one), and stderr says MESSAGE.
expect_fault() {
	local what=$1 kind=$2 msg=$3
	shift 3
	bench "$@" -j
	[ "$rc" -eq 1 ] || fail "$what: exit $rc, not 1: $(cat "$T/out" "$T/err")"
	[ "$(field ".$kind")" -ge 1 ] ||
	    fail "$what: no $kind error: $(cat "$T/out")"
	[ "$(field .errors)" -eq "$(field ".$kind")" ] ||
	    fail "$what: errors other than $kind: $(cat "$T/out")"
	grep -q -- "$msg" "$T/err" ||
	    fail "$what: stderr does not say \"$msg\": $(cat "$T/err")"
	ok "$what: $(head -n 1 "$T/err")"
}

start_bad corrupt 1000
expect_fault "rr, byte 1000 corrupted" corrupt \
    "connection 1: wrong byte at offset 1000: sent 0x" \
    rr -d 1 -w 0 127.0.0.1 "$BPORT"
expect_fault "stream, byte 1000 corrupted" corrupt \
    "wrong byte at offset 1000: sent 0x" \
    stream -c 2 -d 1 -w 0 127.0.0.1 "$BPORT"
stop_bad
start_bad corrupt 10
expect_fault "connect, byte 10 corrupted" corrupt \
    "wrong byte at offset 10: sent 0x" \
    connect -c 2 -d 1 -w 0 127.0.0.1 "$BPORT"
expect_fault "hold, byte 10 corrupted" corrupt \
    "wrong byte at offset 10: sent 0x" \
    hold -c 2 -d 1 127.0.0.1 "$BPORT"
stop_bad

start_bad extra 1000
expect_fault "rr, one byte too many" corrupt \
    "65 bytes came back at offset 960, but only 64 were sent" \
    rr -d 1 -w 0 127.0.0.1 "$BPORT"
stop_bad

start_bad drop 1000
expect_fault "rr, closed after 1000 bytes" closed \
    "closed by the server after 1000 of 1024 bytes" \
    rr -d 1 -w 0 127.0.0.1 "$BPORT"
expect_fault "stream, closed after 1000 bytes" closed \
    "closed by the server after 1000 of" \
    stream -d 1 -w 0 127.0.0.1 "$BPORT"
stop_bad
start_bad drop 10
expect_fault "connect, closed after 10 bytes" closed \
    "closed by the server after 10 of 64 bytes" \
    connect -c 2 -d 1 -w 0 127.0.0.1 "$BPORT"
stop_bad

start_bad reset 1000
expect_fault "rr, reset after 1000 bytes" reset "reset by peer" \
    rr -d 1 -w 0 127.0.0.1 "$BPORT"
stop_bad

start_bad silent 1
for mode in rr stream connect hold; do
	expect_fault "$mode, a server that never answers" timeouts \
	    "nothing back for 1 s, 0 of" \
	    "$mode" -c 2 -d 1 -w 0 -t 1 127.0.0.1 "$BPORT"
done
[ "$(field .served)" -eq 0 ] || fail "hold: served $(field .served) of 0"
stop_bad

# Nothing listening: the port is free.
BPORT=$("$ECHOTEST" freeport) || fail "no free port"
expect_fault "rr, nothing listening" refused "Connection refused" \
    rr -c 2 -d 1 -w 0 127.0.0.1 "$BPORT"

# echod served all of it and is still whole.
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 4 || fail "echod after the runs"
[ "$(nworkers)" -eq 4 ] || fail "$(nworkers) workers, not 4"
ok "echod still serves with its 4 workers"
