/*
 * The userspace backend (like strongSwan's kernel-libipsec): a TUN device
 * carries the cleartext side, ESP in UDP (RFC 3948) the protected side.
 * It keeps the SAD (RFC 4301 4.4.2: inbound SAs hashed by SPI, RFC 4301
 * 4.1, all SAs by (reqid, dir, spi) on their reqid's record, hashed by
 * reqid) and the SPD (RFC 4301 4.4.1: policies
 * by selectors, and for the outbound lookup by remote prefix, see
 * us_spd_lookup), routes the remote selectors into the TUN device, and
 * owns the backend's life cycle. The outbound (RFC 4301 5.1) and inbound
 * (5.2) processing is us_packet.c's: SPD lookup -> SA -> ESP -> UDP, and
 * UDP -> SA by SPI -> ESP -> selector check -> TUN. Lifetimes (4.4.2.1)
 * are enforced per packet (bytes, packets, sequence numbers; us_packet.c)
 * and by timers (seconds; here). Events for the daemon are
 * queued and delivered from a separate loop callback, never re-entrantly.
 *
 * Threads (dp_options.workers; us_worker.c): with 0 or 1
 * everything runs on the daemon's loop. With N > 1, N packet workers each
 * own one queue of an IFF_MULTI_QUEUE TUN device (the kernel keeps a flow
 * on one queue) and do the outbound path of what they read, an outbound
 * SA's packets being encrypted by its Child SA's worker only (us_handover:
 * in sequence-number order); an inbound SA belongs to worker (SPI mod N)
 * (us_pick_worker; the engine draws the SPI so that a new Child SA's goes
 * to the worker with the fewest and a rekey's stays with the Child SA's
 * worker: us_spi_residue), and the kernel steers its ESP to that worker's
 * own socket (us_steer.c); ESP that still arrives on the loop
 * (dp_input_udp: no steering) is looked up by SPI and handed to the
 * owner's ring. So each inbound SA - its replay window (RFC 4303 3.4.3) -
 * is worked by one thread in order. The kernel's
 * TUN flow table then sends a flow's outbound packets to the queue that
 * wrote its inbound ones. The loop stays the only writer of the SAD and
 * SPD (under us->lock, a writer-preferring rwlock that workers hold for
 * one batch, so no SA is freed while a worker uses it); what packets change
 * in an SA (sequence number, replay window, counters, cipher context) is
 * under the SA's own mutex. Workers never call the daemon: expiries,
 * acquires and log lines go through a mailbox that the loop empties.
 *
 * Scale (issue 13): every per-SA operation is O(1) expected in the number
 * of SAs and policies. The SAs and policies of one reqid hang off a
 * struct us_reqid, so make-before-break (the newest live outbound SA of a
 * reqid protects its policies' traffic) relinks only that reqid's
 * policies; pending expiries wait in a queue of their own; the indexes
 * are dp_hash.h tables. A gateway's whole SPD is walked only by us_destroy.
 */
#include "dataplane/us.h"
#include "util/sockbuf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/dp_debug.h"
#include "dataplane/tun.h"

static const char *us_dir_name(enum dp_dir dir)
{
	return dir == DP_DIR_IN ? "in" : "out";
}

/* ---- event queue: delivered from notify_ev, never from inside a dp_* call ---- */

void us_kick(struct us *us)
{
	if (!event_pending(us->notify_ev, EV_TIMEOUT, NULL))
		event_active(us->notify_ev, EV_TIMEOUT, 0);
}

static void us_relink(struct us_reqid *r);
static struct us_reqid *us_reqid_find(struct us *us, uint32_t reqid);

static void us_pending_add(struct us *us, struct us_sa *sa)
{
	if (sa->pprev)
		return;
	sa->pnext = NULL;
	sa->pprev = us->pending_tail;
	*us->pending_tail = sa;
	us->pending_tail = &sa->pnext;
}

static void us_pending_del(struct us *us, struct us_sa *sa)
{
	if (!sa->pprev)
		return;
	*sa->pprev = sa->pnext;
	if (sa->pnext)
		sa->pnext->pprev = sa->pprev;
	else
		us->pending_tail = sa->pprev;
	sa->pprev = NULL;
	sa->pnext = NULL;
}

/* A hard expiry takes the SA out of service at once: the reqid's
 * policies fall back to its next newest live outbound SA, if any. */
void us_expire(struct us *us, struct us_sa *sa, bool hard, enum dp_expire_reason why)
{
	uint8_t bit = hard ? US_PEND_HARD : US_PEND_SOFT;

	if (sa->fired & bit)
		return;
	sa->fired |= bit;
	sa->pending |= bit;
	if (hard) {
		sa->hard_why = why;
		US_STORE(sa->dead, true);
		us_relink(us_reqid_find(us, sa->reqid));
	} else {
		sa->soft_why = why;
	}
	us_pending_add(us, sa);
	us_kick(us);
}

/* Take up to max pending expiries off the queue; returns how many. */
static size_t us_take_expiries(struct us *us, struct us_expiry *out, size_t max)
{
	size_t n = 0;

	while (us->pending && n < max) {
		struct us_sa *sa = us->pending;
		for (int hard = 0; hard < 2 && n < max; hard++) {
			uint8_t bit = hard ? US_PEND_HARD : US_PEND_SOFT;
			if (!(sa->pending & bit))
				continue;
			sa->pending &= (uint8_t)~bit;
			out[n++] = (struct us_expiry){sa->reqid, sa->spi, sa->dir, hard,
			                              hard ? sa->hard_why : sa->soft_why};
		}
		if (!sa->pending)
			us_pending_del(us, sa);
	}
	return n;
}

static void us_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct us *us = arg;
	const struct dp_events *cb = &us->c->cb;
	struct dp_acquire acq[US_MAX_ACQUIRE];
	struct us_unknown unk[US_MAX_UNKNOWN];
	struct us_expiry exp[US_EXPIRE_BATCH];
	unsigned nacq = us->nacq, nunk = us->nunk;
	size_t nexp;

	/* Copy first: the callbacks may call back into dp and queue more. */
	memcpy(acq, us->acq, nacq * sizeof(acq[0]));
	memcpy(unk, us->unk, nunk * sizeof(unk[0]));
	us->nacq = us->nunk = 0;
	nexp = us_take_expiries(us, exp, US_EXPIRE_BATCH);
	if (nexp == US_EXPIRE_BATCH)
		us_kick(us); /* there may be more */
	for (unsigned i = 0; i < nacq; i++)
		if (cb->acquire)
			cb->acquire(us->c->ctx, &acq[i]);
	for (unsigned i = 0; i < nunk; i++)
		if (cb->unknown_spi)
			cb->unknown_spi(us->c->ctx, unk[i].spi, &unk[i].from);
	for (size_t i = 0; i < nexp; i++)
		if (cb->expire)
			cb->expire(us->c->ctx, exp[i].reqid, exp[i].dir, exp[i].spi, exp[i].hard,
			           exp[i].why);
}

