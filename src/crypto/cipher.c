/*
 * Encryption transforms (RFC 7296 3.3.2 Transform Type 1) for the SK
 * payload and for ESP: ENCR_3DES and ENCR_AES_CBC (RFC 3602), ENCR_AES_CTR
 * (RFC 3686, RFC 5930), ENCR_AES_GCM_8/12/16 (RFC 4106, RFC 5282),
 * ENCR_AES_CCM_8/12/16 (RFC 4309, RFC 5282) and ENCR_CHACHA20_POLY1305
 * (RFC 7634). The salt is the tail of the keying material. A crypto_cipher
 * holds its fetched EVP_CIPHER and its key, not a context: each use takes
 * the calling thread's context keyed for it from ctx_cache.c (keying one
 * on a miss), and each packet only reinitialises that context with the
 * nonce.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "crypto/crypto_impl.h"
#include "wire/ikev2.h"

enum encr_mode { MODE_CBC, MODE_CTR, MODE_GCM, MODE_CCM, MODE_CHACHA };

struct encr_alg {
	uint16_t id;
	enum encr_mode mode;
	const char *fmt;     /* EVP name; %u is the AES key size in bits */
	uint16_t fixed_bits; /* key bits when the cipher has one size, else 0 */
	size_t salt_len, iv_len, block_len, icv_len;
};

static const struct encr_alg encr_algs[] = {
    {IKEV2_ENCR_3DES, MODE_CBC, "DES-EDE3-CBC", 192, 0, 8, 8, 0},
    {IKEV2_ENCR_AES_CBC, MODE_CBC, "AES-%u-CBC", 0, 0, 16, 16, 0},
    /* RFC 3686 4: 4-octet nonce from the keying material, 8-octet IV. */
    {IKEV2_ENCR_AES_CTR, MODE_CTR, "AES-%u-CTR", 0, 4, 8, 1, 0},
    /* RFC 4309 4, RFC 5282 7.1: 3-octet salt, 8-octet IV, 11-octet nonce. */
    {IKEV2_ENCR_AES_CCM_8, MODE_CCM, "AES-%u-CCM", 0, 3, 8, 1, 8},
    {IKEV2_ENCR_AES_CCM_12, MODE_CCM, "AES-%u-CCM", 0, 3, 8, 1, 12},
    {IKEV2_ENCR_AES_CCM_16, MODE_CCM, "AES-%u-CCM", 0, 3, 8, 1, 16},
    /* RFC 4106 4, RFC 5282 7.1: 4-octet salt, 8-octet IV, 12-octet nonce. */
    {IKEV2_ENCR_AES_GCM_8, MODE_GCM, "AES-%u-GCM", 0, 4, 8, 1, 8},
    {IKEV2_ENCR_AES_GCM_12, MODE_GCM, "AES-%u-GCM", 0, 4, 8, 1, 12},
    {IKEV2_ENCR_AES_GCM_16, MODE_GCM, "AES-%u-GCM", 0, 4, 8, 1, 16},
    /* RFC 7634 2, 4: 32-octet key and 4-octet salt, 8-octet IV. */
    {IKEV2_ENCR_CHACHA20_POLY1305, MODE_CHACHA, "ChaCha20-Poly1305", 256, 4, 8, 1, 16},
};

#define CIPHER_KEY_MAX 32 /* AES-256 and ChaCha20; 3DES 24 (salt apart) */

enum { CIPHER_DEC = 1, CIPHER_ENC = 2 };

/*
 * 56 octets: two per IKE SA, two per Child SA, the data plane's kept in
 * the SA's own allocation (crypto_cipher_init). What the transform is
 * comes from its row of encr_algs and its EVP_CIPHER from cipher_evps,
 * not a copy or a reference per cipher.
 */
struct crypto_cipher {
	const struct encr_alg *alg;
	uint64_t id;                 /* unique; the cache tags are id * 2 + encrypt */
	uint8_t key[CIPHER_KEY_MAX]; /* wiped */
	uint8_t salt[4];
	uint8_t key_len;
	uint8_t dirs; /* CIPHER_DEC | CIPHER_ENC */
};

/* The EVP_CIPHER of each row of encr_algs and AES key size (128, 192,
 * 256 bits), fetched by the first cipher that needs it and kept for the
 * process's life (as fetch.c keeps its own reference). */
static _Atomic(EVP_CIPHER *) cipher_evps[ARRAY_LEN(encr_algs)][3];

static _Atomic(EVP_CIPHER *) *cipher_evp_slot(const struct encr_alg *a, size_t key_len)
{
	size_t j = key_len / 8 - 2; /* 16, 24, 32 octets: DES-EDE3 is 24 */

	return key_len % 8 || key_len < 16 || j > 2 ? NULL : &cipher_evps[a - encr_algs][j];
}

