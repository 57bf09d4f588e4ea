/* parse.h: the HTTP/1.x request-head parser of pollux-server. Pure: it reads
 * only the bytes it is given, allocates nothing, so it can be fuzzed alone. */
#ifndef POLLUX_SERVER_PARSE_H
#define POLLUX_SERVER_PARSE_H

#include <stddef.h>
#include <stdint.h>

enum {
	PARSE_OK = 0,		/* a whole request head is in req */
	PARSE_INCOMPLETE = 1,	/* need more bytes */
	PARSE_BAD = -400,	/* malformed */
	PARSE_TOO_LARGE = -431,	/* head longer than the limit */
	PARSE_VERSION = -505	/* HTTP/2+ on a 1.x connection */
};

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
	int hosts;		/* number of Host fields */
};

/* Parses one request head at buf[0..len). limit bounds the head size.
 * Returns PARSE_*; on PARSE_OK fills *req (pointers into buf). */
int http_parse(const char *buf, size_t len, size_t limit, struct http_req *req);

#endif
