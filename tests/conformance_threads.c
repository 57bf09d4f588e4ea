/* conformance_threads.c: separate pollers used by separate threads at the
 * same time never see each other's fds or events (no shared state); one
 * poller handed from thread to thread keeps its registrations; and what a
 * poller does in the kernel never interrupts its thread's other calls. */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "conformance.h"

#define NTHREADS 3
#define NPAIRS 24
#define NITER 200

struct worker {
	int idx;			/* backend */
	int id;
	int fds[NPAIRS][2];
	char err[256];			/* empty when all went well */
};

static void *work(void *arg)
{
	struct worker *w = arg;
	pollux_t *p = pollux_new(ct_name(w->idx));
	uint64_t rs = ct_seed() * 31u + (uint64_t)w->id;
	struct pollux_event ev[NPAIRS];

	if (p == NULL) {
		snprintf(w->err, sizeof w->err, "pollux_new: %s", strerror(errno));
		return NULL;
	}
	for (int k = 0; k < NPAIRS; k++)
		if (pollux_add(p, w->fds[k][0], POLLUX_IN, &w->fds[k]) != 0) {
			snprintf(w->err, sizeof w->err, "add: %s", strerror(errno));
			goto out;
		}
	for (int it = 0; it < NITER; it++) {
		char want[NPAIRS] = { 0 }, got[NPAIRS] = { 0 };
		int nwant = 0, ngot = 0;

		for (int k = 0; k < NPAIRS; k++)
			if (ct_rand(&rs) % 3 == 0) {
				if (write(w->fds[k][1], "x", 1) != 1) {
					snprintf(w->err, sizeof w->err, "write: %s",
					         strerror(errno));
					goto out;
				}
				want[k] = 1;
				nwant++;
			}
		/* Level-triggered, nothing read yet: one wait sees them all. */
		int n = pollux_wait(p, ev, NPAIRS, nwant ? CT_WAIT_MS : 0);
		if (n < 0) {
			snprintf(w->err, sizeof w->err, "wait: %s", strerror(errno));
			goto out;
		}
		for (int j = 0; j < n; j++) {
			int k = (int)((int (*)[2])ev[j].data - w->fds);
			if (k < 0 || k >= NPAIRS || w->fds[k][0] != ev[j].fd ||
			    ev[j].events != POLLUX_IN || got[k]) {
				snprintf(w->err, sizeof w->err, "iteration %d: foreign or "
				         "repeated event fd %d events 0x%x", it, ev[j].fd,
				         ev[j].events);
				goto out;
			}
			got[k] = 1;
			ngot++;
		}
		if (ngot != nwant || memcmp(want, got, sizeof want) != 0) {
			snprintf(w->err, sizeof w->err, "iteration %d: %d fds made "
			         "readable, wait reported %d (or other ones)", it,
			         nwant, ngot);
			goto out;
		}
		for (int k = 0; k < NPAIRS; k++) {
			char c;
			if (want[k] && read(w->fds[k][0], &c, 1) != 1) {
				snprintf(w->err, sizeof w->err, "read: %s",
				         strerror(errno));
				goto out;
			}
		}
	}
out:
	pollux_free(p);
	return NULL;
}

