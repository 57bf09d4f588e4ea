/* conformance_wake.c: pollux_wake (from the same thread, another thread, a
 * signal handler, a forked child's own poller) and pollux_wait_ns's
 * timeouts, on one backend at a time. */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conformance.h"

/* Far longer than any wake can take, so that a wait that returned before
 * it was woken, not timed out. */
#define LONG_MS 20000

/* A wait with timeout LONG_MS returns n within LONG_MS / 2. */
static void expect_prompt(pollux_t *p, int want, const char *how)
{
	struct pollux_event ev[8];
	double t0 = ct_now_ms();
	int n = pollux_wait(p, ev, 8, LONG_MS);
	double took = ct_now_ms() - t0;

	ck_assert_msg(n == want, "%s: wait after %s returned %d (errno %d, %s), "
	              "want %d", pollux_backend(p), how, n, errno, strerror(errno),
	              want);
	ck_assert_msg(took < LONG_MS / 2, "%s: wait after %s took %.0f ms: not "
	              "woken", pollux_backend(p), how, took);
}

/* A wait of ms that is not woken lasts at least ms. */
static void expect_not_woken(pollux_t *p, int ms, const char *how)
{
	struct pollux_event ev[8];
	double t0 = ct_now_ms();
	int n = pollux_wait(p, ev, 8, ms);
	double took = ct_now_ms() - t0;

	ck_assert_msg(n == 0 && took >= ms - 1, "%s: %s: wait(%d ms) returned "
	              "%d after %.1f ms, want 0 after the whole timeout",
	              pollux_backend(p), how, ms, n, took);
}

START_TEST(wake_before_wait)
{
	pollux_t *p = ct_new(_i);
	int count = pollux_count(p);

	errno = 1234;
	ck_assert_int_eq(pollux_wake(p), 0);
	ck_assert_msg(errno == 1234, "pollux_wake changed errno on success");
	expect_prompt(p, 0, "one wake");
	/* Consumed: the next wait is not woken again. */
	expect_not_woken(p, 30, "after the wake was consumed");
	/* Several wakes before a wait count as one. */
	for (int k = 0; k < 5; k++)
		ck_assert_int_eq(pollux_wake(p), 0);
	expect_prompt(p, 0, "five wakes");
	expect_not_woken(p, 30, "five wakes count as one");
	ck_assert_int_eq(pollux_count(p), count);
	errno = 0;
	ck_assert(pollux_wake(NULL) == -1 && errno == EINVAL);
	pollux_free(p);
}
END_TEST

/* The wake is never an event: a wait it ends reports what is ready, and
 * only that, with timeout 0 too. */
START_TEST(wake_with_ready_fds)
{
	pollux_t *p = ct_new(_i);
	struct pollux_event ev[8];
	int sv[2], t;

	ct_pair(sv);
	ck_assert_int_eq(pollux_add(p, sv[0], POLLUX_IN, &t), 0);
	ct_put(sv[1], 1);
	ck_assert_int_eq(pollux_wake(p), 0);
	for (int k = 0; k < 3; k++) {
		int n = ct_wait(p, ev, 8, k == 2 ? 0 : CT_WAIT_MS);
		ck_assert_msg(n == 1 && ev[0].fd == sv[0] && ev[0].data == &t,
		              "%s: wait %d with a wake pending and one fd ready: "
		              "%d events, first fd %d (want fd %d alone)",
		              ct_name(_i), k, n, n > 0 ? ev[0].fd : -1, sv[0]);
	}
	ck_assert_int_eq(ct_drain(sv[0]), 1);
	ck_assert_int_eq(pollux_wake(p), 0);
	ck_assert_int_eq(ct_wait(p, ev, 8, 0), 0);
	expect_not_woken(p, 20, "a wake consumed by a polling wait");
	pollux_free(p);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

struct waker {
	pollux_t *p;
	int sig;		/* 0: call pollux_wake; else raise it */
	int rc;
};

static pollux_t *volatile sig_poller;

static void wake_from_handler(int sig)
{
	(void)sig;
	pollux_wake(sig_poller);
}

static void *waker(void *arg)
{
	struct waker *w = arg;
	struct timespec ts = { 0, 5 * 1000 * 1000 };

	/* Whether this lands before or during the wait, the wait must end;
	 * the pause only makes "during" the likely case. */
	nanosleep(&ts, NULL);
	if (w->sig) {
		/* Created with the waiting thread's mask, which blocks it. */
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, w->sig);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	w->rc = w->sig ? pthread_kill(pthread_self(), w->sig) : pollux_wake(w->p);
	return NULL;
}

static void wake_blocked(int idx, int sig)
{
	pollux_t *p = ct_new(idx);
	struct waker w = { p, sig, -1 };
	struct pollux_event ev[4];
	pthread_t th;
	sigset_t block, old;
	int n;

	if (sig) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = wake_from_handler;
		sigemptyset(&sa.sa_mask);
		sig_poller = p;
		ck_assert_int_eq(sigaction(sig, &sa, NULL), 0);
		/* Delivered in the waker thread only: this one waits on. */
		sigemptyset(&block);
		sigaddset(&block, sig);
		ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &block, &old), 0);
	}
	ck_assert_int_eq(pthread_create(&th, NULL, waker, &w), 0);
	/* Blocks: only the wake can end it (the tcase timeout is the
	 * backstop of a wake that never comes). */
	n = pollux_wait(p, ev, 4, -1);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(n == 0, "%s: blocked wait woken %s returned %d (errno %d, "
	              "%s), want 0", ct_name(idx), sig ? "from a signal handler" :
	              "from another thread", n, errno, strerror(errno));
	ck_assert_int_eq(w.rc, 0);
	if (sig)
		ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
	pollux_free(p);
}

