/* models.c: the --model designs beside the event loop: iterative, a thread
 * per connection, a process per connection, and the busy loop. Each serves
 * its clients with conn.c's code; they differ only in who waits, and where. */
#include "toolconfig.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

/* A stopping server gives a blocked send this long to make progress, as the
 * event loop gives pending output a second; a blocked send therefore also
 * wakes this often to look for a stop. */
#define SEND_WAKE_NS (1000000000ull)
/* A /delay sleep looks for a stop this often. */
#define SLEEP_SLICE_NS (50000000ull)
/* How long a stopping fork parent waits for its children before SIGKILL. */
#define CHILD_GRACE_NS (3000000000ull)
/* Children at once without --max-conns: the shared statistics have a slot
 * per child, fixed at start because children map it from the fork on. */
#define FORK_SLOTS_DEFAULT 4096

/* threads: one connection thread; all are on s->sessions until joined. */
struct session {
	struct worker w;
	struct server *s;
	int fd, is_tcp;		/* fd: -1 once closed (under s->mx) */
	int done;		/* its counters are in s->retired (under s->mx) */
	pthread_t thread;
	struct session *next;
};

/* fork: one slot per live child, written only by that child (its counters)
 * and by the parent while the child is not alive (reset, folding). */
struct child_slot {
	_Atomic int used;
	pid_t pid;
	struct wstats st;
};

struct fork_shared {
	struct stats_shared sh;	/* the children reaped, peak, children alive */
	struct wstats main;	/* the parent's accept counters, published */
	size_t nslots;
	struct child_slot slot[];
};

/* The fork child's own slot (process-local: set after the fork). */
static struct child_slot *my_slot;

/* Folds the counters of a finished connection thread into a total; the
 * gauges (buffers held, descriptors registered) end with it. */
static void wstats_retire(struct wstats *dst, const struct wstats *src)
{
	struct wstats t;
	wstats_copy(&t, src);
	atomic_store_explicit(&t.buffered, 0, memory_order_relaxed);
	atomic_store_explicit(&t.registered, 0, memory_order_relaxed);
	wstats_add(dst, &t);
}

static void set_timeout(int fd, int opt, uint64_t ns)
{
	struct timeval tv = { (time_t)(ns / 1000000000u), (suseconds_t)(ns % 1000000000u / 1000u) };
	(void)setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv);
}

/* Blocking sockets: recv waits at most the idle timeout (then the idle
 * check runs), send at most a second (then a stop or the idle timeout is
 * noticed), so both limits hold without a poller. */
