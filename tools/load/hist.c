/* hist.c: the latency histogram, log-linear like HdrHistogram: each power
 * of two split into 1024 linear steps, so every value keeps 3 significant
 * digits while the whole range 1 us .. hours fits in a fixed array. */
#include "toolconfig.h"

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

size_t hist_index(uint64_t v)
{
	return index_of(v > HIST_MAX_US ? HIST_MAX_US : v);
}

uint64_t hist_slot_value(size_t i)
{
	return highest_of(i);
}

/* One row: value, percentile as a fraction, count so far, 1/(1-p). */
static void hgrm_row(FILE *f, uint64_t v, double level, uint64_t cum, double unit)
{
	double q = level / 100.0;
	if (q < 1.0)
		fprintf(f, "%12.3f %2.12f %10llu %14.2f\n", (double)v / unit, q,
		        (unsigned long long)cum, 1.0 / (1.0 - q));
	else
		fprintf(f, "%12.3f %2.12f %10llu\n", (double)v / unit, q,
		        (unsigned long long)cum);
}

/* As HdrHistogram's PercentileIterator: the reporting level starts at 0
 * and each step is 100 / (ticks * 2^(halvings + 1)), where halvings is how
 * many times the distance to 100% has been halved, so the rows crowd
 * towards the tail; a row is the first slot whose cumulative share reaches
 * the level, with the level (not the share) as its percentile; the last
 * slot gives one row, then a final one at 100%. Values are clipped to the
 * exact minimum and maximum, as hist_percentile does. */
void hist_write_hgrm(FILE *f, const struct hist *h, double unit)
{
	const int ticks = 5;
	fprintf(f, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount",
	        "1/(1-Percentile)");
	if (h->count) {
		double level = 0;
		uint64_t cum = 0;
		size_t last = 0;
		for (size_t i = 0; i < HIST_LEN && cum < h->count; i++) {
			if (!h->counts[i])
				continue;
			cum += h->counts[i];
			last = i;
			uint64_t v = highest_of(i);
			v = v > h->max ? h->max : v < h->min ? h->min : v;
			while (100.0 * (double)cum / (double)h->count >= level) {
				hgrm_row(f, v, level, cum, unit);
				double halvings = floor(log(100.0 / (100.0 - level)) / log(2.0));
				level += 100.0 / ((double)ticks * pow(2.0, halvings + 1));
				if (cum == h->count)
					break;
			}
		}
		uint64_t v = highest_of(last);
		v = v > h->max ? h->max : v < h->min ? h->min : v;
		hgrm_row(f, v, 100.0, cum, unit);
	}
	double mean = hist_mean(h), sd = hist_stdev(h);
	fprintf(f, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", mean / unit, sd / unit);
	fprintf(f, "#[Max     = %12.3f, Total count    = %12llu]\n",
	        (double)(h->count ? h->max : 0) / unit, (unsigned long long)h->count);
	fprintf(f, "#[Buckets = %12d, SubBuckets     = %12d]\n", HIST_BUCKETS,
	        1 << HIST_SUB_BITS);
}
