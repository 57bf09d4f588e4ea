/* conformance_fork.c: fork + pollux_reinit. The child changes its own
 * registrations; the parent's must not move, and both keep getting events. */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conformance.h"

/* The child cannot use Check's asserts; it reports one line to the parent
 * ("ok" or what went wrong) through a pipe, then exits. */
static int report_fd = -1;

static void child_fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	(void)!write(report_fd, msg, strlen(msg));
	_exit(1);
}

/* Waits up to 5 s for one byte on fd; returns it or -1. */
static int read_byte(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN, .revents = 0 };
	unsigned char c;

	if (poll(&pfd, 1, 5000) != 1 || read(fd, &c, 1) != 1)
		return -1;
	return c;
}

/* In the child: the events of one wait, which must be exactly those listed
 * (fd, events, data) in any order. */
static void child_expect(pollux_t *p, int nwant, const int *fds,
                         const unsigned *events, void *const *datas)
{
	struct pollux_event ev[16];
	int n = pollux_wait(p, ev, 16, nwant ? CT_WAIT_MS : 0);

	if (n != nwant)
		child_fail("child: wait returned %d (%s), want %d events", n,
		           n < 0 ? strerror(errno) : "events", nwant);
	for (int k = 0; k < nwant; k++) {
		int at = -1;
		for (int j = 0; j < n; j++)
			if (ev[j].fd == fds[k])
				at = j;
		if (at < 0)
			child_fail("child: fd %d not reported", fds[k]);
		if (ev[at].events != events[k] || ev[at].data != datas[k])
			child_fail("child: fd %d events 0x%x data %p, want 0x%x %p",
			           fds[k], ev[at].events, ev[at].data, events[k],
			           datas[k]);
	}
}

/* Reads the child's report (up to EOF, 10 s per read at most), reaps it,
 * and fails unless it said "ok" and exited 0. */
static void collect_child(pid_t kid, int fd, const char *be)
{
	char msg[512];
	ssize_t len = 0;
	int status;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN, .revents = 0 };
		ssize_t r;
		if (poll(&pfd, 1, 10000) != 1)
			break;
		r = read(fd, msg + len, sizeof msg - 1 - (size_t)len);
		if (r <= 0)
			break;
		len += r;
	}
	msg[len] = '\0';
	ck_assert_msg(waitpid(kid, &status, 0) == kid, "waitpid: %s",
	              strerror(errno));
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	              strcmp(msg, "ok") == 0, "%s: child failed: %s (status "
	              "0x%x)", be, len ? msg : "no report", status);
}

