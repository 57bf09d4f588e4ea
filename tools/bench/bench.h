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
	int have_n, have_w, sweep, raw, quiet;
	const char *csv;	/* --csv FILE ('-': stdout), or NULL */
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

#endif
