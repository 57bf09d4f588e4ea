/* bench.c: pollux-bench, the classic pipe benchmark (libevent's test/bench.c)
 * run through libpollux on each backend, optionally beside raw loops. */
#include "toolconfig.h"
#include "bench.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cli.h"
#include "common.h"
#include "pollux.h"

/* Fds kept free beyond the pairs: the poller's own (epoll), the raw loop's,
 * and a little slack for the C library. */
#define FD_RESERVE 4

static const unsigned long sweep_points[] = { 10, 100, 1000, 10000 };
#define NPOINTS (sizeof sweep_points / sizeof sweep_points[0])

struct result {
	double median_us, min_us, ns_per_event;
	double ratio;		/* lib only, with --raw: median of paired ratios */
};

/* Where the rows go: the table for people (NULL with --csv -), and CSV. */
static FILE *table_out, *csv_out;

/* Descriptors open now below limit (probing at most 1<<16 of them). */
static long fds_open_below(long limit)
{
	long n = 0, top = limit < 65536 ? limit : 65536;
	for (long fd = 0; fd < top; fd++)
		if (fcntl((int)fd, F_GETFD) != -1)
			n++;
	return n;
}

/* Largest number of pairs the descriptor limit leaves room for. */
static long max_pairs(long limit)
{
	long room = limit - fds_open_below(limit) - FD_RESERVE;
	return room > 1 ? room / 2 : 0;
}

static void close_pairs(struct bench *b)
{
	for (int i = 0; i < b->n; i++) {
		if (b->rfd && b->rfd[i] >= 0)
			close(b->rfd[i]);
		if (b->wfd && b->wfd[i] >= 0)
			close(b->wfd[i]);
	}
	free(b->rfd);
	free(b->wfd);
	free(b->idx_of_fd);
	b->rfd = b->wfd = b->idx_of_fd = NULL;
}

/* Creates n non-blocking socketpairs. 0, or -1 after printing why. */
static int open_pairs(struct bench *b, int n)
{
	b->n = n;
	b->rfd = malloc((size_t)n * sizeof(int));
	b->wfd = malloc((size_t)n * sizeof(int));
	if (!b->rfd || !b->wfd) {
		fprintf(stderr, PROG ": out of memory for %d pairs: lower --pairs\n", n);
		b->n = 0;
		close_pairs(b);
		return -1;
	}
	for (int i = 0; i < n; i++)
		b->rfd[i] = b->wfd[i] = -1;
	b->maxfd = -1;
	for (int i = 0; i < n; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
			fprintf(stderr, PROG ": socketpair %d of %d: %s: lower --pairs or raise "
			        "the descriptor limits\n", i + 1, n, strerror(errno));
			close_pairs(b);
			return -1;
		}
		b->rfd[i] = sv[0];
		b->wfd[i] = sv[1];
		if (px_set_nonblock(sv[0]) < 0 || px_set_nonblock(sv[1]) < 0) {
			fprintf(stderr, PROG ": fcntl O_NONBLOCK: %s\n", strerror(errno));
			close_pairs(b);
			return -1;
		}
		if (sv[0] > b->maxfd)
			b->maxfd = sv[0];
	}
	b->idx_of_fd = malloc(((size_t)b->maxfd + 1) * sizeof(int));
	if (!b->idx_of_fd) {
		fprintf(stderr, PROG ": out of memory for %d pairs: lower --pairs\n", n);
		close_pairs(b);
		return -1;
	}
	for (int fd = 0; fd <= b->maxfd; fd++)
		b->idx_of_fd[fd] = -1;
	for (int i = 0; i < n; i++)
		b->idx_of_fd[b->rfd[i]] = i;
	return 0;
}

