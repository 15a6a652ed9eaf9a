/*
 * The exchange engine: everything the exchanges share. It owns message
 * ID windows of one in each direction, the response cache, retransmission
 * with exponential back-off and a bounded give-up (RFC 7296 2.1-2.4), SK
 * protection of outgoing messages and decryption of incoming ones, IKE
 * fragmentation both ways (RFC 7383 2.5-2.6.1), payload rules, the unknown-SPI path (2.21.1) and
 * the task queue that serialises the exchanges an SA starts. The exchange files only build and
 * process payloads.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ike/attack.h"
#include "ike/sa.h"
#include "util/log.h"

uint64_t ike_now(struct ike *ike)
{
	return ike->host.now_ms(ike->host.ctx);
}

const struct cfg *ike_cfg(const struct ike *ike)
{
	return ike->cfg;
}

bool ike_shutting_down(const struct ike *ike)
{
	return ike->shutting_down;
}

struct ike *ike_new(const struct cfg *cfg, const struct ike_host *host)
{
	struct ike *ike = calloc(1, sizeof(*ike));

	if (!ike)
		return NULL;
	ike->cfg = cfg;
	ike->host = *host;
	ike->by_spi = hash_new();
	ike->by_serial = hash_new();
	ike->by_reqid = hash_new();
	ike->by_spi_in = hash_new();
	ike->by_init = hash_new();
	ike->ho_by_src = hash_new();
	ratelimit_keyed_init(&ike->answer_src, 10, 20);
	ratelimit_init(&ike->answer_all, 2000, 4000);
	if (!ike->by_spi || !ike->by_serial || !ike->by_reqid || !ike->by_spi_in || !ike->by_init ||
	    !ike->ho_by_src || crypto_random(ike->cookie_secret, sizeof(ike->cookie_secret)) < 0 ||
	    crypto_random(ike->cookie_prev, sizeof(ike->cookie_prev)) < 0 || attack_new(ike) < 0 ||
	    ext_init(ike) < 0 || work_init(ike) < 0) {
		ike_free(ike);
		return NULL;
	}
	(void)cookie_timers(ike, ike_now(ike));
	return ike;
}

static void free_one(struct ike *ike, struct ike_sa *sa, void *arg)
{
	(void)arg;
	sa_kill(ike, sa, "shutdown");
}

void ike_free(struct ike *ike)
{
	if (!ike)
		return;
	ike->shutting_down = true;
	work_fini(ike); /* first: no result comes back to an SA being freed */
	if (ike->by_serial && ike->by_spi && ike->by_reqid && ike->by_spi_in && ike->by_init &&
	    ike->ho_by_src) {
		sa_foreach(ike, free_one, NULL);
		sa_reap(ike);
	}
	ext_free(ike);
	resolve_free(ike);
	attack_free(ike);
	hash_free(ike->by_spi);
	hash_free(ike->by_serial);
	hash_free(ike->by_reqid);
	hash_free(ike->by_spi_in);
	hash_free(ike->by_init);
	hash_free(ike->ho_by_src);
	hash_free(ike->by_peer_id);
	theap_fini(&ike->timers);
	crypto_wipe(ike->cookie_secret, sizeof(ike->cookie_secret));
	crypto_wipe(ike->cookie_prev, sizeof(ike->cookie_prev));
	free(ike);
}

const struct ike_stats *ike_get_stats(const struct ike *ike)
{
	return &ike->stats;
}

/* ---- sending ---- */

void ike_send_raw(struct ike *ike, const struct ike_addr *from, const struct ike_addr *to,
                  const uint8_t *buf, size_t len)
{
	uint8_t tmp[WIRE_UDP4500_FRAME_LEN(WIRE_SK_MAX_MSG)];
	size_t tlen;

	ike->stats.tx++;
	/* RFC 3948 2.2: IKE on port 4500 starts with four zero octets. */
	if (addr_port(from) == ike->cfg->natt_port || addr_port(to) == ike->cfg->natt_port) {
		if (len > WIRE_SK_MAX_MSG ||
		    wire_udp4500_frame(buf, len, tmp, sizeof(tmp), &tlen) < 0)
			return;
		ike->host.send(ike->host.ctx, from, to, tmp, tlen);
		return;
	}
	ike->host.send(ike->host.ctx, from, to, buf, len);
}

void ike_send_unprotected(struct ike *ike, const struct ike_addr *from, const struct ike_addr *to,
                          const struct wire_hdr *hdr, const struct wire_msg *payloads)
{
	struct wire_msg *m = malloc(sizeof(*m));
	struct wire_wr w;

	if (!m)
		return;
	*m = *payloads;
	m->hdr = *hdr;
	m->arena = NULL; /* borrowed from payloads; not ours to free */
	wire_wr_init(&w, WIRE_SK_MAX_MSG);
	if (wire_encode(m, &w) == 0)
		ike_send_raw(ike, from, to, w.p, w.len);
	wire_wr_free(&w);
	free(m);
}

