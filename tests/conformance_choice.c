/* conformance_choice.c: choosing a backend (by name, "auto", NULL and the
 * POLLUX_BACKEND variable), the compiled-in list, features and version. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "conformance.h"

/* Every backend the library knows, best first: a kernel's own kqueue (the
 * BSDs, macOS) before everything, libkqueue's emulation on Linux last
 * (registry.c says why). */
static const char *const known[] = {
#ifndef HAVE_LIBKQUEUE
	"kqueue",
#endif
	"epoll", "uring",
	"poll", "select",
#ifdef HAVE_LIBKQUEUE
	"kqueue",
#endif
};
#define NKNOWN 5

static int rank_of(const char *name)
{
	for (int i = 0; i < NKNOWN; i++)
		if (strcmp(known[i], name) == 0)
			return i;
	return -1;
}

/* Whether configure built this backend (config.h says). */
static int configured(const char *name)
{
#ifdef HAVE_BACKEND_EPOLL
	if (strcmp(name, "epoll") == 0)
		return 1;
#endif
#ifdef HAVE_BACKEND_URING
	if (strcmp(name, "uring") == 0)
		return 1;
#endif
#ifdef HAVE_BACKEND_KQUEUE
	if (strcmp(name, "kqueue") == 0)
		return 1;
#endif
#ifdef HAVE_BACKEND_POLL
	if (strcmp(name, "poll") == 0)
		return 1;
#endif
#ifdef HAVE_BACKEND_SELECT
	if (strcmp(name, "select") == 0)
		return 1;
#endif
	(void)name;
	return 0;
}

static int listed(const char *name)
{
	const char *const *b = pollux_backends();

	for (int i = 0; b[i] != NULL; i++)
		if (strcmp(b[i], name) == 0)
			return 1;
	return 0;
}

/* pollux_new(arg) must give the backend named want. */
static void expect_backend(const char *arg, const char *want)
{
	const char *env = getenv("POLLUX_BACKEND");
	pollux_t *p;

	errno = 0;
	p = pollux_new(arg);
	ck_assert_msg(p != NULL, "pollux_new(%s%s%s) with POLLUX_BACKEND=%s: "
	              "NULL (%s), want backend %s", arg ? "\"" : "",
	              arg ? arg : "NULL", arg ? "\"" : "", env ? env : "(unset)",
	              strerror(errno), want);
	ck_assert_msg(pollux_backend(p) != NULL &&
	              strcmp(pollux_backend(p), want) == 0,
	              "pollux_new(%s) with POLLUX_BACKEND=%s gave backend %s, "
	              "want %s", arg ? arg : "NULL", env ? env : "(unset)",
	              pollux_backend(p) ? pollux_backend(p) : "NULL", want);
	pollux_free(p);
}

/* pollux_new(arg) must fail with want_errno. */
static void expect_fail(const char *arg, int want_errno)
{
	const char *env = getenv("POLLUX_BACKEND");
	pollux_t *p;

	errno = 0;
	p = pollux_new(arg);
	ck_assert_msg(p == NULL, "pollux_new(%s) with POLLUX_BACKEND=%s gave "
	              "backend %s, want NULL with %s", arg ? arg : "NULL",
	              env ? env : "(unset)", pollux_backend(p),
	              strerror(want_errno));
	ck_assert_msg(errno == want_errno, "pollux_new(%s) with POLLUX_BACKEND="
	              "%s: errno %d (%s), want %d (%s)", arg ? arg : "NULL",
	              env ? env : "(unset)", errno, strerror(errno), want_errno,
	              strerror(want_errno));
}

