/*
 * Exchange tests with real crypto worker threads (src/ike/work.c): the key
 * exchanges of IKE_SA_INIT and CREATE_CHILD_SA run off the engine's thread
 * and their results come back through the engine's fd, which the harness
 * polls (hx_pump). Datagrams still move one by one, so the order of events
 * stays fixed; a test that wants something to happen while a job is out
 * delivers without pumping and collects the results itself.
 */
#include "harness.h"

#define PFS_ESP "\"aes256gcm16-x25519\""

static struct hx_net *two_workers(void **state, const char *globals)
{
	struct hx_conf c = {.workers = 2, .esp = PFS_ESP, .globals = globals};
	struct hx_net *n = hx_new(&c, &c);

	*state = n;
	assert_int_equal(ike_work_threads(hx_ike(n, HX_A)), 2);
	assert_true(ike_work_fd(hx_ike(n, HX_B)) >= 0);
	return n;
}

/* Without workers (the harness's default) there is no fd and no thread. */
static void test_inline_has_no_pool(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);

	*state = n;
	assert_int_equal(ike_work_fd(hx_ike(n, HX_A)), -1);
	assert_int_equal(ike_work_threads(hx_ike(n, HX_A)), 0);
	hx_establish(n);
	/* a: KEi, g^ir; b: KEr with g^ir: each a job, run inline. */
	assert_int_equal(hx_stats(n, HX_A)->work_jobs, 2);
	assert_int_equal(hx_stats(n, HX_B)->work_jobs, 1);
}

/*
 * RFC 7296 1.2, 1.3.2, 1.3.3 with the key exchanges on workers: a full
 * handshake, a Child SA rekey with PFS and an IKE SA rekey, each side
 * initiating one; keys agree (the data planes match) and no job is lost.
 */
static void test_handshake_and_rekeys(void **state)
{
	struct hx_net *n = two_workers(state, NULL);
	uint32_t old_in = 0;

	hx_establish(n);
	assert_int_equal(hx_stats(n, HX_A)->work_jobs, 2);
	assert_int_equal(hx_stats(n, HX_B)->work_jobs, 1);
	old_in = n->p[HX_A].installed[0].spi_in;

	/* HDR, SK {N(REKEY_SA), SA, Ni, KEi, TSi, TSr} -->  <-- HDR, SK {SA, Nr, KEr, TSi, TSr} */
	assert_int_equal(ike_rekey_child(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(n->nq, 0); /* KEi is being made */
	hx_settle(n, 5000);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	assert_int_not_equal(n->p[HX_A].installed[0].spi_in, old_in);

	/* HDR, SK {SA, Ni, KEi} -->  <-- HDR, SK {SA, Nr, KEr}, then the old SA's delete */
	assert_int_equal(ike_rekey_ike(hx_ike(n, HX_B), HX_CONN), 0);
	hx_settle(n, 5000);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	assert_int_equal(hx_count_sas(n, HX_A), 1);
	assert_int_equal(hx_count_sas(n, HX_B), 1);
	assert_true(hx_sa(n, HX_B)->initiator); /* 2.18: the rekey's initiator */
	for (int s = 0; s < 2; s++) {
		/* IKE_SA_INIT: a 2 (KEi, g^ir), b 1; a's Child rekey: a 2, b 1;
		 * b's IKE rekey: b 2, a 1. */
		assert_int_equal(hx_stats(n, s)->work_jobs, s == HX_A ? 5 : 4);
		assert_int_equal(hx_stats(n, s)->work_stale, 0);
		assert_int_equal(hx_stats(n, s)->drop_work_busy, 0);
		assert_int_equal(ike_work_outstanding(hx_ike(n, s)), 0);
		hx_assert_dp_matches(n, s);
	}
}

/*
 * 2.1 while b's answer is computed: a retransmitted IKE_SA_INIT request
 * starts no second job and gets no answer (counted); the answer goes out
 * once, when the job is back; a retransmission after that gets the stored
 * response.
 */
static void test_retransmit_while_pending(void **state)
{
	struct hx_net *n = two_workers(state, NULL);

	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	hx_pump(n); /* a's KEi */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_A, IKEV2_EXCH_IKE_SA_INIT, false);
	hx_dup(n, 0);
	hx_dup(n, 0);
	assert_int_equal(hx_deliver_nopump(n), 0);
	assert_int_equal(ike_work_outstanding(hx_ike(n, HX_B)), 1);
	assert_int_equal(hx_deliver_nopump(n), 0); /* the retransmission */
	assert_int_equal(hx_stats(n, HX_B)->drop_work_pending, 1);
	assert_int_equal(hx_stats(n, HX_B)->work_jobs, 1);
	assert_int_equal(n->nq, 1); /* only the third copy: nothing from b yet */
	hx_pump_side(n, HX_B);
	/* <-- HDR, SAr1, KEr, Nr */
	assert_int_equal(n->nq, 2);
	hx_expect(n, 1, HX_B, IKEV2_EXCH_IKE_SA_INIT, true);
	assert_int_equal(hx_deliver_at_nopump(n, 0), 0); /* retransmitted after the answer */
	assert_int_equal(hx_stats(n, HX_B)->resent_responses, 1);
	assert_int_equal(hx_stats(n, HX_B)->work_jobs, 1);
	assert_int_equal(n->nq, 2);
	hx_expect(n, 1, HX_B, IKEV2_EXCH_IKE_SA_INIT, true);
	/* a takes the first answer; the copy is a duplicate it drops. */
	hx_settle(n, 5000);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	assert_int_equal(hx_stats(n, HX_B)->work_stale, 0);
}

/*
 * RFC 8019 5: b holds one half-open SA at most. A second IKE_SA_INIT (other
 * SPIi) evicts the first while its job is out: that result is thrown away
 * (counted, nothing touches the freed SA: ASan runs this suite), and only
 * the second request is answered.
 */
static void test_evicted_while_pending(void **state)
{
	struct hx_net *n = two_workers(state, "half_open_max = 1;");
	struct wire_hdr h0, h1;

	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	hx_pump(n);
	assert_int_equal(n->nq, 1);
	hx_dup(n, 0);
	hx_tamper(n, 1, 0, 0x5a); /* another SPIi: another half-open SA */
	hx_hdr(n, 0, &h0);
	hx_hdr(n, 1, &h1);
	assert_int_equal(hx_deliver_nopump(n), 0);
	assert_int_equal(hx_deliver_nopump(n), 0);
	assert_int_equal(hx_stats(n, HX_B)->half_open_evicted, 1);
	assert_int_equal(ike_work_outstanding(hx_ike(n, HX_B)), 2);
	hx_pump_side(n, HX_B);
	assert_int_equal(hx_stats(n, HX_B)->work_stale, 1);
	assert_int_equal(hx_count_sas(n, HX_B), 1);
	/* <-- HDR, SAr1, KEr, Nr to the second request only */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_SA_INIT, true);
	{
		struct wire_hdr r;

		hx_hdr(n, 0, &r);
		assert_memory_equal(r.spi_i, h1.spi_i, 8);
		assert_memory_not_equal(r.spi_i, h0.spi_i, 8);
	}
}

