/*
 * Crypto off the event loop: the key exchanges of IKE_SA_INIT (RFC 7296
 * 1.2, 2.14) and CREATE_CHILD_SA (1.3, 2.17, 2.18) run as jobs on a pool
 * of worker threads (util/workpool.h), so that the engine's thread keeps
 * answering retransmissions, liveness checks and cookies while a burst of
 * handshakes is computed. This file owns the jobs: what a worker computes
 * (our key pair from a seed drawn here, and g^ir from the peer's KE data)
 * and how a result finds its way back to the exchange that asked for it.
 *
 * A job holds copies of its inputs and touches no engine state. The SA
 * that asked keeps a ticket (sa->work), never the job; when the result is
 * collected the SA is looked up again by serial and must still hold that
 * ticket, else the result is thrown away (the SA was deleted, expired or
 * evicted meanwhile, RFC 8019 5). While an SA waits, the engine gives it
 * no other work: its own requests wait (ike_kick), its retransmission
 * timer pauses, and messages for it are dropped and counted, except
 * retransmitted requests already answered (the cached response goes out).
 *
 * Without workers (crypto_workers = 0, the exchange tests' default) a
 * job runs at once on the engine's thread through the same code.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ike/sa.h"
#include "util/log.h"
#include "util/workpool.h"

#define WORK_JOBS_PER_THREAD 128 /* queued beyond this, requests are dropped (counted) */

static struct ike_work *job_work(struct workpool_job *j)
{
	return (struct ike_work *)((char *)j - offsetof(struct ike_work, job));
}

/* On a worker thread: nothing here but the job. */
static void work_run(struct workpool_job *j)
{
	struct ike_work *w = job_work(j);

	w->rc = -1;
	if (!w->dh)
		w->dh = crypto_dh_new_seeded(w->group, w->seed, w->seed_len);
	crypto_wipe(w->seed, sizeof(w->seed));
	if (!w->dh)
		return;
	w->gir_len = sizeof(w->gir);
	if (w->peer_ke_len &&
	    crypto_dh_shared(w->dh, w->peer_ke, w->peer_ke_len, w->gir, &w->gir_len) < 0) {
		w->gir_len = 0;
		return;
	}
	if (!w->peer_ke_len)
		w->gir_len = 0;
	w->rc = 0;
}

void work_free(struct ike_work *w)
{
	if (!w)
		return;
	crypto_dh_free(w->dh);
	wire_wr_free(&w->msg);
	crypto_wipe(w, sizeof(*w));
	free(w);
}

/*
 * RFC 7296 2.12: a responder may reuse its Diffie-Hellman exponential for
 * several IKE SAs (riked.conf dh_reuse, seconds; 0: a new key pair for
 * each). One key pair per group is kept for at most dh_reuse seconds after
 * it was made, then forgotten on time (work_keep_timers) even if no request
 * comes: forward secrecy then holds for every SA that outlives the key
 * pair, and is short by at most dh_reuse seconds for one that does not.
 * Only IKE_SA_INIT as responder reuses: the peer chose to start, the
 * flood of a restart or a redirect wave is made of these, and an
 * initiator's or a rekey's key pair is one per SA anyway.
 */
static uint64_t keep_end(const struct ike *ike, const struct ike_dh_keep *k)
{
	return k->born_ms + (uint64_t)ike->cfg->dh_reuse * 1000;
}

static struct crypto_dh *kept_dh(struct ike *ike, uint16_t group)
{
	uint64_t now = ike_now(ike);
	struct crypto_dh *d;

	for (size_t i = 0; i < IKE_DH_KEEP; i++) {
		struct ike_dh_keep *k = &ike->dh_keep[i];

		if (!k->dh || crypto_dh_group(k->dh) != group || now >= keep_end(ike, k))
			continue;
		if ((d = crypto_dh_dup(k->dh)) != NULL)
			ike->stats.dh_reused++;
		return d;
	}
	return NULL;
}

