/* registry.c: the backends compiled into this build, best first, and
 * lookup by name. */
#include <config.h>

#include <stddef.h>
#include <string.h>

#include "backend.h"

/* Best first: the order pollux_new(NULL) tries them in. A kernel's own
 * kqueue (the BSDs, macOS) comes first there. libkqueue, which emulates it
 * on Linux over epoll, comes last: it can never beat epoll, and it does not
 * keep every promise poll and select keep (it runs threads of its own, its
 * kevent() takes a mutex, so pollux_wake is not async-signal-safe on it,
 * and it starves fds when more are ready than a wait takes: see
 * tests/notrun.c), so it is used only when asked for by name.
 * BEST_KQUEUE and LATE_KQUEUE say which of the two places this build's
 * kqueue takes. */
#if defined(HAVE_BACKEND_KQUEUE) && !defined(HAVE_LIBKQUEUE)
#define BEST_KQUEUE 1
#elif defined(HAVE_BACKEND_KQUEUE)
#define LATE_KQUEUE 1
#endif

static const struct pollux_backend *const registry[] = {
#ifdef BEST_KQUEUE
	&pollux_backend_kqueue,
#endif
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
#ifdef LATE_KQUEUE
	&pollux_backend_kqueue,
#endif
	NULL
};

/* The same order as registry. */
static const char *const names[] = {
#ifdef BEST_KQUEUE
	"kqueue",
#endif
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
#ifdef LATE_KQUEUE
	"kqueue",
#endif
	NULL
};

/* Every name pollux knows, built in here or not. */
static const char *const known[] = {
	"epoll", "kqueue", "uring", "poll", "select", NULL
};

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
