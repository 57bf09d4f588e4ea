/* notrun.c: the test cases that a backend of this build is not held to,
 * each with its reason and the evidence for it, and the record of those
 * that were therefore not run. Only for a limit outside pollux, shown to be
 * so: today, kqueue built on libkqueue (kqueue(2) emulated in user space on
 * Linux), and one io_uring case on kernels before 6.1. Each suite prints
 * its record; tests/not-run.sh counts them as SKIP, never as a pass. */
#include <config.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#ifdef HAVE_BACKEND_URING
#include <liburing.h>	/* the flags and io_uring_params only */
#include <sys/syscall.h>
#endif

#include "notrun.h"
#include "pollux.h"

struct mark {
	const char *backend;
	const char *prog;	/* the test program */
	const char *test;
	const char *why;
	int (*when)(void);	/* NULL: always; else only where it says 1 */
};

#ifdef HAVE_BACKEND_URING
/* 1 if this kernel refuses IORING_SETUP_DEFER_TASKRUN (before Linux 6.1);
 * the uring backend then falls back to COOP_TASKRUN (backends/uring.c). */
static int uring_without_defer(void)
{
	struct io_uring_params prm;
	memset(&prm, 0, sizeof prm);
	prm.flags = IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
	            IORING_SETUP_R_DISABLED;
	long fd = syscall(__NR_io_uring_setup, 2, &prm);
	if (fd >= 0) {
		close((int)fd);
		return 0;
	}
	/* An older kernel says EINVAL for the flags; one that refuses
	 * io_uring altogether makes no uring poller to test. */
	return 1;
}
#endif

static const struct mark marks[] = {
#ifdef HAVE_LIBKQUEUE
	/*
	 * libkqueue keeps one epoll registration per fd for its READ and
	 * WRITE knotes (src/linux/platform.c, EPOLL_UDATA_FD_STATE) and asks
	 * epoll_wait for as many events as the caller has kevent slots; an fd
	 * with both filters ready becomes two kevents, so when more is ready
	 * than fits, the fds beyond the slots are dropped after epoll has
	 * moved them to the back of its ready list, and on the next call the
	 * same ones are dropped again. With 400 socketpairs, READ and WRITE
	 * registered, all readable and writable, 400 calls of 16 slots
	 * report 200 of the 400 READ knotes and 200 of the 400 WRITE knotes,
	 * never the others. A kernel's kqueue puts every level-triggered knote
	 * it reports back at the tail of its queue (FreeBSD kqueue_scan,
	 * TAILQ_INSERT_TAIL in sys/kern/kern_event.c), so each ready knote
	 * comes within ceil(ready / slots) calls. This case checks that no fd
	 * starves with maxev 64 among ~3000 fds, a third asking for IN and OUT.
	 */
	{ "kqueue", "test_conformance", "thousands_cross_checked_with_poll",
	  "libkqueue starves fds that have READ and WRITE knotes when more are "
	  "ready than the caller has slots for (its one epoll registration per "
	  "fd yields two kevents; those that do not fit are dropped after "
	  "epoll rotated them); a kernel kqueue re-queues each reported knote "
	  "at the tail", NULL },
	/*
	 * libkqueue reads the socket's pending error with
	 * getsockopt(SO_ERROR) to put it in the kevent's fflags when epoll
	 * says EPOLLERR (src/linux/read.c and write.c, the copyout
	 * functions), and that read clears it: the program's own SO_ERROR is
	 * then 0 and its read() gives 0 instead of ECONNRESET. A nonblocking
	 * connect to a port that refuses it: poll(2) then SO_ERROR gives
	 * ECONNREFUSED; kevent(EVFILT_WRITE) gives EV_EOF with fflags 111,
	 * then SO_ERROR gives 0. FreeBSD's filt_sowrite and filt_soread copy
	 * so_error into kn_fflags and leave it set. pollux-load tells a
	 * refused or reset connection by SO_ERROR and read(), as every program
	 * does, so under libkqueue it counts them as reset or closed.
	 */
	{ "kqueue", "test_load", "refused_target",
	  "libkqueue clears the socket's pending error (its copyout reads "
	  "SO_ERROR for fflags), so a refused connect reads as SO_ERROR 0; a "
	  "kernel kqueue leaves so_error set", NULL },
	{ "kqueue", "test_load", "reset_connections",
	  "libkqueue clears the socket's pending error (its copyout reads "
	  "SO_ERROR for fflags), so a reset connection's read() gives 0, not "
	  "ECONNRESET; a kernel kqueue leaves so_error set", NULL },
	/*
	 * pollux-server --processes checks its backend with a poller it
	 * frees, opens its root directory and the listening sockets, then
	 * forks the workers. Under libkqueue (seen in the ASan build, where
	 * it happens on most runs) the workers no longer hold the root
	 * directory: /proc/PID/fd lists it (fd 5) in the parent and not in
	 * either worker, and every file request answers 404; the same server
	 * with one process, or on every other backend, serves them. The
	 * mechanism, read from libkqueue's source and not proven step by
	 * step: its atfork child handler closes the descriptors of every
	 * kqueue still on its list, and a kqueue the program closed stays
	 * there until libkqueue's monitoring thread gets to it, by which time
	 * the number has been reused. A kernel's kqueue is not inherited by a
	 * child at all, and closes nothing in it.
	 */
	{ "kqueue", "test_server", "procs_http",
	  "libkqueue's fork handler can close, in the child, a descriptor number "
	  "the parent had reused after freeing a kqueue (here the root directory, "
	  "so every file answers 404): a kernel kqueue is simply not inherited", NULL },
	{ "kqueue", "test_server", "procs_echo",
	  "libkqueue's fork handler can close, in the child, a descriptor number "
	  "the parent had reused after freeing a kqueue (here the root directory, "
	  "so every file answers 404): a kernel kqueue is simply not inherited", NULL },
	{ "kqueue", "test_server", "procs_stats_sum",
	  "libkqueue's fork handler can close, in the child, a descriptor number "
	  "the parent had reused after freeing a kqueue (here the root directory, "
	  "so every file answers 404): a kernel kqueue is simply not inherited", NULL },
	{ "kqueue", "test_server", "procs_restart",
	  "libkqueue's fork handler can close, in the child, a descriptor number "
	  "the parent had reused after freeing a kqueue (here the root directory, "
	  "so every file answers 404): a kernel kqueue is simply not inherited", NULL },
	{ "kqueue", "test_server", "procs_stop_none_left",
	  "libkqueue's fork handler can close, in the child, a descriptor number "
	  "the parent had reused after freeing a kqueue (here the root directory, "
	  "so every file answers 404): a kernel kqueue is simply not inherited", NULL },
	/*
	 * A kqueue made in the parent (pollux-server judges its backend with
	 * pollux_new) starts libkqueue's threads there; a worker process
	 * forked after it inherits LeakSanitizer's record of those threads,
	 * which do not exist in the child, and at its exit LSan says
	 * "Running thread N was not suspended. False leaks are possible." (seen
	 * once in CI, two workers, the same two thread ids). Besides the fork
	 * handler above: a kernel kqueue starts no thread.
	 */
	{ "kqueue", "test_server", "listening_names_backend_procs",
	  "libkqueue's threads in the parent stay in LeakSanitizer's record in "
	  "each forked worker, which then reports them as not suspended (and its "
	  "fork handler can close a reused descriptor, as for procs_*): a kernel "
	  "kqueue starts no thread and is not inherited", NULL },
#endif
#ifdef HAVE_BACKEND_URING
	/*
	 * Before IORING_SETUP_DEFER_TASKRUN (Linux 6.1) a poll's completion
	 * is posted by task work queued on the submitting thread with
	 * TWA_SIGNAL (TWA_SIGNAL_NO_IPI with COOP_TASKRUN), which sets
	 * TIF_NOTIFY_SIGNAL: an interruptible sleep of that thread ends as
	 * for a signal, and a call that returns EINTR rather than restarting
	 * (recv with SO_RCVTIMEO here) fails with EINTR. The backend's own
	 * earlier ring (COOP_TASKRUN) failed this case 20 of 20 times on
	 * 6.18; with DEFER_TASKRUN the work runs only inside the backend's
	 * own waits.
	 */
	{ "uring", "test_conformance", "threads_calls_not_interrupted",
	  "this kernel has no IORING_SETUP_DEFER_TASKRUN (Linux 6.1): a poll that "
	  "completes, or a wake from another thread, interrupts the waiting "
	  "thread's other system calls as a signal would (pollux_new(3))",
	  uring_without_defer },
#endif
	{ NULL, NULL, NULL, NULL, NULL }
};

