# Privilege drop (needs root): with "user nobody" and "group nogroup"
# every worker's real, effective, saved and filesystem uid and gid are
# nobody's and nogroup's, its supplementary groups are exactly nogroup,
# and it holds no capability (the kernel's word that it cannot become
# root again), while the master stays root; echo works.  Without a
# "group" line the workers take the user's primary group.  A reload to
# another group gives the new generation that group.
. "$TESTS_SRCDIR/lib.sh"

[ "$(id -u)" = 0 ] || skip "not root"
id -u nobody >/dev/null 2>&1 || skip "no user nobody"
getent group nogroup >/dev/null || skip "no group nogroup"

NOBODY_UID=$(id -u nobody)
NOBODY_GID=$(id -g nobody)
NOGROUP_GID=$(getent group nogroup | cut -d: -f3)

# In a user namespace (unshare -r) only the mapped ids exist.
mapped() {
	awk -v id="$2" '$1 <= id && id < $1 + $3 { found = 1 }
	    END { exit !found }' "/proc/self/$1_map"
}
mapped uid "$NOBODY_UID" || skip "uid $NOBODY_UID is not mapped here"
for g in "$NOBODY_GID" "$NOGROUP_GID"; do
	mapped gid "$g" || skip "gid $g is not mapped here"
done

# ids PID KEY: the four ids of the "KEY:" line of /proc/PID/status.
ids() {
	awk -v k="$2:" '$1 == k { print $2, $3, $4, $5 }' "/proc/$1/status"
}

groups_of() {
	awk '$1 == "Groups:" { $1 = ""; sub(/^ +/, ""); sub(/ +$/, ""); print }' \
	    "/proc/$1/status"
}

# none_of PIDS...: none of these pids is a worker any more.
none_of() {
	local p cur
	cur=" $(workers | tr '\n' ' ') "
	for p in "$@"; do
		case "$cur" in *" $p "*) return 1 ;; esac
	done
	return 0
}

