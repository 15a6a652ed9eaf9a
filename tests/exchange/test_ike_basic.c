/*
 * Exchange tests of the good paths: IKE_SA_INIT and IKE_AUTH with PSK for
 * several suites (RFC 7296 1.2, 2.14, 2.15), traffic selector narrowing
 * (2.9), transport mode (1.3.1), INVALID_KE_PAYLOAD (1.2, 2.7) and COOKIE
 * (2.6) restarts, NAT detection and the float to 4500 (2.23, RFC 3948),
 * deleting IKE and Child SAs (1.4.1), liveness checks (2.4) and
 * retransmission with back-off, response caching and give-up (2.1, 2.4).
 * Every step is written in the RFC's notation above the code that drives it.
 */
#include "harness.h"

/* ---- IKE_SA_INIT + IKE_AUTH per suite ---- */

struct suite_case {
	const char *ike, *esp;
	uint16_t encr, prf, integ, dh;
};

static void run_suite(void **state, const struct suite_case *sc)
{
	struct hx_conf c = {.ike = sc->ike, .esp = sc->esp};
	struct hx_net *n = hx_new(&c, &c);
	struct ike_sa *a, *b;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);

	/* HDR, SAi1, KEi, Ni, N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP) --> */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_A, IKEV2_EXCH_IKE_SA_INIT, false);
	assert_true(hx_has_payload(n, 0, IKEV2_PL_SA));
	assert_true(hx_has_payload(n, 0, IKEV2_PL_KE));
	assert_true(hx_has_payload(n, 0, IKEV2_PL_NI_NR));
	assert_true(hx_has_notify(n, 0, IKEV2_N_NAT_DETECTION_SOURCE_IP));
	assert_true(hx_has_notify(n, 0, IKEV2_N_NAT_DETECTION_DESTINATION_IP));
	assert_int_equal(hx_port(&n->q[0].to), 500);
	assert_int_equal(hx_deliver(n), 0);

	/* <-- HDR, SAr1, KEr, Nr, N(NAT_DETECTION_*) */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_SA_INIT, true);
	assert_true(hx_has_payload(n, 0, IKEV2_PL_SA));
	assert_true(hx_has_payload(n, 0, IKEV2_PL_KE));
	assert_true(hx_has_payload(n, 0, IKEV2_PL_NI_NR));
	assert_int_equal(hx_deliver(n), 0);

	/* HDR, SK {IDi, [IDr,] AUTH, SAi2, TSi, TSr} --> */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_A, IKEV2_EXCH_IKE_AUTH, false);
	assert_true(hx_has_payload(n, 0, IKEV2_PL_IDI));
	assert_true(hx_has_payload(n, 0, IKEV2_PL_AUTH));
	assert_true(hx_has_payload(n, 0, IKEV2_PL_SA));
	assert_true(hx_has_payload(n, 0, IKEV2_PL_TSI));
	assert_true(hx_has_payload(n, 0, IKEV2_PL_TSR));
	assert_int_equal(hx_deliver(n), 0);

	/* <-- HDR, SK {IDr, AUTH, SAr2, TSi, TSr} */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_AUTH, true);
	assert_true(hx_has_payload(n, 0, IKEV2_PL_IDR));
	assert_true(hx_has_payload(n, 0, IKEV2_PL_AUTH));
	assert_true(hx_has_payload(n, 0, IKEV2_PL_SA));
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nq, 0);

	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	a = hx_sa(n, HX_A);
	b = hx_sa(n, HX_B);
	assert_true(a->initiator);
	assert_false(b->initiator);
	assert_int_equal(a->suite.encr, sc->encr);
	assert_int_equal(a->suite.prf, sc->prf);
	assert_int_equal(a->suite.integ, sc->integ);
	assert_int_equal(a->suite.dh, sc->dh);
	assert_memory_equal(&a->suite, &b->suite, sizeof(a->suite));
	/* 2.14: SK_d is as long as the PRF's output (hx_assert_ike_up checked
	 * both ends hold the same and nothing else of the keys). */
	assert_int_equal(a->sk_d_len, crypto_prf_len(sc->prf));
	/* 2.2: IKE_SA_INIT was 0, IKE_AUTH 1. */
	assert_int_equal(a->next_msg_id, 2);
	assert_int_equal(b->expect_msg_id, 2);
	assert_int_equal(n->p[HX_A].n_child_up, 1);
	assert_int_equal(n->p[HX_B].n_child_up, 1);
	assert_int_equal(n->p[HX_A].n_child_down, 0);
	hx_assert_dp_matches(n, HX_A);
	hx_assert_dp_matches(n, HX_B);
	assert_int_equal(hx_stats(n, HX_A)->sa_established, 1);
	assert_int_equal(hx_stats(n, HX_B)->sa_established, 1);
	/* Nothing else happens while the SA idles for a minute. */
	hx_advance(n, 60000);
	assert_int_equal(n->nq, 0);
}

static void test_suite_aesgcm_ecp256(void **state)
{
	static const struct suite_case sc = {"\"aes256gcm16-prfsha256-ecp256\"",
	                                     "\"aes256gcm16\"",
	                                     IKEV2_ENCR_AES_GCM_16,
	                                     IKEV2_PRF_HMAC_SHA2_256,
	                                     IKEV2_AUTH_NONE,
	                                     IKEV2_DH_ECP_256};
	run_suite(state, &sc);
}

