/* blocking.c: the lesson "blocking": an iterative server (blocking accept
 * and recv) serves one client at a time, so one slow client holds up all
 * the others; a thread or a process per connection fixes that at the price
 * of a thread or process per connection, which the event loop does not pay. */
#include "toolconfig.h"
#include "lab.h"
#include "common.h"
#include "pollux.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define NMODELS 4
static const char *const models[NMODELS] = { "iterative", "threads", "fork", "loop" };

struct res {
	const char *name;
	char why[256];		/* not measured: why */
	/* the burst */
	int burst_ok;
	int answered, failed;
	double *first_ms;	/* the prompt clients' waits, sorted (for --plot) */
	int nfirst;
	double first_p50_ms, first_max_ms, slow_ms, rps;
	/* the idle connections */
	int idle_ok;
	int connected, pending;
	long held;
	struct lab_weight w0, w;
	double kib_per_conn;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void burst(struct lab *L, struct res *m, int n, int lead_ms, char *backend,
                  size_t blen)
{
	int port;
	struct proc *srv = lab_model_server(L, m->name, NULL, &port, m->why, sizeof m->why);
	if (!srv)
		return;
	/* What the loop really runs on (-b, or the library's choice). */
	if (strcmp(m->name, "loop") == 0)
		lab_server_backend(port, backend, blen);
	lab_progress(L, "%s: %d clients, the first one slow", m->name, n);
	struct lab_clients_opts o = { .port = port, .n = n, .path = "/",
	                              .timeout_s = 10 + lead_ms / 1000.0,
	                              .lead_ms = lead_ms };
	struct lab_clients r;
	if (lab_clients_run(L, &o, &r) < 0) {
		lab_clients_free(&r);
		lab_stop_proc(L, srv, SIGTERM, 2000);
		return;
	}
	m->answered = r.answered;
	m->failed = r.failed + r.unfinished;
	m->first_ms = malloc((size_t)n * sizeof *m->first_ms);
	double last = NAN;
	int prompt = 0;
	for (int i = 0; i < n; i++) {
		const struct lab_client *c = &r.c[i];
		if (i > 0 && !isnan(c->t_done) && c->status >= 200 && c->status < 300) {
			prompt++;
			if (isnan(last) || c->t_done > last)
				last = c->t_done;
		}
		if (i == 0) {
			m->slow_ms = (c->t_first - c->t_connect) * 1000;
			continue;
		}
		if (m->first_ms && !isnan(c->t_first))
			m->first_ms[m->nfirst++] = (c->t_first - c->t_connect) * 1000;
	}
	if (m->nfirst > 0) {
		qsort(m->first_ms, (size_t)m->nfirst, sizeof *m->first_ms, cmp_double);
		m->first_p50_ms = m->first_ms[m->nfirst / 2];
		m->first_max_ms = m->first_ms[m->nfirst - 1];
	}
	/* An unanswered client makes the longest wait unknown, not shorter. */
	if (m->nfirst < n - 1)
		m->first_max_ms = NAN;
	/* The prompt clients' answers per second: the slow one's own pause is
	 * not the server's work. */
	m->rps = prompt > 0 && last > r.t_burst ? prompt / (last - r.t_burst) : NAN;
	m->burst_ok = 1;
	lab_clients_free(&r);
	lab_stop_proc(L, srv, SIGTERM, 3000);
}

/* Connections the server holds: a forking server hands each to a child,
 * the others keep its descriptor. */
static long held_now(const struct res *m, pid_t pid, const struct lab_weight *w0)
{
	if (strcmp(m->name, "fork") == 0) {
		long k = lab_children(pid, NULL);
		return k < 0 ? -1 : k - (w0->processes - 1);
	}
	long f = lab_fds(pid);
	return f < 0 ? -1 : f - w0->fds;
}

static void idle(struct lab *L, struct res *m, int k, double timeout_s)
{
	int port;
	/* A forking server keeps a statistics slot per child, 4,096 unless
	 * --max-conns says more. */
	char mc[32];
	snprintf(mc, sizeof mc, "%d", k + 1000);
	const char *const extra[] = { "--max-conns", mc, NULL };
	struct proc *srv = lab_model_server(L, m->name, extra, &port, m->why, sizeof m->why);
	if (!srv)
		return;
	if (lab_sleep_ms(200) < 0)
		return;
	lab_weigh(srv->pid, &m->w0);
	char nb[32];
	lab_progress(L, "%s: opening %s idle connections", m->name,
	             lab_commas(nb, sizeof nb, (unsigned long long)k));
	struct lab_idle h;
	if (lab_idle_open(L, &h, port, k, timeout_s, 1.5) < 0) {
		lab_idle_close(&h);
		return;
	}
	m->connected = h.connected;
	m->pending = h.pending;
	/* The server takes them from its accept queue at its own pace: wait
	 * until it holds all, or has taken none for a second. */
	double t0 = lab_now_s(), grew = t0;
	long held = held_now(m, srv->pid, &m->w0), prev = held;
	while (!lab_stopped() && held < h.connected && lab_now_s() - t0 < timeout_s &&
	       lab_now_s() - grew < 1.0) {
		if (lab_sleep_ms(100) < 0)
			break;
		held = held_now(m, srv->pid, &m->w0);
		if (held != prev)
			grew = lab_now_s();
		prev = held;
		lab_progress(L, "%s: the server holds %ld of %d connections", m->name, held,
		             h.connected);
	}
	if (!lab_stopped()) {
		/* The memory of thousands of new threads or processes takes a
		 * moment to be counted: weigh when the count is in. */
		(void)lab_sleep_ms(200);
		m->held = held_now(m, srv->pid, &m->w0);
		lab_weigh(srv->pid, &m->w);
		/* Over a few connections the noise of a PSS reading (a few KiB)
		 * would pass for their cost: weigh a hundred or more. */
		m->kib_per_conn = m->held >= 100 && !isnan(m->w.kib) && !isnan(m->w0.kib)
		                  ? (m->w.kib - m->w0.kib) / (double)m->held : NAN;
		m->idle_ok = !isnan(m->w.kib);
		if (!m->idle_ok)
			snprintf(m->why, sizeof m->why, "the server's memory could not be read "
			         "from /proc");
	}
	lab_idle_close(&h);
	lab_stop_proc(L, srv, SIGTERM, 5000);
}

static void plot(struct lab *L, struct res *ms)
{
	char *script = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&script, &len);
	if (!f)
		return;
	for (int i = 0; i < NMODELS; i++) {
		fprintf(f, "$%s << EOD\n", ms[i].name);
		for (int j = 0; j < ms[i].nfirst; j++)
			fprintf(f, "%d %.4f\n", j + 1, ms[i].first_ms[j]);
		fputs("EOD\n", f);
	}
	fputs("set xlabel 'clients, sorted by their wait'\n"
	      "set ylabel 'connect to first byte of the answer (ms)'\n"
	      "set logscale y\nset key top left\nplot ", f);
	int first = 1;
	for (int i = 0; i < NMODELS; i++) {
		if (ms[i].nfirst == 0)
			continue;
		fprintf(f, "%s$%s using 1:2 with lines lt %d title '%s'", first ? "" : ", ",
		        ms[i].name, i + 1, ms[i].name);
		first = 0;
	}
	if (first)
		fputs("NaN notitle", f);
	fputc('\n', f);
	fclose(f);
	(void)lab_plot(L, "each client's wait for its answer, one slow client first", script);
	free(script);
}

