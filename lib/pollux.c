/* pollux.c: the core. Everything that is the same on every backend lives
 * here: argument checks and errno, the fd-indexed table, ONESHOT
 * bookkeeping, rebuilding a backend's kernel object, the wake-up, backend
 * selection and the environment variable. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SYS_EVENTFD_H
#include <sys/eventfd.h>
#endif

#include "core.h"

#define INTEREST_BITS	(POLLUX_IN | POLLUX_OUT)
#define REPORTED_BITS	(POLLUX_ERR | POLLUX_HUP)
#define MODIFIER_BITS	(POLLUX_ONESHOT | POLLUX_EDGE)
/* ERR and HUP are accepted in a mask, as poll(2) accepts them, and ignored:
 * they are reported whether asked for or not. */
#define VALID_BITS	(INTEREST_BITS | REPORTED_BITS | MODIFIER_BITS)

#define NS_PER_MS	1000000LL
#define NS_PER_S	1000000000LL

const char *pollux_version(void)
{
	return PACKAGE_VERSION;
}

/* ---- the table ------------------------------------------------------- */

static struct pollux_slot *slot(const pollux_t *p, int fd)
{
	return (struct pollux_slot *)(void *)(p->slots + (size_t)fd * p->stride);
}

static size_t fdinfo_offset(void)
{
	size_t a = alignof(max_align_t);
	return (sizeof(struct pollux_slot) + a - 1) / a * a;
}

static void *fdinfo_of(const pollux_t *p, struct pollux_slot *s)
{
	return p->be->fdinfo_size ? (unsigned char *)s + fdinfo_offset() : NULL;
}

void *px_fdinfo(struct pollux *p, int fd)
{
	if (fd < 0 || fd >= p->nslots)
		return NULL;
	struct pollux_slot *s = slot(p, fd);
	return (s->flags & PX_SLOT_USED) ? fdinfo_of(p, s) : NULL;
}

int px_next_cap(int cap, int need, int first)
{
	size_t n = cap > 0 ? (size_t)cap : (size_t)(first > 0 ? first : 1);
	while (n < (size_t)need)
		n *= 2;
	return n > INT_MAX ? need : (int)n;
}

void *px_grow(void *arr, int *cap, int need, size_t elem, int first)
{
	if (need <= *cap)
		return arr;
	int n = px_next_cap(*cap, need, first);
	if ((size_t)n > SIZE_MAX / elem) {
		errno = ENOMEM;
		return NULL;
	}
	void *b = realloc(arr, (size_t)n * elem);
	if (b)
		*cap = n;
	return b;
}

/* Grows the table so that fd has a slot; new slots are free. */
static int grow(pollux_t *p, int fd)
{
	int old = p->nslots;
	if (fd == INT_MAX) {	/* fd + 1 slots would not fit an int */
		errno = ENOMEM;
		return -1;
	}
	unsigned char *s = px_grow(p->slots, &p->nslots, fd + 1, p->stride, 64);
	if (!s)
		return -1;
	memset(s + (size_t)old * p->stride, 0, (size_t)(p->nslots - old) * p->stride);
	p->slots = s;
	return 0;
}

/* A registration of the caller's (not the wake-up's), or NULL (ENOENT). */
static struct pollux_slot *find(pollux_t *p, int fd)
{
	if (fd < p->nslots) {
		struct pollux_slot *s = slot(p, fd);
		if ((s->flags & (PX_SLOT_USED | PX_SLOT_WAKE)) == PX_SLOT_USED)
			return s;
	}
	errno = ENOENT;
	return NULL;
}

static px_tag new_tag(pollux_t *p)
{
	if (++p->next_tag == 0)
		p->next_tag = 1;	/* 0 means "no tag" in a report */
	return p->next_tag;
}

/* The mask as the backend is to see it. */
static unsigned kernel_events(const pollux_t *p, unsigned events)
{
	unsigned k = events & (INTEREST_BITS | POLLUX_EDGE);
	if (p->be->caps & PX_CAP_ONESHOT)
		k |= events & POLLUX_ONESHOT;
	return k;
}

/* ---- the wake-up ----------------------------------------------------- */

static int cloexec_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -1;
	return 0;
}

