/* main.c: pollux-server's command line, listening sockets, worker threads
 * (or worker processes, or another --model's runner), and the final
 * statistics. */
#include "toolconfig.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

enum {
	OPT_LIST = 256, OPT_PROTO, OPT_ROOT, OPT_NOSENDFILE, OPT_WORKERS,
	OPT_MAXCONNS, OPT_IDLE, OPT_STATS, OPT_JSON, OPT_MAXHEADER, OPT_OUTCAP,
	OPT_MODEL, OPT_PROCESSES, OPT_KEEPALIVE
};

static const struct option longopts[] = {
	{ "backend", required_argument, NULL, 'b' },
	{ "model", required_argument, NULL, OPT_MODEL },
	{ "list-backends", no_argument, NULL, OPT_LIST },
	{ "listen", required_argument, NULL, 'l' },
	{ "proto", required_argument, NULL, OPT_PROTO },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "no-sendfile", no_argument, NULL, OPT_NOSENDFILE },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "processes", required_argument, NULL, OPT_PROCESSES },
	{ "max-conns", required_argument, NULL, OPT_MAXCONNS },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE },
	{ "stats-interval", required_argument, NULL, OPT_STATS },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "max-header", required_argument, NULL, OPT_MAXHEADER },
	{ "output-cap", required_argument, NULL, OPT_OUTCAP },
	{ "keepalive-requests", required_argument, NULL, OPT_KEEPALIVE },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static void usage(FILE *f)
{
	fputs("Usage: " SERVER_NAME " [OPTION]...\n"
	      "An echo/HTTP server: an event loop on libpollux (any backend it has),\n"
	      "or one of the classic designs it is compared with.\n\n"
	      "      --model NAME         loop (default: event loop on libpollux),\n"
	      "                           iterative (one client at a time), threads\n"
	      "                           (a thread per connection), fork (a process\n"
	      "                           per connection), busy (non-blocking, no\n"
	      "                           poller: spins)\n"
	      "  -b, --backend NAME       poller backend (default: library's choice,\n"
	      "                           POLLUX_BACKEND is honoured; --model loop)\n"
	      "      --list-backends      print the backends built in, one per line\n"
	      "  -l, --listen ADDR        HOST:PORT, [V6]:PORT or unix:PATH; repeatable\n"
	      "                           (default 127.0.0.1:7000; port 0 picks one)\n"
	      "      --proto echo|http    protocol (default http)\n"
	      "      --root DIR           serve files under DIR (http)\n"
	      "      --no-sendfile        send files with read/write, not sendfile\n"
	      "      --workers N          event-loop threads (default 1; --model loop)\n"
	      "      --processes N        N worker processes, each with --workers threads,\n"
	      "                           its own pollers and descriptor limit, under a\n"
	      "                           parent that restarts them (--model loop)\n"
	      "      --max-conns N        close connections beyond N at once (0: none)\n"
	      "      --idle-timeout SEC   close idle connections (default 60, 0: never)\n"
	      "      --stats-interval SEC print statistics every SEC seconds\n"
	      "      --json               statistics as JSON objects\n"
	      "      --max-header BYTES   request line + headers limit (default 8192)\n"
	      "      --output-cap BYTES   stop reading a client with this much unsent\n"
	      "                           output (default 262144)\n"
	      "      --keepalive-requests N  close a connection after N requests\n"
	      "                           (default 1000, 0: never)\n"
	      "  -q, --quiet              print only the listening lines and errors\n"
	      "  -h, --help               show this help\n"
	      "  -V, --version            show the version\n", f);
}

static void list_backends(FILE *f, const char *sep)
{
	const char *const *b = pollux_backends();
	for (int i = 0; b && b[i]; i++)
		fprintf(f, "%s%s", i ? sep : "", b[i]);
}

static int is_known_backend(const char *name)
{
	const char *const *b = pollux_backends();
	for (int i = 0; b && b[i]; i++)
		if (strcmp(b[i], name) == 0)
			return 1;
	return 0;
}

static void usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, SERVER_NAME ": %s '%s'; see " SERVER_NAME " --help\n", msg, arg);
	exit(2);
}

