/* conformance_xcheck.c: thousands of socketpairs (and some regular files)
 * with random interest (some ONESHOT) and random traffic, each wait
 * cross-checked against what poll() itself says. */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conformance.h"

struct xpair {
	int r, w;		/* r is registered, w its peer (-1: r is a file) */
	unsigned interest;	/* IN, OUT or both */
	int oneshot;		/* registered with POLLUX_ONESHOT */
	int armed;		/* not a ONESHOT that has been reported */
	int reg, peer_open, small;
	/* From poll() in the current round. */
	unsigned must, may, hup_err;
	int seen;
};

#define NXPAIRS 3000
/* Every so many entries is a regular file instead of a socketpair. */
#define NFILE_EVERY 50
#define NROUNDS 5

static unsigned random_interest(uint64_t *rs)
{
	static const unsigned choice[] = { POLLUX_IN, POLLUX_OUT,
	                                   POLLUX_IN | POLLUX_OUT };
	return choice[ct_rand(rs) % 3];
}

/* Draws a new registration for q: interest, and ONESHOT one time in 5. */
static unsigned redraw(struct xpair *q, uint64_t *rs)
{
	q->interest = random_interest(rs);
	q->oneshot = ct_rand(rs) % 5 == 0;
	q->armed = 1;
	return q->interest | (q->oneshot ? POLLUX_ONESHOT : 0u);
}

/* Fills r's send buffer so that r is no longer writable. */
static void fill(int fd)
{
	char buf[1024];

	memset(buf, 'f', sizeof buf);
	while (send(fd, buf, sizeof buf, MSG_NOSIGNAL) > 0)
		;
	ct_check(errno == EAGAIN || errno == EWOULDBLOCK, "fill fd %d: %s",
	         fd, strerror(errno));
}

static void mutate(pollux_t *p, struct xpair *x, int n, uint64_t *rs)
{
	for (int k = 0; k < n; k++) {
		struct xpair *q = &x[k];
		unsigned r = ct_rand(rs) % 100;

		if (r < 30 && q->peer_open) {
			ct_put(q->w, 1 + (int)(ct_rand(rs) % 3));
		} else if (r < 45) {
			(void)ct_drain(q->r);
		} else if (r < 60) {
			if (q->reg) {
				unsigned m = redraw(q, rs);
				ct_check(pollux_mod(p, q->r, m, q) == 0,
				         "mod fd %d: %s", q->r, strerror(errno));
			}
		} else if (r < 66) {
			if (q->reg) {
				ct_check(pollux_del(p, q->r) == 0, "del fd %d: %s",
				         q->r, strerror(errno));
			} else {
				unsigned m = redraw(q, rs);
				ct_check(pollux_add(p, q->r, m, q) == 0,
				         "add fd %d: %s", q->r, strerror(errno));
			}
			q->reg = !q->reg;
		} else if (r < 67 && q->peer_open) {
			close(q->w);
			q->peer_open = 0;
		} else if (r >= 80 && q->small && q->peer_open) {
			if (r < 90)
				(void)ct_drain(q->w);
			else
				fill(q->r);
		}
	}
}

/* Asks poll() what each registered fd is, and derives what pollux must
 * report (must), may report (may: select folds HUP/ERR into readable and
 * ERR into writable), and the HUP/ERR bits. Returns how many fds must be
 * reported. */
