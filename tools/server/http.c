/* http.c: the HTTP side of pollux-server: turning parsed requests into
 * responses (fixed page, /stats, /delay, files with validators, conditions
 * and ranges, errors) in request order, and reading past request bodies. */
#include "toolconfig.h"
#include "server.h"
#include "parse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Bodies of requests we do not serve (GET with a body, POST answered 405)
 * are skipped up to this size; larger ones get 413 and the connection
 * closes, since reading megabytes only to discard them helps nobody. A
 * chunked body's size is known only at its end: the request is answered
 * first, and one that passes the limit closes the connection then. */
#define MAX_BODY (1024u * 1024u)

static const char hello[] = "Hello from pollux-server\n";

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
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
	case 414: STAT_ADD(&w->st, err[ERR_HTTP_414], 1); break;
	case 416: STAT_ADD(&w->st, err[ERR_HTTP_416], 1); break;
	case 431: STAT_ADD(&w->st, err[ERR_HTTP_431], 1); break;
	case 500: STAT_ADD(&w->st, err[ERR_HTTP_500], 1); break;
	case 501: STAT_ADD(&w->st, err[ERR_HTTP_501], 1); break;
	case 503: STAT_ADD(&w->st, err[ERR_HTTP_503], 1); break;
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

static const char *conn_field(int keep)
{
	return keep == 0 ? "Connection: close\r\n" : keep == 2 ? "Connection: keep-alive\r\n" : "";
}

/* Appends status line and headers; then the body unless HEAD. keep: 0 close,
 * 1 keep-alive implied (1.1), 2 keep-alive that must be said (1.0). extra
 * (a Location may be long) goes through the heap when the stack is short. */
static int respond(struct worker *w, struct conn *c, int status,
                   const char *ctype, const char *body, uint64_t clen,
                   int head, int keep, const char *extra)
{
	char stack[1024], *h = stack;
	size_t cap = sizeof stack;
	int n;
	for (;;) {
		n = snprintf(h, cap,
		             "HTTP/1.1 %d %s\r\nServer: pollux\r\nDate: %s\r\n"
		             "Content-Type: %s\r\nContent-Length: %llu\r\n%s%s\r\n",
		             status, reason(status), http_date(w), ctype,
		             (unsigned long long)clen, conn_field(keep), extra ? extra : "");
		if (n < 0 || h != stack || (size_t)n < cap)
			break;
		cap = (size_t)n + 1;
		if (!(h = malloc(cap)))
			return -1;
	}
	int rc = n < 0 || (size_t)n >= cap ? -1 : out_append(w, c, h, (size_t)n);
	if (h != stack)
		free(h);
	if (rc < 0)
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

static void date_of(time_t t, char *buf, size_t cap)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Does an If-None-Match list hold tag (weak comparison, RFC 9110 8.8.3.2:
 * W/ is ignored), or "*"? A list that does not parse holds nothing, so the
 * answer is the full one, which is never wrong. */
static int etag_listed(const char *v, size_t n, const char *tag)
{
	size_t tl = strlen(tag), i = 0;
	int found = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		if (i >= n)
			break;
		if (v[i] == '*') {
			found = 1;
			i++;
		} else {
			if (n - i >= 2 && v[i] == 'W' && v[i + 1] == '/')
				i += 2;
			if (i >= n || v[i] != '"')
				return 0;
			const char *q = memchr(v + i + 1, '"', n - i - 1);
			if (!q)
				return 0;
			size_t l = (size_t)(q - (v + i)) + 1;
			if (l == tl && memcmp(v + i, tag, tl) == 0)
				found = 1;
			i += l;
		}
		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (i < n && v[i] != ',')
			return 0;
	}
	return found;
}

/* RFC 9110 13.2.2: If-None-Match decides when present; otherwise
 * If-Modified-Since, unless its date is in the future (as RFC 7232 had it:
 * a client's clock, or a forged date, must not pin an old copy). Fields
 * sent twice are ignored (see parse.h). */
static int not_modified(const struct http_req *r, const char *etag, time_t lm, time_t now)
{
	const struct http_field *inm = &r->f[F_IF_NONE_MATCH];
	const struct http_field *ims = &r->f[F_IF_MODIFIED_SINCE];
	time_t t;
	if (inm->v)
		return !(r->dup & (1u << F_IF_NONE_MATCH)) && etag_listed(inm->v, inm->n, etag);
	return ims->v && !(r->dup & (1u << F_IF_MODIFIED_SINCE)) &&
	       http_parse_date(ims->v, ims->n, &t) == 0 && lm <= t && t <= now;
}

