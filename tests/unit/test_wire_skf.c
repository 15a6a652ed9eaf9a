/*
 * IKEv2 fragmentation (RFC 7383): splitting a message into SKF fragments
 * that fit a size (2.5), and reassembly (2.6) in order, out of order and
 * with duplicates; fragments with bad numbers, a bad ICV or from an older
 * fragment set are dropped, a newer set restarts the queue, and the caps
 * hold. The reassembled message is what wire_sk_open makes of the same
 * message sent whole (2.6), so the payload rules accept legal messages and
 * still refuse illegal ones; a response's fragments never mix with a
 * request's of the same message ID, and fragments with unprotected
 * payloads (2.5.3) are dropped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "wire/payload.h"
#include "wire/sk.h"

#define NFRAG_MAX 64

static uint8_t certdata[3000];

struct fix {
	struct wire_prot tx, rx; /* the same keys: sender's and receiver's copies */
	struct wire_hdr hdr;
	struct wire_payload pl[3];
	size_t npl;
	struct wire_wr frags[NFRAG_MAX];
	size_t nfrags;
};

static void fix_prot(struct wire_prot *p, uint16_t encr)
{
	struct crypto_ike_suite s = {.encr = encr, .encr_keybits = 128};
	struct crypto_encr_info info;
	uint8_t ke[CRYPTO_MAX_KEY_LEN], ka[32];

	if (encr == IKEV2_ENCR_AES_CBC)
		s.integ = IKEV2_AUTH_HMAC_SHA2_256_128;
	memset(ke, 0x5a, sizeof(ke));
	memset(ka, 0xa5, sizeof(ka));
	assert_int_equal(crypto_encr_info(s.encr, s.encr_keybits, &info), 0);
	assert_int_equal(wire_prot_init(p, &s, ke, info.key_len, ka, s.integ ? 32 : 0), 0);
}

/* IDi, CERT (3000 octets), AUTH: a message that needs fragments. */
static void fix_msg(struct fix *f)
{
	for (size_t i = 0; i < sizeof(certdata); i++)
		certdata[i] = (uint8_t)(i * 7);
	memset(&f->hdr, 0, sizeof(f->hdr));
	memset(f->hdr.spi_i, 0x11, 8);
	memset(f->hdr.spi_r, 0x22, 8);
	f->hdr.exchange = IKEV2_EXCH_IKE_AUTH;
	f->hdr.flags = IKEV2_FLAG_INITIATOR;
	f->hdr.msg_id = 1;
	memset(f->pl, 0, sizeof(f->pl));
	f->pl[0].type = IKEV2_PL_IDI;
	f->pl[0].u.id.type = IKEV2_ID_FQDN;
	f->pl[0].u.id.data = (const uint8_t *)"client.example";
	f->pl[0].u.id.len = 14;
	f->pl[1].type = IKEV2_PL_CERT;
	f->pl[1].u.cert.type = 4; /* X.509 Certificate - Signature */
	f->pl[1].u.cert.data = certdata;
	f->pl[1].u.cert.len = sizeof(certdata);
	f->pl[2].type = IKEV2_PL_AUTH;
	f->pl[2].u.auth.type = IKEV2_AUTH_METHOD_PSK;
	f->pl[2].u.auth.data = certdata;
	f->pl[2].u.auth.len = 32;
	f->npl = 3;
}

static void fix_split(struct fix *f, size_t max_len)
{
	assert_int_equal(wire_skf_split(&f->tx, &f->hdr, f->pl, f->npl, max_len, f->frags,
	                                NFRAG_MAX, &f->nfrags),
	                 0);
}

static int setup_enc(void **state, uint16_t encr)
{
	static struct fix f;

	memset(&f, 0, sizeof(f));
	fix_prot(&f.tx, encr);
	fix_prot(&f.rx, encr);
	fix_msg(&f);
	/* RFC 7383 2.5.1: 576-octet IPv4 datagrams over NAT-T. */
	fix_split(&f, wire_skf_msg_len_for_mtu(576, false, true));
	*state = &f;
	return 0;
}

static int setup_cbc(void **state)
{
	return setup_enc(state, IKEV2_ENCR_AES_CBC);
}

