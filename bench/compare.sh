#!/usr/bin/env bash
# echod side by side with its floor and with the echo servers people
# would run instead, in alternating rounds on one machine (make bench;
# BENCHMARKS.md shows a run):
#
#   echod    echod as shipped: the sample configuration's pool (prefork
#            4, min-spare 2, max-spare 8, max-workers 256), sandbox and
#            limits on; only the address, pidfile and control socket set
#   echod4   echod held at 4 workers: prefork 4, min-spare 0, max-spare
#            4, max-workers 4 (checked with echodctl in every round)
#   floor    bench/tcp_floor -m prefork -n 4: the bare Stevens prefork,
#            4 processes in accept() and a 64 KiB read/write loop
#   go       bench/tcp_echo.go, the peer: a goroutine per connection,
#            io.Copy, built here with go build
#   socat    socat TCP-LISTEN:PORT,fork,reuseaddr PIPE (a fork per client)
#   inetd    openbsd-inetd's built-in echo (a fork per client), port 7;
#            as root only
#
# The same echobench scenarios run against each: connect -c 8 -s 64
# (connections per second), rr -c 1 -s 64 (round-trip latency), stream
# -c 1 -s 65536 (MB/s echoed, every byte checked).  Each figure is the
# median of ROUNDS rounds (default 5) with its range; in each round
# every server is started, runs the three scenarios and is stopped, in
# turn, so that a change in the machine's load falls on all of them.
# The ratios against the floor are taken round by round (each server
# against the floor of the same round), then their median and range.
# The server's CPU is the run time of all its processes' threads as the
# scheduler counts it (/proc/PID/task/TID/schedstat), and what its
# reaped children used (cutime+cstime, so the fork-per-connection
# servers are charged for their children), before and after each
# scenario, divided by every connection or byte of the run, warm-up
# included.
#
# Where the machine has 2 CPUs or more, the servers run on CPUs 1 to
# N-1 and echobench on CPU 0 (taskset; Go then runs with GOMAXPROCS of
# N-1); the output says what was pinned.  Then, once: iperf3's single
# stream (the loopback's ceiling), the system calls per connection of
# echod's workers and of its master (strace), and Stevens' Figure 30.1
# (connect rate and CPU per connection for each way of waiting for a
# connection, in alternating rounds too).
#
#   bench/compare.sh     ROUNDS (5), DURATION and WARMUP in seconds (3, 1);
#                        FIGURE=0 leaves Figure 30.1 out.  About 10 min.
#
# As root on Debian, missing tools are installed with apt-get.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
ECHOD=${ECHOD:-$top/src/echod}
ECHODCTL=${ECHODCTL:-$top/src/echodctl}
ECHOBENCH=${ECHOBENCH:-$top/src/echobench}
FLOOR=${TCP_FLOOR:-$top/bench/tcp_floor}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-5}
FIGURE=${FIGURE:-1}
NCPU=$(nproc)
[ -x "$ECHOD" ] && [ -x "$ECHODCTL" ] && [ -x "$ECHOBENCH" ] &&
    [ -x "$FLOOR" ] || {
	echo "build first: make all bench/tcp_floor" >&2
	exit 2
}

ROOT=
[ "$(id -u)" = 0 ] && ROOT=yes
if [ -n "$ROOT" ]; then
	missing=
	for tool in socat:socat inetd:openbsd-inetd iperf3:iperf3 \
	    go:golang-go strace:strace jq:jq taskset:util-linux; do
		command -v "${tool%%:*}" >/dev/null 2>&1 ||
		    missing="$missing ${tool#*:}"
	done
	if [ -n "$missing" ]; then
		echo "installing:$missing"
		DEBIAN_FRONTEND=noninteractive apt-get install -y $missing \
		    >/dev/null
	fi
fi
command -v jq >/dev/null || {
	echo "jq is needed (apt-get install jq)" >&2
	exit 2
}

