/*
 * Exchange tests of Redirect (RFC 5685) with three engines: a (the client,
 * 192.0.2.1), b (the gateway it is configured for, 192.0.2.2) and c (a
 * second gateway like b, 192.0.2.3, with b's identity).
 *
 * Each of the three places in both roles: IKE_SA_INIT (3, stateless on the
 * gateway), IKE_AUTH (6, after both AUTHs), an established SA (5, make
 * before break on the client), and what must not be followed: a wrong
 * nonce, a REDIRECT without REDIRECT_SUPPORTED, an unauthenticated REDIRECT
 * in IKE_AUTH, a redirect loop (7), a REDIRECT during an IKE rekey, a
 * target outside the allow-list, an FQDN that does not resolve. Plus the
 * gateway's side: no state for an IKE_SA_INIT redirect, the grace time,
 * drain and anycast (4).
 */
#include "harness.h"
#include "ike/ext.h"
#include "wire/notify.h"

#define B_TO_C  "redirect = { to = [ \"" HX_ADDR_C "\" ]; };"
#define CB_TO_B "redirect = { to = [ \"" HX_ADDR_B "\" ]; };"
#define B_BY_ID "redirect = { by_id = ( { id = \"a.*\"; to = \"" HX_ADDR_C "\"; } ); };"
#define GW_ANY  "%any"

static const struct hx_conf gw = {.remote = GW_ANY};

/* The only SA of a side in state st, or NULL. */
static struct ike_sa *only(struct hx_net *n, int side, enum ike_state st)
{
	struct ike_sa *sa = NULL;

	if (hx_count_state(n, side, st, &sa) != 1)
		return NULL;
	return sa;
}

static bool has_notify(struct hx_net *n, size_t i, uint16_t type)
{
	return hx_has_notify(n, i, type);
}

/* a is established with c (and nothing else), traffic selectors installed. */
static void assert_with_c(struct hx_net *n)
{
	struct ike_sa *a = only(n, HX_A, IKE_S_ESTABLISHED), *c = only(n, HX_C, IKE_S_ESTABLISHED);

	assert_non_null(a);
	assert_non_null(c);
	assert_true(hx_is_host(ike_sa_remote(a), HX_ADDR_C));
	assert_memory_equal(ike_sa_spi_i(a), ike_sa_spi_i(c), 8);
	assert_int_equal(hx_count_sas(n, HX_A), 1);
	assert_int_equal(n->p[HX_A].n_installed, 1);
	assert_int_equal(n->p[HX_C].n_installed, 1);
	assert_int_equal(n->p[HX_A].installed[0].spi_out, n->p[HX_C].installed[0].spi_in);
}

static uint64_t counter(struct hx_net *n, int side, const char *key)
{
	char *buf = NULL, *at;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	uint64_t v = UINT64_MAX;
	char pat[64];

	assert_non_null(f);
	hx_redirect_json(hx_ike(n, side), f);
	fclose(f);
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	at = strstr(buf, pat);
	if (at)
		v = strtoull(at + strlen(pat), NULL, 10);
	free(buf);
	assert_true(v != UINT64_MAX);
	return v;
}

/* ---- IKE_SA_INIT (3) ---- */

