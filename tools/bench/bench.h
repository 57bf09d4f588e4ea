/* bench.h: the pipe benchmark's shared state and its per-event handler,
 * used alike by the library loop (bench.c) and the raw loops (raw.c). */
#ifndef POLLUX_BENCH_H
#define POLLUX_BENCH_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#define PROG "pollux-bench"
#define BENCH_MAX_BACKENDS 8

/* The command line (options.c). */
struct opts {
	const char *backends[BENCH_MAX_BACKENDS];	/* to run, in order */
	int nbackends;
	int named;		/* -b named the backends (one failing is an error,
				 * not a note that skips it) */
	unsigned long n, active, writes, runs;
	double max_s;		/* time budget per backend and n; 0: none */
	int have_n, have_w, sweep, raw, quiet, no_progress;
	const char *csv;	/* --csv FILE ('-': stdout), or NULL */
	const char *json;	/* --json FILE ('-': stdout), or NULL */
};

/* Parses argv into *o; exits 0 after --help, --version and
 * --list-backends, 2 after a usage error (cli.h's lines). */
void bench_options(struct opts *o, int argc, char **argv);

/* The socketpairs and one run's counters. */
struct bench {
	int n;			/* pairs */
	int active;		/* bytes written before the clock starts */
	long wbudget;		/* writes allowed per run (-w) */
	int maxev;		/* events one wait may return, same on both paths */
	int *rfd;		/* read end of pair i: the registered fd */
	int *wfd;		/* write end of pair i */
	int maxfd;		/* highest rfd */
	int *idx_of_fd;		/* rfd -> i, for the raw select loop */

	/* One run. */
	long count;		/* bytes read */
	long fired;		/* bytes written (the active ones included) */
	long writes;		/* budget left */
	long waits;		/* wait calls */
	long empty;		/* waits that returned nothing */
	const char *err;	/* what failed, with errno in err_errno */
	int err_errno;
};

/* Waits in a row that may return nothing before a run counts as stalled:
 * socketpair writes are visible at once, so an honest run has none. */
#define BENCH_MAX_EMPTY 1000000L

/*
 * Pair i is readable: read its byte and, while the budget lasts, pass one
 * on to pair i+1 so the events chain through the set. Both loops call this
 * very function (inlined), so they do the same work per event.
 * Returns 0, or -1 with b->err set.
 */
static inline int bench_fire(struct bench *b, int i)
{
	char ch;
	ssize_t r = read(b->rfd[i], &ch, 1);
	if (r == 1) {
		b->count++;
		if (b->writes > 0) {
			int j = i + 1 == b->n ? 0 : i + 1;
			if (write(b->wfd[j], "e", 1) != 1) {
				b->err = "write";
				b->err_errno = errno;
				return -1;
			}
			b->writes--;
			b->fired++;
		}
		return 0;
	}
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	b->err = r == 0 ? "read (unexpected end of file)" : "read";
	b->err_errno = r == 0 ? 0 : errno;
	return -1;
}

/* Counts an empty wait; -1 with b->err set once the run has stalled. */
static inline int bench_empty(struct bench *b)
{
	if (++b->empty < BENCH_MAX_EMPTY)
		return 0;
	b->err = "no fd became readable although bytes were in flight";
	b->err_errno = 0;
	return -1;
}

/* Resets the counters and writes the active bytes, spread evenly over the
 * pairs (as libevent's bench.c does). Untimed. 0 or -1 with b->err. */
int bench_prime(struct bench *b);

/* A raw loop: set up its kernel state for every rfd (untimed), then time
 * the dispatch until every byte written has been read.
 * Returns 0 with *ns set, or -1 with b->err set. */
typedef int (*bench_raw_fn)(struct bench *b, uint64_t *ns);

/* The raw loop for a backend name, or NULL when none is compiled in. */
bench_raw_fn bench_raw_lookup(const char *backend);

/* One path's figures over a backend's timed runs (summary.c). */
struct result {
	double median_us, min_us, ns_per_event;
	double spread;		/* median / min; 0 when min is 0 */
	int noisy;		/* bench_noisy(median, min) */
	double ratio;		/* lib only, with --raw: median of paired ratios */
};

/* A row's runs disagree when the median is more than this times the min:
 * a quiet machine keeps them within a few per cent, and a median half as
 * slow again as the best run means something else ran meanwhile. */
#define BENCH_NOISY_RATIO 1.5

/* 1 when median > BENCH_NOISY_RATIO * min (min > 0), else 0. */
int bench_noisy(double median, double min);

/* Sorts ns[0..runs) and returns its median, min, ns per event, spread and
 * flag (ratio 0). runs >= 1. */
struct result bench_summarize(uint64_t *ns, unsigned long runs, long events);

/* The median of lib[i] / raw[i]: each library run against the raw run next
 * to it in time, so that a burst of load from elsewhere on the machine
 * weighs on both sides of a ratio rather than on one median. runs >= 1. */
double bench_paired_ratio(const uint64_t *lib, const uint64_t *raw,
                          unsigned long runs);

/* One row of results: a backend at one number of pairs. */
struct row {
	const char *backend;
	int n, active;
	long writes, events;
	unsigned long runs;
	struct result lib, raw;	/* raw only when has_raw */
	int has_raw;
};

/* Rows kept for the JSON: every backend at every sweep point. */
#define BENCH_MAX_ROWS (BENCH_MAX_BACKENDS * 8)

struct px_meta;

/* Output (output.c). out_open opens --csv and --json (exits on failure);
 * out_close writes the JSON, closes the files and returns 0, or 1 after
 * saying what could not be written. */
void out_open(const struct opts *o);
void out_header(const struct opts *o);
void out_row(const struct row *r);
void out_note_noisy(const struct opts *o);
int out_close(const struct opts *o, const struct px_meta *m,
              const unsigned long *points, size_t npoints, int maxev);

/* The progress line on stderr when it is a terminal (not with -q or
 * --no-progress): items backends x sizes; progress_item before each,
 * progress_run after each run, progress_clear before other output. */
void progress_start(const struct opts *o, size_t items);
void progress_item(void);
void progress_run(const char *backend, int n, unsigned long run,
                  unsigned long runs, double max_s, double item_s);
void progress_clear(void);

#endif
