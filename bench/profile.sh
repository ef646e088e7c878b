#!/usr/bin/env bash
# Where a connection's time goes (issue 15): echod held at 4 workers
# (prefork 4, min-spare 0, max-spare 4, max-workers 4, everything else
# as shipped: sandbox, per-address limit, idle-timeout on) against the
# bare Stevens prefork of 4 (bench/tcp_floor -m prefork -n 4), both
# under the same short connections (echobench connect -c 8 -s 64), in
# alternating rounds.  BENCHMARKS.md, "Where a connection's time goes",
# shows a run.
#
#   bench/profile.sh            (as root: strace and perf attach; make
#                                bench runs it with STREAM=1 RECORD=1)
#
#   ROUNDS=5      alternating rounds per server
#   DURATION=5    seconds per round
#   PIN=1         client on CPU 0, servers on CPU 1 (taskset)
#   STRACE=1      system calls per connection, workers and master
#   RECORD=1      perf record -g of both: the hottest symbols
#   MODES="connect stream rr"  which of: connect (-c 8 -s 64, the
#                 default), stream (-c 1 -s 65536), rr (-c 1 -s 64)
#   STREAM=1      the same as MODES="connect stream rr"
#   BASE=path     another echod build in the same rounds (before/after)
#   EXTRA="name=path ..."  more echod builds in the same rounds (say,
#                 buffer sizes or splice on and off, for stream)
#
# Counts come from /proc, which the measured processes pay nothing for:
# CPU time on /proc/PID/schedstat (ns, exact), the user/system split on
# /proc/PID/stat (clock ticks), context switches on /proc/PID/status.
# Each is summed over every process of the server and divided by the
# connections echobench made; echod's master is also shown alone (its
# wake-ups per connection are its context switches).  Each figure is
# the median of the rounds, [min-max] beside it; the ratio is the
# median of the rounds' ratios, echod over the floor of the same round.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
ECHOD=${ECHOD:-$top/src/echod}
ECHODCTL=${ECHODCTL:-$top/src/echodctl}
ECHOBENCH=${ECHOBENCH:-$top/src/echobench}
FLOOR=${FLOOR:-$top/bench/tcp_floor}
ECHOTEST=${ECHOTEST:-$top/tests/echotest}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
PIN=${PIN:-0}
STRACE=${STRACE:-1}
RECORD=${RECORD:-0}
STREAM=${STREAM:-0}
for p in "$ECHOD" "$ECHODCTL" "$ECHOBENCH" "$FLOOR"; do
	[ -x "$p" ] || {
		echo "build first: make && make bench/tcp_floor ($p)" >&2
		exit 2
	}
done
[ "$(id -u)" = 0 ] || {
	echo "run as root: strace and perf attach to the servers" >&2
	exit 2
}
command -v jq >/dev/null || {
	echo "jq is needed" >&2
	exit 2
}

