/* main.c: pollux-load's command line, limits and threads: parses the
 * options, splits the work over the threads, waits, merges and reports. */
#include "toolconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "load.h"

#define PROG "pollux-load"
#define MAX_SOURCES 65536

static void usage(FILE *f)
{
	fprintf(f,
	"usage: " PROG " [OPTIONS] TARGET | URL...\n"
	"Open many client connections to TARGET and measure requests and latency.\n"
	"TARGET: HOST:PORT, [IPV6]:PORT, unix:PATH or http://HOST[:PORT]/PATH\n"
	"(several URLs of one server are requested in turn)\n"
	"  --proto echo|http        protocol (default echo; http for a URL)\n"
	"  --size BYTES             echo message size (default 64)\n"
	"  -c, --connections N      connections in all (default 10)\n"
	"  -a, --active A           of them, how many send requests (default all)\n"
	"  -d, --duration SECONDS   measure this long (default 10)\n"
	"  -n, --requests COUNT     or make this many requests\n"
	"      --warmup SECONDS     run this long first, unmeasured (default 0)\n"
	"      --timeout SECONDS    per request and per connect (default 5)\n"
	"  -R, --rate REQ_PER_S     open loop at this total rate (default closed loop)\n"
	"  -t, --threads T          threads, each with its own poller (default 1)\n"
	"  -P, --processes N        N processes, each T threads and its share (default 1)\n"
	"      --source ADDR[-ADDR] rotate over these local source addresses\n"
	"      --connect-rate N     open at most N connections per second\n"
	"  -m, --method METHOD      HTTP method (default GET)\n"
	"  -H, --header 'N: V'      add this HTTP header (repeatable)\n"
	"      --body FILE          send FILE's bytes as the body, with Content-Length\n"
	"      --urls FILE          request the URLs in FILE (one a line) in turn\n"
	"      --new-connection     one request per connection (Connection: close)\n"
	"  -b, --backend NAME       poller backend (%s)\n"
	"      --json               print one JSON object on stdout\n"
	"      --hgrm FILE          write the latency distribution in HdrHistogram's\n"
	"                           percentile format (milliseconds) to FILE\n"
	"      --interval SECONDS   a time series: requests, errors, p50/p99/max per interval\n"
	"      --percentiles LIST   latency percentiles to print (default 50,90,99,99.9,99.99)\n"
	"  -q, --quiet              no progress line and no per-interval lines\n"
	"  -h, --help               this text\n"
	"  -V, --version            print the version\n", "default: the library's choice");
}

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Bad usage: one line naming the problem, exit 2. */
static void die_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, PROG ": ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (see " PROG " --help)\n");
	va_end(ap);
	exit(2);
}

/* http://HOST[:PORT][/PATH] into u (Host header, path) and the address. */
static void parse_url(struct url *u, struct sockaddr_storage *addr, socklen_t *addrlen,
                      const char *url)
{
	const char *p = url + 7;
	const char *slash = strchr(p, '/');
	size_t hl = slash ? (size_t)(slash - p) : strlen(p);
	char hostport[300];
	if (hl == 0 || hl >= sizeof hostport - 4)
		die_usage("'%s': expected http://HOST[:PORT]/PATH", url);
	memcpy(hostport, p, hl);
	hostport[hl] = '\0';
	snprintf(u->host_hdr, sizeof u->host_hdr, "%s", hostport);
	const char *close = strrchr(hostport, ']');
	const char *colon = strrchr(hostport, ':');
	if (!colon || (close && colon < close))
		strcat(hostport, ":80");
	const char *path = slash ? slash : "/";
	if (strlen(path) >= sizeof u->path)
		die_usage("'%s': path too long", url);
	for (const char *q = path; *q; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f)
			die_usage("'%s': the path must not contain spaces or control characters", url);
	snprintf(u->path, sizeof u->path, "%s", path);
	char err[256];
	if (px_parse_addr(hostport, addr, addrlen, err, sizeof err) < 0)
		die_usage("%s", err);
}

#define MAX_URLS 100000

/* One more URL to request in turn: on the same server as the others. */
static void add_url(struct config *cfg, const char *url, const char *from)
{
	if (strncmp(url, "http://", 7) != 0)
		die_usage("%s'%s': expected http://HOST[:PORT]/PATH", from, url);
	if (cfg->nurls == MAX_URLS)
		die_usage("%smore than %d URLs", from, MAX_URLS);
	struct url *u = realloc(cfg->urls, (cfg->nurls + 1) * sizeof *u);
	if (!u) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(1);
	}
	cfg->urls = u;
	struct sockaddr_storage a;
	socklen_t al;
	parse_url(&u[cfg->nurls], &a, &al, url);
	if (cfg->nurls == 0) {
		cfg->addr = a;
		cfg->addrlen = al;
	} else if (al != cfg->addrlen || memcmp(&a, &cfg->addr, al) != 0) {
		die_usage("%s'%s': every URL must name the same server as '%s' "
		          "(one address and port)", from, url, cfg->target);
	}
	cfg->nurls++;
}

