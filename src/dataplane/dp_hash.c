/*
 * The data plane's hash tables (dp_hash.h): chains, doubling and halving,
 * a random seed per table.
 */
#include "dataplane/dp_hash.h"
#include "dataplane/ts.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#define DP_HTAB_MIN 16

_Thread_local uint64_t dp_hash_steps;

static uint64_t dp_hash_seed(void)
{
	uint64_t s;
	struct timespec ts;

	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
		return s;
	/* No entropy yet (early boot): still different per run. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)&s;
}

int dp_htab_init(struct dp_htab *t)
{
	t->b = calloc(DP_HTAB_MIN, sizeof(*t->b));
	if (!t->b)
		return -1;
	t->mask = DP_HTAB_MIN - 1;
	t->n = 0;
	t->seed = dp_hash_seed();
	return 0;
}

void dp_htab_fini(struct dp_htab *t)
{
	if (!t)
		return;
	free(t->b);
	t->b = NULL;
	t->mask = t->n = 0;
}

static void dp_htab_resize(struct dp_htab *t, size_t nb)
{
	struct dp_hnode **b = calloc(nb, sizeof(*b));
	struct dp_htab nt = {.b = b, .mask = nb - 1, .n = t->n, .seed = t->seed};

	if (!b)
		return; /* keep the old buckets: longer chains, still correct */
	for (size_t i = 0; i <= t->mask; i++) {
		while (t->b[i]) {
			struct dp_hnode *n = t->b[i];
			size_t s = dp_htab_slot(&nt, n->key);

			t->b[i] = n->next;
			n->next = b[s];
			b[s] = n;
		}
	}
	free(t->b);
	*t = nt;
}

void dp_htab_add(struct dp_htab *t, struct dp_hnode *n, uint64_t key)
{
	size_t s;

	if (t->n >= t->mask + 1 && t->mask + 1 < SIZE_MAX / 2 / sizeof(*t->b))
		dp_htab_resize(t, (t->mask + 1) * 2);
	s = dp_htab_slot(t, key);
	n->key = key;
	n->next = t->b[s];
	t->b[s] = n;
	t->n++;
}

void dp_htab_del(struct dp_htab *t, struct dp_hnode *n)
{
	for (struct dp_hnode **pp = &t->b[dp_htab_slot(t, n->key)]; *pp; pp = &(*pp)->next) {
		dp_hash_steps++;
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			t->n--;
			break;
		}
	}
	if (t->mask + 1 > DP_HTAB_MIN && t->n < (t->mask + 1) / 8)
		dp_htab_resize(t, (t->mask + 1) / 2);
}

uint64_t dp_hash_bytes(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t ts_hash(uint64_t h, const struct dp_ts *ts)
{
	uint8_t hdr[6] = {(uint8_t)(ts->family == AF_INET6), ts->proto,
	                  (uint8_t)(ts->port_lo >> 8),       (uint8_t)ts->port_lo,
	                  (uint8_t)(ts->port_hi >> 8),       (uint8_t)ts->port_hi};
	size_t alen = dp_addr_len(ts->family);

	h = dp_hash_bytes(h, hdr, sizeof(hdr));
	h = dp_hash_bytes(h, ts->addr_lo, alen);
	return dp_hash_bytes(h, ts->addr_hi, alen);
}

uint64_t dp_ts_pair_key(const struct dp_ts *local, const struct dp_ts *remote)
{
	return ts_hash(ts_hash(DP_HASH_INIT, local), remote);
}
