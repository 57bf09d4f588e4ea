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

#include "common.h"
#include "pollux.h"

#define PROG "pollux-bench"

/* Fds kept free beyond the pairs: the poller's own (epoll), the raw loop's,
 * and a little slack for the C library. */
#define FD_RESERVE 4

static const unsigned long sweep_points[] = { 10, 100, 1000, 10000 };
#define SWEEP_MAX_S	20.0	/* --sweep's default -t */

struct opts {
	const char *backend;	/* NULL: all built */
	unsigned long n, active, writes, runs;
	double max_s;		/* time budget per backend and n; 0: none */
	int have_n, have_w, sweep, raw, csv;
};

struct result {
	double median_us, min_us, ns_per_event;
	double ratio;		/* lib only, with --raw: median of paired ratios */
};

/* Prints the usage text, naming the backends this libpollux has. */
static void help(void)
{
	char built[64] = "";
	for (const char *const *b = pollux_backends(); b && *b; b++) {
		if (built[0])
			strncat(built, " ", sizeof built - strlen(built) - 1);
		strncat(built, *b, sizeof built - strlen(built) - 1);
	}
	printf(
"usage: " PROG " [-b NAME|all] [-n PAIRS] [-a ACTIVE] [-w WRITES] [-r RUNS]\n"
"                    [--sweep] [--raw] [--csv]\n"
"The pipe benchmark: PAIRS socketpairs registered for input, ACTIVE of them\n"
"get a byte, each readable one reads it and passes a byte on to the next\n"
"pair while WRITES last. Only the dispatch is timed.\n"
"  -b, --backend NAME|all  select, poll, epoll, kqueue, uring, auto\n"
"                          (POLLUX_BACKEND or the best) or all\n"
"                          (default all built: %s)\n"
"  -n, --pairs N           socketpairs (default 100)\n"
"  -a, --active N          pairs primed with a byte (default 1)\n"
"  -w, --writes N          writes per run (default: the number of pairs)\n"
"  -r, --runs N            timed runs; median and min are printed (default 25)\n"
"  -t, --max-time SECONDS  stop a backend's runs (at least 3) once they took\n"
"                          this long; the runs column says how many ran\n"
"      --sweep             n over 10, 100, 1000, 10000 (capped by RLIMIT_NOFILE);\n"
"                          -t defaults to 20 here\n"
"      --raw               also run select/poll/epoll_wait/kevent/io_uring\n"
"                          directly, no library, and print lib/raw: the\n"
"                          median of each library run's time over the raw\n"
"                          run next to it\n"
"      --csv               comma-separated output with a header line\n"
"  -h, --help              this text\n"
"  -V, --version           print the version\n"
"Columns: median_us and min_us per run; ns_per_event = median / (ACTIVE+WRITES).\n",
	       built);
}

static int bad_usage(const char *msg, const char *arg)
{
	fprintf(stderr, PROG ": %s%s%s (see " PROG " --help)\n", msg,
	        arg ? " " : "", arg ? arg : "");
	return 2;
}

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
		fprintf(stderr, PROG ": out of memory for %d pairs: lower -n\n", n);
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
			fprintf(stderr, PROG ": socketpair %d of %d: %s: lower -n or raise "
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
		fprintf(stderr, PROG ": out of memory for %d pairs: lower -n\n", n);
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
	if (o->csv) {
		printf("backend,n,active,writes,runs,events,median_us,min_us,ns_per_event%s\n",
		       o->raw ? ",raw_median_us,raw_min_us,raw_ns_per_event,ratio" : "");
	} else {
		printf("%-7s %6s %6s %6s %4s %7s %11s %11s %9s", "backend", "n",
		       "active", "writes", "runs", "events", "median_us", "min_us",
		       "ns/event");
		if (o->raw)
			printf(" %11s %11s %9s %7s", "raw_med_us", "raw_min_us",
			       "raw_ns/ev", "lib/raw");
		printf("\n");
	}
	fflush(stdout);
}

