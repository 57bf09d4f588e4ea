#!/bin/sh
# scale_dying_server.sh: test fixture for test_scale.sh, given to
# pollux-scale as --server-cmd. Runs the real pollux-server
# ($SCALE_REAL_SERVER), but for backend $SCALE_KILL_BACKEND it kills the
# server with SIGKILL as soon as it has said where it listens: a server that
# dies in the middle of a point.
kill_it=
prev=
for a in "$@"; do
	if [ "$prev" = --backend ] && [ "$a" = "$SCALE_KILL_BACKEND" ]; then
		kill_it=1
	fi
	prev=$a
done
[ -n "$kill_it" ] || exec "$SCALE_REAL_SERVER" "$@"

fifo=$(mktemp -u "${TMPDIR:-/tmp}/scale-dying.XXXXXX") || exit 1
mkfifo "$fifo" || exit 1
"$SCALE_REAL_SERVER" "$@" > "$fifo" &
pid=$!
IFS= read -r line < "$fifo"
rm -f "$fifo"
printf '%s\n' "$line"
kill -KILL "$pid"
wait "$pid"
echo "scale_dying_server.sh: killed pollux-server $pid on purpose" >&2
exit 1
