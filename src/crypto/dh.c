/*
 * Key exchange for the KE payload (RFC 7296 3.4): the MODP groups 14-18
 * (RFC 3526), the ECP groups 19-21 (RFC 5903) and Curve25519 / Curve448
 * (RFC 8031), over EVP_PKEY. Peer values are checked as RFC 6989 asks
 * before they are used. MODP 768/1024/1536 are not offered or accepted
 * (RFC 8247 2.4).
 */
#include <pthread.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

#include "crypto/crypto_impl.h"
#include "wire/ikev2.h"

enum dh_kind { DH_MODP, DH_ECP, DH_ECX };

struct dh_group {
	uint16_t id;
	enum dh_kind kind;
	const char *name;           /* OpenSSL group or key type name */
	size_t pub_len;             /* KE payload data length */
	size_t secret_len;          /* g^ir length */
	int nid;                    /* ECP curve */
	BIGNUM *(*prime)(BIGNUM *); /* MODP modulus (RFC 3526) */
};

static const struct dh_group dh_groups[] = {
    {IKEV2_DH_MODP_2048, DH_MODP, "modp_2048", 256, 256, 0, BN_get_rfc3526_prime_2048},
    {IKEV2_DH_MODP_3072, DH_MODP, "modp_3072", 384, 384, 0, BN_get_rfc3526_prime_3072},
    {IKEV2_DH_MODP_4096, DH_MODP, "modp_4096", 512, 512, 0, BN_get_rfc3526_prime_4096},
    {IKEV2_DH_MODP_6144, DH_MODP, "modp_6144", 768, 768, 0, BN_get_rfc3526_prime_6144},
    {IKEV2_DH_MODP_8192, DH_MODP, "modp_8192", 1024, 1024, 0, BN_get_rfc3526_prime_8192},
    /* RFC 5903 7: KE data is x | y, g^ir is x, each padded to the field size. */
    {IKEV2_DH_ECP_256, DH_ECP, "P-256", 64, 32, NID_X9_62_prime256v1, NULL},
    {IKEV2_DH_ECP_384, DH_ECP, "P-384", 96, 48, NID_secp384r1, NULL},
    {IKEV2_DH_ECP_521, DH_ECP, "P-521", 132, 66, NID_secp521r1, NULL},
    /* RFC 8031 2: the raw 32- or 56-octet u-coordinate. */
    {IKEV2_DH_CURVE25519, DH_ECX, "X25519", 32, 32, 0, NULL},
    {IKEV2_DH_CURVE448, DH_ECX, "X448", 56, 56, 0, NULL},
};

struct crypto_dh {
	const struct dh_group *g;
	EVP_PKEY *key;
};

static const struct dh_group *dh_lookup(uint16_t group)
{
	for (size_t i = 0; i < ARRAY_LEN(dh_groups); i++) {
		if (dh_groups[i].id == group)
			return &dh_groups[i];
	}
	return NULL;
}

size_t crypto_dh_public_len(uint16_t group)
{
	const struct dh_group *g = dh_lookup(group);

	return g != NULL ? g->pub_len : 0;
}

uint16_t crypto_dh_group(const struct crypto_dh *dh)
{
	return dh->g->id;
}

void crypto_dh_free(struct crypto_dh *dh)
{
	if (dh == NULL)
		return;
	EVP_PKEY_free(dh->key); /* the key managers clear the private value */
	OPENSSL_free(dh);
}

struct crypto_dh *crypto_dh_dup(const struct crypto_dh *dh)
{
	struct crypto_dh *d = OPENSSL_zalloc(sizeof(*d));

	if (d == NULL)
		return NULL;
	if (EVP_PKEY_up_ref(dh->key) != 1) {
		OPENSSL_free(d);
		return NULL;
	}
	d->g = dh->g;
	d->key = dh->key;
	return d;
}

static const char *dh_keytype(const struct dh_group *g)
{
	switch (g->kind) {
	case DH_MODP:
		return "DH";
	case DH_ECP:
		return "EC";
	default:
		return g->name;
	}
}