void work_keep_dh(struct ike *ike, const struct crypto_dh *dh)
{
	uint64_t now = ike_now(ike);
	struct ike_dh_keep *slot = NULL;

	if (!ike->cfg->dh_reuse || !dh)
		return;
	for (size_t i = 0; i < IKE_DH_KEEP; i++) {
		struct ike_dh_keep *k = &ike->dh_keep[i];

		if (k->dh && crypto_dh_group(k->dh) == crypto_dh_group(dh) &&
		    now < keep_end(ike, k))
			return; /* one is kept already (jobs made several at once) */
		if (!slot || !k->dh || (slot->dh && k->born_ms < slot->born_ms))
			slot = k; /* a free slot, else the oldest */
	}
	crypto_dh_free(slot->dh);
	slot->dh = crypto_dh_dup(dh);
	slot->born_ms = now;
}

/* Every kept key pair whose time is up at now goes, its private value with it. */
void work_keep_timers(struct ike *ike, uint64_t now)
{
	for (size_t i = 0; i < IKE_DH_KEEP; i++) {
		struct ike_dh_keep *k = &ike->dh_keep[i];

		if (k->dh && now >= keep_end(ike, k)) {
			crypto_dh_free(k->dh);
			k->dh = NULL;
		}
	}
}

int64_t work_keep_next(const struct ike *ike, uint64_t now)
{
	int64_t t = -1;

	for (size_t i = 0; i < IKE_DH_KEEP; i++) {
		const struct ike_dh_keep *k = &ike->dh_keep[i];
		uint64_t end = keep_end(ike, k);
		int64_t d = end > now ? (int64_t)(end - now) : 0;

		if (k->dh && (t < 0 || d < t))
			t = d;
	}
	return t;
}

struct ike_work *work_new(struct ike *ike, struct ike_sa *sa, enum work_kind kind, uint16_t group)
{
	struct ike_work *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->job.run = work_run;
	wire_wr_init(&w->msg, WIRE_SKF_FLAT_MAX);
	w->kind = kind;
	w->serial = sa->serial;
	w->group = group;
	if (kind == WORK_INIT_RESPOND && (w->dh = kept_dh(ike, group)) != NULL) {
		w->reused = true; /* RFC 7296 2.12: the kept key pair, no new one */
		return w;
	}
	/* Drawn here, on the engine's thread, in the order the exchange
	 * draws its other random values (crypto_dh_seed). */
	if (group && crypto_dh_seed(group, w->seed, &w->seed_len) < 0) {
		work_free(w);
		return NULL;
	}
	return w;
}

int work_set_peer_ke(struct ike_work *w, const uint8_t *ke, size_t len)
{
	if (len > sizeof(w->peer_ke))
		return -1;
	memcpy(w->peer_ke, ke, len);
	w->peer_ke_len = len;
	return 0;
}

int work_keep_msg(struct ike *ike, struct ike_work *w, const struct wire_msg *m)
{
	struct wire_payload *pl = calloc(m->npayloads ? m->npayloads : 1, sizeof(*pl));
	size_t n = 0;
	int rc;

	if (!pl)
		return -1;
	/* The SK payload's plaintext: the payloads found inside it. */
	for (size_t i = 0; i < m->npayloads; i++)
		if (m->payloads[i].encrypted)
			pl[n++] = m->payloads[i];
	w->hdr = m->hdr;
	wire_wr_reset(&w->msg);
	rc = n ? wire_encode_chain(pl, n, &w->msg, &w->msg_np) : 0;
	free(pl);
	if (ike->rx_local && ike->rx_remote) {
		w->local = *ike->rx_local;
		w->remote = *ike->rx_remote;
		w->has_addrs = true;
	}
	return rc;
}

struct wire_msg *work_msg(struct ike_work *w)
{
	struct wire_msg *m = malloc(sizeof(*m));
	struct wire_error err;

	if (!m)
		return NULL;
	wire_msg_init(m);
	m->hdr = w->hdr;
	if (!w->msg.len || wire_decode_chain(w->msg.p, w->msg.len, w->msg_np, true, m, &err) == 0)
		return m;
	wire_msg_free(m);
	free(m);
	return NULL;
}

struct ike_work *work_take_result(struct ike *ike, const struct ike_sa *sa, enum work_kind kind)
{
	struct ike_work *w = ike->resuming;

	if (!w || w->serial != sa->serial || w->kind != kind)
		return NULL;
	ike->resuming = NULL;
	return w;
}

bool work_room(const struct ike *ike)
{
	return !ike->pool || workpool_outstanding(ike->pool) < ike->pool_max;
}

/*
 * The SA's connection was removed by a reload while the job computed: it is
 * being deleted (its Delete was queued and goes next), so the exchange that
 * asked is given up, our request included.
 */
