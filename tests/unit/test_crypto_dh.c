/*
 * Key exchange: for every supported group two fresh parties agree on g^ir,
 * and the peer values RFC 6989 and RFC 8031 tell us to refuse are refused
 * (MODP 0, 1, p-1, p and above; ECP points off the curve; X25519/X448
 * values that give an all-zero secret; every wrong length). Unsupported
 * groups (MODP 768/1024/1536, RFC 8247 2.4) are not offered.
 *
 * The RFC 3526 primes are taken from libcrypto's BN_get_rfc3526_prime_*
 * here, as an oracle independent of src/crypto.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>

#include "crypto/crypto.h"
#include "wire/ikev2.h"

static const uint16_t all_groups[] = {
    IKEV2_DH_MODP_2048,  IKEV2_DH_MODP_3072, IKEV2_DH_MODP_4096, IKEV2_DH_MODP_6144,
    IKEV2_DH_MODP_8192,  IKEV2_DH_ECP_256,   IKEV2_DH_ECP_384,   IKEV2_DH_ECP_521,
    IKEV2_DH_CURVE25519, IKEV2_DH_CURVE448,
};

static void expect_reject(struct crypto_dh *dh, const uint8_t *peer, size_t len)
{
	uint8_t out[CRYPTO_MAX_DH_LEN];
	size_t n = 0;

	assert_int_equal(crypto_dh_shared(dh, peer, len, out, &n), -1);
}

static void test_agree_all_groups(void **state)
{
	static const size_t pub[] = {256, 384, 512, 768, 1024, 64, 96, 132, 32, 56};
	static const size_t secret[] = {256, 384, 512, 768, 1024, 32, 48, 66, 32, 56};

	(void)state;
	for (size_t i = 0; i < sizeof(all_groups) / sizeof(all_groups[0]); i++) {
		struct crypto_dh *a = crypto_dh_new(all_groups[i]),
		                 *b = crypto_dh_new(all_groups[i]);
		uint8_t qa[CRYPTO_MAX_DH_LEN], qb[CRYPTO_MAX_DH_LEN];
		uint8_t ka[CRYPTO_MAX_DH_LEN], kb[CRYPTO_MAX_DH_LEN];
		size_t la = 0, lb = 0, sa = 0, sb = 0;

		assert_non_null(a);
		assert_non_null(b);
		assert_int_equal(crypto_dh_public_len(all_groups[i]), pub[i]);
		assert_int_equal(crypto_dh_public(a, qa, &la), 0);
		assert_int_equal(crypto_dh_public(b, qb, &lb), 0);
		assert_int_equal(la, pub[i]);
		assert_int_equal(lb, pub[i]);
		assert_memory_not_equal(qa, qb, la);
		assert_int_equal(crypto_dh_shared(a, qb, lb, ka, &sa), 0);
		assert_int_equal(crypto_dh_shared(b, qa, la, kb, &sb), 0);
		assert_int_equal(sa, secret[i]);
		assert_int_equal(sb, secret[i]);
		assert_memory_equal(ka, kb, sa);
		/* RFC 7296 3.4: the KE data length is fixed by the group. */
		expect_reject(a, qb, lb - 1);
		expect_reject(a, qb, lb + 1);
		crypto_dh_free(a);
		crypto_dh_free(b);
	}
}

static void test_unsupported_groups(void **state)
{
	static const uint16_t bad[] = {IKEV2_DH_NONE,
	                               IKEV2_DH_MODP_768,
	                               IKEV2_DH_MODP_1024,
	                               IKEV2_DH_MODP_1536,
	                               IKEV2_DH_MODP_1024_S160,
	                               IKEV2_DH_BRAINPOOLP256R1,
	                               0xffff};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(crypto_dh_public_len(bad[i]), 0);
		assert_null(crypto_dh_new(bad[i]));
		assert_null(crypto_dh_new_private(bad[i], (const uint8_t *)"\x05", 1));
	}
}

