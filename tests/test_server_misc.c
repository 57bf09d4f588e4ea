/* test_server_misc.c: pollux-server's command line, listeners, idle
 * timeout, descriptor exhaustion, --max-conns, workers, signals and
 * random input over sockets. */
#include <config.h>
#include "test_server_util.h"
#include "pollux.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OKREQ "GET / HTTP/1.1\r\nHost: t\r\n\r\n"

static int exited(int st, int code)
{
	return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

START_TEST(cli_options)
{
	static char out[8192], err[8192];
	const char *help[] = { "--help", NULL };
	ck_assert(exited(run_capture(help, out, sizeof out, err, sizeof err), 0));
	ck_assert_ptr_nonnull(strstr(out, "--backend"));
	ck_assert_ptr_nonnull(strstr(out, "--idle-timeout"));
	const char *ver[] = { "--version", NULL };
	ck_assert(exited(run_capture(ver, out, sizeof out, err, sizeof err), 0));
	char want[128];
	snprintf(want, sizeof want, "pollux-server (pollux) %s\n", pollux_version());
	ck_assert_str_eq(out, want);
	const char *list[] = { "--list-backends", NULL };
	ck_assert(exited(run_capture(list, out, sizeof out, err, sizeof err), 0));
	for (int i = 0; i < backend_count(); i++)
		ck_assert_msg(strstr(out, backend_at(i)), "--list-backends lacks %s", backend_at(i));

	/* Unknown backend: one line naming those that exist, status 2. */
	const char *nob[] = { "--backend", "kqueue-nope", "--listen", "127.0.0.1:0", NULL };
	ck_assert(exited(run_capture(nob, out, sizeof out, err, sizeof err), 2));
	ck_assert_ptr_nonnull(strstr(err, "kqueue-nope"));
	for (int i = 0; i < backend_count(); i++)
		ck_assert_msg(strstr(err, backend_at(i)), "error lacks %s: %s", backend_at(i), err);
	ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1, "not one line: %s", err);
	ck_assert_str_eq(out, "");

	static const char *const bad[][4] = {
		{ "--proto", "gopher", NULL }, { "--workers", "0", NULL },
		{ "--workers", "x", NULL }, { "--idle-timeout", "-1", NULL },
		{ "--listen", "nonsense", NULL }, { "--bogus", NULL },
		{ "--max-header", "1e9", NULL }, { "extra-arg", NULL },
		{ "--backend", "", NULL }, { "--idle-timeout", "1e-12", NULL },
		{ "--stats-interval", "0.0001", NULL },
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		int st = run_capture(bad[k], out, sizeof out, err, sizeof err);
		ck_assert_msg(exited(st, 2), "%s: status %d", bad[k][0], st);
		ck_assert_msg(err[0] && strchr(err, '\n') == err + strlen(err) - 1,
		              "%s: want one line on stderr, got '%s'", bad[k][0], err);
	}
	const char *noroot[] = { "--root", "/nonexistent/dir", "--listen", "127.0.0.1:0", NULL };
	ck_assert(exited(run_capture(noroot, out, sizeof out, err, sizeof err), 1));
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/dir"));
	/* A --root that is a file: said so, not a leftover errno's text. */
	char *tmp = make_tempdir();
	char file[4096];
	snprintf(file, sizeof file, "%s/plain", tmp);
	FILE *f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	const char *fileroot[] = { "--root", file, "--listen", "127.0.0.1:0", NULL };
	ck_assert(exited(run_capture(fileroot, out, sizeof out, err, sizeof err), 1));
	ck_assert_msg(strstr(err, file) && strstr(err, strerror(ENOTDIR)) &&
	              strchr(err, '\n') == err + strlen(err) - 1,
	              "--root on a file: want one line saying '%s', got '%s'", strerror(ENOTDIR), err);
	/* unix:PATH on an existing file: kept, and the hint is about paths. */
	char uarg[4200];
	snprintf(uarg, sizeof uarg, "unix:%s", file);
	const char *onfile[] = { "--listen", uarg, NULL };
	ck_assert(exited(run_capture(onfile, out, sizeof out, err, sizeof err), 1));
	ck_assert_msg(strstr(err, "path") && !strstr(err, "port") &&
	              strchr(err, '\n') == err + strlen(err) - 1,
	              "unix path in use: want one line about the path, got '%s'", err);
	ck_assert_int_eq(access(file, F_OK), 0);
	remove_tree(tmp);
	free(tmp);
}
END_TEST

