/* backend.h: the contract between the core (lib/pollux.c) and one kernel
 * interface (backends/NAME.c). Private to the library. */
#ifndef POLLUX_BACKEND_H
#define POLLUX_BACKEND_H

#include "pollux.h"

/* Growing arrays, the one way the library does it (lib/pollux.c).
 * px_next_cap: the capacity, doubling from cap (or from first when cap is
 * 0), that holds need elements, clamped to INT_MAX.
 * px_grow: arr (of *cap elements of size elem) reallocated to hold need;
 * returns the array (arr itself when it is large enough) with *cap
 * updated, or NULL with errno ENOMEM and arr and *cap untouched. New
 * elements are not initialised. */
int   px_next_cap(int cap, int need, int first);
void *px_grow(void *arr, int *cap, int need, size_t elem, int first);

/* Core slot flags. */
#define PX_SLOT_USED	0x1u	/* fd is registered */
#define PX_SLOT_ARMED	0x2u	/* not a ONESHOT that has fired */
#define PX_SLOT_KERNEL	0x4u	/* the backend holds a registration for it */

/* One entry of the core's fd-indexed table. */
struct pollux_slot {
	unsigned events;	/* interest as given: IN|OUT|ONESHOT|EDGE */
	unsigned flags;		/* PX_SLOT_* */
	void *data;
	int bslot;		/* the backend's own index for this fd, -1 if none */
	unsigned gen;		/* bumped by every add: tells a registration
				   from an older one under the same fd number */
};

struct pollux {
	const struct pollux_backend *be;
	void *state;			/* the backend's, behind one pointer */
	struct pollux_slot *slots;	/* indexed by fd */
	int nslots;
	int count;			/* registered fds */
};

/* Backend capability bits (internal). */
#define PX_CAP_ONESHOT	0x1u	/* disarms ONESHOT fds itself after one report */

/*
 * The vtable. Every function returns -1 with errno on failure.
 * - add/mod receive the interest (IN|OUT, plus EDGE and, when the backend
 *   has PX_CAP_ONESHOT, ONESHOT). Without PX_CAP_ONESHOT the core disarms
 *   a fired ONESHOT fd by calling del and re-arms it with add.
 * - del must succeed for an fd that was closed after it was registered.
 * - wait writes at most maxev (fd, events) pairs into ev, events in POLLUX_*
 *   bits as the kernel said them; the core masks them, fills data and
 *   handles ONESHOT; a pair with events 0 is skipped. It must rotate where
 *   it starts so that no ready fd starves when more are ready than maxev.
 *   It returns -1 with EAGAIN when it changed its own state and has nothing
 *   to report (a registered fd found closed, a stale epoll registration
 *   rebuilt away): the core calls it again with what is left of the
 *   timeout. Registered fds found closed are dropped
 *   from the kernel set silently, as epoll does.
 * - reinit (may be NULL: no kernel state) rebuilds kernel state in a forked
 *   child; the core then calls add for every armed registration.
 */
struct pollux_backend {
	const char *name;
	unsigned features;	/* POLLUX_FEAT_* */
	unsigned caps;		/* PX_CAP_* */
	int  (*init)(struct pollux *p);
	void (*free)(struct pollux *p);
	int  (*add)(struct pollux *p, int fd, unsigned events);
	int  (*mod)(struct pollux *p, int fd, unsigned events);
	int  (*del)(struct pollux *p, int fd);
	int  (*wait)(struct pollux *p, struct pollux_event *ev, int maxev,
	             int timeout_ms);
	int  (*reinit)(struct pollux *p);
};

extern const struct pollux_backend pollux_backend_select;
extern const struct pollux_backend pollux_backend_poll;
extern const struct pollux_backend pollux_backend_epoll;

/* registry.c: look a backend up by name, and the compiled-in list. */
const struct pollux_backend *const *pollux__registry(void);
const struct pollux_backend *pollux__lookup(const char *name);
int pollux__known_name(const char *name);

#endif
