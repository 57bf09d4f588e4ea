/* test_server_lines.c: what pollux-server prints, as a user or a script
 * reads it: the "listening ADDR (BACKEND)" lines, only once every listener
 * is bound; --stats-interval's statistics, each interval's own and in the
 * final ones' format; --stats-interval 0 as off; the final JSON's settings
 * and metadata; "no data" and null for a mean over no waits. */
#include <config.h>
#include "notrun.h"
#include "test_server_util.h"
#include "pollux.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define OKREQ "GET / HTTP/1.1\r\nHost: t\r\n\r\n"

static int exited(int st, int code)
{
	return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

/* One request on fd, kept alive; its status or -1. */
static int get_ok(int fd)
{
	if (send_all(fd, OKREQ, strlen(OKREQ)) < 0)
		return -1;
	struct reader rd;
	struct resp r;
	reader_init(&rd, fd);
	int st = read_resp(&rd, &r, 0) == 0 ? r.status : -1;
	if (st >= 0)
		resp_free(&r);
	reader_free(&rd);
	return st;
}

/* A TCP port on 127.0.0.1 held (bound and listening) by the test. */
static int hold_port(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = { 0 };
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A listener that cannot be bound after one that can: exit 1, one line on
 * stderr, and no "listening" line at all (a script reading it would go to
 * a server that is about to exit). The same with --processes, and with
 * the literal -l A -l A on a unix socket. */
START_TEST(no_listening_unless_all_bound)
{
	static char out[8192], err[8192];
	int port, held = hold_port(&port);
	char busy[64];
	snprintf(busy, sizeof busy, "127.0.0.1:%d", port);
	const char *b = backend_at(_i);
	const char *one[] = { "-b", b, "-l", "127.0.0.1:0", "-l", busy, NULL };
	const char *procs[] = { "-b", b, "--processes", "2", "-l", "127.0.0.1:0", "-l",
	                        busy, NULL };
	char *tmp = make_tempdir();
	char u[4200];
	snprintf(u, sizeof u, "unix:%s/s", tmp);
	const char *twice[] = { "-b", b, "-l", u, "-l", u, NULL };
	const char *const *cases[] = { one, procs, twice };
	for (size_t k = 0; k < 3; k++) {
		int st = run_capture(cases[k], out, sizeof out, err, sizeof err);
		ck_assert_msg(exited(st, 1), "case %zu: status %d, stderr '%s'", k, st, err);
		ck_assert_msg(strstr(out, "listening") == NULL,
		              "case %zu: printed listening, then failed: '%s'", k, out);
		ck_assert_msg(strstr(err, "cannot listen") &&
		              strchr(err, '\n') == err + strlen(err) - 1,
		              "case %zu: want one 'cannot listen' line, got '%s'", k, err);
	}
	close(held);
	remove_tree(tmp);
	free(tmp);
}
END_TEST

/* The backend the server runs on, named on every listening line: chosen
 * with -b, with POLLUX_BACKEND, or by the library. */
START_TEST(listening_names_backend)
{
	const char *b = backend_at(_i);
	char want[64];
	snprintf(want, sizeof want, " (%s)\n", b);
	struct srv s;
	const char *v6[] = { "-l", "127.0.0.1:0", "-l", "[::1]:0", NULL };
	/* -b; two listeners (::1 may be missing here: then only one) */
	if (srv_start(&s, b, 0, 0, v6) != 0) {
		const char *v4[] = { "-l", "127.0.0.1:0", NULL };
		ck_assert_int_eq(srv_start(&s, b, 0, 0, v4), 0);
	}
	char line[128];
	snprintf(line, sizeof line, "listening 127.0.0.1:%d (%s)\n", s.port, b);
	ck_assert_msg(strncmp(s.lines, line, strlen(line)) == 0, "lines: '%s'", s.lines);
	/* every line, not only the first */
	for (char *p = s.lines; (p = strstr(p, "listening ")); p++) {
		char *eol = strchr(p, '\n');
		ck_assert_ptr_nonnull(eol);
		size_t w = strlen(want);
		ck_assert_msg((size_t)(eol + 1 - p) > w && strncmp(eol + 1 - w, want, w) == 0,
		              "lines: '%s'", s.lines);
	}
	srv_stop_ok(&s);

	/* POLLUX_BACKEND, no -b (with --processes: the next case) */
	ck_assert_int_eq(setenv("POLLUX_BACKEND", b, 1), 0);
	ck_assert_int_eq(srv_start(&s, NULL, 1, 0, NULL), 0);
	ck_assert_msg(strstr(s.lines, want), "POLLUX_BACKEND=%s: '%s'", b, s.lines);
	srv_stop_ok(&s);
	ck_assert_int_eq(unsetenv("POLLUX_BACKEND"), 0);

	/* neither: the library's own choice, named */
	pollux_t *p = pollux_new(NULL);
	ck_assert_ptr_nonnull(p);
	snprintf(want, sizeof want, " (%s)\n", pollux_backend(p));
	pollux_free(p);
	ck_assert_int_eq(srv_start(&s, NULL, 1, 0, NULL), 0);
	ck_assert_msg(strstr(s.lines, want), "want '%s' in '%s'", want, s.lines);
	srv_stop_ok(&s);
}
END_TEST

START_TEST(listening_other_models)
{
	const char *args[] = { "--model", "threads", NULL };
	struct srv s;
	ck_assert_int_eq(srv_start(&s, NULL, 1, 0, args), 0);
	ck_assert_msg(strstr(s.lines, " (model threads, no backend)\n"), "'%s'", s.lines);
	srv_stop_ok(&s);
}
END_TEST

/* Reads JSON lines from fd into buf (appending; len updated) until one
 * whole line more has come; that line's start, or NULL on timeout/EOF. */
static char *next_line(int fd, char *buf, size_t cap, size_t *len, size_t *used)
{
	for (;;) {
		char *nl = memchr(buf + *used, '\n', *len - *used);
		if (nl) {
			char *line = buf + *used;
			*used = (size_t)(nl - buf) + 1;
			return line;
		}
		struct pollfd pf = { fd, POLLIN, 0 };
		if (*len + 1 >= cap || poll(&pf, 1, T_WAIT_MS) != 1)
			return NULL;
		ssize_t k = read(fd, buf + *len, cap - 1 - *len);
		if (k <= 0)
			return NULL;
		*len += (size_t)k;
		buf[*len] = '\0';
	}
}

/* Interval statistics count that interval only: 3 requests, then 2 more,
 * then none; the intervals' requests add up to each batch in turn, and an
 * interval after the last request has requests 0 (a running total would
 * still say 5). The final object is the whole run's, with the settings
 * and metadata. Only counts are compared, never times. */
START_TEST(stats_interval_per_interval)
{
	const char *args[] = { "--stats-interval", "100ms", "--json", "-", NULL };
	struct srv s;
	srv_start_on(&s, _i, args);
	static char buf[1 << 20];
	size_t len = 0, used = 0;
	int fd = tcp_connect(s.port);
	ck_assert_int_ge(fd, 0);
	long sum = 0, accepted = 0, n = 0;
	int batches[2] = { 3, 2 };
	long want = 0;
	for (int b = 0; b < 2; b++) {
		for (int k = 0; k < batches[b]; k++)
			ck_assert_int_eq(get_ok(fd), 200);
		want += batches[b];
		while (sum < want) {
			char *l = next_line(s.out, buf, sizeof buf, &len, &used);
			ck_assert_msg(l, "intervals ended at %ld requests of %ld: %s", sum, want, buf);
			ck_assert_msg(json_value(l, "interval") == (double)++n, "%s", l);
			ck_assert_msg(strstr(l, "\"interval_s\":") && !strstr(l, "\"interval_s\":null"), "%s", l);
			sum += (long)json_value(l, "requests");
			accepted += (long)json_value(l, "accepted");
		}
		ck_assert_msg(sum == want, "the intervals count %ld requests, %ld were made", sum, want);
	}
	ck_assert_int_eq(accepted, 1);
	/* nothing more is sent: the next interval has none */
	char *l = next_line(s.out, buf, sizeof buf, &len, &used);
	ck_assert_ptr_nonnull(l);
	ck_assert_msg(json_value(l, "requests") == 0 && json_value(l, "accepted") == 0 &&
	              json_value(l, "open") == 1, "an idle interval: %s", l);
	close(fd);
	int st = srv_stop(&s, SIGTERM, buf + len, sizeof buf - len);
	ck_assert(exited(st, 0));
	char *fin = strstr(buf + used, "\"interval\":null");
	ck_assert_msg(fin, "no final object after the intervals: %s", buf + used);
	while (fin > buf && fin[-1] != '\n')
		fin--;
	ck_assert_msg(json_value(fin, "requests") == 5 && json_value(fin, "accepted") == 1,
	              "final: %s", fin);
	ck_assert_msg(strstr(fin, "\"stats_interval_s\":0.100") &&
	              strstr(fin, "\"pollux_version\": ") && strstr(fin, "\"machine\": {") &&
	              strstr(fin, "\"time\": \""), "final: %s", fin);
}
END_TEST

/* Collects the keys of the "key value" lines from p up to the line that
 * starts stop (or the end) into keys (space-separated). */
static void block_keys(const char *p, const char *stop, char *keys, size_t cap)
{
	size_t n = 0;
	keys[0] = '\0';
	while (*p && strncmp(p, stop, strlen(stop)) != 0) {
		size_t k = strcspn(p, " \n");
		if (n + k + 2 < cap) {
			memcpy(keys + n, p, k);
			n += k;
			keys[n++] = ' ';
			keys[n] = '\0';
		}
		p += strcspn(p, "\n");
		if (*p)
			p++;
	}
}

/* The text form: each interval is "interval N", "interval_s S", then the
 * very lines of the final statistics (same keys, same order). */
START_TEST(stats_interval_text_format)
{
	const char *args[] = { "--stats-interval", "100ms", NULL };
	struct srv s;
	srv_start_on(&s, _i, args);
	static char buf[1 << 16];
	size_t len = 0;
	while (!strstr(buf, "\ninterval 2\n") && len + 1 < sizeof buf) {
		struct pollfd pf = { s.out, POLLIN, 0 };
		ck_assert_int_eq(poll(&pf, 1, T_WAIT_MS), 1);
		ssize_t k = read(s.out, buf + len, sizeof buf - 1 - len);
		ck_assert_int_gt(k, 0);
		len += (size_t)k;
		buf[len] = '\0';
	}
	ck_assert(exited(srv_stop(&s, SIGTERM, buf + len, sizeof buf - len), 0));
	const char *p = strstr(buf, "interval 1\ninterval_s ");
	ck_assert_msg(p, "%s", buf);
	p = strchr(strchr(p, '\n') + 1, '\n') + 1;	/* past interval_s */
	static char ik[4096], fk[4096];
	block_keys(p, "interval ", ik, sizeof ik);
	/* the final block: the last "backend" line not preceded by interval_s */
	const char *fin = NULL;
	for (const char *q = buf; (q = strstr(q, "\nbackend ")); q++) {
		const char *prev = q;
		while (prev > buf && prev[-1] != '\n')
			prev--;
		if (strncmp(prev, "interval_s ", 11) != 0)
			fin = q + 1;
	}
	ck_assert_msg(fin, "no final statistics: %s", buf);
	block_keys(fin, "\x01", fk, sizeof fk);
	ck_assert_str_eq(ik, fk);
	ck_assert_msg(strncmp(ik, "backend model workers uptime_s accepted ", 40) == 0, "%s", ik);
}
END_TEST

/* --stats-interval 0 is off, as the help says: only the final object. */
START_TEST(stats_interval_zero_is_off)
{
	const char *args[] = { "--stats-interval", "0", "--json", "-", NULL };
	struct srv s;
	srv_start_on(&s, _i, args);
	int fd = tcp_connect(s.port);
	ck_assert_int_eq(get_ok(fd), 200);
	close(fd);
	static char out[1 << 16];
	ck_assert(exited(srv_stop(&s, SIGTERM, out, sizeof out), 0));
	int objs = 0;
	for (const char *p = out; (p = strstr(p, "{\"backend\":")); p++)
		objs++;
	ck_assert_msg(objs == 1, "want only the final object: %s", out);
	ck_assert_msg(strstr(out, "\"interval\":null") && strstr(out, "\"stats_interval_s\":null"),
	              "%s", out);
}
END_TEST

/* A mean over no waits is no figure: the busy model never waits, so
 * events_per_wait and wait_us_mean are null in JSON, "no data" in text. */
START_TEST(no_waits_no_mean)
{
	static char out[1 << 16];
	for (int json = 0; json < 2; json++) {
		const char *args[] = { "--model", "busy", json ? "--json" : NULL, "-", NULL };
		struct srv s;
		ck_assert_int_eq(srv_start(&s, NULL, 1, 0, args), 0);
		ck_assert(exited(srv_stop(&s, SIGTERM, out, sizeof out), 0));
		if (json)
			ck_assert_msg(strstr(out, "\"waits\":0,") &&
			              strstr(out, "\"events_per_wait\":null") &&
			              strstr(out, "\"wait_us_mean\":null"), "%s", out);
		else
			ck_assert_msg(strstr(out, "\nwaits 0\n") &&
			              strstr(out, "\nevents_per_wait no data\n") &&
			              strstr(out, "\nwait_us_mean no data\n"), "%s", out);
	}
}
END_TEST

/* The same with worker processes: every worker's line names the backend
 * POLLUX_BACKEND chose. */
START_TEST(listening_names_backend_procs)
{
	const char *b = backend_at(_i);
	char want[64];
	snprintf(want, sizeof want, " (%s)\n", b);
	struct srv s;
	ck_assert_int_eq(setenv("POLLUX_BACKEND", b, 1), 0);
	const char *procs[] = { "--processes", "2", NULL };
	ck_assert_int_eq(srv_start(&s, NULL, 1, 0, procs), 0);
	ck_assert_msg(strstr(s.lines, want), "POLLUX_BACKEND=%s --processes 2: '%s'", b,
	              s.lines);
	srv_stop_ok(&s);
	ck_assert_int_eq(unsetenv("POLLUX_BACKEND"), 0);
}
END_TEST

void add_lines_tests(Suite *su, int nb);
void add_lines_tests(Suite *su, int nb)
{
	TCase *tc = tcase_create("lines");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, no_listening_unless_all_bound, 0, nb);
	tcase_add_loop_test(tc, listening_names_backend, 0, nb);
	/* Not under libkqueue: see tests/notrun.c. */
	nr_add(tc, "test_server", listening_names_backend_procs, 0, nb);
	tcase_add_test(tc, listening_other_models);
	tcase_add_loop_test(tc, stats_interval_per_interval, 0, nb);
	tcase_add_loop_test(tc, stats_interval_text_format, 0, nb);
	tcase_add_loop_test(tc, stats_interval_zero_is_off, 0, nb);
	tcase_add_test(tc, no_waits_no_mean);
	suite_add_tcase(su, tc);
}
