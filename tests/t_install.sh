# make install: binary, manual pages with the configured paths, the
# run directory for the default pidfile and control socket, and the
# sample configuration, which never overwrites an admin's file; make
# uninstall removes the sample only while it is unchanged.  The systemd
# units go to the directory configure found or was given
# (--with-systemdsystemunitdir), with the configured paths, and
# uninstall removes them.
. "$TESTS_SRCDIR/lib.sh"

: "${TOP_BUILDDIR:?run through make check}"
dest="$T/root"
inst() {
	${MAKE:-make} -s --no-print-directory -C "$TOP_BUILDDIR" "$1" DESTDIR="$dest" >"$T/make.out" 2>&1 ||
	    fail "make $1: $(cat "$T/make.out")"
}
# Not a sub-make of "make check": with -j its jobserver notes would mix
# into the answer.
print_var() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL ${MAKE:-make} -s \
	    --no-print-directory -C "$TOP_BUILDDIR" "print-$1"
}
sysconfdir=$(print_var sysconfdir)
runstatedir=$(print_var runstatedir)
conf="$dest$sysconfdir/echod.conf"

inst install
sbin=$(find "$dest" -path '*/sbin/echod' -type f)
[ -x "$sbin" ] || fail "no sbin/echod installed"
man8=$(find "$dest" -name echod.8 -type f)
man5=$(find "$dest" -name echod.conf.5 -type f)
[ -f "$man8" ] && [ -f "$man5" ] || fail "manual pages not installed"
grep -q "$sysconfdir/echod.conf" "$man8" ||
    fail "echod.8 does not name $sysconfdir/echod.conf"
grep -q "@sysconfdir@\|@runstatedir@" "$man8" "$man5" &&
    fail "placeholders left in the installed manual pages"
cmp -s "$conf" "$TESTS_SRCDIR/../etc/echod.conf" ||
    fail "sample configuration not installed as $conf"
"$sbin" -n -f "$conf" 2>/dev/null || fail "the installed sample does not parse"
[ -d "$dest$runstatedir" ] || fail "no run directory $dest$runstatedir"
ok "install: echod, both manual pages with real paths, a valid sample," \
    "the run directory $runstatedir"

units="echod.service echod.socket echod-inetd.socket echod-inetd@.service"
unitdir="$dest${SYSTEMDSYSTEMUNITDIR:-}"
sbindir=$(dirname "${sbin#"$dest"}")
if [ -n "${SYSTEMDSYSTEMUNITDIR:-}" ]; then
	for u in $units; do
		[ -f "$unitdir/$u" ] || fail "$u not installed in $unitdir"
		grep -n '@[A-Za-z_]*@' "$unitdir/$u" &&
		    fail "$u: placeholders left"
	done
	grep -qx "ExecStart=$sbindir/echod -d -f $sysconfdir/echod.conf" \
	    "$unitdir/echod.service" ||
	    fail "echod.service does not start $sbindir/echod"
	grep -qx "ExecReload=$sbindir/echodctl reload" \
	    "$unitdir/echod.service" ||
	    fail "echod.service does not reload with $sbindir/echodctl"
	ok "install: the 4 systemd units in $SYSTEMDSYSTEMUNITDIR, with" \
	    "$sbindir and $sysconfdir"
else
	left=$(find "$dest" -name 'echod*.service' -o -name 'echod*.socket')
	[ -z "$left" ] || fail "units installed without a unit directory: $left"
	log "configure found no systemd unit directory: no unit installed"
fi

echo "prefork 9  # the admin's change" >> "$conf"
inst install
grep -q "the admin's change" "$conf" || fail "install overwrote the config"
inst uninstall
[ -e "$sbin" ] && fail "uninstall left $sbin"
for u in $units; do
	[ -e "$unitdir/$u" ] && fail "uninstall left $unitdir/$u"
done
grep -q "the admin's change" "$conf" || fail "uninstall removed an edited config"
ok "an edited configuration survives install and uninstall"

rm -f "$conf"
inst install
inst uninstall
[ -e "$conf" ] && fail "uninstall left the unchanged sample"
left=$(find "$dest" -type f)
[ -z "$left" ] || fail "uninstall left: $left"
ok "uninstall removes everything install added"
