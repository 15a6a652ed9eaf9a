/*
 * Properties that need no published vector: every encryption transform and
 * key size seals and opens at many lengths (in place too, and with one
 * cached cipher object over many packets), AEAD tag, ciphertext and AAD
 * tampering is refused for every ICV length; every integrity transform
 * verifies its own ICV and refuses a tampered one; keymat for AEAD suites;
 * the misc helpers and the random source switch. The per-thread cipher
 * context cache (src/crypto/ctx_cache.c): LRU eviction counted exactly,
 * a freed cipher's slot reset, one cipher used by two threads in turn.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "wire/ikev2.h"

struct suite {
	uint16_t encr, bits;
	size_t key_len, salt_len, iv_len, block_len, icv_len;
};

static const struct suite suites[] = {
    {IKEV2_ENCR_3DES, 0, 24, 0, 8, 8, 0},
    {IKEV2_ENCR_AES_CBC, 128, 16, 0, 16, 16, 0},
    {IKEV2_ENCR_AES_CBC, 192, 24, 0, 16, 16, 0},
    {IKEV2_ENCR_AES_CBC, 256, 32, 0, 16, 16, 0},
    {IKEV2_ENCR_AES_CTR, 128, 20, 4, 8, 1, 0},
    {IKEV2_ENCR_AES_CTR, 192, 28, 4, 8, 1, 0},
    {IKEV2_ENCR_AES_CTR, 256, 36, 4, 8, 1, 0},
    {IKEV2_ENCR_AES_GCM_8, 128, 20, 4, 8, 1, 8},
    {IKEV2_ENCR_AES_GCM_12, 192, 28, 4, 8, 1, 12},
    {IKEV2_ENCR_AES_GCM_16, 256, 36, 4, 8, 1, 16},
    {IKEV2_ENCR_AES_GCM_16, 128, 20, 4, 8, 1, 16},
    {IKEV2_ENCR_AES_CCM_8, 128, 19, 3, 8, 1, 8},
    {IKEV2_ENCR_AES_CCM_12, 192, 27, 3, 8, 1, 12},
    {IKEV2_ENCR_AES_CCM_16, 256, 35, 3, 8, 1, 16},
    {IKEV2_ENCR_AES_CCM_8, 256, 35, 3, 8, 1, 8},
    {IKEV2_ENCR_CHACHA20_POLY1305, 0, 36, 4, 8, 1, 16},
};

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static void check_info(const struct suite *s)
{
	struct crypto_encr_info info;

	assert_int_equal(crypto_encr_info(s->encr, s->bits, &info), 0);
	assert_int_equal(info.key_len, s->key_len);
	assert_int_equal(info.salt_len, s->salt_len);
	assert_int_equal(info.iv_len, s->iv_len);
	assert_int_equal(info.block_len, s->block_len);
	assert_int_equal(info.icv_len, s->icv_len);
	assert_int_equal(info.aead, s->icv_len > 0);
}

/* An AEAD open with a tampered tag, ciphertext or AAD fails and leaves no plaintext. */
static void check_tamper(struct crypto_cipher *d, const struct suite *s, const uint8_t *iv,
                         const uint8_t *aad, const uint8_t *ct, size_t len, const uint8_t *icv)
{
	uint8_t bad[64], out[64], t[16], a[12];

	if (s->icv_len == 0)
		return;
	memcpy(t, icv, s->icv_len);
	t[s->icv_len - 1] ^= 0x01;
	memset(out, 0xaa, len);
	assert_int_equal(crypto_cipher_open(d, iv, aad, 12, ct, len, out, t), -1);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(out[i], 0); /* wiped, not unauthenticated plaintext */
	if (len > 0) {
		memcpy(bad, ct, len);
		bad[len - 1] ^= 0x80;
		assert_int_equal(crypto_cipher_open(d, iv, aad, 12, bad, len, out, icv), -1);
	}
	memcpy(a, aad, 12);
	a[3] ^= 0x10;
	assert_int_equal(crypto_cipher_open(d, iv, a, 12, ct, len, out, icv), -1);
}

