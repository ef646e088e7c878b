# echod under systemd.
#
# 1. The units as built (etc/*.in with the configured paths) pass
#    "systemd-analyze verify" without a word.  It wants the programs
#    of ExecStart= and ExecReload= to exist, so the copies it checks
#    point at the build tree's; with man(1) at hand the manual pages of
#    Documentation= are looked up in the build tree's too.  systemd need
#    not run: verify loads the units offline, as in a container whose
#    PID 1 is not systemd.
# 2. The daemon runs with exactly the capabilities echod.service leaves
#    it (CapabilityBoundingSet=, NoNewPrivileges=), by setpriv(1): its
#    workers chroot and drop to nobody, it makes its control socket for
#    a control group, reloads (signalling its workers) and stops.
# 3. Socket activation, by systemd-socket-activate(1): echod serves the
#    two sockets it was given (the very inode systemd-socket-activate
#    made before echod ran) instead of binding its "listen on"
#    addresses.  The one a "listen on ... proxy-protocol" line names
#    reads PROXY headers; the other, which no line names, is served
#    without, and the line naming no socket is not bound; both are
#    logged.  echodctl conns shows the TCP state of connections on
#    both.  Reloads keep the sockets and match them to the new lines
#    (proxy-protocol dropped, then back), and echodctl status shows
#    them.  Built --without-systemd, echod ignores LISTEN_FDS and binds
#    its own addresses instead.
. "$TESTS_SRCDIR/lib.sh"

: "${TOP_BUILDDIR:?run through make check}"

# --- 1. systemd-analyze verify
command -v systemd-analyze >/dev/null 2>&1 ||
    fail "systemd-analyze not found: cannot check the units" \
	"(apt-get install systemd)"
mkdir -p "$T/units" "$T/man/man5" "$T/man/man8"
for u in echod.service echod.socket echod-inetd.socket \
    echod-inetd@.service; do
	f="$TOP_BUILDDIR/etc/$u"
	[ -s "$f" ] || fail "$f was not built"
	grep -n '@[A-Za-z_]*@' "$f" && fail "$u: placeholders left"
	sed "s|^\(Exec[A-Za-z]*=\)[^ ]*/\(echod[a-z]*\) |\1$TOP_BUILDDIR/src/\2 |" \
	    "$f" > "$T/units/$u"
done
grep -q "^ExecStart=$TOP_BUILDDIR/src/echod -d -f /" "$T/units/echod.service" ||
    fail "echod.service: no ExecStart= of echod -d -f FILE"
cp "$MANDIR_BUILT"/*.8 "$T/man/man8/"
cp "$MANDIR_BUILT"/*.5 "$T/man/man5/"
if command -v man >/dev/null 2>&1; then
	man_opt=--man=yes
else
	# verify would say man(1) failed: only the pages' presence is checked.
	man_opt=--man=no
	for page in $(sed -n 's/^Documentation=//p' "$T"/units/*); do
		page=${page#man:}
		sect=${page#*(}
		sect=${sect%)}
		[ -s "$T/man/man$sect/${page%(*}.$sect" ] ||
		    fail "Documentation=$page: no such page built"
	done
fi
for pair in "echod.service echod.socket" \
    "echod-inetd@.service echod-inetd.socket"; do
	set -- $pair
	MANPATH="$T/man" systemd-analyze verify "$man_opt" \
	    "$T/units/$1" "$T/units/$2" >"$T/verify.out" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ] || [ -s "$T/verify.out" ]; then
		cat "$T/verify.out"
		fail "systemd-analyze verify $man_opt $1 $2: exit $rc"
	fi
done
grep -q '^Type=notify$' "$T/units/echod.service" ||
    fail "echod.service is not Type=notify"
grep -q '^ExecReload=.*/echodctl reload$' "$T/units/echod.service" ||
    fail "echod.service does not reload with echodctl reload"
ok "the 4 units pass systemd-analyze verify $man_opt, silently"

# --- 2. the unit's capabilities
service="$T/units/echod.service"
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$service")
[ -n "$caps" ] || fail "echod.service has no CapabilityBoundingSet="
grep -q '^NoNewPrivileges=yes$' "$service" ||
    fail "echod.service has no NoNewPrivileges=yes"
