/*
 * Known-answer tests from RFCs: ChaCha20-Poly1305 in ESP and in the IKEv2
 * SK payload (RFC 7634 A, B), X25519 in IKEv2 (RFC 8031 A), X448
 * (RFC 7748 6.2), ECP-256 (RFC 5903 8.1), prf+ with HMAC-SHA-256,
 * AES-XCBC-MAC (RFC 3566) and AES-XCBC-PRF-128 (RFC 4434), AES-CTR
 * (RFC 3686), AES-CBC (RFC 3602), AES-GCM (GCM specification test case 4, as RFC 4106 uses it)
 * and the HMAC integrity transforms (RFC 2202, RFC 4868). The cipher
 * vectors run twice: the second time with a two-context cache
 * (src/crypto/ctx_cache.c) and, before every seal and open, three other
 * ciphers (AES-CCM, 3DES, AES-128-CBC) that evict the vector's contexts,
 * so each use re-keys a slot another EVP_CIPHER held.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "crypto_test_util.h"
#include "wire/ikev2.h"

#define IKE_FILE "rfc-ike-vectors.txt"
#define RFC_FILE "rfc-crypto-vectors.txt"

static int n_vectors;

/* The evicting ciphers, with what each gave when first used. */
#define N_THRASH 3
static struct crypto_cipher *thrash[N_THRASH];
static uint8_t thrash_ref[N_THRASH][32 + 16];
static unsigned n_thrash;

static void thrash_use(uint8_t out[N_THRASH][32 + 16])
{
	static const uint8_t iv[16] = {9}, pt[32] = {1, 2, 3};

	for (size_t i = 0; i < N_THRASH; i++) {
		struct crypto_encr_info in;

		crypto_cipher_get_info(thrash[i], &in);
		memset(out[i], 0, sizeof(out[i]));
		if (in.icv_len)
			assert_int_equal(
			    crypto_cipher_seal(thrash[i], iv, pt, 8, pt, 32, out[i], out[i] + 32),
			    0);
		else /* CBC decryption: any whole blocks */
			assert_int_equal(
			    crypto_cipher_open(thrash[i], iv, NULL, 0, pt, 32, out[i], NULL), 0);
	}
}

/* Between the vector's uses: evict its contexts (when thrashing). */
static void thrash_now(void)
{
	uint8_t out[N_THRASH][32 + 16];

	if (!thrash[0])
		return;
	thrash_use(out);
	assert_memory_equal(out, thrash_ref, sizeof(out));
	n_thrash++;
}

static int small_cache(void **state)
{
	static const uint8_t key[35] = {7, 6, 5};

	(void)state;
	crypto_cipher_cache_set_capacity(2);
	thrash[0] = crypto_cipher_new(IKEV2_ENCR_AES_CCM_16, 256, key, 35, true);
	thrash[1] = crypto_cipher_new(IKEV2_ENCR_3DES, 0, key, 24, false);
	thrash[2] = crypto_cipher_new(IKEV2_ENCR_AES_CBC, 128, key, 16, false);
	for (size_t i = 0; i < N_THRASH; i++)
		if (!thrash[i])
			return -1;
	thrash_use(thrash_ref);
	n_vectors = 0;
	return 0;
}

#define GET(file, sec, name, buf) tu_section_hex(file, sec, name, buf, sizeof(buf))