static void round_trip(const struct suite *s, struct crypto_cipher *e, struct crypto_cipher *d,
                       size_t len, uint8_t seed)
{
	uint8_t iv[8 + 8], aad[12], pt[64], ct[64], out[64], icv[16], icv2[16];

	fill(iv, s->iv_len, seed);
	fill(aad, sizeof(aad), (uint8_t)(seed + 1));
	fill(pt, len, (uint8_t)(seed + 2));
	assert_int_equal(crypto_cipher_seal(e, iv, aad, 12, pt, len, ct, icv), 0);
	if (len >= 8)
		assert_memory_not_equal(ct, pt, len);
	assert_int_equal(crypto_cipher_open(d, iv, aad, 12, ct, len, out, icv), 0);
	assert_memory_equal(out, pt, len);
	/* In place: in == out. */
	memcpy(out, pt, len);
	assert_int_equal(crypto_cipher_seal(e, iv, aad, 12, out, len, out, icv2), 0);
	assert_memory_equal(out, ct, len);
	if (s->icv_len > 0)
		assert_memory_equal(icv2, icv, s->icv_len);
	assert_int_equal(crypto_cipher_open(d, iv, aad, 12, out, len, out, icv), 0);
	assert_memory_equal(out, pt, len);
	check_tamper(d, s, iv, aad, ct, len, icv);
}

static void test_ciphers(void **state)
{
	static const size_t lens[] = {0, 1, 2, 15, 16, 17, 31, 32, 33, 48, 64};

	(void)state;
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		const struct suite *s = &suites[i];
		uint8_t key[CRYPTO_MAX_KEY_LEN];
		struct crypto_cipher *e, *d;
		struct crypto_encr_info info;

		check_info(s);
		fill(key, s->key_len, (uint8_t)i);
		e = crypto_cipher_new(s->encr, s->bits, key, s->key_len, true);
		d = crypto_cipher_new(s->encr, s->bits, key, s->key_len, false);
		assert_non_null(e);
		assert_non_null(d);
		crypto_cipher_get_info(e, &info);
		assert_int_equal(info.key_len, s->key_len);
		assert_int_equal(info.iv_len, s->iv_len);
		assert_int_equal(info.icv_len, s->icv_len);
		/* One cached object per direction over many packets. */
		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			if (lens[j] % s->block_len != 0)
				continue;
			round_trip(s, e, d, lens[j], (uint8_t)(j * 13));
		}
		/* Directions are fixed; CBC takes whole blocks only. */
		uint8_t iv[16] = {0}, buf[17] = {0}, icv[16] = {0};
		assert_int_equal(crypto_cipher_open(e, iv, NULL, 0, buf, 16, buf, icv), -1);
		assert_int_equal(crypto_cipher_seal(d, iv, NULL, 0, buf, 16, buf, icv), -1);
		if (s->block_len > 1)
			assert_int_equal(crypto_cipher_seal(e, iv, NULL, 0, buf, 17, buf, icv), -1);
		/* The key length must match the transform exactly. */
		assert_null(crypto_cipher_new(s->encr, s->bits, key, s->key_len - 1, true));
		crypto_cipher_free(e);
		crypto_cipher_free(d);
	}
	crypto_cipher_free(NULL);
}

