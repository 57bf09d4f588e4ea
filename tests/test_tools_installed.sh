#!/bin/sh
# test_tools_installed.sh: the tools are built on pollux.h alone. `make
# install DESTDIR=tmp`, then every tools/ source is compiled and linked
# with `pkg-config --cflags --libs pollux` pointing into DESTDIR, -I for
# tools/common only (the sources, and the build's generated
# tools/common/toolconfig.h, which holds the tools' own feature checks and
# none of the library's backend switches), and nothing from lib/. Each
# program then runs against the installed library. Anything missing is a
# FAILURE, never a skip. Writes only into one mktemp directory.

fail() {
	echo "test_tools_installed: FAIL: $*" >&2
	exit 1
}

[ -n "$top_builddir" ] && [ -n "$top_srcdir" ] ||
	fail "top_builddir or top_srcdir is not set; run through make check"
env_file="$top_builddir/tests/install-env.sh"
[ -r "$env_file" ] || fail "$env_file missing; run through make check"
getvar() { sed -n "s/^$1=//p" "$env_file"; }
CC=$(getvar CC)
CFLAGS=$(getvar CFLAGS)
# configure's own -I options (libkqueue's include directory on Linux),
# never the source tree's lib/.
CPPFLAGS=$(getvar CPPFLAGS)
LDFLAGS=$(getvar LDFLAGS)
MAKE=$(getvar MAKE)
PKG_CONFIG=$(getvar PKG_CONFIG)
libdir=$(getvar libdir)
pkgconfigdir=$(getvar pkgconfigdir)
WARN_CFLAGS=$(getvar WARN_CFLAGS)
PTHREAD_CFLAGS=$(getvar PTHREAD_CFLAGS)
PTHREAD_LIBS=$(getvar PTHREAD_LIBS)
URING_CFLAGS=$(getvar URING_CFLAGS)
URING_LIBS=$(getvar URING_LIBS)
KQUEUE_LIBS=$(getvar KQUEUE_LIBS)
LIBS=$(getvar LIBS)
[ -n "$CC" ] && [ -n "$libdir" ] && [ -n "$pkgconfigdir" ] ||
	fail "$env_file is incomplete"
[ -n "$PKG_CONFIG" ] || fail "configure found no pkg-config; install it"
toolconfig="$top_builddir/tools/common/toolconfig.h"
[ -f "$toolconfig" ] || fail "$toolconfig missing (configure writes it)"

src=$top_srcdir
# The boundary, read from the sources: no tool names the library's
# internals or its backend switches.
if grep -rn 'HAVE_BACKEND_\|^[ 	]*#[ 	]*include.*\(lib/\|backend\.h\|core\.h\)' \
	"$src/tools" --include='*.c' --include='*.h'; then
	fail "a tools/ source uses the library's internals (above)"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollux-tools.XXXXXX") || fail "mktemp -d failed"
trap 'rm -rf "$tmp"' EXIT HUP INT TERM
dest="$tmp/dest"

if ! ${MAKE:-make} -C "$top_builddir" install DESTDIR="$dest" \
	>"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log" >&2
	fail "make install DESTDIR=$dest failed (log above)"
fi

PKG_CONFIG_LIBDIR="$dest$pkgconfigdir"
PKG_CONFIG_PATH="$dest$pkgconfigdir"
PKG_CONFIG_SYSROOT_DIR="$dest"
export PKG_CONFIG_LIBDIR PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
pc_cflags=$($PKG_CONFIG --cflags pollux) || fail "pkg-config --cflags pollux failed"
pc_libs=$($PKG_CONFIG --libs pollux) || fail "pkg-config --libs pollux failed"
case "$pc_libs" in
*"$dest"*) ;;
*) fail "pkg-config --libs pollux gives '$pc_libs', not the DESTDIR copy" ;;
esac

# The value of a Makefile fragment's variable, continuation lines joined.
amvar() {
	sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$src/$1" |
		sed -n "s/^$2[ 	]*+*=[ 	]*//p" | tr '\n' ' '
}

