/* uring.c: the io_uring backend, readiness through IORING_OP_POLL_ADD.
 * Level-triggered interest is a one-shot poll armed again after each
 * report, EDGE a multishot poll, ONESHOT a one-shot poll left unarmed.
 * add and mod only write down what to do; the next wait puts it in the
 * submission ring and submits it in the io_uring_enter that waits. A del
 * of an armed poll submits its removal at once (see uring_del). The ring
 * belongs to the thread that first waits on it (see ring_modes). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "backend.h"

/* The completion ring is sized well past the submission ring: a wait may
 * submit several batches (see get_sqe), and a multishot poll adds a
 * completion per wake-up. Past it, the kernel keeps completions aside
 * (IORING_FEAT_NODROP) until reap makes room. */
#define SQ_ENTRIES	256
#define CQ_ENTRIES	4096
/* Fewer completions than the kernel posts in one batch of deferred work
 * (IO_LOCAL_TW_DEFAULT_MAX, 20 in Linux 6.18): a wait that reaped at least
 * this many may have left some in the kernel (see uring_wait). */
#define LOCAL_BATCH	16

/*
 * user_data of a poll: fd in bits 0-30, kind in bit 31, and in bits 32-63
 * the poll's own number (seq), new for every poll this backend arms. A
 * registration (the core's tag) makes many polls here, one per re-arm and
 * per mod, so the poll number rather than the tag is what tells the live
 * poll from an older one of the same registration, of a deleted one, or
 * of an earlier registration under the same fd number.
 */
#define KIND_POLL	0u
#define KIND_REMOVE	1u
#define UD(fd, kind, seq) ((uint64_t)(seq) << 32 | (uint64_t)(kind) << 31 | \
                           (uint64_t)(uint32_t)(fd))
#define UD_FD(u)	((int)((u) & 0x7fffffffu))
#define UD_KIND(u)	((unsigned)((u) >> 31) & 1u)
#define UD_SEQ(u)	((uint32_t)((u) >> 32))

/* Per registered fd (px_fdinfo). Valid for ring generation gen only: a
 * rebuild makes every older one idle (see fresh). */
struct ufd {
	unsigned events;	/* interest: IN|OUT, EDGE, ONESHOT */
	px_tag tag;
	uint32_t seq;		/* the live poll, 0: none in the kernel */
	uint32_t gen;
	unsigned ready;		/* POLLUX_* completed, not handed out yet */
	unsigned char queued;	/* in rq */
	unsigned char pending;	/* in arm: a poll to arm at the next wait */
	unsigned char more;	/* the live multishot poll has reported */
};

struct fdq {			/* a growable FIFO of fds */
	int *v;
	int head, n, cap;
};

struct uring {
	struct io_uring ring;
	struct io_uring old;	/* during PX_RB_STALE */
	int have_ring, have_old;
	struct pollux *p;
	uint32_t seq, gen;
	struct fdq arm;		/* polls to arm, in this order */
	struct fdq rq;		/* completed, to hand out, in this order */
	uint64_t *rm;		/* polls to remove (their user_data) */
	int nrm, caprm;
	int overflowed;		/* reap met completions kept aside */
	int disabled;		/* ring made disabled, not yet enabled */
	int deferred;		/* ring made with DEFER_TASKRUN */
	unsigned forks;		/* forks_seen when the ring was made here */
};

/*
 * The rings are kept out of a forked child (see setup), so a child that
 * waits without pollux_reinit would touch memory that is not mapped there.
 * A wait that finds the core's fork count changed asks for a rebuild, which
 * gives the child a ring of its own, as pollux_reinit would: never a crash,
 * and never the parent's queue.
 */
static int forked(const struct uring *st)
{
	return st->forks != px_forks();
}

static int multishot(unsigned events)
{
	return (events & POLLUX_EDGE) && !(events & POLLUX_ONESHOT);
}

static int level(unsigned events)
{
	return !(events & (POLLUX_EDGE | POLLUX_ONESHOT));
}