/* Seal must give ct | tag, open must give back pt, and a flipped tag bit must fail. */
static void aead_kat(uint16_t encr, uint16_t bits, const uint8_t *key, size_t keylen,
                     const uint8_t *iv, const uint8_t *aad, size_t aadlen, const uint8_t *pt,
                     size_t len, const uint8_t *ct, const uint8_t *tag)
{
	struct crypto_cipher *e = crypto_cipher_new(encr, bits, key, keylen, true);
	struct crypto_cipher *d = crypto_cipher_new(encr, bits, key, keylen, false);
	uint8_t out[512], icv[16];
	struct crypto_encr_info info;
	size_t icvlen;

	assert_non_null(e);
	assert_non_null(d);
	crypto_cipher_get_info(e, &info);
	icvlen = info.icv_len;
	for (int round = 0; round < 2; round++) { /* the second with the contexts keyed, or not */
		thrash_now();
		assert_int_equal(crypto_cipher_seal(e, iv, aad, aadlen, pt, len, out, icv), 0);
		assert_memory_equal(out, ct, len);
		if (icvlen > 0)
			assert_memory_equal(icv, tag, icvlen);
		thrash_now();
		assert_int_equal(crypto_cipher_open(d, iv, aad, aadlen, ct, len, out, tag), 0);
		assert_memory_equal(out, pt, len);
	}
	if (icvlen > 0) {
		memcpy(icv, tag, icvlen);
		icv[icvlen - 1] ^= 1;
		thrash_now();
		assert_int_equal(crypto_cipher_open(d, iv, aad, aadlen, ct, len, out, icv), -1);
	}
	crypto_cipher_free(e);
	crypto_cipher_free(d);
	n_vectors++;
}

static void test_chacha20_poly1305(void **state)
{
	const char *b = "RFC 7634 Appendix B", *a = "RFC 7634 Appendix A";
	uint8_t key[36], iv[8], aad[64], pt[256], ctt[256];
	long aadlen, len, ctlen;

	(void)state;
	assert_int_equal(GET(IKE_FILE, b, "KEY", key), 32);
	assert_int_equal(tu_section_hex(IKE_FILE, b, "SALT", key + 32, 4), 4);
	assert_int_equal(tu_section_hex(IKE_FILE, b, "IV", iv, sizeof(iv)), 8);
	/* Appendix B: an INFORMATIONAL message's SK payload. */
	aadlen = GET(IKE_FILE, b, "AAD", aad);
	len = GET(IKE_FILE, b, "PLAINTEXT", pt);
	ctlen = GET(IKE_FILE, b, "CIPHERTEXT_AND_TAG", ctt);
	assert_int_equal(ctlen, len + 16);
	aead_kat(IKEV2_ENCR_CHACHA20_POLY1305, 0, key, 36, iv, aad, (size_t)aadlen, pt, (size_t)len,
	         ctt, ctt + len);
	/* Appendix A: an ESP packet, same key, salt and IV. */
	aadlen = GET(IKE_FILE, a, "AAD", aad);
	len = GET(IKE_FILE, a, "PLAINTEXT", pt);
	ctlen = GET(IKE_FILE, a, "CIPHERTEXT_AND_TAG", ctt);
	assert_int_equal(ctlen, len + 16);
	aead_kat(IKEV2_ENCR_CHACHA20_POLY1305, 256, key, 36, iv, aad, (size_t)aadlen, pt,
	         (size_t)len, ctt, ctt + len);
}

static void test_aes_gcm(void **state)
{
	const char *s = "McGrew-Viega GCM";
	uint8_t key[20], iv[8], aad[20], pt[60], ct[60], tag[16];
	static const uint16_t gcm[] = {IKEV2_ENCR_AES_GCM_8, IKEV2_ENCR_AES_GCM_12,
	                               IKEV2_ENCR_AES_GCM_16};

	(void)state;
	assert_int_equal(GET(RFC_FILE, s, "KEY", key), 20);
	assert_int_equal(GET(RFC_FILE, s, "IV", iv), 8);
	assert_int_equal(GET(RFC_FILE, s, "AAD", aad), 20);
	assert_int_equal(GET(RFC_FILE, s, "PT", pt), 60);
	assert_int_equal(GET(RFC_FILE, s, "CT", ct), 60);
	assert_int_equal(GET(RFC_FILE, s, "TAG", tag), 16);
	/* RFC 4106 6: the 8- and 12-octet ICVs are the leading octets of the tag. */
	for (size_t i = 0; i < ARRAY_LEN(gcm); i++)
		aead_kat(gcm[i], 128, key, 20, iv, aad, 20, pt, 60, ct, tag);
}