START_TEST(threads_separate_pollers)
{
	static struct worker w[NTHREADS];
	pthread_t t[NTHREADS];

	for (int i = 0; i < NTHREADS; i++) {
		w[i].idx = _i;
		w[i].id = i;
		w[i].err[0] = '\0';
		for (int k = 0; k < NPAIRS; k++)
			ct_pair(w[i].fds[k]);
	}
	for (int i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
	for (int i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	for (int i = 0; i < NTHREADS; i++) {
		ck_assert_msg(w[i].err[0] == '\0', "%s: thread %d: %s", ct_name(_i),
		              i, w[i].err);
		for (int k = 0; k < NPAIRS; k++) {
			close(w[i].fds[k][0]);
			close(w[i].fds[k][1]);
		}
	}
}
END_TEST

/*
 * One poller used by one thread at a time, but by a different thread each
 * turn (pollux(3): "used by one thread at a time"), as a poller made by
 * main() and run by a worker is. Each turn makes some fds readable and
 * expects exactly those: level fds still unread are reported again, a
 * fired ONESHOT fd stays quiet until pollux_mod re-arms it.
 */
#define HO_PAIRS 8
#define HO_TURNS 12

struct handover {
	pollux_t *p;
	int fds[HO_PAIRS][2];
	int turn;
	char err[256];
};

static void ho_fail(struct handover *h, const char *what)
{
	if (!h->err[0])
		snprintf(h->err, sizeof h->err, "turn %d: %s", h->turn, what);
}

/* One turn: pair turn % HO_PAIRS (level) and pair 0 (ONESHOT, re-armed
 * each turn) are readable; nothing else may be reported. */
static void *ho_turn(void *arg)
{
	struct handover *h = arg;
	struct pollux_event ev[HO_PAIRS];
	int k = 1 + h->turn % (HO_PAIRS - 1);
	char c = 'x';

	/* The last pair is deleted and added again before this thread's
	 * first wait: a del from a thread that is not the one that waited
	 * last (on uring: not the ring's owner). */
	int last = HO_PAIRS - 1;
	if (pollux_del(h->p, h->fds[last][0]) != 0 ||
	    pollux_add(h->p, h->fds[last][0], POLLUX_IN, h->fds[last]) != 0)
		ho_fail(h, "pollux_del and pollux_add again failed");
	if (write(h->fds[k][1], &c, 1) != 1 || write(h->fds[0][1], &c, 1) != 1)
		ho_fail(h, "write");
	if (h->turn > 0 && pollux_mod(h->p, h->fds[0][0], POLLUX_IN | POLLUX_ONESHOT,
	                              h->fds[0]) != 0)
		ho_fail(h, "pollux_mod re-arming the ONESHOT fd failed");
	int seen_k = 0, seen_0 = 0;
	double end = ct_now_ms() + CT_WAIT_MS;
	while ((!seen_k || !seen_0) && ct_now_ms() < end && !h->err[0]) {
		int n = pollux_wait(h->p, ev, HO_PAIRS, CT_WAIT_MS);
		if (n < 0) {
			char m[96];
			snprintf(m, sizeof m, "pollux_wait: %s", strerror(errno));
			ho_fail(h, m);
			break;
		}
		for (int j = 0; j < n; j++) {
			if (ev[j].fd == h->fds[k][0] && ev[j].data == h->fds[k])
				seen_k = 1;
			else if (ev[j].fd == h->fds[0][0] && ev[j].data == h->fds[0] &&
			         !seen_0)
				seen_0 = 1;
			else {
				char m[96];
				snprintf(m, sizeof m, "fd %d reported, want only %d and %d",
				         ev[j].fd, h->fds[k][0], h->fds[0][0]);
				ho_fail(h, m);
			}
		}
	}
	if (!h->err[0] && (!seen_k || !seen_0))
		ho_fail(h, !seen_k ? "the readable level fd was not reported"
		                   : "the re-armed ONESHOT fd was not reported");
	/* The fired ONESHOT fd stays quiet although still readable. */
	int n = pollux_wait(h->p, ev, HO_PAIRS, 0);
	for (int j = 0; j < n; j++)
		if (ev[j].fd != h->fds[k][0])
			ho_fail(h, "a fired ONESHOT fd or an unread one was reported "
			           "again");
	if (read(h->fds[k][0], &c, 1) != 1 || read(h->fds[0][0], &c, 1) != 1)
		ho_fail(h, "read");
	return NULL;
}

START_TEST(threads_handover)
{
	static struct handover h;
	memset(&h, 0, sizeof h);
	h.p = ct_new(_i);
	for (int k = 0; k < HO_PAIRS; k++) {
		ct_pair(h.fds[k]);
		unsigned ev = k == 0 ? POLLUX_IN | POLLUX_ONESHOT : POLLUX_IN;
		ck_assert_int_eq(pollux_add(h.p, h.fds[k][0], ev, h.fds[k]), 0);
	}
	/* Even turns run here, odd ones on a thread of their own. */
	for (h.turn = 0; h.turn < HO_TURNS && !h.err[0]; h.turn++) {
		if (h.turn % 2 == 0) {
			ho_turn(&h);
		} else {
			pthread_t t;
			ck_assert_int_eq(pthread_create(&t, NULL, ho_turn, &h), 0);
			ck_assert_int_eq(pthread_join(t, NULL), 0);
		}
	}
	ck_assert_msg(!h.err[0], "%s: a poller handed between threads: %s",
	              ct_name(_i), h.err);
	ck_assert_int_eq(pollux_count(h.p), HO_PAIRS);
	pollux_free(h.p);
	for (int k = 0; k < HO_PAIRS; k++) {
		close(h.fds[k][0]);
		close(h.fds[k][1]);
	}
}
END_TEST

/*
 * A socket deleted and closed (or pollux_closed) by a thread other than the
 * one that waited last is closed at once: its peer reads end of file with
 * no further call into the poller (uring: the ring belongs to the thread
 * that waited, which alone can submit the poll's removal). The poller
 * still reports the others afterwards.
 */
struct del_case {
	pollux_t *p;
	char err[128];
};

static void *wait_once(void *arg)
{
	struct del_case *d = arg;
	struct pollux_event ev[4];
	if (pollux_wait(d->p, ev, 4, 0) != 0)
		snprintf(d->err, sizeof d->err, "the other thread's wait: %s",
		         strerror(errno));
	return NULL;
}

START_TEST(threads_del_from_other_thread)
{
	for (int how = 0; how < 2; how++) {
		struct del_case d = { .p = ct_new(_i) };
		int a[2], b[2];
		ct_pair(a);
		ct_pair(b);
		ck_assert_int_eq(pollux_add(d.p, a[0], POLLUX_IN, a), 0);
		ck_assert_int_eq(pollux_add(d.p, b[0], POLLUX_IN, b), 0);
		pthread_t t;
		ck_assert_int_eq(pthread_create(&t, NULL, wait_once, &d), 0);
		ck_assert_int_eq(pthread_join(t, NULL), 0);
		ck_assert_msg(!d.err[0], "%s: %s", ct_name(_i), d.err);
		if (how == 0) {
			ck_assert_int_eq(pollux_del(d.p, a[0]), 0);
			close(a[0]);
		} else {
			ck_assert_int_eq(pollux_close(d.p, a[0]), 0);
		}
		struct pollfd pf = { .fd = a[1], .events = POLLIN };
		char c;
		ck_assert_msg(poll(&pf, 1, 2000) == 1 && read(a[1], &c, 1) == 0,
		              "%s: %s in another thread than the one that waited: the "
		              "peer saw no end of file within 2 s", ct_name(_i),
		              how ? "pollux_close" : "pollux_del and close");
		ct_put(b[1], 1);
		ct_expect_one(d.p, b[0], POLLUX_IN, b);
		pollux_free(d.p);
		close(a[1]);
		close(b[0]);
		close(b[1]);
	}
}
END_TEST

/*
 * While the thread that waits on a poller is blocked in another call, a
 * registered fd becomes ready, or another thread calls pollux_wake. That
 * must not interrupt the call: a recv with SO_RCVTIMEO, which fails with
 * EINTR rather than restart when anything interrupts it, runs out its
 * timeout (EAGAIN). io_uring posts completions through work queued on the
 * waiting thread, and by default that work interrupts the thread as a
 * signal would.
 */
struct bystander {
	pollux_t *p;
	int wfd;		/* write here, or -1: pollux_wake */
	atomic_int blocking;	/* the main thread is about to block */
	long tid;		/* its thread id (Linux), 0 if unknown */
	char err[128];
};

#ifdef __linux__
/* The thread's state letter from /proc, or 0. */
static char task_state(long tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *r = strrchr(buf, ')');
	return r && r[1] == ' ' ? r[2] : 0;
}
#endif

static void *bystander(void *arg)
{
	struct bystander *b = arg;
	double end = ct_now_ms() + CT_WAIT_MS;
	while (!atomic_load(&b->blocking) && ct_now_ms() < end)
		sched_yield();
#ifdef __linux__
	/* Until it sleeps in recv (the only call it makes after the flag),
	 * so that the event comes during the call, not before it. */
	while (b->tid && task_state(b->tid) != 'S' && ct_now_ms() < end)
		sched_yield();
#endif
	if (b->wfd >= 0 ? write(b->wfd, "x", 1) != 1 : pollux_wake(b->p) != 0)
		snprintf(b->err, sizeof b->err, "%s: %s", b->wfd >= 0 ? "write" :
		         "pollux_wake", strerror(errno));
	return NULL;
}

/* The case itself, on a thread of its own: closing a uring ring interrupts
 * the threads that used it once, later (pollux_new(3)), and this thread
 * must owe nothing to pollers that earlier cases freed in this process. */
struct quiet_case {
	int idx;
	char err[256];
};

static void *calls_not_interrupted(void *arg)
{
	struct quiet_case *qc = arg;
	pollux_t *p = pollux_new(ct_name(qc->idx));
	struct pollux_event ev[4];
	int pr[2] = { -1, -1 }, sv[2] = { -1, -1 }, quiet[2] = { -1, -1 };
	char *err = qc->err;
	size_t errlen = sizeof qc->err;

	if (!p || pipe(pr) < 0 || pipe(quiet) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		snprintf(err, errlen, "setting up: %s", strerror(errno));
		goto out;
	}
	struct timeval tv = { 0, 150000 };
	/* A quiet fd too, multishot on uring where the backend has EDGE. */
	unsigned qev = POLLUX_IN | ((pollux_features(p) & POLLUX_FEAT_EDGE) ? POLLUX_EDGE : 0);
	if (setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    pollux_add(p, pr[0], POLLUX_IN, pr) < 0 || pollux_add(p, quiet[0], qev, quiet) < 0 ||
	    pollux_wait(p, ev, 4, 0) != 0) {	/* armed in the kernel */
		snprintf(err, errlen, "registering: %s", strerror(errno));
		goto out;
	}
	for (int round = 0; round < 2 && !err[0]; round++) {
		const char *what = round == 0 ? "a registered fd became readable"
		                              : "another thread called pollux_wake";
		struct bystander b = { .p = p, .wfd = round == 0 ? pr[1] : -1 };
#ifdef __linux__
		b.tid = (long)syscall(SYS_gettid);
#endif
		pthread_t t;
		if (pthread_create(&t, NULL, bystander, &b) != 0) {
			snprintf(err, errlen, "pthread_create failed");
			break;
		}
		char c;
		atomic_store(&b.blocking, 1);
		ssize_t k = recv(sv[0], &c, 1, 0);
		int e = errno;
		pthread_join(t, NULL);
		if (b.err[0]) {
			snprintf(err, errlen, "%s", b.err);
			break;
		}
		if (!(k < 0 && (e == EAGAIN || e == EWOULDBLOCK))) {
			snprintf(err, errlen, "while this thread was blocked in recv, %s, "
			         "and the recv returned %zd (%s): want its timeout, EAGAIN",
			         what, k, k < 0 ? strerror(e) : "data");
			break;
		}
		/* And the poller still says what happened. */
		int n = pollux_wait(p, ev, 4, CT_WAIT_MS);
		char buf[8];
		if (round == 0 && !(n == 1 && ev[0].fd == pr[0] && read(pr[0], buf, sizeof buf) == 1))
			snprintf(err, errlen, "the fd written during the recv was not "
			         "reported (wait returned %d)", n);
		else if (round == 1 && n != 0)
			snprintf(err, errlen, "the wake was reported as %d events", n);
	}
out:
	pollux_free(p);
	int fds[] = { pr[0], pr[1], quiet[0], quiet[1], sv[0], sv[1] };
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return NULL;
}

START_TEST(threads_calls_not_interrupted)
{
	struct quiet_case qc = { .idx = _i };
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, calls_not_interrupted, &qc), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(!qc.err[0], "%s: %s", ct_name(_i), qc.err);
}
END_TEST

void ct_add_threads(TCase *tc, int idx)
{
	tcase_add_loop_test(tc, threads_separate_pollers, idx, idx + 1);
	ct_add(tc, threads_handover, idx);
	ct_add(tc, threads_del_from_other_thread, idx);
	ct_add(tc, threads_calls_not_interrupted, idx);
}