T=$(mktemp -d /tmp/echod-profile.XXXXXX)
chmod 755 "$T"
PIDS=
cleanup() {
	local p
	for p in $PIDS; do
		kill -TERM "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

# freeport: a port that nothing listens on (echotest's may be one that
# a listener with SO_REUSEADDR holds).
freeport() {
	local p
	for _ in $(seq 50); do
		p=$("$ECHOTEST" freeport 2>/dev/null) ||
		    p=$(shuf -i 20000-32000 -n 1)
		ss -ltnH "sport = :$p" | grep -q . || break
	done
	echo "$p"
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

CLIENT=
SERVER_CPU=
if [ "$PIN" = 1 ]; then
	CLIENT="taskset -c 0"
	SERVER_CPU="taskset -c 1"
fi

# The servers, by name: PORT[name], ROOT[name] (the process that forks
# the rest).  echod and base (BASE=path: another echod build, say the
# one before a change) run the same configuration.
declare -A PORT ROOT
start_echod() {
	local name=$1 bin=$2 port
	port=$(freeport)
	{
		echo "listen on 127.0.0.1 port $port"
		echo "prefork 4"
		echo "min-spare 0"
		echo "max-spare 4"
		echo "max-workers 4"
		echo "pidfile $T/$name.pid"
		echo "control socket $T/$name.sock"
	} >"$T/$name.conf"
	$SERVER_CPU "$bin" -d -f "$T/$name.conf" 2>>"$T/$name.log" &
	ROOT[$name]=$!
	PORT[$name]=$port
	PIDS="$PIDS $!"
	wait_port "$port"
}
start_echod echod "$ECHOD"
F_PORT=$(freeport)
$SERVER_CPU "$FLOOR" -p "$F_PORT" -m prefork -n 4 >/dev/null &
ROOT[floor]=$!
PORT[floor]=$F_PORT
PIDS="$PIDS $!"
wait_port "$F_PORT"
SERVERS="echod floor"
if [ -n "${BASE:-}" ]; then
	start_echod base "$BASE"
	SERVERS="echod floor base"
fi
for extra in ${EXTRA:-}; do
	start_echod "${extra%%=*}" "${extra#*=}"
	SERVERS="$SERVERS ${extra%%=*}"
done

port_of() {
	echo "${PORT[$1]}"
}
root_of() {
	echo "${ROOT[$1]}"
}
procs() {
	local r
	r=$(root_of "$1")
	echo "$r" $(pgrep -P "$r")
}
workers_of() {
	pgrep -P "$(root_of "$1")" | tr '\n' ' '
}

# sample PIDS...: "cpu_ns user_ticks sys_ticks switches", summed.
sample() {
	local p ns=0 ut=0 st=0 cs=0 a b c
	for p in "$@"; do
		read -r a _ </proc/"$p"/schedstat 2>/dev/null || continue
		ns=$((ns + a))
		read -r b c < <(awk '{ print $14, $15 }' /proc/"$p"/stat)
		ut=$((ut + b))
		st=$((st + c))
		a=$(awk '/ctxt_switches/ { s += $2 } END { print s }' \
		    /proc/"$p"/status)
		cs=$((cs + a))
	done
	echo "$ns $ut $st $cs"
}

HZ=$(getconf CLK_TCK)

# round NAME MODE OPTS...: one measured run, one line appended to
# $T/NAME.MODE: rate cpu_us user_us sys_us cs master_us master_cs
# (per connection or, for stream, per MB echoed).
round() {
	local name=$1 mode=$2 port all master b m a ma n unit
	shift 2
	port=$(port_of "$name")
	master=$(root_of "$name")
	all=$(procs "$name")
	# shellcheck disable=SC2086
	b=$(sample $all)
	m=$(sample "$master")
	$CLIENT "$ECHOBENCH" "$mode" -j -w 0 -d "$DURATION" "$@" 127.0.0.1 \
	    "$port" >"$T/out.json" || true
	# shellcheck disable=SC2086
	a=$(sample $all)
	ma=$(sample "$master")
	case $mode in
	connect)
		n=$(jq .connects "$T/out.json")
		unit=1 ;;
	rr)
		n=$(jq .round_trips "$T/out.json")
		unit=1 ;;
	stream)
		# per MB echoed
		n=$(jq '.bytes // (.rate * .duration)' "$T/out.json")
		unit=1000000 ;;
	esac
	awk -v b="$b" -v a="$a" -v m="$m" -v ma="$ma" -v n="$n" \
	    -v unit="$unit" -v hz="$HZ" \
	    -v rate="$(jq ".rate // .mbytes_per_s" "$T/out.json")" '
	BEGIN {
		split(b, B); split(a, A); split(m, M); split(ma, MA)
		n = n / unit
		if (n <= 0) n = 1
		printf "%s %.3f %.3f %.3f %.4f %.3f %.4f\n", rate,
		    (A[1] - B[1]) / 1000 / n,
		    (A[2] - B[2]) * 1e6 / hz / n, (A[3] - B[3]) * 1e6 / hz / n,
		    (A[4] - B[4]) / n,
		    (MA[1] - M[1]) / 1000 / n, (MA[4] - M[4]) / n
	}' >>"$T/$name.$mode"
}

# The pool must stay at 4: check with echodctl.
held_at_4() {
	local w name
	for name in $SERVERS; do
		[ "$name" = floor ] && continue
		w=$("$ECHODCTL" -j -s "$T/$name.sock" status |
		    jq '.pool.workers')
		[ "$w" = 4 ] ||
		    echo "warning: $name has $w workers, not 4" >&2
	done
}

