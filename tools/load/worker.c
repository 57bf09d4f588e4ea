/* worker.c: one pollux-load thread: its own poller and its share of the
 * connections, connected first, then driven closed- or open-loop. */
#include "toolconfig.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif

#include "common.h"
#include "load.h"

enum cstate {
	C_DEAD,       /* never connected, failed, or closed for good */
	C_CONNECTING, /* non-blocking connect in progress */
	C_READY,      /* connected, no request outstanding */
	C_BUSY        /* request being sent or answer being read */
};

struct conn {
	int fd;
	unsigned char state;
	unsigned char active;
	unsigned char want_out; /* POLLUX_OUT is registered */
	unsigned char in_free;  /* on the open-loop free list */
	unsigned char reserved; /* -n, closed loop: reconnecting to make one of
	                         * the requests left (counted in L->reserved) */
	unsigned long index;    /* global connection number: picks the source */
	size_t sent, got;       /* bytes of the current request and answer */
	uint64_t intended_ns, sent_ns, deadline_ns;
	uint64_t connect_ns;    /* when its connect began */
	size_t req;             /* HTTP: which of cfg->reqs it is sending */
	uint64_t retry_until;   /* unix backlog full: keep retrying until then */
	uint32_t rng;
	unsigned char *payload; /* echo: the bytes sent, to check the answer */
	struct http_parser hp;
};

#define READ_BUF 65536
#define MAX_EVENTS 1024
/* Connects in flight per thread: enough to keep any accept loop busy,
 * few enough not to overflow a listen backlog into SYN retries. */
#define MAX_PENDING 256
/* How often deadlines are checked. */
#define SCAN_NS 20000000ull
/* How long answers still owed are awaited after a stop signal. */
#define STOP_GRACE_NS 250000000ull

struct run g_run;

/* Per-thread loop state that does not belong in struct worker. */
struct loop {
	struct worker *w;
	const struct config *cfg;
	char *buf;
	int running;           /* past the barrier: requests may be sent */
	unsigned long pending; /* connects in flight */
	struct conn **retry;   /* connects to try again (unix backlog was full) */
	size_t nretry;
	uint64_t retry_at;
	unsigned long issued;  /* measured requests started (for -n) */
	unsigned long reserved; /* connections being made for one of the rest */
	unsigned long busy;    /* requests outstanding */
	unsigned long alive_active;
	uint64_t next_due;     /* open loop: intended time of the next request */
	uint64_t interval_ns;
	uint64_t requests;     /* measured and passed */
	uint64_t last_scan;
	size_t next_req;       /* HTTP: the next URL's request, round robin */
	int counted;           /* the requests in flight at the stop are counted */
	uint64_t quiet_since;  /* last answer, or when requests went out again */
	/* --interval: the interval being filled, its histogram and the slots
	 * used in it (so that a flush reads only those) */
	uint64_t iv_ns;
	size_t cur_k;
	struct hist *cur;
	size_t cur_lo, cur_hi;
	uint64_t cur_requests, cur_errors;
	int cur_used;
	int oom;
};

static void set_fail(struct worker *w, const char *what, int e)
{
	snprintf(w->fail, sizeof w->fail, "%s: %s", what, strerror(e));
}

/* ---- the interval series (--interval) ----------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 16;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * size);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

/* Moves the interval being filled into the worker's series, sparse. */
static void iv_flush(struct loop *L)
{
	struct series *s = &L->w->series;
	if (!L->cur_used)
		return;
	size_t k = L->cur_k;
	if (grow((void **)&s->iv, &s->ivcap, k + 1, sizeof *s->iv) < 0) {
		L->oom = 1;
		return;
	}
	for (; s->niv <= k; s->niv++)
		memset(&s->iv[s->niv], 0, sizeof s->iv[0]);
	struct interval *iv = &s->iv[k];
	iv->requests = L->cur_requests;
	iv->errors = L->cur_errors;
	iv->max = L->cur->count ? L->cur->max : 0;
	iv->first = s->nslots;
	iv->n = 0;
	if (L->cur->count) {
		for (size_t i = L->cur_lo; i <= L->cur_hi; i++) {
			uint64_t c = L->cur->counts[i];
			if (!c)
				continue;
			if (grow((void **)&s->slots, &s->slotcap, s->nslots + 1,
			         sizeof *s->slots) < 0) {
				L->oom = 1;
				break;
			}
			s->slots[s->nslots].slot = (uint32_t)i;
			s->slots[s->nslots].count = (uint32_t)c;
			s->nslots++;
			iv->n++;
			L->cur->counts[i] = 0;
		}
	}
	L->cur->count = 0;
	L->cur->min = UINT64_MAX;
	L->cur->max = 0;
	L->cur_requests = L->cur_errors = 0;
	L->cur_lo = HIST_LEN;
	L->cur_hi = 0;
	L->cur_used = 0;
}