static double parse_seconds(const char *opt, const char *arg)
{
	double v;
	/* The loop's clock is in milliseconds; a smaller positive value
	 * used to round to 0 and silently turn the feature off. */
	if (px_parse_double(arg, 1e9, &v) < 0 || (v > 0 && v < 0.001)) {
		fprintf(stderr, SERVER_NAME ": %s needs seconds: 0 (off) or from 0.001 to 1e9, "
		        "not '%s'\n", opt, arg);
		exit(2);
	}
	return v;
}

static unsigned long parse_count(const char *opt, const char *arg,
                                 unsigned long min, unsigned long max)
{
	unsigned long v;
	if (px_parse_ulong(arg, min, max, &v) < 0) {
		fprintf(stderr, SERVER_NAME ": %s needs a whole number from %lu to %lu, not '%s'\n",
		        opt, min, max, arg);
		exit(2);
	}
	return v;
}

static int set_flag(int fd, int level, int opt)
{
	int one = 1;
	return setsockopt(fd, level, opt, &one, sizeof one);
}

/* A unix socket path left by a server that died: remove it, but only if
 * nobody answers on it. */
static int unix_stale(const struct listen_spec *ls)
{
	const struct sockaddr_un *un = (const struct sockaddr_un *)&ls->ss;
	struct stat st;
	if (lstat(un->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return 0;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	int alive = connect(fd, (const struct sockaddr *)&ls->ss, ls->len) == 0 ||
	            errno != ECONNREFUSED;
	close(fd);
	return !alive && unlink(un->sun_path) == 0;
}

#if REUSEPORT_SPREADS
/* SO_REUSEPORT lets any socket of the same user that also asked for it bind
 * a port already listening, so workers binding with it would silently share
 * a port another server holds. Bind it once without the option first: a
 * port in use fails here, and port 0 is resolved to the one all use. */
static int probe_port(struct listen_spec *ls, char *err, size_t errlen)
{
	int fd = socket(ls->ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a socket for %s: %s", ls->arg, strerror(errno));
		return -1;
	}
	(void)set_flag(fd, SOL_SOCKET, SO_REUSEADDR);
	if (ls->ss.ss_family == AF_INET6)
		(void)set_flag(fd, IPPROTO_IPV6, IPV6_V6ONLY);
	socklen_t len = sizeof ls->ss;
	if (bind(fd, (const struct sockaddr *)&ls->ss, ls->len) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ls->ss, &len) < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot listen on %s: %s%s", ls->arg, strerror(e),
		         e == EADDRINUSE ? " (use another port, or port 0 for any free one)" : "");
		close(fd);
		return -1;
	}
	ls->len = len;
	close(fd);
	return 0;
}
#endif

