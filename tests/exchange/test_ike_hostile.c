/*
 * Exchange tests with a hostile network: every message of every exchange
 * (IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL; requests and
 * responses) truncated at every length and with a few hundred random byte
 * flips (fixed seed); wrong message IDs (RFC 7296 2.2, 2.3); unknown SPIs
 * (2.21.1: an unprotected, rate-limited INVALID_IKE_SPI for requests, never
 * for responses); replays (2.1: the cached response); unknown critical
 * payloads (2.5: UNSUPPORTED_CRITICAL_PAYLOAD) and other major versions
 * (2.5, 3.1: INVALID_MAJOR_VERSION) in IKE_SA_INIT; responses, which are
 * never answered. Each test checks that nothing crashes (run under ASan),
 * that drops are counted in ike_get_stats, that nothing unexpected is sent
 * and that the good exchange still completes afterwards.
 */
#include "harness.h"

enum stage {
	ST_INIT_REQ,
	ST_INIT_RESP,
	ST_AUTH_REQ,
	ST_AUTH_RESP,
	ST_CCSA_REQ,
	ST_CCSA_RESP,
	ST_INFO_REQ,
	ST_INFO_RESP,
	ST_MAX
};

static const char *const stage_names[] = {
    "IKE_SA_INIT request",   "IKE_SA_INIT response",    "IKE_AUTH request",
    "IKE_AUTH response",     "CREATE_CHILD_SA request", "CREATE_CHILD_SA response",
    "INFORMATIONAL request", "INFORMATIONAL response",
};

/* Drive the exchange until the stage's message is the only one in flight. */
static void to_stage(struct hx_net *n, enum stage st)
{
	if (st <= ST_AUTH_RESP) {
		assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
		for (int i = ST_INIT_REQ; i < (int)st; i++)
			assert_int_equal(hx_deliver(n), 0);
	} else {
		hx_establish(n);
		if (st <= ST_CCSA_RESP)
			assert_int_equal(ike_rekey_child(hx_ike(n, HX_A), HX_CONN), 0);
		else
			assert_int_equal(ike_dpd_now(hx_ike(n, HX_A), HX_CONN), 0);
		if (st == ST_CCSA_RESP || st == ST_INFO_RESP)
			assert_int_equal(hx_deliver(n), 0);
	}
	assert_int_equal(n->nq, 1);
}

/* Deliver everything and check the exchange ended as it should. */
static void finish(struct hx_net *n, enum stage st)
{
	hx_settle(n, 5000);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	if (st == ST_CCSA_REQ || st == ST_CCSA_RESP) {
		assert_int_equal(n->p[HX_A].n_child_up, 2);
		assert_int_equal(n->p[HX_B].n_child_up, 2);
	} else {
		assert_int_equal(n->p[HX_A].n_child_up, 1);
		assert_int_equal(n->p[HX_B].n_child_up, 1);
	}
	assert_int_equal(hx_count_sas(n, HX_A), 1);
}

static uint64_t drops(const struct ike_stats *s)
{
	return s->drop_malformed + s->drop_unknown_spi + s->drop_icv + s->drop_msgid +
	       s->drop_rules + s->resent_responses;
}

/* Answers the receivers sent to bad messages (all of them permitted). */
static size_t answers_seen;