START_TEST(wake_from_thread)
{
	wake_blocked(_i, 0);
}
END_TEST

START_TEST(wake_from_signal_handler)
{
	wake_blocked(_i, SIGUSR2);
}
END_TEST

/* After fork and pollux_reinit, parent and child each have their own
 * wake-up: waking one never ends the other's wait. */
START_TEST(wake_after_fork)
{
	pollux_t *p = ct_new(_i);
	int go[2], status;
	char c;
	pid_t kid;

	ck_assert_int_eq(pipe(go), 0);
	kid = fork();
	ck_assert_msg(kid >= 0, "fork: %s", strerror(errno));
	if (kid == 0) {
		struct pollux_event ev[4];
		int step = pollux_reinit(p) != 0 ? 1 : pollux_wake(p) != 0 ? 2 :
		           pollux_wait(p, ev, 4, LONG_MS) != 0 ? 3 : 0;
		if (step)
			fprintf(stderr, "child: step %d: %s\n", step, strerror(errno));
		pollux_free(p);
		/* The parent waits only after we have woken ourselves. */
		_exit(write(go[1], "x", 1) == 1 ? step : 9);
	}
	ck_assert_int_eq(read(go[0], &c, 1), 1);
	expect_not_woken(p, 30, "the child woke its own poller");
	ck_assert_int_eq(waitpid(kid, &status, 0), kid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "%s: the child's wake after pollux_reinit failed "
	              "(step %d: 1 reinit, 2 wake, 3 wait)", ct_name(_i),
	              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	ck_assert_int_eq(pollux_wake(p), 0);
	expect_prompt(p, 0, "a wake after the child's");
	pollux_free(p);
	close(go[0]);
	close(go[1]);
}
END_TEST

/* pollux_wait_ns: never returns before its timeout; 0 polls; negative
 * blocks until something is ready; the same argument checks. */
START_TEST(wait_ns_timeouts)
{
	pollux_t *p = ct_new(_i);
	struct pollux_event ev[4];
	long long ns[] = { 1, 250 * 1000, 1500 * 1000, 3 * 1000 * 1000 + 7 };
	int sv[2], n;

	for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
		double t0 = ct_now_ms();
		n = pollux_wait_ns(p, ev, 4, ns[k]);
		double took = (ct_now_ms() - t0) * 1e6;
		ck_assert_msg(n == 0 && took >= (double)ns[k], "%s: wait_ns(%lld) "
		              "returned %d after %.0f ns: early", ct_name(_i), ns[k],
		              n, took);
	}
	ck_assert_int_eq(pollux_wait_ns(p, ev, 4, 0), 0);
	ct_pair(sv);
	ck_assert_int_eq(pollux_add(p, sv[0], POLLUX_IN, sv), 0);
	ct_put(sv[1], 1);
	n = pollux_wait_ns(p, ev, 4, -1);
	ck_assert_msg(n == 1 && ev[0].fd == sv[0] && ev[0].data == sv,
	              "%s: blocking wait_ns with one fd ready: %d", ct_name(_i), n);
	ck_assert_int_eq(pollux_wait_ns(p, ev, 4, 0), 1);
	n = pollux_wait_ns(p, ev, 4, 10 * 1000 * 1000);
	ck_assert_int_eq(n, 1);
	errno = 0;
	ck_assert(pollux_wait_ns(p, ev, 0, 0) == -1 && errno == EINVAL);
	errno = 0;
	ck_assert(pollux_wait_ns(NULL, ev, 1, 0) == -1 && errno == EINVAL);
	errno = 0;
	ck_assert(pollux_wait_ns(p, NULL, 1, 0) == -1 && errno == EINVAL);
	pollux_free(p);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

void ct_add_wake(TCase *tc, int idx)
{
	tcase_add_loop_test(tc, wake_before_wait, idx, idx + 1);
	tcase_add_loop_test(tc, wake_with_ready_fds, idx, idx + 1);
	tcase_add_loop_test(tc, wake_from_thread, idx, idx + 1);
	tcase_add_loop_test(tc, wake_from_signal_handler, idx, idx + 1);
	tcase_add_loop_test(tc, wake_after_fork, idx, idx + 1);
	tcase_add_loop_test(tc, wait_ns_timeouts, idx, idx + 1);
}