static int setup_gcm(void **state)
{
	return setup_enc(state, IKEV2_ENCR_AES_GCM_16);
}

static int teardown(void **state)
{
	struct fix *f = *state;

	for (size_t i = 0; i < f->nfrags; i++)
		wire_wr_free(&f->frags[i]);
	wire_prot_clear(&f->tx);
	wire_prot_clear(&f->rx);
	return 0;
}

/* Decode fragment i and offer it; returns wire_skf_add's result. */
static int offer(struct fix *f, struct wire_skf_reasm *r, const uint8_t *buf, size_t len,
                 struct wire_error *e)
{
	struct wire_msg m;
	int rc;

	wire_msg_init(&m);
	assert_int_equal(wire_decode(buf, len, &m, e), 0);
	assert_int_equal(m.payloads[m.npayloads - 1].type, IKEV2_PL_SKF);
	rc = wire_skf_add(r, &f->rx, buf, len, &m, e);
	wire_msg_free(&m);
	return rc;
}

static void check_whole(struct wire_skf_reasm *r)
{
	struct wire_msg m;
	struct wire_error e;

	wire_msg_init(&m);
	assert_int_equal(wire_skf_finish(r, &m, &e), 0);
	/* SK (in the clear, as wire_sk_open leaves it), then the inner payloads. */
	assert_int_equal(m.npayloads, 4);
	assert_int_equal(m.hdr.msg_id, 1);
	assert_int_equal(m.payloads[0].type, IKEV2_PL_SK);
	assert_false(m.payloads[0].encrypted);
	assert_int_equal(m.payloads[1].type, IKEV2_PL_IDI);
	assert_true(m.payloads[1].encrypted);
	assert_int_equal(m.payloads[2].type, IKEV2_PL_CERT);
	assert_int_equal(m.payloads[2].u.cert.len, sizeof(certdata));
	assert_memory_equal(m.payloads[2].u.cert.data, certdata, sizeof(certdata));
	assert_int_equal(m.payloads[3].type, IKEV2_PL_AUTH);
	assert_false(r->active);
	wire_msg_free(&m);
}

/* 2.5: every fragment fits, is separately protected, and only the first has an inner NP. */
static void test_split_shape(void **state)
{
	struct fix *f = *state;
	size_t max = wire_skf_msg_len_for_mtu(576, false, true);

	assert_true(f->nfrags >= 6);
	for (size_t i = 0; i < f->nfrags; i++) {
		struct wire_msg m;
		struct wire_error e;
		const struct wire_payload *p;

		assert_true(f->frags[i].len <= max);
		wire_msg_init(&m);
		assert_int_equal(wire_decode(f->frags[i].p, f->frags[i].len, &m, &e), 0);
		assert_int_equal(m.npayloads, 1);
		p = &m.payloads[0];
		assert_int_equal(m.hdr.np, IKEV2_PL_SKF);
		assert_int_equal(m.hdr.msg_id, 1);
		assert_int_equal(p->u.sk.frag_num, i + 1);
		assert_int_equal(p->u.sk.total_frags, f->nfrags);
		assert_int_equal(p->u.sk.inner_np, i == 0 ? IKEV2_PL_IDI : 0);
		wire_msg_free(&m);
	}
}

static void test_in_order(void **state)
{
	struct fix *f = *state;
	struct wire_skf_reasm r;
	struct wire_error e;

	wire_skf_reasm_init(&r);
	for (size_t i = 0; i < f->nfrags; i++)
		assert_int_equal(offer(f, &r, f->frags[i].p, f->frags[i].len, &e),
		                 i + 1 == f->nfrags ? 1 : 0);
	check_whole(&r);
	assert_int_equal(r.dropped, 0);
	wire_skf_reasm_clear(&r);
}

