/* options.c: pollux-server's command line, in the tools' shared conventions
 * (tools/common/CONVENTIONS.md): the options into struct options, the
 * --listen addresses into s->ls, and the backend judged before any work. */
#include "toolconfig.h"
#include "server.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

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
	{ "json", required_argument, NULL, OPT_JSON },
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
	      "  -b, --backend NAME       poller backend, or auto (default: the\n"
	      "                           library's choice, POLLUX_BACKEND is\n"
	      "                           honoured; --model loop)\n"
	      "  -l, --listen ADDR        HOST:PORT, [V6]:PORT or unix:PATH; repeatable\n"
	      "                           (default 127.0.0.1:7000; port 0 picks one)\n"
	      "  -q, --quiet              print only the listening lines and errors\n"
	      "      --model NAME         loop (default: event loop on libpollux),\n"
	      "                           iterative (one client at a time), threads\n"
	      "                           (a thread per connection), fork (a process\n"
	      "                           per connection), busy (non-blocking, no\n"
	      "                           poller: spins)\n"
	      "      --list-backends      print the backends built in, one per line\n"
	      "      --proto echo|http    protocol (default http)\n"
	      "      --root DIR           serve files under DIR (http)\n"
	      "      --no-sendfile        send files with read/write, not sendfile\n"
	      "      --workers N          event-loop threads (default 1; --model loop)\n"
	      "      --processes N        N worker processes, each with --workers threads,\n"
	      "                           its own pollers and descriptor limit, under a\n"
	      "                           parent that restarts them (--model loop)\n"
	      "      --max-conns N        close connections beyond N at once (0: none)\n"
	      "      --idle-timeout D     close connections idle this long (10s, 500ms,\n"
	      "                           2m; a plain number is seconds; default 60s,\n"
	      "                           0: never)\n"
	      "      --stats-interval D   print each interval's statistics this often\n"
	      "                           (0, the default: off, only the final ones)\n"
	      "      --json FILE          statistics as JSON objects, one a line, into\n"
	      "                           FILE ('-': standard output); the final one\n"
	      "                           also has the settings and the machine\n"
	      "      --max-header BYTES   request line + headers limit (default 8192)\n"
	      "      --output-cap BYTES   stop reading a client with this much unsent\n"
	      "                           output (default 262144)\n"
	      "      --keepalive-requests N  close a connection after N requests\n"
	      "                           (default 1000, 0: never)\n"
	      "  -h, --help               show this help\n"
	      "  -V, --version            show the version\n\n"
	      "Exit status: 0 after a stop signal, 1 on failure, 2 on bad usage.\n", f);
}

static enum model parse_model(void)
{
	for (int m = 0; m < MODEL_COUNT; m++)
		if (strcmp(model_names[m], optarg) == 0)
			return (enum model)m;
	char names[128] = "";
	for (int m = 0; m < MODEL_COUNT; m++) {
		size_t len = strlen(names);
		snprintf(names + len, sizeof names - len, "%s%s", m ? ", " : "", model_names[m]);
	}
	px_bad_value("one of %s", names);
}

/* The event loop's clock is in milliseconds: a smaller positive value
 * would round to 0 and silently turn the feature off. */
static uint64_t duration_ns(void)
{
	return (uint64_t)(px_opt_duration(0.001, 30 * 86400.0, 1) * 1e9);	/* 30 days */
}

static void open_json(struct options *o)
{
	const char *path = px_opt_nonempty("a file name ('-': standard output)");
	if (o->json_out && o->json_out != stdout)
		fclose(o->json_out);
	o->json_out = px_open_out_or_die(px_opt_typed(), path);
	o->json = 1;
}

/* --root: a readable directory, opened for files.c. */
static void open_root(struct options *o)
{
	struct stat st;
	o->root_real = realpath(o->root, NULL);
	/* errno only means something when a call failed: a file that exists
	 * but is no directory is said so, not a stale errno. */
	int e = !o->root_real || stat(o->root_real, &st) < 0 ? errno :
	        !S_ISDIR(st.st_mode) ? ENOTDIR : 0;
	if (e)
		px_die("--root '%s' is not a readable directory: %s", o->root, strerror(e));
	o->root_len = strlen(o->root_real);
	if (files_init(o) < 0)
		px_die("--root '%s': %s", o->root, strerror(errno));
}

