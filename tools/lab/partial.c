/* partial.c: the lesson "partial": send on a non-blocking socket may write
 * less than asked. A slow client with a small receive buffer fetches a big
 * response from three servers: one that ignores send's return value, one
 * that blocks in send on its only thread, and pollux-server, which keeps
 * the rest and waits for writability; a second client asks for something
 * small meanwhile. */
#include <config.h>
#include "lab.h"
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BIG_BYTES (8u << 20)
#define SMALL_BODY "small\n"
#define CLIENT_RCVBUF 4096	/* asked for; the kernel doubles it */
#define NAIVE_CHUNK 65536

/* The body's byte at offset o: shifted or missing bytes show at once. */
static unsigned char pattern(uint64_t o)
{
	return (unsigned char)((o * 2654435761u) >> 11 ^ (o >> 16));
}

static unsigned char *make_body(void)
{
	unsigned char *b = malloc(BIG_BYTES);
	for (uint64_t o = 0; b && o < BIG_BYTES; o++)
		b[o] = pattern(o);
	return b;
}

/* ---- the clients ---- */

struct fetch {
	int port;
	const char *path;
	int rcvbuf;		/* SO_RCVBUF before connect; 0: the default */
	double rate;		/* bytes/s the reader allows itself; 0: no pause */
	double timeout_s;
	int check;		/* compare the body with pattern() */
	/* results */
	int status;		/* HTTP status, 0: none */
	long long content_length;	/* -1: none */
	long long body;		/* body bytes received */
	long long intact;	/* bytes before the first wrong one */
	double seconds;		/* from the head to the end of the body */
	double total_s;		/* from before connect to the end */
	int complete;		/* all of Content-Length arrived */
	char err[128];
	atomic_llong progress;	/* body bytes so far, for the other thread */
	atomic_int finished;
};

static int connect_lo(int port, int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (rcvbuf > 0)	/* before connect: it sets the window offered */
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || px_set_nonblock(fd) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void pause_s(double s)
{
	if (s <= 0)
		return;
	if (s > 0.05)
		s = 0.05;	/* short, so that a stop is seen */
	struct timespec ts = { 0, (long)(s * 1e9) };
	nanosleep(&ts, NULL);
}

/* GET f->path with Connection: close, reading at most f->rate bytes/s;
 * every wait bounded by f->timeout_s. 0, or -1 with f->err. */
static int fetch(struct fetch *f)
{
	f->status = 0;
	f->content_length = -1;
	f->body = f->intact = 0;
	f->complete = 0;
	f->err[0] = '\0';
	double t0 = lab_now_s(), start = t0, end = t0 + f->timeout_s;
	int fd = connect_lo(f->port, f->rcvbuf);
	if (fd < 0) {
		snprintf(f->err, sizeof f->err, "connect: %s", strerror(errno));
		atomic_store(&f->finished, 1);
		return -1;
	}
	char req[256];
	int rl = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                  "Connection: close\r\n\r\n", f->path);
	if (send(fd, req, (size_t)rl, MSG_NOSIGNAL) != rl) {
		snprintf(f->err, sizeof f->err, "send: %s", strerror(errno));
		close(fd);
		atomic_store(&f->finished, 1);
		return -1;
	}
	char head[4096];
	size_t hl = 0;
	int in_body = 0;
	enum { BUF = 16384 };
	unsigned char *mine = malloc(BUF);
	if (!mine) {
		close(fd);
		atomic_store(&f->finished, 1);
		return -1;
	}
	while (!lab_stopped()) {
		double now = lab_now_s();
		if (now > end) {
			snprintf(f->err, sizeof f->err, "no end after %.0f s", f->timeout_s);
			break;
		}
		if (f->rate > 0 && in_body && (double)f->body > f->rate * (now - t0)) {
			pause_s((double)f->body / f->rate - (now - t0));
			continue;
		}
		struct pollfd pf = { fd, POLLIN, 0 };
		int r = poll(&pf, 1, 100);
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		size_t want = f->rate > 0 ? 4096 : BUF;
		ssize_t k = recv(fd, mine, want, 0);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (k < 0) {
			snprintf(f->err, sizeof f->err, "recv: %s", strerror(errno));
			break;
		}
		if (k == 0)
			break;
		size_t off = 0;
		if (!in_body) {
			size_t before = hl;
			size_t take = (size_t)k < sizeof head - 1 - hl ? (size_t)k : sizeof head - 1 - hl;
			memcpy(head + hl, mine, take);
			hl += take;
			head[hl] = '\0';
			char *e = strstr(head, "\r\n\r\n");
			if (!e) {
				if (hl >= sizeof head - 1) {
					snprintf(f->err, sizeof f->err, "response head too long");
					break;
				}
				continue;
			}
			size_t hlen = (size_t)(e + 4 - head);
			f->status = strncmp(head, "HTTP/1.1 ", 9) == 0 ? atoi(head + 9) : 0;
			const char *cl = strstr(head, "\r\nContent-Length:");
			if (cl)
				f->content_length = atoll(cl + 17);
			in_body = 1;
			/* What came after the head in this read is body. */
			off = hlen - before;
			t0 = lab_now_s();
		}
		for (size_t i = off; i < (size_t)k; i++) {
			if (f->check && f->intact == f->body && mine[i] == pattern((uint64_t)f->body))
				f->intact++;
			f->body++;
		}
		if (!f->check)
			f->intact = f->body;
		atomic_store(&f->progress, f->body);
		if (f->content_length >= 0 && f->body >= f->content_length) {
			f->complete = 1;
			break;
		}
	}
	f->seconds = lab_now_s() - t0;
	f->total_s = lab_now_s() - start;
	close(fd);
	free(mine);
	atomic_store(&f->finished, 1);
	return f->err[0] ? -1 : 0;
}

