/*
 * Exchange tests under attack (RFC 7296 2.6, RFC 8019): a flood of spoofed
 * IKE_SA_INIT requests, made from a's real first request with another
 * SPIi and another source address each. b's connection accepts %any, as a
 * gateway on the Internet does.
 *
 * - Every request that needs a cookie gets one, however many come in the
 *   same millisecond (the log limiter never rations them), and a real
 *   initiator gets in during the flood.
 * - A half-open SA has a deadline (half_open_timeout) and goes when it
 *   passes; cookie mode ends when the half-open SAs are gone.
 * - Half-open SAs are capped per source and overall; the oldest go first,
 *   and every eviction is counted.
 * - The cookie secret changes, and a cookie made with the previous secret
 *   still verifies until the next change.
 * - INITIAL_CONTACT (2.4) removes only SAs of the same authenticated
 *   identity, so clients behind one NAT cannot evict each other, and what
 *   it removes is deleted towards the peer.
 */
#include "harness.h"

#define SPOOF_NET 0xc6336400u /* 198.51.100.0/24 and up: TEST-NET-2 onwards */

/* a's first IKE_SA_INIT request, taken off the wire. */
static void take_init(struct hx_net *n, struct hx_dgram *t)
{
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(n->nq, 1);
	hx_take(n, 0, t);
}

static void spoof_addr(struct ike_addr *a, uint32_t host)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;

	memset(a, 0, sizeof(*a));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(SPOOF_NET + host);
	sin->sin_port = htons(500);
}

/* The template with SPIi = k, from source host src. */
static void inject(struct hx_net *n, const struct hx_dgram *t, uint64_t k, uint32_t src)
{
	uint8_t buf[2048];
	struct ike_addr from;

	assert_true(t->len <= sizeof(buf));
	memcpy(buf, t->buf, t->len);
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(k >> (56 - 8 * i)) ^ 0x5a;
	spoof_addr(&from, src);
	hx_input(n, &from, &t->to, buf, t->len);
}

/* Remove b's answers from the queue; how many of them carried N(COOKIE). */
static size_t drain_answers(struct hx_net *n, size_t *total)
{
	size_t cookies = 0;

	while (n->nq) {
		struct wire_msg m;

		assert_int_equal(n->q[0].src, HX_B);
		assert_int_equal(hx_decode(n, 0, &m), 0);
		if (wire_msg_find_notify(&m, IKEV2_N_COOKIE))
			cookies++;
		wire_msg_free(&m);
		hx_drop(n);
		(*total)++;
	}
	return cookies;
}

/* RFC 7296 2.6: a COOKIE answer goes to every request that needs one. */
static void test_cookies_not_rationed(void **state)
{
	struct hx_conf cb = {.remote = "%any", .cookie_threshold = HX_COOKIE_ALWAYS};
	struct hx_net *n = hx_new(NULL, &cb);
	struct hx_dgram t;
	size_t cookies = 0, total = 0;

	*state = n;
	take_init(n, &t);
	/* 3000 spoofed requests in one millisecond, from 3000 sources. */
	for (uint32_t i = 0; i < 3000; i++) {
		inject(n, &t, i + 1, i + 1);
		cookies += drain_answers(n, &total);
	}
	free(t.buf);
	if (cookies != 3000)
		fail_msg("%zu COOKIE answers to 3000 requests (%zu answers): cookies must not be "
		         "rationed by the log limiter",
		         cookies, total);
	assert_int_equal(total, 3000);
	assert_int_equal(hx_stats(n, HX_B)->cookies_sent, 3000);
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	/* The real initiator, in the same millisecond, still gets in: its
	 * request is retransmitted by a's timer, answered with a cookie, retried. */
	hx_settle(n, 5000);
	hx_assert_ike_up(n);
	assert_int_equal(hx_stats(n, HX_B)->cookies_sent, 3001);
}

