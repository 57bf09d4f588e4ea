/* conn.c: one client connection, the same in every --model: lists, buffers,
 * reading, partial writes, file bodies, /delay holds, and the poller interest
 * that follows (none when w->p is NULL). */
#include "toolconfig.h"
#include "server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
/* Linux's sendfile(2); other systems' differ in signature, and there the
 * server always uses read/write. */
#if defined(HAVE_SENDFILE) && defined(HAVE_SYS_SENDFILE_H)
#include <sys/sendfile.h>
#define USE_SENDFILE 1
#endif

/* The 512-byte budget of an idle connection: the struct (plus malloc's
 * header) is all it holds, with room to spare for the poller's slot. */
_Static_assert(sizeof(struct conn) <= 256, "struct conn outgrew the idle budget");

/* How much file data one connection may send per wakeup, so a big
 * download cannot starve the other clients of this worker. */
#define FILE_BUDGET (4u << 20)

void conn_list_push(struct conn_list *l, struct conn *c)
{
	c->next = NULL;
	c->prev = l->tail;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
	l->n++;
}

void conn_list_unlink(struct conn_list *l, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
	l->n--;
}

/* Activity moves a connection to the young end of the list, so the list
 * stays ordered by last activity and expiry only ever looks at its head. */
void conn_touch(struct worker *w, struct conn *c)
{
	if (c->flags & (C_LINGER | C_DELAY))
		return;
	c->last_ns = w->now_ns;
	if (w->active.tail != c) {
		conn_list_unlink(&w->active, c);
		conn_list_push(&w->active, c);
	}
}

size_t conn_pending(const struct conn *c)
{
	return (size_t)(c->out_len - c->out_off);
}

static int has_pending(const struct conn *c)
{
	return c->out_len > c->out_off || c->file_fd >= 0;
}

static void free_in(struct worker *w, struct conn *c)
{
	if (c->in) {
		STAT_ADD(&w->st, buffered, -(int64_t)c->in_cap);
		free(c->in);
		c->in = NULL;
		c->in_len = c->in_cap = 0;
	}
}

static void free_out(struct worker *w, struct conn *c)
{
	if (c->out) {
		STAT_ADD(&w->st, buffered, -(int64_t)c->out_cap);
		free(c->out);
		c->out = NULL;
		c->out_off = c->out_len = c->out_cap = 0;
	}
}

int out_append(struct worker *w, struct conn *c, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if ((size_t)c->out_len + n > c->out_cap) {
		/* Reclaim the sent prefix before growing. */
		if (c->out_off) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		size_t need = (size_t)c->out_len + n;
		if (need > UINT32_MAX / 2)
			return -1;
		if (need > c->out_cap) {
			size_t cap = c->out_cap ? c->out_cap : 512;
			while (cap < need)
				cap *= 2;
			char *nb = realloc(c->out, cap);
			if (!nb)
				return -1;
			STAT_ADD(&w->st, buffered, (int64_t)cap - (int64_t)c->out_cap);
			c->out = nb;
			c->out_cap = (uint32_t)cap;
		}
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += (uint32_t)n;
	return 0;
}

/* Nagle would hold back the tail of an answer until the previous segment
 * is acknowledged, which a client that delays its ACKs makes 40 ms. Setting
 * TCP_NODELAY also sends a tail that is being held at that moment. */
static void nodelay(struct conn *c)
{
	int one = 1;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->flags |= C_NODELAY;
}

struct conn *conn_new(struct worker *w, int fd, int is_tcp)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->kind = OBJ_CONN;
	c->fd = fd;
	c->file_fd = -1;
	c->flags = is_tcp ? C_TCP : 0;
	if (w->p && pollux_add(w->p, fd, POLLUX_IN, c) < 0) {
		free(c);
		return NULL;
	}
	c->interest = POLLUX_IN;
	/* Echo answers every read at once: no Nagle from the start. HTTP
	 * sets it when a connection stays open after an answer (nodelay()),
	 * as nginx does, which spares a short connection the call. */
	if (is_tcp && w->srv->opt.proto == PROTO_ECHO)
		nodelay(c);
	c->last_ns = w->now_ns;
	conn_list_push(&w->active, c);
	return c;
}