static void *fetch_thread(void *arg)
{
	(void)fetch(arg);
	return NULL;
}

struct scenario {
	const char *key;
	struct fetch big;
	int others;		/* requests the second client made */
	int others_ok;
	double other_max_ms;	/* NAN: none made */
	/* naive only: what its send calls returned (it ignored them) */
	long long claimed, accepted;
	long calls, short_calls;
};

/* Fetches the big response slowly and, once it flows, asks for the small
 * one again and again from a second client until the big one is done. */
static int slow_and_other(struct lab *L, struct scenario *s, int port, const char *big,
                          const char *small, double rate, int other)
{
	memset(&s->big, 0, sizeof s->big);
	s->big.port = port;
	s->big.path = big;
	s->big.rcvbuf = CLIENT_RCVBUF;
	s->big.rate = rate;
	s->big.timeout_s = 4.0 * BIG_BYTES / rate + 10;
	s->big.check = 1;
	s->other_max_ms = NAN;
	pthread_t t;
	if (pthread_create(&t, NULL, fetch_thread, &s->big) != 0) {
		fprintf(stderr, LAB_NAME ": cannot start a client thread\n");
		return -1;
	}
	/* The second client starts once 64 KiB of the big body arrived. */
	double end = lab_now_s() + 10;
	while (!atomic_load(&s->big.finished) && atomic_load(&s->big.progress) < 65536 &&
	       lab_now_s() < end && !lab_stopped())
		pause_s(0.005);
	int first = 1;
	while (!lab_stopped() && (!atomic_load(&s->big.finished) || (first && other))) {
		lab_progress(L, "%s: %.1f of %.1f MiB of the big response received", s->key,
		             (double)atomic_load(&s->big.progress) / (1 << 20),
		             (double)BIG_BYTES / (1 << 20));
		if (!other) {
			pause_s(0.05);
			continue;
		}
		first = 0;
		struct fetch o;
		memset(&o, 0, sizeof o);
		o.port = port;
		o.path = small;
		o.timeout_s = s->big.timeout_s;
		(void)fetch(&o);
		if (lab_stopped())
			break;
		s->others++;
		if (o.complete && o.status == 200) {
			s->others_ok++;
			double ms = o.total_s * 1e3;
			if (isnan(s->other_max_ms) || ms > s->other_max_ms)
				s->other_max_ms = ms;
		}
		pause_s(0.05);
	}
	pthread_join(t, NULL);
	return lab_stopped() ? -1 : 0;
}

