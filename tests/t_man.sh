# The manual pages as built by make (man/*.in with the configured paths
# written in): not empty, no warning or error from "mandoc -Tlint -W
# warning", and no "@name@" placeholder left unsubstituted.  Skipped if
# mandoc is not installed.
. "$TESTS_SRCDIR/lib.sh"

: "${MANDIR_BUILT:?run through make check}"
command -v mandoc >/dev/null 2>&1 || skip "mandoc is not installed"

for page in echod.8 echod.conf.5 echodctl.8 echobench.1; do
	f="$MANDIR_BUILT/$page"
	[ -s "$f" ] || fail "$f is missing or empty"

	mandoc -Tlint -W warning "$f" >"$T/lint" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ] || [ -s "$T/lint" ]; then
		cat "$T/lint"
		fail "mandoc -Tlint -W warning $page: exit $rc"
	fi
	ok "$page: mandoc -Tlint -W warning is silent"

	if grep -nE '@[A-Za-z_]+@' "$f" \
	    >"$T/left"; then
		cat "$T/left"
		fail "$page: placeholders left unsubstituted"
	fi
	ok "$page: no @placeholder@ left"
done
