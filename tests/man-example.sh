#!/bin/bash
# man-example.sh: the echo server printed in pollux(3) (built from the page
# as man/example-echo) runs on every backend and echoes what it is sent.
# bash for its /dev/tcp connections; every wait is bounded.

: "${top_builddir:?run through make check}"
EX="$top_builddir/man/example-echo"
BENCH="$top_builddir/tools/pollux-bench"
tmp=$(mktemp -d) || exit 99
pid=
cleanup() {
	stop
	rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
stop() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	pid=
}

# The built backends, as the library lists them (through pollux-bench).
backends=$("$BENCH" --help | sed -n 's/.*default all built: \(.*\))$/\1/p')
[ -n "$backends" ] || { echo "FAIL: cannot list the backends" >&2; exit 1; }

# pollux_backends(3)'s program: the version configure gave the library,
# then one line per built backend, in the library's order, with what each
# can do (select without nolimit only where it is capped at FD_SETSIZE),
# each holding the one pipe it registered.
version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/config.h")
out=$("$top_builddir/man/example-backends" 2>&1)
want="libpollux $version"
for b in $backends; do
	case $b in
	epoll|uring|kqueue) f=" edge O(1) nolimit" ;;
	poll) f=" nolimit" ;;
	select) f=$(printf '%s\n' "$out" | grep -x 'select:\( nolimit\)\{0,1\}, 1 registered' |
	            sed 's/^select:\(.*\), 1 registered$/\1/') ;;
	*) f="?" ;;
	esac
	want="$want
$b:$f, 1 registered"
done
if [ "$out" != "$want" ]; then
	echo "FAIL: pollux_backends(3)'s example printed:" >&2
	printf '%s\n' "$out" >&2
	echo "FAIL: expected:" >&2
	printf '%s\n' "$want" >&2
	fails=$((fails + 1))
fi

for b in $backends; do
	rm -f "$tmp/fifo"
	mkfifo "$tmp/fifo" || exit 99
	POLLUX_BACKEND=$b "$EX" 0 >"$tmp/fifo" 2>"$tmp/err" &
	pid=$!
	# Its first line says where it listens; wait for it at most 10 s.
	exec 5<"$tmp/fifo"
	line=
	read -r -t 10 line <&5
	exec 5<&-
	port=$(echo "$line" | sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\) .*/\1/p')
	if [ -z "$port" ]; then
		echo "FAIL: $b: no listening line: '$line' $(cat "$tmp/err")" >&2
		fails=$((fails + 1))
		stop
		continue
	fi
	case $line in
	*"($b)") ;;
	*) echo "FAIL: $b: started as '$line'" >&2; fails=$((fails + 1)) ;;
	esac

	# Two clients at once, each gets back its own lines.
	exec 3<>"/dev/tcp/127.0.0.1/$port" 4<>"/dev/tcp/127.0.0.1/$port" || {
		echo "FAIL: $b: cannot connect to port $port" >&2
		fails=$((fails + 1))
		stop
		continue
	}
	printf 'hello from 3\n' >&3
	printf 'hello from 4\n' >&4
	printf 'again 3\n' >&3
	r4= r3a= r3b=
	read -r -t 10 r4 <&4
	read -r -t 10 r3a <&3
	read -r -t 10 r3b <&3
	exec 3>&- 4>&-
	[ "$r3a/$r3b/$r4" = "hello from 3/again 3/hello from 4" ] || {
		echo "FAIL: $b: echoed '$r3a' '$r3b' '$r4'" >&2
		fails=$((fails + 1))
	}
	stop
done
[ "$fails" -eq 0 ]
