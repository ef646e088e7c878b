# Readiness notification (sd_notify(3)), as systemd's Type=notify sees
# it.  echotest stands in for systemd: it listens on a NOTIFY_SOCKET of
# the test's own and writes down each message, one line each, its
# fields separated by "|".  The master must say:
#   READY=1          only once prefork workers are idle, with a STATUS=
#   STATUS=          the busy and idle workers as they change, at most
#                    once a second, however many connections come
#   RELOADING=1      with MONOTONIC_USEC (CLOCK_MONOTONIC, in µs) at a
#                    reload by SIGHUP or echodctl, then READY=1 once the
#                    new generation serves
#   READY=1          with STATUS=reload failed: FILE:LINE: ... when the
#                    configuration is refused, and echodctl reload fails
#   STOPPING=1       at a stop
# and, forked into the background (no -d), READY=1 names its MAINPID=.
. "$TESTS_SRCDIR/lib.sh"

with_libsystemd "notification" || exit 0

SOCK="$T/notify.sock"
OUT="$T/notify.out"
background "$ECHOTEST" notify -U "$SOCK" -O "$OUT" -f "$T/notify.stop" \
    -t 300
wait_for 10 "the notify socket" test -S "$SOCK"

# said PATTERN: a message matching the extended regex has come.
said() {
	grep -Eq -- "$1" "$OUT" 2>/dev/null
}
# kinds: the order of READY, RELOADING and STOPPING messages.
kinds() {
	sed -n 's/^\(READY\|RELOADING\|STOPPING\)=1.*/\1/p' "$OUT" |
	    tr '\n' ' '
}

write_conf "prefork 3"
NOTIFY_SOCKET="$SOCK" WANT_WORKERS=3 start_echod
master=$(master_pid)
wait_for 10 "READY=1" said '^READY=1'
said '^READY=1\|STATUS=0 busy, 3 idle workers \(generation 1\)$' ||
    fail "READY=1 came before the 3 workers were idle: $(cat "$OUT")"
ok "READY=1 once the 3 workers are idle: $(grep '^READY' "$OUT")"

# One client: one busy worker, then none, each said once.
background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/ready" -t 60
session=$LAST_BG
wait_for 10 "the session" test -f "$T/ready"
wait_for 5 "STATUS= with a busy worker" \
    said '^STATUS=1 busy, 2 idle workers \(generation 1\)$'
touch "$T/stop"
wait "$session" || fail "the session failed"
wait_for 5 "STATUS= with no busy worker" \
    said '^STATUS=0 busy, 3 idle workers \(generation 1\)$'
ok "STATUS= follows the busy and idle workers"

# Many connections, each changing the counts: still one STATUS= a second
# at most.
loaded_3s() {
	[ $(( $(now_ms) - start )) -ge 3000 ]
}
last_is() {
	[ "$(tail -n 1 "$OUT")" = "$1" ]
}
before=$(grep -c '^STATUS=' "$OUT")
rm -f "$T/stop" "$T/ready"
# One client held through the load as well: a pool that keeps up with
# the short connections at prefork may show all its workers idle at
# every once-a-second look, so only the held one makes sure the counts
# differ from the last said.
background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/ready" -t 60
held=$LAST_BG
wait_for 10 "the held session" test -f "$T/ready"
start=$(now_ms)
"$ECHOTEST" load -p "$PORT" -f "$T/stop" -c 3 -t 60 >"$T/load.out" 2>&1 &
load=$!
BG_PIDS="$BG_PIDS $load"
wait_for 10 "3 s of load" loaded_3s
touch "$T/stop"
wait "$load" || fail "the load failed: $(cat "$T/load.out")"
wait "$held" || fail "the held session failed"
wait_for 5 "STATUS= with no busy worker" last_is \
    "STATUS=0 busy, 3 idle workers (generation 1)"