static int get_on(int fd)
{
	struct reader rd;
	struct resp r;
	reader_init(&rd, fd);
	int st = -1;
	if (send_all(fd, OKREQ, strlen(OKREQ)) == 0 && read_resp(&rd, &r, 0) == 0)
		st = r.status;
	if (st >= 0)
		resp_free(&r);
	reader_free(&rd);
	return st;
}

START_TEST(listen_many)
{
	char *tmp = make_tempdir();
	char upath[4096], uarg[4200];
	snprintf(upath, sizeof upath, "%s/s.sock", tmp);
	snprintf(uarg, sizeof uarg, "unix:%s", upath);
	/* Is ::1 usable here? Containers without IPv6 lack it. */
	int v6 = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a6 = { 0 };
	a6.sin6_family = AF_INET6;
	a6.sin6_addr = in6addr_loopback;
	int have6 = v6 >= 0 && bind(v6, (struct sockaddr *)&a6, sizeof a6) == 0;
	if (v6 >= 0)
		close(v6);
	const char *args[] = { "--listen", uarg, have6 ? "--listen" : NULL, "[::1]:0", NULL };
	struct srv s;
	ck_assert_int_eq(srv_start(&s, backend_at(_i), 1, 0, args), 0);
	ck_assert_msg(strstr(s.lines, "listening unix:"), "lines: %s", s.lines);
	int fd = tcp_connect(s.port);
	ck_assert_int_eq(get_on(fd), 200);
	close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un un = { 0 };
	un.sun_family = AF_UNIX;
	strcpy(un.sun_path, upath);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&un, sizeof un), 0);
	ck_assert_int_eq(get_on(fd), 200);
	close(fd);
	if (have6) {
		char *p = strstr(s.lines, "listening [::1]:");
		ck_assert_ptr_nonnull(p);
		a6.sin6_port = htons((unsigned short)atoi(p + strlen("listening [::1]:")));
		fd = socket(AF_INET6, SOCK_STREAM, 0);
		ck_assert_int_eq(connect(fd, (struct sockaddr *)&a6, sizeof a6), 0);
		ck_assert_int_eq(get_on(fd), 200);
		close(fd);
	} else {
		fprintf(stderr, "test_server: no ::1 here: IPv6 listener not tried\n");
	}
	ck_assert(exited(srv_stop(&s, SIGINT, NULL, 0), 0));
	ck_assert_msg(access(upath, F_OK) != 0, "unix socket file left behind");
	remove_tree(tmp);
	free(tmp);
}
END_TEST

START_TEST(idle_timeout_closes)
{
	const char *args[] = { "--idle-timeout", "1", NULL };
	struct srv s;
	ck_assert_int_eq(srv_start(&s, backend_at(_i), 1, 0, args), 0);
	int quiet = tcp_connect(s.port);
	int used = tcp_connect(s.port);
	int slow = tcp_connect(s.port);
	ck_assert_int_eq(get_on(used), 200);
	/* A slowloris head that never completes does not keep it open. */
	ck_assert_int_eq(send_all(slow, "GET / HTTP/1.1\r\nHo", 18), 0);
	ck_assert_msg(wait_closed(quiet, 15000), "idle connection not closed");
	ck_assert_msg(wait_closed(used, 15000), "idle keep-alive connection not closed");
	ck_assert_msg(wait_closed(slow, 15000), "half-sent request kept the connection");
	close(quiet);
	close(used);
	close(slow);
	ck_assert(stats_value(s.port, "idle_timeout") >= 3);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
}
END_TEST

