#!/usr/bin/env bash
# conn-cost.sh: what one connection and one request cost pollux-server and
# nginx (both one worker, epoll), counted, not timed: system calls per short
# connection (ab without keep-alive) and per keep-alive request (ab -k),
# from strace -c -f on the running server; then CPU time (user + system,
# from /proc) per request under wrk, with and without keep-alive.
#
# usage: scripts/conn-cost.sh [SERVER ...]   (default: _build/tools/pollux-server)
#        Several SERVER binaries (e.g. an older build) are measured in turn,
#        alternating, each against the same nginx.
# env:   N (5000 requests per ab run), C (20 ab clients), ROUNDS (3),
#        DURATION (10, seconds per wrk run), CONNS (50 wrk connections),
#        PROCESSES (unset: one server process; N: --processes N, and the
#        calls and CPU are those of all N worker processes together)
set -euo pipefail

case "${1:-}" in
-h|--help)
	sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
-*)
	echo "conn-cost: unknown option '$1'; usage: $0 [SERVER ...]" >&2
	exit 2
	;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || set -- "$top/_build/tools/pollux-server"
n=${N:-5000}
c=${C:-20}
rounds=${ROUNDS:-3}
dur=${DURATION:-10}
conns=${CONNS:-50}

for t in nginx ab wrk strace python3; do
	command -v "$t" >/dev/null || { echo "conn-cost: $t is not installed (Debian: apt-get install nginx-light apache2-utils wrk strace python3)" >&2; exit 1; }
done
for s in "$@"; do
	[ -x "$s" ] || { echo "conn-cost: $s is not an executable pollux-server" >&2; exit 1; }
done

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
	server {
		listen 127.0.0.1:$nport;
		location / { return 200 "hello\n"; }
	}
}
CONF
nginx -p "$work" -c "$work/nginx.conf"
# The worker, not the master: the worker does the serving.
nginx_worker() { pgrep -P "$(cat "$work/nginx.pid")" | head -1; }
for _ in $(seq 100); do [ -n "$(nginx_worker)" ] && break; sleep 0.05; done

# start_server BIN: sets spid and saddr, and wpids: the processes that
# serve (the server, or its PROCESSES worker processes).
start_server() {
	"$1" -q -b epoll -l 127.0.0.1:0 --idle-timeout 0 ${PROCESSES:+--processes "$PROCESSES"} \
		> "$work/server.out" 2>&1 &
	spid=$!
	pids+=("$spid")
	for _ in $(seq 100); do
		saddr=$(sed -n 's/^listening \([^ ]*\).*/\1/p' "$work/server.out")
		wpids=$spid
		[ -n "${PROCESSES:-}" ] && wpids=$(pgrep -P "$spid" | tr '\n' ' ')
		[ -n "$saddr" ] && [ "$(wc -w <<<"$wpids")" -eq "${PROCESSES:-1}" ] && return 0
		sleep 0.05
	done
	echo "conn-cost: $1 did not start" >&2
	exit 1
}
stop_server() { kill "$spid"; wait "$spid" 2>/dev/null || true; }

# calls "PID..." URL [ab options]: system calls per request, and the calls made.
calls() {
	local pid url=$2 p=()
	for pid in $1; do p+=(-p "$pid"); done
	shift 2
	strace -c -f -q -o "$work/strace.out" "${p[@]}" &
	local st=$!
	sleep 0.5	# strace attaches asynchronously; ab's first connection must be seen
	ab -q "$@" -n "$n" -c "$c" "$url" > "$work/ab.out" 2>&1
	kill -INT "$st"
	wait "$st" 2>/dev/null || true
	local failed
	failed=$(awk '/^Failed requests:/ {print $3}' "$work/ab.out")
	[ "${failed:-1}" = 0 ] || { echo "conn-cost: ab saw failed requests against $url" >&2; cat "$work/ab.out" >&2; exit 1; }
	python3 - "$work/strace.out" "$n" <<'PY'
import sys
total, names = 0, {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 5 and f[0][0].isdigit() and f[-1] not in ("total",):
        calls = int(f[3])
        total += calls
        names[f[-1]] = calls
n = int(sys.argv[2])
print("%.2f %s" % (total / n, ",".join("%s=%.2f" % (k, v / n) for k, v in sorted(names.items(), key=lambda kv: -kv[1]))))
PY
}

# ticks "PID...": their user + system CPU time so far, in clock ticks.
ticks() {
	local pid t=0
	for pid in $1; do t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
	echo "$t"
}

# cpu_us "PID..." URL [wrk options]: microseconds of CPU per request under wrk.
cpu_us() {
	local url=$2
	local t0 t1 out
	t0=$(ticks "$1")
	out=$(wrk -t1 -c"$conns" -d"${dur}s" "${@:3}" "$url")
	t1=$(ticks "$1")
	local reqs
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
	python3 -c "import os,sys; print(round(($t1-$t0)*1e6/os.sysconf('SC_CLK_TCK')/int(sys.argv[1]),2))" "$reqs"
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
[ -z "${PROCESSES:-}" ] || echo "# pollux-server --processes $PROCESSES: calls and CPU of its worker processes, together"
echo "# system calls: strace -c -f -p on the server during ab -n $n -c $c (and -k), per request"
echo "# CPU: utime+stime of the server during wrk -t1 -c$conns -d${dur}s, per request, median of $rounds alternating runs"
echo

nw=$(nginx_worker)
declare -A short keep cpu_close cpu_keep
short[nginx]=$(calls "$nw" "http://127.0.0.1:$nport/")
keep[nginx]=$(calls "$nw" "http://127.0.0.1:$nport/" -k)
for s in "$@"; do
	start_server "$s"
	short[$s]=$(calls "$wpids" "http://$saddr/")
	keep[$s]=$(calls "$wpids" "http://$saddr/" -k)
	stop_server
done

for s in nginx "$@"; do cpu_close[$s]=""; cpu_keep[$s]=""; done
for _ in $(seq "$rounds"); do
	cpu_close[nginx]+=" $(cpu_us "$nw" "http://127.0.0.1:$nport/" -H 'Connection: close')"
	cpu_keep[nginx]+=" $(cpu_us "$nw" "http://127.0.0.1:$nport/")"
	for s in "$@"; do
		start_server "$s"
		cpu_close[$s]+=" $(cpu_us "$wpids" "http://$saddr/" -H 'Connection: close')"
		cpu_keep[$s]+=" $(cpu_us "$wpids" "http://$saddr/")"
		stop_server
	done
done

echo "| server | calls per short connection | calls per keep-alive request | CPU us per request, Connection: close | CPU us per request, keep-alive |"
echo "|---|---|---|---|---|"
for s in nginx "$@"; do
	name=$s
	[ "$s" = nginx ] && name="nginx $(nginx -v 2>&1 | sed 's|.*/||'), 1 worker, return 200"
	# shellcheck disable=SC2086
	echo "| $name | ${short[$s]} | ${keep[$s]} | $(printf '%s\n' ${cpu_close[$s]} | median) | $(printf '%s\n' ${cpu_keep[$s]} | median) |"
done
