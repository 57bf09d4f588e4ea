/* test_server.c: the pollux-server suite: every test runs the real server
 * (once per backend built) and talks to it over sockets. */
#include <config.h>
#include "test_server_util.h"

#include <stdlib.h>

void add_http_tests(Suite *su, int nb);
void add_echo_tests(Suite *su, int nb);
void add_misc_tests(Suite *su, int nb);
void add_procs_tests(Suite *su, int nb);

int main(void)
{
	int nb = backend_count();
	Suite *su = suite_create("pollux-server");
	add_misc_tests(su, nb);
	add_http_tests(su, nb);
	add_echo_tests(su, nb);
	add_procs_tests(su, nb);
	SRunner *sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
