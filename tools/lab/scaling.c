/* scaling.c: the lesson "scaling", select and poll pay for every descriptor
 * they hold and epoll only for the ready ones, measured by the sweep of
 * pollux-scale; and lab_sweep, which other lessons use for the same fit. */
#include "toolconfig.h"
#include "lab.h"
#include "common.h"
#include "pollux.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Runs pollux-scale over backends (NULL: every built one) and fds, and
 * reads its JSON into *r. 0, or -1 after a message on stderr. */
int lab_sweep(struct lab *L, const char *backend, const char *fds,
              double seconds, struct lab_sweep *r)
{
	memset(r, 0, sizeof *r);
	const char *scale = lab_tool(L, "pollux-scale");
	const char *dir = lab_tmpdir(L);
	if (!scale) {
		fprintf(stderr, LAB_NAME ": cannot find pollux-scale beside pollux-lab or in PATH\n");
		return -1;
	}
	if (!dir)
		return -1;
	char json[600], dur[32], warm[32];
	snprintf(json, sizeof json, "%s/sweep.json", dir);
	snprintf(dur, sizeof dur, "%.3g", seconds);
	snprintf(warm, sizeof warm, "%.3g", seconds / 2 < 0.3 ? 0.3 : seconds / 2);
	const char *argv[24];
	int n = 0;
	argv[n++] = scale;
	argv[n++] = "--no-progress";
	argv[n++] = "--fds";
	argv[n++] = fds;
	argv[n++] = "-d";
	argv[n++] = dur;
	argv[n++] = "-w";
	argv[n++] = warm;
	argv[n++] = "--json";
	argv[n++] = json;
	if (backend) {
		argv[n++] = "-b";
		argv[n++] = backend;
	}
	if (L->o->plot && strcmp(L->lesson->name, "scaling") == 0) {
		argv[n++] = "--plot";
		argv[n++] = L->o->plot;
	}
	argv[n] = NULL;
	struct proc *p = lab_spawn(L, argv);
	if (!p) {
		fprintf(stderr, LAB_NAME ": cannot run %s: %m\n", scale);
		return -1;
	}
	/* Bounded like every wait of the lab: each point gets its run, its
	 * warm-up and pollux-scale's own grace for starting and stopping. */
	int npoints = 1, nback = 0;
	for (const char *c = fds; *c; c++)
		npoints += *c == ',';
	for (const char *const *b = pollux_backends(); b && b[nback]; nback++)
		;
	double budget = 60 + (backend ? 1 : nback) * npoints * (seconds * 1.5 + 20);
	double t0 = lab_now_s();
	while (!p->exited) {
		if (lab_pump(p, 250) < 0)
			return -1;
		if (lab_now_s() - t0 > budget) {
			lab_stop_proc(L, p, SIGTERM, 3000);
			fprintf(stderr, LAB_NAME ": pollux-scale did not finish in %.0f s; stopped it\n",
			        budget);
			return -1;
		}
		lab_progress(L, "sweeping %s over %s descriptors", backend ? backend : "every backend",
		             fds);
	}
	if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) != 0) {
		char why[256], st[64];
		proc_last_error(p, why, sizeof why);
		proc_describe_status(p, st, sizeof st);
		fprintf(stderr, LAB_NAME ": pollux-scale failed (%s)%s%s\n", st, *why ? ": " : "", why);
		if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) != 1)
			return -1;
		/* 1: some point failed; the rest is still worth reading. */
	}
	FILE *f = fopen(json, "r");
	char *text = NULL;
	size_t len = 0;
	if (f) {
		text = malloc(1 << 20);
		if (text)
			len = fread(text, 1, (1 << 20) - 1, f);
		fclose(f);
	}
	if (!text) {
		fprintf(stderr, LAB_NAME ": pollux-scale wrote no JSON to %s\n", json);
		return -1;
	}
	text[len] = '\0';
	char err[128];
	struct json *j = json_parse(text, err, sizeof err);
	free(text);
	if (!j) {
		fprintf(stderr, LAB_NAME ": cannot read pollux-scale's JSON: %s\n", err);
		return -1;
	}
	const struct json *fit = json_get(j, "fit");
	for (const struct json *b = fit ? fit->child : NULL; b && r->nb < LAB_SWEEP_MAX; b = b->next) {
		snprintf(r->b[r->nb].name, sizeof r->b[r->nb].name, "%s", b->key);
		r->b[r->nb].ns_per_fd = json_num(b, "ns_per_fd_per_wait");
		r->b[r->nb].base_us = json_num(b, "base_us_per_wait");
		r->b[r->nb].r2 = json_num(b, "r2");
		r->nb++;
	}
	const struct json *pts = json_get(j, "points");
	for (const struct json *q = pts ? pts->child : NULL; q && r->np < LAB_SWEEP_POINTS; q = q->next) {
		const struct json *bn = json_get(q, "backend");
		if (!bn || bn->type != J_STR)
			continue;
		struct lab_sweep_point *sp = &r->p[r->np++];
		snprintf(sp->backend, sizeof sp->backend, "%s", bn->str);
		sp->fds = json_num(q, "fds");
		sp->rps = json_num(q, "rps");
		sp->us_per_wait = json_num(q, "us_per_wait");
		sp->failed = json_get(q, "error") != NULL;
	}
	json_free(j);
	return r->nb > 0 ? 0 : -1;
}

