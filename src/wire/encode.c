/*
 * The IKEv2 message encoder: the inverse of decode.c for RFC 7296 3.1-3.16
 * and RFC 7383 2.5. It writes through a wire_wr, so the output is capped
 * and a failed append fails the whole encoding.
 *
 * The encoder computes every next-payload, Last Substruc and length field;
 * everything else (reserved octets, attribute formats, the version octet)
 * comes from the structs, so decode-then-encode reproduces a well-formed
 * message byte for byte. Structs that could not have come from the decoder
 * (counts over the caps, an SPI over 8 octets, SK not last) are refused.
 */
#include "wire/payload.h"

#include <string.h>

/* Patch the 16-bit length at `off` to cover everything written since `start`. */
static int patch_len(struct wire_wr *w, size_t off, size_t start)
{
	size_t len = w->len - start;

	if (w->failed || len > UINT16_MAX)
		return -1;
	return wire_wr_patch_u16(w, off, (uint16_t)len);
}

/* RFC 7296 3.3.5 */
static int enc_attr(const struct wire_attr *a, struct wire_wr *w)
{
	if (a->type & IKEV2_ATTR_AF)
		return -1;
	if (a->tv) {
		if (wire_wr_u16(w, a->type | IKEV2_ATTR_AF) < 0 || wire_wr_u16(w, a->value) < 0)
			return -1;
		return 0;
	}
	if (wire_wr_u16(w, a->type) < 0 || wire_wr_u16(w, a->len) < 0 ||
	    wire_wr_bytes(w, a->data, a->len) < 0)
		return -1;
	return 0;
}

/* RFC 7296 3.3.2 */
static int enc_transform(const struct wire_transform *t, bool last, struct wire_wr *w)
{
	size_t start = w->len;

	if (t->nattrs > WIRE_MAX_ATTRS)
		return -1;
	if (wire_wr_u8(w, last ? 0 : 3) < 0 || wire_wr_u8(w, t->reserved_hdr) < 0 ||
	    wire_wr_u16(w, 0) < 0 || wire_wr_u8(w, t->type) < 0 || wire_wr_u8(w, t->reserved) < 0 ||
	    wire_wr_u16(w, t->id) < 0)
		return -1;
	for (unsigned i = 0; i < t->nattrs; i++) {
		if (enc_attr(&t->attrs[i], w) < 0)
			return -1;
	}
	return patch_len(w, start + 2, start);
}

/* RFC 7296 3.3.1 */
static int enc_proposal(const struct wire_proposal *p, bool last, struct wire_wr *w)
{
	size_t start = w->len;

	if (p->spi_size > WIRE_MAX_SPI || p->ntransforms > WIRE_MAX_TRANSFORMS ||
	    (p->ntransforms && !p->transforms))
		return -1;
	if (wire_wr_u8(w, last ? 0 : 2) < 0 || wire_wr_u8(w, p->reserved) < 0 ||
	    wire_wr_u16(w, 0) < 0 || wire_wr_u8(w, p->num) < 0 || wire_wr_u8(w, p->protocol) < 0 ||
	    wire_wr_u8(w, p->spi_size) < 0 || wire_wr_u8(w, p->ntransforms) < 0 ||
	    wire_wr_bytes(w, p->spi, p->spi_size) < 0)
		return -1;
	for (unsigned i = 0; i < p->ntransforms; i++) {
		if (enc_transform(&p->transforms[i], i + 1u == p->ntransforms, w) < 0)
			return -1;
	}
	return patch_len(w, start + 2, start);
}

/* RFC 7296 3.3 */
static int enc_sa(const struct wire_sa *sa, struct wire_wr *w)
{
	if (sa->nproposals == 0 || sa->nproposals > WIRE_MAX_PROPOSALS || !sa->proposals)
		return -1;
	for (unsigned i = 0; i < sa->nproposals; i++) {
		if (enc_proposal(&sa->proposals[i], i + 1u == sa->nproposals, w) < 0)
			return -1;
	}
	return 0;
}

/* RFC 7296 3.5, 3.8 (reserved3) and 3.6, 3.7 (no reserved octets). */
static int enc_typed(const struct wire_typed *t, bool reserved3, struct wire_wr *w)
{
	if (wire_wr_u8(w, t->type) < 0)
		return -1;
	if (reserved3 && wire_wr_bytes(w, t->reserved, 3) < 0)
		return -1;
	return wire_wr_bytes(w, t->data, t->len);
}

/* RFC 7296 3.10 */
static int enc_notify(const struct wire_notify *n, struct wire_wr *w)
{
	if (n->spi_size > WIRE_MAX_SPI)
		return -1;
	if (wire_wr_u8(w, n->protocol) < 0 || wire_wr_u8(w, n->spi_size) < 0 ||
	    wire_wr_u16(w, n->type) < 0 || wire_wr_bytes(w, n->spi, n->spi_size) < 0 ||
	    wire_wr_bytes(w, n->data, n->len) < 0)
		return -1;
	return 0;
}

