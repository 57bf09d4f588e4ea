/* stats.c: adding up the counters of the workers (and of the threads and
 * processes of the other models) and printing them as JSON (for /stats and
 * --json), as "key value" lines, or as one line per interval. */
#include "toolconfig.h"
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

const char *const model_names[MODEL_COUNT] = {
	[MODEL_LOOP] = "loop",
	[MODEL_ITERATIVE] = "iterative",
	[MODEL_THREADS] = "threads",
	[MODEL_FORK] = "fork",
	[MODEL_BUSY] = "busy",
};

const char *const err_names[ERR_COUNT] = {
	[ERR_EMFILE] = "emfile",
	[ERR_ACCEPT] = "accept",
	[ERR_MAX_CONNS] = "max_conns",
	[ERR_REGISTER] = "register",
	[ERR_OOM] = "out_of_memory",
	[ERR_READ] = "read",
	[ERR_RESET] = "reset",
	[ERR_WRITE] = "write",
	[ERR_FILE] = "file",
	[ERR_IDLE] = "idle_timeout",
	[ERR_SPAWN] = "spawn",
	[ERR_HTTP_400] = "http_400",
	[ERR_HTTP_403] = "http_403",
	[ERR_HTTP_404] = "http_404",
	[ERR_HTTP_405] = "http_405",
	[ERR_HTTP_413] = "http_413",
	[ERR_HTTP_414] = "http_414",
	[ERR_HTTP_416] = "http_416",
	[ERR_HTTP_431] = "http_431",
	[ERR_HTTP_500] = "http_500",
	[ERR_HTTP_501] = "http_501",
	[ERR_HTTP_503] = "http_503",
	[ERR_HTTP_505] = "http_505",
};

_Static_assert(sizeof(struct wstats) % sizeof(_Atomic uint64_t) == 0,
               "struct wstats must be an array of counters");
#define NCOUNTERS (sizeof(struct wstats) / sizeof(_Atomic uint64_t))
/* The counters are shared with other processes only if their atomics work
 * without a lock (a lock would be private to each process). */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_LONG_LOCK_FREE == 2,
               "shared counters need lock-free atomics");

void wstats_copy(struct wstats *dst, const struct wstats *src)
{
	_Atomic uint64_t *d = (_Atomic uint64_t *)dst;
	const _Atomic uint64_t *s = (const _Atomic uint64_t *)src;
	for (size_t i = 0; i < NCOUNTERS; i++)
		atomic_store_explicit(&d[i], atomic_load_explicit(&s[i], memory_order_relaxed),
		                      memory_order_relaxed);
}

void wstats_add(struct wstats *dst, const struct wstats *src)
{
	_Atomic uint64_t *d = (_Atomic uint64_t *)dst;
	const _Atomic uint64_t *s = (const _Atomic uint64_t *)src;
	for (size_t i = 0; i < NCOUNTERS; i++)
		atomic_store_explicit(&d[i], atomic_load_explicit(&d[i], memory_order_relaxed) +
		                      atomic_load_explicit(&s[i], memory_order_relaxed),
		                      memory_order_relaxed);
}

/* Memory every process forked from now on shares; zero-filled. NULL (with
 * the reason printed) when the system has none to give. */
void *shared_map(size_t size)
{
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m != MAP_FAILED)
		return m;
	fprintf(stderr, SERVER_NAME ": cannot map the shared statistics: %s\n", strerror(errno));
	return NULL;
}

/* Folding the counters of workers that ended into sh->retired: between
 * begin and end, any number of shared_fold calls. The ended worker writes
 * no more; only sums taken meanwhile must wait. */
void shared_fold_begin(struct stats_shared *sh)
{
	/* seq_cst read-modify-write: the folds below stay after it. */
	atomic_fetch_add(&sh->seq, 1);
}

/* Adds st to the retired total, without the gauges (buffers held,
 * descriptors registered), which end with their worker, and zeroes st. */
