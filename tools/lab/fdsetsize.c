/* fdsetsize.c: the lesson "fdsetsize": a plain fd_set ends at FD_SETSIZE
 * and FD_SET past it writes out of bounds (the wrong program, fdset_naive.c,
 * run in a child in both its builds), while pollux's select backend serves
 * descriptors past 4,096; and what select's scan costs per descriptor. */
#include "toolconfig.h"
#include "lab.h"
#include "common.h"
#include "fdset_naive.h"
#include "pollux.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

/* Past FD_SETSIZE by 76: FD_SET sets bit 4 of the byte at offset 9 after
 * the set (the 10th byte past its end). */
#define NAIVE_FD 1100

struct naive {
	const char *key, *build, *label;
	int fortify;		/* the level it was really built with */
	int fd;			/* -1: never got that far */
	char outcome[48];
	const char *signal;	/* NULL: not killed */
	int exit_status;	/* -1: killed */
	char message[sizeof ((struct proc *)0)->err];	/* what glibc (or the program) said */
	int corrupted;		/* bytes after the fd_set that FD_SET changed */
	long corrupt_off;
	unsigned corrupt_new;
	int select_rc, select_errno, isset;
};

/* The value of "key N ..." on a line of the child's output, or NULL. */
static const char *line_val(const char *out, const char *key)
{
	size_t kl = strlen(key);
	for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, key, kl) == 0 && l[kl] == ' ')
			return l + kl + 1;
	return NULL;
}

static const char *sig_name(int sig)
{
	switch (sig) {
	case SIGABRT: return "SIGABRT";
	case SIGSEGV: return "SIGSEGV";
	case SIGBUS: return "SIGBUS";
	case SIGILL: return "SIGILL";
	case SIGKILL: return "SIGKILL";
	case SIGTERM: return "SIGTERM";
	case SIGTRAP: return "SIGTRAP";
	case SIGFPE: return "SIGFPE";
	default: return "another signal";
	}
}

/* Runs one build of the wrong program in a child and reads what it did. */
static int run_naive(struct lab *L, struct naive *n, int (*fn)(void *))
{
	static int want = NAIVE_FD;
	n->fd = -1;
	n->exit_status = -1;
	n->select_rc = n->select_errno = n->isset = -1;
	/* glibc writes its fatal message to the terminal unless told to use
	 * stderr, which the lab reads; only the child sees this. */
	setenv("LIBC_FATAL_STDERR_", "1", 1);
	struct proc *p = lab_fork(L, n->key, fn, &want);
	unsetenv("LIBC_FATAL_STDERR_");
	if (!p) {
		fprintf(stderr, LAB_NAME ": cannot fork the naive program: %s\n", strerror(errno));
		return -1;
	}
	double end = lab_now_s() + 10;
	while (!p->exited && lab_now_s() < end)
		if (lab_pump(p, 200) < 0)
			return -1;
	if (!p->exited) {
		lab_stop_proc(L, p, SIGKILL, 0);
		snprintf(n->outcome, sizeof n->outcome, "hung (killed after 10 s)");
		return 0;
	}
	const char *out = p->out ? p->out : "";
	const char *v;
	if ((v = line_val(out, "fd")))
		n->fd = atoi(v);
	if ((v = line_val(out, "select")))
		sscanf(v, "%d %d", &n->select_rc, &n->select_errno);
	if ((v = line_val(out, "isset")))
		n->isset = atoi(v);
	for (const char *l = out; (l = strstr(l, "corrupt ")); l++) {
		long off;
		unsigned old, nw;
		if (sscanf(l, "corrupt %ld %u %u", &off, &old, &nw) == 3) {
			if (!n->corrupted) {
				n->corrupt_off = off;
				n->corrupt_new = nw;
			}
			n->corrupted++;
		}
	}
	/* The last line of stderr: glibc's "*** ... ***: terminated". */
	char why[sizeof p->err];
	proc_last_error(p, why, sizeof why);
	snprintf(n->message, sizeof n->message, "%s", why);
	if ((v = line_val(out, "error")))
		snprintf(n->message, sizeof n->message, "%.*s", (int)strcspn(v, "\n"), v);

	if (WIFSIGNALED(p->status)) {
		n->signal = sig_name(WTERMSIG(p->status));
		snprintf(n->outcome, sizeof n->outcome, "killed by %s", n->signal);
	} else if (WIFEXITED(p->status)) {
		n->exit_status = WEXITSTATUS(p->status);
		if (n->exit_status == 2 && n->fd < 0)
			snprintf(n->outcome, sizeof n->outcome, "could not run");
		else if (n->corrupted)
			snprintf(n->outcome, sizeof n->outcome, "corrupted memory");
		else if (n->select_rc != 1 || n->isset != 1)
			snprintf(n->outcome, sizeof n->outcome, "wrong answer");
		else
			snprintf(n->outcome, sizeof n->outcome, "exited normally");
	}
	return 0;
}

