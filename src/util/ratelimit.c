/* Token buckets (see ratelimit.h). */
#include "util/ratelimit.h"

void ratelimit_init(struct ratelimit *r, double per_sec, double burst)
{
	r->tokens = burst;
	r->per_sec = per_sec;
	r->burst = burst;
	r->last_ms = 0;
}

bool ratelimit_take(struct ratelimit *r, uint64_t now_ms)
{
	if (now_ms > r->last_ms) {
		r->tokens += (double)(now_ms - r->last_ms) * r->per_sec / 1000.0;
		if (r->tokens > r->burst)
			r->tokens = r->burst;
		r->last_ms = now_ms;
	}
	if (r->tokens < 1.0)
		return false;
	r->tokens -= 1.0;
	return true;
}

void ratelimit_keyed_init(struct ratelimit_keyed *k, double per_sec, double burst)
{
	for (size_t i = 0; i < RATELIMIT_KEYED_SLOTS; i++)
		ratelimit_init(&k->slot[i], per_sec, burst);
}

bool ratelimit_keyed_take(struct ratelimit_keyed *k, const void *key, size_t len, uint64_t now_ms)
{
	const uint8_t *p = key;
	uint32_t h = 2166136261u; /* FNV-1a: spreading, not secrecy */

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return ratelimit_take(&k->slot[h % RATELIMIT_KEYED_SLOTS], now_ms);
}
