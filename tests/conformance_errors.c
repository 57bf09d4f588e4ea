/* conformance_errors.c: every documented errno of add/mod/del/wait, and that
 * a call which fails leaves the registrations as they were. */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "conformance.h"

#define EXPECT_ERR(call, want) do { \
	int r_; \
	errno = 0; \
	r_ = (call); \
	ck_assert_msg(r_ == -1 && errno == (want), \
	              "%s: %s returned %d errno %d (%s), want -1 with %s", \
	              be, #call, r_, errno, strerror(errno), #want); \
} while (0)

#define EXPECT_OK(call) do { \
	int r_; \
	errno = 0; \
	r_ = (call); \
	ck_assert_msg(r_ == 0, "%s: %s returned %d (%s), want 0", be, #call, \
	              r_, strerror(errno)); \
} while (0)

/* Masks with neither IN nor OUT, or with bits the API does not define. */
static const unsigned bad_masks[] = {
	0, POLLUX_ONESHOT, POLLUX_ERR, POLLUX_HUP, POLLUX_ERR | POLLUX_HUP,
	0x1000, POLLUX_IN | 0x1000, POLLUX_IN | 0x40, POLLUX_OUT | 0x80,
	POLLUX_IN | POLLUX_OUT | 0x80000000u, 0xffffffffu,
};
#define NBAD (sizeof bad_masks / sizeof bad_masks[0])

