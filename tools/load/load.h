/* load.h: what the parts of pollux-load share: the run configuration,
 * per-thread state and statistics, the histogram and the HTTP parser. */
#ifndef POLLUX_LOAD_H
#define POLLUX_LOAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "meta.h"
#include "pollux.h"

/* ---- histogram (hist.c) ------------------------------------------------ */

/* Log-linear, HdrHistogram-style: 2048 linear sub-buckets per power of two
 * keep 3 significant digits; values are microseconds from 0 to HIST_MAX_US
 * (larger ones are counted at HIST_MAX_US; max keeps the true value). */
#define HIST_SUB_BITS 11
#define HIST_BUCKETS 26 /* covers 2047 << 25 us, about 19 hours */
#define HIST_LEN ((HIST_BUCKETS + 1) << (HIST_SUB_BITS - 1))
#define HIST_MAX_US ((UINT64_C(2048) << (HIST_BUCKETS - 1)) - 1)

struct hist {
	uint64_t count;
	uint64_t min, max;
	double sum, sumsq;
	uint64_t counts[HIST_LEN];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t us);
void hist_merge(struct hist *dst, const struct hist *src);
/* Value at or below which p percent of the samples lie (0 if empty). */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);
double hist_stdev(const struct hist *h);
/* The slot a value is counted in, and the largest value of slot i. */
size_t hist_index(uint64_t v);
uint64_t hist_slot_value(size_t i);
/* Writes h in HdrHistogram's percentile-distribution text format (what
 * wrk2 prints and HdrHistogram's plotter reads), 5 reporting ticks per
 * half distance, values divided by unit (1000: microseconds as ms). */
void hist_write_hgrm(FILE *f, const struct hist *h, double unit);

/* ---- HTTP/1.1 response parser (tools/common/httpresp.h) --------------- */

/* The tools' one parser, under the names this tool's files use. */
#include "httpresp.h"
#define http_parser px_httpresp
#define http_result px_http_result
#define HTTP_MORE PX_HTTP_MORE
#define HTTP_DONE PX_HTTP_DONE
#define HTTP_BAD PX_HTTP_BAD
#define http_init px_httpresp_init
#define http_feed px_httpresp_feed
#define http_eof px_httpresp_eof

/* ---- error kinds -------------------------------------------------------- */

/* Never folded: each kind its own counter. */
enum err_kind {
	E_REFUSED, E_RESET, E_TIMEOUT, E_CLOSED, E_SHORT, E_MALFORMED,
	E_MISMATCH, E_HTTP_STATUS, E_EMFILE, E_ENFILE, E_EADDRNOTAVAIL,
	E_EADDRINUSE, E_ENETUNREACH, E_EHOSTUNREACH, E_EAGAIN, E_OTHER, E_NKINDS
};
extern const char *const err_names[E_NKINDS];
/* Non-2xx answers by status (100-999; anything else at 0), so that a run
 * whose every request failed can say which status it got. */
#define N_STATUS 1000
enum err_kind err_from_errno(int e);

/* ---- configuration (main.c) -------------------------------------------- */

enum proto { PROTO_ECHO, PROTO_HTTP };

#define MAX_PCT 32

/* One HTTP target of several (round robin); all on one server address. */
struct url {
	char host_hdr[300];
	char path[1024];
};

/* The interval series (--interval): per interval, what was answered in it
 * and its latencies, kept sparse (only the slots that were used). */
struct slot_count {
	uint32_t slot;
	uint32_t count;
};
struct interval {
	uint64_t requests, errors;
	uint64_t max;            /* exact largest latency, us */
	size_t first, n;         /* its slots: series->slots[first .. first+n) */
};
struct series {
	struct interval *iv;     /* indexed by interval number */
	size_t niv, ivcap;
	struct slot_count *slots;
	size_t nslots, slotcap;
};

