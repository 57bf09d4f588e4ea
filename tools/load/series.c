/* series.c: pollux-load's --interval series: merging the threads' and
 * processes' sparse per-interval histograms, and packing one for the pipe
 * from a child of --processes. */
#include "toolconfig.h"

#include <stdlib.h>
#include <string.h>

#include "load.h"

void series_free(struct series *s)
{
	free(s->iv);
	free(s->slots);
	memset(s, 0, sizeof *s);
}

/* dst = dst + src, interval by interval; each interval's slots stay in
 * ascending order, so the sum is a merge of two sorted lists. */
int series_merge(struct series *dst, const struct series *src)
{
	struct series out = { 0 };
	size_t niv = dst->niv > src->niv ? dst->niv : src->niv;
	if (niv == 0)
		return 0;
	out.iv = calloc(niv, sizeof *out.iv);
	out.slotcap = dst->nslots + src->nslots;
	out.slots = malloc((out.slotcap ? out.slotcap : 1) * sizeof *out.slots);
	if (!out.iv || !out.slots) {
		series_free(&out);
		return -1;
	}
	out.niv = out.ivcap = niv;
	for (size_t k = 0; k < niv; k++) {
		static const struct interval none = { 0 };
		const struct interval *a = k < dst->niv ? &dst->iv[k] : &none;
		const struct interval *b = k < src->niv ? &src->iv[k] : &none;
		struct interval *o = &out.iv[k];
		o->requests = a->requests + b->requests;
		o->errors = a->errors + b->errors;
		o->max = a->max > b->max ? a->max : b->max;
		o->first = out.nslots;
		size_t i = 0, j = 0;
		while (i < a->n || j < b->n) {
			const struct slot_count *x = i < a->n ? &dst->slots[a->first + i] : NULL;
			const struct slot_count *y = j < b->n ? &src->slots[b->first + j] : NULL;
			struct slot_count *z = &out.slots[out.nslots++];
			if (x && (!y || x->slot < y->slot)) {
				*z = *x;
				i++;
			} else if (y && (!x || y->slot < x->slot)) {
				*z = *y;
				j++;
			} else {
				z->slot = x->slot;
				z->count = x->count + y->count;
				i++;
				j++;
			}
		}
		o->n = out.nslots - o->first;
	}
	series_free(dst);
	*dst = out;
	return 0;
}

size_t series_packed_len(const struct series *s)
{
	return 2 * sizeof(uint64_t) + s->niv * sizeof *s->iv + s->nslots * sizeof *s->slots;
}

void series_pack(const struct series *s, unsigned char *buf)
{
	uint64_t n[2] = { s->niv, s->nslots };
	memcpy(buf, n, sizeof n);
	buf += sizeof n;
	if (s->niv)
		memcpy(buf, s->iv, s->niv * sizeof *s->iv);
	buf += s->niv * sizeof *s->iv;
	if (s->nslots)
		memcpy(buf, s->slots, s->nslots * sizeof *s->slots);
}

int series_unpack(struct series *s, const unsigned char *buf, size_t len)
{
	uint64_t n[2];
	memset(s, 0, sizeof *s);
	if (len < sizeof n)
		return -1;
	memcpy(n, buf, sizeof n);
	if (n[0] > len / sizeof *s->iv || n[1] > len / sizeof *s->slots ||
	    series_packed_len(&(struct series){ .niv = n[0], .nslots = n[1] }) != len)
		return -1;
	s->niv = s->ivcap = n[0];
	s->nslots = s->slotcap = n[1];
	s->iv = malloc((s->niv ? s->niv : 1) * sizeof *s->iv);
	s->slots = malloc((s->nslots ? s->nslots : 1) * sizeof *s->slots);
	if (!s->iv || !s->slots) {
		series_free(s);
		return -1;
	}
	memcpy(s->iv, buf + sizeof n, s->niv * sizeof *s->iv);
	memcpy(s->slots, buf + sizeof n + s->niv * sizeof *s->iv, s->nslots * sizeof *s->slots);
	for (size_t k = 0; k < s->niv; k++)
		if (s->iv[k].first > s->nslots || s->iv[k].n > s->nslots - s->iv[k].first) {
			series_free(s);
			return -1;
		}
	return 0;
}
