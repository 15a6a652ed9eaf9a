/*
 * Quick Crash Detection (RFC 6290), both roles.
 *
 * Token maker: tokens are HMAC-SHA-256(QCD_SECRET, SPIi | SPIr [| IPaddr-T])
 * (5.1, 5.2: a keyed hash), 32 octets, from a persistent secret with up to
 * three previous generations (store/qcd_secret.c). Our token goes in the
 * first IKE_AUTH request or the last IKE_AUTH response, after AUTH (4.2),
 * in the CREATE_CHILD_SA response that rekeys the IKE SA, or in an
 * INFORMATIONAL after a rekey we started or a rollover (4.3). A protected
 * request for an unknown IKE SA gets N(INVALID_IKE_SPI), N(QCD_TOKEN)+
 * (4.5), never for a live SA (9.2), within a budget (8.1). An ESP packet
 * for an unknown SPI gets N(INVALID_SPI), N(QCD_TOKEN)+ when the persistent
 * Child SPI map knows its IKE SA (8.2).
 *
 * Token taker: tokens from protected messages are stored with the IKE SA
 * (newest first, 4 kept). An unprotected QCD_TOKEN, from any address and
 * port (3), is compared in constant time with every stored token; a match
 * deletes the IKE SA and its Child SAs silently and re-initiates when the
 * connection stays up; a mismatch is logged (rate-limited) and nothing is
 * sent (4.5). An unprotected INVALID_IKE_SPI or INVALID_SPI without a good
 * token starts a liveness check at once, whose answer will carry the token.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ike/ext.h"
#include "store/qcd_secret.h"
#include "store/spimap.h"
#include "util/log.h"
#include "util/ratelimit.h"
#include "wire/notify.h"

#define QCD_TOKEN_LEN     32
#define QCD_TOKENS        QCD_VIEW_TOKENS /* 4.5: up to 4 tokens stored */
#define QCD_TOKEN_MAX     128             /* 4.1 */
#define QCD_MAX_IN_TOKENS 8               /* considered per unprotected message (4.5 needs 4) */
#define SPIMAP_FLUSH_MS   100

/* What QCD keeps per IKE SA (the extension's state, ike/ext.h). */
struct qcd_tokens {
	uint8_t tok[QCD_TOKENS][QCD_TOKEN_MAX]; /* newest first */
	size_t len[QCD_TOKENS];
};

/* Every SA of a maker records that its token went out; only SAs whose
 * peer makes tokens too (few do) hold the peer's, allocated with the first. */
struct qcd_sa {
	struct qcd_tokens *peer; /* owned; NULL until the peer's first token */
	size_t n_peer;
	bool sent;   /* our token went to the peer */
	bool resend; /* 4.3/4.4: send our token in an INFORMATIONAL */
};

struct qcd {
	bool maker; /* secret loaded and QCD enabled */
	struct qcd_secret secret;
	char path[4096];
	struct spimap *spimap;     /* NULL when it could not be opened */
	uint64_t next_rollover_ms; /* 0: no schedule */
	uint64_t flush_at_ms;
	struct ratelimit tokens_all;        /* token answers (8.1); beyond: plain INVALID_IKE_SPI */
	struct ratelimit_keyed verify_src;  /* verifications per source (8.1) */
	struct ratelimit_keyed invalid_spi; /* INVALID_SPI answers per source (8.2) */
	uint64_t sent, stored, verified, rejected, answered;
};

static struct qcd *qcd_of(struct ike *ike)
{
	return ext_global(ike, &qcd_ext);
}

/* NULL until the SA sends or stores a token (ike/ext.h 1.): a gateway
 * without QCD keeps none per SA. */
static struct qcd_sa *qsa_of(const struct ike_sa *sa)
{
	return ext_state(sa, &qcd_ext);
}

static bool enabled_for(struct ike *ike, const struct ike_sa *sa)
{
	const struct cfg_conn *c = sa ? ike_sa_conn(sa) : NULL;

	return ike_cfg(ike)->qcd_enabled && c && c->qcd;
}

