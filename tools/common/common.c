/* common.c: address parsing and formatting, descriptor limits, clocks and
 * strict number parsing shared by the pollux tools. */
#include "toolconfig.h"
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <time.h>

int px_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len,
                  char *err, size_t errlen)
{
	memset(ss, 0, sizeof *ss);
	if (strncmp(s, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)ss;
		const char *path = s + 5;
		size_t n = strlen(path);
		if (n == 0 || n >= sizeof sun->sun_path) {
			snprintf(err, errlen, "'%s': unix socket path must be 1 to %zu bytes",
			         s, sizeof sun->sun_path - 1);
			return -1;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, path, n + 1);
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		return 0;
	}

	char host[256];
	const char *port;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':') {
			snprintf(err, errlen, "'%s': expected [IPV6]:PORT", s);
			return -1;
		}
		size_t n = (size_t)(close - s - 1);
		if (n == 0 || n >= sizeof host) {
			snprintf(err, errlen, "'%s': bad IPv6 address", s);
			return -1;
		}
		memcpy(host, s + 1, n);
		host[n] = '\0';
		port = close + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon || colon == s || strchr(s, ':') != colon) {
			snprintf(err, errlen, "'%s': expected HOST:PORT, [IPV6]:PORT or unix:PATH", s);
			return -1;
		}
		size_t n = (size_t)(colon - s);
		if (n >= sizeof host) {
			snprintf(err, errlen, "'%s': host name too long", s);
			return -1;
		}
		memcpy(host, s, n);
		host[n] = '\0';
		port = colon + 1;
	}
	unsigned long pnum;
	if (px_parse_ulong(port, 0, 65535, &pnum) < 0) {
		snprintf(err, errlen, "'%s': port must be a number from 0 to 65535", s);
		return -1;
	}

	struct addrinfo hints = { 0 }, *res = NULL;
	hints.ai_family = s[0] == '[' ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (s[0] == '[' ? AI_NUMERICHOST : 0);
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "'%s': cannot resolve host '%s': %s", s, host,
		         rc ? gai_strerror(rc) : "no address");
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

void px_format_addr(const struct sockaddr *sa, socklen_t len, char *buf, size_t n)
{
	char host[INET6_ADDRSTRLEN];
	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		snprintf(buf, n, "%s:%u", host, (unsigned)ntohs(in->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(buf, n, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
		break;
	}
	case AF_UNIX: {
		const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
		size_t off = offsetof(struct sockaddr_un, sun_path);
		int plen = len > off ? (int)strnlen(un->sun_path, len - off) : 0;
		snprintf(buf, n, "unix:%.*s", plen, un->sun_path);
		break;
	}
	default:
		snprintf(buf, n, "(family %d)", sa->sa_family);
	}
}

long px_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		/* Some systems refuse RLIM_INFINITY as a soft limit; keep the old one then. */
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -1;
	}
	return rl.rlim_cur == RLIM_INFINITY ? (long)(1L << 30) : (long)rl.rlim_cur;
}

uint64_t px_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t px_now_us(void)
{
	return px_now_ns() / 1000u;
}

int px_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	return (fl & O_NONBLOCK) ? 0 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int px_set_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	if (fl < 0)
		return -1;
	return (fl & FD_CLOEXEC) ? 0 : fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

int px_parse_ulong(const char *s, unsigned long min, unsigned long max,
                   unsigned long *out)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int px_parse_double(const char *s, double max, double *out)
{
	if (!s || !((*s >= '0' && *s <= '9') || *s == '.'))
		return -1;
	errno = 0;
	char *end;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 if invalid. */
static int utf8_len(const unsigned char *p)
{
	int n;
	unsigned min;
	unsigned c = p[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	unsigned cp = c & (0x3f >> (n - 1));
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void px_json_string(FILE *f, const char *s)
{
	putc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		int n = utf8_len(p);
		if (n == 0) {
			/* Not UTF-8 (a file name can be any bytes): keep the
			 * JSON valid by reading the byte as Latin-1. */
			fprintf(f, "\\u%04x", *p++);
		} else if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p++);
		} else if (*p < 0x20) {
			fprintf(f, "\\u%04x", *p++);
		} else {
			fwrite(p, 1, (size_t)n, f);
			p += n;
		}
	}
	putc('"', f);
}