/* The interval now falls in, after flushing the one before; 0, or -1
 * when there is no series or now is outside the measured time. */
static int iv_at(struct loop *L, uint64_t now)
{
	if (!L->iv_ns || now < g_run.measure_ns || now >= g_run.end_ns)
		return -1;
	size_t k = (size_t)((now - g_run.measure_ns) / L->iv_ns);
	if (k != L->cur_k) {
		iv_flush(L);
		L->cur_k = k;
	}
	L->cur_used = 1;
	return 0;
}

static void iv_answer(struct loop *L, uint64_t now, uint64_t us)
{
	if (iv_at(L, now) < 0)
		return;
	hist_record(L->cur, us);
	size_t i = hist_index(us);
	if (i < L->cur_lo)
		L->cur_lo = i;
	if (i > L->cur_hi)
		L->cur_hi = i;
	L->cur_requests++;
}

/* ---- stalls: the longest time no answer came while requests were out --- */

static void stall_end(struct loop *L, uint64_t now)
{
	uint64_t from = L->quiet_since > g_run.measure_ns ? L->quiet_since : g_run.measure_ns;
	uint64_t to = now < g_run.end_ns ? now : g_run.end_ns;
	if (now < g_run.measure_ns)
		return;
	L->w->stall_seen = 1;
	if (to > from && to - from > L->w->stall_ns)
		L->w->stall_ns = to - from;
}

static void count_error(struct loop *L, struct conn *c, enum err_kind k)
{
	if (c->active) {
		L->w->errors[k]++;
		if (L->iv_ns && L->running && iv_at(L, px_now_ns()) == 0)
			L->cur_errors++;
	} else {
		L->w->idle_errors[k]++;
	}
}