/* Is d (sent by the receiver of the bad message `bad`) an answer RFC 7296 allows? */
static const char *permitted(struct hx_net *n, int rcv, const struct hx_dgram *d,
                             const uint8_t *bad, size_t bad_len)
{
	struct wire_hdr bh, h;
	struct wire_error err;
	struct wire_msg m;
	const uint8_t *p;
	size_t len;
	const char *why = NULL;
	bool bad_hdr_ok = wire_decode_hdr(bad, bad_len, &bh, &err) == 0;

	hx_ike_bytes(d, &p, &len);
	if (wire_decode_hdr(p, len, &h, &err) < 0)
		return "an undecodable datagram";
	if (!(h.flags & IKEV2_FLAG_RESPONSE))
		return "a request";
	/* A response to a response: never (2.21.1, 3.1). */
	if (bad_len >= 20 && (bad[19] & IKEV2_FLAG_RESPONSE))
		return "an answer to a response";
	/* 2.1: a retransmitted request gets the cached response, byte for byte. */
	for (int s = 0; s < 2; s++) {
		struct ike_sa *sa = hx_sa(n, s);

		if (s == rcv && sa && sa->cache.valid && sa->cache.pkt.len == len &&
		    !memcmp(sa->cache.pkt.p, p, len))
			return NULL;
	}
	if (h.exchange == IKEV2_EXCH_IKE_SA_INIT)
		return bad_hdr_ok || (bad_len >= 18 && bad[17] >> 4 != 2)
		           ? NULL
		           : "an IKE_SA_INIT answer to something that is not IKE_SA_INIT";
	/* 2.21.1: INVALID_IKE_SPI, unprotected, SPIs and message ID copied. */
	wire_msg_init(&m);
	if (wire_decode(p, len, &m, &err) < 0)
		why = "an undecodable response";
	else if (!wire_msg_find_notify(&m, IKEV2_N_INVALID_IKE_SPI) ||
	         wire_msg_find(&m, IKEV2_PL_SK, NULL))
		why = "a response that is neither cached nor INVALID_IKE_SPI";
	else if (!bad_hdr_ok || h.msg_id != bh.msg_id || memcmp(h.spi_i, bh.spi_i, 8) ||
	         memcmp(h.spi_r, bh.spi_r, 8))
		why = "INVALID_IKE_SPI without the request's SPIs and message ID";
	wire_msg_free(&m);
	return why;
}

/*
 * Hand bad[0..len) to the receiver of template datagram t. Whatever it
 * sends must be permitted and is taken off the wire; the drop must be
 * counted unless the receiver answered with a fresh IKE_SA_INIT response.
 */
static void inject(struct hx_net *n, const struct hx_dgram *t, const uint8_t *bad, size_t len,
                   enum stage st, const char *what)
{
	int rcv = t->src == HX_A ? HX_B : HX_A;
	size_t nq = n->nq;
	uint64_t before = drops(hx_stats(n, rcv));
	uint64_t rx = hx_stats(n, rcv)->rx;
	bool fresh_init = false;
	uint8_t *copy = malloc(len ? len : 1);
	const uint8_t *ike;
	size_t ike_len;
	struct hx_dgram tmp = *t;

	assert_non_null(copy);
	memcpy(copy, bad, len);
	hx_input(n, &t->from, &t->to, copy, len);
	assert_int_equal(hx_stats(n, rcv)->rx, rx + 1);
	tmp.buf = copy;
	tmp.len = len;
	hx_ike_bytes(&tmp, &ike, &ike_len);
	while (n->nq > nq) {
		const char *why;
		struct wire_hdr h;
		struct wire_error err;
		const uint8_t *p;
		size_t plen;

		hx_ike_bytes(&n->q[nq], &p, &plen);
		if (n->q[nq].src != rcv)
			fail_msg("%s (%s): the sender sent something", stage_names[st], what);
		why = permitted(n, rcv, &n->q[nq], ike, ike_len);
		if (why)
			fail_msg("%s (%s): %s answered with %s", stage_names[st], what,
			         n->p[rcv].name, why);
		if (wire_decode_hdr(p, plen, &h, &err) == 0 && h.exchange == IKEV2_EXCH_IKE_SA_INIT)
			fresh_init = true;
		answers_seen++;
		hx_drop_at(n, nq);
	}
	if (!fresh_init && drops(hx_stats(n, rcv)) == before)
		fail_msg("%s (%s): dropped without being counted", stage_names[st], what);
	free(copy);
}

/* The template message: before the real one for protected messages, after
 * it for IKE_SA_INIT (which an attacker can always forge to break a setup:
 * a late copy must not hurt). */
static bool bad_after_real(enum stage st)
{
	return st == ST_INIT_REQ || st == ST_INIT_RESP;
}

