/*
 * The IKE_AUTH exchange (RFC 7296 1.2, 2.15, 2.16, 3.5, 3.8) with
 * pre-shared key authentication, INITIAL_CONTACT (2.4) and the first
 * Child SA (1.3, 2.9).
 *
 *   Initiator                         Responder
 *   HDR, [PS,] SK {IDi, [IDr,] AUTH, [N(INITIAL_CONTACT),]   (PS: RFC 8019 7.2.2)
 *            SAi2, TSi, TSr, [N(USE_TRANSPORT_MODE)]}  -->
 *                                <--  HDR, SK {IDr, AUTH, SAr2, TSi, TSr}
 *   or                           <--  HDR, SK {N(AUTHENTICATION_FAILED)}
 *   or (IKE SA up, no child)     <--  HDR, SK {IDr, AUTH, N(NO_PROPOSAL_CHOSEN)}
 */
#include <string.h>

#include "ike/attack.h"
#include "ike/child.h"
#include "ike/sa.h"
#include "util/log.h"

static const char key_pad[] = "Key Pad for IKEv2"; /* 2.15, without the NUL */

/*
 * AUTH for a shared key (2.15):
 *   prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)
 *   SignedOctets = RealMessage | NonceOfTheOtherSide | prf(SK_p, RestOfIDPayload)
 */
static int psk_auth(const struct ike_sa *sa, bool of_initiator, uint8_t id_type,
                    const uint8_t reserved[3], const uint8_t *id, size_t id_len, uint8_t *out,
                    size_t *out_len)
{
	const struct cfg_auth *a = &sa->conn->auth;
	uint16_t prf = sa->suite.prf;
	uint8_t idhdr[4] = {id_type, reserved[0], reserved[1], reserved[2]};
	uint8_t maced[CRYPTO_MAX_PRF_LEN], padkey[CRYPTO_MAX_PRF_LEN];
	struct crypto_chunk rest[] = {{idhdr, 4}, {id, id_len}};
	struct crypto_chunk pad = {(const uint8_t *)key_pad, sizeof(key_pad) - 1};
	const struct wire_wr *msg;
	struct crypto_chunk octets[3];
	size_t plen = crypto_prf_len(prf);
	int rc = -1;

	if (a->method != CFG_AUTH_PSK || !plen || !sa->keys || !sa->su)
		return -1;
	msg = of_initiator ? &sa->su->init_req : &sa->su->init_resp;
	if (crypto_prf(prf, of_initiator ? sa->keys->sk_pi : sa->keys->sk_pr, sa->keys->p_len, rest,
	               2, maced) < 0 ||
	    crypto_prf(prf, a->psk, a->psk_len, &pad, 1, padkey) < 0)
		goto out;
	octets[0].p = msg->p;
	octets[0].len = msg->len;
	octets[1].p = of_initiator ? sa->nr : sa->ni;
	octets[1].len = of_initiator ? sa->nr_len : sa->ni_len;
	octets[2].p = maced;
	octets[2].len = plen;
	if (crypto_prf(prf, padkey, plen, octets, 3, out) < 0)
		goto out;
	*out_len = plen;
	rc = 0;
out:
	crypto_wipe(maced, sizeof(maced));
	crypto_wipe(padkey, sizeof(padkey));
	return rc;
}

static int build_auth(struct ike_sa *sa, struct wire_msg *m, const struct cfg_id *id)
{
	static const uint8_t zero[3];
	uint8_t auth[CRYPTO_MAX_PRF_LEN];
	size_t len;
	struct wire_payload *p;

	if (psk_auth(sa, sa->initiator, id->type, zero, id->data, id->len, auth, &len) < 0)
		return -1;
	p = build_add(m, IKEV2_PL_AUTH);
	if (!p)
		return -1;
	p->u.auth.type = IKEV2_AUTH_METHOD_PSK;
	p->u.auth.data = build_copy(m, auth, len);
	p->u.auth.len = len;
	return p->u.auth.data ? 0 : -1;
}