START_TEST(backends_list)
{
	const char *const *b = pollux_backends();
	int n = 0, prev = -1;

	ck_assert_msg(b != NULL, "pollux_backends() returned NULL");
	/* Bounded walk: a missing NULL terminator shows as a 4th entry. */
	for (n = 0; n <= NKNOWN && b[n] != NULL; n++) {
		int r = rank_of(b[n]);
		ck_assert_msg(r >= 0, "pollux_backends()[%d] is \"%s\", not one of "
		              "epoll, kqueue, uring, poll, select", n, b[n]);
		ck_assert_msg(r > prev, "pollux_backends() not best first or has "
		              "a duplicate: \"%s\" at %d", b[n], n);
		ck_assert_msg(configured(b[n]), "pollux_backends() lists %s, which "
		              "configure did not build", b[n]);
		prev = r;
	}
	ck_assert_msg(n <= NKNOWN, "pollux_backends() has more than %d entries "
	              "(missing NULL terminator?)", NKNOWN);
	ck_assert_msg(n >= 1, "pollux_backends() is empty");
	for (int i = 0; i < NKNOWN; i++)
		ck_assert_msg(!configured(known[i]) || listed(known[i]),
		              "configure built %s but pollux_backends() omits it",
		              known[i]);
}
END_TEST

START_TEST(new_by_name)
{
	const char *const *b = pollux_backends();

	unsetenv("POLLUX_BACKEND");
	for (int i = 0; b[i] != NULL; i++)
		expect_backend(b[i], b[i]);
}
END_TEST

START_TEST(new_auto_picks_best)
{
	const char *best = pollux_backends()[0];

	/* Linux can create every built backend, so "best" is the first one. */
	unsetenv("POLLUX_BACKEND");
	expect_backend(NULL, best);
	expect_backend("auto", best);
}
END_TEST

START_TEST(env_is_honoured)
{
	const char *const *b = pollux_backends();

	for (int i = 0; b[i] != NULL; i++) {
		ck_assert(setenv("POLLUX_BACKEND", b[i], 1) == 0);
		expect_backend(NULL, b[i]);
		expect_backend("auto", b[i]);
		/* An explicit name wins over the variable. */
		for (int j = 0; b[j] != NULL; j++)
			expect_backend(b[j], b[j]);
	}
	unsetenv("POLLUX_BACKEND");
}
END_TEST

START_TEST(unknown_name_einval)
{
	static const char *const bad[] = { "bogus", "", "epol", "selectx",
	                                   "poll ", "kqueue2", "KQUEUE" };
	const char *const *b = pollux_backends();

	unsetenv("POLLUX_BACKEND");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_fail(bad[i], EINVAL);

	ck_assert(setenv("POLLUX_BACKEND", "bogus", 1) == 0);
	expect_fail(NULL, EINVAL);
	expect_fail("auto", EINVAL);
	/* The variable only matters when no backend is named. */
	for (int j = 0; b[j] != NULL; j++)
		expect_backend(b[j], b[j]);
	unsetenv("POLLUX_BACKEND");
}
END_TEST

#if !defined(HAVE_BACKEND_EPOLL) || !defined(HAVE_BACKEND_POLL) || \
    !defined(HAVE_BACKEND_SELECT) || !defined(HAVE_BACKEND_KQUEUE) || \
    !defined(HAVE_BACKEND_URING)
/* Only in builds that leave a backend out (--disable-epoll and so on). */
START_TEST(not_built_enosys)
{
	for (int i = 0; i < NKNOWN; i++) {
		if (configured(known[i]))
			continue;
		ck_assert_msg(!listed(known[i]), "%s not built but listed",
		              known[i]);
		unsetenv("POLLUX_BACKEND");
		expect_fail(known[i], ENOSYS);
		ck_assert(setenv("POLLUX_BACKEND", known[i], 1) == 0);
		expect_fail(NULL, ENOSYS);
		expect_fail("auto", ENOSYS);
	}
	unsetenv("POLLUX_BACKEND");
}
END_TEST
#endif

#if defined(HAVE_BACKEND_EPOLL) && \
    (defined(HAVE_BACKEND_POLL) || defined(HAVE_BACKEND_SELECT))
/* Every poller takes one descriptor for its wake-up (pollux_wake); epoll
 * and uring take one more for their kernel object. With one descriptor
 * left, epoll_create1, io_uring_setup or the wake-up fails (EMFILE) but
 * poll and select can be made: automatic choice must fall back to the best
 * of those. With none left, nothing can be made, and the error says why. */