void shared_fold(struct stats_shared *sh, struct wstats *st)
{
	struct wstats t;
	wstats_copy(&t, st);
	atomic_store_explicit(&t.buffered, 0, memory_order_relaxed);
	atomic_store_explicit(&t.registered, 0, memory_order_relaxed);
	wstats_add(&sh->retired, &t);
	_Atomic uint64_t *d = (_Atomic uint64_t *)st;
	for (size_t i = 0; i < NCOUNTERS; i++)
		atomic_store_explicit(&d[i], 0, memory_order_relaxed);
}

void shared_fold_end(struct stats_shared *sh)
{
	atomic_fetch_add(&sh->seq, 1);
}

/* sum = retired + what add_live adds (the workers alive), read again until
 * no fold ran meanwhile. */
void shared_sum(struct stats_shared *sh, struct wstats *sum,
                void (*add_live)(void *ctx, struct wstats *sum), void *ctx)
{
	for (;;) {
		unsigned long seq = atomic_load(&sh->seq);
		if (seq & 1) {
			sched_yield();	/* the parent is folding */
			continue;
		}
		memset(sum, 0, sizeof *sum);
		wstats_add(sum, &sh->retired);
		add_live(ctx, sum);
		/* The relaxed reads above before the second look at seq. */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load(&sh->seq) == seq)
			break;
	}
}

static void add_one(struct stats_sum *t, const struct wstats *st)
{
	t->accepted += STAT_GET(st, accepted);
	t->closed += STAT_GET(st, closed);
	t->requests += STAT_GET(st, requests);
	t->bytes_in += STAT_GET(st, bytes_in);
	t->bytes_out += STAT_GET(st, bytes_out);
	t->waits += STAT_GET(st, waits);
	t->events += STAT_GET(st, events);
	t->wait_ns += STAT_GET(st, wait_ns);
	t->registered += STAT_GET(st, registered);
	t->buffered += STAT_GET(st, buffered);
	t->file_read += STAT_GET(st, file_read);
	t->file_sent += STAT_GET(st, file_sent);
	for (int k = 0; k < ERR_COUNT; k++)
		t->err[k] += STAT_GET(st, err[k]);
}

void stats_collect(struct server *s, struct stats_sum *t)
{
	memset(t, 0, sizeof *t);
	t->backend = s->backend_name;
	t->model = model_names[s->opt.model];
	t->workers = s->nworkers;
	t->uptime_s = (double)(px_now_ns() - s->start_ns) / 1e9;
	long peak = atomic_load(s->peak);
	/* A fork child's copy of the parent's worker is as old as the fork:
	 * there the parent's counters come from the shared mapping. With
	 * --processes every worker's counters are in the shared page. */
	if (!s->fs && !s->ps) {
		for (unsigned i = 0; i < s->nworkers; i++)
			add_one(t, &s->w[i].st);
	}
	if (s->opt.model == MODEL_THREADS) {
		struct wstats sum;
		models_threads_sum(s, &sum);
		add_one(t, &sum);
		t->threads = (uint64_t)atomic_load(&s->nthreads);
	}
	if (s->fs) {
		struct wstats sum;
		t->processes = models_fork_sum(s, &sum, &peak);
		add_one(t, &sum);
	}
	if (s->ps) {
		struct wstats sum;
		t->processes = procs_sum(s, &sum);
		add_one(t, &sum);
		t->workers = procs_loops(s);
	}
	/* Counters of different workers are read at slightly different
	 * moments; never report more closed than accepted. */
	t->open = t->accepted > t->closed ? t->accepted - t->closed : 0;
	t->peak = peak > 0 ? (uint64_t)peak : 0;
}

static double per_wait(uint64_t x, uint64_t waits)
{
	return waits ? (double)x / (double)waits : 0.0;
}

