/* test_server_echo.c: pollux-server's echo protocol and output cap on every
 * backend: 1,000 concurrent connections of random payloads checked byte for
 * byte, and clients that send without reading. */
#include <config.h>
#include "test_server_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int connect_nb(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	struct sockaddr_in a = { 0 };
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

struct ec {
	int fd;
	unsigned char *data;
	size_t len, sent, got;
	int shut, done;
};

START_TEST(echo_1000_connections)
{
	enum { N = 1000 };
	const char *args[] = { "--proto", "echo", NULL };
	struct srv s;
	ck_assert_int_eq(srv_start(&s, backend_at(_i), 1, 0, args), 0);
	struct ec *c = calloc(N, sizeof *c);
	struct pollfd *pf = calloc(N, sizeof *pf);
	unsigned seed = 12345u + (unsigned)_i;
	unsigned char buf[65536];
	for (int i = 0; i < N; i++) {
		c[i].len = 1 + (size_t)(rand_r(&seed) % 32768);
		c[i].data = malloc(c[i].len);
		for (size_t k = 0; k < c[i].len; k++)
			c[i].data[k] = (unsigned char)rand_r(&seed);
		c[i].fd = connect_nb(s.port);
		ck_assert_msg(c[i].fd >= 0, "connect %d: %s", i, strerror(errno));
	}
	int left = N;
	long deadline = ms_now() + 90000;
	while (left > 0) {
		ck_assert_msg(ms_now() < deadline, "%d echo connections unfinished", left);
		for (int i = 0; i < N; i++) {
			pf[i].fd = c[i].done ? -1 : c[i].fd;
			pf[i].events = POLLIN | (c[i].sent < c[i].len ? POLLOUT : 0);
			pf[i].revents = 0;
		}
		int rc = poll(pf, N, 1000);
		if (rc < 0 && errno == EINTR)
			continue;
		ck_assert_int_ge(rc, 0);
		for (int i = 0; i < N; i++) {
			struct ec *e = &c[i];
			if (e->done || !pf[i].revents)
				continue;
			if ((pf[i].revents & POLLOUT) && e->sent < e->len) {
				ssize_t k = send(e->fd, e->data + e->sent, e->len - e->sent, MSG_NOSIGNAL);
				if (k > 0)
					e->sent += (size_t)k;
				else
					ck_assert_msg(errno == EAGAIN, "send %d: %s", i, strerror(errno));
			}
			if (e->sent == e->len && !e->shut) {
				/* Half-close: the server must still echo all, then close. */
				ck_assert_int_eq(shutdown(e->fd, SHUT_WR), 0);
				e->shut = 1;
			}
			if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				ssize_t k = recv(e->fd, buf, sizeof buf, 0);
				if (k > 0) {
					ck_assert_msg(e->got + (size_t)k <= e->len, "conn %d: too many bytes", i);
					ck_assert_msg(memcmp(buf, e->data + e->got, (size_t)k) == 0,
					              "conn %d: echo differs at %zu", i, e->got);
					e->got += (size_t)k;
				} else if (k == 0) {
					ck_assert_msg(e->got == e->len, "conn %d: EOF after %zu of %zu bytes",
					              i, e->got, e->len);
					e->done = 1;
					left--;
				} else {
					ck_assert_msg(errno == EAGAIN, "recv %d: %s", i, strerror(errno));
				}
			}
		}
	}
	for (int i = 0; i < N; i++) {
		close(c[i].fd);
		free(c[i].data);
	}
	free(c);
	free(pf);
	int st = srv_stop(&s, SIGTERM, NULL, 0);
	ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
}
END_TEST

/* Sends until the peer stops taking data (no POLLOUT for a while) or max
 * bytes; returns bytes sent. pattern(i) gives byte i. */