static void test_aes_ctr(void **state)
{
	const char *s = "RFC 3686";
	static const struct {
		const char *k, *iv, *pt, *ct;
		uint16_t bits;
	} v[] = {
	    {"KEY1", "IV1", "PT1", "CT1", 128},
	    {"KEY3", "IV3", "PT3", "CT3", 128},
	    {"KEY7", "IV7", "PT7", "CT7", 256},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(v); i++) {
		uint8_t key[36], iv[8], pt[64], ct[64];
		long klen = GET(RFC_FILE, s, v[i].k, key), len = GET(RFC_FILE, s, v[i].pt, pt);

		assert_int_equal(klen, v[i].bits / 8 + 4);
		assert_int_equal(GET(RFC_FILE, s, v[i].iv, iv), 8);
		assert_int_equal(GET(RFC_FILE, s, v[i].ct, ct), len);
		aead_kat(IKEV2_ENCR_AES_CTR, v[i].bits, key, (size_t)klen, iv, NULL, 0, pt,
		         (size_t)len, ct, NULL);
	}
}

static void test_aes_cbc(void **state)
{
	const char *s = "RFC 3602";

	(void)state;
	for (int i = 1; i <= 2; i++) {
		char kn[8], ivn[8], pn[8], cn[8];
		uint8_t key[16], iv[16], pt[32], ct[32];
		long len;

		snprintf(kn, sizeof(kn), "KEY%d", i);
		snprintf(ivn, sizeof(ivn), "IV%d", i);
		snprintf(pn, sizeof(pn), "PT%d", i);
		snprintf(cn, sizeof(cn), "CT%d", i);
		assert_int_equal(GET(RFC_FILE, s, kn, key), 16);
		assert_int_equal(GET(RFC_FILE, s, ivn, iv), 16);
		len = GET(RFC_FILE, s, pn, pt);
		assert_int_equal(GET(RFC_FILE, s, cn, ct), len);
		aead_kat(IKEV2_ENCR_AES_CBC, 128, key, 16, iv, NULL, 0, pt, (size_t)len, ct, NULL);
	}
}

static void test_xcbc_mac(void **state)
{
	const char *s = "RFC 3566";
	uint8_t key[16], msg[1000], mac[16], out[16];
	struct crypto_integ *integ;

	(void)state;
	assert_int_equal(GET(RFC_FILE, s, "KEY", key), 16);
	integ = crypto_integ_new(IKEV2_AUTH_AES_XCBC_96, key, 16);
	assert_non_null(integ);
	for (int i = 1; i <= 7; i++) {
		char mname[8], cname[8];
		long len = 1000;
		struct crypto_chunk in = {msg, 0};

		snprintf(mname, sizeof(mname), "MSG%d", i);
		snprintf(cname, sizeof(cname), "MAC%d", i);
		if (i == 7)
			memset(msg, 0, sizeof(msg)); /* test case 7: 1000 zero octets */
		else
			len = GET(RFC_FILE, s, mname, msg);
		assert_int_equal(GET(RFC_FILE, s, cname, mac), 16);
		in.len = (size_t)len;
		/* With a 16-octet key, AES-XCBC-PRF-128 is the untruncated MAC (RFC 4434 2). */
		assert_int_equal(crypto_prf(IKEV2_PRF_AES128_XCBC, key, 16, &in, 1, out), 0);
		assert_memory_equal(out, mac, 16);
		/* AES-XCBC-MAC-96 (RFC 3566 2.1) is its first 96 bits. */
		assert_int_equal(crypto_integ_compute(integ, &in, 1, out), 0);
		assert_memory_equal(out, mac, 12);
		assert_int_equal(crypto_integ_verify(integ, &in, 1, mac), 0);
		mac[11] ^= 0x80;
		assert_int_equal(crypto_integ_verify(integ, &in, 1, mac), -1);
		n_vectors++;
	}
	crypto_integ_free(integ);
}