# median_range FILE COLUMN: "median [min-max]"
median_range() {
	sort -g -k"$2","$2" "$1" | awk -v c="$2" '
	{ v[NR] = $c }
	END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		f = m >= 1000 ? "%.0f [%.0f-%.0f]" : "%.4g [%.4g-%.4g]"
		printf f, m, v[1], v[NR]
	}'
}

# ratio MODE COLUMN A B: the median of A/B, round by round.
ratio() {
	paste -d' ' "$T/$3.$1" "$T/$4.$1" |
	    awk -v c="$2" -v w="$(head -1 "$T/$3.$1" | wc -w)" '
	{ if ($(c + w) > 0) print $c / $(c + w) }' | sort -g | awk '
	{ v[NR] = $1 }
	END {
		if (NR == 0) { print "-"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.3fx [%.3f-%.3f]", m, v[1], v[NR]
	}'
}

# table MODE PER: one row per server, its medians [min-max], and its
# ratios to the floor (the median of the rounds' own).
table() {
	local mode=$1 per=$2 name col
	echo
	echo "$mode, per $per: median [min-max] of $ROUNDS rounds; x floor:" \
	    "median of the rounds' ratios"
	printf '%-8s %-22s %-14s %-21s %-14s %-16s %-16s %-8s %s\n' "" \
	    "rate (/s; stream MB/s)" "x floor" "CPU (us)" "x floor" \
	    "user (us)" "system (us)" "switches" "master (us, switches)"
	for name in $SERVERS; do
		printf '%-8s %-22s %-14s %-21s %-14s %-16s %-16s %-8s %s\n' \
		    "$name" "$(median_range "$T/$name.$mode" 1)" \
		    "$(ratio "$mode" 1 "$name" floor | cut -d' ' -f1)" \
		    "$(median_range "$T/$name.$mode" 2)" \
		    "$(ratio "$mode" 2 "$name" floor | cut -d' ' -f1)" \
		    "$(median_range "$T/$name.$mode" 3)" \
		    "$(median_range "$T/$name.$mode" 4)" \
		    "$(median_range "$T/$name.$mode" 5 | cut -d' ' -f1)" \
		    "$(median_range "$T/$name.$mode" 6 | cut -d' ' -f1), $(
		    median_range "$T/$name.$mode" 7 | cut -d' ' -f1)"
	done
	for name in $SERVERS; do
		[ "$name" = floor ] && continue
		echo "  $name/floor, [min-max] of the rounds: rate" \
		    "$(ratio "$mode" 1 "$name" floor), CPU" \
		    "$(ratio "$mode" 2 "$name" floor)"
	done
	if [ -n "${BASE:-}" ]; then
		echo "  echod/base: rate $(ratio "$mode" 1 echod base), CPU" \
		    "$(ratio "$mode" 2 echod base)"
	fi
}

echo "machine: $(nproc) CPUs, $(uname -sr); load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo "pinned: $([ "$PIN" = 1 ] && echo "client CPU 0, servers CPU 1" ||
    echo no); $ROUNDS rounds of $DURATION s, alternating"

# Warm both up (page cache, the pool's first connections), unmeasured.
for name in $SERVERS; do
	$CLIENT "$ECHOBENCH" connect -d 1 -w 0 -c 8 -s 64 127.0.0.1 \
	    "$(port_of "$name")" >/dev/null || true
done
held_at_4

modes=${MODES:-connect}
[ "$STREAM" = 1 ] && modes="connect stream rr"
for r in $(seq "$ROUNDS"); do
	# Alternating: each round in the order of the last, rotated.
	order=$(echo $SERVERS | awk -v r="$r" '{
		for (i = 0; i < NF; i++) printf "%s ", $((i + r - 1) % NF + 1)
	}')
	for name in $order; do
		for mode in $modes; do
			case $mode in
			connect) round "$name" connect -c 8 -s 64 ;;
			stream) round "$name" stream -c 1 -s 65536 ;;
			rr) round "$name" rr -c 1 -s 64 ;;
			esac
		done
	done
done
held_at_4
for mode in $modes; do
	case $mode in
	stream) table stream "MB echoed" ;;
	rr) table rr "round trip" ;;
	*) table connect connection ;;
	esac
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