elapsed=$(( $(now_ms) - start ))
n=$(( $(grep -c '^STATUS=' "$OUT") - before ))
[ "$n" -ge 1 ] || fail "no STATUS= during the load"
[ "$n" -le $(( elapsed / 1000 + 2 )) ] ||
    fail "$n STATUS= messages in $elapsed ms"
ok "$n STATUS= messages in $elapsed ms of load ($(cat "$T/load.out"))"

# Reload by SIGHUP.
write_conf "prefork 2"
kill -HUP "$master"
wait_for 10 "RELOADING=1" said '^RELOADING=1\|MONOTONIC_USEC=[0-9]+$'
wait_for 10 "READY=1 of generation 2" \
    said '^READY=1\|STATUS=0 busy, 2 idle workers \(generation 2'
usec=$(sed -n 's/^RELOADING=1|MONOTONIC_USEC=//p' "$OUT")
# CLOCK_MONOTONIC never runs ahead of CLOCK_BOOTTIME, /proc/uptime's.
up=$(cut -d. -f1 /proc/uptime)
up=$(( (up + 2) * 1000000 ))
[ "$usec" -gt 0 ] && [ "$usec" -le "$up" ] ||
    fail "MONOTONIC_USEC=$usec, uptime ${up} us"
ok "SIGHUP: RELOADING=1 with MONOTONIC_USEC=$usec, then READY=1"

# A refused reload, through echodctl as ExecReload= does: it fails, and
# systemd hears READY=1 with the reason.
write_conf "prefork 2" "prefork x"
line=$(grep -n '^prefork x' "$CONF" | cut -d: -f1)
if "$ECHODCTL" -s "$CTL" reload >"$T/reload" 2>&1; then
	fail "echodctl reload of a bad file succeeded: $(cat "$T/reload")"
fi
grep -q "$CONF:$line:" "$T/reload" ||
    fail "echodctl reload: $(cat "$T/reload")"
wait_for 10 "READY=1 with the failure" \
    said "^READY=1\|STATUS=reload failed: $CONF:$line: prefork"
[ "$(kinds)" = "READY RELOADING READY RELOADING READY " ] ||
    fail "messages out of order: $(kinds)"
"$ECHOTEST" echo -p "$PORT" -n 10000 || fail "no echo after the bad reload"
wait_for 5 "STATUS= keeping the failure" \
    said "^STATUS=0 busy, 2 idle workers \(generation 2\); reload failed: $CONF:$line:"
ok "bad reload: echodctl fails, READY=1 with STATUS=reload failed: ..."

write_conf "prefork 3"
"$ECHODCTL" -s "$CTL" reload >"$T/reload" 2>&1 ||
    fail "echodctl reload: $(cat "$T/reload")"
wait_for 10 "READY=1 of generation 3" \
    said '^READY=1\|STATUS=0 busy, 3 idle workers \(generation 3[,)]'
ok "echodctl reload: RELOADING=1, READY=1 once generation 3 serves"

kill -TERM "$master"
wait_gone 10 "the master" "$master"
wait_for 5 "STOPPING=1" said '^STOPPING=1'
[ "$(kinds)" = "READY RELOADING READY RELOADING READY RELOADING READY STOPPING " ] ||
    fail "messages out of order: $(kinds)"
ok "STOPPING=1 at the stop, after: $(kinds)"

# As a daemon (no -d) the pid systemd started is gone: READY=1 names the
# daemon's own.
: >"$OUT"
NOTIFY_SOCKET="$SOCK" "$ECHOD" -f "$CONF" >>"$LOG" 2>&1 ||
    fail "echod did not start as a daemon"
wait_for 10 "the daemon's pidfile" pidfile_ready
wait_for 10 "READY=1 with MAINPID=" said '^READY=1\|MAINPID='
said "^READY=1\|MAINPID=$(master_pid)\|" ||
    fail "READY=1 with the wrong MAINPID: $(cat "$OUT"), pid $(master_pid)"
ok "as a daemon: READY=1 with MAINPID=$(master_pid)"