static void test_cipher_unsupported(void **state)
{
	struct crypto_encr_info info;
	uint8_t key[64] = {0};

	(void)state;
	/* AES needs a Key Length attribute (RFC 7296 3.3.5); fixed-size ciphers take 0 or theirs.
	 */
	assert_int_equal(crypto_encr_info(IKEV2_ENCR_AES_CBC, 0, &info), -1);
	assert_int_equal(crypto_encr_info(IKEV2_ENCR_AES_GCM_16, 64, &info), -1);
	assert_int_equal(crypto_encr_info(IKEV2_ENCR_3DES, 192, &info), 0);
	assert_int_equal(crypto_encr_info(IKEV2_ENCR_3DES, 128, &info), -1);
	assert_int_equal(crypto_encr_info(IKEV2_ENCR_CHACHA20_POLY1305, 256, &info), 0);
	assert_int_equal(crypto_encr_info(IKEV2_ENCR_CHACHA20_POLY1305, 128, &info), -1);
	assert_int_equal(crypto_encr_info(IKEV2_ENCR_DES, 0, &info), -1);
	assert_int_equal(crypto_encr_info(IKEV2_ENCR_CAMELLIA_CBC, 128, &info), -1);
	assert_null(crypto_cipher_new(IKEV2_ENCR_AES_CBC, 0, key, 16, true));
	assert_null(crypto_cipher_new(IKEV2_ENCR_NULL_AUTH_AES_GMAC, 128, key, 20, true));
}

/* Seal 16 octets with c and iv {n}; the ciphertext and tag to out. */
static void seal_n(struct crypto_cipher *c, uint8_t n, uint8_t out[32])
{
	uint8_t iv[8] = {n}, pt[16] = {1, 2, 3, 4};

	assert_int_equal(crypto_cipher_seal(c, iv, pt, 8, pt, 16, out, out + 16), 0);
}

static void assert_stats(uint64_t hits, uint64_t misses, uint64_t contexts, uint64_t keyed)
{
	struct crypto_cipher_cache_stats st;

	crypto_cipher_cache_stats(&st);
	assert_int_equal(st.hits, hits);
	assert_int_equal(st.misses, misses);
	assert_int_equal(st.contexts, contexts);
	assert_int_equal(st.keyed, keyed);
}

/* One set of 4 slots: the least recently used cipher goes, and results
 * stay the same whether a use hit or re-keyed. */
static void test_cache_lru(void **state)
{
	uint8_t key[36], ref[5][32], out[32];
	struct crypto_cipher *c[5];

	(void)state;
	crypto_cipher_cache_set_capacity(4);
	assert_stats(0, 0, 0, 0); /* nothing until first used */
	for (int i = 0; i < 5; i++) {
		fill(key, sizeof(key), (uint8_t)(i * 31));
		/* AES-256-GCM and ChaCha20-Poly1305: slots change EVP_CIPHER too */
		c[i] = i % 2 ? crypto_cipher_new(IKEV2_ENCR_CHACHA20_POLY1305, 0, key, 36, true)
		             : crypto_cipher_new(IKEV2_ENCR_AES_GCM_16, 256, key, 36, true);
		assert_non_null(c[i]);
	}
	for (int i = 0; i < 4; i++)
		seal_n(c[i], 1, ref[i]);
	assert_stats(0, 4, 4, 4);
	seal_n(c[0], 1, out); /* hit; order now 1 2 3 0 */
	assert_memory_equal(out, ref[0], 32);
	assert_stats(1, 4, 4, 4);
	seal_n(c[4], 1, ref[4]); /* evicts 1: 2 3 0 4 */
	assert_stats(1, 5, 4, 4);
	seal_n(c[2], 1, out); /* hit: 3 0 4 2 */
	assert_memory_equal(out, ref[2], 32);
	seal_n(c[1], 1, out); /* re-keyed, evicts 3: 0 4 2 1 */
	assert_memory_equal(out, ref[1], 32);
	assert_stats(2, 6, 4, 4);
	seal_n(c[3], 1, out); /* evicts 0 */
	assert_memory_equal(out, ref[3], 32);
	seal_n(c[0], 1, out); /* evicts 4 */
	assert_memory_equal(out, ref[0], 32);
	assert_stats(2, 8, 4, 4);
	for (int i = 0; i < 5; i++)
		crypto_cipher_free(c[i]);
	crypto_cipher_cache_set_capacity(0);
}

