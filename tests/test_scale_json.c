/* test_scale_json.c: pollux-scale's JSON reader (what it reads from the
 * server and the load tool) and its least-squares fit, on their own. */
#include <config.h>

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scale.h"

static struct json *parse_ok(const char *text)
{
	char err[128] = "";
	struct json *j = json_parse(text, err, sizeof err);
	ck_assert_msg(j != NULL, "'%s' refused: %s", text, err);
	return j;
}

START_TEST(reads_server_stats)
{
	struct json *j = parse_ok(
		"{\"backend\":\"poll\",\"workers\":1,\"uptime_s\":2.5,"
		"\"open\":1053,\"waits\":123456,\"events\":987654,"
		"\"wait_us_total\":1.5e6,\"registered\":1055,"
		"\"errors\":{\"reset\":3,\"timeout\":4}}\n");
	ck_assert(json_num(j, "waits") == 123456);
	ck_assert(json_num(j, "wait_us_total") == 1500000);
	ck_assert(json_num(j, "uptime_s") == 2.5);
	ck_assert(json_sum(j, "errors") == 7);
	ck_assert_str_eq(json_get(j, "backend")->str, "poll");
	/* Missing or not a number: NAN, never a made-up 0. */
	ck_assert(isnan(json_num(j, "nosuch")));
	ck_assert(isnan(json_num(j, "backend")));
	ck_assert(isnan(json_sum(j, "waits")));
	json_free(j);
}
END_TEST

START_TEST(reads_load_report)
{
	struct json *j = parse_ok(
		"{\"target\": \"http://127.0.0.1:1/\", \"rps\": 41234.5,\n"
		" \"errors\": {}, \"idle_connect_errors\": {\"refused\": 2},\n"
		" \"latency_us\": {\"mean\": 1.5, \"p50\": 40, \"p99\": 310,\n"
		"   \"p999\": -0.0, \"max\": 12E+2}, \"list\": [1, [], {}, null,"
		" true, false]}");
	const struct json *lat = json_get(j, "latency_us");
	ck_assert(json_num(lat, "p50") == 40);
	ck_assert(json_num(lat, "p99") == 310);
	ck_assert(json_num(lat, "max") == 1200);
	ck_assert(json_sum(j, "errors") == 0);
	ck_assert(json_sum(j, "idle_connect_errors") == 2);
	ck_assert(json_num(j, "rps") == 41234.5);
	json_free(j);
}
END_TEST

START_TEST(decodes_strings)
{
	struct json *j = parse_ok(
		"{\"a\":\"\\u00e9\\n\\\"\\\\\\/\",\"b\":\"\\ud83d\\ude00\","
		"\"c\":\"\\ud800x\"}");
	ck_assert_str_eq(json_get(j, "a")->str, "\xc3\xa9\n\"\\/");
	ck_assert_str_eq(json_get(j, "b")->str, "\xf0\x9f\x98\x80");
	/* A lone surrogate becomes U+FFFD, not invalid UTF-8. */
	ck_assert_str_eq(json_get(j, "c")->str, "\xef\xbf\xbdx");
	json_free(j);
}
END_TEST

static const char *const bad[] = {
	"", " ", "{", "}", "{\"a\":}", "{\"a\" 1}", "{a:1}", "[1,]", "[1 2]",
	"01", "1.", ".5", "-", "+1", "1e", "0x10", "NaN", "Infinity", "tru",
	"nul", "\"abc", "\"\\x\"", "\"\\u12\"", "\"a\tb\"", "{} x", "{}{}",
	"{\"a\":1,}", "[", "\"\\ud83d", "{\"a\":1", "[[[[[[[[[[[[[[[[[[[[",
};

START_TEST(refuses_malformed)
{
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char err[128] = "";
		struct json *j = json_parse(bad[i], err, sizeof err);
		ck_assert_msg(j == NULL, "'%s' was accepted", bad[i]);
		ck_assert_msg(err[0] != '\0', "'%s': no reason given", bad[i]);
	}
}
END_TEST

START_TEST(refuses_deep_nesting)
{
	char text[2 * 200 + 1];
	memset(text, '[', 200);
	memset(text + 200, ']', 200);
	text[400] = '\0';
	char err[128];
	ck_assert(json_parse(text, err, sizeof err) == NULL);
	memset(text, '[', 20);
	memset(text + 20, ']', 20);
	text[40] = '\0';
	json_free(parse_ok(text));
}
END_TEST

/* Mutated and truncated documents must be refused or read, never read out
 * of bounds (the sanitizer build checks that). */
