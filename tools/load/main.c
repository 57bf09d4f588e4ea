/* main.c: pollux-load's limits, threads and report: checks the limits,
 * splits the work over the threads, waits, merges and reports. */
#include "toolconfig.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "load.h"

#define PROG "pollux-load"

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&g_run.stop, 1);
}

/* The most connections one process holds: each child raises its own limit. */
static unsigned long per_process(const struct config *cfg)
{
	return (cfg->connections + cfg->processes - 1) / cfg->processes;
}

static int nofile_ok(const struct config *cfg)
{
	/* one descriptor per connection, one poller per thread, stdio, slack;
	 * with --processes, per process (the parent holds two pipes each) */
	unsigned long need = per_process(cfg) + 2 * cfg->threads + 16;
	long lim = px_raise_nofile();
	if (lim >= 0 && (unsigned long)lim >= need)
		return 1;
	fprintf(stderr, PROG ": %lu connections need about %lu file descriptors but "
	        "RLIMIT_NOFILE allows %ld even raised to the hard limit; raise the hard "
	        "limit (ulimit -Hn as root, limits.conf, systemd LimitNOFILE) or split "
	        "the connections over several processes (--processes %lu)\n",
	        per_process(cfg), need, lim,
	        lim > 2 * (long)cfg->threads + 16
	        ? (cfg->connections + (unsigned long)lim - 2 * cfg->threads - 17) /
	          ((unsigned long)lim - 2 * cfg->threads - 16)
	        : cfg->processes + 1);
	return 0;
}

/* A select that stops at FD_SETSIZE (where the kernel does) cannot take
 * more: say so before connecting rather than fail on the first fd past it. */
static int backend_fits(const struct config *cfg)
{
	pollux_t *p = pollux_new(cfg->backend);
	if (!p)
		return 1;	/* the workers report why it cannot be created */
	int capped = !(pollux_features(p) & POLLUX_FEAT_NOLIMIT);
	const char *name = pollux_backend(p);
	unsigned long need = per_process(cfg) + 2 * cfg->threads + 16;
	if (capped && need > FD_SETSIZE) {
		fprintf(stderr, PROG ": the %s backend here takes descriptors below "
		        "FD_SETSIZE (%d) only, and %lu connections need about %lu; use "
		        "at most %lu connections or another backend (-b poll)\n",
		        name, FD_SETSIZE, per_process(cfg), need,
		        (unsigned long)FD_SETSIZE - 2 * cfg->threads - 16);
		pollux_free(p);
		return 0;
	}
	pollux_free(p);
	return 1;
}

/* Splits total over the threads in proportion to weight (remainder spread). */
unsigned long load_share(unsigned long total, unsigned long wsum,
                         unsigned long before, unsigned long mine)
{
	if (wsum == 0)
		return 0;
	/* floor(total * x / wsum) without the product: -n goes to 1e15 and
	 * connections to 1e7, whose product overflows 64 bits. */
	unsigned long long q = total / wsum, r = total % wsum;
	unsigned long long a = q * before + r * before / wsum;
	unsigned long long b = q * (before + mine) + r * (before + mine) / wsum;
	return (unsigned long)(b - a);
}

static void progress(const struct config *cfg, struct worker *w, uint64_t t0,
                     uint64_t *last_req, uint64_t *last_ns)
{
	unsigned long open = 0, req = 0, err = 0;
	for (unsigned long i = 0; i < cfg->threads; i++) {
		open += atomic_load_explicit(&w[i].live_open, memory_order_relaxed);
		req += atomic_load_explicit(&w[i].live_requests, memory_order_relaxed);
		err += atomic_load_explicit(&w[i].live_errors, memory_order_relaxed);
	}
	uint64_t now = px_now_ns();
	double rps = now > *last_ns ? (double)(req - *last_req) * 1e9 / (double)(now - *last_ns) : 0;
	fprintf(stderr, "\r%s: %.0fs  open %lu/%lu  %.0f req/s  requests %lu  errors %lu\033[K",
	        PROG, (double)(now - t0) / 1e9, open, cfg->connections, rps, req, err);
	*last_req = req;
	*last_ns = now;
}

