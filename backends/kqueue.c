/* kqueue.c: the kqueue(2) backend of the BSDs and macOS (on Linux, built
 * against libkqueue, for testing). Registration lives in the kernel, as
 * with epoll, and changes that cannot fail wait in a list that goes in with
 * the next kevent() call. Regular files are kept aside, always ready. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"

#if defined(HAVE_DECL_EVFILT_USER) && HAVE_DECL_EVFILT_USER && \
    defined(HAVE_DECL_NOTE_TRIGGER) && HAVE_DECL_NOTE_TRIGGER
#define KQ_WAKE 1	/* else (OpenBSD) the core brings a pipe of its own */
#endif
#define WAKE_IDENT 0	/* EVFILT_USER's idents are its own, not fds */
#define KQ_EOF 0x80000000u	/* internal: EV_EOF seen, ask poll() below */
#define KQ_QUEUED_MAX 1024	/* changes kept back before they go in anyway */
#ifdef HAVE_LIBKQUEUE
/* libkqueue returns at most its MAX_KEVENT (512) events per kevent() call
 * (src/common/private.h), the kernels as many as asked: asking for no more
 * keeps "the answer filled every slot" meaning "more may be ready". */
#define KQ_ANSWER_MAX 512
#else
#define KQ_ANSWER_MAX INT_MAX
#endif

/* Per registered fd (the core's fdinfo area). */
struct kq_fd {
	px_tag tag;		/* rides in udata; see wait */
	unsigned events;	/* interest: IN|OUT, EDGE, ONESHOT */
	int always;		/* 1 + index in aw for a file, 0 in the kernel */
	unsigned round;		/* the wait that reported it last, ... */
	int at;			/* ... at ev[at]: READ and WRITE become one */
};

/* An fd reported always ready: a regular file or directory, or one the
 * kernel would not take. */
struct always {
	int fd;
	unsigned events;
	px_tag tag;
	int armed;		/* 0 once ONESHOT or EDGE has reported it */
};

struct kq_state {
	unsigned forks;		/* px_forks() when kq was made: see kq_wait */
	struct pollux *p;
	int kq;
	struct kevent *chg;	/* changes not yet given to the kernel */
	int nchg, capchg;
	struct kevent *evs;	/* the kernel's answer */
	int capevs;
	int nknote;		/* READ and WRITE filters registered */
	struct always *aw;
	int naw, capaw, armedaw;
	int cursor;		/* rotation through aw */
	int flip;		/* who goes first: files or the kernel */
	unsigned round;
};

static int grow_evs(struct kq_state *st, int need)
{
	struct kevent *e = px_grow(st->evs, &st->capevs, need, sizeof *e, 64);
	if (!e)
		return -1;
	st->evs = e;
	return 0;
}

/* Room for n more changes, so that queueing them cannot fail half-way. */
static int reserve(struct kq_state *st, int n)
{
	struct kevent *c = px_grow(st->chg, &st->capchg, st->nchg + n, sizeof *c, 16);
	if (!c)
		return -1;
	st->chg = c;
	return 0;
}

static void queue(struct kq_state *st, int fd, short filter, unsigned short flags,
                  px_tag tag)
{
	EV_SET(&st->chg[st->nchg], (uintptr_t)fd, filter, flags, 0, 0,
	       px_tag_data(tag));
	st->nchg++;
}

/*
 * Hands every queued change to the kernel now, each with EV_RECEIPT, so
 * that each answers for itself, in order, in evs[] and the call collects no
 * events: FreeBSD and macOS return at once when a receipt or an error was
 * written, and libkqueue has no room left to wait with. In calls of at most
 * KQ_ANSWER_MAX changes, since libkqueue's answer (receipts included) has
 * no more slots. Returns 0, or -1 with the queue dropped.
 */
static int submit(struct kq_state *st)
{
	if (st->nchg == 0)
		return 0;
	if (grow_evs(st, st->nchg) < 0)
		return -1;
	struct timespec zero = { 0, 0 };
	for (int done = 0; done < st->nchg;) {
		int c = st->nchg - done < KQ_ANSWER_MAX ? st->nchg - done : KQ_ANSWER_MAX;
		for (int i = done; i < done + c; i++)
			st->chg[i].flags |= EV_RECEIPT;
		int n = kevent(st->kq, st->chg + done, c, st->evs + done, c, &zero);
		if (n < 0) {
			st->nchg = 0;
			return -1;
		}
		/* Never short with receipts; if it were, say so in place. */
		for (int i = done + n; i < done + c; i++) {
			st->evs[i] = st->chg[i];
			st->evs[i].flags = EV_ERROR;
			st->evs[i].data = EIO;
		}
		done += c;
	}
	st->nchg = 0;
	return 0;
}

