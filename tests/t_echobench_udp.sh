# echobench(1) udp against bench/udp_floor, the bare C UDP echo loop:
# no loss at a low rate, round trips with every byte checked, the largest
# datagrams over IPv4 and IPv6, the summary and the JSON fields, and the
# faults it must catch and count: a dropped datagram, a corrupted byte, a
# duplicate, nothing listening.  (echod's own UDP listeners have tests
# of their own.)  Rates and latencies are printed, never asserted.
. "$TESTS_SRCDIR/lib.sh"

ECHOBENCH=${ECHOBENCH:-$(dirname "$ECHOD")/echobench}
FLOOR=${UDP_FLOOR:-$TOP_BUILDDIR/bench/udp_floor}
[ -x "$FLOOR" ] || fail "no $FLOOR: make check builds it"

# bench ARGS...: run echobench; its stdout is in $T/out, its stderr in
# $T/err, its exit status in $rc.  A run that hangs is cut short.
bench() {
	timeout -k 5 60 "$ECHOBENCH" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "echobench $* hung"
}

field() {
	jq -r "$1" "$T/out" 2>/dev/null
}

ready() {
	grep -qx ready "$T/floor.out" 2>/dev/null
}

# start_floor ARGS...: one floor server on a port of its own ($UPORT).
start_floor() {
	UPORT=$("$ECHOTEST" freeport) || fail "no free port"
	: >"$T/floor.out"
	background "$FLOOR" -p "$UPORT" -t 120 "$@"
	wait_for 10 "udp_floor $*" ready
}

stop_floor() {
	kill -TERM "$LAST_BG"
	wait_gone 10 "udp_floor" "$LAST_BG"
}

# lib.sh's background(), with the floor's output kept.
background() {
	"$@" >"$T/floor.out" 2>>"$T/floor.err" &
	BG_PIDS="$BG_PIDS $!"
	LAST_BG=$!
}

# expect_clean ARGS...: a run that exits 0 with everything back, once.
expect_clean() {
	bench udp -j -t 10 "$@"
	[ "$rc" -eq 0 ] || fail "udp $*: exit $rc: $(cat "$T/out" "$T/err")"
	[ "$(field .mode)" = udp ] || fail "udp $*: not JSON: $(cat "$T/out")"
	[ "$(field .sent)" -gt 0 ] || fail "udp $*: nothing sent: $(cat "$T/out")"
	[ "$(field .received)" -eq "$(field .sent)" ] &&
	    [ "$(field .lost)" -eq 0 ] && [ "$(field .errors)" -eq 0 ] &&
	    [ "$(field .corrupt)" -eq 0 ] &&
	    [ "$(field .duplicates)" -eq 0 ] ||
	    fail "udp $*: not all back intact: $(cat "$T/out")"
	field 'has("host") and has("port") and has("size") and
	    has("duration") and has("warmup") and has("sockets") and
	    has("paced") and has("rate") and has("loss_pct") and
	    has("reordered") and has("late") and has("refused") and
	    has("timeouts") and has("client_drops")' | grep -qx true ||
	    fail "udp $*: a field is missing: $(cat "$T/out")"
	field '.latency_us | .p50 <= .p90 and .p90 <= .p99 and
	    .p99 <= .p999 and .p999 <= .max' | grep -qx true ||
	    fail "udp $*: latency_us: $(cat "$T/out")"
	log "$(cat "$T/out")"
}

start_floor -n 2
expect_clean -r 200 -d 1 -w 0 127.0.0.1 "$UPORT"
[ "$(field .paced)" -eq 200 ] && [ "$(field .sockets)" -eq 1 ] &&
    [ "$(field .size)" -eq 64 ] || fail "paced defaults: $(cat "$T/out")"
ok "paced at 200/s for 1 s: $(field .sent) sent, 0 lost"

expect_clean -c 3 -s 1400 -d 1 -w 0 127.0.0.1 "$UPORT"
[ "$(field .paced)" -eq 0 ] && [ "$(field .sockets)" -eq 3 ] ||
    fail "round trips: $(cat "$T/out")"
ok "round trips on 3 sockets of 1400 bytes, all back"

expect_clean -n 50 -s 65507 127.0.0.1 "$UPORT"
[ "$(field .sent)" -eq 50 ] || fail "-n 50 sent $(field .sent)"
ok "-n 50 datagrams of 65507 bytes over IPv4"

bench udp -n 1 -s 65508 127.0.0.1 "$UPORT"
[ "$rc" -eq 2 ] && grep -q '8 to 65507 bytes over IPv4' "$T/err" ||
    fail "65508 bytes over IPv4: exit $rc: $(cat "$T/err")"
ok "65508 bytes over IPv4 is refused"