static void test_suite_aescbc_x25519(void **state)
{
	static const struct suite_case sc = {"\"aes128-sha256-x25519\"",   "\"aes128-sha256\"",
	                                     IKEV2_ENCR_AES_CBC,           IKEV2_PRF_HMAC_SHA2_256,
	                                     IKEV2_AUTH_HMAC_SHA2_256_128, IKEV2_DH_CURVE25519};
	run_suite(state, &sc);
}

static void test_suite_aescbc_sha384_modp3072(void **state)
{
	static const struct suite_case sc = {"\"aes256-sha384-modp3072\"", "\"aes256-sha384\"",
	                                     IKEV2_ENCR_AES_CBC,           IKEV2_PRF_HMAC_SHA2_384,
	                                     IKEV2_AUTH_HMAC_SHA2_384_192, IKEV2_DH_MODP_3072};
	run_suite(state, &sc);
}

static void test_suite_chacha_curve448(void **state)
{
	static const struct suite_case sc = {"\"chacha20poly1305-prfsha256-curve448\"",
	                                     "\"chacha20poly1305\"",
	                                     IKEV2_ENCR_CHACHA20_POLY1305,
	                                     IKEV2_PRF_HMAC_SHA2_256,
	                                     IKEV2_AUTH_NONE,
	                                     IKEV2_DH_CURVE448};
	run_suite(state, &sc);
}

/* ---- traffic selectors and mode ---- */

/* RFC 7296 2.9: b allows only 10.2.1.0/24 of its side; the result is that subset. */
static void test_ts_narrowing(void **state)
{
	struct hx_conf cb = {.local_ts = "\"10.2.1.0/24\""};
	struct hx_net *n = hx_new(NULL, &cb);
	const struct hx_child *a, *b;
	static const uint8_t lo[4] = {10, 2, 1, 0}, hi[4] = {10, 2, 1, 255};
	static const uint8_t a_lo[4] = {10, 1, 0, 0}, a_hi[4] = {10, 1, 255, 255};

	*state = n;
	/* HDR, SK {IDi, AUTH, SAi2, TSi(10.1.0.0/16), TSr(10.2.0.0/16)} -->
	 * <-- HDR, SK {IDr, AUTH, SAr2, TSi(10.1.0.0/16), TSr(10.2.1.0/24)} */
	hx_establish(n);
	a = &n->p[HX_A].installed[0];
	b = &n->p[HX_B].installed[0];
	assert_int_equal(a->ts_remote.n, 1);
	assert_memory_equal(a->ts_remote.ts[0].start, lo, 4);
	assert_memory_equal(a->ts_remote.ts[0].end, hi, 4);
	assert_int_equal(b->ts_local.n, 1);
	assert_memory_equal(b->ts_local.ts[0].start, lo, 4);
	assert_memory_equal(b->ts_local.ts[0].end, hi, 4);
	assert_int_equal(a->ts_local.n, 1);
	assert_memory_equal(a->ts_local.ts[0].start, a_lo, 4);
	assert_memory_equal(a->ts_local.ts[0].end, a_hi, 4);
	assert_int_equal(b->ts_remote.n, 1);
	assert_memory_equal(b->ts_remote.ts[0].start, a_lo, 4);
	assert_memory_equal(b->ts_remote.ts[0].end, a_hi, 4);
}

/* RFC 7296 1.3.1, 3.10.1: N(USE_TRANSPORT_MODE) in both IKE_AUTH messages. */
static void test_transport_mode(void **state)
{
	struct hx_conf c = {.mode = "transport", .local_ts = "", .remote_ts = ""};
	struct hx_net *n = hx_new(&c, &c);
	static const uint8_t ip_a[4] = {192, 0, 2, 1}, ip_b[4] = {192, 0, 2, 2};
	const struct hx_child *a;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	/* HDR, SAi1, KEi, Ni -->  <-- HDR, SAr1, KEr, Nr */
	assert_int_equal(hx_deliver_all(n, 2), 2);
	/* HDR, SK {IDi, AUTH, N(USE_TRANSPORT_MODE), SAi2, TSi, TSr} --> */
	hx_expect(n, 0, HX_A, IKEV2_EXCH_IKE_AUTH, false);
	assert_true(hx_has_notify(n, 0, IKEV2_N_USE_TRANSPORT_MODE));
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SK {IDr, AUTH, N(USE_TRANSPORT_MODE), SAr2, TSi, TSr} */
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_AUTH, true);
	assert_true(hx_has_notify(n, 0, IKEV2_N_USE_TRANSPORT_MODE));
	assert_int_equal(hx_deliver(n), 0);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	a = &n->p[HX_A].installed[0];
	assert_true(a->transport);
	assert_true(n->p[HX_B].installed[0].transport);
	/* Dynamic selectors are the two hosts. */
	assert_int_equal(a->ts_local.n, 1);
	assert_memory_equal(a->ts_local.ts[0].start, ip_a, 4);
	assert_memory_equal(a->ts_local.ts[0].end, ip_a, 4);
	assert_int_equal(a->ts_remote.n, 1);
	assert_memory_equal(a->ts_remote.ts[0].start, ip_b, 4);
	assert_memory_equal(a->ts_remote.ts[0].end, ip_b, 4);
}

