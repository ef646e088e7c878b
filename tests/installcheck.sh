# make installcheck (which make distcheck runs against its own fresh
# prefix): what "make install" put in place works as a user would run
# it.  The installed echod, started as a daemon with the installed
# sample configuration, of which only the port is changed (so as not to
# meet a server on 2000), makes its pidfile and control socket where it
# does by default, in the installed run directory; it serves, the
# installed echobench and echodctl talk to it, and it stops, leaving
# neither file behind.
#
# Environment (set by the installcheck-local rule): ECHOD, ECHODCTL and
# ECHOBENCH, the installed programs; SAMPLE_CONF, the installed
# configuration; RUNSTATEDIR, the configured run directory; and what
# tests/lib.sh needs.
. "$TESTS_SRCDIR/lib.sh"

: "${SAMPLE_CONF:?run through make installcheck}"
: "${RUNSTATEDIR:?run through make installcheck}"
: "${ECHOBENCH:?run through make installcheck}"
for p in "$ECHOD" "$ECHODCTL" "$ECHOBENCH"; do
	[ -x "$p" ] || fail "$p is not installed (make install first)"
done
[ -f "$SAMPLE_CONF" ] || fail "$SAMPLE_CONF is not installed"
[ -d "$RUNSTATEDIR" ] || fail "make install did not create $RUNSTATEDIR"
# The defaults, as the installed programs have them built in.
PIDFILE=$RUNSTATEDIR/echod.pid
CTL=$RUNSTATEDIR/echod.sock
[ ! -e "$PIDFILE" ] || fail "$PIDFILE exists: is an installed echod running?"

listen='listen on \* port 2000'
grep -qx "$listen" "$SAMPLE_CONF" ||
    fail "$SAMPLE_CONF has no line \"$listen\" (edited?)"
sed "s/^$listen\$/listen on * port $PORT/" "$SAMPLE_CONF" >"$CONF"
[ "$(diff "$SAMPLE_CONF" "$CONF" | grep -c '^[<>]')" -eq 2 ] ||
    fail "the copy differs from the sample by more than its port"
grep -qx "listen on \* port $PORT" "$CONF" || fail "no port $PORT in $CONF"

# As the README says to start it: no -d.  Warnings (user nobody when not
# started as root, say) are allowed; an error is not.
"$ECHOD" -f "$CONF" >"$T/start.out" 2>&1
rc=$?
[ ! -s "$T/start.out" ] || log "echod said: $(cat "$T/start.out")"
[ "$rc" -eq 0 ] || fail "the installed echod -f $CONF: exit $rc"
pidfile_ready || fail "no running master in $PIDFILE"
m=$(master_pid)
[ -S "$CTL" ] || fail "no control socket $CTL"
ok "the installed echod started with the sample configuration;" \
    "pid $m in $PIDFILE, control socket $CTL"

"$ECHOTEST" echo -p "$PORT" -n 65536 -c 4 || fail "no echo"
"$ECHOBENCH" connect -c 2 -d 1 -w 0 -s 100 127.0.0.1 "$PORT" >"$T/bench.out" ||
    fail "echobench: $(cat "$T/bench.out")"
ok "it serves: echo round trips, and the installed echobench"

# echodctl finds the control socket by its own built-in default.
"$ECHODCTL" status >"$T/status.out" 2>&1 ||
    fail "echodctl status: $(cat "$T/status.out")"
grep -q "pid $m," "$T/status.out" && grep -qF "$CONF" "$T/status.out" ||
    fail "echodctl status does not name pid $m and $CONF:" \
	"$(cat "$T/status.out")"
ok "the installed echodctl status answers: $(head -n 1 "$T/status.out")"

kill -TERM "$m"
wait_for 10 "the master to stop" exited "$m"
wait_for 10 "the pidfile and control socket removed" \
    eval '[ ! -e "$PIDFILE" ] && [ ! -e "$CTL" ]'
ok "stopped, leaving nothing in $RUNSTATEDIR"
