/*
 * The keyed cipher contexts, per thread (issue 13, memory per SA). An
 * OpenSSL EVP_CIPHER_CTX with its key schedule costs ~1.2 KB (AES-256-GCM)
 * and most SAs of a gateway are idle, so a crypto_cipher (cipher.c) keeps
 * only its key, and each thread keys contexts from a bounded cache when a
 * cipher is used: set-associative, CACHE_WAYS slots per set, least
 * recently used out, indexed by a hash of the cipher's 64-bit tag. Tags
 * are never reused (an atomic counter in cipher.c), so a cipher freed and
 * another made at the same address cannot hit a stale slot. A miss
 * re-keys the set's LRU slot (~230 ns for AES-256-GCM, a quarter of
 * sealing a 1,400-octet packet).
 *
 * A cipher is used by one thread at a time (its owner locks) but may move
 * between threads over its life (the loop, data-plane workers): each
 * thread's cache is its own, so no lock is taken on the packet path.
 * Freeing a cipher resets its slot in the freeing thread's cache only; a
 * slot of another thread keyed with it keeps that key schedule until the
 * slot is reused (its tag is never looked up again). Contexts are made
 * when first needed, so a thread that never encrypts holds nothing; a
 * thread's cache is freed when it exits (a pthread key destructor), and
 * the thread calling exit() frees its own from atexit.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "crypto/crypto_impl.h"

/*
 * 1,024 contexts per thread: at ~1.2 KB each (AES-256-GCM; ChaCha20-Poly1305
 * and CBC are smaller) a full cache holds ~1.2 MB per thread plus its 24 KB
 * table, against ~2.4 KB per Child SA when every SA kept its own two. That
 * covers 512 Child SAs with traffic in both directions interleaved packet by
 * packet on one thread before misses begin, and a miss costs a re-key, not
 * a failure.
 */
#define CACHE_DEFAULT 1024
#define CACHE_MAX     (1u << 20)
#define CACHE_WAYS    4

struct ctx_slot {
	uint64_t tag;  /* 0: not keyed */
	uint64_t used; /* the cache's clock at the last use; 0 when free */
	EVP_CIPHER_CTX *ctx;
};

struct ctx_cache {
	struct ctx_slot *slot; /* nsets * ways */
	size_t nsets, ways;
	unsigned int shift; /* 64 - log2(nsets) */
	uint64_t clock;
	/* written by the owning thread only, read by crypto_cipher_cache_stats_all */
	_Atomic uint64_t hits, misses, contexts, keyed;
	struct ctx_cache *next, **pprev; /* every thread's cache */
};

static _Thread_local struct ctx_cache *tl_cache;
static _Thread_local size_t tl_capacity; /* 0: CACHE_DEFAULT */

static struct {
	pthread_mutex_t lock;
	pthread_once_t once;
	pthread_key_t key;
	struct ctx_cache *all;
	uint64_t gone_hits, gone_misses; /* of caches freed */
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER, .once = PTHREAD_ONCE_INIT};

/* Only the owning thread writes: a plain load and store, no locked add. */
static void bump(_Atomic uint64_t *v, int64_t by)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + (uint64_t)by,
	                      memory_order_relaxed);
}

static void cache_free(struct ctx_cache *k)
{
	if (!k)
		return;
	pthread_mutex_lock(&reg.lock);
	*k->pprev = k->next;
	if (k->next)
		k->next->pprev = k->pprev;
	reg.gone_hits += atomic_load(&k->hits);
	reg.gone_misses += atomic_load(&k->misses);
	pthread_mutex_unlock(&reg.lock);
	for (size_t i = 0; i < k->nsets * k->ways; i++)
		EVP_CIPHER_CTX_free(k->slot[i].ctx); /* the providers cleanse the key schedules */
	free(k->slot);
	free(k);
}

static void cache_thread_exit(void *k)
{
	cache_free(k);
	tl_cache = NULL;
}

static void cache_process_exit(void)
{
	struct ctx_cache *k = tl_cache;

	if (!k)
		return;
	(void)pthread_setspecific(reg.key, NULL);
	tl_cache = NULL;
	cache_free(k);
}

static void cache_once(void)
{
	if (pthread_key_create(&reg.key, cache_thread_exit) != 0)
		abort(); /* only when the process is out of keys, at start-up */
	atexit(cache_process_exit);
}

static size_t cache_capacity(void)
{
	size_t n = tl_capacity ? tl_capacity : CACHE_DEFAULT, p = 1;

	if (n > CACHE_MAX)
		n = CACHE_MAX;
	while (p * 2 <= n)
		p *= 2;
	return p; /* a power of two, so the set index is a shift */
}

