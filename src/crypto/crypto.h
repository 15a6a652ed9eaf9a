/*
 * rike's cryptography, as thin wrappers over OpenSSL 3 libcrypto. Nothing
 * outside src/crypto calls libcrypto. Algorithms are named by their IKEv2
 * transform IDs (wire/ikev2.h). Every object that holds a key wipes it when
 * freed.
 */
#ifndef RIKE_CRYPTO_H
#define RIKE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

#define CRYPTO_MAX_PRF_LEN 64
#define CRYPTO_MAX_KEY_LEN 68 /* AES-256 key + 4-octet salt; ChaCha20 key + salt = 36 */
#define CRYPTO_MAX_ICV_LEN 32
#define CRYPTO_MAX_IV_LEN  16
#define CRYPTO_MAX_DH_LEN  1024 /* MODP 8192 */

/* A borrowed piece of input, so callers can hash concatenations without copying. */
struct crypto_chunk {
	const uint8_t *p;
	size_t len;
};

/* ---- random ---- */

/* Fill buf with random bytes. Tests may install a deterministic source. */
int crypto_random(void *buf, size_t len) WUR;
typedef int (*crypto_random_fn)(void *ctx, void *buf, size_t len);
void crypto_set_random(crypto_random_fn fn, void *ctx); /* NULL restores RAND_bytes */

/* ---- PRF (RFC 7296 2.13, 3.3.2; RFC 4434 for AES-XCBC-PRF-128) ---- */

/* Output length of a PRF transform, or 0 if unsupported. */
size_t crypto_prf_len(uint16_t prf);
/* The preferred key length (RFC 7296 2.14: used for SK_d, SK_pi, SK_pr). */
size_t crypto_prf_key_len(uint16_t prf);
int crypto_prf(uint16_t prf, const uint8_t *key, size_t keylen, const struct crypto_chunk *in,
               size_t nin, uint8_t *out) WUR;
/* prf+ (RFC 7296 2.13); at most 255 iterations. */
int crypto_prf_plus(uint16_t prf, const uint8_t *key, size_t keylen,
                    const struct crypto_chunk *seed, size_t nseed, uint8_t *out, size_t outlen) WUR;

/* ---- client puzzles (RFC 8019 4.4, 7.1.3, 7.2.3; puzzle.c) ---- */

/* The key size the solver uses for a PRF (4 for HMAC, 16 for AES-XCBC), 0 if unsupported. */
size_t crypto_puzzle_key_len(uint16_t prf);
/* The number of trailing zero bits of PRF(key, s). */
int crypto_puzzle_zbc(uint16_t prf, const uint8_t *key, size_t klen, const uint8_t *s, size_t slen,
                      unsigned *zbc) WUR;
/* Check four keys of klen octets: -1 if they are not four different keys of
 * a size the PRF takes (RFC 8019 8.2); else the least trailing zero count. */
int crypto_puzzle_check(uint16_t prf, const uint8_t *const keys[4], size_t klen, const uint8_t *s,
                        size_t slen, unsigned *min_zbc) WUR;
/*
 * Find four keys whose PRF(Ki, s) end in at least `difficulty` zero bits
 * (0: the best four within the budget) with at most max_work PRF
 * computations. keys gets 4 * *klen octets (4 * CRYPTO_MAX_PRF_LEN room);
 * *zbc the least count, *work the computations made. -1: not found in the
 * budget (or the PRF is unsupported).
 */
int crypto_puzzle_solve(uint16_t prf, const uint8_t *s, size_t slen, unsigned difficulty,
                        uint64_t max_work, uint8_t *keys, size_t *klen, unsigned *zbc,
                        uint64_t *work) WUR;

/* ---- key derivation (RFC 7296 2.14, 2.17, 2.18) ---- */

struct crypto_ike_suite {
	uint16_t encr;
	uint16_t encr_keybits; /* from the Key Length attribute; 0 when the cipher has none */
	uint16_t integ;        /* IKEV2_AUTH_NONE for AEAD */
	uint16_t prf;
	uint16_t dh;
};

struct crypto_ike_keys {
	uint8_t sk_d[CRYPTO_MAX_PRF_LEN];
	uint8_t sk_ai[CRYPTO_MAX_PRF_LEN], sk_ar[CRYPTO_MAX_PRF_LEN];
	uint8_t sk_ei[CRYPTO_MAX_KEY_LEN], sk_er[CRYPTO_MAX_KEY_LEN];
	uint8_t sk_pi[CRYPTO_MAX_PRF_LEN], sk_pr[CRYPTO_MAX_PRF_LEN];
	size_t d_len, a_len, e_len, p_len;
};

/* SKEYSEED = prf(Ni | Nr, g^ir) (2.14). For PRFs with fixed key sizes
 * (AES-XCBC), Ni | Nr is used as 2.14 describes (first half of each nonce). */
