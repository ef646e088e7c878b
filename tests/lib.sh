# Test harness for echod, sourced by every tests/t_*.sh (bash).
#
# Each test gets its own directory ($T), port ($PORT), configuration
# ($CONF), pidfile ($PIDFILE) and log ($LOG), starts the real daemon, and
# waits for conditions by polling with a deadline, never by sleeping a
# fixed time.  Whatever happens, cleanup (on EXIT) stops every process the
# test started.  The test fails if the daemon's log shows a sanitizer
# report.
#
# Environment (set by make check): ECHOD, ECHOTEST, TESTS_BUILDDIR,
# TESTS_SRCDIR.

set -u

NAME=$(basename "$0" .sh)
: "${ECHOD:?run through make check}"
: "${ECHOTEST:?run through make check}"
: "${TESTS_BUILDDIR:?run through make check}"

T="$TESTS_BUILDDIR/$NAME.tmp"
CONF="$T/echod.conf"
PIDFILE="$T/echod.pid"
LOG="$T/echod.log"
CTL="$T/echod.sock"
ECHODCTL=${ECHODCTL:-$(dirname "$ECHOD")/echodctl}
SOCKOPT=$(dirname "$ECHOTEST")/sockopt
rm -rf "$T"
mkdir -p "$T"
# Workers that dropped to nobody must still reach the socket and
# LD_PRELOAD paths below here.
chmod 755 "$T"

# Sanitizer reports of every process (workers included) land here.
# (verify_asan_link_order=0: t_respawn preloads tests/faultshim.so.)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$T/asan:verify_asan_link_order=0"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:log_path=$T/ubsan"

PORT=$("$ECHOTEST" freeport) || { echo "no free port"; exit 99; }
BG_PIDS=""

pass_count=0

log() {
	echo "[$NAME] $*"
}

fail() {
	echo "[$NAME] FAIL: $*"
	if [ -f "$LOG" ]; then
		echo "--- daemon log (last 40 lines) ---"
		tail -n 40 "$LOG"
	fi
	exit 1
}

ok() {
	pass_count=$((pass_count + 1))
	echo "[$NAME] ok - $*"
}

skip() {
	echo "[$NAME] SKIP: $*"
	exit 77
}

now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

# cpu_ticks PID: the CPU time, in clock ticks, PID has used (user and
# system; 100 a second on Linux).
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# ticks_over PID MS: the clock ticks PID uses over the next MS ms, for
# the tests that catch a busy loop (a spinning process uses one tick per
# 10 ms).
ticks_over() {
	local start t0
	start=$(cpu_ticks "$1")
	t0=$(now_ms)
	until [ $(( $(now_ms) - t0 )) -ge "$2" ]; do
		sleep 0.1
	done
	echo $(( $(cpu_ticks "$1") - start ))
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds,
# or fail once SECONDS have passed.
wait_for() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$(( $(now_ms) + secs * 1000 ))
	until "$@"; do
		if [ "$(now_ms)" -ge "$deadline" ]; then
			fail "timed out after ${secs}s waiting for: $what"
		fi
		sleep 0.02
	done
}

# write_conf [LINES...]: a configuration with this test's port, pidfile
# and control socket, plus the given lines.  Unless the lines say otherwise, the pool
# stays at its prefork size (min-spare 0), since most tests count
# workers, and there is no per-address limit, since every test client
# comes from 127.0.0.1.  The pool and limit tests set both themselves.
write_conf() {
	{
		echo "# written by $NAME"
		echo "pidfile $PIDFILE"
		for line in "$@"; do
			echo "$line"
		done
		case "$*" in
		*"listen on"*) ;;
		*) echo "listen on 127.0.0.1 port $PORT" ;;
		esac
		case "$*" in
		*min-spare*) ;;
		*) echo "min-spare 0" ;;
		esac
		case "$*" in
		*max-connections-per-address*) ;;
		*) echo "max-connections-per-address 0" ;;
		esac
		case "$*" in
		*"control socket"*) ;;
		*) echo "control socket $CTL" ;;
		esac
	} > "$CONF"
}

