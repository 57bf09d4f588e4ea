#!/bin/sh
# bench.sh: pollux-bench runs on every built backend with small n, prints
# CSV with the documented columns, and rejects bad input with one line.
# Only behaviour is checked, never timing.

: "${top_builddir:?run through make check}"
BENCH="$top_builddir/tools/pollux-bench"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# Runs the bench with a wall-clock bound so a hang fails instead of blocking.
run() {
	timeout 120 env ${ENVSET:+"$ENVSET"} "$BENCH" "$@" >"$tmp/out" 2>"$tmp/err"
}
ENVSET=

# Expects exit status $1 and exactly one line on stderr for args $2...
expect_error() {
	want=$1
	shift
	run "$@"
	st=$?
	[ "$st" -eq "$want" ] || fail "pollux-bench $*: exit $st, want $want"
	lines=$(wc -l <"$tmp/err")
	[ "$lines" -eq 1 ] || fail "pollux-bench $*: $lines lines on stderr, want 1: $(cat "$tmp/err")"
	[ -s "$tmp/out" ] && fail "pollux-bench $*: wrote to stdout on error"
	return 0
}

run --version || fail "--version exits $?"
grep -q '^pollux-bench (pollux) [0-9]' "$tmp/out" || fail "--version prints: $(cat "$tmp/out")"
run --help || fail "--help exits $?"
grep -q -- '--sweep' "$tmp/out" || fail "--help does not mention --sweep"

# The backends this build has, from the library itself (the help text).
backends=$(sed -n 's/.*default all built: \(.*\))$/\1/p' "$tmp/out")
[ -n "$backends" ] || fail "--help does not list the built backends"

header='backend,n,active,writes,runs,events,median_us,min_us,ns_per_event'
rawhdr="$header,raw_median_us,raw_min_us,raw_ns_per_event,ratio"
num='[0-9][0-9]*\(\.[0-9]*\)\{0,1\}'

for b in $backends; do
	run -b "$b" -p 50 -a 3 --writes 200 -r 3 --csv -
	st=$?
	[ "$st" -eq 0 ] || { fail "-b $b exits $st: $(cat "$tmp/err")"; continue; }
	[ "$(sed -n 1p "$tmp/out")" = "$header" ] || fail "-b $b: header is $(sed -n 1p "$tmp/out")"
	[ "$(wc -l <"$tmp/out")" -eq 2 ] || fail "-b $b: want header + 1 row, got $(cat "$tmp/out")"
	row=$(sed -n 2p "$tmp/out")
	# events = active + writes: every byte written is read exactly once.
	echo "$row" | grep -q "^$b,50,3,200,3,203,$num,$num,$num\$" ||
		fail "-b $b: row does not parse: $row"

	run -b "$b" -p 20 -r 2 --raw --csv -
	st=$?
	[ "$st" -eq 0 ] || { fail "-b $b --raw exits $st: $(cat "$tmp/err")"; continue; }
	[ "$(sed -n 1p "$tmp/out")" = "$rawhdr" ] || fail "-b $b --raw: header is $(sed -n 1p "$tmp/out")"
	row=$(sed -n 2p "$tmp/out")
	echo "$row" | grep -q "^$b,20,1,20,2,21,$num,$num,$num,$num,$num,$num,$num\$" ||
		fail "-b $b --raw: row does not parse: $row"
done

# --max-time stops the runs early but never below 3; the runs column says
# so. The duration takes a unit, and a plain number is seconds.
for t in 50ms 0.05; do
	run -b "${backends%% *}" -p 10 -r 100000 --max-time $t --csv - ||
		fail "--max-time $t exits $?: $(cat "$tmp/err")"
	runs=$(sed -n 2p "$tmp/out" | cut -d, -f5)
	[ "$runs" -ge 3 ] && [ "$runs" -lt 100000 ] ||
		fail "--max-time $t -r 100000 made $runs runs"
done