# CAP_SETUID CAP_KILL -> +setuid,+kill
bounding=-all
for c in $caps; do
	c=${c#CAP_}
	bounding="$bounding,+$(echo "$c" | tr 'A-Z' 'a-z')"
done
if [ "$(id -u)" != 0 ] || ! id -u nobody >/dev/null 2>&1 ||
    ! getent group nogroup >/dev/null; then
	log "not root, or no nobody/nogroup: the unit's capabilities" \
	    "are not tried"
else
	mkdir -p "$T/jail"
	chmod 755 "$T/jail"
	write_conf "prefork 2" "user nobody" "group nogroup" \
	    "chroot $T/jail" "control group nogroup"
	# (Under the sanitizers, a drained worker's leak check at exit
	# cannot work inside the chroot, where neither /proc nor the report
	# file is: it is turned off for this run.)
	ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" \
	    setpriv --no-new-privs --bounding-set="$bounding" \
	    "$ECHOD" -d -f "$CONF" >>"$LOG" 2>&1 &
	ECHOD_PID=$!
	BG_PIDS="$BG_PIDS $ECHOD_PID"
	wait_for 10 "pidfile of the master" pidfile_ready
	wait_for 10 "2 idle workers" all_idle
	has_workers 2 || fail "not 2 workers"
	[ "$(awk '$1 == "NoNewPrivs:" { print $2 }' \
	    "/proc/$ECHOD_PID/status")" = 1 ] || fail "no_new_privs not set"
	for w in $(workers); do
		[ "$(readlink "/proc/$w/root")" = "$T/jail" ] ||
		    fail "worker $w not chrooted"
		[ "$(stat -c %U "/proc/$w")" = nobody ] ||
		    fail "worker $w is not nobody"
	done
	[ "$(stat -c %G "$CTL")" = nogroup ] ||
	    fail "control socket not given to the control group"
	"$ECHOTEST" echo -p "$PORT" -n 65536 -c 2 || fail "no echo"
	"$ECHODCTL" -s "$CTL" status >"$T/status" 2>&1 ||
	    fail "echodctl status: $(cat "$T/status")"
	"$ECHODCTL" -s "$CTL" conns >"$T/conns" 2>&1 ||
	    fail "echodctl conns: $(cat "$T/conns")"
	old=$(workers)
	"$ECHODCTL" -s "$CTL" reload >"$T/reload" 2>&1 ||
	    fail "echodctl reload: $(cat "$T/reload")"
	wait_gone 10 "the old workers, told to drain by the master" $old
	wait_for 10 "2 new workers" has_workers 2
	kill -TERM "$ECHOD_PID"
	wait_gone 10 "the master to stop" "$ECHOD_PID"
	wait "$ECHOD_PID" || fail "the master exited $?"
	log_has "Operation not permitted" && fail "a call was not permitted"
	ok "with only $caps and no_new_privs: chroot, user nobody," \
	    "control group, echo, echodctl status, conns, reload, stop"
fi
: >"$LOG"

# --- 3. socket activation
command -v systemd-socket-activate >/dev/null 2>&1 ||
    fail "systemd-socket-activate not found: cannot test socket" \
	"activation (apt-get install systemd)"
other=$("$ECHOTEST" freeport)
pp=$("$ECHOTEST" freeport)
write_conf "prefork 2" "listen on 127.0.0.1 port $pp proxy-protocol" \
    "listen on 127.0.0.1 port $other"

listening() {
	[ -n "$(listen_inode)" ]
}
has_pid() {
	[ "$(master_pid)" = "$1" ]
}
status_lists() {
	"$ECHODCTL" -s "$CTL" status >"$T/status" 2>&1 &&
	    grep -q "^listening on   127\.0\.0\.1:$1 " "$T/status"
}
generation_gone() {
	"$ECHODCTL" -s "$CTL" -j workers | jq -e --argjson g "$1" \
	    '[.workers[] | select(.generation == $g)] | length == 0' >/dev/null
}
# conns_tcp_info PEER: echodctl conns has the kernel's TCP state of the
# connection whose peer is PEER (a regular expression).
conns_tcp_info() {
	"$ECHODCTL" -s "$CTL" -j conns >"$T/conns" 2>&1 &&
	    jq -e --arg p "^$1\$" '.tcp_info and any(.conns[];
	    (.peer | test($p)) and .rtt_us != null and .cwnd > 0)' \
	    "$T/conns" >/dev/null
}

