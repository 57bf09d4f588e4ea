/* palette.h: how every pollux tool draws: one colour and one marker per
 * backend, kept here so that epoll looks the same in every plot of every
 * tool whatever the order of -b; the gnuplot terminal chosen by the
 * --plot file's suffix; tic labels with thousands separators. */
#ifndef POLLUX_TOOLS_PALETTE_H
#define POLLUX_TOOLS_PALETTE_H

#include <stddef.h>
#include <stdio.h>

struct px_style {
	const char *name;	/* backend name; NULL ends the table */
	const char *rgb;	/* "#rrggbb" */
	int pt;			/* gnuplot point type */
};

/* The style of backend NAME: a fixed entry for each backend pollux knows,
 * one grey style (never a backend's) for any other name. */
const struct px_style *px_backend_style(const char *name);

/* " lc rgb '#rrggbb' pt N" for a plot element drawing backend NAME. */
void px_gp_backend(FILE *f, const char *name);

/* set linetype 1..5 for series that are not backends (models, modes),
 * in colours no backend uses. */
void px_gp_series_linetypes(FILE *f);

enum px_plot_format { PX_PLOT_NONE = -1, PX_PLOT_SVG, PX_PLOT_PNG };

/* The format a --plot path names: ".svg" or ".png" (any case). */
enum px_plot_format px_plot_format(const char *path);

/* --plot's value (getopt's optarg): a name ending in .svg or .png, or
 * exit 2 with the tools' one line ("OPT 'x.txt': expected a file name
 * ending in .svg or .png"). */
const char *px_opt_plot(void);

/* "set terminal ...\nset output 'PATH'\n" for the format of path, in
 * pixels w x h (SVG: the same size in its user units). */
void px_gp_terminal(FILE *f, const char *path, int w, int h);

/* s as a gnuplot single-quoted string ('' for a quote). */
void px_gp_string(FILE *f, const char *s);

/* v as "12,345" (rounded to a whole number), or "2.5", "0.01" below 10. */
const char *px_fmt_thousands(char *buf, size_t n, double v);

/* "set AXIStics (...)" and "set AXISrange [...]" with labels written by
 * px_fmt_thousands: linear from 0 to a round number at or above max, or,
 * when log, the powers of ten around [min, max] (min > 0). */
void px_gp_tics(FILE *f, const char *axis, double min, double max, int log);

#endif