/* If-Range (RFC 9110 13.1.5): the range is served only if the validator is
 * the current one: our strong ETag exactly, or the Last-Modified date. */
static int if_range_holds(const struct http_req *r, const char *etag, time_t lm)
{
	const struct http_field *f = &r->f[F_IF_RANGE];
	time_t t;
	if (!f->v)
		return 1;
	if (r->dup & (1u << F_IF_RANGE))
		return 0;
	if (f->n && (f->v[0] == '"' || f->v[0] == 'W'))
		return f->n == strlen(etag) && memcmp(f->v, etag, f->n) == 0;
	return http_parse_date(f->v, f->n, &t) == 0 && t == lm;
}

static int respond_redirect(struct worker *w, struct conn *c, const char *loc,
                            const char *query, size_t qlen, int head, int keep)
{
	size_t cap = strlen(loc) + qlen + 32;
	char *extra = malloc(cap);
	if (!extra)
		return -1;
	snprintf(extra, cap, "Location: %s/%.*s\r\n", loc, (int)qlen, query);
	static const char body[] = "301 Moved Permanently\n";
	int rc = respond(w, c, 301, "text/plain; charset=utf-8", body, sizeof body - 1,
	                 head, keep, extra);
	free(extra);
	return rc;
}

/* A file under --root: 200, or 206 for a range, 304 when the client's copy
 * is current, 416, or what files_open says. hello_if_none: "/" without an
 * index.html is the built-in page (but not "/" that could not be opened). */
static int respond_file(struct worker *w, struct conn *c, const struct http_req *r,
                        const char *path, size_t plen, const char *query, size_t qlen,
                        int head, int keep, int hello_if_none)
{
	struct file_res fr;
	int status = files_open(&w->srv->opt, path, plen, &fr);
	if (status == 404 && hello_if_none)
		return respond_hello(w, c, head, keep);
	if (status == 301)
		return respond_redirect(w, c, fr.loc, query, qlen, head, keep);
	if (status != 200)
		return respond_error(w, c, status, head, keep,
		                     status == 503 ? "Retry-After: 1\r\n" : NULL);

	/* Validators as nginx makes them: the ETag from mtime and size in
	 * hex; Last-Modified never later than now (RFC 9110 8.8.2.1). */
	char etag[48], lmd[40], extra[256];
	time_t now = time(NULL);
	time_t lm = fr.mtime > now ? now : fr.mtime;
	snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)fr.mtime,
	         (unsigned long long)fr.size);
	date_of(lm, lmd, sizeof lmd);
	int n = snprintf(extra, sizeof extra, "Last-Modified: %s\r\nETag: %s\r\n", lmd, etag);
	if (not_modified(r, etag, lm, now)) {
		close(fr.fd);
		char h[512];
		int k = snprintf(h, sizeof h, "HTTP/1.1 304 Not Modified\r\nServer: pollux\r\n"
		                 "Date: %s\r\n%s%s\r\n", http_date(w), extra, conn_field(keep));
		if (k < 0 || (size_t)k >= sizeof h || out_append(w, c, h, (size_t)k) < 0)
			return -1;
		if (!keep)
			c->flags |= C_CLOSE_AFTER;
		return 0;
	}

	uint64_t size = (uint64_t)fr.size, first = 0, last = 0;
	int rr = RANGE_NONE;
	const struct http_field *rg = &r->f[F_RANGE];
	if (rg->v && !(r->dup & (1u << F_RANGE)) && if_range_holds(r, etag, lm))
		rr = http_parse_range(rg->v, rg->n, size, &first, &last);
	if (rr == RANGE_UNSAT) {
		/* The body is the error text: no validators of the file. */
		close(fr.fd);
		snprintf(extra, sizeof extra, "Content-Range: bytes */%" PRIu64 "\r\n", size);
		return respond_error(w, c, 416, head, keep, extra);
	}
	uint64_t len = size;
	if (rr == RANGE_OK) {
		len = last - first + 1;
		snprintf(extra + n, sizeof extra - (size_t)n,
		         "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n",
		         first, last, size);
	} else {
		snprintf(extra + n, sizeof extra - (size_t)n, "Accept-Ranges: bytes\r\n");
	}
	if (respond(w, c, rr == RANGE_OK ? 206 : 200, fr.ctype, NULL, len, 1, keep, extra) < 0) {
		close(fr.fd);
		return -1;
	}
	if (head || len == 0) {
		close(fr.fd);
		return 0;
	}
	c->file_fd = fr.fd;
	c->file_off = (off_t)first;
	c->file_left = (off_t)len;
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