static void test_init_redirect(void **state)
{
	struct hx_conf cb = {.remote = GW_ANY, .extra = B_TO_C};
	struct hx_net *n = hx_new3(NULL, &cb, &gw);
	struct wire_msg m;
	struct wire_redirect r;
	struct wire_error err;
	const struct wire_payload *p, *np;
	const uint8_t *ni;
	size_t ni_len;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	/* HDR(A,0), SAi1, KEi, Ni, N(REDIRECT_SUPPORTED) --> b */
	assert_true(has_notify(n, 0, IKEV2_N_REDIRECT_SUPPORTED));
	assert_false(has_notify(n, 0, IKEV2_N_REDIRECTED_FROM));
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR(A,0), N(REDIRECT, 192.0.2.3, Ni): nothing else, no SA kept */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_SA_INIT, true);
	assert_int_equal(hx_decode(n, 0, &m), 0);
	assert_int_equal(m.npayloads, 1);
	p = wire_msg_find_notify(&m, IKEV2_N_REDIRECT);
	assert_non_null(p);
	assert_int_equal(wire_redirect_decode(&p->u.notify, &r, &err), 0);
	assert_int_equal(r.gw.type, IKEV2_GW_ID_IPV4);
	ni = ike_sa_ni(hx_sa(n, HX_A), &ni_len);
	assert_int_equal(r.nonce_len, ni_len);
	assert_memory_equal(r.nonce, ni, ni_len);
	wire_msg_free(&m);
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	assert_int_equal(hx_ike(n, HX_B)->half_open, 0);
	assert_int_equal(counter(n, HX_B, "sent_init"), 1);
	assert_int_equal(hx_deliver(n), 0);
	/* a --> c: HDR(A',0), SAi1, KEi, Ni, N(REDIRECTED_FROM, 192.0.2.2) */
	assert_int_equal(n->nq, 1);
	assert_true(hx_is_host(&n->q[0].to, HX_ADDR_C));
	assert_true(has_notify(n, 0, IKEV2_N_REDIRECTED_FROM));
	assert_false(has_notify(n, 0, IKEV2_N_REDIRECT_SUPPORTED));
	assert_int_equal(hx_decode(n, 0, &m), 0);
	np = wire_msg_find_notify(&m, IKEV2_N_REDIRECTED_FROM);
	{
		struct wire_gw_id from;
		struct ike_addr fa;

		assert_int_equal(wire_redirected_from_decode(&np->u.notify, &from, &err), 0);
		assert_int_equal(addr_from_bytes(&fa, from.id, from.len), 0);
		assert_true(hx_is_host(&fa, HX_ADDR_B));
	}
	wire_msg_free(&m);
	hx_settle(n, 3000);
	assert_with_c(n);
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	assert_int_equal(counter(n, HX_A, "followed"), 1);
}

/* 3: a REDIRECT whose nonce data is not our Ni is discarded; we keep waiting. */
static void test_init_wrong_nonce(void **state)
{
	struct hx_conf cb = {.remote = GW_ANY, .extra = B_TO_C};
	struct hx_net *n = hx_new3(NULL, &cb, &gw);
	struct ike_sa *a;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nq, 1);
	/* The last octet of the notify data is the last octet of the nonce. */
	hx_tamper(n, 0, n->q[0].len - 1, 0x01);
	assert_int_equal(hx_deliver(n), 0);
	a = only(n, HX_A, IKE_S_INIT_SENT);
	assert_non_null(a);
	assert_int_equal(n->nq, 0);
	assert_int_equal(counter(n, HX_A, "ignored"), 1);
	assert_int_equal(counter(n, HX_A, "followed"), 0);
	/* Still waiting: the retransmission gets a good REDIRECT, and a follows. */
	hx_settle(n, 5000);
	assert_with_c(n);
}

/* 3: without REDIRECT_SUPPORTED a client is served, and a REDIRECT sent to
 * it anyway is ignored. */
