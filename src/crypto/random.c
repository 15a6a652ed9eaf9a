/*
 * Random bytes for nonces, SPIs, IVs and private values. By default they
 * come from OpenSSL's DRBG (RAND_bytes); tests install a deterministic
 * source with crypto_set_random() so that two in-process peers replay the
 * same exchange bit for bit.
 *
 * Small requests are served from a per-thread pool refilled by one
 * RAND_bytes call: each call takes the DRBG's lock and checks for a fork
 * (a getpid system call), which came to 7% of a gateway's CPU per SA set
 * up when every SPI, nonce and IV asked for its own. Bytes handed out are
 * wiped from the pool. The pool's page is MADV_WIPEONFORK: a child starts
 * with an empty pool, never with its parent's bytes. Where the kernel does
 * not offer that, there is no pool.
 */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "crypto/crypto.h"
#include "crypto/crypto_impl.h"

#define POOL_PAGE 4096
#define POOL_MAX  64 /* larger requests go to the DRBG directly */

struct pool {
	size_t avail; /* 0 after a fork: the page is wiped */
	uint8_t buf[POOL_PAGE - sizeof(size_t)];
};

static crypto_random_fn random_fn;
static void *random_ctx;
static pthread_key_t pool_key;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static bool pool_key_ok;
static _Thread_local struct pool *pool;
static _Thread_local bool pool_failed;

void crypto_set_random(crypto_random_fn fn, void *ctx)
{
	random_fn = fn;
	random_ctx = fn != NULL ? ctx : NULL;
}

bool crypto_random_is_deterministic(void)
{
	return random_fn != NULL;
}

static void pool_free(void *p)
{
	OPENSSL_cleanse(p, POOL_PAGE);
	munmap(p, POOL_PAGE);
}

static void pool_key_init(void)
{
	pool_key_ok = pthread_key_create(&pool_key, pool_free) == 0;
}

/* This thread's pool, or NULL (no MADV_WIPEONFORK, no memory). */
static struct pool *pool_get(void)
{
	void *p;

	if (pool || pool_failed)
		return pool;
	pool_failed = true;
	if (pthread_once(&pool_once, pool_key_init) != 0 || !pool_key_ok)
		return NULL;
	p = mmap(NULL, POOL_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (madvise(p, POOL_PAGE, MADV_WIPEONFORK) != 0 || pthread_setspecific(pool_key, p) != 0) {
		munmap(p, POOL_PAGE);
		return NULL;
	}
	pool_failed = false;
	return pool = p;
}

static int drbg(uint8_t *p, size_t len)
{
	while (len > 0) {
		int n = len > INT_MAX ? INT_MAX : (int)len;

		if (RAND_bytes(p, n) != 1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int crypto_random(void *buf, size_t len)
{
	struct pool *pl;

	if (random_fn != NULL)
		return random_fn(random_ctx, buf, len) == 0 ? 0 : -1;
	if (len > POOL_MAX || !(pl = pool_get()))
		return drbg(buf, len);
	if (pl->avail < len) {
		if (drbg(pl->buf, sizeof(pl->buf)) < 0)
			return -1;
		pl->avail = sizeof(pl->buf);
	}
	pl->avail -= len;
	memcpy(buf, pl->buf + pl->avail, len);
	OPENSSL_cleanse(pl->buf + pl->avail, len);
	return 0;
}
