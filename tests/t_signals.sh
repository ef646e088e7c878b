# Every catchable signal that echod does not use, sent to the master and
# to a busy worker, kills neither: both live, the long connection keeps
# echoing and new clients are served (echod(8), SIGNALS).  SIGKILL,
# SIGSTOP and the fault signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
# SIGTRAP, SIGABRT, SIGSYS) are left out, as are those echod uses: SIGHUP,
# SIGINT, SIGTERM, SIGQUIT and SIGUSR2 (the live upgrade, t_upgrade) to
# the master (the worker ignores SIGHUP, SIGINT and SIGUSR2 and gets them
# too).
. "$TESTS_SRCDIR/lib.sh"

STRAY="USR1 ALRM VTALRM PROF WINCH URG IO PWR TSTP TTIN TTOU XCPU XFSZ
    STKFLT CONT CHLD PIPE"
RT=$(seq "$(kill -l RTMIN)" "$(kill -l RTMAX)")

write_conf "prefork 2" "sandbox yes"
WANT_WORKERS=2 start_echod
master=$(master_pid)
before=" $(workers | tr '\n' ' ') "

background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/ready" \
    -m "$T/mark" -t 60
session=$LAST_BG
wait_for 10 "session established" test -f "$T/ready"

busy_worker() {
	local w
	for w in $(workers "$master"); do
		case "$(title "$w")" in
		"echod: worker [idle]"|"echod: worker [starting]") ;;
		"echod: worker ["*) echo "$w"; return 0 ;;
		esac
	done
	return 1
}
wait_for 10 "a busy worker" busy_worker
busy=$(busy_worker)

for s in $STRAY; do
	kill -s "$s" "$master" || fail "kill -$s $master"
	kill -s "$s" "$busy" || fail "kill -$s $busy"
done
for s in HUP INT USR2; do
	kill -s "$s" "$busy" || fail "kill -$s $busy"
done
for n in $RT; do
	kill -n "$n" "$master" || fail "kill -$n $master"
	kill -n "$n" "$busy" || fail "kill -$n $busy"
done

# The master takes its signals in its loop: a request answered after the
# last of them has been seen to.
"$ECHODCTL" -s "$CTL" status >/dev/null ||
    fail "echodctl status after the signals"
alive "$master" || fail "the master died of a stray signal"
alive "$busy" || fail "the busy worker died of a stray signal"
for w in $before; do
	alive "$w" || fail "worker $w died of a stray signal"
done
ok "master and workers alive after $(echo $STRAY | wc -w) signals and" \
    "$(echo $RT | wc -w) real-time ones"

touch "$T/mark"
wait_for 10 "the session echoing after the signals" test -f "$T/mark.done"
"$ECHOTEST" echo -p "$PORT" -n 4096 -c 2 || fail "no echo after the signals"
[ "$(zombies "$master")" -eq 0 ] || fail "zombies"
ok "the busy worker's client keeps echoing, new clients are served"

touch "$T/stop"
wait "$session" || fail "the session failed"
kill -TERM "$master"
wait_gone 10 "master exit" "$master"
ok "the master still stops on SIGTERM"
