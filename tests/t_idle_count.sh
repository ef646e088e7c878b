# The pool's count of idle workers stays exact when workers are killed
# at any moment, in the middle of their change from idle to busy above
# all, and so the master is not woken for nothing afterwards.
#
# The count is what a worker reads when it takes a connection, to tell
# whether the pool has fallen below min-spare and the master must start
# more (worker.c): one too low, and every connection that leaves
# min-spare idle wakes the master.  So the test counts the master's
# wake-ups (voluntary context switches: it sleeps in ppoll() between
# them) over a run of connections that never leave fewer than min-spare
# idle: with an exact count there are none to speak of.
#
# The fault shim kills a worker (SIGKILL) in its first clock_gettime()
# after it accepts a connection from 127.0.0.3: the time stamp it gives
# its slot as it turns busy, which a count kept beside the slots had
# already been lowered by.  Then kill -9 of random busy and idle workers
# under load, for the moments no one could pick.
. "$TESTS_SRCDIR/lib.sh"

[ -f "$FAULTSHIM" ] || fail "no fault shim at $FAULTSHIM"

ECHOBENCH=${ECHOBENCH:-$(dirname "$ECHOD")/echobench}

# 4 workers, 2 of them kept idle at least: one connection at a time
# leaves 3 idle, never fewer than min-spare, so it never needs the
# master.  (With a count 2 too low, it would every time.)
write_conf "prefork 4" "min-spare 2" "max-spare 4" "sandbox no"
ECHOD_FAULT=kill-when-busy LD_PRELOAD="$FAULTSHIM" "$ECHOD" -d -f "$CONF" \
    >>"$LOG" 2>&1 &
ECHOD_PID=$!
BG_PIDS="$BG_PIDS $ECHOD_PID"
wait_for 10 "pidfile of a running master" pidfile_ready
wait_for 10 "4 idle workers" eval 'has_workers 4 && all_idle'

# Three workers killed as they turn busy, one after the other.
for i in 1 2 3; do
	before=$(workers | tr '\n' ' ')
	"$ECHOTEST" echo -B 127.0.0.3 -p "$PORT" -n 64 -t 5 2>/dev/null &&
	    fail "the connection from 127.0.0.3 was served: no fault"
	wait_for 10 "kill $i: the worker dead and replaced" eval \
	    '[ "$(workers | tr "\n" " ")" != "$before" ] && has_workers 4 && all_idle'
done
n=$(grep -c "killed by signal 9" "$LOG")
[ "$n" -eq 3 ] || fail "$n workers killed by the shim, want 3"
ok "3 workers killed by SIGKILL as each turned busy, each replaced"

# Random kills under load: busy and idle workers alike.
background "$ECHOTEST" load -p "$PORT" -f "$T/stop" -c 3 -t 60
load=$LAST_BG
for i in $(seq 30); do
	w=$(workers | shuf -n 1)
	[ -n "$w" ] || fail "no worker to kill"
	kill -9 "$w"
	wait_for 10 "kill -9 $i: worker $w reaped and replaced" eval \
	    '! workers | grep -qx "$w" && [ "$(nworkers)" -ge 4 ]'
done
touch "$T/stop"
wait "$load"
wait_for 10 "4 idle workers after the kills" eval 'has_workers 4 && all_idle'
ok "30 kill -9 of random workers under load"

# Now connections one at a time.  With an exact count, the master sleeps
# through them; with a count that the kills left low, every one of them
# would wake it.
switches() {
	awk '/^voluntary_ctxt_switches/ { print $2 }' \
	    "/proc/$(master_pid)/status"
}
s0=$(switches)
timeout -k 5 60 "$ECHOBENCH" connect -j -c 1 -d 1 -w 0 127.0.0.1 "$PORT" \
    >"$T/bench.json" 2>"$T/bench.err" || fail "echobench: $(cat "$T/bench.json" "$T/bench.err")"
s1=$(switches)
conns=$(jq .connects "$T/bench.json")
wakes=$((s1 - s0))
log "$conns connections, one at a time: the master woke $wakes times"
[ "$conns" -ge 200 ] || fail "only $conns connections"
[ "$wakes" -le $((conns / 50)) ] ||
    fail "the master woke $wakes times for $conns connections that never left fewer than min-spare idle: the idle count is wrong"
ok "$conns connections after the kills woke the master $wakes times: the idle count is exact"
