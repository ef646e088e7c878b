# What the master does for echodctl, from its loop: only bounded work.
# It opens nothing under /proc (echodctl reads each worker's memory
# itself, and the answers keep their columns and fields), and the
# kernel's dump for conns holds echod's own connections only, on every
# listening port and in both families, never the host's other sockets:
# the clients' ends of the same connections, on this host, are the test.
# Then the control socket's own edges: what only a raw client can send,
# a master out of descriptors, a configuration path JSON must escape.
. "$TESTS_SRCDIR/lib.sh"

command -v strace >/dev/null 2>&1 || fail "strace is needed (apt-get install strace)"
command -v jq >/dev/null 2>&1 || fail "jq is needed (apt-get install jq)"
ctl() {
	"$ECHODCTL" -s "$CTL" "$@"
}

# A configuration path with a quote, a backslash and a tab in it.
CONF="$T/echod \"odd\\	name\".conf"
PORT2=$("$ECHOTEST" freeport)
PORT6=$("$ECHOTEST" freeport -H ::1)
write_conf "prefork 4" "listen on 127.0.0.1 port $PORT" \
    "listen on 127.0.0.1 port $PORT2" "listen on ::1 port $PORT6"
start_echod
master=$(master_pid)

# A session on each listener: three busy workers.
background "$ECHOTEST" session -p "$PORT" -f "$T/stop" -r "$T/ready1" -t 60
background "$ECHOTEST" session -p "$PORT2" -f "$T/stop" -r "$T/ready2" -t 60
background "$ECHOTEST" session -H ::1 -p "$PORT6" -f "$T/stop" \
    -r "$T/ready3" -t 60
wait_for 10 "three sessions" test -f "$T/ready1" -a -f "$T/ready2" \
    -a -f "$T/ready3"
busy3() {
	ctl -j status | jq -e '.pool.busy == 3' >/dev/null
}
wait_for 10 "three busy workers" busy3

strace -e trace=open,openat,recvfrom,recvmsg -s 256 -o "$T/strace.out" \
    -p "$master" 2>"$T/strace.err" &
tracer=$!
BG_PIDS="$BG_PIDS $tracer"
wait_for 10 "strace to attach" grep -q attached "$T/strace.err"
ctl workers >"$T/workers" || fail "workers"
ctl -j workers >"$T/workers.json" || fail "workers -j"
ctl -j status >"$T/status.json" || fail "status -j"
ctl conns >"$T/conns" || fail "conns"
ctl -j conns >"$T/conns.json" || fail "conns -j"
# The answers are complete once echodctl has printed them.
kill -INT "$tracer"
wait "$tracer" 2>/dev/null || true

if grep -E 'open(at)?\(.*"/proc/' "$T/strace.out"; then
	fail "the master opened files under /proc for echodctl"
fi
ok "workers, status -j and conns: the master opens nothing under /proc"

# Every worker's memory is there all the same, read by echodctl.
# (The CPU column, echodctl's too, follows it: t_stack.sh checks that.)
head -n 1 "$T/workers" | grep -q " IDLE   RSS CPU$" || fail "header: $(head -n 1 "$T/workers")"
[ "$(tail -n +2 "$T/workers" | wc -l)" -eq 4 ] || fail "workers: $(cat "$T/workers")"
tail -n +2 "$T/workers" | grep -Ev ' [0-9][0-9.]*[KMG]? +[^ ]+$' &&
    fail "a worker without its RSS"
for f in workers status; do
	jq -e '(.workers | length) == 4 and
	    (.workers | all(.rss > 100000 and .rss == (.rss | floor)))' \
	    "$T/$f.json" >/dev/null || fail "$f -j: $(cat "$T/$f.json")"
done
w=$(jq '[.workers[] | select(.state == "idle")][0].pid' "$T/workers.json")
kb=$(awk '{ print $2 }' "/proc/$w/statm")
jq -e --argjson pid "$w" --argjson pages "$kb" --argjson page \
    "$(getconf PAGESIZE)" '.workers[] | select(.pid == $pid) |
    .rss == $pages * $page' "$T/workers.json" >/dev/null ||
    fail "rss of $w is not its statm's ($kb pages)"
ok "RSS in the table and rss in JSON, from each worker's /proc/PID/statm"

