# Daemon mode (no -d): the command returns 0 once the daemon runs; the
# master has fds 0-2 on /dev/null, works from "/" with umask 022, runs in
# a session of its own without being its leader, and has no controlling
# tty; the process titles show the master's generation and the idle
# workers; the master and every worker share the one listening socket,
# and only the master holds the pidfile; echo works; SIGTERM stops the
# master and all workers and removes the pidfile.  (The log goes to
# syslog, absent here, so the test looks only at /proc.)
. "$TESTS_SRCDIR/lib.sh"

# Fields of /proc/PID/stat after "(comm)", which may hold blanks: $1 is
# field 3 (state), so field N is $((N - 2)).
stat_field() {
	local s n=$2
	s=$(cat "/proc/$1/stat") || return 1
	s=${s##*) }
	set -- $s
	shift $((n - 3))
	echo "$1"
}

# fd_targets PID: where each of its descriptors points, one per line.
fd_targets() {
	local fd
	for fd in /proc/"$1"/fd/*; do
		readlink "$fd"
	done
}

write_conf "prefork 3"
# A restrictive umask, to see the daemon set its own.
(umask 077 && exec "$ECHOD" -f "$CONF") >"$T/start.out" 2>"$T/start.err" &
starter=$!
BG_PIDS="$BG_PIDS $starter"
wait_for 10 "echod to return after daemonizing" exited "$starter"
wait "$starter"
rc=$?
[ "$rc" -eq 0 ] || { cat "$T/start.err"; fail "echod -f returned $rc"; }
[ ! -s "$T/start.out" ] && [ ! -s "$T/start.err" ] ||
    fail "daemon start wrote output: $(cat "$T/start.out" "$T/start.err")"
ok "echod returns 0 once daemonized, silently"

wait_for 10 "pidfile of a running master" pidfile_ready
m=$(master_pid)
[ "$m" != "$starter" ] || fail "the master is the process that was started"
wait_for 10 "3 workers" has_workers 3
wait_for 10 "3 idle workers" all_idle
ws=$(workers)

for fd in 0 1 2; do
	target=$(readlink "/proc/$m/fd/$fd") || fail "master has no fd $fd"
	[ "$target" = /dev/null ] || fail "master fd $fd is $target, not /dev/null"
done
for w in $ws; do
	for fd in 0 1 2; do
		target=$(readlink "/proc/$w/fd/$fd") || fail "worker $w has no fd $fd"
		[ "$target" = /dev/null ] ||
		    fail "worker $w fd $fd is $target, not /dev/null"
	done
done
ok "fds 0, 1 and 2 of the master and of each worker are /dev/null"

cwd=$(readlink "/proc/$m/cwd")
[ "$cwd" = / ] || fail "master works in $cwd, not /"
ok "master works from /"

umask=$(awk '$1 == "Umask:" { print $2 }' "/proc/$m/status")
[ "$umask" = 0022 ] || fail "master's umask is $umask, not 0022 (started with 0077)"
ok "umask 022, whatever the caller's"

pgrp=$(stat_field "$m" 5)
sid=$(stat_field "$m" 6)
tty=$(stat_field "$m" 7)
mysid=$(stat_field $$ 6)
[ "$sid" != "$mysid" ] || fail "master is in the test's session $mysid"
[ "$sid" != "$m" ] || fail "master $m is a session leader (could acquire a tty)"
[ "$pgrp" != "$m" ] || fail "master $m is a process group leader"
[ "$pgrp" = "$sid" ] || fail "master's group $pgrp is not its session's $sid"
[ "$tty" = 0 ] || fail "master has a controlling tty ($tty)"
for w in $ws; do
	[ "$(stat_field "$w" 6)" = "$sid" ] || fail "worker $w in another session"
	[ "$(stat_field "$w" 7)" = 0 ] || fail "worker $w has a controlling tty"
done
ok "own session $sid (not its leader, not the test's $mysid), no controlling tty"

t=$(title "$m")
[ "$t" = "echod: master [gen 1, 3 workers] $CONF" ] ||
    fail "master title: \"$t\""
for w in $ws; do
	t=$(title "$w")
	[ "$t" = "echod: worker [idle]" ] || fail "worker $w title: \"$t\""
done
ok "titles: \"echod: master [gen 1, 3 workers] $CONF\", \"echod: worker [idle]\""

inode=$(listen_inode)
[ -n "$inode" ] || fail "nothing listens on port $PORT"
[ "$(echo "$inode" | wc -l)" -eq 1 ] || fail "several listening sockets: $inode"
for p in $m $ws; do
	fd_targets "$p" | grep -qx "socket:\[$inode\]" ||
	    fail "process $p does not hold the listening socket $inode"
done
ok "master and each worker hold the same listening socket (inode $inode)"

fd_targets "$m" | grep -qxF "$PIDFILE" || fail "master does not hold $PIDFILE"
for w in $ws; do
	fd_targets "$w" | grep -qxF "$PIDFILE" &&
	    fail "worker $w holds the pidfile open (and so its lock)"
done
ok "only the master holds the pidfile"

"$ECHOTEST" echo -p "$PORT" -n 65536 -c 6 || fail "echo from the daemon"
ok "the daemon echoes"

kill -TERM "$m"
wait_for 10 "master $m to exit" exited "$m"
wait_gone 10 "workers $(echo $ws) to exit" $ws
wait_for 10 "pidfile removed" test ! -e "$PIDFILE"
[ -z "$(listen_inode)" ] || fail "port $PORT still listening after the stop"
ok "SIGTERM: master and workers gone, pidfile removed, port closed"
