# Limits: idle-timeout closes a silent client and one that never reads,
# and no one else; max-connections-per-address closes a client's extra
# connections at once, not another client's, at any load with "hard",
# and only for the last workers without it (t_peraddr has more of
# that); max-connections-per-worker
# recycles workers; backlog is the listening sockets' backlog; and the
# counters the master keeps are exact.
. "$TESTS_SRCDIR/lib.sh"

write_conf "prefork 3" "idle-timeout 1"
WANT_WORKERS=3 start_echod
# A steady session is progress, not idleness: it outlives the others.
background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/ready" -t 60
steady=$LAST_BG
wait_for 10 "session" test -f "$T/ready"

"$ECHOTEST" idle -p "$PORT" -t 10 || fail "a silent client was not closed"
ok "idle-timeout closes a client that sends nothing"
"$ECHOTEST" noread -p "$PORT" -t 10 || fail "a client that never reads was not closed"
ok "idle-timeout closes a client that never reads"

background "$ECHOTEST" idle -p "$PORT" -t 10
silent=$LAST_BG
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 6 || fail "echo beside a silent client"
wait "$silent" || fail "the second silent client was not closed"
touch "$T/stop"
wait "$steady" || fail "the steady session was cut"
ok "others unaffected: echo works, a steady session lasts"
kill -TERM "$(master_pid)"
wait_for 5 "echod to stop" eval '! pidfile_ready'
log_has "stopped after [0-9]+ connections, [0-9]+ bytes in, [0-9]+ bytes out, 3 idle timeouts" ||
    fail "want 3 idle timeouts counted: $(grep stopped "$LOG")"
ok "3 idle timeouts counted"

# Bounded memory: a client that never reads fills the kernel's buffers,
# not the worker.  One worker, warmed up first (echo, then a timeout),
# so that its peak resident size (VmHWM: nothing between two looks can
# hide) no longer grows from code and buffer pages touched the first
# time; then megabytes from a client that never reads add nothing.
: > "$LOG"
write_conf "prefork 1" "idle-timeout 1"
WANT_WORKERS=1 start_echod
w=$(workers)
"$ECHOTEST" echo -p "$PORT" -n 1048576 || fail "warm-up echo"
"$ECHOTEST" idle -p "$PORT" -t 10 >/dev/null || fail "warm-up timeout"
"$ECHOTEST" noread -p "$PORT" -t 10 >/dev/null || fail "warm-up noread"
peak() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$w/status"
}
before=$(peak)
for i in 1 2 3; do
	"$ECHOTEST" noread -p "$PORT" -t 10 || fail "noread $i"
done
[ "$(workers)" = "$w" ] || fail "the worker changed"
[ "$(peak)" -le $((before + 16)) ] ||
    fail "the worker's peak memory grew from $before to $(peak) KiB"
ok "3 clients that never read: the worker's peak memory stayed at $(peak) KiB"
kill -TERM "$(master_pid)"
wait_for 5 "echod to stop" eval '! pidfile_ready'

# max-connections-per-address 2 hard: a third connection from 127.0.0.1
# is closed at once, although the pool has room; 127.0.0.2 is another
# client.
: > "$LOG"
write_conf "prefork 4" "max-connections-per-address 2 hard"
start_echod
for i in 1 2; do
	background "$ECHOTEST" session -p "$PORT" -f "$T/stop2" -r "$T/ready2$i" -t 60
done
wait_for 10 "2 sessions" eval 'test -f "$T/ready21" && test -f "$T/ready22"'
"$ECHOTEST" echo -p "$PORT" -n 64 -t 5 2>/dev/null &&
    fail "a third connection from 127.0.0.1 was served"
log_has "127\.0\.0\.1:[0-9]+: its address has max-connections-per-address \(2\) connections already" ||
    fail "the refusal is not logged"
"$ECHOTEST" echo -B 127.0.0.2 -p "$PORT" -n 65536 -c 2 ||
    fail "127.0.0.2 was not served"
ok "per-address limit, hard: 127.0.0.1's third connection closed, 127.0.0.2 served"
touch "$T/stop2"
kill -TERM "$(master_pid)"
wait_for 5 "echod to stop" eval '! pidfile_ready'
log_has "idle timeouts, 1 refused by max-connections-per-address" ||
    fail "the refusal is not counted: $(grep stopped "$LOG")"

