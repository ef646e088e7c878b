#!/usr/bin/env bash
# The burst of held connections: echod's adaptive pool, as shipped,
# against the machine's own floor for the same burst.
#
#   bench/hold.sh [-r rounds] [CONNS]     (default: 5 rounds of 10000; root)
#
# Each round runs, one after the other on the same port, C clients that
# connect at once and each make one round trip per second for DURATION
# seconds (default 10) after the last was first served (`echobench hold`),
# against
#
#   - echod with the sample configuration etc/echod.conf (prefork 4,
#     min-spare 2, max-spare 8, ...), changed only where echod(8) tells
#     a user to for such a burst: max-workers C+100, backlog 4096,
#     max-connections-per-address 0;
#   - bench/tcp_floor -m fork: one process that accepts and forks a
#     child per connection, nothing else -- how fast this machine can
#     give each client a process of its own.
#
# During echod's run `echodctl status` (the human form) is timed every
# 50 ms, from the start of the burst to its end (the time a user waits,
# echodctl's own start included), and so is the same question asked by
# one python3 process that stays (the master's answer alone); at the end the sum of Pss
# (/proc/PID/smaps_rollup) of echod's processes is read once the pool
# holds C workers (reading walks the page tables, so not during the
# burst), and the CPU time the server's processes have used by then
# (/proc/PID/schedstat), for echod and for the floor: a count that the
# machine's other load moves less than it moves the times.  The table gives each round, then the median and range.
#
# Large C needs system limits raised; as root the script raises them for
# the run and puts them back afterwards: net.core.somaxconn and
# net.ipv4.tcp_max_syn_backlog (a burst of C connects), RLIMIT_NOFILE
# (echobench holds C sockets).  kernel.pid_max must exceed C plus what
# else runs (32768 by default is enough for 10000).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
ECHOD=${ECHOD:-$top/src/echod}
ECHODCTL=${ECHODCTL:-$top/src/echodctl}
ECHOBENCH=${ECHOBENCH:-$top/src/echobench}
FLOOR=${FLOOR:-$top/bench/tcp_floor}
DURATION=${DURATION:-10}
rounds=5
while getopts r: opt; do
	case $opt in
	r) rounds=$OPTARG ;;
	*) echo "usage: bench/hold.sh [-r rounds] [conns]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
c=${1:-10000}
for f in "$ECHOD" "$ECHODCTL" "$ECHOBENCH" "$FLOOR"; do
	[ -x "$f" ] || { echo "build first: make bench/tcp_floor all" >&2; exit 2; }
done

