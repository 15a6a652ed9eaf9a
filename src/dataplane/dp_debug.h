/*
 * Internal: hooks for the unit tests and bench/dp_sa_ops into the userspace
 * backend's lookups, without packets going through a TUN device. Each
 * returns -1 with errno ENOENT when nothing matches, EOPNOTSUPP when dp is
 * not the userspace backend.
 */
#ifndef RIKE_DP_DEBUG_H
#define RIKE_DP_DEBUG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/dp.h"
#include "util/compiler.h"

/* The inbound SA of an ESP SPI (RFC 4301 4.1): its reqid. */
int dp_debug_sa_in(struct dp *dp, uint32_t spi, uint32_t *reqid) WUR;
/* The outbound SPD lookup of an IP packet (RFC 4301 5.1): the matching
 * policy's reqid, and the SPI of the SA it uses (0 when it has none). */
int dp_debug_spd_lookup(struct dp *dp, const uint8_t *pkt, size_t len, uint32_t *reqid,
                        uint32_t *spi) WUR;

/* Keep the route bookkeeping but send no RTM_NEWROUTE/DELROUTE (tests that
 * install 100,000 policies, where the kernel's work is not under test). */
int dp_debug_skip_routes(struct dp *dp, bool skip) WUR;

/* The packet worker threads (dp_options.workers), 0 when the loop does it all. */
unsigned dp_debug_workers(struct dp *dp);
/* The worker that owns the inbound SA of spi. */
int dp_debug_sa_worker(struct dp *dp, uint32_t spi, unsigned *worker) WUR;
/* The counters of worker i alone (packets it encrypted and decrypted). */
int dp_debug_worker_stats(struct dp *dp, unsigned i, struct dp_stats *out) WUR;

#endif
