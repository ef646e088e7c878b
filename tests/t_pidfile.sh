# The pidfile's lock decides whether echod runs.  A second instance with
# the same pidfile (and another port, so that only the pidfile conflicts)
# exits non-zero naming the running pid, binds nothing and leaves the
# first untouched.  A stale pidfile (master killed with SIGKILL, its
# workers following it through PR_SET_PDEATHSIG) does not stop a new
# start on the same port; SIGTERM then removes the pidfile.
. "$TESTS_SRCDIR/lib.sh"

write_conf "prefork 3"
WANT_WORKERS=3 start_echod
first=$(master_pid)
first_workers=$(workers)
inode=$(listen_inode)

# Second instance: same pidfile, its own port.
PORT2=$("$ECHOTEST" freeport) || fail "no second free port"
[ "$PORT2" != "$PORT" ] || fail "freeport gave $PORT twice"
CONF2="$T/second.conf"
printf 'pidfile %s\nprefork 3\nlisten on 127.0.0.1 port %s\n' \
    "$PIDFILE" "$PORT2" > "$CONF2"
"$ECHOD" -d -f "$CONF2" >"$T/second.out" 2>"$T/second.err" &
second=$!
BG_PIDS="$BG_PIDS $second"
wait_for 10 "the second instance to exit" exited "$second"
wait "$second"
rc=$?
[ "$rc" -ne 0 ] || fail "second instance exited 0"
grep -q "already running as pid $first\b" "$T/second.err" ||
    { cat "$T/second.err"; fail "second instance does not name pid $first"; }
ok "second instance: exit $rc, \"already running as pid $first\""

[ -z "$(listen_inode "$PORT2")" ] || fail "second instance left port $PORT2 bound"
[ "$(master_pid)" = "$first" ] || fail "pidfile now says \"$(master_pid)\", not $first"
alive "$first" || fail "first master $first is gone"
[ "$(workers)" = "$first_workers" ] || fail "first instance's workers changed"
[ "$(listen_inode)" = "$inode" ] || fail "first instance's socket changed"
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 6 || fail "first instance no longer echoes"
ok "first instance unaffected: pidfile still $first, same workers, echoes"

# Stale pidfile: the master dies without cleaning up.
# (bash would report "Killed" on stderr when it reaps the job)
{
	kill -KILL "$first"
	wait_for 10 "master $first to die" exited "$first"
	wait "$first"
} 2>/dev/null
wait_gone 10 "workers $(echo $first_workers) to follow their master" \
    $first_workers
ok "SIGKILL on the master: its workers exit too"
[ -z "$(listen_inode)" ] || fail "port $PORT still listening with no master"
ok "nothing listens on port $PORT any more"

[ -f "$PIDFILE" ] || fail "the pidfile is gone: nothing stale to test"
[ "$(cat "$PIDFILE")" = "$first" ] || fail "pidfile says \"$(cat "$PIDFILE")\""
ok "stale pidfile left behind, naming dead pid $first"

: > "$LOG"
WANT_WORKERS=3 start_echod
new=$(master_pid)
[ "$new" != "$first" ] || fail "pidfile still names $first"
log_has 'already running' && fail "the restart saw the stale pidfile as running"
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 6 || fail "restarted instance does not echo"
ok "restart over the stale pidfile: new pid $new written, echoes on port $PORT"

new_workers=$(workers)
kill -TERM "$new"
wait_for 10 "master $new to exit" exited "$new"
wait_gone 10 "workers to exit" $new_workers
wait_for 10 "pidfile removed" test ! -e "$PIDFILE"
ok "SIGTERM: master and workers gone, pidfile removed"