static void fill_hdr(const struct ike_sa *sa, struct wire_hdr *h, uint8_t exchange, uint32_t msg_id,
                     bool response)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->spi_i, sa->spi_i, 8);
	memcpy(h->spi_r, sa->spi_r, 8);
	h->version = IKEV2_VERSION;
	h->exchange = exchange;
	h->msg_id = msg_id;
	/* 3.1: I is set by the original initiator; R on responses. */
	h->flags =
	    (sa->initiator ? IKEV2_FLAG_INITIATOR : 0) | (response ? IKEV2_FLAG_RESPONSE : 0);
}

/*
 * RFC 7383 2.5.1: the largest IKE message we send on this SA in one
 * datagram, or 0 when we may not fragment (the peer did not announce
 * IKEV2_FRAGMENTATION_SUPPORTED, or the connection turned it off).
 */
static size_t frag_threshold(const struct ike *ike, const struct ike_sa *sa)
{
	bool natt;

	if (!sa->peer_frag || !sa->conn || !sa->conn->fragmentation)
		return 0;
	natt = addr_port(&sa->local) == ike->cfg->natt_port ||
	       addr_port(&sa->remote) == ike->cfg->natt_port;
	return wire_skf_msg_len_for_mtu(sa->conn->fragment_size,
	                                sa->remote.ss.sa.sa_family == AF_INET6, natt);
}

/*
 * Encode (IKE_SA_INIT) or protect (everything else) a message into w. A
 * protected message too large for one datagram goes out as IKE Fragment
 * messages when the peer supports them (RFC 7383 2.5): f says where they
 * end in w.
 */
static int encode_msg(struct ike *ike, struct ike_sa *sa, const struct wire_hdr *h,
                      const struct wire_msg *pl, struct wire_wr *w, struct ike_frags *f)
{
	size_t max;

	f->nfrags = 0;
	wire_wr_reset(w);
	if (h->exchange == IKEV2_EXCH_IKE_SA_INIT) {
		struct wire_msg *m = malloc(sizeof(*m));
		int rc;

		if (!m)
			return -1;
		*m = *pl;
		m->hdr = *h;
		m->arena = NULL;
		rc = wire_encode(m, w);
		free(m);
		return rc;
	}
	if (!sa->keyed || wire_sk_seal(&sa->prot_out, h, pl->payloads, pl->npayloads, NULL,
	                               WIRE_SK_PAD_MIN, w) < 0)
		return -1;
	max = frag_threshold(ike, sa);
	/* RFC 8019 7.2.2 would put a PS in fragment 1; not split, it goes whole. */
	if (max == 0 || w->len <= max || wire_sk_clear_prefix(pl->payloads, pl->npayloads))
		return 0;
	if (!f->end && !(f->end = calloc(IKE_MAX_OUT_FRAGS, sizeof(f->end[0]))))
		return -1;
	return wire_skf_split_flat(&sa->prot_out, h, pl->payloads, pl->npayloads, max, w, f->end,
	                           IKE_MAX_OUT_FRAGS, &f->nfrags);
}

static uint64_t retransmit_delay(const struct ike_sa *sa, unsigned tries)
{
	double t = sa->conn ? sa->conn->retransmit.timeout : 1.0;
	double b = sa->conn ? sa->conn->retransmit.base : 1.8;

	return (uint64_t)(t * pow(b, tries) * 1000.0);
}

/* A message as built: one datagram, or all its fragments in order (RFC 7383 2.5, 2.6.1). */
static void send_msg(struct ike *ike, const struct ike_addr *from, const struct ike_addr *to,
                     const struct wire_wr *w, const struct ike_frags *f)
{
	const uint8_t *p;
	size_t len;

	if (f->nfrags == 0) {
		ike_send_raw(ike, from, to, w->p, w->len);
		return;
	}
	for (size_t i = 0; i < f->nfrags; i++) {
		wire_skf_flat_frag(w, f->end, i, &p, &len);
		ike->stats.frags_tx++;
		ike_send_raw(ike, from, to, p, len);
	}
}

/* Transmission `tries` of the outstanding request, all its fragments, on
 * the path an extension chooses (RFC 4555 3.8) or the SA's. */
static void send_request(struct ike *ike, struct ike_sa *sa, unsigned tries)
{
	struct ike_addr local = sa->local, remote = sa->remote;

	ext_transmit(ike, sa, tries, &local, &remote);
	send_msg(ike, &local, &remote, &sa->out->pkt, &sa->out->frags);
}