/* ---- tokens ---- */

static int make_token(const struct qcd *q, size_t gen, const uint8_t spi_i[8],
                      const uint8_t spi_r[8], const uint8_t *addr, size_t alen, uint8_t *out)
{
	struct crypto_chunk in[] = {{spi_i, 8}, {spi_r, 8}, {addr, alen}};

	return crypto_prf(IKEV2_PRF_HMAC_SHA2_256, q->secret.key[gen], QCD_SECRET_LEN, in,
	                  alen ? 3 : 2, out);
}

/* The taker's address, for connections that bind tokens to it (5.2). */
static const uint8_t *taker_addr(const struct ike_sa *sa, size_t *len)
{
	const struct cfg_conn *c = ike_sa_conn(sa);

	if (!c || !c->qcd_bind_address) {
		*len = 0;
		return NULL;
	}
	return addr_bytes(ike_sa_remote(sa), len);
}

static int add_token(struct wire_msg *m, const uint8_t *tok)
{
	/* 4.1: protocol 1 (IKE), SPI size 0. */
	return build_notify(m, IKEV2_PROTO_IKE, NULL, 0, IKEV2_N_QUICK_CRASH_DETECTION, tok,
	                    QCD_TOKEN_LEN);
}

static int send_our_token(struct ike *ike, struct ike_sa *sa, struct wire_msg *m, const char *how)
{
	struct qcd *q = qcd_of(ike);
	uint8_t tok[QCD_TOKEN_LEN];
	size_t alen;
	const uint8_t *a = taker_addr(sa, &alen);
	struct qcd_sa *s;

	if (!q || !q->maker || !enabled_for(ike, sa))
		return 0;
	if (!(s = ext_state_new(sa, &qcd_ext)))
		return -1;
	if (make_token(q, 0, ike_sa_spi_i(sa), ike_sa_spi_r(sa), a, alen, tok) < 0 ||
	    add_token(m, tok) < 0)
		return -1;
	crypto_wipe(tok, sizeof(tok));
	s->sent = true;
	q->sent++;
	sa_log(sa, LOG_INFO, "qcd-token-sent", "%s, generation %u", how, q->secret.gen[0]);
	return 0;
}

/* Store the peer's token(s) from a protected message, newest first (3, 4.4). */
static void take_tokens(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m)
{
	struct qcd *q = qcd_of(ike);
	struct qcd_sa *s;
	const struct wire_payload *p = NULL;

	if (!enabled_for(ike, sa))
		return; /* 3: non-takers silently ignore tokens */
	while ((p = wire_msg_find(m, IKEV2_PL_N, p))) {
		struct wire_qcd_token t;
		struct wire_error err;

		if (p->u.notify.type != IKEV2_N_QUICK_CRASH_DETECTION || !p->encrypted)
			continue;
		if (wire_qcd_token_decode(&p->u.notify, &t, &err) < 0) { /* 5: 16 to 128 octets */
			sa_log(sa, LOG_NOTICE, "qcd-token-ignored", "%s", err.reason);
			continue;
		}
		if (!(s = ext_state_new(sa, &qcd_ext)) ||
		    (!s->peer && !(s->peer = calloc(1, sizeof(*s->peer))))) {
			crypto_wipe(&t, sizeof(t));
			sa_log(sa, LOG_WARNING, "qcd-token-ignored", "out of memory");
			return;
		}
		memmove(s->peer->tok[1], s->peer->tok[0],
		        sizeof(s->peer->tok[0]) * (QCD_TOKENS - 1));
		memmove(&s->peer->len[1], &s->peer->len[0],
		        sizeof(s->peer->len[0]) * (QCD_TOKENS - 1));
		memcpy(s->peer->tok[0], t.token, t.len);
		s->peer->len[0] = t.len;
		crypto_wipe(&t, sizeof(t));
		if (s->n_peer < QCD_TOKENS)
			s->n_peer++;
		if (q)
			q->stored++;
		sa_log(sa, LOG_INFO, "qcd-token-stored", "%zu octets, %zu held", s->peer->len[0],
		       s->n_peer);
	}
}

