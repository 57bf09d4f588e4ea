#!/bin/sh
# python_poll.sh: the Python package on the poll backend (tests/test_python.sh).
exec "${top_srcdir:?run through make check}/tests/test_python.sh" poll
