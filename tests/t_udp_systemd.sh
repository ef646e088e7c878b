# A UDP socket from systemd (ListenDatagram=, echod.socket): made by
# systemd-socket-activate --datagram, which starts echod at the first
# datagram.  echod adopts it (the very inode, its descriptor 3) instead
# of binding its "listen on ... udp" line, answers that first datagram,
# which waited in the socket, and every later one, and keeps the socket
# across reloads.  (t_systemd covers systemd's TCP sockets.)
. "$TESTS_SRCDIR/lib.sh"

command -v python3 >/dev/null || skip "no python3 for the UDP client"
command -v systemd-socket-activate >/dev/null 2>&1 ||
    fail "systemd-socket-activate not found: cannot test socket" \
	"activation (apt-get install systemd)"
with_libsystemd "a UDP socket from systemd" || exit 0

UPORT=$("$ECHOTEST" freeport) || fail "no free port"
cat > "$T/udp.py" <<'EOF'
import os, socket, sys

# every size, bytes identical, within the timeout (the first one waits
# for echod to start)
host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(timeout)
for n in map(int, sys.argv[4:]):
    data = os.urandom(n)
    s.sendto(data, (host, port))
    got, src = s.recvfrom(70000)
    if got != data:
        sys.exit('size %d: %d bytes back, or different' % (n, len(got)))
EOF
udp() {
	python3 "$T/udp.py" 127.0.0.1 "$UPORT" "$@"
}
udp_inode() {
	local hex
	hex=$(printf '%04X' "$UPORT")
	awk -v port=":$hex" 'substr($2, length($2) - 4) == port { print $10 }' \
	    /proc/net/udp /proc/net/udp6 | sort -u
}
bound() {
	[ -n "$(udp_inode)" ]
}
udp_pids() {
	"$ECHODCTL" -s "$CTL" -j workers |
	    jq -r '.workers[] | select(.kind == "udp") | .pid' | sort -n |
	    tr '\n' ' '
}
n_udp() {
	[ "$(udp_pids | wc -w)" -eq "$1" ]
}
generation_gone() {
	"$ECHODCTL" -s "$CTL" -j workers | jq -e --argjson g "$1" \
	    '[.workers[] | select(.generation == $g)] | length == 0' >/dev/null
}

# Only UDP: the line names systemd's socket; the other, which no socket
# has, is not bound.
other=$("$ECHOTEST" freeport)
write_conf "listen on 127.0.0.1 port $UPORT udp" \
    "listen on 127.0.0.1 port $other udp" "udp-workers 2"
systemd-socket-activate --datagram -l "127.0.0.1:$UPORT" -E ASAN_OPTIONS \
    -E UBSAN_OPTIONS "$ECHOD" -d -f "$CONF" >>"$LOG" 2>&1 &
ECHOD_PID=$!
BG_PIDS="$BG_PIDS $ECHOD_PID"
wait_for 10 "systemd-socket-activate bound to $UPORT" bound
inode=$(udp_inode)

udp 10 0 1 1400 65507 || fail "the datagram that started echod"
wait_for 10 "echod's pidfile" pidfile_ready
[ "$(master_pid)" = "$ECHOD_PID" ] ||
    fail "the master is $(master_pid), not $ECHOD_PID"
wait_for 10 "2 UDP workers" n_udp 2
[ "$(udp_inode)" = "$inode" ] || fail "the UDP socket changed"
[ "$(readlink "/proc/$ECHOD_PID/fd/3")" = "socket:[$inode]" ] ||
    fail "the master's descriptor 3 is not systemd's socket $inode"
for w in $(udp_pids); do
	ls -l "/proc/$w/fd" | grep -q "socket:\[$inode\]" ||
	    fail "UDP worker $w does not hold socket $inode"
done
log_has "starting: 2 UDP workers, configuration" ||
    fail "the start does not count the UDP workers alone"
log_has "listening on 127\.0\.0\.1:$UPORT/udp \(from systemd\)" ||
    fail "no \"listening on ...:$UPORT/udp (from systemd)\" in the log"
log_has "listen on 127\.0\.0\.1:$other/udp \(line [0-9]+\): no socket from systemd has this address; not bound" ||
    fail "the udp line naming no socket was not logged"
hex=$(printf '%04X' "$other")
awk -v port=":$hex" 'substr($2, length($2) - 4) == port' /proc/net/udp |
    grep -q . && fail "echod bound its configured port $other too"
ok "echod serves systemd's UDP socket (inode $inode): the first" \
    "datagram, which started it, answered; nothing bound"

# Reloads keep it: SIGHUP, then echodctl reload, as ExecReload= does.
kill -HUP "$ECHOD_PID"
wait_for 10 "generation 2" log_has "reloaded: generation 2"
wait_for 10 "generation 1 to exit" generation_gone 1
udp 2 0 1400 65507 || fail "no echo after SIGHUP"
"$ECHODCTL" -s "$CTL" reload >"$T/reload" 2>&1 ||
    fail "echodctl reload: $(cat "$T/reload")"
wait_for 10 "generation 2 to exit" generation_gone 2
n_udp 2 || fail "not 2 UDP workers after the reloads: $(udp_pids)"
[ "$(udp_inode)" = "$inode" ] || fail "the UDP socket changed in a reload"
udp 2 0 1400 65507 || fail "no echo after echodctl reload"
ok "SIGHUP and echodctl reload: the same socket, echoed"

kill -TERM "$ECHOD_PID"
wait_gone 10 "echod to stop" "$ECHOD_PID"
wait "$ECHOD_PID" || fail "echod exited $?"
ok "SIGTERM: echod stopped, exit 0"
