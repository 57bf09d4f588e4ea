#!/bin/sh
# test_cli_unbuilt.sh: test_cli.sh's part about a backend pollux knows but
# this build lacks: every tool says so in the same line, for -b and for
# POLLUX_BACKEND. Not run (77) when every backend is built.
: "${top_srcdir:?run through make check}"
CLI_PART=unbuilt
export CLI_PART
exec "$top_srcdir/tests/test_cli.sh"
