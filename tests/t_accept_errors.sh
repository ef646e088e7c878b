# accept() errors that concern one connection, or a passing shortage,
# are retried: the worker neither exits nor spins, and a shortage is
# logged (rate-limited), not the per-connection errors.
. "$TESTS_SRCDIR/lib.sh"

[ -f "$FAULTSHIM" ] || fail "no fault shim at $FAULTSHIM"

for listeners in one two; do
	: > "$LOG"
	if [ "$listeners" = one ]; then
		write_conf "prefork 2"
	else
		PORT6=$("$ECHOTEST" freeport -H ::1)
		write_conf "prefork 2" "listen on 127.0.0.1 port $PORT" \
		    "listen on ::1 port $PORT6"
	fi
	ECHOD_FAULT=accept-errors LD_PRELOAD="$FAULTSHIM" \
	    WANT_WORKERS=2 start_echod -v
	before=$(workers | tr '\n' ' ')
	"$ECHOTEST" echo -p "$PORT" -n 65536 -c 20 ||
	    fail "$listeners listener(s): no echo after accept errors"
	[ "$(workers | tr '\n' ' ')" = "$before" ] ||
	    fail "$listeners listener(s): workers exited on accept errors"
	log_has "exited|killed" && fail "$listeners listener(s): a worker died"
	n=$(grep -c "accept (pausing" "$LOG")
	[ "$n" -eq 2 ] ||
	    fail "$listeners listener(s): want one shortage warning per worker, got $n"
	log_has "accept: (Interrupted|Software caused|Protocol error)" &&
	    fail "$listeners listener(s): per-connection errors were logged"
	ok "$listeners listener(s): EINTR, ECONNABORTED, EPROTO, ENOBUFS, EMFILE retried"
	kill -TERM "$(master_pid)"
	wait_for 5 "echod stopped" eval '! pidfile_ready'
done