void conn_close(struct worker *w, struct conn *c)
{
	if (w->before_close) {
		if (w->p && c->interest)
			(void)pollux_del(w->p, c->fd);
		w->before_close(w, c);
		close(c->fd);
	} else if (w->p && c->interest) {
		/* On epoll one close(2): the kernel drops the registration. */
		(void)pollux_close(w->p, c->fd);
	} else {
		close(c->fd);
	}
	if (c->file_fd >= 0)
		close(c->file_fd);
	free_in(w, c);
	free_out(w, c);
	if (c->flags & C_DELAY)
		timer_del(w, c);
	else
		conn_list_unlink((c->flags & C_LINGER) ? &w->linger : &w->active, c);
	STAT_ADD(&w->st, closed, 1);
	atomic_fetch_sub_explicit(w->srv->open, 1, memory_order_relaxed);
	free(c);
}

static void set_interest(struct worker *w, struct conn *c)
{
	unsigned want;
	if (c->flags & C_LINGER) {
		want = POLLUX_IN;
	} else {
		want = 0;
		if (!(c->flags & (C_RD_EOF | C_CLOSE_AFTER | C_DELAY)) && !w->stopping &&
		    c->file_fd < 0 && conn_pending(c) <= w->srv->opt.output_cap &&
		    (size_t)c->in_len < w->rbuf_size)
			want |= POLLUX_IN;
		if (has_pending(c))
			want |= POLLUX_OUT;
		/* http.c stopped at its budget with requests still buffered:
		 * writability (at once, on a socket with room) brings us back
		 * after everybody else's turn. */
		if (c->flags & C_MORE)
			want |= POLLUX_OUT;
	}
	if (want == 0 && (c->flags & C_DELAY)) {
		/* Held by /delay with everything before it sent: off the
		 * poller until its timer puts it back. */
		if (w->p && c->interest)
			(void)pollux_del(w->p, c->fd);
		c->interest = 0;
		return;
	}
	if (want == 0) {
		/* Nothing to wait for any more (e.g. stopping with nothing to
		 * send): the connection is finished. */
		conn_close(w, c);
		return;
	}
	if (want != c->interest) {
		if (w->p && (c->interest ? pollux_mod(w->p, c->fd, want, c)
		                         : pollux_add(w->p, c->fd, want, c)) < 0) {
			STAT_ADD(&w->st, err[ERR_REGISTER], 1);
			conn_close(w, c);
			return;
		}
		c->interest = want;
	}
}

/* After a closing answer: closing a socket with unread input makes the
 * kernel send an RST, which can destroy the answer before the client has
 * read it. So when input is left (unparsed, thrown away after the closing
 * request, a body not read, or a read that filled the buffer), half-close
 * our side and wait (bounded) for the peer's FIN. When the last read took
 * everything there was, close at once, as nginx does: a short connection
 * then costs no shutdown and no second read. */
static void start_linger(struct worker *w, struct conn *c)
{
	int unsure = (c->flags & (C_UNSURE | C_FULL_READ)) || (c->in && c->in_len) ||
	             c->body_left;
	free_in(w, c);
	free_out(w, c);
	if ((c->flags & C_RD_EOF) || !unsure || shutdown(c->fd, SHUT_WR) < 0) {
		conn_close(w, c);
		return;
	}
	conn_list_unlink(&w->active, c);
	c->flags |= C_LINGER;
	c->last_ns = w->now_ns;
	conn_list_push(&w->linger, c);
	set_interest(w, c);
}

static int err_is_reset(int e)
{
	return e == ECONNRESET || e == EPIPE || e == ENOTCONN || e == ETIMEDOUT;
}

/* Sends a file body: sendfile keeps the bytes inside the kernel; without it
 * each chunk is read into the scratch buffer and sent, and a partial send
 * only advances the offset by what went out (the rest is read again). */
static int send_file(struct worker *w, struct conn *c)
{
	size_t budget = FILE_BUDGET;
	while (c->file_left > 0 && budget > 0) {
		size_t want = (size_t)c->file_left < budget ? (size_t)c->file_left : budget;
		ssize_t k;
#ifdef USE_SENDFILE
		if (w->srv->opt.use_sendfile) {
			off_t off = c->file_off;
			k = sendfile(c->fd, c->file_fd, &off, want);
			if (k == 0) {
				errno = EIO;	/* the file shrank under us */
				k = -1;
			}
		} else
#endif
		{
			if (want > w->rbuf_size)
				want = w->rbuf_size;
			ssize_t r = pread(c->file_fd, w->rbuf, want, c->file_off);
			if (r <= 0) {
				if (r == 0)
					errno = EIO;
				STAT_ADD(&w->st, err[ERR_FILE], 1);
				return -1;
			}
			STAT_ADD(&w->st, file_read, r);
			k = send(c->fd, w->rbuf, (size_t)r, MSG_NOSIGNAL);
		}
		if (k < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			STAT_ADD(&w->st, err[err_is_reset(errno) ? ERR_RESET : ERR_FILE], 1);
			return -1;
		}
		c->file_off += k;
		c->file_left -= k;
		c->flags |= C_SENT;
		budget -= (size_t)k;
		STAT_ADD(&w->st, bytes_out, k);
		STAT_ADD(&w->st, file_sent, k);
		conn_touch(w, c);
	}
	if (c->file_left == 0) {
		close(c->file_fd);
		c->file_fd = -1;
	}
	return 0;
}

