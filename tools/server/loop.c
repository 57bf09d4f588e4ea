/* loop.c: one worker's event loop: the poller, accepting (bounded, with a
 * spare descriptor for EMFILE), idle, linger and /delay expiry, the signal
 * pipe, graceful stop and periodic statistics; models.c reuses the pieces. */
#include "toolconfig.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 512
/* Accepts per listener per wakeup: enough to drain a burst, bounded so a
 * connection flood cannot starve the clients already held. */
#define ACCEPT_BATCH 128
/* When accept cannot proceed (no spare fd, no memory), stop listening this
 * long instead of spinning on a listener that stays readable. */
#define ACCEPT_PAUSE_NS (100000000ull)
#define STOP_FLUSH_NS (1000000000ull)

static struct server *sig_server;
_Atomic int stop_requested;
_Atomic int stop_shutdown_fd = -1;

static void on_signal(int sig)
{
	int e = errno;
	unsigned char b = (unsigned char)sig;
	if (sig == SIGINT || sig == SIGTERM) {
		atomic_store(&stop_requested, 1);
		/* A blocking model's client: wake its recv (shutdown(2) is
		 * async-signal-safe); what it still has to send goes out. */
		int fd = atomic_load(&stop_shutdown_fd);
		if (fd >= 0)
			(void)shutdown(fd, SHUT_RD);
	}
	if (sig_server)
		(void)!write(sig_server->sigpipe[1], &b, 1);
	errno = e;
}

/* SIGPIPE ignored (every send also says MSG_NOSIGNAL); SIGINT and SIGTERM
 * only write a byte into a pipe that every worker polls like a socket. */
void server_signals(struct server *s)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sig_server = s;
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* A fork child: signals only stop it; the pipe is the parent's. */
void server_signals_child(void)
{
	sig_server = NULL;
	signal(SIGCHLD, SIG_DFL);
}

/* The fork model's parent: a child's end wakes it through the pipe too. */
void server_signal_chld(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
}

/* The pipe the SIGINT/SIGTERM handler writes into: non-blocking (a full
 * pipe must not block a handler) and closed on exec. */
int server_sigpipe(struct server *s)
{
#ifdef HAVE_PIPE2
	return pipe2(s->sigpipe, O_NONBLOCK | O_CLOEXEC);
#else
	if (pipe(s->sigpipe) < 0)
		return -1;
	for (int i = 0; i < 2; i++)
		if (px_set_nonblock(s->sigpipe[i]) < 0 || px_set_cloexec(s->sigpipe[i]) < 0) {
			close(s->sigpipe[0]);
			close(s->sigpipe[1]);
			return -1;
		}
	return 0;
#endif
}

