#!/usr/bin/env bash
# echod side by side with the echo servers people would run instead, in
# one run on one machine (make bench; BENCHMARKS.md shows a run):
#
#   socat   socat TCP-LISTEN:PORT,fork,reuseaddr PIPE (a fork per client)
#   inetd   openbsd-inetd's built-in echo (a fork per client), port 7
#   go      the Go server of the article echod grew from (a goroutine per
#           client: net.Listen, Accept, io.Copy)
#
# The same echobench scenarios run against each: connect (connections
# per second), rr (round-trip latency), stream (MB/s echoed).  The
# server's CPU is the utime+stime of all its processes, and of the
# children it reaped, from /proc before and after each scenario, so
# fork-per-connection servers are charged for their children.  iperf3's
# single-stream loopback rate is the ceiling for stream.  Then the
# system calls of echod's workers per connection, counted by strace,
# and echod's accept strategies for Stevens' Figure 30.1.
#
#   bench/compare.sh            (as root: inetd needs port 7; DURATION
#                                and WARMUP in seconds, default 10 and 2)
#
# As root on Debian, missing tools are installed with apt-get.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
ECHOD=${ECHOD:-$top/src/echod}
ECHOBENCH=${ECHOBENCH:-$top/src/echobench}
SEED=${SEED:-$top/../shared/seed}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
[ -x "$ECHOD" ] && [ -x "$ECHOBENCH" ] || {
	echo "build first: make" >&2
	exit 2
}
[ "$(id -u)" = 0 ] || {
	echo "run as root: inetd's echo is on port 7, strace attaches" >&2
	exit 2
}

missing=
for tool in socat:socat inetd:openbsd-inetd iperf3:iperf3 go:golang-go \
    strace:strace jq:jq; do
	command -v "${tool%%:*}" >/dev/null 2>&1 ||
	    missing="$missing ${tool#*:}"
done
if [ -n "$missing" ]; then
	echo "installing:$missing"
	DEBIAN_FRONTEND=noninteractive apt-get install -y $missing \
	    >/dev/null
fi

T=$(mktemp -d /tmp/echod-bench.XXXXXX)
chmod 755 "$T"
PIDS=
cleanup() {
	local p
	for p in $PIDS; do
		kill -TERM "$p" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap cleanup EXIT

freeport() {
	"$top/tests/echotest" freeport 2>/dev/null || shuf -i 20000-40000 -n 1
}

# wait_port PORT: until something accepts on 127.0.0.1:PORT (5 s).
wait_port() {
	local i
	for i in $(seq 250); do
		if ss -ltnH "sport = :$1" | grep -q .; then
			return 0
		fi
		sleep 0.02
	done
	echo "nothing listens on port $1" >&2
	exit 1
}

CLK_TCK=$(getconf CLK_TCK)
# cpu_ticks PID: utime+stime of PID and its descendants, plus what PID
# has reaped of its children (cutime+cstime).
cpu_ticks() {
	local root=$1 p sum=0 t
	for p in $root $(pgrep -P "$root") \
	    $(for c in $(pgrep -P "$root"); do pgrep -P "$c"; done); do
		t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) ||
		    continue
		sum=$((sum + ${t:-0}))
	done
	t=$(awk '{ print $16 + $17 }' "/proc/$root/stat")
	echo $((sum + t))
}

# Servers: start_NAME sets SERVER (its pid) and PORT.
start_echod() {
	PORT=$(freeport)
	{
		echo "listen on 127.0.0.1 port $PORT"
		for extra in "$@"; do
			echo "$extra"
		done
		echo "pidfile $T/echod.pid"
		echo "control socket $T/echod.sock"
		# One client address for everything: no per-address limit.
		echo "max-connections-per-address 0"
	} >"$T/echod.conf"
	"$ECHOD" -d -f "$T/echod.conf" 2>>"$T/echod.log" &
	SERVER=$!
	PIDS="$PIDS $SERVER"
	wait_port "$PORT"
}

start_socat() {
	PORT=$(freeport)
	socat "TCP-LISTEN:$PORT,bind=127.0.0.1,fork,reuseaddr" PIPE &
	SERVER=$!
	PIDS="$PIDS $SERVER"
	wait_port "$PORT"
}

start_inetd() {
	PORT=7
	if ss -ltnH "sport = :7" | grep -q .; then
		echo "port 7 is taken: stop the system's inetd first" >&2
		exit 1
	fi
	echo "127.0.0.1:echo stream tcp nowait root internal" >"$T/inetd.conf"
	# -d keeps it in the foreground; its debug lines go nowhere.  -R:
	# no limit on connections per minute, which would stop the service.
	inetd -d -R 100000000 "$T/inetd.conf" >/dev/null 2>&1 &
	SERVER=$!
	PIDS="$PIDS $SERVER"
	wait_port "$PORT"
}