static void take_template(struct hx_net *n, enum stage st, struct hx_dgram *t)
{
	hx_take(n, 0, t);
	if (bad_after_real(st)) {
		/* The real one goes first; its answer (if any) stays queued. */
		hx_input(n, &t->from, &t->to, t->buf, t->len);
	}
}

static void put_back(struct hx_net *n, enum stage st, struct hx_dgram *t)
{
	if (!bad_after_real(st))
		hx_input(n, &t->from, &t->to, t->buf, t->len);
	free(t->buf);
}

/* ---- truncation ---- */

static void truncate_stage(enum stage st)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct hx_dgram t;
	char what[64];

	to_stage(n, st);
	take_template(n, st, &t);
	for (size_t len = 0; len < t.len; len++) {
		snprintf(what, sizeof(what), "truncated to %zu of %zu", len, t.len);
		inject(n, &t, t.buf, len, st, what);
	}
	/* One octet too many is malformed as well (3.1: Length is the whole message). */
	{
		uint8_t *big = calloc(1, t.len + 1);

		assert_non_null(big);
		memcpy(big, t.buf, t.len);
		inject(n, &t, big, t.len + 1, st, "one trailing octet");
		free(big);
	}
	put_back(n, st, &t);
	finish(n, st);
	hx_free(n);
}

static void test_truncated(void **state)
{
	(void)state;
	for (int st = 0; st < ST_MAX; st++)
		truncate_stage((enum stage)st);
}

/* ---- random byte flips ---- */

#define FLIPS_PER_STAGE 48

static void flip_stage(enum stage st, struct hx_rng *rng)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct hx_dgram t;
	char what[96];
	uint8_t *bad;

	to_stage(n, st);
	take_template(n, st, &t);
	bad = malloc(t.len);
	assert_non_null(bad);
	for (int v = 0; v < FLIPS_PER_STAGE; v++) {
		unsigned k = 1 + (unsigned)(hx_rng_next(rng) % 3);
		int w = 0;

		memcpy(bad, t.buf, t.len);
		w = snprintf(what, sizeof(what), "variant %d:", v);
		for (unsigned j = 0; j < k; j++) {
			/* Half of the flips in the header, where the interesting bugs are. */
			size_t off = (size_t)(hx_rng_next(rng) % (j == 0 ? 28 : t.len));
			uint8_t mask = (uint8_t)(1 + hx_rng_next(rng) % 255);

			bad[off] ^= mask;
			if (w > 0 && (size_t)w < sizeof(what))
				w += snprintf(what + w, sizeof(what) - (size_t)w, " [%zu]^%02x",
				              off, mask);
		}
		if (!memcmp(bad, t.buf, t.len))
			continue;
		inject(n, &t, bad, t.len, st, what);
	}
	free(bad);
	put_back(n, st, &t);
	finish(n, st);
	hx_free(n);
}

static void test_byte_flips(void **state)
{
	struct hx_rng rng = {.s = 0x666c6970ull};

	(void)state;
	/* 8 stages x 48 variants x 1-3 flips (the first within the header). */
	answers_seen = 0;
	for (int st = 0; st < ST_MAX; st++)
		flip_stage((enum stage)st, &rng);
	/* Some flips hit SPIs of requests and got INVALID_IKE_SPI (or a cached
	 * response): the checks of what may be sent did run. */
	assert_true(answers_seen > 0);
}

/* Flips only in the payloads (offset >= 28) of every stage: for the
 * protected messages each must fail the ICV and be counted as such. */