static void warn_errno_once(int e)
{
	if (e == EMFILE || e == ENFILE) {
		if (atomic_exchange(&g_run.warned_emfile, 1))
			return;
		struct rlimit rl;
		getrlimit(RLIMIT_NOFILE, &rl);
		fprintf(stderr, "pollux-load: out of file descriptors (%s): RLIMIT_NOFILE "
		        "is %llu (hard %llu); raise it with 'ulimit -n' or limits.conf%s, "
		        "or use fewer connections\n",
		        e == EMFILE ? "EMFILE" : "ENFILE system-wide",
		        (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
		        e == ENFILE ? " and fs.file-max" : "");
	} else if (e == EAGAIN) {
		if (atomic_exchange(&g_run.warned_eagain, 1))
			return;
		fprintf(stderr, "pollux-load: the server's listen backlog is full (EAGAIN "
		        "on a unix socket): lower --connect-rate or raise the backlog\n");
	} else if (e == EADDRNOTAVAIL) {
		if (atomic_exchange(&g_run.warned_addrnotavail, 1))
			return;
		fprintf(stderr, "pollux-load: no free local port (EADDRNOTAVAIL): spread "
		        "connections over more source addresses with --source "
		        "127.0.0.2-127.0.0.N or widen net.ipv4.ip_local_port_range\n");
	}
}

static void unreserve(struct loop *L, struct conn *c)
{
	if (c->reserved) {
		c->reserved = 0;
		L->reserved--;
	}
}

/* Forgets the socket; the slot may be reconnected later. */
static void drop(struct loop *L, struct conn *c)
{
	unreserve(L, c);
	if (c->fd >= 0) {
		pollux_del(L->w->poller, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	if (c->state == C_CONNECTING)
		L->pending--;
	if (c->state == C_BUSY && --L->busy == 0 && L->running)
		stall_end(L, px_now_ns()); /* nothing is outstanding any more */
	if (c->state == C_READY || c->state == C_BUSY)
		atomic_fetch_sub_explicit(&L->w->live_open, 1, memory_order_relaxed);
	if (c->in_free) {
		/* remove from the free list (rare: only on errors) */
		for (size_t i = 0; i < L->w->nfree; i++)
			if (L->w->free_list[i] == c) {
				L->w->free_list[i] = L->w->free_list[--L->w->nfree];
				break;
			}
		c->in_free = 0;
	}
	c->state = C_DEAD;
	c->want_out = 0;
}

static void start_connect(struct loop *L, struct conn *c);

/* May this loop start another measured request? */
static int may_issue(const struct loop *L, uint64_t now)
{
	if (atomic_load_explicit(&g_run.stop, memory_order_relaxed) || now >= g_run.end_ns)
		return 0;
	return L->cfg->requests == 0 || now < g_run.measure_ns ||
	       L->issued + L->reserved < L->w->quota;
}

/* A new connection in place of c's, for the next request. With -n in a
 * closed loop it holds one of the requests left, so that two connections
 * reconnecting at once for the last one do not both connect (with
 * --new-connection that was one connection too many). */
static void reconnect_conn(struct loop *L, struct conn *c)
{
	if (L->cfg->requests && L->cfg->rate == 0) {
		c->reserved = 1;
		L->reserved++;
	}
	start_connect(L, c);
	if (c->state != C_CONNECTING)
		unreserve(L, c); /* failed at once, or waits for a retry */
}

/* A connection is lost for good, or (when reconnect) replaced by a new one. */
static void fail(struct loop *L, struct conn *c, enum err_kind k, int reconnect)
{
	count_error(L, c, k);
	int was_connected = c->state == C_READY || c->state == C_BUSY;
	drop(L, c);
	/* replace it only while there are requests left for it to make */
	if (reconnect && was_connected && c->active && L->running &&
	    may_issue(L, px_now_ns()))
		reconnect_conn(L, c);
	else if (c->active)
		L->alive_active--;
}

static void start_connect(struct loop *L, struct conn *c)
{
	const struct config *cfg = L->cfg;
	int fam = cfg->addr.ss_family;
	int fd = socket(fam, SOCK_STREAM, 0);
	if (fd < 0) {
		int e = errno;
		warn_errno_once(e);
		count_error(L, c, err_from_errno(e));
		if (c->active)
			L->alive_active--;
		return;
	}
	px_set_nonblock(fd);
	px_set_cloexec(fd);
	if (fam != AF_UNIX) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	if (cfg->nsources) {
		const struct sockaddr_storage *src = &cfg->sources[c->index % cfg->nsources];
#if HAVE_DECL_IP_BIND_ADDRESS_NO_PORT
		/* Let connect() pick the port per 4-tuple, not bind() per address,
		 * so each source address gets its own full port range. */
		int one = 1;
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
		socklen_t sl = src->ss_family == AF_INET ? sizeof(struct sockaddr_in)
		                                         : sizeof(struct sockaddr_in6);
		if (bind(fd, (const struct sockaddr *)src, sl) < 0) {
			int e = errno;
			close(fd);
			/* From bind, EADDRNOTAVAIL means the address is not this
			 * machine's (ports run out in connect, or as EADDRINUSE). */
			if (e == EADDRNOTAVAIL) {
				if (!atomic_exchange(&g_run.warned_addrnotavail, 1))
					fprintf(stderr, "pollux-load: cannot bind a --source "
					        "address (EADDRNOTAVAIL): not an address of "
					        "this machine\n");
			} else {
				warn_errno_once(e);
			}
			count_error(L, c, err_from_errno(e));
			if (c->active)
				L->alive_active--;
			return;
		}
	}
	c->fd = fd;
	c->state = C_CONNECTING;
	c->connect_ns = px_now_ns();
	c->deadline_ns = c->connect_ns + (uint64_t)(cfg->timeout_s * 1e9);
	L->pending++;
	int rc = connect(fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen);
	/* EAGAIN from a unix socket means its backlog is full and nothing is
	 * in progress, unlike TCP's EINPROGRESS: try again shortly, and count
	 * it only when --timeout runs out. */
	if (rc < 0 && errno == EAGAIN && fam == AF_UNIX) {
		uint64_t now = px_now_ns();
		if (!c->retry_until)
			c->retry_until = now + (uint64_t)(cfg->timeout_s * 1e9);
		if (now < c->retry_until) {
			drop(L, c);
			L->retry[L->nretry++] = c;
			L->retry_at = now + 1000000;
			return;
		}
	}
	/* POSIX: a connect interrupted by a signal goes on asynchronously,
	 * like one in progress (SIGINT/SIGTERM have no SA_RESTART here). */
	if (rc < 0 && errno != EINPROGRESS && errno != EINTR) {
		int e = errno;
		c->retry_until = 0;
		warn_errno_once(e);
		fail(L, c, e == EAGAIN ? E_EAGAIN : err_from_errno(e), 0);
		return;
	}
	/* unix sockets may connect at once; the writable event says so anyway */
	if (pollux_add(L->w->poller, fd, POLLUX_OUT, c) < 0) {
		int e = errno;
		set_fail(L->w, "pollux_add", e);
		fail(L, c, err_from_errno(e), 0);
	}
}

static void fill_payload(struct conn *c, size_t n)
{
	uint32_t x = c->rng;
	for (size_t i = 0; i < n; i++) {
		if ((i & 3) == 0) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
		}
		c->payload[i] = (unsigned char)(x >> ((i & 3) * 8));
	}
	c->rng = x;
}

static size_t request_len(const struct loop *L, const struct conn *c)
{
	return L->cfg->proto == PROTO_HTTP ? L->cfg->req_lens[c->req] : L->cfg->size;
}

static void set_out(struct loop *L, struct conn *c, int on)
{
	if (c->want_out == on)
		return;
	c->want_out = (unsigned char)on;
	pollux_mod(L->w->poller, c->fd, POLLUX_IN | (on ? POLLUX_OUT : 0), c);
}

/* Writes what is left of the request; 0, or -1 when the conn was failed. */
static int push(struct loop *L, struct conn *c)
{
	const void *base = L->cfg->proto == PROTO_HTTP ? (const void *)L->cfg->reqs[c->req]
	                                                : (const void *)c->payload;
	size_t len = request_len(L, c);
	while (c->sent < len) {
		ssize_t n = send(c->fd, (const char *)base + c->sent, len - c->sent,
		                 MSG_NOSIGNAL);
		if (n > 0) {
			c->sent += (size_t)n;
			L->w->bytes_sent += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			set_out(L, c, 1);
			return 0;
		}
		fail(L, c, n < 0 ? err_from_errno(errno) : E_RESET, 1);
		return -1;
	}
	set_out(L, c, 0);
	return 0;
}

static void send_request(struct loop *L, struct conn *c, uint64_t intended,
                         uint64_t now)
{
	c->state = C_BUSY;
	if (L->busy++ == 0)
		L->quiet_since = now;
	c->sent = c->got = 0;
	c->intended_ns = intended;
	c->sent_ns = now;
	c->deadline_ns = now + (uint64_t)(L->cfg->timeout_s * 1e9);
	if (intended >= g_run.measure_ns)
		L->issued++;
	if (L->cfg->proto == PROTO_HTTP) {
		http_init(&c->hp);
		/* A HEAD answer announces a body it does not send. */
		c->hp.head = strcmp(L->cfg->method, "HEAD") == 0;
		c->req = L->next_req++ % L->cfg->nurls;
	} else
		fill_payload(c, L->cfg->size);
	push(L, c);
}

static void make_free(struct loop *L, struct conn *c)
{
	c->in_free = 1;
	L->w->free_list[L->w->nfree++] = c;
}

/* The connection can take a request: send at once (closed loop) or wait
 * for the schedule (open loop). */
static void ready(struct loop *L, struct conn *c, uint64_t now)
{
	c->state = C_READY;
	if (!c->active || !L->running)
		return;
	if (L->cfg->rate > 0)
		make_free(L, c);
	else if (may_issue(L, now))
		/* --new-connection: each request costs its connect, which is
		 * part of its latency (not for those connected before the run) */
		send_request(L, c, L->cfg->new_conn && c->connect_ns >= g_run.start_ns
		                   ? c->connect_ns : now, now);
}

static void connected(struct loop *L, struct conn *c, uint64_t now)
{
	L->pending--;
	c->retry_until = 0;
	unreserve(L, c);
	atomic_fetch_add_explicit(&L->w->live_open, 1, memory_order_relaxed);
	c->want_out = 0;
	pollux_mod(L->w->poller, c->fd, POLLUX_IN, c);
	if (!L->running)
		L->w->connected++;
	ready(L, c, now);
}

/* A complete answer: record it when it passed its check and was measured,
 * then go on with the same connection if the server keeps it open. A
 * well-formed non-2xx answer is an error but leaves the connection usable. */
static void finish_request(struct loop *L, struct conn *c, int keep_alive, int ok)
{
	uint64_t now = px_now_ns();
	struct worker *w = L->w;
	stall_end(L, now);
	L->quiet_since = now;
	L->busy--;
	if (!ok) {
		count_error(L, c, E_HTTP_STATUS);
		if (c->active)
			w->http_status[c->hp.status > 0 && c->hp.status < N_STATUS
			               ? c->hp.status : 0]++;
	} else if (c->intended_ns >= g_run.measure_ns && c->intended_ns < g_run.end_ns) {
		/* Every answer to a request of the measured time is a latency,
		 * also one that came after the end (see drain()); only those
		 * inside it count as requests, which are per second of it. */
		hist_record(w->lat, (now - c->intended_ns) / 1000);
		if (w->lat_unc)
			hist_record(w->lat_unc, (now - c->sent_ns) / 1000);
		if (now < g_run.end_ns) {
			w->last_done_ns = now;
			L->requests++;
			iv_answer(L, now, (now - c->intended_ns) / 1000);
		} else if (!L->counted) {
			/* answered after the end, in the wait that ran past it,
			 * before run_phase counted what was in flight */
			w->in_flight++;
		}
	}
	if (!keep_alive || L->cfg->new_conn) {
		/* The server ends the connection after this answer (nginx does
		 * every keepalive_requests): open another, not an error. */
		c->state = C_READY;
		drop(L, c);
		if (may_issue(L, now))
			reconnect_conn(L, c);
		else
			L->alive_active--; /* nothing left for it to do */
		return;
	}
	ready(L, c, now);
}

/* Answer bytes for an echo request: check each one against what was sent. */
static void echo_input(struct loop *L, struct conn *c, const char *b, size_t n)
{
	size_t want = L->cfg->size - c->got;
	size_t k = n < want ? n : want;
	if (memcmp(b, c->payload + c->got, k) != 0) {
		fail(L, c, E_MISMATCH, 1);
		return;
	}
	c->got += k;
	if (n > k) {
		fail(L, c, E_MALFORMED, 1); /* more than was sent */
		return;
	}
	if (c->got == L->cfg->size && c->sent == L->cfg->size)
		finish_request(L, c, 1, 1);
}

static void http_input(struct loop *L, struct conn *c, const char *b, size_t n)
{
	size_t used;
	c->got += n;
	enum http_result r = http_feed(&c->hp, b, n, &used);
	if (r == HTTP_BAD || (r == HTTP_DONE && used < n)) {
		fail(L, c, E_MALFORMED, 1);
		return;
	}
	if (r == HTTP_DONE) {
		finish_request(L, c, c->hp.keep_alive,
		               c->hp.status >= 200 && c->hp.status <= 299);
	}
}

static void on_readable(struct loop *L, struct conn *c)
{
	ssize_t n = recv(c->fd, L->buf, READ_BUF, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		fail(L, c, err_from_errno(errno), 1);
		return;
	}
	if (n > 0)
		L->w->bytes_received += (uint64_t)n;
	if (c->state != C_BUSY) {
		if (n > 0) {
			fail(L, c, E_MALFORMED, 1); /* data nobody asked for */
		} else if (c->active && L->running) {
			/* The server closed a keep-alive connection between requests
			 * (its idle timeout): no request was lost; reconnect. */
			drop(L, c);
			if (may_issue(L, px_now_ns()))
				reconnect_conn(L, c);
			else
				L->alive_active--;
		} else {
			fail(L, c, E_CLOSED, 0); /* an idle connection was dropped */
		}
		return;
	}
	if (n == 0) {
		if (L->cfg->proto == PROTO_HTTP && http_eof(&c->hp) == HTTP_DONE) {
			finish_request(L, c, 0, c->hp.status >= 200 && c->hp.status <= 299);
			return;
		}
		fail(L, c, c->got ? E_SHORT : E_CLOSED, 1);
		return;
	}
	if (L->cfg->proto == PROTO_HTTP)
		http_input(L, c, L->buf, (size_t)n);
	else
		echo_input(L, c, L->buf, (size_t)n);
}

static void on_event(struct loop *L, struct conn *c, unsigned ev)
{
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			warn_errno_once(err);
			fail(L, c, err_from_errno(err), 0);
		} else if (ev & (POLLUX_OUT | POLLUX_ERR | POLLUX_HUP)) {
			connected(L, c, px_now_ns());
		}
		return;
	}
	if (c->state == C_DEAD)
		return;
	if (ev & (POLLUX_IN | POLLUX_ERR | POLLUX_HUP)) {
		on_readable(L, c);
		if (c->state != C_BUSY || c->fd < 0)
			return;
	}
	if ((ev & POLLUX_OUT) && c->state == C_BUSY && c->want_out)
		push(L, c);
}

