/*
 * The IKE_SA_INIT exchange (RFC 7296 1.2, 2.6, 2.7, 2.10, 2.14, 2.23):
 * proposal and key-exchange negotiation, nonces, the cookie and
 * INVALID_KE_PAYLOAD restarts, NAT detection, and the key derivation that
 * ends it.
 *
 *   Initiator                         Responder
 *   HDR, SAi1, KEi, Ni,
 *     N(NAT_DETECTION_*), N(IKEV2_FRAGMENTATION_SUPPORTED)  -->
 *                                <--  HDR, SAr1, KEr, Nr, [CERTREQ], N(...),
 *                                       [N(PUZZLE)]          (RFC 8019 7.2.1)
 *   or                           <--  HDR, N(COOKIE), [N(PUZZLE)]   (RFC 8019 7.1.1)
 *   or                           <--  HDR, N(INVALID_KE_PAYLOAD)
 *   or                           <--  HDR, N(NO_PROPOSAL_CHOSEN)
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ike/attack.h"
#include "util/log.h"
#include "wire/notify.h"

#define MAX_INIT_RETRIES 5

static const uint8_t *notify_data(const struct wire_msg *m, uint16_t type, size_t *len)
{
	const struct wire_payload *p = wire_msg_find_notify(m, type);

	if (!p)
		return NULL;
	*len = p->u.notify.len;
	return p->u.notify.data ? p->u.notify.data : (const uint8_t *)"";
}

static int set_nonce(uint8_t **dst, size_t *dst_len, const struct wire_msg *m)
{
	const struct wire_payload *p = wire_msg_find(m, IKEV2_PL_NI_NR, NULL);

	/* 2.10: at least 16 octets and half the PRF key size; the decoder caps 256. */
	if (!p || p->u.nonce.len < 16 || p->u.nonce.len > IKE_MAX_NONCE)
		return -1;
	return sa_bytes_set(dst, dst_len, p->u.nonce.data, p->u.nonce.len);
}

/* The group our first proposal prefers, unless INVALID_KE chose another. */
static uint16_t initial_group(const struct ike_sa *sa)
{
	if (sa->dh_group)
		return sa->dh_group;
	return sa->conn->n_ike_proposals && sa->conn->ike_proposals[0].n_dh
	           ? sa->conn->ike_proposals[0].dh[0]
	           : 0;
}

static int draw_ni(struct ike_sa *sa)
{
	if (sa->ni_len)
		return 0;
	if (sa_bytes_set(&sa->ni, &sa->ni_len, NULL, IKE_NONCE_LEN) < 0)
		return -1;
	return crypto_random(sa->ni, sa->ni_len);
}

/* Our key pair is made by a crypto job (work.c); the request goes out when
 * it is back (ike_sa_init_resume). */
static int start_keygen(struct ike *ike, struct ike_sa *sa)
{
	struct ike_work *w =
	    sa->dh_group ? work_new(ike, sa, WORK_INIT_KEYGEN, sa->dh_group) : NULL;

	if (!w || draw_ni(sa) < 0) {
		work_free(w);
		return -1;
	}
	return work_submit(ike, sa, w);
}

