/* server.h: what the pollux-server files share: options, the server and its
 * workers, connections, statistics counters and the functions between them. */
#ifndef POLLUX_SERVER_H
#define POLLUX_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "common.h"
#include "parse.h"
#include "pollux.h"

#define SERVER_NAME "pollux-server"

struct server;
/* options.c: the command line into s->opt and s->ls, the backend judged
 * (s->backend_name); exits on --help, --version, bad usage. */
void server_options(struct server *s, int argc, char **argv);

enum proto { PROTO_HTTP, PROTO_ECHO };

/* The server designs of --model; keep in step with model_names. */
enum model { MODEL_LOOP, MODEL_ITERATIVE, MODEL_THREADS, MODEL_FORK, MODEL_BUSY,
	     MODEL_COUNT };
extern const char *const model_names[MODEL_COUNT];

struct options {
	const char *backend;		/* NULL: the library's choice */
	enum model model;
	enum proto proto;
	const char *root;		/* --root as given, or NULL */
	char *root_real;		/* its realpath */
	size_t root_len;
	int root_fd;			/* files.c: the root, for openat2; -1 if unused */
	int use_sendfile;
	unsigned workers;		/* event-loop threads per process */
	unsigned processes;		/* --processes; 0: one process, no parent */
	unsigned long max_conns;	/* 0: no limit */
	uint64_t idle_ns;		/* 0: no idle timeout */
	uint64_t stats_ns;		/* 0: no periodic statistics */
	int json;			/* --json given: objects into json_out */
	FILE *json_out;			/* --json FILE, or stdout for '-' */
	int quiet;
	size_t header_limit;		/* request line + headers, bytes */
	size_t output_cap;		/* pending output that stops reading */
	unsigned long keepalive_requests;	/* close after this many; 0: never */
};

/* Every object registered with a poller starts with its kind, so the event
 * loop knows what the user data pointer of an event is. */
enum obj_kind { OBJ_LISTENER = 1, OBJ_CONN, OBJ_SIGNAL };

/* Kinds of trouble counted in "errors"; keep in step with err_names. */
enum err_kind {
	ERR_EMFILE,		/* accept hit the descriptor limit */
	ERR_ACCEPT,		/* other accept failures */
	ERR_MAX_CONNS,		/* closed at once: over --max-conns */
	ERR_REGISTER,		/* pollux_add/mod failed */
	ERR_OOM,		/* malloc failed */
	ERR_READ,		/* recv failed (not EAGAIN) */
	ERR_RESET,		/* peer reset or vanished */
	ERR_WRITE,		/* send failed */
	ERR_FILE,		/* sendfile/pread failed or file shrank */
	ERR_IDLE,		/* closed for idleness */
	ERR_SPAWN,		/* no thread or process for a connection */
	ERR_HTTP_400,
	ERR_HTTP_403,
	ERR_HTTP_404,
	ERR_HTTP_405,
	ERR_HTTP_413,
	ERR_HTTP_414,
	ERR_HTTP_416,
	ERR_HTTP_431,
	ERR_HTTP_500,		/* a file could not be opened or read (not ENOENT) */
	ERR_HTTP_501,
	ERR_HTTP_503,		/* a file could not be opened: out of descriptors */
	ERR_HTTP_505,
	ERR_COUNT
};
extern const char *const err_names[ERR_COUNT];

/* Counters of one worker. Only the owning thread writes them (a relaxed
 * load+store, a plain mov on common hardware); other threads read them for
 * /stats, so they are atomics to keep that read well defined. */
struct wstats {
	_Atomic uint64_t accepted, closed, requests, bytes_in, bytes_out;
	_Atomic uint64_t waits, events, wait_ns, registered, buffered;
	_Atomic uint64_t file_read, file_sent;	/* pread into user space; file body sent */
	_Atomic uint64_t err[ERR_COUNT];
};
#define STAT_ADD(st, field, n) \
	atomic_store_explicit(&(st)->field, \
		atomic_load_explicit(&(st)->field, memory_order_relaxed) + (uint64_t)(n), \
		memory_order_relaxed)
#define STAT_GET(st, field) atomic_load_explicit(&(st)->field, memory_order_relaxed)

/* Connection flags. */
#define C_RD_EOF	0x01u	/* peer finished sending */
#define C_CLOSE_AFTER	0x02u	/* close once pending output is written */
#define C_LINGER	0x04u	/* write side shut, draining input before close */
#define C_TCP		0x08u
#define C_DELAY		0x10u	/* held by /delay: on the timer heap, in no list */
#define C_DELAY_HEAD	0x20u	/* the held request was HEAD */
#define C_UNSURE	0x40u	/* more input may be on its way or was thrown
				   away: a closing answer lingers for it */
#define C_SENT		0x80u	/* something was written to it */
#define C_NODELAY	0x100u	/* TCP_NODELAY is set */
#define C_FULL_READ	0x200u	/* the last read filled the buffer given */
#define C_CHUNKED	0x400u	/* reading past a chunked request body */
#define C_MORE		0x800u	/* requests left unparsed: this wakeup's budget is spent */