/* ---- the hook: adding and taking tokens in protected exchanges ---- */

static enum ext_result qcd_hook(enum ext_point pt, struct ext_ctx *c)
{
	struct qcd *q = qcd_of(c->ike);
	struct qcd_sa *s = c->state;
	int rc = 0;

	switch (pt) {
	case EXT_AUTH_REQ_OUT:
		rc = send_our_token(c->ike, c->sa, c->out, "in IKE_AUTH request");
		break;
	case EXT_AUTH_RESP_OUT:
		rc = send_our_token(c->ike, c->sa, c->out, "in IKE_AUTH response");
		break;
	case EXT_IKE_REKEY_RESP_OUT:
		rc = send_our_token(c->ike, c->sa, c->out, "in IKE rekey response");
		break;
	case EXT_INFO_REQ_OUT: /* our own request (ike_ext_request) */
		if (s && s->resend) {
			s->resend = false;
			rc = send_our_token(c->ike, c->sa, c->out, "in INFORMATIONAL");
		}
		break;
	case EXT_AUTH_REQ_IN:
	case EXT_AUTH_RESP_IN:
	case EXT_INFO_REQ_IN: /* 4.4: gratuitous tokens in protected messages */
		take_tokens(c->ike, c->sa, c->in);
		break;
	case EXT_IKE_REKEY_DONE:
		/* 4.3: the responder's token came in its answer; if we
		 * started the rekey and make tokens, send ours separately. */
		take_tokens(c->ike, c->sa, c->in);
		if (ike_sa_created_by_us(c->sa) && q && q->maker && enabled_for(c->ike, c->sa)) {
			if (!(s = ext_state_new(c->sa, &qcd_ext))) {
				rc = -1;
				break;
			}
			s->resend = true;
			ike_ext_request(c->ike, c->sa, &qcd_ext);
		}
		break;
	default:
		break;
	}
	return rc < 0 ? EXT_FAIL : EXT_CONTINUE;
}

/* ---- maker: answers for SAs we lost ---- */

/* 9.2: an SA (in any state) with exactly these SPIs, whichever of them is ours.
 * The engine looks SAs up by the SPI the I flag names, so a request with the
 * flag flipped reaches the unknown-SPI path for an SA that is alive. */
static bool spis_live(struct ike *ike, const uint8_t spi_i[8], const uint8_t spi_r[8])
{
	return ike_sa_by_spis(ike, spi_i, spi_r) != NULL;
}

static int qcd_unknown_spi_answer(struct ext_ctx *ctx)
{
	struct ike *ike = ctx->ike;
	const struct wire_msg *req = ctx->in;
	const struct ike_addr *local = ctx->local, *remote = ctx->remote;
	struct wire_msg *answer = ctx->out;
	struct qcd *q = qcd_of(ike);
	const struct wire_payload *last = &req->payloads[req->npayloads - 1];
	const struct cfg_conn *c = ike_conn_for_addrs(ike, local, remote);
	uint8_t tok[QCD_TOKEN_LEN];
	size_t alen = 0;
	const uint8_t *a = NULL;

	/* 4.5: only protected requests; 8.1: only within the token budget. */
	if (!q || !q->maker || !c || !c->qcd || !req->npayloads ||
	    (last->type != IKEV2_PL_SK && last->type != IKEV2_PL_SKF) ||
	    spis_live(ike, req->hdr.spi_i, req->hdr.spi_r) ||
	    !ratelimit_take(&q->tokens_all, ike_now(ike)))
		return 0;
	if (c->qcd_bind_address)
		a = addr_bytes(remote, &alen);
	/* 4.5, 5.1: one token per secret generation, newest first. */
	for (size_t g = 0; g < q->secret.n; g++) {
		if (make_token(q, g, req->hdr.spi_i, req->hdr.spi_r, a, alen, tok) < 0 ||
		    add_token(answer, tok) < 0)
			break;
	}
	crypto_wipe(tok, sizeof(tok));
	q->answered++;
	if (log_rl_allow(LOG_RL_QCD, (const struct sockaddr *)&remote->ss))
		log_msg(LOG_INFO, "qcd",
		        "\"%s\" qcd-token-sent in the clear for a lost IKE SA, %zu "
		        "generation(s)",
		        c->name, q->secret.n);
	return 0;
}

