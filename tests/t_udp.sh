# UDP echo (echod.conf(5), "listen ... udp"): every byte back for every
# size over IPv4 and IPv6, from the address the datagram was sent to,
# with its TOS; the reflection guard's drops; the UDP socket kept
# across reloads; a killed UDP worker replaced; the sandbox.
. "$TESTS_SRCDIR/lib.sh"

command -v python3 >/dev/null || skip "no python3 for the UDP client"

UPORT=$("$ECHOTEST" freeport) || fail "no free port"
UPORT2=$("$ECHOTEST" freeport) || fail "no free port"
cat > "$T/udp.py" <<'EOF'
import socket, sys, time

def sock(host):
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(2.0)
    return s

cmd, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
args = sys.argv[4:]
if cmd == 'echo':
    # every size, bytes identical; prints the reply's source
    s = sock(host)
    for n in map(int, args):
        data = bytes((i * 7 + n) & 255 for i in range(n))
        s.sendto(data, (host, port))
        got, src = s.recvfrom(70000)
        if got != data:
            sys.exit('size %d: %d bytes back, or different' % (n, len(got)))
    print(src[0])
elif cmd == 'tos':
    s = sock(host)
    if s.family == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x28)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
    else:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0x28)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVTCLASS, 1)
    s.sendto(b'tos', (host, port))
    data, anc, flags, src = s.recvmsg(100, 100)
    print(' '.join('%d' % c[2][0] for c in anc))
elif cmd == 'silent':
    # bound to a source port (argument): no answer may come
    s = sock(host)
    src = args[1] if len(args) > 1 else ('0.0.0.0' if s.family == socket.AF_INET else '::')
    s.bind((src, int(args[0])))
    s.settimeout(0.5)
    s.sendto(b'x', (host, port))
    try:
        s.recvfrom(100)
        sys.exit('answered from source port %s' % args[0])
    except socket.timeout:
        pass
elif cmd == 'broadcast':
    s = sock(host)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.settimeout(0.5)
    s.sendto(b'x', (host, port))
    try:
        s.recvfrom(100)
        sys.exit('a broadcast was answered')
    except socket.timeout:
        pass
elif cmd == 'burst':
    # N datagrams from one port; prints how many came back
    s = sock(host)
    s.settimeout(1.0)
    n = int(args[0])
    for i in range(n):
        s.sendto(b'%d' % i, (host, port))
    back = 0
    try:
        while True:
            s.recvfrom(100)
            back += 1
    except socket.timeout:
        pass
    print(back)
EOF
udp() {
	python3 "$T/udp.py" "$@"
}
udp_inode() {
	local hex
	hex=$(printf '%04X' "$UPORT")
	awk -v port=":$hex" 'substr($2, length($2) - 4) == port { print $10 }' \
	    /proc/net/udp /proc/net/udp6 | sort -u
}
udp_workers() {
	local w n=0
	for w in $(workers); do
		case "$(title "$w")" in "echod: udp worker") n=$((n + 1)) ;; esac
	done
	echo "$n"
}
# drops REASON: how many datagrams the guard dropped for it, by status -j.
drops() {
	"$ECHODCTL" -s "$CTL" -j status | jq -r --arg r "$1" '.udp.drops[$r]'
}
# umetric NAME [LABELS]: one series of echodctl metrics.
umetric() {
	local s=$1
	[ -n "${2:-}" ] && s="$1{$2}"
	"$ECHODCTL" -s "$CTL" metrics |
	    awk -v s="$s" '$1 == s { print $2; f = 1 } END { exit !f }'
}
# The UDP counters of echodctl metrics, as "in out bytes-in bytes-out
# nfs-drops".
udp_counters() {
	echo "$(umetric echod_udp_datagrams_received_total)" \
	    "$(umetric echod_udp_datagrams_sent_total)" \
	    "$(umetric echod_udp_received_bytes_total)" \
	    "$(umetric echod_udp_sent_bytes_total)" \
	    "$(umetric echod_udp_datagrams_dropped_total 'reason="nfs-port"')"
}
udp_counted() {
	[ "$(udp_counters)" = "$1" ]
}
dropped() {
	[ "$(drops "$1")" -ge "$2" ]
}
has_udp_workers() {
	[ "$(udp_workers)" -eq "$1" ]
}

