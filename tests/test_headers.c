/* test_headers.c: the public API has exactly the types issue 2 promises.
 * Each assignment below fails to compile if a prototype or constant drifts;
 * header_pollux.c (linked in) checks that pollux.h compiles alone. */
#include <config.h>

#include <stdio.h>

#include "pollux.h"

pollux_t *header_pollux_probe;

_Static_assert(POLLUX_IN == 0x01, "POLLUX_IN");
_Static_assert(POLLUX_OUT == 0x02, "POLLUX_OUT");
_Static_assert(POLLUX_ERR == 0x04, "POLLUX_ERR");
_Static_assert(POLLUX_HUP == 0x08, "POLLUX_HUP");
_Static_assert(POLLUX_ONESHOT == 0x10, "POLLUX_ONESHOT");
_Static_assert(POLLUX_EDGE == 0x20, "POLLUX_EDGE");
/* The three feature bits are distinct single bits. */
_Static_assert((POLLUX_FEAT_EDGE & (POLLUX_FEAT_EDGE - 1)) == 0 &&
               (POLLUX_FEAT_O1 & (POLLUX_FEAT_O1 - 1)) == 0 &&
               (POLLUX_FEAT_NOLIMIT & (POLLUX_FEAT_NOLIMIT - 1)) == 0 &&
               (POLLUX_FEAT_EDGE | POLLUX_FEAT_O1 | POLLUX_FEAT_NOLIMIT) ==
               (POLLUX_FEAT_EDGE ^ POLLUX_FEAT_O1 ^ POLLUX_FEAT_NOLIMIT) &&
               POLLUX_FEAT_EDGE && POLLUX_FEAT_O1 && POLLUX_FEAT_NOLIMIT,
               "feature bits");

int main(void)
{
	struct pollux_event ev = { .fd = 0, .events = 0u, .data = NULL };
	pollux_t *(*new_)(const char *) = pollux_new;
	void (*free_)(pollux_t *) = pollux_free;
	const char *(*backend_)(const pollux_t *) = pollux_backend;
	unsigned (*features_)(const pollux_t *) = pollux_features;
	int (*add_)(pollux_t *, int, unsigned, void *) = pollux_add;
	int (*mod_)(pollux_t *, int, unsigned, void *) = pollux_mod;
	int (*del_)(pollux_t *, int) = pollux_del;
	int (*wait_)(pollux_t *, struct pollux_event *, int, int) = pollux_wait;
	int (*wait_ns_)(pollux_t *, struct pollux_event *, int, long long) =
		pollux_wait_ns;
	int (*wake_)(pollux_t *) = pollux_wake;
	int (*close_)(pollux_t *, int) = pollux_close;
	int (*reinit_)(pollux_t *) = pollux_reinit;
	const char *const *(*backends_)(void) = pollux_backends;
	const char *(*version_)(void) = pollux_version;

	/* Use them so the linker resolves every symbol in the library. */
	if (!new_ || !free_ || !backend_ || !features_ || !add_ || !mod_ ||
	    !del_ || !wait_ || !wait_ns_ || !wake_ || !close_ || !reinit_ || !backends_ || !version_ ||
	    ev.data != NULL) {
		fputs("test_headers: a public function is missing\n", stderr);
		return 1;
	}
	printf("pollux %s: header compiles alone, API types as documented\n",
	       version_());
	return 0;
}
