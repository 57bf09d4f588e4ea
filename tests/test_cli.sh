#!/bin/sh
# test_cli.sh: the tools speak one command-line language
# (tools/common/CONVENTIONS.md): the same wrong usage gives the same one
# line from every tool, with exit status 2 and nothing on stdout; --help
# starts with "Usage:" and exits 0; --version prints the pollux version;
# --list-backends lists the same backends everywhere; a backend name is
# judged the same way, from -b or from POLLUX_BACKEND.
#
# tests/test_cli_unbuilt.sh runs the part about a backend pollux knows but
# this build lacks (CLI_PART=unbuilt): not run (exit 77) when every
# backend is built, never a pass.
#
# Every command is bounded by timeout(1); none listens anywhere but port 0
# on 127.0.0.1, and each should stop at its options.

: "${top_builddir:?run through make check}"
TOOLS="pollux-server pollux-load pollux-bench pollux-scale pollux-lab"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_cli.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT HUP INT TERM
fails=0
checks=0

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# run TOOL ARGS...: runs it, stdout and stderr in $tmp, status in $st.
run() {
	t=$1
	shift
	timeout 60 env ${ENVSET:+"$ENVSET"} "$top_builddir/tools/$t" "$@" \
		>"$tmp/out" 2>"$tmp/err" </dev/null
	st=$?
}
ENVSET=

# usage TOOL WANT ARGS...: exit 2, nothing on stdout, and stderr is exactly
# the one line WANT.
usage() {
	t=$1
	want=$2
	shift 2
	checks=$((checks + 1))
	run "$t" "$@"
	got=$(cat "$tmp/err")
	[ "$st" -eq 2 ] || fail "$t $*: exit $st, want 2 ($got)"
	[ -s "$tmp/out" ] && fail "$t $*: wrote to stdout: $(head -c 200 "$tmp/out")"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$t $*: not one line on stderr: $got"
	[ "$got" = "$want" ] || fail "$t $*: said
	  '$got', want
	  '$want'"
}

# usage_re TOOL REGEX ARGS...: as usage, with a basic regular expression
# for the line (the range of a value is the option's own).
usage_re() {
	t=$1
	re=$2
	shift 2
	checks=$((checks + 1))
	run "$t" "$@"
	got=$(cat "$tmp/err")
	[ "$st" -eq 2 ] || fail "$t $*: exit $st, want 2 ($got)"
	[ -s "$tmp/out" ] && fail "$t $*: wrote to stdout"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$t $*: not one line on stderr: $got"
	printf '%s\n' "$got" | grep -qx -- "$re" || fail "$t $*: said
	  '$got', which does not match
	  '$re'"
}

# What this build has, from the library through a tool, and what pollux
# knows (pollux_new(3)).
built=$("$top_builddir/tools/pollux-server" --list-backends) ||
	{ echo "FAIL: pollux-server --list-backends exits $?" >&2; exit 1; }
[ -n "$built" ] || { echo "FAIL: no backend listed" >&2; exit 1; }
list=$(printf '%s\n' "$built" | paste -sd, - | sed 's/,/, /g')
unbuilt=
for b in select poll epoll kqueue uring; do
	printf '%s\n' "$built" | grep -qx "$b" || { unbuilt=$b; break; }
done

if [ "${CLI_PART:-}" = unbuilt ]; then
	if [ -z "$unbuilt" ]; then
		echo "not run: every backend pollux knows is built here" \
			"($list), so none is known but not built"
		exit 77
	fi
	for t in $TOOLS; do
		usage "$t" "$t: -b '$unbuilt': known to pollux but not built into this libpollux; built here: $list (see $t --help)" \
			-b "$unbuilt"
		usage "$t" "$t: --backend '$unbuilt': known to pollux but not built into this libpollux; built here: $list (see $t --help)" \
			--backend="$unbuilt"
	done
	ENVSET="POLLUX_BACKEND=$unbuilt"
	usage pollux-server "pollux-server: POLLUX_BACKEND='$unbuilt': known to pollux but not built into this libpollux; built here: $list (see pollux-server --help)" \
		-l 127.0.0.1:0
	usage pollux-bench "pollux-bench: POLLUX_BACKEND='$unbuilt': known to pollux but not built into this libpollux; built here: $list (see pollux-bench --help)" \
		-b auto -p 1 -r 1
	usage pollux-scale "pollux-scale: POLLUX_BACKEND='$unbuilt': known to pollux but not built into this libpollux; built here: $list (see pollux-scale --help)" \
		--fds 0 -d 0.1 -w 0
	usage pollux-lab "pollux-lab: POLLUX_BACKEND='$unbuilt': known to pollux but not built into this libpollux; built here: $list (see pollux-lab --help)" \
		framing
	usage pollux-load "pollux-load: POLLUX_BACKEND='$unbuilt': known to pollux but not built into this libpollux; built here: $list (see pollux-load --help)" \
		-n 1 127.0.0.1:9
	ENVSET=
	[ "$fails" -eq 0 ] || exit 1
	echo "test_cli: $checks checks of '$unbuilt' (known, not built) passed"
	exit 0
