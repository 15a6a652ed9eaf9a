/*
 * AES-XCBC-MAC (RFC 3566 4) composed from the AES-128 block cipher of
 * libcrypto, which has no XCBC mode of its own, and AES-XCBC-PRF-128
 * (RFC 4434 2) on top of it. Only the MAC construction is written here:
 * every AES block operation is an EVP AES-128-ECB call.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "crypto/crypto_impl.h"

struct crypto_xcbc {
	EVP_CIPHER_CTX *k1; /* AES-128 keyed with K1 */
	uint8_t k2[CRYPTO_XCBC_BLOCK], k3[CRYPTO_XCBC_BLOCK];
};

/* One raw AES-128 block operation (ECB, no padding). */
static int aes_block(EVP_CIPHER_CTX *ctx, const uint8_t in[CRYPTO_XCBC_BLOCK],
                     uint8_t out[CRYPTO_XCBC_BLOCK])
{
	int outl = 0;

	if (EVP_EncryptUpdate(ctx, out, &outl, in, CRYPTO_XCBC_BLOCK) != 1 ||
	    outl != CRYPTO_XCBC_BLOCK)
		return -1;
	return 0;
}

static EVP_CIPHER_CTX *aes_ecb_new(const uint8_t key[CRYPTO_XCBC_BLOCK])
{
	EVP_CIPHER *aes = crypto_fetch_cipher("AES-128-ECB");
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (aes == NULL || ctx == NULL || EVP_EncryptInit_ex2(ctx, aes, key, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, 0) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		ctx = NULL;
	}
	EVP_CIPHER_free(aes);
	return ctx;
}

/* RFC 3566 4 (1): K1 = E(K, 0x01..), K2 = E(K, 0x02..), K3 = E(K, 0x03..). */
struct crypto_xcbc *crypto_xcbc_new(const uint8_t key[CRYPTO_XCBC_BLOCK])
{
	struct crypto_xcbc *x = OPENSSL_zalloc(sizeof(*x));
	EVP_CIPHER_CTX *k = aes_ecb_new(key);
	uint8_t c[CRYPTO_XCBC_BLOCK], k1[CRYPTO_XCBC_BLOCK];
	int ok = 0;

	if (x == NULL || k == NULL)
		goto out;
	memset(c, 0x01, sizeof(c));
	if (aes_block(k, c, k1) != 0)
		goto out;
	memset(c, 0x02, sizeof(c));
	if (aes_block(k, c, x->k2) != 0)
		goto out;
	memset(c, 0x03, sizeof(c));
	if (aes_block(k, c, x->k3) != 0)
		goto out;
	x->k1 = aes_ecb_new(k1);
	ok = x->k1 != NULL;
out:
	OPENSSL_cleanse(k1, sizeof(k1));
	EVP_CIPHER_CTX_free(k);
	if (!ok) {
		crypto_xcbc_free(x);
		x = NULL;
	}
	return x;
}

void crypto_xcbc_free(struct crypto_xcbc *x)
{
	if (x == NULL)
		return;
	EVP_CIPHER_CTX_free(x->k1); /* cleanses the expanded key */
	OPENSSL_clear_free(x, sizeof(*x));
}

static void xor_block(uint8_t *dst, const uint8_t *src)
{
	for (size_t i = 0; i < CRYPTO_XCBC_BLOCK; i++)
		dst[i] ^= src[i];
}

/*
 * RFC 3566 4 (2)-(3): CBC over all blocks but the last with K1; the last
 * block is XORed with K2 when complete, or padded 10* and XORed with K3.
 * The pending block is kept back so that we know which one is last.
 */
int crypto_xcbc_mac(struct crypto_xcbc *x, const struct crypto_chunk *in, size_t nin,
                    uint8_t out[CRYPTO_XCBC_BLOCK])
{
	uint8_t e[CRYPTO_XCBC_BLOCK] = {0}, m[CRYPTO_XCBC_BLOCK];
	size_t mlen = 0;
	int ret = -1;

	for (size_t i = 0; i < nin; i++) {
		const uint8_t *p = in[i].p;
		size_t left = in[i].len;

		while (left > 0) {
			size_t n;

			if (mlen == CRYPTO_XCBC_BLOCK) {
				xor_block(e, m);
				if (aes_block(x->k1, e, e) != 0)
					goto out;
				mlen = 0;
			}
			n = CRYPTO_XCBC_BLOCK - mlen < left ? CRYPTO_XCBC_BLOCK - mlen : left;
			memcpy(m + mlen, p, n);
			mlen += n;
			p += n;
			left -= n;
		}
	}
	if (mlen == CRYPTO_XCBC_BLOCK) {
		xor_block(m, x->k2);
	} else {
		m[mlen] = 0x80;
		memset(m + mlen + 1, 0, CRYPTO_XCBC_BLOCK - mlen - 1);
		xor_block(m, x->k3);
	}
	xor_block(e, m);
	ret = aes_block(x->k1, e, out);
out:
	OPENSSL_cleanse(e, sizeof(e));
	OPENSSL_cleanse(m, sizeof(m));
	return ret;
}

/*
 * RFC 4434 2: the key of AES-XCBC-PRF-128. A 128-bit key is used as is, a
 * shorter one is padded with zero bits, a longer one is replaced by
 * AES-XCBC-PRF-128 of it under the all-zero key.
 */
int crypto_xcbc_prf_key(const uint8_t *key, size_t keylen, uint8_t out[CRYPTO_XCBC_BLOCK])
{
	static const uint8_t zero[CRYPTO_XCBC_BLOCK];
	struct crypto_chunk kc = {key, keylen};
	struct crypto_xcbc *x;
	int ret;

	memset(out, 0, CRYPTO_XCBC_BLOCK);
	if (keylen <= CRYPTO_XCBC_BLOCK) {
		if (keylen > 0)
			memcpy(out, key, keylen);
		return 0;
	}
	x = crypto_xcbc_new(zero);
	if (x == NULL)
		return -1;
	ret = crypto_xcbc_mac(x, &kc, 1, out);
	crypto_xcbc_free(x);
	return ret;
}
