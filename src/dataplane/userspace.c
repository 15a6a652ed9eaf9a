/*
 * The userspace backend (like strongSwan's kernel-libipsec): a TUN device
 * carries the cleartext side, ESP in UDP (RFC 3948) the protected side.
 * It keeps the SAD (inbound SAs hashed by SPI, RFC 4301 4.1 and 4.4.2) and
 * the SPD (policies by priority, RFC 4301 4.4.1), routes the remote
 * selectors into the TUN device, and does the outbound (RFC 4301 5.1) and
 * inbound (5.2) processing: SPD lookup -> SA -> ESP -> UDP, and UDP -> SA
 * by SPI -> ESP -> selector check -> TUN. Lifetimes (4.4.2.1) are enforced
 * per packet (bytes, packets, sequence numbers) and by timers (seconds).
 * One thread, one libevent loop; packets are batched and never allocate:
 * the TUN device hands over TCP/UDP super-packets of up to 64 KiB (TSO/USO
 * with a virtio-net header, gso.c) that are cut into MTU-sized packets,
 * each encrypted, and sent as UDP GSO trains; inbound TCP segments of one
 * flow are coalesced into one write to TUN. Events for the daemon are
 * queued and delivered from a separate loop callback, never re-entrantly.
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

#include "dataplane/esp.h"
#include "dataplane/gso.h"
#include "dataplane/tun.h"

#define US_BATCH           128 /* outbound packets per flush (one TUN super-packet is <= 48) */
#define US_TUN_READS       16  /* TUN reads per wakeup */
#define US_HEADROOM        64
#define US_SEG_SLACK       64   /* beyond the MTU in each outbound slot */
#define US_SEG_MIN         9000 /* outbound slot size at least, whatever the MTU */
#define US_TBUF_CAP        (DP_VNET_HDR_LEN + DP_GSO_MAX + 1)
#define US_HASH            1024
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

struct us_sa {
	struct us_sa *next, *hnext;
	struct us *us;
	uint32_t reqid, spi;
	enum dp_dir dir;
	struct sockaddr_storage src, dst;
	struct dp_lifetime life;
	struct dp_ts ts_local[DP_MAX_TS], ts_remote[DP_MAX_TS];
	size_t n_local, n_remote;
	struct dp_esp_sa esp;
	struct dp_sa_counters ctr;
	uint64_t serial;
	uint8_t fired, pending; /* US_PEND_* */
	enum dp_expire_reason soft_why, hard_why;
	bool dead;
	struct event *soft_ev, *hard_ev;
	uint64_t send_log_sec, send_unlogged; /* us_send_fail's rate limit */
};

struct us_route {
	struct us_route *next;
	struct dp_prefix pfx;
	unsigned refs;
	bool owned; /* we added it (not there before) */
};

struct us_policy {
	struct us_policy *next;
	struct dp_policy p;
	struct us_sa *sa; /* borrowed: the newest live outbound SA of p.reqid */
	uint64_t last_acquire;
};

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
	struct us_sa *sas, *in_hash[US_HASH];
	struct us_policy *pols;
	struct us_route *routes;
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
	bool no_gso; /* UDP_SEGMENT failed once: send datagram by datagram */
	uint64_t send_log_sec;
	unsigned send_logs; /* lines in send_log_sec */
};

static uint64_t us_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec;
}

static unsigned us_hash(uint32_t spi)
{
	return (spi * 2654435761u) >> 22 & (US_HASH - 1);
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
	} else {
		sa->soft_why = why;
	}
	us_kick(sa->us);
}

struct us_expiry {
	uint32_t reqid, spi;
	enum dp_dir dir;
	bool hard;
	enum dp_expire_reason why;
};

