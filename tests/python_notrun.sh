#!/bin/sh
# python_notrun.sh: the Python cases a backend of this build is not held to
# (NOT_RUN in tests/python_suite.py, each with its reason), for every backend
# built. SKIP (77) when there are any, so that they count as not run, never
# as passed; PASS when every case runs; FAIL when a mark names no case.
: "${top_builddir:?run through make check}" "${top_srcdir:?run through make check}"
if [ "$POLLUX_PYTHON_BUILT" != yes ]; then
	echo "not run: the Python package is not built in this tree"
	exit 77
fi
PYTHONPATH=$top_builddir/python/inplace${PYTHONPATH:+:$PYTHONPATH}
LD_LIBRARY_PATH=$top_builddir/lib/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH LD_LIBRARY_PATH PYTHONDONTWRITEBYTECODE
san=$(ldd "$top_builddir/python/inplace/pollux/_pollux.so" 2>/dev/null |
	awk '$1 ~ /^lib(asan|ubsan)\.so/ && $3 ~ /^\// { printf "%s ", $3 }')
if [ -n "$san" ]; then
	LD_PRELOAD="$san${LD_PRELOAD:+ $LD_PRELOAD}"
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	export LD_PRELOAD ASAN_OPTIONS
fi
backends=$("$POLLUX_PYTHON" -c 'import pollux; print(" ".join(pollux.backends()))') || exit 1
skip=0
for b in $backends; do
	"$POLLUX_PYTHON" "$top_srcdir/tests/python_suite.py" "$b" --not-run
	case $? in
	0) ;;
	77) skip=1 ;;
	*) echo "python_notrun: $b: python_suite.py --not-run failed" >&2; exit 1 ;;
	esac
done
[ "$skip" -eq 0 ] || exit 77