static void test_xcbc_prf(void **state)
{
	const char *s = "RFC 4434";
	uint8_t msg[20], key[18], prf[16], out[16];
	struct crypto_chunk in = {msg, sizeof(msg)};

	(void)state;
	assert_int_equal(GET(RFC_FILE, s, "MSG", msg), 20);
	for (int i = 1; i <= 3; i++) {
		char kname[8], pname[8];
		long klen;

		snprintf(kname, sizeof(kname), "KEY%d", i);
		snprintf(pname, sizeof(pname), "PRF%d", i);
		klen = GET(RFC_FILE, s, kname, key);
		assert_int_equal(GET(RFC_FILE, s, pname, prf), 16);
		assert_int_equal(crypto_prf(IKEV2_PRF_AES128_XCBC, key, (size_t)klen, &in, 1, out),
		                 0);
		assert_memory_equal(out, prf, 16);
		n_vectors++;
	}
	assert_int_equal(crypto_prf_len(IKEV2_PRF_AES128_XCBC), 16);
	assert_int_equal(crypto_prf_key_len(IKEV2_PRF_AES128_XCBC), 16);
}

/* RFC 7296 2.14: with AES-XCBC-PRF-128 only the first 64 bits of each nonce key SKEYSEED. */
static void test_xcbc_skeyseed(void **state)
{
	uint8_t ni[32], nr[32], gir[64], key[16], a[16], b[16];
	struct crypto_chunk cni = {ni, sizeof(ni)}, cnr = {nr, sizeof(nr)}, cg = {gir, sizeof(gir)};

	(void)state;
	for (size_t i = 0; i < sizeof(ni); i++) {
		ni[i] = (uint8_t)i;
		nr[i] = (uint8_t)(0x80 + i);
	}
	memset(gir, 0x5a, sizeof(gir));
	memcpy(key, ni, 8);
	memcpy(key + 8, nr, 8);
	assert_int_equal(crypto_skeyseed(IKEV2_PRF_AES128_XCBC, &cni, &cnr, &cg, a), 0);
	assert_int_equal(crypto_prf(IKEV2_PRF_AES128_XCBC, key, 16, &cg, 1, b), 0);
	assert_memory_equal(a, b, 16);
	cni.len = 7;
	assert_int_equal(crypto_skeyseed(IKEV2_PRF_AES128_XCBC, &cni, &cnr, &cg, a), -1);
}

static void test_prf_plus(void **state)
{
	const char *s = "prf+";
	uint8_t key[20], seed[8], want[122], out[122];
	struct crypto_chunk in;

	(void)state;
	assert_int_equal(GET(IKE_FILE, s, "KEY", key), 20);
	assert_int_equal(GET(IKE_FILE, s, "SEED", seed), 8);
	assert_int_equal(GET(IKE_FILE, s, "OUT_122", want), 122);
	in = (struct crypto_chunk){seed, 8};
	assert_int_equal(crypto_prf_plus(IKEV2_PRF_HMAC_SHA2_256, key, 20, &in, 1, out, 122), 0);
	assert_memory_equal(out, want, 122);
	/* RFC 7296 2.13: at most 255 blocks. */
	assert_int_equal(
	    crypto_prf_plus(IKEV2_PRF_HMAC_SHA2_256, key, 20, &in, 1, NULL, 255 * 32 + 1), -1);
	n_vectors++;
}

static void test_integ_hmac(void **state)
{
	const char *s = "RFC 2202";
	static const struct {
		uint16_t integ;
		const char *k, *m;
		size_t icv;
	} v[] = {
	    {IKEV2_AUTH_HMAC_SHA1_96, "KEY_SHA1", "MAC_SHA1", 12},
	    {IKEV2_AUTH_HMAC_SHA1_160, "KEY_SHA1", "MAC_SHA1", 20},
	    {IKEV2_AUTH_HMAC_SHA2_256_128, "KEY_SHA256", "MAC_SHA256", 16},
	};
	uint8_t msg[8], key[32], mac[32], out[32];
	struct crypto_chunk in = {msg, sizeof(msg)};

	(void)state;
	assert_int_equal(GET(RFC_FILE, s, "MSG", msg), 8);
	for (size_t i = 0; i < ARRAY_LEN(v); i++) {
		long klen = GET(RFC_FILE, s, v[i].k, key);
		struct crypto_integ *c = crypto_integ_new(v[i].integ, key, (size_t)klen);

		GET(RFC_FILE, s, v[i].m, mac);
		assert_non_null(c);
		assert_int_equal(crypto_integ_icv_len(v[i].integ), v[i].icv);
		assert_int_equal(crypto_integ_compute(c, &in, 1, out), 0);
		assert_memory_equal(out, mac, v[i].icv);
		assert_int_equal(crypto_integ_verify(c, &in, 1, mac), 0);
		crypto_integ_free(c);
		n_vectors++;
	}
}

