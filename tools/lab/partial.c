/* partial.c: the lesson "partial": send on a non-blocking socket may write
 * less than asked. A slow client with a small receive buffer fetches a big
 * response from three servers: one that ignores send's return value, one
 * that blocks in send on its only thread, and pollux-server, which keeps
 * the rest and waits for writability; a second client asks for something
 * small meanwhile. */
#include "toolconfig.h"
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
	if (lab_connect_lo(fd, port, 5000) < 0 || px_set_nonblock(fd) < 0) {
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
	double other_max_ms;	/* NAN: none answered */
	double other_unanswered_s;	/* longest wait of one never answered, NAN: none */
	/* naive only: what its send calls returned (it ignored them); valid
	 * when reported (the server printed its line) */
	int reported;
	long long claimed, accepted;
	long calls, short_calls;
	int done;		/* the phase ran to its end: its figures are whole */
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
	s->other_unanswered_s = NAN;
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
		} else if (isnan(s->other_unanswered_s) || o.total_s > s->other_unanswered_s) {
			s->other_unanswered_s = o.total_s;
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
	/* No line, or a broken one: the counts stay unknown, not 0. */
	s->reported = p->out && sscanf(p->out, "claimed %lld accepted %lld calls %ld short %ld",
	                               &s->claimed, &s->accepted, &s->calls,
	                               &s->short_calls) == 4;
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

/* What the server meant to send: the naive one's own count (-1 when it
 * gave no report), else the Content-Length it announced (-1: none). */
static long long claimed_of(const struct scenario *s)
{
	if (!strcmp(s->key, "naive"))
		return s->reported ? s->claimed : -1;
	return s->big.content_length;
}

/* Bytes claimed but not received, -1 when the claim is unknown. */
static long long lost_of(const struct scenario *s)
{
	long long claimed = claimed_of(s);
	if (claimed < 0)
		return -1;
	return claimed > s->big.body ? claimed - s->big.body : 0;
}

static void json_count(struct lab *L, const char *key, int known, long long v)
{
	if (known && v >= 0)
		jw_int(&L->meas, key, v);
	else
		jw_null(&L->meas, key);
}

/* Every key of one scenario, null where not measured: a phase that did
 * not run to its end (a failure, a stop) has none of its figures. */
static void json_fetch(struct lab *L, const struct scenario *s, int other)
{
	jw_open(&L->meas, s->key);
	const struct fetch *f = &s->big;
	int d = s->done;
	json_count(L, "bytes_claimed", d, claimed_of(s));
	if (!strcmp(s->key, "naive")) {
		int r = d && s->reported;
		json_count(L, "send_accepted_bytes", r, s->accepted);
		json_count(L, "send_calls", r, s->calls);
		json_count(L, "send_calls_short_or_failed", r, s->short_calls);
	}
	json_count(L, "bytes_received", d, f->body);
	json_count(L, "bytes_lost", d, lost_of(s));
	json_count(L, "bytes_intact", d, f->intact);
	jw_num(&L->meas, "seconds", d ? f->seconds : NAN);
	if (other) {
		json_count(L, "other_client_requests", d, s->others);
		json_count(L, "other_client_answered", d, s->others_ok);
		jw_num(&L->meas, "other_client_max_wait_ms", d ? s->other_max_ms : NAN);
		jw_num(&L->meas, "other_client_unanswered_wait_s", d ? s->other_unanswered_s : NAN);
	}
	jw_close(&L->meas);
}

static const char *count(char *buf, size_t n, long long v)
{
	if (v < 0)
		snprintf(buf, n, "-");
	else
		lab_commas(buf, n, (unsigned long long)v);
	return buf;
}

/* What the second client met behind one server, for the verdict. */
static void other_text(char *buf, size_t n, const struct scenario *s)
{
	if (isfinite(s->other_max_ms))
		snprintf(buf, n, "waited at most %.1f ms", s->other_max_ms);
	else if (isfinite(s->other_unanswered_s))
		snprintf(buf, n, "was never answered in %.0f s", s->other_unanswered_s);
	else
		snprintf(buf, n, "made no request (the big response ended first)");
}

static int run(struct lab *L)
{
	char b1[32], b2[32], b3[32], b4[32], t[600];
	double secs = lab_seconds(L, 1.5, 4);
	double rate = BIG_BYTES / secs;
	jw_int(&L->settings, "response_bytes", BIG_BYTES);
	jw_int(&L->settings, "client_rcvbuf_asked", CLIENT_RCVBUF);
	jw_int(&L->settings, "client_read_bytes", 4096);
	jw_num(&L->settings, "client_read_mib_per_s", rate / (1 << 20));
	jw_int(&L->settings, "naive_send_bytes", NAIVE_CHUNK);
	jw_str(&L->settings, "backend", L->o->backend ? L->o->backend : "default");
	jw_num(&L->settings, "seconds", secs);
	jw_str(&L->settings, "seconds_sets", "client_read_mib_per_s (response_bytes / seconds)");
	lab_setup(L, "a client with SO_RCVBUF %d reads 4 KiB at a time, at most %.1f MiB/s,",
	          CLIENT_RCVBUF, rate / (1 << 20));
	lab_setup(L, "an %s-byte response (about %.3g s) from each server on 127.0.0.1;",
	          lab_commas(b1, sizeof b1, BIG_BYTES), secs);
	lab_setup(L, "once it flows a second client asks for %zu bytes, again and again",
	          sizeof SMALL_BODY - 1);
	lab_setup(L, "naive: non-blocking send of %d-byte pieces, return values ignored;",
	          NAIVE_CHUNK);
	lab_setup(L, "blocking: one thread, blocking send; buffered: pollux-server --root");
	lab_setup(L, "--no-sendfile%s%s", L->o->backend ? " -b " : "",
	          L->o->backend ? L->o->backend : "");

	struct scenario sc[3];
	memset(sc, 0, sizeof sc);
	sc[0].key = "naive";
	sc[1].key = "blocking";
	sc[2].key = "buffered";
	unsigned char *body = make_body();
	int rc = -1;
	if (!body)
		fprintf(stderr, LAB_NAME ": out of memory\n");
	else if ((rc = run_child_server(L, &sc[0], naive_server, body, rate, 0)) == 0 &&
	         (sc[0].done = 1) &&
	         (rc = run_child_server(L, &sc[1], blocking_server, body, rate, 1)) == 0 &&
	         (sc[1].done = 1) &&
	         (rc = run_buffered(L, &sc[2], body, rate)) == 0)
		sc[2].done = 1;
	free(body);
	if (lab_stopped())
		rc = -1;
	json_fetch(L, &sc[0], 0);
	json_fetch(L, &sc[1], 1);
	json_fetch(L, &sc[2], 1);
	if (rc < 0 && lab_stopped())
		return LAB_NOT_OBSERVED;
	if (rc < 0)
		return lab_fail(L, "the %s server's run could not be done (see above)",
		                !sc[0].done ? "naive" : !sc[1].done ? "blocking" : "buffered");

	lab_printf(L, "\n%-8s %9s %9s %9s %9s %6s %6s %8s\n", "server", "claimed",
	           "received", "lost", "intact", "time s", "others", "wait ms");
	for (int i = 0; i < 3; i++) {
		const struct scenario *s = &sc[i];
		char w[32] = "-", n[16] = "-", c[16];
		if (i > 0 && isfinite(s->other_max_ms))
			snprintf(w, sizeof w, "%.1f", s->other_max_ms);
		if (i > 0)
			snprintf(n, sizeof n, "%d", s->others_ok);
		lab_printf(L, "%-8s %9s %9s %9s %9s %6s %6s %8s\n", s->key,
		           count(b1, sizeof b1, claimed_of(s)), count(b2, sizeof b2, s->big.body),
		           count(b3, sizeof b3, lost_of(s)), count(b4, sizeof b4, s->big.intact),
		           lab_fmt(c, sizeof c, s->big.seconds, 2), n, w);
	}
	lab_printf(L, "\n");
	lab_wrap(L, "", "claimed, received, lost, intact: bytes of the big response (intact: "
	     "before the first wrong one).");
	lab_wrap(L, "", "others: the second client's requests answered meanwhile; wait ms: "
	     "its slowest, connect to last byte; -: not measured, or none answered.");
	for (int i = 1; i < 3; i++)
		if (isfinite(sc[i].other_unanswered_s)) {
			snprintf(t, sizeof t, "%s: %d of the second client's %d requests were never "
			         "answered, one after waiting %.1f s.", sc[i].key,
			         sc[i].others - sc[i].others_ok, sc[i].others,
			         sc[i].other_unanswered_s);
			lab_wrap(L, "", t);
		}
	if (sc[0].reported)
		snprintf(t, sizeof t, "naive: %ld send calls of %d bytes, %ld of them short or "
		         "failed; they accepted %s bytes in all.", sc[0].calls, NAIVE_CHUNK,
		         sc[0].short_calls, lab_commas(b1, sizeof b1, (unsigned long long)sc[0].accepted));
	else
		snprintf(t, sizeof t, "naive: the server gave no report of its send calls, so "
		         "what it claimed and lost is unknown.");
	lab_wrap(L, "", t);
	lab_printf(L, "\n");

	long long lost0 = lost_of(&sc[0]), lost2 = lost_of(&sc[2]);
	double wb = sc[1].other_max_ms, wf = sc[2].other_max_ms;
	int seen = sc[0].reported && lost0 > 0 && lost2 == 0 && sc[2].big.complete &&
	           isfinite(wb) && isfinite(wf) && wf * 5 < wb;
	char naive[300], buffered[300], ob[120], of[120];
	if (!sc[0].reported)
		snprintf(naive, sizeof naive, "the naive server gave no report of its send "
		         "calls, so its lost bytes are unknown (the client received %s)",
		         lab_commas(b1, sizeof b1, (unsigned long long)sc[0].big.body));
	else
		snprintf(naive, sizeof naive, "the naive server ignored send's return value and "
		         "lost %s of %s bytes (%ld of %ld sends were short or failed)",
		         lab_commas(b1, sizeof b1, (unsigned long long)lost0),
		         lab_commas(b2, sizeof b2, (unsigned long long)sc[0].claimed),
		         sc[0].short_calls, sc[0].calls);
	if (sc[2].big.complete && lost2 == 0)
		snprintf(buffered, sizeof buffered, "pollux-server delivered all %s bytes",
		         lab_commas(b3, sizeof b3, (unsigned long long)sc[2].big.body));
	else
		snprintf(buffered, sizeof buffered, "pollux-server's fetch did not complete: %s of "
		         "%s bytes arrived%s%s", lab_commas(b3, sizeof b3, (unsigned long long)sc[2].big.body),
		         count(b4, sizeof b4, claimed_of(&sc[2])), sc[2].big.err[0] ? ", " : "",
		         sc[2].big.err);
	other_text(of, sizeof of, &sc[2]);
	other_text(ob, sizeof ob, &sc[1]);
	return lab_verdict(L, seen, "%s; %s, and meanwhile its other client %s; behind the "
	                   "blocking server the other client %s%s", naive, buffered, of, ob,
	                   seen ? "" : " (not the expected picture: see the table)");
}

const struct lesson lab_lesson_partial = {
	"partial",
	"What happens to the bytes send did not take?",
	run, 0
};