/* RFC 8019 4: a half-open SA that is not authenticated in time goes. */
static void test_half_open_expires(void **state)
{
	struct hx_conf cb = {
	    .remote = "%any", .cookie_threshold = 5, .globals = "half_open_timeout = 30;"};
	struct hx_net *n = hx_new(NULL, &cb);
	struct hx_dgram t;
	size_t total = 0;

	*state = n;
	take_init(n, &t);
	for (uint32_t i = 0; i < 5; i++)
		inject(n, &t, i + 1, i + 1);
	assert_int_equal(drain_answers(n, &total), 0);
	assert_int_equal(hx_count_state(n, HX_B, IKE_S_INIT_DONE, NULL), 5);
	/* At the threshold: the sixth gets a cookie, not an SA. */
	inject(n, &t, 6, 6);
	assert_int_equal(drain_answers(n, &total), 1);
	assert_int_equal(hx_count_state(n, HX_B, IKE_S_INIT_DONE, NULL), 5);
	hx_advance(n, 29000);
	assert_int_equal(hx_count_state(n, HX_B, IKE_S_INIT_DONE, NULL), 5);
	hx_advance(n, 1500);
	if (hx_count_sas(n, HX_B) != 0)
		fail_msg("%zu half-open SAs still held after half_open_timeout",
		         hx_count_sas(n, HX_B));
	assert_int_equal(hx_stats(n, HX_B)->half_open_expired, 5);
	assert_int_equal(hx_ike(n, HX_B)->half_open, 0);
	assert_int_equal(hx_ike(n, HX_B)->ho_bytes, 0);
	/* Cookie mode is over: the next request gets an SA again. */
	hx_q_clear(n);
	inject(n, &t, 7, 7);
	assert_int_equal(drain_answers(n, &total), 0);
	assert_int_equal(hx_count_state(n, HX_B, IKE_S_INIT_DONE, NULL), 1);
	free(t.buf);
}

/* RFC 8019 5: one source holds at most half_open_per_source; the oldest go. */
static void test_half_open_per_source(void **state)
{
	struct hx_conf cb = {
	    .remote = "%any", .cookie_threshold = 1000, .globals = "half_open_per_source = 4;"};
	struct hx_net *n = hx_new(NULL, &cb);
	struct hx_dgram t;
	struct ike_addr src;
	const struct wire_payload *np;
	struct wire_msg m;
	size_t total = 0;
	uint8_t spi[8];

	*state = n;
	take_init(n, &t);
	for (uint32_t i = 0; i < 10; i++)
		inject(n, &t, i + 1, 77);
	assert_int_equal(drain_answers(n, &total), 0);
	assert_int_equal(total, 10);
	assert_int_equal(hx_count_state(n, HX_B, IKE_S_INIT_DONE, NULL), 4);
	assert_int_equal(hx_stats(n, HX_B)->half_open_evicted, 6);
	/* The four newest are the ones kept. */
	assert_int_equal(hx_decode_dgram(n, &t, &m), 0);
	np = wire_msg_find(&m, IKEV2_PL_NI_NR, NULL);
	assert_non_null(np);
	spoof_addr(&src, 77);
	for (uint64_t k = 1; k <= 10; k++) {
		for (int i = 0; i < 8; i++)
			spi[i] = (uint8_t)(k >> (56 - 8 * i)) ^ 0x5a;
		if ((sa_lookup_init(hx_ike(n, HX_B), spi, &src, np->u.nonce.data,
		                    np->u.nonce.len) != NULL) != (k > 6))
			fail_msg("SPIi #%u: kept=%d; the oldest should go first", (unsigned)k,
			         k <= 6);
	}
	wire_msg_free(&m);
	/* Another source is not affected. */
	inject(n, &t, 11, 78);
	assert_int_equal(drain_answers(n, &total), 0);
	assert_int_equal(hx_count_state(n, HX_B, IKE_S_INIT_DONE, NULL), 5);
	free(t.buf);
}

/* RFC 8019 5: overall, at most half_open_max; the oldest go first. */
static void test_half_open_max(void **state)
{
	struct hx_conf cb = {
	    .remote = "%any", .cookie_threshold = 1000, .globals = "half_open_max = 8;"};
	struct hx_net *n = hx_new(NULL, &cb);
	struct hx_dgram t;
	size_t total = 0;

	*state = n;
	take_init(n, &t);
	for (uint32_t i = 0; i < 20; i++) {
		inject(n, &t, i + 1, i + 1);
		n->now += 1;
	}
	assert_int_equal(drain_answers(n, &total), 0);
	assert_int_equal(hx_count_state(n, HX_B, IKE_S_INIT_DONE, NULL), 8);
	assert_int_equal(hx_ike(n, HX_B)->half_open, 8);
	assert_int_equal(hx_stats(n, HX_B)->half_open_evicted, 12);
	/* The real initiator still gets in (it evicts the oldest spoofed one). */
	hx_input(n, &t.from, &t.to, t.buf, t.len);
	free(t.buf);
	hx_settle(n, 3000);
	hx_assert_ike_up(n);
	assert_int_equal(hx_ike(n, HX_B)->half_open, 7);
}