/* Freeing a cipher resets its context (the key schedule is cleansed) and
 * frees its slot: the next cipher takes it without evicting anyone. */
static void test_cache_free_resets(void **state)
{
	uint8_t key[36] = {5}, out[32];
	struct crypto_cipher *a, *b, *c;

	(void)state;
	crypto_cipher_cache_set_capacity(2);
	a = crypto_cipher_new(IKEV2_ENCR_AES_GCM_16, 256, key, 36, true);
	b = crypto_cipher_new(IKEV2_ENCR_AES_GCM_16, 256, key, 36, true);
	c = crypto_cipher_new(IKEV2_ENCR_AES_GCM_16, 256, key, 36, true);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	crypto_cipher_free(a); /* never used: nothing to reset */
	assert_stats(0, 0, 0, 0);
	seal_n(b, 1, out);
	seal_n(c, 1, out);
	assert_stats(0, 2, 2, 2);
	crypto_cipher_free(b);
	assert_stats(0, 2, 2, 1); /* b's context is reset, still allocated */
	seal_n(c, 2, out);
	assert_stats(1, 2, 2, 1); /* c was not evicted */
	b = crypto_cipher_new(IKEV2_ENCR_AES_GCM_16, 256, key, 36, true);
	assert_non_null(b);
	seal_n(b, 1, out); /* b's old slot: no eviction, no new context */
	seal_n(c, 3, out);
	assert_stats(2, 3, 2, 2);
	crypto_cipher_free(b);
	crypto_cipher_free(c);
	assert_stats(2, 3, 2, 0);
	crypto_cipher_cache_set_capacity(0);
}

/* A cipher in the caller's memory (the data plane's SAs hold theirs so)
 * seals as one of its own and fits the bound its SAs are sized for; a
 * transform it cannot do leaves nothing to undo, and fini wipes the key. */
static void test_cipher_in_place(void **state)
{
	uint8_t key[36] = {7}, a[32], b[32], zero[64] = {0};
	_Alignas(8) uint8_t mem[128];
	struct crypto_cipher *heap = crypto_cipher_new(IKEV2_ENCR_AES_GCM_16, 256, key, 36, true);
	struct crypto_cipher *c = (struct crypto_cipher *)mem;

	(void)state;
	assert_true(crypto_cipher_size() <= 56);
	assert_non_null(heap);
	assert_int_equal(crypto_cipher_init(c, IKEV2_ENCR_AES_GCM_16, 256, key, 36, true), 0);
	seal_n(heap, 3, a);
	seal_n(c, 3, b);
	assert_memory_equal(a, b, sizeof(a));
	crypto_cipher_fini(c);
	assert_memory_equal(mem, zero, crypto_cipher_size());
	crypto_cipher_fini(NULL);
	assert_int_equal(crypto_cipher_init(c, IKEV2_ENCR_AES_GCM_16, 256, key, 35, true), -1);
	crypto_cipher_free(heap);
}

/*
 * Re-keying a slot whose context holds the same EVP_CIPHER (only the key
 * goes in): CCM and GCM with other tag lengths, CBC and CCM in the other
 * direction (opening what an earlier entry sealed with the same key). With
 * one slot, each use re-keys it; the results match those of a cache where
 * every cipher keeps its own context, and the openings give back the
 * plaintext.
 */