/* Both sides from their private values: public values and g^ir as published. */
static void dh_kat(uint16_t group, const uint8_t *pa, size_t palen, const uint8_t *qa,
                   const uint8_t *pb, size_t pblen, const uint8_t *qb, const uint8_t *shared,
                   size_t slen)
{
	struct crypto_dh *a = crypto_dh_new_private(group, pa, palen);
	struct crypto_dh *b = crypto_dh_new_private(group, pb, pblen);
	size_t plen = crypto_dh_public_len(group), n = 0;
	uint8_t out[CRYPTO_MAX_DH_LEN];

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(crypto_dh_group(a), group);
	assert_int_equal(crypto_dh_public(a, out, &n), 0);
	assert_int_equal(n, plen);
	assert_memory_equal(out, qa, plen);
	assert_int_equal(crypto_dh_public(b, out, &n), 0);
	assert_memory_equal(out, qb, plen);
	assert_int_equal(crypto_dh_shared(a, qb, plen, out, &n), 0);
	assert_int_equal(n, slen);
	assert_memory_equal(out, shared, slen);
	assert_int_equal(crypto_dh_shared(b, qa, plen, out, &n), 0);
	assert_int_equal(n, slen);
	assert_memory_equal(out, shared, slen);
	crypto_dh_free(a);
	crypto_dh_free(b);
	n_vectors++;
}

static void test_x25519(void **state)
{
	const char *s = "RFC 8031";
	uint8_t pi[32], qi[32], pr[32], qr[32], k[32], out[32];
	struct crypto_dh *dh;
	size_t n;

	(void)state;
	assert_int_equal(GET(IKE_FILE, s, "PRIV_I", pi), 32);
	assert_int_equal(GET(IKE_FILE, s, "PUB_I", qi), 32);
	assert_int_equal(GET(IKE_FILE, s, "PRIV_R", pr), 32);
	assert_int_equal(GET(IKE_FILE, s, "PUB_R", qr), 32);
	assert_int_equal(GET(IKE_FILE, s, "SHARED", k), 32);
	dh_kat(IKEV2_DH_CURVE25519, pi, 32, qi, pr, 32, qr, k, 32);
	/* RFC 8031 2 / RFC 7748 5: the top bit of a received value is ignored. */
	dh = crypto_dh_new_private(IKEV2_DH_CURVE25519, pi, 32);
	assert_non_null(dh);
	qr[31] ^= 0x80;
	assert_int_equal(crypto_dh_shared(dh, qr, 32, out, &n), 0);
	assert_memory_equal(out, k, 32);
	crypto_dh_free(dh);
}

static void test_x448(void **state)
{
	const char *s = "RFC 7748";
	uint8_t pa[56], qa[56], pb[56], qb[56], k[56];

	(void)state;
	assert_int_equal(GET(RFC_FILE, s, "PRIV_A", pa), 56);
	assert_int_equal(GET(RFC_FILE, s, "PUB_A", qa), 56);
	assert_int_equal(GET(RFC_FILE, s, "PRIV_B", pb), 56);
	assert_int_equal(GET(RFC_FILE, s, "PUB_B", qb), 56);
	assert_int_equal(GET(RFC_FILE, s, "SHARED", k), 56);
	dh_kat(IKEV2_DH_CURVE448, pa, 56, qa, pb, 56, qb, k, 56);
}

