/* main.c: pollux-scale's options, the limits that cap the sweep, the loop
 * over backends and descriptor counts, and the progress line. */
#include "toolconfig.h"
#include "scale.h"
#include "proc.h"
#include "common.h"
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

/* Past one process's RLIMIT_NOFILE, points run several server workers
 * and load processes (see scale_run_point). */
static const unsigned long default_fds[] = { 0, 100, 1000, 5000, 10000, 15000,
                                             30000, 50000, 100000 };
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
/* 15,000 is left out: on a busy 2-core machine select and poll take ten
 * seconds and more just to accept that many, which breaks the 30 s aim. */
static const unsigned long quick_fds[] = { 0, 1000, 5000, 10000 };

static void usage(FILE *f)
{
	fprintf(f,
"Usage: pollux-scale [OPTION]...\n"
"Measure how each pollux backend scales with the number of descriptors a\n"
"server holds: for every backend and fd count, start pollux-server, load it\n"
"with pollux-load (FDS idle connections plus ACTIVE busy ones), and read the\n"
"server's statistics.\n"
"\n"
"  -b, --backends LIST   backends to measure, comma-separated (default: all\n"
"                        built, listed below)\n"
"  -f, --fds LIST        idle descriptor counts (default 0,100,1000,5000,\n"
"                        10000,15000,30000,50000,100000; select and poll\n"
"                        stop at 15000 unless the list is given)\n"
"  -a, --active A        busy connections at every point (default 50)\n"
"      --fds-per-process N connections one server or load process holds at\n"
"                        most (default RLIMIT_NOFILE less 2000, at most\n"
"                        18000); a point needing more runs ceil(fds/N) of\n"
"                        each, and the fit is per poller\n"
"  -d, --duration SECS   measured seconds per point (default 5)\n"
"  -w, --warmup SECS     seconds of load before measuring (default 1)\n"
"  -q, --quick           about 30 s in all: fds 0,1000,5000,10000, 1 s runs\n"
"      --csv FILE        write every point as CSV ('-': stdout, and the\n"
"                        report for people goes to stderr)\n"
"      --json FILE       write machine, points and fit as JSON ('-': the\n"
"                        same)\n"
"      --plot FILE.svg   draw requests/s and us/wait against fds (gnuplot)\n"
"      --server-cmd PATH pollux-server to run (env POLLUX_SERVER)\n"
"      --load-cmd PATH   pollux-load to run (env POLLUX_LOAD)\n"
"      --no-progress     no progress line even on a terminal\n"
"  -v, --verbose         trace each phase of each point on stderr\n"
"  -h, --help            show this help and exit\n"
"  -V, --version         show the version and exit\n"
"\n"
"Exit status: 0 when every point was measured, 1 when a point failed or an\n"
"output could not be written, 2 on bad usage.\n");
}

static void backends_help(FILE *f)
{
	const char *const *b = pollux_backends();
	for (int i = 0; b[i]; i++)
		fprintf(f, "%s%s", i ? "," : "", b[i]);
}

/* One line naming the problem; returns the bad-usage exit status. */
__attribute__((format(printf, 1, 2)))
static int bad_usage(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "pollux-scale: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see pollux-scale --help)\n");
	return 2;
}

/* An option getopt did not accept, named in one line; exit status 2. */
static int bad_option(char **argv)
{
	const char *word = argv[optind - 1];
	if (strncmp(word, "--", 2) != 0)
		return bad_usage("unknown option '-%c'", optopt > 0 &&
		                 optopt < 128 && isprint(optopt) ? optopt : '?');
	if (optopt)
		return bad_usage("option '%s' takes no value", word);
	return bad_usage("unknown or ambiguous option '%s'", word);
}

