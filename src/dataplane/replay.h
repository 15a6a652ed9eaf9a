/*
 * The inbound anti-replay window of one SA (RFC 4303 3.4.3) with extended
 * sequence numbers (RFC 4303 Appendix A). A ring of 64-bit words in the
 * manner of RFC 6479: moving the window clears whole words, so a packet costs
 * O(1) however large the window is.
 */
#ifndef RIKE_DP_REPLAY_H
#define RIKE_DP_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

struct dp_replay {
	uint64_t top;    /* highest sequence number accepted; 0 = none yet */
	uint32_t window; /* W, in packets */
	uint16_t words;  /* ring size in words (power of two, at most 128) */
	bool esn;
	bool owned; /* bits came from dp_replay_init (else the caller's memory) */
	/* The ring, sized to the window (4 words, 32 octets, for the default
	 * 64 packets rather than DP_REPLAY_MAX's 1 KiB in every SA). */
	uint64_t *bits;
};

/* window 0 means DP_REPLAY_DEFAULT; larger than DP_REPLAY_MAX fails, as
 * does running out of memory. Undone by dp_replay_free. */
int dp_replay_init(struct dp_replay *r, uint32_t window, bool esn) WUR;
/* Octets of the ring for window (0 means the default); 0 when the window
 * is too large. */
size_t dp_replay_ring_size(uint32_t window);
/* dp_replay_init with the ring in ring (dp_replay_ring_size octets, which
 * it clears; the caller's, aligned for uint64_t): fails only on the window. */
int dp_replay_init_at(struct dp_replay *r, uint32_t window, bool esn, uint64_t *ring) WUR;
/* Free the ring if dp_replay_init allocated it (NULL-safe on a zeroed or
 * freed window). */
void dp_replay_free(struct dp_replay *r);
/*
 * Before the ICV check: infer the 64-bit number from the low 32 bits on the
 * wire (Appendix A2.2) and reject numbers that are too old or seen. Returns
 * 0 and sets *seq when the packet may be new, -1 otherwise.
 */
int dp_replay_check(const struct dp_replay *r, uint32_t seq_lo, uint64_t *seq) WUR;
/* After the ICV verified: record seq (from dp_replay_check) and slide the window. */
void dp_replay_update(struct dp_replay *r, uint64_t seq);

#endif
