/*
 * Fetched algorithms, kept: EVP_CIPHER_fetch and EVP_MD_fetch look the name
 * up in the provider's store under a lock with string comparisons, which
 * every new cipher context and digest paid (5% of a gateway's CPU per SA
 * set up). The first fetch of a name is kept for the process's life; each
 * caller gets its own reference, freed as before with EVP_*_free. HMAC the
 * same way: one keyless context per digest is kept, and each caller gets a
 * copy (fetching HMAC and its digest by name for every PRF and ICV key was
 * 6%). Shared under a mutex: crypto workers fetch too.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "crypto/crypto_impl.h"

#define FETCH_MAX 32

struct fetched {
	char name[40];
	void *alg; /* EVP_CIPHER, EVP_MD or a keyless EVP_MAC_CTX */
};

static struct {
	pthread_mutex_t lock;
	struct fetched cipher[FETCH_MAX], md[FETCH_MAX], hmac[FETCH_MAX];
	size_t ncipher, nmd, nhmac;
} fc = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The kept entry of name in t, or a new one (NULL when t is full). */
static struct fetched *slot(struct fetched *t, size_t *n, const char *name, bool *fresh)
{
	*fresh = false;
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(t[i].name, name))
			return &t[i];
	if (*n == FETCH_MAX || strlen(name) >= sizeof(t[0].name))
		return NULL;
	*fresh = true;
	return &t[*n];
}

/* The kinds kept: how to fetch one, and how to hand out a new handle to a
 * kept one (a reference, or a copy; NULL on failure). */
struct kind {
	void *(*fetch)(const char *name);
	void *(*take)(void *alg);
};

static void *cipher_fetch(const char *name)
{
	return EVP_CIPHER_fetch(NULL, name, NULL);
}

static void *cipher_take(void *alg)
{
	return EVP_CIPHER_up_ref(alg) == 1 ? alg : NULL;
}

static void *md_fetch(const char *name)
{
	return EVP_MD_fetch(NULL, name, NULL);
}

static void *md_take(void *alg)
{
	return EVP_MD_up_ref(alg) == 1 ? alg : NULL;
}

/* name: the digest of the HMAC. */
static void *hmac_fetch(const char *name)
{
	static const uint8_t empty[1];
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)name, 0),
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

static void *hmac_take(void *alg)
{
	return EVP_MAC_CTX_dup(alg);
}

/* A new handle to name from t (fetched into it on first use), or one
 * fetched apart when t is full; NULL if the providers do not have it. */
static void *kept(const struct kind *k, struct fetched *t, size_t *n, const char *name)
{
	void *alg = NULL;
	struct fetched *f;
	bool fresh;

	pthread_mutex_lock(&fc.lock);
	f = slot(t, n, name, &fresh);
	if (f && fresh && (f->alg = k->fetch(name))) {
		strcpy(f->name, name);
		(*n)++;
	}
	if (f && f->alg)
		alg = k->take(f->alg);
	pthread_mutex_unlock(&fc.lock);
	return f ? alg : k->fetch(name);
}

EVP_CIPHER *crypto_fetch_cipher(const char *name)
{
	static const struct kind cipher = {cipher_fetch, cipher_take};

	return kept(&cipher, fc.cipher, &fc.ncipher, name);
}

EVP_MD *crypto_fetch_md(const char *name)
{
	static const struct kind md = {md_fetch, md_take};

	return kept(&md, fc.md, &fc.nmd, name);
}

EVP_MAC_CTX *crypto_fetch_hmac(const char *digest)
{
	static const struct kind hmac = {hmac_fetch, hmac_take};

	return kept(&hmac, fc.hmac, &fc.nhmac, digest);
}
