/* summary.c: pollux-bench's figures from one backend's timed runs: the
 * median and min, the paired lib/raw ratio, and the rule that flags a row
 * whose runs disagree. No I/O, so that tests/test_bench_units.c can check
 * it on made-up runs. */
#include "toolconfig.h"
#include "bench.h"

#include <stdlib.h>

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double bench_paired_ratio(const uint64_t *lib, const uint64_t *raw,
                          unsigned long runs)
{
	double *r = malloc(runs * sizeof *r);
	if (!r)
		return (double)lib[0] / (double)(raw[0] ? raw[0] : 1);
	for (unsigned long i = 0; i < runs; i++)
		r[i] = (double)lib[i] / (double)(raw[i] ? raw[i] : 1);
	qsort(r, runs, sizeof *r, cmp_double);
	double m = runs % 2 ? r[runs / 2] : (r[runs / 2 - 1] + r[runs / 2]) / 2;
	free(r);
	return m;
}

int bench_noisy(double median, double min)
{
	/* min == 0 cannot be judged (and no run takes 0 ns): not flagged */
	return min > 0 && median > BENCH_NOISY_RATIO * min;
}

struct result bench_summarize(uint64_t *ns, unsigned long runs, long events)
{
	struct result r;
	qsort(ns, runs, sizeof *ns, cmp_u64);
	double med = runs % 2 ? (double)ns[runs / 2]
	                      : ((double)ns[runs / 2 - 1] + (double)ns[runs / 2]) / 2;
	r.median_us = med / 1e3;
	r.min_us = (double)ns[0] / 1e3;
	r.ns_per_event = med / (double)events;
	r.spread = ns[0] ? med / (double)ns[0] : 0;
	r.noisy = bench_noisy(med, (double)ns[0]);
	r.ratio = 0;
	return r;
}
