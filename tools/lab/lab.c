/* lab.c: pollux-lab's command line (list, one lesson, all), the text a
 * lesson prints (question, setup, table, verdict, progress line) and the
 * JSON file that records it with the machine it ran on. */
#include <config.h>
#include "lab.h"
#include "common.h"
#include "pollux.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

enum { OPT_QUICK = 256, OPT_JSON, OPT_PLOT, OPT_SECONDS, OPT_LIST, OPT_NOPROGRESS };

static const struct option longopts[] = {
	{ "quick", no_argument, NULL, OPT_QUICK },
	{ "json", required_argument, NULL, OPT_JSON },
	{ "plot", required_argument, NULL, OPT_PLOT },
	{ "backend", required_argument, NULL, 'b' },
	{ "seconds", required_argument, NULL, OPT_SECONDS },
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
	      "                  [--seconds S] [-q]\n"
	      "       " LAB_NAME " all [--quick] [--json DIR] [--plot DIR]\n"
	      "The course of pollux-labs(7): each lesson runs servers and clients on\n"
	      "127.0.0.1, measures one effect of how servers scale, and says whether\n"
	      "this machine showed it.\n\n"
	      "  list                 the lessons, one line each with its question\n"
	      "      --quick          the short form of a lesson (at most 15 s)\n"
	      "      --json FILE      the result as JSON ('-': stdout); with all, a\n"
	      "                       directory that gets LESSON.json per lesson\n"
	      "      --plot FILE.svg  draw the lesson's picture (gnuplot); with all, a\n"
	      "                       directory that gets LESSON.svg\n"
	      "  -b, --backend NAME   the pollux backend where the lesson uses one\n"
	      "                       (default: the lesson's choice)\n"
	      "      --list-backends  print the backends built in, one per line\n"
	      "      --seconds S      how long each measured phase runs\n"
	      "      --no-progress    no progress line even on a terminal\n"
	      "  -q, --quiet          print only the verdict lines\n"
	      "  -h, --help           show this help\n"
	      "  -V, --version        show the version\n\n"
	      "Exit status: 0 when every lesson run showed its effect, 1 when one did\n"
	      "not (its verdict says why) or failed, 2 on bad usage.\n", f);
}

__attribute__((format(printf, 1, 2), noreturn))
static void bad_usage(const char *fmt, ...)
{
	va_list ap;
	fputs(LAB_NAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see " LAB_NAME " --help)\n", stderr);
	exit(LAB_USAGE);
}

static void lesson_names(FILE *f)
{
	for (int i = 0; lab_lessons[i]; i++)
		fprintf(f, "%s%s", i ? ", " : "", lab_lessons[i]->name);
}

const struct lesson *lab_find(const char *name)
{
	for (int i = 0; lab_lessons[i]; i++)
		if (strcmp(lab_lessons[i]->name, name) == 0)
			return lab_lessons[i];
	return NULL;
}

/* ---- text ---- */

static int progress_shown;

void lab_progress(struct lab *L, const char *fmt, ...)
{
	if (!L->o->progress)
		return;
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (!*line) {
		if (progress_shown)
			fputs("\r\033[K", stderr);
		progress_shown = 0;
		return;
	}
	fprintf(stderr, "\r\033[K%s: %s [%.0f s]", L->lesson->name, line,
	        lab_now_s() - (double)L->start_us / 1e6);
	progress_shown = 1;
}

static void vprint(struct lab *L, const char *prefix, const char *fmt, va_list ap)
{
	if (L->o->quiet)
		return;
	lab_progress(L, "%s", "");
	fputs(prefix, L->out);
	vfprintf(L->out, fmt, ap);
	fflush(L->out);
}

void lab_setup(struct lab *L, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint(L, "setup: ", fmt, ap);
	va_end(ap);
	if (!L->o->quiet)
		fputc('\n', L->out);
}

void lab_printf(struct lab *L, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint(L, "", fmt, ap);
	va_end(ap);
}

int lab_verdict(struct lab *L, int observed, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(L->verdict, sizeof L->verdict, fmt, ap);
	va_end(ap);
	L->observed = observed;
	return observed ? LAB_OBSERVED : LAB_NOT_OBSERVED;
}

int lab_fail(struct lab *L, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(L->verdict, sizeof L->verdict, fmt, ap);
	va_end(ap);
	L->observed = 0;
	lab_progress(L, "%s", "");
	fprintf(stderr, LAB_NAME " %s: %s\n", L->lesson->name, L->verdict);
	return LAB_NOT_OBSERVED;
}

