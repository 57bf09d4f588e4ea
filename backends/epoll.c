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
#include <time.h>
#include <unistd.h>

#include "backend.h"

#if !defined(HAVE_EPOLL_PWAIT2)
#include <sys/syscall.h>
#ifdef SYS_epoll_pwait2
/* A libc without the wrapper (musl up to 1.2.5 at least) on a kernel
 * header that knows the call: make it directly. With no signal mask the
 * kernel does not look at the mask size; 8 is Linux's all the same. */
static int epoll_pwait2(int epfd, struct epoll_event *evs, int maxevents,
                        const struct timespec *ts, const void *sigmask)
{
	return (int)syscall(SYS_epoll_pwait2, epfd, evs, maxevents, ts, sigmask,
	                    (size_t)8);
}
#define HAVE_EPOLL_PWAIT2 1
#endif
#endif

/* Per registered fd (the core's fdinfo area). */
struct epoll_fd {
	px_tag tag;		/* the registration's, also in the kernel's cookie */
	unsigned events;	/* interest, with ONESHOT and EDGE */
	int aw;			/* 1 + index in the always-ready list; 0: in the kernel */
};

struct always {
	int fd;
	unsigned events;	/* interest, with ONESHOT and EDGE */
	int armed;		/* 0 once ONESHOT or EDGE has reported it */
};

