/* run.c: one point of the sweep: start pollux-server, load it with
 * pollux-load, read the server's /stats around the measured window, stop
 * both. */
#include "toolconfig.h"
#include "proc.h"
#include "common.h"
#include "pollux.h"
#include "httpresp.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define START_TIMEOUT_MS 10000	/* for the server's "listening" line */
#define STATS_TIMEOUT_MS 5000	/* for one GET /stats */
#define STOP_GRACE_MS 3000	/* SIGTERM to SIGKILL */
#define LOAD_SOURCE "127.0.0.2"	/* pollux-load's first client address */
/* Connections planned per source address: under the default 28,232
 * ephemeral ports, with room for what TIME_WAIT still holds. */
#define PER_SOURCE 20000

/* A server statistics snapshot, and when we took it. */
struct snap {
	int ok;
	uint64_t at_us;
	double waits, events, wait_us, registered, open, requests, workers;
	double cpu_s;	/* the server's CPU time then (NAN: unknown) */
};

/* Keeps the first reason a point failed. */
__attribute__((format(printf, 2, 3)))
static void set_error(struct scale_point *pt, const char *fmt, ...)
{
	if (pt->error[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pt->error, sizeof pt->error, fmt, ap);
	va_end(ap);
}

/* --verbose: one stderr line per phase of a point, with the time since
 * the point began, to show where a slow point spends its time. */
int scale_verbose;
static uint64_t trace_t0;

__attribute__((format(printf, 2, 3)))
static void trace(const struct scale_point *pt, const char *fmt, ...)
{
	if (!scale_verbose)
		return;
	va_list ap;
	fprintf(stderr, "pollux-scale: %7.3f s %s fds=%lu: ",
	        (double)(px_now_us() - trace_t0) / 1e6, pt->backend, pt->fds);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- GET /stats ---- */

static int wait_fd(int fd, unsigned events, uint64_t end_us)
{
	for (;;) {
		uint64_t now = px_now_us();
		if (now >= end_us)
			return -1;
		int fds[2] = { fd, scale_wake_fd() }, ready[2];
		unsigned ev[2] = { events, POLLUX_IN };
		int r = proc_wait_fds(fds, ev, 2, ready, (int)((end_us - now) / 1000) + 1);
		if (scale_stop_signal)
			return -1;
		if (r > 0 && ready[0])
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		/* A child's SIGCHLD woke us: the caller pumps later. */
	}
}

/* Fetches http://ADDR/stats into *s. 0, or -1 with the reason in err. */
static int get_stats(const struct sockaddr_storage *ss, socklen_t slen,
                     struct snap *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	uint64_t end = px_now_us() + STATS_TIMEOUT_MS * 1000ull;
	int fd = socket(ss->ss_family, SOCK_STREAM, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	px_set_cloexec(fd);
	px_set_nonblock(fd);
	char *buf = NULL;
	int rc = -1;
	if (connect(fd, (const struct sockaddr *)ss, slen) < 0 &&
	    errno != EINPROGRESS) {
		snprintf(err, errlen, "connect: %s", strerror(errno));
		goto out;
	}
	if (wait_fd(fd, POLLUX_OUT, end) < 0) {
		snprintf(err, errlen, "connect timed out");
		goto out;
	}
	int soerr = 0;
	socklen_t sl = sizeof soerr;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
	if (soerr) {
		snprintf(err, errlen, "connect: %s", strerror(soerr));
		goto out;
	}
	static const char req[] = "GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                          "Connection: close\r\n\r\n";
	size_t sent = 0;
	while (sent < sizeof req - 1) {
		ssize_t w = send(fd, req + sent, sizeof req - 1 - sent, 0);
		if (w > 0) {
			sent += (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLUX_OUT, end) < 0) {
				snprintf(err, errlen, "send timed out");
				goto out;
			}
		} else {
			snprintf(err, errlen, "send: %s", strerror(errno));
			goto out;
		}
	}
	/* The answer through the tools' HTTP parser: Content-Length in any
	 * case, chunked, or to the end of the connection. */
	struct px_httpresp hp;
	/* The body, at most 1 MiB. */
	struct px_body bb = { .max = 1u << 20 };
	px_httpresp_init(&hp);
	hp.on_body = px_body_add;
	hp.arg = &bb;
	enum px_http_result hr = PX_HTTP_MORE;
	while (hr == PX_HTTP_MORE) {
		char chunk[4096];
		ssize_t r = recv(fd, chunk, sizeof chunk, 0);
		if (r > 0) {
			size_t used;
			hr = px_httpresp_feed(&hp, chunk, (size_t)r, &used);
			continue;
		}
		if (r == 0) {
			hr = px_httpresp_eof(&hp);
			break;
		}
		if (errno == EAGAIN || errno == EINTR) {
			if (wait_fd(fd, POLLUX_IN, end) < 0) {
				snprintf(err, errlen, "no complete answer to GET /stats "
				         "within %d s", STATS_TIMEOUT_MS / 1000);
				goto out_body;
			}
			continue;
		}
		snprintf(err, errlen, "recv: %s", strerror(errno));
		goto out_body;
	}
	if (hr != PX_HTTP_DONE || bb.failed) {
		snprintf(err, errlen, "GET /stats: %s", bb.failed ? "answer over 1 MiB" :
		         "answer malformed or cut short");
		goto out_body;
	}
	if (hp.status != 200) {
		snprintf(err, errlen, "GET /stats: status %d, not 200", hp.status);
		goto out_body;
	}
	buf = bb.p;
	bb.p = NULL;
	const char *body = buf ? buf : "";
	char jerr[128];
	struct json *j = json_parse(body, jerr, sizeof jerr);
	if (!j) {
		snprintf(err, errlen, "GET /stats: bad JSON: %s", jerr);
		goto out;
	}
	s->at_us = px_now_us();
	s->waits = json_num(j, "waits");
	s->events = json_num(j, "events");
	s->wait_us = json_num(j, "wait_us_total");
	s->registered = json_num(j, "registered");
	s->open = json_num(j, "open");
	s->requests = json_num(j, "requests");
	s->workers = json_num(j, "workers");
	json_free(j);
	if (!isfinite(s->waits) || !isfinite(s->events) ||
	    !isfinite(s->wait_us) || !isfinite(s->open)) {
		snprintf(err, errlen, "GET /stats: \"waits\", \"events\", "
		         "\"wait_us_total\" or \"open\" missing");
		goto out;
	}
	s->ok = 1;
	rc = 0;
out_body:
	free(bb.p);
out:
	free(buf);
	close(fd);
	return rc;
}

/* ---- waiting while watching both children ---- */

void (*scale_tick)(void);

/* Pumps until end_us, or sooner when a child exits or a signal comes.
 * Returns -1 on a signal. */
static int pump_until(struct proc *server, struct proc *load, uint64_t end_us)
{
	struct proc *ps[2] = { server, load };
	for (;;) {
		uint64_t now = px_now_us();
		if (now >= end_us)
			return 0;
		int ms = (int)((end_us - now) / 1000) + 1;
		if (proc_pump(ps, 2, ms > 500 ? 500 : ms) < 0)
			return -1;
		if (scale_tick)
			scale_tick();
		if (server->exited || (load && load->exited))
			return 0;
	}
}

/* Reads "listening ADDR (BACKEND)" from the server's stdout. 1 found, 0 not yet. */
static int find_listening(const struct proc *p, struct sockaddr_storage *ss,
                          socklen_t *slen, char *addr, size_t addrlen)
{
	if (!p->out)
		return 0;
	const char *l = p->out;
	while (l) {
		const char *eol = strchr(l, '\n');
		if (!eol)
			return 0;
		if (strncmp(l, "listening ", 10) == 0) {
			/* "listening ADDR (BACKEND)": the address ends at a space */
			const char *sp = memchr(l + 10, ' ', (size_t)(eol - (l + 10)));
			size_t n = (size_t)((sp ? sp : eol) - (l + 10));
			if (n >= addrlen)
				return 0;
			memcpy(addr, l + 10, n);
			addr[n] = '\0';
			char err[128];
			return px_parse_addr(addr, ss, slen, err, sizeof err) == 0
			       ? 1 : 0;
		}
		l = eol + 1;
	}
	return 0;
}

static void diff_window(struct scale_point *pt, const struct snap *a,
                        const struct snap *b)
{
	double dw = b->waits - a->waits;
	pt->window_s = (double)(b->at_us - a->at_us) / 1e6;
	pt->waits = dw;
	pt->registered = isfinite(b->registered) ? b->registered : b->open;
	pt->pollers = isfinite(b->workers) && b->workers >= 1 ? b->workers : 1;
	pt->fds_per_poller = scale_fds_per_poller(pt);
	pt->cpu_s = b->cpu_s - a->cpu_s;
	if (dw > 0) {
		pt->us_per_wait = (b->wait_us - a->wait_us) / dw;
		pt->events_per_wait = (b->events - a->events) / dw;
		/* NAN stays NAN: no made-up CPU time. */
		pt->cpu_us_per_wait = pt->cpu_s >= 0 ? pt->cpu_s * 1e6 / dw : NAN;
	}
}

static void fmt_num(char *buf, size_t n, double v)
{
	snprintf(buf, n, "%.3f", v);
}

static void read_load_json(struct proc *load, struct scale_point *pt)
{
	char st[64], last[256], jerr[128];
	proc_describe_status(load, st, sizeof st);
	proc_last_error(load, last, sizeof last);
	struct json *j = load->out ? json_parse(load->out, jerr, sizeof jerr)
	                           : NULL;
	if (!j) {
		set_error(pt, "pollux-load gave no JSON (%s): %s", st,
		          last[0] ? last : "no message");
		return;
	}
	pt->rps = json_num(j, "rps");
	const struct json *lat = json_get(j, "latency_us");
	pt->p50_us = json_num(lat, "p50");
	pt->p99_us = json_num(lat, "p99");
	double e = json_sum(j, "errors"), ie = json_sum(j, "idle_connect_errors");
	pt->errors = (unsigned long)((isfinite(e) ? e : 0) +
	                             (isfinite(ie) ? ie : 0));
	json_free(j);
	if (!isfinite(pt->rps))
		set_error(pt, "pollux-load JSON has no \"rps\" (%s)", st);
	else if (!(WIFEXITED(load->status) && WEXITSTATUS(load->status) <= 1))
		set_error(pt, "pollux-load %s: %s", st,
		          last[0] ? last : "no message");
}

/* A /stats request failed: if the server died, that is the news. */
static void server_failed(struct scale_point *pt, struct proc *server,
                          const char *addr, const char *why)
{
	struct proc *one[1] = { server };
	uint64_t end = px_now_us() + 1000000;
	while (!server->exited && px_now_us() < end)
		if (proc_pump(one, 1, 100) < 0)
			break;
	if (server->exited) {
		char st[64], last[256];
		proc_describe_status(server, st, sizeof st);
		proc_last_error(server, last, sizeof last);
		set_error(pt, "pollux-server ended during the run (%s): %s", st,
		          last[0] ? last : "no message");
	} else {
		set_error(pt, "pollux-server at %s: %s", addr, why);
	}
}

/* A count that does not fit one process is split over as many server
 * workers and load processes as it needs. */
int scale_procs_for(const struct scale_opts *o, unsigned long conns)
{
	unsigned long per = o->fds_per_process ? o->fds_per_process : conns;
	unsigned long k = per ? (conns + per - 1) / per : 1;
	return k < 1 ? 1 : k > 256 ? 256 : (int)k;
}

/* Enough source addresses for the ephemeral ports, and one per load
 * process at least so that each has its own. */
int scale_sources_for(unsigned long conns, int procs)
{
	unsigned long n = (conns + PER_SOURCE - 1) / PER_SOURCE;
	if (n < (unsigned long)procs)
		n = (unsigned long)procs;
	return n < 1 ? 1 : n > 253 ? 253 : (int)n;
}

int scale_run_point(const struct scale_opts *o, const char *server_path,
                    const char *load_path, struct scale_point *pt)
{
	struct proc server, load;
	char addr[PX_ADDRSTRLEN], target[PX_ADDRSTRLEN + 16], why[256];
	char conns[32], active[32], dur[32], warm[32], st[64], last[256];
	char nproc[16], sources[64];
	struct sockaddr_storage ss;
	socklen_t slen = 0;
	struct snap s0 = { 0 }, s1 = { 0 }, s_last = { 0 }, s_end = { 0 };
	struct snap s_full = { 0 };	/* when the server held them all */
	int interrupted = 0;
	unsigned long expected = pt->fds + pt->active;
	/* Connecting the idle clients takes a while at 15,000. */
	uint64_t connect_allow_us = (10 + expected / 500) * 1000000ull;

	int k = scale_procs_for(o, expected);
	int nsrc = scale_sources_for(expected, k);
	pt->server_procs = pt->load_procs = k;
	pt->sources = nsrc;
	/* /stats sums the workers' counters read at slightly different
	 * moments, and our own /stats connections come and go among them:
	 * "open" can read up to one short per extra worker. */
	double held = (double)expected + 1 - (k - 1);
	if (nsrc == 1)
		snprintf(sources, sizeof sources, "%s", LOAD_SOURCE);
	else
		snprintf(sources, sizeof sources, "%s-127.0.0.%d", LOAD_SOURCE,
		         1 + nsrc);
	snprintf(nproc, sizeof nproc, "%d", k);

	memset(&load, 0, sizeof load);
	load.pid = -1;
	load.out_fd = load.err_fd = -1;

	const char *sargv[] = { server_path, "--backend", pt->backend,
	                        "--listen", "127.0.0.1:0", "--proto", "http",
	                        "--idle-timeout", "0", "--json", "-",
	                        k > 1 ? "--processes" : NULL, nproc, NULL };
	trace_t0 = px_now_us();
	trace(pt, "starting %s", server_path);
	if (proc_spawn(&server, sargv) < 0) {
		set_error(pt, "cannot start %s: %s", server_path, strerror(errno));
		return 0;
	}
	struct proc *only[1] = { &server };
	uint64_t end = px_now_us() + START_TIMEOUT_MS * 1000ull;
	while (!find_listening(&server, &ss, &slen, addr, sizeof addr)) {
		if (server.exited || server.out_fd < 0) {
			proc_describe_status(&server, st, sizeof st);
			proc_last_error(&server, last, sizeof last);
			set_error(pt, "pollux-server stopped before listening (%s): %s",
			          st, last[0] ? last : "no message");
			goto done;
		}
		if (px_now_us() >= end) {
			set_error(pt, "pollux-server printed no 'listening ADDR' "
			          "line within %d s", START_TIMEOUT_MS / 1000);
			goto done;
		}
		if (proc_pump(only, 1, 100) < 0) {
			interrupted = 1;
			goto done;
		}
	}
	if (get_stats(&ss, slen, &s0, why, sizeof why) == 0) {
		s0.cpu_s = proc_group_cpu_s(server.pid);
	} else {
		if (scale_stop_signal) {
			interrupted = 1;
			goto done;
		}
		server_failed(pt, &server, addr, why);
		goto done;
	}

	snprintf(target, sizeof target, "http://%s/", addr);
	snprintf(conns, sizeof conns, "%lu", expected);
	snprintf(active, sizeof active, "%lu", pt->active);
	fmt_num(dur, sizeof dur, o->duration);
	fmt_num(warm, sizeof warm, o->warmup);
	/* The client on the best backend (first in the list), so that what
	 * varies is the server's backend alone, whatever POLLUX_BACKEND says. */
	const char *lb = pollux_backends()[0];
	/* The clients connect from 127.0.0.2: pollux-load closes first, so
	 * every client port spends a minute in TIME_WAIT, and bound to
	 * 127.0.0.1 those would leave no port for bind(127.0.0.1:0), ours or
	 * anyone else's on the machine, after a point or two at 15,000. */
	const char *largv[] = { load_path, "-c", conns, "-a", active,
	                        "-d", dur, "--warmup", warm, "--backend", lb,
	                        "--source", sources, "-q", "--json", "-",
	                        k > 1 ? "--processes" : target,
	                        k > 1 ? nproc : NULL, target, NULL };
	if (proc_spawn(&load, largv) < 0) {
		set_error(pt, "cannot start %s: %s", load_path, strerror(errno));
		goto done;
	}
	uint64_t load_start = px_now_us();
	trace(pt, "server listens at %s; started pollux-load -c %s -a %s "
	      "--source %s (%d process%s a side)", addr, conns, active,
	      sources, k, k > 1 ? "es" : "");

	/* 1. Wait until the server holds every connection. */
	uint64_t t_open = 0;
	end = load_start + connect_allow_us;
	while (px_now_us() < end && !server.exited && !load.exited) {
		struct snap s;
		/* "open" counts this /stats connection too. */
		if (get_stats(&ss, slen, &s, why, sizeof why) == 0 &&
		    s.open >= held) {
			t_open = px_now_us();
			s_full = s;
			trace(pt, "server holds all %lu connections", expected);
			break;
		}
		if (pump_until(&server, &load, px_now_us() + 100000) < 0) {
			interrupted = 1;
			goto done;
		}
	}
	/* 2. Past the warm-up, sample the window while all are open. The
	 * load tool's own clock started at or before ours, so its run ends
	 * first: the last sample taken with every connection still open
	 * closes the window, which then lies inside its measured run. */
	if (t_open) {
		if (pump_until(&server, &load,
		               t_open + (uint64_t)(o->warmup * 1e6)) < 0) {
			interrupted = 1;
			goto done;
		}
		if (!server.exited && !load.exited &&
		    get_stats(&ss, slen, &s1, why, sizeof why) == 0) {
			s1.cpu_s = proc_group_cpu_s(server.pid);
			double step = o->duration / 5;
			if (step > 0.5)
				step = 0.5;
			if (step < 0.05)
				step = 0.05;
			uint64_t stop = s1.at_us + (uint64_t)(o->duration * 1e6);
			while (px_now_us() < stop) {
				uint64_t next = px_now_us() + (uint64_t)(step * 1e6);
				if (next > stop)
					next = stop;
				if (pump_until(&server, &load, next) < 0) {
					interrupted = 1;
					goto done;
				}
				if (server.exited || load.exited)
					break;
				struct snap s;
				if (get_stats(&ss, slen, &s, why, sizeof why) < 0) {
					trace(pt, "window ends: %s", why);
					break;
				}
				s.cpu_s = proc_group_cpu_s(server.pid);
				if (s.open < held) {
					trace(pt, "window ends: server holds %.0f "
					      "connections of %lu", s.open - 1,
					      expected);
					break;
				}
				s_last = s;
			}
		}
	}
	/* 3. Let the load tool finish and report. */
	end = load_start + connect_allow_us +
	      (uint64_t)((o->warmup + o->duration) * 1e6) + 30000000ull;
	while (!load.exited && !server.exited && px_now_us() < end)
		if (pump_until(&server, &load, end) < 0) {
			interrupted = 1;
			goto done;
		}
	if (server.exited) {
		proc_stop(&load, SIGTERM, STOP_GRACE_MS);
		proc_describe_status(&server, st, sizeof st);
		proc_last_error(&server, last, sizeof last);
		set_error(pt, "pollux-server ended during the run (%s): %s", st,
		          last[0] ? last : "no message");
		goto done;
	}
	if (!load.exited) {
		proc_stop(&load, SIGKILL, 0);
		set_error(pt, "pollux-load did not finish in time; stopped it");
		goto done;
	}
	trace(pt, "pollux-load finished; window %.3f s from %s", s_last.ok ?
	      (double)(s_last.at_us - s1.at_us) / 1e6 : 0.0,
	      s_last.ok ? "steady samples" : "no steady samples");
	read_load_json(&load, pt);
	if (pt->error[0])
		goto done;

	/* 4. The server's figures: the window if there is one, else (slow
	 * connect, early exit) the whole run, marked as such. */
	if (s1.ok && s_last.ok && s_last.waits > s1.waits) {
		diff_window(pt, &s1, &s_last);
	} else if (get_stats(&ss, slen, &s_end, why, sizeof why) == 0) {
		s_end.cpu_s = proc_group_cpu_s(server.pid);
		diff_window(pt, &s0, &s_end);
		pt->whole_run = 1;
		/* s_end comes after the load closed its connections: what the
		 * server held is what it had when all were open. */
		if (s_full.ok && isfinite(s_full.registered))
			pt->registered = s_full.registered;
	} else if (scale_stop_signal) {
		interrupted = 1;
	} else {
		server_failed(pt, &server, addr, why);
	}

done:
	if (load.pid > 0)
		proc_stop(&load, SIGTERM, STOP_GRACE_MS);
	trace(pt, "stopping the server");
	proc_stop(&server, SIGTERM, STOP_GRACE_MS);
	trace(pt, "server stopped");
	proc_free(&load);
	proc_free(&server);
	if (interrupted || scale_stop_signal) {
		set_error(pt, "interrupted");
		return -1;
	}
	return 0;
}
