#!/bin/sh
# not-run.sh: the test cases that a backend of this build is not held to
# (kqueue on libkqueue; tests/notrun.c has each reason and its evidence),
# from every suite that has such marks. SKIP (exit 77) when there are any,
# so that they are counted as not run, never as passed; PASS when every
# case runs; FAIL when a mark names no case.
: "${top_builddir:?run through make check}"
skip=0
for prog in test_conformance test_load test_server; do
	"$top_builddir/tests/$prog" --not-run
	case $? in
	0) ;;
	77) skip=1 ;;
	*) echo "not-run: $prog --not-run failed" >&2; exit 1 ;;
	esac
done
[ "$skip" -eq 0 ] || exit 77