static void set_blocking_conn(struct server *s, int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && (fl & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	uint64_t idle = s->opt.idle_ns;
	if (idle)
		set_timeout(fd, SO_RCVTIMEO, idle);
	set_timeout(fd, SO_SNDTIMEO, idle && idle < SEND_WAKE_NS ? idle : SEND_WAKE_NS);
}

/* Sleeps until the earliest /delay is due (or a stop): in the blocking
 * models that is the client's own thread or process; in busy it is the
 * only loop there is, so everybody waits. */
static void delay_sleep(struct worker *w)
{
	for (;;) {
		uint64_t now = px_now_ns(), t = timer_next(w);
		if (!t || now >= t || atomic_load(&stop_requested))
			break;
		uint64_t left = t - now < SLEEP_SLICE_NS ? t - now : SLEEP_SLICE_NS;
		struct timespec ts = { (time_t)(left / 1000000000u), (long)(left % 1000000000u) };
		(void)nanosleep(&ts, NULL);
	}
	w->now_ns = px_now_ns();
}

/* Serves the one connection of a blocking worker until it is closed: the
 * event loop's steps, where each "wait for readiness" is the blocking call
 * itself. publish, if set, receives the counters after every step. */
static void drive(struct worker *w, struct wstats *publish)
{
	int lingering = 0;
	for (;;) {
		w->now_ns = px_now_ns();
		if (!w->stopping && atomic_load(&stop_requested))
			worker_stop(w);
		worker_expire(w);
		worker_periodic(w);
		if (publish)
			wstats_copy(publish, &w->st);
		struct conn *c = w->active.head ? w->active.head : w->linger.head;
		if (!c) {
			if (!w->heap_n)
				break;
			delay_sleep(w);
			continue;
		}
		if ((c->flags & C_LINGER) && !lingering) {
			/* Waiting for the peer's FIN is bounded as in the loop. */
			set_timeout(c->fd, SO_RCVTIMEO, LINGER_NS);
			lingering = 1;
		}
		if (c->interest & POLLUX_OUT)
			conn_progress(w, c);
		else
			conn_event(w, c, POLLUX_IN);
	}
	if (publish)
		wstats_copy(publish, &w->st);
}

static void clear_shutdown_fd(struct worker *w, struct conn *c)
{
	(void)w;
	(void)c;
	atomic_store(&stop_shutdown_fd, -1);
}

/* Takes a connection over --max-conns or not: 0 admitted (counted open). */
static int admit(struct server *s, struct worker *w, int fd)
{
	long open_now = atomic_fetch_add_explicit(s->open, 1, memory_order_relaxed) + 1;
	if (s->opt.max_conns && (unsigned long)open_now > s->opt.max_conns) {
		atomic_fetch_sub_explicit(s->open, 1, memory_order_relaxed);
		STAT_ADD(&w->st, err[ERR_MAX_CONNS], 1);
		close(fd);
		return -1;
	}
	STAT_ADD(&w->st, accepted, 1);
	long peak = atomic_load_explicit(s->peak, memory_order_relaxed);
	while (open_now > peak && !atomic_compare_exchange_weak(s->peak, &peak, open_now))
		;
	return 0;
}

/* A thread or process could not be made: the client is closed, counted,
 * and said once a second at most. */
static void spawn_failed(struct server *s, struct worker *w, int fd, const char *why)
{
	atomic_fetch_sub_explicit(s->open, 1, memory_order_relaxed);
	STAT_ADD(&w->st, accepted, (uint64_t)-1);	/* as the loop: never taken */
	STAT_ADD(&w->st, err[ERR_SPAWN], 1);
	close(fd);
	server_ratelimited(s, &s->spawn_msg_ns, px_now_ns(), "%s: closing the connection", why);
}

static void threads_reap(struct server *s, int all);
static void fork_reap(struct server *s);
static void fork_publish(struct server *s);

/* Waits, blocking in poll(2) on the listeners and the signal pipe, for the
 * next client; returns its descriptor (blocking), or -1 when stopping. The
 * listeners stay non-blocking so a client that vanished between poll and
 * accept cannot hang the server. */
static int accept_next(struct server *s, struct worker *w, int *is_tcp)
{
	struct pollfd *pf = calloc(w->nls + 1, sizeof *pf);
	if (!pf)
		return -1;
	int fd = -1;
	while (!atomic_load(&stop_requested)) {
		if (s->opt.model == MODEL_THREADS)
			threads_reap(s, 0);
		if (s->fs) {
			fork_reap(s);
			fork_publish(s);
		}
		w->now_ns = px_now_ns();
		worker_periodic(w);
		if (w->accept_resume_ns && w->now_ns >= w->accept_resume_ns) {
			if (w->spare_fd < 0)
				w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			w->accept_resume_ns = 0;
		}
		nfds_t n = 0;
		pf[n++] = (struct pollfd){ s->sigpipe[0], POLLIN, 0 };
		for (size_t i = 0; i < w->nls && !w->accept_resume_ns; i++)
			pf[n++] = (struct pollfd){ w->ls[i].fd, POLLIN, 0 };
		uint64_t d = w->accept_resume_ns;
		if (w->next_stats_ns && (!d || w->next_stats_ns < d))
			d = w->next_stats_ns;
		int timeout = -1;
		if (d)
			timeout = d <= w->now_ns ? 0 : (int)((d - w->now_ns + 999999) / 1000000);
		if (poll(pf, n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[0].revents) {
			char buf[256];
			(void)!read(s->sigpipe[0], buf, sizeof buf);
		}
		for (nfds_t k = 1; k < n; k++) {
			if (!pf[k].revents)
				continue;
			struct listener *l = &w->ls[k - 1];
			fd = accept(l->fd, NULL, NULL);
			if (fd >= 0) {
				(void)px_set_cloexec(fd);
				set_blocking_conn(s, fd);
				*is_tcp = l->is_tcp;
				goto out;
			}
			int e = errno;
			if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR)
				continue;
			if (e == EMFILE || e == ENFILE) {
				worker_emfile(w, l, e);
				continue;
			}
			STAT_ADD(&w->st, err[ERR_ACCEPT], 1);
			if (e != ECONNABORTED && e != EPROTO && e != EPERM)
				w->accept_resume_ns = w->now_ns + 100000000ull;
		}
	}
out:
	free(pf);
	return fd;
}

/* iterative: accept one client, serve it to the end, then the next; a
 * second client waits in the listen backlog meanwhile. */
static int run_iterative(struct server *s)
{
	struct worker *w = &s->w[0];
	w->before_close = clear_shutdown_fd;
	int fd, tcp;
	while ((fd = accept_next(s, w, &tcp)) >= 0) {
		if (admit(s, w, fd) < 0)
			continue;
		atomic_store(&stop_shutdown_fd, fd);
		if (!conn_new(w, fd, tcp)) {
			atomic_store(&stop_shutdown_fd, -1);
			atomic_fetch_sub_explicit(s->open, 1, memory_order_relaxed);
			STAT_ADD(&w->st, err[ERR_OOM], 1);
			close(fd);
			continue;
		}
		drive(w, NULL);
	}
	return 0;
}

/* threads --------------------------------------------------------------- */

static void session_before_close(struct worker *w, struct conn *c)
{
	(void)c;
	struct session *ses = w->owner;
	pthread_mutex_lock(&ses->s->mx);
	ses->fd = -1;
	pthread_mutex_unlock(&ses->s->mx);
}

static void *session_main(void *arg)
{
	struct session *ses = arg;
	struct server *s = ses->s;
	struct worker *w = &ses->w;
	if (conn_new(w, ses->fd, ses->is_tcp)) {
		drive(w, NULL);
	} else {
		STAT_ADD(&w->st, err[ERR_OOM], 1);
		session_before_close(w, NULL);
		close(ses->fd);	/* the number is ours alone again */
		atomic_fetch_sub_explicit(s->open, 1, memory_order_relaxed);
	}
	pthread_mutex_lock(&s->mx);
	wstats_retire(&s->retired, &w->st);
	ses->done = 1;
	pthread_mutex_unlock(&s->mx);
	atomic_fetch_sub(&s->nthreads, 1);
	/* Wake the accept loop to join this thread. */
	(void)!write(s->sigpipe[1], "T", 1);
	return NULL;
}

/* Joins the threads that have finished (all of them, waiting, if all). */
static void threads_reap(struct server *s, int all)
{
	for (;;) {
		struct session *found = NULL;
		pthread_mutex_lock(&s->mx);
		for (struct session **pp = &s->sessions; *pp; pp = &(*pp)->next)
			if (all || (*pp)->done) {
				found = *pp;
				*pp = found->next;
				break;
			}
		pthread_mutex_unlock(&s->mx);
		if (!found)
			return;
		pthread_join(found->thread, NULL);
		worker_free(&found->w);
		free(found);
	}
}

void models_threads_sum(struct server *s, struct wstats *sum)
{
	memset(sum, 0, sizeof *sum);
	pthread_mutex_lock(&s->mx);
	wstats_add(sum, &s->retired);
	for (struct session *ses = s->sessions; ses; ses = ses->next)
		if (!ses->done)
			wstats_add(sum, &ses->w.st);
	pthread_mutex_unlock(&s->mx);
}

static int run_threads(struct server *s)
{
	struct worker *w = &s->w[0];
	sigset_t stopsigs, old;
	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGINT);
	sigaddset(&stopsigs, SIGTERM);
	int fd, tcp;
	while ((fd = accept_next(s, w, &tcp)) >= 0) {
		if (admit(s, w, fd) < 0)
			continue;
		struct session *ses = malloc(sizeof *ses);
		if (!ses || worker_init_plain(&ses->w, s) < 0) {
			if (ses)
				worker_free(&ses->w);
			free(ses);
			spawn_failed(s, w, fd, "cannot create a thread: out of memory");
			continue;
		}
		ses->s = s;
		ses->fd = fd;
		ses->is_tcp = tcp;
		ses->done = 0;
		ses->w.owner = ses;
		ses->w.before_close = session_before_close;
		pthread_mutex_lock(&s->mx);
		ses->next = s->sessions;
		s->sessions = ses;
		pthread_mutex_unlock(&s->mx);
		atomic_fetch_add(&s->nthreads, 1);
		/* Signals stay with this thread: it is the one that stops
		 * the others. New threads inherit the mask. */
		pthread_sigmask(SIG_BLOCK, &stopsigs, &old);
		int rc = pthread_create(&ses->thread, NULL, session_main, ses);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc != 0) {
			atomic_fetch_sub(&s->nthreads, 1);
			pthread_mutex_lock(&s->mx);
			for (struct session **pp = &s->sessions; *pp; pp = &(*pp)->next)
				if (*pp == ses) {
					*pp = ses->next;
					break;
				}
			pthread_mutex_unlock(&s->mx);
			worker_free(&ses->w);
			free(ses);
			char why[128];
			snprintf(why, sizeof why, "cannot create a thread: %s", strerror(rc));
			spawn_failed(s, w, fd, why);
		}
	}
	/* Stop: wake every thread blocked in recv (it then sees end of
	 * input, finishes its pending output and closes), then join all. */
	pthread_mutex_lock(&s->mx);
	for (struct session *ses = s->sessions; ses; ses = ses->next)
		if (ses->fd >= 0)
			(void)shutdown(ses->fd, SHUT_RD);
	pthread_mutex_unlock(&s->mx);
	threads_reap(s, 1);
	return 0;
}