/* An EVP_PKEY of the group's type from the parameters collected in bld. */
static EVP_PKEY *dh_fromdata(const struct dh_group *g, OSSL_PARAM_BLD *bld, int selection)
{
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;

	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, g->name, 0) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, dh_keytype(g), NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, selection, params) != 1) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params); /* clears the secure part holding a private value */
	return pk;
}

/*
 * RFC 6989 2.1: for the safe-prime MODP groups, 1 < y < p-1 suffices.
 * EVP_PKEY_derive_set_peer_ex() adds the full check (y^q = 1), which only
 * values no honest peer sends (outside the subgroup of 2) fail.
 */
static bool modp_in_range(const struct dh_group *g, const BIGNUM *y)
{
	BIGNUM *p = g->prime(NULL);
	bool ok = false;

	if (p != NULL && BN_sub_word(p, 1) == 1)
		ok = BN_cmp(y, BN_value_one()) > 0 && BN_cmp(y, p) < 0;
	BN_free(p);
	return ok;
}

static EVP_PKEY *modp_peer(const struct dh_group *g, const uint8_t *peer, size_t len)
{
	BIGNUM *y = BN_bin2bn(peer, (int)len, NULL);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY *pk = NULL;

	if (y != NULL && bld != NULL && modp_in_range(g, y) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PUB_KEY, y) == 1)
		pk = dh_fromdata(g, bld, EVP_PKEY_PUBLIC_KEY);
	OSSL_PARAM_BLD_free(bld);
	BN_free(y);
	return pk;
}

/* RFC 6989 2.3: the point must decode and lie on the curve; x | y cannot
 * encode the point at infinity. EVP_PKEY_public_check repeats all of it. */
static EVP_PKEY *ecp_peer(const struct dh_group *g, const uint8_t *peer, size_t len)
{
	uint8_t pt[1 + 132];
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *chk = NULL;
	EVP_PKEY *pk = NULL;

	pt[0] = POINT_CONVERSION_UNCOMPRESSED;
	memcpy(pt + 1, peer, len);
	if (bld == NULL ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, len + 1) != 1 ||
	    (pk = dh_fromdata(g, bld, EVP_PKEY_PUBLIC_KEY)) == NULL)
		goto out;
	chk = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	if (chk == NULL || EVP_PKEY_public_check(chk) != 1) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
out:
	EVP_PKEY_CTX_free(chk);
	OSSL_PARAM_BLD_free(bld);
	return pk;
}

/* RFC 8031 2 / RFC 7748 5: the receiver masks the unused top bit of an X25519 value. */
static EVP_PKEY *ecx_peer(const struct dh_group *g, const uint8_t *peer, size_t len)
{
	uint8_t u[56];

	memcpy(u, peer, len);
	if (g->id == IKEV2_DH_CURVE25519)
		u[31] &= 0x7f;
	return EVP_PKEY_new_raw_public_key_ex(NULL, g->name, NULL, u, len);
}

static EVP_PKEY *dh_peer(const struct dh_group *g, const uint8_t *peer, size_t len)
{
	if (len != g->pub_len) /* RFC 7296 3.4: the length is fixed by the group */
		return NULL;
	switch (g->kind) {
	case DH_MODP:
		return modp_peer(g, peer, len);
	case DH_ECP:
		return ecp_peer(g, peer, len);
	default:
		return ecx_peer(g, peer, len);
	}
}

/* A MODP key pair from x: y = 2^x mod p (RFC 3526: the generator is 2). */
static EVP_PKEY *modp_private(const struct dh_group *g, const uint8_t *priv, size_t len)
{
	BIGNUM *x = BN_secure_new(), *p = g->prime(NULL), *gen = BN_new(), *y = BN_new();
	BN_CTX *bnctx = BN_CTX_secure_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY *pk = NULL;

	if (x == NULL || p == NULL || gen == NULL || y == NULL || bnctx == NULL || bld == NULL ||
	    BN_bin2bn(priv, (int)len, x) == NULL || !modp_in_range(g, x) ||
	    BN_set_word(gen, 2) != 1)
		goto out;
	BN_set_flags(x, BN_FLG_CONSTTIME);
	if (BN_mod_exp_mont_consttime(y, gen, x, p, bnctx, NULL) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, x) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PUB_KEY, y) != 1)
		goto out;
	pk = dh_fromdata(g, bld, EVP_PKEY_KEYPAIR);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_CTX_free(bnctx);
	BN_clear_free(x);
	BN_free(p);
	BN_free(gen);
	BN_free(y);
	return pk;
}