/* Transport proposed, tunnel configured on b: RFC 7296 1.3.1 says b answers
 * without the notify and the Child SA is tunnel mode on both sides. */
static void test_transport_refused(void **state)
{
	struct hx_conf ca = {.mode = "transport"};
	struct hx_net *n = hx_new(&ca, NULL);

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver_all(n, 3), 3);
	/* <-- HDR, SK {IDr, AUTH, SAr2, TSi, TSr}   (no USE_TRANSPORT_MODE) */
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_AUTH, true);
	assert_false(hx_has_notify(n, 0, IKEV2_N_USE_TRANSPORT_MODE));
	assert_int_equal(hx_deliver(n), 0);
	hx_assert_ike_up(n);
	/* a may accept tunnel mode or refuse the Child SA; never disagree. */
	if (n->p[HX_A].n_installed) {
		hx_assert_one_child_pair(n);
		assert_false(n->p[HX_A].installed[0].transport);
	}
}

/* ---- IKE_SA_INIT restarts ---- */

static uint16_t ke_group(struct hx_net *n, size_t i)
{
	struct wire_msg m;
	const struct wire_payload *p;
	uint16_t g;

	assert_int_equal(hx_decode(n, i, &m), 0);
	p = wire_msg_find(&m, IKEV2_PL_KE, NULL);
	assert_non_null(p);
	g = p->u.ke.group;
	wire_msg_free(&m);
	return g;
}

/* RFC 7296 1.2, 2.7: a guesses ecp256, b accepts only x25519. */
static void test_invalid_ke_retry(void **state)
{
	struct hx_conf ca = {.ike = "\"aes256gcm16-prfsha256-ecp256-x25519\""};
	struct hx_conf cb = {.ike = "\"aes256gcm16-prfsha256-x25519\""};
	struct hx_net *n = hx_new(&ca, &cb);
	struct wire_msg m;
	const struct wire_payload *p;
	struct wire_hdr h1, h2;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	/* HDR, SAi1, KEi(ecp256), Ni --> */
	assert_int_equal(ke_group(n, 0), IKEV2_DH_ECP_256);
	hx_hdr(n, 0, &h1);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, N(INVALID_KE_PAYLOAD, 31) */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_SA_INIT, true);
	assert_int_equal(hx_decode(n, 0, &m), 0);
	p = wire_msg_find_notify(&m, IKEV2_N_INVALID_KE_PAYLOAD);
	assert_non_null(p);
	assert_int_equal(p->u.notify.len, 2);
	assert_int_equal(p->u.notify.data[0], 0);
	assert_int_equal(p->u.notify.data[1], IKEV2_DH_CURVE25519);
	assert_null(wire_msg_find(&m, IKEV2_PL_SA, NULL));
	wire_msg_free(&m);
	assert_int_equal(hx_deliver(n), 0);
	/* HDR, SAi1, KEi(x25519), Ni -->  (same SPIi, message ID 0) */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_A, IKEV2_EXCH_IKE_SA_INIT, false);
	assert_int_equal(ke_group(n, 0), IKEV2_DH_CURVE25519);
	hx_hdr(n, 0, &h2);
	assert_int_equal(h2.msg_id, 0);
	assert_memory_equal(h1.spi_i, h2.spi_i, 8);
	/* <-- HDR, SAr1, KEr, Nr;  IKE_AUTH as usual */
	assert_int_equal(hx_deliver_all(n, 10), 4);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	assert_int_equal(hx_sa(n, HX_A)->suite.dh, IKEV2_DH_CURVE25519);
	assert_int_equal(hx_count_sas(n, HX_B), 1);
}