write_conf "listen on 127.0.0.1 port $PORT" "listen on * port $UPORT udp" \
    "listen on 127.0.0.1 port $UPORT2 udp" \
    "prefork 2" "udp-workers 2" "udp-receive-buffer 4194304" \
    "udp-rate 50 0"
WANT_WORKERS=4 start_echod
wait_for 10 "2 UDP workers" has_udp_workers 2
log_has "listening on \[::\]:$UPORT/udp" || fail "UDP listener not logged"
"$ECHOTEST" echo -p "$PORT" -n 1000 -c 2 || fail "TCP beside UDP"
ok "a TCP and a UDP listener, two UDP workers"

# The metrics count UDP exactly, before any other datagram: 4 of 300
# bytes echoed and one from NFS's port 2049 dropped; kill -9 of both
# UDP workers folds their counts, so none goes down.
command -v promtool >/dev/null 2>&1 ||
    fail "promtool is needed (apt-get install prometheus)"
out=$(udp echo 127.0.0.1 "$UPORT" 300 300 300 300) || fail "echo: $out"
udp silent 127.0.0.1 "$UPORT" 2049 || fail "port 2049"
want="5 4 1201 1200 1"
wait_for 5 "UDP counted: $want" udp_counted "$want"
"$ECHODCTL" -s "$CTL" metrics > "$T/m.txt" || fail "echodctl metrics"
promtool check metrics < "$T/m.txt" > "$T/promtool.out" 2>&1 ||
    fail "promtool: $(cat "$T/promtool.out")"
n=$(grep -c '^echod_udp_datagrams_dropped_total{' "$T/m.txt")
[ "$n" = 9 ] || fail "$n drop reasons in the metrics, want 9"
for w in $(workers); do
	[ "$(title "$w")" = "echod: udp worker" ] || continue
	kill -KILL "$w"
	wait_gone 5 "killed UDP worker" "$w"
done
wait_for 10 "2 UDP workers again" has_udp_workers 2
[ "$(udp_counters)" = "$want" ] ||
    fail "after kill -9 of the UDP workers: $(udp_counters), want $want"
ok "metrics count UDP exactly (promtool passes), kept after kill -9"

out=$(udp echo 127.0.0.1 "$UPORT" 0 1 1400 9000 65507) || fail "IPv4: $out"
[ "$out" = 127.0.0.1 ] || fail "IPv4 reply from $out"
out=$(udp echo ::1 "$UPORT" 0 1 1400 9000 65527) || fail "IPv6: $out"
[ "$out" = ::1 ] || fail "IPv6 reply from $out"
ok "sizes 0 to 65507 (IPv4) and 65527 (IPv6), every byte back"

# A "*" socket answers from the address the datagram was sent to, not
# from the one the route to the client would pick (127.0.0.1).
out=$(udp echo 127.0.0.2 "$UPORT" 1) || fail "127.0.0.2: $out"
[ "$out" = 127.0.0.2 ] || fail "sent to 127.0.0.2, answered from $out"
ok "answered from the address the datagram was sent to"

out=$(udp tos 127.0.0.1 "$UPORT") || fail "tos: $out"
[ "$out" = 40 ] || fail "IPv4 TOS back: '$out', want 40"
out=$(udp tos ::1 "$UPORT") || fail "tclass: $out"
[ "$out" = 40 ] || fail "IPv6 traffic class back: '$out', want 40"
ok "TOS and traffic class echoed"

# The reflection guard, end to end where the kernel lets a datagram
# through: a privileged source port (root only), NFS's 2049, an echo
# port (this one's own).
if [ "$(id -u)" = 0 ]; then
	udp silent 127.0.0.1 "$UPORT" 1023 || fail "port 1023"
	wait_for 5 "low-port counted" dropped low-port 1
	log_has "127\.0\.0\.1:1023 \(low-port\)" || fail "low-port not logged"
	ok "no answer to source port 1023"
else
	log "not root: source port 1023 not tested"
