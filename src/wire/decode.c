/*
 * The IKEv2 message decoder: RFC 7296 3.1 (header), 3.2 (generic payload
 * header) and every payload body of RFC 7296 3.3-3.16, plus the Encrypted
 * Fragment payload of RFC 7383 2.5.
 *
 * All byte access goes through wire/cursor.h: each payload body is decoded
 * from a sub-cursor of exactly its length, so a length field can never make
 * us read outside the datagram. Every failure fills struct wire_error with
 * the notify RFC 7296 says to answer, the octet offset and a reason.
 *
 * Decoding is strict where strictness is what makes re-encoding byte-exact
 * (lengths, Last Substruc values, counts) and keeps the octets the RFC
 * calls RESERVED, since "MUST be ignored on receipt" (RFC 7296 3.2) means
 * we may not reject them. Semantic checks (which transform types a
 * protocol needs, TS narrowing, ...) belong to the exchange code.
 */
#include "wire/payload.h"

#include <string.h>

/* Decoding context: where the current cursor starts in the whole buffer. */
struct dctx {
	struct wire_msg *m;
	struct wire_error *err;
	size_t base;
};

static size_t at(const struct dctx *c, const struct wire_rd *r)
{
	return c->base + r->off;
}

static int fail(struct dctx *c, uint16_t notify, size_t off, const char *reason)
{
	c->err->notify = notify;
	c->err->offset = off;
	c->err->reason = reason;
	return -1;
}

static int bad(struct dctx *c, const struct wire_rd *r, const char *reason)
{
	return fail(c, IKEV2_N_INVALID_SYNTAX, at(c, r), reason);
}

/* A context for a sub-cursor that starts at the current position of r. */
static struct dctx sub_ctx(const struct dctx *c, const struct wire_rd *r)
{
	struct dctx s = *c;

	s.base = at(c, r);
	return s;
}

bool wire_pl_known(uint8_t type)
{
	switch (type) {
	case IKEV2_PL_SA:
	case IKEV2_PL_KE:
	case IKEV2_PL_IDI:
	case IKEV2_PL_IDR:
	case IKEV2_PL_CERT:
	case IKEV2_PL_CERTREQ:
	case IKEV2_PL_AUTH:
	case IKEV2_PL_NI_NR:
	case IKEV2_PL_N:
	case IKEV2_PL_D:
	case IKEV2_PL_V:
	case IKEV2_PL_TSI:
	case IKEV2_PL_TSR:
	case IKEV2_PL_SK:
	case IKEV2_PL_CP:
	case IKEV2_PL_EAP:
	case IKEV2_PL_SKF:
	case IKEV2_PL_PS:
		return true;
	default:
		return false;
	}
}

/* RFC 7296 3.3.5: TV if the AF bit is set, TLV otherwise. */
static int dec_attr(struct dctx *c, struct wire_rd *r, struct wire_attr *a)
{
	uint16_t t;

	if (wire_rd_u16(r, &t) < 0)
		return bad(c, r, "truncated transform attribute");
	a->type = t & (uint16_t)~IKEV2_ATTR_AF;
	a->tv = (t & IKEV2_ATTR_AF) != 0;
	if (a->tv) {
		if (wire_rd_u16(r, &a->value) < 0)
			return bad(c, r, "truncated TV attribute");
		return 0;
	}
	if (wire_rd_u16(r, &a->len) < 0 || wire_rd_bytes(r, a->len, &a->data) < 0)
		return bad(c, r, "truncated TLV attribute");
	return 0;
}