static void json_naive(struct lab *L, const struct naive *n)
{
	jw_open(&L->meas, n->key);
	jw_str(&L->meas, "build", n->build);
	jw_int(&L->meas, "fortify_level", n->fortify);
	jw_bool(&L->meas, "fortified", n->fortify > 0);
	if (n->fd >= 0)
		jw_int(&L->meas, "fd", n->fd);
	else
		jw_null(&L->meas, "fd");
	if (n->outcome[0])
		jw_str(&L->meas, "outcome", n->outcome);
	else
		jw_null(&L->meas, "outcome");
	if (n->signal)
		jw_str(&L->meas, "signal", n->signal);
	else
		jw_null(&L->meas, "signal");
	if (n->exit_status >= 0)
		jw_int(&L->meas, "exit_status", n->exit_status);
	else
		jw_null(&L->meas, "exit_status");
	if (n->message[0])
		jw_str(&L->meas, "message", n->message);
	else
		jw_null(&L->meas, "message");
	if (n->fd >= 0)
		jw_int(&L->meas, "bytes_overwritten", n->corrupted);
	else
		jw_null(&L->meas, "bytes_overwritten");
	if (n->corrupted)
		jw_int(&L->meas, "first_overwritten_offset", (long long)sizeof(fd_set) + n->corrupt_off);
	else
		jw_null(&L->meas, "first_overwritten_offset");
	if (n->select_rc != -1 || n->select_errno > 0)
		jw_int(&L->meas, "select_returned", n->select_rc);
	else
		jw_null(&L->meas, "select_returned");
	jw_close(&L->meas);
}

/* "1st", "2nd", "10th": the ordinal of n. */
static const char *ordinal(char *buf, size_t len, long n)
{
	const char *suf = "th";
	if (n % 100 < 11 || n % 100 > 13)
		suf = n % 10 == 1 ? "st" : n % 10 == 2 ? "nd" : n % 10 == 3 ? "rd" : "th";
	snprintf(buf, len, "%ld%s", n, suf);
	return buf;
}

/* The soft RLIMIT_NOFILE (pollux-lab raised it to the hard one), -1 when
 * unlimited or unknown. */
static long nofile_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return -1;
	return (long)rl.rlim_cur;
}

/* Why a descriptor number or a count of them is out of reach: the limit
 * found and the one needed, for the reader to raise. */
static void limit_why(char *buf, size_t len, const char *what, long need)
{
	char b1[32], b2[32];
	long lim = nofile_limit();
	snprintf(buf, len, "%s: RLIMIT_NOFILE is %s here and this needs at least %s "
	         "(raise it with ulimit -n %ld)", what,
	         lim < 0 ? "unknown" : lab_commas(b1, sizeof b1, (unsigned long long)lim),
	         lab_commas(b2, sizeof b2, (unsigned long long)need), need);
}

/* ---- pollux's select past 4,096 ---- */

