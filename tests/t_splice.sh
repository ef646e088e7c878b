# Bulk echo with splice(2): a client that fills the worker's buffer is
# echoed through the worker's pipe, and a connection that ends with data
# still in that pipe (a reset, a client that stopped reading) must not
# leave a single stale byte for the next client of the same worker.
. "$TESTS_SRCDIR/lib.sh"

command -v strace >/dev/null 2>&1 || fail "strace is needed (apt-get install strace)"
write_conf "prefork 1" "min-spare 0" "idle-timeout 1"
WANT_WORKERS=1 start_echod
w=$(workers)

# Small messages go by read() and write(); 4 MiB goes by splice().
strace -f -e trace=splice,read,write -o "$T/strace.out" -p "$w" \
    2>"$T/strace.err" &
tracer=$!
BG_PIDS="$BG_PIDS $tracer"
wait_for 10 "strace to attach" grep -q attached "$T/strace.err"
"$ECHOTEST" echo -p "$PORT" -n 100 || fail "small echo"
grep -q "^[0-9]* *splice(" "$T/strace.out" && fail "100 bytes were spliced"
"$ECHOTEST" echo -p "$PORT" -n 4194304 || fail "bulk echo"
kill -INT "$tracer"
wait "$tracer" 2>/dev/null || true
n=$(grep -c "splice(" "$T/strace.out")
[ "$n" -gt 0 ] || fail "4 MiB echoed without splice"
ok "100 bytes by read and write, 4 MiB by splice ($n calls)"

# Leftovers: each fault ends a spliced connection with the pipe full,
# then the same worker echoes 1 MiB of fresh random bytes, checked.
"$ECHOTEST" reset -p "$PORT" -n 4194304 >/dev/null 2>&1 || fail "reset client"
"$ECHOTEST" echo -p "$PORT" -n 1048576 || fail "echo after a reset mid-splice"
ok "after a client reset in the middle of a splice: the next client gets only its own bytes"

"$ECHOTEST" noread -p "$PORT" -t 10 >/dev/null || fail "noread client not timed out"
"$ECHOTEST" echo -p "$PORT" -n 1048576 || fail "echo after an idle-timeout mid-splice"
"$ECHOTEST" echo -p "$PORT" -n 1048576 -s || fail "half-closed echo"
[ "$(workers)" = "$w" ] || fail "the worker was replaced"
ok "after a client that stopped reading: the same worker echoes exactly"
