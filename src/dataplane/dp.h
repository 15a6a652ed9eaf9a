/*
 * rike's data plane: one interface for installing Child SAs and their
 * policies, implemented by a userspace ESP backend (TUN + ESP-in-UDP, like
 * strongSwan's kernel-libipsec) and, later, by a Linux XFRM backend.
 *
 * Model (RFC 4301 4.4): the SAD holds the SAs (struct dp_sa), the SPD the
 * policies (struct dp_policy). A policy names a reqid; the outbound SA with
 * that reqid (the newest one, so rekeying is make-before-break) protects
 * the traffic. Every SA is named by (reqid, dir, spi): inbound SPIs are ours
 * and unique, outbound SPIs are the peers' and may collide across peers.
 *
 * Ownership: struct dp owns everything installed through it. The caller
 * keeps ownership of everything it passes in; keys are copied and wiped
 * when the SA goes away. Event callbacks never run from inside a dp_*
 * call: they are delivered from the event loop, so a callback may call any
 * dp_* function (including dp_sa_del on the SA it is told about).
 *
 * Fallible calls return 0 or -1 with errno set (EINVAL bad parameters,
 * ENOENT no such SA/policy, EEXIST duplicate, EOPNOTSUPP unsupported by the
 * backend, others from the kernel).
 */
#ifndef RIKE_DP_H
#define RIKE_DP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "crypto/crypto.h"
#include "util/compiler.h"

struct event_base;
struct dp;

enum dp_backend {
	DP_BACKEND_USERSPACE, /* TUN device + ESP in UDP (RFC 3948) in this process */
	DP_BACKEND_XFRM,      /* Linux kernel XFRM (xfrm.c) */
};

enum dp_dir {
	DP_DIR_IN,
	DP_DIR_OUT,
};

enum dp_mode {
	DP_MODE_TUNNEL, /* RFC 4303 3.1.2 */
	DP_MODE_TRANSPORT,
};

/*
 * A traffic selector (RFC 4301 4.4.1.1, RFC 7296 3.13.1): an inclusive
 * address range, an IP protocol (0 = any) and an inclusive port range
 * (0..65535 = any). For ICMP the "port" is Type << 8 | Code (RFC 7296
 * 3.13.1). Addresses are in network order; IPv4 uses the first 4 octets.
 */
struct dp_ts {
	sa_family_t family; /* AF_INET or AF_INET6 */
	uint8_t proto;
	uint16_t port_lo, port_hi; /* host order */
	uint8_t addr_lo[16], addr_hi[16];
};

#define DP_MAX_TS            16 /* selectors per side of one SA (riked.conf allows 16) */
#define DP_REPLAY_DEFAULT    64
#define DP_REPLAY_MAX        4096
#define DP_MAX_INTEG_KEY_LEN 64

/* Limits for RFC 4301 4.4.2.1 lifetimes; 0 means no limit. */
struct dp_lifetime {
	uint64_t soft_bytes, hard_bytes;
	uint64_t soft_packets, hard_packets;
	uint32_t soft_secs, hard_secs;
};

/* One SA of a Child SA (RFC 4301 4.4.2.1). */
struct dp_sa {
	uint32_t reqid; /* the Child SA; the in and out SAs share it */
	enum dp_dir dir;
	uint32_t spi; /* host order */
	enum dp_mode mode;
	/* Outer addresses with ports: src sends, dst receives (for an inbound
	 * SA, src is the peer). With encap, ports are the UDP ports (4500 or
	 * the NAT's mapping, RFC 3948 2). */
	struct sockaddr_storage src, dst;
	bool encap; /* UDP encapsulation (RFC 3948); the userspace backend requires it */
	/* Encryption: IKEv2 transform ID (IKEV2_ENCR_*), key length in bits (0
	 * for ciphers with one size), and the key with its trailing salt
	 * (RFC 4106 8.1, RFC 7634 2: KEYMAT octets as taken from prf+). */
	uint16_t encr, encr_keybits;
	uint8_t encr_key[CRYPTO_MAX_KEY_LEN];
	size_t encr_key_len;
	/* Integrity: IKEV2_AUTH_* (IKEV2_AUTH_NONE for AEAD ciphers). */
	uint16_t integ;
	uint8_t integ_key[DP_MAX_INTEG_KEY_LEN];
	size_t integ_key_len;
	bool esn;               /* 64-bit sequence numbers (RFC 4303 2.2.1) */
	uint32_t replay_window; /* inbound; 0 = DP_REPLAY_DEFAULT, at most DP_REPLAY_MAX */
	struct dp_lifetime life;
	/* Inner selectors (RFC 4301 5.2: checked on inbound packets after
	 * decryption: source in remote, destination in local). */
	struct dp_ts ts_local[DP_MAX_TS], ts_remote[DP_MAX_TS];
	size_t n_ts_local, n_ts_remote;
};

