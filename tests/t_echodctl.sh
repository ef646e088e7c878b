# echodctl against a real daemon under load: every command in both
# forms, counters exact to the byte, permissions, reload outcomes, the
# stale and the live control socket, and control clients that connect
# and never send, which must not hold up a reload or a stop.
. "$TESTS_SRCDIR/lib.sh"

command -v jq >/dev/null 2>&1 || fail "jq is needed (apt-get install jq)"
ctl() {
	"$ECHODCTL" -s "$CTL" "$@"
}

write_conf "prefork 3" "min-spare 1" "max-spare 4" "drain-timeout 30"
WANT_WORKERS=3 start_echod
master=$(master_pid)

# Exact counters: 3 connections of 1000 bytes, one half-closed 5000.
"$ECHOTEST" echo -p "$PORT" -n 1000 -c 3 || fail "echo"
"$ECHOTEST" echo -p "$PORT" -n 5000 -s || fail "half-close"
exact() {
	ctl -j status | jq -e '.totals.accepted == 4 and
	    .totals.bytes_in == 8000 and .totals.bytes_out == 8000 and
	    .totals.active == 0' >/dev/null
}
wait_for 5 "totals of 4 connections and 8000 bytes each way" exact
ok "totals exact: 4 accepted, 8000 bytes in and out"

# A client that resets mid-stream is an error; clean closes are not.
ctl -j status | jq -e '.totals.errors == 0' >/dev/null || fail "errors before"
"$ECHOTEST" reset -p "$PORT" -n 1048576 >/dev/null || fail "reset client"
errors_one() {
	ctl -j status | jq -e '.totals.errors == 1 and .totals.accepted == 5' \
	    >/dev/null
}
wait_for 5 "one error counted" errors_one
ctl status | grep -q "^connections    5 accepted, 0 active, 1 errors, " ||
    fail "status: $(ctl status | grep ^connections)"
ok "a reset counts as one error, clean closes as none"

# Under load: a session and clients connecting nonstop.
background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/ready" -t 60
wait_for 10 "session" test -f "$T/ready"
"$ECHOTEST" load -p "$PORT" -f "$T/stop" -c 2 -t 60 >"$T/load.out" 2>&1 &
load=$!
BG_PIDS="$BG_PIDS $load"

ctl status >"$T/status" || fail "status"
grep -q "^echod .*, pid $master, up .*, generation 1$" "$T/status" ||
    fail "status: $(head -n 1 "$T/status")"
grep -q "^listening on   127.0.0.1:$PORT (backlog 511, [0-9]* waiting)$" \
    "$T/status" || fail "status: no listener line"
ctl -j status | jq -e --argjson pid "$master" '.pid == $pid and
    .generation == 1 and .uptime >= 0 and (.listeners | length) == 1 and
    .listeners[0].backlog == 511 and (.workers | length) >= 3 and
    (.workers | all(has("pid") and has("generation") and has("state") and
    has("connections") and has("bytes_in") and has("bytes_out") and
    has("peer"))) and .pool.busy >= 1 and (.totals | has("accepted") and
    has("active") and has("bytes_in") and has("bytes_out"))' >/dev/null ||
    fail "status -j: $(ctl -j status)"
ok "status, human and JSON"

# One line per worker process: the same pids as ps shows.  The pool
# adapts under load, so compare until two readings agree.
same_workers() {
	ctl workers >"$T/workers" || fail "workers"
	tail -n +2 "$T/workers" | awk '{ print $1 }' | sort -n >"$T/ctl.pids"
	workers >"$T/ps.pids"
	cmp -s "$T/ctl.pids" "$T/ps.pids"
}
wait_for 10 "echodctl workers to list the pids ps shows" same_workers
head -n 1 "$T/workers" | grep -q "PID GEN STATE" || fail "workers header"
grep -Eq " busy +[0-9.KM]+ +[0-9.KM]+ +[0-9.KM]+ 127\.0\.0\.1:[0-9]+ " \
    "$T/workers" || fail "workers: no busy line with its peer"
ctl -j workers | jq -e '[.workers[] | select(.state == "busy")] |
    length >= 1 and all(.peer != null and .connection_age >= 0)' \
    >/dev/null || fail "workers -j"
ok "workers, human and JSON"

ctl conns >"$T/conns" || fail "conns"
grep -Eq "^ +[0-9]+ 127\.0\.0\.1:[0-9]+ +[0-9]+s .* [0-9]+(us|ms|s) " \
    "$T/conns" || fail "conns: $(cat "$T/conns")"
