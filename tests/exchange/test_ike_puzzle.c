/*
 * Exchange tests of RFC 8019's defences beyond the half-open caps
 * (test_ike_attack.c): client puzzles in IKE_SA_INIT (7.1) and in
 * IKE_AUTH (7.2) in both roles,
 * the "under attack" mode with its log lines (4.1, 4.2, 6), the DH budget
 * (4.2) and the per-source limit on failed IKE_AUTH (5).
 *
 * Spoofed IKE_SA_INIT requests are a's real first request with another
 * SPIi and source address each, as in test_ike_attack.c. b accepts %any.
 * The log is captured to count the state lines.
 */
#include "harness.h"
#include "wire/notify.h"

#define SPOOF_NET 0xc6336400u /* 198.51.100.0/24 and up */

static FILE *px_log;

static void log_capture(void)
{
	px_log = tmpfile();
	assert_non_null(px_log);
	log_set_stream(px_log);
	log_init("rike-exchange", LOG_TARGET_STREAM, LOG_INFO);
}

/* Lines of the captured log containing s. */
static unsigned log_count(const char *s)
{
	char line[2048];
	unsigned k = 0;

	fflush(px_log);
	rewind(px_log);
	while (fgets(line, sizeof(line), px_log))
		if (strstr(line, s))
			k++;
	fseek(px_log, 0, SEEK_END);
	return k;
}

static int px_teardown(void **state)
{
	hx_teardown(state);
	if (px_log) {
		log_set_stream(NULL);
		log_init("rike-exchange", LOG_TARGET_STDERR, LOG_WARNING);
		fclose(px_log);
		px_log = NULL;
	}
	return 0;
}

static void take_init(struct hx_net *n, struct hx_dgram *t)
{
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(n->nq, 1);
	hx_take(n, 0, t);
}

static void inject(struct hx_net *n, const struct hx_dgram *t, uint64_t k, uint32_t src)
{
	uint8_t buf[2048];
	struct ike_addr from;
	struct sockaddr_in *sin = (struct sockaddr_in *)&from.ss;

	assert_true(t->len <= sizeof(buf));
	memcpy(buf, t->buf, t->len);
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(k >> (56 - 8 * i)) ^ 0x5a;
	memset(&from, 0, sizeof(from));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(SPOOF_NET + src);
	sin->sin_port = htons(500);
	hx_input(n, &from, &t->to, buf, t->len);
}

/* Drop b's answers to spoofed sources. */
static void drain(struct hx_net *n)
{
	while (n->nq)
		hx_drop(n);
}

/*
 * 7.1.1-7.1.4: rike solves rike's puzzle.
 *   HDR, SAi1, KEi, Ni  -->
 *                  <--  HDR, N(COOKIE), N(PUZZLE)
 *   HDR, N(COOKIE), PS, SAi1, KEi, Ni  -->
 *                  <--  HDR, SAr1, KEr, Nr
 */
static void test_puzzle_solved(void **state)
{
	struct hx_conf cb = {.remote = "%any",
	                     .cookie_threshold = HX_COOKIE_ALWAYS,
	                     .globals = "puzzles = { enabled = true; difficulty = 6; };"};
	struct hx_net *n = hx_new(NULL, &cb);

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nq, 1);
	assert_true(hx_has_notify(n, 0, IKEV2_N_COOKIE));
	assert_true(hx_has_notify(n, 0, IKEV2_N_PUZZLE));
	assert_int_equal(hx_deliver(n), 0);
	/* The retry: N(COOKIE) first, then the PS. */
	assert_int_equal(n->nq, 1);
	assert_true(hx_has_notify(n, 0, IKEV2_N_COOKIE));
	assert_true(hx_has_payload(n, 0, IKEV2_PL_PS));
	hx_settle(n, 3000);
	hx_assert_ike_up(n);
	assert_int_equal(hx_stats(n, HX_A)->puzzles_solved_local, 1);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_sent, 1);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_solved, 1);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_weak, 0);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_ignored, 0);
}

