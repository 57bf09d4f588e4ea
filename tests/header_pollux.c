/* header_pollux.c: lib/pollux.h must compile on its own, as the first and
 * only include of a translation unit (so no config.h here, on purpose). */
#include "pollux.h"

/* ISO C wants at least one declaration; this one also proves the header
 * declared the type it promises. */
extern pollux_t *header_pollux_probe;
