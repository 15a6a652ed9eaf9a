/*
 * Proposal strings (see proposal.h): one table maps each token to a
 * transform type, ID and key length (RFC 7296 3.3.2, 3.3.5); the parser
 * checks the rules a proposal must satisfy (RFC 7296 3.3.3 mandatory
 * transform types, RFC 5282 8 no integrity with combined-mode ciphers) and
 * refuses the algorithms RFC 8247 and RFC 8221 mark MUST NOT, naming the
 * token and the reason. The formatter is the inverse, for status output.
 */
#include "crypto/crypto.h"
#include "daemon/proposal.h"

#include <stdio.h>
#include <string.h>

#include "wire/ikev2.h"

struct token {
	const char *name;
	uint8_t type; /* IKEV2_TRANS_* */
	uint16_t id;
	uint16_t keylen; /* bits, encryption only */
};

#define AES(bits, sfx, id)                                                                         \
	{                                                                                          \
		"aes" #bits sfx, IKEV2_TRANS_ENCR, id, bits                                        \
	}
#define AES3(sfx, id) AES(128, sfx, id), AES(192, sfx, id), AES(256, sfx, id)

/* The first entry for an (type, id, keylen) is the canonical name. */
static const struct token tokens[] = {
    AES3("", IKEV2_ENCR_AES_CBC),
    AES3("ctr", IKEV2_ENCR_AES_CTR),
    AES3("gcm16", IKEV2_ENCR_AES_GCM_16),
    AES3("gcm12", IKEV2_ENCR_AES_GCM_12),
    AES3("gcm8", IKEV2_ENCR_AES_GCM_8),
    AES3("gcm", IKEV2_ENCR_AES_GCM_16),
    AES3("ccm16", IKEV2_ENCR_AES_CCM_16),
    AES3("ccm12", IKEV2_ENCR_AES_CCM_12),
    AES3("ccm8", IKEV2_ENCR_AES_CCM_8),
    {"chacha20poly1305", IKEV2_TRANS_ENCR, IKEV2_ENCR_CHACHA20_POLY1305, 0},
    {"3des", IKEV2_TRANS_ENCR, IKEV2_ENCR_3DES, 0},
    {"null", IKEV2_TRANS_ENCR, IKEV2_ENCR_NULL, 0},
    {"sha256", IKEV2_TRANS_INTEG, IKEV2_AUTH_HMAC_SHA2_256_128, 0},
    {"sha384", IKEV2_TRANS_INTEG, IKEV2_AUTH_HMAC_SHA2_384_192, 0},
    {"sha512", IKEV2_TRANS_INTEG, IKEV2_AUTH_HMAC_SHA2_512_256, 0},
    {"sha1", IKEV2_TRANS_INTEG, IKEV2_AUTH_HMAC_SHA1_96, 0},
    {"aesxcbc", IKEV2_TRANS_INTEG, IKEV2_AUTH_AES_XCBC_96, 0},
    {"aescmac", IKEV2_TRANS_INTEG, IKEV2_AUTH_AES_CMAC_96, 0},
    {"sha2_256", IKEV2_TRANS_INTEG, IKEV2_AUTH_HMAC_SHA2_256_128, 0},
    {"sha2_384", IKEV2_TRANS_INTEG, IKEV2_AUTH_HMAC_SHA2_384_192, 0},
    {"sha2_512", IKEV2_TRANS_INTEG, IKEV2_AUTH_HMAC_SHA2_512_256, 0},
    {"prfsha256", IKEV2_TRANS_PRF, IKEV2_PRF_HMAC_SHA2_256, 0},
    {"prfsha384", IKEV2_TRANS_PRF, IKEV2_PRF_HMAC_SHA2_384, 0},
    {"prfsha512", IKEV2_TRANS_PRF, IKEV2_PRF_HMAC_SHA2_512, 0},
    {"prfsha1", IKEV2_TRANS_PRF, IKEV2_PRF_HMAC_SHA1, 0},
    {"prfaesxcbc", IKEV2_TRANS_PRF, IKEV2_PRF_AES128_XCBC, 0},
    {"prfaescmac", IKEV2_TRANS_PRF, IKEV2_PRF_AES128_CMAC, 0},
    {"modp2048", IKEV2_TRANS_KE, IKEV2_DH_MODP_2048, 0},
    {"modp3072", IKEV2_TRANS_KE, IKEV2_DH_MODP_3072, 0},
    {"modp4096", IKEV2_TRANS_KE, IKEV2_DH_MODP_4096, 0},
    {"modp6144", IKEV2_TRANS_KE, IKEV2_DH_MODP_6144, 0},
    {"modp8192", IKEV2_TRANS_KE, IKEV2_DH_MODP_8192, 0},
    {"modp1536", IKEV2_TRANS_KE, IKEV2_DH_MODP_1536, 0},
    {"modp1024", IKEV2_TRANS_KE, IKEV2_DH_MODP_1024, 0},
    {"ecp256", IKEV2_TRANS_KE, IKEV2_DH_ECP_256, 0},
    {"ecp384", IKEV2_TRANS_KE, IKEV2_DH_ECP_384, 0},
    {"ecp521", IKEV2_TRANS_KE, IKEV2_DH_ECP_521, 0},
    {"ecp256bp", IKEV2_TRANS_KE, IKEV2_DH_BRAINPOOLP256R1, 0},
    {"ecp384bp", IKEV2_TRANS_KE, IKEV2_DH_BRAINPOOLP384R1, 0},
    {"ecp512bp", IKEV2_TRANS_KE, IKEV2_DH_BRAINPOOLP512R1, 0},
    {"curve25519", IKEV2_TRANS_KE, IKEV2_DH_CURVE25519, 0},
    {"curve448", IKEV2_TRANS_KE, IKEV2_DH_CURVE448, 0},
    {"x25519", IKEV2_TRANS_KE, IKEV2_DH_CURVE25519, 0},
    {"x448", IKEV2_TRANS_KE, IKEV2_DH_CURVE448, 0},
    {"esn", IKEV2_TRANS_SN, 1, 0},
    {"noesn", IKEV2_TRANS_SN, 0, 0},
};

