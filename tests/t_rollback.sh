# A reload proves the new generation before the old one goes.  A reload
# whose new workers all crash at start-up, and one whose new workers
# cannot set themselves up (the fault shim, gated so that only workers
# forked after the reload fail): the old generation serves throughout, the
# old configuration is in effect afterwards (echodctl status shows the old
# generation), echodctl reload exits 1 naming the failure, and a later
# good reload works.  The first failing reload adds a listener, so the
# old workers, with one, share non-blocking sockets meanwhile: they must
# wait, not spin; the second drops one, which must stay open.
. "$TESTS_SRCDIR/lib.sh"

[ -f "$FAULTSHIM" ] || fail "no fault shim at $FAULTSHIM"
command -v jq >/dev/null || fail "jq is needed"
PORT2=$("$ECHOTEST" freeport) || fail "no second port"
GATE="$T/fault"

ctl() {
	"$ECHODCTL" -s "$CTL" "$@"
}
generation() {
	ctl -j status | jq -r .generation
}
# reload WANT: echodctl reload, its answer in $T/reload.out, its exit
# status compared with WANT.
reload() {
	ctl -t 60 reload >"$T/reload.out" 2>&1
	rc=$?
	[ "$rc" -eq "$1" ] ||
	    fail "echodctl reload exited $rc, want $1: $(cat "$T/reload.out")"
}
# systemd is told too (echotest stands in for it, as in t_notify).
NOTIFY=
if with_libsystemd "the rollback's notification"; then
	NOTIFY="$T/notify.sock"
	background "$ECHOTEST" notify -U "$NOTIFY" -O "$T/notify.out" \
	    -f "$T/stop" -t 300
	wait_for 10 "the notify socket" test -S "$NOTIFY"
fi

write_conf "prefork 2" "drain-timeout 60" "sandbox no"
env ${NOTIFY:+NOTIFY_SOCKET="$NOTIFY"} ECHOD_FAULT_GATE="$GATE" \
    LD_PRELOAD="$FAULTSHIM" "$ECHOD" -d -f "$CONF" >>"$LOG" 2>&1 &
ECHOD_PID=$!
BG_PIDS="$BG_PIDS $ECHOD_PID"
wait_for 10 "pidfile of a running master" pidfile_ready
wait_for 10 "2 workers" has_workers 2
master=$(master_pid)
gen1=$(workers | tr '\n' ' ')
inode=$(listen_inode)

background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/ready" \
    -m "$T/mark" -t 120
session=$LAST_BG
wait_for 10 "session established" test -f "$T/ready"
# 1. Every new worker crashes at the end of its set-up; the new file adds
# a listener.
# The session keeps one worker of generation 1 busy, the other waits.
before=0
for w in $gen1; do
	before=$((before + $(cpu_ticks "$w")))
done
echo crash-setup > "$GATE"
write_conf "prefork 3" "drain-timeout 60" "sandbox no" \
    "listen on 127.0.0.1 port $PORT" "listen on 127.0.0.1 port $PORT2"
reload 1 &
reloading=$!
# Served during the trial, by generation 1, whose idle worker then
# calls accept() again on a socket made non-blocking for generation 2.
wait_for 10 "the reload's trial" log_has "reloaded: generation 2"
"$ECHOTEST" echo -p "$PORT" -n 4096 || fail "no echo during the trial"
wait "$reloading" || exit 1
rm -f "$GATE"
grep -q "reload failed: generation 2: .*back to generation 1" \
    "$T/reload.out" || fail "echodctl reload: $(cat "$T/reload.out")"
grep -Eq "keep failing at start-up|of 3 workers serving after" \
    "$T/reload.out" || fail "the failure not named: $(cat "$T/reload.out")"
[ "$(generation)" = 1 ] || fail "generation $(generation) after a rollback"
for w in $gen1; do
	alive "$w" || fail "worker $w of generation 1 died"
done
[ -z "$(listen_inode "$PORT2")" ] ||
    fail "the rolled-back listener on $PORT2 is still open"
log_has "reload failed: generation 2: " || fail "the rollback is not logged"
if [ -n "$NOTIFY" ]; then
	wait_for 5 "systemd told of the rollback" grep -Eq \
	    '^READY=1\|STATUS=reload failed: generation 2: .*back to generation 1' \
	    "$T/notify.out"
fi
after=0
for w in $gen1; do
	after=$((after + $(cpu_ticks "$w")))
done
# Spinning on EAGAIN for the seconds of the trial would take seconds of
# CPU; waiting in poll() takes next to none.
[ $((after - before)) -lt 100 ] ||
    fail "generation 1 used $((after - before)) ticks during the trial: spinning"
"$ECHOTEST" echo -p "$PORT" -n 4096 -c 2 || fail "no echo after the rollback"
ok "crashing new workers: generation 1 kept serving, echodctl reload exit 1"

# From here on, clients connect nonstop too (not before: the CPU time
# above is that of waiting workers).
"$ECHOTEST" load -p "$PORT" -f "$T/stop" -c 1 -t 120 >"$T/load.out" 2>&1 &
load=$!
BG_PIDS="$BG_PIDS $load"

reload 0
grep -q "generation 2 serving" "$T/reload.out" ||
    fail "good reload: $(cat "$T/reload.out")"
[ "$(generation)" = 2 ] || fail "generation $(generation) after a good reload"
"$ECHOTEST" echo -p "$PORT2" -n 4096 || fail "no echo on the new listener"
inode2=$(listen_inode "$PORT2")
ok "a good reload after it: generation 2, two listeners"

# 2. The new workers cannot drop their privileges (root only); the new
# file drops the second listener.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	echo fail-setresuid > "$GATE"
	write_conf "prefork 2" "drain-timeout 60" "sandbox no" "user nobody"
	reload 1
	rm -f "$GATE"
	grep -q "reload failed: generation 3: worker [0-9]* could not set itself up.*back to generation 2" \
	    "$T/reload.out" || fail "echodctl reload: $(cat "$T/reload.out")"
	[ "$(generation)" = 2 ] ||
	    fail "generation $(generation) after a rollback"
	[ "$(listen_inode "$PORT2")" = "$inode2" ] ||
	    fail "the dropped listener did not stay open for the rollback"
	"$ECHOTEST" echo -p "$PORT2" -n 4096 ||
	    fail "no echo on the kept listener"
	alive "$master" || fail "the master stopped"
	ok "new workers that cannot set up: generation 2 kept, its listener too"
	reload 0
	[ "$(generation)" = 3 ] || fail "generation $(generation), want 3"
	wait_for 10 "the dropped listener closed" \
	    eval '[ -z "$(listen_inode "$PORT2")" ]'
	ok "a good reload after it: generation 3, one listener"
else
	log "not root: the set-up failure of a reload not tested"
fi

[ "$(listen_inode)" = "$inode" ] || fail "the listening socket changed"
touch "$T/mark"
wait_for 20 "the session echoing after the reloads" test -f "$T/mark.done"
touch "$T/stop"
wait "$session" || fail "the session failed"
wait "$load"
grep -q "failed 0$" "$T/load.out" || fail "load: $(cat "$T/load.out")"
ok "the long session and the load saw no failure: $(cat "$T/load.out")"
