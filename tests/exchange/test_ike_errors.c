/*
 * Exchange tests of the error paths of the initial exchanges: no common
 * IKE proposal (RFC 7296 2.7, 3.10.1 NO_PROPOSAL_CHOSEN), authentication
 * failures (2.15, 2.21.2 AUTHENTICATION_FAILED) for a PSK mismatch and an
 * unexpected responder identity, and Child SA failures inside IKE_AUTH that
 * leave the IKE SA up (1.2, 2.21.3: NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE).
 */
#include "harness.h"

/* Nothing is installed, no SA is left, and the network stays quiet. */
static void assert_nothing_left(struct hx_net *n)
{
	hx_settle(n, 120000);
	assert_int_equal(hx_count_sas(n, HX_A), 0);
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	assert_int_equal(n->p[HX_A].n_installed, 0);
	assert_int_equal(n->p[HX_B].n_installed, 0);
	assert_int_equal(n->nq, 0);
}

/* RFC 7296 2.7: no common IKE proposal. */
static void test_no_proposal_chosen(void **state)
{
	struct hx_conf ca = {.ike = "\"aes256gcm16-prfsha256-x25519\""};
	struct hx_conf cb = {.ike = "\"aes128-sha256-modp3072\""};
	struct hx_net *n = hx_new(&ca, &cb);
	struct wire_msg m;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	/* HDR, SAi1, KEi, Ni --> */
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, N(NO_PROPOSAL_CHOSEN)   (unprotected, nothing else) */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_SA_INIT, true);
	assert_int_equal(hx_decode(n, 0, &m), 0);
	assert_non_null(wire_msg_find_notify(&m, IKEV2_N_NO_PROPOSAL_CHOSEN));
	assert_null(wire_msg_find(&m, IKEV2_PL_SA, NULL));
	assert_null(wire_msg_find(&m, IKEV2_PL_KE, NULL));
	wire_msg_free(&m);
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	assert_int_equal(hx_deliver(n), 0);
	/* a gives up at once: no retransmission, no new attempt. */
	assert_int_equal(hx_count_sas(n, HX_A), 0);
	assert_nothing_left(n);
	assert_int_equal(hx_stats(n, HX_A)->retransmits, 0);
}

/* RFC 7296 2.15, 2.21.2: b cannot verify a's AUTH (different PSKs). */
static void test_auth_failed_psk(void **state)
{
	struct hx_conf cb = {.psk = "a different secret of reasonable length"};
	struct hx_net *n = hx_new(NULL, &cb);

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	/* HDR, SAi1, KEi, Ni -->  <-- HDR, SAr1, KEr, Nr */
	assert_int_equal(hx_deliver_all(n, 2), 2);
	/* HDR, SK {IDi, AUTH, SAi2, TSi, TSr} --> */
	hx_expect(n, 0, HX_A, IKEV2_EXCH_IKE_AUTH, false);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SK {N(AUTHENTICATION_FAILED)}   and b forgets the SA */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_AUTH, true);
	assert_true(hx_has_notify(n, 0, IKEV2_N_AUTHENTICATION_FAILED));
	assert_false(hx_has_payload(n, 0, IKEV2_PL_AUTH));
	assert_false(hx_has_payload(n, 0, IKEV2_PL_SA));
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	assert_int_equal(n->p[HX_B].n_child_up, 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(hx_count_sas(n, HX_A), 0);
	assert_int_equal(n->p[HX_A].n_child_up, 0);
	assert_int_equal(hx_stats(n, HX_A)->sa_failed, 1);
	assert_int_equal(hx_stats(n, HX_B)->sa_failed, 1);
	assert_int_equal(hx_stats(n, HX_A)->sa_established, 0);
	assert_nothing_left(n);
}

/* a expects b to be "c.example" but b is "b.example". Whoever notices
 * (b when a sends IDr, else a when it sees IDr) fails the exchange
 * (2.15, 2.21.2), and both ends are left without an SA. */
static void test_wrong_idr(void **state)
{
	struct hx_conf ca = {.remote_id = "c.example"};
	struct hx_net *n = hx_new(&ca, NULL);

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	/* HDR, SAi1, KEi, Ni -->  <-- HDR, SAr1, KEr, Nr */
	assert_int_equal(hx_deliver_all(n, 2), 2);
	/* HDR, SK {IDi, IDr(c.example)?, AUTH, SAi2, TSi, TSr} --> */
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SK {N(AUTHENTICATION_FAILED)}  or  <-- HDR, SK {IDr(b.example), AUTH, ...} */
	assert_int_equal(n->nq, 1);
	if (hx_has_notify(n, 0, IKEV2_N_AUTHENTICATION_FAILED)) {
		assert_int_equal(hx_count_sas(n, HX_B), 0);
	} else {
		/* a rejects IDr; it may tell b in a separate INFORMATIONAL (2.21.2):
		 * HDR, SK {N(AUTHENTICATION_FAILED)} --> */
		assert_int_equal(hx_deliver(n), 0);
		assert_int_equal(hx_count_state(n, HX_A, IKE_S_ESTABLISHED, NULL), 0);
	}
	hx_settle(n, 5000);
	assert_int_equal(n->p[HX_A].n_installed, 0);
	assert_int_equal(hx_count_state(n, HX_A, IKE_S_ESTABLISHED, NULL), 0);
	assert_int_equal(hx_stats(n, HX_A)->sa_established, 0);
	/* b must not keep an SA whose peer refused it: without the notify b
	 * would hold an ESTABLISHED SA and a Child SA that nobody uses. */
	assert_int_equal(hx_count_state(n, HX_B, IKE_S_ESTABLISHED, NULL), 0);
	assert_int_equal(n->p[HX_B].n_installed, 0);
	assert_nothing_left(n);
}