/* Methods of RFC 9110 and PATCH: known, so 405 with Allow; any other
 * method is one we do not implement at all (501, RFC 9110 15.6.2). */
static int known_method(const char *m, size_t n)
{
	static const char *const known[] = {
		"POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
	};
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (eq(m, n, known[i]))
			return 1;
	return 0;
}

/* Serves one parsed request. Returns -1 only when the connection must be
 * dropped without an answer (out of memory). */
static int serve(struct worker *w, struct conn *c, const struct http_req *r)
{
	int keep = r->minor >= 1 ? !r->conn_close :
	           (r->conn_keepalive && !r->conn_close ? 2 : 0);
	int get = eq(r->method, r->method_len, "GET");
	int head = eq(r->method, r->method_len, "HEAD");
	unsigned long cap = w->srv->opt.keepalive_requests;

	/* As nginx's keepalive_requests: the last one says Connection: close,
	 * so the client knows to open another, and nothing is cut off. */
	if (++c->nreq >= cap && cap)
		keep = 0;
	if (r->has_length && r->content_length > MAX_BODY)
		return respond_error(w, c, 413, head, 0, NULL);
	if (r->has_length)
		c->body_left = r->content_length;
	if (r->chunked) {
		c->flags |= C_CHUNKED;
		http_chunked_init(&c->chunk);
	}

	if (!get && !head) {
		if (!known_method(r->method, r->method_len))
			return respond_error(w, c, 501, 0, keep, NULL);
		return respond_error(w, c, 405, 0, keep, "Allow: GET, HEAD\r\n");
	}

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
	/* The query as sent ("?a=b", empty for none), for a redirect. */
	const char *query = t + pl;
	size_t qlen = q && q == t + pl ? (size_t)((hash && hash > q ? hash : t + tl) - q) : 0;
	const char *path = t;

	if (eq(path, pl, "/stats"))
		return respond_stats(w, c, head, keep);
	if (pl > 7 && memcmp(path, "/delay/", 7) == 0) {
		long ms = delay_ms(path, pl);
		if (ms < 0)
			return respond_error(w, c, 404, head, keep, NULL);
		return conn_delay(w, c, (unsigned)ms, head, keep);
	}
	if (w->srv->opt.root)
		return respond_file(w, c, r, path, pl, query, qlen, head, keep, eq(path, pl, "/"));
	if (eq(path, pl, "/"))
		return respond_hello(w, c, head, keep);
	return respond_error(w, c, 404, head, keep, NULL);
}

/* Reads past a chunked body: 0 when it ended (or needs more: all of
 * buf is then used), -1 when the connection must close after what is
 * already answered (bad framing, or past the limit). */
static int skip_chunked(struct worker *w, struct conn *c, const char *buf, size_t len,
                        size_t *used)
{
	int rc = http_chunked(&c->chunk, buf, len, MAX_BODY, used);
	if (rc == CHUNK_DONE)
		c->flags &= ~C_CHUNKED;
	if (rc == CHUNK_DONE || rc == CHUNK_MORE)
		return 0;
	count_status(w, -rc);
	c->flags |= C_CLOSE_AFTER | C_UNSURE;	/* the rest may still be coming */
	return -1;
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
		if (c->flags & C_CHUNKED) {
			size_t k;
			if (skip_chunked(w, c, buf + pos, len - pos, &k) < 0)
				return len;
			pos += k;
			continue;
		}
		/* Responses go out in request order: wait for a file body or
		 * a /delay to finish, and stop producing once the client falls
		 * behind. */
		if (c->file_fd >= 0 || (c->flags & (C_CLOSE_AFTER | C_DELAY)) ||
		    conn_pending(c) > w->srv->opt.output_cap)
			break;
		/* This wakeup's share is used up: conn.c comes back after the
		 * other connections had theirs (the blocking models have no
		 * others, and no poller to come back with). */
		if (w->p && c->burst >= REQ_BUDGET) {
			c->flags |= C_MORE;
			break;
		}
		struct http_req r;
		int rc = http_parse(buf + pos, len - pos, w->srv->opt.header_limit, &r);
		if (rc == PARSE_INCOMPLETE)
			break;
		STAT_ADD(&w->st, requests, 1);
		conn_touch(w, c);
		c->burst++;
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
		/* Input thrown away, or a chunked body still to come: linger
		 * before close. */
		if (pos < len || (c->flags & C_CHUNKED))
			c->flags |= C_UNSURE;
		return len;	/* nothing after a closing answer is read */
	}
	return pos;
fail:
	STAT_ADD(&w->st, err[ERR_OOM], 1);
	c->flags |= C_CLOSE_AFTER | C_UNSURE;
	return len;
}
