/* lab.h: what the files of pollux-lab share: the table of lessons, the
 * options of one run, and the helpers every lesson uses (the JSON result,
 * the text output, child processes, the servers it starts, gnuplot). */
#ifndef POLLUX_LAB_H
#define POLLUX_LAB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "../scale/proc.h"	/* struct proc: children in their own groups */

#define LAB_NAME "pollux-lab"

/* What a lesson returns, and pollux-lab's exit status. */
enum {
	LAB_OBSERVED = 0,	/* the effect was measured */
	LAB_NOT_OBSERVED = 1,	/* measured, but the numbers did not show it,
				 * or the lesson could not run here (verdict says why) */
	LAB_USAGE = 2
};

struct lab_opts {
	int quick;		/* --quick: the short form (at most 15 s) */
	const char *json;	/* --json FILE ("-": stdout), or NULL */
	const char *plot;	/* --plot FILE.svg, or NULL */
	const char *backend;	/* -b NAME, or NULL: the lesson's choice */
	double seconds;		/* --seconds S, 0: the lesson's default */
	int quiet;		/* -q: only the verdict line */
	int progress;		/* a progress line on stderr (a terminal) */
	const char *argv0;
};

/* options.c: the command line into *o; returns the command ("list",
 * "all" or a lesson's name, checked). Exits 0 after --help, --version and
 * --list-backends, 2 on bad usage. */
const char *lab_options(struct lab_opts *o, int argc, char **argv);

/* A JSON object being written: members are added in order, nested objects
 * opened and closed with jw_open/jw_close. Every value is checked: a NaN
 * or infinite number is written as null (no figure is made up). */
struct jw {
	char *buf;
	size_t len;
	FILE *f;		/* memstream over buf */
	int depth;
	int first[16];		/* no member written yet at this depth */
};

struct lab {
	const struct lab_opts *o;
	const struct lesson *lesson;
	FILE *out;		/* the text for people: stdout, or stderr
				 * when the JSON goes to stdout */
	struct jw settings, meas;	/* "settings" and "measurements" */
	char verdict[2048];
	int observed;		/* set by lab_verdict */
	struct proc *procs[64];	/* children lab_spawn started, still held
				 * (until the lesson ends) */
	char *tmpdir;		/* lab_tmpdir(): removed at the end */
	uint64_t start_us;
};

struct lesson {
	const char *name;
	const char *question;
	int (*run)(struct lab *L);
	int plots;		/* --plot draws a picture */
};

/* lessons.c: the table, in the course's order, NULL-ended. Each lesson's
 * file defines its entry, lab_lesson_NAME. */
extern const struct lesson *const lab_lessons[];
const struct lesson *lab_find(const char *name);

/* ---- output (lab.c) ---- */

