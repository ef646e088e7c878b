#!/usr/bin/env bash
# Held connections: echod's adaptive pool against C clients that connect
# at once and each make one round trip per second for D seconds.
#
#   bench/hold.sh [CONNS...]        (default: 1000 10000; run as root)
#
# For each C it reports what echobench measured (served, time until all
# were served, errors, round-trip times) and the memory of all echod
# processes together: the sum of their Pss (/proc/PID/smaps_rollup)
# while the C connections are held, and that sum per worker.  Reading
# smaps_rollup walks each process's page tables, so the sample is taken
# once, after the pool has reached C workers (the master's title shows
# how many it has), not during the burst it would slow down.
#
# Large C needs system limits raised; as root the script raises them for
# the run and puts them back afterwards: net.core.somaxconn and
# net.ipv4.tcp_max_syn_backlog (a burst of C connects), RLIMIT_NOFILE
# (echobench holds C sockets).  kernel.pid_max must exceed C plus what
# else runs (32768 by default is enough for 10000).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
ECHOD=${ECHOD:-$top/src/echod}
ECHOBENCH=${ECHOBENCH:-$top/src/echobench}
DURATION=${DURATION:-30}
[ $# -gt 0 ] || set -- 1000 10000
[ -x "$ECHOD" ] && [ -x "$ECHOBENCH" ] || {
	echo "build first: make" >&2
	exit 2
}

dir=$(mktemp -d /tmp/echod-bench.XXXXXX)
chmod 755 "$dir"
saved=""
cleanup() {
	[ -f "$dir/echod.pid" ] && kill -TERM "$(cat "$dir/echod.pid")" 2>/dev/null
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

max=0
for c in "$@"; do [ "$c" -gt "$max" ] && max=$c; done
raise net.core.somaxconn $((max + 1024))
raise net.ipv4.tcp_max_syn_backlog $((max + 1024))
ulimit -n $((max + 1024)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

port=2400
while ss -ltnH "sport = :$port" | grep -q .; do port=$((port + 1)); done

pss_sum() {	# Pss of all echod processes, KiB, and how many there are
	local m total=0 n=0 p v
	m=$(cat "$dir/echod.pid")
	for p in $m $(pgrep -P "$m"); do
		v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
		[ -n "$v" ] || continue
		total=$((total + v))
		n=$((n + 1))
	done
	echo "$total $n"
}

printf '%-8s %-8s %-14s %-7s %-10s %-10s %-12s %-10s\n' clients served \
    "all served in" errors "rtt p50" "rtt p99" "echod Pss" "per worker"
for c in "$@"; do
	cat > "$dir/echod.conf" <<CONF
listen on 127.0.0.1 port $port
pidfile $dir/echod.pid
prefork 4
min-spare 8
max-spare 64
max-workers $((c + 100))
backlog $((c + 1024))
idle-timeout 0
max-connections-per-address 0
CONF
	[ "$(id -u)" -eq 0 ] && echo "user nobody" >> "$dir/echod.conf"
	"$ECHOD" -f "$dir/echod.conf"
	for _ in $(seq 100); do [ -s "$dir/echod.pid" ] && break; sleep 0.1; done

	"$ECHOBENCH" hold -j -c "$c" -d "$DURATION" 127.0.0.1 "$port" \
	    > "$dir/result.json" &
	bench=$!
	peak=0 workers=0 sampled=""
	while kill -0 "$bench" 2>/dev/null; do
		n=$(tr '\0' ' ' < "/proc/$(cat "$dir/echod.pid")/cmdline" |
		    sed -n 's/.*gen [0-9]*, \([0-9]*\) worker.*/\1/p')
		if [ -z "$sampled" ] && [ "${n:-0}" -ge "$c" ]; then
			sleep 3		# into the steady hold
			read -r peak n < <(pss_sum)
			workers=$((n - 1))
			sampled=yes
		fi
		sleep 0.5
	done
	wait "$bench" || true
	kill -TERM "$(cat "$dir/echod.pid")"
	for _ in $(seq 100); do [ -e "$dir/echod.pid" ] || break; sleep 0.1; done

	j=$(cat "$dir/result.json")
	field() { echo "$j" | sed -n "s/.*\"$1\":\([-0-9.]*\).*/\1/p"; }
	printf '%-8s %-8s %-14s %-7s %-10s %-10s %-12s %-10s\n' "$c" \
	    "$(field served)" "$(field all_served_ms) ms" "$(field errors)" \
	    "$(( $(field rtt_p50_us) / 1000 )) ms" \
	    "$(( $(field rtt_p99_us) / 1000 )) ms" "$((peak / 1024)) MiB" \
	    "$((workers > 0 ? peak / workers : 0)) KiB"
	echo "$j" > "$dir/last.json"
	echo "  echobench: $j" >&2
done
