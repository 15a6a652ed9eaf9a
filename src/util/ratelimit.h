/*
 * Token buckets for work that unauthenticated input can trigger (RFC 8019;
 * RFC 6290 8.1): answers to unknown SPIs, QCD token answers and
 * verifications. A keyed set spreads sources over a fixed table, so memory
 * stays bounded whatever the number of sources (colliding sources share).
 */
#ifndef RIKE_UTIL_RATELIMIT_H
#define RIKE_UTIL_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ratelimit {
	double tokens, per_sec, burst;
	uint64_t last_ms;
};

void ratelimit_init(struct ratelimit *r, double per_sec, double burst);
/* Take one token at time now_ms; false when the bucket is empty. */
bool ratelimit_take(struct ratelimit *r, uint64_t now_ms);

#define RATELIMIT_KEYED_SLOTS 256

struct ratelimit_keyed {
	struct ratelimit slot[RATELIMIT_KEYED_SLOTS];
};

void ratelimit_keyed_init(struct ratelimit_keyed *k, double per_sec, double burst);
bool ratelimit_keyed_take(struct ratelimit_keyed *k, const void *key, size_t len, uint64_t now_ms);

#endif
