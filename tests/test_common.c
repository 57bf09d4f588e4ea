/* test_common.c: the helpers every tool shares (tools/common): address
 * forms, strict numbers, and JSON strings that stay valid JSON. */
#include <config.h>

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "common.h"

static void roundtrip(const char *in, const char *want)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[256], out[PX_ADDRSTRLEN];
	ck_assert_msg(px_parse_addr(in, &ss, &len, err, sizeof err) == 0,
	              "%s: %s", in, err);
	px_format_addr((struct sockaddr *)&ss, len, out, sizeof out);
	ck_assert_str_eq(out, want);
}

START_TEST(address_forms)
{
	roundtrip("127.0.0.1:80", "127.0.0.1:80");
	roundtrip("127.0.0.1:0", "127.0.0.1:0");
	roundtrip("[::1]:8080", "[::1]:8080");
	roundtrip("unix:/tmp/x.sock", "unix:/tmp/x.sock");
	static const char *bad[] = {
		"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
		"127.0.0.1:8x", ":80", "::1:80", "[::1]80", "[]:80", "unix:",
		"[127.0.0.1]:80",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		char err[256] = "";
		ck_assert_msg(px_parse_addr(bad[i], &ss, &len, err, sizeof err) < 0,
		              "'%s' was accepted", bad[i]);
		ck_assert_msg(err[0] && !strchr(err, '\n'), "'%s': no one-line reason",
		              bad[i]);
	}
}
END_TEST

START_TEST(strict_numbers)
{
	unsigned long v;
	double d;
	ck_assert_int_eq(px_parse_ulong("42", 0, 100, &v), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_lt(px_parse_ulong("101", 0, 100, &v), 0);
	ck_assert_int_lt(px_parse_ulong("-1", 0, 100, &v), 0);
	ck_assert_int_lt(px_parse_ulong(" 1", 0, 100, &v), 0);
	ck_assert_int_lt(px_parse_ulong("1k", 0, 100, &v), 0);
	ck_assert_int_lt(px_parse_ulong("", 0, 100, &v), 0);
	ck_assert_int_lt(px_parse_ulong("99999999999999999999999", 0, ~0UL, &v), 0);
	ck_assert_int_eq(px_parse_double("1.5", 10, &d), 0);
	ck_assert(d == 1.5);
	ck_assert_int_lt(px_parse_double("nan", 10, &d), 0);
	ck_assert_int_lt(px_parse_double("inf", 1e300, &d), 0);
	ck_assert_int_lt(px_parse_double("-1", 10, &d), 0);
	ck_assert_int_lt(px_parse_double("11", 10, &d), 0);
}
END_TEST

static char *json_of(const char *s)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	ck_assert(f != NULL);
	px_json_string(f, s);
	fclose(f);
	return buf;
}

START_TEST(json_strings)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "plain", "\"plain\"" },
		{ "q\"b\\", "\"q\\\"b\\\\\"" },
		{ "nl\n\x01", "\"nl\\u000a\\u0001\"" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"" },
		/* Not UTF-8: a lone byte, a cut sequence, an overlong form,
		 * a surrogate. Each byte becomes \u00XX, so the JSON stays valid. */
		{ "\xff", "\"\\u00ff\"" },
		{ "a\xc3", "\"a\\u00c3\"" },
		{ "\xc0\xaf", "\"\\u00c0\\u00af\"" },
		{ "\xed\xa0\x80", "\"\\u00ed\\u00a0\\u0080\"" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *got = json_of(cases[i].in);
		ck_assert_str_eq(got, cases[i].want);
		free(got);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("common");
	tcase_add_test(tc, address_forms);
	tcase_add_test(tc, strict_numbers);
	tcase_add_test(tc, json_strings);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