/* RFC 7296 3.3.2. *last is set from the Last Substruc field (0 last, 3 more). */
static int dec_transform(struct dctx *c, struct wire_rd *r, struct wire_transform *t, bool *last)
{
	uint8_t more;
	uint16_t tlen;
	struct wire_rd body;
	struct dctx s;

	if (wire_rd_u8(r, &more) < 0 || wire_rd_u8(r, &t->reserved_hdr) < 0 ||
	    wire_rd_u16(r, &tlen) < 0)
		return bad(c, r, "truncated transform");
	if (more != 0 && more != 3)
		return bad(c, r, "transform Last Substruc not 0 or 3");
	if (tlen < 8 || tlen - 4u > wire_rd_left(r))
		return bad(c, r, "bad transform length");
	s = sub_ctx(c, r);
	if (wire_rd_sub(r, tlen - 4u, &body) < 0 || wire_rd_u8(&body, &t->type) < 0 ||
	    wire_rd_u8(&body, &t->reserved) < 0 || wire_rd_u16(&body, &t->id) < 0)
		return bad(c, r, "truncated transform");
	while (wire_rd_left(&body)) {
		if (t->nattrs == WIRE_MAX_ATTRS)
			return bad(&s, &body, "too many transform attributes");
		if (dec_attr(&s, &body, &t->attrs[t->nattrs]) < 0)
			return -1;
		t->nattrs++;
	}
	*last = more == 0;
	return 0;
}

/* Proposal fields after the substructure header (RFC 7296 3.3.1). */
static int dec_proposal_body(struct dctx *c, struct wire_rd *r, struct wire_proposal *p)
{
	bool last = false;

	if (wire_rd_u8(r, &p->num) < 0 || wire_rd_u8(r, &p->protocol) < 0 ||
	    wire_rd_u8(r, &p->spi_size) < 0 || wire_rd_u8(r, &p->ntransforms) < 0)
		return bad(c, r, "truncated proposal");
	if (p->spi_size > WIRE_MAX_SPI)
		return bad(c, r, "proposal SPI size over 8");
	if (wire_rd_copy(r, p->spi, p->spi_size) < 0)
		return bad(c, r, "truncated proposal SPI");
	if (p->ntransforms > WIRE_MAX_TRANSFORMS)
		return bad(c, r, "too many transforms");
	p->transforms = wire_msg_alloc(c->m, p->ntransforms * sizeof(*p->transforms));
	if (!p->transforms)
		return bad(c, r, "arena cap reached");
	for (unsigned i = 0; i < p->ntransforms; i++) {
		if (last)
			return bad(c, r, "transform after the last one");
		if (dec_transform(c, r, &p->transforms[i], &last) < 0)
			return -1;
	}
	if (p->ntransforms && !last)
		return bad(c, r, "last transform not marked last");
	if (wire_rd_left(r))
		return bad(c, r, "proposal length does not match its transforms");
	return 0;
}

/* RFC 7296 3.3.1. *last is set from the Last Substruc field (0 last, 2 more). */
static int dec_proposal(struct dctx *c, struct wire_rd *r, struct wire_proposal *p, bool *last)
{
	uint8_t more;
	uint16_t plen;
	struct wire_rd body;
	struct dctx s;

	if (wire_rd_u8(r, &more) < 0 || wire_rd_u8(r, &p->reserved) < 0 ||
	    wire_rd_u16(r, &plen) < 0)
		return bad(c, r, "truncated proposal");
	if (more != 0 && more != 2)
		return bad(c, r, "proposal Last Substruc not 0 or 2");
	if (plen < 8 || plen - 4u > wire_rd_left(r))
		return bad(c, r, "bad proposal length");
	s = sub_ctx(c, r);
	if (wire_rd_sub(r, plen - 4u, &body) < 0)
		return bad(c, r, "truncated proposal");
	*last = more == 0;
	return dec_proposal_body(&s, &body, p);
}

/* Count the proposals by their length fields, so the array is allocated once. */
static size_t count_proposals(struct wire_rd r)
{
	size_t n = 0;
	uint8_t more, res;
	uint16_t plen;

	while (wire_rd_left(&r)) {
		if (wire_rd_u8(&r, &more) < 0 || wire_rd_u8(&r, &res) < 0 ||
		    wire_rd_u16(&r, &plen) < 0 || plen < 4 || wire_rd_skip(&r, plen - 4u) < 0)
			return n + 1; /* the decoder reports the error */
		n++;
		if (more == 0)
			break;
	}
	return n;
}

