# Signals at bad moments and odd clients on the accept path
# (shared/TESTING.md): 100 SIGHUPs while workers are being killed,
# SIGTERM right behind a SIGHUP, clients that reset while still in the
# backlog, more clients than the backlog, and UDP sent to the port.
. "$TESTS_SRCDIR/lib.sh"

write_conf "prefork 4" "drain-timeout 5"
start_echod -v
master=$(master_pid)

# 100 reloads, with a kill -9 of some worker after each.
for i in $(seq 100); do
	kill -HUP "$master"
	w=$(workers | shuf -n 1)
	[ -n "$w" ] && kill -9 "$w" 2>/dev/null
done
settled() {
	local gen
	gen=$(tr '\0' ' ' < "/proc/$master/cmdline" |
	    sed -n 's/.*gen \([0-9]*\), 4 workers.*/\1/p')
	[ -n "$gen" ] && [ "$(nworkers)" -eq 4 ] && [ "$(zombies)" -eq 0 ]
}
wait_for 20 "4 workers of the last generation, no zombies" settled
alive "$master" || fail "the master died"
log_has "giving up|could not set" && fail "kills were taken for failures"
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 8 || fail "no echo after the storm"
ok "100 SIGHUPs with kill -9 of workers: 4 workers, no zombies, serving"

# SIGTERM right behind a SIGHUP: a clean stop within 2 s.
procs="$master $(workers | tr '\n' ' ')"
kill -HUP "$master"
kill -TERM "$master"
wait_for 2 "every echod process gone" all_exited $procs
[ ! -e "$PIDFILE" ] || fail "pidfile left"
[ ! -e "$CTL" ] || fail "control socket left"
ok "SIGTERM during a reload: all gone within 2 s, files removed"

# Clients that reset while waiting in the backlog: the workers accept
# them, see the reset, and go on; no worker exits, nothing is flooded.
: > "$LOG"
write_conf "prefork 2" "min-spare 0"
WANT_WORKERS=2 start_echod
before=$(workers | tr '\n' ' ')
for i in 1 2; do
	background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/ready$i" -t 60
done
wait_for 10 "both workers busy" eval 'test -f "$T/ready1" && test -f "$T/ready2"'
for i in $(seq 10); do
	"$ECHOTEST" reset -p "$PORT" -n 1 >/dev/null || fail "reset client $i"
done
touch "$T/stop"
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 4 || fail "no echo after resets"
[ "$(workers | tr '\n' ' ')" = "$before" ] || fail "a worker exited"
# accept(2) errors are logged as "accept: ..." or "accept (pausing ...":
# not the bare word, which a path such as the configuration's may hold.
[ "$(grep -cE "accept( \(|:)" "$LOG")" -eq 0 ] || fail "accept errors logged"
ok "10 clients reset in the backlog: same workers, nothing logged, serving"

# Twice the backlog while every worker is busy: the clients beyond the
# backlog are held off by the kernel and retry; all get their bytes back.
kill -TERM "$(master_pid)"
wait_for 5 "echod to stop" eval '! pidfile_ready'
write_conf "prefork 2" "min-spare 0" "backlog 4"
WANT_WORKERS=2 start_echod
rm -f "$T/stop"
for i in 1 2; do
	background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/bready$i" -t 60
done
wait_for 10 "both workers busy" eval 'test -f "$T/bready1" && test -f "$T/bready2"'
background "$ECHOTEST" echo -p "$PORT" -n 4096 -c 8 -t 60
queued=$LAST_BG
touch "$T/stop"
wait "$queued" || fail "clients beyond the backlog were lost or corrupted"
ok "8 clients on a backlog of 4 with every worker busy: all echoed"

# UDP to the TCP port: echod has no UDP socket, so nothing can answer,
# and there is nothing to reflect.
[ -z "$(ss -lunH "sport = :$PORT")" ] || fail "a UDP socket on port $PORT"
ok "no UDP socket: UDP to the port gets nothing"