fi

version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/config.h")
[ -n "$version" ] || { echo "FAIL: no PACKAGE_VERSION in config.h" >&2; exit 1; }

for t in $TOOLS; do
	# --help, --version, --list-backends
	checks=$((checks + 3))
	run "$t" --help
	[ "$st" -eq 0 ] || fail "$t --help: exit $st"
	[ -s "$tmp/err" ] && fail "$t --help: wrote to stderr: $(cat "$tmp/err")"
	head -c 7 "$tmp/out" | grep -qx 'Usage: ' || fail "$t --help starts: $(head -n 1 "$tmp/out")"
	grep -q -- '--list-backends' "$tmp/out" || fail "$t --help lacks --list-backends"
	grep -q -- '-q, --quiet' "$tmp/out" || fail "$t --help lacks -q, --quiet"
	run "$t" --version
	[ "$st" -eq 0 ] || fail "$t --version: exit $st"
	[ "$(cat "$tmp/out")" = "$t (pollux) $version" ] ||
		fail "$t --version prints '$(cat "$tmp/out")', want '$t (pollux) $version'"
	run "$t" --list-backends
	[ "$st" -eq 0 ] || fail "$t --list-backends: exit $st"
	[ "$(cat "$tmp/out")" = "$built" ] || fail "$t --list-backends: $(cat "$tmp/out")"

	# The same mistakes, the same lines.
	usage "$t" "$t: unknown option '--no-such-option' (see $t --help)" --no-such-option
	usage "$t" "$t: unknown option '--no-such-option' (see $t --help)" --no-such-option=1
	usage "$t" "$t: unknown option '-Z' (see $t --help)" -Z
	usage "$t" "$t: unknown option '-Z' (see $t --help)" -qZ
	usage "$t" "$t: option '--help' takes no value (see $t --help)" --help=foo
	usage "$t" "$t: option '--quiet' takes no value (see $t --help)" --quiet=yes
	usage "$t" "$t: option '-b' needs a value (see $t --help)" -b
	usage "$t" "$t: option '--backend' needs a value (see $t --help)" --backend
	usage "$t" "$t: -b 'nonsense': unknown backend; built here: $list (see $t --help)" -b nonsense
	usage "$t" "$t: --backend 'nonsense': unknown backend; built here: $list (see $t --help)" --backend=nonsense
	usage "$t" "$t: -b 'nonsense': unknown backend; built here: $list (see $t --help)" -qbnonsense
done

# A bad number names the option as typed, long or short.
num() { echo "$1: $2 'abc': expected a whole number from [0-9]* to [0-9]* (see $1 --help)"; }
usage_re pollux-server "$(num pollux-server --workers)" --workers abc
usage_re pollux-server "$(num pollux-server --workers)" --workers=abc
usage_re pollux-bench "$(num pollux-bench --pairs)" --pairs abc
usage_re pollux-bench "$(num pollux-bench -p)" -p abc
usage_re pollux-bench "$(num pollux-bench -p)" -qpabc
usage_re pollux-scale "$(num pollux-scale --active)" --active abc
usage_re pollux-scale "$(num pollux-scale -a)" -a abc
usage_re pollux-load "$(num pollux-load --connections)" --connections abc
usage_re pollux-load "$(num pollux-load -c)" -c abc
usage_re pollux-load "$(num pollux-load -a)" -qaabc
# (pollux-lab has no count option.)

# A list or all where a tool runs one backend: the wrong kind of value,
# not an unknown name (both names of the list are built).
one() {
	echo "$1: -b '$2': expected one backend name or auto (this tool runs one backend, not a list or all) (see $1 --help)"
}
usage pollux-server "$(one pollux-server epoll,poll)" -b epoll,poll
usage pollux-load "$(one pollux-load all)" -b all 127.0.0.1:9
usage pollux-lab "$(one pollux-lab epoll,poll)" -b epoll,poll framing

# What the user typed is shown, control characters as escapes: the line
# stays one line and drives no terminal.
usage pollux-lab "pollux-lab: no lesson 'x\\e[31m\\r'; the lessons are: $(
	"$top_builddir/tools/pollux-lab" list | awk '{print $1}' | paste -sd, - |
	sed 's/,/, /g') (or all, list) (see pollux-lab --help)" "$(printf 'x\033[31m\r')"

