#!/bin/bash
# Upgrades that fail, and what may not happen during one.  The new
# binary (the copy an upgrade starts, replaced here by wrappers) fails in
# each way an upgrade can: a configuration error, an exit at start-up
# (the fault shim), workers that cannot start, a binary that never
# serves (killed at the deadline), a new master killed with -9 midway.
# Each time the old master serves on with its workers, echodctl upgrade
# exits 1 with the reason, and the pidfile still names the old master.
# While an upgrade is under way, a second one and a reload are refused;
# a SIGTERM to the old master then stops both.
. "$TESTS_SRCDIR/lib.sh"

mkdir -p "$T/bin"
REAL="$T/bin/echod.real"
cp "$ECHOD" "$REAL"
cp "$ECHOD" "$T/bin/echod"
ECHOD="$T/bin/echod"

# install SCRIPT: the next upgrade starts "sh -c SCRIPT" with echod's
# arguments; "" puts the good binary back.
install() {
	if [ -z "$1" ]; then
		cp "$REAL" "$T/bin/echod.new"
	else
		printf '#!/bin/sh\n%s\n' "$1" >"$T/bin/echod.new"
		chmod +x "$T/bin/echod.new"
	fi
	mv -f "$T/bin/echod.new" "$T/bin/echod"
}

# still_serving WHAT: the old master, its pidfile, its workers, its echo.
still_serving() {
	[ "$(master_pid)" = "$master" ] ||
	    fail "$1: pidfile names $(master_pid), not $master"
	[ ! -e "$PIDFILE.oldbin" ] || fail "$1: $PIDFILE.oldbin left behind"
	alive "$master" || fail "$1: the old master died"
	wait_for 10 "$1: 2 workers" has_workers 2
	"$ECHOTEST" echo -p "$PORT" -n 100 -c 2 >/dev/null ||
	    fail "$1: no echo"
	[ "$(masters)" -eq 1 ] || fail "$1: $(masters) masters"
}

# upgrade_fails WHAT PATTERN: echodctl upgrade exits 1 saying PATTERN.
upgrade_fails() {
	local out rc=0
	out=$("$ECHODCTL" -s "$CTL" upgrade 2>&1) || rc=$?
	[ "$rc" -eq 1 ] || fail "$1: echodctl upgrade exited $rc: $out"
	echo "$out" | grep -Eq -- "$2" || fail "$1: \"$out\" lacks /$2/"
	echo "$out" | grep -q "pid $master still serves" ||
	    fail "$1: \"$out\" does not say who serves"
	still_serving "$1"
	ok "$1: $out"
}

# begin_upgrade ctl|usr2: asks $master for an upgrade (echodctl in the
# background, its answer in $T/up.out and its pid in $up; or SIGUSR2)
# and waits for the new master it starts, whose pid goes in $new.
begin_upgrade() {
	local started
	started=$(grep -c "echod[.a-z]*\[$master\]: upgrade: started" "$LOG")
	if [ "$1" = ctl ]; then
		"$ECHODCTL" -s "$CTL" upgrade >"$T/up.out" 2>&1 &
		up=$!
		BG_PIDS="$BG_PIDS $up"
	else
		kill -USR2 "$master"
	fi
	wait_for 5 "a new master" eval '[ "$(grep -c \
	    "echod[.a-z]*\[$master\]: upgrade: started" "$LOG")" -gt "$started" ]'
	new=$(sed -n "s/^echod[.a-z]*\[$master\]: upgrade: started .* as pid \([0-9]*\)$/\1/p" \
	    "$LOG" | tail -n 1)
}

write_conf "prefork 2" "drain-timeout 30"
WANT_WORKERS=2 start_echod
master=$(master_pid)
inode=$(listen_inode)

# A configuration error: the new master says which, and exits.
cp "$CONF" "$T/good.conf"
echo "no-such-directive 1" >>"$CONF"
upgrade_fails "configuration error" "no-such-directive"
cp "$T/good.conf" "$CONF"

# An exit at start-up: the pidfile cannot be written (the fault shim).
install "LD_PRELOAD=$FAULTSHIM ECHOD_FAULT=fail-pwrite exec $REAL \"\$@\""
upgrade_fails "exit at start-up" "pidfile.*No space left"

