/*
 * NIST CAVS known answers for the key derivation and HMAC PRFs:
 * - IKEv2 KDF (SP 800-135, 900 vectors): SKEYSEED (RFC 7296 2.14), DKM =
 *   prf+ (2.13), Child SA KEYMAT with and without PFS (2.17) and the
 *   rekeyed SKEYSEED (2.18), plus the SK_* split of crypto_ike_keymat.
 * - HMAC (SHA-1/256/384/512) through crypto_prf.
 * Counts are asserted so that a parse failure cannot pass silently.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "crypto_test_util.h"
#include "wire/ikev2.h"

#define BIG 1024

struct kdf_vec {
	uint16_t prf, integ;
	size_t dkm_len, child_len; /* octets, from the section headers */
	uint8_t ni[BIG], nr[BIG], gir[BIG], gir_new[BIG], spii[8], spir[8];
	uint8_t skeyseed[64], dkm[BIG], child[BIG], child_dh[BIG], rekey[64];
	long ni_len, nr_len, gir_len, gir_new_len, seed_len, dkm_hex, child_hex, child_dh_hex,
	    rekey_len;
};

static int n_kdf, n_keymat;

static uint16_t prf_of(const char *sha, uint16_t *integ)
{
	static const struct {
		const char *name;
		uint16_t prf, integ;
	} map[] = {
	    {"SHA-1", IKEV2_PRF_HMAC_SHA1, IKEV2_AUTH_HMAC_SHA1_96},
	    {"SHA-256", IKEV2_PRF_HMAC_SHA2_256, IKEV2_AUTH_HMAC_SHA2_256_128},
	    {"SHA-384", IKEV2_PRF_HMAC_SHA2_384, IKEV2_AUTH_HMAC_SHA2_384_192},
	    {"SHA-512", IKEV2_PRF_HMAC_SHA2_512, IKEV2_AUTH_HMAC_SHA2_512_256},
	};

	for (size_t i = 0; i < ARRAY_LEN(map); i++) {
		if (strcmp(sha, map[i].name) == 0) {
			*integ = map[i].integ;
			return map[i].prf;
		}
	}
	return 0;
}

/* crypto_ike_keymat must cut the DKM into SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr. */
static void check_ike_keymat(const struct kdf_vec *v)
{
	struct crypto_ike_suite s = {IKEV2_ENCR_AES_CBC, 256, v->integ, v->prf, IKEV2_DH_MODP_2048};
	struct crypto_chunk ni = {v->ni, (size_t)v->ni_len}, nr = {v->nr, (size_t)v->nr_len};
	struct crypto_ike_keys k;
	size_t off = 0, plen = crypto_prf_len(v->prf), alen = crypto_integ_key_len(v->integ);

	if (plen + 2 * (alen + 32 + plen) > v->dkm_len)
		return;
	assert_int_equal(crypto_ike_keymat(&s, v->skeyseed, &ni, &nr, v->spii, v->spir, &k), 0);
	assert_int_equal(k.d_len, plen);
	assert_int_equal(k.a_len, alen);
	assert_int_equal(k.e_len, 32);
	assert_int_equal(k.p_len, plen);
	assert_memory_equal(k.sk_d, v->dkm + off, plen), off += plen;
	assert_memory_equal(k.sk_ai, v->dkm + off, alen), off += alen;
	assert_memory_equal(k.sk_ar, v->dkm + off, alen), off += alen;
	assert_memory_equal(k.sk_ei, v->dkm + off, 32), off += 32;
	assert_memory_equal(k.sk_er, v->dkm + off, 32), off += 32;
	assert_memory_equal(k.sk_pi, v->dkm + off, plen), off += plen;
	assert_memory_equal(k.sk_pr, v->dkm + off, plen);
	crypto_ike_keys_wipe(&k);
	n_keymat++;
}

