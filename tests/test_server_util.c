/* test_server_util.c: process, socket and HTTP helpers for the pollux-server
 * tests; every wait is bounded (poll with a timeout), none sleeps. */
#include <config.h>
#include "test_server_util.h"
#include "pollux.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int backend_count(void)
{
	const char *const *b = pollux_backends();
	int n = 0;
	while (b[n])
		n++;
	return n;
}

const char *backend_at(int i)
{
	return pollux_backends()[i];
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Waits for fd to become readable within the time left to deadline. */
static int wait_in(int fd, long deadline)
{
	for (;;) {
		long left = deadline - now_ms();
		if (left < 0)
			return 0;
		struct pollfd p = { fd, POLLIN, 0 };
		int rc = poll(&p, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		return rc > 0;
	}
}

void (*srv_child_hook)(void);

static int srv_spawn(struct srv *s, const char *backend, int add_listen, long nofile,
                     const char *const *args, int want_err)
{
	const char *top = getenv("top_builddir");
	char bin[4096];
	snprintf(bin, sizeof bin, "%s/tools/pollux-server", top ? top : "..");
	const char *argv[64];
	int n = 0;
	argv[n++] = bin;
	if (backend) {
		argv[n++] = "--backend";
		argv[n++] = backend;
	}
	if (add_listen) {
		argv[n++] = "--listen";
		argv[n++] = "127.0.0.1:0";
	}
	for (int i = 0; args && args[i] && n < 62; i++)
		argv[n++] = args[i];
	argv[n] = NULL;

	int pfd[2], efd[2] = { -1, -1 };
	if (pipe(pfd) < 0)
		return -1;
	if (want_err && pipe(efd) < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
#ifdef __linux__
		/* Die with the test process, whatever way it ends. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		if (want_err) {
			dup2(efd[1], 2);
			close(efd[0]);
			close(efd[1]);
		}
		if (nofile > 0) {
			struct rlimit rl = { (rlim_t)nofile, (rlim_t)nofile };
			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				_exit(126);
		}
		if (srv_child_hook)
			srv_child_hook();
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	if (want_err)
		close(efd[1]);
	memset(s, 0, sizeof *s);
	s->pid = pid;
	s->out = pfd[0];
	s->err = efd[0];
	s->port = -1;
	size_t len = 0;
	long deadline = now_ms() + T_WAIT_MS;
	/* The server prints all its listening lines, then flushes once. */
	while (wait_in(s->out, deadline)) {
		ssize_t k = read(s->out, s->lines + len, sizeof s->lines - 1 - len);
		if (k <= 0)
			break;
		len += (size_t)k;
		s->lines[len] = '\0';
		char *nl = strrchr(s->lines, '\n');
		if (nl) {
			char *p = strstr(s->lines, "listening 127.0.0.1:");
			if (p)
				s->port = atoi(p + strlen("listening 127.0.0.1:"));
			if (p || !add_listen)
				return 0;
		}
	}
	srv_stop(s, SIGKILL, NULL, 0);
	return -1;
}

int srv_start(struct srv *s, const char *backend, int add_listen, long nofile,
              const char *const *args)
{
	return srv_spawn(s, backend, add_listen, nofile, args, 0);
}

int srv_start_err(struct srv *s, const char *backend, int add_listen, long nofile,
                  const char *const *args)
{
	return srv_spawn(s, backend, add_listen, nofile, args, 1);
}

int srv_err_line(struct srv *s, const char *const *needles, char *line, size_t cap, int ms)
{
	char buf[8192];
	size_t len = 0;
	long deadline = now_ms() + ms;
	while (s->err >= 0) {
		/* Whole lines in buf first, then read more. */
		char *nl;
		while ((nl = memchr(buf, '\n', len))) {
			*nl = '\0';
			int all = 1;
			for (int i = 0; needles[i]; i++)
				all &= strstr(buf, needles[i]) != NULL;
			if (all) {
				snprintf(line, cap, "%s", buf);
				return 0;
			}
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
		}
		if (len == sizeof buf)
			len = 0;	/* a line that long is none of ours */
		if (!wait_in(s->err, deadline))
			break;
		ssize_t k = read(s->err, buf + len, sizeof buf - len);
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	snprintf(line, cap, "%.*s", (int)len, buf);
	return -1;
}

int srv_stop(struct srv *s, int sig, char *out, size_t cap)
{
	if (s->pid <= 0)
		return -1;
	kill(s->pid, sig);
	size_t len = 0;
	char tmp[4096];
	long deadline = now_ms() + T_WAIT_MS;
	int timed_out = 1;
	while (wait_in(s->out, deadline)) {
		ssize_t k = read(s->out, tmp, sizeof tmp);
		if (k <= 0) {
			timed_out = 0;
			break;
		}
		if (out && len + 1 < cap) {
			size_t c = (size_t)k < cap - 1 - len ? (size_t)k : cap - 1 - len;
			memcpy(out + len, tmp, c);
			len += c;
		}
	}
	if (out && cap)
		out[len] = '\0';
	if (timed_out)
		kill(s->pid, SIGKILL);
	int st;
	/* stdout closed: the process is exiting (or was just killed). */
	while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
		;
	close(s->out);
	if (s->err >= 0)
		close(s->err);
	s->err = -1;
	s->pid = 0;
	return timed_out ? -1 : st;
}

int tcp_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	struct sockaddr_in a = { 0 };
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = { T_WAIT_MS / 1000, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

int wait_closed(int fd, int ms)
{
	long deadline = now_ms() + ms;
	char buf[4096];
	while (wait_in(fd, deadline)) {
		ssize_t k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
			return 1;
	}
	return 0;
}

void reader_init(struct reader *r, int fd)
{
	r->fd = fd;
	r->cap = 65536;
	r->buf = malloc(r->cap);
	r->len = 0;
	r->off = 0;
}

void reader_free(struct reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* Reads more into r; 1 ok, 0 EOF, -1 error/timeout. */
static int fill(struct reader *r)
{
	/* Consumed bytes are dropped here, once per read, not per response. */
	if (r->off) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	if (r->len == r->cap) {
		r->cap *= 2;
		r->buf = realloc(r->buf, r->cap);
	}
	if (!wait_in(r->fd, now_ms() + T_WAIT_MS))
		return -1;
	ssize_t k = recv(r->fd, r->buf + r->len, r->cap - r->len, 0);
	if (k < 0)
		return errno == ECONNRESET ? 0 : -1;
	if (k == 0)
		return 0;
	r->len += (size_t)k;
	return 1;
}

static void consume(struct reader *r, size_t n)
{
	r->off += n;
	if (r->off == r->len)
		r->off = r->len = 0;
}

int resp_header(const struct resp *r, const char *name, char *buf, size_t n)
{
	size_t nl = strlen(name);
	const char *p = strstr(r->head, "\r\n");
	while (p && p[2]) {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			const char *e = strstr(v, "\r\n");
			size_t l = e ? (size_t)(e - v) : strlen(v);
			if (l >= n)
				l = n - 1;
			memcpy(buf, v, l);
			buf[l] = '\0';
			return 0;
		}
		p = strstr(p, "\r\n");
	}
	return -1;
}

int read_resp(struct reader *r, struct resp *out, int head_only)
{
	memset(out, 0, sizeof *out);
	out->clen = -1;
	char *end;
	for (;;) {
		size_t have = r->len - r->off;
		end = have ? memmem(r->buf + r->off, have, "\r\n\r\n", 4) : NULL;
		if (end)
			break;
		int rc = fill(r);
		if (rc <= 0)
			return -1;
	}
	size_t hl = (size_t)(end - (r->buf + r->off)) + 4;
	if (hl >= sizeof out->head)
		return -1;
	memcpy(out->head, r->buf + r->off, hl);
	out->head[hl] = '\0';
	consume(r, hl);
	if (sscanf(out->head, "HTTP/1.%*d %d", &out->status) != 1)
		return -1;
	char v[64];
	if (resp_header(out, "Content-Length", v, sizeof v) == 0)
		out->clen = atoll(v);
	if (resp_header(out, "Connection", v, sizeof v) == 0 && strcasecmp(v, "close") == 0)
		out->closed = 1;
	if (head_only || out->clen <= 0)
		return 0;
	size_t want = (size_t)out->clen;
	out->body = malloc(want + 1);
	for (;;) {
		size_t have = r->len - r->off;
		size_t take = have < want ? have : want;
		memcpy(out->body + out->blen, r->buf + r->off, take);
		out->blen += take;
		want -= take;
		consume(r, take);
		if (want == 0)
			break;
		if (fill(r) <= 0)
			return -1;
	}
	out->body[out->blen] = '\0';
	return 0;
}

void resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

int http_once(int port, const char *req, struct resp *out)
{
	int fd = tcp_connect(port);
	if (fd < 0)
		return -1;
	struct reader r;
	reader_init(&r, fd);
	int rc = -1;
	if (send_all(fd, req, strlen(req)) == 0 &&
	    read_resp(&r, out, strncmp(req, "HEAD ", 5) == 0) == 0)
		rc = out->status;
	reader_free(&r);
	close(fd);
	return rc;
}

double json_value(const char *json, const char *key)
{
	char pat[128];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *p = strstr(json, pat);
	if (!p)
		return -1;
	return strtod(p + strlen(pat), NULL);
}

double stats_value(int port, const char *key)
{
	struct resp r;
	if (http_once(port, "GET /stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r) != 200)
		return -1;
	double v = r.body ? json_value(r.body, key) : -1;
	resp_free(&r);
	return v;
}

double stats_wait(int port, const char *key, double want, int ms)
{
	long deadline = now_ms() + ms;
	double v;
	/* Each ask is a request: it is its own pause between looks. */
	while ((v = stats_value(port, key)) != want && now_ms() < deadline)
		;
	return v;
}

/* The parent pid and state of pid from /proc/pid/stat; -1 if gone. */
static int proc_stat(pid_t pid, pid_t *ppid, char *state)
{
	char p[64], buf[1024];
	snprintf(p, sizeof p, "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(p, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The name in parentheses may hold anything: read after the last ')'. */
	char *r = strrchr(buf, ')');
	long pp;
	if (!r || sscanf(r + 1, " %c %ld", state, &pp) != 2)
		return -1;
	*ppid = (pid_t)pp;
	return 0;
}

int children_of(pid_t parent, pid_t *pids, int max)
{
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid_t pid = (pid_t)atol(e->d_name), pp;
		char st;
		if (proc_stat(pid, &pp, &st) == 0 && pp == parent && st != 'Z' && n < max)
			pids[n++] = pid;
	}
	closedir(d);
	return n;
}

static void nap_ms(int ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	nanosleep(&ts, NULL);
}

int wait_children(pid_t parent, int n, pid_t not_pid, pid_t *pids, int ms)
{
	long deadline = now_ms() + ms;
	for (;;) {
		int k = children_of(parent, pids, 64);
		int fresh = 1;
		for (int i = 0; not_pid && i < k; i++)
			fresh &= pids[i] != not_pid;
		if (k < 0 || (k == n && fresh))
			return k;
		if (now_ms() >= deadline)
			return k;
		nap_ms(10);	/* nothing to wait on: look again shortly */
	}
}

int wait_gone(pid_t pid, int ms)
{
	long deadline = now_ms() + ms;
	for (;;) {
		pid_t pp;
		char st;
		if (proc_stat(pid, &pp, &st) < 0 || st == 'Z')
			return 1;
		if (now_ms() >= deadline)
			return 0;
		nap_ms(10);
	}
}

int count_fds(pid_t pid)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(p);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Whether pid has a descriptor on socket inode ino. */
static int holds_socket(pid_t pid, unsigned long ino)
{
	char p[64], want[64];
	snprintf(p, sizeof p, "/proc/%ld/fd", (long)pid);
	snprintf(want, sizeof want, "socket:[%lu]", ino);
	DIR *d = opendir(p);
	if (!d)
		return 0;
	int found = 0;
	struct dirent *e;
	while (!found && (e = readdir(d))) {
		char link[4096], target[128];
		snprintf(link, sizeof link, "%s/%s", p, e->d_name);
		ssize_t k = readlink(link, target, sizeof target - 1);
		if (k > 0) {
			target[k] = '\0';
			found = strcmp(target, want) == 0;
		}
	}
	closedir(d);
	return found;
}

pid_t conn_owner(int fd, int port, const pid_t *pids, int n)
{
	struct sockaddr_in a;
	socklen_t l = sizeof a;
	if (getsockname(fd, (struct sockaddr *)&a, &l) < 0)
		return -1;
	unsigned cport = ntohs(a.sin_port);
	FILE *f = fopen("/proc/net/tcp", "r");
	if (!f)
		return -1;
	/* The server's end: local port = port, remote port = ours. */
	char line[512];
	unsigned long ino = 0;
	while (!ino && fgets(line, sizeof line, f)) {
		unsigned lp, rp;
		unsigned long i;
		if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%x %*x %*s %*s %*s %*u %*u %lu",
		           &lp, &rp, &i) == 3 && lp == (unsigned)port && rp == cport)
			ino = i;
	}
	fclose(f);
	if (!ino)
		return -1;
	for (int i = 0; i < n; i++)
		if (holds_socket(pids[i], ino))
			return pids[i];
	return 0;
}

char *make_tempdir(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[4096];
	snprintf(tmpl, sizeof tmpl, "%s/pxsrv-test.XXXXXX", base && *base ? base : "/tmp");
	char *d = mkdtemp(tmpl);
	return d ? strdup(d) : NULL;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void remove_tree(const char *dir)
{
	if (dir)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void drain_into(int fd, char *buf, size_t cap, size_t *len, int *open)
{
	char tmp[4096];
	ssize_t k = read(fd, tmp, sizeof tmp);
	if (k <= 0) {
		*open = 0;
		return;
	}
	size_t c = (size_t)k;
	if (*len + c + 1 > cap)
		c = cap - 1 - *len;
	memcpy(buf + *len, tmp, c);
	*len += c;
	buf[*len] = '\0';
}

int run_capture(const char *const *args, char *out, size_t ocap, char *err, size_t ecap)
{
	const char *top = getenv("top_builddir");
	char bin[4096];
	snprintf(bin, sizeof bin, "%s/tools/pollux-server", top ? top : "..");
	const char *argv[32];
	int n = 0;
	argv[n++] = bin;
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	int po[2], pe[2];
	if (pipe(po) < 0 || pipe(pe) < 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
#ifdef __linux__
		prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]); close(po[1]); close(pe[0]); close(pe[1]);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	size_t ol = 0, el = 0;
	int oo = 1, eo = 1;
	out[0] = err[0] = '\0';
	long deadline = now_ms() + T_WAIT_MS;
	while ((oo || eo) && now_ms() < deadline) {
		struct pollfd p[2] = { { oo ? po[0] : -1, POLLIN, 0 }, { eo ? pe[0] : -1, POLLIN, 0 } };
		if (poll(p, 2, (int)(deadline - now_ms())) <= 0)
			continue;
		if (p[0].revents)
			drain_into(po[0], out, ocap, &ol, &oo);
		if (p[1].revents)
			drain_into(pe[0], err, ecap, &el, &eo);
	}
	if (oo || eo)
		kill(pid, SIGKILL);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	close(po[0]);
	close(pe[0]);
	return (oo || eo) ? -1 : st;
}

void srv_start_on(struct srv *s, int i, const char *const *args)
{
	ck_assert_msg(srv_start(s, backend_at(i), 1, 0, args) == 0 && s->port > 0,
	              "server did not start on backend %s", backend_at(i));
}

void srv_stop_ok(struct srv *s)
{
	int st = srv_stop(s, SIGTERM, NULL, 0);
	ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	              "server did not exit 0 after SIGTERM (status %d)", st);
}
