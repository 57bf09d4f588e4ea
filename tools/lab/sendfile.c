/* sendfile.c: the lesson "sendfile": pollux-server serving one file to a
 * few clients with sendfile(2) and with pread+send (--no-sendfile), the
 * bytes that crossed into user space counted by the server's /stats, its
 * CPU time, and its read/write calls from /proc/PID/io. */
#include "toolconfig.h"
#include "lab.h"
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS 16
#define CHUNK (1u << 20)

struct client {
	int fd;
	char head[2048];
	size_t hl;
	int in_body, status, done, bad;
	long long clen, body;
};

struct mode {
	const char *key;	/* "sendfile", "readwrite" */
	const char *flag;	/* the server option, or NULL */
	double seconds, mib_per_s, cpu_s, user_bytes, sent_bytes, syscalls;
	double resident_pct;	/* of the file in the page cache, before */
	int ok_clients;		/* fetches that got the file intact */
	int rounds;		/* of nc clients at once */
	long long bytes;	/* body bytes the clients received */
	int ran;		/* its server started: the counts are its own */
};

/* The file's content: 8-byte words that each hold their own offset mixed,
 * so that any misplaced block compares unequal. */
static void fill(unsigned char *b, size_t n, uint64_t off)
{
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t v = (off + i) * 0x9e3779b97f4a7c15ull;
		memcpy(b + i, &v, 8);
	}
}

static int make_file(struct lab *L, const char *path, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	unsigned char *b = malloc(CHUNK);
	if (fd < 0 || !b) {
		fprintf(stderr, LAB_NAME ": cannot write %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(b);
		return -1;
	}
	int rc = 0;
	for (size_t off = 0; off < size && rc == 0; off += CHUNK) {
		if (lab_stopped()) {
			rc = -1;
			break;
		}
		if (off % (32u << 20) == 0)
			lab_progress(L, "writing the %zu MiB file: %zu MiB", size >> 20, off >> 20);
		size_t n = size - off < CHUNK ? size - off : CHUNK;
		fill(b, n, off);
		for (size_t w = 0; w < n; ) {
			ssize_t k = write(fd, b + w, n - w);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				fprintf(stderr, LAB_NAME ": writing %s: %s\n", path, strerror(errno));
				rc = -1;
				break;
			}
			w += (size_t)k;
		}
	}
	free(b);
	if (close(fd) < 0 && rc == 0) {
		fprintf(stderr, LAB_NAME ": writing %s: %s\n", path, strerror(errno));
		rc = -1;
	}
	return rc;
}

/* Reads the whole file once, so that both modes read it from memory. */
static int warm(struct lab *L, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char *b = malloc(CHUNK);
	int rc = fd < 0 || !b ? -1 : 0;
	lab_progress(L, "reading the file once, into the page cache");
	while (rc == 0 && !lab_stopped()) {
		ssize_t k = read(fd, b, CHUNK);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rc = k < 0 ? -1 : 0;
			break;
		}
	}
	free(b);
	if (fd >= 0)
		close(fd);
	if (rc < 0 && !lab_stopped())
		fprintf(stderr, LAB_NAME ": cannot read %s back: %s\n", path, strerror(errno));
	return lab_stopped() ? -1 : rc;
}

/* Percentage of the mapped file's pages in memory (mincore), NAN if unknown. */
static double resident(void *map, size_t size)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t n = (size + (size_t)pg - 1) / (size_t)pg;
	unsigned char *v = malloc(n);
	if (!v || mincore(map, size, v) < 0) {
		free(v);
		return NAN;
	}
	size_t in = 0;
	for (size_t i = 0; i < n; i++)
		in += v[i] & 1;
	free(v);
	return 100.0 * (double)in / (double)n;
}

/* syscr + syscw of pid from /proc/PID/io, NAN when unreadable. */
static double rw_calls(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/io", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NAN;
	ssize_t k = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (k <= 0)
		return NAN;
	buf[k] = '\0';
	const char *r = strstr(buf, "syscr:"), *w = strstr(buf, "syscw:");
	if (!r || !w)
		return NAN;
	return strtod(r + 6, NULL) + strtod(w + 6, NULL);
}

static double stat_num(int port, const char *key)
{
	char *st = lab_http_get(port, "/stats", 3000);
	double v = lab_json_num(st, key);
	free(st);
	return v;
}

