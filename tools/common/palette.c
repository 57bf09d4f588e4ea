/* palette.c: the backends' colours and markers, and the gnuplot pieces
 * every tool's plot shares (see palette.h). */
#include "toolconfig.h"
#include "palette.h"
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <string.h>
#include <strings.h>

/* Okabe and Ito's colour-blind-safe colours: warm for the backends that
 * scan every descriptor (select, poll), cool for the ready-list ones. The
 * markers differ too, for grey print. */
static const struct px_style backends[] = {
	{ "select", "#d55e00", 7 },	/* vermillion, filled circle */
	{ "poll",   "#e69f00", 5 },	/* orange, filled square */
	{ "epoll",  "#0072b2", 9 },	/* blue, filled triangle */
	{ "uring",  "#009e73", 11 },	/* green, filled triangle down */
	{ "kqueue", "#cc79a7", 13 },	/* purple, filled diamond */
	{ NULL, NULL, 0 }
};
static const struct px_style other = { "other", "#7f7f7f", 1 };

const struct px_style *px_backend_style(const char *name)
{
	for (const struct px_style *s = backends; name && s->name; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return &other;
}

void px_gp_backend(FILE *f, const char *name)
{
	const struct px_style *s = px_backend_style(name);
	fprintf(f, " lc rgb '%s' pt %d", s->rgb, s->pt);
}

void px_gp_series_linetypes(FILE *f)
{
	/* Black, sky blue, reddish purple's darker kin, olive, brown: none
	 * is a backend's. */
	static const char *const rgb[] = { "#000000", "#56b4e9", "#882255",
	                                   "#999933", "#8c564b" };
	static const int pt[] = { 6, 4, 8, 10, 12 };
	for (int i = 0; i < 5; i++)
		fprintf(f, "set linetype %d lc rgb '%s' lw 2 pt %d\n", i + 1,
		        rgb[i], pt[i]);
}

enum px_plot_format px_plot_format(const char *path)
{
	size_t n = path ? strlen(path) : 0;
	/* A name, not only the suffix, and not a directory. */
	if (n < 5 || path[n - 5] == '/')
		return PX_PLOT_NONE;
	if (strcasecmp(path + n - 4, ".svg") == 0)
		return PX_PLOT_SVG;
	if (strcasecmp(path + n - 4, ".png") == 0)
		return PX_PLOT_PNG;
	return PX_PLOT_NONE;
}

const char *px_opt_plot(void)
{
	if (px_plot_format(optarg) == PX_PLOT_NONE)
		px_bad_value("a file name ending in .svg or .png");
	return optarg;
}

void px_gp_string(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		if (*s != '\n')
			fputc(*s, f);
	}
	fputc('\'', f);
}

void px_gp_terminal(FILE *f, const char *path, int w, int h)
{
	if (px_plot_format(path) == PX_PLOT_PNG)
		fprintf(f, "set terminal pngcairo size %d,%d enhanced "
		        "font 'sans,10' background '#ffffff'\n", w, h);
	else
		fprintf(f, "set terminal svg size %d,%d dynamic enhanced "
		        "font 'sans,12' background '#ffffff'\n", w, h);
	fputs("set output ", f);
	px_gp_string(f, path);
	fputc('\n', f);
}

const char *px_fmt_thousands(char *buf, size_t n, double v)
{
	if (!isfinite(v)) {
		snprintf(buf, n, "-");
		return buf;
	}
	if (v < 0) {
		char t[64];
		px_fmt_thousands(t, sizeof t, -v);
		snprintf(buf, n, "-%s", t);
		return buf;
	}
	if (v < 10 && v != floor(v)) {
		snprintf(buf, n, "%g", v);
		return buf;
	}
	char digits[32];
	snprintf(digits, sizeof digits, "%.0f", v);
	size_t len = strlen(digits), o = 0;
	for (size_t i = 0; i < len && o + 2 < n; i++) {
		if (i && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o < n ? o : n - 1] = '\0';
	return buf;
}

void px_gp_tics(FILE *f, const char *axis, double min, double max, int log)
{
	char lab[64];
	if (log) {
		if (!(min > 0) || !isfinite(min))
			min = 1;
		if (!(max >= min) || !isfinite(max))
			max = min * 10;
		double lo = pow(10, floor(log10(min)));
		double hi = pow(10, ceil(log10(max)));
		if (hi <= lo)
			hi = lo * 10;
		/* A hair wider: gnuplot drops a tic that rounds outside. */
		fprintf(f, "set logscale %s\nset %srange [%.10g:%.10g]\nset %stics (",
		        axis, axis, lo / 1.001, hi * 1.001, axis);
		/* 2 and 5 between the powers too, while few decades leave room. */
		int mid = hi / lo <= 1e4;
		int first = 1;
		for (double v = lo; v <= hi * 1.0001; v *= 10) {
			fprintf(f, "%s\"%s\" %g", first ? "" : ", ",
			        px_fmt_thousands(lab, sizeof lab, v), v);
			first = 0;
			for (int m = 2; mid && m <= 5 && v * m < hi; m += 3)
				fprintf(f, ", \"%s\" %g", px_fmt_thousands(lab, sizeof lab, v * m),
				        v * m);
		}
		fputs(")\n", f);
		return;
	}
	if (!(max > 0) || !isfinite(max))
		max = 1;
	/* About five steps of 1, 2, 2.5 or 5 times a power of ten. */
	double raw = max / 5, mag = pow(10, floor(log10(raw))), step = mag;
	static const double nice[] = { 1, 2, 2.5, 5, 10 };
	for (size_t i = 0; i < sizeof nice / sizeof nice[0]; i++)
		if (nice[i] * mag >= raw) {
			step = nice[i] * mag;
			break;
		}
	double top = ceil(max / step - 1e-9) * step;
	fprintf(f, "unset logscale %s\nset %srange [0:%g]\nset %stics (", axis,
	        axis, top, axis);
	int i = 0;
	for (double v = 0; v <= top * 1.0001; v = ++i * step)
		fprintf(f, "%s\"%s\" %g", i ? ", " : "",
		        px_fmt_thousands(lab, sizeof lab, v), v);
	fputs(")\n", f);
}
