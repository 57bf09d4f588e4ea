/* load_testsrv.c: a small poll() server that pollux-load's tests aim at:
 * echo or HTTP, or deliberately broken (one corrupted byte, resets,
 * silence, a pause), and it records how many distinct peer addresses
 * connected. Prints "listening ADDR" first; on stdin EOF or SIGTERM it
 * prints "accepted N sources M" and exits 0. --log FILE writes every HTTP
 * request it gets (head and body, then a newline) to FILE; --pause-at B
 * --pause-ms MS stops serving every client for MS milliseconds once B
 * bytes have been echoed. */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common.h"

enum mode { M_ECHO, M_CORRUPT, M_RESET, M_SILENT, M_HTTP, M_CHUNKED };

struct client {
	char *out;
	size_t outlen, outcap;
	unsigned match;        /* http: bytes of "\r\n\r\n" matched so far */
	unsigned long answers; /* http: responses sent on this connection */
	int closing;           /* close once the queued answer is out */
	char *head;            /* http: the request head so far (--log) */
	size_t headlen;
	unsigned long long body_left; /* http: body bytes still to come */
};

#define HEAD_MAX 16384

static enum mode mode = M_ECHO;
static int status = 200;
static unsigned long close_every;
static unsigned long long corrupt_at = 100, echoed;
static int backlog = 4096;
static volatile sig_atomic_t quit;
static FILE *log_file;
static unsigned long long pause_at;
static long pause_ms;
static uint64_t pause_until; /* while now < this, no client is served */
static int paused;           /* the pause has begun (it comes once) */

static char (*sources)[INET6_ADDRSTRLEN];
static size_t nsources;
#define MAX_SOURCES 4096

static void on_term(int sig)
{
	(void)sig;
	quit = 1;
}

static void note_source(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char host[INET6_ADDRSTRLEN] = "unix";
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
	}
	for (size_t i = 0; i < nsources; i++)
		if (strcmp(sources[i], host) == 0)
			return;
	if (nsources < MAX_SOURCES)
		strcpy(sources[nsources++], host);
}

static int append(struct client *c, const char *b, size_t n)
{
	if (c->outlen + n > c->outcap) {
		size_t cap = (c->outlen + n) * 2;
		char *p = realloc(c->out, cap);
		if (!p)
			return -1;
		c->out = p;
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, b, n);
	c->outlen += n;
	return 0;
}

static int http_answer(struct client *c)
{
	char hdr[256];
	int last = close_every && ++c->answers % close_every == 0;
	const char *conn = last ? "Connection: close\r\n" : "";
	/* A HEAD answer says how long the body would be and sends none. */
	int head = c->head && strncmp(c->head, "HEAD ", 5) == 0;
	int n;
	if (mode == M_CHUNKED)
		n = snprintf(hdr, sizeof hdr, "HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\n%s\r\n"
		             "5\r\nhello\r\n1;ext=1\r\n\n\r\n0\r\nX-Trailer: 1\r\n\r\n", status, conn);
	else
		n = snprintf(hdr, sizeof hdr, "HTTP/1.1 %d X\r\nContent-Length: 6\r\n%s\r\n%s",
		             status, conn, head ? "" : "hello\n");
	if (append(c, hdr, (size_t)n) < 0)
		return -1;
	return last ? 1 : 0;
}

/* The request head's Content-Length (any case), or 0. */
static unsigned long long content_length(const char *head)
{
	for (const char *l = strstr(head, "\r\n"); l; l = strstr(l + 2, "\r\n"))
		if (strncasecmp(l + 2, "Content-Length:", 15) == 0)
			return strtoull(l + 17, NULL, 10);
	return 0;
}

