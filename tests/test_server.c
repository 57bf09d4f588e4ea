/* test_server.c: the pollux-server suite: every test runs the real server
 * (once per backend built) and talks to it over sockets. */
#include <config.h>
#include "test_server_util.h"

#include <stdlib.h>
#include <string.h>

#include "notrun.h"

void add_http_tests(Suite *su, int nb);
void add_files_tests(Suite *su, int nb);
void add_echo_tests(Suite *su, int nb);
void add_misc_tests(Suite *su, int nb);
void add_lines_tests(Suite *su, int nb);
void add_procs_tests(Suite *su, int nb);

/* With --not-run: only lists the cases this build does not run (see
 * tests/notrun.c); exit 77 (SKIP) if there are any. */
int main(int argc, char **argv)
{
	int nb = backend_count();
	Suite *su = suite_create("pollux-server");
	add_misc_tests(su, nb);
	add_lines_tests(su, nb);
	add_http_tests(su, nb);
	add_files_tests(su, nb);
	add_echo_tests(su, nb);
	add_procs_tests(su, nb);
	SRunner *sr = srunner_create(su);
	if (argc > 1 && strcmp(argv[1], "--not-run") == 0) {
		int not_run = nr_report(stdout, "test_server");
		srunner_free(sr);
		return not_run < 0 ? EXIT_FAILURE : not_run > 0 ? 77 : EXIT_SUCCESS;
	}
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	int not_run = nr_report(stdout, "test_server");
	return failed || not_run < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
