/*
 * The userspace backend's packet workers (dp_options.workers > 1; see the
 * top of userspace.c): their threads, each with its own event base and TUN
 * queue (and, with receive steering, NAT-T sockets: us_steer.c); the
 * inbound ring the loop fills with the ESP datagrams of the SAs a worker
 * owns that reach the loop's socket (us_dispatch); the hand-over queue for outbound packets of
 * another worker's SA (us_handover, RFC 4303 3.3.3 order); and the mailbox
 * through which workers post expiries (RFC 4301 4.4.2.1), acquires (5.1.1),
 * unknown SPIs (RFC 4303 3.4.2) and log lines to the loop. Single-threaded, the mailbox calls go
 * straight to the loop's queues.
 */
#include "dataplane/us.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dataplane/dp_debug.h"

/* ---- the mailbox: workers -> loop ---- */

static bool us_mbox_empty(const struct us *us)
{
	return !us->mbox && !us->nmacq && !us->nmlog && !us->nmunk;
}

/* Under mbox_lock, when the mailbox was empty: wake the loop. */
static void us_mbox_wake(struct us *us)
{
	uint64_t one = 1;

	if (write(us->mbox_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return; /* cannot happen on an eventfd below its maximum */
}

/*
 * A lifetime a packet reached, seen on worker w (RFC 4301 4.4.2.1): at once
 * on the loop; from a worker thread once per SA and kind through the
 * mailbox, a hard expiry stopping the SA's traffic at once (dead).
 */
void us_expire_post(struct us_worker *w, struct us_sa *sa, bool hard, enum dp_expire_reason why)
{
	struct us *us = w->us;
	uint8_t bit = hard ? US_PEND_HARD : US_PEND_SOFT;
	bool wake;

	if (!us->threaded) {
		us_expire(us, sa, hard, why);
		return;
	}
	if (__atomic_fetch_or(&sa->wfired, bit, __ATOMIC_RELAXED) & bit)
		return;
	if (hard)
		US_STORE(sa->dead, true);
	pthread_mutex_lock(&us->mbox_lock);
	wake = us_mbox_empty(us);
	sa->mbits |= bit;
	sa->mwhy[hard] = why;
	if (!sa->mprev) {
		sa->mnext = us->mbox;
		if (us->mbox)
			us->mbox->mprev = &sa->mnext;
		sa->mprev = &us->mbox;
		us->mbox = sa;
	}
	if (wake)
		us_mbox_wake(us);
	pthread_mutex_unlock(&us->mbox_lock);
}

/* Under mbox_lock: take sa out of the mailbox. */
void us_mbox_del(struct us_sa *sa)
{
	if (!sa->mprev)
		return;
	*sa->mprev = sa->mnext;
	if (sa->mnext)
		sa->mnext->mprev = sa->mprev;
	sa->mprev = NULL;
	sa->mnext = NULL;
}

/* A log line from packet processing: dp_log on the loop, else the mailbox
 * (the daemon's logging is the loop's); lines beyond US_MBOX_LOGS are counted. */
__attribute__((format(printf, 3, 4))) void us_wlog(struct us_worker *w, enum dp_log_level level,
                                                   const char *fmt, ...)
{
	struct us *us = w->us;
	va_list ap;

	va_start(ap, fmt);
	if (!us->threaded) {
		char msg[256];
		vsnprintf(msg, sizeof(msg), fmt, ap);
		dp_log(us->dp, level, "%s", msg);
	} else {
		pthread_mutex_lock(&us->mbox_lock);
		if (us->nmlog < US_MBOX_LOGS) {
			bool wake = us_mbox_empty(us);
			us->mlog[us->nmlog].level = level;
			vsnprintf(us->mlog[us->nmlog].msg, sizeof(us->mlog[0].msg), fmt, ap);
			us->nmlog++;
			if (wake)
				us_mbox_wake(us);
		} else {
			us->mlog_lost++;
		}
		pthread_mutex_unlock(&us->mbox_lock);
	}
	va_end(ap);
}

/* RFC 4301 5.1.1: one per policy per second (the first thread to see the
 * new second wins the compare-and-swap). */
void us_acquire(struct us_worker *w, struct us_policy *p, const struct dp_flow *f)
{
	struct us *us = w->us;
	uint64_t last = US_LOAD(p->last_acquire);
	struct dp_acquire a = {.reqid = p->r->reqid};

	if (last == w->now || !__atomic_compare_exchange_n(&p->last_acquire, &last, w->now, false,
	                                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	dp_ts_from_flow(&a.src, f, true);
	dp_ts_from_flow(&a.dst, f, false);
	if (!us->threaded) {
		if (us->nacq < US_MAX_ACQUIRE) {
			us->acq[us->nacq++] = a;
			us_kick(us);
		}
		return;
	}
	pthread_mutex_lock(&us->mbox_lock);
	if (us->nmacq < US_MAX_ACQUIRE) {
		bool wake = us_mbox_empty(us);
		us->macq[us->nmacq++] = a;
		if (wake)
			us_mbox_wake(us);
	}
	pthread_mutex_unlock(&us->mbox_lock);
}

/* RFC 4303 3.4.2: an unknown SPI a worker read on its own socket; the loop
 * reports it (us_report_unknown, which limits the rate); beyond
 * US_MAX_UNKNOWN waiting, dropped unreported (the drop is counted). */
void us_unknown_post(struct us_worker *w, uint32_t spi, const struct sockaddr_storage *from)
{
	struct us *us = w->us;

	pthread_mutex_lock(&us->mbox_lock);
	if (us->nmunk < US_MAX_UNKNOWN) {
		bool wake = us_mbox_empty(us);
		us->munk[us->nmunk].spi = spi;
		us->munk[us->nmunk].from = *from;
		us->nmunk++;
		if (wake)
			us_mbox_wake(us);
	}
	pthread_mutex_unlock(&us->mbox_lock);
}

/*
 * The loop empties the mailbox: expiries are applied (us_expire: make-
 * before-break falls back to the next SA) under the write lock, and join
 * the events notify_ev delivers; acquires likewise; log lines are logged.
 */
void us_mbox_cb(evutil_socket_t fd, short what, void *arg)
{
	struct us *us = arg;
	struct dp_acquire acq[US_MAX_ACQUIRE];
	struct us_unknown unk[US_MAX_UNKNOWN];
	struct {
		enum dp_log_level level;
		char msg[sizeof(us->mlog[0].msg)];
	} logs[US_MBOX_LOGS];
	unsigned nacq, nlogs, lost, nunk;
	uint64_t v;

	if (read(us->mbox_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	us_wrlock(us);
	pthread_mutex_lock(&us->mbox_lock);
	while (us->mbox) {
		struct us_sa *sa = us->mbox;
		uint8_t bits = sa->mbits;
		us_mbox_del(sa);
		sa->mbits = 0;
		for (int hard = 0; hard < 2; hard++)
			if (bits & (hard ? US_PEND_HARD : US_PEND_SOFT))
				us_expire(us, sa, hard, sa->mwhy[hard]);
	}
	nacq = us->nmacq;
	memcpy(acq, us->macq, nacq * sizeof(acq[0]));
	nlogs = us->nmlog;
	memcpy(logs, us->mlog, nlogs * sizeof(logs[0]));
	lost = us->mlog_lost;
	nunk = us->nmunk;
	memcpy(unk, us->munk, nunk * sizeof(unk[0]));
	us->nmacq = us->nmlog = us->mlog_lost = us->nmunk = 0;
	pthread_mutex_unlock(&us->mbox_lock);
	us_unlock(us);
	for (unsigned i = 0; i < nacq && us->nacq < US_MAX_ACQUIRE; i++) {
		us->acq[us->nacq++] = acq[i];
		us_kick(us);
	}
	us->now = us_now();
	for (unsigned i = 0; i < nunk; i++)
		us_report_unknown(us, unk[i].spi, &unk[i].from);
	for (unsigned i = 0; i < nlogs; i++)
		dp_log(us->dp, logs[i].level, "%s", logs[i].msg);
	if (lost)
		dp_log(us->dp, DP_LOG_WARN, "dp: %u log lines of the packet workers not shown",
		       lost);
}

/*
 * A packet read on worker w for an outbound SA another worker (o) owns goes
 * to o to be encrypted: one thread numbers and sends each SA's datagrams,
 * so they leave in sequence-number order (RFC 4303 3.3.3; a peer's replay
 * window, 3.4.3, may be as small as 32). Only until the kernel's TUN flow
 * table has learnt the flow (from o's writes) or for flows with no inbound
 * packets; a full queue drops the packet (drop_io).
 */
void us_handover(struct us_worker *w, struct us_worker *o, const struct dp_buf *b)
{
	uint64_t one = 1;
	bool wake;

	pthread_mutex_lock(&o->hq_mu);
	if (o->nhq == US_HQ || b->len > w->us->ring_slot) {
		pthread_mutex_unlock(&o->hq_mu);
		US_ADD(w->st->drop_io, 1);
		return;
	}
	memcpy(o->hq + (size_t)o->nhq * w->us->ring_slot, dp_buf_data(b), b->len);
	o->hq_len[o->nhq++] = (uint32_t)b->len;
	wake = o->nhq == 1;
	pthread_mutex_unlock(&o->hq_mu);
	if (wake && write(o->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		US_ADD(w->st->drop_io, 1); /* cannot happen on an eventfd */
}

/* ---- packet workers (threaded: us->nw > 1) ---- */

/*
 * Is there a free slot in w's ring? When it is full the loop tells the
 * worker at once and waits for it, US_RING_WAIT_US at most: the backlog then
 * stays in the NAT-T socket's buffer (as it did when the loop decrypted),
 * and TCP inside the tunnel sees no loss of ours.
 */
static bool us_ring_room(struct us *us, struct us_worker *w)
{
	uint64_t one = 1;

	if (w->head - __atomic_load_n(&w->tail, __ATOMIC_ACQUIRE) < US_RING)
		return true;
	w->kick = false;
	if (write(w->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return false;
	for (unsigned t = 0; t < US_RING_WAIT_US; t += 20) {
		nanosleep(&(struct timespec){.tv_nsec = 20000}, NULL);
		if (w->head - __atomic_load_n(&w->tail, __ATOMIC_ACQUIRE) < US_RING)
			return true;
	}
	return false;
}

/*
 * The loop hands an ESP datagram to the worker that owns its inbound SA
 * (RFC 4301 4.1: the SPI names it): copied into that worker's ring, which
 * the worker is told of once the loop's input burst ends (us_dispatch_cb).
 */
void us_dispatch(struct us *us, const uint8_t *buf, size_t len, const struct sockaddr_storage *from)
{
	struct dp_stats *st = &us->c->stats;
	struct us_worker *w;
	struct us_sa *sa;
	unsigned head;
	uint32_t spi;

	if (dp_esp_peek_spi(buf, len, &spi)) {
		st->drop_malformed++;
		return;
	}
	sa = us_sa_in(us, spi); /* the loop writes the tables: no lock to read them */
	if (!sa) {
		st->drop_unknown_spi++;
		us_report_unknown(us, spi, from);
		return;
	}
	if (US_LOAD(sa->dead)) {
		st->drop_expired++;
		return;
	}
	w = &us->w[sa->worker];
	head = w->head;
	if (len > us->ring_slot || !us_ring_room(us, w)) {
		st->drop_io++; /* the worker is behind (or a datagram beyond any MTU we use) */
		return;
	}
	st->rx_via_loop++;
	memcpy(w->ring + (size_t)(head % US_RING) * w->us->ring_slot, buf, len);
	w->ring_len[head % US_RING] = (uint32_t)len;
	__atomic_store_n(&w->head, head + 1, __ATOMIC_RELEASE);
	if (!w->kick) {
		w->kick = true;
		if (!event_pending(us->dispatch_ev, EV_TIMEOUT, NULL))
			event_active(us->dispatch_ev, EV_TIMEOUT, 0);
	}
}

static void us_dispatch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct us *us = arg;
	uint64_t one = 1;

	for (unsigned i = 0; i < us->nw; i++) {
		if (!us->w[i].kick)
			continue;
		us->w[i].kick = false;
		if (write(us->w[i].efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			us->c->stats.drop_io++; /* cannot happen on an eventfd */
	}
}

/* A worker (under the read lock): the outbound packets other workers
 * handed over, encrypted and sent as one batch. */
static void us_hq_drain(struct us_worker *w)
{
	size_t n = 0;

	pthread_mutex_lock(&w->hq_mu);
	w->in_hq = true;
	for (unsigned k = 0; k < w->nhq; k++) {
		struct dp_buf *b;
		if (n == US_BATCH) {
			us_flush(w, n);
			n = 0;
		}
		b = &w->bufs[n];
		b->off = US_HEADROOM;
		b->len = w->hq_len[k];
		memcpy(dp_buf_data(b), w->hq + (size_t)k * w->us->ring_slot, b->len);
		if (us_out_one(w, b, n) == 0)
			n++;
	}
	w->nhq = 0;
	w->in_hq = false;
	pthread_mutex_unlock(&w->hq_mu);
	us_flush(w, n);
}

/* A worker: the datagrams in its ring, in order, then the coalesced TUN
 * write, then what other workers handed over. */
static void us_ring_cb(evutil_socket_t fd, short what, void *arg)
{
	struct us_worker *w = arg;
	unsigned head, tail = w->tail;
	uint64_t v;

	if (read(w->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	if (US_LOAD(w->stop)) {
		event_base_loopbreak(w->base);
		return;
	}
	head = __atomic_load_n(&w->head, __ATOMIC_ACQUIRE);
	w->now = us_now();
	us_rdlock(w->us);
	for (; tail != head; tail++) {
		us_in_one(w, w->ring + (size_t)(tail % US_RING) * w->us->ring_slot,
		          w->ring_len[tail % US_RING], NULL);
		if ((tail & 31) == 31) /* give slots back as we go */
			__atomic_store_n(&w->tail, tail + 1, __ATOMIC_RELEASE);
	}
	us_gro_flush(w);
	us_hq_drain(w);
	us_unlock(w->us);
	__atomic_store_n(&w->tail, tail, __ATOMIC_RELEASE);
}

static void *us_worker_main(void *arg)
{
	struct us_worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

/* ---- dp_debug.h, life cycle ---- */

int dp_debug_worker_stats(struct dp *dp, unsigned i, struct dp_stats *out)
{
	struct us *us = dp_backend_state(dp, &dp_userspace_ops);
	const uint64_t *from;
	uint64_t *to = (uint64_t *)out;

	if (!us) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (i >= us->nw) {
		errno = ENOENT;
		return -1;
	}
	from = (const uint64_t *)us->w[i].st;
	for (size_t k = 0; k < sizeof(*out) / sizeof(uint64_t); k++)
		to[k] = __atomic_load_n(&from[k], __ATOMIC_RELAXED);
	return 0;
}

unsigned dp_debug_workers(struct dp *dp)
{
	struct us *us = dp_backend_state(dp, &dp_userspace_ops);

	return us && us->threaded ? us->nw : 0;
}

void us_worker_stop(struct us_worker *w)
{
	uint64_t one = 1;

	if (!w->started)
		return;
	US_STORE(w->stop, true);
	if (write(w->efd, &one, sizeof(one)) < 0)
		w->us->c->stats.drop_io++; /* cannot happen: the eventfd is ours */
	pthread_join(w->thread, NULL);
	w->started = false;
}

/* Every worker thread stops (us_workers_start starts them again). */
void us_workers_stop(struct us *us)
{
	for (unsigned i = 0; us->w && i < us->nw; i++)
		us_worker_stop(&us->w[i]);
}

void us_worker_free(struct us_worker *w)
{
	if (w->tun_ev)
		event_free(w->tun_ev);
	if (w->efd_ev)
		event_free(w->efd_ev);
	if (w->rx_ev)
		event_free(w->rx_ev);
	if (w->base && w->base != w->us->base)
		event_base_free(w->base);
	if (w->efd >= 0)
		close(w->efd);
	if (w->tun_fd >= 0)
		close(w->tun_fd); /* the last queue closed takes the device and its routes */
	free(w->slab);
	free(w->tbuf);
	free(w->gbuf);
	free(w->ring);
	free(w->hq);
	free(w->rx);
	if (w->hq_init)
		pthread_mutex_destroy(&w->hq_mu);
}

/* Worker i's buffers and events (on the loop's base when single-threaded). */
int us_worker_init(struct us *us, unsigned i)
{
	struct us_worker *w = &us->w[i];

	w->us = us;
	w->id = i;
	w->st = us->threaded ? &w->own : &us->c->stats;
	w->slab = malloc((size_t)US_BATCH * us->seg_cap);
	w->tbuf = malloc(US_TBUF_CAP);
	w->gbuf = malloc(US_TBUF_CAP);
	if (!w->slab || !w->tbuf || !w->gbuf)
		return -1;
	w->gro.buf = w->gbuf;
	for (size_t k = 0; k < US_BATCH; k++)
		w->bufs[k] = (struct dp_buf){.base = w->slab + k * us->seg_cap, .cap = us->seg_cap};
	if (!us->threaded) {
		w->base = us->base;
		w->rx_ev = event_new(w->base, -1, 0, us_rx_cb, w);
		if (!w->rx_ev)
			return -1;
	} else {
		w->ring = malloc((size_t)US_RING * us->ring_slot);
		w->hq = malloc((size_t)US_HQ * us->ring_slot);
		if (!w->hq || pthread_mutex_init(&w->hq_mu, NULL))
			return -1;
		w->hq_init = true;
		w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		w->base = event_base_new();
		if (!w->ring || w->efd < 0 || !w->base)
			return -1;
		w->efd_ev = event_new(w->base, w->efd, EV_READ | EV_PERSIST, us_ring_cb, w);
		if (!w->efd_ev || event_add(w->efd_ev, NULL))
			return -1;
	}
	w->tun_ev = event_new(w->base, w->tun_fd, EV_READ | EV_PERSIST, us_tun_cb, w);
	if (!w->tun_ev || event_add(w->tun_ev, NULL))
		return -1;
	return 0;
}

/* Start the worker threads (those not running), with every signal blocked (the loop takes them). */
int us_workers_start(struct us *us)
{
	sigset_t all, old;
	int rc = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < us->nw && !rc; i++) {
		if (us->w[i].started)
			continue;
		char name[16];
		US_STORE(us->w[i].stop, false);
		rc = pthread_create(&us->w[i].thread, NULL, us_worker_main, &us->w[i]);
		if (rc)
			break;
		us->w[i].started = true;
		snprintf(name, sizeof(name), "riked-dp%u", i % 100);
		pthread_setname_np(us->w[i].thread, name); /* per-thread CPU in top -H, bench */
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		errno = rc;
		return -1;
	}
	return 0;
}

/* The loop's side of the workers: locks, the mailbox, the dispatch event. */
int us_threads_init(struct us *us)
{
	pthread_rwlockattr_t a;

	/* Writer-preferring: two workers' overlapping batches must not keep
	 * the loop's SA and policy changes waiting for ever. */
	if (pthread_rwlockattr_init(&a))
		return -1;
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	if (pthread_rwlock_init(&us->lock, &a)) {
		pthread_rwlockattr_destroy(&a);
		return -1;
	}
	pthread_rwlockattr_destroy(&a);
	if (pthread_mutex_init(&us->mbox_lock, NULL)) {
		pthread_rwlock_destroy(&us->lock);
		return -1;
	}
	us->locks = true;
	us->mbox_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (us->mbox_fd < 0)
		return -1;
	us->mbox_ev = event_new(us->base, us->mbox_fd, EV_READ | EV_PERSIST, us_mbox_cb, us);
	us->dispatch_ev = event_new(us->base, -1, 0, us_dispatch_cb, us);
	if (!us->mbox_ev || !us->dispatch_ev || event_add(us->mbox_ev, NULL))
		return -1;
	return 0;
}
