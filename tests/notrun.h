/* notrun.h: cases that a backend of this build is not held to, for a
 * reason outside pollux shown to be so (tests/notrun.c has each reason and
 * its evidence), and the record of those that were therefore not run. */
#ifndef POLLUX_TESTS_NOTRUN_H
#define POLLUX_TESTS_NOTRUN_H

#include <check.h>
#include <stdio.h>

/* Adds loop test t of program prog for each backend index i in
 * [start, end) (named by pollux_backends()[i]), except those that are
 * marked: those are recorded as not run instead. */
void nr_add(TCase *tc, const char *prog, const TTest *t, int start, int end);
/* Prints what prog did not run, one line each with the reason; returns
 * how many, or -1 if a mark of prog names no case registered with nr_add
 * (a renamed test must not leave a stale mark behind). */
int nr_report(FILE *f, const char *prog);

#endif
