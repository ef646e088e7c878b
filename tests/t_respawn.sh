# Workers that cannot start: no fork storm, then a clear fatal error.
. "$TESTS_SRCDIR/lib.sh"

[ -f "$FAULTSHIM" ] || fail "no fault shim at $FAULTSHIM"

# run_faulty VAR=VALUE...: run echod -d -v under the fault shim with the
# given fault settings, on a fresh log, until the master exits by itself
# (within 60 s); STARTS is the number of workers it started.
run_faulty() {
	local m rc
	: > "$LOG"
	env "$@" LD_PRELOAD="$FAULTSHIM" "$ECHOD" -d -v -f "$CONF" >>"$LOG" 2>&1 &
	m=$!
	BG_PIDS="$BG_PIDS $m"
	wait_for 60 "the master to stop by itself" exited "$m"
	wait "$m"
	rc=$?
	[ "$rc" -eq 1 ] || fail "master exited with $rc, want 1"
	[ ! -e "$PIDFILE" ] || fail "pidfile left behind"
	STARTS=$(grep -c "worker [0-9]* started" "$LOG")
}

# Every worker aborts in its first accept(): respawns slow down (25 ms,
# doubling, one probe worker at a time) and after 10 start-up failures in
# a row the master gives up.  The 4 workers started together are one
# failure, not 4; then come 9 probes.
write_conf "prefork 4"
run_faulty ECHOD_FAULT=crash-accept
ok "master exits with status 1 and removes its pidfile"
log_has "workers keep failing at start-up; giving up" ||
    fail "no clear fatal message"
log_has "next worker start in [0-9]+ ms" || fail "no throttling logged"
ok "throttling and the fatal error are logged"
[ "$STARTS" -eq 13 ] ||
    fail "$STARTS worker starts: want 4, then 9 probes, and no fork storm"
ok "4 workers, then 9 probes, before giving up (no fork storm)"

# A batch failing together is one failure: 16 workers crashing at once
# are throttled like 4, not given up on at once.
write_conf "prefork 16"
run_faulty ECHOD_FAULT=crash-accept
[ "$STARTS" -eq 25 ] ||
    fail "$STARTS worker starts: want 16, then 9 probes"
ok "16 workers failing together count once: 9 probes follow"

# One slot that keeps failing beside healthy workers is a failure too:
# the healthy ones must not make the master forget the failures.
mkdir "$T/starts"
# (The shim counts workers with mkdir(2), which the sandbox refuses.)
write_conf "prefork 4" "sandbox no"
run_faulty ECHOD_FAULT=crash-accept-after ECHOD_FAULT_HEALTHY=3 \
    ECHOD_FAULT_DIR="$T/starts"
log_has "workers keep failing at start-up; giving up" ||
    fail "no clear fatal message"
[ "$STARTS" -eq 13 ] || fail "$STARTS starts, want 3 healthy + 10 failures"
ok "one failing slot beside 3 healthy workers: throttled, then fatal"

# A fault that comes and goes: once a probe has lived for a second the
# failures are forgotten, so that the next fault, however much later,
# starts counting from one and does not make the master give up (8
# failures, then 3: not 10 in a row).  The second fault meets workers
# the pool grows by, beside busy ones, so that no worker's death in
# between resets the count.
: > "$LOG"
write_conf "prefork 4" "min-spare 1" "max-spare 8" "sandbox no"
touch "$T/fault"
env ECHOD_FAULT=crash-accept-while ECHOD_FAULT_FILE="$T/fault" \
    LD_PRELOAD="$FAULTSHIM" "$ECHOD" -d -v -f "$CONF" >>"$LOG" 2>&1 &
m=$!
BG_PIDS="$BG_PIDS $m"
failures_at_least() {
	[ "$(grep -c "after it started; next worker start in" "$LOG")" -ge "$1" ]
}
more_workers() {
	[ "$(nworkers)" -ge "$1" ]
}
wait_for 20 "8 start-up failures" failures_at_least 8
rm -f "$T/fault"
wait_for 20 "4 workers after the fault" more_workers 4
wait_for 10 "all idle" all_idle
touch "$T/fault"
for i in 1 2 3 4; do
	background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/ready$i" \
	    -t 60
