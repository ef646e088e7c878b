#!/usr/bin/env bash
# How echod scales with the CPUs it is given, beside the bare prefork
# (make bench; BENCHMARKS.md shows a run and the plan for more cores).
#
# echobench runs on CPUs 0 to C-1 (CLIENT_CPUS, default 1) with -T C,
# one client thread per CPU.  The server is given k CPUs, C to C+k-1,
# for k = 1, 2, 4, ... while they fit beside the client (taskset), and
# then, as the last row, every CPU of the machine, shared with the
# client (nothing pinned): on 2 CPUs, that is the 1- and 2-CPU figures.
# With k CPUs both servers have 4k workers, held there:
#
#   echod    prefork 4k, min-spare 0, max-spare 4k, max-workers 4k,
#            max-connections-per-address 0 (one client address)
#   floor    bench/tcp_floor -m prefork -n 4k
#
# The scenarios: connect -c 16 -s 64, rr -c 4 -s 64 (round trips a
# second over 4 connections, no more than the smallest pool serves at
# once) and stream -c 4.  Each figure is the median of ROUNDS rounds
# (default 3) with its range; in each round every server runs once on
# every set of CPUs, in turn.
# The server's CPU per connection is counted as in bench/compare.sh.
#
#   bench/scaling.sh     ROUNDS (3), DURATION and WARMUP (3 and 1 s),
#                        CLIENT_CPUS (1).  About 3 min on 2 CPUs.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
ECHOD=${ECHOD:-$top/src/echod}
ECHODCTL=${ECHODCTL:-$top/src/echodctl}
ECHOBENCH=${ECHOBENCH:-$top/src/echobench}
FLOOR=${TCP_FLOOR:-$top/bench/tcp_floor}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-3}
CLIENT_CPUS=${CLIENT_CPUS:-1}
NCPU=$(nproc)
[ -x "$ECHOD" ] && [ -x "$ECHODCTL" ] && [ -x "$ECHOBENCH" ] &&
    [ -x "$FLOOR" ] || {
	echo "build first: make all bench/tcp_floor" >&2
	exit 2
}
command -v jq >/dev/null && command -v taskset >/dev/null || {
	echo "jq and taskset are needed" >&2
	exit 2
}