/* 7.1.2, 7.1.5: a peer that ignores puzzles (as strongSwan, libreswan and
 * OpenIKED do) retries with the cookie alone and still gets in. */
static void test_puzzle_ignored(void **state)
{
	struct hx_conf ca = {.globals = "puzzles = { solve_work = 0; };"};
	struct hx_conf cb = {.remote = "%any",
	                     .cookie_threshold = HX_COOKIE_ALWAYS,
	                     .globals = "puzzles = { enabled = true; difficulty = 6; };"};
	struct hx_net *n = hx_new(&ca, &cb);

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_true(hx_has_notify(n, 0, IKEV2_N_PUZZLE));
	assert_int_equal(hx_deliver(n), 0);
	assert_true(hx_has_notify(n, 0, IKEV2_N_COOKIE));
	assert_false(hx_has_payload(n, 0, IKEV2_PL_PS));
	hx_settle(n, 3000);
	hx_assert_ike_up(n);
	assert_int_equal(hx_stats(n, HX_A)->puzzles_given_up, 1);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_ignored, 1);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_solved, 0);
}

/* 7.1.2: a budget too small for the difficulty: given up, cookie alone. */
static void test_puzzle_over_budget(void **state)
{
	struct hx_conf ca = {.globals = "puzzles = { solve_work = 16; };"};
	struct hx_conf cb = {.remote = "%any",
	                     .cookie_threshold = HX_COOKIE_ALWAYS,
	                     .globals = "puzzles = { enabled = true; difficulty = 16; };"};
	struct hx_net *n = hx_new(&ca, &cb);

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_false(hx_has_payload(n, 0, IKEV2_PL_PS));
	hx_settle(n, 3000);
	hx_assert_ike_up(n);
	assert_int_equal(hx_stats(n, HX_A)->puzzles_given_up, 1);
	assert_int_equal(hx_stats(n, HX_A)->puzzles_solved_local, 0);
}

/*
 * 7.1.4: a solution whose keys do not meet the difficulty is the low
 * class, still served while resources allow (7.1.5). The PS is altered on
 * the wire, so a's AUTH (which covers its IKE_SA_INIT) cannot verify
 * later: only b's verdict and answer are checked.
 */
static void test_puzzle_weak(void **state)
{
	struct hx_conf cb = {.remote = "%any",
	                     .cookie_threshold = HX_COOKIE_ALWAYS,
	                     .globals = "puzzles = { enabled = true; difficulty = 6; };"};
	struct hx_net *n = hx_new(NULL, &cb);
	struct wire_msg m;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(hx_deliver(n), 0);
	/* HDR (28), N(COOKIE) (4 + 4 + 40), PS header (4): the first key's first octet. */
	assert_int_equal(hx_decode(n, 0, &m), 0);
	assert_int_equal(m.payloads[0].u.notify.len, 40);
	assert_int_equal(m.payloads[1].type, IKEV2_PL_PS);
	wire_msg_free(&m);
	hx_tamper(n, 0, 28 + 48 + 4, 0x80);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_weak, 1);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_solved, 0);
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_SA_INIT, true);
	assert_true(hx_has_payload(n, 0, IKEV2_PL_KE));
}

/*
 * 7.1.5: under load, solvers first. b is under attack (2 half-open SAs at
 * the threshold of 2) and has used 2 of its 4 DH per second: a request
 * without a solution is deferred until the next second, a solver's is
 * served at once.
 */