/* RFC 4303 3.4.2: an unknown SPI is an auditable event; limit what it costs. */
void us_report_unknown(struct us *us, uint32_t spi, const struct sockaddr_storage *from)
{
	if (us->unk_sec != us->now) {
		us->unk_sec = us->now;
		us->unk_in_sec = 0;
	}
	if (us->unk_in_sec >= US_UNKNOWN_PER_SEC || us->nunk >= US_MAX_UNKNOWN)
		return;
	for (unsigned i = 0; i < us->unk_in_sec; i++)
		if (us->unk_recent[i] == spi)
			return;
	us->unk_recent[us->unk_in_sec++] = spi;
	us->unk[us->nunk].spi = spi;
	if (from)
		us->unk[us->nunk].from = *from;
	else
		memset(&us->unk[us->nunk].from, 0, sizeof(us->unk[0].from));
	us->nunk++;
	us_kick(us);
}

/* ---- SAD ---- */

/* RFC 4301 4.1: our inbound SPIs are unique, the SPI alone names the SA. */
struct us_sa *us_sa_in(struct us *us, uint32_t spi)
{
	for (struct dp_hnode *n = dp_htab_first(&us->sa_in, spi); n; n = dp_htab_next(n, spi)) {
		struct us_sa *sa = dp_hentry(n, struct us_sa, h_in);
		if (sa->spi == spi)
			return sa;
	}
	return NULL;
}

static struct us_reqid *us_reqid_find(struct us *us, uint32_t reqid)
{
	for (struct dp_hnode *n = dp_htab_first(&us->reqids, reqid); n;
	     n = dp_htab_next(n, reqid)) {
		struct us_reqid *r = dp_hentry(n, struct us_reqid, h);
		if (r->reqid == reqid)
			return r;
	}
	return NULL;
}

/* The SAD by (reqid, dir, spi): through the reqid's record, whose few SAs
 * (a Child SA's two and those that rekey it) are walked. */
static struct us_sa *us_sa_of(const struct us_reqid *r, enum dp_dir dir, uint32_t spi)
{
	for (struct us_sa *sa = r ? r->sas : NULL; sa; sa = sa->rnext) {
		dp_hash_steps++;
		if (sa->dir == dir && sa->spi == spi)
			return sa;
	}
	return NULL;
}

static struct us_sa *us_sa_find(struct us *us, uint32_t reqid, enum dp_dir dir, uint32_t spi)
{
	return us_sa_of(us_reqid_find(us, reqid), dir, spi);
}

static struct us_reqid *us_reqid_get(struct us *us, uint32_t reqid)
{
	struct us_reqid *r = us_reqid_find(us, reqid);

	if (r)
		return r;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->reqid = reqid;
	dp_htab_add(&us->reqids, &r->h, reqid);
	return r;
}

/* r goes when nothing names its reqid any more. */
static void us_reqid_put(struct us *us, struct us_reqid *r)
{
	if (r->sas || r->pols)
		return;
	dp_htab_del(&us->reqids, &r->h);
	free(r);
}

/* Point r's policies at its newest live outbound SA (make-before-break;
 * r->sas is newest first): O(SAs and policies of this reqid), whatever
 * else is installed. */
static void us_relink(struct us_reqid *r)
{
	struct us_sa *best = NULL;

	for (struct us_sa *sa = r->sas; sa && !best; sa = sa->rnext) {
		dp_hash_steps++;
		if (sa->dir == DP_DIR_OUT && !sa->dead)
			best = sa;
	}
	for (struct us_policy *p = r->pols; p; p = p->rnext) {
		dp_hash_steps++;
		p->sa = best;
	}
}

/* CLOCK_MONOTONIC milliseconds: the lifetimes' clock (libevent's too). */
static uint64_t us_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* life_ev at the earliest deadline in us->life (or off), if it moved. */
static void us_life_timer(struct us *us, uint64_t now)
{
	struct theap_node *t = theap_min(&us->life);
	struct timeval tv;
	uint64_t ms;

	if (!t || t->at == us->life_armed)
		return;
	ms = t->at > now ? t->at - now : 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	us->life_armed = t->at;
	if (evtimer_add(us->life_ev, &tv))
		us->life_armed = 0; /* cannot happen: try again at the next change */
}

/*
 * Put sa in us->life at its next lifetime in seconds not reached yet
 * (RFC 4301 4.4.2.1: soft, then hard), counted from start (the SA's add,
 * in ms), or take it out when none is left. Only the first insert of an SA
 * can fail (the heap grows); a move never does.
 */
static int us_life_arm(struct us *us, struct us_sa *sa, uint64_t start)
{
	uint32_t soft, hard;
	bool s, h;

	struct us_life *life = us_sa_life(sa);

	if (!life)
		return 0;
	soft = life->lim.soft_secs;
	hard = life->lim.hard_secs;
	s = soft && !(sa->fired & US_PEND_SOFT);
	h = hard && !(sa->fired & US_PEND_HARD);
	if (!s && !h) {
		theap_del(&us->life, &life->t);
		return 0;
	}
	sa->life_hard = !s || (h && hard < soft);
	return theap_set(&us->life, &life->t,
	                 start + (uint64_t)(sa->life_hard ? hard : soft) * 1000);
}

/* The lifetimes in seconds that have run out (RFC 4301 4.4.2.1): each
 * expires its SA (us_expire) and moves it on to its next one. */
static void us_life_cb(evutil_socket_t fd, short what, void *arg)
{
	struct us *us = arg;
	uint64_t now = us_now_ms();
	struct theap_node *t;

	us->life_armed = 0;
	us_wrlock(us);
	while ((t = theap_min(&us->life)) && t->at <= now) {
		struct us_life *l = dp_hentry(t, struct us_life, t);
		struct us_sa *sa = l->sa;
		bool hard = sa->life_hard;
		uint64_t start =
		    t->at - (uint64_t)(hard ? l->lim.hard_secs : l->lim.soft_secs) * 1000;
		us_expire(us, sa, hard, DP_EXPIRE_TIME);
		if (us_life_arm(us, sa, start))
			theap_del(&us->life, t); /* cannot happen: sa was in the heap */
	}
	us_unlock(us);
	us_life_timer(us, now);
}

static bool us_addr_ok(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return (a->ss_family == AF_INET || a->ss_family == AF_INET6) &&
	       a->ss_family == b->ss_family;
}

static int us_sa_check(struct us *us, const struct dp_sa *p)
{
	if (!p->encap || p->mode != DP_MODE_TUNNEL) {
		errno = EOPNOTSUPP; /* only ESP-in-UDP tunnel mode, as libipsec */
		return -1;
	}
	if ((p->dir != DP_DIR_IN && p->dir != DP_DIR_OUT) || !us_addr_ok(&p->src, &p->dst) ||
	    p->n_ts_local > DP_MAX_TS || p->n_ts_remote > DP_MAX_TS ||
	    p->encr_key_len > sizeof(p->encr_key) || p->integ_key_len > sizeof(p->integ_key)) {
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < p->n_ts_local + p->n_ts_remote; i++) {
		const struct dp_ts *ts =
		    i < p->n_ts_local ? &p->ts_local[i] : &p->ts_remote[i - p->n_ts_local];
		if (!dp_ts_valid(ts)) {
			errno = EINVAL;
			return -1;
		}
	}
	if (us_sa_find(us, p->reqid, p->dir, p->spi) ||
	    (p->dir == DP_DIR_IN && us_sa_in(us, p->spi))) {
		errno = EEXIST;
		return -1;
	}
	return 0;
}

