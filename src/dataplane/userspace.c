/*
 * The userspace backend (like strongSwan's kernel-libipsec): a TUN device
 * carries the cleartext side, ESP in UDP (RFC 3948) the protected side.
 * It keeps the SAD (RFC 4301 4.4.2: inbound SAs hashed by SPI, RFC 4301
 * 4.1, all SAs by (reqid, dir, spi)) and the SPD (RFC 4301 4.4.1: policies
 * by selectors, and for the outbound lookup by remote prefix, see
 * us_spd_lookup), routes the remote selectors into the TUN device, and
 * does the outbound (RFC 4301 5.1) and
 * inbound (5.2) processing: SPD lookup -> SA -> ESP -> UDP, and UDP -> SA
 * by SPI -> ESP -> selector check -> TUN. Lifetimes (4.4.2.1) are enforced
 * per packet (bytes, packets, sequence numbers) and by timers (seconds).
 * Packets are batched and never allocate:
 * the TUN device hands over TCP/UDP super-packets of up to 64 KiB (TSO/USO
 * with a virtio-net header, gso.c) that are cut into MTU-sized packets,
 * each encrypted, and sent as UDP GSO trains; inbound TCP segments of one
 * flow are coalesced into one write to TUN. Events for the daemon are
 * queued and delivered from a separate loop callback, never re-entrantly.
 *
 * Threads (dp_options.workers; see "packet workers" below): with 0 or 1
 * everything runs on the daemon's loop. With N > 1, N packet workers each
 * own one queue of an IFF_MULTI_QUEUE TUN device (the kernel keeps a flow
 * on one queue) and do the outbound path of what they read, an outbound
 * SA's packets being encrypted by its Child SA's worker only (us_handover:
 * in sequence-number order); inbound ESP
 * still arrives on the loop (dp_input_udp), which looks the SA up by SPI
 * and hands the datagram to the worker that owns the SA (a new Child SA's
 * goes to the worker with the fewest, a rekey's stays with the Child SA's
 * worker: us_pick_worker), so each inbound SA - its replay
 * window (RFC 4303 3.4.3) - is worked by one thread in order. The kernel's
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
#include "dataplane/dp_backend.h"
#include "util/sockbuf.h"

#include <errno.h>
#include <event2/event.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dataplane/dp_debug.h"
#include "dataplane/dp_hash.h"
#include "dataplane/esp.h"
#include "dataplane/gso.h"
#include "dataplane/tun.h"

#define US_BATCH           128 /* outbound packets per flush (one TUN super-packet is <= 48) */
#define US_TUN_READS       16  /* TUN reads per wakeup */
#define US_HEADROOM        64
#define US_SEG_SLACK       64   /* beyond the MTU in each outbound slot */
#define US_SEG_MIN         9000 /* outbound slot size at least, whatever the MTU */
#define US_TBUF_CAP        (DP_VNET_HDR_LEN + DP_GSO_MAX + 1)
#define US_MAX_PREFIXES    32 /* routes per remote selector */
#define US_MAX_ACQUIRE     16 /* queued acquire events */
#define US_MAX_UNKNOWN     16 /* queued unknown-SPI events */
#define US_UNKNOWN_PER_SEC 10
#define US_SEQ_SOFT        0xf0000000u /* soft expiry before a 32-bit counter runs out */
#define US_EXPIRE_BATCH    64
#define US_SOCK_BUF        (4 << 20) /* UDP socket buffers, see us_sock_bufs */
#define US_GSO_MAX_BYTES   60000     /* UDP payload of one GSO send (an IP datagram < 64 KiB) */
#define US_SEND_LOGS       10        /* send-failure lines per second, all SAs together */
#define US_RING            2048      /* inbound datagrams queued for one worker (~4 MiB) */
#define US_REPLAY_THREADED 1024      /* inbound window with workers, see us_sa_new */
#define US_RING_WAIT_US    5000      /* the loop waits for a full ring at most */
#define US_RING_SLOT_MIN   2048      /* octets of one: at least, see us->ring_slot */
#define US_MBOX_LOGS       16        /* worker log lines waiting for the loop */
#define US_HQ              256       /* outbound packets handed to one worker (us_handover) */

enum { US_PEND_SOFT = 1, US_PEND_HARD = 2 };

struct us;

struct us_policy;

/* The SAs and policies of one reqid (a Child SA and the pairs that rekey
 * it, RFC 7296 2.8); it lives while either list is non-empty. */
struct us_reqid {
	struct dp_hnode h; /* us->reqids, key reqid */
	uint32_t reqid;
	struct us_sa *sas;      /* newest first */
	struct us_policy *pols; /* the policies naming this reqid */
};

struct us_sa {
	/* The index nodes and the keys they are checked against share the
	 * first cache line: a lookup touches one line per SA it passes. */
	struct dp_hnode h_id; /* us->sa_by_id, key us_sa_key() */
	struct dp_hnode h_in; /* us->sa_in, key spi (inbound SAs) */
	uint32_t reqid, spi;
	enum dp_dir dir;
	struct us_sa *rnext, **rprev; /* r->sas */
	struct us_sa *pnext, **pprev; /* us->pending; pprev NULL when not queued */
	struct us_reqid *r;
	struct us *us;
	struct sockaddr_storage src, dst;
	struct dp_lifetime life;
	struct dp_ts *ts_local, *ts_remote; /* into ts[] */
	size_t n_local, n_remote;
	struct dp_esp_sa esp;
	struct dp_sa_counters ctr;
	uint64_t serial;
	uint8_t fired, pending; /* US_PEND_* */
	enum dp_expire_reason soft_why, hard_why;
	bool dead;      /* US_LOAD/US_STORE: workers set it on a hard expiry */
	uint8_t wfired; /* atomic: US_PEND_* a worker has posted (us_expire_post) */
	uint8_t mbits;  /* under mbox_lock: US_PEND_* waiting in the mailbox */
	enum dp_expire_reason mwhy[2];
	struct us_sa *mnext, **mprev; /* under mbox_lock: us->mbox; mprev NULL when not in it */
	unsigned worker;              /* the worker that decrypts or encrypts it */
	pthread_mutex_t mu;           /* esp, ctr, send_log_sec, send_unlogged (us_sa_lock) */
	struct event *soft_ev, *hard_ev;
	uint64_t send_log_sec, send_unlogged; /* us_send_fail's rate limit */
	struct dp_ts ts[];                    /* n_local + n_remote, allocated to size */
};

