/*
 * Child SAs (RFC 7296 1.3, 2.9, 2.17): negotiating one as responder and
 * checking the answer as initiator, shared by IKE_AUTH and CREATE_CHILD_SA;
 * KEYMAT derivation; installation into the data plane and the lifetime
 * timers that trigger rekeying (2.8).
 */
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "ike/sa.h"
#include "ike/child.h"

int child_derive_keys(struct ike_sa *sa, struct child_sa *c, const uint8_t *ni, size_t ni_len,
                      const uint8_t *nr, size_t nr_len, const uint8_t *gir, size_t gir_len,
                      bool we_initiated)
{
	struct crypto_encr_info info;
	struct crypto_chunk cni = {ni, ni_len}, cnr = {nr, nr_len}, g = {gir, gir_len};
	uint8_t keymat[2 * (CRYPTO_MAX_KEY_LEN + CRYPTO_MAX_PRF_LEN)];
	size_t e, a, total;
	const uint8_t *first, *second;
	int rc = -1;

	if (crypto_encr_info(c->encr, c->encr_keybits, &info) < 0)
		return -1;
	e = info.key_len;
	a = info.aead ? 0 : crypto_integ_key_len(c->integ);
	if ((!info.aead && !a) || e > CRYPTO_MAX_KEY_LEN || a > CRYPTO_MAX_PRF_LEN)
		return -1;
	total = 2 * (e + a);
	if (!c->keys && !(c->keys = calloc(1, sizeof(*c->keys))))
		return -1;
	if (crypto_child_keymat(sa->suite.prf, sa->sk_d, sa->sk_d_len, gir ? &g : NULL, &cni, &cnr,
	                        keymat, total) < 0)
		goto out;
	/* 2.17: initiator-to-responder keys first, each encryption then integrity. */
	first = keymat;
	second = keymat + e + a;
	memcpy(c->keys->out_e, we_initiated ? first : second, e);
	memcpy(c->keys->out_a, (we_initiated ? first : second) + e, a);
	memcpy(c->keys->in_e, we_initiated ? second : first, e);
	memcpy(c->keys->in_a, (we_initiated ? second : first) + e, a);
	c->key_e_len = (uint8_t)e;
	c->key_a_len = (uint8_t)a;
	rc = 0;
out:
	crypto_wipe(keymat, sizeof(keymat));
	return rc;
}

void child_keys_drop(struct child_sa *c)
{
	if (!c->keys)
		return;
	crypto_wipe(c->keys, sizeof(*c->keys));
	free(c->keys);
	c->keys = NULL;
}

static uint64_t jitter(uint64_t span_ms)
{
	uint32_t r = 0;

	if (!span_ms || crypto_random(&r, sizeof(r)) < 0)
		return 0;
	return r % span_ms;
}

void child_schedule(struct ike *ike, struct ike_sa *sa, struct child_sa *c)
{
	const struct cfg_conn *conn = sa->conn;
	uint64_t now = ike_now(ike), life, margin;

	if (!conn || !conn->child_lifetime)
		return;
	life = (uint64_t)conn->child_lifetime * 1000;
	margin = (uint64_t)conn->rekey_margin * 1000;
	c->expire_ms = now + life;
	/* 2.8.1: jitter the rekey so both ends rarely start together. */
	c->rekey_ms = now + life - margin - jitter(margin * conn->rekey_fuzz / 100);
	ike_sa_changed(ike, sa);
}

/* What the data plane is told about c (a value; the caller wipes it). */
static void child_info(const struct ike_sa *sa, const struct child_sa *c, struct ike_child_info *i)
{
	memset(i, 0, sizeof(*i));
	i->conn = sa->conn_name;
	i->ike_serial = sa->serial;
	i->ike_spi_i = sa_spi64(sa->spi_i);
	i->ike_spi_r = sa_spi64(sa->spi_r);
	i->local = sa->local;
	i->remote = sa->remote;
	i->natt = sa->natt;
	i->reqid = c->reqid;
	i->spi_in = c->spi_in;
	i->spi_out = c->spi_out;
	i->encr = c->encr;
	i->encr_keybits = c->encr_keybits;
	i->integ = c->integ;
	i->esn = c->esn;
	i->transport = c->transport;
	i->encap = c->encap;
	if (c->keys) { /* only until installed: child_up is the one hook that needs them */
		memcpy(i->key_in_e, c->keys->in_e, sizeof(i->key_in_e));
		memcpy(i->key_in_a, c->keys->in_a, sizeof(i->key_in_a));
		memcpy(i->key_out_e, c->keys->out_e, sizeof(i->key_out_e));
		memcpy(i->key_out_a, c->keys->out_a, sizeof(i->key_out_a));
		i->key_e_len = c->key_e_len;
		i->key_a_len = c->key_a_len;
	}
	child_ts(c, &i->ts_local, &i->ts_remote);
	i->life_bytes = sa->conn ? sa->conn->child_life_bytes : 0;
}

