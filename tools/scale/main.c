/* main.c: pollux-scale's options, the limits that cap the sweep, the loop
 * over backends and descriptor counts, and the progress line. */
#include "toolconfig.h"
#include "scale.h"
#include "proc.h"
#include "common.h"
#include "meta.h"
#include "pollux.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Descriptors a process needs beside its connections: stdio, listener,
 * poller, signal pipe, the /stats request, and some slack. */
#define FD_RESERVE 64

/* The default sweep stops select and poll here: every wait walks every
 * registered descriptor, and their accepting alone takes ten seconds and
 * more at 15,000 on a 2-core machine; a point at 30,000 and above would
 * take minutes for a line whose slope is clear by then. */
#define SLOW_MAX_FDS 15000
/* Descriptors per process by default: RLIMIT_NOFILE less this headroom
 * (stdio, listeners, pollers, pipes, and connections replaced meanwhile),
 * at most DEFAULT_PER_PROCESS. */
#define PER_PROCESS_HEADROOM 2000
#define DEFAULT_PER_PROCESS 18000
/* Sets the descriptors one process may hold from RLIMIT_NOFILE (both
 * children inherit our raised limit), and caps the fd counts to what the
 * server's 256 processes and the machine's fs.file-max allow; says so when
 * it binds. -1 (after a message) when not even the active connections fit
 * one process: every point would fail, one by one. */
static int cap_fds(struct scale_opts *o, int per_given)
{
	long nofile = px_raise_nofile();
	if (nofile > 0 && (long)o->active + FD_RESERVE > nofile) {
		fprintf(stderr, "pollux-scale: --active %lu cannot fit: "
		        "RLIMIT_NOFILE is %ld and the server and pollux-load "
		        "each need the active connections plus %d; lower "
		        "--active or raise the hard limit (ulimit -Hn)\n",
		        o->active, nofile, FD_RESERVE);
		return -1;
	}
	long room = nofile > 0 ? nofile - FD_RESERVE : DEFAULT_PER_PROCESS;
	if (!per_given) {
		long p = nofile > 0 ? nofile - PER_PROCESS_HEADROOM : room;
		if (p > DEFAULT_PER_PROCESS)
			p = DEFAULT_PER_PROCESS;
		if (p < (long)o->active + 1)
			p = room;
		o->fds_per_process = (unsigned long)p;
	} else if ((long)o->fds_per_process > room) {
		if (!o->quiet)
			fprintf(stderr, "pollux-scale: note: --fds-per-process %lu is "
		        "over RLIMIT_NOFILE %ld less %d; using %ld\n",
		        o->fds_per_process, nofile, FD_RESERVE, room);
		o->fds_per_process = (unsigned long)room;
	}
	/* pollux-server runs at most 256 processes; both ends of every
	 * connection are descriptors of this machine. */
	unsigned long cap = 256 * o->fds_per_process;
	const char *why = "processes";
	long file_max = -1, file_nr = -1;
	FILE *f = fopen("/proc/sys/fs/file-max", "r");
	if (f) {
		if (fscanf(f, "%ld", &file_max) != 1)
			file_max = -1;
		fclose(f);
	}
	f = fopen("/proc/sys/fs/file-nr", "r");
	if (f) {
		if (fscanf(f, "%ld", &file_nr) != 1)
			file_nr = -1;
		fclose(f);
	}
	if (file_max > 0 && file_nr >= 0 && file_max > file_nr + 2000) {
		unsigned long m = (unsigned long)(file_max - file_nr - 2000) / 2;
		if (m < cap + o->active) {
			cap = m > o->active ? m - o->active : 0;
			why = "file-max";
		}
	}
	if (o->fds[o->nfds - 1] <= cap)
		return 0;
	for (int i = 0; i < o->nfds; i++)
		if (o->fds[i] > cap)
			o->fds[i] = cap;
	scale_tidy_fds(o);
	if (o->quiet) {
		/* the capped counts show in the report */
	} else if (strcmp(why, "file-max") == 0) {
		fprintf(stderr, "pollux-scale: note: fs.file-max is %ld with %ld "
		        "open, room for both ends of %lu idle connections beside "
		        "%lu active: larger --fds counts capped to %lu (fix: "
		        "sysctl -w fs.file-max=N)\n", file_max, file_nr, cap,
		        o->active, cap);
		scale_print_limits(stderr, cap + o->active, 1, 1,
		                   o->fds_per_process);
	} else {
		fprintf(stderr, "pollux-scale: note: pollux-server runs at most "
		        "256 processes of %lu descriptors: larger --fds counts "
		        "capped to %lu\n", o->fds_per_process, cap);
	}
	return 0;
}

