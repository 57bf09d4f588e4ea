/* httpresp.c: the tools' incremental HTTP/1.x response parser (moved here
 * from pollux-load): status line, headers, then a body framed by
 * Content-Length, chunked encoding or the end of the connection. It counts
 * body bytes, and copies nothing unless the caller asks for the body. */
#include "toolconfig.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpresp.h"

enum {
	S_STATUS, S_HEADER, S_BODY, S_BODY_EOF, S_CHUNK_SIZE, S_CHUNK_DATA,
	S_CHUNK_END, S_TRAILER
};

/* A response whose headers exceed this is treated as malformed, so a
 * broken server cannot make the client buffer without bound. */
#define MAX_HEADER_BYTES 65536

void px_httpresp_init(struct px_httpresp *hp)
{
	memset(hp, 0, sizeof *hp);
	hp->state = S_STATUS;
	hp->content_length = -1;
	hp->keep_alive = 1;
}

static int parse_status(struct px_httpresp *hp)
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

static int parse_header(struct px_httpresp *hp)
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
static enum px_http_result start_body(struct px_httpresp *hp)
{
	if (hp->status < 200) {
		/* 1xx interim response: the real one follows. */
		struct px_httpresp keep = *hp;
		px_httpresp_init(hp);
		hp->keep_alive = keep.keep_alive;
		hp->head = keep.head;
		hp->on_body = keep.on_body;
		hp->arg = keep.arg;
		return PX_HTTP_MORE;
	}
	if (hp->status == 204 || hp->status == 304 || hp->head)
		return PX_HTTP_DONE;
	if (hp->chunked) {
		hp->state = S_CHUNK_SIZE;
		return PX_HTTP_MORE;
	}
	if (hp->content_length >= 0) {
		hp->left = (uint64_t)hp->content_length;
		hp->state = S_BODY;
		return hp->left ? PX_HTTP_MORE : PX_HTTP_DONE;
	}
	hp->keep_alive = 0;
	hp->state = S_BODY_EOF;
	return PX_HTTP_MORE;
}

static int parse_chunk_size(struct px_httpresp *hp)
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
static enum px_http_result line_done(struct px_httpresp *hp)
{
	switch (hp->state) {
	case S_STATUS:
		if (parse_status(hp) < 0)
			return PX_HTTP_BAD;
		hp->state = S_HEADER;
		return PX_HTTP_MORE;
	case S_HEADER:
		if (hp->line[0] == '\0')
			return start_body(hp);
		return parse_header(hp) < 0 ? PX_HTTP_BAD : PX_HTTP_MORE;
	case S_CHUNK_SIZE:
		if (parse_chunk_size(hp) < 0)
			return PX_HTTP_BAD;
		hp->state = hp->left ? S_CHUNK_DATA : S_TRAILER;
		return PX_HTTP_MORE;
	case S_CHUNK_END:
		if (hp->line[0] != '\0')
			return PX_HTTP_BAD;
		hp->state = S_CHUNK_SIZE;
		return PX_HTTP_MORE;
	case S_TRAILER:
		return hp->line[0] == '\0' ? PX_HTTP_DONE : PX_HTTP_MORE;
	default:
		return PX_HTTP_BAD;
	}
}

enum px_http_result px_httpresp_feed(struct px_httpresp *hp, const char *buf, size_t n,
                           size_t *used)
{
	size_t i = 0;
	enum px_http_result r = PX_HTTP_MORE;
	while (i < n && r == PX_HTTP_MORE) {
		if (hp->state == S_BODY || hp->state == S_CHUNK_DATA) {
			uint64_t take = n - i < hp->left ? n - i : hp->left;
			if (hp->on_body && take)
				hp->on_body(hp->arg, buf + i, (size_t)take);
			hp->left -= take;
			hp->body_bytes += take;
			i += (size_t)take;
			if (hp->left == 0) {
				if (hp->state == S_BODY)
					r = PX_HTTP_DONE;
				else
					hp->state = S_CHUNK_END;
			}
			continue;
		}
		if (hp->state == S_BODY_EOF) {
			if (hp->on_body)
				hp->on_body(hp->arg, buf + i, n - i);
			hp->body_bytes += n - i;
			i = n;
			continue;
		}
		char c = buf[i++];
		if (++hp->header_bytes > MAX_HEADER_BYTES)
			r = PX_HTTP_BAD;
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

enum px_http_result px_httpresp_eof(struct px_httpresp *hp)
{
	return hp->state == S_BODY_EOF ? PX_HTTP_DONE : PX_HTTP_BAD;
}