/* Bytes arrived: queue the answer. 1 means close after flushing. */
static int on_data(struct client *c, char *b, size_t n)
{
	if (mode == M_ECHO || mode == M_CORRUPT) {
		if (mode == M_CORRUPT && echoed <= corrupt_at && corrupt_at < echoed + n)
			b[corrupt_at - echoed] ^= 0x5a;
		echoed += n;
		if (pause_ms && !paused && echoed >= pause_at) {
			paused = 1;
			pause_until = px_now_ns() + (uint64_t)pause_ms * 1000000u;
		}
		return append(c, b, n) < 0 ? -1 : 0;
	}
	if (mode == M_SILENT)
		return 0;
	int close_after = 0;
	for (size_t i = 0; i < n; i++) {
		if (c->body_left) {
			size_t take = n - i < c->body_left ? n - i : (size_t)c->body_left;
			if (log_file)
				fwrite(b + i, 1, take, log_file);
			c->body_left -= take;
			i += take - 1;
			if (c->body_left)
				continue;
		} else {
			static const char end[] = "\r\n\r\n";
			if (!c->head && !(c->head = malloc(HEAD_MAX)))
				return -1;
			if (c->headlen < HEAD_MAX - 1)
				c->head[c->headlen++] = b[i];
			c->match = b[i] == end[c->match] ? c->match + 1 : (b[i] == '\r' ? 1 : 0);
			if (c->match != 4)
				continue;
			c->match = 0;
			c->head[c->headlen] = '\0';
			if (log_file)
				fwrite(c->head, 1, c->headlen, log_file);
			c->body_left = content_length(c->head);
			c->headlen = 0;
			if (c->body_left)
				continue;
		}
		if (log_file) {
			fputc('\n', log_file);
			fflush(log_file);
		}
		int r = http_answer(c);
		if (r < 0)
			return -1;
		if (r) {
			close_after = 1;
			break;
		}
	}
	return close_after;
}

static int listen_on(const char *unix_path, const char *host)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char spec[PX_ADDRSTRLEN + 8], err[256];
	if (unix_path)
		snprintf(spec, sizeof spec, "unix:%s", unix_path);
	else if (strchr(host, ':'))
		snprintf(spec, sizeof spec, "[%s]:0", host);
	else
		snprintf(spec, sizeof spec, "%s:0", host);
	if (px_parse_addr(spec, &ss, &len, err, sizeof err) < 0) {
		fprintf(stderr, "load_testsrv: %s\n", err);
		exit(2);
	}
	if (unix_path)
		unlink(unix_path);
	int fd = socket(ss.ss_family, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, backlog) < 0) {
		perror("load_testsrv: listen");
		exit(1);
	}
	px_set_nonblock(fd);
	len = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &len);
	char name[PX_ADDRSTRLEN];
	px_format_addr((struct sockaddr *)&ss, len, name, sizeof name);
	printf("listening %s\n", name);
	fflush(stdout);
	return fd;
}

