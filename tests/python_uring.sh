#!/bin/sh
# python_uring.sh: the Python package on the uring backend (tests/test_python.sh).
exec "${top_srcdir:?run through make check}/tests/test_python.sh" uring
