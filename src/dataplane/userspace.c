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
 * One thread, one libevent loop; packets are batched and never allocate:
 * the TUN device hands over TCP/UDP super-packets of up to 64 KiB (TSO/USO
 * with a virtio-net header, gso.c) that are cut into MTU-sized packets,
 * each encrypted, and sent as UDP GSO trains; inbound TCP segments of one
 * flow are coalesced into one write to TUN. Events for the daemon are
 * queued and delivered from a separate loop callback, never re-entrantly.
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
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
	bool dead;
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
	uint64_t last_acquire;
};

#define US_PLENS 129 /* prefix lengths 0..128 */

struct us_unknown {
	uint32_t spi;
	struct sockaddr_storage from;
};

struct us {
	struct dp *dp;
	struct dp_common *c;
	struct event_base *base;
	int tun_fd;
	unsigned ifindex, mtu;
	uint32_t table;
	struct dp_nl *nl;
	struct event *tun_ev, *notify_ev;
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
	bool vnet;           /* a virtio-net header on every TUN read and write */
	bool no_gro;         /* the kernel refused a coalesced write: no more of them */
	unsigned offloads;   /* TUN_F_* the kernel granted */
	uint8_t *tbuf;       /* owned: one TUN read, US_TBUF_CAP */
	uint8_t *gbuf;       /* owned: the inbound super-packet, US_TBUF_CAP */
	struct dp_gro gro;   /* coalesces inbound TCP segments in gbuf */
	struct event *rx_ev; /* writes what gro holds after a burst of input */
	/* outbound batch */
	uint8_t *slab; /* owned: US_BATCH buffers of seg_cap */
	size_t seg_cap;
	struct dp_buf bufs[US_BATCH];
	struct mmsghdr msgs[US_BATCH];
	struct iovec iov[US_BATCH];
	int msg_fd[US_BATCH];
	struct us_sa *msg_sa[US_BATCH]; /* borrowed for one us_tun_cb */
	struct sockaddr_storage msg_dst[US_BATCH];
	uint8_t cmsg[US_BATCH][CMSG_SPACE(sizeof(struct in6_pktinfo))];
	bool no_gso;      /* UDP_SEGMENT failed once: send datagram by datagram */
	bool skip_routes; /* dp_debug_skip_routes */
	uint64_t send_log_sec;
	unsigned send_logs; /* lines in send_log_sec */
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
		sa->dead = true;
		us_relink(sa->r);
	} else {
		sa->soft_why = why;
	}
	us_pending_add(sa->us, sa);
	us_kick(sa->us);
}

struct us_expiry {
	uint32_t reqid, spi;
	enum dp_dir dir;
	bool hard;
	enum dp_expire_reason why;
};

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

static void us_acquire(struct us *us, struct us_policy *p, const struct dp_flow *f)
{
	struct dp_acquire *a;

	if (p->last_acquire == us->now || us->nacq >= US_MAX_ACQUIRE)
		return;
	p->last_acquire = us->now;
	a = &us->acq[us->nacq++];
	a->reqid = p->p.reqid;
	dp_ts_from_flow(&a->src, f, true);
	dp_ts_from_flow(&a->dst, f, false);
	us_kick(us);
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
	us_expire(arg, false, DP_EXPIRE_TIME);
}

