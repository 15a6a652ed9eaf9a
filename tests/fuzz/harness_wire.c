/*
 * Fuzz target bodies for the wire layer: the decoder and rules table
 * (RFC 7296 3), the typed notify codecs (wire/notify.h), SK opening (3.14, RFC 5282), SKF
 * reassembly (RFC 7383 2.6) and the Wireshark key table. SK and SKF use fixed keys for three
 * suites; the input's first octet picks one. To get past the ICV the
 * harness can seal fuzzer-chosen plaintext itself, so that inner payload
 * decoding, padding checks and reassembly see arbitrary bytes behind a
 * valid ICV.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "util/keytable.h"
#include "wire/notify.h"
#include "wire/payload.h"
#include "wire/sk.h"

#define FUZZ_NSUITES 3

struct fuzz_suite {
	uint16_t encr, keybits, integ;
};

/* AES-GCM-16 (RFC 5282), AES-CBC + HMAC-SHA-256-128 (RFC 3602, 4868), ChaCha20-Poly1305 (7634). */
static const struct fuzz_suite fuzz_suites[FUZZ_NSUITES] = {
    {IKEV2_ENCR_AES_GCM_16, 256, IKEV2_AUTH_NONE},
    {IKEV2_ENCR_AES_CBC, 128, IKEV2_AUTH_HMAC_SHA2_256_128},
    {IKEV2_ENCR_CHACHA20_POLY1305, 0, IKEV2_AUTH_NONE},
};

static struct wire_prot fuzz_prots[FUZZ_NSUITES];
static bool fuzz_prot_ready[FUZZ_NSUITES];