# Workers that cannot start: every one aborts in accept().
install "LD_PRELOAD=$FAULTSHIM ECHOD_FAULT=crash-accept exec $REAL \"\$@\""
upgrade_fails "workers crash at start-up" "."

# Not even an echod: it never says it serves, and is killed at 10 s.
install 'exec sleep 60'
upgrade_fails "never ready" "did not serve within [0-9]+ s"

# A binary that cannot be run at all.
install "exit 126"
upgrade_fails "exits at once" "status 126"

# A new master that is slow to start (the fault shim delays it): while
# it is under way, a second upgrade and a reload are refused; then it
# is killed with -9, and the upgrade is reported failed.
install "LD_PRELOAD=$FAULTSHIM ECHOD_FAULT=slow-setup ECHOD_FAULT_DELAY_MS=4000 exec $REAL \"\$@\""
begin_upgrade ctl
alive "$new" || fail "no new master"
out=$("$ECHODCTL" -s "$CTL" upgrade 2>&1) && fail "second upgrade: $out"
echo "$out" | grep -q "under way" || fail "second upgrade: $out"
ok "a second upgrade is refused: $out"
out=$("$ECHODCTL" -s "$CTL" reload 2>&1) && fail "reload: $out"
echo "$out" | grep -q "under way" || fail "reload: $out"
ok "a reload is refused: $out"
kill -HUP "$master"
wait_for 5 "SIGHUP refused" log_has "an upgrade is under way: reload refused"
ok "SIGHUP during an upgrade: the reload is refused"
kill -9 "$new"
rc=0
wait "$up" || rc=$?
[ "$rc" -eq 1 ] || fail "kill -9: echodctl upgrade exited $rc: $(cat "$T/up.out")"
grep -q "killed by signal 9" "$T/up.out" || fail "kill -9: $(cat "$T/up.out")"
still_serving "kill -9 of the new master"
ok "kill -9 of the new master: $(cat "$T/up.out")"

# SIGTERM to the old master while the new one proves itself: both go.
begin_upgrade ctl
kill -TERM "$master"
wait_gone 10 "both masters after SIGTERM" "$master" "$new"
wait "$up"
[ ! -e "$PIDFILE" ] && [ ! -e "$PIDFILE.oldbin" ] ||
    fail "SIGTERM: pidfile left: $(ls "$T")"
[ ! -e "$CTL" ] || fail "SIGTERM: control socket left"
[ -z "$(listen_inode)" ] || fail "SIGTERM: the port still listens"
ok "SIGTERM during an upgrade stops both masters, removes the pidfile"

# SIGQUIT likewise, graceful for the old master's connections: the new
# master goes at once, the old one once its long connection ends.
install ""
WANT_WORKERS=2 start_echod
master=$(master_pid)
"$ECHOTEST" session -p "$PORT" -f "$T/end" -r "$T/ready" -t 30 \
    >"$T/session" 2>&1 &
session=$!
BG_PIDS="$BG_PIDS $session"
wait_for 10 "a long connection" test -e "$T/ready"
install "LD_PRELOAD=$FAULTSHIM ECHOD_FAULT=slow-setup ECHOD_FAULT_DELAY_MS=2000 exec $REAL \"\$@\""
begin_upgrade usr2
kill -QUIT "$master"
wait_gone 10 "the new master after SIGQUIT" "$new"
alive "$master" || fail "SIGQUIT: the old master left its connection"
touch "$T/end"
wait "$session" || fail "SIGQUIT: the long connection: $(cat "$T/session")"
wait_gone 10 "the old master once its connection ended" "$master"
[ ! -e "$PIDFILE" ] && [ ! -e "$PIDFILE.oldbin" ] && [ ! -e "$CTL" ] ||
    fail "SIGQUIT: files left: $(ls "$T")"
ok "SIGQUIT during an upgrade: the new master goes, the old one drains"

# kill -9 of the old master while the new one proves itself (before it
# has even checked who started it): the new one serves once it is ready,
# on the sockets it was handed, with the pidfile and the control socket.
install ""
WANT_WORKERS=2 start_echod
master=$(master_pid)
inode=$(listen_inode)
install "LD_PRELOAD=$FAULTSHIM ECHOD_FAULT=slow-setup ECHOD_FAULT_DELAY_MS=2000 exec $REAL \"\$@\""
begin_upgrade usr2
kill -9 "$master"
wait_for 10 "the new master's pidfile" eval '[ "$(master_pid)" = "$new" ]'
wait_for 10 "its 2 workers" has_workers 2
"$ECHOTEST" echo -p "$PORT" -n 1000 >/dev/null || fail "no echo from $new"
"$ECHODCTL" -s "$CTL" status | grep -q "pid $new," ||
    fail "the control socket does not reach $new"
