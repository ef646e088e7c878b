#!/bin/bash
# A live upgrade under systemd: socket activation by
# systemd-socket-activate(1), with a stand-in NOTIFY_SOCKET.  The new
# master keeps systemd's socket (the same inode, still systemd's: a
# reload ignores the listen lines), and the old one tells systemd the
# new main pid (MAINPID=) and never STOPPING=1.
. "$TESTS_SRCDIR/lib.sh"

with_libsystemd "upgrade under socket activation" || exit 0
command -v systemd-socket-activate >/dev/null 2>&1 ||
    fail "systemd-socket-activate not found (apt-get install systemd)"

SOCK="$T/notify.sock"
OUT="$T/notify.out"
background "$ECHOTEST" notify -U "$SOCK" -O "$OUT" -f "$T/notify.stop" \
    -t 120
wait_for 10 "the notify socket" test -S "$SOCK"

other=$("$ECHOTEST" freeport)
write_conf "prefork 2" "drain-timeout 30"
listening() {
	[ -n "$(listen_inode)" ]
}
NOTIFY_SOCKET="$SOCK" systemd-socket-activate -l "127.0.0.1:$PORT" \
    -E NOTIFY_SOCKET -E ASAN_OPTIONS -E UBSAN_OPTIONS \
    "$ECHOD" -d -f "$CONF" >>"$LOG" 2>&1 &
BG_PIDS="$BG_PIDS $!"
wait_for 10 "systemd-socket-activate listening" listening
inode=$(listen_inode)
"$ECHOTEST" echo -p "$PORT" -n 1000 >/dev/null || fail "no first echo"
wait_for 10 "echod's pidfile" pidfile_ready
wait_for 10 "2 workers" has_workers 2
old=$(master_pid)
wait_for 10 "READY=1" grep -q '^READY=1' "$OUT"

out=$("$ECHODCTL" -s "$CTL" upgrade 2>&1) || fail "upgrade: $out"
new=$(echo "$out" | sed -n 's/^pid \([0-9]*\) serves.*/\1/p')
[ -n "$new" ] && [ "$(master_pid)" = "$new" ] || fail "upgrade: $out"
wait_gone 10 "the old master" "$old"
[ "$(listen_inode)" = "$inode" ] || fail "systemd's socket was replaced"
grep -q "^MAINPID=$new|" "$OUT" || fail "no MAINPID=$new: $(cat "$OUT")"
grep -q '^STOPPING=1' "$OUT" && fail "STOPPING=1 sent: $(cat "$OUT")"
log_has "echod\[$new\]: socket activation" ||
    fail "the new master did not take the socket as systemd's"
"$ECHOTEST" echo -p "$PORT" -n 100000 >/dev/null || fail "no echo"
ok "upgraded $old -> $new on systemd's socket $inode, MAINPID=$new sent"

# Still systemd's: a reload does not bind the listen lines.
write_conf "prefork 2" "listen on 127.0.0.1 port $other"
"$ECHODCTL" -s "$CTL" reload >/dev/null || fail "reload"
[ -z "$(listen_inode "$other")" ] || fail "the reload bound port $other"
[ "$(listen_inode)" = "$inode" ] || fail "the reload replaced the socket"
"$ECHOTEST" echo -p "$PORT" -n 1000 >/dev/null || fail "no echo after reload"
ok "after the upgrade a reload keeps systemd's socket"
