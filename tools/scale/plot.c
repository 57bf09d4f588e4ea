/* plot.c: --plot FILE.svg or FILE.png: requests/s and microseconds per
 * wait against descriptor count, one line per backend, drawn by gnuplot. */
#include "toolconfig.h"
#include "proc.h"
#include "common.h"
#include "palette.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define PLOT_TIMEOUT_MS 30000

char *scale_find_gnuplot(void)
{
	const char *env = getenv("GNUPLOT");
	return scale_which(env && *env ? env : "gnuplot");
}

/* The positive figures of the second panel, for its log axis. */
static void y_span(const struct scale_point *pts, int n, double *lo, double *hi)
{
	*lo = INFINITY;
	*hi = 0;
	for (int i = 0; i < n; i++) {
		const struct scale_point *p = &pts[i];
		if (p->error[0])
			continue;
		double v[] = { p->us_per_wait, p->cpu_us_per_wait, p->us_min,
		               p->us_max, p->cpu_min, p->cpu_max };
		for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
			if (isfinite(v[k]) && v[k] > 0) {
				if (v[k] < *lo)
					*lo = v[k];
				if (v[k] > *hi)
					*hi = v[k];
			}
	}
}

static void dat(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, " %.6g", v);
	else
		fputs(" NaN", f);
}

/* The data: one block per backend, two blank lines apart (gnuplot's
 * "index"); failed points are left out, not drawn as zero. Columns: fds,
 * rps min max, wall us/wait min max, CPU us/wait min max. */
static int write_data(const char *path, const struct scale_opts *o,
                      const struct scale_point *pts, int n)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	for (int b = 0; b < o->nbackends; b++) {
		fprintf(f, "# %s: fds rps min max us_per_wait min max "
		        "cpu_us_per_wait min max\n", o->backends[b]);
		int any = 0;
		for (int i = 0; i < n; i++) {
			const struct scale_point *p = &pts[i];
			if (strcmp(p->backend, o->backends[b]) != 0 || p->error[0])
				continue;
			fprintf(f, "%lu", p->fds);
			dat(f, p->rps);
			dat(f, p->rps_min);
			dat(f, p->rps_max);
			dat(f, p->us_per_wait);
			dat(f, p->us_min);
			dat(f, p->us_max);
			dat(f, p->cpu_us_per_wait);
			dat(f, p->cpu_min);
			dat(f, p->cpu_max);
			fputc('\n', f);
			any = 1;
		}
		/* gnuplot refuses an empty block; one NaN row keeps indices. */
		if (!any)
			fprintf(f, "0 NaN NaN NaN NaN NaN NaN NaN NaN NaN\n");
		fprintf(f, "\n\n");
	}
	return fclose(f);
}

/* The script: two panels, each with its key under its plot area (never
 * over the data), explicit tics with thousands separators, microseconds
 * per wait on a log axis so that epoll's tens of us and select's
 * thousands both read; each backend drawn in its one style (palette.h). */
