# What a UDP worker may be sent never crashes it: a flood of datagrams of
# every size and random bytes, empty ones, one that did not fit its
# buffer (MSG_TRUNC: never sent back cut), IPv4 datagrams on the v4-mapped
# addresses of an IPv6 "*" socket, one from source port 0 (a raw socket,
# root only).  The UDP workers' pids are the same afterwards and every
# byte still comes back.  Then the guard's total cap (udp-total-rate),
# after a reload, for datagrams from many sources.
. "$TESTS_SRCDIR/lib.sh"

command -v python3 >/dev/null || skip "no python3 for the UDP client"

UPORT=$("$ECHOTEST" freeport) || fail "no free port"
cat > "$T/udp.py" <<'EOF'
import os, random, socket, struct, sys, time

cmd, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
args = sys.argv[4:]

def sock(host, bind=None):
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if bind is not None:
        s.bind(bind)
    s.settimeout(2.0)
    return s

if cmd == 'echo':
    # every size, bytes identical; prints the reply's source
    s = sock(host)
    for n in map(int, args):
        data = os.urandom(n)
        s.sendto(data, (host, port))
        got, src = s.recvfrom(70000)
        if got != data:
            sys.exit('size %d: %d bytes back, or different' % (n, len(got)))
    print(src[0])
elif cmd == 'flood':
    # N datagrams of random sizes and bytes over 8 sockets, without
    # waiting for the answers; prints how many came back
    n = int(args[0])
    rnd = random.Random(862)
    socks = [sock(host) for _ in range(8)]
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        s.setblocking(False)
    sizes = [0, 1, 7, 8, 63, 64, 65, 1399, 1400, 1401, 1472, 1473, 8192,
             9000, 32768, 65000, 65507]
    back = 0
    for i in range(n):
        size = rnd.choice(sizes) if i % 2 else rnd.randrange(0, 65508)
        s = socks[i % len(socks)]
        try:
            s.sendto(os.urandom(size), (host, port))
        except (BlockingIOError, OSError):
            pass
        for r in socks:
            try:
                while True:
                    r.recv(70000)
                    back += 1
            except (BlockingIOError, OSError):
                pass
    deadline = time.time() + 1.0
    while time.time() < deadline:
        for r in socks:
            try:
                while True:
                    r.recv(70000)
                    back += 1
            except (BlockingIOError, OSError):
                pass
        time.sleep(0.01)
    print(back)
elif cmd == 'silent':
    # from ADDRESS PORT (the arguments): no answer may come
    s = sock(host, (args[0], int(args[1])))
    s.settimeout(0.5)
    s.sendto(b'x' * 100, (host, port))
    try:
        s.recvfrom(100)
        sys.exit('answered from %s port %s' % (args[0], args[1]))
    except socket.timeout:
        pass
elif cmd == 'portzero':
    # IPv4 and UDP headers made by hand: source port 0, no checksum
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    data = b'from port zero'
    s.sendto(struct.pack('!HHHH', 0, port, 8 + len(data), 0) + data,
             (host, 0))
elif cmd == 'many':
    # one datagram from each of N sockets (N sources); prints how many
    # came back within half a second
    import select
    n = int(args[0])
    socks = [sock(host) for _ in range(n)]
    for s in socks:
        s.sendto(b'm', (host, port))
    back, left = 0, set(socks)
    deadline = time.time() + 0.5
    while left and time.time() < deadline:
        r, _, _ = select.select(list(left), [], [], 0.05)
        for s in r:
            s.recvfrom(100)
            back += 1
            left.discard(s)
    print(back)
EOF
udp() {
	python3 "$T/udp.py" "$@"
}
# The UDP workers' pids, from the scoreboard.
udp_pids() {
	"$ECHODCTL" -s "$CTL" -j workers |
	    jq -r '.workers[] | select(.kind == "udp") | .pid' | sort -n |
	    tr '\n' ' '
}
n_udp() {
	[ "$(udp_pids | wc -w)" -eq "$1" ]
}
drops() {
	"$ECHODCTL" -s "$CTL" -j status | jq -r --arg r "$1" '.udp.drops[$r]'
}
dropped() {
	[ "$(drops "$1")" -ge "$2" ]
}