static void scan_deadlines(struct loop *L, uint64_t now)
{
	struct worker *w = L->w;
	for (unsigned long i = 0; i < w->nconn; i++) {
		struct conn *c = &w->conns[i];
		if ((c->state == C_BUSY || c->state == C_CONNECTING) && now >= c->deadline_ns)
			fail(L, c, E_TIMEOUT, c->state == C_BUSY);
	}
}

/* Open loop: hand every request whose time has come to a free connection;
 * those that find none wait, and their latency keeps counting. How late
 * each measured one goes out (the tool's own wake-up delay, plus any wait
 * for a free connection) is recorded: a generator that falls behind its
 * schedule sends a gentler load than asked and understates latency. */
static void dispatch(struct loop *L, uint64_t now)
{
	struct worker *w = L->w;
	while (L->next_due <= now && w->nfree > 0 && may_issue(L, L->next_due)) {
		struct conn *c = w->free_list[--w->nfree];
		c->in_free = 0;
		/* read the clock per request: those sent after it in one pass
		 * are later by the sends before them */
		uint64_t t = px_now_ns();
		if (L->next_due >= g_run.measure_ns && L->next_due < g_run.end_ns)
			hist_record(w->late, t - L->next_due);
		send_request(L, c, L->next_due, t);
		L->next_due += L->interval_ns;
	}
}