static void abandon(struct ike *ike, struct ike_sa *sa, const struct ike_work *w)
{
	struct ike_sa *nsa;

	ike->stats.work_stale++;
	if (w->kind != WORK_CCSA_DERIVE || !sa->out)
		return;
	nsa = sa->pend && sa->pend->new_sa ? sa_lookup_serial(ike, sa->pend->new_sa) : NULL;
	if (nsa)
		sa_kill(ike, nsa, "connection removed");
	if (sa->pend)
		sa->pend->new_sa = 0;
	ike_request_done(ike, sa);
}

/* The result reaches the SA that asked, if it is still there and waiting. */
static void work_finish(struct ike *ike, struct ike_work *w)
{
	struct ike_sa *sa = sa_lookup_serial(ike, w->serial);

	if (!sa || sa->state == IKE_S_DEAD || sa->work != w->ticket) {
		ike->stats.work_stale++;
		work_free(w);
		return;
	}
	sa->work = 0;
	if (!sa->conn)
		abandon(ike, sa, w);
	else if (w->kind <= WORK_INIT_DERIVE)
		ike_sa_init_resume(ike, sa, w);
	else
		ccsa_resume(ike, sa, w);
	work_free(w);
	if (sa->state != IKE_S_DEAD && !sa->work) {
		ike_kick(ike, sa);
		ike_sa_changed(ike, sa);
	}
}

int work_submit(struct ike *ike, struct ike_sa *sa, struct ike_work *w)
{
	w->ticket = ++ike->next_ticket;
	ike->stats.work_jobs++;
	/* Without workers, or with a full queue for work that is not an
	 * unauthenticated peer's (RFC 8019: those are dropped), run it now. */
	if (!ike->pool ||
	    (workpool_outstanding(ike->pool) >= ike->pool_max && w->kind != WORK_INIT_RESPOND)) {
		sa->work = w->ticket;
		w->job.run(&w->job);
		work_finish(ike, w);
		return 0;
	}
	if (workpool_submit(ike->pool, &w->job) < 0) {
		ike->stats.drop_work_busy++;
		work_free(w);
		return -1;
	}
	sa->work = w->ticket;
	return 0;
}

static void collected(struct workpool_job *j, void *arg)
{
	work_finish(arg, job_work(j));
}

static void discarded(struct workpool_job *j, void *arg)
{
	(void)arg;
	work_free(job_work(j));
}

static unsigned pool_size(const struct cfg *cfg)
{
	long n;

	if (cfg->crypto_workers != CFG_CRYPTO_WORKERS_AUTO)
		return cfg->crypto_workers;
	n = sysconf(_SC_NPROCESSORS_ONLN); /* the pool follows the cores */
	return n < 1 ? 1 : n > CFG_CRYPTO_WORKERS_MAX ? CFG_CRYPTO_WORKERS_MAX : (unsigned)n;
}

int work_init(struct ike *ike)
{
	unsigned n = pool_size(ike->cfg);

	if (n == 0)
		return 0;
	ike->pool_max = (size_t)n * WORK_JOBS_PER_THREAD;
	ike->pool = workpool_new(n, ike->pool_max);
	if (!ike->pool) {
		log_msg(LOG_ERR, "ike", "cannot start %u crypto worker threads", n);
		return -1;
	}
	log_msg(LOG_INFO, "ike", "%u crypto worker thread%s", n, n == 1 ? "" : "s");
	return 0;
}

void work_fini(struct ike *ike)
{
	workpool_free(ike->pool, discarded, NULL);
	ike->pool = NULL;
	work_keep_timers(ike, UINT64_MAX); /* every one's time is up */
}

/* ---- the engine's public entries (ike/ike.h) ---- */

int ike_work_fd(const struct ike *ike)
{
	return ike->pool ? workpool_fd(ike->pool) : -1;
}

void ike_work_done(struct ike *ike)
{
	if (!ike->pool)
		return;
	workpool_collect(ike->pool, collected, ike);
	sa_reap(ike);
}

size_t ike_work_outstanding(const struct ike *ike)
{
	return ike->pool ? workpool_outstanding(ike->pool) : 0;
}

unsigned ike_work_threads(const struct ike *ike)
{
	return ike->pool ? workpool_threads(ike->pool) : 0;
}
