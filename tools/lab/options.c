/* options.c: pollux-lab's command line, in the tools' shared conventions
 * (tools/common/CONVENTIONS.md): the options, then one command, "list",
 * "all" or a lesson. */
#include "toolconfig.h"
#include "lab.h"
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { OPT_QUICK = 256, OPT_JSON, OPT_PLOT, OPT_LIST, OPT_NOPROGRESS };

static const struct option longopts[] = {
	{ "quick", no_argument, NULL, OPT_QUICK },
	{ "json", required_argument, NULL, OPT_JSON },
	{ "plot", required_argument, NULL, OPT_PLOT },
	{ "backend", required_argument, NULL, 'b' },
	{ "duration", required_argument, NULL, 'd' },
	{ "seconds", required_argument, NULL, 'd' },	/* its first name */
	{ "list-backends", no_argument, NULL, OPT_LIST },
	{ "no-progress", no_argument, NULL, OPT_NOPROGRESS },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static void usage(FILE *f)
{
	fputs("Usage: " LAB_NAME " list\n"
	      "       " LAB_NAME " LESSON [--quick] [--json FILE] [--plot FILE.svg] [-b BACKEND]\n"
	      "                  [-d DURATION] [-q]\n"
	      "       " LAB_NAME " all [--quick] [--json DIR] [--plot DIR]\n"
	      "The course of pollux-labs(7): each lesson runs servers and clients on\n"
	      "127.0.0.1, measures one effect of how servers scale, and says whether\n"
	      "this machine showed it.\n\n"
	      "  list                 the lessons, one line each with its question\n"
	      "  -b, --backend NAME   the pollux backend where the lesson uses one, or\n"
	      "                       auto (default: the lesson's choice)\n"
	      "  -d, --duration D     how long each measured phase runs (10s, 500ms;\n"
	      "                       a plain number is seconds; also --seconds)\n"
	      "  -q, --quiet          print only the verdict lines\n"
	      "      --quick          the short form of a lesson (at most 15 s)\n"
	      "      --json FILE      the result as JSON ('-': stdout); with all, a\n"
	      "                       directory that gets LESSON.json per lesson\n"
	      "      --plot FILE.svg  draw the lesson's picture (gnuplot); with all, a\n"
	      "                       directory that gets LESSON.svg\n"
	      "      --list-backends  print the backends built in, one per line\n"
	      "      --no-progress    no progress line even on a terminal\n"
	      "  -h, --help           show this help\n"
	      "  -V, --version        show the version\n\n"
	      "Exit status: 0 when every lesson run showed its effect, 1 when one did\n"
	      "not (its verdict says why) or failed, 2 on bad usage.\n", f);
}

static void no_lesson(const char *cmd)
{
	char names[512] = "";
	for (int i = 0; lab_lessons[i]; i++) {
		size_t len = strlen(names);
		snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "",
		         lab_lessons[i]->name);
	}
	px_usage_error("no lesson '%s'; the lessons are: %s (or all, list)", cmd, names);
}

const char *lab_options(struct lab_opts *o, int argc, char **argv)
{
	memset(o, 0, sizeof *o);
	o->argv0 = argv[0];
	int no_progress = 0;
	px_cli_init(LAB_NAME, argc, argv);
	int ch;
	while ((ch = getopt_long(argc, argv, ":b:d:qhV", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_QUICK: o->quick = 1; break;
		case OPT_JSON: o->json = px_opt_nonempty("a file name ('-': standard output)"); break;
		case OPT_PLOT: o->plot = px_opt_nonempty("a file name"); break;
		case 'b': o->backend = px_opt_backend(); break;
		case 'd': o->seconds = px_opt_duration(0.1, 3600, 0); break;
		case OPT_LIST: px_list_backends(stdout); exit(0);
		case OPT_NOPROGRESS: no_progress = 1; break;
		case 'q': o->quiet = 1; break;
		case 'h': usage(stdout); exit(0);
		case 'V': px_print_version(); exit(0);
		default: px_getopt_error(ch, longopts);
		}
	}
	if (optind >= argc)
		px_usage_error("name a lesson, 'all' or 'list'");
	if (optind + 1 < argc)
		px_usage_error("one lesson at a time, not '%s' after '%s'", argv[optind + 1],
		               argv[optind]);
	const char *cmd = argv[optind];
	if (strcmp(cmd, "list") != 0 && strcmp(cmd, "all") != 0 && !lab_find(cmd))
		no_lesson(cmd);
	if (o->json && strcmp(o->json, "-") == 0 && strcmp(cmd, "all") == 0)
		px_usage_error("with all, --json names a directory, not '-'");
	/* The lab's own waits (and the servers it starts without -b) follow
	 * the library's choice: a bad POLLUX_BACKEND is told now. */
	if (strcmp(cmd, "list") != 0)
		(void)px_env_backend();
	o->progress = !o->quiet && !no_progress && isatty(2);
	return cmd;
}
