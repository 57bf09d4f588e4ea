/* parse.c: a strict, bounded HTTP/1.x request-head parser (RFC 9112): request
 * line, header fields, the few fields the server acts on. */
#include <config.h>
#include "parse.h"

#include <string.h>

/* tchar of RFC 9110: the characters of methods and field names. */
static int is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9'))
		return 1;
	return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int ieq(const char *a, size_t n, const char *lit)
{
	size_t m = strlen(lit);
	if (n != m)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)lit[i];
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (x != y)
			return 0;
	}
	return 1;
}

/* Finds the end of the line starting at p (before end): returns the index of
 * its '\n', or -1. Sets *clen to the content length without CR LF. A CR
 * anywhere but just before LF makes the line bad (-2). */
static long line_end(const char *p, size_t n, size_t *clen)
{
	const char *nl = memchr(p, '\n', n);
	if (!nl)
		return -1;
	size_t l = (size_t)(nl - p);
	if (l > 0 && p[l - 1] == '\r')
		l--;
	if (memchr(p, '\r', l))
		return -2;
	*clen = l;
	return (long)(nl - p);
}

static int parse_request_line(const char *p, size_t n, struct http_req *r)
{
	size_t i = 0;
	while (i < n && is_tchar((unsigned char)p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ' ')
		return PARSE_BAD;
	r->method = p;
	r->method_len = i;
	size_t t = ++i;
	while (i < n && (unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7f)
		i++;
	if (i == t || i >= n || p[i] != ' ')
		return PARSE_BAD;
	r->target = p + t;
	r->target_len = i - t;
	i++;
	if (n - i != 8 || memcmp(p + i, "HTTP/", 5) != 0 || p[i + 6] != '.')
		return PARSE_BAD;
	char maj = p[i + 5], min = p[i + 7];
	if (maj < '0' || maj > '9' || min < '0' || min > '9')
		return PARSE_BAD;
	if (maj != '1')
		return maj == '0' ? PARSE_BAD : PARSE_VERSION;
	r->minor = min - '0';
	return PARSE_OK;
}

static int parse_length(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	if (n == 0 || n > 18)	/* 18 digits cannot overflow */
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return 0;
}

/* Connection: a comma-separated token list. */
static void parse_connection(const char *v, size_t n, struct http_req *r)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
			i++;
		if (ieq(v + s, i - s, "close"))
			r->conn_close = 1;
		else if (ieq(v + s, i - s, "keep-alive"))
			r->conn_keepalive = 1;
	}
}

static int parse_field(const char *p, size_t n, struct http_req *r)
{
	size_t i = 0;
	while (i < n && is_tchar((unsigned char)p[i]))
		i++;
	/* No space before the colon (RFC 9112 5.1), and a name is required. */
	if (i == 0 || i >= n || p[i] != ':')
		return PARSE_BAD;
	size_t nlen = i++;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	size_t e = n;
	while (e > i && (p[e - 1] == ' ' || p[e - 1] == '\t'))
		e--;
	for (size_t k = i; k < e; k++) {
		unsigned char ch = (unsigned char)p[k];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return PARSE_BAD;
	}
	const char *v = p + i;
	size_t vlen = e - i;
	if (ieq(p, nlen, "content-length")) {
		uint64_t x;
		if (parse_length(v, vlen, &x) < 0)
			return PARSE_BAD;
		if (r->has_length && r->content_length != x)
			return PARSE_BAD;
		r->has_length = 1;
		r->content_length = x;
	} else if (ieq(p, nlen, "transfer-encoding")) {
		r->has_te = 1;
	} else if (ieq(p, nlen, "connection")) {
		parse_connection(v, vlen, r);
	} else if (ieq(p, nlen, "host")) {
		r->hosts++;
	}
	return PARSE_OK;
}

int http_parse(const char *buf, size_t len, size_t limit, struct http_req *req)
{
	memset(req, 0, sizeof *req);
	size_t n = len < limit ? len : limit;
	size_t pos = 0;
	/* RFC 9112 2.2: ignore empty lines before the request line. */
	while (pos < n && (buf[pos] == '\r' || buf[pos] == '\n')) {
		if (buf[pos] == '\r' && (pos + 1 >= n || buf[pos + 1] != '\n'))
			break;
		pos += buf[pos] == '\r' ? 2 : 1;
	}
	int first = 1;
	for (;;) {
		size_t clen;
		long e = line_end(buf + pos, n - pos, &clen);
		if (e == -2)
			return PARSE_BAD;
		if (e < 0)
			return len >= limit ? PARSE_TOO_LARGE : PARSE_INCOMPLETE;
		const char *line = buf + pos;
		pos += (size_t)e + 1;
		int rc;
		if (first) {
			rc = parse_request_line(line, clen, req);
			first = 0;
		} else if (clen == 0) {
			break;
		} else if (line[0] == ' ' || line[0] == '\t') {
			rc = PARSE_BAD;	/* obsolete line folding */
		} else {
			rc = parse_field(line, clen, req);
		}
		if (rc != PARSE_OK)
			return rc;
	}
	if (req->hosts > 1 || (req->minor >= 1 && req->hosts == 0))
		return PARSE_BAD;
	if (req->has_te && req->has_length)
		return PARSE_BAD;	/* request smuggling shape: refuse */
	req->head_len = pos;
	return PARSE_OK;
}
