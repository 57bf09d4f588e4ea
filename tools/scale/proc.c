/* proc.c: child processes of pollux-scale (each in its own process group,
 * output read through pipes), the signal self-pipe, and finding tools. */
#include "toolconfig.h"
#include "proc.h"
#include "common.h"
#include "pollux.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

volatile sig_atomic_t scale_stop_signal;
/* Counts stop signals, so a second ^C can cut a graceful stop short. */
static volatile sig_atomic_t stop_count;

/* Written to by the handlers so that every wait wakes on a signal. */
static int wake_pipe[2] = { -1, -1 };

static void on_stop(int sig)
{
	int e = errno;
	scale_stop_signal = sig;
	stop_count++;
	if (write(wake_pipe[1], "s", 1) < 0) {
		/* Full pipe: a wake-up is already pending. */
	}
	errno = e;
}

static void on_child(int sig)
{
	int e = errno;
	(void)sig;
	if (write(wake_pipe[1], "c", 1) < 0) {
		/* Full pipe: a wake-up is already pending. */
	}
	errno = e;
}

int scale_signals_init(void)
{
	if (pipe(wake_pipe) < 0)
		return -1;
	for (int i = 0; i < 2; i++)
		if (px_set_nonblock(wake_pipe[i]) < 0 ||
		    px_set_cloexec(wake_pipe[i]) < 0)
			return -1;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking call should return so we can stop.
	 * SIGINT and SIGHUP stay ignored when we were started ignoring them
	 * (nohup, a background job of a shell without job control). */
	int sigs[] = { SIGINT, SIGHUP, SIGTERM };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		struct sigaction old;
		if (sigs[i] != SIGTERM && sigaction(sigs[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;
		sa.sa_handler = on_stop;
		sigaction(sigs[i], &sa, NULL);
	}
	sa.sa_handler = on_child;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

int scale_wake_fd(void)
{
	return wake_pipe[0];
}

static void drain_wake(void)
{
	char buf[64];
	while (read(wake_pipe[0], buf, sizeof buf) > 0)
		;
}

/* ---- spawning ---- */

/* What every child does first: a process group of its own, death with its
 * parent, default signals, stdin from /dev/null, stdout and stderr into
 * the pipes. */
static void child_setup(int out, int err, pid_t parent)
{
	/* Own process group: the terminal's ^C reaches only the parent,
	 * which then stops the whole group (and any grandchild) itself. */
	setpgid(0, 0);
#ifdef __linux__
	/* And if the parent is killed outright, the kernel stops us. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)	/* it died before prctl took hold */
		_exit(127);
#else
	(void)parent;
#endif
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGPIPE };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	int null = open("/dev/null", O_RDONLY);
	if (null >= 0 && null != 0) {
		dup2(null, 0);
		close(null);
	}
	dup2(out, 1);
	dup2(err, 2);
	/* The originals would be two stray descriptors in the child. */
	if (out > 2)
		close(out);
	if (err > 2)
		close(err);
}

static int start(struct proc *p, const char *const argv[], int (*fn)(void *), void *arg,
                 const char *name)
{
	int out[2], err[2];
	memset(p, 0, sizeof *p);
	p->pid = -1;
	p->out_fd = p->err_fd = -1;
	if (pipe(out) < 0)
		return -1;
	if (pipe(err) < 0) {
		close(out[0]);
		close(out[1]);
		return -1;
	}
	/* Our ends must not leak into the other child. */
	px_set_cloexec(out[0]);
	px_set_cloexec(err[0]);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(out[0]); close(out[1]); close(err[0]); close(err[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		child_setup(out[1], err[1], parent);
		if (fn) {
			int rc = fn(arg);
			fflush(NULL);
			_exit(rc);
		}
		execv(argv[0], (char *const *)argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	/* Also here, so that a kill(-pid) right after fork cannot miss. */
	setpgid(pid, pid);
	close(out[1]);
	close(err[1]);
	px_set_nonblock(out[0]);
	px_set_nonblock(err[0]);
	p->pid = pid;
	p->out_fd = out[0];
	p->err_fd = err[0];
	p->name = name;
	return 0;
}

int proc_spawn(struct proc *p, const char *const argv[])
{
	return start(p, argv, NULL, NULL, argv[0]);
}

int proc_fork(struct proc *p, const char *name, int (*fn)(void *), void *arg)
{
	return start(p, NULL, fn, arg, name);
}

/* Keeps the last lines of a child's stderr, for the failure message. */
static void keep_err(struct proc *p, const char *buf, size_t n)
{
	size_t cap = sizeof p->err - 1;
	if (n >= cap) {
		memcpy(p->err, buf + n - cap, cap);
		p->errlen = cap;
	} else {
		if (p->errlen + n > cap) {
			size_t drop = p->errlen + n - cap;
			memmove(p->err, p->err + drop, p->errlen - drop);
			p->errlen -= drop;
		}
		memcpy(p->err + p->errlen, buf, n);
		p->errlen += n;
	}
	p->err[p->errlen] = '\0';
}

static void keep_out(struct proc *p, const char *buf, size_t n)
{
	/* stdout is small (a line and a JSON object); cap it anyway. */
	if (p->outlen + n > PROC_MAX_OUT)
		n = PROC_MAX_OUT - p->outlen;
	if (p->outlen + n + 1 > p->outcap) {
		size_t cap = p->outcap ? p->outcap : 4096;
		while (cap < p->outlen + n + 1)
			cap *= 2;
		char *b = realloc(p->out, cap);
		if (!b)
			return;
		p->out = b;
		p->outcap = cap;
	}
	memcpy(p->out + p->outlen, buf, n);
	p->outlen += n;
	p->out[p->outlen] = '\0';
}

static void read_fd(struct proc *p, int *fd, int is_err)
{
	char buf[4096];
	for (;;) {
		ssize_t r = read(*fd, buf, sizeof buf);
		if (r > 0) {
			if (is_err)
				keep_err(p, buf, (size_t)r);
			else
				keep_out(p, buf, (size_t)r);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		close(*fd);	/* EOF or error: nothing more will come */
		*fd = -1;
		return;
	}
}

/* Notices an exited child without reaping it, stops the rest of its
 * group while the group id cannot yet be reused, then reaps it. */
static void check_exit(struct proc *p)
{
	if (p->pid <= 0 || p->exited)
		return;
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
	    si.si_pid != p->pid)
		return;
	kill(-p->pid, SIGKILL);
	int st;
	while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
		;
	p->exited = 1;
	p->status = st;
}

/*
 * One poller for every such wait, kept for the life of the process: a
 * wait adds its fds, waits, and deletes them again. Making a poller per
 * wait would cost its creation each time, and on uring each pollux_free
 * interrupts this thread's next blocking socket call once (pollux_new(3)).
 * A forked child that waits here gets a kernel object of its own
 * (pollux_reinit), never a share of the parent's. Main thread only.
 */
static pollux_t *waiter;
static pid_t waiter_pid;

static pollux_t *get_waiter(void)
{
	if (!waiter) {
		if (!(waiter = pollux_new(NULL)))
			return NULL;
		waiter_pid = getpid();
	} else if (waiter_pid != getpid()) {
		if (pollux_reinit(waiter) < 0)
			return NULL;
		waiter_pid = getpid();
	}
	return waiter;
}

int proc_wait_fds(const int *fds, const unsigned *events, int n, int *ready,
                  int timeout_ms)
{
	pollux_t *p = get_waiter();
	if (!p)
		return -1;
	int rc = 0, added = 0;
	for (; added < n; added++) {
		ready[added] = 0;
		if (pollux_add(p, fds[added], events[added], (void *)(intptr_t)added) < 0) {
			rc = -1;
			goto out;
		}
	}
	struct pollux_event ev[1 + 2 * PROC_MAX];
	int k = pollux_wait(p, ev, (int)(sizeof ev / sizeof ev[0]), timeout_ms);
	if (k < 0) {
		rc = -1;
		goto out;
	}
	for (int j = 0; j < k; j++) {
		int i = (int)(intptr_t)ev[j].data;
		if (i >= 0 && i < n && !ready[i]) {
			ready[i] = 1;	/* ERR and HUP too: the read or write says */
			rc++;
		}
	}
out:;
	int e = errno;
	for (int i = 0; i < added; i++)
		(void)pollux_del(p, fds[i]);
	errno = e;
	return rc;
}

static int pump(struct proc *ps[], int n, int timeout_ms, int honour_stop)
{
	int fds[1 + 2 * PROC_MAX], ready[1 + 2 * PROC_MAX];
	unsigned events[1 + 2 * PROC_MAX];
	struct proc *owner[1 + 2 * PROC_MAX];
	int is_err[1 + 2 * PROC_MAX];
	int k = 0;
	fds[k] = wake_pipe[0];
	owner[k] = NULL;
	is_err[k++] = 0;
	for (int i = 0; i < n && i < PROC_MAX; i++) {
		if (!ps[i])
			continue;
		if (ps[i]->out_fd >= 0) {
			fds[k] = ps[i]->out_fd;
			owner[k] = ps[i];
			is_err[k++] = 0;
		}
		if (ps[i]->err_fd >= 0) {
			fds[k] = ps[i]->err_fd;
			owner[k] = ps[i];
			is_err[k++] = 1;
		}
	}
	for (int j = 0; j < k; j++)
		events[j] = POLLUX_IN;
	if (timeout_ms < 0)
		timeout_ms = 0;
	int r = proc_wait_fds(fds, events, k, ready,
	                      honour_stop && scale_stop_signal ? 0 : timeout_ms);
	if (r > 0) {
		if (ready[0])
			drain_wake();
		for (int j = 1; j < k; j++)
			if (ready[j])
				read_fd(owner[j], is_err[j] ? &owner[j]->err_fd
				                            : &owner[j]->out_fd,
				        is_err[j]);
	}
	for (int i = 0; i < n; i++)
		if (ps[i])
			check_exit(ps[i]);
	return scale_stop_signal ? -1 : 0;
}

int proc_pump(struct proc *ps[], int n, int timeout_ms)
{
	return pump(ps, n, timeout_ms, 1);
}

void proc_stop(struct proc *p, int sig, int grace_ms)
{
	if (p->pid <= 0)
		return;
	struct proc *one[1] = { p };
	if (!p->exited) {
		kill(-p->pid, sig);
		uint64_t end = px_now_us() + (uint64_t)grace_ms * 1000;
		sig_atomic_t count = stop_count;
		/* A further stop signal (a second ^C) ends the grace. */
		while (!p->exited && px_now_us() < end && stop_count == count) {
			uint64_t now = px_now_us();
			int left = (int)((end - now) / 1000) + 1;
			pump(one, 1, left > 100 ? 100 : left, 0);
		}
	}
	if (!p->exited) {
		kill(-p->pid, SIGKILL);
		int st;
		while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
			;
		p->exited = 1;
		p->status = st;
	}
	/* What is left in the pipes (final statistics, last error). */
	if (p->out_fd >= 0)
		read_fd(p, &p->out_fd, 0);
	if (p->err_fd >= 0)
		read_fd(p, &p->err_fd, 1);
}

void proc_free(struct proc *p)
{
	if (p->pid > 0 && !p->exited)
		proc_stop(p, SIGKILL, 0);
	if (p->out_fd >= 0)
		close(p->out_fd);
	if (p->err_fd >= 0)
		close(p->err_fd);
	free(p->out);
	memset(p, 0, sizeof *p);
	p->pid = -1;
	p->out_fd = p->err_fd = -1;
}

void proc_last_error(const struct proc *p, char *buf, size_t n)
{
	/* The last non-empty line of stderr, which is where tools put the
	 * one-line reason they failed. */
	const char *e = p->err;
	size_t len = p->errlen;
	while (len && (e[len - 1] == '\n' || e[len - 1] == '\r' ||
	               e[len - 1] == ' '))
		len--;
	size_t start = len;
	while (start && e[start - 1] != '\n')
		start--;
	snprintf(buf, n, "%.*s", (int)(len - start), e + start);
}

void proc_describe_status(const struct proc *p, char *buf, size_t n)
{
	if (!p->exited)
		snprintf(buf, n, "still running");
	else if (WIFEXITED(p->status))
		snprintf(buf, n, "exit status %d", WEXITSTATUS(p->status));
	else if (WIFSIGNALED(p->status))
		snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(p->status),
		         strsignal(WTERMSIG(p->status)));
	else
		snprintf(buf, n, "status %d", p->status);
}

/* ---- finding the tools ---- */

static int is_exe(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
}

char *scale_which(const char *name)
{
	if (strchr(name, '/'))
		return is_exe(name) ? strdup(name) : NULL;
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t len = colon ? (size_t)(colon - path) : strlen(path);
		char buf[PATH_MAX];
		if (len == 0)
			snprintf(buf, sizeof buf, "./%s", name);
		else
			snprintf(buf, sizeof buf, "%.*s/%s", (int)len, path, name);
		if (is_exe(buf))
			return strdup(buf);
		path += len + (colon ? 1 : 0);
	}
	return NULL;
}

/* Looks for NAME in DIR, or, when DIR is libtool's .libs, first in its
 * parent where the wrapper script that sets the library path lives. */
static char *find_beside(const char *dir, const char *name)
{
	char buf[PATH_MAX];
	size_t len = strlen(dir);
	if (len >= 6 && strcmp(dir + len - 6, "/.libs") == 0) {
		snprintf(buf, sizeof buf, "%.*s/%s", (int)(len - 6), dir, name);
		if (is_exe(buf))
			return strdup(buf);
	}
	snprintf(buf, sizeof buf, "%s/%s", dir, name);
	return is_exe(buf) ? strdup(buf) : NULL;
}

static char *dir_of(const char *path)
{
	char *d = strdup(path);
	if (!d)
		return NULL;
	char *slash = strrchr(d, '/');
	if (!slash) {
		free(d);
		return NULL;
	}
	if (slash == d)
		slash[1] = '\0';
	else
		*slash = '\0';
	return d;
}

char *scale_find_tool(const char *name, const char *override,
                      const char *argv0)
{
	if (override && *override)
		return scale_which(override);

	char *found = NULL;
#ifdef __linux__
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		char *dir = dir_of(self);
		if (dir)
			found = find_beside(dir, name);
		free(dir);
		if (found)
			return found;
	}
#endif
	if (argv0 && strchr(argv0, '/')) {
		char real[PATH_MAX];
		if (realpath(argv0, real)) {
			char *dir = dir_of(real);
			if (dir)
				found = find_beside(dir, name);
			free(dir);
			if (found)
				return found;
		}
	}
	return scale_which(name);
}

/* ---- CPU time of a process group (the server and its workers) ---- */

/* utime + stime of one /proc/PID/stat, in clock ticks, if its process
 * group is pgid. The command name (field 2) may hold spaces and
 * parentheses, so fields are counted from its last ')'. */
static int stat_ticks(const char *pid, pid_t pgid, double *ticks)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%s/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *s = strrchr(buf, ')');
	if (!s)
		return -1;
	/* After ')': state(3) ppid(4) pgrp(5) ... utime(14) stime(15). */
	long pgrp = 0;
	unsigned long long ut = 0, st = 0;
	if (sscanf(s + 1, " %*c %*d %ld %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	           &pgrp, &ut, &st) != 3)
		return -1;
	if ((pid_t)pgrp != pgid)
		return 1;
	*ticks += (double)ut + (double)st;
	return 0;
}

double proc_group_cpu_s(pid_t pgid)
{
	long hz = sysconf(_SC_CLK_TCK);
	if (pgid <= 0 || hz <= 0)
		return NAN;
	DIR *d = opendir("/proc");
	if (!d)
		return NAN;
	double ticks = 0;
	int found = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		/* A process that ended meanwhile cannot be read: skipped. */
		if (stat_ticks(e->d_name, pgid, &ticks) == 0)
			found++;
	}
	closedir(d);
	return found ? ticks / (double)hz : NAN;
}