START_TEST(fork_reinit_isolates)
{
	pollux_t *p = ct_new(_i);
	int a[2], b[2], d[2], c[2], go[2], rep[2], ta, tb, tb2, td, tc;
	struct pollux_event ev[16];
	int n;
	pid_t kid;

	ct_pair(a);
	ct_pair(b);
	ct_pair(d);
	ct_pair(c);	/* registered by the child only */
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(rep), 0);
	ck_assert_int_eq(pollux_add(p, a[0], POLLUX_IN, &ta), 0);
	ck_assert_int_eq(pollux_add(p, b[0], POLLUX_IN, &tb), 0);
	ck_assert_int_eq(pollux_add(p, d[0], POLLUX_IN | POLLUX_ONESHOT, &td), 0);
	/* Fire d's ONESHOT before the fork: it is disarmed in both. */
	ct_put(d[1], 1);
	ct_expect_one(p, d[0], POLLUX_IN, &td);

	kid = fork();
	ck_assert_msg(kid >= 0, "fork: %s", strerror(errno));
	if (kid == 0) {
		report_fd = rep[1];
		alarm(20);	/* never outlive a broken library */
		if (pollux_reinit(p) != 0)
			child_fail("child: pollux_reinit: %s", strerror(errno));
		if (pollux_del(p, a[0]) != 0)
			child_fail("child: del a: %s", strerror(errno));
		if (pollux_mod(p, b[0], POLLUX_OUT, &tb2) != 0)
			child_fail("child: mod b: %s", strerror(errno));
		if (pollux_add(p, c[0], POLLUX_IN, &tc) != 0)
			child_fail("child: add c: %s", strerror(errno));
		(void)!write(rep[1], "R", 1);	/* registrations changed */
		if (read_byte(go[0]) != 'G')
			child_fail("child: no go from the parent");
		/* The parent has now written to a and b: a is deleted here and
		 * b is OUT-only; d is still disarmed. */
		{
			int fds[] = { b[0] };
			unsigned evs[] = { POLLUX_OUT };
			void *ds[] = { &tb2 };
			child_expect(p, 1, fds, evs, ds);
		}
		if (write(c[1], "x", 1) != 1)
			child_fail("child: write c: %s", strerror(errno));
		{
			int fds[] = { b[0], c[0] };
			unsigned evs[] = { POLLUX_OUT, POLLUX_IN };
			void *ds[] = { &tb2, &tc };
			child_expect(p, 2, fds, evs, ds);
		}
		errno = 0;
		if (pollux_add(p, d[0], POLLUX_IN, NULL) != -1 || errno != EEXIST)
			child_fail("child: add of disarmed ONESHOT d: errno %d, want "
			           "EEXIST", errno);
		if (pollux_mod(p, d[0], POLLUX_IN, &td) != 0 ||
		    pollux_del(p, b[0]) != 0 || pollux_del(p, c[0]) != 0)
			child_fail("child: mod d / del b / del c: %s",
			           strerror(errno));
		{
			int fds[] = { d[0] };
			unsigned evs[] = { POLLUX_IN };
			void *ds[] = { &td };
			child_expect(p, 1, fds, evs, ds);
		}
		pollux_free(p);
		(void)!write(rep[1], "ok", 2);
		_exit(0);
	}

	close(rep[1]);
	ck_assert_msg(read_byte(rep[0]) == 'R', "child did not get as far as "
	              "changing its registrations");
	ct_put(a[1], 1);
	ct_put(b[1], 1);
	ck_assert_int_eq(write(go[1], "G", 1), 1);
	/* Parent: a and b still IN with their data, d still disarmed, c
	 * unknown here, whatever the child did. */
	for (int round = 0; round < 2; round++) {
		n = ct_wait(p, ev, 16, CT_WAIT_MS);
		ck_assert_msg(n == 2, "%s: parent after the child's del/mod: %d "
		              "events, want a and b (round %d)", ct_name(_i), n,
		              round);
		ck_assert_msg(ct_find(ev, n, a[0]) >= 0, "%s: parent lost fd %d, "
		              "which only the child deleted", ct_name(_i), a[0]);
		ck_assert_msg(ct_find(ev, n, b[0]) >= 0, "%s: parent lost fd %d",
		              ct_name(_i), b[0]);
		for (int k = 0; k < n; k++) {
			ck_assert_msg(ev[k].events == POLLUX_IN, "%s: parent fd %d "
			              "events 0x%x, want IN (the child's mod leaked?)",
			              ct_name(_i), ev[k].fd, ev[k].events);
			ck_assert(ev[k].data == (ev[k].fd == a[0] ? (void *)&ta :
			                                            (void *)&tb));
		}
		if (round == 0)	/* let the child finish */
			collect_child(kid, rep[0], ct_name(_i));
	}
	ck_assert_int_eq(pollux_count(p), 3);
	ck_assert_int_eq(pollux_mod(p, d[0], POLLUX_IN, &td), 0);
	n = ct_wait(p, ev, 16, CT_WAIT_MS);
	ck_assert_int_eq(n, 3);
	ck_assert_int_ge(ct_find(ev, n, d[0]), 0);
	pollux_free(p);
	for (int k = 0; k < 2; k++) {
		close(a[k]);
		close(b[k]);
		close(d[k]);
		close(c[k]);
		close(go[k]);
	}
	close(rep[0]);
}
END_TEST

/* Regular files (which epoll refuses and the library keeps aside) survive
 * pollux_reinit too, armed or as a fired ONESHOT. */