static const uint8_t fuzz_spi_i[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
static const uint8_t fuzz_spi_r[8] = {0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01};
/* A fixed IV keeps runs deterministic (the fuzzer must replay what it found). */
static const uint8_t fuzz_iv[CRYPTO_MAX_IV_LEN];

/* The fixed-key protection for suite i (built once). */
static struct wire_prot *fuzz_prot(unsigned i)
{
	const struct fuzz_suite *s = &fuzz_suites[i % FUZZ_NSUITES];
	struct crypto_ike_suite cs = {
	    .encr = s->encr, .encr_keybits = s->keybits, .integ = s->integ};
	uint8_t ke[CRYPTO_MAX_KEY_LEN], ka[CRYPTO_MAX_PRF_LEN];
	struct crypto_encr_info info;
	size_t alen;

	i %= FUZZ_NSUITES;
	if (fuzz_prot_ready[i])
		return &fuzz_prots[i];
	for (size_t k = 0; k < sizeof(ke); k++)
		ke[k] = (uint8_t)(0x40 + k);
	for (size_t k = 0; k < sizeof(ka); k++)
		ka[k] = (uint8_t)(0x80 + k);
	alen = s->integ == IKEV2_AUTH_NONE ? 0 : crypto_integ_key_len(s->integ);
	if (crypto_encr_info(s->encr, s->keybits, &info) < 0 ||
	    wire_prot_init(&fuzz_prots[i], &cs, ke, info.key_len, ka, alen) < 0)
		abort(); /* the harness itself is broken */
	fuzz_prot_ready[i] = true;
	return &fuzz_prots[i];
}

void fuzz_wire_cleanup(void)
{
	for (unsigned i = 0; i < FUZZ_NSUITES; i++) {
		wire_prot_clear(&fuzz_prots[i]);
		fuzz_prot_ready[i] = false;
	}
}

/* A codec's encoding of what it decoded must be n's data again, octet for octet.
 * len by address: the encoder, another argument of the same call, sets it. */
static void fuzz_same(const struct wire_notify *n, int rc, const uint8_t *out, const size_t *len)
{
	if (rc < 0 || *len != n->len || (*len && memcmp(out, n->data, *len) != 0))
		abort();
}

/* Decode n with the codec for its type and, when that succeeds, encode it back. */
static void fuzz_notify_roundtrip(const struct wire_notify *n)
{
	union {
		struct wire_redirect redirect;
		struct wire_gw_id gw;
		struct wire_addr addr;
		struct wire_cookie2 cookie2;
		struct wire_no_nats no_nats;
		struct wire_nat_detection nat_d;
		struct wire_qcd_token qcd;
		struct wire_puzzle puzzle;
		uint16_t group;
		uint32_t spi;
	} u;
	uint8_t out[WIRE_REDIRECT_MAX];
	size_t len = 0;

	switch (n->type) {
	case IKEV2_N_REDIRECT:
		if (wire_redirect_decode(n, &u.redirect, NULL) == 0)
			fuzz_same(n, wire_redirect_encode(&u.redirect, out, sizeof(out), &len), out,
			          &len);
		break;
	case IKEV2_N_REDIRECTED_FROM:
		if (wire_redirected_from_decode(n, &u.gw, NULL) == 0)
			fuzz_same(n, wire_redirected_from_encode(&u.gw, out, sizeof(out), &len),
			          out, &len);
		break;
	case IKEV2_N_ADDITIONAL_IP4_ADDRESS:
	case IKEV2_N_ADDITIONAL_IP6_ADDRESS:
		if (wire_additional_addr_decode(n, &u.addr, NULL) == 0) {
			if (wire_additional_addr_type(&u.addr) != n->type)
				abort();
			fuzz_same(n, wire_additional_addr_encode(&u.addr, out, sizeof(out), &len),
			          out, &len);
		}
		break;
	case IKEV2_N_COOKIE2:
		if (wire_cookie2_decode(n, &u.cookie2, NULL) == 0)
			fuzz_same(n, wire_cookie2_encode(&u.cookie2, out, sizeof(out), &len), out,
			          &len);
		break;
	case IKEV2_N_NO_NATS_ALLOWED:
		if (wire_no_nats_decode(n, &u.no_nats, NULL) == 0)
			fuzz_same(n, wire_no_nats_encode(&u.no_nats, out, sizeof(out), &len), out,
			          &len);
		break;
	case IKEV2_N_NAT_DETECTION_SOURCE_IP:
	case IKEV2_N_NAT_DETECTION_DESTINATION_IP:
		if (wire_nat_detection_decode(n, &u.nat_d, NULL) == 0)
			fuzz_same(n, wire_nat_detection_encode(&u.nat_d, out, sizeof(out), &len),
			          out, &len);
		break;
	case IKEV2_N_INVALID_KE_PAYLOAD:
		if (wire_invalid_ke_decode(n, &u.group, NULL) == 0)
			fuzz_same(n, wire_invalid_ke_encode(u.group, out, sizeof(out), &len), out,
			          &len);
		break;
	case IKEV2_N_INVALID_SPI:
		if (wire_invalid_spi_decode(n, &u.spi, NULL) == 0)
			fuzz_same(n, wire_invalid_spi_encode(u.spi, out, sizeof(out), &len), out,
			          &len);
		break;
	case IKEV2_N_QUICK_CRASH_DETECTION:
		if (wire_qcd_token_decode(n, &u.qcd, NULL) == 0)
			fuzz_same(n, wire_qcd_token_encode(&u.qcd, out, sizeof(out), &len), out,
			          &len);
		break;
	case IKEV2_N_PUZZLE:
		if (wire_puzzle_decode(n, &u.puzzle, NULL) == 0)
			fuzz_same(n, wire_puzzle_encode(&u.puzzle, out, sizeof(out), &len), out,
			          &len);
		break;
	default: /* the data-less ones are covered by wire_notify_check */
		break;
	}
}

/*
 * Every notify of m[from..) through the codec for its type: a refusal
 * must say why and point inside the data; an acceptance must re-encode
 * to the same octets. Delete payloads' SPIs are read as numbers too, and
 * a PS payload's four keys must all be readable.
 */
static void fuzz_notifies(const struct wire_msg *m, size_t from)
{
	struct wire_error err;
	uint32_t spi;

	for (size_t i = from; i < m->npayloads; i++) {
		const struct wire_payload *p = &m->payloads[i];

		if (p->type == IKEV2_PL_PS) { /* RFC 8019 8.2: four keys, each readable */
			const uint8_t *key;
			size_t klen;

			for (unsigned k = 0; k < WIRE_PS_KEYS; k++)
				if (wire_ps_key(&p->u.ps, k, &key, &klen) < 0 ||
				    key + klen > p->u.ps.data + p->u.ps.len)
					abort();
			continue;
		}
		if (p->type == IKEV2_PL_D) {
			size_t k = 0;

			while (wire_delete_spi32(&p->u.del, k, &spi) == 0)
				k++;
			if (k != (p->u.del.spi_size == 4 ? p->u.del.nspis : 0))
				abort();
			continue;
		}
		if (p->type != IKEV2_PL_N)
			continue;
		memset(&err, 0, sizeof(err));
		if (wire_notify_check(&p->u.notify, &err) < 0) {
			if (!err.reason || err.notify != IKEV2_N_INVALID_SYNTAX ||
			    err.payload != IKEV2_PL_N || err.offset > p->u.notify.len)
				abort();
			continue;
		}
		fuzz_notify_roundtrip(&p->u.notify);
	}
}

/* Payloads [from, n) of m must encode as a chain: whatever decodes must encode. */
static void fuzz_encode_tail(const struct wire_msg *m, size_t from)
{
	struct wire_wr w;
	uint8_t np;

	if (from >= m->npayloads)
		return;
	fuzz_notifies(m, from);
	wire_wr_init(&w, WIRE_WR_MAX_DEFAULT);
	if (wire_encode_chain(&m->payloads[from], m->npayloads - from, &w, &np) < 0 ||
	    np != m->payloads[from].type)
		abort();
	wire_wr_free(&w);
}

static void fuzz_decode_buf(const uint8_t *buf, size_t len)
{
	struct wire_error err;
	struct wire_msg m;
	struct wire_wr w;

	wire_msg_init(&m);
	if (wire_decode(buf, len, &m, &err) == 0) {
		(void)(wire_rules_check(&m, &err) == 0); /* refusals are fine */
		fuzz_notifies(&m, 0);
		wire_wr_init(&w, WIRE_WR_MAX_DEFAULT);
		if (wire_encode(&m, &w) < 0)
			abort(); /* whatever decodes must encode */
		wire_wr_free(&w);
	}
	wire_msg_free(&m);
}

int fuzz_decode_one(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t len = size;

	/* Port 500 sees the datagram as is; port 4500 strips the non-ESP marker (RFC 3948 2.2). */
	fuzz_decode_buf(data, size);
	if (wire_udp4500_classify(&p, &len) == 1)
		fuzz_decode_buf(p, len);
	return 0;
}

/* Open the SK payload of a decoded message; check what a success promises. */
static int fuzz_open(struct wire_prot *prot, const uint8_t *buf, size_t len, struct wire_msg *m,
                     struct wire_sk_result *res, struct wire_error *err)
{
	size_t before = m->npayloads;

	if (wire_sk_open(prot, buf, len, m, res, err) < 0)
		return -1;
	if (res->inner_len + res->pad_len + 1 != res->plain_len || !res->icv_verified)
		abort();
	(void)(wire_rules_check(m, err) == 0);
	fuzz_encode_tail(m, before);
	return 0;
}

/* Mode 0: the rest of the input is a received message, ICV and all. */
static void fuzz_sk_raw(struct wire_prot *prot, const uint8_t *buf, size_t len)
{
	struct wire_sk_result res;
	struct wire_error err;
	struct wire_msg m;
	struct wire_wr plain;

	wire_msg_init(&m);
	if (wire_decode(buf, len, &m, &err) < 0 || m.npayloads == 0)
		goto out;
	if (m.payloads[m.npayloads - 1].type == IKEV2_PL_SK) {
		(void)fuzz_open(prot, buf, len, &m, &res, &err);
	} else if (m.payloads[m.npayloads - 1].type == IKEV2_PL_SKF) {
		wire_wr_init(&plain, WIRE_SK_MAX_MSG);
		(void)(wire_sk_decrypt(prot, buf, len, &m.payloads[m.npayloads - 1], 0, &plain,
		                       &res, &err) == 0);
		wire_wr_free(&plain);
	}
out:
	wire_msg_free(&m);
}

static void fuzz_hdr(struct wire_hdr *h, uint8_t exchange, uint8_t flags, uint32_t msg_id)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->spi_i, fuzz_spi_i, 8);
	memcpy(h->spi_r, fuzz_spi_r, 8);
	h->version = IKEV2_VERSION;
	h->exchange = exchange;
	h->flags = flags;
	h->msg_id = msg_id;
}

