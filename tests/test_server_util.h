/* test_server_util.h: helpers for pollux-server's tests: starting the
 * server as a child process, sockets with bounded waits, reading HTTP
 * responses, and picking numbers out of its JSON statistics. */
#ifndef TEST_SERVER_UTIL_H
#define TEST_SERVER_UTIL_H

#include <check.h>
#include <stddef.h>
#include <sys/types.h>

/* Every wait in these tests is bounded by this (generous: ASan, shared CPU). */
#define T_WAIT_MS 30000

struct srv {
	pid_t pid;
	int out;		/* the server's stdout */
	int err;		/* its stderr (srv_start_err), or -1 */
	int port;		/* of the first 127.0.0.1 listener */
	char lines[2048];	/* its "listening" lines */
};

int backend_count(void);
const char *backend_at(int i);

/* Starts pollux-server --backend B --listen 127.0.0.1:0 ARGS... (NULL-ended;
 * add_listen 0 leaves --listen to ARGS). nofile > 0 sets RLIMIT_NOFILE in the
 * child. Waits for the listening lines. Returns 0 or -1. */
int srv_start(struct srv *s, const char *backend, int add_listen, long nofile,
              const char *const *args);
/* srv_start, with the server's stderr in s->err instead of the test's. */
int srv_start_err(struct srv *s, const char *backend, int add_listen, long nofile,
                  const char *const *args);
/* Reads s->err until a line containing every one of the NULL-ended needles
 * has come, within ms; that line (NUL-ended, truncated) into line. 0 or -1. */
int srv_err_line(struct srv *s, const char *const *needles, char *line, size_t cap, int ms);
/* If set, called in the child just before it runs the server (to restrict
 * it further, e.g. with a seccomp filter). */
extern void (*srv_child_hook)(void);
/* Sends sig, reads stdout to EOF into out (may be NULL), reaps the child.
 * Returns the wait status, or -1 after a timeout (child then killed). */
int srv_stop(struct srv *s, int sig, char *out, size_t cap);
/* srv_start on backend_at(i) with --listen 127.0.0.1:0; the test fails if
 * it does not start. srv_stop_ok: SIGTERM, and the test fails unless the
 * server exits 0. */
void srv_start_on(struct srv *s, int i, const char *const *args);
void srv_stop_ok(struct srv *s);

int tcp_connect(int port);		/* blocking, timeouts set; -1 on error */
int send_all(int fd, const void *p, size_t n);
/* 1 when the peer closed (EOF or reset) within ms, 0 on timeout; data read
 * meanwhile is discarded. */
int wait_closed(int fd, int ms);

/* A buffered reader of HTTP responses on one connection (pipelining). */
struct reader {
	int fd;
	char *buf;
	size_t off, len, cap;	/* unread bytes are buf[off..len) */
};
struct resp {
	int status;
	char head[4096];	/* status line + headers, NUL-ended */
	long long clen;		/* Content-Length, -1 if none */
	char *body;		/* malloc'ed, NUL-ended (NULL if none) */
	size_t blen;
	int closed;		/* the server closed after it */
};
void reader_init(struct reader *r, int fd);
void reader_free(struct reader *r);
/* Reads one response; head_only for HEAD (or to read a body oneself from
 * buf[off..len) and the socket). 0, or -1 on EOF/error/timeout. */
int read_resp(struct reader *r, struct resp *out, int head_only);
void resp_free(struct resp *r);
/* Header value (case-insensitive name) into buf; 0 or -1. */
int resp_header(const struct resp *r, const char *name, char *buf, size_t n);

/* One request on a fresh connection; returns status or -1. body may be NULL. */
int http_once(int port, const char *req, struct resp *out);
/* GET /stats; value of a numeric key; -1 on failure. */
double stats_value(int port, const char *key);
double json_value(const char *json, const char *key);
/* Asks /stats again (within ms) until key is want; its last value. */
double stats_wait(int port, const char *key, double want, int ms);

/* Processes (Linux /proc): the children of parent now, up to max, into
 * pids; -1 without /proc. Waits, polling within ms, until parent has n
 * children (and, if not 0, none is pid not_pid); their count or -1. */
int children_of(pid_t parent, pid_t *pids, int max);
int wait_children(pid_t parent, int n, pid_t not_pid, pid_t *pids, int ms);
/* 1 once pid is gone (or a zombie), polled within ms; 0 if still there. */
int wait_gone(pid_t pid, int ms);
int count_fds(pid_t pid);		/* open descriptors of pid, -1 if unknown */
/* Which of pids holds the server's end of the TCP connection whose client
 * end is fd (to 127.0.0.1:port); 0 if none does, -1 if it cannot tell. */
pid_t conn_owner(int fd, int port, const pid_t *pids, int n);

/* Temporary directory helpers. */
char *make_tempdir(void);
void remove_tree(const char *dir);



/* Runs pollux-server with args (NULL-ended), capturing stdout and stderr
 * (each NUL-ended, truncated to cap). Returns the wait status or -1. */
int run_capture(const char *const *args, char *out, size_t ocap, char *err, size_t ecap);
#endif