/* RFC 6989 2.1: 1 < y < p-1 for the MODP groups. */
static void test_modp_invalid(void **state)
{
	static const struct {
		uint16_t group;
		BIGNUM *(*prime)(BIGNUM *);
	} g[] = {
	    {IKEV2_DH_MODP_2048, BN_get_rfc3526_prime_2048},
	    {IKEV2_DH_MODP_3072, BN_get_rfc3526_prime_3072},
	    {IKEV2_DH_MODP_4096, BN_get_rfc3526_prime_4096},
	    {IKEV2_DH_MODP_6144, BN_get_rfc3526_prime_6144},
	    {IKEV2_DH_MODP_8192, BN_get_rfc3526_prime_8192},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		struct crypto_dh *dh = crypto_dh_new(g[i].group);
		size_t len = crypto_dh_public_len(g[i].group), n = 0;
		uint8_t v[CRYPTO_MAX_DH_LEN], out[CRYPTO_MAX_DH_LEN];
		BIGNUM *p = g[i].prime(NULL);

		assert_non_null(dh);
		assert_non_null(p);
		memset(v, 0, len); /* 0 */
		expect_reject(dh, v, len);
		v[len - 1] = 1; /* 1 */
		expect_reject(dh, v, len);
		v[len - 1] = 2; /* 2 is the generator: a valid value */
		assert_int_equal(crypto_dh_shared(dh, v, len, out, &n), 0);
		assert_int_equal(BN_bn2binpad(p, v, (int)len), (int)len); /* p */
		expect_reject(dh, v, len);
		v[len - 1] -= 1; /* p - 1 (p is odd) */
		expect_reject(dh, v, len);
		/*
		 * p - 2 passes 1 < y < p-1 but lies outside the order-q subgroup
		 * (-1 is a non-residue since p = 3 mod 4, 2 a residue): the full
		 * public-key check refuses it, which honest peers (y = 2^x) never hit.
		 */
		v[len - 1] -= 1;
		expect_reject(dh, v, len);
		memset(v, 0xff, len); /* above p */
		expect_reject(dh, v, len);
		/* A private value must itself be in range. */
		assert_null(crypto_dh_new_private(g[i].group, (const uint8_t *)"\x01", 1));
		BN_free(p);
		crypto_dh_free(dh);
	}
}

/* RFC 6989 2.3: the peer's point must be on the curve. */
static void test_ecp_invalid(void **state)
{
	static const uint16_t g[] = {IKEV2_DH_ECP_256, IKEV2_DH_ECP_384, IKEV2_DH_ECP_521};

	(void)state;
	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		struct crypto_dh *a = crypto_dh_new(g[i]), *b = crypto_dh_new(g[i]);
		uint8_t q[132], v[132];
		size_t len = 0, half;

		assert_non_null(a);
		assert_non_null(b);
		assert_int_equal(crypto_dh_public(b, q, &len), 0);
		half = len / 2;
		memcpy(v, q, len);
		v[len - 1] ^= 1; /* y off by one: not on the curve */
		expect_reject(a, v, len);
		memcpy(v, q, len);
		v[half - 1] ^= 1; /* x changed, y kept */
		expect_reject(a, v, len);
		memset(v, 0, len); /* (0, 0), the nearest thing to infinity x | y can say */
		expect_reject(a, v, len);
		memset(v, 0xff, len); /* coordinates not below p */
		expect_reject(a, v, len);
		expect_reject(a, q, half); /* x alone */
		/* The scalar must be in [1, n-1]. */
		memset(v, 0, sizeof(v));
		assert_null(crypto_dh_new_private(g[i], v, half));
		memset(v, 0xff, half);
		assert_null(crypto_dh_new_private(g[i], v, half));
		crypto_dh_free(a);
		crypto_dh_free(b);
	}
}

/* RFC 8031 2: a small-order peer value gives an all-zero secret, which must be refused. */
static void test_ecx_invalid(void **state)
{
	static const uint16_t g[] = {IKEV2_DH_CURVE25519, IKEV2_DH_CURVE448};

	(void)state;
	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		struct crypto_dh *a = crypto_dh_new(g[i]);
		size_t len = crypto_dh_public_len(g[i]);
		uint8_t v[56];

		assert_non_null(a);
		memset(v, 0, sizeof(v)); /* u = 0 */
		expect_reject(a, v, len);
		v[0] = 1; /* u = 1, a point of small order */
		expect_reject(a, v, len);
		v[0] = 9; /* wrong lengths */
		expect_reject(a, v, len - 1);
		expect_reject(a, v, 0);
		assert_null(crypto_dh_new_private(g[i], v, len - 1));
		crypto_dh_free(a);
	}
}

/* A counter-mode byte stream: deterministic, and not all zero. */
static int counter_random(void *ctx, void *buf, size_t len)
{
	uint32_t *ctr = ctx;
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((*ctr)++ * 0x9e3779b1u >> 24);
	return 0;
}

/* With a test random source, private values (hence public ones) replay exactly. */
static void test_deterministic(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(all_groups) / sizeof(all_groups[0]); i++) {
		uint32_t ctr = 1;
		uint8_t q1[CRYPTO_MAX_DH_LEN], q2[CRYPTO_MAX_DH_LEN];
		size_t l1 = 0, l2 = 0;
		struct crypto_dh *a, *b;

		crypto_set_random(counter_random, &ctr);
		a = crypto_dh_new(all_groups[i]);
		ctr = 1;
		b = crypto_dh_new(all_groups[i]);
		crypto_set_random(NULL, NULL);
		assert_non_null(a);
		assert_non_null(b);
		assert_int_equal(crypto_dh_public(a, q1, &l1), 0);
		assert_int_equal(crypto_dh_public(b, q2, &l2), 0);
		assert_int_equal(l1, l2);
		assert_memory_equal(q1, q2, l1);
		crypto_dh_free(a);
		crypto_dh_free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_agree_all_groups), cmocka_unit_test(test_unsupported_groups),
	    cmocka_unit_test(test_modp_invalid),     cmocka_unit_test(test_ecp_invalid),
	    cmocka_unit_test(test_ecx_invalid),      cmocka_unit_test(test_deterministic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
