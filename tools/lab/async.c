/* async.c: the lesson "async": a slow handler (GET /delay/100) stalls an
 * iterative server for everyone, a thread per request hides the wait at the
 * price of a thread each, and an event loop holds every wait on one thread
 * as a timer. */
#include "toolconfig.h"
#include "lab.h"
#include "common.h"
#include "pollux.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define NMODELS 3
static const char *const models[NMODELS] = { "iterative", "threads", "loop" };

struct res {
	const char *name;
	char backend[32];	/* loop's, from its /stats */
	char why[256];
	int ok;
	int answered, failed, unfinished;
	double run_s;		/* how long the clients were given */
	double total_s;		/* connect to the last answer; NAN if not all */
	double last_s;		/* connect to the last answer seen */
	long threads_peak;
	double rss_peak;
	double *done;		/* answer times from the burst, sorted (--plot) */
	int ndone;
};

struct sampler {
	struct lab *L;
	const char *name;
	pid_t pid;
	long threads_peak;
	double rss_peak;
	double shown;		/* when the progress line was last drawn */
};

static void sample(void *arg, double t, const struct lab_clients *r)
{
	struct sampler *s = arg;
	if (r && t - s->shown >= 0.5) {
		lab_progress(s->L, "%s: %d of %d answered", s->name, r->answered, r->n);
		s->shown = t;
	}
	long th = lab_threads(s->pid);
	double rss = lab_rss_kib(s->pid);
	if (th > s->threads_peak)
		s->threads_peak = th;
	if (!isnan(rss) && (isnan(s->rss_peak) || rss > s->rss_peak))
		s->rss_peak = rss;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* "12,345", or "-" when not measured. */
static const char *kib_cell(char *buf, size_t n, double v)
{
	if (isnan(v) || v < 0)
		return lab_fmt(buf, n, NAN, 0);
	return lab_commas(buf, n, (unsigned long long)v);
}

static void measure(struct lab *L, struct res *m, int n, int delay_ms, double cap_s)
{
	int port;
	struct proc *srv = lab_model_server(L, m->name, NULL, &port, m->why, sizeof m->why);
	if (!srv)
		return;
	char path[32];
	snprintf(path, sizeof path, "/delay/%d", delay_ms);
	struct sampler s = { L, m->name, srv->pid, -1, NAN, 0 };
	lab_progress(L, "%s: %d clients ask %s at once (up to %.0f s)", m->name, n, path, cap_s);
	struct lab_clients_opts o = { .port = port, .n = n, .path = path, .timeout_s = cap_s,
	                              .tick = sample, .tick_arg = &s, .tick_ms = 5 };
	struct lab_clients r;
	if (lab_clients_run(L, &o, &r) < 0) {
		lab_clients_free(&r);
		return;
	}
	sample(&s, 0, NULL);
	if (strcmp(m->name, "loop") == 0)
		lab_server_backend(port, m->backend, sizeof m->backend);
	m->answered = r.answered;
	m->failed = r.failed;
	m->unfinished = r.unfinished;
	m->run_s = cap_s;
	m->threads_peak = s.threads_peak;
	m->rss_peak = s.rss_peak;
	m->done = malloc((size_t)n * sizeof *m->done);
	double last = NAN;
	for (int i = 0; i < n; i++) {
		const struct lab_client *c = &r.c[i];
		if (isnan(c->t_done) || c->status < 200 || c->status >= 300)
			continue;
		double t = c->t_done - r.t_burst;
		if (m->done)
			m->done[m->ndone++] = t;
		if (isnan(last) || t > last)
			last = t;
	}
	if (m->done)
		qsort(m->done, (size_t)m->ndone, sizeof *m->done, cmp_double);
	m->last_s = last;
	m->total_s = m->answered == n ? last : NAN;
	m->ok = 1;
	lab_clients_free(&r);
	lab_stop_proc(L, srv, SIGTERM, 3000);
}

static void plot(struct lab *L, const struct res *ms, int n)
{
	char *script = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&script, &len);
	if (!f)
		return;
	for (int i = 0; i < NMODELS; i++) {
		fprintf(f, "$%s << EOD\n", ms[i].name);
		for (int j = 0; j < ms[i].ndone; j++)
			fprintf(f, "%.5f %d\n", ms[i].done[j], j + 1);
		fputs("EOD\n", f);
	}
	fprintf(f, "set xlabel 'seconds since the %d clients connected'\n"
	        "set ylabel 'answers completed'\nset logscale x\nset xrange [0.02:*]\n"
	        "set yrange [0:%d]\n"
	        "set key bottom right\nplot ", n, n + n / 10);
	int first = 1;
	for (int i = 0; i < NMODELS; i++) {
		if (ms[i].ndone == 0)
			continue;
		/* The colours of blocking's picture: loop is the fourth. */
		int lt = strcmp(ms[i].name, "loop") == 0 ? 4 : i + 1;
		fprintf(f, "%s$%s using 1:2 with steps lt %d title '%s'", first ? "" : ", ",
		        ms[i].name, lt, ms[i].name);
		first = 0;
	}
	if (first)
		fputs("NaN notitle", f);
	fputc('\n', f);
	fclose(f);
	(void)lab_plot(L, "answers over time, every client asking /delay/100 at once", script);
	free(script);
}

