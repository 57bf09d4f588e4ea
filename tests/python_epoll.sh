#!/bin/sh
# python_epoll.sh: the Python package on the epoll backend (tests/test_python.sh).
exec "${top_srcdir:?run through make check}/tests/test_python.sh" epoll
