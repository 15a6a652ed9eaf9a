/*
 * The CREATE_CHILD_SA exchange (RFC 7296 1.3, 2.8, 2.17, 2.18): new Child
 * SAs, Child SA rekeying and IKE SA rekeying, with the collision rules of
 * 2.8.1, 2.8.2 and 2.25.
 *
 *   new Child:  HDR, SK {SA, Ni, [KEi], TSi, TSr}  -->  <-- HDR, SK {SA, Nr, [KEr], TSi, TSr}
 *   Child rekey: HDR, SK {N(REKEY_SA), SA, Ni, [KEi], TSi, TSr}  -->  (same answer)
 *   IKE rekey:  HDR, SK {SA, Ni, KEi}  -->  <-- HDR, SK {SA, Nr, KEr}
 *
 * Collisions, as this file resolves them (request received while our own
 * request is outstanding or just done):
 *   peer rekeys IKE  / we create|rekey|delete a Child  -> TEMPORARY_FAILURE (2.25.1)
 *   peer rekeys IKE  / we delete the IKE SA            -> TEMPORARY_FAILURE (2.25.2)
 *   peer rekeys IKE  / we rekey the IKE SA             -> answer; lowest nonce decides (2.8.2)
 *   peer rekeys IKE  / we already rekeyed it           -> TEMPORARY_FAILURE (2.8.2)
 *   peer creates|rekeys Child / we rekey the IKE SA    -> TEMPORARY_FAILURE (2.25.2)
 *   peer rekeys Child / we delete that Child           -> TEMPORARY_FAILURE (2.25.1)
 *   peer rekeys Child / we rekey that Child            -> answer; lowest nonce decides (2.8.1)
 *   peer rekeys Child that is gone                     -> CHILD_SA_NOT_FOUND (2.25)
 */
#include <stdlib.h>
#include <string.h>

#include "ike/sa.h"
#include "util/log.h"
#include "ike/child.h"
#include "ike/ext.h"
#include "wire/notify.h"

#define TEMP_FAILURE_RETRY_MS   2000   /* plus up to as much again at random */
#define TEMP_FAILURE_GIVE_UP_MS 300000 /* 2.25: "several minutes" */