static void test_payload_flips_fail_icv(void **state)
{
	struct hx_rng rng = {.s = 0x696376ull};

	(void)state;
	for (int st = ST_AUTH_REQ; st < ST_MAX; st++) {
		struct hx_net *n = hx_new(NULL, NULL);
		struct hx_dgram t;
		uint8_t *bad;
		int rcv;
		uint64_t icv0;

		to_stage(n, (enum stage)st);
		take_template(n, (enum stage)st, &t);
		rcv = t.src == HX_A ? HX_B : HX_A;
		icv0 = hx_stats(n, rcv)->drop_icv;
		bad = malloc(t.len);
		assert_non_null(bad);
		for (int v = 0; v < 32; v++) {
			size_t off = 32 + (size_t)(hx_rng_next(&rng) % (t.len - 32));

			memcpy(bad, t.buf, t.len);
			bad[off] ^= (uint8_t)(1 + hx_rng_next(&rng) % 255);
			inject(n, &t, bad, t.len, (enum stage)st, "payload flip");
		}
		/* 3.14, 2.21.2: silently dropped after the integrity check. */
		assert_int_equal(hx_stats(n, rcv)->drop_icv - icv0, 32);
		free(bad);
		put_back(n, (enum stage)st, &t);
		finish(n, (enum stage)st);
		hx_free(n);
	}
}

/* ---- wrong SPIs (2.21.1) ---- */

static void test_unknown_spi(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct hx_dgram req, resp;
	struct wire_hdr h, rh;
	struct wire_msg m;
	size_t answers = 0;
	uint64_t spi_drops;

	*state = n;
	hx_establish(n);
	assert_int_equal(ike_dpd_now(hx_ike(n, HX_A), HX_CONN), 0);
	hx_take(n, 0, &req);
	/* HDR(A, B'), SK {} -->   (B' is no SA of b's) */
	req.buf[8] ^= 0x5a;
	hx_input(n, &req.from, &req.to, req.buf, req.len);
	/* <-- HDR(A, B'), N(INVALID_IKE_SPI)   unprotected, R set, same message ID */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_INFORMATIONAL, true);
	hx_hdr(n, 0, &rh);
	assert_int_equal(wire_decode_hdr(req.buf, req.len, &h, &(struct wire_error){0}), 0);
	assert_int_equal(rh.msg_id, h.msg_id);
	assert_memory_equal(rh.spi_i, h.spi_i, 8);
	assert_memory_equal(rh.spi_r, h.spi_r, 8);
	assert_false(rh.flags & IKEV2_FLAG_INITIATOR);
	assert_int_equal(hx_decode(n, 0, &m), 0);
	assert_non_null(wire_msg_find_notify(&m, IKEV2_N_INVALID_IKE_SPI));
	assert_null(wire_msg_find(&m, IKEV2_PL_SK, NULL));
	wire_msg_free(&m);
	assert_true(hx_is_host(&n->q[0].to, HX_ADDR_A));
	assert_int_equal(hx_port(&n->q[0].to), 500);
	/* a does not act on the unauthenticated answer: its SA stays. */
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nq, 0);
	hx_assert_ike_up(n);
	/* A flood from the same source: the answers are rate-limited (2.21.1, 2.21.4). */
	spi_drops = hx_stats(n, HX_B)->drop_unknown_spi;
	for (int i = 0; i < 100; i++)
		hx_input(n, &req.from, &req.to, req.buf, req.len);
	answers = n->nq;
	assert_true(answers < 20);
	assert_int_equal(hx_stats(n, HX_B)->drop_unknown_spi - spi_drops, 100);
	hx_q_clear(n);
	/* Some time later one is answered again. */
	hx_advance(n, 10000);
	hx_q_clear(n);
	hx_input(n, &req.from, &req.to, req.buf, req.len);
	assert_int_equal(n->nq, 1);
	hx_q_clear(n);
	/* The real request still works: HDR, SK {} -->  <-- HDR, SK {} */
	req.buf[8] ^= 0x5a;
	hx_input(n, &req.from, &req.to, req.buf, req.len);
	free(req.buf);
	assert_int_equal(n->nq, 1);
	hx_take(n, 0, &resp);
	/* A response for an unknown SA is never answered. */
	resp.buf[0] ^= 0x5a;
	spi_drops = hx_stats(n, HX_A)->drop_unknown_spi;
	hx_input(n, &resp.from, &resp.to, resp.buf, resp.len);
	assert_int_equal(n->nq, 0);
	assert_int_equal(hx_stats(n, HX_A)->drop_unknown_spi - spi_drops, 1);
	resp.buf[0] ^= 0x5a;
	hx_input(n, &resp.from, &resp.to, resp.buf, resp.len);
	free(resp.buf);
	assert_null(hx_sa(n, HX_A)->out);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
}