/* Verify the peer's AUTH against its ID payload (constant time). */
/* Check the peer's AUTH and, when it verifies, keep who it authenticated. */
static bool verify_auth(struct ike_sa *sa, const struct wire_msg *m, uint8_t id_pl)
{
	const struct wire_payload *idp = wire_msg_find(m, id_pl, NULL);
	const struct wire_payload *ap = wire_msg_find(m, IKEV2_PL_AUTH, NULL);
	uint8_t want[CRYPTO_MAX_PRF_LEN];
	size_t len;
	bool ok;

	if (!idp || !ap || ap->u.auth.type != IKEV2_AUTH_METHOD_PSK)
		return false;
	if (psk_auth(sa, !sa->initiator, idp->u.id.type, idp->u.id.reserved, idp->u.id.data,
	             idp->u.id.len, want, &len) < 0)
		return false;
	ok = ap->u.auth.len == len && !crypto_memcmp(want, ap->u.auth.data, len);
	crypto_wipe(want, sizeof(want));
	if (ok) {
		struct crypto_chunk id = {idp->u.id.data, idp->u.id.len};

		size_t kept = idp->u.id.len < CFG_ID_MAX ? idp->u.id.len : CFG_ID_MAX;

		sa->peer_id_type = idp->u.id.type;
		ok = sa_bytes_set(&sa->peer_id, &sa->peer_id_len, idp->u.id.data, kept) == 0 &&
		     crypto_sha256(&id, 1, sa->peer_id_hash) == 0;
		sa->peer_id_len = idp->u.id.len; /* the whole length; peer_id keeps `kept` */
	}
	return ok;
}

/* A configured ID of type 0 is "%any" and accepts every identity. */
static bool id_equal(const struct cfg_id *want, const struct wire_typed *got)
{
	if (!want->type)
		return true;
	return want->type == got->type && want->len == got->len &&
	       !memcmp(want->data, got->data, got->len);
}

/* Our ID: the configured one, or our IKE address when none is set (3.5). */
static void our_id(const struct ike_sa *sa, struct cfg_id *id)
{
	size_t n;
	const uint8_t *a;

	if (sa_own_id(sa, id))
		return;
	*id = sa->conn->local_id;
	if (id->type)
		return;
	a = addr_bytes(&sa->local, &n);
	id->type = n == 4 ? IKEV2_ID_IPV4_ADDR : IKEV2_ID_IPV6_ADDR;
	id->len = (uint8_t)n;
	if (a)
		memcpy(id->data, a, n);
}

static bool have_other_sa(struct ike *ike, const struct ike_sa *sa);

/* IKE_AUTH is over: the IKE_SA_INIT messages its AUTH payloads signed
 * (2.15) are not needed again, nor the nonces; an established SA keeps no
 * copy (a retransmitted IKE_AUTH request is answered from the response
 * cache; a late IKE_SA_INIT duplicate is a new request, 2.1).
 * The SK ciphers hold no OpenSSL context to drop: the loop's context
 * cache keys one when a message is sealed or opened (src/crypto). */
static void auth_done(struct ike *ike, struct ike_sa *sa)
{
	sa_unindex_init(ike, sa);
	ike_keys_drop(sa); /* SK_p has made and checked both AUTH payloads */
	/* The last response stays until the next request (2.1), for minutes
	 * on a quiet SA: at its size, not at the doubling writer's. */
	wire_wr_trim(&sa->cache.pkt);
}

void ike_established(struct ike *ike, struct ike_sa *sa, const char *why)
{
	const struct cfg_conn *c = sa->conn;
	uint64_t now = ike_now(ike);

	sa->established_ms = now;
	ike->stats.sa_established++;
	sa_set_state(ike, sa, IKE_S_ESTABLISHED, why);
	if (c->ike_lifetime) {
		uint64_t life = (uint64_t)c->ike_lifetime * 1000,
		         margin = (uint64_t)c->rekey_margin * 1000;

		sa->expire_ms = now + life;
		sa->rekey_ms = now + life - margin;
	}
	if (c->dpd_interval)
		sa->dpd_ms = now + (uint64_t)c->dpd_interval * 1000;
	if (sa->natt && sa->nat_local && !sa->fake_nat)
		sa->keepalive_ms = now + 20000; /* RFC 3948 4 */
	if (sa->delete_when_up)
		ike_queue(ike, sa, TASK_IKE_DELETE); /* ike_delete during IKE_AUTH */
	ike_sa_changed(ike, sa);
}

/* ---- initiator ---- */

