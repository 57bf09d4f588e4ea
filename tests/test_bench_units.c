/* test_bench_units.c: pollux-bench's figures on made-up runs: the median
 * and min, the spread, and the rule that flags a row whose runs disagree
 * (median more than BENCH_NOISY_RATIO times the min). */
#include "toolconfig.h"

#include <check.h>
#include <stdlib.h>

#include "bench.h"

START_TEST(steady_runs_are_not_flagged)
{
	uint64_t ns[5] = { 1040, 1000, 1010, 1100, 1020 };
	struct result r = bench_summarize(ns, 5, 10);
	ck_assert(r.median_us == 1.02);
	ck_assert(r.min_us == 1.0);
	ck_assert(r.ns_per_event == 102.0);
	ck_assert(r.spread == 1.02);
	ck_assert_int_eq(r.noisy, 0);
}
END_TEST

START_TEST(median_far_from_min_is_flagged)
{
	/* one lucky run, the rest slowed by something else on the machine */
	uint64_t ns[5] = { 3000, 1000, 3100, 2900, 3050 };
	struct result r = bench_summarize(ns, 5, 1);
	ck_assert(r.median_us == 3.0);
	ck_assert(r.spread == 3.0);
	ck_assert_int_eq(r.noisy, 1);
}
END_TEST

START_TEST(one_slow_run_does_not_flag)
{
	/* the median ignores an outlier: only a slow majority is flagged */
	uint64_t ns[5] = { 1000, 1000, 9000, 1000, 1000 };
	ck_assert_int_eq(bench_summarize(ns, 5, 1).noisy, 0);
}
END_TEST

START_TEST(the_boundary)
{
	ck_assert_int_eq(bench_noisy(1500, 1000), 0);	/* 1.5x exactly: not over */
	ck_assert_int_eq(bench_noisy(1501, 1000), 1);
	ck_assert_int_eq(bench_noisy(5, 0), 0);		/* no min to judge by */
	/* an even count: the median is the mean of the middle two */
	uint64_t ns[4] = { 1000, 1400, 1800, 9000 };
	struct result r = bench_summarize(ns, 4, 1);
	ck_assert(r.median_us == 1.6);
	ck_assert_int_eq(r.noisy, 1);
}
END_TEST

START_TEST(paired_ratio_is_the_median_of_pairs)
{
	uint64_t lib[3] = { 200, 1000, 330 }, raw[3] = { 100, 1000, 300 };
	ck_assert(bench_paired_ratio(lib, raw, 3) == 1.1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bench_units");
	TCase *tc = tcase_create("summary");
	tcase_add_test(tc, steady_runs_are_not_flagged);
	tcase_add_test(tc, median_far_from_min_is_flagged);
	tcase_add_test(tc, one_slow_run_does_not_flag);
	tcase_add_test(tc, the_boundary);
	tcase_add_test(tc, paired_ratio_is_the_median_of_pairs);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
