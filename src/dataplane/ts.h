/* Internal: traffic selector matching and conversion to routes. */
#ifndef RIKE_DP_TS_H
#define RIKE_DP_TS_H

#include "dataplane/dp.h"
#include "dataplane/pkt.h"

struct dp_prefix {
	sa_family_t family;
	uint8_t len;
	uint8_t addr[16];
};

size_t dp_addr_len(sa_family_t family); /* 4, 16 or 0 */
bool dp_ts_valid(const struct dp_ts *ts);
bool dp_ts_equal(const struct dp_ts *a, const struct dp_ts *b);
bool dp_ts_has_addr(const struct dp_ts *ts, sa_family_t family, const uint8_t *addr);
/* Does the packet's source (src = true) or destination side match ts? */
bool dp_ts_match_flow(const struct dp_ts *ts, const struct dp_flow *f, bool src);
/* The smallest set of prefixes covering ts's addresses; -1 if more than max. */
int dp_ts_prefixes(const struct dp_ts *ts, struct dp_prefix *out, size_t max, size_t *n) WUR;
/* A single-address selector describing one side of a packet (for acquires). */
void dp_ts_from_flow(struct dp_ts *ts, const struct dp_flow *f, bool src);

#endif