# A comma list runs those backends, in the order given, once each.
if [ "${backends#* }" != "$backends" ]; then
	first=${backends%% *}
	rest=${backends#* }
	second=${rest%% *}
	run -b "$second,$first,$second" -p 10 -r 1 --csv - ||
		fail "-b $second,$first exits $?: $(cat "$tmp/err")"
	got=$(sed -n '2,$p' "$tmp/out" | cut -d, -f1 | tr '\n' ' ')
	[ "$got" = "$second $first " ] || fail "-b $second,$first,$second measured '$got'"
fi

# --csv FILE: the table on stdout, the CSV in the file.
run -p 10 -r 1 --csv "$tmp/rows.csv" || fail "--csv FILE exits $?: $(cat "$tmp/err")"
[ "$(sed -n 1p "$tmp/rows.csv")" = "$header" ] || fail "--csv FILE header: $(sed -n 1p "$tmp/rows.csv")"
head -n 1 "$tmp/out" | grep -q 'median_us.*ns/event' || fail "--csv FILE: no table on stdout"

# Default: every built backend, one row each, in the library's order.
run -p 10 -r 1 --csv - || fail "default run exits $?: $(cat "$tmp/err")"
got=$(sed -n '2,$p' "$tmp/out" | cut -d, -f1 | tr '\n' ' ')
[ "$got" = "$backends " ] || fail "default run measured '$got', want '$backends '"

# -b auto follows POLLUX_BACKEND, and the row names the backend it chose.
for b in $backends; do
	ENVSET=POLLUX_BACKEND=$b
	run -b auto -p 10 -r 1 --csv - ||
		fail "-b auto with POLLUX_BACKEND=$b exits non-zero: $(cat "$tmp/err")"
	sed -n 2p "$tmp/out" | grep -q "^$b,10," ||
		fail "-b auto with POLLUX_BACKEND=$b measured: $(sed -n 2p "$tmp/out")"
done
# A name from POLLUX_BACKEND is judged like one given with -b: bad usage.
ENVSET=POLLUX_BACKEND=nosuch
expect_error 2 -b auto
ENVSET=

# Human output: a header line naming the columns, then one row per backend.
run -p 10 -r 1 --raw || fail "table run exits $?"
head -n 1 "$tmp/out" | grep -q 'median_us.*min_us.*ns/event.*lib/raw' ||
	fail "table header: $(head -n 1 "$tmp/out")"

# Usage errors: exit 2, one line.
expect_error 2 --no-such-option
expect_error 2 -p
expect_error 2 -p 0
expect_error 2 -p abc
expect_error 2 -p 10 -a 11
expect_error 2 -r 0
expect_error 2 --max-time 0
expect_error 2 --max-time abc
expect_error 2 --writes -1
expect_error 2 -b nosuch
expect_error 2 -b epoll,,poll
expect_error 2 --sweep -p 10
# -n, -t and -w are other tools' letters (requests, threads, warm-up).
expect_error 2 -n 10
expect_error 2 -t 1
expect_error 2 -w 1
expect_error 2 extra-argument

# Too many pairs for the descriptor limit: exit 1, one line that says how
# many would fit. The limit is lowered for this one command.
(
	ulimit -n 256 2>/dev/null || exit 77
	run -p 1000 -r 1
	echo $? >"$tmp/st"
) 
if [ -f "$tmp/st" ]; then
	st=$(cat "$tmp/st")
	[ "$st" -eq 1 ] || fail "--pairs 1000 under ulimit -n 256 exits $st, want 1"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "too-large n: stderr is not one line: $(cat "$tmp/err")"
	grep -q 'at most --pairs [0-9][0-9]* fits' "$tmp/err" || fail "too-large n: message does not say what fits: $(cat "$tmp/err")"
else
	fail "could not lower the descriptor limit to test a too-large n"
fi

[ "$fails" -eq 0 ] || exit 1
exit 0
