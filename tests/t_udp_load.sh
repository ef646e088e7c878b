# UDP echo under a paced load (echobench udp -r): 20 reloads lose
# nothing and keep the socket; kill -9 of UDP workers loses at most what
# the killed workers held.
#
# What a reload may not lose is told apart from what a loaded machine
# may: the load is paced at a few thousand datagrams a second and the
# guard's rate limit is off; what echod loses is what its socket dropped
# (its receive buffer full: /proc/net/udp6), what its workers took and
# did not answer (datagrams in less datagrams out, echodctl status) and
# the clients refused (the port closed for a while): all must stay 0.
# Whatever else echobench finds lost, the machine must have lost
# outside echod: its client's sockets (client_drops, SO_RXQ_OVFL) or
# the loopback device's backlog (/proc/net/softnet_stat), which another
# program flooding loopback at the same time fills.  To make a gap in the service visible,
# the workers of two of the reloads take SLOW_MS longer to set
# themselves up (tests/faultshim.c, slow-setup): SLOW_MS of datagrams is
# more than the socket's receive buffer holds, so a reload that stopped
# the old UDP workers before the new ones served would lose a thousand,
# and one that closed the socket and bound it again would lose what it
# held and have clients refused.
. "$TESTS_SRCDIR/lib.sh"

ECHOBENCH=${ECHOBENCH:-$(dirname "$ECHOD")/echobench}
RATE=2000
SLOW_MS=1000
# The receive buffer (net.core.rmem_default, below any rmem_max): the
# kernel doubles it, and a 64-byte datagram takes some 830 bytes of it,
# so it holds some 500 datagrams: 250 ms of the load, far less than
# SLOW_MS, more than a busy machine stalls both UDP workers.
RCVBUF=212992
# Datagrams a UDP worker takes from the socket at once (udpecho.c): what
# a kill -9 can take with it, since the rest stay in the socket.
BATCH=$(sed -n 's/^#define BATCH[[:space:]]*\([0-9]*\).*/\1/p' \
    "$TESTS_SRCDIR/../src/udpecho.c")
[ -n "$BATCH" ] || fail "no BATCH in src/udpecho.c"

UPORT=$("$ECHOTEST" freeport) || fail "no free port"
GATE="$T/gate"

udp_inode() {
	local hex
	hex=$(printf '%04X' "$UPORT")
	awk -v port=":$hex" 'substr($2, length($2) - 4) == port { print $10 }' \
	    /proc/net/udp /proc/net/udp6 | sort -u
}
# What the kernel dropped on echod's UDP socket (its receive buffer full).
udp_socket_drops() {
	local hex
	hex=$(printf '%04X' "$UPORT")
	awk -v port=":$hex" 'substr($2, length($2) - 4) == port { print $NF }' \
	    /proc/net/udp /proc/net/udp6
}
# The UDP workers' pids, from the scoreboard, of the current generation.
udp_pids() {
	"$ECHODCTL" -s "$CTL" -j workers |
	    jq -r '.workers[] | select(.kind == "udp" and .state != "draining") |
	    .pid' | sort -n | tr '\n' ' '
}
# Datagrams the loopback device's backlog dropped, on every CPU.
backlog_drops() {
	local n=0 d
	for d in $(awk '{ print $2 }' /proc/net/softnet_stat); do
		n=$((n + 16#$d))
	done
	echo "$n"
}
# echod's own: datagrams taken and not answered (nor dropped by the
# guard, which is told to drop none).
unanswered() {
	"$ECHODCTL" -s "$CTL" -j status |
	    jq -r '.udp | .datagrams_in - .datagrams_out'
}
n_udp() {
	[ "$(udp_pids | wc -w)" -eq "$1" ]
}
gen_serving() {
	log_has "reloaded: generation $1"
}
# load SECONDS: echobench udp paced at RATE in the background, 4
# sockets, its JSON in $T/bench.json.
load() {
	timeout -k 5 $(($1 + 30)) "$ECHOBENCH" udp -j -c 4 -r "$RATE" \
	    -d "$1" -w 0 -t 2 127.0.0.1 "$UPORT" >"$T/bench.json" \
	    2>"$T/bench.err" &
	BENCH=$!
	BG_PIDS="$BG_PIDS $BENCH"
	bdrops=$(backlog_drops)
	sdrops=$(udp_socket_drops)
}
field() {
	jq -r "$1" "$T/bench.json"
}
# The load's outcome: echobench done, everything it sent counted.
load_done() {
	wait "$BENCH"
	[ -s "$T/bench.json" ] ||
	    fail "echobench: no result: $(cat "$T/bench.err")"
	log "echobench: $(cat "$T/bench.json")"
	[ "$(field .sent)" -gt 0 ] && [ "$(field .corrupt)" -eq 0 ] &&
	    [ "$(field .duplicates)" -eq 0 ] ||
	    fail "echobench: $(cat "$T/bench.json") $(cat "$T/bench.err")"
	[ "$(field .refused)" -eq 0 ] ||
	    fail "a client was refused: the UDP port was closed for a while"
	elsewhere=$(( $(field .client_drops) + $(backlog_drops) - bdrops ))
	sdrops=$(( $(udp_socket_drops) - sdrops ))
}

write_conf "listen on 127.0.0.1 port $PORT" "listen on * port $UPORT udp" \
    "prefork 1" "udp-workers 3" "udp-receive-buffer $RCVBUF" \
    "udp-rate 0 0" "udp-total-rate 0" "sandbox no"
env ECHOD_FAULT_GATE="$GATE" ECHOD_FAULT_DELAY_MS=$SLOW_MS \
    LD_PRELOAD="$FAULTSHIM" \
    "$ECHOD" -d -f "$CONF" >>"$LOG" 2>&1 &
BG_PIDS="$BG_PIDS $!"
wait_for 10 "pidfile of a running master" pidfile_ready
wait_for 10 "3 UDP workers" n_udp 3
inode=$(udp_inode)
[ -n "$inode" ] || fail "no UDP socket in /proc/net"
log_has "starting: 1 worker and 3 UDP workers, configuration" ||
    fail "the start does not count the UDP workers"

# 1. 20 reloads, each waited for, under the load; the 10th and the 20th
# slow.
load 5
started=$(now_ms)
for i in $(seq 2 21); do
	case $i in
	11|21)	echo slow-setup >"$GATE" ;;
	*)	rm -f "$GATE" ;;
	esac
	"$ECHODCTL" -s "$CTL" -t 30 reload >"$T/reload.out" 2>&1 ||
	    fail "reload $i: $(cat "$T/reload.out")"
