/*
 * Exchange tests of IKE fragmentation (RFC 7383) between two engines:
 * an IKE_AUTH too large for fragment_size goes out as Encrypted Fragment
 * messages in both directions (2.5) and is reassembled and processed as if
 * it had come whole (2.6), in either role; a later CREATE_CHILD_SA is
 * fragmented too. Retransmitted fragments of an answered request (2.6.1):
 * fragment 2 gets nothing, fragment 1 the cached response as the same
 * fragments. A lost fragment holds the SA back until the initiator's
 * retransmission of the whole set completes it (2.6, RFC 7296 2.1). A
 * peer that did not announce IKEV2_FRAGMENTATION_SUPPORTED gets whole
 * messages (2.3).
 *
 * Both sides use fragment_size = 512 and 16 traffic selectors per side,
 * so that IKE_AUTH is about 800 octets and needs two or three fragments.
 */
#include "harness.h"

#define NTS        16
#define FRAG_SIZE  512
#define FRAG_LIMIT (FRAG_SIZE - 20 - 8) /* IPv4 and UDP headers, port 500 */

static char ts_a[NTS * 24], ts_b[NTS * 24];

/* "10.1.0.0/24", ..., "10.1.15.0/24" (side 1) or 10.2.x.0/24 (side 2). */
static const char *ts_list(char *buf, size_t len, int side)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < NTS; i++) {
		int k =
		    snprintf(buf + off, len - off, "%s\"10.%d.%d.0/24\"", i ? ", " : "", side, i);

		assert_true(k > 0 && (size_t)k < len - off);
		off += (size_t)k;
	}
	return buf;
}

/* Per-side options: 16 selectors each way and a small fragment size. */
static void frag_conf(struct hx_conf *ca, struct hx_conf *cb, const char *extra_b)
{
	static const char extra[] = "fragment_size = 512;";

	ts_list(ts_a, sizeof(ts_a), 1);
	ts_list(ts_b, sizeof(ts_b), 2);
	memset(ca, 0, sizeof(*ca));
	memset(cb, 0, sizeof(*cb));
	ca->local_ts = ts_a;
	ca->remote_ts = ts_b;
	cb->local_ts = ts_b;
	cb->remote_ts = ts_a;
	ca->extra = extra;
	cb->extra = extra_b ? extra_b : extra;
}

/* The SKF header of queued datagram i: fragment number, or 0 when it is no fragment. */
static unsigned frag_num(struct hx_net *n, size_t i, unsigned *total)
{
	const uint8_t *p;
	size_t len;
	struct wire_msg m;
	struct wire_error err;
	const struct wire_payload *last;
	unsigned num = 0;

	assert_true(i < n->nq);
	hx_ike_bytes(&n->q[i], &p, &len);
	wire_msg_init(&m);
	assert_int_equal(wire_decode(p, len, &m, &err), 0);
	last = m.npayloads ? &m.payloads[m.npayloads - 1] : NULL;
	if (last && last->type == IKEV2_PL_SKF) {
		num = last->u.sk.frag_num;
		if (total)
			*total = last->u.sk.total_frags;
	}
	wire_msg_free(&m);
	return num;
}

/*
 * The queue holds exactly one message from src in nf >= 2 fragments, in
 * order, each within FRAG_LIMIT: returns nf.
 */
static size_t expect_fragments(struct hx_net *n, int src, uint8_t exchange, bool response)
{
	unsigned total = 0, t;

	assert_true(n->nq >= 2);
	for (size_t i = 0; i < n->nq; i++) {
		hx_expect(n, i, src, exchange, response);
		assert_int_equal(frag_num(n, i, &t), i + 1);
		if (i == 0)
			total = t;
		assert_int_equal(t, total);
		assert_true(n->q[i].len <= FRAG_LIMIT);
	}
	assert_int_equal(n->nq, total);
	return total;
}

/* Both sides installed one pair carrying all 16 selectors each way: the whole message came. */
static void assert_all_ts(struct hx_net *n)
{
	hx_assert_one_child_pair(n);
	for (int s = HX_A; s <= HX_B; s++) {
		assert_int_equal(n->p[s].installed[0].ts_local.n, NTS);
		assert_int_equal(n->p[s].installed[0].ts_remote.n, NTS);
	}
}

/*
 * One side initiates, every datagram is delivered:
 *   HDR, SAi1, KEi, Ni, N(IKEV2_FRAGMENTATION_SUPPORTED) -->
 *   <-- HDR, SAr1, KEr, Nr, N(IKEV2_FRAGMENTATION_SUPPORTED)
 *   HDR, SKF(1/m) {...}, ..., HDR, SKF(m/m) {...} -->      (IKE_AUTH request)
 *   <-- HDR, SKF(1/k) {...}, ..., HDR, SKF(k/k) {...}      (IKE_AUTH response)
 */