struct us_route {
	struct dp_hnode h; /* us->routes, key us_pfx_key(pfx) */
	struct dp_prefix pfx;
	unsigned refs;
	bool owned; /* we added it (not there before) */
};

/* What the SPD keeps of a dp_policy (the route source is only needed
 * while the routes are added; the XFRM template not at all). */
struct us_sel {
	uint32_t reqid;
	uint32_t priority;
	struct dp_ts ts_local, ts_remote;
};

#define US_NOT_PREFIX 0xff

struct us_policy {
	/* What the outbound lookup reads (us_spd_lookup) comes first. */
	struct dp_hnode h_pfx; /* us->pol_by_pfx, key us_pfx_key(remote) */
	uint8_t plen;          /* the remote selector's prefix length, or US_NOT_PREFIX */
	uint64_t order;        /* insertion: equal priorities match in this order */
	struct us_sel p;
	struct us_sa *sa;                 /* borrowed: the newest live outbound SA of p.reqid */
	struct dp_hnode h_sel;            /* us->pol_by_sel, key us_sel_key() */
	struct us_policy *gnext, **gprev; /* us->pol_other, in match order */
	struct us_policy *rnext, **rprev; /* r->pols */
	struct us_reqid *r;
	uint64_t last_acquire; /* atomic: workers rate-limit acquires with it */
};

#define US_PLENS 129 /* prefix lengths 0..128 */

struct us_unknown {
	uint32_t spi;
	struct sockaddr_storage from;
};

struct us_expiry {
	uint32_t reqid, spi;
	enum dp_dir dir;
	bool hard;
	enum dp_expire_reason why;
};

/* The packet path of one thread: the loop's when single-threaded, else a
 * worker's (see "packet workers"). Only that thread touches it, but for
 * the stats, which the loop reads (US_ADD). */
struct us_worker {
	struct us *us;
	unsigned id;
	struct event_base *base; /* us->base single-threaded, else owned */
	pthread_t thread;
	bool started;
	int tun_fd; /* this worker's TUN queue */
	int efd;    /* eventfd: the ring has datagrams, or stop */
	struct event *tun_ev, *efd_ev;
	struct event *rx_ev; /* writes what gro holds after a burst of input */
	struct dp_stats own; /* a worker's counters (dp_stats adds them up) */
	struct dp_stats *st; /* &own, or the loop's &us->c->stats */
	uint64_t now;
	bool no_gro;       /* the kernel refused a coalesced write: no more of them */
	bool no_gso;       /* UDP_SEGMENT failed once: send datagram by datagram */
	uint8_t *tbuf;     /* owned: one TUN read, US_TBUF_CAP */
	uint8_t *gbuf;     /* owned: the inbound super-packet, US_TBUF_CAP */
	struct dp_gro gro; /* coalesces inbound TCP segments in gbuf */
	/* outbound batch */
	uint8_t *slab; /* owned: US_BATCH buffers of us->seg_cap */
	struct dp_buf bufs[US_BATCH];
	struct mmsghdr msgs[US_BATCH];
	struct iovec iov[US_BATCH];
	int msg_fd[US_BATCH];
	struct us_sa *msg_sa[US_BATCH]; /* borrowed for one batch (under us->lock) */
	struct sockaddr_storage msg_dst[US_BATCH];
	uint8_t cmsg[US_BATCH][CMSG_SPACE(sizeof(struct in6_pktinfo))];
	uint64_t send_log_sec;
	unsigned send_logs; /* lines in send_log_sec */
	/* Inbound ring (threaded): the loop fills slots at head, the worker
	 * empties them at tail (single producer, single consumer). */
	uint8_t *ring; /* owned: US_RING slots of us->ring_slot */
	uint32_t ring_len[US_RING];
	unsigned head, tail; /* atomic, free-running */
	bool kick;           /* loop: head moved since the last eventfd write */
	bool stop;           /* atomic */
	unsigned sas;        /* loop only: the inbound SAs it owns (us_pick_worker) */
	/* Outbound packets other workers read for SAs this one owns
	 * (us_handover), under hq_mu; in_hq while this worker sends them. */
	pthread_mutex_t hq_mu;
	bool hq_init, in_hq;
	uint8_t *hq; /* owned: US_HQ slots of us->ring_slot */
	uint32_t hq_len[US_HQ];
	unsigned nhq;
};

struct us {
	struct dp *dp;
	struct dp_common *c;
	struct event_base *base;
	unsigned ifindex, mtu;
	uint32_t table;
	struct dp_nl *nl;
	struct event *notify_ev;
	int udp4, udp6;
	/* SAD, SPD, routes (see the top of the file) */
	struct dp_htab sa_by_id, sa_in, reqids, pol_by_sel, pol_by_pfx, routes;
	struct us_policy *pol_other;     /* policies whose remote selector is no prefix */
	uint32_t plen_refs[2][US_PLENS]; /* [family is IPv6][len]: prefix policies */
	uint8_t plens[2][US_PLENS];      /* the lengths in use, longest first */
	unsigned nplens[2];
	uint64_t pol_order;
	struct us_sa *pending, **pending_tail; /* SAs with expiries to deliver */
	uint64_t serial, now;
	/* queued events */
	struct dp_acquire acq[US_MAX_ACQUIRE];
	struct us_unknown unk[US_MAX_UNKNOWN];
	unsigned nacq, nunk;
	uint64_t unk_sec;
	unsigned unk_in_sec;
	uint32_t unk_recent[US_UNKNOWN_PER_SEC];
	/* TUN offloads (gso.h) */
	bool vnet;         /* a virtio-net header on every TUN read and write */
	unsigned offloads; /* TUN_F_* the kernel granted */
	size_t seg_cap;    /* outbound slot size */
	size_t ring_slot;  /* inbound ring slot: an ESP datagram of a 1500-octet (or MTU) packet */
	bool skip_routes;  /* dp_debug_skip_routes */
	/* packet workers */
	struct us_worker *w; /* owned: nw of them (one when single-threaded) */
	unsigned nw;
	bool threaded;             /* nw > 1: worker threads, locks */
	bool locks;                /* lock and mbox_lock initialised */
	pthread_rwlock_t lock;     /* the SAD and SPD: the loop writes, workers read */
	pthread_mutex_t mbox_lock; /* the mailbox: workers -> loop */
	int mbox_fd;               /* eventfd: the mailbox has something */
	struct event *mbox_ev, *dispatch_ev;
	struct us_sa *mbox; /* SAs with expiries a worker posted */
	struct dp_acquire macq[US_MAX_ACQUIRE];
	unsigned nmacq;
	struct {
		enum dp_log_level level;
		char msg[200];
	} mlog[US_MBOX_LOGS];
	unsigned nmlog, mlog_lost;
};