static int open_spare(void)
{
	return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* A worker without poller or listeners: what a connection thread or process
 * of the blocking models serves its one client with. */
int worker_init_plain(struct worker *w, struct server *s)
{
	memset(w, 0, sizeof *w);
	w->srv = s;
	w->spare_fd = -1;
	w->sigobj.kind = OBJ_SIGNAL;
	w->rbuf_size = s->opt.header_limit + 1 > 65536 ? s->opt.header_limit + 1 : 65536;
	w->rbuf = malloc(w->rbuf_size);
	w->now_ns = px_now_ns();
	return w->rbuf ? 0 : -1;
}

int worker_init(struct worker *w, struct server *s, unsigned id)
{
	if (worker_init_plain(w, s) < 0)
		return -1;
	w->id = id;
	w->ls = calloc(s->nls, sizeof *w->ls);
	if (!w->ls)
		return -1;
	/* Only the event loop has a poller; the other models wait in recv,
	 * accept or nowhere at all. */
	if (s->opt.model == MODEL_LOOP && !(w->p = pollux_new(s->opt.backend)))
		return -1;
	w->nls = s->nls;
	for (size_t i = 0; i < w->nls; i++)
		w->ls[i].fd = -1;
	w->spare_fd = open_spare();
	w->now_ns = px_now_ns();
	if (s->opt.stats_ns && id == 0)
		w->next_stats_ns = w->now_ns + s->opt.stats_ns;
	return 0;
}

void worker_free(struct worker *w)
{
	while (w->active.head)
		conn_close(w, w->active.head);
	while (w->linger.head)
		conn_close(w, w->linger.head);
	while (w->heap_n)
		conn_close(w, w->heap[0]);
	free(w->heap);
	w->heap = NULL;
	w->heap_cap = 0;
	for (size_t i = 0; w->ls && i < w->nls; i++) {
		if (w->ls[i].fd >= 0 && w->ls[i].registered)
			(void)pollux_del(w->p, w->ls[i].fd);
		if (w->ls[i].owned && w->ls[i].fd >= 0)
			close(w->ls[i].fd);
		w->ls[i].fd = -1;
	}
	if (w->p)
		pollux_free(w->p);
	if (w->spare_fd >= 0)
		close(w->spare_fd);
	free(w->ls);
	free(w->rbuf);
	w->p = NULL;
	w->ls = NULL;
	w->rbuf = NULL;
	w->spare_fd = -1;
}

/* Gives event loop k of loops its listening sockets: fds holds, for each
 * --listen, one per loop (its own, SO_REUSEPORT) or the same shared one. */
void worker_listeners(struct worker *w, struct server *s, const int *fds,
                      unsigned loops, unsigned k)
{
	for (size_t i = 0; i < s->nls; i++) {
		const struct listen_spec *ls = &s->ls[i];
		w->ls[i] = (struct listener){ OBJ_LISTENER, fds[i * loops + k], ls->shared_fd < 0,
		                              0, ls->ss.ss_family != AF_UNIX };
	}
}

static void listeners_pause(struct worker *w, int pause)
{
	for (size_t i = 0; i < w->nls; i++) {
		struct listener *l = &w->ls[i];
		if (l->fd < 0 || !w->p)
			continue;
		if (pause && l->registered) {
			(void)pollux_del(w->p, l->fd);
			l->registered = 0;
		} else if (!pause && !l->registered) {
			if (pollux_add(w->p, l->fd, POLLUX_IN, l) == 0)
				l->registered = 1;
			else
				STAT_ADD(&w->st, err[ERR_REGISTER], 1);
		}
	}
	w->accept_resume_ns = pause ? w->now_ns + ACCEPT_PAUSE_NS : 0;
}

/* Prints one line, at most one a second per kind (last), whichever thread
 * or worker asks: trouble that repeats per connection must not flood. */
void server_ratelimited(struct server *s, _Atomic uint64_t *last_ns, uint64_t now,
                        const char *fmt, ...)
{
	uint64_t last = atomic_load_explicit(last_ns, memory_order_relaxed);
	if (!s->opt.quiet && (last == 0 || (now > last && now - last >= 1000000000ull)) &&
	    atomic_compare_exchange_strong(last_ns, &last, now)) {
		va_list ap;
		va_start(ap, fmt);
		fputs(SERVER_NAME ": ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
}

/* Out of descriptors: free the spare, take the connection at the head of
 * the queue and close it, so the client gets an answer (EOF) and the
 * listener stops being readable instead of waking us forever. */
void worker_emfile(struct worker *w, struct listener *l, int err)
{
	STAT_ADD(&w->st, err[ERR_EMFILE], 1);
	struct server *s = w->srv;
	server_ratelimited(s, &s->emfile_msg_ns, w->now_ns,
	                   "out of file descriptors (%s): closing new connections at "
	                   "once; raise 'ulimit -n' or lower --max-conns", strerror(err));
	if (w->spare_fd >= 0) {
		close(w->spare_fd);
		w->spare_fd = -1;
		int fd = accept(l->fd, NULL, NULL);
		if (fd >= 0)
			close(fd);
		w->spare_fd = open_spare();
	}
	if (w->spare_fd < 0)
		listeners_pause(w, 1);
}

void worker_accept(struct worker *w, struct listener *l)
{
	struct server *s = w->srv;
	for (int i = 0; i < ACCEPT_BATCH && !w->accept_resume_ns; i++) {
#ifdef HAVE_ACCEPT4
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
		int fd = accept(l->fd, NULL, NULL);
		if (fd >= 0 && (px_set_nonblock(fd) < 0 || px_set_cloexec(fd) < 0)) {
			close(fd);
			STAT_ADD(&w->st, err[ERR_ACCEPT], 1);
			continue;
		}
#endif
		if (fd < 0) {
			int e = errno;
			if (e == EAGAIN || e == EWOULDBLOCK)
				return;
			if (e == EINTR || e == ECONNABORTED || e == EPROTO || e == EPERM) {
				STAT_ADD(&w->st, err[ERR_ACCEPT], 1);
				continue;
			}
			if (e == EMFILE || e == ENFILE) {
				worker_emfile(w, l, e);
				continue;
			}
			/* ENOBUFS, ENOMEM and the unexpected: back off. */
			STAT_ADD(&w->st, err[ERR_ACCEPT], 1);
			listeners_pause(w, 1);
			return;
		}
		long open_now = atomic_fetch_add_explicit(s->open, 1, memory_order_relaxed) + 1;
		if (s->opt.max_conns && (unsigned long)open_now > s->opt.max_conns) {
			atomic_fetch_sub_explicit(s->open, 1, memory_order_relaxed);
			STAT_ADD(&w->st, err[ERR_MAX_CONNS], 1);
			close(fd);
			continue;
		}
		/* Counted accepted next to open, not after conn_new's system
		 * call: with --processes the parent takes a killed worker's
		 * accepted - closed off the shared open count, which is right
		 * only if the two move together. */
		STAT_ADD(&w->st, accepted, 1);
		struct conn *c = conn_new(w, fd, l->is_tcp);
		if (!c) {
			STAT_ADD(&w->st, accepted, (uint64_t)-1);	/* never taken */
			atomic_fetch_sub_explicit(s->open, 1, memory_order_relaxed);
			STAT_ADD(&w->st, err[ERR_REGISTER], 1);
			close(fd);
			continue;
		}
		long peak = atomic_load_explicit(s->peak, memory_order_relaxed);
		while (open_now > peak &&
		       !atomic_compare_exchange_weak(s->peak, &peak, open_now))
			;
	}
}

/* Stop accepting; answer held /delay requests at once; finish pending
 * output for up to a second. */
void worker_stop(struct worker *w)
{
	if (w->stopping)
		return;
	w->stopping = 1;
	w->stop_deadline_ns = w->now_ns + STOP_FLUSH_NS;
	if (w->sig_registered) {
		(void)pollux_del(w->p, w->srv->sigpipe[0]);
		w->sig_registered = 0;
	}
	listeners_pause(w, 1);
	w->accept_resume_ns = 0;
	for (size_t i = 0; i < w->nls; i++)
		if (w->ls[i].owned && w->ls[i].fd >= 0) {
			close(w->ls[i].fd);
			w->ls[i].fd = -1;
		}
	struct conn *c = w->active.head;
	while (c) {
		struct conn *next = c->next;
		conn_stop(w, c);
		c = next;
	}
	timers_fire(w);
}

void worker_expire(struct worker *w)
{
	timers_fire(w);
	uint64_t idle = w->srv->opt.idle_ns;
	while (idle && w->active.head && w->active.head->last_ns + idle <= w->now_ns) {
		STAT_ADD(&w->st, err[ERR_IDLE], 1);
		conn_close(w, w->active.head);
	}
	while (w->linger.head && w->linger.head->last_ns + LINGER_NS <= w->now_ns)
		conn_close(w, w->linger.head);
	if (w->stopping && w->now_ns >= w->stop_deadline_ns) {
		while (w->active.head)
			conn_close(w, w->active.head);
		while (w->linger.head)
			conn_close(w, w->linger.head);
	}
	if (w->accept_resume_ns && w->now_ns >= w->accept_resume_ns && !w->stopping) {
		if (w->spare_fd < 0)
			w->spare_fd = open_spare();
		listeners_pause(w, 0);
	}
}

static void min_deadline(uint64_t *best, uint64_t t)
{
	if (t && (*best == 0 || t < *best))
		*best = t;
}

/* The wait timeout: until the earliest thing that must happen by time. */
static int wait_timeout(struct worker *w)
{
	uint64_t d = 0;
	if (w->srv->opt.idle_ns && w->active.head)
		min_deadline(&d, w->active.head->last_ns + w->srv->opt.idle_ns);
	if (w->linger.head)
		min_deadline(&d, w->linger.head->last_ns + LINGER_NS);
	if (w->stopping)
		min_deadline(&d, w->stop_deadline_ns);
	min_deadline(&d, w->accept_resume_ns);
	min_deadline(&d, timer_next(w));
	if (!w->stopping)
		min_deadline(&d, w->next_stats_ns);
	if (d == 0)
		return -1;
	if (d <= w->now_ns)
		return 0;
	uint64_t ms = (d - w->now_ns + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

void worker_periodic(struct worker *w)
{
	struct server *s = w->srv;
	if (w->id != 0 || !w->next_stats_ns || w->stopping || w->now_ns < w->next_stats_ns)
		return;
	w->next_stats_ns = w->now_ns + s->opt.stats_ns;
	struct stats_sum t;
	stats_collect(s, &t);
	if (s->opt.json) {
		stats_json(s->opt.json_out, &t);
		fputc('\n', s->opt.json_out);
		fflush(s->opt.json_out);
	}
	if (!s->opt.json || s->opt.json_out != stdout)
		stats_line(stdout, &t);
	fflush(stdout);
}

void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct server *s = w->srv;
	struct pollux_event ev[MAX_EVENTS];

	if (pollux_add(w->p, s->sigpipe[0], POLLUX_IN, &w->sigobj) == 0)
		w->sig_registered = 1;
	else
		STAT_ADD(&w->st, err[ERR_REGISTER], 1);
	listeners_pause(w, 0);

	for (;;) {
		if (w->stopping && !w->active.head && !w->linger.head && !w->heap_n)
			break;
		int timeout = wait_timeout(w);
		uint64_t t0 = px_now_ns();
		int n = pollux_wait(w->p, ev, MAX_EVENTS, timeout);
		w->now_ns = px_now_ns();
		STAT_ADD(&w->st, waits, 1);
		STAT_ADD(&w->st, wait_ns, w->now_ns - t0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, SERVER_NAME ": pollux_wait failed on backend %s: %s\n",
			        pollux_backend(w->p), strerror(errno));
			w->failed = 1;
			atomic_store(&s->failed, 1);
			(void)!write(s->sigpipe[1], "x", 1);
			worker_stop(w);
			while (w->active.head)
				conn_close(w, w->active.head);
			while (w->linger.head)
				conn_close(w, w->linger.head);
			break;
		}
		STAT_ADD(&w->st, events, n);
		int stop = 0;
		for (int i = 0; i < n; i++) {
			int kind = *(int *)ev[i].data;
			if (kind == OBJ_CONN)
				conn_event(w, ev[i].data, ev[i].events);
			else if (kind == OBJ_LISTENER)
				worker_accept(w, ev[i].data);
			else if (kind == OBJ_SIGNAL)
				stop = 1;	/* after the batch: it closes connections
						 * that later events may name */
		}
		if (stop)
			worker_stop(w);
		worker_expire(w);
		worker_periodic(w);
		atomic_store_explicit(&w->st.registered, (uint64_t)pollux_count(w->p),
		                      memory_order_relaxed);
	}
	atomic_store_explicit(&w->st.registered, (uint64_t)pollux_count(w->p),
	                      memory_order_relaxed);
	return NULL;
}

static void *thread_main(void *arg)
{
	return worker_run(arg);
}

/* Runs s's event loops, worker 0 on this thread and each other one on its
 * own, until all have stopped. -1 (said on stderr) if a thread could not
 * be started. */
int server_run_loops(struct server *s)
{
	for (unsigned i = 1; i < s->nworkers; i++) {
		int rc = pthread_create(&s->w[i].thread, NULL, thread_main, &s->w[i]);
		if (rc != 0) {
			fprintf(stderr, SERVER_NAME ": cannot start worker %u: %s\n", s->w[i].id,
			        strerror(rc));
			return -1;
		}
	}
	worker_run(&s->w[0]);
	for (unsigned i = 1; i < s->nworkers; i++)
		pthread_join(s->w[i].thread, NULL);
	return 0;
}