static int run(struct lab *L)
{
	int n = L->o->quick ? 100 : 200;
	int delay_ms = 100;
	/* The iterative server needs n x delay; --quick gives it 5 s and counts
	 * what it answered by then. */
	double iter_cap = L->o->quick ? 5 : n * delay_ms / 1000.0 + 10;
	double cap = 10;
	jw_int(&L->settings, "clients", n);
	jw_int(&L->settings, "delay_ms", delay_ms);
	jw_num(&L->settings, "iterative_cap_s", iter_cap);
	/* Nothing here runs for a time: each run ends with its answers (the
	 * iterative cap is the lesson's, not --seconds). */
	lab_no_timed_phase(L);
	/* The lab's clients keep the default poller: -b is the loop server's. */
	lab_clients_backend(L);
	/* rss_kib here is the server's own largest VmRSS, not blocking's PSS:
	 * a PSS reading walks every mapping, too slow for a 5 ms sample. */
	jw_str(&L->settings, "memory", "vmrss_peak");
	lab_setup_models(L, "iterative, threads and loop");
	lab_setup(L, "%d clients connect at once and each asks GET /delay/%d (answered after "
	          "%d ms: a slow handler); the server's threads and VmRSS sampled every 5 ms",
	          n, delay_ms, delay_ms);
	if (L->o->quick)
		lab_setup(L, "--quick: the iterative server gets %.0f s, not the %.0f s it needs; "
		          "its answers by then are counted", iter_cap, n * delay_ms / 1000.0);

	struct res ms[NMODELS];
	memset(ms, 0, sizeof ms);
	for (int i = 0; i < NMODELS; i++) {
		struct res *m = &ms[i];
		m->name = models[i];
		m->total_s = m->last_s = m->rss_peak = NAN;
		m->threads_peak = -1;
		if (!lab_stopped())
			measure(L, m, n, delay_ms,
			        strcmp(m->name, "iterative") == 0 ? iter_cap : cap);
	}
	jw_str(&L->settings, "backend", ms[2].backend[0] ? ms[2].backend : NULL);
	/* Written also when stopped: every key, null where not measured. */
	for (int i = 0; i < NMODELS; i++) {
		const struct res *m = &ms[i];
		jw_open(&L->meas, m->name);
		jw_num(&L->meas, "answered", m->ok ? m->answered : NAN);
		jw_num(&L->meas, "unfinished", m->ok ? m->unfinished : NAN);
		jw_num(&L->meas, "failed", m->ok ? m->failed : NAN);
		jw_num(&L->meas, "run_s", m->ok ? m->run_s : NAN);
		jw_num(&L->meas, "total_s", m->total_s);
		jw_num(&L->meas, "last_answer_s", m->last_s);
		jw_num(&L->meas, "threads_peak", m->threads_peak >= 0 ? (double)m->threads_peak : NAN);
		jw_num(&L->meas, "rss_kib", m->rss_peak);
		if (m->why[0])
			jw_str(&L->meas, "not_measured", m->why);
		jw_close(&L->meas);
	}
	int rc = LAB_NOT_OBSERVED;
	if (lab_stopped())
		goto out;

	lab_printf(L, "\n%-10s %9s %10s %12s %13s %12s\n", "model", "answered", "total s",
	           "last at s", "threads peak", "VmRSS KiB");
	for (int i = 0; i < NMODELS; i++) {
		const struct res *m = &ms[i];
		char a[32], t[32], la[32], th[32], k[32];
		if (m->ok)
			snprintf(a, sizeof a, "%d/%d", m->answered, n);
		else
			snprintf(a, sizeof a, "-");
		lab_fmt(t, sizeof t, m->total_s, 3);
		lab_fmt(la, sizeof la, m->last_s, 3);
		lab_fmt(th, sizeof th, m->threads_peak >= 0 ? (double)m->threads_peak : NAN, 0);
		kib_cell(k, sizeof k, m->rss_peak);
		lab_printf(L, "%-10s %9s %10s %12s %13s %12s\n", m->name, a, t, la, th, k);
	}
	lab_printf(L, "\ntotal s     from the connects to the last answer (- when not every\n"
	           "            client was answered in the time given)\n"
	           "last at s   when the last answer that came, came\n"
	           "threads     the most threads seen in samples every 5 ms\n"
	           "VmRSS KiB   the largest VmRSS of the server alone seen in those samples\n"
	           "            (resident pages, shared ones counted whole; not blocking's\n"
	           "            PSS)\n\n");

	plot(L, ms, n);

	const struct res *it = &ms[0], *th = &ms[1], *lp = &ms[2];
	for (int i = 0; i < NMODELS; i++)
		if (!ms[i].ok) {
			rc = lab_verdict(L, 0, "%s was not measured: %s", ms[i].name,
			                 ms[i].why[0] ? ms[i].why : "its run failed");
			goto out;
		}
	if (isnan(lp->total_s) || isnan(th->total_s)) {
		rc = lab_verdict(L, 0, "threads answered %d of %d clients, loop %d of %d: not "
		                 "observed: %s did not answer every client", th->answered, n,
		                 lp->answered, n, isnan(th->total_s) ? "threads" : "loop");
		goto out;
	}
	/* A capped iterative run is at least as long as its cap. */
	double it_total = isnan(it->total_s) ? it->run_s : it->total_s;
	double d = delay_ms / 1000.0;
	int seen = lp->total_s < 2.5 * d && it_total > 10 * lp->total_s &&
	           th->total_s < 5 * d && th->threads_peak >= 0.9 * n &&
	           lp->threads_peak < 0.1 * n;
	/* Not observed: say which figure failed which condition. */
	char why[256] = "";
	if (!(lp->total_s < 2.5 * d))
		snprintf(why, sizeof why, "loop's %.3f s was not under 2.5 times the delay",
		         lp->total_s);
	else if (!(it_total > 10 * lp->total_s))
		snprintf(why, sizeof why, "iterative's %.2f s was not over 10 times loop's",
		         it_total);
	else if (!(th->total_s < 5 * d))
		snprintf(why, sizeof why, "threads' %.3f s was not under 5 times the delay",
		         th->total_s);
	else if (!(th->threads_peak >= 0.9 * n))
		snprintf(why, sizeof why, "threads peaked at %ld threads, under 90%% of the "
		         "%d clients", th->threads_peak, n);
	else if (!(lp->threads_peak < 0.1 * n))
		snprintf(why, sizeof why, "loop peaked at %ld threads, not under 10%% of the "
		         "%d clients", lp->threads_peak, n);
	char itxt[256];
	if (isnan(it->total_s))
		snprintf(itxt, sizeof itxt, "the iterative server answered %d of %d in its %.0f s "
		         "(one every %.2f s: all would take about %.0f s)", it->answered, n,
		         it->run_s, it->answered ? it->run_s / it->answered : NAN,
		         it->answered ? it->run_s / it->answered * n : NAN);
	else
		snprintf(itxt, sizeof itxt, "the iterative server needed %.2f s for all %d",
		         it->total_s, n);
	rc = lab_verdict(L, seen,
	                 "%d clients each asking for a %d ms wait: %s; threads answered all in "
	                 "%.3f s with %ld threads at the peak (VmRSS %s KiB), the event loop "
	                 "in %.3f s with %ld (VmRSS %s KiB): %s%s",
	                 n, delay_ms, itxt, th->total_s, th->threads_peak,
	                 kib_cell((char[32]){0}, 32, th->rss_peak),
	                 lp->total_s, lp->threads_peak,
	                 kib_cell((char[32]){0}, 32, lp->rss_peak),
	                 seen ? "a sleeping handler holds up an iterative server for "
	                        "everyone; a thread per request hides the wait at a thread "
	                        "each; an event loop keeps every wait as a timer on one thread"
	                      : "not observed: ", why);
out:
	for (int i = 0; i < NMODELS; i++)
		free(ms[i].done);
	return rc;
}

const struct lesson lab_lesson_async = {
	"async",
	"What does a slow handler cost an iterative server, a thread per request and an "
	"event loop with timers?",
	run, 1
};