const char *lab_commas(char *buf, size_t n, unsigned long long v)
{
	char digits[32];
	int len = snprintf(digits, sizeof digits, "%llu", v);
	size_t o = 0;
	for (int i = 0; i < len && o + 1 < n; i++) {
		if (i && (len - i) % 3 == 0 && o + 2 < n)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

const char *lab_fmt(char *buf, size_t n, double v, int decimals)
{
	if (isnan(v))
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.*f", decimals, v);
	return buf;
}

/* ---- the JSON file ---- */

static double loadavg(void)
{
	double v[1];
	return getloadavg(v, 1) == 1 ? v[0] : NAN;
}

static void write_json(FILE *f, struct lab *L, double load0, double load1)
{
	struct jw m;
	jw_init(&m);
	struct utsname u;
	char kernel[256] = "";
	if (uname(&u) == 0)
		snprintf(kernel, sizeof kernel, "%s %s %s", u.sysname, u.release, u.machine);
	struct rlimit rl;
	jw_int(&m, "cores", sysconf(_SC_NPROCESSORS_ONLN));
	jw_str(&m, "kernel", kernel);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		jw_int(&m, "rlimit_nofile", (long long)rl.rlim_cur);
	else
		jw_null(&m, "rlimit_nofile");
	jw_num(&m, "load_before", load0);
	jw_num(&m, "load_after", load1);

	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);

	fputs("{\"lesson\":", f);
	px_json_string(f, L->lesson->name);
	fputs(",\"question\":", f);
	px_json_string(f, L->lesson->question);
	fputs(",\"pollux_version\":", f);
	px_json_string(f, pollux_version());
	fputs(",\"time\":", f);
	px_json_string(f, when);
	fprintf(f, ",\"quick\":%s", L->o->quick ? "true" : "false");
	fprintf(f, ",\"machine\":%s", jw_text(&m));
	fprintf(f, ",\"settings\":%s", jw_text(&L->settings));
	fprintf(f, ",\"measurements\":%s", jw_text(&L->meas));
	fprintf(f, ",\"observed\":%s,\"verdict\":", L->observed ? "true" : "false");
	px_json_string(f, L->verdict);
	fputs("}\n", f);
	jw_free(&m);
}

/* Runs one lesson; returns its exit status (0 observed, 1 not). */
static int run_lesson(const struct lesson *l, const struct lab_opts *o)
{
	struct lab lab;
	struct lab *L = &lab;
	memset(L, 0, sizeof *L);
	L->o = o;
	L->lesson = l;
	L->start_us = px_now_us();
	L->out = o->json && strcmp(o->json, "-") == 0 ? stderr : stdout;
	jw_init(&L->settings);
	jw_init(&L->meas);
	FILE *jf = NULL;
	/* A path that cannot be written is told now, not after the run. */
	if (o->json && strcmp(o->json, "-") != 0 && !(jf = fopen(o->json, "w"))) {
		fprintf(stderr, LAB_NAME ": cannot write --json %s: %s\n", o->json, strerror(errno));
		jw_free(&L->settings);
		jw_free(&L->meas);
		return LAB_NOT_OBSERVED;
	}
	if (!o->quiet) {
		fprintf(L->out, "%s: %s\n", l->name, l->question);
		fflush(L->out);
	}
	double load0 = loadavg();
	int rc = l->run(L);
	lab_release(L);
	lab_progress(L, "%s", "");
	if (lab_stopped()) {
		rc = LAB_NOT_OBSERVED;
		L->observed = 0;
		snprintf(L->verdict, sizeof L->verdict,
		         "stopped by a signal before the lesson finished; every server "
		         "and client it started has been ended");
	} else if (!L->verdict[0]) {
		rc = LAB_NOT_OBSERVED;
		snprintf(L->verdict, sizeof L->verdict,
		         "the lesson could not run (see the message above)");
	}
	if (rc != LAB_OBSERVED)
		L->observed = 0;
	fprintf(L->out, "%s: %s\n", L->observed ? "observed" : "NOT observed", L->verdict);
	if (!o->quiet)
		fputc('\n', L->out);
	fflush(L->out);
	if (o->json) {
		FILE *f = jf ? jf : stdout;
		write_json(f, L, load0, loadavg());
		if (jf && fclose(jf) != 0) {
			fprintf(stderr, LAB_NAME ": writing --json %s: %s\n", o->json, strerror(errno));
			rc = LAB_NOT_OBSERVED;
		}
		fflush(stdout);
	}
	jw_free(&L->settings);
	jw_free(&L->meas);
	return L->observed ? LAB_OBSERVED : LAB_NOT_OBSERVED;
}

static char *join(const char *dir, const char *name, const char *ext)
{
	size_t n = strlen(dir) + strlen(name) + strlen(ext) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s%s", dir, name, ext);
	return p;
}

static void need_dir(const char *opt, const char *dir)
{
	struct stat st;
	if (stat(dir, &st) < 0 && mkdir(dir, 0777) < 0) {
		fprintf(stderr, LAB_NAME ": cannot make %s directory %s: %s\n", opt, dir,
		        strerror(errno));
		exit(1);
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, LAB_NAME ": with all, %s names a directory; %s is not one\n",
		        opt, dir);
		exit(LAB_USAGE);
	}
}

