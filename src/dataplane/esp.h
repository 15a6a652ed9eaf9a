/*
 * Internal: the ESP transform of one SA (RFC 4303) on packet buffers, in
 * place and without allocating: encapsulation for outbound SAs, decapsulation
 * with the anti-replay window for inbound ones.
 */
#ifndef RIKE_DP_ESP_H
#define RIKE_DP_ESP_H

#include "crypto/crypto.h"
#include "dataplane/dp.h"
#include "dataplane/pkt.h"
#include "dataplane/replay.h"

#define DP_ESP_HDR_LEN 8 /* SPI + sequence number */
#define DP_ESP_NH_IPV4 4
#define DP_ESP_NH_IPV6 41
#define DP_ESP_NH_NONE 59 /* dummy packet (RFC 4303 2.6) */
/* Room an encapsulation may need: header + IV in front, padding + trailer + ICV behind. */
#define DP_ESP_MAX_HEADROOM (DP_ESP_HDR_LEN + CRYPTO_MAX_IV_LEN)
#define DP_ESP_MAX_TAILROOM (CRYPTO_MAX_IV_LEN + 2 + 3 + CRYPTO_MAX_ICV_LEN)

enum dp_esp_result {
	DP_ESP_OK,
	DP_ESP_MALFORMED,
	DP_ESP_REPLAY,
	DP_ESP_AUTH,
	DP_ESP_DUMMY,        /* next header 59: authentic, but to be dropped */
	DP_ESP_SEQ_OVERFLOW, /* RFC 4303 3.3.3: the SA must be replaced */
	DP_ESP_ERROR,        /* no room in the buffer or a crypto failure */
};

/* 72 octets; an SA's cipher and replay ring in memory beside it (see
 * dp_esp_init_at) or in one block of its own (dp_esp_init). */
struct dp_esp_sa {
	uint32_t spi;
	bool esn;
	bool aead;
	bool own;                     /* cipher points at a block dp_esp_init allocated */
	uint8_t iv_len;               /* explicit IV on the wire */
	uint8_t block_len;            /* padding unit */
	uint8_t icv_len;              /* AEAD tag or truncated integrity output */
	uint16_t ivpool_off;          /* next unused octet of ivpool */
	struct crypto_cipher *cipher; /* at the start of the extra memory */
	struct crypto_integ *integ;   /* owned; NULL for AEAD */
	uint64_t seq;                 /* outbound: last number sent */
	struct dp_replay replay;      /* inbound (outbound SAs have none: bits NULL) */
	uint8_t *ivpool;              /* owned, outbound CBC only: random IVs fetched in bulk */
};

#define DP_ESP_IVPOOL 256 /* octets of random IVs fetched at once */

/* Octets of extra memory p's transform needs beside its dp_esp_sa: the
 * cipher, and for an inbound SA the replay ring (RFC 4303 3.4.3) sized to
 * p->replay_window. A multiple of 8. */
size_t dp_esp_extra_size(const struct dp_sa *p);
/* Set up the transform of p (keys copied into the cipher) with its cipher
 * and ring in extra (dp_esp_extra_size(p) octets, aligned as a pointer,
 * the caller's: dp_esp_clear does not free it). */
int dp_esp_init_at(struct dp_esp_sa *e, const struct dp_sa *p, void *extra) WUR;
/* The same with the extra memory allocated (and freed by dp_esp_clear). */
int dp_esp_init(struct dp_esp_sa *e, const struct dp_sa *p) WUR;
void dp_esp_clear(struct dp_esp_sa *e);
/* Octets of header, worst-case padding and trailer this SA adds. */
size_t dp_esp_overhead(const struct dp_esp_sa *e);
/* Encapsulate b's data (an IP packet) in place; b needs the head/tailroom above. */
enum dp_esp_result dp_esp_encap(struct dp_esp_sa *e, struct dp_buf *b, uint8_t next_header);
/* Decapsulate an ESP packet in place; on success b holds the inner packet. */
enum dp_esp_result dp_esp_decap(struct dp_esp_sa *e, struct dp_buf *b, uint8_t *next_header,
                                uint64_t *seq);
/* The SPI of an ESP packet (host order); -1 if too short for ESP. */
int dp_esp_peek_spi(const uint8_t *p, size_t len, uint32_t *spi) WUR;

#endif
