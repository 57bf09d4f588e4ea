/* parse.c: a strict, bounded HTTP/1.x request parser (RFC 9112): request
 * line, header fields, the few fields the server acts on, chunked bodies,
 * and the values of Range and of the date fields (RFC 9110). */
#include "toolconfig.h"
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

static int isalnum_ascii(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static int isxdigit_ascii(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
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

/* A request line cut off by the limit: does what there is look like the
 * start of one (method, space, target characters)? Then the target is too
 * long (414); otherwise it is garbage (400). */
static int line_prefix_ok(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && is_tchar((unsigned char)p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ' ')
		return 0;
	for (i++; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch <= 0x20 || ch >= 0x7f)
			return ch == ' ';	/* the version follows: long anyway */
	}
	return 1;
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

/* Transfer-Encoding: a list of codings, possibly over several fields. Only
 * "chunked" alone frames a body we can read; *te accumulates TE_* bits. */
enum { TE_CHUNKED_LAST = 1, TE_CHUNKED_EARLY = 2, TE_OTHER = 4, TE_ANY = 8 };
static int parse_te(const char *v, size_t n, unsigned *te)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < n && v[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e == s)
			continue;	/* an empty list element */
		for (size_t k = s; k < e; k++)
			if (!is_tchar((unsigned char)v[k]) && !strchr(" \t;=\"", v[k]))
				return PARSE_BAD;
		if (*te & TE_CHUNKED_LAST)
			*te = (*te & ~(unsigned)TE_CHUNKED_LAST) | TE_CHUNKED_EARLY;
		*te |= TE_ANY;
		if (ieq(v + s, e - s, "chunked"))
			*te |= TE_CHUNKED_LAST;
		else
			*te |= TE_OTHER;
	}
	return PARSE_OK;
}

/* Host (RFC 9112 3.2): uri-host [":" port] of RFC 3986. Not empty: an
 * http URI with an empty host is invalid (RFC 9110 4.2.1). */
static int valid_host(const char *v, size_t n)
{
	size_t i = 0;
	if (n == 0 || v[0] == ':')
		return 0;
	if (n && v[0] == '[') {
		for (i = 1; i < n && v[i] != ']'; i++)
			if (!isalnum_ascii((unsigned char)v[i]) && !strchr(":.-_~!$&'()*+,;=", v[i]))
				return 0;
		if (i >= n || i == 1)
			return 0;
		i++;
	} else {
		for (; i < n && v[i] != ':'; i++) {
			unsigned char ch = (unsigned char)v[i];
			if (ch == '%') {
				if (i + 2 >= n || !isxdigit_ascii((unsigned char)v[i + 1]) ||
				    !isxdigit_ascii((unsigned char)v[i + 2]))
					return 0;
				i += 2;
			} else if (!isalnum_ascii(ch) && !strchr("-._~!$&'()*+,;=", ch)) {
				return 0;
			}
		}
	}
	if (i < n) {
		if (v[i] != ':')
			return 0;
		for (i++; i < n; i++)
			if (v[i] < '0' || v[i] > '9')
				return 0;
	}
	return 1;
}

static const char *const kept_names[F_COUNT] = {
	[F_RANGE] = "range",
	[F_IF_RANGE] = "if-range",
	[F_IF_NONE_MATCH] = "if-none-match",
	[F_IF_MODIFIED_SINCE] = "if-modified-since",
};

static int parse_field(const char *p, size_t n, struct http_req *r, unsigned *te)
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
		return parse_te(v, vlen, te);
	} else if (ieq(p, nlen, "connection")) {
		parse_connection(v, vlen, r);
	} else if (ieq(p, nlen, "host")) {
		r->hosts++;
		if (!valid_host(v, vlen))
			return PARSE_BAD;
	} else {
		for (int k = 0; k < F_COUNT; k++) {
			if (ieq(p, nlen, kept_names[k])) {
				if (r->f[k].v)
					r->dup |= 1u << k;
				r->f[k].v = v;
				r->f[k].n = vlen;
				break;
			}
		}
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
	unsigned te = 0;
	for (;;) {
		size_t clen;
		long e = line_end(buf + pos, n - pos, &clen);
		if (e == -2)
			return PARSE_BAD;
		if (e < 0 && len >= limit && first)
			return line_prefix_ok(buf + pos, n - pos) ? PARSE_URI_TOO_LONG : PARSE_BAD;
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
			rc = parse_field(line, clen, req, &te);
		}
		if (rc != PARSE_OK)
			return rc;
	}
	if (req->hosts > 1 || (req->minor >= 1 && req->hosts == 0))
		return PARSE_BAD;
	if (req->has_te) {
		/* RFC 9112 6.1 and 6.3: with Content-Length too (the request
		 * smuggling shape), in HTTP/1.0, or when chunked is not the last
		 * coding, the body's end cannot be known: 400 and close. */
		if (req->has_length || req->minor == 0 || !(te & TE_CHUNKED_LAST) ||
		    (te & TE_CHUNKED_EARLY))
			return PARSE_BAD;
		if (te & TE_OTHER)
			return PARSE_NOT_IMPL;	/* gzip, chunked: we decode none */
		req->chunked = 1;
	}
	req->head_len = pos;
	return PARSE_OK;
}

