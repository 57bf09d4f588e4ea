/* output.c: what pollux-scale prints and writes: the table, the fitted
 * cost, the text bar charts, CSV and JSON, and the machine description. */
#include "toolconfig.h"
#include "scale.h"
#include "cli.h"
#include "common.h"
#include "palette.h"
#include "meta.h"
#include "pollux.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#define BAR_W 40

static const char *name_of(const struct scale_opts *o, int b)
{
	return o->backends[b];
}

static const struct scale_point *find_point(const struct scale_point *pts,
                                            int n, const char *backend,
                                            unsigned long fds)
{
	for (int i = 0; i < n; i++)
		if (pts[i].fds == fds && strcmp(pts[i].backend, backend) == 0)
			return &pts[i];
	return NULL;
}

/* "-" for a figure that was not measured, never a made-up 0. */
static void num(char *buf, size_t n, double v, int decimals)
{
	if (!isfinite(v))
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.*f", decimals, v);
}

/* The ns/fd/wait column: CPU cost per descriptor since the row above. */
static double marginal(const struct scale_point *pts, int n,
                       const struct scale_point *p)
{
	return scale_marginal_ns(pts, n, p, SCALE_Y_CPU);
}

/* text as lines of at most width columns, broken at spaces; each '\n'
 * in it ends a paragraph. */
static void wrap(FILE *f, const char *text, int width)
{
	while (*text) {
		size_t para = strcspn(text, "\n");
		const char *p = text, *end = text + para;
		while (p < end) {
			const char *brk = NULL, *q = p;
			while (q < end && (q - p < width || !brk)) {
				if (*q == ' ')
					brk = q;
				q++;
			}
			if (q == end)
				brk = end;
			fprintf(f, "%.*s\n", (int)(brk - p), p);
			p = brk;
			while (p < end && *p == ' ')
				p++;
		}
		if (para == 0)
			fputc('\n', f);
		text = *end ? end + 1 : end;
	}
}

void scale_print_table(FILE *f, const struct scale_opts *o,
                       const struct scale_point *pts, int n)
{
	int rep = o->repeat > 1;
	fprintf(f, "%7s | %-8s %9s %8s %12s %11s%s %10s %7s\n", "fds", "backend",
	        "req/s", "p99_us", "wall_us/wait", "cpu_us/wait",
	        rep ? "  (min-max)       " : "", "ns/fd/wait", "ev/wait");
	int note = 0;
	for (int r = 0; r < o->nfds; r++) {
		int shown = 0;
		for (int b = 0; b < o->nbackends; b++) {
			const struct scale_point *p =
				find_point(pts, n, name_of(o, b), o->fds[r]);
			if (shown++)
				fprintf(f, "%7s | %-8s", "", name_of(o, b));
			else
				fprintf(f, "%7lu | %-8s", o->fds[r], name_of(o, b));
			if (!p) {
				fprintf(f, " not run\n");
				continue;
			}
			if (p->error[0]) {
				fprintf(f, " FAILED [%d]\n", ++note);
				continue;
			}
			char a[32], c[32], d[32], e[32], g[32], h[32], lo[32], hi[32];
			num(a, sizeof a, p->rps, 0);
			num(c, sizeof c, p->p99_us, 0);
			num(d, sizeof d, p->us_per_wait, 2);
			num(e, sizeof e, p->cpu_us_per_wait, 2);
			num(g, sizeof g, marginal(pts, n, p), 2);
			num(h, sizeof h, p->events_per_wait, 2);
			fprintf(f, " %9s %8s %12s %11s", a, c, d, e);
			if (rep) {
				char range[72];
				num(lo, sizeof lo, p->cpu_min, 2);
				num(hi, sizeof hi, p->cpu_max, 2);
				snprintf(range, sizeof range, "(%s-%s)", lo, hi);
				fprintf(f, "  %-17s", range);
			}
			/* A mark beside a figure that needs a note below. */
			int mark = p->errors || p->whole_run || p->runs_ok < p->runs;
			fprintf(f, " %10s %7s%s\n", g, h, mark ? " *" : "");
		}
	}

	note = 0;
	for (int r = 0; r < o->nfds; r++)
		for (int b = 0; b < o->nbackends; b++) {
			const struct scale_point *p =
				find_point(pts, n, name_of(o, b), o->fds[r]);
			if (p && p->error[0])
				fprintf(f, "[%d] %s fds=%lu failed: %s\n", ++note,
				        p->backend, p->fds, p->error);
		}
	for (int i = 0; i < n; i++) {
		const struct scale_point *p = &pts[i];
		if (p->error[0])
			continue;
		if (p->runs_ok < p->runs)
			fprintf(f, "*  %s fds=%lu: %d of %d runs failed; the figures "
			        "are of the other %d\n", p->backend, p->fds,
			        p->runs - p->runs_ok, p->runs, p->runs_ok);
		if (p->errors)
			fprintf(f, "*  %s fds=%lu: pollux-load counted %lu failed "
			        "requests or connections\n", p->backend, p->fds,
			        p->errors);
		if (p->whole_run)
			fprintf(f, "*  %s fds=%lu: server figures cover the whole "
			        "run (connections were slow to open)\n",
			        p->backend, p->fds);
	}
	if (rep)
		fprintf(f, "Medians of %d runs a point; (min-max): the smallest "
		        "and largest cpu_us/wait of them.\n", o->repeat);
}

