#!/bin/bash
# A live upgrade carries every socket the master holds: a TCP and a UDP
# listener on the same port (matched by address and socket type), and
# the metrics socket ("metrics listen on"), shared by both masters'
# metrics processes while they change over.  Scrapes are answered
# before, during (polled without a pause, each within 2 s) and after the
# upgrade, the last ones by the new master's metrics process, whose
# counters start again from zero; the three inodes stay the same, UDP
# echo is answered before and after.  Then an upgrade to a configuration
# that moves the metrics to another port (the old socket closed, the new
# port bound), and one that has no metrics any more (closed, no metrics
# process), and one that brings them back (bound by the new master).
. "$TESTS_SRCDIR/lib.sh"

command -v python3 >/dev/null || skip "no python3 for the UDP client"
MPORT=$("$ECHOTEST" freeport) || fail "no free port"
MPORT2=$("$ECHOTEST" freeport) || fail "no free port"

mkdir -p "$T/bin"
cp "$ECHOD" "$T/bin/echod"
ECHOD="$T/bin/echod"

# udp_echo: one datagram to the UDP listener, the same bytes back.
udp_echo() {
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2.0)
data = b"upgrade %d" % int(sys.argv[2])
s.sendto(data, ("127.0.0.1", int(sys.argv[1])))
got, src = s.recvfrom(100)
sys.exit(0 if got == data else "%r back for %r" % (got, data))' "$PORT" "$1"
}
udp_inode() {
	local hex
	hex=$(printf '%04X' "$PORT")
	awk -v port=":$hex" 'substr($2, length($2) - 4) == port { print $10 }' \
	    /proc/net/udp | sort -u
}
# scrape PORT: the body of GET /metrics, within 2 s or a failure.
scrape() {
	local f="$T/scrape.$BASHPID"
	timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" &&
	    printf "GET /metrics HTTP/1.1\r\nHost: echod\r\n\r\n" >&3 &&
	    cat <&3' scrape "$1" > "$f" 2>/dev/null &&
	    head -n 1 "$f" | grep -q '^HTTP/1.1 200 OK' &&
	    sed '1,/^\r$/d' "$f"
}
accepted() {
	awk '$1 == "echod_connections_accepted_total" { print $2 }'
}
metricsd() {
	pgrep -P "$1" -f '^echod: metrics' || true
}
# upgrade: echodctl upgrade; the new master's pid in $new, the old one
# gone once it has (nothing holds it).
upgrade() {
	local out
	out=$("$ECHODCTL" -s "$CTL" upgrade 2>&1) || fail "upgrade: $out"
	new=$(echo "$out" | sed -n 's/^pid \([0-9]*\) serves.*/\1/p')
	[ -n "$new" ] && [ "$new" != "$old" ] || fail "upgrade: \"$out\""
	wait_gone 10 "the old master $old" "$old"
	[ "$(master_pid)" = "$new" ] || fail "pidfile names $(master_pid)"
	[ "$(masters)" -eq 1 ] || fail "$(masters) masters"
}

conf() {
	write_conf "prefork 2" "udp-workers 1" "drain-timeout 30" \
	    "listen on 127.0.0.1 port $PORT" \
	    "listen on 127.0.0.1 port $PORT udp" "$@"
}
conf "metrics listen on 127.0.0.1 port $MPORT"
# Two TCP workers, one UDP worker, the metrics process.
WANT_WORKERS=4 start_echod
old=$(master_pid)
tcp=$(listen_inode)
udp=$(udp_inode)
mino=$(listen_inode "$MPORT")
[ -n "$tcp" ] && [ -n "$udp" ] && [ -n "$mino" ] ||
    fail "sockets: tcp $tcp, udp $udp, metrics $mino"
[ "$tcp" != "$udp" ] || fail "one inode for TCP and UDP"
udp_echo 1 || fail "no UDP echo before the upgrade"
"$ECHOTEST" echo -p "$PORT" -n 100 -c 5 >/dev/null || fail "no TCP echo"
has_5() {
	[ "$(scrape "$MPORT" | accepted)" = 5 ]
}
wait_for 5 "5 connections counted over HTTP" has_5
md=$(metricsd "$old")
[ -n "$md" ] || fail "no metrics process"
ok "before: TCP $tcp and UDP $udp on port $PORT, metrics $mino, 5 connections counted"

