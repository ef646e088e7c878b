# Stopping: SIGTERM and SIGINT stop everything within 2 s even with
# clients connected; SIGQUIT lets a session in progress finish first;
# drain-timeout bounds how long an old worker may take.
. "$TESTS_SRCDIR/lib.sh"

# All echod processes (master and workers) of this test.
procs_now() {
	local m=$(master_pid)
	echo "$m $(workers "$m" | tr '\n' ' ')"
}

# --- fast stop, with two sessions in progress -----------------------
write_conf "prefork 3" "drain-timeout 60"
WANT_WORKERS=3 start_echod
for i in 1 2; do
	background "$ECHOTEST" session -p "$PORT" -f "$T/stop$i" -r "$T/ready$i" -t 30
done
wait_for 10 "sessions established" eval 'test -f "$T/ready1" && test -f "$T/ready2"'
procs=$(procs_now)
kill -TERM "$(master_pid)"
wait_for 2 "every echod process gone after SIGTERM" all_exited $procs
[ ! -e "$PIDFILE" ] || fail "pidfile left after SIGTERM"
log_has "Terminated: fast stop" || fail "stop not logged"
log_has "stopped after [0-9]+ connections" || fail "end not logged"
ok "SIGTERM with clients connected: all gone within 2 s, pidfile removed"

# Closed server-side connections are in TIME_WAIT now: SO_REUSEADDR lets
# a new echod bind the port at once.
WANT_WORKERS=3 start_echod
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 4 || fail "no echo after restart"
ok "restart binds the same port at once"

procs=$(procs_now)
kill -INT "$(master_pid)"
wait_for 2 "every echod process gone after SIGINT" all_exited $procs
[ ! -e "$PIDFILE" ] || fail "pidfile left after SIGINT"
ok "SIGINT is a fast stop too"

# --- graceful stop --------------------------------------------------
WANT_WORKERS=3 start_echod
background "$ECHOTEST" session -p "$PORT" -f "$T/gstop" -r "$T/gready" \
    -m "$T/gmark" -t 30
session=$LAST_BG
wait_for 10 "session established" test -f "$T/gready"
master=$(master_pid)
kill -QUIT "$master"
wait_for 10 "graceful stop logged" log_has "Quit: graceful stop"
# New clients are refused at once...
refused() {
	! "$ECHOTEST" echo -p "$PORT" -n 1 -t 2 2>/dev/null
}
wait_for 10 "new connections refused" refused
# ...while the session in progress goes on echoing.
touch "$T/gmark"
wait_for 10 "session echoing after SIGQUIT" test -f "$T/gmark.done"
alive "$master" || fail "master gone before the session ended"
[ "$(nworkers "$master")" -eq 1 ] ||
    fail "idle workers should have left: $(nworkers "$master") remain"
ok "SIGQUIT: refuses new clients, the session in progress still echoes"
touch "$T/gstop"
wait "$session" || fail "the session failed during a graceful stop"
wait_for 10 "master exits once the session is over" eval '! alive $master'
[ ! -e "$PIDFILE" ] || fail "pidfile left after SIGQUIT"
ok "SIGQUIT: the session finished, then echod exited"

# --- drain-timeout bounds an idle session, on reload and on SIGQUIT ---
write_conf "prefork 2" "drain-timeout 1"
WANT_WORKERS=2 start_echod
background "$ECHOTEST" session -p "$PORT" -f "$T/never" -r "$T/dready" -t 60
session=$LAST_BG
wait_for 10 "session established" test -f "$T/dready"
kill -HUP "$(master_pid)"
wait_for 10 "old worker stopped at drain-timeout" \
    log_has "still busy after drain-timeout; stopping it"
wait_for 10 "session closed by the server" eval '! alive $session'
wait "$session" && fail "the session should have been cut"
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 4 || fail "no echo after the drain"
ok "reload: an idle session is cut after drain-timeout, new workers serve"

background "$ECHOTEST" session -p "$PORT" -f "$T/never" -r "$T/qready" -t 60
wait_for 10 "session established" test -f "$T/qready"
master=$(master_pid)
kill -QUIT "$master"
wait_for 10 "graceful stop bounded by drain-timeout" eval '! alive $master'
[ ! -e "$PIDFILE" ] || fail "pidfile left"
ok "SIGQUIT: an idle session holds the stop only for drain-timeout"
