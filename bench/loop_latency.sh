#!/usr/bin/env bash
# The master's loop latency while a monitoring script polls it: a pool
# of W workers, "echodctl -j workers" in a tight loop, and meanwhile
#   - reap: a worker is killed (SIGKILL) and the time until the master
#     has reaped it (its /proc entry, a zombie until then, is gone);
#   - status: the time "echodctl status" takes (one small answer, which
#     waits for whatever the master is doing in its loop);
#   - workers: the time each "echodctl -j workers" of the loop took;
#   - master CPU: the processor time the master used (user + system,
#     /proc/PID/stat) in each phase, and per "echodctl -j workers":
#     how long one request keeps the master's loop from anything else,
#     whatever else the machine runs;
#   - conns: the master's CPU per "echodctl -j conns" while HOLD clients
#     (default 1000) are served and a connect test has left the host
#     full of TIME_WAIT sockets on echod's port, which are not echod's
#     connections.
#
#   bench/loop_latency.sh [WORKERS]   (default 5000; run as root)
#
# ECHOD and ECHODCTL name the programs (default: this tree's), so that
# two builds can be compared; SAMPLES (default 200) is the number of
# kills and of status requests.  Each prints p50, p99 and max in ms,
# and the number of "echodctl -j workers" answered during the run.
# Limits are raised for the run as bench/hold.sh does (kernel.pid_max,
# RLIMIT_NOFILE), and put back afterwards.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
ECHOD=${ECHOD:-$top/src/echod}
ECHODCTL=${ECHODCTL:-$top/src/echodctl}
ECHOBENCH=${ECHOBENCH:-$top/src/echobench}
HOLD=${HOLD:-1000}
SAMPLES=${SAMPLES:-200}
W=${1:-5000}
[ -x "$ECHOD" ] && [ -x "$ECHODCTL" ] && [ -x "$ECHOBENCH" ] || {
	echo "build first: make" >&2
	exit 2
}

dir=$(mktemp -d /tmp/echod-bench.XXXXXX)
chmod 755 "$dir"
saved=""
loop=""
hold=""
cleanup() {
	[ -n "$loop" ] && kill "$loop" 2>/dev/null
	[ -n "$hold" ] && kill "$hold" 2>/dev/null
	[ -f "$dir/echod.pid" ] && kill -TERM "$(cat "$dir/echod.pid")" 2>/dev/null
	for _ in $(seq 300); do [ -e "$dir/echod.pid" ] || break; sleep 0.1; done
	for kv in $saved; do
		sysctl -qw "$kv" || true
	done
	rm -rf "$dir"
}
trap cleanup EXIT

raise() {	# raise SYSCTL VALUE: only up, remembered for cleanup
	local old
	old=$(sysctl -n "$1")
	if [ "$old" -lt "$2" ]; then
		if sysctl -qw "$1=$2" 2>/dev/null; then
			saved="$saved $1=$old"
		else
			echo "warning: could not raise $1 to $2 (now $old)" >&2
		fi
	fi
}
raise kernel.pid_max $((W * 2 + 32768))
ulimit -n $((W + 1024)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

port=2500
while ss -ltnH "sport = :$port" | grep -q .; do port=$((port + 1)); done
cat > "$dir/echod.conf" <<CONF
listen on 127.0.0.1 port $port
pidfile $dir/echod.pid
control socket $dir/echod.sock
prefork $W
min-spare 0
max-workers $W
max-connections-per-address 0
CONF
[ "$(id -u)" -eq 0 ] && echo "user nobody" >> "$dir/echod.conf"
"$ECHOD" -f "$dir/echod.conf"
for _ in $(seq 100); do [ -s "$dir/echod.pid" ] && break; sleep 0.1; done
master=$(cat "$dir/echod.pid")
ctl() { "$ECHODCTL" -s "$dir/echod.sock" "$@"; }

# Until every worker is idle in accept().
for _ in $(seq 1200); do
	ctl -j status > "$dir/s.json" 2>/dev/null &&
	    grep -q "\"idle\":$W,\"busy\"" "$dir/s.json" && break
	sleep 0.1
done
grep -q "\"idle\":$W,\"busy\"" "$dir/s.json" || {
	echo "the pool did not reach $W idle workers" >&2
	exit 1
}

us() { local t=${EPOCHREALTIME/./}; echo "$t"; }

# The master's processor time so far, in ms (utime + stime).
cpu_ms() {
	local stat
	stat=$(cat "/proc/$master/stat")
	stat=${stat##*) }
	set -- $stat
	echo $(( (${12} + ${13}) * 1000 / $(getconf CLK_TCK) ))
}

# p50, p99 and max of microsecond samples, in ms.
summary() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
	    if (NR == 0) { print "no samples"; exit }
	    i50 = int(NR * 0.50 + 0.5); if (i50 < 1) i50 = 1
	    i99 = int(NR * 0.99 + 0.5); if (i99 < 1) i99 = 1
	    printf "p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d samples)\n",
	        v[i50] / 1000, v[i99] / 1000, v[NR] / 1000, NR }'
}

