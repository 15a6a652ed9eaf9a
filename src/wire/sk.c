/*
 * The Encrypted payload (RFC 7296 3.14) for IKE messages: verifying the
 * ICV, decrypting, checking the padding and handing the inner payloads to
 * the decoder; and the reverse, building a whole protected message. AEAD
 * ciphers follow RFC 5282 5.1: the associated data is the message from
 * the IKE header to the end of the SK (or SKF) payload header, i.e. every
 * octet before the IV, and the tag is the Integrity Checksum Data. For
 * the other ciphers the ICV covers the message from the header through the
 * ciphertext (3.14). The header's Length always includes the ICV.
 *
 * Pointer arithmetic on the message stays in this file and frag.c; the
 * crypto itself is src/crypto's.
 */
#include "wire/sk.h"

#include <stdint.h>
#include <string.h>

#define SK_HDR_LEN  4 /* RFC 7296 3.14 */
#define SKF_HDR_LEN 8 /* RFC 7383 2.5 */

static void sk_err(struct wire_error *err, uint16_t notify, size_t off, const char *reason)
{
	if (!err)
		return;
	err->notify = notify;
	err->payload = 0;
	err->offset = off;
	err->reason = reason;
}

/* SK_e's cipher, for sealing and opening: it holds the key, and each
 * thread keys an OpenSSL context from its cache when it is used
 * (crypto_cipher_new_duplex), so a quiet IKE SA holds no context. */
static int prot_cipher(struct wire_prot *p, const struct crypto_ike_suite *s, const uint8_t *sk_e,
                       size_t sk_e_len)
{
	struct crypto_encr_info info;

	if (crypto_encr_info(s->encr, s->encr_keybits, &info) < 0 || sk_e_len != info.key_len ||
	    info.iv_len > CRYPTO_MAX_IV_LEN)
		return -1;
	p->cipher = crypto_cipher_new_duplex(s->encr, s->encr_keybits, sk_e, sk_e_len);
	if (!p->cipher)
		return -1;
	p->iv_len = (uint8_t)info.iv_len;
	p->block_len = (uint8_t)info.block_len;
	p->aead = info.aead;
	if (p->aead)
		p->icv_len = (uint8_t)info.icv_len;
	return 0;
}

int wire_prot_init(struct wire_prot *p, const struct crypto_ike_suite *s, const uint8_t *sk_e,
                   size_t sk_e_len, const uint8_t *sk_a, size_t sk_a_len)
{
	memset(p, 0, sizeof(*p));
	if (prot_cipher(p, s, sk_e, sk_e_len) < 0)
		goto fail;
	if (p->aead) {
		/* RFC 5282 8: no integrity transform with a combined-mode cipher. */
		if (s->integ != IKEV2_AUTH_NONE)
			goto fail;
		return 0;
	}
	/* RFC 7296 3.3: IKE SAs always have integrity protection. */
	if (s->integ == IKEV2_AUTH_NONE || crypto_integ_key_len(s->integ) == 0 ||
	    sk_a_len != crypto_integ_key_len(s->integ))
		goto fail;
	p->icv_len = (uint8_t)crypto_integ_icv_len(s->integ);
	p->integ = crypto_integ_new(s->integ, sk_a, sk_a_len);
	if (!p->integ || p->icv_len == 0 || crypto_integ_icv_len(s->integ) > CRYPTO_MAX_ICV_LEN)
		goto fail;
	return 0;
fail:
	wire_prot_clear(p);
	return -1;
}

int wire_prot_init_unchecked(struct wire_prot *p, const struct crypto_ike_suite *s,
                             const uint8_t *sk_e, size_t sk_e_len, size_t icv_len)
{
	memset(p, 0, sizeof(*p));
	if (prot_cipher(p, s, sk_e, sk_e_len) < 0 || p->aead || icv_len > CRYPTO_MAX_ICV_LEN)
		goto fail;
	p->icv_len = (uint8_t)icv_len;
	p->icv_unchecked = true;
	return 0;
fail:
	wire_prot_clear(p);
	return -1;
}

void wire_prot_clear(struct wire_prot *p)
{
	if (!p)
		return;
	crypto_cipher_free(p->cipher);
	crypto_integ_free(p->integ);
	crypto_wipe(p, sizeof(*p));
}

/*
 * Where the SK/SKF body lies in buf: it must be borrowed from buf (as
 * wire_decode leaves it) and run to the end of the message (3.14: SK is last).
 */