/* Requests one connection may have answered per wakeup of the event loop
 * before the others get their turn (pipelining clients otherwise keep a
 * worker to themselves for as long as they have requests buffered). */
#define REQ_BUDGET 32

/* How long a closing connection may keep sending us bytes before we give
 * up on a clean FIN and close anyway. */
#define LINGER_NS (2000000000ull)

/* One client. Kept small: an idle connection holds only this struct (no
 * buffers), well under the 512-byte budget. */
struct conn {
	int kind;			/* OBJ_CONN */
	int fd;
	struct conn *prev, *next;	/* active or linger list, oldest first */
	uint64_t last_ns;		/* last activity, for the idle timeout */
	unsigned interest;		/* what the poller has now */
	unsigned flags;			/* C_* */
	char *in;			/* unparsed input, NULL when none */
	uint32_t in_len, in_cap;
	char *out;			/* pending output, NULL when none */
	uint32_t out_off, out_len, out_cap;
	int file_fd;			/* file body being sent, -1 if none */
	off_t file_off;
	off_t file_left;
	uint64_t body_left;		/* request body bytes still to skip */
	struct http_chunked chunk;	/* C_CHUNKED: where in the body we are */
	uint32_t nreq;			/* requests answered, for --keepalive-requests */
	uint16_t burst;			/* requests answered in this wakeup */
	uint64_t wake_ns;		/* C_DELAY: when to answer */
	uint32_t heap_idx;		/* C_DELAY: place in the worker's timer heap */
	uint16_t delay_ms;		/* C_DELAY: what was asked, for the body */
	uint8_t delay_keep;		/* C_DELAY: keep-alive form, as in respond() */
};

struct conn_list {
	struct conn *head, *tail;
	size_t n;
};

struct listener {
	int kind;			/* OBJ_LISTENER */
	int fd;
	int owned;			/* this worker closes it */
	int registered;
	int is_tcp;
};

/* Counters that outlive the worker (thread or process) that counted them,
 * in memory every process of the server maps (MAP_SHARED): the fork model's
 * connection processes and the --processes workers both use it. */
struct stats_shared {
	struct wstats retired;		/* folded in from the workers that ended */
	_Atomic long open, peak;	/* --processes: the whole server's */
	_Atomic long alive;		/* child processes serving now */
	/* Odd while the parent folds an ended worker's counters into retired:
	 * a sum taken meanwhile would miss or double them, so it waits and
	 * reads again (a sequence lock across processes). */
	_Atomic unsigned long seq;
};

/* Whether SO_REUSEPORT spreads the connections to one port over the sockets
 * bound to it: Linux (3.9 on) hashes each connection to one of them; on the
 * BSDs and macOS the last socket bound takes them all, so there the event
 * loops share one listening socket instead. */
#if HAVE_DECL_SO_REUSEPORT && defined(__linux__)
#define REUSEPORT_SPREADS 1
#else
#define REUSEPORT_SPREADS 0
#endif

struct server;
struct session;
struct fork_shared;
struct procs_shared;

struct worker {
	struct server *srv;
	unsigned id;
	pollux_t *p;
	struct listener *ls;		/* one per --listen */
	size_t nls;
	uint64_t accept_resume_ns;	/* listeners paused until then; 0: not paused */
	int spare_fd;			/* kept open to accept-and-close on EMFILE */
	struct conn_list active;	/* ordered by last_ns */
	struct conn_list linger;
	char *rbuf;			/* scratch for reads */
	size_t rbuf_size;
	uint64_t now_ns;
	int stopping;
	uint64_t stop_deadline_ns;
	uint64_t next_stats_ns;
	int sig_registered;
	struct { int kind; } sigobj;	/* user data of the signal pipe */
	time_t date_t;
	char date[40];			/* cached HTTP Date header value */
	/* The whole answer to GET / for each keep-alive form, rebuilt when
	 * the Date changes: the benchmark path is one copy, no formatting. */
	time_t hello_t;
	char hello[3][256];
	uint16_t hello_len[3], hello_head[3];
	struct conn **heap;		/* /delay timers: a binary min-heap on wake_ns */
	uint32_t heap_n, heap_cap;
	/* Called before a connection's descriptor is closed, so whoever may
	 * shutdown(2) it from elsewhere (a signal handler, the main thread)
	 * stops using the number first. NULL in the event loop. */
	void (*before_close)(struct worker *w, struct conn *c);
	void *owner;
	pthread_t thread;
	int failed;
	struct wstats st;
};

struct listen_spec {
	const char *arg;
	struct sockaddr_storage ss;
	socklen_t len;
	char text[PX_ADDRSTRLEN];
	int shared_fd;			/* -1 when each worker binds its own */
	int unlink_at_exit;
};

