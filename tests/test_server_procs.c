/* test_server_procs.c: pollux-server --processes: worker processes serve
 * echo and HTTP byte-exact, /stats sums them, a killed worker is restarted,
 * and a stop (or the parent's death) leaves no process behind. */
#include <config.h>
#include "test_server_util.h"
#include "notrun.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define OKREQ "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
#define MAXC 400	/* connections tried before deciding the kernel never spreads */

static int exited(int st, int code)
{
	return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

/* Deterministic bytes no server could answer by luck. */
static void fill_bytes(unsigned char *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
}

/* One keep-alive GET on fd; its status, body into *out (may be NULL). */
static int get_on(int fd, const char *req, struct resp *out)
{
	struct reader rd;
	struct resp r;
	reader_init(&rd, fd);
	int st = -1;
	if (send_all(fd, req, strlen(req)) == 0 && read_resp(&rd, &r, 0) == 0) {
		st = r.status;
		if (out)
			*out = r;
		else
			resp_free(&r);
	}
	reader_free(&rd);
	return st;
}

/* Holds connections, one GET / answered on each, until every one of the n
 * pids holds at least one of them (or MAXC are open). Returns how many
 * connections are open in fds; *each is 1 if every pid got some. */
static int spread(int port, const pid_t *pids, int n, int *fds, int *each)
{
	int got[64] = { 0 }, k = 0;
	*each = 0;
	while (k < MAXC && !*each) {
		int fd = tcp_connect(port);
		ck_assert_msg(fd >= 0, "connection %d refused", k);
		ck_assert_int_eq(get_on(fd, OKREQ, NULL), 200);
		fds[k++] = fd;
		pid_t o = conn_owner(fd, port, pids, n);
		ck_assert_msg(o > 0, "connection %d: held by no worker process", k);
		int all = 1;
		for (int i = 0; i < n; i++) {
			got[i] |= pids[i] == o;
			all &= got[i];
		}
		*each = all;
	}
	return k;
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* HTTP through two worker processes of two threads each: a file and the
 * built-in page, byte for byte, on connections spread over both. */
START_TEST(procs_http)
{
	char *dir = make_tempdir();
	char path[4200];
	enum { FSIZE = 300000 };
	unsigned char *data = malloc(FSIZE);
	fill_bytes(data, FSIZE, 7);
	snprintf(path, sizeof path, "%s/f.bin", dir);
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, FSIZE, f), FSIZE);
	fclose(f);

	/* The page as one process serves it. */
	struct srv one;
	struct resp ref;
	const char *a1[] = { "--root", dir, NULL };
	ck_assert_int_eq(srv_start(&one, backend_at(_i), 1, 0, a1), 0);
	ck_assert_int_eq(http_once(one.port, "GET /nonexistent HTTP/1.1\r\nHost: t\r\n"
	                           "Connection: close\r\n\r\n", &ref), 404);
	ck_assert(exited(srv_stop(&one, SIGTERM, NULL, 0), 0));

	const char *args[] = { "--processes", "2", "--workers", "2", "--root", dir, NULL };
	struct srv s;
	ck_assert_int_eq(srv_start(&s, backend_at(_i), 1, 0, args), 0);
	pid_t pids[64];
	ck_assert_int_eq(wait_children(s.pid, 2, 0, pids, T_WAIT_MS), 2);
	static int fds[MAXC];
	int each, n = spread(s.port, pids, 2, fds, &each);
	ck_assert_msg(each, "%d connections, all to one worker process", n);
	for (int i = 0; i < n; i++) {
		struct resp r;
		ck_assert_int_eq(get_on(fds[i], "GET /f.bin HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
		ck_assert_msg(r.blen == FSIZE && memcmp(r.body, data, FSIZE) == 0,
		              "connection %d: file body differs (%zu bytes)", i, r.blen);
		resp_free(&r);
		ck_assert_int_eq(get_on(fds[i], "GET /nonexistent HTTP/1.1\r\nHost: t\r\n\r\n", &r),
		                 404);
		ck_assert_msg(r.blen == ref.blen && memcmp(r.body, ref.body, r.blen) == 0,
		              "connection %d: 404 body differs", i);
		resp_free(&r);
	}
	close_all(fds, n);
	ck_assert(stats_value(s.port, "processes") == 2);
	ck_assert(stats_value(s.port, "workers") == 4);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
	resp_free(&ref);
	free(data);
	remove_tree(dir);
	free(dir);
}
END_TEST

/* Echo through two worker processes: what each connection sends comes
 * back unchanged, on connections spread over both. */
START_TEST(procs_echo)
{
	const char *args[] = { "--processes", "2", "--proto", "echo", NULL };
	struct srv s;
	ck_assert_int_eq(srv_start(&s, backend_at(_i), 1, 0, args), 0);
	pid_t pids[64];
	ck_assert_int_eq(wait_children(s.pid, 2, 0, pids, T_WAIT_MS), 2);
	enum { LEN = 65536 };
	unsigned char *out = malloc(LEN), *in = malloc(LEN);
	int got[2] = { 0, 0 };
	int k = 0;
	for (; k < MAXC && !(got[0] && got[1]); k++) {
		int fd = tcp_connect(s.port);
		ck_assert_int_ge(fd, 0);
		fill_bytes(out, LEN, (uint32_t)k + 1);
		/* Sent and read in pieces, as a byte stream allows. */
		size_t rd = 0;
		for (size_t off = 0; off < LEN; off += 8192) {
			ck_assert_int_eq(send_all(fd, out + off, 8192), 0);
			while (rd < off + 8192) {
				ssize_t r = recv(fd, in + rd, LEN - rd, 0);
				ck_assert_msg(r > 0, "connection %d: echo ended after %zu bytes", k, rd);
				rd += (size_t)r;
			}
		}
		ck_assert_msg(rd == LEN && memcmp(in, out, LEN) == 0,
		              "connection %d: echoed bytes differ", k);
		pid_t o = conn_owner(fd, s.port, pids, 2);
		ck_assert_int_gt(o, 0);
		got[0] |= o == pids[0];
		got[1] |= o == pids[1];
		close(fd);
	}
	ck_assert_msg(got[0] && got[1], "%d connections, all to one worker process", k);
	free(out);
	free(in);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
}
END_TEST

/* /stats is the whole server's: requests counted by both processes, and
 * the number of processes, from whichever worker answers. */
START_TEST(procs_stats_sum)
{
	const char *args[] = { "--processes", "2", "--json", "-", NULL };
	struct srv s;
	ck_assert_int_eq(srv_start(&s, backend_at(_i), 1, 0, args), 0);
	pid_t pids[64];
	ck_assert_int_eq(wait_children(s.pid, 2, 0, pids, T_WAIT_MS), 2);
	static int fds[MAXC];
	int each, n = spread(s.port, pids, 2, fds, &each);
	ck_assert_msg(each, "%d connections, all to one worker process", n);
	/* A second request on every other one. */
	int sent = n;
	for (int i = 0; i < n; i += 2, sent++)
		ck_assert_int_eq(get_on(fds[i], OKREQ, NULL), 200);
	close_all(fds, n);
	/* Each /stats counts itself: one more request and connection. */
	for (int q = 1; q <= 4; q++) {
		struct resp r;
		ck_assert_int_eq(http_once(s.port, "GET /stats HTTP/1.1\r\nHost: t\r\n"
		                           "Connection: close\r\n\r\n", &r), 200);
		ck_assert_msg(json_value(r.body, "requests") == sent + q, "sent %d + %d /stats: %s",
		              sent, q, r.body);
		ck_assert_msg(json_value(r.body, "accepted") == n + q, "%s", r.body);
		ck_assert_msg(json_value(r.body, "processes") == 2, "%s", r.body);
		ck_assert_msg(json_value(r.body, "workers") == 2, "%s", r.body);
		resp_free(&r);
	}
	static char out[16384];
	ck_assert(exited(srv_stop(&s, SIGTERM, out, sizeof out), 0));
	/* The final statistics, summed by the parent after every worker. */
	char *o = strchr(out, '{');
	ck_assert_msg(o, "no JSON in: %s", out);
	ck_assert_msg(json_value(o, "requests") == sent + 4, "%s", o);
	ck_assert_msg(json_value(o, "accepted") == n + 4, "%s", o);
	ck_assert_msg(json_value(o, "closed") == n + 4, "%s", o);
	ck_assert_msg(json_value(o, "open") == 0, "%s", o);
}
END_TEST

/* A worker killed outright is said on stderr and restarted; the server
 * goes on serving new connections, some of them in the new worker, and
 * what the dead one counted is kept. */
START_TEST(procs_restart)
{
	const char *args[] = { "--processes", "2", NULL };
	struct srv s;
	ck_assert_int_eq(srv_start_err(&s, backend_at(_i), 1, 0, args), 0);
	pid_t pids[64];
	ck_assert_int_eq(wait_children(s.pid, 2, 0, pids, T_WAIT_MS), 2);
	static int fds[MAXC];
	int each, n = spread(s.port, pids, 2, fds, &each);
	ck_assert(each);
	int before = n;		/* one request each, some in the victim */
	pid_t victim = pids[0];
	static pid_t owner[MAXC];
	for (int i = 0; i < n; i++)
		owner[i] = conn_owner(fds[i], s.port, pids, 2);
	/* Killed holding connections: the kernel closes them. */
	ck_assert_int_eq(kill(victim, SIGKILL), 0);
	for (int i = 0; i < n; i++)
		if (owner[i] == victim)
			ck_assert_msg(wait_closed(fds[i], T_WAIT_MS), "a dead worker's connection open");
	close_all(fds, n);
	char vpid[64], line[512];
	snprintf(vpid, sizeof vpid, "(pid %ld)", (long)victim);
	const char *want[] = { "worker process", vpid, "signal 9", "restarting", NULL };
	ck_assert_msg(srv_err_line(&s, want, line, sizeof line, T_WAIT_MS) == 0,
	              "no restart notice for %s; stderr: '%s'", vpid, line);
	ck_assert_msg(strchr(line, '\n') == NULL && strncmp(line, "pollux-server: ", 15) == 0,
	              "notice: '%s'", line);
	ck_assert_int_eq(wait_children(s.pid, 2, victim, pids, T_WAIT_MS), 2);
	n = spread(s.port, pids, 2, fds, &each);
	ck_assert_msg(each, "%d new connections, none to the restarted worker", n);
	close_all(fds, n);
	/* The dead worker's requests are still counted, and the connections
	 * it held (closed with it) are not open. */
	struct resp r;
	ck_assert_int_eq(http_once(s.port, "GET /stats HTTP/1.1\r\nHost: t\r\n"
	                           "Connection: close\r\n\r\n", &r), 200);
	ck_assert_msg(json_value(r.body, "requests") == before + n + 1, "%d + %d + 1: %s", before,
	              n, r.body);
	ck_assert_msg(json_value(r.body, "accepted") == before + n + 1, "%s", r.body);
	ck_assert_msg(json_value(r.body, "processes") == 2, "%s", r.body);
	resp_free(&r);
	/* Once the live workers have seen the clients close theirs, only the
	 * /stats connection is open: the dead one's count as closed. */
	double open = stats_wait(s.port, "open", 1, T_WAIT_MS);
	ck_assert_msg(open == 1, "open %g with every client connection closed", open);
	ck_assert(exited(srv_stop(&s, SIGTERM, NULL, 0), 0));
}
END_TEST

/* SIGTERM and SIGINT end every worker process: connections held open are
 * closed, the parent exits 0 with the statistics, and no process is left. */
START_TEST(procs_stop_none_left)
{
	for (int sig = 0; sig < 2; sig++) {
		const char *args[] = { "--processes", "3", "--workers", "2", NULL };
		struct srv s;
		ck_assert_int_eq(srv_start(&s, backend_at(_i), 1, 0, args), 0);
		pid_t pids[64];
		ck_assert_int_eq(wait_children(s.pid, 3, 0, pids, T_WAIT_MS), 3);
		int busy = tcp_connect(s.port), idle = tcp_connect(s.port);
		ck_assert_int_eq(get_on(busy, OKREQ, NULL), 200);
		ck_assert_int_ge(idle, 0);
		static char out[16384];
		int st = srv_stop(&s, sig ? SIGINT : SIGTERM, out, sizeof out);
		ck_assert_msg(exited(st, 0), "status %d after the signal", st);
		ck_assert_msg(strstr(out, "\nprocesses 0\n") && strstr(out, "\nworkers 6\n") &&
		              strstr(out, "\nrequests 1\n"), "statistics: %s", out);
		/* The parent waited for every worker before it exited: none
		 * may be left even for a moment. */
		for (int i = 0; i < 3; i++)
			ck_assert_msg(wait_gone(pids[i], 0), "worker %ld outlived the parent",
			              (long)pids[i]);
		ck_assert(wait_closed(busy, T_WAIT_MS));
		ck_assert(wait_closed(idle, T_WAIT_MS));
		close(busy);
		close(idle);
	}
}
END_TEST

#ifdef __linux__
/* A parent killed outright cannot pass the stop on: the workers stop by
 * themselves (the kernel tells them) and none is left. */
START_TEST(procs_parent_killed)
{
	const char *args[] = { "--processes", "2", NULL };
	struct srv s;
	ck_assert_int_eq(srv_start(&s, backend_at(0), 1, 0, args), 0);
	pid_t pids[64];
	ck_assert_int_eq(wait_children(s.pid, 2, 0, pids, T_WAIT_MS), 2);
	srv_stop(&s, SIGKILL, NULL, 0);
	for (int i = 0; i < 2; i++)
		ck_assert_msg(wait_gone(pids[i], T_WAIT_MS), "worker %ld outlived its parent",
		              (long)pids[i]);
}
END_TEST
#endif

START_TEST(procs_usage)
{
	static char out[8192], err[8192];
	const char *help[] = { "--help", NULL };
	ck_assert(exited(run_capture(help, out, sizeof out, err, sizeof err), 0));
	ck_assert_ptr_nonnull(strstr(out, "--processes"));
	static const char *const bad[][6] = {
		{ "--processes", "0", NULL }, { "--processes", "x", NULL },
		{ "--processes", "257", NULL },
		{ "--processes", "2", "--model", "fork", NULL },
		{ "--model", "threads", "--processes", "1", NULL },
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		int st = run_capture(bad[k], out, sizeof out, err, sizeof err);
		ck_assert_msg(exited(st, 2), "%s %s: status %d", bad[k][0], bad[k][1], st);
		ck_assert_msg(err[0] && strchr(err, '\n') == err + strlen(err) - 1 &&
		              strstr(err, "--processes"),
		              "%s %s: want one line naming --processes, got '%s'", bad[k][0],
		              bad[k][1], err);
		ck_assert_str_eq(out, "");
	}
}
END_TEST

void add_procs_tests(Suite *su, int nb);
void add_procs_tests(Suite *su, int nb)
{
	TCase *tc = tcase_create("processes");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, procs_usage);
	/* Not under libkqueue: see tests/notrun.c. */
	nr_add(tc, "test_server", procs_http, 0, nb);
	nr_add(tc, "test_server", procs_echo, 0, nb);
	nr_add(tc, "test_server", procs_stats_sum, 0, nb);
	nr_add(tc, "test_server", procs_restart, 0, nb);
	nr_add(tc, "test_server", procs_stop_none_left, 0, nb);
#ifdef __linux__
	tcase_add_test(tc, procs_parent_killed);
#endif
	suite_add_tcase(su, tc);
}