/* ---- the two wrong servers, each in a child (lab_fork) ---- */

struct srv_arg {
	int lfd;
	const unsigned char *body;
};

/* Reads a request head; 1 when it asked for the small path. */
static int read_request(int fd)
{
	char head[4096];
	size_t hl = 0;
	while (hl < sizeof head - 1) {
		ssize_t k = recv(fd, head + hl, sizeof head - 1 - hl, 0);
		if (k <= 0)
			return -1;
		hl += (size_t)k;
		head[hl] = '\0';
		if (strstr(head, "\r\n\r\n"))
			return strncmp(head, "GET /small ", 11) == 0;
	}
	return -1;
}

static int head_for(char *buf, size_t n, size_t len)
{
	return snprintf(buf, n, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
	                "Connection: close\r\n\r\n", len);
}

/* The naive server: one client, a non-blocking socket, and every send's
 * return value ignored; it believes all it asked for went out. It prints
 * what the calls did return, which the lab compares with what arrived. */
static int naive_server(void *arg)
{
	const struct srv_arg *a = arg;
	int fd = accept(a->lfd, NULL, NULL);
	if (fd < 0 || read_request(fd) < 0)
		return 2;
	px_set_nonblock(fd);
	char head[128];
	int hl = head_for(head, sizeof head, BIG_BYTES);
	long long claimed = 0, accepted = 0;
	long calls = 0, shorts = 0;
	ssize_t k = send(fd, head, (size_t)hl, MSG_NOSIGNAL);	/* "it fits" */
	(void)k;
	for (size_t off = 0; off < BIG_BYTES; off += NAIVE_CHUNK) {
		k = send(fd, a->body + off, NAIVE_CHUNK, MSG_NOSIGNAL);
		/* The mistake: k is not looked at, off moves on regardless. */
		claimed += NAIVE_CHUNK;
		calls++;
		if (k > 0)
			accepted += k;
		if (k != NAIVE_CHUNK)
			shorts++;
	}
	printf("claimed %lld accepted %lld calls %ld short %ld\n", claimed, accepted, calls,
	       shorts);
	close(fd);
	return 0;
}

/* The blocking server: one thread, blocking sockets, every response sent
 * whole before the next connection is accepted. Correct, and everyone
 * else waits while one slow client reads. */
static int blocking_server(void *arg)
{
	const struct srv_arg *a = arg;
	for (;;) {
		int fd = accept(a->lfd, NULL, NULL);
		if (fd < 0)
			return 2;
		int small = read_request(fd);
		if (small >= 0) {
			char head[128];
			const unsigned char *body = small ? (const unsigned char *)SMALL_BODY : a->body;
			size_t len = small ? sizeof SMALL_BODY - 1 : BIG_BYTES;
			int hl = head_for(head, sizeof head, len);
			int bad = send(fd, head, (size_t)hl, MSG_NOSIGNAL) != hl;
			for (size_t off = 0; !bad && off < len; ) {
				ssize_t k = send(fd, body + off, len - off, MSG_NOSIGNAL);
				if (k < 0 && errno == EINTR)
					continue;
				if (k <= 0)
					bad = 1;
				else
					off += (size_t)k;
			}
		}
		close(fd);
	}
}

static int listen_lo(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof sa;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static int run_child_server(struct lab *L, struct scenario *s, int (*fn)(void *),
                            const unsigned char *body, double rate, int other)
{
	int port;
	int lfd = listen_lo(&port);
	if (lfd < 0) {
		fprintf(stderr, LAB_NAME ": cannot listen on 127.0.0.1: %s\n", strerror(errno));
		return -1;
	}
	struct srv_arg a = { lfd, body };
	struct proc *p = lab_fork(L, s->key, fn, &a);
	close(lfd);	/* the child's now */
	if (!p) {
		fprintf(stderr, LAB_NAME ": cannot fork the %s server: %s\n", s->key,
		        strerror(errno));
		return -1;
	}
	int rc = slow_and_other(L, s, port, "/big", "/small", rate, other);
	/* The naive one exits by itself; wait (bounded) for its report. */
	double end = lab_now_s() + 5;
	while (rc == 0 && fn == naive_server && !p->exited && lab_now_s() < end)
		if (lab_pump(p, 100) < 0)
			rc = -1;
	if (p->out)
		sscanf(p->out, "claimed %lld accepted %lld calls %ld short %ld", &s->claimed,
		       &s->accepted, &s->calls, &s->short_calls);
	lab_stop_proc(L, p, SIGTERM, 1000);
	return rc;
}

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	const char *p = data;
	while (len > 0) {
		ssize_t k = write(fd, p, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			close(fd);
			return -1;
		}
		p += k;
		len -= (size_t)k;
	}
	return close(fd);
}