static void us_hard_cb(evutil_socket_t fd, short what, void *arg)
{
	us_expire(arg, true, DP_EXPIRE_TIME);
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
	if (dp_esp_init(&sa->esp, p)) {
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
	sa->r = r;
	sa->rnext = r->sas;
	if (r->sas)
		r->sas->rprev = &sa->rnext;
	sa->rprev = &r->sas;
	r->sas = sa;
	dp_htab_add(&us->sa_by_id, &sa->h_id, us_sa_key(sa->reqid, sa->dir, sa->spi));
	if (sa->dir == DP_DIR_IN)
		dp_htab_add(&us->sa_in, &sa->h_in, sa->spi);
	us_relink(r);
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
	dp_htab_del(&us->sa_by_id, &sa->h_id);
	if (sa->dir == DP_DIR_IN)
		dp_htab_del(&us->sa_in, &sa->h_in);
	*sa->rprev = sa->rnext;
	if (sa->rnext)
		sa->rnext->rprev = sa->rprev;
	us_pending_del(us, sa);
	us_relink(r);
	us_reqid_put(us, r);
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
	for (struct us_sa *sa = first; sa; sa = sa->rnext) {
		sa->src = sa->dir == DP_DIR_OUT ? l : r;
		sa->dst = sa->dir == DP_DIR_OUT ? r : l;
	}
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
	*out = sa->ctr;
	out->seq = dir == DP_DIR_OUT ? sa->esp.seq : sa->esp.replay.top;
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
	dp_htab_add(&us->pol_by_sel, &np->h_sel, us_sel_key(&p->ts_local, &p->ts_remote));
	us_policy_index(us, np);
	us_policy_attach(np, r);
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
	us_policy_unroute(us, &op->p.ts_remote);
	us_policy_unindex(us, op);
	if (op->r != r) {
		us_policy_detach(us, op);
		us_policy_attach(op, r);
	}
	us_sel_of(&op->p, p);
	op->last_acquire = 0;
	us_policy_index(us, op);
	us_relink(r);
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
	dp_htab_del(&us->pol_by_sel, &op->h_sel);
	us_policy_unindex(us, op);
	us_policy_detach(us, op);
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

	if (fd >= 0 && (family == AF_INET || family == AF_INET6)) {
		/* A TCP burst must not overflow them: each datagram lost there
		 * is a lost segment inside the tunnel. */
		sockbuf_set(fd, US_SOCK_BUF);
		/* Kernels without UDP GSO (before 4.18) would ignore the cmsg and
		 * send a train as one datagram: use it only where the option exists. */
		if (setsockopt(fd, SOL_UDP, UDP_SEGMENT, &off, sizeof(off)) < 0)
			us->no_gso = true;
	}
	if (family == AF_INET)
		us->udp4 = fd;
	else if (family == AF_INET6)
		us->udp6 = fd;
	else {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* ---- packets ---- */

/* Count a packet against the SA and enforce its lifetime (RFC 4301 4.4.2.1). */
static void us_count(struct us *us, struct us_sa *sa, size_t bytes)
{
	const struct dp_lifetime *l = &sa->life;
	struct dp_sa_counters *c = &sa->ctr;

	c->bytes += bytes;
	c->packets++;
	c->last_used = us->now;
	if ((l->hard_bytes && c->bytes >= l->hard_bytes) ||
	    (l->hard_packets && c->packets >= l->hard_packets)) {
		us_expire(sa, true,
		          l->hard_bytes && c->bytes >= l->hard_bytes ? DP_EXPIRE_BYTES
		                                                     : DP_EXPIRE_PACKETS);
	} else if (l->soft_bytes && c->bytes >= l->soft_bytes) {
		us_expire(sa, false, DP_EXPIRE_BYTES);
	} else if (l->soft_packets && c->packets >= l->soft_packets) {
		us_expire(sa, false, DP_EXPIRE_PACKETS);
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
static void us_msg(struct us *us, size_t i, struct dp_buf *b, struct us_sa *sa, int fd)
{
	struct msghdr *m = &us->msgs[i].msg_hdr;
	static const uint8_t any6[16];
	struct cmsghdr *cm = (struct cmsghdr *)us->cmsg[i];

	us->iov[i] = (struct iovec){dp_buf_data(b), b->len};
	us->msg_fd[i] = fd;
	us->msg_sa[i] = sa;
	us->msg_dst[i] = sa->dst;
	m->msg_name = &us->msg_dst[i];
	m->msg_namelen =
	    sa->dst.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	m->msg_iov = &us->iov[i];
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
static void us_send_fail(struct us *us, struct us_sa *sa, int err)
{
	char dst[INET6_ADDRSTRLEN];
	const void *a = sa->dst.ss_family == AF_INET
	                    ? (const void *)&((const struct sockaddr_in *)&sa->dst)->sin_addr
	                    : (const void *)&((const struct sockaddr_in6 *)&sa->dst)->sin6_addr;

	us->c->stats.drop_send++;
	sa->ctr.send_drops++;
	sa->send_unlogged++;
	if (us->send_log_sec != us->now) {
		us->send_log_sec = us->now;
		us->send_logs = 0;
	}
	if (sa->send_log_sec == us->now || us->send_logs >= US_SEND_LOGS)
		return;
	us->send_logs++;
	sa->send_log_sec = us->now;
	if (!inet_ntop(sa->dst.ss_family, a, dst, sizeof(dst)))
		snprintf(dst, sizeof(dst), "?");
	dp_log(us->dp, DP_LOG_WARN,
	       "dp: reqid=%u spi=0x%08x: ESP to %s not sent: %s (%llu dropped, %llu in all)",
	       sa->reqid, sa->spi, dst, strerror(err), (unsigned long long)sa->send_unlogged,
	       (unsigned long long)sa->ctr.send_drops);
	sa->send_unlogged = 0;
}

/* RFC 4301 5.1: SPD lookup, SA, ESP; 0 when slot i is ready to send. */
static int us_out_one(struct us *us, struct dp_buf *b, size_t i)
{
	struct dp_stats *st = &us->c->stats;
	struct dp_flow f;
	struct us_policy *p;
	struct us_sa *sa;
	size_t inner;
	int fd;

	if (dp_flow_parse(dp_buf_data(b), b->len, &f))
		return st->drop_malformed++, -1;
	b->len = inner = f.iplen;
	p = us_spd_lookup(us, &f);
	if (!p)
		return st->drop_no_policy++, -1;
	sa = p->sa;
	if (!sa) {
		us_acquire(us, p, &f);
		return st->drop_no_sa++, -1;
	}
	fd = sa->dst.ss_family == AF_INET ? us->udp4 : us->udp6;
	if (fd < 0) {
		us_send_fail(us, sa, EAFNOSUPPORT); /* no NAT-T socket of that family */
		return -1;
	}
	switch (dp_esp_encap(&sa->esp, b, f.family == AF_INET ? DP_ESP_NH_IPV4 : DP_ESP_NH_IPV6)) {
	case DP_ESP_OK:
		break;
	case DP_ESP_SEQ_OVERFLOW:
		us_expire(sa, true, DP_EXPIRE_SEQ);
		return st->drop_expired++, -1;
	default:
		return st->drop_io++, -1;
	}
	if (!sa->esp.esn && sa->esp.seq >= US_SEQ_SOFT)
		us_expire(sa, false, DP_EXPIRE_SEQ);
	us_count(us, sa, inner);
	st->tx_packets++;
	st->tx_bytes += inner;
	us_msg(us, i, b, sa, fd);
	return 0;
}

/* Slots a and b go out through the same socket, to the same peer, from the same address. */
static bool us_same_path(const struct us *us, size_t a, size_t b)
{
	const struct msghdr *x = &us->msgs[a].msg_hdr, *y = &us->msgs[b].msg_hdr;

	return us->msg_fd[a] == us->msg_fd[b] && x->msg_namelen == y->msg_namelen &&
	       !memcmp(x->msg_name, y->msg_name, x->msg_namelen) &&
	       x->msg_controllen == y->msg_controllen &&
	       (!x->msg_controllen || !memcmp(x->msg_control, y->msg_control, x->msg_controllen));
}

/*
 * The end of the run of slots from i that one UDP GSO send can carry
 * (Linux UDP_SEGMENT): same path, equal sizes but for a shorter last one.
 */
static size_t us_gso_run(const struct us *us, size_t i, size_t n)
{
	size_t seg = us->iov[i].iov_len, total = seg, j = i + 1;

	while (j < n && us_same_path(us, i, j) && us->iov[j].iov_len <= seg &&
	       total + us->iov[j].iov_len <= US_GSO_MAX_BYTES) {
		total += us->iov[j].iov_len;
		if (us->iov[j++].iov_len < seg)
			break;
	}
	return j;
}

/*
 * Send slots i..j-1 as one UDP GSO datagram train (the kernel cuts it into
 * the same datagrams; RFC 3948 framing is unchanged). 1 if sent, 0 if the
 * caller should send them one by one, -1 on other errors.
 */
static int us_send_gso(struct us *us, size_t i, size_t j)
{
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t))];
	} ctl;
	struct msghdr m = us->msgs[i].msg_hdr;
	uint16_t seg = (uint16_t)us->iov[i].iov_len;
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
	m.msg_iov = &us->iov[i];
	m.msg_iovlen = j - i;
	while (sendmsg(us->msg_fd[i], &m, 0) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EMSGSIZE || errno == EINVAL) /* a datagram over the path MTU */
			return 0;
		if (errno == EIO || errno == ENOPROTOOPT || errno == EOPNOTSUPP) {
			us->no_gso = true; /* e.g. no checksum offload on the route's device */
			return 0;
		}
		return -1;
	}
	return 1;
}

/* Send slots i..j-1 (one socket) with sendmmsg, skipping any that fail. */
static void us_send_each(struct us *us, size_t i, size_t j)
{
	while (i < j) {
		int r = sendmmsg(us->msg_fd[i], &us->msgs[i], (unsigned)(j - i), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			us_send_fail(us, us->msg_sa[i], r < 0 ? errno : EIO); /* and skip it */
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
static void us_flush(struct us *us, size_t n)
{
	size_t i = 0, j;

	while (i < n) {
		j = us->no_gso ? i + 1 : us_gso_run(us, i, n);
		if (j - i > 1) {
			int rc = us_send_gso(us, i, j), err = errno;
			for (size_t k = i; rc < 0 && k < j; k++)
				us_send_fail(us, us->msg_sa[k], err);
			if (rc != 0) {
				i = j;
				continue;
			}
		}
		j = i + 1;
		while (j < n && us->msg_fd[j] == us->msg_fd[i] &&
		       (us->no_gso || us_gso_run(us, j, n) == j + 1))
			j++;
		us_send_each(us, i, j);
		i = j;
	}
}

/*
 * Cut one TUN read (us->tbuf, r octets) into IP packets (segmentation of a
 * TSO/USO super-packet, or the packet itself with its checksum completed)
 * and encapsulate each into the next slot from n, flushing when the slots
 * run out; returns the slots in use.
 */
static size_t us_out_read(struct us *us, size_t r, size_t n)
{
	struct dp_vnet h = {0};
	const uint8_t *pkt = us->tbuf;
	struct dp_gso g;

	if (us->vnet) {
		if (r < DP_VNET_HDR_LEN)
			return us->c->stats.drop_malformed++, n;
		dp_vnet_get(us->tbuf, &h);
		pkt += DP_VNET_HDR_LEN;
		r -= DP_VNET_HDR_LEN;
	}
	if (dp_gso_start(&g, &h, pkt, r))
		return us->c->stats.drop_malformed++, n;
	for (;;) {
		struct dp_buf *b;
		size_t len;
		int rc;

		if (n == US_BATCH) {
			us_flush(us, n);
			n = 0;
		}
		b = &us->bufs[n];
		b->off = US_HEADROOM;
		b->len = 0;
		rc = dp_gso_next(&g, dp_buf_data(b), b->cap - b->off - DP_ESP_MAX_TAILROOM, &len);
		if (rc <= 0) {
			if (rc < 0)
				us->c->stats.drop_malformed++;
			return n;
		}
		b->len = len;
		if (us_out_one(us, b, n) == 0)
			n++;
	}
}

static void us_tun_cb(evutil_socket_t fd, short what, void *arg)
{
	struct us *us = arg;
	size_t n = 0;

	us->now = us_now();
	for (int reads = 0; reads < US_TUN_READS; reads++) {
		ssize_t r = read(us->tun_fd, us->tbuf, US_TBUF_CAP);
		if (r <= 0) {
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				us->c->stats.drop_io++;
			break;
		}
		n = us_out_read(us, (size_t)r, n);
	}
	us_flush(us, n);
}

/*
 * Write what the coalescer holds to TUN (one packet, or a TCP super-packet).
 * Should the kernel refuse a super-packet (EINVAL: a virtio-net header it
 * does not take), its segments are counted as lost and coalescing stops.
 */
static void us_gro_flush(struct us *us)
{
	unsigned nseg = us->gro.nseg;
	size_t n = dp_gro_finish(&us->gro);

	if (!n || write(us->tun_fd, us->gbuf, n) == (ssize_t)n)
		return;
	us->c->stats.drop_io += nseg;
	if (nseg > 1 && errno == EINVAL && !us->no_gro) {
		us->no_gro = true;
		dp_log(us->dp, DP_LOG_WARN,
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
static void us_tun_write(struct us *us, const uint8_t *p, size_t len)
{
	uint8_t hdr[DP_VNET_HDR_LEN];
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)p, len}};
	int rc;

	if (!us->vnet) {
		if (write(us->tun_fd, p, len) != (ssize_t)len)
			us->c->stats.drop_io++;
		return;
	}
	rc = us->no_gro ? -1 : dp_gro_add(&us->gro, p, len);
	if (rc == 0) {
		us_gro_flush(us);
		rc = dp_gro_add(&us->gro, p, len);
	}
	if (rc > 0) {
		if (!event_pending(us->rx_ev, EV_TIMEOUT, NULL))
			event_active(us->rx_ev, EV_TIMEOUT, 0);
		return;
	}
	us_gro_flush(us);
	/* Authenticated by ESP: the kernel need not verify the inner checksums. */
	dp_vnet_put(hdr, &(struct dp_vnet){.flags = DP_VNET_F_DATA_VALID});
	if (writev(us->tun_fd, iov, 2) != (ssize_t)(sizeof(hdr) + len))
		us->c->stats.drop_io++;
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

static void us_deliver(struct us *us, struct us_sa *sa, struct dp_buf *b, uint8_t nh)
{
	struct dp_stats *st = &us->c->stats;
	struct dp_flow f;

	if ((nh != DP_ESP_NH_IPV4 && nh != DP_ESP_NH_IPV6) ||
	    dp_flow_parse(dp_buf_data(b), b->len, &f) ||
	    (nh == DP_ESP_NH_IPV4) != (f.family == AF_INET)) {
		st->drop_malformed++;
		return;
	}
	if (!us_sa_selects(sa, &f)) {
		sa->ctr.selector_drops++;
		st->drop_selector++;
		return;
	}
	b->len = f.iplen; /* drop TFC padding (RFC 4303 2.4) */
	us_count(us, sa, b->len);
	st->rx_packets++;
	st->rx_bytes += b->len;
	us_tun_write(us, dp_buf_data(b), b->len);
}

static void us_input_udp(void *be, uint8_t *buf, size_t len, const struct sockaddr_storage *from,
                         const struct sockaddr_storage *to)
{
	struct us *us = be;
	struct dp_stats *st = &us->c->stats;
	struct dp_buf b = {.base = buf, .cap = len, .off = 0, .len = len};
	struct us_sa *sa;
	uint32_t spi;
	uint64_t seq;
	uint8_t nh;

	us->now = us_now();
	if (dp_esp_peek_spi(buf, len, &spi)) {
		st->drop_malformed++;
		return;
	}
	sa = us_sa_in(us, spi);
	if (!sa) {
		st->drop_unknown_spi++;
		us_report_unknown(us, spi, from);
		return;
	}
	if (sa->dead) {
		st->drop_expired++;
		return;
	}
	switch (dp_esp_decap(&sa->esp, &b, &nh, &seq)) {
	case DP_ESP_OK:
		us_deliver(us, sa, &b, nh);
		return;
	case DP_ESP_REPLAY:
		sa->ctr.replay_drops++;
		st->drop_replay++;
		return;
	case DP_ESP_AUTH:
		sa->ctr.auth_drops++;
		st->drop_auth++;
		return;
	case DP_ESP_DUMMY:
		st->dummy_packets++;
		return;
	default:
		st->drop_malformed++;
		return;
	}
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

/* ---- life cycle ---- */

static void us_destroy(void *be)
{
	struct us *us = be;

	if (!us)
		return;
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
	if (us->tun_ev)
		event_free(us->tun_ev);
	if (us->rx_ev)
		event_free(us->rx_ev);
	if (us->notify_ev)
		event_free(us->notify_ev);
	if (us->tun_fd >= 0)
		close(us->tun_fd); /* the device and its routes go with it */
	dp_nl_close(us->nl);
	free(us->slab);
	free(us->tbuf);
	free(us->gbuf);
	free(us);
}

static void us_log_offloads(struct us *us, const char *ifname)
{
	unsigned f = us->offloads;

	dp_log(us->dp, DP_LOG_INFO, "dp: TUN %s: %s%s%s%s", ifname,
	       us->vnet ? "virtio-net header, coalesced writes" : "no virtio-net header",
	       f & TUN_F_CSUM ? ", checksum offload" : "", f & TUN_F_TSO4 ? ", TSO" : "",
	       f & TUN_F_USO4 ? ", USO" : "");
}

static int us_open_tun(struct us *us, const struct dp_options *o)
{
	us->nl = dp_nl_open();
	if (!us->nl)
		return -1;
	us->tun_fd = dp_tun_open(o->ifname, &us->ifindex, true);
	if (us->tun_fd >= 0) {
		us->offloads = dp_tun_offload(us->tun_fd);
		us->vnet = us->offloads != DP_TUN_NO_VNET;
	}
	if (!us->vnet) { /* no IFF_VNET_HDR: one plain packet per read and write */
		if (us->tun_fd >= 0)
			close(us->tun_fd);
		us->offloads = 0;
		us->tun_fd = dp_tun_open(o->ifname, &us->ifindex, false);
	}
	if (us->tun_fd < 0) {
		dp_log(us->dp, DP_LOG_ERR, "dp: cannot open TUN %s: %s", o->ifname,
		       strerror(errno));
		return -1;
	}
	us_log_offloads(us, o->ifname);
	if (dp_nl_link_up(us->nl, us->ifindex, us->mtu)) {
		dp_log(us->dp, DP_LOG_ERR, "dp: cannot bring %s up: %s", o->ifname,
		       strerror(errno));
		return -1;
	}
	us->tun_ev = event_new(us->base, us->tun_fd, EV_READ | EV_PERSIST, us_tun_cb, us);
	us->notify_ev = event_new(us->base, -1, 0, us_notify_cb, us);
	us->rx_ev = event_new(us->base, -1, 0, us_rx_cb, us);
	if (!us->tun_ev || !us->notify_ev || !us->rx_ev || event_add(us->tun_ev, NULL))
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
	us->tun_fd = us->udp4 = us->udp6 = -1;
	us->mtu = o->mtu;
	us->table = o->route_table ? o->route_table : 254; /* RT_TABLE_MAIN */
	us->pending_tail = &us->pending;
	if (dp_htab_init(&us->sa_by_id) || dp_htab_init(&us->sa_in) || dp_htab_init(&us->reqids) ||
	    dp_htab_init(&us->pol_by_sel) || dp_htab_init(&us->pol_by_pfx) ||
	    dp_htab_init(&us->routes))
		goto fail;
	/* An outbound slot holds one packet of at most the MTU (or a jumbo frame,
	 * should someone raise the device's MTU later), with room for ESP; pages
	 * a slot never fills are never touched. */
	us->seg_cap = US_HEADROOM + (us->mtu > US_SEG_MIN ? us->mtu : US_SEG_MIN) +
	              DP_ESP_MAX_TAILROOM + US_SEG_SLACK;
	us->slab = malloc((size_t)US_BATCH * us->seg_cap);
	us->tbuf = malloc(US_TBUF_CAP);
	us->gbuf = malloc(US_TBUF_CAP);
	if (!us->slab || !us->tbuf || !us->gbuf)
		goto fail;
	us->gro.buf = us->gbuf;
	for (size_t i = 0; i < US_BATCH; i++)
		us->bufs[i] =
		    (struct dp_buf){.base = us->slab + i * us->seg_cap, .cap = us->seg_cap};
	if (us_open_tun(us, o))
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
};
