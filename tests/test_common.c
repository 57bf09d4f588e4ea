/* test_common.c: the helpers every tool shares (tools/common): address
 * forms, strict numbers, JSON strings that stay valid JSON, durations and
 * limits as cli.h reads and prints them, the backend-name check, and the
 * one HTTP response parser. */
#include <config.h>

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <math.h>

#include "cli.h"
#include "common.h"
#include "httpresp.h"
#include "pollux.h"

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


START_TEST(durations)
{
	static const struct { const char *in; double want; } ok[] = {
		{ "10s", 10 }, { "500ms", 0.5 }, { "2m", 120 }, { "1.5s", 1.5 },
		{ "250us", 250e-6 }, { "1h", 3600 }, { "7", 7 }, { "0.25", 0.25 },
		{ "0", 0 }, { ".5s", 0.5 },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		double v = -1;
		ck_assert_msg(px_parse_duration(ok[i].in, 1e9, &v) == 0, "'%s' refused", ok[i].in);
		ck_assert_msg(fabs(v - ok[i].want) < 1e-12, "'%s' read as %g", ok[i].in, v);
	}
	static const char *bad[] = {
		"", "s", "ms", "-1s", "1e3", "10 s", "10sec", "1.2.3", "1x", "0x10",
		"inf", "nan", "1,5s", " 1s", "1s ", "5mss",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		double v;
		ck_assert_msg(px_parse_duration(bad[i], 1e9, &v) < 0, "'%s' accepted", bad[i]);
	}
	double v;
	ck_assert_int_lt(px_parse_duration("2h", 3600, &v), 0);	/* past max */
	ck_assert_int_eq(px_parse_duration("1h", 3600, &v), 0);

	char buf[32];
	ck_assert_str_eq(px_fmt_duration(buf, sizeof buf, 0), "0s");
	ck_assert_str_eq(px_fmt_duration(buf, sizeof buf, 0.001), "1ms");
	ck_assert_str_eq(px_fmt_duration(buf, sizeof buf, 250e-6), "250us");
	ck_assert_str_eq(px_fmt_duration(buf, sizeof buf, 1.5), "1.5s");
	ck_assert_str_eq(px_fmt_duration(buf, sizeof buf, 120), "2m");
	ck_assert_str_eq(px_fmt_duration(buf, sizeof buf, 7200), "2h");
	ck_assert_str_eq(px_fmt_duration(buf, sizeof buf, 90), "90s");
}
END_TEST

START_TEST(limits)
{
	char buf[32];
	ck_assert_str_eq(px_fmt_limit(buf, sizeof buf, 1024), "1024");
	ck_assert_str_eq(px_fmt_limit(buf, sizeof buf, 0), "0");
	ck_assert_str_eq(px_fmt_limit(buf, sizeof buf, 9223372036854775807ULL), "unlimited");
	ck_assert_str_eq(px_fmt_limit(buf, sizeof buf, ~0ULL), "unlimited");
	ck_assert_str_eq(px_fmt_limit(buf, sizeof buf, (unsigned long long)RLIM_INFINITY),
	                 "unlimited");
	ck_assert_str_eq(px_fmt_limit(buf, sizeof buf, 9223372036854775806ULL),
	                 "9223372036854775806");
}
END_TEST

/* A name pollux knows but this build lacks, or NULL when all are built. */
static const char *unbuilt(void)
{
	static const char *const known[] = { "select", "poll", "epoll", "kqueue", "uring" };
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		int built = 0;
		for (const char *const *b = pollux_backends(); *b; b++)
			built |= strcmp(*b, known[i]) == 0;
		if (!built)
			return known[i];
	}
	return NULL;
}

START_TEST(backend_judge)
{
	char err[512];
	const char *chosen = NULL;
	const char *first = pollux_backends()[0];
	unsetenv("POLLUX_BACKEND");
	ck_assert_int_eq(px_backend_judge(first, "-b", &chosen, err, sizeof err), 0);
	ck_assert_str_eq(chosen, first);
	ck_assert_int_eq(px_backend_judge("auto", "-b", &chosen, err, sizeof err), 0);
	ck_assert_int_eq(px_backend_judge(NULL, "-b", &chosen, err, sizeof err), 0);

	char built[128], want[512];
	px_backends_joined(built, sizeof built, ", ");
	ck_assert_int_eq(px_backend_judge("nonsense", "--backend", NULL, err, sizeof err),
	                 PX_EXIT_USAGE);
	snprintf(want, sizeof want, "--backend 'nonsense': unknown backend; built here: %s", built);
	ck_assert_str_eq(err, want);

	const char *nb = unbuilt();
	if (nb) {
		ck_assert_int_eq(px_backend_judge(nb, "-b", NULL, err, sizeof err), PX_EXIT_USAGE);
		snprintf(want, sizeof want, "-b '%s': known to pollux but not built into this "
		         "libpollux; built here: %s", nb, built);
		ck_assert_str_eq(err, want);
	}

	/* From the environment: auto and no name judge POLLUX_BACKEND, and
	 * the line names the variable. */
	setenv("POLLUX_BACKEND", "nonsense", 1);
	ck_assert_int_eq(px_backend_judge("auto", "-b", NULL, err, sizeof err), PX_EXIT_USAGE);
	snprintf(want, sizeof want, "POLLUX_BACKEND='nonsense': unknown backend; built here: %s",
	         built);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(px_backend_judge(NULL, NULL, NULL, err, sizeof err), PX_EXIT_USAGE);
	ck_assert_str_eq(err, want);
	/* An explicit name does not look at the variable. */
	ck_assert_int_eq(px_backend_judge(first, "-b", &chosen, err, sizeof err), 0);
	setenv("POLLUX_BACKEND", first, 1);
	ck_assert_int_eq(px_backend_judge("auto", "-b", &chosen, err, sizeof err), 0);
	ck_assert_str_eq(chosen, first);
	unsetenv("POLLUX_BACKEND");
}
END_TEST

