/*
 * Intrusive chained hash tables for the data plane's indexes: the SAD by
 * SPI (and, in the XFRM backend, by (reqid, dir, spi)), the SPD by
 * selectors and by remote prefix,
 * the routes by prefix, the records per reqid (dpglue uses them too). An
 * entry embeds a struct dp_hnode; the table never allocates entries. Insert,
 * lookup and delete cost O(1) expected whatever the number of entries: the
 * bucket array doubles when entries outnumber buckets (one rehash of n
 * entries per doubling, O(1) amortized) and halves when they fall below an
 * eighth. Bucket indexes mix the key with a per-table random seed, so a
 * peer cannot aim its SPIs or selectors at one chain.
 *
 * Every node a lookup or delete visits counts one step in dp_hash_steps
 * (per thread), and so does every selector comparison (ts.c) and every
 * node of the few lists the backends walk: the unit tests check that the steps per operation stay
 * bounded as the tables grow from 1 to 100,000 entries, so an index that
 * degrades to a list scan fails them.
 */
#ifndef RIKE_DP_HASH_H
#define RIKE_DP_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

struct dp_hnode {
	struct dp_hnode *next;
	uint64_t key;
};

struct dp_htab {
	struct dp_hnode **b; /* owned: mask + 1 buckets */
	size_t mask, n;
	uint64_t seed;
};

extern _Thread_local uint64_t dp_hash_steps;

int dp_htab_init(struct dp_htab *t) WUR;
/* Frees the buckets only: the entries are the caller's. NULL-safe. */
void dp_htab_fini(struct dp_htab *t);
/* Never fails: when the table cannot grow, chains get longer. */
void dp_htab_add(struct dp_htab *t, struct dp_hnode *n, uint64_t key);
/* n must be in t. */
void dp_htab_del(struct dp_htab *t, struct dp_hnode *n);

static inline size_t dp_htab_slot(const struct dp_htab *t, uint64_t key)
{
	uint64_t x = key ^ t->seed; /* splitmix64's finalizer */

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return (size_t)(x ^ (x >> 31)) & t->mask;
}

/* The entries with key: for (n = dp_htab_first(t, k); n; n = dp_htab_next(n, k)). */
static inline struct dp_hnode *dp_htab_next(const struct dp_hnode *n, uint64_t key)
{
	for (n = n->next; n; n = n->next) {
		dp_hash_steps++;
		if (n->key == key)
			return (struct dp_hnode *)n;
	}
	return NULL;
}

static inline struct dp_hnode *dp_htab_first(const struct dp_htab *t, uint64_t key)
{
	struct dp_hnode *n = t->b[dp_htab_slot(t, key)];

	dp_hash_steps++;
	if (!n || n->key == key)
		return n;
	return dp_htab_next(n, key);
}

/* Buckets, for a full walk (dp_htab_bucket(t, i) for i < dp_htab_size(t)). */
static inline size_t dp_htab_size(const struct dp_htab *t)
{
	return t->mask + 1;
}

static inline struct dp_hnode *dp_htab_bucket(const struct dp_htab *t, size_t i)
{
	return t->b[i];
}

/* 64-bit FNV-1a, for keys made of octets (the table mixes it again). */
uint64_t dp_hash_bytes(uint64_t h, const void *p, size_t len);
#define DP_HASH_INIT 0xcbf29ce484222325ull

/* The entry that embeds node n as its member `field`. */
#define dp_hentry(n, type, field) ((type *)(void *)((char *)(n)-offsetof(type, field)))

struct dp_ts;
/* The SPD's key (as XFRM's): a hash of both selectors, not the reqid. */
uint64_t dp_ts_pair_key(const struct dp_ts *local, const struct dp_ts *remote);

#endif