int ike_send_request(struct ike *ike, struct ike_sa *sa, uint8_t exchange, enum ike_task task,
                     const struct wire_msg *payloads)
{
	struct wire_hdr h;

	if (!sa->out && !(sa->out = sa_out_new()))
		return -1;
	fill_hdr(sa, &h, exchange, sa->next_msg_id, false);
	if (encode_msg(ike, sa, &h, payloads, &sa->out->pkt, &sa->out->frags) < 0) {
		sa_log(sa, LOG_ERR, "encode-failed", "exchange %s",
		       ikev2_exchange_name(exchange) ? ikev2_exchange_name(exchange) : "?");
		sa_out_free(sa);
		return -1;
	}
	if (exchange == IKEV2_EXCH_IKE_SA_INIT) {
		if (!sa->su)
			goto fail;
		wire_wr_reset(&sa->su->init_req);
		if (wire_wr_bytes(&sa->su->init_req, sa->out->pkt.p, sa->out->pkt.len) < 0)
			goto fail;
	}
	sa->out->task = task;
	sa->out->msg_id = sa->next_msg_id++;
	sa->out->tries = 0;
	sa->out->next_ms = ike_now(ike) + retransmit_delay(sa, 0);
	send_request(ike, sa, 0);
	timer_arm(ike, sa, sa->out->next_ms);
	return 0;
fail:
	sa_out_free(sa);
	return -1;
}

int ike_send_response(struct ike *ike, struct ike_sa *sa, uint8_t exchange, uint32_t msg_id,
                      const struct wire_msg *payloads)
{
	struct wire_hdr h;

	fill_hdr(sa, &h, exchange, msg_id, true);
	if (encode_msg(ike, sa, &h, payloads, &sa->cache.pkt, &sa->cache.frags) < 0) {
		sa_log(sa, LOG_ERR, "encode-failed", "response to %s",
		       ikev2_exchange_name(exchange) ? ikev2_exchange_name(exchange) : "?");
		return -1;
	}
	sa->cache.msg_id = msg_id;
	sa->cache.valid = true;
	sa->expect_msg_id = msg_id + 1;
	/* 2.11: the response goes to where the request came from. */
	if (ike->rx_remote)
		send_msg(ike, ike->rx_local, ike->rx_remote, &sa->cache.pkt, &sa->cache.frags);
	else
		send_msg(ike, &sa->local, &sa->remote, &sa->cache.pkt, &sa->cache.frags);
	return 0;
}

void ike_request_done(struct ike *ike, struct ike_sa *sa)
{
	/* What lived between request and response goes with the exchange:
	 * an idle SA keeps none (memory per SA, issue 13). */
	sa_out_free(sa);
	sa_pend_free(sa);
	ike_kick(ike, sa);
}

/* ---- primitives for exchanges and extensions (ike/engine.h) ---- */

bool ike_retransmit_now(struct ike *ike, struct ike_sa *sa)
{
	if (!sa->out)
		return false;
	if (sa->out->tries == 0) {
		sa->out->next_ms = ike_now(ike);
		timer_arm(ike, sa, sa->out->next_ms);
	}
	return true;
}

void ike_sa_move(struct ike *ike, struct ike_sa *sa, const struct ike_addr *local,
                 const struct ike_addr *remote)
{
	struct ike_addr old = sa->remote;
	char a[64];

	sa->local = *local;
	sa->remote = *remote;
	addr_format(remote, a, sizeof(a));
	sa_log(sa, LOG_INFO, "path-changed", "peer now at %s", a);
	child_move_all(ike, sa, &old);
}

void ike_sa_float(struct ike *ike, struct ike_sa *sa)
{
	addr_set_port(&sa->local, ike->cfg->natt_port);
	if (addr_port(&sa->remote) == ike->cfg->ike_port)
		addr_set_port(&sa->remote, ike->cfg->natt_port);
}

int ike_route(struct ike *ike, const struct ike_addr *dst, struct ike_addr *src)
{
	if (!ike->host.route)
		return -1;
	return ike->host.route(ike->host.ctx, dst, src);
}

void ike_check_liveness(struct ike *ike, struct ike_sa *sa)
{
	ike_queue(ike, sa, TASK_DPD);
}

void ike_delete(struct ike *ike, struct ike_sa *sa, const char *why)
{
	sa->no_restart = true;
	if (sa->state == IKE_S_DELETING || sa->state == IKE_S_DEAD)
		return;
	sa_log(sa, LOG_INFO, "deleting", "%s", why);
	if (sa->state == IKE_S_ESTABLISHED || sa->state == IKE_S_REKEYED)
		ike_queue(ike, sa, TASK_IKE_DELETE);
	else if (sa->state == IKE_S_AUTH_SENT && sa->keyed)
		sa->delete_when_up = true; /* ike_established sends it */
	else
		sa_fail(ike, sa, why);
}