/* Reverse order with every fragment offered twice: the replays are dropped (2.6). */
static void test_out_of_order_dup(void **state)
{
	struct fix *f = *state;
	struct wire_skf_reasm r;
	struct wire_error e;
	unsigned done = 0;

	wire_skf_reasm_init(&r);
	for (size_t k = f->nfrags; k-- > 0;) {
		int rc = offer(f, &r, f->frags[k].p, f->frags[k].len, &e);

		assert_true(rc >= 0);
		done += rc == 1;
		if (rc == 1)
			break;
		assert_int_equal(offer(f, &r, f->frags[k].p, f->frags[k].len, &e), -1);
		assert_int_equal(e.notify, 0);
		assert_non_null(strstr(e.reason, "replayed"));
	}
	assert_int_equal(done, 1);
	assert_int_equal(r.dropped, f->nfrags - 1);
	check_whole(&r);
	wire_skf_reasm_clear(&r);
}

/* A fragment whose ICV fails is dropped silently and the set still completes. */
static void test_bad_icv(void **state)
{
	struct fix *f = *state;
	struct wire_skf_reasm r;
	struct wire_error e;
	struct wire_wr *last = &f->frags[f->nfrags - 1];

	wire_skf_reasm_init(&r);
	last->p[last->len - 1] ^= 0x80;
	assert_int_equal(offer(f, &r, last->p, last->len, &e), -1);
	last->p[last->len - 1] ^= 0x80;
	assert_int_equal(e.notify, 0);
	assert_int_equal(r.dropped, 1);
	assert_false(r.active);
	for (size_t i = 0; i < f->nfrags; i++)
		assert_int_equal(offer(f, &r, f->frags[i].p, f->frags[i].len, &e),
		                 i + 1 == f->nfrags ? 1 : 0);
	check_whole(&r);
	wire_skf_reasm_clear(&r);
}

/* Re-seal fragment 1 with given numbers (the decoder already rejects 0 and num > total). */
static void reseal(struct fix *f, uint16_t num, uint16_t total, struct wire_wr *out)
{
	struct wire_sk_params sp = {
	    .type = IKEV2_PL_SKF, .inner_np = IKEV2_PL_IDI, .frag_num = num, .total_frags = total};
	uint8_t plain[16] = {0};

	plain[15] = 15;
	wire_wr_init(out, WIRE_SK_MAX_MSG);
	assert_int_equal(wire_sk_seal_raw(&f->tx, &f->hdr, &sp, NULL, plain, 16, out), 0);
}

/* 2.6: an older (smaller) set is dropped; a newer (larger) set restarts; the cap holds. */
static void test_sets_and_caps(void **state)
{
	struct fix *f = *state;
	struct wire_skf_reasm r;
	struct wire_error e;
	struct wire_wr w;

	wire_skf_reasm_init(&r);
	assert_int_equal(offer(f, &r, f->frags[1].p, f->frags[1].len, &e), 0);
	/* Older set: fewer fragments than the queue's. */
	reseal(f, 1, (uint16_t)(f->nfrags - 1), &w);
	assert_int_equal(offer(f, &r, w.p, w.len, &e), -1);
	assert_non_null(strstr(e.reason, "older"));
	wire_wr_free(&w);
	/* Above the cap on Total Fragments. */
	reseal(f, 1, WIRE_SKF_MAX_FRAGS + 1, &w);
	assert_int_equal(offer(f, &r, w.p, w.len, &e), -1);
	assert_non_null(strstr(e.reason, "cap"));
	wire_wr_free(&w);
	assert_int_equal(r.received, 1);
	/* Newer set (PMTU discovery, 2.5.2): starts over with just this fragment. */
	reseal(f, 2, (uint16_t)(f->nfrags + 1), &w);
	assert_int_equal(offer(f, &r, w.p, w.len, &e), 0);
	assert_int_equal(r.received, 1);
	assert_int_equal(r.total, f->nfrags + 1);
	wire_wr_free(&w);
	assert_int_equal(r.dropped, 2);
	/* Finishing an incomplete queue fails and clears it. */
	{
		struct wire_msg m;

		wire_msg_init(&m);
		assert_int_equal(wire_skf_finish(&r, &m, &e), -1);
		assert_false(r.active);
		wire_msg_free(&m);
	}
	wire_skf_reasm_clear(&r);
}

