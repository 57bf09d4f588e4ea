#!/bin/sh
# test_scale.sh: short pollux-scale sweeps through the real pollux-server and
# pollux-load: CSV and JSON carry every point, a failed point is reported and
# the sweep goes on, and no server or load process outlives the sweep, also
# when the sweep is stopped by SIGTERM.
set -u

: "${top_builddir:?run through make check (top_builddir unset)}"
: "${top_srcdir:?run through make check (top_srcdir unset)}"
PYTHON3=${PYTHON3:-python3}
scale=$top_builddir/tools/pollux-scale
server=$top_builddir/tools/pollux-server
load=$top_builddir/tools/pollux-load

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }

for t in "$scale" "$server" "$load"; do
	if [ ! -x "$t" ]; then
		# A hard error (99), not a skip: the sweep cannot be tested.
		echo "ERROR: $t is not built; run make first"
		exit 99
	fi
done
if ! "$PYTHON3" -c 'import json' 2>/dev/null; then
	echo "ERROR: python3 is needed to check the JSON (PYTHON3=$PYTHON3)"
	exit 99
fi

# For the fixtures (tests/scale_*.sh), which pollux-scale runs for us.
SCALE_REAL_SERVER=$server
SCALE_REAL_LOAD=$load
export SCALE_REAL_SERVER SCALE_REAL_LOAD SCALE_KILL_BACKEND SCALE_NOTIFY

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_scale.XXXXXX") || exit 99
watchdog=
cleanup() {
	[ -n "$watchdog" ] && kill -TERM "-$watchdog" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# Every process a sweep starts inherits this marker in its environment, so
# that what is left behind can be found by pid whatever its process group.
tag="pollux-scale-test-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"

# Pids (with names) of live processes carrying the marker.
leftovers() {
	for e in /proc/[0-9]*/environ; do
		pid=${e#/proc/}
		pid=${pid%/environ}
		# Others' processes and ones that just ended cannot be read.
		if { tr '\0' '\n' < "$e"; } 2>/dev/null |
		   grep -qx "POLLUX_SCALE_TEST_TAG=$tag"; then
			echo "$pid:$(cat "/proc/$pid/comm" 2>/dev/null)"
		fi
	done
}

# Runs pollux-scale with the marker, stdout/stderr to $tmp/NAME.out/.err;
# returns its exit status. A sanitizer report on its stderr is a failure
# even where the sanitizer is set not to stop the program.
sweep() {
	name=$1
	shift
	env POLLUX_SCALE_TEST_TAG="$tag" "$scale" --no-progress "$@" \
		> "$tmp/$name.out" 2> "$tmp/$name.err"
	sweep_rc=$?
	sanitizer_check "$name"
	return $sweep_rc
}

sanitizer_check() {
	if grep -q 'runtime error:\|Sanitizer' "$tmp/$1.err"; then
		fail "$1: sanitizer report: $(cat "$tmp/$1.err")"
	fi
}

check_no_leftovers() {
	left=$(leftovers)
	if [ -n "$left" ]; then
		fail "$1: processes left behind: $left"
		for p in $left; do kill -KILL "${p%%:*}" 2>/dev/null; done
	else
		pass "$1: no server or load process left behind"
	fi
}

# ---- 1. a short sweep: two backends, two fd counts, one-second runs ----
backends=$("$scale" --help | sed -n 's/^Backends built here: //p')
b1=$(echo "$backends" | cut -d, -f1)
b2=$(echo "$backends" | cut -d, -f2)
if [ -z "$b1" ] || [ -z "$b2" ] || [ "$b1" = "$b2" ]; then
	b2=$b1
fi
plot=
if command -v gnuplot > /dev/null 2>&1; then
	plot="--plot $tmp/short.svg"
fi
# shellcheck disable=SC2086
sweep short --backends "$b1,$b2" --fds 0,100 --active 10 --duration 1 \
	--warmup 0.2 --csv "$tmp/short.csv" --json "$tmp/short.json" $plot
rc=$?
if [ $rc -eq 0 ]; then
	pass "short sweep ($b1,$b2 x 0,100) exits 0"
else
	fail "short sweep exited $rc: $(cat "$tmp/short.err")"
fi
check_no_leftovers "short sweep"

"$PYTHON3" - "$tmp/short.json" "$b1" "$b2" <<'EOF'
import json, math, sys
path, b1, b2 = sys.argv[1:4]
d = json.load(open(path))
bad = []
assert set(d) == {"machine", "points", "fit"}, sorted(d)
for k in ("cores", "kernel"):
    if k not in d["machine"]:
        bad.append("machine lacks %s" % k)
keys = ["backend", "fds", "active", "rps", "p50_us", "p99_us",
        "us_per_wait", "events_per_wait", "errors"]
want = {(b, f) for b in {b1, b2} for f in (0, 100)}
got = set()
for p in d["points"]:
    for k in keys:
        if k not in p:
            bad.append("point lacks %s: %r" % (k, p))
    got.add((p.get("backend"), p.get("fds")))
    if "error" in p:
        bad.append("point failed: %r" % p)
        continue
    for k in ("rps", "p50_us", "p99_us", "us_per_wait", "events_per_wait"):
        v = p.get(k)
        if not isinstance(v, (int, float)) or not v > 0:
            bad.append("%s %s fds=%s is %r, not a positive number"
                       % (k, p.get("backend"), p.get("fds"), v))
    if p.get("active") != 10:
        bad.append("active is %r, not 10" % p.get("active"))
    # The server holds the idle and active connections (and its listener).
    if not (p.get("registered") or 0) >= p["fds"] + 10:
        bad.append("registered %r < fds+active" % p.get("registered"))
if got != want:
    bad.append("points %r, wanted %r" % (sorted(got), sorted(want)))
for b in {b1, b2}:
    if "ns_per_fd_per_wait" not in d["fit"].get(b, {}):
        bad.append("fit lacks %s" % b)
for m in bad:
    print("JSON:", m)
sys.exit(1 if bad else 0)
EOF
if [ $? -eq 0 ]; then
	pass "JSON has machine, every point with its keys, and the fit"
else
	fail "JSON check (see above); file: $(cat "$tmp/short.json")"
fi

"$PYTHON3" - "$tmp/short.csv" "$b1" "$b2" "$tmp/short.json" <<'EOF'
import csv, json, sys
path, b1, b2, jpath = sys.argv[1:5]
rows = list(csv.DictReader(open(path)))
# The same names as the JSON's point keys ("error" there only on failure).
jkeys = set(json.load(open(jpath))["points"][0]) | {"error"}
if rows and set(rows[0]) != jkeys:
    print("CSV columns %r differ from JSON point keys %r" % (sorted(rows[0]), sorted(jkeys)))
    sys.exit(1)
want = {(b, f) for b in {b1, b2} for f in ("0", "100")}
got = {(r["backend"], r["fds"]) for r in rows}
cols = ["backend", "fds", "active", "rps", "p50_us", "p99_us",
        "us_per_wait", "events_per_wait", "errors"]
missing = [c for c in cols if rows and c not in rows[0]]
ok = got == want and len(rows) == len(want) and not missing and \
     all(r["rps"] and float(r["rps"]) > 0 and not r["error"] for r in rows)
if not ok:
    print("CSV: rows %r, missing columns %r" % (rows, missing))
sys.exit(0 if ok else 1)
EOF
if [ $? -eq 0 ]; then
	pass "CSV has one row per point with the JSON's names"
else
	fail "CSV check (see above)"
fi

# The table: one row per fd count, and the fitted cost per backend.
if grep -q '^      0 |' "$tmp/short.out" && grep -q '^    100 |' "$tmp/short.out" &&
   grep -q "^  $b1 .*ns/fd/wait" "$tmp/short.out"; then
	pass "table has a row per fd count and the fitted cost"
else
	fail "table or fit missing: $(cat "$tmp/short.out")"
fi
if [ -n "$plot" ]; then
	if grep -q '<svg' "$tmp/short.svg" && grep -q "$b1" "$tmp/short.svg"; then
		pass "--plot wrote an SVG naming the backends"
	else
		fail "--plot: no SVG in $tmp/short.svg"
	fi
fi

# ---- 2. a point whose server is killed is reported; the sweep goes on ----
SCALE_KILL_BACKEND=$b1
sweep dying --backends "$b1,$b2" --fds 0 --active 5 --duration 1 \
	--warmup 0 --json "$tmp/dying.json" \
	--server-cmd "$top_srcdir/tests/scale_dying_server.sh"
rc=$?
if [ $rc -eq 1 ]; then
	pass "sweep with a killed server exits 1"
else
	fail "sweep with a killed server exited $rc, not 1"
fi
check_no_leftovers "sweep with a killed server"
if grep -q "FAILED" "$tmp/dying.out" &&
   grep -q "$b1 fds=0 failed: pollux-server ended" "$tmp/dying.out"; then
	pass "the failed point is in the table with its reason"
else
	fail "failed point not reported: $(cat "$tmp/dying.out")"
fi
# A failed point prints the system-wide limits that would bind next.
if grep -q "^pollux-scale: limits: fs.file-max \([0-9][0-9]*\|unlimited\), fs.nr_open .*ip_local_port_range .*tcp_mem" "$tmp/dying.err"; then
	pass "a failed point prints the system limits"
else
	fail "no system limits line after a failed point: $(cat "$tmp/dying.err")"
fi
"$PYTHON3" - "$tmp/dying.json" "$b1" "$b2" <<'EOF'
import json, sys
path, b1, b2 = sys.argv[1:4]
pts = json.load(open(path))["points"]
ok = len(pts) == (1 if b1 == b2 else 2)
dead = [p for p in pts if p["backend"] == b1]
ok = ok and dead and isinstance(dead[0].get("error"), str) and dead[0]["error"]
if b1 != b2:
    alive = [p for p in pts if p["backend"] == b2]
    ok = ok and alive and "error" not in alive[0] and alive[0]["rps"] > 0
if not ok:
    print("JSON after a killed server:", pts)
sys.exit(0 if ok else 1)
EOF
if [ $? -eq 0 ]; then
	pass "JSON: the killed point has an error, the next point was measured"
else
	fail "JSON after a killed server (see above)"
fi

# ---- 3. --plot without gnuplot: said at once, measured anyway, exit 1;
# and --json - leaves stdout to the JSON alone (the report goes to stderr) --
GNUPLOT=/nonexistent/gnuplot
export GNUPLOT
sweep noplot --backends "$b2" --fds 0 --active 5 --duration 0.3 --warmup 0 \
	--plot "$tmp/none.svg" --json -
rc=$?
unset GNUPLOT
if [ $rc -eq 1 ] && grep -q "no plot will be drawn" "$tmp/noplot.err" &&
   grep -q '^      0 |' "$tmp/noplot.err" && [ ! -e "$tmp/none.svg" ]; then
	pass "--plot without gnuplot: one clear line, table still printed, exit 1"
else
	fail "--plot without gnuplot: exit $rc, stderr: $(cat "$tmp/noplot.err")"
fi
if "$PYTHON3" -c 'import json, sys; d = json.load(sys.stdin)
assert [p["fds"] for p in d["points"]] == [0]' < "$tmp/noplot.out"; then
	pass "--json - writes one JSON document alone on stdout"
else
	fail "--json -: stdout is not the JSON alone: $(cat "$tmp/noplot.out")"
fi
check_no_leftovers "sweep without gnuplot"

# ---- 4. past one process's RLIMIT_NOFILE, a point runs 2 processes ----
# 400 less the 64 kept for each tool's own descriptors: 336 a process, so
# 600 idle and 5 active take two of each; the fit is per poller.
(ulimit -n 400 && sweep split --backends "$b2" --fds 0,600 --active 5 \
	--duration 0.3 --warmup 0 --csv "$tmp/split.csv" --json "$tmp/split.json")
rc=$?
sanitizer_check split	# (a fail inside the subshell would not count)
check_no_leftovers "split sweep"
if [ $rc -eq 0 ] && grep -q "fds=600: 605 connections do not fit one process (336 each): pollux-server --processes 2" "$tmp/split.err" &&
   "$PYTHON3" - "$tmp/split.json" "$b2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
p = {q["fds"]: q for q in d["points"]}
one, two = p[0], p[600]
ok = (one["server_processes"] == 1 and one["pollers"] == 1 and
      two["server_processes"] == 2 and two["load_processes"] == 2 and
      two["pollers"] == 2 and "error" not in two and
      two["registered"] >= 605 and
      abs(two["fds_per_poller"] - two["registered"] / 2) < 1e-6 and
      d["fit"][sys.argv[2]]["x"] == "fds_per_poller")
if not ok:
    print("split JSON:", p)
sys.exit(0 if ok else 1)
EOF
then
	pass "a point past one process's descriptors runs 2 processes, fit per poller"
else
	fail "split over processes: exit $rc, $(cat "$tmp/split.err" "$tmp/split.json")"
fi

# --fds-per-process forces the same without a low RLIMIT_NOFILE.
sweep perproc --backends "$b2" --fds 300 --active 5 --fds-per-process 200 \
	--duration 0.3 --warmup 0 --csv "$tmp/perproc.csv"
rc=$?
check_no_leftovers "--fds-per-process sweep"
if [ $rc -eq 0 ] && grep -q "pollux-server --processes 2" "$tmp/perproc.err" &&
   grep -q "^$b2,300,5,.*,2,2,2,2," "$tmp/perproc.csv"; then
	pass "--fds-per-process 200 runs 305 connections in 2 processes"
else
	fail "--fds-per-process: exit $rc, $(cat "$tmp/perproc.err" "$tmp/perproc.csv")"
fi

# ---- 5. SIGTERM in the middle of a point stops server and load too ----
mkfifo "$tmp/started" || exit 99
SCALE_NOTIFY=$tmp/started
# Not through sweep(): $! must be pollux-scale itself (env execs it).
env POLLUX_SCALE_TEST_TAG="$tag" "$scale" --no-progress --backends "$b1" \
	--fds 100 --active 5 --duration 60 --warmup 0 \
	--load-cmd "$top_srcdir/tests/scale_notify_load.sh" \
	> "$tmp/term.out" 2> "$tmp/term.err" &
spid=$!
# Bounded waits: the watchdog kills the sweep if it hangs. It runs in a
# session of its own, so that killing its group also ends its sleep.
setsid sh -c 'trap "exit 0" TERM; sleep 60 & wait $!; kill -KILL "$1" 2>/dev/null' \
	sh "$spid" 2>/dev/null &
watchdog=$!
if timeout 30 sh -c 'read x < "$1"' sh "$tmp/started"; then
	running=$(leftovers)
	case $running in
	*pollux-server*|*lt-pollux-serv*) pass "a server is running mid-sweep (found by marker)" ;;
	*) fail "no server found mid-sweep: '$running'" ;;
	esac
	kill -TERM "$spid"
