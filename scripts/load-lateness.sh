#!/usr/bin/env bash
# load-lateness.sh: how late pollux-load's open loop sends its requests
# against their schedule (lateness_us), per client binary, backend and rate.
#
#   scripts/load-lateness.sh SERVER LABEL=LOAD [LABEL=LOAD ...]
#
# Starts SERVER (a pollux-server) as an echo server on 127.0.0.1, port 0,
# epoll backend, and stops it at the end. Then, RUNS times, for every
# rate, backend and client binary in turn (so that the binaries alternate
# and share whatever else the machine does), runs
#   LOAD -b BACKEND -c CONNS -R RATE -d DURATION -q --json - ADDR
# and prints one line per run, then per (label, backend, rate) the medians
# of lateness p50 and p99 over the runs. Environment: RATES (default
# "1000 10000 50000"), BACKENDS ("select poll epoll"), RUNS (3),
# DURATION (5), CONNS (16), WRAP (a command put before LOAD, such as
# "chrt -f 10" to keep other processes off the client; default none; run
# the whole script under "chrt -f 10" to keep them off the server too).
# Prints the load average before and after.
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 SERVER LABEL=LOAD [LABEL=LOAD ...]" >&2; exit 2; }
server=$1
shift
rates=${RATES:-1000 10000 50000}
backends=${BACKENDS:-select poll epoll}
runs=${RUNS:-3}
duration=${DURATION:-5}
conns=${CONNS:-16}
read -r -a wrap <<<"${WRAP:-}"

coproc SRV { exec "$server" -q -b epoll --proto echo -l 127.0.0.1:0; }
srv_pid=$SRV_PID
trap 'kill "$srv_pid" 2>/dev/null || true' EXIT
read -r -t 10 word addr _backend <&"${SRV[0]}" && [ "$word" = listening ] ||
	{ echo "$0: the server did not start" >&2; exit 1; }

out=$(mktemp)
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, Linux $(uname -r)"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# server: $server -q -b epoll --proto echo -l 127.0.0.1:0 ($addr)"
[ ${#wrap[@]} -eq 0 ] || echo "# clients run under: ${wrap[*]}"
printf '%-8s %-7s %6s %4s %9s %9s %10s %8s %6s %s\n' label backend rate run \
	p50_us p99_us max_us requests unsent loadavg
for run in $(seq "$runs"); do
	for rate in $rates; do
		for b in $backends; do
			for spec in "$@"; do
				label=${spec%%=*}
				load=${spec#*=}
				json=$("${wrap[@]}" "$load" -b "$b" -c "$conns" -R "$rate" -d "$duration" \
				       -q --json - "$addr")
				python3 -c '
import json, sys
d = json.loads(sys.argv[1]); l = d["lateness_us"] or {}
print("%-8s %-7s %6s %4s %9s %9s %10s %8d %6d %s" % (sys.argv[2], d["backend"],
      sys.argv[3], sys.argv[4], l.get("p50"), l.get("p99"), l.get("max"),
      d["requests"], d["unsent"], sys.argv[5]))' \
					"$json" "$label" "$rate" "$run" "$(cut -d' ' -f1 /proc/loadavg)" |
					tee -a "$out"
			done
		done
	done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# medians over $runs runs of ${duration} s, $conns connections"
python3 - "$out" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault((f[0], f[1], int(f[2])), []).append((float(f[4]), float(f[5])))
print("%-8s %-7s %6s %12s %12s" % ("label", "backend", "rate", "p50_us", "p99_us"))
for (label, b, rate), v in sorted(rows.items(), key=lambda kv: (kv[0][2], kv[0][1], kv[0][0])):
    print("%-8s %-7s %6d %12.3f %12.3f" % (label, b, rate,
          statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)))
EOF
rm -f "$out"
kill "$srv_pid"
wait "$srv_pid" 2>/dev/null || true
