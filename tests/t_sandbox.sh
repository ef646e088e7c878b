# The workers' containment (shared/TESTING.md, "sandbox"): a seccomp
# filter on every worker and none on the master; a worker that tries to
# run a program after start-up dies of SIGSYS and the master names the
# call; "sandbox no" really lets it through (so the filter is what
# stopped it); descriptor and core limits as echod.conf(5) says.
. "$TESTS_SRCDIR/lib.sh"

[ -f "$FAULTSHIM" ] || fail "no fault shim at $FAULTSHIM"
printf 'sandbox yes\n' >"$T/probe.conf"
if ! "$ECHOD" -n -f "$T/probe.conf" >/dev/null 2>&1; then
	# Built --without-seccomp: the keyword must say so, not pass.
	"$ECHOD" -n -f "$T/probe.conf" 2>&1 |
	    grep -q "built without libseccomp" ||
	    fail "sandbox yes: $("$ECHOD" -n -f "$T/probe.conf" 2>&1)"
	skip "built without libseccomp"
fi

status_field() {
	awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

# limit PID "Max ..." SOFT|HARD: from /proc/PID/limits, which (unlike
# prlimit) root reads even without CAP_SYS_RESOURCE.
limit() {
	awk -v name="$2" -v col="$3" 'index($0, name) == 1 {
		n = split(substr($0, length(name) + 1), f, " +")
		i = (f[1] == "") ? 2 : 1
		print (col == "SOFT") ? f[i] : f[i + 1]
	}' "/proc/$1/limits"
}

run_faulty() {
	env ECHOD_FAULT=exec-on-accept ECHOD_FAULT_EXEC="touch $T/executed" \
	    LD_PRELOAD="$FAULTSHIM" "$ECHOD" -d -f "$CONF" >>"$LOG" 2>&1 &
	BG_PIDS="$BG_PIDS $!"
	wait_for 10 "pidfile of a running master" pidfile_ready
	wait_for 10 "2 workers" has_workers 2
}

# By default: each worker filtered, the master not; echo unchanged.
write_conf "prefork 2"
run_faulty
master=$(master_pid)
for w in $(workers); do
	[ "$(status_field "$w" Seccomp)" = 2 ] ||
	    fail "worker $w: Seccomp $(status_field "$w" Seccomp), want 2 (filter)"
	[ "$(status_field "$w" NoNewPrivs)" = 1 ] || fail "worker $w: NoNewPrivs"
done
[ "$(status_field "$master" Seccomp)" = 0 ] || fail "the master is filtered"
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 4 || fail "echo in the sandbox"
ok "workers run under a seccomp filter, the master does not; echo works"

# Descriptors: soft and hard cut to what a worker holds plus a few;
# cores off by default.
for w in $(workers); do
	soft=$(limit "$w" "Max open files" SOFT)
	hard=$(limit "$w" "Max open files" HARD)
	held=$(ls "/proc/$w/fd" | wc -l)
	[ "$soft" = "$hard" ] || fail "worker $w: nofile $soft:$hard"
	[ "$hard" -le $((held + 8)) ] ||
	    fail "worker $w: nofile $hard for $held descriptors held"
	[ "$(limit "$w" "Max core file size" HARD)" = 0 ] ||
	    fail "worker $w: core $(limit "$w" "Max core file size" HARD), want 0"
done
ok "RLIMIT_NOFILE sized to the worker ($hard for $held held), no cores"

# An accepted client from 127.0.0.2 makes its worker try execve.
victims=$(workers)
"$ECHOTEST" echo -p "$PORT" -n 100 -B 127.0.0.2 >/dev/null 2>&1 &&
    fail "the client of a worker that ran a program was echoed"
wait_for 5 "the sandbox's kill logged" \
    log_has "worker [0-9]+ killed by the sandbox: system call execve is not allowed"
log_has "killed by signal [0-9]+ \(Bad system call\)" ||
    fail "the death is not logged as SIGSYS"
[ ! -e "$T/executed" ] || fail "the program ran despite the sandbox"
wait_for 5 "the pool back at 2 workers" has_workers 2
[ "$(workers)" != "$victims" ] || fail "no worker was replaced"
[ "$(master_pid)" = "$master" ] || fail "the master changed"
"$ECHOTEST" echo -p "$PORT" -n 1000 -c 4 || fail "echo after the kill"
ok "execve in a worker: killed by SIGSYS, logged by name, replaced"

# sandbox no: the same attempt succeeds, so the filter is what stops it.
kill -TERM "$master"
wait_for 5 "echod to stop" exited "$master"
: >"$LOG"
write_conf "prefork 2" "sandbox no"
run_faulty
for w in $(workers); do
	[ "$(status_field "$w" Seccomp)" = 0 ] ||
	    fail "worker $w filtered with sandbox no"
done
"$ECHOTEST" echo -p "$PORT" -n 100 -B 127.0.0.2 >/dev/null 2>&1 || true
wait_for 5 "the program to run without a sandbox" test -e "$T/executed"
log_has "killed by the sandbox" && fail "a sandbox kill with sandbox no"
ok "sandbox no: no filter, and the same execve goes through"
kill -TERM "$(master_pid)"
wait_for 5 "echod to stop" eval '! pidfile_ready'

# core-limit: the workers' RLIMIT_CORE.  Under "user", Linux makes a
# worker undumpable when it drops privileges, so no core would ever be
# written; with core-limit set echod makes it dumpable again.  Another
# process of the same user may then read its /proc/PID/environ, which
# the kernel refuses for an undumpable one.
as_nobody_reads_environ() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    head -c 1 "/proc/$1/environ" >/dev/null 2>&1
}
dumpable_check=no
if [ "$(id -u)" = 0 ] && id -u nobody >/dev/null 2>&1 &&
    getent group nogroup >/dev/null &&
    awk -v id="$(id -u nobody)" '$1 <= id && id < $1 + $3 { f = 1 }
    END { exit !f }' /proc/self/uid_map; then
	dumpable_check=yes
fi
for size in 0 2m; do
	: >"$LOG"
	if [ "$dumpable_check" = yes ]; then
		write_conf "prefork 2" "core-limit $size" "user nobody"
	else
		write_conf "prefork 2" "core-limit $size"
	fi
	WANT_WORKERS=2 start_echod
	want=0
	[ "$size" = 2m ] && want=2097152
	for w in $(workers); do
		[ "$(limit "$w" "Max core file size" SOFT)" = "$want" ] ||
		    fail "worker $w: core $(limit "$w" "Max core file size" SOFT), want $want"
		[ "$dumpable_check" = yes ] || continue
		if [ "$size" = 0 ]; then
			as_nobody_reads_environ "$w" &&
			    fail "core-limit 0: worker $w is dumpable"
		else
			as_nobody_reads_environ "$w" ||
			    fail "core-limit 2m: worker $w is not dumpable"
		fi
	done
	kill -TERM "$(master_pid)"
	wait_for 5 "echod to stop" eval '! pidfile_ready'
done
if [ "$dumpable_check" = yes ]; then
	ok "core-limit: RLIMIT_CORE 0 or 2097152; dumpable as nobody only when set"
else
	ok "core-limit: RLIMIT_CORE 0 or 2097152 (not root: dumpable not checked)"
fi
