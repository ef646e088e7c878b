# echodctl stack: the system call each worker is in, as root, agreeing
# with /proc/PID/syscall read here (accept on the listener when idle, read
# or splice on the client's socket when busy, poll() or epoll_wait() on
# every listener when there are several); the states alone, and no
# failure, for a member of the control group; -j for jq.  And echodctl
# workers' CPU column, which grows for a worker that echoes a large
# stream.
. "$TESTS_SRCDIR/lib.sh"

command -v jq >/dev/null 2>&1 || fail "jq is needed (apt-get install jq)"
[ "$(id -u)" -eq 0 ] || skip "echodctl stack reads the workers' /proc as root"
ctl() {
	"$ECHODCTL" -s "$CTL" "$@"
}

# The number of a system call by <sys/syscall.h>, as the kernel has it.
sysno() {
	echo '#include <sys/syscall.h>' | ${CPP:-cpp} -dM - |
	    sed -n "s/^#define __NR_$1 \([0-9]*\)\$/\1/p"
}
accept_nr=$(sysno accept)
accept4_nr=$(sysno accept4)
[ -n "$accept_nr" ] && [ -n "$accept4_nr" ] || fail "no syscall numbers from cpp"

write_conf "prefork 2" "idle-timeout 60" "control group nogroup"
WANT_WORKERS=2 start_echod
wait_for 5 "both workers idle" all_idle 2

# Idle: accept() on the one listener, as /proc/PID/syscall says.
idle_agrees() {
	local w=$1 sc nr fd
	sc=$(cat "/proc/$w/syscall") || return 1
	nr=${sc%% *}
	fd=$(($(echo "$sc" | cut -d' ' -f2)))
	[ "$nr" = "$accept_nr" ] || [ "$nr" = "$accept4_nr" ] || return 1
	ctl -j stack "$w" >"$T/stack.json" || return 1
	jq -e --argjson nr "$nr" --arg fd0 "$fd = listener 127.0.0.1:$PORT" \
	    '.syscalls_shown == true and (.workers | length) == 1 and
	    .workers[0].state == "idle" and .workers[0].idle >= 0 and
	    .workers[0].syscall.nr == $nr and
	    (.workers[0].syscall.name | test("^accept4?$")) and
	    .workers[0].syscall.args[0] == $fd0 and
	    (.workers[0].wchan | type) == "string"' "$T/stack.json" >/dev/null
}
for w in $(workers); do
	wait_for 5 "worker $w: accept on the listener, as /proc says" \
	    idle_agrees "$w"
done
ctl stack >"$T/stack.txt" || fail "stack"
[ "$(grep -c "^[0-9]*  gen 1  idle for [0-9]*s$" "$T/stack.txt")" -eq 2 ] ||
    fail "stack: $(cat "$T/stack.txt")"
