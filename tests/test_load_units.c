/* test_load_units.c: pollux-load's histogram and HTTP response parser on
 * their own: precision and range of the percentiles, and responses split
 * at every byte, chunked, closed-delimited or broken. */
#include <config.h>

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"

/* ---- histogram ---------------------------------------------------------- */

static struct hist *new_hist(void)
{
	struct hist *h = malloc(sizeof *h);
	ck_assert_ptr_nonnull(h);
	hist_init(h);
	return h;
}

START_TEST(hist_exact_below_2048)
{
	struct hist *h = new_hist();
	for (uint64_t v = 1; v <= 2000; v++)
		hist_record(h, v);
	ck_assert_uint_eq(hist_percentile(h, 50), 1000);
	ck_assert_uint_eq(hist_percentile(h, 90), 1800);
	ck_assert_uint_eq(hist_percentile(h, 100), 2000);
	ck_assert_uint_eq(h->min, 1);
	ck_assert(hist_mean(h) == 1000.5);
	free(h);
}
END_TEST

START_TEST(hist_three_significant_digits_to_60s)
{
	struct hist *h = new_hist();
	/* one sample per value spread log-uniformly from 1 us to 60 s */
	uint64_t vals[4000];
	size_t n = 0;
	for (double v = 1; v <= 60e6 && n < 4000; v *= 1.0046)
		vals[n++] = (uint64_t)v;
	for (size_t i = 0; i < n; i++)
		hist_record(h, vals[i]);
	ck_assert_uint_eq(h->count, n);
	/* every percentile is within 0.1% of the true order statistic */
	static const double ps[] = { 1, 10, 25, 50, 75, 90, 99, 99.9 };
	for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
		size_t idx = (size_t)((ps[k] / 100.0) * (double)n + 0.999999) - 1;
		double truth = (double)vals[idx], got = (double)hist_percentile(h, ps[k]);
		ck_assert_msg(got >= truth && got <= truth * 1.001 + 1,
		              "p%g: %g for %g", ps[k], got, truth);
	}
	ck_assert_uint_eq(hist_percentile(h, 100), vals[n - 1]);
	free(h);
}
END_TEST

START_TEST(hist_merge_and_huge_values)
{
	struct hist *a = new_hist(), *b = new_hist();
	hist_record(a, 100);
	hist_record(b, 300);
	hist_record(b, UINT64_C(1) << 40); /* past the range: kept in max */
	hist_merge(a, b);
	ck_assert_uint_eq(a->count, 3);
	ck_assert_uint_eq(a->min, 100);
	ck_assert_uint_eq(a->max, UINT64_C(1) << 40);
	ck_assert_uint_eq(hist_percentile(a, 33), 100);
	ck_assert_uint_eq(hist_percentile(a, 66), 300);
	ck_assert_uint_eq(hist_percentile(a, 100), UINT64_C(1) << 40);
	struct hist *e = new_hist();
	ck_assert_uint_eq(hist_percentile(e, 50), 0);
	ck_assert(hist_mean(e) == 0 && hist_stdev(e) == 0);
	free(a);
	free(b);
	free(e);
}
END_TEST

/* --processes: each load process fills its own histograms and the parent
 * merges them bucket by bucket. The merged percentiles must be those of one
 * histogram that saw both processes' samples, at every percentile (an
 * average of the two processes' percentiles would not be). */
START_TEST(hist_merged_equals_one_of_all_samples)
{
	struct hist *a = new_hist(), *b = new_hist(), *all = new_hist(), *m = new_hist();
	uint32_t x = 12345;
	/* a: fast answers, 40 to ~4000 us; b: a slower, wider process with
	 * fewer samples, 1 ms to ~130 ms, and a tail past the range */
	for (int i = 0; i < 30000; i++) {
		x = x * 1664525u + 1013904223u;
		uint64_t v = 40 + (x >> 8) % 4000;
		hist_record(a, v);
		hist_record(all, v);
	}
	for (int i = 0; i < 7001; i++) {
		x = x * 1664525u + 1013904223u;
		uint64_t v = 1000 + ((uint64_t)(x >> 4) % 130000);
		if (i % 1000 == 999)
			v = (UINT64_C(1) << 42) + i; /* clamped in a bucket, max exact */
		hist_record(b, v);
		hist_record(all, v);
	}
	hist_merge(m, a);
	hist_merge(m, b);
	ck_assert_uint_eq(m->count, all->count);
	ck_assert_uint_eq(m->min, all->min);
	ck_assert_uint_eq(m->max, all->max);
	ck_assert(m->sum == all->sum);
	ck_assert_mem_eq(m->counts, all->counts, sizeof m->counts);
	for (double p = 0.001; p <= 100.0; p += 0.0997)
		ck_assert_msg(hist_percentile(m, p) == hist_percentile(all, p),
		              "p%g: merged %llu, one histogram %llu", p,
		              (unsigned long long)hist_percentile(m, p),
		              (unsigned long long)hist_percentile(all, p));
	static const double std[] = { 50, 90, 99, 99.9, 99.99, 100 };
	for (size_t i = 0; i < sizeof std / sizeof std[0]; i++)
		ck_assert_uint_eq(hist_percentile(m, std[i]), hist_percentile(all, std[i]));
	/* what averaging would have reported instead is far off */
	uint64_t avg = (hist_percentile(a, 50) + hist_percentile(b, 50)) / 2;
	ck_assert_uint_ne(avg, hist_percentile(all, 50));
	/* the order of merging does not matter */
	struct hist *m2 = new_hist();
	hist_merge(m2, b);
	hist_merge(m2, a);
	ck_assert_mem_eq(m2->counts, m->counts, sizeof m->counts);
	ck_assert_uint_eq(hist_percentile(m2, 99.9), hist_percentile(m, 99.9));
	free(a);
	free(b);
	free(all);
	free(m);
	free(m2);
}
END_TEST