/* 200 if fd got an answer, 0 if the server closed it, -1 on timeout. */
static int probe(int fd)
{
	if (send_all(fd, OKREQ, strlen(OKREQ)) < 0)
		return 0;
	struct reader rd;
	struct resp r;
	reader_init(&rd, fd);
	int st = read_resp(&rd, &r, 0) == 0 ? r.status : -1;
	if (st >= 0)
		resp_free(&r);
	else if (wait_closed(fd, 0))
		st = 0;
	reader_free(&rd);
	return st;
}

START_TEST(nofile_exhaustion)
{
	enum { N = 200 };
	struct srv s;
	ck_assert_int_eq(srv_start(&s, backend_at(_i), 1, 64, NULL), 0);
	int fds[N], held[N], answered = 0;
	for (int i = 0; i < N; i++) {
		fds[i] = tcp_connect(s.port);
		ck_assert_msg(fds[i] >= 0, "connect %d: %s", i, strerror(errno));
	}
	for (int i = 0; i < N; i++) {
		int st = probe(fds[i]);
		ck_assert_msg(st == 200 || st == 0, "client %d neither served nor closed (%d)", i, st);
		held[i] = st == 200;
		answered += held[i];
	}
	/* 64 descriptors minus the server's own: dozens held, the rest closed
	 * at once rather than left hanging. */
	ck_assert_msg(answered >= 20 && answered < N, "%d of %d served", answered, N);
	for (int i = 0; i < N; i++) {
		if (held[i])
			ck_assert_msg(probe(fds[i]) == 200, "held client %d no longer served", i);
		close(fds[i]);
	}
	/* Everyone after is served again. */
	for (int i = 0; i < 100; i++) {
		int fd = tcp_connect(s.port);
		ck_assert_int_ge(fd, 0);
		ck_assert_msg(probe(fd) == 200, "client %d after the flood not served", i);
		close(fd);
	}
	ck_assert(stats_value(s.port, "emfile") >= 1);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
}
END_TEST

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The "out of file descriptors" line comes at most once a second for the
 * whole server: each of several workers printing its own flooded stderr
 * with one line per worker per second. */
START_TEST(emfile_message_rate)
{
	int pe[2];
	ck_assert_int_eq(pipe(pe), 0);
	fcntl(pe[0], F_SETFD, FD_CLOEXEC);
	fcntl(pe[1], F_SETFD, FD_CLOEXEC);
	int saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
	ck_assert_int_ge(saved, 0);
	fflush(stderr);
	dup2(pe[1], 2);		/* the server inherits it as its stderr */
	const char *args[] = { "--workers", "4", NULL };
	struct srv s;
	double t0 = mono_s();
	int rc = srv_start(&s, backend_at(0), 1, 64, args);
	dup2(saved, 2);
	close(saved);
	close(pe[1]);
	ck_assert_int_eq(rc, 0);
	/* Hold more clients than 64 descriptors allow, then keep arriving
	 * for two seconds, so every worker meets EMFILE again and again. */
	enum { HOLD = 80 };
	int held[HOLD];
	for (int i = 0; i < HOLD; i++)
		held[i] = tcp_connect(s.port);
	for (int burst = 0; burst < 20 || mono_s() - t0 < 2.0; burst++) {
		ck_assert_int_lt(burst, 200);
		for (int i = 0; i < 50; i++) {
			int fd = tcp_connect(s.port);
			if (fd >= 0)
				close(fd);
		}
		poll(NULL, 0, 100);	/* pacing the arrivals, not waiting */
	}
	for (int i = 0; i < HOLD; i++)
		if (held[i] >= 0)
			close(held[i]);
	/* /stats gets through once the server has seen the closes (retry,
	 * bounded, each try a round trip). */
	double v = -1;
	for (int k = 0; k < 200 && v < 0; k++)
		v = stats_value(s.port, "emfile");
	ck_assert_msg(v >= 1, "emfile counter %.0f", v);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
	double life = mono_s() - t0;
	static char err[65536];
	size_t len = 0;
	ssize_t k;
	while (len < sizeof err - 1 && (k = read(pe[0], err + len, sizeof err - 1 - len)) > 0)
		len += (size_t)k;
	err[len] = '\0';
	close(pe[0]);
	int lines = 0;
	for (char *p = err; (p = strstr(p, "out of file descriptors")); p++)
		lines++;
	ck_assert_msg(lines >= 1, "no EMFILE message: '%s'", err);
	ck_assert_msg(lines <= (int)life + 1, "%d EMFILE lines in %.1f s of server life", lines, life);
}
END_TEST