/* ---- message IDs and replays (2.1, 2.2, 2.3) ---- */

static void copy_dgram(const struct hx_dgram *d, struct hx_dgram *out)
{
	*out = *d;
	out->buf = malloc(d->len);
	assert_non_null(out->buf);
	memcpy(out->buf, d->buf, d->len);
}

/* A protected message from `side` on its SA with any message ID and flags. */
static void forge(struct hx_net *n, int side, uint32_t msg_id, bool response, struct hx_dgram *out)
{
	struct ike_sa *sa = hx_sa(n, side);
	struct wire_hdr h;
	struct wire_wr w;

	memset(&h, 0, sizeof(h));
	memcpy(h.spi_i, sa->spi_i, 8);
	memcpy(h.spi_r, sa->spi_r, 8);
	h.version = IKEV2_VERSION;
	h.exchange = IKEV2_EXCH_INFORMATIONAL;
	h.flags = (sa->initiator ? IKEV2_FLAG_INITIATOR : 0) | (response ? IKEV2_FLAG_RESPONSE : 0);
	h.msg_id = msg_id;
	wire_wr_init(&w, WIRE_SK_MAX_MSG);
	assert_int_equal(wire_sk_seal(&sa->prot_out, &h, NULL, 0, NULL, WIRE_SK_PAD_MIN, &w), 0);
	memset(out, 0, sizeof(*out));
	out->src = side;
	out->from = sa->local;
	out->to = sa->remote;
	out->len = w.len;
	out->buf = malloc(w.len);
	assert_non_null(out->buf);
	memcpy(out->buf, w.p, w.len);
	wire_wr_free(&w);
}

static void test_message_ids(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct hx_dgram req2, resp2, req3, resp3, f;
	const struct ike_stats *sb, *sa;
	uint64_t x;

	*state = n;
	hx_establish(n);
	sa = hx_stats(n, HX_A);
	sb = hx_stats(n, HX_B);
	/* HDR(#2), SK {} -->  <-- HDR(#2), SK {} */
	assert_int_equal(ike_dpd_now(hx_ike(n, HX_A), HX_CONN), 0);
	copy_dgram(&n->q[0], &req2);
	assert_int_equal(hx_deliver(n), 0);
	copy_dgram(&n->q[0], &resp2);
	assert_int_equal(hx_deliver(n), 0);
	/* HDR(#3), SK {} -->  <-- HDR(#3), SK {} */
	assert_int_equal(ike_dpd_now(hx_ike(n, HX_A), HX_CONN), 0);
	copy_dgram(&n->q[0], &req3);
	assert_int_equal(hx_deliver(n), 0);
	copy_dgram(&n->q[0], &resp3);
	assert_int_equal(hx_deliver(n), 0);

	/* Replay of the last request: the cached response, byte for byte (2.1). */
	x = sb->resent_responses;
	hx_input(n, &req3.from, &req3.to, req3.buf, req3.len);
	assert_int_equal(n->nq, 1);
	assert_int_equal(n->q[0].len, resp3.len);
	assert_memory_equal(n->q[0].buf, resp3.buf, resp3.len);
	assert_int_equal(sb->resent_responses - x, 1);
	/* ... which a, having nothing outstanding, drops without answering. */
	x = sa->drop_msgid;
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nq, 0);
	assert_int_equal(sa->drop_msgid - x, 1);

	/* An older request (#2, no longer cached): dropped, not answered (2.2). */
	x = sb->drop_msgid;
	hx_input(n, &req2.from, &req2.to, req2.buf, req2.len);
	assert_int_equal(n->nq, 0);
	assert_int_equal(sb->drop_msgid - x, 1);
	/* A future request (#9), validly protected: dropped (window of 1). */
	forge(n, HX_A, 9, false, &f);
	hx_input(n, &f.from, &f.to, f.buf, f.len);
	free(f.buf);
	assert_int_equal(n->nq, 0);
	assert_int_equal(sb->drop_msgid - x, 2);
	assert_int_equal(hx_sa(n, HX_B)->expect_msg_id, 4);
	/* An old response, and one for a request never sent: dropped, never answered. */
	x = sa->drop_msgid;
	hx_input(n, &resp2.from, &resp2.to, resp2.buf, resp2.len);
	forge(n, HX_B, 9, true, &f);
	hx_input(n, &f.from, &f.to, f.buf, f.len);
	free(f.buf);
	assert_int_equal(n->nq, 0);
	assert_int_equal(sa->drop_msgid - x, 2);
	/* b's own request space is separate: b's next request is #0 (2.2). */
	forge(n, HX_B, 0, false, &f);
	hx_input(n, &f.from, &f.to, f.buf, f.len);
	free(f.buf);
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_A, IKEV2_EXCH_INFORMATIONAL, true);
	hx_q_clear(n);
	hx_sa(n, HX_B)->next_msg_id = 1; /* we spent b's #0 by forging it */

	free(req2.buf);
	free(resp2.buf);
	free(req3.buf);
	free(resp3.buf);
	/* The SA is unharmed: HDR(#4), SK {} -->  <-- HDR(#4), SK {} */
	assert_int_equal(ike_dpd_now(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver_all(n, 4), 2);
	assert_int_equal(hx_sa(n, HX_A)->next_msg_id, 5);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
}

