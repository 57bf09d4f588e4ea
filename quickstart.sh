#!/bin/sh
# quickstart.sh: from a fresh checkout to a running demo or a tested build.
#   ./quickstart.sh demo   install what is missing, build, run the main job
#   ./quickstart.sh test   install what is missing, build, run make check
# Builds out of tree in ./_build. CONFIGURE_FLAGS adds configure options.
set -eu

usage() {
	echo "usage: $0 demo|test" >&2
	exit 2
}
[ $# -eq 1 ] || usage
case "$1" in demo|test) ;; -h|--help) echo "usage: $0 demo|test"; exit 0 ;; *) usage ;; esac

top=$(cd "$(dirname "$0")" && pwd)

# What the build and the tests need, as Debian package names.
missing=""
need() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }
need autoreconf autoconf
need automake automake
need libtoolize libtool
need pkg-config pkg-config
need make make
need cc gcc
need python3 python3
need curl curl
need strace strace
need mandoc mandoc
# liburing-dev: the io_uring backend (configure leaves it out without).
if command -v pkg-config >/dev/null 2>&1; then
	pkg-config --exists check 2>/dev/null || missing="$missing check"
	pkg-config --exists liburing 2>/dev/null || missing="$missing liburing-dev"
else
	missing="$missing check liburing-dev"
fi
install_missing() {
	[ -n "$missing" ] || return 0
	echo "quickstart: installing:$missing" >&2
	if command -v apt-get >/dev/null 2>&1; then
		sudo=""
		[ "$(id -u)" -eq 0 ] || sudo=sudo
		$sudo apt-get update -qq
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
	else
		echo "quickstart: please install:$missing (no apt-get here)" >&2
		exit 1
	fi
	missing=""
}
install_missing

# The Python package (python/), for the python3 found first: its headers
# (python3-dev) to build it; for the tests also pip (test_install.sh builds
# python/ with it) and CPython's own test package, which Debian ships apart
# (libpython3.X-testsuite), since they run CPython's selector and asyncio
# suites against pollux.
pyver=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
python3 -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' ||
	missing="$missing python3-dev"
if [ "$1" = test ]; then
	python3 -m pip --version >/dev/null 2>&1 || missing="$missing python3-pip"
	python3 -c 'import test.test_selectors, test.test_asyncio.test_events' 2>/dev/null ||
		missing="$missing libpython$pyver-testsuite"
fi
install_missing

cd "$top"
mkdir -p _build
log=_build/build.log
# One line while it builds; the whole log only when something fails.
echo "quickstart: building in _build/ (log: $log)" >&2
jobs=$(nproc 2>/dev/null || echo 2)
# shellcheck disable=SC2086
if ! { autoreconf -fi && cd _build && ../configure -q ${CONFIGURE_FLAGS:-} &&
	make -s -j"$jobs"; } >"$top/$log" 2>&1; then
	cat "$top/$log" >&2
	echo "quickstart: the build failed; the log above is in $log" >&2
	exit 1
fi
cd "$top/_build"
sed -n 's/^configure: backends: /quickstart: backends: /p' build.log >&2

case "$1" in
demo)
	if command -v gnuplot >/dev/null 2>&1; then
		exec tools/pollux-scale --quick --plot scale-quick.svg
	fi
	exec tools/pollux-scale --quick
	;;
test)
	make -j"$jobs" check
	;;
esac
