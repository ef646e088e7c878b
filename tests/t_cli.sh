# Command line and start-up errors: -n on a good and on a broken
# configuration (FILE:LINE in the message), usage for an unknown option or
# an extra argument, a missing configuration file, a port that is already
# in use (the second daemon exits, names the address, leaves no pidfile,
# and the first goes on serving), and a relative -f path that a reload
# still finds, in the foreground and as a daemon working from "/".
. "$TESTS_SRCDIR/lib.sh"

# run NAME ARGS...: run echod with ARGS, stdout and stderr in $T/NAME.out
# and $T/NAME.err; wait (with a deadline, in case it starts serving
# instead of failing) until it exits, and set RC to its exit status.
run() {
	local name=$1
	shift
	background "$ECHOD" "$@" >"$T/$name.out" 2>"$T/$name.err"
	wait_for 10 "echod $* to exit" exited "$LAST_BG"
	wait "$LAST_BG"
	RC=$?
}

# err_has NAME PATTERN: echod's stderr of run NAME matches an ERE.
err_has() {
	grep -Eq -- "$2" "$T/$1.err"
}

show() {
	echo "--- stderr of $1 ---"
	cat "$T/$1.err"
}

usage_line='^usage: echod \[-dinv\] \[-f file\]$'

# -n: check the configuration, report, start nothing.
write_conf "prefork 2"
run good -n -f "$CONF"
[ "$RC" -eq 0 ] || { show good; fail "-n on a good configuration: exit $RC"; }
err_has good '^configuration OK$' ||
    { show good; fail "-n did not say \"configuration OK\" on stderr"; }
[ ! -s "$T/good.out" ] || fail "-n wrote to stdout: $(cat "$T/good.out")"
[ ! -e "$PIDFILE" ] || fail "-n created the pidfile"
[ -z "$(listen_inode)" ] || fail "-n left port $PORT listening"
ok "-n on a good configuration: \"configuration OK\", exit 0, nothing started"

# -n: the first error, with the file and the line it is on.
BAD="$T/bad.conf"
{
	echo "# a comment on line 1"
	echo "pidfile $T/bad.pid"
	echo ""
	echo "listen on 127.0.0.1 port $PORT"
	echo "prefork none"
	echo "bogus keyword here"
} > "$BAD"
run bad -n -f "$BAD"
[ "$RC" -eq 1 ] || { show bad; fail "-n on a broken configuration: exit $RC"; }
err_has bad "^$BAD:5: prefork: " ||
    { show bad; fail "no \"$BAD:5: prefork: ...\" message"; }
[ "$(wc -l < "$T/bad.err")" -eq 1 ] ||
    { show bad; fail "more than the first error reported"; }
ok "-n on a broken configuration: \"$BAD:5: ...\" (first error only), exit 1"

# Not only with -n: a broken configuration stops a real start too.
run bad_start -d -f "$BAD"
[ "$RC" -eq 1 ] || { show bad_start; fail "start with a broken configuration: exit $RC"; }
err_has bad_start "^$BAD:5: " || { show bad_start; fail "start: no FILE:LINE message"; }
[ ! -e "$T/bad.pid" ] || fail "a broken configuration left a pidfile"
ok "start with a broken configuration: same message, exit 1, no pidfile"

# Usage errors.
run unknown -x -f "$CONF"
[ "$RC" -eq 1 ] || { show unknown; fail "unknown option: exit $RC"; }
err_has unknown "$usage_line" || { show unknown; fail "unknown option: no usage line"; }
ok "unknown option -x: usage line, exit 1"

run extra -n -f "$CONF" extra
[ "$RC" -eq 1 ] || { show extra; fail "extra argument: exit $RC"; }
err_has extra "$usage_line" || { show extra; fail "extra argument: no usage line"; }
err_has extra '^configuration OK$' && fail "extra argument: the configuration was read"
ok "extra argument: usage line, exit 1, configuration not read"

run missing_arg -n -f
[ "$RC" -eq 1 ] || { show missing_arg; fail "-f without a file: exit $RC"; }
err_has missing_arg "$usage_line" || { show missing_arg; fail "-f without a file: no usage line"; }
ok "-f without its argument: usage line, exit 1"