/* RFC 8019 5 / RFC 7383: the memory held by half-open SAs is capped too. */
static void test_half_open_memory(void **state)
{
	struct hx_conf cb = {
	    .remote = "%any", .cookie_threshold = 1000, .globals = "half_open_memory = 64;"};
	struct hx_net *n = hx_new(NULL, &cb);
	struct hx_dgram t;
	size_t total = 0;

	*state = n;
	take_init(n, &t);
	for (uint32_t i = 0; i < 200; i++)
		inject(n, &t, i + 1, i + 1);
	free(t.buf);
	assert_int_equal(drain_answers(n, &total), 0);
	assert_true(hx_ike(n, HX_B)->ho_bytes <= 64 * 1024);
	assert_true(hx_ike(n, HX_B)->half_open >= 1);
	assert_int_equal(hx_ike(n, HX_B)->half_open + hx_stats(n, HX_B)->half_open_evicted, 200);
}

/* RFC 7296 2.6: the secret changes; cookies of the previous one still verify. */
static void test_cookie_secret_rotates(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct ike *b;
	struct ike_addr peer;
	uint8_t ni[32] = {1, 2, 3}, spi[8] = {9, 9, 9};
	uint8_t c1[64], c2[64], secret[32];
	size_t l1, l2;

	*state = n;
	b = hx_ike(n, HX_B);
	spoof_addr(&peer, 5);
	assert_int_equal(cookie_compute(b, b->cookie_version, ni, sizeof(ni), &peer, spi, c1, &l1),
	                 0);
	assert_true(cookie_valid(b, c1, l1, ni, sizeof(ni), &peer, spi));
	memcpy(secret, b->cookie_secret, sizeof(secret));
	hx_advance(n, 121000);
	if (!memcmp(secret, b->cookie_secret, sizeof(secret)))
		fail_msg("the cookie secret did not change in 121 s");
	/* Made before the change: still good. A new one differs. */
	assert_true(cookie_valid(b, c1, l1, ni, sizeof(ni), &peer, spi));
	assert_int_equal(cookie_compute(b, b->cookie_version, ni, sizeof(ni), &peer, spi, c2, &l2),
	                 0);
	assert_true(memcmp(c1, c2, l1) != 0);
	hx_advance(n, 121000);
	/* Two changes later the old cookie is refused; the newer one still passes. */
	assert_false(cookie_valid(b, c1, l1, ni, sizeof(ni), &peer, spi));
	assert_true(cookie_valid(b, c2, l2, ni, sizeof(ni), &peer, spi));
}

/* A second client at a's address: a's engine is replaced by one with local_id. */
static void new_client(struct hx_net *n, const char *local_id)
{
	struct hx_conf ca = {.local_id = local_id};
	struct hx_peer *p = &n->p[HX_A];

	ike_free(p->ike);
	cfg_free(&p->cfg);
	p->n_installed = 0;
	hx_peer_init(n, HX_A, &ca);
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
}

/* Does the IKE_AUTH request a sends carry N(INITIAL_CONTACT)? Delivers up to it. */
static bool auth_has_initial_contact(struct hx_net *n)
{
	struct wire_msg m;
	bool ic;

	assert_int_equal(hx_deliver(n), 0); /* IKE_SA_INIT request */
	assert_int_equal(hx_deliver(n), 0); /* IKE_SA_INIT response */
	hx_expect(n, 0, HX_A, IKEV2_EXCH_IKE_AUTH, false);
	assert_int_equal(hx_decode(n, 0, &m), 0);
	ic = wire_msg_find_notify(&m, IKEV2_N_INITIAL_CONTACT) != NULL;
	wire_msg_free(&m);
	return ic;
}

/*
 * RFC 7296 2.4: INITIAL_CONTACT removes the SAs "between the authenticated
 * identities" only. Two clients with different identities behind one NAT
 * on a %any connection both keep their SAs.
 */
