/* options.c: pollux-scale's command line, in the tools' shared conventions
 * (tools/common/CONVENTIONS.md), and the sweep's default points. */
#include "toolconfig.h"
#include "scale.h"
#include "cli.h"
#include "common.h"
#include "pollux.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Past one process's RLIMIT_NOFILE, points run several server workers
 * and load processes (see scale_run_point). */
static const unsigned long default_fds[] = { 0, 100, 1000, 5000, 10000, 15000,
                                             30000, 50000, 100000 };
/* 15,000 is left out: on a busy 2-core machine select and poll take ten
 * seconds and more just to accept that many, which breaks the 30 s aim. */
static const unsigned long quick_fds[] = { 0, 1000, 5000, 10000 };

enum { OPT_CSV = 256, OPT_JSON, OPT_PLOT, OPT_SERVER, OPT_LOAD, OPT_NOPROG,
       OPT_PER_PROC, OPT_QUICK, OPT_LIST };

static const struct option longopts[] = {
	{ "backends", required_argument, NULL, 'b' },
	{ "backend", required_argument, NULL, 'b' },
	{ "fds", required_argument, NULL, 'f' },
	{ "active", required_argument, NULL, 'a' },
	{ "duration", required_argument, NULL, 'd' },
	{ "warmup", required_argument, NULL, 'w' },
	{ "quick", no_argument, NULL, OPT_QUICK },
	{ "quiet", no_argument, NULL, 'q' },
	{ "csv", required_argument, NULL, OPT_CSV },
	{ "json", required_argument, NULL, OPT_JSON },
	{ "plot", required_argument, NULL, OPT_PLOT },
	{ "server-cmd", required_argument, NULL, OPT_SERVER },
	{ "load-cmd", required_argument, NULL, OPT_LOAD },
	{ "no-progress", no_argument, NULL, OPT_NOPROG },
	{ "fds-per-process", required_argument, NULL, OPT_PER_PROC },
	{ "list-backends", no_argument, NULL, OPT_LIST },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static void usage(FILE *f)
{
	char built[128];
	px_backends_joined(built, sizeof built, ",");
	fprintf(f,
"Usage: pollux-scale [OPTION]...\n"
"Measure how each pollux backend scales with the number of descriptors a\n"
"server holds: for every backend and fd count, start pollux-server, load it\n"
"with pollux-load (FDS idle connections plus ACTIVE busy ones), and read the\n"
"server's statistics.\n"
"\n"
"  -a, --active A        busy connections at every point (default 50)\n"
"  -b, --backends LIST   backends to measure: names separated by commas, or\n"
"                        all (default: all built, listed below)\n"
"  -d, --duration D      measured time per point (10s, 500ms, 2m; a plain\n"
"                        number is seconds; default 5s)\n"
"  -f, --fds LIST        idle descriptor counts (default 0,100,1000,5000,\n"
"                        10000,15000,30000,50000,100000; select and poll\n"
"                        stop at 15000 unless the list is given)\n"
"  -q, --quiet           no progress line and no notes: the report and\n"
"                        errors only\n"
"  -v, --verbose         trace each phase of each point on stderr\n"
"  -w, --warmup D        load before measuring (default 1s)\n"
"      --quick           about 30 s in all: fds 0,1000,5000,10000, 1 s runs\n"
"      --fds-per-process N connections one server or load process holds at\n"
"                        most (default RLIMIT_NOFILE less 2000, at most\n"
"                        18000); a point needing more runs ceil(fds/N) of\n"
"                        each, and the fit is per poller\n"
"      --csv FILE        write every point as CSV ('-': stdout, and the\n"
"                        report for people goes to stderr)\n"
"      --json FILE       write machine, points and fit as JSON ('-': the\n"
"                        same)\n"
"      --plot FILE.svg   draw requests/s and us/wait against fds (gnuplot)\n"
"      --server-cmd PATH pollux-server to run (env POLLUX_SERVER)\n"
"      --load-cmd PATH   pollux-load to run (env POLLUX_LOAD)\n"
"      --no-progress     no progress line even on a terminal\n"
"      --list-backends   print the backends built in, one per line\n"
"  -h, --help            show this help and exit\n"
"  -V, --version         show the version and exit\n"
"\n"
"Exit status: 0 when every point was measured, 1 when a point failed or an\n"
"output could not be written, 2 on bad usage.\n"
"\n"
"Backends built here: %s\n", built);
}

void scale_tidy_fds(struct scale_opts *o)
{
	/* A handful of counts: insertion sort, then drop the repeats. */
	for (int i = 1; i < o->nfds; i++)
		for (int j = i; j > 0 && o->fds[j - 1] > o->fds[j]; j--) {
			unsigned long t = o->fds[j];
			o->fds[j] = o->fds[j - 1];
			o->fds[j - 1] = t;
		}
	int k = 0;
	for (int i = 0; i < o->nfds; i++)
		if (k == 0 || o->fds[k - 1] != o->fds[i])
			o->fds[k++] = o->fds[i];
	o->nfds = k;
}

/* --fds: counts separated by commas, from optarg. */
static void parse_fds(struct scale_opts *o)
{
	const char *s = optarg;
	o->nfds = 0;
	while (*s) {
		size_t n = strcspn(s, ",");
		char one[32];
		unsigned long v;
		if (n == 0 || n >= sizeof one)
			px_bad_value("descriptor counts from 0 to 10000000 separated by commas");
		memcpy(one, s, n);
		one[n] = '\0';
		if (px_parse_ulong(one, 0, 10000000, &v) < 0)
			px_bad_value("descriptor counts from 0 to 10000000 separated by "
			             "commas ('%s' is not one)", one);
		if (o->nfds == SCALE_MAX_FDS)
			px_bad_value("at most %d counts", SCALE_MAX_FDS);
		o->fds[o->nfds++] = v;
		s += n;
		if (*s == ',' && !*++s)
			px_bad_value("descriptor counts separated by commas, none empty");
	}
	if (o->nfds == 0)
		px_bad_value("at least one descriptor count");
	scale_tidy_fds(o);
}

void scale_options(struct scale_opts *o, int argc, char **argv)
{
	memset(o, 0, sizeof *o);
	o->active = 50;
	int no_progress = 0, have_dur = 0, have_warm = 0;
	o->server_cmd = getenv("POLLUX_SERVER");
	o->load_cmd = getenv("POLLUX_LOAD");

	px_cli_init("pollux-scale", argc, argv);
	int c;
	while ((c = getopt_long(argc, argv, ":a:b:d:f:qvw:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o->nbackends = px_opt_backends(PX_BACKENDS_LIST | PX_BACKENDS_ALL,
			                               o->backends, SCALE_MAX_BACKENDS);
			break;
		case 'f':
			parse_fds(o);
			o->fds_given = 1;
			break;
		case 'a': o->active = px_opt_ulong(1, 1000000); break;
		case 'd':
			o->duration = px_opt_duration(0.1, 86400, 0);
			have_dur = 1;
			break;
		case 'w':
			o->warmup = px_opt_duration(0, 3600, 1);
			have_warm = 1;
			break;
		case OPT_QUICK: o->quick = 1; break;
		case 'q': o->quiet = 1; break;
		case 'v': scale_verbose = 1; break;
		case OPT_CSV: o->csv = px_opt_nonempty("a file name ('-': standard output)"); break;
		case OPT_JSON: o->json = px_opt_nonempty("a file name ('-': standard output)"); break;
		case OPT_PLOT: o->plot = px_opt_nonempty("a file name ending in .svg"); break;
		case OPT_SERVER: o->server_cmd = px_opt_nonempty("a path"); break;
		case OPT_LOAD: o->load_cmd = px_opt_nonempty("a path"); break;
		case OPT_NOPROG: no_progress = 1; break;
		case OPT_PER_PROC:
			o->fds_per_process = px_opt_ulong(1, 10000000);
			o->per_given = 1;
			break;
		case OPT_LIST: px_list_backends(stdout); exit(0);
		case 'h': usage(stdout); exit(0);
		case 'V': px_print_version(); exit(0);
		default: px_getopt_error(c, longopts);
		}
	}
	px_no_operands();
	if (o->csv && o->json && strcmp(o->csv, "-") == 0 && strcmp(o->json, "-") == 0)
		px_usage_error("--csv - and --json - cannot both write to standard "
		               "output; give one a file name");
	/* pollux-scale's own waits go through the library's choice. */
	(void)px_env_backend();

	if (o->nbackends == 0) {
		const char *const *b = pollux_backends();
		/* Oldest first reads best: select, poll, epoll. */
		int n = 0;
		while (b[n])
			n++;
		for (int i = n - 1; i >= 0 && o->nbackends < SCALE_MAX_BACKENDS; i--)
			o->backends[o->nbackends++] = b[i];
	}
	if (!o->fds_given) {
		const unsigned long *d = o->quick ? quick_fds : default_fds;
		size_t n = o->quick ? sizeof quick_fds / sizeof quick_fds[0]
		                    : sizeof default_fds / sizeof default_fds[0];
		for (size_t i = 0; i < n; i++)
			o->fds[o->nfds++] = d[i];
	}
	if (!have_dur)
		o->duration = o->quick ? 1.0 : 5.0;
	if (!have_warm)
		o->warmup = o->quick ? 0.5 : 1.0;
	o->progress = !no_progress && !o->quiet && isatty(2);
}
