# The metrics process (metrics listen on): it runs unprivileged, in the
# sandbox, with the scoreboard mapped read-only and no way to make it
# writable; it serves GET /metrics that promtool accepts and that
# agrees with echodctl metrics, and nothing else; it survives garbage, a
# 1 MB request, 100 slow clients and a client that never reads, while a
# real scrape succeeds within 2 s and the master keeps answering; the
# master starts it again after kill -9, and stops it when it stops.
. "$TESTS_SRCDIR/lib.sh"

command -v promtool >/dev/null 2>&1 ||
    fail "promtool is needed (apt-get install prometheus)"
MPORT=$("$ECHOTEST" freeport) || fail "no free port"

# scrape [REQUEST]: the whole HTTP answer, within 2 s or nothing.
scrape() {
	timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" &&
	    printf "%b" "$2" >&3 && cat <&3' scrape "$MPORT" \
	    "${1:-GET /metrics HTTP/1.1\r\nHost: echod\r\n\r\n}"
}
body() {
	sed '1,/^\r$/d'
}
metricsd() {
	pgrep -P "$(master_pid)" -f '^echod: metrics' || true
}
status_field() {
	awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

write_conf "prefork 2" "listen on 127.0.0.1 port $PORT" \
    "metrics listen on 127.0.0.1 port $MPORT"
WANT_WORKERS=3 start_echod
wait_for 5 "the metrics process" test -n "$(metricsd)"
md=$(metricsd)
[ "$(title "$md")" = "echod: metrics [127.0.0.1:$MPORT]" ] ||
    fail "its title: $(title "$md")"

if [ "$(id -u)" = 0 ]; then
	for id in $(awk '$1 == "Uid:" || $1 == "Gid:" { print $2, $3, $4, $5 }' \
	    "/proc/$md/status"); do
		[ "$id" != 0 ] || fail "the metrics process kept root: $(grep -E '^[UG]id' "/proc/$md/status")"
	done
	ok "the metrics process runs as $(stat -c %U "/proc/$md"), not root"
fi
printf 'sandbox yes\n' > "$T/probe.conf"
if "$ECHOD" -n -f "$T/probe.conf" >/dev/null 2>&1; then
	[ "$(status_field "$md" Seccomp)" = 2 ] ||
	    fail "the metrics process has no seccomp filter"
	ok "the metrics process is in the sandbox"
fi
# Its only mapping of the scoreboard is read-only and may not become
# writable (no "mw" in VmFlags: mprotect(2) would fail).
maps=$(grep -c 'echod-scoreboard' "/proc/$md/maps")
[ "$maps" = 1 ] || fail "the metrics process maps the scoreboard $maps times: $(grep echod-scoreboard "/proc/$md/maps")"
grep 'echod-scoreboard' "/proc/$md/maps" | grep -q ' r--s ' ||
    fail "its scoreboard mapping: $(grep echod-scoreboard "/proc/$md/maps")"
awk '/echod-scoreboard/ { f = 1; next } f && /^VmFlags:/ { print; exit }' \
    "/proc/$md/smaps" > "$T/vmflags"
[ -s "$T/vmflags" ] || fail "no VmFlags for the scoreboard"
! grep -qw mw "$T/vmflags" || fail "the mapping may become writable: $(cat "$T/vmflags")"
ok "the scoreboard is mapped read-only, for good: $(cat "$T/vmflags")"

# The metrics socket is the master's and the metrics process's alone;
# the echo listener is not the metrics process's.
mino=$(listen_inode "$MPORT")
eino=$(listen_inode "$PORT")
[ -n "$mino" ] && [ -n "$eino" ] || fail "no listening sockets found"
for w in $(workers); do
	[ "$w" = "$md" ] && continue
	! ls -l "/proc/$w/fd" | grep -q "socket:\[$mino\]" ||
	    fail "worker $w holds the metrics socket"
done
ls -l "/proc/$md/fd" | grep -q "socket:\[$mino\]" ||
    fail "the metrics process lacks its socket"
! ls -l "/proc/$md/fd" | grep -q "socket:\[$eino\]" ||
    fail "the metrics process holds the echo listener"
ok "the metrics socket is in the metrics process only, the echo listener not there"

"$ECHOTEST" echo -p "$PORT" -n 3000 -c 3 >/dev/null || fail "echo"
exact() {
	scrape | body > "$T/http.txt" &&
	    grep -qx 'echod_received_bytes_total 9000' "$T/http.txt" &&
	    grep -qx 'echod_connections_accepted_total 3' "$T/http.txt"
}
wait_for 5 "3 connections and 9000 bytes over HTTP" exact
scrape | head -n 1 | grep -q '^HTTP/1.1 200 OK' || fail "status line"
promtool check metrics < "$T/http.txt" > "$T/promtool.out" 2>&1 ||
    fail "promtool: $(cat "$T/promtool.out")"
"$ECHODCTL" -s "$CTL" metrics > "$T/ctl.txt" || fail "echodctl metrics"
diff <(grep -v '^echod_workers\|^echod_connections_active' "$T/ctl.txt") \
    <(grep -v '^echod_workers\|^echod_connections_active' "$T/http.txt") >"$T/diff" ||
    fail "HTTP and echodctl disagree: $(cat "$T/diff")"
ok "GET /metrics: 200, passes promtool, agrees with echodctl metrics"

scrape "GET / HTTP/1.1\r\n\r\n" | head -n 1 | grep -q ' 404 ' || fail "GET / is not 404"
scrape "POST /metrics HTTP/1.1\r\n\r\n" | head -n 1 | grep -q ' 405 ' ||
    fail "POST is not 405"
scrape "hello\n\n" | head -n 1 | grep -q ' 400 ' || fail "garbage is not 400"
ok "anything but GET /metrics: 404, 405, 400"

# The abuse, all at once.
background bash -c 'head -c 65536 /dev/urandom > "/dev/tcp/127.0.0.1/$1"' \
    garbage "$MPORT"
background bash -c 'head -c 1048576 /dev/zero | tr "\0" a > "/dev/tcp/127.0.0.1/$1"' \
    big "$MPORT"
# 100 slow clients, each a byte of a request, held open; the metrics
# process closes the oldest ones to make room, so some writes fail.
background bash -c 'trap "" PIPE
for i in $(seq 100); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$1" || exit 1
	printf G >&$fd 2>/dev/null
done
touch "$2"
sleep 10' slow "$MPORT" "$T/slow.ready"
slow=$LAST_BG
background bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"
	printf "GET /metrics HTTP/1.1\r\n\r\n" >&3; sleep 10' noread "$MPORT"
background "$ECHOTEST" noread -p "$MPORT" -t 10
wait_for 10 "100 slow clients" test -f "$T/slow.ready"
for i in 1 2 3 4 5; do
	start=$(now_ms)
	scrape | body | grep -q '^echod_sent_bytes_total 9000$' ||
	    fail "scrape $i amid the abuse failed"
	"$ECHODCTL" -s "$CTL" status >/dev/null || fail "the master did not answer"
	log "scrape $i amid the abuse: $(( $(now_ms) - start )) ms"
done
[ "$(metricsd)" = "$md" ] || fail "the metrics process changed: $md, now $(metricsd)"
alive "$md" || fail "the metrics process died"
ok "garbage, 1 MB, 100 slow clients, a client that never reads: scrapes within 2 s"
kill "$slow" 2>/dev/null

kill -9 "$md"
respawned() {
	local n
	n=$(metricsd)
	[ -n "$n" ] && [ "$n" != "$md" ] && scrape | body | grep -q '^echod_sent_bytes_total 9000$'
}
wait_for 5 "a new metrics process" respawned
log_has "metrics process $md ended; restarting" || fail "the death was not logged"
ok "killed with -9: started again, and serving ($(metricsd))"

# SIGTERM (a stop, or the hand-over of a live upgrade) ends it only once
# the scrapes it has accepted are answered: one that has sent half its
# request when the signal comes still gets its answer.
md=$(metricsd)
exec {half}<>"/dev/tcp/127.0.0.1/$MPORT"
printf 'GET /metrics HTTP/1.1\r\n' >&$half
sockets() {
	ls -l "/proc/$md/fd" 2>/dev/null | grep -c 'socket:'
}
wait_for 5 "the metrics process to accept the half request" \
    eval '[ "$(sockets)" -ge 2 ]'
kill -TERM "$md"
wait_for 5 "the metrics process to close its listening socket" \
    eval '[ "$(sockets)" -eq 1 ]'
printf 'Host: echod\r\n\r\n' >&$half
timeout 5 cat <&$half >"$T/half.txt"
exec {half}>&-
head -n 1 "$T/half.txt" | grep -q '^HTTP/1.1 200 OK' ||
    fail "the scrape accepted before SIGTERM: $(head -n 1 "$T/half.txt")"
wait_for 5 "the metrics process to end after its last answer" exited "$md"
wait_for 5 "a new metrics process" respawned
ok "SIGTERM: the accepted scrape answered, then it ended (and was started again)"

md=$(metricsd)
kill -TERM "$(master_pid)"
wait_for 5 "echod to stop" eval '! pidfile_ready'
wait_for 5 "the metrics process to stop" exited "$md"
ok "it stops with echod"