# A short connection may close between the scoreboard and the kernel's
# dump (its TCP_INFO is then null); the session's never does.
ctl -j conns >"$T/conns.json"
jq -e '.tcp_info == true and (.conns | length) >= 1 and
    (.conns | all(has("pid") and has("peer") and .age >= 0 and
    has("rtt_us") and has("cwnd"))) and
    (.conns | any(.rtt_us != null and .cwnd > 0))' "$T/conns.json" \
    >/dev/null || fail "conns -j: $(cat "$T/conns.json")"
ok "conns, human and JSON, with the kernel's TCP_INFO"

# Every line but the configuration file's, which is as long as its path
# (in make distcheck's build tree, longer than 80 columns).
for f in status workers conns; do
	awk -v f="$f" '!/^configuration / && length > 80 {
	    print f ": " length ": " $0; bad = 1 } END { exit bad }' "$T/$f" ||
	    fail "$f is wider than 80 columns"
done
ok "human output fits 80 columns"

# reload: success when the new generation serves, failure with file:line.
out=$(ctl reload) || fail "reload"
# At least prefork (3) workers; under load the pool may have grown.
n=$(echo "$out" | sed -n 's/^generation 2 serving with \([0-9]*\) workers$/\1/p')
[ -n "$n" ] && [ "$n" -ge 3 ] || fail "reload: $out"
write_conf "prefork 3" "min-spare 1" "max-spare 4" "drain-timeout 30" "bogus 1"
if err=$(ctl reload 2>&1); then
	fail "reload of a bad config succeeded: $err"
fi
case "$err" in
*"$CONF:7: unknown keyword \"bogus\"") ;;
*) fail "reload error: $err" ;;
esac
ctl -j status | jq -e '.generation == 2' >/dev/null || fail "generation changed"
ok "reload: success reported when serving, failure with file and line"