/* A message that fits one fragment, an empty one, and a size too small for any content. */
static void test_split_edges(void **state)
{
	struct fix *f = *state;
	struct wire_wr frags[4];
	struct wire_skf_reasm r;
	struct wire_error e;
	size_t n;

	assert_int_equal(wire_skf_split(&f->tx, &f->hdr, f->pl, 1, 1200, frags, 4, &n), 0);
	assert_int_equal(n, 1);
	wire_skf_reasm_init(&r);
	assert_int_equal(offer(f, &r, frags[0].p, frags[0].len, &e), 1);
	{
		struct wire_msg m;

		wire_msg_init(&m);
		assert_int_equal(wire_skf_finish(&r, &m, &e), 0);
		assert_int_equal(m.npayloads, 2); /* SK, IDi */
		wire_msg_free(&m);
	}
	wire_wr_free(&frags[0]);
	assert_int_equal(wire_skf_split(&f->tx, &f->hdr, NULL, 0, 1200, frags, 4, &n), 0);
	assert_int_equal(n, 1);
	wire_wr_free(&frags[0]);
	assert_int_equal(wire_skf_split(&f->tx, &f->hdr, f->pl, f->npl, 40, frags, 4, &n), -1);
	/* More fragments than the caller has room for. */
	assert_int_equal(wire_skf_split(&f->tx, &f->hdr, f->pl, f->npl, 300, frags, 4, &n), -1);
	wire_skf_reasm_clear(&r);
}

/* Offer all fragments in order; the last must complete the set. */
static void offer_all(struct fix *f, struct wire_skf_reasm *r, struct wire_wr *frags, size_t n)
{
	struct wire_error e;

	for (size_t i = 0; i < n; i++)
		assert_int_equal(offer(f, r, frags[i].p, frags[i].len, &e), i + 1 == n ? 1 : 0);
}

/* The same payloads sent whole (HDR, SK{...}) and opened by wire_sk_open. */
static void open_whole(struct fix *f, const struct wire_hdr *h, const struct wire_payload *pl,
                       size_t n, struct wire_wr *buf, struct wire_msg *m)
{
	struct wire_error e;

	wire_wr_init(buf, WIRE_SK_MAX_MSG);
	assert_int_equal(wire_sk_seal(&f->tx, h, pl, n, NULL, WIRE_SK_PAD_MIN, buf), 0);
	wire_msg_init(m);
	assert_int_equal(wire_decode(buf->p, buf->len, m, &e), 0);
	assert_int_equal(wire_sk_open(&f->rx, buf->p, buf->len, m, NULL, &e), 0);
}

/*
 * RFC 7383 2.6: the reassembled message is processed as if it had come
 * whole. It has the payload list wire_sk_open gives the whole message (SK
 * in the clear, then the inner payloads), so the rules accept it.
 */
static void test_reassembled_like_whole(void **state)
{
	struct fix *f = *state;
	struct wire_skf_reasm r;
	struct wire_msg got, want;
	struct wire_error e;
	struct wire_wr whole;

	wire_skf_reasm_init(&r);
	offer_all(f, &r, f->frags, f->nfrags);
	wire_msg_init(&got);
	assert_int_equal(wire_skf_finish(&r, &got, &e), 0);
	open_whole(f, &f->hdr, f->pl, f->npl, &whole, &want);
	assert_int_equal(got.hdr.np, IKEV2_PL_SK);
	assert_int_equal(got.hdr.np, want.hdr.np);
	assert_int_equal(got.npayloads, want.npayloads);
	assert_int_equal(got.npayloads, f->npl + 1);
	for (size_t i = 0; i < got.npayloads; i++) {
		assert_int_equal(got.payloads[i].type, want.payloads[i].type);
		assert_int_equal(got.payloads[i].encrypted, want.payloads[i].encrypted);
	}
	assert_int_equal(got.payloads[0].type, IKEV2_PL_SK);
	assert_false(got.payloads[0].encrypted);
	assert_int_equal(got.payloads[0].u.sk.inner_np, IKEV2_PL_IDI);
	assert_int_equal(wire_rules_check(&want, &e), 0);
	assert_int_equal(wire_rules_check(&got, &e), 0);
	wire_msg_free(&got);
	wire_msg_free(&want);
	wire_wr_free(&whole);
	wire_skf_reasm_clear(&r);
}