static int run_all(const struct lab_opts *o)
{
	if (o->json)
		need_dir("--json", o->json);
	if (o->plot)
		need_dir("--plot", o->plot);
	int rc = 0, n = 0, seen = 0;
	double t0 = lab_now_s();
	for (int i = 0; lab_lessons[i] && !lab_stopped(); i++) {
		const struct lesson *l = lab_lessons[i];
		struct lab_opts one = *o;
		char *json = o->json ? join(o->json, l->name, ".json") : NULL;
		char *plot = o->plot && l->plots ? join(o->plot, l->name, ".svg") : NULL;
		one.json = json;
		one.plot = plot;
		int r = run_lesson(l, &one);
		n++;
		seen += r == LAB_OBSERVED;
		if (r != LAB_OBSERVED)
			rc = LAB_NOT_OBSERVED;
		free(json);
		free(plot);
	}
	printf("all: %d of %d lessons observed in %.0f s\n", seen, n, lab_now_s() - t0);
	return lab_stopped() ? LAB_NOT_OBSERVED : rc;
}

int main(int argc, char **argv)
{
	struct lab_opts o;
	memset(&o, 0, sizeof o);
	o.argv0 = argv[0];
	int no_progress = 0;
	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, ":b:qhV", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_QUICK: o.quick = 1; break;
		case OPT_JSON:
			if (!*optarg)
				bad_usage("--json needs a file name ('-' for stdout)");
			o.json = optarg;
			break;
		case OPT_PLOT:
			if (!*optarg)
				bad_usage("--plot needs a file name");
			o.plot = optarg;
			break;
		case 'b': {
			if (!*optarg)
				bad_usage("--backend needs a name (see --list-backends)");
			pollux_t *p = pollux_new(optarg);
			if (!p) {
				const char *const *b = pollux_backends();
				fprintf(stderr, LAB_NAME ": backend '%s' is not built here; use one of: ",
				        optarg);
				for (int i = 0; b && b[i]; i++)
					fprintf(stderr, "%s%s", i ? ", " : "", b[i]);
				fputc('\n', stderr);
				return LAB_USAGE;
			}
			pollux_free(p);
			o.backend = optarg;
			break;
		}
		case OPT_SECONDS:
			if (px_parse_double(optarg, 3600, &o.seconds) < 0 || o.seconds < 0.1)
				bad_usage("--seconds needs seconds from 0.1 to 3600, not '%s'", optarg);
			break;
		case OPT_LIST: {
			const char *const *b = pollux_backends();
			for (int i = 0; b && b[i]; i++)
				puts(b[i]);
			return 0;
		}
		case OPT_NOPROGRESS: no_progress = 1; break;
		case 'q': o.quiet = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf(LAB_NAME " (pollux) %s\n", pollux_version()); return 0;
		case ':': bad_usage("option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt)
				bad_usage("unknown option '-%c'", optopt);
			bad_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		bad_usage("name a lesson, 'all' or 'list'");
	if (optind + 1 < argc)
		bad_usage("one lesson at a time, not '%s' after '%s'", argv[optind + 1], argv[optind]);
	const char *cmd = argv[optind];
	o.progress = !o.quiet && !no_progress && isatty(2);

	if (strcmp(cmd, "list") == 0) {
		for (int i = 0; lab_lessons[i]; i++)
			printf("%-10s %s\n", lab_lessons[i]->name, lab_lessons[i]->question);
		return 0;
	}
	const struct lesson *l = strcmp(cmd, "all") == 0 ? NULL : lab_find(cmd);
	if (!l && strcmp(cmd, "all") != 0) {
		fprintf(stderr, LAB_NAME ": no lesson '%s'; the lessons are: ", cmd);
		lesson_names(stderr);
		fputs(" (or all, list)\n", stderr);
		return LAB_USAGE;
	}
	if (o.json && strcmp(o.json, "-") == 0 && !l)
		bad_usage("with all, --json names a directory, not '-'");

	(void)px_raise_nofile();
	if (scale_signals_init() < 0) {
		fprintf(stderr, LAB_NAME ": cannot set up signal handling: %s\n", strerror(errno));
		return 1;
	}
	int rc = l ? run_lesson(l, &o) : run_all(&o);
	return rc;
}
