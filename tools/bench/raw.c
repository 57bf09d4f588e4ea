/* raw.c: the pipe benchmark run by loops that call select, poll,
 * epoll_wait, kevent and io_uring directly, with no library, so the library's
 * overhead shows. */
#include "toolconfig.h"
#include "bench.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#ifdef HAVE_SYS_SELECT_H
#include <sys/select.h>
#include <sys/time.h>
#endif
#ifdef HAVE_POLL_H
#include <poll.h>
#endif
#ifdef HAVE_SYS_EPOLL_H
#include <sys/epoll.h>
#endif
#ifdef TOOLS_HAVE_KEVENT
#include <stdint.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#include <time.h>
#endif
#ifdef TOOLS_HAVE_LIBURING
#include <liburing.h>
#include <poll.h>
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN	(1U << 8)
#define IORING_SETUP_TASKRUN_FLAG	(1U << 9)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_SINGLE_ISSUER	(1U << 12)
#define IORING_SETUP_DEFER_TASKRUN	(1U << 13)
#endif
#endif

/* Each loop is compiled where its kernel interface is (the tool's own
 * configure checks, toolconfig.h); whether it runs is the library's answer:
 * bench.c runs the backends pollux_backends() lists and asks here for the
 * raw loop of each. */

/* Each loop below does what the library path in bench.c does:
 * registration and priming before the clock, then waits with timeout 0,
 * at most b->maxev events per wait (never binding: at most b->active fds
 * are ever ready and maxev >= active), bench_fire for each, until every
 * byte written has been read. select and poll scan their answer from
 * where the last scan stopped, as a fair loop must and the library does,
 * so neither side does a longer scan than the other. */

#ifdef HAVE_SYS_SELECT_H
#define WORD_BITS (sizeof(unsigned long) * CHAR_BIT)

/* Index of the lowest set bit of a non-zero word. */
static unsigned lowest_bit(unsigned long w)
{
#if defined(__GNUC__)
	return (unsigned)__builtin_ctzl(w);
#else
	unsigned i = 0;
	while (!(w & 1ul)) {
		w >>= 1;
		i++;
	}
	return i;
#endif
}

/* Bitmaps as arrays of words, sized for maxfd rather than FD_SETSIZE, so
 * fds past 1024 work where the kernel accepts it (TOOLS_SELECT_LARGE), as
 * the library's select backend does; FD_SET is never used. */
static int raw_select(struct bench *b, uint64_t *ns)
{
#ifndef TOOLS_SELECT_LARGE
	if (b->maxfd >= FD_SETSIZE) {
		b->err = "select: fd past FD_SETSIZE on this system";
		b->err_errno = ERANGE;
		return -1;
	}
#endif
	size_t nwords = (size_t)b->maxfd / WORD_BITS + 1;
	size_t bytes = nwords * sizeof(unsigned long);
	if (bytes < sizeof(fd_set))
		bytes = sizeof(fd_set);
	unsigned long *master = calloc(1, bytes);
	unsigned long *work = calloc(1, bytes);
	if (!master || !work) {
		free(master);
		free(work);
		b->err = "out of memory";
		b->err_errno = ENOMEM;
		return -1;
	}
	for (int i = 0; i < b->n; i++) {
		unsigned fd = (unsigned)b->rfd[i];
		master[fd / WORD_BITS] |= 1ul << (fd % WORD_BITS);
	}
	int rc = bench_prime(b);
	if (rc < 0)
		goto out;

	int cursor = 0;		/* fd the next scan starts at */
	uint64_t t0 = px_now_ns();
	while (b->count < b->fired) {
		struct timeval tv = { 0, 0 };
		memcpy(work, master, nwords * sizeof(unsigned long));
		int k = select(b->maxfd + 1, (fd_set *)(void *)work, NULL, NULL, &tv);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			b->err = "select";
			b->err_errno = errno;
			rc = -1;
			goto out;
		}
		b->waits++;
		if (k == 0) {
			if ((rc = bench_empty(b)) < 0)
				goto out;
			continue;
		}
		if (k > b->maxev)
			k = b->maxev;
		/* Scan a word at a time from where the last scan stopped,
		 * wrapping, until all k are found: fair, and no more work
		 * than needed. */
		int found = 0;
		size_t w0 = (size_t)cursor / WORD_BITS;
		unsigned b0 = (unsigned)cursor % WORD_BITS;
		for (size_t s = 0; s <= nwords && found < k; s++) {
			size_t w = (w0 + s) % nwords;
			unsigned long word = work[w];
			if (s == 0)
				word &= ~0ul << b0;
			else if (s == nwords)
				word &= (1ul << b0) - 1;
			while (word && found < k) {
				int fd = (int)(w * WORD_BITS + lowest_bit(word));
				word &= word - 1;
				found++;
				cursor = fd + 1 > b->maxfd ? 0 : fd + 1;
				if ((rc = bench_fire(b, b->idx_of_fd[fd])) < 0)
					goto out;
			}
		}
	}
	*ns = px_now_ns() - t0;
out:
	free(master);
	free(work);
	return rc;
}
#endif