# Scrapes, one after another, all through the upgrade: each one's count
# of connections, or "failed".
export -f scrape accepted
export T
background bash -c 'while [ ! -e "$1" ]; do
	if scrape "$2" > "$3.body"; then
		accepted < "$3.body"
	else
		echo failed
	fi
done > "$3"' scraper "$T/stop" "$MPORT" "$T/scrapes"
scraper=$LAST_BG
# Some scrapes of the old master's first.
wait_for 10 "scrapes before the upgrade" eval '[ "$(wc -l < "$T/scrapes")" -ge 3 ]'
upgrade
[ "$(listen_inode)" = "$tcp" ] || fail "TCP socket $(listen_inode), was $tcp"
[ "$(udp_inode)" = "$udp" ] || fail "UDP socket $(udp_inode), was $udp"
[ "$(listen_inode "$MPORT")" = "$mino" ] ||
    fail "metrics socket $(listen_inode "$MPORT"), was $mino"
ok "upgrade: pid $old -> $new; TCP, UDP and metrics sockets the same"
log_has "metrics on http://127.0.0.1:$MPORT/metrics \(the old master's socket\)" ||
    fail "the new master did not say it kept the metrics socket"

# After: the new master's metrics process answers, with its own counts.
wait_for 10 "the new master's workers" has_workers 4
md2=$(metricsd "$new")
[ -n "$md2" ] && [ "$md2" != "$md" ] || fail "metrics process: $md2, was $md"
exited "$md" || fail "the old metrics process $md still runs"
ls -l "/proc/$md2/fd" | grep -q "socket:\[$mino\]" ||
    fail "the new metrics process lacks the socket $mino"
from_new() {
	[ "$(tail -n 1 "$T/scrapes")" = 0 ]
}
wait_for 10 "a scrape answered by the new master" from_new
touch "$T/stop"
wait "$scraper"
n=$(wc -l < "$T/scrapes")
grep -q failed "$T/scrapes" &&
    fail "$(grep -c failed "$T/scrapes") of $n scrapes failed: $(uniq -c "$T/scrapes" | tr '\n' ' ')"
[ "$(head -n 1 "$T/scrapes")" = 5 ] || fail "first scrape: $(head -n 1 "$T/scrapes")"
ok "$n scrapes through the upgrade, none failed: $(uniq -c "$T/scrapes" | tr -s ' \n' ' ')"
udp_echo 2 || fail "no UDP echo after the upgrade"
"$ECHOTEST" echo -p "$PORT" -n 100 -c 2 >/dev/null || fail "no TCP echo after"
ok "after: UDP and TCP echo answered by pid $new"

# The metrics move to another port: the old socket closes, the new one
# is bound.
old=$new
conf "metrics listen on 127.0.0.1 port $MPORT2"
upgrade
[ -z "$(listen_inode "$MPORT")" ] || fail "port $MPORT still listens"
[ -n "$(scrape "$MPORT2" | accepted)" ] || fail "no metrics on port $MPORT2"
[ "$(listen_inode)" = "$tcp" ] && [ "$(udp_inode)" = "$udp" ] ||
    fail "the echo sockets changed"
ok "metrics moved: port $MPORT closed, port $MPORT2 answers"

# No metrics any more: closed, and no metrics process.
old=$new
conf
upgrade
[ -z "$(listen_inode "$MPORT2")" ] || fail "port $MPORT2 still listens"
wait_for 10 "3 workers" has_workers 3
[ -z "$(metricsd "$new")" ] || fail "a metrics process without metrics"
udp_echo 3 || fail "no UDP echo"
ok "metrics gone: port $MPORT2 closed, no metrics process"

# Metrics again, where the old master had none: bound by the new one.
old=$new
conf "metrics listen on 127.0.0.1 port $MPORT"
upgrade
[ -n "$(scrape "$MPORT" | accepted)" ] || fail "no metrics on port $MPORT"
wait_for 10 "4 workers with the metrics process" has_workers 4
ok "metrics new in the configuration: port $MPORT bound by pid $new"