static struct ctx_cache *cache_new(void)
{
	size_t n = cache_capacity();
	struct ctx_cache *k = calloc(1, sizeof(*k));

	pthread_once(&reg.once, cache_once);
	if (!k || !(k->slot = calloc(n, sizeof(*k->slot)))) {
		free(k);
		return NULL;
	}
	k->ways = n < CACHE_WAYS ? n : CACHE_WAYS;
	k->nsets = n / k->ways;
	for (size_t s = k->nsets; s > 1; s /= 2)
		k->shift++;
	k->shift = 64 - k->shift;
	if (pthread_setspecific(reg.key, k) != 0) {
		free(k->slot);
		free(k);
		return NULL;
	}
	pthread_mutex_lock(&reg.lock);
	k->next = reg.all;
	if (k->next)
		k->next->pprev = &k->next;
	k->pprev = &reg.all;
	reg.all = k;
	pthread_mutex_unlock(&reg.lock);
	return k;
}

/* The set of tag: Fibonacci hashing spreads consecutive tags over the sets. */
static struct ctx_slot *cache_set(const struct ctx_cache *k, uint64_t tag)
{
	size_t s = k->nsets > 1 ? (size_t)((tag * 0x9e3779b97f4a7c15u) >> k->shift) : 0;

	return &k->slot[s * k->ways];
}

EVP_CIPHER_CTX *crypto_ctx_get(uint64_t tag, crypto_ctx_keyer keyer, const void *arg)
{
	struct ctx_cache *k = tl_cache;
	struct ctx_slot *set, *v;

	if (!k && !(k = tl_cache = cache_new()))
		return NULL;
	set = cache_set(k, tag);
	v = &set[0];
	for (size_t i = 0; i < k->ways; i++) {
		if (set[i].tag == tag) {
			set[i].used = ++k->clock;
			bump(&k->hits, 1);
			return set[i].ctx;
		}
		if (set[i].used < v->used)
			v = &set[i];
	}
	/* A miss: the least recently used (or a free) slot is keyed anew. */
	if (!v->ctx) {
		if (!(v->ctx = EVP_CIPHER_CTX_new()))
			return NULL;
		bump(&k->contexts, 1);
	}
	if (v->tag == 0)
		bump(&k->keyed, 1);
	v->tag = 0;
	bump(&k->misses, 1);
	if (keyer(v->ctx, arg) != 0) {
		EVP_CIPHER_CTX_reset(v->ctx);
		v->used = 0;
		bump(&k->keyed, -1);
		return NULL;
	}
	v->tag = tag;
	v->used = ++k->clock;
	return v->ctx;
}

void crypto_ctx_drop(uint64_t tag)
{
	struct ctx_cache *k = tl_cache;
	struct ctx_slot *set;

	if (!k)
		return;
	set = cache_set(k, tag);
	for (size_t i = 0; i < k->ways; i++) {
		if (set[i].tag == tag) {
			EVP_CIPHER_CTX_reset(set[i].ctx); /* cleanses the key schedule */
			set[i].tag = 0;
			set[i].used = 0;
			bump(&k->keyed, -1);
			return;
		}
	}
}

static void cache_stats(const struct ctx_cache *k, struct crypto_cipher_cache_stats *s)
{
	s->hits += atomic_load_explicit(&k->hits, memory_order_relaxed);
	s->misses += atomic_load_explicit(&k->misses, memory_order_relaxed);
	s->contexts += atomic_load_explicit(&k->contexts, memory_order_relaxed);
	s->keyed += atomic_load_explicit(&k->keyed, memory_order_relaxed);
	s->capacity += k->nsets * k->ways;
}

void crypto_cipher_cache_stats(struct crypto_cipher_cache_stats *s)
{
	*s = (struct crypto_cipher_cache_stats){0};
	if (tl_cache)
		cache_stats(tl_cache, s);
}

void crypto_cipher_cache_stats_all(struct crypto_cipher_cache_stats *s)
{
	*s = (struct crypto_cipher_cache_stats){0};
	pthread_mutex_lock(&reg.lock);
	for (const struct ctx_cache *k = reg.all; k; k = k->next) {
		cache_stats(k, s);
		s->threads++;
	}
	s->hits += reg.gone_hits;
	s->misses += reg.gone_misses;
	pthread_mutex_unlock(&reg.lock);
}

void crypto_cipher_cache_set_capacity(size_t contexts)
{
	struct ctx_cache *k = tl_cache;

	if (k) {
		(void)pthread_setspecific(reg.key, NULL);
		tl_cache = NULL;
		cache_free(k);
	}
	tl_capacity = contexts;
}
