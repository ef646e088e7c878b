# Inetd mode (echod -i) under a real super-server: systemd-socket-activate
# --inetd --accept, which accepts each connection and runs echod with it
# as standard input and output, one socket on both, as inetd, tcpserver
# and systemd's Accept=yes do.  1 MiB comes back whole, and so does a
# half-closed stream before EOF; each echod exits 0 once its client has
# gone, leaving no pidfile or control socket; while it serves, its title
# names the client and, started as root with "user nobody", it runs as
# nobody; idle-timeout from the configuration closes a silent client.
# On pipes (standard input and output apart) it echoes too.
. "$TESTS_SRCDIR/lib.sh"

command -v systemd-socket-activate >/dev/null 2>&1 ||
    fail "systemd-socket-activate not found: cannot test inetd mode" \
	"(apt-get install systemd)"

# With -d echod logs to standard error, which systemd-socket-activate
# leaves on the test's log (it gives the client 0 and 1 only); -v adds
# the byte count of each connection.
conf_lines="idle-timeout 2"
if [ "$(id -u)" = 0 ] && id -u nobody >/dev/null 2>&1 &&
    getent group nogroup >/dev/null; then
	conf_lines="$conf_lines|user nobody|group nogroup"
fi
IFS='|' read -r -a lines <<<"$conf_lines"
write_conf "${lines[@]}"

systemd-socket-activate --inetd --accept -l "127.0.0.1:$PORT" \
    -E ASAN_OPTIONS -E UBSAN_OPTIONS "$ECHOD" -i -d -v -f "$CONF" \
    >>"$LOG" 2>&1 &
SSA=$!
BG_PIDS="$BG_PIDS $SSA"

listening() {
	[ -n "$(listen_inode)" ]
}
# The echod processes serving a connection now.
servers() {
	pgrep -P "$SSA"
}
no_servers() {
	[ -z "$(servers)" ]
}
# exits N: N echod processes have exited with status 0.
exits() {
	[ "$(grep -c '^Child [0-9]* died with code 0$' "$LOG")" -eq "$1" ]
}
wait_for 10 "systemd-socket-activate listening on $PORT" listening

"$ECHOTEST" echo -p "$PORT" -n 1048576 || fail "1 MiB not echoed"
wait_for 10 "the first echod to exit 0" exits 1
"$ECHOTEST" echo -p "$PORT" -n 1048576 -s ||
    fail "1 MiB half-closed not echoed before EOF"
wait_for 10 "the second echod to exit 0" exits 2
wait_for 10 "no echod left" no_servers
log_has "127\.0\.0\.1:[0-9]+: 1048576 bytes echoed$" ||
    fail "the echoed bytes not logged"
grep -q "Child .* died with code [1-9]" "$LOG" && fail "an echod failed"
[ -e "$PIDFILE" ] && fail "inetd mode wrote a pidfile"
[ -e "$CTL" ] && fail "inetd mode made a control socket"
ok "1 MiB, plain and half-closed, echoed; each echod exited 0, no pidfile"

# While a client stays, one echod serves it, and exits when it leaves.
background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/ready" -t 60
session=$LAST_BG
wait_for 10 "the session" test -f "$T/ready"
server=$(servers)
[ "$(echo "$server" | wc -w)" -eq 1 ] || fail "servers: $server"
t=$(title "$server")
echo "$t" | grep -q '^echod: inetd \[127\.0\.0\.1:[0-9]*\]$' ||
    fail "title: $t"
case "$conf_lines" in
*nobody*)
	[ "$(stat -c %U "/proc/$server")" = nobody ] ||
	    fail "echod -i did not drop to user nobody"
	who="as nobody, " ;;
*)	who= ;;
esac
touch "$T/stop"
wait "$session" || fail "the session failed"
wait_gone 10 "the session's echod to exit" "$server"
ok "one echod per client, ${who}titled \"$t\", gone with it"

# idle-timeout 2: a client that sends nothing is closed after 2 s.
"$ECHOTEST" idle -p "$PORT" -t 10 >"$T/idle" 2>&1 ||
    fail "idle client: $(cat "$T/idle")"
ms=$(sed -n 's/.*after \([0-9]*\) ms.*/\1/p' "$T/idle")
[ "$ms" -ge 1500 ] || fail "closed after $ms ms, before idle-timeout"
wait_for 10 "no echod left" no_servers
log_has "bytes echoed, closed by idle-timeout" ||
    fail "the idle-timeout not logged"
ok "idle-timeout 2 from the configuration: closed after $ms ms"

# Standard input and output apart: pipes.
head -c 200000 /dev/urandom >"$T/in"
"$ECHOD" -i -f "$CONF" <"$T/in" | cat >"$T/out" ||
    fail "echod -i on pipes failed"
cmp -s "$T/in" "$T/out" || fail "echod -i on pipes: the output differs"
ok "on pipes: 200000 bytes in, the same out"