/* A CBC plaintext must be whole blocks: cut to the block size (0 = nothing to seal). */
static size_t fuzz_plain_len(const struct wire_prot *prot, size_t len)
{
	size_t b = prot->block_len > 1 ? prot->block_len : 1;

	return len - len % b;
}

/*
 * Mode 1: input = inner_np, exchange, flags, plaintext (inner payloads ||
 * padding || pad length). Sealed with the fixed keys it must open (the ICV
 * is valid), and what opens must be exactly what was sealed.
 */
static void fuzz_sk_sealed(struct wire_prot *prot, const uint8_t *in, size_t size)
{
	struct wire_sk_params sp = {.type = IKEV2_PL_SK};
	struct wire_sk_result res;
	struct wire_error err;
	struct wire_hdr h;
	struct wire_msg m;
	struct wire_wr out;
	size_t plen;

	if (size < 4 || (plen = fuzz_plain_len(prot, size - 3)) == 0)
		return;
	sp.inner_np = in[0];
	fuzz_hdr(&h, in[1], in[2], 1);
	wire_wr_init(&out, WIRE_SK_MAX_MSG);
	wire_msg_init(&m);
	if (wire_sk_seal_raw(prot, &h, &sp, fuzz_iv, in + 3, plen, &out) < 0)
		goto out;
	if (wire_decode(out.p, out.len, &m, &err) < 0)
		goto out; /* e.g. flags the header decoder refuses */
	if (fuzz_open(prot, out.p, out.len, &m, &res, &err) < 0) {
		if (err.notify == 0)
			abort(); /* a valid ICV was refused */
		goto out;
	}
	if (res.plain_len != plen || memcmp(res.plain, in + 3, plen) != 0)
		abort();
out:
	wire_msg_free(&m);
	wire_wr_free(&out);
}

