# The shipped min-spare and max-spare under two loads.  Short
# connections that 4 workers serve bring the pool back to prefork
# instead of growing it.  Then a burst: 400 clients that connect at
# once and hold their connections are all served, with no error, and
# the master answers echodctl status throughout, while it forks the
# pool up to 400 and more.
# (bench/hold.sh measures the 10,000-client burst; nothing here is
# timed but by hang-check deadlines.)
. "$TESTS_SRCDIR/lib.sh"

ECHOBENCH=${ECHOBENCH:-$(dirname "$ECHOD")/echobench}

write_conf "prefork 4" "min-spare 2" "max-spare 8" "max-workers 500" \
    "backlog 1024" "idle-timeout 300"
start_echod

# Eight clients that connect, echo 64 bytes and close, without a pause:
# 4 workers keep up with them, so the pool goes back to prefork (it may
# grow before it has seen them finish) rather than keeping max-spare
# idle workers, or more, beside them.
accepted() {	# the connections echodctl status counts
	"$ECHODCTL" -s "$CTL" status 2>&1 |
	    sed -n 's/^connections *\([0-9]*\) accepted.*/\1/p'
}
background "$ECHOBENCH" connect -c 8 -s 64 -d 60 127.0.0.1 "$PORT"
churn=$LAST_BG
# Long enough for the pool to have grown, had it wanted to.
wait_for 30 "20000 short connections" eval '[ "$(accepted)" -ge 20000 ]'
wait_for 30 "the pool at prefork under short connections" \
    eval '[ "$(nworkers)" -le 5 ]'
n=$(nworkers)
alive "$churn" || fail "echobench connect ended early"
kill -TERM "$churn" 2>/dev/null
wait "$churn" 2>/dev/null
ok "short connections that 4 workers serve: the pool came back to $n"

errors() {	# the errors echodctl status counts
	"$ECHODCTL" -s "$CTL" status 2>&1 |
	    sed -n 's/^connections .* \([0-9]*\) errors,.*/\1/p'
}
e0=$(errors)
[ -n "$e0" ] || fail "no error count in echodctl status"

background "$ECHOTEST" hold -p "$PORT" -c 400 -t 60
hold=$LAST_BG
# echodctl status, the human form, all along the burst: each answer
# within its own deadline of 10 s (a hang, not a time, is what fails).
answers=0
while alive "$hold"; do
	"$ECHODCTL" -s "$CTL" -t 10 status > "$T/status" 2>&1 ||
	    fail "echodctl status during the burst: $(cat "$T/status")"
	grep -q "^workers " "$T/status" ||
	    fail "echodctl status during the burst: $(head -n 1 "$T/status")"
	answers=$((answers + 1))
done
wait "$hold" || fail "400 held clients not all served"
[ "$answers" -ge 1 ] || fail "echodctl status never asked during the burst"
[ "$(errors)" = "$e0" ] || fail "errors during the burst: $e0, then $(errors)"
log_has "max-workers .* reached" && fail "max-workers reached below 500"
ok "400 held clients served, no error, echodctl status answered $answers times meanwhile"
