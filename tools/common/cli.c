/* cli.c: the one wording of every usage mistake, the backend-name check,
 * durations with units and limits as people read them, for all the pollux
 * tools (CONVENTIONS.md). Asks the library through pollux.h only. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pollux.h"

static const char *g_prog = "pollux";
static char **g_argv;
static int g_argc;

void px_cli_init(const char *prog, int argc, char **argv)
{
	g_prog = prog;
	g_argc = argc;
	g_argv = argv;
	opterr = 0;
}

const char *px_cli_prog(void)
{
	return g_prog;
}

static void vline(const char *fmt, va_list ap, const char *tail)
{
	/* One write as far as stdio goes: lines of tools run side by side
	 * (scale runs server and load) do not interleave mid-line. */
	char msg[1024], safe[4 * sizeof msg];
	vsnprintf(msg, sizeof msg, fmt, ap);
	/* A value the user typed may hold a CR, a newline or an escape
	 * sequence: shown as \r, \n, \e or \xHH, so that the line stays one
	 * line and the terminal is not driven by it. */
	size_t o = 0;
	for (const unsigned char *c = (const unsigned char *)msg; *c; c++) {
		if (*c >= 0x20 && *c != 0x7f) {
			safe[o++] = (char)*c;
			continue;
		}
		const char *e = *c == '\r' ? "\\r" : *c == '\n' ? "\\n" :
		                *c == '\t' ? "\\t" : *c == 0x1b ? "\\e" : NULL;
		if (e)
			o += (size_t)snprintf(safe + o, sizeof safe - o, "%s", e);
		else
			o += (size_t)snprintf(safe + o, sizeof safe - o, "\\x%02x", *c);
	}
	safe[o] = '\0';
	fflush(stdout);
	fprintf(stderr, "%s: %s%s\n", g_prog, safe, tail);
}

void px_usage_error(const char *fmt, ...)
{
	char tail[128];
	snprintf(tail, sizeof tail, " (see %s --help)", g_prog);
	va_list ap;
	va_start(ap, fmt);
	vline(fmt, ap, tail);
	va_end(ap);
	exit(PX_EXIT_USAGE);
}

void px_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vline(fmt, ap, "");
	va_end(ap);
	exit(PX_EXIT_FAIL);
}

void px_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vline(fmt, ap, "");
	va_end(ap);
}

/* ---- getopt_long ----------------------------------------------------- */

static const char *word_at(int i)
{
	return g_argv && i >= 0 && i < g_argc && g_argv[i] ? g_argv[i] : "";
}

static int is_long_word(const char *w)
{
	return w[0] == '-' && w[1] == '-' && w[2] != '\0';
}

/* The long options whose names start with the n bytes at name. */
static int prefix_matches(const struct option *longopts, const char *name,
                          size_t n, const struct option **only, int *exact)
{
	int count = 0;
	*exact = 0;
	*only = NULL;
	for (const struct option *o = longopts; o && o->name; o++) {
		if (strncmp(o->name, name, n) != 0)
			continue;
		if (strlen(o->name) == n) {
			*exact = 1;
			*only = o;
			return 1;
		}
		count++;
		*only = o;
	}
	return count;
}

