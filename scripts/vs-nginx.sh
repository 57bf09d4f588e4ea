#!/usr/bin/env bash
# vs-nginx.sh: the side-by-side figures of BENCHMARKS.md, measured in one
# run on this machine: pollux-server against nginx under wrk, each backend
# with and without 10,000 idle connections, and pollux-load against wrk.
# Every figure is the median of ROUNDS runs, taken alternately.
#
# usage: scripts/vs-nginx.sh [BUILD_DIR]   (default: _build)
# env:   ROUNDS (3), DURATION (10), CONNS (50), IDLE (10000)
set -euo pipefail

case "${1:-}" in
-h|--help)
	sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
-*)
	echo "vs-nginx: unknown option '$1'; usage: $0 [BUILD_DIR]" >&2
	exit 2
	;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/_build}
rounds=${ROUNDS:-3}
dur=${DURATION:-10}
conns=${CONNS:-50}
idle=${IDLE:-10000}
server=$build/tools/pollux-server
load=$build/tools/pollux-load

for t in nginx wrk python3; do
	command -v "$t" >/dev/null || { echo "vs-nginx: $t is not installed (Debian: apt-get install nginx-light wrk python3)" >&2; exit 1; }
done
[ -x "$server" ] && [ -x "$load" ] || { echo "vs-nginx: no built tools in $build: run ./quickstart.sh test first or name the build directory" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
wrk_rps() { wrk -t1 -c"$conns" -d"${dur}s" "$1" | awk '/^Requests\/sec:/ {print $2}'; }
stat_of() { curl -s "http://$1/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }

# nginx: one worker answering return 200, keep-alive without limits.
nport=$(free_port)
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 20000;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 25000; }
http {
	access_log off;
	keepalive_requests 1000000;
	keepalive_timeout 600s;
	client_header_timeout 600s;
	server {
		listen 127.0.0.1:$nport;
		location / { return 200 "hello\n"; }
	}
}
CONF
nginx -p "$work" -c "$work/nginx.conf"

# start_server BACKEND: sets spid and saddr.
start_server() {
	"$server" -q -b "$1" -l 127.0.0.1:0 --idle-timeout 0 > "$work/server.out" 2>&1 &
	spid=$!
	pids+=("$spid")
	for _ in $(seq 100); do
		saddr=$(sed -n 's/^listening \([^ ]*\).*/\1/p' "$work/server.out")
		[ -n "$saddr" ] && return 0
		sleep 0.05
	done
	echo "vs-nginx: pollux-server -b $1 did not start" >&2
	exit 1
}
stop_server() { kill "$spid"; wait "$spid" 2>/dev/null || true; }

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# wrk -t1 -c$conns -d${dur}s; medians of $rounds alternating runs"
echo

# 1. pollux-server (epoll, 1 worker) against nginx (1 worker).
start_server epoll
n_runs=() p_runs=()
for _ in $(seq "$rounds"); do
	n_runs+=("$(wrk_rps "http://127.0.0.1:$nport/")")
	p_runs+=("$(wrk_rps "http://$saddr/")")
done
stop_server
echo "| server | req/s runs | median req/s |"
echo "|---|---|---|"
echo "| nginx (1 worker, return 200) | ${n_runs[*]} | $(printf '%s\n' "${n_runs[@]}" | median) |"
echo "| pollux-server -b epoll | ${p_runs[*]} | $(printf '%s\n' "${p_runs[@]}" | median) |"
echo

# 2. Each backend with and without $idle idle connections held open.
echo "| backend | req/s without idle | req/s with $idle idle | ratio | us per wait without | with |"
echo "|---|---|---|---|---|---|"
for b in epoll poll select; do
	start_server "$b"
	without=() with=() uw=() uwi=()
	for _ in $(seq "$rounds"); do
		w0=$(stat_of "$saddr" waits); t0=$(stat_of "$saddr" wait_us_total)
		without+=("$(wrk_rps "http://$saddr/")")
		w1=$(stat_of "$saddr" waits); t1=$(stat_of "$saddr" wait_us_total)
		uw+=("$(python3 -c "print(round(($t1-$t0)/max(1,$w1-$w0),1))")")
		"$load" -c "$idle" -a 0 -d $((dur * 3)) --source 127.0.0.2-127.0.0.9 \
			"http://$saddr/" > /dev/null 2>&1 &
		lpid=$!
		pids+=("$lpid")
		for _ in $(seq 400); do
			[ "$(stat_of "$saddr" open)" -ge "$idle" ] && break
			sleep 0.05
		done
		w0=$(stat_of "$saddr" waits); t0=$(stat_of "$saddr" wait_us_total)
		with+=("$(wrk_rps "http://$saddr/")")
		w1=$(stat_of "$saddr" waits); t1=$(stat_of "$saddr" wait_us_total)
		uwi+=("$(python3 -c "print(round(($t1-$t0)/max(1,$w1-$w0),1))")")
		kill "$lpid" 2>/dev/null || true
		wait "$lpid" 2>/dev/null || true
	done
	stop_server
	mw=$(printf '%s\n' "${without[@]}" | median)
	mi=$(printf '%s\n' "${with[@]}" | median)
	echo "| $b | $mw | $mi | $(python3 -c "print(round($mi/$mw,2))") | $(printf '%s\n' "${uw[@]}" | median) | $(printf '%s\n' "${uwi[@]}" | median) |"
done
echo

# 3. pollux-load against wrk, both against nginx.
echo "| client (-t1 -c$conns, nginx) | req/s runs | median req/s | p50 us | p99 us |"
echo "|---|---|---|---|---|"
w_runs=() l_runs=() w50=() w99=() l50=() l99=()
to_us() { python3 -c "
import re,sys
m=re.match(r'([0-9.]+)(us|ms|s)$', sys.argv[1]); v=float(m.group(1))
print(round(v*{'us':1,'ms':1e3,'s':1e6}[m.group(2)]))" "$1"; }
for _ in $(seq "$rounds"); do
	out=$(wrk -t1 -c"$conns" -d"${dur}s" --latency "http://127.0.0.1:$nport/")
	w_runs+=("$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")")
	w50+=("$(to_us "$(awk '$1=="50%" {print $2}' <<<"$out")")")
	w99+=("$(to_us "$(awk '$1=="99%" {print $2}' <<<"$out")")")
	js=$("$load" -t1 -c"$conns" -d"$dur" -q --json - "http://127.0.0.1:$nport/")
	l_runs+=("$(python3 -c "import json,sys; print(round(json.loads(sys.argv[1])['rps']))" "$js")")
	l50+=("$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['latency_us']['p50'])" "$js")")
	l99+=("$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['latency_us']['p99'])" "$js")")
done
echo "| wrk | ${w_runs[*]} | $(printf '%s\n' "${w_runs[@]}" | median) | $(printf '%s\n' "${w50[@]}" | median) | $(printf '%s\n' "${w99[@]}" | median) |"
echo "| pollux-load | ${l_runs[*]} | $(printf '%s\n' "${l_runs[@]}" | median) | $(printf '%s\n' "${l50[@]}" | median) | $(printf '%s\n' "${l99[@]}" | median) |"
