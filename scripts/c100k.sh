#!/usr/bin/env bash
# c100k.sh: 100,000 concurrent connections to one pollux-server, several
# processes on each side: errors, request rate against no idle connections,
# and the memory each idle connection costs the server and the kernel.
#
#   scripts/c100k.sh SERVER LOAD
#
# Starts SERVER -q -b epoll --proto echo --processes SPROCS --idle-timeout 0
# -l 127.0.0.1:0, then runs LOAD (pollux-load) three times with -P LPROCS:
# BASE (default 10) seconds with only the ACTIVE (100) busy connections;
# HOLD (60) seconds with CONNS (100000) connections of which ACTIVE busy,
# over the source addresses SOURCES (127.0.0.2-127.0.0.49); BASE seconds
# with only the busy ones again. Once the CONNS are all open (counted in
# the workers' /proc/PID/fd) it samples the workers' summed VmRSS and
# /proc/meminfo's Slab, against the same before the big run. Prints the
# system limits that bind first if the big run fails. Stops the server.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 SERVER LOAD" >&2; exit 2; }
server=$1 load=$2
sprocs=${SPROCS:-6} lprocs=${LPROCS:-6} conns=${CONNS:-100000}
active=${ACTIVE:-100} hold=${HOLD:-60} base=${BASE:-10}
sources=${SOURCES:-127.0.0.2-127.0.0.49}

limits() {
	echo "# fs.file-max $(cat /proc/sys/fs/file-max), fs.nr_open $(cat /proc/sys/fs/nr_open)," \
	     "file-nr $(tr '\t' ' ' </proc/sys/fs/file-nr)," \
	     "ip_local_port_range $(tr '\t' '-' </proc/sys/net/ipv4/ip_local_port_range)," \
	     "RLIMIT_NOFILE hard $(ulimit -Hn)," \
	     "$(grep MemAvailable /proc/meminfo | tr -s ' ')," \
	     "tcp_mem $(tr '\t' ' ' </proc/sys/net/ipv4/tcp_mem) pages," \
	     "sockets: $(grep '^TCP:' /proc/net/sockstat)"
}

coproc SRV { exec "$server" -q -b epoll --proto echo --processes "$sprocs" \
	--idle-timeout 0 -l 127.0.0.1:0; }
srv_pid=$SRV_PID
trap 'kill "$srv_pid" 2>/dev/null || true' EXIT
read -r -t 10 word addr _backend <&"${SRV[0]}" && [ "$word" = listening ] ||
	{ echo "$0: the server did not start" >&2; exit 1; }
workers() { cat "/proc/$srv_pid/task/$srv_pid/children"; }
for _ in $(seq 100); do
	[ "$(workers | wc -w)" -ge "$sprocs" ] && break
	sleep 0.1
done
rss_kib() { local s=0 w; for w in $(workers); do
	s=$((s + $(awk '/^VmRSS/ {print $2}' "/proc/$w/status"))); done; echo $s; }
fds() { local s=0 w; for w in $(workers); do
	s=$((s + $(ls "/proc/$w/fd" | wc -l))); done; echo $s; }
slab_kib() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, Linux $(uname -r)"
echo "# server: $server -q -b epoll --proto echo --processes $sprocs --idle-timeout 0 ($addr), workers $(workers | tr '\n' ' ')"
limits

run() { # label args...
	local label=$1 out; shift
	out=$("$load" -b epoll -P "$lprocs" -q --json - "$@" "$addr") || {
		echo "$label: pollux-load failed (exit $?)" >&2
		limits >&2
	}
	echo "$out" >"/tmp/c100k.$label.json"
	printf '%s: connections %s requests %s rps %s p50 %s p99 %s us errors %s idle errors %s\n' \
	       "$label" "$(jget "d['connections']" <<<"$out")" "$(jget "d['requests']" <<<"$out")" \
	       "$(jget "d['rps']" <<<"$out")" "$(jget "d['latency_us']['p50']" <<<"$out")" \
	       "$(jget "d['latency_us']['p99']" <<<"$out")" \
	       "$(jget "sum(d['errors'].values())" <<<"$out")" \
	       "$(jget "sum(d['idle_connect_errors'].values())" <<<"$out")"
}

run base1 -c "$active" -a "$active" -d "$base"
fd0=$(fds) rss0=$(rss_kib) slab0=$(slab_kib)
echo "# before: worker fds $fd0, worker VmRSS sum $rss0 KiB, Slab $slab0 KiB"
"$load" -b epoll -P "$lprocs" -q --json - -c "$conns" -a "$active" -d "$hold" \
	--source "$sources" "$addr" >/tmp/c100k.hold.json 2>/tmp/c100k.hold.err &
lpid=$!
t0=$(date +%s.%N)
while kill -0 $lpid 2>/dev/null && [ "$(fds)" -lt $((fd0 + conns)) ]; do sleep 0.5; done
t1=$(date +%s.%N)
fd1=$(fds) rss1=$(rss_kib) slab1=$(slab_kib)
echo "# held: worker fds $fd1 ($(echo "$t1 - $t0" | bc) s after the start), worker VmRSS sum $rss1 KiB, Slab $slab1 KiB, $(grep '^TCP:' /proc/net/sockstat)"
n=$((fd1 - fd0))
echo "# per idle connection ($n): server user space $(echo "scale=2; ($rss1 - $rss0) * 1024 / $n" | bc) B," \
     "kernel slab $(echo "scale=2; ($slab1 - $slab0) * 1024 / $n" | bc) B (both ends of each loopback connection)"
rc=0
wait $lpid || rc=$?
cat /tmp/c100k.hold.err >&2
[ $rc -eq 0 ] || { echo "hold: pollux-load failed (exit $rc)" >&2; limits >&2; }
out=$(cat /tmp/c100k.hold.json)
printf 'hold: connections %s requests %s rps %s p50 %s p99 %s us errors %s idle errors %s\n' \
       "$(jget "d['connections']" <<<"$out")" "$(jget "d['requests']" <<<"$out")" \
       "$(jget "d['rps']" <<<"$out")" "$(jget "d['latency_us']['p50']" <<<"$out")" \
       "$(jget "d['latency_us']['p99']" <<<"$out")" \
       "$(jget "sum(d['errors'].values())" <<<"$out")" \
       "$(jget "sum(d['idle_connect_errors'].values())" <<<"$out")"
run base2 -c "$active" -a "$active" -d "$base"
b1=$(jget "d['rps']" </tmp/c100k.base1.json) b2=$(jget "d['rps']" </tmp/c100k.base2.json)
h=$(jget "d['rps']" </tmp/c100k.hold.json)
echo "# hold rps / mean of the two baselines: $(echo "scale=3; $h * 2 / ($b1 + $b2)" | bc)"
kill -TERM "$srv_pid"
wait "$srv_pid" || true
trap - EXIT