/* An ECP key pair from the scalar d, 0 < d < n: Q = dG. */
static EVP_PKEY *ecp_private(const struct dh_group *g, const uint8_t *priv, size_t len)
{
	EC_GROUP *grp = EC_GROUP_new_by_curve_name(g->nid);
	BIGNUM *d = BN_secure_new();
	EC_POINT *q = grp != NULL ? EC_POINT_new(grp) : NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	uint8_t pt[1 + 132];
	size_t ptlen;
	EVP_PKEY *pk = NULL;

	if (q == NULL || d == NULL || bld == NULL || len > g->secret_len ||
	    BN_bin2bn(priv, (int)len, d) == NULL || BN_is_zero(d) ||
	    BN_cmp(d, EC_GROUP_get0_order(grp)) >= 0)
		goto out;
	BN_set_flags(d, BN_FLG_CONSTTIME);
	if (EC_POINT_mul(grp, q, d, NULL, NULL, NULL) != 1)
		goto out;
	ptlen = EC_POINT_point2oct(grp, q, POINT_CONVERSION_UNCOMPRESSED, pt, sizeof(pt), NULL);
	if (ptlen != 1 + g->pub_len ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, ptlen) != 1)
		goto out;
	pk = dh_fromdata(g, bld, EVP_PKEY_KEYPAIR);
out:
	OSSL_PARAM_BLD_free(bld);
	EC_POINT_free(q);
	BN_clear_free(d);
	EC_GROUP_free(grp);
	return pk;
}

static EVP_PKEY *dh_private(const struct dh_group *g, const uint8_t *priv, size_t len)
{
	switch (g->kind) {
	case DH_MODP:
		return len <= g->pub_len ? modp_private(g, priv, len) : NULL;
	case DH_ECP:
		return ecp_private(g, priv, len);
	default:
		if (len != g->pub_len)
			return NULL;
		return EVP_PKEY_new_raw_private_key_ex(NULL, g->name, NULL, priv, len);
	}
}

struct crypto_dh *crypto_dh_new_private(uint16_t group, const uint8_t *priv, size_t privlen)
{
	const struct dh_group *g = dh_lookup(group);
	struct crypto_dh *dh;

	if (g == NULL)
		return NULL;
	dh = OPENSSL_zalloc(sizeof(*dh));
	if (dh == NULL)
		return NULL;
	dh->g = g;
	dh->key = dh_private(g, priv, privlen);
	if (dh->key == NULL) {
		crypto_dh_free(dh);
		return NULL;
	}
	return dh;
}

/*
 * Would priv make a key? The cheap checks of dh_private: MODP 1 < x < p-1,
 * ECP 0 < d < n; X25519/X448 take any octets.
 */
static bool priv_usable(const struct dh_group *g, const uint8_t *priv, size_t len)
{
	BIGNUM *x = BN_secure_new();
	EC_GROUP *grp = NULL;
	bool ok = false;

	if (g->kind == DH_ECX || x == NULL) {
		BN_clear_free(x);
		return g->kind == DH_ECX;
	}
	if (BN_bin2bn(priv, (int)len, x) == NULL)
		goto out;
	if (g->kind == DH_MODP) {
		ok = modp_in_range(g, x);
		goto out;
	}
	grp = EC_GROUP_new_by_curve_name(g->nid);
	ok = grp != NULL && !BN_is_zero(x) && BN_cmp(x, EC_GROUP_get0_order(grp)) < 0;
out:
	EC_GROUP_free(grp);
	BN_clear_free(x);
	return ok;
}