/* The fd's area, made idle if it comes from before the last rebuild. */
static struct ufd *fresh(struct uring *st, struct ufd *f)
{
	if (f && f->gen != st->gen) {
		f->seq = 0;
		f->ready = 0;
		f->queued = f->pending = 0;
		f->gen = st->gen;
	}
	return f;
}

static struct ufd *lookup(struct uring *st, int fd)
{
	return fresh(st, px_fdinfo(st->p, fd));
}

/* Room for one more at the tail of q, moving the live part down first. */
static int fdq_room(struct fdq *q)
{
	if (q->n < q->cap)
		return 0;
	if (q->head > 0) {
		memmove(q->v, q->v + q->head, (size_t)(q->n - q->head) * sizeof *q->v);
		q->n -= q->head;
		q->head = 0;
		return 0;
	}
	int *v = px_grow(q->v, &q->cap, q->n + 1, sizeof *v, 64);
	if (!v)
		return -1;
	q->v = v;
	return 0;
}

/* Callers made room first (fdq_room), so that a push cannot fail after
 * the state it records has changed. */
static void fdq_push(struct fdq *q, int fd)
{
	q->v[q->n++] = fd;
}

static void arm_later(struct uring *st, int fd, struct ufd *f)
{
	f->pending = 1;
	fdq_push(&st->arm, fd);
}

static int rm_room(struct uring *st)
{
	uint64_t *v = px_grow(st->rm, &st->caprm, st->nrm + 1, sizeof *v, 16);
	if (!v)
		return -1;
	st->rm = v;
	return 0;
}

#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN	(1U << 8)
#define IORING_SETUP_TASKRUN_FLAG	(1U << 9)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_SINGLE_ISSUER	(1U << 12)
#define IORING_SETUP_DEFER_TASKRUN	(1U << 13)
#endif

/*
 * How the kernel posts a completion, best first. A poll that fires runs
 * task work in the thread that submitted it, and by default that work
 * interrupts the thread like a signal would: a blocking system call the
 * program makes meanwhile, one that returns EINTR rather than restarting
 * (epoll_wait; connect, send or recv on a socket with SO_SNDTIMEO or
 * SO_RCVTIMEO), fails with EINTR although no signal came, a failure no
 * other backend causes (tests/conformance_threads.c).
 * - DEFER_TASKRUN (6.1) runs that work only when this backend enters the
 *   kernel to wait, so nothing reaches the program's other calls. It needs
 *   SINGLE_ISSUER: one thread submits and waits. R_DISABLED leaves the
 *   ring unbound until the first wait enables it, so the thread that
 *   waits, not the one that called pollux_new, owns it; a wait from
 *   another thread later gets EEXIST and the ring is rebuilt for it.
 * - COOP_TASKRUN (5.19) spares the thread an IPI, but the work still
 *   interrupts its next sleep.
 * - Neither (5.18).
 * TASKRUN_FLAG tells liburing that work is pending, so that a wait that
 * finds its completion ring empty enters the kernel to run it.
 */
static const unsigned ring_modes[] = {
	IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
		IORING_SETUP_R_DISABLED | IORING_SETUP_TASKRUN_FLAG,
	IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
	0,
};

/* io_uring_enable_rings, which liburing 2.3 declares but does not export. */
static int enable(struct io_uring *ring)
{
	return (int)syscall(__NR_io_uring_register, ring->ring_fd,
	                    IORING_REGISTER_ENABLE_RINGS, NULL, 0);
}

