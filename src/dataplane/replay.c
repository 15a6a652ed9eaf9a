/*
 * Anti-replay window (RFC 4303 3.4.3) and the inference of the high-order
 * 32 bits of extended sequence numbers (RFC 4303 Appendix A2). The check
 * comes before the ICV and the update after it, as 3.4.3 requires, so a
 * forged packet cannot move the window.
 */
#include "dataplane/replay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp.h"

/* Ring words for a window: a power of two with one spare word, so the
 * word that the top is in never aliases the bottom. 0: too large. */
static uint32_t replay_words(uint32_t *window)
{
	uint32_t words = 1;

	if (*window == 0)
		*window = DP_REPLAY_DEFAULT;
	if (*window > DP_REPLAY_MAX)
		return 0;
	while (words < *window / 64 + 2)
		words <<= 1;
	return words;
}

size_t dp_replay_ring_size(uint32_t window)
{
	return replay_words(&window) * sizeof(uint64_t);
}

int dp_replay_init_at(struct dp_replay *r, uint32_t window, bool esn, uint64_t *ring)
{
	uint32_t words = replay_words(&window);

	memset(r, 0, sizeof(*r));
	if (!words || !ring) {
		errno = EINVAL;
		return -1;
	}
	memset(ring, 0, words * sizeof(ring[0]));
	r->bits = ring;
	r->window = window;
	r->words = (uint16_t)words;
	r->esn = esn;
	return 0;
}

int dp_replay_init(struct dp_replay *r, uint32_t window, bool esn)
{
	size_t len = dp_replay_ring_size(window);
	uint64_t *ring = len ? malloc(len) : NULL;

	if (!len)
		errno = EINVAL;
	if (!ring || dp_replay_init_at(r, window, esn, ring)) {
		free(ring);
		memset(r, 0, sizeof(*r));
		return -1;
	}
	r->owned = true;
	return 0;
}

void dp_replay_free(struct dp_replay *r)
{
	if (r->owned)
		free(r->bits);
	r->bits = NULL;
	r->words = 0;
	r->owned = false;
}

/* RFC 4303 A2.2: pick the subspace (Th - 1, Th or Th + 1) that seq_lo is in. */
static uint64_t replay_infer(const struct dp_replay *r, uint32_t seq_lo)
{
	uint32_t tl = (uint32_t)r->top, th = (uint32_t)(r->top >> 32);
	uint32_t bl = tl - r->window + 1; /* bottom of the window, mod 2^32 */
	uint64_t hi;

	if (tl >= r->window - 1) {
		/* Case A: the window is within one subspace. */
		hi = seq_lo >= bl ? th : (uint64_t)th + 1;
	} else {
		/* Case B: the window spans two subspaces. */
		hi = seq_lo >= bl ? (uint64_t)th - 1 : th;
		if (th == 0 && seq_lo >= bl)
			hi = th; /* nothing below subspace 0: treat it as new */
	}
	return hi << 32 | seq_lo;
}

int dp_replay_check(const struct dp_replay *r, uint32_t seq_lo, uint64_t *seq)
{
	uint64_t s = r->esn ? replay_infer(r, seq_lo) : seq_lo;

	if (s == 0) /* 0 is never sent (3.3.3) */
		return -1;
	*seq = s;
	if (s > r->top)
		return 0;
	if (r->top - s >= r->window)
		return -1; /* too old */
	uint64_t word = (s >> 6) & (r->words - 1);
	return r->bits[word] & (1ull << (s & 63)) ? -1 : 0;
}

void dp_replay_update(struct dp_replay *r, uint64_t seq)
{
	uint64_t mask = r->words - 1;

	if (seq > r->top) {
		uint64_t from = r->top >> 6, to = seq >> 6;
		if (to - from >= r->words) {
			memset(r->bits, 0, sizeof(r->bits[0]) * r->words);
		} else {
			for (uint64_t w = from + 1; w <= to; w++)
				r->bits[w & mask] = 0;
		}
		r->top = seq;
	}
	r->bits[(seq >> 6) & mask] |= 1ull << (seq & 63);
}