int main(int argc, char **argv)
{
	const char *unix_path = NULL, *host = "127.0.0.1";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			fprintf(stderr, "load_testsrv: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (strcmp(a, "--mode") == 0) {
			static const char *names[] = { "echo", "corrupt", "reset", "silent", "http", "chunked" };
			int m = -1;
			for (int k = 0; k < 6; k++)
				if (strcmp(v, names[k]) == 0)
					m = k;
			if (m < 0) {
				fprintf(stderr, "load_testsrv: unknown mode %s\n", v);
				return 2;
			}
			mode = (enum mode)m;
		} else if (strcmp(a, "--status") == 0) {
			status = atoi(v);
		} else if (strcmp(a, "--close-every") == 0) {
			close_every = strtoul(v, NULL, 10);
		} else if (strcmp(a, "--corrupt-at") == 0) {
			corrupt_at = strtoull(v, NULL, 10);
		} else if (strcmp(a, "--unix") == 0) {
			unix_path = v;
		} else if (strcmp(a, "--backlog") == 0) {
			backlog = atoi(v);
		} else if (strcmp(a, "--host") == 0) {
			host = v;
		} else if (strcmp(a, "--log") == 0) {
			if (!(log_file = fopen(v, "w"))) {
				perror("load_testsrv: --log");
				return 1;
			}
		} else if (strcmp(a, "--pause-at") == 0) {
			pause_at = strtoull(v, NULL, 10);
		} else if (strcmp(a, "--pause-ms") == 0) {
			pause_ms = atol(v);
		} else {
			fprintf(stderr, "load_testsrv: unknown option %s\n", a);
			return 2;
		}
	}
	long lim = px_raise_nofile();
	size_t cap = lim > 16 ? (size_t)lim : 1024;
	struct sigaction sa = { 0 };
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sources = calloc(MAX_SOURCES, sizeof *sources);
	struct pollfd *pfd = calloc(cap, sizeof *pfd);
	struct client *cl = calloc(cap, sizeof *cl);
	char *buf = malloc(65536);
	if (!sources || !pfd || !cl || !buf)
		return 1;
	int lfd = listen_on(unix_path, host);
	pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
	size_t n = 2;
	unsigned long accepted = 0;
	while (!quit) {
		/* paused: only stdin and the listener, until the pause is over */
		int timeout = -1;
		nfds_t np = n;
		if (pause_until) {
			uint64_t now = px_now_ns();
			if (now < pause_until) {
				timeout = (int)((pause_until - now) / 1000000u) + 1;
				np = 2;
			} else {
				pause_until = 0;
			}
		}
		int r = poll(pfd, np, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("load_testsrv: poll");
			return 1;
		}
		if (pfd[1].revents) {
			ssize_t k = read(STDIN_FILENO, buf, 65536);
			if (k <= 0)
				break;
		}
		if (pfd[0].revents & POLLIN) {
			for (;;) {
				int fd = accept(lfd, NULL, NULL);
				if (fd < 0)
					break;
				if (n == cap) {
					close(fd);
					continue;
				}
				px_set_nonblock(fd);
				accepted++;
				note_source(fd);
				pfd[n] = (struct pollfd){ .fd = fd, .events = POLLIN };
				memset(&cl[n], 0, sizeof cl[n]);
				n++;
			}
		}
		for (size_t i = 2; i < (np == 2 ? 2 : n); i++) {
			struct pollfd *p = &pfd[i];
			struct client *c = &cl[i];
			int gone = 0;
			if (!p->revents)
				continue;
			if (p->revents & (POLLIN | POLLHUP | POLLERR)) {
				ssize_t k = read(p->fd, buf, 65536);
				if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
					gone = 1;
				} else if (k > 0 && mode == M_RESET) {
					/* SO_LINGER 0: close sends RST, not FIN */
					struct linger lg = { 1, 0 };
					setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
					gone = 1;
				} else if (k > 0) {
					int a = on_data(c, buf, (size_t)k);
					if (a < 0)
						gone = 1;
					c->closing |= a == 1;
				}
			}
			if (!gone && c->outlen) {
				ssize_t k = write(p->fd, c->out, c->outlen);
				if (k > 0) {
					memmove(c->out, c->out + k, c->outlen - (size_t)k);
					c->outlen -= (size_t)k;
				} else if (k < 0 && errno != EAGAIN) {
					gone = 1;
				}
				if (c->closing && c->outlen == 0)
					gone = 1;
			}
			if (!gone) {
				/* stop reading while answers are queued: back-pressure */
				p->events = c->outlen ? POLLOUT : POLLIN;
				continue;
			}
			close(p->fd);
			free(c->out);
			free(c->head);
			pfd[i] = pfd[n - 1];
			cl[i] = cl[n - 1];
			n--;
			i--;
		}
	}
	printf("accepted %lu sources %zu\n", accepted, nsources);
	fflush(stdout);
	for (size_t i = 2; i < n; i++) {
		close(pfd[i].fd);
		free(cl[i].out);
		free(cl[i].head);
	}
	if (log_file)
		fclose(log_file);
	close(lfd);
	if (unix_path)
		unlink(unix_path);
	free(pfd);
	free(cl);
	free(buf);
	free(sources);
	return 0;
}
