/*
 * ESP transforms (src/dataplane/esp.c): round trips for every cipher with
 * IPv4 and IPv6 inner packets (RFC 4303 tunnel mode), ESN across 2^32
 * (RFC 4303 2.2.1, Appendix A), sequence number overflow (3.3.3),
 * tampering (3.4.4), replays (3.4.3) and the RFC 7634 Appendix A packet.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dataplane/esp.h"
#include "dp_test_util.h"

#define CAP  2048
#define HEAD 64

struct pair {
	struct dp_esp_sa out, in;
};

static void pair_init(struct pair *p, const struct dpt_suite *s, bool esn)
{
	struct dp_sa sa;

	dpt_sa(&sa, s, DP_DIR_OUT, 0x11223344, esn, 7);
	assert_int_equal(dp_esp_init(&p->out, &sa), 0);
	sa.dir = DP_DIR_IN;
	assert_int_equal(dp_esp_init(&p->in, &sa), 0);
}

static void pair_clear(struct pair *p)
{
	dp_esp_clear(&p->out);
	dp_esp_clear(&p->in);
}

/* Encapsulate an inner packet into b (whose base is buf). */
static void encap(struct dp_esp_sa *e, uint8_t *buf, struct dp_buf *b, const uint8_t *pkt,
                  size_t len, uint8_t nh)
{
	*b = (struct dp_buf){.base = buf, .cap = CAP, .off = HEAD, .len = len};
	memcpy(buf + HEAD, pkt, len);
	assert_int_equal(dp_esp_encap(e, b, nh), DP_ESP_OK);
}

static enum dp_esp_result decap(struct dp_esp_sa *e, const struct dp_buf *wire, uint8_t *buf,
                                struct dp_buf *b, uint8_t *nh)
{
	uint64_t seq;

	/* Copy: decapsulation works in place and a test may replay the original. */
	memcpy(buf, dp_buf_data(wire), wire->len);
	*b = (struct dp_buf){.base = buf, .cap = wire->len, .off = 0, .len = wire->len};
	return dp_esp_decap(e, b, nh, &seq);
}

static void round_trip(const struct dpt_suite *s, int family, bool esn)
{
	uint8_t pkt[1600], wbuf[CAP], rbuf[CAP], nh = 0;
	struct dp_buf w, r;
	struct pair p;

	pair_init(&p, s, esn);
	for (size_t plen = 0; plen < 40; plen += 13) {
		size_t len = family == AF_INET
		                 ? dpt_packet(pkt, AF_INET, "10.1.0.1", "10.2.0.1", plen)
		                 : dpt_packet(pkt, AF_INET6, "fd01::1", "fd02::1", plen);
		uint8_t want_nh = family == AF_INET ? DP_ESP_NH_IPV4 : DP_ESP_NH_IPV6;
		encap(&p.out, wbuf, &w, pkt, len, want_nh);
		/* Framing: SPI, sequence number, alignment to 4 and to the block. */
		assert_int_equal(dp_get32(dp_buf_data(&w)), 0x11223344);
		assert_int_equal(dp_get32(dp_buf_data(&w) + 4), p.out.seq);
		size_t ct = w.len - 8 - p.out.iv_len - p.out.icv_len;
		assert_int_equal(ct % 4, 0);
		assert_int_equal(ct % p.out.block_len, 0);
		assert_true(w.len <= len + dp_esp_overhead(&p.out));
		assert_int_equal(decap(&p.in, &w, rbuf, &r, &nh), DP_ESP_OK);
		assert_int_equal(nh, want_nh);
		assert_int_equal(r.len, len);
		assert_memory_equal(dp_buf_data(&r), pkt, len);
		/* The same packet again is a replay (RFC 4303 3.4.3). */
		assert_int_equal(decap(&p.in, &w, rbuf, &r, &nh), DP_ESP_REPLAY);
	}
	pair_clear(&p);
}