static int sk_locate(const struct wire_prot *p, const uint8_t *buf, size_t len,
                     const struct wire_payload *sk, size_t *aad_len, size_t *ct_len,
                     struct wire_error *err)
{
	uintptr_t b = (uintptr_t)buf, d = (uintptr_t)sk->u.sk.data;

	if (sk->type != IKEV2_PL_SK && sk->type != IKEV2_PL_SKF) {
		sk_err(err, IKEV2_N_INVALID_SYNTAX, 0, "not an SK/SKF payload");
		return -1;
	}
	if (!sk->u.sk.data || d < b || d - b > len || sk->u.sk.len != len - (d - b)) {
		sk_err(err, IKEV2_N_INVALID_SYNTAX, 0, "SK payload is not the end of the message");
		return -1;
	}
	*aad_len = d - b;
	/* Unauthenticated so far, hence dropped silently (notify 0). */
	if (sk->u.sk.len < (size_t)p->iv_len + p->icv_len + 1) {
		sk_err(err, 0, *aad_len, "SK payload too short for IV, pad length and ICV");
		return -1;
	}
	*ct_len = sk->u.sk.len - p->iv_len - p->icv_len;
	if (p->block_len > 1 && *ct_len % p->block_len) {
		sk_err(err, 0, *aad_len, "SK ciphertext not a multiple of the block size");
		return -1;
	}
	return 0;
}

/* RFC 7296 3.14: the ICV over the header through the ciphertext, before decrypting. */
static int sk_verify_integ(struct wire_prot *p, const uint8_t *buf, size_t icv_off,
                           struct wire_sk_result *res)
{
	struct crypto_chunk c = {buf, icv_off};

	res->icv_verified = false;
	if (!p->integ)
		return p->icv_unchecked ? 0 : -1;
	if (crypto_integ_verify(p->integ, &c, 1, buf + icv_off) < 0)
		return -1;
	res->icv_verified = true;
	return 0;
}

/* Pad Length (3.14): padding plus the octet itself must fit the plaintext. */
static int sk_unpad(struct wire_sk_result *res, size_t off, struct wire_error *err)
{
	res->pad_len = res->plain[res->plain_len - 1];
	if ((size_t)res->pad_len + 1 > res->plain_len) {
		sk_err(err, IKEV2_N_INVALID_SYNTAX, off, "SK pad length exceeds the plaintext");
		return -1;
	}
	res->inner_len = res->plain_len - res->pad_len - 1;
	return 0;
}

int wire_sk_decrypt(struct wire_prot *p, const uint8_t *buf, size_t len,
                    const struct wire_payload *sk, unsigned flags, struct wire_wr *plain,
                    struct wire_sk_result *res, struct wire_error *err)
{
	size_t aad_len, ct_len, off;
	const uint8_t *iv, *ct, *icv;
	uint8_t *out;

	memset(res, 0, sizeof(*res));
	if (!p->cipher || sk_locate(p, buf, len, sk, &aad_len, &ct_len, err) < 0)
		return -1;
	iv = sk->u.sk.data;
	ct = iv + p->iv_len;
	icv = ct + ct_len;
	res->iv = iv;
	res->iv_len = p->iv_len;
	res->icv = icv;
	res->icv_len = p->icv_len;
	if (!p->aead && sk_verify_integ(p, buf, len - p->icv_len, res) < 0 &&
	    !(flags & WIRE_SK_SKIP_ICV)) {
		sk_err(err, 0, len - p->icv_len, "SK integrity check failed");
		return -1;
	}
	wire_wr_reset(plain);
	if (wire_wr_reserve(plain, ct_len, &off) < 0) {
		sk_err(err, 0, aad_len, "SK plaintext too large");
		return -1;
	}
	out = plain->p + off;
	if (crypto_cipher_open(p->cipher, iv, buf, aad_len, ct, ct_len, out, icv) < 0) {
		sk_err(err, 0, len - p->icv_len,
		       p->aead ? "SK integrity check failed" : "SK decryption failed");
		return -1;
	}
	if (p->aead)
		res->icv_verified = true;
	res->plain = out;
	res->plain_len = ct_len;
	return sk_unpad(res, aad_len + p->iv_len, err);
}

/* The SK payload of a message from wire_decode is its last, unencrypted payload. */
static const struct wire_payload *sk_last(const struct wire_msg *m, uint8_t type)
{
	const struct wire_payload *pl;

	if (m->npayloads == 0)
		return NULL;
	pl = &m->payloads[m->npayloads - 1];
	return pl->type == type && !pl->encrypted ? pl : NULL;
}