START_TEST(fork_reinit_keeps_files)
{
	pollux_t *p = ct_new(_i);
	int f = ct_temp_file(1), g = ct_temp_file(1), s[2], rep[2], tf, tg, ts;
	struct pollux_event ev[8];
	pid_t kid;
	int n;

	ct_pair(s);
	ck_assert_int_eq(pipe(rep), 0);
	ct_put(s[1], 1);
	ck_assert_int_eq(pollux_add(p, f, POLLUX_IN, &tf), 0);
	ck_assert_int_eq(pollux_add(p, g, POLLUX_IN | POLLUX_ONESHOT, &tg), 0);
	ck_assert_int_eq(pollux_add(p, s[0], POLLUX_IN, &ts), 0);
	n = ct_wait(p, ev, 8, CT_WAIT_MS);
	ck_assert_int_eq(n, 3);		/* g's ONESHOT has fired */

	kid = fork();
	ck_assert_msg(kid >= 0, "fork: %s", strerror(errno));
	if (kid == 0) {
		report_fd = rep[1];
		alarm(20);
		if (pollux_reinit(p) != 0)
			child_fail("child: pollux_reinit: %s", strerror(errno));
		{
			int fds[] = { f, s[0] };
			unsigned evs[] = { POLLUX_IN, POLLUX_IN };
			void *ds[] = { &tf, &ts };
			child_expect(p, 2, fds, evs, ds);
		}
		if (pollux_del(p, f) != 0 ||
		    pollux_mod(p, g, POLLUX_IN | POLLUX_ONESHOT, &tg) != 0)
			child_fail("child: del f / mod g: %s", strerror(errno));
		{
			int fds[] = { g, s[0] };
			unsigned evs[] = { POLLUX_IN, POLLUX_IN };
			void *ds[] = { &tg, &ts };
			child_expect(p, 2, fds, evs, ds);
			child_expect(p, 1, fds + 1, evs + 1, ds + 1);
		}
		pollux_free(p);
		(void)!write(rep[1], "ok", 2);
		_exit(0);
	}
	close(rep[1]);
	collect_child(kid, rep[0], ct_name(_i));
	/* The parent still has f, and g stays disarmed. */
	for (int round = 0; round < 2; round++) {
		n = ct_wait(p, ev, 8, CT_WAIT_MS);
		ck_assert_msg(n == 2 && ct_find(ev, n, f) >= 0 &&
		              ct_find(ev, n, s[0]) >= 0, "%s: parent after the "
		              "child's reinit/del/mod: %d events, want f and s",
		              ct_name(_i), n);
	}
	pollux_free(p);
	close(f);
	close(g);
	close(s[0]);
	close(s[1]);
	close(rep[0]);
}
END_TEST

/* A child that forgets pollux_reinit may share its parent's kernel object
 * (select, poll, epoll) or get one of its own at its first wait (kqueue,
 * which a child does not inherit; uring, whose rings are not mapped in a
 * child), but it must never crash or fail: its wait reports its ready fds,
 * and add and del go on working. */
START_TEST(fork_without_reinit_works)
{
	pollux_t *p = ct_new(_i);
	int sv[2], other[2], status;

	ct_pair(sv);
	ct_pair(other);
	ck_assert_int_eq(pollux_add(p, sv[0], POLLUX_IN, sv), 0);
	ct_put(sv[1], 1);
	ct_expect_one(p, sv[0], POLLUX_IN, sv);
	pid_t kid = fork();
	ck_assert_msg(kid >= 0, "fork: %s", strerror(errno));
	if (kid == 0) {
		struct pollux_event ev[4];
		int n = pollux_wait(p, ev, 4, CT_WAIT_MS);
		int ok = n == 1 && ev[0].fd == sv[0] && ev[0].data == sv;
		ok = ok && pollux_add(p, other[0], POLLUX_IN, other) == 0;
		ct_put(other[1], 1);
		ok = ok && ct_drain(sv[0]) == 1;
		n = pollux_wait(p, ev, 4, CT_WAIT_MS);
		ok = ok && n == 1 && ev[0].fd == other[0] && ev[0].data == other;
		ok = ok && pollux_del(p, other[0]) == 0;
		pollux_free(p);
		_exit(ok ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(kid, &status, 0), kid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "%s: a child waiting without pollux_reinit %s %d",
	              ct_name(_i), WIFSIGNALED(status) ? "died of signal" :
	              "exited", WIFSIGNALED(status) ? WTERMSIG(status) :
	              WEXITSTATUS(status));
	pollux_free(p);
	close(sv[0]);
	close(sv[1]);
	close(other[0]);
	close(other[1]);
}
END_TEST

void ct_add_fork(TCase *tc, int idx)
{
	tcase_add_loop_test(tc, fork_reinit_isolates, idx, idx + 1);
	tcase_add_loop_test(tc, fork_reinit_keeps_files, idx, idx + 1);
	tcase_add_loop_test(tc, fork_without_reinit_works, idx, idx + 1);
}
