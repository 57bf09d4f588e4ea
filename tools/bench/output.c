/* output.c: where pollux-bench's rows go: the table for people, CSV and
 * JSON with the same column names, and the progress line on a terminal. */
#include "toolconfig.h"
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "meta.h"
#include "pollux.h"

/* The table (NULL when CSV goes to stdout), CSV and JSON streams. */
static FILE *table_out, *csv_out, *json_out;
static struct row rows[BENCH_MAX_ROWS];
static size_t nrows;

void out_open(const struct opts *o)
{
	table_out = stdout;
	if (o->csv && o->json && strcmp(o->csv, "-") == 0 && strcmp(o->json, "-") == 0)
		px_usage_error("--csv - and --json - cannot both have standard output");
	if (o->csv && strcmp(o->csv, "-") == 0) {
		csv_out = stdout;
		table_out = NULL;
	} else if (o->csv) {
		csv_out = px_open_out_or_die("--csv", o->csv);
	}
	if (o->json && strcmp(o->json, "-") == 0) {
		json_out = stdout;
		/* the text meant for people goes to stderr (CONVENTIONS.md) */
		if (table_out)
			table_out = stderr;
	} else if (o->json) {
		json_out = px_open_out_or_die("--json", o->json);
	}
}

/* ---- the progress line -------------------------------------------------- */

static struct {
	int on;
	size_t item, items;	/* backend x size being measured, of how many */
	uint64_t t0, last;	/* the whole run's start, the last line drawn */
	int width;		/* of the line on screen, to blank it */
} prog;

void progress_start(const struct opts *o, size_t items)
{
	prog.on = !o->quiet && !o->no_progress && isatty(STDERR_FILENO);
	prog.items = items;
	prog.item = 0;
	prog.t0 = px_now_ns();
	prog.last = 0;
	prog.width = 0;
}

void progress_clear(void)
{
	if (!prog.on || prog.width == 0)
		return;
	fprintf(stderr, "\r%*s\r", prog.width, "");
	fflush(stderr);
	prog.width = 0;
}

void progress_item(void)
{
	prog.item++;
	prog.last = 0;
}

void progress_run(const char *backend, int n, unsigned long run,
                  unsigned long runs, double max_s, double item_s)
{
	if (!prog.on)
		return;
	uint64_t now = px_now_ns();
	/* a few lines a second at most: the terminal is not the benchmark */
	if (prog.last && now - prog.last < 250000000u)
		return;
	prog.last = now;
	char lim[48] = "";
	if (max_s > 0) {
		char d[32];
		snprintf(lim, sizeof lim, ", stops at %s", px_fmt_duration(d, sizeof d, max_s));
	}
	char line[200];
	int w = snprintf(line, sizeof line,
	                 PROG ": [%zu/%zu] %s, %d pairs: run %lu of %lu, %.1fs%s; %.0fs in all",
	                 prog.item, prog.items, backend, n, run, runs, item_s, lim,
	                 (double)(now - prog.t0) / 1e9);
	if (w < 0)
		return;
	if (w > (int)sizeof line - 1)
		w = (int)sizeof line - 1;
	fprintf(stderr, "\r%s%*s", line, prog.width > w ? prog.width - w : 0, "");
	fflush(stderr);
	prog.width = w;
}

/* ---- table and CSV ------------------------------------------------------ */

void out_header(const struct opts *o)
{
	if (csv_out) {
		fprintf(csv_out, "backend,n,active,writes,runs,events,median_us,min_us,"
		        "ns_per_event,spread%s,flag\n",
		        o->raw ? ",raw_median_us,raw_min_us,raw_ns_per_event,raw_spread,ratio" : "");
		fflush(csv_out);
	}
	if (table_out) {
		fprintf(table_out, "%-7s %6s %6s %6s %4s %7s %10s %10s %12s %6s", "backend",
		        "n", "active", "writes", "runs", "events", "median_us", "min_us",
		        "ns_per_event", "spread");
		if (o->raw)
			fprintf(table_out, " %13s %10s %16s %10s %6s", "raw_median_us",
			        "raw_min_us", "raw_ns_per_event", "raw_spread", "ratio");
		fprintf(table_out, " %s\n", "flag");
		fflush(table_out);
	}
}

static const char *flag_of(const struct row *r)
{
	return r->lib.noisy || (r->has_raw && r->raw.noisy) ? "noisy" : "ok";
}