static void test_init_not_announced(void **state)
{
	struct hx_conf ca = {.extra = "redirect = { accept = false; };"};
	struct hx_conf cb = {.remote = GW_ANY, .extra = B_TO_C};
	struct hx_net *n = hx_new3(&ca, &cb, &gw);
	struct hx_dgram req;
	struct wire_msg m, ans;
	struct wire_hdr h;
	struct wire_redirect r;
	struct wire_wr w;
	const struct wire_payload *np;
	uint8_t data[WIRE_REDIRECT_MAX];
	size_t len;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_false(has_notify(n, 0, IKEV2_N_REDIRECT_SUPPORTED));
	/* A forged HDR(A,0), N(REDIRECT, c, Ni) reaches a first. */
	hx_take(n, 0, &req);
	assert_int_equal(hx_decode_dgram(n, &req, &m), 0);
	np = wire_msg_find(&m, IKEV2_PL_NI_NR, NULL);
	memset(&r, 0, sizeof(r));
	r.gw.type = IKEV2_GW_ID_IPV4;
	r.gw.len = 4;
	memcpy(r.gw.id, "\xc0\x00\x02\x03", 4);
	r.nonce_len = (uint16_t)np->u.nonce.len;
	memcpy(r.nonce, np->u.nonce.data, np->u.nonce.len);
	assert_int_equal(wire_redirect_encode(&r, data, sizeof(data), &len), 0);
	wire_msg_init(&ans);
	assert_int_equal(build_notify(&ans, 0, NULL, 0, IKEV2_N_REDIRECT, data, len), 0);
	ans.hdr = m.hdr;
	ans.hdr.flags = IKEV2_FLAG_RESPONSE;
	h = ans.hdr;
	(void)h;
	wire_wr_init(&w, 4096);
	assert_int_equal(wire_encode(&ans, &w), 0);
	hx_input(n, &req.to, &req.from, w.p, w.len);
	wire_wr_free(&w);
	wire_msg_free(&ans);
	wire_msg_free(&m);
	assert_non_null(only(n, HX_A, IKE_S_INIT_SENT));
	assert_int_equal(counter(n, HX_A, "ignored"), 1);
	assert_int_equal(n->nq, 0);
	/* The real request: b does not redirect a client that did not announce it. */
	hx_input(n, &req.from, &req.to, req.buf, req.len);
	free(req.buf);
	hx_settle(n, 2000);
	hx_assert_ike_up(n);
	assert_int_equal(counter(n, HX_B, "sent_init"), 0);
	assert_int_equal(hx_count_sas(n, HX_C), 0);
}

/* The gateway keeps no state for an IKE_SA_INIT redirect, however many. */
static void test_init_stateless(void **state)
{
	struct hx_conf cb = {.remote = GW_ANY, .extra = B_TO_C};
	struct hx_net *n = hx_new3(NULL, &cb, &gw);
	struct hx_dgram req;
	uint8_t buf[2048];

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	hx_take(n, 0, &req);
	assert_true(req.len <= sizeof(buf));
	for (unsigned i = 0; i < 2000; i++) {
		struct ike_addr from;
		char ip[32];

		memcpy(buf, req.buf, req.len);
		buf[0] ^= (uint8_t)i;
		buf[1] ^= (uint8_t)(i >> 8);
		snprintf(ip, sizeof(ip), "198.51.%u.%u", 100 + i / 250, 1 + i % 250);
		hx_addr(&from, ip, 500);
		hx_input(n, &from, &req.to, buf, req.len);
		assert_int_equal(n->nq, 1);
		hx_drop(n);
	}
	free(req.buf);
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	assert_int_equal(hx_ike(n, HX_B)->half_open, 0);
	assert_int_equal(hx_stats(n, HX_B)->cookies_sent, 0);
	assert_int_equal(counter(n, HX_B, "sent_init"), 2000);
}

/* ---- IKE_AUTH (6) ---- */

static void test_auth_redirect(void **state)
{
	struct hx_conf cb = {.remote = GW_ANY, .extra = B_BY_ID};
	struct hx_net *n = hx_new3(NULL, &cb, &gw);

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver(n), 0); /* IKE_SA_INIT request */
	assert_int_equal(hx_deliver(n), 0); /* response */
	assert_int_equal(hx_deliver(n), 0); /* IKE_AUTH request */
	/* <-- HDR, SK {IDr, AUTH, N(REDIRECT, c)}: no SA, TSi, TSr */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_AUTH, true);
	assert_true(has_notify(n, 0, IKEV2_N_REDIRECT));
	assert_false(hx_has_payload(n, 0, IKEV2_PL_SA));
	assert_true(hx_has_payload(n, 0, IKEV2_PL_AUTH));
	assert_int_equal(n->p[HX_B].n_installed, 0);
	assert_int_equal(counter(n, HX_B, "sent_auth"), 1);
	hx_settle(n, 3000);
	assert_with_c(n);
	/* a deleted its SA with b; b holds nothing, and no Child SA ever came up there. */
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	assert_int_equal(n->p[HX_A].n_child_down, 0);
}

