/* fit.c: the least-squares line of a backend's cost per wait against the
 * number of descriptors registered in the server's poller. */
#include "toolconfig.h"
#include "scale.h"

#include <math.h>
#include <string.h>

double scale_fds_per_poller(const struct scale_point *p)
{
	double k = isfinite(p->pollers) && p->pollers > 1 ? p->pollers : 1;
	return p->registered / k;
}

void scale_fit(const struct scale_point *pts, int n, const char *backend,
               struct scale_fit *fit)
{
	double sx = 0, sy = 0;
	int k = 0;
	memset(fit, 0, sizeof *fit);
	fit->ns_per_fd = fit->base_us = fit->r2 = NAN;

	/* Two passes (means first) keep the sums small and the result exact
	 * enough at 15,000 fds, where x*x sums would lose digits. */
	for (int i = 0; i < n; i++) {
		const struct scale_point *p = &pts[i];
		if (strcmp(p->backend, backend) != 0 || p->error[0] ||
		    !isfinite(p->registered) || !isfinite(p->us_per_wait))
			continue;
		sx += scale_fds_per_poller(p);
		sy += p->us_per_wait * 1000.0;
		k++;
	}
	fit->n = k;
	if (k < 2)
		return;
	double mx = sx / k, my = sy / k, sxx = 0, sxy = 0, syy = 0;
	for (int i = 0; i < n; i++) {
		const struct scale_point *p = &pts[i];
		if (strcmp(p->backend, backend) != 0 || p->error[0] ||
		    !isfinite(p->registered) || !isfinite(p->us_per_wait))
			continue;
		double dx = scale_fds_per_poller(p) - mx, dy = p->us_per_wait * 1000.0 - my;
		sxx += dx * dx;
		sxy += dx * dy;
		syy += dy * dy;
	}
	/* All points at one fd count: no slope can be told. */
	if (sxx <= 0)
		return;
	fit->ns_per_fd = sxy / sxx;
	fit->base_us = (my - fit->ns_per_fd * mx) / 1000.0;
	fit->r2 = syy > 0 ? (sxy * sxy) / (sxx * syy) : 1.0;
}