static void us_sa_free(struct us_sa *sa)
{
	dp_esp_clear(&sa->esp);
	pthread_spin_destroy(&sa->mu);
	free(sa);
}

/* An AF_INET or AF_INET6 address (us_addr_ok) into the compact form, and back. */
static void us_addr_set(union us_addr *to, const struct sockaddr_storage *from)
{
	memset(to, 0, sizeof(*to));
	memcpy(to, from, from->ss_family == AF_INET ? sizeof(to->sin) : sizeof(to->sin6));
}

static void us_addr_get(struct sockaddr_storage *to, const union us_addr *from)
{
	memset(to, 0, sizeof(*to));
	memcpy(to, from, sizeof(*from));
}

/* Whether an SA's nl local and nr remote selectors are all IPv4 ones. */
static bool us_ts_all4(const struct dp_sa *p, size_t nl, size_t nr)
{
	for (size_t i = 0; i < nl + nr; i++)
		if ((i < nl ? &p->ts_local[i] : &p->ts_remote[i - nl])->family != AF_INET)
			return false;
	return true;
}

static bool us_life_any(const struct dp_lifetime *l)
{
	return l->soft_bytes || l->hard_bytes || l->soft_packets || l->hard_packets ||
	       l->soft_secs || l->hard_secs;
}

/*
 * An SA in one allocation sized to it (struct us_sa). Only an inbound SA
 * checks selectors (RFC 4301 5.2 step 4, us_sa_selects): outbound traffic
 * was chosen by the SPD, so an outbound SA keeps none. Only an outbound
 * SA sends, so an inbound one keeps no outer addresses: ESP is accepted
 * by SPI whatever its source (RFC 4301 5.2; RFC 4555 3.5: a peer that
 * moves is still heard). Lifetimes take room only when set.
 */
static struct us_sa *us_sa_new(struct us *us, const struct dp_sa *p)
{
	bool in = p->dir == DP_DIR_IN;
	size_t nl = in ? p->n_ts_local : 0, nr = in ? p->n_ts_remote : 0;
	bool ts4 = us_ts_all4(p, nl, nr);
	size_t tsz = ts4 ? sizeof(struct us_ts4) : sizeof(struct dp_ts);
	size_t life_off = us_sa_head(p->dir) + (nl + nr) * tsz;
	size_t esp_off = life_off + (us_life_any(&p->life) ? sizeof(struct us_life) : 0);
	/* RFC 4303 3.4.3: the window is the receiver's choice. With workers
	 * a margin for reordering on the way: twice the default. (The
	 * two-tunnel bench lost 1-7 datagrams per 10 s at 64 before
	 * us_handover kept an SA's datagrams in order across sending threads,
	 * and steering gives each SA one receiving thread: 1024 until then.) */
	struct dp_sa q = *p;
	struct us_sa *sa;
	int rc;

	if (us->threaded && q.dir == DP_DIR_IN && q.replay_window == 0)
		q.replay_window = US_REPLAY_THREADED;
	sa = calloc(1, esp_off + dp_esp_extra_size(&q));
	if (!sa || pthread_spin_init(&sa->mu, PTHREAD_PROCESS_PRIVATE)) {
		crypto_wipe(&q, sizeof(q));
		free(sa);
		errno = ENOMEM;
		return NULL;
	}
	sa->locked = us->threaded;
	rc = dp_esp_init_at(&sa->esp, &q, (uint8_t *)sa + esp_off);
	crypto_wipe(&q, sizeof(q)); /* the keys */
	if (rc) {
		pthread_spin_destroy(&sa->mu);
		free(sa);
		errno = EINVAL;
		return NULL;
	}
	sa->reqid = p->reqid;
	sa->spi = p->spi;
	sa->dir = (uint8_t)p->dir;
	if (!in) {
		us_addr_set(&sa->src, &p->src);
		us_addr_set(&sa->dst, &p->dst);
	}
	sa->has_life = esp_off > life_off;
	sa->ts4 = ts4;
	for (size_t i = 0; i < nl + nr; i++)
		us_sa_ts_put((uint8_t *)sa + us_sa_head(p->dir) + i * tsz,
		             i < nl ? &p->ts_local[i] : &p->ts_remote[i - nl], ts4);
	sa->n_local = (uint8_t)nl; /* at most DP_MAX_TS: us_sa_check */
	sa->n_remote = (uint8_t)nr;
	if (sa->has_life) {
		us_sa_life(sa)->lim = p->life;
		us_sa_life(sa)->sa = sa;
	}
	return sa;
}

/*
 * The worker that will work a new SA of reqid r (decrypt an inbound one,
 * encrypt an outbound one). An inbound SA's is SPI mod N: the kernel
 * steers its ESP there (us_steer.c), and the engine chose the SPI so that
 * this is the worker of the Child SA it rekeys or the least loaded one
 * (us_spi_residue); an SPI that disagrees with r's other SAs is counted.
 * An outbound SA goes with r's other SAs (both directions of a Child SA
 * on one thread and, through the TUN flow table, one queue), else to the
 * worker with the fewest inbound SAs.
 */
static unsigned us_pick_worker(struct us *us, const struct us_reqid *r, const struct dp_sa *p)
{
	if (us->threaded && p->dir == DP_DIR_IN) {
		unsigned w = p->spi % us->nw;
		if (r->sas && us_reqid_worker(r) != w) {
			us->c->stats.spi_worker_mismatches++;
			dp_log(us->dp, DP_LOG_DEBUG,
			       "dp: reqid=%u spi=0x%08x on worker %u, its other SAs on %u",
			       p->reqid, p->spi, w, us_reqid_worker(r));
		}
		return w;
	}
	return r->sas ? r->sas->worker : us_least_loaded(us);
}

static int us_sa_add(void *be, const struct dp_sa *p)
{
	struct us *us = be;
	uint64_t now = us_now_ms();
	struct us_reqid *r;
	struct us_sa *sa;

	if (us_sa_check(us, p))
		return -1;
	r = us_reqid_get(us, p->reqid);
	if (!r)
		return -1;
	sa = us_sa_new(us, p);
	if (!sa || us_life_arm(us, sa, now)) {
		int saved = errno;
		if (sa)
			us_sa_free(sa);
		us_reqid_put(us, r);
		errno = saved;
		return -1;
	}
	sa->worker = (uint16_t)us_pick_worker(us, r, p);
	us_wrlock(us);
	sa->rnext = r->sas;
	r->sas = sa;
	if (sa->dir == DP_DIR_IN) {
		dp_htab_add(&us->sa_in, &sa->h_in, sa->spi);
		us->w[sa->worker].sas++;
	}
	us_relink(r);
	us_unlock(us);
	us_life_timer(us, now);
	dp_log(us->dp, DP_LOG_INFO, "dp: SA added reqid=%u dir=%s spi=0x%08x", sa->reqid,
	       us_dir_name(sa->dir), sa->spi);
	return 0;
}

