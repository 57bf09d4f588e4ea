/* test_server_models.c: pollux-server's --model designs (loop, iterative,
 * threads, fork, busy) driven over sockets: the same answers as the event
 * loop, /delay, --max-conns, idle timeout, statistics and a clean stop. */
#include <config.h>
#include "test_server_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Sanitizers reserve huge address space; TSan also starts a thread of its
 * own once the server has a second one, so thread counts are not exact. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(UNDER_TSAN)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifdef UNDER_TSAN
#define THREADS(n) (0 ? (n) : -1)	/* named, not evaluated: not compared */
#else
#define THREADS(n) (n)
#endif

static const char *const models[] = { "loop", "iterative", "threads", "fork", "busy" };
#define NMODELS ((int)(sizeof models / sizeof models[0]))

static long ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int exited(int st, int code)
{
	return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

/* Starts the server with --model m plus up to 8 more arguments. */
static void start(struct srv *s, const char *m, const char *const *more)
{
	const char *args[16] = { "--model", m };
	int n = 2;
	for (int i = 0; more && more[i] && n < 15; i++)
		args[n++] = more[i];
	args[n] = NULL;
	ck_assert_msg(srv_start(s, NULL, 1, 0, args) == 0, "--model %s did not start", m);
}

static int readable(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	return poll(&p, 1, ms) > 0;
}

/* Reads until the peer closes (bounded); returns the length. */
static size_t read_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	long deadline = ms_now() + T_WAIT_MS;
	while (len < cap && ms_now() < deadline) {
		if (!readable(fd, (int)(deadline - ms_now())))
			break;
		ssize_t k = recv(fd, buf + len, cap - len, 0);
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	return len;
}

/* The answers with their Date fields cut out (they differ by the second). */
static size_t strip_dates(char *buf, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		if (len - i >= 6 && memcmp(buf + i, "Date: ", 6) == 0 && i >= 2 &&
		    buf[i - 1] == '\n') {
			char *e = memmem(buf + i, len - i, "\r\n", 2);
			if (e) {
				i = (size_t)(e - buf) + 2;
				continue;
			}
		}
		buf[o++] = buf[i++];
	}
	return o;
}

/* Echo: a short message and 1 MiB, byte for byte, reading while sending
 * so neither side's buffers can fill up and stall the other. */
START_TEST(echo_exact)
{
	const char *more[] = { "--proto", "echo", NULL };
	struct srv s;
	start(&s, models[_i], more);
	enum { BIG = 1 << 20 };
	unsigned char *data = malloc(BIG), *got = malloc(BIG);
	unsigned seed = 7u + (unsigned)_i;
	for (size_t k = 0; k < BIG; k++)
		data[k] = (unsigned char)rand_r(&seed);
	for (int round = 0; round < 2; round++) {
		size_t len = round ? BIG : 5;
		const unsigned char *src = round ? data : (const unsigned char *)"hello";
		int fd = tcp_connect(s.port);
		ck_assert_int_ge(fd, 0);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		size_t sent = 0, have = 0;
		int shut = 0, eof = 0;
		long deadline = ms_now() + T_WAIT_MS;
		while (!eof) {
			ck_assert_msg(ms_now() < deadline, "%s: echo stalled at %zu of %zu",
			              models[_i], have, len);
			struct pollfd p = { fd, POLLIN | (sent < len ? POLLOUT : 0), 0 };
			if (poll(&p, 1, 1000) <= 0)
				continue;
			if ((p.revents & POLLOUT) && sent < len) {
				ssize_t k = send(fd, src + sent, len - sent, MSG_NOSIGNAL);
				if (k > 0)
					sent += (size_t)k;
			}
			if (sent == len && !shut) {
				ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
				shut = 1;
			}
			if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
				ssize_t k = recv(fd, got + have, BIG - have, 0);
				if (k > 0)
					have += (size_t)k;
				else if (k == 0)
					eof = 1;
				else
					ck_assert_msg(errno == EAGAIN, "recv: %s", strerror(errno));
			}
		}
		ck_assert_msg(have == len, "%s: %zu of %zu bytes back", models[_i], have, len);
		ck_assert_msg(memcmp(got, src, len) == 0, "%s: echo differs", models[_i]);
		close(fd);
	}
	free(data);
	free(got);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
}
END_TEST