/* ---- progress ---- */

static int prog_i, prog_n;
static const char *prog_backend;
static unsigned long prog_fds;
static uint64_t prog_start, prog_last;
static double est_done, est_left, real_done;
static const char *prog_state = "";

/* Expected seconds for a point before any has been measured. */
static double est_point(const struct scale_opts *o, unsigned long fds)
{
	return o->warmup + o->duration + 0.5 + (double)(fds + o->active) / 8000;
}

static void fmt_time(char *buf, size_t n, double s)
{
	long t = s < 0 ? 0 : lround(s);
	snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void draw_progress(void)
{
	uint64_t now = px_now_us();
	/* Redrawing more than every 200 ms is only flicker. */
	if (now - prog_last < 200000 && prog_last)
		return;
	prog_last = now;
	double elapsed = (double)(now - prog_start) / 1e6;
	/* Scale the estimate of what is left by how the finished points
	 * compared with their estimate. */
	double ratio = est_done > 0 ? real_done / est_done : 1.0;
	char el[32], left[32];
	fmt_time(el, sizeof el, elapsed);
	fmt_time(left, sizeof left,
	         est_left * ratio - (elapsed - real_done));
	fprintf(stderr, "\r\033[K[%d/%d] %s fds=%lu%s  elapsed %s  left ~%s",
	        prog_i, prog_n, prog_backend, prog_fds, prog_state, el, left);
	fflush(stderr);
}

static void clear_progress(void)
{
	fprintf(stderr, "\r\033[K");
	fflush(stderr);
}

/* ---- local ports ---- */

#define PORT_RESERVE 1000	/* free ports wanted on 127.0.0.1 */
#define PORT_WAIT_S 75		/* Linux holds TIME_WAIT for 60 s */

/* Waits (bounded) while 127.0.0.1 has almost no free port left, which
 * other programs' connections closed in the last minute can cause (ours
 * come from another address): our server could not bind, and a point run
 * now would push others' binds over the edge. -1 on a stop signal. */
static int wait_for_ports(const struct scale_opts *o)
{
	long lo, hi;
	if (scale_port_range(&lo, &hi) < 0)
		return 0;
	long range = hi - lo + 1;
	long need = PORT_RESERVE < range / 2 ? PORT_RESERVE : range / 2;
	long avail = scale_free_ports();
	if (avail < 0 || avail >= need)
		return 0;
	if (o->progress)
		clear_progress();
	if (!o->quiet)
		fprintf(stderr, "pollux-scale: note: only %ld of %ld local ports are "
	        "free on 127.0.0.1, waiting for %ld (connections closed in the "
	        "last minute stay in TIME_WAIT)\n", avail, range, need);
	prog_state = " (waiting for free ports)";
	uint64_t end = px_now_us() + PORT_WAIT_S * 1000000ull;
	while (avail >= 0 && avail < need && px_now_us() < end) {
		if (proc_pump(NULL, 0, 1000) < 0) {
			prog_state = "";
			return -1;
		}
		if (o->progress)
			draw_progress();
		avail = scale_free_ports();
	}
	prog_state = "";
	if (avail >= 0 && avail < need && !o->quiet) {
		if (o->progress)
			clear_progress();
		fprintf(stderr, "pollux-scale: note: going on with %ld local "
		        "ports free (other programs hold the rest)\n", avail);
	}
	return 0;
}

/* A --plot file that cannot be written is told now, like --csv and
 * --json, not after minutes of measuring. It is not created yet (an
 * interrupted sweep would leave an empty SVG): its directory is checked. */
static int plot_dir_unwritable(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	if (slash && slash[1] == '\0') {
		fprintf(stderr, "pollux-scale: --plot '%s': give a file name, "
		        "not a directory\n", path);
		return 1;
	}
	if (access(dir, W_OK | X_OK) == 0)
		return 0;
	fprintf(stderr, "pollux-scale: --plot: cannot create %s: %s; check the "
	        "directory exists and is writable\n", path, strerror(errno));
	return 1;
}

/* ---- the phases of main ---- */

/* What one sweep holds: the tools it runs and where its outputs go. */
struct sweep {
	char *server, *load, *gnuplot;
	FILE *csv, *json;
	struct scale_point *pts;	/* one per point: medians of its runs */
	struct scale_point *runs;	/* o->repeat per point, as measured */
	int n, done, failed;
	struct px_meta meta;		/* version, time, machine, load */
};

static void sweep_free(struct sweep *w)
{
	free(w->pts);
	free(w->runs);
	free(w->server);
	free(w->load);
	free(w->gnuplot);
}

/* gnuplot for --plot, pollux-server and pollux-load, the limits, then the
 * outputs (last: a refusal leaves no empty file). 0, or -1 after a line. */
static int prepare(struct scale_opts *o, const char *argv0, struct sweep *w)
{
	if (o->plot && plot_dir_unwritable(o->plot))
		return -1;
	if (o->plot) {
		w->gnuplot = scale_find_gnuplot();
		const char *env = getenv("GNUPLOT");
		if (!w->gnuplot && env && *env)
			fprintf(stderr, "pollux-scale: --plot: GNUPLOT='%s' is not "
			        "an executable, so no plot will be drawn; fix or unset "
			        "GNUPLOT\n", env);
		else if (!w->gnuplot)
			fprintf(stderr, "pollux-scale: --plot: gnuplot is not "
			        "installed, so no plot will be drawn (Debian: apt-get "
			        "install gnuplot-nox; or plot the --csv output)\n");
	}
	w->server = scale_find_tool("pollux-server", o->server_cmd, argv0);
	w->load = scale_find_tool("pollux-load", o->load_cmd, argv0);
	if (!w->server || !w->load) {
		const char *which = !w->server ? "pollux-server" : "pollux-load";
		const char *ov = !w->server ? o->server_cmd : o->load_cmd;
		const char *opt = !w->server ? "server-cmd" : "load-cmd";
		if (ov && *ov)
			fprintf(stderr, "pollux-scale: %s '%s' is not an executable "
			        "file; give a path that is\n", which, ov);
		else
			fprintf(stderr, "pollux-scale: cannot find %s beside "
			        "pollux-scale or in PATH; install it or give --%s PATH\n",
			        which, opt);
		return -1;
	}
	if (cap_fds(o, o->per_given) < 0)
		return -1;
	if ((o->csv && !(w->csv = scale_open_out("--csv", o->csv))) ||
	    (o->json && !(w->json = scale_open_out("--json", o->json)))) {
		if (w->csv && w->csv != stdout)
			fclose(w->csv);
		return -1;
	}
	if (scale_signals_init() < 0) {
		fprintf(stderr, "pollux-scale: cannot set up signal handling: %s\n",
		        strerror(errno));
		return -1;
	}
	w->n = o->nbackends * o->nfds;
	w->pts = calloc((size_t)w->n, sizeof *w->pts);
	w->runs = calloc((size_t)w->n * (size_t)o->repeat, sizeof *w->runs);
	if (!w->pts || !w->runs) {
		fprintf(stderr, "pollux-scale: out of memory\n");
		return -1;
	}
	return 0;
}

/* select and poll past SLOW_MAX_FDS in the default sweep: left out, said
 * once. 1 when the point is skipped. */
static int skip_slow(const struct scale_opts *o, const struct scale_point *p)
{
	static int said;
	if (o->fds_given || p->fds <= SLOW_MAX_FDS ||
	    (strcmp(p->backend, "select") != 0 && strcmp(p->backend, "poll") != 0))
		return 0;
	if (!said++ && !o->quiet) {
		if (o->progress)
			clear_progress();
		fprintf(stderr, "pollux-scale: note: select and poll stop at %d fds: "
		        "each wait walks every registered descriptor and accepting "
		        "that many already takes ten seconds and more; past it a "
		        "point takes minutes (give --fds to measure them anyway)\n",
		        SLOW_MAX_FDS);
	}
	return 1;
}

/* Says, before a point runs, that it needs several processes a side. */
static void say_split(const struct scale_opts *o, const struct scale_point *p)
{
	unsigned long conns = p->fds + p->active;
	int k = scale_procs_for(o, conns);
	if (k <= 1 || o->quiet)
		return;
	if (o->progress)
		clear_progress();
	fprintf(stderr, "pollux-scale: %s fds=%lu: %lu connections do not fit one "
	        "process (%lu each): pollux-server --processes %d, pollux-load "
	        "--processes %d over %d source addresses; cost per wait is of one "
	        "poller holding ~%lu\n", p->backend, p->fds, conns,
	        o->fds_per_process, k, k, scale_sources_for(conns, k),
	        (conns + (unsigned long)k - 1) / (unsigned long)k);
}

/* After a point: its failure, or the limits when errors hint at them. */
static void say_outcome(const struct scale_opts *o, const struct scale_point *p)
{
	if (!p->error[0] && !(p->errors && p->fds > 1000))
		return;
	if (o->progress)
		clear_progress();
	if (p->error[0])
		fprintf(stderr, "pollux-scale: %s fds=%lu failed: %s\n", p->backend,
		        p->fds, p->error);
	scale_print_limits(stderr, p->fds + p->active, p->server_procs, p->sources,
	                   o->fds_per_process);
}

/* Others' work on the machine shares the cores with the server and the
 * load tool: said before the sweep, since every figure suffers. */
static void say_load(struct scale_opts *o)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (!isfinite(o->load_start) || cores < 1 ||
	    o->load_start <= (double)cores / 2)
		return;
	o->load_noisy = 1;
	if (o->quiet)
		return;
	fprintf(stderr, "pollux-scale: note: the 1-minute load average is %.2f "
	        "on %ld cores, above half of them: figures will be noisy "
	        "(--repeat N reports the spread)\n", o->load_start, cores);
}

