/* triggers.c: the lesson "triggers", level- against edge-triggered
 * readiness: a receiver that reads 1 KiB per report keeps up when the
 * report repeats (level) and stalls when it comes only with new data (edge). */
#include "toolconfig.h"
#include "lab.h"
#include "common.h"
#include "pollux.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define READ_SIZE 1024		/* what the handler reads per recv */
#define SEND_CHUNK (64 * 1024)	/* what the sender hands send() at a time */
#define MAX_POINTS 4096		/* bytes-over-time samples kept per run */

enum mode { LEVEL, EDGE_ONE_READ, EDGE_DRAIN, NMODES };
static const char *const mode_key[NMODES] = { "level", "edge_one_read", "edge_drain" };
/* What each handler does per report (the table says a read is READ_SIZE). */
static void handler_text(char *buf, size_t n, enum mode m)
{
	(void)m;
	snprintf(buf, n, "%s", m == EDGE_DRAIN ? "read to EAGAIN" : "one read");
}

struct run {
	int measured;
	long long sent;			/* bytes the sender's send() took; -1 unknown */
	int sender_finished;		/* it took all of them */
	unsigned long long received, wakeups, reads;
	int stalled;
	double quiet_s;			/* no report for this long (the stall) */
	long long unread_queued;	/* FIONREAD at the stall, -1 unknown */
	double all_s;			/* every byte received after, NAN if not */
	double end_s;
	int np, stride, skip;		/* the samples, decimated when full */
	double t[MAX_POINTS];
	unsigned long long b[MAX_POINTS];
};

/* Static: three runs' samples are too big for the stack. */
static struct run runs[NMODES];

struct sender {
	int fd, other;
	size_t bytes;
	int bound_ms;			/* the longest it may live */
};

/* The sender, in a child: pushes every byte as fast as the kernel takes
 * them, then keeps the connection open without sending until the
 * receiver closes it. It reports what send() took on its stdout. */
