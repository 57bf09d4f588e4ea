/* conformance_scale.c: many ready fds with a small maxev (no starvation),
 * fds past 1024 and 4096, and thousands of socketpairs cross-checked
 * against what poll() itself reports. */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conformance.h"

/* A spec-conforming wait may return fewer than maxev events (say, while a
 * result buffer grows), so "no fd starves" is checked as: every ready fd
 * shows up within twice the minimum number of waits, plus some slack. */
static int wait_budget(int ready, int maxev)
{
	return 2 * ((ready + maxev - 1) / maxev) + 16;
}

#define NHUNDRED 100

START_TEST(hundred_ready_maxev10_none_starves)
{
	pollux_t *p = ct_new(_i);
	static int fds[NHUNDRED][2];
	char seen[NHUNDRED] = { 0 };
	struct pollux_event ev[10];
	int nseen = 0, waits = 0, budget = wait_budget(NHUNDRED, 10);

	for (int k = 0; k < NHUNDRED; k++) {
		ct_pair(fds[k]);
		ct_put(fds[k][1], 1);
		ck_assert_int_eq(pollux_add(p, fds[k][0], POLLUX_IN, fds[k]), 0);
	}
	/* Nothing is read: all 100 stay ready, level-triggered. */
	while (nseen < NHUNDRED && waits < budget) {
		int n = ct_wait(p, ev, 10, CT_WAIT_MS);
		waits++;
		ct_check(n >= 1, "%s: 100 fds ready, wait returned 0",
		              ct_name(_i));
		for (int j = 0; j < n; j++) {
			int (*pair)[2] = ev[j].data;
			int k = (int)(pair - fds);
			ct_check(k >= 0 && k < NHUNDRED && fds[k][0] == ev[j].fd,
			              "%s: fd %d came with foreign data %p",
			              ct_name(_i), ev[j].fd, ev[j].data);
			ck_assert_uint_eq(ev[j].events, POLLUX_IN);
			if (!seen[k]++)
				nseen++;
		}
	}
	ct_check(nseen == NHUNDRED, "%s: after %d waits of maxev 10 only "
	              "%d of 100 ready fds were ever reported (starvation)",
	              ct_name(_i), waits, nseen);
	pollux_free(p);
	for (int k = 0; k < NHUNDRED; k++) {
		close(fds[k][0]);
		close(fds[k][1]);
	}
}
END_TEST

START_TEST(hundred_ready_maxev10_drained)
{
	pollux_t *p = ct_new(_i);
	static int fds[NHUNDRED][2];
	char seen[NHUNDRED] = { 0 };
	struct pollux_event ev[10];
	int nseen = 0, waits = 0;

	for (int k = 0; k < NHUNDRED; k++) {
		ct_pair(fds[k]);
		ct_put(fds[k][1], 1);
		ck_assert_int_eq(pollux_add(p, fds[k][0], POLLUX_IN, fds[k]), 0);
	}
	/* Each fd is drained when reported, so it must never come again. */
	while (nseen < NHUNDRED && waits < NHUNDRED) {
		int n = ct_wait(p, ev, 10, CT_WAIT_MS);
		waits++;
		ct_check(n >= 1, "%s: %d fds still ready, wait returned 0",
		              ct_name(_i), NHUNDRED - nseen);
		for (int j = 0; j < n; j++) {
			int k = (int)((int (*)[2])ev[j].data - fds);
			ct_check(k >= 0 && k < NHUNDRED && fds[k][0] == ev[j].fd,
			              "%s: fd %d came with foreign data", ct_name(_i),
			              ev[j].fd);
			ct_check(!seen[k], "%s: fd %d reported again after it "
			              "was drained", ct_name(_i), ev[j].fd);
			ck_assert_uint_eq(ev[j].events, POLLUX_IN);
			ck_assert_int_eq(ct_drain(ev[j].fd), 1);
			seen[k] = 1;
			nseen++;
		}
	}
	ck_assert_int_eq(nseen, NHUNDRED);
	ct_expect_none(p);
	pollux_free(p);
	for (int k = 0; k < NHUNDRED; k++) {
		close(fds[k][0]);
		close(fds[k][1]);
	}
}
END_TEST