int ike_auth_start(struct ike *ike, struct ike_sa *sa)
{
	const struct cfg_conn *c = sa->conn;
	struct cfg_id id;
	struct wire_msg m;
	int rc = -1;

	if (!sa_pend(sa))
		return -1;
	sa->pend->child_spi = child_alloc_spi(ike, 0);
	if (!sa_own_ts(sa, &sa->pend->ts_i))
		ts_from_config(c->local_ts, c->n_local_ts, &sa->local, &sa->pend->ts_i);
	ts_from_config(c->remote_ts, c->n_remote_ts, &sa->remote, &sa->pend->ts_r);
	wire_msg_init(&m);
	our_id(sa, &id);
	/* RFC 8019 7.2.2: HDR, PS, SK {...}: the solution first, sent in the clear. */
	if (puzzle_add_auth_solution(sa, &m) < 0 || build_id(&m, IKEV2_PL_IDI, &id) < 0 ||
	    (c->remote_id.type && build_id(&m, IKEV2_PL_IDR, &c->remote_id) < 0) ||
	    build_auth(sa, &m, &id) < 0 || ext_add(ike, sa, EXT_AUTH_REQ_OUT, &m) < 0)
		goto out;
	/* 2.4: INITIAL_CONTACT when we hold no other SA with this peer. */
	if (!have_other_sa(ike, sa) &&
	    build_notify(&m, 0, NULL, 0, IKEV2_N_INITIAL_CONTACT, NULL, 0) < 0)
		goto out;
	if (c->n_esp_proposals && (child_build_offer(sa, &m, false, sa->pend->child_spi) < 0 ||
	                           child_build_ts(&m, &sa->pend->ts_i, &sa->pend->ts_r,
	                                          c->mode == CFG_MODE_TRANSPORT) < 0))
		goto out;
	rc = ike_send_request(ike, sa, IKEV2_EXCH_IKE_AUTH, TASK_IKE_AUTH, &m);
	if (rc == 0)
		sa_set_state(ike, sa, IKE_S_AUTH_SENT, NULL);
out:
	wire_msg_free(&m);
	return rc;
}

static void first_child_initiator(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m)
{
	struct child_offer_result r;
	struct child_sa *ch;
	uint16_t err = child_error_notify(m);

	if (!sa->pend) /* made by ike_auth_start */
		return;
	if (!wire_msg_find(m, IKEV2_PL_SA, NULL)) {
		if (err)
			sa_log(sa, LOG_NOTICE, "child-failed", "peer says %s",
			       ikev2_notify_name(err) ? ikev2_notify_name(err) : "error");
		return;
	}
	if (child_check_answer(sa, m, false, &sa->pend->ts_i, &sa->pend->ts_r, &r) < 0) {
		/* 2.9/2.7: an answer we did not offer; keep the IKE SA, drop the child. */
		sa_log(sa, LOG_NOTICE, "child-failed", "unacceptable SA or TS in the answer");
		return;
	}
	ch = child_from(ike, sa, &r, sa->pend->child_spi);
	if (ch &&
	    (child_derive_keys(sa, ch, sa->ni, sa->ni_len, sa->nr, sa->nr_len, NULL, 0, true) < 0 ||
	     child_install(ike, sa, ch) < 0))
		child_abandon(ike, sa, ch);
}

void ike_auth_response(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m)
{
	const struct wire_payload *idr = wire_msg_find(m, IKEV2_PL_IDR, NULL);
	const struct cfg_conn *c = sa->conn;
	enum ext_result er;

	if (sa->state != IKE_S_AUTH_SENT || !c)
		return;
	if (!idr || !wire_msg_find(m, IKEV2_PL_AUTH, NULL)) {
		uint16_t err = child_error_notify(m);

		sa_log(sa, LOG_NOTICE, "auth-failed", "peer says %s",
		       err && ikev2_notify_name(err) ? ikev2_notify_name(err) : "nothing");
		ike->stats.sa_failed++;
		sa_fail(ike, sa, "authentication failed");
		return;
	}
	if ((c->remote_id.type && !id_equal(&c->remote_id, &idr->u.id)) ||
	    !verify_auth(sa, m, IKEV2_PL_IDR)) {
		char claim[2 * CFG_ID_MAX + 16];

		/* 2.21.2: we do not tell the responder; we just delete. */
		sa_id_text(idr->u.id.type, idr->u.id.data, idr->u.id.len, claim, sizeof(claim));
		sa_log(sa, LOG_WARNING, "auth-failed",
		       "responder's AUTH or ID does not verify (claimed id %s)", claim);
		ike->stats.sa_failed++;
		sa_fail(ike, sa, "responder authentication failed");
		return;
	}
	/* Extensions see the response once the responder is authenticated
	 * (RFC 5685 6: a REDIRECT here is acted on only now). */
	er = ext_run(ike, EXT_AUTH_RESP_IN, sa, m, NULL, NULL, NULL);
	if (er == EXT_FAIL)
		return;
	if (er == EXT_HANDLED) {
		if (sa->state != IKE_S_DEAD)
			ike_request_done(ike, sa);
		return;
	}
	ike_established(ike, sa, "authenticated");
	if (er != EXT_NO_CHILD)
		first_child_initiator(ike, sa, m);
	auth_done(ike, sa);
	ike_request_done(ike, sa);
}