# A bad duration: the same words, with the option's range, and "0 (off) or"
# where 0 turns the feature off.
dur() {
	echo "$1: $2 '5x': expected \\(0 (off) or \\)\\{0,1\\}a duration from [0-9.]*[umsh]* to [0-9.]*[umsh]*, such as \\(250us, \\)\\{0,1\\}500ms, 10s or 2m (a plain number is seconds) (see $1 --help)"
}
usage_re pollux-server "$(dur pollux-server --idle-timeout)" --idle-timeout 5x
usage_re pollux-server "$(dur pollux-server --stats-interval)" --stats-interval 5x
usage_re pollux-bench "$(dur pollux-bench --max-time)" --max-time 5x
usage_re pollux-scale "$(dur pollux-scale -d)" -d 5x
usage_re pollux-scale "$(dur pollux-scale --warmup)" --warmup 5x
usage_re pollux-lab "$(dur pollux-lab -d)" -d 5x framing
usage_re pollux-lab "$(dur pollux-lab --duration)" --duration=5x framing
usage_re pollux-load "$(dur pollux-load -d)" -d 5x 127.0.0.1:9
usage_re pollux-load "$(dur pollux-load --warmup)" --warmup=5x 127.0.0.1:9
usage_re pollux-load "$(dur pollux-load --timeout)" --timeout 5x 127.0.0.1:9

# A duration with a unit is taken where a duration is asked for: these
# stop at a later, deliberate mistake, not at the duration.
usage pollux-server "pollux-server: unexpected argument 'stray' (see pollux-server --help)" \
	--idle-timeout 1.5s --stats-interval 500ms stray
usage pollux-bench "pollux-bench: unexpected argument 'stray' (see pollux-bench --help)" \
	--max-time 2m stray
usage pollux-scale "pollux-scale: unexpected argument 'stray' (see pollux-scale --help)" \
	-d 250ms -w 1m stray
usage pollux-lab "pollux-lab: one lesson at a time, not 'stray' after 'framing' (see pollux-lab --help)" \
	-d 10s framing stray
usage pollux-load "pollux-load: unexpected argument 'stray' (see pollux-load --help)" \
	-d 250ms --warmup 1m --timeout 1.5s 127.0.0.1:9 stray

# -q is quiet everywhere: it takes no value and is not --quick.
for t in pollux-scale pollux-lab; do
	usage "$t" "$t: option '--quick' takes no value (see $t --help)" --quick=1
done

# POLLUX_BACKEND naming no backend: the same line, naming the variable,
# before any work (the server would listen, the others measure).
ENVSET=POLLUX_BACKEND=nonsense
usage pollux-server "pollux-server: POLLUX_BACKEND='nonsense': unknown backend; built here: $list (see pollux-server --help)" \
	-l 127.0.0.1:0
usage pollux-bench "pollux-bench: POLLUX_BACKEND='nonsense': unknown backend; built here: $list (see pollux-bench --help)" \
	-b auto -p 1 -r 1
usage pollux-scale "pollux-scale: POLLUX_BACKEND='nonsense': unknown backend; built here: $list (see pollux-scale --help)" \
	--fds 0 -d 0.1 -w 0
usage pollux-lab "pollux-lab: POLLUX_BACKEND='nonsense': unknown backend; built here: $list (see pollux-lab --help)" \
	framing
usage pollux-load "pollux-load: POLLUX_BACKEND='nonsense': unknown backend; built here: $list (see pollux-load --help)" \
	-n 1 127.0.0.1:9
# An explicit -b does not consult it.
checks=$((checks + 1))
first=$(printf '%s\n' "$built" | head -n 1)
run pollux-bench -b "$first" -p 1 -r 1 -q
[ "$st" -eq 0 ] || fail "pollux-bench -b $first with POLLUX_BACKEND=nonsense: exit $st: $(cat "$tmp/err")"
ENVSET=

# An output file that cannot be created: the same one line from every
# tool, exit 1 (a failure, not bad usage), before any work.
unwritable() { # TOOL ARGS...
	t=$1
	shift
	checks=$((checks + 1))
	run "$t" "$@"
	want="$t: --json '/proc/x': cannot create it: No such file or directory; check that the directory exists and is writable"
	[ "$st" -eq 1 ] || fail "$t $*: exit $st, want 1 ($(cat "$tmp/err"))"
	[ "$(cat "$tmp/err")" = "$want" ] || fail "$t $*: said
	  '$(cat "$tmp/err")', want
	  '$want'"
}
unwritable pollux-server --json /proc/x -l 127.0.0.1:0
unwritable pollux-bench --json /proc/x -p 1 -r 1
unwritable pollux-scale --json /proc/x --fds 0 -d 0.1 -w 0
unwritable pollux-lab framing --quick --json /proc/x
unwritable pollux-load --json /proc/x -n 1 127.0.0.1:9

[ "$fails" -eq 0 ] || { echo "test_cli: $fails of $checks checks failed" >&2; exit 1; }
echo "test_cli: $checks checks passed over $TOOLS"
exit 0
