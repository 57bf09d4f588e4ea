/* test_server_parse.c: pollux-server's request parser alone: known good and
 * bad heads, every split point, chunked bodies, HTTP-dates and Range values,
 * and random mutation fuzzes in which each input sits in a buffer of exactly
 * its size (so ASan sees any overread). */
#include <config.h>
#include "parse.h"

#include <check.h>
#include <stdint.h>
#include <time.h>
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

/* Decodes s[0..n) as a chunked body fed in pieces of at most step bytes,
 * each piece in a buffer of exactly its size. Returns the result and the
 * bytes used in all. */
static int chunked_pieces(const char *s, size_t n, size_t step, uint32_t limit, size_t *total)
{
	struct http_chunked ch;
	http_chunked_init(&ch);
	size_t pos = 0;
	int rc = CHUNK_MORE;
	while (pos < n) {
		size_t k = n - pos < step ? n - pos : step;
		char *b = malloc(k);
		memcpy(b, s + pos, k);
		size_t used = 0;
		rc = http_chunked(&ch, b, k, limit, &used);
		free(b);
		ck_assert_uint_le(used, k);
		if (rc != CHUNK_DONE && rc != CHUNK_BAD && rc != CHUNK_TOO_LARGE)
			ck_assert_uint_eq(used, k);
		pos += used;
		if (rc != CHUNK_MORE)
			break;
	}
	*total = pos;
	return rc;
}