/* Algorithms that are recognised only to refuse them with a reason. */
static const struct {
	const char *name;
	const char *why;
} refused[] = {
    {"des", "RFC 8247 2.1 and RFC 8221 5: MUST NOT"},
    {"md5", "RFC 8247 2.3 and RFC 8221 6: MUST NOT"},
    {"prfmd5", "RFC 8247 2.2: MUST NOT"},
    {"modp768", "RFC 8247 2.4: MUST NOT"},
    {"modp1024s160", "RFC 8247 2.4: MUST NOT"},
    {"blowfish", "RFC 8221 5: MUST NOT"},
};

/* Integrity algorithm -> the PRF on the same hash, used when an IKE proposal
 * names no PRF (the usual pairing; RFC 8247 2.2 and 2.3 list them together). */
static const uint16_t integ_prf[][2] = {
    {IKEV2_AUTH_HMAC_SHA2_256_128, IKEV2_PRF_HMAC_SHA2_256},
    {IKEV2_AUTH_HMAC_SHA2_384_192, IKEV2_PRF_HMAC_SHA2_384},
    {IKEV2_AUTH_HMAC_SHA2_512_256, IKEV2_PRF_HMAC_SHA2_512},
    {IKEV2_AUTH_HMAC_SHA1_96, IKEV2_PRF_HMAC_SHA1},
    {IKEV2_AUTH_AES_XCBC_96, IKEV2_PRF_AES128_XCBC},
    {IKEV2_AUTH_AES_CMAC_96, IKEV2_PRF_AES128_CMAC},
};

bool proposal_is_aead(const struct proposal *p)
{
	return p->n_encr > 0 && crypto_encr_is_aead(p->encr[0].id);
}

const char *proposal_token_name(uint8_t type, uint16_t id, uint16_t keylen)
{
	for (size_t i = 0; i < ARRAY_LEN(tokens); i++) {
		const struct token *t = &tokens[i];

		if (t->type == type && t->id == id &&
		    (type != IKEV2_TRANS_ENCR || t->keylen == keylen))
			return t->name;
	}
	return NULL;
}

static const struct token *token_lookup(const char *s, size_t n)
{
	for (size_t i = 0; i < ARRAY_LEN(tokens); i++)
		if (strlen(tokens[i].name) == n && !strncmp(tokens[i].name, s, n))
			return &tokens[i];
	return NULL;
}

