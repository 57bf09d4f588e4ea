/* model.c: pollux-server started with one --model (iterative, threads,
 * fork, busy, loop) and checked to run it, and what such a server weighs
 * from /proc: memory, threads, processes and descriptors. */
#include "toolconfig.h"
#include "lab.h"
#include "common.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct proc *lab_model_server(struct lab *L, const char *model, const char *const extra[],
                              int *port, char *why, size_t whylen)
{
	const char *args[24];
	int n = 0;
	args[n++] = "--model";
	args[n++] = model;
	for (int i = 0; extra && extra[i] && n < 18; i++)
		args[n++] = extra[i];
	/* -b is the event loop's: the blocking designs use no poller. */
	if (L->o->backend && strcmp(model, "loop") == 0) {
		args[n++] = "-b";
		args[n++] = L->o->backend;
	}
	args[n] = NULL;
	struct proc *p = lab_server(L, port, args);
	if (!p) {
		snprintf(why, whylen, "pollux-server --model %s did not start (this "
		         "pollux-server may predate --model; see the message above)", model);
		return NULL;
	}
	/* A server that ignored --model would measure the wrong design. */
	char *body = lab_http_get(*port, "/stats", 3000);
	char err[128];
	struct json *j = body ? json_parse(body, err, sizeof err) : NULL;
	const struct json *m = j ? json_get(j, "model") : NULL;
	int ok = m && m->type == J_STR && strcmp(m->str, model) == 0;
	if (!ok)
		snprintf(why, whylen, "pollux-server --model %s started, but its /stats %s",
		         model, !body ? "did not answer" :
		         !m ? "has no \"model\" key (a pollux-server without --model?)" :
		         "names another model");
	json_free(j);
	free(body);
	if (!ok) {
		lab_stop_proc(L, p, SIGTERM, 2000);
		return NULL;
	}
	/* Let it close the /stats connection, so that what the caller counts
	 * next (descriptors, memory) is the server at rest. */
	(void)lab_sleep_ms(100);
	return p;
}

void lab_weigh(pid_t pid, struct lab_weight *w)
{
	double kids = 0;
	long nk = lab_children(pid, &kids);
	double self = lab_pss_kib(pid);
	w->kib = isnan(self) ? NAN : self + (nk > 0 ? kids : 0);
	w->threads = lab_threads(pid);
	w->processes = nk < 0 ? -1 : 1 + nk;
	w->fds = lab_fds(pid);
}
