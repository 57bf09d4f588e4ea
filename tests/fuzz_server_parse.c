/* fuzz_server_parse.c: a libFuzzer harness for pollux-server's request
 * parser (not built by make; the Check suite fuzzes it too). Build and run:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -include config.h \
 *     -Itools/server tests/fuzz_server_parse.c tools/server/parse.c -o fuzz
 *   ./fuzz -max_total_time=60 -max_len=4096
 * (config.h from a configured build dir). */
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
	return 0;
}
