# The adaptive pool: more clients than prefork workers are all served at
# once; after the burst the pool shrinks back; at max-workers clients
# wait in the backlog, the event is logged, and they are served as soon
# as a worker frees up.
. "$TESTS_SRCDIR/lib.sh"

# A fixed pool of 4 serves 4 of 300 held connections; this one grows.
write_conf "prefork 4" "min-spare 2" "max-spare 8" "max-workers 400"
start_echod
"$ECHOTEST" hold -p "$PORT" -c 300 -t 60 || fail "300 held clients not all served"
ok "300 clients holding their connections, all served (prefork 4)"

# At rest: at most max-spare (8) idle workers beside $1 busy ones, and
# never fewer than prefork (4).
calm() {
	local n
	n=$(nworkers)
	[ "$n" -le $((8 + $1)) ] && [ "$n" -ge 4 ]
}
wait_for 30 "the pool to shrink back to max-spare" calm 0
log_has "max-workers .* reached" && fail "max-workers reached below 400"
ok "after the burst the pool shrank back to $(nworkers) workers"
[ "$(zombies)" -eq 0 ] || fail "zombies after shrinking"

# Resting above prefork, the master waits: it looks at the pool twice a
# second, not in a loop (which took a full CPU).  Its CPU ticks over a
# second of rest; a spinning master uses about 100.
[ "$(nworkers)" -gt 4 ] ||
    fail "the pool shrank to $(nworkers), below max-spare idle ones"
used=$(ticks_over "$(master_pid)" 1000)
[ "$used" -le 10 ] ||
    fail "the master used $used ticks in 1 s at rest with $(nworkers) workers"
ok "at rest with $(nworkers) workers the master waits ($used ticks in 1 s)"

# A session held open while the pool shrinks keeps its worker.
background "$ECHOTEST" session -p "$PORT" -f "$T/s1.stop" -r "$T/s1.ready" \
    -m "$T/s1.mark" -t 60
s1=$LAST_BG
wait_for 10 "session" test -f "$T/s1.ready"
"$ECHOTEST" hold -p "$PORT" -c 50 -t 30 || fail "50 held clients"
wait_for 30 "the pool to shrink again" calm 1
touch "$T/s1.mark"
wait_for 10 "the session still echoing" test -f "$T/s1.mark.done"
touch "$T/s1.stop"
wait "$s1" || fail "a session was cut while the pool shrank"
ok "shrinking retires idle workers only"

kill -TERM "$(master_pid)"
wait_for 5 "echod to stop" eval '! pidfile_ready'

# min-spare 0: a fixed pool, Stevens' model: 2 workers serve 2 of 10
# held clients, and the pool does not grow.
: > "$LOG"
write_conf "prefork 2" "min-spare 0"
WANT_WORKERS=2 start_echod
if "$ECHOTEST" hold -p "$PORT" -c 10 -t 3 >"$T/fixed.out" 2>&1; then
	fail "a fixed pool of 2 served 10 held clients"
fi
grep -q "hold: 2 of 10 connections served at once" "$T/fixed.out" ||
    fail "fixed pool: $(tail -n 1 "$T/fixed.out")"
[ "$(nworkers)" -eq 2 ] || fail "the fixed pool grew to $(nworkers)"
ok "min-spare 0: a fixed pool of prefork workers"
kill -TERM "$(master_pid)"
wait_for 5 "echod to stop" eval '! pidfile_ready'

# At max-workers: the fifth client waits in the backlog until a worker
# is free; that is logged, with a count.
: > "$LOG"
write_conf "prefork 2" "min-spare 1" "max-spare 4" "max-workers 4"
WANT_WORKERS=2 start_echod
for i in 1 2 3 4; do
	background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/ready$i" -t 60
done
wait_for 10 "4 sessions" eval 'test -f "$T/ready1" && test -f "$T/ready2" &&
    test -f "$T/ready3" && test -f "$T/ready4"'
background "$ECHOTEST" echo -p "$PORT" -n 1000 -c 2 -t 60
queued=$LAST_BG
wait_for 10 "max-workers logged" log_has "max-workers \(4\) reached: new clients wait in the backlog \(reached 1 times"
[ "$(nworkers)" -eq 4 ] || fail "$(nworkers) workers, max-workers is 4"
alive "$queued" || fail "queued clients were served beyond max-workers"
ok "at max-workers: 4 workers, the next clients wait, logged and counted"
touch "$T/stop"
wait "$queued" || fail "queued clients not served once workers freed up"
ok "queued clients served as soon as workers freed up"