int run_process(const struct config *cfgp, struct presult *r, struct hist *lat,
                struct hist *lat_unc, struct hist *late, struct series *ser)
{
	memset(r, 0, sizeof *r);
	struct worker *w = calloc(cfgp->threads, sizeof *w);
	if (!w) {
		fprintf(stderr, PROG ": out of memory\n");
		return -1;
	}
	pthread_barrier_init(&g_run.barrier, NULL, (unsigned)cfgp->threads);
	atomic_store(&g_run.undone, (int)cfgp->threads);
	unsigned long cbefore = 0, abefore = 0;
	int rc = -1;
	for (unsigned long i = 0; i < cfgp->threads; i++) {
		struct worker *x = &w[i];
		x->id = (int)i;
		x->cfg = cfgp;
		x->nconn = load_share(cfgp->connections, cfgp->threads, i, 1);
		x->nactive = load_share(cfgp->active, cfgp->threads, i, 1);
		x->first_index = cbefore;
		x->quota = load_share(cfgp->requests, cfgp->active, abefore, x->nactive);
		x->rate = cfgp->active ? cfgp->rate * (double)x->nactive / (double)cfgp->active : 0;
		cbefore += x->nconn;
		abefore += x->nactive;
		x->lat = malloc(sizeof *x->lat);
		x->lat_unc = cfgp->rate > 0 ? malloc(sizeof *x->lat_unc) : NULL;
		x->late = cfgp->rate > 0 ? malloc(sizeof *x->late) : NULL;
		if (!x->lat || (cfgp->rate > 0 && (!x->lat_unc || !x->late))) {
			fprintf(stderr, PROG ": out of memory\n");
			goto out;
		}
		hist_init(x->lat);
		if (x->lat_unc)
			hist_init(x->lat_unc);
		if (x->late)
			hist_init(x->late);
	}
	uint64_t t0 = px_now_ns();
	unsigned long started = 0;
	for (; started < cfgp->threads; started++) {
		int e = pthread_create(&w[started].tid, NULL, worker_main, &w[started]);
		if (e) {
			fprintf(stderr, PROG ": cannot start thread %lu: %s\n", started, strerror(e));
			/* the barrier waits for every thread: none started can pass */
			if (started == 0)
				goto out;
			exit(1);
		}
	}
	if (cfgp->progress && !cfgp->quiet) {
		uint64_t last_req = 0, last_ns = t0, next = t0 + 1000000000ull;
		for (;;) {
			if (atomic_load(&g_run.finished) == (int)cfgp->threads)
				break;
			struct timespec ts = { 0, 100000000 };
			nanosleep(&ts, NULL);
			if (px_now_ns() >= next) {
				progress(cfgp, w, t0, &last_req, &last_ns);
				next += 1000000000ull;
			}
		}
	}
	for (unsigned long i = 0; i < cfgp->threads; i++)
		pthread_join(w[i].tid, NULL);
	if (cfgp->progress && !cfgp->quiet)
		fprintf(stderr, "\r\033[K");

	uint64_t stop = g_run.start_ns, last = 0;
	for (unsigned long i = 0; i < cfgp->threads; i++) {
		struct worker *x = &w[i];
		if (x->fail[0]) {
			fprintf(stderr, PROG ": thread %lu: %s\n", i, x->fail);
			r->failed = 1;
		}
		r->requests += x->requests_done;
		r->bytes_sent += x->bytes_sent;
		r->bytes_received += x->bytes_received;
		for (int k = 0; k < E_NKINDS; k++) {
			r->errors[k] += x->errors[k];
			r->idle_errors[k] += x->idle_errors[k];
		}
		for (int st = 0; st < N_STATUS; st++)
			r->http_status[st] += x->http_status[st];
		hist_merge(lat, x->lat);
		if (x->lat_unc && lat_unc)
			hist_merge(lat_unc, x->lat_unc);
		if (x->late && late)
			hist_merge(late, x->late);
		r->connected += x->connected;
		r->unsent += x->unsent;
		r->unanswered += x->unanswered;
		r->in_flight += x->in_flight;
		if (x->stall_ns > r->stall_ns)
			r->stall_ns = x->stall_ns;
		r->stall_seen |= x->stall_seen;
		if (ser && series_merge(ser, &x->series) < 0) {
			fprintf(stderr, PROG ": out of memory for the interval series\n");
			r->failed = 1;
		}
		if (x->stopped_ns > stop)
			stop = x->stopped_ns;
		if (x->last_done_ns > last)
			last = x->last_done_ns;
	}
	/* -n: the run ends with its last answer; -d: when the clock ran out
	 * (or earlier, when stopped or when every connection failed). */
	if (cfgp->requests && last)
		stop = last;
	r->start_ns = g_run.start_ns;
	r->measure_ns = g_run.measure_ns;
	r->stop_ns = stop;
	snprintf(r->backend, sizeof r->backend, "%s", w[0].backend_name);
	pthread_barrier_destroy(&g_run.barrier);
	rc = 0;
out:
	for (unsigned long i = 0; i < cfgp->threads; i++) {
		free(w[i].lat);
		free(w[i].lat_unc);
		free(w[i].late);
		series_free(&w[i].series);
	}
	free(w);
	return rc;
}