int ike_sa_init_start(struct ike *ike, struct ike_sa *sa)
{
	static const uint8_t zero[8];
	struct wire_msg m;
	int rc = -1;

	/* 2.6: a retry after N(COOKIE) keeps every other payload unchanged,
	 * so the nonce and key exchange are made once (per group). */
	sa->dh_group = initial_group(sa);
	if (sa->dh && crypto_dh_group(sa->dh) != sa->dh_group) {
		crypto_dh_free(sa->dh);
		sa->dh = NULL;
	}
	if (!sa->dh)
		return start_keygen(ike, sa);
	if (draw_ni(sa) < 0)
		return -1;
	wire_msg_init(&m);
	/* 2.6: the cookie is the first payload of the retried request. */
	if (sa->su->cookie_len &&
	    build_notify(&m, 0, NULL, 0, IKEV2_N_COOKIE, sa->su->cookie, sa->su->cookie_len) < 0)
		goto out;
	/* RFC 8019 7.1.2: HDR, N(COOKIE), [PS,] SA, KE, Ni */
	if (puzzle_add_solution(sa, &m) < 0)
		goto out;
	if (build_sa(&m, sa->conn->ike_proposals, sa->conn->n_ike_proposals, IKEV2_PROTO_IKE, NULL,
	             0) < 0 ||
	    build_ke(&m, sa->dh) < 0 || build_nonce(&m, sa->ni, sa->ni_len) < 0 ||
	    nat_add_detection(&m, sa->spi_i, zero, &sa->local, &sa->remote, sa->fake_nat) < 0)
		goto out;
	/* RFC 7383 2.3 */
	if (sa->conn->fragmentation &&
	    build_notify(&m, 0, NULL, 0, IKEV2_N_IKEV2_FRAGMENTATION_SUPPORTED, NULL, 0) < 0)
		goto out;
	if (ext_add(ike, sa, EXT_SA_INIT_REQ_OUT, &m) < 0)
		goto out;
	sa->next_msg_id = 0; /* 2.6, 1.2: restarts reuse message ID 0 */
	rc = ike_send_request(ike, sa, IKEV2_EXCH_IKE_SA_INIT, TASK_IKE_SA_INIT, &m);
	if (rc == 0)
		sa_log(sa, LOG_INFO, "init-sent", "group \"%s\"", sa_group_name(sa->dh_group));
out:
	wire_msg_free(&m);
	return rc;
}

/* From SKEYSEED, the SK_* keys and both directions' protection (2.14);
 * the roles are the original initiator's and responder's. */
int ike_keys_install(struct ike_sa *sa, const uint8_t *skeyseed, const struct crypto_chunk *ni,
                     const struct crypto_chunk *nr)
{
	struct crypto_ike_keys *k = sa->keys;

	if (!k && !(k = sa->keys = calloc(1, sizeof(*k))))
		return -1;
	if (crypto_ike_keymat(&sa->suite, skeyseed, ni, nr, sa->spi_i, sa->spi_r, k) < 0 ||
	    k->d_len > sizeof(sa->sk_d) ||
	    wire_prot_init(&sa->prot_out, &sa->suite, sa->initiator ? k->sk_ei : k->sk_er, k->e_len,
	                   sa->initiator ? k->sk_ai : k->sk_ar, k->a_len) < 0 ||
	    wire_prot_init(&sa->prot_in, &sa->suite, sa->initiator ? k->sk_er : k->sk_ei, k->e_len,
	                   sa->initiator ? k->sk_ar : k->sk_ai, k->a_len) < 0)
		return -1;
	memcpy(sa->sk_d, k->sk_d, k->d_len);
	sa->sk_d_len = (uint8_t)k->d_len;
	sa->keyed = true;
	return 0;
}

void ike_keys_drop(struct ike_sa *sa)
{
	if (!sa->keys)
		return;
	crypto_ike_keys_wipe(sa->keys);
	free(sa->keys);
	sa->keys = NULL;
}

/* SKEYSEED and the SK_* keys from g^ir (2.14); our key pair is done with. */
static int init_keys(struct ike *ike, struct ike_sa *sa, const uint8_t *gir, size_t gir_len)
{
	uint8_t skeyseed[CRYPTO_MAX_PRF_LEN];
	struct crypto_chunk ni = {sa->ni, sa->ni_len}, nr = {sa->nr, sa->nr_len};
	struct crypto_chunk g = {gir, gir_len};
	int rc = -1;

	if (crypto_skeyseed(sa->suite.prf, &ni, &nr, &g, skeyseed) == 0 &&
	    ike_keys_install(sa, skeyseed, &ni, &nr) == 0) {
		ike_keys_to_host(ike, sa); /* debugging key export (views.c) */
		rc = 0;
	}
	crypto_wipe(skeyseed, sizeof(skeyseed));
	crypto_dh_free(sa->dh);
	sa->dh = NULL;
	return rc;
}

/* Derive SKEYSEED and the SK_* keys once both KE values are known (2.14),
 * on the engine's thread (RFC 8019 7.2.4: after an IKE_AUTH puzzle). */
