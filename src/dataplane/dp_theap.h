/*
 * One timer for many deadlines: an intrusive binary min-heap of deadlines
 * (the userspace backend's SA lifetimes in seconds, RFC 4301 4.4.2.1), so
 * that a data plane with N SAs arms one event-loop timer instead of 2N.
 * An entry embeds a struct dp_tnode (16 octets); the heap holds one pointer
 * per entry. Add, move and delete cost O(log n) sift steps, the earliest
 * deadline O(1); each sift step counts one dp_hash_steps (dp_hash.h), which
 * the unit test bounds.
 */
#ifndef RIKE_DP_THEAP_H
#define RIKE_DP_THEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

struct dp_tnode {
	uint64_t at;  /* the deadline, in the caller's clock */
	uint32_t pos; /* 1 + the index in the heap; 0 when not in it */
};

struct dp_theap {
	struct dp_tnode **v; /* owned: cap slots */
	size_t n, cap;
};

/* Frees the slots only: the entries are the caller's. NULL-safe. */
void dp_theap_fini(struct dp_theap *h);
/* t into h at deadline at; -1 (ENOMEM) when the heap cannot grow. An entry
 * already in h is moved instead, which never fails. */
int dp_theap_set(struct dp_theap *h, struct dp_tnode *t, uint64_t at) WUR;
/* t out of h; nothing when it is not in it. */
void dp_theap_del(struct dp_theap *h, struct dp_tnode *t);

static inline bool dp_theap_has(const struct dp_tnode *t)
{
	return t->pos != 0;
}

/* The entry with the earliest deadline, or NULL. */
static inline struct dp_tnode *dp_theap_min(const struct dp_theap *h)
{
	return h->n ? h->v[0] : NULL;
}

#endif