/* RFC 7296 3.11 */
static int enc_delete(const struct wire_delete *d, struct wire_wr *w)
{
	if (wire_wr_u8(w, d->protocol) < 0 || wire_wr_u8(w, d->spi_size) < 0 ||
	    wire_wr_u16(w, d->nspis) < 0 ||
	    wire_wr_bytes(w, d->spis, (size_t)d->nspis * d->spi_size) < 0)
		return -1;
	return 0;
}

/* RFC 7296 3.13.1 */
static int enc_selector(const struct wire_ts *ts, struct wire_wr *w)
{
	size_t alen;

	if (ts->type != IKEV2_TS_IPV4_ADDR_RANGE && ts->type != IKEV2_TS_IPV6_ADDR_RANGE) {
		if (ts->raw_len > UINT16_MAX - 4)
			return -1;
		if (wire_wr_u8(w, ts->type) < 0 || wire_wr_u8(w, ts->ip_proto) < 0 ||
		    wire_wr_u16(w, (uint16_t)(4 + ts->raw_len)) < 0 ||
		    wire_wr_bytes(w, ts->raw, ts->raw_len) < 0)
			return -1;
		return 0;
	}
	alen = ts->type == IKEV2_TS_IPV4_ADDR_RANGE ? 4 : 16;
	if (wire_wr_u8(w, ts->type) < 0 || wire_wr_u8(w, ts->ip_proto) < 0 ||
	    wire_wr_u16(w, (uint16_t)(8 + 2 * alen)) < 0 || wire_wr_u16(w, ts->start_port) < 0 ||
	    wire_wr_u16(w, ts->end_port) < 0 || wire_wr_bytes(w, ts->start, alen) < 0 ||
	    wire_wr_bytes(w, ts->end, alen) < 0)
		return -1;
	return 0;
}

/* RFC 7296 3.13 */
static int enc_ts(const struct wire_ts_list *l, struct wire_wr *w)
{
	if (l->nts == 0 || l->nts > WIRE_MAX_TS || !l->ts)
		return -1;
	if (wire_wr_u8(w, l->nts) < 0 || wire_wr_bytes(w, l->reserved, 3) < 0)
		return -1;
	for (unsigned i = 0; i < l->nts; i++) {
		if (enc_selector(&l->ts[i], w) < 0)
			return -1;
	}
	return 0;
}

/* RFC 7296 3.15, 3.15.1 */
static int enc_cp(const struct wire_cp *cp, struct wire_wr *w)
{
	if (cp->nattrs > WIRE_MAX_CP_ATTRS || (cp->nattrs && !cp->attrs))
		return -1;
	if (wire_wr_u8(w, cp->cfg_type) < 0 || wire_wr_bytes(w, cp->reserved, 3) < 0)
		return -1;
	for (unsigned i = 0; i < cp->nattrs; i++) {
		const struct wire_cp_attr *a = &cp->attrs[i];

		if (a->type > 0x7fff || a->r > 1)
			return -1;
		if (wire_wr_u16(w, (uint16_t)(a->r << 15 | a->type)) < 0 ||
		    wire_wr_u16(w, a->len) < 0 || wire_wr_bytes(w, a->data, a->len) < 0)
			return -1;
	}
	return 0;
}

/* RFC 7296 3.14, RFC 7383 2.5: the fragment fields precede IV || data || ICV. */
static int enc_sk(const struct wire_sk *sk, bool skf, struct wire_wr *w)
{
	if (skf && (wire_wr_u16(w, sk->frag_num) < 0 || wire_wr_u16(w, sk->total_frags) < 0))
		return -1;
	return wire_wr_bytes(w, sk->data, sk->len);
}