static int setup(struct io_uring *ring, int *disabled, int *deferred)
{
	struct io_uring_params prm;
	/* SUBMIT_ALL (5.18) goes on past an SQE that fails; a kernel that
	 * knows it has every poll feature used here (multishot is 5.13). A
	 * kernel too old for a mode refuses it with EINVAL: the next one. */
	unsigned flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
	int rc = -EINVAL;
	size_t m;
	for (m = 0; m < sizeof ring_modes / sizeof ring_modes[0] && rc == -EINVAL; m++) {
		memset(&prm, 0, sizeof prm);
		prm.flags = flags | ring_modes[m];
		prm.cq_entries = CQ_ENTRIES;
		rc = io_uring_queue_init_params(SQ_ENTRIES, ring, &prm);
	}
	if (rc < 0) {
		/* Refused (seccomp, kernel.io_uring_disabled: EPERM), absent
		 * (ENOSYS) or too old for these flags (EINVAL): not here. */
		int e = -rc;
		errno = (e == ENOMEM || e == EMFILE || e == ENFILE) ? e : ENOSYS;
		return -1;
	}
	*disabled = (prm.flags & IORING_SETUP_R_DISABLED) != 0;
	*deferred = (prm.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
	/* The timeout of a wait rides in the enter call (EXT_ARG, 5.11);
	 * overflowing completions must be kept, not dropped (NODROP); the
	 * success of a poll removal needs no completion (CQE_SKIP, 5.17). */
	unsigned need = IORING_FEAT_EXT_ARG | IORING_FEAT_NODROP | IORING_FEAT_CQE_SKIP;
	struct io_uring_probe *pr = (prm.features & need) == need ?
	                            io_uring_get_probe_ring(ring) : NULL;
	int ok = pr && io_uring_opcode_supported(pr, IORING_OP_POLL_ADD) &&
	         io_uring_opcode_supported(pr, IORING_OP_POLL_REMOVE);
	if (pr)
		io_uring_free_probe(pr);
	/* A forked child must not see the rings at all: they are mapped
	 * shared, so a child writing an SQE or moving the CQ head would
	 * change the parent's queue. Without the mappings it can only
	 * close its copy of the fd (PX_RB_FORK). */
	if (!ok || (rc = io_uring_ring_dontfork(ring)) < 0) {
		io_uring_queue_exit(ring);
		errno = ok ? -rc : ENOSYS;
		return -1;
	}
	return 0;
}

static int uring_init(void *vst, struct pollux *p)
{
	struct uring *st = vst;
	st->p = p;
	st->gen = 1;
	if (setup(&st->ring, &st->disabled, &st->deferred) < 0)
		return -1;
	st->have_ring = 1;
	st->forks = px_forks();
	return 0;
}

static void uring_fini(void *vst)
{
	struct uring *st = vst;
	if (forked(st)) {	/* the rings are not mapped here: only the fds */
		if (st->have_ring)
			close(st->ring.ring_fd);
		if (st->have_old)
			close(st->old.ring_fd);
	} else {
		if (st->have_ring)
			io_uring_queue_exit(&st->ring);
		if (st->have_old)
			io_uring_queue_exit(&st->old);
	}
	free(st->arm.v);
	free(st->rq.v);
	free(st->rm);
}

static int uring_add(void *vst, int fd, unsigned events, px_tag tag, void *fi)
{
	struct uring *st = vst;
	struct ufd *f = fi;
	/* A poll for a closed fd fails only in its completion, after
	 * pollux_add has returned: check here, as select and poll do. */
	if (fcntl(fd, F_GETFD) < 0) {
		errno = EBADF;
		return -1;
	}
	if (fdq_room(&st->arm) < 0)
		return -1;
	/* The area is zeroed for a new registration but not for one the
	 * core adds again after a rebuild: set all of it. */
	*f = (struct ufd){ .events = events, .tag = tag, .gen = st->gen };
	arm_later(st, fd, f);
	return 0;
}

static int uring_mod(void *vst, int fd, unsigned old, unsigned events,
                     px_tag tag, void *fi)
{
	struct uring *st = vst;
	struct ufd *f = fresh(st, fi);
	unsigned io = POLLUX_IN | POLLUX_OUT;
	/* Level and ONESHOT are the same one-shot poll with the same mask:
	 * the one in the kernel (or its completion in rq) still holds. */
	if (!multishot(old) && !multishot(events) && (old & io) == (events & io) &&
	    (f->seq || f->queued || f->pending)) {
		f->events = events;
		f->tag = tag;
		return 0;
	}
	if ((f->seq && rm_room(st) < 0) || (!f->pending && fdq_room(&st->arm) < 0))
		return -1;
	if (f->seq)
		st->rm[st->nrm++] = UD(fd, KIND_POLL, f->seq);
	/* The new poll reports what is ready now, under the new mask; for
	 * EDGE with the same mask that is the re-arm programs rely on. */
	*f = (struct ufd){ .events = events, .tag = tag, .gen = st->gen,
	                   .pending = f->pending };
	if (!f->pending)
		arm_later(st, fd, f);
	return 0;
}

static void prep_remove(struct io_uring_sqe *sqe, uint64_t ud)
{
	io_uring_prep_rw(IORING_OP_POLL_REMOVE, sqe, -1, NULL, 0, 0);
	sqe->addr = ud;
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	sqe->user_data = UD(0, KIND_REMOVE, 0);
}

/* Submits the removal of the poll ud at once. 0, or -1 if no SQE is free.
 * An enter that fails leaves the SQE in the ring, past its tail, for the
 * next enter to submit: listing it again would only remove it twice. */
/*
 * Closes the ring now, and with it every poll in it, so that their files
 * are released; the next wait asks the core to rebuild (PX_REBUILD), which
 * registers every descriptor again in a new ring. Every fd's area is from
 * an older generation from here on (see fresh): no poll of theirs is left.
 */
static void drop_ring(struct uring *st)
{
	io_uring_queue_exit(&st->ring);
	st->have_ring = 0;
	if (++st->gen == 0)
		st->gen = 1;
	st->arm.head = st->arm.n = 0;
	st->rq.head = st->rq.n = 0;
	st->nrm = 0;
}

static int remove_now(struct uring *st, uint64_t ud)
{
	struct io_uring_sqe *sqe = st->disabled ? NULL : io_uring_get_sqe(&st->ring);
	if (!sqe)
		return -1;
	prep_remove(sqe, ud);
	/* GETEVENTS: with DEFER_TASKRUN the cancelled poll's completion, which
	 * drops its file, runs only in an enter that asks for events. A thread
	 * that does not own the ring cannot submit (EEXIST): the file is then
	 * released by closing the ring, which the next wait rebuilds. */
	if (io_uring_submit_and_get_events(&st->ring) == -EEXIST)
		drop_ring(st);
	return 0;
}

static int uring_del(void *vst, int fd, unsigned old, void *fi)
{
	struct uring *st = vst;
	struct ufd *f = fresh(st, fi);
	(void)old;
	/* A poll in the kernel holds a reference to its file, so a socket
	 * deleted and then closed would stay open (its peer sees no end of
	 * file) until the next wait submitted the removal, which a program
	 * done with this poller never makes. So the removal goes in now, one
	 * io_uring_enter, as epoll's del is one epoll_ctl; it goes by
	 * user_data, so an fd closed already is no matter. The enter asks for
	 * events, so the cancel's completion runs in it (with DEFER_TASKRUN
	 * only such an enter runs it; otherwise at the latest on the way back
	 * to user space), which drops the reference. */
	if (f->seq && st->have_ring) {
		uint64_t ud = UD(fd, KIND_POLL, f->seq);
		if (!forked(st) && remove_now(st, ud) == 0)
			;	/* in the kernel's hands */
		else if (rm_room(st) < 0)
			return -1;
		else
			st->rm[st->nrm++] = ud;	/* the next wait submits it */
	}
	*f = (struct ufd){ .gen = st->gen };
	return 0;
}

/* A free SQE; a full submission ring is submitted first (the only extra
 * io_uring_enter, when more than SQ_ENTRIES changes wait). NULL if the
 * kernel takes none now (its completions are reaped by the wait first). */
static struct io_uring_sqe *get_sqe(struct uring *st)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);
	if (!sqe && io_uring_submit(&st->ring) >= 0)
		sqe = io_uring_get_sqe(&st->ring);
	return sqe;
}