int ike_sa_init_derive(struct ike *ike, struct ike_sa *sa, const uint8_t *peer_ke,
                       size_t peer_ke_len)
{
	uint8_t gir[CRYPTO_MAX_DH_LEN];
	size_t gir_len = sizeof(gir);
	int rc;

	attack_dh_done(ike); /* RFC 8019 4.2: counted */
	if (crypto_dh_shared(sa->dh, peer_ke, peer_ke_len, gir, &gir_len) < 0) {
		crypto_dh_free(sa->dh);
		sa->dh = NULL;
		return -1;
	}
	rc = init_keys(ike, sa, gir, gir_len);
	crypto_wipe(gir, sizeof(gir));
	return rc;
}

/* One of the IKE_SA_INIT messages we kept, decoded again (it was checked
 * when it came): the request (responder) or the response (initiator). */
static struct wire_msg *decode_kept(const struct wire_wr *kept)
{
	struct wire_msg *m = malloc(sizeof(*m));
	struct wire_error err;

	if (!m)
		return NULL;
	wire_msg_init(m);
	if (wire_decode(kept->p, kept->len, m, &err) == 0)
		return m;
	wire_msg_free(m);
	free(m);
	return NULL;
}

static void free_kept(struct wire_msg *m)
{
	if (!m)
		return;
	wire_msg_free(m);
	free(m);
}

static void suite_from(struct crypto_ike_suite *s, const struct ike_chosen *c)
{
	s->encr = c->encr;
	s->encr_keybits = c->encr_keybits;
	s->integ = c->integ;
	s->prf = c->prf;
	s->dh = c->dh;
}

/* After an IKE_SA_INIT exchange: float to port 4500 when a NAT was seen (2.23). */
static void maybe_float(struct ike *ike, struct ike_sa *sa)
{
	if (!sa->natt)
		return;
	addr_set_port(&sa->local, ike->cfg->natt_port);
	if (addr_port(&sa->remote) == ike->cfg->ike_port)
		addr_set_port(&sa->remote, ike->cfg->natt_port);
}

/* Restart after N(COOKIE) or N(INVALID_KE_PAYLOAD) (2.6, 1.2). */
static void restart(struct ike *ike, struct ike_sa *sa, const char *why)
{
	if (++sa->su->init_retries > MAX_INIT_RETRIES) {
		sa_kill(ike, sa, "too many IKE_SA_INIT restarts");
		return;
	}
	sa_log(sa, LOG_INFO, "init-restart", "%s", why);
	sa_out_free(sa);
	sa->tasks |= 1u << TASK_IKE_SA_INIT;
	ike_kick(ike, sa);
}

static bool group_offered(const struct cfg_conn *c, uint16_t g)
{
	for (size_t i = 0; i < c->n_ike_proposals; i++)
		for (size_t j = 0; j < c->ike_proposals[i].n_dh; j++)
			if (c->ike_proposals[i].dh[j] == g)
				return true;
	return false;
}

/* Returns true when the response was an error or restart it handled. */
static bool handle_init_notifies(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m)
{
	const struct wire_payload *ke;
	const uint8_t *d;
	size_t len;

	if ((d = notify_data(m, IKEV2_N_COOKIE, &len))) {
		/* 2.6: 1 to 64 octets */
		if (len < 1 || len > WIRE_COOKIE_MAX ||
		    sa_bytes_set(&sa->su->cookie, &sa->su->cookie_len, d, len) < 0) {
			sa_kill(ike, sa, "bad COOKIE");
			return true;
		}
		puzzle_solve(ike, sa, m); /* RFC 8019 7.1.2 */
		restart(ike, sa, "peer demands a cookie");
		return true;
	}
	/* RFC 8019 7.1.2: a PUZZLE without a COOKIE is malformed: ignore the
	 * message and keep waiting (the retransmission timer runs on), unless
	 * it is the regular response's IKE_AUTH puzzle (7.2.1). */
	if (wire_msg_find_notify(m, IKEV2_N_PUZZLE) && !wire_msg_find(m, IKEV2_PL_SA, NULL))
		return true;
	if ((ke = wire_msg_find_notify(m, IKEV2_N_INVALID_KE_PAYLOAD))) {
		uint16_t g;

		/* 3.10.1: a malformed group counts as one we did not offer. */
		if (wire_invalid_ke_decode(&ke->u.notify, &g, NULL) < 0 || g == sa->dh_group ||
		    !group_offered(sa->conn, g)) {
			sa_kill(ike, sa, "INVALID_KE_PAYLOAD for a group we did not offer");
			return true;
		}
		sa->dh_group = g;
		restart(ike, sa, "peer wants another key exchange group");
		return true;
	}
	for (size_t i = 0; i < m->npayloads; i++) {
		const struct wire_payload *p = &m->payloads[i];

		if (p->type == IKEV2_PL_N && p->u.notify.type < 16384) {
			const char *n = ikev2_notify_name(p->u.notify.type);

			sa_log(sa, LOG_NOTICE, "init-failed", "peer says %s", n ? n : "error");
			sa_fail(ike, sa, n ? n : "error notify");
			return true;
		}
	}
	return false;
}

