#!/bin/sh
# test_install.sh: `make install DESTDIR=tmp`, then build and run a small
# program against the installed copy through `pkg-config --cflags --libs
# pollux`, shared and static. Anything missing is a FAILURE, never a skip.
# Writes only into one mktemp directory, which it removes.

fail() {
	echo "test_install: FAIL: $*" >&2
	exit 1
}

[ -n "$top_builddir" ] || fail "top_builddir is not set; run through make check"
env_file="$top_builddir/tests/install-env.sh"
[ -r "$env_file" ] || fail "$env_file missing; run through make check"

# CC, CFLAGS, prefix and friends exactly as make knows them, one NAME=VALUE
# per line (values are not shell-quoted, so read them with sed).
getvar() { sed -n "s/^$1=//p" "$env_file"; }
CC=$(getvar CC)
CFLAGS=$(getvar CFLAGS)
LDFLAGS=$(getvar LDFLAGS)
MAKE=$(getvar MAKE)
PKG_CONFIG=$(getvar PKG_CONFIG)
libdir=$(getvar libdir)
includedir=$(getvar includedir)
pkgconfigdir=$(getvar pkgconfigdir)
if [ -z "$CC" ] || [ -z "$libdir" ] || [ -z "$includedir" ] ||
	[ -z "$pkgconfigdir" ]; then
	fail "$env_file is incomplete"
fi
[ -n "$PKG_CONFIG" ] || fail "configure found no pkg-config; install it"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollux-install.XXXXXX") ||
	fail "mktemp -d failed"
trap 'rm -rf "$tmp"' EXIT HUP INT TERM
dest="$tmp/dest"

# The libtool script tells whether shared and static libraries are built.
shared=yes
static=yes
if [ -x "$top_builddir/libtool" ]; then
	"$top_builddir/libtool" --config | grep -q '^build_libtool_libs=yes' ||
		shared=no
	"$top_builddir/libtool" --config | grep -q '^build_old_libs=yes' ||
		static=no
fi

# ---- install ---------------------------------------------------------------
# Not a recursive make of ours: keep its output out of the parent's
# jobserver business, and its log in the test log.
if ! ${MAKE:-make} -C "$top_builddir" install DESTDIR="$dest" \
	>"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log" >&2
	fail "make install DESTDIR=$dest failed (log above)"
fi

[ -f "$dest$includedir/pollux.h" ] ||
	fail "pollux.h not installed in $includedir"
[ -f "$dest$pkgconfigdir/pollux.pc" ] ||
	fail "pollux.pc not installed in $pkgconfigdir"
if [ "$shared" = yes ]; then
	ls "$dest$libdir"/libpollux.so* >/dev/null 2>&1 ||
		fail "no shared libpollux.so* in $libdir"
fi
if [ "$static" = yes ]; then
	[ -f "$dest$libdir/libpollux.a" ] ||
		fail "no static libpollux.a in $libdir"
fi

# Every installed header compiles on its own, warning-free under strict
# ISO C11 when the compiler takes those flags (GCC and Clang do).
strict="-std=c11 -pedantic-errors -Wall -Wextra -Werror"
echo 'int strict_probe;' >"$tmp/s.c"
# shellcheck disable=SC2086
$CC $strict -c "$tmp/s.c" -o "$tmp/s.o" 2>/dev/null || strict=
for h in "$dest$includedir"/*.h; do
	name=${h##*/}
	printf '#include <%s>\nint header_only_probe;\n' "$name" >"$tmp/h.c"
	# shellcheck disable=SC2086
	$CC $CFLAGS $strict -I"$dest$includedir" -c "$tmp/h.c" -o "$tmp/h.o" ||
		fail "installed header $name does not compile on its own" \
			"(flags: $CFLAGS $strict)"
done

# ---- pkg-config ------------------------------------------------------------
# Look only at the installed .pc, and let the sysroot map its prefix into
# DESTDIR (pkg-config and pkgconf both honour PKG_CONFIG_SYSROOT_DIR).
PKG_CONFIG_LIBDIR="$dest$pkgconfigdir"
PKG_CONFIG_PATH="$dest$pkgconfigdir"
PKG_CONFIG_SYSROOT_DIR="$dest"
export PKG_CONFIG_LIBDIR PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
pc_cflags=$($PKG_CONFIG --cflags pollux) ||
	fail "pkg-config --cflags pollux failed"
pc_libs=$($PKG_CONFIG --libs pollux) || fail "pkg-config --libs pollux failed"
version=$($PKG_CONFIG --modversion pollux) ||
	fail "pkg-config --modversion pollux failed"
case "$pc_libs" in
*-lpollux*) ;;
*) fail "pkg-config --libs pollux gives '$pc_libs', without -lpollux" ;;
esac
# With a sysroot, a system-wide install must not be what we found.
case "$pc_libs" in
*"$dest"*) ;;
*) fail "pkg-config --libs pollux gives '$pc_libs', not the DESTDIR copy" ;;
esac