static void test_round_trips(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(dpt_suites); i++) {
		print_message("suite %s\n", dpt_suites[i].name);
		round_trip(&dpt_suites[i], AF_INET, false);
		round_trip(&dpt_suites[i], AF_INET6, false);
		round_trip(&dpt_suites[i], AF_INET, true);
		round_trip(&dpt_suites[i], AF_INET6, true);
	}
}

/* RFC 4303 3.4.4: any modified octet fails the ICV; the window must not move. */
static void test_tamper(void **state)
{
	uint8_t pkt[200], wbuf[CAP], rbuf[CAP], nh;
	struct dp_buf w, r;

	for (size_t i = 0; i < ARRAY_LEN(dpt_suites); i++) {
		struct pair p;
		size_t len = dpt_packet(pkt, AF_INET, "10.1.0.1", "10.2.0.1", 64);
		pair_init(&p, &dpt_suites[i], true);
		encap(&p.out, wbuf, &w, pkt, len, DP_ESP_NH_IPV4);
		/* Flip a bit in the IV, in the ciphertext, in the ICV. */
		size_t spots[] = {8, 8 + p.out.iv_len + 3, w.len - 1};
		for (size_t k = 0; k < ARRAY_LEN(spots); k++) {
			dp_buf_data(&w)[spots[k]] ^= 0x40;
			assert_int_equal(decap(&p.in, &w, rbuf, &r, &nh), DP_ESP_AUTH);
			dp_buf_data(&w)[spots[k]] ^= 0x40;
		}
		assert_int_equal(p.in.replay.top, 0);
		assert_int_equal(decap(&p.in, &w, rbuf, &r, &nh), DP_ESP_OK);
		/* A truncated packet is malformed (too short for the ICV). */
		struct dp_buf shortw = w;
		shortw.len = 8 + p.out.iv_len + p.out.icv_len;
		assert_int_equal(decap(&p.in, &shortw, rbuf, &r, &nh), DP_ESP_MALFORMED);
		pair_clear(&p);
	}
}

/* RFC 4303 2.2.1 and Appendix A: numbers cross 2^32; the high half is in the ICV only. */
static void test_esn_wrap(void **state)
{
	uint8_t pkt[200], wbuf[CAP], rbuf[CAP], nh;
	struct dp_buf w, r;

	for (size_t i = 0; i < ARRAY_LEN(dpt_suites); i++) {
		struct pair p;
		size_t len = dpt_packet(pkt, AF_INET6, "fd01::1", "fd02::1", 10);
		pair_init(&p, &dpt_suites[i], true);
		p.out.seq = 0xfffffffdull;
		dp_replay_update(&p.in.replay, 0xfffffff0ull);
		for (uint64_t want = 0xfffffffeull; want < 0x100000003ull; want++) {
			encap(&p.out, wbuf, &w, pkt, len, DP_ESP_NH_IPV6);
			assert_int_equal(dp_get32(dp_buf_data(&w) + 4), (uint32_t)want);
			assert_int_equal(decap(&p.in, &w, rbuf, &r, &nh), DP_ESP_OK);
			assert_int_equal(p.in.replay.top, want);
		}
		/* A receiver that infers other high bits computes another ICV. */
		encap(&p.out, wbuf, &w, pkt, len, DP_ESP_NH_IPV6);
		struct dp_esp_sa *in = &p.in;
		uint64_t saved = in->replay.top;
		in->replay.top = 0x300000000ull + (saved & 0xffffffffull);
		assert_int_equal(decap(in, &w, rbuf, &r, &nh), DP_ESP_AUTH);
		in->replay.top = saved;
		assert_int_equal(decap(in, &w, rbuf, &r, &nh), DP_ESP_OK);
		pair_clear(&p);
	}
}

