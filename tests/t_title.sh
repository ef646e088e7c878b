# Process titles are exact: /proc/PID/cmdline of the master and of every
# worker is the title echod(8) documents followed by one NUL, byte for
# byte, however echod was started: with and without arguments, by its
# full path (systemd's "echod -d -f FILE") or a relative one, with a
# relative -f, under a name exactly as long as a title, with an argument
# area exactly as long as the master's title, through a symlink, with a
# -f path far longer than any title, and after a reload.  (libbsd's
# setproctitle() left a '.' or a ' ' behind argv[0]'s old end, and the
# kernel then showed every NUL up to the end of the arguments too.)
. "$TESTS_SRCDIR/lib.sh"

WANT_WORKERS=2
write_conf "prefork 2"

# cmdline_is PID TITLE: /proc/PID/cmdline is TITLE and one NUL, exactly.
cmdline_is() {
	cat "/proc/$1/cmdline" >"$T/cmdline" 2>/dev/null &&
	    printf '%s\0' "$2" | cmp -s - "$T/cmdline"
}

# expect_title HOW PID TITLE: wait until it is so, or show what it is.
expect_title() {
	local how=$1 pid=$2 want=$3 deadline
	deadline=$(( $(now_ms) + 10000 ))
	until cmdline_is "$pid" "$want"; do
		if [ "$(now_ms)" -ge "$deadline" ]; then
			echo "want:"
			printf '%s\0' "$want" | od -c
			echo "got (/proc/$pid/cmdline):"
			od -c "$T/cmdline"
			fail "$how: title of $pid"
		fi
		sleep 0.02
	done
}

# check HOW NAME CONFPATH [GEN]: the master's title and both workers'.
check() {
	local how=$1 name=$2 path=$3 gen=${4:-1} m w n=0
	m=$(master_pid)
	expect_title "$how" "$m" "$name: master [gen $gen, 2 workers] $path"
	# Those of an old generation may still be on their way out.
	wait_for 10 "$how: 2 workers" has_workers 2
	for w in $(workers "$m"); do
		expect_title "$how" "$w" "$name: worker [idle]"
		n=$((n + 1))
	done
	[ "$n" -eq 2 ] || fail "$how: $n workers"
}

# check_busy HOW: a worker serving a client is titled with the client's
# address and port, exactly, and is "idle" again once the client is
# gone (a shorter title over a longer one).
check_busy() {
	local how=$1 w cport
	rm -f "$T/stop" "$T/ready"
	background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/ready" \
	    -t 60
	wait_for 10 "$how: a session" test -f "$T/ready"
	cport=$(ss -tnH state established "( dport = :$PORT )" |
	    awk '{ n = split($3, a, ":"); print a[n]; exit }')
	[ -n "$cport" ] || fail "$how: no client port in ss"
	w=
	for p in $(workers "$(master_pid)"); do
		case $(title "$p") in
		*"[127.0.0.1:$cport]") w=$p ;;
		esac
	done
	[ -n "$w" ] || fail "$how: no worker titled [127.0.0.1:$cport]"
	expect_title "$how: busy" "$w" "echod: worker [127.0.0.1:$cport]"
	touch "$T/stop"
	wait "$LAST_BG" || fail "$how: the session failed"
	expect_title "$how: idle again" "$w" "echod: worker [idle]"
}

# run HOW ARGV0 PROGRAM ARGS...: start PROGRAM in the foreground as
# ARGV0, wait for its pidfile and workers.
run() {
	local how=$1 argv0=$2
	shift 2
	( exec -a "$argv0" "$@" ) >>"$LOG" 2>&1 &
	ECHOD_PID=$!
	BG_PIDS="$BG_PIDS $ECHOD_PID"
	wait_for 10 "$how: pidfile" pidfile_ready
	wait_for 10 "$how: 2 workers" has_workers 2
}

stop() {
	local m ws
	m=$(master_pid)
	ws=$(workers "$m")
	kill -TERM "$m"
	# shellcheck disable=SC2086
	wait_gone 10 "the master and its workers to exit" "$m" $ws
	wait_for 10 "pidfile removed" test ! -e "$PIDFILE"
}

# x N: N x's.
x() {
	printf 'x%.0s' $(seq "$1")
}

MASTER="echod: master [gen 1, 2 workers] $CONF"

# systemd's ExecStart: the full path, longer than a worker's title.
run "full path" "$ECHOD" "$ECHOD" -d -f "$CONF"
check "full path" echod "$CONF"
check_busy "full path"
kill -HUP "$(master_pid)"
check "after a reload" echod "$CONF" 2
check_busy "after a reload"
ok "full path (echod -d -f FILE), and after a reload (gen 2); a busy worker shows its client"
stop

run "relative path" ./echod sh -c 'cd "$(dirname "$1")" &&
    exec ./echod -d -f "$2"' sh "$ECHOD" "$CONF"
check "relative path" echod "$CONF"
stop
run "relative -f" "$ECHOD" sh -c 'cd "$1" && exec "$2" -d -f echod.conf' \
    sh "$T" "$ECHOD"
check "relative -f" echod "$CONF"
ok "relative path (./echod), and a relative -f (the title has it absolute)"
stop

# argv[0] exactly as long as a worker's title (libbsd left a ' ' there),
# then exactly as long as the master's; then the arguments exactly as
# long as the master's title and its NUL (the kernel shows all of them).
a=$(x $((${#MASTER} - 7)))
for argv0 in "/$(x 13)/echod" "/$a/echod" "/$(x 19)/echod"; do
	run "argv[0] of ${#argv0} bytes" "$argv0" "$ECHOD" -d -f "$CONF"
	check "argv[0] of ${#argv0} bytes" echod "$CONF"
	check_busy "argv[0] of ${#argv0} bytes"
	stop
done
ok "argv[0] as long as a worker's title, as the master's; the arguments as long as the master's title"

ln -s "$ECHOD" "$T/echod-link"
run "symlink" "$T/echod-link" "$T/echod-link" -d -f "$CONF"
check "symlink" echod-link "$CONF"
ok "through a symlink: titled after its name"
stop

long="$T/$(x 200)/$(x 100)"
mkdir -p "$long"
cp "$CONF" "$long/echod.conf"
run "long -f" "$ECHOD" "$ECHOD" -d -f "$long/echod.conf"
check "long -f" echod "$long/echod.conf"
ok "a -f path of ${#long} bytes"
stop

# No arguments at all, as a daemon: the configuration is then the one
# in SYSCONFDIR, which a private mount namespace replaces with ours.
if [ -z "${SYSCONFDIR:-}" ] || [ ! -d "$SYSCONFDIR" ] ||
    ! unshare -m true 2>/dev/null; then
	log "no private mount namespace over ${SYSCONFDIR:-SYSCONFDIR}:" \
	    "echod without arguments not tried"
else
	mkdir "$T/etc"
	cp "$CONF" "$T/etc/echod.conf"
	unshare -m --propagation private sh -c 'mount --bind "$1" "$2" &&
	    exec "$3"' sh "$T/etc" "$SYSCONFDIR" "$ECHOD" >>"$LOG" 2>&1 ||
	    fail "echod without arguments did not start"
	wait_for 10 "no arguments: pidfile" pidfile_ready
	check "no arguments" echod "$SYSCONFDIR/echod.conf"
	ok "no arguments (a daemon, with $SYSCONFDIR/echod.conf)"
	stop
fi
