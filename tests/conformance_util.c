/* conformance_util.c: helpers shared by the conformance suite's topic files
 * (socketpairs, descriptor limits, clocks, bounded waits, a seeded PRNG). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conformance.h"

void ct_setup(void)
{
	struct rlimit rl;

	/* Writes to a socket whose peer is closed must give EPIPE, not kill. */
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

const char *ct_name(int idx)
{
	const char *const *b = pollux_backends();

	ct_check(b != NULL, "pollux_backends() returned NULL");
	return b[idx];
}

int ct_is(int idx, const char *name)
{
	return strcmp(ct_name(idx), name) == 0;
}

pollux_t *ct_new(int idx)
{
	const char *name = ct_name(idx);
	pollux_t *p;

	errno = 0;
	p = pollux_new(name);
	ct_check(p != NULL, "pollux_new(\"%s\") failed: %s", name,
	         strerror(errno));
	return p;
}

void ct_pair(int sv[2])
{
	ct_check(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0,
	         "socketpair: %s", strerror(errno));
	for (int i = 0; i < 2; i++) {
		int fl = fcntl(sv[i], F_GETFL);
		ct_check(fl >= 0 && fcntl(sv[i], F_SETFL, fl | O_NONBLOCK) == 0,
		         "fcntl O_NONBLOCK: %s", strerror(errno));
	}
}

void ct_put(int fd, int n)
{
	char buf[256];

	memset(buf, 'x', sizeof buf);
	while (n > 0) {
		int k = n < (int)sizeof buf ? n : (int)sizeof buf;
		ssize_t w = send(fd, buf, (size_t)k, MSG_NOSIGNAL);
		if (w < 0 && errno == ENOTSOCK)
			w = write(fd, buf, (size_t)k);
		ct_check(w > 0, "write to fd %d: %s", fd,
		         w < 0 ? strerror(errno) : "short");
		n -= (int)w;
	}
}

long ct_drain(int fd)
{
	char buf[4096];
	long total = 0;

	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r > 0) {
			total += r;
			continue;
		}
		/* ECONNRESET: the peer closed with our data unread. */
		if (r == 0 || errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == ECONNRESET)
			return total;
		if (errno == EINTR)
			continue;
		ck_abort_msg("read fd %d: %s", fd, strerror(errno));
	}
}

void ct_need_nofile(long want)
{
	struct rlimit rl;

	ct_setup();
	ct_check(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit: %s",
	         strerror(errno));
	ct_check(rl.rlim_cur == RLIM_INFINITY || (long)rl.rlim_cur >= want,
	         "this test needs %ld descriptors but RLIMIT_NOFILE allows "
	         "%ld (hard %ld); raise it with ulimit -n", want,
	         (long)rl.rlim_cur, (long)rl.rlim_max);
}

int ct_move_fd(int fd, int target)
{
	if (fd == target)
		return target;
	ct_check(fcntl(target, F_GETFD) == -1 && errno == EBADF,
	         "fd %d is already in use", target);
	ct_check(dup2(fd, target) == target, "dup2(%d, %d): %s", fd,
	         target, strerror(errno));
	close(fd);
	return target;
}

/* An unlinked temporary regular file; with content when full. */
int ct_temp_file(int full)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	snprintf(path, sizeof path, "%s/pollux-ct-XXXXXX",
	         dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	ck_assert_msg(fd >= 0, "mkstemp(%s): %s", path, strerror(errno));
	unlink(path);
	if (full)
		ct_put(fd, 100);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

double ct_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int ct_find(const struct pollux_event *ev, int n, int fd)
{
	int at = -1;

	for (int i = 0; i < n; i++) {
		if (ev[i].fd != fd)
			continue;
		ct_check(at < 0, "fd %d reported twice by one wait "
		         "(entries %d and %d)", fd, at, i);
		at = i;
	}
	return at;
}

static const char *base(const char *file)
{
	const char *s = strrchr(file, '/');

	return s ? s + 1 : file;
}

int ct_wait_at(pollux_t *p, struct pollux_event *ev, int maxev, int timeout,
               const char *file, int line)
{
	int n;

	errno = 0;
	n = pollux_wait(p, ev, maxev, timeout);
	ct_check(n >= 0, "%s:%d: %s: pollux_wait(maxev %d, timeout %d): -1, %s",
	         base(file), line, pollux_backend(p), maxev, timeout,
	         strerror(errno));
	ct_check(n <= maxev, "%s:%d: %s: pollux_wait returned %d events for "
	         "maxev %d", base(file), line, pollux_backend(p), n, maxev);
	for (int i = 0; i < n; i++) {
		unsigned e = ev[i].events;
		ct_check(e != 0 && (e & ~(POLLUX_IN | POLLUX_OUT | POLLUX_ERR |
		                          POLLUX_HUP)) == 0,
		         "%s:%d: %s reported fd %d with events 0x%x: want a "
		         "non-empty subset of IN|OUT|ERR|HUP", base(file), line,
		         pollux_backend(p), ev[i].fd, e);
		for (int j = i + 1; j < n; j++)
			ct_check(ev[j].fd != ev[i].fd, "%s:%d: %s: fd %d reported "
			         "twice by one wait (entries %d and %d of %d)",
			         base(file), line, pollux_backend(p), ev[i].fd, i, j,
			         n);
	}
	return n;
}

void ct_expect_one_at(pollux_t *p, int fd, unsigned events, void *data,
                      const char *file, int line)
{
	struct pollux_event ev[8];
	int n = ct_wait_at(p, ev, 8, CT_WAIT_MS, file, line);

	ct_check(n == 1, "%s:%d: %s: want fd %d reported alone, got %d events "
	         "(first fd %d events 0x%x)", base(file), line,
	         pollux_backend(p), fd, n, n > 0 ? ev[0].fd : -1,
	         n > 0 ? ev[0].events : 0u);
	ct_check(ev[0].fd == fd, "%s:%d: %s: want fd %d, got fd %d",
	         base(file), line, pollux_backend(p), fd, ev[0].fd);
	ct_check(ev[0].events == events, "%s:%d: %s: fd %d events 0x%x, want "
	         "0x%x", base(file), line, pollux_backend(p), fd, ev[0].events,
	         events);
	ct_check(ev[0].data == data, "%s:%d: %s: fd %d data %p, want %p",
	         base(file), line, pollux_backend(p), fd, ev[0].data, data);
}

void ct_expect_none_at(pollux_t *p, const char *file, int line)
{
	struct pollux_event ev[8];
	int n = ct_wait_at(p, ev, 8, 0, file, line);

	ct_check(n == 0, "%s:%d: %s: want no event, got %d (first fd %d events "
	         "0x%x)", base(file), line, pollux_backend(p), n,
	         n > 0 ? ev[0].fd : -1, n > 0 ? ev[0].events : 0u);
}

/* A spec-conforming wait may return fewer than maxev events (say, while a
 * result buffer grows), so "no fd starves" is checked as: every ready fd
 * shows up within twice the minimum number of waits, plus some slack. */
int ct_wait_budget(int ready, int maxev)
{
	return 2 * ((ready + maxev - 1) / maxev) + 16;
}

uint64_t ct_seed(void)
{
	const char *s = getenv("POLLUX_TEST_SEED");
	uint64_t v = s && *s ? strtoull(s, NULL, 0) : 20261122u;

	return v ? v : 1;
}

uint32_t ct_rand(uint64_t *state)
{
	/* xorshift64*: plenty for shuffling test scenarios. */
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return (uint32_t)((x * 2685821657736338717ull) >> 32);
}
