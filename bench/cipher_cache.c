/*
 * What the per-thread cipher context cache (src/crypto/ctx_cache.c) costs a
 * packet: CPU ns per crypto_cipher_seal of one 1,400-octet ESP-sized
 * payload with AES-256-GCM (RFC 4106), when the cipher's context is still
 * keyed (a hit: one SA's traffic) and when every seal finds it evicted (a
 * miss: more ciphers in turn than the cache holds, each re-keyed). The
 * difference is the price of a miss. bench/README.md, "Cipher contexts".
 *
 * Usage: cipher_cache [ITERATIONS]   (default 200,000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "crypto/crypto.h"
#include "wire/ikev2.h"

#define NCIPHERS 64 /* in turn through a 16-slot cache: every use misses */
#define LEN      1400

static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ns per seal cycling through n of the ciphers; -1 on a failed seal. */
static double run(struct crypto_cipher **c, size_t n, long iters, uint8_t *buf)
{
	uint8_t iv[8] = {0}, aad[8] = {0}, icv[16];
	double t0 = cpu_ns();

	for (long i = 0; i < iters; i++) {
		iv[0] = (uint8_t)i;
		if (crypto_cipher_seal(c[(size_t)i % n], iv, aad, 8, buf, LEN, buf, icv))
			return -1;
	}
	return (cpu_ns() - t0) / (double)iters;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 200000;
	static uint8_t buf[LEN];
	struct crypto_cipher *c[NCIPHERS];
	struct crypto_cipher_cache_stats st;
	uint8_t key[36];
	double hit, miss;

	if (iters <= 0)
		return 2;
	crypto_cipher_cache_set_capacity(16);
	for (size_t i = 0; i < NCIPHERS; i++) {
		for (size_t j = 0; j < sizeof(key); j++)
			key[j] = (uint8_t)(i * 37 + j);
		c[i] = crypto_cipher_new(IKEV2_ENCR_AES_GCM_16, 256, key, sizeof(key), true);
		if (!c[i])
			return 1;
	}
	if (run(c, 1, 1000, buf) < 0) /* warm-up */
		return 1;
	hit = run(c, 1, iters, buf);
	miss = run(c, NCIPHERS, iters, buf);
	crypto_cipher_cache_stats(&st);
	printf("# AES-256-GCM seal of %d octets, CPU ns per seal, %ld seals each\n", LEN, iters);
	printf("hit %.0f  miss %.0f  (miss - hit %.0f)  hits %llu misses %llu contexts %llu\n", hit,
	       miss, miss - hit, (unsigned long long)st.hits, (unsigned long long)st.misses,
	       (unsigned long long)st.contexts);
	for (size_t i = 0; i < NCIPHERS; i++)
		crypto_cipher_free(c[i]);
	return hit < 0 || miss < 0;
}
