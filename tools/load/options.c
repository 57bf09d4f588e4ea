/* options.c: pollux-load's command line, in the tools' shared conventions
 * (tools/common/CONVENTIONS.md): the options into struct config, the
 * target or URLs into its address and requests, the backend judged (also
 * one from POLLUX_BACKEND) before anything is opened. */
#include "toolconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "load.h"

#define PROG "pollux-load"
#define MAX_SOURCES 65536
/* The longest durations, in whole hours so that messages say "2400h". */
#define DUR_MAX (2400 * 3600.0)
#define TIMEOUT_MAX (240 * 3600.0)

enum {
	O_PROTO = 256, O_SIZE, O_WARMUP, O_TIMEOUT, O_SOURCE, O_CRATE, O_JSON,
	O_PCT, O_BODY, O_URLS, O_NEWCONN, O_HGRM, O_INTERVAL, O_LIST, O_NOPROGRESS
};

static const struct option opts[] = {
	{ "active", required_argument, NULL, 'a' },
	{ "backend", required_argument, NULL, 'b' },
	{ "connections", required_argument, NULL, 'c' },
	{ "duration", required_argument, NULL, 'd' },
	{ "header", required_argument, NULL, 'H' },
	{ "method", required_argument, NULL, 'm' },
	{ "requests", required_argument, NULL, 'n' },
	{ "processes", required_argument, NULL, 'P' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "rate", required_argument, NULL, 'R' },
	{ "threads", required_argument, NULL, 't' },
	{ "warmup", required_argument, NULL, O_WARMUP },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "proto", required_argument, NULL, O_PROTO },
	{ "size", required_argument, NULL, O_SIZE },
	{ "body", required_argument, NULL, O_BODY },
	{ "urls", required_argument, NULL, O_URLS },
	{ "new-connection", no_argument, NULL, O_NEWCONN },
	{ "source", required_argument, NULL, O_SOURCE },
	{ "connect-rate", required_argument, NULL, O_CRATE },
	{ "json", required_argument, NULL, O_JSON },
	{ "hgrm", required_argument, NULL, O_HGRM },
	{ "interval", required_argument, NULL, O_INTERVAL },
	{ "percentiles", required_argument, NULL, O_PCT },
	{ "list-backends", no_argument, NULL, O_LIST },
	{ "no-progress", no_argument, NULL, O_NOPROGRESS },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* The options that messages about several options at once name, each as
 * the user typed it ("-t" or "--threads" or "--thr"), recorded at parse
 * time: px_opt_typed() only knows the option being parsed. */
enum typed_opt {
	T_ACTIVE, T_CONN, T_DURATION, T_REQUESTS, T_PROCESSES, T_RATE, T_THREADS,
	T_SIZE, T_PROTO, T_SOURCE, T_BODY, T_URLS, T_HTTP_ONLY, T_JSON, T_HGRM,
	T_NTYPED
};
static const char *const long_names[T_NTYPED] = {
	"--active", "--connections", "--duration", "--requests", "--processes",
	"--rate", "--threads", "--size", "--proto", "--source", "--body", "--urls",
	"--method", "--json", "--hgrm",
};
static char typed[T_NTYPED][64];

static void remember_typed(enum typed_opt t)
{
	snprintf(typed[t], sizeof typed[t], "%s", px_opt_typed());
}

/* The option as typed, or its long name when it was not given. */
static const char *opt_name(enum typed_opt t)
{
	return typed[t][0] ? typed[t] : long_names[t];
}