static const char *refused_lookup(const char *s, size_t n)
{
	for (size_t i = 0; i < ARRAY_LEN(refused); i++)
		if (strlen(refused[i].name) == n && !strncmp(refused[i].name, s, n))
			return refused[i].why;
	return NULL;
}

/* Appends `id` to a list unless present; -1 on duplicate or overflow. */
static int list_add(uint16_t *list, uint8_t *n, size_t cap, uint16_t id)
{
	for (size_t i = 0; i < *n; i++)
		if (list[i] == id)
			return -1;
	if (*n >= cap)
		return -1;
	list[(*n)++] = id;
	return 0;
}

static int encr_add(struct proposal *p, const struct token *t)
{
	for (size_t i = 0; i < p->n_encr; i++)
		if (p->encr[i].id == t->id && p->encr[i].keylen == t->keylen)
			return -1;
	if (p->n_encr >= PROPOSAL_MAX_ALGS)
		return -1;
	p->encr[p->n_encr].id = t->id;
	p->encr[p->n_encr].keylen = t->keylen;
	p->n_encr++;
	return 0;
}

static int token_add(struct proposal *p, const struct token *t)
{
	switch (t->type) {
	case IKEV2_TRANS_ENCR:
		return encr_add(p, t);
	case IKEV2_TRANS_PRF:
		return list_add(p->prf, &p->n_prf, PROPOSAL_MAX_ALGS, t->id);
	case IKEV2_TRANS_INTEG:
		return list_add(p->integ, &p->n_integ, PROPOSAL_MAX_ALGS, t->id);
	case IKEV2_TRANS_KE:
		return list_add(p->dh, &p->n_dh, PROPOSAL_MAX_ALGS, t->id);
	default:
		return list_add(p->esn, &p->n_esn, ARRAY_LEN(p->esn), t->id);
	}
}

/* Reads the tokens of `s` into `p` without checking the combination. */
static int parse_tokens(const char *s, struct proposal *p, char *err, size_t errlen)
{
	const char *tok = s;

	for (;;) {
		size_t n = strcspn(tok, "-");
		const struct token *t = token_lookup(tok, n);
		const char *why;

		if (n == 0) {
			snprintf(err, errlen, "empty algorithm in proposal '%s'", s);
			return -1;
		}
		if (!t) {
			why = refused_lookup(tok, n);
			if (why)
				snprintf(err, errlen, "algorithm '%.*s' is not allowed (%s)",
				         (int)n, tok, why);
			else
				snprintf(err, errlen, "unknown algorithm '%.*s'", (int)n, tok);
			return -1;
		}
		if (token_add(p, t) < 0) {
			snprintf(err, errlen, "duplicate or too many algorithms at '%.*s'", (int)n,
			         tok);
			return -1;
		}
		if (tok[n] == '\0')
			return 0;
		tok += n + 1;
	}
}

static void derive_prfs(struct proposal *p)
{
	for (size_t i = 0; i < p->n_integ; i++)
		for (size_t k = 0; k < ARRAY_LEN(integ_prf); k++)
			if (integ_prf[k][0] == p->integ[i])
				(void)list_add(p->prf, &p->n_prf, PROPOSAL_MAX_ALGS,
				               integ_prf[k][1]);
}

/* RFC 7296 3.3 and RFC 5282 8: all ciphers of a proposal are combined-mode
 * or none is; combined-mode ones take no integrity transform, others need one. */
static int check_encr_integ(const struct proposal *p, char *err, size_t errlen)
{
	bool aead = proposal_is_aead(p);

	for (size_t i = 1; i < p->n_encr; i++) {
		if (crypto_encr_is_aead(p->encr[i].id) != aead) {
			snprintf(err, errlen, "AEAD and non-AEAD ciphers mixed in one proposal");
			return -1;
		}
	}
	if (aead && p->n_integ > 0) {
		snprintf(err, errlen, "AEAD cipher with an integrity algorithm (RFC 5282 8)");
		return -1;
	}
	if (!aead && p->n_integ == 0) {
		/* RFC 8221 4: ESP encryption must be authenticated. */
		snprintf(err, errlen, "non-AEAD cipher without an integrity algorithm");
		return -1;
	}
	return 0;
}