/* What the run measured, as the reports take it. */
static void totals_of(struct totals *tot, const struct config *cfg, const struct presult *r,
                      struct hist *lat, struct hist *lat_unc, struct hist *late, uint64_t t0)
{
	memset(tot, 0, sizeof *tot);
	tot->lat = lat;
	tot->lat_unc = cfg->rate > 0 ? lat_unc : NULL;
	tot->late = cfg->rate > 0 ? late : NULL;
	tot->requests = r->requests;
	tot->bytes_sent = r->bytes_sent;
	tot->bytes_received = r->bytes_received;
	memcpy(tot->errors, r->errors, sizeof tot->errors);
	memcpy(tot->idle_errors, r->idle_errors, sizeof tot->idle_errors);
	tot->connected = (unsigned long)r->connected;
	tot->unsent = r->unsent;
	tot->in_flight = r->in_flight;
	tot->stall_us = r->stall_ns / 1000;
	tot->stall_seen = r->stall_seen;
	tot->duration_s = r->stop_ns > r->measure_ns
	                  ? (double)(r->stop_ns - r->measure_ns) / 1e9 : 0;
	/* no connection, no measurement: its "duration" is no figure */
	tot->measured = r->connected > 0;
	tot->connect_s = r->start_ns > t0 ? (double)(r->start_ns - t0) / 1e9 : 0;
	tot->backend = r->backend[0] ? r->backend : (cfg->backend ? cfg->backend : "unknown");
}

/* Every interval of the measured time, also those nothing happened in
 * (the last one may be partial); with -d that is the duration asked for:
 * processes measure each from its own start, and the few microseconds
 * between them are no interval. 0, or -1 when out of memory. */
static int pad_series(struct series *ser, const struct config *cfg, double duration_s)
{
	double span = cfg->requests || duration_s < cfg->duration_s ? duration_s
	                                                           : cfg->duration_s;
	size_t want = (size_t)ceil(span / cfg->interval_s - 1e-9);
	if (want <= ser->niv)
		return 0;
	struct interval *iv = realloc(ser->iv, want * sizeof *iv);
	if (!iv)
		return -1;
	memset(iv + ser->niv, 0, (want - ser->niv) * sizeof *iv);
	ser->iv = iv;
	ser->niv = ser->ivcap = want;
	return 0;
}

/* The text report, the JSON and the distribution; 0, or 1 when one of
 * them could not be written (said on stderr). */