/* RFC 7296 2.6: over the half-open threshold b answers statelessly with a cookie. */
static void test_cookie(void **state)
{
	struct hx_conf cb = {.cookie_threshold = HX_COOKIE_ALWAYS};
	struct hx_net *n = hx_new(NULL, &cb);
	struct wire_msg m, m1;
	const struct wire_payload *ck, *p1, *p2;
	struct hx_dgram first;
	struct wire_hdr h;
	uint8_t cookie[64];
	size_t cookie_len;
	static const uint8_t zero[8];

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	/* HDR(A,0), SAi1, KEi, Ni --> */
	first = n->q[0];
	first.buf = malloc(first.len);
	assert_non_null(first.buf);
	memcpy(first.buf, n->q[0].buf, first.len);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR(A,0), N(COOKIE) */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_SA_INIT, true);
	hx_hdr(n, 0, &h);
	assert_memory_equal(h.spi_r, zero, 8);
	assert_int_equal(hx_decode(n, 0, &m), 0);
	ck = wire_msg_find_notify(&m, IKEV2_N_COOKIE);
	assert_non_null(ck);
	assert_true(ck->u.notify.len >= 1 && ck->u.notify.len <= 64);
	cookie_len = ck->u.notify.len;
	memcpy(cookie, ck->u.notify.data, cookie_len);
	assert_null(wire_msg_find(&m, IKEV2_PL_SA, NULL));
	wire_msg_free(&m);
	/* Stateless: b keeps nothing for the first request. */
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	assert_int_equal(hx_stats(n, HX_B)->cookies_sent, 1);
	assert_int_equal(hx_deliver(n), 0);
	/* HDR(A,0), N(COOKIE), SAi1, KEi, Ni --> (the cookie first, 2.6) */
	assert_int_equal(n->nq, 1);
	assert_int_equal(hx_decode(n, 0, &m), 0);
	assert_true(m.npayloads > 1);
	assert_int_equal(m.payloads[0].type, IKEV2_PL_N);
	assert_int_equal(m.payloads[0].u.notify.type, IKEV2_N_COOKIE);
	assert_int_equal(m.payloads[0].u.notify.len, cookie_len);
	assert_memory_equal(m.payloads[0].u.notify.data, cookie, cookie_len);
	/* "... and all other payloads unchanged" (2.6): the rest is the first request's
	 * payload chain, byte for byte (the same Ni and KEi, which the cookie may cover). */
	assert_int_equal(hx_decode_dgram(n, &first, &m1), 0);
	assert_int_equal(m.npayloads, m1.npayloads + 1);
	for (size_t i = 0; i < m1.npayloads; i++) {
		assert_int_equal(m.payloads[i + 1].type, m1.payloads[i].type);
		assert_int_equal(m.payloads[i + 1].len, m1.payloads[i].len);
	}
	p1 = wire_msg_find(&m1, IKEV2_PL_NI_NR, NULL);
	p2 = wire_msg_find(&m, IKEV2_PL_NI_NR, NULL);
	assert_non_null(p1);
	assert_non_null(p2);
	assert_int_equal(p1->u.nonce.len, p2->u.nonce.len);
	if (memcmp(p1->u.nonce.data, p2->u.nonce.data, p1->u.nonce.len))
		fail_msg("the retried IKE_SA_INIT carries a new Ni (RFC 7296 2.6: all other "
		         "payloads unchanged); the cookie covers Ni so b rejects it");
	p1 = wire_msg_find(&m1, IKEV2_PL_KE, NULL);
	p2 = wire_msg_find(&m, IKEV2_PL_KE, NULL);
	assert_int_equal(p1->u.ke.len, p2->u.ke.len);
	if (memcmp(p1->u.ke.data, p2->u.ke.data, p1->u.ke.len))
		fail_msg("the retried IKE_SA_INIT carries a new KEi (RFC 7296 2.6)");
	wire_msg_free(&m1);
	free(first.buf);
	first.buf = NULL;
	wire_msg_free(&m);
	/* <-- HDR(A,B), SAr1, KEr, Nr;  IKE_AUTH as usual */
	assert_int_equal(hx_deliver_all(n, 10), 4);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	assert_int_equal(hx_stats(n, HX_B)->cookies_sent, 1);
}

/* RFC 7296 2.6.1: COOKIE and INVALID_KE_PAYLOAD in one setup. Whichever way
 * the peers handle the cookie in the KE retry, the setup "MUST NOT fail". */
static void test_cookie_and_invalid_ke(void **state)
{
	struct hx_conf ca = {.ike = "\"aes256gcm16-prfsha256-ecp256-x25519\""};
	struct hx_conf cb = {.ike = "\"aes256gcm16-prfsha256-x25519\"",
	                     .cookie_threshold = HX_COOKIE_ALWAYS};
	struct hx_net *n = hx_new(&ca, &cb);

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	/* HDR(A,0), SAi1, KEi, Ni -->               <-- HDR(A,0), N(COOKIE)
	 * HDR(A,0), N(COOKIE), SAi1, KEi, Ni -->    <-- HDR(A,0), N(INVALID_KE_PAYLOAD)
	 * HDR(A,0), [N(COOKIE),] SAi1, KEi', Ni --> ... <-- HDR(A,B), SAr1, KEr, Nr */
	assert_true(hx_deliver_all(n, 20) <= 10);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	assert_int_equal(hx_sa(n, HX_A)->suite.dh, IKEV2_DH_CURVE25519);
}