static int sender_main(void *arg)
{
	struct sender *s = arg;
	close(s->other);
	char *buf = malloc(SEND_CHUNK);
	if (!buf)
		return 1;
	memset(buf, 'x', SEND_CHUNK);
	/* A send blocked by a receiver that stopped reading ends when the
	 * receiver closes (a reset), or at the latest after the bound. */
	struct timeval tv = { s->bound_ms / 1000, (s->bound_ms % 1000) * 1000 };
	setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	size_t sent = 0;
	while (sent < s->bytes) {
		size_t n = s->bytes - sent < SEND_CHUNK ? s->bytes - sent : SEND_CHUNK;
		ssize_t k = send(s->fd, buf, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		sent += (size_t)k;
	}
	free(buf);
	printf("sent %zu\n", sent);
	fflush(stdout);
	/* Stop sending, stay connected: no FIN, so no last event either. */
	struct pollfd pf = { s->fd, POLLIN, 0 };
	(void)poll(&pf, 1, s->bound_ms);
	close(s->fd);
	return 0;
}

static void sample(struct run *r, double t)
{
	if (r->skip++ % r->stride)
		return;
	if (r->np == MAX_POINTS) {
		/* Full: keep every other sample and take half as many. */
		for (int i = 0; i < MAX_POINTS / 2; i++) {
			r->t[i] = r->t[2 * i];
			r->b[i] = r->b[2 * i];
		}
		r->np = MAX_POINTS / 2;
		r->stride *= 2;
	}
	r->t[r->np] = t;
	r->b[r->np++] = r->received;
}

/* One run: a new connection, a new sender, a receiver in mode. 0, or -1
 * after a message. */
static int one_run(struct lab *L, const char *backend, enum mode mode, size_t bytes,
                   double stall_s, double max_s, struct run *r)
{
	memset(r, 0, sizeof *r);
	r->sent = -1;
	r->unread_queued = -1;
	r->all_s = NAN;
	r->quiet_s = NAN;
	r->stride = 1;
	int fds[2];
	if (lab_tcp_pair(fds) < 0) {
		fprintf(stderr, LAB_NAME ": cannot connect over 127.0.0.1: %s\n", strerror(errno));
		return -1;
	}
	int rx = fds[1];
	struct sender s = { fds[0], rx, bytes, (int)((max_s + stall_s) * 1000) + 2000 };
	double t0 = lab_now_s();
	struct proc *p = lab_fork(L, "sender", sender_main, &s);
	close(fds[0]);
	if (!p) {
		fprintf(stderr, LAB_NAME ": cannot fork the sender: %s\n", strerror(errno));
		close(rx);
		return -1;
	}
	pollux_t *px = pollux_new(backend);
	unsigned want = POLLUX_IN | (mode == LEVEL ? 0 : POLLUX_EDGE);
	if (!px || px_set_nonblock(rx) < 0 || pollux_add(px, rx, want, NULL) < 0) {
		fprintf(stderr, LAB_NAME ": cannot watch the connection with %s: %s\n",
		        backend ? backend : "the default backend", strerror(errno));
		pollux_free(px);
		close(rx);
		return -1;
	}
	char buf[READ_SIZE];
	double last = t0;
	int rc = 0;
	while (!lab_stopped()) {
		double now = lab_now_s();
		if (now - t0 >= max_s)
			break;
		/* Past the window the wait still runs, with no timeout: a stall
		 * is a wait that found nothing, never a lab that was descheduled
		 * while a report was pending. */
		double left = stall_s - (now - last);
		int ms = left <= 0 ? 0 : left < 0.1 ? (int)(left * 1000) + 1 : 100;
		lab_progress(L, "%s: %llu bytes received", mode_key[mode], r->received);
		struct pollux_event ev[4];
		int n = pollux_wait(px, ev, 4, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, LAB_NAME ": pollux_wait: %s\n", strerror(errno));
			rc = -1;
			break;
		}
		int reported = 0;
		for (int i = 0; i < n; i++)
			reported |= ev[i].fd == rx;
		if (!reported) {
			now = lab_now_s();
			if (now - last >= stall_s) {
				/* Bytes are owed and nothing will say so: the stall. */
				r->stalled = 1;
				r->quiet_s = now - last;
				int q;
				if (ioctl(rx, FIONREAD, &q) == 0)
					r->unread_queued = q;
				break;
			}
			continue;
		}
		int eof = 0;
		for (int i = 0; i < n; i++) {
			if (ev[i].fd != rx)
				continue;
			r->wakeups++;
			ssize_t k;
			do {
				k = recv(rx, buf, sizeof buf, 0);
				if (k > 0) {
					r->received += (size_t)k;
					r->reads++;
				}
				/* A signal must not end a drain short of EAGAIN:
				 * that would be the one-read bug again. */
			} while (mode == EDGE_DRAIN && (k > 0 || (k < 0 && errno == EINTR)));
			last = lab_now_s();
			sample(r, last - t0);
			if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
			               errno != EINTR))
				eof = 1;
		}
		if (r->received >= bytes) {
			r->all_s = last - t0;
			break;
		}
		if (eof) {
			fprintf(stderr, LAB_NAME ": the sender closed after %llu bytes\n", r->received);
			rc = -1;
			break;
		}
	}
	r->end_s = lab_now_s() - t0;
	/* The last sample is the end of the run, so that a stall shows as
	 * a flat line as long as it lasted. */
	r->skip = 0;
	r->stride = 1;
	sample(r, r->end_s);
	pollux_free(px);
	/* Unread bytes make this close a reset, which ends a blocked send. */
	close(rx);
	uint64_t end = px_now_ns() + 5000000000ull;
	while (!p->exited && px_now_ns() < end)
		if (lab_pump(p, 100) < 0)
			break;
	const char *line = p->out ? strstr(p->out, "sent ") : NULL;
	if (line) {
		r->sent = strtoll(line + 5, NULL, 10);
		r->sender_finished = (size_t)r->sent == bytes;
	}
	lab_stop_proc(L, p, SIGTERM, 1000);
	r->measured = rc == 0 && !lab_stopped();
	return lab_stopped() ? -1 : rc;
}

