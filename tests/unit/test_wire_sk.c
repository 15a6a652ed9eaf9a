/*
 * SK payload protection (RFC 7296 3.14, RFC 5282, RFC 7634): seal/open
 * round trips for every cipher suite rike offers for IKE, reproducible
 * output for a given IV, tamper detection anywhere in the message (header,
 * SK header, IV, ciphertext, ICV), truncated SK payloads, bad padding and
 * misaligned CBC plaintexts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "wire/sk.h"

struct suite {
	const char *name;
	struct crypto_ike_suite s;
};

static const struct suite suites[] = {
    {"AES-CBC-128/HMAC-SHA2-256-128",
     {.encr = IKEV2_ENCR_AES_CBC, .encr_keybits = 128, .integ = IKEV2_AUTH_HMAC_SHA2_256_128}},
    {"AES-CBC-256/HMAC-SHA2-512-256",
     {.encr = IKEV2_ENCR_AES_CBC, .encr_keybits = 256, .integ = IKEV2_AUTH_HMAC_SHA2_512_256}},
    {"3DES/HMAC-SHA1-96",
     {.encr = IKEV2_ENCR_3DES, .encr_keybits = 0, .integ = IKEV2_AUTH_HMAC_SHA1_96}},
    {"AES-CTR-128/HMAC-SHA2-256-128",
     {.encr = IKEV2_ENCR_AES_CTR, .encr_keybits = 128, .integ = IKEV2_AUTH_HMAC_SHA2_256_128}},
    {"AES-CTR-256/HMAC-SHA2-384-192",
     {.encr = IKEV2_ENCR_AES_CTR, .encr_keybits = 256, .integ = IKEV2_AUTH_HMAC_SHA2_384_192}},
    {"AES-GCM-8-128",
     {.encr = IKEV2_ENCR_AES_GCM_8, .encr_keybits = 128, .integ = IKEV2_AUTH_NONE}},
    {"AES-GCM-12-192",
     {.encr = IKEV2_ENCR_AES_GCM_12, .encr_keybits = 192, .integ = IKEV2_AUTH_NONE}},
    {"AES-GCM-16-256",
     {.encr = IKEV2_ENCR_AES_GCM_16, .encr_keybits = 256, .integ = IKEV2_AUTH_NONE}},
    {"AES-CCM-8-128",
     {.encr = IKEV2_ENCR_AES_CCM_8, .encr_keybits = 128, .integ = IKEV2_AUTH_NONE}},
    {"AES-CCM-12-256",
     {.encr = IKEV2_ENCR_AES_CCM_12, .encr_keybits = 256, .integ = IKEV2_AUTH_NONE}},
    {"AES-CCM-16-192",
     {.encr = IKEV2_ENCR_AES_CCM_16, .encr_keybits = 192, .integ = IKEV2_AUTH_NONE}},
    {"ChaCha20-Poly1305",
     {.encr = IKEV2_ENCR_CHACHA20_POLY1305, .encr_keybits = 0, .integ = IKEV2_AUTH_NONE}},
};

static const uint8_t fqdn[] = "gw.example.org";
static const uint8_t authdata[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

static void make_prot(const struct crypto_ike_suite *s, struct wire_prot *p)
{
	struct crypto_encr_info info;
	uint8_t ke[CRYPTO_MAX_KEY_LEN], ka[CRYPTO_MAX_PRF_LEN];
	size_t alen = s->integ ? crypto_integ_key_len(s->integ) : 0;

	assert_int_equal(crypto_encr_info(s->encr, s->encr_keybits, &info), 0);
	for (size_t i = 0; i < sizeof(ke); i++)
		ke[i] = (uint8_t)(0x40 + i);
	for (size_t i = 0; i < sizeof(ka); i++)
		ka[i] = (uint8_t)(0x90 ^ i);
	assert_int_equal(wire_prot_init(p, s, ke, info.key_len, ka, alen), 0);
}

static void make_hdr(struct wire_hdr *h)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->spi_i, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	memcpy(h->spi_r, "\x11\x12\x13\x14\x15\x16\x17\x18", 8);
	h->version = IKEV2_VERSION;
	h->exchange = IKEV2_EXCH_IKE_AUTH;
	h->flags = IKEV2_FLAG_INITIATOR;
	h->msg_id = 1;
}

/* IDi, N(INITIAL_CONTACT), AUTH: an IKE_AUTH request's start. */
static size_t make_inner(struct wire_payload *pl)
{
	memset(pl, 0, 3 * sizeof(*pl));
	pl[0].type = IKEV2_PL_IDI;
	pl[0].u.id.type = IKEV2_ID_FQDN;
	pl[0].u.id.data = fqdn;
	pl[0].u.id.len = sizeof(fqdn) - 1;
	pl[1].type = IKEV2_PL_N;
	pl[1].u.notify.type = IKEV2_N_INITIAL_CONTACT;
	pl[2].type = IKEV2_PL_AUTH;
	pl[2].u.auth.type = IKEV2_AUTH_METHOD_PSK;
	pl[2].u.auth.data = authdata;
	pl[2].u.auth.len = sizeof(authdata);
	return 3;
}

