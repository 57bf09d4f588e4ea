/* report.c: error kinds and the two outputs of pollux-load: text for people
 * and one JSON object whose keys are documented in pollux-load(1). */
#include "toolconfig.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "common.h"
#include "load.h"

const char *const err_names[E_NKINDS] = {
	[E_REFUSED] = "refused", [E_RESET] = "reset", [E_TIMEOUT] = "timeout",
	[E_CLOSED] = "closed", [E_SHORT] = "short", [E_MALFORMED] = "malformed",
	[E_MISMATCH] = "mismatch", [E_HTTP_STATUS] = "http_status",
	[E_EMFILE] = "emfile", [E_ENFILE] = "enfile",
	[E_EADDRNOTAVAIL] = "eaddrnotavail", [E_EADDRINUSE] = "eaddrinuse",
	[E_ENETUNREACH] = "enetunreach", [E_EHOSTUNREACH] = "ehostunreach",
	[E_EAGAIN] = "eagain", [E_OTHER] = "other",
};

enum err_kind err_from_errno(int e)
{
	switch (e) {
	case ECONNREFUSED: return E_REFUSED;
	case ECONNRESET: case EPIPE: case ECONNABORTED: return E_RESET;
	case ETIMEDOUT: return E_TIMEOUT;
	case EMFILE: return E_EMFILE;
	case ENFILE: return E_ENFILE;
	case EADDRNOTAVAIL: return E_EADDRNOTAVAIL;
	case EADDRINUSE: return E_EADDRINUSE;
	case ENETUNREACH: return E_ENETUNREACH;
	case EHOSTUNREACH: return E_EHOSTUNREACH;
	default: return E_OTHER;
	}
}

/* "99.9" -> "p999", "50" -> "p50": the JSON key of a percentile. */
void pct_key(double p, char *buf, size_t n)
{
	char num[32];
	snprintf(num, sizeof num, "%.6g", p);
	size_t j = 0;
	buf[j++] = 'p';
	for (const char *s = num; *s && j + 1 < n; s++)
		if (*s != '.')
			buf[j++] = *s;
	buf[j] = '\0';
}

const double std_pct[N_STD_PCT] = { 50, 90, 99, 99.9, 99.99 };

/* A percentile, or null when there are no samples: never a made-up 0. */
static void json_pct(FILE *f, const struct hist *h, double p)
{
	if (h->count)
		fprintf(f, "%llu", (unsigned long long)hist_percentile(h, p));
	else
		fputs("null", f);
}

static void json_latency(FILE *f, const struct config *cfg, const struct hist *h)
{
	if (h->count)
		fprintf(f, "{\"mean\": %.1f, \"stdev\": %.1f", hist_mean(h), hist_stdev(h));
	else
		fputs("{\"mean\": null, \"stdev\": null", f);
	for (size_t i = 0; i < N_STD_PCT; i++) {
		char k[40];
		pct_key(std_pct[i], k, sizeof k);
		fprintf(f, ", \"%s\": ", k);
		json_pct(f, h, std_pct[i]);
	}
	/* extra ones asked for with --percentiles */
	for (int i = 0; i < cfg->npct; i++) {
		int dup = 0;
		for (size_t j = 0; j < N_STD_PCT; j++)
			dup |= cfg->pct[i] == std_pct[j];
		for (int j = 0; j < i; j++)
			dup |= cfg->pct[i] == cfg->pct[j];
		if (dup)
			continue;
		char k[40];
		pct_key(cfg->pct[i], k, sizeof k);
		fprintf(f, ", \"%s\": ", k);
		json_pct(f, h, cfg->pct[i]);
	}
	fputs(", \"max\": ", f);
	json_pct(f, h, 100);
	fprintf(f, ", \"count\": %llu}", (unsigned long long)h->count);
}

/* Send lateness (recorded in ns) as microseconds to the nanosecond, or
 * null when no measured request was sent. */
static void json_lateness(FILE *f, const struct hist *h)
{
	if (!h->count) {
		fputs("null", f);
		return;
	}
	fprintf(f, "{\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f}",
	        (double)hist_percentile(h, 50) / 1e3, (double)hist_percentile(h, 99) / 1e3,
	        (double)h->max / 1e3);
}