# No config.h on this path: a tool that included the library's would not
# compile here.
inc="-I$src/tools/common -I$top_builddir/tools/common"
# shellcheck disable=SC2086
compile() { # OBJ SRC EXTRA...
	o=$1
	c=$2
	shift 2
	$CC $CPPFLAGS $CFLAGS $WARN_CFLAGS $PTHREAD_CFLAGS $URING_CFLAGS $inc $pc_cflags "$@" \
		-c "$src/$c" -o "$o" 2>>"$tmp/cc.log" ||
		{ cat "$tmp/cc.log" >&2; fail "$c does not compile against the installed pollux.h"; }
}

# tools/common, once.
common_objs=
for c in $(amvar Makefile.am tools_common_libcommon_a_SOURCES); do
	case $c in *.c) ;; *) continue ;; esac
	o="$tmp/$(echo "$c" | tr / _).o"
	compile "$o" "$c"
	common_objs="$common_objs $o"
done
[ -n "$common_objs" ] || fail "no tools/common sources found in Makefile.am"

# The lab's deliberately wrong fdset program, twice (tools/lab/local.am).
naive_objs=
for v in fortified plain; do
	c=$(amvar tools/lab/local.am "tools_lab_libnaive_${v}_a_SOURCES" | tr ' ' '\n' | grep '\.c$')
	d=$(amvar tools/lab/local.am "tools_lab_libnaive_${v}_a_CPPFLAGS" | tr ' ' '\n' | grep '^-D')
	o="$tmp/naive_$v.o"
	# shellcheck disable=SC2086
	compile "$o" "$c" $d -O2
	naive_objs="$naive_objs $o"
done

built=
for tool in server load scale bench lab; do
	am=tools/$tool/local.am
	sources=$(amvar "$am" "tools_pollux_${tool}_SOURCES")
	[ -n "$sources" ] || fail "no tools_pollux_${tool}_SOURCES in $am"
	objs=
	for c in $sources; do
		case $c in *.c) ;; *) continue ;; esac
		o="$tmp/${tool}_$(echo "$c" | tr / _).o"
		compile "$o" "$c"
		objs="$objs $o"
	done
	extra=
	[ "$tool" = lab ] && extra=$naive_objs
	# shellcheck disable=SC2086
	$CC $CFLAGS $PTHREAD_CFLAGS $objs $extra $common_objs -o "$tmp/pollux-$tool" \
		$LDFLAGS $pc_libs $URING_LIBS $KQUEUE_LIBS $PTHREAD_LIBS $LIBS \
		2>>"$tmp/cc.log" ||
		{ cat "$tmp/cc.log" >&2; fail "pollux-$tool does not link against the installed libpollux"; }
	built="$built pollux-$tool"
done

# They run against the installed library, and it is the one they found.
version=$($PKG_CONFIG --modversion pollux)
LD_LIBRARY_PATH="$dest$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
want=$("$top_builddir/tools/pollux-server" --list-backends) ||
	fail "the build's pollux-server --list-backends failed"
for t in $built; do
	out=$("$tmp/$t" --version) || fail "installed-built $t --version exits $?"
	[ "$out" = "$t (pollux) $version" ] || fail "$t --version prints '$out'"
	out=$("$tmp/$t" --list-backends) || fail "$t --list-backends exits $?"
	[ "$out" = "$want" ] || fail "$t --list-backends prints '$out', want '$want'"
done
# One real run: the pipe benchmark on every backend, through the
# installed library.
"$tmp/pollux-bench" -p 10 -r 1 --csv - >"$tmp/bench.csv" 2>"$tmp/bench.err" ||
	fail "installed-built pollux-bench failed: $(cat "$tmp/bench.err")"
rows=$(($(wc -l <"$tmp/bench.csv") - 1))
[ "$rows" -eq "$(printf '%s\n' "$want" | wc -l)" ] ||
	fail "installed-built pollux-bench measured $rows backends: $(cat "$tmp/bench.csv")"
echo "test_tools_installed: ok:$built built from pollux.h and libpollux $version" \
	"installed in DESTDIR, -I tools/common only"
exit 0
