/* test_load.c: pollux-load run as a user would run it, against
 * tests/load_testsrv (echo, HTTP, corrupting, resetting, silent), once
 * per backend: exit status, counts and JSON checked, nothing timed. */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "notrun.h"
#include "pollux.h"

#define OUT_MAX (1 << 16)
#define MAX_ARGS 40

static char load_bin[4096], srv_bin[4096], psrv_bin[4096];

static const char *backend_at(int i)
{
	return pollux_backends()[i];
}

/* ---- running processes ------------------------------------------------ */

struct srv {
	pid_t pid;
	int in_fd, out_fd;
	char addr[256];
	unsigned long accepted, sources;
};

/* Reads one line from fd within timeout_ms; returns its length or -1. */
static int read_line(int fd, char *buf, size_t n, int timeout_ms)
{
	size_t len = 0;
	uint64_t end = px_now_ns() + (uint64_t)timeout_ms * 1000000u;
	while (len + 1 < n) {
		uint64_t now = px_now_ns();
		if (now >= end)
			return -1;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, (int)((end - now) / 1000000u) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		ssize_t k = read(fd, buf + len, 1);
		if (k <= 0)
			return -1;
		if (buf[len] == '\n') {
			buf[len] = '\0';
			return (int)len;
		}
		len++;
	}
	return -1;
}

/* Fills argv[1..] from a NULL-terminated list of strings (argv[0] is set). */
static void collect_args(const char *argv[MAX_ARGS], va_list ap)
{
	int argc = 1;
	const char *a;
	while ((a = va_arg(ap, const char *)) && argc < MAX_ARGS - 1)
		argv[argc++] = a;
	argv[argc] = NULL;
}

/* Starts load_testsrv with the given NULL-terminated options and waits
 * (bounded) for its "listening ADDR" line. */