/* The same when the half-open SA expires (RFC 8019 4.1) while its job is out. */
static void test_expired_while_pending(void **state)
{
	struct hx_net *n = two_workers(state, NULL);

	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	hx_pump(n);
	assert_int_equal(hx_deliver_nopump(n), 0);
	assert_int_equal(hx_count_sas(n, HX_B), 1);
	n->now += 31000; /* past half_open_timeout (30 s) */
	ike_run_timers(hx_ike(n, HX_B));
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	assert_int_equal(hx_stats(n, HX_B)->half_open_expired, 1);
	hx_pump_side(n, HX_B);
	assert_int_equal(hx_stats(n, HX_B)->work_stale, 1);
	assert_int_equal(n->nq, 0); /* nothing answered for the gone SA */
}

/*
 * 2.1 for CREATE_CHILD_SA: while b computes its answer to a's Child rekey
 * (PFS), a's retransmission is dropped (counted) and starts no second job;
 * after the answer, a retransmission gets the cached response.
 */
static void test_ccsa_retransmit_while_pending(void **state)
{
	struct hx_net *n = two_workers(state, NULL);
	uint64_t jobs;

	hx_establish(n);
	jobs = hx_stats(n, HX_B)->work_jobs;
	assert_int_equal(ike_rekey_child(hx_ike(n, HX_A), HX_CONN), 0);
	hx_pump(n);
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_A, IKEV2_EXCH_CREATE_CHILD_SA, false);
	hx_dup(n, 0);
	hx_dup(n, 0);
	assert_int_equal(hx_deliver_nopump(n), 0);
	assert_int_equal(ike_work_outstanding(hx_ike(n, HX_B)), 1);
	assert_int_equal(hx_deliver_nopump(n), 0);
	assert_int_equal(hx_stats(n, HX_B)->drop_work_pending, 1);
	assert_int_equal(n->nq, 1);
	hx_pump_side(n, HX_B);
	/* <-- HDR, SK {SA, Nr, KEr, TSi, TSr} */
	assert_int_equal(n->nq, 2);
	hx_expect(n, 1, HX_B, IKEV2_EXCH_CREATE_CHILD_SA, true);
	assert_true(hx_has_payload(n, 1, IKEV2_PL_KE));
	assert_int_equal(hx_deliver_at_nopump(n, 0), 0);
	assert_int_equal(hx_stats(n, HX_B)->resent_responses, 1);
	assert_int_equal(hx_stats(n, HX_B)->work_jobs, jobs + 1);
	hx_settle(n, 5000);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	hx_assert_dp_matches(n, HX_A);
	hx_assert_dp_matches(n, HX_B);
}

