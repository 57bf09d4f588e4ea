/* parse.h: the HTTP/1.x request parser of pollux-server: the request head,
 * the chunked body decoder, and the field values it acts on (dates, Range).
 * Pure: it reads only the bytes it is given, allocates nothing, so it can
 * be fuzzed alone. */
#ifndef POLLUX_SERVER_PARSE_H
#define POLLUX_SERVER_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum {
	PARSE_OK = 0,		/* a whole request head is in req */
	PARSE_INCOMPLETE = 1,	/* need more bytes */
	PARSE_BAD = -400,	/* malformed */
	PARSE_URI_TOO_LONG = -414,	/* the request line alone passes the limit */
	PARSE_TOO_LARGE = -431,	/* head longer than the limit */
	PARSE_NOT_IMPL = -501,	/* a transfer coding other than chunked */
	PARSE_VERSION = -505	/* HTTP/2+ on a 1.x connection */
};

/* Fields kept as (pointer, length) into the buffer; a field sent more than
 * once sets its bit in dup and should then be ignored (answering without a
 * condition or range is always correct, guessing which one counts is not). */
struct http_field {
	const char *v;
	size_t n;
};
enum { F_RANGE, F_IF_RANGE, F_IF_NONE_MATCH, F_IF_MODIFIED_SINCE, F_COUNT };

struct http_req {
	size_t head_len;	/* bytes up to and including the blank line */
	const char *method;
	size_t method_len;
	const char *target;
	size_t target_len;
	int minor;		/* HTTP/1.minor */
	int conn_close;		/* Connection: close */
	int conn_keepalive;	/* Connection: keep-alive */
	int has_length;
	uint64_t content_length;
	int has_te;		/* Transfer-Encoding present */
	int chunked;		/* ... and the body is chunked (the only coding) */
	int hosts;		/* number of Host fields */
	struct http_field f[F_COUNT];
	unsigned dup;		/* 1u << F_*: sent more than once */
};

/* Parses one request head at buf[0..len). limit bounds the head size.
 * Returns PARSE_*; on PARSE_OK fills *req (pointers into buf). */
int http_parse(const char *buf, size_t len, size_t limit, struct http_req *req);

/* A chunked request body being read past (RFC 9112 7.1): the decoder's
 * whole state, small enough to live in every connection. */
struct http_chunked {
	uint32_t left;		/* data bytes of this chunk still to come */
	uint32_t data;		/* data bytes so far */
	uint32_t wire;		/* body bytes so far, framing included */
	uint8_t st;
};
enum {
	CHUNK_DONE = 0,		/* the body (trailers too) ended */
	CHUNK_MORE = 1,		/* all given bytes consumed; need more */
	CHUNK_BAD = -400,	/* malformed framing */
	CHUNK_TOO_LARGE = -413	/* data over limit, or framing over 2 limit + 64 KiB */
};
void http_chunked_init(struct http_chunked *ch);
/* Consumes body bytes from buf[0..len), *used of them (all of them unless
 * CHUNK_DONE, which leaves the bytes after the body). */
int http_chunked(struct http_chunked *ch, const char *buf, size_t len,
                 uint32_t limit, size_t *used);

/* An HTTP-date (RFC 9110 5.6.7: IMF-fixdate, and the obsolete RFC 850 and
 * asctime forms a recipient must accept): 0 with *t, or -1. */
int http_parse_date(const char *v, size_t n, time_t *t);

enum {
	RANGE_NONE = 0,		/* serve the whole representation */
	RANGE_OK = 1,		/* serve bytes [*first, *last] */
	RANGE_UNSAT = -416	/* no byte of it exists: 416 */
};
/* A Range field value against a representation of size bytes. Another
 * unit, bad syntax, several ranges and an empty representation all give
 * RANGE_NONE: ignoring Range is always allowed (RFC 9110 14.2). */
int http_parse_range(const char *v, size_t n, uint64_t size, uint64_t *first,
                     uint64_t *last);

#endif
