#!/bin/sh
# The layer check of "make lint": every file of src/ calls, and includes
# the headers of, only files of lower layers.
#
#   tests/layers.sh SRCDIR OBJDIR
#   LAYERS_GRAPH=1 tests/layers.sh SRCDIR OBJDIR    (and print the uses)
#
# What a file calls is read from its object file, not from its source:
# each symbol that OBJDIR/src/X.o leaves undefined (nm) and that another
# object of src/ defines is a call (or a use of a variable) from X to
# that file.  What it includes is read from its "#include "..."" lines
# in SRCDIR/src.  A file may use one of a lower layer, never one of its
# own layer or a higher one: so no call runs up, and no two files (nor
# two headers) depend on each other, directly or in a circle.  The
# cycles themselves are also looked for, with tsort(1), to name them.
#
# It also refuses a header of src/ named like a system header.
#
# The table below is the one place where the layers are declared; the
# README's "Source layout" describes them.  A file of src/ that is not
# in it fails the check: a new file has to be given its place.

LAYERS='
0 log clock pathnames buf addr proxyproto poolplan title signals
0 human coverage udpguard sysnames
1 conf procinfo
2 scoreboard sandbox privdrop rlimits daemon upgrade
3 listener tcpdiag control metrics udpecho
4 worker metricsd
5 pool inetd
6 report systemd
7 master
8 echod echodctl echobench
'

set -u
srcdir=${1:?usage: layers.sh SRCDIR OBJDIR}
objdir=${2:?usage: layers.sh SRCDIR OBJDIR}
NM=${NM:-nm}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

set -- "$objdir"/src/*.o
if [ ! -e "$1" ]; then
	echo "layers: no object files in $objdir/src: build first" >&2
	exit 1
fi

# "MODULE SYMBOL TYPE" for every global symbol of every object.  An
# object built for one program among several is named PROGRAM-FILE.o.
for o in "$@"; do
	m=${o##*/}
	m=${m%.o}
	m=${m##*-}
	# An object left from a source that is gone is not looked at.
	[ -f "$srcdir/src/$m.c" ] || continue
	"$NM" -P -g "$o" | awk -v m="$m" '{ print m, $1, $2 }'
done > "$tmp/syms" || exit 1

# A header of src/ must not take the name of a system header: with
# -I src (cppcheck, clang-tidy, the fuzzers) "#include <limits.h>" would
# find it instead, and so would a generated "config.h" with
# AC_CONFIG_HEADERS.
sysdirs="/usr/include /usr/local/include $(${CC:-cc} -print-file-name=include 2>/dev/null)"
shadow=0
for f in "$srcdir"/src/*.h; do
	h=${f##*/}
	[ "$h" = config.h ] && { echo "layers: src/$h: autoconf's name"; shadow=1; }
	for d in $sysdirs /usr/include/*-linux-gnu; do
		if [ -f "$d/$h" ]; then
			echo "layers: src/$h has the name of <$h> ($d)"
			shadow=1
			break
		fi
	done
done

# "MODULE HEADER" for every include of one of src/'s own headers.
for f in "$srcdir"/src/*.c "$srcdir"/src/*.h; do
	m=${f##*/}
	m=${m%.*}
	sed -n 's/^[ 	]*#[ 	]*include[ 	]*"\([^"]*\)\.h".*/\1/p' "$f" |
	while read -r h; do
		[ -f "$srcdir/src/$h.h" ] && echo "$m $h ${f##*/}"
	done
done > "$tmp/includes"

awk -v table="$LAYERS" -v edges="$tmp/edges" -v hedges="$tmp/hedges" '
BEGIN {
	n = split(table, lines, "\n")
	for (i = 1; i <= n; i++) {
		k = split(lines[i], w, " ")
		for (j = 2; j <= k; j++)
			layer[w[j]] = w[1]
	}
	bad = 0
}
FILENAME ~ /syms$/ {
	mod[$1] = 1
	if ($3 == "U" || $3 == "w" || $3 == "v")
		need[$1, $2] = 1
	else if ($2 != "main") {
		if (($2 in def) && def[$2] != $1)
			dup[$2] = def[$2] " " $1
		def[$2] = $1
	}
	next
}
{	# includes: MODULE HEADER FILE
	mod[$1] = 1
	mod[$2] = 1
	if ($1 != $2) {
		inc[$1, $2] = $3
		if ($3 ~ /\.h$/)
			print $1 ".h", $2 ".h" > hedges
	}
}
function check(from, to, what) {
	if (!(from in layer) || !(to in layer))
		return
	if (layer[to] < layer[from])
		return
	how = "up a layer"
	if (layer[to] == layer[from])
		how = "same layer"
	printf("layers: %s (layer %d) %s %s (layer %d): %s\n", from,
	    layer[from], what, to, layer[to], how)
	bad = 1
}
END {
	for (m in mod)
		if (!(m in layer)) {
			printf("layers: src/%s.* is not in the layer table " \
			    "of tests/layers.sh\n", m)
			bad = 1
		}
	for (s in dup) {
		printf("layers: %s is defined by both of %s\n", s, dup[s])
		bad = 1
	}
	for (key in need) {
		split(key, p, SUBSEP)
		if (!(p[2] in def) || def[p[2]] == p[1])
			continue
		to = def[p[2]]
		if ((p[1], to) in calls)
			calls[p[1], to] = calls[p[1], to] ", " p[2]
		else
			calls[p[1], to] = p[2]
	}
	for (key in calls) {
		split(key, p, SUBSEP)
		check(p[1], p[2], "calls " calls[key] " in")
		print p[1], p[2] > edges
	}
	for (key in inc) {
		split(key, p, SUBSEP)
		check(p[1], p[2], "includes " p[2] ".h (in " inc[key] ") of")
		print p[1], p[2] > edges
	}
	close(edges)
	close(hedges)
	exit bad
}' "$tmp/syms" "$tmp/includes"
rc=$?
[ "$shadow" -eq 0 ] || rc=1

# The circles, by name: a depth-first search that reports each edge
# leading back to a file still on its path.
touch "$tmp/edges" "$tmp/hedges"
for g in hedges:"headers include each other" \
    edges:"files depend on each other"; do
	awk -v what="${g#*:}" '
	!(($1, $2) in seen) { seen[$1, $2] = 1; out[$1] = out[$1] " " $2 }
	function visit(v, path,    k, n, i, w) {
		state[v] = 1
		onpath[v] = path
		n = split(out[v], w, " ")
		for (i = 1; i <= n; i++) {
			if (state[w[i]] == 1) {
				k = substr(path, index(path, " " w[i] " ") + 1)
				sub(/ $/, "", k)
				gsub(/ /, " -> ", k)
				printf("layers: %s in a circle: %s -> %s\n",
				    what, k, w[i])
				bad = 1
			} else if (state[w[i]] == 0)
				visit(w[i], path w[i] " ")
		}
		state[v] = 2
	}
	END {
		for (v in out)
			if (state[v] == 0)
				visit(v, " " v " ")
		exit bad
	}' "$tmp/${g%%:*}" || rc=1
done

# LAYERS_GRAPH=1: the uses themselves, "FILE USED", for a reader.
[ -n "${LAYERS_GRAPH:-}" ] && sort -u "$tmp/edges"

if [ "$rc" -eq 0 ]; then
	echo "layers: $(wc -l < "$tmp/edges") uses between the files of src/," \
	    "every one downward"
fi
exit "$rc"
