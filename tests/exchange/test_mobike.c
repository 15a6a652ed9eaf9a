/*
 * Exchange tests of MOBIKE (RFC 4555): a is the initiator (the mobile
 * side), b the responder. a's addresses: 192.0.2.1, and as the tests add
 * them 192.0.2.11 and 192.0.2.12 (aliases of a in the mock network).
 *
 * Negotiation and the float to port 4500 (3.2, 3.3); the initiator moving
 * when its address goes (3.5) with the responder's return routability
 * check for an address it has not seen (3.7) and none for an address in
 * the authenticated set (3.4); an update whose source was rewritten to an
 * address that cannot receive (the check fails, traffic never goes
 * there); NO_NATS_ALLOWED (3.9); path testing when the current path dies
 * (3.10); the collisions: update vs update, vs IKE rekey, vs Child
 * rekey, vs delete, vs a pending redirect; and the draft's proxy case (a transport-mode SA for
 * another host stays); a NAT appearing and going away (3.8).
 */
#include "harness.h"
#include "ike/ext.h"

#define A2 "192.0.2.11"
#define A3 "192.0.2.12"

static const struct hx_conf mob = {.mobike = true};

static struct hx_net *up(void **state, const struct hx_conf *ca, const char *const *a_addrs)
{
	static const char *const one[] = {HX_ADDR_A, NULL};
	struct hx_net *n = hx_new(ca ? ca : &mob, &mob);
	static const char *const b_addrs[] = {HX_ADDR_B, NULL};

	*state = n;
	hx_alias(n, A2, HX_A);
	hx_alias(n, A3, HX_A);
	hx_set_local(n, HX_A, a_addrs ? a_addrs : one);
	hx_set_local(n, HX_B, b_addrs);
	hx_establish(n);
	return n;
}

static bool b_json_has(struct hx_net *n, const char *needle)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool found;

	hx_status_json(hx_ike(n, HX_B), f);
	fclose(f);
	found = strstr(buf, needle) != NULL;
	free(buf);
	return found;
}

/* 3.2, 3.3: MOBIKE_SUPPORTED both ways, and IKE on port 4500 without a NAT. */
static void test_negotiated(void **state)
{
	struct hx_net *n = up(state, NULL, NULL);

	assert_int_equal(hx_port(ike_sa_local(hx_sa(n, HX_A))), 4500);
	assert_int_equal(hx_port(ike_sa_remote(hx_sa(n, HX_A))), 4500);
	assert_int_equal(hx_port(ike_sa_remote(hx_sa(n, HX_B))), 4500);
	assert_false(ike_sa_natt(hx_sa(n, HX_A)));
	assert_true(b_json_has(n, "\"mobike\":{\"enabled\":true"));
}

/* Without MOBIKE on one side nothing of it happens (and IKE stays on 500). */
static void test_not_negotiated(void **state)
{
	struct hx_conf ca = {.mobike = false};
	struct hx_net *n = up(state, &ca, NULL);

	assert_int_equal(hx_port(ike_sa_local(hx_sa(n, HX_A))), 500);
	assert_true(b_json_has(n, "\"mobike\":{\"enabled\":false"));
}

/* a moves to an address b has not seen: b checks it (COOKIE2) before its
 * Child SAs go there (3.5, 3.7). */
static void test_move_with_rr(void **state)
{
	static const char *const moved[] = {A2, NULL};
	struct hx_net *n = up(state, NULL, NULL);
	size_t b_moved;

	hx_set_local(n, HX_A, moved);
	/* a moves at once and sends UPDATE_SA_ADDRESSES from the new address. */
	assert_true(hx_is_host(ike_sa_local(hx_sa(n, HX_A)), A2));
	assert_int_equal(n->p[HX_A].n_moved, 1);
	assert_int_equal(n->nq, 1);
	assert_true(hx_is_host(&n->q[0].from, A2));
	assert_true(hx_has_notify(n, 0, IKEV2_N_UPDATE_SA_ADDRESSES));
	assert_true(hx_has_notify(n, 0, IKEV2_N_COOKIE2));
	assert_true(hx_has_notify(n, 0, IKEV2_N_NAT_DETECTION_SOURCE_IP));
	b_moved = n->p[HX_B].n_moved;
	assert_int_equal(hx_deliver(n), 0);
	/* b answers, and checks the new address before moving its Child SAs. */
	assert_int_equal(n->p[HX_B].n_moved, b_moved);
	assert_int_equal(n->nq, 2);
	hx_settle(n, 2000);
	assert_int_equal(n->p[HX_B].n_moved, b_moved + 1);
	assert_true(hx_is_host(ike_sa_remote(hx_sa(n, HX_B)), A2));
	assert_true(b_json_has(n, "\"mobike_rr_checks\":1"));
}

