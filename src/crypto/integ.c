/*
 * Integrity transforms (RFC 7296 3.3.2 Transform Type 3): AUTH_HMAC_SHA1_96
 * (RFC 2404), AUTH_HMAC_SHA1_160 (RFC 7296 3.3.2, used by some peers),
 * AUTH_AES_XCBC_96 (RFC 3566) and AUTH_HMAC_SHA2_256_128 / _384_192 /
 * _512_256 (RFC 4868 2). The ICV is the leading icv_len octets of the MAC
 * and is checked in constant time.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "crypto/crypto_impl.h"
#include "wire/ikev2.h"

struct integ_alg {
	uint16_t id;
	const char *digest; /* NULL for AES-XCBC */
	size_t key_len, icv_len;
};

/* RFC 4868 2.1.1: HMAC-SHA-2 keys are the hash output size; RFC 2404 / 3566 likewise. */
static const struct integ_alg integ_algs[] = {
    {IKEV2_AUTH_HMAC_SHA1_96, "SHA1", 20, 12},
    {IKEV2_AUTH_AES_XCBC_96, NULL, 16, 12},
    {IKEV2_AUTH_HMAC_SHA1_160, "SHA1", 20, 20},
    {IKEV2_AUTH_HMAC_SHA2_256_128, "SHA2-256", 32, 16},
    {IKEV2_AUTH_HMAC_SHA2_384_192, "SHA2-384", 48, 24},
    {IKEV2_AUTH_HMAC_SHA2_512_256, "SHA2-512", 64, 32},
};

struct crypto_integ {
	const struct integ_alg *alg;
	struct crypto_mac *mac;
};

static const struct integ_alg *integ_lookup(uint16_t integ)
{
	for (size_t i = 0; i < ARRAY_LEN(integ_algs); i++) {
		if (integ_algs[i].id == integ)
			return &integ_algs[i];
	}
	return NULL;
}

size_t crypto_integ_key_len(uint16_t integ)
{
	const struct integ_alg *a = integ_lookup(integ);

	return a != NULL ? a->key_len : 0;
}

size_t crypto_integ_icv_len(uint16_t integ)
{
	const struct integ_alg *a = integ_lookup(integ);

	return a != NULL ? a->icv_len : 0;
}

struct crypto_integ *crypto_integ_new(uint16_t integ, const uint8_t *key, size_t keylen)
{
	const struct integ_alg *a = integ_lookup(integ);
	struct crypto_integ *c;

	if (a == NULL || keylen != a->key_len)
		return NULL;
	c = OPENSSL_zalloc(sizeof(*c));
	if (c == NULL)
		return NULL;
	c->alg = a;
	if (a->digest != NULL)
		c->mac = crypto_mac_new_hmac(a->digest, key, keylen);
	else
		c->mac = crypto_mac_new_xcbc(key, keylen, false);
	if (c->mac == NULL) {
		crypto_integ_free(c);
		return NULL;
	}
	return c;
}

void crypto_integ_free(struct crypto_integ *c)
{
	if (c == NULL)
		return;
	crypto_mac_free(c->mac);
	OPENSSL_free(c);
}

int crypto_integ_compute(struct crypto_integ *c, const struct crypto_chunk *in, size_t nin,
                         uint8_t *icv)
{
	uint8_t full[CRYPTO_MAX_PRF_LEN];
	int ret = crypto_mac_run(c->mac, in, nin, full);

	if (ret == 0)
		memcpy(icv, full, c->alg->icv_len);
	OPENSSL_cleanse(full, sizeof(full));
	return ret;
}

int crypto_integ_verify(struct crypto_integ *c, const struct crypto_chunk *in, size_t nin,
                        const uint8_t *icv)
{
	uint8_t mine[CRYPTO_MAX_ICV_LEN];
	int ret = -1;

	if (crypto_integ_compute(c, in, nin, mine) == 0 &&
	    CRYPTO_memcmp(mine, icv, c->alg->icv_len) == 0)
		ret = 0;
	OPENSSL_cleanse(mine, sizeof(mine));
	return ret;
}