void server_options(struct server *s, int argc, char **argv)
{
	struct options *o = &s->opt;
	/* static: reachable until exit, also when --help returns early */
	static const char **listens;
	listens = calloc((size_t)argc + 1, sizeof *listens);
	size_t nlisten = 0;
	uint64_t idle_ns = 60000000000ull;
	if (!listens)
		px_die("out of memory");

	o->proto = PROTO_HTTP;
	o->use_sendfile = 1;
	o->root_fd = -1;
	o->workers = 1;
	o->header_limit = 8192;
	o->output_cap = 256 * 1024;
	o->keepalive_requests = 1000;	/* nginx's keepalive_requests */

	px_cli_init(SERVER_NAME, argc, argv);
	int ch;
	char backend_opt[64] = "";	/* -b as typed, for a later message */
	while ((ch = getopt_long(argc, argv, ":b:l:qhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			o->backend = px_opt_backend();
			snprintf(backend_opt, sizeof backend_opt, "%s", px_opt_typed());
			break;
		case OPT_MODEL: o->model = parse_model(); break;
		case OPT_LIST: px_list_backends(stdout); exit(0);
		case 'l': listens[nlisten++] = optarg; break;
		case OPT_PROTO:
			if (strcmp(optarg, "http") == 0)
				o->proto = PROTO_HTTP;
			else if (strcmp(optarg, "echo") == 0)
				o->proto = PROTO_ECHO;
			else
				px_bad_value("echo or http");
			break;
		case OPT_ROOT: o->root = px_opt_nonempty("a directory"); break;
		case OPT_NOSENDFILE: o->use_sendfile = 0; break;
		case OPT_WORKERS: o->workers = (unsigned)px_opt_ulong(1, 256); break;
		case OPT_PROCESSES: o->processes = (unsigned)px_opt_ulong(1, 256); break;
		case OPT_MAXCONNS: o->max_conns = px_opt_ulong(0, 1000000000ul); break;
		case OPT_IDLE: idle_ns = duration_ns(); break;
		case OPT_STATS: o->stats_ns = duration_ns(); break;
		case OPT_JSON: open_json(o); break;
		case OPT_MAXHEADER: o->header_limit = px_opt_ulong(64, 1 << 20); break;
		case OPT_OUTCAP: o->output_cap = px_opt_ulong(1024, 1u << 30); break;
		case OPT_KEEPALIVE: o->keepalive_requests = px_opt_ulong(0, UINT32_MAX); break;
		case 'q': o->quiet = 1; break;
		case 'h': usage(stdout); exit(0);
		case 'V': px_print_version(); exit(0);
		default: px_getopt_error(ch, longopts);
		}
	}
	px_no_operands();
	if (nlisten == 0)
		listens[nlisten++] = "127.0.0.1:7000";
	o->idle_ns = idle_ns;
	if (o->root && o->proto != PROTO_HTTP)
		px_usage_error("--root needs --proto http, not --proto echo");
	if (o->model != MODEL_LOOP && (o->workers > 1 || backend_opt[0] || o->processes))
		px_usage_error("%s needs --model loop, not --model %s",
		               o->workers > 1 ? "--workers" : o->processes ? "--processes" :
		               backend_opt, model_names[o->model]);
	/* Judged before anything is opened: an unknown or unbuilt name, or
	 * one from POLLUX_BACKEND, is told in the tools' one line. */
	if (o->model != MODEL_LOOP)
		s->backend_name = "none";
	else
		s->backend_name = o->backend ? o->backend : px_env_backend();
	if (!o->backend && o->model == MODEL_LOOP)
		o->backend = s->backend_name;

	s->nls = nlisten;
	s->ls = calloc(nlisten, sizeof *s->ls);
	if (!s->ls)
		px_die("out of memory");
	char err[PX_ADDRSTRLEN + 256];
	for (size_t i = 0; i < nlisten; i++) {
		s->ls[i].arg = listens[i];
		s->ls[i].shared_fd = -1;
		if (px_parse_addr(listens[i], &s->ls[i].ss, &s->ls[i].len, err, sizeof err) < 0)
			px_usage_error("--listen %s", err);
	}
	free(listens);
	listens = NULL;
	if (o->root)
		open_root(o);
}
