/*
 * The IKEv2 pseudorandom functions (RFC 7296 3.3.2 Transform Type 2):
 * PRF_HMAC_SHA1, PRF_HMAC_SHA2_256/384/512 (RFC 4868) and
 * PRF_AES128_XCBC (RFC 4434), and prf+ (RFC 7296 2.13).
 */
#include <string.h>

#include <openssl/crypto.h>

#include "crypto/crypto_impl.h"
#include "wire/ikev2.h"

struct prf_alg {
	uint16_t id;
	const char *digest; /* NULL for AES-XCBC */
	size_t len;
};

static const struct prf_alg prf_algs[] = {
    {IKEV2_PRF_HMAC_SHA1, "SHA1", 20},         {IKEV2_PRF_AES128_XCBC, NULL, 16},
    {IKEV2_PRF_HMAC_SHA2_256, "SHA2-256", 32}, {IKEV2_PRF_HMAC_SHA2_384, "SHA2-384", 48},
    {IKEV2_PRF_HMAC_SHA2_512, "SHA2-512", 64},
};

static const struct prf_alg *prf_lookup(uint16_t prf)
{
	for (size_t i = 0; i < ARRAY_LEN(prf_algs); i++) {
		if (prf_algs[i].id == prf)
			return &prf_algs[i];
	}
	return NULL;
}

size_t crypto_prf_len(uint16_t prf)
{
	const struct prf_alg *a = prf_lookup(prf);

	return a != NULL ? a->len : 0;
}

/* RFC 7296 2.13: for HMAC the preferred key size is the hash output size;
 * RFC 4434 fixes AES-XCBC-PRF-128's at 128 bits, its output size too. */
size_t crypto_prf_key_len(uint16_t prf)
{
	return crypto_prf_len(prf);
}

static struct crypto_mac *prf_new(uint16_t prf, const uint8_t *key, size_t keylen)
{
	const struct prf_alg *a = prf_lookup(prf);

	if (a == NULL)
		return NULL;
	if (a->digest == NULL)
		return crypto_mac_new_xcbc(key, keylen, true);
	return crypto_mac_new_hmac(a->digest, key, keylen);
}

int crypto_prf(uint16_t prf, const uint8_t *key, size_t keylen, const struct crypto_chunk *in,
               size_t nin, uint8_t *out)
{
	struct crypto_mac *m = prf_new(prf, key, keylen);
	int ret = -1;

	if (m != NULL)
		ret = crypto_mac_run(m, in, nin, out);
	crypto_mac_free(m);
	return ret;
}

/*
 * RFC 7296 2.13: prf+ (K,S) = T1 | T2 | T3 | T4 | ... where
 * T1 = prf (K, S | 0x01), Tn = prf (K, T(n-1) | S | n), n at most 255.
 */
int crypto_prf_plus(uint16_t prf, const uint8_t *key, size_t keylen,
                    const struct crypto_chunk *seed, size_t nseed, uint8_t *out, size_t outlen)
{
	size_t plen = crypto_prf_len(prf);
	struct crypto_mac *m = NULL;
	struct crypto_chunk *in = NULL;
	uint8_t t[CRYPTO_MAX_PRF_LEN], n = 0;
	int ret = -1;

	if (plen == 0 || outlen > 255 * plen || nseed > 64)
		return -1;
	m = prf_new(prf, key, keylen);
	in = OPENSSL_malloc((nseed + 2) * sizeof(*in));
	if (m == NULL || in == NULL)
		goto out;
	for (size_t i = 0; i < nseed; i++)
		in[i + 1] = seed[i];
	in[nseed + 1] = (struct crypto_chunk){&n, 1};
	for (size_t done = 0; done < outlen; done += plen) {
		size_t take = outlen - done < plen ? outlen - done : plen;

		/* T(n-1) is empty for the first block. */
		in[0] = (struct crypto_chunk){t, n == 0 ? 0 : plen};
		n++;
		if (crypto_mac_run(m, in, nseed + 2, t) != 0)
			goto out;
		memcpy(out + done, t, take);
	}
	ret = 0;
out:
	OPENSSL_cleanse(t, sizeof(t));
	OPENSSL_free(in);
	crypto_mac_free(m);
	return ret;
}