static EVP_CIPHER *cipher_evp(const struct crypto_cipher *c)
{
	return atomic_load_explicit(cipher_evp_slot(c->alg, c->key_len), memory_order_acquire);
}

/* Never reused, never 0: a slot of a freed cipher is never hit again. */
static _Atomic uint64_t cipher_next_id = 1;

static const struct encr_alg *encr_lookup(uint16_t encr)
{
	for (size_t i = 0; i < ARRAY_LEN(encr_algs); i++) {
		if (encr_algs[i].id == encr)
			return &encr_algs[i];
	}
	return NULL;
}

bool crypto_encr_is_aead(uint16_t encr)
{
	const struct encr_alg *a = encr_lookup(encr);

	return a && a->icv_len > 0;
}

/* The key size in bits, checked against the Key Length attribute (RFC 7296 3.3.5). */
static unsigned int encr_bits(const struct encr_alg *a, uint16_t keybits)
{
	if (a->fixed_bits != 0)
		return keybits == 0 || keybits == a->fixed_bits ? a->fixed_bits : 0;
	return keybits == 128 || keybits == 192 || keybits == 256 ? keybits : 0;
}

int crypto_encr_info(uint16_t encr, uint16_t keybits, struct crypto_encr_info *info)
{
	const struct encr_alg *a = encr_lookup(encr);
	unsigned int bits;

	memset(info, 0, sizeof(*info));
	if (a == NULL || (bits = encr_bits(a, keybits)) == 0)
		return -1;
	info->key_len = bits / 8 + a->salt_len;
	info->salt_len = a->salt_len;
	info->iv_len = a->iv_len;
	info->block_len = a->block_len;
	info->icv_len = a->icv_len;
	info->aead = a->icv_len > 0;
	return 0;
}

static bool cipher_aead(const struct crypto_cipher *c)
{
	return c->alg->icv_len > 0;
}

/* What a cache slot is keyed for: this cipher, in this direction. */
struct cipher_use {
	const struct crypto_cipher *c;
	int enc;
};

static uint64_t cipher_tag(const struct crypto_cipher *c, int enc)
{
	return c->id * 2 + (uint64_t)enc;
}

/*
 * Key a cache slot's context (ctx_cache.c calls this on a miss). The
 * EVP_CIPHER goes in only when the slot last held another one (a full
 * init); otherwise only the key changes. CCM needs its nonce and tag sizes
 * fixed before the key (RFC 4309 4: L = 4, an 11-octet nonce), CBC its
 * padding off (ESP and SK pad themselves: RFC 4303 2.4, RFC 7296 3.14).
 */
static int cipher_key(EVP_CIPHER_CTX *ctx, const void *arg)
{
	const struct cipher_use *u = arg;
	const struct crypto_cipher *c = u->c;
	EVP_CIPHER *evp = cipher_evp(c);

	evp = EVP_CIPHER_CTX_get0_cipher(ctx) == evp ? NULL : evp;
	size_t nonce_len = 15 - 4;
	OSSL_PARAM ccm[] = {
	    OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &nonce_len),
	    OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, NULL, c->alg->icv_len),
	    OSSL_PARAM_construct_end(),
	};

	if (c->alg->mode == MODE_CCM) {
		if (EVP_CipherInit_ex2(ctx, evp, NULL, NULL, u->enc, ccm) != 1)
			return -1;
		evp = NULL;
	}
	if (EVP_CipherInit_ex2(ctx, evp, c->key, NULL, u->enc, NULL) != 1)
		return -1;
	if (c->alg->mode == MODE_CBC && EVP_CIPHER_CTX_set_padding(ctx, 0) != 1)
		return -1;
	return 0;
}

/* The calling thread's context keyed for c in one direction (NULL: failed). */
static EVP_CIPHER_CTX *cipher_ctx(const struct crypto_cipher *c, int enc)
{
	struct cipher_use u = {c, enc};

	return crypto_ctx_get(cipher_tag(c, enc), cipher_key, &u);
}

size_t crypto_cipher_size(void)
{
	return sizeof(struct crypto_cipher);
}

