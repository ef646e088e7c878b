# Reload (SIGHUP) under continuous load: no connection fails, a session
# opened before keeps echoing, the worker count follows the new file, and
# the listening socket is the very same one.
. "$TESTS_SRCDIR/lib.sh"

write_conf "prefork 3" "drain-timeout 60"
WANT_WORKERS=3 start_echod
master=$(master_pid)
inode=$(listen_inode)
[ -n "$inode" ] || fail "no listening socket found for port $PORT"
gen1=" $(workers | tr '\n' ' ') "

background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/ready" \
    -m "$T/mark" -t 120
session=$LAST_BG
wait_for 10 "session established" test -f "$T/ready"

# Clients connecting nonstop, two at a time, until $T/stop appears.
"$ECHOTEST" load -p "$PORT" -f "$T/stop" -c 2 -t 120 >"$T/load.out" 2>&1 &
load=$!
BG_PIDS="$BG_PIDS $load"

# Workers started since the first generation.
new_workers() {
	local w n=0
	for w in $(workers); do
		case "$gen1" in *" $w "*) ;; *) n=$((n + 1)) ;; esac
	done
	echo "$n"
}
has_new_workers() {
	[ "$(new_workers)" -eq "$1" ]
}
# Generation 1 is gone but for the worker serving the session.
gen1_left() {
	local w n=0
	for w in $(workers); do
		case "$gen1" in *" $w "*) n=$((n + 1)) ;; esac
	done
	[ "$n" -eq "$1" ]
}

write_conf "prefork 5" "drain-timeout 60"
kill -HUP "$master"
wait_for 10 "reload to generation 2" log_has "reloaded: generation 2, 5 workers"
wait_for 10 "5 workers of the new generation" has_new_workers 5
wait_for 10 "idle old workers gone" gen1_left 1
ok "reload started 5 new workers; the old ones left but the busy one"

# More reloads while the clients keep coming, alternating worker counts.
for gen in 3 4 5 6 7 8; do
	if [ $((gen % 2)) -eq 1 ]; then n=2; else n=5; fi
	write_conf "prefork $n" "drain-timeout 60"
	kill -HUP "$master"
	wait_for 10 "reload to generation $gen" \
	    log_has "reloaded: generation $gen, $n workers"
done
# The last generation has 5 workers; the session's worker still drains.
wait_for 10 "5 + 1 workers after the last reload" has_workers 6
ok "6 more reloads applied under load"

[ "$(listen_inode)" = "$inode" ] ||
    fail "listening socket changed: $inode -> $(listen_inode)"
[ "$(master_pid)" = "$master" ] || fail "master pid changed"
ok "same listening socket (inode $inode) and master after 7 reloads"

touch "$T/mark"
wait_for 20 "the old session echoing after the reloads" test -f "$T/mark.done"
ok "session opened before the reloads still echoes"

touch "$T/stop"
wait "$load" || fail "load: $(cat "$T/load.out")"
grep -q "failed 0$" "$T/load.out" || fail "load: $(cat "$T/load.out")"
ok "no connection failed during the reloads: $(cat "$T/load.out")"
wait "$session" || fail "the session failed"
ok "the session ended cleanly"

# With its connection closed, the last old worker exits.
wait_for 10 "draining worker gone" has_workers 5
[ "$(zombies)" -eq 0 ] || fail "zombies"
ok "old generation gone, no zombies"