/* "1 wake-up", "1,025 wake-ups". */
static void wakeups_text(char *buf, size_t n, unsigned long long w)
{
	char c[32];
	snprintf(buf, n, "%s wake-up%s", lab_commas(c, sizeof c, w), w == 1 ? "" : "s");
}

static void write_run(struct lab *L, enum mode m)
{
	const struct run *r = &runs[m];
	jw_open(&L->meas, mode_key[m]);
	if (!r->measured) {
		/* Not run (no edge triggering here, or stopped): every key, null,
		 * so that a reader finds the same shape on every backend. */
		static const char *const keys[] = { "bytes_sent", "bytes_received", "wakeups",
		                                     "reads", "stalled", "stall_s",
		                                     "unread_in_receive_queue",
		                                     "sender_finished", "all_bytes_s" };
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
			jw_null(&L->meas, keys[i]);
		jw_close(&L->meas);
		return;
	}
	if (r->sent >= 0)
		jw_int(&L->meas, "bytes_sent", r->sent);
	else
		jw_null(&L->meas, "bytes_sent");
	jw_int(&L->meas, "bytes_received", (long long)r->received);
	jw_int(&L->meas, "wakeups", (long long)r->wakeups);
	jw_int(&L->meas, "reads", (long long)r->reads);
	jw_bool(&L->meas, "stalled", r->stalled);
	jw_num(&L->meas, "stall_s", r->stalled ? r->quiet_s : NAN);
	if (r->unread_queued >= 0)
		jw_int(&L->meas, "unread_in_receive_queue", r->unread_queued);
	else
		jw_null(&L->meas, "unread_in_receive_queue");
	jw_bool(&L->meas, "sender_finished", r->sender_finished);
	jw_num(&L->meas, "all_bytes_s", r->all_s);
	jw_close(&L->meas);
}

static void table(struct lab *L, size_t bytes, int edge, const char *backend)
{
	/* At most 72 columns: pollux-labs(7) quotes the table, indented. */
	lab_printf(L, "\n%-13s %-14s %9s %9s %8s %7s %6s\n", "run", "per report",
	           "sent", "received", "wake-ups", "stalled", "all ms");
	for (int m = 0; m < NMODES; m++) {
		const struct run *r = &runs[m];
		char h[32];
		handler_text(h, sizeof h, (enum mode)m);
		if (!r->measured) {
			lab_printf(L, "%-13s %-14s %9s %9s %8s %7s %6s\n", mode_key[m],
			           h, "-", "-", "-", "-", "-");
			continue;
		}
		char s[32], rcv[32], w[32], all[32];
		if (r->sent >= 0)
			lab_commas(s, sizeof s, (unsigned long long)r->sent);
		else
			snprintf(s, sizeof s, "-");
		lab_commas(rcv, sizeof rcv, r->received);
		lab_commas(w, sizeof w, r->wakeups);
		if (isfinite(r->all_s))
			snprintf(all, sizeof all, "%.1f", r->all_s * 1000);
		else
			snprintf(all, sizeof all, "never");
		char st[32];
		if (r->stalled)
			snprintf(st, sizeof st, "%.1f s", r->quiet_s);
		else
			snprintf(st, sizeof st, "no");
		lab_printf(L, "%-13s %-14s %9s %9s %8s %7s %6s\n", mode_key[m],
		           h, s, rcv, w, st, all);
	}
	char b[32];
	lab_printf(L, "\nper report: what the handler does each time pollux reports the socket\n"
	           "readable, in recv() calls of %d KiB; sent, received: bytes, of the %s\n"
	           "the sender's send() calls were given; stalled: no report for the stall\n"
	           "window while bytes were still unread; all: from the first send to the\n"
	           "last byte read.%s%s%s\n\n", READ_SIZE / 1024,
	           lab_commas(b, sizeof b, bytes), edge ? "" : "\nThe edge runs: not on ",
	           edge ? "" : backend, edge ? "" : ", which has no POLLUX_FEAT_EDGE.");
}

