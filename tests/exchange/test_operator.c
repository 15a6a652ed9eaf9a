/*
 * Exchange tests of the operator's view of a connection (ike_conn_state,
 * rikectl list-conns, up and down) and of a reload's replacement of a
 * changed connection (ike_replace: the old SA deleted towards the peer,
 * RFC 7296 1.4.1, and a new one negotiated).
 */
#include "harness.h"

static enum ike_conn_state st(struct hx_net *n, int side, const char **why)
{
	const char *w;

	return ike_conn_state(hx_ike(n, side), HX_CONN, why ? why : &w);
}

/* configured -> connecting -> established -> deleting -> configured */
static void test_states(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	const char *why;

	*state = n;
	assert_int_equal(st(n, HX_A, &why), IKE_CONN_CONFIGURED);
	assert_null(why);
	/* HDR, SAi1, KEi, Ni --> (not delivered yet) */
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(st(n, HX_A, NULL), IKE_CONN_CONNECTING);
	assert_int_equal(hx_deliver_all(n, 20), 4);
	assert_int_equal(st(n, HX_A, NULL), IKE_CONN_ESTABLISHED);
	assert_int_equal(st(n, HX_B, NULL), IKE_CONN_ESTABLISHED);
	assert_string_equal(ike_conn_state_name(IKE_CONN_ESTABLISHED), "established");
	/* HDR, SK {D} --> : deleting until the answer */
	assert_int_equal(ike_down(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(st(n, HX_A, NULL), IKE_CONN_DELETING);
	hx_settle(n, 2000);
	/* taken down on purpose: no error remembered */
	assert_int_equal(st(n, HX_A, &why), IKE_CONN_CONFIGURED);
	assert_null(why);
	/* nor is a Delete from the peer a failure */
	assert_int_equal(st(n, HX_B, &why), IKE_CONN_CONFIGURED);
	assert_null(why);
}

/* An attempt that gets no answer (2.4) leaves the connection failed with
 * the reason; a new attempt clears it, an established SA too. */
static void test_failed(void **state)
{
	struct hx_conf ca = {.retransmit = "timeout = 0.5; base = 1.0; tries = 2;"};
	struct hx_net *n = hx_new(&ca, NULL);
	const char *why;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	for (int i = 0; i < 100 && hx_count_sas(n, HX_A); i++) {
		while (n->nq)
			hx_drop(n);
		hx_advance(n, 100);
	}
	assert_int_equal(st(n, HX_A, &why), IKE_CONN_FAILED);
	assert_non_null(why);
	assert_string_equal(ike_conn_state_name(IKE_CONN_FAILED), "failed");
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(st(n, HX_A, &why), IKE_CONN_CONNECTING);
	assert_null(why);
	hx_settle(n, 2000);
	assert_int_equal(st(n, HX_A, &why), IKE_CONN_ESTABLISHED);
	assert_null(why);
	/* HDR, SK {} --> lost until a gives up: the peer is dead (2.4) */
	assert_int_equal(ike_dpd_now(hx_ike(n, HX_A), HX_CONN), 0);
	for (int i = 0; i < 300 && hx_count_sas(n, HX_A); i++) {
		while (n->nq)
			hx_drop(n);
		hx_advance(n, 100);
	}
	assert_int_equal(st(n, HX_A, &why), IKE_CONN_FAILED);
	assert_non_null(why);
}

/* ike_replace (reload of a changed connection): the established SA is
 * deleted towards the peer; with start "wait" no new one is made. */
static void test_replace(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	uint64_t serial;

	*state = n;
	hx_establish(n);
	serial = hx_sa(n, HX_A)->serial;
	assert_int_equal(ike_replace(hx_ike(n, HX_A), "nosuch"), -1);
	assert_int_equal(ike_replace(hx_ike(n, HX_A), HX_CONN), 0);
	/* HDR, SK {D} --> */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_A, IKEV2_EXCH_INFORMATIONAL, false);
	hx_settle(n, 2000);
	assert_null(sa_lookup_serial(hx_ike(n, HX_A), serial));
	assert_int_equal(hx_count_sas(n, HX_A), 0);
	assert_int_equal(hx_count_sas(n, HX_B), 0); /* the peer deleted it too */
	assert_int_equal(st(n, HX_A, NULL), IKE_CONN_CONFIGURED);
	assert_int_equal(n->p[HX_A].n_installed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_states, hx_teardown),
	    cmocka_unit_test_teardown(test_failed, hx_teardown),
	    cmocka_unit_test_teardown(test_replace, hx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
