# Workers that die are reaped, logged and replaced: one, then twenty at
# once, with no zombie left and no throttling (kill -9 is not a failure
# to start).
. "$TESTS_SRCDIR/lib.sh"

write_conf "prefork 4"
start_echod
victim=$(workers | head -n 1)
kill -9 "$victim"
replaced() {
	[ "$(nworkers)" -eq "$1" ] && ! workers | grep -qx "$victim"
}
wait_for 10 "worker $victim replaced" replaced 4
log_has "worker $victim \(generation 1\) killed by signal 9" ||
    fail "death of $victim not logged"
[ "$(zombies)" -eq 0 ] || fail "zombies"
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 8 || fail "no echo after the kill"
ok "kill -9 of one worker: logged and replaced"

write_conf "prefork 20"
kill -HUP "$(master_pid)"
wait_for 10 "20 workers" has_workers 20
old=" $(workers | tr '\n' ' ') "
kill -9 $(workers)
all_new() {
	local w
	[ "$(nworkers)" -eq 20 ] || return 1
	for w in $(workers); do
		case "$old" in *" $w "*) return 1 ;; esac
	done
}
wait_for 10 "20 new workers" all_new
[ "$(zombies)" -eq 0 ] || fail "zombies"
log_has "next worker start" && fail "kill -9 was taken for a start-up failure"
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 40 || fail "no echo after the kills"
ok "kill -9 of 20 workers at once: 20 new ones, no zombies, no throttling"

# The ones just started die too: still no throttling, still recovered.
old=" $(workers | tr '\n' ' ') "
kill -9 $(workers)
wait_for 10 "20 new workers again" all_new
log_has "next worker start" && fail "kill -9 was taken for a start-up failure"
ok "young workers killed: replaced at once"