T=$(mktemp -d /tmp/echod-scaling.XXXXXX)
chmod 755 "$T"
SERVER=
cleanup() {
	[ -n "$SERVER" ] && kill -TERM "$SERVER" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

freeport() {
	# Below Linux's ephemeral range (32768 up): a port the clients'
	# own sockets hold would refuse the next server's bind().
	"${ECHOTEST:-$top/tests/echotest}" freeport 2>/dev/null ||
	    shuf -i 20000-32000 -n 1
}

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

# The sets of CPUs: "k" for k CPUs beside the client, "all" for the
# whole machine, shared.
sets=
k=1
while [ $((CLIENT_CPUS + k)) -le "$NCPU" ]; do
	sets="$sets $k"
	k=$((k * 2))
done
sets="$sets all"

# pin SET: the taskset prefix of the server, and its worker count.
pin() {
	if [ "$1" = all ]; then
		PIN_SERVER=
		PIN_CLIENT=
		WORKERS=$((4 * NCPU))
	else
		PIN_SERVER="taskset -c $CLIENT_CPUS-$((CLIENT_CPUS + $1 - 1))"
		PIN_CLIENT="taskset -c 0-$((CLIENT_CPUS - 1))"
		WORKERS=$((4 * $1))
	fi
}

start_echod() {
	local i
	PORT=$(freeport)
	CTL=$T/echod.sock
	{
		echo "listen on 127.0.0.1 port $PORT"
		echo "prefork $WORKERS"
		echo "min-spare 0"
		echo "max-spare $WORKERS"
		echo "max-workers $WORKERS"
		# Every client is 127.0.0.1: a full pool would leave it a
		# share of 3 of 4 workers, and refuse the 4th rr connection.
		echo "max-connections-per-address 0"
		echo "pidfile $T/echod.pid"
		echo "control socket $CTL"
	} >"$T/echod.conf"
	$PIN_SERVER "$ECHOD" -d -f "$T/echod.conf" 2>>"$T/echod.log" &
	SERVER=$!
	wait_port "$PORT"
	for i in $(seq 250); do
		"$ECHODCTL" -s "$CTL" -j status 2>/dev/null | jq -e \
		    ".pool.starting == 0 and .pool.idle == $WORKERS" \
		    >/dev/null && return 0
		sleep 0.02
	done
	echo "echod's $WORKERS workers did not start" >&2
	exit 1
}

start_floor() {
	PORT=$(freeport)
	$PIN_SERVER "$FLOOR" -p "$PORT" -m prefork -n "$WORKERS" -t 3600 \
	    >/dev/null &
	SERVER=$!
	wait_port "$PORT"
}

stop_server() {
	kill -TERM "$SERVER" 2>/dev/null || true
	wait "$SERVER" 2>/dev/null || true
	SERVER=
}

# measure TAG MODE OPTIONS...: one echobench run; JSON in $T/out.json,
# the server's CPU seconds in $cpu.
measure() {
	local mode=$2 before after
	shift 2
	before=$(cpu_ns "$SERVER")
	$PIN_CLIENT "$ECHOBENCH" "$mode" -j -T "$CLIENT_CPUS" \
	    -d "$DURATION" -w "$WARMUP" "$@" 127.0.0.1 "$PORT" \
	    >"$T/out.json" 2>>"$T/echobench.err" || true
	after=$(cpu_ns "$SERVER")
	cpu=$(awk -v t=$((after - before)) 'BEGIN { print t / 1e9 }')
}

round() {
	local tag=$1
	measure "$tag" connect -c 16 -s 64
	jq -r .rate "$T/out.json" >>"$T/$tag.rate"
	jq -r --argjson c "$cpu" --argjson d "$DURATION" --argjson w "$WARMUP" \
	    'if .rate > 0 then $c * 1e6 / (.rate * ($d + $w)) else 0 end' \
	    "$T/out.json" >>"$T/$tag.cpuconn"
	jq -r .errors "$T/out.json" >>"$T/$tag.errors"
	measure "$tag" rr -c 4 -s 64
	jq -r .rate "$T/out.json" >>"$T/$tag.rr"
	jq -r .errors "$T/out.json" >>"$T/$tag.errors"
	measure "$tag" stream -c 4 -s 65536
	jq -r .mbytes_per_s "$T/out.json" >>"$T/$tag.mbs"
	jq -r .errors "$T/out.json" >>"$T/$tag.errors"
}

stat() {
	sort -g "$T/$1.$2" | awk -v f="$3" '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf(f " (" f "–" f ")", m, v[1], v[NR]) }'
}

# ratio_fmt A B FIGURE: A over B round by round, median and range.
ratio_fmt() {
	paste "$T/$1.$3" "$T/$2.$3" | awk '$2 > 0 { print $1 / $2 }' \
	    >"$T/ratio.x"
	if [ -s "$T/ratio.x" ]; then
		stat ratio x "%.2f" | sed 's/ (/× (/'
	else
		printf -- "-"
	fi
}

echo "machine: $NCPU CPUs, $(uname -sr)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "client: echobench -T $CLIENT_CPUS on CPUs 0-$((CLIENT_CPUS - 1))" \
    "(unpinned for \"all\"); each run ${DURATION} s after ${WARMUP} s;" \
    "$ROUNDS rounds, median (min–max)"
echo

for r in $(seq "$ROUNDS"); do
	for set in $sets; do
		pin "$set"
		for s in echod floor; do
			"start_$s"
			round "$s.$set"
			stop_server
		done
	done
	echo "round $r of $ROUNDS done ($(cut -d' ' -f1 /proc/loadavg) load)"
done
echo

first=${sets# }
first=${first%% *}
echo "| server CPUs | server | workers | connect/s | CPU µs/conn | rr/s (4 conns) | stream MB/s (4 conns) | errors |"
echo "|---|---|--:|--:|--:|--:|--:|--:|"
for set in $sets; do
	pin "$set"
	if [ "$set" = all ]; then
		what="all $NCPU, shared with the client"
	else
		what="$set ($CLIENT_CPUS-$((CLIENT_CPUS + set - 1)))"
	fi
	for s in echod floor; do
		printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$what" "$s" \
		    "$WORKERS" "$(stat "$s.$set" rate %.0f)" \
		    "$(stat "$s.$set" cpuconn %.1f)" \
		    "$(stat "$s.$set" rr %.0f)" "$(stat "$s.$set" mbs %.0f)" \
		    "$(awk '{ n += $1 } END { print n + 0 }' "$T/$s.$set.errors")"
	done
done
echo
echo "Scaling: each set of CPUs against the first ($first), round by round:"
echo
echo "| server CPUs | server | connect/s | rr/s | stream MB/s |"
echo "|---|---|--:|--:|--:|"
for set in $sets; do
	[ "$set" = "$first" ] && continue
	for s in echod floor; do
		printf '| %s | %s | %s | %s | %s |\n' "$set" "$s" \
		    "$(ratio_fmt "$s.$set" "$s.$first" rate)" \
		    "$(ratio_fmt "$s.$set" "$s.$first" rr)" \
		    "$(ratio_fmt "$s.$set" "$s.$first" mbs)"
	done
done
echo
echo "echod against the floor on the same CPUs, round by round:"
echo
echo "| server CPUs | connect/s | CPU per conn | rr/s | stream MB/s |"
echo "|---|--:|--:|--:|--:|"
for set in $sets; do
	printf '| %s | %s | %s | %s | %s |\n' "$set" \
	    "$(ratio_fmt "echod.$set" "floor.$set" rate)" \
	    "$(ratio_fmt "echod.$set" "floor.$set" cpuconn)" \
	    "$(ratio_fmt "echod.$set" "floor.$set" rr)" \
	    "$(ratio_fmt "echod.$set" "floor.$set" mbs)"
done
echo
if [ -s "$T/echobench.err" ]; then
	echo "echobench's first error messages:"
	head -n 5 "$T/echobench.err"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit 0