static void srv_start(struct srv *s, ...)
{
	const char *argv[MAX_ARGS] = { srv_bin };
	va_list ap;
	va_start(ap, s);
	collect_args(argv, ap);
	va_end(ap);

	int in[2], out[2];
	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(out), 0);
	s->pid = fork();
	ck_assert_int_ge(s->pid, 0);
	if (s->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execv(srv_bin, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	s->in_fd = in[1];
	s->out_fd = out[0];
	char line[256];
	ck_assert_msg(read_line(s->out_fd, line, sizeof line, 10000) > 0,
	              "load_testsrv did not say where it listens");
	ck_assert_msg(strncmp(line, "listening ", 10) == 0, "unexpected line '%s'", line);
	snprintf(s->addr, sizeof s->addr, "%s", line + 10);
}

/* Closes the server's stdin, which tells it to report and exit. */
static void srv_stop(struct srv *s)
{
	close(s->in_fd);
	char line[256];
	ck_assert_msg(read_line(s->out_fd, line, sizeof line, 10000) > 0,
	              "load_testsrv did not report at exit");
	ck_assert_int_eq(sscanf(line, "accepted %lu sources %lu", &s->accepted,
	                        &s->sources), 2);
	close(s->out_fd);
	int st;
	ck_assert_int_eq(waitpid(s->pid, &st, 0), s->pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

struct result {
	int status;        /* exit status */
	char out[OUT_MAX]; /* stdout */
	char err[OUT_MAX]; /* stderr */
};

/* Runs pollux-load with a NULL-terminated argument list; bounded in time. */
static void run_load(struct result *r, ...)
{
	const char *argv[MAX_ARGS] = { load_bin };
	va_list ap;
	va_start(ap, r);
	collect_args(argv, ap);
	va_end(ap);

	int out[2], err[2];
	ck_assert_int_eq(pipe(out), 0);
	ck_assert_int_eq(pipe(err), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(out[0]);
		close(out[1]);
		close(err[0]);
		close(err[1]);
		execv(load_bin, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	size_t no = 0, ne = 0;
	int open_fds = 2;
	struct pollfd p[2] = { { .fd = out[0], .events = POLLIN },
	                       { .fd = err[0], .events = POLLIN } };
	uint64_t end = px_now_ns() + 120ull * 1000000000u;
	while (open_fds > 0) {
		uint64_t now = px_now_ns();
		if (now >= end) {
			kill(pid, SIGKILL);
			ck_abort_msg("pollux-load did not finish within 120 s");
		}
		int k = poll(p, 2, 1000);
		if (k < 0 && errno == EINTR)
			continue;
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			char *buf = i ? r->err : r->out;
			size_t *len = i ? &ne : &no;
			char tmp[4096];
			ssize_t n = read(p[i].fd, tmp, sizeof tmp);
			if (n <= 0) {
				close(p[i].fd);
				p[i].fd = -1;
				open_fds--;
				continue;
			}
			size_t take = (size_t)n < OUT_MAX - 1 - *len ? (size_t)n : OUT_MAX - 1 - *len;
			memcpy(buf + *len, tmp, take);
			*len += take;
		}
	}
	r->out[no] = '\0';
	r->err[ne] = '\0';
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "pollux-load died by a signal; stderr: %s", r->err);
	r->status = WEXITSTATUS(st);
	/* a sanitizer's exit status could pass for an expected failure */
	ck_assert_msg(!strstr(r->err, "Sanitizer") && !strstr(r->err, "runtime error:"),
	              "sanitizer report: %s", r->err);
}

/* ---- reading the JSON (just enough: numbers by key) ------------------- */

/* The number after "key": inside object obj ("" for the top level, where
 * the first occurrence of key is the top-level one for our keys). */
static double jnum(const char *json, const char *obj, const char *key)
{
	const char *from = json, *to = json + strlen(json);
	char pat[128];
	if (obj[0]) {
		snprintf(pat, sizeof pat, "\"%s\": {", obj);
		from = strstr(json, pat);
		ck_assert_msg(from, "no object '%s' in: %s", obj, json);
		to = strchr(from, '}');
	}
	snprintf(pat, sizeof pat, "\"%s\": ", key);
	const char *p = strstr(from, pat);
	ck_assert_msg(p && p < to, "no key '%s' in '%s' of: %s", key, obj, json);
	char *end;
	double v = strtod(p + strlen(pat), &end);
	ck_assert_msg(end != p + strlen(pat), "key '%s' is not a number", key);
	return v;
}

static const char *const kinds[] = {
	"refused", "reset", "timeout", "closed", "short", "malformed", "mismatch",
	"http_status", "emfile", "enfile", "eaddrnotavail", "eaddrinuse",
	"enetunreach", "ehostunreach", "eagain", "other"
};

/* Every error kind is zero except `except` (which may be NULL). */
static void assert_no_errors(const char *json, const char *obj, const char *except)
{
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (!except || strcmp(kinds[i], except) != 0)
			ck_assert_msg(jnum(json, obj, kinds[i]) == 0, "%s.%s is %g: %s", obj,
			              kinds[i], jnum(json, obj, kinds[i]), json);
}

/* ---- tests, each run once per backend ---------------------------------- */

/* 1 when the backend stops at FD_SETSIZE (select where the kernel does, or
 * a --disable-large-select build). */
static int capped(const char *backend)
{
	pollux_t *p = pollux_new(backend);
	ck_assert_msg(p != NULL, "pollux_new(%s)", backend);
	int c = !(pollux_features(p) & POLLUX_FEAT_NOLIMIT);
	pollux_free(p);
	return c;
}

START_TEST(echo_2000_connections_50_active)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "echo", NULL);
	int conns = 2000;
	char cs[16];
	if (capped(backend_at(_i))) {
		/* 2000 cannot fit under FD_SETSIZE: refused before connecting,
		 * in one line that names the limit and the way out; then the
		 * same check at a count that fits. */
		run_load(r, "-b", backend_at(_i), "-c", "2000", "-a", "50", "-n",
		         "4000", "--json", "-", s.addr, NULL);
		ck_assert_msg(r->status == 1, "exit %d; stderr: %s", r->status, r->err);
		ck_assert_msg(strstr(r->err, "FD_SETSIZE") && strstr(r->err, "-b poll") &&
		              strchr(r->err, '\n') == r->err + strlen(r->err) - 1,
		              "not one line naming FD_SETSIZE: %s", r->err);
		conns = 900;
	}
	snprintf(cs, sizeof cs, "%d", conns);
	run_load(r, "-b", backend_at(_i), "-c", cs, "-a", "50", "-n", "4000",
	         "--size", "100", "--json", "-", s.addr, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	ck_assert_msg(strstr(r->out, backend_at(_i)), "backend not reported: %s", r->out);
	ck_assert_int_eq((long)jnum(r->out, "", "requests"), 4000);
	ck_assert_int_eq((long)jnum(r->out, "", "connections"), conns);
	ck_assert_int_eq((long)jnum(r->out, "", "active"), 50);
	ck_assert_int_eq((long)jnum(r->out, "", "bytes_received"), 400000);
	assert_no_errors(r->out, "errors", NULL);
	assert_no_errors(r->out, "idle_connect_errors", NULL);
	srv_stop(&s);
	ck_assert_int_eq(s.accepted, conns); /* the silent ones were all there */
	free(r);
}
END_TEST

START_TEST(corrupted_byte_is_caught)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "corrupt", "--corrupt-at", "1000", NULL);
	run_load(r, "-b", backend_at(_i), "-c", "4", "-n", "200", "--size", "32",
	         "--json", "-", s.addr, NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_int_eq((long)jnum(r->out, "errors", "mismatch"), 1);
	assert_no_errors(r->out, "errors", "mismatch");
	ck_assert_int_eq((long)jnum(r->out, "", "requests"), 199);
	srv_stop(&s);
	free(r);
}
END_TEST

START_TEST(refused_target)
{
	/* bound but not listening: connects are refused, and no one else can
	 * take the port while we hold it */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = { .sin_family = AF_INET,
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&in, sizeof in), 0);
	socklen_t len = sizeof in;
	getsockname(fd, (struct sockaddr *)&in, &len);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)ntohs(in.sin_port));
	struct result *r = malloc(sizeof *r);
	run_load(r, "-b", backend_at(_i), "-q", "-c", "3", "-n", "3", "--json", "-", addr, NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_int_eq((long)jnum(r->out, "errors", "refused"), 3);
	assert_no_errors(r->out, "errors", "refused");
	ck_assert_int_eq((long)jnum(r->out, "", "requests"), 0);
	/* no sample, no figure: null, not 0 */
	ck_assert_msg(strstr(r->out, "\"latency_us\": {\"mean\": null, \"stdev\": null, "
	                     "\"p50\": null, \"p90\": null, \"p99\": null, \"p999\": null, "
	                     "\"p9999\": null, \"max\": null, \"count\": 0}"), "%s", r->out);
	ck_assert_msg(strstr(r->out, "\"longest_stall_us\": null"), "%s", r->out);
	/* no connection, no measured time: no duration and no rate, not 0.0 */
	ck_assert_msg(strstr(r->out, "\"duration_s\": null, \"requests\": 0, \"rps\": null"),
	              "%s", r->out);
	/* and one line that says why (-q: nothing else, the JSON aside) */
	char line[256];
	snprintf(line, sizeof line, "pollux-load: every connection to %s was refused "
	         "(3 of 3): is a server listening there?\n", addr);
	ck_assert_str_eq(r->err, line);
	run_load(r, "-b", backend_at(_i), "-c", "3", "-n", "3", addr, NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_msg(strstr(r->out, "\nlatency (us): no data\n"), "text: %s", r->out);
	ck_assert_msg(strstr(r->out, "\nrequests 0 in no measured time (no connection was "
	                     "made): rate no data;"), "text: %s", r->out);
	ck_assert_str_eq(r->err, line);
	/* -q without --json: results and errors only, and there are no
	 * results: the one line */
	run_load(r, "-b", backend_at(_i), "-q", "-c", "3", "-d", "1s", addr, NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_str_eq(r->out, "");
	ck_assert_str_eq(r->err, line);
	/* and the same for connections that would have stayed silent */
	run_load(r, "-b", backend_at(_i), "-c", "3", "-a", "1", "-d", "0.2", "--json", "-",
	         addr, NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_int_eq((long)jnum(r->out, "errors", "refused"), 1);
	ck_assert_int_eq((long)jnum(r->out, "idle_connect_errors", "refused"), 2);
	ck_assert_msg(strstr(r->err, "(3 of 3)"), "stderr: %s", r->err);
	/* open loop with nothing ever sent: no lateness to report, null */
	run_load(r, "-b", backend_at(_i), "-c", "2", "-R", "100", "-d", "0.2", "--json", "-",
	         addr, NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_msg(strstr(r->out, "\"lateness_us\": null"), "lateness: %s", r->out);
	run_load(r, "-b", backend_at(_i), "-c", "2", "-R", "100", "-d", "0.2", addr, NULL);
	ck_assert_msg(strstr(r->out, "sent behind schedule (us): no request sent\n"),
	              "text: %s", r->out);
	close(fd);
	free(r);
}
END_TEST

START_TEST(reset_connections)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "reset", NULL);
	run_load(r, "-b", backend_at(_i), "-c", "1", "-n", "10", "--json", "-", s.addr, NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_int_eq((long)jnum(r->out, "errors", "reset"), 10);
	assert_no_errors(r->out, "errors", "reset");
	ck_assert_int_eq((long)jnum(r->out, "", "requests"), 0);
	srv_stop(&s);
	/* each failed request's connection was replaced by a new one, and
	 * the last needed no replacement: one connection per request */
	ck_assert_int_eq(s.accepted, 10);
	free(r);
}
END_TEST

START_TEST(silent_server_times_out)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "silent", NULL);
	run_load(r, "-b", backend_at(_i), "-c", "2", "-n", "2", "--timeout", "0.3",
	         "--json", "-", s.addr, NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_int_eq((long)jnum(r->out, "errors", "timeout"), 2);
	assert_no_errors(r->out, "errors", "timeout");
	/* A run shorter than --timeout: the unanswered requests are still
	 * failures, not lost when the clock runs out (it used to say "no
	 * errors" and exit 0 after 0 requests). */
	run_load(r, "-b", backend_at(_i), "-c", "2", "-d", "0.1", "--timeout", "0.3",
	         "--json", "-", s.addr, NULL);
	ck_assert_msg(r->status == 1, "exit %d: %s", r->status, r->out);
	ck_assert_int_eq((long)jnum(r->out, "errors", "timeout"), 2);
	assert_no_errors(r->out, "errors", "timeout");
	ck_assert_int_eq((long)jnum(r->out, "", "requests"), 0);
	run_load(r, "-b", backend_at(_i), "-c", "2", "-R", "40", "-d", "0.1", "--timeout",
	         "0.3", "--json", "-", s.addr, NULL);
	ck_assert_msg(r->status == 1, "exit %d: %s", r->status, r->out);
	ck_assert_int_eq((long)jnum(r->out, "errors", "timeout"), 2);
	srv_stop(&s);
	free(r);
}
END_TEST

/* No request passed: one line on stderr says what came back instead (the
 * HTTP status, malformed answers, or nothing at all) and, where a server
 * speaking the other protocol is the likely cause, says that. */
START_TEST(no_success_says_why)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	char url[300];
	srv_start(&s, "--mode", "http", "--status", "404", NULL);
	snprintf(url, sizeof url, "http://%s/nope", s.addr);
	run_load(r, "-b", backend_at(_i), "-c", "1", "-n", "3", url, NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_str_eq(r->err, "pollux-load: every request failed: 3 answers HTTP 404\n");
	run_load(r, "-b", backend_at(_i), "-q", "-c", "1", "-n", "1", url, NULL);
	ck_assert_str_eq(r->err, "pollux-load: every request failed: 1 answer HTTP 404\n");
	/* echo at an HTTP server: it waits for a request head that never
	 * comes; the timeouts are real (--timeout ran out), and said so */
	run_load(r, "-b", backend_at(_i), "-c", "2", "-d", "0.2", "--timeout", "0.5", s.addr,
	         NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_str_eq(r->err, "pollux-load: no request was answered: 2 timed out after "
	                 "500ms (--timeout); is the server speaking echo? (an HTTP server "
	                 "takes an http:// URL, or --proto http)\n");
	srv_stop(&s);
	/* HTTP at an echo server: its answer is our request, no HTTP answer */
	srv_start(&s, "--mode", "echo", NULL);
	run_load(r, "-b", backend_at(_i), "-c", "1", "-n", "3", "--proto", "http", s.addr, NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_str_eq(r->err, "pollux-load: every request failed: 3 malformed answers; "
	                 "is the server speaking HTTP? (an echo server takes HOST:PORT "
	                 "without http://, or --proto echo)\n");
	/* some passed: the report's counts say the rest, no such line */
	run_load(r, "-b", backend_at(_i), "-c", "1", "-n", "3", s.addr, NULL);
	ck_assert_int_eq(r->status, 0);
	ck_assert_str_eq(r->err, "");
	srv_stop(&s);
	free(r);
}
END_TEST

/* Stopped by a signal before --timeout ran out: the requests still owed
 * are "still waiting", never counted as timeouts. */
START_TEST(signal_is_no_timeout)
{
	struct srv s;
	srv_start(&s, "--mode", "silent", NULL);
	int out[2], err[2];
	ck_assert_int_eq(pipe(out), 0);
	ck_assert_int_eq(pipe(err), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(out[0]);
		close(err[0]);
		execl(load_bin, load_bin, "-b", backend_at(_i), "-q", "-c", "2", "-d", "0.2",
		      "--timeout", "60s", "--json", "-", s.addr, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	/* past the 0.2 s run, in the wait for the answers owed */
	struct timespec ts = { 1, 0 };
	nanosleep(&ts, NULL);
	kill(pid, SIGINT);
	static char json[OUT_MAX];
	char msg[1024];
	int nj = read_line(out[0], json, sizeof json, 30000);
	int nm = read_line(err[0], msg, sizeof msg, 30000);
	close(out[0]);
	close(err[0]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
	ck_assert_msg(nj > 0, "no JSON");
	ck_assert_int_eq((long)jnum(json, "errors", "timeout"), 0);
	assert_no_errors(json, "errors", NULL);
	ck_assert_int_eq((long)jnum(json, "", "in_flight"), 2);
	ck_assert_msg(nm > 0 && strstr(msg, "stopped by a signal with 2 requests still waiting"),
	              "stderr: %s", nm > 0 ? msg : "(nothing)");
	srv_stop(&s);
}
END_TEST

START_TEST(closed_loop_consistent_with_duration)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "echo", NULL);
	run_load(r, "-b", backend_at(_i), "-c", "4", "-t", "2", "-d", "1", "--warmup",
	         "0.2", "--json", "-", s.addr, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	double d = jnum(r->out, "", "duration_s"), n = jnum(r->out, "", "requests");
	double rps = jnum(r->out, "", "rps");
	ck_assert_msg(d > 0.99 && d < 1.01, "duration_s %g for -d 1", d);
	ck_assert_msg(n > 0, "no requests");
	ck_assert_msg(rps > n / d * 0.999 && rps < n / d * 1.001, "rps %g vs %g/%g", rps, n, d);
	/* a closed loop always has one request out per connection: all 4 were
	 * in flight when the clock stopped (also those answered in the wait
	 * that ran past the end) */
	ck_assert_int_eq((long)jnum(r->out, "", "in_flight"), 4);
	/* The latency figures hold every answer to a request of the window:
	 * those inside it, and the 4 in flight at the end, answered after. */
	double cnt = jnum(r->out, "latency_us", "count");
	ck_assert_msg(cnt == n + 4, "latency count %g, requests %g + in_flight 4", cnt, n);
	/* 4 connections, one request each at a time: the latencies of the
	 * answers inside the window add up to at most 4 connection-seconds.
	 * (mean x requests stood for that sum, but the 4 answered after the
	 * end, late on a loaded machine, raise the mean: take them out, each
	 * at most max; the mean is printed to 0.05 us.) */
	double mean = jnum(r->out, "latency_us", "mean");
	double p50 = jnum(r->out, "latency_us", "p50"), p90 = jnum(r->out, "latency_us", "p90");
	double p99 = jnum(r->out, "latency_us", "p99"), mx = jnum(r->out, "latency_us", "max");
	ck_assert_msg(mean * cnt - 4 * mx <= 4 * d * 1e6 + 0.05 * cnt,
	              "mean %g us x %g answers - 4 x max %g > 4 s", mean, cnt, mx);
	ck_assert(p50 > 0 && p50 <= p90 && p90 <= p99 && p99 <= mx && mx <= d * 1e6);
	srv_stop(&s);
	free(r);
}
END_TEST

START_TEST(open_loop_rate_gives_count)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "echo", NULL);
	run_load(r, "-b", backend_at(_i), "-c", "8", "-R", "500", "-d", "2", "--json", "-",
	         s.addr, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	double n = jnum(r->out, "", "requests");
	/* 500/s for 2 s is 1000 scheduled; only the few in flight at the end
	 * may be missing */
	ck_assert_msg(n >= 950 && n <= 1050, "%g requests for -R 500 -d 2", n);
	ck_assert_int_eq((long)jnum(r->out, "", "requested_rps"), 500);
	/* from the intended time is never shorter than from the actual send */
	static const char *const p[] = { "p50", "p90", "p99", "p999", "max" };
	for (size_t i = 0; i < 5; i++)
		ck_assert_msg(jnum(r->out, "latency_us", p[i]) >=
		              jnum(r->out, "latency_uncorrected_us", p[i]),
		              "%s corrected < uncorrected: %s", p[i], r->out);
	/* how late requests went out against the schedule: there, ordered,
	 * never negative (how large is the machine's business, not a test's) */
	double l50 = jnum(r->out, "lateness_us", "p50");
	double l99 = jnum(r->out, "lateness_us", "p99");
	double lmax = jnum(r->out, "lateness_us", "max");
	ck_assert_msg(l50 >= 0 && l50 <= l99 && l99 <= lmax, "lateness: %s", r->out);
	/* The run ends on a due time (20/s for 0.5 s); with 8 connections and
	 * answers in microseconds a connection is free for it, so it is not
	 * "due but found no free connection" (that said 1 on every run). */
	run_load(r, "-b", backend_at(_i), "-c", "8", "-R", "20", "-d", "0.5", "--json", "-",
	         s.addr, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	ck_assert_msg(jnum(r->out, "", "unsent") == 0, "unsent: %s", r->out);
	srv_stop(&s);
	free(r);
}
END_TEST

START_TEST(http_content_length_chunked_and_close)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	char url[300];
	srv_start(&s, "--mode", "http", "--close-every", "7", NULL);
	snprintf(url, sizeof url, "http://%s/index", s.addr);
	run_load(r, "-b", backend_at(_i), "-c", "4", "-n", "500", "--json", "-", url, NULL);
	ck_assert_msg(r->status == 0, "exit %d; %s %s", r->status, r->out, r->err);
	ck_assert_int_eq((long)jnum(r->out, "", "requests"), 500);
	ck_assert(strstr(r->out, "\"proto\": \"http\""));
	srv_stop(&s);
	ck_assert_msg(s.accepted > 4, "Connection: close did not lead to new connections");

	srv_start(&s, "--mode", "chunked", NULL);
	run_load(r, "-b", backend_at(_i), "-c", "4", "-n", "500", "--proto", "http",
	         "--json", "-", s.addr, NULL);
	ck_assert_msg(r->status == 0, "exit %d; %s %s", r->status, r->out, r->err);
	ck_assert_int_eq((long)jnum(r->out, "", "requests"), 500);
	srv_stop(&s);

	srv_start(&s, "--mode", "http", "--status", "503", NULL);
	run_load(r, "-b", backend_at(_i), "-c", "4", "-n", "100", "--proto", "http",
	         "--json", "-", s.addr, NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_int_eq((long)jnum(r->out, "errors", "http_status"), 100);
	assert_no_errors(r->out, "errors", "http_status");
	ck_assert_int_eq((long)jnum(r->out, "", "requests"), 0);
	srv_stop(&s);
	free(r);
}
END_TEST

START_TEST(source_addresses_spread)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "echo", NULL);
	run_load(r, "-b", backend_at(_i), "-c", "24", "-t", "2", "-n", "48", "--source",
	         "127.0.0.2-127.0.0.5", "--json", "-", s.addr, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	srv_stop(&s);
	ck_assert_int_eq(s.accepted, 24);
	ck_assert_int_eq(s.sources, 4);
	free(r);
}
END_TEST

START_TEST(threads_spread_the_remainder)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "echo", NULL);
	/* 7 connections, 5 active, 101 requests over 3 threads: nothing of
	 * any remainder may be dropped */
	run_load(r, "-b", backend_at(_i), "-c", "7", "-a", "5", "-t", "3", "-n", "101",
	         "--json", "-", s.addr, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	ck_assert_int_eq((long)jnum(r->out, "", "requests"), 101);
	ck_assert_int_eq((long)jnum(r->out, "", "threads"), 3);
	srv_stop(&s);
	ck_assert_int_eq(s.accepted, 7);
	free(r);
}
END_TEST

/* ---- accounting, stalls, distributions, requests ------------------------ */

/* How often needle occurs in hay. */
static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + strlen(needle), needle))
		n++;
	return n;
}

/* The whole of a small file, NUL-terminated (the caller frees it). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	size_t cap = 1 << 16, n = 0, k;
	char *b = malloc(cap);
	while ((k = fread(b + n, 1, cap - 1 - n, f)) > 0) {
		n += k;
		if (n == cap - 1)
			b = realloc(b, cap *= 2);
	}
	fclose(f);
	b[n] = '\0';
	return b;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert(f != NULL);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* An open loop's schedule is all there: answered within the measured
 * time, in flight when the clock stopped, or never sent (and then said). */
START_TEST(open_loop_accounts_for_every_request)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "echo", NULL);
	/* 2 threads at 250/s each for 1 s: 500 due times exactly */
	run_load(r, "-b", backend_at(_i), "-c", "8", "-t", "2", "-R", "500", "-d", "1",
	         "--json", "-", s.addr, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	long n = (long)jnum(r->out, "", "requests"), u = (long)jnum(r->out, "", "unsent");
	long f = (long)jnum(r->out, "", "in_flight");
	ck_assert_msg(n + u + f == 500, "requests %ld + unsent %ld + in_flight %ld != 500",
	              n, u, f);
	srv_stop(&s);

	/* one connection and a server that never answers: the first request is
	 * in flight, the other 49 due in 0.5 s found no connection */
	srv_start(&s, "--mode", "silent", NULL);
	run_load(r, "-b", backend_at(_i), "-c", "1", "-R", "100", "-d", "0.5", "--timeout",
	         "0.8", "--json", "-", s.addr, NULL);
	ck_assert_int_eq(r->status, 1); /* it timed out in the end */
	ck_assert_int_eq((long)jnum(r->out, "", "requests"), 0);
	ck_assert_int_eq((long)jnum(r->out, "", "in_flight"), 1);
	ck_assert_int_eq((long)jnum(r->out, "", "unsent"), 49);
	ck_assert_msg(strstr(r->out, "\"notes\": [\"49 requests due in the measured time found "
	                     "no free connection and were never sent: the percentiles leave "
	                     "them out"), "%s", r->out);
	run_load(r, "-b", backend_at(_i), "-c", "1", "-R", "100", "-d", "0.5", "--timeout",
	         "0.8", s.addr, NULL);
	ck_assert_msg(strstr(r->out, "\nin flight when the clock stopped: 1\n") &&
	              strstr(r->out, "\nnote: 49 requests due") &&
	              strstr(r->out, "the percentiles leave them out"), "%s", r->out);
	srv_stop(&s);
	free(r);
}
END_TEST