/* --urls FILE: one URL a line; blank lines and lines from '#' skipped. */
static void read_urls(struct config *cfg, const char *file)
{
	FILE *f = fopen(file, "r");
	if (!f)
		die_usage("--urls '%s': %s", file, strerror(errno));
	char line[1400], from[1300];
	unsigned long no = 0;
	size_t before = cfg->nurls;
	while (fgets(line, sizeof line, f)) {
		no++;
		size_t n = strlen(line);
		if (n == sizeof line - 1 && line[n - 1] != '\n')
			die_usage("--urls '%s' line %lu: too long", file, no);
		while (n && isspace((unsigned char)line[n - 1]))
			line[--n] = '\0';
		const char *p = line;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			continue;
		snprintf(from, sizeof from, "--urls '%.1000s' line %lu: ", file, no);
		if (!cfg->target[0])
			snprintf(cfg->target, sizeof cfg->target, "%s", p);
		add_url(cfg, p, from);
	}
	int bad = ferror(f);
	fclose(f);
	if (bad)
		die_usage("--urls '%s': cannot read it", file);
	if (cfg->nurls == before)
		die_usage("--urls '%s': no URL in it", file);
}

#define MAX_BODY (64ul << 20)

/* --body FILE: its bytes, read once. */
static void read_body(struct config *cfg, const char *file)
{
	FILE *f = fopen(file, "rb");
	if (!f)
		die_usage("--body '%s': %s", file, strerror(errno));
	size_t cap = 4096;
	char *b = malloc(cap);
	size_t n = 0, k;
	while (b && (k = fread(b + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n > MAX_BODY)
			die_usage("--body '%s': more than %lu bytes", file, MAX_BODY);
		if (n == cap) {
			char *q = realloc(b, cap * 2);
			if (!q) {
				free(b);
				b = NULL;
				break;
			}
			b = q;
			cap *= 2;
		}
	}
	if (!b) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(1);
	}
	if (ferror(f))
		die_usage("--body '%s': cannot read it", file);
	fclose(f);
	cfg->body = b;
	cfg->body_len = n;
	cfg->body_file = file;
}

static int parse_ip(const char *s, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, s, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

/* The address bytes as a big-endian number's bytes: v4 4, v6 16. */
static unsigned char *ip_bytes(struct sockaddr_storage *ss, size_t *n)
{
	if (ss->ss_family == AF_INET) {
		*n = 4;
		return (unsigned char *)&((struct sockaddr_in *)ss)->sin_addr;
	}
	*n = 16;
	return (unsigned char *)&((struct sockaddr_in6 *)ss)->sin6_addr;
}

/* --source A or A-B: every address from A to B inclusive. */
static void parse_sources(struct config *cfg, const char *arg)
{
	char a[INET6_ADDRSTRLEN + 1], b[INET6_ADDRSTRLEN + 1];
	const char *dash = strchr(arg, '-');
	size_t al = dash ? (size_t)(dash - arg) : strlen(arg);
	if (al == 0 || al >= sizeof a || (dash && strlen(dash + 1) >= sizeof b))
		die_usage("--source '%s': expected ADDR or ADDR-ADDR", arg);
	memcpy(a, arg, al);
	a[al] = '\0';
	snprintf(b, sizeof b, "%s", dash ? dash + 1 : a);
	struct sockaddr_storage lo, hi;
	if (parse_ip(a, &lo) < 0 || parse_ip(b, &hi) < 0)
		die_usage("--source '%s': not a numeric IPv4 or IPv6 address range", arg);
	if (lo.ss_family != hi.ss_family)
		die_usage("--source '%s': both ends must be the same family", arg);
	size_t n;
	unsigned char *l = ip_bytes(&lo, &n), *h = ip_bytes(&hi, &n);
	if (memcmp(l, h, n) > 0)
		die_usage("--source '%s': the first address is above the last", arg);
	cfg->sources = calloc(MAX_SOURCES, sizeof *cfg->sources);
	if (!cfg->sources) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(1);
	}
	struct sockaddr_storage cur = lo;
	for (;;) {
		if (cfg->nsources == MAX_SOURCES)
			die_usage("--source '%s': more than 65536 addresses", arg);
		cfg->sources[cfg->nsources++] = cur;
		size_t k;
		unsigned char *c = ip_bytes(&cur, &k);
		if (memcmp(c, h, n) == 0)
			break;
		for (size_t i = n; i-- > 0;)
			if (++c[i] != 0)
				break;
	}
}

/* An address that is not this machine's fails every connect with
 * EADDRNOTAVAIL, which would read as "ports exhausted": try the ends of the
 * range now (a range lies on one interface, or in 127.0.0.0/8). */