static void check_kdf(struct kdf_vec *v)
{
	struct crypto_chunk ni = {v->ni, (size_t)v->ni_len}, nr = {v->nr, (size_t)v->nr_len};
	struct crypto_chunk gir = {v->gir, (size_t)v->gir_len};
	struct crypto_chunk gnew = {v->gir_new, (size_t)v->gir_new_len};
	struct crypto_chunk seed[] = {ni, nr, {v->spii, 8}, {v->spir, 8}};
	size_t plen = crypto_prf_len(v->prf);
	uint8_t out[BIG];

	assert_true(plen > 0);
	assert_int_equal(v->seed_len, plen);
	assert_int_equal(v->dkm_hex, v->dkm_len);
	assert_int_equal(v->child_hex, v->child_len);
	assert_int_equal(v->child_dh_hex, v->child_len);
	assert_int_equal(v->rekey_len, plen);

	assert_int_equal(crypto_skeyseed(v->prf, &ni, &nr, &gir, out), 0);
	assert_memory_equal(out, v->skeyseed, plen);
	assert_int_equal(crypto_prf_plus(v->prf, v->skeyseed, plen, seed, 4, out, v->dkm_len), 0);
	assert_memory_equal(out, v->dkm, v->dkm_len);
	/* SK_d is the first prf-length octets of the DKM. */
	assert_int_equal(
	    crypto_child_keymat(v->prf, v->dkm, plen, NULL, &ni, &nr, out, v->child_len), 0);
	assert_memory_equal(out, v->child, v->child_len);
	assert_int_equal(
	    crypto_child_keymat(v->prf, v->dkm, plen, &gnew, &ni, &nr, out, v->child_len), 0);
	assert_memory_equal(out, v->child_dh, v->child_len);
	assert_int_equal(crypto_rekey_skeyseed(v->prf, v->dkm, plen, &gnew, &ni, &nr, out), 0);
	assert_memory_equal(out, v->rekey, plen);
	check_ike_keymat(v);
	n_kdf++;
}

/* Section headers: "[SHA-256]", "[DKM length = 1056]" (bits), "[Child SA DKM length = ...]". */
static void kdf_header(struct kdf_vec *v, char *t)
{
	char *key, *value;

	t[strlen(t) - 1] = '\0';
	t++;
	if (tu_split(t, &key, &value) != 0) {
		v->prf = prf_of(t, &v->integ);
		assert_int_not_equal(v->prf, 0);
	} else if (strcmp(key, "DKM length") == 0) {
		v->dkm_len = strtoul(value, NULL, 10) / 8;
	} else if (strcmp(key, "Child SA DKM length") == 0) {
		v->child_len = strtoul(value, NULL, 10) / 8;
	}
}

static void kdf_field(struct kdf_vec *v, const char *key, const char *value)
{
	static const struct {
		const char *name;
		size_t buf, len;
	} f[] = {
	    {"Ni", offsetof(struct kdf_vec, ni), offsetof(struct kdf_vec, ni_len)},
	    {"Nr", offsetof(struct kdf_vec, nr), offsetof(struct kdf_vec, nr_len)},
	    {"g^ir", offsetof(struct kdf_vec, gir), offsetof(struct kdf_vec, gir_len)},
	    {"g^ir (new)", offsetof(struct kdf_vec, gir_new),
	     offsetof(struct kdf_vec, gir_new_len)},
	    {"SKEYSEED", offsetof(struct kdf_vec, skeyseed), offsetof(struct kdf_vec, seed_len)},
	    {"DKM", offsetof(struct kdf_vec, dkm), offsetof(struct kdf_vec, dkm_hex)},
	    {"DKM(Child SA)", offsetof(struct kdf_vec, child), offsetof(struct kdf_vec, child_hex)},
	    {"DKM(Child SA D-H)", offsetof(struct kdf_vec, child_dh),
	     offsetof(struct kdf_vec, child_dh_hex)},
	    {"SKEYSEED(Rekey)", offsetof(struct kdf_vec, rekey),
	     offsetof(struct kdf_vec, rekey_len)},
	};
	uint8_t *base = (uint8_t *)v;

	if (strcmp(key, "SPIi") == 0) {
		assert_int_equal(tu_hex(value, v->spii, 8), 8);
		return;
	}
	if (strcmp(key, "SPIr") == 0) {
		assert_int_equal(tu_hex(value, v->spir, 8), 8);
		return;
	}
	for (size_t i = 0; i < ARRAY_LEN(f); i++) {
		if (strcmp(key, f[i].name) == 0) {
			size_t max =
			    strcmp(key, "SKEYSEED") == 0 || strcmp(key, "SKEYSEED(Rekey)") == 0
			        ? 64
			        : BIG;
			long *len = (long *)(base + f[i].len);

			*len = tu_hex(value, base + f[i].buf, max);
			assert_true(*len >= 0);
			return;
		}
	}
}

