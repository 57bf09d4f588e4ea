/* select.c: the select(2) backend. It keeps its own bitmaps, grown to the
 * highest registered fd, so that on kernels that take larger sets (Linux,
 * the BSDs) it has no FD_SETSIZE cap and never uses FD_SET past it. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#ifdef HAVE_SYS_SELECT_H
#include <sys/select.h>
#endif
#include <sys/time.h>

#include "backend.h"

/* The kernel reads an fd_set as an array of these, fd f at bit f % WBITS
 * of word f / WBITS (glibc's __fd_mask, the BSDs' fd_mask). */
typedef unsigned long word_t;
#define WBITS	((int)(sizeof(word_t) * CHAR_BIT))

#if defined(__GNUC__) || defined(__clang__)
#define lowest_bit(m)	__builtin_ctzl(m)
#else
static int lowest_bit(word_t m)
{
	int b = 0;
	while (!(m & 1)) {
		m >>= 1;
		b++;
	}
	return b;
}
#endif

#ifdef HAVE_SELECT_LARGE
#define SELECT_FEATURES	POLLUX_FEAT_NOLIMIT
#else
#define SELECT_FEATURES	0u
#endif

struct select_state {
	word_t *rd, *wr;	/* what is registered */
	word_t *rout, *wout;	/* what select is handed and writes back */
	int nrd, nwr;		/* bits set in rd and wr: an empty set is
				   passed as NULL, sparing the kernel a scan */
	int words;		/* length of each of the four arrays */
	int maxfd;		/* no registered fd above it; -1: none */
	int dirty;		/* maxfd may be too high after a del */
	int cursor;		/* fd the next scan starts at */
};

static int select_init(void *state, struct pollux *p)
{
	struct select_state *st = state;
	(void)p;
	st->maxfd = -1;
	return 0;
}

static void select_fini(void *state)
{
	struct select_state *st = state;
	free(st->rd);
	free(st->wr);
	free(st->rout);
	free(st->wout);
}

static int grow_to(word_t **a, int old, int n)
{
	word_t *b = realloc(*a, (size_t)n * sizeof *b);
	if (!b)
		return -1;
	memset(b + old, 0, (size_t)(n - old) * sizeof *b);
	*a = b;
	return 0;
}

static int ensure(struct select_state *st, int fd)
{
#ifndef HAVE_SELECT_LARGE
	if (fd >= FD_SETSIZE) {
		errno = ERANGE;
		return -1;
	}
#endif
	int need = fd / WBITS + 1;
	if (need <= st->words)
		return 0;
	int n = px_next_cap(st->words, need, 1);
	/* Grow all four before publishing the new length, so a failure
	 * leaves the old sizes consistent (the extra words are zeroed). */
	if (grow_to(&st->rd, st->words, n) < 0 || grow_to(&st->wr, st->words, n) < 0 ||
	    grow_to(&st->rout, st->words, n) < 0 || grow_to(&st->wout, st->words, n) < 0)
		return -1;
	st->words = n;
	return 0;
}

static void set_bit(word_t *a, int *count, int fd, int on)
{
	word_t bit = (word_t)1 << (fd % WBITS);
	int w = fd / WBITS, was = (a[w] & bit) != 0;
	a[w] = on ? a[w] | bit : a[w] & ~bit;
	*count += on - was;
}

static void set_bits(struct select_state *st, int fd, unsigned events)
{
	set_bit(st->rd, &st->nrd, fd, (events & POLLUX_IN) != 0);
	set_bit(st->wr, &st->nwr, fd, (events & POLLUX_OUT) != 0);
}

static int select_add(void *state, int fd, unsigned events, px_tag tag,
                      void *fi)
{
	struct select_state *st = state;
	(void)tag;
	(void)fi;
	/* select(2) would fail every wait with EBADF instead. */
	if (fcntl(fd, F_GETFD) < 0) {
		errno = EBADF;
		return -1;
	}
	if (ensure(st, fd) < 0)
		return -1;
	set_bits(st, fd, events);
	if (fd > st->maxfd)
		st->maxfd = fd;
	return 0;
}

static int select_mod(void *state, int fd, unsigned old, unsigned events,
                      px_tag tag, void *fi)
{
	struct select_state *st = state;
	(void)old;
	(void)tag;
	(void)fi;
	set_bits(st, fd, events);
	if (fd > st->maxfd)
		st->maxfd = fd;	/* lowered when it was dropped as closed */
	return 0;
}

