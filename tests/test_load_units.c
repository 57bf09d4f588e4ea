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