# A configuration file that does not exist.
run nofile -d -f "$T/nonexistent.conf"
[ "$RC" -eq 1 ] || { show nofile; fail "missing configuration file: exit $RC"; }
err_has nofile "^$T/nonexistent\.conf: No such file or directory$" ||
    { show nofile; fail "missing configuration file: no \"PATH: No such file or directory\""; }
ok "missing configuration file: \"PATH: No such file or directory\", exit 1"

# A port already in use: the first daemon holds it, the second (its own
# pidfile, the same port) must give up before it claims to run.
write_conf "prefork 2"
WANT_WORKERS=2 start_echod
first=$(master_pid)
first_workers=$(workers | tr '\n' ' ')
first_inode=$(listen_inode)

CONF2="$T/second.conf"
PIDFILE2="$T/second.pid"
printf 'pidfile %s\nprefork 2\nlisten on 127.0.0.1 port %s\n' \
    "$PIDFILE2" "$PORT" > "$CONF2"
run busy -d -f "$CONF2"
[ "$RC" -eq 1 ] || { show busy; fail "second daemon on a busy port: exit $RC"; }
err_has busy "127\.0\.0\.1:$PORT.*Address already in use" ||
    { show busy; fail "no message naming 127.0.0.1:$PORT and \"Address already in use\""; }
ok "second daemon on a busy port: names 127.0.0.1:$PORT, \"Address already in use\", exit 1"

[ ! -e "$PIDFILE2" ] || fail "the failed daemon left its pidfile $PIDFILE2 behind"
ok "the failed daemon left no pidfile behind"

[ "$(master_pid)" = "$first" ] && alive "$first" ||
    fail "first daemon: pidfile says $(master_pid), was $first"
[ "$(workers | tr '\n' ' ')" = "$first_workers" ] ||
    fail "first daemon's workers changed: $first_workers -> $(workers | tr '\n' ' ')"
[ "$(listen_inode)" = "$first_inode" ] ||
    fail "listening socket changed: $first_inode -> $(listen_inode)"
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 4 || fail "first daemon no longer echoes"
ok "first daemon unaffected: same pid, workers and socket, still echoes"

kill -TERM "$first"
wait_for 10 "first daemon to stop" exited "$first"
wait_for 10 "pidfile removed" test ! -e "$PIDFILE"

# A relative -f path, in the foreground: the daemon records the absolute
# path, and a reload (SIGHUP) reads the file again.
: > "$LOG"
(cd "$T" && exec "$ECHOD" -d -f echod.conf) >>"$LOG" 2>&1 &
ECHOD_PID=$!
BG_PIDS="$BG_PIDS $ECHOD_PID"
wait_for 10 "pidfile of the master started with a relative path" pidfile_ready
[ "$(master_pid)" = "$ECHOD_PID" ] || fail "pidfile says $(master_pid), started $ECHOD_PID"
wait_for 10 "2 workers" has_workers 2
log_has "configuration $CONF\$" ||
    fail "start-up log does not name the absolute path $CONF"
kill -HUP "$ECHOD_PID"
wait_for 10 "\"reloaded\" in the log" log_has 'reloaded: generation 2'
log_has 'reload failed' && fail "reload failed"
"$ECHOTEST" echo -p "$PORT" -n 4096 || fail "echo after the reload"
ok "relative -f in the foreground: absolute path kept, reload succeeds"
kill -TERM "$ECHOD_PID"
wait_for 10 "foreground daemon to stop" exited "$ECHOD_PID"
wait_for 10 "pidfile removed" test ! -e "$PIDFILE"

# The same as a daemon, which works from "/": only an absolute path can
# be found again.  Its log goes to syslog; the process title shows the
# generation instead.
title_is() {
	[ "$(title "$1")" = "$2" ]
}
(cd "$T" && exec "$ECHOD" -f echod.conf) >"$T/daemon.out" 2>"$T/daemon.err" &
starter=$!
wait_for 10 "daemonizing echod to return" exited "$starter"
wait "$starter"
RC=$?
[ "$RC" -eq 0 ] || { show daemon; fail "daemon started with a relative path: exit $RC"; }
wait_for 10 "pidfile of the daemon" pidfile_ready
m=$(master_pid)
wait_for 10 "daemon title with the absolute path" \
    title_is "$m" "echod: master [gen 1, 2 workers] $CONF"