static int cipher_init(struct crypto_cipher *c, uint16_t encr, uint16_t keybits, const uint8_t *key,
                       size_t keylen, uint8_t dirs)
{
	const struct encr_alg *a = encr_lookup(encr);
	struct crypto_encr_info info;
	_Atomic(EVP_CIPHER *) *slot;
	EVP_CIPHER *evp;
	char name[32];

	memset(c, 0, sizeof(*c));
	c->dirs = dirs;
	c->id = atomic_fetch_add_explicit(&cipher_next_id, 1, memory_order_relaxed);
	if (!a || crypto_encr_info(encr, keybits, &info) != 0 || keylen != info.key_len ||
	    keylen - info.salt_len > sizeof(c->key))
		goto fail;
	c->alg = a;
	c->key_len = (uint8_t)(keylen - info.salt_len);
	memcpy(c->key, key, c->key_len);
	memcpy(c->salt, key + c->key_len, info.salt_len);
	snprintf(name, sizeof(name), a->fmt, c->key_len * 8u);
	if ((slot = cipher_evp_slot(a, c->key_len)) == NULL)
		goto fail;
	if ((evp = atomic_load_explicit(slot, memory_order_acquire)) == NULL) {
		EVP_CIPHER *none = NULL;

		if ((evp = crypto_fetch_cipher(name)) == NULL)
			goto fail;
		if (!atomic_compare_exchange_strong(slot, &none, evp)) {
			EVP_CIPHER_free(evp); /* another thread's is there */
			evp = none;
		}
	}
	if (EVP_CIPHER_get_key_length(evp) != c->key_len)
		goto fail;
	return 0;
fail:
	crypto_cipher_fini(c);
	return -1;
}

int crypto_cipher_init(struct crypto_cipher *c, uint16_t encr, uint16_t keybits, const uint8_t *key,
                       size_t keylen, bool encrypt)
{
	return cipher_init(c, encr, keybits, key, keylen, encrypt ? CIPHER_ENC : CIPHER_DEC);
}

static struct crypto_cipher *cipher_new(uint16_t encr, uint16_t keybits, const uint8_t *key,
                                        size_t keylen, uint8_t dirs)
{
	struct crypto_cipher *c = OPENSSL_malloc(sizeof(*c));

	if (c == NULL)
		return NULL;
	if (cipher_init(c, encr, keybits, key, keylen, dirs) != 0) {
		OPENSSL_free(c);
		return NULL;
	}
	return c;
}

struct crypto_cipher *crypto_cipher_new(uint16_t encr, uint16_t keybits, const uint8_t *key,
                                        size_t keylen, bool encrypt)
{
	return cipher_new(encr, keybits, key, keylen, encrypt ? CIPHER_ENC : CIPHER_DEC);
}

struct crypto_cipher *crypto_cipher_new_duplex(uint16_t encr, uint16_t keybits, const uint8_t *key,
                                               size_t keylen)
{
	return cipher_new(encr, keybits, key, keylen, CIPHER_ENC | CIPHER_DEC);
}

/*
 * The key is wiped, and so is this thread's context keyed with it (the
 * providers cleanse the key schedule on reset). Another thread that used
 * the cipher keeps its key schedule in that thread's cache until the slot
 * is reused: its tag is never looked up again.
 */
void crypto_cipher_fini(struct crypto_cipher *c)
{
	if (c == NULL)
		return;
	if (c->dirs & CIPHER_ENC)
		crypto_ctx_drop(cipher_tag(c, 1));
	if (c->dirs & CIPHER_DEC)
		crypto_ctx_drop(cipher_tag(c, 0));
	OPENSSL_cleanse(c, sizeof(*c));
}

void crypto_cipher_free(struct crypto_cipher *c)
{
	crypto_cipher_fini(c);
	OPENSSL_free(c);
}

void crypto_cipher_get_info(const struct crypto_cipher *c, struct crypto_encr_info *info)
{
	memset(info, 0, sizeof(*info));
	if (c->alg == NULL)
		return;
	info->key_len = c->key_len + c->alg->salt_len;
	info->salt_len = c->alg->salt_len;
	info->iv_len = c->alg->iv_len;
	info->block_len = c->alg->block_len;
	info->icv_len = c->alg->icv_len;
	info->aead = c->alg->icv_len > 0;
}

/*
 * The per-packet nonce or IV handed to EVP: CBC takes the IV as is, CTR
 * the counter block nonce | IV | 1 (RFC 3686 4), the AEAD modes salt | IV
 * (RFC 4106 4, RFC 4309 4, RFC 7634 2).
 */
static void cipher_nonce(const struct crypto_cipher *c, const uint8_t *iv, uint8_t *nonce)
{
	size_t n = c->alg->salt_len;

	memcpy(nonce, c->salt, n);
	memcpy(nonce + n, iv, c->alg->iv_len);
	n += c->alg->iv_len;
	if (c->alg->mode == MODE_CTR) {
		static const uint8_t one[4] = {0, 0, 0, 1};

		memcpy(nonce + n, one, sizeof(one));
	}
}