static void json_errors(FILE *f, const uint64_t *e)
{
	fputc('{', f);
	for (int k = 0; k < E_NKINDS; k++)
		fprintf(f, "%s\"%s\": %llu", k ? ", " : "", err_names[k],
		        (unsigned long long)e[k]);
	fputc('}', f);
}

/* The rule for a stall the percentiles hide (see pollux-load(1), LATENCY):
 * in a closed loop, the longest time without an answer while requests
 * were outstanding is at least STALL_FACTOR times p99 and at least
 * STALL_MIN_US. A closed loop sends nothing while it waits, so a stalled
 * server delays only the requests already out (one per connection) and
 * p99 does not move; the open loop's corrected latency shows it. */
#define STALL_FACTOR 10
#define STALL_MIN_US 10000

static int stall_hidden(const struct config *cfg, const struct totals *t)
{
	/* no p99 without samples: nothing to compare the stall with */
	if (cfg->rate > 0 || !t->stall_seen || t->stall_us < STALL_MIN_US || !t->lat->count)
		return 0;
	return t->stall_us >= STALL_FACTOR * hist_percentile(t->lat, 99);
}

/* The notes a reader of the figures needs, the same sentences in both
 * outputs; calls put(note, arg) for each. */
static void notes(const struct config *cfg, const struct totals *t,
                  void (*put)(const char *, void *), void *arg)
{
	char b[512];
	if (cfg->rate > 0 && t->unsent) {
		snprintf(b, sizeof b, "%llu request%s due in the measured time found no free "
		         "connection and were never sent: the percentiles leave them out, "
		         "so the latency is understated (raise -c)",
		         (unsigned long long)t->unsent, t->unsent == 1 ? "" : "s");
		put(b, arg);
	}
	if (stall_hidden(cfg, t)) {
		snprintf(b, sizeof b, "no answer came for %.3f s while requests were "
		         "outstanding, more than %d times p99: a closed loop waits with the "
		         "server, so its percentiles hide the stall; an open loop (-R) "
		         "measures it", (double)t->stall_us / 1e6, STALL_FACTOR);
		put(b, arg);
	}
}

struct json_notes {
	FILE *f;
	int n;
};

static void put_json_note(const char *note, void *arg)
{
	struct json_notes *j = arg;
	fputs(j->n++ ? ", " : "", j->f);
	px_json_string(j->f, note);
}

/* URL i of an HTTP run as the requests name it (settings.urls, targets). */
static const char *url_at(const struct config *cfg, size_t i, char *buf, size_t n)
{
	snprintf(buf, n, "http://%s%s", cfg->urls[i].host_hdr, cfg->urls[i].path);
	return buf;
}

/* "null" for an unset number: a setting not in force. */
static void json_opt(FILE *f, const char *key, int set, double v, int decimals)
{
	fprintf(f, ", \"%s\": ", key);
	if (set)
		fprintf(f, "%.*f", decimals, v);
	else
		fputs("null", f);
}

