/* output.c: what pollux-scale prints and writes: the table, the fitted
 * cost, the text bar charts, CSV and JSON, and the machine description. */
#include "toolconfig.h"
#include "scale.h"
#include "common.h"
#include "pollux.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#define COL_W 36	/* one backend's four columns in the table */
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

void scale_print_table(FILE *f, const struct scale_opts *o,
                       const struct scale_point *pts, int n)
{
	fprintf(f, "%7s |", "");
	for (int b = 0; b < o->nbackends; b++) {
		const char *name = name_of(o, b);
		int len = (int)strlen(name);
		int left = (COL_W - len) / 2;
		fprintf(f, "%*s%s%*s|", left, "", name, COL_W - len - left, "");
	}
	fprintf(f, "\n%7s |", "fds");
	for (int b = 0; b < o->nbackends; b++)
		fprintf(f, " %9s %8s %8s %7s|", "req/s", "p99_us", "us/wait",
		        "ev/wait");
	fputc('\n', f);

	int note = 0;
	for (int r = 0; r < o->nfds; r++) {
		fprintf(f, "%7lu |", o->fds[r]);
		for (int b = 0; b < o->nbackends; b++) {
			const struct scale_point *p =
				find_point(pts, n, name_of(o, b), o->fds[r]);
			char a[32], c[32], d[32], e[32];
			if (!p) {
				fprintf(f, "%*s|", COL_W, "not run ");
				continue;
			}
			if (p->error[0]) {
				char msg[32];
				snprintf(msg, sizeof msg, "FAILED [%d] ", ++note);
				fprintf(f, "%*s|", COL_W, msg);
				continue;
			}
			num(a, sizeof a, p->rps, 0);
			num(c, sizeof c, p->p99_us, 0);
			num(d, sizeof d, p->us_per_wait, 2);
			num(e, sizeof e, p->events_per_wait, 2);
			/* A mark beside a figure that needs a note below. */
			int mark = p->errors || p->whole_run;
			fprintf(f, " %9s %8s %8s %7s%c", a, c, d, e,
			        mark ? '*' : '|');
		}
		fputc('\n', f);
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
		if (p->errors)
			fprintf(f, "*  %s fds=%lu: pollux-load counted %lu failed "
			        "requests or connections\n", p->backend, p->fds,
			        p->errors);
		if (p->whole_run)
			fprintf(f, "*  %s fds=%lu: server figures cover the whole "
			        "run (connections were slow to open)\n",
			        p->backend, p->fds);
	}
}

void scale_print_fit(FILE *f, const struct scale_opts *o,
                     const struct scale_fit *fits)
{
	fprintf(f, "\nCost per registered descriptor per pollux_wait of one "
	        "poller (least squares of us/wait against registered fds per "
	        "poller):\n");
	for (int b = 0; b < o->nbackends; b++) {
		const struct scale_fit *ft = &fits[b];
		if (!isfinite(ft->ns_per_fd)) {
			fprintf(f, "  %-8s   (not enough points: needs two good "
			        "points at different fd counts)\n", name_of(o, b));
			continue;
		}
		fprintf(f, "  %-8s %8.2f ns/fd/wait   (%.2f us/wait at no fd, "
		        "r^2 %.2f, %d points)\n", name_of(o, b), ft->ns_per_fd,
		        ft->base_us, ft->r2, ft->n);
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
		double v = which ? pts[i].us_per_wait : pts[i].rps;
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
			double v = which ? p->us_per_wait : p->rps;
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
	          "Server microseconds per pollux_wait call (shorter is better):",
	          1);
}

/* ---- files ---- */

FILE *scale_open_out(const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
	if (!f)
		fprintf(stderr, "pollux-scale: cannot create %s: %s; check the "
		        "directory exists and is writable\n", path,
		        strerror(errno));
	return f;
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

static void csv_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.10g", v);
}

