/*
 * Small primitives the rest of rike needs without touching libcrypto:
 * constant-time comparison (for ICVs, cookies and QCD tokens), wiping
 * secrets, SHA-1 (NAT detection, RFC 7296 2.23) / SHA-256 digests, and
 * hex decoding (PSKs, key IDs, key tables) through OpenSSL's parser.
 */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/crypto_impl.h"

int crypto_memcmp(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0 ? 0 : 1;
}

void crypto_wipe(void *p, size_t len)
{
	if (p != NULL && len > 0)
		OPENSSL_cleanse(p, len);
}

static int digest(const char *name, const struct crypto_chunk *in, size_t nin, uint8_t *out,
                  unsigned int outlen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_MD *md = crypto_fetch_md(name);
	unsigned int len = 0;
	int ret = -1;

	if (ctx == NULL || md == NULL || EVP_DigestInit_ex2(ctx, md, NULL) != 1)
		goto out;
	for (size_t i = 0; i < nin; i++) {
		if (in[i].len > 0 && EVP_DigestUpdate(ctx, in[i].p, in[i].len) != 1)
			goto out;
	}
	if (EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != outlen)
		goto out;
	ret = 0;
out:
	EVP_MD_free(md);
	EVP_MD_CTX_free(ctx);
	return ret;
}

int crypto_sha1(const struct crypto_chunk *in, size_t nin, uint8_t out[20])
{
	return digest("SHA1", in, nin, out, 20);
}

int crypto_sha256(const struct crypto_chunk *in, size_t nin, uint8_t out[32])
{
	return digest("SHA2-256", in, nin, out, 32);
}

int crypto_hex_decode(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = 0;

	*len = 0;
	if (strlen(s) % 2)
		return -1;
	/* sep '\0': no separators, only pairs of hex digits. */
	if (OPENSSL_hexstr2buf_ex(out, cap, &n, s, '\0') != 1) {
		ERR_clear_error(); /* odd length, bad digit or too long: not ours to keep */
		return -1;
	}
	*len = n;
	return 0;
}
