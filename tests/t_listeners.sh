# Several "listen" lines: workers wait on all of them at once.
. "$TESTS_SRCDIR/lib.sh"

PORT6=$("$ECHOTEST" freeport -H ::1)
write_conf "listen on 127.0.0.1 port $PORT" "listen on ::1 port $PORT6" \
    "prefork 2"
WANT_WORKERS=2 start_echod

log_has "listening on 127\.0\.0\.1:$PORT" || fail "IPv4 listener not logged"
log_has "listening on \[::1\]:$PORT6" || fail "IPv6 listener not logged"
ok "both listeners logged"

"$ECHOTEST" echo -p "$PORT" -n 65536 -c 20 || fail "IPv4 listener"
"$ECHOTEST" echo -H ::1 -p "$PORT6" -n 65536 -c 20 || fail "IPv6 listener"
ok "each listener echoes"

# Interleaved: a worker must not sit on one listener while the other has
# clients waiting.
"$ECHOTEST" echo -p "$PORT" -n 4096 -c 50 &
a=$!
"$ECHOTEST" echo -H ::1 -p "$PORT6" -n 4096 -c 50 || fail "IPv6 under mixed load"
wait "$a" || fail "IPv4 under mixed load"
ok "both listeners served at once"

# An explicit IPv6 address is IPv6 only: no IPv4 client gets through.
if "$ECHOTEST" echo -H 127.0.0.1 -p "$PORT6" -n 1 -t 2 2>/dev/null; then
	fail "IPv4 client reached the ::1 listener"
fi
ok "::1 listener is IPv6 only"

# TCP_NODELAY is set once on each listening socket and reaches every
# connection through accept(), with no call per connection: look at a
# worker's connection and listeners from outside (pidfd_getfd).
background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/ready" -t 60
wait_for 10 "session" test -f "$T/ready"
found=0
for w in $(workers); do
	for fd in $(ls "/proc/$w/fd"); do
		case "$(readlink "/proc/$w/fd/$fd")" in socket:*) ;; *) continue ;; esac
		out=$("$SOCKOPT" "$w" "$fd" 2>&1) || fail "sockopt $w $fd: $out"
		[ "$out" = "nodelay 1" ] || fail "worker $w fd $fd: $out"
		found=$((found + 1))
	done
done
# 2 workers with 2 listeners each, and the session's connection.
[ "$found" -eq 5 ] || fail "$found sockets looked at, expected 5"
touch "$T/stop"
ok "TCP_NODELAY on both listeners and on the accepted connection"
