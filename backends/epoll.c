/* epoll.c: the epoll(7) backend. Registration lives in the kernel, so a
 * wait costs what is ready, not what is registered. Fds epoll refuses
 * (EPERM: regular files) are kept aside and reported always ready, as
 * select and poll report them. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "backend.h"

struct always {
	int fd;
	unsigned events;	/* interest, with ONESHOT and EDGE */
	int armed;		/* 0 once ONESHOT or EDGE has reported it */
};

struct epoll_state {
	int epfd;
	struct epoll_event *evs;	/* the kernel's answer; grows when it fills */
	int cap;
	struct always *aw;		/* fds epoll refused */
	int nalways, capalways, armedalways;
	int cursor;			/* rotation through aw */
	int flip;			/* who goes first: files or the kernel */
	struct owed {
		uint64_t cookie;
		unsigned events;
	} *owed;			/* see pay_owed */
	int nowed, headowed, capowed;
};

/* The kernel hands back (registration generation, fd): an event whose
 * generation is not the slot's comes from a registration epoll kept after
 * its fd was closed while a duplicate held the file open. */
static uint64_t cookie(const struct pollux *p, int fd)
{
	return (uint64_t)p->slots[fd].gen << 32 | (uint32_t)fd;
}

static int stale(const struct pollux *p, uint64_t c)
{
	int fd = (int)(uint32_t)c;
	return fd >= p->nslots || !(p->slots[fd].flags & PX_SLOT_USED) ||
	       p->slots[fd].gen != (unsigned)(c >> 32);
}

static int epoll_init(struct pollux *p)
{
	struct epoll_state *st = calloc(1, sizeof *st);
	if (!st)
		return -1;
	st->cap = 64;
	st->evs = malloc((size_t)st->cap * sizeof *st->evs);
	st->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!st->evs || st->epfd < 0) {
		int e = st->evs ? errno : ENOMEM;
		if (st->epfd >= 0)
			close(st->epfd);
		free(st->evs);
		free(st);
		errno = e;
		return -1;
	}
	p->state = st;
	return 0;
}

static void epoll_free(struct pollux *p)
{
	struct epoll_state *st = p->state;
	close(st->epfd);
	free(st->evs);
	free(st->aw);
	free(st->owed);
	free(st);
}

static uint32_t to_epoll(unsigned events)
{
	return ((events & POLLUX_IN) ? EPOLLIN : 0) |
	       ((events & POLLUX_OUT) ? EPOLLOUT : 0) |
	       ((events & POLLUX_EDGE) ? EPOLLET : 0) |
	       ((events & POLLUX_ONESHOT) ? EPOLLONESHOT : 0);
}

static int ctl(struct pollux *p, int op, int fd, unsigned events)
{
	struct epoll_state *st = p->state;
	struct epoll_event ee = { .events = to_epoll(events) };
	ee.data.u64 = cookie(p, fd);
	return epoll_ctl(st->epfd, op, fd, &ee);
}

static int always_add(struct pollux *p, int fd, unsigned events)
{
	struct epoll_state *st = p->state;
	struct always *a = px_grow(st->aw, &st->capalways, st->nalways + 1, sizeof *a, 8);
	if (!a)
		return -1;
	st->aw = a;
	st->aw[st->nalways] = (struct always){ fd, events, 1 };
	p->slots[fd].bslot = st->nalways++;
	st->armedalways++;
	return 0;
}

static int epoll_add(struct pollux *p, int fd, unsigned events)
{
	if (ctl(p, EPOLL_CTL_ADD, fd, events) == 0)
		return 0;
	if (errno == EPERM)
		return always_add(p, fd, events);
	/* Still registered in the kernel under an fd that was closed while a
	 * duplicate kept the file open: take it over. */
	if (errno == EEXIST)
		return ctl(p, EPOLL_CTL_MOD, fd, events);
	return -1;
}

static int epoll_mod(struct pollux *p, int fd, unsigned events)
{
	struct epoll_state *st = p->state;
	int i = p->slots[fd].bslot;
	if (i >= 0) {
		struct always *a = &st->aw[i];
		st->armedalways += !a->armed;
		a->events = events;
		a->armed = 1;
		return 0;
	}
	if (ctl(p, EPOLL_CTL_MOD, fd, events) == 0)
		return 0;
	/* Closed and reopened under the same number since it was added. */
	if (errno == ENOENT)
		return ctl(p, EPOLL_CTL_ADD, fd, events);
	return -1;
}

