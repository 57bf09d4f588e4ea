#!/usr/bin/env bash
# file-syscalls.sh: system calls per keep-alive request for a small static
# file, counted (not timed) with strace -c -f on the running server while
# ab -k fetches it N times: each pollux-server binary given (e.g. an older
# build too), then nginx with sendfile on (if installed).
#
# usage: scripts/file-syscalls.sh [SERVER ...]   (default: _build/tools/pollux-server)
# env:   N (2000 requests), ROOT (a temporary directory with small.txt)
set -euo pipefail
case "${1:-}" in
-h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
-*) echo "file-syscalls: unknown option '$1'; usage: $0 [SERVER ...]" >&2; exit 2 ;;
esac
top=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || set -- "$top/_build/tools/pollux-server"
n=${N:-2000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=${ROOT:-$tmp/root}
mkdir -p "$root"
[ -f "$root/small.txt" ] || printf 'hello small file\n' > "$root/small.txt"

# count PID URL: strace the process while ab runs; prints calls per request.
count() {
	strace -f -c -o "$tmp/strace" -p "$1" 2>/dev/null & local tp=$!
	sleep 0.5
	ab -q -k -n "$n" -c 1 "$2" > "$tmp/ab" 2>&1
	sleep 0.3
	kill -INT $tp; wait $tp 2>/dev/null || true
	grep -q "Failed requests: *0" "$tmp/ab" || { echo "ab reported failures" >&2; cat "$tmp/ab" >&2; }
	awk -v n="$n" '$NF != "total" && $1 ~ /^[0-9.]+$/ { printf "%s %.2f  ", $NF, $4 / n } /^100.00/ { printf "\ntotal %.2f per request\n", $4 / n }' "$tmp/strace"
}

for srv in "$@"; do
	"$srv" -q -b epoll -l 127.0.0.1:0 --root "$root" > "$tmp/out" &
	pid=$!
	for _ in $(seq 50); do grep -q listening "$tmp/out" && break; sleep 0.1; done
	port=$(sed -n 's/^listening 127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/out")
	echo "== $srv (epoll, $root)"
	count "$pid" "http://127.0.0.1:$port/small.txt"
	kill $pid; wait $pid 2>/dev/null || true
done

if command -v nginx > /dev/null; then
	port=$((30000 + RANDOM % 20000))
	mkdir -p "$tmp/nginx"
	cat > "$tmp/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 1024; }
http { access_log off; sendfile on;
  client_body_temp_path $tmp/nginx/body;
  server { listen 127.0.0.1:$port; root $root; } }
CONF
	nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" & mp=$!
	for _ in $(seq 50); do [ -s "$tmp/nginx/nginx.pid" ] && pgrep -P "$(cat "$tmp/nginx/nginx.pid")" > /dev/null && break; sleep 0.1; done
	wp=$(pgrep -P "$(cat "$tmp/nginx/nginx.pid")")
	echo "== nginx $(nginx -v 2>&1 | sed 's/.*\///'), 1 worker, sendfile on"
	count "$wp" "http://127.0.0.1:$port/small.txt"
	kill $mp; wait $mp 2>/dev/null || true
fi