# systemd-socket-activate passes on only the variables it is told to.
systemd-socket-activate -l "127.0.0.1:$PORT" -l "127.0.0.1:$pp" -E ASAN_OPTIONS \
    -E UBSAN_OPTIONS "$ECHOD" -d -f "$CONF" >>"$LOG" 2>&1 &
ECHOD_PID=$!
BG_PIDS="$BG_PIDS $ECHOD_PID"
wait_for 10 "systemd-socket-activate listening on $PORT" listening
inode=$(listen_inode)

if ! with_libsystemd "socket activation"; then
	# Without libsystemd LISTEN_FDS is ignored: echod closes systemd's
	# socket, with the first client in it, and binds its own address.
	"$ECHOTEST" echo -p "$PORT" -n 1000 -t 5 >/dev/null 2>&1
	wait_for 10 "echod's pidfile" pidfile_ready
	wait_for 10 "2 workers" has_workers 2
	[ -n "$(listen_inode "$other")" ] ||
	    fail "without libsystemd, echod did not bind port $other"
	[ -z "$(listen_inode)" ] || fail "systemd's socket still listens"
	"$ECHOTEST" echo -p "$other" -n 100000 || fail "no echo on $other"
	log_has "from systemd" && fail "without libsystemd, socket activation"
	ok "built --without-systemd: LISTEN_FDS ignored, port $other bound"
	exit 0
fi

# It runs echod at the first connection, which echod then serves.
"$ECHOTEST" echo -p "$PORT" -n 100000 ||
    fail "no echo from the socket-activated echod"
wait_for 10 "echod's pidfile" pidfile_ready
wait_for 10 "2 workers" has_workers 2

[ "$(master_pid)" = "$ECHOD_PID" ] ||
    fail "the master is $(master_pid), not $ECHOD_PID"
[ "$(listen_inode)" = "$inode" ] || fail "the listening socket changed"
[ "$(readlink "/proc/$ECHOD_PID/fd/3")" = "socket:[$inode]" ] ||
    fail "the master's descriptor 3 is not systemd's socket $inode"
[ -z "$(listen_inode "$other")" ] ||
    fail "echod bound its configured port $other too"
log_has "listening on 127\.0\.0\.1:$PORT \(from systemd\)" ||
    fail "no \"listening on ... (from systemd)\" in the log"
log_has "socket activation: 2 listening sockets from systemd" ||
    fail "socket activation not logged"
log_has "listening on 127\.0\.0\.1:$pp \(from systemd\) \(proxy-protocol\)" ||
    fail "no \"listening on ... $pp (from systemd) (proxy-protocol)\""
log_has "socket activation: 127\.0\.0\.1:$PORT from systemd: no \"listen on\" line of $CONF names it; served with the defaults \(no proxy-protocol\)" ||
    fail "the socket no listen line names was not logged"
log_has "listen on 127\.0\.0\.1:$other \(line [0-9]+\): no socket from systemd has this address; not bound \(socket activation\)" ||
    fail "the listen line naming no socket was not logged"
for w in $(workers); do
	ls -l "/proc/$w/fd" | grep -q "socket:\[$inode\]" ||
	    fail "worker $w does not hold socket $inode"
done
status_lists "$PORT" || fail "echodctl status: $(cat "$T/status")"
grep -q "^listening on   127\.0\.0\.1:$pp (backlog [0-9]*, [0-9]* waiting, proxy-protocol)$" \
    "$T/status" || fail "echodctl status: $(cat "$T/status")"
ok "echod serves systemd's sockets (inode $inode), binds nothing, says so"

