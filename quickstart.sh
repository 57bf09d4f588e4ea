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
if [ -n "$missing" ]; then
	echo "quickstart: installing:$missing" >&2
	if command -v apt-get >/dev/null 2>&1; then
		sudo=""
		[ "$(id -u)" -eq 0 ] || sudo=sudo
		$sudo apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
	else
		echo "quickstart: please install:$missing (no apt-get here)" >&2
		exit 1
	fi
fi

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
