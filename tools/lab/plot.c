/* plot.c: --plot FILE.svg: runs gnuplot on a lesson's script (data inline
 * as datablocks) after a preamble every lesson shares: the SVG terminal,
 * the size, the title with the machine, and the colours. */
#include "toolconfig.h"
#include "lab.h"
#include "common.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define PLOT_TIMEOUT_MS 30000

void lab_gp_string(FILE *f, const char *s)
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

int lab_plot(struct lab *L, const char *title, const char *script)
{
	const char *svg = L->o->plot;
	if (!svg)
		return 0;
	const char *env = getenv("GNUPLOT");
	char *gnuplot = scale_which(env && *env ? env : "gnuplot");
	if (!gnuplot) {
		if (env && *env)
			fprintf(stderr, LAB_NAME ": --plot: GNUPLOT names '%s', which is not an "
			        "executable; the table and JSON hold the same figures\n", env);
		else
			fprintf(stderr, LAB_NAME ": --plot needs gnuplot, which is not installed "
			        "(Debian: apt-get install gnuplot-nox); the table and JSON hold "
			        "the same figures\n");
		return -1;
	}
	const char *dir = lab_tmpdir(L);
	if (!dir) {
		free(gnuplot);
		return -1;
	}
	char path[600];
	snprintf(path, sizeof path, "%s/plot.gp", dir);
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, LAB_NAME ": --plot: cannot write %s: %s\n", path, strerror(errno));
		free(gnuplot);
		return -1;
	}
	struct utsname u;
	char full[512];
	snprintf(full, sizeof full, "pollux-lab %s: %s (%ld cores, %s %s%s)",
	         L->lesson->name, title, sysconf(_SC_NPROCESSORS_ONLN),
	         uname(&u) == 0 ? u.sysname : "", uname(&u) == 0 ? u.release : "",
	         L->o->quick ? ", --quick" : "");
	/* The same colours for the same things in every picture. */
	fputs("set terminal svg size 1000,520 dynamic enhanced font 'sans,12' "
	      "background '#ffffff'\nset output ", f);
	lab_gp_string(f, svg);
	fputs("\nset datafile missing 'NaN'\nset grid\nset key top left\n"
	      "set linetype 1 lc rgb '#1f77b4' lw 2 pt 7\n"
	      "set linetype 2 lc rgb '#d62728' lw 2 pt 5\n"
	      "set linetype 3 lc rgb '#2ca02c' lw 2 pt 9\n"
	      "set linetype 4 lc rgb '#ff7f0e' lw 2 pt 11\n"
	      "set linetype 5 lc rgb '#9467bd' lw 2 pt 13\n"
	      "set title ", f);
	lab_gp_string(f, full);
	fprintf(f, " noenhanced\n%s\nset output\n", script);
	if (fclose(f) != 0) {
		fprintf(stderr, LAB_NAME ": --plot: cannot write %s: %s\n", path, strerror(errno));
		free(gnuplot);
		return -1;
	}
	const char *argv[] = { gnuplot, path, NULL };
	struct proc *gp = lab_spawn(L, argv);
	if (!gp) {
		fprintf(stderr, LAB_NAME ": --plot: cannot run %s: %s\n", gnuplot, strerror(errno));
		free(gnuplot);
		return -1;
	}
	uint64_t end = px_now_us() + PLOT_TIMEOUT_MS * 1000ull;
	while (!gp->exited && px_now_us() < end)
		if (lab_pump(gp, 200) < 0)
			break;
	if (!gp->exited)
		lab_stop_proc(L, gp, SIGKILL, 0);
	int rc = 0;
	if (!(WIFEXITED(gp->status) && WEXITSTATUS(gp->status) == 0) || access(svg, R_OK) != 0) {
		char st[64], last[256];
		proc_describe_status(gp, st, sizeof st);
		proc_last_error(gp, last, sizeof last);
		fprintf(stderr, LAB_NAME ": --plot: gnuplot failed (%s)%s%s\n", st,
		        last[0] ? ": " : "", last);
		rc = -1;
	}
	unlink(path);
	free(gnuplot);
	return rc;
}