static int us_sa_del(void *be, uint32_t reqid, enum dp_dir dir, uint32_t spi)
{
	struct us *us = be;
	struct us_reqid *r = us_reqid_find(us, reqid);
	struct us_sa *sa = us_sa_of(r, dir, spi);

	if (!sa) {
		errno = ENOENT;
		return -1;
	}
	us_wrlock(us);
	if (sa->dir == DP_DIR_IN) {
		dp_htab_del(&us->sa_in, &sa->h_in);
		us->w[sa->worker].sas--;
	}
	/* The reqid's few SAs (us_sa_of): a singly linked list. */
	for (struct us_sa **pp = &r->sas; *pp; pp = &(*pp)->rnext) {
		dp_hash_steps++;
		if (*pp == sa) {
			*pp = sa->rnext;
			break;
		}
	}
	us_pending_del(us, sa);
	if (sa->has_life) /* life_ev may fire for nothing: it re-arms */
		theap_del(&us->life, &us_sa_life(sa)->t);
	if (us->threaded) {
		pthread_mutex_lock(&us->mbox_lock);
		us_mbox_del(sa);
		pthread_mutex_unlock(&us->mbox_lock);
	}
	us_relink(r);
	us_reqid_put(us, r);
	/* No worker holds sa now: workers find SAs only in the tables, and
	 * only while they hold the read lock. */
	us_unlock(us);
	dp_log(us->dp, DP_LOG_INFO, "dp: SA deleted reqid=%u dir=%s spi=0x%08x packets=%llu", reqid,
	       us_dir_name(dir), spi, (unsigned long long)sa->ctr.packets);
	us_sa_free(sa);
	return 0;
}

static int us_sa_migrate(void *be, uint32_t reqid, const struct sockaddr_storage *local,
                         const struct sockaddr_storage *remote)
{
	struct us *us = be;
	struct sockaddr_storage l = *local, r = *remote, src, dst;
	struct us_reqid *rq = us_reqid_find(us, reqid);
	struct us_sa *out = NULL;
	union us_addr cl, cr;

	if (!us_addr_ok(local, remote)) {
		errno = EINVAL;
		return -1;
	}
	if (!rq || !rq->sas) {
		errno = ENOENT;
		return -1;
	}
	/* Every SA here is UDP-encapsulated: never port 500 (RFC 3948 2.1).
	 * A NAT's mapping is kept from the outer addresses of an outbound SA
	 * (inbound ones keep none). */
	for (struct us_sa *sa = rq->sas; sa && !out; sa = sa->rnext) {
		dp_hash_steps++;
		if (sa->dir == DP_DIR_OUT)
			out = sa;
	}
	if (out) {
		us_addr_get(&src, &out->src);
		us_addr_get(&dst, &out->dst);
	}
	dp_encap_ports(us->dp, reqid, &l, &r, out ? &src : NULL, out ? &dst : NULL);
	us_addr_set(&cl, &l);
	us_addr_set(&cr, &r);
	/* RFC 4555 3.5: all SAs of the Child SA move together. Only the outer
	 * addresses change: sequence numbers and the replay window stay with
	 * the SA (RFC 4303 3.3.3, 3.4.3), so nothing in flight is refused. */
	us_wrlock(us);
	for (struct us_sa *sa = rq->sas; sa; sa = sa->rnext) {
		if (sa->dir != DP_DIR_OUT)
			continue;
		sa->src = cl;
		sa->dst = cr;
	}
	us_unlock(us);
	return 0;
}

static int us_sa_counters(void *be, uint32_t reqid, enum dp_dir dir, uint32_t spi,
                          struct dp_sa_counters *out)
{
	struct us_sa *sa = us_sa_find(be, reqid, dir, spi);

	if (!sa) {
		errno = ENOENT;
		return -1;
	}
	us_sa_lock(sa);
	*out = (struct dp_sa_counters){
	    .bytes = sa->ctr.bytes,
	    .packets = sa->ctr.packets,
	    .last_used = sa->ctr.last_used,
	    .replay_drops = dir == DP_DIR_IN ? sa->ctr.replay_drops : 0,
	    .auth_drops = dir == DP_DIR_IN ? sa->ctr.auth_drops : 0,
	    .selector_drops = dir == DP_DIR_IN ? sa->ctr.selector_drops : 0,
	    .send_drops = dir == DP_DIR_OUT ? sa->ctr.send_drops : 0,
	    .seq = dir == DP_DIR_OUT ? sa->esp.seq : sa->esp.replay.top,
	};
	us_sa_unlock(sa);
	return 0;
}

/* ---- SPD and routes ---- */

/* The key of a prefix: its family, length and masked address. */
static uint64_t us_pfx_key(sa_family_t family, unsigned len, const uint8_t *addr)
{
	size_t alen = dp_addr_len(family);
	uint8_t a[16] = {0}, hdr[2] = {(uint8_t)(family == AF_INET6), (uint8_t)len};

	for (size_t i = 0; i < alen && i * 8 < len; i++)
		a[i] =
		    len >= (i + 1) * 8 ? addr[i] : addr[i] & (uint8_t)(0xff << (8 - (len - i * 8)));
	return dp_hash_bytes(dp_hash_bytes(DP_HASH_INIT, hdr, sizeof(hdr)), a, alen);
}

static bool us_prefix_eq(const struct dp_prefix *a, const struct dp_prefix *b)
{
	return a->family == b->family && a->len == b->len &&
	       !memcmp(a->addr, b->addr, dp_addr_len(a->family));
}

static struct us_route *us_route_find(struct us *us, const struct dp_prefix *pfx)
{
	uint64_t key = us_pfx_key(pfx->family, pfx->len, pfx->addr);

	for (struct dp_hnode *n = dp_htab_first(&us->routes, key); n; n = dp_htab_next(n, key)) {
		struct us_route *r = dp_hentry(n, struct us_route, h);
		if (us_prefix_eq(&r->pfx, pfx))
			return r;
	}
	return NULL;
}

/*
 * Route changes are queued while the daemon installs and removes Child SAs
 * and sent together when the loop pass ends (us_routes_cb): one sendmsg
 * for up to ~60 of them and one answer for all that succeed, instead of a
 * synchronous RTM_NEWROUTE/DELROUTE round trip each. The route follows its
 * policy within the same loop pass, before any later input is read: the
 * IKE_AUTH response that brings a client's first packets is sent before
 * it, but those packets (and so any answer that needs the route) are read
 * after it. Queued changes that cancel out (a policy removed in the pass
 * that added it, a route let go and taken again) never reach the kernel.
 */
static int us_rtq_push(struct us *us, struct us_route *r, bool add, const uint8_t *src)
{
	if (us->nrtq == us->rtq_cap) {
		size_t cap = us->rtq_cap ? 2 * us->rtq_cap : 64;
		struct dp_nl_rt *q = realloc(us->rtq, cap * sizeof(*q));
		if (q)
			us->rtq = q;
		struct us_route **of = q ? realloc(us->rtq_of, cap * sizeof(*of)) : NULL;
		if (!of)
			return -1;
		us->rtq_of = of;
		us->rtq_cap = cap;
	}
	struct dp_nl_rt *e = &us->rtq[us->nrtq];
	memset(e, 0, sizeof(*e));
	e->dst = r->pfx;
	e->add = add;
	if (src) {
		e->has_src = true;
		memcpy(e->src, src, dp_addr_len(r->pfx.family));
	}
	us->rtq_of[us->nrtq++] = r;
	r->qi = (uint32_t)us->nrtq;
	r->state = add ? US_RT_ADDING : US_RT_DELETING;
	if (!event_pending(us->route_ev, EV_TIMEOUT, NULL))
		event_active(us->route_ev, EV_TIMEOUT, 0);
	return 0;
}