static void solvers_first(void **state, bool solver)
{
	struct hx_conf ca = {.globals = solver ? "" : "puzzles = { solve_work = 0; };",
	                     .retransmit = "timeout = 1.0; base = 2.0; tries = 5;"};
	struct hx_conf cb = {.remote = "%any",
	                     .cookie_threshold = 2,
	                     .globals =
	                         "puzzles = { enabled = true; difficulty = 4; }; under_attack = { "
	                         "dh_per_second = 4; };"};
	struct hx_net *n = hx_new(&ca, &cb);
	struct hx_dgram t;

	*state = n;
	take_init(n, &t);
	inject(n, &t, 1, 1);
	inject(n, &t, 2, 2);
	drain(n);
	assert_int_equal(hx_count_state(n, HX_B, IKE_S_INIT_DONE, NULL), 2);
	/* a's own request: COOKIE and PUZZLE; the retry. */
	hx_input(n, &t.from, &t.to, t.buf, t.len);
	free(t.buf);
	assert_true(hx_has_notify(n, 0, IKEV2_N_PUZZLE));
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(hx_has_payload(n, 0, IKEV2_PL_PS), solver);
	assert_int_equal(hx_deliver(n), 0);
	if (solver) {
		assert_int_equal(n->nq, 1); /* the IKE_SA_INIT response */
		assert_int_equal(hx_stats(n, HX_B)->puzzles_deferred, 0);
		assert_int_equal(hx_stats(n, HX_B)->puzzles_solved, 1);
	} else {
		assert_int_equal(n->nq, 0); /* deferred: no answer, no state */
		assert_int_equal(hx_stats(n, HX_B)->puzzles_deferred, 1);
		assert_int_equal(hx_count_state(n, HX_B, IKE_S_INIT_DONE, NULL), 2);
	}
	/* The next second has room again: the retransmission gets in. */
	hx_settle(n, 5000);
	hx_assert_ike_up(n);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_deferred, solver ? 0 : 1);
}

static void test_solver_first(void **state)
{
	solvers_first(state, true);
}

static void test_legacy_later(void **state)
{
	solvers_first(state, false);
}

/* ---- 7.2: puzzles in IKE_AUTH ---- */

#define AUTH_PZ_B "puzzles = { enabled = true; difficulty = 6; auth_difficulty = 8; };"

/* Decode queued datagram i without opening SK (b has no keys to open it yet). */
static void decode_clear(struct hx_net *n, size_t i, struct wire_msg *m)
{
	const uint8_t *p;
	size_t len;
	struct wire_error e;

	assert_true(i < n->nq);
	hx_ike_bytes(&n->q[i], &p, &len);
	wire_msg_init(m);
	assert_int_equal(wire_decode(p, len, m, &e), 0);
}

/* b's only SA, half-open. */
static struct ike_sa *b_half_open(struct hx_net *n)
{
	struct ike_sa *sa = NULL;

	assert_int_equal(hx_count_state(n, HX_B, IKE_S_INIT_DONE, &sa), 1);
	return sa;
}

/*
 * Up to a's IKE_AUTH request with its IKE_AUTH solution, queued:
 *   HDR, SAi1, KEi, Ni  -->            <--  HDR, N(COOKIE), N(PUZZLE)
 *   HDR, N(COOKIE), PS, SAi1, KEi, Ni  -->
 *                      <--  HDR, SAr1, KEr, Nr, N(PUZZLE)       7.2.1
 *   HDR, PS, SK {IDi, AUTH, SAi2, TSi, TSr}  -->                7.2.2
 * b has computed no DH so far (7.2.4: it waits for the solution).
 */