/* Every setting that changes the figures, under "settings". */
static void json_settings(FILE *f, const struct config *cfg)
{
	fputs("{\"duration_s\": ", f);
	if (cfg->requests)
		fputs("null", f);
	else
		fprintf(f, "%.3f", cfg->duration_s);
	json_opt(f, "requests", cfg->requests != 0, (double)cfg->requests, 0);
	fprintf(f, ", \"warmup_s\": %.3f, \"timeout_s\": %.3f", cfg->warmup_s, cfg->timeout_s);
	json_opt(f, "rate", cfg->rate > 0, cfg->rate, 3);
	json_opt(f, "connect_rate", cfg->connect_rate > 0, cfg->connect_rate, 3);
	json_opt(f, "size", cfg->proto == PROTO_ECHO, (double)cfg->size, 0);
	fputs(", \"method\": ", f);
	if (cfg->proto == PROTO_HTTP)
		px_json_string(f, cfg->method);
	else
		fputs("null", f);
	fputs(", \"urls\": ", f);
	if (cfg->proto == PROTO_HTTP) {
		fputc('[', f);
		for (size_t i = 0; i < cfg->nurls; i++) {
			char u[1400];
			fputs(i ? ", " : "", f);
			px_json_string(f, url_at(cfg, i, u, sizeof u));
		}
		fputc(']', f);
	} else {
		fputs("null", f);
	}
	fputs(", \"headers\": [", f);
	for (size_t i = 0; i < cfg->nheaders; i++) {
		fputs(i ? ", " : "", f);
		px_json_string(f, cfg->headers[i]);
	}
	fputs("]", f);
	json_opt(f, "body_bytes", cfg->body_file != NULL, (double)cfg->body_len, 0);
	fputs(", \"request_bytes\": ", f);
	if (cfg->proto == PROTO_HTTP) {
		fputc('[', f);
		for (size_t i = 0; i < cfg->nurls; i++)
			fprintf(f, "%s%zu", i ? ", " : "", cfg->req_lens[i]);
		fputc(']', f);
	} else {
		fprintf(f, "%zu", cfg->size);
	}
	fprintf(f, ", \"new_connection\": %s", cfg->new_conn ? "true" : "false");
	json_opt(f, "interval_s", cfg->interval_s > 0, cfg->interval_s, 3);
	fprintf(f, ", \"sources\": %zu, \"percentiles\": [", cfg->nsources);
	for (int i = 0; i < cfg->npct; i++)
		fprintf(f, "%s%g", i ? ", " : "", cfg->pct[i]);
	fputs("]}", f);
}

/* p of one interval's sparse slots (as hist_percentile), or 0 if none. */
static uint64_t interval_pct(const struct series *s, const struct interval *iv, double p)
{
	uint64_t total = 0;
	for (size_t i = 0; i < iv->n; i++)
		total += s->slots[iv->first + i].count;
	if (!total)
		return 0;
	if (p >= 100)
		return iv->max;
	uint64_t want = (uint64_t)ceil(p / 100.0 * (double)total), seen = 0;
	if (want < 1)
		want = 1;
	for (size_t i = 0; i < iv->n; i++) {
		seen += s->slots[iv->first + i].count;
		if (seen >= want) {
			uint64_t v = hist_slot_value(s->slots[iv->first + i].slot);
			return v > iv->max ? iv->max : v;
		}
	}
	return iv->max;
}

static void json_series(FILE *f, const struct config *cfg, const struct series *s)
{
	fputc('[', f);
	for (size_t k = 0; k < s->niv; k++) {
		const struct interval *iv = &s->iv[k];
		fprintf(f, "%s{\"start_s\": %.3f, \"requests\": %llu, \"errors\": %llu",
		        k ? ", " : "", (double)k * cfg->interval_s,
		        (unsigned long long)iv->requests, (unsigned long long)iv->errors);
		static const char *const key[] = { "p50_us", "p99_us", "max_us" };
		static const double ps[] = { 50, 99, 100 };
		for (int i = 0; i < 3; i++) {
			fprintf(f, ", \"%s\": ", key[i]);
			if (iv->n)
				fprintf(f, "%llu", (unsigned long long)interval_pct(s, iv, ps[i]));
			else
				fputs("null", f);
		}
		fputc('}', f);
	}
	fputc(']', f);
}

/* The rate over the measured time, or nothing when no time was measured:
 * 0 req/s over no time would be a made-up figure. */
static int have_rate(const struct totals *t)
{
	return t->measured && t->duration_s > 0;
}