START_TEST(survives_mutations)
{
	static const char doc[] =
		"{\"a\":[1,2.5e3,{\"b\":\"x\\u0041\"}],\"c\":{\"d\":null,"
		"\"e\":true},\"f\":-0.25}";
	size_t n = sizeof doc - 1;
	static const char alphabet[] = "{}[]\":,\\u0123456789.eE+-tfn \x01\xff";
	unsigned seed = 12345;
	char *buf = malloc(n + 1);
	ck_assert(buf != NULL);
	for (int round = 0; round < 20000; round++) {
		memcpy(buf, doc, n + 1);
		seed = seed * 1103515245u + 12345u;
		int edits = 1 + (int)((seed >> 16) % 4);
		for (int e = 0; e < edits; e++) {
			seed = seed * 1103515245u + 12345u;
			size_t at = (seed >> 8) % n;
			seed = seed * 1103515245u + 12345u;
			buf[at] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
		}
		seed = seed * 1103515245u + 12345u;
		if ((seed >> 16) % 3 == 0)
			buf[(seed >> 4) % n] = '\0';	/* cut short */
		char err[128];
		json_free(json_parse(buf, err, sizeof err));
	}
	free(buf);
}
END_TEST

/* A point whose wall and CPU time per wait are both us. */
static struct scale_point point(const char *b, double reg, double us)
{
	struct scale_point p;
	memset(&p, 0, sizeof p);
	p.backend = b;
	p.fds = (unsigned long)reg;
	p.registered = reg;
	p.us_per_wait = us;
	p.cpu_us_per_wait = us;
	return p;
}

START_TEST(fit_recovers_a_line)
{
	/* 5 us + 200 ns per fd, for poll; epoll flat; one failed point. */
	struct scale_point pts[] = {
		point("poll", 53, 5 + 0.2 * 53), point("epoll", 53, 7),
		point("poll", 1053, 5 + 0.2 * 1053), point("epoll", 1053, 7),
		point("poll", 15053, 5 + 0.2 * 15053), point("epoll", 15053, 7),
		point("poll", 5053, 99999),
	};
	snprintf(pts[6].error, sizeof pts[6].error, "failed");
	struct scale_fit f;
	scale_fit(pts, 7, "poll", SCALE_Y_CPU, &f);
	ck_assert_int_eq(f.n, 3);
	ck_assert_msg(fabs(f.ns_per_fd - 200) < 1e-6, "slope %g", f.ns_per_fd);
	ck_assert_msg(fabs(f.intercept_us - 5) < 1e-6, "base %g", f.intercept_us);
	ck_assert(fabs(f.r2 - 1) < 1e-9);
	scale_fit(pts, 7, "epoll", SCALE_Y_CPU, &f);
	ck_assert(fabs(f.ns_per_fd) < 1e-9);
	ck_assert(fabs(f.intercept_us - 7) < 1e-9);
}
END_TEST

START_TEST(fit_needs_two_counts)
{
	struct scale_point pts[] = {
		point("select", 53, 10), point("select", 53, 12),
		point("poll", 100, 3),
	};
	struct scale_fit f;
	scale_fit(pts, 3, "select", SCALE_Y_CPU, &f);
	ck_assert_int_eq(f.n, 2);
	ck_assert(isnan(f.ns_per_fd));
	scale_fit(pts, 3, "poll", SCALE_Y_CPU, &f);
	ck_assert_int_eq(f.n, 1);
	ck_assert(isnan(f.ns_per_fd));
	pts[0].cpu_us_per_wait = NAN;	/* not measured: left out */
	scale_fit(pts, 3, "select", SCALE_Y_CPU, &f);
	ck_assert_int_eq(f.n, 1);
}
END_TEST

/* The CPU time is fitted, not the wall time that includes sleeping; a
 * curve that bends up gives a line crossing below zero, which the fit
 * reports as its intercept (the report never calls it a cost). */
START_TEST(fit_uses_cpu_and_keeps_a_negative_intercept)
{
	struct scale_point pts[] = {
		point("poll", 0, 10), point("poll", 1000, 20),
		point("poll", 2000, 60), point("poll", 3000, 160),
	};
	for (int i = 0; i < 4; i++)
		pts[i].us_per_wait = 500;	/* asleep most of the wait */
	struct scale_fit f;
	scale_fit(pts, 4, "poll", SCALE_Y_CPU, &f);
	ck_assert(f.y == SCALE_Y_CPU);
	ck_assert_int_eq(f.n, 4);
	ck_assert_msg(f.ns_per_fd > 40 && f.ns_per_fd < 60, "slope %g", f.ns_per_fd);
	ck_assert_msg(f.intercept_us < 0, "intercept %g", f.intercept_us);
	scale_fit(pts, 4, "poll", SCALE_Y_WALL, &f);
	ck_assert(fabs(f.ns_per_fd) < 1e-9);
	/* No CPU figures: no CPU fit, never a made-up one. */
	for (int i = 0; i < 4; i++)
		pts[i].cpu_us_per_wait = NAN;
	scale_fit(pts, 4, "poll", SCALE_Y_CPU, &f);
	ck_assert_int_eq(f.n, 0);
	ck_assert(isnan(f.ns_per_fd) && isnan(f.intercept_us));
}
END_TEST

