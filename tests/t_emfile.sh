# Out of descriptors (shared/TESTING.md): a worker whose accept() fails
# with EMFILE pauses instead of spinning, says so once, and serves again
# as soon as it has a descriptor free.
. "$TESTS_SRCDIR/lib.sh"

command -v prlimit >/dev/null 2>&1 || skip "prlimit is not installed"
write_conf "prefork 1" "min-spare 0"
WANT_WORKERS=1 start_echod
w=$(workers)
"$ECHOTEST" echo -p "$PORT" -n 100 || fail "echo before"

# The worker may keep what it has open, and open nothing more: the
# limit is on descriptor numbers, so it is set to the lowest free one,
# once the worker has closed its last connection.
wait_for 10 "the worker idle" eval '[ "$(title "$w")" = "echod: worker [idle]" ]'
free=0
while [ -e "/proc/$w/fd/$free" ]; do
	free=$((free + 1))
done
# Only the soft limit: raising a hard limit again needs CAP_SYS_RESOURCE.
soft=$(prlimit --pid "$w" --nofile --noheadings --output SOFT)
hard=$(prlimit --pid "$w" --nofile --noheadings --output HARD)
prlimit --pid "$w" --nofile="$free:$hard" || skip "cannot set the worker's limit"
# accept() takes its descriptor number before it blocks: if the worker
# was blocked in accept() already, client A still gets in; either way
# the worker's next accept() fails with EMFILE.
background "$ECHOTEST" echo -p "$PORT" -n 100 -t 60
client_a=$LAST_BG
wait_for 10 "EMFILE logged" log_has "accept \(pausing, logged once per 10 s\): Too many open files"
# Client B comes while the worker has no descriptor free.
background "$ECHOTEST" echo -p "$PORT" -n 65536 -t 60
client=$LAST_BG
# Watch the worker for a while: a busy loop would burn a tick per 10 ms.
used=$(ticks_over "$w" 1500)
[ "$used" -le 15 ] || fail "the worker used $used ticks in 1.5 s: a busy loop"
alive "$client" || fail "client B was served with no descriptor free"
[ "$(grep -c "Too many open files" "$LOG")" -eq 1 ] || fail "not logged once"
ok "EMFILE: the worker waits ($used ticks of CPU in 1.5 s), logged once"

prlimit --pid "$w" --nofile="$soft:$hard" || fail "cannot raise the limit again"
wait "$client" || fail "the waiting client was not served after recovery"
wait "$client_a" || fail "client A was not served"
[ "$(workers)" = "$w" ] || fail "the worker was replaced"
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 4 || fail "echo after recovery"
ok "descriptors free again: the same worker serves the waiting client"
