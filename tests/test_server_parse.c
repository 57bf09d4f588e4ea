/* test_server_parse.c: pollux-server's request parser alone: known good and
 * bad heads, every split point, and a random mutation fuzz in which each
 * input sits in a buffer of exactly its size (so ASan sees any overread). */
#include <config.h>
#include "parse.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int parse_exact(const char *s, size_t n, size_t limit, struct http_req *r)
{
	char *b = malloc(n ? n : 1);
	memcpy(b, s, n);
	int rc = http_parse(b, n, limit, r);
	if (rc == PARSE_OK) {
		ck_assert_uint_le(r->head_len, n);
		ck_assert_uint_le(r->head_len, limit);
		ck_assert(r->method >= b && r->method + r->method_len <= b + n);
		ck_assert(r->target >= b && r->target + r->target_len <= b + n);
		/* Make the pointers comparable to s for the caller. */
		r->method = s + (r->method - b);
		r->target = s + (r->target - b);
	}
	free(b);
	return rc;
}

START_TEST(parse_good)
{
	struct http_req r;
	const char *q = "GET /a?b HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, Close\r\n"
	                "Content-Length:  12 \r\n\r\nBODY";
	ck_assert_int_eq(parse_exact(q, strlen(q), 8192, &r), PARSE_OK);
	ck_assert_uint_eq(r.head_len, strlen(q) - 4);
	ck_assert_uint_eq(r.method_len, 3);
	ck_assert(memcmp(r.target, "/a?b", 4) == 0 && r.target_len == 4);
	ck_assert_int_eq(r.minor, 1);
	ck_assert(r.conn_close && r.conn_keepalive && r.has_length);
	ck_assert_uint_eq(r.content_length, 12);
	/* Bare LF line ends and leading empty lines are accepted. */
	q = "\r\n\nHEAD / HTTP/1.0\nX: y\n\n";
	ck_assert_int_eq(parse_exact(q, strlen(q), 8192, &r), PARSE_OK);
	ck_assert_int_eq(r.minor, 0);
	ck_assert_uint_eq(r.head_len, strlen(q));
	/* Every proper prefix is incomplete, never an error or a success. */
	q = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	for (size_t i = 0; i < strlen(q); i++)
		ck_assert_int_eq(parse_exact(q, i, 8192, &r), PARSE_INCOMPLETE);
}
END_TEST

START_TEST(parse_bad)
{
	static const char *const bad[] = {
		"GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET /\r\n\r\n", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / http/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", "GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
		"G\xc3T / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1\rX\nHost: a\r\n\r\n",
		"GET / HTTP/0.9\r\n\r\n", "GET / HTTP/1.10\r\nHost: a\r\n\r\n",
	};
	struct http_req r;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t n = strlen(bad[i]);
		if (i == 12)
			n = 29;	/* the one with a NUL inside */
		ck_assert_msg(parse_exact(bad[i], n, 8192, &r) == PARSE_BAD, "case %zu accepted", i);
	}
	const char *v2 = "GET / HTTP/2.0\r\nHost: a\r\n\r\n";
	ck_assert_int_eq(parse_exact(v2, strlen(v2), 8192, &r), PARSE_VERSION);
	char big[300];
	memset(big, 'a', sizeof big);
	memcpy(big, "GET /", 5);
	/* A request line alone past the limit: the URI is too long. */
	ck_assert_int_eq(parse_exact(big, sizeof big, 256, &r), PARSE_URI_TOO_LONG);
	ck_assert_int_eq(parse_exact(big, 200, 256, &r), PARSE_INCOMPLETE);
	/* ... unless it is no request line at all. */
	memcpy(big, "G\x01T /", 5);
	ck_assert_int_eq(parse_exact(big, sizeof big, 256, &r), PARSE_BAD);
	memcpy(big, "GET /", 5);
	memcpy(big + 256, "\r\nHost: a\r\n\r\n", 14);
	ck_assert_int_eq(parse_exact(big, sizeof big, 256, &r), PARSE_URI_TOO_LONG);
	/* A head that ends past the limit is too large even if complete. */
	const char *q = "GET / HTTP/1.1\r\nHost: x\r\nX: 0123456789012345678901234567890123456789\r\n\r\n";
	ck_assert_int_eq(parse_exact(q, strlen(q), 40, &r), PARSE_TOO_LARGE);
}
END_TEST

START_TEST(parse_fuzz)
{
	static const char *const seeds[] = {
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"HEAD /a/b?c HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 10\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: y\r\nTransfer-Encoding: chunked\r\n\r\n",
		"\r\nGET http://h/p HTTP/1.1\nHost: z\nX-A: \t v \t\n\n",
	};
	static const char alphabet[] = "\r\n\0 \t:/%.HTTP1GET\x7f\x80\xff-0123456789";
	uint64_t x = 88172645463325252ull;
	char buf[512];
	for (int iter = 0; iter < 300000; iter++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		const char *sd = seeds[x % 4];
		size_t n = strlen(sd);
		memcpy(buf, sd, n);
		int muts = (int)((x >> 8) % 8);
		for (int m = 0; m < muts; m++) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			size_t at = (size_t)(x % (n ? n : 1));
			char ch = alphabet[(x >> 20) % (sizeof alphabet - 1)];
			switch ((x >> 40) % 4) {
			case 0: buf[at] = ch; break;
			case 1: if (n < sizeof buf) { memmove(buf + at + 1, buf + at, n - at); buf[at] = ch; n++; } break;
			case 2: if (n) { memmove(buf + at, buf + at + 1, n - at - 1); n--; } break;
			default: n = at; break;
			}
		}
		struct http_req r;
		size_t limit = 16 + (size_t)((x >> 30) % 128);
		int rc = parse_exact(buf, n, limit, &r);
		ck_assert(rc == PARSE_OK || rc == PARSE_INCOMPLETE || rc == PARSE_BAD ||
		          rc == PARSE_TOO_LARGE || rc == PARSE_VERSION ||
		          rc == PARSE_URI_TOO_LONG || rc == PARSE_NOT_IMPL);
		if (rc == PARSE_INCOMPLETE)
			ck_assert_uint_lt(n, limit);
	}
}
END_TEST

int main(void)
{
	Suite *su = suite_create("pollux-server parser");
	TCase *tc = tcase_create("parse");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, parse_good);
	tcase_add_test(tc, parse_bad);
	tcase_add_test(tc, parse_fuzz);
	suite_add_tcase(su, tc);
	SRunner *sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