void report_json(FILE *f, const struct config *cfg, const struct totals *t)
{
	/* "target" is the first (kept for readers of old output), "targets"
	 * every one requested */
	fputs("{\"target\": ", f);
	px_json_string(f, cfg->target);
	fputs(", \"targets\": [", f);
	if (cfg->proto == PROTO_HTTP) {
		for (size_t i = 0; i < cfg->nurls; i++) {
			char u[1400];
			fputs(i ? ", " : "", f);
			px_json_string(f, url_at(cfg, i, u, sizeof u));
		}
	} else {
		px_json_string(f, cfg->target);
	}
	fputc(']', f);
	fprintf(f, ", \"proto\": \"%s\", \"backend\": ",
	        cfg->proto == PROTO_HTTP ? "http" : "echo");
	px_json_string(f, t->backend);
	fprintf(f, ", \"connections\": %lu, \"active\": %lu, \"threads\": %lu"
	        ", \"processes\": %lu",
	        cfg->connections, cfg->active, cfg->threads, cfg->processes);
	fputs(", \"duration_s\": ", f);
	if (t->measured)
		fprintf(f, "%.3f", t->duration_s);
	else
		fputs("null", f);
	fprintf(f, ", \"requests\": %llu, \"rps\": ", (unsigned long long)t->requests);
	if (have_rate(t))
		fprintf(f, "%.1f", (double)t->requests / t->duration_s);
	else
		fputs("null", f);
	fprintf(f, ", \"in_flight\": %llu", (unsigned long long)t->in_flight);
	fprintf(f, ", \"bytes_sent\": %llu, \"bytes_received\": %llu",
	        (unsigned long long)t->bytes_sent, (unsigned long long)t->bytes_received);
	fputs(", \"errors\": ", f);
	json_errors(f, t->errors);
	fputs(", \"idle_connect_errors\": ", f);
	json_errors(f, t->idle_errors);
	fputs(", \"latency_us\": ", f);
	json_latency(f, cfg, t->lat);
	fputs(", \"longest_stall_us\": ", f);
	if (t->stall_seen)
		fprintf(f, "%llu", (unsigned long long)t->stall_us);
	else
		fputs("null", f);
	if (cfg->rate > 0) {
		fputs(", \"latency_uncorrected_us\": ", f);
		json_latency(f, cfg, t->lat_unc);
		fprintf(f, ", \"requested_rps\": %.1f, \"unsent\": %llu", cfg->rate,
		        (unsigned long long)t->unsent);
		fputs(", \"lateness_us\": ", f);
		json_lateness(f, t->late);
	}
	if (t->series) {
		fputs(", \"intervals\": ", f);
		json_series(f, cfg, t->series);
	}
	fputs(", \"notes\": [", f);
	struct json_notes jn = { f, 0 };
	notes(cfg, t, put_json_note, &jn);
	/* last: their keys (duration_s, requests) would come first otherwise
	 * for a reader that takes the first match */
	fputs("], \"settings\": ", f);
	json_settings(f, cfg);
	fputs(", ", f);
	px_meta_json(f, t->meta);
	fputs("}\n", f);
}

static void text_bytes(FILE *f, uint64_t b)
{
	if (b >= 10ull << 30)
		fprintf(f, "%.1f GiB", (double)b / (1 << 30));
	else if (b >= 10ull << 20)
		fprintf(f, "%.1f MiB", (double)b / (1 << 20));
	else if (b >= 10ull << 10)
		fprintf(f, "%.1f KiB", (double)b / (1 << 10));
	else
		fprintf(f, "%llu B", (unsigned long long)b);
}

static void text_latency(FILE *f, const struct config *cfg, const char *title,
                         const struct hist *h)
{
	if (!h->count) {
		fprintf(f, "%s (us): no data\n", title);
		return;
	}
	fprintf(f, "%s (us): mean %.1f  stdev %.1f  max %llu\n", title, hist_mean(h),
	        hist_stdev(h), (unsigned long long)h->max);
	fputs("   ", f);
	for (int i = 0; i < cfg->npct; i++)
		fprintf(f, " p%g %llu", cfg->pct[i],
		        (unsigned long long)hist_percentile(h, cfg->pct[i]));
	fputc('\n', f);
}

static void text_errors(FILE *f, const char *title, const uint64_t *e)
{
	uint64_t sum = 0;
	for (int k = 0; k < E_NKINDS; k++)
		sum += e[k];
	fprintf(f, "%s:", title);
	if (!sum)
		fputs(" none", f);
	for (int k = 0; k < E_NKINDS; k++)
		if (e[k])
			fprintf(f, " %s %llu", err_names[k], (unsigned long long)e[k]);
	fputc('\n', f);
}

static void text_series(FILE *f, const struct config *cfg, const struct series *s)
{
	fprintf(f, "%10s %10s %8s %10s %10s %10s\n", "start_s", "requests", "errors",
	        "p50_us", "p99_us", "max_us");
	for (size_t k = 0; k < s->niv; k++) {
		const struct interval *iv = &s->iv[k];
		fprintf(f, "%10.3f %10llu %8llu", (double)k * cfg->interval_s,
		        (unsigned long long)iv->requests, (unsigned long long)iv->errors);
		if (iv->n)
			fprintf(f, " %10llu %10llu %10llu\n",
			        (unsigned long long)interval_pct(s, iv, 50),
			        (unsigned long long)interval_pct(s, iv, 99),
			        (unsigned long long)iv->max);
		else
			fprintf(f, " %10s %10s %10s\n", "no data", "", "");
	}
}