/* Feeds text to a fresh parser in pieces of step bytes (0: all at once),
 * collecting the body; returns the last result and the bytes used. */
struct got {
	char body[4096];
	size_t len;
};

static void collect(void *arg, const char *p, size_t n)
{
	struct got *g = arg;
	ck_assert_uint_le(g->len + n, sizeof g->body - 1);
	memcpy(g->body + g->len, p, n);
	g->len += n;
	g->body[g->len] = '\0';
}

static enum px_http_result parse(struct px_httpresp *hp, struct got *g, const char *text,
                                 size_t step, int head, size_t *used_total)
{
	memset(g, 0, sizeof *g);
	px_httpresp_init(hp);
	hp->head = head;
	hp->on_body = collect;
	hp->arg = g;
	size_t n = strlen(text), off = 0;
	enum px_http_result r = PX_HTTP_MORE;
	while (off < n && r == PX_HTTP_MORE) {
		size_t k = step && n - off > step ? step : n - off, used;
		r = px_httpresp_feed(hp, text + off, k, &used);
		ck_assert_uint_le(used, k);
		off += used;
	}
	*used_total = off;
	return r;
}

START_TEST(http_responses)
{
	static const size_t steps[] = { 0, 1, 3, 7 };
	for (size_t si = 0; si < sizeof steps / sizeof steps[0]; si++) {
		size_t step = steps[si], used;
		struct px_httpresp hp;
		struct got g;
		/* Content-Length in any case; bytes after the body are not ours. */
		const char *cl[] = { "Content-Length", "content-length", "CONTENT-LENGTH",
		                     "cOnTeNt-LeNgTh" };
		for (size_t i = 0; i < 4; i++) {
			char text[256];
			snprintf(text, sizeof text, "HTTP/1.1 200 OK\r\n%s: 5\r\n\r\nhelloNEXT", cl[i]);
			ck_assert_int_eq(parse(&hp, &g, text, step, 0, &used), PX_HTTP_DONE);
			ck_assert_str_eq(g.body, "hello");
			ck_assert_uint_eq(used, strlen(text) - 4);
			ck_assert_int_eq(hp.status, 200);
			ck_assert_int_eq(hp.keep_alive, 1);
		}
		/* Chunked, with an extension and a trailer. */
		const char *ch = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
		                 "4\r\n{\"a\"\r\nA;x=y\r\n:12345678}\r\n0\r\nX-T: 1\r\n\r\n";
		ck_assert_int_eq(parse(&hp, &g, ch, step, 0, &used), PX_HTTP_DONE);
		ck_assert_str_eq(g.body, "{\"a\":12345678}");
		ck_assert_uint_eq(hp.body_bytes, 14);
		/* To the end of the connection. */
		const char *eof = "HTTP/1.0 200 OK\r\n\r\nall of it";
		ck_assert_int_eq(parse(&hp, &g, eof, step, 0, &used), PX_HTTP_MORE);
		ck_assert_int_eq(px_httpresp_eof(&hp), PX_HTTP_DONE);
		ck_assert_str_eq(g.body, "all of it");
		ck_assert_int_eq(hp.keep_alive, 0);
		/* Cut short: the end of the connection before Content-Length. */
		ck_assert_int_eq(parse(&hp, &g, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc",
		                       step, 0, &used), PX_HTTP_MORE);
		ck_assert_int_eq(px_httpresp_eof(&hp), PX_HTTP_BAD);
		/* 1xx first, then the answer; the status is the final one. */
		ck_assert_int_eq(parse(&hp, &g, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\n"
		                       "Content-Length: 2\r\n\r\nno", step, 0, &used), PX_HTTP_DONE);
		ck_assert_int_eq(hp.status, 404);
		ck_assert_str_eq(g.body, "no");
		/* HEAD: no body whatever Content-Length says. */
		ck_assert_int_eq(parse(&hp, &g, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
		                       step, 1, &used), PX_HTTP_DONE);
		ck_assert_uint_eq(g.len, 0);
		/* Malformed. */
		static const char *bad[] = {
			"HTTP/2 200 OK\r\n\r\n",
			"HTTP/1.1 2x0 OK\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		};
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
			ck_assert_msg(parse(&hp, &g, bad[i], step, 0, &used) == PX_HTTP_BAD,
			              "accepted: %s", bad[i]);
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
	tcase_add_test(tc, durations);
	tcase_add_test(tc, limits);
	tcase_add_test(tc, backend_judge);
	tcase_add_test(tc, http_responses);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
