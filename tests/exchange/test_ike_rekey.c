/*
 * Exchange tests of rekeying (RFC 7296 1.3.2, 1.3.3, 2.8, 2.17, 2.18) and
 * of every collision RFC 7296 describes for it: simultaneous Child SA
 * rekeys (2.8.1), simultaneous IKE SA rekeys (2.8.2) and the rekey/delete
 * and rekey/rekey pairs of 2.25, 2.25.1 and 2.25.2. Collisions are driven
 * by starting both requests before either is delivered.
 */
#include "harness.h"

/* What a CREATE_CHILD_SA message carries that the tests compare. */
struct ccsa {
	uint8_t nonce[IKE_MAX_NONCE];
	size_t nonce_len;
	uint8_t spi[8];
	size_t spi_size;
	bool rekey_sa, ke, ts, temp_failure;
	uint32_t rekey_spi;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void ccsa_info(struct hx_net *n, size_t i, struct ccsa *out)
{
	struct wire_msg m;
	const struct wire_payload *p;
	struct wire_hdr h;

	memset(out, 0, sizeof(*out));
	hx_hdr(n, i, &h);
	assert_int_equal(h.exchange, IKEV2_EXCH_CREATE_CHILD_SA);
	if (hx_decode(n, i, &m) < 0)
		fail_msg("CREATE_CHILD_SA at %zu does not open", i);
	if ((p = wire_msg_find(&m, IKEV2_PL_NI_NR, NULL))) {
		out->nonce_len = p->u.nonce.len;
		memcpy(out->nonce, p->u.nonce.data, p->u.nonce.len);
	}
	if ((p = wire_msg_find(&m, IKEV2_PL_SA, NULL)) && p->u.sa.nproposals) {
		out->spi_size = p->u.sa.proposals[0].spi_size;
		memcpy(out->spi, p->u.sa.proposals[0].spi, out->spi_size);
	}
	if ((p = wire_msg_find_notify(&m, IKEV2_N_REKEY_SA))) {
		out->rekey_sa = true;
		if (p->u.notify.spi_size == 4)
			out->rekey_spi = be32(p->u.notify.spi);
	}
	out->ke = wire_msg_find(&m, IKEV2_PL_KE, NULL) != NULL;
	out->ts = wire_msg_find(&m, IKEV2_PL_TSI, NULL) != NULL;
	out->temp_failure = wire_msg_find_notify(&m, IKEV2_N_TEMPORARY_FAILURE) != NULL;
	wire_msg_free(&m);
}

/* 2.8.1: octet by octet, the shorter (prefix) nonce is lower. */
static int nonce_cmp(const struct ccsa *x, const struct ccsa *y)
{
	size_t k = x->nonce_len < y->nonce_len ? x->nonce_len : y->nonce_len;
	int c = memcmp(x->nonce, y->nonce, k);

	return c ? c : (x->nonce_len > y->nonce_len) - (x->nonce_len < y->nonce_len);
}

static const struct ccsa *lowest(const struct ccsa *const *v, size_t n)
{
	const struct ccsa *lo = v[0];

	for (size_t i = 1; i < n; i++)
		if (nonce_cmp(v[i], lo) < 0)
			lo = v[i];
	return lo;
}

/* Every installed Child SA has its mirror on the other side. */
static void assert_children_consistent(struct hx_net *n)
{
	struct hx_peer *a = &n->p[HX_A], *b = &n->p[HX_B];

	assert_int_equal(a->n_installed, b->n_installed);
	for (size_t i = 0; i < a->n_installed; i++) {
		const struct hx_child *x = &a->installed[i];
		const struct hx_child *y = hx_installed_by_in(b, x->spi_out);

		if (!y)
			fail_msg("a's Child SA %08x/%08x has no mirror on b", x->spi_in,
			         x->spi_out);
		assert_int_equal(y->spi_out, x->spi_in);
		assert_memory_equal(x->key_in_e, y->key_out_e, x->key_e_len);
	}
	hx_assert_dp_matches(n, HX_A);
	hx_assert_dp_matches(n, HX_B);
}

static bool was_down(const struct hx_peer *p, uint32_t spi_in)
{
	for (size_t i = 0; i < p->n_down_spis; i++)
		if (p->down_spis[i] == spi_in)
			return true;
	return false;
}

/* ---- plain rekeys ---- */

/* RFC 7296 1.3.3, 2.8: `side` rekeys the Child SA. */
static void child_rekey(void **state, int side)
{
	struct hx_conf c = {.esp = "\"aes256gcm16-x25519\""};
	struct hx_net *n = hx_new(&c, &c);
	int other = side == HX_A ? HX_B : HX_A;
	struct hx_child old[2];
	struct ccsa req;
	struct wire_msg m;
	const struct wire_payload *d;

	*state = n;
	hx_establish(n);
	old[HX_A] = n->p[HX_A].installed[0];
	old[HX_B] = n->p[HX_B].installed[0];
	assert_int_equal(ike_rekey_child(hx_ike(n, side), HX_CONN), 0);
	/* HDR, SK {N(REKEY_SA), SA, Ni, [KEi], TSi, TSr} --> */
	assert_int_equal(n->nq, 1);
	assert_int_equal(n->q[0].src, side);
	ccsa_info(n, 0, &req);
	assert_true(req.rekey_sa);
	assert_int_equal(req.rekey_spi, old[side].spi_in);
	assert_int_equal(req.spi_size, 4);
	assert_true(req.ts);
	assert_true(req.ke); /* PFS configured */
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SK {SA, Nr, [KEr], TSi, TSr} */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, other, IKEV2_EXCH_CREATE_CHILD_SA, true);
	assert_true(hx_has_payload(n, 0, IKEV2_PL_SA));
	assert_true(hx_has_payload(n, 0, IKEV2_PL_KE));
	assert_true(hx_has_payload(n, 0, IKEV2_PL_TSI));
	assert_int_equal(hx_deliver(n), 0);
	/* The rekey initiator deletes the old SA (2.8):  HDR, SK {D(ESP, old)} --> */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, side, IKEV2_EXCH_INFORMATIONAL, false);
	assert_int_equal(hx_decode(n, 0, &m), 0);
	d = wire_msg_find(&m, IKEV2_PL_D, NULL);
	assert_non_null(d);
	assert_int_equal(d->u.del.protocol, IKEV2_PROTO_ESP);
	assert_int_equal(d->u.del.nspis, 1);
	assert_int_equal(be32(d->u.del.spis), old[side].spi_in);
	wire_msg_free(&m);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SK {D(ESP, old)} */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, other, IKEV2_EXCH_INFORMATIONAL, true);
	assert_true(hx_has_payload(n, 0, IKEV2_PL_D));
	assert_int_equal(hx_deliver(n), 0);

	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	for (int s = 0; s < 2; s++) {
		const struct hx_child *now = &n->p[s].installed[0];

		assert_int_not_equal(now->spi_in, old[s].spi_in);
		assert_int_not_equal(now->spi_out, old[s].spi_out);
		assert_memory_not_equal(now->key_in_e, old[s].key_in_e, now->key_e_len);
		assert_memory_not_equal(now->key_out_e, old[s].key_out_e, now->key_e_len);
		assert_true(was_down(&n->p[s], old[s].spi_in));
		assert_int_equal(n->p[s].n_child_up, 2);
		assert_int_equal(n->p[s].n_child_down, 1);
		assert_int_equal(hx_count_children(hx_sa(n, s)), 1);
	}
	assert_int_equal(n->p[side].installed[0].spi_in, be32(req.spi));
	hx_advance(n, 30000);
	assert_int_equal(n->nq, 0);
}