void ike_retry(struct ike *ike, const char *conn, uint64_t delay_ms)
{
	ike_restart(ike, conn, delay_ms);
}

void ike_peer_gone(struct ike *ike, struct ike_sa *sa, bool peer_dead, const char *why)
{
	/* keep_up: a dead peer is called again at once, a deleting one after a
	 * second; never an SA taken down on purpose or already replaced. */
	bool restart = !sa->no_restart && sa->state != IKE_S_REKEYED &&
	               (peer_dead || sa->state == IKE_S_ESTABLISHED);

	ext_sa_down(ike, sa, peer_dead);
	/* rikectl list-conns: a dead peer is the connection's failure; a
	 * Delete from the peer is not. */
	if (peer_dead && sa->conn_name[0] && !sa->no_restart)
		ike_conn_error_set(ike, sa->conn_name, why);
	if (restart)
		ike_restart(ike, sa->conn_name, peer_dead ? 0 : 1000);
	sa_kill(ike, sa, why);
}

/* ---- tasks ---- */

/* The order in which queued work goes out: deletes before anything else. */
static const enum ike_task task_order[] = {
    TASK_IKE_SA_INIT, TASK_IKE_AUTH,     TASK_IKE_DELETE,  TASK_CHILD_DELETE, TASK_IKE_REKEY,
    TASK_CHILD_REKEY, TASK_CHILD_CREATE, TASK_EXT_REQUEST, TASK_DPD,
};

void ike_queue(struct ike *ike, struct ike_sa *sa, enum ike_task task)
{
	sa->tasks |= 1u << task;
	ike_kick(ike, sa);
}

static int task_start(struct ike *ike, struct ike_sa *sa, enum ike_task t)
{
	switch (t) {
	case TASK_IKE_SA_INIT:
		return ike_sa_init_start(ike, sa);
	case TASK_IKE_AUTH:
		return ike_auth_start(ike, sa);
	case TASK_CHILD_CREATE:
	case TASK_CHILD_REKEY:
	case TASK_IKE_REKEY:
		return ccsa_start(ike, sa, t);
	default:
		return info_start(ike, sa, t);
	}
}

void ike_kick(struct ike *ike, struct ike_sa *sa)
{
	/* Window 1 (2.3); and nothing new while a crypto job computes for it. */
	if (sa->out || sa->work || sa->state == IKE_S_DEAD)
		return;
	for (size_t i = 0; i < sizeof(task_order) / sizeof(task_order[0]); i++) {
		enum ike_task t = task_order[i];
		int rc;

		if (!(sa->tasks & (1u << t)))
			continue;
		/* Only setup tasks before the SA is up; only deletes while it goes down. */
		if (t > TASK_IKE_AUTH && sa->state != IKE_S_ESTABLISHED &&
		    !(sa->state == IKE_S_REKEYED && t == TASK_IKE_DELETE))
			continue;
		sa->tasks &= ~(1u << t);
		rc = task_start(ike, sa, t);
		if (rc < 0) {
			sa_log(sa, LOG_WARNING, "task-failed", "task %d", t);
			continue;
		}
		if (sa->out || sa->work || sa->state == IKE_S_DEAD)
			return;
	}
}

/* ---- timers ---- */

/* Put the SA in the heap at its earliest deadline (or out: none). */
static void sa_rearm(struct ike *ike, struct ike_sa *sa)
{
	uint64_t t = UINT64_MAX, ho = halfopen_deadline(ike, sa);

	if (sa->out && !sa->work)
		t = sa->out->next_ms;
	if (ho && ho < t)
		t = ho;
	if (sa->rekey_ms && sa->rekey_ms < t)
		t = sa->rekey_ms;
	if (sa->expire_ms && sa->expire_ms < t)
		t = sa->expire_ms;
	if (sa->dpd_ms && sa->dpd_ms < t)
		t = sa->dpd_ms;
	if (sa->keepalive_ms && sa->keepalive_ms < t)
		t = sa->keepalive_ms;
	for (struct child_sa *c = sa->children; c; c = c->next) {
		if (c->rekey_ms && c->rekey_ms < t)
			t = c->rekey_ms;
		if (c->expire_ms && c->expire_ms < t)
			t = c->expire_ms;
	}
	timer_set(ike, sa, t);
}