static void check_source(const char *arg, const struct sockaddr_storage *ss)
{
	int fd = socket(ss->ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return; /* out of descriptors or the like: the run will tell */
#if HAVE_DECL_IP_BIND_ADDRESS_NO_PORT
	int one = 1; /* no port taken: only the address is checked */
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
	socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
	                                         : sizeof(struct sockaddr_in6);
	int rc = bind(fd, (const struct sockaddr *)ss, len);
	int e = errno;
	close(fd);
	if (rc == 0 || e != EADDRNOTAVAIL)
		return;
	char host[INET6_ADDRSTRLEN] = "?";
	inet_ntop(ss->ss_family, ss->ss_family == AF_INET
	          ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
	          : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr,
	          host, sizeof host);
	die_usage("--source '%s': %s is not an address of this machine "
	          "(on Linux all of 127.0.0.0/8 is)", arg, host);
}

static void parse_percentiles(struct config *cfg, const char *arg)
{
	char buf[512];
	if (strlen(arg) >= sizeof buf)
		die_usage("--percentiles '%s': list too long", arg);
	strcpy(buf, arg);
	cfg->npct = 0;
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		double v;
		if (cfg->npct == MAX_PCT)
			die_usage("--percentiles '%s': at most 32 values", arg);
		if (px_parse_double(t, 100.0, &v) < 0 || v <= 0)
			die_usage("--percentiles '%s': each value must be above 0 and at most 100", arg);
		/* The JSON key drops the point: 9.99 and 99.9 would both be
		 * "p999", and one would silently stand for the other. */
		char key[40], other[40];
		pct_key(v, key, sizeof key);
		for (int i = 0; i < N_STD_PCT + cfg->npct; i++) {
			double w = i < N_STD_PCT ? std_pct[i] : cfg->pct[i - N_STD_PCT];
			pct_key(w, other, sizeof other);
			if (w != v && strcmp(key, other) == 0)
				die_usage("--percentiles: %g and %g would both be reported as "
				          "\"%s\"; give only one", v, w, key);
		}
		cfg->pct[cfg->npct++] = v;
	}
	if (cfg->npct == 0)
		die_usage("--percentiles '%s': give at least one value", arg);
}

static int backend_known(const char *name)
{
	for (const char *const *b = pollux_backends(); b && *b; b++)
		if (strcmp(*b, name) == 0)
			return 1;
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&g_run.stop, 1);
}

/* getopt's own message would be a second line naming the program by its
 * path (libtool's .libs one, even); say it once, our way. */
static void die_bad_option(char **argv)
{
	const char *word = argv[optind - 1];
	if (strncmp(word, "--", 2) != 0)
		die_usage("unknown option '-%c'",
		          optopt > 0 && optopt < 128 && isprint(optopt) ? optopt : '?');
	if (optopt)
		die_usage("option '%s' takes no value", word);
	die_usage("unknown or ambiguous option '%s'", word);
}

