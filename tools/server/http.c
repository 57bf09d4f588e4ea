/* http.c: the HTTP side of pollux-server: turning parsed requests into
 * responses (fixed page, /stats, /delay, files, errors) in request order. */
#include <config.h>
#include "server.h"
#include "parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Bodies of requests we do not serve (GET with a body, POST answered 405)
 * are skipped up to this size; larger ones get 413 and the connection
 * closes, since reading megabytes only to discard them helps nobody. */
#define MAX_BODY (1024u * 1024u)

static const char hello[] = "Hello from pollux-server\n";

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

static void count_status(struct worker *w, int status)
{
	switch (status) {
	case 400: STAT_ADD(&w->st, err[ERR_HTTP_400], 1); break;
	case 403: STAT_ADD(&w->st, err[ERR_HTTP_403], 1); break;
	case 404: STAT_ADD(&w->st, err[ERR_HTTP_404], 1); break;
	case 405: STAT_ADD(&w->st, err[ERR_HTTP_405], 1); break;
	case 413: STAT_ADD(&w->st, err[ERR_HTTP_413], 1); break;
	case 431: STAT_ADD(&w->st, err[ERR_HTTP_431], 1); break;
	case 505: STAT_ADD(&w->st, err[ERR_HTTP_505], 1); break;
	default: break;
	}
}

/* The Date field changes once a second; format it only then. */
static const char *http_date(struct worker *w)
{
	time_t t = time(NULL);
	if (t != w->date_t) {
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(w->date, sizeof w->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		w->date_t = t;
	}
	return w->date;
}

/* Appends status line and headers; then the body unless HEAD. keep: 0 close,
 * 1 keep-alive implied (1.1), 2 keep-alive that must be said (1.0). */
static int respond(struct worker *w, struct conn *c, int status,
                   const char *ctype, const char *body, uint64_t clen,
                   int head, int keep, const char *extra)
{
	char h[512];
	int n = snprintf(h, sizeof h,
	                 "HTTP/1.1 %d %s\r\nServer: pollux\r\nDate: %s\r\n"
	                 "Content-Type: %s\r\nContent-Length: %llu\r\n%s%s\r\n",
	                 status, reason(status), http_date(w), ctype,
	                 (unsigned long long)clen,
	                 keep == 0 ? "Connection: close\r\n" :
	                 keep == 2 ? "Connection: keep-alive\r\n" : "",
	                 extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof h)
		return -1;
	if (out_append(w, c, h, (size_t)n) < 0)
		return -1;
	if (!head && body && clen && out_append(w, c, body, (size_t)clen) < 0)
		return -1;
	if (!keep)
		c->flags |= C_CLOSE_AFTER;
	return 0;
}

static int respond_error(struct worker *w, struct conn *c, int status,
                         int head, int keep, const char *extra)
{
	char body[96];
	int n = snprintf(body, sizeof body, "%d %s\n", status, reason(status));
	count_status(w, status);
	/* A refused request may still be arriving (a body, a long header):
	 * an error answer that closes always lingers for it. */
	if (!keep)
		c->flags |= C_UNSURE;
	return respond(w, c, status, "text/plain; charset=utf-8", body,
	               (uint64_t)n, head, keep, extra);
}

/* GET or HEAD / from the per-second cache (keep: as in respond). */
static int respond_hello(struct worker *w, struct conn *c, int head, int keep)
{
	const char *date = http_date(w);
	if (w->hello_t != w->date_t || !w->hello_len[0]) {
		for (int k = 0; k < 3; k++) {
			int n = snprintf(w->hello[k], sizeof w->hello[k],
			                 "HTTP/1.1 200 OK\r\nServer: pollux\r\nDate: %s\r\n"
			                 "Content-Type: text/plain; charset=utf-8\r\n"
			                 "Content-Length: %zu\r\n%s\r\n%s", date, sizeof hello - 1,
			                 k == 0 ? "Connection: close\r\n" :
			                 k == 2 ? "Connection: keep-alive\r\n" : "", hello);
			if (n < 0 || (size_t)n >= sizeof w->hello[k])
				return -1;
			w->hello_len[k] = (uint16_t)n;
			w->hello_head[k] = (uint16_t)(n - (int)(sizeof hello - 1));
		}
		w->hello_t = w->date_t;
	}
	if (out_append(w, c, w->hello[keep], head ? w->hello_head[keep] : w->hello_len[keep]) < 0)
		return -1;
	if (!keep)
		c->flags |= C_CLOSE_AFTER;
	return 0;
}

static int respond_stats(struct worker *w, struct conn *c, int head, int keep)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -1;
	struct stats_sum t;
	stats_collect(w->srv, &t);
	stats_json(f, &t);
	if (fclose(f) != 0) {
		free(buf);
		return -1;
	}
	int rc = respond(w, c, 200, "application/json", buf, len, head, keep,
	                 "Cache-Control: no-store\r\n");
	free(buf);
	return rc;
}

static int respond_file(struct worker *w, struct conn *c, const char *path,
                        size_t plen, int head, int keep)
{
	struct file_res fr;
	int status = files_open(&w->srv->opt, path, plen, &fr);
	if (status != 200)
		return respond_error(w, c, status, head, keep, NULL);
	if (respond(w, c, 200, fr.ctype, NULL, (uint64_t)fr.size, 1, keep, NULL) < 0) {
		close(fr.fd);
		return -1;
	}
	if (head || fr.size == 0) {
		close(fr.fd);
		return 0;
	}
	c->file_fd = fr.fd;
	c->file_off = 0;
	c->file_left = fr.size;
	return 0;
}

/* Does p[0..n) start with lit, ignoring ASCII case? */
static int ieq_prefix(const char *p, size_t n, const char *lit)
{
	size_t m = strlen(lit);
	return n >= m && strncasecmp(p, lit, m) == 0;
}

