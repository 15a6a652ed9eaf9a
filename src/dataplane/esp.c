/*
 * ESP packet transforms (RFC 4303) for tunnel mode: header, explicit IV,
 * padding and trailer (2.4-2.6), ICV over header + IV + ciphertext with the
 * ESN high bits appended but not sent (2.2.1, 3.3.4), and AEAD ciphers whose
 * AAD is SPI + 32- or 64-bit sequence number (RFC 4106 5; RFC 7634 3 uses
 * the same). For counter-based ciphers (GCM, CCM, CTR, ChaCha20-Poly1305)
 * the explicit IV is the 64-bit sequence number, which is unique per key as
 * RFC 4106 3.1 and RFC 7634 2 require; CBC gets random IVs (RFC 3602 2.3).
 * Inbound: replay check, ICV, replay update (RFC 4303 3.4.3), then padding.
 */
#include "dataplane/esp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wire/ikev2.h"

/* Counter-based ciphers: the explicit IV is the sequence number (see above). */
static bool esp_counter_iv(const struct dp_esp_sa *e)
{
	return e->block_len == 1 && e->iv_len == 8;
}

static int esp_init_integ(struct dp_esp_sa *e, const struct dp_sa *p)
{
	if (e->aead) {
		if (p->integ != IKEV2_AUTH_NONE)
			return -1; /* RFC 4106 8.3 / RFC 7634 2: no integrity with AEAD */
		return 0;          /* the tag's length, from the cipher */
	}
	if (crypto_integ_key_len(p->integ) == 0 ||
	    p->integ_key_len != crypto_integ_key_len(p->integ))
		return -1;
	if (crypto_integ_icv_len(p->integ) == 0 ||
	    crypto_integ_icv_len(p->integ) > CRYPTO_MAX_ICV_LEN)
		return -1;
	e->icv_len = (uint8_t)crypto_integ_icv_len(p->integ);
	e->integ = crypto_integ_new(p->integ, p->integ_key, p->integ_key_len);
	return e->integ ? 0 : -1;
}

static size_t esp_cipher_room(void)
{
	return (crypto_cipher_size() + 7) & ~(size_t)7;
}

size_t dp_esp_extra_size(const struct dp_sa *p)
{
	return esp_cipher_room() +
	       (p->dir == DP_DIR_IN ? dp_replay_ring_size(p->replay_window) : 0);
}

int dp_esp_init_at(struct dp_esp_sa *e, const struct dp_sa *p, void *extra)
{
	struct crypto_cipher *c = extra;
	struct crypto_encr_info ci;

	memset(e, 0, sizeof(*e));
	e->spi = p->spi;
	e->esn = p->esn;
	/* Only what the direction uses: the replay window is inbound's
	 * (RFC 4303 3.4.3), random IVs are outbound CBC's (RFC 3602 2.3). */
	if (p->dir == DP_DIR_IN &&
	    dp_replay_init_at(&e->replay, p->replay_window, p->esn,
	                      (uint64_t *)(void *)((uint8_t *)extra + esp_cipher_room())))
		goto fail;
	if (crypto_cipher_init(c, p->encr, p->encr_keybits, p->encr_key, p->encr_key_len,
	                       p->dir == DP_DIR_OUT))
		goto fail;
	e->cipher = c;
	crypto_cipher_get_info(c, &ci);
	if (ci.iv_len > CRYPTO_MAX_IV_LEN || ci.block_len == 0 || ci.block_len > CRYPTO_MAX_IV_LEN)
		goto fail;
	e->iv_len = (uint8_t)ci.iv_len;
	e->block_len = (uint8_t)ci.block_len;
	e->aead = ci.aead;
	e->icv_len = (uint8_t)ci.icv_len;
	if (p->dir == DP_DIR_OUT && !esp_counter_iv(e)) {
		e->ivpool = malloc(DP_ESP_IVPOOL);
		if (!e->ivpool)
			goto fail;
		e->ivpool_off = DP_ESP_IVPOOL;
	}
	if (esp_init_integ(e, p))
		goto fail;
	return 0;
fail:
	dp_esp_clear(e);
	errno = EINVAL;
	return -1;
}

int dp_esp_init(struct dp_esp_sa *e, const struct dp_sa *p)
{
	void *extra = malloc(dp_esp_extra_size(p));

	if (!extra || dp_esp_init_at(e, p, extra)) {
		free(extra);
		memset(e, 0, sizeof(*e));
		errno = EINVAL;
		return -1;
	}
	e->own = true;
	return 0;
}