static void test_ikev2_kdf(void **state)
{
	FILE *f = tu_open_vector("nss-cavs-IKE_fax_ikev2.fax");
	struct kdf_vec *v = calloc(1, sizeof(*v));
	char *line = malloc(16384), *key, *value;
	int counts = 0;

	(void)state;
	assert_non_null(v);
	assert_non_null(line);
	while (fgets(line, 16384, f) != NULL) {
		char *t = tu_trim(line);

		if (*t == '#' || *t == '\0')
			continue;
		if (*t == '[') {
			kdf_header(v, t);
			continue;
		}
		if (tu_split(t, &key, &value) != 0)
			continue;
		if (strcmp(key, "COUNT") == 0) {
			counts++;
			continue;
		}
		kdf_field(v, key, value);
		/* SKEYSEED(Rekey) is the last line of every vector. */
		if (strcmp(key, "SKEYSEED(Rekey)") == 0)
			check_kdf(v);
	}
	fclose(f);
	free(line);
	free(v);
	printf("IKEv2 KDF: %d COUNT entries, %d vectors passed (5 checks each), "
	       "%d crypto_ike_keymat splits checked\n",
	       counts, n_kdf, n_keymat);
	assert_int_equal(counts, 900);
	assert_int_equal(n_kdf, 900);
	assert_true(n_keymat > 0);
}

struct hmac_vec {
	uint16_t prf; /* 0: SHA-224, which IKEv2 does not define */
	long klen, tlen, key_len, msg_len, mac_len;
	uint8_t key[256], msg[256], mac[64];
};

static void check_hmac(const struct hmac_vec *v)
{
	struct crypto_chunk msg = {v->msg, (size_t)v->msg_len};
	uint8_t out[CRYPTO_MAX_PRF_LEN];

	assert_int_equal(v->key_len, v->klen);
	assert_int_equal(v->mac_len, v->tlen);
	assert_true((size_t)v->tlen <= crypto_prf_len(v->prf));
	assert_int_equal(crypto_prf(v->prf, v->key, (size_t)v->klen, &msg, 1, out), 0);
	assert_memory_equal(out, v->mac, (size_t)v->tlen);
}

static uint16_t hmac_prf_of(long l)
{
	switch (l) {
	case 20:
		return IKEV2_PRF_HMAC_SHA1;
	case 32:
		return IKEV2_PRF_HMAC_SHA2_256;
	case 48:
		return IKEV2_PRF_HMAC_SHA2_384;
	case 64:
		return IKEV2_PRF_HMAC_SHA2_512;
	default:
		return 0;
	}
}

static void test_hmac(void **state)
{
	FILE *f = tu_open_vector("nss-cavs-HMAC_fax_HMAC.fax");
	struct hmac_vec v = {0};
	char line[4096], *key, *value;
	int counts = 0, passed = 0, skipped = 0;

	(void)state;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *t = tu_trim(line);

		if (*t == '#' || *t == '\0')
			continue;
		if (strncmp(t, "[L=", 3) == 0) {
			v.prf = hmac_prf_of(strtol(t + 3, NULL, 10));
			continue;
		}
		if (tu_split(t, &key, &value) != 0)
			continue;
		if (strcmp(key, "Count") == 0)
			counts++;
		else if (strcmp(key, "Klen") == 0)
			v.klen = strtol(value, NULL, 10);
		else if (strcmp(key, "Tlen") == 0)
			v.tlen = strtol(value, NULL, 10);
		else if (strcmp(key, "Key") == 0)
			v.key_len = tu_hex(value, v.key, sizeof(v.key));
		else if (strcmp(key, "Msg") == 0)
			v.msg_len = tu_hex(value, v.msg, sizeof(v.msg));
		else if (strcmp(key, "Mac") == 0) {
			v.mac_len = tu_hex(value, v.mac, sizeof(v.mac));
			if (v.prf == 0) {
				skipped++;
				continue;
			}
			check_hmac(&v);
			passed++;
		}
	}
	fclose(f);
	printf("HMAC: %d vectors read, %d passed (SHA-1/256/384/512), %d SHA-224 skipped\n", counts,
	       passed, skipped);
	assert_int_equal(counts, 360);
	assert_int_equal(passed, 285);
	assert_int_equal(skipped, 75);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ikev2_kdf),
	    cmocka_unit_test(test_hmac),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