int crypto_skeyseed(uint16_t prf, const struct crypto_chunk *ni, const struct crypto_chunk *nr,
                    const struct crypto_chunk *gir, uint8_t *out) WUR;
/* SKEYSEED = prf(SK_d(old), g^ir(new) | Ni | Nr) (2.18). */
int crypto_rekey_skeyseed(uint16_t prf_old, const uint8_t *sk_d, size_t sk_d_len,
                          const struct crypto_chunk *gir, const struct crypto_chunk *ni,
                          const struct crypto_chunk *nr, uint8_t *out) WUR;
/* {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr).
 */
int crypto_ike_keymat(const struct crypto_ike_suite *s, const uint8_t *skeyseed,
                      const struct crypto_chunk *ni, const struct crypto_chunk *nr,
                      const uint8_t spi_i[8], const uint8_t spi_r[8],
                      struct crypto_ike_keys *k) WUR;
/* KEYMAT = prf+(SK_d, [g^ir(new) |] Ni | Nr) (2.17); gir may be NULL. */
int crypto_child_keymat(uint16_t prf, const uint8_t *sk_d, size_t sk_d_len,
                        const struct crypto_chunk *gir, const struct crypto_chunk *ni,
                        const struct crypto_chunk *nr, uint8_t *out, size_t outlen) WUR;
void crypto_ike_keys_wipe(struct crypto_ike_keys *k);

/* ---- integrity (RFC 7296 3.3.2; RFC 4868) ---- */

size_t crypto_integ_key_len(uint16_t integ); /* 0 if unsupported */
size_t crypto_integ_icv_len(uint16_t integ); /* truncated output */

struct crypto_integ;
struct crypto_integ *crypto_integ_new(uint16_t integ, const uint8_t *key, size_t keylen);
void crypto_integ_free(struct crypto_integ *c);
int crypto_integ_compute(struct crypto_integ *c, const struct crypto_chunk *in, size_t nin,
                         uint8_t *icv) WUR;
/* Constant-time comparison against the received ICV; 0 when it verifies. */
int crypto_integ_verify(struct crypto_integ *c, const struct crypto_chunk *in, size_t nin,
                        const uint8_t *icv) WUR;

/* ---- encryption (AES-CBC, AES-CTR (RFC 5930), AES-GCM (RFC 4106, 5282),
 *      AES-CCM (RFC 4309, 5282), ChaCha20-Poly1305 (RFC 7634)) ---- */

struct crypto_encr_info {
	size_t key_len;   /* octets of keying material, salt included */
	size_t salt_len;  /* trailing salt octets of key_len (CTR, GCM, CCM, ChaCha) */
	size_t iv_len;    /* explicit IV on the wire */
	size_t block_len; /* padding unit: 16 for CBC, 1 for stream and AEAD modes */
	size_t icv_len;   /* AEAD tag; 0 for non-AEAD */
	bool aead;
};

/* Whether an ENCR transform ID is a combined-mode (AEAD) cipher (RFC 5282). */
bool crypto_encr_is_aead(uint16_t encr);
/* Fill info for a transform and key length in bits (0 = the cipher's only size). */
int crypto_encr_info(uint16_t encr, uint16_t keybits, struct crypto_encr_info *info) WUR;

struct crypto_cipher;
/* key is key_len octets (with the salt); encrypt selects the direction. */
struct crypto_cipher *crypto_cipher_new(uint16_t encr, uint16_t keybits, const uint8_t *key,
                                        size_t keylen, bool encrypt);
/* The same, for both directions: seal and open (IKE SK payloads). */
struct crypto_cipher *crypto_cipher_new_duplex(uint16_t encr, uint16_t keybits, const uint8_t *key,
                                               size_t keylen);
void crypto_cipher_free(struct crypto_cipher *c);
/*
 * A cipher in memory of the caller's (the data plane keeps its SAs' in the
 * SA's own allocation): crypto_cipher_size() octets aligned as a pointer.
 * crypto_cipher_init() is crypto_cipher_new() there, -1 when the transform
 * or key does not fit (nothing to undo then); crypto_cipher_fini() is
 * crypto_cipher_free() without the free (NULL-safe, the key wiped).
 */
size_t crypto_cipher_size(void);
int crypto_cipher_init(struct crypto_cipher *c, uint16_t encr, uint16_t keybits, const uint8_t *key,
                       size_t keylen, bool encrypt) WUR;
void crypto_cipher_fini(struct crypto_cipher *c);
void crypto_cipher_get_info(const struct crypto_cipher *c, struct crypto_encr_info *info);
/*
 * Encrypt len octets of in to out (in == out allowed). For AEAD, aad is
 * authenticated and the tag written to icv; for CBC, len must be a
 * multiple of the block size. iv is iv_len octets.
 */
int crypto_cipher_seal(struct crypto_cipher *c, const uint8_t *iv, const uint8_t *aad,
                       size_t aadlen, const uint8_t *in, size_t len, uint8_t *out,
                       uint8_t *icv) WUR;
