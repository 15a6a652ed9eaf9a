/*
 * The keyed MAC object behind every PRF (RFC 7296 3.3.2) and integrity
 * transform: HMAC (RFC 2104) through EVP_MAC, or AES-XCBC (RFC 3566,
 * RFC 4434) from xcbc.c. The key is installed once; each run reinitialises
 * the EVP_MAC_CTX with that key, so prf+ and per-message ICVs do not fetch
 * or allocate again.
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "crypto/crypto_impl.h"

struct crypto_mac {
	EVP_MAC_CTX *hmac;        /* HMAC, keyed */
	struct crypto_xcbc *xcbc; /* or AES-XCBC */
	size_t len;
};

struct crypto_mac *crypto_mac_new_hmac(const char *digest, const uint8_t *key, size_t keylen)
{
	static const uint8_t empty[1];
	struct crypto_mac *m = OPENSSL_zalloc(sizeof(*m));
	int ok = 0;

	if (m == NULL || (m->hmac = crypto_fetch_hmac(digest)) == NULL)
		goto out;
	if (EVP_MAC_init(m->hmac, keylen > 0 ? key : empty, keylen, NULL) != 1)
		goto out;
	m->len = EVP_MAC_CTX_get_mac_size(m->hmac);
	ok = m->len > 0 && m->len <= CRYPTO_MAX_PRF_LEN;
out:
	if (!ok) {
		crypto_mac_free(m);
		m = NULL;
	}
	return m;
}

struct crypto_mac *crypto_mac_new_xcbc(const uint8_t *key, size_t keylen, bool prf)
{
	struct crypto_mac *m;
	uint8_t k[CRYPTO_XCBC_BLOCK];

	if (!prf && keylen != CRYPTO_XCBC_BLOCK)
		return NULL;
	m = OPENSSL_zalloc(sizeof(*m));
	if (m == NULL)
		return NULL;
	m->len = CRYPTO_XCBC_BLOCK;
	if (crypto_xcbc_prf_key(key, keylen, k) == 0)
		m->xcbc = crypto_xcbc_new(k);
	OPENSSL_cleanse(k, sizeof(k));
	if (m->xcbc == NULL) {
		crypto_mac_free(m);
		m = NULL;
	}
	return m;
}

void crypto_mac_free(struct crypto_mac *m)
{
	if (m == NULL)
		return;
	EVP_MAC_CTX_free(m->hmac); /* the HMAC provider cleanses its key */
	crypto_xcbc_free(m->xcbc);
	OPENSSL_free(m);
}

size_t crypto_mac_len(const struct crypto_mac *m)
{
	return m->len;
}

static int hmac_run(EVP_MAC_CTX *ctx, const struct crypto_chunk *in, size_t nin, uint8_t *out,
                    size_t len)
{
	size_t outl = 0;

	/* NULL key: restart with the key installed at creation. */
	if (EVP_MAC_init(ctx, NULL, 0, NULL) != 1)
		return -1;
	for (size_t i = 0; i < nin; i++) {
		if (in[i].len > 0 && EVP_MAC_update(ctx, in[i].p, in[i].len) != 1)
			return -1;
	}
	if (EVP_MAC_final(ctx, out, &outl, len) != 1 || outl != len)
		return -1;
	return 0;
}

int crypto_mac_run(struct crypto_mac *m, const struct crypto_chunk *in, size_t nin, uint8_t *out)
{
	if (m->hmac != NULL)
		return hmac_run(m->hmac, in, nin, out, m->len);
	return crypto_xcbc_mac(m->xcbc, in, nin, out);
}