static int oracle(struct xpair *x, int n, struct pollfd *pfd, int is_select)
{
	int nreg = 0, must = 0;

	for (int k = 0; k < n; k++) {
		if (!x[k].reg)
			continue;
		pfd[nreg].fd = x[k].r;
		pfd[nreg].events = (short)((x[k].interest & POLLUX_IN ? POLLIN : 0) |
		                           (x[k].interest & POLLUX_OUT ? POLLOUT : 0));
		pfd[nreg].revents = 0;
		nreg++;
	}
	ct_check(poll(pfd, (nfds_t)nreg, 0) >= 0, "poll: %s",
	         strerror(errno));
	for (int k = 0, j = 0; k < n; k++) {
		struct xpair *q = &x[k];
		short rev;

		q->seen = 0;
		q->must = q->may = q->hup_err = 0;
		if (!q->reg)
			continue;
		rev = pfd[j++].revents;
		if (!q->armed)
			continue;	/* a fired ONESHOT: nothing at all */
		if ((q->interest & POLLUX_IN) && (rev & POLLIN))
			q->must |= POLLUX_IN;
		if ((q->interest & POLLUX_OUT) && (rev & POLLOUT))
			q->must |= POLLUX_OUT;
		q->may = q->must;
		if ((q->interest & POLLUX_IN) && (rev & (POLLHUP | POLLERR)))
			q->may |= POLLUX_IN;
		if ((q->interest & POLLUX_OUT) && (rev & POLLERR))
			q->may |= POLLUX_OUT;
		q->hup_err = (rev & POLLHUP ? POLLUX_HUP : 0u) |
		             (rev & POLLERR ? POLLUX_ERR : 0u);
		if (q->must || (!is_select && q->hup_err))
			must++;
	}
	return must;
}

/* One reported event against the oracle; returns 1 if it is the first
 * report of an fd that had to be reported. */
static int check_event(const struct pollux_event *e, struct xpair *x,
                       int maxfd, const int *fd2k, int is_select,
                       const char *where)
{
	int fd = e->fd, k = fd >= 0 && fd <= maxfd ? fd2k[fd] : -1, first;
	unsigned io = e->events & (POLLUX_IN | POLLUX_OUT);
	struct xpair *q;

	ct_check(k >= 0 && x[k].reg, "%s: fd %d reported but not registered",
	         where, fd);
	q = &x[k];
	ct_check(q->armed, "%s: ONESHOT fd %d reported again before "
	         "pollux_mod re-armed it", where, fd);
	ct_check(e->data == q, "%s: fd %d data %p, want %p", where, fd,
	         e->data, (void *)q);
	ct_check(q->must || q->may || q->hup_err, "%s: fd %d (interest 0x%x) "
	         "reported 0x%x but poll() says it is not ready", where, fd,
	         q->interest, e->events);
	ct_check((io & q->must) == q->must && (io & ~q->may) == 0,
	         "%s: fd %d interest 0x%x reported 0x%x, poll() says 0x%x%s",
	         where, fd, q->interest, e->events, q->must,
	         q->may != q->must ? " (some may)" : "");
	/* select cannot hear HUP or ERR; the others say what poll() says. */
	if (!is_select)
		ct_check((e->events & (POLLUX_HUP | POLLUX_ERR)) == q->hup_err,
		         "%s: fd %d HUP/ERR 0x%x, poll() says 0x%x", where, fd,
		         e->events, q->hup_err);
	first = !q->seen && (q->must || (!is_select && q->hup_err));
	q->seen = 1;
	if (q->oneshot)
		q->armed = 0;
	return first;
}

/* Waits with maxev until every fd that must be reported was, checking
 * each reported event against the oracle. */
static void cross_check(pollux_t *p, struct xpair *x, int n, int maxfd,
                        const int *fd2k, int maxev, struct pollux_event *ev,
                        int must, int is_select, int round, uint64_t seed)
{
	int budget = must ? ct_wait_budget(must, maxev) : 1, nseen = 0, waits;
	char where[160];

	snprintf(where, sizeof where, "%s round %d maxev %d "
	         "(POLLUX_TEST_SEED=%llu)", pollux_backend(p), round, maxev,
	         (unsigned long long)seed);
	for (waits = 0; waits < budget && (nseen < must || waits == 0);
	     waits++) {
		int got = ct_wait(p, ev, maxev, must ? CT_WAIT_MS : 0);

		ct_check(!must || got > 0, "%s: %d fds ready but wait returned "
		         "0", where, must - nseen);
		for (int j = 0; j < got; j++)
			nseen += check_event(&ev[j], x, maxfd, fd2k, is_select,
			                     where);
	}
	for (int k = 0; k < n; k++) {
		struct xpair *q = &x[k];
		ct_check(q->seen || !(q->must || (!is_select && q->hup_err)),
		         "%s, %d waits: fd %d (interest 0x%x) is ready (poll() "
		         "says 0x%x%s) but was never reported", where, waits, q->r,
		         q->interest, q->must, q->hup_err ? " + HUP/ERR" : "");
	}
}