/*
 * 6: a REDIRECT in an IKE_AUTH response whose AUTH does not verify is never
 * followed. The forger is a man in the middle of IKE_SA_INIT: it holds the
 * SK keys (here: b's half-open SA), not the PSK, so it can seal
 * {IDr, AUTH, N(REDIRECT)} but not compute AUTH.
 */
static void test_auth_unauthenticated(void **state)
{
	struct hx_conf cb = {.remote = GW_ANY};
	struct hx_net *n = hx_new3(NULL, &cb, &gw);
	struct ike_sa *bsa;
	struct wire_msg *m = calloc(1, sizeof(*m));
	struct wire_payload *auth;
	struct wire_hdr h;
	struct wire_wr w;
	struct wire_redirect r;
	uint8_t data[WIRE_REDIRECT_MAX], junk[32] = {0};
	size_t len;

	*state = n;
	assert_non_null(m);
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(hx_deliver(n), 0);
	/* a's IKE_AUTH request never reaches b; the forger answers it. */
	hx_hdr(n, 0, &h);
	hx_drop(n);
	bsa = only(n, HX_B, IKE_S_INIT_DONE);
	assert_non_null(bsa);
	wire_msg_init(m);
	assert_int_equal(build_id(m, IKEV2_PL_IDR, &bsa->conn->local_id), 0);
	auth = build_add(m, IKEV2_PL_AUTH);
	auth->u.auth.type = IKEV2_AUTH_METHOD_PSK;
	auth->u.auth.data = junk;
	auth->u.auth.len = sizeof(junk);
	memset(&r, 0, sizeof(r));
	r.gw.type = IKEV2_GW_ID_IPV4;
	r.gw.len = 4;
	memcpy(r.gw.id, "\xc0\x00\x02\x03", 4);
	assert_int_equal(wire_redirect_encode(&r, data, sizeof(data), &len), 0);
	assert_int_equal(build_notify(m, 0, NULL, 0, IKEV2_N_REDIRECT, data, len), 0);
	h.flags = IKEV2_FLAG_RESPONSE;
	wire_wr_init(&w, WIRE_SK_MAX_MSG);
	assert_int_equal(
	    wire_sk_seal(&bsa->prot_out, &h, m->payloads, m->npayloads, NULL, WIRE_SK_PAD_MIN, &w),
	    0);
	{
		struct ike_addr from, to;

		hx_addr(&from, HX_ADDR_B, 500);
		hx_addr(&to, HX_ADDR_A, 500);
		hx_input(n, &from, &to, w.p, w.len);
	}
	wire_wr_free(&w);
	wire_msg_free(m);
	free(m);
	/* a decrypts it, AUTH does not verify: the SA is gone, nothing followed. */
	assert_int_equal(counter(n, HX_A, "followed"), 0);
	assert_int_equal(hx_count_sas(n, HX_A), 0);
	assert_int_equal(n->nq, 0);
	hx_settle(n, 3000);
	assert_int_equal(hx_count_sas(n, HX_C), 0);
}

/* 5, 6: the gateway deletes a redirected SA the client keeps, after the grace time. */
static void test_auth_grace(void **state)
{
	struct hx_conf cb = {
	    .remote = GW_ANY,
	    .extra = "redirect = { grace = 5; by_id = ( { id = \"a.*\"; to = \"" HX_ADDR_C
	             "\"; } ); };"};
	struct hx_net *n = hx_new3(NULL, &cb, &gw);
	struct wire_hdr h;

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(hx_deliver(n), 0);
	/* a's Delete of the old SA is lost, and so are its retransmissions. */
	for (int k = 0; k < 200 && n->nq; k++) {
		hx_hdr(n, 0, &h);
		if (h.exchange == IKEV2_EXCH_INFORMATIONAL && hx_is_host(&n->q[0].to, HX_ADDR_B))
			hx_drop(n);
		else
			assert_int_equal(hx_deliver(n), 0);
	}
	assert_non_null(only(n, HX_B, IKE_S_ESTABLISHED));
	hx_advance(n, 4000);
	assert_non_null(only(n, HX_B, IKE_S_ESTABLISHED));
	hx_advance(n, 1500);
	/* b's own Delete is out. */
	assert_int_equal(hx_count_state(n, HX_B, IKE_S_ESTABLISHED, NULL), 0);
	assert_true(n->nq >= 1);
}