/* A replayed IKE_AUTH request after the SA is up: cached response, no second Child SA. */
static void test_replayed_auth(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct hx_dgram req, resp;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver_all(n, 2), 2);
	copy_dgram(&n->q[0], &req);
	assert_int_equal(hx_deliver(n), 0);
	copy_dgram(&n->q[0], &resp);
	assert_int_equal(hx_deliver(n), 0);
	for (int i = 0; i < 3; i++) {
		hx_input(n, &req.from, &req.to, req.buf, req.len);
		assert_int_equal(n->nq, 1);
		assert_memory_equal(n->q[0].buf, resp.buf, resp.len);
		assert_int_equal(hx_deliver(n), 0); /* a drops it */
		assert_int_equal(n->nq, 0);
	}
	assert_int_equal(n->p[HX_B].n_child_up, 1);
	assert_int_equal(n->p[HX_A].n_child_up, 1);
	/* A replayed IKE_SA_INIT request for an SA past IKE_AUTH is ignored (2.1). */
	free(req.buf);
	free(resp.buf);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
}

/* RFC 7296 2.1: IKE_SA_INIT retransmissions are recognised by the whole
 * request (or Ni), not by SPIi alone: a forged request with a's SPIi that
 * arrives first must not capture a's real one. */
static void test_init_request_forged_first(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct hx_dgram real;
	struct wire_msg m;
	const struct wire_payload *np;
	struct wire_hdr forged, h;
	size_t off;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	copy_dgram(&n->q[0], &real);
	/* Flip the last octet of Ni: a valid request, same SPIi, another nonce. */
	assert_int_equal(hx_decode(n, 0, &m), 0);
	np = wire_msg_find(&m, IKEV2_PL_NI_NR, NULL);
	assert_non_null(np);
	off = (size_t)(np->u.nonce.data - n->q[0].buf) + np->u.nonce.len - 1;
	wire_msg_free(&m);
	n->q[0].buf[off] ^= 0xff;
	/* forged HDR(A,0), SAi1, KEi, Ni' -->   <-- HDR(A,B'), SAr1, KEr, Nr (dropped) */
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nq, 1);
	hx_hdr(n, 0, &forged);
	hx_drop(n);
	/* real HDR(A,0), SAi1, KEi, Ni -->   <-- HDR(A,B), SAr1, KEr, Nr  (B != B') */
	hx_input(n, &real.from, &real.to, real.buf, real.len);
	free(real.buf);
	assert_int_equal(n->nq, 1);
	hx_hdr(n, 0, &h);
	if (!memcmp(h.spi_r, forged.spi_r, 8))
		fail_msg("b answered a's request with the response cached for the forged "
		         "one (same SPIi, other Ni): RFC 7296 2.1 wants the lookup by the whole "
		         "packet, its hash or Ni; a's setup then fails at IKE_AUTH");
	assert_int_equal(hx_deliver_all(n, 10), 3);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
}

