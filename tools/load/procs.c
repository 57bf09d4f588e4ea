/* procs.c: pollux-load --processes: forks one load process per share, starts
 * them together once all have connected, and merges what they measured. */
#include "toolconfig.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "load.h"

#define PROG "pollux-load"

/* What a child sends: one 'R' when connected, then this blob, then (with
 * --interval) its series, presult.series_len bytes of series_pack. */
#define BLOB_LEN (sizeof(struct presult) + 3 * sizeof(struct hist))
/* More than any real series (a slot count per used slot per interval). */
#define MAX_SERIES_LEN (UINT64_C(1) << 34)

void proc_wait_start(void)
{
	char c = 'R';
	ssize_t n;
	do
		n = write(g_run.ready_fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1) {
		atomic_store(&g_run.stop, 1);
		return;
	}
	/* The parent writes 'G' when every process has connected, or closes
	 * the pipe when it is stopping: a signal here is answered the same. */
	for (;;) {
		n = read(g_run.go_fd, &c, 1);
		if (n == 1)
			return;
		if (n < 0 && errno == EINTR && !atomic_load(&g_run.stop))
			continue;
		atomic_store(&g_run.stop, 1);
		return;
	}
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The child's part: its share of cfg, run here, sent up the pipe. */
static void child(const struct config *parent, unsigned long i, int up, int down)
{
	struct config cfg = *parent;
	unsigned long n = parent->processes;
	cfg.processes = 1;
	cfg.progress = 0;
	cfg.json = 0;
	cfg.connections = load_share(parent->connections, n, i, 1);
	cfg.active = load_share(parent->active, n, i, 1);
	unsigned long abefore = 0;
	for (unsigned long j = 0; j < i; j++)
		abefore += load_share(parent->active, n, j, 1);
	cfg.requests = load_share(parent->requests, parent->active, abefore, cfg.active);
	cfg.rate = parent->active
	           ? parent->rate * (double)cfg.active / (double)parent->active : 0;
	cfg.connect_rate = parent->connect_rate * (double)cfg.connections /
	                   (double)parent->connections;
	/* Its own source addresses: a slice of the range, or one address
	 * shared in turn when there are fewer than processes. */
	if (parent->nsources >= n) {
		size_t before = 0;
		for (unsigned long j = 0; j < i; j++)
			before += load_share(parent->nsources, n, j, 1);
		cfg.sources = parent->sources + before;
		cfg.nsources = load_share(parent->nsources, n, i, 1);
	} else if (parent->nsources) {
		cfg.sources = parent->sources + i % parent->nsources;
		cfg.nsources = 1;
	}
	(void)px_raise_nofile();
	g_run.ready_fd = up;
	g_run.go_fd = down;

	char *blob = malloc(BLOB_LEN);
	if (!blob) {
		fprintf(stderr, PROG ": process %lu: out of memory\n", i);
		_exit(1);
	}
	struct presult *r = (struct presult *)blob;
	struct hist *h = (struct hist *)(blob + sizeof *r);
	for (int k = 0; k < 3; k++)
		hist_init(&h[k]);
	struct series ser = { 0 };
	if (run_process(&cfg, r, &h[0], &h[1], &h[2], cfg.interval_s > 0 ? &ser : NULL) < 0)
		_exit(1);
	unsigned char *packed = NULL;
	if (cfg.interval_s > 0) {
		r->series_len = series_packed_len(&ser);
		packed = malloc(r->series_len);
		if (!packed) {
			fprintf(stderr, PROG ": process %lu: out of memory\n", i);
			_exit(1);
		}
		series_pack(&ser, packed);
	}
	int rc = write_all(up, blob, BLOB_LEN) < 0 ? 1 : 0;
	if (!rc && packed && write_all(up, packed, r->series_len) < 0)
		rc = 1;
	free(packed);
	series_free(&ser);
	free(blob);
	_exit(rc);
}

struct kid {
	pid_t pid;
	int up, down;          /* -1 once closed */
	int ready;             /* sent its 'R' */
	size_t got;            /* blob bytes received */
	size_t want;           /* bytes it will send: BLOB_LEN + its series */
	char *blob;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void describe(char *buf, size_t n, int status)
{
	if (WIFSIGNALED(status))
		snprintf(buf, n, "was killed by signal %d (%s)", WTERMSIG(status),
		         strsignal(WTERMSIG(status)));
	else if (WIFEXITED(status))
		snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(buf, n, "ended (wait status %#x)", (unsigned)status);
}

int run_processes(const struct config *cfg, struct presult *r, struct hist *lat,
                  struct hist *lat_unc, struct hist *late, struct series *ser)
{
	unsigned long n = cfg->processes;
	struct kid *k = calloc(n, sizeof *k);
	struct pollfd *pf = calloc(n, sizeof *pf);
	unsigned long *who = calloc(n, sizeof *who);
	if (!k || !pf || !who) {
		fprintf(stderr, PROG ": out of memory\n");
		free(k);
		free(pf);
		free(who);
		return -1;
	}
	memset(r, 0, sizeof *r);
	int failed = 0;
	unsigned long forked = 0;
	for (unsigned long i = 0; i < n; i++)
		k[i].up = k[i].down = -1;
	fflush(NULL); /* nothing buffered is written twice */
	for (; forked < n; forked++) {
		struct kid *x = &k[forked];
		int up[2], down[2];
		x->blob = malloc(BLOB_LEN);
		x->want = BLOB_LEN;
		if (!x->blob) {
			fprintf(stderr, PROG ": out of memory\n");
			failed = 1;
			break;
		}
		if (pipe(up) < 0) {
			fprintf(stderr, PROG ": cannot make a pipe for process %lu: %s\n",
			        forked, strerror(errno));
			failed = 1;
			break;
		}
		if (pipe(down) < 0) {
			fprintf(stderr, PROG ": cannot make a pipe for process %lu: %s\n",
			        forked, strerror(errno));
			close(up[0]);
			close(up[1]);
			failed = 1;
			break;
		}
		pid_t pid = fork();
		if (pid < 0) {
			fprintf(stderr, PROG ": cannot start process %lu: %s\n", forked,
			        strerror(errno));
			close(up[0]);
			close(up[1]);
			close(down[0]);
			close(down[1]);
			failed = 1;
			break;
		}
		if (pid == 0) {
			/* the others' pipes are theirs: an end held here would
			 * keep a dead sibling's EOF from the parent */
			for (unsigned long j = 0; j < forked; j++) {
				close_fd(&k[j].up);
				close_fd(&k[j].down);
			}
			close(up[0]);
			close(down[1]);
			child(cfg, forked, up[1], down[0]);
		}
		close(up[1]);
		close(down[0]);
		x->pid = pid;
		x->up = up[0];
		x->down = down[1];
	}

	int go_sent = 0, stopping = failed, told = 0;
	for (;;) {
		if (atomic_load(&g_run.stop))
			stopping = 1;
		if (stopping && !told) {
			/* a signal to this process alone reaches them all, and a
			 * run one of them died in is over for all: they stop as
			 * if signalled and send what they measured */
			told = 1;
			for (unsigned long i = 0; i < forked; i++)
				if (k[i].up >= 0)
					kill(k[i].pid, SIGTERM);
		}
		if (stopping && !go_sent) {
			/* closing the go pipes lets a waiting child stop too */
			for (unsigned long i = 0; i < forked; i++)
				close_fd(&k[i].down);
			go_sent = 1;
		}
		if (!go_sent) {
			unsigned long ready = 0;
			for (unsigned long i = 0; i < forked; i++)
				ready += k[i].ready;
			if (ready == forked) {
				for (unsigned long i = 0; i < forked; i++) {
					char c = 'G';
					if (write_all(k[i].down, &c, 1) < 0)
						kill(k[i].pid, SIGTERM);
				}
				go_sent = 1;
			}
		}
		nfds_t np = 0;
		for (unsigned long i = 0; i < forked; i++)
			if (k[i].up >= 0) {
				pf[np].fd = k[i].up;
				pf[np].events = POLLIN;
				pf[np].revents = 0;
				who[np] = i;
				np++;
			}
		if (np == 0)
			break;
		if (poll(pf, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, PROG ": poll: %s\n", strerror(errno));
			stopping = 1;
			continue;
		}
		for (nfds_t j = 0; j < np; j++) {
			/* only a pipe that is ready: a read of another blocks */
			if (!pf[j].revents)
				continue;
			struct kid *x = &k[who[j]];
			ssize_t got;
			if (!x->ready) {
				char c;
				got = read(x->up, &c, 1);
				if (got == 1 && c == 'R') {
					x->ready = 1;
					continue;
				}
			} else {
				got = read(x->up, x->blob + x->got, x->want - x->got);
				if (got > 0) {
					x->got += (size_t)got;
					if (x->got == BLOB_LEN && x->want == BLOB_LEN) {
						/* the header says how much series follows */
						uint64_t sl = ((const struct presult *)x->blob)->series_len;
						char *b = sl && sl <= MAX_SERIES_LEN
						          ? realloc(x->blob, BLOB_LEN + (size_t)sl) : NULL;
						if (b) {
							x->blob = b;
							x->want = BLOB_LEN + (size_t)sl;
						} else if (sl) {
							x->got = 0; /* cannot take it: as if dead */
							got = 0;
						}
					}
					if (got > 0 && x->got < x->want)
						continue;
				}
			}
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			/* its blob is complete, or it is gone */
			close_fd(&x->up);
			if (x->got < x->want)
				stopping = 1; /* dead: the run cannot be whole */
		}
	}

	for (unsigned long i = 0; i < forked; i++) {
		struct kid *x = &k[i];
		close_fd(&x->down);
		int status = 0;
		while (waitpid(x->pid, &status, 0) < 0 && errno == EINTR)
			;
		if (x->got < x->want) {
			char how[96];
			describe(how, sizeof how, status);
			fprintf(stderr, PROG ": load process %lu (pid %ld) %s before sending "
			        "its results; the totals lack its %lu connections\n", i,
			        (long)x->pid, how,
			        load_share(cfg->connections, n, i, 1));
			failed = 1;
			continue;
		}
		const struct presult *c = (const struct presult *)x->blob;
		const struct hist *h = (const struct hist *)(x->blob + sizeof *c);
		r->requests += c->requests;
		r->bytes_sent += c->bytes_sent;
		r->bytes_received += c->bytes_received;
		for (int e = 0; e < E_NKINDS; e++) {
			r->errors[e] += c->errors[e];
			r->idle_errors[e] += c->idle_errors[e];
		}
		for (int st = 0; st < N_STATUS; st++)
			r->http_status[st] += c->http_status[st];
		r->connected += c->connected;
		r->unsent += c->unsent;
		r->unanswered += c->unanswered;
		r->in_flight += c->in_flight;
		if (c->stall_ns > r->stall_ns)
			r->stall_ns = c->stall_ns;
		r->stall_seen |= c->stall_seen;
		r->failed |= c->failed;
		if (ser && c->series_len) {
			struct series cs;
			if (series_unpack(&cs, (const unsigned char *)x->blob + BLOB_LEN,
			                  (size_t)c->series_len) < 0 || series_merge(ser, &cs) < 0) {
				fprintf(stderr, PROG ": the interval series of load process %lu "
				        "cannot be read\n", i);
				failed = 1;
			}
			series_free(&cs);
		}
		/* one interval covering every process's */
		if (c->start_ns > r->start_ns)
			r->start_ns = c->start_ns;
		if (!r->measure_ns || c->measure_ns < r->measure_ns)
			r->measure_ns = c->measure_ns;
		if (c->stop_ns > r->stop_ns)
			r->stop_ns = c->stop_ns;
		if (!r->backend[0])
			memcpy(r->backend, c->backend, sizeof r->backend);
		hist_merge(lat, &h[0]);
		hist_merge(lat_unc, &h[1]);
		hist_merge(late, &h[2]);
	}
	for (unsigned long i = 0; i < n; i++)
		free(k[i].blob);
	free(k);
	free(pf);
	free(who);
	return failed ? -1 : 0;
}