static int open_client(struct client *c, int port)
{
	memset(c, 0, sizeof *c);
	c->clen = -1;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	static const char req[] = "GET /file.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                          "Connection: close\r\n\r\n";
	if (lab_connect_lo(c->fd, port, 5000) < 0 ||
	    lab_send_all(c->fd, req, sizeof req - 1) < 0 || px_set_nonblock(c->fd) < 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

/* Takes k bytes of the response; the body is compared with the file. */
static void take(struct client *c, const unsigned char *b, size_t k, const unsigned char *map,
                 long long size)
{
	size_t off = 0;
	if (!c->in_body) {
		size_t before = c->hl;
		size_t n = k < sizeof c->head - 1 - c->hl ? k : sizeof c->head - 1 - c->hl;
		memcpy(c->head + c->hl, b, n);
		c->hl += n;
		c->head[c->hl] = '\0';
		char *e = strstr(c->head, "\r\n\r\n");
		if (!e) {
			if (c->hl >= sizeof c->head - 1)
				c->bad = c->done = 1;
			return;
		}
		size_t hlen = (size_t)(e + 4 - c->head);
		c->status = strncmp(c->head, "HTTP/1.1 ", 9) == 0 ? atoi(c->head + 9) : 0;
		const char *cl = strstr(c->head, "\r\nContent-Length:");
		c->clen = cl ? atoll(cl + 17) : -1;
		c->in_body = 1;
		off = hlen - before;
		if (c->status != 200 || c->clen != size)
			c->bad = 1;
	}
	size_t n = k - off;
	if (c->body + (long long)n > size) {
		c->bad = 1;
		n = (size_t)(size - c->body);
	}
	if (n && memcmp(b + off, map + c->body, n) != 0)
		c->bad = 1;
	c->body += (long long)n;
	if (c->body >= size)
		c->done = 1;
}

/* C clients fetch the file at once; 0 when every one finished (good or
 * bad), -1 when stopped or out of time. */
static int fetch_all(struct lab *L, struct mode *m, int port, int nc, const unsigned char *map,
                     long long size, double timeout_s)
{
	struct client cs[MAX_CLIENTS];
	struct pollfd pf[MAX_CLIENTS];
	unsigned char *buf = malloc(256 << 10);
	if (!buf)
		return -1;
	double t0 = lab_now_s();
	int left = 0;
	for (int i = 0; i < nc; i++) {
		if (open_client(&cs[i], port) < 0) {
			cs[i].done = cs[i].bad = 1;
			continue;
		}
		left++;
	}
	double end = t0 + timeout_s, shown = 0;
	int rc = 0;
	while (left > 0) {
		if (lab_stopped() || lab_now_s() > end) {
			rc = -1;
			break;
		}
		if (lab_now_s() - shown > 0.25) {
			long long got = 0;
			for (int i = 0; i < nc; i++)
				got += cs[i].body;
			lab_progress(L, "%s: %lld of %lld MiB received", m->key, got >> 20,
			             (size * nc) >> 20);
			shown = lab_now_s();
		}
		for (int i = 0; i < nc; i++) {
			pf[i].fd = cs[i].done ? -1 : cs[i].fd;
			pf[i].events = POLLIN;
			pf[i].revents = 0;
		}
		int r = poll(pf, (nfds_t)nc, 100);
		if (r < 0 && errno != EINTR)
			break;
		for (int i = 0; r > 0 && i < nc; i++) {
			struct client *c = &cs[i];
			if (c->done || !pf[i].revents)
				continue;
			for (int reads = 0; reads < 16 && !c->done; reads++) {
				ssize_t k = recv(c->fd, buf, 256 << 10, 0);
				if (k < 0 && (errno == EAGAIN || errno == EINTR))
					break;
				if (k <= 0) {
					c->done = 1;
					if (c->body < size)
						c->bad = 1;
					break;
				}
				take(c, buf, (size_t)k, map, size);
			}
			if (c->done)
				left--;
		}
	}
	m->seconds = lab_now_s() - t0;
	m->bytes = 0;
	m->ok_clients = 0;
	for (int i = 0; i < nc; i++) {
		m->bytes += cs[i].body;
		if (cs[i].done && !cs[i].bad && cs[i].body == size)
			m->ok_clients++;
		if (cs[i].fd >= 0)
			close(cs[i].fd);
	}
	free(buf);
	return rc;
}

static int run_mode(struct lab *L, struct mode *m, const char *dir, int nc,
                    const unsigned char *map, long long size, double dur, char *why,
                    size_t whylen)
{
	const char *args[12];
	int n = 0;
	args[n++] = "--root";
	args[n++] = dir;
	args[n++] = "--idle-timeout";
	args[n++] = "0";
	if (m->flag)
		args[n++] = m->flag;
	if (L->o->backend) {
		args[n++] = "-b";
		args[n++] = L->o->backend;
	}
	args[n] = NULL;
	int port;
	struct proc *srv = lab_server(L, &port, args);
	if (!srv) {
		snprintf(why, whylen, "pollux-server --root could not be started for %s "
		         "(see above)", m->key);
		return -1;
	}
	m->ran = 1;
	m->resident_pct = resident((void *)map, (size_t)size);
	double u0 = stat_num(port, "file_read_bytes"), s0 = stat_num(port, "file_sent_bytes");
	double cpu0 = lab_cpu_s(srv->pid), io0 = rw_calls(srv->pid);
	/* At 50 MiB/s, a slow sanitizer build still finishes. */
	double timeout = 20 + (double)size * nc / (50.0 * (1 << 20));
	/* Rounds of C clients until the phase has lasted `dur`: a single
	 * round of a small file is over before the CPU clock (in ticks of
	 * 10 ms) has moved. */
	int rc = 0;
	double t0 = lab_now_s(), secs = 0;
	long long bytes = 0;
	int ok = 0;
	m->rounds = 0;
	do {
		rc = fetch_all(L, m, port, nc, map, size, timeout);
		secs += m->seconds;
		bytes += m->bytes;
		ok += m->ok_clients;
		m->rounds++;
	} while (rc == 0 && lab_now_s() - t0 < dur);
	m->seconds = secs;
	m->bytes = bytes;
	m->ok_clients = ok;
	double cpu1 = lab_cpu_s(srv->pid), io1 = rw_calls(srv->pid);
	m->cpu_s = cpu1 - cpu0;
	m->syscalls = io1 - io0;
	m->user_bytes = stat_num(port, "file_read_bytes") - u0;
	m->sent_bytes = stat_num(port, "file_sent_bytes") - s0;
	m->mib_per_s = (double)m->bytes / (1 << 20) / m->seconds;
	lab_stop_proc(L, srv, SIGTERM, 2000);
	if (rc < 0 && !lab_stopped())
		snprintf(why, whylen, "%s: the clients did not finish in %.0f s", m->key, timeout);
	return rc;
}

static const char *fmt_num(char *buf, size_t n, double v)
{
	if (!isfinite(v))
		snprintf(buf, n, "-");
	else
		lab_commas(buf, n, (unsigned long long)(v < 0 ? 0 : v));
	return buf;
}

/* MiB with commas; an exact 0 stays "0", anything under 1 MiB says so. */
static const char *fmt_mib(char *buf, size_t n, double v)
{
	if (!isfinite(v))
		snprintf(buf, n, "-");
	else if (v > 0 && v < (1 << 20))
		snprintf(buf, n, "<1");
	else
		lab_commas(buf, n, (unsigned long long)(v / (1 << 20) + 0.5));
	return buf;
}

/* Every key of one mode, null for what was not measured (a run that
 * failed or was stopped before this mode). */
static void json_mode(struct lab *L, const struct mode *m, int nc)
{
	jw_open(&L->meas, m->key);
	jw_num(&L->meas, "mib_per_s", m->ran ? m->mib_per_s : NAN);
	jw_num(&L->meas, "seconds", m->ran ? m->seconds : NAN);
	jw_num(&L->meas, "server_cpu_s", m->ran ? m->cpu_s : NAN);
	jw_num(&L->meas, "bytes_through_user_space", m->ran ? m->user_bytes : NAN);
	jw_num(&L->meas, "file_sent_bytes", m->ran ? m->sent_bytes : NAN);
	jw_num(&L->meas, "syscalls", m->ran ? m->syscalls : NAN);
	if (m->ran) {
		jw_int(&L->meas, "bytes_received", m->bytes);
		jw_int(&L->meas, "rounds", m->rounds);
		jw_int(&L->meas, "fetches", (long long)m->rounds * nc);
		jw_int(&L->meas, "fetches_verified", m->ok_clients);
	} else {
		jw_null(&L->meas, "bytes_received");
		jw_null(&L->meas, "rounds");
		jw_null(&L->meas, "fetches");
		jw_null(&L->meas, "fetches_verified");
	}
	jw_num(&L->meas, "page_cache_resident_pct", m->ran ? m->resident_pct : NAN);
	jw_close(&L->meas);
}

/* The server's CPU seconds per GiB the clients received, NAN if unknown. */
static double cpu_per_gib(const struct mode *m)
{
	double gib = (double)m->bytes / (1 << 30);
	return gib > 0 && isfinite(m->cpu_s) ? m->cpu_s / gib : NAN;
}

static int run(struct lab *L)
{
	char b1[32], b2[32], b3[32], b4[32], t[1200];
	long long size = L->o->quick ? 32ll << 20 : 256ll << 20;
	int nc = 4;
	double dur = lab_seconds(L, 2, 8);
	jw_int(&L->settings, "file_bytes", size);
	jw_int(&L->settings, "clients", nc);
	jw_num(&L->settings, "seconds_per_mode", dur);
	jw_num(&L->settings, "seconds", dur);
	jw_str(&L->settings, "seconds_sets", "seconds_per_mode");
	jw_str(&L->settings, "backend", L->o->backend ? L->o->backend : "default");
	jw_str(&L->settings, "modes", "sendfile, readwrite (--no-sendfile)");
	lab_setup(L, "pollux-server --root serves one %lld MiB file to %d clients on",
	          size >> 20, nc);
	lab_setup(L, "127.0.0.1 at once, with sendfile and with --no-sendfile (pread +");
	lab_setup(L, "send), round after round for %.3g s each; every client compares", dur);
	lab_setup(L, "every byte with the file, which is read once before, so that both");
	lab_setup(L, "modes read it from the page cache, not the disk");

	struct mode ms[2] = {
		{ .key = "sendfile", .flag = NULL },
		{ .key = "readwrite", .flag = "--no-sendfile" },
	};
	char why[300] = "";
	const char *dir = lab_tmpdir(L);
	char path[600];
	void *map = MAP_FAILED;
	if (!dir) {
		snprintf(why, sizeof why, "no temporary directory for the file (see above)");
		goto fail;
	}
	snprintf(path, sizeof path, "%s/file.bin", dir);
	if (make_file(L, path, (size_t)size) < 0 || warm(L, path) < 0) {
		snprintf(why, sizeof why, "the %lld MiB file could not be written and read "
		         "back (see above)", size >> 20);
		goto fail;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	map = fd < 0 ? MAP_FAILED : mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
	if (fd >= 0)
		close(fd);
	if (map == MAP_FAILED) {
		snprintf(why, sizeof why, "cannot map %.200s: %s", path, strerror(errno));
		goto fail;
	}
	int rc = 0;
	for (int i = 0; i < 2 && rc == 0; i++)
		rc = run_mode(L, &ms[i], dir, nc, map, size, dur, why, sizeof why);
	munmap(map, (size_t)size);
	if (rc < 0 || lab_stopped())
		goto fail;

	for (int i = 0; i < 2; i++)
		json_mode(L, &ms[i], nc);

	lab_printf(L, "\n%-9s %6s %7s %6s %6s %9s %9s %8s %4s\n", "mode", "MiB/s",
	           "fetches", "cpu s", "s/GiB", "sent MiB", "user MiB", "rd/wr", "ok");
	for (int i = 0; i < 2; i++) {
		const struct mode *m = &ms[i];
		char c1[32], c2[32], c3[32];
		lab_printf(L, "%-9s %6s %7d %6s %6s %9s %9s %8s %4d\n", m->key,
		           lab_fmt(c1, sizeof c1, m->mib_per_s, 0), m->rounds * nc,
		           lab_fmt(c2, sizeof c2, m->cpu_s, 2), lab_fmt(c3, sizeof c3, cpu_per_gib(m), 3),
		           fmt_mib(b3, sizeof b3, m->sent_bytes), fmt_mib(b1, sizeof b1, m->user_bytes),
		           fmt_num(b2, sizeof b2, m->syscalls), m->ok_clients);
	}
	lab_printf(L, "\n");
	lab_wrap(L, "", "cpu s: the server's CPU time; s/GiB: that per GiB sent.");
	lab_wrap(L, "", "sent MiB, user MiB: the server's /stats file_sent_bytes and "
	     "file_read_bytes, the file bytes it sent and those it read into its own "
	     "memory to send them.");
	lab_wrap(L, "", "rd/wr: syscr + syscw of its /proc/PID/io; a sendfile counts once in "
	     "each, send(2) and recv(2) not at all.");
	snprintf(t, sizeof t, "ok: fetches whose every byte matched the file. Before each "
	         "run the page cache held %s%% (sendfile) and %s%% (readwrite) of the file.",
	         lab_fmt(b1, sizeof b1, ms[0].resident_pct, 0),
	         lab_fmt(b2, sizeof b2, ms[1].resident_pct, 0));
	lab_wrap(L, "", t);
	lab_printf(L, "\n");

	const struct mode *sf = &ms[0], *rw = &ms[1];
	/* What read+write must have read at least: the file once per fetch. */
	long long moved = size * nc * rw->rounds;
	int verified = sf->ok_clients == nc * sf->rounds && rw->ok_clients == nc * rw->rounds;
	double cs = cpu_per_gib(sf), cr = cpu_per_gib(rw);
	if (!isfinite(sf->user_bytes) || !isfinite(rw->user_bytes))
		return lab_verdict(L, 0, "this pollux-server's /stats has no file_read_bytes, so "
		                   "the bytes through user space were not counted; sendfile moved "
		                   "%s MiB/s with %s s of server CPU per GiB, read+write %s MiB/s "
		                   "with %s s", lab_fmt(b1, sizeof b1, sf->mib_per_s, 0),
		                   lab_fmt(b2, sizeof b2, cs, 3),
		                   lab_fmt(b3, sizeof b3, rw->mib_per_s, 0),
		                   lab_fmt(b4, sizeof b4, cr, 3));
	/* The deterministic fact: none through user space with sendfile, at
	 * least the file once per fetch with read+write (counted, not assumed). */
	int seen = verified && sf->user_bytes == 0 && rw->user_bytes >= (double)moved;
	char but[600] = "";
	if (sf->user_bytes != 0)
		snprintf(but + strlen(but), sizeof but - strlen(but), "; but sendfile counted "
		         "%s bytes through user space", fmt_num(b1, sizeof b1, sf->user_bytes));
	if (rw->user_bytes < (double)moved)
		snprintf(but + strlen(but), sizeof but - strlen(but), "; but read+write counted "
		         "only %s of the %s bytes it must have read",
		         fmt_num(b1, sizeof b1, rw->user_bytes),
		         lab_commas(b2, sizeof b2, (unsigned long long)moved));
	if (!verified)
		snprintf(but + strlen(but), sizeof but - strlen(but), "; but some client did not "
		         "get the file intact");
	char cpu[300], rmib[32];
	lab_fmt(b4, sizeof b4, sf->mib_per_s, 0);
	lab_fmt(rmib, sizeof rmib, rw->mib_per_s, 0);
	if (!isfinite(cs) || !isfinite(cr))
		snprintf(cpu, sizeof cpu, "; the server's CPU time could not be read, so its "
		         "cost per GiB is unknown (%s vs %s MiB/s)", b4, rmib);
	else if (cs >= cr)
		snprintf(cpu, sizeof cpu, "; sendfile was not cheaper in CPU here: %.3f against "
		         "%.3f s/GiB (%s vs %s MiB/s); see pollux-labs(7) on small files and "
		         "caches", cs, cr, b4, rmib);
	else
		snprintf(cpu, sizeof cpu, "; the server's CPU per GiB sent: %.3f s with sendfile, "
		         "%.3f s with read+write (%s vs %s MiB/s)", cs, cr, b4, rmib);
	return lab_verdict(L, seen,
	                   "sendfile moved %s bytes through the server's user space and "
	                   "read+write %s (%d fetches of the %lld MiB file: %s bytes)%s%s",
	                   fmt_num(b1, sizeof b1, sf->user_bytes),
	                   fmt_num(b2, sizeof b2, rw->user_bytes), nc * rw->rounds, size >> 20,
	                   lab_commas(b3, sizeof b3, (unsigned long long)moved), cpu, but);

fail:
	for (int i = 0; i < 2; i++)
		json_mode(L, &ms[i], nc);
	if (lab_stopped())
		return LAB_NOT_OBSERVED;
	return lab_fail(L, "%s", why[0] ? why : "the lesson could not run (see above)");
}

const struct lesson lab_lesson_sendfile = {
	"sendfile",
	"How many times is a file copied on its way to the socket?",
	run, 0
};