static void parse_args(struct config *cfg, int argc, char **argv)
{
	enum { O_PROTO = 256, O_SIZE, O_WARMUP, O_TIMEOUT, O_SOURCE, O_CRATE,
	       O_JSON, O_PCT, O_BODY, O_URLS, O_NEWCONN, O_HGRM, O_INTERVAL };
	static const struct option opts[] = {
		{ "proto", required_argument, NULL, O_PROTO },
		{ "size", required_argument, NULL, O_SIZE },
		{ "connections", required_argument, NULL, 'c' },
		{ "active", required_argument, NULL, 'a' },
		{ "duration", required_argument, NULL, 'd' },
		{ "requests", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "rate", required_argument, NULL, 'R' },
		{ "threads", required_argument, NULL, 't' },
		{ "processes", required_argument, NULL, 'P' },
		{ "source", required_argument, NULL, O_SOURCE },
		{ "connect-rate", required_argument, NULL, O_CRATE },
		{ "backend", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, O_JSON },
		{ "percentiles", required_argument, NULL, O_PCT },
		{ "method", required_argument, NULL, 'm' },
		{ "header", required_argument, NULL, 'H' },
		{ "body", required_argument, NULL, O_BODY },
		{ "urls", required_argument, NULL, O_URLS },
		{ "new-connection", no_argument, NULL, O_NEWCONN },
		{ "hgrm", required_argument, NULL, O_HGRM },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int have_active = 0, have_duration = 0, have_proto = 0, have_size = 0;
	const char *source = NULL, *urls_file = NULL, *body_file = NULL;
	int http_only = 0; /* an HTTP option was given */
	unsigned long v;
	int o;
	opterr = 0;
	cfg->headers = calloc((size_t)argc, sizeof *cfg->headers);
	if (!cfg->headers) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(1);
	}
	while ((o = getopt_long(argc, argv, ":c:a:d:n:R:t:P:b:m:H:qhV", opts, NULL)) != -1) {
		switch (o) {
		case O_PROTO:
			if (strcmp(optarg, "echo") == 0)
				cfg->proto = PROTO_ECHO;
			else if (strcmp(optarg, "http") == 0)
				cfg->proto = PROTO_HTTP;
			else
				die_usage("--proto '%s': expected echo or http", optarg);
			have_proto = 1;
			break;
		case O_SIZE:
			if (px_parse_ulong(optarg, 1, 64ul << 20, &v) < 0)
				die_usage("--size '%s': expected 1 to 67108864 bytes", optarg);
			cfg->size = v;
			have_size = 1;
			break;
		case 'c':
			if (px_parse_ulong(optarg, 1, 10000000, &cfg->connections) < 0)
				die_usage("--connections '%s': expected a number from 1 to 10000000", optarg);
			break;
		case 'a':
			if (px_parse_ulong(optarg, 0, 10000000, &cfg->active) < 0)
				die_usage("--active '%s': expected a number from 0", optarg);
			have_active = 1;
			break;
		case 'd':
			if (px_parse_double(optarg, 1e7, &cfg->duration_s) < 0 || cfg->duration_s <= 0)
				die_usage("--duration '%s': expected seconds above 0", optarg);
			have_duration = 1;
			break;
		case 'n':
			if (px_parse_ulong(optarg, 1, (unsigned long)1e15, &cfg->requests) < 0)
				die_usage("--requests '%s': expected a count from 1", optarg);
			break;
		case O_WARMUP:
			if (px_parse_double(optarg, 1e7, &cfg->warmup_s) < 0)
				die_usage("--warmup '%s': expected seconds, 0 or more", optarg);
			break;
		case O_TIMEOUT:
			if (px_parse_double(optarg, 1e6, &cfg->timeout_s) < 0 || cfg->timeout_s < 0.001)
				die_usage("--timeout '%s': expected seconds, at least 0.001", optarg);
			break;
		case 'R':
			if (px_parse_double(optarg, 1e9, &cfg->rate) < 0 || cfg->rate < 0.001)
				die_usage("--rate '%s': expected 0.001 to 1e9 requests per second", optarg);
			break;
		case 't':
			if (px_parse_ulong(optarg, 1, 1024, &cfg->threads) < 0)
				die_usage("--threads '%s': expected 1 to 1024", optarg);
			break;
		case 'P':
			if (px_parse_ulong(optarg, 1, 1024, &cfg->processes) < 0)
				die_usage("--processes '%s': expected 1 to 1024", optarg);
			break;
		case O_SOURCE:
			source = optarg;
			break;
		case O_CRATE:
			if (px_parse_double(optarg, 1e9, &cfg->connect_rate) < 0 ||
			    cfg->connect_rate < 0.001)
				die_usage("--connect-rate '%s': expected 0.001 to 1e9 connections "
				          "per second", optarg);
			break;
		case 'b':
			cfg->backend = optarg;
			break;
		case O_JSON:
			cfg->json = 1;
			break;
		case O_PCT:
			parse_percentiles(cfg, optarg);
			break;
		case 'm':
			for (const char *p = optarg; *p; p++)
				if (!isalpha((unsigned char)*p) && *p != '-' && *p != '_')
					die_usage("--method '%s': expected a method name (GET, POST ...)",
					          optarg);
			if (!*optarg || strlen(optarg) > 32)
				die_usage("--method '%s': expected a method name (GET, POST ...)", optarg);
			/* its answer has headers and no body: the parser would wait
			 * for the Content-Length it announces */
			if (strcmp(optarg, "HEAD") == 0)
				die_usage("%s", "--method HEAD is not supported (its answers "
				          "announce a body they do not send)");
			cfg->method = optarg;
			http_only = 1;
			break;
		case 'H': {
			const char *why = header_problem(optarg);
			if (why)
				die_usage("--header '%s': %s", optarg, why);
			cfg->headers[cfg->nheaders++] = optarg;
			http_only = 1;
			break;
		}
		case O_BODY:
			body_file = optarg;
			http_only = 1;
			break;
		case O_URLS:
			urls_file = optarg;
			break;
		case O_NEWCONN:
			cfg->new_conn = 1;
			break;
		case O_HGRM:
			cfg->hgrm = optarg;
			break;
		case O_INTERVAL:
			if (px_parse_double(optarg, 1e7, &cfg->interval_s) < 0 ||
			    cfg->interval_s < 0.001)
				die_usage("--interval '%s': expected seconds, at least 0.001", optarg);
			break;
		case 'q':
			cfg->quiet = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf(PROG " (pollux) %s\n", pollux_version());
			exit(0);
		case ':':
			die_usage("option '%s' needs a value", argv[optind - 1]);
		default:
			die_bad_option(argv);
		}
	}
	if (optind >= argc && !urls_file)
		die_usage("%s", "give one TARGET");
	const char *t = optind < argc ? argv[optind] : "";
	if (strlen(t) >= sizeof cfg->target)
		die_usage("%s", "TARGET too long");
	strcpy(cfg->target, t);
	if (urls_file || strncmp(t, "http://", 7) == 0) {
		if (have_proto && cfg->proto != PROTO_HTTP)
			die_usage("'%s': a URL needs --proto http", t[0] ? t : urls_file);
		cfg->proto = PROTO_HTTP;
		for (int i = optind; i < argc; i++)
			add_url(cfg, argv[i], "");
		if (urls_file)
			read_urls(cfg, urls_file);
	} else {
		if (optind != argc - 1)
			die_usage("%s", "give only one TARGET (several are for http:// URLs)");
		char err[256];
		if (strstr(t, "://"))
			die_usage("'%s': only http:// URLs are understood", t);
		if (px_parse_addr(t, &cfg->addr, &cfg->addrlen, err, sizeof err) < 0)
			die_usage("%s", err);
		cfg->urls = calloc(1, sizeof *cfg->urls);
		if (!cfg->urls) {
			fprintf(stderr, PROG ": out of memory\n");
			exit(1);
		}
		snprintf(cfg->urls[0].host_hdr, sizeof cfg->urls[0].host_hdr, "%s", t);
		strcpy(cfg->urls[0].path, "/");
		cfg->nurls = 1;
	}
	if (http_only && cfg->proto != PROTO_HTTP)
		die_usage("%s", "--method, --header and --body apply to --proto http only");
	if (body_file)
		read_body(cfg, body_file);
	if (cfg->addr.ss_family != AF_UNIX) {
		unsigned port = ntohs(cfg->addr.ss_family == AF_INET
		                      ? ((struct sockaddr_in *)&cfg->addr)->sin_port
		                      : ((struct sockaddr_in6 *)&cfg->addr)->sin6_port);
		if (port == 0)
			die_usage("'%s': the port must not be 0", cfg->target);
	}
	if (have_size && cfg->proto == PROTO_HTTP)
		die_usage("%s", "--size applies to --proto echo only");
	if (have_duration && cfg->requests)
		die_usage("%s", "give --duration or --requests, not both");
	if (!have_active)
		cfg->active = cfg->connections;
	if (cfg->active > cfg->connections)
		die_usage("%s", "--active must not exceed --connections");
	if (cfg->requests && cfg->active == 0)
		die_usage("%s", "--requests needs at least one active connection");
	if (cfg->processes > cfg->connections)
		die_usage("%s", "--processes must not exceed --connections");
	if (cfg->threads > cfg->connections / cfg->processes)
		die_usage("%s", cfg->processes > 1
		          ? "--threads times --processes must not exceed --connections"
		          : "--threads must not exceed --connections");
	/* -n's count is split over the active connections; a process with
	 * none would have no share and run by the clock instead. */
	if (cfg->requests && cfg->active < cfg->processes)
		die_usage("%s", "--requests with --processes needs at least one "
		          "active connection per process");
	if (cfg->rate > 0 && cfg->active == 0)
		die_usage("%s", "--rate needs at least one active connection");
	if (cfg->backend && !backend_known(cfg->backend)) {
		/* The library tells a name it does not know (EINVAL) from one
		 * it knows but was not built with or cannot use here. */
		pollux_t *probe = pollux_new(cfg->backend);
		int e = errno;
		pollux_free(probe);
		if (e == EINVAL)
			fprintf(stderr, PROG ": unknown backend '%s'; this build has:", cfg->backend);
		else if (e == ENOSYS)
			fprintf(stderr, PROG ": backend '%s' is not built into this library "
			        "or not usable on this system; this build has:", cfg->backend);
		else
			fprintf(stderr, PROG ": backend '%s' cannot be created here (%s); this "
			        "build has:", cfg->backend, strerror(e));
		for (const char *const *b = pollux_backends(); b && *b; b++)
			fprintf(stderr, " %s", *b);
		fprintf(stderr, "\n");
		exit(2);
	}
	if (source) {
		if (cfg->addr.ss_family == AF_UNIX)
			die_usage("%s", "--source applies to TCP targets only");
		parse_sources(cfg, source);
		if (cfg->sources[0].ss_family != cfg->addr.ss_family)
			die_usage("--source '%s': not the target's address family", source);
		check_source(source, &cfg->sources[0]);
		check_source(source, &cfg->sources[cfg->nsources - 1]);
	}
}