/* ---- responder ---- */

/* 2.15/2.16: the connection is chosen by the addresses and the IDs the initiator sent. */
static const struct cfg_conn *conn_for_ids(struct ike *ike, const struct ike_sa *sa,
                                           const struct wire_msg *m)
{
	const struct wire_payload *idi = wire_msg_find(m, IKEV2_PL_IDI, NULL);
	const struct wire_payload *idr = wire_msg_find(m, IKEV2_PL_IDR, NULL);

	if (!idi)
		return NULL;
	for (size_t i = 0; i < ike->cfg->nconns; i++) {
		const struct cfg_conn *c = &ike->cfg->conns[i];

		if (!conn_matches_addrs(c, &sa->local, &sa->remote))
			continue;
		if (c->remote_id.type && !id_equal(&c->remote_id, &idi->u.id))
			continue;
		if (idr && c->local_id.type && !id_equal(&c->local_id, &idr->u.id))
			continue;
		return c;
	}
	return NULL;
}

static void auth_failed_answer(struct ike *ike, struct ike_sa *sa, uint32_t msg_id)
{
	struct wire_msg r;

	wire_msg_init(&r);
	if (build_notify(&r, 0, NULL, 0, IKEV2_N_AUTHENTICATION_FAILED, NULL, 0) == 0 &&
	    ike_send_response(ike, sa, IKEV2_EXCH_IKE_AUTH, msg_id, &r) < 0)
		sa_log(sa, LOG_WARNING, "send-failed", "AUTHENTICATION_FAILED");
	wire_msg_free(&r);
	ike->stats.sa_failed++;
	if (sa->su)
		attack_auth_failed(ike, &sa->su->init_peer); /* RFC 8019 5 */
	sa_fail(ike, sa, "authentication failed");
}

static bool same_peer_identity(const struct ike_sa *a, const struct ike_sa *b)
{
	return a->peer_id_type && a->peer_id_type == b->peer_id_type &&
	       a->peer_id_len == b->peer_id_len &&
	       !crypto_memcmp(a->peer_id_hash, b->peer_id_hash, sizeof(a->peer_id_hash));
}

static void replaced_fn(struct ike *ike, struct ike_sa *other, void *arg)
{
	const struct ike_sa *sa = arg;

	/* 2.4: only SAs between the same authenticated identities; two
	 * clients behind one NAT on a %any connection share the address. */
	if (other == sa || strcmp(other->conn_name, sa->conn_name) ||
	    other->state != IKE_S_ESTABLISHED || !same_peer_identity(other, sa))
		return;
	sa_log(other, LOG_INFO, "replaced", "peer sent INITIAL_CONTACT on #%llu",
	       (unsigned long long)sa->serial);
	/* Its Child SAs leave the data plane now (the new SA's may take their
	 * selectors); the IKE SA is deleted towards the peer, not dropped
	 * silently, so a peer that still uses it learns that it is gone. */
	for (struct child_sa *c = other->children; c; c = c->next)
		child_uninstall(ike, other, c);
	other->no_restart = true;
	ike_queue(ike, other, TASK_IKE_DELETE);
}

#define IC_MAX 16 /* SAs of one identity replaced through the index at once */

/* 2.4: INITIAL_CONTACT means the peer holds no other SA with us. The
 * established SAs are indexed by identity (sa.c), so this costs the same
 * with 10 SAs in the table as with 1,000,000; an identity with more than
 * IC_MAX SAs falls back to a walk over the table. */
static void initial_contact(struct ike *ike, struct ike_sa *sa)
{
	uint64_t serials[IC_MAX];
	size_t n = sa_same_peer_id(ike, sa, serials, IC_MAX);

	if (n > IC_MAX) {
		sa_foreach(ike, replaced_fn, sa);
		return;
	}
	/* Looked up again: replacing one may change the others' states. */
	for (size_t i = 0; i < n; i++) {
		struct ike_sa *other = sa_lookup_serial(ike, serials[i]);

		if (other && other->state != IKE_S_DEAD)
			replaced_fn(ike, other, sa);
	}
}

static int first_child_responder(struct ike *ike, struct ike_sa *sa, const struct wire_msg *req,
                                 struct wire_msg *resp)
{
	struct child_offer_result r;
	struct child_sa *ch;
	uint32_t spi;
	int err;