struct psel {
	int built, capped;
	int probe_fd, probe_reported;	/* in-lab: a high fd made readable */
	char why[240];			/* why the server part did not run */
	int held;			/* connections the lab opened */
	long max_fd;			/* highest descriptor in the server */
	double open, registered;	/* from its /stats */
	int sent, answered;
	int ok;
	int ran;			/* the server part was tried */
};

/* The highest descriptor number pid has open, from /proc/PID/fd. */
static long max_fd_of(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	long max = -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long v = strtol(e->d_name, &end, 10);
		if (!*end && end != e->d_name && v > max)
			max = v;
	}
	closedir(d);
	return max;
}

/* In the lab: pollux_new("select"), a pipe's read end moved past 4,096,
 * made readable: is it reported? Also tells a capped build (ERANGE). */
static void probe_select(struct psel *s, long need)
{
	pollux_t *p = pollux_new("select");
	s->probe_fd = -1;
	if (!p) {
		snprintf(s->why, sizeof s->why, "the select backend is not built here");
		return;
	}
	s->built = 1;
	int pfd[2];
	if (pipe(pfd) < 0) {
		snprintf(s->why, sizeof s->why, "pipe: %s", strerror(errno));
		pollux_free(p);
		return;
	}
	int hi = fcntl(pfd[0], F_DUPFD_CLOEXEC, 5000);
	if (hi < 0 && errno == EINVAL) {
		limit_why(s->why, sizeof s->why, "cannot move a descriptor to 5,000", need);
	} else if (hi < 0) {
		snprintf(s->why, sizeof s->why, "cannot move a descriptor to 5,000: %s",
		         strerror(errno));
	} else if (pollux_add(p, hi, POLLUX_IN, NULL) < 0) {
		int e = errno;
		if (e == ERANGE) {
			s->capped = 1;
			snprintf(s->why, sizeof s->why, "this build caps select at FD_SETSIZE "
			         "(configure --disable-large-select): pollux_add(%d) fails with "
			         "ERANGE", hi);
		} else {
			snprintf(s->why, sizeof s->why, "pollux_add(%d): %s", hi, strerror(e));
		}
	} else {
		s->probe_fd = hi;
		if (write(pfd[1], "x", 1) == 1) {
			struct pollux_event ev[4];
			int n = pollux_wait(p, ev, 4, 1000);
			for (int i = 0; i < n; i++)
				if (ev[i].fd == hi && (ev[i].events & POLLUX_IN))
					s->probe_reported = 1;
		}
	}
	if (hi >= 0)
		close(hi);
	close(pfd[0]);
	close(pfd[1]);
	pollux_free(p);
}

static int connect_to(int port, int timeout_ms)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* SO_SNDTIMEO bounds a blocking connect on Linux. */
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (lab_connect_lo(fd, port, timeout_ms) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Sends one GET on each of fds[0..n) and counts the 200 answers, waiting
 * at most timeout_ms in all. */
static int ask_all(const int *fds, int n, int timeout_ms)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	struct pollfd *pf = calloc((size_t)n, sizeof *pf);
	char (*got)[16] = calloc((size_t)n, sizeof *got);
	int *len = calloc((size_t)n, sizeof *len);
	int answered = 0, left = 0;
	if (!pf || !got || !len)
		goto out;
	for (int i = 0; i < n; i++) {
		pf[i].fd = -1;
		if (send(fds[i], req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1)) {
			pf[i].fd = fds[i];
			pf[i].events = POLLIN;
			left++;
		}
	}
	double end = lab_now_s() + timeout_ms / 1e3;
	while (left > 0 && !lab_stopped() && lab_now_s() < end) {
		int r = poll(pf, (nfds_t)n, 100);
		if (r < 0 && errno != EINTR)
			break;
		for (int i = 0; r > 0 && i < n; i++) {
			if (pf[i].fd < 0 || !pf[i].revents)
				continue;
			char buf[4096];
			ssize_t k = recv(pf[i].fd, buf, sizeof buf, MSG_DONTWAIT);
			if (k > 0 && len[i] < 12) {
				int take = k < 12 - len[i] ? (int)k : 12 - len[i];
				memcpy(got[i] + len[i], buf, (size_t)take);
				len[i] += take;
			}
			if (k == 0 || (k < 0 && errno != EAGAIN) || len[i] >= 12) {
				if (len[i] >= 12 && memcmp(got[i], "HTTP/1.1 200", 12) == 0)
					answered++;
				pf[i].fd = -1;
				left--;
			}
		}
	}
out:
	free(pf);
	free(got);
	free(len);
	return answered;
}