fi
udp silent 127.0.0.1 "$UPORT" 2049 || fail "port 2049"
wait_for 5 "nfs-port counted" dropped nfs-port 1
# From another echo server's port (the number of the listener's own)
# on another address: the start of an endless loop.
udp echo 127.0.0.1 "$UPORT2" 5 >/dev/null || fail "second UDP listener"
udp silent 127.0.0.1 "$UPORT2" "$UPORT2" 127.0.0.2 || fail "own echo port"
wait_for 5 "echo-port counted" dropped echo-port 1
ok "no answer to source ports 2049 and the echo port"

# Sent to the loopback network's broadcast address: IP_PKTINFO tells.
udp broadcast 127.255.255.255 "$UPORT" || fail "broadcast"
wait_for 5 "bad-destination counted" dropped bad-destination 1
ok "no answer to a datagram sent to a broadcast address"

# One source, a burst of 200 over both UDP workers: 50 (the bucket,
# udp-rate 50 per second) and what it refills meanwhile, not 50 per
# worker.
out=$(udp burst 127.0.0.1 "$UPORT" 200) || fail "burst: $out"
[ "$out" -ge 50 ] && [ "$out" -le 70 ] ||
    fail "$out of a burst of 200 answered, want 50 to 70"
wait_for 5 "rate drops counted" dropped rate 100
st=$("$ECHODCTL" -s "$CTL" status)
case "$st" in *"udp workers    2"*"datagrams "*"rate "*) ;;
*) fail "status: $st" ;; esac
ok "the rate limit holds across the UDP workers ($out of 200 answered)"

# Reloads keep the UDP socket and answer throughout.
inode=$(udp_inode)
[ -n "$inode" ] || fail "no UDP socket in /proc/net"
sleep 1.1	# the bucket refills: udp-rate is per second
for i in 1 2 3 4 5; do
	kill -HUP "$(master_pid)"
	out=$(udp echo 127.0.0.1 "$UPORT" 100) || fail "reload $i: $out"
done
wait_for 10 "reloaded" log_has "reloaded: generation 6"
wait_for 10 "2 UDP workers" has_udp_workers 2
[ "$(udp_inode)" = "$inode" ] || fail "UDP socket replaced by reload"
ok "5 reloads: the same UDP socket, answered throughout"

# kill -9 of a UDP worker: replaced.
victim=""
for w in $(workers); do
	[ "$(title "$w")" = "echod: udp worker" ] && victim=$w
done
kill -KILL "$victim"
wait_gone 5 "killed UDP worker" "$victim"
wait_for 10 "2 UDP workers again" has_udp_workers 2
out=$(udp echo 127.0.0.1 "$UPORT" 100) || fail "after kill -9: $out"
ok "a killed UDP worker is replaced"

# The sandbox covers UDP workers: one that receives a datagram from
# 127.0.0.2 tries execve (tests/faultshim.c) and dies of SIGSYS.
printf 'sandbox yes\n' >"$T/probe.conf"
if ! "$ECHOD" -n -f "$T/probe.conf" >/dev/null 2>&1; then
	log "built without libseccomp: the UDP sandbox not tested"
	exit 0
fi
kill -TERM "$(master_pid)"
wait_for 10 "echod to stop" eval '! pidfile_ready'
: >"$LOG"
env ECHOD_FAULT=exec-on-recvmmsg ECHOD_FAULT_EXEC="touch $T/executed" \
    LD_PRELOAD="$FAULTSHIM" "$ECHOD" -d -f "$CONF" >>"$LOG" 2>&1 &
BG_PIDS="$BG_PIDS $!"
wait_for 10 "pidfile of a running master" pidfile_ready
wait_for 10 "2 UDP workers" has_udp_workers 2
udp silent 127.0.0.1 "$UPORT" 0 127.0.0.2 || fail "answered the attacker"
wait_for 5 "the sandbox's kill logged" \
    log_has "worker [0-9]+ killed by the sandbox: system call execve is not allowed"
[ ! -e "$T/executed" ] || fail "the program ran despite the sandbox"
wait_for 10 "2 UDP workers again" has_udp_workers 2
out=$(udp echo 127.0.0.1 "$UPORT" 100) || fail "after the sandbox kill: $out"
ok "execve in a UDP worker: killed by the sandbox, replaced"