static int check_ike(struct proposal *p, char *err, size_t errlen)
{
	for (size_t i = 0; i < p->n_encr; i++) {
		if (p->encr[i].id == IKEV2_ENCR_NULL) {
			snprintf(err, errlen,
			         "algorithm 'null' is not allowed for IKE (RFC 8247 2.1)");
			return -1;
		}
	}
	if (p->n_esn > 0) {
		snprintf(err, errlen, "ESN is not an IKE transform (RFC 7296 3.3.3)");
		return -1;
	}
	if (p->n_prf == 0)
		derive_prfs(p);
	if (p->n_prf == 0) {
		snprintf(err, errlen, "IKE proposal needs a PRF, e.g. 'prfsha256'");
		return -1;
	}
	if (p->n_dh == 0) {
		snprintf(err, errlen, "IKE proposal needs a key exchange group, e.g. 'ecp256'");
		return -1;
	}
	return 0;
}

static int check_esp(struct proposal *p, char *err, size_t errlen)
{
	if (p->n_prf > 0) {
		snprintf(err, errlen, "PRF is not an ESP transform (RFC 7296 3.3.3)");
		return -1;
	}
	if (p->n_esn == 0)
		p->esn[p->n_esn++] = 0;
	return 0;
}

int proposal_parse(const char *s, uint8_t protocol, struct proposal *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->protocol = protocol;
	if (protocol != IKEV2_PROTO_IKE && protocol != IKEV2_PROTO_ESP) {
		snprintf(err, errlen, "unsupported protocol %u", protocol);
		return -1;
	}
	if (parse_tokens(s, p, err, errlen) < 0)
		return -1;
	if (p->n_encr == 0) {
		snprintf(err, errlen, "proposal '%s' has no encryption algorithm", s);
		return -1;
	}
	if (check_encr_integ(p, err, errlen) < 0)
		return -1;
	if (protocol == IKEV2_PROTO_IKE)
		return check_ike(p, err, errlen);
	return check_esp(p, err, errlen);
}

static int put(char *buf, size_t len, size_t *off, const char *name)
{
	int n;

	if (!name)
		name = "?";
	n = snprintf(buf + *off, len - *off, "%s%s", *off ? "-" : "", name);
	if (n < 0 || (size_t)n >= len - *off)
		return -1;
	*off += (size_t)n;
	return 0;
}

int proposal_format(const struct proposal *p, char *buf, size_t len)
{
	size_t off = 0;
	int rc = 0;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	for (size_t i = 0; i < p->n_encr; i++)
		rc |= put(buf, len, &off,
		          proposal_token_name(IKEV2_TRANS_ENCR, p->encr[i].id, p->encr[i].keylen));
	for (size_t i = 0; i < p->n_integ; i++)
		rc |= put(buf, len, &off, proposal_token_name(IKEV2_TRANS_INTEG, p->integ[i], 0));
	for (size_t i = 0; i < p->n_prf; i++)
		rc |= put(buf, len, &off, proposal_token_name(IKEV2_TRANS_PRF, p->prf[i], 0));
	for (size_t i = 0; i < p->n_dh; i++)
		rc |= put(buf, len, &off, proposal_token_name(IKEV2_TRANS_KE, p->dh[i], 0));
	for (size_t i = 0; i < p->n_esn; i++)
		rc |= put(buf, len, &off, proposal_token_name(IKEV2_TRANS_SN, p->esn[i], 0));
	return rc ? -1 : 0;
}

bool proposal_equal(const struct proposal *a, const struct proposal *b)
{
	return a->protocol == b->protocol && a->n_encr == b->n_encr && a->n_prf == b->n_prf &&
	       a->n_integ == b->n_integ && a->n_dh == b->n_dh && a->n_esn == b->n_esn &&
	       !memcmp(a->encr, b->encr, a->n_encr * sizeof(a->encr[0])) &&
	       !memcmp(a->prf, b->prf, a->n_prf * sizeof(a->prf[0])) &&
	       !memcmp(a->integ, b->integ, a->n_integ * sizeof(a->integ[0])) &&
	       !memcmp(a->dh, b->dh, a->n_dh * sizeof(a->dh[0])) &&
	       !memcmp(a->esn, b->esn, a->n_esn * sizeof(a->esn[0]));
}
