/*
 * IKEv2 fragmentation (RFC 7383): splitting a message into SKF fragments
 * that fit a size (2.5), and reassembly (2.6) in order, out of order and
 * with duplicates; fragments with bad numbers, a bad ICV or from an older
 * fragment set are dropped, a newer set restarts the queue, and the caps
 * hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

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
	assert_int_equal(m.npayloads, 3);
	assert_int_equal(m.hdr.msg_id, 1);
	assert_int_equal(m.payloads[0].type, IKEV2_PL_IDI);
	assert_true(m.payloads[0].encrypted);
	assert_int_equal(m.payloads[1].type, IKEV2_PL_CERT);
	assert_int_equal(m.payloads[1].u.cert.len, sizeof(certdata));
	assert_memory_equal(m.payloads[1].u.cert.data, certdata, sizeof(certdata));
	assert_int_equal(m.payloads[2].type, IKEV2_PL_AUTH);
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
		assert_int_equal(m.npayloads, 1);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split_shape),      cmocka_unit_test(test_in_order),
	    cmocka_unit_test(test_out_of_order_dup), cmocka_unit_test(test_bad_icv),
	    cmocka_unit_test(test_sets_and_caps),    cmocka_unit_test(test_split_edges),
	};
	int rc;

	rc = cmocka_run_group_tests_name("skf_cbc", tests, setup_cbc, teardown);
	rc |= cmocka_run_group_tests_name("skf_gcm", tests, setup_gcm, teardown);
	return rc;
}