static void test_cache_same_evp(void **state)
{
	static const struct {
		uint16_t encr, bits;
		size_t key_len;
		int of; /* -1: seals; else opens what entry "of" sealed */
	} v[] = {
	    {IKEV2_ENCR_AES_CCM_16, 256, 35, -1}, {IKEV2_ENCR_AES_CCM_8, 256, 35, -1},
	    {IKEV2_ENCR_AES_GCM_16, 256, 36, -1}, {IKEV2_ENCR_AES_GCM_8, 256, 36, -1},
	    {IKEV2_ENCR_AES_CBC, 256, 32, -1},    {IKEV2_ENCR_AES_CBC, 256, 32, 4},
	    {IKEV2_ENCR_AES_CCM_16, 256, 35, 0},
	};
	enum { N = sizeof(v) / sizeof(v[0]) };
	struct crypto_cipher *c[N];
	uint8_t key[36], ref[N][48], out[48];

	(void)state;
	for (int pass = 0; pass < 2; pass++) {
		crypto_cipher_cache_set_capacity(pass ? 1 : 0);
		for (size_t i = 0; i < N; i++) {
			size_t k = v[i].of < 0 ? i : (size_t)v[i].of;

			fill(key, v[i].key_len, (uint8_t)(k * 11 + 1));
			c[i] =
			    crypto_cipher_new(v[i].encr, v[i].bits, key, v[i].key_len, v[i].of < 0);
			assert_non_null(c[i]);
		}
		for (int round = 0; round < 2; round++) {
			for (size_t i = 0; i < N; i++) {
				int of = v[i].of;
				uint8_t iv[16] = {(uint8_t)(of < 0 ? i : (size_t)of)}, pt[32];

				fill(pt, sizeof(pt), 3);
				memset(out, 0, sizeof(out));
				if (of < 0) {
					assert_int_equal(crypto_cipher_seal(c[i], iv, pt, 8, pt, 32,
					                                    out, out + 32),
					                 0);
				} else {
					assert_int_equal(crypto_cipher_open(c[i], iv, pt, 8,
					                                    ref[of], 32, out,
					                                    ref[of] + 32),
					                 0);
					assert_memory_equal(out, pt, 32);
				}
				if (pass == 0 && round == 0)
					memcpy(ref[i], out, sizeof(out));
				else
					assert_memory_equal(out, ref[i], sizeof(out));
			}
		}
		if (pass == 1)
			assert_stats(0, 2 * N, 1, 1);
		for (size_t i = 0; i < N; i++)
			crypto_cipher_free(c[i]);
	}
	crypto_cipher_cache_set_capacity(0);
}

/* One cipher, two threads taking turns (its owner's lock): each keys a
 * context in its own cache once and hits it after. */
struct turns {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int turn; /* the thread whose go it is, 0 or 1 */
	struct crypto_cipher *e, *d;
	uint8_t out[2][3][32];
	int opened[2][3];
	struct crypto_cipher_cache_stats st[2];
};

struct turn_arg {
	struct turns *t;
	int me;
};

static void *turn_thread(void *p)
{
	struct turn_arg *a = p;
	struct turns *t = a->t;
	uint8_t iv[8], pt[16];

	for (int r = 0; r < 3; r++) {
		pthread_mutex_lock(&t->lock);
		while (t->turn != a->me)
			pthread_cond_wait(&t->cond, &t->lock);
		memset(iv, 0, sizeof(iv));
		iv[0] = (uint8_t)(a->me * 3 + r);
		memset(pt, 0, sizeof(pt));
		pt[0] = 1, pt[1] = 2, pt[2] = 3, pt[3] = 4;
		if (crypto_cipher_seal(t->e, iv, pt, 8, pt, 16, t->out[a->me][r],
		                       t->out[a->me][r] + 16) == 0) {
			uint8_t back[16];

			t->opened[a->me][r] =
			    crypto_cipher_open(t->d, iv, pt, 8, t->out[a->me][r], 16, back,
			                       t->out[a->me][r] + 16) == 0 &&
			    back[0] == 1 && back[3] == 4;
		}
		t->turn = !a->me;
		pthread_cond_broadcast(&t->cond);
		pthread_mutex_unlock(&t->lock);
	}
	crypto_cipher_cache_stats(&t->st[a->me]);
	return NULL;
}