measure() {	# measure LABEL: kills and status requests, one after another
	local i k w t0 t1 pids
	: > "$dir/reap.$1"
	: > "$dir/status.$1"
	for i in $(seq "$SAMPLES"); do
		# Any worker of the master; a fresh list now and then.
		if [ $((i % 50)) -eq 1 ]; then
			pids=($(pgrep -P "$master"))
		fi
		k=$((RANDOM % ${#pids[@]}))
		w=${pids[$k]}
		pids=("${pids[@]:0:k}" "${pids[@]:k+1}")
		t0=$(us)
		kill -KILL "$w" 2>/dev/null || continue
		while [ -e "/proc/$w" ]; do :; done
		t1=$(us)
		echo $((t1 - t0)) >> "$dir/reap.$1"
		t0=$(us)
		ctl status > /dev/null
		t1=$(us)
		echo $((t1 - t0)) >> "$dir/status.$1"
		sleep 0.0$((RANDOM % 5 + 1))
	done
}

c0=$(cpu_ms)
measure idle
c1=$(cpu_ms)
idle_cpu=$((c1 - c0))
echo "$W workers, nothing else asked:"
echo "  reap    $(summary "$dir/reap.idle")"
echo "  status  $(summary "$dir/status.idle")"
echo "  master CPU $((c1 - c0)) ms"

(
	while :; do
		t0=$(us)
		ctl -j workers > /dev/null || exit 1
		t1=$(us)
		echo $((t1 - t0)) >> "$dir/workers.loop"
	done
) &
loop=$!
sleep 1
n0=$(wc -l < "$dir/workers.loop")
c0=$(cpu_ms)
measure loop
c1=$(cpu_ms)
n1=$(wc -l < "$dir/workers.loop")
kill "$loop" 2>/dev/null
wait "$loop" 2>/dev/null || true
loop=""
echo "$W workers, echodctl -j workers in a tight loop:"
echo "  reap    $(summary "$dir/reap.loop")"
echo "  status  $(summary "$dir/status.loop")"
echo "  workers $(summary "$dir/workers.loop")"
n=$((n1 - n0 > 0 ? n1 - n0 : 1))
echo "  master CPU $((c1 - c0)) ms, for $n requests:" \
    "$(( (c1 - c0 - idle_cpu) * 1000 / n )) us each" \
    "(less the $idle_cpu ms of the same kills and status unloaded)"

# conns: TIME_WAIT sockets first (a few seconds of connect test), then
# HOLD clients that stay connected.
"$ECHOBENCH" connect -c 4 -d 5 127.0.0.1 "$port" > /dev/null
tw=$(ss -tanH state time-wait "( dport = :$port or sport = :$port )" | wc -l)
"$ECHOBENCH" hold -c "$HOLD" -d 120 127.0.0.1 "$port" > /dev/null &
hold=$!
for _ in $(seq 600); do
	[ "$(ctl -j conns | grep -o '"pid"' | wc -l)" -gt "$HOLD" ] && break
	sleep 0.1
done
c0=$(cpu_ms)
t0=$(us)
for _ in $(seq 100); do
	ctl -j conns > "$dir/conns.json"
done
t1=$(us)
c1=$(cpu_ms)
kill "$hold" 2>/dev/null
wait "$hold" 2>/dev/null || true
hold=""
echo "$W workers, $HOLD held connections, $tw TIME_WAIT sockets on the port:"
echo "  conns   $(( (t1 - t0) / 100 )) us each, master CPU $(( (c1 - c0) * 10 )) us each," \
    "$(grep -o '"rtt_us":[0-9]' "$dir/conns.json" | wc -l) with TCP_INFO"