/* Started with stdout and stderr closed: the first line for stderr (the
 * EMFILE notice) went into the signal pipe, which took those numbers, and
 * stopped the server. It must keep serving. */
START_TEST(closed_stdio)
{
	char *tmp = make_tempdir();
	struct sockaddr_un un = { 0 };
	un.sun_family = AF_UNIX;
	snprintf(un.sun_path, sizeof un.sun_path, "%s/s", tmp);
	char arg[200], bin[4096];
	snprintf(arg, sizeof arg, "unix:%s", un.sun_path);
	const char *top = getenv("top_builddir");
	snprintf(bin, sizeof bin, "%s/tools/pollux-server", top ? top : "..");
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rlimit rl = { 64, 64 };
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			_exit(126);
		close(1);
		close(2);
		execl(bin, bin, "--backend", backend_at(_i), "--listen", arg, (char *)NULL);
		_exit(127);
	}
	/* No "listening" line to read: wait (bounded) until it answers. */
	int ok = 0;
	for (int k = 0; k < T_WAIT_MS / 10 && !ok; k++) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&un, sizeof un) == 0)
			ok = probe(fd) == 200;
		close(fd);
		if (!ok)
			poll(NULL, 0, 10);
	}
	ck_assert_msg(ok, "server on %s never answered", un.sun_path);
	enum { N = 100 };	/* more than 64 descriptors hold */
	int fds[N];
	for (int i = 0; i < N; i++) {
		fds[i] = socket(AF_UNIX, SOCK_STREAM, 0);
		ck_assert_int_eq(connect(fds[i], (struct sockaddr *)&un, sizeof un), 0);
	}
	int answered = 0;
	for (int i = 0; i < N; i++)
		answered += probe(fds[i]) == 200;
	ck_assert_msg(answered > 0 && answered < N, "%d of %d answered", answered, N);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	/* Still serving once the flood is gone (retry: the closes are seen
	 * in the server's own time; each try is a round trip). */
	ok = 0;
	for (int k = 0; k < 200 && !ok; k++) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		ok = connect(fd, (struct sockaddr *)&un, sizeof un) == 0 && probe(fd) == 200;
		close(fd);
		if (!ok)
			poll(NULL, 0, 10);
	}
	ck_assert_msg(ok, "the server stopped serving after the descriptor flood");
	kill(pid, SIGTERM);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(exited(st, 0));
	remove_tree(tmp);
	free(tmp);
}
END_TEST

START_TEST(max_conns)
{
	const char *args[] = { "--max-conns", "5", NULL };
	struct srv s;
	ck_assert_int_eq(srv_start(&s, backend_at(_i), 1, 0, args), 0);
	int fds[5];
	for (int i = 0; i < 5; i++) {
		fds[i] = tcp_connect(s.port);
		ck_assert_int_eq(probe(fds[i]), 200);
	}
	int extra = tcp_connect(s.port);
	ck_assert_int_ge(extra, 0);
	ck_assert_msg(wait_closed(extra, T_WAIT_MS), "connection over --max-conns kept");
	close(extra);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(probe(fds[i]), 200);
	close(fds[0]);
	/* A slot freed is a slot usable: /stats gets through once the server
	 * has seen the close (retry, bounded, each try a round trip). */
	double v = -1;
	for (int k = 0; k < 200 && v < 0; k++)
		v = stats_value(s.port, "max_conns");
	ck_assert_msg(v >= 1, "max_conns counter %.0f", v);
	for (int i = 1; i < 5; i++)
		close(fds[i]);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
}
END_TEST

