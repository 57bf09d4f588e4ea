/* fuzz_server_parse.c: a libFuzzer harness for pollux-server's request
 * parser, its chunked body decoder and its date and Range parsers (not
 * built by make; the Check suite fuzzes them too). Build and run:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -IB -include B/config.h \
 *     -Itools/server tests/fuzz_server_parse.c tools/server/parse.c -o fuzz
 *   ./fuzz -max_total_time=60 -max_len=4096
 * (B: a configured build dir). */
#include "parse.h"
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req r;
	size_t limit = size ? 16 + data[0] * 32u : 8192;
	int rc = http_parse((const char *)data, size, limit, &r);
	if (rc == PARSE_OK) {
		if (r.head_len > size || r.head_len > limit) abort();
		if (r.target < (const char *)data || r.target + r.target_len > (const char *)data + size) abort();
	} else if (rc == PARSE_INCOMPLETE && size >= limit) abort();
	/* The same bytes as a chunked body, at once and in two pieces: the
	 * decoder keeps no line, so both must agree. */
	struct http_chunked a, b;
	size_t ua, ub1, ub2 = 0, cut = size ? data[size - 1] % (size + 1) : 0;
	http_chunked_init(&a);
	http_chunked_init(&b);
	int ra = http_chunked(&a, (const char *)data, size, 4096, &ua);
	int rb = http_chunked(&b, (const char *)data, cut, 4096, &ub1);
	if (ua > size || ub1 > cut) abort();
	if (rb == CHUNK_MORE && ub1 == cut) {
		rb = http_chunked(&b, (const char *)data + cut, size - cut, 4096, &ub2);
		if (ub2 > size - cut) abort();
	}
	if (ra != rb || ua != ub1 + ub2) abort();
	time_t t;
	(void)http_parse_date((const char *)data, size, &t);
	uint64_t first, last, len = size ? data[0] : 0;
	if (http_parse_range((const char *)data, size, len, &first, &last) == RANGE_OK &&
	    (first > last || last >= len)) abort();
	return 0;
}
