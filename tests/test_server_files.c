/* test_server_files.c: pollux-server's HTTP/1.1 file serving on every
 * backend, as a client sees it: 301 for a directory, 404 for a file asked
 * for as a directory and for every symlink out of the root (also without
 * openat2), 503 when descriptors run out, validators and 304s, ranges
 * (206, 416, If-Range) by sendfile and by read/write, chunked request
 * bodies, Host, Transfer-Encoding and method answers, the keep-alive cap
 * and the per-wakeup request budget. */
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
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__) && defined(HAVE_LINUX_OPENAT2_H) && HAVE_DECL_SYS_OPENAT2
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#define HAVE_SECCOMP_TEST 1
#endif

#define HELLO "Hello from pollux-server\n"
#define SECRET "TOP-SECRET-CONTENT"
/* The files' modification time: 2020-01-02 03:04:05 UTC. */
#define MTIME 1577934245
#define MTIME_HTTP "Thu, 02 Jan 2020 03:04:05 GMT"


static void put(const char *dir, const char *name, const char *data, size_t n)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
	close(fd);
	struct timeval tv[2] = { { MTIME, 0 }, { MTIME, 0 } };
	ck_assert_int_eq(utimes(p, tv), 0);
}

static void sub(const char *dir, const char *name)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	ck_assert_int_eq(mkdir(p, 0755), 0);
}

static void link_to(const char *dir, const char *name, const char *target)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	ck_assert_int_eq(symlink(target, p), 0);
}

/* 100 bytes: "0123456789" ten times, so any range can be checked. */
static char digits100[101];

/* tmp/secret.txt, tmp/outdir/, and tmp/root with files, directories and
 * symlinks in and out. Returns tmp; root gets tmp/root. */
static char *make_root(char *root, size_t cap)
{
	char *tmp = make_tempdir();
	ck_assert_ptr_nonnull(tmp);
	for (int i = 0; i < 100; i++)
		digits100[i] = (char)('0' + i % 10);
	snprintf(root, cap, "%s/root", tmp);
	ck_assert_int_eq(mkdir(root, 0755), 0);
	put(tmp, "secret.txt", SECRET "\n", strlen(SECRET) + 1);
	sub(tmp, "outdir");
	put(tmp, "outdir/x.txt", SECRET "\n", strlen(SECRET) + 1);
	put(root, "d.txt", digits100, 100);
	put(root, "empty.txt", "", 0);
	sub(root, "sub");
	put(root, "sub/index.html", "<a href=\"b.html\">b</a>\n", 23);
	put(root, "sub/b.html", "<p>b</p>\n", 9);
	sub(root, "noindex");
	sub(root, "sp ace");
	put(root, "sp ace/index.html", "space\n", 6);
	char p[8192];
	snprintf(p, sizeof p, "%s/secret.txt", tmp);
	link_to(root, "out_file", p);			/* absolute, exists */
	snprintf(p, sizeof p, "%s/missing.txt", tmp);
	link_to(root, "out_missing", p);		/* absolute, missing */
	link_to(root, "out_rel", "../secret.txt");	/* relative, exists */
	link_to(root, "out_rel_missing", "../missing.txt");
	link_to(root, "updir", "..");			/* a directory out */
	snprintf(p, sizeof p, "%s/outdir", tmp);
	link_to(root, "out_dir", p);
	snprintf(p, sizeof p, "%s/d.txt", root);
	link_to(root, "abs_in", p);			/* absolute, back inside */
	link_to(root, "rel_in", "sub/b.html");	/* relative, inside */
	link_to(root, "sub_link", "sub");		/* a directory inside */
	return tmp;
}

/* pat with its "%s" (if any) replaced by val. */
static void subst(char *out, size_t cap, const char *pat, const char *val)
{
	const char *p = strstr(pat, "%s");
	if (!p)
		snprintf(out, cap, "%s", pat);
	else
		snprintf(out, cap, "%.*s%s%s", (int)(p - pat), pat, val, p + 2);
}

/* Sends req on rd's connection and reads one answer. */
static int ask(struct reader *rd, const char *req, struct resp *r)
{
	ck_assert_int_eq(send_all(rd->fd, req, strlen(req)), 0);
	ck_assert_msg(read_resp(rd, r, strncmp(req, "HEAD", 4) == 0) == 0,
	              "no response to %.60s", req);
	return r->status;
}