static void plot(struct lab *L, int nmodes, size_t bytes)
{
	if (!L->o->plot)
		return;
	char *script = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&script, &len);
	if (!f)
		return;
	for (int m = 0; m < nmodes; m++) {
		const struct run *r = &runs[m];
		fprintf(f, "$%s << EOD\n", mode_key[m]);
		for (int i = 0; i < r->np; i++)
			fprintf(f, "%.6f %.3f\n", r->t[i] * 1000, (double)r->b[i] / 1024);
		fputs("EOD\n", f);
	}
	/* Both axes logarithmic: the stalled run's few KiB and its second of
	 * silence show beside the others' full MiB in a millisecond. */
	fprintf(f, "set xlabel 'time since the first send (ms, log scale)'\n"
	        "set ylabel 'bytes received (KiB, log scale)'\nset logscale xy\n"
	        "set yrange [0.5:%g]\nset key right center\n"
	        "set arrow from graph 0, first %g to graph 1, first %g nohead dt 2 lc rgb '#7f7f7f'\n"
	        "set label 'bytes sent' at graph 0.02, first %g offset 0,0.7\nplot ",
	        (double)bytes / 1024 * 2, (double)bytes / 1024, (double)bytes / 1024,
	        (double)bytes / 1024);
	for (int m = 0; m < nmodes; m++) {
		char t[96];
		if (m == EDGE_DRAIN)
			snprintf(t, sizeof t, "edge-triggered, %d KiB reads until EAGAIN",
			         READ_SIZE / 1024);
		else
			snprintf(t, sizeof t, "%s-triggered, one %d KiB read per report",
			         m == LEVEL ? "level" : "edge", READ_SIZE / 1024);
		fprintf(f, "%s$%s using 1:2 with steps lt %d title '%s'", m ? ", " : "",
		        mode_key[m], m + 1, t);
	}
	fputc('\n', f);
	if (fclose(f) == 0)
		(void)lab_plot(L, "bytes received over time, level against edge", script);
	free(script);
}

