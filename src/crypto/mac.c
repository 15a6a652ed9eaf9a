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
#include <pthread.h>
#include <string.h>

#include "crypto/crypto_impl.h"

struct crypto_mac {
	EVP_MAC_CTX *hmac;        /* HMAC, keyed */
	struct crypto_xcbc *xcbc; /* or AES-XCBC */
	size_t len;
};

/*
 * One keyless HMAC context per digest, made once: a new MAC is a copy of
 * it keyed afresh. Fetching HMAC and its digest by name for every PRF
 * (property queries under a lock, name comparisons) was 6% of a gateway's
 * CPU per SA set up. The copies are taken under a lock: crypto workers
 * derive keys too.
 */
#define HMAC_TEMPLATES 8

static struct {
	pthread_mutex_t lock;
	size_t n;
	struct {
		char digest[32];
		EVP_MAC_CTX *ctx;
	} t[HMAC_TEMPLATES];
} hmac_templates = {.lock = PTHREAD_MUTEX_INITIALIZER};

static EVP_MAC_CTX *hmac_template_new(const char *digest)
{
	static const uint8_t empty[1];
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0),
	    OSSL_PARAM_construct_end(),
	};

	EVP_MAC_free(mac); /* the context holds its own reference */
	/* A zero-length key still needs a non-NULL pointer to count as "set". */
	if (ctx && EVP_MAC_init(ctx, empty, 0, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* A keyless copy of digest's template (made on first use), or NULL. */
static EVP_MAC_CTX *hmac_ctx_for(const char *digest)
{
	EVP_MAC_CTX *tmpl = NULL, *ctx = NULL;
	size_t i;

	if (strlen(digest) >= sizeof(hmac_templates.t[0].digest))
		return NULL;
	pthread_mutex_lock(&hmac_templates.lock);
	for (i = 0; i < hmac_templates.n && !tmpl; i++)
		if (!strcmp(hmac_templates.t[i].digest, digest))
			tmpl = hmac_templates.t[i].ctx;
	if (tmpl) {
		ctx = EVP_MAC_CTX_dup(tmpl);
	} else if ((ctx = hmac_template_new(digest)) && hmac_templates.n < HMAC_TEMPLATES) {
		strcpy(hmac_templates.t[hmac_templates.n].digest, digest);
		hmac_templates.t[hmac_templates.n++].ctx = ctx;
		ctx = EVP_MAC_CTX_dup(ctx);
	} /* else a full table: the new context is used, not kept */
	pthread_mutex_unlock(&hmac_templates.lock);
	return ctx;
}

struct crypto_mac *crypto_mac_new_hmac(const char *digest, const uint8_t *key, size_t keylen)
{
	static const uint8_t empty[1];
	struct crypto_mac *m = OPENSSL_zalloc(sizeof(*m));
	int ok = 0;

	if (m == NULL || (m->hmac = hmac_ctx_for(digest)) == NULL)
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