/* a's remote_id is b's real identity but b's configured remote_id for a
 * does not match a's IDi: b refuses (2.15). */
static void test_wrong_idi(void **state)
{
	struct hx_conf cb = {.remote_id = "z.example"};
	struct hx_net *n = hx_new(NULL, &cb);

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver_all(n, 3), 3);
	/* <-- HDR, SK {N(AUTHENTICATION_FAILED)} */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_AUTH, true);
	assert_true(hx_has_notify(n, 0, IKEV2_N_AUTHENTICATION_FAILED));
	assert_int_equal(hx_deliver(n), 0);
	assert_nothing_left(n);
}

/* The IKE SA comes up; the Child SA is refused inside IKE_AUTH. */
static void child_refused(void **state, const struct hx_conf *cb, uint16_t notify)
{
	struct hx_net *n = hx_new(NULL, cb);

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	/* HDR, SAi1, KEi, Ni -->  <-- HDR, SAr1, KEr, Nr */
	assert_int_equal(hx_deliver_all(n, 2), 2);
	/* HDR, SK {IDi, AUTH, SAi2, TSi, TSr} --> */
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SK {IDr, AUTH, N(error)}   (no SAr2, TSi, TSr: 1.2, 2.21.3) */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_AUTH, true);
	assert_true(hx_has_payload(n, 0, IKEV2_PL_AUTH));
	assert_true(hx_has_notify(n, 0, notify));
	assert_false(hx_has_payload(n, 0, IKEV2_PL_SA));
	assert_false(hx_has_payload(n, 0, IKEV2_PL_TSI));
	assert_false(hx_has_payload(n, 0, IKEV2_PL_TSR));
	assert_int_equal(hx_deliver(n), 0);
	hx_assert_ike_up(n);
	assert_int_equal(hx_count_children(hx_sa(n, HX_A)), 0);
	assert_int_equal(hx_count_children(hx_sa(n, HX_B)), 0);
	assert_int_equal(n->p[HX_A].n_child_up, 0);
	assert_int_equal(n->p[HX_B].n_child_up, 0);
	/* The IKE SA is usable: HDR, SK {} -->  <-- HDR, SK {} */
	assert_int_equal(ike_dpd_now(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver_all(n, 4), 2);
	hx_assert_ike_up(n);
	hx_advance(n, 10000);
	assert_int_equal(n->nq, 0);
}

static void test_child_no_proposal(void **state)
{
	struct hx_conf cb = {.esp = "\"aes128-sha256\""};

	child_refused(state, &cb, IKEV2_N_NO_PROPOSAL_CHOSEN);
}

static void test_child_ts_unacceptable(void **state)
{
	struct hx_conf cb = {.remote_ts = "\"10.9.0.0/16\""};

	child_refused(state, &cb, IKEV2_N_TS_UNACCEPTABLE);
}

/* 2.9: b is configured wider than a asks; b narrows to what a proposed and
 * never widens it, so both install a's selectors. */
static void test_child_ts_not_widened(void **state)
{
	struct hx_conf cb = {.local_ts = "\"10.0.0.0/8\"", .remote_ts = "\"10.0.0.0/8\""};
	struct hx_net *n = hx_new(NULL, &cb);
	const struct hx_child *a;
	static const uint8_t lo[4] = {10, 2, 0, 0}, hi[4] = {10, 2, 255, 255};

	*state = n;
	hx_establish(n);
	a = &n->p[HX_A].installed[0];
	assert_int_equal(a->ts_remote.n, 1);
	assert_memory_equal(a->ts_remote.ts[0].start, lo, 4);
	assert_memory_equal(a->ts_remote.ts[0].end, hi, 4);
	assert_int_equal(n->p[HX_B].installed[0].ts_local.n, 1);
	assert_memory_equal(n->p[HX_B].installed[0].ts_local.ts[0].start, lo, 4);
	assert_memory_equal(n->p[HX_B].installed[0].ts_local.ts[0].end, hi, 4);
}

/*
 * a's data plane refuses the Child SA (a full SPD, too many selectors): a
 * deletes it towards b (1.4.1), so b does not keep sending into an SA that
 * a does not have. Without the delete b would keep its child installed.
 */
static void test_child_install_failed_initiator(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);

	*state = n;
	n->p[HX_A].fail_child_up = 1;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	hx_settle(n, 2000);
	hx_assert_ike_up(n);
	assert_int_equal(n->p[HX_A].n_installed, 0);
	assert_int_equal(n->p[HX_B].n_installed, 0);
	assert_int_equal(n->p[HX_B].n_child_up, 1);
	assert_int_equal(n->p[HX_B].n_child_down, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_no_proposal_chosen, hx_teardown),
	    cmocka_unit_test_teardown(test_auth_failed_psk, hx_teardown),
	    cmocka_unit_test_teardown(test_wrong_idr, hx_teardown),
	    cmocka_unit_test_teardown(test_wrong_idi, hx_teardown),
	    cmocka_unit_test_teardown(test_child_no_proposal, hx_teardown),
	    cmocka_unit_test_teardown(test_child_ts_unacceptable, hx_teardown),
	    cmocka_unit_test_teardown(test_child_ts_not_widened, hx_teardown),
	    cmocka_unit_test_teardown(test_child_install_failed_initiator, hx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