static struct hx_net *auth_puzzle_start(void)
{
	struct hx_conf cb = {
	    .remote = "%any", .cookie_threshold = HX_COOKIE_ALWAYS, .globals = AUTH_PZ_B};
	struct hx_net *n = hx_new(NULL, &cb);
	struct wire_msg m;
	struct wire_puzzle pz;
	const struct wire_payload *p;

	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver(n), 0); /* to b: COOKIE, PUZZLE back */
	assert_int_equal(hx_deliver(n), 0); /* to a: the retry with PS */
	assert_true(hx_has_payload(n, 0, IKEV2_PL_PS));
	assert_int_equal(hx_deliver(n), 0); /* to b: the regular response */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_SA_INIT, true);
	assert_true(hx_has_payload(n, 0, IKEV2_PL_KE));
	decode_clear(n, 0, &m);
	p = wire_msg_find_notify(&m, IKEV2_N_PUZZLE);
	assert_non_null(p);
	assert_int_equal(wire_puzzle_decode(&p->u.notify, &pz, NULL), 0);
	/* 7.2.1.1: never 0, at most auth_difficulty, at most what the 7.1 solution reached. */
	assert_true(pz.difficulty >= 6 && pz.difficulty <= 8);
	assert_int_equal(pz.difficulty, b_half_open(n)->su->auth_puzzle);
	assert_int_equal(pz.prf, b_half_open(n)->suite.prf);
	wire_msg_free(&m);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_auth_sent, 1);
	assert_int_equal(hx_stats(n, HX_B)->dh_computed, 0);
	assert_false(b_half_open(n)->keyed);
	assert_int_equal(hx_deliver(n), 0); /* to a: solves, sends IKE_AUTH */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_A, IKEV2_EXCH_IKE_AUTH, false);
	assert_int_equal(hx_stats(n, HX_A)->puzzles_auth_solved_local, 1);
	/* 7.2.2: the PS first and outside the Encrypted payload. */
	decode_clear(n, 0, &m);
	assert_int_equal(m.npayloads, 2);
	assert_int_equal(m.payloads[0].type, IKEV2_PL_PS);
	assert_false(m.payloads[0].encrypted);
	assert_int_equal(m.payloads[0].u.ps.len, 16); /* four 4-octet keys for HMAC (8.2) */
	assert_int_equal(m.payloads[1].type, IKEV2_PL_SK);
	wire_msg_free(&m);
	return n;
}

/* 7.2.4: the solution is checked, then the DH and keys; the SA comes up. */
static void test_auth_puzzle_solved(void **state)
{
	struct hx_net *n = auth_puzzle_start();

	*state = n;
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_auth_solved, 1);
	assert_int_equal(hx_stats(n, HX_B)->dh_computed, 1);
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_AUTH, true);
	hx_settle(n, 3000);
	hx_assert_ike_up(n);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_auth_weak, 0);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_auth_missing, 0);
	assert_int_equal(hx_stats(n, HX_A)->puzzles_given_up, 0);
}

/*
 * 7.2.4: a solution below the difficulty is dropped silently before any
 * DH; the SA stays half-open and a's retransmission (the true solution)
 * gets in.
 */
static void test_auth_puzzle_wrong(void **state)
{
	struct hx_net *n = auth_puzzle_start();

	*state = n;
	/* HDR (28), PS header (4): every octet of the four keys changed. */
	for (size_t i = 0; i < 16; i++)
		hx_tamper(n, 0, 28 + 4 + i, 0x5a);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nq, 0);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_auth_weak, 1);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_auth_solved, 0);
	assert_int_equal(hx_stats(n, HX_B)->dh_computed, 0);
	assert_int_equal(hx_stats(n, HX_B)->drop_icv, 0);
	assert_false(b_half_open(n)->keyed);
	hx_settle(n, 5000);
	hx_assert_ike_up(n);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_auth_solved, 1);
	assert_int_equal(hx_stats(n, HX_B)->dh_computed, 1);
}

/*
 * 7.2.4: "MUST silently discard all the IKE_AUTH request messages without
 * the PS payload": a's request with the PS cut out (header fixed up; its
 * ICV no longer matches, but it is never checked) is dropped unopened.
 */