static int run(struct lab *L)
{
	const size_t bytes = 1u << 20;
	double stall_s = lab_seconds(L, 0.5, 1.0);
	/* The bound on a run that neither completes nor stalls (not seen). */
	double max_s = stall_s + 10;
	/* --seconds is the stall window, the lesson's only timed phase. */
	jw_num(&L->settings, "seconds", stall_s);
	pollux_t *probe = pollux_new(L->o->backend);
	if (!probe) {
		int e = errno;
		for (int m = 0; m < NMODES; m++)
			write_run(L, (enum mode)m);
		return lab_fail(L, "cannot create a poller: %s", strerror(e));
	}
	char backend[32];
	snprintf(backend, sizeof backend, "%s", pollux_backend(probe));
	int edge = (pollux_features(probe) & POLLUX_FEAT_EDGE) != 0;
	pollux_free(probe);

	jw_int(&L->settings, "bytes", (long long)bytes);
	jw_int(&L->settings, "read_size", READ_SIZE);
	jw_str(&L->settings, "backend", backend);
	jw_bool(&L->settings, "edge_available", edge);
	jw_str(&L->settings, "transport", "tcp 127.0.0.1");
	jw_num(&L->settings, "stall_window_s", stall_s);
	jw_num(&L->settings, "max_run_s", max_s);
	char b[32];
	lab_setup(L, "a sender (child process) pushes %s bytes into a TCP connection over "
	          "127.0.0.1, then stops sending and keeps it open", lab_commas(b, sizeof b, bytes));
	lab_setup(L, "the receiver waits with pollux (%s) and reads %d KiB per recv(); a run "
	          "stalls when no report comes for %.3g s while bytes are unread", backend,
	          READ_SIZE / 1024, stall_s);

	int nmodes = edge ? NMODES : 1;
	int failed = 0;
	for (int m = 0; m < nmodes && !failed; m++)
		failed = one_run(L, L->o->backend, (enum mode)m, bytes, stall_s, max_s, &runs[m]) < 0;
	lab_progress(L, "%s", "");
	/* Written whatever happened: a run not measured has its keys, null. */
	for (int m = 0; m < NMODES; m++)
		write_run(L, (enum mode)m);
	if (failed)
		return lab_stopped() ? LAB_NOT_OBSERVED
		                     : lab_fail(L, "a run could not be measured (see the message above)");
	table(L, bytes, edge, backend);
	plot(L, nmodes, bytes);

	const struct run *lv = &runs[LEVEL], *one = &runs[EDGE_ONE_READ],
	                 *dr = &runs[EDGE_DRAIN];
	char lb[32], lw[48];
	lab_commas(lb, sizeof lb, lv->received);
	wakeups_text(lw, sizeof lw, lv->wakeups);
	int level_ok = lv->received == bytes;
	char lvtext[256];
	if (level_ok)
		snprintf(lvtext, sizeof lvtext, "all bytes in %s (%.1f ms)", lw,
		         lv->all_s * 1000);
	else
		snprintf(lvtext, sizeof lvtext, "%s of %s bytes in %s", lb, b, lw);
	if (!edge)
		return lab_verdict(L, 0, "level-triggered, one read per report: %s; edge "
		                   "triggering is not available on %s: it "
		                   "asks the kernel each call which descriptors are ready now and "
		                   "keeps no record of arrivals, so it cannot report a transition "
		                   "(POLLUX_EDGE needs POLLUX_FEAT_EDGE: run with -b epoll, on Linux)",
		                   lvtext, backend);
	char ob[32], ou[32], ow[48], db[32], dw[48];
	lab_commas(ob, sizeof ob, one->received);
	lab_commas(ou, sizeof ou, one->sent > 0 ? (unsigned long long)one->sent - one->received : 0);
	wakeups_text(ow, sizeof ow, one->wakeups);
	lab_commas(db, sizeof db, dr->received);
	wakeups_text(dw, sizeof dw, dr->wakeups);
	int seen = one->stalled && one->received < bytes && !dr->stalled &&
	           dr->received == bytes && level_ok;
	char onetext[512], q[32];
	lab_commas(q, sizeof q, one->unread_queued > 0 ? (unsigned long long)one->unread_queued : 0);
	if (one->stalled)
		snprintf(onetext, sizeof onetext, "%s of %s bytes arrived in %s, then "
		         "the connection stalled for %.1f s with %s bytes sent but unread (%s "
		         "in the receive queue, the rest in the sender's send buffer behind "
		         "the closed window; the sender %s)", ob, b, ow, one->quiet_s, ou, q,
		         one->sender_finished ? "had sent everything" : "blocked in send");
	else
		snprintf(onetext, sizeof onetext, "%s of %s bytes in %s, no stall", ob, b, ow);
	char drtext[256];
	if (dr->received == bytes && !dr->stalled)
		snprintf(drtext, sizeof drtext, "all bytes in %s (%.1f ms)", dw,
		         dr->all_s * 1000);
	else
		snprintf(drtext, sizeof drtext, "%s of %s bytes in %s%s", db, b, dw,
		         dr->stalled ? ", then it stalled" : "");
	/* Not observed: say which figure failed which condition. */
	char why[192] = "";
	if (!seen)
		snprintf(why, sizeof why, "; not observed: %s",
		         !level_ok ? "the level-triggered run did not receive every byte"
		         : !one->stalled ? "the one-read edge run did not stall"
		         : one->received >= bytes ? "the one-read edge run received every byte"
		         : dr->stalled ? "the draining edge run stalled"
		         : "the draining edge run did not receive every byte");
	return lab_verdict(L, seen, "edge-triggered, one read per report: %s; drained to "
	                   "EAGAIN: %s; level-triggered, one read per report: %s%s", onetext,
	                   drtext, lvtext, why);
}

const struct lesson lab_lesson_triggers = {
	"triggers",
	"Why must an edge-triggered handler read until EAGAIN?",
	run, 1
};