/* The IKE SA goes (an operator's delete) while its rekey's g^ir is computed:
 * the result is thrown away and nothing is sent for it. */
static void test_deleted_while_rekey_pending(void **state)
{
	struct hx_net *n = two_workers(state, NULL);
	struct ike_sa *old = NULL;

	hx_establish(n);
	assert_int_equal(ike_rekey_ike(hx_ike(n, HX_A), HX_CONN), 0);
	hx_pump(n);
	assert_int_equal(hx_deliver(n), 0);        /* b answers */
	assert_int_equal(hx_deliver_nopump(n), 0); /* a computes g^ir */
	assert_int_equal(ike_work_outstanding(hx_ike(n, HX_A)), 1);
	/* The SA cannot start its delete while the job is out; the peer is
	 * declared gone instead, which frees it at once. */
	assert_int_equal(hx_count_state(n, HX_A, IKE_S_ESTABLISHED, &old), 1);
	ike_peer_gone(hx_ike(n, HX_A), old, false, "test");
	ike_run_timers(hx_ike(n, HX_A)); /* reaps */
	hx_pump_side(n, HX_A);
	assert_int_equal(hx_stats(n, HX_A)->work_stale, 1);
}

/*
 * A reload removes the connection while b computes its answer to a's Child
 * rekey: the result is given up (counted) and b's Delete of the IKE SA
 * (queued by the reload, RFC 7296 1.4.1) goes out instead of an answer.
 */
static void test_conn_removed_while_pending(void **state)
{
	struct hx_net *n = two_workers(state, NULL);
	struct cfg empty;
	char err[256] = "";

	hx_establish(n);
	assert_int_equal(ike_rekey_child(hx_ike(n, HX_A), HX_CONN), 0);
	hx_pump(n);
	assert_int_equal(hx_deliver_nopump(n), 0);
	assert_int_equal(ike_work_outstanding(hx_ike(n, HX_B)), 1);
	assert_int_equal(cfg_load_string("riked = { crypto_workers = 2; };\nconnections = ( );\n",
	                                 "empty.conf", &empty, err, sizeof(err)),
	                 0);
	ike_reload(hx_ike(n, HX_B), &empty);
	assert_int_equal(n->nq, 0); /* the Delete waits for the job */
	hx_pump_side(n, HX_B);
	assert_int_equal(hx_stats(n, HX_B)->work_stale, 1);
	/* HDR, SK {D(IKE)} --> from b, not the CREATE_CHILD_SA response */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_INFORMATIONAL, false);
	assert_true(hx_has_payload(n, 0, IKEV2_PL_D));
	hx_settle(n, 5000);
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	ike_free(n->p[HX_B].ike); /* before the config it borrows */
	n->p[HX_B].ike = NULL;
	cfg_free(&empty);
}

/* ---- RFC 7296 2.12: the responder's key pair reused (riked.conf dh_reuse) ---- */

/* A brings a new IKE SA up; b's KEr of it into ke. */
static size_t up_taking_ker(struct hx_net *n, uint8_t *ke)
{
	struct wire_msg m;
	const struct wire_payload *p;
	size_t len;

	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	hx_pump(n);
	assert_int_equal(n->nq, 1); /* HDR, SAi1, KEi, Ni --> */
	assert_int_equal(hx_deliver(n), 0);
	hx_pump(n);
	assert_int_equal(n->nq, 1); /* <-- HDR, SAr1, KEr, Nr */
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_SA_INIT, true);
	assert_int_equal(hx_decode(n, 0, &m), 0);
	p = wire_msg_find(&m, IKEV2_PL_KE, NULL);
	assert_non_null(p);
	len = p->u.ke.len;
	assert_int_equal(len, 32); /* X25519 (RFC 8031) */
	memcpy(ke, p->u.ke.data, len);
	wire_msg_free(&m);
	hx_settle(n, 2000);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n); /* both derived the same keys from it */
	return len;
}