/*
 * A policy (SPD entry) for both directions: traffic from ts_local to
 * ts_remote is protected by the outbound SA with this reqid. The userspace
 * backend routes ts_remote into its TUN device (with route_src as the
 * preferred source when its family is set, e.g. a virtual IP).
 */
struct dp_policy {
	uint32_t reqid;
	uint32_t priority; /* lower wins, as in XFRM */
	struct dp_ts ts_local, ts_remote;
	struct sockaddr_storage route_src; /* ss_family 0 = none */
	/* XFRM only: the outer addresses and mode of the template (RFC 4301
	 * 4.4.1.2 "IPsec processing"), from our point of view. tmpl_remote's
	 * ss_family 0 (the usual case) takes them from the SAs already added
	 * with this reqid; set them to install a policy before its SAs. */
	struct sockaddr_storage tmpl_local, tmpl_remote;
	enum dp_mode tmpl_mode;
};

/* Per-SA counters. Bytes are inner (plaintext IP) bytes. */
struct dp_sa_counters {
	uint64_t bytes, packets;
	uint64_t replay_drops, auth_drops, selector_drops;
	uint64_t send_drops; /* outbound: datagrams the kernel refused (drop_send) */
	uint64_t seq;        /* outbound: last sequence number sent; inbound: highest received */
	uint64_t last_used;  /* CLOCK_MONOTONIC seconds of the last packet, 0 if none */
};

/* Global counters; drops by reason. */
struct dp_stats {
	uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes; /* inner packets */
	uint64_t drop_replay;                                /* RFC 4303 3.4.3 */
	uint64_t drop_auth;                                  /* ICV did not verify (3.4.4) */
	uint64_t drop_unknown_spi;                           /* no inbound SA (3.4.2) */
	uint64_t drop_no_sa;     /* a policy matched but it has no (live) outbound SA */
	uint64_t drop_no_policy; /* nothing in the SPD matched an outbound packet */
	uint64_t drop_selector;  /* inner addresses outside the SA's selectors (4301 5.2) */
	uint64_t drop_malformed; /* bad ESP framing, padding, or inner IP header */
	uint64_t drop_expired;   /* hard-expired SA or sequence number overflow (3.3.3) */
	uint64_t drop_io;        /* TUN read or write failed, or ESP could not be built */
	uint64_t drop_send;      /* an ESP datagram could not be sent (sendmsg failed) */
	uint64_t dummy_packets;  /* next header 59 (RFC 4303 2.6), dropped silently */
	/* userspace with packet workers: receive steering (dp_udp_steer) */
	uint64_t rx_steered;            /* ESP datagrams a worker read from its own socket */
	uint64_t rx_via_loop;           /* ESP datagrams the loop read and handed to a worker */
	uint64_t steer_misses;          /* ... read by a worker for an SA another worker owns */
	uint64_t spi_worker_mismatches; /* inbound SAs not on their Child SA's worker */
};

enum dp_expire_reason {
	DP_EXPIRE_BYTES,
	DP_EXPIRE_PACKETS,
	DP_EXPIRE_TIME,
	DP_EXPIRE_SEQ, /* sequence number space (nearly) used up (RFC 4303 3.3.3) */
	/* userspace, hard only: the kernel refused the route into the TUN
	 * device that a policy of this reqid needs (see dp_policy_add). */
	DP_EXPIRE_ROUTE,
};

/* A packet's own selector: single addresses, its protocol and ports. */
struct dp_acquire {
	uint32_t reqid; /* of the matching policy */
	struct dp_ts src, dst;
};

enum dp_log_level {
	DP_LOG_ERR,
	DP_LOG_WARN,
	DP_LOG_INFO,
	DP_LOG_DEBUG,
};

/* Callbacks; any may be NULL. */
struct dp_events {
	/* A packet matched a policy that has no outbound SA (RFC 4301 5.1.1);
	 * rate-limited to one per policy per second. */
	void (*acquire)(void *ctx, const struct dp_acquire *a);
	/* An ESP packet with an SPI we have no SA for (RFC 4303 3.4.2); at most
	 * 10 per second and one per SPI per second. The daemon may answer with
	 * INVALID_SPI (RFC 7296 2.21.4). */
	void (*unknown_spi)(void *ctx, uint32_t spi, const struct sockaddr_storage *from);
	/* Soft or hard lifetime reached. After a hard expiry the SA passes no
	 * more traffic; the daemon still calls dp_sa_del. */
	void (*expire)(void *ctx, uint32_t reqid, enum dp_dir dir, uint32_t spi, bool hard,
	               enum dp_expire_reason why);
	void (*log)(void *ctx, enum dp_log_level level, const char *msg);
};