conf() {
	write_conf "listen on 127.0.0.1 port $PORT" \
	    "listen on * port $UPORT udp" "prefork 1" "udp-workers 2" \
	    "udp-receive-buffer 4194304" "udp-rate 0 0" "$@"
}
conf
env ECHOD_FAULT=trunc-on-recvmmsg LD_PRELOAD="$FAULTSHIM" \
    "$ECHOD" -d -f "$CONF" >>"$LOG" 2>&1 &
BG_PIDS="$BG_PIDS $!"
wait_for 10 "pidfile of a running master" pidfile_ready
wait_for 10 "2 UDP workers" n_udp 2
pids=$(udp_pids)

out4=$(udp flood 127.0.0.1 "$UPORT" 2000) || fail "flood: $out4"
[ "$out4" -gt 0 ] || fail "nothing of the flood came back"
out6=$(udp flood ::1 "$UPORT" 1000) || fail "IPv6 flood: $out6"
[ "$out6" -gt 0 ] || fail "nothing of the IPv6 flood came back"
[ "$(udp_pids)" = "$pids" ] ||
    fail "UDP workers $pids replaced by $(udp_pids) in the flood"
out=$(udp echo 127.0.0.1 "$UPORT" 0 0 1 65507) || fail "after the flood: $out"
ok "a flood of 2000 datagrams of every size (IPv4) and 1000 (IPv6): the" \
    "same workers, every byte back after it ($out4 and $out6 answered)"

# One that did not fit: not sent back (cut), counted, the worker alive.
udp silent 127.0.0.1 "$UPORT" 127.0.0.3 0 || fail "a truncated datagram"
wait_for 5 "oversize counted" dropped oversize 1
log_has "127\.0\.0\.3:[0-9]+ \(oversize\)" || fail "oversize not logged"
[ "$(udp_pids)" = "$pids" ] || fail "a truncated datagram: workers replaced"
ok "a datagram that did not fit: not answered, counted, logged"

# IPv4 through the v4-mapped addresses of the IPv6 socket: answered from
# the mapped address it was sent to, and the guard sees the IPv4 source
# (NFS's port, unwrapped).
if [ -n "$("$ECHOTEST" freeport -H ::1 2>/dev/null)" ]; then
	out=$(udp echo ::ffff:127.0.0.2 "$UPORT" 0 1400 65507) ||
	    fail "v4-mapped: $out"
	[ "$out" = ::ffff:127.0.0.2 ] || fail "v4-mapped: answered from $out"
	n=$(drops nfs-port)
	udp silent ::ffff:127.0.0.1 "$UPORT" ::ffff:127.0.0.1 2049 ||
	    fail "v4-mapped NFS port"
	wait_for 5 "nfs-port counted" dropped nfs-port $((n + 1))
	ok "v4-mapped: answered from the address sent to, NFS's port refused"
else
	log "no IPv6 here: v4-mapped addresses not tested"
fi

if [ "$(id -u)" = 0 ]; then
	udp portzero 127.0.0.1 "$UPORT" || fail "raw socket"
	wait_for 5 "port-zero counted" dropped port-zero 1
	ok "a datagram from source port 0: not answered, counted"
else
	log "not root: source port 0 not tested"
fi
[ "$(udp_pids)" = "$pids" ] || fail "UDP workers replaced"
out=$(udp echo 127.0.0.1 "$UPORT" 0 1 1400 65507) || fail "at the end: $out"
log_has "killed by signal|exited with status" && fail "a worker died"

# The total cap: 300 sources, one datagram each, udp-total-rate 100:
# 100 answered (the bucket) and what it refills meanwhile, the rest
# counted.
conf "udp-total-rate 100"
"$ECHODCTL" -s "$CTL" -t 30 reload >"$T/reload.out" 2>&1 ||
    fail "reload: $(cat "$T/reload.out")"
wait_for 10 "2 UDP workers" n_udp 2
out=$(udp many 127.0.0.1 "$UPORT" 300) || fail "many: $out"
[ "$out" -ge 100 ] && [ "$out" -le 150 ] ||
    fail "$out of 300 sources answered, want 100 to 150"
wait_for 5 "total-rate counted" dropped total-rate 150
ok "udp-total-rate 100: $out of 300 sources answered"