/* An address a announced in IKE_AUTH (3.4) needs no check: no extra round trip. */
static void test_move_announced(void **state)
{
	static const char *const both[] = {HX_ADDR_A, A2, NULL};
	static const char *const moved[] = {A2, NULL};
	struct hx_net *n = up(state, NULL, both);

	assert_true(b_json_has(n, "\"address\":\"192.0.2.11\""));
	hx_set_local(n, HX_A, moved);
	assert_int_equal(hx_deliver(n), 0); /* the update: b moves at once */
	assert_true(hx_is_host(ike_sa_remote(hx_sa(n, HX_B)), A2));
	assert_int_equal(n->nq, 1); /* only b's answer: no check */
	hx_settle(n, 1000);
	assert_true(b_json_has(n, "\"mobike_rr_checks\":0"));
}

/*
 * An on-path attacker rewrites the source of a's update to an address
 * that cannot receive: b's check never reaches it, b stays on the path it
 * had, and no traffic goes to the forged address beyond the check itself.
 */
static void test_forged_source(void **state)
{
	static const char *const moved[] = {A2, NULL};
	struct hx_net *n = up(state, NULL, NULL);
	size_t b_moved, to_forged = 0;
	struct ike_addr forged;

	hx_set_local(n, HX_A, moved);
	hx_addr(&forged, "192.0.2.99", 4500);
	n->q[0].from = forged;
	b_moved = n->p[HX_B].n_moved;
	for (int k = 0; k < 200 && n->nq; k++) {
		if (hx_is_host(&n->q[0].to, "192.0.2.99")) {
			to_forged++;
			hx_drop(n);
			continue;
		}
		assert_int_equal(hx_deliver(n), 0);
		if (!n->nq)
			hx_advance(n, 1000);
	}
	assert_int_equal(n->p[HX_B].n_moved, b_moved);
	assert_true(hx_is_host(ike_sa_remote(hx_sa(n, HX_B)), HX_ADDR_A));
	assert_true(to_forged <= 3); /* the answer and two tries of the check */
	assert_non_null(hx_sa(n, HX_B));
	assert_int_equal(ike_sa_state(hx_sa(n, HX_B)), IKE_S_ESTABLISHED);
}

/* 3.9: with NO_NATS_ALLOWED a rewritten source is refused with UNEXPECTED_NAT_DETECTED. */
static void test_no_nats(void **state)
{
	static const char *const moved[] = {A2, NULL};
	struct hx_conf ca = {.mobike = true, .extra = "mobike_no_nats = true;"};
	struct hx_net *n = up(state, &ca, NULL);
	struct ike_addr forged;

	hx_set_local(n, HX_A, moved);
	assert_true(hx_has_notify(n, 0, IKEV2_N_NO_NATS_ALLOWED));
	hx_addr(&forged, A3, 4500); /* a NAT would do this */
	n->q[0].from = forged;
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nq, 1);
	assert_true(hx_has_notify(n, 0, IKEV2_N_UNEXPECTED_NAT_DETECTED));
	assert_true(hx_is_host(ike_sa_remote(hx_sa(n, HX_B)), HX_ADDR_A));
	hx_settle(n, 1000);
	assert_true(b_json_has(n, "\"mobike_refused\":1"));
}

/* 3.10: the current path dies; a's retransmissions try its other address,
 * the first answer there becomes the path, and the update follows. */