alive() {
	[ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null &&
	    ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

exited() {
	! alive "$1"
}

all_exited() {
	local p
	for p in "$@"; do
		alive "$p" && return 1
	done
	return 0
}

# wait_gone SECONDS DESCRIPTION PIDS...: wait until none of PIDS is alive;
# past the deadline, stop the ones left (cleanup knows only the master
# and the processes it started, not orphaned workers) and fail.
wait_gone() {
	local secs=$1 what=$2 deadline p
	shift 2
	deadline=$(( $(now_ms) + secs * 1000 ))
	until all_exited "$@"; do
		if [ "$(now_ms)" -ge "$deadline" ]; then
			for p in "$@"; do
				alive "$p" && kill -KILL "$p" 2>/dev/null
			done
			fail "timed out after ${secs}s waiting for: $what"
		fi
		sleep 0.02
	done
}

# A process's title as ps shows it: the whole of /proc/PID/cmdline, in
# which a title is one string (t_title checks it byte for byte).
title() {
	tr '\0' '\n' < "/proc/$1/cmdline" 2>/dev/null
}

# Every worker has set itself up (privilege drop included) once its
# title says idle; until then it may still be root.
all_idle() {
	local w
	for w in $(workers); do
		[ "$(title "$w")" = "echod: worker [idle]" ] || return 1
	done
}

master_pid() {
	cat "$PIDFILE" 2>/dev/null
}

pidfile_ready() {
	local pid
	pid=$(master_pid) && [ -n "$pid" ] && alive "$pid"
}

# The master's children: its workers.
workers() {
	local m=${1:-$(master_pid)}
	[ -n "$m" ] && pgrep -P "$m" | sort -n
}

nworkers() {
	workers "$@" | wc -l
}

# Children of the master in state Z (reaped late or never).
zombies() {
	local m=${1:-$(master_pid)} p n=0
	for p in $(pgrep -P "$m"); do
		grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null && n=$((n + 1))
	done
	echo "$n"
}

has_workers() {
	[ "$(nworkers)" -eq "$1" ]
}

# start_echod [ARGS...]: start in the foreground (-d) with this test's
# configuration and wait until the pidfile names a master with its
# workers (count: $WANT_WORKERS, default 4).
start_echod() {
	"$ECHOD" -d -f "$CONF" "$@" >>"$LOG" 2>&1 &
	ECHOD_PID=$!
	BG_PIDS="$BG_PIDS $ECHOD_PID"
	wait_for 10 "pidfile of a running master" pidfile_ready
	[ "$(master_pid)" = "$ECHOD_PID" ] ||
	    fail "pidfile says $(master_pid), started $ECHOD_PID"
	wait_for 10 "${WANT_WORKERS:-4} workers" has_workers "${WANT_WORKERS:-4}"
}

# Run a background helper process whose pid is remembered for cleanup.
background() {
	"$@" &
	BG_PIDS="$BG_PIDS $!"
	LAST_BG=$!
}

# log_has PATTERN: the daemon's log contains an extended regex.
log_has() {
	grep -Eq -- "$1" "$LOG" 2>/dev/null
}

# The inode of the listening TCP socket on $1 (default $PORT), IPv4 or
# IPv6, from /proc/net: the same number means the very same socket.
listen_inode() {
	local hex
	hex=$(printf '%04X' "${1:-$PORT}")
	awk -v port=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == port \
	    { print $10 }' /proc/net/tcp /proc/net/tcp6 | sort -u
}

# with_libsystemd WHAT: whether echod was built with libsystemd, for a
# test of WHAT that needs it.  Built without it because configure was
# told --without-systemd: no, and the test says so.  Without it because
# configure did not find it: the test fails, since a check that cannot
# run must not pass (README's test command installs libsystemd-dev).
with_libsystemd() {
	case "${SYSTEMD_TESTS:-missing}" in
	yes)	return 0 ;;
	no)	log "built --without-systemd: $1 not tested"; return 1 ;;
	*)	fail "$1: configure found no libsystemd" \
		    "(apt-get install libsystemd-dev pkg-config, then" \
		    "configure again), or give it --without-systemd" ;;
	esac
}

# Every sanitizer report of every process.  Left out are only the lines
# LeakSanitizer prints when its exit-time check is cut short, as when a
# worker that has begun exit() is killed by the SIGTERM a test sent
# (ptrace can no longer read the dying thread): not a finding.
sanitizer_reports() {
	cat "$T"/asan* "$T"/ubsan* 2>/dev/null | grep -vE \
	    'Unable to get registers from thread|LeakSanitizer has encountered a fatal error|HINT: For debugging, try setting|HINT: LeakSanitizer does not work under ptrace'
	grep -hE 'Sanitizer|runtime error:' "$LOG" 2>/dev/null
}

# A gcov build (make coverage): what libgcov could not write, as it
# says on stderr (the log): the counts of a process lost, not a failure
# of the test (a chrooted worker cannot reach the build directory).
coverage_notes() {
	[ "${ECHOD_COVERAGE:-}" = yes ] || return 0
	grep -h '^profiling:' "$LOG" 2>/dev/null | sort | uniq -c | head -n 5 |
	    sed "s/^/[$NAME] gcov: /"
}

cleanup() {
	local rc=$? m p
	m=$(master_pid)
	for p in $m $BG_PIDS; do
		alive "$p" && kill -TERM "$p" 2>/dev/null
	done
	# Whatever ignored SIGTERM (nothing should) goes now.
	for p in $m $BG_PIDS; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			alive "$p" || break
			sleep 0.1
		done
		alive "$p" && kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	coverage_notes
	if [ -n "$(sanitizer_reports)" ]; then
		echo "[$NAME] FAIL: sanitizer report:"
		sanitizer_reports | head -n 60
		rc=1
	fi
	if [ "$rc" -eq 0 ]; then
		echo "[$NAME] PASS ($pass_count checks)"
		rm -rf "$T"
	elif [ "$rc" -ne 77 ]; then
		echo "[$NAME] files kept in $T"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The masters of this configuration, two for a while in a live upgrade:
# processes with a master's title whose parent is none (a worker just
# forked still has its master's).  A master upgraded from one that
# t_upgrade_fail's wrapper started runs as echod.real.
masters() {
	local all p n=0
	all=" $(pgrep -d ' ' -f "^echod(\\.real)?: master .*$CONF") "
	for p in $all; do
		case "$all" in
		*" $(awk '{ print $4 }' "/proc/$p/stat" 2>/dev/null) "*) ;;
		*) n=$((n + 1)) ;;
		esac
	done
	echo "$n"
}