/* RFC 7296 2.23, RFC 3948: a is behind a NAT; both float to 4500. */
static void test_nat_detection(void **state)
{
	struct hx_conf cb = {.remote = "%any"};
	struct hx_net *n = hx_new(NULL, &cb);
	struct ike_sa *a, *b;
	static const uint8_t marker[4];

	*state = n;
	n->nat = true;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	/* HDR, SAi1, KEi, Ni, N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP) -->
	 *   (the NAT rewrites 192.0.2.1:500 to 203.0.113.5:40500) */
	assert_true(hx_is_host(&n->q[0].from, HX_ADDR_NAT));
	assert_int_equal(hx_port(&n->q[0].from), HX_NAT_PORT_500);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SAr1, KEr, Nr, N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP) */
	assert_int_equal(n->nq, 1);
	assert_true(hx_is_host(&n->q[0].to, HX_ADDR_NAT));
	assert_true(hx_has_notify(n, 0, IKEV2_N_NAT_DETECTION_SOURCE_IP));
	assert_true(hx_has_notify(n, 0, IKEV2_N_NAT_DETECTION_DESTINATION_IP));
	assert_int_equal(hx_deliver(n), 0);
	/* a compared NAT_DETECTION_DESTINATION_IP with its own address: it is behind a NAT. */
	a = hx_sa(n, HX_A);
	assert_non_null(a);
	assert_true(a->nat_local);
	assert_true(a->natt);
	/* HDR, SK {IDi, AUTH, SAi2, TSi, TSr} -->   on 4500, with the non-ESP marker */
	assert_int_equal(n->nq, 1);
	assert_int_equal(hx_port(&n->q[0].from), HX_NAT_PORT_4500);
	assert_int_equal(hx_port(&n->q[0].to), 4500);
	assert_true(n->q[0].len > 4);
	assert_memory_equal(n->q[0].buf, marker, 4);
	hx_expect(n, 0, HX_A, IKEV2_EXCH_IKE_AUTH, false);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SK {IDr, AUTH, SAr2, TSi, TSr}   on 4500 */
	assert_int_equal(n->nq, 1);
	assert_int_equal(hx_port(&n->q[0].from), 4500);
	assert_int_equal(hx_port(&n->q[0].to), HX_NAT_PORT_4500);
	assert_memory_equal(n->q[0].buf, marker, 4);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->misrouted, 0);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	a = hx_sa(n, HX_A);
	b = hx_sa(n, HX_B);
	assert_true(a->natt && a->nat_local && !a->nat_remote);
	assert_true(b->natt && b->nat_remote && !b->nat_local);
	assert_int_equal(hx_port(&a->local), 4500);
	assert_int_equal(hx_port(&a->remote), 4500);
	assert_true(hx_is_host(&b->remote, HX_ADDR_NAT));
	assert_int_equal(hx_port(&b->remote), HX_NAT_PORT_4500);
	assert_true(n->p[HX_A].installed[0].encap);
	assert_true(n->p[HX_B].installed[0].encap);

	/* Later exchanges stay on 4500: HDR, SK {} --> */
	assert_int_equal(ike_dpd_now(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(n->nq, 1);
	assert_int_equal(hx_port(&n->q[0].from), HX_NAT_PORT_4500);
	assert_memory_equal(n->q[0].buf, marker, 4);
	assert_int_equal(hx_deliver_all(n, 4), 2);
	hx_assert_ike_up(n);

	/* RFC 3948 4: a, behind the NAT, keeps the mapping alive with a
	 * one-octet 0xFF every 20 s; b, not behind one, sends none. */
	hx_advance(n, 19000);
	assert_int_equal(n->nq, 0);
	hx_advance(n, 2000);
	assert_int_equal(n->nq, 1);
	assert_int_equal(n->q[0].src, HX_A);
	assert_int_equal(n->q[0].len, 1);
	assert_int_equal(n->q[0].buf[0], 0xff);
	assert_int_equal(hx_port(&n->q[0].to), 4500);
	/* b ignores it: no answer, no drop counted as malformed */
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nq, 0);
	assert_int_equal(hx_stats(n, HX_B)->drop_malformed, 0);
	hx_assert_ike_up(n);
}

/* Without a NAT, nobody floats and nothing is encapsulated. */
static void test_no_nat(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);

	*state = n;
	hx_establish(n);
	assert_false(hx_sa(n, HX_A)->natt);
	assert_false(hx_sa(n, HX_B)->natt);
	assert_int_equal(hx_port(&hx_sa(n, HX_A)->remote), 500);
	assert_false(n->p[HX_A].installed[0].encap);
}

/* ---- INFORMATIONAL ---- */

static void delete_ike(void **state, int side)
{
	struct hx_net *n = hx_new(NULL, NULL);
	int other = side == HX_A ? HX_B : HX_A;
	struct wire_msg m;
	const struct wire_payload *d;
	struct wire_hdr h;

	*state = n;
	hx_establish(n);
	assert_int_equal(ike_down(hx_ike(n, side), HX_CONN), 0);
	/* HDR, SK {D(IKE)} --> */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, side, IKEV2_EXCH_INFORMATIONAL, false);
	hx_hdr(n, 0, &h);
	assert_int_equal(!!(h.flags & IKEV2_FLAG_INITIATOR), side == HX_A);
	assert_int_equal(h.msg_id, side == HX_A ? 2 : 0);
	assert_int_equal(hx_decode(n, 0, &m), 0);
	d = wire_msg_find(&m, IKEV2_PL_D, NULL);
	assert_non_null(d);
	assert_int_equal(d->u.del.protocol, IKEV2_PROTO_IKE);
	assert_int_equal(d->u.del.spi_size, 0);
	wire_msg_free(&m);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SK {} */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, other, IKEV2_EXCH_INFORMATIONAL, true);
	assert_int_equal(hx_decode(n, 0, &m), 0);
	assert_int_equal(m.npayloads, 1); /* only SK: nothing inside */
	wire_msg_free(&m);
	assert_int_equal(hx_count_sas(n, other), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(hx_count_sas(n, side), 0);
	assert_int_equal(n->p[HX_A].n_installed, 0);
	assert_int_equal(n->p[HX_B].n_installed, 0);
	assert_int_equal(n->p[HX_A].n_child_down, 1);
	assert_int_equal(n->p[HX_B].n_child_down, 1);
	hx_advance(n, 120000);
	assert_int_equal(n->nq, 0);
}

static void test_delete_ike_from_a(void **state)
{
	delete_ike(state, HX_A);
}

static void test_delete_ike_from_b(void **state)
{
	delete_ike(state, HX_B);
}

/*
 * A Child SA the data plane cannot carry (its route refused) is deleted
 * and, unlike one whose hard lifetime ran out, not replaced even with
 * keep_up: a replacement would fail the same way, over and over.
 */