/*
 * With a test random source installed, the private value comes from it so
 * that exchanges replay exactly: 512 bits for MODP, a field-sized scalar
 * (retried until below the order) for ECP, raw octets for X25519/X448.
 * Without one, nothing: the key is generated where it is made.
 */
int crypto_dh_seed(uint16_t group, uint8_t *out, size_t *len)
{
	const struct dh_group *g = dh_lookup(group);
	size_t n;

	*len = 0;
	if (g == NULL)
		return -1;
	if (!crypto_random_is_deterministic())
		return 0;
	n = g->kind == DH_MODP ? 64 : g->secret_len;
	for (int tries = 0; tries < 32; tries++) {
		if (crypto_random(out, n) != 0)
			break;
		if (g->id == IKEV2_DH_ECP_521)
			out[0] &= 0x01; /* 521 bits */
		if (priv_usable(g, out, n)) {
			*len = n;
			return 0;
		}
	}
	OPENSSL_cleanse(out, n);
	return -1;
}

/*
 * Key generation contexts, one per group and thread, kept: a context made
 * for every key pair (fetching the key manager by name, then keygen_init)
 * cost 10 us of the 60 us an X25519 key pair takes. A context serves one
 * thread at a time; crypto workers each have theirs, freed when the thread
 * ends.
 */
#define KEYGEN_CACHED 8

struct keygen_cache {
	size_t n;
	uint16_t group[KEYGEN_CACHED];
	EVP_PKEY_CTX *ctx[KEYGEN_CACHED];
};

static pthread_key_t keygen_key;
static pthread_once_t keygen_once = PTHREAD_ONCE_INIT;
static bool keygen_key_ok;
static _Thread_local struct keygen_cache *keygen_mine;

static void keygen_cache_free(void *p)
{
	struct keygen_cache *c = p;

	for (size_t i = 0; i < c->n; i++)
		EVP_PKEY_CTX_free(c->ctx[i]);
	OPENSSL_free(c);
}

static void keygen_key_init(void)
{
	keygen_key_ok = pthread_key_create(&keygen_key, keygen_cache_free) == 0;
}