static void test_cache_two_threads(void **state)
{
	struct turns t = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	struct turn_arg a[2] = {{&t, 0}, {&t, 1}};
	struct crypto_cipher_cache_stats all0, all1;
	uint8_t key[36], ref[32];
	pthread_t th[2];

	(void)state;
	crypto_cipher_cache_set_capacity(0); /* this thread: no cache until seal_n */
	fill(key, sizeof(key), 77);
	t.e = crypto_cipher_new(IKEV2_ENCR_AES_GCM_16, 256, key, 36, true);
	t.d = crypto_cipher_new(IKEV2_ENCR_AES_GCM_16, 256, key, 36, false);
	assert_non_null(t.e);
	assert_non_null(t.d);
	crypto_cipher_cache_stats_all(&all0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, turn_thread, &a[i]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < 2; i++) {
		for (int r = 0; r < 3; r++) {
			seal_n(t.e, (uint8_t)(i * 3 + r), ref); /* this thread's context */
			assert_memory_equal(t.out[i][r], ref, 32);
			assert_true(t.opened[i][r]);
		}
		/* e and d keyed once in the thread's cache, then hit twice each */
		assert_int_equal(t.st[i].misses, 2);
		assert_int_equal(t.st[i].hits, 4);
		assert_int_equal(t.st[i].contexts, 2);
	}
	/* Both threads' caches are gone (freed at exit), their counts stay;
	 * this thread's (made by seal_n above) is the one cache more. */
	crypto_cipher_cache_stats_all(&all1);
	assert_int_equal(all1.threads, all0.threads + 1);
	assert_int_equal(all1.misses - all0.misses, 4 + 1);
	crypto_cipher_free(t.e);
	crypto_cipher_free(t.d);
}

static void test_integ(void **state)
{
	static const struct {
		uint16_t integ, prf; /* prf: the same HMAC as a PRF, 0 for XCBC */
		size_t key, icv;
	} v[] = {
	    {IKEV2_AUTH_HMAC_SHA1_96, IKEV2_PRF_HMAC_SHA1, 20, 12},
	    {IKEV2_AUTH_HMAC_SHA1_160, IKEV2_PRF_HMAC_SHA1, 20, 20},
	    {IKEV2_AUTH_AES_XCBC_96, IKEV2_PRF_AES128_XCBC, 16, 12},
	    {IKEV2_AUTH_HMAC_SHA2_256_128, IKEV2_PRF_HMAC_SHA2_256, 32, 16},
	    {IKEV2_AUTH_HMAC_SHA2_384_192, IKEV2_PRF_HMAC_SHA2_384, 48, 24},
	    {IKEV2_AUTH_HMAC_SHA2_512_256, IKEV2_PRF_HMAC_SHA2_512, 64, 32},
	};
	uint8_t key[64], msg[300], icv[32], full[64], icv2[32];

	(void)state;
	fill(msg, sizeof(msg), 3);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct crypto_chunk one = {msg, sizeof(msg)};
		struct crypto_chunk parts[] = {
		    {msg, 1}, {msg + 1, 99}, {NULL, 0}, {msg + 100, 200}};
		struct crypto_integ *c;

		fill(key, v[i].key, (uint8_t)(i + 40));
		assert_int_equal(crypto_integ_key_len(v[i].integ), v[i].key);
		assert_int_equal(crypto_integ_icv_len(v[i].integ), v[i].icv);
		assert_null(crypto_integ_new(v[i].integ, key, v[i].key - 1));
		c = crypto_integ_new(v[i].integ, key, v[i].key);
		assert_non_null(c);
		assert_int_equal(crypto_integ_compute(c, &one, 1, icv), 0);
		/* The ICV is the truncated PRF output under the same key. */
		assert_int_equal(crypto_prf(v[i].prf, key, v[i].key, &one, 1, full), 0);
		assert_memory_equal(icv, full, v[i].icv);
		/* Chunking does not matter; the object is reusable. */
		assert_int_equal(crypto_integ_compute(c, parts, 4, icv2), 0);
		assert_memory_equal(icv, icv2, v[i].icv);
		assert_int_equal(crypto_integ_verify(c, &one, 1, icv), 0);
		assert_int_equal(crypto_integ_verify(c, parts, 4, icv), 0);
		icv[v[i].icv - 1] ^= 0x01;
		assert_int_equal(crypto_integ_verify(c, &one, 1, icv), -1);
		icv[v[i].icv - 1] ^= 0x01;
		msg[150] ^= 0x40;
		assert_int_equal(crypto_integ_verify(c, &one, 1, icv), -1);
		msg[150] ^= 0x40;
		crypto_integ_free(c);
	}
	assert_int_equal(crypto_integ_key_len(IKEV2_AUTH_HMAC_MD5_96), 0);
	assert_null(crypto_integ_new(IKEV2_AUTH_HMAC_MD5_96, key, 16));
	crypto_integ_free(NULL);
}

