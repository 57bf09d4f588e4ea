/* pipeline-fairness.c: CLIENTS connections pipeline small GET / requests as
 * fast as the server takes them and never read the answers; meanwhile a
 * probe asks GET /stats on a fresh connection every INTERVAL_US and times
 * each answer (connect to close). Prints the probes' median, p90 and max.
 * A benchmark for BENCHMARKS.md, not a test.
 *   cc -O2 -o pipeline-fairness scripts/pipeline-fairness.c
 *   ./pipeline-fairness PORT [CLIENTS (50)] [SECONDS (5)] [INTERVAL_US (100000)] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static int conn(int port) {
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (void *)&a, sizeof a) < 0) { perror("connect"); exit(1); }
	return fd;
}
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
int main(int argc, char **argv)
{
	int port = atoi(argv[1]), n = argc > 2 ? atoi(argv[2]) : 50;
	double secs = argc > 3 ? atof(argv[3]) : 5; long interval_us = argc > 4 ? atol(argv[4]) : 100000;
	static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	size_t rl = sizeof req - 1, reps = 4096, bl = rl * reps;
	char *blob = malloc(2 * bl);
	for (size_t i = 0; i < 2 * reps; i++) memcpy(blob + i * rl, req, rl);
	int pfd[2]; if (pipe(pfd) < 0) return 1;
	pid_t pid = fork();
	if (pid == 0) {
		struct pollfd *p = calloc(n, sizeof *p); size_t *off = calloc(n, sizeof *off);
		for (int i = 0; i < n; i++) { p[i].fd = conn(port); fcntl(p[i].fd, F_SETFL, O_NONBLOCK); p[i].events = POLLOUT; }
		(void)!write(pfd[1], "x", 1);
		double end = now() + secs;
		unsigned long long sent = 0;
		while (now() < end) {
			if (poll(p, n, 100) <= 0) continue;
			for (int i = 0; i < n; i++) if (p[i].revents & POLLOUT) {
				ssize_t k = send(p[i].fd, blob + off[i], bl, MSG_NOSIGNAL);
				if (k > 0) { off[i] = (off[i] + k) % bl; sent += k; }
			}
		}
		fprintf(stderr, "flood: %llu bytes of requests sent (%.0f requests)\n", sent, (double)sent / rl);
		_exit(0);
	}
	char x; (void)!read(pfd[0], &x, 1);
	double lat[1000]; int m = 0; double end = now() + secs;
	while (now() < end && m < 1000) {
		double t0 = now(); int fd = conn(port);
		const char *q = "GET /stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
		(void)!send(fd, q, strlen(q), 0);
		char b[65536]; ssize_t k, tot = 0;
		while ((k = recv(fd, b, sizeof b, 0)) > 0) tot += k;
		close(fd);
		if (tot < 12) { fprintf(stderr, "probe: no answer\n"); continue; }
		lat[m++] = (now() - t0) * 1000;
		usleep(interval_us);
	}
	waitpid(pid, NULL, 0);
	qsort(lat, m, sizeof *lat, cmp);
	printf("clients %d seconds %.0f probes %d  /stats latency ms: median %.1f p90 %.1f max %.1f\n",
	       n, secs, m, lat[m / 2], lat[m * 9 / 10], lat[m - 1]);
	return 0;
}
