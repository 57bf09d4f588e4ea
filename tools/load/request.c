/* request.c: the HTTP requests pollux-load sends, built once before the
 * run: one per URL (sent in turn), with the method, the -H headers, the
 * --body and its Content-Length, and Connection: close for
 * --new-connection. */
#include "toolconfig.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "load.h"

/* The name part of "Name: value" is a token (RFC 9110); the value has no
 * CR, LF or other control bytes but tab. */
const char *header_problem(const char *h)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	const char *colon = strchr(h, ':');
	if (!colon || colon == h)
		return "expected 'Name: value'";
	for (const char *p = h; p < colon; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr(tchar, *p)))
			return "the name must be a token (letters, digits, -)";
	for (const char *p = colon + 1; *p; p++)
		if (((unsigned char)*p < ' ' && *p != '\t') || *p == 0x7f)
			return "the value must not contain control characters";
	size_t n = (size_t)(colon - h);
	if ((n == 14 && strncasecmp(h, "Content-Length", n) == 0) ||
	    (n == 17 && strncasecmp(h, "Transfer-Encoding", n) == 0))
		return "pollux-load frames the body itself (--body)";
	return NULL;
}

static int has_header(const struct config *cfg, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < cfg->nheaders; i++)
		if (strncasecmp(cfg->headers[i], name, n) == 0 && cfg->headers[i][n] == ':')
			return 1;
	return 0;
}

int build_requests(struct config *cfg, char *err, size_t errlen)
{
	cfg->reqs = calloc(cfg->nurls, sizeof *cfg->reqs);
	cfg->req_lens = calloc(cfg->nurls, sizeof *cfg->req_lens);
	if (!cfg->reqs || !cfg->req_lens)
		goto oom;
	size_t extra = 0;
	for (size_t i = 0; i < cfg->nheaders; i++)
		extra += strlen(cfg->headers[i]) + 2;
	int host = has_header(cfg, "Host"), conn = has_header(cfg, "Connection");
	for (size_t u = 0; u < cfg->nurls; u++) {
		const struct url *url = &cfg->urls[u];
		size_t cap = strlen(cfg->method) + strlen(url->path) + strlen(url->host_hdr) +
		             extra + cfg->body_len + 128;
		char *r = malloc(cap);
		if (!r)
			goto oom;
		cfg->reqs[u] = r;
		size_t n = (size_t)snprintf(r, cap, "%s %s HTTP/1.1\r\n", cfg->method, url->path);
		if (!host)
			n += (size_t)snprintf(r + n, cap - n, "Host: %s\r\n", url->host_hdr);
		for (size_t i = 0; i < cfg->nheaders; i++)
			n += (size_t)snprintf(r + n, cap - n, "%s\r\n", cfg->headers[i]);
		if (cfg->body_file)
			n += (size_t)snprintf(r + n, cap - n, "Content-Length: %zu\r\n", cfg->body_len);
		if (cfg->new_conn && !conn)
			n += (size_t)snprintf(r + n, cap - n, "Connection: close\r\n");
		n += (size_t)snprintf(r + n, cap - n, "\r\n");
		if (cfg->body_len)
			memcpy(r + n, cfg->body, cfg->body_len);
		cfg->req_lens[u] = n + cfg->body_len;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	free_requests(cfg);
	return -1;
}

void free_requests(struct config *cfg)
{
	for (size_t u = 0; cfg->reqs && u < cfg->nurls; u++)
		free(cfg->reqs[u]);
	free(cfg->reqs);
	free(cfg->req_lens);
	cfg->reqs = NULL;
	cfg->req_lens = NULL;
}