/* RFC 7296 3.3: proposals numbered 1, 2, ... when offered; one echoed back otherwise. */
static int dec_sa(struct dctx *c, struct wire_rd *r, struct wire_sa *sa)
{
	size_t n = count_proposals(*r);
	bool last = false;

	if (n == 0)
		return bad(c, r, "SA payload without proposals");
	if (n > WIRE_MAX_PROPOSALS)
		return bad(c, r, "too many proposals");
	sa->proposals = wire_msg_alloc(c->m, n * sizeof(*sa->proposals));
	if (!sa->proposals)
		return bad(c, r, "arena cap reached");
	while (!last) {
		struct wire_proposal *p = &sa->proposals[sa->nproposals];

		if (sa->nproposals == n)
			return bad(c, r, "last proposal not marked last");
		if (dec_proposal(c, r, p, &last) < 0)
			return -1;
		if (p->num == 0 || (sa->nproposals > 0 && p->num != p[-1].num + 1))
			return bad(c, r, "proposal numbers not 1, 2, ...");
		sa->nproposals++;
	}
	if (wire_rd_left(r))
		return bad(c, r, "data after the last proposal");
	return 0;
}

/* RFC 7296 3.4 */
static int dec_ke(struct dctx *c, struct wire_rd *r, struct wire_ke *ke)
{
	if (wire_rd_u16(r, &ke->group) < 0 || wire_rd_u16(r, &ke->reserved) < 0)
		return bad(c, r, "KE payload too short");
	ke->len = wire_rd_left(r);
	return wire_rd_bytes(r, ke->len, &ke->data);
}

/* RFC 7296 3.5 (ID), 3.8 (AUTH): type, 3 reserved octets, data. */
static int dec_typed3(struct dctx *c, struct wire_rd *r, struct wire_typed *t)
{
	if (wire_rd_u8(r, &t->type) < 0 || wire_rd_copy(r, t->reserved, 3) < 0)
		return bad(c, r, "ID/AUTH payload too short");
	t->len = wire_rd_left(r);
	return wire_rd_bytes(r, t->len, &t->data);
}

/* RFC 7296 3.6 (CERT), 3.7 (CERTREQ): encoding octet, data. */
static int dec_typed1(struct dctx *c, struct wire_rd *r, struct wire_typed *t)
{
	if (wire_rd_u8(r, &t->type) < 0)
		return bad(c, r, "CERT/CERTREQ payload too short");
	t->len = wire_rd_left(r);
	return wire_rd_bytes(r, t->len, &t->data);
}

/* The rest of the body, borrowed. */
static void dec_blob(struct wire_rd *r, struct wire_blob *b)
{
	b->len = wire_rd_left(r);
	if (wire_rd_bytes(r, b->len, &b->data) < 0)
		b->len = 0; /* cannot happen: exactly what is left */
}

/* RFC 7296 3.9: "between 16 and 256 octets, inclusive". */
static int dec_nonce(struct dctx *c, struct wire_rd *r, struct wire_blob *b)
{
	if (wire_rd_left(r) < 16 || wire_rd_left(r) > 256)
		return bad(c, r, "nonce not 16..256 octets");
	dec_blob(r, b);
	return 0;
}

/* RFC 7296 3.10 */
static int dec_notify(struct dctx *c, struct wire_rd *r, struct wire_notify *n)
{
	if (wire_rd_u8(r, &n->protocol) < 0 || wire_rd_u8(r, &n->spi_size) < 0 ||
	    wire_rd_u16(r, &n->type) < 0)
		return bad(c, r, "notify payload too short");
	if (n->spi_size > WIRE_MAX_SPI)
		return bad(c, r, "notify SPI size over 8");
	if (wire_rd_copy(r, n->spi, n->spi_size) < 0)
		return bad(c, r, "notify SPI truncated");
	n->len = wire_rd_left(r);
	return wire_rd_bytes(r, n->len, &n->data);
}

/* RFC 7296 3.11: SPI size 0 for IKE, 4 for ESP and AH; -1 for other protocols. */
static int delete_spi_size(uint8_t protocol)
{
	switch (protocol) {
	case IKEV2_PROTO_IKE:
		return 0;
	case IKEV2_PROTO_ESP:
	case IKEV2_PROTO_AH:
		return 4;
	default:
		return -1;
	}
}