void scale_print_fit(FILE *f, const struct scale_opts *o,
                     const struct scale_fit *fits)
{
	fputc('\n', f);
	wrap(f, "Cost per registered descriptor per pollux_wait of one poller: "
	     "least squares of the server's CPU time per wait against registered "
	     "fds per poller. The line's value at 0 fds is an extrapolation, not "
	     "a cost; below zero it says the cost bends up (read ns/fd/wait "
	     "above):", 78);
	for (int b = 0; b < o->nbackends; b++) {
		const struct scale_fit *ft = &fits[b];
		if (!isfinite(ft->ns_per_fd)) {
			fprintf(f, "  %-8s   (not enough points: needs two good "
			        "points at different fd counts)\n", name_of(o, b));
			continue;
		}
		fprintf(f, "  %-8s %8.2f ns/fd/wait   (%s; line at 0 fds %.2f us%s, "
		        "r^2 %.2f, %d points)\n", name_of(o, b), ft->ns_per_fd,
		        ft->y == SCALE_Y_CPU ? "CPU time" :
		        "wall time: no CPU figures", ft->intercept_us,
		        ft->intercept_us < 0 ? ", below zero: not a straight line" : "",
		        ft->r2, ft->n);
	}
}

static void bar(FILE *f, double v, double max)
{
	int len = 0;
	if (isfinite(v) && max > 0 && v > 0) {
		len = (int)lround(v / max * BAR_W);
		if (len < 1)
			len = 1;	/* something measured is never blank */
	}
	for (int i = 0; i < len; i++)
		fputc('#', f);
	fprintf(f, "%*s", BAR_W - len, "");
}

static void bar_chart(FILE *f, const struct scale_opts *o,
                      const struct scale_point *pts, int n,
                      const char *title, int which)
{
	double max = 0;
	for (int i = 0; i < n; i++) {
		double v = which ? pts[i].cpu_us_per_wait : pts[i].rps;
		if (!pts[i].error[0] && isfinite(v) && v > max)
			max = v;
	}
	fprintf(f, "\n%s\n", title);
	for (int r = 0; r < o->nfds; r++)
		for (int b = 0; b < o->nbackends; b++) {
			const struct scale_point *p =
				find_point(pts, n, name_of(o, b), o->fds[r]);
			if (!p)
				continue;
			if (b == 0)
				fprintf(f, "%7lu fds ", o->fds[r]);
			else
				fprintf(f, "%12s", "");
			fprintf(f, "%-7s |", p->backend);
			if (p->error[0]) {
				fprintf(f, "%-*s  failed\n", BAR_W, "");
				continue;
			}
			double v = which ? p->cpu_us_per_wait : p->rps;
			bar(f, v, max);
			char s[32];
			num(s, sizeof s, v, which ? 2 : 0);
			fprintf(f, "  %s\n", s);
		}
}

