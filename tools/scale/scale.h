/* scale.h: what the files of pollux-scale share: the sweep's settings, one
 * measured point, child processes, the JSON reader and the outputs. */
#ifndef POLLUX_SCALE_H
#define POLLUX_SCALE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define SCALE_MAX_BACKENDS 8
#define SCALE_MAX_FDS 64

struct scale_opts {
	const char *backends[SCALE_MAX_BACKENDS];
	int nbackends;
	unsigned long fds[SCALE_MAX_FDS];
	int nfds;
	unsigned long active;
	double duration;	/* seconds of measured load per point */
	int repeat;		/* --repeat: runs per point (median kept) */
	double warmup;		/* seconds before the measurement */
	const char *csv, *json, *plot;
	const char *server_cmd, *load_cmd;
	int progress;		/* draw a progress line on stderr */
	/* Descriptors one server or load process may hold (connections);
	 * a point needing more runs ceil(need / this) processes of each. */
	unsigned long fds_per_process;
	/* 1-minute load average before and after the sweep (NAN: unknown):
	 * others' work on the machine skews every figure. */
	double load_start, load_end;
	int load_noisy;		/* load_start above half the cores: warned */
	/* The command line as given (options.c). */
	int quick;		/* --quick */
	int quiet;		/* -q: no progress line, no notes */
	int fds_given;		/* --fds: select and poll are not capped */
	int per_given;		/* --fds-per-process */
};

/* ---- options.c ---- */

/* Parses argv into *o, with the defaults (--quick's among them) filled in;
 * exits 0 after --help, --version, --list-backends, 2 on bad usage. */
void scale_options(struct scale_opts *o, int argc, char **argv);
/* Sorts o->fds and drops duplicates. */
void scale_tidy_fds(struct scale_opts *o);

/* One (backend, fds) run. Numbers are NAN when not measured. */
struct scale_point {
	const char *backend;
	unsigned long fds, active;
	double rps, p50_us, p99_us;
	double us_per_wait, events_per_wait;
	/* Server CPU time (user + system, all its processes) in the window,
	 * and that per wait: what the wait and the handling of its events
	 * cost, without the sleeping that us_per_wait (wall time inside
	 * pollux_wait) includes. */
	double cpu_s, cpu_us_per_wait;
	/* --repeat: runs made and runs that succeeded; the figures above are
	 * the medians of the good runs, these their smallest and largest. */
	int runs, runs_ok;
	double rps_min, rps_max, us_min, us_max, cpu_min, cpu_max;
	double registered;	/* fds in the server's poller during the window */
	double waits;		/* pollux_wait calls inside the window */
	double window_s;	/* length of the server-side window */
	int server_procs;	/* pollux-server --processes (0: not run) */
	int load_procs;		/* pollux-load --processes */
	int sources;		/* pollux-load --source addresses */
	double pollers;		/* event loops over the server ("workers"
				 * of /stats); 0 or NAN: one */
	double fds_per_poller;	/* registered / pollers: the fit's x */
	int whole_run;		/* window fell back to the whole run */
	unsigned long errors;	/* failed requests and connections (load) */
	char error[256];	/* non-empty: the point failed, and why */
};

/* What a fit is of: server CPU per wait, or wall time in the wait. */
enum scale_y { SCALE_Y_CPU, SCALE_Y_WALL };

struct scale_fit {
	enum scale_y y;
	int n;			/* points used */
	double ns_per_fd;	/* slope: ns per registered fd per wait */
	/* Where the line crosses 0 fds, in us per wait. Not a cost: a line
	 * through a curve that bends up crosses below zero. */
	double intercept_us;
	double r2;
};

/* ---- run.c: child processes and one point ---- */

/* Called now and then while a point runs (the progress line); may be NULL. */
extern void (*scale_tick)(void);

/* Set by the SIGINT/SIGTERM/SIGHUP handler; every wait watches it. */
extern volatile sig_atomic_t scale_stop_signal;

/* Installs the signal handlers and the self-pipe that wakes waits. */
int scale_signals_init(void);

/* Finds pollux-server/pollux-load: override, next to argv0's executable,
 * then PATH. Returns a malloc'd path or NULL. */
char *scale_find_tool(const char *name, const char *override,
                      const char *argv0);

/* Set by --verbose: trace each phase of a point on stderr. */
extern int scale_verbose;

/* Processes a side for CONNS connections (o->fds_per_process each), and
 * the pollux-load --source addresses (127.0.0.2 on) they use. */
int scale_procs_for(const struct scale_opts *o, unsigned long conns);
int scale_sources_for(unsigned long conns, int procs);

/* Runs one point with server and load, filling *pt (pt->error on failure).
 * Returns -1 only when interrupted by a signal. */
int scale_run_point(const struct scale_opts *o, const char *server,
                    const char *load, struct scale_point *pt);