static void test_initial_contact_other_identity(void **state)
{
	struct hx_conf cb = {.remote = "%any", .remote_id = "%any"};
	struct hx_net *n = hx_new(NULL, &cb);
	uint64_t first;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	hx_settle(n, 2000);
	hx_assert_ike_up(n);
	first = hx_sa(n, HX_B)->serial;
	new_client(n, "c.example");
	assert_true(auth_has_initial_contact(n));
	hx_settle(n, 2000);
	if (hx_count_state(n, HX_B, IKE_S_ESTABLISHED, NULL) != 2)
		fail_msg("b holds %zu established SAs: c's INITIAL_CONTACT removed a's SA",
		         hx_count_state(n, HX_B, IKE_S_ESTABLISHED, NULL));
	assert_non_null(sa_lookup_serial(hx_ike(n, HX_B), first));
	assert_int_equal(sa_lookup_serial(hx_ike(n, HX_B), first)->state, IKE_S_ESTABLISHED);
	assert_int_equal(n->p[HX_B].n_installed, 2);
}

/* The same identity again (a client that restarted): the old SA is
 * replaced, its Child SAs leave the data plane at once, and it is deleted
 * towards the peer rather than dropped silently. */
static void test_initial_contact_same_identity(void **state)
{
	struct hx_conf cb = {.remote = "%any", .remote_id = "%any"};
	struct hx_net *n = hx_new(NULL, &cb);
	struct ike_sa *old;
	struct wire_hdr h;
	uint8_t old_spi_i[8];
	uint64_t first, found[4];
	struct ike_sa probe;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	hx_settle(n, 2000);
	hx_assert_ike_up(n);
	first = hx_sa(n, HX_B)->serial;
	memcpy(old_spi_i, hx_sa(n, HX_B)->spi_i, 8);
	/* The established SA is found through b's identity index (sa.c), not
	 * by a walk over the table: a probe with its identity finds it. */
	probe = *hx_sa(n, HX_B);
	probe.serial = 0;
	assert_int_equal(sa_same_peer_id(hx_ike(n, HX_B), &probe, found, 4), 1);
	assert_int_equal(found[0], first);
	new_client(n, NULL);
	assert_true(auth_has_initial_contact(n));
	assert_int_equal(hx_deliver(n), 0); /* IKE_AUTH request, with INITIAL_CONTACT */
	old = sa_lookup_serial(hx_ike(n, HX_B), first);
	assert_non_null(old);
	assert_int_equal(old->state, IKE_S_DELETING);
	assert_int_equal(n->p[HX_B].n_installed, 1); /* only the new SA's child */
	/* <-- IKE_AUTH response, and b's Delete for the old SA */
	assert_int_equal(n->nq, 2);
	hx_hdr(n, 0, &h);
	if (h.exchange != IKEV2_EXCH_INFORMATIONAL)
		hx_hdr(n, 1, &h);
	assert_int_equal(h.exchange, IKEV2_EXCH_INFORMATIONAL);
	assert_false(h.flags & IKEV2_FLAG_RESPONSE);
	assert_memory_equal(h.spi_i, old_spi_i, 8);
	/* a's new engine does not know that SA; b gives up on it and forgets it. */
	hx_settle(n, 30000);
	assert_int_equal(hx_count_state(n, HX_B, IKE_S_ESTABLISHED, NULL), 1);
	assert_null(sa_lookup_serial(hx_ike(n, HX_B), first));
	/* The index left the old SA when it stopped being ESTABLISHED and
	 * holds the new one alone. */
	assert_int_equal(sa_same_peer_id(hx_ike(n, HX_B), &probe, found, 4), 1);
	assert_true(found[0] != first);
	assert_int_equal(sa_lookup_serial(hx_ike(n, HX_B), found[0])->state, IKE_S_ESTABLISHED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_cookies_not_rationed, hx_teardown),
	    cmocka_unit_test_teardown(test_half_open_expires, hx_teardown),
	    cmocka_unit_test_teardown(test_half_open_per_source, hx_teardown),
	    cmocka_unit_test_teardown(test_half_open_max, hx_teardown),
	    cmocka_unit_test_teardown(test_half_open_memory, hx_teardown),
	    cmocka_unit_test_teardown(test_cookie_secret_rotates, hx_teardown),
	    cmocka_unit_test_teardown(test_initial_contact_other_identity, hx_teardown),
	    cmocka_unit_test_teardown(test_initial_contact_same_identity, hx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