struct server {
	struct options opt;
	struct listen_spec *ls;
	size_t nls;
	struct worker *w;
	unsigned nworkers;
	const char *backend_name;
	uint64_t start_ns;
	int sigpipe[2];
	/* Connections open now and most at once: here (open_here, peak_here)
	 * or, with --processes, in the shared page, so that --max-conns and
	 * peak_open are the whole server's. */
	_Atomic long *open, *peak;
	_Atomic long open_here, peak_here;
	_Atomic int failed;
	/* When the last "out of file descriptors" line was printed: shared,
	 * so the message stays at one a second whatever --workers says. */
	_Atomic uint64_t emfile_msg_ns;
	_Atomic uint64_t spawn_msg_ns;	/* the same for "cannot spawn" */
	/* models.c: the threads model's live connection threads, and the
	 * fork model's shared statistics; NULL/0 for the other models. */
	pthread_mutex_t mx;
	struct session *sessions;	/* threads: live ones, under mx */
	struct wstats retired;		/* threads: of the ended ones, under mx */
	_Atomic long nthreads;
	struct fork_shared *fs;
	struct worker *self;		/* fork child: its connection's worker */
	struct procs_shared *ps;	/* --processes: every worker's counters */
};

/* Set by SIGINT/SIGTERM (lock-free, so the handler may store it). */
extern _Atomic int stop_requested;
/* A descriptor the SIGINT/SIGTERM handler shuts down for reading, to wake
 * a blocking model's recv; -1 for none. */
extern _Atomic int stop_shutdown_fd;

/* loop.c */
int  worker_init(struct worker *w, struct server *s, unsigned id);
void *worker_run(void *arg);
void worker_free(struct worker *w);
void server_signals(struct server *s);
void server_signals_child(void);
void server_signal_chld(void);
int  server_sigpipe(struct server *s);
void worker_listeners(struct worker *w, struct server *s, const int *fds,
                      unsigned loops, unsigned k);
int  server_run_loops(struct server *s);
int  worker_init_plain(struct worker *w, struct server *s);
void worker_accept(struct worker *w, struct listener *l);
void worker_emfile(struct worker *w, struct listener *l, int err);
void worker_stop(struct worker *w);
void worker_expire(struct worker *w);
void worker_periodic(struct worker *w);
void server_ratelimited(struct server *s, _Atomic uint64_t *last, uint64_t now,
                        const char *fmt, ...);

/* conn.c */
void conn_list_push(struct conn_list *l, struct conn *c);
void conn_list_unlink(struct conn_list *l, struct conn *c);
void conn_touch(struct worker *w, struct conn *c);
struct conn *conn_new(struct worker *w, int fd, int is_tcp);
void conn_close(struct worker *w, struct conn *c);
void conn_event(struct worker *w, struct conn *c, unsigned events);
void conn_progress(struct worker *w, struct conn *c);
void conn_stop(struct worker *w, struct conn *c);
int  out_append(struct worker *w, struct conn *c, const void *p, size_t n);
size_t conn_pending(const struct conn *c);
int  conn_delay(struct worker *w, struct conn *c, unsigned ms, int head, int keep);

/* timers.c */
int  timer_add(struct worker *w, struct conn *c);
void timer_del(struct worker *w, struct conn *c);
uint64_t timer_next(const struct worker *w);	/* 0: none */
void timers_fire(struct worker *w);

/* models.c */
int  model_run(struct server *s);
void models_threads_sum(struct server *s, struct wstats *sum);
uint64_t models_fork_sum(struct server *s, struct wstats *sum, long *peak);

/* procs.c */
int  procs_run(struct server *s, int *fds, unsigned loops);
uint64_t procs_sum(struct server *s, struct wstats *sum);
unsigned procs_loops(const struct server *s);

/* http.c */
size_t http_process(struct worker *w, struct conn *c, const char *buf, size_t len);
int  http_delay_answer(struct worker *w, struct conn *c);

/* files.c */
struct file_res {
	int fd;
	off_t size;
	time_t mtime;
	const char *ctype;
	char loc[2048];			/* 301: the path to send the client to */
};
int files_init(struct options *o);
/* 200 with res filled, or the status to answer: 301 (a directory asked for
 * without its '/': res->loc), 400, 403, 404, 500, 503 (out of descriptors). */
int files_open(const struct options *o, const char *path, size_t len,
               struct file_res *res);
const char *files_ctype(const char *name, size_t len);

/* stats.c */
struct stats_sum {
	const char *backend;
	const char *model;
	unsigned workers;
	uint64_t threads, processes;
	double uptime_s;
	uint64_t accepted, closed, open, peak, requests, bytes_in, bytes_out;
	uint64_t waits, events, wait_ns, registered, buffered;
	uint64_t file_read, file_sent;
	uint64_t err[ERR_COUNT];
};
void stats_collect(struct server *s, struct stats_sum *t);
void wstats_copy(struct wstats *dst, const struct wstats *src);
void wstats_add(struct wstats *dst, const struct wstats *src);
void *shared_map(size_t size);
void shared_fold_begin(struct stats_shared *sh);
void shared_fold(struct stats_shared *sh, struct wstats *st);
void shared_fold_end(struct stats_shared *sh);
void shared_sum(struct stats_shared *sh, struct wstats *sum,
                void (*add_live)(void *ctx, struct wstats *sum), void *ctx);
void stats_json(FILE *f, const struct stats_sum *t);
void stats_text(FILE *f, const struct stats_sum *t);
void stats_line(FILE *f, const struct stats_sum *t);

#endif
