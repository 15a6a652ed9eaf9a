/*
 * The deadline heap (theap.h): a binary min-heap in an
 * array of entry pointers, each entry knowing its slot so that a delete or
 * a move is a sift from there, O(log n). The array doubles when full and is
 * never shrunk below what the most entries needed (one pointer each).
 */
#include "util/theap.h"

#include <errno.h>
#include <stdlib.h>

_Thread_local uint64_t theap_steps;

static void theap_put(struct theap *h, size_t i, struct theap_node *t)
{
	h->v[i] = t;
	t->pos = (uint32_t)(i + 1);
}

static void theap_up(struct theap *h, size_t i)
{
	struct theap_node *t = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		theap_steps++;
		if (h->v[parent]->at <= t->at)
			break;
		theap_put(h, i, h->v[parent]);
		i = parent;
	}
	theap_put(h, i, t);
}

static void theap_down(struct theap *h, size_t i)
{
	struct theap_node *t = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		theap_steps++;
		if (c + 1 < h->n && h->v[c + 1]->at < h->v[c]->at)
			c++;
		if (t->at <= h->v[c]->at)
			break;
		theap_put(h, i, h->v[c]);
		i = c;
	}
	theap_put(h, i, t);
}

/* After the entry at slot i changed its deadline (or was put there). */
static void theap_fix(struct theap *h, size_t i)
{
	if (i > 0 && h->v[(i - 1) / 2]->at > h->v[i]->at)
		theap_up(h, i);
	else
		theap_down(h, i);
}

int theap_set(struct theap *h, struct theap_node *t, uint64_t at)
{
	t->at = at;
	if (t->pos) {
		theap_fix(h, t->pos - 1);
		return 0;
	}
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		struct theap_node **v = cap > UINT32_MAX ? NULL : realloc(h->v, cap * sizeof(*v));
		if (!v) {
			errno = ENOMEM;
			return -1;
		}
		h->v = v;
		h->cap = cap;
	}
	theap_put(h, h->n++, t);
	theap_up(h, h->n - 1);
	return 0;
}

void theap_del(struct theap *h, struct theap_node *t)
{
	size_t i = t->pos;

	if (!i)
		return;
	i--;
	t->pos = 0;
	if (i == --h->n)
		return;
	theap_put(h, i, h->v[h->n]);
	theap_fix(h, i);
}

void theap_fini(struct theap *h)
{
	if (!h)
		return;
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}