# The client on CPU 0, the servers on the others, where there are others.
PIN_SERVER=
PIN_CLIENT=
if [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then
	PIN_SERVER="taskset -c 1-$((NCPU - 1))"
	PIN_CLIENT="taskset -c 0"
	pinned="echobench on CPU 0, every server on CPUs 1-$((NCPU - 1))"
else
	pinned="nothing pinned ($NCPU CPU, or no taskset)"
fi

T=$(mktemp -d /tmp/echod-bench.XXXXXX)
chmod 755 "$T"
SERVER=
PORT_RANGE=
cleanup() {
	[ -n "$SERVER" ] && kill -TERM "$SERVER" 2>/dev/null || true
	[ -n "$PORT_RANGE" ] &&
	    sysctl -qw net.ipv4.ip_local_port_range="$PORT_RANGE"
	rm -rf "$T"
}
trap cleanup EXIT

# The clients' local ports.  connect() looks for a free one among those
# the loopback holds in TIME_WAIT (tens of thousands after a few
# seconds of connect): in Linux's default range that search, in
# echobench, bounded every server's connection rate at about 14,000/s
# and stalled it now and then (BENCHMARKS.md).  As root the range is
# widened for the run, and put back afterwards; the servers listen
# below it.
CLIENT_PORTS="10240 65535"
if [ -n "$ROOT" ]; then
	old_range=$(sysctl -n net.ipv4.ip_local_port_range | tr -s '\t ' ' ')
	if [ "$old_range" != "$CLIENT_PORTS" ] &&
	    sysctl -qw net.ipv4.ip_local_port_range="$CLIENT_PORTS"; then
		PORT_RANGE=$old_range
	fi
fi

freeport() {
	# Below the clients' ports: one of theirs in TIME_WAIT would
	# refuse a server's bind() without SO_REUSEADDR.
	local p
	while :; do
		p=$(shuf -i 2000-10200 -n 1)
		ss -ltnH "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}

# wait_port PORT: until something listens on PORT (5 s).
wait_port() {
	local i
	for i in $(seq 250); do
		if ss -ltnH "sport = :$1" | grep -q .; then
			return 0
		fi
		sleep 0.02
	done
	echo "nothing listens on port $1 ($(ps -o args= -p "$SERVER"))" >&2
	exit 1
}

CLK_TCK=$(getconf CLK_TCK)
# cpu_ns PID: the CPU time, in ns, of PID and its descendants (two
# levels), every thread, as the scheduler counts it
# (/proc/PID/task/TID/schedstat), plus what PID has reaped of its
# children (cutime+cstime).  Not utime+stime: those are sampled at the
# tick, and miss a pool of many workers that each run for a few us at a
# time (echod as shipped: 0 ticks where the scheduler counted 77 ms).
# What children reaped during the run used is still in ticks.
cpu_ns() {
	local root=$1 p sum=0 t
	for p in $root $(pgrep -P "$root") \
	    $(for c in $(pgrep -P "$root"); do pgrep -P "$c"; done); do
		t=$(cat /proc/"$p"/task/*/schedstat 2>/dev/null |
		    awk '{ s += $1 } END { printf "%.0f", s }')
		sum=$((sum + ${t:-0}))
	done
	t=$(awk -v hz="$CLK_TCK" '{ printf "%.0f", ($16 + $17) * 1e9 / hz }' \
	    "/proc/$root/stat")
	echo $((sum + t))
}

# Servers: start_NAME sets SERVER (its pid) and PORT, and CTL for echod.
# start_echod LINES...: echod with these configuration lines.
start_echod() {
	PORT=$(freeport)
	CTL=$T/echod.sock
	{
		echo "listen on 127.0.0.1 port $PORT"
		for extra in "$@"; do
			echo "$extra"
		done
		echo "pidfile $T/echod.pid"
		echo "control socket $CTL"
	} >"$T/echod.conf"
	$PIN_SERVER "$ECHOD" -d -f "$T/echod.conf" 2>>"$T/echod.log" &
	SERVER=$!
	wait_port "$PORT"
	wait_pool
}

# wait_pool: until echod's pool has started every worker it forked
# (5 s): the socket listens before the workers accept.
wait_pool() {
	local i
	for i in $(seq 250); do
		if "$ECHODCTL" -s "$CTL" -j status 2>/dev/null | jq -e \
		    '.pool.starting == 0 and .pool.idle > 0' >/dev/null; then
			return 0
		fi
		sleep 0.02
	done
	echo "echod's workers did not start" >&2
	exit 1
}

start_echod_shipped() {
	start_echod
}

start_echod4() {
	start_echod "prefork 4" "min-spare 0" "max-spare 4" "max-workers 4"
}

start_floor() {
	PORT=$(freeport)
	$PIN_SERVER "$FLOOR" -p "$PORT" -m prefork -n 4 -t 3600 >/dev/null &
	SERVER=$!
	wait_port "$PORT"
}

start_forkfloor() {
	PORT=$(freeport)
	$PIN_SERVER "$FLOOR" -p "$PORT" -m fork -t 3600 >/dev/null &
	SERVER=$!
	wait_port "$PORT"
}

start_socat() {
	PORT=$(freeport)
	$PIN_SERVER socat "TCP-LISTEN:$PORT,bind=127.0.0.1,fork,reuseaddr" \
	    PIPE &
	SERVER=$!
	wait_port "$PORT"
}

INETD=
check_inetd() {
	if [ -z "$ROOT" ]; then
		echo "inetd: needs root for port 7; left out"
	elif ! command -v inetd >/dev/null; then
		echo "inetd: openbsd-inetd is not installed; left out"
	elif ss -ltnH "sport = :7" | grep -q .; then
		echo "inetd: port 7 is taken (the system's inetd?); left out"
	else
		INETD=yes
	fi
}

start_inetd() {
	PORT=7
	echo "127.0.0.1:echo stream tcp nowait root internal" >"$T/inetd.conf"
	# -d keeps it in the foreground; its debug lines go nowhere.  -R:
	# no limit on connections per minute, which would stop the service.
	$PIN_SERVER inetd -d -R 100000000 "$T/inetd.conf" >/dev/null 2>&1 &
	SERVER=$!
	wait_port "$PORT"
}

GO_SERVER=
build_go() {
	if ! command -v go >/dev/null; then
		echo "go: no Go toolchain (golang-go); left out"
		return
	fi
	mkdir -p "$T/go"
	cp "$top/bench/tcp_echo.go" "$T/go/main.go"
	if (cd "$T/go" && HOME=$T GOCACHE=$T/go/cache GO111MODULE=off \
	    go build -o tcp_echo_go main.go); then
		GO_SERVER=$T/go/tcp_echo_go
	else
		echo "go: bench/tcp_echo.go did not build; left out"
	fi
}

start_go() {
	PORT=$(freeport)
	$PIN_SERVER "$GO_SERVER" "127.0.0.1:$PORT" &
	SERVER=$!
	wait_port "$PORT"
}

stop_server() {
	kill -TERM "$SERVER" 2>/dev/null || true
	wait "$SERVER" 2>/dev/null || true
	SERVER=
}

# measure NAME MODE ECHOBENCH-OPTIONS...: one echobench run, its JSON in
# $T/NAME.MODE.json with the server's CPU seconds added as "cpu_s".
measure() {
	local name=$1 mode=$2 before after
	shift 2
	before=$(cpu_ns "$SERVER")
	$PIN_CLIENT "$ECHOBENCH" "$mode" -j -d "$DURATION" -w "$WARMUP" \
	    "$@" 127.0.0.1 "$PORT" >"$T/out.json" 2>>"$T/echobench.err" ||
	    true
	after=$(cpu_ns "$SERVER")
	jq --argjson cpu "$(( after - before ))" \
	    '. + { cpu_s: ($cpu / 1e9) }' "$T/out.json" \
	    >"$T/$name.$mode.json"
}

# Per connection and per GB: the CPU over the whole run (the warm-up's
# too, since the counter saw it), divided by what the measured rate
# makes of the whole run.
cpu_us_per_conn() {
	jq -r --argjson d "$DURATION" --argjson w "$WARMUP" \
	    'if .rate > 0 then .cpu_s * 1000000 / (.rate * ($d + $w))
	    else 0 end' "$1"
}
cpu_s_per_gb() {
	jq -r --argjson d "$DURATION" --argjson w "$WARMUP" \
	    'if .mbytes_per_s > 0 then
	    .cpu_s / (.mbytes_per_s * ($d + $w) / 1000) else 0 end' "$1"
}

# connect_round NAME: the connect scenario, its figures appended to
# $T/NAME.FIGURE; for echod, the pool's size half-way through.
connect_round() {
	local s=$1 j=$T/$1.connect.json sampler=
	case "$s" in
	echod*)
		(sleep "$(awk -v d="$DURATION" -v w="$WARMUP" \
		    'BEGIN { print w + d / 2 }')"
		"$ECHODCTL" -s "$CTL" -j status | jq -r .pool.workers \
		    >>"$T/$s.workers") &
		sampler=$!
		;;
	esac
	measure "$s" connect -c 8 -s 64
	[ -n "$sampler" ] && wait "$sampler"
	jq -r .rate "$j" >>"$T/$s.rate"
	cpu_us_per_conn "$j" >>"$T/$s.cpuconn"
	jq -r .errors "$j" >>"$T/$s.errors"
}

# round NAME: the three scenarios of the main table.
round() {
	local s=$1
	connect_round "$s"
	measure "$s" rr -c 1 -s 64
	jq -r .latency_us.p50 "$T/$s.rr.json" >>"$T/$s.p50"
	jq -r .latency_us.p99 "$T/$s.rr.json" >>"$T/$s.p99"
	measure "$s" stream -c 1 -s 65536
	jq -r .mbytes_per_s "$T/$s.stream.json" >>"$T/$s.mbs"
	cpu_s_per_gb "$T/$s.stream.json" >>"$T/$s.cpugb"
	jq -r '.errors' "$T/$s.rr.json" "$T/$s.stream.json" >>"$T/$s.errors"
}

# stat NAME FIGURE FORMAT: "median (min-max)" of the rounds.
stat() {
	sort -g "$T/$1.$2" | awk -v f="$3" '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf(f " (" f "–" f ")", m, v[1], v[NR]) }'
}

# ratio_fmt A B FIGURE: A's figure over B's, round by round: the median
# of those ratios and their range, as "0.95× (0.90–1.01)".
ratio_fmt() {
	paste "$T/$1.$3" "$T/$2.$3" | awk '$2 > 0 { print $1 / $2 }' \
	    >"$T/ratio.x"
	if [ -s "$T/ratio.x" ]; then
		stat ratio x "%.2f" | sed 's/ (/× (/'
	else
		printf -- "-"
	fi
}

median() {
	sort -g "$T/$1.$2" | awk '{ v[NR] = $1 } END {
		print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

printf '%s\n' "machine: $NCPU CPUs, $(uname -sr), $(grep -m1 'model name' \
    /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "pinned: $pinned"
echo "client ports: $(sysctl -n net.ipv4.ip_local_port_range | tr -s '\t ' ' ')${PORT_RANGE:+ (for this run; was $PORT_RANGE)}"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "each run: ${DURATION} s measured after ${WARMUP} s of warm-up;" \
    "$ROUNDS rounds, median (min–max)"
echo

servers="echod_shipped echod4 floor"
build_go
[ -n "$GO_SERVER" ] && servers="$servers go"
servers="$servers socat"
check_inetd
[ -n "$INETD" ] && servers="$servers inetd"

for r in $(seq "$ROUNDS"); do
	for s in $servers; do
		"start_$s"
		round "$s"
		stop_server
	done
	echo "round $r of $ROUNDS done ($(cut -d' ' -f1 /proc/loadavg) load)"
done
echo

label() {
	case "$1" in
	echod_shipped) echo "echod (as shipped)" ;;
	echod4) echo "echod (held at 4)" ;;
	floor) echo "bare prefork 4 (floor)" ;;
	go) echo "go (bench/tcp_echo.go)" ;;
	forkfloor) echo "bare fork per connection" ;;
	*) echo "$1" ;;
	esac
}

echo "| server | connect/s | CPU µs/conn | rr p50 µs | rr p99 µs | stream MB/s | CPU s/GB | errors |"
echo "|---|--:|--:|--:|--:|--:|--:|--:|"
for s in $servers; do
	printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(label "$s")" \
	    "$(stat "$s" rate %.0f)" "$(stat "$s" cpuconn %.1f)" \
	    "$(stat "$s" p50 %.0f)" "$(stat "$s" p99 %.0f)" \
	    "$(stat "$s" mbs %.0f)" "$(stat "$s" cpugb %.2f)" \
	    "$(awk '{ n += $1 } END { print n + 0 }' "$T/$s.errors")"
done
echo
echo "Against the bare prefork of the same round (server ÷ floor; median"
echo "of the rounds' ratios and their range):"
echo
echo "| server | connect/s | CPU per conn | rr p50 | stream MB/s | CPU per GB |"
echo "|---|--:|--:|--:|--:|--:|"
for s in $servers; do
	[ "$s" = floor ] && continue
	printf '| %s | %s | %s | %s | %s | %s |\n' "$(label "$s")" \
	    "$(ratio_fmt "$s" floor rate)" "$(ratio_fmt "$s" floor cpuconn)" \
	    "$(ratio_fmt "$s" floor p50)" "$(ratio_fmt "$s" floor mbs)" \
	    "$(ratio_fmt "$s" floor cpugb)"
done
echo
echo "echod's pool half-way through each connect run (echodctl):" \
    "as shipped $(tr '\n' ' ' <"$T/echod_shipped.workers")workers," \
    "held $(tr '\n' ' ' <"$T/echod4.workers")workers"
echo
# Issue 15's targets, from the medians of the ratios above.
target() {
	local what=$1 s=$2 fig=$3 op=$4 want=$5 got
	got=$(ratio_fmt "$s" floor "$fig" | sed 's/×.*//')
	if awk -v g="$got" -v w="$want" -v op="$op" 'BEGIN {
	    exit !(op == "<=" ? g <= w : g >= w) }'; then
		echo "  met:     $what: ${got}× (target $op ${want}×)"
	else
		echo "  not met: $what: ${got}× (target $op ${want}×)"
	fi
}
echo "targets (issue 15), medians against the floor:"
target "held at 4, CPU per connection" echod4 cpuconn "<=" 1.1
target "held at 4, connection rate" echod4 rate ">=" 0.95
target "as shipped, CPU per connection" echod_shipped cpuconn "<=" 1.2
target "as shipped, single-stream rate" echod_shipped mbs ">=" 0.95
target "as shipped, CPU per GB" echod_shipped cpugb "<=" 1.0
echo

# iperf3: one stream, one direction, the loopback's ceiling.
if command -v iperf3 >/dev/null; then
	PORT=$(freeport)
	$PIN_SERVER iperf3 -s -1 -p "$PORT" >/dev/null 2>&1 &
	SERVER=$!
	wait_port "$PORT"
	iperf=$($PIN_CLIENT iperf3 -c 127.0.0.1 -p "$PORT" -t "$DURATION" \
	    -O "$WARMUP" -J | jq '.end.sum_received.bits_per_second / 8 / 1e6')
	wait "$SERVER" 2>/dev/null || true
	SERVER=
	printf 'iperf3, one stream one way (the ceiling, one run): %.0f MB/s\n\n' \
	    "$iperf"
fi

# System calls per connection, counted by strace on echod held at 2
# workers while echobench connects (64 bytes each): the workers' (the
# hot path) and the master's (its wake-ups are per-connection costs
# too while the pool is short of spares).
if [ -n "$ROOT" ] && command -v strace >/dev/null; then
	start_echod "prefork 2" "min-spare 0" "max-spare 2" "max-workers 2"
	for i in $(seq 250); do
		[ "$(pgrep -P "$SERVER" | wc -l)" -eq 2 ] && break
		sleep 0.02
	done
	set --
	for w in $(pgrep -P "$SERVER"); do
		set -- "$@" -p "$w"
	done
	strace -c -f -q -o "$T/strace.out" "$@" &
	tracer=$!
	strace -c -q -o "$T/strace.master" -p "$SERVER" &
	mtracer=$!
	sleep 1		# strace attaches asynchronously; nothing to poll for
	$PIN_CLIENT "$ECHOBENCH" connect -j -c 2 -d 3 -w 0 -s 64 127.0.0.1 \
	    "$PORT" >"$T/strace.json" 2>>"$T/echobench.err" || true
	sleep 0.5
	kill -INT "$tracer" "$mtracer"
	wait "$tracer" "$mtracer" 2>/dev/null || true
	stop_server
	conns=$(jq '.connects' "$T/strace.json")
	percall() {
		awk -v n="$conns" '$NF ~ /^[a-z_0-9]+$/ && $1 ~ /^[0-9.]+$/ &&
		    $NF != "total" {
			# % time, seconds, usecs/call, calls, [errors,] syscall
			printf "  %-12s %6.2f\n", $NF, $4 / n; sum += $4
		    } END { printf "  %-12s %6.2f\n", "total", sum / n }' "$1"
	}
	echo "system calls per connection (connect, 64 bytes echoed, close),"
	echo "strace -c over $conns connections, echod held at 2 workers" \
	    "($(jq .errors "$T/strace.json") errors under strace):"
	echo "workers:"
	percall "$T/strace.out"
	echo "master:"
	percall "$T/strace.master"
	echo
else
	echo "strace: needs root and strace; left out"
	echo
fi

[ "$FIGURE" = 0 ] && exit 0

# Stevens' Figure 30.1: connect rate and CPU per connection for each
# way echod's workers wait for connections, beside fork per client and
# the bare prefork, in alternating rounds.  Two listeners (clients use
# the first), once per accept-strategy, at 4 and 32 workers: poll()
# wakes every idle worker per connection, so its cost grows with the
# idle ones.  The pool is held at its size.
start_fig_nosandbox() {
	start_echod "prefork 4" "min-spare 0" "max-spare 4" "max-workers 4" \
	    "sandbox no"
}
strategy() {
	start_echod "prefork $1" "min-spare 0" "max-spare $1" \
	    "max-workers $1" "listen on 127.0.0.1 port $(freeport)" \
	    "accept-strategy $2"
}
start_fig_poll4() { strategy 4 poll; }
start_fig_epoll4() { strategy 4 epoll; }
start_fig_poll32() { strategy 32 poll; }
start_fig_epoll32() { strategy 32 epoll; }
designs="fig_nosandbox fig_poll4 fig_epoll4 fig_poll32 fig_epoll32 forkfloor"
for r in $(seq "$ROUNDS"); do
	for s in $designs; do
		"start_$s"
		connect_round "$s"
		stop_server
	done
	echo "Figure 30.1, round $r of $ROUNDS done" \
	    "($(cut -d' ' -f1 /proc/loadavg) load)"
done
echo
echo "Figure 30.1 for today's Linux: connect -c 8 -s 64, $ROUNDS rounds"
echo
echo "| design | connect/s | CPU µs/conn |"
echo "|---|--:|--:|"
row() {
	printf '| %s | %s | %s |\n' "$1" "$(stat "$2" rate %.0f)" \
	    "$(stat "$2" cpuconn %.1f)"
}
row "echod as shipped: 4 workers and more, block in accept()" echod_shipped
row "echod: 4 workers block in accept()" echod4
row "echod: the same, without the seccomp sandbox" fig_nosandbox
row "echod: 4 workers, 2 listeners, poll() + accept()" fig_poll4
row "echod: 4 workers, 2 listeners, epoll exclusive" fig_epoll4
row "echod: 32 workers, 2 listeners, poll() + accept()" fig_poll32
row "echod: 32 workers, 2 listeners, epoll exclusive" fig_epoll32
row "bare prefork: 4 processes block in accept()" floor
row "bare fork per connection" forkfloor
row "socat: fork per connection" socat
[ -n "$INETD" ] && row "inetd: fork per connection" inetd
[ -n "$GO_SERVER" ] && row "go: goroutine per connection" go
echo
if [ -s "$T/echobench.err" ]; then
	echo "echobench's first error messages:"
	head -n 5 "$T/echobench.err"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit 0
