# Under continuous load, 50 reloads in a row: no connection fails, and
# at no moment was there no worker of any generation waiting in accept()
# (the master's measure of it, "no_acceptor_ms" in echodctl status,
# stays 0): the old generation accepts until the new one serves.
. "$TESTS_SRCDIR/lib.sh"

command -v jq >/dev/null || fail "jq is needed"

ctl() {
	"$ECHODCTL" -s "$CTL" "$@"
}
no_acceptor() {
	ctl -j status | jq -r .pool.no_acceptor_ms
}

# prefork 6 for one client at a time: even with every core busy, some
# worker of the serving generation is always idle between its clients.
write_conf "prefork 6" "drain-timeout 10"
WANT_WORKERS=6 start_echod
master=$(master_pid)
[ "$(no_acceptor)" = 0 ] || fail "no_acceptor_ms $(no_acceptor) at the start"

"$ECHOTEST" load -p "$PORT" -f "$T/stop" -c 1 -t 120 >"$T/load.out" 2>&1 &
load=$!
BG_PIDS="$BG_PIDS $load"

for i in $(seq 2 51); do
	out=$(ctl -t 20 reload) ||
	    fail "reload $i: $out"
	case "$out" in
	*"generation $i serving"*) ;;
	*) fail "reload $i: $out" ;;
	esac
done
touch "$T/stop"
wait "$load"
grep -q "failed 0$" "$T/load.out" || fail "load: $(cat "$T/load.out")"
ok "50 reloads under load, no failed connection: $(cat "$T/load.out")"
[ "$(no_acceptor)" = 0 ] ||
    fail "no worker waited in accept() for $(no_acceptor) ms"
[ "$(master_pid)" = "$master" ] || fail "the master changed"
ok "no_acceptor_ms stays 0 through the reloads"
