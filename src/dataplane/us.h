/*
 * The userspace backend's state (userspace.c), shared by its three files:
 * userspace.c (SAD, SPD, routes, events for the daemon, life cycle),
 * us_packet.c (the packet path: RFC 4301 5.1 and 5.2 on one thread) and
 * us_worker.c (packet worker threads, their queues and the mailbox) and
 * us_steer.c (receive steering: each worker's own NAT-T sockets).
 * Internal to src/dataplane: the daemon sees only dp.h.
 */
#ifndef RIKE_DATAPLANE_US_H
#define RIKE_DATAPLANE_US_H

#include "dataplane/dp_backend.h"
#include "dataplane/dp_hash.h"
#include "util/theap.h"
#include "dataplane/esp.h"
#include "dataplane/gso.h"
#include "dataplane/ts.h"
#include "dataplane/tun.h"

#include <event2/event.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

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
#define US_REPLAY_THREADED 128       /* inbound window with workers, see us_sa_new */
#define US_RING_WAIT_US    5000      /* the loop waits for a full ring at most */
#define US_RING_SLOT_MIN   2048      /* octets of one: at least, see us->ring_slot */
#define US_MBOX_LOGS       16        /* worker log lines waiting for the loop */
#define US_HQ              256       /* outbound packets handed to one worker (us_handover) */
#define US_RX_BATCH        64        /* datagrams per recvmmsg on a worker's socket */
#define US_RX_READS        4         /* recvmmsg calls per wakeup */
#define US_MAX_STEER       64        /* the daemon's NAT-T sockets steered (us_udp_steer) */

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

/* An outer address with its port, as sendmsg takes it (RFC 3948: the
 * UDP-encapsulated ESP's peer): 28 octets where a sockaddr_storage is 128. */
union us_addr {
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
};

/* What an SA with lifetimes (RFC 4301 4.4.2.1) keeps of them, in the SA's
 * allocation: riked's SAs have none (the IKE engine rekeys by time). */
struct us_life {
	struct dp_lifetime lim;
	struct theap_node t; /* us->life: the next lifetime in seconds (us_life_arm) */
	struct us_sa *sa;
};

/* An SA's counters (dp_sa_counters without seq, which is the ESP state's;
 * the drops each direction can have). */
struct us_ctr {
	uint64_t bytes, packets;
	uint64_t last_used; /* CLOCK_MONOTONIC seconds of the last packet, 0 if none */
	union {
		struct {
			uint64_t replay_drops, auth_drops, selector_drops;
		};                   /* inbound */
		uint64_t send_drops; /* outbound */
	};
};

/*
 * One SA, in one allocation sized to it (us_sa_new): the struct, then an
 * inbound SA's selectors (us_sa_ts), the lifetimes if it has any
 * (us_sa_life), and the ESP cipher and inbound replay ring (esp,
 * dp_esp_init_at). What only one direction uses is in the union at the
 * end, and an inbound SA is allocated without the outbound part of it
 * (us_sa_head): nothing reads an inbound SA's src, dst or send_*.
 */