/* Backend options; dp_new uses the defaults. */
struct dp_options {
	const char *ifname;   /* userspace: TUN name; default DP_DEFAULT_IFNAME */
	unsigned mtu;         /* userspace: TUN MTU; default DP_DEFAULT_MTU */
	uint32_t route_table; /* routes go here; 0 = main */
	bool skip_probe;      /* xfrm: create even if dp_probe fails (tests of policies) */
	/* The daemon's IKE and NAT-T ports (0: 500 and 4500). ESP in UDP never
	 * uses the IKE port (RFC 3948 2.1): see dp_sa_migrate. */
	uint16_t ike_port, natt_port;
	/* userspace: packet worker threads, each with a queue of the TUN
	 * device (userspace.c); 0 or 1: everything on the event loop's thread.
	 * At most DP_MAX_WORKERS. */
	unsigned workers;
};

#define DP_MAX_WORKERS 64

#define DP_IKE_PORT       500     /* RFC 7296 2 */
#define DP_NATT_PORT      4500    /* RFC 3948 2.1 */
#define DP_DEFAULT_IFNAME "rike0" /* userspace: the TUN device */
#define DP_DEFAULT_MTU    1400    /* as libipsec; worst case ESP-in-UDP-in-IPv6 overhead is 121 */

/* Feature bits of a backend. */
#define DP_FEAT_REQUIRES_ENCAP  0x1u /* only UDP-encapsulated SAs: force NAT-T (RFC 7296 2.23) */
#define DP_FEAT_NEEDS_UDP_INPUT 0x2u /* the daemon must pass ESP-in-UDP via dp_input_udp */
/* The kernel takes ESP-in-UDP off the daemon's NAT-T sockets (RFC 3948):
 * each must have setsockopt(IPPROTO_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP)
 * (net_set_udp_encap in the daemon, or hand them to dp_set_udp_socket,
 * which sets it). IKE on them still arrives with its non-ESP marker. */
#define DP_FEAT_UDP_ENCAP_SOCKOPT 0x4u

/*
 * Check that a backend can work here (e.g. the kernel has ESP). Returns 0,
 * or -1 with a human-readable reason in why.
 */
int dp_probe(enum dp_backend b, char *why, size_t whylen) WUR;

/* Create a data plane on an event loop (borrowed; it must outlive dp). */
struct dp *dp_new(enum dp_backend b, struct event_base *base, const struct dp_events *cb,
                  void *ctx);
struct dp *dp_new_opts(enum dp_backend b, struct event_base *base, const struct dp_events *cb,
                       void *ctx, const struct dp_options *opt);
/* Removes every SA, policy, route and address it installed. NULL-safe. */
void dp_free(struct dp *dp);
unsigned dp_features(const struct dp *dp);
/* The interface index of the TUN device (userspace), or 0. */
unsigned dp_ifindex(const struct dp *dp);

/* ---- SAD ---- */
int dp_sa_add(struct dp *dp, const struct dp_sa *sa) WUR;
int dp_sa_del(struct dp *dp, uint32_t reqid, enum dp_dir dir, uint32_t spi) WUR;
/*
 * MOBIKE (RFC 4555 3.5) and NAT mapping changes (RFC 7296 2.23): move every
 * SA of reqid to new outer addresses (with ports). local/remote are from
 * our point of view: outbound SAs get src = local, dst = remote; inbound
 * the reverse. Sequence numbers, the replay window and counters stay (the
 * SAs are the same, only their outer addresses change). For UDP-encapsulated
 * SAs a port of 0 or the IKE port is not taken (ESP in UDP on port 500
 * cannot be told from IKE, RFC 3948 2.1): that end keeps its current port
 * if its address is unchanged, else gets the NAT-T port; dp_sa_add does
 * the same.
 */
int dp_sa_migrate(struct dp *dp, uint32_t reqid, const struct sockaddr_storage *local,
                  const struct sockaddr_storage *remote) WUR;
int dp_sa_counters(struct dp *dp, uint32_t reqid, enum dp_dir dir, uint32_t spi,
                   struct dp_sa_counters *out) WUR;