static int dec_delete(struct dctx *c, struct wire_rd *r, struct wire_delete *d)
{
	if (wire_rd_u8(r, &d->protocol) < 0 || wire_rd_u8(r, &d->spi_size) < 0 ||
	    wire_rd_u16(r, &d->nspis) < 0)
		return bad(c, r, "delete payload too short");
	if (d->spi_size != delete_spi_size(d->protocol))
		return bad(c, r, "delete protocol/SPI size not IKE/0, ESP/4 or AH/4");
	if ((size_t)d->nspis * d->spi_size != wire_rd_left(r))
		return bad(c, r, "delete SPI count does not match its length");
	return wire_rd_bytes(r, wire_rd_left(r), &d->spis);
}

/* RFC 7296 3.13.1: one selector; unknown TS types are kept raw (see payload.h). */
static int dec_selector(struct dctx *c, struct wire_rd *r, struct wire_ts *ts)
{
	uint16_t slen;
	size_t alen;
	struct wire_rd s;

	if (wire_rd_u8(r, &ts->type) < 0 || wire_rd_u8(r, &ts->ip_proto) < 0 ||
	    wire_rd_u16(r, &slen) < 0)
		return bad(c, r, "truncated traffic selector");
	if (slen < 4 || slen - 4u > wire_rd_left(r) || wire_rd_sub(r, slen - 4u, &s) < 0)
		return bad(c, r, "bad traffic selector length");
	if (ts->type != IKEV2_TS_IPV4_ADDR_RANGE && ts->type != IKEV2_TS_IPV6_ADDR_RANGE) {
		ts->raw_len = (uint16_t)wire_rd_left(&s);
		return wire_rd_bytes(&s, ts->raw_len, &ts->raw);
	}
	alen = ts->type == IKEV2_TS_IPV4_ADDR_RANGE ? 4 : 16;
	if (slen != 8 + 2 * alen)
		return bad(c, r, "traffic selector length not 16 (IPv4) or 40 (IPv6)");
	if (wire_rd_u16(&s, &ts->start_port) < 0 || wire_rd_u16(&s, &ts->end_port) < 0 ||
	    wire_rd_copy(&s, ts->start, alen) < 0 || wire_rd_copy(&s, ts->end, alen) < 0)
		return bad(c, r, "truncated traffic selector");
	return 0;
}

/* RFC 7296 3.13 */
static int dec_ts(struct dctx *c, struct wire_rd *r, struct wire_ts_list *l)
{
	if (wire_rd_u8(r, &l->nts) < 0 || wire_rd_copy(r, l->reserved, 3) < 0)
		return bad(c, r, "TS payload too short");
	if (l->nts == 0)
		return bad(c, r, "TS payload without selectors");
	if (l->nts > WIRE_MAX_TS)
		return bad(c, r, "too many traffic selectors");
	l->ts = wire_msg_alloc(c->m, l->nts * sizeof(*l->ts));
	if (!l->ts)
		return bad(c, r, "arena cap reached");
	for (unsigned i = 0; i < l->nts; i++) {
		if (dec_selector(c, r, &l->ts[i]) < 0)
			return -1;
	}
	if (wire_rd_left(r))
		return bad(c, r, "TS payload length does not match its selectors");
	return 0;
}

/* RFC 7296 3.15.1: R bit, 15-bit type, length, value. */
static int dec_cp_attr(struct dctx *c, struct wire_rd *r, struct wire_cp_attr *a)
{
	uint16_t t;

	if (wire_rd_u16(r, &t) < 0 || wire_rd_u16(r, &a->len) < 0 ||
	    wire_rd_bytes(r, a->len, &a->data) < 0)
		return bad(c, r, "truncated configuration attribute");
	a->r = (uint8_t)(t >> 15);
	a->type = t & 0x7fff;
	return 0;
}