START_TEST(parse_chunked)
{
	const char *body = "5;a=b;c=\"d e\"\r\nhello\r\n00A\r\n0123456789\r\nB \t ;x\r\nhello world\r\n"
	                   "0;last\r\nX-T: 1\r\nY:\r\n\r\nGET / HTTP/1.1\r\n";
	size_t blen = strlen(body) - strlen("GET / HTTP/1.1\r\n");
	for (size_t step = 1; step <= strlen(body); step++) {
		size_t used;
		ck_assert_int_eq(chunked_pieces(body, strlen(body), step, 1 << 20, &used), CHUNK_DONE);
		ck_assert_uint_eq(used, blen);
	}
	size_t used;
	for (size_t i = 0; i < blen; i++)
		ck_assert_int_eq(chunked_pieces(body, i, 7, 1 << 20, &used), CHUNK_MORE);
	static const char *const bad[] = {
		"\r\n", "x\r\n", "5\nhello\r\n", "5\r\nhelloX", "5 \r\n", "5;a\n", "5\r\nhello\n",
		"0\r\nbad trailer\r\n", "0\r\n: x\r\n", "0\r\nX: \x01\r\n", "0\r\n\n", "0\r\n\r\r",
		"-1\r\n", "+5\r\n", "0x5\r\n", "5\r\r\n", "5;\x7f\r\n",
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
		ck_assert_msg(chunked_pieces(bad[k], strlen(bad[k]), 64, 1 << 20, &used) == CHUNK_BAD,
		              "bad chunked %zu accepted", k);
	/* The data limit: exactly at it passes, one over does not, and a size
	 * line that could overflow stops at once. */
	ck_assert_int_eq(chunked_pieces("10\r\n", 4, 64, 16, &used), CHUNK_MORE);
	ck_assert_int_eq(chunked_pieces("11\r\n", 4, 64, 16, &used), CHUNK_TOO_LARGE);
	ck_assert_int_eq(chunked_pieces("8\r\n12345678\r\n9\r\n", 16, 64, 16, &used), CHUNK_TOO_LARGE);
	ck_assert_int_eq(chunked_pieces("fffffffffffffffffffffffffff", 27, 64, 1 << 20, &used),
	                 CHUNK_TOO_LARGE);
	/* The framing limit: endless extensions are not free. */
	size_t n = 300000;
	char *ext = malloc(n);
	memcpy(ext, "1;", 2);
	memset(ext + 2, 'e', n - 2);
	ck_assert_int_eq(chunked_pieces(ext, n, 4096, 1024, &used), CHUNK_TOO_LARGE);
	ck_assert_uint_le(used, 2 * 1024 + 65536 + 1);
	free(ext);
}
END_TEST

START_TEST(parse_dates)
{
	time_t a, b, c;
	ck_assert_int_eq(http_parse_date("Sun, 06 Nov 1994 08:49:37 GMT", 29, &a), 0);
	ck_assert_int_eq((long long)a, 784111777LL);
	ck_assert_int_eq(http_parse_date("Sunday, 06-Nov-94 08:49:37 GMT", 30, &b), 0);
	ck_assert_int_eq(http_parse_date("Sun Nov  6 08:49:37 1994", 24, &c), 0);
	ck_assert(a == b && b == c);
	ck_assert_int_eq(http_parse_date("Thu, 01 Jan 1970 00:00:00 GMT", 29, &a), 0);
	ck_assert_int_eq((long long)a, 0);
	ck_assert_int_eq(http_parse_date("Tue, 29 Feb 2000 23:59:59 GMT", 29, &a), 0);
	ck_assert_int_eq((long long)a, 951868799LL);
	ck_assert_int_eq(http_parse_date("Thu, 02-Jan-20 03:04:05 GMT", 27, &a), 0);
	ck_assert_int_eq((long long)a, 1577934245LL);
	static const char *const bad[] = {
		"", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Xyz 1994 08:49:37 GMT",
		"Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:49:37 GMT",
		"Sun, 00 Nov 1994 08:49:37 GMT", "Sun Nov 06 08:49:37 94", "yesterday",
		"Sun, 06 Nov 1994 08:49:37 GMT ", "Sunday, 06-Nov-1994 08:49:37 GMT",
		"Sun, 06 Nov 19x4 08:49:37 GMT", "Sun Nov  6 08:49:37 19 4",
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
		ck_assert_msg(http_parse_date(bad[k], strlen(bad[k]), &a) < 0, "date %zu accepted", k);
}
END_TEST

START_TEST(parse_ranges)
{
	static const struct { const char *v; uint64_t size; int rc; uint64_t a, b; } t[] = {
		{ "bytes=0-9", 100, RANGE_OK, 0, 9 }, { "bytes=10-", 100, RANGE_OK, 10, 99 },
		{ "bytes=-5", 100, RANGE_OK, 95, 99 }, { "bytes=-500", 100, RANGE_OK, 0, 99 },
		{ "bytes=90-500", 100, RANGE_OK, 90, 99 }, { "Bytes=1-1", 100, RANGE_OK, 1, 1 },
		{ "bytes= 1-2 ,", 100, RANGE_OK, 1, 2 }, { "bytes=100-", 100, RANGE_UNSAT, 0, 0 },
		{ "bytes=-0", 100, RANGE_UNSAT, 0, 0 }, { "bytes=0-", 0, RANGE_UNSAT, 0, 0 },
		{ "bytes=-1", 0, RANGE_NONE, 0, 0 }, { "bytes=1-2,3-4", 100, RANGE_NONE, 0, 0 },
		{ "bytes=2-1", 100, RANGE_NONE, 0, 0 }, { "bytes=", 100, RANGE_NONE, 0, 0 },
		{ "bytes=a-", 100, RANGE_NONE, 0, 0 }, { "bytes=1", 100, RANGE_NONE, 0, 0 },
		{ "bytes=1-2x", 100, RANGE_NONE, 0, 0 }, { "items=1-2", 100, RANGE_NONE, 0, 0 },
		{ "bytes 1-2", 100, RANGE_NONE, 0, 0 }, { "bytes=--1", 100, RANGE_NONE, 0, 0 },
		{ "bytes=18446744073709551616-", 100, RANGE_UNSAT, 0, 0 },
		{ "bytes=0-18446744073709551616", 100, RANGE_OK, 0, 99 },
	};
	for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
		uint64_t a = 7, b = 7;
		int rc = http_parse_range(t[k].v, strlen(t[k].v), t[k].size, &a, &b);
		ck_assert_msg(rc == t[k].rc, "%s: %d, wanted %d", t[k].v, rc, t[k].rc);
		if (rc == RANGE_OK)
			ck_assert_msg(a == t[k].a && b == t[k].b, "%s: %llu-%llu", t[k].v,
			              (unsigned long long)a, (unsigned long long)b);
	}
}
END_TEST

/* Mutated chunked bodies, dates and ranges: never a crash or an overread,
 * only the documented results, and a body fed in random pieces decodes to
 * the same result and length as fed at once. */
START_TEST(parse_fuzz_values)
{
	static const char *const seeds[] = {
		"5\r\nhello\r\n0\r\n\r\n", "a;x=1\r\n0123456789\r\n0\r\nT: v\r\n\r\n",
		"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
		"Sun Nov  6 08:49:37 1994", "bytes=0-99", "bytes=-5,7-", "bytes=10-",
	};
	static const char alphabet[] = "\r\n\0 \t;:=,-\"0123456789abcdefABCDEFxGMT/";
	uint64_t x = 0x2545F4914F6CDD1Dull;
	char buf[256];
	for (int iter = 0; iter < 200000; iter++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		const char *sd = seeds[x % 8];
		size_t n = strlen(sd);
		memcpy(buf, sd, n);
		int muts = (int)((x >> 8) % 6);
		for (int m = 0; m < muts; m++) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			size_t at = (size_t)(x % (n ? n : 1));
			char ch = alphabet[(x >> 20) % (sizeof alphabet - 1)];
			switch ((x >> 40) % 4) {
			case 0: if (n) buf[at] = ch; break;
			case 1: if (n < sizeof buf) { memmove(buf + at + 1, buf + at, n - at); buf[at] = ch; n++; } break;
			case 2: if (n) { memmove(buf + at, buf + at + 1, n - at - 1); n--; } break;
			default: n = at; break;
			}
		}
		char *b = malloc(n ? n : 1);
		memcpy(b, buf, n);
		time_t t;
		int rc = http_parse_date(b, n, &t);
		ck_assert(rc == 0 || rc == -1);
		uint64_t first, last, size = (x >> 24) % 200;
		rc = http_parse_range(b, n, size, &first, &last);
		ck_assert(rc == RANGE_NONE || rc == RANGE_OK || rc == RANGE_UNSAT);
		if (rc == RANGE_OK)
			ck_assert(first <= last && last < size);
		free(b);
		size_t u1, u2;
		uint32_t limit = 4 + (uint32_t)((x >> 50) % 64);
		int r1 = chunked_pieces(buf, n, n ? n : 1, limit, &u1);
		int r2 = chunked_pieces(buf, n, 1 + (size_t)((x >> 33) % 5), limit, &u2);
		ck_assert(r1 == CHUNK_DONE || r1 == CHUNK_MORE || r1 == CHUNK_BAD || r1 == CHUNK_TOO_LARGE);
		ck_assert_msg(r1 == r2 && u1 == u2, "pieces differ: %d/%zu vs %d/%zu", r1, u1, r2, u2);
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
	tcase_add_test(tc, parse_chunked);
	tcase_add_test(tc, parse_dates);
	tcase_add_test(tc, parse_ranges);
	tcase_add_test(tc, parse_fuzz_values);
	suite_add_tcase(su, tc);
	SRunner *sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
