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

lib='backend,n,active,writes,runs,events,median_us,min_us,ns_per_event,spread'
header="$lib,flag"
rawhdr="$lib,raw_median_us,raw_min_us,raw_ns_per_event,raw_spread,ratio,flag"
num='[0-9][0-9]*\(\.[0-9]*\)\{0,1\}'
flag='\(ok\|noisy\)'
PYTHON3=${PYTHON3:-python3}

for b in $backends; do
	run -b "$b" -p 50 -a 3 --writes 200 -r 3 --csv -
	st=$?
	[ "$st" -eq 0 ] || { fail "-b $b exits $st: $(cat "$tmp/err")"; continue; }
	[ "$(sed -n 1p "$tmp/out")" = "$header" ] || fail "-b $b: header is $(sed -n 1p "$tmp/out")"
	[ "$(wc -l <"$tmp/out")" -eq 2 ] || fail "-b $b: want header + 1 row, got $(cat "$tmp/out")"
	row=$(sed -n 2p "$tmp/out")
	# events = active + writes: every byte written is read exactly once.
	echo "$row" | grep -q "^$b,50,3,200,3,203,$num,$num,$num,$num,$flag\$" ||
		fail "-b $b: row does not parse: $row"

	run -b "$b" -p 20 -r 2 --raw --csv -
	st=$?
	[ "$st" -eq 0 ] || { fail "-b $b --raw exits $st: $(cat "$tmp/err")"; continue; }
	[ "$(sed -n 1p "$tmp/out")" = "$rawhdr" ] || fail "-b $b --raw: header is $(sed -n 1p "$tmp/out")"
	row=$(sed -n 2p "$tmp/out")
	echo "$row" | grep -q "^$b,20,1,20,2,21,$num,$num,$num,$num,$num,$num,$num,$num,$num,$flag\$" ||
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
head -n 1 "$tmp/out" | grep -q 'median_us.*ns_per_event' || fail "--csv FILE: no table on stdout"

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

# Human output: a header line naming the columns with the CSV's names,
# then one row per backend.
run -p 10 -r 1 --raw || fail "table run exits $?"
[ "$(head -n 1 "$tmp/out" | tr -s ' ' ',')" = "$rawhdr" ] ||
	fail "table header is not the CSV's: $(head -n 1 "$tmp/out")"
[ "$(wc -l <"$tmp/out")" -eq $(($(echo $backends | wc -w) + 1)) ] ||
	fail "table: want a header and a row per backend: $(cat "$tmp/out")"

# Not a terminal: no progress line (a carriage return or 'run N of').
# (Only a note on noisy rows may be there, when the machine is busy.)
run -p 10 -r 3 --csv "$tmp/p.csv"
if tr '\r' '@' <"$tmp/err" | grep -q '@\|run [0-9]* of'; then
	fail "stderr not a terminal, yet it got a progress line: $(cat "$tmp/err")"
fi

# On a terminal (util-linux script(1) gives it one, where it is here): the
# progress line, and none with --no-progress or -q. Stdout goes to a file.
if script -qc true /dev/null >/dev/null 2>&1; then
	for extra in "" --no-progress -q; do
		timeout 120 script -qc "'$BENCH' -b ${backends%% *} -p 10 -r 3 $extra >'$tmp/p.out'" \
			/dev/null >"$tmp/tty" 2>&1 </dev/null || fail "under script(1) $extra: exit $?"
		if grep -q 'run [0-9]* of 3' "$tmp/tty"; then
			[ -z "$extra" ] || fail "$extra: a progress line on the terminal: $(cat "$tmp/tty")"
		else
			[ -n "$extra" ] || fail "no progress line on a terminal: $(cat "$tmp/tty")"
		fi
	done
fi

# --json -: the JSON alone on stdout, the table on stderr; the rows, the
# settings and the metadata every tool's JSON carries.
first=${backends%% *}
run -b "$first" -p 20 -a 2 --writes 30 -r 3 --raw --json - ||
	fail "--json - exits $?: $(cat "$tmp/err")"
grep -q '^backend .*flag$' "$tmp/err" || fail "--json -: no table on stderr: $(cat "$tmp/err")"
"$PYTHON3" - "$tmp/out" "$first" <<'PY' || fail "--json - does not hold what it should: $(cat "$tmp/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["tool"] == "pollux-bench"
assert isinstance(d["pollux_version"], str) and d["pollux_version"]
assert d["time"].endswith("Z") and "T" in d["time"]
m = d["machine"]
assert m["cores"] >= 1 and m["kernel"]
for k in ("loadavg_before", "loadavg_after"):
    assert m[k] is None or len(m[k]) == 3
s = d["settings"]
assert s["backends"] == [sys.argv[2]] and s["pairs"] == [20]
assert s["active"] == 2 and s["writes"] == 30 and s["runs"] == 3
assert s["raw"] is True and s["sweep"] is False and s["max_time_s"] is None
assert s["noisy_ratio"] == 1.5 and s["max_events_per_wait"] >= 2
(r,) = d["rows"]
assert r["backend"] == sys.argv[2] and r["n"] == 20 and r["events"] == 32
assert r["runs"] == 3
for side in ("lib", "raw"):
    x = r[side]
    assert 0 < x["min_us"] <= x["median_us"]
    assert abs(x["spread"] - x["median_us"] / x["min_us"]) < 0.01
    assert x["noisy"] == (x["spread"] > 1.5)
assert r["ratio"] > 0
assert r["flag"] == ("noisy" if r["lib"]["noisy"] or r["raw"]["noisy"] else "ok")
PY
# Without --raw the raw side is null, not zeros; --json FILE beside the table.
run -b "$first" -p 10 -r 1 --json "$tmp/b.json" || fail "--json FILE exits $?"
grep -q '^backend .*flag$' "$tmp/out" || fail "--json FILE: no table on stdout"
"$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
(r,) = d["rows"]
assert r["raw"] is None and r["ratio"] is None
' "$tmp/b.json" || fail "--json FILE without --raw: $(cat "$tmp/b.json")"

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
expect_error 2 --csv - --json -
expect_error 2 --json ''
expect_error 2 --no-progress=yes
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
