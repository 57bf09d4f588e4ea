/* httpresp.h: the one HTTP/1.x response parser of the pollux tools:
 * incremental (bytes in any pieces), status line, headers (names in any
 * case), then a body framed by Content-Length, chunked encoding or the end
 * of the connection. The body is counted, and handed to a callback when the
 * caller wants it (pollux-scale's /stats, the lab's GETs); pollux-load only
 * counts. Not installed; not part of libpollux. */
#ifndef POLLUX_TOOLS_HTTPRESP_H
#define POLLUX_TOOLS_HTTPRESP_H

#include <stddef.h>
#include <stdint.h>

enum px_http_result { PX_HTTP_MORE, PX_HTTP_DONE, PX_HTTP_BAD };

struct px_httpresp {
	int state;
	int status;		/* the final status (after any 1xx) */
	int keep_alive;		/* 0 after "Connection: close" or HTTP/1.0 */
	int chunked;
	int head;		/* set by the caller after init: the request was
				 * HEAD, so no body whatever the headers say */
	int64_t content_length;	/* -1 when absent */
	uint64_t left;		/* body or chunk bytes still expected */
	uint64_t body_bytes;	/* body bytes so far (chunk framing not counted) */
	unsigned line_len;	/* bytes of the current header or chunk line */
	unsigned header_bytes;
	char line[256];		/* the current header line, truncated */
	/* Set by the caller after init, or left NULL: each piece of the
	 * body as it goes by (chunked framing removed). */
	void (*on_body)(void *arg, const char *p, size_t n);
	void *arg;
};

void px_httpresp_init(struct px_httpresp *hp);
/* Feeds n bytes; *used tells how many belong to this response.
 * PX_HTTP_DONE when the response is complete, PX_HTTP_BAD when it cannot
 * be parsed (a bad status line, a bad or conflicting Content-Length, a bad
 * chunk size, headers past 64 KiB). */
enum px_http_result px_httpresp_feed(struct px_httpresp *hp, const char *buf,
                                     size_t n, size_t *used);
/* The peer closed the connection: a body delimited by close ends here;
 * anywhere else the response was cut short (PX_HTTP_BAD). */
enum px_http_result px_httpresp_eof(struct px_httpresp *hp);

#endif