static void test_auth_puzzle_missing(void **state)
{
	struct hx_net *n = auth_puzzle_start();
	uint8_t buf[2048];
	size_t ps_len, len;
	const struct hx_dgram *d;

	*state = n;
	d = &n->q[0];
	assert_true(d->len <= sizeof(buf) && d->from.ss.sa.sa_family == AF_INET);
	assert_int_equal(hx_port(&d->to), 500);
	ps_len = (size_t)d->buf[30] << 8 | d->buf[31];
	assert_int_equal(ps_len, 4 + 16);
	len = d->len - ps_len;
	memcpy(buf, d->buf, 28);
	memcpy(buf + 28, d->buf + 28 + ps_len, len - 28);
	buf[16] = IKEV2_PL_SK;
	buf[24] = (uint8_t)(len >> 24);
	buf[25] = (uint8_t)(len >> 16);
	buf[26] = (uint8_t)(len >> 8);
	buf[27] = (uint8_t)len;
	hx_input(n, &d->from, &d->to, buf, len);
	assert_int_equal(n->nq, 1); /* no answer; the original is still queued */
	assert_int_equal(hx_stats(n, HX_B)->puzzles_auth_missing, 1);
	assert_int_equal(hx_stats(n, HX_B)->dh_computed, 0);
	assert_int_equal(hx_stats(n, HX_B)->drop_icv, 0);
	assert_false(b_half_open(n)->keyed);
	hx_settle(n, 3000);
	hx_assert_ike_up(n);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_auth_solved, 1);
}

/*
 * 7.2.1: a peer that did not solve the IKE_SA_INIT puzzle (strongSwan,
 * libreswan, OpenIKED) is never given one in IKE_AUTH; its IKE_AUTH
 * without a PS is served as usual, keys made in IKE_SA_INIT.
 */
static void test_auth_puzzle_not_solved_served(void **state)
{
	struct hx_conf ca = {.globals = "puzzles = { solve_work = 0; };"};
	struct hx_conf cb = {
	    .remote = "%any", .cookie_threshold = HX_COOKIE_ALWAYS, .globals = AUTH_PZ_B};
	struct hx_net *n = hx_new(&ca, &cb);
	struct wire_msg m;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_false(hx_has_payload(n, 0, IKEV2_PL_PS));
	assert_int_equal(hx_deliver(n), 0);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_SA_INIT, true);
	assert_true(hx_has_payload(n, 0, IKEV2_PL_KE));
	assert_false(hx_has_notify(n, 0, IKEV2_N_PUZZLE));
	assert_int_equal(hx_stats(n, HX_B)->dh_computed, 1);
	assert_int_equal(hx_deliver(n), 0);
	hx_expect(n, 0, HX_A, IKEV2_EXCH_IKE_AUTH, false);
	decode_clear(n, 0, &m);
	assert_int_equal(m.npayloads, 1);
	assert_int_equal(m.payloads[0].type, IKEV2_PL_SK);
	wire_msg_free(&m);
	hx_settle(n, 3000);
	hx_assert_ike_up(n);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_auth_sent, 0);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_auth_missing, 0);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_ignored, 1);
}

/* auth_difficulty = 0: solvers of 7.1 get no IKE_AUTH puzzle; keys at once. */
static void test_auth_puzzle_off(void **state)
{
	struct hx_conf cb = {.remote = "%any",
	                     .cookie_threshold = HX_COOKIE_ALWAYS,
	                     .globals = "puzzles = { enabled = true; difficulty = 6; "
	                                "auth_difficulty = 0; };"};
	struct hx_net *n = hx_new(NULL, &cb);

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver_all(n, 3), 3);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_SA_INIT, true);
	assert_false(hx_has_notify(n, 0, IKEV2_N_PUZZLE));
	assert_int_equal(hx_stats(n, HX_B)->dh_computed, 1);
	hx_settle(n, 3000);
	hx_assert_ike_up(n);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_solved, 1);
	assert_int_equal(hx_stats(n, HX_B)->puzzles_auth_sent, 0);
	assert_int_equal(hx_stats(n, HX_A)->puzzles_auth_solved_local, 0);
}

/*
 * 4.2: the DH budget. Two DH per second: the third request of the second
 * is refused and counted, the budget's line is logged once whatever the
 * number of refusals, and the saturation puts b under attack (cookies)
 * until a second passes without it.
 */
