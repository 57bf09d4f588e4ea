#!/bin/sh
# scale_notify_load.sh: test fixture for test_scale.sh, given to
# pollux-scale as --load-cmd. Tells the test, through the FIFO
# $SCALE_NOTIFY, that the sweep has reached its load phase (the server is up
# and answering), then becomes the real pollux-load ($SCALE_REAL_LOAD).
echo started > "$SCALE_NOTIFY"
exec "$SCALE_REAL_LOAD" "$@"