void child_uninstall(struct ike *ike, struct ike_sa *sa, struct child_sa *c)
{
	struct ike_child_info i;

	if (!c->installed)
		return;
	c->installed = false;
	if (!ike->host.child_down)
		return;
	child_info(sa, c, &i);
	ike->host.child_down(ike->host.ctx, &i);
	crypto_wipe(&i, sizeof(i));
}

/* A transport-mode Child SA protects traffic of the IKE peer itself only if
 * its remote selector is that one address. */
static bool ts_is_host(const struct cfg_ts *ts, size_t nts, const struct ike_addr *a)
{
	size_t n;
	const uint8_t *p = addr_bytes(a, &n);

	return p && nts == 1 &&
	       ts[0].type == (n == 4 ? IKEV2_TS_IPV4_ADDR_RANGE : IKEV2_TS_IPV6_ADDR_RANGE) &&
	       !memcmp(ts[0].start, p, n) && !memcmp(ts[0].end, p, n);
}

void child_move_all(struct ike *ike, struct ike_sa *sa, const struct ike_addr *old_remote)
{
	struct ike_child_info i;

	if (!ike->host.child_moved)
		return;
	for (struct child_sa *c = sa->children; c; c = c->next) {
		if (!c->installed)
			continue;
		/* The address-management draft's proxy case: a transport-mode
		 * SA for another host than the IKE peer stays where it is. */
		if (c->transport && !ts_is_host(c->ts + c->n_ts_local, c->n_ts_remote, old_remote))
			continue;
		child_info(sa, c, &i);
		ike->host.child_moved(ike->host.ctx, &i);
	}
	crypto_wipe(&i, sizeof(i));
}

int child_install(struct ike *ike, struct ike_sa *sa, struct child_sa *c)
{
	struct ike_child_info i;
	int rc = 0;

	c->encap = sa->natt || (sa->conn && sa->conn->encap);
	if (ike->host.child_up) {
		child_info(sa, c, &i);
		rc = ike->host.child_up(ike->host.ctx, &i);
		crypto_wipe(&i, sizeof(i));
	}
	child_keys_drop(c); /* the data plane has them, or the SA goes */
	if (rc < 0) {
		sa_log(sa, LOG_ERR, "child-install-failed", "reqid %u", c->reqid);
		return -1;
	}
	c->installed = true;
	ext_child_event(ike, sa, c, EXT_CHILD_UP);
	sa_log(sa, LOG_INFO, "child-up", "reqid %u spi %08x/%08x %s%s", c->reqid, c->spi_in,
	       c->spi_out, c->transport ? "transport" : "tunnel", c->encap ? " udp-encap" : "");
	child_schedule(ike, sa, c);
	return 0;
}

/*
 * Our install failed after the peer created its half (we initiated the
 * exchange, or answered it already): delete it towards the peer (1.4.1)
 * instead of leaving the peer sending into an SA we do not have.
 */
void child_abandon(struct ike *ike, struct ike_sa *sa, struct child_sa *c)
{
	sa_log(sa, LOG_WARNING, "child-abandoned",
	       "reqid %u spi %08x/%08x not installed, deleting it at the peer", c->reqid, c->spi_in,
	       c->spi_out);
	c->delete_pending = true;
	ike_queue(ike, sa, TASK_CHILD_DELETE);
}

/* The ESP proposals to offer; DH only when the exchange carries KE (1.2). */
size_t child_offer(const struct cfg_conn *conn, bool with_dh, struct proposal *out)
{
	size_t n = conn->n_esp_proposals;

	memcpy(out, conn->esp_proposals, n * sizeof(*out));
	if (!with_dh)
		for (size_t i = 0; i < n; i++)
			out[i].n_dh = 0;
	return n;
}

int child_select(struct ike *ike, struct ike_sa *sa, const struct wire_msg *req, bool with_dh,
                 struct child_offer_result *res)
{
	const struct cfg_conn *conn = sa->conn;
	const struct wire_payload *sap = wire_msg_find(req, IKEV2_PL_SA, NULL);
	const struct wire_payload *tsi = wire_msg_find(req, IKEV2_PL_TSI, NULL);
	const struct wire_payload *tsr = wire_msg_find(req, IKEV2_PL_TSR, NULL);
	struct proposal props[CFG_MAX_PROPOSALS];
	struct ike_ts_set pi, pr, ours_l, ours_r;
	size_t n;