static int write_reports(const struct config *cfg, const struct totals *tot, FILE *hgrm)
{
	int failed = 0;
	/* The kernel searches the local port range on every connect; past
	 * about half of it (it keeps the other half for bind) that search
	 * dominates. Worth a hint, since --source removes the cost. */
	if (!cfg->nsources && cfg->addr.ss_family != AF_UNIX && cfg->connections >= 10000 &&
	    tot->connect_s > 5)
		fprintf(stderr, PROG ": connecting took %.1f s; a crowded local port range "
		        "slows every connect: --source 127.0.0.2-127.0.0.20 spreads them\n",
		        tot->connect_s);
	/* The text for people goes to stdout, or to stderr when the JSON or
	 * the distribution is there; -q leaves it out when the JSON carries
	 * the results. */
	/* With -q and nothing measured (no connection was made) there are no
	 * results: the one line that says why (run_failed) is all. */
	if ((!cfg->json || !cfg->quiet) && !(cfg->quiet && !tot->measured))
		report_text(cfg->json_out == stdout || hgrm == stdout ? stderr : stdout, cfg, tot);
	if (cfg->json) {
		report_json(cfg->json_out, cfg, tot);
		if (cfg->json_out != stdout && fclose(cfg->json_out) != 0) {
			fprintf(stderr, PROG ": cannot write --json '%s': %s\n", cfg->json_path,
			        strerror(errno));
			failed = 1;
		}
	}
	if (hgrm) {
		hist_write_hgrm(hgrm, tot->lat, 1000.0);
		/* standard output is checked below, with the rest written there */
		if (hgrm != stdout && fclose(hgrm) != 0) {
			fprintf(stderr, PROG ": cannot write --hgrm '%s': %s\n", cfg->hgrm,
			        strerror(errno));
			failed = 1;
		}
	}
	/* A report that did not reach its reader is no success (a full
	 * disk, a closed pipe): say so instead of exiting 0 with nothing. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": cannot write the report to standard output: %s\n",
		        strerror(errno));
		failed = 1;
	}
	return failed;
}

/* One part of the line that says why every request failed: "3 answers
 * HTTP 404", "2 timed out after 30s", "1 malformed answer". */
static void why_part(char *b, size_t n, const struct config *cfg, enum err_kind k,
                     uint64_t count)
{
	unsigned long long c = (unsigned long long)count;
	const char *s = count == 1 ? "" : "s";
	char d[32];
	switch (k) {
	case E_TIMEOUT:
		snprintf(b, n, "%llu timed out after %s (--timeout)", c,
		         px_fmt_duration(d, sizeof d, cfg->timeout_s));
		break;
	case E_MALFORMED: snprintf(b, n, "%llu malformed answer%s", c, s); break;
	case E_MISMATCH: snprintf(b, n, "%llu answer%s unlike what was sent", c, s); break;
	case E_CLOSED: snprintf(b, n, "%llu closed by the server unanswered", c); break;
	case E_SHORT: snprintf(b, n, "%llu answer%s cut short", c, s); break;
	case E_RESET: snprintf(b, n, "%llu connection%s reset", c, s); break;
	case E_REFUSED: snprintf(b, n, "%llu connection%s refused", c, s); break;
	default: snprintf(b, n, "%llu %s", c, err_names[k]); break;
	}
}

/* When no request passed its check although requests were made: one line
 * that says what came back instead (the statuses, malformed answers, or
 * nothing at all) and, where a protocol mismatch is the likely cause,
 * what to check. The report has the counts; this says what they mean. */
static void explain_no_success(const struct config *cfg, const struct totals *tot,
                               const uint64_t *status)
{
	char line[1024], part[160];
	size_t len = 0;
	line[0] = '\0';
#define ADD(...) do { \
		if (len < sizeof line) \
			len += (size_t)snprintf(line + len, sizeof line - len, __VA_ARGS__); \
	} while (0)
	/* the statuses, most frequent first (at most three named) */
	uint64_t done[3] = { 0 };
	int shown = 0;
	for (; shown < 3; shown++) {
		int best = -1;
		for (int st = 0; st < N_STATUS; st++) {
			int seen = 0;
			for (int j = 0; j < shown; j++)
				seen |= done[j] == (uint64_t)st;
			if (!seen && status[st] && (best < 0 || status[st] > status[best]))
				best = st;
		}
		if (best < 0)
			break;
		done[shown] = (uint64_t)best;
		if (best)
			ADD("%s%llu answer%s HTTP %d", shown ? ", " : "",
			    (unsigned long long)status[best], status[best] == 1 ? "" : "s", best);
		else
			ADD("%s%llu answer%s with an unusual status", shown ? ", " : "",
			    (unsigned long long)status[best], status[best] == 1 ? "" : "s");
	}
	uint64_t named = 0;
	for (int j = 0; j < shown; j++)
		named += status[done[j]];
	if (tot->errors[E_HTTP_STATUS] > named)
		ADD(", %llu other non-2xx", (unsigned long long)(tot->errors[E_HTTP_STATUS] - named));
	for (int k = 0; k < E_NKINDS; k++) {
		if (k == E_HTTP_STATUS || !tot->errors[k])
			continue;
		why_part(part, sizeof part, cfg, (enum err_kind)k, tot->errors[k]);
		ADD("%s%s", len ? ", " : "", part);
	}
	/* Answers that were no answer of this protocol, or none at all, are
	 * most often a server speaking the other one. */
	uint64_t answered = tot->errors[E_HTTP_STATUS] + tot->errors[E_MALFORMED] +
	                    tot->errors[E_MISMATCH];
	int garbled = tot->errors[E_MALFORMED] + tot->errors[E_MISMATCH] > 0;
	const char *hint = cfg->proto == PROTO_HTTP
		? "; is the server speaking HTTP? (an echo server takes HOST:PORT "
		  "without http://, or --proto echo)"
		: "; is the server speaking echo? (an HTTP server takes an http:// URL, "
		  "or --proto http)";
	fprintf(stderr, PROG ": %s: %s%s\n",
	        answered ? "every request failed" : "no request was answered", line,
	        garbled || !answered ? hint : "");
#undef ADD
}

/* 1 when the run was not clean (each reason said on stderr), else 0;
 * failed: it already failed otherwise (said). */