struct epoll_state {
	struct pollux *p;
	int epfd;
	int oldfd;			/* the object being replaced, during PX_RB_STALE */
	int phase;			/* rebuild in progress: PX_RB_FORK/STALE, else 0 */
	int stale;			/* a stale registration was seen: rebuild next */
	int nreg;			/* registrations in the kernel object */
	int no_pwait2;			/* epoll_pwait2 said ENOSYS once */
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

/* The kernel hands back (registration tag, fd): an event whose tag is not
 * the fd's current one comes from a registration epoll kept after its fd
 * was closed while a duplicate held the file open. */
static uint64_t cookie(int fd, px_tag tag)
{
	return (uint64_t)tag << 32 | (uint32_t)fd;
}

static int cookie_fd(uint64_t c)
{
	return (int)(uint32_t)c;
}

static int stale(struct epoll_state *st, uint64_t c)
{
	struct epoll_fd *fi = px_fdinfo(st->p, cookie_fd(c));
	return !fi || fi->tag != (px_tag)(c >> 32);
}

static int epoll_init(void *state, struct pollux *p)
{
	struct epoll_state *st = state;
	st->p = p;
	st->oldfd = -1;
	st->cap = 64;
	st->evs = malloc((size_t)st->cap * sizeof *st->evs);
	if (!st->evs)
		return -1;
	st->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (st->epfd < 0) {
		free(st->evs);
		return -1;
	}
	return 0;
}

static void epoll_fini(void *state)
{
	struct epoll_state *st = state;
	close(st->epfd);
	free(st->evs);
	free(st->aw);
	free(st->owed);
}

static uint32_t to_epoll(unsigned events)
{
	return ((events & POLLUX_IN) ? EPOLLIN : 0) |
	       ((events & POLLUX_OUT) ? EPOLLOUT : 0) |
	       ((events & POLLUX_EDGE) ? EPOLLET : 0) |
	       ((events & POLLUX_ONESHOT) ? EPOLLONESHOT : 0);
}

static int ctl(struct epoll_state *st, int op, int fd, unsigned events, px_tag tag)
{
	struct epoll_event ee = { .events = to_epoll(events) };
	ee.data.u64 = cookie(fd, tag);
	return epoll_ctl(st->epfd, op, fd, &ee);
}

static int always_add(struct epoll_state *st, int fd, unsigned events,
                      struct epoll_fd *fi)
{
	struct always *a = px_grow(st->aw, &st->capalways, st->nalways + 1, sizeof *a, 8);
	if (!a)
		return -1;
	st->aw = a;
	st->aw[st->nalways] = (struct always){ fd, events, 1 };
	fi->aw = ++st->nalways;
	st->armedalways++;
	return 0;
}

static int epoll_add(void *state, int fd, unsigned events, px_tag tag, void *fip)
{
	struct epoll_state *st = state;
	struct epoll_fd *fi = fip;
	/* A rebuild for stale registrations keeps the always-ready list; a
	 * forked child's rebuild starts it again. */
	if (st->phase == PX_RB_STALE && fi->aw)
		return 0;
	fi->tag = tag;
	fi->events = events;
	fi->aw = 0;
	if (ctl(st, EPOLL_CTL_ADD, fd, events, tag) == 0) {
		st->nreg++;
		return 0;
	}
	if (errno == EPERM)
		return always_add(st, fd, events, fi);
	/* Still registered in the kernel under an fd that was closed while a
	 * duplicate kept the file open: take it over. */
	if (errno == EEXIST && ctl(st, EPOLL_CTL_MOD, fd, events, tag) == 0)
		return 0;
	return -1;
}

static int epoll_mod(void *state, int fd, unsigned old, unsigned events,
                     px_tag tag, void *fip)
{
	struct epoll_state *st = state;
	struct epoll_fd *fi = fip;
	(void)old;
	fi->events = events;
	if (fi->aw) {
		struct always *a = &st->aw[fi->aw - 1];
		st->armedalways += !a->armed;
		a->events = events;
		a->armed = 1;
		return 0;
	}
	if (ctl(st, EPOLL_CTL_MOD, fd, events, tag) == 0)
		return 0;
	/* Closed and reopened under the same number since it was added. */
	if (errno == ENOENT)
		return ctl(st, EPOLL_CTL_ADD, fd, events, tag);
	return -1;
}

static int epoll_del(void *state, int fd, unsigned old, void *fip)
{
	struct epoll_state *st = state;
	struct epoll_fd *fi = fip;
	(void)old;
	if (fi->aw) {
		int i = fi->aw - 1;
		st->armedalways -= st->aw[i].armed;
		st->aw[i] = st->aw[--st->nalways];
		if (i < st->nalways) {
			struct epoll_fd *moved = px_fdinfo(st->p, st->aw[i].fd);
			moved->aw = i + 1;
		}
		fi->aw = 0;
		return 0;
	}
	struct epoll_event ee = { 0 };	/* non-NULL for kernels before 2.6.9 */
	if (epoll_ctl(st->epfd, EPOLL_CTL_DEL, fd, &ee) == 0 ||
	    /* Closed already (the kernel dropped it), or never accepted. */
	    errno == EBADF || errno == ENOENT || errno == EPERM) {
		if (st->nreg > 0)
			st->nreg--;
		return 0;
	}
	return -1;
}

/* pollux_close: closing the fd takes it out of the kernel's set (and a
 * registration a duplicate keeps alive turns stale, and is rebuilt away). */
static void epoll_forget(void *state, int fd, unsigned old, void *fip)
{
	struct epoll_state *st = state;
	struct epoll_fd *fi = fip;
	if (fi->aw) {
		epoll_del(state, fd, old, fip);
		return;
	}
	if (st->nreg > 0)
		st->nreg--;
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
		ev[out].data = NULL;	/* never outlives its del */
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

static int pay_owed(struct epoll_state *st, struct pollux_event *ev, int maxev)
{
	int out = 0;
	while (st->headowed < st->nowed && out < maxev) {
		struct owed *o = &st->owed[st->headowed++];
		if (stale(st, o->cookie))
			continue;	/* deleted since */
		ev[out].fd = cookie_fd(o->cookie);
		ev[out].events = o->events;
		ev[out].data = px_tag_data((px_tag)(o->cookie >> 32));
		out++;
	}
	if (st->headowed == st->nowed)
		st->headowed = st->nowed = 0;
	return out ? out : PX_AGAIN;
}

/* Grows the kernel's answer to n entries if memory allows. */
static void size_answer(struct epoll_state *st, int n)
{
	if (n <= st->cap)
		return;
	struct epoll_event *e = realloc(st->evs, (size_t)n * sizeof *e);
	if (e) {
		st->evs = e;
		st->cap = n;
	}
}

/*
 * A closed fd whose file a duplicate keeps open (in this process or any
 * other) stays registered in the epoll object and, level-triggered, would
 * wake every wait from now on; no epoll_ctl can reach it. Only a new epoll
 * object forgets it: the core adds every live registration to a new one
 * (PX_RB_STALE, then add for each, then PX_RB_DONE). Done then: drop what
 * registering queued on the new object (so no edge is invented), but arm
 * again a ONESHOT it consumed, and keep what the old object still had
 * queued for live registrations (so no edge and no ONESHOT firing is lost).
 */
static int finish_stale(struct epoll_state *st)
{
	int rc = 0, e = 0;
	size_answer(st, st->nreg + 1);
	int n = epoll_wait(st->epfd, st->evs, st->cap, 0);
	for (int i = 0; i < n; i++) {
		uint64_t c = st->evs[i].data.u64;
		struct epoll_fd *fi = px_fdinfo(st->p, cookie_fd(c));
		if (fi && (fi->events & POLLUX_ONESHOT) &&
		    ctl(st, EPOLL_CTL_MOD, cookie_fd(c), fi->events, fi->tag) < 0) {
			rc = -1;
			e = errno;
		}
	}
	n = epoll_wait(st->oldfd, st->evs, st->cap, 0);
	for (int i = 0; i < n; i++) {
		uint64_t c = st->evs[i].data.u64;
		if (!stale(st, c) && push_owed(st, c, from_epoll(st->evs[i].events)) < 0) {
			rc = -1;	/* out of memory: that event is lost */
			e = errno;
		}
	}
	/* The new object under the old number: no number changes hands.
	 * Done whatever failed above: the new object is the good one. */
	if (dup3(st->epfd, st->oldfd, O_CLOEXEC) == st->oldfd) {
		close(st->epfd);
		st->epfd = st->oldfd;
	} else {
		close(st->oldfd);
	}
	st->oldfd = -1;
	errno = e;
	return rc;
}

static int epoll_rebuild(void *state, int phase)
{
	struct epoll_state *st = state;
	switch (phase) {
	case PX_RB_FORK: {
		int fd = epoll_create1(EPOLL_CLOEXEC);
		if (fd < 0)
			return -1;
		/* The new object under the old number (closing only our copy
		 * of the parent's). */
		if (dup3(fd, st->epfd, O_CLOEXEC) == st->epfd) {
			close(fd);
		} else {
			close(st->epfd);
			st->epfd = fd;
		}
		st->nalways = st->armedalways = st->cursor = 0;
		st->nowed = st->headowed = 0;
		st->nreg = st->stale = 0;
		st->phase = phase;
		return 0;
	}
	case PX_RB_STALE: {
		int fd = epoll_create1(EPOLL_CLOEXEC);
		if (fd < 0)
			return -1;
		st->oldfd = st->epfd;
		st->epfd = fd;
		st->nreg = st->stale = 0;
		st->phase = phase;
		return 0;
	}
	case PX_RB_DONE: {
		int was = st->phase;
		st->phase = 0;
		return was == PX_RB_STALE ? finish_stale(st) : 0;
	}
	default:	/* PX_RB_ABORT */
		if (st->phase == PX_RB_STALE) {
			close(st->epfd);
			st->epfd = st->oldfd;
			st->oldfd = -1;
			st->stale = 1;	/* try again at the next wait */
		}
		st->phase = 0;
		return 0;
	}
}

static int kernel_wait(struct epoll_state *st, int want, long long timeout_ns)
{
#ifdef HAVE_EPOLL_PWAIT2
	/* Only a timeout finer than a millisecond needs epoll_pwait2; the
	 * rest take the same call as a plain epoll loop. */
	if (timeout_ns > 0 && timeout_ns % 1000000 && !st->no_pwait2) {
		struct timespec ts;
		int n = epoll_pwait2(st->epfd, st->evs, want,
		                     px_timespec(timeout_ns, &ts), NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		st->no_pwait2 = 1;	/* before Linux 5.11: milliseconds */
	}
#endif
	return epoll_wait(st->epfd, st->evs, want, px_timeout_ms(timeout_ns));
}

static int epoll_wait_(void *state, struct pollux_event *ev, int maxev,
                       long long timeout_ns)
{
	struct epoll_state *st = state;
	if (st->stale) {
		st->stale = 0;
		return PX_REBUILD;
	}
	if (st->nowed)
		return pay_owed(st, ev, maxev);

	/* Always-ready files and kernel events take turns at going first, so
	 * that neither starves the other when maxev is small. */
	int files_first = st->armedalways && (st->flip ^= 1);
	int out = files_first ? add_always(st, ev, 0, maxev) : 0;
	if (out == maxev)
		return out;
	int room = maxev - out;
	/* Size the kernel's answer from maxev before the call, so that one
	 * wait reports up to maxev as pollux_wait(3) says (and select and poll
	 * do); no more than the registrations can be ready at once. */
	size_answer(st, room < st->nreg ? room : st->nreg);
	int want = room < st->cap ? room : st->cap;
	if (st->armedalways && !files_first && want > 1)
		want -= want / 2 < st->armedalways ? want / 2 : st->armedalways;
	int n = kernel_wait(st, want, (out || st->armedalways) ? 0 : timeout_ns);
	if (n < 0)
		return out ? out : -1;
	int stale_seen = 0;
	for (int i = 0; i < n; i++) {
		uint64_t c = st->evs[i].data.u64;
		if (stale(st, c)) {
			stale_seen = 1;
			continue;
		}
		ev[out].fd = cookie_fd(c);
		ev[out].events = from_epoll(st->evs[i].events);
		ev[out].data = px_tag_data((px_tag)(c >> 32));
		out++;
	}
	if (n == want && st->cap < maxev)
		/* Still full (stale registrations beyond the count, or no
		 * memory before the call): grow for the next call. */
		size_answer(st, st->cap * 2 < maxev ? st->cap * 2 : maxev);
	if (!files_first && st->armedalways)
		out = add_always(st, ev, out, maxev);
	if (stale_seen) {
		if (out == 0)
			return PX_REBUILD;
		st->stale = 1;	/* after the caller has these */
	}
	return out;
}

const struct pollux_backend pollux_backend_epoll = {
	.name = "epoll",
	.features = POLLUX_FEAT_EDGE | POLLUX_FEAT_O1 | POLLUX_FEAT_NOLIMIT,
	.caps = PX_CAP_ONESHOT,
	.state_size = sizeof(struct epoll_state),
	.fdinfo_size = sizeof(struct epoll_fd),
	.init = epoll_init,
	.fini = epoll_fini,
	.add = epoll_add,
	.mod = epoll_mod,
	.del = epoll_del,
	.wait = epoll_wait_,
	.rebuild = epoll_rebuild,
	.wake = NULL,
	.forget = epoll_forget,
};
