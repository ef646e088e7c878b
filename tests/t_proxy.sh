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
"$ECHOTEST" echo -p "$PORT" -P 2-big -n 65536 -c 2 &&
    "$ECHOTEST" echo -p "$PORT" -P 2-big -S -n 1000 ||
    fail "a v2 header with a 3000-byte TLV: not echoed right"
ok "a 3 KB v2 header (TLVs skipped), whole or split: not echoed"
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

# A client that leaves before its header is whole: before any byte, and
# in the middle of a v1 header.  Each is an error; the workers go on.
errors0=$errors
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
exec 3>&-
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'PROXY TCP4 192.0.2.1 ' >&3
exec 3>&-
two_more() {
	[ "$(ctl -j status | jq .totals.errors)" -eq $((errors0 + 2)) ]
}
wait_for 10 "2 more errors" two_more
"$ECHOTEST" echo -p "$PORT" -P 1 -n 100 || fail "no echo after clients left mid-header"
ok "clients gone before or in the middle of their header: 2 errors, still serving"

# A fresh echod, since each worker logs at most once per 10 s: first a
# silent client, then 40 bad headers, and at most one line per worker.
kill -TERM "$(master_pid)"
wait_for 10 "echod to stop" eval '! pidfile_ready'
: > "$LOG"
start_echod
# Silence: the header deadline is 5 s, not idle-timeout (300 s here).
out=$("$ECHOTEST" idle -p "$PORT" -t 20) || fail "a silent client was not closed: $out"
ms=$(echo "$out" | sed -n 's/.* after \([0-9]*\) ms.*/\1/p')
[ "$ms" -ge 4500 ] && [ "$ms" -le 9000 ] ||
    fail "a silent client was closed after $ms ms, want about 5000"
wait_for 5 "the log" log_has "no whole PROXY header within 5 s: closed"
ok "a silent client is closed after ${ms} ms (header deadline 5 s), logged"

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
# (workers block in accept()).  3 workers, so that a third connection
# from one client would take the last one, which the limit keeps for
# others.
: > "$LOG"
sessions=""
write_conf "listen on 127.0.0.1 port $PORT proxy-protocol" \
    "prefork 3" "max-workers 3" "max-connections-per-address 2"
WANT_WORKERS=3 start_echod
for i in 1 2; do
	background "$ECHOTEST" session -p "$PORT" -P 1 -a 198.51.100.50 \
	    -o "500$i" -f "$T/stop4" -r "$T/ready4$i" -t 60
	sessions="$sessions $LAST_BG"
done
wait_for 10 "2 sessions" eval 'test -f "$T/ready41" && test -f "$T/ready42"'
"$ECHOTEST" echo -p "$PORT" -P 2 -a 198.51.100.50 -n 64 -t 5 2>/dev/null &&
    fail "a third connection announced from 198.51.100.50 was served"
wait_for 5 "the refusal logged" log_has "198\.51\.100\.50:40000: its address already holds its share of 2 connections while 3 of max-workers \(3\) are busy"
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

# --- 5: behind HAProxy.  echod A (this test's $CONF, send-proxy: v1)
# and echod B (its own directory, send-proxy-v2) are the two servers of
# one backend, health-checked with tcp-check; clients connect to
# HAProxy's frontend only.  Each phase runs nonstop short connections
# (echotest load) and byte-checked streams through HAProxy while echod
# A reloads, or B stops and starts again, and counts the connections
# that failed.
#
# What HAProxy hides: a connection attempt that a backend refuses (its
# listening socket is closed, or not yet open) is retried on the other
# server ("retries 3", "option redispatch 1"), and "inter 100ms fall 1
# rise 1" takes a server out within a tenth of a second of its stopping
# and back as soon after its starting.  An echod reload keeps its
# listening socket, so nothing is even refused; and a graceful stop
# (SIGQUIT) lets every connection it accepted finish.  So no client may
# see a failure from reloads (phase 1), nor from graceful stops when
# HAProxy is first told to send B nothing new ("set server echod/b
# state drain" on its stats socket, the scale-out recipe's way; phase
# 2), and these two phases assert that none failed.
#
# What HAProxy cannot hide: a connection already established to a
# backend that then resets it.  HAProxy retries connection attempts,
# not connections that have been handed to the server; it can only
# close its client's side.  (1) A graceful stop without the drain
# (phase 3): the kernel completes handshakes on echod's listening
# socket up to the moment echod closes it, and closing it resets those
# still in its accept queue, which no worker will accept; HAProxy
# counted them as connected.  (2) A fast stop (SIGTERM, phase 4) also
# kills the workers, and resets every connection they serve.  Each stop
# can so fail at most the connections under way to B at that moment:
# 4 load connections and 1 stream here; phases 3 and 4 check that no
# more failed than that, and print how many did.
HPORT=$("$ECHOTEST" freeport) || fail "no free port"
BPORT=$("$ECHOTEST" freeport) || fail "no free port"
B="$T/b"
mkdir -p "$B"
chmod 755 "$B"
cat > "$B/echod.conf" <<EOC
pidfile $B/echod.pid
control socket $B/echod.sock
listen on 127.0.0.1 port $BPORT proxy-protocol
min-spare 0
max-connections-per-address 0
EOC
write_conf "listen on 127.0.0.1 port $PORT proxy-protocol" "prefork 4"