/* Does every backend the sweep will use take descriptors past FD_SETSIZE?
 * A select capped there (pollux_features without NOLIMIT) holds about
 * 1,000 connections at most. */
static int uncapped(const char *bk)
{
	const char *const *b = pollux_backends();
	for (int i = 0; b && b[i]; i++) {
		if (bk && strcmp(bk, b[i]) != 0)
			continue;
		pollux_t *p = pollux_new(b[i]);
		int ok = p && (pollux_features(p) & POLLUX_FEAT_NOLIMIT);
		if (p)
			pollux_free(p);
		if (!ok)
			return 0;
	}
	return 1;
}

/* Does backend name keep a ready list, so that a wait costs what is ready,
 * not what is held? The library says so with POLLUX_FEAT_O1. */
static int keeps_ready_list(const char *name)
{
	pollux_t *p = pollux_new(name);
	int yes = p && (pollux_features(p) & POLLUX_FEAT_O1);
	if (p)
		pollux_free(p);
	return yes;
}

static int run(struct lab *L)
{
	const char *bk = L->o->backend;
	/* --quick keeps to 15 s: three counts, short points. */
	int capped = !uncapped(bk);
	const char *fds = capped ? "0,300,900" :
	                  L->o->quick ? "0,1000,4000" : "0,1000,5000,10000";
	double secs = lab_seconds(L, 0.5, 1.5);
	jw_str(&L->settings, "fds", fds);
	jw_num(&L->settings, "seconds_per_point", secs);
	jw_str(&L->settings, "backend", bk ? bk : "all");
	lab_setup(L, "pollux-scale: pollux-server on each backend holds %s idle connections "
	          "while 50 busy ones send requests; %.3g s per point%s", fds, secs,
	          capped ? " (a backend here stops at FD_SETSIZE)" : "");

	struct lab_sweep r;
	if (lab_sweep(L, bk, fds, secs, &r) < 0)
		return LAB_NOT_OBSERVED;

	double maxfds = 0;
	char c1[32], c2[32], c3[32];
	lab_printf(L, "\n%-8s %8s %10s %10s\n", "backend", "fds", "req/s", "us/wait");
	for (int i = 0; i < r.np; i++) {
		lab_printf(L, "%-8s %8.0f %10s %10s%s\n", r.p[i].backend, r.p[i].fds,
		           lab_fmt(c1, sizeof c1, r.p[i].rps, 0),
		           lab_fmt(c2, sizeof c2, r.p[i].us_per_wait, 2),
		           r.p[i].failed ? "  (failed)" : "");
		if (!r.p[i].failed && r.p[i].fds > maxfds)
			maxfds = r.p[i].fds;
	}
	lab_printf(L, "\n%-8s %16s %6s\n", "backend", "ns/fd/wait", "r^2");
	for (int b = 0; b < r.nb; b++)
		lab_printf(L, "%-8s %16s %6s\n", r.b[b].name,
		           lab_fmt(c1, sizeof c1, r.b[b].ns_per_fd, 2),
		           lab_fmt(c3, sizeof c3, r.b[b].r2, 2));
	lab_printf(L, "\n");
	lab_wrap(L, "", "ns/fd/wait: the slope of a straight line through the server's "
	         "microseconds per wait against descriptors held; r^2: how well the "
	         "points lie on it (1 = exactly)");
	lab_printf(L, "\n");

	jw_open(&L->meas, "ns_per_fd_per_wait");
	for (int b = 0; b < r.nb; b++)
		jw_num(&L->meas, r.b[b].name, r.b[b].ns_per_fd);
	jw_close(&L->meas);
	jw_open(&L->meas, "r2");
	for (int b = 0; b < r.nb; b++)
		jw_num(&L->meas, r.b[b].name, r.b[b].r2);
	jw_close(&L->meas);
	jw_open(&L->meas, "rps");
	for (int b = 0; b < r.nb; b++) {
		jw_open(&L->meas, r.b[b].name);
		for (int i = 0; i < r.np; i++) {
			if (strcmp(r.p[i].backend, r.b[b].name) != 0)
				continue;
			char key[32];
			snprintf(key, sizeof key, "%.0f", r.p[i].fds);
			jw_num(&L->meas, key, r.p[i].failed ? NAN : r.p[i].rps);
		}
		jw_close(&L->meas);
	}
	jw_close(&L->meas);

	/* The effect: a scanning backend pays per descriptor held, one that
	 * keeps a ready list (epoll, uring, kqueue: POLLUX_FEAT_O1) does
	 * not. The steepest of each kind is compared, so that the verdict
	 * holds for every backend of the sweep. */
	const struct lab_sweep_backend *scan = NULL, *ready = NULL;
	for (int b = 0; b < r.nb; b++) {
		const struct lab_sweep_backend *x = &r.b[b];
		if (!isfinite(x->ns_per_fd))
			continue;
		const struct lab_sweep_backend **kind = keeps_ready_list(x->name) ?
		                                        &ready : &scan;
		if (!*kind || x->ns_per_fd > (*kind)->ns_per_fd)
			*kind = x;
	}
	if (!scan && !ready)
		return lab_verdict(L, 0, "no backend gave a fit: every point failed");
	/* A slope is a figure only when the points lie on a line: a sweep of
	 * very short points on a busy machine scatters, and its slope (even a
	 * negative one) says nothing. */
	char again[96];
	snprintf(again, sizeof again, "rerun with longer points (-d %.3gs now)", secs);
	if (scan && !(scan->r2 >= 0.8 && scan->ns_per_fd > 0))
		return lab_verdict(L, 0, "%s's points do not lie on a line (slope %.1f ns per "
		                   "descriptor, r^2 %.2f), so its cost per descriptor was not "
		                   "measured: a busy machine or points too short; %s",
		                   scan->name, scan->ns_per_fd, scan->r2, again);
	if (!ready)
		return lab_verdict(L, scan->ns_per_fd > 10,
		                   "%s costs %.1f ns per descriptor held per wait, about %.2f ms "
		                   "a wait at %s held (no backend with a ready list measured to "
		                   "compare: run without -b, on Linux)",
		                   scan->name, scan->ns_per_fd, scan->ns_per_fd * maxfds / 1e6,
		                   lab_commas(c1, sizeof c1, (unsigned long long)maxfds));
	if (!scan)
		return lab_verdict(L, fabs(ready->ns_per_fd) < 10,
		                   "%s costs %.2f ns per descriptor held per wait: its cost "
		                   "follows activity, not population (run without -b to compare "
		                   "select and poll)", ready->name, ready->ns_per_fd);
	int seen = scan->ns_per_fd > 10 && scan->ns_per_fd > 10 * fabs(ready->ns_per_fd);
	char why[256];
	snprintf(why, sizeof why, "scanning backends pay for every descriptor they "
	         "hold, %s only for the ready ones", ready->name);
	if (!seen)
		snprintf(why, sizeof why, "%s's slope is not ten times %s's and above 10 ns, as "
		         "the effect needs; %s", scan->name, ready->name, again);
	return lab_verdict(L, seen,
	                   "%s costs %.1f ns per idle descriptor per wait (about %.2f ms a "
	                   "wait at %s held), %s %.2f ns: %s",
	                   scan->name, scan->ns_per_fd, scan->ns_per_fd * maxfds / 1e6,
	                   lab_commas(c1, sizeof c1, (unsigned long long)maxfds),
	                   ready->name, ready->ns_per_fd, why);
}

const struct lesson lab_lesson_scaling = {
	"scaling",
	"How does each backend's cost per wait grow with the descriptors it holds?",
	run, 1
};