static void retransmit(struct ike *ike, struct ike_sa *sa, uint64_t now)
{
	unsigned max = sa->conn ? sa->conn->retransmit.tries : 5;

	/* While a crypto job computes for the SA (work.c) its answer is in. */
	if (!sa->out || sa->work || now < sa->out->next_ms)
		return;
	if (sa->out->tries >= max) {
		/* 2.4: give up and consider the peer dead. */
		sa_log(sa, LOG_NOTICE, "peer-dead", "no answer to message %u after %u retransmits",
		       sa->out->msg_id, sa->out->tries);
		if (sa->state != IKE_S_ESTABLISHED && sa->state != IKE_S_REKEYED &&
		    sa->state != IKE_S_DELETING)
			ike->stats.sa_failed++;
		ike_peer_gone(ike, sa, true, "retransmits exhausted");
		return;
	}
	sa->out->tries++;
	ike->stats.retransmits++;
	sa->out->next_ms = now + retransmit_delay(sa, sa->out->tries);
	sa_log(sa, LOG_DEBUG, "retransmit", "message %u try %u", sa->out->msg_id, sa->out->tries);
	send_request(ike, sa, sa->out->tries); /* RFC 7383 2.6.1: all fragments */
}

/*
 * RFC 3948 4: behind a NAT, a one-octet 0xFF datagram every 20 s keeps the
 * mapping alive. Our own NAT pretence (fake_nat) needs none.
 */
#define NATT_KEEPALIVE_MS 20000

static void keepalive(struct ike *ike, struct ike_sa *sa, uint64_t now)
{
	static const uint8_t ka = 0xff;
	bool needed = sa->state == IKE_S_ESTABLISHED && sa->natt && sa->nat_local && !sa->fake_nat;

	if (!needed) {
		sa->keepalive_ms = 0;
		return;
	}
	if (!sa->keepalive_ms) {
		sa->keepalive_ms = now + NATT_KEEPALIVE_MS;
		return;
	}
	if (now < sa->keepalive_ms)
		return;
	/* Not an IKE message: no non-ESP marker (RFC 3948 2.3). */
	ike->host.send(ike->host.ctx, &sa->local, &sa->remote, &ka, 1);
	sa->keepalive_ms = now + NATT_KEEPALIVE_MS;
}

static void child_timers(struct ike *ike, struct ike_sa *sa, uint64_t now)
{
	for (struct child_sa *c = sa->children, *n; c; c = n) {
		n = c->next;
		if (c->expire_ms && now >= c->expire_ms) {
			c->expire_ms = 0;
			c->rekey_ms = 0;
			sa_log(sa, LOG_INFO, "child-expired", "reqid %u", c->reqid);
			ike_child_expired(ike, c->reqid, true);
			continue;
		}
		if (c->rekey_ms && now >= c->rekey_ms && !c->rekeyed) {
			c->rekey_ms = 0;
			ike_child_expired(ike, c->reqid, false);
		}
	}
}

static void sa_timers(struct ike *ike, struct ike_sa *sa, uint64_t now)
{
	retransmit(ike, sa, now);
	if (sa->state == IKE_S_DEAD)
		return;
	if (halfopen_deadline(ike, sa) && now >= halfopen_deadline(ike, sa)) {
		halfopen_expire(ike, sa);
		return;
	}
	if (sa->state != IKE_S_ESTABLISHED && sa->state != IKE_S_REKEYED &&
	    sa->state != IKE_S_DELETING && now - sa->created_ms > 60000) {
		/* A setup that never completes is dropped (RFC 8019 4). */
		sa_kill(ike, sa, "setup timed out");
		return;
	}
	if (sa->expire_ms && now >= sa->expire_ms) {
		sa->expire_ms = 0;
		sa_log(sa, LOG_INFO, "expired", "hard lifetime reached");
		ike_queue(ike, sa, TASK_IKE_DELETE);
	}
	if (sa->rekey_ms && now >= sa->rekey_ms && sa->state == IKE_S_ESTABLISHED) {
		sa->rekey_ms = 0;
		ike_queue(ike, sa, TASK_IKE_REKEY);
	}
	if (sa->dpd_ms && now >= sa->dpd_ms && sa->state == IKE_S_ESTABLISHED && sa->conn) {
		uint64_t iv = (uint64_t)sa->conn->dpd_interval * 1000;

		/* 2.4: check liveness only when nothing came in for a while. */
		if (now - sa->last_rx_ms >= iv)
			ike_queue(ike, sa, TASK_DPD);
		sa->dpd_ms = (now - sa->last_rx_ms >= iv ? now : sa->last_rx_ms) + iv;
	}
	child_timers(ike, sa, now);
	keepalive(ike, sa, now);
}

