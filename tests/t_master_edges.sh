# The master's rarer paths, found unreached by make coverage: a reload
# asked for during a graceful stop, and the settings a reload cannot
# change.
. "$TESTS_SRCDIR/lib.sh"

ctl() {
	"$ECHODCTL" -s "$CTL" "$@"
}

# During a graceful stop a reload is refused, by echodctl and by SIGHUP,
# and the session being drained goes on echoing until it ends.
write_conf "prefork 2" "drain-timeout 30"
WANT_WORKERS=2 start_echod
master=$(master_pid)
background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/ready" \
    -m "$T/mark" -t 60
session=$LAST_BG
wait_for 10 "session" test -f "$T/ready"
[ "$(ctl stop -g)" = "graceful stop" ] || fail "stop -g"
if err=$(ctl reload 2>&1); then
	fail "a reload during a graceful stop: $err"
fi
[ "$err" = "echodctl: stopping" ] || fail "reload while stopping: $err"
kill -HUP "$master"
wait_for 5 "SIGHUP ignored" log_has "stopping: reload ignored"
touch "$T/mark"
wait_for 10 "the session to echo after both" test -f "$T/mark.done"
alive "$master" || fail "the master left before the session ended"
touch "$T/stop"
wait "$session" || fail "session"
wait_for 10 "echod gone after the drained session" exited "$master"
log_has "reloaded" && fail "a reload happened during the stop"
ok "graceful stop: reload refused (echodctl and SIGHUP), the session drained"

rm -f "$T/stop" "$T/mark" "$T/mark.done"

# A reload cannot move the pidfile or the control socket, nor change the
# control group: it says so, and keeps the ones it has.
: > "$LOG"
WANT_WORKERS=2 start_echod
master=$(master_pid)
sed -e "s|^pidfile .*|pidfile $T/other.pid|" \
    -e "s|^control socket .*|control socket $T/other.sock|" "$CONF" \
    >"$T/new.conf"
if getent group nogroup >/dev/null; then
	echo "control group nogroup" >>"$T/new.conf"
fi
mv "$T/new.conf" "$CONF"
kill -HUP "$master"
wait_for 5 "the reload" log_has "reloaded: generation 2"
log_has "pidfile $T/other.pid: a new pidfile takes effect only at the next start; still using $PIDFILE" ||
    fail "no word of the pidfile"
log_has "control socket $T/other.sock: a new control socket takes effect only at the next start; still using $CTL" ||
    fail "no word of the control socket"
if getent group nogroup >/dev/null; then
	log_has "control group: a new control group takes effect only at the next start" ||
	    fail "no word of the control group"
fi
[ "$(cat "$PIDFILE")" = "$master" ] || fail "the pidfile moved"
[ ! -e "$T/other.pid" ] && [ ! -e "$T/other.sock" ] ||
    fail "a new pidfile or control socket was made"
ctl status >/dev/null || fail "the control socket moved"
ok "reload: the pidfile, control socket and control group stay, with a warning each"
