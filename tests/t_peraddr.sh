# max-connections-per-address without "hard": it gets in no load test's
# way, and still keeps one address from taking every worker.
#
#   - The shipped configuration (etc/echod.conf, only the port, pidfile
#     and control socket changed): 200 clients from 127.0.0.1 that
#     connect, echo and close, nonstop for 5 s, see no error, although
#     that is more than the 64 connections it allows one address.
#   - The same with max-workers 32: one address opens 40 connections and
#     keeps them; it gets more than the reserve leaves, never the last
#     worker, and 127.0.0.2 is served at once.
#   - max-workers 16, max-connections-per-address 4: an address that has
#     held 14 connections for over a second, more than its share, is
#     refused the 15th, a worker of the reserve; 127.0.0.2 gets it.
. "$TESTS_SRCDIR/lib.sh"

ECHOBENCH=${ECHOBENCH:-$(dirname "$ECHOD")/echobench}
SAMPLE="$TESTS_SRCDIR/../etc/echod.conf"

ctl() {
	"$ECHODCTL" -s "$CTL" "$@"
}

# shipped_conf SED-EXPRESSION...: the sample configuration with this
# test's port, pidfile and control socket, and the given changes.
shipped_conf() {
	local e args=()
	for e in "$@"; do
		args+=(-e "$e")
	done
	grep -q '^listen on \* port 2000$' "$SAMPLE" ||
	    fail "the sample no longer listens on * port 2000"
	sed -e "s/^listen on \* port 2000$/listen on * port $PORT/" \
	    "${args[@]}" "$SAMPLE" > "$CONF"
	{
		echo "pidfile $PIDFILE"
		echo "control socket $CTL"
	} >> "$CONF"
}

stop_echod() {
	kill -TERM "$(master_pid)"
	wait_for 10 "echod to stop" eval '! pidfile_ready'
}

# --- 1: a load test from one host against the shipped configuration.
grep -qx 'max-connections-per-address 64' "$SAMPLE" ||
    fail "the sample no longer sets max-connections-per-address 64"
shipped_conf
start_echod
timeout -k 5 60 "$ECHOBENCH" connect -j -c 200 -d 5 -w 0 127.0.0.1 "$PORT" \
    >"$T/storm.json" 2>"$T/storm.err"
rc=$?
log "$(cat "$T/storm.json")"
[ "$(jq .errors "$T/storm.json")" = 0 ] && [ "$rc" -eq 0 ] ||
    fail "200 clients from one address: exit $rc, $(jq -c '{errors, refused, reset, closed}' "$T/storm.json"): $(head -n 3 "$T/storm.err")"
[ "$(jq .connects "$T/storm.json")" -gt 1000 ] ||
    fail "too few connections to tell: $(cat "$T/storm.json")"
[ "$(ctl -j status | jq .totals.refused)" = 0 ] ||
    fail "connections refused: $(ctl -j status | jq -c .totals)"
ok "shipped configuration: 200 clients from 127.0.0.1 for 5 s, $(jq .connects "$T/storm.json") connections, no error"
stop_echod

# --- 2: one address opens 40 connections and holds them; max-workers 32
# leaves a reserve of 4.
: > "$LOG"
shipped_conf 's/^max-workers 256$/max-workers 32/'
grep -qx 'max-workers 32' "$CONF" || fail "the sample no longer sets max-workers 256"
start_echod
background "$ECHOBENCH" hold -j -c 40 -d 60 -t 90 127.0.0.1 "$PORT"
hold=$LAST_BG
settled() {
	ctl -j status | jq -e '.totals.active + .totals.refused == 40 and
	    .totals.refused > 0' >/dev/null
}
wait_for 20 "40 connections served or refused" settled
active=$(ctl -j status | jq .totals.active)
[ "$active" -gt 28 ] && [ "$active" -lt 32 ] ||
    fail "127.0.0.1 holds $active workers of 32: want more than 28, less than 32"
log_has "127\.0\.0\.1:[0-9]+: its address already holds its share of 28 connections while 32 of max-workers \(32\) are busy" ||
    fail "the refusal is not logged as such"
ok "40 held connections from 127.0.0.1: $active served, the last worker kept"
"$ECHOTEST" echo -B 127.0.0.2 -p "$PORT" -n 1000 -t 1 ||
    fail "127.0.0.2 was not served within a second"
ok "127.0.0.2 served within a second beside them"
kill -TERM "$hold"
stop_echod

# --- 3: the reserve against an address that holds its connections:
# max-workers 16 (a reserve of 2), a share of 4.  14 connections, more
# than 4, while the pool has room; once they have lasted a second, a
# 15th is refused, and 127.0.0.2 is served.
: > "$LOG"
write_conf "prefork 16" "max-workers 16" "max-connections-per-address 4"
WANT_WORKERS=16 start_echod
background "$ECHOBENCH" hold -j -c 14 -d 60 -t 90 127.0.0.1 "$PORT"
hold=$LAST_BG
held() {
	ctl -j workers | jq -e '[.workers[] | select(.state == "busy" and
	    .connection_age >= 1.1)] | length == 14' >/dev/null
}
wait_for 20 "14 connections held for over a second" held
[ "$(ctl -j status | jq .totals.refused)" = 0 ] ||
    fail "refused while the pool had room: $(ctl -j status | jq -c .totals)"
ok "14 connections from 127.0.0.1, over its share of 4, while the pool has room"
"$ECHOTEST" echo -p "$PORT" -n 64 -t 5 2>/dev/null &&
    fail "127.0.0.1's 15th connection took a worker of the reserve"
log_has "127\.0\.0\.1:[0-9]+: its address already holds its share of 4 connections while 15 of max-workers \(16\) are busy" ||
    fail "the refusal is not logged as such"
"$ECHOTEST" echo -B 127.0.0.2 -p "$PORT" -n 1000 -c 2 -t 5 ||
    fail "127.0.0.2 was not served by the reserve"
ok "its 15th connection refused, 2 from 127.0.0.2 served by the reserve"
kill -TERM "$hold"
stop_echod
