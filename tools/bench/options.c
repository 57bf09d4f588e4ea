/* options.c: pollux-bench's command line, in the tools' shared conventions
 * (tools/common/CONVENTIONS.md). */
#include "toolconfig.h"
#include "bench.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pollux.h"

enum { OPT_WRITES = 256, OPT_MAXTIME, OPT_SWEEP, OPT_RAW, OPT_CSV, OPT_LIST };

static const struct option longopts[] = {
	{ "backend", required_argument, NULL, 'b' },
	{ "pairs", required_argument, NULL, 'p' },
	{ "active", required_argument, NULL, 'a' },
	{ "writes", required_argument, NULL, OPT_WRITES },
	{ "runs", required_argument, NULL, 'r' },
	{ "max-time", required_argument, NULL, OPT_MAXTIME },
	{ "sweep", no_argument, NULL, OPT_SWEEP },
	{ "raw", no_argument, NULL, OPT_RAW },
	{ "csv", required_argument, NULL, OPT_CSV },
	{ "list-backends", no_argument, NULL, OPT_LIST },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* Prints the usage text, naming the backends this libpollux has. */
static void help(void)
{
	char built[128];
	px_backends_joined(built, sizeof built, " ");
	printf(
"Usage: " PROG " [OPTION]...\n"
"The pipe benchmark: PAIRS socketpairs registered for input, ACTIVE of them\n"
"get a byte, each readable one reads it and passes a byte on to the next\n"
"pair while WRITES last. Only the dispatch is timed.\n"
"\n"
"  -a, --active N          pairs primed with a byte (default 1)\n"
"  -b, --backend LIST      backends to run: names separated by commas, auto\n"
"                          (POLLUX_BACKEND or the library's choice) or all\n"
"                          (default all built: %s)\n"
"  -p, --pairs N           socketpairs (default 100)\n"
"  -q, --quiet             no notes on stderr, only the results and errors\n"
"  -r, --runs N            timed runs; median and min are printed (default 25)\n"
"      --writes N          writes per run (default: the number of pairs)\n"
"      --max-time D        stop a backend's runs (at least 3) once they took\n"
"                          this long (10s, 500ms, 2m; default none, 20s with\n"
"                          --sweep); the runs column says how many ran\n"
"      --sweep             pairs over 10, 100, 1000, 10000 (capped by\n"
"                          RLIMIT_NOFILE)\n"
"      --raw               also run select/poll/epoll_wait/kevent/io_uring\n"
"                          directly, no library, and print lib/raw: the\n"
"                          median of each library run's time over the raw\n"
"                          run next to it\n"
"      --csv FILE          the results as CSV with a header line ('-':\n"
"                          standard output, in place of the table)\n"
"      --list-backends     print the backends built in, one per line\n"
"  -h, --help              show this help\n"
"  -V, --version           show the version\n"
"\n"
"Columns: median_us and min_us per run; ns_per_event = median / (ACTIVE+WRITES).\n"
"Exit status: 0 when every backend ran, 1 when one failed, 2 on bad usage.\n",
	       built);
}

void bench_options(struct opts *o, int argc, char **argv)
{
	memset(o, 0, sizeof *o);
	o->n = 100;
	o->active = 1;
	o->runs = 25;
	px_cli_init(PROG, argc, argv);
	int c;
	while ((c = getopt_long(argc, argv, ":a:b:p:qr:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o->nbackends = px_opt_backends(PX_BACKENDS_LIST | PX_BACKENDS_ALL,
			                               o->backends, BENCH_MAX_BACKENDS);
			o->named = strcmp(optarg, "all") != 0;
			break;
		case 'p':
			o->n = px_opt_ulong(1, 1ul << 24);
			o->have_n = 1;
			break;
		case 'a': o->active = px_opt_ulong(1, 1ul << 24); break;
		case OPT_WRITES:
			o->writes = px_opt_ulong(0, 1000000000ul);
			o->have_w = 1;
			break;
		case 'r': o->runs = px_opt_ulong(1, 100000); break;
		case OPT_MAXTIME: o->max_s = px_opt_duration(0.001, 1e6, 0); break;
		case OPT_SWEEP: o->sweep = 1; break;
		case OPT_RAW: o->raw = 1; break;
		case OPT_CSV: o->csv = px_opt_nonempty("a file name ('-': standard output)"); break;
		case OPT_LIST: px_list_backends(stdout); exit(0);
		case 'q': o->quiet = 1; break;
		case 'h': help(); exit(0);
		case 'V': px_print_version(); exit(0);
		default: px_getopt_error(c, longopts);
		}
	}
	px_no_operands();
	if (o->sweep && o->have_n)
		px_usage_error("--sweep chooses the pairs itself; drop --pairs or --sweep");
	/* A select or poll run at n=10000 takes 15-25 s on a small machine:
	 * without a budget the sweep would take most of an hour. */
	if (o->sweep && o->max_s == 0)
		o->max_s = 20.0;
	if (o->nbackends == 0) {
		/* Every backend built; POLLUX_BACKEND plays no part here. */
		const char *const *b = pollux_backends();
		for (int i = 0; b && b[i] && o->nbackends < BENCH_MAX_BACKENDS; i++)
			o->backends[o->nbackends++] = b[i];
		if (o->nbackends == 0)
			px_die("libpollux lists no backends: rebuild it");
	}
}