/* Always-ready regular files beside ready sockets, maxev 3: every one of
 * them is reported within the budget, none twice in one wait. */
START_TEST(files_and_sockets_none_starve)
{
	enum { NF = 5, NS = 5 };
	pollux_t *p = ct_new(_i);
	struct pollux_event ev[3];
	int files[NF], socks[NS][2], nseen = 0, waits;
	int budget = wait_budget(NF + NS, 3);
	char seen[NF + NS] = { 0 };

	for (int k = 0; k < NF; k++) {
		files[k] = ct_temp_file(k % 2);
		ck_assert_int_eq(pollux_add(p, files[k], POLLUX_IN, &seen[k]), 0);
	}
	for (int k = 0; k < NS; k++) {
		ct_pair(socks[k]);
		ct_put(socks[k][1], 1);
		ck_assert_int_eq(pollux_add(p, socks[k][0], POLLUX_IN,
		                            &seen[NF + k]), 0);
	}
	for (waits = 0; nseen < NF + NS && waits < budget; waits++) {
		int n = ct_wait(p, ev, 3, CT_WAIT_MS);
		ck_assert_msg(n >= 1, "%s: 10 fds ready, wait returned 0",
		              ct_name(_i));
		for (int j = 0; j < n; j++) {
			char *c = ev[j].data;
			int k = (int)(c - seen);
			ct_check(k >= 0 && k < NF + NS && ev[j].fd == (k < NF ?
			         files[k] : socks[k - NF][0]), "%s: fd %d came with "
			         "foreign data", ct_name(_i), ev[j].fd);
			ck_assert_uint_eq(ev[j].events, POLLUX_IN);
			if (!(*c)++)
				nseen++;
		}
	}
	ck_assert_msg(nseen == NF + NS, "%s: %d waits of maxev 3 reported only "
	              "%d of %d ready fds (%d files, %d sockets)", ct_name(_i),
	              waits, nseen, NF + NS, NF, NS);
	pollux_free(p);
	for (int k = 0; k < NF; k++)
		close(files[k]);
	for (int k = 0; k < NS; k++) {
		close(socks[k][0]);
		close(socks[k][1]);
	}
}
END_TEST

/* Around the word and FD_SETSIZE boundaries, and far past them. */
static const int high_targets[] = { 1023, 1024, 1025, 4095, 4096, 4097, 9999 };
#define NHIGH (int)(sizeof high_targets / sizeof high_targets[0])