void px_getopt_error(int ch, const struct option *longopts)
{
	const char *w = word_at(optind - 1);
	if (ch == ':') {
		if (is_long_word(w))
			px_usage_error("option '%.*s' needs a value", (int)strcspn(w, "="), w);
		px_usage_error("option '-%c' needs a value", optopt);
	}
	size_t n = is_long_word(w) ? strcspn(w + 2, "=") : 0;
	const struct option *o = NULL;
	int exact = 0;
	int count = is_long_word(w) ? prefix_matches(longopts, w + 2, n, &o, &exact) : 0;
	if (optopt == 0 && is_long_word(w)) {
		if (count > 1 && !exact) {
			char list[512] = "";
			for (const struct option *p = longopts; p->name; p++) {
				if (strncmp(p->name, w + 2, n) != 0)
					continue;
				size_t len = strlen(list);
				snprintf(list + len, sizeof list - len, "%s--%s", len ? ", " : "",
				         p->name);
			}
			px_usage_error("option '%.*s' is ambiguous (%s)", (int)n + 2, w, list);
		}
		px_usage_error("unknown option '%.*s'", (int)n + 2, w);
	}
	/* "--help=foo": getopt reports the option's value (here 'h') in
	 * optopt, as if "-h" were unknown; it is a value given to an option
	 * that takes none. */
	if (is_long_word(w) && w[2 + n] == '=' && count == 1 && o &&
	    o->has_arg == no_argument && o->val == optopt && !o->flag)
		px_usage_error("option '%.*s' takes no value", (int)n + 2, w);
	if (optopt > ' ' && optopt < 127)
		px_usage_error("unknown option '-%c'", optopt);
	px_usage_error("unknown option '%s'", w);
}

const char *px_opt_typed(void)
{
	static char buf[160];
	if (!optarg || optind < 1) {
		snprintf(buf, sizeof buf, "%s", "(option)");
		return buf;
	}
	const char *w;
	int attached;
	if (optind >= 2 && word_at(optind - 1) == optarg) {
		w = word_at(optind - 2);	/* "--pairs X", "-n X", "-qn X" */
		attached = 0;
	} else {
		w = word_at(optind - 1);	/* "--pairs=X", "-nX", "-qnX" */
		attached = 1;
	}
	if (is_long_word(w)) {
		snprintf(buf, sizeof buf, "%.*s", (int)strcspn(w, "="), w);
	} else {
		size_t len = strlen(w);
		char c = attached ? optarg[-1] : len ? w[len - 1] : '?';
		snprintf(buf, sizeof buf, "-%c", c);
	}
	return buf;
}

void px_bad_value(const char *fmt, ...)
{
	char what[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	px_usage_error("%s '%s': expected %s", px_opt_typed(), optarg ? optarg : "", what);
}

unsigned long px_opt_ulong(unsigned long min, unsigned long max)
{
	unsigned long v = 0;
	const char *s = optarg;
	int ok = s && *s >= '0' && *s <= '9';
	if (ok) {
		char *end;
		errno = 0;
		v = strtoul(s, &end, 10);
		ok = !errno && !*end && v >= min && v <= max;
	}
	if (!ok)
		px_bad_value("a whole number from %lu to %lu", min, max);
	return v;
}

/* Strict decimal: digits with at most one point, nothing else. */
static int parse_decimal(const char *s, size_t n, double *out)
{
	int digits = 0, points = 0;
	char tmp[64];
	if (n == 0 || n >= sizeof tmp)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else if (s[i] == '.' && !points++)
			continue;
		else
			return -1;
	}
	if (!digits)
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	double v = strtod(tmp, NULL);
	if (errno || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

double px_opt_double(double min, double max)
{
	double v;
	if (!optarg || parse_decimal(optarg, strlen(optarg), &v) < 0 || v < min || v > max)
		px_bad_value("a number from %.15g to %.15g", min, max);
	return v;
}

int px_parse_duration(const char *s, double max_s, double *out_s)
{
	static const struct { const char *unit; double scale; } units[] = {
		{ "us", 1e-6 }, { "ms", 1e-3 }, { "s", 1 }, { "m", 60 }, { "h", 3600 },
		{ "", 1 },
	};
	if (!s)
		return -1;
	size_t n = strspn(s, "0123456789.");
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(s + n, units[i].unit) != 0)
			continue;
		double v;
		if (parse_decimal(s, n, &v) < 0)
			return -1;
		v *= units[i].scale;
		if (!isfinite(v) || v > max_s)
			return -1;
		*out_s = v;
		return 0;
	}
	return -1;
}

