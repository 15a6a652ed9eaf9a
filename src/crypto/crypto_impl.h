/*
 * Helpers shared between the files of src/crypto and nothing else: the
 * AES-XCBC-MAC of RFC 3566, which prf.c (RFC 4434) and integ.c
 * (AUTH_AES_XCBC_96) both build on, and the test-randomness switch.
 */
#ifndef RIKE_CRYPTO_IMPL_H
#define RIKE_CRYPTO_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "crypto/crypto.h"

/* A new reference to the named algorithm, fetched once per process
 * (fetch.c); free it with EVP_CIPHER_free / EVP_MD_free. NULL: unknown. */
EVP_CIPHER *crypto_fetch_cipher(const char *name);
EVP_MD *crypto_fetch_md(const char *name);
/* A keyless HMAC context for the named digest, a copy of one made once;
 * key it with EVP_MAC_init, free it with EVP_MAC_CTX_free. */
EVP_MAC_CTX *crypto_fetch_hmac(const char *digest);

/*
 * The calling thread's cipher context for tag (ctx_cache.c): keyed for it
 * already (a hit), or a slot taken from the least recently used one and
 * handed to keyer, which keys it (0) or fails (-1). Tags are never 0 and
 * never reused. The context is borrowed until the thread's next call.
 * NULL: out of memory, or keyer failed.
 */
typedef int (*crypto_ctx_keyer)(EVP_CIPHER_CTX *ctx, const void *arg);
EVP_CIPHER_CTX *crypto_ctx_get(uint64_t tag, crypto_ctx_keyer keyer, const void *arg);
/* Reset the calling thread's context keyed for tag, if it has one. */
void crypto_ctx_drop(uint64_t tag);

#define CRYPTO_XCBC_BLOCK 16

struct crypto_xcbc;
/* key is exactly 16 octets (RFC 3566 2.1). */
struct crypto_xcbc *crypto_xcbc_new(const uint8_t key[CRYPTO_XCBC_BLOCK]);
void crypto_xcbc_free(struct crypto_xcbc *x);
/* The full 128-bit MAC of the concatenated chunks. */
int crypto_xcbc_mac(struct crypto_xcbc *x, const struct crypto_chunk *in, size_t nin,
                    uint8_t out[CRYPTO_XCBC_BLOCK]) WUR;
/* The 128-bit key AES-XCBC-PRF-128 uses for a key of any length (RFC 4434 2). */
int crypto_xcbc_prf_key(const uint8_t *key, size_t keylen, uint8_t out[CRYPTO_XCBC_BLOCK]) WUR;

/*
 * A keyed MAC object (HMAC over an EVP digest, or AES-XCBC), shared by the
 * PRFs (prf.c) and the integrity transforms (integ.c). The key is set once;
 * crypto_mac_run() may be called any number of times.
 */
struct crypto_mac;
/* HMAC with the named EVP digest ("SHA1", "SHA2-256", ...). */
struct crypto_mac *crypto_mac_new_hmac(const char *digest, const uint8_t *key, size_t keylen);
/* AES-XCBC: prf selects RFC 4434 key handling; otherwise key must be 16 octets (RFC 3566). */
struct crypto_mac *crypto_mac_new_xcbc(const uint8_t *key, size_t keylen, bool prf);
void crypto_mac_free(struct crypto_mac *m);
size_t crypto_mac_len(const struct crypto_mac *m);
/* Writes crypto_mac_len() octets to out. */
int crypto_mac_run(struct crypto_mac *m, const struct crypto_chunk *in, size_t nin,
                   uint8_t *out) WUR;

/* True when a test source is installed (random.c); dh.c then draws private
 * values from it too, so exchange tests are reproducible. */
bool crypto_random_is_deterministic(void);

#endif
