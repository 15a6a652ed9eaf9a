/*
 * The engine's timers: a binary min-heap of (deadline, SA serial). Entries
 * are never removed early; when one fires, the engine looks the SA up by
 * serial and checks which of its deadlines are due, so a stale entry costs
 * one lookup and nothing else.
 */
#include <stdlib.h>

#include "ike/sa.h"

struct timer_ent {
	uint64_t at;
	uint64_t serial;
};

struct ike_timer_heap {
	struct timer_ent *v;
	size_t n, cap;
};

struct ike_timer_heap *timer_heap_new(void)
{
	return calloc(1, sizeof(struct ike_timer_heap));
}

void timer_heap_free(struct ike_timer_heap *h)
{
	if (!h)
		return;
	free(h->v);
	free(h);
}

static void swap(struct timer_ent *a, struct timer_ent *b)
{
	struct timer_ent t = *a;

	*a = *b;
	*b = t;
}

static int heap_push(struct ike_timer_heap *h, uint64_t at, uint64_t serial)
{
	size_t i;

	if (h->n == h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 64;
		struct timer_ent *nv = realloc(h->v, ncap * sizeof(*nv));

		if (!nv)
			return -1;
		h->v = nv;
		h->cap = ncap;
	}
	i = h->n++;
	h->v[i].at = at;
	h->v[i].serial = serial;
	while (i > 0 && h->v[(i - 1) / 2].at > h->v[i].at) {
		swap(&h->v[(i - 1) / 2], &h->v[i]);
		i = (i - 1) / 2;
	}
	return 0;
}

static void heap_pop(struct ike_timer_heap *h)
{
	size_t i = 0;

	h->v[0] = h->v[--h->n];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->n && h->v[l].at < h->v[m].at)
			m = l;
		if (r < h->n && h->v[r].at < h->v[m].at)
			m = r;
		if (m == i)
			break;
		swap(&h->v[m], &h->v[i]);
		i = m;
	}
}

void timer_arm(struct ike *ike, struct ike_sa *sa, uint64_t at_ms)
{
	/* An allocation failure here would lose a deadline: the SA then
	 * relies on the next armed timer, and the next arm retries. */
	if (heap_push(ike->timers, at_ms, sa->serial) < 0)
		sa_log(sa, 3, "timer-failed", "out of memory arming a timer");
}

uint64_t timer_pop_due(struct ike_timer_heap *h, uint64_t now_ms)
{
	uint64_t serial;

	if (!h->n || h->v[0].at > now_ms)
		return 0;
	serial = h->v[0].serial;
	heap_pop(h);
	return serial;
}

int64_t timer_next(struct ike_timer_heap *h, uint64_t now_ms)
{
	if (!h->n)
		return -1;
	return h->v[0].at <= now_ms ? 0 : (int64_t)(h->v[0].at - now_ms);
}