#ifdef HAVE_POLL_H
/* One pollfd per pair, in pair order, so the index is the pair. */
static int raw_poll(struct bench *b, uint64_t *ns)
{
	struct pollfd *pfd = calloc((size_t)b->n, sizeof *pfd);
	if (!pfd) {
		b->err = "out of memory";
		b->err_errno = ENOMEM;
		return -1;
	}
	for (int i = 0; i < b->n; i++) {
		pfd[i].fd = b->rfd[i];
		pfd[i].events = POLLIN;
	}
	int rc = bench_prime(b);
	if (rc < 0)
		goto out;

	int cursor = 0;		/* pollfd the next scan starts at */
	uint64_t t0 = px_now_ns();
	while (b->count < b->fired) {
		int k = poll(pfd, (nfds_t)b->n, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			b->err = "poll";
			b->err_errno = errno;
			rc = -1;
			goto out;
		}
		b->waits++;
		if (k == 0) {
			if ((rc = bench_empty(b)) < 0)
				goto out;
			continue;
		}
		if (k > b->maxev)
			k = b->maxev;
		/* From where the last scan stopped, wrapping: fair, and
		 * it stops once all k are found. */
		int found = 0, i = cursor;
		for (int s = 0; s < b->n && found < k; s++) {
			int fired = pfd[i].revents != 0;
			int at = i;
			if (++i == b->n)
				i = 0;
			if (!fired)
				continue;
			found++;
			if ((rc = bench_fire(b, at)) < 0)
				goto out;
		}
		cursor = i;
	}
	*ns = px_now_ns() - t0;
out:
	free(pfd);
	return rc;
}
#endif

#ifdef HAVE_SYS_EPOLL_H
/* The pair index rides in the event's data, as a raw epoll user would. */
static int raw_epoll(struct bench *b, uint64_t *ns)
{
	struct epoll_event *ev = calloc((size_t)b->maxev, sizeof *ev);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int rc = -1;
	if (!ev || ep < 0) {
		b->err = ev ? "epoll_create1" : "out of memory";
		b->err_errno = ev ? errno : ENOMEM;
		goto out;
	}
	for (int i = 0; i < b->n; i++) {
		struct epoll_event e;
		memset(&e, 0, sizeof e);
		e.events = EPOLLIN;
		e.data.u32 = (uint32_t)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, b->rfd[i], &e) < 0) {
			b->err = "epoll_ctl";
			b->err_errno = errno;
			goto out;
		}
	}
	if ((rc = bench_prime(b)) < 0)
		goto out;

	uint64_t t0 = px_now_ns();
	while (b->count < b->fired) {
		int k = epoll_wait(ep, ev, b->maxev, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			b->err = "epoll_wait";
			b->err_errno = errno;
			rc = -1;
			goto out;
		}
		b->waits++;
		if (k == 0) {
			if ((rc = bench_empty(b)) < 0)
				goto out;
			continue;
		}
		for (int j = 0; j < k; j++)
			if ((rc = bench_fire(b, (int)ev[j].data.u32)) < 0)
				goto out;
	}
	*ns = px_now_ns() - t0;
out:
	if (ep >= 0)
		close(ep);
	free(ev);
	return rc;
}
#endif

#ifdef TOOLS_HAVE_KEVENT
/* The pair index rides in udata, as a raw kqueue user would; the adds go
 * in as one changelist, as kqueue users batch them. */
static int raw_kqueue(struct bench *b, uint64_t *ns)
{
	struct kevent *ev = calloc((size_t)(b->maxev > b->n ? b->maxev : b->n),
	                           sizeof *ev);
	struct kevent *chg = calloc((size_t)b->n, sizeof *chg);
	struct timespec zero = { 0, 0 };
	int kq = kqueue();
	int rc = -1;
	if (!ev || !chg || kq < 0) {
		b->err = ev && chg ? "kqueue" : "out of memory";
		b->err_errno = ev && chg ? errno : ENOMEM;
		goto out;
	}
	for (int i = 0; i < b->n; i++)
		EV_SET(&chg[i], (uintptr_t)b->rfd[i], EVFILT_READ, EV_ADD | EV_RECEIPT,
		       0, 0, (void *)(uintptr_t)i);
	/* In slices: libkqueue answers at most 512 receipts per call. */
	for (int i = 0; i < b->n; i += 512) {
		int c = b->n - i < 512 ? b->n - i : 512;
		int k = kevent(kq, chg + i, c, ev, c, &zero);
		for (int j = 0; j < k && rc == -1; j++)
			if ((ev[j].flags & EV_ERROR) && ev[j].data != 0)
				rc = (int)ev[j].data;
		if (k < 0 || rc != -1) {
			b->err = "kevent EV_ADD";
			b->err_errno = k < 0 ? errno : rc;
			rc = -1;
			goto out;
		}
	}
	if ((rc = bench_prime(b)) < 0)
		goto out;

	uint64_t t0 = px_now_ns();
	while (b->count < b->fired) {
		int k = kevent(kq, NULL, 0, ev, b->maxev, &zero);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			b->err = "kevent";
			b->err_errno = errno;
			rc = -1;
			goto out;
		}
		b->waits++;
		if (k == 0) {
			if ((rc = bench_empty(b)) < 0)
				goto out;
			continue;
		}
		for (int j = 0; j < k; j++)
			if ((rc = bench_fire(b, (int)(uintptr_t)ev[j].udata)) < 0)
				goto out;
	}
	*ns = px_now_ns() - t0;