# Permissions: outside the group no connection at all; in the group
# reading is allowed, changing is for root.
if [ "$(id -u)" -eq 0 ] && getent group nogroup >/dev/null; then
	nobody() {
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
		    "$ECHODCTL" -s "$CTL" "$@"
	}
	chmod 711 "$T"
	if err=$(nobody status 2>&1); then
		fail "a user outside the group got: $err"
	fi
	case "$err" in *"permission denied"*) ;; *) fail "nobody: $err" ;; esac
	# With the file opened to all, the master's own check (SO_PEERCRED)
	# refuses, and says so: the client reads the refusal, not a reset.
	chmod 666 "$CTL"
	for i in 1 2 3 4 5; do
		if err=$(nobody status 2>&1); then
			fail "SO_PEERCRED let a user outside the group in"
		fi
		[ "$err" = "echodctl: permission denied (root or the control group only)" ] ||
		    fail "refusal $i: $err"
	done
	chmod 660 "$CTL"
	ok "permission refused outside the control group, by file and by SO_PEERCRED"

	write_conf "prefork 3" "min-spare 1" "max-spare 4" "drain-timeout 30" \
	    "control group nogroup"
	touch "$T/stop"
	wait "$load" || fail "load: $(cat "$T/load.out")"
	grep -q "failed 0$" "$T/load.out" || fail "load: $(cat "$T/load.out")"
	kill -TERM "$master"
	wait_for 5 "echod to stop" exited "$master"
	[ ! -e "$CTL" ] || fail "control socket left behind"
	rm -f "$T/stop"
	WANT_WORKERS=3 start_echod
	master=$(master_pid)
	[ "$(stat -c '%a %U %G' "$CTL")" = "660 root nogroup" ] ||
	    fail "control socket: $(stat -c '%a %U %G' "$CTL")"
	nobody status >/dev/null || fail "a member of the group cannot read"

	# Supplementary groups, many of them: the kernel's list, not a
	# line of /proc/PID/status read into a fixed buffer.  A member by a
	# supplementary group whose number comes after 4 KiB of "Groups:"
	# text (the kernel sorts them; 1000 groups below it) is served.
	gid=$(getent group nogroup | cut -d: -f3)
	many=$(seq -s, $((gid - 1000)) $((gid - 1)))
	as_groups() {
		groups=$1
		shift
		setpriv --reuid=nobody --regid=$((gid - 2000)) \
		    --groups="$groups" "$@"
	}
	as_groups "$many,$gid" "$ECHODCTL" -s "$CTL" status >"$T/many" 2>&1 ||
	    fail "a member by its 1001st group was refused: $(cat "$T/many")"
	# A non-member whose "Groups:" line holds a number that begins
	# with the control group's exactly where 4 KiB end (7- and 8-
	# character entries fill "Groups:\t" and the rest up to it) is
	# refused: that number is not the control group.
	cut=$gid
	while [ ${#cut} -lt 9 ]; do cut=${cut}1; done
	fill=$((4095 - 8 - ${#gid}))
	six=0
	while [ $(((fill - 7 * six) % 8)) -ne 0 ]; do six=$((six + 1)); done
	near="$(seq -s, 100000 $((100000 + six - 1))),$(seq -s, 1000000 \
	    $((1000000 + (fill - 7 * six) / 8 - 1))),$cut"
	line=$(as_groups "$near" cat /proc/self/status | grep '^Groups:')
	[ "$(printf '%s' "$line" | head -c 4095 | tail -c ${#gid})" = "$gid" ] ||
	    fail "the test's groups do not end 4095 bytes of Groups: at $gid"
	chmod 666 "$CTL"
	if err=$(as_groups "$near" "$ECHODCTL" -s "$CTL" status 2>&1); then
		fail "a non-member with group $cut was let in"
	fi
	[ "$err" = "echodctl: permission denied (root or the control group only)" ] ||
	    fail "non-member with group $cut: $err"
	chmod 660 "$CTL"
	ok "control group: a member by its 1001st supplementary group is" \
	    "served, a non-member with group $cut refused"
	if err=$(nobody reload 2>&1); then
		fail "a group member could reload"
	fi
	case "$err" in *"reload needs root"*) ;; *) fail "nobody: $err" ;; esac
	chmod 755 "$T"
	ok "control group: members read, only root reloads; socket 0660 root:nogroup"
else
	touch "$T/stop"
	log "not root: permission checks not run"
fi

# Control clients that connect and never send (more than it serves at
# once) hold up neither a reload nor a stop.
for i in $(seq 20); do
	background "$ECHOTEST" idle -U "$CTL" -t 30
done
kill -HUP "$master"
wait_for 2 "a reload despite idle control clients" \
    log_has "reloaded: generation 2, 3 workers"
ctl -t 15 status >/dev/null || fail "status after idle clients timed out"
ok "idle control clients: reload in time, served again after their timeout"

# A stale socket (a killed master's) is replaced; a live one refuses.
# The master killed is a fresh one: the one above ends normally, so that
# make coverage counts what it did.
kill -TERM "$master"
wait_for 5 "echod to stop" exited "$master"
WANT_WORKERS=3 start_echod
master=$(master_pid)
orphans=$(workers)
kill -9 "$master"
wait_for 5 "master gone" exited "$master"
wait_gone 5 "its workers gone (parent-death signal)" $orphans
[ -S "$CTL" ] || fail "no stale socket to test with"
WANT_WORKERS=3 start_echod
master=$(master_pid)
ctl status >/dev/null || fail "status through the replaced socket"
PORT2=$("$ECHOTEST" freeport)
sed -e "s|$PIDFILE|$T/second.pid|" -e "s|port $PORT|port $PORT2|" \
    "$CONF" >"$T/second.conf"
if "$ECHOD" -d -f "$T/second.conf" >"$T/second.out" 2>&1; then
	fail "a second echod took a live control socket"
fi
grep -q "control socket $CTL: another echod is listening on it" \
    "$T/second.out" || fail "second: $(cat "$T/second.out")"
ok "stale control socket replaced; a live one refuses a second echod"

# stop: echodctl says so, and echod goes.
out=$(ctl stop) || fail "stop"
[ "$out" = "fast stop" ] || fail "stop: $out"
wait_for 2 "echod gone after echodctl stop" exited "$master"
[ ! -e "$CTL" ] || fail "control socket left after stop"

# SIGTERM with silent control clients connected: gone within 2 s.
WANT_WORKERS=3 start_echod
master=$(master_pid)
for i in $(seq 20); do
	background "$ECHOTEST" idle -U "$CTL" -t 30
done
wait_for 5 "idle control clients connected" eval \
    '[ "$(ls -l /proc/$master/fd | grep -c socket)" -ge 16 ]'
kill -TERM "$master"
wait_for 2 "echod gone after SIGTERM despite idle control clients" \
    exited "$master"
ok "SIGTERM with idle control clients: stopped within 2 s"
if err=$(ctl status 2>&1); then
	fail "status with no echod: $err"
fi
case "$err" in *"no echod is running on $CTL"*) ;; *) fail "$err" ;; esac
ok "stop, and a clear error when no echod runs"