dir=$(mktemp -d /tmp/echod-bench.XXXXXX)
chmod 755 "$dir"
saved="" floor_pid=""
cleanup() {
	[ -f "$dir/echod.pid" ] && kill -TERM "$(cat "$dir/echod.pid")" 2>/dev/null
	[ -n "$floor_pid" ] && kill -TERM "$floor_pid" 2>/dev/null
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
raise net.core.somaxconn $((c + 1024))
raise net.ipv4.tcp_max_syn_backlog $((c + 1024))
ulimit -n $((c + 1024)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

port=2400
while ss -ltnH "sport = :$port" | grep -q .; do port=$((port + 1)); done

# The sample configuration, with what echod(8) says to raise.
grep -Ev '^[[:space:]]*(#|$|listen|max-workers|backlog|max-connections-per-address|pidfile|control|syslog)' \
    "$top/etc/echod.conf" > "$dir/echod.conf"
cat >> "$dir/echod.conf" <<CONF
listen on 127.0.0.1 port $port
pidfile $dir/echod.pid
control socket $dir/echod.sock
max-workers $((c + 100))
backlog 4096
max-connections-per-address 0
CONF

pss_sum() {	# Pss of all echod processes, KiB, and how many there are
	local m p
	m=$(cat "$dir/echod.pid")
	for p in $m $(pgrep -P "$m"); do
		echo "/proc/$p/smaps_rollup"
	done | xargs cat 2>/dev/null |
	    awk '/^Pss:/ { t += $2; n++ } END { print t + 0, n + 0 }'
}

tree() {	# process $1 and its children; with "2", theirs too
	local p
	echo "$1"
	for p in $(pgrep -P "$1"); do
		echo "$p"
		[ "${2:-1}" -lt 2 ] || pgrep -P "$p" || true
	done
}

cpu_sum() {	# CPU time (ms) of process $1 and its descendants to depth $2
	local p total=0 v
	for p in $(tree "$1" "${2:-1}"); do
		read -r v _ < "/proc/$p/schedstat" 2>/dev/null || continue
		total=$((total + v))
	done
	echo $((total / 1000000))
}

field() { sed -n "s/.*\"$1\":\([-0-9.]*\).*/\1/p" "$2"; }

# time_status OUT: echodctl status every 50 ms until $dir/stop, one
# answer time (us) per line, "fail" for one that did not answer.
time_status() {
	local t0 t1
	while [ ! -e "$dir/stop" ]; do
		t0=${EPOCHREALTIME/./}
		if "$ECHODCTL" -s "$dir/echod.sock" -t 10 status >/dev/null 2>&1; then
			t1=${EPOCHREALTIME/./}
			echo $((t1 - t0))
		else
			echo fail
		fi
		sleep 0.05
	done > "$1"
}

# time_master OUT: the same question every 50 ms from one process that
# stays (python3), so that only the master's answer is timed, not
# echodctl's start in a machine busy with the burst.
time_master() {
	command -v python3 >/dev/null || { : > "$1"; return; }
	python3 - "$dir/echod.sock" "$dir/stop" > "$1" <<'PY'
import os, socket, sys, time
path, stop = sys.argv[1], sys.argv[2]
while not os.path.exists(stop):
    t0 = time.monotonic()
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(path)
        s.sendall(b"status\n")
        while s.recv(65536):
            pass
        s.close()
        print(int((time.monotonic() - t0) * 1e6), flush=True)
    except OSError:
        print("fail", flush=True)
    time.sleep(0.05)
PY
}

run_echod() {	# run_echod ROUND
	local r=$1 bench sampler master n sampled="" i
	# In the foreground, its log kept: what a worker or the master says
	# during a round with errors is shown below the table.
	"$ECHOD" -d -f "$dir/echod.conf" 2> "$dir/echod.$r.log" &
	for i in $(seq 100); do
		"$ECHODCTL" -s "$dir/echod.sock" -t 1 status >/dev/null 2>&1 &&
		    break
		sleep 0.05
	done
	rm -f "$dir/stop"
	time_status "$dir/status.$r" &
	sampler=$!
	time_master "$dir/master.$r" &
	master=$!
	"$ECHOBENCH" hold -j -c "$c" -d "$DURATION" 127.0.0.1 "$port" \
	    > "$dir/echod.$r.json" 2> "$dir/echod.$r.err" &
	bench=$!
	echo "0 1" > "$dir/pss.$r"
	echo "-" > "$dir/ecpu.$r"	# unless the pool reaches C workers
	while kill -0 "$bench" 2>/dev/null; do
		n=$(tr '\0' ' ' < "/proc/$(cat "$dir/echod.pid")/cmdline" |
		    sed -n 's/.*gen [0-9]*, \([0-9]*\) worker.*/\1/p')
		if [ -z "$sampled" ] && [ "${n:-0}" -ge "$c" ]; then
			touch "$dir/stop"	# the burst is over
			cpu_sum "$(cat "$dir/echod.pid")" > "$dir/ecpu.$r"
			sleep 1
			pss_sum > "$dir/pss.$r"
			sampled=yes
		fi
		sleep 0.2
	done
	wait "$bench" || true
	touch "$dir/stop"
	wait "$sampler" || true
	wait "$master" || true
	kill -TERM "$(cat "$dir/echod.pid")"
	for _ in $(seq 300); do [ -e "$dir/echod.pid" ] || break; sleep 0.1; done
	wait
}

run_floor() {	# run_floor ROUND
	local r=$1 bench
	coproc FL { exec "$FLOOR" -p "$port" -a 127.0.0.1 -m fork -B 4096 -t 600; }
	floor_pid=$FL_PID
	read -r _ <&"${FL[0]}"
	"$ECHOBENCH" hold -j -c "$c" -d "$DURATION" 127.0.0.1 "$port" \
	    > "$dir/floor.$r.json" &
	bench=$!
	echo "-" > "$dir/fcpu.$r"
	while kill -0 "$bench" 2>/dev/null; do
		# tcp_floor's server is its child, the clients' theirs.
		if [ "$(tree "$floor_pid" 2 | wc -l)" -ge "$c" ]; then
			cpu_sum "$floor_pid" 2 > "$dir/fcpu.$r"
			break
		fi
		sleep 0.2
	done
	wait "$bench" || true
	kill -TERM "$floor_pid"
	wait "$floor_pid" 2>/dev/null || true
	floor_pid=""
}

for r in $(seq "$rounds"); do
	run_echod "$r"
	run_floor "$r"
	echo "  round $r: echod $(cat "$dir/echod.$r.json")" >&2
	echo "  round $r: floor $(cat "$dir/floor.$r.json")" >&2
done

# median MIN-MAX of the numbers on stdin
stats() { grep -E '^[0-9.]+$' | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
	m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%.0f (%.0f-%.0f)", m, v[1], v[NR] }'; }

printf '%s clients, %s rounds, load average %s\n' "$c" "$rounds" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-8s %-9s %-7s %-9s %-8s %-7s %-6s %-10s %-10s %-9s %-9s\n' round \
    "echod ms" "served" errors "floor ms" "served" errors ratio \
    "status max" "status p99" "answers" "Pss/wkr"
for r in $(seq "$rounds"); do
	e=$(field all_served_ms "$dir/echod.$r.json")
	f=$(field all_served_ms "$dir/floor.$r.json")
	read -r pss n < "$dir/pss.$r"
	grep -v fail "$dir/status.$r" | sort -n > "$dir/st.sorted" || true
	ns=$(wc -l < "$dir/st.sorted")
	nf=$(grep -c fail "$dir/status.$r" || true)
	smax=$(tail -n 1 "$dir/st.sorted")
	sp99=$(sed -n "$(( (ns * 99 + 99) / 100 ))p" "$dir/st.sorted")
	echo "${e:-0} ${f:-1}" | awk '{ printf "%.2f\n", $1 / $2 }' > "$dir/ratio.$r"
	printf '%-6s %-8.0f %-9s %-7s %-8.0f %-9s %-7s %-6s %-10s %-10s %-9s %-9s\n' \
	    "$r" "$e" "$(field served "$dir/echod.$r.json")" \
	    "$(field errors "$dir/echod.$r.json")" "$f" \
	    "$(field served "$dir/floor.$r.json")" \
	    "$(field errors "$dir/floor.$r.json")" "$(cat "$dir/ratio.$r")x" \
	    "$(( ${smax:-0} / 1000 )) ms" "$(( ${sp99:-0} / 1000 )) ms" \
	    "$ns/$((ns + nf))" "$(( n > 1 ? pss / (n - 1) : 0 )) KiB"
	grep -v fail "$dir/master.$r" | sort -n > "$dir/ms.sorted" || true
	nm=$(wc -l < "$dir/ms.sorted")
	if [ "$nm" -gt 0 ]; then
		mmax=$(tail -n 1 "$dir/ms.sorted")
		mp99=$(sed -n "$(( (nm * 99 + 99) / 100 ))p" "$dir/ms.sorted")
		printf '       the master alone (no echodctl start): max %s ms, p99 %s ms, %s answers, %s failed\n' \
		    "$((mmax / 1000))" "$((mp99 / 1000))" "$nm" \
		    "$(grep -c fail "$dir/master.$r" || true)"
		echo "$mmax" >> "$dir/mmax.all"
	fi
	echo "$e" >> "$dir/e.all"; echo "$f" >> "$dir/f.all"
	cat "$dir/ratio.$r" >> "$dir/ratio.all"
	echo "${smax:-0}" >> "$dir/smax.all"
	if [ "$(field errors "$dir/echod.$r.json")" != 0 ]; then
		echo "       echobench: $(head -n 3 "$dir/echod.$r.err" | tr '\n' ' ')"
		echo "       echod's log, but for starts and the stop:"
		grep -Ev 'starting:|listening on|stop|killed by signal 15|exited with status 0' \
		    "$dir/echod.$r.log" | head -n 5 | sed 's/^/         /'
	fi
	printf '       server CPU until all were served: echod %s ms, floor %s ms\n' \
	    "$(cat "$dir/ecpu.$r")" "$(cat "$dir/fcpu.$r")"
	cat "$dir/ecpu.$r" >> "$dir/ecpu.all"; cat "$dir/fcpu.$r" >> "$dir/fcpu.all"
	echo "$(( n > 1 ? pss / (n - 1) : 0 ))" >> "$dir/pss.all"
done
echo "median (range): echod $(stats < "$dir/e.all") ms, floor" \
    "$(stats < "$dir/f.all") ms, ratio" \
    "$(sort -n "$dir/ratio.all" | awk '{ v[NR] = $1 } END { printf "%.2fx (%.2f-%.2f)", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR] }'),"
echo "  status max $(awk '{ print int($1 / 1000) }' "$dir/smax.all" | stats) ms," \
    "Pss per worker $(stats < "$dir/pss.all") KiB"
echo "  server CPU: echod $(stats < "$dir/ecpu.all") ms, floor $(stats < "$dir/fcpu.all") ms"
[ -s "$dir/mmax.all" ] &&
    echo "  the master alone: max $(awk '{ print int($1 / 1000) }' "$dir/mmax.all" | stats) ms"
