#!/usr/bin/env bash
# procs-wrk.sh: pollux-server's request rate with one worker process and
# with several (--processes, one event loop each, epoll), under wrk with
# keep-alive; the runs alternate between the settings so that a change in
# the machine's load hits all alike, and the median of ROUNDS is printed.
#
# usage: scripts/procs-wrk.sh [SERVER]   (default: _build/tools/pollux-server)
# env:   PROCS ("1 2": the --processes values), ROUNDS (3), DURATION (10 s),
#        CONNS (100), THREADS (2): wrk -tTHREADS -cCONNS -dDURATION
set -euo pipefail

case "${1:-}" in
-h|--help)
	sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
-*)
	echo "procs-wrk: unknown option '$1'; usage: $0 [SERVER]" >&2
	exit 2
	;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
srv=${1:-$top/_build/tools/pollux-server}
procs=${PROCS:-1 2}
rounds=${ROUNDS:-3}
dur=${DURATION:-10}
conns=${CONNS:-100}
threads=${THREADS:-2}
command -v wrk >/dev/null || { echo "procs-wrk: wrk is not installed (Debian: apt-get install wrk)" >&2; exit 1; }
[ -x "$srv" ] || { echo "procs-wrk: $srv is not an executable pollux-server" >&2; exit 1; }

work=$(mktemp -d)
spid=
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# rate P: requests per second of one wrk run against --processes P.
rate() {
	"$srv" -q -b epoll -l 127.0.0.1:0 --idle-timeout 0 --processes "$1" > "$work/out" 2>&1 &
	spid=$!
	local addr= n
	for _ in $(seq 100); do
		addr=$(sed -n 's/^listening \([^ ]*\).*/\1/p' "$work/out")
		n=$(pgrep -c -P "$spid" || true)
		[ -n "$addr" ] && [ "$n" -eq "$1" ] && break
		sleep 0.05
	done
	[ -n "$addr" ] || { echo "procs-wrk: the server did not start" >&2; exit 1; }
	local out
	out=$(wrk -t"$threads" -c"$conns" -d"${dur}s" "http://$addr/")
	kill "$spid"
	wait "$spid" 2>/dev/null || true
	spid=
	grep -q 'Non-2xx\|Socket errors' <<<"$out" && { echo "procs-wrk: wrk saw errors:" >&2; echo "$out" >&2; exit 1; }
	awk '/^Requests\/sec:/ {print $2}' <<<"$out"
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, Linux $(uname -r), load average before $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# wrk -t$threads -c$conns -d${dur}s http://ADDR/ against pollux-server -q -b epoll --processes P (1 event loop each), $rounds alternating rounds"
declare -A runs
for p in $procs; do runs[$p]=""; done
for _ in $(seq "$rounds"); do
	for p in $procs; do runs[$p]+=" $(rate "$p")"; done
done
echo "# load average after $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| --processes | requests/s, median | runs |"
echo "|---|---|---|"
for p in $procs; do
	# shellcheck disable=SC2086
	echo "| $p | $(printf '%s\n' ${runs[$p]} | median) |${runs[$p]} |"
done
