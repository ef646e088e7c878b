# echodctl keeps its deadline against a master that does not answer.
# Stopped with SIGSTOP, the master lets "echodctl status" connect (the
# kernel queues it) but never answers: echodctl gives up at its default
# deadline, exit status 3, saying so, while the workers go on serving.
# With the control socket's queue full as well, connect() itself would
# wait for ever: echodctl gives up there too, by its -t deadline.  Once
# the master continues it answers again.  A bad -t is a usage error.
. "$TESTS_SRCDIR/lib.sh"

ctl() {
	"$ECHODCTL" -s "$CTL" "$@"
}

# ctl_rc ARGS...: echodctl's exit status in RC, stderr in $T/err, with
# a limit well past any deadline of its own, so that a hang fails.
ctl_rc() {
	timeout 20 "$ECHODCTL" -s "$CTL" "$@" >"$T/out" 2>"$T/err"
	RC=$?
	[ "$RC" -ne 124 ] || fail "echodctl $* still waiting after 20 s"
}

for t in 0 3601 x; do
	ctl_rc -t "$t" status
	[ "$RC" -eq 2 ] || fail "-t $t: exit $RC"
	grep -q "^usage: echodctl " "$T/err" || fail "-t $t: $(cat "$T/err")"
done
ok "-t 0, 3601 or x: usage, exit 2"

write_conf "prefork 2"
WANT_WORKERS=2 start_echod
m=$(master_pid)
ctl status >/dev/null || fail "status before the stop"

kill -STOP "$m"
ctl_rc status
[ "$RC" -eq 3 ] || fail "status of a stopped master: exit $RC: $(cat "$T/err")"
grep -qx "echodctl: no answer from echod within 5 s" "$T/err" ||
    fail "stopped master: $(cat "$T/err")"
"$ECHOTEST" echo -p "$PORT" -n 4096 -c 2 ||
    fail "the workers stopped serving with their master"
ok "stopped master: status gives up after 5 s, exit 3, saying so; the workers serve"

# More silent clients than the queue holds (its length is ss's Send-Q
# for a listening socket; Recv-Q, what waits in it, reaches one more).
queue_full() {
	ss -xlH | awk -v p="$CTL" '$5 == p && $3 > $4 { f = 1 } END { exit !f }'
}
holders=""
for i in $(seq 24); do
	background "$ECHOTEST" idle -U "$CTL" -t 60
	holders="$holders $LAST_BG"
done
wait_for 10 "the control socket's queue full" queue_full
ctl_rc -t 1 status
[ "$RC" -eq 3 ] || fail "status with the queue full: exit $RC: $(cat "$T/err")"
grep -qx "echodctl: $CTL: echod did not take the connection within 1 s (stopped, or its queue is full)" \
    "$T/err" || fail "queue full: $(cat "$T/err")"
ok "queue full as well: status gives up in connect() after its 1 s, exit 3, saying so"

# shellcheck disable=SC2086
kill $holders
# shellcheck disable=SC2086
wait_gone 5 "the silent clients gone" $holders
kill -CONT "$m"
ctl_rc status
[ "$RC" -eq 0 ] || fail "status once continued: exit $RC: $(cat "$T/err")"
grep -q "^echod .*, pid $m, " "$T/out" || fail "status: $(cat "$T/out")"
ok "continued: status answers again"
