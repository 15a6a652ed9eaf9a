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

struct spimap;

struct spimap_entry {
	uint32_t spi; /* our inbound ESP SPI */
	uint8_t spi_i[8], spi_r[8];
	uint8_t peer[16]; /* the token taker's address (RFC 6290 5.2) */
	uint8_t peer_len; /* 4 or 16; 0 when unknown */
};

/* Open (creating) the database at path; NULL with why filled on failure. */
struct spimap *spimap_open(const char *path, char *why, size_t whylen);
/* Flush and close. NULL-safe. */
void spimap_close(struct spimap *m);
/* Queue an insert/replace or a delete; flushes by itself when the batch is full. */
int spimap_put(struct spimap *m, const struct spimap_entry *e) WUR;
int spimap_del(struct spimap *m, uint32_t spi) WUR;
/* Commit everything queued in one transaction. */
int spimap_flush(struct spimap *m) WUR;
size_t spimap_pending(const struct spimap *m);
/* Look an SPI up (queued operations first, then the database): 1 found, 0 not, -1 error. */
int spimap_get(struct spimap *m, uint32_t spi, struct spimap_entry *out) WUR;

#endif