void dp_esp_clear(struct dp_esp_sa *e)
{
	crypto_cipher_fini(e->cipher);
	crypto_integ_free(e->integ);
	dp_replay_free(&e->replay);
	if (e->ivpool)
		crypto_wipe(e->ivpool, DP_ESP_IVPOOL);
	free(e->ivpool);
	if (e->own)
		free(e->cipher); /* the start of the block, ring included */
	crypto_wipe(e, sizeof(*e));
}

size_t dp_esp_overhead(const struct dp_esp_sa *e)
{
	size_t align = e->block_len > 4 ? e->block_len : 4;

	return DP_ESP_HDR_LEN + e->iv_len + align - 1 + 2 + e->icv_len;
}

int dp_esp_peek_spi(const uint8_t *p, size_t len, uint32_t *spi)
{
	if (len < DP_ESP_HDR_LEN)
		return -1;
	*spi = dp_get32(p);
	return 0;
}

/* The explicit IV of the next packet (see the file comment). */
static int esp_make_iv(struct dp_esp_sa *e, uint8_t *iv)
{
	size_t n = e->iv_len;

	if (esp_counter_iv(e)) {
		dp_put64(iv, e->seq);
		return 0;
	}
	if (!e->ivpool)
		return -1; /* not an outbound SA */
	if (e->ivpool_off + n > DP_ESP_IVPOOL) {
		if (crypto_random(e->ivpool, DP_ESP_IVPOOL))
			return -1;
		e->ivpool_off = 0;
	}
	memcpy(iv, e->ivpool + e->ivpool_off, n);
	e->ivpool_off += n;
	return 0;
}

/* AAD of AEAD ciphers: SPI | [seq high] | seq low (RFC 4106 5). */
static size_t esp_aad(const struct dp_esp_sa *e, uint64_t seq, uint8_t aad[12])
{
	dp_put32(aad, e->spi);
	if (!e->esn) {
		dp_put32(aad + 4, (uint32_t)seq);
		return 8;
	}
	dp_put64(aad + 4, seq);
	return 12;
}

/* RFC 4303 2.4: pad so that the trailer ends on the cipher block size and at least 4 octets. */
static int esp_add_trailer(struct dp_esp_sa *e, struct dp_buf *b, uint8_t nh)
{
	size_t align = e->block_len > 4 ? e->block_len : 4;
	size_t pad = (align - (b->len + 2) % align) % align;
	uint8_t *t = dp_buf_put(b, pad + 2);

	if (!t)
		return -1;
	for (size_t i = 0; i < pad; i++)
		t[i] = (uint8_t)(i + 1); /* 2.4: 1, 2, 3, ... */
	t[pad] = (uint8_t)pad;
	t[pad + 1] = nh;
	return 0;
}

static int esp_seal(struct dp_esp_sa *e, struct dp_buf *b, const uint8_t *iv, uint8_t *icv)
{
	size_t front = DP_ESP_HDR_LEN + e->iv_len;
	size_t ctlen = b->len - front - e->icv_len;
	uint8_t *ct = dp_buf_at(b, front, ctlen), aad[12], scratch[CRYPTO_MAX_ICV_LEN];

	if (!ct)
		return -1;
	if (e->aead)
		return crypto_cipher_seal(e->cipher, iv, aad, esp_aad(e, e->seq, aad), ct, ctlen,
		                          ct, icv);
	if (crypto_cipher_seal(e->cipher, iv, aad, 0, ct, ctlen, ct, scratch))
		return -1;
	/* RFC 4303 2.2.1 / 3.3.4: the ICV covers the high 32 bits of an ESN too. */
	uint8_t hi[4];
	dp_put32(hi, (uint32_t)(e->seq >> 32));
	struct crypto_chunk in[2] = {{dp_buf_data(b), front + ctlen}, {hi, 4}};
	return crypto_integ_compute(e->integ, in, e->esn ? 2 : 1, icv);
}

enum dp_esp_result dp_esp_encap(struct dp_esp_sa *e, struct dp_buf *b, uint8_t next_header)
{
	uint64_t limit = e->esn ? UINT64_MAX : UINT32_MAX;
	uint8_t *hdr, *icv;