/* ---- --hgrm: HdrHistogram's percentile-distribution text --------------- */

START_TEST(hgrm_rows_and_footer)
{
	struct hist *h = new_hist();
	for (uint64_t v = 1; v <= 2000; v++)
		hist_record(h, v);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	hist_write_hgrm(f, h, 1000.0);
	ck_assert_int_eq(fclose(f), 0);
	/* the header wrk2 and the plotter look for, then a blank line */
	ck_assert_msg(strncmp(text, "       Value     Percentile TotalCount 1/(1-Percentile)\n\n",
	                      57) == 0, "%s", text);
	/* level 0: the minimum; level 50: the median, 1000 us, with its count */
	ck_assert_msg(strstr(text, "\n       0.001 0.000000000000          1           1.00\n"), "%s", text);
	ck_assert_msg(strstr(text, "\n       1.000 0.500000000000       1000           2.00\n"), "%s", text);
	ck_assert_msg(strstr(text, "\n       1.800 0.900000000000       1800          10.00\n"), "%s", text);
	/* the last row is 100%, without 1/(1-p) */
	ck_assert_msg(strstr(text, "\n       2.000 1.000000000000       2000\n#[Mean    ="), "%s", text);
	ck_assert_msg(strstr(text, "#[Mean    =        1.000, StdDeviation   =        0.577]\n"
	                     "#[Max     =        2.000, Total count    =         2000]\n"
	                     "#[Buckets =           26, SubBuckets     =         2048]\n"), "%s", text);
	free(text);
	/* no samples: the header and the footer, no made-up row */
	hist_init(h);
	f = open_memstream(&text, &len);
	hist_write_hgrm(f, h, 1000.0);
	fclose(f);
	ck_assert_msg(strstr(text, "1/(1-Percentile)\n\n#[Mean    =        0.000"), "%s", text);
	free(text);
	free(h);
}
END_TEST

/* ---- --interval: merging and packing the sparse series ------------------ */

static void series_add(struct series *s, size_t k, const uint64_t *vals, size_t n)
{
	struct hist *h = new_hist();
	for (size_t i = 0; i < n; i++)
		hist_record(h, vals[i]);
	if (s->niv <= k) {
		s->iv = realloc(s->iv, (k + 1) * sizeof *s->iv);
		memset(s->iv + s->niv, 0, (k + 1 - s->niv) * sizeof *s->iv);
		s->niv = s->ivcap = k + 1;
	}
	struct interval *iv = &s->iv[k];
	iv->requests = n;
	iv->max = h->max;
	iv->first = s->nslots;
	for (size_t i = 0; i < HIST_LEN; i++)
		if (h->counts[i]) {
			s->slots = realloc(s->slots, (s->nslots + 1) * sizeof *s->slots);
			s->slots[s->nslots].slot = (uint32_t)i;
			s->slots[s->nslots].count = (uint32_t)h->counts[i];
			s->nslots++;
			iv->n++;
		}
	free(h);
}

START_TEST(series_merge_and_pack)
{
	struct series a = { 0 }, b = { 0 }, c;
	static const uint64_t x[] = { 5, 7, 7, 3000 }, y[] = { 7, 9 }, z[] = { 1 };
	series_add(&a, 0, x, 4);
	series_add(&b, 0, y, 2);
	series_add(&b, 2, z, 1);
	ck_assert_int_eq(series_merge(&a, &b), 0);
	ck_assert_uint_eq(a.niv, 3);
	ck_assert_uint_eq(a.iv[0].requests, 6);
	ck_assert_uint_eq(a.iv[0].max, 3000);
	ck_assert_uint_eq(a.iv[0].n, 4); /* 5, 7 (three), 9, 3000's slot */
	ck_assert_uint_eq(a.slots[a.iv[0].first + 1].count, 3);
	ck_assert_uint_eq(a.iv[1].requests, 0);
	ck_assert_uint_eq(a.iv[1].n, 0);
	ck_assert_uint_eq(a.iv[2].requests, 1);
	size_t len = series_packed_len(&a);
	unsigned char *buf = malloc(len);
	series_pack(&a, buf);
	ck_assert_int_eq(series_unpack(&c, buf, len), 0);
	ck_assert_uint_eq(c.niv, 3);
	ck_assert_uint_eq(c.nslots, a.nslots);
	ck_assert(memcmp(c.slots, a.slots, a.nslots * sizeof *a.slots) == 0);
	series_free(&c);
	/* a blob cut short is refused, and leaves nothing to free */
	ck_assert_int_eq(series_unpack(&c, buf, len - 1) < 0 ? -1 : 0, -1);
	ck_assert_ptr_null(c.iv);
	free(buf);
	series_free(&a);
	series_free(&b);
}
END_TEST