struct us_sa {
	/* The keys a lookup checks (us_sa_find, us_sa_in) and the list it
	 * walks share the first cache line. */
	uint32_t reqid, spi;
	uint8_t dir;                  /* enum dp_dir */
	uint8_t fired, pending;       /* US_PEND_* */
	uint8_t soft_why, hard_why;   /* enum dp_expire_reason */
	bool dead;                    /* US_LOAD/US_STORE: workers set it on a hard expiry */
	uint8_t wfired;               /* atomic: US_PEND_* a worker has posted (us_expire_post) */
	uint8_t mbits;                /* under mbox_lock: US_PEND_* waiting in the mailbox */
	uint8_t mwhy[2];              /* enum dp_expire_reason, under mbox_lock */
	uint8_t n_local, n_remote;    /* us_sa_ts: local then remote selectors (inbound only) */
	bool has_life;                /* a struct us_life follows them (us_sa_life) */
	bool life_hard;               /* us_sa_life(sa)->t is the hard one */
	uint16_t worker;              /* the worker that decrypts or encrypts it */
	pthread_spinlock_t mu;        /* esp, ctr, send_log_sec, send_unlogged (us_sa_lock) */
	bool locked;                  /* us->threaded: us_sa_lock takes mu */
	bool ts4;                     /* the selectors are IPv4 ones, as struct us_ts4 */
	struct us_sa *rnext;          /* its us_reqid's sas: the SAD by (reqid, dir, spi) */
	struct us_sa *pnext, **pprev; /* us->pending; pprev NULL when not queued */
	struct us_sa *mnext, **mprev; /* under mbox_lock: us->mbox; mprev NULL when not in it */
	struct dp_esp_sa esp;
	struct us_ctr ctr;
	union {
		struct {
			union us_addr src, dst;
			uint32_t send_log_sec, send_unlogged; /* us_send_fail's rate limit */
		};                                            /* outbound */
		struct dp_hnode h_in;                         /* inbound: us->sa_in, key spi */
	};
};

/* Octets of struct us_sa that an SA of direction dir has (what follows
 * is its tail); a multiple of 8. */
static inline size_t us_sa_head(unsigned dir)
{
	return dir == DP_DIR_IN ? offsetof(struct us_sa, h_in) + sizeof(struct dp_hnode)
	                        : sizeof(struct us_sa);
}

/* An IPv4 selector in 16 octets rather than a struct dp_ts's 40: an
 * inbound SA whose selectors are all IPv4 (a remote-access client's)
 * keeps them so (us_sa_ts expands one for the check). */
struct us_ts4 {
	uint8_t proto;
	uint8_t pad;
	uint16_t port_lo, port_hi;
	uint8_t addr_lo[4], addr_hi[4];
	uint8_t pad2[2];
};

/* Octets of one of sa's selectors. */
static inline size_t us_sa_ts_size(const struct us_sa *sa)
{
	return sa->ts4 ? sizeof(struct us_ts4) : sizeof(struct dp_ts);
}

/* Selector i of an inbound SA's n_local + n_remote (RFC 4301 5.2 step
 * 4): in the SA, or in *tmp when it keeps them compact. */
static inline const struct dp_ts *us_sa_ts(const struct us_sa *sa, size_t i, struct dp_ts *tmp)
{
	const uint8_t *base = (const uint8_t *)sa + us_sa_head(sa->dir);
	const struct us_ts4 *c = (const struct us_ts4 *)(const void *)base + i;

	if (!sa->ts4)
		return (const struct dp_ts *)(const void *)base + i;
	memset(tmp, 0, sizeof(*tmp));
	tmp->family = AF_INET;
	tmp->proto = c->proto;
	tmp->port_lo = c->port_lo;
	tmp->port_hi = c->port_hi;
	memcpy(tmp->addr_lo, c->addr_lo, sizeof(c->addr_lo));
	memcpy(tmp->addr_hi, c->addr_hi, sizeof(c->addr_hi));
	return tmp;
}

/* A selector into an SA's tail at to: as it is, or as a struct us_ts4. */
static inline void us_sa_ts_put(uint8_t *to, const struct dp_ts *ts, bool ts4)
{
	struct us_ts4 c = {.proto = ts->proto, .port_lo = ts->port_lo, .port_hi = ts->port_hi};

	if (!ts4) {
		memcpy(to, ts, sizeof(*ts));
		return;
	}
	memcpy(c.addr_lo, ts->addr_lo, sizeof(c.addr_lo));
	memcpy(c.addr_hi, ts->addr_hi, sizeof(c.addr_hi));
	memcpy(to, &c, sizeof(c));
}

/* The lifetimes of sa, NULL when it has none. */
static inline struct us_life *us_sa_life(struct us_sa *sa)
{
	size_t off = us_sa_head(sa->dir) + (size_t)(sa->n_local + sa->n_remote) * us_sa_ts_size(sa);

	return sa->has_life ? (struct us_life *)(void *)((uint8_t *)sa + off) : NULL;
}