static size_t count_cp_attrs(struct wire_rd r)
{
	size_t n = 0;
	uint16_t t, len;

	while (wire_rd_left(&r)) {
		n++;
		if (wire_rd_u16(&r, &t) < 0 || wire_rd_u16(&r, &len) < 0 ||
		    wire_rd_skip(&r, len) < 0)
			break; /* the decoder reports the error */
	}
	return n;
}

/* RFC 7296 3.15 */
static int dec_cp(struct dctx *c, struct wire_rd *r, struct wire_cp *cp)
{
	size_t n;

	if (wire_rd_u8(r, &cp->cfg_type) < 0 || wire_rd_copy(r, cp->reserved, 3) < 0)
		return bad(c, r, "CP payload too short");
	n = count_cp_attrs(*r);
	if (n > WIRE_MAX_CP_ATTRS)
		return bad(c, r, "too many configuration attributes");
	cp->attrs = wire_msg_alloc(c->m, n * sizeof(*cp->attrs));
	if (!cp->attrs)
		return bad(c, r, "arena cap reached");
	while (wire_rd_left(r)) {
		if (dec_cp_attr(c, r, &cp->attrs[cp->nattrs]) < 0)
			return -1;
		cp->nattrs++;
	}
	return 0;
}

/* RFC 7296 3.16 and RFC 3748 4: the EAP Length field covers the whole body. */
static int dec_eap(struct dctx *c, struct wire_rd *r, struct wire_blob *b)
{
	struct wire_rd peek = *r;
	uint8_t code, id;
	uint16_t len;

	if (wire_rd_u8(&peek, &code) < 0 || wire_rd_u8(&peek, &id) < 0 ||
	    wire_rd_u16(&peek, &len) < 0)
		return bad(c, r, "EAP payload too short");
	if (len != wire_rd_left(r))
		return bad(c, r, "EAP length does not match the payload");
	if ((code == 1 || code == 2) && len < 5)
		return bad(c, r, "EAP request/response without a type");
	dec_blob(r, b);
	return 0;
}

/* RFC 8019 8.2: "MUST NOT be empty", four keys of one size, each at most WIRE_PS_KEY_MAX. */
static int dec_ps(struct dctx *c, struct wire_rd *r, struct wire_ps *ps)
{
	size_t left = wire_rd_left(r);

	if (left == 0 || left % WIRE_PS_KEYS)
		return bad(c, r, "PS payload not four keys of one size");
	if (left > WIRE_PS_MAX)
		return bad(c, r, "PS payload keys longer than 64 octets");
	ps->len = left;
	return wire_rd_bytes(r, ps->len, &ps->data);
}

int wire_ps_key(const struct wire_ps *ps, unsigned i, const uint8_t **key, size_t *len)
{
	if (i >= WIRE_PS_KEYS || !ps->data || !ps->len || ps->len % WIRE_PS_KEYS ||
	    ps->len > WIRE_PS_MAX)
		return -1;
	*len = ps->len / WIRE_PS_KEYS;
	*key = ps->data + i * *len;
	return 0;
}

/* RFC 7383 2.5 */
static int dec_skf(struct dctx *c, struct wire_rd *r, struct wire_sk *sk)
{
	if (wire_rd_u16(r, &sk->frag_num) < 0 || wire_rd_u16(r, &sk->total_frags) < 0)
		return bad(c, r, "SKF payload too short");
	if (sk->frag_num == 0 || sk->frag_num > sk->total_frags)
		return bad(c, r, "SKF fragment number not in 1..total");
	sk->len = wire_rd_left(r);
	return wire_rd_bytes(r, sk->len, &sk->data);
}