[ "$(grep -Ec "^    accept4?\([0-9]+ = listener 127\.0\.0\.1:$PORT, " \
    "$T/stack.txt")" -eq 2 ] || fail "stack: $(cat "$T/stack.txt")"
grep -q "^    wchan " "$T/stack.txt" || fail "stack: no wchan"
ok "idle workers: accept on listener 127.0.0.1:$PORT, agreeing with /proc"

# echodctl reads the workers' /proc itself: the master, which only
# answers "workers json", opens none of those files.
if command -v strace >/dev/null 2>&1; then
	master=$(master_pid)
	strace -qq -e trace=accept,accept4,open,openat,readlink,readlinkat \
	    -o "$T/master.strace" -p "$master" &
	tracer=$!
	BG_PIDS="$BG_PIDS $tracer"
	wait_for 5 "strace attached to the master" eval \
	    'grep -q "^TracerPid:[[:space:]]*$tracer$" /proc/$master/status'
	ctl stack -k >/dev/null || fail "stack -k under strace"
	kill "$tracer"
	wait "$tracer" 2>/dev/null
	grep -q "^accept" "$T/master.strace" ||
	    fail "strace saw the master take no connection"
	grep -q '"/proc/[0-9]*/\(syscall\|wchan\|stack\|fd\|net\)' \
	    "$T/master.strace" && fail "the master read: $(cat "$T/master.strace")"
	ok "the master reads none of the workers' syscall, wchan, stack, fd"
else
	log "no strace: the master's part not checked"
fi

# -k: the kernel stack, where root may read it (CAP_SYS_ADMIN).
if cat "/proc/$(master_pid)/stack" >/dev/null 2>&1; then
	ctl -j stack -k | jq -e '.workers | all(.kernel_stack | length > 0)' \
	    >/dev/null || fail "stack -k: $(ctl -j stack -k)"
	ctl stack -k | grep -q "^        \[<" || fail "stack -k: no stack"
	ok "stack -k: the kernel stacks"
else
	log "no CAP_SYS_ADMIN here: stack -k not checked"
fi

# Busy, in read(): a session's round trip every 20 ms.  Its worker is
# in read() nearly all the time; the test waits for a reading of
# /proc/PID/syscall and echodctl's that agree on it.
background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/ready" -t 60
wait_for 10 "session" test -f "$T/ready"
client=$(ss -Htn state established "( dport = :$PORT )" | awk '{ print $3 }')
[ -n "$client" ] || fail "no client socket in ss"
busy_agrees() {
	local call=$1 fdarg=$2 w sc nr fd
	w=$(ctl -j workers | jq -r '.workers[] | select(.state == "busy") |
	    .pid' | head -n 1)
	[ -n "$w" ] || return 1
	sc=$(cat "/proc/$w/syscall") || return 1
	nr=${sc%% *}
	[ "$nr" = "$(sysno "$call")" ] || return 1
	fd=$(($(echo "$sc" | cut -d' ' -f$((fdarg + 2)))))
	ctl -j stack "$w" >"$T/stack.json" || return 1
	jq -e --argjson nr "$nr" --arg fd "$fd = $client" \
	    --arg call "$call" --argjson i "$fdarg" --arg peer "$client" \
	    '.workers[0].state == "busy" and .workers[0].peer == $peer and
	    .workers[0].connection_age >= 0 and
	    .workers[0].syscall.nr == $nr and
	    .workers[0].syscall.name == $call and
	    .workers[0].syscall.args[$i] == $fd' "$T/stack.json" >/dev/null
}
wait_for 10 "the busy worker in read() on $client, as /proc says" \
    busy_agrees read 0
# The human form is another look: the worker may be between its
# write() and its next read() at that instant, so it is looked at again.
human_shows_read() {
	ctl stack >"$T/stack.txt" || return 1
	grep -Eq "^    read\([0-9]+ = $client, 0x[0-9a-f]+, [0-9]+\)$" \
	    "$T/stack.txt" &&
	    grep -q "  busy for [0-9]*s with $client$" "$T/stack.txt"
}
wait_for 10 "echodctl stack to show read() on $client" human_shows_read
ok "busy worker: read on its client $client, agreeing with /proc"
touch "$T/stop"
wait_for 5 "session over" all_idle 2
rm -f "$T/stop"

# Busy, in splice(): a client that sends in bulk and never reads; its
# worker echoes with splice() and blocks writing from the pipe to it.
background "$ECHOTEST" noread -p "$PORT" -t 60
wait_for 5 "the noread client's socket" eval \
    '[ -n "$(ss -Htn state established "( dport = :$PORT )")" ]'
client=$(ss -Htn state established "( dport = :$PORT )" | awk '{ print $3 }')
wait_for 10 "the busy worker in splice() to $client, as /proc says" \
    busy_agrees splice 2
ctl -j stack | jq -e '.workers[] | select(.state == "busy") |
    .syscall.args[0] | test("^[0-9]+ = pipe$")' >/dev/null ||
    fail "stack: $(ctl -j stack)"
ok "busy worker: splice from its pipe to its client $client"

# A member of the control group: states and peers, a word on what is
# not shown, no failure.
chmod 711 "$T"
member() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    "$ECHODCTL" -s "$CTL" "$@"
}
member stack >"$T/member.txt" 2>&1 || fail "member: $(cat "$T/member.txt")"
grep -q "  busy for [0-9]*s with $client$" "$T/member.txt" ||
    fail "member: $(cat "$T/member.txt")"
grep -q "  idle for [0-9]*s$" "$T/member.txt" ||
    fail "member: $(cat "$T/member.txt")"
grep -q "^(system calls, wait channels and kernel stacks not shown: " \
    "$T/member.txt" || fail "member: $(cat "$T/member.txt")"
! grep -q "^    " "$T/member.txt" || fail "member: $(cat "$T/member.txt")"
member -j stack -k | jq -e '.syscalls_shown == false and
    (.workers | length) == 2 and
    (.workers | all(.call == "denied" and .syscall == null and
    .wchan == null and (.state == "idle" or .state == "busy")))' \
    >/dev/null || fail "member -j: $(member -j stack -k)"
member workers | head -n 1 | grep -q " CPU$" || fail "member workers: no CPU"
chmod 755 "$T"
ok "control group member: states and peers, the system calls said hidden"

if err=$(ctl stack 1 2>&1); then
	fail "stack of a pid that is no worker: $err"
fi
[ "$err" = "echodctl: 1 is not a worker of this echod" ] || fail "$err"
ok "stack PID: one that is no worker is refused"

# Several listeners, accept-strategy poll: poll() over all of them.
PORT2=$("$ECHOTEST" freeport)
write_conf "prefork 2" "accept-strategy poll" \
    "listen on 127.0.0.1 port $PORT" "listen on 127.0.0.1 port $PORT2"
kill -HUP "$(master_pid)"
wait_for 10 "the new generation" log_has "reloaded: generation 2"
polls() {
	ctl -j stack >"$T/stack.json" || return 1
	jq -e --arg a "listener 127.0.0.1:$PORT" \
	    --arg b "listener 127.0.0.1:$PORT2" '[.workers[] |
	    select(.generation == 2 and .syscall.name == "poll" and
	    (.syscall.args[0] | contains($a) and contains($b)))] |
	    length == 2' "$T/stack.json" >/dev/null
}
wait_for 10 "workers of generation 2 in poll() on both listeners" polls
ok "several listeners: poll on both, named"