static void seal(struct wire_prot *p, const uint8_t *iv, size_t pad, struct wire_wr *out)
{
	struct wire_payload pl[3];
	struct wire_hdr h;
	size_t n = make_inner(pl);

	make_hdr(&h);
	wire_wr_init(out, WIRE_SK_MAX_MSG);
	assert_int_equal(wire_sk_seal(p, &h, pl, n, iv, pad, out), 0);
}

/* Open buf; returns the wire_sk_open result and leaves m decoded. */
static int open_msg(struct wire_prot *p, const uint8_t *buf, size_t len, struct wire_msg *m,
                    struct wire_sk_result *r, struct wire_error *e)
{
	wire_msg_init(m);
	if (wire_decode(buf, len, m, e) < 0)
		return -2;
	return wire_sk_open(p, buf, len, m, r, e);
}

static void check_inner(const struct wire_msg *m)
{
	assert_int_equal(m->npayloads, 4);
	assert_int_equal(m->payloads[0].type, IKEV2_PL_SK);
	assert_false(m->payloads[0].encrypted);
	assert_int_equal(m->payloads[1].type, IKEV2_PL_IDI);
	assert_true(m->payloads[1].encrypted);
	assert_int_equal(m->payloads[1].u.id.len, sizeof(fqdn) - 1);
	assert_memory_equal(m->payloads[1].u.id.data, fqdn, sizeof(fqdn) - 1);
	assert_int_equal(m->payloads[2].u.notify.type, IKEV2_N_INITIAL_CONTACT);
	assert_int_equal(m->payloads[3].type, IKEV2_PL_AUTH);
	assert_memory_equal(m->payloads[3].u.auth.data, authdata, sizeof(authdata));
}

static void test_roundtrip(void **state)
{
	const struct suite *su = *state;
	struct wire_prot p;
	struct wire_wr out;
	struct wire_msg m;
	struct wire_sk_result r;
	struct wire_error e;

	make_prot(&su->s, &p);
	seal(&p, NULL, WIRE_SK_PAD_MIN, &out);
	assert_int_equal(open_msg(&p, out.p, out.len, &m, &r, &e), 0);
	check_inner(&m);
	assert_true(r.icv_verified);
	assert_int_equal(r.icv_len, p.icv_len);
	assert_int_equal(r.iv_len, p.iv_len);
	assert_int_equal(r.plain_len % (p.block_len ? p.block_len : 1), 0);
	assert_true(r.pad_len < (p.block_len ? p.block_len : 1));
	/* RFC 7296 3.1: the header's Length counts everything, ICV included. */
	assert_int_equal(m.hdr.length, out.len);
	wire_msg_free(&m);
	wire_wr_free(&out);
	wire_prot_clear(&p);
}