/* Everything add, mod, del and the last wait wrote down, into the ring:
 * removals first, then polls in the order they were asked for. What does
 * not fit stays listed for the next wait. */
static void queue_changes(struct uring *st)
{
	int i;
	for (i = 0; i < st->nrm; i++) {
		struct io_uring_sqe *sqe = get_sqe(st);
		if (!sqe)
			break;
		prep_remove(sqe, st->rm[i]);
	}
	if (i > 0) {
		memmove(st->rm, st->rm + i, (size_t)(st->nrm - i) * sizeof *st->rm);
		st->nrm -= i;
	}

	struct fdq *q = &st->arm;
	for (; q->head < q->n; q->head++) {
		int fd = q->v[q->head];
		struct ufd *f = lookup(st, fd);
		if (!f || !f->pending)
			continue;	/* deleted since, or listed twice */
		struct io_uring_sqe *sqe = get_sqe(st);
		if (!sqe)
			break;
		unsigned mask = ((f->events & POLLUX_IN) ? POLLIN : 0) |
		                ((f->events & POLLUX_OUT) ? POLLOUT : 0);
		io_uring_prep_poll_add(sqe, fd, mask);
		if (multishot(f->events))
			sqe->len |= IORING_POLL_ADD_MULTI;
		if (++st->seq == 0)
			st->seq = 1;
		f->seq = st->seq;
		f->pending = 0;
		f->more = 0;
		sqe->user_data = UD(fd, KIND_POLL, f->seq);
	}
	if (q->head == q->n)
		q->head = q->n = 0;
}