static void put_text_note(const char *note, void *arg)
{
	fprintf((FILE *)arg, "note: %s\n", note);
}

/* Whole microseconds from nanoseconds, as every latency line prints. */
static unsigned long long ns_to_us(uint64_t ns)
{
	return (unsigned long long)((ns + 500) / 1000);
}

/* Up to this many URLs are named on the target line, then "and N more". */
#define TEXT_URLS 3

static void text_target(FILE *f, const struct config *cfg)
{
	fputs("target ", f);
	if (cfg->proto != PROTO_HTTP || cfg->nurls <= 1) {
		fputs(cfg->target, f);
		return;
	}
	size_t shown = cfg->nurls <= TEXT_URLS ? cfg->nurls : TEXT_URLS - 1;
	for (size_t i = 0; i < shown; i++) {
		char u[1400];
		fprintf(f, "%s%s", i ? ", " : "", url_at(cfg, i, u, sizeof u));
	}
	if (shown < cfg->nurls)
		fprintf(f, " (and %zu more)", cfg->nurls - shown);
}

void report_text(FILE *f, const struct config *cfg, const struct totals *t)
{
	text_target(f, cfg);
	fprintf(f, " (%s), backend %s, %lu connection%s (%lu active), %lu thread%s, ",
	        cfg->proto == PROTO_HTTP ? "http" : "echo", t->backend,
	        cfg->connections, cfg->connections == 1 ? "" : "s", cfg->active,
	        cfg->threads, cfg->threads == 1 ? "" : "s");
	if (cfg->processes > 1)
		fprintf(f, "in each of %lu processes, ", cfg->processes);
	if (cfg->rate > 0)
		fprintf(f, "open loop at %.1f req/s\n", cfg->rate);
	else
		fputs("closed loop\n", f);
	fprintf(f, "connected %lu of %lu in %.3f s before the run\n", t->connected,
	        cfg->connections, t->connect_s);
	if (t->series && !cfg->quiet)
		text_series(f, cfg, t->series);
	if (t->measured)
		fprintf(f, "requests %llu in %.3f s: ", (unsigned long long)t->requests,
		        t->duration_s);
	else
		fprintf(f, "requests %llu in no measured time (no connection was made): ",
		        (unsigned long long)t->requests);
	if (have_rate(t))
		fprintf(f, "%.1f req/s", (double)t->requests / t->duration_s);
	else
		fputs("rate no data", f);
	fputs("; sent ", f);
	text_bytes(f, t->bytes_sent);
	fputs(", received ", f);
	text_bytes(f, t->bytes_received);
	fputc('\n', f);
	fprintf(f, "in flight when the clock stopped: %llu\n", (unsigned long long)t->in_flight);
	text_latency(f, cfg, cfg->rate > 0 ? "latency from intended send" : "latency", t->lat);
	if (t->stall_seen)
		fprintf(f, "longest wait for any answer with requests outstanding: %llu us\n",
		        (unsigned long long)t->stall_us);
	else
		fputs("longest wait for any answer with requests outstanding: no data\n", f);
	if (cfg->rate > 0) {
		text_latency(f, cfg, "latency from actual send (uncorrected)", t->lat_unc);
		if (t->late->count)
			fprintf(f, "sent behind schedule (us): p50 %llu  p99 %llu  max %llu\n",
			        ns_to_us(hist_percentile(t->late, 50)),
			        ns_to_us(hist_percentile(t->late, 99)), ns_to_us(t->late->max));
		else
			fputs("sent behind schedule (us): no request sent\n", f);
		fprintf(f, "due but never sent (no free connection by the end): %llu\n",
		        (unsigned long long)t->unsent);
	}
	text_errors(f, "request errors", t->errors);
	text_errors(f, "idle connection errors", t->idle_errors);
	notes(cfg, t, put_text_note, f);
}