/* RFC 4303 3.3.3: without ESN the counter must not cycle. */
static void test_seq_overflow(void **state)
{
	uint8_t pkt[200], wbuf[CAP];
	struct dp_buf w;
	struct pair p;
	size_t len = dpt_packet(pkt, AF_INET, "10.1.0.1", "10.2.0.1", 10);

	pair_init(&p, &dpt_suites[0], false);
	p.out.seq = 0xfffffffeull;
	encap(&p.out, wbuf, &w, pkt, len, DP_ESP_NH_IPV4);
	assert_int_equal(dp_get32(dp_buf_data(&w) + 4), 0xffffffffu);
	w = (struct dp_buf){.base = wbuf, .cap = CAP, .off = HEAD, .len = len};
	assert_int_equal(dp_esp_encap(&p.out, &w, DP_ESP_NH_IPV4), DP_ESP_SEQ_OVERFLOW);
	pair_clear(&p);
}

/* Out-of-order delivery within the window, then a packet that fell out of it. */
static void test_reorder(void **state)
{
	uint8_t pkt[200], wbuf[70][CAP], rbuf[CAP], nh;
	struct dp_buf w[70], r;
	struct pair p;
	size_t len = dpt_packet(pkt, AF_INET, "10.1.0.1", "10.2.0.1", 10);

	pair_init(&p, &dpt_suites[2], false);
	for (int i = 0; i < 70; i++)
		encap(&p.out, wbuf[i], &w[i], pkt, len, DP_ESP_NH_IPV4);
	assert_int_equal(decap(&p.in, &w[68], rbuf, &r, &nh), DP_ESP_OK);    /* seq 69 */
	assert_int_equal(decap(&p.in, &w[5], rbuf, &r, &nh), DP_ESP_OK);     /* 6: in window */
	assert_int_equal(decap(&p.in, &w[4], rbuf, &r, &nh), DP_ESP_REPLAY); /* 5: too old */
	assert_int_equal(decap(&p.in, &w[69], rbuf, &r, &nh), DP_ESP_OK);
	assert_int_equal(decap(&p.in, &w[5], rbuf, &r, &nh), DP_ESP_REPLAY); /* duplicate */
	pair_clear(&p);
}

/* Seal a hand-made payload with the outbound SA's AEAD cipher as sequence number seq. */
static size_t seal_raw(struct dp_esp_sa *out, uint32_t seq, const uint8_t *pt, size_t len,
                       uint8_t *wire)
{
	uint8_t aad[8];

	dp_put32(wire, out->spi);
	dp_put32(wire + 4, seq);
	dp_put64(wire + 8, seq);
	memcpy(aad, wire, 8);
	assert_int_equal(
	    crypto_cipher_seal(out->cipher, wire + 8, aad, 8, pt, len, wire + 16, wire + 16 + len),
	    0);
	return 16 + len + out->icv_len;
}

/* RFC 4303 2.4: wrong padding or pad length is malformed although the ICV verifies. */
static void test_bad_padding(void **state)
{
	uint8_t pt[32], wire[128], nh;
	struct pair p;
	uint64_t seq;

	pair_init(&p, &dpt_suites[0], false);
	memset(pt, 0x45, sizeof(pt));
	pt[29] = 0x02; /* padding "01 02" expected at 28, 29 */
	pt[28] = 0x01;
	pt[30] = 2;
	pt[31] = DP_ESP_NH_IPV4;
	size_t n = seal_raw(&p.out, 1, pt, sizeof(pt), wire);
	struct dp_buf b = {.base = wire, .cap = n, .len = n};
	assert_int_equal(dp_esp_decap(&p.in, &b, &nh, &seq), DP_ESP_OK);
	pt[29] = 0x07; /* wrong padding octet */
	n = seal_raw(&p.out, 2, pt, sizeof(pt), wire);
	b = (struct dp_buf){.base = wire, .cap = n, .len = n};
	assert_int_equal(dp_esp_decap(&p.in, &b, &nh, &seq), DP_ESP_MALFORMED);
	pt[30] = 40; /* pad length beyond the payload */
	n = seal_raw(&p.out, 3, pt, sizeof(pt), wire);
	b = (struct dp_buf){.base = wire, .cap = n, .len = n};
	assert_int_equal(dp_esp_decap(&p.in, &b, &nh, &seq), DP_ESP_MALFORMED);
	pt[29] = 0x02;
	pt[30] = 2;
	pt[31] = DP_ESP_NH_NONE; /* a dummy packet (2.6) */
	n = seal_raw(&p.out, 4, pt, sizeof(pt), wire);
	b = (struct dp_buf){.base = wire, .cap = n, .len = n};
	assert_int_equal(dp_esp_decap(&p.in, &b, &nh, &seq), DP_ESP_DUMMY);
	pair_clear(&p);
}