static uint64_t us_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec;
}

static const char *us_dir_name(enum dp_dir dir)
{
	return dir == DP_DIR_IN ? "in" : "out";
}

/* ---- locks: no-ops when single-threaded (see the top of the file) ---- */

/* Fields one thread writes and another may read without a common lock. */
#define US_LOAD(x)     __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define US_STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
/* A counter with a single writer (a plain increment, but race-free to read). */
#define US_ADD(x, n) US_STORE(x, US_LOAD(x) + (n))

/* The loop, before it changes the SAD, the SPD, or an SA field workers read. */
static void us_wrlock(struct us *us)
{
	if (us->threaded)
		pthread_rwlock_wrlock(&us->lock);
}

/* A worker, for one batch: nothing it finds in the tables is freed meanwhile. */
static void us_rdlock(struct us *us)
{
	if (us->threaded)
		pthread_rwlock_rdlock(&us->lock);
}

static void us_unlock(struct us *us)
{
	if (us->threaded)
		pthread_rwlock_unlock(&us->lock);
}

/* What packets change in an SA: ESP state (sequence number, RFC 4303 3.3.3;
 * replay window, 3.4.3; cipher context) and counters. */
static void us_sa_lock(struct us_sa *sa)
{
	if (sa->us->threaded)
		pthread_mutex_lock(&sa->mu);
}

static void us_sa_unlock(struct us_sa *sa)
{
	if (sa->us->threaded)
		pthread_mutex_unlock(&sa->mu);
}

static bool us_mbox_empty(const struct us *us)
{
	return !us->mbox && !us->nmacq && !us->nmlog;
}

