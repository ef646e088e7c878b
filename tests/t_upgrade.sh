#!/bin/bash
# The live binary upgrade under load: five upgrades in a row (echodctl
# upgrade, and SIGUSR2), each while connect-echo-close clients run and
# long connections are open.  No connection is refused or fails, every
# long connection echoes to its end under the old master, the listening
# socket is the same one throughout, the pidfile names the new master,
# and at the end there is one master and no zombie.
. "$TESTS_SRCDIR/lib.sh"

# The "installed binary", which an upgrade starts again: a copy of ours.
mkdir -p "$T/bin"
cp "$ECHOD" "$T/bin/echod"
ECHOD="$T/bin/echod"

write_conf "prefork 2" "drain-timeout 60"
WANT_WORKERS=2 start_echod
inode=$(listen_inode)
[ -n "$inode" ] || fail "no listening socket"

"$ECHOTEST" load -p "$PORT" -f "$T/stop" -c 4 -t 120 >"$T/load.out" 2>&1 &
load=$!
BG_PIDS="$BG_PIDS $load"

old=$(master_pid)
for i in 1 2 3 4 5; do
	# Two long connections, served by the old master's workers.
	for s in a b; do
		"$ECHOTEST" session -p "$PORT" -f "$T/end.$i" \
		    -r "$T/ready.$i$s" -m "$T/mark.$i$s" -t 60 \
		    >"$T/session.$i$s" 2>&1 &
		eval "session_$s=\$!"
		BG_PIDS="$BG_PIDS $!"
		wait_for 10 "session $i$s" test -e "$T/ready.$i$s"
	done
	if [ $((i % 2)) -eq 1 ]; then
		out=$("$ECHODCTL" -s "$CTL" upgrade 2>&1) ||
		    fail "upgrade $i: $out"
		new=$(echo "$out" | sed -n 's/^pid \([0-9]*\) serves.*/\1/p')
		[ -n "$new" ] || fail "upgrade $i: no pid in \"$out\""
	else
		kill -USR2 "$old"
		wait_for 15 "upgrade $i (SIGUSR2)" \
		    log_has "echod\[$old\]: upgrade: pid [0-9]+ serves"
		new=$(sed -n "s/^echod\[$old\]: upgrade: pid \([0-9]*\) serves.*/\1/p" \
		    "$LOG")
	fi
	[ "$new" != "$old" ] && alive "$new" || fail "upgrade $i: $new"
	[ "$(master_pid)" = "$new" ] ||
	    fail "upgrade $i: pidfile names $(master_pid), not $new"
	[ "$(listen_inode)" = "$inode" ] ||
	    fail "upgrade $i: listening socket $(listen_inode), was $inode"
	# The old master stays for its long connections, which still echo.
	alive "$old" || fail "upgrade $i: old master $old left its clients"
	for s in a b; do
		touch "$T/mark.$i$s"
		wait_for 10 "session $i$s echoing after the upgrade" \
		    test -e "$T/mark.$i$s.done"
	done
	touch "$T/end.$i"
	for s in a b; do
		eval "p=\$session_$s"
		wait "$p" || fail "session $i$s: $(cat "$T/session.$i$s")"
	done
	wait_gone 10 "old master $old once its connections ended" "$old"
	# Its closing totals, the long connections among them, are logged.
	log_has "echod\[$old\]: upgraded: this master stopped after [1-9][0-9]* connections" ||
	    fail "upgrade $i: no closing totals from $old"
	[ "$(masters)" -eq 1 ] || fail "upgrade $i: $(masters) masters: $(ps -o pid,ppid,stat,args -p "$(pgrep -d, -f "^echod: master .*$CONF")")"
	wait_for 10 "2 workers of pid $new" has_workers 2
	[ "$(zombies "$new")" -eq 0 ] || fail "upgrade $i: zombies"
	ok "upgrade $i: pid $old -> $new, socket $inode, long connections echoed to their end"
	old=$new
done
[ -e "$PIDFILE.oldbin" ] && fail "$PIDFILE.oldbin left behind"

touch "$T/stop"
wait "$load" || fail "load: $(cat "$T/load.out")"
grep -q "failed 0$" "$T/load.out" || fail "load: $(cat "$T/load.out")"
ok "under load: $(cat "$T/load.out")"

"$ECHOTEST" echo -p "$PORT" -n 1000 -c 2 || fail "echo after the upgrades"
"$ECHODCTL" -s "$CTL" status >"$T/status" || fail "status"
grep -q "pid $old," "$T/status" || fail "status: $(head -1 "$T/status")"
ok "one master, pid $old, answers on the control socket"
"$ECHODCTL" -s "$CTL" stop >/dev/null || fail "stop"
wait_gone 10 "the last master" "$old"
[ -e "$PIDFILE" ] && fail "pidfile left after the stop"
[ -e "$CTL" ] && fail "control socket left after the stop"
ok "stopped: pidfile and control socket removed"
