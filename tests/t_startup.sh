# Start-up tells the truth.  As a daemon (no -d), the command returns 0
# only once the workers serve, silently, and no process keeps the
# start-up channel; it returns 1, with the error on its stderr and
# nothing left running, when a worker cannot set itself up or the
# pidfile cannot be written; a missing directory of the pidfile or of
# the control socket is named before anything starts.
. "$TESTS_SRCDIR/lib.sh"

[ -f "$FAULTSHIM" ] || fail "no fault shim at $FAULTSHIM"

# start WHAT ARGS...: run a command that starts echod, to its end
# (within 60 s); its exit status in RC, its output in $T/WHAT.out/.err.
start() {
	local what=$1 p
	shift
	"$@" >"$T/$what.out" 2>"$T/$what.err" &
	p=$!
	BG_PIDS="$BG_PIDS $p"
	wait_for 60 "the command ($what) to return" exited "$p"
	wait "$p"
	RC=$?
}

nothing_left() {
	[ ! -e "$PIDFILE" ] || fail "$1: the pidfile is left"
	[ ! -e "$CTL" ] || fail "$1: the control socket is left"
	[ -z "$(listen_inode)" ] || fail "$1: port $PORT still listens"
	[ -z "$(pgrep -f "$CONF")" ] || fail "$1: echod still runs:" \
	    "$(pgrep -af "$CONF")"
}

err_has() {
	grep -qF -- "$2" "$T/$1.err" ||
	    fail "$1: stderr has no \"$2\": $(cat "$T/$1.err")"
}

# The inodes of the SOCK_SEQPACKET (type 0005) UNIX sockets: echod uses
# that type for the start-up channel only.
seqpacket_inodes() {
	awk '$5 == "0005" { print $7 }' /proc/net/unix
}

# Each worker's set-up takes 300 ms longer: the command must still wait
# for them, so that right after it returns every worker already waits in
# accept() and a client is served at once.
write_conf "prefork 3"
start ready env ECHOD_FAULT=slow-setup ECHOD_FAULT_DELAY_MS=300 \
    LD_PRELOAD="$FAULTSHIM" "$ECHOD" -f "$CONF"
[ "$RC" -eq 0 ] || fail "echod -f returned $RC: $(cat "$T/ready.err")"
pidfile_ready || fail "returned 0 without a running master in the pidfile"
[ "$(nworkers)" -eq 3 ] && all_idle ||
    fail "returned 0 before its workers served: $(nworkers) workers," \
	"$(for w in $(workers); do title "$w"; done | tr '\n' ',')"
[ ! -s "$T/ready.out" ] && [ ! -s "$T/ready.err" ] ||
    fail "output from a good start: $(cat "$T/ready.out" "$T/ready.err")"
"$ECHOTEST" echo -p "$PORT" -n 4096 || fail "no echo right after the start"
ok "exit 0, silently, once 3 workers wait in accept(); echo at once"

m=$(master_pid)
chan=$(seqpacket_inodes)
for p in $m $(workers); do
	for i in $chan; do
		readlink /proc/"$p"/fd/* | grep -qx "socket:\[$i\]" &&
		    fail "process $p still holds the start-up channel (inode $i)"
	done
done
ok "neither the master nor a worker keeps the start-up channel"
kill -TERM "$m"
wait_for 10 "the master to stop" exited "$m"

# A worker that cannot drop its privileges: the master stops at once.
# As root, the fault shim makes setresuid() fail; otherwise, in a user
# namespace, setgroups() is refused.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	write_conf "prefork 2" "user nobody"
	start setup env ECHOD_FAULT=fail-setresuid LD_PRELOAD="$FAULTSHIM" \
	    "$ECHOD" -f "$CONF"
	why="setresuid nobody: Operation not permitted"
elif unshare -r true 2>/dev/null && id nobody >/dev/null 2>&1; then
	write_conf "prefork 2" "user nobody"
	start setup unshare -r "$ECHOD" -f "$CONF"
	why="setgroups"
else
	skip "neither root nor user namespaces: no privilege drop to fail"
fi
[ "$RC" -eq 1 ] || fail "a worker set-up failure: exit $RC, want 1"
err_has setup "$why"
err_has setup "worker cannot drop privileges; exiting"
err_has setup "a worker could not set itself up: fast stop"
nothing_left "a worker set-up failure"
ok "a worker that cannot drop privileges: exit 1, \"$why\" on stderr," \
    "nothing left"

# The pidfile cannot be written (a full disk): fatal before the daemon
# is ready, with or without -d.
write_conf "prefork 2"
start pidfile env ECHOD_FAULT=fail-pwrite LD_PRELOAD="$FAULTSHIM" \
    "$ECHOD" -f "$CONF"
[ "$RC" -eq 1 ] || fail "a failed pidfile write: exit $RC, want 1"
err_has pidfile "pidfile $PIDFILE: No space left on device"
nothing_left "a failed pidfile write"
start pidfile-d env ECHOD_FAULT=fail-pwrite LD_PRELOAD="$FAULTSHIM" \
    "$ECHOD" -d -f "$CONF"
[ "$RC" -eq 1 ] || fail "a failed pidfile write with -d: exit $RC, want 1"
err_has pidfile-d "pidfile $PIDFILE: No space left on device"
nothing_left "a failed pidfile write with -d"
ok "a pidfile that cannot be written: exit 1, the error on stderr," \
    "with and without -d"

# Directories that are missing: named, before daemonizing.
for kw in pidfile "control socket"; do
	write_conf
	sed -i "s|^$kw .*|$kw $T/nodir/echod.x|" "$CONF"
	start nodir "$ECHOD" -f "$CONF"
	[ "$RC" -eq 1 ] || fail "$kw in a missing directory: exit $RC"
	[ "$(cat "$T/nodir.err")" = "echod: $kw $T/nodir/echod.x: directory $T/nodir does not exist" ] ||
	    fail "$kw in a missing directory: \"$(cat "$T/nodir.err")\""
	nothing_left "$kw in a missing directory"
done
ok "a missing directory of the pidfile or control socket is named"