static void test_dh_budget(void **state)
{
	struct hx_conf cb = {.remote = "%any", .globals = "under_attack = { dh_per_second = 2; };"};
	struct hx_net *n = hx_new(NULL, &cb);
	struct hx_dgram t;
	uint64_t dh0;

	*state = n;
	log_capture();
	take_init(n, &t);
	dh0 = hx_stats(n, HX_B)->dh_computed;
	inject(n, &t, 1, 1);
	inject(n, &t, 2, 2);
	assert_int_equal(n->nq, 2);
	drain(n);
	assert_int_equal(hx_stats(n, HX_B)->dh_computed, dh0 + 2);
	assert_int_equal(hx_stats(n, HX_B)->dh_saturated, 1);
	assert_int_equal(log_count("DH budget of 2/s reached"), 1);
	assert_int_equal(log_count("ike under attack (1 half-open SAs, 2 DH/s)"), 1);
	/* Under attack: cookies are demanded; nothing more is computed. */
	for (uint32_t i = 3; i < 50; i++)
		inject(n, &t, i, i);
	assert_int_equal(hx_stats(n, HX_B)->cookies_sent, 47);
	assert_int_equal(hx_stats(n, HX_B)->dh_computed, dh0 + 2);
	drain(n);
	assert_int_equal(log_count("DH budget of 2/s reached"), 1);
	assert_int_equal(log_count("ike under attack"), 1);
	assert_int_equal(hx_stats(n, HX_B)->attack_started, 1);
	/* a's own request, retried with its cookie (three copies) in the same
	 * second: refused for the budget, counted, not logged again. */
	hx_input(n, &t.from, &t.to, t.buf, t.len);
	free(t.buf);
	assert_int_equal(hx_deliver(n), 0);
	assert_true(hx_has_notify(n, 0, IKEV2_N_COOKIE));
	hx_dup(n, 0);
	hx_dup(n, 0);
	assert_int_equal(hx_deliver_all(n, 3), 3);
	assert_int_equal(n->nq, 0);
	assert_int_equal(hx_stats(n, HX_B)->drop_dh_budget, 3);
	assert_int_equal(hx_stats(n, HX_B)->dh_computed, dh0 + 2);
	assert_int_equal(log_count("DH budget of 2/s reached"), 1);
	/* The next second has room: a's retransmission gets in. */
	hx_settle(n, 3000);
	hx_assert_ike_up(n);
	assert_int_equal(hx_stats(n, HX_B)->dh_saturated, 1);
	/* A second without reaching the budget: no longer under attack. */
	assert_int_equal(log_count("no longer under attack"), 1);
	assert_int_equal(hx_stats(n, HX_B)->attack_started, 1);
}

/*
 * 4.1: under attack, a new half-open SA waits for IKE_AUTH
 * under_attack.half_open_timeout (5 s), those from before keep their 30 s;
 * the mode's start and end are each one line.
 */