void ike_sa_init_response(struct ike *ike, struct ike_sa *sa, const uint8_t *buf, size_t len,
                          const struct wire_msg *m)
{
	const struct wire_payload *sap, *kep;
	struct ike_chosen c;
	struct ike_work *w;

	if (ext_run(ike, EXT_SA_INIT_RESP_IN, sa, m, NULL, NULL, NULL) != EXT_CONTINUE)
		return;
	if (handle_init_notifies(ike, sa, m))
		return;
	sap = wire_msg_find(m, IKEV2_PL_SA, NULL);
	kep = wire_msg_find(m, IKEV2_PL_KE, NULL);
	if (!sap || !kep || set_nonce(&sa->nr, &sa->nr_len, m) < 0 ||
	    propsel_check(&sap->u.sa, sa->conn->ike_proposals, sa->conn->n_ike_proposals,
	                  IKEV2_PROTO_IKE, &c) < 0 ||
	    c.dh != sa->dh_group || kep->u.ke.group != sa->dh_group) {
		/* 2.7: an answer we did not offer ends the attempt. */
		sa_kill(ike, sa, "invalid IKE_SA_INIT response");
		return;
	}
	suite_from(&sa->suite, &c);
	sa_set_peer_spi(ike, sa, m->hdr.spi_r);
	wire_wr_reset(&sa->su->init_resp);
	/* g^ir is computed by a crypto job (work.c); init_derived goes on. */
	w = work_new(ike, sa, WORK_INIT_DERIVE, 0);
	if (!w || wire_wr_bytes(&sa->su->init_resp, buf, len) < 0 ||
	    work_set_peer_ke(w, kep->u.ke.data, kep->u.ke.len) < 0) {
		work_free(w);
		sa_kill(ike, sa, "key derivation failed (bad KE?)");
		return;
	}
	w->dh = sa->dh;
	sa->dh = NULL;
	if (work_submit(ike, sa, w) < 0)
		sa_kill(ike, sa, "key derivation failed (no memory)");
}

/* Initiator: the IKE_SA_INIT response with g^ir computed (2.14). */
static void init_derived(struct ike *ike, struct ike_sa *sa, struct ike_work *w)
{
	struct wire_msg *m = NULL;

	if (w->rc < 0 || init_keys(ike, sa, w->gir, w->gir_len) < 0 ||
	    !(m = decode_kept(&sa->su->init_resp))) {
		sa_kill(ike, sa, "key derivation failed (bad KE?)");
		goto out;
	}
	/* RFC 8019 7.2.2: an IKE_AUTH puzzle is solved before IKE_AUTH goes out. */
	if (puzzle_auth_solve(ike, sa, m) < 0) {
		sa_fail(ike, sa, "IKE_AUTH puzzle not solved");
		goto out;
	}
	nat_check(sa, m);
	sa->peer_frag = wire_msg_find_notify(m, IKEV2_N_IKEV2_FRAGMENTATION_SUPPORTED) != NULL;
	maybe_float(ike, sa);
	sa->tasks |= 1u << TASK_IKE_AUTH;
	ike_request_done(ike, sa);
out:
	free_kept(m);
}

/* ---- responder ---- */

static bool host_matches(const struct sockaddr_storage *cfg, const struct ike_addr *a)
{
	struct ike_addr c;

	if (addr_is_any(cfg))
		return true;
	addr_from_ss(&c, cfg, 0);
	return addr_equal_host(&c, a);
}

