/*
 * The persistent map from inbound Child SA SPIs to their IKE SA's SPIs and
 * the peer's address (RFC 6290 8.2), in SQLite. After a restart, an ESP
 * packet with an SPI we no longer know can then be answered with
 * N(INVALID_SPI) and the QCD tokens of the lost IKE SA, saving the peer a
 * liveness round trip. Writes are queued and committed in batches (one
 * transaction per flush), sized for the peak SA setup rate.
 */
#ifndef RIKE_STORE_SPIMAP_H
#define RIKE_STORE_SPIMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

#define SPIMAP_BATCH 512 /* queued operations that force a flush */
/* After a failed flush, the next attempts wait this long, doubling. */
#define SPIMAP_RETRY_MIN_MS 1000u
#define SPIMAP_RETRY_MAX_MS 60000u
/* Rows of a previous run (its SAs died with it) are kept this long after
 * the restart that found them: long enough for every peer still sending
 * on those SAs to be answered (8.2), then they go. */
#define SPIMAP_STALE_SEC (24 * 3600)

struct spimap;

struct spimap_entry {
	uint32_t spi; /* our inbound ESP SPI */
	uint8_t spi_i[8], spi_r[8];
	uint8_t peer[16]; /* the token taker's address (RFC 6290 5.2) */
	uint8_t peer_len; /* 4 or 16; 0 when unknown */
};

/*
 * Open (creating) the database at path; NULL with why filled on failure.
 * The database and its -wal/-shm files are made mode 0600. Rows found at
 * open belong to a previous run: they are marked stale now and expired
 * SPIMAP_STALE_SEC later (at an open or a flush).
 */
struct spimap *spimap_open(const char *path, char *why, size_t whylen);
/* Flush and close. NULL-safe. */
void spimap_close(struct spimap *m);
/* Queue an insert/replace or a delete; flushes by itself when the batch is full. */
int spimap_put(struct spimap *m, const struct spimap_entry *e) WUR;
int spimap_del(struct spimap *m, uint32_t spi) WUR;
/*
 * Commit everything queued in one transaction: 0 done (or nothing to do),
 * -1 failed (spimap_error() says why; the operations stay queued), or
 * SPIMAP_DEFERRED: an earlier flush failed and the back-off
 * (SPIMAP_RETRY_MIN_MS doubling up to SPIMAP_RETRY_MAX_MS) has not passed,
 * so nothing was tried. spimap_flush() reads CLOCK_MONOTONIC; _at takes
 * the time in milliseconds from the caller's monotonic clock.
 */
#define SPIMAP_DEFERRED 1
int spimap_flush(struct spimap *m) WUR;
int spimap_flush_at(struct spimap *m, uint64_t now_ms) WUR;
size_t spimap_pending(const struct spimap *m);
/* Why the last flush failed ("" if none has); flushes that failed so far. */
const char *spimap_error(const struct spimap *m);
uint64_t spimap_failures(const struct spimap *m);
/* Transactions committed so far: a burst of n operations costs about
 * n / SPIMAP_BATCH of them (one fsync each at most), not n. */
uint64_t spimap_commits(const struct spimap *m);
/* Delete the rows that have been stale for SPIMAP_STALE_SEC at `now`
 * (seconds since the epoch); the number deleted, or -1. */
int spimap_expire(struct spimap *m, int64_t now) WUR;

/*
 * Where the map reports its state changes, one line each: flushes
 * started failing (with why), flushes work again (with how many failed).
 * Process-wide; the daemon points it at its log. `level` is a syslog
 * LOG_* level. NULL (the default) reports nothing.
 */
typedef void (*spimap_report_fn)(int level, const char *msg);
void spimap_set_report(spimap_report_fn fn);
/* Look an SPI up (queued operations first, then the database): 1 found, 0 not, -1 error. */
int spimap_get(struct spimap *m, uint32_t spi, struct spimap_entry *out) WUR;

#endif