/* fork ------------------------------------------------------------------ */

static void fork_publish(struct server *s)
{
	wstats_copy(&s->fs->main, &s->w[0].st);
	atomic_store(&s->fs->sh.peak, atomic_load(s->peak));
}

static void fork_add_live(void *ctx, struct wstats *sum)
{
	struct fork_shared *fs = ctx;
	wstats_add(sum, &fs->main);
	for (size_t i = 0; i < fs->nslots; i++)
		if (atomic_load(&fs->slot[i].used))
			wstats_add(sum, &fs->slot[i].st);
}

uint64_t models_fork_sum(struct server *s, struct wstats *sum, long *peak)
{
	struct fork_shared *fs = s->fs;
	if (my_slot && s->self)
		wstats_copy(&my_slot->st, &s->self->st);
	else
		fork_publish(s);
	shared_sum(&fs->sh, sum, fork_add_live, fs);
	*peak = atomic_load(&fs->sh.peak);
	long alive = atomic_load(&fs->sh.alive);
	return alive > 0 ? (uint64_t)alive : 0;
}

/* Reaps every child that has ended: its slot's counters go into the
 * retired total and the slot is free again. A child killed before it could
 * count its connection closed gets it counted here. */
static void fork_reaped(struct server *s, pid_t pid)
{
	struct fork_shared *fs = s->fs;
	for (size_t i = 0; i < fs->nslots; i++) {
		struct child_slot *sl = &fs->slot[i];
		if (!atomic_load(&sl->used) || sl->pid != pid)
			continue;
		if (STAT_GET(&sl->st, closed) == 0)
			STAT_ADD(&sl->st, closed, 1);
		shared_fold_begin(&fs->sh);
		atomic_store(&sl->used, 0);
		shared_fold(&fs->sh, &sl->st);
		shared_fold_end(&fs->sh);
		atomic_fetch_sub(&fs->sh.alive, 1);
		atomic_fetch_sub_explicit(s->open, 1, memory_order_relaxed);
		return;
	}
}