static void down(struct hx_net *n)
{
	assert_int_equal(ike_down(hx_ike(n, HX_A), HX_CONN), 0);
	hx_settle(n, 2000);
	assert_int_equal(hx_count_sas(n, HX_A), 0);
	assert_int_equal(hx_count_sas(n, HX_B), 0);
}

static bool b_keeps_a_key(struct hx_net *n)
{
	for (size_t i = 0; i < IKE_DH_KEEP; i++)
		if (hx_ike(n, HX_B)->dh_keep[i].dh)
			return true;
	return false;
}

static struct hx_net *reuse_net(void **state, const char *b_globals, unsigned workers)
{
	struct hx_conf a = {.ike = "\"aes256gcm16-prfsha256-x25519\"", .workers = workers};
	struct hx_conf b = a;
	struct hx_net *n;

	b.globals = b_globals;
	n = hx_new(&a, &b);
	*state = n;
	return n;
}

/* dh_reuse = 0 (the default): every IKE SA gets a new KEr, nothing is kept. */
static void test_dh_reuse_off(void **state)
{
	struct hx_net *n = reuse_net(state, NULL, 0);
	uint8_t k1[32], k2[32];

	up_taking_ker(n, k1);
	down(n);
	up_taking_ker(n, k2);
	assert_memory_not_equal(k1, k2, 32);
	assert_false(b_keeps_a_key(n));
	assert_int_equal(hx_stats(n, HX_B)->dh_reused, 0);
}

/*
 * dh_reuse = 10: within 10 s the second IKE SA gets the first one's KEr
 * (and works: the harness checks both ends' keys); at 10 s the key pair
 * is forgotten by the timer, with no request coming, and the next SA gets
 * a new one.
 */
static void test_dh_reuse_window(void **state)
{
	struct hx_net *n = reuse_net(state, "dh_reuse = 10;", 0);
	uint8_t k1[32], k2[32], k3[32];
	int64_t t;

	up_taking_ker(n, k1);
	assert_true(b_keeps_a_key(n));
	down(n);
	hx_advance(n, 3000);
	up_taking_ker(n, k2);
	assert_memory_equal(k1, k2, 32);
	assert_int_equal(hx_stats(n, HX_B)->dh_reused, 1);
	/* the engine wakes up to forget it, 10 s after it was made */
	t = ike_next_timeout(hx_ike(n, HX_B));
	assert_true(t >= 0 && t <= 7000);
	down(n);
	hx_advance(n, 7000);
	assert_false(b_keeps_a_key(n));
	up_taking_ker(n, k3);
	assert_memory_not_equal(k1, k3, 32);
	assert_int_equal(hx_stats(n, HX_B)->dh_reused, 1);
	assert_true(b_keeps_a_key(n)); /* the new one, for the next 10 s */
}

/* The kept key pair computes g^ir on two worker threads, for several SAs. */
static void test_dh_reuse_on_workers(void **state)
{
	struct hx_net *n = reuse_net(state, "dh_reuse = 30;", 2);
	uint8_t k[4][32];

	for (int i = 0; i < 4; i++) {
		up_taking_ker(n, k[i]);
		if (i)
			assert_memory_equal(k[0], k[i], 32);
		down(n);
	}
	assert_int_equal(hx_stats(n, HX_B)->dh_reused, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_inline_has_no_pool, hx_teardown),
	    cmocka_unit_test_teardown(test_handshake_and_rekeys, hx_teardown),
	    cmocka_unit_test_teardown(test_retransmit_while_pending, hx_teardown),
	    cmocka_unit_test_teardown(test_evicted_while_pending, hx_teardown),
	    cmocka_unit_test_teardown(test_expired_while_pending, hx_teardown),
	    cmocka_unit_test_teardown(test_ccsa_retransmit_while_pending, hx_teardown),
	    cmocka_unit_test_teardown(test_deleted_while_rekey_pending, hx_teardown),
	    cmocka_unit_test_teardown(test_conn_removed_while_pending, hx_teardown),
	    cmocka_unit_test_teardown(test_dh_reuse_off, hx_teardown),
	    cmocka_unit_test_teardown(test_dh_reuse_window, hx_teardown),
	    cmocka_unit_test_teardown(test_dh_reuse_on_workers, hx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
