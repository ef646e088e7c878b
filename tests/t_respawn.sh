# Workers that cannot start: no fork storm, then a clear fatal error.
. "$TESTS_SRCDIR/lib.sh"

[ -f "$FAULTSHIM" ] || fail "no fault shim at $FAULTSHIM"

# Every worker aborts in its first accept(): respawns slow down (25 ms,
# doubling) and after 10 start-up failures in a row the master gives up.
write_conf "prefork 4"
ECHOD_FAULT=crash-accept LD_PRELOAD="$FAULTSHIM" \
    "$ECHOD" -d -v -f "$CONF" >>"$LOG" 2>&1 &
m=$!
BG_PIDS="$BG_PIDS $m"
wait_for 60 "master gives up" eval '! alive $m'
wait "$m"
rc=$?
[ "$rc" -eq 1 ] || fail "master exited with $rc, want 1"
ok "master exits with status 1"

log_has "workers keep failing at start-up; giving up" ||
    fail "no clear fatal message"
log_has "next worker start in [0-9]+ ms" || fail "no throttling logged"
ok "throttling and the fatal error are logged"

starts=$(grep -c "worker [0-9]* started" "$LOG")
[ "$starts" -ge 10 ] && [ "$starts" -le 12 ] ||
    fail "$starts worker starts: want 10 failures and no fork storm"
ok "$starts worker starts before giving up (no fork storm)"

[ ! -e "$PIDFILE" ] || fail "pidfile left behind"
ok "pidfile removed"

# One slot that keeps failing beside healthy workers is a failure too:
# the healthy ones must not make the master forget the failures.
: > "$LOG"
mkdir "$T/starts"
write_conf "prefork 4"
ECHOD_FAULT=crash-accept-after ECHOD_FAULT_HEALTHY=3 \
    ECHOD_FAULT_DIR="$T/starts" LD_PRELOAD="$FAULTSHIM" \
    "$ECHOD" -d -v -f "$CONF" >>"$LOG" 2>&1 &
m=$!
BG_PIDS="$BG_PIDS $m"
wait_for 60 "master gives up" eval '! alive $m'
wait "$m"
rc=$?
[ "$rc" -eq 1 ] || fail "master exited with $rc, want 1"
log_has "workers keep failing at start-up; giving up" ||
    fail "no clear fatal message"
starts=$(grep -c "worker [0-9]* started" "$LOG")
[ "$starts" -eq 13 ] || fail "$starts starts, want 3 healthy + 10 failures"
ok "one failing slot beside 3 healthy workers: throttled, then fatal"

# A worker that cannot drop its privileges stops echod at once.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	: > "$LOG"
	write_conf "prefork 2" "user nobody"
	ECHOD_FAULT=fail-setresuid LD_PRELOAD="$FAULTSHIM" \
	    "$ECHOD" -d -v -f "$CONF" >>"$LOG" 2>&1 &
	m=$!
	BG_PIDS="$BG_PIDS $m"
	wait_for 10 "master stops" eval '! alive $m'
	wait "$m"
	rc=$?
	[ "$rc" -eq 1 ] || fail "master exited with $rc, want 1"
	log_has "setresuid nobody: Operation not permitted" ||
	    fail "the failed drop is not logged"
	log_has "a worker could not set itself up" ||
	    fail "no fatal message for the failed drop"
	starts=$(grep -c "worker [0-9]* started" "$LOG")
	[ "$starts" -le 2 ] || fail "$starts starts: a failed drop was retried"
	ok "a failed privilege drop is fatal at once"
else
	log "not root: privilege-drop failure not tested"
fi