done
rm -f "$GATE"
took=$(( $(now_ms) - started ))
log_has "reloaded: generation 21, 1 worker and 3 UDP workers, 2 listening sockets;" ||
    fail "the reload does not count the UDP workers"
grep -q "^generation 21 serving with [0-9]* workers and 3 UDP workers$" \
    "$T/reload.out" || fail "echodctl reload: $(cat "$T/reload.out")"
alive "$BENCH" || fail "20 reloads took ${took} ms, longer than the load"
load_done
wait_for 10 "generation 21" gen_serving 21
[ "$(udp_inode)" = "$inode" ] || fail "UDP socket replaced by the reloads"
[ "$sdrops" -eq 0 ] ||
    fail "echod's socket dropped $sdrops datagrams in 20 reloads"
[ "$(unanswered)" -eq 0 ] ||
    fail "$(unanswered) datagrams taken by UDP workers and not answered"
[ "$(field .lost)" -le "$elsewhere" ] ||
    fail "$(field .lost) lost in 20 reloads, $elsewhere of them outside echod"
ok "20 reloads in ${took} ms under $RATE datagrams/s: the same socket," \
    "$(field .sent) sent, none lost by echod ($(field .lost) outside it)"

# 2. kill -9 of UDP workers under the load: one at a time five times,
# then all three at once twice.  Each takes at most BATCH datagrams with it;
# the rest wait in the socket, which the master and the other workers
# hold, until a worker is back.
kills=0
load 3
for i in 1 2 3 4 5 6 7; do
	before=$(udp_pids)
	if [ "$i" -le 5 ]; then
		victims=${before%% *}
	else
		victims=$before
	fi
	# shellcheck disable=SC2086 # one pid a word
	kill -KILL $victims
	kills=$((kills + $(echo $victims | wc -w)))
	# shellcheck disable=SC2086
	wait_gone 5 "killed UDP workers $victims" $victims
	wait_for 10 "3 UDP workers again" n_udp 3
	for v in $victims; do
		case " $(udp_pids) " in
		*" $v "*) fail "killed worker $v still in the scoreboard" ;;
		esac
	done
done
alive "$BENCH" || fail "the kills took longer than the load"
load_done
[ "$sdrops" -eq 0 ] ||
    fail "echod's socket dropped $sdrops datagrams while its workers died"
taken=$(unanswered)
[ "$taken" -le $((kills * BATCH)) ] ||
    fail "$taken datagrams taken by $kills killed workers, more than" \
	"$BATCH each"
lost=$(( $(field .lost) - elsewhere ))
[ "$lost" -le $((kills * BATCH)) ] ||
    fail "$lost lost by $kills kills, more than $BATCH a kill"
"$ECHOTEST" echo -p "$PORT" -n 100 || fail "TCP after the kills"
log_has "worker [0-9]+ \(generation [0-9]+\) killed by signal 9" ||
    fail "the kills not logged"
ok "$kills UDP workers killed under load: replaced, $taken counted in and" \
    "not out, $lost lost by echod (at most $BATCH a kill)"
