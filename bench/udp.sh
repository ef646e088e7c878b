#!/usr/bin/env bash
# UDP echo servers side by side, in one run on one machine (make bench;
# BENCHMARKS.md shows a run), in alternating rounds:
#
#   echod    echod's UDP listener, with its default udp-workers (one per
#            CPU, as the floors' processes), the floors' 4 MB receive
#            buffer and the guard's rate limits off (udp-rate 0 0,
#            udp-total-rate 0: one client address would otherwise be
#            held to udp-rate's 1000 a second); skipped, and said so,
#            if this echod refuses a "listen ... udp" line (echod -n)
#   inetd    openbsd-inetd's internal UDP echo, port 7 (as root only)
#   socat    socat UDP-RECVFROM:PORT,fork PIPE (a fork per datagram)
#   go       bench/udp_echo.go: one goroutine, ReadFrom/WriteTo
#   floor    bench/udp_floor: as many processes as CPUs, in recvmmsg()/
#            sendmmsg() on one shared socket: echod's design, bare
#   reuse    bench/udp_floor -R: the same with one SO_REUSEPORT socket
#            per process
#
# For each, with echobench udp: the round-trip rate with 8 sockets, one
# datagram in flight on each, of 64 and of 1400 bytes, and with 64
# sockets of 64 bytes (enough in flight for a batch to form); the round-trip
# time p50/p99 of one socket; the server's CPU per datagram (utime+stime
# of all its processes and of the children it reaped, from /proc, over
# the 64-byte run, warm-up included); the loss at a fixed offered rate
# (RATE a second, default 20000) and at half the server's own 64-byte
# rate of the same round (the issue's target: under 0.1%), both paced
# on one socket.  Each figure is the median of ROUNDS
# rounds (default 5) with its range; in each round every server runs
# once, in turn, so that a change in the machine's load falls on all.
#
#   bench/udp.sh      (DURATION and WARMUP in seconds, default 5 and 1)
#
# With PIN=1 (the default on a machine of 2 CPUs or more) echobench runs
# on CPU 0 and the servers on the others (taskset), so that the client
# and the server do not take each other's CPU; PIN=0 shares them all.
#
# Everything runs over IPv6 loopback, ::1: openbsd-inetd's internal
# services refuse datagrams from 127.0.0.0/8 (its dg_badinput() takes
# them for forged), and every server is measured on the same path.
#
# As root on Debian, missing tools are installed with apt-get.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
ECHOD=${ECHOD:-$top/src/echod}
ECHOBENCH=${ECHOBENCH:-$top/src/echobench}
FLOOR=${UDP_FLOOR:-$top/bench/udp_floor}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-5}
RATE=${RATE:-20000}
NCPU=$(nproc)
PIN=${PIN:-$([ "$NCPU" -ge 2 ] && echo 1 || echo 0)}
CLI=
SRV=
if [ "$PIN" = 1 ] && [ "$NCPU" -ge 2 ]; then
	CLI="taskset -c 0"
	SRV="taskset -c 1-$((NCPU - 1))"
fi
ADDR=::1
[ -x "$ECHOD" ] && [ -x "$ECHOBENCH" ] && [ -x "$FLOOR" ] || {
	echo "build first: make all bench/udp_floor" >&2
	exit 2
}

if [ "$(id -u)" = 0 ]; then
	missing=
	for tool in socat:socat inetd:openbsd-inetd go:golang-go jq:jq; do
		command -v "${tool%%:*}" >/dev/null 2>&1 ||
		    missing="$missing ${tool#*:}"
	done
	if [ -n "$missing" ]; then
		echo "installing:$missing"
		DEBIAN_FRONTEND=noninteractive apt-get install -y $missing \
		    >/dev/null
	fi
fi