void stats_json(FILE *f, const struct stats_sum *t)
{
	fputs("{\"backend\":", f);
	px_json_string(f, t->backend ? t->backend : "");
	fputs(",\"model\":", f);
	px_json_string(f, t->model ? t->model : "");
	fprintf(f, ",\"workers\":%u,\"uptime_s\":%.3f,\"accepted\":%" PRIu64
	        ",\"closed\":%" PRIu64 ",\"open\":%" PRIu64 ",\"peak_open\":%" PRIu64
	        ",\"requests\":%" PRIu64 ",\"bytes_in\":%" PRIu64
	        ",\"bytes_out\":%" PRIu64 ",\"waits\":%" PRIu64 ",\"events\":%" PRIu64
	        ",\"events_per_wait\":%.3f,\"wait_us_total\":%.0f,\"wait_us_mean\":%.3f"
	        ",\"registered\":%" PRIu64 ",\"buffered_bytes\":%" PRIu64
	        ",\"threads\":%" PRIu64 ",\"processes\":%" PRIu64
	        ",\"file_read_bytes\":%" PRIu64 ",\"file_sent_bytes\":%" PRIu64 ",\"errors\":{",
	        t->workers, t->uptime_s, t->accepted, t->closed, t->open, t->peak,
	        t->requests, t->bytes_in, t->bytes_out, t->waits, t->events,
	        per_wait(t->events, t->waits), (double)t->wait_ns / 1e3,
	        per_wait(t->wait_ns, t->waits) / 1e3, t->registered, t->buffered,
	        t->threads, t->processes, t->file_read, t->file_sent);
	for (int k = 0; k < ERR_COUNT; k++)
		fprintf(f, "%s\"%s\":%" PRIu64, k ? "," : "", err_names[k], t->err[k]);
	fputs("}}", f);
}

void stats_text(FILE *f, const struct stats_sum *t)
{
	fprintf(f, "backend %s\nmodel %s\nworkers %u\nuptime_s %.3f\naccepted %" PRIu64
	        "\nclosed %" PRIu64 "\nopen %" PRIu64 "\npeak_open %" PRIu64
	        "\nrequests %" PRIu64 "\nbytes_in %" PRIu64 "\nbytes_out %" PRIu64
	        "\nwaits %" PRIu64 "\nevents %" PRIu64 "\nevents_per_wait %.3f"
	        "\nwait_us_total %.0f\nwait_us_mean %.3f\nregistered %" PRIu64
	        "\nbuffered_bytes %" PRIu64 "\nthreads %" PRIu64 "\nprocesses %" PRIu64
	        "\nfile_read_bytes %" PRIu64 "\nfile_sent_bytes %" PRIu64 "\n",
	        t->backend ? t->backend : "", t->model ? t->model : "", t->workers, t->uptime_s, t->accepted,
	        t->closed, t->open, t->peak, t->requests, t->bytes_in, t->bytes_out,
	        t->waits, t->events, per_wait(t->events, t->waits),
	        (double)t->wait_ns / 1e3, per_wait(t->wait_ns, t->waits) / 1e3,
	        t->registered, t->buffered, t->threads, t->processes, t->file_read,
	        t->file_sent);
	for (int k = 0; k < ERR_COUNT; k++)
		fprintf(f, "errors.%s %" PRIu64 "\n", err_names[k], t->err[k]);
}

void stats_line(FILE *f, const struct stats_sum *t)
{
	fprintf(f, "stats uptime_s=%.3f open=%" PRIu64 " accepted=%" PRIu64
	        " requests=%" PRIu64 " bytes_in=%" PRIu64 " bytes_out=%" PRIu64
	        " waits=%" PRIu64 " events_per_wait=%.3f wait_us_mean=%.3f\n",
	        t->uptime_s, t->open, t->accepted, t->requests, t->bytes_in,
	        t->bytes_out, t->waits, per_wait(t->events, t->waits),
	        per_wait(t->wait_ns, t->waits) / 1e3);
}