void scale_print_bars(FILE *f, const struct scale_opts *o,
                      const struct scale_point *pts, int n)
{
	bar_chart(f, o, pts, n, "Requests per second (longer is better):", 0);
	bar_chart(f, o, pts, n,
	          "Server CPU microseconds per pollux_wait call (shorter is better):",
	          1);
}

/* ---- files ---- */

FILE *scale_open_out(const char *opt, const char *path)
{
	return px_open_out(opt, path);
}

static int close_out(FILE *f, const char *path, const char *what)
{
	int bad = ferror(f);
	if (f == stdout)
		bad |= fflush(f) != 0;
	else
		bad |= fclose(f) != 0;
	if (bad) {
		fprintf(stderr, "pollux-scale: cannot write the %s to %s: %s; "
		        "check the path and free space\n", what, path,
		        strerror(errno));
		return -1;
	}
	return 0;
}

/* The figures of a point, in the order and with the names that CSV's
 * columns and JSON's point members share. */
struct field {
	const char *name;
	double v;
};

#define NFIELDS 28
static int point_fields(const struct scale_point *pts, int n,
                        const struct scale_point *p, struct field *fl)
{
	int k = 0;
#define F(nm, val) (fl[k].name = (nm), fl[k].v = (val), k++)
	F("active", (double)p->active);
	F("rps", p->rps);
	F("rps_min", p->rps_min);
	F("rps_max", p->rps_max);
	F("p50_us", p->p50_us);
	F("p99_us", p->p99_us);
	F("us_per_wait", p->us_per_wait);
	F("us_per_wait_min", p->us_min);
	F("us_per_wait_max", p->us_max);
	F("cpu_us_per_wait", p->cpu_us_per_wait);
	F("cpu_us_per_wait_min", p->cpu_min);
	F("cpu_us_per_wait_max", p->cpu_max);
	F("marginal_ns_per_fd", scale_marginal_ns(pts, n, p, SCALE_Y_CPU));
	F("cpu_s", p->cpu_s);
	F("events_per_wait", p->events_per_wait);
	F("errors", (double)p->errors);
	F("registered", p->registered);
	/* The fit's x: descriptors in one poller, with the server's pollers
	 * over its processes (null when not run). */
	F("server_processes", p->server_procs ? p->server_procs : NAN);
	F("load_processes", p->load_procs ? p->load_procs : NAN);
	F("sources", p->sources ? p->sources : NAN);
	F("pollers", p->pollers > 0 ? p->pollers : NAN);
	F("fds_per_poller", p->pollers > 0 ? p->fds_per_poller : NAN);
	F("waits", p->waits);
	F("window_s", p->window_s);
	F("runs", (double)p->runs);
	F("runs_ok", (double)p->runs_ok);
#undef F
	return k;
}

static void csv_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.10g", v);
}

int scale_write_csv(FILE *f, const char *path,
                    const struct scale_point *pts, int n)
{
	struct field fl[NFIELDS];
	struct scale_point none;
	memset(&none, 0, sizeof none);
	none.backend = "";
	int nf = point_fields(&none, 1, &none, fl);
	fputs("backend,fds", f);
	for (int k = 0; k < nf; k++)
		fprintf(f, ",%s", fl[k].name);
	fputs(",server_window,error\n", f);
	for (int i = 0; i < n; i++) {
		const struct scale_point *p = &pts[i];
		fprintf(f, "%s,%lu", p->backend, p->fds);
		point_fields(pts, n, p, fl);
		for (int k = 0; k < nf; k++) {
			fputc(',', f);
			csv_num(f, fl[k].v);
		}
		fputs(p->whole_run ? ",whole_run," : ",steady,", f);
		if (p->error[0]) {
			/* RFC 4180: quote, and double any quote inside. */
			fputc('"', f);
			for (const char *c = p->error; *c; c++) {
				if (*c == '"')
					fputc('"', f);
				fputc(*c == '\n' ? ' ' : *c, f);
			}
			fputc('"', f);
		}
		fputc('\n', f);
	}
	return close_out(f, path, "CSV");
}