# max-connections-per-address 2 without "hard" binds only near
# max-workers (4 here; the reserve is 1): while the pool has room,
# 127.0.0.1 has 3 connections, more than 2; its fourth would take the
# last worker and is closed; 127.0.0.2 gets that worker.
: > "$LOG"
write_conf "prefork 4" "max-workers 4" "max-connections-per-address 2"
start_echod
for i in 1 2 3; do
	background "$ECHOTEST" session -p "$PORT" -f "$T/stop3" -r "$T/ready3$i" -t 60
done
wait_for 10 "3 sessions from 127.0.0.1" eval \
    'test -f "$T/ready31" && test -f "$T/ready32" && test -f "$T/ready33"'
ok "per-address limit: 3 connections from 127.0.0.1 served, over 2, while the pool has room"
"$ECHOTEST" echo -p "$PORT" -n 64 -t 5 2>/dev/null &&
    fail "127.0.0.1's fourth connection took the last worker"
log_has "127\.0\.0\.1:[0-9]+: its address already holds its share of 2 connections while 4 of max-workers \(4\) are busy" ||
    fail "the refusal is not logged"
"$ECHOTEST" echo -B 127.0.0.2 -p "$PORT" -n 65536 -c 1 ||
    fail "127.0.0.2 was not served"
ok "per-address limit: 127.0.0.1's fourth connection closed, 127.0.0.2 served by the last worker"
touch "$T/stop3"
kill -TERM "$(master_pid)"
wait_for 5 "echod to stop" eval '! pidfile_ready'
log_has "idle timeouts, 1 refused by max-connections-per-address" ||
    fail "the refusal is not counted: $(grep stopped "$LOG")"

# max-connections-per-worker 3, one worker: 10 connections, 3 recycles.
: > "$LOG"
write_conf "prefork 1" "max-connections-per-worker 3"
WANT_WORKERS=1 start_echod -v
first=$(workers)
for i in 1 2 3 4 5 6 7 8 9 10; do
	"$ECHOTEST" echo -p "$PORT" -n 100 || fail "connection $i"
done
n=$(grep -c "recycled after max-connections-per-worker" "$LOG")
[ "$n" -eq 3 ] || fail "$n recycles for 10 connections, want 3"
[ "$(workers)" != "$first" ] || fail "the first worker is still there"
log_has "worker [0-9]+ \(generation 1\) (exited|killed)" &&
    fail "a recycled worker was taken for a failure"
ok "max-connections-per-worker 3: 10 connections, 3 workers recycled"

# Exact counters, across a worker's death: 3 x 1000 bytes, a half-closed
# 5000, kill -9 of the worker, then 700 more.
"$ECHOTEST" echo -p "$PORT" -n 1000 -c 3 || fail "echo"
"$ECHOTEST" echo -p "$PORT" -n 5000 -s || fail "half-close"
kill -9 "$(workers)"
wait_for 10 "a new worker" eval '[ "$(nworkers)" -eq 1 ] && ! workers | grep -qx "$first"'
"$ECHOTEST" echo -p "$PORT" -n 700 || fail "echo after the kill"
kill -TERM "$(master_pid)"
wait_for 5 "echod to stop" eval '! pidfile_ready'
log_has "stopped after 15 connections, 9700 bytes in, 9700 bytes out, 0 idle timeouts, 0 refused" ||
    fail "counters: $(grep stopped "$LOG"), want 15 connections and 9700 bytes each way"
ok "counters exact: 15 connections, 9700 bytes in and out"

# backlog: the listening socket's backlog, changed in place on reload.
: > "$LOG"
write_conf "prefork 1" "backlog 7"
WANT_WORKERS=1 start_echod
backlog() {
	ss -ltnH "sport = :$PORT" | awk '{ print $3 }'
}
[ "$(backlog)" = 7 ] || fail "backlog $(backlog), want 7"
inode=$(listen_inode)
write_conf "prefork 1" "backlog 9"
kill -HUP "$(master_pid)"
wait_for 10 "reload" log_has "reloaded: generation 2"
[ "$(backlog)" = 9 ] || fail "backlog $(backlog) after reload, want 9"
[ "$(listen_inode)" = "$inode" ] || fail "the socket changed"
ok "backlog 7, then 9 on the same socket after a reload"