/* The most connections one process holds: each child raises its own limit. */
static unsigned long per_process(const struct config *cfg)
{
	return (cfg->connections + cfg->processes - 1) / cfg->processes;
}

static int nofile_ok(const struct config *cfg)
{
	/* one descriptor per connection, one poller per thread, stdio, slack;
	 * with --processes, per process (the parent holds two pipes each) */
	unsigned long need = per_process(cfg) + 2 * cfg->threads + 16;
	long lim = px_raise_nofile();
	if (lim >= 0 && (unsigned long)lim >= need)
		return 1;
	fprintf(stderr, PROG ": %lu connections need about %lu file descriptors but "
	        "RLIMIT_NOFILE allows %ld even raised to the hard limit; raise the hard "
	        "limit (ulimit -Hn as root, limits.conf, systemd LimitNOFILE) or split "
	        "the connections over several processes (--processes %lu)\n",
	        per_process(cfg), need, lim,
	        lim > 2 * (long)cfg->threads + 16
	        ? (cfg->connections + (unsigned long)lim - 2 * cfg->threads - 17) /
	          ((unsigned long)lim - 2 * cfg->threads - 16)
	        : cfg->processes + 1);
	return 0;
}

/* A select that stops at FD_SETSIZE (where the kernel does) cannot take
 * more: say so before connecting rather than fail on the first fd past it. */