static int run_pollux_select(struct lab *L, struct psel *s, int want)
{
	probe_select(s, want + 64L > 5001 ? want + 64L : 5001);
	if (!s->built || s->capped || s->probe_fd < 0)
		return 0;
	/* The lab holds one end of each connection and the server the other:
	 * each needs want descriptors and a few. */
	long lim = nofile_limit();
	if (lim >= 0 && lim < want + 64L) {
		char what[64];
		snprintf(what, sizeof what, "cannot hold %d connections", want);
		limit_why(s->why, sizeof s->why, what, want + 64L);
		return 0;
	}
	int port;
	const char *args[] = { "-b", "select", "--idle-timeout", "0", NULL };
	struct proc *srv = lab_server(L, &port, args);
	if (!srv)
		return -1;
	int *fds = malloc((size_t)want * sizeof *fds);
	if (!fds)
		return -1;
	int rc = 0;
	for (s->held = 0; s->held < want; s->held++) {
		if (lab_stopped()) {
			rc = -1;
			goto out;
		}
		if (s->held % 500 == 0)
			lab_progress(L, "pollux-server -b select: %d of %d connections open",
			             s->held, want);
		int fd = connect_to(port, 3000);
		if (fd < 0) {
			snprintf(s->why, sizeof s->why, "connection %d to pollux-server failed: %s",
			         s->held + 1, strerror(errno));
			break;
		}
		fds[s->held] = fd;
	}
	/* The server accepts as it can: wait (bounded) until it holds them. */
	double end = lab_now_s() + 10;
	char *st = NULL;
	while (!lab_stopped() && lab_now_s() < end) {
		free(st);
		st = lab_http_get(port, "/stats", 3000);
		s->open = lab_json_num(st, "open");
		s->registered = lab_json_num(st, "registered");
		if (isfinite(s->open) && s->open >= s->held + 1)	/* + the /stats one */
			break;
		lab_sleep_ms(50);
	}
	free(st);
	s->max_fd = max_fd_of(srv->pid);
	/* The requests: on the 50 newest connections (the server's highest
	 * descriptors) and the 50 oldest, all at once. */
	int k = s->held < 50 ? s->held : 50;
	int *ask = malloc(2 * (size_t)(k > 0 ? k : 1) * sizeof *ask);
	if (ask && k > 0) {
		for (int i = 0; i < k; i++) {
			ask[i] = fds[s->held - 1 - i];
			ask[k + i] = fds[i];
		}
		s->sent = s->held > 2 * k ? 2 * k : s->held;
		lab_progress(L, "asking %d of %d held connections for GET /", s->sent, s->held);
		s->answered = ask_all(ask, s->sent, 10000);
	}
	free(ask);
	if (lab_stopped())
		rc = -1;
	s->ok = s->held == want && s->max_fd > 4096 && s->sent > 0 && s->answered == s->sent &&
	        isfinite(s->registered) && s->registered >= want;
out:
	for (int i = 0; i < s->held; i++)
		close(fds[i]);
	free(fds);
	lab_stop_proc(L, srv, SIGTERM, 2000);
	return rc;
}

/* The build a copy really got, from the level it reports: a CFLAGS with
 * -O0 after ours leaves the "fortified" copy without glibc's check. */
