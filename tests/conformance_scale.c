/* conformance_scale.c: many ready fds with a small maxev (no starvation),
 * files beside sockets, and fds past 1024 and 4096. */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conformance.h"

#define NHUNDRED 100

START_TEST(hundred_ready_maxev10_none_starves)
{
	pollux_t *p = ct_new(_i);
	static int fds[NHUNDRED][2];
	char seen[NHUNDRED] = { 0 };
	struct pollux_event ev[10];
	int nseen = 0, waits = 0, budget = ct_wait_budget(NHUNDRED, 10);

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

/* pollux_wait(3): a wait reports up to maxev ready descriptors. On a new
 * poller, 300 ready and maxev 300 is one wait that reports all 300 (epoll
 * once gave 64, then 128, then 256 while the other backends gave 300). */
#define NREADY 300
START_TEST(three_hundred_ready_one_wait)
{
	ct_need_nofile(2 * NREADY + 64);
	pollux_t *p = ct_new(_i);
	static int fds[NREADY][2];
	static struct pollux_event ev[NREADY];
	for (int k = 0; k < NREADY; k++) {
		ct_pair(fds[k]);
		ct_put(fds[k][1], 1);
		ck_assert_int_eq(pollux_add(p, fds[k][0], POLLUX_IN, fds[k]), 0);
	}
	int n = ct_wait(p, ev, NREADY, CT_WAIT_MS);
	ct_check(n == NREADY, "%s: %d fds ready and maxev %d, the first wait "
	         "reported %d", ct_name(_i), NREADY, NREADY, n);
	/* ct_wait has checked that no fd came twice. */
	for (int j = 0; j < n; j++) {
		int (*pair)[2] = ev[j].data;
		int k = (int)(pair - fds);
		ct_check(k >= 0 && k < NREADY && fds[k][0] == ev[j].fd &&
		         ev[j].events == POLLUX_IN, "%s: fd %d came with foreign data "
		         "or events %#x", ct_name(_i), ev[j].fd, ev[j].events);
	}
	pollux_free(p);
	for (int k = 0; k < NREADY; k++) {
		close(fds[k][0]);
		close(fds[k][1]);
	}
}
END_TEST

/* The same when the 300 become ready after they are armed, while nobody
 * waits: one wait still reports them all, level-triggered and, where the
 * backend has it, edge-triggered (uring with DEFER_TASKRUN once gave 20,
 * the size of one batch of the kernel's deferred work). */
START_TEST(three_hundred_become_ready_one_wait)
{
	ct_need_nofile(2 * NREADY + 64);
	for (int edge = 0; edge < 2; edge++) {
		pollux_t *p = ct_new(_i);
		if (edge && !(pollux_features(p) & POLLUX_FEAT_EDGE)) {
			pollux_free(p);
			break;
		}
		static int fds[NREADY][2];
		static struct pollux_event ev[NREADY];
		for (int k = 0; k < NREADY; k++) {
			ct_pair(fds[k]);
			ck_assert_int_eq(pollux_add(p, fds[k][0], POLLUX_IN |
			                            (edge ? POLLUX_EDGE : 0), fds[k]), 0);
		}
		ck_assert_int_eq(ct_wait(p, ev, NREADY, 0), 0);	/* all armed */
		for (int k = 0; k < NREADY; k++)
			ct_put(fds[k][1], 1);
		int n = ct_wait(p, ev, NREADY, CT_WAIT_MS);
		ct_check(n == NREADY, "%s: %d armed fds became ready (%s) and maxev is "
		         "%d, the next wait reported %d", ct_name(_i), NREADY,
		         edge ? "EDGE" : "level", NREADY, n);
		pollux_free(p);
		for (int k = 0; k < NREADY; k++) {
			close(fds[k][0]);
			close(fds[k][1]);
		}
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

/* Always-ready regular files beside ready sockets, with maxev 1 and 3:
 * every one of them is reported within the budget. */
START_TEST(files_and_sockets_none_starve)
{
	enum { NF = 5, NS = 5 };
	static const int maxevs[] = { 1, 3 };
	pollux_t *p = ct_new(_i);
	struct pollux_event ev[3];
	int files[NF], socks[NS][2];
	char tags[NF + NS];

	for (int k = 0; k < NF; k++) {
		files[k] = ct_temp_file(k % 2);
		ck_assert_int_eq(pollux_add(p, files[k], POLLUX_IN, &tags[k]), 0);
	}
	for (int k = 0; k < NS; k++) {
		ct_pair(socks[k]);
		ct_put(socks[k][1], 1);
		ck_assert_int_eq(pollux_add(p, socks[k][0], POLLUX_IN,
		                            &tags[NF + k]), 0);
	}
	for (int m = 0; m < 2; m++) {
		int maxev = maxevs[m], nseen = 0, waits;
		int budget = ct_wait_budget(NF + NS, maxev);
		char seen[NF + NS] = { 0 };

		for (waits = 0; nseen < NF + NS && waits < budget; waits++) {
			int n = ct_wait(p, ev, maxev, CT_WAIT_MS);
			ck_assert_msg(n >= 1, "%s: 10 fds ready, wait returned 0",
			              ct_name(_i));
			for (int j = 0; j < n; j++) {
				int k = (int)((char *)ev[j].data - tags);
				ct_check(k >= 0 && k < NF + NS && ev[j].fd == (k < NF ?
				         files[k] : socks[k - NF][0]), "%s: fd %d came "
				         "with foreign data", ct_name(_i), ev[j].fd);
				ck_assert_uint_eq(ev[j].events, POLLUX_IN);
				if (!seen[k]++)
					nseen++;
			}
		}
		ck_assert_msg(nseen == NF + NS, "%s: %d waits of maxev %d "
		              "reported only %d of %d ready fds (%d files, %d "
		              "sockets)", ct_name(_i), waits, maxev, nseen,
		              NF + NS, NF, NS);
	}
	pollux_free(p);
	for (int k = 0; k < NF; k++)
		close(files[k]);
	for (int k = 0; k < NS; k++) {
		close(socks[k][0]);
		close(socks[k][1]);
	}
}
END_TEST

/* A wait writes at most maxev entries: the rest of the caller's array is
 * untouched, with sockets and always-ready files both ready. */
START_TEST(wait_writes_at_most_maxev)
{
	enum { NS = 12, NF = 4, CAP = 8 };
	pollux_t *p = ct_new(_i);
	int socks[NS][2], files[NF];
	struct pollux_event ev[CAP];

	for (int k = 0; k < NS; k++) {
		ct_pair(socks[k]);
		ct_put(socks[k][1], 1);
		ck_assert_int_eq(pollux_add(p, socks[k][0], POLLUX_IN, NULL), 0);
	}
	for (int k = 0; k < NF; k++) {
		files[k] = ct_temp_file(1);
		ck_assert_int_eq(pollux_add(p, files[k], POLLUX_IN, NULL), 0);
	}
	for (int maxev = 1; maxev < CAP; maxev++) {
		for (int round = 0; round < 4; round++) {
			int n;
			for (int j = 0; j < CAP; j++)
				ev[j] = (struct pollux_event){ -77, 0x5a5au, ev };
			n = ct_wait(p, ev, maxev, CT_WAIT_MS);
			ck_assert_msg(n >= 1, "%s: 16 fds ready, wait returned 0",
			              ct_name(_i));
			for (int j = n; j < CAP; j++)
				ck_assert_msg(ev[j].fd == -77 && ev[j].events == 0x5a5au &&
				              ev[j].data == ev, "%s: wait(maxev %d) "
				              "returned %d but changed entry %d",
				              ct_name(_i), maxev, n, j);
		}
	}
	pollux_free(p);
	for (int k = 0; k < NS; k++) {
		close(socks[k][0]);
		close(socks[k][1]);
	}
	for (int k = 0; k < NF; k++)
		close(files[k]);
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
	     waits < ct_wait_budget(NHIGH + 1, 1); waits++) {
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

void ct_add_scale(TCase *tc, int idx)
{
	tcase_add_loop_test(tc, hundred_ready_maxev10_none_starves, idx, idx + 1);
	tcase_add_loop_test(tc, hundred_ready_maxev10_drained, idx, idx + 1);
	tcase_add_loop_test(tc, three_hundred_ready_one_wait, idx, idx + 1);
	tcase_add_loop_test(tc, three_hundred_become_ready_one_wait, idx, idx + 1);
	tcase_add_loop_test(tc, files_and_sockets_none_starve, idx, idx + 1);
	tcase_add_loop_test(tc, wait_writes_at_most_maxev, idx, idx + 1);
	tcase_add_loop_test(tc, fds_past_1024_and_4096, idx, idx + 1);
}