void out_row(const struct row *r)
{
	if (nrows < BENCH_MAX_ROWS)
		rows[nrows++] = *r;
	progress_clear();
	if (csv_out) {
		fprintf(csv_out, "%s,%d,%d,%ld,%lu,%ld,%.2f,%.2f,%.1f,%.2f", r->backend, r->n,
		        r->active, r->writes, r->runs, r->events, r->lib.median_us,
		        r->lib.min_us, r->lib.ns_per_event, r->lib.spread);
		if (r->has_raw)
			fprintf(csv_out, ",%.2f,%.2f,%.1f,%.2f,%.3f", r->raw.median_us,
			        r->raw.min_us, r->raw.ns_per_event, r->raw.spread, r->lib.ratio);
		fprintf(csv_out, ",%s\n", flag_of(r));
		fflush(csv_out);
	}
	if (table_out) {
		fprintf(table_out, "%-7s %6d %6d %6ld %4lu %7ld %10.1f %10.1f %12.1f %6.2f",
		        r->backend, r->n, r->active, r->writes, r->runs, r->events,
		        r->lib.median_us, r->lib.min_us, r->lib.ns_per_event, r->lib.spread);
		if (r->has_raw)
			fprintf(table_out, " %13.1f %10.1f %16.1f %10.2f %6.3f", r->raw.median_us,
			        r->raw.min_us, r->raw.ns_per_event, r->raw.spread, r->lib.ratio);
		fprintf(table_out, " %s\n", flag_of(r));
		fflush(table_out);
	}
}

void out_note_noisy(const struct opts *o)
{
	if (o->quiet)
		return;
	for (size_t i = 0; i < nrows; i++)
		if (strcmp(flag_of(&rows[i]), "noisy") == 0) {
			px_warn("note: rows flagged noisy had a median more than %.1fx their "
			        "min: other work shared the machine; rerun them",
			        BENCH_NOISY_RATIO);
			return;
		}
}

/* ---- JSON --------------------------------------------------------------- */

static void json_result(FILE *f, const struct result *r)
{
	fprintf(f, "{\"median_us\": %.3f, \"min_us\": %.3f, \"ns_per_event\": %.2f, "
	        "\"spread\": ", r->median_us, r->min_us, r->ns_per_event);
	if (r->spread > 0)
		fprintf(f, "%.3f", r->spread);
	else
		fputs("null", f);
	fprintf(f, ", \"noisy\": %s}", r->noisy ? "true" : "false");
}

static void json_settings(FILE *f, const struct opts *o, const unsigned long *points,
                          size_t npoints, int maxev)
{
	fputs("{\"backends\": [", f);
	for (int i = 0; i < o->nbackends; i++) {
		fputs(i ? ", " : "", f);
		px_json_string(f, o->backends[i]);
	}
	fputs("], \"pairs\": [", f);
	for (size_t i = 0; i < npoints; i++)
		fprintf(f, "%s%lu", i ? ", " : "", points[i]);
	fprintf(f, "], \"sweep\": %s, \"active\": %lu, \"writes\": ",
	        o->sweep ? "true" : "false", o->active);
	if (o->have_w)
		fprintf(f, "%lu", o->writes);
	else
		fputs("null", f);
	fprintf(f, ", \"runs\": %lu, \"max_time_s\": ", o->runs);
	if (o->max_s > 0)
		fprintf(f, "%.3f", o->max_s);
	else
		fputs("null", f);
	fprintf(f, ", \"raw\": %s, \"max_events_per_wait\": %d, \"noisy_ratio\": %.2f}",
	        o->raw ? "true" : "false", maxev, BENCH_NOISY_RATIO);
}

static void json_write(FILE *f, const struct opts *o, const struct px_meta *m,
                       const unsigned long *points, size_t npoints, int maxev)
{
	fputs("{\"tool\": \"pollux-bench\", \"rows\": [", f);
	for (size_t i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		fputs(i ? ",\n  " : "\n  ", f);
		fputs("{\"backend\": ", f);
		px_json_string(f, r->backend);
		fprintf(f, ", \"n\": %d, \"active\": %d, \"writes\": %ld, \"runs\": %lu, "
		        "\"events\": %ld, \"lib\": ", r->n, r->active, r->writes, r->runs,
		        r->events);
		json_result(f, &r->lib);
		fputs(", \"raw\": ", f);
		if (r->has_raw)
			json_result(f, &r->raw);
		else
			fputs("null", f);
		fputs(", \"ratio\": ", f);
		if (r->has_raw)
			fprintf(f, "%.4f", r->lib.ratio);
		else
			fputs("null", f);
		fprintf(f, ", \"flag\": \"%s\"}", flag_of(r));
	}
	fputs("],\n \"settings\": ", f);
	json_settings(f, o, points, npoints, maxev);
	fputs(",\n ", f);
	px_meta_json(f, m);
	fputs("}\n", f);
}

int out_close(const struct opts *o, const struct px_meta *m,
              const unsigned long *points, size_t npoints, int maxev)
{
	int status = 0;
	progress_clear();
	if (json_out) {
		json_write(json_out, o, m, points, npoints, maxev);
		if (json_out != stdout && (ferror(json_out) | fclose(json_out))) {
			px_warn("--json %s: %s", o->json, strerror(errno));
			status = 1;
		}
	}
	if (csv_out && csv_out != stdout && (ferror(csv_out) | fclose(csv_out))) {
		px_warn("--csv %s: %s", o->csv, strerror(errno));
		status = 1;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		px_warn("cannot write to standard output: %s", strerror(errno));
		status = 1;
	}
	return status;
}