/* Every answer but the Date field is the event loop's, byte for byte. */
START_TEST(http_same_as_loop)
{
	static const char reqs[] =
		"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
		"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n"
		"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
		"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
		"GET /delay/0 HTTP/1.1\r\nHost: t\r\n\r\n"
		"HEAD /delay/1 HTTP/1.1\r\nHost: t\r\n\r\n"
		"GET /delay/x HTTP/1.1\r\nHost: t\r\n\r\n"
		"GET / HTTP/1.0\r\n\r\n";
	static char want[16384], got[16384];
	size_t wl = 0, gl = 0;
	for (int k = 0; k < 2; k++) {
		struct srv s;
		start(&s, k ? models[_i] : "loop", NULL);
		int fd = tcp_connect(s.port);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(send_all(fd, reqs, sizeof reqs - 1), 0);
		size_t n = read_all(fd, k ? got : want, sizeof want);
		close(fd);
		n = strip_dates(k ? got : want, n);
		if (k)
			gl = n;
		else
			wl = n;
		ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
	}
	ck_assert_msg(wl > 200 && strstr(want, "Hello from pollux-server"), "loop said: %.*s",
	              (int)wl, want);
	ck_assert_msg(gl == wl && memcmp(got, want, wl) == 0,
	              "%s answered differently:\n%.*s\n--- loop:\n%.*s", models[_i],
	              (int)gl, got, (int)wl, want);
}
END_TEST

/* Pipelined requests, one held by /delay, come back in order. */
START_TEST(pipelined_in_order)
{
	struct srv s;
	start(&s, models[_i], NULL);
	int fd = tcp_connect(s.port);
	ck_assert_int_ge(fd, 0);
	static const char reqs[] =
		"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
		"GET /delay/50 HTTP/1.1\r\nHost: t\r\n\r\n"
		"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
		"GET /delay/0 HTTP/1.1\r\nHost: t\r\n\r\n"
		"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	ck_assert_int_eq(send_all(fd, reqs, sizeof reqs - 1), 0);
	static const int status[] = { 200, 200, 404, 200, 200 };
	static const char *const body[] = { "Hello from pollux-server\n", "delayed 50 ms\n",
		"404 Not Found\n", "delayed 0 ms\n", "Hello from pollux-server\n" };
	struct reader rd;
	reader_init(&rd, fd);
	for (int k = 0; k < 5; k++) {
		struct resp r;
		ck_assert_msg(read_resp(&rd, &r, 0) == 0, "%s: answer %d missing", models[_i], k);
		ck_assert_int_eq(r.status, status[k]);
		ck_assert_msg(r.body && strcmp(r.body, body[k]) == 0, "%s: answer %d: '%s'",
		              models[_i], k, r.body ? r.body : "");
		resp_free(&r);
	}
	reader_free(&rd);
	close(fd);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
}
END_TEST

/* /stats has the keys and the model; file bytes count read/write against
 * sendfile; /delay works beside --root. */