b_pid() {
	cat "$B/echod.pid" 2>/dev/null
}

b_ready() {
	local pid
	pid=$(b_pid) && [ -n "$pid" ] && alive "$pid" &&
	    [ "$(nworkers "$pid")" -eq 4 ]
}

start_b() {
	"$ECHOD" -d -f "$B/echod.conf" >>"$B/echod.log" 2>&1 &
	BG_PIDS="$BG_PIDS $!"
	wait_for 10 "echod B" b_ready
}

cat > "$T/haproxy.cfg" <<EOC
global
	stats socket $T/haproxy.sock mode 600 level admin
	log stdout format short local0 info

defaults
	mode tcp
	log global
	option tcplog
	timeout connect 1s
	timeout check 2s
	timeout client 30s
	timeout server 30s
	retries 3
	option redispatch 1

frontend fe
	bind 127.0.0.1:$HPORT
	default_backend echod

backend echod
	balance roundrobin
	option tcp-check
	tcp-check send "ping\n"
	tcp-check expect string ping
	default-server check inter 100ms fall 1 rise 1
	server a 127.0.0.1:$PORT send-proxy
	server b 127.0.0.1:$BPORT send-proxy-v2
EOC

# HAProxy's view of server $1: UP, DOWN, ... (the "status" field of
# "show stat").
hstatus() {
	"$ECHOTEST" ask -U "$T/haproxy.sock" -q "show stat" 2>/dev/null |
	    awk -F, -v s="$1" '$1 == "echod" && $2 == s { print $18 }'
}

is_up() {
	[ "$(hstatus "$1")" = UP ]
}

is_down() {
	case "$(hstatus "$1")" in
	DOWN*) return 0 ;;
	esac
	return 1
}

: > "$LOG"
start_echod
start_b
haproxy -f "$T/haproxy.cfg" -db >"$T/haproxy.log" 2>&1 &
HAPROXY=$!
BG_PIDS="$BG_PIDS $HAPROXY"
wait_for 10 "HAProxy to see a up" is_up a
wait_for 10 "HAProxy to see b up" is_up b
"$ECHOTEST" echo -p "$HPORT" -n 65536 -c 8 || fail "no echo through HAProxy"
ok "HAProxy health checks (tcp-check, PROXY v1 and v2) pass on both echods; echo through it"

# The clients of a phase, until $T/stop5 exists: 4 nonstop short
# connections (echotest load), byte-checked streams of 1 MB one after
# the other, each half-closed and checked to its EOF, and with
# SESSIONS=1 also 4 sessions, a round trip every 20 ms each.
streams() {
	local n=0 f=0
	while [ ! -f "$T/stop5" ]; do
		n=$((n + 1))
		"$ECHOTEST" echo -p "$HPORT" -n 1000000 -s -t 60 >/dev/null \
		    2>>"$T/streams.err" || f=$((f + 1))
	done
	echo "$n $f" > "$T/streams.out"
}

clients_start() {
	rm -f "$T/stop5" "$T"/ready5* "$T/streams.out"
	"$ECHOTEST" load -p "$HPORT" -c 4 -f "$T/stop5" -t 300 \
	    >"$T/load.out" 2>&1 &
	LOAD=$!
	BG_PIDS="$BG_PIDS $LOAD"
	streams &
	STREAMS=$!
	BG_PIDS="$BG_PIDS $STREAMS"
	SESSIONS=""
	[ "${WITH_SESSIONS:-0}" -eq 1 ] || return 0
	for i in 1 2 3 4; do
		background "$ECHOTEST" session -p "$HPORT" -f "$T/stop5" \
		    -r "$T/ready5$i" -t 300
		SESSIONS="$SESSIONS $LAST_BG"
	done
	wait_for 10 "4 sessions through HAProxy" eval \
	    'test -f "$T/ready51" && test -f "$T/ready52" && test -f "$T/ready53" && test -f "$T/ready54"'
}

# clients_stop: ATTEMPTED and FAILED connections (load), STREAMS_N and
# STREAMS_FAILED, SESSIONS_FAILED.
clients_stop() {
	local p out
	touch "$T/stop5"
	wait "$LOAD"
	wait "$STREAMS"
	out=$(grep attempted "$T/load.out")
	ATTEMPTED=$(echo "$out" | awk '{ print $2 }')
	FAILED=$(echo "$out" | awk '{ print $4 }')
	read -r STREAMS_N STREAMS_FAILED < "$T/streams.out"
	SESSIONS_FAILED=0
	for p in $SESSIONS; do
		wait "$p" || SESSIONS_FAILED=$((SESSIONS_FAILED + 1))
	done
	log "load: attempted $ATTEMPTED failed $FAILED;" \
	    "streams: $STREAMS_N failed $STREAMS_FAILED;" \
	    "sessions failed: $SESSIONS_FAILED"
	[ -n "$ATTEMPTED" ] && [ "$ATTEMPTED" -gt 0 ] ||
	    fail "the load client did not run: $(cat "$T/load.out")"
}