static int eq(const char *p, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(p, lit, n) == 0;
}

/* "/delay/MS" with MS a decimal 0..60000: the milliseconds; -1 otherwise
 * (answered 404: there is no such resource). */
static long delay_ms(const char *t, size_t pl)
{
	if (pl <= 7 || pl > 7 + 5 || memcmp(t, "/delay/", 7) != 0)
		return -1;
	long v = 0;
	for (size_t i = 7; i < pl; i++) {
		if (t[i] < '0' || t[i] > '9')
			return -1;
		v = v * 10 + (t[i] - '0');
	}
	return v <= 60000 ? v : -1;
}

/* The answer to a /delay request whose time has come. */
int http_delay_answer(struct worker *w, struct conn *c)
{
	char body[48];
	int n = snprintf(body, sizeof body, "delayed %u ms\n", (unsigned)c->delay_ms);
	return respond(w, c, 200, "text/plain; charset=utf-8", body, (uint64_t)n,
	               !!(c->flags & C_DELAY_HEAD), c->delay_keep, NULL);
}

/* Serves one parsed request. Returns -1 only when the connection must be
 * dropped without an answer (out of memory). */
static int serve(struct worker *w, struct conn *c, const struct http_req *r)
{
	int keep = r->minor >= 1 ? !r->conn_close :
	           (r->conn_keepalive && !r->conn_close ? 2 : 0);
	int get = eq(r->method, r->method_len, "GET");
	int head = eq(r->method, r->method_len, "HEAD");

	/* A body we cannot find the end of, or will not read, ends the
	 * connection after the answer. */
	if (r->has_te)
		keep = 0;
	if (r->has_length && r->content_length > MAX_BODY)
		return respond_error(w, c, 413, head, 0, NULL);
	if (r->has_length)
		c->body_left = r->content_length;

	if (!get && !head)
		return respond_error(w, c, 405, 0, keep, "Allow: GET, HEAD\r\n");

	const char *t = r->target;
	size_t tl = r->target_len;
	/* absolute-form (RFC 9112 3.2.2): keep only the path. The scheme is
	 * case-insensitive and an empty path is "/" (RFC 9110 4.2.3), so
	 * "GET HTTP://h HTTP/1.1" asks for "/", not for a 400. */
	size_t sl = ieq_prefix(t, tl, "http://") ? 7 : ieq_prefix(t, tl, "https://") ? 8 : 0;
	if (sl) {
		size_t i = sl;
		while (i < tl && t[i] != '/' && t[i] != '?' && t[i] != '#')
			i++;
		if (i == sl)	/* no host */
			return respond_error(w, c, 400, head, 0, NULL);
		if (i < tl && t[i] == '/') {
			t += i;
			tl -= i;
		} else {
			t = "/";
			tl = 1;
		}
	}
	if (t[0] != '/')
		return respond_error(w, c, 400, head, 0, NULL);
	const char *q = memchr(t, '?', tl);
	const char *hash = memchr(t, '#', tl);
	size_t pl = tl;
	if (q)
		pl = (size_t)(q - t);
	if (hash && (size_t)(hash - t) < pl)
		pl = (size_t)(hash - t);

	if (eq(t, pl, "/stats"))
		return respond_stats(w, c, head, keep);
	if (pl > 7 && memcmp(t, "/delay/", 7) == 0) {
		long ms = delay_ms(t, pl);
		if (ms < 0)
			return respond_error(w, c, 404, head, keep, NULL);
		return conn_delay(w, c, (unsigned)ms, head, keep);
	}
	if (w->srv->opt.root) {
		if (!eq(t, pl, "/"))
			return respond_file(w, c, t, pl, head, keep);
		struct file_res fr;
		if (files_open(&w->srv->opt, "/", 1, &fr) == 200) {
			close(fr.fd);
			return respond_file(w, c, t, pl, head, keep);
		}
	}
	if (eq(t, pl, "/"))
		return respond_hello(w, c, head, keep);
	return respond_error(w, c, 404, head, keep, NULL);
}

size_t http_process(struct worker *w, struct conn *c, const char *buf, size_t len)
{
	size_t pos = 0;
	while (pos < len) {
		if (c->body_left) {
			size_t k = len - pos;
			if (k > c->body_left)
				k = (size_t)c->body_left;
			pos += k;
			c->body_left -= k;
			continue;
		}
		/* Responses go out in request order: wait for a file body or
		 * a /delay to finish, and stop producing once the client falls
		 * behind. */
		if (c->file_fd >= 0 || (c->flags & (C_CLOSE_AFTER | C_DELAY)) ||
		    conn_pending(c) > w->srv->opt.output_cap)
			break;
		struct http_req r;
		int rc = http_parse(buf + pos, len - pos, w->srv->opt.header_limit, &r);
		if (rc == PARSE_INCOMPLETE)
			break;
		STAT_ADD(&w->st, requests, 1);
		conn_touch(w, c);
		if (rc != PARSE_OK) {
			/* The client may still be sending what we refused. */
			c->flags |= C_UNSURE;
			if (respond_error(w, c, -rc, 0, 0, NULL) < 0)
				goto fail;
			return len;
		}
		pos += r.head_len;
		if (serve(w, c, &r) < 0)
			goto fail;
	}
	if (c->flags & C_CLOSE_AFTER) {
		if (pos < len)
			c->flags |= C_UNSURE;	/* thrown away: linger before close */
		return len;	/* nothing after a closing answer is read */
	}
	return pos;
fail:
	STAT_ADD(&w->st, err[ERR_OOM], 1);
	c->flags |= C_CLOSE_AFTER | C_UNSURE;
	return len;
}