/* The core's wake-up descriptors: an eventfd (rd == wr), or a pipe. */
static int wake_open(int *rd, int *wr)
{
#ifdef HAVE_EVENTFD
	int e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (e >= 0) {
		*rd = *wr = e;
		return 0;
	}
	if (errno != ENOSYS && errno != EINVAL)
		return -1;
#endif
	int fds[2];
	if (pipe(fds) < 0)
		return -1;
	if (cloexec_nonblock(fds[0]) < 0 || cloexec_nonblock(fds[1]) < 0) {
		int e2 = errno;
		close(fds[0]);
		close(fds[1]);
		errno = e2;
		return -1;
	}
	*rd = fds[0];
	*wr = fds[1];
	return 0;
}

static void wake_close(pollux_t *p)
{
	if (p->wake_rd >= 0)
		close(p->wake_rd);
	if (p->wake_wr >= 0 && p->wake_wr != p->wake_rd)
		close(p->wake_wr);
	p->wake_rd = p->wake_wr = -1;
}

/* Registers the wake-up descriptor with the backend like any fd. */
static int wake_register(pollux_t *p)
{
	int fd = p->wake_rd;
	if (grow(p, fd) < 0)
		return -1;
	struct pollux_slot *s = slot(p, fd);
	memset(s, 0, p->stride);
	s->tag = new_tag(p);
	if (p->be->add(p->state, fd, POLLUX_IN, s->tag, fdinfo_of(p, s)) < 0)
		return -1;
	s->events = POLLUX_IN;
	s->flags = PX_SLOT_USED | PX_SLOT_ARMED | PX_SLOT_KERNEL | PX_SLOT_WAKE;
	return 0;
}

/* Empties the wake-up descriptor; the next pollux_wake writes again. */
static void wake_drain(pollux_t *p)
{
	atomic_store(&p->wake_pending, 0);
	char buf[64];
	while (read(p->wake_rd, buf, sizeof buf) > 0 && p->wake_rd != p->wake_wr)
		;
}

int pollux_wake(pollux_t *p)
{
	if (!p) {
		errno = EINVAL;
		return -1;
	}
	if (p->be->wake)
		return p->be->wake(p->state);
	if (atomic_exchange(&p->wake_pending, 1))
		return 0;	/* one is on its way: several count as one */
	int saved = errno;	/* a signal handler's caller keeps its errno */
	ssize_t n;
	if (p->wake_rd == p->wake_wr) {
		uint64_t one = 1;
		n = write(p->wake_wr, &one, sizeof one);
	} else {
		n = write(p->wake_wr, "", 1);
	}
	if (n < 0 && errno != EAGAIN) {
		atomic_store(&p->wake_pending, 0);
		return -1;
	}
	errno = saved;
	return 0;
}

/* ---- forks ----------------------------------------------------------- */

static volatile sig_atomic_t forks_seen;
static pthread_once_t forks_once = PTHREAD_ONCE_INIT;

static void count_fork(void)
{
	forks_seen++;
}

static void watch_forks(void)
{
	(void)pthread_atfork(NULL, NULL, count_fork);
}

unsigned px_forks(void)
{
	return (unsigned)forks_seen;
}

/* ---- creation -------------------------------------------------------- */

static pollux_t *create(const struct pollux_backend *be)
{
	pthread_once(&forks_once, watch_forks);
	pollux_t *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->be = be;
	p->wake_rd = p->wake_wr = -1;
	p->stride = fdinfo_offset() + be->fdinfo_size;
	p->stride = (p->stride + alignof(max_align_t) - 1) / alignof(max_align_t) *
	            alignof(max_align_t);
	p->state = calloc(1, be->state_size ? be->state_size : 1);
	p->scratch = malloc(be->fdinfo_size ? be->fdinfo_size : 1);
	if (!p->state || !p->scratch) {
		free(p->state);
		free(p->scratch);
		free(p);
		return NULL;
	}
	if (be->init(p->state, p) < 0) {
		int e = errno;
		free(p->state);
		free(p->scratch);
		free(p);
		errno = e;
		return NULL;
	}
	if (!be->wake && (wake_open(&p->wake_rd, &p->wake_wr) < 0 ||
	                  wake_register(p) < 0)) {
		int e = errno;
		pollux_free(p);
		errno = e;
		return NULL;
	}
	return p;
}

