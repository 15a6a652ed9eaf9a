/*
 * The data plane's deadline heap (dp_theap.h): a binary min-heap in an
 * array of entry pointers, each entry knowing its slot so that a delete or
 * a move is a sift from there, O(log n). The array doubles when full and is
 * never shrunk below what the most entries needed (one pointer each).
 */
#include "dataplane/dp_theap.h"

#include <errno.h>
#include <stdlib.h>

#include "dataplane/dp_hash.h"

static void dp_theap_put(struct dp_theap *h, size_t i, struct dp_tnode *t)
{
	h->v[i] = t;
	t->pos = (uint32_t)(i + 1);
}

static void dp_theap_up(struct dp_theap *h, size_t i)
{
	struct dp_tnode *t = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		dp_hash_steps++;
		if (h->v[parent]->at <= t->at)
			break;
		dp_theap_put(h, i, h->v[parent]);
		i = parent;
	}
	dp_theap_put(h, i, t);
}

static void dp_theap_down(struct dp_theap *h, size_t i)
{
	struct dp_tnode *t = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		dp_hash_steps++;
		if (c + 1 < h->n && h->v[c + 1]->at < h->v[c]->at)
			c++;
		if (t->at <= h->v[c]->at)
			break;
		dp_theap_put(h, i, h->v[c]);
		i = c;
	}
	dp_theap_put(h, i, t);
}

/* After the entry at slot i changed its deadline (or was put there). */
static void dp_theap_fix(struct dp_theap *h, size_t i)
{
	if (i > 0 && h->v[(i - 1) / 2]->at > h->v[i]->at)
		dp_theap_up(h, i);
	else
		dp_theap_down(h, i);
}

int dp_theap_set(struct dp_theap *h, struct dp_tnode *t, uint64_t at)
{
	t->at = at;
	if (t->pos) {
		dp_theap_fix(h, t->pos - 1);
		return 0;
	}
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		struct dp_tnode **v = cap > UINT32_MAX ? NULL : realloc(h->v, cap * sizeof(*v));
		if (!v) {
			errno = ENOMEM;
			return -1;
		}
		h->v = v;
		h->cap = cap;
	}
	dp_theap_put(h, h->n++, t);
	dp_theap_up(h, h->n - 1);
	return 0;
}

void dp_theap_del(struct dp_theap *h, struct dp_tnode *t)
{
	size_t i = t->pos;

	if (!i)
		return;
	i--;
	t->pos = 0;
	if (i == --h->n)
		return;
	dp_theap_put(h, i, h->v[h->n]);
	dp_theap_fix(h, i);
}

void dp_theap_fini(struct dp_theap *h)
{
	if (!h)
		return;
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}