static void usage(FILE *f)
{
	fputs("Usage: " PROG " [OPTION]... TARGET\n"
	      "  or:  " PROG " [OPTION]... URL... (or --urls FILE)\n"
	      "Open many client connections to TARGET and measure requests and latency.\n"
	      "TARGET: HOST:PORT, [IPV6]:PORT, unix:PATH or http://HOST[:PORT]/PATH;\n"
	      "several URLs of one server are requested in turn.\n\n"
	      "  -a, --active A           of the connections, how many send requests\n"
	      "                           (default all)\n"
	      "  -b, --backend NAME       poller backend, or auto (default: the library's\n"
	      "                           choice; POLLUX_BACKEND is honoured)\n"
	      "  -c, --connections N      connections in all (default 10)\n"
	      "  -d, --duration D         measure this long (10s, 500ms, 2m; a plain\n"
	      "                           number is seconds; default 10s)\n"
	      "  -H, --header 'N: V'      add this HTTP request header (repeatable)\n"
	      "  -m, --method METHOD      HTTP request method (default GET)\n"
	      "  -n, --requests COUNT     or make this many requests\n"
	      "  -P, --processes N        N processes, each -t threads and its share\n"
	      "                           (default 1)\n"
	      "  -q, --quiet              results and errors only: no progress line, no\n"
	      "                           per-interval lines, no text beside --json\n"
	      "  -R, --rate REQ_PER_S     open loop at this total rate (default: closed\n"
	      "                           loop)\n"
	      "  -t, --threads T          threads, each with its own poller (default 1)\n"
	      "      --warmup D           run this long first, unmeasured (default 0)\n"
	      "      --timeout D          per request and per connect (default 5s)\n"
	      "      --proto echo|http    protocol (default echo; http for a URL)\n"
	      "      --size BYTES         echo message size (default 64)\n"
	      "      --body FILE          send FILE's bytes as the body, with\n"
	      "                           Content-Length\n"
	      "      --urls FILE          request the URLs in FILE (one a line) in turn\n"
	      "      --new-connection     one request per connection (Connection: close)\n"
	      "      --source ADDR[-ADDR] rotate over these local source addresses\n"
	      "      --connect-rate N     open at most N connections per second\n"
	      "      --json FILE          the results as one JSON object into FILE ('-':\n"
	      "                           standard output; the text then goes to stderr)\n"
	      "      --hgrm FILE          the latency distribution in HdrHistogram's\n"
	      "                           percentile format (milliseconds) into FILE\n"
	      "      --interval D         a time series: requests, errors, p50/p99/max\n"
	      "                           per interval (JSON, and text lines)\n"
	      "      --percentiles LIST   latency percentiles to print (default\n"
	      "                           50,90,99,99.9,99.99)\n"
	      "      --list-backends      print the backends built in, one per line\n"
	      "      --no-progress        no progress line, even on a terminal\n"
	      "  -h, --help               show this help\n"
	      "  -V, --version            show the version\n\n"
	      "Exit status: 0 when every request passed its check and every connection\n"
	      "was made, 1 otherwise or on failure, 2 on bad usage.\n", f);
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
		px_usage_error("'%s': expected http://HOST[:PORT]/PATH", url);
	memcpy(hostport, p, hl);
	hostport[hl] = '\0';
	snprintf(u->host_hdr, sizeof u->host_hdr, "%s", hostport);
	const char *close = strrchr(hostport, ']');
	const char *colon = strrchr(hostport, ':');
	if (!colon || (close && colon < close))
		strcat(hostport, ":80");
	const char *path = slash ? slash : "/";
	if (strlen(path) >= sizeof u->path)
		px_usage_error("'%s': path too long", url);
	for (const char *q = path; *q; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f)
			px_usage_error("'%s': the path must not contain spaces or control characters", url);
	snprintf(u->path, sizeof u->path, "%s", path);
	char err[256];
	if (px_parse_addr(hostport, addr, addrlen, err, sizeof err) < 0)
		px_usage_error("%s", err);
}

#define MAX_URLS 100000

/* One more URL to request in turn: on the same server as the others. */
static void add_url(struct config *cfg, const char *url, const char *from)
{
	if (strncmp(url, "http://", 7) != 0)
		px_usage_error("%s'%s': expected http://HOST[:PORT]/PATH", from, url);
	if (cfg->nurls == MAX_URLS)
		px_usage_error("%smore than %d URLs", from, MAX_URLS);
	struct url *u = realloc(cfg->urls, (cfg->nurls + 1) * sizeof *u);
	if (!u)
		px_die("out of memory");
	cfg->urls = u;
	struct sockaddr_storage a;
	socklen_t al;
	parse_url(&u[cfg->nurls], &a, &al, url);
	if (cfg->nurls == 0) {
		cfg->addr = a;
		cfg->addrlen = al;
	} else if (al != cfg->addrlen || memcmp(&a, &cfg->addr, al) != 0) {
		px_usage_error("%s'%s': every URL must name the same server as '%s' "
		          "(one address and port)", from, url, cfg->target);
	}
	cfg->nurls++;
}