static void test_child_failed_not_replaced(void **state)
{
	struct hx_conf c = {.keep_up = true, .start = "start"};
	struct hx_net *n = hx_new(&c, NULL);
	struct hx_child a0;

	*state = n;
	hx_establish(n);
	a0 = n->p[HX_A].installed[0];
	ike_child_failed(hx_ike(n, HX_A), a0.reqid, "route refused (test)");
	assert_int_equal(n->nq, 1); /* HDR, SK {D(ESP)} --> */
	hx_expect(n, 0, HX_A, IKEV2_EXCH_INFORMATIONAL, false);
	assert_true(hx_has_payload(n, 0, IKEV2_PL_D));
	hx_settle(n, 5000);
	hx_assert_ike_up(n);
	assert_null(hx_sa(n, HX_A)->children);
	assert_null(hx_sa(n, HX_B)->children);
	assert_int_equal(n->p[HX_A].n_child_down, 1);
	/* the same with a hard lifetime: replaced (keep_up) */
	hx_free(n);
	n = hx_new(&c, NULL);
	*state = n;
	hx_establish(n);
	a0 = n->p[HX_A].installed[0];
	ike_child_expired(hx_ike(n, HX_A), a0.reqid, true);
	hx_settle(n, 5000);
	hx_assert_ike_up(n);
	assert_non_null(hx_sa(n, HX_A)->children);
	assert_int_not_equal(hx_sa(n, HX_A)->children->reqid, 0);
}

/* RFC 7296 1.4.1: a deletes the Child SA (its hard lifetime ran out). */
static void test_delete_child(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct hx_child a0, b0;
	struct wire_msg m;
	const struct wire_payload *d;

	*state = n;
	hx_establish(n);
	a0 = n->p[HX_A].installed[0];
	b0 = n->p[HX_B].installed[0];
	ike_child_expired(hx_ike(n, HX_A), a0.reqid, true);
	/* HDR, SK {D(ESP, SPI_a_in)} --> */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_A, IKEV2_EXCH_INFORMATIONAL, false);
	assert_int_equal(hx_decode(n, 0, &m), 0);
	d = wire_msg_find(&m, IKEV2_PL_D, NULL);
	assert_non_null(d);
	assert_int_equal(d->u.del.protocol, IKEV2_PROTO_ESP);
	assert_int_equal(d->u.del.spi_size, 4);
	assert_int_equal(d->u.del.nspis, 1);
	assert_int_equal(((uint32_t)d->u.del.spis[0] << 24 | (uint32_t)d->u.del.spis[1] << 16 |
	                  (uint32_t)d->u.del.spis[2] << 8 | d->u.del.spis[3]),
	                 a0.spi_in);
	wire_msg_free(&m);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SK {D(ESP, SPI_b_in)} */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_INFORMATIONAL, true);
	assert_int_equal(hx_decode(n, 0, &m), 0);
	d = wire_msg_find(&m, IKEV2_PL_D, NULL);
	assert_non_null(d);
	assert_int_equal(d->u.del.protocol, IKEV2_PROTO_ESP);
	assert_int_equal(d->u.del.nspis, 1);
	assert_int_equal(((uint32_t)d->u.del.spis[0] << 24 | (uint32_t)d->u.del.spis[1] << 16 |
	                  (uint32_t)d->u.del.spis[2] << 8 | d->u.del.spis[3]),
	                 b0.spi_in);
	wire_msg_free(&m);
	assert_int_equal(hx_deliver(n), 0);
	/* The IKE SA stays; the Child SA is gone on both sides. */
	hx_assert_ike_up(n);
	assert_int_equal(n->p[HX_A].n_installed, 0);
	assert_int_equal(n->p[HX_B].n_installed, 0);
	assert_int_equal(hx_count_children(hx_sa(n, HX_A)), 0);
	assert_int_equal(hx_count_children(hx_sa(n, HX_B)), 0);
	assert_int_equal(n->nq, 0);
}

/* RFC 7296 2.4: an empty INFORMATIONAL request is a liveness check. */
static void test_dpd(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct wire_msg m;
	struct wire_hdr h;

	*state = n;
	hx_establish(n);
	assert_int_equal(ike_dpd_now(hx_ike(n, HX_A), HX_CONN), 0);
	/* HDR, SK {} --> */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_A, IKEV2_EXCH_INFORMATIONAL, false);
	hx_hdr(n, 0, &h);
	assert_int_equal(h.msg_id, 2);
	assert_int_equal(hx_decode(n, 0, &m), 0);
	assert_int_equal(m.npayloads, 1);
	wire_msg_free(&m);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SK {} */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_INFORMATIONAL, true);
	hx_hdr(n, 0, &h);
	assert_int_equal(h.msg_id, 2);
	assert_int_equal(hx_deliver(n), 0);
	assert_null(hx_sa(n, HX_A)->out);
	assert_int_equal(hx_sa(n, HX_A)->next_msg_id, 3);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);

	/* And from b, with its own message IDs (0): <-- HDR, SK {}   HDR, SK {} --> */
	assert_int_equal(ike_dpd_now(hx_ike(n, HX_B), HX_CONN), 0);
	assert_int_equal(n->nq, 1);
	hx_hdr(n, 0, &h);
	assert_int_equal(h.msg_id, 0);
	assert_false(h.flags & IKEV2_FLAG_INITIATOR);
	assert_int_equal(hx_deliver_all(n, 4), 2);
	hx_assert_ike_up(n);
	assert_int_equal(hx_stats(n, HX_A)->retransmits, 0);
}