/* ---- IKE_SA_INIT: critical payloads and versions (2.5, 3.1, 3.2) ---- */

static void reencode(struct hx_net *n, size_t i, uint8_t type, uint8_t flags)
{
	struct wire_msg m;
	struct wire_payload *p;
	struct wire_wr w;
	static const uint8_t junk[] = {1, 2, 3, 4};

	assert_int_equal(hx_decode(n, i, &m), 0);
	assert_true(m.npayloads < WIRE_MAX_PAYLOADS);
	p = &m.payloads[m.npayloads++];
	memset(p, 0, sizeof(*p));
	p->type = type;
	p->flags = flags;
	p->u.raw.data = junk;
	p->u.raw.len = sizeof(junk);
	wire_wr_init(&w, WIRE_SK_MAX_MSG);
	assert_int_equal(wire_encode(&m, &w), 0);
	wire_msg_free(&m);
	free(n->q[i].buf);
	n->q[i].buf = malloc(w.len);
	assert_non_null(n->q[i].buf);
	memcpy(n->q[i].buf, w.p, w.len);
	n->q[i].len = w.len;
	wire_wr_free(&w);
}

static void test_unknown_critical_payload(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct wire_msg m;
	const struct wire_payload *p;
	struct wire_hdr h;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	/* HDR, SAi1, KEi, Ni, N(NAT_D...), X(type 200, critical) --> */
	reencode(n, 0, 200, IKEV2_PL_CRITICAL);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, N(UNSUPPORTED_CRITICAL_PAYLOAD, 200) */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_SA_INIT, true);
	hx_hdr(n, 0, &h);
	assert_int_equal(h.msg_id, 0);
	assert_int_equal(hx_decode(n, 0, &m), 0);
	p = wire_msg_find_notify(&m, IKEV2_N_UNSUPPORTED_CRITICAL_PAYLOAD);
	assert_non_null(p);
	assert_int_equal(p->u.notify.len, 1);
	assert_int_equal(p->u.notify.data[0], 200);
	assert_null(wire_msg_find(&m, IKEV2_PL_SA, NULL));
	wire_msg_free(&m);
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	assert_true(hx_stats(n, HX_B)->drop_malformed + hx_stats(n, HX_B)->drop_rules >= 1);
	/* a gives up on that notify (or ignores it and times out); never answers it. */
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nq, 0);
}

/* The IKE_SA_INIT request was changed in flight: AUTH covers it as sent
 * (2.15), so the setup must fail at IKE_AUTH and leave nothing behind. */
static void assert_tamper_detected(struct hx_net *n)
{
	hx_settle(n, 70000);
	assert_int_equal(hx_count_state(n, HX_A, IKE_S_ESTABLISHED, NULL), 0);
	assert_int_equal(hx_count_state(n, HX_B, IKE_S_ESTABLISHED, NULL), 0);
	assert_int_equal(n->p[HX_A].n_child_up, 0);
	assert_int_equal(n->p[HX_B].n_child_up, 0);
	assert_int_equal(hx_count_sas(n, HX_B), 0);
}

/* An unknown payload without the critical bit is skipped (3.2): b answers. */
static void test_unknown_noncritical_payload(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	/* HDR, SAi1, KEi, Ni, N(NAT_D...), X(type 200, not critical) --> */
	reencode(n, 0, 200, 0);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SAr1, KEr, Nr */
	assert_int_equal(n->nq, 1);
	assert_true(hx_has_payload(n, 0, IKEV2_PL_SA));
	assert_int_equal(hx_count_sas(n, HX_B), 1);
	/* (the payload was added in flight, so a's AUTH no longer verifies) */
	assert_tamper_detected(n);
}