bool conn_matches_addrs(const struct cfg_conn *c, const struct ike_addr *local,
                        const struct ike_addr *remote)
{
	return host_matches(&c->local, local) && host_matches(&c->remote, remote);
}

/* The first connection whose addresses fit (the IDs pick the final one in IKE_AUTH). */
const struct cfg_conn *ike_conn_for_addrs(struct ike *ike, const struct ike_addr *local,
                                          const struct ike_addr *remote)
{
	for (size_t i = 0; i < ike->cfg->nconns; i++)
		if (conn_matches_addrs(&ike->cfg->conns[i], local, remote))
			return &ike->cfg->conns[i];
	return NULL;
}

static void answer_error(struct ike *ike, const struct ike_addr *local,
                         const struct ike_addr *remote, const struct wire_msg *req, uint16_t type,
                         const uint8_t *data, size_t len)
{
	struct wire_msg m;
	struct wire_hdr h = req->hdr;

	wire_msg_init(&m);
	h.flags = IKEV2_FLAG_RESPONSE;
	if (build_notify(&m, 0, NULL, 0, type, data, len) == 0)
		ike_send_unprotected(ike, local, remote, &h, &m);
	wire_msg_free(&m);
}

/*
 * 2.6, RFC 8019 4.2, 7.1: under attack (attack.c), only requests with a
 * valid cookie pass; every other one gets N(COOKIE), with N(PUZZLE) when
 * puzzles are on (cookie_demand). A passing request's priority class
 * (RFC 8019 7.1.4) goes to *low, its solution's zero bits to *solved.
 */
static bool cookie_ok(struct ike *ike, const struct cfg_conn *conn, const struct ike_addr *local,
                      const struct ike_addr *remote, const struct wire_msg *m, bool *low,
                      unsigned *solved)
{
	const struct wire_payload *np = wire_msg_find(m, IKEV2_PL_NI_NR, NULL);
	const struct wire_payload *first = m->npayloads ? &m->payloads[0] : NULL;
	struct wire_cookie_info ci;

	*low = false;
	*solved = 0;
	if (!attack_update(ike))
		return true;
	if (!np)
		return false;
	if (first && first->type == IKEV2_PL_N && first->u.notify.type == IKEV2_N_COOKIE) {
		if (cookie_check(ike, first->u.notify.data, first->u.notify.len, np->u.nonce.data,
		                 np->u.nonce.len, remote, m->hdr.spi_i, &ci)) {
			*low = !puzzle_priority(ike, m, &first->u.notify, &ci, solved);
			return true;
		}
		/* A stale or forged cookie: a fresh one lets a real initiator in. */
		ike->stats.cookies_invalid++;
	}
	cookie_demand(ike, conn, local, remote, m);
	return false;
}

static int build_init_response(struct ike *ike, struct ike_sa *sa, const struct ike_chosen *c,
                               const struct wire_msg *req, struct wire_msg *m)
{
	if (build_sa_chosen(m, c) < 0 || build_ke(m, sa->dh) < 0 ||
	    build_nonce(m, sa->nr, sa->nr_len) < 0 ||
	    nat_add_detection(m, sa->spi_i, sa->spi_r, &sa->local, &sa->remote, sa->fake_nat) < 0)
		return -1;
	if (sa->conn->fragmentation &&
	    wire_msg_find_notify(req, IKEV2_N_IKEV2_FRAGMENTATION_SUPPORTED)) {
		sa->peer_frag = true;
		if (build_notify(m, 0, NULL, 0, IKEV2_N_IKEV2_FRAGMENTATION_SUPPORTED, NULL, 0) < 0)
			return -1;
	}
	return ext_run(ike, EXT_SA_INIT_RESP_OUT, sa, req, m, NULL, NULL) == EXT_FAIL ? -1 : 0;
}

/*
 * Create the half-open SA; a crypto job (work.c) makes our key pair and
 * g^ir, and respond_computed answers. Until then a retransmitted request
 * is dropped (counted): the answer goes out once, when it is ready.
 */