int64_t ike_next_timeout(struct ike *ike)
{
	uint64_t now = ike_now(ike);
	int64_t t = timer_next(ike, now);
	uint64_t ck = ike->cookie_rotate_ms;
	int64_t more[] = {ike_restart_next(ike, now), ext_next_timeout(ike, now),
	                  !ck        ? -1
	                  : ck > now ? (int64_t)(ck - now)
	                             : 0,
	                  work_keep_next(ike, now)};

	for (size_t i = 0; i < ARRAY_LEN(more); i++)
		if (more[i] >= 0 && (t < 0 || more[i] < t))
			t = more[i];
	return t;
}

void ike_run_timers(struct ike *ike)
{
	uint64_t now = ike_now(ike);
	unsigned budget = 100000; /* bounded: the rest run on the next pass */
	struct ike_sa *sa;

	while (budget-- && (sa = timer_pop_due(ike, now))) {
		if (sa->state == IKE_S_DEAD)
			continue;
		sa_timers(ike, sa, now);
		if (sa->state != IKE_S_DEAD)
			sa_rearm(ike, sa);
	}
	ext_timers(ike, now);
	ike_run_restarts(ike, now);
	cookie_timers(ike, now);
	resolve_timers(ike, now);
	attack_timers(ike, now);
	work_keep_timers(ike, now);
	sa_reap(ike);
}

/* Exchanges call this after they changed deadlines. */
void ike_sa_changed(struct ike *ike, struct ike_sa *sa)
{
	if (sa->state != IKE_S_DEAD)
		sa_rearm(ike, sa);
}

/* ---- receiving ---- */

static void drop(struct ike *ike, uint64_t *counter, const struct ike_addr *remote, const char *why)
{
	char a[64];

	(*counter)++;
	if (log_rl_allow(LOG_RL_MALFORMED, (const struct sockaddr *)&remote->ss)) {
		addr_format(remote, a, sizeof(a));
		log_msg(LOG_INFO, "ike", "drop from %s: %s", a, why);
	}
}

/* RFC 7296 2.5, 3.1: errors we can answer without an SA. */
static void answer_decode_error(struct ike *ike, const struct ike_addr *local,
                                const struct ike_addr *remote, const struct wire_hdr *h,
                                const struct wire_error *err)
{
	struct wire_msg m;
	struct wire_hdr r = *h;
	uint8_t pt = err->payload;

	if ((h->flags & IKEV2_FLAG_RESPONSE) || h->exchange != IKEV2_EXCH_IKE_SA_INIT)
		return;
	if (err->notify != IKEV2_N_INVALID_MAJOR_VERSION &&
	    err->notify != IKEV2_N_UNSUPPORTED_CRITICAL_PAYLOAD)
		return;
	if (!log_rl_allow(LOG_RL_MALFORMED, (const struct sockaddr *)&remote->ss))
		return; /* the answer is rate-limited together with its log line */
	wire_msg_init(&m);
	r.flags = IKEV2_FLAG_RESPONSE;
	r.version = IKEV2_VERSION;
	if (build_notify(&m, 0, NULL, 0, err->notify, &pt,
	                 err->notify == IKEV2_N_UNSUPPORTED_CRITICAL_PAYLOAD ? 1 : 0) == 0)
		ike_send_unprotected(ike, local, remote, &r, &m);
	wire_msg_free(&m);
}

static bool protected_msg(const struct wire_msg *m)
{
	const struct wire_payload *last = m->npayloads ? &m->payloads[m->npayloads - 1] : NULL;

	return last && (last->type == IKEV2_PL_SK || last->type == IKEV2_PL_SKF);
}

/* Decrypt (and reassemble) the protected part of m; 0 when m is complete. */
static int unprotect(struct ike *ike, struct ike_sa *sa, const uint8_t *buf, size_t len,
                     struct wire_msg *m, const struct ike_addr *remote)
{
	struct wire_error err;
	const struct wire_payload *last = &m->payloads[m->npayloads - 1];

	if (!sa->keyed) {
		drop(ike, &ike->stats.drop_rules, remote, "protected message before keys");
		return -1;
	}
	if (last->type == IKEV2_PL_SKF) {
		/* RFC 7296 2.2: the peer's requests and responses number apart. */
		struct wire_skf_reasm *q = sa_reasm(sa, m->hdr.flags & IKEV2_FLAG_RESPONSE);
		int rc = q ? wire_skf_add(q, &sa->prot_in, buf, len, m, &err) : -1;

		if (rc < 0) {
			drop(ike, &ike->stats.drop_icv, remote,
			     !q           ? "out of memory"
			     : err.reason ? err.reason
			                  : "fragment discarded");
			return -1;
		}
		ike->stats.frags_rx++;
		if (rc == 0)
			return 1; /* more fragments to come */
		/* RFC 7383 2.6: from here on the message is handled as if it came whole. */
		wire_msg_free(m);
		wire_msg_init(m);
		if (wire_skf_finish(q, m, &err) < 0) {
			drop(ike, &ike->stats.drop_malformed, remote, err.reason);
			return -1;
		}
		return 0;
	}
	if (wire_sk_open(&sa->prot_in, buf, len, m, NULL, &err) < 0) {
		/* 2.21.2, 3.14: an ICV failure is dropped silently. */
		drop(ike, err.notify ? &ike->stats.drop_malformed : &ike->stats.drop_icv, remote,
		     err.reason ? err.reason : "integrity check failed");
		return -1;
	}
	return 0;
}