static void test_ecp256(void **state)
{
	const char *s = "RFC 5903";
	uint8_t i[32], gi[64], r[32], gr[64], gir[32];

	(void)state;
	assert_int_equal(GET(RFC_FILE, s, "I", i), 32);
	assert_int_equal(GET(RFC_FILE, s, "GI", gi), 64);
	assert_int_equal(GET(RFC_FILE, s, "R", r), 32);
	assert_int_equal(GET(RFC_FILE, s, "GR", gr), 64);
	assert_int_equal(GET(RFC_FILE, s, "GIR", gir), 32);
	dh_kat(IKEV2_DH_ECP_256, i, 32, gi, r, 32, gr, gir, 32);
}

static int report(void **state)
{
	(void)state;
	printf("RFC known-answer vectors passed: %d\n", n_vectors);
	/* 2 ChaCha + 3 GCM + 3 CTR + 2 CBC + 7 XCBC-MAC + 3 XCBC-PRF + 1 prf+ + 3 HMAC + 3 DH */
	return n_vectors == 27 ? 0 : -1;
}

static int small_cache_report(void **state)
{
	struct crypto_cipher_cache_stats st;

	(void)state;
	crypto_cipher_cache_stats(&st);
	printf("with 2 contexts: %d cipher vectors, %u evictions, %llu misses\n", n_vectors,
	       n_thrash, (unsigned long long)st.misses);
	for (size_t i = 0; i < N_THRASH; i++)
		crypto_cipher_free(thrash[i]);
	crypto_cipher_cache_set_capacity(0);
	/*
	 * 2 ChaCha + 3 GCM + 3 CTR + 2 CBC vectors; each is used 4 times (5
	 * with a tag), each use after the 3 evicting ciphers, which were used
	 * once more in the setup: 45 uses, 3 + 45 * 3 evicting ones, every one
	 * a miss in two slots.
	 */
	return n_vectors == 10 && n_thrash == 45 && st.capacity == 2 && st.contexts == 2 &&
	               st.hits == 0 && st.misses == 3 + 45 * 3 + 45
	           ? 0
	           : -1;
}

/*
 * RFC 8019 7.1.3: the first four 4-octet counter keys whose
 * HMAC-SHA-256(K, "rike puzzle test") ends in >= 6 zero bits, found
 * independently with Python's hmac: 28 (7 bits), 45, 54, 58 (6 each),
 * after 59 computations.
 */