static void run_fragmented_auth(void **state, int ini)
{
	struct hx_conf ca, cb;
	struct hx_net *n;
	int rsp = ini == HX_A ? HX_B : HX_A;
	size_t nreq, nresp;

	frag_conf(&ca, &cb, NULL);
	n = hx_new(&ca, &cb);
	*state = n;
	assert_int_equal(ike_up(hx_ike(n, ini), HX_CONN), 0);
	assert_true(hx_has_notify(n, 0, IKEV2_N_IKEV2_FRAGMENTATION_SUPPORTED));
	assert_int_equal(hx_deliver(n), 0);
	assert_true(hx_has_notify(n, 0, IKEV2_N_IKEV2_FRAGMENTATION_SUPPORTED));
	assert_int_equal(hx_deliver(n), 0);
	nreq = expect_fragments(n, ini, IKEV2_EXCH_IKE_AUTH, false);
	assert_int_equal(hx_deliver_all(n, nreq), nreq);
	nresp = expect_fragments(n, rsp, IKEV2_EXCH_IKE_AUTH, true);
	assert_int_equal(hx_deliver_all(n, nresp), nresp);
	assert_int_equal(n->nq, 0);
	hx_assert_ike_up(n);
	assert_all_ts(n);
	assert_int_equal(hx_stats(n, ini)->frags_tx, nreq);
	assert_int_equal(hx_stats(n, rsp)->frags_rx, nreq);
	assert_int_equal(hx_stats(n, rsp)->frags_tx, nresp);
	assert_int_equal(hx_stats(n, ini)->frags_rx, nresp);
	assert_int_equal(hx_stats(n, ini)->drop_rules + hx_stats(n, rsp)->drop_rules, 0);
}

static void test_auth_fragmented_a_initiates(void **state)
{
	run_fragmented_auth(state, HX_A);
}

static void test_auth_fragmented_b_initiates(void **state)
{
	run_fragmented_auth(state, HX_B);
}

/* Later exchanges fragment too: a Child SA rekey with 16 selectors each way (RFC 7296 1.3.3). */
static void test_child_rekey_fragmented(void **state)
{
	struct hx_net *n;
	size_t nreq, nresp;

	run_fragmented_auth(state, HX_A);
	n = *state;
	assert_int_equal(ike_rekey_child(hx_ike(n, HX_B), HX_CONN), 0);
	/* HDR, SKF {N(REKEY_SA), SA, Ni, [KEi,] TSi, TSr} in fragments --> */
	nreq = expect_fragments(n, HX_B, IKEV2_EXCH_CREATE_CHILD_SA, false);
	assert_int_equal(hx_deliver_all(n, nreq), nreq);
	nresp = expect_fragments(n, HX_A, IKEV2_EXCH_CREATE_CHILD_SA, true);
	assert_int_equal(hx_deliver_all(n, nresp), nresp);
	/* then the old Child SA's delete, small enough to go whole */
	hx_settle(n, 2000);
	assert_all_ts(n);
	assert_int_equal(n->p[HX_A].n_child_up, 2);
	assert_int_equal(n->p[HX_B].n_child_up, 2);
}

/* Copy of queued datagram i (owned by the caller). */
static void keep_copy(struct hx_net *n, size_t i, struct hx_dgram *d)
{
	assert_true(i < n->nq);
	*d = n->q[i];
	d->buf = malloc(d->len);
	assert_non_null(d->buf);
	memcpy(d->buf, n->q[i].buf, d->len);
}

/*
 * RFC 7383 2.6.1: a retransmitted fragment of a request b has answered
 * resends the response only if it is fragment number 1; the response goes
 * out again as the same fragments, byte for byte.
 */