/* ---- SPD ---- */
/* EEXIST when a policy with the same selectors is there, whatever its
 * reqid (XFRM keys policies by selector): see dp_policy_update.
 * userspace: the route of ts_remote into the TUN device is added when the
 * event loop's pass ends, with the other route changes of that pass; if
 * the kernel refuses it, the reqid's outbound SAs get a hard expiry with
 * DP_EXPIRE_ROUTE (the policy stays until it is deleted). */
int dp_policy_add(struct dp *dp, const struct dp_policy *p) WUR;
/*
 * The policy with p's selectors, whatever its reqid, now names p->reqid
 * (and takes p's priority, route source and template), in one step: from
 * the call on, outbound traffic goes through the newest outbound SA of
 * p->reqid, and there is no moment without the policy. This is
 * make-before-break across Child SAs with different reqids, e.g. a client
 * redirected to another gateway (RFC 5685) whose new Child SA has the
 * same selectors. ENOENT when no policy has these selectors.
 */
int dp_policy_update(struct dp *dp, const struct dp_policy *p) WUR;
/* Removes the policy with the same reqid and selectors. */
int dp_policy_del(struct dp *dp, const struct dp_policy *p) WUR;

/* A local address (e.g. a virtual IP from a CP payload, RFC 7296 3.15) on the TUN device. */
int dp_addr_add(struct dp *dp, const struct sockaddr_storage *addr, unsigned prefixlen) WUR;
int dp_addr_del(struct dp *dp, const struct sockaddr_storage *addr, unsigned prefixlen) WUR;

void dp_stats(const struct dp *dp, struct dp_stats *out);

/* ---- UDP encapsulation (RFC 3948) ---- */
/* The daemon's bound UDP 4500 socket (borrowed) for sending ESP of a family.
 * XFRM: the kernel sends ESP itself; this only sets UDP_ENCAP on fd. */
int dp_set_udp_socket(struct dp *dp, sa_family_t family, int fd) WUR;
/*
 * An ESP-in-UDP datagram the daemon received on its 4500 socket (not
 * starting with the non-ESP marker, not a NAT-keepalive). buf is scratch:
 * it is decrypted in place. from/to are the outer addresses with ports.
 */
void dp_input_udp(struct dp *dp, uint8_t *buf, size_t len, const struct sockaddr_storage *from,
                  const struct sockaddr_storage *to);

/*
 * Receive steering (userspace with packet workers, RFC 3948): true when
 * the backend wants its own receive sockets in the SO_REUSEPORT group of
 * each of the daemon's NAT-T sockets. The daemon then sets SO_REUSEPORT
 * on those before bind, so that each is the first of its group (index 0,
 * where IKE and NAT-keepalives are steered), and hands them over with
 * dp_udp_steer.
 */
bool dp_udp_steers(const struct dp *dp);
/*
 * The daemon's bound NAT-T sockets now (borrowed, n of them; none to
 * stop): the backend's receive sockets follow this set. For each new one
 * it opens one socket per packet worker on the same address and port,
 * joining the group after it, and attaches a classic BPF program that
 * sends ESP to worker (SPI mod workers) (steer.h); the groups of sockets
 * no longer in the set are closed, those still in it kept. 0, or -1 when a
 * socket could not be steered (logged once): ESP on it keeps arriving
 * through dp_input_udp.
 */
int dp_udp_steer(struct dp *dp, const int *fds, size_t n);
/* The daemon is about to close fd (a NAT-T socket): its group's worker
 * sockets go first, since a group whose first socket goes would move a
 * worker's socket to index 0. 0 also when fd was not steered. */
int dp_udp_unsteer(struct dp *dp, int fd);
/*
 * The residue modulo *mod a new inbound SPI should have so that its SA is
 * worked by the same packet worker as the Child SA of rekey_reqid (a
 * rekey), or by the least loaded one (rekey_reqid 0 or unknown): with
 * steering the SPI decides the worker (us: SPI mod workers). -1
 * (EOPNOTSUPP) when any SPI will do (no packet workers).
 */
int dp_spi_residue(struct dp *dp, uint32_t rekey_reqid, uint32_t *mod, uint32_t *residue) WUR;

/* ---- helpers for building selectors ---- */
/* A selector for a prefix, all protocols and ports. */
int dp_ts_from_prefix(struct dp_ts *ts, sa_family_t family, const void *addr,
                      unsigned prefixlen) WUR;
/* Parse "10.0.0.0/24", "2001:db8::/64", "10.0.0.1" (a single address). */
int dp_ts_parse(struct dp_ts *ts, const char *s) WUR;

#endif
