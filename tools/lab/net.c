/* net.c: the lab's own loopback connections: a connect and a send that a
 * signal cannot cut short, a GET for /stats, and a connected TCP pair.
 * The lab catches SIGCHLD without SA_RESTART (so that a stop or a child's
 * end wakes it), and a blocking connect, send or recv interrupted by it
 * fails with EINTR; so does one on a socket with SO_SNDTIMEO or
 * SO_RCVTIMEO whenever anything interrupts it (pollux_new(3): the clean-up
 * after a uring poller is freed). These calls go on where they were. */
#include "toolconfig.h"
#include "httpresp.h"
#include "lab.h"
#include "common.h"

#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int lab_connect_lo(int fd, int port, int timeout_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
		return 0;
	if ((errno != EINTR && errno != EINPROGRESS) || (errno == EINTR && lab_stopped()))
		return -1;	/* refused, or the stop itself interrupted it */
	/* Interrupted, the connect goes on in the kernel: wait for its end,
	 * which writability marks, and take its result from SO_ERROR. */
	uint64_t end = px_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000u;
	for (;;) {
		uint64_t now = px_now_ns();
		int left = timeout_ms < 0 ? -1 : now >= end ? 0 :
		           (int)((end - now + 999999) / 1000000);
		struct pollfd pf = { fd, POLLOUT, 0 };
		int r = poll(&pf, 1, left);
		if (r < 0 && errno == EINTR && !lab_stopped())
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			return -1;
		if (err) {
			errno = err;
			return -1;
		}
		return 0;
	}
}

int lab_send_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR && !lab_stopped())
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

char *lab_http_get(int port, const char *path, int timeout_ms)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	char req[512];
	int rl = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                  "Connection: close\r\n\r\n", path);
	if (rl < 0 || (size_t)rl >= sizeof req || lab_connect_lo(fd, port, timeout_ms) < 0 ||
	    lab_send_all(fd, req, (size_t)rl) < 0) {
		close(fd);
		return NULL;
	}
	/* The answer through the tools' HTTP parser: Content-Length in any
	 * case, chunked, or to the end of the connection. */
	struct px_body bb = { 0 };
	struct px_httpresp hp;
	px_httpresp_init(&hp);
	hp.on_body = px_body_add;
	hp.arg = &bb;
	enum px_http_result hr = PX_HTTP_MORE;
	while (hr == PX_HTTP_MORE) {
		char chunk[4096];
		ssize_t k = recv(fd, chunk, sizeof chunk, 0);
		if (k < 0 && errno == EINTR && !lab_stopped())
			continue;
		if (k < 0)
			break;	/* SO_RCVTIMEO ran out, or a stop */
		size_t used;
		hr = k == 0 ? px_httpresp_eof(&hp) : px_httpresp_feed(&hp, chunk, (size_t)k, &used);
		if (k == 0)
			break;
	}
	close(fd);
	if (hr != PX_HTTP_DONE || hp.status != 200 || bb.failed) {
		free(bb.p);
		return NULL;
	}
	return bb.p ? bb.p : strdup("");
}

int lab_tcp_pair(int fds[2])
{
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c = -1, a = -1;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof sa;
	/* Port 0: the kernel picks a free one; backlog 1 is all we connect. */
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0 ||
	    (c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    lab_connect_lo(c, ntohs(sa.sin_port), 5000) < 0)
		goto fail;
	while ((a = accept(lfd, NULL, NULL)) < 0 && errno == EINTR && !lab_stopped())
		;
	if (a < 0 || px_set_cloexec(a) < 0)
		goto fail;
	close(lfd);
	fds[0] = c;
	fds[1] = a;
	return 0;
fail:;
	int e = errno;
	if (lfd >= 0)
		close(lfd);
	if (c >= 0)
		close(c);
	if (a >= 0)
		close(a);
	errno = e;
	return -1;
}