/* Take up to max pending expiries off the SAs; returns how many. */
static size_t us_take_expiries(struct us *us, struct us_expiry *out, size_t max)
{
	size_t n = 0;

	for (struct us_sa *sa = us->sas; sa && n < max; sa = sa->next) {
		for (int hard = 0; hard < 2 && n < max; hard++) {
			uint8_t bit = hard ? US_PEND_HARD : US_PEND_SOFT;
			if (!(sa->pending & bit))
				continue;
			sa->pending &= (uint8_t)~bit;
			out[n++] = (struct us_expiry){sa->reqid, sa->spi, sa->dir, hard,
			                              hard ? sa->hard_why : sa->soft_why};
		}
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

static struct us_sa *us_sa_find(struct us *us, uint32_t reqid, enum dp_dir dir, uint32_t spi)
{
	for (struct us_sa *sa = us->sas; sa; sa = sa->next)
		if (sa->reqid == reqid && sa->dir == dir && sa->spi == spi)
			return sa;
	return NULL;
}

static struct us_sa *us_sa_in(struct us *us, uint32_t spi)
{
	for (struct us_sa *sa = us->in_hash[us_hash(spi)]; sa; sa = sa->hnext)
		if (sa->spi == spi)
			return sa;
	return NULL;
}

/* Point every policy at the newest live outbound SA of its reqid (make-before-break). */
static void us_relink(struct us *us)
{
	for (struct us_policy *p = us->pols; p; p = p->next) {
		p->sa = NULL;
		for (struct us_sa *sa = us->sas; sa; sa = sa->next)
			if (sa->dir == DP_DIR_OUT && sa->reqid == p->p.reqid && !sa->dead &&
			    (!p->sa || sa->serial > p->sa->serial))
				p->sa = sa;
	}
}

static void us_soft_cb(evutil_socket_t fd, short what, void *arg)
{
	us_expire(arg, false, DP_EXPIRE_TIME);
}

static void us_hard_cb(evutil_socket_t fd, short what, void *arg)
{
	struct us_sa *sa = arg;

	us_expire(sa, true, DP_EXPIRE_TIME);
	us_relink(sa->us);
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

static int us_sa_add(void *be, const struct dp_sa *p)
{
	struct us *us = be;
	struct us_sa *sa;

	if (us_sa_check(us, p))
		return -1;
	sa = calloc(1, sizeof(*sa));
	if (!sa)
		return -1;
	sa->us = us;
	if (dp_esp_init(&sa->esp, p)) {
		free(sa);
		errno = EINVAL;
		return -1;
	}
	sa->reqid = p->reqid;
	sa->spi = p->spi;
	sa->dir = p->dir;
	sa->src = p->src;
	sa->dst = p->dst;
	sa->life = p->life;
	memcpy(sa->ts_local, p->ts_local, sizeof(sa->ts_local));
	memcpy(sa->ts_remote, p->ts_remote, sizeof(sa->ts_remote));
	sa->n_local = p->n_ts_local;
	sa->n_remote = p->n_ts_remote;
	sa->serial = ++us->serial;
	if (us_sa_timer(sa, p->life.soft_secs, &sa->soft_ev, us_soft_cb) ||
	    us_sa_timer(sa, p->life.hard_secs, &sa->hard_ev, us_hard_cb)) {
		us_sa_free(sa);
		errno = ENOMEM;
		return -1;
	}
	sa->next = us->sas;
	us->sas = sa;
	if (sa->dir == DP_DIR_IN) {
		sa->hnext = us->in_hash[us_hash(sa->spi)];
		us->in_hash[us_hash(sa->spi)] = sa;
	}
	us_relink(us);
	dp_log(us->dp, DP_LOG_INFO, "dp: SA added reqid=%u dir=%s spi=0x%08x", sa->reqid,
	       us_dir_name(sa->dir), sa->spi);
	return 0;
}

static void us_unlink(struct us_sa **head, struct us_sa *sa, bool hash)
{
	for (struct us_sa **pp = head; *pp; pp = hash ? &(*pp)->hnext : &(*pp)->next) {
		if (*pp == sa) {
			*pp = hash ? sa->hnext : sa->next;
			return;
		}
	}
}

static int us_sa_del(void *be, uint32_t reqid, enum dp_dir dir, uint32_t spi)
{
	struct us *us = be;
	struct us_sa *sa = us_sa_find(us, reqid, dir, spi);

	if (!sa) {
		errno = ENOENT;
		return -1;
	}
	us_unlink(&us->sas, sa, false);
	if (sa->dir == DP_DIR_IN)
		us_unlink(&us->in_hash[us_hash(spi)], sa, true);
	us_relink(us);
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
	struct us_sa *first = NULL;

	if (!us_addr_ok(local, remote)) {
		errno = EINVAL;
		return -1;
	}
	for (struct us_sa *sa = us->sas; sa && !first; sa = sa->next)
		if (sa->reqid == reqid)
			first = sa;
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
	for (struct us_sa *sa = first; sa; sa = sa->next) {
		if (sa->reqid != reqid)
			continue;
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

static bool us_prefix_eq(const struct dp_prefix *a, const struct dp_prefix *b)
{
	return a->family == b->family && a->len == b->len &&
	       !memcmp(a->addr, b->addr, dp_addr_len(a->family));
}

static struct us_route **us_route_find(struct us *us, const struct dp_prefix *pfx)
{
	struct us_route **pp = &us->routes;

	while (*pp && !us_prefix_eq(&(*pp)->pfx, pfx))
		pp = &(*pp)->next;
	return pp;
}

static void us_route_unref(struct us *us, const struct dp_prefix *pfx)
{
	struct us_route **pp = us_route_find(us, pfx), *r = *pp;

	if (!r || --r->refs)
		return;
	if (r->owned && dp_nl_route(us->nl, false, &r->pfx, us->ifindex, us->table, NULL))
		dp_log(us->dp, DP_LOG_WARN, "dp: deleting a route failed: %s", strerror(errno));
	*pp = r->next;
	free(r);
}

static int us_route_ref(struct us *us, const struct dp_prefix *pfx, const uint8_t *src)
{
	struct us_route *r = *us_route_find(us, pfx);

	if (r) {
		r->refs++;
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -1;
	r->pfx = *pfx;
	r->refs = 1;
	r->owned = true;
	if (dp_nl_route(us->nl, true, pfx, us->ifindex, us->table, src)) {
		if (errno != EEXIST) {
			free(r);
			return -1;
		}
		r->owned = false; /* someone else's route: leave it alone */
	}
	r->next = us->routes;
	us->routes = r;
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

static void us_policy_unroute(struct us *us, const struct dp_policy *p)
{
	struct dp_prefix pfx[US_MAX_PREFIXES];
	size_t n;

	if (dp_ts_prefixes(&p->ts_remote, pfx, US_MAX_PREFIXES, &n))
		return; /* cannot happen: the add succeeded with the same selector */
	for (size_t i = 0; i < n; i++)
		us_route_unref(us, &pfx[i]);
}

static struct us_policy **us_policy_find(struct us *us, const struct dp_policy *p)
{
	struct us_policy **pp = &us->pols;

	while (*pp &&
	       !((*pp)->p.reqid == p->reqid && dp_ts_equal(&(*pp)->p.ts_local, &p->ts_local) &&
	         dp_ts_equal(&(*pp)->p.ts_remote, &p->ts_remote)))
		pp = &(*pp)->next;
	return pp;
}

/* The policy with p's selectors, whatever its reqid (the SPD's key, as in XFRM). */
static struct us_policy **us_policy_find_sel(struct us *us, const struct dp_policy *p)
{
	struct us_policy **pp = &us->pols;

	while (*pp && !(dp_ts_equal(&(*pp)->p.ts_local, &p->ts_local) &&
	                dp_ts_equal(&(*pp)->p.ts_remote, &p->ts_remote)))
		pp = &(*pp)->next;
	return pp;
}

/* Into the list, ordered by priority; equal priorities in insertion order. */
static void us_policy_insert(struct us *us, struct us_policy *np)
{
	struct us_policy **pp;

	for (pp = &us->pols; *pp && (*pp)->p.priority <= np->p.priority; pp = &(*pp)->next)
		;
	np->next = *pp;
	*pp = np;
}

static int us_policy_add(void *be, const struct dp_policy *p)
{
	struct us *us = be;
	struct us_policy *np;

	if (!dp_ts_valid(&p->ts_local) || !dp_ts_valid(&p->ts_remote)) {
		errno = EINVAL;
		return -1;
	}
	if (*us_policy_find_sel(us, p)) {
		errno = EEXIST;
		return -1;
	}
	np = calloc(1, sizeof(*np));
	if (!np)
		return -1;
	np->p = *p;
	if (us_policy_route(us, p)) {
		int saved = errno;
		free(np);
		errno = saved;
		return -1;
	}
	us_policy_insert(us, np);
	us_relink(us);
	return 0;
}

/* dp.h: the entry changes hands in place; the routes of the new one are
 * taken before the old ones are let go, so the TUN route never lapses. */
static int us_policy_update(void *be, const struct dp_policy *p)
{
	struct us *us = be;
	struct us_policy **pp = us_policy_find_sel(us, p), *op = *pp;

	if (!op) {
		errno = ENOENT;
		return -1;
	}
	if (us_policy_route(us, p))
		return -1;
	us_policy_unroute(us, &op->p);
	*pp = op->next;
	op->p = *p;
	op->last_acquire = 0;
	us_policy_insert(us, op);
	us_relink(us);
	return 0;
}

static int us_policy_del(void *be, const struct dp_policy *p)
{
	struct us *us = be;
	struct us_policy **pp = us_policy_find(us, p), *op = *pp;

	if (!op) {
		errno = ENOENT;
		return -1;
	}
	*pp = op->next;
	us_policy_unroute(us, &op->p);
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
		us_relink(us);
	} else if (l->soft_bytes && c->bytes >= l->soft_bytes) {
		us_expire(sa, false, DP_EXPIRE_BYTES);
	} else if (l->soft_packets && c->packets >= l->soft_packets) {
		us_expire(sa, false, DP_EXPIRE_PACKETS);
	}
}

static struct us_policy *us_spd_lookup(struct us *us, const struct dp_flow *f)
{
	for (struct us_policy *p = us->pols; p; p = p->next)
		if (dp_ts_match_flow(&p->p.ts_local, f, true) &&
		    dp_ts_match_flow(&p->p.ts_remote, f, false))
			return p;
	return NULL;
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
		us_relink(us);
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

/* ---- life cycle ---- */

static void us_destroy(void *be)
{
	struct us *us = be;

	if (!us)
		return;
	while (us->pols) {
		struct us_policy *p = us->pols;
		us->pols = p->next;
		us_policy_unroute(us, &p->p);
		free(p);
	}
	while (us->sas) {
		struct us_sa *sa = us->sas;
		us->sas = sa->next;
		us_sa_free(sa);
	}
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
