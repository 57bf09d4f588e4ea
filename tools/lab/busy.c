/* busy.c: the lesson "busy": a server of non-blocking sockets that asks
 * every socket in turn, with no poller to sleep in, serves everyone but
 * burns a core while nothing happens; the event loop sleeps in the kernel. */
#include "toolconfig.h"
#include "lab.h"
#include "common.h"
#include "pollux.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define NMODELS 2
static const char *const models[NMODELS] = { "busy", "loop" };

struct res {
	const char *name;
	char backend[32];	/* loop's, from its /stats */
	char why[256];
	int held;
	double idle_pct, loaded_pct;
	double idle_s, loaded_s;
	double requests, rps, errors;
};

/* Percent of one core the server used from cpu0 at t0 to now. */
static double pct_since(pid_t pid, double cpu0, double t0, double *wall)
{
	double cpu1 = lab_cpu_s(pid), t1 = lab_now_s();
	*wall = t1 - t0;
	return isnan(cpu0) || isnan(cpu1) || t1 <= t0 ? NAN : 100 * (cpu1 - cpu0) / (t1 - t0);
}

static void measure(struct lab *L, struct res *m, int idle_n, double secs, int rate)
{
	int port;
	struct proc *srv = lab_model_server(L, m->name, NULL, &port, m->why, sizeof m->why);
	if (!srv)
		return;
	long fds0 = lab_fds(srv->pid);
	struct lab_idle h;
	if (lab_idle_open(L, &h, port, idle_n, 5, 1.0) < 0) {
		lab_idle_close(&h);
		return;
	}
	/* Wait (bounded) until the server holds them: idle means idle with
	 * them all registered, or all in its list. */
	double t = lab_now_s();
	long f;
	while (!lab_stopped() && (f = lab_fds(srv->pid)) >= 0 && f - fds0 < h.connected &&
	       lab_now_s() - t < 3)
		(void)lab_sleep_ms(20);
	m->held = (int)(lab_fds(srv->pid) - fds0);
	if (lab_sleep_ms(200) < 0)
		goto out;

	lab_progress(L, "%s: %d idle connections for %.3g s", m->name, idle_n, secs);
	double cpu0 = lab_cpu_s(srv->pid), t0 = lab_now_s();
	if (lab_sleep_ms((int)(secs * 1000)) < 0)
		goto out;
	m->idle_pct = pct_since(srv->pid, cpu0, t0, &m->idle_s);

	const char *load = lab_tool(L, "pollux-load");
	if (!load) {
		snprintf(m->why, sizeof m->why, "pollux-load was not found beside pollux-lab "
		         "or in PATH, so the loaded figure is missing");
		goto out;
	}
	char target[64], rs[32], ds[32];
	snprintf(target, sizeof target, "http://127.0.0.1:%d/", port);
	snprintf(rs, sizeof rs, "%d", rate);
	snprintf(ds, sizeof ds, "%.3f", secs);
	const char *argv[] = { load, "-c", "10", "-R", rs, "-d", ds, "--timeout", "5",
	                       "-q", "--json", "-", target, NULL };
	lab_progress(L, "%s: %d req/s for %.3g s", m->name, rate, secs);
	cpu0 = lab_cpu_s(srv->pid);
	t0 = lab_now_s();
	struct proc *p = lab_spawn(L, argv);
	if (!p) {
		snprintf(m->why, sizeof m->why, "cannot run pollux-load: %s", strerror(errno));
		goto out;
	}
	while (!p->exited && lab_now_s() - t0 < secs + 15)
		if (lab_pump(p, 200) < 0)
			goto out;
	m->loaded_pct = pct_since(srv->pid, cpu0, t0, &m->loaded_s);
	if (!p->exited) {
		lab_stop_proc(L, p, SIGTERM, 1000);
		snprintf(m->why, sizeof m->why, "pollux-load did not finish in time");
		m->loaded_pct = NAN;
		goto out;
	}
	char err[128];
	struct json *j = p->out ? json_parse(p->out, err, sizeof err) : NULL;
	if (!j || !WIFEXITED(p->status)) {
		char st[64];
		proc_describe_status(p, st, sizeof st);
		snprintf(m->why, sizeof m->why, "pollux-load gave no result (%s)", st);
		m->loaded_pct = NAN;
	} else {
		m->requests = json_num(j, "requests");
		m->rps = json_num(j, "rps");
		m->errors = json_sum(j, "errors");
	}
	json_free(j);
out:
	lab_idle_close(&h);
	/* Asked last: its /stats connection would count as a held one. */
	if (strcmp(m->name, "loop") == 0 && !lab_stopped())
		lab_server_backend(port, m->backend, sizeof m->backend);
	lab_stop_proc(L, srv, SIGTERM, 3000);
}