int scale_write_csv(FILE *f, const char *path,
                    const struct scale_point *pts, int n)
{
	fprintf(f, "backend,fds,active,rps,p50_us,p99_us,us_per_wait,"
	        "events_per_wait,errors,registered,server_processes,"
	        "load_processes,sources,pollers,fds_per_poller,waits,window_s,"
	        "server_window,error\n");
	for (int i = 0; i < n; i++) {
		const struct scale_point *p = &pts[i];
		fprintf(f, "%s,%lu,%lu,", p->backend, p->fds, p->active);
		csv_num(f, p->rps); fputc(',', f);
		csv_num(f, p->p50_us); fputc(',', f);
		csv_num(f, p->p99_us); fputc(',', f);
		csv_num(f, p->us_per_wait); fputc(',', f);
		csv_num(f, p->events_per_wait); fputc(',', f);
		fprintf(f, "%lu,", p->errors);
		csv_num(f, p->registered); fputc(',', f);
		csv_num(f, p->server_procs ? p->server_procs : NAN); fputc(',', f);
		csv_num(f, p->load_procs ? p->load_procs : NAN); fputc(',', f);
		csv_num(f, p->sources ? p->sources : NAN); fputc(',', f);
		csv_num(f, p->pollers > 0 ? p->pollers : NAN); fputc(',', f);
		csv_num(f, p->pollers > 0 ? p->fds_per_poller : NAN);
		fputc(',', f);
		csv_num(f, p->waits); fputc(',', f);
		csv_num(f, p->window_s); fputc(',', f);
		fputs(p->whole_run ? "whole_run," : "steady,", f);
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

static void machine_json(FILE *f, const struct scale_opts *o)
{
	struct utsname u;
	char kernel[256] = "", cpu[256];
	if (uname(&u) == 0)
		snprintf(kernel, sizeof kernel, "%s %s", u.sysname, u.release);
	cpu_model(cpu, sizeof cpu);
	struct rlimit rl;
	long nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	              rl.rlim_cur != RLIM_INFINITY ? (long)rl.rlim_cur : -1;
	fprintf(f, "  \"machine\": {\"cores\": %ld, \"kernel\": ",
	        sysconf(_SC_NPROCESSORS_ONLN));
	px_json_string(f, kernel);
	fprintf(f, ", \"arch\": ");
	px_json_string(f, uname(&u) == 0 ? u.machine : "");
	fprintf(f, ", \"cpu\": ");
	px_json_string(f, cpu);
	fprintf(f, ", \"nofile_limit\": %ld, \"pollux_version\": ", nofile);
	px_json_string(f, pollux_version());
	fprintf(f, ", \"loadavg_start\": ");
	json_num_out(f, o->load_start);
	fprintf(f, ", \"loadavg_end\": ");
	json_num_out(f, o->load_end);
	fprintf(f, ", \"duration_s\": ");
	json_num_out(f, o->duration);
	fprintf(f, ", \"warmup_s\": ");
	json_num_out(f, o->warmup);
	fprintf(f, "},\n");
}

int scale_write_json(FILE *f, const char *path,
                     const struct scale_opts *o,
                     const struct scale_point *pts, int n,
                     const struct scale_fit *fits)
{
	fprintf(f, "{\n");
	machine_json(f, o);
	fprintf(f, "  \"points\": [");
	for (int i = 0; i < n; i++) {
		const struct scale_point *p = &pts[i];
		fprintf(f, "%s\n    {\"backend\": ", i ? "," : "");
		px_json_string(f, p->backend);
		fprintf(f, ", \"fds\": %lu, \"active\": %lu, \"rps\": ", p->fds,
		        p->active);
		json_num_out(f, p->rps);
		fprintf(f, ", \"p50_us\": ");
		json_num_out(f, p->p50_us);
		fprintf(f, ", \"p99_us\": ");
		json_num_out(f, p->p99_us);
		fprintf(f, ", \"us_per_wait\": ");
		json_num_out(f, p->us_per_wait);
		fprintf(f, ", \"events_per_wait\": ");
		json_num_out(f, p->events_per_wait);
		fprintf(f, ", \"errors\": %lu, \"registered\": ", p->errors);
		json_num_out(f, p->registered);
		/* The fit's x: descriptors in one poller, with the server's
		 * pollers over its processes (null when not run). */
		fprintf(f, ", \"server_processes\": ");
		json_num_out(f, p->server_procs ? p->server_procs : NAN);
		fprintf(f, ", \"load_processes\": ");
		json_num_out(f, p->load_procs ? p->load_procs : NAN);
		fprintf(f, ", \"sources\": ");
		json_num_out(f, p->sources ? p->sources : NAN);
		fprintf(f, ", \"pollers\": ");
		json_num_out(f, p->pollers > 0 ? p->pollers : NAN);
		fprintf(f, ", \"fds_per_poller\": ");
		json_num_out(f, p->pollers > 0 ? p->fds_per_poller : NAN);
		fprintf(f, ", \"waits\": ");
		json_num_out(f, p->waits);
		fprintf(f, ", \"window_s\": ");
		json_num_out(f, p->window_s);
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
		fprintf(f, ": {\"x\": \"fds_per_poller\", "
		        "\"ns_per_fd_per_wait\": ");
		json_num_out(f, fits[b].ns_per_fd);
		fprintf(f, ", \"base_us_per_wait\": ");
		json_num_out(f, fits[b].base_us);
		fprintf(f, ", \"r2\": ");
		json_num_out(f, fits[b].r2);
		fprintf(f, ", \"points\": %d}", fits[b].n);
	}
	fprintf(f, "\n  }\n}\n");
	return close_out(f, path, "JSON");
}

double scale_loadavg(void)
{
	double l[1];
	return getloadavg(l, 1) == 1 ? l[0] : NAN;
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
