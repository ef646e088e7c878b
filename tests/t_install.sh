# make install: binary, manual pages with the configured paths, and the
# sample configuration, which never overwrites an admin's file; make
# uninstall removes the sample only while it is unchanged.
. "$TESTS_SRCDIR/lib.sh"

: "${TOP_BUILDDIR:?run through make check}"
dest="$T/root"
inst() {
	${MAKE:-make} -s --no-print-directory -C "$TOP_BUILDDIR" "$1" DESTDIR="$dest" >"$T/make.out" 2>&1 ||
	    fail "make $1: $(cat "$T/make.out")"
}
# Not a sub-make of "make check": with -j its jobserver notes would mix
# into the answer.
sysconfdir=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL ${MAKE:-make} -s \
    --no-print-directory -C "$TOP_BUILDDIR" print-sysconfdir)
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
ok "install: echod, both manual pages with real paths, a valid sample"

echo "prefork 9  # the admin's change" >> "$conf"
inst install
grep -q "the admin's change" "$conf" || fail "install overwrote the config"
inst uninstall
[ -e "$sbin" ] && fail "uninstall left $sbin"
grep -q "the admin's change" "$conf" || fail "uninstall removed an edited config"
ok "an edited configuration survives install and uninstall"

rm -f "$conf"
inst install
inst uninstall
[ -e "$conf" ] && fail "uninstall left the unchanged sample"
left=$(find "$dest" -type f)
[ -z "$left" ] || fail "uninstall left: $left"
ok "uninstall removes everything install added"
