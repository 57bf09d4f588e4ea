/* core.h: the poller and its fd-indexed table. Only the core (pollux.c)
 * includes this; backends see neither (backend.h). */
#ifndef POLLUX_CORE_H
#define POLLUX_CORE_H

#include <stdatomic.h>

#include "backend.h"

/* Slot flags. */
#define PX_SLOT_USED	0x1u	/* fd is registered */
#define PX_SLOT_ARMED	0x2u	/* not a ONESHOT that has fired */
#define PX_SLOT_KERNEL	0x4u	/* the backend holds a registration for it */
#define PX_SLOT_WAKE	0x8u	/* the core's own wake-up descriptor */

/* One entry of the table; the backend's per-fd area follows it (stride). */
struct pollux_slot {
	unsigned events;	/* interest as given: IN|OUT|ONESHOT|EDGE */
	unsigned flags;		/* PX_SLOT_* */
	void *data;
	px_tag tag;		/* this registration's; new on every add */
};

struct pollux {
	const struct pollux_backend *be;
	void *state;		/* the backend's: be->state_size bytes */
	unsigned char *slots;	/* nslots entries of stride bytes, by fd */
	size_t stride;		/* slot plus the backend's fdinfo, aligned */
	void *scratch;		/* an fdinfo for an add past the table */
	int nslots;
	int count;		/* registered fds, the wake-up one not counted */
	px_tag next_tag;
	/* Wake-up: a descriptor of the core's (eventfd, or the read end of
	 * a pipe whose write end is wake_wr), or the backend's own. */
	int wake_rd, wake_wr;
	atomic_int wake_pending;	/* a wake is on its way: skip the write */
};

#endif