int bench_prime(struct bench *b)
{
	int space = b->n / b->active;
	b->count = 0;
	b->fired = 0;
	b->writes = b->wbudget;
	b->waits = 0;
	b->empty = 0;
	b->err = NULL;
	for (int k = 0; k < b->active; k++) {
		if (write(b->wfd[k * space], "e", 1) != 1) {
			b->err = "write";
			b->err_errno = errno;
			return -1;
		}
		b->fired++;
	}
	return 0;
}

/* One run through the library: register (untimed), prime, time dispatch. */
static int lib_run(struct bench *b, const char *name, struct pollux_event *ev,
                   uint64_t *ns)
{
	pollux_t *p = pollux_new(name);
	int rc = -1;
	if (!p) {
		b->err = "pollux_new";
		b->err_errno = errno;
		return -1;
	}
	for (int i = 0; i < b->n; i++) {
		if (pollux_add(p, b->rfd[i], POLLUX_IN, (void *)(uintptr_t)i) < 0) {
			b->err = "pollux_add";
			b->err_errno = errno;
			goto out;
		}
	}
	/* A backend may hand registrations to the kernel only with the next
	 * wait (uring submits its polls then): one wait before anything is
	 * ready, so that registering stays out of the clock on every backend,
	 * as in the raw loops. */
	if (pollux_wait(p, ev, b->maxev, 0) < 0) {
		b->err = "pollux_wait";
		b->err_errno = errno;
		goto out;
	}
	if (bench_prime(b) < 0)
		goto out;

	uint64_t t0 = px_now_ns();
	while (b->count < b->fired) {
		int k = pollux_wait(p, ev, b->maxev, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			b->err = "pollux_wait";
			b->err_errno = errno;
			goto out;
		}
		b->waits++;
		if (k == 0) {
			if (bench_empty(b) < 0)
				goto out;
			continue;
		}
		for (int j = 0; j < k; j++)
			if (bench_fire(b, (int)(uintptr_t)ev[j].data) < 0)
				goto out;
	}
	*ns = px_now_ns() - t0;
	rc = 0;
out:
	pollux_free(p);
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The median of lib[i] / raw[i]: each library run against the raw run
 * next to it in time, so that a burst of load from elsewhere on the machine
 * weighs on both sides of a ratio rather than on one median. */
static double paired_ratio(const uint64_t *lib, const uint64_t *raw,
                           unsigned long runs)
{
	double *r = malloc(runs * sizeof *r);
	if (!r)
		return (double)lib[0] / (double)raw[0];
	for (unsigned long i = 0; i < runs; i++)
		r[i] = (double)lib[i] / (double)(raw[i] ? raw[i] : 1);
	qsort(r, runs, sizeof *r, cmp_double);
	double m = runs % 2 ? r[runs / 2] : (r[runs / 2 - 1] + r[runs / 2]) / 2;
	free(r);
	return m;
}

static struct result summarize(uint64_t *ns, unsigned long runs, long events)
{
	struct result r;
	qsort(ns, runs, sizeof *ns, cmp_u64);
	double med = runs % 2 ? (double)ns[runs / 2]
	                      : ((double)ns[runs / 2 - 1] + (double)ns[runs / 2]) / 2;
	r.median_us = med / 1e3;
	r.min_us = (double)ns[0] / 1e3;
	r.ns_per_event = med / (double)events;
	r.ratio = 0;
	return r;
}

static void print_header(const struct opts *o)
{
	if (csv_out)
		fprintf(csv_out, "backend,n,active,writes,runs,events,median_us,min_us,ns_per_event%s\n",
		        o->raw ? ",raw_median_us,raw_min_us,raw_ns_per_event,ratio" : "");
	if (table_out) {
		fprintf(table_out, "%-7s %6s %6s %6s %4s %7s %11s %11s %9s", "backend", "n",
		        "active", "writes", "runs", "events", "median_us", "min_us",
		        "ns/event");
		if (o->raw)
			fprintf(table_out, " %11s %11s %9s %7s", "raw_med_us", "raw_min_us",
			        "raw_ns/ev", "lib/raw");
		fprintf(table_out, "\n");
		fflush(table_out);
	}
}

static void print_row(const char *name, const struct bench *b,
                      unsigned long runs, long events, const struct result *lib,
                      const struct result *raw)
{
	if (csv_out) {
		fprintf(csv_out, "%s,%d,%d,%ld,%lu,%ld,%.2f,%.2f,%.1f", name, b->n, b->active,
		        b->wbudget, runs, events, lib->median_us, lib->min_us,
		        lib->ns_per_event);
		if (raw)
			fprintf(csv_out, ",%.2f,%.2f,%.1f,%.3f", raw->median_us, raw->min_us,
			        raw->ns_per_event, lib->ratio);
		fprintf(csv_out, "\n");
		fflush(csv_out);
	}
	if (table_out) {
		fprintf(table_out, "%-7s %6d %6d %6ld %4lu %7ld %11.1f %11.1f %9.1f", name, b->n,
		        b->active, b->wbudget, runs, events, lib->median_us,
		        lib->min_us, lib->ns_per_event);
		if (raw)
			fprintf(table_out, " %11.1f %11.1f %9.1f %7.3f", raw->median_us,
			        raw->min_us, raw->ns_per_event, lib->ratio);
		fprintf(table_out, "\n");
		fflush(table_out);
	}
}

static void run_error(const char *name, const char *path, const struct bench *b)
{
	fprintf(stderr, PROG ": %s (%s): %s%s%s\n", name, path, b->err,
	        b->err_errno ? ": " : "", b->err_errno ? strerror(b->err_errno) : "");
}

/*
 * Measures one backend on the open pairs. Library and raw runs alternate
 * (ABBA order, after one untimed warm-up of each) so both see the same
 * machine noise and the ratio stays honest. With -t, stops once the timed
 * runs (at least 3) have taken that long.
 * Returns 0, 1 when the backend cannot take these fds here (skipped with a
 * note), or -1 after printing an error.
 */
static int measure(const struct opts *o, const char *name, struct bench *b,
                   struct pollux_event *ev, uint64_t *lib_ns, uint64_t *raw_ns)
{
	bench_raw_fn raw = o->raw ? bench_raw_lookup(name) : NULL;
	long events = (long)b->active + b->wbudget;
	if (o->raw && !raw) {
		px_warn("--raw: no raw loop for backend '%s' in this build", name);
		return -1;
	}
	unsigned long done = 0;
	uint64_t t0 = 0;
	for (long r = -1; r < (long)o->runs; r++) {
		if (r == 0)
			t0 = px_now_ns();
		uint64_t lt = 0, rt = 0;
		int raw_first = r >= 0 && (r & 1);
		if (raw && raw_first && raw(b, &rt) < 0)
			goto raw_failed;
		if (lib_run(b, name, ev, &lt) < 0) {
			if (b->err_errno == ERANGE && !o->named) {
				if (!o->quiet)
					px_warn("note: skipping %s at n=%d: fd %d is past what it "
					        "can watch on this system", name, b->n, b->maxfd);
				return 1;
			}
			run_error(name, "library", b);
			return -1;
		}
		if (raw && !raw_first && raw(b, &rt) < 0)
			goto raw_failed;
		if (r < 0)
			continue;
		lib_ns[r] = lt;
		raw_ns[r] = rt;
		done = (unsigned long)r + 1;
		if (o->max_s > 0 && done >= 3 &&
		    (double)(px_now_ns() - t0) / 1e9 >= o->max_s)
			break;
	}
	double ratio = raw ? paired_ratio(lib_ns, raw_ns, done) : 0;
	struct result lr = summarize(lib_ns, done, events);
	struct result rr;
	lr.ratio = ratio;
	if (raw)
		rr = summarize(raw_ns, done, events);
	print_row(name, b, done, events, &lr, raw ? &rr : NULL);
	return 0;
raw_failed:
	run_error(name, "raw", b);
	return -1;
}

/* The pair counts to run, capped by the descriptor limit, into ns[];
 * returns how many, or exits 1 with a line saying what fits. */
static size_t plan_points(const struct opts *o, unsigned long *ns)
{
	long limit = px_raise_nofile();
	long fit = limit > 0 ? max_pairs(limit) : 0;
	char lim[32];
	px_fmt_limit(lim, sizeof lim, limit > 0 ? (unsigned long long)limit : 0);
	size_t npoints = 0;
	if (!o->sweep) {
		if ((long)o->n > fit)
			px_die("--pairs %lu needs %lu descriptors (two per pair plus %d) but "
			       "RLIMIT_NOFILE allows %s with %ld already open; at most "
			       "--pairs %ld fits: lower --pairs or raise the hard limit "
			       "(ulimit -Hn)", o->n, 2 * o->n + FD_RESERVE, FD_RESERVE, lim,
			       limit > 0 ? fds_open_below(limit) : 0, fit);
		ns[npoints++] = o->n;
	} else {
		for (size_t i = 0; i < NPOINTS; i++) {
			unsigned long n = sweep_points[i];
			if ((long)n > fit) {
				if (npoints && ns[npoints - 1] >= (unsigned long)fit)
					break;
				if (!o->quiet)
					px_warn("note: %lu pairs need %lu descriptors but "
					        "RLIMIT_NOFILE is %s; sweeping up to %ld pairs "
					        "instead", n, 2 * n + FD_RESERVE, lim, fit);
				n = (unsigned long)fit;
			}
			if (n >= 1)
				ns[npoints++] = n;
		}
	}
	if (npoints == 0)
		px_die("no room for even one pair under RLIMIT_NOFILE %s: close "
		       "descriptors or raise the limit", lim);
	if (o->active > ns[0])
		px_usage_error("--active %lu exceeds the %lu pairs", o->active, ns[0]);
	return npoints;
}

int main(int argc, char **argv)
{
	struct opts o;
	bench_options(&o, argc, argv);
	unsigned long ns_list[NPOINTS];
	size_t npoints = plan_points(&o, ns_list);

	table_out = stdout;
	if (o.csv && strcmp(o.csv, "-") == 0) {
		csv_out = stdout;
		table_out = NULL;
	} else if (o.csv && !(csv_out = fopen(o.csv, "w"))) {
		px_die("--csv %s: %s", o.csv, strerror(errno));
	}

	struct bench b;
	memset(&b, 0, sizeof b);
	int maxev = o.active < 64 ? 64 : (int)o.active;
	struct pollux_event *ev = calloc((size_t)maxev, sizeof *ev);
	uint64_t *lib_ns = calloc(o.runs, sizeof *lib_ns);
	uint64_t *raw_ns = calloc(o.runs, sizeof *raw_ns);
	if (!ev || !lib_ns || !raw_ns)
		px_die("out of memory: lower --runs or --active");

	int status = 0;
	print_header(&o);
	for (size_t pi = 0; pi < npoints && status == 0; pi++) {
		if (open_pairs(&b, (int)ns_list[pi]) < 0) {
			status = 1;
			break;
		}
		b.active = (int)o.active;
		b.wbudget = o.have_w ? (long)o.writes : (long)ns_list[pi];
		b.maxev = maxev;
		for (int i = 0; i < o.nbackends && status == 0; i++)
			if (measure(&o, o.backends[i], &b, ev, lib_ns, raw_ns) < 0)
				status = 1;
		close_pairs(&b);
	}
	if (csv_out && csv_out != stdout && (ferror(csv_out) | fclose(csv_out))) {
		px_warn("--csv %s: %s", o.csv, strerror(errno));
		status = 1;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		px_warn("cannot write to standard output: %s", strerror(errno));
		status = 1;
	}
	free(ev);
	free(lib_ns);
	free(raw_ns);
	return status;
}