static EVP_PKEY_CTX *keygen_ctx_new(const struct dh_group *g)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, dh_keytype(g), NULL);
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)g->name, 0),
	    OSSL_PARAM_construct_end(),
	};

	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
	    (g->kind != DH_ECX && EVP_PKEY_CTX_set_params(ctx, params) != 1)) {
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* This thread's kept context for g, made on first use; NULL when none can
 * be kept (the caller makes its own). */
static EVP_PKEY_CTX *keygen_ctx_kept(const struct dh_group *g)
{
	struct keygen_cache *c = keygen_mine;
	EVP_PKEY_CTX *ctx;

	if (c == NULL) {
		if (pthread_once(&keygen_once, keygen_key_init) != 0 || !keygen_key_ok ||
		    (c = OPENSSL_zalloc(sizeof(*c))) == NULL)
			return NULL;
		if (pthread_setspecific(keygen_key, c) != 0) {
			OPENSSL_free(c);
			return NULL;
		}
		keygen_mine = c;
	}
	for (size_t i = 0; i < c->n; i++)
		if (c->group[i] == g->id)
			return c->ctx[i];
	if (c->n == KEYGEN_CACHED || (ctx = keygen_ctx_new(g)) == NULL)
		return NULL;
	c->group[c->n] = g->id;
	return c->ctx[c->n++] = ctx;
}

static EVP_PKEY *dh_generate(const struct dh_group *g)
{
	EVP_PKEY_CTX *kept = keygen_ctx_kept(g), *ctx = kept ? kept : keygen_ctx_new(g);
	EVP_PKEY *pk = NULL;

	if (ctx == NULL || EVP_PKEY_generate(ctx, &pk) != 1) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	if (ctx != kept)
		EVP_PKEY_CTX_free(ctx);
	return pk;
}

struct crypto_dh *crypto_dh_new_seeded(uint16_t group, const uint8_t *seed, size_t len)
{
	const struct dh_group *g = dh_lookup(group);
	struct crypto_dh *dh;

	if (g == NULL)
		return NULL;
	if (len)
		return crypto_dh_new_private(group, seed, len);
	dh = OPENSSL_zalloc(sizeof(*dh));
	if (dh == NULL)
		return NULL;
	dh->g = g;
	dh->key = dh_generate(g);
	if (dh->key == NULL) {
		crypto_dh_free(dh);
		return NULL;
	}
	return dh;
}

struct crypto_dh *crypto_dh_new(uint16_t group)
{
	uint8_t seed[CRYPTO_DH_SEED_MAX];
	size_t len;
	struct crypto_dh *dh = NULL;

	if (crypto_dh_seed(group, seed, &len) == 0)
		dh = crypto_dh_new_seeded(group, seed, len);
	OPENSSL_cleanse(seed, sizeof(seed));
	return dh;
}

/* KE data (RFC 7296 3.4): MODP y left-padded to the modulus size (RFC 3526),
 * x | y for ECP (RFC 5903 7), the raw value for X25519/X448 (RFC 8031 2). */
int crypto_dh_public(const struct crypto_dh *dh, uint8_t *out, size_t *len)
{
	const struct dh_group *g = dh->g;
	uint8_t pt[1 + 132];
	size_t n = 0;
	BIGNUM *y = NULL;
	int ret = -1;

	switch (g->kind) {
	case DH_MODP:
		if (EVP_PKEY_get_bn_param(dh->key, OSSL_PKEY_PARAM_PUB_KEY, &y) == 1 &&
		    BN_bn2binpad(y, out, (int)g->pub_len) == (int)g->pub_len)
			ret = 0;
		break;
	case DH_ECP:
		if (EVP_PKEY_get_octet_string_param(dh->key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt,
		                                    sizeof(pt), &n) == 1 &&
		    n == 1 + g->pub_len && pt[0] == POINT_CONVERSION_UNCOMPRESSED) {
			memcpy(out, pt + 1, g->pub_len);
			ret = 0;
		}
		break;
	default:
		n = g->pub_len;
		if (EVP_PKEY_get_raw_public_key(dh->key, out, &n) == 1 && n == g->pub_len)
			ret = 0;
		break;
	}
	BN_free(y);
	if (ret == 0)
		*len = g->pub_len;
	return ret;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

static int dh_derive(const struct crypto_dh *dh, EVP_PKEY *peer, uint8_t *out, size_t *outlen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, dh->key, NULL);
	unsigned int pad = 1;
	OSSL_PARAM params[] = {
	    /* RFC 7296 3.4 / RFC 3526: g^ir keeps its leading zero octets. */
	    OSSL_PARAM_construct_uint(OSSL_EXCHANGE_PARAM_PAD, &pad),
	    OSSL_PARAM_construct_end(),
	};
	size_t n = dh->g->secret_len;
	int ret = -1;

	if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1 ||
	    (dh->g->kind == DH_MODP && EVP_PKEY_CTX_set_params(ctx, params) != 1) ||
	    EVP_PKEY_derive_set_peer_ex(ctx, peer, 1) != 1 || EVP_PKEY_derive(ctx, out, &n) != 1)
		goto out;
	/* RFC 8031 2: an all-zero X25519/X448 result means a small-order peer value. */
	if (n != dh->g->secret_len || all_zero(out, n))
		goto out;
	*outlen = n;
	ret = 0;
out:
	if (ret != 0)
		OPENSSL_cleanse(out, dh->g->secret_len);
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

int crypto_dh_shared(struct crypto_dh *dh, const uint8_t *peer, size_t peerlen, uint8_t *out,
                     size_t *outlen)
{
	EVP_PKEY *pk = dh_peer(dh->g, peer, peerlen);
	int ret = -1;

	if (pk != NULL)
		ret = dh_derive(dh, pk, out, outlen);
	EVP_PKEY_free(pk);
	return ret;
}
