/*
 * Unit tests for the IKEv2 codec (wire/decode.c, encode.c, msg.c,
 * udp4500.c): every payload type survives struct -> encode -> decode ->
 * encode unchanged, and malformed input is refused with the notify
 * RFC 7296 asks for, never read out of bounds (run under ASan: buffers are
 * heap copies of exactly the tested length).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire/payload.h"

static const uint8_t spi_i[8] = {1, 2, 3, 4, 5, 6, 7, 8};
static const uint8_t nonce32[32] = {0x11, 0x22, 0x33, [31] = 0x44};
static const uint8_t ke_data[64] = {0xde, 0xad, [63] = 0xef};
static const uint8_t blob[] = {'r', 'i', 'k', 'e', 0, 1, 2, 3};
static const uint8_t eap_msg[] = {2, 7, 0, 9, 1, 'u', 's', 'e', 'r'}; /* Response/Identity */
static const uint8_t spis8[8] = {0xc0, 0, 0, 1, 0xc0, 0, 0, 2};
static const uint8_t label[] = {0, 0, 'l', 'b', 'l'};

/* ---- building and comparing structs ---- */

static struct wire_payload *add(struct wire_msg *m, uint8_t type)
{
	struct wire_payload *p = &m->payloads[m->npayloads++];

	memset(p, 0, sizeof(*p));
	p->type = type;
	return p;
}

static void set_blob(struct wire_blob *b, const uint8_t *data, size_t len)
{
	b->data = data;
	b->len = len;
}

static void fill_sa(struct wire_msg *m, struct wire_sa *sa, uint8_t protocol, uint8_t nprop)
{
	sa->nproposals = nprop;
	sa->proposals = wire_msg_alloc(m, nprop * sizeof(*sa->proposals));
	assert_non_null(sa->proposals);
	for (uint8_t i = 0; i < nprop; i++) {
		struct wire_proposal *p = &sa->proposals[i];

		p->num = i + 1;
		p->protocol = protocol;
		p->spi_size = protocol == IKEV2_PROTO_IKE ? (i ? 8 : 0) : 4;
		memcpy(p->spi, spi_i, p->spi_size);
		p->reserved = i; /* non-zero reserved octets must survive */
		p->ntransforms = 3;
		p->transforms = wire_msg_alloc(m, 3 * sizeof(*p->transforms));
		assert_non_null(p->transforms);
		p->transforms[0] =
		    (struct wire_transform){.type = IKEV2_TRANS_ENCR,
		                            .id = IKEV2_ENCR_AES_CBC,
		                            .nattrs = 1,
		                            .attrs[0] = {.type = 14, .tv = true, .value = 256}};
		p->transforms[1] = (struct wire_transform){
		    .type = IKEV2_TRANS_INTEG, .id = 12, .reserved = 0x5a, .reserved_hdr = 0xa5};
		p->transforms[2] = (struct wire_transform){
		    .type = IKEV2_TRANS_KE,
		    .id = 19,
		    .nattrs = 2,
		    .attrs = {{.type = 0x1234, .data = blob, .len = sizeof(blob)},
		              {.type = 0x22, .data = NULL, .len = 0}}};
	}
}

static void fill_ts(struct wire_msg *m, struct wire_ts_list *l)
{
	l->nts = 3;
	l->reserved[1] = 9;
	l->ts = wire_msg_alloc(m, 3 * sizeof(*l->ts));
	assert_non_null(l->ts);
	l->ts[0] = (struct wire_ts){.type = IKEV2_TS_IPV4_ADDR_RANGE,
	                            .ip_proto = 17,
	                            .start_port = 500,
	                            .end_port = 4500,
	                            .start = {10, 0, 0, 1},
	                            .end = {10, 0, 0, 255}};
	l->ts[1] = (struct wire_ts){.type = IKEV2_TS_IPV6_ADDR_RANGE,
	                            .end_port = 0xffff,
	                            .start = {0x20, 0x01, 0x0d, 0xb8},
	                            .end = {0x20, 0x01, 0x0d, 0xb8, [15] = 0xff}};
	l->ts[2] = (struct wire_ts){
	    .type = IKEV2_TS_SECLABEL, .ip_proto = 0, .raw = label, .raw_len = sizeof(label)};
}

static void assert_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	assert_int_equal(alen, blen);
	if (alen)
		assert_memory_equal(a, b, alen);
}

static void assert_sa_equal(const struct wire_sa *a, const struct wire_sa *b)
{
	assert_int_equal(a->nproposals, b->nproposals);
	for (unsigned i = 0; i < a->nproposals; i++) {
		const struct wire_proposal *x = &a->proposals[i], *y = &b->proposals[i];

		assert_int_equal(x->num, y->num);
		assert_int_equal(x->protocol, y->protocol);
		assert_int_equal(x->reserved, y->reserved);
		assert_bytes(x->spi, x->spi_size, y->spi, y->spi_size);
		assert_int_equal(x->ntransforms, y->ntransforms);
		for (unsigned j = 0; j < x->ntransforms; j++) {
			const struct wire_transform *s = &x->transforms[j], *t = &y->transforms[j];

			assert_int_equal(s->type, t->type);
			assert_int_equal(s->id, t->id);
			assert_int_equal(s->reserved, t->reserved);
			assert_int_equal(s->reserved_hdr, t->reserved_hdr);
			assert_int_equal(s->nattrs, t->nattrs);
			for (unsigned k = 0; k < s->nattrs; k++) {
				assert_int_equal(s->attrs[k].type, t->attrs[k].type);
				assert_int_equal(s->attrs[k].tv, t->attrs[k].tv);
				if (s->attrs[k].tv)
					assert_int_equal(s->attrs[k].value, t->attrs[k].value);
				else
					assert_bytes(s->attrs[k].data, s->attrs[k].len,
					             t->attrs[k].data, t->attrs[k].len);
			}
		}
	}
}

static void assert_ts_equal(const struct wire_ts_list *a, const struct wire_ts_list *b)
{
	assert_int_equal(a->nts, b->nts);
	assert_memory_equal(a->reserved, b->reserved, 3);
	for (unsigned i = 0; i < a->nts; i++) {
		const struct wire_ts *x = &a->ts[i], *y = &b->ts[i];

		assert_int_equal(x->type, y->type);
		assert_int_equal(x->ip_proto, y->ip_proto);
		if (x->type == IKEV2_TS_IPV4_ADDR_RANGE || x->type == IKEV2_TS_IPV6_ADDR_RANGE) {
			assert_int_equal(x->start_port, y->start_port);
			assert_int_equal(x->end_port, y->end_port);
			assert_memory_equal(x->start, y->start, 16);
			assert_memory_equal(x->end, y->end, 16);
		} else {
			assert_bytes(x->raw, x->raw_len, y->raw, y->raw_len);
		}
	}
}