static int epoll_del(struct pollux *p, int fd)
{
	struct epoll_state *st = p->state;
	int i = p->slots[fd].bslot;
	if (i >= 0) {
		st->armedalways -= st->aw[i].armed;
		st->aw[i] = st->aw[--st->nalways];
		if (i < st->nalways)
			p->slots[st->aw[i].fd].bslot = i;
		p->slots[fd].bslot = -1;
		return 0;
	}
	struct epoll_event ee = { 0 };	/* non-NULL for kernels before 2.6.9 */
	if (epoll_ctl(st->epfd, EPOLL_CTL_DEL, fd, &ee) == 0)
		return 0;
	/* Closed already (the kernel dropped it), or never accepted. */
	if (errno == EBADF || errno == ENOENT || errno == EPERM)
		return 0;
	return -1;
}

static unsigned from_epoll(uint32_t e)
{
	return ((e & (EPOLLIN | EPOLLPRI)) ? POLLUX_IN : 0) |
	       ((e & EPOLLOUT) ? POLLUX_OUT : 0) |
	       ((e & EPOLLERR) ? POLLUX_ERR : 0) |
	       ((e & EPOLLHUP) ? POLLUX_HUP : 0);
}

/* Appends always-ready fds, rotating so that none starves. */
static int add_always(struct epoll_state *st, struct pollux_event *ev, int out,
                      int maxev)
{
	int n = st->nalways, start = st->cursor;
	for (int k = 0; k < n && out < maxev; k++) {
		struct always *a = &st->aw[(start + k) % n];
		if (!a->armed)
			continue;
		ev[out].fd = a->fd;
		ev[out].events = a->events & (POLLUX_IN | POLLUX_OUT);
		out++;
		if (a->events & (POLLUX_ONESHOT | POLLUX_EDGE)) {
			a->armed = 0;
			st->armedalways--;
		}
		st->cursor = (start + k + 1) % n;
	}
	return out;
}

/* Events taken from the kernel that the caller has not seen yet (set
 * aside by a rebuild); handed out before the kernel is asked again. */
static int push_owed(struct epoll_state *st, uint64_t c, unsigned events)
{
	struct owed *o = px_grow(st->owed, &st->capowed, st->nowed + 1, sizeof *o, 16);
	if (!o)
		return -1;
	st->owed = o;
	st->owed[st->nowed++] = (struct owed){ c, events };
	return 0;
}

static int pay_owed(struct pollux *p, struct pollux_event *ev, int maxev)
{
	struct epoll_state *st = p->state;
	int out = 0;
	while (st->headowed < st->nowed && out < maxev) {
		struct owed *o = &st->owed[st->headowed++];
		if (stale(p, o->cookie))
			continue;	/* deleted since */
		ev[out].fd = (int)(uint32_t)o->cookie;
		ev[out].events = o->events;
		out++;
	}
	if (st->headowed == st->nowed)
		st->headowed = st->nowed = 0;
	return out;
}

/*
 * A closed fd whose file a duplicate keeps open (in this process or any
 * other) stays registered in the epoll object and, level-triggered, would
 * wake every wait from now on; no epoll_ctl can reach it. Only a new epoll
 * object forgets it. Build one with every live registration, then take
 * what the old object still had queued (so no edge and no ONESHOT firing
 * is lost), skipping the fds in mark (already being reported), and drop
 * what registering on the new object queued (so no edge is invented).
 */
static int rebuild(struct pollux *p, char *mark)
{
	struct epoll_state *st = p->state;
	int total = p->count + 1;
	struct epoll_event *buf = malloc((size_t)total * sizeof *buf);
	int nfd = buf ? epoll_create1(EPOLL_CLOEXEC) : -1;
	if (nfd < 0) {
		free(buf);
		return -1;
	}
	for (int fd = 0; fd < p->nslots; fd++) {
		struct pollux_slot *s = &p->slots[fd];
		if (!(s->flags & PX_SLOT_KERNEL) || s->bslot >= 0)
			continue;	/* not in the kernel, or an always-ready file */
		if (!(s->flags & PX_SLOT_ARMED)) {
			s->flags &= ~PX_SLOT_KERNEL;	/* pollux_mod adds it back */
			continue;
		}
		struct epoll_event ee = { .events = to_epoll(s->events) };
		ee.data.u64 = cookie(p, fd);
		if (epoll_ctl(nfd, EPOLL_CTL_ADD, fd, &ee) < 0) {
			if (errno == EBADF) {
				s->flags &= ~PX_SLOT_KERNEL;	/* closed, not yet deleted */
				continue;
			}
			goto fail;
		}
	}
	/* What registering queued on the new object: dropped, but a ONESHOT
	 * it consumed is armed again. */
	int n = epoll_wait(nfd, buf, total, 0);
	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)buf[i].data.u64;
		if (p->slots[fd].events & POLLUX_ONESHOT) {
			struct epoll_event ee = { .events = to_epoll(p->slots[fd].events) };
			ee.data.u64 = buf[i].data.u64;
			if (epoll_ctl(nfd, EPOLL_CTL_MOD, fd, &ee) < 0)
				goto fail;
		}
	}
	/* What the old object still had for live registrations: owed. */
	n = epoll_wait(st->epfd, buf, total, 0);
	for (int i = 0; i < n; i++) {
		uint64_t c = buf[i].data.u64;
		int fd = (int)(uint32_t)c;
		if (stale(p, c) || mark[fd])
			continue;
		mark[fd] = 1;
		if (push_owed(st, c, from_epoll(buf[i].events)) < 0)
			goto fail;
	}
	free(buf);
	if (dup3(nfd, st->epfd, O_CLOEXEC) == st->epfd) {
		close(nfd);
	} else {
		close(st->epfd);
		st->epfd = nfd;
	}
	return 0;
