/* conformance_events.c: level-triggered reporting, masking to the interest,
 * peer close, user data, timeouts and EINTR, on one backend at a time. */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conformance.h"

START_TEST(level_repeats_until_drained)
{
	pollux_t *p = ct_new(_i);
	int sv[2];

	ct_pair(sv);
	ck_assert_int_eq(pollux_add(p, sv[0], POLLUX_IN, NULL), 0);
	ct_expect_none(p);
	ct_put(sv[1], 3);
	for (int k = 0; k < 4; k++)
		ct_expect_one(p, sv[0], POLLUX_IN, NULL);
	/* Reading part of it is not draining it. */
	{
		char c;
		ck_assert_int_eq(read(sv[0], &c, 1), 1);
	}
	ct_expect_one(p, sv[0], POLLUX_IN, NULL);
	ck_assert_int_eq(ct_drain(sv[0]), 2);
	ct_expect_none(p);
	pollux_free(p);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(out_and_both)
{
	pollux_t *p = ct_new(_i);
	int sv[2];

	ct_pair(sv);
	ck_assert_int_eq(pollux_add(p, sv[0], POLLUX_OUT, NULL), 0);
	ct_expect_one(p, sv[0], POLLUX_OUT, NULL);
	ct_expect_one(p, sv[0], POLLUX_OUT, NULL);
	ck_assert_int_eq(pollux_mod(p, sv[0], POLLUX_IN | POLLUX_OUT, NULL), 0);
	ct_expect_one(p, sv[0], POLLUX_OUT, NULL);
	ct_put(sv[1], 1);
	ct_expect_one(p, sv[0], POLLUX_IN | POLLUX_OUT, NULL);
	ck_assert_int_eq(pollux_mod(p, sv[0], POLLUX_IN, NULL), 0);
	ct_expect_one(p, sv[0], POLLUX_IN, NULL);
	pollux_free(p);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(masked_to_interest)
{
	pollux_t *p = ct_new(_i);
	int a[2], b[2];

	ct_pair(a);
	ct_pair(b);
	/* a has input pending but only OUT is asked: IN must not show. */
	ct_put(a[1], 5);
	ck_assert_int_eq(pollux_add(p, a[0], POLLUX_OUT, NULL), 0);
	ct_expect_one(p, a[0], POLLUX_OUT, NULL);
	/* b is writable but only IN is asked, and there is no input. */
	ck_assert_int_eq(pollux_del(p, a[0]), 0);
	ck_assert_int_eq(pollux_add(p, b[0], POLLUX_IN, NULL), 0);
	ct_expect_none(p);
	/* Switching a to IN shows the pending input, and only that. */
	ck_assert_int_eq(pollux_add(p, a[0], POLLUX_IN, NULL), 0);
	ct_expect_one(p, a[0], POLLUX_IN, NULL);
	pollux_free(p);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}
END_TEST

/* What poll() itself says about fd right now (the kernel's word). */
static short kernel_revents(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events, .revents = 0 };

	ck_assert_int_eq(poll(&pfd, 1, 0), 1);
	return pfd.revents;
}

START_TEST(peer_close_reports_in)
{
	pollux_t *p = ct_new(_i);
	struct pollux_event ev[4];
	int tag, sv[2], n;
	short rev;
	char c;

	ct_pair(sv);
	ck_assert_int_eq(pollux_add(p, sv[0], POLLUX_IN, &tag), 0);
	ct_expect_none(p);
	close(sv[1]);
	rev = kernel_revents(sv[0], POLLIN);
	for (int k = 0; k < 2; k++) {
		n = ct_wait(p, ev, 4, CT_WAIT_MS);
		ck_assert_msg(n == 1 && ev[0].fd == sv[0],
		              "%s: peer closed, want fd %d reported, got %d events",
		              ct_name(_i), sv[0], n);
		ck_assert_msg(ev[0].events & POLLUX_IN, "%s: peer closed, events "
		              "0x%x lack POLLUX_IN", ct_name(_i), ev[0].events);
		ck_assert_msg(!(ev[0].events & POLLUX_OUT), "%s: OUT reported but "
		              "not asked (events 0x%x)", ct_name(_i), ev[0].events);
		ck_assert(ev[0].data == &tag);
		/* HUP is reported whenever the kernel says so; select has no
		 * way to hear it. */
		if (!ct_is(_i, "select"))
			ck_assert_msg(!(rev & POLLHUP) == !(ev[0].events & POLLUX_HUP),
			              "%s: poll() revents 0x%x but pollux events 0x%x "
			              "disagree on HUP", ct_name(_i), (unsigned)rev,
			              ev[0].events);
	}
	ck_assert_int_eq(read(sv[0], &c, 1), 0);
	pollux_free(p);
	close(sv[0]);
}
END_TEST

START_TEST(data_pointer_returned)
{
	pollux_t *p = ct_new(_i);
	struct pollux_event ev[8];
	int tags[3], fds[3][2], n;

	for (int k = 0; k < 3; k++) {
		ct_pair(fds[k]);
		ct_put(fds[k][1], 1);
		ck_assert_int_eq(pollux_add(p, fds[k][0], POLLUX_IN,
		                            k == 2 ? NULL : &tags[k]), 0);
	}
	n = ct_wait(p, ev, 8, CT_WAIT_MS);
	ck_assert_int_eq(n, 3);
	for (int k = 0; k < 3; k++) {
		int at = ct_find(ev, n, fds[k][0]);
		ck_assert_msg(at >= 0, "fd %d not reported", fds[k][0]);
		ck_assert_msg(ev[at].data == (k == 2 ? NULL : &tags[k]),
		              "%s: fd %d data %p", ct_name(_i), fds[k][0],
		              ev[at].data);
	}
	/* mod replaces the data too. */
	ck_assert_int_eq(pollux_mod(p, fds[0][0], POLLUX_IN, &tags[2]), 0);
	ck_assert_int_eq(pollux_del(p, fds[1][0]), 0);
	ck_assert_int_eq(pollux_del(p, fds[2][0]), 0);
	ct_expect_one(p, fds[0][0], POLLUX_IN, &tags[2]);
	ck_assert_int_eq(pollux_mod(p, fds[0][0], POLLUX_IN, NULL), 0);
	ct_expect_one(p, fds[0][0], POLLUX_IN, NULL);
	pollux_free(p);
	for (int k = 0; k < 3; k++) {
		close(fds[k][0]);
		close(fds[k][1]);
	}
}
END_TEST

START_TEST(count_tracks_registrations)
{
	pollux_t *p = ct_new(_i);
	int a[2], b[2];

	ct_pair(a);
	ct_pair(b);
	ck_assert_int_eq(pollux_count(p), 0);
	ck_assert_int_eq(pollux_add(p, a[0], POLLUX_IN, NULL), 0);
	ck_assert_int_eq(pollux_add(p, b[1], POLLUX_OUT, NULL), 0);
	ck_assert_int_eq(pollux_count(p), 2);
	ck_assert_int_eq(pollux_mod(p, a[0], POLLUX_OUT, NULL), 0);
	ck_assert_int_eq(pollux_count(p), 2);
	ck_assert_int_eq(pollux_del(p, a[0]), 0);
	ck_assert_int_eq(pollux_count(p), 1);
	ck_assert_int_eq(pollux_del(p, b[1]), 0);
	ck_assert_int_eq(pollux_count(p), 0);
	pollux_free(p);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}
END_TEST

START_TEST(independent_pollers)
{
	pollux_t *p = ct_new(_i), *q = ct_new(_i);
	int tp, tq, sv[2];

	ct_pair(sv);
	ck_assert_int_eq(pollux_add(p, sv[0], POLLUX_IN, &tp), 0);
	ck_assert_int_eq(pollux_add(q, sv[0], POLLUX_OUT, &tq), 0);
	ct_put(sv[1], 1);
	ct_expect_one(p, sv[0], POLLUX_IN, &tp);
	ct_expect_one(q, sv[0], POLLUX_OUT, &tq);
	ck_assert_int_eq(pollux_del(q, sv[0]), 0);
	ct_expect_none(q);
	ct_expect_one(p, sv[0], POLLUX_IN, &tp);
	pollux_free(q);
	ct_expect_one(p, sv[0], POLLUX_IN, &tp);
	pollux_free(p);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(timeout_zero_returns_zero)
{
	pollux_t *p = ct_new(_i);
	struct pollux_event ev[4];
	int sv[2];

	/* Nothing registered at all. */
	ck_assert_int_eq(pollux_wait(p, ev, 4, 0), 0);
	ct_pair(sv);
	ck_assert_int_eq(pollux_add(p, sv[0], POLLUX_IN, NULL), 0);
	ck_assert_int_eq(pollux_wait(p, ev, 4, 0), 0);
	pollux_free(p);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* A wait with nothing to report returns 0 no sooner than timeout_ms. */
static void expect_full_timeout(pollux_t *p, int timeout_ms)
{
	struct pollux_event ev[4];
	double t0 = ct_now_ms(), dt;
	int n = pollux_wait(p, ev, 4, timeout_ms);

	dt = ct_now_ms() - t0;
	ck_assert_msg(n == 0, "%s: wait(timeout %d) with nothing ready returned "
	              "%d (%s)", pollux_backend(p), timeout_ms, n,
	              n < 0 ? strerror(errno) : "events");
	ck_assert_msg(dt >= timeout_ms - 1.0, "%s: wait(timeout %d ms) returned "
	              "after %.3f ms", pollux_backend(p), timeout_ms, dt);
}

START_TEST(timeout_positive_waits)
{
	pollux_t *p = ct_new(_i);
	int sv[2];

	expect_full_timeout(p, 30);
	ct_pair(sv);
	ck_assert_int_eq(pollux_add(p, sv[0], POLLUX_IN, NULL), 0);
	expect_full_timeout(p, 1);
	expect_full_timeout(p, 30);
	expect_full_timeout(p, 120);
	pollux_free(p);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(timeout_infinite_returns_ready)
{
	pollux_t *p = ct_new(_i);
	struct pollux_event ev[4];
	int sv[2];

	ct_pair(sv);
	ck_assert_int_eq(pollux_add(p, sv[0], POLLUX_IN, NULL), 0);
	ct_put(sv[1], 1);
	/* Bounded by the tcase timeout only: the fd is ready already. */
	ck_assert_int_eq(pollux_wait(p, ev, 4, -1), 1);
	ck_assert_int_eq(ev[0].fd, sv[0]);
	ck_assert_uint_eq(ev[0].events, POLLUX_IN);
	pollux_free(p);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static volatile sig_atomic_t signals_seen;

static void on_signal(int sig)
{
	(void)sig;
	signals_seen++;
}

/* Installs on_signal for sig without SA_RESTART. */
static void catch_signal(int sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	ck_assert_int_eq(sigaction(sig, &sa, NULL), 0);
}

static void expect_eintr(pollux_t *p, int timeout_ms, const char *how)
{
	struct pollux_event ev[4];
	int n;

	errno = 0;
	n = pollux_wait(p, ev, 4, timeout_ms);
	ck_assert_msg(n == -1 && errno == EINTR, "%s: wait(timeout %d) during "
	              "%s returned %d errno %d (%s), want -1 with EINTR",
	              pollux_backend(p), timeout_ms, how, n, errno,
	              strerror(errno));
	ck_assert_msg(signals_seen > 0, "handler never ran");
}

START_TEST(eintr_from_timer)
{
	pollux_t *p = ct_new(_i);
	struct itimerval it = { { 0, 20000 }, { 0, 20000 } }, off = { { 0, 0 },
	                                                             { 0, 0 } };
	int sv[2];

	ct_pair(sv);
	ck_assert_int_eq(pollux_add(p, sv[0], POLLUX_IN, NULL), 0);
	signals_seen = 0;
	catch_signal(SIGALRM);
	/* Repeating, so a tick that lands before the wait starts is no
	 * problem: the next one interrupts it. */
	ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	expect_eintr(p, 10000, "a repeating SIGALRM timer");
	/* The handler stays: a tick may still be pending. */
	ck_assert_int_eq(setitimer(ITIMER_REAL, &off, NULL), 0);
	pollux_free(p);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(eintr_from_child)
{
	pollux_t *p = ct_new(_i);
	int sv[2], status;
	pid_t parent = getpid(), kid;

	ct_pair(sv);
	ck_assert_int_eq(pollux_add(p, sv[0], POLLUX_IN, NULL), 0);
	signals_seen = 0;
	catch_signal(SIGUSR1);
	kid = fork();
	ck_assert_msg(kid >= 0, "fork: %s", strerror(errno));
	if (kid == 0) {
		/* Keep signalling until killed (at most ~20 s). */
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		for (int k = 0; k < 1000; k++) {
			if (kill(parent, SIGUSR1) != 0)
				_exit(1);
			nanosleep(&ts, NULL);
		}
		_exit(0);
	}
	/* timeout -1: a wait that ignored EINTR would hang until the tcase
	 * timeout kills it, which fails the test. */
	expect_eintr(p, -1, "SIGUSR1 from a child process");
	kill(kid, SIGKILL);
	ck_assert_int_eq(waitpid(kid, &status, 0), kid);
	pollux_free(p);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

void ct_add_events(TCase *tc, int idx)
{
	tcase_add_loop_test(tc, level_repeats_until_drained, idx, idx + 1);
	tcase_add_loop_test(tc, out_and_both, idx, idx + 1);
	tcase_add_loop_test(tc, masked_to_interest, idx, idx + 1);
	tcase_add_loop_test(tc, peer_close_reports_in, idx, idx + 1);
	tcase_add_loop_test(tc, data_pointer_returned, idx, idx + 1);
	tcase_add_loop_test(tc, count_tracks_registrations, idx, idx + 1);
	tcase_add_loop_test(tc, independent_pollers, idx, idx + 1);
	tcase_add_loop_test(tc, timeout_zero_returns_zero, idx, idx + 1);
	tcase_add_loop_test(tc, timeout_positive_waits, idx, idx + 1);
	tcase_add_loop_test(tc, timeout_infinite_returns_ready, idx, idx + 1);
	tcase_add_loop_test(tc, eintr_from_timer, idx, idx + 1);
	tcase_add_loop_test(tc, eintr_from_child, idx, idx + 1);
}