GO_SERVER=
build_go() {
	# The article's server, as published, but on the port given.
	mkdir -p "$T/go"
	# The first Go block of the article is the server.
	awk '/^```go$/ { on = 1; next } on && /^```$/ { exit } on' \
	    "$SEED"/*.txt |
	    sed 's/":2000"/"127.0.0.1:"+os.Args[1]/;
	    s/^import (/import (\n\t"os"/' >"$T/go/main.go"
	(cd "$T/go" && HOME=$T GOCACHE=$T/go/cache GO111MODULE=off \
	    go build -o echo-go main.go) && GO_SERVER=$T/go/echo-go
}

start_go() {
	PORT=$(freeport)
	"$GO_SERVER" "$PORT" &
	SERVER=$!
	PIDS="$PIDS $SERVER"
	wait_port "$PORT"
}

stop_server() {
	kill -TERM "$SERVER" 2>/dev/null || true
	wait "$SERVER" 2>/dev/null || true
}

# measure NAME MODE ECHOBENCH-OPTIONS...: one echobench run, JSON kept in
# $T/NAME.MODE.json with the server's CPU seconds added as "cpu_s".
measure() {
	local name=$1 mode=$2 before after
	shift 2
	before=$(cpu_ticks "$SERVER")
	"$ECHOBENCH" "$mode" -j -d "$DURATION" -w "$WARMUP" "$@" \
	    127.0.0.1 "$PORT" >"$T/out.json" || true
	after=$(cpu_ticks "$SERVER")
	jq --argjson cpu "$(( after - before ))" --argjson hz "$CLK_TCK" \
	    '. + { cpu_s: ($cpu / $hz) }' "$T/out.json" \
	    >"$T/$name.$mode.json"
}

scenarios() {
	local name=$1
	measure "$name" connect -c 8 -s 64
	measure "$name" rr -c 1 -s 64
	measure "$name" stream -c 1 -s 65536
}

# The whole measured run includes the warm-up in the CPU taken, so CPU
# per connection divides by every connection made, warm-up included:
# echobench's "connects" counts only the measured part, scaled here.
field() {
	jq -r "$2" "$T/$1.json"
}

echo "machine: $(nproc) CPUs, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "each scenario: ${DURATION} s measured after ${WARMUP} s of warm-up"
echo

servers="echod socat inetd"
start_echod "prefork 4"; scenarios echod; stop_server
start_socat; scenarios socat; stop_server
start_inetd; scenarios inetd; stop_server
if build_go; then
	start_go; scenarios go; stop_server
	servers="$servers go"
else
	echo "go: could not build the article's server; left out"
fi

# iperf3: one stream, one direction, the loopback's ceiling.
PORT=$(freeport)
iperf3 -s -1 -p "$PORT" >/dev/null 2>&1 &
PIDS="$PIDS $!"
wait_port "$PORT"
iperf=$(iperf3 -c 127.0.0.1 -p "$PORT" -t "$DURATION" -O "$WARMUP" -J |
    jq '.end.sum_received.bits_per_second / 8 / 1000000')

# Per connection: CPU over all connections of the run (the warm-up's
# too, since the CPU counter saw them), estimated from the measured rate.
cpu_us_per_conn() {
	jq -r --argjson d "$DURATION" --argjson w "$WARMUP" \
	    'if .rate > 0 then .cpu_s * 1000000 / (.rate * ($d + $w))
	    else 0 end' "$T/$1.connect.json"
}
cpu_s_per_gb() {
	jq -r --argjson d "$DURATION" --argjson w "$WARMUP" \
	    'if .mbytes_per_s > 0 then .cpu_s / (.mbytes_per_s * ($d + $w) / 1000)
	    else 0 end' "$T/$1.stream.json"
}

printf '%-7s %10s %9s %8s %8s %9s %8s %6s\n' server "connect/s" \
    "CPU us/c" "rr p50" "rr p99" "stream" "CPU s/GB" errors
for s in $servers; do
	errors=$(( $(field "$s.connect" .errors) + $(field "$s.rr" .errors) +
	    $(field "$s.stream" .errors) ))
	printf '%-7s %10.0f %9.1f %6sus %6sus %5.0fMB/s %8.2f %6d\n' "$s" \
	    "$(field "$s.connect" .rate)" "$(cpu_us_per_conn "$s")" \
	    "$(field "$s.rr" .latency_us.p50)" \
	    "$(field "$s.rr" .latency_us.p99)" \
	    "$(field "$s.stream" .mbytes_per_s)" "$(cpu_s_per_gb "$s")" \
	    "$errors"
done
printf '%-7s %10s %9s %8s %8s %5.0fMB/s\n' iperf3 - - - - "$iperf"
echo

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b;
	    else printf "-" }'
}
echo "echod against each (higher is better for echod):"
printf '%-7s %10s %12s %10s %10s %10s\n' peer "connect/s" "CPU per conn" \
    "rr p50" "rr p99" "stream"
for s in $servers; do
	[ "$s" = echod ] && continue
	printf '%-7s %9sx %11sx %9sx %9sx %9sx\n' "$s" \
	    "$(ratio "$(field echod.connect .rate)" "$(field "$s.connect" .rate)")" \
	    "$(ratio "$(cpu_us_per_conn "$s")" "$(cpu_us_per_conn echod)")" \
	    "$(ratio "$(field "$s.rr" .latency_us.p50)" "$(field echod.rr .latency_us.p50)")" \
	    "$(ratio "$(field "$s.rr" .latency_us.p99)" "$(field echod.rr .latency_us.p99)")" \
	    "$(ratio "$(field echod.stream .mbytes_per_s)" "$(field "$s.stream" .mbytes_per_s)")"
done
printf '%-7s %10s %12s %10s %10s %9s%%\n' iperf3 "" "" "" "" \
    "$(awk -v a="$(field echod.stream .mbytes_per_s)" -v b="$iperf" \
    'BEGIN { printf "%.0f", 100 * a / b }')"
echo "(iperf3 column: echod's stream rate as a share of iperf3's)"
echo

# System calls per connection in echod's workers, counted by strace on
# a fixed pool of 2 while echobench connects (64 bytes each).
start_echod "prefork 2" "min-spare 0"
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
sleep 1		# strace attaches asynchronously; nothing to poll for
"$ECHOBENCH" connect -j -c 2 -d 3 -w 0 -s 64 127.0.0.1 "$PORT" \
    >"$T/strace.json" || true
sleep 0.5
kill -INT "$tracer"
wait "$tracer" 2>/dev/null || true
stop_server
conns=$(jq '.connects' "$T/strace.json")
echo "system calls of echod's workers per connection (connect, 64 bytes"
echo "echoed, close), counted by strace -c -f over $conns connections:"
awk -v n="$conns" '$NF ~ /^[a-z_0-9]+$/ && $1 ~ /^[0-9.]+$/ &&
    $NF != "total" {
	# Columns: % time, seconds, usecs/call, calls, [errors,] syscall.
	printf "  %-12s %6.2f\n", $NF, $4 / n; sum += $4
    } END { printf "  %-12s %6.2f\n", "total", sum / n }' "$T/strace.out"
echo

# Stevens' Figure 30.1: CPU per connection and connection rate, for
# each way echod's workers wait for connections, beside fork per client.
echo "Figure 30.1 for today's Linux: connect scenario, 8 clients, 64 bytes"
printf '%-44s %10s %12s\n' design "connect/s" "CPU us/conn"
row() {
	printf '%-44s %10.0f %12.1f\n' "$1" "$(field "$2" .rate)" \
	    "$(cpu_us_per_conn "${2%.connect}")"
}
start_echod "prefork 4"; measure fig1 connect -c 8 -s 64; stop_server
row "echod: 4 workers block in accept()" fig1.connect
start_echod "prefork 4" "sandbox no"; measure fig2 connect -c 8 -s 64
stop_server
row "echod: the same, without the seccomp sandbox" fig2.connect
# Two listeners (clients use the first), once per accept-strategy, at 4
# and 32 workers: poll() wakes every idle worker per connection, so its
# cost grows with the idle ones.  The pool is held at its size.
for workers in 4 32; do
	for strategy in poll epoll; do
		PORT2=$(freeport)
		start_echod "prefork $workers" "min-spare 0" \
		    "max-spare $workers" "max-workers $workers" \
		    "listen on 127.0.0.1 port $PORT2" \
		    "accept-strategy $strategy"
		measure "fig-$strategy-$workers" connect -c 8 -s 64
		stop_server
	done
	row "echod: $workers workers, 2 listeners, poll() + accept()" \
	    "fig-poll-$workers.connect"
	row "echod: $workers workers, 2 listeners, epoll exclusive" \
	    "fig-epoll-$workers.connect"
done
row "socat: fork per connection" socat.connect
row "inetd: fork per connection" inetd.connect
[ -n "$GO_SERVER" ] && row "go: goroutine per connection" go.connect
exit 0