static void test_child_rekey_by_a(void **state)
{
	child_rekey(state, HX_A);
}

static void test_child_rekey_by_b(void **state)
{
	child_rekey(state, HX_B);
}

/*
 * The data plane's SPI residue hook (receive steering by SPI): each new
 * Child SA's inbound SPI has the residue asked for a new Child SA, a
 * rekey's the one asked for the rekeyed Child SA's reqid, on both sides
 * (initiator and responder of IKE_AUTH and CREATE_CHILD_SA), and every
 * SPI stays >= 256 (RFC 4303 2.1).
 */
static void test_spi_residue(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	uint32_t old_reqid[2];

	*state = n;
	n->p[HX_A].spi_mod = 7;
	n->p[HX_A].spi_new = 3;
	n->p[HX_B].spi_mod = 5;
	n->p[HX_B].spi_new = 4;
	hx_establish(n);
	assert_int_equal(n->p[HX_A].installed[0].spi_in % 7, 3);
	assert_int_equal(n->p[HX_B].installed[0].spi_in % 5, 4);
	for (int round = 0; round < 3; round++) {
		int side = round & 1 ? HX_B : HX_A;
		for (int s = 0; s < 2; s++)
			old_reqid[s] = n->p[s].installed[0].reqid;
		assert_int_equal(ike_rekey_child(hx_ike(n, side), HX_CONN), 0);
		for (int i = 0; i < 4 && n->nq; i++) /* CREATE_CHILD_SA, then the Delete */
			assert_int_equal(hx_deliver(n), 0);
		hx_assert_one_child_pair(n);
		for (int s = 0; s < 2; s++) {
			struct hx_peer *p = &n->p[s];
			uint32_t spi = p->installed[0].spi_in;
			assert_int_not_equal(p->installed[0].reqid, old_reqid[s]);
			assert_true(spi >= 256);
			assert_int_equal(spi % p->spi_mod, old_reqid[s] % p->spi_mod);
			assert_int_equal(p->spi_rekeys[p->n_spi_asked - 1], old_reqid[s]);
		}
	}
	assert_int_equal(n->p[HX_A].n_spi_asked, 4);
	assert_int_equal(n->p[HX_B].n_spi_asked, 4);
}