int wire_sk_open_flags(struct wire_prot *p, const uint8_t *buf, size_t len, struct wire_msg *m,
                       unsigned flags, struct wire_sk_result *res, struct wire_error *err)
{
	const struct wire_payload *sk = sk_last(m, IKEV2_PL_SK);
	struct wire_sk_result r;
	struct wire_wr plain;
	const uint8_t *kept;
	int rc = -1;

	wire_wr_init(&plain, WIRE_SK_MAX_MSG);
	if (!sk) {
		sk_err(err, IKEV2_N_INVALID_SYNTAX, 0, "no SK payload at the end of the message");
		goto out;
	}
	if (wire_sk_decrypt(p, buf, len, sk, flags, &plain, &r, err) < 0)
		goto out;
	kept = wire_msg_adopt(m, r.plain, r.plain_len);
	if (!kept) {
		sk_err(err, 0, 0, "no room to keep the SK plaintext");
		goto out;
	}
	r.plain = kept;
	if (wire_decode_chain(kept, r.inner_len, sk->u.sk.inner_np, true, m, err) < 0)
		goto out;
	if (res)
		*res = r;
	rc = 0;
out:
	wire_wr_free(&plain);
	return rc;
}

int wire_sk_open(struct wire_prot *p, const uint8_t *buf, size_t len, struct wire_msg *m,
                 struct wire_sk_result *res, struct wire_error *err)
{
	return wire_sk_open_flags(p, buf, len, m, 0, res, err);
}

static int sk_write_hdr(struct wire_wr *w, const struct wire_hdr *hdr, uint8_t np, size_t total)
{
	int rc = 0;

	rc |= wire_wr_bytes(w, hdr->spi_i, 8);
	rc |= wire_wr_bytes(w, hdr->spi_r, 8);
	rc |= wire_wr_u8(w, np);
	rc |= wire_wr_u8(w, hdr->version ? hdr->version : IKEV2_VERSION);
	rc |= wire_wr_u8(w, hdr->exchange);
	rc |= wire_wr_u8(w, hdr->flags);
	rc |= wire_wr_u32(w, hdr->msg_id);
	rc |= wire_wr_u32(w, (uint32_t)total);
	return rc ? -1 : 0;
}

static int sk_write_sk_hdr(struct wire_wr *w, const struct wire_sk_params *sp, size_t body)
{
	size_t hlen = sp->type == IKEV2_PL_SKF ? SKF_HDR_LEN : SK_HDR_LEN;
	int rc = 0;

	rc |= wire_wr_u8(w, sp->inner_np);
	rc |= wire_wr_u8(w, sp->flags);
	rc |= wire_wr_u16(w, (uint16_t)(hlen + body));
	if (sp->type == IKEV2_PL_SKF) {
		rc |= wire_wr_u16(w, sp->frag_num);
		rc |= wire_wr_u16(w, sp->total_frags);
	}
	return rc ? -1 : 0;
}

/* Encrypt in place at ct_off and fill the ICV at icv_off (3.14; RFC 5282 5.1). */
static int sk_protect(struct wire_prot *p, struct wire_wr *out, size_t base, size_t ct_off,
                      size_t icv_off, const uint8_t *plain, size_t plain_len)
{
	const uint8_t *iv = out->p + ct_off - p->iv_len;
	struct crypto_chunk c = {out->p + base, icv_off - base};
	size_t aad_len = ct_off - p->iv_len - base;

	if (crypto_cipher_seal(p->cipher, iv, out->p + base, aad_len, plain, plain_len,
	                       out->p + ct_off, p->aead ? out->p + icv_off : NULL) < 0)
		return -1;
	if (p->aead || !p->integ)
		return 0; /* AEAD tag written; an unchecked prot leaves a zero ICV */
	return crypto_integ_compute(p->integ, &c, 1, out->p + icv_off);
}

