/* fit.c: the least-squares line of a backend's cost per wait against the
 * number of descriptors registered in the server's poller, the marginal
 * cost between points, and the median of repeated runs. */
#include "toolconfig.h"
#include "scale.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double scale_fds_per_poller(const struct scale_point *p)
{
	double k = isfinite(p->pollers) && p->pollers > 1 ? p->pollers : 1;
	return p->registered / k;
}

double scale_y_of(const struct scale_point *p, enum scale_y y)
{
	return y == SCALE_Y_CPU ? p->cpu_us_per_wait : p->us_per_wait;
}

/* A point the fit and the marginal cost may use. */
static int usable(const struct scale_point *p, const char *backend,
                  enum scale_y y)
{
	return strcmp(p->backend, backend) == 0 && !p->error[0] &&
	       isfinite(p->registered) && isfinite(scale_y_of(p, y));
}

void scale_fit(const struct scale_point *pts, int n, const char *backend,
               enum scale_y y, struct scale_fit *fit)
{
	double sx = 0, sy = 0;
	int k = 0;
	memset(fit, 0, sizeof *fit);
	fit->y = y;
	fit->ns_per_fd = fit->intercept_us = fit->r2 = NAN;

	/* Two passes (means first) keep the sums small and the result exact
	 * enough at 15,000 fds, where x*x sums would lose digits. */
	for (int i = 0; i < n; i++) {
		const struct scale_point *p = &pts[i];
		if (!usable(p, backend, y))
			continue;
		sx += scale_fds_per_poller(p);
		sy += scale_y_of(p, y) * 1000.0;
		k++;
	}
	fit->n = k;
	if (k < 2)
		return;
	double mx = sx / k, my = sy / k, sxx = 0, sxy = 0, syy = 0;
	for (int i = 0; i < n; i++) {
		const struct scale_point *p = &pts[i];
		if (!usable(p, backend, y))
			continue;
		double dx = scale_fds_per_poller(p) - mx;
		double dy = scale_y_of(p, y) * 1000.0 - my;
		sxx += dx * dx;
		sxy += dx * dy;
		syy += dy * dy;
	}
	/* All points at one fd count: no slope can be told. */
	if (sxx <= 0)
		return;
	fit->ns_per_fd = sxy / sxx;
	fit->intercept_us = (my - fit->ns_per_fd * mx) / 1000.0;
	fit->r2 = syy > 0 ? (sxy * sxy) / (sxx * syy) : 1.0;
}

double scale_marginal_ns(const struct scale_point *pts, int n,
                         const struct scale_point *p, enum scale_y y)
{
	if (!usable(p, p->backend, y))
		return NAN;
	/* The backend's row above: the good point with the next smaller
	 * descriptor count. */
	const struct scale_point *prev = NULL;
	for (int i = 0; i < n; i++) {
		const struct scale_point *q = &pts[i];
		if (q == p || !usable(q, p->backend, y) || q->fds >= p->fds)
			continue;
		if (!prev || q->fds > prev->fds)
			prev = q;
	}
	if (!prev)
		return NAN;
	/* A point split over more processes can hold about as many
	 * descriptors per poller as the row above, or fewer: what changed
	 * is the processes, not the descriptors, and a difference over a
	 * few descriptors would be noise blown up. */
	double x = scale_fds_per_poller(p), dx = x - scale_fds_per_poller(prev);
	if (!(dx >= 1 && dx >= 0.05 * x))
		return NAN;
	return (scale_y_of(p, y) - scale_y_of(prev, y)) * 1000.0 / dx;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double scale_median(double *v, int n)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		if (isfinite(v[i]))
			v[k++] = v[i];
	if (k == 0)
		return NAN;
	qsort(v, (size_t)k, sizeof *v, cmp_double);
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

/* Median, smallest and largest of one figure over the good runs. */
static double stat_of(const struct scale_point *runs, int n, size_t off,
                      double *lo, double *hi)
{
	double v[64];
	int k = 0;
	for (int i = 0; i < n && k < 64; i++) {
		if (runs[i].error[0])
			continue;
		double x;
		memcpy(&x, (const char *)&runs[i] + off, sizeof x);
		if (isfinite(x))
			v[k++] = x;
	}
	if (lo)
		*lo = *hi = NAN;
	if (k == 0)
		return NAN;
	double m = scale_median(v, k);
	if (lo) {
		*lo = v[0];	/* sorted by scale_median */
		*hi = v[k - 1];
	}
	return m;
}

void scale_combine(const struct scale_point *runs, int n,
                   struct scale_point *out)
{
	const struct scale_point *first_ok = NULL, *first_bad = NULL;
	int ok = 0;
	for (int i = 0; i < n; i++) {
		if (runs[i].error[0]) {
			if (!first_bad)
				first_bad = &runs[i];
		} else {
			if (!first_ok)
				first_ok = &runs[i];
			ok++;
		}
	}
	*out = first_ok ? *first_ok : runs[0];
	out->runs = n;
	out->runs_ok = ok;
	if (!first_ok) {
		if (first_bad)
			memcpy(out->error, first_bad->error, sizeof out->error);
		out->rps_min = out->rps_max = out->us_min = out->us_max = NAN;
		out->cpu_min = out->cpu_max = NAN;
		return;
	}
	out->error[0] = '\0';
	unsigned long errors = 0;
	int whole = 0;
	for (int i = 0; i < n; i++)
		if (!runs[i].error[0]) {
			errors += runs[i].errors;
			whole |= runs[i].whole_run;
		}
	out->errors = errors;
	out->whole_run = whole;
#define MED(f) stat_of(runs, n, offsetof(struct scale_point, f), NULL, NULL)
	out->rps = stat_of(runs, n, offsetof(struct scale_point, rps),
	                   &out->rps_min, &out->rps_max);
	out->us_per_wait = stat_of(runs, n, offsetof(struct scale_point, us_per_wait),
	                           &out->us_min, &out->us_max);
	out->cpu_us_per_wait = stat_of(runs, n,
	                               offsetof(struct scale_point, cpu_us_per_wait),
	                               &out->cpu_min, &out->cpu_max);
	out->p50_us = MED(p50_us);
	out->p99_us = MED(p99_us);
	out->events_per_wait = MED(events_per_wait);
	out->cpu_s = MED(cpu_s);
	out->registered = MED(registered);
	out->waits = MED(waits);
	out->window_s = MED(window_s);
	out->pollers = MED(pollers);
	out->fds_per_poller = scale_fds_per_poller(out);
#undef MED
}
