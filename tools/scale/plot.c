/* plot.c: --plot FILE.svg: requests/s and microseconds per wait against
 * descriptor count, one line per backend, drawn by gnuplot. */
#include "toolconfig.h"
#include "proc.h"
#include "common.h"

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

/* gnuplot's single-quoted strings take '' for a quote; no other escape. */
static void gp_string(FILE *f, const char *s)
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

static void panel(FILE *f, const struct scale_opts *o, const char *data,
                  int col, const char *ylabel)
{
	fprintf(f, "set ylabel ");
	gp_string(f, ylabel);
	fprintf(f, "\nplot ");
	for (int b = 0; b < o->nbackends; b++) {
		fprintf(f, "%s", b ? ", \\\n     " : "");
		gp_string(f, data);
		fprintf(f, " index %d using 1:%d with linespoints lw 2 pt 7 "
		        "title ", b, col);
		gp_string(f, o->backends[b]);
	}
	fputc('\n', f);
}

int scale_plot(const char *gnuplot, const char *svg,
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

	/* One data block per backend, two blank lines apart (gnuplot's
	 * "index"); failed points are left out, not drawn as zero. */
	FILE *f = fopen(data, "w");
	if (!f)
		goto out;
	for (int b = 0; b < o->nbackends; b++) {
		fprintf(f, "# %s: fds rps us_per_wait\n", o->backends[b]);
		int any = 0;
		for (int i = 0; i < n; i++) {
			const struct scale_point *p = &pts[i];
			if (strcmp(p->backend, o->backends[b]) != 0 || p->error[0])
				continue;
			fprintf(f, "%lu ", p->fds);
			if (isfinite(p->rps))
				fprintf(f, "%.6g ", p->rps);
			else
				fprintf(f, "NaN ");
			if (isfinite(p->us_per_wait))
				fprintf(f, "%.6g\n", p->us_per_wait);
			else
				fprintf(f, "NaN\n");
			any = 1;
		}
		/* gnuplot refuses an empty block; one NaN row keeps indices. */
		if (!any)
			fprintf(f, "0 NaN NaN\n");
		fprintf(f, "\n\n");
	}
	if (fclose(f) != 0)
		goto out;

	f = fopen(script, "w");
	if (!f)
		goto out;
	struct utsname u;
	char title[512];
	snprintf(title, sizeof title, "pollux-scale: %lu active connections, "
	         "%.3g s runs; %ld cores, %s %s", o->active, o->duration,
	         sysconf(_SC_NPROCESSORS_ONLN),
	         uname(&u) == 0 ? u.sysname : "", uname(&u) == 0 ? u.release : "");
	fprintf(f, "set terminal svg size 1100,480 dynamic enhanced "
	        "font 'sans,12' background '#ffffff'\nset output ");
	gp_string(f, svg);
	fprintf(f, "\nset datafile missing 'NaN'\nset grid\n"
	        "set key top left\nset xlabel 'idle descriptors held by the "
	        "server'\nset yrange [0:*]\nset multiplot layout 1,2 title ");
	gp_string(f, title);
	fprintf(f, "\n");
	panel(f, o, data, 2, "requests per second");
	panel(f, o, data, 3, "server microseconds per pollux\\_wait");
	fprintf(f, "unset multiplot\nset output\n");
	if (fclose(f) != 0)
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
	    access(svg, R_OK) == 0) {
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