static unsigned from_poll(int res)
{
	return ((res & (POLLIN | POLLPRI)) ? POLLUX_IN : 0) |
	       ((res & POLLOUT) ? POLLUX_OUT : 0) |
	       ((res & POLLERR) ? POLLUX_ERR : 0) |
	       ((res & POLLHUP) ? POLLUX_HUP : 0);
}

/* One completion into the fd's area and rq. */
static void complete(struct uring *st, uint64_t ud, int res, unsigned flags)
{
	if (UD_KIND(ud) != KIND_POLL)
		return;		/* a removal that found its poll gone */
	int fd = UD_FD(ud);
	struct ufd *f = lookup(st, fd);
	if (!f || f->seq != UD_SEQ(ud))
		return;		/* a poll removed or replaced since */
	int first = !f->more;
	if (flags & IORING_CQE_F_MORE)
		f->more = 1;
	else
		f->seq = 0;	/* that poll is over */
	if (res == -EBADF)
		return;		/* closed: out of the set, as epoll drops it */
	if (res == -ECANCELED) {
		/* Not by us (we forget a poll before removing it): the
		 * thread that submitted it exited. Arm it again. */
		if (!f->seq && !f->pending)
			arm_later(st, fd, f);
		return;
	}
	f->ready |= res < 0 ? POLLUX_ERR : from_poll(res);
	if (!f->queued) {
		f->queued = 1;
		fdq_push(&st->rq, fd);
	}
	/* A multishot poll the kernel ended. At its first report, with no
	 * completion kept aside, that is a file it cannot wait on (a regular
	 * file, /dev/null): always ready, and an edge is reported once, as
	 * epoll's backend does. Otherwise a full completion ring ended it: a
	 * new one, which reports what is ready now. */
	if (!f->seq && multishot(f->events) && !f->pending &&
	    (!first || st->overflowed))
		arm_later(st, fd, f);
}

/* Takes every completion there is, kept ones (NODROP) included. Returns
 * how many, or -1 (ENOMEM) if none could be taken for want of room;
 * those left stay in the ring for the next wait. */
static int reap(struct uring *st)
{
	int seen = 0;
	st->overflowed = io_uring_cq_has_overflow(&st->ring);
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		int full = 0;
		io_uring_for_each_cqe(&st->ring, head, cqe) {
			/* One completion pushes at most once on each. */
			if (fdq_room(&st->rq) < 0 || fdq_room(&st->arm) < 0) {
				full = 1;
				break;
			}
			complete(st, cqe->user_data, cqe->res, cqe->flags);
			n++;
		}
		io_uring_cq_advance(&st->ring, n);
		seen += (int)n;
		if (full)
			return seen ? seen : -1;
		if (!io_uring_cq_has_overflow(&st->ring))
			return seen;
		st->overflowed = 1;
		/* Completions kept aside: an enter moves them in. */
		struct __kernel_timespec ts = { 0, 0 };
		(void)io_uring_wait_cqe_timeout(&st->ring, &cqe, &ts);
	}
}