int fuzz_sk_one(const uint8_t *data, size_t size)
{
	struct wire_prot *prot;

	if (size < 1)
		return 0;
	/* Octet 0: bits 0-1 pick the suite, bit 7 the mode. */
	prot = fuzz_prot(data[0] & 3);
	if (data[0] & 0x80)
		fuzz_sk_sealed(prot, data + 1, size - 1);
	else
		fuzz_sk_raw(prot, data + 1, size - 1);
	return 0;
}

/* ---- SKF ---- */

#define FUZZ_FRAG_DESC 5 /* control, inner_np, fragment number, total, plaintext length */

/* The exchanges a fragment descriptor picks (control bits 4-5); IKE_SA_INIT has no SK. */
static const uint8_t fuzz_skf_exchanges[4] = {IKEV2_EXCH_IKE_AUTH, IKEV2_EXCH_CREATE_CHILD_SA,
                                              IKEV2_EXCH_INFORMATIONAL, IKEV2_EXCH_IKE_SA_INIT};

/*
 * The queue's content sent whole: HDR, SK{merged || padding || pad length}
 * as the peer would have sent it unfragmented, decoded and opened by
 * wire_sk_open into m. -1 when it does not open, -2 when it cannot be
 * sealed (too large for one message).
 */
static int fuzz_skf_whole(struct wire_prot *prot, const struct wire_skf_reasm *r,
                          struct wire_wr *buf, struct wire_msg *m, struct wire_error *err)
{
	struct wire_sk_params sp = {.type = IKEV2_PL_SK, .inner_np = r->inner_np};
	size_t b = prot->block_len > 1 ? prot->block_len : 1, pad;
	struct wire_wr plain;
	int rc = -2;