START_TEST(fds_past_1024_and_4096)
{
	pollux_t *p = ct_new(_i);
	struct pollux_event ev[16];
	int pairs[NHIGH + 1][2], fd[NHIGH + 1], tags[NHIGH + 1];
	char seen[NHIGH + 1];
	int nlow, n, nseen, waits;

	ct_need_nofile(high_targets[NHIGH - 1] + 1);
	for (int k = 0; k <= NHIGH; k++) {
		ct_pair(pairs[k]);
		/* The last one stays low, beside the high ones. */
		fd[k] = k < NHIGH ? ct_move_fd(pairs[k][0], high_targets[k])
		                  : pairs[k][0];
	}
	if (!(pollux_features(p) & POLLUX_FEAT_NOLIMIT)) {
		/* Where select is capped, past FD_SETSIZE is ERANGE, never a
		 * write outside the fd_set. */
		for (int k = 0; k <= NHIGH; k++) {
			errno = 0;
			if (fd[k] < FD_SETSIZE) {
				ck_assert_int_eq(pollux_add(p, fd[k], POLLUX_IN, NULL), 0);
				continue;
			}
			ct_check(pollux_add(p, fd[k], POLLUX_IN, NULL) == -1 &&
			              errno == ERANGE, "%s without NOLIMIT: add fd %d: "
			              "errno %d, want ERANGE", ct_name(_i), fd[k], errno);
		}
		goto out;
	}
	for (int k = 0; k <= NHIGH; k++) {
		ct_check(pollux_add(p, fd[k], POLLUX_IN, &tags[k]) == 0,
		              "%s: add fd %d: %s", ct_name(_i), fd[k],
		              strerror(errno));
	}
	ck_assert_int_eq(pollux_count(p), NHIGH + 1);
	ct_expect_none(p);
	/* One at a time: each is found alone. */
	for (int k = 0; k <= NHIGH; k++) {
		ct_put(pairs[k][1], 1);
		ct_expect_one(p, fd[k], POLLUX_IN, &tags[k]);
		ck_assert_int_eq(ct_drain(fd[k]), 1);
	}
	/* All at once. */
	for (int k = 0; k <= NHIGH; k++)
		ct_put(pairs[k][1], 1);
	n = ct_wait(p, ev, 16, CT_WAIT_MS);
	ct_check(n == NHIGH + 1, "%s: %d of %d ready fds reported",
	              ct_name(_i), n, NHIGH + 1);
	for (int k = 0; k <= NHIGH; k++) {
		int at = ct_find(ev, n, fd[k]);
		ct_check(at >= 0, "%s: fd %d not reported", ct_name(_i), fd[k]);
		ck_assert_uint_eq(ev[at].events, POLLUX_IN);
		ck_assert(ev[at].data == &tags[k]);
	}
	/* maxev 1: no fd starves whatever its number. */
	memset(seen, 0, sizeof seen);
	for (nseen = 0, waits = 0; nseen < NHIGH + 1 &&
	     waits < wait_budget(NHIGH + 1, 1); waits++) {
		n = ct_wait(p, ev, 1, CT_WAIT_MS);
		ck_assert_int_eq(n, 1);
		for (int k = 0; k <= NHIGH; k++)
			if (ev[0].fd == fd[k] && !seen[k]++)
				nseen++;
	}
	ct_check(nseen == NHIGH + 1, "%s: maxev 1, %d waits: only %d of "
	              "%d ready fds reported", ct_name(_i), waits, nseen,
	              NHIGH + 1);
	/* OUT and ONESHOT up there too. */
	for (int k = 0; k <= NHIGH; k++)
		ck_assert_int_eq(ct_drain(fd[k]), 1);
	ck_assert_int_eq(pollux_mod(p, fd[NHIGH - 1], POLLUX_OUT, &tags[0]), 0);
	ct_expect_one(p, fd[NHIGH - 1], POLLUX_OUT, &tags[0]);
	ck_assert_int_eq(pollux_mod(p, fd[NHIGH - 1], POLLUX_OUT | POLLUX_ONESHOT,
	                            &tags[1]), 0);
	ct_expect_one(p, fd[NHIGH - 1], POLLUX_OUT, &tags[1]);
	ct_expect_none(p);
	/* Delete the high ones; the low one keeps working. */
	for (int k = 0; k < NHIGH; k++)
		ck_assert_int_eq(pollux_del(p, fd[k]), 0);
	nlow = fd[NHIGH];
	ck_assert_int_eq(pollux_count(p), 1);
	ct_put(pairs[NHIGH][1], 1);
	ct_expect_one(p, nlow, POLLUX_IN, &tags[NHIGH]);
out:
	pollux_free(p);
	for (int k = 0; k <= NHIGH; k++) {
		close(fd[k]);
		close(pairs[k][1]);
	}
}
END_TEST

/* ---- thousands of socketpairs against poll() ---------------------------- */

struct xpair {
	int r, w;		/* r is registered, w is its peer */
	unsigned interest;	/* IN, OUT or both */
	int reg, peer_open, small;
	/* From poll() in the current round. */
	unsigned must, may, hup_err;
	int seen;
};

#define NXPAIRS 3000
#define NROUNDS 5