/* Split payloads under header h into at most 576-octet datagrams. */
static size_t split_into(struct fix *f, const struct wire_hdr *h, const struct wire_payload *pl,
                         size_t n, struct wire_wr *frags, size_t max)
{
	size_t nf = 0;

	assert_int_equal(wire_skf_split(&f->tx, h, pl, n,
	                                wire_skf_msg_len_for_mtu(576, false, true), frags, max,
	                                &nf),
	                 0);
	assert_true(nf >= 2);
	return nf;
}

static void free_frags(struct wire_wr *frags, size_t n)
{
	for (size_t i = 0; i < n; i++)
		wire_wr_free(&frags[i]);
}

/* Reassembled, rules-checked: the verdict and the reason of the refusal. */
static int reasm_rules(struct fix *f, const struct wire_hdr *h, const struct wire_payload *pl,
                       size_t n, struct wire_error *e)
{
	struct wire_wr frags[NFRAG_MAX];
	struct wire_skf_reasm r;
	struct wire_msg m;
	size_t nf = split_into(f, h, pl, n, frags, NFRAG_MAX);
	int rc;

	wire_skf_reasm_init(&r);
	offer_all(f, &r, frags, nf);
	wire_msg_init(&m);
	assert_int_equal(wire_skf_finish(&r, &m, e), 0);
	rc = wire_rules_check(&m, e);
	wire_msg_free(&m);
	free_frags(frags, nf);
	wire_skf_reasm_clear(&r);
	return rc;
}

/* Illegal content stays illegal once reassembled (RFC 7296 1.2, 3.14). */
static void test_reassembled_illegal(void **state)
{
	struct fix *f = *state;
	struct wire_payload pl[3];
	struct wire_hdr h = f->hdr;
	struct wire_error e;

	/* A KE payload has no place in IKE_AUTH. */
	memcpy(pl, f->pl, sizeof(pl));
	pl[2].type = IKEV2_PL_KE;
	memset(&pl[2].u, 0, sizeof(pl[2].u));
	pl[2].u.ke.group = 31;
	pl[2].u.ke.data = certdata;
	pl[2].u.ke.len = 32;
	assert_int_equal(reasm_rules(f, &h, pl, 3, &e), -1);
	assert_int_equal(e.notify, IKEV2_N_INVALID_SYNTAX);
	assert_int_equal(e.payload, IKEV2_PL_KE);
	assert_string_equal(e.reason, "payload not allowed inside SK here");
	/* IDi belongs to the request only: the same content as a response is refused. */
	h.flags = IKEV2_FLAG_RESPONSE;
	assert_int_equal(reasm_rules(f, &h, f->pl, f->npl, &e), -1);
	assert_int_equal(e.payload, IKEV2_PL_IDI);
	/* Two AUTH payloads. */
	memcpy(pl, f->pl, sizeof(pl));
	pl[0] = pl[2];
	assert_int_equal(reasm_rules(f, &f->hdr, pl, 3, &e), -1);
	assert_string_equal(e.reason, "payload repeated more often than allowed");
	/* SKF inside the IKE_SA_INIT exchange: no protected payload is allowed there. */
	h = f->hdr;
	h.exchange = IKEV2_EXCH_IKE_SA_INIT;
	assert_int_equal(reasm_rules(f, &h, f->pl, f->npl, &e), -1);
	/* The fixture itself passes, so the refusals above are about the content. */
	assert_int_equal(reasm_rules(f, &f->hdr, f->pl, f->npl, &e), 0);
}

/*
 * RFC 7296 2.2: the peer's request and its response to ours may share a
 * message ID. A response fragment starts a new queue instead of joining
 * the request's, and the request's set then needs all its fragments again.
 */