static void test_path_dies(void **state)
{
	static const char *const both[] = {HX_ADDR_A, A2, NULL};
	struct hx_net *n = up(state, NULL, both);

	assert_int_equal(ike_dpd_now(hx_ike(n, HX_A), HX_CONN), 0);
	for (int k = 0; k < 400; k++) {
		/* Everything on a's first address is lost. */
		while (n->nq &&
		       (hx_is_host(&n->q[0].from, HX_ADDR_A) || hx_is_host(&n->q[0].to, HX_ADDR_A)))
			hx_drop(n);
		if (n->nq)
			assert_int_equal(hx_deliver(n), 0);
		else
			hx_advance(n, 500);
		if (hx_is_host(ike_sa_remote(hx_sa(n, HX_B)), A2) && !n->nq)
			break;
	}
	assert_true(hx_is_host(ike_sa_local(hx_sa(n, HX_A)), A2));
	assert_true(hx_is_host(ike_sa_remote(hx_sa(n, HX_B)), A2));
	assert_int_equal(ike_sa_state(hx_sa(n, HX_A)), IKE_S_ESTABLISHED);
}

/* Update vs update: a newer change while an update is out wins (3.5). */
static void test_update_vs_update(void **state)
{
	static const char *const both[] = {HX_ADDR_A, A2, A3, NULL};
	static const char *const second[] = {A2, NULL};
	static const char *const third[] = {A3, NULL};
	struct hx_net *n = up(state, NULL, both);

	hx_set_local(n, HX_A, second);
	assert_int_equal(n->nq, 1);
	hx_set_local(n, HX_A, third);
	hx_settle(n, 3000);
	assert_true(hx_is_host(ike_sa_local(hx_sa(n, HX_A)), A3));
	assert_true(hx_is_host(ike_sa_remote(hx_sa(n, HX_B)), A3));
}

/* Update vs IKE rekey: the update waits and goes on the new SA. */
static void test_update_vs_rekey(void **state)
{
	static const char *const both[] = {HX_ADDR_A, A2, NULL};
	static const char *const moved[] = {A2, NULL};
	struct hx_net *n = up(state, NULL, both);
	uint64_t old = hx_sa(n, HX_A)->serial;

	assert_int_equal(ike_rekey_ike(hx_ike(n, HX_A), HX_CONN), 0);
	hx_set_local(n, HX_A, moved);
	hx_settle(n, 3000);
	assert_true(hx_sa(n, HX_A)->serial != old);
	assert_true(hx_is_host(ike_sa_remote(hx_sa(n, HX_B)), A2));
	assert_true(hx_is_host(ike_sa_local(hx_sa(n, HX_A)), A2));
	hx_assert_ike_up(n);
}