/* 8.2: an ESP packet for an SPI we lost: N(INVALID_SPI) with the tokens of its IKE SA. */
static void qcd_esp_unknown_spi(struct ike *ike, uint32_t spi, const struct ike_addr *local,
                                const struct ike_addr *remote)
{
	struct qcd *q = qcd_of(ike);
	struct spimap_entry e;
	struct wire_msg m;
	struct wire_hdr h;
	uint8_t data[WIRE_INVALID_SPI_LEN], tok[QCD_TOKEN_LEN];
	size_t alen, dlen;
	const uint8_t *ab = addr_bytes(remote, &alen);
	bool known = false;

	if (!q || !ratelimit_keyed_take(&q->invalid_spi, ab, alen, ike_now(ike)))
		return;
	memset(&h, 0, sizeof(h));
	/* 9.2: never the tokens of an IKE SA that is still alive (a stale entry,
	 * or ESP racing the data plane's expiry of a Child SA). */
	if (q->spimap && spimap_get(q->spimap, spi, &e) == 1 && !spis_live(ike, e.spi_i, e.spi_r)) {
		memcpy(h.spi_i, e.spi_i, 8);
		memcpy(h.spi_r, e.spi_r, 8);
		known = true;
	}
	h.version = IKEV2_VERSION;
	h.exchange = IKEV2_EXCH_INFORMATIONAL;
	/* RFC 7296 1.5: I set, R clear; the receiver MUST NOT answer it. */
	h.flags = IKEV2_FLAG_INITIATOR;
	wire_msg_init(&m);
	if (wire_invalid_spi_encode(spi, data, sizeof(data), &dlen) < 0 ||
	    build_notify(&m, IKEV2_PROTO_ESP, NULL, 0, IKEV2_N_INVALID_SPI, data, dlen) < 0)
		goto out;
	for (size_t g = 0; known && q->maker && g < q->secret.n; g++)
		if (make_token(q, g, e.spi_i, e.spi_r, e.peer_len ? e.peer : NULL, e.peer_len,
		               tok) < 0 ||
		    add_token(&m, tok) < 0)
			break;
	ike_send_unprotected(ike, local, remote, &h, &m);
	if (log_rl_allow(LOG_RL_QCD, (const struct sockaddr *)&remote->ss))
		log_msg(LOG_INFO, "qcd", "ESP for unknown SPI %08x: INVALID_SPI sent%s", spi,
		        known ? " with QCD tokens" : "");
out:
	crypto_wipe(tok, sizeof(tok));
	wire_msg_free(&m);
}

/* ---- taker: unprotected INVALID_IKE_SPI / INVALID_SPI / QCD_TOKEN ---- */

/* The SA a hint names: by its IKE SPIs in either role, else by INVALID_SPI's Child SPI (8.2). */
static struct ike_sa *resolve(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m)
{
	const struct wire_payload *inv = wire_msg_find_notify(m, IKEV2_N_INVALID_SPI);
	struct wire_error err;
	uint32_t spi;

	if (sa)
		return sa;
	sa = ike_sa_by_spis(ike, m->hdr.spi_i, m->hdr.spi_r);
	if (sa)
		return sa;
	if (!inv || wire_invalid_spi_decode(&inv->u.notify, &spi, &err) < 0)
		return NULL;
	return ike_sa_by_child_out(ike, spi);
}