START_TEST(sigterm_statistics)
{
	for (int json = 0; json < 2; json++) {
		const char *args[] = { json ? "--json" : NULL, "-", NULL };
		struct srv s;
		ck_assert_int_eq(srv_start(&s, backend_at(_i), 1, 0, args), 0);
		int fd = tcp_connect(s.port);
		ck_assert_int_eq(probe(fd), 200);
		ck_assert_int_eq(probe(fd), 200);
		int idle = tcp_connect(s.port);	/* open at the signal */
		ck_assert_int_eq(probe(idle), 200);
		static char out[16384];
		int st = srv_stop(&s, json ? SIGTERM : SIGINT, out, sizeof out);
		ck_assert_msg(exited(st, 0), "status %d after signal", st);
		ck_assert_msg(wait_closed(idle, T_WAIT_MS), "connection survived the stop");
		close(fd);
		close(idle);
		if (json) {
			char *o = strchr(out, '{');
			ck_assert_msg(o, "no JSON in: %s", out);
			ck_assert_msg(strstr(o, "\"backend\":\"") && strstr(o, backend_at(_i)), "%s", o);
			static const char *const keys[] = { "workers", "uptime_s", "accepted",
				"closed", "open", "peak_open", "requests", "bytes_in", "bytes_out",
				"waits", "events", "events_per_wait", "wait_us_total",
				"wait_us_mean", "registered" };
			for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
				ck_assert_msg(json_value(o, keys[k]) >= 0, "key %s missing: %s", keys[k], o);
			ck_assert_msg(strstr(o, "\"errors\":{"), "errors missing");
			ck_assert(json_value(o, "accepted") == 2);
			ck_assert(json_value(o, "requests") == 3);
			ck_assert(json_value(o, "open") == 0);
			ck_assert(json_value(o, "peak_open") == 2);
			ck_assert(json_value(o, "waits") >= 1);
		} else {
			ck_assert_msg(strstr(out, "\naccepted 2\n"), "text stats: %s", out);
			ck_assert_msg(strstr(out, "\nrequests 3\n"), "text stats: %s", out);
			ck_assert_msg(strstr(out, "\nwait_us_mean "), "text stats: %s", out);
		}
	}
}
END_TEST

START_TEST(workers_two)
{
	const char *args[] = { "--workers", "2", NULL };
	struct srv s;
	ck_assert_int_eq(srv_start(&s, backend_at(_i), 1, 0, args), 0);
	enum { N = 40 };
	int fds[N];
	for (int i = 0; i < N; i++) {
		fds[i] = tcp_connect(s.port);
		ck_assert_int_eq(probe(fds[i]), 200);
	}
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(probe(fds[i]), 200);
		close(fds[i]);
	}
	ck_assert(stats_value(s.port, "workers") == 2);
	ck_assert(stats_value(s.port, "accepted") >= N + 1);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
}
END_TEST

/* A port another server listens on is refused also with --workers, whose
 * per-worker sockets use SO_REUSEPORT (which let the second server bind the
 * same port and silently take half of its connections). */
START_TEST(port_in_use_workers)
{
	static char out[4096], err[4096];
	const char *args[] = { "--workers", "2", NULL };
	struct srv s;
	ck_assert_int_eq(srv_start(&s, backend_at(0), 1, 0, args), 0);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", s.port);
	const char *again[] = { "--workers", "2", "--listen", addr, NULL };
	int st = run_capture(again, out, sizeof out, err, sizeof err);
	ck_assert_msg(exited(st, 1), "second server on %s: status %d, stderr '%s'", addr, st, err);
	ck_assert_msg(strstr(err, "in use") && strchr(err, '\n') == err + strlen(err) - 1,
	              "want one line saying the port is in use, got '%s'", err);
	ck_assert_str_eq(out, "");
	/* The first server still answers. */
	int fd = tcp_connect(s.port);
	ck_assert_int_eq(probe(fd), 200);
	close(fd);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
}
END_TEST

/* Random and mutated requests over real sockets: the server answers or
 * closes, never dies, and keeps no descriptor afterwards. */