static void describe_build(struct naive *n, int fortified_copy, int level, int optimized)
{
	n->fortify = level;
	if (!fortified_copy) {
		n->build = "-U_FORTIFY_SOURCE";
		n->label = optimized ? "naive, not fortified" : "naive, not fortified (-O0)";
	} else if (level > 0) {
		n->build = level >= 3 ? "-D_FORTIFY_SOURCE=3, optimised"
		                      : "-D_FORTIFY_SOURCE=2, optimised";
		n->label = level >= 3 ? "naive, fortified (level 3)" : "naive, fortified (level 2)";
	} else if (!optimized) {
		n->build = "-D_FORTIFY_SOURCE=2 asked, not in effect: compiled without optimisation";
		n->label = "naive, meant fortified (-O0)";
	} else {
		n->build = "-D_FORTIFY_SOURCE=2 asked, not in effect: the C library has none";
		n->label = "naive, meant fortified";
	}
}

/* Neither a normal exit nor a failure to start: the write showed. */
static int harmful(const struct naive *n)
{
	return n->outcome[0] && strcmp(n->outcome, "exited normally") != 0 &&
	       strcmp(n->outcome, "could not run") != 0;
}

static void json_all(struct lab *L, const struct naive nv[2], const struct psel *s,
                     const struct lab_sweep *r)
{
	for (int i = 0; i < 2; i++)
		json_naive(L, &nv[i]);
	jw_open(&L->meas, "pollux_select");
	jw_bool(&L->meas, "built", s->built);
	jw_bool(&L->meas, "capped_at_fd_setsize", s->capped);
	if (s->probe_fd >= 0) {
		jw_int(&L->meas, "in_lab_fd", s->probe_fd);
		jw_bool(&L->meas, "in_lab_fd_reported", s->probe_reported);
	} else {
		jw_null(&L->meas, "in_lab_fd");
		jw_null(&L->meas, "in_lab_fd_reported");
	}
	jw_int(&L->meas, "connections_held", s->held);
	if (s->max_fd >= 0)
		jw_int(&L->meas, "max_fd", s->max_fd);
	else
		jw_null(&L->meas, "max_fd");
	jw_num(&L->meas, "registered", s->held ? s->registered : NAN);
	jw_int(&L->meas, "requests_sent", s->sent);
	jw_int(&L->meas, "requests_answered", s->answered);
	if (s->ran)
		jw_bool(&L->meas, "ok", s->ok);
	else
		jw_null(&L->meas, "ok");
	if (s->why[0])
		jw_str(&L->meas, "why_not", s->why);
	jw_close(&L->meas);
	/* Every backend built has its key, null when it was not swept (-b
	 * names another) or gave no fit. */
	jw_open(&L->meas, "ns_per_fd_per_wait");
	const char *const *all = pollux_backends();
	for (int i = 0; all && all[i]; i++) {
		double v = NAN;
		for (int b = 0; r && b < r->nb; b++)
			if (strcmp(r->b[b].name, all[i]) == 0)
				v = r->b[b].ns_per_fd;
		jw_num(&L->meas, all[i], v);
	}
	jw_close(&L->meas);
}