/* Constant-time over all pairs: any of the message's tokens against any stored one. */
static bool token_matches(const struct qcd_sa *s, const struct wire_msg *m, size_t *seen)
{
	const struct wire_payload *p = NULL;
	bool match = false;

	*seen = 0;
	while ((p = wire_msg_find(m, IKEV2_PL_N, p)) && *seen < QCD_MAX_IN_TOKENS) {
		if (p->u.notify.type != IKEV2_N_QUICK_CRASH_DETECTION)
			continue;
		(*seen)++;
		for (size_t i = 0; s && s->peer && i < s->n_peer; i++) /* none held */
			match |= s->peer->len[i] == p->u.notify.len &&
			         !crypto_memcmp(s->peer->tok[i], p->u.notify.data, p->u.notify.len);
	}
	return match;
}

/* An unprotected hint about an SA whose peer may have lost it: check now (RFC 6290 3). */
static void liveness_now(struct ike *ike, struct ike_sa *sa)
{
	if (ike_sa_state(sa) != IKE_S_ESTABLISHED)
		return;
	/* A request is out already: the engine retransmits it now, but only
	 * before its first retransmission (9: unauthenticated hints must not
	 * use up the retransmissions before a live peer could answer). */
	if (ike_retransmit_now(ike, sa))
		return;
	sa_log(sa, LOG_INFO, "qcd-liveness", "unprotected INVALID_(IKE_)SPI hint: checking now");
	ike_check_liveness(ike, sa);
}

static enum ext_result qcd_unprotected(struct ext_ctx *c)
{
	struct ike *ike = c->ike;
	const struct wire_msg *m = c->in;
	const struct ike_addr *remote = c->remote;
	struct qcd *q = qcd_of(ike);
	size_t alen, seen;
	const uint8_t *ab = addr_bytes(remote, &alen);
	bool hint = wire_msg_find_notify(m, IKEV2_N_INVALID_IKE_SPI) ||
	            wire_msg_find_notify(m, IKEV2_N_INVALID_SPI);
	struct ike_sa *sa = resolve(ike, c->sa, m);
	const struct cfg_conn *conn;
	if (!q || !sa)
		return EXT_CONTINUE;
	/* 8.1: verification (and any reaction to hints) is rate-limited per source. */
	if (!ratelimit_keyed_take(&q->verify_src, ab, alen, ike_now(ike)))
		return EXT_HANDLED;
	if (!enabled_for(ike, sa)) {
		/* Without QCD a hint still starts a liveness check (RFC 7296 2.21.1
		 * allows acting on it; the check itself is authenticated). */
		if (hint)
			liveness_now(ike, sa);
		return EXT_CONTINUE; /* still counted as a dropped unprotected message */
	}
	if (token_matches(qsa_of(sa), m, &seen)) {
		q->verified++;
		conn = ike_sa_conn(sa);
		sa_log(sa, LOG_NOTICE, "qcd-verified",
		       "peer lost this IKE SA: deleting it and its Child SAs%s",
		       conn && conn->keep_up ? ", re-initiating" : "");
		ike_peer_gone(ike, sa, true, "QCD token verified");
		return EXT_HANDLED;
	}
	if (seen) {
		q->rejected++;
		if (log_rl_allow(LOG_RL_QCD, (const struct sockaddr *)&remote->ss))
			sa_log(sa, LOG_WARNING, "qcd-rejected",
			       "%zu token(s) match none of %zu held", seen,
			       qsa_of(sa) ? qsa_of(sa)->n_peer : 0);
	}
	if (hint)
		liveness_now(ike, sa);
	return EXT_HANDLED;
}

/* ---- Child SPI map (8.2) ---- */