static void assert_typed_equal(const struct wire_typed *a, const struct wire_typed *b, bool res)
{
	assert_int_equal(a->type, b->type);
	if (res)
		assert_memory_equal(a->reserved, b->reserved, 3);
	assert_bytes(a->data, a->len, b->data, b->len);
}

static void assert_body_equal(const struct wire_payload *a, const struct wire_payload *b)
{
	switch (a->type) {
	case IKEV2_PL_SA:
		return assert_sa_equal(&a->u.sa, &b->u.sa);
	case IKEV2_PL_KE:
		assert_int_equal(a->u.ke.group, b->u.ke.group);
		assert_int_equal(a->u.ke.reserved, b->u.ke.reserved);
		return assert_bytes(a->u.ke.data, a->u.ke.len, b->u.ke.data, b->u.ke.len);
	case IKEV2_PL_IDI:
	case IKEV2_PL_IDR:
	case IKEV2_PL_AUTH:
		return assert_typed_equal(&a->u.id, &b->u.id, true);
	case IKEV2_PL_CERT:
	case IKEV2_PL_CERTREQ:
		return assert_typed_equal(&a->u.cert, &b->u.cert, false);
	case IKEV2_PL_N:
		assert_int_equal(a->u.notify.protocol, b->u.notify.protocol);
		assert_int_equal(a->u.notify.type, b->u.notify.type);
		assert_bytes(a->u.notify.spi, a->u.notify.spi_size, b->u.notify.spi,
		             b->u.notify.spi_size);
		return assert_bytes(a->u.notify.data, a->u.notify.len, b->u.notify.data,
		                    b->u.notify.len);
	case IKEV2_PL_D:
		assert_int_equal(a->u.del.protocol, b->u.del.protocol);
		assert_int_equal(a->u.del.nspis, b->u.del.nspis);
		return assert_bytes(a->u.del.spis, a->u.del.nspis * a->u.del.spi_size,
		                    b->u.del.spis, b->u.del.nspis * b->u.del.spi_size);
	case IKEV2_PL_TSI:
	case IKEV2_PL_TSR:
		return assert_ts_equal(&a->u.ts, &b->u.ts);
	case IKEV2_PL_CP:
		assert_int_equal(a->u.cp.cfg_type, b->u.cp.cfg_type);
		assert_memory_equal(a->u.cp.reserved, b->u.cp.reserved, 3);
		assert_int_equal(a->u.cp.nattrs, b->u.cp.nattrs);
		for (unsigned i = 0; i < a->u.cp.nattrs; i++) {
			assert_int_equal(a->u.cp.attrs[i].type, b->u.cp.attrs[i].type);
			assert_int_equal(a->u.cp.attrs[i].r, b->u.cp.attrs[i].r);
			assert_bytes(a->u.cp.attrs[i].data, a->u.cp.attrs[i].len,
			             b->u.cp.attrs[i].data, b->u.cp.attrs[i].len);
		}
		return;
	case IKEV2_PL_SK:
	case IKEV2_PL_SKF:
		assert_int_equal(a->u.sk.inner_np, b->u.sk.inner_np);
		assert_int_equal(a->u.sk.frag_num, b->u.sk.frag_num);
		assert_int_equal(a->u.sk.total_frags, b->u.sk.total_frags);
		return assert_bytes(a->u.sk.data, a->u.sk.len, b->u.sk.data, b->u.sk.len);
	default: /* nonce, vendor, EAP and raw are all blobs */
		return assert_bytes(a->u.raw.data, a->u.raw.len, b->u.raw.data, b->u.raw.len);
	}
}

static void assert_msg_equal(const struct wire_msg *a, const struct wire_msg *b)
{
	assert_memory_equal(a->hdr.spi_i, b->hdr.spi_i, 8);
	assert_memory_equal(a->hdr.spi_r, b->hdr.spi_r, 8);
	assert_int_equal(a->hdr.exchange, b->hdr.exchange);
	assert_int_equal(a->hdr.flags, b->hdr.flags);
	assert_int_equal(a->hdr.msg_id, b->hdr.msg_id);
	assert_int_equal(a->npayloads, b->npayloads);
	for (size_t i = 0; i < a->npayloads; i++) {
		assert_int_equal(a->payloads[i].type, b->payloads[i].type);
		assert_int_equal(a->payloads[i].flags, b->payloads[i].flags);
		assert_int_equal(a->payloads[i].encrypted, b->payloads[i].encrypted);
		assert_body_equal(&a->payloads[i], &b->payloads[i]);
	}
}

/* Encode m, decode the bytes, compare, encode again: the same bytes. */
static void roundtrip(const struct wire_msg *m)
{
	struct wire_wr w1, w2;
	struct wire_msg d;
	struct wire_error err;
	uint8_t *copy;

	wire_wr_init(&w1, WIRE_WR_MAX_DEFAULT);
	wire_wr_init(&w2, WIRE_WR_MAX_DEFAULT);
	wire_msg_init(&d);
	assert_int_equal(wire_encode(m, &w1), 0);
	copy = malloc(w1.len);
	assert_non_null(copy);
	memcpy(copy, w1.p, w1.len);
	if (wire_decode(copy, w1.len, &d, &err) < 0)
		fail_msg("decode: %s at %zu", err.reason, err.offset);
	assert_int_equal(d.hdr.length, w1.len);
	assert_int_equal(d.hdr.version, IKEV2_VERSION);
	assert_msg_equal(m, &d);
	assert_int_equal(wire_encode(&d, &w2), 0);
	assert_bytes(w1.p, w1.len, w2.p, w2.len);
	wire_msg_free(&d);
	free(copy);
	wire_wr_free(&w1);
	wire_wr_free(&w2);
}

/* The same for a bare payload chain, as found in an SK plaintext. */
static void roundtrip_chain(const struct wire_msg *m)
{
	struct wire_wr w1, w2;
	struct wire_msg d;
	struct wire_error err;
	uint8_t np, np2;
	uint8_t *copy;

	wire_wr_init(&w1, WIRE_WR_MAX_DEFAULT);
	wire_wr_init(&w2, WIRE_WR_MAX_DEFAULT);
	wire_msg_init(&d);
	d.hdr = m->hdr;
	assert_int_equal(wire_encode_chain(m->payloads, m->npayloads, &w1, &np), 0);
	assert_int_equal(np, m->payloads[0].type);
	copy = malloc(w1.len);
	assert_non_null(copy);
	memcpy(copy, w1.p, w1.len);
	if (wire_decode_chain(copy, w1.len, np, true, &d, &err) < 0)
		fail_msg("decode: %s at %zu", err.reason, err.offset);
	assert_msg_equal(m, &d);
	assert_int_equal(wire_encode_chain(d.payloads, d.npayloads, &w2, &np2), 0);
	assert_int_equal(np, np2);
	assert_bytes(w1.p, w1.len, w2.p, w2.len);
	wire_msg_free(&d);
	free(copy);
	wire_wr_free(&w1);
	wire_wr_free(&w2);
}