/* dpd_interval: an idle SA is checked by itself (RFC 7296 2.4). */
static void test_dpd_interval(void **state)
{
	struct hx_conf c = {.dpd = 10};
	struct hx_net *n = hx_new(&c, &c);

	*state = n;
	hx_establish(n);
	hx_advance(n, 10999);
	assert_true(n->nq >= 1);
	hx_expect(n, 0, n->q[0].src, IKEV2_EXCH_INFORMATIONAL, false);
	assert_true(hx_deliver_all(n, 10) >= 2);
	hx_assert_ike_up(n);
}

/* ---- retransmission (RFC 7296 2.1, 2.4) ---- */

static void test_retransmit_request(void **state)
{
	struct hx_conf ca = {.retransmit = "timeout = 1.0; base = 2.0; tries = 4;"};
	struct hx_net *n = hx_new(&ca, NULL);
	struct hx_dgram orig;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver_all(n, 2), 2);
	/* HDR, SK {IDi, AUTH, SAi2, TSi, TSr} -->   lost */
	hx_expect(n, 0, HX_A, IKEV2_EXCH_IKE_AUTH, false);
	hx_take(n, 0, &orig);
	hx_advance(n, 999);
	assert_int_equal(n->nq, 0);
	/* after 1 s: the same bytes again -->   lost too */
	hx_advance(n, 1);
	assert_int_equal(n->nq, 1);
	assert_int_equal(n->q[0].len, orig.len);
	assert_memory_equal(n->q[0].buf, orig.buf, orig.len);
	assert_int_equal(hx_stats(n, HX_A)->retransmits, 1);
	hx_drop(n);
	/* back-off: 2 s later, not before */
	hx_advance(n, 1999);
	assert_int_equal(n->nq, 0);
	hx_advance(n, 1);
	assert_int_equal(n->nq, 1);
	assert_memory_equal(n->q[0].buf, orig.buf, orig.len);
	assert_int_equal(hx_stats(n, HX_A)->retransmits, 2);
	free(orig.buf);
	/* this one arrives:  <-- HDR, SK {IDr, AUTH, SAr2, TSi, TSr} */
	assert_int_equal(hx_deliver_all(n, 4), 2);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	hx_advance(n, 30000);
	assert_int_equal(n->nq, 0);
}

static void test_retransmit_response_cache(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct hx_dgram resp;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver_all(n, 3), 3);
	/* <-- HDR, SK {IDr, AUTH, SAr2, TSi, TSr}   lost */
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_AUTH, true);
	hx_take(n, 0, &resp);
	assert_int_equal(n->p[HX_B].n_child_up, 1);
	/* HDR, SK {IDi, AUTH, SAi2, TSi, TSr} -->   retransmitted after 1 s */
	hx_advance(n, 1000);
	assert_int_equal(n->nq, 1);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- the cached response, byte for byte (2.1) */
	assert_int_equal(n->nq, 1);
	assert_int_equal(n->q[0].len, resp.len);
	assert_memory_equal(n->q[0].buf, resp.buf, resp.len);
	free(resp.buf);
	assert_int_equal(hx_stats(n, HX_B)->resent_responses, 1);
	assert_int_equal(hx_deliver(n), 0);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	/* b processed the request once: one child_up, not two. */
	assert_int_equal(n->p[HX_B].n_child_up, 1);
}

/* The IKE_SA_INIT response is lost: a's retransmit is answered from b's
 * half-open SA, not with a second SA (2.1). */
static void test_retransmit_init(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct hx_dgram resp;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver(n), 0);
	hx_take(n, 0, &resp);
	hx_advance(n, 1000);
	assert_int_equal(n->nq, 1);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nq, 1);
	assert_int_equal(n->q[0].len, resp.len);
	assert_memory_equal(n->q[0].buf, resp.buf, resp.len);
	free(resp.buf);
	assert_int_equal(hx_count_sas(n, HX_B), 1);
	assert_int_equal(hx_deliver_all(n, 4), 3);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
}

/* Drop every INFORMATIONAL request of a's in flight; returns how many. */
static size_t drop_info_from_a(struct hx_net *n)
{
	size_t k = 0;

	for (size_t i = 0; i < n->nq;) {
		struct wire_hdr h;

		hx_hdr(n, i, &h);
		if (n->q[i].src == HX_A && h.exchange == IKEV2_EXCH_INFORMATIONAL &&
		    !(h.flags & IKEV2_FLAG_RESPONSE)) {
			hx_drop_at(n, i);
			k++;
			continue;
		}
		i++;
	}
	return k;
}