else
	fail "the sweep never reached its load phase"
	kill -KILL "$spid"
fi
wait "$spid" 2>/dev/null	# (no "Terminated" job notice)
rc=$?
sanitizer_check term
kill -TERM "-$watchdog" 2>/dev/null
wait "$watchdog" 2>/dev/null
watchdog=
if [ $rc -eq 143 ]; then
	pass "SIGTERM stops the sweep (exit by the signal)"
else
	fail "sweep stopped by SIGTERM exited $rc: $(cat "$tmp/term.err")"
fi
check_no_leftovers "sweep stopped by SIGTERM"

# ---- 6. bad usage and impossible settings: one line, at once ----
# (An unknown option was two lines, getopt's with the program's path; an
# --active beyond the descriptor limit ran every point to its failure; an
# unwritable --plot path failed only after the whole sweep.)

# refused NAME RC WANT_RC PATTERN WHAT [FILE]: the sweep NAME exited WANT_RC
# with one stderr line matching PATTERN, and FILE (an output) was not made.
refused() {
	if [ "$2" -eq "$3" ] && [ "$(wc -l < "$tmp/$1.err")" -eq 1 ] &&
	   grep -q -- "$4" "$tmp/$1.err" && { [ -z "${6:-}" ] || [ ! -e "$6" ]; }; then
		pass "$5"
	else
		fail "$5: exit $2, stderr: $(cat "$tmp/$1.err")"
	fi
}
sweep badopt --backends "$b2" -Z
refused badopt $? 2 "'-Z'" "unknown option: one line naming it, exit 2"
sweep noval --backends "$b2" --csv
refused noval $? 2 "'--csv' needs a value" \
	"option without its value: one line naming it, exit 2"
