/* run.c: what a lesson runs and measures outside itself: the stop signal,
 * child processes held until the lesson ends, pollux-server started on a
 * free loopback port, /stats, a temporary directory, and a process's CPU
 * time, memory, threads and children read from /proc. */
#define _GNU_SOURCE	/* nftw's FTW_DEPTH and FTW_PHYS */
#include "toolconfig.h"
#include "lab.h"
#include "common.h"
#include "pollux.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int lab_stopped(void)
{
	return scale_stop_signal != 0;
}

double lab_now_s(void)
{
	return (double)px_now_ns() / 1e9;
}

int lab_sleep_ms(int ms)
{
	/* The signal handlers have no SA_RESTART, so a stop cuts it short. */
	uint64_t end = px_now_ns() + (uint64_t)ms * 1000000u;
	while (!lab_stopped()) {
		uint64_t now = px_now_ns();
		if (now >= end)
			return 0;
		struct timespec ts = { (time_t)((end - now) / 1000000000u),
		                       (long)((end - now) % 1000000000u) };
		nanosleep(&ts, NULL);
	}
	return -1;
}

double lab_seconds(const struct lab *L, double quick_s, double full_s)
{
	if (L->o->seconds > 0)
		return L->o->seconds;
	return L->o->quick ? quick_s : full_s;
}

void lab_no_timed_phase(struct lab *L)
{
	jw_null(&L->settings, "seconds");
	if (L->o->seconds > 0)
		fprintf(stderr, LAB_NAME ": %s has no timed phase; -d/--duration ignored\n",
		        L->lesson->name);
}

void lab_setup_models(struct lab *L, const char *models)
{
	const char *b = L->o->backend;
	lab_setup(L, "pollux-server --model %s%s%s%s, in turn (-b is the loop server's "
	          "backend only)", models, b ? " (loop on " : "", b ? b : "", b ? ")" : "");
}

void lab_clients_backend(struct lab *L)
{
	pollux_t *cp = pollux_new(NULL);
	jw_str(&L->settings, "clients_backend", cp ? pollux_backend(cp) : NULL);
	if (cp)
		pollux_free(cp);
}

const char *lab_tool(struct lab *L, const char *name)
{
	static struct { const char *name; char *path; } found[8];
	for (size_t i = 0; i < sizeof found / sizeof found[0]; i++) {
		if (found[i].name && strcmp(found[i].name, name) == 0)
			return found[i].path;
		if (!found[i].name) {
			found[i].name = name;
			found[i].path = scale_find_tool(name, NULL, L->o->argv0);
			return found[i].path;
		}
	}
	return NULL;
}

static struct proc *hold(struct lab *L, const char *const argv[], const char *name,
                         int (*fn)(void *), void *arg)
{
	size_t slot = 0;
	while (slot < sizeof L->procs / sizeof L->procs[0] && L->procs[slot])
		slot++;
	if (slot == sizeof L->procs / sizeof L->procs[0]) {
		errno = EMFILE;
		return NULL;
	}
	struct proc *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	if ((fn ? proc_fork(p, name, fn, arg) : proc_spawn(p, argv)) < 0) {
		int e = errno;
		free(p);
		errno = e;
		return NULL;
	}
	L->procs[slot] = p;
	return p;
}

struct proc *lab_spawn(struct lab *L, const char *const argv[])
{
	return hold(L, argv, argv[0], NULL, NULL);
}

struct proc *lab_fork(struct lab *L, const char *name, int (*fn)(void *), void *arg)
{
	/* What the lab buffered must not be written twice, by both. */
	fflush(NULL);
	return hold(L, NULL, name, fn, arg);
}

/* Stops p; a server that forks (a process per connection) leaves its
 * children in its process group, and if they outlive their parent they
 * must not outlive the lab. Only right after the leader was reaped here:
 * while a member lives the group's id cannot be reused, but once none is
 * left it can be, and a lesson that starts thousands of threads and
 * processes may wrap the pid space before a stale kill. */
static void stop_and_end_group(struct proc *p, int sig, int grace_ms)
{
	int running = p->pid > 0 && !p->exited;
	proc_stop(p, sig, grace_ms);
	if (running && p->exited)
		(void)kill(-p->pid, SIGKILL);
}

void lab_stop_proc(struct lab *L, struct proc *p, int sig, int grace_ms)
{
	if (!p)
		return;
	stop_and_end_group(p, sig, grace_ms);
	(void)L;
}

int lab_pump(struct proc *p, int timeout_ms)
{
	struct proc *one[1] = { p };
	return proc_pump(one, 1, timeout_ms);
}

/* Called at the end of every lesson, also after a stop or a failure. */
void lab_release(struct lab *L)
{
	for (size_t i = 0; i < sizeof L->procs / sizeof L->procs[0]; i++) {
		if (!L->procs[i])
			continue;
		stop_and_end_group(L->procs[i], SIGTERM, 2000);
		proc_free(L->procs[i]);
		free(L->procs[i]);
		L->procs[i] = NULL;
	}
	if (L->tmpdir) {
		(void)lab_remove_tree(L->tmpdir);
		free(L->tmpdir);
		L->tmpdir = NULL;
	}
}