/* A given IV and padding reproduce the message; another IV changes it. */
static void test_fixed_iv(void **state)
{
	const struct suite *su = *state;
	static const uint8_t iv1[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1}, iv2[16] = {1};
	size_t pad =
	    su->s.encr == IKEV2_ENCR_3DES || su->s.encr == IKEV2_ENCR_AES_CBC ? WIRE_SK_PAD_MIN : 7;
	struct wire_wr a, b, c;
	struct wire_prot p;
	struct wire_msg m;
	struct wire_sk_result r;
	struct wire_error e;

	make_prot(&su->s, &p);
	seal(&p, iv1, pad, &a);
	seal(&p, iv1, pad, &b);
	seal(&p, iv2, pad, &c);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.p, b.p, a.len);
	assert_memory_not_equal(a.p, c.p, a.len);
	assert_int_equal(open_msg(&p, a.p, a.len, &m, &r, &e), 0);
	assert_memory_equal(r.iv, iv1, p.iv_len);
	if (pad != WIRE_SK_PAD_MIN)
		assert_int_equal(r.pad_len, pad);
	wire_msg_free(&m);
	wire_wr_free(&a);
	wire_wr_free(&b);
	wire_wr_free(&c);
	wire_prot_clear(&p);
}

/* RFC 7296 3.14 / 2.21.2: any modified octet fails the ICV; the message is dropped (notify 0). */
static void test_tamper(void **state)
{
	const struct suite *su = *state;
	struct wire_prot p;
	struct wire_wr out;
	unsigned tried = 0;

	make_prot(&su->s, &p);
	seal(&p, NULL, WIRE_SK_PAD_MIN, &out);
	for (size_t i = 0; i < out.len; i++) {
		struct wire_sk_result r;
		struct wire_error e;
		struct wire_msg m;
		int rc;

		/* Skip the octets that wire_decode itself checks (header NP, lengths). */
		if (i == 16 || (i >= 24 && i < 28) || (i >= 30 && i < 32))
			continue;
		out.p[i] ^= 0x01;
		rc = open_msg(&p, out.p, out.len, &m, &r, &e);
		out.p[i] ^= 0x01;
		if (rc == -2) {
			wire_msg_free(&m);
			continue;
		}
		assert_int_equal(rc, -1);
		assert_int_equal(e.notify, 0);
		assert_int_equal(m.npayloads, 1); /* nothing appended */
		tried++;
		wire_msg_free(&m);
	}
	assert_true(tried > 40);
	wire_wr_free(&out);
	wire_prot_clear(&p);
}

/* Rewrite the lengths after cutting `cut` octets before the ICV. */
static size_t shorten(struct wire_prot *p, struct wire_wr *w, size_t cut)
{
	size_t icv_at = w->len - p->icv_len, len = w->len - cut;

	memmove(w->p + icv_at - cut, w->p + icv_at, p->icv_len);
	assert_int_equal(wire_wr_patch_u32(w, 24, (uint32_t)len), 0);
	assert_int_equal(wire_wr_patch_u16(w, 30, (uint16_t)(len - IKEV2_HDR_LEN)), 0);
	return len;
}

/* An SK body with no room for IV, pad length and ICV; a misaligned CBC ciphertext. */
static void test_truncated(void **state)
{
	const struct suite *su = *state;
	struct wire_prot p;
	struct wire_wr out;
	struct wire_msg m;
	struct wire_sk_result r;
	struct wire_error e;
	size_t len, ct;

	make_prot(&su->s, &p);
	seal(&p, NULL, WIRE_SK_PAD_MIN, &out);
	ct = out.len - IKEV2_HDR_LEN - 4 - p.iv_len - p.icv_len;
	len = shorten(&p, &out, ct);
	assert_int_equal(open_msg(&p, out.p, len, &m, &r, &e), -1);
	assert_int_equal(e.notify, 0);
	assert_non_null(strstr(e.reason, "too short"));
	wire_msg_free(&m);
	wire_wr_free(&out);
	if (p.block_len > 1) {
		seal(&p, NULL, WIRE_SK_PAD_MIN, &out);
		len = shorten(&p, &out, 1);
		assert_int_equal(open_msg(&p, out.p, len, &m, &r, &e), -1);
		assert_int_equal(e.notify, 0);
		wire_msg_free(&m);
		wire_wr_free(&out);
	}
	wire_prot_clear(&p);
}