static void init_hdr(struct wire_msg *m, uint8_t exchange, uint8_t flags, uint32_t msg_id)
{
	memcpy(m->hdr.spi_i, spi_i, 8);
	m->hdr.version = IKEV2_VERSION;
	m->hdr.exchange = exchange;
	m->hdr.flags = flags;
	m->hdr.msg_id = msg_id;
}

/* IKE_SA_INIT-like: SA, KE, Nonce, N, V, CERTREQ and an unknown payload, in the clear. */
static void build_clear(struct wire_msg *m)
{
	struct wire_payload *p;

	wire_msg_init(m);
	init_hdr(m, IKEV2_EXCH_IKE_SA_INIT, IKEV2_FLAG_INITIATOR, 0);
	fill_sa(m, &add(m, IKEV2_PL_SA)->u.sa, IKEV2_PROTO_IKE, 3);
	p = add(m, IKEV2_PL_KE);
	p->u.ke = (struct wire_ke){.group = 19, .reserved = 0x0102, .data = ke_data, .len = 64};
	p->flags = IKEV2_PL_CRITICAL; /* ignored for known types, but kept */
	set_blob(&add(m, IKEV2_PL_NI_NR)->u.nonce, nonce32, sizeof(nonce32));
	p = add(m, IKEV2_PL_N);
	p->u.notify = (struct wire_notify){.type = IKEV2_N_COOKIE, .data = blob, .len = 8};
	p = add(m, IKEV2_PL_N);
	p->u.notify = (struct wire_notify){.protocol = IKEV2_PROTO_ESP,
	                                   .spi_size = 4,
	                                   .spi = {0xc0, 1, 2, 3},
	                                   .type = IKEV2_N_REKEY_SA};
	set_blob(&add(m, IKEV2_PL_V)->u.vendor, blob, sizeof(blob));
	set_blob(&add(m, IKEV2_PL_V)->u.vendor, NULL, 0);
	p = add(m, IKEV2_PL_CERTREQ);
	p->u.cert = (struct wire_typed){.type = 4, .data = blob, .len = 4};
	p = add(m, IKEV2_PL_GSPM);
	p->flags = 0x05; /* reserved bits, not critical */
	set_blob(&p->u.raw, blob, sizeof(blob));
}

/* IKE_AUTH-like inner payloads (IDi ... EAP) plus D, as found in SK plaintexts. */
static void build_inner(struct wire_msg *m)
{
	static struct wire_cp_attr cpa[3] = {
	    {.type = IKEV2_CP_INTERNAL_IP4_ADDRESS},
	    {.type = IKEV2_CP_INTERNAL_IP4_DNS, .data = (const uint8_t *)"\x0a\0\0\x35", .len = 4},
	    {.type = 0x7000, .r = 1, .data = (const uint8_t *)"x", .len = 1},
	};
	struct wire_payload *p;

	wire_msg_init(m);
	init_hdr(m, IKEV2_EXCH_IKE_AUTH, IKEV2_FLAG_INITIATOR, 1);
	p = add(m, IKEV2_PL_IDI);
	p->u.id = (struct wire_typed){
	    .type = IKEV2_ID_FQDN, .reserved = {1, 2, 3}, .data = blob, .len = 4};
	p = add(m, IKEV2_PL_CERT);
	p->u.cert = (struct wire_typed){.type = 4, .data = ke_data, .len = 64};
	p = add(m, IKEV2_PL_CERTREQ);
	p->u.cert = (struct wire_typed){.type = 4};
	p = add(m, IKEV2_PL_IDR);
	p->u.id = (struct wire_typed){.type = IKEV2_ID_IPV4_ADDR, .data = blob, .len = 4};
	p = add(m, IKEV2_PL_AUTH);
	p->u.auth = (struct wire_typed){.type = IKEV2_AUTH_METHOD_PSK, .data = nonce32, .len = 32};
	p = add(m, IKEV2_PL_CP);
	p->u.cp = (struct wire_cp){.cfg_type = IKEV2_CFG_REQUEST, .nattrs = 3, .attrs = cpa};
	fill_sa(m, &add(m, IKEV2_PL_SA)->u.sa, IKEV2_PROTO_ESP, 2);
	fill_ts(m, &add(m, IKEV2_PL_TSI)->u.ts);
	fill_ts(m, &add(m, IKEV2_PL_TSR)->u.ts);
	set_blob(&add(m, IKEV2_PL_EAP)->u.eap, eap_msg, sizeof(eap_msg));
	p = add(m, IKEV2_PL_D);
	p->u.del = (struct wire_delete){
	    .protocol = IKEV2_PROTO_ESP, .spi_size = 4, .nspis = 2, .spis = spis8};
	p = add(m, IKEV2_PL_D);
	p->u.del = (struct wire_delete){.protocol = IKEV2_PROTO_IKE};
	for (size_t i = 0; i < m->npayloads; i++)
		m->payloads[i].encrypted = true;
}

static void test_roundtrip_clear(void **state)
{
	struct wire_msg m;

	build_clear(&m);
	roundtrip(&m);
	wire_msg_free(&m);
}

static void test_roundtrip_inner(void **state)
{
	struct wire_msg m;

	build_inner(&m);
	roundtrip_chain(&m);
	wire_msg_free(&m);
}

static void test_roundtrip_sk(void **state)
{
	struct wire_msg m;
	struct wire_payload *p;

	wire_msg_init(&m);
	init_hdr(&m, IKEV2_EXCH_IKE_AUTH, IKEV2_FLAG_RESPONSE, 1);
	p = add(&m, IKEV2_PL_SK);
	p->u.sk = (struct wire_sk){.inner_np = IKEV2_PL_IDR, .data = ke_data, .len = 64};
	roundtrip(&m);
	/* An empty message (INFORMATIONAL liveness check body) and SKF fragments. */
	m.npayloads = 0;
	roundtrip(&m);
	p = add(&m, IKEV2_PL_SKF);
	p->u.sk = (struct wire_sk){
	    .inner_np = IKEV2_PL_IDI, .frag_num = 1, .total_frags = 3, .data = blob, .len = 8};
	roundtrip(&m);
	p->u.sk = (struct wire_sk){.frag_num = 3, .total_frags = 3, .data = blob, .len = 8};
	roundtrip(&m);
	wire_msg_free(&m);
}