/* Writes what is pending: buffered bytes first, then the file body.
 * 0 when done or blocked, -1 when the connection is broken. */
static int flush(struct worker *w, struct conn *c)
{
	while (c->out_len > c->out_off) {
		ssize_t k = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		                 MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			STAT_ADD(&w->st, err[err_is_reset(errno) ? ERR_RESET : ERR_WRITE], 1);
			return -1;
		}
		c->out_off += (uint32_t)k;
		c->flags |= C_SENT;
		STAT_ADD(&w->st, bytes_out, k);
		conn_touch(w, c);
	}
	free_out(w, c);
	if (c->file_fd >= 0)
		return send_file(w, c);
	return 0;
}

/* Parses what c->in holds and keeps the unparsed rest at its front. */
static void http_feed_in(struct worker *w, struct conn *c)
{
	size_t used = http_process(w, c, c->in, c->in_len);
	if (used >= c->in_len) {
		free_in(w, c);
	} else if (used) {
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= (uint32_t)used;
	}
}

/* Moves a connection forward after anything happened to it: write what is
 * pending, answer requests that were waiting behind it, close when done. */
void conn_progress(struct worker *w, struct conn *c)
{
	for (;;) {
		if (flush(w, c) < 0) {
			conn_close(w, c);
			return;
		}
		if (has_pending(c) || (c->flags & C_DELAY))
			break;
		if (c->flags & C_CLOSE_AFTER) {
			start_linger(w, c);
			return;
		}
		if (w->stopping) {
			conn_close(w, c);
			return;
		}
		if (c->in && w->srv->opt.proto == PROTO_HTTP) {
			uint32_t before = c->in_len;
			uint64_t body = c->body_left;
			http_feed_in(w, c);
			if (has_pending(c) || (c->flags & C_CLOSE_AFTER))
				continue;
			if ((c->in ? c->in_len : 0) == before && c->body_left == body)
				; /* an incomplete request: wait for more */
			else
				continue;
		}
		if ((c->flags & C_RD_EOF) && !(c->flags & C_MORE)) {
			conn_close(w, c);
			return;
		}
		break;
	}
	/* An answer went out and the connection stays open: from now on no
	 * tail of an answer may wait for an ACK (see nodelay). */
	if ((c->flags & (C_TCP | C_SENT | C_NODELAY | C_CLOSE_AFTER | C_LINGER)) ==
	    (C_TCP | C_SENT) && !has_pending(c))
		nodelay(c);
	set_interest(w, c);
}

static void echo_data(struct worker *w, struct conn *c, const char *buf, size_t n)
{
	if (!has_pending(c)) {
		ssize_t k = send(c->fd, buf, n, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				STAT_ADD(&w->st, err[err_is_reset(errno) ? ERR_RESET : ERR_WRITE], 1);
				c->flags |= C_RD_EOF;	/* broken: stop, close below */
				c->out_off = c->out_len = 0;
				return;
			}
			k = 0;
		}
		STAT_ADD(&w->st, bytes_out, k);
		buf += k;
		n -= (size_t)k;
	}
	if (n && out_append(w, c, buf, n) < 0) {
		STAT_ADD(&w->st, err[ERR_OOM], 1);
		c->flags |= C_RD_EOF;
	}
}

/* Reads once (level-triggered readiness repeats if more is there): into
 * the connection's own buffer when it holds a partial request, else into
 * the worker's scratch, keeping only an unparsed rest. */
