#!/bin/sh
# python_kqueue.sh: the Python package on the kqueue backend (tests/test_python.sh).
exec "${top_srcdir:?run through make check}/tests/test_python.sh" kqueue