static int parse_backends(struct scale_opts *o, char *list)
{
	const char *const *built = pollux_backends();
	o->nbackends = 0;
	for (char *save = NULL, *t = strtok_r(list, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		const char *match = NULL;
		for (int i = 0; built[i]; i++)
			if (strcmp(built[i], t) == 0)
				match = built[i];
		if (!match) {
			fprintf(stderr, "pollux-scale: unknown or unbuilt backend "
			        "'%s'; built here: ", t);
			backends_help(stderr);
			fputc('\n', stderr);
			return -1;
		}
		for (int i = 0; i < o->nbackends; i++)
			if (o->backends[i] == match)
				match = NULL;
		if (!match)
			continue;	/* named twice: measure once */
		if (o->nbackends == SCALE_MAX_BACKENDS) {
			fprintf(stderr, "pollux-scale: too many backends\n");
			return -1;
		}
		o->backends[o->nbackends++] = match;
	}
	if (o->nbackends == 0) {
		fprintf(stderr, "pollux-scale: --backends needs at least one "
		        "name; built here: ");
		backends_help(stderr);
		fputc('\n', stderr);
		return -1;
	}
	return 0;
}

static int cmp_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
	return x < y ? -1 : x > y;
}

/* Sorts and drops duplicates. */
static void tidy_fds(struct scale_opts *o)
{
	qsort(o->fds, (size_t)o->nfds, sizeof o->fds[0], cmp_ulong);
	int k = 0;
	for (int i = 0; i < o->nfds; i++)
		if (k == 0 || o->fds[k - 1] != o->fds[i])
			o->fds[k++] = o->fds[i];
	o->nfds = k;
}