static void json_num_out(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.10g", v);
	else
		fputs("null", f);
}

/* "model name" from /proc/cpuinfo where there is one. */
static void cpu_model(char *buf, size_t n)
{
	buf[0] = '\0';
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "model name", 10) != 0)
			continue;
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		colon++;
		while (*colon == ' ' || *colon == '\t')
			colon++;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, n, "%s", colon);
		break;
	}
	fclose(f);
}

/* Beside px_meta's machine: the CPU model and the descriptor limit, then
 * every setting that changes the figures. */
static void settings_json(FILE *f, const struct scale_opts *o)
{
	char cpu[256];
	cpu_model(cpu, sizeof cpu);
	struct rlimit rl;
	/* No limit, or none known: null, never -1. */
	double nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	                rl.rlim_cur != RLIM_INFINITY ? (double)rl.rlim_cur : NAN;
	fputs(",\n  \"system\": {\"cpu\": ", f);
	if (cpu[0])
		px_json_string(f, cpu);
	else
		fputs("null", f);
	fputs(", \"nofile_limit\": ", f);
	json_num_out(f, nofile);
	long hz = sysconf(_SC_CLK_TCK);
	fputs(", \"cpu_clock_tick_s\": ", f);
	json_num_out(f, hz > 0 ? 1.0 / (double)hz : NAN);
	fprintf(f, ", \"load_noisy\": %s},\n", o->load_noisy ? "true" : "false");
	fputs("  \"settings\": {\"backends\": [", f);
	for (int b = 0; b < o->nbackends; b++) {
		fputs(b ? ", " : "", f);
		px_json_string(f, o->backends[b]);
	}
	fputs("], \"fds\": [", f);
	for (int i = 0; i < o->nfds; i++)
		fprintf(f, "%s%lu", i ? ", " : "", o->fds[i]);
	fprintf(f, "], \"active\": %lu, \"duration_s\": ", o->active);
	json_num_out(f, o->duration);
	fputs(", \"warmup_s\": ", f);
	json_num_out(f, o->warmup);
	fprintf(f, ", \"repeat\": %d, \"quick\": %s, \"fds_per_process\": %lu, "
	        "\"select_poll_capped\": %s, \"load_backend\": ", o->repeat,
	        o->quick ? "true" : "false", o->fds_per_process,
	        o->fds_given ? "false" : "true");
	px_json_string(f, pollux_backends()[0]);
	fputs("},\n", f);
}

static void fit_json(FILE *f, const struct scale_fit *ft)
{
	fputs("\"ns_per_fd_per_wait\": ", f);
	json_num_out(f, ft->ns_per_fd);
	fputs(", \"intercept_us_per_wait\": ", f);
	json_num_out(f, ft->intercept_us);
	fputs(", \"r2\": ", f);
	json_num_out(f, ft->r2);
	fprintf(f, ", \"points\": %d", ft->n);
}