static void init_point(struct scale_point *p, const char *backend,
                       unsigned long fds, unsigned long active)
{
	memset(p, 0, sizeof *p);
	p->backend = backend;
	p->fds = fds;
	p->active = active;
	p->rps = p->p50_us = p->p99_us = NAN;
	p->us_per_wait = p->events_per_wait = NAN;
	p->cpu_s = p->cpu_us_per_wait = NAN;
	p->registered = p->waits = p->window_s = NAN;
}

/* Every (fds, backend) point, o->repeat times: fd count outside, then the
 * repetition, backend inside, so that the backends of one row are
 * measured close together in time and machine noise hits them alike.
 * Each point keeps the medians of its runs. Stops early on a signal. */
static void run_sweep(struct scale_opts *o, struct sweep *w)
{
	int R = o->repeat;
	prog_n = w->n * R;
	prog_start = px_now_us();
	px_meta_begin(&w->meta);
	o->load_start = w->meta.have_before ? w->meta.load_before[0] : NAN;
	say_load(o);
	for (int r = 0; r < o->nfds; r++)
		for (int b = 0; b < o->nbackends; b++)
			est_left += est_point(o, o->fds[r]) * R;
	if (o->progress)
		scale_tick = draw_progress;
	int nrun = 0, stop = 0;
	for (int r = 0; r < o->nfds && !stop; r++) {
		/* This row's runs: backend b's k-th at row[b * R + k]. */
		struct scale_point *row = &w->runs[(size_t)r * o->nbackends * R];
		int got[SCALE_MAX_BACKENDS] = { 0 };
		for (int k = 0; k < R && !stop; k++)
			for (int b = 0; b < o->nbackends && !stop; b++) {
				struct scale_point *p = &row[b * R + k];
				init_point(p, o->backends[b], o->fds[r], o->active);
				prog_i = ++nrun;
				prog_backend = p->backend;
				prog_fds = p->fds;
				prog_last = 0;
				if (o->progress)
					draw_progress();
				double e = est_point(o, p->fds);
				if (skip_slow(o, p)) {
					est_left -= e;
					continue;	/* not run: left out of pts */
				}
				say_split(o, p);
				if (wait_for_ports(o) < 0 || scale_stop_signal) {
					stop = 1;
					break;
				}
				uint64_t t0 = px_now_us();
				if (scale_run_point(o, w->server, w->load, p) < 0) {
					stop = 1;	/* interrupted: run not kept */
					break;
				}
				say_outcome(o, p);
				got[b]++;
				est_done += e;
				est_left -= e;
				real_done += (double)(px_now_us() - t0) / 1e6;
			}
		for (int b = 0; b < o->nbackends; b++) {
			if (!got[b])
				continue;
			struct scale_point *p = &w->pts[w->done++];
			scale_combine(&row[b * R], got[b], p);
			w->failed += p->runs_ok < p->runs;
		}
	}
	px_meta_end(&w->meta);
}

