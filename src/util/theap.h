/*
 * One timer for many deadlines: an intrusive binary min-heap of deadlines,
 * so that N objects arm one event-loop timer instead of N (the userspace
 * backend's SA lifetimes, RFC 4301 4.4.2.1; the IKE engine's SAs, one entry
 * each for the SA's earliest deadline). An entry embeds a struct theap_node
 * (16 octets); the heap holds one pointer per entry. Add, move and delete
 * cost O(log n) sift steps, the earliest deadline O(1); each sift step
 * counts one theap_steps, which the unit tests bound.
 */
#ifndef RIKE_UTIL_THEAP_H
#define RIKE_UTIL_THEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

struct theap_node {
	uint64_t at;  /* the deadline, in the caller's clock */
	uint32_t pos; /* 1 + the index in the heap; 0 when not in it */
};

/* Sift steps taken by this thread (tests bound them). */
extern _Thread_local uint64_t theap_steps;

struct theap {
	struct theap_node **v; /* owned: cap slots */
	size_t n, cap;
};

/* Frees the slots only: the entries are the caller's. NULL-safe. */
void theap_fini(struct theap *h);
/* t into h at deadline at; -1 (ENOMEM) when the heap cannot grow. An entry
 * already in h is moved instead, which never fails. */
int theap_set(struct theap *h, struct theap_node *t, uint64_t at) WUR;
/* t out of h; nothing when it is not in it. */
void theap_del(struct theap *h, struct theap_node *t);

static inline bool theap_has(const struct theap_node *t)
{
	return t->pos != 0;
}

/* The entry with the earliest deadline, or NULL. */
static inline struct theap_node *theap_min(const struct theap *h)
{
	return h->n ? h->v[0] : NULL;
}

#endif