static int run_buffered(struct lab *L, struct scenario *s, const unsigned char *body,
                        double rate)
{
	const char *dir = lab_tmpdir(L);
	if (!dir)
		return -1;
	char path[600];
	snprintf(path, sizeof path, "%s/big", dir);
	if (write_file(path, body, BIG_BYTES) < 0) {
		fprintf(stderr, LAB_NAME ": cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof path, "%s/small", dir);
	if (write_file(path, SMALL_BODY, sizeof SMALL_BODY - 1) < 0) {
		fprintf(stderr, LAB_NAME ": cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	/* --no-sendfile: the body passes through the server's own buffer, the
	 * case this lesson is about (sendfile keeps its offset the same way). */
	const char *args[] = { "--root", dir, "--no-sendfile", "--idle-timeout", "0",
	                       L->o->backend ? "-b" : NULL, L->o->backend, NULL };
	int port;
	struct proc *srv = lab_server(L, &port, args);
	if (!srv)
		return -1;
	int rc = slow_and_other(L, s, port, "/big", "/small", rate, 1);
	lab_stop_proc(L, srv, SIGTERM, 2000);
	return rc;
}

static void json_fetch(struct lab *L, const struct scenario *s, int other)
{
	jw_open(&L->meas, s->key);
	const struct fetch *f = &s->big;
	if (!strcmp(s->key, "naive")) {
		jw_int(&L->meas, "bytes_claimed", s->claimed);
		jw_int(&L->meas, "send_accepted_bytes", s->accepted);
		jw_int(&L->meas, "send_calls", s->calls);
		jw_int(&L->meas, "send_calls_short_or_failed", s->short_calls);
	} else {
		jw_int(&L->meas, "bytes_claimed", f->content_length);
	}
	jw_int(&L->meas, "bytes_received", f->body);
	long long claimed = !strcmp(s->key, "naive") ? s->claimed : f->content_length;
	jw_int(&L->meas, "bytes_lost", claimed > f->body ? claimed - f->body : 0);
	jw_int(&L->meas, "bytes_intact", f->intact);
	jw_num(&L->meas, "seconds", f->seconds);
	if (other) {
		jw_int(&L->meas, "other_client_requests", s->others);
		jw_int(&L->meas, "other_client_answered", s->others_ok);
		jw_num(&L->meas, "other_client_max_wait_ms", s->other_max_ms);
	}
	jw_close(&L->meas);
}

static long long lost_of(const struct scenario *s)
{
	long long claimed = !strcmp(s->key, "naive") ? s->claimed : s->big.content_length;
	return claimed > s->big.body ? claimed - s->big.body : 0;
}

static int run(struct lab *L)
{
	char b1[32], b2[32], b3[32], b4[32];
	double secs = lab_seconds(L, 1.5, 4);
	double rate = BIG_BYTES / secs;
	jw_int(&L->settings, "response_bytes", BIG_BYTES);
	jw_int(&L->settings, "client_rcvbuf_asked", CLIENT_RCVBUF);
	jw_int(&L->settings, "client_read_bytes", 4096);
	jw_num(&L->settings, "client_read_mib_per_s", rate / (1 << 20));
	jw_int(&L->settings, "naive_send_bytes", NAIVE_CHUNK);
	lab_setup(L, "a client with SO_RCVBUF %d reads 4 KiB at a time, at most %.1f MiB/s, "
	          "an %s-byte response (about %.3g s) from each server on 127.0.0.1; once it "
	          "flows a second client asks for %zu bytes, again and again", CLIENT_RCVBUF,
	          rate / (1 << 20), lab_commas(b1, sizeof b1, BIG_BYTES), secs,
	          sizeof SMALL_BODY - 1);
	lab_setup(L, "naive: non-blocking send of %d-byte pieces, return values ignored; "
	          "blocking: one thread, blocking send; buffered: pollux-server --root "
	          "--no-sendfile", NAIVE_CHUNK);

	unsigned char *body = make_body();
	if (!body) {
		fprintf(stderr, LAB_NAME ": out of memory\n");
		return LAB_NOT_OBSERVED;
	}
	struct scenario sc[3];
	memset(sc, 0, sizeof sc);
	sc[0].key = "naive";
	sc[1].key = "blocking";
	sc[2].key = "buffered";
	int rc = run_child_server(L, &sc[0], naive_server, body, rate, 0);
	if (rc == 0)
		rc = run_child_server(L, &sc[1], blocking_server, body, rate, 1);
	if (rc == 0)
		rc = run_buffered(L, &sc[2], body, rate);
	free(body);
	if (rc < 0 || lab_stopped())
		return LAB_NOT_OBSERVED;
	json_fetch(L, &sc[0], 0);
	json_fetch(L, &sc[1], 1);
	json_fetch(L, &sc[2], 1);

	lab_printf(L, "\n%-9s %10s %10s %10s %10s %6s %6s %11s\n", "server", "claimed",
	           "received", "lost", "intact", "time s", "others", "max wait ms");
	for (int i = 0; i < 3; i++) {
		const struct scenario *s = &sc[i];
		long long claimed = i == 0 ? s->claimed : s->big.content_length;
		char w[32] = "-", n[16] = "-";
		if (i > 0 && isfinite(s->other_max_ms))
			snprintf(w, sizeof w, "%.1f", s->other_max_ms);
		else if (i > 0)
			snprintf(w, sizeof w, "none answered");
		if (i > 0)
			snprintf(n, sizeof n, "%d", s->others_ok);
		lab_printf(L, "%-9s %10s %10s %10s %10s %6.2f %6s %11s\n", s->key,
		           lab_commas(b1, sizeof b1, (unsigned long long)(claimed > 0 ? claimed : 0)),
		           lab_commas(b2, sizeof b2, (unsigned long long)s->big.body),
		           lab_commas(b3, sizeof b3, (unsigned long long)lost_of(s)),
		           lab_commas(b4, sizeof b4, (unsigned long long)s->big.intact),
		           s->big.seconds, n, w);
	}
	lab_printf(L, "\nclaimed, received, lost, intact: bytes of the big response (intact: "
	           "before the first wrong one).\nothers: the second client's requests "
	           "answered meanwhile; max wait: its slowest, connect to last byte.\n");
	lab_printf(L, "naive: %ld send calls of %d bytes, %ld of them short or failed; "
	           "they accepted %s bytes in all\n\n", sc[0].calls, NAIVE_CHUNK,
	           sc[0].short_calls, lab_commas(b1, sizeof b1, (unsigned long long)sc[0].accepted));

	long long lost0 = lost_of(&sc[0]), lost2 = lost_of(&sc[2]);
	double wb = sc[1].other_max_ms, wf = sc[2].other_max_ms;
	int seen = lost0 > 0 && lost2 == 0 && sc[2].big.complete && isfinite(wb) &&
	           isfinite(wf) && wf * 5 < wb;
	return lab_verdict(L, seen,
	                   "the naive server ignored send's return value and lost %s of %s bytes "
	                   "(%ld of %ld sends were short or failed); pollux-server delivered all "
	                   "%s bytes, and meanwhile its other client waited at most %.1f ms, "
	                   "against %.0f ms behind the blocking server%s",
	                   lab_commas(b1, sizeof b1, (unsigned long long)lost0),
	                   lab_commas(b2, sizeof b2, (unsigned long long)sc[0].claimed),
	                   sc[0].short_calls, sc[0].calls,
	                   lab_commas(b3, sizeof b3, (unsigned long long)sc[2].big.body), wf, wb,
	                   seen ? "" : " (not the expected picture: see the table)");
}

const struct lesson lab_lesson_partial = {
	"partial",
	"What happens to the bytes send did not take?",
	run, 0
};