int scale_write_json(FILE *f, const char *path,
                     const struct scale_opts *o, const struct px_meta *meta,
                     const struct scale_point *pts, int n,
                     const struct scale_fit *fits,
                     const struct scale_fit *wall_fits)
{
	fputs("{\n  \"tool\": \"pollux-scale\", ", f);
	px_meta_json(f, meta);
	settings_json(f, o);
	fprintf(f, "  \"points\": [");
	struct field fl[NFIELDS];
	for (int i = 0; i < n; i++) {
		const struct scale_point *p = &pts[i];
		fprintf(f, "%s\n    {\"backend\": ", i ? "," : "");
		px_json_string(f, p->backend);
		fprintf(f, ", \"fds\": %lu", p->fds);
		int nf = point_fields(pts, n, p, fl);
		for (int k = 0; k < nf; k++) {
			fprintf(f, ", \"%s\": ", fl[k].name);
			json_num_out(f, fl[k].v);
		}
		fprintf(f, ", \"server_window\": \"%s\"",
		        p->whole_run ? "whole_run" : "steady");
		if (p->error[0]) {
			fprintf(f, ", \"error\": ");
			px_json_string(f, p->error);
		}
		fputc('}', f);
	}
	fprintf(f, "\n  ],\n  \"fit\": {");
	for (int b = 0; b < o->nbackends; b++) {
		fprintf(f, "%s\n    ", b ? "," : "");
		px_json_string(f, name_of(o, b));
		fprintf(f, ": {\"x\": \"fds_per_poller\", \"y\": \"%s\", ",
		        fits[b].y == SCALE_Y_CPU ? "cpu_us_per_wait" : "us_per_wait");
		fit_json(f, &fits[b]);
		fputs(", \"wall\": {\"y\": \"us_per_wait\", ", f);
		fit_json(f, &wall_fits[b]);
		fputs("}}", f);
	}
	fprintf(f, "\n  }\n}\n");
	return close_out(f, path, "JSON");
}

void scale_machine_line(FILE *f, const struct scale_opts *o)
{
	struct utsname u;
	char cpu[256];
	cpu_model(cpu, sizeof cpu);
	fprintf(f, "machine: %ld cores", sysconf(_SC_NPROCESSORS_ONLN));
	if (cpu[0])
		fprintf(f, " (%s)", cpu);
	if (uname(&u) == 0)
		fprintf(f, ", %s %s %s", u.sysname, u.release, u.machine);
	if (isfinite(o->load_start) && isfinite(o->load_end))
		fprintf(f, "; load average %.2f before, %.2f after", o->load_start,
		        o->load_end);
	fputc('\n', f);
}

/* ---- the ending: what the run showed, in its own numbers ---- */

/* 1: the backend's wait cost does not depend on the descriptors it holds
 * (POLLUX_FEAT_O1), 0: it scans them, -1: cannot tell here. */
static int o1_backend(const char *name)
{
	pollux_t *p = pollux_new(name);
	if (!p)
		return -1;
	int o1 = (pollux_features(p) & POLLUX_FEAT_O1) != 0;
	pollux_free(p);
	return o1;
}

/* "a", "a and b", "a, b and c" of group g's names or figures. */
struct group {
	const struct scale_point *p[SCALE_MAX_BACKENDS];
	int n;
};

static void list_names(FILE *f, const struct group *g)
{
	for (int i = 0; i < g->n; i++)
		fprintf(f, "%s%s", i == 0 ? "" : i == g->n - 1 ? " and " : ", ",
		        g->p[i]->backend);
}

static void list_figs(FILE *f, const struct group *g, int rps)
{
	char b[64];
	for (int i = 0; i < g->n; i++) {
		const struct scale_point *p = g->p[i];
		double v = rps ? p->rps : p->cpu_us_per_wait;
		if (!rps && !isfinite(v))
			v = p->us_per_wait;	/* said below: wall time */
		/* Below 10, one decimal, as the table has it (not 6.23888). */
		if (isfinite(v) && v < 10)
			snprintf(b, sizeof b, "%.1f", v);
		else if (isfinite(v))
			px_fmt_thousands(b, sizeof b, v);
		fprintf(f, "%s%s", i == 0 ? "" : i == g->n - 1 ? " and " : ", ",
		        isfinite(v) ? b : "no figure");
	}
}

static double group_min(const struct group *g, int worst)
{
	double m = worst ? -INFINITY : INFINITY;
	for (int i = 0; i < g->n; i++) {
		double v = g->p[i]->cpu_us_per_wait;
		if (isfinite(v) && (worst ? v > m : v < m))
			m = v;
	}
	return isfinite(m) ? m : NAN;
}