#define MAX_NOT_RUN 64
static const struct mark *not_run[MAX_NOT_RUN];
static int n_not_run;

static const struct mark *mark_of(const char *backend, const char *prog,
                                  const char *test)
{
	for (const struct mark *m = marks; m->backend; m++)
		if (strcmp(m->backend, backend) == 0 && strcmp(m->prog, prog) == 0 &&
		    strcmp(m->test, test) == 0)
			return m;
	return NULL;
}

void nr_add(TCase *tc, const char *prog, const TTest *t, int start, int end)
{
	const char *const *b = pollux_backends();

	for (int i = start; i < end; i++) {
		const struct mark *m = mark_of(b[i], prog, t->name);
		if (m && m->when && !m->when())
			m = NULL;	/* the limit is not this machine's */
		if (!m)
			tcase_add_loop_test(tc, t, i, i + 1);
		else if (n_not_run < MAX_NOT_RUN)
			not_run[n_not_run++] = m;
	}
}

int nr_report(FILE *f, const char *prog)
{
	const char *const *b = pollux_backends();
	int bad = 0;

	for (int i = 0; i < n_not_run; i++)
		fprintf(f, "NOT RUN: %s: %s %s: %s\n", not_run[i]->backend,
		        not_run[i]->prog, not_run[i]->test, not_run[i]->why);
	for (const struct mark *m = marks; m->backend; m++) {
		int built = 0, used = 0;
		if (strcmp(m->prog, prog) != 0)
			continue;
		for (int i = 0; b[i] != NULL; i++)
			built |= strcmp(b[i], m->backend) == 0;
		for (int i = 0; i < n_not_run; i++)
			used |= not_run[i] == m;
		if (built && !used && (!m->when || m->when())) {
			fprintf(f, "%s: the not-run mark for %s %s names no case "
			        "registered with nr_add\n", prog, m->backend, m->test);
			bad = 1;
		}
	}
	return bad ? -1 : n_not_run;
}