/* Update vs delete: our delete waits for the update's answer, then both go. */
static void test_update_vs_delete(void **state)
{
	static const char *const moved[] = {A2, NULL};
	struct hx_net *n = up(state, NULL, NULL);

	hx_set_local(n, HX_A, moved);
	assert_int_equal(n->nq, 1); /* the update is out */
	assert_int_equal(ike_down(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(n->nq, 1); /* the delete waits its turn */
	hx_settle(n, 3000);
	assert_int_equal(hx_count_sas(n, HX_A), 0);
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	assert_int_equal(n->p[HX_A].n_installed, 0);
	assert_int_equal(n->p[HX_B].n_installed, 0);
}

/* Update vs Child rekey: the rekey goes on as it was, the update after it,
 * and the rekeyed Child SA ends on the new path on both sides. */
static void test_update_vs_child_rekey(void **state)
{
	static const char *const both[] = {HX_ADDR_A, A2, NULL};
	static const char *const moved[] = {A2, NULL};
	struct hx_net *n = up(state, NULL, both);
	uint32_t old_spi = n->p[HX_A].installed[0].spi_in;

	assert_int_equal(ike_rekey_child(hx_ike(n, HX_A), HX_CONN), 0);
	hx_set_local(n, HX_A, moved);
	hx_settle(n, 3000);
	assert_true(hx_is_host(ike_sa_remote(hx_sa(n, HX_B)), A2));
	assert_true(hx_is_host(ike_sa_local(hx_sa(n, HX_A)), A2));
	assert_int_equal(n->p[HX_A].n_installed, 1);
	assert_int_equal(n->p[HX_B].n_installed, 1);
	assert_true(n->p[HX_A].installed[0].spi_in != old_spi);
	hx_assert_one_child_pair(n);
}

/* The address-management draft's proxy case: a transport-mode SA whose
 * selectors are another host's stays where it is; the IKE SA moves. */
static void test_transport_proxy_stays(void **state)
{
	static const char *const moved[] = {A2, NULL};
	struct hx_conf ca = {.mobike = true, .mode = "transport"};
	struct hx_conf cb = {.mobike = true, .mode = "transport"};
	struct hx_net *n = hx_new(&ca, &cb);
	static const char *const one[] = {HX_ADDR_A, NULL}, *const b_addrs[] = {HX_ADDR_B, NULL};

	*state = n;
	hx_alias(n, A2, HX_A);
	hx_set_local(n, HX_A, one);
	hx_set_local(n, HX_B, b_addrs);
	hx_establish(n);
	hx_set_local(n, HX_A, moved);
	hx_settle(n, 3000);
	assert_true(hx_is_host(ike_sa_local(hx_sa(n, HX_A)), A2));
	assert_true(hx_is_host(ike_sa_remote(hx_sa(n, HX_B)), A2));
	/* 10.1.0.0/16 <-> 10.2.0.0/16 is not the IKE peer: no Child SA moved. */
	assert_int_equal(n->p[HX_A].n_moved, 0);
	assert_int_equal(n->p[HX_B].n_moved, 0);
}

/* 3.8: a NAT appears on the new path: b sees it in the update's NAT-D,
 * checks the mapped address, and its SA follows it with UDP encapsulation;
 * when a moves back without the NAT, b follows again. */
static void test_nat_appears_and_goes(void **state)
{
	static const char *const moved[] = {A2, NULL};
	static const char *const back[] = {HX_ADDR_A, NULL};
	struct hx_net *n = up(state, NULL, NULL);

	n->nat = true;
	hx_set_local(n, HX_A, moved);
	hx_settle(n, 3000);
	assert_true(hx_is_host(ike_sa_remote(hx_sa(n, HX_B)), HX_ADDR_NAT));
	assert_int_equal(hx_port(ike_sa_remote(hx_sa(n, HX_B))), HX_NAT_PORT_4500);
	assert_true(ike_sa_natt(hx_sa(n, HX_B)));
	assert_true(b_json_has(n, "\"mobike_rr_checks\":1"));
	n->nat = false;
	hx_set_local(n, HX_A, back);
	hx_settle(n, 3000);
	assert_true(hx_is_host(ike_sa_remote(hx_sa(n, HX_B)), HX_ADDR_A));
	assert_int_equal(hx_port(ike_sa_remote(hx_sa(n, HX_B))), 4500);
	assert_int_equal(ike_sa_state(hx_sa(n, HX_B)), IKE_S_ESTABLISHED);
}

/* 3.5, 3.6: the responder's address goes; it moves itself and says so
 * from its new address, and the initiator follows with an update. */
static void test_responder_moves(void **state)
{
	static const char *const b_new[] = {"192.0.2.22", NULL};
	struct hx_net *n = up(state, NULL, NULL);

	hx_alias(n, "192.0.2.22", HX_B);
	hx_set_local(n, HX_B, b_new);
	hx_settle(n, 3000);
	assert_true(hx_is_host(ike_sa_local(hx_sa(n, HX_B)), "192.0.2.22"));
	assert_true(hx_is_host(ike_sa_remote(hx_sa(n, HX_A)), "192.0.2.22"));
	assert_int_equal(ike_sa_state(hx_sa(n, HX_A)), IKE_S_ESTABLISHED);
}

/* 3.6: a new address with the path unchanged is still announced. */
static void test_new_address_announced(void **state)
{
	static const char *const more[] = {HX_ADDR_A, A2, NULL};
	struct hx_net *n = up(state, NULL, NULL);

	assert_false(b_json_has(n, "\"address\":\"192.0.2.11\""));
	hx_set_local(n, HX_A, more);
	assert_int_equal(n->nq, 1);
	assert_true(hx_has_notify(n, 0, IKEV2_N_ADDITIONAL_IP4_ADDRESS));
	assert_false(hx_has_notify(n, 0, IKEV2_N_UPDATE_SA_ADDRESSES));
	hx_settle(n, 1000);
	assert_true(b_json_has(n, "\"address\":\"192.0.2.11\""));
	assert_true(hx_is_host(ike_sa_remote(hx_sa(n, HX_B)), HX_ADDR_A));
}

static size_t count_notify(struct hx_net *n, size_t i, uint16_t type)
{
	struct wire_msg m;
	size_t k = 0;

	assert_int_equal(hx_decode(n, i, &m), 0);
	for (size_t j = 0; j < m.npayloads; j++)
		if (m.payloads[j].type == IKEV2_PL_N && m.payloads[j].u.notify.type == type)
			k++;
	wire_msg_free(&m);
	return k;
}

struct counter_q {
	const char *name;
	uint64_t v;
};

static void counter_fn(void *arg, const char *name, uint64_t v)
{
	struct counter_q *q = arg;

	if (!strcmp(name, q->name))
		q->v = v;
}

static uint64_t b_counter(struct hx_net *n, const char *name)
{
	struct counter_q q = {name, UINT64_MAX};

	ike_ext_counters(hx_ike(n, HX_B), counter_fn, &q);
	assert_int_not_equal(q.v, UINT64_MAX);
	return q.v;
}

/*
 * 3.6 is about the additional addresses: b's set reported for the first
 * time after the SA came up (a gateway's address monitor answering after
 * its first clients, as after a restart) is no news when the additional
 * set it gives this SA is the same (empty); a second address is.
 */
static void test_first_report_not_news(void **state)
{
	static const char *const one[] = {HX_ADDR_A, NULL};
	static const char *const b1[] = {HX_ADDR_B, NULL};
	static const char *const b2[] = {HX_ADDR_B, "192.0.2.22", NULL};
	struct hx_net *n = hx_new(&mob, &mob);

	*state = n;
	hx_alias(n, "192.0.2.22", HX_B);
	hx_set_local(n, HX_A, one);
	hx_establish(n); /* b has reported no address yet */
	hx_set_local(n, HX_B, b1);
	hx_settle(n, 100);
	assert_int_equal(n->nq, 0);
	assert_int_equal(b_counter(n, "mobike_announcements"), 0);
	hx_set_local(n, HX_B, b2);
	assert_int_equal(n->nq, 1);
	assert_true(hx_has_notify(n, 0, IKEV2_N_ADDITIONAL_IP4_ADDRESS));
	assert_int_equal(b_counter(n, "mobike_announcements"), 1);
}

/*
 * 3.6 at mobike_announce_rate (here 1 per second): the first change of b's
 * set is announced at once (a second's worth of budget); the next one,
 * 100 ms later, waits for its turn, and goes out with the set as it is
 * then. An SA whose other exchange is out waits for that to end.
 */
static void test_announcements_paced(void **state)
{
	static const struct hx_conf slow = {.mobike = true, .globals = "mobike_announce_rate = 1;"};
	static const char *const one[] = {HX_ADDR_A, NULL};
	static const char *const b1[] = {HX_ADDR_B, NULL};
	static const char *const b2[] = {HX_ADDR_B, "192.0.2.22", NULL};
	static const char *const b3[] = {HX_ADDR_B, "192.0.2.22", "192.0.2.23", NULL};
	struct hx_net *n = hx_new(&mob, &slow);

	*state = n;
	hx_alias(n, "192.0.2.22", HX_B);
	hx_alias(n, "192.0.2.23", HX_B);
	hx_set_local(n, HX_A, one);
	hx_set_local(n, HX_B, b1);
	hx_establish(n);

	hx_set_local(n, HX_B, b2);
	assert_int_equal(n->nq, 1); /* <-- HDR, SK {N(ADDITIONAL_IP4_ADDRESS)} */
	hx_expect(n, 0, HX_B, IKEV2_EXCH_INFORMATIONAL, false);
	assert_true(hx_has_notify(n, 0, IKEV2_N_ADDITIONAL_IP4_ADDRESS));
	assert_int_equal(b_counter(n, "mobike_announcements"), 1);

	/* b's set changes again while that exchange is out: it waits. */
	hx_advance(n, 100);
	hx_set_local(n, HX_B, b3);
	assert_int_equal(n->nq, 1);
	assert_true(b_json_has(n, "\"announce_waiting\":true"));
	assert_int_equal(hx_deliver_all(n, 4), 2); /* the first one, answered */
	hx_advance(n, 500);
	assert_int_equal(n->nq, 0); /* 0.6 s of budget: not yet */
	assert_int_equal(b_counter(n, "mobike_announcements"), 1);
	hx_advance(n, 500);
	assert_int_equal(n->nq, 1); /* its turn, with both of b's other addresses */
	hx_expect(n, 0, HX_B, IKEV2_EXCH_INFORMATIONAL, false);
	assert_int_equal(count_notify(n, 0, IKEV2_N_ADDITIONAL_IP4_ADDRESS), 2);
	assert_int_equal(b_counter(n, "mobike_announcements"), 2);
	assert_true(b_json_has(n, "\"announce_waiting\":false"));
	hx_settle(n, 1000);
	assert_int_equal(ike_sa_state(hx_sa(n, HX_A)), IKE_S_ESTABLISHED);
}

/* Update while a redirect is pending (RFC 5685 5 + RFC 4555 3.5): b asks
 * a to go to c while a's own update is out; each request is answered on
 * its own, a's update moves the old SA, and a then moves to c, make
 * before break, with the old SA deleted. */
static void test_update_vs_redirect(void **state)
{
	static const char *const one[] = {HX_ADDR_A, NULL}, *const moved[] = {A2, NULL};
	static const char *const b_addrs[] = {HX_ADDR_B, NULL}, *const c_addrs[] = {HX_ADDR_C,
	                                                                            NULL};
	struct hx_conf gw = {.mobike = true, .remote = "%any"};
	struct hx_net *n = hx_new3(&mob, &gw, &gw);
	struct ike_redirect_sel all = {.all = true};

	*state = n;
	hx_alias(n, A2, HX_A);
	hx_set_local(n, HX_A, one);
	hx_set_local(n, HX_B, b_addrs);
	hx_set_local(n, HX_C, c_addrs);
	hx_establish(n);
	hx_set_local(n, HX_A, moved); /* a's update is out */
	assert_int_equal(ike_redirect(hx_ike(n, HX_B), &all, HX_ADDR_C), 1);
	assert_int_equal(n->nq, 2); /* and b's REDIRECT */
	hx_settle(n, 5000);
	assert_int_equal(hx_count_sas(n, HX_A), 1);
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	assert_true(hx_is_host(ike_sa_remote(hx_sa(n, HX_A)), HX_ADDR_C));
	assert_int_equal(ike_sa_state(hx_sa(n, HX_C)), IKE_S_ESTABLISHED);
	assert_int_equal(n->p[HX_A].n_installed, 1);
	assert_int_equal(n->p[HX_C].n_installed, 1);
	assert_int_equal(n->p[HX_B].n_installed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_negotiated, hx_teardown),
	    cmocka_unit_test_teardown(test_not_negotiated, hx_teardown),
	    cmocka_unit_test_teardown(test_move_with_rr, hx_teardown),
	    cmocka_unit_test_teardown(test_move_announced, hx_teardown),
	    cmocka_unit_test_teardown(test_forged_source, hx_teardown),
	    cmocka_unit_test_teardown(test_no_nats, hx_teardown),
	    cmocka_unit_test_teardown(test_path_dies, hx_teardown),
	    cmocka_unit_test_teardown(test_update_vs_update, hx_teardown),
	    cmocka_unit_test_teardown(test_update_vs_rekey, hx_teardown),
	    cmocka_unit_test_teardown(test_update_vs_delete, hx_teardown),
	    cmocka_unit_test_teardown(test_update_vs_child_rekey, hx_teardown),
	    cmocka_unit_test_teardown(test_transport_proxy_stays, hx_teardown),
	    cmocka_unit_test_teardown(test_nat_appears_and_goes, hx_teardown),
	    cmocka_unit_test_teardown(test_responder_moves, hx_teardown),
	    cmocka_unit_test_teardown(test_new_address_announced, hx_teardown),
	    cmocka_unit_test_teardown(test_announcements_paced, hx_teardown),
	    cmocka_unit_test_teardown(test_first_report_not_news, hx_teardown),
	    cmocka_unit_test_teardown(test_update_vs_redirect, hx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
