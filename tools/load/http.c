/* http.c: an incremental HTTP/1.x response parser for pollux-load: status
 * line, headers, then a body framed by Content-Length, chunked encoding or
 * the end of the connection. It counts body bytes without copying them. */
#include <config.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "load.h"

enum {
	S_STATUS, S_HEADER, S_BODY, S_BODY_EOF, S_CHUNK_SIZE, S_CHUNK_DATA,
	S_CHUNK_END, S_TRAILER
};

/* A response whose headers exceed this is treated as malformed, so a
 * broken server cannot make the client buffer without bound. */
#define MAX_HEADER_BYTES 65536

void http_init(struct http_parser *hp)
{
	memset(hp, 0, sizeof *hp);
	hp->state = S_STATUS;
	hp->content_length = -1;
	hp->keep_alive = 1;
}

static int parse_status(struct http_parser *hp)
{
	const char *l = hp->line;
	if (strncmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') ||
	    l[8] != ' ' || !isdigit((unsigned char)l[9]) ||
	    !isdigit((unsigned char)l[10]) || !isdigit((unsigned char)l[11]) ||
	    (l[12] != ' ' && l[12] != '\0'))
		return -1;
	hp->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	if (hp->status < 100)
		return -1;
	if (l[7] == '0')
		hp->keep_alive = 0; /* HTTP/1.0 closes unless told otherwise */
	return 0;
}

static const char *header_value(const char *line, const char *name)
{
	size_t n = strlen(name);
	if (strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	const char *v = line + n + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	return v;
}

static int parse_header(struct http_parser *hp)
{
	const char *v;
	if ((v = header_value(hp->line, "Content-Length"))) {
		if (!isdigit((unsigned char)*v))
			return -1;
		char *end;
		unsigned long long n = strtoull(v, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end || n > (unsigned long long)INT64_MAX)
			return -1;
		if (hp->content_length >= 0 && (uint64_t)hp->content_length != n)
			return -1; /* conflicting lengths */
		hp->content_length = (int64_t)n;
	} else if ((v = header_value(hp->line, "Transfer-Encoding"))) {
		if (strcasestr(v, "chunked"))
			hp->chunked = 1;
	} else if ((v = header_value(hp->line, "Connection"))) {
		if (strcasestr(v, "close"))
			hp->keep_alive = 0;
		else if (strcasestr(v, "keep-alive"))
			hp->keep_alive = 1;
	}
	return 0;
}

/* Headers are over: choose how the body is framed. */
static enum http_result start_body(struct http_parser *hp)
{
	if (hp->status < 200) {
		/* 1xx interim response: the real one follows. */
		int ka = hp->keep_alive;
		http_init(hp);
		hp->keep_alive = ka;
		return HTTP_MORE;
	}
	if (hp->status == 204 || hp->status == 304)
		return HTTP_DONE;
	if (hp->chunked) {
		hp->state = S_CHUNK_SIZE;
		return HTTP_MORE;
	}
	if (hp->content_length >= 0) {
		hp->left = (uint64_t)hp->content_length;
		hp->state = S_BODY;
		return hp->left ? HTTP_MORE : HTTP_DONE;
	}
	hp->keep_alive = 0;
	hp->state = S_BODY_EOF;
	return HTTP_MORE;
}

static int parse_chunk_size(struct http_parser *hp)
{
	const char *l = hp->line;
	if (!isxdigit((unsigned char)*l))
		return -1;
	uint64_t n = 0;
	for (; isxdigit((unsigned char)*l); l++) {
		if (n >> 60)
			return -1;
		int d = isdigit((unsigned char)*l) ? *l - '0'
		                                   : (tolower((unsigned char)*l) - 'a' + 10);
		n = n * 16 + (uint64_t)d;
	}
	if (*l && *l != ';' && *l != ' ' && *l != '\t')
		return -1;
	hp->left = n;
	return 0;
}

/* One complete line is in hp->line (CR stripped): act on it. */
static enum http_result line_done(struct http_parser *hp)
{
	switch (hp->state) {
	case S_STATUS:
		if (parse_status(hp) < 0)
			return HTTP_BAD;
		hp->state = S_HEADER;
		return HTTP_MORE;
	case S_HEADER:
		if (hp->line[0] == '\0')
			return start_body(hp);
		return parse_header(hp) < 0 ? HTTP_BAD : HTTP_MORE;
	case S_CHUNK_SIZE:
		if (parse_chunk_size(hp) < 0)
			return HTTP_BAD;
		hp->state = hp->left ? S_CHUNK_DATA : S_TRAILER;
		return HTTP_MORE;
	case S_CHUNK_END:
		if (hp->line[0] != '\0')
			return HTTP_BAD;
		hp->state = S_CHUNK_SIZE;
		return HTTP_MORE;
	case S_TRAILER:
		return hp->line[0] == '\0' ? HTTP_DONE : HTTP_MORE;
	default:
		return HTTP_BAD;
	}
}

enum http_result http_feed(struct http_parser *hp, const char *buf, size_t n,
                           size_t *used)
{
	size_t i = 0;
	enum http_result r = HTTP_MORE;
	while (i < n && r == HTTP_MORE) {
		if (hp->state == S_BODY || hp->state == S_CHUNK_DATA) {
			uint64_t take = n - i < hp->left ? n - i : hp->left;
			hp->left -= take;
			i += (size_t)take;
			if (hp->left == 0) {
				if (hp->state == S_BODY)
					r = HTTP_DONE;
				else
					hp->state = S_CHUNK_END;
			}
			continue;
		}
		if (hp->state == S_BODY_EOF) {
			i = n;
			continue;
		}
		char c = buf[i++];
		if (++hp->header_bytes > MAX_HEADER_BYTES)
			r = HTTP_BAD;
		else if (c == '\n') {
			size_t l = hp->line_len < sizeof hp->line ? hp->line_len
			                                          : sizeof hp->line - 1;
			if (l > 0 && hp->line[l - 1] == '\r')
				l--;
			hp->line[l] = '\0';
			hp->line_len = 0;
			r = line_done(hp);
			/* Only headers are bounded; a long chunked body has many
			 * chunk lines, each small. */
			if (hp->state >= S_CHUNK_SIZE)
				hp->header_bytes = 0;
		} else {
			if (hp->line_len < sizeof hp->line - 1)
				hp->line[hp->line_len] = c;
			hp->line_len++;
		}
	}
	*used = i;
	return r;
}

enum http_result http_eof(struct http_parser *hp)
{
	return hp->state == S_BODY_EOF ? HTTP_DONE : HTTP_BAD;
}
