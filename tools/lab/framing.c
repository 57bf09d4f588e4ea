/* framing.c: the lesson "framing", a TCP byte stream keeps no message
 * boundaries: many small sends arrive as few reads, one large send as many,
 * and only a length prefix with a per-connection buffer gets them back. */
#include "toolconfig.h"
#include "lab.h"
#include "common.h"
#include "pollux.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define SMALL_N 1000		/* small messages */
#define SMALL_SIZE 10		/* bytes each: "%09u\n", its index */
#define LARGE_SIZE (1u << 20)	/* the one large message */
#define READ_BUF (64 * 1024)	/* the naive server's recv buffer */
#define PREFIX 4		/* the length prefix, big-endian */
#define PHASE_MS 10000		/* the longest any phase may take */

/* Message i's payload: small ones carry their index in ASCII, the large
 * one a pattern no shifted copy of itself matches. */
static void small_msg(unsigned i, char out[SMALL_SIZE + 1])
{
	snprintf(out, SMALL_SIZE + 1, "%09u\n", i);
}

static unsigned char large_byte(size_t k)
{
	return (unsigned char)((k * 131u + k / 251u) & 0xff);
}

static void large_fill(unsigned char *p, size_t n)
{
	for (size_t k = 0; k < n; k++)
		p[k] = large_byte(k);
}

static void be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* send() until n bytes went or an error; the number of calls, or -1. */
static long send_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	long calls = 0;
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		calls++;
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return calls;
}

/* Waits for the server's go-ahead byte; 0, or -1 on EOF, error, timeout. */
static int wait_go(int fd)
{
	char c;
	for (;;) {
		ssize_t k = recv(fd, &c, 1, 0);
		if (k < 0 && errno == EINTR)
			continue;
		return k == 1 ? 0 : -1;
	}
}

struct client {
	int fd, other;
};

/* The naive client, in a child: Nagle left on, each message its own send(),
 * back to back. It tells the lab on stdout when a phase is written. */
static int client_main(void *arg)
{
	struct client *c = arg;
	close(c->other);
	int fd = c->fd, off = 0;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &off, sizeof off);
	struct timeval tv = { PHASE_MS / 1000, 0 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	unsigned char *big = malloc(PREFIX + LARGE_SIZE);
	if (!big)
		return 1;
	large_fill(big + PREFIX, LARGE_SIZE);

	/* 1: the small messages, as a naive client writes them. */
	long sends = 0;
	char m[PREFIX + SMALL_SIZE + 1];
	for (unsigned i = 0; i < SMALL_N; i++) {
		small_msg(i, m);
		if (send_all(fd, m, SMALL_SIZE) < 0)
			goto fail;
		sends++;
	}
	printf("small %ld\n", sends);
	fflush(stdout);

	/* 2: the large message in one send(), once the server has read the
	 * small ones (so that no read holds the end of one and the start of
	 * the other). */
	if (wait_go(fd) < 0)
		goto fail;
	long calls = send_all(fd, big + PREFIX, LARGE_SIZE);
	if (calls < 0)
		goto fail;
	printf("large %ld\n", calls);
	fflush(stdout);

	/* 3: the same messages, each behind its length, one send() each. */
	if (wait_go(fd) < 0)
		goto fail;
	for (unsigned i = 0; i < SMALL_N; i++) {
		be32((unsigned char *)m, SMALL_SIZE);
		small_msg(i, m + PREFIX);
		if (send_all(fd, m, PREFIX + SMALL_SIZE) < 0)
			goto fail;
	}
	be32(big, LARGE_SIZE);
	if (send_all(fd, big, PREFIX + LARGE_SIZE) < 0)
		goto fail;
	printf("framed %d\n", SMALL_N + 1);
	fflush(stdout);
	(void)wait_go(fd);	/* the server's last word, or its close */
	free(big);
	close(fd);
	return 0;
fail:
	fprintf(stderr, "client: %s\n", strerror(errno));
	free(big);
	close(fd);
	return 1;
}

struct meas {
	long small_sends, large_sends;
	long small_reads, boundaries_kept, small_largest;
	long small_size[8];		/* the first reads' sizes, in order */
	long large_reads, large_largest, large_whole;
	unsigned long long small_bytes, large_bytes, framed_bytes;
	long framed_reads, framed_seen, framed_recovered;
};

struct server {
	struct lab *L;
	pollux_t *px;
	int fd;
	unsigned char buf[READ_BUF];
};

/* One readiness report, one recv of up to 64 KiB: the naive server's
 * unit of work. The bytes read, 0 on a timeout, -1 after a message. */