/* A route into the TUN device's state (us_route_ref; see us_routes_cb). */
enum { US_RT_UP, US_RT_ADDING, US_RT_DELETING, US_RT_FAILED };

struct us_route {
	struct dp_hnode h; /* us->routes, key us_pfx_key(pfx) */
	struct dp_prefix pfx;
	unsigned refs;
	bool owned;    /* we added it (not there before) */
	uint8_t state; /* US_RT_* */
	uint32_t qi;   /* ADDING, DELETING: 1 + its place in us->rtq */
};

/* What the SPD keeps of a dp_policy (the route source is only needed
 * while the routes are added; the XFRM template not at all). */
struct us_sel {
	uint32_t priority; /* the reqid is the policy's r->reqid */
	struct dp_ts ts_local, ts_remote;
};

#define US_NOT_PREFIX 0xff

struct us_policy {
	/* What the outbound lookup reads (us_spd_lookup) comes first. A
	 * policy is in one of the two lookup indexes, as plen says. */
	union {
		struct dp_hnode h_pfx; /* us->pol_by_pfx, key us_pfx_key(remote) */
		struct {
			struct us_policy *gnext,
			    **gprev; /* US_NOT_PREFIX: us->pol_other, in order */
		};
	};
	uint64_t order; /* insertion: equal priorities match in this order */
	struct us_sel p;
	uint8_t plen;          /* the remote selector's prefix length, or US_NOT_PREFIX */
	struct us_sa *sa;      /* borrowed: the newest live outbound SA of r->reqid */
	struct dp_hnode h_sel; /* us->pol_by_sel, key us_sel_key() */
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
	/* Receive steering (us_steer.c): an event for each of its sockets
	 * (us->steer[k].wfd[id]) on base, and one recvmmsg batch. */
	struct event **sock_ev; /* owned: us->nsteer */
	uint8_t *rx;            /* owned: US_RX_BATCH slots of us->ring_slot */
	struct mmsghdr rmsgs[US_RX_BATCH];
	struct iovec riov[US_RX_BATCH];
	struct sockaddr_storage rfrom[US_RX_BATCH];
};

/* One of the daemon's NAT-T sockets and the workers' sockets in its
 * SO_REUSEPORT group (us_steer.c). */
struct us_steer {
	int fd;   /* borrowed: the daemon's, index 0 of the group */
	int *wfd; /* owned: us->nw, worker i's at index 1 + i */
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
	struct dp_htab sa_in, reqids, pol_by_sel, pol_by_pfx, routes;
	struct us_policy *pol_other;     /* policies whose remote selector is no prefix */
	uint32_t plen_refs[2][US_PLENS]; /* [family is IPv6][len]: prefix policies */
	uint8_t plens[2][US_PLENS];      /* the lengths in use, longest first */
	unsigned nplens[2];
	uint64_t pol_order;
	struct us_sa *pending, **pending_tail; /* SAs with expiries to deliver */
	struct theap life;     /* SAs by their next lifetime in seconds (ms deadlines) */
	struct event *life_ev; /* at the earliest of them (us_life_cb) */
	uint64_t life_armed;   /* life_ev's deadline, 0 when not pending */
	uint64_t now;
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
	/* Route changes queued during one loop pass, sent together (us_routes_cb). */
	struct dp_nl_rt *rtq;     /* owned: rtq_cap of them */
	struct us_route **rtq_of; /* owned: the route of each; NULL: cancelled */
	size_t nrtq, rtq_cap;
	struct event *route_ev;
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
	struct us_unknown munk[US_MAX_UNKNOWN]; /* unknown SPIs workers read (us_unknown_post) */
	unsigned nmunk;
	/* receive steering (us_steer.c) */
	struct us_steer *steer; /* owned: nsteer */
	unsigned nsteer;
	bool steer_logged; /* "cannot steer" said once */
	unsigned rr;       /* us_least_loaded's next worker on a tie */
};

static inline uint64_t us_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec;
}

/* ---- locks: no-ops when single-threaded (see the top of the file) ---- */

