#!/bin/sh
# python_select.sh: the Python package on the select backend (tests/test_python.sh).
exec "${top_srcdir:?run through make check}/tests/test_python.sh" select