/* Decrypt; for AEAD returns -1 when the tag does not verify (out is then garbage). */
int crypto_cipher_open(struct crypto_cipher *c, const uint8_t *iv, const uint8_t *aad,
                       size_t aadlen, const uint8_t *in, size_t len, uint8_t *out,
                       const uint8_t *icv) WUR;

/*
 * One crypto_cipher holds its key, not an OpenSSL context: each thread keys
 * contexts from a bounded cache of its own when a cipher is used
 * (ctx_cache.c). What a thread's cache did, and what every thread's did
 * (threads counts the live caches; hits and misses include exited threads').
 */
struct crypto_cipher_cache_stats {
	uint64_t hits;     /* the context was still keyed for the cipher */
	uint64_t misses;   /* a context was (re-)keyed */
	uint64_t contexts; /* OpenSSL contexts allocated now */
	uint64_t keyed;    /* of which hold a key */
	uint64_t capacity; /* slots */
	uint64_t threads;
};
void crypto_cipher_cache_stats(struct crypto_cipher_cache_stats *s);     /* calling thread */
void crypto_cipher_cache_stats_all(struct crypto_cipher_cache_stats *s); /* every thread */
/* Tests: free the calling thread's cache; its next one has this many
 * slots (rounded down to a power of two; 0: the default, 1,024). */
void crypto_cipher_cache_set_capacity(size_t contexts);

/* ---- key exchange (RFC 7296 3.4; RFC 3526; RFC 5903; RFC 8031; RFC 6989) ---- */

/* Public value length for a group, or 0 if unsupported. */
size_t crypto_dh_public_len(uint16_t group);

struct crypto_dh;
struct crypto_dh *crypto_dh_new(uint16_t group); /* generates a fresh private value */
void crypto_dh_free(struct crypto_dh *dh);
uint16_t crypto_dh_group(const struct crypto_dh *dh);
/* Our public value in KE payload encoding (padded MODP; x|y for ECP; raw for X25519/X448). */
int crypto_dh_public(const struct crypto_dh *dh, uint8_t *out, size_t *len) WUR;
/*
 * The shared secret g^ir from the peer's KE data, after the RFC 6989
 * checks (MODP: 1 < y < p-1; ECP: point on curve, not infinity;
 * X25519/X448: length, top bit masked as RFC 8031 says, non-zero result).
 * Returns -1 when the value is invalid: the caller answers INVALID_SYNTAX
 * or drops as RFC 6989 says.
 */
int crypto_dh_shared(struct crypto_dh *dh, const uint8_t *peer, size_t peerlen, uint8_t *out,
                     size_t *outlen) WUR;
/*
 * Key pairs made on another thread (the IKE engine's crypto workers):
 * crypto_dh_seed() runs on the thread that owns the random source and
 * draws what crypto_dh_new_seeded() then needs on any thread. With a test
 * source installed (crypto_set_random) that is the private value itself,
 * so work done elsewhere replays exactly; otherwise nothing (*len 0) and
 * the key is generated from OpenSSL's DRBG, which is thread-safe. Each
 * crypto_dh is used by one thread at a time; crypto_dh_new() is the two
 * steps at once. out holds CRYPTO_DH_SEED_MAX octets; wipe it after use.
 */
#define CRYPTO_DH_SEED_MAX 66
int crypto_dh_seed(uint16_t group, uint8_t *out, size_t *len) WUR;
struct crypto_dh *crypto_dh_new_seeded(uint16_t group, const uint8_t *seed, size_t len);
/*
 * A second handle on the same key pair (RFC 7296 2.12: a responder may
 * reuse its exponential for several IKE SAs). Handles of one key pair may
 * compute shared secrets on different threads at once (the key is only
 * read); the private value goes when the last handle is freed.
 */
struct crypto_dh *crypto_dh_dup(const struct crypto_dh *dh);
/* For known-answer tests: a DH object with a given private value. */
struct crypto_dh *crypto_dh_new_private(uint16_t group, const uint8_t *priv, size_t privlen);

/* ---- misc ---- */

/* Constant-time equality (CRYPTO_memcmp); 0 when equal. */
int crypto_memcmp(const void *a, const void *b, size_t len);
void crypto_wipe(void *p, size_t len);
/* SHA-256 for digests of stored tokens, NAT detection uses SHA-1. */
int crypto_sha1(const struct crypto_chunk *in, size_t nin, uint8_t out[20]) WUR;
int crypto_sha256(const struct crypto_chunk *in, size_t nin, uint8_t out[32]) WUR;
/* Hex digits (pairs, either case, no prefix or separators) into at most
 * cap octets; *len octets written. An empty string gives 0 octets.
 * -1 on an odd length, a non-hex character or more than cap octets. */
int crypto_hex_decode(const char *s, uint8_t *out, size_t cap, size_t *len) WUR;

#endif