/* RFC 7634 Appendix A: the example ESP packet decrypts through esp.c. */
static void test_rfc7634_vector(void **state)
{
	static const char *key = "808182838485868788898a8b8c8d8e8f"
	                         "909192939495969798999a9b9c9d9e9f"
	                         "a0a1a2a3";
	static const char *pt = "45000054a6f200004001e778c6336405c000020508005b7a3a080000553bec10"
	                        "0007362708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223"
	                        "2425262728292a2b2c2d2e2f303132333435363701020204";
	static const char *ct = "24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c6"
	                        "14ee8099d52844eb61aa95dfab4c02f72aa71e7c4c4f64c9befe2facc638e8f3"
	                        "cbec163fac469b502773f6fb94e664da9165b82829f641e076aaa8266b7fb0f7"
	                        "b11b369907e1ad43";
	uint8_t wire[256], plain[128], nh = 0;
	struct dp_sa sa;
	struct dp_esp_sa in;
	uint64_t seq;

	dpt_sa(&sa, &dpt_suites[2], DP_DIR_IN, 0x01020304, false, 0);
	sa.encr_key_len = dpt_hex(key, sa.encr_key, sizeof(sa.encr_key));
	assert_int_equal(dp_esp_init(&in, &sa), 0);
	/* SPI 0x01020304, sequence number 5 (the AAD), IV 1011121314151617. */
	size_t n = dpt_hex("0102030400000005", wire, 8);
	n += dpt_hex("1011121314151617", wire + n, 8);
	n += dpt_hex(ct, wire + n, sizeof(wire) - n);
	size_t plen = dpt_hex(pt, plain, sizeof(plain));
	struct dp_buf b = {.base = wire, .cap = n, .off = 0, .len = n};
	assert_int_equal(dp_esp_decap(&in, &b, &nh, &seq), DP_ESP_OK);
	assert_int_equal(seq, 5);
	assert_int_equal(nh, DP_ESP_NH_IPV4);
	assert_int_equal(b.len, plen - 4); /* padding 01 02, pad length 2, next header 4 */
	assert_memory_equal(dp_buf_data(&b), plain, b.len);
	dp_esp_clear(&in);
}

/* Memory per SA (issue 13): each direction holds only what it uses. An
 * inbound SA has its replay ring sized to the window and no IV pool; an
 * outbound one no ring, and an IV pool only for CBC (RFC 3602 2.3). */
static void test_per_sa_memory(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dpt_suites) / sizeof(dpt_suites[0]); i++) {
		struct pair p;
		bool cbc = dpt_suites[i].encr == IKEV2_ENCR_AES_CBC;

		pair_init(&p, &dpt_suites[i], false);
		assert_null(p.out.replay.bits);
		assert_true(cbc ? p.out.ivpool != NULL : p.out.ivpool == NULL);
		assert_non_null(p.in.replay.bits);
		assert_int_equal(p.in.replay.words, 4); /* the default 64 packets */
		assert_null(p.in.ivpool);
		pair_clear(&p);
	}
	assert_in_range(sizeof(struct dp_esp_sa), 0, 72);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trips),    cmocka_unit_test(test_tamper),
	    cmocka_unit_test(test_esn_wrap),       cmocka_unit_test(test_seq_overflow),
	    cmocka_unit_test(test_reorder),        cmocka_unit_test(test_bad_padding),
	    cmocka_unit_test(test_rfc7634_vector), cmocka_unit_test(test_per_sa_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
