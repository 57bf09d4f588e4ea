/* registry.c: the backends compiled into this build, best first, and
 * lookup by name. */
#include <config.h>

#include <stddef.h>
#include <string.h>

#include "backend.h"

/* Best first: the order pollux_new(NULL) tries them in. */
static const struct pollux_backend *const registry[] = {
#ifdef HAVE_BACKEND_EPOLL
	&pollux_backend_epoll,
#endif
#ifdef HAVE_BACKEND_URING
	&pollux_backend_uring,
#endif
#ifdef HAVE_BACKEND_POLL
	&pollux_backend_poll,
#endif
#ifdef HAVE_BACKEND_SELECT
	&pollux_backend_select,
#endif
	NULL
};

static const char *const names[] = {
#ifdef HAVE_BACKEND_EPOLL
	"epoll",
#endif
#ifdef HAVE_BACKEND_URING
	"uring",
#endif
#ifdef HAVE_BACKEND_POLL
	"poll",
#endif
#ifdef HAVE_BACKEND_SELECT
	"select",
#endif
	NULL
};

/* Every name pollux knows, built in here or not. */
static const char *const known[] = { "epoll", "uring", "poll", "select", NULL };

const struct pollux_backend *const *pollux__registry(void)
{
	return registry;
}

const struct pollux_backend *pollux__lookup(const char *name)
{
	for (size_t i = 0; registry[i]; i++)
		if (strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}

int pollux__known_name(const char *name)
{
	for (size_t i = 0; known[i]; i++)
		if (strcmp(known[i], name) == 0)
			return 1;
	return 0;
}

const char *const *pollux_backends(void)
{
	return names;
}
