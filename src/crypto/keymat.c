/*
 * Key derivation: SKEYSEED and the IKE SA keys (RFC 7296 2.14), Child SA
 * KEYMAT with and without PFS (2.17), and SKEYSEED for a rekeyed IKE SA
 * (2.18), all through prf and prf+ (2.13).
 */
#include <string.h>

#include <openssl/crypto.h>

#include "crypto/crypto_impl.h"
#include "wire/ikev2.h"

/* Nonces are at most 256 octets (RFC 7296 3.9); leave room for tests. */
#define KEYMAT_MAX_NONCE 1024
#define KEYMAT_MAX_IKE   (CRYPTO_MAX_PRF_LEN * 5 + CRYPTO_MAX_KEY_LEN * 2)

/*
 * SKEYSEED = prf(Ni | Nr, g^ir). RFC 7296 2.14: with AES-XCBC-PRF-128 and
 * AES-CMAC-PRF-128 only the first 64 bits of Ni and of Nr form the key.
 */
int crypto_skeyseed(uint16_t prf, const struct crypto_chunk *ni, const struct crypto_chunk *nr,
                    const struct crypto_chunk *gir, uint8_t *out)
{
	size_t li = ni->len, lr = nr->len;
	uint8_t *key;
	int ret;

	if (ni->len > KEYMAT_MAX_NONCE || nr->len > KEYMAT_MAX_NONCE)
		return -1;
	if (prf == IKEV2_PRF_AES128_XCBC) {
		if (li < 8 || lr < 8)
			return -1;
		li = lr = 8;
	}
	key = OPENSSL_malloc(li + lr + 1);
	if (key == NULL)
		return -1;
	memcpy(key, ni->p, li);
	memcpy(key + li, nr->p, lr);
	ret = crypto_prf(prf, key, li + lr, gir, 1, out);
	OPENSSL_clear_free(key, li + lr + 1);
	return ret;
}

/* RFC 7296 2.18: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr). */
int crypto_rekey_skeyseed(uint16_t prf_old, const uint8_t *sk_d, size_t sk_d_len,
                          const struct crypto_chunk *gir, const struct crypto_chunk *ni,
                          const struct crypto_chunk *nr, uint8_t *out)
{
	const struct crypto_chunk in[] = {*gir, *ni, *nr};

	return crypto_prf(prf_old, sk_d, sk_d_len, in, ARRAY_LEN(in), out);
}

/* The lengths of the seven IKE SA keys for a suite (RFC 7296 2.14, RFC 5282 7). */
static int ike_key_lengths(const struct crypto_ike_suite *s, struct crypto_ike_keys *k)
{
	struct crypto_encr_info info;

	if (crypto_encr_info(s->encr, s->encr_keybits, &info) != 0)
		return -1;
	k->d_len = k->p_len = crypto_prf_key_len(s->prf);
	k->e_len = info.key_len;
	if (info.aead) {
		/* RFC 5282 8: no separate integrity transform with AEAD. */
		if (s->integ != IKEV2_AUTH_NONE)
			return -1;
		k->a_len = 0;
	} else {
		k->a_len = crypto_integ_key_len(s->integ);
		if (k->a_len == 0)
			return -1;
	}
	if (k->d_len == 0 || k->a_len > sizeof(k->sk_ai) || k->e_len > sizeof(k->sk_ei))
		return -1;
	return 0;
}

static void take(uint8_t *dst, const uint8_t *km, size_t *off, size_t len)
{
	memcpy(dst, km + *off, len);
	*off += len;
}

/* {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
 */
int crypto_ike_keymat(const struct crypto_ike_suite *s, const uint8_t *skeyseed,
                      const struct crypto_chunk *ni, const struct crypto_chunk *nr,
                      const uint8_t spi_i[8], const uint8_t spi_r[8], struct crypto_ike_keys *k)
{
	const struct crypto_chunk seed[] = {*ni, *nr, {spi_i, 8}, {spi_r, 8}};
	uint8_t km[KEYMAT_MAX_IKE];
	size_t total, off = 0;
	int ret = -1;

	memset(k, 0, sizeof(*k));
	if (ike_key_lengths(s, k) != 0)
		goto out;
	total = k->d_len + 2 * (k->a_len + k->e_len + k->p_len);
	if (total > sizeof(km) || crypto_prf_plus(s->prf, skeyseed, crypto_prf_len(s->prf), seed,
	                                          ARRAY_LEN(seed), km, total) != 0)
		goto out;
	take(k->sk_d, km, &off, k->d_len);
	take(k->sk_ai, km, &off, k->a_len);
	take(k->sk_ar, km, &off, k->a_len);
	take(k->sk_ei, km, &off, k->e_len);
	take(k->sk_er, km, &off, k->e_len);
	take(k->sk_pi, km, &off, k->p_len);
	take(k->sk_pr, km, &off, k->p_len);
	ret = 0;
out:
	OPENSSL_cleanse(km, sizeof(km));
	if (ret != 0)
		crypto_ike_keys_wipe(k);
	return ret;
}

/* RFC 7296 2.17: KEYMAT = prf+ (SK_d, [g^ir (new) |] Ni | Nr). */
int crypto_child_keymat(uint16_t prf, const uint8_t *sk_d, size_t sk_d_len,
                        const struct crypto_chunk *gir, const struct crypto_chunk *ni,
                        const struct crypto_chunk *nr, uint8_t *out, size_t outlen)
{
	struct crypto_chunk seed[3];
	size_t n = 0;

	if (gir != NULL)
		seed[n++] = *gir;
	seed[n++] = *ni;
	seed[n++] = *nr;
	return crypto_prf_plus(prf, sk_d, sk_d_len, seed, n, out, outlen);
}

void crypto_ike_keys_wipe(struct crypto_ike_keys *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}