static void test_major_version(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct wire_msg m;
	struct hx_dgram d;
	uint8_t v;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	copy_dgram(&n->q[0], &d);
	/* HDR(version 3.0), SAi1, KEi, Ni --> */
	n->q[0].buf[17] = 0x30;
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR(version 2.0), N(INVALID_MAJOR_VERSION)   (3.1, 2.5) */
	assert_int_equal(n->nq, 1);
	v = n->q[0].buf[17];
	assert_int_equal(v >> 4, 2);
	assert_true(n->q[0].buf[19] & IKEV2_FLAG_RESPONSE);
	wire_msg_init(&m);
	assert_int_equal(wire_decode(n->q[0].buf, n->q[0].len, &m, &(struct wire_error){0}), 0);
	assert_non_null(wire_msg_find_notify(&m, IKEV2_N_INVALID_MAJOR_VERSION));
	assert_int_equal(m.hdr.msg_id, 0);
	wire_msg_free(&m);
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	hx_drop(n);
	/* A response of version 3.0 is never answered. */
	n->p[HX_B].sent = 0;
	hx_input(n, &d.from, &d.to, d.buf, d.len);
	assert_int_equal(n->nq, 1);
	n->q[0].buf[17] = 0x30;
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nq, 0);
	/* A higher minor version is ignored (3.1): HDR(version 2.1) is served. */
	hx_q_clear(n);
	free(d.buf);
	hx_free(n);
	n = hx_new(NULL, NULL);
	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	n->q[0].buf[17] = 0x21;
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nq, 1);
	assert_true(hx_has_payload(n, 0, IKEV2_PL_SA));
	/* (changed in flight: a's AUTH covers version 2.0) */
	assert_tamper_detected(n);
}

/* Responses, good or bad, never cause a message (2.21.1, 3.1). */
static void test_responses_never_answered(void **state)
{
	struct hx_net *n = hx_new(NULL, NULL);
	struct hx_dgram r;
	uint64_t sent;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver(n), 0);
	copy_dgram(&n->q[0], &r); /* <-- HDR, SAr1, KEr, Nr */
	assert_int_equal(hx_deliver_all(n, 10), 3);
	hx_assert_ike_up(n);
	sent = n->p[HX_A].sent;
	/* the same IKE_SA_INIT response again, with another SPIi, with version 3.0,
	 * and truncated */
	hx_input(n, &r.from, &r.to, r.buf, r.len);
	r.buf[0] ^= 1;
	hx_input(n, &r.from, &r.to, r.buf, r.len);
	r.buf[0] ^= 1;
	r.buf[17] = 0x30;
	hx_input(n, &r.from, &r.to, r.buf, r.len);
	r.buf[17] = 0x20;
	hx_input(n, &r.from, &r.to, r.buf, r.len - 7);
	free(r.buf);
	/* a protected response out of the blue, and with R set on a request */
	assert_int_equal(ike_dpd_now(hx_ike(n, HX_B), HX_CONN), 0);
	copy_dgram(&n->q[0], &r);
	hx_q_clear(n);
	r.buf[19] |= IKEV2_FLAG_RESPONSE; /* no longer verifies either */
	hx_input(n, &r.from, &r.to, r.buf, r.len);
	free(r.buf);
	assert_int_equal(n->nq, 0);
	assert_int_equal(n->p[HX_A].sent, sent);
	hx_assert_ike_up(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_byte_flips),
	    cmocka_unit_test(test_payload_flips_fail_icv),
	    cmocka_unit_test_teardown(test_unknown_spi, hx_teardown),
	    cmocka_unit_test_teardown(test_message_ids, hx_teardown),
	    cmocka_unit_test_teardown(test_replayed_auth, hx_teardown),
	    cmocka_unit_test_teardown(test_init_request_forged_first, hx_teardown),
	    cmocka_unit_test_teardown(test_unknown_critical_payload, hx_teardown),
	    cmocka_unit_test_teardown(test_unknown_noncritical_payload, hx_teardown),
	    cmocka_unit_test_teardown(test_major_version, hx_teardown),
	    cmocka_unit_test_teardown(test_responses_never_answered, hx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