static int select_del(void *state, int fd, unsigned old, void *fi)
{
	struct select_state *st = state;
	(void)old;
	(void)fi;
	set_bits(st, fd, 0);
	if (fd == st->maxfd)
		st->dirty = 1;	/* found again lazily, once per wait at most */
	return 0;
}

static void fix_maxfd(struct select_state *st)
{
	int w = st->maxfd / WBITS;
	while (w >= 0 && !(st->rd[w] | st->wr[w]))
		w--;
	if (w < 0) {
		st->maxfd = -1;
	} else {
		word_t m = st->rd[w] | st->wr[w];
		int b = WBITS - 1;
		while (!(m & ((word_t)1 << b)))
			b--;
		st->maxfd = w * WBITS + b;
	}
	st->dirty = 0;
}

/* select failed with EBADF: a registered fd was closed. Drop every closed
 * one from the sets, as epoll drops a closed fd. */
static void drop_closed(struct select_state *st)
{
	for (int fd = 0; fd <= st->maxfd; fd++) {
		word_t bit = (word_t)1 << (fd % WBITS);
		int w = fd / WBITS;
		if (((st->rd[w] | st->wr[w]) & bit) && fcntl(fd, F_GETFD) < 0 &&
		    errno == EBADF)
			set_bits(st, fd, 0);
	}
	st->dirty = 1;
}

static int select_wait(void *state, struct pollux_event *ev, int maxev,
                       long long timeout_ns)
{
	struct select_state *st = state;
	if (st->dirty)
		fix_maxfd(st);
	int nfds = st->maxfd + 1;
	int words = nfds ? (st->maxfd / WBITS + 1) : 0;
	word_t *rset = words && st->nrd ? st->rout : NULL;
	word_t *wset = words && st->nwr ? st->wout : NULL;
	if (rset)
		memcpy(rset, st->rd, (size_t)words * sizeof(word_t));
	if (wset)
		memcpy(wset, st->wr, (size_t)words * sizeof(word_t));
	struct timeval tv, *tvp = NULL;
	if (timeout_ns >= 0) {
		/* select counts microseconds: round up, never end early. */
		long long us = timeout_ns / 1000 + (timeout_ns % 1000 != 0);
		tv.tv_sec = (time_t)(us / 1000000);
		tv.tv_usec = (suseconds_t)(us % 1000000);
		tvp = &tv;
	}
	int n = select(nfds, (fd_set *)(void *)rset, (fd_set *)(void *)wset,
	               NULL, tvp);
	if (n < 0) {
		if (errno == EBADF) {
			drop_closed(st);
			return PX_AGAIN;
		}
		return -1;
	}
	if (n == 0)
		return 0;

	/* n counts a bit per set: stop once all of them are found. The scan
	 * starts at the cursor and wraps, a word at a time. */
	int start = st->cursor < nfds ? st->cursor : 0;
	int w0 = start / WBITS, b0 = start % WBITS;
	int out = 0, seen = 0, next = start;
	for (int k = 0; k <= words && seen < n && out < maxev; k++) {
		int w = (w0 + k) % words;
		word_t r = rset ? rset[w] : 0, x = wset ? wset[w] : 0;
		word_t m = r | x;
		if (k == 0)
			m &= ~(word_t)0 << b0;		/* first pass: from the cursor on */
		else if (k == words)
			m &= ((word_t)1 << b0) - 1;	/* wrapped: what was skipped */
		while (m && seen < n && out < maxev) {
			int b = lowest_bit(m);
			word_t bit = (word_t)1 << b;
			m &= m - 1;
			unsigned e = ((r & bit) ? POLLUX_IN : 0) | ((x & bit) ? POLLUX_OUT : 0);
			seen += ((r & bit) != 0) + ((x & bit) != 0);
			ev[out].fd = w * WBITS + b;
			ev[out].events = e;
			ev[out].data = NULL;	/* never outlives its del */
			out++;
			next = w * WBITS + b + 1;
		}
	}
	st->cursor = next < nfds ? next : 0;
	return out;
}

const struct pollux_backend pollux_backend_select = {
	.name = "select",
	.features = SELECT_FEATURES,
	.caps = 0,
	.state_size = sizeof(struct select_state),
	.fdinfo_size = 0,
	.init = select_init,
	.fini = select_fini,
	.add = select_add,
	.mod = select_mod,
	.del = select_del,
	.wait = select_wait,
	.rebuild = NULL,
	.wake = NULL,
};