pollux_t *pollux_new(const char *name)
{
	if (!name || strcmp(name, "auto") == 0) {
		const char *env = getenv("POLLUX_BACKEND");
		name = (env && *env && strcmp(env, "auto") != 0) ? env : NULL;
	}
	if (name) {
		if (!pollux__known_name(name)) {
			errno = EINVAL;
			return NULL;
		}
		const struct pollux_backend *be = pollux__lookup(name);
		if (!be) {
			errno = ENOSYS;
			return NULL;
		}
		return create(be);
	}
	/* Automatic: the best backend that can be created here. */
	int err = ENOSYS;
	for (const struct pollux_backend *const *b = pollux__registry(); *b; b++) {
		pollux_t *p = create(*b);
		if (p)
			return p;
		err = errno;
	}
	errno = err;
	return NULL;
}

void pollux_free(pollux_t *p)
{
	if (!p)
		return;
	p->be->fini(p->state);
	wake_close(p);
	free(p->state);
	free(p->scratch);
	free(p->slots);
	free(p);
}

const char *pollux_backend(const pollux_t *p)
{
	if (!p) {
		errno = EINVAL;
		return NULL;
	}
	return p->be->name;
}

unsigned pollux_features(const pollux_t *p)
{
	return p ? p->be->features : 0;
}

int pollux_count(const pollux_t *p)
{
	return p ? p->count : 0;
}

/* ---- registration ---------------------------------------------------- */

static int check_events(const pollux_t *p, unsigned events)
{
	if ((events & ~VALID_BITS) || !(events & INTEREST_BITS)) {
		errno = EINVAL;
		return -1;
	}
	if ((events & POLLUX_EDGE) && !(p->be->features & POLLUX_FEAT_EDGE)) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return 0;
}

int pollux_add(pollux_t *p, int fd, unsigned events, void *data)
{
	if (!p || fd < 0) {
		errno = EINVAL;
		return -1;
	}
	if (check_events(p, events) < 0)
		return -1;
	unsigned k = kernel_events(p, events);
	struct pollux_slot *s;
	if (fd < p->nslots) {
		s = slot(p, fd);
		if (s->flags & PX_SLOT_USED) {
			errno = EEXIST;
			return -1;
		}
		memset(s, 0, p->stride);
		s->tag = new_tag(p);
		if (p->be->add(p->state, fd, k, s->tag, fdinfo_of(p, s)) < 0)
			return -1;
	} else {
		/* Past the table: the backend judges the fd first (a closed
		 * one, INT_MAX, is EBADF, not ENOMEM), then the table grows
		 * and takes the backend's fdinfo from the scratch area. */
		px_tag tag = new_tag(p);
		memset(p->scratch, 0, p->be->fdinfo_size);
		if (p->be->add(p->state, fd, k, tag, p->scratch) < 0)
			return -1;
		if (grow(p, fd) < 0) {
			int e = errno;
			p->be->del(p->state, fd, k, p->scratch);
			errno = e;
			return -1;
		}
		s = slot(p, fd);
		s->tag = tag;
		if (p->be->fdinfo_size)
			memcpy(fdinfo_of(p, s), p->scratch, p->be->fdinfo_size);
	}
	s->events = events & (INTEREST_BITS | MODIFIER_BITS);
	s->flags = PX_SLOT_USED | PX_SLOT_ARMED | PX_SLOT_KERNEL;
	s->data = data;
	p->count++;
	return 0;
}

int pollux_mod(pollux_t *p, int fd, unsigned events, void *data)
{
	if (!p || fd < 0) {
		errno = EINVAL;
		return -1;
	}
	if (check_events(p, events) < 0)
		return -1;
	struct pollux_slot *s = find(p, fd);
	if (!s)
		return -1;
	unsigned want = events & (INTEREST_BITS | MODIFIER_BITS);
	/* Nothing changes for the kernel: no system call. Not for EDGE,
	 * where the same mask re-arms the edge of a fd that is still ready. */
	if ((s->flags & (PX_SLOT_ARMED | PX_SLOT_KERNEL)) ==
	    (PX_SLOT_ARMED | PX_SLOT_KERNEL) && s->events == want &&
	    !(want & POLLUX_EDGE)) {
		s->data = data;
		return 0;
	}
	unsigned k = kernel_events(p, events);
	void *fi = fdinfo_of(p, s);
	int rc = (s->flags & PX_SLOT_KERNEL)
	       ? p->be->mod(p->state, fd, kernel_events(p, s->events), k, s->tag, fi)
	       : p->be->add(p->state, fd, k, s->tag, fi);
	if (rc < 0)
		return -1;
	s->events = want;
	s->flags |= PX_SLOT_ARMED | PX_SLOT_KERNEL;
	s->data = data;
	return 0;
}