static int backend_fits(const struct config *cfg)
{
	pollux_t *p = pollux_new(cfg->backend);
	if (!p)
		return 1;	/* the workers report why it cannot be created */
	int capped = !(pollux_features(p) & POLLUX_FEAT_NOLIMIT);
	const char *name = pollux_backend(p);
	unsigned long need = per_process(cfg) + 2 * cfg->threads + 16;
	if (capped && need > FD_SETSIZE) {
		fprintf(stderr, PROG ": the %s backend here takes descriptors below "
		        "FD_SETSIZE (%d) only, and %lu connections need about %lu; use "
		        "at most %lu connections or another backend (-b poll)\n",
		        name, FD_SETSIZE, per_process(cfg), need,
		        (unsigned long)FD_SETSIZE - 2 * cfg->threads - 16);
		pollux_free(p);
		return 0;
	}
	pollux_free(p);
	return 1;
}

/* Splits total over the threads in proportion to weight (remainder spread). */
unsigned long load_share(unsigned long total, unsigned long wsum,
                         unsigned long before, unsigned long mine)
{
	if (wsum == 0)
		return 0;
	/* floor(total * x / wsum) without the product: -n goes to 1e15 and
	 * connections to 1e7, whose product overflows 64 bits. */
	unsigned long long q = total / wsum, r = total % wsum;
	unsigned long long a = q * before + r * before / wsum;
	unsigned long long b = q * (before + mine) + r * (before + mine) / wsum;
	return (unsigned long)(b - a);
}

static void progress(const struct config *cfg, struct worker *w, uint64_t t0,
                     uint64_t *last_req, uint64_t *last_ns)
{
	unsigned long open = 0, req = 0, err = 0;
	for (unsigned long i = 0; i < cfg->threads; i++) {
		open += atomic_load_explicit(&w[i].live_open, memory_order_relaxed);
		req += atomic_load_explicit(&w[i].live_requests, memory_order_relaxed);
		err += atomic_load_explicit(&w[i].live_errors, memory_order_relaxed);
	}
	uint64_t now = px_now_ns();
	double rps = now > *last_ns ? (double)(req - *last_req) * 1e9 / (double)(now - *last_ns) : 0;
	fprintf(stderr, "\r%s: %.0fs  open %lu/%lu  %.0f req/s  requests %lu  errors %lu\033[K",
	        PROG, (double)(now - t0) / 1e9, open, cfg->connections, rps, req, err);
	*last_req = req;
	*last_ns = now;
}

int run_process(const struct config *cfgp, struct presult *r, struct hist *lat,
                struct hist *lat_unc, struct hist *late, struct series *ser)
{
	memset(r, 0, sizeof *r);
	struct worker *w = calloc(cfgp->threads, sizeof *w);
	if (!w) {
		fprintf(stderr, PROG ": out of memory\n");
		return -1;
	}
	pthread_barrier_init(&g_run.barrier, NULL, (unsigned)cfgp->threads);
	atomic_store(&g_run.undone, (int)cfgp->threads);
	unsigned long cbefore = 0, abefore = 0;
	int rc = -1;
	for (unsigned long i = 0; i < cfgp->threads; i++) {
		struct worker *x = &w[i];
		x->id = (int)i;
		x->cfg = cfgp;
		x->nconn = load_share(cfgp->connections, cfgp->threads, i, 1);
		x->nactive = load_share(cfgp->active, cfgp->threads, i, 1);
		x->first_index = cbefore;
		x->quota = load_share(cfgp->requests, cfgp->active, abefore, x->nactive);
		x->rate = cfgp->active ? cfgp->rate * (double)x->nactive / (double)cfgp->active : 0;
		cbefore += x->nconn;
		abefore += x->nactive;
		x->lat = malloc(sizeof *x->lat);
		x->lat_unc = cfgp->rate > 0 ? malloc(sizeof *x->lat_unc) : NULL;
		x->late = cfgp->rate > 0 ? malloc(sizeof *x->late) : NULL;
		if (!x->lat || (cfgp->rate > 0 && (!x->lat_unc || !x->late))) {
			fprintf(stderr, PROG ": out of memory\n");
			goto out;
		}
		hist_init(x->lat);
		if (x->lat_unc)
			hist_init(x->lat_unc);
		if (x->late)
			hist_init(x->late);
	}
	uint64_t t0 = px_now_ns();
	unsigned long started = 0;
	for (; started < cfgp->threads; started++) {
		int e = pthread_create(&w[started].tid, NULL, worker_main, &w[started]);
		if (e) {
			fprintf(stderr, PROG ": cannot start thread %lu: %s\n", started, strerror(e));
			/* the barrier waits for every thread: none started can pass */
			if (started == 0)
				goto out;
			exit(1);
		}
	}
	if (cfgp->progress && !cfgp->quiet) {
		uint64_t last_req = 0, last_ns = t0, next = t0 + 1000000000ull;
		for (;;) {
			if (atomic_load(&g_run.finished) == (int)cfgp->threads)
				break;
			struct timespec ts = { 0, 100000000 };
			nanosleep(&ts, NULL);
			if (px_now_ns() >= next) {
				progress(cfgp, w, t0, &last_req, &last_ns);
				next += 1000000000ull;
			}
		}
	}
	for (unsigned long i = 0; i < cfgp->threads; i++)
		pthread_join(w[i].tid, NULL);
	if (cfgp->progress && !cfgp->quiet)
		fprintf(stderr, "\r\033[K");

