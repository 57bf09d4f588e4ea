/* lab.c: pollux-lab's command line (list, one lesson, all), the text a
 * lesson prints (question, setup, table, verdict, progress line) and the
 * JSON file that records it with the machine it ran on. */
#include "toolconfig.h"
#include "lab.h"
#include "cli.h"
#include "common.h"
#include "meta.h"
#include "pollux.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* Writes text to f in lines of at most width columns: the first after
 * first, the rest after indent. */
static void wrap_to(FILE *f, int width, const char *first, const char *indent,
                    const char *text)
{
	const char *pre = first;
	while (*text) {
		int room = width - (int)strlen(pre);
		int n = (int)strcspn(text, "\n");
		if (n > room) {
			n = room;
			while (n > 0 && text[n] != ' ')
				n--;
			if (n == 0)	/* one word longer than the line */
				n = (int)strcspn(text, " \n");
		}
		fprintf(f, "%s%.*s\n", pre, n, text);
		text += n;
		while (*text == ' ' || *text == '\n')
			text++;
		pre = indent;
	}
}

void lab_setup(struct lab *L, const char *fmt, ...)
{
	if (L->o->quiet)
		return;
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	lab_progress(L, "%s", "");
	wrap_to(L->out, 80, "setup: ", "       ", text);
	fflush(L->out);
}

void lab_printf(struct lab *L, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint(L, "", fmt, ap);
	va_end(ap);
}


void lab_wrap(struct lab *L, const char *indent, const char *text)
{
	if (L->o->quiet)
		return;
	lab_progress(L, "%s", "");
	wrap_to(L->out, 72, indent, indent, text);
	fflush(L->out);
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

/* The metadata every tool's JSON carries (tools/common/meta.h), with the
 * lab's one more fact about the machine, its descriptor limit, inside
 * "machine" where the lab has always had it: px_meta_json ends with that
 * object's closing brace, so the key goes in before it. */
static void write_meta(FILE *f, const struct px_meta *meta)
{
	char *mb = NULL;
	size_t ml = 0;
	FILE *mf = open_memstream(&mb, &ml);
	if (!mf) {
		px_meta_json(f, meta);
		return;
	}
	px_meta_json(mf, meta);
	fclose(mf);
	int inside = ml > 0 && mb[ml - 1] == '}';
	fwrite(mb, 1, inside ? ml - 1 : ml, f);
	free(mb);
	struct rlimit rl;
	fputs(", \"rlimit_nofile\": ", f);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		fprintf(f, "%llu", (unsigned long long)rl.rlim_cur);
	else
		fputs("null", f);
	if (inside)
		fputc('}', f);
}

static void write_json(FILE *f, struct lab *L, const struct px_meta *meta)
{
	fputs("{\"lesson\":", f);
	px_json_string(f, L->lesson->name);
	fputs(",\"question\":", f);
	px_json_string(f, L->lesson->question);
	fputc(',', f);
	write_meta(f, meta);
	fprintf(f, ",\"quick\":%s", L->o->quick ? "true" : "false");
	fprintf(f, ",\"settings\":%s", jw_text(&L->settings));
	fprintf(f, ",\"measurements\":%s", jw_text(&L->meas));
	fprintf(f, ",\"observed\":%s,\"verdict\":", L->observed ? "true" : "false");
	px_json_string(f, L->verdict);
	fputs("}\n", f);
}

/* Started with stdout closed: the text and the verdict go nowhere. */
static int stdout_closed;

/* Descriptors 0-2 stay taken (by /dev/null) when we were started without
 * them, so that no socket of a lesson becomes "stdout" by accident. */
static void stdio_keep(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			if (fd == 1)
				stdout_closed = 1;
			if (open("/dev/null", O_RDWR) != fd)
				exit(1);
		}
}

/* The same options without --plot, for a lesson that draws nothing. */
static const struct lab_opts *plot_off(const struct lab_opts *o)
{
	static struct lab_opts copy;
	copy = *o;
	copy.plot = NULL;
	return &copy;
}