/* A pad length beyond the plaintext is a syntax error of an authenticated message. */
static void test_bad_padding(void **state)
{
	const struct suite *su = *state;
	struct wire_sk_params sp = {.type = IKEV2_PL_SK, .inner_np = IKEV2_PL_N};
	uint8_t plain[32];
	struct wire_prot p;
	struct wire_hdr h;
	struct wire_wr out;
	struct wire_msg m;
	struct wire_sk_result r;
	struct wire_error e;
	size_t n;

	make_prot(&su->s, &p);
	n = p.block_len > 8 ? 16 : 8;
	memset(plain, 0, sizeof(plain));
	plain[n - 1] = (uint8_t)n; /* pad length n: n + 1 octets > n */
	make_hdr(&h);
	wire_wr_init(&out, WIRE_SK_MAX_MSG);
	assert_int_equal(wire_sk_seal_raw(&p, &h, &sp, NULL, plain, n, &out), 0);
	assert_int_equal(open_msg(&p, out.p, out.len, &m, &r, &e), -1);
	assert_int_equal(e.notify, IKEV2_N_INVALID_SYNTAX);
	wire_msg_free(&m);
	wire_wr_free(&out);
	/* CBC: a plaintext that is not a whole number of blocks cannot be sealed. */
	if (p.block_len > 1) {
		wire_wr_init(&out, WIRE_SK_MAX_MSG);
		assert_int_equal(wire_sk_seal_raw(&p, &h, &sp, NULL, plain, n - 1, &out), -1);
		wire_wr_free(&out);
	}
	/* An explicit pad length that breaks the block alignment is refused. */
	if (p.block_len > 1) {
		struct wire_payload pl[3];

		wire_wr_init(&out, WIRE_SK_MAX_MSG);
		assert_int_equal(wire_sk_seal(&p, &h, pl, make_inner(pl), NULL, p.block_len, &out),
		                 -1);
		wire_wr_free(&out);
	}
	wire_prot_clear(&p);
}

/* An empty SK (a liveness check, RFC 7296 2.4) round-trips with inner NP 0. */
static void test_empty(void **state)
{
	const struct suite *su = *state;
	struct wire_prot p;
	struct wire_hdr h;
	struct wire_wr out;
	struct wire_msg m;
	struct wire_sk_result r;
	struct wire_error e;

	make_prot(&su->s, &p);
	make_hdr(&h);
	h.exchange = IKEV2_EXCH_INFORMATIONAL;
	wire_wr_init(&out, WIRE_SK_MAX_MSG);
	assert_int_equal(wire_sk_seal(&p, &h, NULL, 0, NULL, WIRE_SK_PAD_MIN, &out), 0);
	assert_int_equal(open_msg(&p, out.p, out.len, &m, &r, &e), 0);
	assert_int_equal(m.npayloads, 1);
	assert_int_equal(m.payloads[0].u.sk.inner_np, 0);
	assert_int_equal(r.inner_len, 0);
	wire_msg_free(&m);
	wire_wr_free(&out);
	wire_prot_clear(&p);
}

/* Keys of the wrong length, and integrity with AEAD, are refused. */
/*
 * RFC 8019 7.2.2: HDR, PS, SK {...}: a leading PS goes in the clear before
 * SK, inside what the ICV (or the AEAD's associated data) covers; the
 * result passes the IKE_AUTH payload rules, and an altered PS breaks the ICV.
 */