# CPU: the worker that echoes 256 MB has more of it afterwards.
ctl -j workers | jq -r '.workers[] | select(.generation == 2) |
    "\(.pid) \(.cpu)"' >"$T/cpu.before"
[ "$(wc -l <"$T/cpu.before")" -eq 2 ] || fail "cpu: $(cat "$T/cpu.before")"
"$ECHOTEST" echo -p "$PORT" -n 268435456 || fail "echo of 256 MB"
ctl -j workers >"$T/workers.json"
w=$(jq -r '.workers[] | select(.bytes_in == 268435456) | .pid' \
    "$T/workers.json")
[ -n "$w" ] || fail "no worker with the 256 MB: $(cat "$T/workers.json")"
before=$(awk -v w="$w" '$1 == w { print $2 }' "$T/cpu.before")
jq -e --argjson w "$w" --argjson before "$before" '.workers[] |
    select(.pid == $w) | .cpu > $before' "$T/workers.json" >/dev/null ||
    fail "cpu of $w: before $before, after $(cat "$T/workers.json")"
ctl workers | grep -Eq "^ +$w .* +[0-9]+[smhd]$" ||
    fail "workers: $(ctl workers)"
ctl -j status | jq -e '.workers | all(has("cpu"))' >/dev/null ||
    fail "status -j: no cpu"
ok "workers: CPU grows for the worker that echoed 256 MB"

# Several listeners, accept-strategy epoll: epoll_wait() on a set that
# holds both.
write_conf "prefork 2" "accept-strategy epoll" \
    "listen on 127.0.0.1 port $PORT" "listen on 127.0.0.1 port $PORT2"
kill -HUP "$(master_pid)"
wait_for 10 "the new generation" log_has "reloaded: generation 3"
epolls() {
	ctl -j stack >"$T/stack.json" || return 1
	jq -e --arg a "listener 127.0.0.1:$PORT" \
	    --arg b "listener 127.0.0.1:$PORT2" '[.workers[] |
	    select(.generation == 3 and .syscall.name == "epoll_wait" and
	    (.syscall.args[0] | test("^[0-9]+ = epoll \\[") and
	    contains($a) and contains($b)))] | length == 2' "$T/stack.json" \
	    >/dev/null
}
wait_for 10 "workers of generation 3 in epoll_wait() on both listeners" epolls
ok "several listeners: epoll_wait on a set of both, named"