	(void)ike;
	memset(res, 0, sizeof(*res));
	if (!sap || !tsi || !tsr)
		return IKEV2_N_INVALID_SYNTAX;
	n = child_offer(conn, with_dh, props);
	if (propsel_choose(&sap->u.sa, props, n, IKEV2_PROTO_ESP, with_dh, &res->chosen) < 0 ||
	    res->chosen.spi_size != 4)
		return IKEV2_N_NO_PROPOSAL_CHOSEN;
	/* 2.9: TSi is the initiator's side, i.e. the peer's; narrow both. */
	ts_from_config(conn->remote_ts, conn->n_remote_ts, &sa->remote, &ours_r);
	ts_from_config(conn->local_ts, conn->n_local_ts, &sa->local, &ours_l);
	if (ts_from_payload(&tsi->u.ts, &pi) < 0 || ts_from_payload(&tsr->u.ts, &pr) < 0 ||
	    ts_narrow(&pi, &ours_r, &res->ts_remote) < 0 ||
	    ts_narrow(&pr, &ours_l, &res->ts_local) < 0)
		return IKEV2_N_TS_UNACCEPTABLE;
	/* 1.3.1: transport only when both want it. */
	res->transport = wire_msg_find_notify(req, IKEV2_N_USE_TRANSPORT_MODE) &&
	                 conn->mode == CFG_MODE_TRANSPORT;
	res->spi_out = wire_spi32_get(res->chosen.spi);
	return 0;
}

struct child_sa *child_from(struct ike *ike, struct ike_sa *sa, const struct child_offer_result *r,
                            uint32_t spi_in)
{
	size_t nl = r->ts_local.n, nr = r->ts_remote.n;
	struct child_sa *c;

	_Static_assert(IKE_MAX_TS <= UINT8_MAX, "n_ts_local is a uint8_t");
	if (nl > IKE_MAX_TS || nr > IKE_MAX_TS || !(c = child_new(ike, sa, spi_in, nl + nr)))
		return NULL;
	memcpy(c->ts, r->ts_local.ts, nl * sizeof(c->ts[0]));
	memcpy(c->ts + nl, r->ts_remote.ts, nr * sizeof(c->ts[0]));
	c->n_ts_local = (uint8_t)nl;
	c->n_ts_remote = (uint8_t)nr;
	c->spi_out = r->spi_out;
	c->encr = r->chosen.encr;
	c->encr_keybits = r->chosen.encr_keybits;
	c->integ = r->chosen.integ;
	c->esn = r->chosen.esn == IKEV2_ESN_ESN;
	c->pfs_group = r->chosen.dh;
	c->transport = r->transport;
	return c;
}

int child_build_answer(struct wire_msg *m, const struct child_offer_result *r, uint32_t spi_in)
{
	struct ike_chosen ch = r->chosen;

	wire_spi32_put(ch.spi, spi_in);
	ch.spi_size = 4;
	return build_sa_chosen(m, &ch);
}

int child_build_ts(struct wire_msg *m, const struct ike_ts_set *ts_i, const struct ike_ts_set *ts_r,
                   bool transport)
{
	if (build_ts(m, IKEV2_PL_TSI, ts_i) < 0 || build_ts(m, IKEV2_PL_TSR, ts_r) < 0)
		return -1;
	if (transport && build_notify(m, 0, NULL, 0, IKEV2_N_USE_TRANSPORT_MODE, NULL, 0) < 0)
		return -1;
	return 0;
}

int child_build_offer(struct ike_sa *sa, struct wire_msg *m, bool with_dh, uint32_t spi_in)
{
	struct proposal props[CFG_MAX_PROPOSALS];
	size_t n = child_offer(sa->conn, with_dh, props);
	uint8_t spi[4];

	wire_spi32_put(spi, spi_in);
	return build_sa(m, props, n, IKEV2_PROTO_ESP, spi, 4);
}

int child_check_answer(struct ike_sa *sa, const struct wire_msg *resp, bool with_dh,
                       const struct ike_ts_set *ts_i, const struct ike_ts_set *ts_r,
                       struct child_offer_result *res)
{
	const struct wire_payload *sap = wire_msg_find(resp, IKEV2_PL_SA, NULL);
	const struct wire_payload *tsi = wire_msg_find(resp, IKEV2_PL_TSI, NULL);
	const struct wire_payload *tsr = wire_msg_find(resp, IKEV2_PL_TSR, NULL);
	struct proposal props[CFG_MAX_PROPOSALS];
	size_t n = child_offer(sa->conn, with_dh, props);

	memset(res, 0, sizeof(*res));
	if (!sap || !tsi || !tsr ||
	    propsel_check(&sap->u.sa, props, n, IKEV2_PROTO_ESP, &res->chosen) < 0 ||
	    res->chosen.spi_size != 4)
		return -1;
	/* 2.9: the responder may only narrow what we proposed. */
	if (ts_from_payload(&tsi->u.ts, &res->ts_local) < 0 ||
	    ts_from_payload(&tsr->u.ts, &res->ts_remote) < 0 || !ts_subset(&res->ts_local, ts_i) ||
	    !ts_subset(&res->ts_remote, ts_r))
		return -1;
	res->transport = wire_msg_find_notify(resp, IKEV2_N_USE_TRANSPORT_MODE) != NULL;
	res->spi_out = wire_spi32_get(res->chosen.spi);
	return 0;
}

/* The first error notify of a response (types below 16384), or 0. */
uint16_t child_error_notify(const struct wire_msg *m)
{
	for (size_t i = 0; i < m->npayloads; i++)
		if (m->payloads[i].type == IKEV2_PL_N && m->payloads[i].u.notify.type < 16384)
			return m->payloads[i].u.notify.type;
	return 0;
}