/*
 * Hands out up to maxev completed fds, oldest first. What is left is
 * asked again: a level or ONESHOT fd not handed out gets a new poll (its
 * completion may be stale by the next wait), listed before the re-arms of
 * the fds handed out now, so that it is reported first next time and none
 * starves. An EDGE fd's completion stays in rq: the edge happened.
 */
static int hand_out(struct uring *st, struct pollux_event *ev, int maxev)
{
	struct fdq *q = &st->rq;
	int out = 0;
	while (out < maxev && q->head < q->n) {
		int fd = q->v[q->head++];
		struct ufd *f = lookup(st, fd);
		if (!f || !f->queued)
			continue;
		f->queued = 0;
		ev[out].fd = fd;
		ev[out].events = f->ready;
		ev[out].data = px_tag_data(f->tag);
		f->ready = 0;
		out++;
	}
	int keep = 0;
	for (int i = q->head; i < q->n; i++) {
		int fd = q->v[i];
		struct ufd *f = lookup(st, fd);
		if (!f || f->queued != 1)
			continue;	/* stale, or listed twice */
		if (multishot(f->events)) {
			f->queued = 2;	/* marks it kept, for the check above */
			q->v[keep++] = fd;
			continue;
		}
		f->queued = 0;
		f->ready = 0;
		if (!f->pending)
			arm_later(st, fd, f);
	}
	q->head = 0;
	q->n = keep;
	for (int i = 0; i < keep; i++)
		lookup(st, q->v[i])->queued = 1;
	for (int i = 0; i < out; i++) {
		struct ufd *f = lookup(st, ev[i].fd);
		if (level(f->events) && !f->seq && !f->pending)
			arm_later(st, ev[i].fd, f);
	}
	return out;
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int uring_wait(void *vst, struct pollux_event *ev, int maxev,
                      long long timeout_ns)
{
	struct uring *st = vst;
	if (forked(st) || !st->have_ring)
		return PX_REBUILD;	/* a child without pollux_reinit, or dropped */
	if (st->disabled) {
		/* The first wait: this thread owns the ring from now on. */
		if (enable(&st->ring) < 0)
			return -1;
		st->disabled = 0;
	}
	queue_changes(st);
	/* EDGE completions kept from the last wait: do not block. */
	long long t = st->rq.head < st->rq.n ? 0 : timeout_ns;
	struct __kernel_timespec ts;
	if (t < 0) {
		ts.tv_sec = (long long)1 << 40;	/* past any kernel clock: blocks */
		ts.tv_nsec = 0;
	} else {
		ts.tv_sec = t / 1000000000LL;
		ts.tv_nsec = t % 1000000000LL;
	}
	long long t0 = t > 0 ? now_ns() : 0;
	struct io_uring_cqe *cqe;
	/* One io_uring_enter: submits the queued changes and waits for one
	 * completion at most ts (IORING_ENTER_EXT_ARG). */
	int rc = io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, &ts, NULL);
	if (rc == -EEXIST)
		return PX_REBUILD;	/* another thread owns the ring */
	int seen = reap(st);
	/* With DEFER_TASKRUN an enter that may return runs only a batch of the
	 * completions waiting to be posted (20 on Linux 6.18, or as many as it
	 * was asked to wait for), and says nothing of the rest. A full batch
	 * may have left some: one more enter, not waiting, asks for as many
	 * as there is room for, so that one wait reports what is ready, as on
	 * the other backends. */
	if (st->deferred && seen >= LOCAL_BATCH && st->rq.n - st->rq.head < maxev) {
		struct __kernel_timespec zero = { 0, 0 };
		unsigned want = (unsigned)(maxev - (st->rq.n - st->rq.head));
		(void)io_uring_wait_cqes(&st->ring, &cqe, want, &zero, NULL);
		int more = reap(st);
		if (more > 0)
			seen += more;
	}
	if (rc == -EBADR)
		return PX_REBUILD;	/* the kernel dropped completions */
	/* hand_out lists each fd in rq on arm at most once: room first, so
	 * that nothing it takes out of rq is lost. */
	int *v = px_grow(st->arm.v, &st->arm.cap,
	                 st->arm.n + (st->rq.n - st->rq.head) + 1, sizeof *v, 64);
	if (!v)
		return -1;
	st->arm.v = v;
	int n = seen < 0 ? 0 : hand_out(st, ev, maxev);
	if (n > 0)
		return n;
	if (seen < 0)
		return -1;		/* ENOMEM from px_grow */
	if (seen > 0)
		return PX_AGAIN;	/* only stale completions */
	switch (rc) {
	case -ETIME:
		return 0;
	case -EINTR:
		errno = EINTR;
		return -1;
	case -EBUSY:			/* completions kept aside: reaped now */
		return PX_AGAIN;
	case -EAGAIN:
		errno = ENOMEM;
		return -1;
	}
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	if (rc == 0)
		return PX_AGAIN;	/* woken with nothing: not a signal */
	/* The kernel submitted (rc SQEs) and then stopped waiting with no
	 * completion: an io_uring_enter that submits reports the count and
	 * hides the -ETIME or -EINTR of its wait. The clock tells which. An
	 * enter that did not submit everything did not wait at all. */
	if (io_uring_sq_ready(&st->ring))
		return PX_AGAIN;
	if (t == 0 || (t > 0 && now_ns() - t0 >= t))
		return 0;
	errno = EINTR;
	return -1;
}

