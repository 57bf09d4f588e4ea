/* meta.h: the metadata every pollux tool's JSON result carries: library
 * version, when the run started (ISO-8601 UTC) and the machine it ran on
 * (cores, kernel, load average before and after the run).
 *
 * Use: call px_meta_begin() before the measurement starts and
 * px_meta_end() once it is over, then, inside the result's top-level JSON
 * object, px_meta_json() writes its keys:
 *
 *	struct px_meta m;
 *	px_meta_begin(&m);
 *	... measure ...
 *	px_meta_end(&m);
 *	fputs("{\"tool\": ...", f);
 *	fputs(", ", f);
 *	px_meta_json(f, &m);    -- "pollux_version": ..., "time": ..., "machine": {...}
 *	fputs("}\n", f);
 *
 * The settings that change a tool's figures are the tool's own to write. */
#ifndef POLLUX_TOOLS_META_H
#define POLLUX_TOOLS_META_H

#include <stdio.h>

struct px_meta {
	char time[32];            /* "2026-12-02T00:51:28Z" */
	long cores;               /* online processors, -1 if unknown */
	char kernel[200];         /* uname: "Linux 6.8.0-45-generic x86_64" */
	double load_before[3], load_after[3]; /* 1, 5, 15 minutes */
	int have_before, have_after;
};

/* Records the time, the machine and the load average now. */
void px_meta_begin(struct px_meta *m);
/* Records the load average now (after the run). */
void px_meta_end(struct px_meta *m);
/* Writes the keys (no braces around them, no comma before or after):
 * "pollux_version": "0.2.0", "time": "...", "machine": {"cores": 2,
 * "kernel": "...", "loadavg_before": [1m, 5m, 15m], "loadavg_after": [...]}
 * An unknown value is null. */
void px_meta_json(FILE *f, const struct px_meta *m);

#endif