static void table(struct lab *L, const struct naive nv[2], const struct psel *s,
                  const struct lab_sweep *r)
{
	char b1[32], b2[32], b3[32], t[600];
	lab_printf(L, "\n%-30s %6s  %s\n", "program", "fd", "what happened");
	for (int i = 0; i < 2; i++) {
		const struct naive *n = &nv[i];
		char fdb[16] = "-";
		if (n->fd >= 0)
			snprintf(fdb, sizeof fdb, "%d", n->fd);
		lab_printf(L, "%-30s %6s  %s\n", n->label, fdb, n->outcome[0] ? n->outcome : "-");
		if (i == 0 && n->fortify == 0) {
			snprintf(t, sizeof t, "this build compiled the fortified copy %s, so glibc's "
			         "FD_SET check is absent and it runs like the unfortified one",
			         fdset_naive_optimized_fortified ? "with a C library that has no "
			         "_FORTIFY_SOURCE" : "without optimisation (-O0 in CFLAGS?)");
			lab_wrap(L, "    ", t);
		}
		if (strcmp(n->outcome, "could not run") == 0 && n->message[0])
			lab_wrap(L, "    ", n->message);
		if (n->corrupted) {
			snprintf(t, sizeof t, "FD_SET changed %d byte%s past the fd_set's end: the "
			         "byte at offset %ld after it (the %s) went 0x00 -> 0x%02x",
			         n->corrupted, n->corrupted == 1 ? "" : "s", n->corrupt_off,
			         ordinal(b1, sizeof b1, n->corrupt_off + 1), n->corrupt_new);
			lab_wrap(L, "    ", t);
		}
		if (n->select_rc != -1 && !n->signal) {
			snprintf(t, sizeof t, "then select returned %d%s%s", n->select_rc,
			         n->select_rc < 0 ? ": " : "",
			         n->select_rc < 0 ? strerror(n->select_errno) : "");
			lab_wrap(L, "    ", t);
		}
		if (n->message[0] && n->signal) {
			snprintf(t, sizeof t, "\"%.500s\"", n->message);
			lab_wrap(L, "    ", t);
		}
	}
	if (s->probe_fd >= 0)
		lab_printf(L, "%-30s %6d  %s\n", "pollux select, in the lab", s->probe_fd,
		           s->probe_reported ? "reported readable" : "NOT reported");
	if (s->held > 0) {
		char maxb[24] = "-";
		if (s->max_fd >= 0)
			snprintf(maxb, sizeof maxb, "%ld", s->max_fd);
		lab_printf(L, "%-30s %6s  %s\n", "pollux-server -b select", maxb, "max fd");
		snprintf(t, sizeof t, "%s connections held, %d of %d GET / answered, %s registered",
		         lab_commas(b1, sizeof b1, (unsigned)s->held), s->answered, s->sent,
		         isfinite(s->registered) ? lab_commas(b2, sizeof b2,
		                                             (unsigned long long)s->registered)
		                                : "-");
		lab_wrap(L, "    ", t);
	}
	if (s->why[0]) {
		lab_printf(L, "%-30s %6s  %s\n", "pollux select", "-", "not shown past 4,096:");
		lab_wrap(L, "    ", s->why);
	}
	if (r) {
		lab_printf(L, "\n%-8s %8s %10s\n", "backend", "fds", "us/wait");
		for (int i = 0; i < r->np; i++)
			lab_printf(L, "%-8s %8.0f %10s%s\n", r->p[i].backend, r->p[i].fds,
			           lab_fmt(b3, sizeof b3, r->p[i].us_per_wait, 2),
			           r->p[i].failed ? "  (failed)" : "");
		lab_printf(L, "\n%-8s %16s\n", "backend", "ns/fd/wait");
		for (int b = 0; b < r->nb; b++)
			lab_printf(L, "%-8s %16s\n", r->b[b].name,
			           lab_fmt(b3, sizeof b3, r->b[b].ns_per_fd, 2));
	}
	lab_printf(L, "\n");
}