static void fork_reap(struct server *s)
{
	pid_t pid;
	int st;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		fork_reaped(s, pid);
}

static struct child_slot *slot_take(struct fork_shared *fs, size_t *hint)
{
	for (size_t k = 0; k < fs->nslots; k++) {
		size_t i = (*hint + k) % fs->nslots;
		if (!atomic_load(&fs->slot[i].used)) {
			*hint = i + 1;
			return &fs->slot[i];
		}
	}
	return NULL;
}

/* The child: it serves its client with a private worker and leaves. */
static _Noreturn void child_main(struct server *s, struct child_slot *sl, int fd, int tcp)
{
	server_signals_child();
	for (size_t i = 0; i < s->nls; i++)
		if (s->w[0].ls[i].fd >= 0)
			close(s->w[0].ls[i].fd);
	close(s->sigpipe[0]);
	close(s->sigpipe[1]);
	if (s->w[0].spare_fd >= 0)
		close(s->w[0].spare_fd);
	/* Nothing to say on stdout, and a pipe held open by a child would
	 * keep whoever reads the server's output waiting. */
	int null = open("/dev/null", O_WRONLY);
	if (null >= 0) {
		dup2(null, 1);
		close(null);
	}
	static struct worker cw;
	my_slot = sl;
	if (worker_init_plain(&cw, s) < 0) {
		STAT_ADD(&sl->st, err[ERR_OOM], 1);
		_exit(1);
	}
	s->self = &cw;
	cw.before_close = clear_shutdown_fd;
	atomic_store(&stop_shutdown_fd, fd);
	sigset_t none;
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	if (conn_new(&cw, fd, tcp))
		drive(&cw, &sl->st);
	else
		STAT_ADD(&cw.st, err[ERR_OOM], 1);
	wstats_copy(&sl->st, &cw.st);
	_exit(0);
}

