/* hist.c: the latency histogram, log-linear like HdrHistogram: each power
 * of two split into 1024 linear steps, so every value keeps 3 significant
 * digits while the whole range 1 us .. hours fits in a fixed array. */
#include <config.h>

#include <math.h>
#include <string.h>

#include "load.h"

#define HALF (1u << (HIST_SUB_BITS - 1))
#define SUB_MASK ((UINT64_C(1) << HIST_SUB_BITS) - 1)

/* Position of the highest set bit of v (v > 0). */
static unsigned top_bit(uint64_t v)
{
#if defined(__GNUC__) || defined(__clang__)
	return 63u - (unsigned)__builtin_clzll(v);
#else
	unsigned b = 0;
	while (v >>= 1)
		b++;
	return b;
#endif
}

static unsigned bucket_of(uint64_t v)
{
	/* Values below 2048 sit in bucket 0 with step 1. */
	return top_bit(v | SUB_MASK) - (HIST_SUB_BITS - 1);
}

static size_t index_of(uint64_t v)
{
	unsigned b = bucket_of(v);
	uint64_t sub = v >> b;
	return (((size_t)(b + 1) << (HIST_SUB_BITS - 1)) + (size_t)sub) - HALF;
}

/* Largest value that shares slot i (what HdrHistogram reports). */
static uint64_t highest_of(size_t i)
{
	size_t b1 = i >> (HIST_SUB_BITS - 1);
	uint64_t sub = (i & (HALF - 1)) + HALF;
	if (b1 == 0)
		return i; /* bucket 0, lower half: step 1 */
	unsigned b = (unsigned)b1 - 1;
	return ((sub + 1) << b) - 1;
}

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof *h);
	h->min = UINT64_MAX;
}

void hist_record(struct hist *h, uint64_t us)
{
	uint64_t v = us > HIST_MAX_US ? HIST_MAX_US : us;
	h->counts[index_of(v)]++;
	h->count++;
	if (us < h->min)
		h->min = us;
	if (us > h->max)
		h->max = us;
	h->sum += (double)us;
	h->sumsq += (double)us * (double)us;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	for (size_t i = 0; i < HIST_LEN; i++)
		dst->counts[i] += src->counts[i];
	dst->count += src->count;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->sum += src->sum;
	dst->sumsq += src->sumsq;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	if (h->count == 0)
		return 0;
	if (p >= 100.0)
		return h->max;
	/* The smallest value with at least ceil(p% of count) samples at or
	 * below it; at least one sample so p=0 gives the minimum. */
	uint64_t want = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (want < 1)
		want = 1;
	uint64_t seen = 0;
	for (size_t i = 0; i < HIST_LEN; i++) {
		seen += h->counts[i];
		if (seen >= want) {
			uint64_t v = highest_of(i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->count ? h->sum / (double)h->count : 0.0;
}

double hist_stdev(const struct hist *h)
{
	if (h->count < 2)
		return 0.0;
	double m = h->sum / (double)h->count;
	double var = h->sumsq / (double)h->count - m * m;
	return var > 0 ? sqrt(var) : 0.0;
}