/* Waits for events until `until` at the latest (and the next deadline
 * scan). The timeout is in nanoseconds, from a fresh clock reading, so
 * that the open loop wakes at a request's due time itself on every
 * backend, not at the next whole millisecond after it. */
static int wait_events(struct loop *L, struct pollux_event *ev, uint64_t until)
{
	uint64_t wake = until;
	if (L->last_scan + SCAN_NS < wake)
		wake = L->last_scan + SCAN_NS;
	uint64_t now = px_now_ns();
	long long ns = wake > now ? (long long)(wake - now) : 0;
	int n = pollux_wait_ns(L->w->poller, ev, MAX_EVENTS, ns);
	if (n < 0 && errno != EINTR) {
		set_fail(L->w, "pollux_wait_ns", errno);
		atomic_store(&g_run.stop, 1);
		return -1;
	}
	if (n < 0)
		n = 0;
	for (int i = 0; i < n; i++)
		on_event(L, ev[i].data, ev[i].events);
	return n;
}

static void publish(struct loop *L)
{
	struct worker *w = L->w;
	uint64_t e = 0;
	for (int k = 0; k < E_NKINDS; k++)
		e += w->errors[k] + w->idle_errors[k];
	atomic_store_explicit(&w->live_requests, (unsigned long)L->requests,
	                      memory_order_relaxed);
	atomic_store_explicit(&w->live_errors, (unsigned long)e, memory_order_relaxed);
}