static int write_script(const char *path, const char *out, const char *data,
                        const struct scale_opts *o,
                        const struct scale_point *pts, int n)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	struct utsname u;
	char title[512];
	int rep = o->repeat > 1;
	char runs[96] = "";
	if (rep)
		snprintf(runs, sizeof runs, ", %d a point (medians; bars: "
		         "smallest to largest)", o->repeat);
	snprintf(title, sizeof title, "pollux-scale: %lu active connections, "
	         "%.3g s runs%s; %ld cores, %s %s", o->active, o->duration, runs,
	         sysconf(_SC_NPROCESSORS_ONLN),
	         uname(&u) == 0 ? u.sysname : "", uname(&u) == 0 ? u.release : "");
	px_gp_terminal(f, out, 1200, 560);
	double xmax = 0, rmax = 0, lo, hi;
	for (int i = 0; i < n; i++) {
		if (pts[i].error[0])
			continue;
		if ((double)pts[i].fds > xmax)
			xmax = (double)pts[i].fds;
		double r = isfinite(pts[i].rps_max) ? pts[i].rps_max : pts[i].rps;
		if (isfinite(r) && r > rmax)
			rmax = r;
	}
	y_span(pts, n, &lo, &hi);
	fputs("set datafile missing 'NaN'\nset grid\nset bars small\n"
	      "set key outside bottom center horizontal samplen 2\n"
	      "set xlabel 'idle descriptors held by the server (connections)'\n"
	      "set multiplot layout 1,2 title ", f);
	px_gp_string(f, title);
	fputs(" noenhanced\n", f);
	px_gp_tics(f, "x", 0, xmax, 0);

	/* Panel 1: requests per second. */
	px_gp_tics(f, "y", 0, rmax, 0);
	fputs("set title 'requests answered per second (higher is better)'\n"
	      "set ylabel 'requests per second (req/s, pollux-load)'\nplot ", f);
	for (int b = 0; b < o->nbackends; b++) {
		fputs(b ? ", \\\n     " : "", f);
		px_gp_string(f, data);
		fprintf(f, " index %d using 1:2%s with %s lw 2", b,
		        rep ? ":3:4" : "", rep ? "yerrorlines" : "linespoints");
		px_gp_backend(f, o->backends[b]);
		fputs(" title ", f);
		px_gp_string(f, o->backends[b]);
	}
	fputc('\n', f);

	/* Panel 2: server CPU per wait (solid), wall time in it (dashed). */
	px_gp_tics(f, "y", isfinite(lo) ? lo : 1, hi > 0 ? hi : 10, 1);
	/* The panel's title says what solid and dashed are: the keys of both
	 * panels then hold the same four names, and the panels line up. */
	fputs("set title 'server time per wait: CPU solid, wall time in the wait "
	      "dashed (sleep included)'\n"
	      "set ylabel 'server microseconds per pollux\\_wait (us, log "
	      "scale)'\nplot ", f);
	for (int b = 0; b < o->nbackends; b++) {
		fputs(b ? ", \\\n     " : "", f);
		px_gp_string(f, data);
		fprintf(f, " index %d using 1:8%s with %s lw 2", b,
		        rep ? ":9:10" : "", rep ? "yerrorlines" : "linespoints");
		px_gp_backend(f, o->backends[b]);
		fputs(" title ", f);
		px_gp_string(f, o->backends[b]);
		fputs(", \\\n     ", f);
		px_gp_string(f, data);
		fprintf(f, " index %d using 1:5 with lines lw 1 dt 2", b);
		px_gp_backend(f, o->backends[b]);
		fputs(" notitle", f);
	}
	fputs("\nunset multiplot\nset output\n", f);
	return fclose(f);
}

int scale_plot(const char *gnuplot, const char *out,
               const struct scale_opts *o, const struct scale_point *pts,
               int n)
{
	const char *tmp = getenv("TMPDIR");
	char dir[512], data[600], script[600];
	snprintf(dir, sizeof dir, "%s/pollux-scale.XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "pollux-scale: --plot: cannot make a temporary "
		        "directory in %s: %s; set TMPDIR\n",
		        tmp && *tmp ? tmp : "/tmp", strerror(errno));
		return -1;
	}
	snprintf(data, sizeof data, "%s/points.dat", dir);
	snprintf(script, sizeof script, "%s/plot.gp", dir);
	int rc = -1;
	if (write_data(data, o, pts, n) != 0 ||
	    write_script(script, out, data, o, pts, n) != 0)
		goto out;

	struct proc gp;
	const char *argv[] = { gnuplot, script, NULL };
	if (proc_spawn(&gp, argv) < 0) {
		fprintf(stderr, "pollux-scale: --plot: cannot run %s: %s\n",
		        gnuplot, strerror(errno));
		errno = 0;
		goto out;
	}
	struct proc *one[1] = { &gp };
	uint64_t end = px_now_us() + PLOT_TIMEOUT_MS * 1000ull;
	while (!gp.exited && px_now_us() < end)
		if (proc_pump(one, 1, 200) < 0)
			break;
	if (!gp.exited)
		proc_stop(&gp, SIGKILL, 0);
	char st[64], last[256];
	proc_describe_status(&gp, st, sizeof st);
	proc_last_error(&gp, last, sizeof last);
	if (WIFEXITED(gp.status) && WEXITSTATUS(gp.status) == 0 &&
	    access(out, R_OK) == 0) {
		rc = 0;
	} else {
		fprintf(stderr, "pollux-scale: --plot: gnuplot failed (%s)%s%s; "
		        "the CSV/JSON outputs hold the same figures\n", st,
		        last[0] ? ": " : "", last);
		errno = 0;
	}
	proc_free(&gp);
out:
	if (rc < 0 && errno)
		fprintf(stderr, "pollux-scale: --plot: cannot write temporary "
		        "files in %s: %s; set TMPDIR\n", dir, strerror(errno));
	unlink(data);
	unlink(script);
	rmdir(dir);
	return rc;
}