/*
 * PX_RB_FORK: the ring is the parent's, and without its mappings here
 * (io_uring_ring_dontfork): close this process's fd to it, nothing more,
 * and make a new one. PX_RB_STALE (the kernel dropped completions, so
 * some polls would never report again): a new ring, the old one closed
 * when the core has added everything again. Either way every fd's area is
 * from an older generation now (see fresh), and the lists are dropped.
 */
static int uring_rebuild(void *vst, int phase)
{
	struct uring *st = vst;
	struct io_uring nr;
	int nr_disabled, nr_deferred;
	switch (phase) {
	case PX_RB_FORK:
	case PX_RB_STALE:
		if (setup(&nr, &nr_disabled, &nr_deferred) < 0)
			return -1;
		if (phase == PX_RB_FORK || forked(st)) {
			if (st->have_ring)
				close(st->ring.ring_fd);
			if (st->have_old)
				close(st->old.ring_fd);
			st->have_old = 0;
		} else if (st->have_ring) {
			if (st->have_old)
				io_uring_queue_exit(&st->old);
			st->old = st->ring;
			st->have_old = 1;
		}
		st->ring = nr;
		st->have_ring = 1;
		st->disabled = nr_disabled;
		st->deferred = nr_deferred;
		st->forks = px_forks();
		if (++st->gen == 0)
			st->gen = 1;
		st->arm.head = st->arm.n = 0;
		st->rq.head = st->rq.n = 0;
		st->nrm = 0;
		return 0;
	case PX_RB_DONE:
	case PX_RB_ABORT:
		/* The old ring lost completions: going back to it would not
		 * bring them back; the fds re-added so far are on the new one,
		 * the rest are added again by pollux_mod or pollux_reinit. */
		if (st->have_old)
			io_uring_queue_exit(&st->old);
		st->have_old = 0;
		return 0;
	}
	errno = EINVAL;
	return -1;
}

const struct pollux_backend pollux_backend_uring = {
	.name = "uring",
	.features = POLLUX_FEAT_EDGE | POLLUX_FEAT_O1 | POLLUX_FEAT_NOLIMIT,
	.caps = PX_CAP_ONESHOT,
	.state_size = sizeof(struct uring),
	.fdinfo_size = sizeof(struct ufd),
	.init = uring_init,
	.fini = uring_fini,
	.add = uring_add,
	.mod = uring_mod,
	.del = uring_del,
	.wait = uring_wait,
	.rebuild = uring_rebuild,
};