static void respond(struct ike *ike, const struct cfg_conn *conn, const struct ike_addr *local,
                    const struct ike_addr *remote, const uint8_t *buf, size_t len,
                    const struct wire_msg *req, const struct ike_chosen *c, unsigned solved)
{
	const struct wire_payload *kep = wire_msg_find(req, IKEV2_PL_KE, NULL);
	struct ike_work *w;
	struct ike_sa *sa;

	if (!work_room(ike)) {
		ike->stats.drop_work_busy++; /* the initiator's retransmission comes back */
		return;
	}
	halfopen_admit(ike, remote); /* RFC 8019 5: room first, oldest out */
	sa = sa_new(ike, conn, false);
	if (!sa)
		return;
	memcpy(sa->spi_i, req->hdr.spi_i, 8);
	sa->local = *local;
	sa->remote = *remote;
	sa_index_init(ike, sa);
	suite_from(&sa->suite, c);
	sa->dh_group = c->dh;
	w = work_new(ike, sa, WORK_INIT_RESPOND, c->dh);
	if (!w || set_nonce(&sa->ni, &sa->ni_len, req) < 0 ||
	    sa_bytes_set(&sa->nr, &sa->nr_len, NULL, IKE_NONCE_LEN) < 0 ||
	    crypto_random(sa->nr, sa->nr_len) < 0 ||
	    wire_wr_bytes(&sa->su->init_req, buf, len) < 0 ||
	    /* RFC 8019 7.2.4: with an IKE_AUTH puzzle, g^ir waits for its solution. */
	    (!puzzle_auth_wanted(ike, sa, solved) &&
	     work_set_peer_ke(w, kep->u.ke.data, kep->u.ke.len) < 0)) {
		work_free(w);
		sa_kill(ike, sa, "IKE_SA_INIT failed (bad KE or no memory)");
		return;
	}
	w->chosen = *c;
	w->solved = solved;
	if (work_submit(ike, sa, w) < 0)
		sa_kill_quiet(ike, sa, "crypto workers busy");
	else
		ike_sa_changed(ike, sa); /* its half-open deadline runs meanwhile */
}

/* g^ir, or the IKE_AUTH puzzle's wait for it (RFC 8019 7.2.4). */
static int respond_keys(struct ike *ike, struct ike_sa *sa, const struct ike_work *w,
                        const struct wire_msg *req)
{
	const struct wire_payload *kep = wire_msg_find(req, IKEV2_PL_KE, NULL);

	if (sa->su->auth_puzzle)
		return 0;
	if (w->gir_len)
		return init_keys(ike, sa, w->gir, w->gir_len);
	/* The configuration changed meanwhile: no puzzle after all. */
	return kep ? ike_sa_init_derive(ike, sa, kep->u.ke.data, kep->u.ke.len) : -1;
}

/* Responder: our key pair (and g^ir) are ready; answer (the normal path). */
static void respond_computed(struct ike *ike, struct ike_sa *sa, struct ike_work *w)
{
	struct wire_msg *req = decode_kept(&sa->su->init_req);
	struct wire_msg m;

	wire_msg_init(&m);
	sa->dh = w->dh;
	w->dh = NULL;
	if (w->rc == 0 && !w->reused)
		work_keep_dh(ike, sa->dh); /* RFC 7296 2.12, if dh_reuse */
	if (w->rc < 0 || !req || build_init_response(ike, sa, &w->chosen, req, &m) < 0 ||
	    puzzle_auth_present(ike, sa, w->solved, &m) < 0 || respond_keys(ike, sa, w, req) < 0) {
		sa_kill(ike, sa, "IKE_SA_INIT failed (bad KE or no memory)");
		goto out;
	}
	nat_check(sa, req);
	if (ike_send_response(ike, sa, IKEV2_EXCH_IKE_SA_INIT, 0, &m) < 0 ||
	    wire_wr_bytes(&sa->su->init_resp, sa->cache.pkt.p, sa->cache.pkt.len) < 0) {
		sa_kill(ike, sa, "cannot send IKE_SA_INIT response");
		goto out;
	}
	sa_log(sa, LOG_INFO, "init-answered", "group \"%s\"", sa_group_name(w->chosen.dh));
	maybe_float(ike, sa);
	ike_sa_changed(ike, sa);
out:
	wire_msg_free(&m);
	free_kept(req);
}