/*
 * An authenticated message came from another address or port. An
 * extension may take it (RFC 4555 3.5 forbids following blindly with
 * MOBIKE); otherwise, after a NAT-T float, follow a NAT mapping change
 * (RFC 7296 2.23).
 */
static void path_changed(struct ike *ike, struct ike_sa *sa, const struct ike_addr *local,
                         const struct ike_addr *remote, const struct wire_msg *m)
{
	if (ext_path_seen(ike, sa, local, remote, m) == EXT_HANDLED || !sa->natt)
		return;
	ike_sa_move(ike, sa, local, remote);
}

static void dispatch(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m)
{
	bool resp = m->hdr.flags & IKEV2_FLAG_RESPONSE;

	switch (m->hdr.exchange) {
	case IKEV2_EXCH_IKE_AUTH:
		if (resp)
			ike_auth_response(ike, sa, m);
		else
			ike_auth_request(ike, sa, m);
		break;
	case IKEV2_EXCH_CREATE_CHILD_SA:
		if (resp)
			ccsa_response(ike, sa, m);
		else
			ccsa_request(ike, sa, m);
		break;
	case IKEV2_EXCH_INFORMATIONAL:
		if (resp)
			info_response(ike, sa, m);
		else
			info_request(ike, sa, m);
		break;
	default:
		/* Unknown exchange types in an authenticated message: ignore (2.21.2
		 * speaks only of known ones); the peer's request will time out. */
		sa_log(sa, LOG_INFO, "unknown-exchange", "type %u ignored", m->hdr.exchange);
		break;
	}
}

/* Message ID checks (2.2, 2.3); returns 0 to process, -1 when handled. */
static int check_msg_id(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m,
                        const struct ike_addr *local, const struct ike_addr *remote)
{
	const struct wire_hdr *h = &m->hdr;
	const struct wire_payload *last = &m->payloads[m->npayloads - 1]; /* SK or SKF */

	if (h->flags & IKEV2_FLAG_RESPONSE) {
		if (!sa->out || h->msg_id != sa->out->msg_id) {
			drop(ike, &ike->stats.drop_msgid, remote, "unexpected response");
			return -1;
		}
		return 0;
	}
	if (sa->cache.valid && h->msg_id == sa->cache.msg_id) {
		/* RFC 7383 2.6.1: of a retransmitted fragmented request, only
		 * fragment 1 gets the response again; the others are ignored
		 * (counted, not logged: the peer retransmits whole sets). */
		if (last->type == IKEV2_PL_SKF && last->u.sk.frag_num != 1) {
			ike->stats.drop_frag_retrans++;
			return -1;
		}
		/* 2.1: a retransmitted request gets the same response again, as
		 * the same fragments if it was fragmented (RFC 7383 2.6.1). */
		ike->stats.resent_responses++;
		send_msg(ike, local, remote, &sa->cache.pkt, &sa->cache.frags);
		return -1;
	}
	if (h->msg_id != sa->expect_msg_id) {
		drop(ike, &ike->stats.drop_msgid, remote, "message ID outside the window");
		return -1;
	}
	return 0;
}

static void input_sa_init(struct ike *ike, const struct ike_addr *local,
                          const struct ike_addr *remote, const uint8_t *buf, size_t len,
                          const struct wire_msg *m)
{
	static const uint8_t zero[8];
	const struct wire_payload *np;
	struct ike_sa *sa;

	if (!(m->hdr.flags & IKEV2_FLAG_RESPONSE)) {
		if (memcmp(m->hdr.spi_r, zero, 8) || m->hdr.msg_id != 0) {
			drop(ike, &ike->stats.drop_malformed, remote, "IKE_SA_INIT with SPIr");
			return;
		}
		np = wire_msg_find(m, IKEV2_PL_NI_NR, NULL);
		sa = np ? sa_lookup_init(ike, m->hdr.spi_i, remote, np->u.nonce.data,
		                         np->u.nonce.len)
		        : NULL;
		if (sa) {
			if (sa->cache.valid && sa->cache.msg_id == 0) {
				ike->stats.resent_responses++;
				send_msg(ike, local, remote, &sa->cache.pkt, &sa->cache.frags);
			} else if (sa->work) {
				/* Its answer is being computed (work.c): it goes out when done. */
				ike->stats.drop_work_pending++;
			}
			return;
		}
		ike_sa_init_request(ike, local, remote, buf, len, m);
		return;
	}
	sa = sa_lookup_spi(ike, m->hdr.spi_i);
	if (sa && sa->work) {
		ike->stats.drop_work_pending++; /* a duplicate: the first is being used */
		return;
	}
	if (!sa || !sa->initiator || sa->state != IKE_S_INIT_SENT || !sa->out ||
	    m->hdr.msg_id != sa->out->msg_id) {
		drop(ike, &ike->stats.drop_unknown_spi, remote, "unexpected IKE_SA_INIT response");
		return;
	}
	ike_sa_init_response(ike, sa, buf, len, m);
}