/* The report, the fit, CSV, JSON, the plot, then the report's ending
 * (which says where the plot went). 0, or 1 when one failed. */
static int report(struct scale_opts *o, struct sweep *w)
{
	struct scale_fit fits[SCALE_MAX_BACKENDS], wall[SCALE_MAX_BACKENDS];
	for (int b = 0; b < o->nbackends; b++) {
		scale_fit(w->pts, w->done, o->backends[b], SCALE_Y_CPU, &fits[b]);
		scale_fit(w->pts, w->done, o->backends[b], SCALE_Y_WALL, &wall[b]);
		/* No CPU figures (no /proc): the wall time, said as such. */
		if (!isfinite(fits[b].ns_per_fd) && isfinite(wall[b].ns_per_fd))
			fits[b] = wall[b];
	}

	int bad = w->failed > 0;
	/* With CSV or JSON on stdout, the report for people goes to stderr
	 * so that stdout stays one parseable document. */
	FILE *rep = w->csv == stdout || w->json == stdout ? stderr : stdout;
	fprintf(rep, "pollux-scale: %lu active connections, %.3g s runs after "
	        "%.3g s warm-up", o->active, o->duration, o->warmup);
	if (o->repeat > 1)
		fprintf(rep, ", %d runs a point", o->repeat);
	fprintf(rep, "; server on each backend, pollux-load on %s\n",
	        pollux_backends()[0]);
	scale_machine_line(rep, o);
	fputc('\n', rep);
	scale_print_table(rep, o, w->pts, w->done);
	scale_print_fit(rep, o, fits);
	scale_print_bars(rep, o, w->pts, w->done);
	fflush(rep);
	if (w->csv && scale_write_csv(w->csv, o->csv, w->pts, w->done) < 0)
		bad = 1;
	if (w->json && scale_write_json(w->json, o->json, o, &w->meta, w->pts,
	                                w->done, fits, wall) < 0)
		bad = 1;
	char said[4200];
	if (!o->plot) {
		snprintf(said, sizeof said, "Add --plot FILE.svg (or FILE.png) for "
		         "a picture.");
	} else if (!w->gnuplot) {
		snprintf(said, sizeof said, "No plot was drawn: gnuplot is missing.");
		bad = 1;
	} else if (scale_plot(w->gnuplot, o->plot, o, w->pts, w->done) < 0) {
		snprintf(said, sizeof said, "No plot was drawn (the line above "
		         "says why).");
		bad = 1;
	} else {
		snprintf(said, sizeof said, "The plot is in %s.", o->plot);
	}
	scale_print_summary(rep, o, w->pts, w->done, said);
	if ((fflush(rep) != 0 || ferror(rep)) && rep == stdout) {
		fprintf(stderr, "pollux-scale: cannot write the report to "
		        "standard output: %s\n", strerror(errno));
		bad = 1;
	}
	return bad;
}

int main(int argc, char **argv)
{
	struct scale_opts o;
	struct sweep w = { 0 };
	scale_options(&o, argc, argv);
	if (prepare(&o, argv[0], &w) < 0) {
		sweep_free(&w);
		return 1;
	}
	run_sweep(&o, &w);
	if (o.progress)
		clear_progress();
	o.load_end = w.meta.have_after ? w.meta.load_after[0] : NAN;
	int sig = scale_stop_signal;
	if (sig)
		fprintf(stderr, "pollux-scale: stopped by signal %d after %d of "
		        "%d points; the server and load tool are stopped\n", sig,
		        w.done, w.n);
	int bad = report(&o, &w);
	sweep_free(&w);
	if (sig) {
		/* Die of the same signal, so a calling shell sees it. */
		signal(sig, SIG_DFL);
		raise(sig);
	}
	return bad;
}
