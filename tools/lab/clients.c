/* clients.c: the lab's own HTTP clients, driven by libpollux: a burst of
 * clients that connect at once and each ask one thing (with the times of
 * its connect, first reply byte and last byte), and idle connections held
 * open to weigh what a server pays per connection. */
#include "toolconfig.h"
#include "lab.h"
#include "common.h"
#include "pollux.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { C_CONNECTING, C_WAITING, C_READING, C_DONE };

static int start_connect(int port, int *fd_out)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	*fd_out = fd;
	return 0;
}

struct run {
	const struct lab_clients_opts *o;
	struct lab_clients *r;
	pollux_t *px;
	int *fd, *state;
	size_t *sent;
	char (*head)[16];
	size_t *headlen;
	char req[512];
	size_t reqlen;
	int left;		/* clients not yet done */
};

static void finish(struct run *u, int i, int err)
{
	struct lab_client *c = &u->r->c[i];
	double now = lab_now_s() - u->r->t0;
	if (u->fd[i] >= 0) {
		(void)pollux_del(u->px, u->fd[i]);
		close(u->fd[i]);
		u->fd[i] = -1;
	}
	u->state[i] = C_DONE;
	u->left--;
	if (err) {
		c->err = err;
		u->r->failed++;
		return;
	}
	c->t_done = now;
	if (u->headlen[i] >= 12 && memcmp(u->head[i], "HTTP/1.", 7) == 0)
		c->status = atoi(u->head[i] + 9);
	if (c->status >= 200 && c->status < 300)
		u->r->answered++;
	else {
		c->err = EPROTO;
		u->r->failed++;
	}
}

/* Sends what is left of client i's request; the client then waits. */
static void send_request(struct run *u, int i)
{
	while (u->sent[i] < u->reqlen) {
		ssize_t k = send(u->fd[i], u->req + u->sent[i], u->reqlen - u->sent[i],
		                 MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN) {
			(void)pollux_mod(u->px, u->fd[i], POLLUX_IN | POLLUX_OUT,
			                 (void *)(intptr_t)i);
			return;
		}
		if (k < 0) {
			finish(u, i, errno);
			return;
		}
		u->sent[i] += (size_t)k;
	}
	u->r->c[i].t_sent = lab_now_s() - u->r->t0;
	(void)pollux_mod(u->px, u->fd[i], POLLUX_IN, (void *)(intptr_t)i);
	u->state[i] = C_READING;
}

static int ready_to_send(const struct run *u, int i, double now)
{
	return !(i == 0 && u->o->lead_ms > 0) ||
	       now - u->r->t_burst >= u->o->lead_ms / 1000.0;
}