# Phase 1: echod A reloads 5 times, each time until its new generation
# serves, under load, streams and sessions.
WITH_SESSIONS=1 clients_start
for gen in 2 3 4 5 6; do
	kill -HUP "$(master_pid)"
	wait_for 10 "A's generation $gen" log_has "reloaded: generation $gen"
	"$ECHOTEST" echo -p "$HPORT" -n 1000 -c 2 >/dev/null ||
	    fail "no echo through HAProxy after reload $gen"
done
clients_stop
R_ATTEMPTED=$ATTEMPTED R_FAILED=$FAILED R_STREAMS=$STREAMS_N
[ "$FAILED" -eq 0 ] && [ "$STREAMS_FAILED" -eq 0 ] &&
    [ "$SESSIONS_FAILED" -eq 0 ] ||
    fail "A's reloads: $FAILED connections, $STREAMS_FAILED streams, $SESSIONS_FAILED sessions failed"
ok "5 reloads of A: $ATTEMPTED connections and $STREAMS_N streams through HAProxy, none failed; 4 sessions unbroken"

# stop_start_b SIGNAL [drain]: stop B with SIGNAL, wait until it is
# gone and HAProxy has seen it down, start it again, wait until HAProxy
# sees it up.  With "drain", HAProxy is first told to send B no new
# connection, and given B back once it is up again.
hcmd() {
	"$ECHOTEST" ask -U "$T/haproxy.sock" -q "$1" >/dev/null ||
	    fail "HAProxy stats socket: $1"
}

stop_start_b() {
	local old
	old=$(b_pid)
	if [ "${2:-}" = drain ]; then
		hcmd "set server echod/b state drain"
		wait_for 5 "HAProxy to drain b" eval '[ "$(hstatus b)" = DRAIN ]'
	fi
	kill "-$1" "$old"
	wait_gone 70 "echod B to stop ($1)" "$old"
	wait_for 10 "HAProxy to see b down" is_down b
	start_b
	[ "${2:-}" = drain ] && hcmd "set server echod/b state ready"
	wait_for 10 "HAProxy to see b up" is_up b
}

# Phase 2: B drained in HAProxy, stopped gracefully and started again,
# 3 times.
clients_start
for i in 1 2 3; do
	stop_start_b QUIT drain
done
clients_stop
D_ATTEMPTED=$ATTEMPTED D_FAILED=$FAILED D_STREAMS=$STREAMS_N
[ "$FAILED" -eq 0 ] && [ "$STREAMS_FAILED" -eq 0 ] ||
    fail "B's drained graceful restarts: $FAILED connections, $STREAMS_FAILED streams failed"
ok "3 drained graceful stops and starts of B: $ATTEMPTED connections and $STREAMS_N streams, none failed"

# Phase 3: B stopped gracefully without the drain, 3 times.
clients_start
for i in 1 2 3; do
	stop_start_b QUIT
done
clients_stop
G_ATTEMPTED=$ATTEMPTED G_FAILED=$FAILED G_STREAMS=$STREAMS_N
G_SFAILED=$STREAMS_FAILED
[ $((FAILED + STREAMS_FAILED)) -le 15 ] ||
    fail "B's graceful restarts: $FAILED connections and $STREAMS_FAILED streams failed, more than B can have had under way"
ok "3 graceful stops and starts of B, no drain: $ATTEMPTED connections ($FAILED failed) and $STREAMS_N streams ($STREAMS_FAILED failed)"

# Phase 4: B stopped fast (SIGTERM) and started again, 3 times.
clients_start
for i in 1 2 3; do
	stop_start_b TERM
done
clients_stop
T_ATTEMPTED=$ATTEMPTED T_FAILED=$FAILED T_STREAMS=$STREAMS_N
T_SFAILED=$STREAMS_FAILED
[ $((FAILED + STREAMS_FAILED)) -le 15 ] ||
    fail "B's fast restarts: $FAILED connections and $STREAMS_FAILED streams failed, more than B can have been serving"
ok "3 fast stops and starts of B: $ATTEMPTED connections ($FAILED failed) and $STREAMS_N streams ($STREAMS_FAILED failed)"
log "numbers (connections attempted/failed, streams): reloads" \
    "$R_ATTEMPTED/$R_FAILED $R_STREAMS/0, drained graceful" \
    "$D_ATTEMPTED/$D_FAILED $D_STREAMS/0, graceful" \
    "$G_ATTEMPTED/$G_FAILED $G_STREAMS/$G_SFAILED, fast" \
    "$T_ATTEMPTED/$T_FAILED $T_STREAMS/$T_SFAILED"