/* Can gnuplot write the picture there? Told before the run, like --json;
 * a file made only to find out is removed again. */
static int plot_writable(const char *path)
{
	int existed = access(path, F_OK) == 0;
	FILE *f = fopen(path, "a");
	if (!f) {
		fprintf(stderr, LAB_NAME ": cannot write --plot %s: %s\n", path, strerror(errno));
		return 0;
	}
	fclose(f);
	if (!existed)
		(void)unlink(path);
	return 1;
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
	if (o->json && strcmp(o->json, "-") != 0 && !(jf = px_open_out("--json", o->json))) {
		jw_free(&L->settings);
		jw_free(&L->meas);
		return LAB_NOT_OBSERVED;
	}
	if (o->plot && !l->plots) {
		fprintf(stderr, LAB_NAME ": %s draws no picture (blocking, triggers, scaling and "
		        "async do); --plot ignored\n", l->name);
		L->o = o = plot_off(o);
	} else if (o->plot && !plot_writable(o->plot)) {
		if (jf)
			fclose(jf);
		jw_free(&L->settings);
		jw_free(&L->meas);
		return LAB_NOT_OBSERVED;
	}
	if (!o->quiet) {
		char first[32];
		snprintf(first, sizeof first, "%s: ", l->name);
		wrap_to(L->out, 80, first, "  ", l->question);
		fflush(L->out);
	}
	struct px_meta meta;
	px_meta_begin(&meta);
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
	/* One line each with -q, for scripts that grep; wrapped for people. */
	const char *tag = L->observed ? "observed: " : "NOT observed: ";
	if (o->quiet)
		fprintf(L->out, "%s%s\n", tag, L->verdict);
	else
		wrap_to(L->out, 80, tag, "  ", L->verdict);
	if (!o->quiet)
		fputc('\n', L->out);
	fflush(L->out);
	if (o->json) {
		FILE *f = jf ? jf : stdout;
		px_meta_end(&meta);
		write_json(f, L, &meta);
		if (jf && (ferror(jf) | fclose(jf)) != 0) {
			fprintf(stderr, LAB_NAME ": writing --json %s: %s\n", o->json, strerror(errno));
			rc = LAB_NOT_OBSERVED;
		}
	}
	/* A result nobody could read is no success (a full disk, a closed
	 * or broken stdout): say so, exit 1. */
	if (stdout_closed || fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, LAB_NAME ": cannot write to standard output: %s\n",
		        strerror(stdout_closed ? EBADF : errno));
		rc = LAB_NOT_OBSERVED;
	}
	jw_free(&L->settings);
	jw_free(&L->meas);
	return L->observed && rc == LAB_OBSERVED ? LAB_OBSERVED : LAB_NOT_OBSERVED;
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
	int total = 0;
	while (lab_lessons[total])
		total++;
	if (lab_stopped())
		printf("all: stopped by a signal during lesson %d of %d (%s); %d observed before it\n",
		       n, total, lab_lessons[n - 1]->name, seen);
	else
		printf("all: %d of %d lessons observed in %.0f s\n", seen, n, lab_now_s() - t0);
	return lab_stopped() ? LAB_NOT_OBSERVED : rc;
}

int main(int argc, char **argv)
{
	stdio_keep();
	struct lab_opts o;
	const char *cmd = lab_options(&o, argc, argv);
	if (strcmp(cmd, "list") == 0) {
		for (int i = 0; lab_lessons[i]; i++)
			printf("%-10s %s\n", lab_lessons[i]->name, lab_lessons[i]->question);
		return 0;
	}
	const struct lesson *l = strcmp(cmd, "all") == 0 ? NULL : lab_find(cmd);
	(void)px_raise_nofile();
	if (scale_signals_init() < 0) {
		fprintf(stderr, LAB_NAME ": cannot set up signal handling: %s\n", strerror(errno));
		return 1;
	}
	return l ? run_lesson(l, &o) : run_all(&o);
}