static void fmt_long(char *buf, size_t n, long v)
{
	if (v < 0)
		snprintf(buf, n, "-");
	else
		lab_commas(buf, n, (unsigned long long)v);
}

/* "14.4 KiB", or why there is no figure. */
static const char *kib_text(char *buf, size_t n, const struct res *m)
{
	if (!isnan(m->kib_per_conn))
		snprintf(buf, n, "%.1f KiB", m->kib_per_conn);
	else
		snprintf(buf, n, "unweighed (it held %ld connections, fewer than 100)", m->held);
	return buf;
}

/* Every model's keys, null where not measured (also when stopped). */
static void write_meas(struct lab *L, const struct res *ms)
{
	jw_open(&L->meas, "models");
	for (int i = 0; i < NMODELS; i++) {
		const struct res *m = &ms[i];
		jw_open(&L->meas, m->name);
		if (m->burst_ok) {
			jw_int(&L->meas, "answered", m->answered);
			jw_int(&L->meas, "failed", m->failed);
		} else {
			jw_null(&L->meas, "answered");
			jw_null(&L->meas, "failed");
		}
		jw_num(&L->meas, "first_reply_ms_p50", m->first_p50_ms);
		jw_num(&L->meas, "first_reply_ms_max", m->first_max_ms);
		jw_num(&L->meas, "slow_client_ms", m->slow_ms);
		jw_num(&L->meas, "rps", m->rps);
		if (m->idle_ok) {
			jw_int(&L->meas, "idle_connected", m->connected);
			jw_int(&L->meas, "idle_pending", m->pending);
			jw_int(&L->meas, "idle_held", m->held);
		} else {
			jw_null(&L->meas, "idle_connected");
			jw_null(&L->meas, "idle_pending");
			jw_null(&L->meas, "idle_held");
		}
		jw_num(&L->meas, "rss_kib_0", m->idle_ok ? m->w0.kib : NAN);
		jw_num(&L->meas, "rss_kib", m->idle_ok ? m->w.kib : NAN);
		jw_num(&L->meas, "kib_per_conn", m->kib_per_conn);
		jw_num(&L->meas, "threads", m->idle_ok && m->w.threads >= 0 ?
		       (double)m->w.threads : NAN);
		jw_num(&L->meas, "processes", m->idle_ok && m->w.processes >= 0 ?
		       (double)m->w.processes : NAN);
		if (m->why[0])
			jw_str(&L->meas, "not_measured", m->why);
		jw_close(&L->meas);
	}
	jw_close(&L->meas);
}