/* RFC 5282 7: an AEAD IKE SA has no SK_ai/SK_ar; SK_e* carry the salt. */
static void test_keymat_aead(void **state)
{
	struct crypto_ike_suite gcm = {IKEV2_ENCR_AES_GCM_16, 256, 0, IKEV2_PRF_HMAC_SHA2_256,
	                               IKEV2_DH_ECP_256};
	struct crypto_ike_suite cbc = {IKEV2_ENCR_AES_CBC, 128, IKEV2_AUTH_HMAC_SHA2_256_128,
	                               IKEV2_PRF_HMAC_SHA2_256, IKEV2_DH_ECP_256};
	uint8_t ni[32], nr[32], seed[32], spi_i[8], spi_r[8], km[256];
	struct crypto_chunk cni = {ni, 32}, cnr = {nr, 32},
	                    seeds[] = {{ni, 32}, {nr, 32}, {spi_i, 8}, {spi_r, 8}};
	struct crypto_ike_keys k;

	(void)state;
	fill(ni, 32, 1);
	fill(nr, 32, 2);
	fill(seed, 32, 3);
	fill(spi_i, 8, 4);
	fill(spi_r, 8, 5);
	assert_int_equal(crypto_ike_keymat(&gcm, seed, &cni, &cnr, spi_i, spi_r, &k), 0);
	assert_int_equal(k.d_len, 32);
	assert_int_equal(k.a_len, 0);
	assert_int_equal(k.e_len, 36);
	assert_int_equal(k.p_len, 32);
	assert_int_equal(
	    crypto_prf_plus(IKEV2_PRF_HMAC_SHA2_256, seed, 32, seeds, 4, km, 32 + 2 * 36 + 2 * 32),
	    0);
	assert_memory_equal(k.sk_d, km, 32);
	assert_memory_equal(k.sk_ei, km + 32, 36);
	assert_memory_equal(k.sk_er, km + 68, 36);
	assert_memory_equal(k.sk_pi, km + 104, 32);
	assert_memory_equal(k.sk_pr, km + 136, 32);
	crypto_ike_keys_wipe(&k);
	for (size_t i = 0; i < sizeof(k); i++)
		assert_int_equal(((uint8_t *)&k)[i], 0);
	/* AEAD with an integrity transform, or a non-AEAD without one, is refused. */
	gcm.integ = IKEV2_AUTH_HMAC_SHA2_256_128;
	assert_int_equal(crypto_ike_keymat(&gcm, seed, &cni, &cnr, spi_i, spi_r, &k), -1);
	cbc.integ = 0;
	assert_int_equal(crypto_ike_keymat(&cbc, seed, &cni, &cnr, spi_i, spi_r, &k), -1);
	cbc.integ = IKEV2_AUTH_HMAC_SHA2_256_128;
	cbc.prf = IKEV2_PRF_HMAC_MD5;
	assert_int_equal(crypto_ike_keymat(&cbc, seed, &cni, &cnr, spi_i, spi_r, &k), -1);
	assert_int_equal(crypto_prf_len(IKEV2_PRF_HMAC_MD5), 0);
}

