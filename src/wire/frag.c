/*
 * IKEv2 fragmentation (RFC 7383): splitting a message's protected content
 * into Encrypted Fragment (SKF) messages that each fit a size (2.5), and
 * reassembling them (2.6): fragment numbers are checked, replays and older
 * fragment sets discarded, every fragment's ICV verified before it is
 * kept, and the merged content decoded as the original SK payload's chain
 * behind an SK payload of its own, so that the result looks exactly like a
 * message wire_sk_open opened (2.6: "processed as if it was received ...
 * as a regular IKE message"). A message is identified by its message ID
 * and its Response flag: a peer's request and its response to ours may
 * carry the same message ID (RFC 7296 2.2).
 * Peer-controlled sizes are capped (WIRE_SKF_MAX_FRAGS, WIRE_SKF_MAX_PLAIN).
 *
 * Messages with unprotected payloads before SK (2.5.3) are neither split
 * nor accepted: the only such message, an IKE_AUTH request with RFC 8019's
 * Puzzle Solution (7.2.2: "HDR, PS, SK {...}"), goes whole instead
 * (the engine does not split it), and reassembly would have to carry
 * fragment 1's clear payloads over to the merged message.
 */
#include "wire/sk.h"

#include <stdlib.h>
#include <string.h>

#define SKF_OVERHEAD (IKEV2_HDR_LEN + 8) /* IKE header and SKF header (2.5) */
#define IPV4_HDR     20
#define IPV6_HDR     40
#define UDP_HDR      8

static void frag_err(struct wire_error *err, uint16_t notify, const char *reason)
{
	if (!err)
		return;
	err->notify = notify;
	err->payload = IKEV2_PL_SKF;
	err->offset = 0;
	err->reason = reason;
}

/* RFC 7383 2.5.1 counts the IP datagram; the IKE message is what remains. */
size_t wire_skf_msg_len_for_mtu(size_t mtu, bool ipv6, bool natt)
{
	size_t over =
	    (ipv6 ? IPV6_HDR : IPV4_HDR) + UDP_HDR + (natt ? IKEV2_NON_ESP_MARKER_LEN : 0);

	return mtu > over ? mtu - over : 0;
}

/* How much of the inner chain one fragment carries (without padding). */
static size_t frag_capacity(const struct wire_prot *p, size_t max_len)
{
	size_t b = p->block_len ? p->block_len : 1, room;

	if (max_len > WIRE_SK_MAX_MSG)
		max_len = WIRE_SK_MAX_MSG;
	if (max_len <= SKF_OVERHEAD + (size_t)p->iv_len + p->icv_len)
		return 0;
	room = max_len - SKF_OVERHEAD - p->iv_len - p->icv_len;
	room -= room % b;
	return room > 1 ? room - 1 : 0; /* the pad length octet */
}

/* Seal one fragment: piece || padding || pad length (2.5). */
static int frag_seal_one(struct wire_prot *p, const struct wire_hdr *hdr,
                         const struct wire_sk_params *sp, const uint8_t *piece, size_t len,
                         struct wire_wr *out)
{
	size_t b = p->block_len ? p->block_len : 1;
	size_t pad = (b - (len + 1) % b) % b;
	struct wire_wr plain;
	int rc = -1;

	wire_wr_init(&plain, WIRE_SK_MAX_MSG);
	if (wire_wr_bytes(&plain, piece, len) < 0 || wire_wr_zeros(&plain, pad) < 0 ||
	    wire_wr_u8(&plain, (uint8_t)pad) < 0)
		goto out;
	rc = wire_sk_seal_raw(p, hdr, sp, NULL, plain.p, plain.len, out);
out:
	wire_wr_free(&plain);
	return rc;
}

static int frag_seal_all(struct wire_prot *p, const struct wire_hdr *hdr, uint8_t first_np,
                         const struct wire_wr *inner, size_t cap, struct wire_wr *frags, size_t nf)
{
	for (size_t i = 0; i < nf; i++) {
		size_t off = i * cap, len = inner->len - off < cap ? inner->len - off : cap;
		struct wire_sk_params sp = {
		    .type = IKEV2_PL_SKF,
		    .inner_np = i == 0 ? first_np : IKEV2_PL_NONE, /* 2.5 */
		    .frag_num = (uint16_t)(i + 1),
		    .total_frags = (uint16_t)nf,
		};

		if (frag_seal_one(p, hdr, &sp, inner->len ? inner->p + off : NULL, len, &frags[i]) <
		    0)
			return -1;
	}
	return 0;
}