static size_t send_until_stalled(int fd, size_t max, const char *pat, size_t plen)
{
	size_t sent = 0;
	char chunk[65536];
	/* A small send buffer on our side keeps the volume (and the test)
	 * small; the server's side is what is being tested. */
	int sb = 65536;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb);
	for (size_t i = 0; i < sizeof chunk; i++)
		chunk[i] = pat[i % plen];
	/* plen divides sizeof chunk for the patterns used here, so every chunk
	 * continues the stream where the last one ended. */
	while (sent < max) {
		struct pollfd p = { fd, POLLOUT, 0 };
		if (poll(&p, 1, 1500) == 0)
			break;	/* peer stopped reading: what we check next */
		size_t off = sent % plen;
		ssize_t k = send(fd, chunk + off, sizeof chunk - plen, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		ck_assert_msg(k > 0, "send: %s", strerror(errno));
		sent += (size_t)k;
	}
	return sent;
}

START_TEST(http_client_never_reads)
{
	struct srv s;
	/* Without the keep-alive cap, which would end the connection after
	 * 1000 answers: what is tested is the cap on output. */
	const char *args[] = { "--keepalive-requests", "0", NULL };
	ck_assert_int_eq(srv_start(&s, backend_at(_i), 1, 0, args), 0);
	int fd = tcp_connect(s.port);
	ck_assert_int_ge(fd, 0);
	/* 32-byte requests; each answer is several times longer. Without a cap
	 * the server would buffer answers to all of them. */
	const char *req = "GET / HTTP/1.1\r\nHost: tttt\r\n\r\n\r\n";
	size_t plen = strlen(req);
	ck_assert_int_eq(plen, 32);
	size_t max = 256u << 20;
	size_t sent = send_until_stalled(fd, max, req, plen);
	ck_assert_msg(sent < max, "server read %zu bytes from a client that never reads", sent);
	double buffered = stats_value(s.port, "buffered_bytes");
	double cap = 256 * 1024;
	/* Pending output may pass the cap by one read's worth of answers and
	 * the buffer doubles as it grows; input is one read (64 KiB). */
	ck_assert_msg(buffered >= 0 && buffered <= 2 * cap + 2 * 65536 + 8192,
	              "server holds %.0f bytes for one stuck client", buffered);
	/* Now read everything: every request answered, in order. */
	struct reader rd;
	reader_init(&rd, fd);
	size_t n = sent / plen;
	for (size_t k = 0; k < n; k++) {
		struct resp r;
		ck_assert_msg(read_resp(&rd, &r, 0) == 0, "answer %zu of %zu missing", k, n);
		ck_assert_int_eq(r.status, 200);
		resp_free(&r);
	}
	reader_free(&rd);
	close(fd);
	int st = srv_stop(&s, SIGTERM, NULL, 0);
	ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
}
END_TEST

START_TEST(echo_client_never_reads)
{
	const char *args[] = { "--proto", "echo", NULL };
	struct srv s;
	ck_assert_int_eq(srv_start(&s, backend_at(_i), 1, 0, args), 0);
	int fd = tcp_connect(s.port);
	ck_assert_int_ge(fd, 0);
	const char *pat = "0123456789abcdef";
	size_t max = 256u << 20;
	size_t sent = send_until_stalled(fd, max, pat, 16);
	/* Cap + a read + the kernel's socket buffers on both sides: megabytes,
	 * not the hundreds a server without a cap would take. */
	ck_assert_msg(sent < (64u << 20), "server took %zu bytes without being read", sent);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	/* Everything comes back, in order. */
	char buf[65536];
	size_t got = 0;
	for (;;) {
		ssize_t k = recv(fd, buf, sizeof buf, 0);
		ck_assert_msg(k >= 0, "recv: %s", strerror(errno));
		if (k == 0)
			break;
		for (ssize_t i = 0; i < k; i++)
			if (buf[i] != pat[(got + (size_t)i) % 16])
				ck_abort_msg("echo differs at %zu", got + (size_t)i);
		got += (size_t)k;
	}
	ck_assert_uint_eq(got, sent);
	close(fd);
	int st = srv_stop(&s, SIGTERM, NULL, 0);
	ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
}
END_TEST

void add_echo_tests(Suite *su, int nb);
void add_echo_tests(Suite *su, int nb)
{
	TCase *tc = tcase_create("echo");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, echo_1000_connections, 0, nb);
	tcase_add_loop_test(tc, echo_client_never_reads, 0, nb);
	tcase_add_loop_test(tc, http_client_never_reads, 0, nb);
	suite_add_tcase(su, tc);
}
