/* procs.c: --processes: a parent that holds no client, starts N worker
 * processes (each an event-loop server with --workers threads, its own
 * pollers and its own descriptor limit), restarts one that dies, passes a
 * stop on, and sums every worker's counters. */
#include "toolconfig.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/wait.h>
#include <unistd.h>

/* How long a stopping parent waits for its workers before SIGKILL: each
 * gives pending output a second (loop.c), and a loaded machine is slow. */
#define STOP_GRACE_NS (5000000000ull)
/* A worker that ends sooner than this after its start is crash-looping:
 * its next start waits RESTART_FIRST_NS, doubling while it keeps failing
 * so, up to RESTART_MAX_NS, so it neither spins nor floods stderr. */
#define RESTART_QUICK_NS (1000000000ull)
#define RESTART_FIRST_NS (1000000000ull)
#define RESTART_MAX_NS (16000000000ull)
/* Where one process's workers start: apart by whole cache-line pairs, so
 * that two processes never write the same line (adjacent-line prefetch). */
#define SLOT_ALIGN 128

/* The workers' counters are where they count them: every worker process's
 * struct worker array lives in this MAP_SHARED page, so a /stats request,
 * answered by whichever worker the kernel handed the connection to, sums
 * every process's counters at once, exact to the last request answered,
 * with no round trip to the parent; the parent reads the same sums for
 * --stats-interval and the final statistics, and folds in the counters of
 * a worker that died before its restart zeroes them. (The parent gathering
 * counters over pipes instead would answer /stats late, or with counters
 * as old as the last report.) Only a worker's owning thread writes its
 * struct; the pointers in it are that process's and nobody else follows
 * them. */
struct procs_shared {
	struct stats_shared sh;		/* ended workers, open, peak, alive */
	unsigned nprocs, per;		/* --processes, --workers */
	size_t first, stride;		/* offset of process 0's workers; step */
};

/* The parent's view of one worker process. */
struct proc {
	pid_t pid;			/* 0: not running */
	uint64_t started_ns;
	uint64_t restart_ns;		/* when to start it again; 0: now */
	uint64_t delay_ns;		/* the last crash-loop wait */
};

static struct worker *proc_workers(struct procs_shared *ps, unsigned k)
{
	return (struct worker *)((char *)ps + ps->first + (size_t)k * ps->stride);
}

unsigned procs_loops(const struct server *s)
{
	return s->ps->nprocs * s->ps->per;
}

static void procs_add_live(void *ctx, struct wstats *sum)
{
	struct procs_shared *ps = ctx;
	for (unsigned k = 0; k < ps->nprocs; k++) {
		struct worker *w = proc_workers(ps, k);
		for (unsigned i = 0; i < ps->per; i++)
			wstats_add(sum, &w[i].st);
	}
}

uint64_t procs_sum(struct server *s, struct wstats *sum)
{
	shared_sum(&s->ps->sh, sum, procs_add_live, s->ps);
	long alive = atomic_load(&s->ps->sh.alive);
	return alive > 0 ? (uint64_t)alive : 0;
}

/* A worker process that ended: its counters join the retired total, and
 * the connections it held (the kernel closed them) count as closed and
 * leave the open count. */
static void procs_retire(struct server *s, unsigned k)
{
	struct procs_shared *ps = s->ps;
	struct worker *w = proc_workers(ps, k);
	shared_fold_begin(&ps->sh);
	for (unsigned i = 0; i < ps->per; i++) {
		uint64_t acc = STAT_GET(&w[i].st, accepted), cl = STAT_GET(&w[i].st, closed);
		if (acc > cl) {
			STAT_ADD(&w[i].st, closed, acc - cl);
			atomic_fetch_sub(&ps->sh.open, (long)(acc - cl));
		}
		shared_fold(&ps->sh, &w[i].st);
	}
	shared_fold_end(&ps->sh);
	atomic_fetch_sub(&ps->sh.alive, 1);
}

/* The worker process k: the event loops of a one-process server, on the
 * listening sockets the parent opened (its own with SO_REUSEPORT, or the
 * shared one). Never returns. */