static void test_clear_ps(void **state)
{
	const struct suite *su = *state;
	static const uint8_t keys[16] = {0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4};
	struct wire_payload pl[4];
	struct wire_prot p;
	struct wire_hdr h;
	struct wire_wr out;
	struct wire_msg m;
	struct wire_sk_result r;
	struct wire_error e;

	make_prot(&su->s, &p);
	memset(pl, 0, sizeof(pl));
	pl[0].type = IKEV2_PL_PS;
	pl[0].u.ps.data = keys;
	pl[0].u.ps.len = sizeof(keys);
	make_inner(pl + 1);
	assert_int_equal(wire_sk_clear_prefix(pl, 4), 1);
	assert_int_equal(wire_sk_clear_prefix(pl + 1, 3), 0);
	make_hdr(&h);
	wire_wr_init(&out, WIRE_SK_MAX_MSG);
	assert_int_equal(wire_sk_seal(&p, &h, pl, 4, NULL, WIRE_SK_PAD_MIN, &out), 0);
	/* The header names PS; PS's next payload is SK. */
	assert_int_equal(out.p[16], IKEV2_PL_PS);
	assert_int_equal(out.p[28], IKEV2_PL_SK);
	assert_int_equal(open_msg(&p, out.p, out.len, &m, &r, &e), 0);
	assert_int_equal(m.npayloads, 5);
	assert_int_equal(m.payloads[0].type, IKEV2_PL_PS);
	assert_false(m.payloads[0].encrypted);
	assert_int_equal(m.payloads[0].u.ps.len, sizeof(keys));
	assert_memory_equal(m.payloads[0].u.ps.data, keys, sizeof(keys));
	assert_int_equal(m.payloads[1].type, IKEV2_PL_SK);
	assert_int_equal(m.payloads[2].type, IKEV2_PL_IDI);
	assert_true(m.payloads[2].encrypted);
	assert_int_equal(m.hdr.length, out.len);
	assert_int_equal(wire_rules_check(&m, &e), 0);
	wire_msg_free(&m);
	/* A key octet changed: the integrity check fails. */
	out.p[28 + 4 + 3] ^= 0x10;
	assert_int_equal(open_msg(&p, out.p, out.len, &m, &r, &e), -1);
	assert_int_equal(e.notify, 0);
	wire_msg_free(&m);
	wire_wr_free(&out);
	wire_prot_clear(&p);
}

static void test_bad_keys(void **state)
{
	struct crypto_ike_suite gcm = {.encr = IKEV2_ENCR_AES_GCM_16,
	                               .encr_keybits = 256,
	                               .integ = IKEV2_AUTH_HMAC_SHA2_256_128};
	struct crypto_ike_suite cbc = {
	    .encr = IKEV2_ENCR_AES_CBC, .encr_keybits = 128, .integ = IKEV2_AUTH_NONE};
	uint8_t k[64] = {0};
	struct wire_prot p;

	assert_int_equal(wire_prot_init(&p, &gcm, k, 36, k, 32), -1);
	assert_int_equal(wire_prot_init(&p, &cbc, k, 16, NULL, 0), -1);
	cbc.integ = IKEV2_AUTH_HMAC_SHA2_256_128;
	assert_int_equal(wire_prot_init(&p, &cbc, k, 17, k, 32), -1);
	assert_int_equal(wire_prot_init(&p, &cbc, k, 16, k, 31), -1);
	assert_int_equal(wire_prot_init(&p, &cbc, k, 16, k, 32), 0);
	wire_prot_clear(&p);
	wire_prot_clear(&p); /* idempotent */
}

#define PER_SUITE 7

int main(void)
{
	static void (*const fns[PER_SUITE])(void **) = {
	    test_roundtrip,   test_fixed_iv, test_tamper,   test_truncated,
	    test_bad_padding, test_empty,    test_clear_ps,
	};
	static const char *const names[PER_SUITE] = {
	    "roundtrip", "fixed_iv", "tamper", "truncated", "bad_padding", "empty", "clear_ps"};
	static char label[ARRAY_LEN(suites) * PER_SUITE][96];
	struct CMUnitTest tests[ARRAY_LEN(suites) * PER_SUITE + 1];
	size_t n = 0;

	for (size_t s = 0; s < ARRAY_LEN(suites); s++) {
		for (size_t f = 0; f < PER_SUITE; f++, n++) {
			snprintf(label[n], sizeof(label[n]), "%s %s", names[f], suites[s].name);
			memset(&tests[n], 0, sizeof(tests[n]));
			tests[n].name = label[n];
			tests[n].test_func = fns[f];
			tests[n].initial_state = (void *)&suites[s];
		}
	}
	memset(&tests[n], 0, sizeof(tests[n]));
	tests[n].name = "bad_keys";
	tests[n].test_func = test_bad_keys;
	n++;
	return _cmocka_run_group_tests("wire_sk", tests, n, NULL, NULL);
}