struct proc *lab_server(struct lab *L, int *port, const char *const args[])
{
	const char *srv = lab_tool(L, "pollux-server");
	if (!srv) {
		fprintf(stderr, LAB_NAME ": cannot find pollux-server beside pollux-lab "
		        "or in PATH; install pollux or run from the build tree\n");
		return NULL;
	}
	const char *argv[64];
	size_t n = 0;
	argv[n++] = srv;
	argv[n++] = "-q";
	argv[n++] = "-l";
	argv[n++] = "127.0.0.1:0";
	for (size_t i = 0; args && args[i] && n < sizeof argv / sizeof argv[0] - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	struct proc *p = lab_spawn(L, argv);
	if (!p) {
		fprintf(stderr, LAB_NAME ": cannot start %s: %s\n", srv, strerror(errno));
		return NULL;
	}
	uint64_t end = px_now_ns() + 10000000000ull;
	while (px_now_ns() < end) {
		if (lab_pump(p, 100) < 0)
			return NULL;
		const char *l = p->out ? strstr(p->out, "listening 127.0.0.1:") : NULL;
		if (l && strchr(l, '\n')) {
			*port = atoi(l + strlen("listening 127.0.0.1:"));
			return p;
		}
		if (p->exited)
			break;
	}
	char why[256], st[128];
	proc_last_error(p, why, sizeof why);
	proc_describe_status(p, st, sizeof st);
	fprintf(stderr, LAB_NAME ": pollux-server did not start (%s)%s%s\n",
	        st, *why ? ": " : "", why);
	return NULL;
}

void lab_server_backend(int port, char *buf, size_t n)
{
	buf[0] = '\0';
	char *body = lab_http_get(port, "/stats", 3000);
	char err[128];
	struct json *j = body ? json_parse(body, err, sizeof err) : NULL;
	const struct json *b = j ? json_get(j, "backend") : NULL;
	if (b && b->type == J_STR)
		snprintf(buf, n, "%s", b->str);
	json_free(j);
	free(body);
}

double lab_json_num(const char *json, const char *key)
{
	char err[128];
	struct json *j = json ? json_parse(json, err, sizeof err) : NULL;
	if (!j)
		return NAN;
	double v = json_num(j, key);
	json_free(j);
	return v;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0;
}

int lab_remove_tree(const char *dir)
{
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *lab_tmpdir(struct lab *L)
{
	if (L->tmpdir)
		return L->tmpdir;
	const char *t = getenv("TMPDIR");
	char dir[512];
	snprintf(dir, sizeof dir, "%s/pollux-lab.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, LAB_NAME ": cannot make a temporary directory in %s: %s "
		        "(set TMPDIR to a writable directory)\n", t && *t ? t : "/tmp",
		        strerror(errno));
		return NULL;
	}
	L->tmpdir = strdup(dir);
	if (!L->tmpdir)
		(void)rmdir(dir);
	return L->tmpdir;
}

/* ---- /proc ---- */

/* Reads a small /proc file into buf (NUL-ended); bytes read or -1. */
static ssize_t read_small(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t k = fread(buf, 1, n - 1, f);
	fclose(f);
	buf[k] = '\0';
	return (ssize_t)k;
}

/* Field number `field` (1-based, as in proc(5)) of /proc/PID/stat. */
static int stat_fields(pid_t pid, unsigned long long *out, const int *fields, int nf)
{
	char path[64], buf[2048];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if (read_small(path, buf, sizeof buf) <= 0)
		return -1;
	/* The command name may hold spaces and parentheses: skip to its end. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	p += 2;	/* at field 3, the state */
	int field = 3;
	for (int got = 0; got < nf && *p; ) {
		if (field == fields[got]) {
			out[got] = strtoull(p, NULL, 10);
			got++;
			if (got == nf)
				return 0;
		}
		while (*p && *p != ' ')
			p++;
		while (*p == ' ')
			p++;
		field++;
	}
	return -1;
}

double lab_cpu_s(pid_t pid)
{
	/* utime, stime, cutime, cstime */
	static const int f[] = { 14, 15, 16, 17 };
	unsigned long long v[4];
	if (stat_fields(pid, v, f, 4) < 0)
		return NAN;
	long hz = sysconf(_SC_CLK_TCK);
	return (double)(v[0] + v[1] + v[2] + v[3]) / (double)(hz > 0 ? hz : 100);
}

/* "Name:   value kB" from a /proc status-like file; NAN when missing. */
static double proc_field(const char *path, const char *name)
{
	char buf[8192];
	if (read_small(path, buf, sizeof buf) <= 0)
		return NAN;
	size_t nl = strlen(name);
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, name, nl) == 0 && l[nl] == ':')
			return strtod(l + nl + 1, NULL);
	return NAN;
}

double lab_rss_kib(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	return proc_field(path, "VmRSS");
}

long lab_threads(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	double v = proc_field(path, "Threads");
	return isnan(v) ? -1 : (long)v;
}

double lab_pss_kib(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/smaps_rollup", (long)pid);
	double v = proc_field(path, "Pss");
	return isnan(v) ? lab_rss_kib(pid) : v;
}

long lab_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

long lab_children(pid_t pid, double *rss_kib)
{
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	long n = 0;
	double rss = 0;
	struct dirent *e;
	static const int f[] = { 4 };	/* ppid */
	while ((e = readdir(d))) {
		char *end;
		long c = strtol(e->d_name, &end, 10);
		unsigned long long ppid;
		if (*end || c <= 0 || stat_fields((pid_t)c, &ppid, f, 1) < 0 ||
		    ppid != (unsigned long long)pid)
			continue;
		n++;
		if (rss_kib) {
			/* A forked child shares its parent's pages: count only
			 * its proportional share where the kernel reports it. */
			double v = lab_pss_kib((pid_t)c);
			if (!isnan(v))
				rss += v;
		}
	}
	closedir(d);
	if (rss_kib)
		*rss_kib = rss;
	return n;
}
