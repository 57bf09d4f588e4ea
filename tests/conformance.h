/* conformance.h: shared pieces of the libpollux conformance suite, which is
 * written once and run as one Check test case per built backend. */
#ifndef POLLUX_TESTS_CONFORMANCE_H
#define POLLUX_TESTS_CONFORMANCE_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>

#include "notrun.h"
#include "pollux.h"

/* Every wait that expects an event uses this bound, so a broken library
 * makes a test fail instead of hanging (the tcase timeout is the backstop). */
#define CT_WAIT_MS 2000

/* Like ck_assert_msg, but silent on success: Check records every passing
 * assertion, which is slow inside loops over thousands of fds. */
#define ct_check(expr, ...) do { \
	if (!(expr)) \
		ck_abort_msg(__VA_ARGS__); \
} while (0)

/* Each topic file registers its tests on the test case of one backend; the
 * Check loop index _i is the backend's position in pollux_backends(). */
void ct_add_errors(TCase *tc, int idx);
void ct_add_events(TCase *tc, int idx);
void ct_add_modes(TCase *tc, int idx);
void ct_add_fork(TCase *tc, int idx);
void ct_add_scale(TCase *tc, int idx);
void ct_add_xcheck(TCase *tc, int idx);
void ct_add_threads(TCase *tc, int idx);
void ct_add_wake(TCase *tc, int idx);
void ct_add_close(TCase *tc, int idx);
/* Backend choice, the backend list and the version: not per backend. */
void ct_add_choice(TCase *tc);
/* io_uring refused by the kernel (conformance_probe.c), part of "choice". */
void ct_add_probe(TCase *tc);

/* Adds test t on backend idx, unless this build's backend idx cannot be
 * held to it for a reason outside pollux (tests/notrun.c lists those, with
 * the evidence): then it is recorded as not run (nr_report). */
#define ct_add(tc, t, idx) nr_add((tc), "test_conformance", (t), (idx), (idx) + 1)

/* Checked fixture: soft RLIMIT_NOFILE to the hard limit, SIGPIPE ignored. */
void ct_setup(void);

/* Name of backend idx; a poller of that backend (the test fails if NULL). */
const char *ct_name(int idx);
pollux_t *ct_new(int idx);
int ct_is(int idx, const char *name);

/* A non-blocking AF_UNIX stream socketpair; the test fails on error. */
void ct_pair(int sv[2]);
/* Writes n bytes of 'x' to fd (must all go in); reads everything buffered
 * on fd and returns how many bytes that was (0 at EOF, -1 never). */
void ct_put(int fd, int n);
long ct_drain(int fd);

/* An unlinked temporary regular file, 100 bytes long when full. */
int ct_temp_file(int full);

/* Needs at least want descriptors; fails the test if the limit is lower. */
void ct_need_nofile(long want);
/* Moves fd to the number target (which must be free); returns target. */
int ct_move_fd(int fd, int target);

/* Milliseconds on CLOCK_MONOTONIC. */
double ct_now_ms(void);

/* Index of fd in ev[0..n), or -1. Fails the test if fd occurs twice. */
int ct_find(const struct pollux_event *ev, int n, int fd);

/* These three name the caller's file:line in their failure messages. */
/* One wait that must succeed (n >= 0, sane events, no fd twice). */
#define ct_wait(p, ev, maxev, timeout) \
	ct_wait_at((p), (ev), (maxev), (timeout), __FILE__, __LINE__)
/* A wait (bounded by CT_WAIT_MS) reports exactly fd with events, data. */
#define ct_expect_one(p, fd, events, data) \
	ct_expect_one_at((p), (fd), (events), (data), __FILE__, __LINE__)
/* A wait with timeout 0 reports nothing. */
#define ct_expect_none(p) ct_expect_none_at((p), __FILE__, __LINE__)

int ct_wait_at(pollux_t *p, struct pollux_event *ev, int maxev, int timeout,
               const char *file, int line);
void ct_expect_one_at(pollux_t *p, int fd, unsigned events, void *data,
                      const char *file, int line);
void ct_expect_none_at(pollux_t *p, const char *file, int line);

/* How many waits may pass before every one of ready fds was reported at
 * least once with this maxev; more means some fd starves. */
int ct_wait_budget(int ready, int maxev);

/* A tiny deterministic PRNG so a failing run can be repeated
 * (seed from POLLUX_TEST_SEED, printed in failure messages). */
uint64_t ct_seed(void);
uint32_t ct_rand(uint64_t *state);

#endif
