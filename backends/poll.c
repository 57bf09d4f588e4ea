/* poll.c: the poll(2) backend. A dense pollfd array, one entry per armed
 * registration, removed by swapping in the last entry; each fd's index is
 * kept in its fdinfo so that add, mod and del are O(1). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "backend.h"

struct poll_fd {
	int idx;	/* index of its entry in pfd */
};

struct poll_state {
	struct pollux *p;
	struct pollfd *pfd;
	int len, cap;
	int cursor;	/* where the next scan starts: no fd starves */
};

static int poll_init(void *state, struct pollux *p)
{
	struct poll_state *st = state;
	st->p = p;
	return 0;
}

static void poll_fini(void *state)
{
	struct poll_state *st = state;
	free(st->pfd);
}

static short to_poll(unsigned events)
{
	return (short)(((events & POLLUX_IN) ? POLLIN : 0) |
	               ((events & POLLUX_OUT) ? POLLOUT : 0));
}

static int poll_add(void *state, int fd, unsigned events, px_tag tag, void *fip)
{
	struct poll_state *st = state;
	struct poll_fd *fi = fip;
	(void)tag;
	/* poll(2) would take a closed fd silently (and report POLLNVAL). */
	if (fcntl(fd, F_GETFD) < 0) {
		errno = EBADF;
		return -1;
	}
	struct pollfd *a = px_grow(st->pfd, &st->cap, st->len + 1, sizeof *a, 64);
	if (!a)
		return -1;
	st->pfd = a;
	st->pfd[st->len] = (struct pollfd){ .fd = fd, .events = to_poll(events) };
	fi->idx = st->len++;
	return 0;
}

static int poll_mod(void *state, int fd, unsigned old, unsigned events,
                    px_tag tag, void *fip)
{
	struct poll_state *st = state;
	struct poll_fd *fi = fip;
	(void)old;
	(void)tag;
	/* Also brings back an entry dropped as closed: the number may name
	 * a new file by now, as epoll's mod fix-up assumes too. */
	st->pfd[fi->idx] = (struct pollfd){ .fd = fd, .events = to_poll(events) };
	return 0;
}

/* An entry whose fd was found closed is kept as ~fd: poll(2) skips
 * negative fds, and the number is still there for del. */
static int entry_fd(const struct pollfd *e)
{
	return e->fd < 0 ? ~e->fd : e->fd;
}

static int poll_del(void *state, int fd, unsigned old, void *fip)
{
	struct poll_state *st = state;
	struct poll_fd *fi = fip;
	(void)fd;
	(void)old;
	int i = fi->idx, last = --st->len;
	if (i != last) {
		st->pfd[i] = st->pfd[last];
		struct poll_fd *moved = px_fdinfo(st->p, entry_fd(&st->pfd[i]));
		moved->idx = i;
	}
	return 0;
}

static unsigned from_poll(short re)
{
	return ((re & (POLLIN | POLLPRI)) ? POLLUX_IN : 0) |
	       ((re & POLLOUT) ? POLLUX_OUT : 0) |
	       ((re & POLLERR) ? POLLUX_ERR : 0) |
	       ((re & POLLHUP) ? POLLUX_HUP : 0);
}

static int kernel_poll(struct poll_state *st, long long timeout_ns)
{
#ifdef HAVE_PPOLL
	/* Only a timeout finer than a millisecond needs ppoll. */
	if (timeout_ns > 0 && timeout_ns % 1000000) {
		struct timespec ts;
		return ppoll(st->pfd, (nfds_t)st->len, px_timespec(timeout_ns, &ts),
		             NULL);
	}
#endif
	return poll(st->pfd, (nfds_t)st->len, px_timeout_ms(timeout_ns));
}

static int poll_wait(void *state, struct pollux_event *ev, int maxev,
                     long long timeout_ns)
{
	struct poll_state *st = state;
	int n = kernel_poll(st, timeout_ns);
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
				ev[out].data = NULL;	/* never outlives its del */
				out++;
			}
		}
		if (++i == len)
			i = 0;
	}
	st->cursor = i;
	if (out == 0 && dropped)
		return PX_AGAIN;
	return out;
}

const struct pollux_backend pollux_backend_poll = {
	.name = "poll",
	.features = POLLUX_FEAT_NOLIMIT,
	.caps = 0,
	.state_size = sizeof(struct poll_state),
	.fdinfo_size = sizeof(struct poll_fd),
	.init = poll_init,
	.fini = poll_fini,
	.add = poll_add,
	.mod = poll_mod,
	.del = poll_del,
	.wait = poll_wait,
	.rebuild = NULL,
	.wake = NULL,
};