static void test_misc(void **state)
{
	static const uint8_t sha1_abc[20] = {0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81,
	                                     0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
	                                     0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d};
	static const uint8_t sha256_abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
	                                       0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
	                                       0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
	                                       0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	struct crypto_chunk abc[] = {{(const uint8_t *)"a", 1}, {(const uint8_t *)"bc", 2}};
	uint8_t out[32], buf[16];

	(void)state;
	/* FIPS 180 "abc", split over two chunks. */
	assert_int_equal(crypto_sha1(abc, 2, out), 0);
	assert_memory_equal(out, sha1_abc, 20);
	assert_int_equal(crypto_sha256(abc, 2, out), 0);
	assert_memory_equal(out, sha256_abc, 32);
	assert_int_equal(crypto_memcmp(sha1_abc, sha1_abc, 20), 0);
	memcpy(buf, sha1_abc, 16);
	buf[15] ^= 1;
	assert_int_not_equal(crypto_memcmp(buf, sha1_abc, 16), 0);
	crypto_wipe(buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	crypto_wipe(NULL, 0);
}

static int fixed_random(void *ctx, void *buf, size_t len)
{
	memset(buf, *(int *)ctx, len);
	return *(int *)ctx == 0xee ? -1 : 0;
}

static void test_random(void **state)
{
	uint8_t a[32] = {0}, b[32] = {0};
	int v = 0x42;

	(void)state;
	assert_int_equal(crypto_random(a, sizeof(a)), 0);
	assert_int_equal(crypto_random(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	crypto_set_random(fixed_random, &v);
	assert_int_equal(crypto_random(a, sizeof(a)), 0);
	for (size_t i = 0; i < sizeof(a); i++)
		assert_int_equal(a[i], 0x42);
	v = 0xee; /* a failing source fails crypto_random */
	assert_int_equal(crypto_random(a, sizeof(a)), -1);
	crypto_set_random(NULL, NULL);
	assert_int_equal(crypto_random(a, sizeof(a)), 0);
	assert_int_equal(crypto_random(a, 0), 0);
}

/*
 * The per-thread pool (random.c): a forked child must not hand out the
 * bytes its parent hands out next (MADV_WIPEONFORK), whatever was drawn
 * before the fork; a pool refill mid-way changes nothing.
 */
static void test_random_fork(void **state)
{
	uint8_t warm[16], parent[48], child[48];
	int fds[2], status;
	pid_t pid;

	(void)state;
	assert_int_equal(crypto_random(warm, sizeof(warm)), 0); /* the pool is filled */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(crypto_random(child, sizeof(child)) != 0 ||
		      write(fds[1], child, sizeof(child)) != (ssize_t)sizeof(child));
	}
	close(fds[1]);
	assert_int_equal(crypto_random(parent, sizeof(parent)), 0);
	assert_int_equal(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_memory_not_equal(parent, child, sizeof(parent));
	/* more than a pool's worth in small draws: no two equal, none zero */
	uint8_t prev[40] = {0}, cur[40], zero[40] = {0};

	for (int i = 0; i < 300; i++) {
		assert_int_equal(crypto_random(cur, sizeof(cur)), 0);
		assert_memory_not_equal(cur, prev, sizeof(cur));
		assert_memory_not_equal(cur, zero, sizeof(cur));
		memcpy(prev, cur, sizeof(cur));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ciphers),
	    cmocka_unit_test(test_cipher_unsupported),
	    cmocka_unit_test(test_integ),
	    cmocka_unit_test(test_keymat_aead),
	    cmocka_unit_test(test_misc),
	    cmocka_unit_test(test_random),
	    cmocka_unit_test(test_random_fork),
	    cmocka_unit_test(test_cache_lru),
	    cmocka_unit_test(test_cache_free_resets),
	    cmocka_unit_test(test_cipher_in_place),
	    cmocka_unit_test(test_cache_same_evp),
	    cmocka_unit_test(test_cache_two_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