static void test_retransmitted_fragments(void **state)
{
	struct hx_conf ca, cb;
	struct hx_net *n;
	struct hx_dgram f1, f2, resp[8];
	size_t nreq, nresp;
	const struct ike_stats *sb;

	frag_conf(&ca, &cb, NULL);
	n = hx_new(&ca, &cb);
	*state = n;
	sb = hx_stats(n, HX_B);
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver_all(n, 2), 2);
	nreq = expect_fragments(n, HX_A, IKEV2_EXCH_IKE_AUTH, false);
	keep_copy(n, 0, &f1);
	keep_copy(n, 1, &f2);
	assert_int_equal(hx_deliver_all(n, nreq), nreq);
	/* <-- HDR, SKF(1/k), ..., SKF(k/k): b answered; a does not get it yet */
	nresp = expect_fragments(n, HX_B, IKEV2_EXCH_IKE_AUTH, true);
	assert_true(nresp <= 8);
	for (size_t i = 0; i < nresp; i++)
		hx_take(n, 0, &resp[i]);
	assert_int_equal(n->p[HX_B].n_child_up, 1);

	/* HDR, SKF(2/m) --> again: ignored, counted, nothing sent */
	hx_input(n, &f2.from, &f2.to, f2.buf, f2.len);
	assert_int_equal(n->nq, 0);
	assert_int_equal(sb->drop_frag_retrans, 1);
	assert_int_equal(sb->resent_responses, 0);

	/* HDR, SKF(1/m) --> again: the whole cached response, the same fragments */
	hx_input(n, &f1.from, &f1.to, f1.buf, f1.len);
	assert_int_equal(n->nq, nresp);
	assert_int_equal(sb->resent_responses, 1);
	assert_int_equal(sb->drop_frag_retrans, 1);
	for (size_t i = 0; i < nresp; i++) {
		assert_int_equal(n->q[i].len, resp[i].len);
		assert_memory_equal(n->q[i].buf, resp[i].buf, resp[i].len);
		free(resp[i].buf);
	}
	free(f1.buf);
	free(f2.buf);
	assert_int_equal(hx_deliver_all(n, nresp), nresp);
	hx_assert_ike_up(n);
	assert_all_ts(n);
	/* b processed the request once */
	assert_int_equal(n->p[HX_B].n_child_up, 1);
}

/*
 * A lost fragment: b cannot reassemble, so it neither answers nor sets up
 * anything (2.6). a retransmits the whole set after 1 s (RFC 7296 2.1,
 * RFC 7383 2.6.1: the same fragments); the fragments b holds are replays,
 * the missing one completes the message.
 */
static void test_missing_fragment(void **state)
{
	struct hx_conf ca, cb;
	struct hx_net *n;
	size_t nreq;

	frag_conf(&ca, &cb, NULL);
	n = hx_new(&ca, &cb);
	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver_all(n, 2), 2);
	nreq = expect_fragments(n, HX_A, IKEV2_EXCH_IKE_AUTH, false);
	hx_drop_at(n, nreq - 1); /* the last fragment is lost */
	assert_int_equal(hx_deliver_all(n, nreq - 1), nreq - 1);
	assert_int_equal(n->nq, 0);
	assert_int_equal(hx_sa(n, HX_B)->state, IKE_S_INIT_DONE);
	assert_int_equal(n->p[HX_B].n_child_up, 0);
	assert_int_equal(hx_stats(n, HX_B)->frags_rx, nreq - 1);

	/* still nothing after 900 ms: no answer, no SA */
	hx_advance(n, 900);
	assert_int_equal(n->nq, 0);
	assert_int_equal(hx_count_state(n, HX_B, IKE_S_ESTABLISHED, NULL), 0);

	/* a's retransmission: all nreq fragments again */
	hx_advance(n, 100);
	assert_int_equal(hx_stats(n, HX_A)->retransmits, 1);
	assert_int_equal(expect_fragments(n, HX_A, IKEV2_EXCH_IKE_AUTH, false), nreq);
	assert_int_equal(hx_stats(n, HX_A)->frags_tx, 2 * nreq);
	hx_settle(n, 1000);
	hx_assert_ike_up(n);
	assert_all_ts(n);
	assert_int_equal(n->p[HX_B].n_child_up, 1);
}

/* RFC 7383 2.3: without b's IKEV2_FRAGMENTATION_SUPPORTED, a sends IKE_AUTH whole. */
static void test_peer_without_fragmentation(void **state)
{
	struct hx_conf ca, cb;
	struct hx_net *n;

	frag_conf(&ca, &cb, "fragmentation = false; fragment_size = 512;");
	n = hx_new(&ca, &cb);
	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_false(hx_has_notify(n, 0, IKEV2_N_IKEV2_FRAGMENTATION_SUPPORTED));
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_A, IKEV2_EXCH_IKE_AUTH, false);
	assert_int_equal(frag_num(n, 0, NULL), 0);
	assert_true(n->q[0].len > FRAG_LIMIT);
	hx_settle(n, 1000);
	hx_assert_ike_up(n);
	assert_all_ts(n);
	assert_int_equal(hx_stats(n, HX_A)->frags_tx + hx_stats(n, HX_B)->frags_tx, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_auth_fragmented_a_initiates, hx_teardown),
	    cmocka_unit_test_teardown(test_auth_fragmented_b_initiates, hx_teardown),
	    cmocka_unit_test_teardown(test_child_rekey_fragmented, hx_teardown),
	    cmocka_unit_test_teardown(test_retransmitted_fragments, hx_teardown),
	    cmocka_unit_test_teardown(test_missing_fragment, hx_teardown),
	    cmocka_unit_test_teardown(test_peer_without_fragmentation, hx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