cap() {
	awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

# check_worker PID UID GID: all ids, the groups and the capabilities.
check_worker() {
	local w=$1 uid=$2 gid=$3 v
	v=$(ids "$w" Uid)
	[ "$v" = "$uid $uid $uid $uid" ] ||
	    fail "worker $w: Uid (real, effective, saved, fs) $v, want $uid"
	v=$(ids "$w" Gid)
	[ "$v" = "$gid $gid $gid $gid" ] ||
	    fail "worker $w: Gid (real, effective, saved, fs) $v, want $gid"
	v=$(groups_of "$w")
	[ "$v" = "$gid" ] || fail "worker $w: Groups \"$v\", want \"$gid\""
	for c in CapEff CapPrm CapInh CapAmb; do
		v=$(cap "$w" "$c")
		[ -z "$v" ] || [ "$v" = 0000000000000000 ] ||
		    fail "worker $w: $c is $v: it could regain privileges"
	done
}

check_master_root() {
	local v
	v=$(ids "$(master_pid)" Uid)
	[ "$v" = "0 0 0 0" ] || fail "master: Uid $v, want root"
	# Else the workers' empty capability sets would prove nothing.
	v=$(cap "$(master_pid)" CapEff)
	[ -n "$v" ] && [ "$v" != 0000000000000000 ] ||
	    fail "master: CapEff \"$v\", want root's capabilities"
}

# check_workers UID GID: once every worker has set itself up, each has
# these ids and no capability, and the master is still root.
check_workers() {
	local w
	wait_for 10 "idle workers" all_idle
	for w in $(workers); do
		check_worker "$w" "$1" "$2"
	done
	check_master_root
}

WANT_WORKERS=3
write_conf "prefork 3" "user nobody" "group nogroup"
start_echod
check_workers "$NOBODY_UID" "$NOGROUP_GID"
ok "user nobody, group nogroup: each worker's uids $NOBODY_UID, gids and groups $NOGROUP_GID"
ok "workers hold no capability (CapEff, CapPrm, CapInh, CapAmb all 0): root cannot be regained"
ok "the master is still root"
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 6 || fail "echo by unprivileged workers"
ok "unprivileged workers echo"

stop_echod() {
	local m ws
	m=$(master_pid)
	ws=$(workers)
	kill -TERM "$m"
	wait_for 10 "master $m to exit" exited "$m"
	wait_gone 10 "workers to exit" $ws
	wait_for 10 "pidfile removed" test ! -e "$PIDFILE"
}
stop_echod

# No "group" line: the user's primary group.
: > "$LOG"
write_conf "prefork 3" "user nobody"
start_echod
check_workers "$NOBODY_UID" "$NOBODY_GID"
"$ECHOTEST" echo -p "$PORT" -n 4096 -c 3 || fail "echo, user nobody"
ok "user nobody without a group: workers' gids and groups are $NOBODY_GID (id -g nobody)"

# A reload to a group other than nobody's own: the new generation has
# it (the master, still root, can drop to anything).
other=""
for g in daemon users adm; do
	gid=$(getent group "$g" | cut -d: -f3)
	if [ -n "$gid" ] && [ "$gid" != "$NOBODY_GID" ] && [ "$gid" != 0 ] &&
	    mapped gid "$gid"; then
		other=$g
		OTHER_GID=$gid
		break
	fi
done
if [ -z "$other" ]; then
	log "no group other than nobody's to reload to; reload not tested"
else
	gen1=$(workers)
	write_conf "prefork 3" "user nobody" "group $other"
	kill -HUP "$(master_pid)"
	wait_for 10 "reload to generation 2" log_has 'reloaded: generation 2'
	wait_for 10 "the old generation to leave" none_of $gen1
	wait_for 10 "3 workers of generation 2" has_workers 3
	check_workers "$NOBODY_UID" "$OTHER_GID"
	"$ECHOTEST" echo -p "$PORT" -n 4096 -c 3 || fail "echo after the reload"
	ok "reload to group $other: new workers' gids and groups are $OTHER_GID"
fi

# chroot: the workers' root is the directory, and they still serve;
# a directory that is not root's alone is refused, saying why.
mkdir -p "$T/jail"
chmod 755 "$T/jail"
chown 0:0 "$T/jail"
write_conf "prefork 3" "user nobody" "chroot $T/jail"
kill -HUP "$(master_pid)"
in_jail() {
	local w
	[ "$(nworkers)" -eq 3 ] || return 1
	for w in $(workers); do
		[ "$(readlink "/proc/$w/root")" = "$T/jail" ] || return 1
	done
}
wait_for 10 "3 workers inside $T/jail" in_jail
[ "$(readlink "/proc/$(master_pid)/root")" = "/" ] || fail "the master was chrooted"
"$ECHOTEST" echo -p "$PORT" -n 65536 -c 6 || fail "no echo from chrooted workers"
ok "chroot: every worker's root is $T/jail, the master's is /, echo works"
chmod 775 "$T/jail"
if "$ECHOD" -n -f "$CONF" 2>"$T/jail.err"; then
	fail "a group-writable chroot directory was accepted"
fi
grep -q "chroot: $T/jail: writable by its group (mode 775)" "$T/jail.err" ||
    fail "chroot refusal: $(cat "$T/jail.err")"
chmod 755 "$T/jail"
ok "a group-writable chroot directory is refused, saying why"

# chroot without a user to drop to would leave the workers root inside
# it, and root can leave a chroot: refused at start-up (FILE:LINE, as
# write_conf puts it on line 4) and on a reload, with the chroot(2)ed
# nobody workers still serving.
jailed=$(workers | tr '\n' ' ')
mv "$CONF" "$T/jailed.conf"
write_conf "prefork 3" "chroot $T/jail"
if "$ECHOD" -n -f "$CONF" 2>"$T/rootjail.err"; then
	fail "chroot without user was accepted"
fi
grep -qx "$CONF:4: chroot: needs a \"user\" line too, or the workers would keep root, which can leave a chroot" \
    "$T/rootjail.err" || fail "chroot without user: $(cat "$T/rootjail.err")"
kill -HUP "$(master_pid)"
wait_for 10 "the reload refused" log_has \
    "reload failed: $CONF:4: chroot: needs a \"user\" line too"
[ "$(workers | tr '\n' ' ')" = "$jailed" ] || fail "workers changed"
"$ECHOTEST" echo -p "$PORT" -n 4096 -c 3 || fail "no echo after the refusal"
mv "$T/jailed.conf" "$CONF"
ok "chroot without user: refused by -n and by a reload, saying why"

# Workers that dropped privileges still die with their master: Linux
# clears the parent-death signal when credentials change, so it must be
# set after the drop.  Orphans would keep the port.
m=$(master_pid)
orphans=$(workers)
kill -9 "$m"
wait_for 5 "the master gone" exited "$m"
wait_gone 5 "workers of a killed master (running as nobody) to exit" $orphans
[ -z "$(listen_inode)" ] || fail "port $PORT still held after the master died"
ok "kill -9 of the master: its unprivileged workers exit too, the port is free"