START_TEST(null_poller_einval)
{
	const char *be = "NULL poller";
	struct pollux_event ev[4];
	int sv[2];

	ct_pair(sv);
	EXPECT_ERR(pollux_add(NULL, sv[0], POLLUX_IN, NULL), EINVAL);
	EXPECT_ERR(pollux_mod(NULL, sv[0], POLLUX_IN, NULL), EINVAL);
	EXPECT_ERR(pollux_del(NULL, sv[0]), EINVAL);
	EXPECT_ERR(pollux_wait(NULL, ev, 4, 0), EINVAL);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(negative_fd_einval)
{
	pollux_t *p = ct_new(_i);
	const char *be = ct_name(_i);

	EXPECT_ERR(pollux_add(p, -1, POLLUX_IN, NULL), EINVAL);
	EXPECT_ERR(pollux_add(p, -7, POLLUX_OUT, NULL), EINVAL);
	EXPECT_ERR(pollux_add(p, INT_MIN, POLLUX_IN, NULL), EINVAL);
	EXPECT_ERR(pollux_mod(p, -1, POLLUX_IN, NULL), EINVAL);
	EXPECT_ERR(pollux_mod(p, INT_MIN, POLLUX_IN, NULL), EINVAL);
	EXPECT_ERR(pollux_del(p, -1), EINVAL);
	EXPECT_ERR(pollux_del(p, INT_MIN), EINVAL);
	ck_assert_int_eq(pollux_count(p), 0);
	pollux_free(p);
}
END_TEST

START_TEST(bad_events_einval)
{
	pollux_t *p = ct_new(_i);
	const char *be = ct_name(_i);
	int tag, sv[2];

	ct_pair(sv);
	for (size_t k = 0; k < NBAD; k++) {
		errno = 0;
		ck_assert_msg(pollux_add(p, sv[0], bad_masks[k], NULL) == -1 &&
		              errno == EINVAL, "%s: pollux_add(events 0x%x): errno "
		              "%d (%s), want -1 with EINVAL", be, bad_masks[k], errno,
		              strerror(errno));
		/* The failed add registered nothing. */
		EXPECT_ERR(pollux_mod(p, sv[0], POLLUX_IN, NULL), ENOENT);
		ck_assert_int_eq(pollux_count(p), 0);
	}

	/* A failed mod keeps the old interest and data. */
	EXPECT_OK(pollux_add(p, sv[0], POLLUX_IN, &tag));
	ct_put(sv[1], 1);
	for (size_t k = 0; k < NBAD; k++) {
		errno = 0;
		ck_assert_msg(pollux_mod(p, sv[0], bad_masks[k], NULL) == -1 &&
		              errno == EINVAL, "%s: pollux_mod(events 0x%x): errno "
		              "%d (%s), want -1 with EINVAL", be, bad_masks[k], errno,
		              strerror(errno));
		ct_expect_one(p, sv[0], POLLUX_IN, &tag);
	}
	ck_assert_int_eq(pollux_count(p), 1);
	pollux_free(p);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(add_twice_eexist)
{
	pollux_t *p = ct_new(_i);
	const char *be = ct_name(_i);
	int a, b, sv[2];

	ct_pair(sv);
	EXPECT_OK(pollux_add(p, sv[0], POLLUX_IN, &a));
	EXPECT_ERR(pollux_add(p, sv[0], POLLUX_IN, &b), EEXIST);
	EXPECT_ERR(pollux_add(p, sv[0], POLLUX_OUT, &b), EEXIST);
	EXPECT_ERR(pollux_add(p, sv[0], POLLUX_IN | POLLUX_ONESHOT, &b), EEXIST);
	ck_assert_int_eq(pollux_count(p), 1);
	/* The first registration is untouched: IN with data &a, not OUT. */
	ct_expect_none(p);
	ct_put(sv[1], 1);
	ct_expect_one(p, sv[0], POLLUX_IN, &a);
	pollux_free(p);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(unregistered_enoent)
{
	pollux_t *p = ct_new(_i);
	const char *be = ct_name(_i);
	int sv[2];

	ct_pair(sv);
	EXPECT_ERR(pollux_mod(p, sv[0], POLLUX_IN, NULL), ENOENT);
	EXPECT_ERR(pollux_del(p, sv[0]), ENOENT);
	/* The other end, never registered either. */
	EXPECT_ERR(pollux_mod(p, sv[1], POLLUX_OUT, NULL), ENOENT);
	EXPECT_ERR(pollux_del(p, sv[1]), ENOENT);

	/* Numbers far past the table: ENOENT, and nothing read out of it. */
	EXPECT_ERR(pollux_mod(p, 15000, POLLUX_IN, NULL), ENOENT);
	EXPECT_ERR(pollux_del(p, 15000), ENOENT);
	EXPECT_ERR(pollux_mod(p, INT_MAX, POLLUX_IN, NULL), ENOENT);
	EXPECT_ERR(pollux_del(p, INT_MAX), ENOENT);

	EXPECT_OK(pollux_add(p, sv[0], POLLUX_IN, NULL));
	EXPECT_ERR(pollux_mod(p, sv[1], POLLUX_IN, NULL), ENOENT);
	EXPECT_ERR(pollux_mod(p, 15000, POLLUX_IN, NULL), ENOENT);
	EXPECT_ERR(pollux_del(p, INT_MAX), ENOENT);
	EXPECT_OK(pollux_del(p, sv[0]));
	EXPECT_ERR(pollux_del(p, sv[0]), ENOENT);
	EXPECT_ERR(pollux_mod(p, sv[0], POLLUX_IN, NULL), ENOENT);
	ck_assert_int_eq(pollux_count(p), 0);
	/* Deleted means gone: pending input is not reported. */
	ct_put(sv[1], 1);
	ct_expect_none(p);
	pollux_free(p);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(wait_args_einval)
{
	pollux_t *p = ct_new(_i);
	const char *be = ct_name(_i);
	struct pollux_event ev[4];
	int sv[2];

	/* A ready fd, so a backend that waits first would have something. */
	ct_pair(sv);
	ct_put(sv[1], 1);
	EXPECT_OK(pollux_add(p, sv[0], POLLUX_IN, NULL));
	EXPECT_ERR(pollux_wait(p, ev, 0, 0), EINVAL);
	EXPECT_ERR(pollux_wait(p, ev, -1, 0), EINVAL);
	EXPECT_ERR(pollux_wait(p, ev, INT_MIN, 0), EINVAL);
	EXPECT_ERR(pollux_wait(p, NULL, 4, 0), EINVAL);
	EXPECT_ERR(pollux_wait(p, NULL, 0, 0), EINVAL);
	EXPECT_ERR(pollux_wait(p, ev, 0, CT_WAIT_MS), EINVAL);
	/* And the poller still works. */
	ct_expect_one(p, sv[0], POLLUX_IN, NULL);
	pollux_free(p);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(closed_fd_ebadf)
{
	pollux_t *p = ct_new(_i);
	const char *be = ct_name(_i);
	int fd, sv[2], nv[2];

	ct_pair(sv);
	fd = sv[0];
	close(fd);
	EXPECT_ERR(pollux_add(p, fd, POLLUX_IN, NULL), EBADF);
	EXPECT_ERR(pollux_add(p, fd, POLLUX_OUT | POLLUX_ONESHOT, NULL), EBADF);
	/* Never opened, and far past anything: EBADF, not a huge table. */
	EXPECT_ERR(pollux_add(p, INT_MAX, POLLUX_IN, NULL), EBADF);
	EXPECT_ERR(pollux_add(p, INT_MAX - 1, POLLUX_OUT, NULL), EBADF);
	ck_assert_int_eq(pollux_count(p), 0);
	/* The number was not left half-registered: a new fd there adds fine. */
	ct_pair(nv);
	fd = ct_move_fd(nv[0], fd);
	EXPECT_OK(pollux_add(p, fd, POLLUX_OUT, NULL));
	ct_expect_one(p, fd, POLLUX_OUT, NULL);
	pollux_free(p);
	close(fd);
	close(nv[1]);
	close(sv[1]);
}
END_TEST

START_TEST(edge_needs_feature)
{
	pollux_t *p = ct_new(_i);
	const char *be = ct_name(_i);
	int tag, sv[2];

	ct_pair(sv);
	if (pollux_features(p) & POLLUX_FEAT_EDGE) {
		EXPECT_OK(pollux_add(p, sv[0], POLLUX_IN | POLLUX_EDGE, NULL));
		EXPECT_OK(pollux_mod(p, sv[0], POLLUX_OUT | POLLUX_EDGE, NULL));
		EXPECT_OK(pollux_del(p, sv[0]));
	} else {
		EXPECT_ERR(pollux_add(p, sv[0], POLLUX_IN | POLLUX_EDGE, NULL),
		           EOPNOTSUPP);
		EXPECT_ERR(pollux_add(p, sv[0], POLLUX_IN | POLLUX_OUT | POLLUX_EDGE |
		                      POLLUX_ONESHOT, NULL), EOPNOTSUPP);
		ck_assert_int_eq(pollux_count(p), 0);
		EXPECT_OK(pollux_add(p, sv[0], POLLUX_IN, &tag));
		EXPECT_ERR(pollux_mod(p, sv[0], POLLUX_IN | POLLUX_EDGE, NULL),
		           EOPNOTSUPP);
		/* Still level-triggered IN with the old data. */
		ct_put(sv[1], 1);
		ct_expect_one(p, sv[0], POLLUX_IN, &tag);
		ct_expect_one(p, sv[0], POLLUX_IN, &tag);
	}
	pollux_free(p);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

void ct_add_errors(TCase *tc, int idx)
{
	tcase_add_loop_test(tc, null_poller_einval, idx, idx + 1);
	tcase_add_loop_test(tc, negative_fd_einval, idx, idx + 1);
	tcase_add_loop_test(tc, bad_events_einval, idx, idx + 1);
	tcase_add_loop_test(tc, add_twice_eexist, idx, idx + 1);
	tcase_add_loop_test(tc, unregistered_enoent, idx, idx + 1);
	tcase_add_loop_test(tc, wait_args_einval, idx, idx + 1);
	tcase_add_loop_test(tc, closed_fd_ebadf, idx, idx + 1);
	tcase_add_loop_test(tc, edge_needs_feature, idx, idx + 1);
}
