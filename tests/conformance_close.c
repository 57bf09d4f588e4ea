/* conformance_close.c: pollux_close removes a registration and closes its
 * descriptor, on one backend at a time, also when a duplicate keeps the
 * file open and when the descriptor is a regular file. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "conformance.h"

static int is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

START_TEST(close_removes_and_closes)
{
	pollux_t *p = ct_new(_i);
	int a[2], b[2], t;

	ct_pair(a);
	ct_pair(b);
	ck_assert_int_eq(pollux_add(p, a[0], POLLUX_IN, &t), 0);
	ck_assert_int_eq(pollux_add(p, b[0], POLLUX_IN | POLLUX_ONESHOT, &t), 0);
	ct_put(a[1], 1);
	ct_put(b[1], 1);
	ck_assert_int_eq(pollux_count(p), 2);
	ck_assert_int_eq(pollux_close(p, a[0]), 0);
	ck_assert_msg(!is_open(a[0]), "%s: pollux_close left the fd open",
	              ct_name(_i));
	ck_assert_int_eq(pollux_count(p), 1);
	ct_expect_one(p, b[0], POLLUX_IN, &t);
	/* A fired ONESHOT is closed as well. */
	ck_assert_int_eq(pollux_close(p, b[0]), 0);
	ck_assert(!is_open(b[0]));
	ck_assert_int_eq(pollux_count(p), 0);
	ct_expect_none(p);
	errno = 0;
	ck_assert(pollux_del(p, a[0]) == -1 && errno == ENOENT);
	/* Not registered: ENOENT, and the fd is left alone. */
	errno = 0;
	ck_assert(pollux_close(p, a[1]) == -1 && errno == ENOENT);
	ck_assert_msg(is_open(a[1]), "pollux_close closed an unregistered fd");
	errno = 0;
	ck_assert(pollux_close(NULL, a[1]) == -1 && errno == EINVAL);
	errno = 0;
	ck_assert(pollux_close(p, -1) == -1 && errno == EINVAL);
	/* The number can be registered again at once. */
	int c[2];
	ct_pair(c);
	ct_move_fd(c[0], a[0]);
	ck_assert_int_eq(pollux_add(p, a[0], POLLUX_IN, &c), 0);
	ct_put(c[1], 1);
	ct_expect_one(p, a[0], POLLUX_IN, &c);
	pollux_free(p);
	close(a[0]);
	close(a[1]);
	close(b[1]);
	close(c[1]);
}
END_TEST

/* A duplicate keeps the file open: the closed number must not be reported
 * again (epoll's kernel keeps the registration; the backend tells it apart
 * by its tag), and a new file under the number is watched. */
START_TEST(close_with_dup_alive)
{
	pollux_t *p = ct_new(_i);
	int a[2], b[2], other[2], keep, fd, t, u;

	ct_pair(a);
	ct_pair(other);
	fd = a[0];
	ck_assert_int_eq(pollux_add(p, fd, POLLUX_IN, &t), 0);
	ck_assert_int_eq(pollux_add(p, other[0], POLLUX_IN, &u), 0);
	keep = dup(fd);
	ck_assert_int_ge(keep, 0);
	ck_assert_int_eq(pollux_close(p, fd), 0);
	ct_put(a[1], 1);	/* readable through keep */
	ct_expect_none(p);
	ct_expect_none(p);
	ct_put(other[1], 1);
	ct_expect_one(p, other[0], POLLUX_IN, &u);
	ck_assert_int_eq(ct_drain(other[0]), 1);
	ct_pair(b);
	ct_move_fd(b[0], fd);
	ck_assert_int_eq(pollux_add(p, fd, POLLUX_IN, &b), 0);
	ct_expect_none(p);
	ct_put(b[1], 1);
	ct_expect_one(p, fd, POLLUX_IN, &b);
	pollux_free(p);
	close(fd);
	close(keep);
	close(a[1]);
	close(b[1]);
	close(other[0]);
	close(other[1]);
}
END_TEST

START_TEST(close_regular_file)
{
	pollux_t *p = ct_new(_i);
	int f = ct_temp_file(1), g = ct_temp_file(1), t;

	ck_assert_int_eq(pollux_add(p, f, POLLUX_IN, &t), 0);
	ck_assert_int_eq(pollux_add(p, g, POLLUX_IN, &g), 0);
	ck_assert_int_eq(pollux_close(p, f), 0);
	ck_assert(!is_open(f));
	for (int k = 0; k < 3; k++)
		ct_expect_one(p, g, POLLUX_IN, &g);
	ck_assert_int_eq(pollux_close(p, g), 0);
	ct_expect_none(p);
	pollux_free(p);
}
END_TEST

/* Whether the peer of fd sees end of file within 2 s, with no call into
 * the poller meanwhile. */
static int peer_sees_eof(int peer)
{
	struct pollfd pfd = { .fd = peer, .events = POLLIN };
	char c;
	if (poll(&pfd, 1, 2000) != 1)
		return 0;
	return read(peer, &c, 1) == 0;
}

/* A program that deletes a socket and closes it, or pollux_closes it, and
 * then does not wait on that poller again (it is done with it, or blocks
 * elsewhere) has closed the connection: the peer reads end of file. No
 * backend may keep the file open until its next wait (io_uring's poll
 * requests hold a reference to their file until they are removed). */
START_TEST(close_releases_the_file)
{
	static const unsigned modes[] = {
		POLLUX_IN, POLLUX_IN | POLLUX_OUT, POLLUX_IN | POLLUX_ONESHOT,
		POLLUX_IN | POLLUX_EDGE,
	};
	for (unsigned m = 0; m < sizeof modes / sizeof modes[0]; m++) {
		for (int how = 0; how < 2; how++) {
			pollux_t *p = ct_new(_i);
			int a[2], other[2], t;

			if ((modes[m] & POLLUX_EDGE) &&
			    !(pollux_features(p) & POLLUX_FEAT_EDGE)) {
				pollux_free(p);
				continue;	/* refused, as conformance_modes tests */
			}
			ct_pair(a);
			ct_pair(other);
			ck_assert_int_eq(pollux_add(p, a[0], modes[m], &t), 0);
			ck_assert_int_eq(pollux_add(p, other[0], POLLUX_IN, &t), 0);
			/* One wait, so the kernel holds the registration
			 * (IN|OUT reports OUT). */
			struct pollux_event ev[4];
			ck_assert_int_ge(pollux_wait(p, ev, 4, 0), 0);
			if (how == 0) {
				ck_assert_int_eq(pollux_del(p, a[0]), 0);
				ck_assert_int_eq(close(a[0]), 0);
			} else {
				ck_assert_int_eq(pollux_close(p, a[0]), 0);
			}
			ck_assert_msg(peer_sees_eof(a[1]),
			              "%s: interest %#x, %s: the peer saw no end of "
			              "file within 2 s", ct_name(_i), modes[m],
			              how ? "pollux_close" : "pollux_del + close");
			pollux_free(p);
			close(a[1]);
			close(other[0]);
			close(other[1]);
		}
	}
}
END_TEST

void ct_add_close(TCase *tc, int idx)
{
	tcase_add_loop_test(tc, close_removes_and_closes, idx, idx + 1);
	tcase_add_loop_test(tc, close_with_dup_alive, idx, idx + 1);
	tcase_add_loop_test(tc, close_regular_file, idx, idx + 1);
	tcase_add_loop_test(tc, close_releases_the_file, idx, idx + 1);
}