static int run_fork(struct server *s)
{
	struct worker *w = &s->w[0];
	size_t nslots = s->opt.max_conns && s->opt.max_conns < 65536 ? s->opt.max_conns
	                                                               : FORK_SLOTS_DEFAULT;
	size_t size = sizeof(struct fork_shared) + nslots * sizeof(struct child_slot);
	void *m = shared_map(size);
	if (!m)
		return -1;
	struct fork_shared *fs = m;	/* zero-filled by the kernel */
	fs->nslots = nslots;
	s->fs = fs;
	server_signal_chld();
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGCHLD);
	size_t hint = 0;
	int fd, tcp;
	while ((fd = accept_next(s, w, &tcp)) >= 0) {
		if (admit(s, w, fd) < 0)
			continue;
		struct child_slot *sl = slot_take(fs, &hint);
		if (!sl) {
			char why[160];
			snprintf(why, sizeof why, "no statistics slot for another child: at most "
			         "%zu at once (--max-conns sets how many)", nslots);
			spawn_failed(s, w, fd, why);
			continue;
		}
		memset(&sl->st, 0, sizeof sl->st);
		/* Published and taken before the fork, so that a child that
		 * answers /stats at once counts its own accept and itself. */
		sl->pid = -1;
		atomic_store(&sl->used, 1);
		fork_publish(s);
		/* Until the child has its own handlers, a signal must not run
		 * the parent's (which would write into the parent's pipe). */
		pthread_sigmask(SIG_BLOCK, &block, &old);
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0)
			child_main(s, sl, fd, tcp);
		int e = errno;
		if (pid > 0) {
			sl->pid = pid;
			atomic_fetch_add(&fs->sh.alive, 1);
		} else {
			atomic_store(&sl->used, 0);
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (pid < 0) {
			char why[128];
			snprintf(why, sizeof why, "cannot fork: %s", strerror(e));
			spawn_failed(s, w, fd, why);
			continue;
		}
		close(fd);
		fork_publish(s);
	}
	/* Stop: ask every child to finish (it answers what it holds, then
	 * exits), reap them as they go, and kill the ones that take too long. */
	for (size_t i = 0; i < nslots; i++)
		if (atomic_load(&fs->slot[i].used))
			(void)kill(fs->slot[i].pid, SIGTERM);
	uint64_t deadline = px_now_ns() + CHILD_GRACE_NS;
	for (;;) {
		fork_reap(s);
		if (atomic_load(&fs->sh.alive) <= 0)
			break;
		if (px_now_ns() >= deadline) {
			for (size_t i = 0; i < nslots; i++)
				if (atomic_load(&fs->slot[i].used))
					(void)kill(fs->slot[i].pid, SIGKILL);
			while (atomic_load(&fs->sh.alive) > 0) {
				pid_t pid;
				int st;
				/* Blocking now: they are dying. */
				if ((pid = waitpid(-1, &st, 0)) < 0 && errno != EINTR)
					break;
				if (pid > 0)
					fork_reaped(s, pid);
			}
			break;
		}
		struct pollfd p = { s->sigpipe[0], POLLIN, 0 };
		if (poll(&p, 1, 50) > 0) {
			char buf[256];
			(void)!read(s->sigpipe[0], buf, sizeof buf);
		}
	}
	fork_publish(s);
	return 0;
}