/* The setup lines: what runs, how many clients, how long. */
void lab_setup(struct lab *L, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Free text on stdout (the table); silent with -q. */
void lab_printf(struct lab *L, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The verdict: observed or not, with the measured numbers in the text.
 * Returns LAB_OBSERVED or LAB_NOT_OBSERVED, for `return lab_verdict(...)`. */
int lab_verdict(struct lab *L, int observed, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The lesson cannot run here: prints why on stderr (one line) and makes it
 * the verdict, not observed. Returns LAB_NOT_OBSERVED. The lesson should
 * still have written its measurement keys (null where not measured). */
int lab_fail(struct lab *L, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A progress line on stderr when it is a terminal ("" clears it). */
void lab_progress(struct lab *L, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* text on stdout (like lab_printf) wrapped at 72 columns, each line
 * after indent; a '\n' in text starts a new line. For the notes under a
 * table, so that nothing printed is wider than a terminal or the page. */
void lab_wrap(struct lab *L, const char *indent, const char *text);
/* "1,048,576": n with thousands separators, into buf. */
const char *lab_commas(char *buf, size_t n, unsigned long long v);
/* v with that many decimals, or "-" when it was not measured (NaN), for
 * the tables. Returns buf. */
const char *lab_fmt(char *buf, size_t n, double v, int decimals);

/* ---- the JSON result (jw.c) ---- */

void jw_init(struct jw *w);
void jw_free(struct jw *w);
/* The text written so far, as one object ("{...}"); closes what is open. */
const char *jw_text(struct jw *w);
void jw_open(struct jw *w, const char *key);	/* "key": { */
void jw_close(struct jw *w);			/* } */
void jw_num(struct jw *w, const char *key, double v);
void jw_int(struct jw *w, const char *key, long long v);
void jw_bool(struct jw *w, const char *key, int v);
void jw_str(struct jw *w, const char *key, const char *s);
void jw_null(struct jw *w, const char *key);

/* ---- time, stops and children (run.c) ---- */

/* Set once SIGINT, SIGTERM or SIGHUP arrived: every lesson checks it in
 * its loops and returns; the lab then stops every child it holds. */
int lab_stopped(void);
/* Sleeps ms (or until a stop signal); -1 when stopped. */
int lab_sleep_ms(int ms);
double lab_now_s(void);
/* The lesson's duration: --seconds, else quick_s with --quick, else full_s. */
double lab_seconds(const struct lab *L, double quick_s, double full_s);

/* For a lesson whose phases end by themselves (no --seconds to honour):
 * records settings.seconds as null and, when --seconds was given, says
 * on stderr that it is ignored. */
void lab_no_timed_phase(struct lab *L);
/* Records settings.clients_backend: the backend of the lab's own client
 * pollers, which keep the library's default whatever -b says (-b is the
 * server's), so that a capped select cannot fail the instrument first. */
void lab_clients_backend(struct lab *L);

/* The setup line of a lesson that compares server models: "pollux-server
 * --model MODELS, in turn", with the loop's backend when -b names one. */
void lab_setup_models(struct lab *L, const char *models);

/* Path of a pollux tool ("pollux-server", "pollux-load", ...): beside
 * pollux-lab, then PATH. Static storage per name; NULL if not found. */
const char *lab_tool(struct lab *L, const char *name);

/* Starts argv (argv[0] a path) as a child in its own process group, held
 * by L until lab_stop_proc (or the end of the lesson). NULL and errno. */
struct proc *lab_spawn(struct lab *L, const char *const argv[]);
/* Forks a child (held like lab_spawn's) that runs fn(arg) and exits with
 * its return value: for the lessons' deliberately wrong programs, which
 * must never run inside the lab itself. stdout and stderr go to p->out and
 * p->err. NULL and errno. */
struct proc *lab_fork(struct lab *L, const char *name, int (*fn)(void *), void *arg);
/* Stops one child: sig, up to grace_ms, then SIGKILL; output kept in p. */
void lab_stop_proc(struct lab *L, struct proc *p, int sig, int grace_ms);
/* Reads p's output for up to timeout_ms; -1 when stopped by a signal. */
int lab_pump(struct proc *p, int timeout_ms);

/* pollux-server -q -l 127.0.0.1:0 ARGS...: started, and its port read from
 * the "listening" line (bounded wait). NULL after a message on stderr. */
struct proc *lab_server(struct lab *L, int *port, const char *const args[]);
/* net.c. connect(2) of fd to 127.0.0.1:port that goes on after EINTR, for
 * at most timeout_ms (-1: no bound); 0, or -1 and errno. */
int lab_connect_lo(int fd, int port, int timeout_ms);
/* send(2) until all n bytes went, past EINTR; 0, or -1 and errno. */
int lab_send_all(int fd, const void *buf, size_t n);
/* GET path from the server at 127.0.0.1:port; the body (malloc'd, NUL
 * ended) or NULL. For /stats. */
char *lab_http_get(int port, const char *path, int timeout_ms);
/* A connected TCP pair over 127.0.0.1 (blocking, close-on-exec): fds[0]
 * the connecting end, fds[1] the accepted one. 0, or -1 and errno. For
 * the lessons about what a real TCP connection does (segments, windows,
 * Nagle), which a socketpair would not show. */
int lab_tcp_pair(int fds[2]);
/* The backend the pollux-server at 127.0.0.1:port says it runs on (its
 * /stats "backend"), into buf; "" when it does not answer. */
void lab_server_backend(int port, char *buf, size_t n);
/* A number from a flat JSON text ("key": N), or NAN. */
double lab_json_num(const char *json, const char *key);

/* A private temporary directory, removed with everything in it at the
 * end of the lesson. NULL after a message. */
const char *lab_tmpdir(struct lab *L);

/* ---- measuring a process (run.c) ---- */

/* User + system CPU seconds of pid (and of its reaped children), from
 * /proc/PID/stat; NAN when unknown. */
double lab_cpu_s(pid_t pid);
/* Resident set in KiB of pid (VmRSS), NAN when unknown. */
double lab_rss_kib(pid_t pid);
/* Threads of pid (/proc/PID/status), -1 when unknown. */
long lab_threads(pid_t pid);
/* Live child processes of pid, with their RSS summed into *rss_kib when
 * not NULL; -1 when unknown. */
long lab_children(pid_t pid, double *rss_kib);
/* Proportional set size of pid in KiB (Pss of /proc/PID/smaps_rollup:
 * pages shared with others count by share), else VmRSS; NAN when unknown. */
double lab_pss_kib(pid_t pid);
/* Open descriptors of pid (entries of /proc/PID/fd), -1 when unknown. */
long lab_fds(pid_t pid);

/* ---- pictures (plot.c) ---- */

/* Runs gnuplot on script (datablocks and plot commands) after a common
 * preamble that sets the SVG terminal, the output file --plot names, the
 * title and the colours. 0, or -1 after a message (no gnuplot: said once,
 * and the lesson still counts). */
int lab_plot(struct lab *L, const char *title, const char *script);
/* Writes s as a gnuplot single-quoted string. */
void lab_gp_string(FILE *f, const char *s);

/* ---- the lab's own clients (clients.c) ---- */

/* One client of a burst; times in seconds from the start of the run, NAN
 * when it never got there. */
struct lab_client {
	double t_connect;	/* connect() called */
	double t_connected;	/* handshake done */
	double t_sent;		/* the whole request written */
	double t_first;		/* first byte of the answer */
	double t_done;		/* the answer ended (the server closed) */
	size_t bytes;		/* of the answer */
	int status;		/* HTTP status, 0: none */
	int err;		/* errno of a failure (EPROTO: not 2xx), 0 */
};
struct lab_clients;
struct lab_clients_opts {
	int port;		/* on 127.0.0.1 */
	int n;			/* clients */
	const char *path;	/* GET path HTTP/1.1 with Connection: close */
	double timeout_s;	/* the whole run, at most (0: 30 s) */
	/* > 0: client 0 connects first, then the others; it sends its request
	 * only lead_ms after they started (a slow client at the head). */
	int lead_ms;
	/* Called every tick_ms (and at the start) with the run's time and the
	 * counts so far: for sampling the server while the clients wait. */
	void (*tick)(void *arg, double t, const struct lab_clients *r);
	void *tick_arg;
	int tick_ms;
	const char *backend;	/* the clients' poller, NULL: the default */
};
struct lab_clients {
	int n;
	struct lab_client *c;
	double t0;		/* lab_now_s() at the start */
	double t_burst;		/* when the n (or n - 1) others began to connect */
	int answered;		/* a complete 2xx answer */
	int failed;		/* an error, or not 2xx (c[i].err says) */
	int unfinished;		/* still waiting at the timeout */
};
/* Runs the burst: every client connects at once, sends its request, reads
 * the answer to the end. 0 (some may have failed: see r), -1 when stopped
 * or on a local failure (message given). Free r with lab_clients_free. */
int lab_clients_run(struct lab *L, const struct lab_clients_opts *o, struct lab_clients *r);
void lab_clients_free(struct lab_clients *r);

/* Idle connections: opened at once and held, silent. */
struct lab_idle {
	int *fd;
	int n;			/* sockets made */
	int connected;		/* whose handshake completed */
	int pending;		/* still connecting when the wait ended */
	int failed, err;	/* connects refused or failed, the last errno */
};
/* Opens n connections to 127.0.0.1:port and waits until every handshake
 * is done, or none finished for stall_s, or timeout_s. 0, or -1 when
 * stopped or out of memory. The sockets stay open until lab_idle_close. */
int lab_idle_open(struct lab *L, struct lab_idle *h, int port, int n, double timeout_s,
                  double stall_s);
void lab_idle_close(struct lab_idle *h);

/* ---- the server designs of pollux-server --model (model.c) ---- */

/* pollux-server --model MODEL (with -b for loop when the lab got one, and
 * the options in extra, NULL-ended, may be NULL), checked through /stats to
 * run that model. NULL with the reason in why. */
struct proc *lab_model_server(struct lab *L, const char *model, const char *const extra[],
                              int *port, char *why, size_t whylen);
/* What a server weighs: its PSS plus its children's (KiB), its threads,
 * itself plus its children, its open descriptors; NAN or -1 when unknown. */
struct lab_weight {
	double kib;
	long threads, processes, fds;
};
void lab_weigh(pid_t pid, struct lab_weight *w);

/* ---- the sweep (scaling.c), shared by the lessons that fit a cost ---- */

#define LAB_SWEEP_MAX 8
#define LAB_SWEEP_POINTS 64
struct lab_sweep_backend {
	char name[16];
	double ns_per_fd, base_us, r2;	/* NAN when not fitted */
};
struct lab_sweep_point {
	char backend[16];
	double fds, rps, us_per_wait;
	int failed;
};
struct lab_sweep {
	struct lab_sweep_backend b[LAB_SWEEP_MAX];
	int nb;
	struct lab_sweep_point p[LAB_SWEEP_POINTS];
	int np;
};
/* Runs pollux-scale over backend (NULL: every one built) and the fds list
 * ("0,1000,4000"), seconds per point; 0, or -1 after a message. */
int lab_sweep(struct lab *L, const char *backend, const char *fds,
              double seconds, struct lab_sweep *r);

/* ---- inside the lab (run.c) ---- */

/* Stops and frees every child L holds, removes its temporary directory. */
void lab_release(struct lab *L);
int lab_remove_tree(const char *dir);

#endif