static _Noreturn void proc_main(struct server *s, unsigned k, const int *fds, unsigned loops,
                                pid_t parent, const sigset_t *mask)
{
	struct procs_shared *ps = s->ps;
#ifdef __linux__
	/* A parent killed outright cannot pass a stop on: the kernel does. */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		exit(0);
#else
	(void)parent;
#endif
	/* Its own signal pipe: the parent's also carries SIGCHLD. */
	close(s->sigpipe[0]);
	close(s->sigpipe[1]);
	if (server_sigpipe(s) < 0) {
		fprintf(stderr, SERVER_NAME ": worker process %u: cannot create the signal pipe: %s\n",
		        k, strerror(errno));
		exit(1);
	}
	server_signals(s);
	signal(SIGCHLD, SIG_DFL);
	/* Nothing to say on stdout (the parent prints the statistics), and
	 * a pipe held open by a worker would keep its reader waiting. */
	int null = open("/dev/null", O_WRONLY);
	if (null >= 0) {
		dup2(null, 1);
		close(null);
	}
	/* The other processes' sockets are theirs (the parent keeps them). */
	for (size_t i = 0; i < s->nls; i++)
		for (unsigned j = 0; s->ls[i].shared_fd < 0 && j < loops; j++)
			if (j / ps->per != k)
				close(fds[i * loops + j]);
	s->w = proc_workers(ps, k);
	s->nworkers = ps->per;
	for (unsigned i = 0; i < ps->per; i++) {
		unsigned id = k * ps->per + i;
		if (worker_init(&s->w[i], s, id) < 0) {
			fprintf(stderr, SERVER_NAME ": worker process %u: cannot set up worker %u: %s\n",
			        k, id, strerror(errno));
			exit(1);
		}
		s->w[i].next_stats_ns = 0;	/* the parent prints them */
		worker_listeners(&s->w[i], s, fds, loops, id);
	}
	pthread_sigmask(SIG_SETMASK, mask, NULL);
	int rc = server_run_loops(s);
	for (unsigned i = 0; i < s->nworkers; i++)
		worker_free(&s->w[i]);
	close(s->sigpipe[0]);
	close(s->sigpipe[1]);
	exit(rc < 0 || atomic_load(&s->failed) ? 1 : 0);
}

/* Starts worker process k; -1 (said on stderr) if fork failed. */
static int proc_start(struct server *s, struct proc *pr, unsigned k, const int *fds,
                      unsigned loops)
{
	struct procs_shared *ps = s->ps;
	struct worker *w = proc_workers(ps, k);
	/* A fresh start counts from zero: what a previous one counted was
	 * folded into the retired total when it was reaped. */
	memset(w, 0, (size_t)ps->per * sizeof *w);
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGCHLD);
	/* Until the child has its own handlers and pipe, a signal must not
	 * run the parent's there. */
	pthread_sigmask(SIG_BLOCK, &block, &old);
	fflush(NULL);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0)
		proc_main(s, k, fds, loops, parent, &old);
	int e = errno;
	if (pid > 0) {
		pr[k].pid = pid;
		pr[k].started_ns = px_now_ns();
		atomic_fetch_add(&ps->sh.alive, 1);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		fprintf(stderr, SERVER_NAME ": cannot start worker process %u: fork: %s\n", k,
		        strerror(e));
		return -1;
	}
	return 0;
}

static void how_ended(char *buf, size_t n, int st)
{
	if (WIFSIGNALED(st))
		snprintf(buf, n, "was killed by signal %d (%s)%s", WTERMSIG(st),
		         strsignal(WTERMSIG(st)), WCOREDUMP(st) ? ", core dumped" : "");
	else
		snprintf(buf, n, "exited with status %d", WEXITSTATUS(st));
}

/* Reaps the worker processes that ended. Outside a stop each is scheduled
 * for a restart and said in one line on stderr (always: a worker's death
 * is trouble, whatever --quiet says). Returns how many ended abnormally. */
static int procs_reap(struct server *s, struct proc *pr, int stopping, uint64_t now)
{
	int bad = 0;
	pid_t pid;
	int st;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		unsigned k = 0;
		while (k < s->ps->nprocs && pr[k].pid != pid)
			k++;
		if (k == s->ps->nprocs)
			continue;
		procs_retire(s, k);
		pr[k].pid = 0;
		int normal = WIFEXITED(st) && WEXITSTATUS(st) == 0;
		bad += !normal;
		if (stopping && normal)
			continue;
		char how[128], when[96] = "";
		how_ended(how, sizeof how, st);
		if (!stopping) {
			if (now - pr[k].started_ns < RESTART_QUICK_NS) {
				uint64_t d = pr[k].delay_ns ? 2 * pr[k].delay_ns : RESTART_FIRST_NS;
				pr[k].delay_ns = d < RESTART_MAX_NS ? d : RESTART_MAX_NS;
				snprintf(when, sizeof when, " in %.0f s (it ended within %.0f s of its start)",
				         (double)pr[k].delay_ns / 1e9, RESTART_QUICK_NS / 1e9);
			} else {
				pr[k].delay_ns = 0;
			}
			pr[k].restart_ns = now + pr[k].delay_ns;
		}
		fprintf(stderr, SERVER_NAME ": worker process %u (pid %ld) %s%s%s\n", k, (long)pid,
		        how, stopping ? "" : "; restarting it", when);
	}
	return bad;
}