START_TEST(auto_falls_back)
{
	const char *const *b = pollux_backends(), *next = NULL;
	struct rlimit rl, low;
	int fd, taken[64], ntaken = 0;

	/* The next best one that needs no kernel object (a kqueue, even
	 * libkqueue's, needs descriptors as epoll does). */
	for (int i = 0; b[i] != NULL && next == NULL; i++)
		if (strcmp(b[i], "poll") == 0 || strcmp(b[i], "select") == 0)
			next = b[i];
	unsetenv("POLLUX_BACKEND");
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	low = rl;
	low.rlim_cur = 64;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (ntaken < 64 && (fd = dup(0)) >= 0)
		taken[ntaken++] = fd;
	ck_assert_msg(ntaken > 1 && ntaken < 64 && errno == EMFILE,
	              "could not use up the descriptors: %s", strerror(errno));
	expect_fail(NULL, EMFILE);
	close(taken[--ntaken]);
	expect_backend(NULL, next);
	expect_backend("auto", next);
	/* Free one more descriptor: the best is back. */
	close(taken[--ntaken]);
	expect_backend(NULL, pollux_backends()[0]);
	/* Give everything back (sanitizers need descriptors at exit). */
	while (ntaken > 0)
		close(taken[--ntaken]);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}
END_TEST
#endif

START_TEST(features_per_backend)
{
	const char *const *b = pollux_backends();

	for (int i = 0; b[i] != NULL; i++) {
		pollux_t *p = pollux_new(b[i]);
		unsigned f, want = 0;

		ck_assert_msg(p != NULL, "pollux_new(\"%s\"): %s", b[i],
		              strerror(errno));
		f = pollux_features(p);
		if (strcmp(b[i], "epoll") == 0 || strcmp(b[i], "kqueue") == 0 ||
		    strcmp(b[i], "uring") == 0)
			want = POLLUX_FEAT_EDGE | POLLUX_FEAT_O1 | POLLUX_FEAT_NOLIMIT;
		else if (strcmp(b[i], "poll") == 0)
			want = POLLUX_FEAT_NOLIMIT;
		else {
			/* configure says whether select here takes fd_sets
			 * past FD_SETSIZE (Linux and the BSDs do, unless
			 * --disable-large-select). */
#ifdef HAVE_SELECT_LARGE
			want = POLLUX_FEAT_NOLIMIT;
#endif
		}
		ck_assert_msg(f == want, "pollux_features(%s) = 0x%x, want 0x%x",
		              b[i], f, want);
		pollux_free(p);
	}
}
END_TEST

START_TEST(version_string)
{
	const char *v = pollux_version();

	ck_assert_msg(v != NULL && *v != '\0', "pollux_version() is empty");
	ck_assert_msg(strcmp(v, PACKAGE_VERSION) == 0,
	              "pollux_version() = \"%s\", package is %s", v,
	              PACKAGE_VERSION);
}
END_TEST

START_TEST(null_poller_harmless)
{
	/* Like free(NULL): nothing happens. */
	pollux_free(NULL);
	ck_assert_int_eq(pollux_count(NULL), 0);
	errno = 0;
	ck_assert_int_eq(pollux_reinit(NULL), -1);
	ck_assert_msg(errno == EINVAL, "pollux_reinit(NULL): errno %d (%s), "
	              "want EINVAL", errno, strerror(errno));
}
END_TEST

void ct_add_choice(TCase *tc)
{
	tcase_add_test(tc, backends_list);
	tcase_add_test(tc, new_by_name);
	tcase_add_test(tc, new_auto_picks_best);
	tcase_add_test(tc, env_is_honoured);
	tcase_add_test(tc, unknown_name_einval);
#if !defined(HAVE_BACKEND_EPOLL) || !defined(HAVE_BACKEND_POLL) || \
    !defined(HAVE_BACKEND_SELECT) || !defined(HAVE_BACKEND_KQUEUE) || \
    !defined(HAVE_BACKEND_URING)
	tcase_add_test(tc, not_built_enosys);
#endif
#if defined(HAVE_BACKEND_EPOLL) && \
    (defined(HAVE_BACKEND_POLL) || defined(HAVE_BACKEND_SELECT))
	tcase_add_test(tc, auto_falls_back);
#endif
	tcase_add_test(tc, features_per_backend);
	tcase_add_test(tc, version_string);
	tcase_add_test(tc, null_poller_harmless);
	ct_add_probe(tc);
}