fail:
	close(nfd);
	free(buf);
	return -1;
}

static int epoll_wait_(struct pollux *p, struct pollux_event *ev, int maxev,
                       int timeout_ms)
{
	struct epoll_state *st = p->state;
	if (st->nowed)
		return pay_owed(p, ev, maxev);

	/* Always-ready files and kernel events take turns at going first, so
	 * that neither starves the other when maxev is small. */
	int files_first = st->armedalways && (st->flip ^= 1);
	int out = files_first ? add_always(st, ev, 0, maxev) : 0;
	if (out == maxev)
		return out;
	int room = maxev - out;
	/* Size the kernel's answer from maxev before the call, so that one
	 * wait reports up to maxev as pollux_wait(3) says (and select and poll
	 * do); no more than the registered fds can be ready at once. */
	int need = room < p->count ? room : p->count;
	if (need > st->cap) {
		struct epoll_event *e = realloc(st->evs, (size_t)need * sizeof *e);
		if (e) {
			st->evs = e;
			st->cap = need;
		}
	}
	int want = room < st->cap ? room : st->cap;
	if (st->armedalways && !files_first && want > 1)
		want -= want / 2 < st->armedalways ? want / 2 : st->armedalways;
	int n = epoll_wait(st->epfd, st->evs, want,
	                   (out || st->armedalways) ? 0 : timeout_ms);
	if (n < 0)
		return out ? out : -1;
	int stale_seen = 0;
	for (int i = 0; i < n; i++) {
		if (stale(p, st->evs[i].data.u64)) {
			stale_seen = 1;
			continue;
		}
		ev[out].fd = (int)(uint32_t)st->evs[i].data.u64;
		ev[out].events = from_epoll(st->evs[i].events);
		out++;
	}
	if (n == want && st->cap < maxev) {
		/* Still full (stale registrations beyond the count, or no
		 * memory before the call): grow for the next call. */
		int c = st->cap * 2 < maxev ? st->cap * 2 : maxev;
		struct epoll_event *e = realloc(st->evs, (size_t)c * sizeof *e);
		if (e) {
			st->evs = e;
			st->cap = c;
		}
	}
	if (!files_first && st->armedalways)
		out = add_always(st, ev, out, maxev);
	if (stale_seen) {
		char *mark = calloc((size_t)p->nslots, 1);
		if (!mark)
			return -1;
		for (int i = 0; i < out; i++)
			mark[ev[i].fd] = 1;
		int rc = rebuild(p, mark);
		free(mark);
		if (rc < 0)
			return -1;
		if (out == 0) {
			errno = EAGAIN;	/* the core asks again */
			return -1;
		}
	}
	return out;
}

static int epoll_reinit(struct pollux *p)
{
	struct epoll_state *st = p->state;
	int fd = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0)
		return -1;
	/* Put the new object under the old number (closing only our copy of
	 * the old one; a parent's is left untouched), so that rebuilding
	 * takes no descriptor number the caller may be about to reuse. */
	if (dup3(fd, st->epfd, O_CLOEXEC) == st->epfd) {
		close(fd);
	} else {
		close(st->epfd);
		st->epfd = fd;
	}
	st->nalways = st->armedalways = st->cursor = 0;
	st->nowed = st->headowed = 0;
	return 0;
}

const struct pollux_backend pollux_backend_epoll = {
	.name = "epoll",
	.features = POLLUX_FEAT_EDGE | POLLUX_FEAT_O1 | POLLUX_FEAT_NOLIMIT,
	.caps = PX_CAP_ONESHOT,
	.init = epoll_init,
	.free = epoll_free,
	.add = epoll_add,
	.mod = epoll_mod,
	.del = epoll_del,
	.wait = epoll_wait_,
	.reinit = epoll_reinit,
};