START_TEST(stats_and_files)
{
	char *dir = make_tempdir();
	char path[4096];
	snprintf(path, sizeof path, "%s/f.bin", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	for (int k = 0; k < 100000; k++)
		fputc('a' + k % 26, f);
	fclose(f);
	for (int nosf = 0; nosf < 2; nosf++) {
		const char *more[] = { "--root", dir, nosf ? "--no-sendfile" : NULL, NULL };
		struct srv s;
		start(&s, models[_i], more);
		struct resp r;
		ck_assert_int_eq(http_once(s.port, "GET /f.bin HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
		ck_assert_int_eq((int)r.blen, 100000);
		resp_free(&r);
		ck_assert_int_eq(http_once(s.port, "GET /delay/5 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
		ck_assert_str_eq(r.body, "delayed 5 ms\n");
		resp_free(&r);
		ck_assert_int_eq(http_once(s.port, "GET /stats HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
		char want[64];
		snprintf(want, sizeof want, "\"model\":\"%s\"", models[_i]);
		ck_assert_msg(strstr(r.body, want), "no %s in %s", want, r.body);
		static const char *const keys[] = { "accepted", "closed", "open", "peak_open",
			"requests", "bytes_in", "bytes_out", "threads", "processes",
			"file_read_bytes", "file_sent_bytes", "spawn" };
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
			ck_assert_msg(json_value(r.body, keys[k]) >= 0, "%s: no %s in %s",
			              models[_i], keys[k], r.body);
		ck_assert_msg(json_value(r.body, "requests") == 3, "%s", r.body);
		ck_assert_msg(json_value(r.body, "accepted") == 3, "%s", r.body);
		ck_assert_msg(json_value(r.body, "file_sent_bytes") == 100000, "%s", r.body);
		ck_assert_msg(json_value(r.body, "file_read_bytes") == (nosf ? 100000 : 0),
		              "%s", r.body);
		ck_assert_msg(json_value(r.body, "bytes_out") > 100000, "%s", r.body);
		if (strcmp(models[_i], "threads") == 0)
			ck_assert_msg(json_value(r.body, "threads") >= 1, "%s", r.body);
		if (strcmp(models[_i], "fork") == 0)
			ck_assert_msg(json_value(r.body, "processes") >= 1, "%s", r.body);
		resp_free(&r);
		static char out[16384];
		ck_assert(exited(srv_stop(&s, SIGTERM, out, sizeof out), 0));
		ck_assert_msg(strstr(out, "\naccepted 3\n") && strstr(out, "\nrequests 3\n") &&
		              strstr(out, "\nfile_sent_bytes 100000\n"), "%s final: %s",
		              models[_i], out);
		snprintf(want, sizeof want, "\nmodel %s\n", models[_i]);
		ck_assert_msg(strstr(out, want), "%s", out);
	}
	remove_tree(dir);
	free(dir);
}
END_TEST

/* /delay/MS answers no earlier than MS; HEAD has the length, no body. */
START_TEST(delay_lower_bound)
{
	struct srv s;
	start(&s, models[_i], NULL);
	long t0 = ms_now();
	struct resp r;
	ck_assert_int_eq(http_once(s.port, "GET /delay/300 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	long el = ms_now() - t0;
	ck_assert_msg(el >= 300, "%s: /delay/300 answered after %ld ms", models[_i], el);
	ck_assert_str_eq(r.body, "delayed 300 ms\n");
	resp_free(&r);
	t0 = ms_now();
	ck_assert_int_eq(http_once(s.port, "HEAD /delay/100 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	ck_assert_msg(ms_now() - t0 >= 100, "HEAD /delay/100 too early");
	ck_assert_int_eq((int)r.clen, (int)strlen("delayed 100 ms\n"));
	ck_assert_ptr_null(r.body);
	resp_free(&r);
	ck_assert_int_eq(http_once(s.port, "GET /delay/60001 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 404);
	resp_free(&r);
	ck_assert_int_eq(http_once(s.port, "GET /delay/-1 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 404);
	resp_free(&r);
	ck_assert_int_eq(http_once(s.port, "GET /delay/ HTTP/1.1\r\nHost: t\r\n\r\n", &r), 404);
	resp_free(&r);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
}
END_TEST

/* Waits (bounded) until the server has parsed one request more than base,
 * the count of an earlier /stats: every /stats asked counts itself too. */
static void wait_one_more_request(int port, double base)
{
	long deadline = ms_now() + T_WAIT_MS;
	for (int k = 1; ms_now() < deadline; k++)
		if (stats_value(port, "requests") >= base + k + 1)
			return;
	ck_abort_msg("the server did not take the request");
}

static int get_status(int fd, const char *req)
{
	struct reader rd;
	struct resp r;
	reader_init(&rd, fd);
	int st = -1;
	if (send_all(fd, req, strlen(req)) == 0 && read_resp(&rd, &r, 0) == 0) {
		st = r.status;
		resp_free(&r);
	}
	reader_free(&rd);
	return st;
}

#define GETREQ "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
#define GETCLOSE "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"

/* --max-conns 2 and four clients: the two beyond are closed at once (the
 * iterative server never holds more than one, so it serves all in turn);
 * the server goes on serving. */
START_TEST(max_conns_two)
{
	const char *more[] = { "--max-conns", "2", NULL };
	struct srv s;
	start(&s, models[_i], more);
	int iterative = strcmp(models[_i], "iterative") == 0;
	int fd[4];
	for (int k = 0; k < 4; k++) {
		fd[k] = tcp_connect(s.port);
		ck_assert_int_ge(fd[k], 0);
	}
	if (iterative) {
		for (int k = 0; k < 4; k++)
			ck_assert_int_eq(get_status(fd[k], GETCLOSE), 200);
	} else {
		ck_assert_msg(wait_closed(fd[2], T_WAIT_MS), "%s: third client kept", models[_i]);
		ck_assert_msg(wait_closed(fd[3], T_WAIT_MS), "%s: fourth client kept", models[_i]);
		ck_assert_int_eq(get_status(fd[0], GETREQ), 200);
		ck_assert_int_eq(get_status(fd[1], GETREQ), 200);
	}
	for (int k = 0; k < 4; k++)
		close(fd[k]);
	/* Slots come back once the server has seen the closes (bounded). */
	double v = -1;
	for (int k = 0; k < 400 && v < 0; k++)
		v = stats_value(s.port, "max_conns");
	ck_assert_msg(v >= (iterative ? 0 : 2), "%s: max_conns %.0f", models[_i], v);
	/* The /stats connections just made may still hold their slots for a
	 * moment (until the server sees their close): retry, bounded. */
	int st = -1;
	for (int k = 0; k < 400 && st != 200; k++) {
		struct resp r = { 0 };
		st = http_once(s.port, GETCLOSE, &r);
		resp_free(&r);
	}
	ck_assert_int_eq(st, 200);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
}
END_TEST

START_TEST(idle_timeout)
{
	const char *more[] = { "--idle-timeout", "0.3", NULL };
	struct srv s;
	start(&s, models[_i], more);
	int fd = tcp_connect(s.port);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(send_all(fd, "GET / HT", 8), 0);	/* an unfinished request */
	ck_assert_msg(wait_closed(fd, T_WAIT_MS), "%s: idle client kept", models[_i]);
	close(fd);
	/* A /delay longer than the idle timeout is not idleness. */
	struct resp r;
	ck_assert_int_eq(http_once(s.port, "GET /delay/700 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	resp_free(&r);
	double v = stats_value(s.port, "idle_timeout");
	ck_assert_msg(v >= 1, "%s: idle_timeout %.0f", models[_i], v);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
}
END_TEST

/* Threads of a process, from /proc (-1 if unknown). */
static int proc_threads(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int n = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* Children of pid (zombies included) into kids; returns how many, and the
 * zombies among them in *zombies. */
static int proc_children(pid_t pid, pid_t *kids, int cap, int *zombies)
{
	DIR *d = opendir("/proc");
	int n = 0;
	*zombies = 0;
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		int p = atoi(e->d_name);
		if (p <= 0)
			continue;
		char path[64], buf[512];
		snprintf(path, sizeof path, "/proc/%d/stat", p);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t k = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[k] = '\0';
		char *rp = strrchr(buf, ')');	/* the name may hold anything */
		char state;
		int ppid;
		if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2 || ppid != (int)pid)
			continue;
		if (state == 'Z')
			(*zombies)++;
		if (n < cap)
			kids[n] = p;
		n++;
	}
	closedir(d);
	return n;
}

/* Polls (bounded, each try a /proc read) until count(pid) == want. */
static int wait_count(pid_t pid, int want, int (*count)(pid_t))
{
	long deadline = ms_now() + T_WAIT_MS;
	int n;
	while ((n = count(pid)) != want && ms_now() < deadline) {
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);	/* a poll interval, not a wait for an event */
	}
	return n;
}

static int live_children(pid_t pid)
{
	pid_t kids[64];
	int z;
	int n = proc_children(pid, kids, 64, &z);
	return n < 0 ? -1 : n * 100 + z;	/* children and zombies in one number */
}

/* SIGTERM: status 0 and the final statistics; connection threads end when
 * their clients go; no child process outlives its client or the server. */
START_TEST(sigterm_clean)
{
	struct srv s;
	start(&s, models[_i], NULL);
	const char *m = models[_i];
	int threads = strcmp(m, "threads") == 0, fork_ = strcmp(m, "fork") == 0;
	int a = tcp_connect(s.port);
	ck_assert_int_eq(get_status(a, GETREQ), 200);
	if (threads) {
		ck_assert_int_eq(THREADS(wait_count(s.pid, 2, proc_threads)), THREADS(2));
	} else if (fork_) {
		ck_assert_int_eq(wait_count(s.pid, 100, live_children), 100);
	} else {
		ck_assert_int_eq(THREADS(proc_threads(s.pid)), THREADS(1));
		ck_assert_int_eq(live_children(s.pid), 0);
	}
	close(a);
	ck_assert_int_eq(THREADS(wait_count(s.pid, 1, proc_threads)), THREADS(1));
	ck_assert_msg(wait_count(s.pid, 0, live_children) == 0, "%s: a child or zombie left", m);
	/* Open at the signal, and one /delay held: both end, exit 0. */
	a = tcp_connect(s.port);
	ck_assert_int_eq(get_status(a, GETREQ), 200);
	int b = -1;
	/* Not in iterative or busy: there the held request holds /stats. */
	if (strcmp(m, "iterative") != 0 && strcmp(m, "busy") != 0) {
		double base = stats_value(s.port, "requests");
		b = tcp_connect(s.port);
		const char *dl = "GET /delay/60000 HTTP/1.1\r\nHost: t\r\n\r\n";
		ck_assert_int_eq(send_all(b, dl, strlen(dl)), 0);
		wait_one_more_request(s.port, base);
	}
	pid_t kids[64];
	int z, nk = fork_ ? proc_children(s.pid, kids, 64, &z) : 0;
	static char out[16384];
	/* A held /delay/60000 outlasting srv_stop's bounded wait fails here. */
	int st = srv_stop(&s, SIGTERM, out, sizeof out);
	ck_assert_msg(exited(st, 0), "%s: status %d after SIGTERM", m, st);
	ck_assert_msg(strstr(out, "\naccepted "), "%s: no statistics: %s", m, out);
	ck_assert_msg(wait_closed(a, T_WAIT_MS), "%s: client survived the stop", m);
	close(a);
	if (b >= 0) {
		/* A held /delay is answered at once by a stopping server. */
		struct reader rd;
		struct resp r;
		reader_init(&rd, b);
		ck_assert_msg(read_resp(&rd, &r, 0) == 0, "%s: the held /delay got no answer", m);
		ck_assert_int_eq(r.status, 200);
		ck_assert_str_eq(r.body, "delayed 60000 ms\n");
		resp_free(&r);
		reader_free(&rd);
		ck_assert_msg(wait_closed(b, T_WAIT_MS), "%s: held client survived", m);
		close(b);
	}
	for (int k = 0; k < nk && k < 64; k++)
		ck_assert_msg(kill(kids[k], 0) < 0 && errno == ESRCH,
		              "fork: child %d outlived the server", (int)kids[k]);
}
END_TEST

/* One client's /delay/1500 and another client's GET /: served side by side
 * by loop, threads and fork; one after the other by iterative. */
START_TEST(delay_blocks_or_not)
{
	static const char *const which[] = { "loop", "threads", "fork", "iterative" };
	const char *m = which[_i];
	int serial = strcmp(m, "iterative") == 0;
	struct srv s;
	start(&s, m, NULL);
	int a = tcp_connect(s.port);
	ck_assert_int_ge(a, 0);
	const char *dl = "GET /delay/1500 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	long t0 = ms_now();
	ck_assert_int_eq(send_all(a, dl, strlen(dl)), 0);
	/* Until the server holds it (iterative could not answer /stats). */
	if (!serial)
		wait_one_more_request(s.port, 0);
	int b = tcp_connect(s.port);
	ck_assert_int_ge(b, 0);
	ck_assert_int_eq(get_status(b, GETREQ), 200);
	long el = ms_now() - t0;
	if (serial) {
		ck_assert_msg(el >= 1500, "iterative answered the second client after %ld ms, "
		              "while the first was held", el);
	} else {
		ck_assert_msg(!readable(a, 0), "%s: the held answer came before the other "
		              "client's", m);
	}
	struct reader rd;
	struct resp r;
	reader_init(&rd, a);
	ck_assert_int_eq(read_resp(&rd, &r, 0), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(ms_now() - t0 >= 1500, "/delay/1500 too early");
	resp_free(&r);
	reader_free(&rd);
	close(a);
	close(b);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
}
END_TEST

/* Many held requests of mixed lengths on one worker, a third of their
 * clients gone before the answer (their timers leave the heap from the
 * middle): each remaining one answers its own MS, no earlier. */
START_TEST(delay_many)
{
	static const char *const which[] = { "loop", "busy" };
	enum { N = 60 };
	struct srv s;
	start(&s, which[_i], NULL);
	int fd[N], ms[N];
	long t0[N];
	for (int k = 0; k < N; k++) {
		ms[k] = (k * 37) % 400;
		fd[k] = tcp_connect(s.port);
		ck_assert_int_ge(fd[k], 0);
		char req[128];
		snprintf(req, sizeof req, "GET /delay/%d HTTP/1.1\r\nHost: t\r\n\r\n", ms[k]);
		t0[k] = ms_now();
		ck_assert_int_eq(send_all(fd[k], req, strlen(req)), 0);
		if (k % 3 == 1) {
			close(fd[k]);
			fd[k] = -1;
		}
	}
	for (int k = 0; k < N; k++) {
		if (fd[k] < 0)
			continue;
		struct reader rd;
		struct resp r;
		reader_init(&rd, fd[k]);
		ck_assert_msg(read_resp(&rd, &r, 0) == 0, "%s: /delay/%d unanswered", which[_i], ms[k]);
		long el = ms_now() - t0[k];
		char want[64];
		snprintf(want, sizeof want, "delayed %d ms\n", ms[k]);
		ck_assert_str_eq(r.body, want);
		ck_assert_msg(el >= ms[k], "/delay/%d answered after %ld ms", ms[k], el);
		resp_free(&r);
		reader_free(&rd);
		close(fd[k]);
	}
	struct resp r;
	ck_assert_int_eq(http_once(s.port, GETCLOSE, &r), 200);
	resp_free(&r);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
}
END_TEST


/* No thread for a connection (pthread_create's EAGAIN, here from an address
 * space too small for more stacks): the client is closed and counted as
 * "spawn", and the server lives on and stops cleanly. */
START_TEST(threads_spawn_failure)
{
#ifdef UNDER_SANITIZER
	return;	/* the sanitizer's shadow memory needs the address space */
#else
	enum { N = 200 };
	struct rlimit old, lim;
	ck_assert_int_eq(getrlimit(RLIMIT_AS, &old), 0);
	lim = old;
	lim.rlim_cur = 256u << 20;	/* 200 stacks of 2 MiB or more do not fit */
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &lim), 0);
	const char *args[] = { "--model", "threads", "--json", "-", NULL };
	struct srv s;
	int rc = srv_start(&s, NULL, 1, 0, args);	/* the server inherits the limit */
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &old), 0);
	ck_assert_int_eq(rc, 0);
	static int fd[N];
	for (int k = 0; k < N; k++) {
		fd[k] = tcp_connect(s.port);
		ck_assert_int_ge(fd[k], 0);
	}
	/* Some were closed at once; the others are served. */
	int closed = 0;
	for (int k = 0; k < N; k++)
		if (get_status(fd[k], GETREQ) != 200)
			closed++;
	ck_assert_msg(closed > 0, "200 threads fit in 256 MiB?");
	for (int k = 0; k < N; k++)
		close(fd[k]);
	int st = -1;
	for (int k = 0; k < 400 && st != 200; k++) {
		struct resp r = { 0 };
		st = http_once(s.port, GETCLOSE, &r);
		resp_free(&r);
	}
	ck_assert_int_eq(st, 200);
	static char out[16384];
	ck_assert(exited(srv_stop(&s, SIGTERM, out, sizeof out), 0));
	/* (Some may also fail later, out of memory inside a thread.) */
	ck_assert_msg(json_value(out, "spawn") >= 1, "spawn %.0f, closed %d: %s",
	              json_value(out, "spawn"), closed, out);
#endif
}
END_TEST

START_TEST(bad_usage)
{
	static char out[4096], err[4096];
	static const char *const bad[][6] = {
		{ "--model", "nope", NULL },
		{ "--model", "threads", "--workers", "2", NULL },
		{ "--model", "fork", "--backend", "poll", NULL },
		{ "--model", NULL },
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		int st = run_capture(bad[k], out, sizeof out, err, sizeof err);
		ck_assert_msg(exited(st, 2), "%s %s: status %d", bad[k][0],
		              bad[k][1] ? bad[k][1] : "", st);
		ck_assert_msg(err[0] && strchr(err, '\n') == err + strlen(err) - 1,
		              "want one line on stderr, got '%s'", err);
	}
	const char *nope[] = { "--model", "nope", NULL };
	run_capture(nope, out, sizeof out, err, sizeof err);
	for (int i = 0; i < NMODELS; i++)
		ck_assert_msg(strstr(err, models[i]), "the models are not listed: %s", err);
	const char *workers[] = { "--model", "threads", "--workers", "2", NULL };
	run_capture(workers, out, sizeof out, err, sizeof err);
	ck_assert_msg(strstr(err, "--workers needs --model loop"), "%s", err);
	const char *help[] = { "--help", NULL };
	ck_assert(exited(run_capture(help, out, sizeof out, err, sizeof err), 0));
	ck_assert_ptr_nonnull(strstr(out, "--model"));
}
END_TEST

int main(void)
{
	Suite *su = suite_create("pollux-server models");
	TCase *tc = tcase_create("models");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, bad_usage);
	tcase_add_loop_test(tc, echo_exact, 0, NMODELS);
	tcase_add_loop_test(tc, http_same_as_loop, 0, NMODELS);
	tcase_add_loop_test(tc, pipelined_in_order, 0, NMODELS);
	tcase_add_loop_test(tc, stats_and_files, 0, NMODELS);
	tcase_add_loop_test(tc, delay_lower_bound, 0, NMODELS);
	tcase_add_loop_test(tc, max_conns_two, 0, NMODELS);
	tcase_add_loop_test(tc, idle_timeout, 0, NMODELS);
	tcase_add_loop_test(tc, sigterm_clean, 0, NMODELS);
	tcase_add_loop_test(tc, delay_blocks_or_not, 0, 4);
	tcase_add_loop_test(tc, delay_many, 0, 2);
	tcase_add_test(tc, threads_spawn_failure);
	suite_add_tcase(su, tc);
	SRunner *sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
