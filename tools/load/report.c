/* report.c: error kinds and the two outputs of pollux-load: text for people
 * and one JSON object whose keys are documented in pollux-load(1). */
#include <config.h>

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

static void json_latency(FILE *f, const struct config *cfg, const struct hist *h)
{
	fprintf(f, "{\"mean\": %.1f, \"stdev\": %.1f", hist_mean(h), hist_stdev(h));
	for (size_t i = 0; i < N_STD_PCT; i++) {
		char k[40];
		pct_key(std_pct[i], k, sizeof k);
		fprintf(f, ", \"%s\": %llu", k,
		        (unsigned long long)hist_percentile(h, std_pct[i]));
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
		fprintf(f, ", \"%s\": %llu", k,
		        (unsigned long long)hist_percentile(h, cfg->pct[i]));
	}
	fprintf(f, ", \"max\": %llu}", (unsigned long long)(h->count ? h->max : 0));
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

void report_json(FILE *f, const struct config *cfg, const struct totals *t)
{
	fputs("{\"target\": ", f);
	px_json_string(f, cfg->target);
	fprintf(f, ", \"proto\": \"%s\", \"backend\": ",
	        cfg->proto == PROTO_HTTP ? "http" : "echo");
	px_json_string(f, t->backend);
	fprintf(f, ", \"connections\": %lu, \"active\": %lu, \"threads\": %lu"
	        ", \"processes\": %lu",
	        cfg->connections, cfg->active, cfg->threads, cfg->processes);
	fprintf(f, ", \"duration_s\": %.3f, \"requests\": %llu, \"rps\": %.1f",
	        t->duration_s, (unsigned long long)t->requests,
	        t->duration_s > 0 ? (double)t->requests / t->duration_s : 0.0);
	fprintf(f, ", \"bytes_sent\": %llu, \"bytes_received\": %llu",
	        (unsigned long long)t->bytes_sent, (unsigned long long)t->bytes_received);
	fputs(", \"errors\": ", f);
	json_errors(f, t->errors);
	fputs(", \"idle_connect_errors\": ", f);
	json_errors(f, t->idle_errors);
	fputs(", \"latency_us\": ", f);
	json_latency(f, cfg, t->lat);
	if (cfg->rate > 0) {
		fputs(", \"latency_uncorrected_us\": ", f);
		json_latency(f, cfg, t->lat_unc);
		fprintf(f, ", \"requested_rps\": %.1f, \"unsent\": %llu", cfg->rate,
		        (unsigned long long)t->unsent);
		fputs(", \"lateness_us\": ", f);
		json_lateness(f, t->late);
	}
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
	fprintf(f, "%s (us): mean %.1f  stdev %.1f  max %llu\n", title, hist_mean(h),
	        hist_stdev(h), (unsigned long long)(h->count ? h->max : 0));
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

void report_text(FILE *f, const struct config *cfg, const struct totals *t)
{
	fprintf(f, "target %s (%s), backend %s, %lu connections (%lu active), %lu thread%s, ",
	        cfg->target, cfg->proto == PROTO_HTTP ? "http" : "echo", t->backend,
	        cfg->connections, cfg->active, cfg->threads, cfg->threads == 1 ? "" : "s");
	if (cfg->processes > 1)
		fprintf(f, "in each of %lu processes, ", cfg->processes);
	if (cfg->rate > 0)
		fprintf(f, "open loop at %.1f req/s\n", cfg->rate);
	else
		fputs("closed loop\n", f);
	fprintf(f, "connected %lu of %lu in %.3f s before the run\n", t->connected,
	        cfg->connections, t->connect_s);
	fprintf(f, "requests %llu in %.3f s: %.1f req/s; sent ",
	        (unsigned long long)t->requests, t->duration_s,
	        t->duration_s > 0 ? (double)t->requests / t->duration_s : 0.0);
	text_bytes(f, t->bytes_sent);
	fputs(", received ", f);
	text_bytes(f, t->bytes_received);
	fputc('\n', f);
	text_latency(f, cfg, cfg->rate > 0 ? "latency from intended send" : "latency", t->lat);
	if (cfg->rate > 0) {
		text_latency(f, cfg, "latency from actual send (uncorrected)", t->lat_unc);
		if (t->late->count)
			fprintf(f, "sent behind schedule (us): p50 %.3f  p99 %.3f  max %.3f\n",
			        (double)hist_percentile(t->late, 50) / 1e3,
			        (double)hist_percentile(t->late, 99) / 1e3,
			        (double)t->late->max / 1e3);
		else
			fputs("sent behind schedule (us): no request sent\n", f);
		fprintf(f, "due but never sent (no free connection by the end): %llu\n",
		        (unsigned long long)t->unsent);
	}
	text_errors(f, "request errors", t->errors);
	text_errors(f, "idle connection errors", t->idle_errors);
}