static int parse_fds(struct scale_opts *o, char *list)
{
	o->nfds = 0;
	for (char *save = NULL, *t = strtok_r(list, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		unsigned long v;
		if (px_parse_ulong(t, 0, 10000000, &v) < 0) {
			fprintf(stderr, "pollux-scale: --fds: '%s' is not a count "
			        "from 0 to 10000000\n", t);
			return -1;
		}
		if (o->nfds == SCALE_MAX_FDS) {
			fprintf(stderr, "pollux-scale: --fds: at most %d counts\n",
			        SCALE_MAX_FDS);
			return -1;
		}
		o->fds[o->nfds++] = v;
	}
	if (o->nfds == 0) {
		fprintf(stderr, "pollux-scale: --fds needs at least one count\n");
		return -1;
	}
	tidy_fds(o);
	return 0;
}

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
	tidy_fds(o);
	if (strcmp(why, "file-max") == 0) {
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
	if (avail >= 0 && avail < need) {
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

/* ---- main ---- */

enum { OPT_CSV = 256, OPT_JSON, OPT_PLOT, OPT_SERVER, OPT_LOAD, OPT_NOPROG,
       OPT_PER_PROC };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "backends", required_argument, NULL, 'b' },
		{ "fds", required_argument, NULL, 'f' },
		{ "active", required_argument, NULL, 'a' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "quick", no_argument, NULL, 'q' },
		{ "csv", required_argument, NULL, OPT_CSV },
		{ "json", required_argument, NULL, OPT_JSON },
		{ "plot", required_argument, NULL, OPT_PLOT },
		{ "server-cmd", required_argument, NULL, OPT_SERVER },
		{ "load-cmd", required_argument, NULL, OPT_LOAD },
		{ "no-progress", no_argument, NULL, OPT_NOPROG },
		{ "fds-per-process", required_argument, NULL, OPT_PER_PROC },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct scale_opts o;
	memset(&o, 0, sizeof o);
	o.active = 50;
	char *backends_arg = NULL, *fds_arg = NULL;
	int quick = 0, no_progress = 0, have_dur = 0, have_warm = 0, per_given = 0;
	int c;
	o.server_cmd = getenv("POLLUX_SERVER");
	o.load_cmd = getenv("POLLUX_LOAD");

	opterr = 0;	/* its message would be a second line, with our path */
	while ((c = getopt_long(argc, argv, ":b:f:a:d:w:qvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': backends_arg = optarg; break;
		case 'f': fds_arg = optarg; break;
		case 'a':
			if (px_parse_ulong(optarg, 1, 1000000, &o.active) < 0)
				return bad_usage("--active: '%s' is not a count from "
				                 "1 to 1000000", optarg);
			break;
		case 'd':
			if (px_parse_double(optarg, 86400, &o.duration) < 0 ||
			    o.duration < 0.1)
				return bad_usage("--duration: '%s' is not a number of "
				                 "seconds from 0.1 to 86400", optarg);
			have_dur = 1;
			break;
		case 'w':
			if (px_parse_double(optarg, 3600, &o.warmup) < 0)
				return bad_usage("--warmup: '%s' is not a number of "
				                 "seconds from 0 to 3600", optarg);
			have_warm = 1;
			break;
		case 'q': quick = 1; break;
		case 'v': scale_verbose = 1; break;
		case OPT_CSV: o.csv = optarg; break;
		case OPT_JSON: o.json = optarg; break;
		case OPT_PLOT: o.plot = optarg; break;
		case OPT_SERVER: o.server_cmd = optarg; break;
		case OPT_LOAD: o.load_cmd = optarg; break;
		case OPT_NOPROG: no_progress = 1; break;
		case OPT_PER_PROC:
			if (px_parse_ulong(optarg, 1, 10000000,
			                   &o.fds_per_process) < 0)
				return bad_usage("--fds-per-process: '%s' is not a "
				                 "count from 1 to 10000000", optarg);
			per_given = 1;
			break;
		case 'h':
			usage(stdout);
			printf("\nBackends built here: ");
			backends_help(stdout);
			printf("\n");
			return 0;
		case 'V':
			printf("pollux-scale (pollux) %s\n", pollux_version());
			return 0;
		case ':':
			return bad_usage("option '%s' needs a value",
			                 argv[optind - 1]);
		default:
			return bad_option(argv);
		}
	}
	if (optind < argc)
		return bad_usage("unexpected argument '%s'", argv[optind]);
	if (o.csv && o.json && strcmp(o.csv, "-") == 0 && strcmp(o.json, "-") == 0)
		return bad_usage("--csv - and --json - cannot both write to "
		                 "standard output; give one a file name");

	/* strtok_r cuts its string: work on copies, so that ps still shows
	 * the command line as given. */
	if (backends_arg) {
		char *copy = strdup(backends_arg);
		int rc = copy ? parse_backends(&o, copy) : -1;
		free(copy);
		if (rc < 0)
			return 2;
	} else {
		const char *const *b = pollux_backends();
		/* Oldest first reads best: select, poll, epoll. */
		int n = 0;
		while (b[n])
			n++;
		for (int i = n - 1; i >= 0 && o.nbackends < SCALE_MAX_BACKENDS; i--)
			o.backends[o.nbackends++] = b[i];
	}
	if (fds_arg) {
		char *copy = strdup(fds_arg);
		int rc = copy ? parse_fds(&o, copy) : -1;
		free(copy);
		if (rc < 0)
			return 2;
	} else {
		const unsigned long *d = quick ? quick_fds : default_fds;
		size_t n = quick ? sizeof quick_fds / sizeof quick_fds[0]
		                 : sizeof default_fds / sizeof default_fds[0];
		for (size_t i = 0; i < n; i++)
			o.fds[o.nfds++] = d[i];
	}
	if (!have_dur)
		o.duration = quick ? 1.0 : 5.0;
	if (!have_warm)
		o.warmup = quick ? 0.5 : 1.0;

	char *gnuplot = NULL;
	if (o.plot && plot_dir_unwritable(o.plot))
		return 1;
	if (o.plot) {
		gnuplot = scale_find_gnuplot();
		const char *env = getenv("GNUPLOT");
		if (!gnuplot && env && *env)
			fprintf(stderr, "pollux-scale: --plot: GNUPLOT='%s' is not "
			        "an executable, so no plot will be drawn; fix or unset "
			        "GNUPLOT\n", env);
		else if (!gnuplot)
			fprintf(stderr, "pollux-scale: --plot: gnuplot is not "
			        "installed, so no plot will be drawn (Debian: apt-get "
			        "install gnuplot-nox; or plot the --csv output)\n");
	}
	char *server = scale_find_tool("pollux-server", o.server_cmd, argv[0]);
	char *load = scale_find_tool("pollux-load", o.load_cmd, argv[0]);
	if (!server || !load) {
		const char *which = !server ? "pollux-server" : "pollux-load";
		const char *ov = !server ? o.server_cmd : o.load_cmd;
		const char *opt = !server ? "server-cmd" : "load-cmd";
		if (ov && *ov)
			fprintf(stderr, "pollux-scale: %s '%s' is not an executable "
			        "file; give a path that is\n", which, ov);
		else
			fprintf(stderr, "pollux-scale: cannot find %s beside "
			        "pollux-scale or in PATH; install it or give --%s PATH\n",
			        which, opt);
		free(server);
		free(load);
		free(gnuplot);
		return 1;
	}
	/* Before the outputs are created: a refusal leaves no empty file. */
	if (cap_fds(&o, per_given) < 0) {
		free(server);
		free(load);
		free(gnuplot);
		return 1;
	}
	FILE *csv = NULL, *json = NULL;
	if ((o.csv && !(csv = scale_open_out(o.csv))) ||
	    (o.json && !(json = scale_open_out(o.json)))) {
		if (csv && csv != stdout)
			fclose(csv);
		free(server);
		free(load);
		free(gnuplot);
		return 1;
	}
	if (scale_signals_init() < 0) {
		fprintf(stderr, "pollux-scale: cannot set up signal handling: %s\n",
		        strerror(errno));
		return 1;
	}
	o.progress = !no_progress && isatty(2);

	int n = o.nbackends * o.nfds, done = 0, failed = 0, slow_said = 0;
	struct scale_point *pts = calloc((size_t)n, sizeof *pts);
	if (!pts) {
		fprintf(stderr, "pollux-scale: out of memory\n");
		return 1;
	}
	prog_n = n;
	prog_start = px_now_us();
	o.load_start = scale_loadavg();
	for (int r = 0; r < o.nfds; r++)
		for (int b = 0; b < o.nbackends; b++)
			est_left += est_point(&o, o.fds[r]);
	if (o.progress)
		scale_tick = draw_progress;

	/* Fd count outside, backend inside: the backends of one row are
	 * measured close together in time, so machine noise hits them alike. */
	for (int r = 0; r < o.nfds && !scale_stop_signal; r++)
		for (int b = 0; b < o.nbackends && !scale_stop_signal; b++) {
			struct scale_point *p = &pts[done];
			p->backend = o.backends[b];
			p->fds = o.fds[r];
			p->active = o.active;
			p->rps = p->p50_us = p->p99_us = NAN;
			p->us_per_wait = p->events_per_wait = NAN;
			p->registered = p->waits = p->window_s = NAN;
			prog_i = done + 1;
			prog_backend = p->backend;
			prog_fds = p->fds;
			prog_last = 0;
			if (o.progress)
				draw_progress();
			if (!fds_arg && p->fds > SLOW_MAX_FDS &&
			    (strcmp(p->backend, "select") == 0 ||
			     strcmp(p->backend, "poll") == 0)) {
				if (!slow_said++) {
					if (o.progress)
						clear_progress();
					fprintf(stderr, "pollux-scale: note: select and "
					        "poll stop at %d fds: each wait walks every "
					        "registered descriptor and accepting that "
					        "many already takes ten seconds and more; "
					        "past it a point takes minutes (give --fds "
					        "to measure them anyway)\n", SLOW_MAX_FDS);
				}
				double e = est_point(&o, p->fds);
				est_left -= e;
				p->backend = NULL;
				continue;	/* not run: left out of pts */
			}
			unsigned long conns = p->fds + p->active;
			int k = scale_procs_for(&o, conns);
			if (k > 1) {
				if (o.progress)
					clear_progress();
				fprintf(stderr, "pollux-scale: %s fds=%lu: %lu "
				        "connections do not fit one process (%lu "
				        "each): pollux-server --processes %d, "
				        "pollux-load --processes %d over %d source "
				        "addresses; cost per wait is of one poller "
				        "holding ~%lu\n", p->backend, p->fds, conns,
				        o.fds_per_process, k, k,
				        scale_sources_for(conns, k),
				        (conns + (unsigned long)k - 1) / (unsigned long)k);
			}
			if (wait_for_ports(&o) < 0)
				break;
			uint64_t t0 = px_now_us();
			int rc = scale_run_point(&o, server, load, p);
			if (rc < 0)
				break;	/* interrupted: this point is not kept */
			if (p->error[0]) {
				failed++;
				if (o.progress)
					clear_progress();
				fprintf(stderr, "pollux-scale: %s fds=%lu failed: %s\n",
				        p->backend, p->fds, p->error);
				scale_print_limits(stderr, p->fds + p->active,
				                   p->server_procs, p->sources,
				                   o.fds_per_process);
			} else if (p->errors && p->fds > 1000) {
				if (o.progress)
					clear_progress();
				scale_print_limits(stderr, p->fds + p->active,
				                   p->server_procs, p->sources,
				                   o.fds_per_process);
			}
			double e = est_point(&o, p->fds);
			est_done += e;
			est_left -= e;
			real_done += (double)(px_now_us() - t0) / 1e6;
			done++;
		}
	if (o.progress)
		clear_progress();

	o.load_end = scale_loadavg();
	int sig = scale_stop_signal;
	if (sig)
		fprintf(stderr, "pollux-scale: stopped by signal %d after %d of "
		        "%d points; the server and load tool are stopped\n", sig,
		        done, n);

	struct scale_fit fits[SCALE_MAX_BACKENDS];
	for (int b = 0; b < o.nbackends; b++)
		scale_fit(pts, done, o.backends[b], &fits[b]);

	int bad = failed > 0;
	/* With CSV or JSON on stdout, the report for people goes to stderr
	 * so that stdout stays one parseable document. */
	FILE *rep = csv == stdout || json == stdout ? stderr : stdout;
	fprintf(rep, "pollux-scale: %lu active connections, %.3g s runs after "
	        "%.3g s warm-up; server on each backend, pollux-load on %s\n",
	        o.active, o.duration, o.warmup, pollux_backends()[0]);
	scale_machine_line(rep, &o);
	fputc('\n', rep);
	scale_print_table(rep, &o, pts, done);
	scale_print_fit(rep, &o, fits);
	scale_print_bars(rep, &o, pts, done);
	if ((fflush(rep) != 0 || ferror(rep)) && rep == stdout) {
		fprintf(stderr, "pollux-scale: cannot write the report to "
		        "standard output: %s\n", strerror(errno));
		bad = 1;
	}
	if (csv && scale_write_csv(csv, o.csv, pts, done) < 0)
		bad = 1;
	if (json && scale_write_json(json, o.json, &o, pts, done, fits) < 0)
		bad = 1;
	if (o.plot) {
		if (!gnuplot || scale_plot(gnuplot, o.plot, &o, pts, done) < 0)
			bad = 1;
	}
	free(pts);
	free(server);
	free(load);
	free(gnuplot);
	if (sig) {
		/* Die of the same signal, so a calling shell sees it. */
		signal(sig, SIG_DFL);
		raise(sig);
	}
	return bad ? 1 : 0;
}