static void qcd_child_event(struct ext_ctx *ctx, struct child_sa *c, enum ext_child_event ev)
{
	struct ike *ike = ctx->ike;
	struct ike_sa *sa = ctx->sa;
	struct qcd *q = qcd_of(ike);
	struct spimap_entry e;
	size_t alen;
	const uint8_t *a;
	int rc;

	if (!q || !q->spimap || !q->maker || !enabled_for(ike, sa))
		return;
	if (ev == EXT_CHILD_DOWN) {
		/* A shutdown without Deletes keeps the map: after the restart
		 * the peers' ESP gets the tokens at once (8.2). */
		if (ike_shutting_down(ike))
			return;
		rc = spimap_del(q->spimap, child_sa_spi_in(c));
	} else {
		memset(&e, 0, sizeof(e));
		e.spi = child_sa_spi_in(c);
		memcpy(e.spi_i, ike_sa_spi_i(sa), 8);
		memcpy(e.spi_r, ike_sa_spi_r(sa), 8);
		a = taker_addr(sa, &alen);
		if (a) {
			memcpy(e.peer, a, alen);
			e.peer_len = (uint8_t)alen;
		}
		rc = spimap_put(q->spimap, &e);
	}
	if (rc < 0)
		sa_log(sa, LOG_WARNING, "qcd-spimap-failed", "reqid %u", child_sa_reqid(c));
	if (!q->flush_at_ms)
		q->flush_at_ms = ike_now(ike) + SPIMAP_FLUSH_MS;
}

/* ---- secret, rollover and timers ---- */

static void resend_fn(struct ike *ike, struct ike_sa *sa, void *arg)
{
	struct qcd_sa *s = qsa_of(sa);

	(void)arg;
	/* 4.3: after a rollover, replace tokens so none depends on a secret
	 * that may fall out of the last four generations. */
	if (s && ike_sa_state(sa) == IKE_S_ESTABLISHED && s->sent) {
		s->resend = true;
		ike_ext_request(ike, sa, &qcd_ext);
	}
}

int ike_qcd_rollover(struct ike *ike)
{
	struct qcd *q = qcd_of(ike);
	char why[256] = "";

	if (!q || !q->maker)
		return -1;
	if (qcd_secret_rollover(q->path, &q->secret, why, sizeof(why)) < 0) {
		log_msg(LOG_ERR, "qcd", "rollover failed, keeping generation %u: %s",
		        q->secret.gen[0], why);
		return -1;
	}
	log_msg(LOG_NOTICE, "qcd", "secret rolled over to generation %u (%zu kept)",
	        q->secret.gen[0], q->secret.n);
	ike_sa_foreach(ike, resend_fn, NULL);
	return 0;
}

static void count_sent_fn(struct ike *ike, struct ike_sa *sa, void *arg)
{
	(void)ike;
	if (ike_sa_state(sa) == IKE_S_ESTABLISHED && qsa_of(sa) && qsa_of(sa)->sent)
		(*(size_t *)arg)++;
}

/*
 * A reset drops every generation of the secret (qcd_secret_reset): the
 * tokens peers hold stop verifying (RFC 6290 4.1, 5.1), so on a healthy
 * secret it needs `force`. With force the SAs that had a token are sent a
 * new one (4.3, as after a rollover); peers of SAs that are gone, or that
 * do not take the new token, keep one that no longer verifies.
 */
int ike_qcd_reset(struct ike *ike, bool force, char *what, size_t len)
{
	struct qcd *q = qcd_of(ike);
	char why[256] = "";
	size_t held = 0, gens;
	bool healthy;

	if (!q || !q->path[0]) {
		snprintf(what, len, "QCD is not enabled");
		return -1;
	}
	healthy = q->maker;
	gens = q->secret.n;
	ike_sa_foreach(ike, count_sent_fn, &held);
	if (healthy && !force) {
		snprintf(what, len,
		         "the QCD secret is healthy: a reset drops its %zu generation(s), so the "
		         "tokens held by the peers of %zu established SA(s) (and of earlier SAs) "
		         "stop verifying; use 'qcd rollover', or 'qcd reset --force'",
		         gens, held);
		return 1;
	}
	if (qcd_secret_reset(q->path, &q->secret, why, sizeof(why)) < 0) {
		log_msg(LOG_ERR, "qcd", "reset failed: %s", why);
		snprintf(what, len, "reset failed: %s", why);
		return -1;
	}
	q->maker = true;
	if (healthy) {
		ike_sa_foreach(ike, resend_fn, NULL);
		snprintf(what, len,
		         "healthy secret replaced (forced): %zu generation(s) dropped; %zu "
		         "established SA(s) are sent new tokens; tokens that peers of other SAs "
		         "hold no longer verify",
		         gens, held);
	} else {
		snprintf(what, len, "new secret created; token maker enabled");
	}
	log_msg(LOG_NOTICE, "qcd", "%s", what);
	return 0;
}