START_TEST(random_input)
{
	const char *args[] = { "--idle-timeout", "2", NULL };
	struct srv s;
	ck_assert_int_eq(srv_start(&s, backend_at(_i), 1, 0, args), 0);
	int base = count_fds(s.pid);
	unsigned seed = 777u + (unsigned)_i;
	static const char *const seeds[] = {
		"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
		"HEAD /stats HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc",
		"GET /%2e%2e/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
	};
	char buf[2048];
	for (int round = 0; round < 300; round++) {
		size_t n;
		if (round % 3 == 0) {
			n = (size_t)(rand_r(&seed) % sizeof buf);
			for (size_t k = 0; k < n; k++)
				buf[k] = (char)rand_r(&seed);
		} else {
			const char *sd = seeds[rand_r(&seed) % 4];
			n = strlen(sd);
			memcpy(buf, sd, n);
			for (int m = rand_r(&seed) % 6; m >= 0; m--) {
				size_t at = (size_t)rand_r(&seed) % n;
				static const char alt[] = "\r\n\0 :%./\x7f\xff";
				buf[at] = alt[rand_r(&seed) % (sizeof alt - 1)];
			}
			if (rand_r(&seed) % 4 == 0)
				n = (size_t)rand_r(&seed) % n;
		}
		int fd = tcp_connect(s.port);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(send_all(fd, buf, n), 0);
		/* Finish sending; the server answers what it can and closes. */
		shutdown(fd, SHUT_WR);
		ck_assert_msg(wait_closed(fd, T_WAIT_MS), "round %d: connection left hanging", round);
		close(fd);
	}
	struct resp r;
	ck_assert_int_eq(http_once(s.port, OKREQ, &r), 200);
	resp_free(&r);
	/* All closed: back to the descriptors it started with, plus the one
	 * connection asking (bounded retry; each try is a round trip). */
	int k = tcp_connect(s.port);
	ck_assert_int_ge(k, 0);
	struct reader rd;
	reader_init(&rd, k);
	double open = -1;
	const char *sreq = "GET /stats HTTP/1.1\r\nHost: t\r\n\r\n";
	for (int t = 0; t < 500 && open != 1; t++) {
		ck_assert_int_eq(send_all(k, sreq, strlen(sreq)), 0);
		ck_assert_int_eq(read_resp(&rd, &r, 0), 0);
		open = json_value(r.body, "open");
		resp_free(&r);
	}
	ck_assert_msg(open == 1, "%.0f connections still open", open);
	ck_assert_int_eq(count_fds(s.pid), base + 1);
	reader_free(&rd);
	close(k);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
}
END_TEST

/* Connections that have finished their requests hold no buffers: after
 * traffic (pipelined requests, a partial request completed later), the
 * server's buffered bytes fall back to zero with every connection open. */
START_TEST(idle_holds_no_buffers)
{
	enum { N = 300 };
	struct srv s;
	ck_assert_int_eq(srv_start(&s, backend_at(_i), 1, 0, NULL), 0);
	int fds[N];
	for (int i = 0; i < N; i++) {
		fds[i] = tcp_connect(s.port);
		ck_assert_int_ge(fds[i], 0);
		ck_assert_int_eq(probe(fds[i]), 200);
		/* Half a request now (the server must keep it)... */
		ck_assert_int_eq(send_all(fds[i], "GET / HTTP/1.1\r\nHo", 18), 0);
	}
	ck_assert_msg(stats_value(s.port, "buffered_bytes") > 0,
	              "partial requests are held somewhere");
	struct reader rd;
	struct resp r;
	for (int i = 0; i < N; i++) {
		/* ...the rest later. */
		ck_assert_int_eq(send_all(fds[i], "st: t\r\n\r\n", 9), 0);
		reader_init(&rd, fds[i]);
		ck_assert_int_eq(read_resp(&rd, &r, 0), 0);
		ck_assert_int_eq(r.status, 200);
		resp_free(&r);
		reader_free(&rd);
	}
	ck_assert(stats_value(s.port, "open") == N + 1);
	ck_assert_msg(stats_value(s.port, "buffered_bytes") == 0,
	              "idle connections still hold buffers");
	for (int i = 0; i < N; i++)
		close(fds[i]);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
}
END_TEST