	wire_wr_init(&plain, WIRE_SKF_MAX_PLAIN + 256);
	for (size_t i = 0; i < r->total; i++)
		if (wire_wr_bytes(&plain, r->frag[i], r->frag_len[i]) < 0)
			goto out;
	pad = (b - (plain.len + 1) % b) % b;
	if (wire_wr_zeros(&plain, pad) < 0 || wire_wr_u8(&plain, (uint8_t)pad) < 0 ||
	    wire_sk_seal_raw(prot, &r->hdr, &sp, fuzz_iv, plain.p, plain.len, buf) < 0)
		goto out;
	if (wire_decode(buf->p, buf->len, m, err) < 0)
		abort(); /* we sealed it ourselves: the outer message is well formed */
	rc = wire_sk_open(prot, buf->p, buf->len, m, NULL, err);
out:
	wire_wr_free(&plain);
	return rc;
}

/*
 * Reassembled (RFC 7383 2.6): processed as if it had been received whole.
 * The engine runs wire_rules_check on what wire_skf_finish returns, so the
 * reassembled message and the same content opened whole by wire_sk_open
 * must have the same payloads (type, encrypted or not) and get the same
 * rules verdict, refusal reason included. The inner chain must re-encode.
 */
static void fuzz_skf_done(struct wire_skf_reasm *r, struct wire_prot *prot)
{
	struct wire_error err, werr;
	struct wire_msg whole, ref;
	struct wire_wr buf;
	int rc, wrc, rules, wrules;

	wire_msg_init(&whole);
	wire_msg_init(&ref);
	wire_wr_init(&buf, WIRE_SK_MAX_MSG);
	wrc = fuzz_skf_whole(prot, r, &buf, &ref, &werr);
	rc = wire_skf_finish(r, &whole, &err);
	if (r->active || r->received)
		abort(); /* finish clears the queue either way */
	if (rc == 0 && wrc == -1)
		abort(); /* reassembled, but the same message whole does not open */
	if (rc < 0 && wrc == 0)
		abort(); /* the whole message opens, its fragments do not reassemble */
	if (rc < 0)
		goto out;
	if (whole.npayloads == 0 || whole.payloads[0].type != IKEV2_PL_SK ||
	    whole.payloads[0].encrypted || whole.hdr.np != IKEV2_PL_SK)
		abort(); /* the SK payload the original message had */
	rules = wire_rules_check(&whole, &err);
	if (wrc == 0) {
		if (whole.npayloads != ref.npayloads)
			abort();
		for (size_t i = 0; i < whole.npayloads; i++)
			if (whole.payloads[i].type != ref.payloads[i].type ||
			    whole.payloads[i].encrypted != ref.payloads[i].encrypted)
				abort();
		wrules = wire_rules_check(&ref, &werr);
		if (rules != wrules || err.notify != werr.notify || err.payload != werr.payload ||
		    (rules < 0 && strcmp(err.reason, werr.reason) != 0))
			abort();
	}
	fuzz_encode_tail(&whole, 1);
out:
	wire_wr_free(&buf);
	wire_msg_free(&ref);
	wire_msg_free(&whole);
}