	uint64_t stop = g_run.start_ns, last = 0;
	for (unsigned long i = 0; i < cfgp->threads; i++) {
		struct worker *x = &w[i];
		if (x->fail[0]) {
			fprintf(stderr, PROG ": thread %lu: %s\n", i, x->fail);
			r->failed = 1;
		}
		r->requests += x->requests_done;
		r->bytes_sent += x->bytes_sent;
		r->bytes_received += x->bytes_received;
		for (int k = 0; k < E_NKINDS; k++) {
			r->errors[k] += x->errors[k];
			r->idle_errors[k] += x->idle_errors[k];
		}
		hist_merge(lat, x->lat);
		if (x->lat_unc && lat_unc)
			hist_merge(lat_unc, x->lat_unc);
		if (x->late && late)
			hist_merge(late, x->late);
		r->connected += x->connected;
		r->unsent += x->unsent;
		r->unanswered += x->unanswered;
		r->in_flight += x->in_flight;
		if (x->stall_ns > r->stall_ns)
			r->stall_ns = x->stall_ns;
		r->stall_seen |= x->stall_seen;
		if (ser && series_merge(ser, &x->series) < 0) {
			fprintf(stderr, PROG ": out of memory for the interval series\n");
			r->failed = 1;
		}
		if (x->stopped_ns > stop)
			stop = x->stopped_ns;
		if (x->last_done_ns > last)
			last = x->last_done_ns;
	}
	/* -n: the run ends with its last answer; -d: when the clock ran out
	 * (or earlier, when stopped or when every connection failed). */
	if (cfgp->requests && last)
		stop = last;
	r->start_ns = g_run.start_ns;
	r->measure_ns = g_run.measure_ns;
	r->stop_ns = stop;
	snprintf(r->backend, sizeof r->backend, "%s", w[0].backend_name);
	pthread_barrier_destroy(&g_run.barrier);
	rc = 0;
out:
	for (unsigned long i = 0; i < cfgp->threads; i++) {
		free(w[i].lat);
		free(w[i].lat_unc);
		free(w[i].late);
		series_free(&w[i].series);
	}
	free(w);
	return rc;
}