static int run(struct lab *L)
{
	int n = 100;
	int k = L->o->quick ? 1000 : 5000;
	int lead_ms = L->o->quick ? 200 : 500;
	double timeout_s = L->o->quick ? 5 : 15;
	char kb[32];
	jw_int(&L->settings, "clients", n);
	jw_int(&L->settings, "slow_client_ms", lead_ms);
	jw_str(&L->settings, "path", "/");
	jw_int(&L->settings, "idle_connections", k);
	/* Nothing here runs for a time: a burst ends when it is answered. */
	lab_no_timed_phase(L);
	/* The lab's own clients are the instrument: they keep the library's
	 * default poller whatever -b says, so that a capped select cannot
	 * make them fail before the server does. */
	lab_clients_backend(L);
	jw_str(&L->settings, "memory", "pss");
	lab_setup_models(L, "iterative, threads, fork and loop");
	lab_setup(L, "%d clients connect at once, each asks GET / once (Connection: close); "
	          "the first connects before the others and sends its request only %d ms "
	          "later (a slow client)", n, lead_ms);
	lab_setup(L, "then a fresh server gets %s idle connections: its memory (PSS, its "
	          "children's included), threads and processes before and after",
	          lab_commas(kb, sizeof kb, (unsigned long long)k));

	struct res ms[NMODELS];
	memset(ms, 0, sizeof ms);
	char backend[32] = "";
	for (int i = 0; i < NMODELS; i++) {
		struct res *m = &ms[i];
		m->name = models[i];
		m->first_p50_ms = m->first_max_ms = m->slow_ms = m->rps = NAN;
		m->kib_per_conn = NAN;
		m->w0.kib = m->w.kib = NAN;
		m->w0.threads = m->w.threads = m->w0.processes = m->w.processes = -1;
		m->held = -1;
		if (lab_stopped())
			continue;	/* its keys are written all the same, null */
		burst(L, m, n, lead_ms, backend, sizeof backend);
		if (m->burst_ok && !lab_stopped())
			idle(L, m, k, timeout_s);
	}
	jw_str(&L->settings, "backend", backend[0] ? backend : NULL);
	int rc = LAB_NOT_OBSERVED;
	write_meas(L, ms);
	if (lab_stopped())
		goto out;

	lab_printf(L, "\n%-10s %9s %13s %13s %12s %9s\n", "model", "answered",
	           "wait p50 ms", "wait max ms", "slow one ms", "req/s");
	for (int i = 0; i < NMODELS; i++) {
		struct res *m = &ms[i];
		char a[32], p50[32], mx[32], sl[32], rps[32];
		if (m->burst_ok)
			snprintf(a, sizeof a, "%d/%d", m->answered, n);
		else
			snprintf(a, sizeof a, "-");
		lab_fmt(p50, sizeof p50, m->first_p50_ms, 1);
		lab_fmt(mx, sizeof mx, m->first_max_ms, 1);
		lab_fmt(sl, sizeof sl, m->slow_ms, 1);
		lab_fmt(rps, sizeof rps, m->rps, 0);
		lab_printf(L, "%-10s %9s %13s %13s %12s %9s\n", m->name, a, p50, mx, sl, rps);
	}
	/* At most 72 columns: pollux-labs(7) quotes the table, indented. */
	lab_printf(L, "\n%-9s %9s %6s %7s %6s %10s %10s %8s\n", "model", "connected", "held",
	           "threads", "procs", "KiB before", "KiB after", "KiB/conn");
	for (int i = 0; i < NMODELS; i++) {
		struct res *m = &ms[i];
		char c[32], h[32], t[32], p[32], k0[32], k1[32], per[32];
		if (m->idle_ok) {
			lab_commas(c, sizeof c, (unsigned long long)m->connected);
		} else
			snprintf(c, sizeof c, "-");
		fmt_long(h, sizeof h, m->idle_ok ? m->held : -1);
		fmt_long(t, sizeof t, m->idle_ok ? m->w.threads : -1);
		fmt_long(p, sizeof p, m->idle_ok ? m->w.processes : -1);
		fmt_long(k0, sizeof k0, m->idle_ok ? (long)m->w0.kib : -1);
		fmt_long(k1, sizeof k1, m->idle_ok ? (long)m->w.kib : -1);
		lab_fmt(per, sizeof per, m->kib_per_conn, 1);
		lab_printf(L, "%-9s %9s %6s %7s %6s %10s %10s %8s\n", m->name, c, h, t, p, k0,
		           k1, per);
	}
	lab_printf(L, "\nwait        from a client's connect to the first byte of its answer,\n"
	           "            over the %d prompt clients\n"
	           "slow one    the slow client's own wait, its %d ms pause included\n"
	           "req/s       the prompt clients' answers / time from their connect to the\n"
	           "            last of them\n"
	           "held        idle connections the server holds (a descriptor or a child each)\n"
	           "procs       the server and its children\n"
	           "KiB         PSS of the server and its children, the touched pages of\n"
	           "            their thread stacks included; the kernel's own memory per\n"
	           "            thread or process (its kernel stack, page tables) and the\n"
	           "            socket buffers come on top\n\n",
	           n - 1, lead_ms);

	plot(L, ms);

	struct res *it = &ms[0], *th = &ms[1], *fk = &ms[2], *lp = &ms[3];
	for (int i = 0; i < NMODELS; i++)
		if (!ms[i].burst_ok || !ms[i].idle_ok) {
			rc = lab_verdict(L, 0, "%s was not measured: %s", ms[i].name,
			                 ms[i].why[0] ? ms[i].why : "its run failed");
			goto out;
		}
	int slow_seen = it->first_max_ms > 3 * lp->first_max_ms &&
	                it->first_max_ms > 3 * th->first_max_ms;
	int mem_seen = th->kib_per_conn > lp->kib_per_conn &&
	               fk->kib_per_conn > lp->kib_per_conn;
	int all = it->answered == n && th->answered == n && fk->answered == n &&
	          lp->answered == n;
	char itq[256], q1[32], q2[32], q3[32], tail[96] = "", k1[96], k2[96], k3[96];
	long queued = it->connected - (it->held > 0 ? it->held : 0);
	if (it->pending > 0)
		snprintf(tail, sizeof tail, " and %s never finished their handshake",
		         lab_commas(q3, sizeof q3, (unsigned long long)it->pending));
	snprintf(itq, sizeof itq, "iterative holds %ld of %s on %ld thread, too few to weigh; "
	         "%s more wait in the kernel's accept queue%s", it->held,
	         lab_commas(q1, sizeof q1, (unsigned long long)k), it->w.threads,
	         lab_commas(q2, sizeof q2, (unsigned long long)(queued > 0 ? queued : 0)), tail);
	/* A model that took fewer idle connections than offered (a select
	 * capped at FD_SETSIZE, a limit that bound) is weighed on what it
	 * held: say so, so that nobody reads its figure as one for all K. */
	char fewer[256] = "";
	for (int i = 1; i < NMODELS; i++) {
		const struct res *m = &ms[i];
		size_t used = strlen(fewer);
		if (m->idle_ok && m->held >= 0 && m->held < (long)k && used < sizeof fewer - 64)
			snprintf(fewer + used, sizeof fewer - used, "; %s held only %s of %s",
			         m->name, lab_commas(q1, sizeof q1, (unsigned long long)m->held),
			         lab_commas(q2, sizeof q2, (unsigned long long)k));
	}
	/* Not observed: say which figure failed which condition. */
	char concl[512];
	const struct res *short_m = NULL;
	for (int i = 0; i < NMODELS && !short_m; i++)
		if (ms[i].answered != n)
			short_m = &ms[i];
	if (short_m)
		snprintf(concl, sizeof concl, "not observed: %s answered %d of %d clients",
		         short_m->name, short_m->answered, n);
	else if (!slow_seen)
		snprintf(concl, sizeof concl, "not observed: the last iterative client's wait "
		         "(%.0f ms) was not over 3 times both threads' (%.1f ms) and loop's "
		         "(%.1f ms)", it->first_max_ms, th->first_max_ms, lp->first_max_ms);
	else if (!mem_seen)
		snprintf(concl, sizeof concl, "not observed: an idle connection did not cost "
		         "both threads and fork more PSS than loop (%s, %s against %s)",
		         kib_text(k1, sizeof k1, th), kib_text(k2, sizeof k2, fk),
		         kib_text(k3, sizeof k3, lp));
	else
		snprintf(concl, sizeof concl, "blocking serves one client at a time; a thread "
		         "or a process per client fixes that at a price per connection the "
		         "event loop does not pay");
	rc = lab_verdict(L, slow_seen && mem_seen && all,
	    "behind one slow client the last iterative client waited %.0f ms for its "
	    "answer, threads %.1f ms, fork %.1f ms, loop %.1f ms; one idle connection "
	    "costs threads %s, fork %s, loop %s of server PSS (the kernel's share not "
	    "counted); %s%s: %s",
	    it->first_max_ms, th->first_max_ms, fk->first_max_ms, lp->first_max_ms,
	    kib_text(k1, sizeof k1, th), kib_text(k2, sizeof k2, fk),
	    kib_text(k3, sizeof k3, lp), itq, fewer, concl);
out:
	for (int j = 0; j < NMODELS; j++)
		free(ms[j].first_ms);
	return rc;
}

const struct lesson lab_lesson_blocking = {
	"blocking",
	"Why does a blocking server serve one client at a time, and what does a thread "
	"or a process per client cost?",
	run, 1
};
