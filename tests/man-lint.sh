#!/bin/sh
# man-lint.sh: mandoc -Tlint -W warning finds nothing in any manual page
# of man/: the library's, the tools' and the course's. Skipped (77) when
# mandoc is not installed (./quickstart.sh test installs it).

: "${top_srcdir:?run through make check}"
command -v mandoc >/dev/null 2>&1 || { echo "SKIP: mandoc not installed"; exit 77; }

# Every page in man/, so that a new one is linted without a change here.
# Symbolic links (pollux_mod.3 -> pollux_add.3) are their target's text.
pages=$(cd "$top_srcdir/man" && for f in *.[1-9]; do [ -L "$f" ] || echo "$f"; done)
[ -n "$pages" ] || { echo "FAIL: no manual pages in $top_srcdir/man" >&2; exit 1; }
fails=0
for p in $pages; do
	f="$top_srcdir/man/$p"
	if [ ! -s "$f" ]; then
		echo "FAIL: $f is missing or empty" >&2
		fails=$((fails + 1))
		continue
	fi
	out=$(mandoc -Tlint -W warning "$f" 2>&1)
	if [ -n "$out" ]; then
		echo "FAIL: $p:" >&2
		echo "$out" >&2
		fails=$((fails + 1))
	fi
done
[ "$fails" -eq 0 ]
