# A reload that cannot be applied changes nothing: a config error, or an
# address that cannot be bound, is logged and the old configuration and
# the very same workers keep serving.
. "$TESTS_SRCDIR/lib.sh"

write_conf "prefork 3"
WANT_WORKERS=3 start_echod
master=$(master_pid)
before=$(workers | tr '\n' ' ')

# An error on line 5 of the file (write_conf writes two lines first).
write_conf "prefork 3" "drain-timeout 10" "prefork-typo 5"
kill -HUP "$master"
wait_for 10 "reload refused" log_has \
    "reload failed: $CONF:5: unknown keyword \"prefork-typo\"; still serving generation 1"
[ "$(workers | tr '\n' ' ')" = "$before" ] || fail "workers changed"
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 10 || fail "no echo after a bad reload"
ok "bad config: logged with file and line, the same 3 workers serve"

# A valid file whose new address cannot be bound (TEST-NET-1 is not ours:
# bind fails).  Nothing may change, the old listener included.
inode=$(listen_inode)
write_conf "prefork 5" "listen on 127.0.0.1 port $PORT" \
    "listen on 192.0.2.1 port $PORT"
kill -HUP "$master"
wait_for 10 "reload refused" log_has \
    "reload failed: listen on 192\.0\.2\.1:$PORT \(line 5\): bind: "
[ "$(workers | tr '\n' ' ')" = "$before" ] || fail "workers changed"
[ "$(listen_inode)" = "$inode" ] || fail "listener changed"
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 10 || fail "no echo after a bad reload"
ok "unbindable address: nothing changed"

# Listeners come and go with the file: add an IPv6 one, keep the IPv4 one
# (same socket), then drop the IPv4 one.
PORT6=$("$ECHOTEST" freeport -H ::1)
write_conf "prefork 2" "listen on 127.0.0.1 port $PORT" \
    "listen on ::1 port $PORT6"
kill -HUP "$master"
wait_for 10 "reload to generation 2" log_has "reloaded: generation 2, 2 workers"
wait_for 10 "2 workers" has_workers 2
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 10 || fail "IPv4 after reload"
"$ECHOTEST" echo -H ::1 -p "$PORT6" -n 65536 -c 10 || fail "IPv6 after reload"
[ "$(listen_inode)" = "$inode" ] || fail "kept listener was reopened"
ok "listener added; the kept one is the same socket"

inode6=$(listen_inode "$PORT6")
write_conf "prefork 2" "listen on ::1 port $PORT6"
kill -HUP "$master"
wait_for 10 "reload to generation 3" log_has "reloaded: generation 3, 2 workers"
wait_for 10 "IPv4 listener closed" eval '[ -z "$(listen_inode)" ]'
if "$ECHOTEST" echo -p "$PORT" -n 1 -t 2 2>/dev/null; then
	fail "removed listener still answers"
fi
"$ECHOTEST" echo -H ::1 -p "$PORT6" -n 65536 -c 10 || fail "IPv6 after reload"
[ "$(listen_inode "$PORT6")" = "$inode6" ] || fail "IPv6 listener reopened"
ok "listener removed; the other one kept"
[ "$(master_pid)" = "$master" ] || fail "master changed"