/* The chunked decoder's states: where in the framing the next byte is. */
enum {
	CH_SIZE0,	/* first hex digit of a chunk size */
	CH_SIZE,	/* more digits, or what follows them */
	CH_SIZE_WS,	/* whitespace after the size: only before ';' */
	CH_EXT,		/* chunk extension: ignored up to the CR */
	CH_SIZE_LF,	/* the LF of the size line */
	CH_DATA,
	CH_DATA_CR,	/* the CR LF after the data */
	CH_DATA_LF,
	CH_TRAILER0,	/* start of a trailer line, or the final CR */
	CH_TRAILER_NAME,
	CH_TRAILER_VALUE,
	CH_TRAILER_LF,
	CH_END_LF
};

void http_chunked_init(struct http_chunked *ch)
{
	memset(ch, 0, sizeof *ch);
	ch->st = CH_SIZE0;
}

static int hexdigit(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* A field-content byte of an extension or trailer value: no CTL but HTAB. */
static int is_vchar_or_ws(unsigned char ch)
{
	return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

/* Byte by byte, so no line is ever buffered. Line ends are CR LF only: a
 * bare LF, which some implementations accept and some do not, is exactly
 * the kind of disagreement request smuggling lives on. */
int http_chunked(struct http_chunked *ch, const char *buf, size_t len,
                 uint32_t limit, size_t *used)
{
	uint64_t wire_cap = 2 * (uint64_t)limit + 65536;
	size_t i = 0;
	int rc = CHUNK_MORE;
	while (i < len) {
		unsigned char c = (unsigned char)buf[i];
		if (ch->st == CH_DATA) {
			size_t k = len - i < ch->left ? len - i : ch->left;
			i += k;
			ch->left -= (uint32_t)k;
			ch->wire += (uint32_t)k;
			if (ch->left == 0)
				ch->st = CH_DATA_CR;
			continue;
		}
		i++;
		if (++ch->wire > wire_cap) {
			rc = CHUNK_TOO_LARGE;
			break;
		}
		int d;
		switch (ch->st) {
		case CH_SIZE0:
		case CH_SIZE:
			d = hexdigit(c);
			if (d >= 0) {
				uint64_t v = (uint64_t)ch->left * 16 + (uint64_t)d;
				if (v > (uint64_t)limit - ch->data) {
					rc = CHUNK_TOO_LARGE;
					goto out;
				}
				ch->left = (uint32_t)v;
				ch->st = CH_SIZE;
			} else if (ch->st == CH_SIZE0) {
				rc = CHUNK_BAD;
			} else if (c == ';') {
				ch->st = CH_EXT;
			} else if (c == ' ' || c == '\t') {
				ch->st = CH_SIZE_WS;
			} else if (c == '\r') {
				ch->st = CH_SIZE_LF;
			} else {
				rc = CHUNK_BAD;
			}
			break;
		case CH_SIZE_WS:
			if (c == ';')
				ch->st = CH_EXT;
			else if (c != ' ' && c != '\t')
				rc = CHUNK_BAD;
			break;
		case CH_EXT:
			if (c == '\r')
				ch->st = CH_SIZE_LF;
			else if (!is_vchar_or_ws(c))
				rc = CHUNK_BAD;
			break;
		case CH_SIZE_LF:
			if (c != '\n') {
				rc = CHUNK_BAD;
			} else if (ch->left == 0) {
				ch->st = CH_TRAILER0;	/* the last chunk */
			} else {
				ch->data += ch->left;
				ch->st = CH_DATA;
			}
			break;
		case CH_DATA_CR:
			if (c == '\r')
				ch->st = CH_DATA_LF;
			else
				rc = CHUNK_BAD;
			break;
		case CH_DATA_LF:
			if (c == '\n')
				ch->st = CH_SIZE0;
			else
				rc = CHUNK_BAD;
			break;
		case CH_TRAILER0:
			if (c == '\r')
				ch->st = CH_END_LF;
			else if (is_tchar(c))
				ch->st = CH_TRAILER_NAME;
			else
				rc = CHUNK_BAD;
			break;
		case CH_TRAILER_NAME:
			if (c == ':')
				ch->st = CH_TRAILER_VALUE;
			else if (!is_tchar(c))
				rc = CHUNK_BAD;
			break;
		case CH_TRAILER_VALUE:
			if (c == '\r')
				ch->st = CH_TRAILER_LF;
			else if (!is_vchar_or_ws(c))
				rc = CHUNK_BAD;
			break;
		case CH_TRAILER_LF:
			if (c == '\n')
				ch->st = CH_TRAILER0;
			else
				rc = CHUNK_BAD;
			break;
		case CH_END_LF:
			rc = c == '\n' ? CHUNK_DONE : CHUNK_BAD;
			break;
		default:
			rc = CHUNK_BAD;
			break;
		}
		if (rc != CHUNK_MORE)
			break;
	}
out:
	*used = i;
	return rc;
}

static int digits(const char *v, size_t n, int *out)
{
	int x = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	*out = x;
	return 0;
}

static int month_of(const char *v)
{
	static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	for (int m = 0; m < 12; m++)
		if (memcmp(v, names + 3 * m, 3) == 0)
			return m;
	return -1;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (m is
 * 0-11), so that no time zone or locale is involved. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m < 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t mp = (m + 10) % 12;	/* March = 0 */
	int64_t doy = (153 * mp + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* "HH:MM:SS" at v. */
static int clock_of(const char *v, int *h, int *mi, int *s)
{
	if (v[2] != ':' || v[5] != ':')
		return -1;
	if (digits(v, 2, h) < 0 || digits(v + 3, 2, mi) < 0 || digits(v + 6, 2, s) < 0)
		return -1;
	return *h < 24 && *mi < 60 && *s < 61 ? 0 : -1;
}

int http_parse_date(const char *v, size_t n, time_t *t)
{
	int d, m, y, h, mi, s;
	const char *comma = memchr(v, ',', n);
	if (comma && n == 29 && comma == v + 3) {
		/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
		if (v[4] != ' ' || v[7] != ' ' || v[11] != ' ' || v[16] != ' ' ||
		    memcmp(v + 25, " GMT", 4) != 0 || digits(v + 5, 2, &d) < 0 ||
		    (m = month_of(v + 8)) < 0 || digits(v + 12, 4, &y) < 0 ||
		    clock_of(v + 17, &h, &mi, &s) < 0)
			return -1;
	} else if (comma) {
		/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
		size_t k = (size_t)(comma - v) + 1;
		if (n != k + 23 || v[k] != ' ' || v[k + 3] != '-' || v[k + 7] != '-' ||
		    v[k + 10] != ' ' || memcmp(v + k + 19, " GMT", 4) != 0 ||
		    digits(v + k + 1, 2, &d) < 0 || (m = month_of(v + k + 4)) < 0 ||
		    digits(v + k + 8, 2, &y) < 0 || clock_of(v + k + 11, &h, &mi, &s) < 0)
			return -1;
		/* RFC 9110 5.6.7: a two-digit year more than 50 years ahead
		 * is in the past century; 1970-2069 covers every file time. */
		y += y < 70 ? 2000 : 1900;
	} else if (n == 24) {
		/* asctime: "Sun Nov  6 08:49:37 1994" */
		if (v[3] != ' ' || v[7] != ' ' || v[10] != ' ' || v[19] != ' ' ||
		    (m = month_of(v + 4)) < 0 || clock_of(v + 11, &h, &mi, &s) < 0 ||
		    digits(v + 20, 4, &y) < 0)
			return -1;
		if (v[8] == ' ' ? digits(v + 9, 1, &d) < 0 : digits(v + 8, 2, &d) < 0)
			return -1;
	} else {
		return -1;
	}
	if (d < 1 || d > 31 || y < 1900)
		return -1;
	int64_t secs = days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + s;
	if (sizeof(time_t) < 8 && (secs > INT32_MAX || secs < INT32_MIN))
		return -1;
	*t = (time_t)secs;
	return 0;
}

/* A decimal that saturates instead of overflowing: a position past any
 * file is as good as UINT64_MAX. -1 if there is no digit. */
static int pos_of(const char *v, size_t n, size_t *i, uint64_t *out)
{
	size_t s = *i;
	uint64_t x = 0;
	while (*i < n && v[*i] >= '0' && v[*i] <= '9') {
		unsigned dg = (unsigned)(v[*i] - '0');
		x = x > (UINT64_MAX - dg) / 10 ? UINT64_MAX : x * 10 + dg;
		(*i)++;
	}
	*out = x;
	return *i > s ? 0 : -1;
}

int http_parse_range(const char *v, size_t n, uint64_t size, uint64_t *first,
                     uint64_t *last)
{
	if (n < 6 || !ieq(v, 5, "bytes") || v[5] != '=')
		return RANGE_NONE;
	size_t i = 6;
	int specs = 0, rc = RANGE_NONE;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		if (i >= n)
			break;
		if (++specs > 1)
			return RANGE_NONE;	/* several ranges: the whole, as 200 */
		uint64_t a, b;
		if (v[i] == '-') {
			i++;
			if (pos_of(v, n, &i, &b) < 0)
				return RANGE_NONE;
			if (b == 0)
				rc = RANGE_UNSAT;
			else if (size == 0)
				return RANGE_NONE;	/* "the whole" is no bytes */
			else {
				*first = b >= size ? 0 : size - b;
				*last = size - 1;
				rc = RANGE_OK;
			}
		} else {
			if (pos_of(v, n, &i, &a) < 0 || i >= n || v[i] != '-')
				return RANGE_NONE;
			i++;
			int has_b = pos_of(v, n, &i, &b) == 0;
			if (has_b && b < a)
				return RANGE_NONE;	/* invalid: ignored */
			if (a >= size) {
				rc = RANGE_UNSAT;
			} else {
				*first = a;
				*last = has_b && b < size - 1 ? b : size - 1;
				rc = RANGE_OK;
			}
		}
		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (i < n && v[i] != ',')
			return RANGE_NONE;
	}
	return rc;
}