struct config {
	char target[1200];
	struct sockaddr_storage addr;
	socklen_t addrlen;
	enum proto proto;
	char host_hdr[300];
	char path[1024];
	size_t size;
	unsigned long connections, active, threads;
	double duration_s, warmup_s, timeout_s;
	unsigned long requests; /* -n; 0 means run for duration_s */
	double rate;            /* -R; 0 means closed loop */
	double connect_rate;    /* per second; 0 means as fast as accepted */
	/* HTTP: one request per URL, built once (request.c), sent in turn */
	struct url *urls;
	size_t nurls;
	char **reqs;
	size_t *req_lens;
	const char *method;     /* -m; "GET" */
	const char **headers;   /* -H, as given */
	size_t nheaders;
	const char *body_file;  /* --body */
	char *body;
	size_t body_len;
	int new_conn;           /* --new-connection */
	const char *hgrm;       /* --hgrm FILE */
	double interval_s;      /* --interval; 0 means none */
	int quiet;
	const char *backend;
	int json;
	FILE *json_out;         /* --json FILE: the file, or stdout for '-' */
	const char *json_path;
	int progress;
	int no_progress;        /* --no-progress */
	double pct[MAX_PCT];
	int npct;
	struct sockaddr_storage *sources; /* --source addresses, or NULL */
	size_t nsources;
	unsigned long processes; /* --processes; 1 runs in this process */
};

/* The command line into cfg (options.c); exits 2 on bad usage. */
void load_options(struct config *cfg, int argc, char **argv);

/* ---- one worker thread (worker.c) -------------------------------------- */

struct conn;

struct worker {
	int id;
	const struct config *cfg;
	pthread_t tid;
	pollux_t *poller;
	char backend_name[32];
	char fail[256];          /* set when the thread could not run at all */

	/* its share */
	unsigned long nconn, nactive, first_index;
	unsigned long quota;     /* -n share */
	double rate;             /* -R share, req/s */

	struct conn *conns;
	/* connections ready for a request in open-loop mode */
	struct conn **free_list;
	size_t nfree;

	/* results */
	struct hist *lat;        /* corrected (closed loop: the only one) */
	struct hist *lat_unc;    /* uncorrected, open loop only */
	struct hist *late;       /* open loop only: send time minus intended
	                          * time, in nanoseconds (not microseconds) */
	uint64_t bytes_sent, bytes_received;
	uint64_t errors[E_NKINDS];
	uint64_t idle_errors[E_NKINDS];
	uint64_t http_status[N_STATUS]; /* active connections' non-2xx answers */
	uint64_t requests_done;  /* measured requests that passed */
	uint64_t last_done_ns;   /* when the last of them completed */
	uint64_t stopped_ns;     /* when this thread stopped measuring */
	uint64_t unsent;         /* open loop: due but never sent by the end */
	uint64_t in_flight;      /* measured requests unanswered at the stop */
	uint64_t stall_ns;       /* longest time without an answer while
	                          * requests were outstanding (measured time) */
	int stall_seen;          /* requests were outstanding at some point */
	struct series series;    /* --interval */
	unsigned long unanswered; /* still waiting when a signal cut the drain */
	unsigned long connected; /* connections made in the connect phase */

	/* seen by the progress display */
	atomic_ulong live_requests;
	atomic_ulong live_errors;
	atomic_ulong live_open;
};

/* Shared run clock: connecting, then measuring from start_ns. */
struct run {
	pthread_barrier_t barrier;
	uint64_t start_ns;       /* set once every thread has connected */
	uint64_t measure_ns;     /* start_ns + warmup */
	uint64_t end_ns;         /* measure_ns + duration, or UINT64_MAX for -n */
	atomic_int stop;
	atomic_int finished;     /* threads that have returned */
	atomic_int undone;       /* threads that still have requests to make */         /* SIGINT or all done */
	atomic_int warned_emfile, warned_addrnotavail, warned_eagain;
	/* --processes: this process says "connected" on ready_fd and waits
	 * for the parent's go on go_fd; both -1 in a single process. */
	int ready_fd, go_fd;
};
extern struct run g_run;