/* 2.8.1: octet-by-octet; a nonce that ends first is the lower. */
static int nonce_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* Out of memory: none is kept (length 0, the lowest: 2.8.1's ordering
 * then favours this side's SA, which only decides which of two is kept). */
static void set_min_nonce(uint8_t **dst, size_t *dst_len, const uint8_t *a, size_t alen,
                          const uint8_t *b, size_t blen)
{
	bool a_low = nonce_cmp(a, alen, b, blen) <= 0;

	if (sa_bytes_set(dst, dst_len, a_low ? a : b, a_low ? alen : blen) < 0)
		log_msg(LOG_WARNING, "ike", "out of memory keeping a nonce for collisions");
}

static bool pfs_configured(const struct cfg_conn *c)
{
	return c->n_esp_proposals && c->esp_proposals[0].n_dh &&
	       c->esp_proposals[0].dh[0] != IKEV2_DH_NONE;
}

/*
 * 2.25: after TEMPORARY_FAILURE wait, at random so that two peers that
 * refused each other do not retry in lockstep, and close the IKE SA when
 * the condition lasts several minutes. Returns the time to retry at, or 0
 * when the IKE SA is being closed.
 */
static uint64_t temp_failure(struct ike *ike, struct ike_sa *sa)
{
	uint64_t now = ike_now(ike);
	uint32_t r = 0;

	if (!sa->temp_fail_ms)
		sa->temp_fail_ms = now;
	if (now - sa->temp_fail_ms > TEMP_FAILURE_GIVE_UP_MS) {
		sa_log(sa, LOG_WARNING, "out-of-sync", "TEMPORARY_FAILURE for minutes: closing");
		ike_queue(ike, sa, TASK_IKE_DELETE);
		return 0;
	}
	if (crypto_random(&r, sizeof(r)) < 0)
		r = 0;
	return now + TEMP_FAILURE_RETRY_MS + r % TEMP_FAILURE_RETRY_MS;
}

/*
 * The key exchange runs as a crypto job (work.c) between two passes of the
 * same processor. First pass: queue the job with what it needs (a group to
 * make our key pair in, or ours given; the peer's KE data) and the message
 * being processed, and stop. The second pass, on the same message, takes
 * the result (work_take_result) where the first one stopped.
 */
static int defer(struct ike *ike, struct ike_sa *sa, enum work_kind kind, uint16_t group,
                 struct crypto_dh **dh, const struct wire_payload *kep, const struct wire_msg *m)
{
	struct ike_work *w = work_new(ike, sa, kind, group);

	if (!w || (kep && work_set_peer_ke(w, kep->u.ke.data, kep->u.ke.len) < 0) ||
	    (m && work_keep_msg(ike, w, m) < 0)) {
		work_free(w);
		return -1;
	}
	if (dh) {
		w->dh = *dh; /* the job's until the second pass */
		*dh = NULL;
	}
	return work_submit(ike, sa, w);
}

/* Second pass: g^ir from the job (RFC 6989 checks done there); -1 when invalid. */
static int job_gir(const struct ike_work *r, uint8_t *gir, size_t *gir_len)
{
	if (r->rc < 0 || !r->gir_len || r->gir_len > *gir_len)
		return -1;
	memcpy(gir, r->gir, r->gir_len);
	*gir_len = r->gir_len;
	return 0;
}

/* ---- initiator ---- */

static struct child_sa *child_to_rekey(struct ike_sa *sa)
{
	for (struct child_sa *c = sa->children; c; c = c->next)
		if (c->rekey_pending) {
			c->rekey_pending = false;
			if (!c->rekeyed && !c->deleting)
				return c;
		}
	return NULL;
}

static int start_child(struct ike *ike, struct ike_sa *sa, enum ike_task task, struct wire_msg *m)
{
	const struct cfg_conn *conn = sa->conn;
	struct child_sa *old = NULL;
	bool pfs = pfs_configured(conn);
	uint8_t spi[4];

	if (task == TASK_CHILD_REKEY) {
		old = child_to_rekey(sa);
		if (!old)
			return 1; /* nothing to do */
		sa->pend->rekey_spi = old->spi_in;
		wire_spi32_put(spi, old->spi_in);
		if (build_notify(m, IKEV2_PROTO_ESP, spi, 4, IKEV2_N_REKEY_SA, NULL, 0) < 0)
			return -1;
		child_ts(old, &sa->pend->ts_i, &sa->pend->ts_r);
	} else {
		sa->pend->rekey_spi = 0;
		ts_from_config(conn->local_ts, conn->n_local_ts, &sa->local, &sa->pend->ts_i);
		ts_from_config(conn->remote_ts, conn->n_remote_ts, &sa->remote, &sa->pend->ts_r);
	}
	sa->pend->child_spi = child_alloc_spi(ike, old ? old->reqid : 0);
	if (child_build_offer(sa, m, pfs, sa->pend->child_spi) < 0 ||
	    build_nonce(m, sa->pend->nonce, sa->pend->nonce_len) < 0)
		return -1;
	if (pfs && (!sa->pend->dh || build_ke(m, sa->pend->dh) < 0))
		return -1;
	return child_build_ts(m, &sa->pend->ts_i, &sa->pend->ts_r,
	                      old ? old->transport : conn->mode == CFG_MODE_TRANSPORT);
}

static int start_ike_rekey(struct ike *ike, struct ike_sa *sa, struct wire_msg *m)
{
	struct ike_sa *nsa = sa_new(ike, sa->conn, true);
	struct proposal props[CFG_MAX_PROPOSALS];
	size_t n = sa->conn->n_ike_proposals;

	if (!nsa)
		return -1;
	sa->pend->new_sa = nsa->serial;
	nsa->local = sa->local;
	nsa->remote = sa->remote;
	/* 2.18: offer the group in use first, so our KE matches the choice. */
	memcpy(props, sa->conn->ike_proposals, n * sizeof(*props));
	for (size_t i = 0; i < n; i++)
		for (size_t j = 1; j < props[i].n_dh; j++)
			if (props[i].dh[j] == sa->suite.dh) {
				props[i].dh[j] = props[i].dh[0];
				props[i].dh[0] = sa->suite.dh;
			}
	if (!sa->pend->dh || build_sa(m, props, n, IKEV2_PROTO_IKE, nsa->spi_i, 8) < 0 ||
	    build_nonce(m, sa->pend->nonce, sa->pend->nonce_len) < 0 ||
	    build_ke(m, sa->pend->dh) < 0)
		return -1;
	return 0;
}

/* The group of our KE: the IKE SA's (2.18), the PFS group (1.3.1), or none. */
static uint16_t start_group(const struct ike_sa *sa, enum ike_task task)
{
	if (task == TASK_IKE_REKEY)
		return sa->suite.dh;
	return pfs_configured(sa->conn) ? sa->conn->esp_proposals[0].dh[0] : 0;
}

int ccsa_start(struct ike *ike, struct ike_sa *sa, enum ike_task task)
{
	uint16_t group = start_group(sa, task);
	struct ike_work *r = work_take_result(ike, sa, WORK_CCSA_KEYGEN);
	struct wire_msg m;
	int rc;

	if (!sa_pend(sa))
		return -1;
	crypto_dh_free(sa->pend->dh);
	sa->pend->dh = NULL;
	/* First pass: our key pair is made by a job; the second one sends. */
	if (group && !r) {
		struct ike_work *w = work_new(ike, sa, WORK_CCSA_KEYGEN, group);

		if (!w)
			return -1;
		w->task = task;
		return work_submit(ike, sa, w);
	}
	if (group) {
		if (r->rc < 0 || !r->dh || crypto_dh_group(r->dh) != group)
			return -1;
		sa->pend->dh = r->dh;
		r->dh = NULL;
	}
	sa->pend->new_sa = 0;
	sa->pend->nonce_len = IKE_NONCE_LEN;
	if (crypto_random(sa->pend->nonce, sa->pend->nonce_len) < 0)
		return -1;
	wire_msg_init(&m);
	rc = task == TASK_IKE_REKEY ? start_ike_rekey(ike, sa, &m) : start_child(ike, sa, task, &m);
	if (rc == 0)
		rc = ike_send_request(ike, sa, IKEV2_EXCH_CREATE_CHILD_SA, task, &m);
	if (rc == 0)
		sa_log(sa, LOG_INFO,
		       task == TASK_IKE_REKEY     ? "ike-rekey-sent"
		       : task == TASK_CHILD_REKEY ? "child-rekey-sent"
		                                  : "child-create-sent",
		       "message %u", sa->out->msg_id);
	if (rc < 0 && sa->pend->new_sa) {
		struct ike_sa *nsa = sa_lookup_serial(ike, sa->pend->new_sa);

		if (nsa)
			sa_kill(ike, nsa, "rekey not sent");
	}
	if (rc != 0) {
		crypto_dh_free(sa->pend->dh); /* never used for another exchange */
		sa->pend->dh = NULL;
	}
	wire_msg_free(&m);
	return rc > 0 ? 0 : rc;
}

/* ---- shared by both roles ---- */

/* The new IKE SA's keys (2.18) and its inheritance of the old one's state. */
static int ike_rekey_finish(struct ike *ike, struct ike_sa *old, struct ike_sa *nsa,
                            const struct ike_chosen *c, const uint8_t *ni, size_t ni_len,
                            const uint8_t *nr, size_t nr_len, const struct ike_work *r)
{
	uint8_t gir[CRYPTO_MAX_DH_LEN], skeyseed[CRYPTO_MAX_PRF_LEN];
	size_t gir_len = sizeof(gir);
	struct crypto_chunk g, cni = {ni, ni_len}, cnr = {nr, nr_len};
	int rc = -1;

	nsa->suite.encr = c->encr;
	nsa->suite.encr_keybits = c->encr_keybits;
	nsa->suite.integ = c->integ;
	nsa->suite.prf = c->prf;
	nsa->suite.dh = c->dh;
	/* The nonces serve the keys only: the new SA keeps none (as an
	 * established SA keeps none after IKE_AUTH). */
	if (job_gir(r, gir, &gir_len) < 0)
		goto out;
	g.p = gir;
	g.len = gir_len;
	if (crypto_rekey_skeyseed(old->suite.prf, old->sk_d, old->sk_d_len, &g, &cni, &cnr,
	                          skeyseed) < 0 ||
	    ike_keys_install(nsa, skeyseed, &cni, &cnr) < 0)
		goto out;
	ike_keys_to_host(ike, nsa); /* debugging key export (views.c) */
	ike_keys_drop(nsa);         /* no AUTH for a rekeyed SA (2.18): SK_d is all it keeps */
	nsa->local = old->local;
	nsa->remote = old->remote;
	nsa->natt = old->natt;
	nsa->nat_local = old->nat_local;
	nsa->nat_remote = old->nat_remote;
	nsa->peer_frag = old->peer_frag;
	nsa->peer_id_type = old->peer_id_type; /* the same authenticated peer (2.8) */
	memcpy(nsa->peer_id_hash, old->peer_id_hash, sizeof(old->peer_id_hash));
	if (sa_bytes_set(&nsa->peer_id, &nsa->peer_id_len, old->peer_id, sa_peer_id_kept(old)) <
	    0) /* for log lines */
		goto out;
	nsa->peer_id_len = old->peer_id_len;
	ext_inherit(ike, old, nsa);
	set_min_nonce(&nsa->nonce_min, &nsa->nonce_min_len, ni, ni_len, nr, nr_len);
	rc = 0;
out:
	crypto_wipe(gir, sizeof(gir));
	crypto_wipe(skeyseed, sizeof(skeyseed));
	return rc;
}

/* 2.8.2: the surviving IKE SA inherits every Child SA of the old one. */
static void move_children(struct ike *ike, struct ike_sa *from, struct ike_sa *to)
{
	while (from->children) {
		struct child_sa *c = from->children;

		from->children = c->next;
		c->next = to->children;
		to->children = c;
		child_unindex(ike, from, c);
		if (child_index(ike, to, c) < 0)
			sa_log(to, LOG_ERR, "child-lost",
			       "reqid %u: out of memory; its counters and "
			       "lifetimes are no longer followed",
			       c->reqid);
		ext_child_event(ike, to, c, EXT_CHILD_MOVED);
	}
	ike_sa_changed(ike, to);
}

/* The old IKE SA now waits for its delete (ours or the peer's). */
static void retire(struct ike *ike, struct ike_sa *old, struct ike_sa *nsa, bool delete_it)
{
	old->rekeyed_to = nsa->serial;
	old->rekey_ms = 0;
	old->dpd_ms = 0;
	sa_set_state(ike, old, IKE_S_REKEYED, NULL);
	if (delete_it)
		ike_queue(ike, old, TASK_IKE_DELETE);
	else
		old->expire_ms = ike_now(ike) + 30000; /* the peer's delete is expected */
	ike_sa_changed(ike, old);
}

/* ---- responder ---- */

static int answer_notify(struct ike *ike, struct ike_sa *sa, uint32_t msg_id, uint16_t type,
                         uint8_t proto, const uint8_t *spi, size_t spi_len, const uint8_t *data,
                         size_t len)
{
	struct wire_msg r;
	int rc;

	wire_msg_init(&r);
	rc = build_notify(&r, proto, spi, spi_len, type, data, len);
	if (rc == 0)
		rc = ike_send_response(ike, sa, IKEV2_EXCH_CREATE_CHILD_SA, msg_id, &r);
	wire_msg_free(&r);
	sa_log(sa, LOG_INFO, "ccsa-refused", "%s",
	       ikev2_notify_name(type) ? ikev2_notify_name(type) : "error");
	return rc;
}

/* Check the KE payload against the chosen group (1.3, 3.4). */
static int check_ke(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m, uint16_t group,
                    const struct wire_payload **kep)
{
	uint8_t g[WIRE_INVALID_KE_LEN];
	size_t glen;

	*kep = wire_msg_find(m, IKEV2_PL_KE, NULL);
	if (!group)
		return *kep ? -1 : 0;
	if (*kep && (*kep)->u.ke.group == group)
		return 0;
	if (wire_invalid_ke_encode(group, g, sizeof(g), &glen) == 0)
		(void)answer_notify(ike, sa, m->hdr.msg_id, IKEV2_N_INVALID_KE_PAYLOAD, 0, NULL, 0,
		                    g, glen);
	return -1;
}

static void request_ike_rekey(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m,
                              const uint8_t *ni, size_t ni_len)
{
	const struct wire_payload *sap = wire_msg_find(m, IKEV2_PL_SA, NULL), *kep;
	struct ike_chosen c;
	struct ike_sa *nsa;
	struct crypto_dh *dh = NULL;
	struct ike_work *res;
	uint8_t nr[IKE_NONCE_LEN];
	struct wire_msg r;

	if (propsel_choose(&sap->u.sa, sa->conn->ike_proposals, sa->conn->n_ike_proposals,
	                   IKEV2_PROTO_IKE, true, &c) < 0 ||
	    c.spi_size != 8) {
		(void)answer_notify(ike, sa, m->hdr.msg_id, IKEV2_N_NO_PROPOSAL_CHOSEN, 0, NULL, 0,
		                    NULL, 0);
		return;
	}
	if (check_ke(ike, sa, m, c.dh, &kep) < 0 || !kep)
		return;
	if (!(res = work_take_result(ike, sa, WORK_CCSA_RESPOND))) {
		if (defer(ike, sa, WORK_CCSA_RESPOND, c.dh, NULL, kep, m) < 0)
			(void)answer_notify(ike, sa, m->hdr.msg_id, IKEV2_N_TEMPORARY_FAILURE, 0,
			                    NULL, 0, NULL, 0);
		return;
	}
	nsa = sa_new(ike, sa->conn, false);
	if (!nsa)
		return;
	memcpy(nsa->spi_i, c.spi, 8);
	wire_msg_init(&r);
	dh = res->dh;
	res->dh = NULL;
	if (!dh || crypto_dh_group(dh) != c.dh || crypto_random(nr, sizeof(nr)) < 0 ||
	    ike_rekey_finish(ike, sa, nsa, &c, ni, ni_len, nr, sizeof(nr), res) < 0)
		goto fail;
	memcpy(c.spi, nsa->spi_r, 8);
	if (build_sa_chosen(&r, &c) < 0 || build_nonce(&r, nr, sizeof(nr)) < 0 ||
	    build_ke(&r, dh) < 0 ||
	    ext_run(ike, EXT_IKE_REKEY_RESP_OUT, nsa, m, &r, NULL, NULL) == EXT_FAIL ||
	    ike_send_response(ike, sa, IKEV2_EXCH_CREATE_CHILD_SA, m->hdr.msg_id, &r) < 0)
		goto fail;
	nsa->by_us = false;
	ike_established(ike, nsa, "rekeyed by the peer");
	sa_setup_free(ike, nsa);
	if (sa->out && sa->out->task == TASK_IKE_REKEY) {
		/* 2.8.2: both rekeyed; decide when our own answer arrives. */
		sa->peer_rekey_serial = nsa->serial;
	} else {
		move_children(ike, sa, nsa);
		retire(ike, sa, nsa, false);
	}
	ext_rekey_done(ike, sa, nsa, m);
	goto out;
fail:
	sa_kill(ike, nsa, "IKE rekey failed");
out:
	crypto_dh_free(dh);
	crypto_wipe(nr, sizeof(nr));
	wire_msg_free(&r);
}

static void request_child(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m,
                          const uint8_t *ni, size_t ni_len, struct child_sa *old)
{
	const struct wire_payload *kep;
	struct child_offer_result res;
	struct crypto_dh *dh = NULL;
	struct ike_work *job = NULL;
	uint8_t nr[IKE_NONCE_LEN], gir[CRYPTO_MAX_DH_LEN];
	size_t gir_len = sizeof(gir);
	struct child_sa *ch = NULL;
	struct wire_msg r;
	uint32_t spi;
	int err;

	err = child_select(ike, sa, m, wire_msg_find(m, IKEV2_PL_KE, NULL) != NULL, &res);
	if (err) {
		(void)answer_notify(ike, sa, m->hdr.msg_id, (uint16_t)err, 0, NULL, 0, NULL, 0);
		return;
	}
	if (check_ke(ike, sa, m, res.chosen.dh, &kep) < 0)
		return;
	/* 1.3.1: with a KE, a job makes our key pair and g^ir first. */
	if (kep && !(job = work_take_result(ike, sa, WORK_CCSA_RESPOND))) {
		if (defer(ike, sa, WORK_CCSA_RESPOND, res.chosen.dh, NULL, kep, m) < 0)
			(void)answer_notify(ike, sa, m->hdr.msg_id, IKEV2_N_TEMPORARY_FAILURE, 0,
			                    NULL, 0, NULL, 0);
		return;
	}
	wire_msg_init(&r);
	spi = child_alloc_spi(ike, old ? old->reqid : 0);
	if (job) {
		dh = job->dh;
		job->dh = NULL;
		if (!dh || crypto_dh_group(dh) != res.chosen.dh || job_gir(job, gir, &gir_len) < 0)
			goto fail;
	}
	ch = child_from(ike, sa, &res, spi);
	if (!ch || crypto_random(nr, sizeof(nr)) < 0 ||
	    child_derive_keys(sa, ch, ni, ni_len, nr, sizeof(nr), kep ? gir : NULL,
	                      kep ? gir_len : 0, false) < 0 ||
	    child_build_answer(&r, &res, spi) < 0 || build_nonce(&r, nr, sizeof(nr)) < 0 ||
	    (dh && build_ke(&r, dh) < 0) ||
	    child_build_ts(&r, &res.ts_remote, &res.ts_local, res.transport) < 0 ||
	    child_install(ike, sa, ch) < 0 ||
	    ike_send_response(ike, sa, IKEV2_EXCH_CREATE_CHILD_SA, m->hdr.msg_id, &r) < 0)
		goto fail;
	ch->by_us = false;
	set_min_nonce(&ch->nonce_min, &ch->nonce_min_len, ni, ni_len, nr, sizeof(nr));
	if (old) {
		/* 2.8: the initiator deletes the old SA; we keep it until then. */
		old->rekeyed = true;
		old->successor = ch->reqid;
		old->rekey_ms = 0;
	}
	goto out;
fail:
	if (ch)
		child_remove(ike, sa, ch);
	(void)answer_notify(ike, sa, m->hdr.msg_id, IKEV2_N_NO_PROPOSAL_CHOSEN, 0, NULL, 0, NULL,
	                    0);
out:
	crypto_dh_free(dh);
	crypto_wipe(gir, sizeof(gir));
	crypto_wipe(nr, sizeof(nr));
	wire_msg_free(&r);
}

void ccsa_request(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m)
{
	const struct wire_payload *np = wire_msg_find(m, IKEV2_PL_NI_NR, NULL);
	const struct wire_payload *sap = wire_msg_find(m, IKEV2_PL_SA, NULL);
	const struct wire_payload *rk = wire_msg_find_notify(m, IKEV2_N_REKEY_SA);
	enum ike_task ours = sa->out ? sa->out->task : TASK_NONE;
	bool ike_rekey =
	    sap && sap->u.sa.nproposals && sap->u.sa.proposals[0].protocol == IKEV2_PROTO_IKE;
	struct child_sa *old = NULL;
	uint32_t rk_spi;

	if (!np || !sap || np->u.nonce.len < 16) {
		(void)answer_notify(ike, sa, m->hdr.msg_id, IKEV2_N_INVALID_SYNTAX, 0, NULL, 0,
		                    NULL, 0);
		return;
	}
	if (ike_rekey) {
		if (sa->state != IKE_S_ESTABLISHED || ours == TASK_IKE_DELETE ||
		    ours == TASK_CHILD_CREATE || ours == TASK_CHILD_REKEY ||
		    ours == TASK_CHILD_DELETE) {
			(void)answer_notify(ike, sa, m->hdr.msg_id, IKEV2_N_TEMPORARY_FAILURE, 0,
			                    NULL, 0, NULL, 0);
			return;
		}
		request_ike_rekey(ike, sa, m, np->u.nonce.data, np->u.nonce.len);
		return;
	}
	if (sa->state != IKE_S_ESTABLISHED || ours == TASK_IKE_REKEY) {
		(void)answer_notify(ike, sa, m->hdr.msg_id, IKEV2_N_TEMPORARY_FAILURE, 0, NULL, 0,
		                    NULL, 0);
		return;
	}
	if (rk) {
		old = wire_notify_spi32(&rk->u.notify, &rk_spi) == 0 ? child_by_spi_out(sa, rk_spi)
		                                                     : NULL;
		if (!old || old->rekeyed) {
			(void)answer_notify(ike, sa, m->hdr.msg_id, IKEV2_N_CHILD_SA_NOT_FOUND,
			                    IKEV2_PROTO_ESP, rk->u.notify.spi,
			                    rk->u.notify.spi_size, NULL, 0);
			return;
		}
		if (old->deleting || old->delete_pending) {
			(void)answer_notify(ike, sa, m->hdr.msg_id, IKEV2_N_TEMPORARY_FAILURE, 0,
			                    NULL, 0, NULL, 0);
			return;
		}
	}
	request_child(ike, sa, m, np->u.nonce.data, np->u.nonce.len, old);
}

/* ---- initiator: the answer ---- */

/* 2.8.1: both rekeyed `old`; keep the SA that was not created with the lowest nonce. */
static void child_collision(struct ike *ike, struct ike_sa *sa, struct child_sa *old,
                            struct child_sa *mine)
{
	struct child_sa *theirs = NULL;

	for (struct child_sa *c = sa->children; c; c = c->next)
		if (c->reqid == old->successor)
			theirs = c;
	if (!theirs) {
		old->delete_pending = true;
		return;
	}
	if (nonce_cmp(mine->nonce_min, mine->nonce_min_len, theirs->nonce_min,
	              theirs->nonce_min_len) < 0) {
		/* Ours is redundant: we close it; the peer closes the old one. */
		sa_log(sa, LOG_INFO, "rekey-collision", "reqid %u redundant, keeping %u",
		       mine->reqid, theirs->reqid);
		mine->delete_pending = true;
	} else {
		sa_log(sa, LOG_INFO, "rekey-collision", "reqid %u survives, peer closes %u",
		       mine->reqid, theirs->reqid);
		old->delete_pending = true;
	}
}

/* Returns 1 when the first pass stopped for a job (work.c). */
static int response_child(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m,
                          enum ike_task task)
{
	struct child_sa *old =
	    task == TASK_CHILD_REKEY ? child_by_spi_in(sa, sa->pend->rekey_spi) : NULL;
	const struct wire_payload *np = wire_msg_find(m, IKEV2_PL_NI_NR, NULL);
	const struct wire_payload *kep = wire_msg_find(m, IKEV2_PL_KE, NULL);
	struct child_offer_result res;
	uint8_t gir[CRYPTO_MAX_DH_LEN];
	size_t gir_len = sizeof(gir);
	struct child_sa *ch;
	struct ike_work *job = NULL;
	uint16_t err = child_error_notify(m);

	if (err) {
		sa_log(sa, LOG_NOTICE, "child-failed", "peer says %s",
		       ikev2_notify_name(err) ? ikev2_notify_name(err) : "error");
		if (err == IKEV2_N_TEMPORARY_FAILURE && old) {
			old->rekey_ms = temp_failure(ike, sa);
		} else if (err == IKEV2_N_CHILD_SA_NOT_FOUND && old && !old->rekeyed) {
			/* 2.25: delete it silently and create a new one. */
			child_remove(ike, sa, old);
			sa->tasks |= 1u << TASK_CHILD_CREATE;
		}
		return 0;
	}
	if (!np ||
	    child_check_answer(sa, m, sa->pend->dh != NULL, &sa->pend->ts_i, &sa->pend->ts_r,
	                       &res) < 0 ||
	    (sa->pend->dh && !kep)) {
		sa_log(sa, LOG_NOTICE, "child-failed", "unacceptable CREATE_CHILD_SA answer");
		return 0;
	}
	/* 1.3.1: g^ir of the PFS exchange is computed by a job. */
	if (sa->pend->dh && !(job = work_take_result(ike, sa, WORK_CCSA_DERIVE)))
		return defer(ike, sa, WORK_CCSA_DERIVE, 0, &sa->pend->dh, kep, m) < 0 ? 0 : 1;
	if (sa->pend->dh && job_gir(job, gir, &gir_len) < 0) {
		sa_log(sa, LOG_NOTICE, "child-failed", "unacceptable CREATE_CHILD_SA answer");
		return 0;
	}
	ch = child_from(ike, sa, &res, sa->pend->child_spi);
	if (!ch ||
	    child_derive_keys(sa, ch, sa->pend->nonce, sa->pend->nonce_len, np->u.nonce.data,
	                      np->u.nonce.len, sa->pend->dh ? gir : NULL,
	                      sa->pend->dh ? gir_len : 0, true) < 0 ||
	    child_install(ike, sa, ch) < 0) {
		if (ch)
			child_abandon(ike, sa, ch);
		goto out;
	}
	ch->by_us = true;
	sa->temp_fail_ms = 0;
	set_min_nonce(&ch->nonce_min, &ch->nonce_min_len, sa->pend->nonce, sa->pend->nonce_len,
	              np->u.nonce.data, np->u.nonce.len);
	if (old && old->rekeyed) {
		child_collision(ike, sa, old, ch);
	} else if (old) {
		old->rekeyed = true;
		old->delete_pending = true; /* 2.8: the rekey initiator deletes the old SA */
	}
	sa->tasks |= 1u << TASK_CHILD_DELETE;
out:
	crypto_wipe(gir, sizeof(gir));
	return 0;
}

/* 2.8.2: both sides rekeyed the IKE SA; the one with the lowest nonce goes. */
static void ike_collision(struct ike *ike, struct ike_sa *old, struct ike_sa *mine)
{
	struct ike_sa *theirs = sa_lookup_serial(ike, old->peer_rekey_serial);

	if (!theirs || theirs->state == IKE_S_DEAD) {
		move_children(ike, old, mine);
		retire(ike, old, mine, true);
		return;
	}
	if (nonce_cmp(mine->nonce_min, mine->nonce_min_len, theirs->nonce_min,
	              theirs->nonce_min_len) < 0) {
		sa_log(old, LOG_INFO, "rekey-collision", "our IKE SA #%llu is redundant",
		       (unsigned long long)mine->serial);
		move_children(ike, old, theirs);
		retire(ike, old, theirs, false);
		ike_queue(ike, mine, TASK_IKE_DELETE);
	} else {
		sa_log(old, LOG_INFO, "rekey-collision", "our IKE SA #%llu survives",
		       (unsigned long long)mine->serial);
		move_children(ike, old, mine);
		retire(ike, old, mine, true);
	}
}

/* Returns 1 when the first pass stopped for a job (work.c). */
static int response_ike_rekey(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m)
{
	struct ike_sa *nsa = sa_lookup_serial(ike, sa->pend->new_sa);
	const struct wire_payload *sap = wire_msg_find(m, IKEV2_PL_SA, NULL);
	const struct wire_payload *np = wire_msg_find(m, IKEV2_PL_NI_NR, NULL);
	const struct wire_payload *kep = wire_msg_find(m, IKEV2_PL_KE, NULL);
	uint16_t err = child_error_notify(m);
	struct ike_work *job;
	struct ike_chosen c;

	if (!nsa)
		return 0;
	if (err || !sap || !np || !kep ||
	    propsel_check(&sap->u.sa, sa->conn->ike_proposals, sa->conn->n_ike_proposals,
	                  IKEV2_PROTO_IKE, &c) < 0 ||
	    c.spi_size != 8 || c.dh != sa->suite.dh) {
		sa_log(sa, LOG_NOTICE, "ike-rekey-failed", "peer says %s",
		       err && ikev2_notify_name(err) ? ikev2_notify_name(err) : "unacceptable");
		sa_kill(ike, nsa, "rekey refused");
		/* 2.25: retry later, at random. */
		sa->rekey_ms = err == IKEV2_N_TEMPORARY_FAILURE
		                   ? temp_failure(ike, sa)
		                   : ike_now(ike) + TEMP_FAILURE_GIVE_UP_MS;
		return 0;
	}
	/* 2.18: g^ir is computed by a job. */
	if (!(job = work_take_result(ike, sa, WORK_CCSA_DERIVE))) {
		if (sa->pend->dh && defer(ike, sa, WORK_CCSA_DERIVE, 0, &sa->pend->dh, kep, m) == 0)
			return 1;
		sa_kill(ike, nsa, "IKE rekey key derivation failed");
		return 0;
	}
	memcpy(nsa->spi_r, c.spi, 8);
	if (ike_rekey_finish(ike, sa, nsa, &c, sa->pend->nonce, sa->pend->nonce_len,
	                     np->u.nonce.data, np->u.nonce.len, job) < 0) {
		sa_kill(ike, nsa, "IKE rekey key derivation failed");
		return 0;
	}
	nsa->by_us = true;
	sa->temp_fail_ms = 0;
	ike_established(ike, nsa, "rekeyed by us");
	sa_setup_free(ike, nsa);
	ext_rekey_done(ike, sa, nsa, m);
	if (sa->peer_rekey_serial)
		ike_collision(ike, sa, nsa);
	else {
		move_children(ike, sa, nsa);
		retire(ike, sa, nsa, true);
	}
	return 0;
}

void ccsa_response(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m)
{
	enum ike_task task = sa->out->task;
	int deferred;

	if (!sa->pend) { /* made by ccsa_start; never missing while its request is out */
		ike_request_done(ike, sa);
		return;
	}
	if (task == TASK_IKE_REKEY)
		deferred = response_ike_rekey(ike, sa, m);
	else
		deferred = response_child(ike, sa, m, task);
	if (deferred)
		return; /* the request stays out until the second pass */
	crypto_dh_free(sa->pend->dh);
	sa->pend->dh = NULL;
	sa->pend->new_sa = 0;
	ike_request_done(ike, sa);
}

/* A job for sa is done: the pass that stopped for it runs again (defer). */
void ccsa_resume(struct ike *ike, struct ike_sa *sa, struct ike_work *w)
{
	const struct ike_addr *rl = ike->rx_local, *rr = ike->rx_remote;
	struct wire_msg *m = NULL;

	ike->resuming = w;
	if (w->kind == WORK_CCSA_KEYGEN) {
		if (sa->state != IKE_S_ESTABLISHED || ccsa_start(ike, sa, w->task) < 0)
			sa_log(sa, LOG_WARNING, "task-failed", "task %d", w->task);
		goto out;
	}
	if (!(m = work_msg(w))) {
		sa_log(sa, LOG_WARNING, "ccsa-failed", "message kept for the key exchange lost");
		goto out;
	}
	if (w->kind == WORK_CCSA_DERIVE) {
		/* Still the answer to our outstanding request: nothing else ran. */
		if (!sa->out || sa->out->msg_id != m->hdr.msg_id || !sa->pend)
			goto out;
		sa->pend->dh = w->dh;
		w->dh = NULL;
		ccsa_response(ike, sa, m);
		goto out;
	}
	if (w->has_addrs) {
		ike->rx_local = &w->local;
		ike->rx_remote = &w->remote;
	}
	ccsa_request(ike, sa, m);
out:
	ike->resuming = NULL;
	ike->rx_local = rl;
	ike->rx_remote = rr;
	if (m) {
		wire_msg_free(m);
		free(m);
	}
}