static void conn_read(struct worker *w, struct conn *c)
{
	if (c->flags & C_LINGER) {
		ssize_t k = recv(c->fd, w->rbuf, w->rbuf_size, 0);
		if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			conn_close(w, c);
		return;
	}
	if (c->flags & (C_RD_EOF | C_CLOSE_AFTER)) {
		conn_progress(w, c);
		return;
	}
	char *dst;
	size_t room;
	if (c->in) {
		if (c->in_len == c->in_cap) {
			size_t cap = (size_t)c->in_cap * 2;
			if (cap > w->rbuf_size)
				cap = w->rbuf_size;
			if (cap > c->in_cap) {
				char *nb = realloc(c->in, cap);
				if (!nb) {
					STAT_ADD(&w->st, err[ERR_OOM], 1);
					conn_close(w, c);
					return;
				}
				STAT_ADD(&w->st, buffered, (int64_t)cap - (int64_t)c->in_cap);
				c->in = nb;
				c->in_cap = (uint32_t)cap;
			}
		}
		dst = c->in + c->in_len;
		room = c->in_cap - c->in_len;
		if (room == 0) {	/* full: parse (or wait for output) first */
			conn_progress(w, c);
			return;
		}
	} else {
		dst = w->rbuf;
		room = w->rbuf_size;
	}
	ssize_t k = recv(c->fd, dst, room, 0);
	/* A blocking recv may have waited long: the idle clock needs now. */
	if (!w->p)
		w->now_ns = px_now_ns();
	if (k < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		STAT_ADD(&w->st, err[err_is_reset(errno) ? ERR_RESET : ERR_READ], 1);
		conn_close(w, c);
		return;
	}
	if (k == 0) {
		c->flags |= C_RD_EOF;
		conn_progress(w, c);
		return;
	}
	if ((size_t)k == room)
		c->flags |= C_FULL_READ;	/* the socket may hold more */
	else
		c->flags &= ~C_FULL_READ;
	STAT_ADD(&w->st, bytes_in, k);
	if (w->srv->opt.proto == PROTO_ECHO) {
		conn_touch(w, c);
		echo_data(w, c, dst, (size_t)k);
	} else if (c->in) {
		c->in_len += (uint32_t)k;
		http_feed_in(w, c);
	} else {
		size_t used = http_process(w, c, dst, (size_t)k);
		size_t rest = (size_t)k - used;
		if (rest) {
			size_t cap = rest < 4096 ? 4096 : rest;
			if (cap > w->rbuf_size)
				cap = w->rbuf_size;
			c->in = malloc(cap);
			if (!c->in) {
				STAT_ADD(&w->st, err[ERR_OOM], 1);
				conn_close(w, c);
				return;
			}
			STAT_ADD(&w->st, buffered, cap);
			memcpy(c->in, dst + used, rest);
			c->in_len = (uint32_t)rest;
			c->in_cap = (uint32_t)cap;
		}
	}
	conn_progress(w, c);
}

void conn_event(struct worker *w, struct conn *c, unsigned events)
{
	c->burst = 0;	/* a new wakeup: a new request budget */
	c->flags &= ~C_MORE;
	if (events & (POLLUX_IN | POLLUX_ERR | POLLUX_HUP)) {
		/* A hang-up with nothing left to read: the peer is gone. */
		if ((events & (POLLUX_HUP | POLLUX_ERR)) && !(events & POLLUX_IN)) {
			STAT_ADD(&w->st, err[ERR_RESET], 1);
			conn_close(w, c);
			return;
		}
		conn_read(w, c);
		return;	/* conn_read ends in conn_progress, which also writes */
	}
	if (events & POLLUX_OUT)
		conn_progress(w, c);
}

/* GET /delay/MS: hold the connection off every list (so it is not idle)
 * on the timer heap; http_process stops behind it, so requests pipelined
 * after it are answered after it. timers_fire answers and resumes it. */
int conn_delay(struct worker *w, struct conn *c, unsigned ms, int head, int keep)
{
	c->wake_ns = px_now_ns() + (uint64_t)ms * 1000000u;
	c->delay_ms = (uint16_t)ms;
	c->delay_keep = (uint8_t)keep;
	if (timer_add(w, c) < 0)
		return -1;
	conn_list_unlink(&w->active, c);
	c->flags |= C_DELAY | (head ? C_DELAY_HEAD : 0);
	return 0;
}

/* Server stopping: finish what is pending (no more reading), close the rest. */
void conn_stop(struct worker *w, struct conn *c)
{
	if (c->flags & C_LINGER)
		return;
	if (!has_pending(c)) {
		conn_close(w, c);
		return;
	}
	set_interest(w, c);
}