/* wire_encode skips encrypted payloads; SK must be last. */
static void test_encode_rules(void **state)
{
	struct wire_msg m;
	struct wire_wr w;
	struct wire_payload *p;
	uint8_t np;

	build_inner(&m);
	m.hdr.exchange = IKEV2_EXCH_IKE_AUTH;
	p = add(&m, IKEV2_PL_SK);
	p->u.sk = (struct wire_sk){.inner_np = IKEV2_PL_IDI, .data = blob, .len = 8};
	wire_wr_init(&w, WIRE_WR_MAX_DEFAULT);
	assert_int_equal(wire_encode(&m, &w), 0);
	assert_int_equal(w.len, IKEV2_HDR_LEN + 4 + 8);
	assert_int_equal(w.p[16], IKEV2_PL_SK);
	assert_int_equal(w.p[28], IKEV2_PL_IDI); /* SK's next payload: the first inner type */
	wire_wr_reset(&w);
	/* SK followed by another payload is refused. */
	p->encrypted = false;
	add(&m, IKEV2_PL_V);
	assert_int_equal(wire_encode_chain(&m.payloads[m.npayloads - 2], 2, &w, &np), -1);
	wire_wr_reset(&w);
	/* Nonsense structs are refused: SPI over 8, attribute type with the AF bit. */
	m.npayloads = 0;
	p = add(&m, IKEV2_PL_N);
	p->u.notify.spi_size = 9;
	assert_int_equal(wire_encode(&m, &w), -1);
	wire_wr_reset(&w);
	m.npayloads = 0;
	fill_sa(&m, &add(&m, IKEV2_PL_SA)->u.sa, IKEV2_PROTO_IKE, 1);
	m.payloads[0].u.sa.proposals[0].transforms[0].attrs[0].type = 0x800e;
	assert_int_equal(wire_encode(&m, &w), -1);
	wire_wr_reset(&w);
	/* A 2-octet cap makes any message fail. */
	wire_wr_free(&w);
	wire_wr_init(&w, 2);
	m.npayloads = 0;
	assert_int_equal(wire_encode(&m, &w), -1);
	wire_wr_free(&w);
	wire_msg_free(&m);
}

/* ---- malformed input ---- */

static uint8_t *encode_to_heap(const struct wire_msg *m, size_t *len)
{
	struct wire_wr w;
	uint8_t *buf;

	wire_wr_init(&w, WIRE_WR_MAX_DEFAULT);
	assert_int_equal(wire_encode(m, &w), 0);
	buf = malloc(w.len);
	assert_non_null(buf);
	memcpy(buf, w.p, w.len);
	*len = w.len;
	wire_wr_free(&w);
	return buf;
}

