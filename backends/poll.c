/* poll.c: the poll(2) backend. A dense pollfd array, one entry per armed
 * registration, removed by swapping in the last entry; the core's slot
 * holds each fd's index so that add, mod and del are O(1). */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "backend.h"

struct poll_state {
	struct pollfd *pfd;
	int len, cap;
	int cursor;	/* where the next scan starts: no fd starves */
};

static int poll_init(struct pollux *p)
{
	struct poll_state *st = calloc(1, sizeof *st);
	if (!st)
		return -1;
	p->state = st;
	return 0;
}

static void poll_free(struct pollux *p)
{
	struct poll_state *st = p->state;
	free(st->pfd);
	free(st);
}

static short to_poll(unsigned events)
{
	return (short)(((events & POLLUX_IN) ? POLLIN : 0) |
	               ((events & POLLUX_OUT) ? POLLOUT : 0));
}

static int poll_add(struct pollux *p, int fd, unsigned events)
{
	struct poll_state *st = p->state;
	struct pollfd *a = px_grow(st->pfd, &st->cap, st->len + 1, sizeof *a, 64);
	if (!a)
		return -1;
	st->pfd = a;
	st->pfd[st->len] = (struct pollfd){ .fd = fd, .events = to_poll(events) };
	p->slots[fd].bslot = st->len++;
	return 0;
}

static int poll_mod(struct pollux *p, int fd, unsigned events)
{
	struct poll_state *st = p->state;
	/* Also brings back an entry dropped as closed: the number may name
	 * a new file by now, as epoll's mod fix-up assumes too. */
	st->pfd[p->slots[fd].bslot] = (struct pollfd){ .fd = fd, .events = to_poll(events) };
	return 0;
}

/* An entry whose fd was found closed is kept as ~fd: poll(2) skips
 * negative fds, and the number is still there for del. */
static int entry_fd(const struct pollfd *e)
{
	return e->fd < 0 ? ~e->fd : e->fd;
}

static int poll_del(struct pollux *p, int fd)
{
	struct poll_state *st = p->state;
	int i = p->slots[fd].bslot;
	int last = --st->len;
	if (i != last) {
		st->pfd[i] = st->pfd[last];
		p->slots[entry_fd(&st->pfd[i])].bslot = i;
	}
	p->slots[fd].bslot = -1;
	return 0;
}

static unsigned from_poll(short re)
{
	return ((re & (POLLIN | POLLPRI)) ? POLLUX_IN : 0) |
	       ((re & POLLOUT) ? POLLUX_OUT : 0) |
	       ((re & POLLERR) ? POLLUX_ERR : 0) |
	       ((re & POLLHUP) ? POLLUX_HUP : 0);
}

static int poll_wait(struct pollux *p, struct pollux_event *ev, int maxev,
                     int timeout_ms)
{
	struct poll_state *st = p->state;
	int n = poll(st->pfd, (nfds_t)st->len, timeout_ms);
	if (n <= 0)
		return n;

	int out = 0, seen = 0, dropped = 0;
	int len = st->len, start = st->cursor < len ? st->cursor : 0;
	int i = start;
	for (int k = 0; k < len && seen < n && out < maxev; k++) {
		struct pollfd *e = &st->pfd[i];
		if (e->revents) {
			seen++;
			if (e->revents & POLLNVAL) {
				e->fd = ~e->fd;
				dropped++;
			} else {
				ev[out].fd = e->fd;
				ev[out].events = from_poll(e->revents);
				out++;
			}
		}
		if (++i == len)
			i = 0;
	}
	st->cursor = i;
	if (out == 0 && dropped) {
		errno = EAGAIN;
		return -1;
	}
	return out;
}

const struct pollux_backend pollux_backend_poll = {
	.name = "poll",
	.features = POLLUX_FEAT_NOLIMIT,
	.caps = 0,
	.init = poll_init,
	.free = poll_free,
	.add = poll_add,
	.mod = poll_mod,
	.del = poll_del,
	.wait = poll_wait,
	.reinit = NULL,
};