/* Restart the context for one packet; a CCM decryption takes the tag here. */
static int cipher_start(const struct crypto_cipher *c, EVP_CIPHER_CTX *ctx, int enc,
                        const uint8_t *iv, const uint8_t *icv, size_t len)
{
	uint8_t nonce[CRYPTO_MAX_IV_LEN];
	OSSL_PARAM tag[] = {
	    OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (void *)icv,
	                                      c->alg->icv_len),
	    OSSL_PARAM_construct_end(),
	};
	int outl = 0;

	cipher_nonce(c, iv, nonce);
	if (EVP_CipherInit_ex2(ctx, NULL, NULL, nonce, enc,
	                       c->alg->mode == MODE_CCM ? tag : NULL) != 1)
		return -1;
	/* CCM authenticates the payload length first (RFC 3610 2.2). */
	if (c->alg->mode == MODE_CCM && EVP_CipherUpdate(ctx, NULL, &outl, NULL, (int)len) != 1)
		return -1;
	return 0;
}

static int cipher_aad(const struct crypto_cipher *c, EVP_CIPHER_CTX *ctx, const uint8_t *aad,
                      size_t aadlen)
{
	int outl = 0;

	if (!cipher_aead(c) || aadlen == 0)
		return 0;
	if (aadlen > INT_MAX || EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aadlen) != 1)
		return -1;
	return 0;
}

/* The payload itself; CCM must see an update even for zero octets. */
static int cipher_data(const struct crypto_cipher *c, EVP_CIPHER_CTX *ctx, const uint8_t *in,
                       size_t len, uint8_t *out)
{
	static const uint8_t none_in[1];
	uint8_t none_out[1];
	int outl = 0;

	if (len == 0) {
		in = none_in;
		out = none_out;
	}
	if ((len > 0 || c->alg->mode == MODE_CCM) &&
	    EVP_CipherUpdate(ctx, out, &outl, in, (int)len) != 1)
		return -1;
	return (size_t)outl == len ? 0 : -1;
}

static int cipher_final(EVP_CIPHER_CTX *ctx)
{
	uint8_t rest[EVP_MAX_BLOCK_LENGTH];
	int outl = 0;

	/* Nothing is buffered: CBC input is whole blocks and padding is off. */
	if (EVP_CipherFinal_ex(ctx, rest, &outl) != 1 || outl != 0)
		return -1;
	return 0;
}

static int cipher_check(const struct crypto_cipher *c, size_t len, size_t aadlen)
{
	if (len > INT_MAX || aadlen > INT_MAX)
		return -1;
	return len % c->alg->block_len == 0 ? 0 : -1;
}

int crypto_cipher_seal(struct crypto_cipher *c, const uint8_t *iv, const uint8_t *aad,
                       size_t aadlen, const uint8_t *in, size_t len, uint8_t *out, uint8_t *icv)
{
	OSSL_PARAM tag[] = {
	    OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, icv, c->alg->icv_len),
	    OSSL_PARAM_construct_end(),
	};
	EVP_CIPHER_CTX *ctx;

	if (!(c->dirs & CIPHER_ENC) || cipher_check(c, len, aadlen) != 0 ||
	    !(ctx = cipher_ctx(c, 1)))
		return -1;
	if (cipher_start(c, ctx, 1, iv, NULL, len) != 0 || cipher_aad(c, ctx, aad, aadlen) != 0 ||
	    cipher_data(c, ctx, in, len, out) != 0 || cipher_final(ctx) != 0)
		return -1;
	if (cipher_aead(c) && EVP_CIPHER_CTX_get_params(ctx, tag) != 1)
		return -1;
	return 0;
}

static int cipher_open_run(const struct crypto_cipher *c, EVP_CIPHER_CTX *ctx, const uint8_t *iv,
                           const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
                           uint8_t *out, const uint8_t *icv)
{
	OSSL_PARAM tag[] = {
	    OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (void *)icv,
	                                      c->alg->icv_len),
	    OSSL_PARAM_construct_end(),
	};

	if (cipher_start(c, ctx, 0, iv, icv, len) != 0 || cipher_aad(c, ctx, aad, aadlen) != 0 ||
	    cipher_data(c, ctx, in, len, out) != 0)
		return -1;
	/* GCM and ChaCha20-Poly1305 compare the tag in the final call. */
	if (cipher_aead(c) && c->alg->mode != MODE_CCM && EVP_CIPHER_CTX_set_params(ctx, tag) != 1)
		return -1;
	return cipher_final(ctx);
}

int crypto_cipher_open(struct crypto_cipher *c, const uint8_t *iv, const uint8_t *aad,
                       size_t aadlen, const uint8_t *in, size_t len, uint8_t *out,
                       const uint8_t *icv)
{
	EVP_CIPHER_CTX *ctx;

	if (!(c->dirs & CIPHER_DEC) || cipher_check(c, len, aadlen) != 0 ||
	    !(ctx = cipher_ctx(c, 0)))
		return -1;
	if (cipher_open_run(c, ctx, iv, aad, aadlen, in, len, out, icv) != 0) {
		/* Never leave unauthenticated plaintext behind. */
		if (cipher_aead(c) && len > 0)
			OPENSSL_cleanse(out, len);
		return -1;
	}
	return 0;
}