bench udp -d 1 -w 0 127.0.0.1 "$UPORT"
[ "$rc" -eq 0 ] || fail "summary: exit $rc"
grep -q "^udp: 1 socket to 127.0.0.1 port $UPORT, 64-byte datagrams, round trips, " "$T/out" &&
    grep -Eq '^    [0-9]+ sent, [0-9]+ back, [0-9.]+ per second$' "$T/out" &&
    grep -Eq '^    round trip: p50 [0-9]+ us, p90 [0-9]+ us, p99 [0-9]+ us, max [0-9]+ us$' "$T/out" &&
    grep -q '^    lost 0 (0.000%), duplicates 0, reordered [0-9]*, late 0, corrupt 0, refused 0, timeouts 0, client drops [0-9]*$' "$T/out" ||
    fail "summary: $(cat "$T/out")"
ok "the human summary"
stop_floor

if [ -n "$("$ECHOTEST" freeport -H ::1 2>/dev/null)" ]; then
	start_floor -n 1 -a ::1
	expect_clean -n 50 -s 65527 ::1 "$UPORT"
	expect_clean -r 200 -d 1 -w 0 ::1 "$UPORT"
	[ "$(field .host)" = ::1 ] || fail "host: $(cat "$T/out")"
	ok "IPv6: 65527-byte datagrams, and paced, all back"
	stop_floor
else
	log "no ::1 here: IPv6 not tested"
fi

# Faults, each counted per process of the floor: one process, so that
# they fall at known places.
start_floor -n 1 -D 10
bench udp -j -t 10 -n 100 -r 1000 127.0.0.1 "$UPORT"
[ "$rc" -eq 1 ] && [ "$(field .sent)" -eq 100 ] &&
    [ "$(field .lost)" -eq 10 ] && [ "$(field .received)" -eq 90 ] &&
    [ "$(field .corrupt)" -eq 0 ] && [ "$(field .errors)" -eq 10 ] &&
    [ "$(field ".loss_pct == 10")" = true ] ||
    fail "every 10th dropped: exit $rc: $(cat "$T/out" "$T/err")"
ok "every 10th datagram dropped: 10 of 100 lost, exit 1"
stop_floor

start_floor -n 1 -F 7
bench udp -j -t 10 -n 50 -r 1000 127.0.0.1 "$UPORT"
[ "$rc" -eq 1 ] && [ "$(field .corrupt)" -eq 7 ] &&
    [ "$(field .lost)" -eq 7 ] && [ "$(field .received)" -eq 43 ] ||
    fail "every 7th corrupted: exit $rc: $(cat "$T/out" "$T/err")"
grep -q '^echobench: datagram 6: wrong byte at offset 63: sent 0x' "$T/err" ||
    fail "corrupt: stderr: $(cat "$T/err")"
ok "a flipped byte: $(head -n 1 "$T/err")"
stop_floor

# A run ends as soon as all is back: the copy of the last datagram may
# come too late to be seen, so the last one is not a fifth.
start_floor -n 1 -U 5
bench udp -j -t 10 -n 52 -r 1000 127.0.0.1 "$UPORT"
[ "$rc" -eq 1 ] && [ "$(field .duplicates)" -eq 10 ] &&
    [ "$(field .lost)" -eq 0 ] && [ "$(field .received)" -eq 52 ] ||
    fail "every 5th twice: exit $rc: $(cat "$T/out" "$T/err")"
grep -q '^echobench: datagram 4 came back twice' "$T/err" ||
    fail "duplicate: stderr: $(cat "$T/err")"
ok "every 5th datagram twice: 10 duplicates"
stop_floor

# Nothing listening: the ICMP port unreachable ends the socket.
UPORT=$("$ECHOTEST" freeport) || fail "no free port"
bench udp -j -c 2 -d 1 -w 0 127.0.0.1 "$UPORT"
[ "$rc" -eq 1 ] && [ "$(field .refused)" -eq 2 ] ||
    fail "nothing listening: exit $rc: $(cat "$T/out" "$T/err")"
grep -q 'Connection refused' "$T/err" || fail "refused: $(cat "$T/err")"
ok "nothing listening: both sockets refused, exit 1"

for args in "udp 127.0.0.1" "udp -s 7 127.0.0.1 $UPORT" \
    "udp -n 5 -d 1 127.0.0.1 $UPORT" "udp -r 0 127.0.0.1 $UPORT" \
    "rr -r 10 127.0.0.1 $UPORT" "rr -n 10 127.0.0.1 $UPORT"; do
	# shellcheck disable=SC2086 # the words are the arguments
	bench $args
	[ "$rc" -eq 2 ] || fail "echobench $args: exit $rc, not 2"
done
ok "usage errors exit 2"