static unsigned random_interest(uint64_t *rs)
{
	static const unsigned choice[] = { POLLUX_IN, POLLUX_OUT,
	                                   POLLUX_IN | POLLUX_OUT };
	return choice[ct_rand(rs) % 3];
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
			q->interest = random_interest(rs);
			if (q->reg)
				ct_check(pollux_mod(p, q->r, q->interest, q) == 0,
				         "mod fd %d: %s", q->r, strerror(errno));
		} else if (r < 66) {
			if (q->reg) {
				ct_check(pollux_del(p, q->r) == 0, "del fd %d: %s",
				         q->r, strerror(errno));
			} else {
				q->interest = random_interest(rs);
				ct_check(pollux_add(p, q->r, q->interest, q) == 0,
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

/* Waits with maxev until every fd that must be reported was, checking
 * each reported event against the oracle. */
static void cross_check(pollux_t *p, struct xpair *x, int n, int maxfd,
                        const int *fd2k, int maxev, struct pollux_event *ev,
                        int must, int is_select, int round, uint64_t seed)
{
	int budget = must ? wait_budget(must, maxev) : 1, nseen = 0, waits;
	const char *be = pollux_backend(p);

	for (waits = 0; waits < budget && (nseen < must || waits == 0);
	     waits++) {
		int got = ct_wait(p, ev, maxev, must ? CT_WAIT_MS : 0);

		ct_check(!must || got > 0, "%s round %d (seed %llu): %d fds "
		              "ready but wait returned 0", be, round,
		              (unsigned long long)seed, must - nseen);
		for (int j = 0; j < got; j++) {
			int fd = ev[j].fd, k = fd >= 0 && fd <= maxfd ? fd2k[fd] : -1;
			struct xpair *q;
			unsigned io;

			ct_check(k >= 0 && x[k].reg, "%s round %d (seed %llu): "
			              "fd %d reported but not registered", be, round,
			              (unsigned long long)seed, fd);
			q = &x[k];
			io = ev[j].events & (POLLUX_IN | POLLUX_OUT);
			ct_check(ev[j].data == q, "%s: fd %d data %p, want %p",
			              be, fd, ev[j].data, (void *)q);
			ct_check((io & q->must) == q->must && (io & ~q->may) == 0,
			              "%s round %d (seed %llu): fd %d interest 0x%x "
			              "reported 0x%x, poll() says 0x%x must%s",
			              be, round, (unsigned long long)seed, fd,
			              q->interest, ev[j].events, q->must,
			              q->may != q->must ? " (some may)" : "");
			if (!is_select)
				ct_check((ev[j].events & (POLLUX_HUP | POLLUX_ERR)) ==
				              q->hup_err, "%s round %d (seed %llu): fd %d "
				              "HUP/ERR 0x%x, poll() says 0x%x", be, round,
				              (unsigned long long)seed, fd, ev[j].events,
				              q->hup_err);
			ct_check(q->must || q->may || q->hup_err, "%s round %d "
			              "(seed %llu): fd %d (interest 0x%x) reported "
			              "0x%x but poll() says it is not ready", be, round,
			              (unsigned long long)seed, fd, q->interest,
			              ev[j].events);
			if (!q->seen && (q->must || (!is_select && q->hup_err)))
				nseen++;
			q->seen = 1;
		}
	}
	for (int k = 0; k < n; k++) {
		struct xpair *q = &x[k];
		ct_check(q->seen || !(q->must || (!is_select && q->hup_err)),
		              "%s round %d (seed %llu), maxev %d, %d waits: fd %d "
		              "(interest 0x%x) is ready (poll() says 0x%x%s) but "
		              "was never reported", be, round,
		              (unsigned long long)seed, maxev, waits, q->r,
		              q->interest, q->must, q->hup_err ? " + HUP/ERR" : "");
	}
}

START_TEST(thousands_cross_checked_with_poll)
{
	pollux_t *p = ct_new(_i);
	int is_select = ct_is(_i, "select"), n = NXPAIRS, maxfd = 0;
	uint64_t seed = ct_seed() + (uint64_t)_i, rs = seed;
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
		x[k].interest = random_interest(&rs);
		ct_check(pollux_add(p, x[k].r, x[k].interest, &x[k]) == 0,
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

void ct_add_scale(TCase *tc, int idx)
{
	tcase_add_loop_test(tc, hundred_ready_maxev10_none_starves, idx, idx + 1);
	tcase_add_loop_test(tc, hundred_ready_maxev10_drained, idx, idx + 1);
	tcase_add_loop_test(tc, files_and_sockets_none_starve, idx, idx + 1);
	tcase_add_loop_test(tc, fds_past_1024_and_4096, idx, idx + 1);
	tcase_add_loop_test(tc, thousands_cross_checked_with_poll, idx, idx + 1);
}