/* ---- json.c: a small reader for the tools' JSON objects ---- */

enum json_type { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct json {
	enum json_type type;
	double num;		/* J_NUM, J_BOOL (0/1) */
	char *str;		/* J_STR */
	char *key;		/* member name when inside an object */
	struct json *child;	/* first element or member */
	struct json *next;	/* next sibling */
};

/* Parses one JSON value filling the whole text (whitespace around it is
 * fine). NULL on any syntax error, with a reason in err. */
struct json *json_parse(const char *text, char *err, size_t errlen);
void json_free(struct json *j);
/* Member of an object by name, or NULL. */
const struct json *json_get(const struct json *obj, const char *key);
/* Number member, or NAN when missing or not a number. */
double json_num(const struct json *obj, const char *key);
/* Sum of all number members of an object member (errors by kind). */
double json_sum(const struct json *obj, const char *key);

/* ---- fit.c ---- */

/* Descriptors in one poller: registered / pollers (one when unknown). */
double scale_fds_per_poller(const struct scale_point *p);

/* The figure y of a point (cpu_us_per_wait or us_per_wait), NAN if none. */
double scale_y_of(const struct scale_point *p, enum scale_y y);

/* Least-squares line through the successful points of one backend:
 * x = registered fds per poller, y = ns per wait of one poller. */
void scale_fit(const struct scale_point *pts, int n, const char *backend,
               enum scale_y y, struct scale_fit *fit);

/* The marginal cost at p: the change of y (ns per wait) per descriptor
 * per poller since the good point of the same backend with the next
 * smaller fds (the row above); NAN at the first point, without figures,
 * or when the descriptors per poller grew by less than 5% (a point split
 * over more processes). */
double scale_marginal_ns(const struct scale_point *pts, int n,
                         const struct scale_point *p, enum scale_y y);

/* Folds the n runs of one point into *out: the first run's identity,
 * medians of the good runs' figures, their min and max, runs and
 * runs_ok; the first failure's reason when no run succeeded. */
void scale_combine(const struct scale_point *runs, int n,
                   struct scale_point *out);
/* Median of n numbers (sorted in place), NAN ones left out; NAN if none. */
double scale_median(double *v, int n);

/* ---- output.c ---- */

void scale_print_table(FILE *f, const struct scale_opts *o,
                       const struct scale_point *pts, int n);
void scale_print_fit(FILE *f, const struct scale_opts *o,
                     const struct scale_fit *fits);
void scale_print_bars(FILE *f, const struct scale_opts *o,
                      const struct scale_point *pts, int n);
/* The report's last lines: what the run showed at its largest fd count,
 * scanning backends against ready-list ones (POLLUX_FEAT_O1), then
 * plot_said (where the plot went, or why none), then what the columns
 * mean. */
void scale_print_summary(FILE *f, const struct scale_opts *o,
                         const struct scale_point *pts, int n,
                         const char *plot_said);
/* Opens an output ("-": stdout) before the sweep, so that a bad path is
 * told at once, not after minutes of measuring; NULL after a message. */
FILE *scale_open_out(const char *opt, const char *path);
/* Write and close f (opened by scale_open_out); 0 or -1 after a message. */
int scale_write_csv(FILE *f, const char *path,
                    const struct scale_point *pts, int n);
struct px_meta;
int scale_write_json(FILE *f, const char *path,
                     const struct scale_opts *o, const struct px_meta *meta,
                     const struct scale_point *pts, int n,
                     const struct scale_fit *fits,
                     const struct scale_fit *wall_fits);
/* "machine: N cores (CPU), Linux RELEASE ARCH, load average A -> B" */
void scale_machine_line(FILE *f, const struct scale_opts *o);

/* ---- plot.c ---- */

/* Path of gnuplot ($GNUPLOT, then PATH) or NULL; malloc'd. */
char *scale_find_gnuplot(void);
int scale_plot(const char *gnuplot, const char *svg,
               const struct scale_opts *o, const struct scale_point *pts,
               int n);

/* ---- ports.c ---- */

/* The ephemeral port range (Linux); 0 or -1. */
int scale_port_range(long *lo, long *hi);
/* Ports of that range that no TCP socket bound to 127.0.0.1 or a wildcard
 * address uses now, or -1 if unknown. */
long scale_free_ports(void);

/* One line of the system-wide limits (fs.file-max, fs.nr_open, file-nr,
 * ip_local_port_range, RLIMIT_NOFILE, MemAvailable, tcp_mem, sockets),
 * then, for each that binds for CONNS connections in PROCS processes a
 * side over NSRC source addresses, why and the fix. */
void scale_print_limits(FILE *f, unsigned long conns, int procs, int nsrc,
                        unsigned long per_process);

/* ---- shared helpers (proc.c) ---- */

/* Searches PATH for an executable NAME; malloc'd path or NULL. */
char *scale_which(const char *name);

#endif