static void qcd_timers(struct ike *ike, uint64_t now)
{
	struct qcd *q = qcd_of(ike);

	if (!q)
		return;
	if (q->flush_at_ms && now >= q->flush_at_ms) {
		q->flush_at_ms = 0;
		/* A failing store says so itself, once, with the reason
		 * (spimap_set_report) and backs off; this only retries. */
		if (q->spimap && spimap_flush_at(q->spimap, now) != 0)
			q->flush_at_ms = now + SPIMAP_RETRY_MIN_MS;
		else if (q->spimap && spimap_pending(q->spimap))
			q->flush_at_ms = now + SPIMAP_FLUSH_MS;
	}
	if (q->next_rollover_ms && now >= q->next_rollover_ms) {
		q->next_rollover_ms = now + (uint64_t)ike_cfg(ike)->qcd_rollover_interval * 1000;
		if (ike_qcd_rollover(ike) < 0)
			log_msg(LOG_WARNING, "qcd", "scheduled rollover failed");
	}
}

static int64_t qcd_next_timeout(struct ike *ike, uint64_t now)
{
	struct qcd *q = qcd_of(ike);
	int64_t t = -1;
	uint64_t at[] = {q ? q->flush_at_ms : 0, q ? q->next_rollover_ms : 0};

	for (size_t i = 0; i < 2; i++) {
		int64_t d;

		if (!at[i])
			continue;
		d = at[i] > now ? (int64_t)(at[i] - now) : 0;
		if (t < 0 || d < t)
			t = d;
	}
	return t;
}

static void load_secret(struct ike *ike, struct qcd *q)
{
	const struct cfg *cfg = ike_cfg(ike);
	char why[512] = "", db[4096];

	if (!cfg->qcd_enabled || !cfg->state_dir || !cfg->state_dir[0])
		return;
	if (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST) {
		log_msg(LOG_ERR, "qcd", "cannot create %s: %s; token maker disabled",
		        cfg->state_dir, strerror(errno));
		return;
	}
	snprintf(q->path, sizeof(q->path), "%s/qcd.secret", cfg->state_dir);
	switch (qcd_secret_load(q->path, &q->secret, why, sizeof(why))) {
	case QCD_CREATED:
		log_msg(LOG_NOTICE, "qcd", "created a new secret in %s", q->path);
		q->maker = true;
		break;
	case QCD_LOADED:
		log_msg(LOG_INFO, "qcd", "secret generation %u loaded (%zu kept)", q->secret.gen[0],
		        q->secret.n);
		q->maker = true;
		break;
	case QCD_CORRUPT:
		/* Never replaced silently: tokens from it may be outstanding. */
		log_msg(LOG_ERR, "qcd", "%s; token maker disabled until `rikectl qcd reset`", why);
		break;
	case QCD_IO_ERROR:
		log_msg(LOG_ERR, "qcd", "%s; token maker disabled", why);
		break;
	}
	snprintf(db, sizeof(db), "%s/qcd-spi.db", cfg->state_dir);
	q->spimap = spimap_open(db, why, sizeof(why));
	if (!q->spimap)
		log_msg(LOG_WARNING, "qcd", "Child SPI map unavailable (%s): RFC 6290 8.2 off",
		        why);
	if (cfg->qcd_rollover_interval)
		q->next_rollover_ms = ike_now(ike) + (uint64_t)cfg->qcd_rollover_interval * 1000;
}

static int qcd_init(struct ike *ike, void **global)
{
	struct qcd *q = calloc(1, sizeof(*q));

	if (!q)
		return -1;
	ratelimit_init(&q->tokens_all, 500, 1000);
	ratelimit_keyed_init(&q->verify_src, 5, 10);
	ratelimit_keyed_init(&q->invalid_spi, 10, 20);
	load_secret(ike, q);
	*global = q;
	return 0;
}