[ "$(listen_inode)" = "$inode" ] ||
    fail "kill -9 of the old master: socket $(listen_inode), was $inode"
ok "kill -9 of the old master: pid $new serves alone, on socket $inode"
# Its old master could not remove PIDFILE.oldbin: the new one does, once
# it sees the old one gone, and a later upgrade works as any other.
wait_for 10 "the stale $PIDFILE.oldbin removed" test ! -e "$PIDFILE.oldbin"
log_has "echod[.a-z]*\[$new\]: upgrade: removed .*\.oldbin, left by an old master" ||
    fail "the removal of the stale .oldbin is not logged"
install ""
master=$new
out=$("$ECHODCTL" -s "$CTL" upgrade 2>&1) || fail "the next upgrade: $out"
newer=$(echo "$out" | sed -n 's/^pid \([0-9]*\) serves.*/\1/p')
wait_gone 10 "pid $master after the next upgrade" "$master"
[ "$(master_pid)" = "$newer" ] || fail "pidfile names $(master_pid), not $newer"
[ ! -e "$PIDFILE.oldbin" ] || fail "$PIDFILE.oldbin after the next upgrade"
[ "$(masters)" -eq 1 ] || fail "$(masters) masters after the next upgrade"
ok "after the kill -9: .oldbin removed by $master, the next upgrade works: $out"
"$ECHODCTL" -s "$CTL" stop >/dev/null || fail "stop"
wait_gone 10 "pid $newer" "$newer"

# A stale PIDFILE.oldbin found at a start (its master and the new one
# both gone) is removed too: it names a dead process.
echo 999999 >"$PIDFILE.oldbin"
GATE="$T/fault"
rm -f "$GATE"
ECHOD_FAULT_GATE="$GATE" ECHOD_FAULT_DELAY_MS=3000 LD_PRELOAD="$FAULTSHIM" \
    "$ECHOD" -d -f "$CONF" >>"$LOG" 2>&1 &
BG_PIDS="$BG_PIDS $!"
wait_for 10 "pidfile of a running master" pidfile_ready
wait_for 10 "2 workers" has_workers 2
master=$(master_pid)
[ ! -e "$PIDFILE.oldbin" ] || fail "a stale $PIDFILE.oldbin survived a start"
ok "a stale .oldbin is removed at a start"

# An upgrade asked for while a reload's generation is on trial (its new
# workers slow to set themselves up: the fault shim, gated so that only
# workers forked after the reload are slow) is refused, by echodctl and
# by SIGUSR2, and the reload then completes.
echo slow-setup >"$GATE"
"$ECHODCTL" -s "$CTL" -t 30 reload >"$T/reload.out" 2>&1 &
reloading=$!
BG_PIDS="$BG_PIDS $reloading"
wait_for 10 "the reload's trial" log_has "echod[.a-z]*\[$master\]: reloaded: generation 2"
out=$("$ECHODCTL" -s "$CTL" upgrade 2>&1) && fail "upgrade during a trial: $out"
echo "$out" | grep -q "a reload is under way" || fail "upgrade during a trial: $out"
kill -USR2 "$master"
wait_for 5 "SIGUSR2 refused" \
    log_has "echod[.a-z]*\[$master\]: upgrade refused: a reload is under way"
wait "$reloading" || fail "the reload: $(cat "$T/reload.out")"
rm -f "$GATE"
grep -q "generation 2 serving" "$T/reload.out" ||
    fail "the reload: $(cat "$T/reload.out")"
[ "$(master_pid)" = "$master" ] && [ "$(masters)" -eq 1 ] ||
    fail "an upgrade happened during the trial"
ok "an upgrade during a reload's trial is refused: $out"

# After the hand-over, while the old master finishes a long connection,
# the new one serves: a SIGHUP to it is refused until the old one has
# gone, a SIGTERM to the old one cuts only its own connection.
install ""
"$ECHOTEST" session -p "$PORT" -f "$T/end2" -r "$T/ready2" -t 30 \
    >"$T/session2" 2>&1 &