static void test_under_attack_timeout(void **state)
{
	struct hx_conf ca = {.retransmit = "timeout = 20.0; base = 2.0; tries = 2;"};
	struct hx_conf cb = {.remote = "%any", .cookie_threshold = 3};
	struct hx_net *n = hx_new(&ca, &cb);
	struct hx_dgram t;

	*state = n;
	log_capture();
	take_init(n, &t);
	for (uint32_t i = 1; i <= 3; i++)
		inject(n, &t, i, i);
	drain(n);
	/* The fourth request finds b at the threshold. */
	inject(n, &t, 4, 4);
	assert_true(hx_has_notify(n, 0, IKEV2_N_COOKIE));
	drain(n);
	assert_int_equal(log_count("ike under attack (3 half-open SAs"), 1);
	assert_int_equal(log_count("half-open timeout 5 s"), 1);
	/* a gets in through the cookie; its IKE_AUTH is lost (and not resent for 20 s). */
	hx_input(n, &t.from, &t.to, t.buf, t.len);
	free(t.buf);
	assert_int_equal(hx_deliver(n), 0); /* COOKIE to a */
	assert_int_equal(hx_deliver(n), 0); /* retry to b */
	assert_int_equal(hx_count_state(n, HX_B, IKE_S_INIT_DONE, NULL), 4);
	assert_int_equal(hx_deliver(n), 0); /* response to a */
	hx_expect(n, 0, HX_A, IKEV2_EXCH_IKE_AUTH, false);
	hx_drop(n);
	hx_advance(n, 5500);
	assert_int_equal(hx_stats(n, HX_B)->half_open_expired, 1);
	assert_int_equal(hx_count_state(n, HX_B, IKE_S_INIT_DONE, NULL), 3);
	assert_int_equal(log_count("no longer under attack"), 0);
	hx_advance(n, 25000);
	assert_int_equal(hx_stats(n, HX_B)->half_open_expired, 4);
	assert_int_equal(log_count("no longer under attack"), 1);
	assert_int_equal(log_count("ike under attack ("), 1);
	assert_int_equal(hx_stats(n, HX_B)->attack_started, 1);
}

/*
 * 5: a source whose IKE_AUTH fails twice within the window is refused for
 * auth_failures.block seconds: its IKE_SA_INIT gets no answer and no work.
 */
static void test_auth_failure_limit(void **state)
{
	struct hx_conf ca = {.psk = "a different secret of reasonable length"};
	struct hx_conf cb = {.remote = "%any",
	                     .globals = "auth_failures = { max = 2; window = 60; block = 300; };"};
	struct hx_net *n = hx_new(&ca, &cb);
	uint64_t dh;

	*state = n;
	log_capture();
	for (int i = 0; i < 2; i++) {
		assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
		hx_settle(n, 1000);
		assert_int_equal(hx_count_sas(n, HX_A), 0);
	}
	assert_int_equal(hx_stats(n, HX_B)->auth_failed, 2);
	assert_int_equal(hx_stats(n, HX_B)->auth_blocked, 1);
	assert_int_equal(log_count("2 failed IKE_AUTH within 60 s"), 1);
	/* Blocked: the request is dropped before the cookie, proposal or DH. */
	dh = hx_stats(n, HX_B)->dh_computed;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nq, 0);
	assert_int_equal(hx_stats(n, HX_B)->drop_auth_blocked, 1);
	assert_int_equal(hx_stats(n, HX_B)->dh_computed, dh);
	hx_settle(n, 30000); /* a's retransmissions: all refused, counted */
	assert_true(hx_stats(n, HX_B)->drop_auth_blocked > 1);
	assert_int_equal(hx_stats(n, HX_B)->sa_failed, 2);
	/* After the block: answered again. */
	hx_advance(n, 300000);
	hx_q_clear(n);
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_SA_INIT, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_puzzle_solved, px_teardown),
	    cmocka_unit_test_teardown(test_puzzle_ignored, px_teardown),
	    cmocka_unit_test_teardown(test_puzzle_over_budget, px_teardown),
	    cmocka_unit_test_teardown(test_puzzle_weak, px_teardown),
	    cmocka_unit_test_teardown(test_solver_first, px_teardown),
	    cmocka_unit_test_teardown(test_legacy_later, px_teardown),
	    cmocka_unit_test_teardown(test_auth_puzzle_solved, px_teardown),
	    cmocka_unit_test_teardown(test_auth_puzzle_wrong, px_teardown),
	    cmocka_unit_test_teardown(test_auth_puzzle_missing, px_teardown),
	    cmocka_unit_test_teardown(test_auth_puzzle_not_solved_served, px_teardown),
	    cmocka_unit_test_teardown(test_auth_puzzle_off, px_teardown),
	    cmocka_unit_test_teardown(test_dh_budget, px_teardown),
	    cmocka_unit_test_teardown(test_under_attack_timeout, px_teardown),
	    cmocka_unit_test_teardown(test_auth_failure_limit, px_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