/* RFC 7296 1.3.2, 2.18: `side` rekeys the IKE SA. */
static void ike_rekey(void **state, int side)
{
	struct hx_net *n = hx_new(NULL, NULL);
	int other = side == HX_A ? HX_B : HX_A;
	uint8_t old_i[8], old_r[8], old_skd[CRYPTO_MAX_PRF_LEN];
	struct hx_child child[2];
	struct ccsa req, resp;
	struct ike_sa *s, *o;
	struct wire_msg m;
	const struct wire_payload *d;
	struct wire_hdr h;

	*state = n;
	hx_establish(n);
	memcpy(old_i, hx_sa(n, HX_A)->spi_i, 8);
	memcpy(old_r, hx_sa(n, HX_A)->spi_r, 8);
	memcpy(old_skd, hx_sa(n, HX_A)->sk_d, sizeof(old_skd));
	child[HX_A] = n->p[HX_A].installed[0];
	child[HX_B] = n->p[HX_B].installed[0];
	assert_int_equal(ike_rekey_ike(hx_ike(n, side), HX_CONN), 0);
	/* HDR, SK {SA, Ni, KEi} --> */
	assert_int_equal(n->nq, 1);
	assert_int_equal(n->q[0].src, side);
	ccsa_info(n, 0, &req);
	assert_int_equal(req.spi_size, 8);
	assert_true(req.ke);
	assert_false(req.ts);
	assert_false(req.rekey_sa);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SK {SA, Nr, KEr} */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, other, IKEV2_EXCH_CREATE_CHILD_SA, true);
	assert_int_equal(hx_decode(n, 0, &m), 0);
	d = wire_msg_find(&m, IKEV2_PL_SA, NULL);
	assert_non_null(d);
	assert_int_equal(d->u.sa.proposals[0].spi_size, 8);
	memcpy(resp.spi, d->u.sa.proposals[0].spi, 8);
	assert_non_null(wire_msg_find(&m, IKEV2_PL_KE, NULL));
	wire_msg_free(&m);
	assert_int_equal(hx_deliver(n), 0);
	/* On the old IKE SA: HDR, SK {D(IKE)} -->  <-- HDR, SK {} */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, side, IKEV2_EXCH_INFORMATIONAL, false);
	hx_hdr(n, 0, &h);
	assert_memory_equal(h.spi_i, old_i, 8);
	assert_memory_equal(h.spi_r, old_r, 8);
	assert_true(hx_has_payload(n, 0, IKEV2_PL_D));
	assert_int_equal(hx_deliver_all(n, 4), 2);

	hx_assert_ike_up(n);
	assert_int_equal(hx_count_sas(n, HX_A), 1);
	assert_int_equal(hx_count_sas(n, HX_B), 1);
	s = hx_sa(n, side);
	o = hx_sa(n, other);
	/* 2.18: the rekey initiator is the new SA's initiator; SPIs from the SA payloads. */
	assert_true(s->initiator);
	assert_false(o->initiator);
	assert_memory_equal(s->spi_i, req.spi, 8);
	assert_memory_equal(s->spi_r, resp.spi, 8);
	assert_memory_not_equal(s->sk_d, old_skd, s->sk_d_len);
	assert_memory_equal(s->sk_d, o->sk_d, s->sk_d_len);
	assert_null(s->keys); /* no AUTH on a rekeyed SA: SK_d is all it keeps */
	assert_null(o->keys);
	assert_null(s->su); /* nor anything only set-up needs (struct ike_setup) */
	assert_null(o->su);
	/* Message IDs restart at 0 on the new SA. */
	assert_int_equal(s->next_msg_id, 0);
	assert_int_equal(o->next_msg_id, 0);
	assert_int_equal(s->expect_msg_id, 0);
	assert_int_equal(o->expect_msg_id, 0);
	/* The Child SA moved over unchanged: nothing was removed or installed. */
	hx_assert_one_child_pair(n);
	assert_int_equal(n->p[HX_A].installed[0].spi_in, child[HX_A].spi_in);
	assert_int_equal(n->p[HX_B].installed[0].spi_in, child[HX_B].spi_in);
	assert_int_equal(n->p[HX_A].n_child_down, 0);
	assert_int_equal(n->p[HX_B].n_child_down, 0);
	assert_int_equal(hx_count_children(s), 1);
	assert_int_equal(hx_count_children(o), 1);
	/* The new SA works: HDR(new), SK {} --> with message ID 0. */
	assert_int_equal(ike_dpd_now(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(n->nq, 1);
	hx_hdr(n, 0, &h);
	assert_int_equal(h.msg_id, 0);
	assert_memory_equal(h.spi_i, s->spi_i, 8);
	assert_int_equal(hx_deliver_all(n, 4), 2);
	hx_assert_ike_up(n);
	/* And its Child SA can be rekeyed. */
	assert_int_equal(ike_rekey_child(hx_ike(n, HX_B), HX_CONN), 0);
	hx_settle(n, 1000);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
}

static void test_ike_rekey_by_a(void **state)
{
	ike_rekey(state, HX_A);
}

static void test_ike_rekey_by_b(void **state)
{
	ike_rekey(state, HX_B);
}

/* ---- collisions ---- */

/* RFC 7296 2.8.1: both rekey the Child SA at once. */
static void test_collision_child_child(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct hx_child old[2];
	struct ccsa req_a, req_b, resp_b, resp_a;
	const struct ccsa *four[4] = {&req_a, &resp_b, &req_b, &resp_a};
	const struct ccsa *lo;
	bool a_exchange_redundant;
	uint32_t keep_a_in, keep_b_in;

	*state = n;
	hx_establish(n);
	old[HX_A] = n->p[HX_A].installed[0];
	old[HX_B] = n->p[HX_B].installed[0];
	assert_int_equal(ike_rekey_child(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(ike_rekey_child(hx_ike(n, HX_B), HX_CONN), 0);
	/* HDR, SK {N(REKEY_SA), SA, Ni_a, TSi, TSr} -->
	 * <-- HDR, SK {N(REKEY_SA), SA, Ni_b, TSi, TSr} */
	assert_int_equal(n->nq, 2);
	ccsa_info(n, 0, &req_a);
	ccsa_info(n, 1, &req_b);
	assert_int_equal(n->q[0].src, HX_A);
	assert_int_equal(n->q[1].src, HX_B);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SK {SA, Nr_b, TSi, TSr}   (b answers as usual, 2.25.1) */
	assert_int_equal(n->nq, 2);
	hx_expect(n, 1, HX_B, IKEV2_EXCH_CREATE_CHILD_SA, true);
	ccsa_info(n, 1, &resp_b);
	assert_false(resp_b.temp_failure);
	assert_int_equal(hx_deliver(n), 0);
	/* HDR, SK {SA, Nr_a, TSi, TSr} --> */
	assert_int_equal(n->nq, 2);
	hx_expect(n, 1, HX_A, IKEV2_EXCH_CREATE_CHILD_SA, true);
	ccsa_info(n, 1, &resp_a);
	assert_false(resp_a.temp_failure);
	/* The exchange that used the lowest of the four nonces made the redundant SA;
	 * its initiator deletes it, the other side deletes the old one. */
	lo = lowest(four, 4);
	a_exchange_redundant = lo == &req_a || lo == &resp_b;
	keep_a_in = a_exchange_redundant ? be32(resp_a.spi) : be32(req_a.spi);
	keep_b_in = a_exchange_redundant ? be32(req_b.spi) : be32(resp_b.spi);
	hx_settle(n, 10000);

	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	assert_int_equal(n->p[HX_A].installed[0].spi_in, keep_a_in);
	assert_int_equal(n->p[HX_B].installed[0].spi_in, keep_b_in);
	assert_int_equal(hx_count_children(hx_sa(n, HX_A)), 1);
	assert_int_equal(hx_count_children(hx_sa(n, HX_B)), 1);
	assert_true(was_down(&n->p[HX_A], old[HX_A].spi_in));
	assert_true(was_down(&n->p[HX_B], old[HX_B].spi_in));
	/* Three pairs existed, two were removed on each side. */
	assert_int_equal(n->p[HX_A].n_child_down, 2);
	assert_int_equal(n->p[HX_B].n_child_down, 2);
	hx_advance(n, 60000);
	assert_int_equal(n->nq, 0);
}

/* RFC 7296 2.8.2: both rekey the IKE SA at once. */
static void test_collision_ike_ike(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct hx_child child[2];
	struct ccsa req_a, req_b, resp_b, resp_a;
	const struct ccsa *four[4] = {&req_a, &resp_b, &req_b, &resp_a};
	const struct ccsa *lo;
	bool a_exchange_redundant;
	const uint8_t *keep_i, *keep_r;
	struct ike_sa *sa_a, *sa_b;

	*state = n;
	hx_establish(n);
	child[HX_A] = n->p[HX_A].installed[0];
	child[HX_B] = n->p[HX_B].installed[0];
	assert_int_equal(ike_rekey_ike(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(ike_rekey_ike(hx_ike(n, HX_B), HX_CONN), 0);
	/* HDR, SK {SA, Ni_a, KEi} -->   <-- HDR, SK {SA, Ni_b, KEi} */
	assert_int_equal(n->nq, 2);
	ccsa_info(n, 0, &req_a);
	ccsa_info(n, 1, &req_b);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SK {SA, Nr_b, KEr}   (answered as usual, 2.25.2) */
	assert_int_equal(n->nq, 2);
	hx_expect(n, 1, HX_B, IKEV2_EXCH_CREATE_CHILD_SA, true);
	ccsa_info(n, 1, &resp_b);
	assert_false(resp_b.temp_failure);
	assert_int_equal(resp_b.spi_size, 8);
	assert_int_equal(hx_deliver(n), 0);
	/* HDR, SK {SA, Nr_a, KEr} --> */
	assert_int_equal(n->nq, 2);
	hx_expect(n, 1, HX_A, IKEV2_EXCH_CREATE_CHILD_SA, true);
	ccsa_info(n, 1, &resp_a);
	assert_false(resp_a.temp_failure);
	lo = lowest(four, 4);
	a_exchange_redundant = lo == &req_a || lo == &resp_b;
	/* The surviving IKE SA: SPIi from its request, SPIr from its response. */
	keep_i = a_exchange_redundant ? req_b.spi : req_a.spi;
	keep_r = a_exchange_redundant ? resp_a.spi : resp_b.spi;
	hx_settle(n, 10000);

	hx_assert_ike_up(n);
	assert_int_equal(hx_count_sas(n, HX_A), 1);
	assert_int_equal(hx_count_sas(n, HX_B), 1);
	sa_a = hx_sa(n, HX_A);
	sa_b = hx_sa(n, HX_B);
	assert_memory_equal(sa_a->spi_i, keep_i, 8);
	assert_memory_equal(sa_a->spi_r, keep_r, 8);
	assert_int_equal(sa_a->initiator, !a_exchange_redundant);
	assert_int_equal(sa_b->initiator, a_exchange_redundant);
	/* The Child SA was inherited by the survivor on both sides. */
	hx_assert_one_child_pair(n);
	assert_int_equal(n->p[HX_A].installed[0].spi_in, child[HX_A].spi_in);
	assert_int_equal(n->p[HX_B].installed[0].spi_in, child[HX_B].spi_in);
	assert_int_equal(hx_count_children(sa_a), 1);
	assert_int_equal(hx_count_children(sa_b), 1);
	assert_int_equal(n->p[HX_A].n_child_down, 0);
	assert_int_equal(n->p[HX_B].n_child_down, 0);
	/* It works: HDR, SK {} -->  <-- HDR, SK {} */
	assert_int_equal(ike_dpd_now(hx_ike(n, HX_B), HX_CONN), 0);
	assert_int_equal(hx_deliver_all(n, 4), 2);
	hx_assert_ike_up(n);
	hx_advance(n, 60000);
	assert_int_equal(n->nq, 0);
}

/* RFC 7296 2.25.1: a rekeys the Child SA that b is deleting. */
static void test_collision_child_rekey_vs_delete(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct ccsa resp;

	*state = n;
	hx_establish(n);
	assert_int_equal(ike_rekey_child(hx_ike(n, HX_A), HX_CONN), 0);
	ike_child_expired(hx_ike(n, HX_B), n->p[HX_B].installed[0].reqid, true);
	/* HDR, SK {N(REKEY_SA), SA, Ni, TSi, TSr} -->   <-- HDR, SK {D(ESP)} */
	assert_int_equal(n->nq, 2);
	hx_expect(n, 0, HX_A, IKEV2_EXCH_CREATE_CHILD_SA, false);
	hx_expect(n, 1, HX_B, IKEV2_EXCH_INFORMATIONAL, false);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SK {N(TEMPORARY_FAILURE)}   (b is closing it) */
	assert_int_equal(n->nq, 2);
	hx_expect(n, 1, HX_B, IKEV2_EXCH_CREATE_CHILD_SA, true);
	ccsa_info(n, 1, &resp);
	assert_true(resp.temp_failure);
	assert_int_equal(resp.spi_size, 0);
	assert_int_equal(hx_deliver(n), 0);
	/* HDR, SK {D(ESP)} -->   (a answers the delete as usual, with a Delete payload) */
	assert_int_equal(n->nq, 2);
	hx_expect(n, 1, HX_A, IKEV2_EXCH_INFORMATIONAL, true);
	assert_true(hx_has_payload(n, 1, IKEV2_PL_D));
	hx_settle(n, 60000);

	hx_assert_ike_up(n);
	assert_int_equal(n->p[HX_A].n_installed, 0);
	assert_int_equal(n->p[HX_B].n_installed, 0);
	assert_int_equal(hx_count_children(hx_sa(n, HX_A)), 0);
	assert_int_equal(hx_count_children(hx_sa(n, HX_B)), 0);
	assert_int_equal(n->nq, 0);
}

/* RFC 7296 2.25.1 (last paragraph) and 2.25.2: a rekeys the IKE SA while b
 * rekeys a Child SA. Both answer TEMPORARY_FAILURE; neither retries at once;
 * after a while both operations complete. */
static void test_collision_ike_rekey_vs_child_rekey(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct ccsa r;
	uint64_t sent;
	uint8_t spi0[8];
	bool ike_done;

	*state = n;
	hx_establish(n);
	memcpy(spi0, hx_sa(n, HX_A)->spi_i, 8);
	assert_int_equal(ike_rekey_ike(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(ike_rekey_child(hx_ike(n, HX_B), HX_CONN), 0);
	/* HDR, SK {SA, Ni, KEi} -->   <-- HDR, SK {N(REKEY_SA), SA, Ni, TSi, TSr} */
	assert_int_equal(n->nq, 2);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SK {N(TEMPORARY_FAILURE)} */
	hx_expect(n, 1, HX_B, IKEV2_EXCH_CREATE_CHILD_SA, true);
	ccsa_info(n, 1, &r);
	assert_true(r.temp_failure);
	assert_int_equal(hx_deliver(n), 0);
	/* HDR, SK {N(TEMPORARY_FAILURE)} --> */
	hx_expect(n, 1, HX_A, IKEV2_EXCH_CREATE_CHILD_SA, true);
	ccsa_info(n, 1, &r);
	assert_true(r.temp_failure);
	assert_int_equal(hx_deliver_all(n, 4), 2);
	/* "MUST NOT immediately retry" */
	hx_advance(n, 1000);
	assert_int_equal(n->nq, 0);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	/* Within a few minutes both get through (unless they keep colliding). */
	sent = n->p[HX_A].sent + n->p[HX_B].sent;
	hx_settle(n, 300000);
	ike_done = hx_sa(n, HX_A) && memcmp(hx_sa(n, HX_A)->spi_i, spi0, 8) != 0;
	if (n->p[HX_A].n_child_up != 2 || !ike_done)
		fail_msg("after 5 minutes: %llu more datagrams, Child rekeyed: %s, IKE rekeyed: %s "
		         "(both retry on the same schedule and collide again each time?)",
		         (unsigned long long)(n->p[HX_A].sent + n->p[HX_B].sent - sent),
		         n->p[HX_A].n_child_up == 2 ? "yes" : "no", ike_done ? "yes" : "no");
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	assert_true(hx_count_sas(n, HX_A) == 1 && hx_count_sas(n, HX_B) == 1);
	if (memcmp(n->p[HX_A].installed[0].key_in_e, n->p[HX_B].installed[0].key_out_e,
	           n->p[HX_A].installed[0].key_e_len))
		fail_msg("inconsistent Child SA keys");
}

/* RFC 7296 2.25.2: a rekeys the IKE SA that b is deleting. */
static void test_collision_ike_rekey_vs_ike_delete(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct ccsa r;
	struct wire_msg m;

	*state = n;
	hx_establish(n);
	assert_int_equal(ike_rekey_ike(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(ike_down(hx_ike(n, HX_B), HX_CONN), 0);
	/* HDR, SK {SA, Ni, KEi} -->   <-- HDR, SK {D(IKE)} */
	assert_int_equal(n->nq, 2);
	hx_expect(n, 1, HX_B, IKEV2_EXCH_INFORMATIONAL, false);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SK {N(TEMPORARY_FAILURE)}   (b is closing it) */
	assert_int_equal(n->nq, 2);
	hx_expect(n, 1, HX_B, IKEV2_EXCH_CREATE_CHILD_SA, true);
	ccsa_info(n, 1, &r);
	assert_true(r.temp_failure);
	assert_int_equal(hx_deliver(n), 0);
	/* HDR, SK {} -->   (a answers as usual and forgets its rekey) */
	assert_int_equal(n->nq, 2);
	hx_expect(n, 1, HX_A, IKEV2_EXCH_INFORMATIONAL, true);
	assert_int_equal(hx_decode(n, 1, &m), 0);
	assert_int_equal(m.npayloads, 1);
	wire_msg_free(&m);
	hx_settle(n, 5000);
	/* "forget about its own rekeying request": nothing of it may stay behind,
	 * including the new IKE SA a prepared for the rekey. */
	if (hx_count_sas(n, HX_A))
		fail_msg("a still holds %zu SA(s) (the rekey's new IKE SA, state %s)",
		         hx_count_sas(n, HX_A),
		         sa_state_name(hx_sa(n, HX_A) ? hx_sa(n, HX_A)->state : IKE_S_DEAD));
	assert_int_equal(hx_count_sas(n, HX_A), 0);
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	assert_int_equal(n->p[HX_A].n_installed, 0);
	assert_int_equal(n->p[HX_B].n_installed, 0);
	assert_int_equal(n->nq, 0);
}

/* RFC 7296 2.25.2: b deletes the IKE SA; a's Child rekey crosses it. */
static void test_collision_child_rekey_vs_ike_delete(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);

	*state = n;
	hx_establish(n);
	assert_int_equal(ike_rekey_child(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(ike_down(hx_ike(n, HX_B), HX_CONN), 0);
	/* HDR, SK {N(REKEY_SA), SA, Ni, TSi, TSr} -->   <-- HDR, SK {D(IKE)} */
	assert_int_equal(n->nq, 2);
	hx_settle(n, 60000);
	assert_int_equal(hx_count_sas(n, HX_A), 0);
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	assert_int_equal(n->p[HX_A].n_installed, 0);
	assert_int_equal(n->p[HX_B].n_installed, 0);
	assert_int_equal(n->nq, 0);
}

/* RFC 7296 2.25, 2.25.1: a's rekey reaches b after b deleted the Child SA. */
static void test_collision_child_rekey_after_delete(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct wire_msg m;
	const struct wire_payload *p;
	uint32_t a_in;

	*state = n;
	hx_establish(n);
	a_in = n->p[HX_A].installed[0].spi_in;
	ike_child_expired(hx_ike(n, HX_B), n->p[HX_B].installed[0].reqid, true);
	assert_int_equal(ike_rekey_child(hx_ike(n, HX_A), HX_CONN), 0);
	/* <-- HDR, SK {D(ESP)}   HDR, SK {N(REKEY_SA), SA, Ni, TSi, TSr} --> */
	assert_int_equal(n->nq, 2);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_INFORMATIONAL, false);
	hx_expect(n, 1, HX_A, IKEV2_EXCH_CREATE_CHILD_SA, false);
	assert_int_equal(hx_deliver(n), 0);
	/* HDR, SK {D(ESP)} -->   reaches b first: b's Child SA is gone */
	assert_int_equal(n->nq, 2);
	hx_expect(n, 1, HX_A, IKEV2_EXCH_INFORMATIONAL, true);
	assert_int_equal(hx_deliver_at(n, 1), 0);
	assert_int_equal(n->p[HX_B].n_installed, 0);
	/* (rekey request) -->   <-- HDR, SK {N(CHILD_SA_NOT_FOUND, SPI from REKEY_SA)} */
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_CREATE_CHILD_SA, true);
	assert_int_equal(hx_decode(n, 0, &m), 0);
	p = wire_msg_find_notify(&m, IKEV2_N_CHILD_SA_NOT_FOUND);
	assert_non_null(p);
	assert_int_equal(p->u.notify.protocol, IKEV2_PROTO_ESP);
	assert_int_equal(p->u.notify.spi_size, 4);
	assert_int_equal(be32(p->u.notify.spi), a_in);
	assert_null(wire_msg_find(&m, IKEV2_PL_SA, NULL));
	wire_msg_free(&m);
	hx_settle(n, 60000);
	hx_assert_ike_up(n);
	assert_children_consistent(n);
	assert_null(hx_installed_by_in(&n->p[HX_A], a_in));
	assert_int_equal(n->nq, 0);
}

/* RFC 7296 2.25: b lost the Child SA without telling a. On CHILD_SA_NOT_FOUND
 * a "SHOULD silently delete the Child SA ... and send a request to create a
 * new Child SA from scratch". */
static void test_child_rekey_not_found_recreates(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct ike_sa *b;
	uint32_t a_in;

	*state = n;
	hx_establish(n);
	a_in = n->p[HX_A].installed[0].spi_in;
	b = hx_sa(n, HX_B);
	child_remove(hx_ike(n, HX_B), b, b->children);
	assert_int_equal(n->p[HX_B].n_installed, 0);
	assert_int_equal(ike_rekey_child(hx_ike(n, HX_A), HX_CONN), 0);
	/* HDR, SK {N(REKEY_SA), SA, Ni, TSi, TSr} --> */
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SK {N(CHILD_SA_NOT_FOUND)} */
	assert_true(hx_has_notify(n, 0, IKEV2_N_CHILD_SA_NOT_FOUND));
	assert_int_equal(hx_deliver(n), 0);
	/* HDR, SK {SA, Ni, TSi, TSr} -->   (no REKEY_SA)   <-- HDR, SK {SA, Nr, TSi, TSr} */
	hx_settle(n, 10000);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	assert_int_not_equal(n->p[HX_A].installed[0].spi_in, a_in);
	assert_true(was_down(&n->p[HX_A], a_in));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_child_rekey_by_a, hx_teardown),
	    cmocka_unit_test_teardown(test_child_rekey_by_b, hx_teardown),
	    cmocka_unit_test_teardown(test_ike_rekey_by_a, hx_teardown),
	    cmocka_unit_test_teardown(test_spi_residue, hx_teardown),
	    cmocka_unit_test_teardown(test_ike_rekey_by_b, hx_teardown),
	    cmocka_unit_test_teardown(test_collision_child_child, hx_teardown),
	    cmocka_unit_test_teardown(test_collision_ike_ike, hx_teardown),
	    cmocka_unit_test_teardown(test_collision_child_rekey_vs_delete, hx_teardown),
	    cmocka_unit_test_teardown(test_collision_ike_rekey_vs_child_rekey, hx_teardown),
	    cmocka_unit_test_teardown(test_collision_ike_rekey_vs_ike_delete, hx_teardown),
	    cmocka_unit_test_teardown(test_collision_child_rekey_vs_ike_delete, hx_teardown),
	    cmocka_unit_test_teardown(test_collision_child_rekey_after_delete, hx_teardown),
	    cmocka_unit_test_teardown(test_child_rekey_not_found_recreates, hx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