# The socket "listen on ... proxy-protocol" names takes the header and
# does not echo it; echodctl conns shows the TCP state of a connection
# held on either socket (found by the socket's own port).
"$ECHOTEST" echo -p "$pp" -P 1 -a 203.0.113.7 -n 65536 -c 2 ||
    fail "PROXY v1 on the proxy-protocol socket from systemd"
"$ECHOTEST" echo -p "$pp" -P 2 -a 2001:db8::7 -n 1000 -s ||
    fail "PROXY v2 on the proxy-protocol socket from systemd"
rm -f "$T/stop" "$T/ready" "$T/ready2"
background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/ready" -t 60
session=$LAST_BG
background "$ECHOTEST" session -p "$pp" -P 1 -a 198.51.100.23 -o 4711 \
    -f "$T/stop" -r "$T/ready2" -t 60
proxied=$LAST_BG
wait_for 10 "the sessions" test -f "$T/ready" -a -f "$T/ready2"
wait_for 5 "TCP_INFO of the session on $PORT" conns_tcp_info \
    "127\.0\.0\.1:[0-9]+"
wait_for 5 "TCP_INFO of the session on $pp" conns_tcp_info \
    "198\.51\.100\.23:4711"
touch "$T/stop"
wait "$session" || fail "the session on $PORT failed"
wait "$proxied" || fail "the session on $pp failed"
ok "the socket a proxy-protocol line names reads PROXY v1 and v2;" \
    "echodctl conns has TCP_INFO on both sockets"

# A reload naming another address: the socket stays, nothing is bound.
third=$("$ECHOTEST" freeport)
write_conf "prefork 3" "listen on 127.0.0.1 port $third"
kill -HUP "$ECHOD_PID"
wait_for 10 "reload to generation 2" log_has "reloaded: generation 2, 3 workers"
wait_for 10 "3 workers" has_workers 3
log_has "listen on 127\.0\.0\.1:$third \(line [0-9]+\): no socket from systemd has this address; not bound" ||
    fail "the listen line naming no socket was not logged"
[ "$(listen_inode)" = "$inode" ] || fail "the listening socket changed"
[ -z "$(listen_inode "$third")" ] || fail "the reload bound port $third"
"$ECHOTEST" echo -p "$PORT" -n 100000 -c 3 || fail "no echo after SIGHUP"
# No line names $pp now: no proxy-protocol there either, once the old
# generation, which expects headers, has gone.
wait_for 10 "generation 1 to exit" generation_gone 1
"$ECHOTEST" echo -p "$pp" -n 100000 || fail "no plain echo on $pp after SIGHUP"
status_lists "$PORT" || fail "echodctl status: $(cat "$T/status")"
grep -q "proxy-protocol" "$T/status" && fail "still proxy-protocol: $(cat "$T/status")"
ok "SIGHUP: same socket $inode, port $third not bound, proxy-protocol" \
    "dropped, echo, status"

# The same through echodctl, as ExecReload= does, with proxy-protocol
# back on $pp.
write_conf "prefork 3" "listen on 127.0.0.1 port $pp proxy-protocol"
"$ECHODCTL" -s "$CTL" reload >"$T/reload" 2>&1 ||
    fail "echodctl reload: $(cat "$T/reload")"
grep -q "generation 3 serving with 3 workers" "$T/reload" ||
    fail "echodctl reload: $(cat "$T/reload")"
[ "$(listen_inode)" = "$inode" ] || fail "the listening socket changed"
"$ECHOTEST" echo -p "$PORT" -n 100000 -s || fail "no echo after reload"
wait_for 10 "generation 2 to exit" generation_gone 2
"$ECHOTEST" echo -p "$pp" -P 1 -a 203.0.113.8 -n 1000 ||
    fail "no PROXY protocol on $pp after the reload"
ok "echodctl reload: same socket, echo, proxy-protocol on $pp again"

kill -TERM "$ECHOD_PID"
wait_gone 10 "echod to stop" "$ECHOD_PID"
wait "$ECHOD_PID" || fail "echod exited $?"
[ -e "$PIDFILE" ] && fail "pidfile left behind"
ok "SIGTERM: echod stopped, exit 0, pidfile removed"
