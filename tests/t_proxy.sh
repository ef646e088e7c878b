# The PROXY protocol ("listen on ... proxy-protocol"): a header of
# either version is read and not echoed, and the client it names is the
# peer everywhere (echodctl, process title, per-address limit); anything
# else is closed unechoed, counted and logged; plain listeners beside it
# are untouched.  Then echod behind a real HAProxy, two instances as its
# backends (send-proxy and send-proxy-v2, tcp-check health checks),
# while one reloads and the other stops and starts: see the second half.
. "$TESTS_SRCDIR/lib.sh"

command -v haproxy >/dev/null 2>&1 ||
    fail "haproxy is not installed; this test runs the real one" \
    "(apt-get install haproxy, as in the README's test command)"

ctl() {
	"$ECHODCTL" -s "$CTL" "$@"
}

# The worker serving the given peer, from echodctl -j workers.
worker_of() {
	ctl -j workers | jq -r --arg p "$1" \
	    '.workers[] | select(.peer == $p) | .pid'
}

has_peer() {
	[ -n "$(worker_of "$1")" ]
}

# The peer of a worker serving the balancer itself, 127.0.0.1.
own_peer() {
	ctl -j workers | jq -er '.workers[] | select(.peer != null and
	    (.peer | startswith("127.0.0.1:"))) | .peer'
}

# check_session KIND ANNOUNCED PORT SHOWN: a long session that sends a
# KIND header for ANNOUNCED:PORT; echodctl and the title must show SHOWN
# as the peer, with the balancer (127.0.0.1, the real connection) as
# "via" unless SHOWN is that connection itself.
check_session() {
	local kind=$1 addr=$2 sport=$3 shown=$4 w via rtt
	rm -f "$T/stop" "$T/ready"
	background "$ECHOTEST" session -p "$PORT" -P "$kind" -a "$addr" \
	    -o "$sport" -f "$T/stop" -r "$T/ready" -t 60
	wait_for 10 "a $kind session" test -f "$T/ready"
	if [ "$shown" = own ]; then
		wait_for 5 "a worker serving 127.0.0.1" own_peer
		shown=$(own_peer)
	fi
	wait_for 5 "echodctl to show $shown" has_peer "$shown"
	w=$(worker_of "$shown")
	[ "$(title "$w")" = "echod: worker [$shown]" ] ||
	    fail "$kind: title of $w is \"$(title "$w")\", want [$shown]"
	via=$(ctl -j workers | jq -r --arg p "$shown" \
	    '.workers[] | select(.peer == $p) | .via')
	case "$shown:$via" in
	127.0.0.1:*:null) ;;
	127.0.0.1:*) fail "$kind: via $via for a header naming no client" ;;
	*:127.0.0.1:*) ;;
	*) fail "$kind: via is \"$via\", want the balancer 127.0.0.1:PORT" ;;
	esac
	# TCP_INFO is found by the socket's own remote end, the balancer.
	rtt=$(ctl -j conns | jq -r --arg p "$shown" \
	    '.conns[] | select(.peer == $p) | .rtt_us')
	[ -n "$rtt" ] && [ "$rtt" != null ] ||
	    fail "$kind: echodctl conns has no TCP_INFO for $shown ($rtt)"
	ctl workers | grep -qF " $shown " ||
	    fail "$kind: echodctl workers does not show $shown"
	touch "$T/stop"
	wait "$LAST_BG" || fail "$kind: the session failed"
}

# --- 1-3: headers of each kind, on a proxy-protocol listener beside a
# plain one (two listeners: workers poll them both).
PLAIN=$("$ECHOTEST" freeport) || fail "no free port"
write_conf "listen on 127.0.0.1 port $PORT proxy-protocol" \
    "listen on 127.0.0.1 port $PLAIN"
start_echod
ctl status | grep -q "^listening on   127.0.0.1:$PORT (backlog 511, [0-9]* waiting, proxy-protocol)$" ||
    fail "echodctl status does not mark the proxy-protocol listener: $(ctl status)"
ctl -j status | jq -e --arg p "127.0.0.1:$PORT" --arg q "127.0.0.1:$PLAIN" \
    '[.listeners[] | {(.address): .proxy_protocol}] | add |
    .[$p] == true and .[$q] == false' >/dev/null ||
    fail "echodctl -j status: proxy_protocol flags wrong: $(ctl -j status | jq -c .listeners)"
ok "echodctl status marks the proxy-protocol listener only"

for v in 1 2; do
	"$ECHOTEST" echo -p "$PORT" -P "$v" -a 203.0.113.7 -n 65536 -c 8 ||
	    fail "v$v header, then data in the same segment: not echoed right"
	"$ECHOTEST" echo -p "$PORT" -P "$v" -a 2001:db8::7 -n 1000 -s ||
	    fail "v$v TCP6 header, half-closed: not echoed right"
	"$ECHOTEST" echo -p "$PORT" -P "$v" -S -n 1000 ||
	    fail "v$v header in two segments: not echoed right"
	ok "v$v: header (TCP4 or TCP6, whole or split) not echoed, data right after it echoed"
done
for kind in 1-unknown 2-local; do
	"$ECHOTEST" echo -p "$PORT" -P "$kind" -n 1000 ||
	    fail "$kind header: not echoed right"
done
ok "v1 UNKNOWN and v2 LOCAL headers accepted, not echoed"
"$ECHOTEST" echo -p "$PLAIN" -n 65536 -c 4 ||
    fail "the plain listener beside it does not echo"
ok "the plain listener beside it echoes without a header"

