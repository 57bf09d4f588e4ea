/* test_server_http.c: pollux-server's HTTP behaviour on every backend:
 * keep-alive, HTTP/1.0, HEAD, errors, pipelining, limits, path traversal,
 * a 64 MiB file by sendfile and read/write, and curl as a real client. */
#include <config.h>
#include "test_server_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define HELLO "Hello from pollux-server\n"


/* Sends req on the connection of rd and reads one response. */
static int ask(struct reader *rd, const char *req, struct resp *r)
{
	ck_assert_int_eq(send_all(rd->fd, req, strlen(req)), 0);
	ck_assert_msg(read_resp(rd, r, strncmp(req, "HEAD", 4) == 0) == 0,
	              "no response to %.40s", req);
	return r->status;
}

START_TEST(http_keepalive_head_errors)
{
	struct srv s;
	srv_start_on(&s, _i, NULL);
	int fd = tcp_connect(s.port);
	ck_assert_int_ge(fd, 0);
	struct reader rd;
	reader_init(&rd, fd);
	struct resp r;
	char v[256];

	ck_assert_int_eq(ask(&rd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	ck_assert_str_eq(r.body, HELLO);
	ck_assert_int_eq(resp_header(&r, "Content-Type", v, sizeof v), 0);
	ck_assert_msg(strncmp(v, "text/plain", 10) == 0, "Content-Type %s", v);
	resp_free(&r);
	/* HEAD: same length announced, no body sent (else the next response
	 * on this connection would not parse). */
	ck_assert_int_eq(ask(&rd, "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	ck_assert_int_eq(r.clen, (long long)strlen(HELLO));
	resp_free(&r);
	ck_assert_int_eq(ask(&rd, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", &r), 404);
	resp_free(&r);
	/* 405 with a body: the body is skipped and the connection goes on. */
	ck_assert_int_eq(ask(&rd, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde", &r), 405);
	ck_assert_int_eq(resp_header(&r, "Allow", v, sizeof v), 0);
	resp_free(&r);
	ck_assert_int_eq(ask(&rd, "DELETE /x HTTP/1.1\r\nHost: t\r\n\r\n", &r), 405);
	resp_free(&r);
	ck_assert_int_eq(ask(&rd, "GET /?q=1 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	ck_assert_str_eq(r.body, HELLO);
	resp_free(&r);
	/* Connection: close is honoured. */
	ck_assert_int_eq(ask(&rd, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r), 200);
	resp_free(&r);
	ck_assert_msg(wait_closed(fd, T_WAIT_MS), "server kept a Connection: close open");
	reader_free(&rd);
	close(fd);

	/* HTTP/1.0 closes unless keep-alive is asked for. */
	fd = tcp_connect(s.port);
	reader_init(&rd, fd);
	ck_assert_int_eq(ask(&rd, "GET / HTTP/1.0\r\n\r\n", &r), 200);
	resp_free(&r);
	ck_assert_msg(wait_closed(fd, T_WAIT_MS), "HTTP/1.0 without keep-alive stayed open");
	reader_free(&rd);
	close(fd);
	fd = tcp_connect(s.port);
	reader_init(&rd, fd);
	ck_assert_int_eq(ask(&rd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r), 200);
	ck_assert_int_eq(resp_header(&r, "Connection", v, sizeof v), 0);
	ck_assert_str_eq(v, "keep-alive");
	resp_free(&r);
	ck_assert_int_eq(ask(&rd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r), 200);
	resp_free(&r);
	reader_free(&rd);
	close(fd);

	/* Malformed requests: 400 (505 for HTTP/2) and the connection closes. */
	static const char *const bad[] = {
		"\x01\x02garbage\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",			/* no Host */
		"GET /\r\n\r\n",				/* HTTP/0.9 */
		"GET  / HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET x HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET / HTTP/1.1\rHost: t\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: t\x7f\r\n\r\n",
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		fd = tcp_connect(s.port);
		reader_init(&rd, fd);
		ck_assert_int_eq(send_all(fd, bad[k], strlen(bad[k])), 0);
		ck_assert_msg(read_resp(&rd, &r, 0) == 0, "no answer to bad request %zu", k);
		ck_assert_msg(r.status == 400, "bad request %zu got %d", k, r.status);
		ck_assert_msg(wait_closed(fd, T_WAIT_MS), "bad request %zu: not closed", k);
		resp_free(&r);
		reader_free(&rd);
		close(fd);
	}
	ck_assert_int_eq(http_once(s.port, "GET / HTTP/2.0\r\nHost: t\r\n\r\n", &r), 505);
	resp_free(&r);
	/* Still serving after all that. */
	ck_assert_int_eq(http_once(s.port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	resp_free(&r);
	srv_stop_ok(&s);
}
END_TEST

START_TEST(http_pipelining)
{
	struct srv s;
	srv_start_on(&s, _i, NULL);
	int fd = tcp_connect(s.port);
	ck_assert_int_ge(fd, 0);
	enum { N = 400 };
	static const char *const reqs[4] = {
		"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n",
		"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET /stats HTTP/1.1\r\nHost: t\r\n\r\n",
	};
	static const int want[4] = { 200, 404, 200, 200 };
	size_t total = 0;
	for (int k = 0; k < N; k++)
		total += strlen(reqs[k % 4]);
	char *all = malloc(total + 64), *p = all;
	for (int k = 0; k < N; k++) {
		size_t l = strlen(reqs[k % 4]);
		memcpy(p, reqs[k % 4], l);
		p += l;
	}
	/* All in one write: the server sees many requests per read. */
	ck_assert_int_eq(send_all(fd, all, (size_t)(p - all)), 0);
	free(all);
	struct reader rd;
	reader_init(&rd, fd);
	for (int k = 0; k < N; k++) {
		struct resp r;
		ck_assert_msg(read_resp(&rd, &r, k % 4 == 2) == 0, "response %d missing", k);
		ck_assert_msg(r.status == want[k % 4], "response %d: %d, wanted %d", k, r.status, want[k % 4]);
		if (k % 4 == 0)
			ck_assert_str_eq(r.body, HELLO);
		if (k % 4 == 3)
			ck_assert_msg(r.body && strstr(r.body, "\"requests\":"), "response %d is not /stats", k);
		resp_free(&r);
	}
	/* Requests split at every odd place still parse. */
	const char *req = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	for (size_t cut = 1; cut < strlen(req); cut += 3) {
		struct resp r;
		ck_assert_int_eq(send_all(fd, req, cut), 0);
		ck_assert_int_eq(send_all(fd, req + cut, strlen(req) - cut), 0);
		ck_assert_int_eq(read_resp(&rd, &r, 0), 0);
		ck_assert_int_eq(r.status, 200);
		resp_free(&r);
	}
	reader_free(&rd);
	close(fd);
	srv_stop_ok(&s);
}
END_TEST

static char *repeat(const char *pre, char ch, size_t n, const char *post)
{
	size_t a = strlen(pre), b = strlen(post);
	char *s = malloc(a + n + b + 1);
	memcpy(s, pre, a);
	memset(s + a, ch, n);
	memcpy(s + a + n, post, b + 1);
	return s;
}

static void expect_close_status(int port, const char *req, int status)
{
	int fd = tcp_connect(port);
	ck_assert_int_ge(fd, 0);
	struct reader rd;
	reader_init(&rd, fd);
	struct resp r;
	ck_assert_int_eq(send_all(fd, req, strlen(req)), 0);
	ck_assert_msg(read_resp(&rd, &r, 0) == 0, "no answer (wanted %d)", status);
	ck_assert_msg(r.status == status, "got %d, wanted %d", r.status, status);
	ck_assert_msg(wait_closed(fd, T_WAIT_MS), "not closed after %d", status);
	resp_free(&r);
	reader_free(&rd);
	close(fd);
}

START_TEST(http_limits)
{
	struct srv s;
	srv_start_on(&s, _i, NULL);
	char *big = repeat("GET / HTTP/1.1\r\nHost: t\r\nX-Big: ", 'a', 9000, "\r\n\r\n");
	expect_close_status(s.port, big, 431);
	free(big);
	/* A request line over the limit is a URI too long (RFC 9110 15.5.15),
	 * not a header field too large. */
	big = repeat("GET /", 'a', 10000, " HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_close_status(s.port, big, 414);
	free(big);
	/* Far more than the limit, sent as fast as possible: still 431, and
	 * no crash from a client that keeps sending after the answer. */
	big = repeat("GET / HTTP/1.1\r\nHost: t\r\nX-Big: ", 'b', 1 << 20, "\r\n\r\n");
	expect_close_status(s.port, big, 431);
	free(big);
	expect_close_status(s.port, "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 999999999\r\n\r\n", 413);
	/* The limit is the whole head, blank line included: 8192 bytes pass,
	 * 8193 do not. */
	struct resp r;
	const char *pre = "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ";
	size_t fill = 8192 - strlen(pre) - 4;
	big = repeat(pre, 'x', fill, "\r\n\r\n");
	ck_assert_uint_eq(strlen(big), 8192);
	ck_assert_int_eq(http_once(s.port, big, &r), 200);
	resp_free(&r);
	free(big);
	big = repeat(pre, 'y', fill + 1, "\r\n\r\n");
	expect_close_status(s.port, big, 431);
	free(big);
	/* Just under the default limit is fine. */
	big = repeat("GET / HTTP/1.1\r\nHost: t\r\nX-Big: ", 'c', 8000, "\r\n\r\n");
	ck_assert_int_eq(http_once(s.port, big, &r), 200);
	resp_free(&r);
	free(big);
	srv_stop_ok(&s);

	/* The limit is configurable. */
	const char *args[] = { "--max-header", "1024", NULL };
	srv_start_on(&s, _i, args);
	big = repeat("GET / HTTP/1.1\r\nHost: t\r\nX-Big: ", 'd', 2000, "\r\n\r\n");
	expect_close_status(s.port, big, 431);
	free(big);
	big = repeat("GET / HTTP/1.1\r\nHost: t\r\nX-Big: ", 'e', 500, "\r\n\r\n");
	ck_assert_int_eq(http_once(s.port, big, &r), 200);
	resp_free(&r);
	free(big);
	srv_stop_ok(&s);
}
END_TEST

static void write_file(const char *dir, const char *name, const char *text)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

#define SECRET "TOP-SECRET-CONTENT"

START_TEST(http_traversal)
{
	char *tmp = make_tempdir();
	ck_assert_ptr_nonnull(tmp);
	char root[4096], p[8192], q[8192];
	snprintf(root, sizeof root, "%s/root", tmp);
	ck_assert_int_eq(mkdir(root, 0755), 0);
	snprintf(p, sizeof p, "%s/sub", root);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	write_file(tmp, "secret.txt", SECRET "\n");
	write_file(root, "a.txt", "alpha\n");
	write_file(root, "sub/b.html", "<p>b</p>\n");
	snprintf(p, sizeof p, "%s/out", root);
	snprintf(q, sizeof q, "%s/secret.txt", tmp);
	ck_assert_int_eq(symlink(q, p), 0);		/* absolute link out */
	snprintf(p, sizeof p, "%s/updir", root);
	ck_assert_int_eq(symlink("..", p), 0);		/* relative link out */
	snprintf(p, sizeof p, "%s/in.txt", root);
	ck_assert_int_eq(symlink("a.txt", p), 0);	/* link inside: fine */

	const char *args[] = { "--root", root, NULL };
	struct srv s;
	srv_start_on(&s, _i, args);
	struct resp r;
	char v[256];
	ck_assert_int_eq(http_once(s.port, "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	ck_assert_str_eq(r.body, "alpha\n");
	ck_assert_int_eq(resp_header(&r, "Content-Type", v, sizeof v), 0);
	ck_assert_msg(strncmp(v, "text/plain", 10) == 0, "a.txt served as %s", v);
	resp_free(&r);
	ck_assert_int_eq(http_once(s.port, "GET /sub/b.html HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	ck_assert_str_eq(r.body, "<p>b</p>\n");
	ck_assert_int_eq(resp_header(&r, "Content-Type", v, sizeof v), 0);
	ck_assert_msg(strncmp(v, "text/html", 9) == 0, "b.html served as %s", v);
	resp_free(&r);
	ck_assert_int_eq(http_once(s.port, "GET /in.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	ck_assert_str_eq(r.body, "alpha\n");
	resp_free(&r);
	ck_assert_int_eq(http_once(s.port, "HEAD /sub/b.html HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	ck_assert_int_eq(r.clen, 9);
	resp_free(&r);
	/* absolute-form: the path is served, the scheme is any case, and an
	 * empty path is "/" (the index page here, none in root: the hello). */
	static const char *const absform[][2] = {
		{ "http://t/a.txt", "alpha\n" }, { "HTTP://t/a.txt?x=1", "alpha\n" },
		{ "https://t/sub/b.html", "<p>b</p>\n" }, { "http://t", HELLO },
		{ "Http://t?q=1", HELLO },
	};
	for (size_t k = 0; k < sizeof absform / sizeof absform[0]; k++) {
		char req[512];
		snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", absform[k][0]);
		int st = http_once(s.port, req, &r);
		ck_assert_msg(st == 200, "%s answered %d", absform[k][0], st);
		ck_assert_msg(r.body && strcmp(r.body, absform[k][1]) == 0, "%s gave '%s'",
		              absform[k][0], r.body ? r.body : "");
		resp_free(&r);
	}
	ck_assert_int_eq(http_once(s.port, "GET http:///a.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r), 400);
	resp_free(&r);

	static const char *const evil[] = {
		"/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
		"/%2e%2e%2fsecret.txt", "/..%2fsecret.txt", "/sub/../../secret.txt",
		"/sub/%2e%2e/%2e%2e/secret.txt", "/./../secret.txt", "/out",
		"/updir/secret.txt", "/updir/root/a.txt/../../secret.txt",
		"//etc/passwd", "/etc/passwd", "http://t/../secret.txt",
		"../secret.txt", "/%2e%2e%5csecret.txt", "/a.txt%00", "/%zz",
		"/sub/..%2f..%2fsecret.txt", "/%252e%252e/secret.txt",
	};
	for (size_t k = 0; k < sizeof evil / sizeof evil[0]; k++) {
		char req[512];
		snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", evil[k]);
		int st = http_once(s.port, req, &r);
		ck_assert_msg(st == 400 || st == 403 || st == 404, "%s answered %d", evil[k], st);
		ck_assert_msg(!r.body || !strstr(r.body, SECRET), "%s leaked the secret", evil[k]);
		ck_assert_msg(!r.body || !strstr(r.body, "root:"), "%s leaked /etc/passwd", evil[k]);
		resp_free(&r);
	}
	srv_stop_ok(&s);
	remove_tree(tmp);
	free(tmp);
}
END_TEST

/* A reproducible byte stream, so a 64 MiB file can be checked without
 * holding a copy of it. */
static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void fill_block(uint64_t *x, unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rng_next(x);
		memcpy(b + i, &v, n - i < 8 ? n - i : 8);
	}
}

#define BIG_SIZE (64u << 20)
#define BLOCK (1u << 16)

START_TEST(http_bigfile)
{
	int bi = _i / 2, no_sendfile = _i % 2;
	char *tmp = make_tempdir();
	ck_assert_ptr_nonnull(tmp);
	char path[4096];
	snprintf(path, sizeof path, "%s/big.bin", tmp);
	int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(f, 0);
	static unsigned char blk[BLOCK], got[BLOCK];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t off = 0; off < BIG_SIZE; off += BLOCK) {
		fill_block(&x, blk, BLOCK);
		ck_assert_int_eq(write(f, blk, BLOCK), BLOCK);
	}
	close(f);

	const char *args[] = { "--root", tmp, no_sendfile ? "--no-sendfile" : NULL, NULL };
	struct srv s;
	srv_start_on(&s, bi, args);
	int fd = tcp_connect(s.port);
	ck_assert_int_ge(fd, 0);
	const char *req = "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n";
	/* Twice on one connection: the second proves the first ended exactly
	 * at Content-Length. */
	struct reader rd;
	reader_init(&rd, fd);
	for (int round = 0; round < 2; round++) {
		struct resp r;
		ck_assert_int_eq(send_all(fd, req, strlen(req)), 0);
		ck_assert_int_eq(read_resp(&rd, &r, 1), 0);
		ck_assert_int_eq(r.status, 200);
		ck_assert_int_eq(r.clen, (long long)BIG_SIZE);
		x = 0x9e3779b97f4a7c15ull;
		size_t done = 0;
		while (done < BIG_SIZE) {
			size_t n = BIG_SIZE - done < BLOCK ? BIG_SIZE - done : BLOCK;
			size_t have = 0;
			if (rd.len > rd.off) {
				have = rd.len - rd.off < n ? rd.len - rd.off : n;
				memcpy(got, rd.buf + rd.off, have);
				rd.off += have;
			}
			while (have < n) {
				ssize_t k = recv(fd, got + have, n - have, 0);
				ck_assert_msg(k > 0, "file cut short at %zu (%s)", done + have,
				              k < 0 ? strerror(errno) : "EOF");
				have += (size_t)k;
			}
			fill_block(&x, blk, n);
			ck_assert_msg(memcmp(got, blk, n) == 0, "file differs in block at %zu", done);
			done += n;
		}
	}
	reader_free(&rd);
	close(fd);
	srv_stop_ok(&s);
	remove_tree(tmp);
	free(tmp);
}
END_TEST

static int run_curl(const char *curl, const char *args, char *out, size_t cap)
{
	char cmd[8192];
	snprintf(cmd, sizeof cmd, "'%s' -s -S --max-time 30 %s", curl, args);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	return pclose(p);
}

START_TEST(http_curl)
{
	const char *curl = getenv("CURL");
	char *tmp = make_tempdir();
	write_file(tmp, "page.html", "<h1>hi</h1>\n");
	const char *args[] = { "--root", tmp, NULL };
	struct srv s;
	srv_start_on(&s, _i, args);
	char a[512], out[8192];
	snprintf(a, sizeof a, "-w ' %%{http_code}' http://127.0.0.1:%d/", s.port);
	ck_assert_int_eq(run_curl(curl, a, out, sizeof out), 0);
	ck_assert_str_eq(out, HELLO " 200");
	snprintf(a, sizeof a, "-w ' %%{http_code} %%{content_type}' http://127.0.0.1:%d/page.html", s.port);
	ck_assert_int_eq(run_curl(curl, a, out, sizeof out), 0);
	ck_assert_str_eq(out, "<h1>hi</h1>\n 200 text/html; charset=utf-8");
	snprintf(a, sizeof a, "-o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/nothing", s.port);
	ck_assert_int_eq(run_curl(curl, a, out, sizeof out), 0);
	ck_assert_str_eq(out, "404");
	snprintf(a, sizeof a, "-I -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/page.html", s.port);
	ck_assert_int_eq(run_curl(curl, a, out, sizeof out), 0);
	ck_assert_str_eq(out, "200");
	snprintf(a, sizeof a, "-X POST -d x=1 -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/", s.port);
	ck_assert_int_eq(run_curl(curl, a, out, sizeof out), 0);
	ck_assert_str_eq(out, "405");
	/* Several URLs over one keep-alive connection. */
	snprintf(a, sizeof a, "http://127.0.0.1:%d/ http://127.0.0.1:%d/page.html", s.port, s.port);
	ck_assert_int_eq(run_curl(curl, a, out, sizeof out), 0);
	ck_assert_str_eq(out, HELLO "<h1>hi</h1>\n");
	snprintf(a, sizeof a, "http://127.0.0.1:%d/stats", s.port);
	ck_assert_int_eq(run_curl(curl, a, out, sizeof out), 0);
	ck_assert_msg(json_value(out, "accepted") >= 6, "stats: %s", out);
	srv_stop_ok(&s);
	remove_tree(tmp);
	free(tmp);
}
END_TEST

/* Reads until the server's FIN; 1 when it came as EOF, 0 on a reset (the
 * RST that closing with unread input makes, which can destroy an answer). */
static int eof_not_reset(int fd)
{
	char buf[4096];
	for (;;) {
		ssize_t k = recv(fd, buf, sizeof buf, 0);
		if (k == 0)
			return 1;
		if (k < 0 && errno != EINTR)
			return 0;
	}
}

/* A closing answer is never cut off by an RST: not when the client
 * pipelined past Connection: close (in the same write), and not when it
 * goes on sending a body it was not asked for; the server lingers for that
 * input. A closing answer with nothing left unread closes at once. */
START_TEST(http_close_without_rst)
{
	struct srv s;
	srv_start_on(&s, _i, NULL);
	/* Pipelined past the closing request. */
	char *all = malloc(64 * 1024), *p = all;
	p += sprintf(p, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	while (p - all < 60 * 1024)
		p += sprintf(p, "GET /stats HTTP/1.1\r\nHost: t\r\n\r\n");
	int fd = tcp_connect(s.port);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(send_all(fd, all, (size_t)(p - all)), 0);
	free(all);
	struct reader rd;
	reader_init(&rd, fd);
	struct resp r;
	ck_assert_int_eq(read_resp(&rd, &r, 0), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, HELLO);
	resp_free(&r);
	ck_assert_msg(rd.len == rd.off, "%s: an answer after Connection: close",
	              backend_at(_i));
	reader_free(&rd);
	ck_assert_msg(eof_not_reset(fd), "%s: reset after a closing answer to a "
	              "pipelined request", backend_at(_i));
	close(fd);
	/* A body sent after the answer, in pieces. */
	fd = tcp_connect(s.port);
	ck_assert_int_ge(fd, 0);
	const char *req = "GET / HTTP/1.0\r\nContent-Length: 262144\r\n\r\n";
	ck_assert_int_eq(send_all(fd, req, strlen(req)), 0);
	reader_init(&rd, fd);
	ck_assert_int_eq(read_resp(&rd, &r, 0), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, HELLO);
	resp_free(&r);
	reader_free(&rd);
	static char body[4096];
	memset(body, 'b', sizeof body);
	for (int k = 0; k < 64; k++)
		ck_assert_msg(send_all(fd, body, sizeof body) == 0, "%s: body piece %d "
		              "refused: the server closed instead of lingering",
		              backend_at(_i), k);
	shutdown(fd, SHUT_WR);
	ck_assert_msg(eof_not_reset(fd), "%s: reset while sending an unasked body",
	              backend_at(_i));
	close(fd);
	/* Nothing left unread: the answer, then EOF. */
	struct resp r2;
	ck_assert_int_eq(http_once(s.port, "GET / HTTP/1.0\r\n\r\n", &r2), 200);
	resp_free(&r2);
	srv_stop_ok(&s);
}
END_TEST

void add_http_tests(Suite *su, int nb);
void add_http_tests(Suite *su, int nb)
{
	TCase *tc = tcase_create("http");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, http_keepalive_head_errors, 0, nb);
	tcase_add_loop_test(tc, http_pipelining, 0, nb);
	tcase_add_loop_test(tc, http_close_without_rst, 0, nb);
	tcase_add_loop_test(tc, http_limits, 0, nb);
	tcase_add_loop_test(tc, http_traversal, 0, nb);
	tcase_add_loop_test(tc, http_bigfile, 0, 2 * nb);
	const char *curl = getenv("CURL");
	if (curl && *curl && access(curl, X_OK) == 0)
		tcase_add_loop_test(tc, http_curl, 0, nb);
	else
		fprintf(stderr, "test_server: CURL not set or not executable: curl test not run\n");
	suite_add_tcase(su, tc);
}
