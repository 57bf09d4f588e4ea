#!/bin/sh
# test_python.sh BACKEND: the Python package pollux on one backend, as
# built in this tree: CPython's selector and asyncio suites against
# PolluxSelector (tests/python_suite.py), then each example in
# python/examples/ driven by pollux-load in echo mode on the same backend.
# Exit 77 (not run) when the package is not built or Python's test package
# is missing, never 0.
: "${top_builddir:?run through make check}" "${top_srcdir:?run through make check}"
b=${1:?usage: test_python.sh BACKEND}

if [ "$POLLUX_PYTHON_BUILT" != yes ]; then
	echo "not run: the Python package is not built in this tree (configure" \
		"found no Python 3 with its headers, python3-dev, or was given" \
		"--without-python)"
	exit 77
fi
py=$POLLUX_PYTHON
inplace=$top_builddir/python/inplace
if [ ! -f "$inplace/pollux/_pollux.so" ]; then
	echo "not run: no $inplace/pollux/_pollux.so (a build without shared libraries?)"
	exit 77
fi
if ! "$py" -c 'import test.test_selectors, test.test_asyncio.test_events' 2>/dev/null; then
	v=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
	echo "not run: $py has no CPython test package (test.test_selectors," \
		"test.test_asyncio); on Debian: apt-get install libpython$v-testsuite"
	exit 77
fi

PYTHONPATH=$inplace${PYTHONPATH:+:$PYTHONPATH}
LD_LIBRARY_PATH=$top_builddir/lib/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH LD_LIBRARY_PATH PYTHONDONTWRITEBYTECODE

# A sanitized build (ASan, UBSan) makes a module that the interpreter, not
# built with them, can load only with the sanitizer runtimes loaded first.
# Leak checking is for our code, not the interpreter's arenas it never
# frees at exit: off for the Python processes (the C suites keep it).
san=$(ldd "$inplace/pollux/_pollux.so" 2>/dev/null |
	awk '$1 ~ /^lib(asan|ubsan)\.so/ && $3 ~ /^\// { printf "%s ", $3 }')
if [ -n "$san" ]; then
	LD_PRELOAD="$san${LD_PRELOAD:+ $LD_PRELOAD}"
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	export LD_PRELOAD ASAN_OPTIONS
	echo "sanitized build: LD_PRELOAD=$LD_PRELOAD, detect_leaks=0 for Python"
fi

rc=0
"$py" "$top_srcdir/tests/python_suite.py" "$b" || rc=$?
[ "$rc" -eq 0 ] || exit "$rc"

# ---- the examples, driven by pollux-load --------------------------------
load=$top_builddir/tools/pollux-load
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollux-py.XXXXXX") || exit 1
pid=
cleanup() {
	[ -z "$pid" ] || kill "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
fails=0
for ex in echo_select echo_selectors echo_asyncio; do
	mkfifo "$tmp/out"
	POLLUX_BACKEND=$b "$py" "$top_srcdir/python/examples/$ex.py" 0 \
		>"$tmp/out" 2>"$tmp/err" &
	pid=$!
	# The example's first line, or end of file if it died first.
	exec 3<"$tmp/out"
	line=
	read -r line <&3 || true
	case $line in
	"listening on 127.0.0.1:"*" (pollux backend $b)")
		addr=${line#listening on }
		addr=${addr%% *}
		if "$load" -b "$b" -c 20 -t 2 -n 4000 --timeout 10 --proto echo \
			"$addr" >"$tmp/load" 2>&1 &&
			grep -q 'request errors: none' "$tmp/load"; then
			echo "PASS: $ex on $b: $(grep -o '[0-9.]* req/s' "$tmp/load")"
		else
			echo "FAIL: $ex on $b: pollux-load:" >&2
			cat "$tmp/load" >&2
			fails=$((fails + 1))
		fi ;;
	*)
		echo "FAIL: $ex on $b did not start: '$line'" >&2
		cat "$tmp/err" >&2
		fails=$((fails + 1)) ;;
	esac
	kill "$pid" 2>/dev/null
	wait "$pid"
	st=$?
	pid=
	exec 3<&-
	rm -f "$tmp/out"
	# SIGTERM is the examples' way out: they exit 0.
	if [ "$st" -ne 0 ]; then
		echo "FAIL: $ex on $b exited $st after SIGTERM" >&2
		cat "$tmp/err" >&2
		fails=$((fails + 1))
	fi
done
echo "examples on $b: $((3 - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