static void get_one(int port, const char *path, const char *extra, struct resp *r)
{
	char req[1024];
	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n", path, extra ? extra : "");
	ck_assert_msg(http_once(port, req, r) >= 0, "no answer to GET %s", path);
}

static void want_header(const struct resp *r, const char *name, const char *value)
{
	char v[512];
	ck_assert_msg(resp_header(r, name, v, sizeof v) == 0, "no %s in\n%s", name, r->head);
	ck_assert_msg(strcmp(v, value) == 0, "%s: '%s', wanted '%s'", name, v, value);
}

static void no_header(const struct resp *r, const char *name)
{
	char v[512];
	ck_assert_msg(resp_header(r, name, v, sizeof v) < 0, "unexpected %s in\n%s", name, r->head);
}

#ifdef HAVE_SECCOMP_TEST
/* As on a kernel before 5.6 (or in a container that filters it): openat2
 * fails with ENOSYS, so the server must resolve with realpath instead. */
static void no_openat2(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { (unsigned short)(sizeof f / sizeof f[0]), f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		_exit(125);
}
#endif

/* Statuses of paths: run once with openat2 and once without. */
static void check_paths(int port)
{
	struct resp r;
	get_one(port, "/d.txt", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, digits100);
	resp_free(&r);

	/* A directory without its slash: 301 to it with the slash, query
	 * kept, from the cleaned path ("//sub" must not become the
	 * protocol-relative "//sub/"), percent-encoded. */
	static const char *const redirs[][2] = {
		{ "/sub", "/sub/" }, { "/sub?x=1&y", "/sub/?x=1&y" }, { "//sub", "/sub/" },
		{ "/./sub", "/sub/" }, { "/sp%20ace", "/sp%20ace/" }, { "/sub_link", "/sub_link/" },
		{ "/noindex", "/noindex/" }, { "http://t/sub?q", "/sub/?q" },
	};
	for (size_t k = 0; k < sizeof redirs / sizeof redirs[0]; k++) {
		get_one(port, redirs[k][0], NULL, &r);
		ck_assert_msg(r.status == 301, "%s answered %d", redirs[k][0], r.status);
		want_header(&r, "Location", redirs[k][1]);
		resp_free(&r);
	}
	get_one(port, "/sub/", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "<a href=\"b.html\">b</a>\n");
	resp_free(&r);
	get_one(port, "/sub_link/b.html", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	get_one(port, "/sp%20ace/", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "space\n");
	resp_free(&r);
	get_one(port, "/abs_in", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, digits100);
	resp_free(&r);
	get_one(port, "/rel_in", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "<p>b</p>\n");
	resp_free(&r);

	/* Not found, all the same way: a file asked for as a directory, a
	 * directory without index, and every way out of the root, whether
	 * or not what is out there exists. */
	static const char *const gone[] = {
		"/d.txt/", "/d.txt/x", "/sub/b.html/", "/noindex/", "/nope", "/nope/",
		"/out_file", "/out_missing", "/out_rel", "/out_rel_missing",
		"/updir/secret.txt", "/updir/missing.txt", "/updir/", "/updir",
		"/out_dir/x.txt", "/out_dir/missing.txt", "/out_dir/", "/out_dir",
		"/sub/../../secret.txt",
	};
	char first_body[256] = "";
	for (size_t k = 0; k < sizeof gone / sizeof gone[0]; k++) {
		int st;
		get_one(port, gone[k], NULL, &r);
		st = r.status;
		if (strstr(gone[k], "..")) {
			ck_assert_msg(st == 403, "%s answered %d", gone[k], st);
		} else {
			ck_assert_msg(st == 404, "%s answered %d", gone[k], st);
			ck_assert_msg(r.body && strlen(r.body) < sizeof first_body, "%s: no body", gone[k]);
			if (!first_body[0])
				snprintf(first_body, sizeof first_body, "%s", r.body);
			ck_assert_msg(strcmp(first_body, r.body) == 0, "%s: another 404 body", gone[k]);
			no_header(&r, "Location");
		}
		ck_assert_msg(!strstr(r.body ? r.body : "", SECRET), "%s leaked", gone[k]);
		resp_free(&r);
	}
	/* No index.html in the root: / is the built-in page. */
	get_one(port, "/", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, HELLO);
	resp_free(&r);
}

START_TEST(files_paths)
{
	char root[4096];
	char *tmp = make_root(root, sizeof root);
	const char *args[] = { "--root", root, NULL };
	struct srv s;
	srv_start_on(&s, _i, args);
	check_paths(s.port);
	srv_stop_ok(&s);
#ifdef HAVE_SECCOMP_TEST
	/* The same answers where openat2 does not exist. */
	srv_child_hook = no_openat2;
	srv_start_on(&s, _i, args);
	srv_child_hook = NULL;
	check_paths(s.port);
	srv_stop_ok(&s);
#endif
	remove_tree(tmp);
	free(tmp);
}
END_TEST

START_TEST(files_validators)
{
	char root[4096];
	char *tmp = make_root(root, sizeof root);
	const char *args[] = { "--root", root, NULL };
	struct srv s;
	srv_start_on(&s, _i, args);
	char etag[64], h[512];
	snprintf(etag, sizeof etag, "\"%llx-%x\"", (unsigned long long)MTIME, 100);
	struct resp r;
	get_one(s.port, "/d.txt", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	want_header(&r, "ETag", etag);
	want_header(&r, "Last-Modified", MTIME_HTTP);
	want_header(&r, "Accept-Ranges", "bytes");
	resp_free(&r);

	int fd = tcp_connect(s.port);
	ck_assert_int_ge(fd, 0);
	struct reader rd;
	reader_init(&rd, fd);
	/* Each on one keep-alive connection: a 304 has no body, and the next
	 * answer must still parse. */
	struct { const char *field; int status; } cases[] = {
		{ "If-None-Match: %s", 304 },
		{ "If-None-Match: W/%s", 304 },
		{ "If-None-Match: \"x\", %s", 304 },
		{ "If-None-Match: *", 304 },
		{ "If-None-Match: \"other\"", 200 },
		{ "If-None-Match: garbage", 200 },
		/* If-None-Match decides; If-Modified-Since is then ignored. */
		{ "If-None-Match: \"other\"\r\nIf-Modified-Since: " MTIME_HTTP, 200 },
		{ "If-Modified-Since: " MTIME_HTTP, 304 },
		{ "If-Modified-Since: Fri, 01 Jan 2021 00:00:00 GMT", 304 },
		/* A date in the future is no date (a wrong clock must not pin
		 * an old copy). */
		{ "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT", 200 },
		{ "If-Modified-Since: Thursday, 02-Jan-20 03:04:05 GMT", 304 },
		{ "If-Modified-Since: Thu Jan  2 03:04:05 2020", 304 },
		{ "If-Modified-Since: Thu, 02 Jan 2020 03:04:04 GMT", 200 },
		{ "If-Modified-Since: yesterday", 200 },
		{ "If-Modified-Since: " MTIME_HTTP "\r\nIf-Modified-Since: " MTIME_HTTP, 200 },
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		char field[256], req[512];
		subst(field, sizeof field, cases[k].field, etag);
		snprintf(req, sizeof req, "GET /d.txt HTTP/1.1\r\nHost: t\r\n%s\r\n\r\n", field);
		int st = ask(&rd, req, &r);
		ck_assert_msg(st == cases[k].status, "%s: %d, wanted %d", field, st, cases[k].status);
		if (st == 304) {
			want_header(&r, "ETag", etag);
			want_header(&r, "Last-Modified", MTIME_HTTP);
			no_header(&r, "Content-Length");
			ck_assert_ptr_null(r.body);
		} else {
			ck_assert_str_eq(r.body, digits100);
		}
		resp_free(&r);
		/* HEAD is answered the same way. */
		snprintf(req, sizeof req, "HEAD /d.txt HTTP/1.1\r\nHost: t\r\n%s\r\n\r\n", field);
		ck_assert_int_eq(ask(&rd, req, &r), cases[k].status);
		resp_free(&r);
	}
	/* Still in step: a plain request after them all. */
	ck_assert_int_eq(ask(&rd, "GET /d.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	ck_assert_str_eq(r.body, digits100);
	resp_free(&r);
	snprintf(h, sizeof h, "GET /d.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: %s\r\n"
	         "Connection: close\r\n\r\n", etag);
	ck_assert_int_eq(ask(&rd, h, &r), 304);
	want_header(&r, "Connection", "close");
	resp_free(&r);
	ck_assert_msg(wait_closed(fd, T_WAIT_MS), "304 with Connection: close left open");
	reader_free(&rd);
	close(fd);
	srv_stop_ok(&s);
	remove_tree(tmp);
	free(tmp);
}
END_TEST

/* Ranges of d.txt, on one connection, by sendfile (_i even) and by
 * read/write (_i odd). */
START_TEST(files_ranges)
{
	int bi = _i / 2, no_sendfile = _i % 2;
	char root[4096];
	char *tmp = make_root(root, sizeof root);
	/* 1 MiB of a pattern, to send a range from the middle of a big one. */
	size_t bign = 1u << 20;
	char *big = malloc(bign);
	for (size_t i = 0; i < bign; i++)
		big[i] = (char)(i * 7 + i / 251);
	put(root, "big.bin", big, bign);
	const char *args[] = { "--root", root, no_sendfile ? "--no-sendfile" : NULL, NULL };
	struct srv s;
	srv_start_on(&s, bi, args);
	char etag[64];
	snprintf(etag, sizeof etag, "\"%llx-%x\"", (unsigned long long)MTIME, 100);
	int fd = tcp_connect(s.port);
	ck_assert_int_ge(fd, 0);
	struct reader rd;
	reader_init(&rd, fd);
	struct resp r;
	struct { const char *range; int status; int first, last; } cases[] = {
		{ "bytes=0-9", 206, 0, 9 },
		{ "bytes=10-", 206, 10, 99 },
		{ "bytes=-5", 206, 95, 99 },
		{ "bytes=-500", 206, 0, 99 },
		{ "bytes=95-200", 206, 95, 99 },
		{ "bytes=99-99", 206, 99, 99 },
		{ "BYTES = 3-4", 200, 0, 99 },		/* not the syntax: ignored */
		{ "bytes= 3-4", 206, 3, 4 },
		{ "bytes=3-4,", 206, 3, 4 },
		{ "bytes=100-", 416, 0, 0 },
		{ "bytes=100-200", 416, 0, 0 },
		{ "bytes=-0", 416, 0, 0 },
		{ "bytes=99999999999999999999999-", 416, 0, 0 },
		{ "bytes=0-0,5-6", 200, 0, 99 },	/* several: the whole */
		{ "bytes=5-2", 200, 0, 99 },		/* invalid: ignored */
		{ "bytes=x-", 200, 0, 99 },
		{ "items=0-5", 200, 0, 99 },
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		char req[512], cr[64];
		snprintf(req, sizeof req, "GET /d.txt HTTP/1.1\r\nHost: t\r\nRange: %s\r\n\r\n",
		         cases[k].range);
		int st = ask(&rd, req, &r);
		ck_assert_msg(st == cases[k].status, "Range: %s answered %d", cases[k].range, st);
		if (st == 206) {
			int n = cases[k].last - cases[k].first + 1;
			snprintf(cr, sizeof cr, "bytes %d-%d/100", cases[k].first, cases[k].last);
			want_header(&r, "Content-Range", cr);
			ck_assert_int_eq(r.clen, n);
			ck_assert_msg(r.blen == (size_t)n && memcmp(r.body, digits100 + cases[k].first,
			              (size_t)n) == 0, "Range: %s: wrong bytes", cases[k].range);
			want_header(&r, "ETag", etag);
		} else if (st == 416) {
			want_header(&r, "Content-Range", "bytes */100");
		} else {
			ck_assert_str_eq(r.body, digits100);
		}
		resp_free(&r);
		/* HEAD: the same status and headers, no body. */
		snprintf(req, sizeof req, "HEAD /d.txt HTTP/1.1\r\nHost: t\r\nRange: %s\r\n\r\n",
		         cases[k].range);
		ck_assert_int_eq(ask(&rd, req, &r), cases[k].status);
		if (cases[k].status == 206)
			ck_assert_int_eq(r.clen, cases[k].last - cases[k].first + 1);
		resp_free(&r);
	}
	/* If-Range: the range only while the client's validator is current. */
	struct { const char *ifr; int status; } ifr[] = {
		{ "%s", 206 }, { "\"stale-1\"", 200 }, { "W/%s", 200 },
		{ MTIME_HTTP, 206 }, { "Thu, 02 Jan 2020 03:04:06 GMT", 200 }, { "nonsense", 200 },
	};
	for (size_t k = 0; k < sizeof ifr / sizeof ifr[0]; k++) {
		char v[128], req[512];
		subst(v, sizeof v, ifr[k].ifr, etag);
		snprintf(req, sizeof req, "GET /d.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=50-\r\n"
		         "If-Range: %s\r\n\r\n", v);
		int st = ask(&rd, req, &r);
		ck_assert_msg(st == ifr[k].status, "If-Range: %s answered %d", v, st);
		ck_assert_str_eq(r.body, digits100 + (st == 206 ? 50 : 0));
		resp_free(&r);
	}
	/* A range in the middle of a big file, and its tail. */
	ck_assert_int_eq(ask(&rd, "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=300000-799999\r\n\r\n", &r), 206);
	ck_assert_msg(r.blen == 500000 && memcmp(r.body, big + 300000, 500000) == 0,
	              "middle range: wrong bytes");
	resp_free(&r);
	ck_assert_int_eq(ask(&rd, "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=-70000\r\n\r\n", &r), 206);
	ck_assert_msg(r.blen == 70000 && memcmp(r.body, big + bign - 70000, 70000) == 0,
	              "suffix range: wrong bytes");
	resp_free(&r);
	/* An empty file: nothing to range over. */
	ck_assert_int_eq(ask(&rd, "GET /empty.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=0-\r\n\r\n", &r), 416);
	want_header(&r, "Content-Range", "bytes */0");
	resp_free(&r);
	ck_assert_int_eq(ask(&rd, "GET /empty.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=-5\r\n\r\n", &r), 200);
	ck_assert_int_eq(r.clen, 0);
	resp_free(&r);
	reader_free(&rd);
	close(fd);
	free(big);
	srv_stop_ok(&s);
	remove_tree(tmp);
	free(tmp);
}
END_TEST

/* Out of descriptors: an existing file is 503 (not 404), "/" with an
 * index.html is 503 (not the built-in page), counted; served again once
 * descriptors are free. The limit is real: RLIMIT_NOFILE in the server,
 * filled with connections until the server closes new ones at once. */
START_TEST(files_emfile)
{
	char root[4096];
	char *tmp = make_root(root, sizeof root);
	put(root, "index.html", "<h1>index</h1>\n", 15);
	const char *args[] = { "--root", root, NULL };
	struct srv s;
	ck_assert_msg(srv_start(&s, backend_at(_i), 1, 48, args) == 0 && s.port > 0,
	              "server did not start");
	enum { MAXC = 64 };
	int fds[MAXC], n = 0, full = 0;
	struct resp r;
	while (n < MAXC && !full) {
		int fd = tcp_connect(s.port);
		ck_assert_int_ge(fd, 0);
		struct reader rd;
		reader_init(&rd, fd);
		const char *q = "GET /stats HTTP/1.1\r\nHost: t\r\n\r\n";
		if (send_all(fd, q, strlen(q)) == 0 && read_resp(&rd, &r, 0) == 0) {
			ck_assert_int_eq(r.status, 200);
			resp_free(&r);
			fds[n++] = fd;
		} else {
			full = 1;	/* accepted and closed at once: no descriptor left */
			close(fd);
		}
		reader_free(&rd);
	}
	ck_assert_msg(full, "%d connections and the server still had descriptors", n);
	ck_assert_int_ge(n, 2);
	struct reader rd;
	reader_init(&rd, fds[0]);
	ck_assert_int_eq(ask(&rd, "GET /d.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r), 503);
	want_header(&r, "Retry-After", "1");
	resp_free(&r);
	ck_assert_int_eq(ask(&rd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r), 503);
	ck_assert_msg(!r.body || !strstr(r.body, "Hello"), "/ fell back to the built-in page");
	resp_free(&r);
	ck_assert_int_eq(ask(&rd, "GET /stats HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	ck_assert_msg(json_value(r.body, "http_503") == 2, "http_503 is %g, wanted 2",
	              json_value(r.body, "http_503"));
	ck_assert_msg(json_value(r.body, "http_404") == 0, "a 404 was counted");
	resp_free(&r);
	/* Free some: the files come back (each try is a round trip, so the
	 * server sees the closes; bounded by tries, not by time). */
	for (int k = 1; k < n && k <= 3; k++) {
		close(fds[k]);
		fds[k] = -1;
	}
	int st = 0;
	for (int tries = 0; tries < 10000 && st != 200; tries++) {
		st = ask(&rd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r);
		if (st == 200)
			ck_assert_str_eq(r.body, "<h1>index</h1>\n");
		else
			ck_assert_int_eq(st, 503);
		resp_free(&r);
	}
	ck_assert_int_eq(st, 200);
	ck_assert_int_eq(ask(&rd, "GET /d.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	ck_assert_str_eq(r.body, digits100);
	resp_free(&r);
	reader_free(&rd);
	for (int k = 0; k < n; k++)
		if (fds[k] >= 0)
			close(fds[k]);
	srv_stop_ok(&s);
	remove_tree(tmp);
	free(tmp);
}
END_TEST

static void expect_close(int port, const char *req, int status)
{
	int fd = tcp_connect(port);
	ck_assert_int_ge(fd, 0);
	struct reader rd;
	reader_init(&rd, fd);
	struct resp r;
	ck_assert_int_eq(send_all(fd, req, strlen(req)), 0);
	ck_assert_msg(read_resp(&rd, &r, 0) == 0, "no answer to %.60s", req);
	ck_assert_msg(r.status == status, "%.60s: %d, wanted %d", req, r.status, status);
	ck_assert_msg(wait_closed(fd, T_WAIT_MS), "%.60s: not closed after %d", req, status);
	resp_free(&r);
	reader_free(&rd);
	close(fd);
}

/* Sends all of reqs at once (pipelined, in pieces cut at cut), and reads
 * n answers with the given statuses; then the connection stays usable. */
static void pipeline(int port, const char *reqs, size_t cut, const int *want, int n)
{
	int fd = tcp_connect(port);
	ck_assert_int_ge(fd, 0);
	size_t len = strlen(reqs);
	if (cut > len)
		cut = len;
	ck_assert_int_eq(send_all(fd, reqs, cut), 0);
	ck_assert_int_eq(send_all(fd, reqs + cut, len - cut), 0);
	struct reader rd;
	reader_init(&rd, fd);
	struct resp r;
	for (int k = 0; k < n; k++) {
		ck_assert_msg(read_resp(&rd, &r, 0) == 0, "answer %d missing (cut %zu)", k, cut);
		ck_assert_msg(r.status == want[k], "answer %d: %d, wanted %d (cut %zu)", k,
		              r.status, want[k], cut);
		resp_free(&r);
	}
	ck_assert_int_eq(ask(&rd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	ck_assert_str_eq(r.body, HELLO);
	resp_free(&r);
	reader_free(&rd);
	close(fd);
}

START_TEST(http_chunked_bodies)
{
	struct srv s;
	srv_start_on(&s, _i, NULL);
	/* A chunked POST (405), then a GET in the same write: both answered.
	 * Extensions, a trailer, upper- and lower-case hex, leading zeros. */
	const char *two =
		"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5;name=value;q=\"a b\"\r\nhello\r\n00A\r\n0123456789\r\nb \t;x\r\nhello world\r\n"
		"0;last\r\nX-Trailer: yes\r\nX-Other:\r\n\r\n"
		"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n";
	static const int want2[] = { 405, 404 };
	for (size_t cut = 1; cut <= strlen(two); cut += 7)
		pipeline(s.port, two, cut, want2, 2);
	/* GET with a chunked body is served; the body is read past. */
	const char *get =
		"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\n\r\n"
		"3\r\nabc\r\n0\r\n\r\n"
		"PUT /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: , chunked\r\n\r\n0\r\n\r\n"
		"GET /stats HTTP/1.1\r\nHost: t\r\n\r\n";
	static const int want3[] = { 200, 405, 200 };
	pipeline(s.port, get, 9999, want3, 3);
	/* A body of exactly 1 MiB passes. */
	size_t mib = 1u << 20;
	const char *pre = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n";
	const char *post = "\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n";
	char *body = malloc(strlen(pre) + mib + strlen(post) + 1);
	strcpy(body, pre);
	memset(body + strlen(pre), 'x', mib);
	strcpy(body + strlen(pre) + mib, post);
	static const int want4[] = { 405, 200 };
	pipeline(s.port, body, 9999, want4, 2);
	free(body);

	/* Framing that cannot be trusted: answered 400 (or 501) and closed. */
	static const struct { const char *req; int status; } bad[] = {
		{ "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
		{ "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501 },
		{ "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: x\"y, chunked\r\n\r\n", 501 },
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
		expect_close(s.port, bad[k].req, bad[k].status);
	/* A bad body after a good head: the head's answer, then the close
	 * (no second answer: the client may not be waiting for one). */
	static const char *const badbody[] = {
		"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n",
		"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n",
		"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n",
		"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffff\r\n",
	};
	for (size_t k = 0; k < sizeof badbody / sizeof badbody[0]; k++)
		expect_close(s.port, badbody[k], 405);
	struct resp r;
	ck_assert_int_eq(http_once(s.port, "GET /stats HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	ck_assert_msg(json_value(r.body, "http_413") == 2, "http_413 %g", json_value(r.body, "http_413"));
	ck_assert_msg(json_value(r.body, "http_501") == 2, "http_501 %g", json_value(r.body, "http_501"));
	resp_free(&r);
	srv_stop_ok(&s);
}
END_TEST

START_TEST(http_host_method_uri)
{
	struct srv s;
	srv_start_on(&s, _i, NULL);
	struct resp r;
	static const char *const good_hosts[] = {
		"t", "example.com:8080", "127.0.0.1", "[::1]", "[::1]:80", "a%41b",
		"xn--bcher-kva.example", "a:",
	};
	for (size_t k = 0; k < sizeof good_hosts / sizeof good_hosts[0]; k++) {
		char req[256];
		snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", good_hosts[k]);
		ck_assert_msg(http_once(s.port, req, &r) == 200, "Host: %s refused", good_hosts[k]);
		resp_free(&r);
	}
	static const char *const bad_hosts[] = {
		"a b", "a/b", "a@b", "a?b", "a#b", "[::1", "::1]", "a:80x", "a\"b", "a\\b",
		"a%zzb", "a<b>", "a:80:90", "[]", "\xc3\xa9", "", ":80",
	};
	for (size_t k = 0; k < sizeof bad_hosts / sizeof bad_hosts[0]; k++) {
		char req[256];
		snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", bad_hosts[k]);
		expect_close(s.port, req, 400);
	}
	/* HTTP/1.1 without Host; two Hosts. */
	expect_close(s.port, "GET / HTTP/1.1\r\n\r\n", 400);
	expect_close(s.port, "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);

	/* Unknown methods are 501, known ones not allowed 405 with Allow; the
	 * body is read past and the connection goes on either way. */
	const char *m =
		"BREW / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
		"PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
		"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n"
		"get / HTTP/1.1\r\nHost: t\r\n\r\n"
		"PATCH /x HTTP/1.1\r\nHost: t\r\n\r\n"
		"DELETE /x HTTP/1.1\r\nHost: t\r\n\r\n";
	static const int wantm[] = { 501, 405, 405, 501, 405, 405 };
	pipeline(s.port, m, 9999, wantm, 6);

	/* A long target is 414, a long header 431; both close. */
	size_t big = 9000;
	char *q = malloc(big + 64);
	ck_assert_ptr_nonnull(q);
	memcpy(q, "GET /", 5);
	memset(q + 5, 'a', big);
	strcpy(q + 5 + big, " HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_close(s.port, q, 414);
	const char *pre = "GET / HTTP/1.1\r\nHost: t\r\nX: ";
	strcpy(q, pre);
	memset(q + strlen(pre), 'b', big);
	strcpy(q + strlen(pre) + big, "\r\n\r\n");
	expect_close(s.port, q, 431);
	free(q);
	srv_stop_ok(&s);
}
END_TEST

/* --keepalive-requests: the last answer says Connection: close and the
 * connection ends after it; what was pipelined past it is not answered. */
START_TEST(http_keepalive_cap)
{
	const char *args[] = { "--keepalive-requests", "3", NULL };
	struct srv s;
	srv_start_on(&s, _i, args);
	int fd = tcp_connect(s.port);
	ck_assert_int_ge(fd, 0);
	const char *one = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	char five[512] = "";
	for (int k = 0; k < 5; k++)
		strcat(five, one);
	ck_assert_int_eq(send_all(fd, five, strlen(five)), 0);
	struct reader rd;
	reader_init(&rd, fd);
	struct resp r;
	for (int k = 0; k < 3; k++) {
		ck_assert_int_eq(read_resp(&rd, &r, 0), 0);
		ck_assert_int_eq(r.status, 200);
		ck_assert_int_eq(r.closed, k == 2);
		resp_free(&r);
	}
	ck_assert_msg(read_resp(&rd, &r, 0) < 0, "a fourth answer after Connection: close");
	reader_free(&rd);
	close(fd);
	srv_stop_ok(&s);

	/* Default 1000: the 1000th answer closes. */
	srv_start_on(&s, _i, NULL);
	fd = tcp_connect(s.port);
	size_t n = 1001, l = strlen(one);
	char *all = malloc(n * l + 1);
	for (size_t k = 0; k < n; k++)
		memcpy(all + k * l, one, l);
	ck_assert_int_eq(send_all(fd, all, n * l), 0);
	free(all);
	reader_init(&rd, fd);
	for (size_t k = 0; k < 1000; k++) {
		ck_assert_msg(read_resp(&rd, &r, 0) == 0, "answer %zu missing", k);
		ck_assert_int_eq(r.closed, k == 999);
		resp_free(&r);
	}
	ck_assert_msg(read_resp(&rd, &r, 0) < 0, "answer 1001 after Connection: close");
	reader_free(&rd);
	close(fd);
	srv_stop_ok(&s);
}
END_TEST

/* Many pipelined requests and then the end of the client's input at once:
 * the budget per wakeup stops answering part way, and the rest must still
 * be answered after the EOF, not dropped with the connection. And while
 * such clients keep the server busy, another client is answered. */
START_TEST(http_budget)
{
	const char *args[] = { "--keepalive-requests", "0", NULL };
	struct srv s;
	srv_start_on(&s, _i, args);
	const char *one = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	size_t n = 700, l = strlen(one);
	char *all = malloc(n * l + 1);
	for (size_t k = 0; k < n; k++)
		memcpy(all + k * l, one, l);
	enum { C = 4 };
	int fds[C];
	for (int c = 0; c < C; c++) {
		fds[c] = tcp_connect(s.port);
		ck_assert_int_ge(fds[c], 0);
		ck_assert_int_eq(send_all(fds[c], all, n * l), 0);
		ck_assert_int_eq(shutdown(fds[c], SHUT_WR), 0);
	}
	free(all);
	struct resp r;
	ck_assert_int_eq(http_once(s.port, "GET /stats HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	resp_free(&r);
	for (int c = 0; c < C; c++) {
		struct reader rd;
		reader_init(&rd, fds[c]);
		for (size_t k = 0; k < n; k++) {
			ck_assert_msg(read_resp(&rd, &r, 0) == 0, "client %d: answer %zu of %zu missing",
			              c, k, n);
			ck_assert_int_eq(r.status, 200);
			resp_free(&r);
		}
		ck_assert_msg(wait_closed(fds[c], T_WAIT_MS), "client %d: not closed after EOF", c);
		reader_free(&rd);
		close(fds[c]);
	}
	srv_stop_ok(&s);
}
END_TEST

void add_files_tests(Suite *su, int nb);
void add_files_tests(Suite *su, int nb)
{
	TCase *tc = tcase_create("files");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, files_paths, 0, nb);
	tcase_add_loop_test(tc, files_validators, 0, nb);
	tcase_add_loop_test(tc, files_ranges, 0, 2 * nb);
	tcase_add_loop_test(tc, files_emfile, 0, nb);
	tcase_add_loop_test(tc, http_chunked_bodies, 0, nb);
	tcase_add_loop_test(tc, http_host_method_uri, 0, nb);
	tcase_add_loop_test(tc, http_keepalive_cap, 0, nb);
	tcase_add_loop_test(tc, http_budget, 0, nb);
	suite_add_tcase(su, tc);
}