const char *px_fmt_duration(char *buf, size_t n, double s)
{
	if (s == 0)
		snprintf(buf, n, "0s");
	else if (s < 1e-3)
		snprintf(buf, n, "%.6gus", s * 1e6);
	else if (s < 1)
		snprintf(buf, n, "%.6gms", s * 1e3);
	else if (s >= 3600 && fmod(s, 3600) == 0 && s < 1e9)
		snprintf(buf, n, "%.15gh", s / 3600);
	else if (s >= 60 && fmod(s, 60) == 0 && s < 1e9)
		snprintf(buf, n, "%.15gm", s / 60);
	else
		snprintf(buf, n, "%.15gs", s);
	return buf;
}

double px_opt_duration(double min_s, double max_s, int zero_ok)
{
	double v;
	if (!px_parse_duration(optarg, max_s, &v) && (v >= min_s || (zero_ok && v == 0)))
		return v;
	char lo[32], hi[32];
	px_fmt_duration(lo, sizeof lo, min_s);
	px_fmt_duration(hi, sizeof hi, max_s);
	/* Examples this option takes, each unit once, smallest first. */
	static const double ex[] = { 250e-6, 0.5, 10, 120 };
	const double *ok[4];
	int k = 0;
	for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++)
		if (ex[i] >= min_s && ex[i] <= max_s)
			ok[k++] = &ex[i];
	char eg[96] = "";
	size_t len = 0;
	for (int i = 0; i < k; i++) {
		char d[32];
		px_fmt_duration(d, sizeof d, *ok[i]);
		len += (size_t)snprintf(eg + len, sizeof eg - len, "%s%s",
		                        i == 0 ? "" : i == k - 1 ? " or " : ", ", d);
	}
	px_bad_value("%sa duration from %s to %s%s%s (a plain number is seconds)",
	             zero_ok ? "0 (off) or " : "", lo, hi, k ? ", such as " : "", eg);
}

const char *px_opt_nonempty(const char *what)
{
	if (!optarg || !*optarg)
		px_bad_value("%s", what);
	return optarg;
}

void px_no_operands(void)
{
	if (optind < g_argc)
		px_usage_error("unexpected argument '%s'", word_at(optind));
}

const char *px_fmt_limit(char *buf, size_t n, unsigned long long v)
{
	if (v >= (unsigned long long)LLONG_MAX)
		snprintf(buf, n, "unlimited");
	else
		snprintf(buf, n, "%llu", v);
	return buf;
}

/* ---- output files ---------------------------------------------------- */

FILE *px_open_out(const char *opt, const char *path)
{
	if (strcmp(path, "-") == 0)
		return stdout;
	FILE *f = fopen(path, "w");
	if (!f)
		px_warn("%s '%s': cannot create it: %s; check that the directory "
		        "exists and is writable", opt, path, strerror(errno));
	return f;
}

FILE *px_open_out_or_die(const char *opt, const char *path)
{
	FILE *f = px_open_out(opt, path);
	if (!f)
		exit(PX_EXIT_FAIL);
	return f;
}

/* ---- backends -------------------------------------------------------- */

const char *px_backends_joined(char *buf, size_t n, const char *sep)
{
	size_t len = 0;
	buf[0] = '\0';
	const char *const *b = pollux_backends();
	for (int i = 0; b && b[i] && len < n; i++) {
		snprintf(buf + len, n - len, "%s%s", i ? sep : "", b[i]);
		len = strlen(buf);
	}
	return buf;
}

static int is_built(const char *name)
{
	const char *const *b = pollux_backends();
	for (int i = 0; name && b && b[i]; i++)
		if (strcmp(b[i], name) == 0)
			return 1;
	return 0;
}