T=$(mktemp -d /tmp/echod-udpbench.XXXXXX)
chmod 755 "$T"
SERVER=
cleanup() {
	[ -n "$SERVER" ] && kill -TERM "$SERVER" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

freeport() {
	"$top/tests/echotest" freeport -H "$ADDR" 2>/dev/null ||
	    shuf -i 20000-32000 -n 1
}

# wait_echo PORT: until a datagram to [::1]:PORT comes back (5 s).
wait_echo() {
	local i
	for i in $(seq 50); do
		if "$ECHOBENCH" udp -n 1 -t 1 "$ADDR" "$1" >/dev/null 2>&1
		then
			return 0
		fi
		sleep 0.1
	done
	echo "nothing echoes UDP on port $1" >&2
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
ECHOD_UDP=
check_echod() {
	PORT=$(freeport)
	{
		echo "listen on $ADDR port $PORT udp"
		echo "udp-receive-buffer 4194304"
		echo "udp-rate 0 0"
		echo "udp-total-rate 0"
		echo "pidfile $T/echod.pid"
		echo "control socket $T/echod.sock"
	} >"$T/echod.conf"
	if "$ECHOD" -n -f "$T/echod.conf" >"$T/echod.check" 2>&1; then
		ECHOD_UDP=yes
	else
		echo "echod: no UDP support in this echod" \
		    "(echod -n: $(head -n 1 "$T/echod.check")); left out"
	fi
}

start_echod() {
	PORT=$(freeport)
	sed -i "s/port [0-9]* udp/port $PORT udp/" "$T/echod.conf"
	$SRV "$ECHOD" -d -f "$T/echod.conf" 2>>"$T/echod.log" &
	SERVER=$!
	wait_echo "$PORT"
}

INETD=
check_inetd() {
	if [ "$(id -u)" != 0 ]; then
		echo "inetd: needs root for port 7; left out"
	elif ! command -v inetd >/dev/null; then
		echo "inetd: openbsd-inetd is not installed; left out"
	elif ss -uanH "sport = :7" | grep -q "$ADDR"; then
		echo "inetd: UDP port 7 is taken; left out"
	else
		INETD=yes
	fi
}

start_inetd() {
	PORT=7
	echo "[$ADDR]:echo dgram udp6 wait root internal" >"$T/inetd.conf"
	# -d: in the foreground; its debug lines go nowhere.
	$SRV inetd -d "$T/inetd.conf" >/dev/null 2>&1 &
	SERVER=$!
	wait_echo "$PORT"
}

start_socat() {
	PORT=$(freeport)
	# -T 1: a child that got no answer from PIPE does not stay.
	$SRV socat -T 1 "UDP6-RECVFROM:$PORT,bind=[$ADDR],fork" PIPE &
	SERVER=$!
	wait_echo "$PORT"
}

GO_SERVER=
build_go() {
	if ! command -v go >/dev/null; then
		echo "go: no Go toolchain (golang-go); left out"
		return
	fi
	mkdir -p "$T/go"
	cp "$top/bench/udp_echo.go" "$T/go/main.go"
	if (cd "$T/go" && HOME=$T GOCACHE=$T/go/cache GO111MODULE=off \
	    go build -o udp_echo_go main.go); then
		GO_SERVER=$T/go/udp_echo_go
	else
		echo "go: bench/udp_echo.go did not build; left out"
	fi
}

start_go() {
	PORT=$(freeport)
	$SRV "$GO_SERVER" "[$ADDR]:$PORT" &
	SERVER=$!
	wait_echo "$PORT"
}

start_floor() {
	PORT=$(freeport)
	$SRV "$FLOOR" -a "$ADDR" -p "$PORT" -n "$NCPU" -t 3600 >/dev/null &
	SERVER=$!
	wait_echo "$PORT"
}

start_reuse() {
	PORT=$(freeport)
	$SRV "$FLOOR" -R -a "$ADDR" -p "$PORT" -n "$NCPU" -t 3600 >/dev/null &
	SERVER=$!
	wait_echo "$PORT"
}

stop_server() {
	kill -TERM "$SERVER" 2>/dev/null || true
	wait "$SERVER" 2>/dev/null || true
	SERVER=
}

# run NAME TAG ARGS...: one echobench udp run; its JSON in $T/NAME.TAG,
# with the server's CPU seconds over the run added as "cpu_s".
run() {
	local name=$1 tag=$2 before after
	shift 2
	before=$(cpu_ticks "$SERVER")
	$CLI "$ECHOBENCH" udp -j -d "$DURATION" -w "$WARMUP" "$@" "$ADDR" \
	    "$PORT" >"$T/out.json" 2>/dev/null || true
	after=$(cpu_ticks "$SERVER")
	jq --argjson cpu "$(( after - before ))" --argjson hz "$CLK_TCK" \
	    '. + { cpu_s: ($cpu / $hz) }' "$T/out.json" >"$T/$name.$tag"
}

# One round of one server: each figure appended to $T/NAME.FIGURE.
round() {
	local s=$1
	run "$s" max64 -c 8 -s 64
	run "$s" max1400 -c 8 -s 1400
	run "$s" cap64 -c 64 -s 64
	run "$s" lat -c 1 -s 64
	run "$s" loss -c 1 -s 64 -r "$RATE"
	half=$(jq -r '.rate / 2 | floor' "$T/$s.max64")
	[ "$half" -gt 0 ] || half=1
	run "$s" half -c 1 -s 64 -r "$half"
	echo "$half" >>"$T/$s.half_rate"
	jq -r .loss_pct "$T/$s.half" >>"$T/$s.half_pct"
	jq -r .rate "$T/$s.max64" >>"$T/$s.rate64"
	jq -r .rate "$T/$s.max1400" >>"$T/$s.rate1400"
	jq -r .rate "$T/$s.cap64" >>"$T/$s.cap64r"
	jq -r .latency_us.p50 "$T/$s.lat" >>"$T/$s.p50"
	jq -r .latency_us.p99 "$T/$s.lat" >>"$T/$s.p99"
	# Over the whole run, the warm-up's datagrams too.
	jq -r --argjson d "$DURATION" --argjson w "$WARMUP" \
	    'if .rate > 0 then .cpu_s * 1000000 / (.rate * ($d + $w))
	    else 0 end' "$T/$s.max64" >>"$T/$s.cpu"
	jq -r .loss_pct "$T/$s.loss" >>"$T/$s.loss_pct"
	jq -r '.corrupt + .duplicates' "$T/$s.max64" "$T/$s.max1400" \
	    "$T/$s.cap64" "$T/$s.lat" "$T/$s.loss" "$T/$s.half" \
	    >>"$T/$s.bad"
	# A datagram lost in a round-trip run stalls its socket for the
	# timeout (1 s): what the rates above paid for.
	jq -s 'map(.lost) | add' "$T/$s.max64" "$T/$s.max1400" \
	    "$T/$s.cap64" "$T/$s.lat" >>"$T/$s.rrlost"
}

# stat NAME FIGURE FORMAT: "median (min-max)" of the rounds.
stat() {
	sort -g "$T/$1.$2" | awk -v f="$3" '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf(f " (" f "-" f ")", m, v[1], v[NR]) }'
}

median() {
	sort -g "$T/$1.$2" | awk '{ v[NR] = $1 } END {
		print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "machine: $NCPU CPUs, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "$CLI" ]; then
	echo "pinned: echobench on CPU 0, the servers on CPUs 1-$((NCPU - 1))"
else
	echo "not pinned: echobench and the servers share the CPUs"
fi
echo "each run: ${DURATION} s measured after ${WARMUP} s of warm-up;" \
    "$ROUNDS rounds, median (min-max)"
echo

servers=
check_echod
[ -n "$ECHOD_UDP" ] && servers="$servers echod"
check_inetd
[ -n "$INETD" ] && servers="$servers inetd"
servers="$servers socat"
build_go
[ -n "$GO_SERVER" ] && servers="$servers go"
servers="$servers floor reuse"

for r in $(seq "$ROUNDS"); do
	for s in $servers; do
		"start_$s"
		round "$s"
		stop_server
	done
	echo "round $r of $ROUNDS done"
done
echo

printf '%-6s %-22s %-22s %-22s %-14s %-19s %-17s %-22s %-22s %-22s %s\n' \
    server "64 B dgram/s" "1400 B dgram/s" "64 B x64 dgram/s" \
    "rtt p50 us" "rtt p99 us" \
    "CPU us/dgram" "loss % at $RATE/s" "max/2: dgram/s" "loss % at max/2" \
    "lost in rr runs"
for s in $servers; do
	printf '%-6s %-22s %-22s %-22s %-14s %-19s %-17s %-22s %-22s %-22s %s\n' \
	    "$s" "$(stat "$s" rate64 %.0f)" "$(stat "$s" rate1400 %.0f)" \
	    "$(stat "$s" cap64r %.0f)" \
	    "$(stat "$s" p50 %.0f)" "$(stat "$s" p99 %.0f)" \
	    "$(stat "$s" cpu %.1f)" "$(stat "$s" loss_pct %.3f)" \
	    "$(stat "$s" half_rate %.0f)" "$(stat "$s" half_pct %.3f)" \
	    "$(stat "$s" rrlost %.0f)"
done
bad=$(cat "$T"/*.bad | awk '{ n += $1 } END { print n + 0 }')
echo "corrupt or duplicated datagrams in all runs: $bad"
echo

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b;
	    else printf "-" }'
}
if [ -n "$ECHOD_UDP" ]; then
	echo "echod's 64-byte rate (medians): $(ratio "$(median echod rate64)" \
	    "$(median floor rate64)")x the shared-socket floor (target 0.9x)," \
	    "$(ratio "$(median echod rate64)" "$(median reuse rate64)")x" \
	    "the SO_REUSEPORT floor"
	[ -n "$INETD" ] && echo "echod's 64-byte rate:" \
	    "$(ratio "$(median echod rate64)" "$(median inetd rate64)")x" \
	    "inetd's (target 2x); with 64 sockets:" \
	    "$(ratio "$(median echod cap64r)" "$(median inetd cap64r)")x"
	echo "echod's 64-byte rate with 64 sockets:" \
	    "$(ratio "$(median echod cap64r)" "$(median floor cap64r)")x" \
	    "the shared-socket floor"
	echo "echod's loss at half its 64-byte rate" \
	    "($(median echod half_rate)/s): $(median echod half_pct)%" \
	    "(median; target under 0.1%)"
else
	echo "echod: not measured (no UDP support in this echod)"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit 0