/* Fields one thread writes and another may read without a common lock. */
#define US_LOAD(x)     __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define US_STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
/* A counter with a single writer (a plain increment, but race-free to read). */
#define US_ADD(x, n) US_STORE(x, US_LOAD(x) + (n))

/* The loop, before it changes the SAD, the SPD, or an SA field workers read. */
static inline void us_wrlock(struct us *us)
{
	if (us->threaded)
		pthread_rwlock_wrlock(&us->lock);
}

/* A worker, for one batch: nothing it finds in the tables is freed meanwhile. */
static inline void us_rdlock(struct us *us)
{
	if (us->threaded)
		pthread_rwlock_rdlock(&us->lock);
}

static inline void us_unlock(struct us *us)
{
	if (us->threaded)
		pthread_rwlock_unlock(&us->lock);
}

/* What packets change in an SA: ESP state (sequence number, RFC 4303 3.3.3;
 * replay window, 3.4.3; cipher context) and counters. */
static inline void us_sa_lock(struct us_sa *sa)
{
	if (sa->locked)
		pthread_spin_lock(&sa->mu);
}

static inline void us_sa_unlock(struct us_sa *sa)
{
	if (sa->locked)
		pthread_spin_unlock(&sa->mu);
}

/* userspace.c: the loop's tables and events */
void us_kick(struct us *us);
void us_expire(struct us *us, struct us_sa *sa, bool hard, enum dp_expire_reason why);
void us_report_unknown(struct us *us, uint32_t spi, const struct sockaddr_storage *from);
struct us_sa *us_sa_in(struct us *us, uint32_t spi);
struct us_policy *us_spd_lookup(struct us *us, const struct dp_flow *f);

/* us_packet.c: the packet path of one thread */
int us_out_one(struct us_worker *w, struct dp_buf *b, size_t i);
void us_flush(struct us_worker *w, size_t n);
void us_tun_cb(evutil_socket_t fd, short what, void *arg);
void us_gro_flush(struct us_worker *w);
void us_rx_cb(evutil_socket_t fd, short what, void *arg);
void us_in_one(struct us_worker *w, uint8_t *buf, size_t len, const struct sockaddr_storage *from);
void us_input_udp(void *be, uint8_t *buf, size_t len, const struct sockaddr_storage *from,
                  const struct sockaddr_storage *to);

/* us_worker.c: the mailbox, the packet workers and their life cycle */
void us_expire_post(struct us_worker *w, struct us_sa *sa, bool hard, enum dp_expire_reason why);
__attribute__((format(printf, 3, 4))) void us_wlog(struct us_worker *w, enum dp_log_level level,
                                                   const char *fmt, ...);
void us_acquire(struct us_worker *w, struct us_policy *p, const struct dp_flow *f);
void us_unknown_post(struct us_worker *w, uint32_t spi, const struct sockaddr_storage *from);
void us_mbox_cb(evutil_socket_t fd, short what, void *arg);
void us_mbox_del(struct us_sa *sa);
void us_handover(struct us_worker *w, struct us_worker *o, const struct dp_buf *b);
void us_dispatch(struct us *us, const uint8_t *buf, size_t len,
                 const struct sockaddr_storage *from);
int us_worker_init(struct us *us, unsigned i);
int us_workers_start(struct us *us);
int us_threads_init(struct us *us);
void us_workers_stop(struct us *us);
void us_worker_stop(struct us_worker *w);
void us_worker_free(struct us_worker *w);

/* us_steer.c: receive steering, the SPI's worker */
bool us_steers(const void *be);
int us_udp_steer(void *be, const int *fds, size_t n);
int us_udp_unsteer(void *be, int fd);
int us_spi_residue(void *be, uint32_t rekey_reqid, uint32_t *mod, uint32_t *residue);
unsigned us_reqid_worker(const struct us_reqid *r);
unsigned us_least_loaded(struct us *us);
void us_steer_free(struct us *us);
void us_sock_cb(evutil_socket_t fd, short what, void *arg);

#endif
