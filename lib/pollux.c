/* pollux.c: the core. Everything that is the same on every backend lives
 * here: argument checks and errno, the fd-indexed table, ONESHOT
 * bookkeeping, backend selection and the environment variable. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"

#define INTEREST_BITS	(POLLUX_IN | POLLUX_OUT)
#define REPORTED_BITS	(POLLUX_ERR | POLLUX_HUP)
#define MODIFIER_BITS	(POLLUX_ONESHOT | POLLUX_EDGE)
/* ERR and HUP are accepted in a mask, as poll(2) accepts them, and ignored:
 * they are reported whether asked for or not. */
#define VALID_BITS	(INTEREST_BITS | REPORTED_BITS | MODIFIER_BITS)

const char *pollux_version(void)
{
	return PACKAGE_VERSION;
}

static pollux_t *create(const struct pollux_backend *be)
{
	pollux_t *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->be = be;
	if (be->init(p) < 0) {
		int e = errno;
		free(p);
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
	p->be->free(p);
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

/* The mask as the backend is to see it. */
static unsigned kernel_events(const pollux_t *p, unsigned events)
{
	unsigned k = events & (INTEREST_BITS | POLLUX_EDGE);
	if (p->be->caps & PX_CAP_ONESHOT)
		k |= events & POLLUX_ONESHOT;
	return k;
}

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
	struct pollux_slot *s = px_grow(p->slots, &p->nslots, fd + 1, sizeof *s, 64);
	if (!s)
		return -1;
	for (int i = old; i < p->nslots; i++)
		s[i] = (struct pollux_slot){ .bslot = -1 };
	p->slots = s;
	return 0;
}

static struct pollux_slot *find(pollux_t *p, int fd)
{
	if (fd < p->nslots && (p->slots[fd].flags & PX_SLOT_USED))
		return &p->slots[fd];
	errno = ENOENT;
	return NULL;
}

int pollux_add(pollux_t *p, int fd, unsigned events, void *data)
{
	if (!p || fd < 0) {
		errno = EINVAL;
		return -1;
	}
	if (check_events(p, events) < 0)
		return -1;
	/* select and poll would take a closed fd silently; epoll would not. */
	if (fcntl(fd, F_GETFD) < 0) {
		errno = EBADF;
		return -1;
	}
	if (grow(p, fd) < 0)
		return -1;
	struct pollux_slot *s = &p->slots[fd];
	if (s->flags & PX_SLOT_USED) {
		errno = EEXIST;
		return -1;
	}
	s->bslot = -1;
	s->gen++;
	if (p->be->add(p, fd, kernel_events(p, events)) < 0)
		return -1;
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
	unsigned k = kernel_events(p, events);
	int rc = (s->flags & PX_SLOT_KERNEL) ? p->be->mod(p, fd, k)
	                                      : p->be->add(p, fd, k);
	if (rc < 0)
		return -1;
	s->events = events & (INTEREST_BITS | MODIFIER_BITS);
	s->flags |= PX_SLOT_ARMED | PX_SLOT_KERNEL;
	s->data = data;
	return 0;
}

int pollux_del(pollux_t *p, int fd)
{
	if (!p || fd < 0) {
		errno = EINVAL;
		return -1;
	}
	struct pollux_slot *s = find(p, fd);
	if (!s)
		return -1;
	if ((s->flags & PX_SLOT_KERNEL) && p->be->del(p, fd) < 0)
		return -1;
	*s = (struct pollux_slot){ .bslot = -1, .gen = s->gen };
	p->count--;
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Masks what the backend reported to the interest, fills in data and
 * disarms ONESHOT fds; compacts ev in place and returns the count. */
static int deliver(pollux_t *p, struct pollux_event *ev, int n)
{
	int out = 0;
	for (int i = 0; i < n; i++) {
		int fd = ev[i].fd;
		if (fd < 0 || fd >= p->nslots)
			continue;
		struct pollux_slot *s = &p->slots[fd];
		if ((s->flags & (PX_SLOT_USED | PX_SLOT_ARMED)) !=
		    (PX_SLOT_USED | PX_SLOT_ARMED))
			continue;
		unsigned e = ev[i].events & ((s->events & INTEREST_BITS) | REPORTED_BITS);
		if (!e)
			continue;
		if (s->events & POLLUX_ONESHOT) {
			s->flags &= ~PX_SLOT_ARMED;
			if (!(p->be->caps & PX_CAP_ONESHOT)) {
				/* Emulated: take it out of the kernel set until
				 * pollux_mod puts it back. */
				if (p->be->del(p, fd) == 0)
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

int pollux_wait(pollux_t *p, struct pollux_event *ev, int maxev, int timeout_ms)
{
	if (!p || !ev || maxev < 1) {
		errno = EINVAL;
		return -1;
	}
	if (timeout_ms < 0)
		timeout_ms = -1;
	long long deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	int left = timeout_ms;
	for (;;) {
		int n = p->be->wait(p, ev, maxev, left);
		if (n == 0)
			return 0;
		if (n > 0) {
			int out = deliver(p, ev, n);
			if (out > 0 || timeout_ms == 0)
				return out;
		} else if (errno != EAGAIN) {
			return -1;
		}
		/* Woken by something the caller must not see, or the backend
		 * dropped closed fds (EAGAIN: it cannot happen twice for the
		 * same fd): wait on with what is left of the timeout. */
		if (timeout_ms > 0) {
			long long rem = deadline - now_ms();
			if (rem <= 0)
				return 0;
			left = (int)rem;
		}
	}
}

int pollux_reinit(pollux_t *p)
{
	if (!p) {
		errno = EINVAL;
		return -1;
	}
	if (!p->be->reinit)
		return 0;
	if (p->be->reinit(p) < 0)
		return -1;
	/* The new kernel object is empty: register again what is armed. A
	 * fired ONESHOT stays out until pollux_mod re-arms it. */
	for (int fd = 0; fd < p->nslots; fd++) {
		struct pollux_slot *s = &p->slots[fd];
		if (!(s->flags & PX_SLOT_USED))
			continue;
		s->bslot = -1;
		s->flags &= ~PX_SLOT_KERNEL;
		if (!(s->flags & PX_SLOT_ARMED))
			continue;
		if (p->be->add(p, fd, kernel_events(p, s->events)) < 0) {
			if (errno == EBADF)
				continue;	/* closed since; del will still succeed */
			return -1;
		}
		s->flags |= PX_SLOT_KERNEL;
	}
	return 0;
}