static void procs_periodic(struct server *s)
{
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

/* Waits for the signal pipe (a stop or a child's end) until deadline (0:
 * none); returns the last stop signal read from it, or 0. */
static int wait_pipe(struct server *s, uint64_t deadline)
{
	int timeout = -1;
	if (deadline) {
		uint64_t now = px_now_ns();
		timeout = deadline <= now ? 0 : (int)((deadline - now + 999999) / 1000000);
	}
	struct pollfd p = { s->sigpipe[0], POLLIN, 0 };
	int sig = 0;
	if (poll(&p, 1, timeout) > 0) {
		unsigned char buf[256];
		ssize_t n = read(s->sigpipe[0], buf, sizeof buf);
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == SIGINT || buf[i] == SIGTERM)
				sig = buf[i];
	}
	return sig;
}

static void min_deadline(uint64_t *best, uint64_t t)
{
	if (t && (*best == 0 || t < *best))
		*best = t;
}

int procs_run(struct server *s, int *fds, unsigned loops)
{
	const struct options *o = &s->opt;
	unsigned n = o->processes, per = o->workers;
	size_t first = (sizeof(struct procs_shared) + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
	size_t stride = ((size_t)per * sizeof(struct worker) + SLOT_ALIGN - 1) / SLOT_ALIGN *
	                SLOT_ALIGN;
	struct procs_shared *ps = shared_map(first + (size_t)n * stride);
	struct proc *pr = calloc(n, sizeof *pr);
	if (!ps || !pr) {
		free(pr);
		return -1;
	}
	ps->nprocs = n;
	ps->per = per;
	ps->first = first;
	ps->stride = stride;
	s->ps = ps;
	s->open = &ps->sh.open;
	s->peak = &ps->sh.peak;
	server_signal_chld();

	int rc = 0, sig = 0;
	for (unsigned k = 0; k < n && rc == 0; k++)
		rc = proc_start(s, pr, k, fds, loops);
	uint64_t next_stats = o->stats_ns ? px_now_ns() + o->stats_ns : 0;
	while (rc == 0 && !sig && !atomic_load(&stop_requested)) {
		uint64_t now = px_now_ns();
		procs_reap(s, pr, 0, now);
		uint64_t d = 0;
		for (unsigned k = 0; k < n; k++) {
			if (pr[k].pid || pr[k].restart_ns > now)
				min_deadline(&d, pr[k].restart_ns);
			else if (proc_start(s, pr, k, fds, loops) < 0)
				/* Fork failing (out of processes or memory) is
				 * what a restart later may outlive. */
				pr[k].restart_ns = now + RESTART_FIRST_NS;
		}
		if (next_stats && now >= next_stats) {
			procs_periodic(s);
			next_stats = now + o->stats_ns;
		}
		min_deadline(&d, next_stats);
		sig = wait_pipe(s, d);
	}

	/* Stop: pass the signal on, reap the workers as they finish, and kill
	 * the ones that take too long. */
	if (!sig)
		sig = SIGTERM;
	for (unsigned k = 0; k < n; k++)
		if (pr[k].pid)
			(void)kill(pr[k].pid, sig);
	uint64_t deadline = px_now_ns() + STOP_GRACE_NS;
	int bad = 0, killed = 0;
	for (;;) {
		bad += procs_reap(s, pr, 1, px_now_ns());
		if (atomic_load(&ps->sh.alive) <= 0)
			break;
		if (!killed && px_now_ns() >= deadline) {
			for (unsigned k = 0; k < n; k++)
				if (pr[k].pid) {
					fprintf(stderr, SERVER_NAME ": worker process %u (pid %ld) did not "
					        "stop within %.0f s; killing it\n", k, (long)pr[k].pid,
					        STOP_GRACE_NS / 1e9);
					(void)kill(pr[k].pid, SIGKILL);
				}
			killed = 1;
		}
		(void)wait_pipe(s, killed ? px_now_ns() + 100000000ull : deadline);
	}
	for (size_t i = 0; i < s->nls; i++)
		for (unsigned j = 0; s->ls[i].shared_fd < 0 && j < loops; j++)
			close(fds[i * loops + j]);
	free(pr);
	if (bad)
		atomic_store(&s->failed, 1);
	return rc;
}