/* Initiator: our key pair is ready; the request goes out. */
static void keygen_done(struct ike *ike, struct ike_sa *sa, struct ike_work *w)
{
	sa->dh = w->dh;
	w->dh = NULL;
	if (w->rc < 0 || !sa->dh || ike_sa_init_start(ike, sa) < 0)
		sa_log(sa, LOG_WARNING, "task-failed", "task %d", TASK_IKE_SA_INIT);
}

void ike_sa_init_resume(struct ike *ike, struct ike_sa *sa, struct ike_work *w)
{
	if (w->peer_ke_len)
		attack_dh_done(ike); /* RFC 8019 4.2: counted, valid or not */
	switch (w->kind) {
	case WORK_INIT_RESPOND:
		respond_computed(ike, sa, w);
		break;
	case WORK_INIT_KEYGEN:
		keygen_done(ike, sa, w);
		break;
	default:
		init_derived(ike, sa, w);
		break;
	}
}

void ike_sa_init_request(struct ike *ike, const struct ike_addr *local,
                         const struct ike_addr *remote, const uint8_t *buf, size_t len,
                         const struct wire_msg *m)
{
	const struct cfg_conn *conn = ike_conn_for_addrs(ike, local, remote);
	const struct wire_payload *sap = wire_msg_find(m, IKEV2_PL_SA, NULL);
	const struct wire_payload *kep = wire_msg_find(m, IKEV2_PL_KE, NULL);
	struct ike_chosen c;
	struct wire_msg *answer;
	enum ext_result er;
	uint8_t g[WIRE_INVALID_KE_LEN];
	size_t glen;
	unsigned solved;
	bool low;

	if (!conn || !sap || !kep || !wire_msg_find(m, IKEV2_PL_NI_NR, NULL)) {
		if (log_rl_allow(LOG_RL_PROPOSAL, (const struct sockaddr *)&remote->ss))
			log_msg(LOG_INFO, "ike", "IKE_SA_INIT %s",
			        conn ? "without SA, KE or Nonce"
			             : "from a peer with no connection");
		ike->stats.drop_rules++;
		return;
	}
	/* RFC 8019 5: a source that failed IKE_AUTH too often, refused before any work. */
	if (attack_src_blocked(ike, remote) ||
	    !cookie_ok(ike, conn, local, remote, m, &low, &solved))
		return;
	/* After the cookie check, before any state or DH work: an extension
	 * may answer statelessly (RFC 5685 3, 4). */
	answer = malloc(sizeof(*answer));
	if (!answer)
		return;
	wire_msg_init(answer);
	er = ext_run(ike, EXT_SA_INIT_REQ_IN, NULL, m, answer, local, remote);
	wire_msg_free(answer);
	free(answer);
	if (er != EXT_CONTINUE)
		return;
	if (propsel_choose(&sap->u.sa, conn->ike_proposals, conn->n_ike_proposals, IKEV2_PROTO_IKE,
	                   true, &c) < 0) {
		if (log_rl_allow(LOG_RL_PROPOSAL, (const struct sockaddr *)&remote->ss)) {
			log_msg(LOG_NOTICE, "ike", "\"%s\" no acceptable IKE proposal", conn->name);
			answer_error(ike, local, remote, m, IKEV2_N_NO_PROPOSAL_CHOSEN, NULL, 0);
		}
		return;
	}
	if (kep->u.ke.group != c.dh) {
		/* 1.2, 3.10.1: tell the initiator which group we want. */
		if (wire_invalid_ke_encode(c.dh, g, sizeof(g), &glen) == 0 &&
		    log_rl_allow(LOG_RL_PROPOSAL, (const struct sockaddr *)&remote->ss))
			answer_error(ike, local, remote, m, IKEV2_N_INVALID_KE_PAYLOAD, g, glen);
		return;
	}
	/* RFC 8019 4.2, 7.1.5: DH only after the cookie check, within the budget. */
	if (!attack_dh_allow(ike, low))
		return;
	respond(ike, conn, local, remote, buf, len, m, &c, solved);
}
