#!/bin/sh
# man-lint.sh: mandoc -Tlint -W warning finds nothing in the library's
# pages, pollux-python(3), pollux-bench(1), pollux-lab(1) and the course,
# pollux-labs(7).
# Skipped (77) when mandoc is not installed.

: "${top_srcdir:?run through make check}"
command -v mandoc >/dev/null 2>&1 || { echo "SKIP: mandoc not installed"; exit 77; }

pages="pollux.3 pollux_new.3 pollux_free.3 pollux_add.3 pollux_mod.3
pollux_del.3 pollux_wait.3 pollux_reinit.3 pollux_backends.3 pollux_backend.3
pollux_features.3 pollux_count.3 pollux_version.3 pollux_wait_ns.3
pollux_wake.3 pollux_close.3 pollux-python.3 pollux-bench.1
pollux-lab.1 pollux-labs.7"
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