/* busy ------------------------------------------------------------------ */

/* Non-blocking sockets and no poller: try accept on every listener and a
 * read or write on every connection, again and again, whether or not
 * anything is there. It answers everybody and burns a core doing nothing. */
static int run_busy(struct server *s)
{
	struct worker *w = &s->w[0];
	int slept = 0;
	for (;;) {
		w->now_ns = px_now_ns();
		if (!w->stopping && atomic_load(&stop_requested))
			worker_stop(w);
		if (w->stopping && !w->active.head && !w->linger.head && !w->heap_n)
			break;
		for (size_t i = 0; i < w->nls && !w->stopping && !w->accept_resume_ns; i++)
			worker_accept(w, &w->ls[i]);
		/* At most the connections there were at the start of the pass:
		 * one that keeps sending moves to the tail and would otherwise
		 * keep the pass going forever. */
		size_t n = w->active.n;
		struct conn *c = w->active.head;
		for (size_t i = 0; i < n && c; i++) {
			struct conn *next = c->next;
			if (c->interest & POLLUX_OUT)
				conn_progress(w, c);
			else
				conn_event(w, c, POLLUX_IN);
			c = next;
		}
		n = w->linger.n;
		c = w->linger.head;
		for (size_t i = 0; i < n && c; i++) {
			struct conn *next = c->next;
			conn_event(w, c, POLLUX_IN);
			c = next;
		}
		/* Right after a stall, read what came meanwhile before
		 * anyone is judged idle. */
		if (!slept)
			worker_expire(w);
		slept = 0;
		if (w->heap_n && !w->stopping) {
			delay_sleep(w);
			timers_fire(w);
			slept = 1;
		}
		worker_periodic(w);
	}
	return 0;
}

int model_run(struct server *s)
{
	pthread_mutex_init(&s->mx, NULL);
	switch (s->opt.model) {
	case MODEL_ITERATIVE: return run_iterative(s);
	case MODEL_THREADS: return run_threads(s);
	case MODEL_FORK: return run_fork(s);
	case MODEL_BUSY: return run_busy(s);
	default: return -1;
	}
}
