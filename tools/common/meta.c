/* meta.c: the JSON metadata of a tool's result (see meta.h): version,
 * start time, cores, kernel and the load average around the run. */
#include "toolconfig.h"
#include "meta.h"

#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "pollux.h"

static int load_now(double v[3])
{
#ifdef HAVE_GETLOADAVG
	return getloadavg(v, 3) == 3;
#else
	(void)v;
	return 0;
#endif
}

void px_meta_begin(struct px_meta *m)
{
	memset(m, 0, sizeof *m);
	time_t t = time(NULL);
	struct tm tm;
	if (t == (time_t)-1 || !gmtime_r(&t, &tm) ||
	    strftime(m->time, sizeof m->time, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		m->time[0] = '\0';
	m->cores = sysconf(_SC_NPROCESSORS_ONLN);
	struct utsname u;
	if (uname(&u) == 0)
		snprintf(m->kernel, sizeof m->kernel, "%s %s %s", u.sysname, u.release,
		         u.machine);
	m->have_before = load_now(m->load_before);
}

void px_meta_end(struct px_meta *m)
{
	m->have_after = load_now(m->load_after);
}

static void json_load(FILE *f, int have, const double v[3])
{
	if (!have) {
		fputs("null", f);
		return;
	}
	fprintf(f, "[%.2f, %.2f, %.2f]", v[0], v[1], v[2]);
}

void px_meta_json(FILE *f, const struct px_meta *m)
{
	fputs("\"pollux_version\": ", f);
	px_json_string(f, pollux_version());
	fputs(", \"time\": ", f);
	if (m->time[0])
		px_json_string(f, m->time);
	else
		fputs("null", f);
	fputs(", \"machine\": {\"cores\": ", f);
	if (m->cores > 0)
		fprintf(f, "%ld", m->cores);
	else
		fputs("null", f);
	fputs(", \"kernel\": ", f);
	if (m->kernel[0])
		px_json_string(f, m->kernel);
	else
		fputs("null", f);
	fputs(", \"loadavg_before\": ", f);
	json_load(f, m->have_before, m->load_before);
	fputs(", \"loadavg_after\": ", f);
	json_load(f, m->have_after, m->load_after);
	fputc('}', f);
}