(ulimit -n 100 && sweep toomany --backends "$b2" --fds 0 --active 40 \
	--duration 0.3 --warmup 0 --csv "$tmp/toomany.csv")
rc=$?
sanitizer_check toomany
refused toomany $rc 1 "RLIMIT_NOFILE is 100" \
	"--active beyond RLIMIT_NOFILE: refused at once, no output file" \
	"$tmp/toomany.csv"
sweep badplot --backends "$b2" --fds 0 --active 5 --duration 0.3 \
	--warmup 0 --plot "$tmp/no/such/dir/x.svg" --csv "$tmp/badplot.csv"
refused badplot $? 1 "cannot create $tmp/no/such/dir/x.svg" \
	"unwritable --plot path: refused before measuring" "$tmp/badplot.csv"
check_no_leftovers "refused sweeps"

# ---- 7. a report that cannot be written is an error, not exit 0 ----
if [ -w /dev/full ]; then
	env POLLUX_SCALE_TEST_TAG="$tag" "$scale" --no-progress --backends "$b2" \
		--fds 0 --active 5 --duration 0.3 --warmup 0 \
		> /dev/full 2> "$tmp/full.err"
	rc=$?
	sanitizer_check full
	if [ $rc -eq 1 ] && grep -q "cannot write the report" "$tmp/full.err"; then
		pass "report to a full disk: told on stderr, exit 1"
	else
		fail "report to a full disk: exit $rc, stderr: $(cat "$tmp/full.err")"
	fi
	check_no_leftovers "sweep with stdout on a full disk"
else
	# Not a pass: said, and not counted either way (no /dev/full on BSD).
	echo "note: no /dev/full here, the failed-write check did not run"
fi

[ $fails -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
exit 0