/* --urls FILE: one URL a line; blank lines and lines from '#' skipped. */
static void read_urls(struct config *cfg, const char *file)
{
	/* a file that cannot be read is a failure, not a usage mistake
	 * (CONVENTIONS.md: "PROG: WHAT: REASON", exit 1) */
	FILE *f = fopen(file, "r");
	if (!f)
		px_die("%s '%s': %s", opt_name(T_URLS), file, strerror(errno));
	char line[1400], from[1300];
	unsigned long no = 0;
	size_t before = cfg->nurls;
	while (fgets(line, sizeof line, f)) {
		no++;
		size_t n = strlen(line);
		if (n == sizeof line - 1 && line[n - 1] != '\n')
			px_usage_error("%s '%s' line %lu: too long", opt_name(T_URLS), file, no);
		while (n && isspace((unsigned char)line[n - 1]))
			line[--n] = '\0';
		const char *p = line;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			continue;
		snprintf(from, sizeof from, "%s '%.1000s' line %lu: ", opt_name(T_URLS), file, no);
		if (!cfg->target[0]) {
			size_t len = strlen(p);
			if (len >= sizeof cfg->target)
				px_usage_error("%s '%s' line %lu: URL too long", opt_name(T_URLS),
				               file, no);
			memcpy(cfg->target, p, len + 1);
		}
		add_url(cfg, p, from);
	}
	int bad = ferror(f);
	fclose(f);
	if (bad)
		px_die("%s '%s': cannot read it", opt_name(T_URLS), file);
	if (cfg->nurls == before)
		px_usage_error("%s '%s': no URL in it", opt_name(T_URLS), file);
}

#define MAX_BODY (64ul << 20)