static void qcd_free(struct ike *ike, void *global)
{
	struct qcd *q = global;

	(void)ike;
	if (!q)
		return;
	spimap_close(q->spimap);
	qcd_secret_wipe(&q->secret);
	free(q);
}

static void qcd_status(struct ext_ctx *c, struct json_object *j, char *text, size_t len)
{
	static const struct qcd_sa none;
	const struct qcd_sa *s = c->state ? c->state : &none;
	struct json_object *q;
	size_t used;

	if (!j) {
		used = strlen(text);
		snprintf(text + used, len - used, " qcd %s/%s",
		         s->sent ? "token-sent" : "no-token-sent",
		         s->n_peer ? "peer-token-held" : "no-peer-token");
		return;
	}
	q = json_object_new_object();
	json_object_object_add(q, "enabled", json_object_new_boolean(enabled_for(c->ike, c->sa)));
	json_object_object_add(q, "token_sent", json_object_new_boolean(s->sent));
	json_object_object_add(q, "peer_token_held", json_object_new_boolean(s->n_peer > 0));
	json_object_object_add(q, "peer_tokens", json_object_new_uint64(s->n_peer));
	json_object_object_add(j, "qcd", q);
}

/* IKE rekey (4.3): the new SA's tokens come in the rekey itself; only a
 * token still to be sent in an INFORMATIONAL carries over, with the
 * request that moves to the new SA (ike/ext.h 4.). */
static void qcd_state_free(void *state)
{
	struct qcd_sa *s = state;

	if (s->peer)
		crypto_wipe(s->peer, sizeof(*s->peer));
	free(s->peer);
	s->peer = NULL;
}

static void qcd_inherit(struct ext_ctx *c, const void *old)
{
	const struct qcd_sa *o = old;
	struct qcd_sa *s = c->state;

	s->resend = o->resend;
}

/* RFC 6290: tokens sent (4.1, 4.3), peers' tokens stored, INVALID_IKE_SPI
 * answers with tokens (4.5), tokens that verified or did not (4.4, 8.1). */
static void qcd_counters(struct ike *ike, void *global,
                         void (*fn)(void *arg, const char *name, uint64_t v), void *arg)
{
	const struct qcd *q = global;

	(void)ike;
	if (!q)
		return;
	fn(arg, "qcd_tokens_sent", q->sent);
	fn(arg, "qcd_tokens_stored", q->stored);
	fn(arg, "qcd_tokens_answered", q->answered);
	fn(arg, "qcd_tokens_verified", q->verified);
	fn(arg, "qcd_tokens_rejected", q->rejected);
}

struct qcd_view qcd_view(const struct ike_sa *sa)
{
	const struct qcd_sa *s = qsa_of(sa);
	struct qcd_view v;

	memset(&v, 0, sizeof(v));
	if (!s)
		return v;
	v.token_sent = s->sent;
	v.n_peer = s->n_peer;
	for (size_t i = 0; i < QCD_TOKENS; i++) {
		v.peer[i] = s->peer ? s->peer->tok[i] : NULL;
		v.peer_len[i] = s->peer ? s->peer->len[i] : 0;
	}
	return v;
}

const struct ike_ext qcd_ext = {
    .name = "qcd",
    .state_size = sizeof(struct qcd_sa),
    .init = qcd_init,
    .free = qcd_free,
    .hook = qcd_hook,
    .inherit = qcd_inherit,
    .state_free = qcd_state_free,
    .unknown_spi_answer = qcd_unknown_spi_answer,
    .unprotected = qcd_unprotected,
    .child_event = qcd_child_event,
    .timers = qcd_timers,
    .next_timeout = qcd_next_timeout,
    .esp_unknown_spi = qcd_esp_unknown_spi,
    .status = qcd_status,
    .counters = qcd_counters,
};