static int enc_body(const struct wire_payload *p, struct wire_wr *w)
{
	switch (p->type) {
	case IKEV2_PL_SA:
		return enc_sa(&p->u.sa, w);
	case IKEV2_PL_KE:
		if (wire_wr_u16(w, p->u.ke.group) < 0 || wire_wr_u16(w, p->u.ke.reserved) < 0)
			return -1;
		return wire_wr_bytes(w, p->u.ke.data, p->u.ke.len);
	case IKEV2_PL_IDI:
	case IKEV2_PL_IDR:
		return enc_typed(&p->u.id, true, w);
	case IKEV2_PL_AUTH:
		return enc_typed(&p->u.auth, true, w);
	case IKEV2_PL_CERT:
	case IKEV2_PL_CERTREQ:
		return enc_typed(&p->u.cert, false, w);
	case IKEV2_PL_N:
		return enc_notify(&p->u.notify, w);
	case IKEV2_PL_D:
		return enc_delete(&p->u.del, w);
	case IKEV2_PL_TSI:
	case IKEV2_PL_TSR:
		return enc_ts(&p->u.ts, w);
	case IKEV2_PL_CP:
		return enc_cp(&p->u.cp, w);
	case IKEV2_PL_SK:
	case IKEV2_PL_SKF:
		return enc_sk(&p->u.sk, p->type == IKEV2_PL_SKF, w);
	case IKEV2_PL_NI_NR:
		return wire_wr_bytes(w, p->u.nonce.data, p->u.nonce.len);
	case IKEV2_PL_V:
		return wire_wr_bytes(w, p->u.vendor.data, p->u.vendor.len);
	case IKEV2_PL_EAP:
		return wire_wr_bytes(w, p->u.eap.data, p->u.eap.len);
	case IKEV2_PL_PS: /* RFC 8019 8.2: four keys of one size, never empty */
		if (!p->u.ps.len || p->u.ps.len % WIRE_PS_KEYS || p->u.ps.len > WIRE_PS_MAX)
			return -1;
		return wire_wr_bytes(w, p->u.ps.data, p->u.ps.len);
	default: /* unknown types, kept raw by the decoder */
		return wire_wr_bytes(w, p->u.raw.data, p->u.raw.len);
	}
}

/* RFC 7296 3.2: generic header, then the body; the length is patched in. */
static int enc_payload(const struct wire_payload *p, uint8_t np, struct wire_wr *w)
{
	size_t start = w->len;

	if (p->type == IKEV2_PL_NONE)
		return -1;
	if (wire_wr_u8(w, np) < 0 || wire_wr_u8(w, p->flags) < 0 || wire_wr_u16(w, 0) < 0)
		return -1;
	if (enc_body(p, w) < 0)
		return -1;
	return patch_len(w, start + 2, start);
}

static bool is_sk(uint8_t type)
{
	return type == IKEV2_PL_SK || type == IKEV2_PL_SKF;
}

/* Index of the first payload at or after i that is encoded (all, or the unencrypted only). */
static size_t next_sel(const struct wire_payload *pl, size_t n, size_t i, bool clear_only)
{
	while (i < n && clear_only && pl[i].encrypted)
		i++;
	return i;
}

static int enc_chain_sel(const struct wire_payload *pl, size_t n, bool clear_only,
                         struct wire_wr *w, uint8_t *first_np)
{
	size_t i = next_sel(pl, n, 0, clear_only);

	*first_np = i < n ? pl[i].type : IKEV2_PL_NONE;
	while (i < n) {
		size_t j = next_sel(pl, n, i + 1, clear_only);
		uint8_t np = j < n ? pl[j].type : IKEV2_PL_NONE;

		/* RFC 7296 3.14: SK is last and its next-payload is the first inner type. */
		if (is_sk(pl[i].type)) {
			if (j < n)
				return -1;
			np = pl[i].u.sk.inner_np;
		}
		if (enc_payload(&pl[i], np, w) < 0)
			return -1;
		i = j;
	}
	return w->failed ? -1 : 0;
}

int wire_encode_chain(const struct wire_payload *payloads, size_t n, struct wire_wr *w,
                      uint8_t *first_np)
{
	return enc_chain_sel(payloads, n, false, w, first_np);
}

int wire_encode_chain_to(const struct wire_payload *payloads, size_t n, uint8_t last_np,
                         struct wire_wr *w)
{
	for (size_t i = 0; i < n; i++) {
		if (is_sk(payloads[i].type) ||
		    enc_payload(&payloads[i], i + 1 < n ? payloads[i + 1].type : last_np, w) < 0)
			return -1;
	}
	return w->failed ? -1 : 0;
}

/* RFC 7296 3.1. A zero version octet is written as IKEV2_VERSION. */
int wire_encode(const struct wire_msg *m, struct wire_wr *w)
{
	const struct wire_hdr *h = &m->hdr;
	size_t start = w->len, np_off;
	uint8_t first_np;

	if (m->npayloads > WIRE_MAX_PAYLOADS)
		return -1;
	if (wire_wr_bytes(w, h->spi_i, 8) < 0 || wire_wr_bytes(w, h->spi_r, 8) < 0 ||
	    wire_wr_reserve(w, 1, &np_off) < 0 ||
	    wire_wr_u8(w, h->version ? h->version : IKEV2_VERSION) < 0 ||
	    wire_wr_u8(w, h->exchange) < 0 || wire_wr_u8(w, h->flags) < 0 ||
	    wire_wr_u32(w, h->msg_id) < 0 || wire_wr_u32(w, 0) < 0)
		return -1;
	if (enc_chain_sel(m->payloads, m->npayloads, true, w, &first_np) < 0)
		return -1;
	if (m->trailer_len && wire_wr_bytes(w, m->trailer, m->trailer_len) < 0)
		return -1;
	if (wire_wr_patch_u8(w, np_off, first_np) < 0)
		return -1;
	return wire_wr_patch_u32(w, start + 24, (uint32_t)(w->len - start));
}
