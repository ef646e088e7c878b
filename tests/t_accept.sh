# Every accept-strategy (epoll, poll) with two listeners: both echo, a
# busy worker does not hold up the others, a reload hands over to a new
# generation (and to the other strategy) while the old one drains and
# exits, a killed worker does not stop the others, and a graceful stop
# (idle workers waiting, one busy) and a fast stop end every process.  No timing is measured: each wait
# has a generous deadline, well under drain-timeout (60 s), so that a
# worker stuck waiting fails the test instead of being stopped by it.
. "$TESTS_SRCDIR/lib.sh"

PORT2=$("$ECHOTEST" freeport)

procs_now() {
	echo "$(master_pid) $(workers | tr '\n' ' ')"
}

# Echo on both listeners, several clients at once on each.
echo_both() {
	"$ECHOTEST" echo -p "$PORT" -n 4096 -c 8 -t 10 &
	local a=$!
	"$ECHOTEST" echo -p "$PORT2" -n 4096 -c 8 -t 10 || return 1
	wait "$a"
}

for strategy in epoll poll; do
	case $strategy in
	epoll) other=poll ;;
	poll) other=epoll ;;
	esac
	write_conf "listen on 127.0.0.1 port $PORT" \
	    "listen on 127.0.0.1 port $PORT2" "prefork 3" "drain-timeout 60" \
	    "accept-strategy $strategy"
	rm -f "$LOG"
	WANT_WORKERS=3 start_echod
	wait_for 10 "workers idle" all_idle

	echo_both || fail "$strategy: echo on both listeners"
	ok "$strategy: both listeners echo"

	# A worker busy with a client must not keep the others from
	# accepting (as a worker that kept the accept lock would).
	background "$ECHOTEST" session -p "$PORT" -f "$T/bstop.$strategy" \
	    -r "$T/bready.$strategy" -t 60
	wait_for 10 "session established" test -f "$T/bready.$strategy"
	echo_both || fail "$strategy: echo beside a busy worker"
	touch "$T/bstop.$strategy"
	wait "$LAST_BG" || fail "$strategy: the session failed"
	ok "$strategy: a busy worker does not hold up the others"

	# Reload, to the other strategy and back: the new generation waits
	# beside the old one, which must drain and exit.
	gen1=$(workers | tr '\n' ' ')
	sed -i "s/^accept-strategy .*/accept-strategy $other/" "$CONF"
	kill -HUP "$(master_pid)"
	wait_gone 20 "$strategy: old generation gone after a reload" $gen1
	wait_for 10 "$strategy: new generation" has_workers 3
	echo_both || fail "$strategy: echo after a reload to $other"
	gen1=$(workers | tr '\n' ' ')
	sed -i "s/^accept-strategy .*/accept-strategy $strategy/" "$CONF"
	kill -HUP "$(master_pid)"
	wait_gone 20 "$strategy: old generation gone after a reload" $gen1
	wait_for 10 "$strategy: new generation" has_workers 3
	echo_both || fail "$strategy: echo after a reload"
	ok "$strategy: reloads to $other and back: old workers drained and exited, new ones echo"

	# kill -9 of an idle worker: the others serve at once, and the
	# master replaces it.
	wait_for 10 "workers idle" all_idle
	victim=$(workers | head -n 1)
	kill -KILL "$victim"
	echo_both || fail "$strategy: echo after kill -9 of worker $victim"
	wait_for 10 "$strategy: worker replaced" has_workers 3
	echo_both || fail "$strategy: echo after the replacement"
	ok "$strategy: kill -9 of a worker: still served"

	# Graceful stop: two idle workers waiting (in epoll_wait or poll)
	# and one busy with a session, which finishes.
	background "$ECHOTEST" session -p "$PORT2" -f "$T/stop.$strategy" \
	    -r "$T/ready.$strategy" -m "$T/mark.$strategy" -t 60
	session=$LAST_BG
	wait_for 10 "session established" test -f "$T/ready.$strategy"
	master=$(master_pid)
	busy=
	idle=
	for w in $(workers); do
		if [ "$(title "$w")" = "echod: worker [idle]" ]; then
			idle="$idle $w"
		else
			busy="$busy $w"
		fi
	done
	kill -QUIT "$master"
	wait_gone 10 "$strategy: idle workers exit on a graceful stop" $idle
	# Refused, not queued: no process holds the listening sockets, not
	# even the busy worker.
	closed() {
		[ -z "$(listen_inode "$PORT")" ] &&
		    [ -z "$(listen_inode "$PORT2")" ]
	}
	wait_for 10 "$strategy: listening sockets closed" closed
	touch "$T/mark.$strategy"
	wait_for 10 "$strategy: session echoing after SIGQUIT" \
	    test -f "$T/mark.$strategy.done"
	touch "$T/stop.$strategy"
	wait "$session" || fail "$strategy: the session failed"
	wait_gone 10 "$strategy: echod gone after the session" $master $busy
	ok "$strategy: graceful stop: idle workers exit, the session finishes"

	# Fast stop.
	WANT_WORKERS=3 start_echod
	wait_for 10 "workers idle" all_idle
	echo_both || fail "$strategy: echo after a restart"
	procs=$(procs_now)
	kill -TERM "$(master_pid)"
	wait_gone 10 "$strategy: every process gone after SIGTERM" $procs
	ok "$strategy: fast stop"
	if log_has "killed by the sandbox"; then
		fail "$strategy: a worker was killed by the sandbox"
	fi
done