static void test_request_response_apart(void **state)
{
	struct fix *f = *state;
	struct wire_wr resp[NFRAG_MAX];
	struct wire_payload pl[2];
	struct wire_hdr h = f->hdr;
	struct wire_skf_reasm r;
	struct wire_error e;
	struct wire_msg m;
	size_t nr;

	memcpy(pl, &f->pl[1], sizeof(pl)); /* CERT, AUTH: legal in a response */
	h.flags = IKEV2_FLAG_RESPONSE;
	nr = split_into(f, &h, pl, 2, resp, NFRAG_MAX);
	wire_skf_reasm_init(&r);
	/* All but the last request fragment, then one response fragment. */
	for (size_t i = 0; i + 1 < f->nfrags; i++)
		assert_int_equal(offer(f, &r, f->frags[i].p, f->frags[i].len, &e), 0);
	assert_int_equal(offer(f, &r, resp[0].p, resp[0].len, &e), 0);
	assert_int_equal(r.received, 1);
	assert_true(r.hdr.flags & IKEV2_FLAG_RESPONSE);
	/* The request's last fragment does not complete a mixed set. */
	assert_int_equal(offer(f, &r, f->frags[f->nfrags - 1].p, f->frags[f->nfrags - 1].len, &e),
	                 0);
	assert_int_equal(r.received, 1);
	assert_false(r.hdr.flags & IKEV2_FLAG_RESPONSE);
	wire_skf_reasm_clear(&r);
	/* The response alone reassembles to CERT, AUTH. */
	offer_all(f, &r, resp, nr);
	wire_msg_init(&m);
	assert_int_equal(wire_skf_finish(&r, &m, &e), 0);
	assert_int_equal(m.npayloads, 3);
	assert_int_equal(m.payloads[1].type, IKEV2_PL_CERT);
	assert_true(m.hdr.flags & IKEV2_FLAG_RESPONSE);
	assert_int_equal(wire_rules_check(&m, &e), 0);
	wire_msg_free(&m);
	free_frags(resp, nr);
	wire_skf_reasm_clear(&r);
}

/* 2.5.3: a fragment with an unprotected payload before SKF is dropped, not merged. */
static void test_unprotected_in_fragment(void **state)
{
	struct fix *f = *state;
	struct wire_skf_reasm r;
	struct wire_error e;
	struct wire_msg m, frag;
	struct wire_wr w;

	/* Re-encode fragment 1 with an N(INITIAL_CONTACT) in front of its SKF. */
	wire_msg_init(&frag);
	assert_int_equal(wire_decode(f->frags[0].p, f->frags[0].len, &frag, &e), 0);
	frag.payloads[1] = frag.payloads[0];
	memset(&frag.payloads[0], 0, sizeof(frag.payloads[0]));
	frag.payloads[0].type = IKEV2_PL_N;
	frag.payloads[0].u.notify.type = IKEV2_N_INITIAL_CONTACT;
	frag.npayloads = 2;
	wire_wr_init(&w, WIRE_SK_MAX_MSG);
	assert_int_equal(wire_encode(&frag, &w), 0);
	wire_msg_free(&frag);
	wire_skf_reasm_init(&r);
	wire_msg_init(&m);
	assert_int_equal(wire_decode(w.p, w.len, &m, &e), 0);
	assert_int_equal(m.npayloads, 2);
	assert_int_equal(wire_skf_add(&r, &f->rx, w.p, w.len, &m, &e), -1);
	assert_int_equal(e.notify, 0);
	assert_non_null(strstr(e.reason, "unprotected"));
	assert_int_equal(r.dropped, 1);
	assert_false(r.active);
	wire_msg_free(&m);
	wire_wr_free(&w);
	wire_skf_reasm_clear(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split_shape),
	    cmocka_unit_test(test_in_order),
	    cmocka_unit_test(test_out_of_order_dup),
	    cmocka_unit_test(test_bad_icv),
	    cmocka_unit_test(test_sets_and_caps),
	    cmocka_unit_test(test_split_edges),
	    cmocka_unit_test(test_reassembled_like_whole),
	    cmocka_unit_test(test_reassembled_illegal),
	    cmocka_unit_test(test_request_response_apart),
	    cmocka_unit_test(test_unprotected_in_fragment),
	};
	int rc;

	rc = cmocka_run_group_tests_name("skf_cbc", tests, setup_cbc, teardown);
	rc |= cmocka_run_group_tests_name("skf_gcm", tests, setup_gcm, teardown);
	return rc;
}