/* The marginal cost shows the bend: the change since the next smaller
 * point of the same backend, whatever the order of the array. */
START_TEST(marginal_cost_between_points)
{
	struct scale_point pts[] = {
		point("poll", 2000, 60), point("epoll", 0, 7),
		point("poll", 0, 10), point("poll", 1000, 20),
		point("epoll", 1000, 7.5), point("poll", 1500, 1),
	};
	snprintf(pts[5].error, sizeof pts[5].error, "failed");
	ck_assert(isnan(scale_marginal_ns(pts, 6, &pts[2], SCALE_Y_CPU)));
	double m1 = scale_marginal_ns(pts, 6, &pts[3], SCALE_Y_CPU);
	double m2 = scale_marginal_ns(pts, 6, &pts[0], SCALE_Y_CPU);
	ck_assert_msg(fabs(m1 - 10) < 1e-9, "0->1000: %g ns/fd", m1);
	ck_assert_msg(fabs(m2 - 40) < 1e-9, "1000->2000: %g ns/fd", m2);
	double me = scale_marginal_ns(pts, 6, &pts[4], SCALE_Y_CPU);
	ck_assert_msg(fabs(me - 0.5) < 1e-9, "epoll: %g", me);
	ck_assert(isnan(scale_marginal_ns(pts, 6, &pts[5], SCALE_Y_CPU)));
	/* Split over 2 workers: x is descriptors per poller, and barely more
	 * per poller than the row above (fds 1000) tells nothing... */
	pts[0].pollers = 2;
	pts[0].registered = 2001;	/* 1000.5 per poller */
	ck_assert(isnan(scale_marginal_ns(pts, 6, &pts[0], SCALE_Y_CPU)));
	/* ...nor fewer (more processes than the row above). */
	pts[0].pollers = 3;
	ck_assert(isnan(scale_marginal_ns(pts, 6, &pts[0], SCALE_Y_CPU)));
}
END_TEST

START_TEST(median_and_spread_of_runs)
{
	double v[] = { 3, NAN, 1, 2 };
	ck_assert(scale_median(v, 4) == 2);
	double w[] = { 4, 1, 3, 2 };
	ck_assert(scale_median(w, 4) == 2.5);
	double none[] = { NAN };
	ck_assert(isnan(scale_median(none, 1)));

	struct scale_point runs[3];
	runs[0] = point("poll", 1053, 30);
	runs[1] = point("poll", 1053, 10);
	runs[2] = point("poll", 1053, 20);
	runs[0].rps = 100;
	runs[1].rps = 300;
	runs[2].rps = 200;
	runs[1].errors = 2;
	struct scale_point out;
	scale_combine(runs, 3, &out);
	ck_assert_int_eq(out.runs, 3);
	ck_assert_int_eq(out.runs_ok, 3);
	ck_assert(out.cpu_us_per_wait == 20 && out.cpu_min == 10 && out.cpu_max == 30);
	ck_assert(out.rps == 200 && out.rps_min == 100 && out.rps_max == 300);
	ck_assert(out.errors == 2);
	ck_assert_str_eq(out.error, "");

	/* A failed run is left out of the figures and counted. */
	snprintf(runs[0].error, sizeof runs[0].error, "boom");
	scale_combine(runs, 3, &out);
	ck_assert_int_eq(out.runs_ok, 2);
	ck_assert(out.cpu_us_per_wait == 15);
	ck_assert_str_eq(out.error, "");
	/* All failed: the first reason, and no figure. */
	snprintf(runs[1].error, sizeof runs[1].error, "bang");
	snprintf(runs[2].error, sizeof runs[2].error, "crash");
	scale_combine(runs, 3, &out);
	ck_assert_int_eq(out.runs_ok, 0);
	ck_assert_str_eq(out.error, "boom");
	ck_assert(isnan(out.cpu_min) && isnan(out.rps_max));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pollux-scale json and fit");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, reads_server_stats);
	tcase_add_test(tc, reads_load_report);
	tcase_add_test(tc, decodes_strings);
	tcase_add_test(tc, refuses_malformed);
	tcase_add_test(tc, refuses_deep_nesting);
	tcase_add_test(tc, survives_mutations);
	tcase_add_test(tc, fit_recovers_a_line);
	tcase_add_test(tc, fit_needs_two_counts);
	tcase_add_test(tc, fit_uses_cpu_and_keeps_a_negative_intercept);
	tcase_add_test(tc, marginal_cost_between_points);
	tcase_add_test(tc, median_and_spread_of_runs);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