done
wait_for 20 "3 more failures" failures_at_least 11
rm -f "$T/fault"
wait_for 20 "the pool grown after the second fault" more_workers 5
touch "$T/stop"
"$ECHOTEST" echo -p "$PORT" -n 1000 -c 4 || fail "no echo after recovery"
log_has "giving up" && fail "gave up: the first fault's failures were not forgotten"
alive "$m" || fail "the master is gone"
kill -TERM "$m"
wait_for 5 "the master to stop" exited "$m"
rm -f "$T/stop"
ok "a fault that comes and goes: throttled, pool refilled, failures forgotten"

# A fork that fails (a process limit) is not a worker that fails: the
# master keeps what it has, serves with it, and tries again each second,
# past the 10 failures after which a failing worker makes it give up.
: > "$LOG"
mkdir "$T/forks"
write_conf "prefork 4"
env ECHOD_FAULT=fail-fork-after ECHOD_FAULT_FORKS=2 ECHOD_FAULT_DIR="$T/forks" \
    LD_PRELOAD="$FAULTSHIM" "$ECHOD" -d -v -f "$CONF" >>"$LOG" 2>&1 &
BG_PIDS="$BG_PIDS $!"
m=$!
wait_for 10 "the failed fork logged" \
    log_has "fork \(the pool stays at 2 workers; logged once a minute at most\): Resource temporarily unavailable"
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 4 || fail "no echo with 2 of 4 workers"
attempts() {
	[ "$(ls "$T/forks" | wc -l)" -ge 14 ]
}
wait_for 30 "12 failed forks" attempts
alive "$m" || fail "the master gave up on failed forks"
log_has "giving up" && fail "failed forks taken for failing workers"
[ "$(nworkers "$m")" -eq 2 ] || fail "$(nworkers "$m") workers, want 2"
[ "$(grep -c "the pool stays at" "$LOG")" -eq 1 ] || fail "not rate-limited"
ok "failed forks: 2 workers serve, retried each second, logged once, no giving up"
kill -TERM "$m"
wait_for 5 "echod to stop" exited "$m"

# The same when the pool wants to grow beyond prefork: the held-back
# start is retried each second, though no worker is idle to ask again.
: > "$LOG"
mkdir "$T/forks2"
write_conf "prefork 2" "min-spare 1" "max-spare 2" "max-workers 8"
env ECHOD_FAULT=fail-fork-after ECHOD_FAULT_FORKS=2 ECHOD_FAULT_DIR="$T/forks2" \
    LD_PRELOAD="$FAULTSHIM" "$ECHOD" -d -v -f "$CONF" >>"$LOG" 2>&1 &
m=$!
BG_PIDS="$BG_PIDS $m"
wait_for 10 "2 workers" eval '[ "$(nworkers "$m")" -eq 2 ]'
for i in 1 2; do
	background "$ECHOTEST" session -p "$PORT" -f "$T/stop2" -r "$T/r2.$i" -t 60
done
wait_for 10 "both workers busy" eval 'test -f "$T/r2.1" && test -f "$T/r2.2"'
retried() {
	[ "$(ls "$T/forks2" | wc -l)" -ge 6 ]
}
wait_for 15 "growth forks retried while the pool sits at prefork" retried
touch "$T/stop2"
ok "a held-back start beyond prefork is retried each second"
kill -TERM "$m"
wait_for 5 "echod to stop" exited "$m"

# A worker that cannot drop its privileges stops echod at once.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	write_conf "prefork 2" "user nobody"
	run_faulty ECHOD_FAULT=fail-setresuid
	log_has "setresuid nobody: Operation not permitted" ||
	    fail "the failed drop is not logged"
	log_has "a worker could not set itself up" ||
	    fail "no fatal message for the failed drop"
	[ "$STARTS" -le 2 ] || fail "$STARTS starts: a failed drop was retried"
	ok "a failed privilege drop is fatal at once"
else
	log "not root: privilege-drop failure not tested"
fi
