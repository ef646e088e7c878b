# Reload and stop under fire (CI-sized): 8 clients connecting nonstop and
# 4 long streams checking every byte, while the master gets 50 reloads
# flipping between 3 and 6 workers and 25 kill -9 of idle workers.  Goal:
# no failed connection, no lost or corrupted byte.  (A busy worker's
# death takes its client with it, so only idle workers are killed.)
# "make soak" runs it full-sized: SOAK_RELOADS, SOAK_KILLS and
# SOAK_STREAM_BYTES (per stream) say how much.
. "$TESTS_SRCDIR/lib.sh"

RELOADS=${SOAK_RELOADS:-50}
KILLS=${SOAK_KILLS:-25}
STREAM_BYTES=${SOAK_STREAM_BYTES:-20000000}
# The clients' own deadline: generous, since killing only idle workers
# under nonstop clients can take a second per kill.
TIMEOUT=$(( 300 + RELOADS + 2 * KILLS ))

command -v jq >/dev/null 2>&1 || fail "jq is needed"
write_conf "prefork 3" "drain-timeout 120"
WANT_WORKERS=3 start_echod
master=$(master_pid)

"$ECHOTEST" load -p "$PORT" -f "$T/stop" -c 8 -t "$TIMEOUT" >"$T/load.out" 2>&1 &
load=$!
BG_PIDS="$BG_PIDS $load"
"$ECHOTEST" echo -p "$PORT" -n "$STREAM_BYTES" -c 4 -t "$TIMEOUT" \
    >"$T/streams.out" 2>&1 &
streams=$!
BG_PIDS="$BG_PIDS $streams"

state_of() {
	"$ECHODCTL" -s "$CTL" -j workers |
	    jq -r --argjson pid "$1" '.workers[] | select(.pid == $pid).state'
}
# kill -9 an idle worker, without the race of it taking a client between
# the look and the kill: stop it first (a stopped worker takes nothing;
# a client it was woken for waits in the queue for another), and kill it
# only if it is idle and holds no socket but its listener.
kill_idle() {
	local w
	w=$("$ECHODCTL" -s "$CTL" -j workers |
	    jq -r '[.workers[] | select(.state == "idle")][0].pid // empty')
	[ -n "$w" ] && kill -STOP "$w" 2>/dev/null || return 1
	# kill returns before the worker has stopped: until it has, it may
	# still take a client after the look below.
	wait_for 5 "worker $w to stop" stopped "$w"
	if [ "$(state_of "$w")" = idle ] &&
	    [ "$(ls -l "/proc/$w/fd" 2>/dev/null | grep -c 'socket:')" -eq 1 ]; then
		kill -9 "$w" && return 0
	fi
	kill -CONT "$w" 2>/dev/null
	return 1
}
stopped() {
	[ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = T ] ||
	    ! [ -e "/proc/$1" ]
}
kills=0
for gen in $(seq 2 $((RELOADS + 1))); do
	if [ $((gen % 2)) -eq 0 ]; then n=6; else n=3; fi
	write_conf "prefork $n" "drain-timeout 120"
	kill -HUP "$master"
	wait_for 10 "reload to generation $gen" \
	    log_has "reloaded: generation $gen, $n workers"
	if [ $((gen % 2)) -eq 0 ] && kill_idle; then
		kills=$((kills + 1))
	fi
done
while [ "$kills" -lt "$KILLS" ]; do
	kill_idle && kills=$((kills + 1))
done

wait "$streams" || fail "streams: $(cat "$T/streams.out")"
touch "$T/stop"
wait "$load" || fail "load: $(cat "$T/load.out")"
grep -q "failed 0$" "$T/load.out" || fail "load: $(cat "$T/load.out")"
alive "$master" || fail "the master died"
bytes=$(( 4 * STREAM_BYTES ))
ok "$RELOADS reloads, $kills kills: $(cat "$T/load.out"), 4 streams of $STREAM_BYTES bytes: $bytes bytes verified, 0 lost"
wait_for 10 "only the last generation left" eval '[ "$(nworkers)" -eq 3 ]'
[ "$(zombies)" -eq 0 ] || fail "zombies"
ok "afterwards: 3 workers, no zombies"