/* ---- an established SA (5) ---- */

static void test_active_redirect(void **state)
{
	struct hx_net *n = hx_new3(NULL, &gw, &gw);
	struct ike_redirect_sel all = {.all = true};
	uint64_t old;
	size_t steps = 0;

	*state = n;
	hx_establish(n);
	old = hx_sa(n, HX_A)->serial;
	assert_int_equal(ike_redirect(hx_ike(n, HX_B), &all, HX_ADDR_C), 1);
	/* <-- HDR, SK {N(REDIRECT, c)} */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_B, IKEV2_EXCH_INFORMATIONAL, false);
	assert_true(has_notify(n, 0, IKEV2_N_REDIRECT));
	/* Make before break: a's old Child SA stays installed until the new one is. */
	while (n->nq && steps++ < 200) {
		assert_int_equal(hx_deliver(n), 0);
		assert_true(n->p[HX_A].n_installed >= 1);
	}
	hx_settle(n, 3000);
	assert_with_c(n);
	assert_null(ike_sa_by_serial(hx_ike(n, HX_A), old));
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	assert_int_equal(counter(n, HX_B, "sent_active"), 1);
	assert_int_equal(counter(n, HX_A, "followed"), 1);
}

/* 5: a gateway-initiated REDIRECT during an IKE rekey is ignored. */
static void test_active_during_rekey(void **state)
{
	struct hx_net *n = hx_new3(NULL, &gw, &gw);
	struct ike_redirect_sel all = {.all = true};

	*state = n;
	hx_establish(n);
	assert_int_equal(ike_rekey_ike(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(ike_redirect(hx_ike(n, HX_B), &all, HX_ADDR_C), 1);
	assert_int_equal(n->nq, 2);
	/* b's REDIRECT reaches a while a's rekey is out. */
	hx_expect(n, 1, HX_B, IKEV2_EXCH_INFORMATIONAL, false);
	assert_int_equal(hx_deliver_at(n, 1), 0);
	assert_int_equal(counter(n, HX_A, "ignored"), 1);
	hx_settle(n, 3000);
	assert_int_equal(counter(n, HX_A, "followed"), 0);
	assert_int_equal(hx_count_sas(n, HX_C), 0);
	assert_non_null(only(n, HX_A, IKE_S_ESTABLISHED));
}

/* ---- the client's policy (7, allow-list) ---- */

static void test_loop_limit(void **state)
{
	struct hx_conf ca = {.extra = "redirect = { max = 3; period = 300; };"};
	struct hx_conf cb = {.remote = GW_ANY, .extra = B_TO_C};
	struct hx_conf cc = {.remote = GW_ANY, .extra = CB_TO_B};
	struct hx_net *n = hx_new3(&ca, &cb, &cc);

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	hx_settle(n, 2000);
	assert_int_equal(counter(n, HX_A, "followed"), 3);
	assert_int_equal(counter(n, HX_A, "refused"), 1);
	assert_int_equal(hx_count_sas(n, HX_A), 0);
	assert_int_equal(hx_count_sas(n, HX_B), 0);
	assert_int_equal(hx_count_sas(n, HX_C), 0);
}

static void test_allow_list(void **state)
{
	struct hx_conf ca = {.extra =
	                         "redirect = { allow = [ \"10.9.0.0/16\", \"*.example.net\" ]; };"};
	struct hx_conf cb = {.remote = GW_ANY, .extra = B_TO_C};
	struct hx_net *n = hx_new3(&ca, &cb, &gw);

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	hx_settle(n, 2000);
	assert_int_equal(counter(n, HX_A, "refused"), 1);
	assert_int_equal(counter(n, HX_A, "followed"), 0);
	assert_int_equal(hx_count_sas(n, HX_C), 0);
	assert_int_equal(hx_count_sas(n, HX_A), 0);
}

/* 9.2: an FQDN target is resolved without blocking, then followed. */
static void test_fqdn(void **state)
{
	struct hx_conf cb = {.remote = GW_ANY,
	                     .extra = "redirect = { to = [ \"gw2.example.net\" ]; };"};
	struct hx_net *n = hx_new3(NULL, &cb, &gw);

	*state = n;
	hx_host(n, "gw2.example.net", HX_ADDR_C);
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nlookups, 1);
	assert_string_equal(n->lookups[0].name, "gw2.example.net");
	assert_int_equal(n->nq, 0);
	hx_answer_lookups(n);
	hx_settle(n, 3000);
	assert_with_c(n);
}

static void test_fqdn_unresolved(void **state)
{
	struct hx_conf cb = {.remote = GW_ANY,
	                     .extra = "redirect = { to = [ \"nowhere.example.net\" ]; };"};
	struct hx_net *n = hx_new3(NULL, &cb, &gw);

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(hx_deliver(n), 0);
	hx_answer_lookups(n); /* no such name */
	hx_settle(n, 3000);
	assert_int_equal(hx_count_sas(n, HX_C), 0);
	assert_int_equal(hx_count_sas(n, HX_A), 0);
	/* A lookup that never comes back is given up after 5 s. */
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nlookups, 1);
	hx_advance(n, 5100);
	n->nlookups = 0;
	assert_null(hx_ike(n, HX_A)->lookups);
	assert_int_equal(hx_count_sas(n, HX_C), 0);
}