static int run_failed(const struct config *cfg, const struct totals *tot,
                      const struct presult *r, int failed)
{
	/* Nothing answered because nothing was there: one line that says so,
	 * not a report of zeros to puzzle over. */
	uint64_t refused = tot->errors[E_REFUSED] + tot->idle_errors[E_REFUSED];
	uint64_t errors = 0;
	for (int k = 0; k < E_NKINDS; k++)
		errors += tot->errors[k];
	/* Requests made and none passed (not even one answered after the
	 * clock stopped, which is a latency): say what came back instead. */
	if (tot->connected == 0 && refused >= cfg->connections)
		fprintf(stderr, PROG ": every connection to %s was refused (%llu of %lu): "
		        "is a server listening there?\n", cfg->target,
		        (unsigned long long)refused, cfg->connections);
	else if (tot->requests == 0 && tot->lat->count == 0 && errors > 0)
		explain_no_success(cfg, tot, r->http_status);
	for (int k = 0; k < E_NKINDS; k++)
		if (tot->errors[k] || tot->idle_errors[k])
			failed = 1;
	/* Stopped by a signal before every connection was even tried: "every
	 * connection was made" does not hold, though no error was counted. */
	if (!failed && tot->connected < cfg->connections) {
		fprintf(stderr, PROG ": stopped while connecting: %lu of %lu "
		        "connections made\n", tot->connected, cfg->connections);
		failed = 1;
	}
	/* Stopped by a signal while answers were still owed: those requests
	 * did not pass their check, so this is no clean run either. */
	unsigned long unanswered = (unsigned long)r->unanswered;
	if (unanswered) {
		fprintf(stderr, PROG ": stopped by a signal with %lu request%s still "
		        "waiting for an answer; they are in no figure\n", unanswered,
		        unanswered == 1 ? "" : "s");
		failed = 1;
	}
	return failed;
}

static void on_signals(void)
{
	struct sigaction sa = { 0 };
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	static struct config cfg = {
		.proto = PROTO_ECHO, .size = 64, .connections = 10, .threads = 1,
		.duration_s = 10, .timeout_s = 5, .processes = 1,
		.pct = { 50, 90, 99, 99.9, 99.99 }, .npct = 5, .method = "GET",
	};
	g_run.ready_fd = g_run.go_fd = -1;
	load_options(&cfg, argc, argv);
	if (!nofile_ok(&cfg) || !backend_fits(&cfg))
		return 1;
	char err[256];
	if (cfg.proto == PROTO_HTTP && build_requests(&cfg, err, sizeof err) < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	/* opened now: a path that cannot be written is said before the run */
	FILE *hgrm = NULL;
	if (cfg.hgrm && !(hgrm = px_open_out("--hgrm", cfg.hgrm)))
		return 1;
	/* several processes would draw over each other's line */
	cfg.progress = cfg.processes == 1 && !cfg.quiet && !cfg.no_progress &&
	               isatty(STDERR_FILENO);
	on_signals();

	struct hist *lat = malloc(sizeof *lat);
	/* a child of --processes sends all three, open loop or not */
	int three = cfg.rate > 0 || cfg.processes > 1;
	struct hist *lat_unc = three ? malloc(sizeof *lat_unc) : NULL;
	struct hist *late = three ? malloc(sizeof *late) : NULL;
	if (!lat || (three && (!lat_unc || !late))) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	hist_init(lat);
	if (three) {
		hist_init(lat_unc);
		hist_init(late);
	}
	struct presult r;
	struct series ser = { 0 };
	struct series *serp = cfg.interval_s > 0 ? &ser : NULL;
	struct px_meta meta;
	px_meta_begin(&meta);
	uint64_t t0 = px_now_ns();
	int failed = 0;
	if (cfg.processes > 1)
		failed = run_processes(&cfg, &r, lat, lat_unc, late, serp) < 0;
	else if (run_process(&cfg, &r, lat, lat_unc, late, serp) < 0)
		return 1;
	px_meta_end(&meta);
	failed |= r.failed != 0;

	struct totals tot;
	totals_of(&tot, &cfg, &r, lat, lat_unc, late, t0);
	tot.meta = &meta;
	if (serp) {
		if (pad_series(&ser, &cfg, tot.duration_s) < 0) {
			fprintf(stderr, PROG ": out of memory\n");
			return 1;
		}
		tot.series = &ser;
	}
	failed |= write_reports(&cfg, &tot, hgrm);
	failed = run_failed(&cfg, &tot, &r, failed);

	free(lat);
	free(lat_unc);
	free(late);
	free_requests(&cfg);
	free(cfg.urls);
	free(cfg.headers);
	free(cfg.body);
	series_free(&ser);
	free(cfg.sources);
	return failed ? 1 : 0;
}