session=$!
BG_PIDS="$BG_PIDS $session"
wait_for 10 "a long connection" test -e "$T/ready2"
out=$("$ECHODCTL" -s "$CTL" upgrade 2>&1) || fail "upgrade: $out"
new=$(echo "$out" | sed -n 's/^pid \([0-9]*\) serves.*/\1/p')
alive "$master" || fail "the old master left its connection"
kill -HUP "$new"
wait_for 5 "SIGHUP to the new master refused" \
    log_has "echod[.a-z]*\[$new\]: an upgrade is under way: reload refused"
kill -TERM "$master"
wait_gone 5 "the draining old master after SIGTERM" "$master"
wait "$session" && fail "the old master's connection outlived it"
[ "$(master_pid)" = "$new" ] && [ "$(masters)" -eq 1 ] ||
    fail "after SIGTERM to the old master: pidfile $(master_pid), $(masters) masters"
[ ! -e "$PIDFILE.oldbin" ] || fail "$PIDFILE.oldbin after SIGTERM"
"$ECHOTEST" echo -p "$PORT" -n 1000 >/dev/null || fail "no echo from $new"
ok "while the old master drains: SIGHUP to the new one refused, SIGTERM to the old one stops it alone"

# A SIGTERM to the new master while the old one drains stops the
# service: the new master at once, the old one once its connection has
# ended; neither leaves the pidfile, PIDFILE.oldbin or the control
# socket behind.
master=$new
"$ECHOTEST" session -p "$PORT" -f "$T/end3" -r "$T/ready3" -t 30 \
    >"$T/session3" 2>&1 &
session=$!
BG_PIDS="$BG_PIDS $session"
wait_for 10 "a long connection" test -e "$T/ready3"
out=$("$ECHODCTL" -s "$CTL" upgrade 2>&1) || fail "upgrade: $out"
new=$(echo "$out" | sed -n 's/^pid \([0-9]*\) serves.*/\1/p')
kill -TERM "$new"
wait_gone 5 "the new master after SIGTERM" "$new"
alive "$master" || fail "the old master left its connection"
touch "$T/end3"
wait "$session" || fail "the old master's connection: $(cat "$T/session3")"
wait_gone 10 "the old master once its connection ended" "$master"
[ ! -e "$PIDFILE" ] && [ ! -e "$PIDFILE.oldbin" ] && [ ! -e "$CTL" ] ||
    fail "SIGTERM to the new master: files left: $(ls "$T" | tr "\n" " ")"
[ -z "$(listen_inode)" ] || fail "the port still listens"
ok "SIGTERM to the new master while the old one drains: both gone, nothing left"

# kill -9 of the old master, and then the new one cannot start its
# workers: nothing holds the port any more, the new master's log says
# why, and no pidfile or PIDFILE.oldbin is left to mislead.
rm -f "$GATE"
ECHOD_FAULT_GATE="$GATE" ECHOD_FAULT_DELAY_MS=2000 LD_PRELOAD="$FAULTSHIM" \
    "$ECHOD" -d -f "$CONF" >>"$LOG" 2>&1 &
BG_PIDS="$BG_PIDS $!"
wait_for 10 "pidfile of a running master" pidfile_ready
wait_for 10 "2 workers" has_workers 2
master=$(master_pid)
# The new master is slow to begin its loop; its workers crash.
echo slow-setup >"$GATE"
begin_upgrade usr2
echo crash-setup >"$GATE"
kill -9 "$master"
wait_gone 30 "the new master, whose workers cannot start" "$new"
rm -f "$GATE"
[ -z "$(listen_inode)" ] || fail "the port still listens after both masters"
log_has "echod[.a-z]*\[$new\]: .*(giving up|keep failing|did not start)" ||
    fail "the new master does not say why it stopped"
[ ! -e "$PIDFILE" ] && [ ! -e "$PIDFILE.oldbin" ] && [ ! -e "$CTL" ] ||
    fail "files left: $(ls "$T" | tr "\n" " ")"
ok "kill -9 of the old master, then a new master that fails: nothing listens, $(grep "echod[.a-z]*\[$new\]: .*stop" "$LOG" | head -n 1)"
