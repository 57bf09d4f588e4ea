/* conformance_threads.c: separate pollers used by separate threads at the
 * same time never see each other's fds or events (no shared state). */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
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

void ct_add_threads(TCase *tc, int idx)
{
	tcase_add_loop_test(tc, threads_separate_pollers, idx, idx + 1);
}