/* Deadlines are checked (and the progress figures published) every
 * SCAN_NS, not on every wake-up: a scan walks every connection. */
static void scan_if_due(struct loop *L)
{
	uint64_t now = px_now_ns();
	if (now >= L->last_scan + SCAN_NS) {
		scan_deadlines(L, now);
		L->last_scan = now;
		publish(L);
	}
}

/* Connects that met a full unix backlog, once their pause is over. */
static void retry_connects(struct loop *L, uint64_t now)
{
	if (!L->nretry || now < L->retry_at)
		return;
	size_t n = L->nretry;
	L->nretry = 0;
	for (size_t i = 0; i < n; i++) {
		if (L->pending >= MAX_PENDING) {
			L->retry[L->nretry++] = L->retry[i]; /* keep the rest for later */
			continue;
		}
		start_connect(L, L->retry[i]);
	}
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void connect_phase(struct loop *L, struct pollux_event *ev)
{
	struct worker *w = L->w;
	const struct config *cfg = L->cfg;
	double per_thread = cfg->connect_rate > 0 ? cfg->connect_rate / (double)cfg->threads : 0;
	uint64_t t0 = px_now_ns();
	unsigned long next = 0;
	while (!atomic_load(&g_run.stop)) {
		uint64_t now = px_now_ns();
		unsigned long allowed = w->nconn;
		if (per_thread > 0) {
			double a = (double)(now - t0) / 1e9 * per_thread + 1;
			allowed = a < (double)w->nconn ? (unsigned long)a : w->nconn;
		}
		retry_connects(L, now);
		while (next < allowed && L->pending < MAX_PENDING)
			start_connect(L, &w->conns[next++]);
		if (next == w->nconn && L->pending == 0 && L->nretry == 0)
			break;
		uint64_t until = UINT64_MAX;
		if (per_thread > 0 && next < w->nconn && L->pending < MAX_PENDING) {
			/* in double: a slow rate over many connections is past 2^64 ns */
			double at = (double)t0 + (double)allowed / per_thread * 1e9;
			until = at < 1.8e19 ? (uint64_t)at : UINT64_MAX;
		}
		if (L->nretry)
			until = min_u64(until, L->retry_at);
		if (wait_events(L, ev, until) < 0)
			return;
		scan_if_due(L);
	}
}

/* The clock ran out with requests still waiting for their answer: wait
 * for them, each until its --timeout deadline, so that a server that has
 * stopped answering is counted as failing, not hidden by the end of the
 * run (a run shorter than --timeout against a silent server would
 * otherwise report no error at all). Nothing new is sent meanwhile. */
static void drain(struct loop *L, struct pollux_event *ev)
{
	/* After SIGINT/SIGTERM the answers still get a short grace, so that
	 * stopping a healthy run does not leave the few in flight unanswered;
	 * those still owed after it make the run fail (see main). */
	uint64_t cut = UINT64_MAX;
	while (L->busy > 0) {
		if (atomic_load(&g_run.stop)) {
			if (cut == UINT64_MAX)
				cut = px_now_ns() + STOP_GRACE_NS;
			else if (px_now_ns() >= cut)
				break;
		}
		if (wait_events(L, ev, UINT64_MAX) < 0)
			break;
		scan_if_due(L);
	}
	L->w->unanswered = L->busy;
}

static void run_phase(struct loop *L, struct pollux_event *ev)
{
	struct worker *w = L->w;
	const struct config *cfg = L->cfg;
	uint64_t now = px_now_ns();
	if (cfg->rate > 0 && w->rate > 0) {
		/* --rate is at least 0.001/s, so this is at most about 1e16 ns
		 * per thread; the clamp only keeps the conversion defined. */
		double iv = 1e9 / w->rate;
		L->interval_ns = iv < 1 ? 1 : iv > 1e17 ? (uint64_t)1e17 : (uint64_t)iv;
		/* stagger the threads' schedules inside one interval */
		L->next_due = g_run.start_ns +
		              (uint64_t)((double)L->interval_ns * (double)w->id / (double)cfg->threads);
	} else {
		L->next_due = UINT64_MAX;
	}
	for (unsigned long i = 0; i < w->nconn; i++)
		if (w->conns[i].state == C_READY)
			ready(L, &w->conns[i], now);
	int done = 0;
	for (;;) {
		now = px_now_ns();
		if (atomic_load(&g_run.stop) || now >= g_run.end_ns)
			break;
		/* A thread out of work keeps its idle connections open until every
		 * thread is out of work, so the server's descriptor count holds. */
		if (!done && (L->alive_active == 0 ||
		              (cfg->requests && L->issued >= w->quota && L->busy == 0))) {
			done = 1;
			atomic_fetch_sub(&g_run.undone, 1);
		}
		if (atomic_load(&g_run.undone) == 0 && (cfg->requests || cfg->active > 0))
			break;
		retry_connects(L, now);
		if (cfg->rate > 0)
			dispatch(L, now);
		uint64_t until = g_run.end_ns;
		if (cfg->rate > 0 && w->nfree > 0 && L->next_due < until)
			until = L->next_due;
		if (L->nretry)
			until = min_u64(until, L->retry_at);
		if (wait_events(L, ev, until) < 0)
			break;
		scan_if_due(L);
	}
	if (!done)
		atomic_fetch_sub(&g_run.undone, 1);
	w->stopped_ns = now < g_run.end_ns ? now : g_run.end_ns;
	/* Open loop: the loop may wake after the end with requests due before
	 * it and connections free for them (it slept until the end, or woke
	 * late): send them now, late (their lateness says so), rather than
	 * count them as refused a connection. */
	if (cfg->rate > 0 && !atomic_load(&g_run.stop) && g_run.end_ns != UINT64_MAX)
		dispatch(L, g_run.end_ns - 1);
	/* Requests of the measured time still unanswered when the clock
	 * stopped: their answers come in the drain (into the latency
	 * figures, not into requests), so requests + unsent + in_flight is
	 * the schedule of an open loop (errors aside). */
	for (unsigned long i = 0; i < w->nconn; i++) {
		const struct conn *c = &w->conns[i];
		if (c->state == C_BUSY && c->intended_ns >= g_run.measure_ns &&
		    c->intended_ns < g_run.end_ns)
			w->in_flight++;
	}
	L->counted = 1;
	if (L->busy > 0)
		stall_end(L, w->stopped_ns);
	/* Open loop: requests whose time came in the measured time but that
	 * found no free connection were never sent: count every due time in
	 * [measure, stop), not just drop them. */
	if (cfg->rate > 0 && L->interval_ns && L->next_due < w->stopped_ns) {
		uint64_t first = L->next_due, iv = L->interval_ns;
		if (first < g_run.measure_ns)
			first += (g_run.measure_ns - first + iv - 1) / iv * iv;
		if (first < w->stopped_ns)
			w->unsent = (w->stopped_ns - 1 - first) / iv + 1;
		/* -n: only what was left of the quota was ever due */
		if (cfg->requests && w->unsent > w->quota - L->issued)
			w->unsent = w->quota - L->issued;
	}
	drain(L, ev);
	iv_flush(L);
}

void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct config *cfg = w->cfg;
	struct loop L = { .w = w, .cfg = cfg };
#ifdef PR_SET_TIMERSLACK
	/* Linux ends a wait's timeout up to the thread's timer slack late
	 * (50 us by default) to merge wake-ups; an open loop wants its due
	 * times, so it asks for the least slack there is (0 means default). */
	if (cfg->rate > 0)
		(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
#endif
	struct pollux_event *ev = calloc(MAX_EVENTS, sizeof *ev);
	L.buf = malloc(READ_BUF);
	L.retry = calloc(w->nconn ? w->nconn : 1, sizeof *L.retry);
	w->conns = calloc(w->nconn ? w->nconn : 1, sizeof *w->conns);
	w->free_list = calloc(w->nconn ? w->nconn : 1, sizeof *w->free_list);
	unsigned char *payloads = NULL;
	if (cfg->proto == PROTO_ECHO && w->nactive)
		payloads = malloc(w->nactive * cfg->size);
	if (cfg->interval_s > 0) {
		L.iv_ns = (uint64_t)(cfg->interval_s * 1e9);
		L.cur = malloc(sizeof *L.cur);
		if (L.cur)
			hist_init(L.cur);
		L.cur_lo = HIST_LEN;
	}
	w->poller = pollux_new(cfg->backend);
	if (!w->poller)
		set_fail(w, "cannot create the poller", errno);
	else if (!ev || !L.buf || !L.retry || !w->conns || !w->free_list ||
	         (cfg->proto == PROTO_ECHO && w->nactive && !payloads) ||
	         (L.iv_ns && !L.cur))
		set_fail(w, "out of memory", ENOMEM);
	else
		snprintf(w->backend_name, sizeof w->backend_name, "%s",
		         pollux_backend(w->poller));

	if (!w->fail[0]) {
		for (unsigned long i = 0; i < w->nconn; i++) {
			struct conn *c = &w->conns[i];
			c->fd = -1;
			c->index = w->first_index + i;
			c->active = i < w->nactive;
			c->rng = (uint32_t)(c->index * 2654435761u) ^ 0x9e3779b9u;
			if (!c->rng)
				c->rng = 1;
			if (c->active && payloads)
				c->payload = payloads + i * cfg->size;
		}
		L.alive_active = w->nactive;
		L.last_scan = px_now_ns();
		connect_phase(&L, ev);
		/* dead active connections are already off alive_active */
	}
	publish(&L);

	/* Every thread waits here, failed or not, so none is left behind. */
	if (pthread_barrier_wait(&g_run.barrier) == PTHREAD_BARRIER_SERIAL_THREAD) {
		/* One of several processes: the run starts when every process
		 * has connected, so all measure over the same interval. */
		if (g_run.ready_fd >= 0)
			proc_wait_start();
		g_run.start_ns = px_now_ns();
		g_run.measure_ns = g_run.start_ns + (uint64_t)(cfg->warmup_s * 1e9);
		g_run.end_ns = cfg->requests ? UINT64_MAX
		                             : g_run.measure_ns + (uint64_t)(cfg->duration_s * 1e9);
	}
	pthread_barrier_wait(&g_run.barrier);

	w->stopped_ns = g_run.start_ns;
	if (!w->fail[0]) {
		L.running = 1;
		run_phase(&L, ev);
	}
	publish(&L);
	w->requests_done = L.requests;
	if (L.oom && !w->fail[0])
		set_fail(w, "the interval series", ENOMEM);
	free(L.cur);

	if (w->conns)
		for (unsigned long i = 0; i < w->nconn; i++)
			if (w->conns[i].fd >= 0) {
				pollux_del(w->poller, w->conns[i].fd);
				close(w->conns[i].fd);
			}
	pollux_free(w->poller);
	w->poller = NULL;
	free(payloads);
	free(w->conns);
	w->conns = NULL;
	free(w->free_list);
	w->free_list = NULL;
	free(L.buf);
	free(L.retry);
	free(ev);
	atomic_fetch_add(&g_run.finished, 1);
	return NULL;
}