static int make_listener(struct listen_spec *ls, int reuseport, char *err, size_t errlen)
{
	int fam = ls->ss.ss_family;
	int fd = socket(fam, SOCK_STREAM, 0);
	if (fd < 0 || px_set_nonblock(fd) < 0 || px_set_cloexec(fd) < 0) {
		snprintf(err, errlen, "cannot create a socket for %s: %s", ls->arg, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (fam == AF_INET || fam == AF_INET6) {
		(void)set_flag(fd, SOL_SOCKET, SO_REUSEADDR);
		if (fam == AF_INET6)
			(void)set_flag(fd, IPPROTO_IPV6, IPV6_V6ONLY);
#if HAVE_DECL_SO_REUSEPORT
		if (reuseport && set_flag(fd, SOL_SOCKET, SO_REUSEPORT) < 0) {
			snprintf(err, errlen, "SO_REUSEPORT on %s: %s", ls->arg, strerror(errno));
			close(fd);
			return -1;
		}
#else
		(void)reuseport;
#endif
	}
	int rc = bind(fd, (const struct sockaddr *)&ls->ss, ls->len);
	if (rc < 0 && errno == EADDRINUSE && fam == AF_UNIX && unix_stale(ls))
		rc = bind(fd, (const struct sockaddr *)&ls->ss, ls->len);
	if (rc < 0) {
		/* The fix for a path in use is not the one for a port. */
		const char *hint = errno != EADDRINUSE ? "" :
		        fam != AF_UNIX ? " (use another port, or port 0 for any free one)" :
		        " (a server answers there, or a file is in the way: "
		        "remove it or use another path)";
		snprintf(err, errlen, "cannot listen on %s: %s%s", ls->arg, strerror(errno), hint);
		close(fd);
		return -1;
	}
	if (fam == AF_UNIX)
		ls->unlink_at_exit = 1;
	/* The kernel caps the backlog at net.core.somaxconn. */
	if (listen(fd, 65535) < 0) {
		snprintf(err, errlen, "listen on %s: %s", ls->arg, strerror(errno));
		close(fd);
		return -1;
	}
	/* Port 0: learn the port chosen, so other workers bind the same one
	 * and the "listening" line tells clients where to go. */
	socklen_t len = sizeof ls->ss;
	if (fam != AF_UNIX && getsockname(fd, (struct sockaddr *)&ls->ss, &len) == 0)
		ls->len = len;
	return fd;
}

static void die(const char *msg)
{
	fprintf(stderr, SERVER_NAME ": %s\n", msg);
	exit(1);
}

/* Opens the listening sockets of `loops` event loops (in all processes):
 * fds[i * loops + k] is loop k's for --listen i. Where SO_REUSEPORT spreads
 * connections each TCP loop has its own socket and the kernel picks one
 * per connection; otherwise (and for unix sockets) all share one, whose
 * number is kept in shared_fd. Prints the "listening" lines. */
static void open_listeners(struct server *s, unsigned loops, int *fds)
{
	char err[PX_ADDRSTRLEN + 256];
	for (size_t i = 0; i < s->nls; i++) {
		struct listen_spec *ls = &s->ls[i];
		int each = ls->ss.ss_family != AF_UNIX && loops > 1 && REUSEPORT_SPREADS;
#if REUSEPORT_SPREADS
		if (each && probe_port(ls, err, sizeof err) < 0)
			die(err);
#endif
		for (unsigned k = 0; k < loops; k++) {
			int fd = k == 0 || each ? make_listener(ls, each, err, sizeof err) : fds[i * loops];
			if (fd < 0)
				die(err);
			fds[i * loops + k] = fd;
		}
		if (!each)
			ls->shared_fd = fds[i * loops];
		px_format_addr((const struct sockaddr *)&ls->ss, ls->len, ls->text, sizeof ls->text);
		printf("listening %s\n", ls->text);
	}
	fflush(stdout);
}

/* Returns the name of the backend a worker's poller will have. */
static const char *check_backend(const char *name)
{
	if (!name)
		name = getenv("POLLUX_BACKEND");
	pollux_t *p = pollux_new(name && *name ? name : NULL);
	if (p) {
		const char *chosen = pollux_backend(p);	/* static: outlives p */
		pollux_free(p);
		return chosen;
	}
	int e = errno;
	if (name && *name && !is_known_backend(name) && e == EINVAL)
		fprintf(stderr, SERVER_NAME ": unknown backend '%s'; use one of: ", name);
	else if (e == ENOSYS)
		fprintf(stderr, SERVER_NAME ": backend '%s' is not built into this library or "
		        "not usable on this system; use one of: ", name && *name ? name : "(default)");
	else
		fprintf(stderr, SERVER_NAME ": backend '%s' is not available here (%s); use one of: ",
		        name && *name ? name : "(default)", strerror(e));
	list_backends(stderr, ", ");
	fputc('\n', stderr);
	exit(2);
}

/* Started with stdin, stdout or stderr closed, the server would hand those
 * numbers to the signal pipe or to clients, and a line meant for stderr
 * would land there: in the signal pipe it stopped the server, in a socket
 * it went to a client. Keep them taken by /dev/null. */
static int stdio_open(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", O_RDWR) != fd)	/* the lowest free: fd */
			return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static struct server srv;
	if (stdio_open() < 0)
		return 1;
	struct server *s = &srv;
	struct options *o = &s->opt;
	/* static: reachable until exit, also when --help returns early */
	static const char **listens;
	listens = calloc((size_t)argc + 1, sizeof *listens);
	size_t nlisten = 0;
	double idle = 60, stats_iv = 0;
	if (!listens)
		die("out of memory");

	o->proto = PROTO_HTTP;
	o->use_sendfile = 1;
	o->root_fd = -1;
	o->workers = 1;
	o->header_limit = 8192;
	o->output_cap = 256 * 1024;
	o->keepalive_requests = 1000;	/* nginx's keepalive_requests */

	int ch, backend_given = 0;
	opterr = 0;	/* our own one-line messages below */
	while ((ch = getopt_long(argc, argv, ":b:l:qhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			/* "" would pass the check below as "the default" and
			 * then fail in the library with EINVAL. */
			if (!*optarg)
				usage_error("--backend needs a name (see --list-backends), not", optarg);
			o->backend = optarg;
			backend_given = 1;
			break;
		case OPT_MODEL: {
			int m = 0;
			while (m < MODEL_COUNT && strcmp(model_names[m], optarg) != 0)
				m++;
			if (m == MODEL_COUNT) {
				fprintf(stderr, SERVER_NAME ": unknown model '%s'; use one of: ", optarg);
				for (m = 0; m < MODEL_COUNT; m++)
					fprintf(stderr, "%s%s", m ? ", " : "", model_names[m]);
				fputc('\n', stderr);
				exit(2);
			}
			o->model = (enum model)m;
			break;
		}
		case OPT_LIST:
			list_backends(stdout, "\n");
			putchar('\n');
			return 0;
		case 'l': listens[nlisten++] = optarg; break;
		case OPT_PROTO:
			if (strcmp(optarg, "http") == 0)
				o->proto = PROTO_HTTP;
			else if (strcmp(optarg, "echo") == 0)
				o->proto = PROTO_ECHO;
			else
				usage_error("--proto is echo or http, not", optarg);
			break;
		case OPT_ROOT: o->root = optarg; break;
		case OPT_NOSENDFILE: o->use_sendfile = 0; break;
		case OPT_WORKERS: o->workers = (unsigned)parse_count("--workers", optarg, 1, 256); break;
		case OPT_PROCESSES:
			o->processes = (unsigned)parse_count("--processes", optarg, 1, 256);
			break;
		case OPT_MAXCONNS: o->max_conns = parse_count("--max-conns", optarg, 0, LONG_MAX); break;
		case OPT_IDLE: idle = parse_seconds("--idle-timeout", optarg); break;
		case OPT_STATS: stats_iv = parse_seconds("--stats-interval", optarg); break;
		case OPT_JSON: o->json = 1; break;
		case OPT_MAXHEADER:
			o->header_limit = parse_count("--max-header", optarg, 64, 1 << 20);
			break;
		case OPT_OUTCAP:
			o->output_cap = parse_count("--output-cap", optarg, 1024, 1u << 30);
			break;
		case OPT_KEEPALIVE:
			o->keepalive_requests = parse_count("--keepalive-requests", optarg, 0,
			                                    UINT32_MAX);
			break;
		case 'q': o->quiet = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf(SERVER_NAME " (pollux) %s\n", pollux_version()); return 0;
		case ':':
			usage_error("missing argument for", argv[optind - 1]);
			break;
		default:
			usage_error("unknown option", optopt ? (char[]){ '-', (char)optopt, 0 }
			                                      : argv[optind - 1]);
			break;
		}
	}
	if (optind < argc)
		usage_error("unexpected argument", argv[optind]);
	if (nlisten == 0)
		listens[nlisten++] = "127.0.0.1:7000";
	o->idle_ns = (uint64_t)(idle * 1e9);
	o->stats_ns = (uint64_t)(stats_iv * 1e9);
	if (o->root && o->proto != PROTO_HTTP)
		usage_error("--root needs --proto http; got --root", o->root);
	if (o->model != MODEL_LOOP && (o->workers > 1 || backend_given || o->processes)) {
		fprintf(stderr, SERVER_NAME ": %s needs --model loop, not --model %s\n",
		        o->workers > 1 ? "--workers" : o->processes ? "--processes" : "--backend",
		        model_names[o->model]);
		return 2;
	}
	const char *backend_name = o->model == MODEL_LOOP ? check_backend(o->backend) : "none";

	if (o->root) {
		struct stat st;
		o->root_real = realpath(o->root, NULL);
		/* errno only means something when a call failed: a file that
		 * exists but is no directory is said so, not a stale errno. */
		int e = !o->root_real || stat(o->root_real, &st) < 0 ? errno :
		        !S_ISDIR(st.st_mode) ? ENOTDIR : 0;
		if (e) {
			fprintf(stderr, SERVER_NAME ": --root '%s' is not a readable directory: %s\n",
			        o->root, strerror(e));
			return 1;
		}
		o->root_len = strlen(o->root_real);
		if (files_init(o) < 0) {
			fprintf(stderr, SERVER_NAME ": --root '%s': %s\n", o->root, strerror(errno));
			return 1;
		}
	}

	s->nls = nlisten;
	s->ls = calloc(nlisten, sizeof *s->ls);
	if (!s->ls)
		die("out of memory");
	char err[PX_ADDRSTRLEN + 256];
	for (size_t i = 0; i < nlisten; i++) {
		s->ls[i].arg = listens[i];
		s->ls[i].shared_fd = -1;
		if (px_parse_addr(listens[i], &s->ls[i].ss, &s->ls[i].len, err, sizeof err) < 0) {
			fprintf(stderr, SERVER_NAME ": --listen %s\n", err);
			return 2;
		}
	}

	/* Room for many connections: a server limited to 1024 descriptors
	 * by default would fail long before the pollers do. Worker processes
	 * inherit the limit, each for its own descriptors. */
	(void)px_raise_nofile();
	if (server_sigpipe(s) < 0)
		die("cannot create the signal pipe");
	server_signals(s);
	s->start_ns = px_now_ns();
	s->open = &s->open_here;
	s->peak = &s->peak_here;
	s->backend_name = backend_name;

	/* Every event loop of the server, in all its processes. */
	unsigned loops = o->workers * (o->processes ? o->processes : 1);
	int *fds = calloc(nlisten * loops, sizeof *fds);
	if (!fds)
		die("out of memory");
	if (o->processes) {
		open_listeners(s, loops, fds);
		if (procs_run(s, fds, loops) < 0)
			return 1;
	} else {
		s->nworkers = o->workers;
		s->w = calloc(s->nworkers, sizeof *s->w);
		if (!s->w)
			die("out of memory");
		for (unsigned i = 0; i < s->nworkers; i++)
			if (worker_init(&s->w[i], s, i) < 0) {
				fprintf(stderr, SERVER_NAME ": cannot set up worker %u: %s\n", i,
				        strerror(errno));
				return 1;
			}
		open_listeners(s, loops, fds);
		for (unsigned i = 0; i < s->nworkers; i++)
			worker_listeners(&s->w[i], s, fds, loops, i);
		if (o->model != MODEL_LOOP ? model_run(s) < 0 : server_run_loops(s) < 0)
			return 1;
	}

	struct stats_sum t;
	stats_collect(s, &t);
	if (o->json) {
		stats_json(stdout, &t);
		fputc('\n', stdout);
	} else if (!o->quiet) {
		stats_text(stdout, &t);
	}
	fflush(stdout);

	for (unsigned i = 0; !o->processes && i < s->nworkers; i++)
		worker_free(&s->w[i]);
	for (size_t i = 0; i < nlisten; i++) {
		if (s->ls[i].shared_fd >= 0)
			close(s->ls[i].shared_fd);
		if (s->ls[i].unlink_at_exit)
			(void)unlink(((struct sockaddr_un *)&s->ls[i].ss)->sun_path);
	}
	close(s->sigpipe[0]);
	close(s->sigpipe[1]);
	if (!o->processes)
		free(s->w);
	free(fds);
	free(s->ls);
	free(listens);
	free(o->root_real);
	if (o->root && o->root_fd >= 0)
		close(o->root_fd);
	return atomic_load(&s->failed) ? 1 : 0;
}