static void test_puzzle(void **state)
{
	static const uint8_t s[] = "rike puzzle test";
	uint8_t keys[4 * CRYPTO_MAX_PRF_LEN];
	const uint8_t *kp[4];
	size_t klen;
	unsigned zbc, z;
	uint64_t work;

	(void)state;
	assert_int_equal(crypto_puzzle_solve(IKEV2_PRF_HMAC_SHA2_256, s, sizeof(s) - 1, 6, 1000,
	                                     keys, &klen, &zbc, &work),
	                 0);
	assert_int_equal(klen, 4);
	assert_int_equal(work, 59);
	assert_int_equal(zbc, 6);
	assert_memory_equal(keys, "\0\0\0\x1c\0\0\0\x2d\0\0\0\x36\0\0\0\x3a", 16);
	for (int i = 0; i < 4; i++)
		kp[i] = keys + 4 * i;
	assert_int_equal(crypto_puzzle_check(IKEV2_PRF_HMAC_SHA2_256, kp, 4, s, sizeof(s) - 1, &z),
	                 0);
	assert_int_equal(z, 6);
	assert_int_equal(crypto_puzzle_zbc(IKEV2_PRF_HMAC_SHA2_256, keys, 4, s, sizeof(s) - 1, &z),
	                 0);
	assert_int_equal(z, 7);
	/* Not within the budget: 58 computations find three keys only. */
	assert_int_equal(crypto_puzzle_solve(IKEV2_PRF_HMAC_SHA2_256, s, sizeof(s) - 1, 6, 58, keys,
	                                     &klen, &zbc, &work),
	                 -1);
	assert_int_equal(work, 58);
	/* Difficulty 0: the best four of the whole budget (59 keys: 28's 7 bits and three 6s). */
	assert_int_equal(crypto_puzzle_solve(IKEV2_PRF_HMAC_SHA2_256, s, sizeof(s) - 1, 0, 59, keys,
	                                     &klen, &zbc, &work),
	                 0);
	assert_int_equal(work, 59);
	assert_int_equal(zbc, 6);
	/* The same key twice is not four different keys; a key longer than the PRF's is refused. */
	kp[1] = kp[0];
	assert_int_equal(crypto_puzzle_check(IKEV2_PRF_HMAC_SHA2_256, kp, 4, s, sizeof(s) - 1, &z),
	                 -1);
	kp[1] = keys + 4;
	assert_int_equal(crypto_puzzle_check(IKEV2_PRF_HMAC_SHA2_256, kp, 33, s, sizeof(s) - 1, &z),
	                 -1);
	/* AES-XCBC-PRF-128 takes 16-octet keys only. */
	assert_int_equal(crypto_puzzle_key_len(IKEV2_PRF_AES128_XCBC), 16);
	assert_int_equal(crypto_puzzle_check(IKEV2_PRF_AES128_XCBC, kp, 4, s, sizeof(s) - 1, &z),
	                 -1);
	assert_int_equal(crypto_puzzle_solve(IKEV2_PRF_AES128_XCBC, s, sizeof(s) - 1, 2, 1000, keys,
	                                     &klen, &zbc, &work),
	                 0);
	assert_int_equal(klen, 16);
	for (int i = 0; i < 4; i++)
		kp[i] = keys + 16 * i;
	assert_int_equal(crypto_puzzle_check(IKEV2_PRF_AES128_XCBC, kp, 16, s, sizeof(s) - 1, &z),
	                 0);
	assert_true(z >= 2);
}

/* The one hex decoder (config PSKs and key IDs, key tables). */
static void test_hex_decode(void **state)
{
	uint8_t out[4];
	size_t n = 99;

	assert_int_equal(crypto_hex_decode("00aBfF7e", out, sizeof(out), &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(out, "\x00\xab\xff\x7e", 4);
	assert_int_equal(crypto_hex_decode("", out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(crypto_hex_decode("abc", out, sizeof(out), &n), -1);        /* odd */
	assert_int_equal(crypto_hex_decode("0g", out, sizeof(out), &n), -1);         /* digit */
	assert_int_equal(crypto_hex_decode("0011223344", out, sizeof(out), &n), -1); /* cap */
	assert_int_equal(crypto_hex_decode("00:11", out, sizeof(out), &n), -1);      /* sep */
	assert_int_equal(crypto_hex_decode("0x11", out, sizeof(out), &n), -1);       /* prefix */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chacha20_poly1305),
	    cmocka_unit_test(test_aes_gcm),
	    cmocka_unit_test(test_aes_ctr),
	    cmocka_unit_test(test_aes_cbc),
	    cmocka_unit_test(test_xcbc_mac),
	    cmocka_unit_test(test_xcbc_prf),
	    cmocka_unit_test(test_xcbc_skeyseed),
	    cmocka_unit_test(test_prf_plus),
	    cmocka_unit_test(test_integ_hmac),
	    cmocka_unit_test(test_x25519),
	    cmocka_unit_test(test_x448),
	    cmocka_unit_test(test_ecp256),
	    cmocka_unit_test(test_puzzle),
	    cmocka_unit_test(test_hex_decode),
	};

	const struct CMUnitTest ciphers[] = {
	    cmocka_unit_test(test_chacha20_poly1305),
	    cmocka_unit_test(test_aes_gcm),
	    cmocka_unit_test(test_aes_ctr),
	    cmocka_unit_test(test_aes_cbc),
	};

	return cmocka_run_group_tests(tests, NULL, report) ||
	       cmocka_run_group_tests_name("small context cache", ciphers, small_cache,
	                                   small_cache_report);
}
