/* main.c: pollux-server's listening sockets, worker threads
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

/* The statistics at the end: JSON into --json's file, the text for people
 * on stdout (unless -q, or the JSON is there). */
static void final_stats(struct server *s)
{
	struct options *o = &s->opt;
	struct stats_sum t;
	stats_collect(s, &t);
	if (o->json) {
		stats_json(o->json_out, &t);
		fputc('\n', o->json_out);
		fflush(o->json_out);
	}
	if (!o->quiet && (!o->json || o->json_out != stdout))
		stats_text(stdout, &t);
	fflush(stdout);
}

static void cleanup(struct server *s, int *fds)
{
	struct options *o = &s->opt;
	for (unsigned i = 0; !o->processes && i < s->nworkers; i++)
		worker_free(&s->w[i]);
	for (size_t i = 0; i < s->nls; i++) {
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
	free(o->root_real);
	if (o->root && o->root_fd >= 0)
		close(o->root_fd);
	if (o->json_out && o->json_out != stdout && fclose(o->json_out) != 0) {
		fprintf(stderr, SERVER_NAME ": --json: %s\n", strerror(errno));
		atomic_store(&s->failed, 1);
	}
}

int main(int argc, char **argv)
{
	static struct server srv;
	if (stdio_open() < 0)
		return 1;
	struct server *s = &srv;
	struct options *o = &s->opt;
	server_options(s, argc, argv);

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

	/* Every event loop of the server, in all its processes. */
	unsigned loops = o->workers * (o->processes ? o->processes : 1);
	int *fds = calloc(s->nls * loops, sizeof *fds);
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
	final_stats(s);
	cleanup(s, fds);
	return atomic_load(&s->failed) ? 1 : 0;
}