/* --stats-interval: statistics lines arrive on stdout while serving. */
START_TEST(stats_interval_lines)
{
	const char *args[] = { "--stats-interval", "0.2", "--json", "-", NULL };
	struct srv s;
	ck_assert_int_eq(srv_start(&s, backend_at(_i), 1, 0, args), 0);
	int fd = tcp_connect(s.port);
	ck_assert_int_eq(probe(fd), 200);
	/* Read stdout until two periodic objects came (bounded wait). */
	char buf[16384];
	size_t len = 0;
	int objs = 0;
	struct pollfd pf = { s.out, POLLIN, 0 };
	while (objs < 2 && len < sizeof buf - 1 && poll(&pf, 1, T_WAIT_MS) == 1) {
		ssize_t k = read(s.out, buf + len, sizeof buf - 1 - len);
		if (k <= 0)
			break;
		len += (size_t)k;
		buf[len] = '\0';
		objs = 0;
		for (char *p = buf; (p = strstr(p, "{\"backend\":")); p++)
			objs++;
	}
	ck_assert_msg(objs >= 2, "periodic statistics missing: %s", buf);
	ck_assert_msg(json_value(strstr(buf, "{\"backend\":"), "requests") >= 0, "%s", buf);
	close(fd);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
}
END_TEST

/* A client that never reads its 32 MiB answer cannot hold the stop: the
 * server gives pending output one second, then closes and exits 0. */
START_TEST(stop_deadline_stuck_client)
{
	char *tmp = make_tempdir();
	char path[4200];
	snprintf(path, sizeof path, "%s/big", tmp);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(ftruncate(fileno(f), 32 << 20), 0);
	fclose(f);
	const char *args[] = { "--root", tmp, NULL };
	struct srv s;
	ck_assert_int_eq(srv_start(&s, backend_at(_i), 1, 0, args), 0);
	int fd = tcp_connect(s.port);
	const char *req = "GET /big HTTP/1.1\r\nHost: t\r\n\r\n";
	ck_assert_int_eq(send_all(fd, req, strlen(req)), 0);
	/* Wait until the answer has started (its first bytes are readable). */
	struct pollfd pf = { fd, POLLIN, 0 };
	ck_assert_int_eq(poll(&pf, 1, T_WAIT_MS), 1);
	static char out[8192];
	int st = srv_stop(&s, SIGTERM, out, sizeof out);
	ck_assert_msg(exited(st, 0), "status %d with a stuck client", st);
	ck_assert_msg(strstr(out, "\naccepted 1\n"), "stats: %s", out);
	close(fd);
	remove_tree(tmp);
	free(tmp);
}
END_TEST

void add_misc_tests(Suite *su, int nb);
void add_misc_tests(Suite *su, int nb)
{
	TCase *tc = tcase_create("misc");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, cli_options);
	tcase_add_loop_test(tc, listen_many, 0, nb);
	tcase_add_loop_test(tc, idle_timeout_closes, 0, nb);
	tcase_add_loop_test(tc, nofile_exhaustion, 0, nb);
	tcase_add_loop_test(tc, max_conns, 0, nb);
	tcase_add_test(tc, emfile_message_rate);
	tcase_add_loop_test(tc, closed_stdio, 0, nb);
	tcase_add_loop_test(tc, sigterm_statistics, 0, nb);
	tcase_add_loop_test(tc, workers_two, 0, nb);
	tcase_add_test(tc, port_in_use_workers);
	tcase_add_loop_test(tc, random_input, 0, nb);
	tcase_add_loop_test(tc, idle_holds_no_buffers, 0, nb);
	tcase_add_loop_test(tc, stats_interval_lines, 0, nb);
	tcase_add_loop_test(tc, stop_deadline_stuck_client, 0, nb);
	suite_add_tcase(su, tc);
}