int wire_sk_seal_raw(struct wire_prot *p, const struct wire_hdr *hdr,
                     const struct wire_sk_params *sp, const uint8_t *iv, const uint8_t *plain,
                     size_t plain_len, struct wire_wr *out)
{
	uint8_t ivbuf[CRYPTO_MAX_IV_LEN];
	size_t base = out->len, hlen, body, total, ct_off, icv_off;
	int rc = -1;

	if (!p->cipher || (sp->type != IKEV2_PL_SK && sp->type != IKEV2_PL_SKF) || plain_len == 0 ||
	    (p->block_len > 1 && plain_len % p->block_len) ||
	    (sp->clear_len && (!sp->clear || !sp->clear_np)))
		return -1;
	hlen = sp->type == IKEV2_PL_SKF ? SKF_HDR_LEN : SK_HDR_LEN;
	body = p->iv_len + plain_len + p->icv_len;
	if (body > WIRE_SK_MAX_MSG - IKEV2_HDR_LEN - hlen ||
	    sp->clear_len > WIRE_SK_MAX_MSG - IKEV2_HDR_LEN - hlen - body)
		return -1;
	total = IKEV2_HDR_LEN + sp->clear_len + hlen + body;
	/* RFC 5282 3 and 7296 3.14: IVs must not repeat / be unpredictable; random serves both. */
	if (!iv) {
		if (crypto_random(ivbuf, p->iv_len) < 0)
			goto out;
		iv = ivbuf;
	}
	/* The clear payloads lie inside what the ICV (or the AEAD's AAD) covers. */
	if (sk_write_hdr(out, hdr, sp->clear_len ? sp->clear_np : sp->type, total) < 0 ||
	    (sp->clear_len && wire_wr_bytes(out, sp->clear, sp->clear_len) < 0) ||
	    sk_write_sk_hdr(out, sp, body) < 0 || wire_wr_bytes(out, iv, p->iv_len) < 0 ||
	    wire_wr_reserve(out, plain_len, &ct_off) < 0 ||
	    wire_wr_reserve(out, p->icv_len, &icv_off) < 0)
		goto out;
	rc = sk_protect(p, out, base, ct_off, icv_off, plain, plain_len);
out:
	crypto_wipe(ivbuf, sizeof(ivbuf));
	return rc;
}

/* The padding (3.14) that makes inner || padding || pad length a whole number of blocks. */
static int sk_pad_len(const struct wire_prot *p, size_t inner_len, size_t want, size_t *pad)
{
	size_t b = p->block_len ? p->block_len : 1;

	if (want == WIRE_SK_PAD_MIN) {
		*pad = (b - (inner_len + 1) % b) % b;
		return 0;
	}
	if (want > 255 || (inner_len + want + 1) % b)
		return -1;
	*pad = want;
	return 0;
}

/* Encode the inner chain; n == 0 gives an empty chain (e.g. a liveness check, 2.4). */
static int sk_encode_inner(const struct wire_payload *payloads, size_t n, struct wire_wr *w,
                           uint8_t *first_np)
{
	*first_np = IKEV2_PL_NONE;
	if (n == 0)
		return 0;
	return wire_encode_chain(payloads, n, w, first_np);
}

size_t wire_sk_clear_prefix(const struct wire_payload *payloads, size_t n)
{
	size_t k = 0;

	/* RFC 8019 7.2.2: HDR, PS, SK {...}: the only payload outside SK. */
	while (k < n && payloads[k].type == IKEV2_PL_PS)
		k++;
	return k;
}

/* The payloads before SK, their last one's next payload being SK (3.14). */
static int sk_encode_clear(const struct wire_payload *payloads, size_t n, struct wire_wr *w,
                           uint8_t *first_np)
{
	*first_np = IKEV2_PL_NONE;
	if (n == 0)
		return 0;
	*first_np = payloads[0].type;
	return wire_encode_chain_to(payloads, n, IKEV2_PL_SK, w);
}

int wire_sk_seal(struct wire_prot *p, const struct wire_hdr *hdr,
                 const struct wire_payload *payloads, size_t n, const uint8_t *iv, size_t pad_len,
                 struct wire_wr *out)
{
	struct wire_sk_params sp = {.type = IKEV2_PL_SK};
	size_t nclear = wire_sk_clear_prefix(payloads, n);
	struct wire_wr plain, clear;
	size_t pad;
	int rc = -1;

	wire_wr_init(&plain, WIRE_SK_MAX_MSG);
	wire_wr_init(&clear, WIRE_SK_MAX_MSG);
	if (sk_encode_clear(payloads, nclear, &clear, &sp.clear_np) < 0)
		goto out;
	sp.clear = clear.p;
	sp.clear_len = clear.len;
	if (nclear) {
		payloads += nclear;
		n -= nclear;
	}
	if (sk_encode_inner(payloads, n, &plain, &sp.inner_np) < 0 ||
	    sk_pad_len(p, plain.len, pad_len, &pad) < 0 || wire_wr_zeros(&plain, pad) < 0 ||
	    wire_wr_u8(&plain, (uint8_t)pad) < 0)
		goto out;
	rc = wire_sk_seal_raw(p, hdr, &sp, iv, plain.p, plain.len, out);
out:
	wire_wr_free(&plain);
	wire_wr_free(&clear);
	return rc;
}