int px_backend_judge(const char *name, const char *source,
                     const char **chosen, char *err, size_t errlen)
{
	int from_env = source == NULL;
	if (!name || strcmp(name, "auto") == 0) {
		const char *env = getenv("POLLUX_BACKEND");
		name = NULL;
		if (env && *env && strcmp(env, "auto") != 0) {
			name = env;
			from_env = 1;
		}
	}
	pollux_t *p = pollux_new(name);
	if (p) {
		if (chosen)
			*chosen = pollux_backend(p);	/* static: outlives p */
		pollux_free(p);
		return PX_EXIT_OK;
	}
	int e = errno;
	char src[192], built[128];
	if (from_env)
		snprintf(src, sizeof src, "POLLUX_BACKEND='%s'", name ? name : "");
	else
		snprintf(src, sizeof src, "%s '%s'", source, name ? name : "");
	px_backends_joined(built, sizeof built, ", ");
	if (!name) {
		snprintf(err, errlen, "no backend of this libpollux (%s) can create a "
		         "poller here: %s", built, strerror(e));
		return PX_EXIT_FAIL;
	}
	if (e == EINVAL) {
		snprintf(err, errlen, "%s: unknown backend; built here: %s", src, built);
		return PX_EXIT_USAGE;
	}
	if (!is_built(name)) {
		snprintf(err, errlen, "%s: known to pollux but not built into this "
		         "libpollux; built here: %s", src, built);
		return PX_EXIT_USAGE;
	}
	snprintf(err, errlen, "%s: built but not usable here: %s", src,
	         e == ENOSYS ? "the kernel refuses it or lacks what it needs" : strerror(e));
	return PX_EXIT_FAIL;
}

/* Prints a judge's failure and exits with its status. */
PX_NORETURN static void backend_exit(int st, const char *err)
{
	if (st == PX_EXIT_USAGE)
		px_usage_error("%s", err);
	px_die("%s", err);
}

static const char *judge_or_exit(const char *name, const char *source)
{
	const char *chosen = NULL;
	char err[512];
	int st = px_backend_judge(name, source, &chosen, err, sizeof err);
	if (st)
		backend_exit(st, err);
	return chosen;
}

const char *px_opt_backend(void)
{
	/* A tool that runs one backend: "epoll,poll" or "all" is not a name
	 * pollux does not know, it is the wrong kind of value. */
	if (optarg && (strchr(optarg, ',') || strcmp(optarg, "all") == 0))
		px_bad_value("one backend name or auto (this tool runs one backend, "
		             "not a list or all)");
	return judge_or_exit(optarg ? optarg : "", px_opt_typed());
}

const char *px_env_backend(void)
{
	return judge_or_exit(NULL, "");
}

int px_opt_backends(int flags, const char **out, int max)
{
	char typed[160], copy[512];
	snprintf(typed, sizeof typed, "%s", px_opt_typed());
	if (!optarg || !*optarg || strlen(optarg) >= sizeof copy)
		px_bad_value("%s", flags & PX_BACKENDS_LIST ?
		             "backend names separated by commas" : "a backend name");
	if (!(flags & PX_BACKENDS_LIST) && strchr(optarg, ','))
		px_bad_value("one backend name%s, not a list", flags & PX_BACKENDS_ALL ?
		             " or all" : "");
	strcpy(copy, optarg);
	int n = 0;
	char *save = NULL;
	for (char *t = copy; t; t = save) {
		save = strchr(t, ',');
		if (save)
			*save++ = '\0';
		if (!*t)
			px_bad_value("backend names separated by commas, with no empty name");
		const char *add[16];
		int nadd = 0;
		if ((flags & PX_BACKENDS_ALL) && strcmp(t, "all") == 0) {
			const char *const *b = pollux_backends();
			for (int i = 0; b && b[i] && nadd < 16; i++)
				add[nadd++] = b[i];
		} else {
			add[nadd++] = judge_or_exit(t, typed);
		}
		for (int k = 0; k < nadd; k++) {
			int dup = 0;
			for (int i = 0; i < n; i++)
				dup |= strcmp(out[i], add[k]) == 0;
			if (dup)
				continue;
			if (n == max)
				px_bad_value("at most %d backends", max);
			out[n++] = add[k];
		}
	}
	return n;
}

void px_list_backends(FILE *f)
{
	const char *const *b = pollux_backends();
	for (int i = 0; b && b[i]; i++)
		fprintf(f, "%s\n", b[i]);
}

void px_print_version(void)
{
	printf("%s (pollux) %s\n", g_prog, pollux_version());
}