out:
	if (kq >= 0)
		close(kq);
	free(chg);
	free(ev);
	return rc;
}
#endif

#ifdef TOOLS_HAVE_LIBURING
/* A one-shot IORING_OP_POLL_ADD per pair, the pair index in user_data,
 * armed again after each completion: level-triggered, as the library's
 * uring backend does. The ring is full when a prep finds no SQE: submit
 * and take one again. */
static struct io_uring_sqe *raw_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	if (!sqe && io_uring_submit(ring) >= 0)
		sqe = io_uring_get_sqe(ring);
	return sqe;
}

static int raw_uring_arm(struct bench *b, struct io_uring *ring, int i)
{
	struct io_uring_sqe *sqe = raw_sqe(ring);
	if (!sqe) {
		b->err = "io_uring_get_sqe";
		b->err_errno = EBUSY;
		return -1;
	}
	io_uring_prep_poll_add(sqe, b->rfd[i], POLLIN);
	sqe->user_data = (uint64_t)i;
	return 0;
}

static int raw_uring(struct bench *b, uint64_t *ns)
{
	struct io_uring ring;
	struct io_uring_cqe **cqes = calloc((size_t)b->maxev, sizeof *cqes);
	struct io_uring_params prm;
	/* The library's ring: the same sizes, and the first of its modes the
	 * kernel takes: DEFER_TASKRUN (6.1; this thread is the only one, so
	 * the library's R_DISABLED is not needed), COOP_TASKRUN (5.19),
	 * neither. */
	static const unsigned modes[] = {
		IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
			IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		0,
	};
	int rc = -ENOMEM;
	for (size_t m = 0; cqes && m < sizeof modes / sizeof modes[0]; m++) {
		memset(&prm, 0, sizeof prm);
		prm.flags = IORING_SETUP_CQSIZE | modes[m];
		prm.cq_entries = 4096;
		rc = io_uring_queue_init_params(256, &ring, &prm);
		if (rc != -EINVAL)
			break;
	}
	if (rc < 0) {
		free(cqes);
		b->err = cqes ? "io_uring_queue_init_params" : "out of memory";
		b->err_errno = -rc;
		return -1;
	}
	for (int i = 0; i < b->n; i++)
		if ((rc = raw_uring_arm(b, &ring, i)) < 0)
			goto out;
	if ((rc = bench_prime(b)) < 0)
		goto out;

	uint64_t t0 = px_now_ns();
	while (b->count < b->fired) {
		/* One io_uring_enter: submit the re-arms, then take what has
		 * completed without waiting. */
		struct __kernel_timespec zero = { 0, 0 };
		struct io_uring_cqe *cqe;
		int k = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &zero, NULL);
		if (k < 0 && k != -ETIME && k != -EINTR) {
			b->err = "io_uring_submit_and_wait_timeout";
			b->err_errno = -k;
			rc = -1;
			goto out;
		}
		b->waits++;
		/* What has completed at this wait, as the library takes it:
		 * a completion that a write below posts is the next wait's
		 * (io_uring_for_each_cqe would run on into it without one). */
		unsigned seen = io_uring_peek_batch_cqe(&ring, cqes, (unsigned)b->maxev);
		for (unsigned j = 0; j < seen; j++) {
			cqe = cqes[j];
			int i = (int)cqe->user_data;
			if (cqe->res < 0) {
				b->err = "poll completion";
				b->err_errno = -cqe->res;
				rc = -1;
				goto out;
			}
			if ((rc = bench_fire(b, i)) < 0 ||
			    (rc = raw_uring_arm(b, &ring, i)) < 0)
				goto out;
		}
		io_uring_cq_advance(&ring, seen);
		if (seen == 0 && (rc = bench_empty(b)) < 0)
			goto out;
	}
	*ns = px_now_ns() - t0;
	rc = 0;
out:
	io_uring_queue_exit(&ring);
	free(cqes);
	return rc;
}
#endif

bench_raw_fn bench_raw_lookup(const char *backend)
{
#ifdef HAVE_SYS_SELECT_H
	if (strcmp(backend, "select") == 0)
		return raw_select;
#endif
#ifdef HAVE_POLL_H
	if (strcmp(backend, "poll") == 0)
		return raw_poll;
#endif
#ifdef HAVE_SYS_EPOLL_H
	if (strcmp(backend, "epoll") == 0)
		return raw_epoll;
#endif
#ifdef TOOLS_HAVE_KEVENT
	if (strcmp(backend, "kqueue") == 0)
		return raw_kqueue;
#endif
#ifdef TOOLS_HAVE_LIBURING
	if (strcmp(backend, "uring") == 0)
		return raw_uring;
#endif
	(void)backend;
	return NULL;
}