int wire_skf_split(struct wire_prot *p, const struct wire_hdr *hdr,
                   const struct wire_payload *payloads, size_t n, size_t max_len,
                   struct wire_wr *frags, size_t max_frags, size_t *nfrags)
{
	size_t cap = frag_capacity(p, max_len), nf = 0;
	struct wire_wr inner;
	uint8_t first_np = IKEV2_PL_NONE;
	int rc = -1;

	*nfrags = 0;
	wire_wr_init(&inner, WIRE_SKF_MAX_PLAIN);
	if (cap == 0 || wire_sk_clear_prefix(payloads, n) ||
	    (n && wire_encode_chain(payloads, n, &inner, &first_np) < 0))
		goto out;
	nf = inner.len ? (inner.len + cap - 1) / cap : 1;
	if (nf > max_frags || nf > WIRE_SKF_MAX_FRAGS)
		goto out;
	for (size_t i = 0; i < nf; i++)
		wire_wr_init(&frags[i], max_len);
	if (frag_seal_all(p, hdr, first_np, &inner, cap, frags, nf) < 0) {
		for (size_t i = 0; i < nf; i++)
			wire_wr_free(&frags[i]);
		goto out;
	}
	*nfrags = nf;
	rc = 0;
out:
	wire_wr_free(&inner);
	return rc;
}

int wire_skf_split_flat(struct wire_prot *p, const struct wire_hdr *hdr,
                        const struct wire_payload *payloads, size_t n, size_t max_len,
                        struct wire_wr *out, uint32_t *ends, size_t max_frags, size_t *nfrags)
{
	struct wire_wr frags[WIRE_SKF_MAX_FRAGS];
	size_t nf = 0;
	int rc = -1;

	*nfrags = 0;
	wire_wr_reset(out);
	if (max_frags > WIRE_SKF_MAX_FRAGS)
		max_frags = WIRE_SKF_MAX_FRAGS;
	if (wire_skf_split(p, hdr, payloads, n, max_len, frags, max_frags, &nf) < 0)
		return -1;
	for (size_t i = 0; i < nf; i++) {
		if (wire_wr_bytes(out, frags[i].p, frags[i].len) < 0 || out->len > UINT32_MAX)
			goto out;
		ends[i] = (uint32_t)out->len;
	}
	*nfrags = nf;
	rc = 0;
out:
	for (size_t i = 0; i < nf; i++)
		wire_wr_free(&frags[i]);
	if (rc < 0)
		wire_wr_reset(out);
	return rc;
}

void wire_skf_flat_frag(const struct wire_wr *w, const uint32_t *ends, size_t i, const uint8_t **p,
                        size_t *len)
{
	size_t start = i ? ends[i - 1] : 0;

	*p = w->p + start;
	*len = ends[i] - start;
}

void wire_skf_reasm_init(struct wire_skf_reasm *r)
{
	memset(r, 0, sizeof(*r));
}

/* Drop the queued fragments but keep the discard counter. */
static void reasm_reset(struct wire_skf_reasm *r)
{
	unsigned dropped = r->dropped;

	for (size_t i = 0; i < WIRE_SKF_MAX_FRAGS; i++) {
		if (r->frag[i]) {
			crypto_wipe(r->frag[i], r->frag_len[i]);
			free(r->frag[i]);
		}
	}
	memset(r, 0, sizeof(*r));
	r->dropped = dropped;
}

void wire_skf_reasm_clear(struct wire_skf_reasm *r)
{
	if (!r)
		return;
	reasm_reset(r);
	r->dropped = 0;
}

/* The checks of 2.6 that need no keys. */
/* The fragment belongs to the message being reassembled (message ID and R flag). */
static bool reasm_same_msg(const struct wire_skf_reasm *r, const struct wire_hdr *h)
{
	return r->active && h->msg_id == r->msg_id &&
	       (h->flags & IKEV2_FLAG_RESPONSE) == (r->hdr.flags & IKEV2_FLAG_RESPONSE);
}

static int reasm_check(const struct wire_skf_reasm *r, const struct wire_msg *m,
                       const struct wire_sk *k, struct wire_error *err)
{
	bool same = reasm_same_msg(r, &m->hdr);

	if (k->frag_num == 0 || k->total_frags == 0 || k->frag_num > k->total_frags) {
		frag_err(err, 0, "SKF fragment number invalid");
		return -1;
	}
	if (k->total_frags > WIRE_SKF_MAX_FRAGS) {
		frag_err(err, 0, "SKF total fragments above the cap");
		return -1;
	}
	if (same && k->total_frags < r->total) {
		frag_err(err, 0, "SKF fragment of an older fragment set");
		return -1;
	}
	if (same && k->total_frags == r->total && r->frag[k->frag_num - 1]) {
		frag_err(err, 0, "SKF fragment replayed");
		return -1;
	}
	return 0;
}

