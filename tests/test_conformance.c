/* test_conformance.c: runs the libpollux conformance suite, one Check test
 * case per backend in pollux_backends() (named after it), plus "choice". */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"

/* Generous: the cross-checks use thousands of fds and CI runs this under
 * ASan+UBSan and valgrind; CK_TIMEOUT_MULTIPLIER scales it further. */
#define CT_TCASE_TIMEOUT 60

static Suite *conformance_suite(void)
{
	Suite *s = suite_create("conformance");
	const char *const *b = pollux_backends();
	TCase *tc;

	tc = tcase_create("choice");
	tcase_add_checked_fixture(tc, ct_setup, NULL);
	tcase_set_timeout(tc, CT_TCASE_TIMEOUT);
	ct_add_choice(tc);
	suite_add_tcase(s, tc);

	for (int i = 0; b != NULL && b[i] != NULL; i++) {
		tc = tcase_create(b[i]);
		tcase_add_checked_fixture(tc, ct_setup, NULL);
		tcase_set_timeout(tc, CT_TCASE_TIMEOUT);
		ct_add_errors(tc, i);
		ct_add_events(tc, i);
		ct_add_modes(tc, i);
		ct_add_fork(tc, i);
		ct_add_scale(tc, i);
		ct_add_xcheck(tc, i);
		ct_add_threads(tc, i);
		ct_add_wake(tc, i);
		ct_add_close(tc, i);
		suite_add_tcase(s, tc);
	}
	return s;
}

/* With --not-run: only lists the cases this build does not run (see
 * tests/notrun.c) and exits 77, automake's SKIP, if there are any,
 * so that tests/not-run.sh counts them as not run. */
int main(int argc, char **argv)
{
	int list_only = argc > 1 && strcmp(argv[1], "--not-run") == 0;
	SRunner *sr = srunner_create(conformance_suite());
	int failed, not_run;

	if (list_only) {
		not_run = nr_report(stdout, "test_conformance");
		srunner_free(sr);
		if (not_run < 0)
			return EXIT_FAILURE;
		if (not_run == 0)
			printf("every conformance case runs on every backend\n");
		return not_run > 0 ? 77 : EXIT_SUCCESS;
	}
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* Said here too, so that nobody reads the pass above as covering
	 * them. */
	not_run = nr_report(stdout, "test_conformance");
	return failed == 0 && not_run >= 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