/*
 * One fragment from a descriptor: control bit 0 corrupts the ICV, bits 1-2
 * add to the message ID, bit 3 sets the Response flag, bits 4-5 pick the
 * exchange (fuzz_skf_exchanges); the fragment is sealed with the fixed
 * keys and offered to the queue.
 */
static void fuzz_skf_frag(struct wire_skf_reasm *r, struct wire_prot *prot, const uint8_t *d,
                          const uint8_t *plain, size_t plen)
{
	struct wire_sk_params sp = {
	    .type = IKEV2_PL_SKF, .inner_np = d[1], .frag_num = d[2], .total_frags = d[3]};
	uint8_t flags = IKEV2_FLAG_INITIATOR | ((d[0] & 8) ? IKEV2_FLAG_RESPONSE : 0);
	struct wire_error err;
	struct wire_hdr h;
	struct wire_msg m;
	struct wire_wr out;
	int rc;

	fuzz_hdr(&h, fuzz_skf_exchanges[(d[0] >> 4) & 3], flags, 1u + ((d[0] >> 1) & 3u));
	wire_wr_init(&out, WIRE_SK_MAX_MSG);
	wire_msg_init(&m);
	if (wire_sk_seal_raw(prot, &h, &sp, fuzz_iv, plain, plen, &out) < 0 ||
	    wire_decode(out.p, out.len, &m, &err) < 0 || m.npayloads == 0)
		goto out;
	if (d[0] & 1)
		out.p[out.len - 1] ^= 0x01; /* the last octet is always ICV or tag */
	rc = wire_skf_add(r, prot, out.p, out.len, &m, &err);
	if (r->received > r->total || r->bytes > WIRE_SKF_MAX_PLAIN ||
	    r->total > WIRE_SKF_MAX_FRAGS)
		abort();
	if (rc == 1)
		fuzz_skf_done(r, prot);
out:
	wire_msg_free(&m);
	wire_wr_free(&out);
}

/*
 * Input: octet 0 picks the suite, then fragment descriptors of
 * FUZZ_FRAG_DESC octets, each followed by its plaintext.
 */
int fuzz_skf_one(const uint8_t *data, size_t size)
{
	struct wire_skf_reasm r;
	struct wire_prot *prot;
	size_t off = 1;

	if (size < 1)
		return 0;
	prot = fuzz_prot(data[0] & 3);
	wire_skf_reasm_init(&r);
	while (size - off >= FUZZ_FRAG_DESC) {
		const uint8_t *d = data + off;
		size_t want = d[4], plen;

		off += FUZZ_FRAG_DESC;
		if (want > size - off)
			want = size - off;
		plen = fuzz_plain_len(prot, want);
		if (plen)
			fuzz_skf_frag(&r, prot, d, data + off, plen);
		off += want;
	}
	wire_skf_reasm_clear(&r);
	return 0;
}

/* ---- key table ---- */

int fuzz_keytable_one(const uint8_t *data, size_t size)
{
	struct keytable_entry e;
	struct wire_prot p;
	const char *why = NULL;
	char *line;

	if (size > 4 * KEYTABLE_MAX_LINE)
		return 0;
	line = malloc(size + 1);
	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	memset(&e, 0, sizeof(e));
	switch (keytable_parse_line(line, &e, &why)) {
	case 1:
		if (e.e_len > sizeof(e.sk_ei) || e.a_len > sizeof(e.sk_ai))
			abort();
		/* What rikectl decode then does with the row. */
		if (e.unchecked_icv_len)
			(void)(wire_prot_init_unchecked(&p, &e.suite, e.sk_ei, e.e_len,
			                                e.unchecked_icv_len) == 0);
		else
			(void)(wire_prot_init(&p, &e.suite, e.sk_ei, e.e_len, e.sk_ai, e.a_len) ==
			       0);
		wire_prot_clear(&p);
		break;
	case 0:
		break;
	default:
		if (!why)
			abort(); /* errors say why */
		break;
	}
	free(line);
	return 0;
}