START_TEST(thousands_cross_checked_with_poll)
{
	pollux_t *p = ct_new(_i);
	int is_select = ct_is(_i, "select"), n = NXPAIRS, maxfd = 0;
	uint64_t seed = ct_seed(), rs = seed + (uint64_t)_i;
	struct xpair *x;
	struct pollfd *pfd;
	struct pollux_event *ev;
	int *fd2k;

	/* A select capped at FD_SETSIZE gets as many pairs as fit under it. */
	if (!(pollux_features(p) & POLLUX_FEAT_NOLIMIT))
		n = (FD_SETSIZE - 64) / 2;
	ct_need_nofile(2L * n + 64);
	x = calloc((size_t)n, sizeof *x);
	pfd = calloc((size_t)n, sizeof *pfd);
	ev = calloc((size_t)n + 1, sizeof *ev);
	ck_assert(x && pfd && ev);
	for (int k = 0; k < n; k++) {
		int sv[2];
		if (k % NFILE_EVERY == NFILE_EVERY - 1) {
			/* A regular file: always ready, whatever is done to it. */
			x[k].r = ct_temp_file((int)(ct_rand(&rs) % 2));
			x[k].w = -1;
			maxfd = x[k].r > maxfd ? x[k].r : maxfd;
			ct_check(pollux_add(p, x[k].r, redraw(&x[k], &rs), &x[k]) == 0,
			         "add file fd %d: %s", x[k].r, strerror(errno));
			x[k].reg = 1;
			continue;
		}
		ct_pair(sv);
		x[k].r = sv[0];
		x[k].w = sv[1];
		x[k].peer_open = 1;
		if (k % 10 == 0) {
			int sz = 4096;
			x[k].small = 1;
			ct_check(setsockopt(x[k].r, SOL_SOCKET, SO_SNDBUF, &sz,
			                    sizeof sz) == 0, "SO_SNDBUF: %s",
			         strerror(errno));
		}
		maxfd = sv[0] > maxfd ? sv[0] : maxfd;
		maxfd = sv[1] > maxfd ? sv[1] : maxfd;
		ct_check(pollux_add(p, x[k].r, redraw(&x[k], &rs), &x[k]) == 0,
		         "add fd %d: %s", x[k].r, strerror(errno));
		x[k].reg = 1;
	}
	fd2k = malloc(((size_t)maxfd + 1) * sizeof *fd2k);
	ck_assert(fd2k != NULL);
	for (int f = 0; f <= maxfd; f++)
		fd2k[f] = -1;
	for (int k = 0; k < n; k++)
		fd2k[x[k].r] = k;

	for (int round = 0; round < NROUNDS; round++) {
		int nreg = 0, must;

		if (round > 0)
			mutate(p, x, n, &rs);
		for (int k = 0; k < n; k++)
			nreg += x[k].reg;
		ck_assert_int_eq(pollux_count(p), nreg);
		must = oracle(x, n, pfd, is_select);
		/* Room for everything, then a small maxev over several waits. */
		cross_check(p, x, n, maxfd, fd2k, n + 1, ev, must, is_select, round,
		            seed);
		must = oracle(x, n, pfd, is_select);
		cross_check(p, x, n, maxfd, fd2k, 64, ev, must, is_select, round,
		            seed);
	}
	pollux_free(p);
	for (int k = 0; k < n; k++) {
		close(x[k].r);
		if (x[k].peer_open)
			close(x[k].w);
	}
	free(fd2k);
	free(ev);
	free(pfd);
	free(x);
}
END_TEST

void ct_add_xcheck(TCase *tc, int idx)
{
	ct_add(tc, thousands_cross_checked_with_poll, idx);
}