static void summary(FILE *f, const struct scale_opts *o,
                    const struct scale_point *pts, int n,
                    const char *plot_said)
{
	char b[64];
	fputs("What this run showed: ", f);
	/* The largest fd count with a good point of each kind, if any. */
	unsigned long at = 0;
	struct group scan = { .n = 0 }, ready = { .n = 0 };
	for (int r = o->nfds - 1; r >= 0; r--) {
		struct group s = { .n = 0 }, q = { .n = 0 };
		for (int i = 0; i < n; i++) {
			const struct scale_point *p = &pts[i];
			if (p->fds != o->fds[r] || p->error[0] || !isfinite(p->rps))
				continue;
			int k = o1_backend(p->backend);
			if (k == 0)
				s.p[s.n++] = p;
			else if (k == 1)
				q.p[q.n++] = p;
		}
		if (s.n + q.n == 0)
			continue;
		/* Prefer the largest count at which both kinds ran. */
		if ((s.n && q.n) || !(scan.n + ready.n)) {
			at = o->fds[r];
			scan = s;
			ready = q;
		}
		if (s.n && q.n)
			break;
	}
	if (scan.n + ready.n == 0) {
		fputs("no point was measured, so there is nothing to compare.", f);
	} else {
		int cpu = 1;
		for (int i = 0; i < scan.n; i++)
			cpu &= isfinite(scan.p[i]->cpu_us_per_wait);
		for (int i = 0; i < ready.n; i++)
			cpu &= isfinite(ready.p[i]->cpu_us_per_wait);
		const char *what = cpu ? "of server CPU" : "(wall time: no CPU figures)";
		fprintf(f, "at %s idle descriptors ", px_fmt_thousands(b, sizeof b,
		                                                      (double)at));
		if (scan.n && ready.n) {
			fputs("the backends that scan every descriptor (", f);
			list_names(f, &scan);
			fputs(") spent ", f);
			list_figs(f, &scan, 0);
			fprintf(f, " us %s per wait against ", what);
			list_figs(f, &ready, 0);
			fputs(" us for the ready-list ones (", f);
			list_names(f, &ready);
			fputs("), and answered ", f);
			list_figs(f, &scan, 1);
			fputs(" requests/s against ", f);
			list_figs(f, &ready, 1);
			fputs(". ", f);
			double slow = group_min(&scan, 0), fast = group_min(&ready, 1);
			if (isfinite(slow) && isfinite(fast) && slow < 2 * fast)
				fputs("At this size the difference did not show clearly "
				      "(scanning cost under twice the ready-list cost); a "
				      "larger --fds shows it. ", f);
			else if (at == 0)
				fputs("With no idle descriptors that is the backends' "
				      "own cost; add --fds counts to see it grow. ", f);
		} else {
			list_names(f, scan.n ? &scan : &ready);
			fputs(scan.n ? " (scanning every descriptor)" :
			      " (ready list)", f);
			fputs(" spent ", f);
			list_figs(f, scan.n ? &scan : &ready, 0);
			fprintf(f, " us %s per wait and answered ", what);
			list_figs(f, scan.n ? &scan : &ready, 1);
			fprintf(f, " requests/s; no %s backend ran to compare with. ",
			        scan.n ? "ready-list" : "scanning");
		}
	}
	fprintf(f, "%s\n", plot_said);
	fputs("Columns: req/s and p99_us are pollux-load's; wall_us/wait is the "
	      "server's time inside pollux_wait (sleeping included), cpu_us/wait "
	      "its CPU time (user+system) per wait, ns/fd/wait how much "
	      "cpu_us/wait grew per added descriptor since the row above, ev/wait "
	      "the events one wait returned; pollux-scale(1) says more.\n", f);
}

void scale_print_summary(FILE *f, const struct scale_opts *o,
                         const struct scale_point *pts, int n,
                         const char *plot_said)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	fputc('\n', f);
	if (!m) {
		summary(f, o, pts, n, plot_said);	/* unwrapped, but said */
		return;
	}
	summary(m, o, pts, n, plot_said);
	if (fclose(m) == 0 && text)
		wrap(f, text, 78);
	free(text);
}