void ike_input(struct ike *ike, const struct ike_addr *local, const struct ike_addr *remote,
               const uint8_t *buf, size_t len)
{
	struct wire_msg *m = malloc(sizeof(*m));
	struct wire_error err;
	struct ike_sa *sa;
	const uint8_t *peer_spi;
	int rc;

	ike->stats.rx++;
	if (!m)
		return;
	wire_msg_init(m);
	if (addr_port(local) == ike->cfg->natt_port && wire_udp4500_classify(&buf, &len) != 1)
		goto out; /* keepalives; ESP never reaches the engine */
	if (wire_decode(buf, len, m, &err) < 0) {
		struct wire_hdr h;
		struct wire_error herr;

		drop(ike, &ike->stats.drop_malformed, remote,
		     err.reason ? err.reason : "malformed");
		if (wire_decode_hdr(buf, len, &h, &herr) == 0 || herr.notify)
			answer_decode_error(ike, local, remote, &h, &err);
		goto out;
	}
	if (m->hdr.exchange == IKEV2_EXCH_IKE_SA_INIT) {
		if (wire_rules_check(m, &err) < 0) {
			drop(ike, &ike->stats.drop_rules, remote, err.reason);
			goto out;
		}
		input_sa_init(ike, local, remote, buf, len, m);
		goto out;
	}
	/* 3.1: the I flag says the sender is the original initiator, so ours
	 * is the responder's SPI. */
	sa = sa_lookup_spi(ike, m->hdr.flags & IKEV2_FLAG_INITIATOR ? m->hdr.spi_r : m->hdr.spi_i);
	peer_spi = m->hdr.flags & IKEV2_FLAG_INITIATOR ? m->hdr.spi_i : m->hdr.spi_r;
	if (sa && memcmp(sa->initiator ? sa->spi_r : sa->spi_i, peer_spi, 8))
		sa = NULL;
	if (!protected_msg(m)) {
		/* 2.21.1, RFC 6290 4.5/8.2: INVALID_IKE_SPI, INVALID_SPI and
		 * QCD_TOKEN come unprotected; only extensions judge them. */
		if (m->hdr.exchange != IKEV2_EXCH_INFORMATIONAL ||
		    ext_unprotected(ike, sa, local, remote, m) == EXT_CONTINUE)
			drop(ike, &ike->stats.drop_rules, remote, "unprotected message");
		goto out;
	}
	if (!sa) {
		ike->stats.drop_unknown_spi++;
		ext_unknown_spi(ike, local, remote, m);
		goto out;
	}
	if (check_msg_id(ike, sa, m, local, remote) < 0)
		goto out;
	/* A crypto job computes for the SA (work.c): the peer's retransmission
	 * comes back once it is done. */
	if (sa->work) {
		drop(ike, &ike->stats.drop_work_pending, remote, "crypto work pending");
		goto out;
	}
	/* RFC 8019 7.2.4: an IKE_AUTH puzzle's solution before the keys exist. */
	if (puzzle_auth_check(ike, sa, m) < 0)
		goto out;
	rc = unprotect(ike, sa, buf, len, m, remote);
	halfopen_account(ike, sa); /* fragments held or released */
	if (rc != 0)
		goto out;
	if (wire_rules_check(m, &err) < 0) {
		drop(ike, &ike->stats.drop_rules, remote, err.reason);
		goto out;
	}
	sa->last_rx_ms = ike_now(ike);
	if (!addr_equal(&sa->remote, remote) || !addr_equal(&sa->local, local))
		path_changed(ike, sa, local, remote, m);
	ike->rx_local = local;
	ike->rx_remote = remote;
	dispatch(ike, sa, m);
	ike->rx_local = ike->rx_remote = NULL;
	ike_sa_changed(ike, sa);
out:
	wire_msg_free(m);
	free(m);
	sa_reap(ike);
}