/* Takes fd's registration out of the table and the backend: with del, or
 * (closing) with the backend's forget where its kernel drops the fd itself. */
static int unregister(pollux_t *p, int fd, int closing)
{
	if (!p || fd < 0) {
		errno = EINVAL;
		return -1;
	}
	struct pollux_slot *s = find(p, fd);
	if (!s)
		return -1;
	if (s->flags & PX_SLOT_KERNEL) {
		unsigned old = kernel_events(p, s->events);
		void *fi = fdinfo_of(p, s);
		if (closing && p->be->forget)
			p->be->forget(p->state, fd, old, fi);
		else if (p->be->del(p->state, fd, old, fi) < 0 && !closing)
			return -1;
	}
	memset(s, 0, p->stride);
	p->count--;
	return 0;
}

int pollux_del(pollux_t *p, int fd)
{
	return unregister(p, fd, 0);
}

int pollux_close(pollux_t *p, int fd)
{
	return unregister(p, fd, 1) < 0 ? -1 : close(fd);
}

/* ---- rebuilding ------------------------------------------------------ */

#define PX_SLOT_READDED	0x100u	/* this rebuild registered it again */

/*
 * A new kernel object for the backend, holding every armed registration:
 * in a forked child (the parent keeps the old one), or when the backend's
 * object holds registrations no call can remove. A fired ONESHOT stays
 * out until pollux_mod re-arms it; an fd found closed (EBADF) stays out
 * and pollux_del still succeeds. On failure after PX_RB_STALE the old
 * object and the table are as they were.
 */
static int rebuild(pollux_t *p, int phase)
{
	const struct pollux_backend *be = p->be;
	if (be->rebuild(p->state, phase) < 0)
		return -1;
	for (int fd = 0; fd < p->nslots; fd++) {
		struct pollux_slot *s = slot(p, fd);
		if (!(s->flags & PX_SLOT_USED) || !(s->flags & PX_SLOT_ARMED))
			continue;
		if (phase == PX_RB_STALE && !(s->flags & PX_SLOT_KERNEL))
			continue;
		if (be->add(p->state, fd, kernel_events(p, s->events), s->tag,
		            fdinfo_of(p, s)) == 0) {
			s->flags |= PX_SLOT_READDED;
		} else if (errno != EBADF) {
			int e = errno;
			for (int g = 0; g <= fd; g++)
				slot(p, g)->flags &= ~PX_SLOT_READDED;
			if (phase == PX_RB_STALE)
				be->rebuild(p->state, PX_RB_ABORT);
			errno = e;
			return -1;
		}
	}
	/* The new object is in place even when finishing failed (it could
	 * not keep every queued event): the table follows it either way. */
	int rc = be->rebuild(p->state, PX_RB_DONE);
	int e = errno;
	for (int fd = 0; fd < p->nslots; fd++) {
		struct pollux_slot *s = slot(p, fd);
		if (s->flags & PX_SLOT_READDED)
			s->flags = (s->flags & ~PX_SLOT_READDED) | PX_SLOT_KERNEL;
		else
			s->flags &= ~PX_SLOT_KERNEL;
	}
	errno = e;
	return rc;
}

/* A forked child's own wake-up, under the same numbers as the parent's
 * (which stays the parent's), so that no number the caller may be about
 * to reuse is taken. */
static int wake_reopen(pollux_t *p)
{
	int rd, wr;
	if (wake_open(&rd, &wr) < 0)
		return -1;
	int ok = 1;
	if (rd == wr && p->wake_rd != p->wake_wr) {
		/* The parent had a pipe, we got an eventfd: keep the kind. */
		close(rd);
		int fds[2];
		if (pipe(fds) < 0)
			return -1;
		rd = fds[0];
		wr = fds[1];
		ok = cloexec_nonblock(rd) == 0 && cloexec_nonblock(wr) == 0;
	}
	if (ok)
		ok = dup2(rd, p->wake_rd) == p->wake_rd &&
		     (p->wake_rd == p->wake_wr || dup2(wr, p->wake_wr) == p->wake_wr);
	int e = errno;
	close(rd);
	if (wr != rd)
		close(wr);
	if (!ok) {
		errno = e;
		return -1;
	}
	/* dup2 clears close-on-exec on the copies. */
	fcntl(p->wake_rd, F_SETFD, FD_CLOEXEC);
	fcntl(p->wake_wr, F_SETFD, FD_CLOEXEC);
	atomic_store(&p->wake_pending, 0);
	return 0;
}