static void on_event(struct run *u, int i, unsigned ev)
{
	struct lab_client *c = &u->r->c[i];
	double now = lab_now_s() - u->r->t0;
	if (u->state[i] == C_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof err;
		if (getsockopt(u->fd[i], SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			err = errno;
		if (err) {
			finish(u, i, err);
			return;
		}
		c->t_connected = now;
		u->state[i] = C_WAITING;
		(void)pollux_mod(u->px, u->fd[i], POLLUX_IN, (void *)(intptr_t)i);
		if (ready_to_send(u, i, now))
			send_request(u, i);
		return;
	}
	if ((ev & POLLUX_OUT) && u->state[i] == C_READING && u->sent[i] < u->reqlen)
		send_request(u, i);
	if (u->state[i] == C_DONE || !(ev & (POLLUX_IN | POLLUX_HUP | POLLUX_ERR)))
		return;
	char buf[16384];
	for (;;) {
		ssize_t k = recv(u->fd[i], buf, sizeof buf, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN)
			return;
		if (k < 0) {
			/* A reset after the whole answer is still an answer. */
			if (u->headlen[i] > 0 && errno == ECONNRESET)
				break;
			finish(u, i, errno);
			return;
		}
		if (k == 0)
			break;
		if (isnan(c->t_first))
			c->t_first = lab_now_s() - u->r->t0;
		size_t room = sizeof u->head[i] - 1 - u->headlen[i];
		size_t take = (size_t)k < room ? (size_t)k : room;
		memcpy(u->head[i] + u->headlen[i], buf, take);
		u->headlen[i] += take;
		u->head[i][u->headlen[i]] = '\0';
		c->bytes += (size_t)k;
	}
	if (u->headlen[i] == 0) {
		finish(u, i, ECONNRESET);	/* closed before any answer */
		return;
	}
	finish(u, i, 0);
}

static int open_one(struct run *u, int i)
{
	struct lab_client *c = &u->r->c[i];
	c->t_connect = lab_now_s() - u->r->t0;
	if (start_connect(u->o->port, &u->fd[i]) < 0 ||
	    pollux_add(u->px, u->fd[i], POLLUX_OUT, (void *)(intptr_t)i) < 0) {
		finish(u, i, errno ? errno : EIO);
		return -1;
	}
	return 0;
}

int lab_clients_run(struct lab *L, const struct lab_clients_opts *o, struct lab_clients *r)
{
	(void)L;
	memset(r, 0, sizeof *r);
	int n = o->n;
	struct run u;
	memset(&u, 0, sizeof u);
	u.o = o;
	u.r = r;
	r->n = n;
	r->c = calloc((size_t)n, sizeof *r->c);
	u.fd = malloc((size_t)n * sizeof *u.fd);
	u.state = calloc((size_t)n, sizeof *u.state);
	u.sent = calloc((size_t)n, sizeof *u.sent);
	u.head = calloc((size_t)n, sizeof *u.head);
	u.headlen = calloc((size_t)n, sizeof *u.headlen);
	u.px = pollux_new(o->backend);
	int rc = -1;
	if (!r->c || !u.fd || !u.state || !u.sent || !u.head || !u.headlen || !u.px) {
		fprintf(stderr, LAB_NAME ": cannot set up %d clients: %s\n", n, strerror(errno));
		goto out;
	}
	int rl = snprintf(u.req, sizeof u.req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                  "Connection: close\r\n\r\n", o->path ? o->path : "/");
	u.reqlen = (size_t)rl;
	for (int i = 0; i < n; i++) {
		u.fd[i] = -1;
		r->c[i].t_connected = r->c[i].t_sent = NAN;
		r->c[i].t_first = r->c[i].t_done = NAN;
	}
	u.left = n;
	r->t0 = lab_now_s();
	double deadline = o->timeout_s > 0 ? o->timeout_s : 30;
	int first = 0;
	/* The lead client is connected (so first in the accept queue) before
	 * the others start. */
	if (o->lead_ms > 0 && n > 0) {
		first = 1;
		if (open_one(&u, 0) == 0) {
			struct pollux_event ev[1];
			while (u.state[0] == C_CONNECTING && !lab_stopped() &&
			       lab_now_s() - r->t0 < 5) {
				int k = pollux_wait(u.px, ev, 1, 50);
				if (k > 0)
					on_event(&u, 0, ev[0].events);
			}
		}
	}
	r->t_burst = lab_now_s() - r->t0;
	for (int i = first; i < n; i++)
		(void)open_one(&u, i);
	struct pollux_event ev[256];
	double last_tick = -1;
	int lead_pending = o->lead_ms > 0 && n > 0;
	while (u.left > 0 && !lab_stopped()) {
		double now = lab_now_s() - r->t0;
		if (now >= deadline)
			break;
		if (lead_pending && u.state[0] == C_WAITING && ready_to_send(&u, 0, now)) {
			send_request(&u, 0);
			lead_pending = 0;
		} else if (lead_pending && u.state[0] != C_WAITING && u.state[0] != C_CONNECTING)
			lead_pending = 0;
		if (o->tick && (last_tick < 0 || now - last_tick >= o->tick_ms / 1000.0)) {
			o->tick(o->tick_arg, now, r);
			last_tick = now;
		}
		double wait_s = deadline - now;
		if (o->tick && wait_s > o->tick_ms / 1000.0)
			wait_s = o->tick_ms / 1000.0;
		if (lead_pending) {
			double due = r->t_burst + o->lead_ms / 1000.0 - now;
			if (due < wait_s)
				wait_s = due > 0 ? due : 0;
		}
		if (wait_s > 0.1)
			wait_s = 0.1;	/* stays responsive to a stop */
		int k = pollux_wait(u.px, ev, 256, (int)ceil(wait_s * 1000));
		if (k < 0 && errno != EINTR) {
			fprintf(stderr, LAB_NAME ": pollux_wait: %s\n", strerror(errno));
			goto out;
		}
		for (int j = 0; j < k; j++)
			on_event(&u, (int)(intptr_t)ev[j].data, ev[j].events);
	}
	r->unfinished = u.left;
	rc = lab_stopped() ? -1 : 0;
out:
	/* Deleted before they are closed: on uring a registered socket stays
	 * open until its poll is removed (pollux_add(3)), and a server
	 * blocked on one of these (the iterative model) would wait for a FIN
	 * that pollux_free's ring teardown sends only later. */
	for (int i = 0; u.fd && i < n; i++)
		if (u.fd[i] >= 0) {
			if (u.px)
				(void)pollux_del(u.px, u.fd[i]);
			close(u.fd[i]);
		}
	if (u.px)
		pollux_free(u.px);
	free(u.fd);
	free(u.state);
	free(u.sent);
	free(u.head);
	free(u.headlen);
	return rc;
}

void lab_clients_free(struct lab_clients *r)
{
	free(r->c);
	memset(r, 0, sizeof *r);
}

/* ---- idle connections ---- */

int lab_idle_open(struct lab *L, struct lab_idle *h, int port, int n, double timeout_s,
                  double stall_s)
{
	(void)L;
	memset(h, 0, sizeof *h);
	h->fd = malloc((size_t)(n > 0 ? n : 1) * sizeof *h->fd);
	/* poll(2) itself, not a pollux poller: the lab's idle connections are
	 * its instrument, and a build whose only backend is a capped select
	 * would stop them at FD_SETSIZE, before the server under test. */
	struct pollfd *pf = malloc((size_t)(n > 0 ? n : 1) * sizeof *pf);
	if (!h->fd || !pf) {
		fprintf(stderr, LAB_NAME ": cannot set up %d idle connections: %s\n", n,
		        strerror(errno));
		free(h->fd);
		free(pf);
		h->fd = NULL;
		return -1;
	}
	int pending = 0;
	for (int i = 0; i < n; i++) {
		int fd;
		if (start_connect(port, &fd) < 0) {
			h->failed++;
			h->err = errno;
			continue;
		}
		h->fd[h->n++] = fd;
		pf[pending++] = (struct pollfd){ fd, POLLOUT, 0 };
	}
	/* Wait until every connect is done, or none has finished for stall_s
	 * (a server that accepts no more leaves the rest in SYN_SENT once its
	 * accept queue is full), or timeout_s. */
	double t0 = lab_now_s(), last = t0;
	while (pending > 0 && !lab_stopped()) {
		double now = lab_now_s();
		if (now - t0 >= timeout_s || now - last >= stall_s)
			break;
		int k = poll(pf, (nfds_t)pending, 50);
		if (k <= 0)
			continue;
		for (int j = 0; j < pending;) {
			if (!pf[j].revents) {
				j++;
				continue;
			}
			int fd = pf[j].fd, err = 0;
			socklen_t el = sizeof err;
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
				err = errno;
			pf[j] = pf[--pending];	/* done: swap-remove */
			last = lab_now_s();
			if (err) {
				h->failed++;
				h->err = err;
			} else
				h->connected++;
		}
	}
	h->pending = pending;
	free(pf);
	return lab_stopped() ? -1 : 0;
}

void lab_idle_close(struct lab_idle *h)
{
	for (int i = 0; h->fd && i < h->n; i++)
		close(h->fd[i]);
	free(h->fd);
	memset(h, 0, sizeof *h);
}