/* Under mbox_lock, when the mailbox was empty: wake the loop. */
static void us_mbox_wake(struct us *us)
{
	uint64_t one = 1;

	if (write(us->mbox_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return; /* cannot happen on an eventfd below its maximum */
}

/* ---- event queue: delivered from notify_ev, never from inside a dp_* call ---- */

static void us_kick(struct us *us)
{
	if (!event_pending(us->notify_ev, EV_TIMEOUT, NULL))
		event_active(us->notify_ev, EV_TIMEOUT, 0);
}

static void us_relink(struct us_reqid *r);

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
static void us_expire(struct us_sa *sa, bool hard, enum dp_expire_reason why)
{
	uint8_t bit = hard ? US_PEND_HARD : US_PEND_SOFT;

	if (sa->fired & bit)
		return;
	sa->fired |= bit;
	sa->pending |= bit;
	if (hard) {
		sa->hard_why = why;
		US_STORE(sa->dead, true);
		us_relink(sa->r);
	} else {
		sa->soft_why = why;
	}
	us_pending_add(sa->us, sa);
	us_kick(sa->us);
}

/*
 * A lifetime a packet reached, seen on worker w (RFC 4301 4.4.2.1): at once
 * on the loop; from a worker thread once per SA and kind through the
 * mailbox, a hard expiry stopping the SA's traffic at once (dead).
 */
static void us_expire_post(struct us_worker *w, struct us_sa *sa, bool hard,
                           enum dp_expire_reason why)
{
	struct us *us = w->us;
	uint8_t bit = hard ? US_PEND_HARD : US_PEND_SOFT;
	bool wake;

	if (!us->threaded) {
		us_expire(sa, hard, why);
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
static void us_mbox_del(struct us_sa *sa)
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
__attribute__((format(printf, 3, 4))) static void
us_wlog(struct us_worker *w, enum dp_log_level level, const char *fmt, ...)
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

/*
 * The loop empties the mailbox: expiries are applied (us_expire: make-
 * before-break falls back to the next SA) under the write lock, and join
 * the events notify_ev delivers; acquires likewise; log lines are logged.
 */
static void us_mbox_cb(evutil_socket_t fd, short what, void *arg)
{
	struct us *us = arg;
	struct dp_acquire acq[US_MAX_ACQUIRE];
	struct {
		enum dp_log_level level;
		char msg[sizeof(us->mlog[0].msg)];
	} logs[US_MBOX_LOGS];
	unsigned nacq, nlogs, lost;
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
				us_expire(sa, hard, sa->mwhy[hard]);
	}
	nacq = us->nmacq;
	memcpy(acq, us->macq, nacq * sizeof(acq[0]));
	nlogs = us->nmlog;
	memcpy(logs, us->mlog, nlogs * sizeof(logs[0]));
	lost = us->mlog_lost;
	us->nmacq = us->nmlog = us->mlog_lost = 0;
	pthread_mutex_unlock(&us->mbox_lock);
	us_unlock(us);
	for (unsigned i = 0; i < nacq && us->nacq < US_MAX_ACQUIRE; i++) {
		us->acq[us->nacq++] = acq[i];
		us_kick(us);
	}
	for (unsigned i = 0; i < nlogs; i++)
		dp_log(us->dp, logs[i].level, "%s", logs[i].msg);
	if (lost)
		dp_log(us->dp, DP_LOG_WARN, "dp: %u log lines of the packet workers not shown",
		       lost);
}

/* RFC 4303 3.4.2: an unknown SPI is an auditable event; limit what it costs. */
static void us_report_unknown(struct us *us, uint32_t spi, const struct sockaddr_storage *from)
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

/* RFC 4301 5.1.1: one per policy per second (the first thread to see the
 * new second wins the compare-and-swap). */
static void us_acquire(struct us_worker *w, struct us_policy *p, const struct dp_flow *f)
{
	struct us *us = w->us;
	uint64_t last = US_LOAD(p->last_acquire);
	struct dp_acquire a = {.reqid = p->p.reqid};

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

/* ---- SAD ---- */

static uint64_t us_sa_key(uint32_t reqid, enum dp_dir dir, uint32_t spi)
{
	return (uint64_t)reqid << 33 ^ (uint64_t)(dir == DP_DIR_OUT) << 32 ^ spi;
}

static struct us_sa *us_sa_find(struct us *us, uint32_t reqid, enum dp_dir dir, uint32_t spi)
{
	uint64_t key = us_sa_key(reqid, dir, spi);

	for (struct dp_hnode *n = dp_htab_first(&us->sa_by_id, key); n; n = dp_htab_next(n, key)) {
		struct us_sa *sa = dp_hentry(n, struct us_sa, h_id);
		if (sa->reqid == reqid && sa->dir == dir && sa->spi == spi)
			return sa;
	}
	return NULL;
}

/* RFC 4301 4.1: our inbound SPIs are unique, the SPI alone names the SA. */
static struct us_sa *us_sa_in(struct us *us, uint32_t spi)
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

/* Point r's policies at its newest live outbound SA (make-before-break):
 * O(SAs and policies of this reqid), whatever else is installed. */
static void us_relink(struct us_reqid *r)
{
	struct us_sa *best = NULL;

	for (struct us_sa *sa = r->sas; sa; sa = sa->rnext) {
		dp_hash_steps++;
		if (sa->dir == DP_DIR_OUT && !sa->dead && (!best || sa->serial > best->serial))
			best = sa;
	}
	for (struct us_policy *p = r->pols; p; p = p->rnext) {
		dp_hash_steps++;
		p->sa = best;
	}
}

static void us_soft_cb(evutil_socket_t fd, short what, void *arg)
{
	struct us_sa *sa = arg;

	us_wrlock(sa->us);
	us_expire(sa, false, DP_EXPIRE_TIME);
	us_unlock(sa->us);
}

static void us_hard_cb(evutil_socket_t fd, short what, void *arg)
{
	struct us_sa *sa = arg;

	us_wrlock(sa->us);
	us_expire(sa, true, DP_EXPIRE_TIME);
	us_unlock(sa->us);
}

static int us_sa_timer(struct us_sa *sa, uint32_t secs, struct event **ev, event_callback_fn fn)
{
	struct timeval tv = {.tv_sec = secs};

	if (!secs)
		return 0;
	*ev = evtimer_new(sa->us->base, fn, sa);
	if (!*ev || evtimer_add(*ev, &tv))
		return -1;
	return 0;
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
	if (sa->soft_ev)
		event_free(sa->soft_ev);
	if (sa->hard_ev)
		event_free(sa->hard_ev);
	dp_esp_clear(&sa->esp);
	pthread_mutex_destroy(&sa->mu);
	free(sa);
}

/* An SA with its selectors, allocated to size (most have one a side). */
static struct us_sa *us_sa_new(struct us *us, const struct dp_sa *p)
{
	size_t nts = p->n_ts_local + p->n_ts_remote;
	struct us_sa *sa = calloc(1, sizeof(*sa) + nts * sizeof(sa->ts[0]));

	if (!sa)
		return NULL;
	sa->us = us;
	if (pthread_mutex_init(&sa->mu, NULL)) {
		free(sa);
		errno = ENOMEM;
		return NULL;
	}
	/* RFC 4303 3.4.3: the window is the receiver's choice. With workers
	 * a margin for reordering on the way (the two-tunnel bench lost 1-7
	 * datagrams per 10 s at 64 before us_handover existed). */
	struct dp_sa q = *p;
	int rc;

	if (us->threaded && q.dir == DP_DIR_IN && q.replay_window == 0)
		q.replay_window = US_REPLAY_THREADED;
	rc = dp_esp_init(&sa->esp, &q);
	crypto_wipe(&q, sizeof(q)); /* the keys */
	if (rc) {
		dp_esp_clear(&sa->esp);
		pthread_mutex_destroy(&sa->mu);
		free(sa);
		errno = EINVAL;
		return NULL;
	}
	sa->reqid = p->reqid;
	sa->spi = p->spi;
	sa->dir = p->dir;
	sa->src = p->src;
	sa->dst = p->dst;
	sa->life = p->life;
	sa->ts_local = sa->ts;
	sa->ts_remote = sa->ts + p->n_ts_local;
	memcpy(sa->ts_local, p->ts_local, p->n_ts_local * sizeof(sa->ts[0]));
	memcpy(sa->ts_remote, p->ts_remote, p->n_ts_remote * sizeof(sa->ts[0]));
	sa->n_local = p->n_ts_local;
	sa->n_remote = p->n_ts_remote;
	if (us_sa_timer(sa, p->life.soft_secs, &sa->soft_ev, us_soft_cb) ||
	    us_sa_timer(sa, p->life.hard_secs, &sa->hard_ev, us_hard_cb)) {
		us_sa_free(sa);
		errno = ENOMEM;
		return NULL;
	}
	return sa;
}

/*
 * The worker that will work a new SA of reqid r (decrypt an inbound one,
 * encrypt an outbound one): the one of r's other SAs (both directions of a
 * Child SA and its rekeys stay on one thread and, through the TUN flow
 * table, one queue), else the one with the fewest inbound SAs, so that two
 * Child SAs added one after the other are worked on two threads.
 */
static unsigned us_pick_worker(struct us *us, const struct us_reqid *r)
{
	unsigned best = 0;

	if (r->sas)
		return r->sas->worker;
	for (unsigned i = 1; i < us->nw; i++)
		if (us->w[i].sas < us->w[best].sas)
			best = i;
	return best;
}

static int us_sa_add(void *be, const struct dp_sa *p)
{
	struct us *us = be;
	struct us_reqid *r;
	struct us_sa *sa;

	if (us_sa_check(us, p))
		return -1;
	r = us_reqid_get(us, p->reqid);
	if (!r)
		return -1;
	sa = us_sa_new(us, p);
	if (!sa) {
		int saved = errno;
		us_reqid_put(us, r);
		errno = saved;
		return -1;
	}
	sa->serial = ++us->serial;
	sa->worker = us_pick_worker(us, r);
	us_wrlock(us);
	sa->r = r;
	sa->rnext = r->sas;
	if (r->sas)
		r->sas->rprev = &sa->rnext;
	sa->rprev = &r->sas;
	r->sas = sa;
	dp_htab_add(&us->sa_by_id, &sa->h_id, us_sa_key(sa->reqid, sa->dir, sa->spi));
	if (sa->dir == DP_DIR_IN) {
		dp_htab_add(&us->sa_in, &sa->h_in, sa->spi);
		us->w[sa->worker].sas++;
	}
	us_relink(r);
	us_unlock(us);
	dp_log(us->dp, DP_LOG_INFO, "dp: SA added reqid=%u dir=%s spi=0x%08x", sa->reqid,
	       us_dir_name(sa->dir), sa->spi);
	return 0;
}

static int us_sa_del(void *be, uint32_t reqid, enum dp_dir dir, uint32_t spi)
{
	struct us *us = be;
	struct us_sa *sa = us_sa_find(us, reqid, dir, spi);
	struct us_reqid *r;

	if (!sa) {
		errno = ENOENT;
		return -1;
	}
	r = sa->r;
	us_wrlock(us);
	dp_htab_del(&us->sa_by_id, &sa->h_id);
	if (sa->dir == DP_DIR_IN) {
		dp_htab_del(&us->sa_in, &sa->h_in);
		us->w[sa->worker].sas--;
	}
	*sa->rprev = sa->rnext;
	if (sa->rnext)
		sa->rnext->rprev = sa->rprev;
	us_pending_del(us, sa);
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
	struct sockaddr_storage l = *local, r = *remote;
	struct us_reqid *rq = us_reqid_find(us, reqid);
	struct us_sa *first = rq ? rq->sas : NULL;

	if (!us_addr_ok(local, remote)) {
		errno = EINVAL;
		return -1;
	}
	if (!first) {
		errno = ENOENT;
		return -1;
	}
	/* Every SA here is UDP-encapsulated: never port 500 (RFC 3948 2.1). */
	if (first->dir == DP_DIR_OUT)
		dp_encap_ports(us->dp, reqid, &l, &r, &first->src, &first->dst);
	else
		dp_encap_ports(us->dp, reqid, &l, &r, &first->dst, &first->src);
	/* RFC 4555 3.5: all SAs of the Child SA move together. Only the outer
	 * addresses change: sequence numbers and the replay window stay with
	 * the SA (RFC 4303 3.3.3, 3.4.3), so nothing in flight is refused. */
	us_wrlock(us);
	for (struct us_sa *sa = first; sa; sa = sa->rnext) {
		sa->src = sa->dir == DP_DIR_OUT ? l : r;
		sa->dst = sa->dir == DP_DIR_OUT ? r : l;
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
	*out = sa->ctr;
	out->seq = dir == DP_DIR_OUT ? sa->esp.seq : sa->esp.replay.top;
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

static void us_route_unref(struct us *us, const struct dp_prefix *pfx)
{
	struct us_route *r = us_route_find(us, pfx);

	if (!r || --r->refs)
		return;
	if (r->owned && dp_nl_route(us->nl, false, &r->pfx, us->ifindex, us->table, NULL))
		dp_log(us->dp, DP_LOG_WARN, "dp: deleting a route failed: %s", strerror(errno));
	dp_htab_del(&us->routes, &r->h);
	free(r);
}

/* One RTM_NEWROUTE round trip for a prefix not routed yet; never a dump. */
static int us_route_ref(struct us *us, const struct dp_prefix *pfx, const uint8_t *src)
{
	struct us_route *r = us_route_find(us, pfx);

	if (r) {
		r->refs++;
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -1;
	r->pfx = *pfx;
	r->refs = 1;
	r->owned = !us->skip_routes;
	if (r->owned && dp_nl_route(us->nl, true, pfx, us->ifindex, us->table, src)) {
		if (errno != EEXIST) {
			free(r);
			return -1;
		}
		r->owned = false; /* someone else's route: leave it alone */
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
	s->reqid = p->reqid;
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

	if (!op || op->p.reqid != p->reqid) {
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

/* ---- packets ---- */

/* Count a packet against the SA and enforce its lifetime (RFC 4301 4.4.2.1). */
static void us_count(struct us_worker *w, struct us_sa *sa, size_t bytes)
{
	const struct dp_lifetime *l = &sa->life;
	struct dp_sa_counters *c = &sa->ctr;

	c->bytes += bytes;
	c->packets++;
	c->last_used = w->now;
	if ((l->hard_bytes && c->bytes >= l->hard_bytes) ||
	    (l->hard_packets && c->packets >= l->hard_packets)) {
		us_expire_post(w, sa, true,
		               l->hard_bytes && c->bytes >= l->hard_bytes ? DP_EXPIRE_BYTES
		                                                          : DP_EXPIRE_PACKETS);
	} else if (l->soft_bytes && c->bytes >= l->soft_bytes) {
		us_expire_post(w, sa, false, DP_EXPIRE_BYTES);
	} else if (l->soft_packets && c->packets >= l->soft_packets) {
		us_expire_post(w, sa, false, DP_EXPIRE_PACKETS);
	}
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
static struct us_policy *us_spd_lookup(struct us *us, const struct dp_flow *f)
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

/* Fill message slot i to send b to the SA's peer from the SA's source address. */
static void us_msg(struct us_worker *w, size_t i, struct dp_buf *b, struct us_sa *sa, int fd)
{
	struct msghdr *m = &w->msgs[i].msg_hdr;
	static const uint8_t any6[16];
	struct cmsghdr *cm = (struct cmsghdr *)w->cmsg[i];

	w->iov[i] = (struct iovec){dp_buf_data(b), b->len};
	w->msg_fd[i] = fd;
	w->msg_sa[i] = sa;
	w->msg_dst[i] = sa->dst;
	m->msg_name = &w->msg_dst[i];
	m->msg_namelen =
	    sa->dst.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	m->msg_iov = &w->iov[i];
	m->msg_iovlen = 1;
	m->msg_control = NULL;
	m->msg_controllen = 0;
	if (sa->src.ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)&sa->src;
		if (s->sin_addr.s_addr == INADDR_ANY)
			return;
		m->msg_control = cm;
		m->msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
		struct in_pktinfo pi = {.ipi_spec_dst = s->sin_addr};
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&sa->src;
		if (!memcmp(s->sin6_addr.s6_addr, any6, 16))
			return;
		m->msg_control = cm;
		m->msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
		struct in6_pktinfo pi = {.ipi6_addr = s->sin6_addr};
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	}
}

/*
 * The kernel refused an ESP datagram: ENETUNREACH, or EADDRNOTAVAIL or
 * EINVAL once the SA's source address is gone (RFC 4555 3.5: until the
 * SA moves). Counted per SA and in drop_send; one line per SA per second
 * at most, and US_SEND_LOGS a second in all, each with the count since.
 */
static void us_send_fail(struct us_worker *w, struct us_sa *sa, int err)
{
	char dst[INET6_ADDRSTRLEN];
	const void *a = sa->dst.ss_family == AF_INET
	                    ? (const void *)&((const struct sockaddr_in *)&sa->dst)->sin_addr
	                    : (const void *)&((const struct sockaddr_in6 *)&sa->dst)->sin6_addr;
	unsigned long long unlogged, all;

	US_ADD(w->st->drop_send, 1);
	us_sa_lock(sa);
	sa->ctr.send_drops++;
	sa->send_unlogged++;
	if (w->send_log_sec != w->now) {
		w->send_log_sec = w->now;
		w->send_logs = 0;
	}
	if (sa->send_log_sec == w->now || w->send_logs >= US_SEND_LOGS) {
		us_sa_unlock(sa);
		return;
	}
	w->send_logs++;
	sa->send_log_sec = w->now;
	unlogged = sa->send_unlogged;
	all = sa->ctr.send_drops;
	sa->send_unlogged = 0;
	us_sa_unlock(sa);
	if (!inet_ntop(sa->dst.ss_family, a, dst, sizeof(dst)))
		snprintf(dst, sizeof(dst), "?");
	us_wlog(w, DP_LOG_WARN,
	        "dp: reqid=%u spi=0x%08x: ESP to %s not sent: %s (%llu dropped, %llu in all)",
	        sa->reqid, sa->spi, dst, strerror(err), unlogged, all);
}

/*
 * A packet read on worker w for an outbound SA another worker (o) owns goes
 * to o to be encrypted: one thread numbers and sends each SA's datagrams,
 * so they leave in sequence-number order (RFC 4303 3.3.3; a peer's replay
 * window, 3.4.3, may be as small as 32). Only until the kernel's TUN flow
 * table has learnt the flow (from o's writes) or for flows with no inbound
 * packets; a full queue drops the packet (drop_io).
 */
static void us_handover(struct us_worker *w, struct us_worker *o, const struct dp_buf *b)
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

/* RFC 4301 5.1: SPD lookup, SA, ESP; 0 when slot i is ready to send. */
static int us_out_one(struct us_worker *w, struct dp_buf *b, size_t i)
{
	struct us *us = w->us;
	struct dp_stats *st = w->st;
	enum dp_esp_result rc;
	struct dp_flow f;
	struct us_policy *p;
	struct us_sa *sa;
	size_t inner;
	int fd;

	if (dp_flow_parse(dp_buf_data(b), b->len, &f))
		return US_ADD(st->drop_malformed, 1), -1;
	b->len = inner = f.iplen;
	p = us_spd_lookup(us, &f);
	if (!p)
		return US_ADD(st->drop_no_policy, 1), -1;
	sa = p->sa;
	if (!sa) {
		us_acquire(w, p, &f);
		return US_ADD(st->drop_no_sa, 1), -1;
	}
	if (US_LOAD(sa->dead)) /* a worker's hard expiry the loop has not relinked yet */
		return US_ADD(st->drop_expired, 1), -1;
	if (us->threaded && sa->worker != w->id && !w->in_hq)
		return us_handover(w, &us->w[sa->worker], b), -1;
	fd = sa->dst.ss_family == AF_INET ? us->udp4 : us->udp6;
	if (fd < 0) {
		us_send_fail(w, sa, EAFNOSUPPORT); /* no NAT-T socket of that family */
		return -1;
	}
	/* RFC 4303 3.3.3: one counter per SA, whichever thread sends. */
	us_sa_lock(sa);
	rc = dp_esp_encap(&sa->esp, b, f.family == AF_INET ? DP_ESP_NH_IPV4 : DP_ESP_NH_IPV6);
	if (rc == DP_ESP_OK) {
		if (!sa->esp.esn && sa->esp.seq >= US_SEQ_SOFT)
			us_expire_post(w, sa, false, DP_EXPIRE_SEQ);
		us_count(w, sa, inner);
	}
	us_sa_unlock(sa);
	switch (rc) {
	case DP_ESP_OK:
		break;
	case DP_ESP_SEQ_OVERFLOW:
		us_expire_post(w, sa, true, DP_EXPIRE_SEQ);
		return US_ADD(st->drop_expired, 1), -1;
	default:
		return US_ADD(st->drop_io, 1), -1;
	}
	US_ADD(st->tx_packets, 1);
	US_ADD(st->tx_bytes, inner);
	us_msg(w, i, b, sa, fd);
	return 0;
}

/* Slots a and b go out through the same socket, to the same peer, from the same address. */
static bool us_same_path(const struct us_worker *w, size_t a, size_t b)
{
	const struct msghdr *x = &w->msgs[a].msg_hdr, *y = &w->msgs[b].msg_hdr;

	return w->msg_fd[a] == w->msg_fd[b] && x->msg_namelen == y->msg_namelen &&
	       !memcmp(x->msg_name, y->msg_name, x->msg_namelen) &&
	       x->msg_controllen == y->msg_controllen &&
	       (!x->msg_controllen || !memcmp(x->msg_control, y->msg_control, x->msg_controllen));
}

/*
 * The end of the run of slots from i that one UDP GSO send can carry
 * (Linux UDP_SEGMENT): same path, equal sizes but for a shorter last one.
 */
static size_t us_gso_run(const struct us_worker *w, size_t i, size_t n)
{
	size_t seg = w->iov[i].iov_len, total = seg, j = i + 1;

	while (j < n && us_same_path(w, i, j) && w->iov[j].iov_len <= seg &&
	       total + w->iov[j].iov_len <= US_GSO_MAX_BYTES) {
		total += w->iov[j].iov_len;
		if (w->iov[j++].iov_len < seg)
			break;
	}
	return j;
}

/*
 * Send slots i..j-1 as one UDP GSO datagram train (the kernel cuts it into
 * the same datagrams; RFC 3948 framing is unchanged). 1 if sent, 0 if the
 * caller should send them one by one, -1 on other errors.
 */
static int us_send_gso(struct us_worker *w, size_t i, size_t j)
{
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t))];
	} ctl;
	struct msghdr m = w->msgs[i].msg_hdr;
	uint16_t seg = (uint16_t)w->iov[i].iov_len;
	struct cmsghdr *cm;

	memset(&ctl, 0, sizeof(ctl));
	if (m.msg_controllen)
		memcpy(ctl.b, m.msg_control, m.msg_controllen);
	cm = (struct cmsghdr *)(ctl.b + m.msg_controllen);
	cm->cmsg_level = SOL_UDP;
	cm->cmsg_type = UDP_SEGMENT;
	cm->cmsg_len = CMSG_LEN(sizeof(seg));
	memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
	m.msg_control = ctl.b;
	m.msg_controllen += CMSG_SPACE(sizeof(seg));
	m.msg_iov = &w->iov[i];
	m.msg_iovlen = j - i;
	while (sendmsg(w->msg_fd[i], &m, 0) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EMSGSIZE || errno == EINVAL) /* a datagram over the path MTU */
			return 0;
		if (errno == EIO || errno == ENOPROTOOPT || errno == EOPNOTSUPP) {
			w->no_gso = true; /* e.g. no checksum offload on the route's device */
			return 0;
		}
		return -1;
	}
	return 1;
}

/* Send slots i..j-1 (one socket) with sendmmsg, skipping any that fail. */
static void us_send_each(struct us_worker *w, size_t i, size_t j)
{
	while (i < j) {
		int r = sendmmsg(w->msg_fd[i], &w->msgs[i], (unsigned)(j - i), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			us_send_fail(w, w->msg_sa[i], r < 0 ? errno : EIO); /* and skip it */
			i++;
			continue;
		}
		i += (size_t)r;
	}
}

/*
 * Send n prepared messages: a run of datagrams on one path as one UDP GSO
 * train, the others with sendmmsg (up to the next train or socket change).
 */
static void us_flush(struct us_worker *w, size_t n)
{
	size_t i = 0, j;

	while (i < n) {
		j = w->no_gso ? i + 1 : us_gso_run(w, i, n);
		if (j - i > 1) {
			int rc = us_send_gso(w, i, j), err = errno;
			for (size_t k = i; rc < 0 && k < j; k++)
				us_send_fail(w, w->msg_sa[k], err);
			if (rc != 0) {
				i = j;
				continue;
			}
		}
		j = i + 1;
		while (j < n && w->msg_fd[j] == w->msg_fd[i] &&
		       (w->no_gso || us_gso_run(w, j, n) == j + 1))
			j++;
		us_send_each(w, i, j);
		i = j;
	}
}

/*
 * Cut one TUN read (w->tbuf, r octets) into IP packets (segmentation of a
 * TSO/USO super-packet, or the packet itself with its checksum completed)
 * and encapsulate each into the next slot from n, flushing when the slots
 * run out; returns the slots in use.
 */
static size_t us_out_read(struct us_worker *w, size_t r, size_t n)
{
	struct dp_vnet h = {0};
	const uint8_t *pkt = w->tbuf;
	struct dp_gso g;

	if (w->us->vnet) {
		if (r < DP_VNET_HDR_LEN)
			return US_ADD(w->st->drop_malformed, 1), n;
		dp_vnet_get(w->tbuf, &h);
		pkt += DP_VNET_HDR_LEN;
		r -= DP_VNET_HDR_LEN;
	}
	if (dp_gso_start(&g, &h, pkt, r))
		return US_ADD(w->st->drop_malformed, 1), n;
	for (;;) {
		struct dp_buf *b;
		size_t len;
		int rc;

		if (n == US_BATCH) {
			us_flush(w, n);
			n = 0;
		}
		b = &w->bufs[n];
		b->off = US_HEADROOM;
		b->len = 0;
		rc = dp_gso_next(&g, dp_buf_data(b), b->cap - b->off - DP_ESP_MAX_TAILROOM, &len);
		if (rc <= 0) {
			if (rc < 0)
				US_ADD(w->st->drop_malformed, 1);
			return n;
		}
		b->len = len;
		if (us_out_one(w, b, n) == 0)
			n++;
	}
}

static void us_tun_cb(evutil_socket_t fd, short what, void *arg)
{
	struct us_worker *w = arg;
	size_t n = 0;

	w->now = us_now();
	us_rdlock(w->us); /* until the batch is sent: msg_sa[] borrow SAs */
	for (int reads = 0; reads < US_TUN_READS; reads++) {
		ssize_t r = read(w->tun_fd, w->tbuf, US_TBUF_CAP);
		if (r <= 0) {
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				US_ADD(w->st->drop_io, 1);
			break;
		}
		n = us_out_read(w, (size_t)r, n);
	}
	us_flush(w, n);
	us_unlock(w->us);
}

/*
 * Write what the coalescer holds to TUN (one packet, or a TCP super-packet).
 * Should the kernel refuse a super-packet (EINVAL: a virtio-net header it
 * does not take), its segments are counted as lost and coalescing stops.
 */
static void us_gro_flush(struct us_worker *w)
{
	unsigned nseg = w->gro.nseg;
	size_t n = dp_gro_finish(&w->gro);

	if (!n || write(w->tun_fd, w->gbuf, n) == (ssize_t)n)
		return;
	US_ADD(w->st->drop_io, nseg);
	if (nseg > 1 && errno == EINVAL && !w->no_gro) {
		w->no_gro = true;
		us_wlog(w, DP_LOG_WARN,
		        "dp: TUN refused a coalesced TCP packet (%s): "
		        "writing packets one by one from now on",
		        strerror(errno));
	}
}

static void us_rx_cb(evutil_socket_t fd, short what, void *arg)
{
	us_gro_flush(arg);
}

/*
 * Hand an inbound inner packet to TUN: with the virtio-net header, TCP
 * segments of one flow are coalesced until the burst ends (rx_ev, run by
 * the loop after the input callbacks) and written as one; everything else
 * is written at once, after what is held, so nothing is reordered.
 */
static void us_tun_write(struct us_worker *w, const uint8_t *p, size_t len)
{
	uint8_t hdr[DP_VNET_HDR_LEN];
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)p, len}};
	int rc;

	if (!w->us->vnet) {
		if (write(w->tun_fd, p, len) != (ssize_t)len)
			US_ADD(w->st->drop_io, 1);
		return;
	}
	rc = w->no_gro ? -1 : dp_gro_add(&w->gro, p, len);
	if (rc == 0) {
		us_gro_flush(w);
		rc = dp_gro_add(&w->gro, p, len);
	}
	if (rc > 0) {
		/* A worker writes what is held when its batch ends (us_ring_cb). */
		if (w->rx_ev && !event_pending(w->rx_ev, EV_TIMEOUT, NULL))
			event_active(w->rx_ev, EV_TIMEOUT, 0);
		return;
	}
	us_gro_flush(w);
	/* Authenticated by ESP: the kernel need not verify the inner checksums. */
	dp_vnet_put(hdr, &(struct dp_vnet){.flags = DP_VNET_F_DATA_VALID});
	if (writev(w->tun_fd, iov, 2) != (ssize_t)(sizeof(hdr) + len))
		US_ADD(w->st->drop_io, 1);
}

/* RFC 4301 5.2 step 4: the inner packet must match the SA's selectors. */
static bool us_sa_selects(const struct us_sa *sa, const struct dp_flow *f)
{
	bool src = sa->n_remote == 0, dst = sa->n_local == 0; /* none = any */

	for (size_t i = 0; i < sa->n_remote && !src; i++)
		src = dp_ts_match_flow(&sa->ts_remote[i], f, true);
	for (size_t i = 0; i < sa->n_local && !dst; i++)
		dst = dp_ts_match_flow(&sa->ts_local[i], f, false);
	return src && dst;
}

/* An authentic inner packet of sa (under its lock): selectors (RFC 4301 5.2)
 * and counters; true when it is to be written to TUN. */
static bool us_deliver(struct us_worker *w, struct us_sa *sa, struct dp_buf *b, uint8_t nh)
{
	struct dp_stats *st = w->st;
	struct dp_flow f;

	if ((nh != DP_ESP_NH_IPV4 && nh != DP_ESP_NH_IPV6) ||
	    dp_flow_parse(dp_buf_data(b), b->len, &f) ||
	    (nh == DP_ESP_NH_IPV4) != (f.family == AF_INET)) {
		US_ADD(st->drop_malformed, 1);
		return false;
	}
	if (!us_sa_selects(sa, &f)) {
		sa->ctr.selector_drops++;
		US_ADD(st->drop_selector, 1);
		return false;
	}
	b->len = f.iplen; /* drop TFC padding (RFC 4303 2.4) */
	us_count(w, sa, b->len);
	US_ADD(st->rx_packets, 1);
	US_ADD(st->rx_bytes, b->len);
	return true;
}

/* RFC 4301 5.2: one ESP datagram on worker w (the loop's when single-threaded). */
static void us_in_one(struct us_worker *w, uint8_t *buf, size_t len,
                      const struct sockaddr_storage *from)
{
	struct us *us = w->us;
	struct dp_stats *st = w->st;
	struct dp_buf b = {.base = buf, .cap = len, .off = 0, .len = len};
	enum dp_esp_result rc;
	bool deliver = false;
	struct us_sa *sa;
	uint32_t spi;
	uint64_t seq;
	uint8_t nh;

	if (dp_esp_peek_spi(buf, len, &spi)) {
		US_ADD(st->drop_malformed, 1);
		return;
	}
	sa = us_sa_in(us, spi);
	if (!sa) { /* threaded: deleted since us_dispatch saw it */
		US_ADD(st->drop_unknown_spi, 1);
		if (!us->threaded)
			us_report_unknown(us, spi, from);
		return;
	}
	if (US_LOAD(sa->dead)) {
		US_ADD(st->drop_expired, 1);
		return;
	}
	us_sa_lock(sa); /* RFC 4303 3.4.3: check, verify, update as one */
	rc = dp_esp_decap(&sa->esp, &b, &nh, &seq);
	switch (rc) {
	case DP_ESP_OK:
		deliver = us_deliver(w, sa, &b, nh);
		break;
	case DP_ESP_REPLAY:
		sa->ctr.replay_drops++;
		US_ADD(st->drop_replay, 1);
		break;
	case DP_ESP_AUTH:
		sa->ctr.auth_drops++;
		US_ADD(st->drop_auth, 1);
		break;
	case DP_ESP_DUMMY:
		US_ADD(st->dummy_packets, 1);
		break;
	default:
		US_ADD(st->drop_malformed, 1);
		break;
	}
	us_sa_unlock(sa);
	if (deliver)
		us_tun_write(w, dp_buf_data(&b), b.len);
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
static void us_dispatch(struct us *us, const uint8_t *buf, size_t len,
                        const struct sockaddr_storage *from)
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

static void us_input_udp(void *be, uint8_t *buf, size_t len, const struct sockaddr_storage *from,
                         const struct sockaddr_storage *to)
{
	struct us *us = be;

	us->now = us_now();
	if (us->threaded) {
		us_dispatch(us, buf, len, from);
		return;
	}
	us->w[0].now = us->now;
	us_in_one(&us->w[0], buf, len, from);
}

/* ---- dp_debug.h ---- */

int dp_debug_sa_in(struct dp *dp, uint32_t spi, uint32_t *reqid)
{
	struct us *us = dp_backend_state(dp, &dp_userspace_ops);
	struct us_sa *sa;

	if (!us) {
		errno = EOPNOTSUPP;
		return -1;
	}
	sa = us_sa_in(us, spi);
	if (!sa) {
		errno = ENOENT;
		return -1;
	}
	*reqid = sa->reqid;
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
	*reqid = p->p.reqid;
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

static void us_worker_stop(struct us_worker *w)
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

static void us_worker_free(struct us_worker *w)
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
	if (w->hq_init)
		pthread_mutex_destroy(&w->hq_mu);
}

static void us_destroy(void *be)
{
	struct us *us = be;

	if (!us)
		return;
	for (unsigned i = 0; us->w && i < us->nw; i++)
		us_worker_stop(&us->w[i]);
	/* Everything hangs off a reqid record; the routes go with the device. */
	for (size_t i = 0; us->reqids.b && i < dp_htab_size(&us->reqids); i++) {
		struct dp_hnode *n = dp_htab_bucket(&us->reqids, i);
		while (n) {
			struct us_reqid *r = dp_hentry(n, struct us_reqid, h);
			n = n->next;
			while (r->pols) {
				struct us_policy *p = r->pols;
				r->pols = p->rnext;
				us_policy_unroute(us, &p->p.ts_remote);
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
	dp_htab_fini(&us->sa_by_id);
	dp_htab_fini(&us->sa_in);
	dp_htab_fini(&us->reqids);
	dp_htab_fini(&us->pol_by_sel);
	dp_htab_fini(&us->pol_by_pfx);
	dp_htab_fini(&us->routes);
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

/* Worker i's buffers and events (on the loop's base when single-threaded). */
static int us_worker_init(struct us *us, unsigned i)
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

/* Start the worker threads, with every signal blocked (the loop takes them). */
static int us_workers_start(struct us *us)
{
	sigset_t all, old;
	int rc = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < us->nw && !rc; i++) {
		char name[16];
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
static int us_threads_init(struct us *us)
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
	if (dp_htab_init(&us->sa_by_id) || dp_htab_init(&us->sa_in) || dp_htab_init(&us->reqids) ||
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
	if (!us->notify_ev || (us->threaded && us_threads_init(us)))
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
    .stats = us_stats,
};