static ssize_t read_one(struct server *s, double deadline)
{
	while (!lab_stopped()) {
		double left = deadline - lab_now_s();
		if (left <= 0) {
			fprintf(stderr, LAB_NAME ": framing: no data for %d s\n", PHASE_MS / 1000);
			return -1;
		}
		struct pollux_event ev[2];
		int n = pollux_wait(s->px, ev, 2, left > 0.1 ? 100 : (int)(left * 1000) + 1);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, LAB_NAME ": pollux_wait: %s\n", strerror(errno));
			return -1;
		}
		if (n <= 0)
			continue;
		ssize_t k = recv(s->fd, s->buf, sizeof s->buf, 0);
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			continue;
		if (k <= 0) {
			fprintf(stderr, LAB_NAME ": framing: the client %s\n",
			        k == 0 ? "closed early" : strerror(errno));
			return -1;
		}
		return k;
	}
	return -1;
}

/* Waits for the client's line "WORD N" on its stdout; N, or -1. */
static long client_said(struct lab *L, struct proc *p, const char *word)
{
	uint64_t end = px_now_ns() + PHASE_MS * 1000000ull;
	size_t wl = strlen(word);
	while (px_now_ns() < end && !lab_stopped()) {
		for (const char *l = p->out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
			if (strncmp(l, word, wl) == 0 && l[wl] == ' ' && strchr(l, '\n'))
				return strtol(l + wl + 1, NULL, 10);
		if (p->exited)
			break;
		if (lab_pump(p, 100) < 0)
			return -1;
	}
	(void)L;
	char why[256];
	proc_last_error(p, why, sizeof why);
	fprintf(stderr, LAB_NAME ": framing: the client did not finish '%s'%s%s\n", word,
	        *why ? ": " : "", why);
	return -1;
}

static int go(int fd, char c)
{
	return send(fd, &c, 1, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* Checks one framed message against what the client sent as message idx. */
static int message_ok(unsigned idx, const unsigned char *p, uint32_t len)
{
	if (idx < SMALL_N) {
		char m[SMALL_SIZE + 1];
		small_msg(idx, m);
		return len == SMALL_SIZE && memcmp(p, m, SMALL_SIZE) == 0;
	}
	if (idx != SMALL_N || len != LARGE_SIZE)
		return 0;
	for (size_t k = 0; k < len; k++)
		if (p[k] != large_byte(k))
			return 0;
	return 1;
}

static int serve(struct lab *L, struct server *s, struct proc *p, struct meas *m)
{
	/* 1: the naive server starts reading only once the client wrote
	 * all 1,000 messages: a server busy elsewhere meanwhile. */
	lab_progress(L, "the client sends %d messages of %d bytes", SMALL_N, SMALL_SIZE);
	if ((m->small_sends = client_said(L, p, "small")) < 0)
		return -1;
	double deadline = lab_now_s() + PHASE_MS / 1000.0;
	while (m->small_bytes < SMALL_N * SMALL_SIZE) {
		ssize_t k = read_one(s, deadline);
		if (k < 0)
			return -1;
		/* Whole and alone: exactly one message, at a message start. */
		char msg[SMALL_SIZE + 1];
		small_msg((unsigned)(m->small_bytes / SMALL_SIZE), msg);
		if (k == SMALL_SIZE && m->small_bytes % SMALL_SIZE == 0 &&
		    memcmp(s->buf, msg, SMALL_SIZE) == 0)
			m->boundaries_kept++;
		if (m->small_reads < 8)
			m->small_size[m->small_reads] = k;
		m->small_reads++;
		m->small_bytes += (size_t)k;
		if (k > m->small_largest)
			m->small_largest = k;
	}
	if (go(s->fd, 'g') < 0)
		return -1;

	/* 2: one large message, read as it comes. */
	lab_progress(L, "the client sends one message of %u bytes", LARGE_SIZE);
	deadline = lab_now_s() + PHASE_MS / 1000.0;
	while (m->large_bytes < LARGE_SIZE) {
		ssize_t k = read_one(s, deadline);
		if (k < 0)
			return -1;
		m->large_reads++;
		m->large_bytes += (size_t)k;
		if (k > m->large_largest)
			m->large_largest = k;
		m->large_whole += (size_t)k == LARGE_SIZE;
	}
	if ((m->large_sends = client_said(L, p, "large")) < 0)
		return -1;
	if (go(s->fd, 'g') < 0)
		return -1;

	/* 3: the framed stream, through a per-connection buffer. */
	lab_progress(L, "the client sends %d framed messages", SMALL_N + 1);
	size_t cap = PREFIX + LARGE_SIZE + READ_BUF, len = 0, head = 0;
	unsigned char *cb = malloc(cap);
	if (!cb) {
		fprintf(stderr, LAB_NAME ": framing: out of memory\n");
		return -1;
	}
	deadline = lab_now_s() + PHASE_MS / 1000.0;
	int rc = 0;
	while (m->framed_seen < SMALL_N + 1) {
		ssize_t k = read_one(s, deadline);
		if (k < 0) {
			rc = -1;
			break;
		}
		m->framed_reads++;
		m->framed_bytes += (size_t)k;
		/* No room at the end: move the partial message to the front. */
		if (head && (size_t)k > cap - len) {
			memmove(cb, cb + head, len - head);
			len -= head;
			head = 0;
		}
		if ((size_t)k > cap - len) {
			fprintf(stderr, LAB_NAME ": framing: more than one message's worth buffered\n");
			rc = -1;
			break;
		}
		memcpy(cb + len, s->buf, (size_t)k);
		len += (size_t)k;
		/* Every whole message in the buffer; a partial one waits. */
		while (len - head >= PREFIX) {
			const unsigned char *q = cb + head;
			uint32_t n = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 |
			             (uint32_t)q[2] << 8 | q[3];
			if (n > LARGE_SIZE) {
				fprintf(stderr, LAB_NAME ": framing: a length of %u: the stream "
				        "lost its place\n", n);
				rc = -1;
				break;
			}
			if (len - head < PREFIX + (size_t)n)
				break;
			m->framed_recovered += message_ok((unsigned)m->framed_seen, q + PREFIX, n);
			m->framed_seen++;
			head += PREFIX + n;
		}
		if (rc < 0)
			break;
	}
	free(cb);
	if (rc == 0 && client_said(L, p, "framed") < 0)
		rc = -1;
	(void)go(s->fd, 'q');
	return rc;
}

/* The measurement keys, every one of them: null when the lesson could not
 * finish (ok 0), so that a reader finds the same shape either way. */
static void write_meas(struct lab *L, const struct meas *mp, int ok)
{
	const struct meas m = *mp;
#define I(key, v) (ok ? jw_int(&L->meas, key, (long long)(v)) : jw_null(&L->meas, key))
	jw_open(&L->meas, "small");
	I("sends", m.small_sends);
	I("bytes", m.small_bytes);
	I("reads", m.small_reads);
	I("boundaries_kept", m.boundaries_kept);
	I("largest_read", m.small_largest);
	I("first_read", m.small_size[0]);
	jw_close(&L->meas);
	jw_open(&L->meas, "large");
	I("sends", m.large_sends);
	I("bytes", m.large_bytes);
	I("reads", m.large_reads);
	I("largest_read", m.large_largest);
	I("boundaries_kept", m.large_whole);
	jw_close(&L->meas);
	jw_open(&L->meas, "framed");
	jw_int(&L->meas, "messages_sent", SMALL_N + 1);
	I("messages_recovered", m.framed_recovered);
	I("bytes", m.framed_bytes);
	I("reads", m.framed_reads);
	jw_close(&L->meas);
#undef I
}

/* One row of the table; a negative figure is printed as "-". */
static void row(struct lab *L, const char *name, long long sends, long long bytes,
                long long reads, long long largest, long long whole)
{
	long long v[5] = { sends, bytes, reads, largest, whole };
	char c[5][32];
	for (int k = 0; k < 5; k++) {
		if (v[k] < 0)
			snprintf(c[k], sizeof c[k], "-");
		else
			lab_commas(c[k], sizeof c[k], (unsigned long long)v[k]);
	}
	lab_printf(L, "%-22s %6s %9s %6s %8s %6s\n", name, c[0], c[1], c[2], c[3], c[4]);
}

static int run(struct lab *L)
{
	jw_int(&L->settings, "small_messages", SMALL_N);
	jw_int(&L->settings, "small_bytes", SMALL_SIZE);
	jw_int(&L->settings, "large_bytes", LARGE_SIZE);
	jw_int(&L->settings, "read_buffer", READ_BUF);
	jw_int(&L->settings, "prefix_bytes", PREFIX);
	jw_bool(&L->settings, "tcp_nodelay", 0);
	jw_str(&L->settings, "transport", "tcp 127.0.0.1");
	/* Nothing here runs for a time: every phase ends when its bytes are in. */
	lab_no_timed_phase(L);
	struct meas m;
	memset(&m, 0, sizeof m);

	struct server *s = calloc(1, sizeof *s);
	if (!s) {
		write_meas(L, &m, 0);
		return lab_fail(L, "out of memory");
	}
	s->L = L;
	s->fd = -1;
	s->px = pollux_new(L->o->backend);
	if (!s->px) {
		int e = errno;
		free(s);
		write_meas(L, &m, 0);
		return lab_fail(L, "cannot create a poller: %s", strerror(e));
	}
	jw_str(&L->settings, "backend", pollux_backend(s->px));
	lab_setup(L, "a naive client (child process, Nagle on) sends 1,000 messages of %d bytes, "
	          "one send() each, then one of 1 MiB, over TCP on 127.0.0.1", SMALL_SIZE);
	lab_setup(L, "a naive server (pollux, %s) treats each recv() into a 64 KiB buffer as one "
	          "message; it starts reading once the client has sent the small ones",
	          pollux_backend(s->px));
	lab_setup(L, "then the same messages behind a 4-byte big-endian length, read through a "
	          "per-connection buffer and checked byte for byte");

	int fds[2];
	int rc = -1;
	if (lab_tcp_pair(fds) < 0) {
		fprintf(stderr, LAB_NAME ": cannot connect over 127.0.0.1: %s\n", strerror(errno));
		goto out;
	}
	s->fd = fds[1];
	struct client c = { fds[0], fds[1] };
	struct proc *p = lab_fork(L, "client", client_main, &c);
	close(fds[0]);
	if (!p) {
		fprintf(stderr, LAB_NAME ": cannot fork the client: %s\n", strerror(errno));
		goto out;
	}
	if (px_set_nonblock(s->fd) < 0 || pollux_add(s->px, s->fd, POLLUX_IN, NULL) < 0) {
		fprintf(stderr, LAB_NAME ": cannot watch the connection: %s\n", strerror(errno));
		goto out;
	}
	rc = serve(L, s, p, &m);
	pollux_del(s->px, s->fd);
	close(s->fd);
	s->fd = -1;
	uint64_t end = px_now_ns() + 5000000000ull;
	while (!p->exited && px_now_ns() < end)
		if (lab_pump(p, 100) < 0)
			break;
out:
	lab_progress(L, "%s", "");
	if (s->fd >= 0)
		close(s->fd);
	pollux_free(s->px);
	free(s);
	write_meas(L, &m, rc == 0 && !lab_stopped());
	if (lab_stopped())
		return LAB_NOT_OBSERVED;
	if (rc < 0)
		return lab_fail(L, "the streams could not be measured (see the message above)");

	char a[32], b[32], c1[32], d[32];
	/* At most 72 columns: pollux-labs(7) quotes the table, indented. */
	lab_printf(L, "\n%-22s %6s %9s %6s %8s %6s\n", "stream", "sends", "bytes", "reads",
	           "largest", "whole");
	row(L, "1,000 x 10 B, unframed", m.small_sends, m.small_bytes, m.small_reads,
	    m.small_largest, m.boundaries_kept);
	row(L, "1 x 1 MiB, unframed", m.large_sends, m.large_bytes, m.large_reads,
	    m.large_largest, m.large_whole);
	row(L, "1,001, 4-byte length", SMALL_N + 1, m.framed_bytes, m.framed_reads, -1,
	    m.framed_recovered);
	lab_printf(L, "\nthe small messages' reads in order (bytes):");
	for (long i = 0; i < m.small_reads && i < 8; i++)
		lab_printf(L, " %s", lab_commas(a, sizeof a, (unsigned long long)m.small_size[i]));
	lab_printf(L, "%s\n", m.small_reads > 8 ? " ..." : "");
	lab_printf(L, "\nreads: recv() calls that returned data; largest: the largest read, in\n"
	           "bytes; whole: reads that held exactly one message (unframed), or\n"
	           "messages recovered byte for byte (framed).\n\n");

	int seen = (m.small_reads != m.small_sends || m.boundaries_kept < m.small_sends) &&
	           m.large_reads > 1 && m.framed_recovered == SMALL_N + 1;
	lab_commas(a, sizeof a, (unsigned long long)m.small_reads);
	lab_commas(b, sizeof b, (unsigned long long)m.large_reads);
	lab_commas(c1, sizeof c1, (unsigned long long)m.framed_recovered);
	lab_commas(d, sizeof d, (unsigned long long)m.small_sends);
	/* Not observed: say which figure failed which condition. */
	const char *why = seen ? ""
	        : m.framed_recovered != SMALL_N + 1 ? "; not observed: the length prefix did "
	                                               "not recover every message"
	        : m.large_reads <= 1 ? "; not observed: the 1 MiB message arrived in one read"
	        : "; not observed: every small send arrived as one read of one message";
	return lab_verdict(L, seen, "%s sends of 10 bytes arrived in %s read%s (%ld of them one "
	                   "whole message); %ld send%s of 1 MiB took %s reads; with a 4-byte "
	                   "length prefix %s of the 1,000 + 1 messages were recovered%s",
	                   d, a, m.small_reads == 1 ? "" : "s", m.boundaries_kept, m.large_sends,
	                   m.large_sends == 1 ? "" : "s", b, m.framed_recovered == SMALL_N + 1 ? "all" : c1,
	                   why);
}

const struct lesson lab_lesson_framing = {
	"framing",
	"Does one send() arrive as one recv()?",
	run, 0
};
