/* backend.h: the contract between the core (lib/pollux.c) and one kernel
 * interface (backends/NAME.c). Private to the library. A backend sees only
 * what this header declares: never struct pollux, never the core's table. */
#ifndef POLLUX_BACKEND_H
#define POLLUX_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "pollux.h"

/* The poller, opaque here: a backend holds the pointer only to look up its
 * own per-fd areas with px_fdinfo. */
struct pollux;

/* Growing arrays, the one way the library does it (lib/pollux.c).
 * px_next_cap: the capacity, doubling from cap (or from first when cap is
 * 0), that holds need elements, clamped to INT_MAX.
 * px_grow: arr (of *cap elements of size elem) reallocated to hold need;
 * returns the array (arr itself when it is large enough) with *cap
 * updated, or NULL with errno ENOMEM and arr and *cap untouched. New
 * elements are not initialised. */
int   px_next_cap(int cap, int need, int first);
void *px_grow(void *arr, int *cap, int need, size_t elem, int first);

/* The backend's own area for a registered fd: fdinfo_size bytes, zeroed by
 * pollux_add before the backend's add, kept unchanged through mod, the
 * ONESHOT del/add of emulated backends and rebuilds, and dropped after the
 * backend's del. NULL when fd is not registered (or fdinfo_size is 0). */
void *px_fdinfo(struct pollux *p, int fd);

/* A registration tag: chosen by the core, different for every pollux_add
 * of the same fd number, never 0. A backend whose kernel can report a
 * registration after it was deleted (epoll keeps one whose fd was closed
 * while a duplicate holds the file open) stores the tag it was given and
 * compares; the others ignore it. */
typedef uint32_t px_tag;

/* What wait returns besides a count of events or -1 with errno. */
#define PX_AGAIN	(-2)	/* it changed only its own state (dropped fds
				   found closed): call again with what is left
				   of the timeout */
#define PX_REBUILD	(-3)	/* the kernel object holds registrations it
				   cannot remove: rebuild it, see rebuild */

/* rebuild's phases. */
#define PX_RB_FORK	1	/* in a forked child: a new kernel object; the
				   old one is the parent's, untouched */
#define PX_RB_STALE	2	/* after PX_REBUILD: a new kernel object, the
				   old one kept until PX_RB_DONE */
#define PX_RB_DONE	3	/* every armed registration was added again */
#define PX_RB_ABORT	4	/* re-adding failed: keep the old object */

/* Backend capability bits (internal). */
#define PX_CAP_ONESHOT	0x1u	/* disarms ONESHOT fds itself after one report */

/*
 * The vtable. Functions return -1 with errno on failure. st is the
 * backend's state: state_size bytes, zeroed, owned by the core.
 * - init(st, p): creates the kernel object; p only for px_fdinfo.
 * - add(st, fd, events, tag, fi) / mod(st, fd, old, events, tag, fi) /
 *   del(st, fd, old, fi): events and old are the interest (IN|OUT, plus
 *   EDGE and, with PX_CAP_ONESHOT, ONESHOT); fi is px_fdinfo(p, fd).
 *   add checks the fd itself (EBADF for a closed one) where its kernel
 *   would not. Without PX_CAP_ONESHOT the core disarms a fired ONESHOT fd
 *   with del and re-arms it with add. del must succeed for an fd that was
 *   closed after it was registered. The core calls mod only when something
 *   changed, or for EDGE (where the same mask re-arms the edge).
 * - wait(st, ev, maxev, timeout_ns): writes at most maxev events into ev:
 *   fd, events in POLLUX_* bits as the kernel said them, and in data the
 *   tag of the registration (px_tag_data), or 0 where the kernel cannot
 *   outlive a del. The core masks events, checks the tag, fills in data and
 *   handles ONESHOT; an event with events 0 is skipped. It rotates where it
 *   starts, so that no ready fd starves when more than maxev are ready.
 *   timeout_ns < 0 blocks, 0 polls; a kernel that counts coarser rounds
 *   up. Returns the count, PX_AGAIN, PX_REBUILD, or -1 with errno.
 *   Registered fds found closed are dropped from the kernel set silently,
 *   as epoll drops them.
 * - rebuild(st, phase): NULL when there is no kernel object (select,
 *   poll). In a forked child (PX_RB_FORK), or after wait said PX_REBUILD
 *   (PX_RB_STALE), it makes a new, empty kernel object; the core then adds
 *   every armed registration again and ends with PX_RB_DONE (or
 *   PX_RB_ABORT if an add failed).
 * - wake(st): optional, for a kernel with a wake-up of its own (kqueue's
 *   EVFILT_USER); async-signal-safe; wait then returns early without
 *   reporting it. NULL: the core registers an eventfd or a pipe of its own.
 * - forget(st, fd, old, fi): optional, for pollux_close: the core closes fd
 *   right after, and the backend's kernel drops a registration when its fd
 *   is closed (epoll, when no duplicate keeps the file open: a registration
 *   that outlives it is stale and rebuilt away), so the backend only drops
 *   its own record of fd, without a system call. NULL: the core calls del.
 */
struct pollux_backend {
	const char *name;
	unsigned features;	/* POLLUX_FEAT_* */
	unsigned caps;		/* PX_CAP_* */
	size_t state_size;
	size_t fdinfo_size;
	int  (*init)(void *st, struct pollux *p);
	void (*fini)(void *st);
	int  (*add)(void *st, int fd, unsigned events, px_tag tag, void *fi);
	int  (*mod)(void *st, int fd, unsigned old, unsigned events, px_tag tag,
	            void *fi);
	int  (*del)(void *st, int fd, unsigned old, void *fi);
	int  (*wait)(void *st, struct pollux_event *ev, int maxev,
	             long long timeout_ns);
	int  (*rebuild)(void *st, int phase);
	int  (*wake)(void *st);
	void (*forget)(void *st, int fd, unsigned old, void *fi);
};

/* The tag of a reported event travels in its data field. */
static inline void *px_tag_data(px_tag tag)
{
	return (void *)(uintptr_t)tag;
}

/* How many times this process is a forked child of the one that made its
 * first poller (counted by a fork handler the core installs). A backend
 * whose kernel object a child does not inherit (kqueue) or must not touch
 * (io_uring's rings) keeps the count it was made under: a wait that finds
 * it changed, in a child that did not call pollux_reinit, returns
 * PX_REBUILD and treats the PX_RB_STALE that follows as PX_RB_FORK. */
unsigned px_forks(void);

/* A timeout in nanoseconds as whole milliseconds, rounded up, for kernels
 * that count in milliseconds: -1 stays -1, and a wait never ends early. */
int px_timeout_ms(long long timeout_ns);
/* The same as a timespec for kernels that take one: NULL (block) for a
 * negative timeout, else ts filled in. */
struct timespec;
struct timespec *px_timespec(long long timeout_ns, struct timespec *ts);

extern const struct pollux_backend pollux_backend_select;
extern const struct pollux_backend pollux_backend_poll;
extern const struct pollux_backend pollux_backend_epoll;
extern const struct pollux_backend pollux_backend_kqueue;
extern const struct pollux_backend pollux_backend_uring;

/* registry.c: look a backend up by name, and the compiled-in list. */
const struct pollux_backend *const *pollux__registry(void);
const struct pollux_backend *pollux__lookup(const char *name);
int pollux__known_name(const char *name);

#endif