check_session 1 198.51.100.23 4711 198.51.100.23:4711
ok "v1: echodctl workers and conns and the title show the announced client"
check_session 2 2001:db8::23 4712 "[2001:db8::23]:4712"
ok "v2 TCP6: echodctl workers and conns and the title show the announced client"
check_session 2 192.0.2.99 1 192.0.2.99:1
ok "v2 TCP4: the announced client shown"
check_session 2-local 192.0.2.99 1 own
ok "v2 LOCAL: the balancer's own address shown"

# 3: no header, a header that is not one, and silence: closed with
# nothing echoed, counted among the errors, logged.
errors0=$(ctl -j status | jq .totals.errors)
"$ECHOTEST" idle -p "$PORT" -P none -t 10 || fail "data without a header was echoed or left open"
"$ECHOTEST" echo -p "$PORT" -n 100 -t 5 2>/dev/null &&
    fail "a client without a header was served"
"$ECHOTEST" idle -p "$PORT" -P junk -t 10 || fail "a garbage header was echoed or left open"
wait_for 5 "the log" log_has "127\.0\.0\.1:[0-9]+, on a proxy-protocol listener: neither a v1 nor a v2 header: closed \(logged once per 10 s\)"
errors=$(ctl -j status | jq .totals.errors)
[ "$errors" -eq $((errors0 + 3)) ] ||
    fail "errors went from $errors0 to $errors, want 3 more"
ok "no header or a garbage one: closed with nothing echoed, 3 errors counted, logged"

# Silence: the header deadline is 5 s, not idle-timeout (300 s here).
out=$("$ECHOTEST" idle -p "$PORT" -t 20) || fail "a silent client was not closed: $out"
ms=$(echo "$out" | sed -n 's/.* after \([0-9]*\) ms.*/\1/p')
[ "$ms" -ge 4500 ] && [ "$ms" -le 9000 ] ||
    fail "a silent client was closed after $ms ms, want about 5000"
wait_for 5 "the log" log_has "no whole PROXY header within 5 s: closed"
ok "a silent client is closed after ${ms} ms (header deadline 5 s), logged"

# Rate-limited: 40 bad connections, at most one line per worker.
kill -TERM "$(master_pid)"
wait_for 10 "echod to stop" eval '! pidfile_ready'
: > "$LOG"
start_echod
for i in $(seq 40); do
	"$ECHOTEST" idle -p "$PORT" -P junk -t 5 >/dev/null ||
	    fail "garbage $i: echoed or left open"
done
n=$(grep -c "on a proxy-protocol listener" "$LOG")
[ "$n" -ge 1 ] && [ "$n" -le 4 ] ||
    fail "$n log lines for 40 bad headers, want 1 to 4 (one per worker per 10 s)"
ok "40 bad headers: $n log lines"
kill -TERM "$(master_pid)"
wait_for 10 "echod to stop" eval '! pidfile_ready'
sanity=$(grep "stopped after" "$LOG")
case "$sanity" in
*"stopped after 0 connections"*) ;;
*) fail "bad headers counted as connections served: $sanity" ;;
esac

# --- 4: max-connections-per-address applies to the announced client:
# all of these come from 127.0.0.1, the "balancer".  One listener here
# (workers block in accept()).
: > "$LOG"
sessions=""
write_conf "listen on 127.0.0.1 port $PORT proxy-protocol" \
    "max-connections-per-address 2"
start_echod
for i in 1 2; do
	background "$ECHOTEST" session -p "$PORT" -P 1 -a 198.51.100.50 \
	    -o "500$i" -f "$T/stop4" -r "$T/ready4$i" -t 60
	sessions="$sessions $LAST_BG"
done
wait_for 10 "2 sessions" eval 'test -f "$T/ready41" && test -f "$T/ready42"'
"$ECHOTEST" echo -p "$PORT" -P 2 -a 198.51.100.50 -n 64 -t 5 2>/dev/null &&
    fail "a third connection announced from 198.51.100.50 was served"
wait_for 5 "the refusal logged" log_has "198\.51\.100\.50:40000: its address has max-connections-per-address \(2\)"
"$ECHOTEST" echo -p "$PORT" -P 2 -a 198.51.100.51 -n 65536 -c 2 ||
    fail "198.51.100.51, from the same balancer, was not served"
"$ECHOTEST" echo -p "$PORT" -P 1-unknown -n 1000 -c 2 ||
    fail "the balancer's own connections were refused"
[ "$(ctl -j status | jq .totals.refused)" -eq 1 ] ||
    fail "refused: $(ctl -j status | jq .totals.refused), want 1"
ok "per-address limit: the third connection announced from 198.51.100.50 closed, .51 served, all from 127.0.0.1"
touch "$T/stop4"
for p in $sessions; do
	wait "$p" || fail "a session within the limit failed"
done

# A reload may drop the flag and keep the socket: plain clients then,
# once the old generation, which expects headers, has gone.
inode=$(listen_inode)
write_conf "listen on 127.0.0.1 port $PORT"
kill -HUP "$(master_pid)"
wait_for 10 "reload" log_has "reloaded: generation 2"
wait_for 10 "the old generation to exit" eval \
    'ctl -j workers | jq -e "[.workers[] | select(.generation == 1)] | length == 0" >/dev/null'
ctl status | grep -q "^listening on   127.0.0.1:$PORT (backlog 511, [0-9]* waiting)$" ||
    fail "still marked proxy-protocol after the reload"
"$ECHOTEST" echo -p "$PORT" -n 1000 || fail "no plain echo after the reload"
[ "$(listen_inode)" = "$inode" ] || fail "the socket changed"
ok "a reload drops proxy-protocol on the same socket"
kill -TERM "$(master_pid)"
wait_for 10 "echod to stop" eval '! pidfile_ready'