/* Decode `len` bytes from an exact heap copy; returns the decoder's result. */
static int decode_copy(const uint8_t *p, size_t len, struct wire_error *err)
{
	struct wire_msg m;
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	if (len)
		memcpy(copy, p, len);
	wire_msg_init(&m);
	rc = wire_decode(copy, len, &m, err);
	if (rc == 0) {
		/* Whatever decodes must re-encode to the same bytes. */
		struct wire_wr w;

		wire_wr_init(&w, WIRE_WR_MAX_DEFAULT);
		assert_int_equal(wire_encode(&m, &w), 0);
		assert_bytes(w.p, w.len, copy, len);
		wire_wr_free(&w);
	}
	wire_msg_free(&m);
	free(copy);
	return rc;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Every truncation, with the header length adjusted so the payloads are what fails. */
static void truncate_all(const uint8_t *buf, size_t len)
{
	struct wire_error err;
	uint8_t *t = malloc(len);

	assert_non_null(t);
	for (size_t l = 0; l < len; l++) {
		memcpy(t, buf, l);
		if (l >= IKEV2_HDR_LEN)
			put32(&t[24], (uint32_t)l);
		assert_int_equal(decode_copy(t, l, &err), -1);
		assert_non_null(err.reason);
		assert_int_equal(err.notify, l < IKEV2_HDR_LEN ? 0 : IKEV2_N_INVALID_SYNTAX);
	}
	free(t);
}

static void test_truncations(void **state)
{
	struct wire_msg m;
	uint8_t *buf;
	size_t len;

	build_clear(&m);
	buf = encode_to_heap(&m, &len);
	truncate_all(buf, len);
	free(buf);
	wire_msg_free(&m);

	/* The inner payloads, moved into the clear so that wire_decode sees them. */
	build_inner(&m);
	for (size_t i = 0; i < m.npayloads; i++)
		m.payloads[i].encrypted = false;
	buf = encode_to_heap(&m, &len);
	truncate_all(buf, len);
	free(buf);
	wire_msg_free(&m);
}

/* Single-octet corruption anywhere: never a crash, and what decodes re-encodes exactly. */
static void test_mutations(void **state)
{
	static const uint8_t vals[] = {0x00, 0x01, 0x03, 0x7f, 0x80, 0xff};
	struct wire_msg m;
	struct wire_error err;
	uint8_t *buf;
	size_t len, ok = 0, bad = 0;

	build_inner(&m);
	for (size_t i = 0; i < m.npayloads; i++)
		m.payloads[i].encrypted = false;
	buf = encode_to_heap(&m, &len);
	for (size_t i = 0; i < len; i++) {
		uint8_t orig = buf[i];

		for (size_t v = 0; v < ARRAY_LEN(vals); v++) {
			buf[i] = vals[v];
			if (decode_copy(buf, len, &err) == 0)
				ok++;
			else
				bad++;
		}
		buf[i] = orig;
	}
	assert_true(ok > 0 && bad > 0);
	free(buf);
	wire_msg_free(&m);
}

/* A header of the right length in front of a hand-written payload chain. */
static size_t with_hdr(uint8_t *out, uint8_t np, const uint8_t *chain, size_t clen)
{
	memset(out, 0, IKEV2_HDR_LEN);
	memcpy(out, spi_i, 8);
	out[16] = np;
	out[17] = IKEV2_VERSION;
	out[18] = IKEV2_EXCH_IKE_SA_INIT;
	out[19] = IKEV2_FLAG_INITIATOR;
	put32(&out[24], (uint32_t)(IKEV2_HDR_LEN + clen));
	if (clen)
		memcpy(&out[IKEV2_HDR_LEN], chain, clen);
	return IKEV2_HDR_LEN + clen;
}

static int decode_chain_bytes(uint8_t np, const uint8_t *chain, size_t clen, struct wire_error *err)
{
	uint8_t buf[2048];

	assert_true(clen + IKEV2_HDR_LEN <= sizeof(buf));
	return decode_copy(buf, with_hdr(buf, np, chain, clen), err);
}

#define EXPECT_SYNTAX(np, ...)                                                                     \
	do {                                                                                       \
		static const uint8_t c_[] = {__VA_ARGS__};                                         \
		struct wire_error e_;                                                              \
		assert_int_equal(decode_chain_bytes(np, c_, sizeof(c_), &e_), -1);                 \
		assert_int_equal(e_.notify, IKEV2_N_INVALID_SYNTAX);                               \
		assert_non_null(e_.reason);                                                        \
	} while (0)

#define EXPECT_OK(np, ...)                                                                         \
	do {                                                                                       \
		static const uint8_t c_[] = {__VA_ARGS__};                                         \
		struct wire_error e_;                                                              \
		assert_int_equal(decode_chain_bytes(np, c_, sizeof(c_), &e_), 0);                  \
	} while (0)

static void test_header(void **state)
{
	uint8_t buf[64];
	struct wire_error err;
	size_t len = with_hdr(buf, 0, NULL, 0);

	assert_int_equal(decode_copy(buf, len, &err), 0);
	buf[17] = 0x21; /* minor version: ignored (RFC 7296 2.5), and kept */
	assert_int_equal(decode_copy(buf, len, &err), 0);
	buf[17] = 0x30;
	assert_int_equal(decode_copy(buf, len, &err), -1);
	assert_int_equal(err.notify, IKEV2_N_INVALID_MAJOR_VERSION);
	buf[17] = 0x10; /* IKEv1 */
	assert_int_equal(decode_copy(buf, len, &err), -1);
	assert_int_equal(err.notify, IKEV2_N_INVALID_MAJOR_VERSION);
	assert_int_equal(err.offset, 17);
	buf[17] = IKEV2_VERSION;
	/* A trailing octet the length field does not cover. */
	buf[len] = 0;
	assert_int_equal(decode_copy(buf, len + 1, &err), -1);
	assert_int_equal(err.notify, IKEV2_N_INVALID_SYNTAX);
	assert_int_equal(err.offset, 24);
	put32(&buf[24], 27);
	assert_int_equal(decode_copy(buf, 27, &err), -1);
	assert_int_equal(err.notify, 0); /* too short to answer */
	/* Next payload set, but nothing follows. */
	len = with_hdr(buf, IKEV2_PL_V, NULL, 0);
	assert_int_equal(decode_copy(buf, len, &err), -1);
	assert_int_equal(err.notify, IKEV2_N_INVALID_SYNTAX);
	assert_int_equal(err.offset, 28);
}

static void test_generic_header(void **state)
{
	struct wire_error err;
	static const uint8_t crit[] = {0, 0x80, 0, 5, 0xaa};
	static const uint8_t trail[] = {0, 0, 0, 4, 0};

	/* Payload length under 4, over the rest. */
	EXPECT_SYNTAX(IKEV2_PL_V, 0, 0, 0, 3);
	EXPECT_SYNTAX(IKEV2_PL_V, 0, 0, 0, 6, 1);
	/* Octets after the last payload: kept as the trailer in a message (see
	 * payload.h), refused in an SK plaintext chain. */
	EXPECT_OK(IKEV2_PL_V, 0, 0, 0, 4, 0);
	assert_int_equal(
	    wire_decode_chain(trail, sizeof(trail), IKEV2_PL_V, true, &(struct wire_msg){0}, &err),
	    -1);
	assert_string_equal(err.reason, "data after the last payload");
	EXPECT_OK(IKEV2_PL_V, IKEV2_PL_V, 0, 0, 4, 0, 0, 0, 5, 1);
	/* Unknown critical payload: UNSUPPORTED_CRITICAL_PAYLOAD naming the type. */
	assert_int_equal(decode_chain_bytes(IKEV2_PL_GSA, crit, sizeof(crit), &err), -1);
	assert_int_equal(err.notify, IKEV2_N_UNSUPPORTED_CRITICAL_PAYLOAD);
	assert_int_equal(err.payload, IKEV2_PL_GSA);
	assert_int_equal(err.offset, 28);
	assert_int_equal(decode_chain_bytes(7, crit, sizeof(crit), &err), -1);
	assert_int_equal(err.payload, 7);
	/* ... not critical: skipped (kept raw). Critical on a known type: ignored. */
	EXPECT_OK(IKEV2_PL_GSA, 0, 0x7f, 0, 5, 0xaa);
	EXPECT_OK(IKEV2_PL_V, 0, 0x80, 0, 5, 0xaa);
	/* SK must be last; SK inside SK is refused. */
	EXPECT_SYNTAX(IKEV2_PL_SK, IKEV2_PL_V, 0, 0, 8, 1, 2, 3, 4, 0, 0, 0, 4);
	EXPECT_OK(IKEV2_PL_SK, IKEV2_PL_V, 0, 0, 12, 1, 2, 3, 4, 0, 0, 0, 4);
	EXPECT_SYNTAX(IKEV2_PL_SKF, IKEV2_PL_V, 0, 0, 8, 0, 1, 0, 1, 0, 0, 0, 4);
	assert_int_equal(wire_decode_chain(crit, 4, IKEV2_PL_SK, true, &(struct wire_msg){0}, &err),
	                 -1);
	assert_string_equal(err.reason, "SK/SKF payload inside SK");
}

static void test_too_many(void **state)
{
	uint8_t chain[8192];
	size_t n = 0;
	struct wire_error err;

	/* 65 empty vendor IDs: over WIRE_MAX_PAYLOADS. */
	for (int i = 0; i < 65; i++) {
		chain[n++] = i < 64 ? IKEV2_PL_V : 0;
		chain[n++] = 0;
		chain[n++] = 0;
		chain[n++] = 4;
	}
	assert_int_equal(decode_chain_bytes(IKEV2_PL_V, chain, n, &err), -1);
	assert_string_equal(err.reason, "too many payloads");
	assert_int_equal(decode_chain_bytes(IKEV2_PL_V, chain + 4, n - 4, &err), 0);
}

/* An SA payload of nprop proposals with ntr transforms of nattr TV attributes each. */
static size_t sa_bytes(uint8_t *out, unsigned nprop, unsigned ntr, unsigned nattr)
{
	size_t n = 4, tlen = 8 + 4 * nattr, plen = 8 + ntr * tlen;

	for (unsigned p = 0; p < nprop; p++) {
		out[n++] = p + 1 < nprop ? 2 : 0;
		out[n++] = 0;
		out[n++] = (uint8_t)(plen >> 8);
		out[n++] = (uint8_t)plen;
		out[n++] = (uint8_t)(p + 1);
		out[n++] = IKEV2_PROTO_IKE;
		out[n++] = 0;
		out[n++] = (uint8_t)ntr;
		for (unsigned t = 0; t < ntr; t++) {
			out[n++] = t + 1 < ntr ? 3 : 0;
			out[n++] = 0;
			out[n++] = (uint8_t)(tlen >> 8);
			out[n++] = (uint8_t)tlen;
			out[n++] = IKEV2_TRANS_ENCR;
			out[n++] = 0;
			out[n++] = 0;
			out[n++] = 12;
			for (unsigned a = 0; a < nattr; a++) {
				out[n++] = 0x80;
				out[n++] = 14;
				out[n++] = 0;
				out[n++] = 128;
			}
		}
	}
	out[0] = 0;
	out[1] = 0;
	out[2] = (uint8_t)(n >> 8);
	out[3] = (uint8_t)n;
	return n;
}

static void test_sa_limits(void **state)
{
	uint8_t sa[16384];
	struct wire_error err;
	size_t n;

	n = sa_bytes(sa, 32, 2, 1);
	assert_int_equal(decode_chain_bytes(IKEV2_PL_SA, sa, n, &err), 0);
	n = sa_bytes(sa, 33, 2, 1);
	assert_int_equal(decode_chain_bytes(IKEV2_PL_SA, sa, n, &err), -1);
	assert_string_equal(err.reason, "too many proposals");
	n = sa_bytes(sa, 1, 64, 0);
	assert_int_equal(decode_chain_bytes(IKEV2_PL_SA, sa, n, &err), 0);
	n = sa_bytes(sa, 1, 65, 0);
	assert_int_equal(decode_chain_bytes(IKEV2_PL_SA, sa, n, &err), -1);
	assert_string_equal(err.reason, "too many transforms");
	n = sa_bytes(sa, 1, 1, 4);
	assert_int_equal(decode_chain_bytes(IKEV2_PL_SA, sa, n, &err), 0);
	n = sa_bytes(sa, 1, 1, 5);
	assert_int_equal(decode_chain_bytes(IKEV2_PL_SA, sa, n, &err), -1);
	assert_string_equal(err.reason, "too many transform attributes");
}

static void test_sa_malformed(void **state)
{
	/* Good: one proposal, one transform with a TLV attribute. */
	EXPECT_OK(IKEV2_PL_SA, 0, 0, 0, 24, 0, 0, 0, 20, 1, 1, 0, 1, 0, 0, 0, 12, 1, 0, 0, 12, 0, 1,
	          0, 0);
	/* Last Substruc 1 in the proposal; 1 in the transform. */
	EXPECT_SYNTAX(IKEV2_PL_SA, 0, 0, 0, 24, 1, 0, 0, 20, 1, 1, 0, 1, 0, 0, 0, 12, 1, 0, 0, 12,
	              0, 1, 0, 0);
	EXPECT_SYNTAX(IKEV2_PL_SA, 0, 0, 0, 24, 0, 0, 0, 20, 1, 1, 0, 1, 1, 0, 0, 12, 1, 0, 0, 12,
	              0, 1, 0, 0);
	/* "More" proposals announced but none follows. */
	EXPECT_SYNTAX(IKEV2_PL_SA, 0, 0, 0, 24, 2, 0, 0, 20, 1, 1, 0, 1, 0, 0, 0, 12, 1, 0, 0, 12,
	              0, 1, 0, 0);
	/* Number of transforms 2, one present; 0 with one present. */
	EXPECT_SYNTAX(IKEV2_PL_SA, 0, 0, 0, 24, 0, 0, 0, 20, 1, 1, 0, 2, 0, 0, 0, 12, 1, 0, 0, 12,
	              0, 1, 0, 0);
	EXPECT_SYNTAX(IKEV2_PL_SA, 0, 0, 0, 24, 0, 0, 0, 20, 1, 1, 0, 0, 0, 0, 0, 12, 1, 0, 0, 12,
	              0, 1, 0, 0);
	/* Proposal length one short / one long of the SA body. */
	EXPECT_SYNTAX(IKEV2_PL_SA, 0, 0, 0, 24, 0, 0, 0, 19, 1, 1, 0, 1, 0, 0, 0, 12, 1, 0, 0, 12,
	              0, 1, 0, 0);
	EXPECT_SYNTAX(IKEV2_PL_SA, 0, 0, 0, 24, 0, 0, 0, 21, 1, 1, 0, 1, 0, 0, 0, 12, 1, 0, 0, 12,
	              0, 1, 0, 0);
	/* Transform length 7; TLV attribute length running past the transform. */
	EXPECT_SYNTAX(IKEV2_PL_SA, 0, 0, 0, 24, 0, 0, 0, 20, 1, 1, 0, 1, 0, 0, 0, 7, 1, 0, 0, 12, 0,
	              1, 0, 0);
	EXPECT_SYNTAX(IKEV2_PL_SA, 0, 0, 0, 24, 0, 0, 0, 20, 1, 1, 0, 1, 0, 0, 0, 12, 1, 0, 0, 12,
	              0, 1, 0, 1);
	/* SPI size 9 (with 9 octets present); proposal number 0; numbers 1, 3. */
	EXPECT_SYNTAX(IKEV2_PL_SA, 0, 0, 0, 33, 0, 0, 0, 29, 1, 1, 9, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9,
	              0, 0, 0, 12, 1, 0, 0, 12, 0, 1, 0, 0);
	EXPECT_SYNTAX(IKEV2_PL_SA, 0, 0, 0, 24, 0, 0, 0, 20, 0, 1, 0, 1, 0, 0, 0, 12, 1, 0, 0, 12,
	              0, 1, 0, 0);
	EXPECT_SYNTAX(IKEV2_PL_SA, 0, 0, 0, 28, 2, 0, 0, 12, 1, 1, 0, 1, 0, 0, 0, 8, 1, 0, 0, 12, 0,
	              0, 0, 12, 3, 1, 0, 1, 0, 0, 0, 8, 1, 0, 0, 12);
	EXPECT_OK(IKEV2_PL_SA, 0, 0, 0, 36, 2, 0, 0, 16, 1, 1, 0, 1, 0, 0, 0, 8, 1, 0, 0, 12, 0, 0,
	          0, 16, 2, 1, 0, 1, 0, 0, 0, 8, 1, 0, 0, 12);
	/* SA without proposals. */
	EXPECT_SYNTAX(IKEV2_PL_SA, 0, 0, 0, 4);
}

static void test_payload_malformed(void **state)
{
	/* Nonce of 15 and 257 octets (RFC 7296 3.9: 16..256). */
	uint8_t n[4 + 257] = {0, 0, 0, 19};
	struct wire_error err;

	assert_int_equal(decode_chain_bytes(IKEV2_PL_NI_NR, n, 19, &err), -1);
	n[3] = 20;
	assert_int_equal(decode_chain_bytes(IKEV2_PL_NI_NR, n, 20, &err), 0);
	n[2] = 1;
	n[3] = 4;
	assert_int_equal(decode_chain_bytes(IKEV2_PL_NI_NR, n, 260, &err), 0);
	n[3] = 5;
	assert_int_equal(decode_chain_bytes(IKEV2_PL_NI_NR, n, 261, &err), -1);
	assert_string_equal(err.reason, "nonce not 16..256 octets");

	/* Notify SPI size 9; KE, ID, AUTH, CERT too short. */
	EXPECT_SYNTAX(IKEV2_PL_N, 0, 0, 0, 17, 0, 9, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9);
	EXPECT_OK(IKEV2_PL_N, 0, 0, 0, 16, 0, 8, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8);
	EXPECT_SYNTAX(IKEV2_PL_N, 0, 0, 0, 10, 3, 4, 0x40, 0, 1, 2);
	EXPECT_SYNTAX(IKEV2_PL_KE, 0, 0, 0, 7, 0, 19, 0);
	EXPECT_SYNTAX(IKEV2_PL_IDI, 0, 0, 0, 7, 2, 0, 0);
	EXPECT_SYNTAX(IKEV2_PL_AUTH, 0, 0, 0, 6, 2, 0);
	EXPECT_SYNTAX(IKEV2_PL_CERT, 0, 0, 0, 4);
	EXPECT_OK(IKEV2_PL_CERTREQ, 0, 0, 0, 5, 4);

	/* Delete: IKE with SPI size 4, ESP with count/length mismatch, unknown protocol. */
	EXPECT_OK(IKEV2_PL_D, 0, 0, 0, 8, 1, 0, 0, 0);
	EXPECT_SYNTAX(IKEV2_PL_D, 0, 0, 0, 12, 1, 4, 0, 1, 1, 2, 3, 4);
	EXPECT_OK(IKEV2_PL_D, 0, 0, 0, 12, 3, 4, 0, 1, 1, 2, 3, 4);
	EXPECT_SYNTAX(IKEV2_PL_D, 0, 0, 0, 12, 3, 4, 0, 2, 1, 2, 3, 4);
	EXPECT_SYNTAX(IKEV2_PL_D, 0, 0, 0, 13, 3, 4, 0, 1, 1, 2, 3, 4, 5);
	EXPECT_SYNTAX(IKEV2_PL_D, 0, 0, 0, 12, 9, 4, 0, 1, 1, 2, 3, 4);

	/* TS: IPv4 selector of length 17, none at all, 2 announced and 1 present. */
	EXPECT_OK(IKEV2_PL_TSI, 0, 0, 0, 24, 1, 0, 0, 0, 7, 0, 0, 16, 0, 0, 0xff, 0xff, 10, 0, 0, 0,
	          10, 0, 0, 255);
	EXPECT_SYNTAX(IKEV2_PL_TSI, 0, 0, 0, 25, 1, 0, 0, 0, 7, 0, 0, 17, 0, 0, 0xff, 0xff, 10, 0,
	              0, 0, 10, 0, 0, 255, 0);
	EXPECT_SYNTAX(IKEV2_PL_TSI, 0, 0, 0, 8, 0, 0, 0, 0);
	EXPECT_SYNTAX(IKEV2_PL_TSR, 0, 0, 0, 24, 2, 0, 0, 0, 7, 0, 0, 16, 0, 0, 0xff, 0xff, 10, 0,
	              0, 0, 10, 0, 0, 255);
	/* Unknown TS type: kept raw (see payload.h); selector length 3 refused. */
	EXPECT_OK(IKEV2_PL_TSR, 0, 0, 0, 12, 1, 0, 0, 0, 10, 0, 0, 4);
	EXPECT_SYNTAX(IKEV2_PL_TSR, 0, 0, 0, 12, 1, 0, 0, 0, 10, 0, 0, 3);

	/* CP attribute running past the payload. */
	EXPECT_SYNTAX(IKEV2_PL_CP, 0, 0, 0, 12, 1, 0, 0, 0, 0, 1, 0, 5);
	EXPECT_OK(IKEV2_PL_CP, 0, 0, 0, 12, 1, 0, 0, 0, 0, 1, 0, 0);

	/* EAP length field not matching, request without a type. */
	EXPECT_OK(IKEV2_PL_EAP, 0, 0, 0, 9, 1, 1, 0, 5, 1);
	EXPECT_SYNTAX(IKEV2_PL_EAP, 0, 0, 0, 9, 1, 1, 0, 6, 1);
	EXPECT_SYNTAX(IKEV2_PL_EAP, 0, 0, 0, 8, 1, 1, 0, 4);
	EXPECT_OK(IKEV2_PL_EAP, 0, 0, 0, 8, 3, 1, 0, 4);

	/* SKF: fragment 0, fragment over the total. */
	EXPECT_SYNTAX(IKEV2_PL_SKF, 0, 0, 0, 10, 0, 0, 0, 1, 0xaa, 0xbb);
	EXPECT_SYNTAX(IKEV2_PL_SKF, 0, 0, 0, 10, 0, 3, 0, 2, 0xaa, 0xbb);
	EXPECT_OK(IKEV2_PL_SKF, 0, 0, 0, 10, 0, 2, 0, 2, 0xaa, 0xbb);
}

/* RFC 8019 8.2: the PS payload is four keys of one size, never empty. */
static void test_ps(void **state)
{
	uint8_t b[4 + WIRE_PS_MAX + 4] = {0};
	struct wire_error err;
	struct wire_msg m;
	struct wire_wr w;
	const uint8_t *key;
	size_t klen;
	uint8_t np;

	(void)state;
	EXPECT_SYNTAX(IKEV2_PL_PS, 0, 0, 0, 4);
	EXPECT_SYNTAX(IKEV2_PL_PS, 0, 0, 0, 5, 1);
	EXPECT_SYNTAX(IKEV2_PL_PS, 0, 0, 0, 10, 1, 2, 3, 4, 5, 6);
	EXPECT_OK(IKEV2_PL_PS, 0, 0, 0, 8, 1, 2, 3, 4);
	/* 64-octet keys (SHA-512's preferred size) pass, 65 do not. */
	b[2] = (4 + WIRE_PS_MAX) >> 8;
	b[3] = (uint8_t)(4 + WIRE_PS_MAX);
	assert_int_equal(decode_chain_bytes(IKEV2_PL_PS, b, 4 + WIRE_PS_MAX, &err), 0);
	b[2] = (4 + WIRE_PS_MAX + 4) >> 8;
	b[3] = (uint8_t)(4 + WIRE_PS_MAX + 4);
	assert_int_equal(decode_chain_bytes(IKEV2_PL_PS, b, sizeof(b), &err), -1);
	assert_string_equal(err.reason, "PS payload keys longer than 64 octets");

	/* Round trip, and the keys read back one by one. */
	static const uint8_t ps[] = {0, 0, 0, 12, 1, 1, 2, 2, 3, 3, 4, 4};
	wire_msg_init(&m);
	assert_int_equal(wire_decode_chain(ps, sizeof(ps), IKEV2_PL_PS, false, &m, &err), 0);
	assert_int_equal(m.npayloads, 1);
	assert_int_equal(m.payloads[0].u.ps.len, 8);
	for (unsigned i = 0; i < WIRE_PS_KEYS; i++) {
		assert_int_equal(wire_ps_key(&m.payloads[0].u.ps, i, &key, &klen), 0);
		assert_int_equal(klen, 2);
		assert_int_equal(key[0], i + 1);
		assert_int_equal(key[1], i + 1);
	}
	assert_int_equal(wire_ps_key(&m.payloads[0].u.ps, 4, &key, &klen), -1);
	wire_wr_init(&w, 64);
	assert_int_equal(wire_encode_chain(m.payloads, 1, &w, &np), 0);
	assert_int_equal(np, IKEV2_PL_PS);
	assert_int_equal(w.len, sizeof(ps));
	assert_memory_equal(w.p, ps, sizeof(ps));
	wire_wr_free(&w);
	/* The encoder refuses what the decoder would. */
	m.payloads[0].u.ps.len = 7;
	wire_wr_init(&w, 64);
	assert_int_equal(wire_encode_chain(m.payloads, 1, &w, &np), -1);
	wire_wr_free(&w);
	wire_msg_free(&m);
}

static void test_cp_ts_limits(void **state)
{
	uint8_t c[4 + 4 + 65 * 4] = {0};
	uint8_t t[4 + 4 + 33 * 16] = {0};
	struct wire_error err;
	size_t n;

	for (unsigned k = 64; k <= 65; k++) {
		n = 8 + 4 * k;
		c[2] = (uint8_t)(n >> 8);
		c[3] = (uint8_t)n;
		c[4] = IKEV2_CFG_REQUEST;
		for (unsigned i = 0; i < k; i++)
			c[8 + 4 * i + 1] = 1;
		assert_int_equal(decode_chain_bytes(IKEV2_PL_CP, c, n, &err), k == 64 ? 0 : -1);
	}
	assert_string_equal(err.reason, "too many configuration attributes");
	for (unsigned k = 32; k <= 33; k++) {
		n = 8 + 16 * k;
		t[2] = (uint8_t)(n >> 8);
		t[3] = (uint8_t)n;
		t[4] = (uint8_t)k;
		for (unsigned i = 0; i < k; i++) {
			t[8 + 16 * i] = IKEV2_TS_IPV4_ADDR_RANGE;
			t[8 + 16 * i + 3] = 16;
		}
		assert_int_equal(decode_chain_bytes(IKEV2_PL_TSI, t, n, &err), k == 32 ? 0 : -1);
	}
	assert_string_equal(err.reason, "too many traffic selectors");
}

/* ---- the message container ---- */

static void test_arena_and_find(void **state)
{
	struct wire_msg m;
	size_t total = 0;
	const struct wire_payload *p;
	uint8_t *a;

	wire_msg_init(&m);
	assert_null(wire_msg_alloc(&m, WIRE_ARENA_MAX + 1));
	a = wire_msg_alloc(&m, 100);
	assert_non_null(a);
	for (int i = 0; i < 100; i++)
		assert_int_equal(a[i], 0);
	assert_true(((uintptr_t)a % 16) == 0);
	/* Keep allocating until the cap stops us. */
	while (wire_msg_alloc(&m, 10000))
		total += 10000;
	assert_true(total > WIRE_ARENA_MAX - 20000 && total <= WIRE_ARENA_MAX);
	assert_null(wire_msg_adopt(&m, ke_data, 20000));
	wire_msg_free(&m);
	assert_null(m.arena);
	assert_ptr_not_equal(wire_msg_adopt(&m, ke_data, 64), ke_data);
	assert_memory_equal(wire_msg_adopt(&m, ke_data, 64), ke_data, 64);
	wire_msg_free(&m);
	wire_msg_free(NULL);

	build_clear(&m);
	p = wire_msg_find(&m, IKEV2_PL_N, NULL);
	assert_ptr_equal(p, &m.payloads[3]);
	p = wire_msg_find(&m, IKEV2_PL_N, p);
	assert_ptr_equal(p, &m.payloads[4]);
	assert_null(wire_msg_find(&m, IKEV2_PL_N, p));
	assert_null(wire_msg_find(&m, IKEV2_PL_TSI, NULL));
	assert_ptr_equal(wire_msg_find_notify(&m, IKEV2_N_REKEY_SA), &m.payloads[4]);
	assert_null(wire_msg_find_notify(&m, IKEV2_N_INVALID_SYNTAX));
	wire_msg_free(&m);
}

/* RFC 3948 2.2, 2.3 */
static void test_udp4500(void **state)
{
	static const uint8_t ike[] = {0, 0, 0, 0, 0xaa, 0xbb};
	static const uint8_t esp[] = {0, 0, 1, 0, 0, 0, 0, 1, 0xcc};
	static const uint8_t ka[] = {0xff};
	static const uint8_t ka_bad[] = {0xfe};
	const uint8_t *p;
	size_t len;

	p = ike;
	len = sizeof(ike);
	assert_int_equal(wire_udp4500_classify(&p, &len), 1);
	assert_ptr_equal(p, &ike[4]);
	assert_int_equal(len, 2);
	p = esp;
	len = sizeof(esp);
	assert_int_equal(wire_udp4500_classify(&p, &len), 0);
	assert_ptr_equal(p, esp);
	assert_int_equal(len, sizeof(esp));
	len = 7;
	assert_int_equal(wire_udp4500_classify(&p, &len), -1);
	p = ka;
	len = 1;
	assert_int_equal(wire_udp4500_classify(&p, &len), 2);
	p = ka_bad;
	assert_int_equal(wire_udp4500_classify(&p, &len), -1);
	p = ike;
	len = 3;
	assert_int_equal(wire_udp4500_classify(&p, &len), -1);
	len = 0;
	assert_int_equal(wire_udp4500_classify(&p, &len), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_clear), cmocka_unit_test(test_roundtrip_inner),
	    cmocka_unit_test(test_roundtrip_sk),    cmocka_unit_test(test_encode_rules),
	    cmocka_unit_test(test_truncations),     cmocka_unit_test(test_mutations),
	    cmocka_unit_test(test_header),          cmocka_unit_test(test_generic_header),
	    cmocka_unit_test(test_too_many),        cmocka_unit_test(test_sa_limits),
	    cmocka_unit_test(test_sa_malformed),    cmocka_unit_test(test_payload_malformed),
	    cmocka_unit_test(test_cp_ts_limits),    cmocka_unit_test(test_arena_and_find),
	    cmocka_unit_test(test_udp4500),         cmocka_unit_test(test_ps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
