/*
 * Fetched algorithms, kept: EVP_CIPHER_fetch and EVP_MD_fetch look the name
 * up in the provider's store under a lock with string comparisons, which
 * every new cipher context and digest paid (5% of a gateway's CPU per SA
 * set up). The first fetch of a name is kept for the process's life; each
 * caller gets its own reference, freed as before with EVP_*_free. Shared
 * under a mutex: crypto workers fetch too.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>

#include "crypto/crypto_impl.h"

#define FETCH_MAX 32

struct fetched {
	char name[40];
	void *alg; /* EVP_CIPHER or EVP_MD */
};

static struct {
	pthread_mutex_t lock;
	struct fetched cipher[FETCH_MAX], md[FETCH_MAX];
	size_t ncipher, nmd;
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

/* The kinds kept: how to fetch one and take a reference. */
struct kind {
	void *(*fetch)(const char *name);
	int (*up_ref)(void *alg);
};

static void *cipher_fetch(const char *name)
{
	return EVP_CIPHER_fetch(NULL, name, NULL);
}

static int cipher_up_ref(void *alg)
{
	return EVP_CIPHER_up_ref(alg);
}

static void *md_fetch(const char *name)
{
	return EVP_MD_fetch(NULL, name, NULL);
}

static int md_up_ref(void *alg)
{
	return EVP_MD_up_ref(alg);
}

/* A new reference to name from t (fetched into it on first use), or one
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
	if (f && f->alg && k->up_ref(f->alg) == 1)
		alg = f->alg;
	pthread_mutex_unlock(&fc.lock);
	return f ? alg : k->fetch(name);
}

EVP_CIPHER *crypto_fetch_cipher(const char *name)
{
	static const struct kind cipher = {cipher_fetch, cipher_up_ref};

	return kept(&cipher, fc.cipher, &fc.ncipher, name);
}

EVP_MD *crypto_fetch_md(const char *name)
{
	static const struct kind md = {md_fetch, md_up_ref};

	return kept(&md, fc.md, &fc.nmd, name);
}