#ifdef KQ_WAKE
/* The wake-up: an EVFILT_USER that pollux_wake triggers and wait drops;
 * EV_CLEAR makes several triggers before a wait one report. */
static int wake_register(struct kq_state *st)
{
	struct kevent k;
	EV_SET(&k, WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	return kevent(st->kq, &k, 1, NULL, 0, NULL) < 0 ? -1 : 0;
}

/* One system call and nothing else, so async-signal-safe where kevent()
 * is a system call (not under libkqueue, whose kevent takes a mutex). */
static int kq_wake(void *vst)
{
	struct kq_state *st = vst;
	struct kevent k;
	int saved = errno;
	EV_SET(&k, WAKE_IDENT, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
	if (kevent(st->kq, &k, 1, NULL, 0, NULL) < 0)
		return -1;
	errno = saved;
	return 0;
}
#else
static int wake_register(struct kq_state *st)
{
	(void)st;
	return 0;
}
#endif

static int new_kqueue(struct kq_state *st)
{
	int kq = kqueue();
	if (kq < 0)
		return -1;
	/* Not inherited by fork; not to be inherited by exec either. */
	if (fcntl(kq, F_SETFD, FD_CLOEXEC) < 0) {
		int e = errno;
		close(kq);
		errno = e;
		return -1;
	}
	st->kq = kq;
	st->forks = px_forks();
	st->nchg = st->nknote = 0;
	st->naw = st->armedaw = st->cursor = 0;
	if (wake_register(st) < 0) {
		int e = errno;
		close(kq);
		st->kq = -1;
		errno = e;
		return -1;
	}
	return 0;
}

static void kq_fini(void *vst)
{
	struct kq_state *st = vst;
	/* In a child that never waited: the number is not our kqueue. */
	if (st->kq >= 0 && st->forks == px_forks())
		close(st->kq);
	free(st->chg);
	free(st->evs);
	free(st->aw);
}

static int kq_init(void *vst, struct pollux *p)
{
	struct kq_state *st = vst;
	st->p = p;
	st->kq = -1;
	if (grow_evs(st, 64) < 0 || new_kqueue(st) < 0) {
		int e = errno;
		kq_fini(st);
		errno = e;
		return -1;
	}
	return 0;
}

static int always_add(struct kq_state *st, int fd, struct kq_fd *fi)
{
	struct always *a = px_grow(st->aw, &st->capaw, st->naw + 1, sizeof *a, 8);
	if (!a)
		return -1;
	st->aw = a;
	st->aw[st->naw] = (struct always){ fd, fi->events, fi->tag, 1 };
	fi->always = ++st->naw;
	st->armedaw++;
	return 0;
}

static void always_del(struct kq_state *st, struct kq_fd *fi)
{
	int i = fi->always - 1;
	st->armedaw -= st->aw[i].armed;
	st->aw[i] = st->aw[--st->naw];
	if (i < st->naw) {
		struct kq_fd *moved = px_fdinfo(st->p, st->aw[i].fd);
		if (moved)
			moved->always = i + 1;
	}
	fi->always = 0;
}

static unsigned short kflags(unsigned events)
{
	/* EV_ENABLE: a knote that EV_DISPATCH disabled reports again. */
	return EV_ADD | EV_ENABLE |
	       ((events & POLLUX_EDGE) ? EV_CLEAR : 0) |
	       ((events & POLLUX_ONESHOT) ? EV_DISPATCH : 0);
}

/* Errors with which a kernel refuses an open descriptor it cannot watch
 * (devices without a kqueue filter, /dev/null under libkqueue): poll(2)
 * calls those always ready, and so does this backend. */
static int unwatchable(int e)
{
	return e == EINVAL || e == EPERM || e == ENODEV || e == EOPNOTSUPP ||
	       e == ENOTSUP;
}

/*
 * An add goes to the kernel at once, with whatever was queued before it,
 * so that its own error is pollux_add's. It costs two system calls: fstat,
 * because a regular file is a vnode to kqueue, readable only while unread
 * bytes are left (and not writable at all on macOS), where every other
 * backend calls it always ready as poll(2) does; and kevent.
 */
static int kq_add(void *vst, int fd, unsigned events, px_tag tag, void *vfi)
{
	struct kq_state *st = vst;
	struct kq_fd *fi = vfi;
	struct stat sb;

	if (fstat(fd, &sb) < 0)
		return -1;
	*fi = (struct kq_fd){ .tag = tag, .events = events };
	if (S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode))
		return always_add(st, fd, fi);
	if (reserve(st, 2) < 0)
		return -1;
	int mine = st->nchg;
	if (events & POLLUX_IN)
		queue(st, fd, EVFILT_READ, kflags(events), tag);
	if (events & POLLUX_OUT)
		queue(st, fd, EVFILT_WRITE, kflags(events), tag);
	int total = st->nchg;
	if (submit(st) < 0)
		return -1;
	/* The answers to this add's changes are the last ones. */
	int err = 0, ok[2] = { 0, 0 };
	for (int i = mine; i < total; i++) {
		struct kevent *k = &st->evs[i];
		int w = k->filter == EVFILT_WRITE;
		if ((k->flags & EV_ERROR) && k->data != 0)
			err = err ? err : (int)k->data;
		else
			ok[w] = 1;
	}
	if (!err) {
		st->nknote += ok[0] + ok[1];
		return 0;
	}
	/* Half-registered: take back the half that went in. */
	if (ok[0])
		queue(st, fd, EVFILT_READ, EV_DELETE, 0);
	if (ok[1])
		queue(st, fd, EVFILT_WRITE, EV_DELETE, 0);
	if (unwatchable(err))
		return always_add(st, fd, fi);
	errno = err;
	return -1;
}

/*
 * A mod only queues: its changes are for an fd the kernel has accepted, so
 * the only way they fail is that the fd was closed since, and a registered
 * fd found closed is dropped silently. A knote's EV_CLEAR and EV_DISPATCH
 * are fixed when it is made (EV_ADD on an existing knote changes only its
 * udata and filter data), a fired EV_DISPATCH knote must be enabled again,
 * and libkqueue does not re-evaluate a knote on EV_ADD as FreeBSD does; so
 * a filter whose mode changes, or is EDGE or ONESHOT, is deleted and made
 * again. A new knote reports what is ready at once, as EPOLL_CTL_MOD does:
 * that is how a mod with the same mask re-arms an edge.
 */
static int kq_mod(void *vst, int fd, unsigned old, unsigned events,
                  px_tag tag, void *vfi)
{
	struct kq_state *st = vst;
	struct kq_fd *fi = vfi;
	static const struct { unsigned bit; short filter; } f[2] = {
		{ POLLUX_IN, EVFILT_READ }, { POLLUX_OUT, EVFILT_WRITE },
	};

	fi->tag = tag;
	fi->events = events;
	if (fi->always) {
		struct always *a = &st->aw[fi->always - 1];
		st->armedaw += !a->armed;
		*a = (struct always){ fd, events, tag, 1 };
		return 0;
	}
	if (st->nchg >= KQ_QUEUED_MAX && submit(st) < 0)
		return -1;
	if (reserve(st, 4) < 0)
		return -1;
	unsigned mode = POLLUX_EDGE | POLLUX_ONESHOT;
	int renew = (old & mode) != (events & mode) || (events & mode);
	for (int i = 0; i < 2; i++) {
		int had = (old & f[i].bit) != 0, wants = (events & f[i].bit) != 0;
		if (had && (!wants || renew)) {
			queue(st, fd, f[i].filter, EV_DELETE, 0);
			st->nknote--;
		}
		if (wants && (!had || renew)) {
			queue(st, fd, f[i].filter, kflags(events), tag);
			st->nknote++;
		}
	}
	return 0;
}

/* A delete only queues: it cannot fail in a way the caller must hear of
 * (a closed fd's knotes are gone already: ENOENT or EBADF). So pollux_close
 * costs close(2) alone here without a forget op, and the queued EV_DELETE
 * also clears what libkqueue, which never hears of the close, keeps. */
static int kq_del(void *vst, int fd, unsigned old, void *vfi)
{
	struct kq_state *st = vst;
	struct kq_fd *fi = vfi;

	if (fi->always) {
		always_del(st, fi);
		return 0;
	}
	if (st->nchg >= KQ_QUEUED_MAX && submit(st) < 0)
		return -1;
	if (reserve(st, 2) < 0)
		return -1;
	if (old & POLLUX_IN) {
		queue(st, fd, EVFILT_READ, EV_DELETE, 0);
		st->nknote--;
	}
	if (old & POLLUX_OUT) {
		queue(st, fd, EVFILT_WRITE, EV_DELETE, 0);
		st->nknote--;
	}
	return 0;
}

/* Appends always-ready fds, rotating so that none starves. */
static int add_always(struct kq_state *st, struct pollux_event *ev, int out,
                      int maxev)
{
	int n = st->naw, start = st->cursor;
	for (int k = 0; k < n && out < maxev; k++) {
		struct always *a = &st->aw[(start + k) % n];
		if (!a->armed)
			continue;
		ev[out].fd = a->fd;
		ev[out].events = a->events & (POLLUX_IN | POLLUX_OUT);
		ev[out].data = px_tag_data(a->tag);
		out++;
		if (a->events & (POLLUX_ONESHOT | POLLUX_EDGE)) {
			a->armed = 0;
			st->armedaw--;
		}
		st->cursor = (start + k + 1) % n;
	}
	return out;
}

/* What poll(2) says of fd now, in POLLUX_* bits, IN and OUT masked to
 * interest: the kernel's word where kqueue's is not the whole of it. */
static unsigned ask_poll(int fd, unsigned interest)
{
	struct pollfd pfd = { .fd = fd, .revents = 0 };
	pfd.events = (short)(((interest & POLLUX_IN) ? POLLIN : 0) |
	                     ((interest & POLLUX_OUT) ? POLLOUT : 0));
	if (poll(&pfd, 1, 0) != 1)
		return 0;
	return ((pfd.revents & POLLIN) ? POLLUX_IN : 0) |
	       ((pfd.revents & POLLOUT) ? POLLUX_OUT : 0) |
	       ((pfd.revents & POLLHUP) ? POLLUX_HUP : 0) |
	       ((pfd.revents & POLLERR) ? POLLUX_ERR : 0);
}

/* One kernel report into ev: the fd's other filter in this wait is merged
 * into the same event. Returns the new count. */
static int report(struct kq_state *st, const struct kevent *k,
                  struct pollux_event *ev, int out)
{
	int fd = (int)k->ident;
	px_tag tag = (px_tag)(uintptr_t)k->udata;
	unsigned bit = k->filter == EVFILT_READ ? POLLUX_IN : POLLUX_OUT;
	struct kq_fd *fi = px_fdinfo(st->p, fd);

	if (!fi || fi->always || fi->tag != tag || !(fi->events & bit)) {
		/* A knote no registration owns (left by a change that failed):
		 * have it deleted with the next call, unless a live
		 * registration of this fd wants that filter. */
		if ((!fi || fi->always || !(fi->events & bit)) &&
		    reserve(st, 1) == 0)
			queue(st, fd, k->filter, EV_DELETE, 0);
		return out;
	}
	unsigned e = bit | ((k->flags & EV_EOF) ? KQ_EOF : 0);
	if (fi->round == st->round && fi->at < out && ev[fi->at].fd == fd) {
		ev[fi->at].events |= e;
		return out;
	}
	fi->round = st->round;
	fi->at = out;
	ev[out].fd = fd;
	ev[out].events = e;
	ev[out].data = px_tag_data(tag);
	return out + 1;
}

/* One kevent() call: the queued changes go in, and up to limit - out
 * events come out, into ev after out. Returns the new count, or -1; *got
 * is how many entries the kernel gave (0: it timed out), *cut whether they
 * filled every slot asked for (so that more may be ready). */
static int collect(struct kq_state *st, struct pollux_event *ev, int out,
                   int limit, const struct timespec *tsp, int *got, int *cut,
                   int *woken)
{
	int room = limit - out;
	/* A change that fails takes a slot of the answer (and FreeBSD then
	 * returns at once), so there must be a slot for each, or they go in
	 * first, on their own. No more slots than can be reported: an
	 * EV_CLEAR or EV_DISPATCH event taken from the kernel and not
	 * reported would be lost. */
	int want = room < st->nknote + 1 ? room : st->nknote + 1;
	if (want > KQ_ANSWER_MAX)
		want = KQ_ANSWER_MAX;
	if (want < st->nchg)
		want = st->nchg;
	if (want > room || want > KQ_ANSWER_MAX || grow_evs(st, want) < 0) {
		if (submit(st) < 0)
			return -1;
		want = room < st->capevs ? room : st->capevs;
		if (want > st->nknote + 1)
			want = st->nknote + 1;
		if (want > KQ_ANSWER_MAX)
			want = KQ_ANSWER_MAX;
	}
	int n = kevent(st->kq, st->chg, st->nchg, st->evs, want, tsp);
	/* The changes were applied before the call could wait, and so
	 * before it could fail with EINTR. */
	st->nchg = 0;
	if (n < 0)
		return -1;
	*got = n;
	*cut = n == want;
	for (int i = 0; i < n; i++) {
		const struct kevent *k = &st->evs[i];
		if (k->flags & EV_ERROR)
			continue;	/* a queued change whose fd was closed */
		if (k->filter == EVFILT_READ || k->filter == EVFILT_WRITE)
			out = report(st, k, ev, out);
		else
			*woken = 1;	/* the wake-up, dropped unseen */
	}
	return out;
}

static int kq_wait(void *vst, struct pollux_event *ev, int maxev,
                   long long timeout_ns)
{
	struct kq_state *st = vst;

	/* A forked child that did not call pollux_reinit: its parent's kqueue
	 * is not inherited. Ask for a kqueue of its own (kq_rebuild). */
	if (st->forks != px_forks())
		return PX_REBUILD;
	if (++st->round == 0)
		st->round = 1;	/* 0 is a new fd's, never a wait's */
	/* Always-ready files and kernel events take turns at going first, so
	 * that neither starves the other when maxev is small. */
	int files_first = st->armedaw && (st->flip ^= 1);
	int out = files_first ? add_always(st, ev, 0, maxev) : 0;
	if (out == maxev)
		return out;
	int room = maxev - out;
	if (st->armedaw && !files_first && room > 1)
		room -= room / 2 < st->armedaw ? room / 2 : st->armedaw;

	struct timespec ts, zero = { 0, 0 };
	const struct timespec *tsp = px_timespec((out || st->armedaw) ? 0 : timeout_ns, &ts);
	int first = out, limit = out + room, woken = 0, got = 0, cut = 0, any = 0;
	/* Merging READ and WRITE, stale knotes and failed changes can leave
	 * slots of a full answer unfilled: ask again, without waiting, while
	 * the kernel has more (a few times at most). */
	for (int pass = 0; pass < 4; pass++) {
		int o = collect(st, ev, out, limit, pass ? &zero : tsp, &got, &cut,
		                &woken);
		if (o < 0) {
			if (pass == 0 && out == 0)
				return -1;
			cut = 0;
			break;
		}
		out = o;
		any += got;
		if (!cut || out >= limit)
			break;
	}
	/*
	 * Where kqueue's answer is not the whole of it, poll(2) says the rest,
	 * one call per such fd: EV_EOF says only that one direction is shut
	 * (FreeBSD sets it on READ when the peer stops sending), not whether
	 * the fd is hung up or in error; and when the answer filled every
	 * slot, an fd with both IN and OUT asked may have its other filter
	 * further down the queue, while a report is to say all that is ready.
	 */
	for (int i = first; i < out; i++) {
		unsigned e = ev[i].events;
		struct kq_fd *fi = px_fdinfo(st->p, ev[i].fd);
		unsigned io = fi->events & (POLLUX_IN | POLLUX_OUT);
		if ((e & KQ_EOF) || (cut && (io & ~e)))
			e |= ask_poll(ev[i].fd, io);
		ev[i].events = e & ~KQ_EOF;
	}
	if (!files_first && st->armedaw)
		out = add_always(st, ev, out, maxev);
	/* Only failed changes or stale knotes are no answer: wait on. Nor is
	 * a kevent that gave up before its timeout, as libkqueue does when
	 * what woke it was the epoll registration of an fd closed without
	 * EV_DELETE (the core knows what is left of the timeout). A wake-up
	 * alone is an answer: 0 events, at once. */
	if (out == 0 && !woken && (any > 0 || timeout_ns != 0))
		return PX_AGAIN;
	return out;
}

/* In a forked child: a kqueue of the child's own, empty. The parent's is
 * not inherited (the BSDs and macOS leave it out of the child, libkqueue
 * closes it in its atfork handler), so its number is not ours to close or
 * reuse. PX_RB_STALE comes only after kq_wait found itself in such a child
 * (a kqueue drops a closed fd's knotes itself): the same. */
static int kq_rebuild(void *vst, int phase)
{
	struct kq_state *st = vst;
	if (phase != PX_RB_FORK && phase != PX_RB_STALE)
		return 0;
	return new_kqueue(st);
}

const struct pollux_backend pollux_backend_kqueue = {
	.name = "kqueue",
	.features = POLLUX_FEAT_EDGE | POLLUX_FEAT_O1 | POLLUX_FEAT_NOLIMIT,
	.caps = PX_CAP_ONESHOT,
	.state_size = sizeof(struct kq_state),
	.fdinfo_size = sizeof(struct kq_fd),
	.init = kq_init,
	.fini = kq_fini,
	.add = kq_add,
	.mod = kq_mod,
	.del = kq_del,
	.wait = kq_wait,
	.rebuild = kq_rebuild,
#ifdef KQ_WAKE
	.wake = kq_wake,
#endif
};
