/*
 * Client puzzles (RFC 8019 4.4, 7.1.3, 7.2.3): given an unpredictable
 * string S and a PRF, find four different keys K1..K4 of one size such
 * that every PRF(Ki, S) ends in at least `difficulty` zero bits; and the
 * responder's check of such keys. The PRFs are those of prf.c.
 *
 * The solver's keys are a counter in the key's octets: with an HMAC PRF
 * four octets (8.2: "in most cases, the keys will be 4 (or even less)
 * octets"), with AES-XCBC-PRF-128 the 16 its key must have. The work is
 * bounded by the caller in PRF computations, so that the event loop is
 * never held for longer than the configuration says.
 */
#include <string.h>

#include "crypto/crypto_impl.h"
#include "wire/ikev2.h"

#define PUZZLE_KEYS 4

/* The key size the solver uses and the sizes the checker accepts (RFC 8019 8.2). */
static bool fixed_key(uint16_t prf)
{
	return prf == IKEV2_PRF_AES128_XCBC;
}

size_t crypto_puzzle_key_len(uint16_t prf)
{
	if (!crypto_prf_len(prf))
		return 0;
	return fixed_key(prf) ? crypto_prf_key_len(prf) : 4;
}

/* Trailing zero bits of out[0..len) read as one big-endian number. */
static unsigned trailing_zeros(const uint8_t *out, size_t len)
{
	unsigned n = 0;

	for (size_t i = len; i-- > 0;) {
		uint8_t b = out[i];

		if (b) {
			while (!(b & 1)) {
				b >>= 1;
				n++;
			}
			return n;
		}
		n += 8;
	}
	return n;
}

int crypto_puzzle_zbc(uint16_t prf, const uint8_t *key, size_t klen, const uint8_t *s, size_t slen,
                      unsigned *zbc)
{
	uint8_t out[CRYPTO_MAX_PRF_LEN];
	struct crypto_chunk in = {s, slen};

	if (crypto_prf(prf, key, klen, &in, 1, out) < 0)
		return -1;
	*zbc = trailing_zeros(out, crypto_prf_len(prf));
	return 0;
}

/* RFC 8019 7.1.4, 7.2.4: all four keys are checked, and the smallest count is the solution's. */
int crypto_puzzle_check(uint16_t prf, const uint8_t *const keys[4], size_t klen, const uint8_t *s,
                        size_t slen, unsigned *min_zbc)
{
	unsigned z, least = ~0u;

	if (!crypto_prf_len(prf) || klen == 0 || klen > crypto_prf_key_len(prf) ||
	    (fixed_key(prf) && klen != crypto_prf_key_len(prf)))
		return -1;
	for (unsigned i = 0; i < PUZZLE_KEYS; i++) {
		for (unsigned j = 0; j < i; j++)
			if (!memcmp(keys[i], keys[j], klen))
				return -1; /* 7.1.3: "four different keys" */
		if (crypto_puzzle_zbc(prf, keys[i], klen, s, slen, &z) < 0)
			return -1;
		if (z < least)
			least = z;
	}
	*min_zbc = least;
	return 0;
}

static void put_counter(uint8_t *key, size_t klen, uint64_t v)
{
	memset(key, 0, klen);
	for (size_t i = klen; i-- > 0 && v; v >>= 8)
		key[i] = (uint8_t)v;
}

/*
 * Keep the best four keys seen (by trailing zeros), the weakest in
 * best[0] after each insertion, so that the solution's strength is zbc[0].
 */
struct best4 {
	uint8_t key[PUZZLE_KEYS][CRYPTO_MAX_PRF_LEN];
	unsigned zbc[PUZZLE_KEYS];
	unsigned n;
};

static void best_add(struct best4 *b, const uint8_t *key, size_t klen, unsigned z)
{
	unsigned w = 0;

	if (b->n < PUZZLE_KEYS) {
		w = b->n++;
	} else {
		for (unsigned i = 1; i < PUZZLE_KEYS; i++)
			if (b->zbc[i] < b->zbc[w])
				w = i;
		if (z <= b->zbc[w])
			return;
	}
	memcpy(b->key[w], key, klen);
	b->zbc[w] = z;
}

static unsigned best_min(const struct best4 *b)
{
	unsigned m = ~0u;

	for (unsigned i = 0; i < b->n; i++)
		if (b->zbc[i] < m)
			m = b->zbc[i];
	return m;
}

int crypto_puzzle_solve(uint16_t prf, const uint8_t *s, size_t slen, unsigned difficulty,
                        uint64_t max_work, uint8_t *keys, size_t *klen, unsigned *zbc,
                        uint64_t *work)
{
	size_t kl = crypto_puzzle_key_len(prf);
	struct best4 b = {.n = 0};
	uint8_t key[CRYPTO_MAX_PRF_LEN];
	unsigned z;
	uint64_t i;

	*work = 0;
	if (!kl || difficulty > 8 * CRYPTO_MAX_PRF_LEN)
		return -1;
	for (i = 0; i < max_work; i++) {
		put_counter(key, kl, i);
		if (crypto_puzzle_zbc(prf, key, kl, s, slen, &z) < 0)
			return -1;
		/* 7.1.1.1: difficulty 0 asks for as much as we can afford: the
		 * whole budget, keeping the best four; otherwise stop once four
		 * keys meet the difficulty. */
		if (difficulty == 0 || z >= difficulty)
			best_add(&b, key, kl, z);
		if (difficulty && b.n == PUZZLE_KEYS)
			break;
	}
	*work = i < max_work ? i + 1 : max_work;
	if (b.n < PUZZLE_KEYS)
		return -1;
	for (unsigned k = 0; k < PUZZLE_KEYS; k++)
		memcpy(keys + k * kl, b.key[k], kl);
	*klen = kl;
	*zbc = best_min(&b);
	return 0;
}