cat >"$tmp/prog.c" <<'EOF'
/* A user of the installed libpollux: a pipe made readable is reported. */
#include <pollux.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	struct pollux_event ev[4];
	const char *const *b = pollux_backends();
	int fds[2], tag, n, i;

	for (i = 0; b != NULL && b[i] != NULL; i++) {
		pollux_t *p = pollux_new(b[i]);
		if (p == NULL || pipe(fds) != 0 ||
		    pollux_add(p, fds[0], POLLUX_IN, &tag) != 0 ||
		    write(fds[1], "x", 1) != 1)
			return 1;
		n = pollux_wait(p, ev, 4, 5000);
		if (n != 1 || ev[0].fd != fds[0] || ev[0].events != POLLUX_IN ||
		    ev[0].data != &tag || strcmp(pollux_backend(p), b[i]) != 0)
			return 2;
		printf("%s ", pollux_backend(p));
		pollux_free(p);
		close(fds[0]);
		close(fds[1]);
	}
	printf("%s\n", pollux_version());
	return i > 0 ? 0 : 3;
}
EOF

check_output() {
	out=$1
	what=$2
	case "$out" in
	*" $version") ;;
	*) fail "$what printed '$out', want the backends then version $version" ;;
	esac
}

if [ "$shared" = yes ]; then
	# shellcheck disable=SC2086
	$CC $CFLAGS $pc_cflags "$tmp/prog.c" -o "$tmp/prog" $LDFLAGS $pc_libs ||
		fail "cannot build a program with: $CC $pc_cflags prog.c $pc_libs"
	out=$(LD_LIBRARY_PATH="$dest$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
		"$tmp/prog") || fail "the program linked to the installed shared" \
		"libpollux failed (exit $?)"
	check_output "$out" "shared-linked program"
	echo "shared: $out"
fi
if [ "$static" = yes ]; then
	# What libpollux.a itself needs (Libs.private: -lkqueue where kqueue is
	# libkqueue), as pkg-config --static says, without -lpollux, which would
	# bring the shared library back in.
	pc_private=
	pc_static=$($PKG_CONFIG --static --libs pollux) ||
		fail "pkg-config --static --libs pollux failed"
	for w in $pc_static; do
		[ "$w" = -lpollux ] || pc_private="$pc_private $w"
	done
	# shellcheck disable=SC2086
	$CC $CFLAGS $pc_cflags "$tmp/prog.c" -o "$tmp/prog-static" $LDFLAGS \
		"$dest$libdir/libpollux.a" $pc_private ||
		fail "cannot build a program against the installed libpollux.a"
	out=$("$tmp/prog-static") ||
		fail "the program linked to libpollux.a failed (exit $?)"
	check_output "$out" "statically linked program"
	echo "static: $out"
fi

# ---- the Python package ----------------------------------------------------
# Installed by make install when configure built it: importable from
# pyexecdir over the installed library; and python/pyproject.toml builds it with
# pip, offline (--no-index), through the same pkg-config, from a copy of
# python/ (pip writes into the directory it builds, and distcheck's source
# tree is read-only).
have_python=$(getvar have_python)
if [ "$have_python" = yes ] && [ "$shared" = yes ]; then
	PYTHON=$(getvar PYTHON)
	pyexecdir=$(getvar pyexecdir)
	for f in __init__.py _selector.py _asyncio.py _pollux.so; do
		[ -f "$dest$pyexecdir/pollux/$f" ] ||
			fail "pollux/$f not installed in $pyexecdir"
	done
	# A sanitized build's module loads only with the runtimes first.
	san=$(ldd "$dest$libdir/libpollux.so" 2>/dev/null |
		awk '$1 ~ /^lib(asan|ubsan)\.so/ && $3 ~ /^\// { printf "%s ", $3 }')
	pyrun() {
		LD_PRELOAD="$san${LD_PRELOAD:+ $LD_PRELOAD}" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		LD_LIBRARY_PATH="$dest$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
		PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$1" "$PYTHON" -c '
import socket, sys, pollux
for b in pollux.backends():
    with pollux.PolluxSelector(b) as s:
        r, w = socket.socketpair()
        k = s.register(r, pollux.EVENT_READ, b)
        w.send(b"x")
        assert s.select(5) == [(k, pollux.EVENT_READ)], b
        r.close(); w.close()
print(" ".join(pollux.backends()), pollux.version())
'
	}
	out=$(pyrun "$dest$pyexecdir") ||
		fail "the installed Python package does not work (above)"
	check_output "$out" "the installed Python package"
	echo "python (make install): $out"
	cp -R "$top_srcdir/python" "$tmp/python-src" && chmod -R u+w "$tmp/python-src" ||
		fail "cannot copy python/"
	if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
		fail "$PYTHON has no pip (Debian: apt-get install python3-pip)"
	fi
	if ! (cd "$tmp" && "$PYTHON" -m pip install --no-index --no-cache-dir \
		--disable-pip-version-check --target "$tmp/pip-site" ./python-src) \
		>"$tmp/pip.log" 2>&1; then
		cat "$tmp/pip.log" >&2
		fail "pip install ./python against the installed libpollux failed"
	fi
	out=$(pyrun "$tmp/pip-site") ||
		fail "the Python package pip built does not work (above)"
	check_output "$out" "the Python package pip built"
	echo "python (pip install ./python): $out"
fi
echo "test_install: ok (installed $version, built through pkg-config)"
exit 0