# The kernel sent echod's three connections, nothing else: every
# socket in the dump is on one of echod's ports, in a connection's
# state, none a client's end (whose local port is the client's own).
grep -o 'idiag_sport=htons([0-9]*)' "$T/strace.out" | sort -u \
    >"$T/sports"
[ -s "$T/sports" ] || fail "no sock_diag records seen: $(head -c 2000 "$T/strace.out")"
while read -r s; do
	case "$s" in
	"idiag_sport=htons($PORT)"|"idiag_sport=htons($PORT2)"|"idiag_sport=htons($PORT6)") ;;
	*) fail "the dump held a socket that is not echod's: $s" ;;
	esac
done <"$T/sports"
if grep -o 'idiag_state=[A-Z_]*' "$T/strace.out" | grep -Ev \
    'TCP_ESTABLISHED|TCP_CLOSE_WAIT'; then
	fail "the dump held sockets in other states"
fi
ok "the kernel's dump: echod's ports and connections only"

# And conns still shows each connection with its TCP_INFO.
jq -e '.tcp_info == true and (.conns | length) == 3 and
    (.conns | all(.rtt_us != null and .cwnd > 0)) and
    ([.conns[].peer | select(startswith("[::1]:"))] | length) == 1' \
    "$T/conns.json" >/dev/null || fail "conns -j: $(cat "$T/conns.json")"
[ "$(grep -cE ' [0-9]+(us|ms|s) +[0-9]+(us|ms|s) +[0-9]+ +[0-9]+$' \
    "$T/conns")" -eq 3 ] || fail "conns: $(cat "$T/conns")"
ok "conns: the three connections, on two ports and ::1, with TCP_INFO"

jq -e --arg path "$CONF" '.config == $path' "$T/status.json" >/dev/null ||
    fail "config path in JSON: $(jq .config "$T/status.json")"
ok "status -j: a configuration path with a quote, a backslash and a tab"

# What echodctl never sends, a raw client may: each gets an error line.
ask() {
	"$ECHOTEST" ask -U "$CTL" -q "$1"
}
[ "$(ask "")" = "error: no command" ] || fail "empty line: $(ask "")"
[ "$(ask "frobnicate")" = 'error: unknown command "frobnicate"' ] ||
    fail "unknown: $(ask frobnicate)"
[ "$(ask "status verbose")" = 'error: unexpected "verbose"' ] ||
    fail "argument: $(ask "status verbose")"
# Too long: the master answers and closes with the rest unread, so the
# answer may be overtaken by the reset that close sends; either way it
# goes on serving.
long=$(printf '%0200d' 0)
out=$(ask "$long" 2>/dev/null)
case "$out" in
""|"error: command too long") ;;
*) fail "long: $out" ;;
esac
ctl status >/dev/null || fail "status after a command too long"
ask "status -g" | head -n 1 | grep -qx "ok" || fail "status -g: $(ask "status -g")"
ok "raw clients: no command, unknown command, stray argument, too long"

# Out of descriptors, the master leaves its control clients waiting in
# the backlog, says so once, and answers them once it has room again.
free_fd=0
while [ -e "/proc/$master/fd/$free_fd" ]; do free_fd=$((free_fd + 1)); done
limits=$(prlimit --pid "$master" --nofile --noheadings --raw -o SOFT,HARD)
prlimit --pid "$master" --nofile="$free_fd:${limits##* }" ||
    fail "prlimit"
ctl status >"$T/late" 2>&1 &
late=$!
wait_for 10 "the accept failure logged" log_has \
    "control socket: accept \(logged once a minute at most\): Too many open files"
alive "$late" || fail "echodctl gave up: $(cat "$T/late")"
prlimit --pid "$master" --nofile="${limits% *}:${limits##* }" ||
    fail "prlimit back"
wait "$late" || fail "echodctl after the limit was raised: $(cat "$T/late")"
grep -q "^echod .*, pid $master" "$T/late" || fail "late answer: $(cat "$T/late")"
[ "$(grep -c "control socket: accept" "$LOG")" -eq 1 ] ||
    fail "the accept failure logged more than once"
ok "out of descriptors: control clients wait, one warning, then served"

touch "$T/stop"