kill -HUP "$m"
wait_for 10 "generation 2 in the title after SIGHUP" \
    title_is "$m" "echod: master [gen 2, 2 workers] $CONF"
"$ECHOTEST" echo -p "$PORT" -n 4096 || fail "daemon: echo after the reload"
ok "relative -f as a daemon (cwd /): reload finds the file, generation 2"
kill -TERM "$m"
wait_for 10 "daemon to stop" exited "$m"
wait_for 10 "pidfile removed" test ! -e "$PIDFILE"

# A configuration others could change is refused, with the reason: at
# start-up, with -n, and on reload (the running one stays).
UNSAFE="$T/unsafe.conf"
cp "$CONF" "$UNSAFE"
for mode in 666 664; do
	chmod "$mode" "$UNSAFE"
	run unsafe$mode -n -f "$UNSAFE"
	[ "$RC" -eq 1 ] || fail "mode $mode accepted"
	err_has unsafe$mode "^$UNSAFE: writable by (everyone|its group) \\(mode $mode\\); refusing it$" ||
	    { show unsafe$mode; fail "mode $mode: no reason given"; }
done
chmod 644 "$UNSAFE"
if [ "$(id -u)" -eq 0 ]; then
	chown nobody "$UNSAFE"
	run unsafeowner -n -f "$UNSAFE"
	[ "$RC" -eq 1 ] || fail "a file owned by nobody was accepted"
	err_has unsafeowner "owned by uid [0-9]+, neither root nor the user echod runs as" ||
	    { show unsafeowner; fail "owner: no reason given"; }
	chown 0 "$UNSAFE"
fi
ok "configuration writable by others, or owned by another user: refused, saying why"

: > "$LOG"
write_conf "prefork 2"
WANT_WORKERS=2 start_echod
chmod 666 "$CONF"
kill -HUP "$(master_pid)"
wait_for 10 "the reload refused" log_has "reload failed: $CONF: writable by everyone"
chmod 644 "$CONF"
"$ECHOTEST" echo -p "$PORT" -n 1000 || fail "no echo after a refused reload"
ok "a reload of a configuration made writable by everyone is refused"

# A configuration that is not a file, a FIFO or a directory, is refused
# at once, never waited on: by -n, and by a reload (the running one
# stays, and the master goes on).  Opening the FIFO used to hang.
mkfifo "$T/fifo.conf"
mkdir "$T/dir.conf"
for f in fifo dir; do
	timeout 10 "$ECHOD" -n -f "$T/$f.conf" >"$T/$f.out" 2>"$T/$f.err"
	RC=$?
	[ "$RC" -ne 124 ] || fail "echod -n -f $f.conf hung"
	[ "$RC" -eq 1 ] || { show $f; fail "-n on $f.conf: exit $RC"; }
done
err_has fifo "^$T/fifo\.conf: a FIFO, not a regular file$" ||
    { show fifo; fail "FIFO: no reason given"; }
err_has dir "^$T/dir\.conf: a directory, not a regular file$" ||
    { show dir; fail "directory: no reason given"; }
ok "-n on a FIFO or a directory: refused at once, saying what it is"

mv "$CONF" "$T/saved.conf"
mkfifo "$CONF"
kill -HUP "$(master_pid)"
wait_for 10 "the reload refused" log_has \
    "reload failed: $CONF: a FIFO, not a regular file"
"$ECHOTEST" echo -p "$PORT" -n 1000 || fail "no echo after a refused reload"
rm "$CONF"
mv "$T/saved.conf" "$CONF"
kill -HUP "$(master_pid)"
wait_for 10 "the next reload" log_has "reloaded: generation 2, 2 workers"
ok "a reload of a configuration replaced by a FIFO is refused; the master goes on"