/* ---- HTTP parser -------------------------------------------------------- */

/* Feeds text in pieces of `step` bytes; returns the final result and the
 * bytes that belonged to the response. */
static enum http_result feed(struct http_parser *hp, const char *text, size_t step,
                             size_t *consumed)
{
	size_t n = strlen(text), off = 0;
	enum http_result r = HTTP_MORE;
	http_init(hp);
	while (off < n && r == HTTP_MORE) {
		size_t k = n - off < step ? n - off : step, used;
		r = http_feed(hp, text + off, k, &used);
		off += used;
	}
	*consumed = off;
	return r;
}

static const char cl_resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";
static const char chunked_resp[] =
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	"5\r\nhello\r\n1A;name=v\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: t\r\n\r\n";

START_TEST(http_every_split)
{
	struct http_parser hp;
	for (size_t step = 1; step <= sizeof chunked_resp; step++) {
		size_t used;
		ck_assert_int_eq(feed(&hp, cl_resp, step, &used), HTTP_DONE);
		ck_assert_uint_eq(used, strlen(cl_resp));
		ck_assert_int_eq(hp.status, 200);
		ck_assert_int_eq(hp.keep_alive, 1);
		ck_assert_int_eq(feed(&hp, chunked_resp, step, &used), HTTP_DONE);
		ck_assert_uint_eq(used, strlen(chunked_resp));
	}
}
END_TEST

START_TEST(http_framing_variants)
{
	struct http_parser hp;
	size_t used;
	/* a 204 has no body even without Content-Length */
	ck_assert_int_eq(feed(&hp, "HTTP/1.1 204 No Content\r\n\r\n", 64, &used), HTTP_DONE);
	/* 100 Continue, then the real answer */
	ck_assert_int_eq(feed(&hp, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 NF\r\n"
	                      "Content-Length: 0\r\n\r\n", 7, &used), HTTP_DONE);
	ck_assert_int_eq(hp.status, 404);
	/* close-delimited body: done only at end of stream */
	ck_assert_int_eq(feed(&hp, "HTTP/1.0 200 OK\r\n\r\nbody...", 3, &used), HTTP_MORE);
	ck_assert_int_eq(hp.keep_alive, 0);
	ck_assert_int_eq(http_eof(&hp), HTTP_DONE);
	/* Connection: close is noticed; bytes after the answer are not taken */
	ck_assert_int_eq(feed(&hp, "HTTP/1.1 200 OK\r\nconnection: Close\r\ncontent-length: 2\r\n"
	                      "\r\nokEXTRA", 100, &used), HTTP_DONE);
	ck_assert_int_eq(hp.keep_alive, 0);
	ck_assert_uint_eq(used, strlen("HTTP/1.1 200 OK\r\nconnection: Close\r\ncontent-length: 2\r\n\r\nok"));
	/* cut short: end of stream mid-body is not a complete answer */
	ck_assert_int_eq(feed(&hp, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 64, &used), HTTP_MORE);
	ck_assert_int_eq(http_eof(&hp), HTTP_BAD);
}
END_TEST

START_TEST(http_malformed)
{
	static const char *const bad[] = {
		"HTTX/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n",
	};
	struct http_parser hp;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t used;
		ck_assert_msg(feed(&hp, bad[i], 5, &used) == HTTP_BAD, "accepted: %s", bad[i]);
	}
	/* endless headers are refused, not buffered without bound */
	http_init(&hp);
	enum http_result r = http_feed(&hp, "HTTP/1.1 200 OK\r\n", 17, &(size_t){ 0 });
	char line[1000];
	memset(line, 'a', sizeof line - 2);
	line[sizeof line - 2] = '\n';
	line[sizeof line - 1] = '\0';
	for (int i = 0; i < 100 && r == HTTP_MORE; i++)
		r = http_feed(&hp, line, strlen(line), &(size_t){ 0 });
	ck_assert_int_eq(r, HTTP_BAD);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pollux-load units");
	TCase *th = tcase_create("histogram");
	tcase_add_test(th, hist_exact_below_2048);
	tcase_add_test(th, hist_three_significant_digits_to_60s);
	tcase_add_test(th, hist_merge_and_huge_values);
	tcase_add_test(th, hist_merged_equals_one_of_all_samples);
	tcase_add_test(th, hgrm_rows_and_footer);
	tcase_add_test(th, series_merge_and_pack);
	suite_add_tcase(s, th);
	TCase *tp = tcase_create("http");
	tcase_add_test(tp, http_every_split);
	tcase_add_test(tp, http_framing_variants);
	tcase_add_test(tp, http_malformed);
	suite_add_tcase(s, tp);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
