/* timers.c: the /delay timers of one worker: a binary min-heap of held
 * connections ordered by wake time, each knowing its index so a close
 * removes it in O(log n), and firing the ones that are due. */
#include "toolconfig.h"
#include "server.h"

#include <stdlib.h>

static void put(struct worker *w, uint32_t i, struct conn *c)
{
	w->heap[i] = c;
	c->heap_idx = i;
}

static void sift_up(struct worker *w, uint32_t i)
{
	struct conn *c = w->heap[i];
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (w->heap[parent]->wake_ns <= c->wake_ns)
			break;
		put(w, i, w->heap[parent]);
		i = parent;
	}
	put(w, i, c);
}

static void sift_down(struct worker *w, uint32_t i)
{
	struct conn *c = w->heap[i];
	for (;;) {
		uint32_t k = 2 * i + 1;
		if (k >= w->heap_n)
			break;
		if (k + 1 < w->heap_n && w->heap[k + 1]->wake_ns < w->heap[k]->wake_ns)
			k++;
		if (c->wake_ns <= w->heap[k]->wake_ns)
			break;
		put(w, i, w->heap[k]);
		i = k;
	}
	put(w, i, c);
}

int timer_add(struct worker *w, struct conn *c)
{
	if (w->heap_n == w->heap_cap) {
		uint32_t cap = w->heap_cap ? w->heap_cap * 2 : 64;
		struct conn **nh = realloc(w->heap, (size_t)cap * sizeof *nh);
		if (!nh)
			return -1;
		w->heap = nh;
		w->heap_cap = cap;
	}
	put(w, w->heap_n++, c);
	sift_up(w, c->heap_idx);
	return 0;
}

void timer_del(struct worker *w, struct conn *c)
{
	uint32_t i = c->heap_idx;
	struct conn *last = w->heap[--w->heap_n];
	if (i == w->heap_n)
		return;
	put(w, i, last);
	/* The moved element may belong above or below its new place. */
	if (i > 0 && w->heap[(i - 1) / 2]->wake_ns > last->wake_ns)
		sift_up(w, i);
	else
		sift_down(w, i);
}

uint64_t timer_next(const struct worker *w)
{
	return w->heap_n ? w->heap[0]->wake_ns : 0;
}

/* Answers the held requests that are due (all of them when stopping: a
 * stopping server answers at once rather than make clients wait), then
 * lets each connection go on with what was pipelined behind. */
void timers_fire(struct worker *w)
{
	while (w->heap_n && (w->stopping || w->heap[0]->wake_ns <= w->now_ns)) {
		struct conn *c = w->heap[0];
		timer_del(w, c);
		c->flags &= ~(C_DELAY | C_DELAY_HEAD);
		c->last_ns = w->now_ns;
		conn_list_push(&w->active, c);
		if (http_delay_answer(w, c) < 0) {
			STAT_ADD(&w->st, err[ERR_OOM], 1);
			c->flags |= C_CLOSE_AFTER;
		}
		conn_progress(w, c);
	}
}