/* A server that stops answering for a second: a closed loop's p99 does not
 * move, the longest wait for an answer shows it, and the note follows the
 * documented rule (>= 10 x p99 and >= 10 ms). */
START_TEST(closed_loop_stall_is_reported)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	/* after 100 answers of 64 bytes, 1000 ms of nothing */
	srv_start(&s, "--mode", "echo", "--pause-at", "6400", "--pause-ms", "1000", NULL);
	run_load(r, "-b", backend_at(_i), "-c", "2", "-n", "3000", "--json", "-", s.addr, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	double stall = jnum(r->out, "", "longest_stall_us");
	double p99 = jnum(r->out, "latency_us", "p99");
	ck_assert_msg(stall >= 900000, "longest_stall_us %g for a 1 s pause", stall);
	int noted = strstr(r->out, "more than 10 times p99: a closed loop waits with the "
	                   "server, so its percentiles hide the stall; an open loop (-R) "
	                   "measures it") != NULL;
	ck_assert_msg(noted == (stall >= 10 * p99 && stall >= 10000),
	              "note %d for stall %g, p99 %g: %s", noted, stall, p99, r->out);
	srv_stop(&s);
	free(r);
}
END_TEST

/* --hgrm writes HdrHistogram's percentile distribution (ms); its rows
 * bracket the JSON's percentiles within one histogram slot. */