void *worker_main(void *arg);
/* --processes (procs.c): tells the parent this process has connected and
 * waits for every other to have done so (or for a signal). */
void proc_wait_start(void);

/* ---- one process's results (main.c, procs.c) ---------------------------- */

/* What one process measured. A child of --processes writes it, then its
 * three histograms (lat, lat_unc, late: always all three), to its parent. */
struct presult {
	uint64_t requests, bytes_sent, bytes_received;
	uint64_t errors[E_NKINDS], idle_errors[E_NKINDS];
	uint64_t http_status[N_STATUS];
	uint64_t connected, unsent, unanswered;
	uint64_t in_flight, stall_ns;
	uint64_t series_len; /* --interval: bytes of series_pack after the blob */
	int32_t stall_seen;
	uint64_t start_ns;   /* when it had connected */
	uint64_t measure_ns; /* when it began to measure */
	uint64_t stop_ns;    /* when it stopped measuring */
	int32_t failed;      /* a thread could not run (said on stderr) */
	char backend[32];
};

/* Runs cfg's threads in this process; the histograms must be initialised
 * (lat_unc and late may be NULL in a closed loop). 0, or -1 when it could
 * not run at all (said on stderr). */
int run_process(const struct config *cfg, struct presult *r, struct hist *lat,
                struct hist *lat_unc, struct hist *late, struct series *ser);
/* --processes: forks cfg->processes children, each running its share, and
 * merges what they measured into r and the histograms (all three given).
 * 0, or -1 when a child died or could not start (said on stderr; r then
 * holds what the others measured). */
int run_processes(const struct config *cfg, struct presult *r, struct hist *lat,
                  struct hist *lat_unc, struct hist *late, struct series *ser);
/* --interval: adds src's intervals into dst (slot counts summed); 0 or -1
 * when out of memory. series_free releases what a series holds. */
int series_merge(struct series *dst, const struct series *src);
void series_free(struct series *s);
/* The number of bytes series_pack writes, and the packing itself (a child
 * of --processes sends its series up the pipe this way); series_unpack
 * reads it back, 0 or -1 when it does not make sense. */
size_t series_packed_len(const struct series *s);
void series_pack(const struct series *s, unsigned char *buf);
int series_unpack(struct series *s, const unsigned char *buf, size_t len);

/* ---- requests (request.c) ---------------------------------------------- */

/* Builds cfg->reqs from the URLs, method, headers and body: 0, or -1 with
 * a one-line reason in err. */
int build_requests(struct config *cfg, char *err, size_t errlen);
void free_requests(struct config *cfg);
/* Checks one -H value ("Name: value"): NULL when it is fine, else why not. */
const char *header_problem(const char *h);
/* Splits total over parts in proportion to weight: the share of the part
 * of weight mine after weights summing to before, out of wsum. */
unsigned long load_share(unsigned long total, unsigned long wsum,
                         unsigned long before, unsigned long mine);

/* ---- output (report.c) -------------------------------------------------- */

struct totals {
	uint64_t requests, bytes_sent, bytes_received;
	uint64_t errors[E_NKINDS], idle_errors[E_NKINDS];
	double duration_s;
	int measured;            /* a connection was made: duration_s is real */
	double connect_s;        /* how long the connect phase took */
	unsigned long connected; /* connections made in it */
	uint64_t unsent, in_flight;
	uint64_t stall_us;
	int stall_seen;
	const struct series *series; /* NULL without --interval */
	const struct px_meta *meta;
	struct hist *lat, *lat_unc;
	struct hist *late;       /* ns; NULL in a closed loop */
	const char *backend;
};

/* The percentiles every JSON latency object has (p50 ... p9999). */
#define N_STD_PCT 5
extern const double std_pct[N_STD_PCT];
/* The JSON key of percentile p: 99.9 -> "p999". */
void pct_key(double p, char *buf, size_t n);

void report_text(FILE *f, const struct config *cfg, const struct totals *t);
void report_json(FILE *f, const struct config *cfg, const struct totals *t);

#endif