static int run(struct lab *L)
{
	int idle_n = 100, rate = 100;
	double secs = lab_seconds(L, 2, 5);
	jw_int(&L->settings, "idle_connections", idle_n);
	/* --seconds: the length of each phase, idle and loaded. */
	jw_num(&L->settings, "seconds", secs);
	jw_int(&L->settings, "rate", rate);
	/* pollux-load keeps the default poller (the idle connections wait in
	 * poll(2)): -b is the loop server's alone. */
	lab_clients_backend(L);
	lab_setup_models(L, "busy and loop");
	lab_setup(L, "%d idle connections for %.3g s, then pollux-load sends %d req/s over 10 "
	          "more connections for %.3g s; the server's CPU time (user + system) over "
	          "each phase", idle_n, secs, rate, secs);

	struct res ms[NMODELS];
	memset(ms, 0, sizeof ms);
	for (int i = 0; i < NMODELS; i++) {
		ms[i].name = models[i];
		ms[i].idle_pct = ms[i].loaded_pct = ms[i].requests = ms[i].rps = NAN;
		ms[i].errors = NAN;
		ms[i].held = -1;
		if (!lab_stopped())
			measure(L, &ms[i], idle_n, secs, rate);
	}
	jw_str(&L->settings, "backend", ms[1].backend[0] ? ms[1].backend : NULL);
	/* Written also when stopped: every key, null where not measured. */
	for (int i = 0; i < NMODELS; i++) {
		const struct res *m = &ms[i];
		jw_open(&L->meas, m->name);
		jw_num(&L->meas, "cpu_pct_idle", m->idle_pct);
		jw_num(&L->meas, "cpu_pct_loaded", m->loaded_pct);
		jw_num(&L->meas, "idle_held", m->held >= 0 ? m->held : NAN);
		jw_num(&L->meas, "requests", m->requests);
		jw_num(&L->meas, "rps", m->rps);
		jw_num(&L->meas, "errors", m->errors);
		if (m->why[0])
			jw_str(&L->meas, "not_measured", m->why);
		jw_close(&L->meas);
	}
	if (lab_stopped())
		return LAB_NOT_OBSERVED;

	lab_printf(L, "\n%-6s %6s %12s %14s %10s %8s\n", "model", "held", "CPU idle %",
	           "CPU loaded %", "answers", "errors");
	for (int i = 0; i < NMODELS; i++) {
		const struct res *m = &ms[i];
		char h[16], a[32], b[32], r[32], e[32];
		lab_fmt(h, sizeof h, m->held >= 0 ? m->held : NAN, 0);
		lab_fmt(a, sizeof a, m->idle_pct, 1);
		lab_fmt(b, sizeof b, m->loaded_pct, 1);
		lab_fmt(r, sizeof r, m->requests, 0);
		lab_fmt(e, sizeof e, m->errors, 0);
		lab_printf(L, "%-6s %6s %12s %14s %10s %8s\n", m->name, h, a, b, r, e);
	}
	lab_printf(L, "\nCPU %%       the server's user + system time over the phase, in\n"
	           "            percent of one core (100 = a whole core)\n"
	           "answers     of pollux-load's steady requests, in the loaded phase\n\n");

	const struct res *b = &ms[0], *l = &ms[1];
	for (int i = 0; i < NMODELS; i++)
		if (isnan(ms[i].idle_pct) || isnan(ms[i].loaded_pct))
			return lab_verdict(L, 0, "%s was not measured: %s", ms[i].name,
			                   ms[i].why[0] ? ms[i].why : "its CPU time could not be read");
	/* The lesson is about idle CPU: a loaded phase with errors or missing
	 * answers leaves it observed, but the verdict says so. */
	long expected = (long)(rate * secs);
	char load[256] = "";
	for (int i = 0; i < NMODELS; i++) {
		const struct res *m = &ms[i];
		size_t o = strlen(load);
		if (m->errors > 0 || isnan(m->requests) || m->requests < expected)
			snprintf(load + o, sizeof load - o, "; under load %s answered %.0f of %ld "
			         "requests with %.0f errors", m->name, m->requests, expected,
			         m->errors);
	}
	int seen = b->idle_pct > 50 && l->idle_pct < 5;
	char why[192] = "";
	if (!seen)
		snprintf(why, sizeof why, "not observed: %s",
		         b->idle_pct <= 50 ? "the busy server's idle CPU was not above 50%"
		                           : "the event loop's idle CPU was not below 5%");
	return lab_verdict(L, seen,
	                   "with %d idle connections the busy server used %.0f%% of a core "
	                   "and the event loop %.1f%%; at %d req/s, %.0f%% and %.1f%%%s: %s",
	                   idle_n, b->idle_pct, l->idle_pct, rate, b->loaded_pct, l->loaded_pct,
	                   load,
	                   seen ? "asking every socket in turn never sleeps, so it burns a "
	                          "core whether or not anyone talks; a poller sleeps in the "
	                          "kernel until a socket is ready"
	                        : why);
}

const struct lesson lab_lesson_busy = {
	"busy",
	"What does a server that polls its non-blocking sockets in a loop cost while "
	"nobody talks to it?",
	run, 0
};