int pollux_reinit(pollux_t *p)
{
	if (!p) {
		errno = EINVAL;
		return -1;
	}
	if (p->wake_rd >= 0 && wake_reopen(p) < 0)
		return -1;
	if (!p->be->rebuild)
		return 0;
	return rebuild(p, PX_RB_FORK);
}

/* ---- waiting --------------------------------------------------------- */

int px_timeout_ms(long long timeout_ns)
{
	if (timeout_ns < 0)
		return -1;
	long long ms = timeout_ns / NS_PER_MS + (timeout_ns % NS_PER_MS != 0);
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

struct timespec *px_timespec(long long timeout_ns, struct timespec *ts)
{
	if (timeout_ns < 0)
		return NULL;
	ts->tv_sec = (time_t)(timeout_ns / NS_PER_S);
	ts->tv_nsec = (long)(timeout_ns % NS_PER_S);
	return ts;
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* Masks what the backend reported to the interest, drops what belongs to
 * an older registration, fills in data and disarms ONESHOT fds; compacts
 * ev in place and returns the count. *woken: the wake-up was among them. */
static int deliver(pollux_t *p, struct pollux_event *ev, int n, int *woken)
{
	int out = 0;
	for (int i = 0; i < n; i++) {
		int fd = ev[i].fd;
		if (fd < 0 || fd >= p->nslots)
			continue;
		struct pollux_slot *s = slot(p, fd);
		if ((s->flags & (PX_SLOT_USED | PX_SLOT_ARMED)) !=
		    (PX_SLOT_USED | PX_SLOT_ARMED))
			continue;
		px_tag tag = (px_tag)(uintptr_t)ev[i].data;
		if (tag && tag != s->tag)
			continue;
		if (s->flags & PX_SLOT_WAKE) {
			wake_drain(p);
			*woken = 1;
			continue;
		}
		unsigned e = ev[i].events & ((s->events & INTEREST_BITS) | REPORTED_BITS);
		if (!e)
			continue;
		if (s->events & POLLUX_ONESHOT) {
			s->flags &= ~PX_SLOT_ARMED;
			if (!(p->be->caps & PX_CAP_ONESHOT)) {
				/* Emulated: take it out of the kernel set until
				 * pollux_mod puts it back. */
				if (p->be->del(p->state, fd, kernel_events(p, s->events),
				               fdinfo_of(p, s)) == 0)
					s->flags &= ~PX_SLOT_KERNEL;
			}
		}
		ev[out].fd = fd;
		ev[out].events = e;
		ev[out].data = s->data;
		out++;
	}
	return out;
}

int pollux_wait_ns(pollux_t *p, struct pollux_event *ev, int maxev,
                   long long timeout_ns)
{
	if (!p || !ev || maxev < 1) {
		errno = EINVAL;
		return -1;
	}
	if (timeout_ns < 0)
		timeout_ns = -1;
	long long deadline = timeout_ns > 0 ? now_ns() + timeout_ns : 0;
	long long left = timeout_ns;
	for (;;) {
		int n = p->be->wait(p->state, ev, maxev, left);
		if (n == 0)
			return 0;
		if (n > 0) {
			int woken = 0;
			int out = deliver(p, ev, n, &woken);
			if (out > 0 || woken || timeout_ns == 0)
				return out;
		} else if (n == PX_REBUILD) {
			if (rebuild(p, PX_RB_STALE) < 0)
				return -1;
		} else if (n != PX_AGAIN) {
			return -1;
		}
		/* Woken by something the caller must not see, or the backend
		 * changed only its own state: wait on with what is left. */
		if (timeout_ns > 0) {
			left = deadline - now_ns();
			if (left <= 0)
				return 0;
		}
	}
}

int pollux_wait(pollux_t *p, struct pollux_event *ev, int maxev, int timeout_ms)
{
	return pollux_wait_ns(p, ev, maxev,
	                      timeout_ms < 0 ? -1 : timeout_ms * NS_PER_MS);
}