static int dec_body(struct dctx *c, struct wire_rd *r, struct wire_payload *p, uint8_t np)
{
	switch (p->type) {
	case IKEV2_PL_SA:
		return dec_sa(c, r, &p->u.sa);
	case IKEV2_PL_KE:
		return dec_ke(c, r, &p->u.ke);
	case IKEV2_PL_IDI:
	case IKEV2_PL_IDR:
		return dec_typed3(c, r, &p->u.id);
	case IKEV2_PL_AUTH:
		return dec_typed3(c, r, &p->u.auth);
	case IKEV2_PL_CERT:
	case IKEV2_PL_CERTREQ:
		return dec_typed1(c, r, &p->u.cert);
	case IKEV2_PL_NI_NR:
		return dec_nonce(c, r, &p->u.nonce);
	case IKEV2_PL_N:
		return dec_notify(c, r, &p->u.notify);
	case IKEV2_PL_D:
		return dec_delete(c, r, &p->u.del);
	case IKEV2_PL_TSI:
	case IKEV2_PL_TSR:
		return dec_ts(c, r, &p->u.ts);
	case IKEV2_PL_CP:
		return dec_cp(c, r, &p->u.cp);
	case IKEV2_PL_EAP:
		return dec_eap(c, r, &p->u.eap);
	case IKEV2_PL_SK:
		p->u.sk.inner_np = np;
		p->u.sk.len = wire_rd_left(r);
		return wire_rd_bytes(r, p->u.sk.len, &p->u.sk.data);
	case IKEV2_PL_SKF:
		p->u.sk.inner_np = np;
		return dec_skf(c, r, &p->u.sk);
	case IKEV2_PL_V:
		dec_blob(r, &p->u.vendor);
		return 0;
	case IKEV2_PL_PS:
		return dec_ps(c, r, &p->u.ps);
	default:
		dec_blob(r, &p->u.raw);
		return 0;
	}
}

/* Minimum body sizes (RFC 7296 3.3-3.16, RFC 7383 2.5) beyond what the body decoders check. */
static size_t min_body(uint8_t type)
{
	switch (type) {
	case IKEV2_PL_SA:
		return 8;
	case IKEV2_PL_KE:
	case IKEV2_PL_IDI:
	case IKEV2_PL_IDR:
	case IKEV2_PL_AUTH:
	case IKEV2_PL_N:
	case IKEV2_PL_D:
	case IKEV2_PL_TSI:
	case IKEV2_PL_TSR:
	case IKEV2_PL_CP:
	case IKEV2_PL_EAP:
	case IKEV2_PL_SKF:
	case IKEV2_PL_PS:
		return 4;
	case IKEV2_PL_CERT:
	case IKEV2_PL_CERTREQ:
		return 1;
	case IKEV2_PL_NI_NR:
		return 16;
	default:
		return 0;
	}
}

/*
 * RFC 7296 3.2: one generic payload header and its body. *np is the
 * next-payload field read from the header.
 */
static int dec_payload(struct dctx *c, struct wire_rd *r, uint8_t type, bool encrypted, uint8_t *np)
{
	struct wire_payload *p = &c->m->payloads[c->m->npayloads];
	size_t start = at(c, r);
	struct wire_rd body;
	struct dctx s;

	memset(p, 0, sizeof(*p));
	if (wire_rd_u8(r, np) < 0 || wire_rd_u8(r, &p->flags) < 0 || wire_rd_u16(r, &p->len) < 0)
		return fail(c, IKEV2_N_INVALID_SYNTAX, start, "truncated generic payload header");
	if (p->len < IKEV2_GEN_HDR_LEN || p->len - 4u > wire_rd_left(r))
		return fail(c, IKEV2_N_INVALID_SYNTAX, start, "bad payload length");
	/* RFC 7296 3.2: the critical bit matters only for types we do not know. */
	if (!wire_pl_known(type) && (p->flags & IKEV2_PL_CRITICAL)) {
		c->err->payload = type;
		return fail(c, IKEV2_N_UNSUPPORTED_CRITICAL_PAYLOAD, start,
		            "unsupported critical payload");
	}
	if (p->len - 4u < min_body(type))
		return fail(c, IKEV2_N_INVALID_SYNTAX, start, "payload shorter than its minimum");
	s = sub_ctx(c, r);
	if (wire_rd_sub(r, p->len - 4u, &body) < 0)
		return fail(c, IKEV2_N_INVALID_SYNTAX, start, "bad payload length");
	p->type = type;
	p->encrypted = encrypted;
	if (dec_body(&s, &body, p, *np) < 0)
		return -1;
	if (wire_rd_left(&body))
		return bad(&s, &body, "payload body longer than its fields");
	c->m->npayloads++;
	return 0;
}