	if (!wire_msg_find(req, IKEV2_PL_SA, NULL))
		return 0; /* childless (RFC 6023) */
	err = child_select(ike, sa, req, false, &r);
	if (err) {
		/* 1.2: the IKE SA stands; the child's failure is a notify. */
		sa_log(sa, LOG_NOTICE, "child-refused", "%s", ikev2_notify_name((uint16_t)err));
		return build_notify(resp, 0, NULL, 0, (uint16_t)err, NULL, 0);
	}
	spi = child_alloc_spi(ike, 0);
	ch = child_from(ike, sa, &r, spi);
	if (!ch ||
	    child_derive_keys(sa, ch, sa->ni, sa->ni_len, sa->nr, sa->nr_len, NULL, 0, false) < 0 ||
	    child_install(ike, sa, ch) < 0) {
		if (ch)
			child_remove(ike, sa, ch);
		return build_notify(resp, 0, NULL, 0, IKEV2_N_NO_PROPOSAL_CHOSEN, NULL, 0);
	}
	if (child_build_answer(resp, &r, spi) < 0 ||
	    child_build_ts(resp, &r.ts_remote, &r.ts_local, r.transport) < 0)
		return -1;
	return 0;
}

void ike_auth_request(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m)
{
	const struct cfg_conn *c;
	struct cfg_id id;
	struct wire_msg r;
	enum ext_result er;

	if (sa->state != IKE_S_INIT_DONE)
		return;
	c = conn_for_ids(ike, sa, m);
	if (c) {
		sa->conn = c;
		sa->conn_name = c->name;
	}
	if (!c || !verify_auth(sa, m, IKEV2_PL_IDI)) {
		const struct wire_payload *idi = wire_msg_find(m, IKEV2_PL_IDI, NULL);
		char claim[2 * CFG_ID_MAX + 16] = "none";

		if (idi)
			sa_id_text(idi->u.id.type, idi->u.id.data, idi->u.id.len, claim,
			           sizeof(claim));
		if (log_rl_allow(LOG_RL_AUTH, (const struct sockaddr *)&sa->remote.ss))
			sa_log(sa, LOG_WARNING, "auth-failed", "initiator's %s (claimed id %s)",
			       c ? "AUTH does not verify" : "ID matches no connection", claim);
		auth_failed_answer(ike, sa, m->hdr.msg_id);
		return;
	}
	/* Extensions see the request once the connection is final and the
	 * initiator authenticated; they may decline the Child SA (RFC 5685 6). */
	er = ext_run(ike, EXT_AUTH_REQ_IN, sa, m, NULL, NULL, NULL);
	if (er == EXT_HANDLED || er == EXT_FAIL)
		return;
	if (wire_msg_find_notify(m, IKEV2_N_INITIAL_CONTACT))
		initial_contact(ike, sa);
	ike_established(ike, sa, "authenticated");
	wire_msg_init(&r);
	our_id(sa, &id);
	if (build_id(&r, IKEV2_PL_IDR, &id) < 0 || build_auth(sa, &r, &id) < 0 ||
	    ext_run(ike, EXT_AUTH_RESP_OUT, sa, m, &r, NULL, NULL) == EXT_FAIL ||
	    (er != EXT_NO_CHILD && first_child_responder(ike, sa, m, &r) < 0) ||
	    ike_send_response(ike, sa, IKEV2_EXCH_IKE_AUTH, m->hdr.msg_id, &r) < 0)
		sa_kill(ike, sa, "cannot answer IKE_AUTH");
	else
		auth_done(ike, sa);
	wire_msg_free(&r);
}

struct other_ctx {
	const struct ike_sa *self;
	bool found;
};

static void other_fn(struct ike *ike, struct ike_sa *sa, void *arg)
{
	struct other_ctx *o = arg;

	(void)ike;
	if (sa != o->self && sa->state == IKE_S_ESTABLISHED &&
	    !strcmp(sa->conn_name, o->self->conn_name) &&
	    addr_equal_host(&sa->remote, &o->self->remote))
		o->found = true;
}

static bool have_other_sa(struct ike *ike, const struct ike_sa *sa)
{
	struct other_ctx o = {sa, false};

	if (sa_own_initial_contact(sa) >= 0) /* the host knows (ike_sa_set_initial_contact) */
		return !sa_own_initial_contact(sa);
	sa_foreach(ike, other_fn, &o);
	return o.found;
}