	/* RFC 4303 3.3.3: the counter must not cycle. */
	if (e->seq >= limit)
		return DP_ESP_SEQ_OVERFLOW;
	if (esp_add_trailer(e, b, next_header))
		return DP_ESP_ERROR;
	hdr = dp_buf_push(b, DP_ESP_HDR_LEN + e->iv_len);
	icv = dp_buf_put(b, e->icv_len);
	if (!hdr || !icv)
		return DP_ESP_ERROR;
	e->seq++;
	dp_put32(hdr, e->spi);
	dp_put32(hdr + 4, (uint32_t)e->seq);
	if (esp_make_iv(e, hdr + DP_ESP_HDR_LEN))
		return DP_ESP_ERROR;
	if (esp_seal(e, b, hdr + DP_ESP_HDR_LEN, icv))
		return DP_ESP_ERROR;
	return DP_ESP_OK;
}

/* Verify and decrypt the ciphertext in place; -1 when authentication fails. */
static int esp_open(struct dp_esp_sa *e, struct dp_buf *b, uint64_t seq, size_t ctlen)
{
	size_t front = DP_ESP_HDR_LEN + e->iv_len;
	const uint8_t *iv = dp_buf_at(b, DP_ESP_HDR_LEN, e->iv_len);
	uint8_t *ct = dp_buf_at(b, front, ctlen);
	const uint8_t *icv = dp_buf_at(b, front + ctlen, e->icv_len);
	uint8_t aad[12], scratch[CRYPTO_MAX_ICV_LEN] = {0};

	if (!iv || !ct || !icv)
		return -1;
	if (e->aead)
		return crypto_cipher_open(e->cipher, iv, aad, esp_aad(e, seq, aad), ct, ctlen, ct,
		                          icv);
	uint8_t hi[4];
	dp_put32(hi, (uint32_t)(seq >> 32));
	struct crypto_chunk in[2] = {{dp_buf_data(b), front + ctlen}, {hi, 4}};
	if (crypto_integ_verify(e->integ, in, e->esn ? 2 : 1, icv))
		return -1;
	return crypto_cipher_open(e->cipher, iv, aad, 0, ct, ctlen, ct, scratch);
}

/* RFC 4303 2.4-2.6: check and strip padding, pad length and next header. */
static enum dp_esp_result esp_strip(struct dp_esp_sa *e, struct dp_buf *b, size_t ctlen,
                                    uint8_t *nh)
{
	const uint8_t *t = dp_buf_at(b, DP_ESP_HDR_LEN + e->iv_len + ctlen - 2, 2);
	size_t pad;

	if (!t)
		return DP_ESP_MALFORMED;
	pad = t[0];
	*nh = t[1];
	if (pad + 2 > ctlen)
		return DP_ESP_MALFORMED;
	const uint8_t *p = dp_buf_at(b, DP_ESP_HDR_LEN + e->iv_len + ctlen - 2 - pad, pad);
	for (size_t i = 0; p && i < pad; i++)
		if (p[i] != (uint8_t)(i + 1))
			return DP_ESP_MALFORMED;
	if (dp_buf_pull(b, DP_ESP_HDR_LEN + e->iv_len) || dp_buf_trim(b, pad + 2 + e->icv_len))
		return DP_ESP_MALFORMED;
	return *nh == DP_ESP_NH_NONE ? DP_ESP_DUMMY : DP_ESP_OK;
}

enum dp_esp_result dp_esp_decap(struct dp_esp_sa *e, struct dp_buf *b, uint8_t *next_header,
                                uint64_t *seq)
{
	size_t front = DP_ESP_HDR_LEN + e->iv_len, ctlen;
	const uint8_t *hdr = dp_buf_at(b, 0, DP_ESP_HDR_LEN);

	if (!e->replay.bits)
		return DP_ESP_ERROR; /* not an inbound SA */
	if (!hdr || b->len < front + e->icv_len + 2)
		return DP_ESP_MALFORMED;
	ctlen = b->len - front - e->icv_len;
	if (ctlen % e->block_len)
		return DP_ESP_MALFORMED;
	if (dp_replay_check(&e->replay, dp_get32(hdr + 4), seq))
		return DP_ESP_REPLAY;
	if (esp_open(e, b, *seq, ctlen))
		return DP_ESP_AUTH;
	dp_replay_update(&e->replay, *seq);
	return esp_strip(e, b, ctlen, next_header);
}