START_TEST(hgrm_agrees_with_json)
{
	char path[] = "/tmp/pollux-load-hgrm-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "echo", NULL);
	run_load(r, "-b", backend_at(_i), "-c", "4", "-n", "3000", "--json", "-", "--percentiles",
	         "50,90,99,99.9", "--hgrm", path, s.addr, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	srv_stop(&s);
	char *text = slurp(path);
	unlink(path);
	char *save = NULL, *line = strtok_r(text, "\n", &save);
	ck_assert_msg(line && strstr(line, "Value") && strstr(line, "Percentile") &&
	              strstr(line, "TotalCount") && strstr(line, "1/(1-Percentile)"),
	              "header: %s", line ? line : "(none)");
	double val[4096], pct[4096], cnt[4096], mean = -1, max = -1, total = -1;
	int nrows = 0, nfoot = 0;
	while ((line = strtok_r(NULL, "\n", &save))) {
		double a, b, c, d;
		if (line[0] == '#') {
			if (sscanf(line, "#[Mean = %lf, StdDeviation = %lf]", &a, &b) == 2)
				mean = a, nfoot++;
			else if (sscanf(line, "#[Max = %lf, Total count = %lf]", &a, &b) == 2)
				max = a, total = b, nfoot++;
			else if (sscanf(line, "#[Buckets = %lf, SubBuckets = %lf]", &a, &b) == 2)
				nfoot++;
			continue;
		}
		int k = sscanf(line, "%lf %lf %lf %lf", &a, &b, &c, &d);
		ck_assert_msg(k == 4 || (k == 3 && b == 1.0), "row: %s", line);
		ck_assert(nrows < 4096);
		if (nrows)
			ck_assert_msg(a * 1000 >= val[nrows - 1] && b > pct[nrows - 1] &&
			              c >= cnt[nrows - 1], "not ascending at: %s", line);
		val[nrows] = a * 1000; /* ms to us */
		pct[nrows] = b;
		cnt[nrows] = c;
		nrows++;
	}
	free(text);
	ck_assert_int_eq(nfoot, 3);
	ck_assert_msg(nrows > 10 && pct[0] == 0 && pct[nrows - 1] == 1.0, "%d rows", nrows);
	double count = jnum(r->out, "latency_us", "count");
	ck_assert(count >= 3000);
	ck_assert_msg(cnt[nrows - 1] == count && total == count, "counts %g %g %g",
	              cnt[nrows - 1], total, count);
	ck_assert_msg(fabs(max * 1000 - jnum(r->out, "latency_us", "max")) < 0.5, "max %g", max);
	ck_assert_msg(fabs(mean * 1000 - jnum(r->out, "latency_us", "mean")) < 1, "mean %g", mean);
	static const char *const key[] = { "p50", "p90", "p99", "p999" };
	static const double ps[] = { 0.5, 0.9, 0.99, 0.999 };
	for (int k = 0; k < 4; k++) {
		double v = jnum(r->out, "latency_us", key[k]);
		/* one slot: 1 us below 2048 us, then 1/1024 of the power of two */
		double slot = v < 2048 ? 1 : ldexp(1, (int)floor(log2(v)) - 10);
		double lo = -1, hi = -1;
		for (int i = 0; i < nrows; i++) {
			if (pct[i] <= ps[k])
				lo = val[i];
			if (pct[i] >= ps[k] && hi < 0)
				hi = val[i];
		}
		ck_assert_msg(lo >= 0 && hi >= 0 && lo - slot <= v && v <= hi + slot,
		              "%s %g outside the rows' [%g, %g]", key[k], v, lo, hi);
	}
	free(r);
}
END_TEST

/* The text report's header: "1 connection", every URL (or the first ones
 * and how many more), JSON "targets"; lateness in whole microseconds like
 * every other latency line. */
START_TEST(report_names_what_ran)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "http", NULL);
	char u[4][300];
	for (int k = 0; k < 4; k++)
		snprintf(u[k], sizeof u[k], "http://%s/%c", s.addr, 'a' + k);
	run_load(r, "-c", "1", "-n", "4", u[0], u[1], NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	char want[2048];
	snprintf(want, sizeof want, "target %s, %s (http), backend ", u[0], u[1]);
	ck_assert_msg(strncmp(r->out, want, strlen(want)) == 0, "%s", r->out);
	ck_assert_msg(strstr(r->out, ", 1 connection (1 active), 1 thread, "), "%s", r->out);
	run_load(r, "-c", "2", "-n", "4", u[0], u[1], u[2], u[3], NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	snprintf(want, sizeof want, "target %s, %s (and 2 more) (http), backend ", u[0], u[1]);
	ck_assert_msg(strncmp(r->out, want, strlen(want)) == 0, "%s", r->out);
	ck_assert_msg(strstr(r->out, ", 2 connections (2 active), "), "%s", r->out);
	run_load(r, "-c", "1", "-n", "4", "--json", "-", u[0], u[1], u[2], NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	snprintf(want, sizeof want, "{\"target\": \"%s\", \"targets\": [\"%s\", \"%s\", "
	         "\"%s\"], ", u[0], u[0], u[1], u[2]);
	ck_assert_msg(strncmp(r->out, want, strlen(want)) == 0, "%s", r->out);
	run_load(r, "-c", "1", "-R", "200", "-d", "0.2", u[0], NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	unsigned long a, b, c;
	const char *late = strstr(r->out, "sent behind schedule (us): ");
	ck_assert_msg(late && sscanf(late, "sent behind schedule (us): p50 %lu  p99 %lu  max %lu\n",
	                             &a, &b, &c) == 3 && !strchr(strchr(late, ':'), '.'),
	              "%s", r->out);
	srv_stop(&s);
	free(r);
}
END_TEST

/* --hgrm -: the distribution on standard output (no file named "-"),
 * the text report then on standard error. */
START_TEST(hgrm_to_stdout)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "echo", NULL);
	unlink("-");
	run_load(r, "-c", "2", "-n", "100", "--hgrm", "-", s.addr, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	srv_stop(&s);
	ck_assert_msg(access("-", F_OK) != 0, "a file named '-' was written");
	ck_assert_msg(strstr(r->out, "Percentile") && strstr(r->out, "Total count"),
	              "no distribution on stdout: %s", r->out);
	ck_assert_msg(!strstr(r->out, "requests 100"), "text report on stdout: %s", r->out);
	ck_assert_msg(strstr(r->err, "requests 100 in "), "no text report on stderr: %s", r->err);
	free(r);
}
END_TEST

/* --interval: one entry per interval of the measured time, whose requests
 * add up to the run's, in JSON and as text lines (none with -q). */
START_TEST(interval_series)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "echo", NULL);
	run_load(r, "-b", backend_at(_i), "-c", "2", "-t", "2", "-d", "1", "--interval", "0.25",
	         "--json", "-", s.addr, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	ck_assert_int_eq(count_of(r->out, "{\"start_s\": "), 4);
	double sum = 0;
	for (const char *p = strstr(r->out, "\"intervals\": ["); (p = strstr(p, "{\"start_s\": "));
	     p++)
		sum += jnum(p, "", "requests");
	ck_assert_msg(sum == jnum(r->out, "", "requests"), "intervals %g, run %g", sum,
	              jnum(r->out, "", "requests"));
	ck_assert(strstr(r->out, "\"p50_us\": ") && strstr(r->out, "\"p99_us\": ") &&
	          strstr(r->out, "\"max_us\": "));
	/* several processes: their series are merged, not concatenated */
	run_load(r, "-b", backend_at(_i), "-c", "4", "-P", "2", "-d", "1", "--interval", "0.5",
	         "--json", "-", s.addr, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	ck_assert_int_eq(count_of(r->out, "{\"start_s\": "), 2);
	sum = 0;
	for (const char *p = strstr(r->out, "\"intervals\": ["); (p = strstr(p, "{\"start_s\": "));
	     p++)
		sum += jnum(p, "", "requests");
	ck_assert(sum == jnum(r->out, "", "requests"));
	run_load(r, "-b", backend_at(_i), "-c", "2", "-d", "0.6", "--interval", "0.2", s.addr,
	         NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	/* the column has the JSON key's name */
	ck_assert_msg(strstr(r->out, "   start_s   requests   errors     p50_us     p99_us"
	                     "     max_us\n") && strstr(r->out, "\n     0.000 ") &&
	              strstr(r->out, "\n     0.200 ") && strstr(r->out, "\n     0.400 ") &&
	              !strstr(r->out, "\n     0.600 "), "%s", r->out);
	run_load(r, "-b", backend_at(_i), "-q", "-c", "2", "-d", "0.4", "--interval", "0.2",
	         s.addr, NULL);
	ck_assert_msg(r->status == 0 && !strstr(r->out, "start_s"), "%s", r->out);
	srv_stop(&s);
	free(r);
}
END_TEST

/* The nth "X /path HTTP/1.1" request line of the log, from *pos on. */
static void expect_request(const char **pos, const char *line)
{
	const char *p = strstr(*pos, line);
	ck_assert_msg(p, "no '%s' after: %.200s", line, *pos);
	/* nothing else requested in between */
	const char *other = strstr(*pos, " HTTP/1.1\r\n");
	ck_assert_msg(other == p + strlen(line) - strlen(" HTTP/1.1\r\n"),
	              "another request before '%s'", line);
	*pos = p + strlen(line);
}

/* -m, -H and --body arrive at the server as given, with Content-Length;
 * several URLs, or --urls, are requested in turn. */
START_TEST(http_request_features)
{
	char dir[] = "/tmp/pollux-load-req-XXXXXX";
	ck_assert(mkdtemp(dir));
	char logp[128], bodyp[128], urlsp[128], ua[300], ub[300], uc[300];
	snprintf(logp, sizeof logp, "%s/log", dir);
	snprintf(bodyp, sizeof bodyp, "%s/body", dir);
	snprintf(urlsp, sizeof urlsp, "%s/urls", dir);
	write_file(bodyp, "{\"x\": 1}\n");
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "http", "--log", logp, NULL);
	snprintf(ua, sizeof ua, "http://%s/a", s.addr);
	snprintf(ub, sizeof ub, "http://%s/b?q=1", s.addr);
	snprintf(uc, sizeof uc, "http://%s/c", s.addr);
	run_load(r, "-b", backend_at(_i), "-c", "1", "-n", "6", "-m", "PUT", "-H",
	         "X-Test: yes", "--header", "Accept: text/plain", "--body", bodyp, "--json", "-",
	         ua, ub, uc, NULL);
	ck_assert_msg(r->status == 0, "exit %d; %s %s", r->status, r->out, r->err);
	ck_assert_int_eq((long)jnum(r->out, "", "requests"), 6);
	srv_stop(&s);
	char *log = slurp(logp);
	const char *pos = log;
	for (int k = 0; k < 2; k++) {
		expect_request(&pos, "PUT /a HTTP/1.1\r\n");
		expect_request(&pos, "PUT /b?q=1 HTTP/1.1\r\n");
		expect_request(&pos, "PUT /c HTTP/1.1\r\n");
	}
	ck_assert_int_eq(count_of(log, "\r\nX-Test: yes\r\n"), 6);
	ck_assert_int_eq(count_of(log, "\r\nAccept: text/plain\r\n"), 6);
	ck_assert_int_eq(count_of(log, "\r\nContent-Length: 9\r\n\r\n{\"x\": 1}\n\n"), 6);
	ck_assert_int_eq(count_of(log, "\r\nHost: "), 6);
	ck_assert_int_eq(count_of(log, "Connection: close"), 0);
	free(log);
	ck_assert_int_eq(s.accepted, 1);

	/* HEAD: the answers' Content-Length announces a body that is not
	 * sent, and every answer still counts, on one connection */
	srv_start(&s, "--mode", "http", "--log", logp, NULL);
	snprintf(ua, sizeof ua, "http://%s/a", s.addr);	/* this server's port */
	run_load(r, "-b", backend_at(_i), "-c", "1", "-n", "4", "-m", "HEAD", "--timeout", "5",
	         "--json", "-", ua, NULL);
	ck_assert_msg(r->status == 0, "exit %d; %s %s", r->status, r->out, r->err);
	ck_assert_int_eq((long)jnum(r->out, "", "requests"), 4);
	srv_stop(&s);
	log = slurp(logp);
	ck_assert_int_eq(count_of(log, "HEAD /a HTTP/1.1\r\n"), 4);
	free(log);
	ck_assert_int_eq(s.accepted, 1);

	/* the same URLs from a file, comments and blank lines skipped */
	srv_start(&s, "--mode", "http", "--log", logp, NULL);
	char list[1200];
	snprintf(list, sizeof list, "# three paths\nhttp://%s/x\n\n  http://%s/y  \n"
	         "http://%s/z\n", s.addr, s.addr, s.addr);
	write_file(urlsp, list);
	run_load(r, "-b", backend_at(_i), "-c", "1", "-n", "4", "--urls", urlsp, "--json", "-", NULL);
	ck_assert_msg(r->status == 0, "exit %d; %s %s", r->status, r->out, r->err);
	srv_stop(&s);
	log = slurp(logp);
	pos = log;
	expect_request(&pos, "GET /x HTTP/1.1\r\n");
	expect_request(&pos, "GET /y HTTP/1.1\r\n");
	expect_request(&pos, "GET /z HTTP/1.1\r\n");
	expect_request(&pos, "GET /x HTTP/1.1\r\n");
	free(log);
	unlink(logp);
	unlink(bodyp);
	unlink(urlsp);
	rmdir(dir);
	free(r);
}
END_TEST

/* --new-connection: one connection per request, each asking to close. */
START_TEST(new_connection_per_request)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "echo", NULL);
	run_load(r, "-b", backend_at(_i), "-c", "2", "-n", "20", "--new-connection", "--json", "-",
	         s.addr, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	ck_assert_int_eq((long)jnum(r->out, "", "requests"), 20);
	ck_assert_msg(strstr(r->out, "\"new_connection\": true"), "%s", r->out);
	srv_stop(&s);
	ck_assert_int_eq(s.accepted, 20);

	char dir[] = "/tmp/pollux-load-nc-XXXXXX";
	ck_assert(mkdtemp(dir));
	char logp[128], url[300];
	snprintf(logp, sizeof logp, "%s/log", dir);
	srv_start(&s, "--mode", "http", "--log", logp, NULL);
	snprintf(url, sizeof url, "http://%s/", s.addr);
	run_load(r, "-b", backend_at(_i), "-c", "3", "-n", "12", "--new-connection", "--json", "-",
	         url, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	ck_assert_int_eq((long)jnum(r->out, "", "requests"), 12);
	srv_stop(&s);
	ck_assert_int_eq(s.accepted, 12);
	char *log = slurp(logp);
	ck_assert_int_eq(count_of(log, "\r\nConnection: close\r\n"), 12);
	free(log);
	unlink(logp);
	rmdir(dir);
	free(r);
}
END_TEST

/* ---- against pollux-server --processes 2 -------------------------------- */

struct psrv {
	pid_t pid;
	int out;
	char url[128];
	int port;
};

/* Starts pollux-server --processes 2 on 127.0.0.1:0 and waits (bounded)
 * for its listening line. */
static void psrv_start(struct psrv *s)
{
	int out[2];
	ck_assert_int_eq(pipe(out), 0);
	s->pid = fork();
	ck_assert_int_ge(s->pid, 0);
	if (s->pid == 0) {
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		execl(psrv_bin, psrv_bin, "--listen", "127.0.0.1:0", "--processes", "2",
		      "--quiet", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	s->out = out[0];
	char line[256];
	ck_assert_msg(read_line(s->out, line, sizeof line, 10000) > 0,
	              "pollux-server did not say where it listens");
	ck_assert_msg(sscanf(line, "listening 127.0.0.1:%d", &s->port) == 1,
	              "unexpected line '%s'", line);
	snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d/", s->port);
}

/* GET /stats on a fresh connection: the server's JSON, into buf. */
static void psrv_stats(const struct psrv *s, char *buf, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	static const char req[] = "GET /stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	ck_assert_int_eq(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
	size_t len = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ck_assert_msg(poll(&p, 1, 30000) == 1, "no answer to /stats");
		ck_assert(len + 1 < cap);
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	char *body = strstr(buf, "\r\n\r\n");
	ck_assert_msg(body && strstr(buf, " 200 "), "/stats: %s", buf);
	memmove(buf, body + 4, strlen(body + 4) + 1);
}

/* The number after "key": in the server's compact JSON (top level). */
static double snum(const char *json, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *p = strstr(json, pat);
	ck_assert_msg(p, "no key '%s' in: %s", key, json);
	return strtod(p + strlen(pat), NULL);
}

/* SIGTERM, then its stdout to EOF: the server and its workers are gone. */
static void psrv_stop(struct psrv *s)
{
	ck_assert_int_eq(kill(s->pid, SIGTERM), 0);
	char tmp[4096];
	for (;;) {
		struct pollfd p = { .fd = s->out, .events = POLLIN };
		ck_assert_msg(poll(&p, 1, 30000) == 1, "pollux-server did not stop");
		if (read(s->out, tmp, sizeof tmp) <= 0)
			break;
	}
	close(s->out);
	int st;
	ck_assert_int_eq(waitpid(s->pid, &st, 0), s->pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "server wait status %#x", st);
}

/* Two load processes against a server of two: the load's total is what
 * the server counted (every request, every connection), nothing lost or
 * counted twice in the merge. */
START_TEST(processes_sum_what_the_server_counted)
{
	struct psrv s;
	struct result *r = malloc(sizeof *r);
	static char stats[1 << 16];
	psrv_start(&s);
	/* odd counts so that neither split is even */
	run_load(r, "-b", backend_at(_i), "--processes", "2", "-t", "2", "-c", "21",
	         "-a", "13", "-n", "2001", "--json", "-", s.url, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	ck_assert_int_eq((long)jnum(r->out, "", "processes"), 2);
	ck_assert_int_eq((long)jnum(r->out, "", "threads"), 2);
	ck_assert_int_eq((long)jnum(r->out, "", "connections"), 21);
	ck_assert_int_eq((long)jnum(r->out, "", "requests"), 2001);
	assert_no_errors(r->out, "errors", NULL);
	assert_no_errors(r->out, "idle_connect_errors", NULL);
	psrv_stats(&s, stats, sizeof stats);
	/* /stats counts itself: one request and one connection more */
	ck_assert_msg(snum(stats, "requests") == 2001 + 1, "%s", stats);
	ck_assert_msg(snum(stats, "accepted") == 21 + 1, "%s", stats);
	ck_assert_msg(snum(stats, "processes") == 2, "%s", stats);
	/* the text report says how it ran */
	run_load(r, "-b", backend_at(_i), "-P", "2", "-c", "4", "-n", "40", s.url, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	ck_assert_msg(strstr(r->out, "in each of 2 processes") &&
	              strstr(r->out, "requests 40 in"), "%s", r->out);
	psrv_stats(&s, stats, sizeof stats);
	ck_assert_msg(snum(stats, "requests") == 2001 + 1 + 40 + 1, "%s", stats);
	psrv_stop(&s);
	free(r);
}
END_TEST

/* An open loop split over three processes with source addresses split
 * too: the sums are exact (connections the server saw, from all sources). */
START_TEST(processes_split_sources_and_rate)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "echo", NULL);
	run_load(r, "-b", backend_at(_i), "-P", "3", "-c", "10", "-a", "7", "-R", "300",
	         "-d", "0.3", "--source", "127.0.0.2-127.0.0.6", "--json", "-", s.addr, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	ck_assert_int_eq((long)jnum(r->out, "", "processes"), 3);
	ck_assert(jnum(r->out, "", "requested_rps") == 300);
	assert_no_errors(r->out, "errors", NULL);
	srv_stop(&s);
	ck_assert_int_eq(s.accepted, 10);
	ck_assert_int_eq(s.sources, 5);
	free(r);
}
END_TEST

/* Starts pollux-load -P 2 -c 4 -d 60 against addr with its stderr into a
 * pipe (*err_fd), and waits (bounded, through /proc) until both of its
 * load processes exist: their pids into kids. Returns its pid. */
static pid_t load_two_processes(const char *backend, const char *addr, int *err_fd,
                                long kids[2])
{
	int out[2];
	ck_assert_int_eq(pipe(out), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(out[1], 2);
		close(out[0]);
		close(out[1]);
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 1);
		execl(load_bin, load_bin, "-b", backend, "-P", "2", "-c", "4", "-d", "60",
		      addr, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	*err_fd = out[0];
	char path[64], buf[256];
	int found = 0;
	uint64_t end = px_now_ns() + 30ull * 1000000000u;
	while (found < 2 && px_now_ns() < end) {
		snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", (long)pid, (long)pid);
		FILE *f = fopen(path, "r");
		if (!f)
			break; /* no /proc: the assertion below fails the test */
		found = 0;
		if (fgets(buf, sizeof buf, f)) {
			char *p = buf;
			for (int i = 0; i < 2; i++) {
				char *e;
				long kid = strtol(p, &e, 10);
				if (e == p)
					break;
				p = e;
				/* the libtool wrapper's subshells are children too
				 * (with its name as comm): the program tells */
				char exe[4096];
				snprintf(path, sizeof path, "/proc/%ld/exe", kid);
				ssize_t el = readlink(path, exe, sizeof exe - 1);
				exe[el > 0 ? el : 0] = '\0';
				const char *base = strrchr(exe, '/');
				base = base ? base + 1 : exe;
				if (strcmp(base, "pollux-load") == 0 ||
				    strcmp(base, "lt-pollux-load") == 0)
					kids[found++] = kid;
			}
		}
		fclose(f);
		if (found < 2) {
			struct pollfd p = { .fd = -1 };
			poll(&p, 0, 10);
		}
	}
	ck_assert_msg(found == 2, "no two load processes found under %ld", (long)pid);
	return pid;
}

/* Reads fd to EOF (bounded) into buf; then reaps pid: its wait status. */
static int drain_and_wait(pid_t pid, int fd, char *buf, size_t cap)
{
	size_t len = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ck_assert_msg(poll(&p, 1, 30000) == 1, "pollux-load did not end");
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return st;
}

/* A load process that dies is named, the others are stopped, and the run
 * fails: never a silently smaller total. */
START_TEST(dead_process_fails_the_run)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "echo", NULL);
	int fd;
	long kids[2];
	pid_t pid = load_two_processes(backend_at(_i), s.addr, &fd, kids);
	ck_assert_int_eq(kill((pid_t)kids[0], SIGKILL), 0);
	int st = drain_and_wait(pid, fd, r->err, OUT_MAX);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %#x; %s", st, r->err);
	ck_assert_msg(strstr(r->err, "killed by signal 9") &&
	              strstr(r->err, "the totals lack its 2 connections"), "%s", r->err);
	ck_assert(kill((pid_t)kids[1], 0) < 0 && errno == ESRCH);
	srv_stop(&s);
	free(r);
}
END_TEST

/* SIGTERM to the parent alone (not the process group, as Ctrl-C is) ends
 * every load process, and the one report covers both. */
START_TEST(signal_to_parent_stops_all)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "echo", NULL);
	int fd;
	long kids[2];
	pid_t pid = load_two_processes(backend_at(_i), s.addr, &fd, kids);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	int st = drain_and_wait(pid, fd, r->err, OUT_MAX);
	ck_assert_msg(WIFEXITED(st), "status %#x; %s", st, r->err);
	/* stopped while connecting, or with requests in flight, is exit 1 and
	 * says so; a dead process never is what it says */
	ck_assert_msg(WEXITSTATUS(st) == 0 || strstr(r->err, "stopped"), "status %d: %s",
	              WEXITSTATUS(st), r->err);
	ck_assert_msg(!strstr(r->err, "before sending its results"), "%s", r->err);
	for (int i = 0; i < 2; i++)
		ck_assert(kill((pid_t)kids[i], 0) < 0 && errno == ESRCH);
	srv_stop(&s);
	/* (the signal may come before every connection was made) */
	ck_assert_uint_le(s.accepted, 4);
	free(r);
}
END_TEST

START_TEST(unix_socket_target)
{
	char dir[] = "/tmp/pollux-load-test-XXXXXX";
	ck_assert(mkdtemp(dir));
	char path[128], target[160];
	snprintf(path, sizeof path, "%s/s", dir);
	snprintf(target, sizeof target, "unix:%s", path);
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--unix", path, NULL);
	ck_assert_str_eq(s.addr, target);
	run_load(r, "-b", backend_at(_i), "-c", "3", "-n", "300", "--json", "-", target, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	ck_assert_int_eq((long)jnum(r->out, "", "requests"), 300);
	srv_stop(&s);

	/* a backlog of 1 is full at once when 60 connects arrive together:
	 * unix connect says EAGAIN, and the tool must try again, not give up */
	srv_start(&s, "--unix", path, "--backlog", "1", NULL);
	run_load(r, "-b", backend_at(_i), "-c", "60", "-n", "600", "--json", "-", target, NULL);
	ck_assert_msg(r->status == 0, "exit %d; %s %s", r->status, r->out, r->err);
	ck_assert_int_eq((long)jnum(r->out, "", "requests"), 600);
	srv_stop(&s);
	ck_assert_int_eq(s.accepted, 60);
	unlink(path);
	rmdir(dir);
	free(r);
}
END_TEST

/* A report that cannot be written (stdout on a full disk) is a failure
 * the user is told about, not exit 0 with nothing written. */
START_TEST(unwritable_report_fails)
{
	struct srv s;
	srv_start(&s, "--mode", "echo", NULL);
	int err[2];
	ck_assert_int_eq(pipe(err), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int full = open("/dev/full", O_WRONLY);
		if (full < 0)
			_exit(126);
		dup2(full, 1);
		dup2(err[1], 2);
		close(err[0]);
		execl(load_bin, load_bin, "-b", backend_at(_i), "-q", "-c", "2", "-n", "10",
		      "--json", "-", s.addr, (char *)NULL);
		_exit(127);
	}
	close(err[1]);
	char msg[1024];
	int n = read_line(err[0], msg, sizeof msg, 60000);
	close(err[0]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 126, "no /dev/full here");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %d", WEXITSTATUS(st));
	ck_assert_msg(n > 0 && strstr(msg, "cannot write the report"), "stderr: %s",
	              n > 0 ? msg : "(nothing)");
	srv_stop(&s);
}
END_TEST

/* SIGTERM while connecting (--connect-rate leaves the second connection a
 * thousand seconds away): not every connection was made, so no exit 0,
 * though no connection failed. */
START_TEST(stop_while_connecting)
{
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = { .sin_family = AF_INET,
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&in, sizeof in), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	socklen_t len = sizeof in;
	getsockname(lfd, (struct sockaddr *)&in, &len);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)ntohs(in.sin_port));
	int err[2];
	ck_assert_int_eq(pipe(err), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(err[1], 2);
		close(err[0]);
		close(lfd);
		execl(load_bin, load_bin, "-b", backend_at(_i), "-c", "2", "-a", "0",
		      "--connect-rate", "0.001", "-d", "1", addr, (char *)NULL);
		_exit(127);
	}
	close(err[1]);
	/* The first connection arrives once the tool runs its connect phase,
	 * long after its signal handlers are in place. */
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	ck_assert_msg(poll(&p, 1, 30000) == 1, "pollux-load never connected");
	int c = accept(lfd, NULL, NULL);
	ck_assert_int_ge(c, 0);
	kill(pid, SIGTERM);
	char msg[1024];
	int n = read_line(err[0], msg, sizeof msg, 30000);
	close(err[0]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
	ck_assert_msg(n > 0 && strstr(msg, "1 of 2 connections made"), "stderr: %s",
	              n > 0 ? msg : "(nothing)");
	close(c);
	close(lfd);
}
END_TEST

/* ---- JSON checked by python3's json module ------------------------------ */

static void python_check(const char *json, int with_rate)
{
	const char *py = getenv("PYTHON3");
	ck_assert_msg(py && *py, "python3 is needed for this test (configure found none)");
	static const char script[] =
		"import json, sys\n"
		"d = json.loads(sys.stdin.read())\n"
		"rate = int(sys.argv[1])\n"
		"top = ['target','targets','proto','backend','connections','active','threads','processes',"
		"'duration_s','requests','rps','bytes_sent','bytes_received','errors',"
		"'idle_connect_errors','latency_us','in_flight','longest_stall_us','notes',"
		"'settings','pollux_version','time','machine']\n"
		"if rate: top += ['latency_uncorrected_us','requested_rps','unsent','lateness_us']\n"
		"miss = [k for k in top if k not in d]\n"
		"assert not miss, 'missing %s' % miss\n"
		"assert rate or 'requested_rps' not in d\n"
		"assert rate or 'lateness_us' not in d\n"
		"if rate:\n"
		"    l = d['lateness_us']\n"
		"    assert isinstance(l, dict) and sorted(l) == ['max','p50','p99'], l\n"
		"    assert all(isinstance(v, (int, float)) for v in l.values()), l\n"
		"    assert 0 <= l['p50'] <= l['p99'] <= l['max'], l\n"
		"for k in ('target','proto','backend'): assert isinstance(d[k], str), k\n"
		"import re, datetime\n"
		"assert re.fullmatch(r'\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ', d['time']), d['time']\n"
		"m = d['machine']\n"
		"assert isinstance(m['cores'], int) and m['cores'] > 0, m\n"
		"assert isinstance(m['kernel'], str) and m['kernel'], m\n"
		"for k in ('loadavg_before', 'loadavg_after'):\n"
		"    assert m[k] is None or (len(m[k]) == 3 and all(v >= 0 for v in m[k])), m\n"
		"assert isinstance(d['pollux_version'], str) and d['pollux_version'], d\n"
		"st = d['settings']\n"
		"for k in ('duration_s','requests','warmup_s','timeout_s','rate','connect_rate',"
		"'size','method','urls','headers','body_bytes','request_bytes','new_connection',"
		"'interval_s','sources','percentiles'): assert k in st, k\n"
		"assert (st['rate'] is not None) == bool(rate), st\n"
		"assert isinstance(st['warmup_s'], (int, float)) and isinstance(st['timeout_s'], (int, float))\n"
		"assert isinstance(d['notes'], list) and all(isinstance(n, str) for n in d['notes'])\n"
		"assert isinstance(d['in_flight'], int) and isinstance(d['longest_stall_us'], int)\n"
		"t = d['targets']\n"
		"assert isinstance(t, list) and t and all(isinstance(x, str) for x in t), d\n"
		"for k in top:\n"
		"    if k not in ('target','targets','proto','backend','errors','idle_connect_errors',"
		"'latency_us','latency_uncorrected_us','lateness_us','notes','settings',"
		"'pollux_version','time','machine'):\n"
		"        assert isinstance(d[k], (int, float)), k\n"
		"lat = ['latency_us'] + (['latency_uncorrected_us'] if rate else [])\n"
		"for o in lat:\n"
		"    for k in ('mean','stdev','p50','p90','p99','p999','p9999','max'):\n"
		"        assert isinstance(d[o][k], (int, float)), (o, k)\n"
		"    assert d[o]['p995'] <= d[o]['max']\n"
		"for o in ('errors','idle_connect_errors'):\n"
		"    for k in ('refused','reset','timeout','emfile','enfile','eaddrnotavail',"
		"'short','malformed','mismatch','http_status'):\n"
		"        assert isinstance(d[o][k], int), (o, k)\n";
	int in[2];
	ck_assert_int_eq(pipe(in), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(in[0], 0);
		close(in[0]);
		close(in[1]);
		execl(py, py, "-c", script, with_rate ? "1" : "0", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	size_t n = strlen(json);
	ck_assert_int_eq(write(in[1], json, n), (ssize_t)n);
	close(in[1]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "python3 rejected: %s", json);
}

START_TEST(json_parses_with_every_key)
{
	struct srv s;
	struct result *r = malloc(sizeof *r);
	srv_start(&s, "--mode", "echo", NULL);
	run_load(r, "-b", backend_at(_i), "-c", "4", "-a", "2", "-n", "100", "--json", "-",
	         "--percentiles", "50,99.5", s.addr, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	ck_assert_msg(strchr(r->out, '\n') == r->out + strlen(r->out) - 1,
	              "not one line: %s", r->out);
	python_check(r->out, 0);
	run_load(r, "-b", backend_at(_i), "-c", "4", "-R", "400", "-d", "0.5", "--json", "-",
	         "--percentiles", "99.5", s.addr, NULL);
	ck_assert_msg(r->status == 0, "exit %d; stderr: %s", r->status, r->err);
	python_check(r->out, 1);
	/* JSON on stdout: the text for people on stderr, and no progress
	 * line there when it is not a terminal */
	ck_assert_msg(strncmp(r->err, "target ", 7) == 0 && !strchr(r->err, '\r'),
	              "stderr: %s", r->err);
	srv_stop(&s);
	free(r);
}
END_TEST

/* ---- usage, once ------------------------------------------------------- */

START_TEST(usage_errors)
{
	struct result *r = malloc(sizeof *r);
	run_load(r, NULL);
	ck_assert_int_eq(r->status, 2);
	run_load(r, "-c", "2", "-a", "3", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert(strstr(r->err, "-a must not exceed -c"));
	run_load(r, "-d", "1", "-n", "5", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 2);
	run_load(r, "127.0.0.1:notaport", NULL);
	ck_assert_int_eq(r->status, 2);
	run_load(r, "--backend", "nosuch", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert(strstr(r->err, "nosuch"));
	run_load(r, "--source", "127.0.0.9-127.0.0.2", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 2);
	/* 192.0.2.0/24 is for documentation: no machine has it. Said at once,
	 * not as "no free local port" after every connect failed. */
	run_load(r, "--source", "192.0.2.1-192.0.2.3", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strstr(r->err, "192.0.2.1 is not an address of this machine"),
	              "stderr: %s", r->err);
	run_load(r, "--percentiles", "0", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 2);
	/* a rate whose interval does not fit the clock (it was cast from
	 * infinity: 220 requests sent, 299999777 "never sent") */
	run_load(r, "-R", "1e-300", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 2);
	run_load(r, "--connect-rate", "1e-300", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 2);
	/* 9.99 would be "p999" in the JSON, the key of 99.9: refused, not
	 * one silently standing for the other */
	run_load(r, "--percentiles", "9.99", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strstr(r->err, "p999"), "stderr: %s", r->err);
	run_load(r, "--size", "10", "http://127.0.0.1:9/", NULL);
	ck_assert_int_eq(r->status, 2);
	/* more connections than any descriptor limit here allows: refused
	 * before anything is opened, with the limit named */
	run_load(r, "-c", "9000000", "-a", "1", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_msg(strstr(r->err, "RLIMIT_NOFILE"), "stderr: %s", r->err);
	ck_assert_msg(strchr(r->err, '\n') == r->err + strlen(r->err) - 1, "not one line");
	/* one line naming the option, not getopt's extra line with the path */
	run_load(r, "--processes", "0", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strstr(r->err, "--processes"), "%s", r->err);
	run_load(r, "-P", "3", "-c", "2", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strstr(r->err, "-P must not exceed -c"), "%s", r->err);
	/* every process runs at least one thread of at least one connection */
	run_load(r, "-P", "3", "-t", "2", "-c", "5", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strstr(r->err, "-t times -P must not exceed -c"), "%s", r->err);
	/* -n with a process that has no active connection: no share to make */
	run_load(r, "-P", "3", "-c", "6", "-a", "2", "-n", "10", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strstr(r->err, "active connection per process"), "%s", r->err);
	run_load(r, "-Z", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strstr(r->err, "'-Z'"), "stderr: %s", r->err);
	ck_assert_msg(strchr(r->err, '\n') == r->err + strlen(r->err) - 1, "not one line: %s", r->err);
	run_load(r, "127.0.0.1:9", "--connections", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strstr(r->err, "'--connections' needs a value"), "stderr: %s", r->err);
	ck_assert_msg(strchr(r->err, '\n') == r->err + strlen(r->err) - 1, "not one line: %s", r->err);
	run_load(r, "--no-progress=yes", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strchr(r->err, '\n') == r->err + strlen(r->err) - 1, "not one line: %s", r->err);
	/* the request options */
	run_load(r, "-H", "NoColon", "http://127.0.0.1:9/", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strstr(r->err, "pollux-load: -H 'NoColon': expected 'Name: value' (see pollux-load --help)\n"), "stderr: %s", r->err);
	run_load(r, "-H", "Content-Length: 3", "http://127.0.0.1:9/", NULL);
	ck_assert_int_eq(r->status, 2);
	run_load(r, "-m", "GET", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strstr(r->err, "--proto http only"), "stderr: %s", r->err);
	/* a file that is not there is a failure (exit 1, one line), not a
	 * usage mistake (CONVENTIONS.md) */
	run_load(r, "--body", "/nonexistent/pollux-body", "http://127.0.0.1:9/", NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_str_eq(r->err, "pollux-load: --body '/nonexistent/pollux-body': "
	                 "No such file or directory\n");
	run_load(r, "--urls", "/nonexistent/pollux-urls", NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_str_eq(r->err, "pollux-load: --urls '/nonexistent/pollux-urls': "
	                 "No such file or directory\n");
	run_load(r, "http://127.0.0.1:9/", "http://127.0.0.1:10/", NULL);
	ck_assert_int_eq(r->status, 2);
	ck_assert_msg(strstr(r->err, "same server"), "stderr: %s", r->err);
	run_load(r, "127.0.0.1:9", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 2);
	run_load(r, "--interval", "0", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 2);
	run_load(r, "--hgrm", "/nonexistent/dir/h.hgrm", "-n", "1", "127.0.0.1:9", NULL);
	ck_assert_int_eq(r->status, 1);
	ck_assert_msg(strstr(r->err, "--hgrm '/nonexistent/dir/h.hgrm'") &&
	              strchr(r->err, '\n') == r->err + strlen(r->err) - 1, "stderr: %s", r->err);
	run_load(r, "--version", NULL);
	ck_assert_int_eq(r->status, 0);
	ck_assert_msg(strncmp(r->out, "pollux-load (pollux) ", 21) == 0, "%s", r->out);
	run_load(r, "--help", NULL);
	ck_assert_int_eq(r->status, 0);
	ck_assert(strstr(r->out, "--connections"));
	free(r);
}
END_TEST

/* The tools' one wording (tools/common/CONVENTIONS.md): each mistake gives
 * exactly this line, naming the option as typed, and exit 2. */
static void expect_usage_line(const char *line, ...)
{
	struct result *r = malloc(sizeof *r);
	const char *argv[MAX_ARGS] = { load_bin };
	va_list ap;
	va_start(ap, line);
	collect_args(argv, ap);
	va_end(ap);
	/* run_load takes its arguments as a list: pass them on */
	run_load(r, argv[1], argv[2], argv[3], argv[4], argv[5], argv[6], NULL);
	char want[1024];
	snprintf(want, sizeof want, "pollux-load: %s (see pollux-load --help)\n", line);
	ck_assert_msg(r->status == 2, "exit %d for: %s", r->status, want);
	ck_assert_str_eq(r->err, want);
	free(r);
}

START_TEST(usage_lines_follow_conventions)
{
	expect_usage_line("--connections 'abc': expected a whole number from 1 to 10000000",
	                  "--connections", "abc", "127.0.0.1:9", NULL, NULL, NULL);
	expect_usage_line("-c 'abc': expected a whole number from 1 to 10000000",
	                  "-c", "abc", "127.0.0.1:9", NULL, NULL, NULL);
	expect_usage_line("--connections 'x': expected a whole number from 1 to 10000000",
	                  "--connections=x", "127.0.0.1:9", NULL, NULL, NULL, NULL);
	expect_usage_line("option '--conn' is ambiguous (--connections, --connect-rate)",
	                  "--conn=x", "127.0.0.1:9", NULL, NULL, NULL, NULL);
	expect_usage_line("-d '5x': expected a duration from 1ms to 2400h, such as 500ms, 10s "
	                  "or 2m (a plain number is seconds)",
	                  "-d", "5x", "127.0.0.1:9", NULL, NULL, NULL);
	expect_usage_line("option '--help' takes no value", "--help=foo", NULL, NULL, NULL,
	                  NULL, NULL);
	expect_usage_line("unknown option '--nosuch'", "--nosuch", "127.0.0.1:9", NULL, NULL,
	                  NULL, NULL);
	expect_usage_line("option '--rate' needs a value", "127.0.0.1:9", "--rate", NULL, NULL,
	                  NULL, NULL);
	expect_usage_line("unexpected argument '127.0.0.1:10'", "127.0.0.1:9", "127.0.0.1:10",
	                  NULL, NULL, NULL, NULL);
	/* a backend name, from -b or from the environment, judged the same way */
	char built[256] = "";
	for (const char *const *b = pollux_backends(); *b; b++)
		snprintf(built + strlen(built), sizeof built - strlen(built), "%s%s",
		         built[0] ? ", " : "", *b);
	char line[512];
	snprintf(line, sizeof line, "-b 'nosuch': unknown backend; built here: %s", built);
	expect_usage_line(line, "-b", "nosuch", "127.0.0.1:9", NULL, NULL, NULL);
	snprintf(line, sizeof line, "--backend 'nosuch': unknown backend; built here: %s", built);
	expect_usage_line(line, "--backend", "nosuch", "127.0.0.1:9", NULL, NULL, NULL);
	ck_assert_int_eq(setenv("POLLUX_BACKEND", "nosuch", 1), 0);
	snprintf(line, sizeof line, "POLLUX_BACKEND='nosuch': unknown backend; built here: %s",
	         built);
	expect_usage_line(line, "-n", "1", "127.0.0.1:9", NULL, NULL, NULL);
	/* known to pollux, not built here: said so, whichever is missing */
	static const char *const known[] = { "select", "poll", "epoll", "kqueue", "uring" };
	for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
		int have = 0;
		for (const char *const *b = pollux_backends(); *b; b++)
			have |= strcmp(*b, known[k]) == 0;
		if (have)
			continue;
		ck_assert_int_eq(setenv("POLLUX_BACKEND", known[k], 1), 0);
		snprintf(line, sizeof line, "POLLUX_BACKEND='%s': known to pollux but not built "
		         "into this libpollux; built here: %s", known[k], built);
		expect_usage_line(line, "-n", "1", "127.0.0.1:9", NULL, NULL, NULL);
		break;
	}
	unsetenv("POLLUX_BACKEND");
	/* messages about several options name each as the user typed it */
	expect_usage_line("-t must not exceed -c", "-t", "2", "-c", "1", "127.0.0.1:9", NULL);
	expect_usage_line("--threads must not exceed --connections", "--threads", "2",
	                  "--connections=1", "127.0.0.1:9", NULL, NULL);
	expect_usage_line("--thr must not exceed --connections", "--thr", "20",
	                  "127.0.0.1:9", NULL, NULL, NULL);
	expect_usage_line("give -d or -n, not both", "-n", "10", "-d", "1s", "127.0.0.1:9", NULL);
	expect_usage_line("give --duration or --requests, not both", "--requests=10",
	                  "--duration=1s", "127.0.0.1:9", NULL, NULL, NULL);
	expect_usage_line("-a must not exceed -c", "-c2", "-a3", "127.0.0.1:9", NULL, NULL, NULL);
	expect_usage_line("-m applies to --proto http only", "-m", "GET", "127.0.0.1:9", NULL,
	                  NULL, NULL);
	/* --percentiles: the shared "expected" form, and no empty item */
	static const char *const bad_pct[] = { "50,,", "abc", ",50", "0", "50,101", "" };
	for (size_t k = 0; k < sizeof bad_pct / sizeof bad_pct[0]; k++) {
		snprintf(line, sizeof line, "--percentiles '%s': expected a comma list of "
		         "percentiles above 0 and at most 100, such as 50,99,99.9", bad_pct[k]);
		expect_usage_line(line, "--percentiles", bad_pct[k], "127.0.0.1:9", NULL, NULL,
		                  NULL);
	}
	expect_usage_line("--hgrm - and --json - cannot both write to standard output; "
	                  "give one a file name", "--hgrm", "-", "--json", "-", "127.0.0.1:9",
	                  NULL);
	struct result *r = malloc(sizeof *r);
	run_load(r, "--list-backends", NULL);
	ck_assert_int_eq(r->status, 0);
	char want[256];
	snprintf(want, sizeof want, "%s", built);
	for (char *p = want; (p = strstr(p, ", ")); )
		memmove(p, p + 1, strlen(p)), *p = '\n';
	strcat(want, "\n");
	ck_assert_str_eq(r->out, want);
	run_load(r, "--help", NULL);
	ck_assert_msg(strncmp(r->out, "Usage: pollux-load [OPTION]... TARGET\n", 38) == 0, "%s", r->out);
	ck_assert_msg(strstr(r->out, "\nExit status: "), "%s", r->out);
	free(r);
}
END_TEST

static Suite *load_suite(void)
{
	Suite *s = suite_create("pollux-load");
	int nb = 0;
	while (pollux_backends()[nb])
		nb++;
	TCase *tc = tcase_create("per backend");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, echo_2000_connections_50_active, 0, nb);
	tcase_add_loop_test(tc, corrupted_byte_is_caught, 0, nb);
	nr_add(tc, "test_load", refused_target, 0, nb);
	nr_add(tc, "test_load", reset_connections, 0, nb);
	tcase_add_loop_test(tc, silent_server_times_out, 0, nb);
	tcase_add_loop_test(tc, closed_loop_consistent_with_duration, 0, nb);
	tcase_add_loop_test(tc, no_success_says_why, 0, nb);
	tcase_add_loop_test(tc, signal_is_no_timeout, 0, 1);
	tcase_add_loop_test(tc, open_loop_rate_gives_count, 0, nb);
	tcase_add_loop_test(tc, http_content_length_chunked_and_close, 0, nb);
	tcase_add_loop_test(tc, source_addresses_spread, 0, nb);
	tcase_add_loop_test(tc, threads_spread_the_remainder, 0, nb);
	tcase_add_loop_test(tc, open_loop_accounts_for_every_request, 0, nb);
	tcase_add_loop_test(tc, closed_loop_stall_is_reported, 0, nb);
	tcase_add_loop_test(tc, hgrm_agrees_with_json, 0, 1);
	tcase_add_loop_test(tc, hgrm_to_stdout, 0, 1);
	tcase_add_loop_test(tc, report_names_what_ran, 0, 1);
	tcase_add_loop_test(tc, interval_series, 0, 1);
	tcase_add_loop_test(tc, http_request_features, 0, nb);
	tcase_add_loop_test(tc, new_connection_per_request, 0, nb);
	tcase_add_loop_test(tc, processes_sum_what_the_server_counted, 0, nb);
	tcase_add_loop_test(tc, processes_split_sources_and_rate, 0, nb);
	tcase_add_loop_test(tc, dead_process_fails_the_run, 0, 1);
	tcase_add_loop_test(tc, signal_to_parent_stops_all, 0, 1);
	tcase_add_loop_test(tc, unix_socket_target, 0, nb);
	tcase_add_loop_test(tc, json_parses_with_every_key, 0, nb);
	tcase_add_loop_test(tc, unwritable_report_fails, 0, 1);
	tcase_add_loop_test(tc, stop_while_connecting, 0, 1);
	suite_add_tcase(s, tc);
	TCase *tu = tcase_create("usage");
	tcase_set_timeout(tu, 120);
	tcase_add_test(tu, usage_errors);
	tcase_add_test(tu, usage_lines_follow_conventions);
	suite_add_tcase(s, tu);
	return s;
}

/* With --not-run: only lists the cases this build does not run (see
 * tests/notrun.c); exit 77 (SKIP) if there are any. */
int main(int argc, char **argv)
{
	const char *b = getenv("top_builddir");
	if (!b)
		b = ".";
	snprintf(load_bin, sizeof load_bin, "%s/tools/pollux-load", b);
	snprintf(srv_bin, sizeof srv_bin, "%s/tests/load_testsrv", b);
	snprintf(psrv_bin, sizeof psrv_bin, "%s/tools/pollux-server", b);
	signal(SIGPIPE, SIG_IGN);
	SRunner *sr = srunner_create(load_suite());
	if (argc > 1 && strcmp(argv[1], "--not-run") == 0) {
		int not_run = nr_report(stdout, "test_load");
		srunner_free(sr);
		return not_run < 0 ? EXIT_FAILURE : not_run > 0 ? 77 : EXIT_SUCCESS;
	}
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	int not_run = nr_report(stdout, "test_load");
	return failed || not_run < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