/*
 * Walk a payload chain until next-payload 0 or an SK/SKF payload (RFC 7296
 * 3.14). Octets after the last payload are an error unless trailer_ok (see
 * wire_msg.trailer).
 */
static int dec_chain(struct dctx *c, struct wire_rd *r, uint8_t np, bool encrypted, bool trailer_ok)
{
	while (np != IKEV2_PL_NONE) {
		uint8_t type = np;

		if (c->m->npayloads == WIRE_MAX_PAYLOADS)
			return bad(c, r, "too many payloads");
		if ((type == IKEV2_PL_SK || type == IKEV2_PL_SKF) && encrypted)
			return bad(c, r, "SK/SKF payload inside SK");
		if (dec_payload(c, r, type, encrypted, &np) < 0)
			return -1;
		if (type == IKEV2_PL_SK || type == IKEV2_PL_SKF) {
			/* Its next-payload field is the first inner type. */
			if (wire_rd_left(r))
				return bad(c, r, "SK/SKF payload not last");
			return 0;
		}
	}
	if (!trailer_ok && wire_rd_left(r))
		return bad(c, r, "data after the last payload");
	if (trailer_ok && wire_rd_left(r)) {
		c->m->trailer_len = wire_rd_left(r);
		c->m->trailer = wire_rd_ptr(r);
	}
	return 0;
}

/* RFC 7296 3.1 */
int wire_decode_hdr(const uint8_t *buf, size_t len, struct wire_hdr *h, struct wire_error *err)
{
	struct wire_error dummy;
	struct dctx c = {.err = err ? err : &dummy};
	struct wire_rd r;

	memset(c.err, 0, sizeof(*c.err));
	wire_rd_init(&r, buf, len);
	/* Too short to hold SPIs to answer with: drop silently (notify 0). */
	if (wire_rd_copy(&r, h->spi_i, 8) < 0 || wire_rd_copy(&r, h->spi_r, 8) < 0 ||
	    wire_rd_u8(&r, &h->np) < 0 || wire_rd_u8(&r, &h->version) < 0 ||
	    wire_rd_u8(&r, &h->exchange) < 0 || wire_rd_u8(&r, &h->flags) < 0 ||
	    wire_rd_u32(&r, &h->msg_id) < 0 || wire_rd_u32(&r, &h->length) < 0)
		return fail(&c, 0, len, "shorter than the IKE header");
	/* RFC 7296 2.5: only the major version must match. */
	if ((h->version >> 4) != (IKEV2_VERSION >> 4))
		return fail(&c, IKEV2_N_INVALID_MAJOR_VERSION, 17, "major version is not 2");
	if (h->length != len)
		return fail(&c, IKEV2_N_INVALID_SYNTAX, 24,
		            "length field does not match the datagram");
	return 0;
}

int wire_decode(const uint8_t *buf, size_t len, struct wire_msg *m, struct wire_error *err)
{
	struct wire_error dummy;
	struct dctx c = {.m = m, .err = err ? err : &dummy};
	struct wire_rd r;

	m->npayloads = 0;
	m->trailer = NULL;
	m->trailer_len = 0;
	if (wire_decode_hdr(buf, len, &m->hdr, c.err) < 0)
		return -1;
	wire_rd_init(&r, buf, len);
	if (wire_rd_skip(&r, IKEV2_HDR_LEN) < 0)
		return bad(&c, &r, "shorter than the IKE header");
	return dec_chain(&c, &r, m->hdr.np, false, true);
}

int wire_decode_chain(const uint8_t *buf, size_t len, uint8_t first_np, bool encrypted,
                      struct wire_msg *m, struct wire_error *err)
{
	struct wire_error dummy;
	struct dctx c = {.m = m, .err = err ? err : &dummy};
	struct wire_rd r;

	memset(c.err, 0, sizeof(*c.err));
	wire_rd_init(&r, buf, len);
	return dec_chain(&c, &r, first_np, encrypted, false);
}