static int run(struct lab *L)
{
	char b1[32], b2[32], b3[32], t[600];
	int want = L->o->quick ? 4500 : 6000;
	double secs = lab_seconds(L, 0.3, 0.8);

	/* Which sweep: past 4,096 unless select is capped here (then every
	 * point must stay under FD_SETSIZE, or select's points fail). */
	struct psel s;
	memset(&s, 0, sizeof s);
	s.max_fd = -1;
	probe_select(&s, want + 64L > 5001 ? want + 64L : 5001);
	int capped = s.capped;
	const char *fds = capped ? "0,300,900" : L->o->quick ? "0,2000,4000" : "0,2500,5000,7500";
	/* -b: the sweep measures that backend alone (the server part is
	 * pollux's select whatever -b says: it is the lesson's subject). */
	char swept[200] = "";
	const char *const *all = pollux_backends();
	if (L->o->backend)
		snprintf(swept, sizeof swept, "%s", L->o->backend);
	else
		for (int i = 0; all && all[i]; i++)
			snprintf(swept + strlen(swept), sizeof swept - strlen(swept), "%s%s",
			         i ? ", " : "", all[i]);

	jw_int(&L->settings, "fd_setsize", FD_SETSIZE);
	jw_int(&L->settings, "naive_fd", NAIVE_FD);
	jw_str(&L->settings, "backend", "select");
	jw_str(&L->settings, "sweep_backends", swept);
	jw_int(&L->settings, "select_connections", want);
	jw_str(&L->settings, "sweep_fds", fds);
	jw_num(&L->settings, "sweep_seconds_per_point", secs);
	jw_num(&L->settings, "seconds", secs);
	jw_str(&L->settings, "seconds_sets", "sweep_seconds_per_point");
	lab_setup(L, "a program puts descriptor %d into a plain fd_set (FD_SETSIZE %s)",
	          NAIVE_FD, lab_commas(b1, sizeof b1, FD_SETSIZE));
	lab_setup(L, "and calls select, in a child, built twice: with -D_FORTIFY_SOURCE=2");
	lab_setup(L, "-O2 (in this build: %s) and without", fdset_naive_fortify_fortified > 0 ?
	          "in effect" : "not in effect, compiled without -O");
	if (capped)
		lab_setup(L, "this build caps pollux's select at FD_SETSIZE: no server past it");
	else
		lab_setup(L, "then pollux-server -b select holds %s connections from the lab",
		          lab_commas(b1, sizeof b1, (unsigned)want));
	if (!capped)
		lab_setup(L, "and answers GET / on 100 of them");
	lab_setup(L, "then pollux-scale sweeps %s idle descriptors,", fds);
	lab_setup(L, "%.3g s a point, %s: %s", secs,
	          L->o->backend ? "on the backend of -b" : "on every backend built", swept);

	/* (a) the wrong program, both builds */
	struct naive nv[2];
	memset(nv, 0, sizeof nv);
	for (int i = 0; i < 2; i++) {
		nv[i].fd = -1;
		nv[i].exit_status = -1;
		nv[i].select_rc = nv[i].select_errno = nv[i].isset = -1;
	}
	nv[0].key = "naive";
	describe_build(&nv[0], 1, fdset_naive_fortify_fortified, fdset_naive_optimized_fortified);
	nv[1].key = "naive_unfortified";
	describe_build(&nv[1], 0, fdset_naive_fortify_plain, fdset_naive_optimized_plain);
	memset(&s, 0, sizeof s);
	s.max_fd = -1;
	s.probe_fd = -1;
	struct lab_sweep r;
	int swept_ok = 0, failed = 0;
	lab_progress(L, "running the naive fd_set program");
	if (run_naive(L, &nv[0], fdset_naive_fortified) < 0 ||
	    run_naive(L, &nv[1], fdset_naive_plain) < 0)
		failed = 1;
	/* A descriptor past the limit: say which limit, and what is needed. */
	for (int i = 0; i < 2; i++)
		if (strcmp(nv[i].outcome, "could not run") == 0 && strstr(nv[i].message, "dup2") &&
		    nofile_limit() >= 0 && nofile_limit() <= NAIVE_FD) {
			char m[sizeof nv[i].message];
			limit_why(m, sizeof m, nv[i].message, NAIVE_FD + 1);
			snprintf(nv[i].message, sizeof nv[i].message, "%s", m);
		}

	/* (b) pollux's select past 4,096 */
	if (!failed) {
		s.ran = 1;
		if (run_pollux_select(L, &s, want) < 0)
			failed = 1;
	}

	/* (c) what the scan costs */
	if (!failed) {
		swept_ok = lab_sweep(L, L->o->backend, fds, secs, &r) == 0;
		if (lab_stopped())
			failed = 1;
	}
	json_all(L, nv, &s, swept_ok ? &r : NULL);
	if (failed && lab_stopped())
		return LAB_NOT_OBSERVED;
	if (failed)
		return lab_fail(L, "%s", nv[1].outcome[0] ? "pollux-server -b select could not "
		                "be run (see above)" : "the naive program could not be forked "
		                "(see above)");

	table(L, nv, &s, swept_ok ? &r : NULL);

	/* The cost quoted: select's, or that of the one backend -b swept. */
	const char *cost_of = L->o->backend ? L->o->backend : "select";
	char sel[200];
	double sel_ns = NAN;
	for (int b = 0; swept_ok && b < r.nb; b++)
		if (strcmp(r.b[b].name, cost_of) == 0)
			sel_ns = r.b[b].ns_per_fd;
	if (isfinite(sel_ns) && sel_ns < 0.5)	/* epoll: noise around zero */
		snprintf(sel, sizeof sel, "; %s's cost per wait does not grow with idle "
		         "descriptors (fit: %.2f ns per descriptor)", cost_of, sel_ns);
	else if (isfinite(sel_ns))
		snprintf(sel, sizeof sel, "; %s's scan costs %.0f ns per descriptor per wait "
		         "(%.2f ms a wait at %s)", cost_of, sel_ns,
		         sel_ns * (capped ? 1000 : 4096) / 1e6,
		         lab_commas(b3, sizeof b3, capped ? 1000 : 4096));
	else
		snprintf(sel, sizeof sel, "; %s's scan cost was not measured (the sweep %s)",
		         cost_of, swept_ok ? "gave no fit" : "failed");
	char pol[400];
	if (s.ok)
		snprintf(pol, sizeof pol, "pollux's select served descriptors up to %s "
		         "(%d of %d requests answered, %s connections registered)",
		         lab_commas(b1, sizeof b1, (unsigned long long)s.max_fd),
		         s.answered, s.sent, lab_commas(b2, sizeof b2, (unsigned long long)s.registered));
	else if (s.why[0])
		snprintf(pol, sizeof pol, "pollux's select was not shown past 4,096: %s", s.why);
	else
		snprintf(pol, sizeof pol, "pollux's select did not serve past 4,096 (max fd %ld, "
		         "%d of %d requests answered)", s.max_fd, s.answered, s.sent);

	/* The naive part could not run (a limit under 1,101): that is why. */
	for (int i = 0; i < 2; i++)
		if (!harmful(&nv[i]) && strcmp(nv[i].outcome, "could not run") == 0)
			return lab_fail(L, "the naive program could not run: %.400s; %s%s",
			                nv[i].message[0] ? nv[i].message : "no reason given", pol, sel);

	/* What each copy did; the fortified copy's abort is claimed only when
	 * that copy really had glibc's check. */
	char fort[600];
	if (nv[0].fortify > 0)
		snprintf(fort, sizeof fort, "fortified build %s%s%.300s%s", nv[0].outcome,
		         nv[0].signal && nv[0].message[0] ? " (\"" : "",
		         nv[0].signal ? nv[0].message : "",
		         nv[0].signal && nv[0].message[0] ? "\")" : "");
	else
		snprintf(fort, sizeof fort, "the copy meant to be fortified %s, as this build "
		         "compiled it %s, so glibc's check was absent (no abort to show here)",
		         nv[0].outcome, fdset_naive_optimized_fortified ?
		         "with a C library without _FORTIFY_SOURCE" : "without optimisation");
	snprintf(t, sizeof t, "unfortified %s%s", nv[1].outcome,
	         nv[1].corrupted && nv[1].exit_status == 0 ?
	         " and exited as if nothing had happened" : "");
	return lab_verdict(L, harmful(&nv[0]) && harmful(&nv[1]) && s.ok,
	                   "FD_SET(%d) on a plain fd_set: %s; %s; %s%s", NAIVE_FD, fort, t,
	                   pol, sel);
}

const struct lesson lab_lesson_fdsetsize = {
	"fdsetsize",
	"What happens to a descriptor past FD_SETSIZE in select?",
	run, 0
};