/* ---- gateway: drain and anycast (4) ---- */

static void test_drain(void **state)
{
	struct hx_net *n = hx_new3(NULL, &gw, &gw);

	*state = n;
	hx_establish(n);
	assert_int_equal(ike_redirect_drain(hx_ike(n, HX_B), HX_ADDR_C, 10), 0);
	assert_int_equal(counter(n, HX_B, "left"), 1);
	hx_settle(n, 3000);
	assert_with_c(n);
	assert_int_equal(counter(n, HX_B, "left"), 0);
	assert_int_equal(counter(n, HX_B, "sent_active"), 1);
	/* 30 ticks looked at each serial once: the drain keeps a cursor, it
	 * does not scan the SA table on every tick (issue 13). */
	assert_true(counter(n, HX_B, "drain_visits") <= ike_last_serial(hx_ike(n, HX_B)));
	assert_int_equal(ike_redirect_drain(hx_ike(n, HX_B), NULL, 0), 0);
	assert_int_equal(ike_redirect_drain(hx_ike(n, HX_B), "not a gateway", 1), -1);
}

static void test_anycast(void **state)
{
	struct hx_conf cb = {.remote = GW_ANY,
	                     .globals = "redirect_anycast = ( { address = \"" HX_ADDR_B
	                                "\"; to = \"" HX_ADDR_C "\"; } );"};
	struct hx_net *n = hx_new3(NULL, &cb, &gw);

	*state = n;
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	hx_settle(n, 3000);
	assert_with_c(n);
	assert_int_equal(counter(n, HX_B, "sent_init"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_init_redirect, hx_teardown),
	    cmocka_unit_test_teardown(test_init_wrong_nonce, hx_teardown),
	    cmocka_unit_test_teardown(test_init_not_announced, hx_teardown),
	    cmocka_unit_test_teardown(test_init_stateless, hx_teardown),
	    cmocka_unit_test_teardown(test_auth_redirect, hx_teardown),
	    cmocka_unit_test_teardown(test_auth_unauthenticated, hx_teardown),
	    cmocka_unit_test_teardown(test_auth_grace, hx_teardown),
	    cmocka_unit_test_teardown(test_active_redirect, hx_teardown),
	    cmocka_unit_test_teardown(test_active_during_rekey, hx_teardown),
	    cmocka_unit_test_teardown(test_loop_limit, hx_teardown),
	    cmocka_unit_test_teardown(test_allow_list, hx_teardown),
	    cmocka_unit_test_teardown(test_fqdn, hx_teardown),
	    cmocka_unit_test_teardown(test_fqdn_unresolved, hx_teardown),
	    cmocka_unit_test_teardown(test_drain, hx_teardown),
	    cmocka_unit_test_teardown(test_anycast, hx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