static void print_row(const struct opts *o, const char *name, const struct bench *b,
                      unsigned long runs, long events, const struct result *lib,
                      const struct result *raw)
{
	if (o->csv) {
		printf("%s,%d,%d,%ld,%lu,%ld,%.2f,%.2f,%.1f", name, b->n, b->active,
		       b->wbudget, runs, events, lib->median_us, lib->min_us,
		       lib->ns_per_event);
		if (raw)
			printf(",%.2f,%.2f,%.1f,%.3f", raw->median_us, raw->min_us,
			       raw->ns_per_event, lib->ratio);
	} else {
		printf("%-7s %6d %6d %6ld %4lu %7ld %11.1f %11.1f %9.1f", name, b->n,
		       b->active, b->wbudget, runs, events, lib->median_us,
		       lib->min_us, lib->ns_per_event);
		if (raw)
			printf(" %11.1f %11.1f %9.1f %7.3f", raw->median_us, raw->min_us,
			       raw->ns_per_event, lib->ratio);
	}
	printf("\n");
	fflush(stdout);
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
		fprintf(stderr, PROG ": no raw loop for backend '%s'\n", name);
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
			if (b->err_errno == ERANGE && !o->backend) {
				fprintf(stderr, PROG ": note: skipping %s at n=%d: fd %d is past "
				        "what it can watch on this system\n", name, b->n, b->maxfd);
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
	print_row(o, name, b, done, events, &lr, raw ? &rr : NULL);
	return 0;
raw_failed:
	run_error(name, "raw", b);
	return -1;
}

/* Checks a -b name against the library and resolves "auto" (which follows
 * POLLUX_BACKEND) to the backend it picks: exit status 0 if usable. */
static int check_backend(const char **name)
{
	pollux_t *p = pollux_new(*name);
	if (p) {
		*name = pollux_backend(p);	/* static: outlives p */
		pollux_free(p);
		return 0;
	}
	if (errno == EINVAL && strcmp(*name, "auto") == 0) {
		fprintf(stderr, PROG ": POLLUX_BACKEND='%s' names no backend: set it to "
		        "select, poll, epoll, kqueue or uring, or unset it\n", getenv("POLLUX_BACKEND"));
		return 1;
	}
	if (errno == EINVAL)
		return bad_usage("unknown backend (use select, poll, epoll, kqueue, uring, auto or all):", *name);
	fprintf(stderr, PROG ": backend '%s' is not available in this build or on "
	        "this system: %s; pick another with -b\n", *name, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "pairs", required_argument, NULL, 'n' },
		{ "active", required_argument, NULL, 'a' },
		{ "writes", required_argument, NULL, 'w' },
		{ "runs", required_argument, NULL, 'r' },
		{ "max-time", required_argument, NULL, 't' },
		{ "sweep", no_argument, NULL, 'S' },
		{ "raw", no_argument, NULL, 'R' },
		{ "csv", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { NULL, 100, 1, 0, 25, 0, 0, 0, 0, 0, 0 };
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":b:n:a:w:r:t:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o.backend = strcmp(optarg, "all") == 0 ? NULL : optarg;
			break;
		case 'n':
			if (px_parse_ulong(optarg, 1, 1ul << 24, &o.n) < 0)
				return bad_usage("-n wants a number of pairs from 1 to 16777216, not", optarg);
			o.have_n = 1;
			break;
		case 'a':
			if (px_parse_ulong(optarg, 1, 1ul << 24, &o.active) < 0)
				return bad_usage("-a wants a number of active pairs from 1 up to -n, not", optarg);
			break;
		case 'w':
			if (px_parse_ulong(optarg, 0, 1000000000ul, &o.writes) < 0)
				return bad_usage("-w wants a number of writes from 0 to 1000000000, not", optarg);
			o.have_w = 1;
			break;
		case 'r':
			if (px_parse_ulong(optarg, 1, 100000, &o.runs) < 0)
				return bad_usage("-r wants a number of runs from 1 to 100000, not", optarg);
			break;
		case 't':
			if (px_parse_double(optarg, 1e6, &o.max_s) < 0 || o.max_s <= 0)
				return bad_usage("-t wants a positive number of seconds, not", optarg);
			break;
		case 'S': o.sweep = 1; break;
		case 'R': o.raw = 1; break;
		case 'C': o.csv = 1; break;
		case 'h':
			help();
			return 0;
		case 'V':
			printf(PROG " (pollux) %s\n", pollux_version());
			return 0;
		case ':':
			return bad_usage("missing value for option", argv[optind - 1]);
		default:
			if (optopt) {
				char opt[3] = { '-', (char)optopt, '\0' };
				return bad_usage("unknown option", opt);
			}
			return bad_usage("unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad_usage("unexpected argument", argv[optind]);
	if (o.sweep && o.have_n)
		return bad_usage("--sweep chooses n itself; drop -n or --sweep", NULL);
	/* A select or poll run at n=10000 takes 15-25 s on a small machine:
	 * without a budget the sweep would take most of an hour. */
	if (o.sweep && o.max_s == 0)
		o.max_s = SWEEP_MAX_S;
	if (o.backend) {
		int st = check_backend(&o.backend);
		if (st)
			return st;
	}

	/* The n values to run, capped by the descriptor limit. */
	long limit = px_raise_nofile();
	long fit = limit > 0 ? max_pairs(limit) : 0;
	unsigned long ns_list[sizeof sweep_points / sizeof sweep_points[0]];
	size_t npoints = 0;
	if (o.sweep) {
		for (size_t i = 0; i < sizeof sweep_points / sizeof sweep_points[0]; i++) {
			unsigned long n = sweep_points[i];
			if ((long)n > fit) {
				if (npoints && ns_list[npoints - 1] >= (unsigned long)fit)
					break;
				fprintf(stderr, PROG ": note: n=%lu needs %lu descriptors but "
				        "RLIMIT_NOFILE is %ld; sweeping up to n=%ld instead\n",
				        n, 2 * n + FD_RESERVE, limit, fit);
				n = (unsigned long)fit;
			}
			if (n >= 1)
				ns_list[npoints++] = n;
		}
	} else {
		if ((long)o.n > fit) {
			fprintf(stderr, PROG ": n=%lu needs %lu descriptors (two per pair plus "
			        "%d) but RLIMIT_NOFILE allows %ld with %ld already open; at most "
			        "-n %ld fits: lower -n or raise the hard limit (ulimit -Hn)\n",
			        o.n, 2 * o.n + FD_RESERVE, FD_RESERVE, limit,
			        limit > 0 ? fds_open_below(limit) : 0, fit);
			return 1;
		}
		ns_list[npoints++] = o.n;
	}
	if (npoints == 0 || o.active > ns_list[0]) {
		if (npoints == 0) {
			fprintf(stderr, PROG ": no room for even one pair under RLIMIT_NOFILE "
			        "%ld: close descriptors or raise the limit\n", limit);
			return 1;
		}
		return bad_usage("-a must not exceed the number of pairs (-n)", NULL);
	}

	/* The backends to run. */
	const char *one[2] = { o.backend, NULL };
	const char *const *names = o.backend ? one : pollux_backends();
	if (!names || !names[0]) {
		fprintf(stderr, PROG ": libpollux lists no backends: rebuild it\n");
		return 1;
	}

	struct bench b;
	memset(&b, 0, sizeof b);
	int maxev = o.active < 64 ? 64 : (int)o.active;
	struct pollux_event *ev = calloc((size_t)maxev, sizeof *ev);
	uint64_t *lib_ns = calloc(o.runs, sizeof *lib_ns);
	uint64_t *raw_ns = calloc(o.runs, sizeof *raw_ns);
	if (!ev || !lib_ns || !raw_ns) {
		fprintf(stderr, PROG ": out of memory: lower -r or -a\n");
		return 1;
	}

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
		for (const char *const *nm = names; *nm; nm++) {
			if (measure(&o, *nm, &b, ev, lib_ns, raw_ns) < 0) {
				status = 1;
				break;
			}
		}
		close_pairs(&b);
	}
	free(ev);
	free(lib_ns);
	free(raw_ns);
	return status;
}