/* 2.4: after `tries` retransmits a gives up; the SA and its Child SA go. */
static void give_up(void **state, bool keep_up)
{
	struct hx_conf ca = {.retransmit = "timeout = 1.0; base = 2.0; tries = 3;",
	                     .keep_up = keep_up,
	                     .start = keep_up ? "start" : "wait"};
	struct hx_net *n = hx_new(&ca, NULL);
	uint64_t t0, serial;
	size_t lost = 0;
	uint8_t old_spi[8];

	*state = n;
	hx_establish(n);
	memcpy(old_spi, hx_sa(n, HX_A)->spi_i, 8);
	serial = hx_sa(n, HX_A)->serial;
	assert_int_equal(ike_dpd_now(hx_ike(n, HX_A), HX_CONN), 0);
	t0 = n->now;
	/* HDR, SK {} -->  x 4 (the request and 3 retransmits at 1, 3, 7 s), all lost;
	 * a declares b dead 8 s after the last one, at 15 s. */
	while (n->now - t0 < 20000 && sa_lookup_serial(hx_ike(n, HX_A), serial)) {
		lost += drop_info_from_a(n);
		hx_advance(n, 100);
	}
	lost += drop_info_from_a(n);
	assert_null(sa_lookup_serial(hx_ike(n, HX_A), serial));
	assert_int_equal(lost, 4);
	assert_true(n->now - t0 >= 15000 && n->now - t0 <= 15100);
	assert_int_equal(hx_stats(n, HX_A)->retransmits, 3);
	assert_int_equal(n->p[HX_A].n_child_down, 1);
	if (!keep_up) {
		assert_int_equal(hx_count_sas(n, HX_A), 0);
		assert_int_equal(n->p[HX_A].n_installed, 0);
		hx_advance(n, 120000);
		assert_int_equal(n->nq, 0);
		assert_int_equal(hx_count_sas(n, HX_A), 0);
		return;
	}
	/* keep_up: a starts over (within 30 s):  HDR, SAi1, KEi, Ni --> */
	for (int i = 0; i < 300 && !n->nq; i++)
		hx_advance(n, 100);
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_A, IKEV2_EXCH_IKE_SA_INIT, false);
	hx_settle(n, 5000);
	assert_non_null(hx_sa(n, HX_A));
	assert_int_equal(hx_sa(n, HX_A)->state, IKE_S_ESTABLISHED);
	assert_memory_not_equal(hx_sa(n, HX_A)->spi_i, old_spi, 8);
	assert_int_equal(hx_count_state(n, HX_A, IKE_S_ESTABLISHED, NULL), 1);
	assert_int_equal(n->p[HX_A].n_installed, 1);
	assert_non_null(hx_installed_by_in(&n->p[HX_B], n->p[HX_A].installed[0].spi_out));
}

static void test_give_up(void **state)
{
	give_up(state, false);
}

static void test_give_up_keep_up(void **state)
{
	give_up(state, true);
}

/* An IKE_SA_INIT that is never answered: bounded retransmits, then nothing. */
static void test_give_up_init(void **state)
{
	struct hx_conf ca = {.retransmit = "timeout = 0.5; base = 2.0; tries = 2;"};
	struct hx_net *n = hx_new(&ca, NULL);

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	for (int i = 0; i < 600; i++) {
		hx_q_clear(n);
		hx_advance(n, 100);
	}
	assert_int_equal(n->p[HX_A].sent, 3);
	assert_int_equal(hx_count_sas(n, HX_A), 0);
	if (hx_stats(n, HX_A)->sa_failed != 1)
		fail_msg("sa_failed is %llu after an IKE_SA_INIT that was never answered",
		         (unsigned long long)hx_stats(n, HX_A)->sa_failed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_suite_aesgcm_ecp256, hx_teardown),
	    cmocka_unit_test_teardown(test_suite_aescbc_x25519, hx_teardown),
	    cmocka_unit_test_teardown(test_suite_aescbc_sha384_modp3072, hx_teardown),
	    cmocka_unit_test_teardown(test_suite_chacha_curve448, hx_teardown),
	    cmocka_unit_test_teardown(test_ts_narrowing, hx_teardown),
	    cmocka_unit_test_teardown(test_transport_mode, hx_teardown),
	    cmocka_unit_test_teardown(test_transport_refused, hx_teardown),
	    cmocka_unit_test_teardown(test_invalid_ke_retry, hx_teardown),
	    cmocka_unit_test_teardown(test_cookie, hx_teardown),
	    cmocka_unit_test_teardown(test_cookie_and_invalid_ke, hx_teardown),
	    cmocka_unit_test_teardown(test_nat_detection, hx_teardown),
	    cmocka_unit_test_teardown(test_no_nat, hx_teardown),
	    cmocka_unit_test_teardown(test_delete_ike_from_a, hx_teardown),
	    cmocka_unit_test_teardown(test_delete_ike_from_b, hx_teardown),
	    cmocka_unit_test_teardown(test_delete_child, hx_teardown),
	    cmocka_unit_test_teardown(test_child_failed_not_replaced, hx_teardown),
	    cmocka_unit_test_teardown(test_dpd, hx_teardown),
	    cmocka_unit_test_teardown(test_dpd_interval, hx_teardown),
	    cmocka_unit_test_teardown(test_retransmit_request, hx_teardown),
	    cmocka_unit_test_teardown(test_retransmit_response_cache, hx_teardown),
	    cmocka_unit_test_teardown(test_retransmit_init, hx_teardown),
	    cmocka_unit_test_teardown(test_give_up, hx_teardown),
	    cmocka_unit_test_teardown(test_give_up_keep_up, hx_teardown),
	    cmocka_unit_test_teardown(test_give_up_init, hx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