/* Keep a verified fragment's content; a newer set or message restarts the queue (2.6). */
static int reasm_store(struct wire_skf_reasm *r, const struct wire_msg *m, const struct wire_sk *k,
                       const struct wire_sk_result *res, struct wire_error *err)
{
	uint8_t *copy;

	if (r->active && (!reasm_same_msg(r, &m->hdr) || k->total_frags > r->total))
		reasm_reset(r);
	if (r->bytes + res->inner_len > WIRE_SKF_MAX_PLAIN) {
		reasm_reset(r);
		frag_err(err, 0, "SKF reassembled size above the cap");
		return -1;
	}
	copy = malloc(res->inner_len ? res->inner_len : 1);
	if (!copy) {
		frag_err(err, 0, "out of memory");
		return -1;
	}
	if (res->inner_len)
		memcpy(copy, res->plain, res->inner_len);
	r->active = true;
	r->msg_id = m->hdr.msg_id;
	r->total = k->total_frags;
	r->hdr = m->hdr;
	if (k->frag_num == 1)
		r->inner_np = k->inner_np;
	r->frag[k->frag_num - 1] = copy;
	r->frag_len[k->frag_num - 1] = res->inner_len;
	r->bytes += res->inner_len;
	r->received++;
	return 0;
}

int wire_skf_add(struct wire_skf_reasm *r, struct wire_prot *p, const uint8_t *buf, size_t len,
                 const struct wire_msg *m, struct wire_error *err)
{
	const struct wire_payload *pl = m->npayloads ? &m->payloads[m->npayloads - 1] : NULL;
	struct wire_sk_result res;
	struct wire_wr plain;
	int rc = -1;

	wire_wr_init(&plain, WIRE_SK_MAX_MSG);
	if (!pl || pl->type != IKEV2_PL_SKF || pl->encrypted) {
		frag_err(err, IKEV2_N_INVALID_SYNTAX, "no SKF payload at the end of the message");
		goto out;
	}
	if (m->npayloads != 1) {
		/* 2.5.3: see the top of this file. */
		frag_err(err, 0, "SKF fragment with unprotected payloads");
		r->dropped++;
		goto out;
	}
	if (reasm_check(r, m, &pl->u.sk, err) < 0 ||
	    wire_sk_decrypt(p, buf, len, pl, 0, &plain, &res, err) < 0 ||
	    reasm_store(r, m, &pl->u.sk, &res, err) < 0) {
		r->dropped++;
		goto out;
	}
	rc = r->received == r->total ? 1 : 0;
out:
	wire_wr_free(&plain);
	return rc;
}

static int reasm_merge(const struct wire_skf_reasm *r, struct wire_wr *all)
{
	for (size_t i = 0; i < r->total; i++)
		if (!r->frag[i] || wire_wr_bytes(all, r->frag[i], r->frag_len[i]) < 0)
			return -1;
	return 0;
}

/*
 * RFC 7383 2.6: the merged content is the original Encrypted payload's, so
 * the message gets that SK payload back, unencrypted and last before the
 * inner payloads, as wire_sk_open leaves a message. It has no body: the
 * original SK payload was never on the wire.
 */
static int skf_placeholder(const struct wire_skf_reasm *r, struct wire_msg *out)
{
	struct wire_payload *sk;

	if (out->npayloads >= WIRE_MAX_PAYLOADS)
		return -1;
	sk = &out->payloads[out->npayloads++];
	memset(sk, 0, sizeof(*sk));
	sk->type = IKEV2_PL_SK;
	sk->len = 4; /* the generic payload header alone */
	sk->u.sk.inner_np = r->inner_np;
	return 0;
}

int wire_skf_finish(struct wire_skf_reasm *r, struct wire_msg *out, struct wire_error *err)
{
	struct wire_wr all;
	const uint8_t *kept = NULL;
	int rc = -1;

	wire_wr_init(&all, WIRE_SKF_MAX_PLAIN);
	if (!r->active || r->received != r->total || reasm_merge(r, &all) < 0) {
		frag_err(err, 0, "SKF reassembly incomplete");
		goto out;
	}
	out->hdr = r->hdr;
	out->hdr.np = IKEV2_PL_SK; /* 2.6: processed as the original message */
	if (skf_placeholder(r, out) < 0) {
		frag_err(err, 0, "too many payloads");
		goto out;
	}
	if (all.len) {
		kept = wire_msg_adopt(out, all.p, all.len);
		if (!kept) {
			frag_err(err, 0, "no room to keep the reassembled plaintext");
			goto out;
		}
	}
	if (wire_decode_chain(kept, all.len, r->inner_np, true, out, err) < 0)
		goto out;
	rc = 0;
out:
	wire_wr_free(&all);
	reasm_reset(r);
	return rc;
}