# strace -c: every call of the servers' workers during a short run,
# divided by its connections; echod's master counted on its own.
if [ "$STRACE" = 1 ] && command -v strace >/dev/null; then
	for name in echod floor; do
		args=
		for p in $(workers_of "$name"); do
			args="$args -p $p"
		done
		# shellcheck disable=SC2086
		strace -c -f -o "$T/$name.strace" $args 2>/dev/null &
		st=$!
		if [ "$name" = echod ]; then
			strace -c -o "$T/master.strace" -p "$(root_of echod)" \
			    2>/dev/null &
			sm=$!
		fi
		sleep 0.5
		$CLIENT "$ECHOBENCH" connect -j -w 0 -d 2 -c 8 -s 64 127.0.0.1 \
		    "$(port_of "$name")" >"$T/out.json" || true
		n=$(jq .connects "$T/out.json")
		kill -INT "$st"
		wait "$st" 2>/dev/null || true
		echo
		echo "$name's workers, system calls per connection ($n" \
		    "connections, strace -c -f):"
		awk -v n="$n" '$NF ~ /^[a-z_0-9]+$/ && $(NF - 1) ~ /^[0-9]+$/ &&
		    $NF != "total" { c = $(NF - 1); t += c
		    printf "  %-16s %.2f\n", $NF, c / n }
		    END { printf "  %-16s %.2f\n", "total", t / n }' \
		    "$T/$name.strace"
		if [ "$name" = echod ]; then
			kill -INT "$sm"
			wait "$sm" 2>/dev/null || true
			echo "echod's master, system calls per connection:"
			awk -v n="$n" '$NF ~ /^[a-z_0-9]+$/ &&
			    $(NF - 1) ~ /^[0-9]+$/ && $NF != "total" {
			    c = $(NF - 1); t += c
			    printf "  %-16s %.4f\n", $NF, c / n }
			    END { printf "  %-16s %.4f\n", "total", t / n }' \
			    "$T/master.strace"
		fi
	done
fi

# perf record -g: where each server's time goes.  perf samples the
# CPU clock at a fixed rate, so samples per connection are CPU time per
# connection, symbol by symbol: echod's and the floor's side by side,
# the symbols where echod spends more first.
if [ "$RECORD" = 1 ] && command -v perf >/dev/null; then
	for name in echod floor; do
		pids=$(procs "$name" | tr ' ' ',')
		perf record -q -g -o "$T/$name.perf" -p "$pids" \
		    >/dev/null 2>&1 &
		pr=$!
		sleep 0.5
		$CLIENT "$ECHOBENCH" connect -j -w 0 -d "$DURATION" -c 8 -s 64 \
		    127.0.0.1 "$(port_of "$name")" >"$T/out.json" || true
		kill -INT "$pr"
		wait "$pr" 2>/dev/null || true
		n=$(jq .connects "$T/out.json")
		# "samples per 1000 connections" "[k] or [.]" symbol
		perf report -i "$T/$name.perf" --no-children --stdio \
		    --sort sym -g none -F sample,sym 2>/dev/null |
		    grep -v '^#' | grep -v '^$' | awk -v n="$n" '
		    { s = $1; k = $2; $1 = $2 = ""; sub(/^ +/, "")
		      printf "%s%s %.4f\n", k, $0, s * 1000 / n }' |
		    sort >"$T/$name.syms"
	done
	echo
	echo "perf record (cpu-clock), samples per 1000 connections," \
	    "[k] kernel, [.] user space:"
	for name in echod floor; do
		awk -v name="$name" '{ t += $2; if ($1 ~ /^\[k\]/) k += $2 }
		    END { printf "  %-6s %.2f in all, %.2f kernel, %.2f user\n",
		    name, t, k, t - k }' "$T/$name.syms"
	done
	echo "  where echod spends more (echod, floor, difference):"
	join -a1 -a2 -e 0 -o 0,1.2,2.2 "$T/echod.syms" "$T/floor.syms" |
	    awk '{ printf "  %8.3f %8.3f %+8.3f  %s\n", $2, $3, $2 - $3, $1 }' |
	    sort -k3 -g -r | head -25
fi
