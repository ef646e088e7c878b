# Echo correctness (RFC 862): every byte back, in order, unchanged.
. "$TESTS_SRCDIR/lib.sh"

# "*" is one dual-stack socket: IPv4 and IPv6 clients both reach it.
write_conf "listen on * port $PORT" "prefork 4"
start_echod

for n in 1 65536 16777216; do
	"$ECHOTEST" echo -p "$PORT" -n "$n" || fail "$n bytes not echoed intact"
	ok "$n random bytes echoed byte for byte"
done

# More clients than workers: they wait in the backlog and are served
# as workers free up.
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 100 ||
    fail "100 parallel connections"
ok "100 parallel connections of 64 KiB, 4 workers"

"$ECHOTEST" echo -H ::1 -p "$PORT" -n 65536 -c 10 ||
    fail "IPv6 client on the wildcard listener"
ok "IPv6 client served by the dual-stack wildcard listener"

# Half-close: the client shuts down its sending side; everything it sent
# still comes back, then EOF.
"$ECHOTEST" echo -p "$PORT" -n 1048576 -s || fail "half-close lost data"
ok "half-closed 1 MiB echoed in full, then EOF"

# A client that resets in the middle of a stream, or closes without
# reading what it sent (the worker's next write meets EPIPE), ends only
# its own connection: the same workers go on serving.
before=$(workers | tr '\n' ' ')
"$ECHOTEST" reset -p "$PORT" -n 4194304 || fail "reset client"
for i in 1 2 3; do
	"$ECHOTEST" reset -s -p "$PORT" -n 262144 || fail "closing client"
done
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 8 || fail "echo after a reset"
[ "$(workers | tr '\n' ' ')" = "$before" ] ||
    fail "workers changed after a client reset: $before -> $(workers | tr '\n' ' ')"
ok "a peer resetting mid-stream does not hurt its worker"

# EPIPE, not SIGPIPE, must end a connection whose peer went away; which
# of the two errors a reset produces depends on kernel timing, so look at
# the workers' signal dispositions too.
for w in $(workers); do
	ign=$(awk '/^SigIgn:/ { print $2 }' "/proc/$w/status")
	(( (16#$ign >> 12) & 1 )) || fail "worker $w does not ignore SIGPIPE"
done
ok "workers ignore SIGPIPE"

[ "$(zombies)" -eq 0 ] || fail "zombie workers"
