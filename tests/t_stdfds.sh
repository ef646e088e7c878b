# Started with fds 0, 1 and 2 closed (as some supervisors and scripts
# do), echod must not let the pidfile or a listening socket take one of
# those numbers: daemonizing would then put /dev/null over them, and in
# the foreground its log lines would go into whatever holds fd 2.  As a
# daemon: the pidfile names a live master that holds its lock (a second
# instance is refused) and the daemon echoes.  In the foreground with
# stderr closed: the pidfile holds nothing but the pid.
. "$TESTS_SRCDIR/lib.sh"

pid_only() {
	grep -Eqx '[0-9]+' "$PIDFILE" 2>/dev/null
}

write_conf "prefork 2"
("$ECHOD" -f "$CONF" <&- >&- 2>&-) &
starter=$!
BG_PIDS="$BG_PIDS $starter"
wait_for 10 "echod to return after daemonizing" exited "$starter"
wait "$starter" || fail "echod -f with fds 0-2 closed returned $?"
wait_for 10 "the pidfile to name a running master" pidfile_ready
m=$(master_pid)
wait_for 10 "2 workers" has_workers 2
ok "started with fds 0-2 closed: pidfile names running master $m"

for fd in 0 1 2; do
	target=$(readlink "/proc/$m/fd/$fd")
	[ "$target" = /dev/null ] || fail "master fd $fd is $target"
done
readlink /proc/"$m"/fd/* | grep -qxF "$PIDFILE" ||
    fail "master no longer holds the pidfile (and so its lock)"
ok "fds 0-2 on /dev/null, pidfile still held"

"$ECHOTEST" echo -p "$PORT" -n 65536 -c 4 || fail "no echo"
ok "echoes"

"$ECHOD" -d -f "$CONF" >"$T/second.out" 2>"$T/second.err" &
second=$!
BG_PIDS="$BG_PIDS $second"
wait_for 10 "the second instance to exit" exited "$second"
grep -q "already running as pid $m\b" "$T/second.err" ||
    { cat "$T/second.err"; fail "a second instance was not refused by the lock"; }
ok "a second instance is refused: \"already running as pid $m\""

kill -TERM "$m"
wait_for 10 "master to exit" exited "$m"
wait_for 10 "pidfile removed" test ! -e "$PIDFILE"
ok "SIGTERM: stopped, pidfile removed"

# Foreground, stderr closed: log lines must not land in the pidfile.
("$ECHOD" -d -f "$CONF" 2>&- >/dev/null) &
fg=$!
BG_PIDS="$BG_PIDS $fg"
wait_for 10 "pidfile of a running master" pidfile_ready
wait_for 10 "2 workers" has_workers 2
pid_only || fail "pidfile holds more than the pid: $(head -c 200 "$PIDFILE")"
ok "-d with stderr closed: the pidfile holds only the pid"