/* Take r's queued change back (it has not been sent). */
static void us_rtq_cancel(struct us *us, struct us_route *r)
{
	if (r->qi)
		us->rtq_of[r->qi - 1] = NULL;
	r->qi = 0;
}

/* A route of p's failed: every outbound SA of p's reqid expires (hard). */
static void us_policy_failed(struct us *us, struct us_policy *p)
{
	if (!p->r)
		return;
	for (struct us_sa *sa = p->r->sas; sa; sa = sa->rnext) {
		dp_hash_steps++;
		if (sa->dir == DP_DIR_OUT)
			us_expire(us, sa, true, DP_EXPIRE_ROUTE);
	}
}

/*
 * The kernel refused the route r (RFC 4301 5.1: without it no outbound
 * packet of the policies that asked for it reaches the SPD): every
 * outbound SA of those policies' reqids gets a hard expiry, reason
 * DP_EXPIRE_ROUTE, so that the daemon deletes the Child SA. The policies
 * asking for r are the prefix policies with r's prefix and the range
 * policies (pol_other, few) containing it.
 */
static void us_route_failed(struct us *us, const struct us_route *r, int err)
{
	uint64_t key = us_pfx_key(r->pfx.family, r->pfx.len, r->pfx.addr);
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(r->pfx.family, r->pfx.addr, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	dp_log(us->dp, DP_LOG_ERR, "dp: route %s/%u into the TUN device refused: %s", a, r->pfx.len,
	       strerror(err));
	us_wrlock(us);
	for (struct dp_hnode *n = dp_htab_first(&us->pol_by_pfx, key); n;
	     n = dp_htab_next(n, key)) {
		struct us_policy *p = dp_hentry(n, struct us_policy, h_pfx);
		if (p->plen == r->pfx.len &&
		    dp_ts_has_addr(&p->p.ts_remote, r->pfx.family, r->pfx.addr))
			us_policy_failed(us, p);
	}
	for (struct us_policy *p = us->pol_other; p; p = p->gnext) {
		dp_hash_steps++;
		if (dp_ts_has_addr(&p->p.ts_remote, r->pfx.family, r->pfx.addr))
			us_policy_failed(us, p);
	}
	us_unlock(us);
}

/* The loop pass is over: send the queued route changes and apply the answers. */
static void us_routes_cb(evutil_socket_t fd, short what, void *arg)
{
	struct us *us = arg;
	size_t n = 0;

	for (size_t i = 0; i < us->nrtq; i++) { /* drop the cancelled ones */
		if (!us->rtq_of[i])
			continue;
		us->rtq[n] = us->rtq[i];
		us->rtq_of[n] = us->rtq_of[i];
		us->rtq_of[n]->qi = 0;
		n++;
	}
	us->nrtq = 0;
	if (n && dp_nl_routes(us->nl, us->rtq, n, us->ifindex, us->table))
		dp_log(us->dp, DP_LOG_WARN, "dp: route changes: netlink failed: %s",
		       strerror(errno));
	for (size_t i = 0; i < n; i++) {
		struct us_route *r = us->rtq_of[i];
		int err = us->rtq[i].err;
		if (!us->rtq[i].add) {
			if (err && err != ESRCH)
				dp_log(us->dp, DP_LOG_WARN, "dp: deleting a route failed: %s",
				       strerror(err));
			dp_htab_del(&us->routes, &r->h);
			free(r);
			continue;
		}
		r->state = err && err != EEXIST ? US_RT_FAILED : US_RT_UP;
		r->owned = !err; /* EEXIST: someone else's route: leave it alone */
		if (r->state == US_RT_FAILED)
			us_route_failed(us, r, err);
	}
}

static void us_route_unref(struct us *us, const struct dp_prefix *pfx)
{
	struct us_route *r = us_route_find(us, pfx);

	if (!r || --r->refs)
		return;
	if (r->state == US_RT_ADDING) {
		us_rtq_cancel(us, r); /* never sent */
	} else if (r->state == US_RT_UP && r->owned) {
		if (us_rtq_push(us, r, false, NULL) == 0)
			return; /* freed once deleted (us_routes_cb) */
		struct dp_nl_rt one = {.dst = r->pfx};
		if (dp_nl_routes(us->nl, &one, 1, us->ifindex, us->table) || one.err)
			dp_log(us->dp, DP_LOG_WARN, "dp: deleting a route failed: %s",
			       strerror(one.err ? one.err : errno));
	}
	dp_htab_del(&us->routes, &r->h);
	free(r);
}

/* A reference to the route for pfx; a new one (or one that failed before)
 * is queued (us_routes_cb); never a dump. */
static int us_route_ref(struct us *us, const struct dp_prefix *pfx, const uint8_t *src)
{
	struct us_route *r = us_route_find(us, pfx);

	if (r && r->state == US_RT_DELETING) { /* let go and taken again in one pass */
		us_rtq_cancel(us, r);
		r->state = US_RT_UP;
	}
	if (r && r->state == US_RT_FAILED && us_rtq_push(us, r, true, src))
		return -1;
	if (r) {
		r->refs++;
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -1;
	r->pfx = *pfx;
	r->refs = 1;
	r->state = US_RT_UP;
	if (!us->skip_routes && us_rtq_push(us, r, true, src)) {
		free(r);
		return -1;
	}
	dp_htab_add(&us->routes, &r->h, us_pfx_key(pfx->family, pfx->len, pfx->addr));
	return 0;
}

static const uint8_t *us_route_src(const struct dp_policy *p)
{
	const struct sockaddr_storage *s = &p->route_src;

	if (s->ss_family != p->ts_remote.family)
		return NULL;
	if (s->ss_family == AF_INET)
		return (const uint8_t *)&((const struct sockaddr_in *)s)->sin_addr;
	if (s->ss_family == AF_INET6)
		return ((const struct sockaddr_in6 *)s)->sin6_addr.s6_addr;
	return NULL;
}

/* Route the policy's remote selector into the TUN device; all or nothing. */
static int us_policy_route(struct us *us, const struct dp_policy *p)
{
	struct dp_prefix pfx[US_MAX_PREFIXES];
	size_t n, done;

	if (dp_ts_prefixes(&p->ts_remote, pfx, US_MAX_PREFIXES, &n))
		return -1;
	for (done = 0; done < n; done++)
		if (us_route_ref(us, &pfx[done], us_route_src(p)))
			break;
	if (done == n)
		return 0;
	int saved = errno;
	while (done-- > 0)
		us_route_unref(us, &pfx[done]);
	errno = saved;
	return -1;
}

static void us_policy_unroute(struct us *us, const struct dp_ts *remote)
{
	struct dp_prefix pfx[US_MAX_PREFIXES];
	size_t n;

	if (dp_ts_prefixes(remote, pfx, US_MAX_PREFIXES, &n))
		return; /* cannot happen: the add succeeded with the same selector */
	for (size_t i = 0; i < n; i++)
		us_route_unref(us, &pfx[i]);
}

/* The SPD's key (as XFRM's): both selectors, not the reqid. */
static uint64_t us_sel_key(const struct dp_ts *local, const struct dp_ts *remote)
{
	return dp_ts_pair_key(local, remote);
}

/* The policy with p's selectors, whatever its reqid (the SPD's key, as in XFRM). */
static struct us_policy *us_policy_find_sel(struct us *us, const struct dp_policy *p)
{
	uint64_t key = us_sel_key(&p->ts_local, &p->ts_remote);

	for (struct dp_hnode *n = dp_htab_first(&us->pol_by_sel, key); n;
	     n = dp_htab_next(n, key)) {
		struct us_policy *q = dp_hentry(n, struct us_policy, h_sel);
		if (dp_ts_equal(&q->p.ts_local, &p->ts_local) &&
		    dp_ts_equal(&q->p.ts_remote, &p->ts_remote))
			return q;
	}
	return NULL;
}

/* The lengths of the remote prefixes in use, longest first: the SPD
 * lookup probes pol_by_pfx once for each. */
static void us_plens_ref(struct us *us, sa_family_t family, unsigned len, bool add)
{
	int v6 = family == AF_INET6;
	uint32_t *refs = &us->plen_refs[v6][len];

	if (add ? (*refs)++ != 0 : --(*refs) != 0)
		return;
	us->nplens[v6] = 0;
	for (unsigned l = US_PLENS; l-- > 0;)
		if (us->plen_refs[v6][l])
			us->plens[v6][us->nplens[v6]++] = (uint8_t)l;
}

/* Does a come before b in the SPD's order (lower priority value first,
 * then the earlier insertion, RFC 4301 4.4.1: the first match wins)? */
static bool us_pol_before(const struct us_policy *a, const struct us_policy *b)
{
	return !b || a->p.priority < b->p.priority ||
	       (a->p.priority == b->p.priority && a->order < b->order);
}

/* Into the SPD's lookup indexes, last among its priority. */
static void us_policy_index(struct us *us, struct us_policy *np)
{
	struct dp_prefix pfx;
	size_t n;

	np->order = ++us->pol_order;
	if (dp_ts_prefixes(&np->p.ts_remote, &pfx, 1, &n) == 0) {
		np->plen = pfx.len;
		dp_htab_add(&us->pol_by_pfx, &np->h_pfx, us_pfx_key(pfx.family, pfx.len, pfx.addr));
		us_plens_ref(us, pfx.family, pfx.len, true);
		return;
	}
	/* Ranges that are no prefix (rare): an ordered list. */
	struct us_policy **pp = &us->pol_other;
	np->plen = US_NOT_PREFIX;
	while (*pp && !us_pol_before(np, *pp)) {
		dp_hash_steps++;
		pp = &(*pp)->gnext;
	}
	np->gnext = *pp;
	if (*pp)
		(*pp)->gprev = &np->gnext;
	np->gprev = pp;
	*pp = np;
}

static void us_policy_unindex(struct us *us, struct us_policy *op)
{
	if (op->plen != US_NOT_PREFIX) {
		dp_htab_del(&us->pol_by_pfx, &op->h_pfx);
		us_plens_ref(us, op->p.ts_remote.family, op->plen, false);
		return;
	}
	*op->gprev = op->gnext;
	if (op->gnext)
		op->gnext->gprev = op->gprev;
}

/* Hang the policy on its reqid and use that reqid's newest outbound SA. */
static void us_policy_attach(struct us_policy *np, struct us_reqid *r)
{
	np->r = r;
	np->rnext = r->pols;
	if (r->pols)
		r->pols->rprev = &np->rnext;
	np->rprev = &r->pols;
	r->pols = np;
	us_relink(r);
}

static void us_policy_detach(struct us *us, struct us_policy *op)
{
	struct us_reqid *r = op->r;

	*op->rprev = op->rnext;
	if (op->rnext)
		op->rnext->rprev = op->rprev;
	op->r = NULL;
	op->sa = NULL;
	us_reqid_put(us, r);
}

static void us_sel_of(struct us_sel *s, const struct dp_policy *p)
{
	s->priority = p->priority;
	s->ts_local = p->ts_local;
	s->ts_remote = p->ts_remote;
}

static int us_policy_add(void *be, const struct dp_policy *p)
{
	struct us *us = be;
	struct us_policy *np;
	struct us_reqid *r;

	if (!dp_ts_valid(&p->ts_local) || !dp_ts_valid(&p->ts_remote)) {
		errno = EINVAL;
		return -1;
	}
	if (us_policy_find_sel(us, p)) {
		errno = EEXIST;
		return -1;
	}
	np = calloc(1, sizeof(*np));
	r = np ? us_reqid_get(us, p->reqid) : NULL;
	if (!r) {
		free(np);
		return -1;
	}
	us_sel_of(&np->p, p);
	if (us_policy_route(us, p)) {
		int saved = errno;
		us_reqid_put(us, r);
		free(np);
		errno = saved;
		return -1;
	}
	us_wrlock(us);
	dp_htab_add(&us->pol_by_sel, &np->h_sel, us_sel_key(&p->ts_local, &p->ts_remote));
	us_policy_index(us, np);
	us_policy_attach(np, r);
	us_unlock(us);
	return 0;
}

/* dp.h: the entry changes hands in place; the routes of the new one are
 * taken before the old ones are let go, so the TUN route never lapses. */
static int us_policy_update(void *be, const struct dp_policy *p)
{
	struct us *us = be;
	struct us_policy *op = us_policy_find_sel(us, p);
	struct us_reqid *r;

	if (!op) {
		errno = ENOENT;
		return -1;
	}
	r = us_reqid_get(us, p->reqid);
	if (!r)
		return -1;
	if (us_policy_route(us, p)) {
		int saved = errno;
		us_reqid_put(us, r);
		errno = saved;
		return -1;
	}
	struct dp_ts old_remote = op->p.ts_remote;
	us_wrlock(us);
	us_policy_unindex(us, op);
	if (op->r != r) {
		us_policy_detach(us, op);
		us_policy_attach(op, r);
	}
	us_sel_of(&op->p, p);
	US_STORE(op->last_acquire, 0);
	us_policy_index(us, op);
	us_relink(r);
	us_unlock(us);
	us_policy_unroute(us, &old_remote);
	return 0;
}

/* Removes the policy with the same reqid and selectors. */
static int us_policy_del(void *be, const struct dp_policy *p)
{
	struct us *us = be;
	struct us_policy *op = us_policy_find_sel(us, p);

	if (!op || op->r->reqid != p->reqid) {
		errno = ENOENT;
		return -1;
	}
	us_wrlock(us);
	dp_htab_del(&us->pol_by_sel, &op->h_sel);
	us_policy_unindex(us, op);
	us_policy_detach(us, op);
	us_unlock(us);
	us_policy_unroute(us, &op->p.ts_remote);
	free(op);
	return 0;
}

static int us_addr(void *be, bool add, const struct sockaddr_storage *a, unsigned plen)
{
	struct us *us = be;
	const uint8_t *addr;

	if (a->ss_family == AF_INET)
		addr = (const uint8_t *)&((const struct sockaddr_in *)a)->sin_addr;
	else if (a->ss_family == AF_INET6)
		addr = ((const struct sockaddr_in6 *)a)->sin6_addr.s6_addr;
	else {
		errno = EINVAL;
		return -1;
	}
	if (plen > dp_addr_len(a->ss_family) * 8) {
		errno = EINVAL;
		return -1;
	}
	return dp_nl_addr(us->nl, add, a->ss_family, addr, plen, us->ifindex);
}

static int us_set_udp_socket(void *be, sa_family_t family, int fd)
{
	struct us *us = be;
	int off = 0;

	if (family != AF_INET && family != AF_INET6) {
		errno = EINVAL;
		return -1;
	}
	us_wrlock(us);
	if (fd >= 0) {
		/* A TCP burst must not overflow them: each datagram lost there
		 * is a lost segment inside the tunnel. */
		sockbuf_set(fd, US_SOCK_BUF);
		/* Kernels without UDP GSO (before 4.18) would ignore the cmsg and
		 * send a train as one datagram: use it only where the option exists. */
		if (setsockopt(fd, SOL_UDP, UDP_SEGMENT, &off, sizeof(off)) < 0)
			for (unsigned i = 0; i < us->nw; i++)
				us->w[i].no_gso = true;
	}
	if (family == AF_INET)
		us->udp4 = fd;
	else
		us->udp6 = fd;
	us_unlock(us);
	return 0;
}

static bool us_policy_matches(const struct us_policy *p, const struct dp_flow *f)
{
	return dp_ts_match_flow(&p->p.ts_local, f, true) &&
	       dp_ts_match_flow(&p->p.ts_remote, f, false);
}

/*
 * RFC 4301 5.1 step 1: the first policy in SPD order (us_pol_before) that
 * matches the packet. A policy whose remote selector is a prefix (a
 * remote-access client's /32 or /128 most often) is found by probing
 * pol_by_pfx with the destination cut to each prefix length in use (at
 * most 129, usually one or two); the rest are few and kept in order, and
 * their walk stops at the first that could not win.
 */
struct us_policy *us_spd_lookup(struct us *us, const struct dp_flow *f)
{
	int v6 = f->family == AF_INET6;
	struct us_policy *best = NULL;

	for (unsigned i = 0; i < us->nplens[v6]; i++) {
		uint8_t len = us->plens[v6][i];
		uint64_t key = us_pfx_key(f->family, len, f->dst);
		for (struct dp_hnode *n = dp_htab_first(&us->pol_by_pfx, key); n;
		     n = dp_htab_next(n, key)) {
			struct us_policy *p = dp_hentry(n, struct us_policy, h_pfx);
			if (p->plen == len && us_pol_before(p, best) && us_policy_matches(p, f))
				best = p;
		}
	}
	for (struct us_policy *p = us->pol_other; p && us_pol_before(p, best); p = p->gnext) {
		dp_hash_steps++;
		if (us_policy_matches(p, f))
			return p;
	}
	return best;
}

/* ---- dp_debug.h ---- */

/* The inbound SA of spi, or NULL with errno (another backend, none). */
static struct us_sa *debug_sa_in(struct dp *dp, uint32_t spi)
{
	struct us *us = dp_backend_state(dp, &dp_userspace_ops);
	struct us_sa *sa = us ? us_sa_in(us, spi) : NULL;

	if (!sa)
		errno = us ? ENOENT : EOPNOTSUPP;
	return sa;
}

int dp_debug_sa_in(struct dp *dp, uint32_t spi, uint32_t *reqid)
{
	struct us_sa *sa = debug_sa_in(dp, spi);

	if (!sa)
		return -1;
	*reqid = sa->reqid;
	return 0;
}

int dp_debug_sa_worker(struct dp *dp, uint32_t spi, unsigned *worker)
{
	struct us_sa *sa = debug_sa_in(dp, spi);

	if (!sa)
		return -1;
	*worker = sa->worker;
	return 0;
}

int dp_debug_spd_lookup(struct dp *dp, const uint8_t *pkt, size_t len, uint32_t *reqid,
                        uint32_t *spi)
{
	struct us *us = dp_backend_state(dp, &dp_userspace_ops);
	struct us_policy *p;
	struct dp_flow f;

	if (!us) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (dp_flow_parse(pkt, len, &f)) {
		errno = EINVAL;
		return -1;
	}
	p = us_spd_lookup(us, &f);
	if (!p) {
		errno = ENOENT;
		return -1;
	}
	*reqid = p->r->reqid;
	*spi = p->sa ? p->sa->spi : 0;
	return 0;
}

int dp_debug_skip_routes(struct dp *dp, bool skip)
{
	struct us *us = dp_backend_state(dp, &dp_userspace_ops);

	if (!us) {
		errno = EOPNOTSUPP;
		return -1;
	}
	us->skip_routes = skip;
	return 0;
}

/* ---- life cycle ---- */

_Static_assert(sizeof(struct dp_stats) % sizeof(uint64_t) == 0, "dp_stats: uint64_t only");

/* dp_stats: the loop's counters (in out) plus each worker's. */
static void us_stats(const void *be, struct dp_stats *out)
{
	const struct us *us = be;
	uint64_t *to = (uint64_t *)out;

	if (!us->threaded)
		return;
	for (unsigned i = 0; i < us->nw; i++) {
		const uint64_t *from = (const uint64_t *)&us->w[i].own;
		for (size_t k = 0; k < sizeof(*out) / sizeof(uint64_t); k++)
			to[k] += __atomic_load_n(&from[k], __ATOMIC_RELAXED);
	}
}

static void us_destroy(void *be)
{
	struct us *us = be;

	if (!us)
		return;
	us_workers_stop(us);
	if (us->w)
		us_steer_free(us);
	/* Everything hangs off a reqid record; the routes go with the device. */
	for (size_t i = 0; us->reqids.b && i < dp_htab_size(&us->reqids); i++) {
		struct dp_hnode *n = dp_htab_bucket(&us->reqids, i);
		while (n) {
			struct us_reqid *r = dp_hentry(n, struct us_reqid, h);
			n = n->next;
			while (r->pols) {
				struct us_policy *p = r->pols;
				r->pols = p->rnext;
				free(p);
			}
			while (r->sas) {
				struct us_sa *sa = r->sas;
				r->sas = sa->rnext;
				us_sa_free(sa);
			}
			free(r);
		}
	}
	for (size_t i = 0; us->routes.b && i < dp_htab_size(&us->routes); i++) {
		struct dp_hnode *n = dp_htab_bucket(&us->routes, i);
		while (n) {
			struct us_route *r = dp_hentry(n, struct us_route, h);
			n = n->next;
			free(r);
		}
	}
	free(us->rtq); /* what is queued goes with the device too */
	free(us->rtq_of);
	if (us->route_ev)
		event_free(us->route_ev);
	dp_htab_fini(&us->sa_in);
	dp_htab_fini(&us->reqids);
	dp_htab_fini(&us->pol_by_sel);
	dp_htab_fini(&us->pol_by_pfx);
	dp_htab_fini(&us->routes);
	theap_fini(&us->life);
	if (us->life_ev)
		event_free(us->life_ev);
	for (unsigned i = 0; us->w && i < us->nw; i++)
		us_worker_free(&us->w[i]);
	free(us->w);
	if (us->notify_ev)
		event_free(us->notify_ev);
	if (us->mbox_ev)
		event_free(us->mbox_ev);
	if (us->dispatch_ev)
		event_free(us->dispatch_ev);
	if (us->mbox_fd >= 0)
		close(us->mbox_fd);
	if (us->locks) {
		pthread_rwlock_destroy(&us->lock);
		pthread_mutex_destroy(&us->mbox_lock);
	}
	dp_nl_close(us->nl);
	free(us);
}

static void us_log_offloads(struct us *us, const char *ifname)
{
	unsigned f = us->offloads;

	dp_log(us->dp, DP_LOG_INFO, "dp: TUN %s: %s%s%s%s, %u queue%s", ifname,
	       us->vnet ? "virtio-net header, coalesced writes" : "no virtio-net header",
	       f & TUN_F_CSUM ? ", checksum offload" : "", f & TUN_F_TSO4 ? ", TSO" : "",
	       f & TUN_F_USO4 ? ", USO" : "", us->nw,
	       us->nw > 1 ? "s (one per packet worker)" : "");
}

/* The TUN device: one queue per worker (IFF_MULTI_QUEUE when there are
 * several), all with the same virtio-net header setting. */
static int us_open_queues(struct us *us, const char *ifname, bool vnet)
{
	bool mq = us->nw > 1;

	for (unsigned i = 0; i < us->nw; i++) {
		struct us_worker *w = &us->w[i];
		w->tun_fd = dp_tun_open(ifname, &us->ifindex, vnet, mq);
		if (w->tun_fd < 0)
			return -1;
		if (!vnet)
			continue;
		unsigned f = dp_tun_offload(w->tun_fd);
		if (i == 0)
			us->offloads = f;
		if (f != us->offloads) {
			errno = EOPNOTSUPP;
			return -1;
		}
	}
	return 0;
}

static void us_close_queues(struct us *us)
{
	for (unsigned i = 0; i < us->nw; i++) {
		if (us->w[i].tun_fd >= 0)
			close(us->w[i].tun_fd);
		us->w[i].tun_fd = -1;
	}
}

static int us_open_tun(struct us *us, const struct dp_options *o)
{
	us->nl = dp_nl_open();
	if (!us->nl)
		return -1;
	us->vnet = us_open_queues(us, o->ifname, true) == 0 && us->offloads != DP_TUN_NO_VNET;
	if (!us->vnet) { /* no IFF_VNET_HDR: one plain packet per read and write */
		us_close_queues(us);
		us->offloads = 0;
		if (us_open_queues(us, o->ifname, false)) {
			dp_log(us->dp, DP_LOG_ERR, "dp: cannot open TUN %s: %s", o->ifname,
			       strerror(errno));
			return -1;
		}
	}
	us_log_offloads(us, o->ifname);
	if (dp_nl_link_up(us->nl, us->ifindex, us->mtu)) {
		dp_log(us->dp, DP_LOG_ERR, "dp: cannot bring %s up: %s", o->ifname,
		       strerror(errno));
		return -1;
	}
	return 0;
}

static void *us_create(struct dp *dp, struct event_base *base, const struct dp_options *o)
{
	struct us *us = calloc(1, sizeof(*us));

	if (!us)
		return NULL;
	us->dp = dp;
	us->c = dp_common(dp);
	us->base = base;
	us->udp4 = us->udp6 = us->mbox_fd = -1;
	us->mtu = o->mtu;
	us->table = o->route_table ? o->route_table : 254; /* RT_TABLE_MAIN */
	us->pending_tail = &us->pending;
	us->nw = o->workers > 1 ? o->workers : 1;
	us->threaded = us->nw > 1;
	us->w = calloc(us->nw, sizeof(*us->w));
	if (!us->w)
		goto fail;
	for (unsigned i = 0; i < us->nw; i++) {
		us->w[i].us = us;
		us->w[i].tun_fd = us->w[i].efd = -1;
	}
	if (dp_htab_init(&us->sa_in) || dp_htab_init(&us->reqids) ||
	    dp_htab_init(&us->pol_by_sel) || dp_htab_init(&us->pol_by_pfx) ||
	    dp_htab_init(&us->routes))
		goto fail;
	/* An outbound slot holds one packet of at most the MTU (or a jumbo frame,
	 * should someone raise the device's MTU later), with room for ESP; pages
	 * a slot never fills are never touched. */
	us->seg_cap = US_HEADROOM + (us->mtu > US_SEG_MIN ? us->mtu : US_SEG_MIN) +
	              DP_ESP_MAX_TAILROOM + US_SEG_SLACK;
	us->ring_slot = (us->mtu > 1500 ? us->mtu : 1500) + 512;
	if (us->ring_slot < US_RING_SLOT_MIN)
		us->ring_slot = US_RING_SLOT_MIN;
	if (us_open_tun(us, o))
		goto fail;
	us->notify_ev = event_new(us->base, -1, 0, us_notify_cb, us);
	us->life_ev = evtimer_new(us->base, us_life_cb, us);
	us->route_ev = event_new(us->base, -1, 0, us_routes_cb, us);
	if (!us->notify_ev || !us->life_ev || !us->route_ev ||
	    (us->threaded && us_threads_init(us)))
		goto fail;
	for (unsigned i = 0; i < us->nw; i++)
		if (us_worker_init(us, i))
			goto fail;
	if (us->threaded && us_workers_start(us))
		goto fail;
	return us;
fail:;
	int saved = errno;
	us_destroy(us);
	errno = saved;
	return NULL;
}

static unsigned us_ifindex(const void *be)
{
	return ((const struct us *)be)->ifindex;
}

static int us_probe(char *why, size_t whylen)
{
	if (access("/dev/net/tun", R_OK | W_OK)) {
		snprintf(why, whylen, "no usable /dev/net/tun: %s", strerror(errno));
		return -1;
	}
	return 0;
}

const struct dp_backend_ops dp_userspace_ops = {
    .features = DP_FEAT_REQUIRES_ENCAP | DP_FEAT_NEEDS_UDP_INPUT,
    .probe = us_probe,
    .create = us_create,
    .destroy = us_destroy,
    .ifindex = us_ifindex,
    .sa_add = us_sa_add,
    .sa_del = us_sa_del,
    .sa_migrate = us_sa_migrate,
    .sa_counters = us_sa_counters,
    .policy_add = us_policy_add,
    .policy_update = us_policy_update,
    .policy_del = us_policy_del,
    .addr = us_addr,
    .set_udp_socket = us_set_udp_socket,
    .input_udp = us_input_udp,
    .udp_steers = us_steers,
    .udp_steer = us_udp_steer,
    .udp_unsteer = us_udp_unsteer,
    .spi_residue = us_spi_residue,
    .stats = us_stats,
};