/* --body FILE: its bytes, read once. */
static void read_body(struct config *cfg, const char *file)
{
	FILE *f = fopen(file, "rb");
	if (!f)
		px_die("%s '%s': %s", opt_name(T_BODY), file, strerror(errno));
	size_t cap = 4096;
	char *b = malloc(cap);
	size_t n = 0, k;
	while (b && (k = fread(b + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n > MAX_BODY)
			px_usage_error("%s '%s': more than %lu bytes", opt_name(T_BODY), file,
			               MAX_BODY);
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
	if (!b)
		px_die("out of memory");
	if (ferror(f))
		px_die("%s '%s': cannot read it", opt_name(T_BODY), file);
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
		px_usage_error("%s '%s': expected ADDR or ADDR-ADDR", opt_name(T_SOURCE), arg);
	memcpy(a, arg, al);
	a[al] = '\0';
	snprintf(b, sizeof b, "%s", dash ? dash + 1 : a);
	struct sockaddr_storage lo, hi;
	if (parse_ip(a, &lo) < 0 || parse_ip(b, &hi) < 0)
		px_usage_error("%s '%s': not a numeric IPv4 or IPv6 address range", opt_name(T_SOURCE), arg);
	if (lo.ss_family != hi.ss_family)
		px_usage_error("%s '%s': both ends must be the same family", opt_name(T_SOURCE), arg);
	size_t n;
	unsigned char *l = ip_bytes(&lo, &n), *h = ip_bytes(&hi, &n);
	if (memcmp(l, h, n) > 0)
		px_usage_error("%s '%s': the first address is above the last", opt_name(T_SOURCE), arg);
	cfg->sources = calloc(MAX_SOURCES, sizeof *cfg->sources);
	if (!cfg->sources)
		px_die("out of memory");
	struct sockaddr_storage cur = lo;
	for (;;) {
		if (cfg->nsources == MAX_SOURCES)
			px_usage_error("%s '%s': more than 65536 addresses", opt_name(T_SOURCE), arg);
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
	px_usage_error("%s '%s': %s is not an address of this machine "
	          "(on Linux all of 127.0.0.0/8 is)", opt_name(T_SOURCE), arg, host);
}

#define PCT_WHAT "a comma list of percentiles above 0 and at most 100, such as 50,99,99.9"

/* --percentiles LIST: each item a number in (0, 100]; an empty item (a
 * doubled or trailing comma) is a mistake, not nothing. Called while the
 * option is parsed, so that px_bad_value names it as typed. */
static void parse_percentiles(struct config *cfg, const char *arg)
{
	char buf[512];
	if (strlen(arg) >= sizeof buf)
		px_bad_value(PCT_WHAT " (at most 32)");
	strcpy(buf, arg);
	cfg->npct = 0;
	for (char *t = buf, *next; t; t = next) {
		next = strchr(t, ',');
		if (next)
			*next++ = '\0';
		double v;
		if (!*t || px_parse_double(t, 100.0, &v) < 0 || !(v > 0))
			px_bad_value(PCT_WHAT);
		if (cfg->npct == MAX_PCT)
			px_bad_value(PCT_WHAT " (at most 32)");
		/* The JSON key drops the point: 9.99 and 99.9 would both be
		 * "p999", and one would silently stand for the other. */
		char key[40], other[40];
		pct_key(v, key, sizeof key);
		for (int i = 0; i < N_STD_PCT + cfg->npct; i++) {
			double w = i < N_STD_PCT ? std_pct[i] : cfg->pct[i - N_STD_PCT];
			pct_key(w, other, sizeof other);
			if (w != v && strcmp(key, other) == 0)
				px_usage_error("%s: %g and %g would both be reported as "
				               "\"%s\"; give only one", px_opt_typed(), v, w, key);
		}
		cfg->pct[cfg->npct++] = v;
	}
}

/* --json FILE: opened now, so that a path that cannot be written is said
 * before the run; '-' is standard output, and the text then goes to
 * standard error. */
static void open_json(struct config *cfg)
{
	const char *path = px_opt_nonempty("a file name ('-': standard output)");
	if (cfg->json_out && cfg->json_out != stdout)
		fclose(cfg->json_out);
	cfg->json_out = px_open_out_or_die(px_opt_typed(), path);
	cfg->json_path = path;
	cfg->json = 1;
	remember_typed(T_JSON);
}

static void parse_method(struct config *cfg)
{
	/* a token (RFC 9110), as servers check it */
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	for (const char *p = optarg; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(tchar, *p))
			px_bad_value("a method name (GET, POST, PUT ...)");
	if (!*optarg || strlen(optarg) > 32)
		px_bad_value("a method name (GET, POST, PUT ...)");
	cfg->method = optarg;
}

/* The operands: one TARGET, or HTTP URLs of one server (with --urls). */
static void parse_targets(struct config *cfg, int argc, char **argv, const char *urls_file,
                          int have_proto)
{
	if (optind >= argc && !urls_file)
		px_usage_error("give one TARGET");
	const char *t = optind < argc ? argv[optind] : "";
	if (strlen(t) >= sizeof cfg->target)
		px_usage_error("TARGET too long");
	strcpy(cfg->target, t);
	if (urls_file || strncmp(t, "http://", 7) == 0) {
		if (have_proto && cfg->proto != PROTO_HTTP)
			px_usage_error("'%s': a URL needs --proto http", t[0] ? t : urls_file);
		cfg->proto = PROTO_HTTP;
		for (int i = optind; i < argc; i++)
			add_url(cfg, argv[i], "");
		if (urls_file)
			read_urls(cfg, urls_file);
		return;
	}
	if (optind + 1 < argc)
		px_usage_error("unexpected argument '%s'", argv[optind + 1]);
	char err[PX_ADDRSTRLEN + 256];
	if (strstr(t, "://"))
		px_usage_error("'%s': only http:// URLs are understood", t);
	if (px_parse_addr(t, &cfg->addr, &cfg->addrlen, err, sizeof err) < 0)
		px_usage_error("%s", err);
	cfg->urls = calloc(1, sizeof *cfg->urls);
	if (!cfg->urls)
		px_die("out of memory");
	snprintf(cfg->urls[0].host_hdr, sizeof cfg->urls[0].host_hdr, "%s", t);
	strcpy(cfg->urls[0].path, "/");
	cfg->nurls = 1;
}

/* What the options say together, once all are read. */
static void check_together(struct config *cfg, int have_active, int have_duration,
                           int have_size, int http_only)
{
	if (http_only && cfg->proto != PROTO_HTTP)
		px_usage_error("%s applies to --proto http only", opt_name(T_HTTP_ONLY));
	if (cfg->addr.ss_family != AF_UNIX) {
		unsigned port = ntohs(cfg->addr.ss_family == AF_INET
		                      ? ((struct sockaddr_in *)&cfg->addr)->sin_port
		                      : ((struct sockaddr_in6 *)&cfg->addr)->sin6_port);
		if (port == 0)
			px_usage_error("'%s': the port must not be 0", cfg->target);
	}
	if (cfg->hgrm && strcmp(cfg->hgrm, "-") == 0 && cfg->json_out == stdout)
		px_usage_error("%s - and %s - cannot both write to standard output; "
		               "give one a file name", opt_name(T_HGRM), opt_name(T_JSON));
	if (have_size && cfg->proto == PROTO_HTTP)
		px_usage_error("%s applies to --proto echo only", opt_name(T_SIZE));
	if (have_duration && cfg->requests)
		px_usage_error("give %s or %s, not both", opt_name(T_DURATION),
		               opt_name(T_REQUESTS));
	if (!have_active)
		cfg->active = cfg->connections;
	if (cfg->active > cfg->connections)
		px_usage_error("%s must not exceed %s", opt_name(T_ACTIVE), opt_name(T_CONN));
	if (cfg->requests && cfg->active == 0)
		px_usage_error("%s needs at least one active connection",
		               opt_name(T_REQUESTS));
	if (cfg->processes > cfg->connections)
		px_usage_error("%s must not exceed %s", opt_name(T_PROCESSES), opt_name(T_CONN));
	if (cfg->threads > cfg->connections / cfg->processes) {
		if (cfg->processes > 1)
			px_usage_error("%s times %s must not exceed %s", opt_name(T_THREADS),
			               opt_name(T_PROCESSES), opt_name(T_CONN));
		px_usage_error("%s must not exceed %s", opt_name(T_THREADS), opt_name(T_CONN));
	}
	/* -n's count is split over the active connections; a process with
	 * none would have no share and run by the clock instead. */
	if (cfg->requests && cfg->active < cfg->processes)
		px_usage_error("%s with %s needs at least one active connection per process",
		               opt_name(T_REQUESTS), opt_name(T_PROCESSES));
	if (cfg->rate > 0 && cfg->active == 0)
		px_usage_error("%s needs at least one active connection", opt_name(T_RATE));
}

void load_options(struct config *cfg, int argc, char **argv)
{
	int have_active = 0, have_duration = 0, have_proto = 0, have_size = 0;
	const char *source = NULL, *urls_file = NULL, *body_file = NULL;
	int http_only = 0; /* an HTTP-only option was given */
	int o;
	px_cli_init(PROG, argc, argv);
	cfg->headers = calloc((size_t)argc, sizeof *cfg->headers);
	if (!cfg->headers)
		px_die("out of memory");
	while ((o = getopt_long(argc, argv, ":a:b:c:d:H:m:n:P:qR:t:hV", opts, NULL)) != -1) {
		switch (o) {
		case 'a':
			cfg->active = px_opt_ulong(0, 10000000);
			remember_typed(T_ACTIVE);
			have_active = 1;
			break;
		case 'b': cfg->backend = px_opt_backend(); break;
		case 'c':
			cfg->connections = px_opt_ulong(1, 10000000);
			remember_typed(T_CONN);
			break;
		case 'd':
			cfg->duration_s = px_opt_duration(0.001, DUR_MAX, 0);
			remember_typed(T_DURATION);
			have_duration = 1;
			break;
		case 'H': {
			const char *why = header_problem(optarg);
			if (why)
				px_usage_error("%s '%s': %s", px_opt_typed(), optarg, why);
			cfg->headers[cfg->nheaders++] = optarg;
			if (!http_only)
				remember_typed(T_HTTP_ONLY);
			http_only = 1;
			break;
		}
		case 'm':
			parse_method(cfg);
			if (!http_only)
				remember_typed(T_HTTP_ONLY);
			http_only = 1;
			break;
		case 'n':
			cfg->requests = px_opt_ulong(1, (unsigned long)1e15);
			remember_typed(T_REQUESTS);
			break;
		case 'P':
			cfg->processes = px_opt_ulong(1, 1024);
			remember_typed(T_PROCESSES);
			break;
		case 'q': cfg->quiet = 1; break;
		case 'R':
			cfg->rate = px_opt_double(0.001, 1e9);
			remember_typed(T_RATE);
			break;
		case 't':
			cfg->threads = px_opt_ulong(1, 1024);
			remember_typed(T_THREADS);
			break;
		case O_WARMUP: cfg->warmup_s = px_opt_duration(0.001, DUR_MAX, 1); break;
		case O_TIMEOUT: cfg->timeout_s = px_opt_duration(0.001, TIMEOUT_MAX, 0); break;
		case O_PROTO:
			if (strcmp(optarg, "echo") == 0)
				cfg->proto = PROTO_ECHO;
			else if (strcmp(optarg, "http") == 0)
				cfg->proto = PROTO_HTTP;
			else
				px_bad_value("echo or http");
			remember_typed(T_PROTO);
			have_proto = 1;
			break;
		case O_SIZE:
			cfg->size = px_opt_ulong(1, 64ul << 20);
			remember_typed(T_SIZE);
			have_size = 1;
			break;
		case O_BODY:
			body_file = px_opt_nonempty("a file name");
			remember_typed(T_BODY);
			if (!http_only)
				remember_typed(T_HTTP_ONLY);
			http_only = 1;
			break;
		case O_URLS:
			urls_file = px_opt_nonempty("a file name");
			remember_typed(T_URLS);
			break;
		case O_NEWCONN: cfg->new_conn = 1; break;
		case O_SOURCE:
			source = optarg;
			remember_typed(T_SOURCE);
			break;
		case O_CRATE: cfg->connect_rate = px_opt_double(0.001, 1e9); break;
		case O_JSON: open_json(cfg); break;
		case O_HGRM:
			cfg->hgrm = px_opt_nonempty("a file name ('-': standard output)");
			remember_typed(T_HGRM);
			break;
		case O_INTERVAL: cfg->interval_s = px_opt_duration(0.001, DUR_MAX, 0); break;
		case O_PCT: parse_percentiles(cfg, optarg); break;
		case O_LIST: px_list_backends(stdout); exit(0);
		case O_NOPROGRESS: cfg->no_progress = 1; break;
		case 'h': usage(stdout); exit(0);
		case 'V': px_print_version(); exit(0);
		default: px_getopt_error(o, opts);
		}
	}
	parse_targets(cfg, argc, argv, urls_file, have_proto);
	check_together(cfg, have_active, have_duration, have_size, http_only);
	/* Judged before anything is opened, in the tools' one line: a name
	 * from POLLUX_BACKEND is named as such (the threads used to say
	 * "cannot create the poller" and print a report of zeros). */
	if (!cfg->backend)
		cfg->backend = px_env_backend();
	if (body_file)
		read_body(cfg, body_file);
	if (source) {
		if (cfg->addr.ss_family == AF_UNIX)
			px_usage_error("%s applies to TCP targets only", opt_name(T_SOURCE));
		parse_sources(cfg, source);
		if (cfg->sources[0].ss_family != cfg->addr.ss_family)
			px_usage_error("%s '%s': not the target's address family", opt_name(T_SOURCE), source);
		check_source(source, &cfg->sources[0]);
		check_source(source, &cfg->sources[cfg->nsources - 1]);
	}
}
