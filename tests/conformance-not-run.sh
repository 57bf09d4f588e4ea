#!/bin/sh
# conformance-not-run.sh: the conformance cases that a backend of this
# build is not held to (kqueue on libkqueue: tests/conformance_notrun.c has
# each reason and its evidence). SKIP (exit 77) when there are any, so that
# they are counted as not run, never as passed; PASS when every case runs.
[ -n "$top_builddir" ] || { echo "conformance-not-run: top_builddir is not set; run through make check" >&2; exit 1; }
exec "$top_builddir/tests/test_conformance" --not-run