int main(int argc, char **argv)
{
	static struct config cfg = {
		.proto = PROTO_ECHO, .size = 64, .connections = 10, .threads = 1,
		.duration_s = 10, .timeout_s = 5, .processes = 1,
		.pct = { 50, 90, 99, 99.9, 99.99 }, .npct = 5,
	};
	cfg.method = "GET";
	g_run.ready_fd = g_run.go_fd = -1;
	parse_args(&cfg, argc, argv);
	if (!nofile_ok(&cfg) || !backend_fits(&cfg))
		return 1;

	char err[256];
	if (cfg.proto == PROTO_HTTP && build_requests(&cfg, err, sizeof err) < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	/* opened now: a path that cannot be written is said before the run */
	FILE *hgrm = NULL;
	if (cfg.hgrm && !(hgrm = fopen(cfg.hgrm, "w"))) {
		fprintf(stderr, PROG ": --hgrm '%s': %s\n", cfg.hgrm, strerror(errno));
		return 1;
	}
	/* several processes would draw over each other's line */
	cfg.progress = cfg.processes == 1 && isatty(STDERR_FILENO);

	struct sigaction sa = { 0 };
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct presult r;
	struct hist *lat = malloc(sizeof *lat);
	/* a child of --processes sends all three, open loop or not */
	int three = cfg.rate > 0 || cfg.processes > 1;
	struct hist *lat_unc = three ? malloc(sizeof *lat_unc) : NULL;
	struct hist *late = three ? malloc(sizeof *late) : NULL;
	if (!lat || (three && (!lat_unc || !late))) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	hist_init(lat);
	if (three) {
		hist_init(lat_unc);
		hist_init(late);
	}
	int failed = 0;
	struct series ser = { 0 };
	struct series *serp = cfg.interval_s > 0 ? &ser : NULL;
	struct px_meta meta;
	px_meta_begin(&meta);
	uint64_t t0 = px_now_ns();
	if (cfg.processes > 1) {
		if (run_processes(&cfg, &r, lat, lat_unc, late, serp) < 0)
			failed = 1;
	} else if (run_process(&cfg, &r, lat, lat_unc, late, serp) < 0) {
		return 1;
	}
	px_meta_end(&meta);
	if (r.failed)
		failed = 1;

	struct totals tot = { 0 };
	tot.lat = lat;
	tot.lat_unc = cfg.rate > 0 ? lat_unc : NULL;
	tot.late = cfg.rate > 0 ? late : NULL;
	tot.requests = r.requests;
	tot.bytes_sent = r.bytes_sent;
	tot.bytes_received = r.bytes_received;
	memcpy(tot.errors, r.errors, sizeof tot.errors);
	memcpy(tot.idle_errors, r.idle_errors, sizeof tot.idle_errors);
	tot.connected = (unsigned long)r.connected;
	tot.unsent = r.unsent;
	tot.in_flight = r.in_flight;
	tot.stall_us = r.stall_ns / 1000;
	tot.stall_seen = r.stall_seen;
	tot.meta = &meta;
	tot.duration_s = r.stop_ns > r.measure_ns ? (double)(r.stop_ns - r.measure_ns) / 1e9 : 0;
	if (serp) {
		/* every interval of the measured time, also those nothing
		 * happened in (the last one may be partial); with -d that is
		 * the duration asked for: processes measure each from its own
		 * start, and the few microseconds between them are no interval */
		double span = cfg.requests ? tot.duration_s : cfg.duration_s;
		if (span > tot.duration_s)
			span = tot.duration_s; /* stopped early */
		size_t want = (size_t)ceil(span / cfg.interval_s - 1e-9);
		if (want > ser.niv) {
			struct interval *iv = realloc(ser.iv, want * sizeof *iv);
			if (!iv) {
				fprintf(stderr, PROG ": out of memory\n");
				return 1;
			}
			memset(iv + ser.niv, 0, (want - ser.niv) * sizeof *iv);
			ser.iv = iv;
			ser.niv = ser.ivcap = want;
		}
		tot.series = &ser;
	}
	tot.connect_s = r.start_ns > t0 ? (double)(r.start_ns - t0) / 1e9 : 0;
	tot.backend = r.backend[0] ? r.backend : (cfg.backend ? cfg.backend : "unknown");
	/* The kernel searches the local port range on every connect; past
	 * about half of it (it keeps the other half for bind) that search
	 * dominates. Worth a hint, since --source removes the cost. */
	if (!cfg.nsources && cfg.addr.ss_family != AF_UNIX && cfg.connections >= 10000 &&
	    tot.connect_s > 5)
		fprintf(stderr, PROG ": connecting took %.1f s; a crowded local port range "
		        "slows every connect: --source 127.0.0.2-127.0.0.20 spreads them\n",
		        tot.connect_s);
	/* Nothing answered because nothing was there: one line that says so,
	 * not a report of zeros to puzzle over. */
	uint64_t refused = tot.errors[E_REFUSED] + tot.idle_errors[E_REFUSED];
	if (tot.connected == 0 && refused >= cfg.connections)
		fprintf(stderr, PROG ": every connection to %s was refused (%llu of %lu): "
		        "is a server listening there?\n", cfg.target,
		        (unsigned long long)refused, cfg.connections);
	if (cfg.json)
		report_json(stdout, &cfg, &tot);
	else
		report_text(stdout, &cfg, &tot);
	if (hgrm) {
		hist_write_hgrm(hgrm, lat, 1000.0);
		if (fclose(hgrm) != 0) {
			fprintf(stderr, PROG ": cannot write --hgrm '%s': %s\n", cfg.hgrm,
			        strerror(errno));
			failed = 1;
		}
	}
	/* A report that did not reach its reader is no success (a full
	 * disk, a closed pipe): say so instead of exiting 0 with nothing. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": cannot write the report to standard output: %s\n",
		        strerror(errno));
		failed = 1;
	}
	for (int k = 0; k < E_NKINDS; k++)
		if (tot.errors[k] || tot.idle_errors[k])
			failed = 1;
	/* Stopped by a signal before every connection was even tried: "every
	 * connection was made" does not hold, though no error was counted. */
	if (!failed && tot.connected < cfg.connections) {
		fprintf(stderr, PROG ": stopped while connecting: %lu of %lu "
		        "connections made\n", tot.connected, cfg.connections);
		failed = 1;
	}
	/* Stopped by a signal while answers were still owed: those requests
	 * did not pass their check, so this is no clean run either. */
	unsigned long unanswered = (unsigned long)r.unanswered;
	if (unanswered) {
		fprintf(stderr, PROG ": stopped by a signal with %lu request%s still "
		        "waiting for an answer; they are in no figure\n", unanswered,
		        unanswered == 1 ? "" : "s");
		failed = 1;
	}

	free(lat);
	free(lat_unc);
	free(late);
	free_requests(&cfg);
	free(cfg.urls);
	free(cfg.headers);
	free(cfg.body);
	series_free(&ser);
	free(cfg.sources);
	return failed ? 1 : 0;
}
