/*
 * The IKE engine's public face: what riked's main loop and the in-process
 * exchange tests drive. The engine does no I/O of its own and reads no
 * clock: packets come in through ike_input(), go out through the send hook,
 * and time advances through ike_run_timers(). This keeps every exchange
 * test deterministic (a mock network and a fake clock) and lets riked put
 * the engine on libevent.
 */
#ifndef RIKE_IKE_H
#define RIKE_IKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "crypto/crypto.h"
#include "ike/conf.h"
#include "util/compiler.h"

struct ike;
struct ike_sa;

/* An address with its port. */
/* An IP address and port: a sockaddr_in or sockaddr_in6 (28 octets where
 * sockaddr_storage has 128: an SA holds several, MOBIKE's state many). */
struct ike_addr {
	union {
		struct sockaddr sa;
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
	} ss;
};

/* ---- addresses (addr.c) ---- */

bool addr_equal(const struct ike_addr *a, const struct ike_addr *b); /* with port */
bool addr_equal_host(const struct ike_addr *a, const struct ike_addr *b);
uint16_t addr_port(const struct ike_addr *a);
void addr_set_port(struct ike_addr *a, uint16_t port);
void addr_from_ss(struct ike_addr *a, const struct sockaddr_storage *ss, uint16_t port);
/* The same keeping ss's port; and back to a sockaddr_storage (zero-filled). */
void addr_set_ss(struct ike_addr *a, const struct sockaddr_storage *ss);
void addr_to_ss(const struct ike_addr *a, struct sockaddr_storage *ss);
/* Raw address octets (4 or 16) and their length. */
const uint8_t *addr_bytes(const struct ike_addr *a, size_t *len);
void addr_format(const struct ike_addr *a, char *buf, size_t len);
/* The address alone, without brackets or port. */
void addr_format_host(const struct ike_addr *a, char *buf, size_t len);
/* 4 or 16 octets (port 0); -1 for another length. */
int addr_from_bytes(struct ike_addr *a, const uint8_t *p, size_t len);
/* A numeric IPv4 or IPv6 address (port 0); -1 otherwise. */
int addr_parse(struct ike_addr *a, const char *text);
/* a lies in net/plen (same family). */
bool addr_in_prefix(const struct ike_addr *a, const struct ike_addr *net, unsigned plen);
bool addr_is_any(const struct sockaddr_storage *ss);

#define IKE_MAX_TS CFG_MAX_TS

struct ike_ts_set {
	struct cfg_ts ts[IKE_MAX_TS];
	size_t n;
};

/*
 * A Child SA as the data plane needs it: a value with no engine pointer in
 * it, valid for the duration of the hook call (the keys are wiped after).
 */
struct ike_child_info {
	const char *conn; /* connection name, for logs */
	uint64_t ike_serial;
	uint64_t ike_spi_i, ike_spi_r; /* the IKE SA's SPIs, for logs */
	struct ike_addr local, remote; /* outer addresses (the IKE SA's) */
	bool natt;                     /* the IKE SA floated to 4500 (RFC 7296 2.23) */
	uint32_t reqid;                /* names the pair in the data plane */
	uint32_t spi_in, spi_out;
	uint16_t encr, encr_keybits, integ;
	bool esn, transport, encap;
	uint8_t key_in_e[CRYPTO_MAX_KEY_LEN], key_in_a[CRYPTO_MAX_PRF_LEN];
	uint8_t key_out_e[CRYPTO_MAX_KEY_LEN], key_out_a[CRYPTO_MAX_PRF_LEN];
	size_t key_e_len, key_a_len;
	struct ike_ts_set ts_local, ts_remote;
	uint64_t life_bytes; /* 0: no volume limit */
};

/*
 * An IKE SA's keys as derived (RFC 7296 2.14, or 2.18 for a rekey), for a
 * host that exports them for debugging (riked's keylog): a value valid for
 * the duration of the hook call (the keys are wiped after). Roles are the
 * original initiator's and responder's, as in the IKE header's SPIs.
 */
struct ike_keys_info {
	const char *conn;
	uint64_t ike_serial;
	uint8_t spi_i[8], spi_r[8];
	uint16_t encr, encr_keybits, integ;
	const uint8_t *sk_ei, *sk_er, *sk_ai, *sk_ar; /* borrowed */
	size_t e_len, a_len;                          /* a_len 0 for AEAD ciphers */
};

/* What the engine needs from its host (riked or a test). */
struct ike_host {
	void *ctx;
	/* Send one UDP datagram from `from` (its port selects 500 or 4500;
	 * on 4500 the engine has already prefixed the non-ESP marker). */
	int (*send)(void *ctx, const struct ike_addr *from, const struct ike_addr *to,
	            const uint8_t *buf, size_t len);
	/* Milliseconds of a monotonic clock. */
	uint64_t (*now_ms)(void *ctx);
	/* Data plane: install/remove a Child SA's two SAs and its policies.
	 * NULL hooks mean "no data plane" (tests that only check IKE). */
	int (*child_up)(void *ctx, const struct ike_child_info *c);
	void (*child_down)(void *ctx, const struct ike_child_info *c);
	/* The IKE SA's addresses changed (NAT mapping change or MOBIKE): the
	 * Child SA follows to c->local/c->remote. */
	void (*child_moved)(void *ctx, const struct ike_child_info *c);
	/* The source address the kernel would use to reach dst (RFC 4555 3.5:
	 * paths follow the routing table), 0; -1 or NULL: no route known. */
	int (*route)(void *ctx, const struct ike_addr *dst, struct ike_addr *src);
	/* Resolve an FQDN without blocking (RFC 5685 9.2 gateway identities):
	 * 0 when the lookup started; the host answers once with ike_resolved(id).
	 * NULL or -1: names cannot be resolved. */
	int (*resolve)(void *ctx, const char *name, uint64_t id);
	/* An IKE SA's keys were derived (IKE_SA_INIT or an IKE rekey), on the
	 * engine's thread. NULL: not wanted. Only for debugging exports. */
	void (*ike_keys)(void *ctx, const struct ike_keys_info *k);
	/* An IKE SA changed state (from, to: enum ike_state of ike/engine.h;
	 * why as in its state log line, may be NULL). NULL: not wanted. */
	void (*sa_state)(void *ctx, uint64_t serial, int from, int to, const char *why);
	/* The residue modulo *mod (> 1) that a new inbound Child SA SPI must
	 * have, for a new Child SA (rekey_reqid 0) or the rekey of the Child
	 * SA of rekey_reqid: a data plane that steers ESP to packet threads
	 * by SPI picks the thread this way. 0 with *mod and *residue set;
	 * -1 or NULL: any SPI (RFC 4303 2.1 still applies: >= 256, unique). */
	int (*spi_residue)(void *ctx, uint32_t rekey_reqid, uint32_t *mod, uint32_t *residue);
	/* The data plane only does ESP in UDP (userspace backend): make every
	 * SA float to 4500 by reporting a NAT on our side (RFC 7296 2.23). */
	bool force_encap;
};

/* cfg is borrowed and must outlive the engine (or be replaced by ike_reload). */
struct ike *ike_new(const struct cfg *cfg, const struct ike_host *host);
void ike_free(struct ike *ike);
/* Start connections whose start action is "start". */
void ike_start(struct ike *ike);
/* Swap in a new configuration: removed connections are torn down, new ones started;
 * the others keep their SAs, which now follow the new settings. */
void ike_reload(struct ike *ike, const struct cfg *cfg);
/* After ike_reload, for a connection whose change needs a new SA (its
 * addresses, identities, proposals, selectors...): delete its SAs towards
 * the peer and, with start action "start", initiate a new one. -1 when
 * the connection does not exist or could not be initiated. */
int ike_replace(struct ike *ike, const char *name) WUR;

/* One UDP datagram arrived on a local address/port (port 4500 datagrams
 * still carry their non-ESP marker; ESP must not be passed here). */
void ike_input(struct ike *ike, const struct ike_addr *local, const struct ike_addr *remote,
               const uint8_t *buf, size_t len);

/* The host's usable local addresses (port 0): the whole current set, after
 * every change of addresses, links or routes (RFC 4555 3.5). */
void ike_local_addresses(struct ike *ike, const struct ike_addr *addrs, size_t n);

/* Milliseconds until the next timer is due (-1: none), and run those due. */
int64_t ike_next_timeout(struct ike *ike);
void ike_run_timers(struct ike *ike);

/* Operator commands. -1 when the connection does not exist. */
int ike_up(struct ike *ike, const char *conn) WUR;
int ike_down(struct ike *ike, const char *conn) WUR;
/* Start a rekey or liveness check now (tests and rikectl). */
int ike_rekey_ike(struct ike *ike, const char *conn) WUR;
int ike_rekey_child(struct ike *ike, const char *conn) WUR;
int ike_dpd_now(struct ike *ike, const char *conn) WUR;

/* Data-plane events. */
void ike_esp_unknown_spi(struct ike *ike, uint32_t spi, const struct ike_addr *local,
                         const struct ike_addr *remote);
void ike_child_expired(struct ike *ike, uint32_t reqid, bool hard);
/* The data plane cannot carry a Child SA it took (its route was refused):
 * delete it, and do not replace it even with keep_up (a replacement would
 * fail the same way); list-conns shows why. */
void ike_child_failed(struct ike *ike, uint32_t reqid, const char *why);
void ike_child_counters(struct ike *ike, uint32_t reqid, uint64_t bytes_in, uint64_t pkts_in,
                        uint64_t bytes_out, uint64_t pkts_out);

/* RFC 6290: roll the QCD secret over now (also on a schedule). */
int ike_qcd_rollover(struct ike *ike) WUR;
/* A new QCD secret after the file was found corrupt (operator action): 0
 * done, -1 failed, 1 refused because the secret is healthy and `force` is
 * false. `what` says what was done, or would break, or why it failed. */
int ike_qcd_reset(struct ike *ike, bool force, char *what, size_t len) WUR;

/* The answer to host.resolve(id): n addresses (port 0), n = 0 when the name
 * did not resolve. The engine gives up on a lookup by itself after 5 s. */
void ike_resolved(struct ike *ike, uint64_t id, const struct ike_addr *addrs, size_t n);

/* ---- Redirect (RFC 5685), the gateway's operator commands ---- */

struct ike_redirect_sel {
	bool all;
	const char *conn;            /* connection name, or NULL */
	uint64_t serial;             /* one SA, or 0 */
	const struct ike_addr *peer; /* peer address, or NULL */
	unsigned peer_plen;          /* with peer: prefix length (32/128: the host) */
	const char *id;              /* fnmatch(3) pattern on the peer's ID as text, or NULL */
};
/* Gateway-initiated redirect (RFC 5685 5) of the selected established SAs
 * whose peers announced REDIRECT_SUPPORTED, to target (an address or an
 * FQDN); the number of SAs sent a REDIRECT, -1 when target is neither. */
int ike_redirect(struct ike *ike, const struct ike_redirect_sel *sel, const char *target) WUR;
/* Drain towards target: new clients are redirected in IKE_SA_INIT and
 * established ones moved at rate SAs per second; target NULL stops.
 * -1 when target is not an address or FQDN. */
int ike_redirect_drain(struct ike *ike, const char *target, unsigned rate) WUR;
/* Drain state and redirect counters (rikectl redirect --status): as text
 * to out, or, with j (a json-c object) not NULL, as members of j. */
struct json_object;
void ike_redirect_status(struct ike *ike, FILE *out, struct json_object *j);

/*
 * Crypto workers (riked.conf crypto_workers): key exchanges are computed on
 * threads of the engine's own. The fd (-1 without workers) turns readable
 * when results are ready; the host then calls ike_work_done() on the
 * engine's thread, which resumes the exchanges that waited for them.
 */
int ike_work_fd(const struct ike *ike);
void ike_work_done(struct ike *ike);
/* Jobs handed to the workers and not yet resumed; the number of threads. */
size_t ike_work_outstanding(const struct ike *ike);
unsigned ike_work_threads(const struct ike *ike);

/* ---- status for rikectl (json-c objects: the caller owns them) ---- */

/* Every IKE SA with its Child SAs (rikectl(8) list-sas gives the members). */
struct json_object *ike_sas_json(struct ike *ike);
/* The engine's and the extensions' counters, as an object of numbers. */
struct json_object *ike_stats_json(struct ike *ike);
/* The same counters as two text lines ("stats:", "defence:"). */
void ike_stats_text(struct ike *ike, FILE *out);
/* The extensions' short text state of SA `serial` (" qcd ... mobike on"). */
void ike_sa_ext_text(struct ike *ike, uint64_t serial, char *buf, size_t len);

/* A connection as the operator sees it (rikectl list-conns). FAILED: no SA,
 * and the last one failed or died; *why then says why (borrowed, valid
 * until the next engine call), else NULL. */
enum ike_conn_state {
	IKE_CONN_CONFIGURED,
	IKE_CONN_CONNECTING,
	IKE_CONN_ESTABLISHED,
	IKE_CONN_DELETING,
	IKE_CONN_FAILED,
};
enum ike_conn_state ike_conn_state(struct ike *ike, const char *name, const char **why);
const char *ike_conn_state_name(enum ike_conn_state st);

/* Counters of dropped input, by reason, for status and tests. */
struct ike_stats {
	uint64_t rx, tx;
	uint64_t drop_malformed, drop_unknown_spi, drop_icv, drop_msgid, drop_rules;
	uint64_t retransmits, resent_responses, cookies_sent, half_open;
	uint64_t cookies_invalid;                      /* a COOKIE that did not verify */
	uint64_t half_open_expired, half_open_evicted; /* RFC 8019 4-5 */
	uint64_t sa_established, sa_failed;
	/* RFC 7383: IKE Fragment messages sent (retransmissions included) and
	 * accepted into reassembly; retransmitted fragments other than number 1
	 * of a request already answered, ignored (2.6.1). */
	uint64_t frags_tx, frags_rx, drop_frag_retrans;
	/* RFC 8019 4, 6: times the responder went under attack; IKE_SA_INIT DH
	 * computations (both roles); seconds in which the DH budget was
	 * reached, and requests refused for it. */
	uint64_t attack_started, dh_computed, dh_saturated, drop_dh_budget;
	uint64_t dh_reused; /* IKE_SA_INIT answered with a kept key pair (RFC 7296 2.12) */
	/* RFC 8019 7.1: puzzles sent with cookies; retried requests with a solution
	 * that met the difficulty, a weak or malformed one, none although a puzzle
	 * was given; low-priority requests deferred (7.1.5). As initiator:
	 * puzzles solved, and given up (retried with the cookie alone). */
	uint64_t puzzles_sent, puzzles_solved, puzzles_weak, puzzles_ignored, puzzles_deferred;
	uint64_t puzzles_solved_local, puzzles_given_up;
	/* RFC 8019 7.2: IKE_AUTH puzzles sent in IKE_SA_INIT responses; IKE_AUTH
	 * requests with a valid solution, a weak or malformed one, none
	 * (both dropped unopened, 7.2.4). As initiator: IKE_AUTH puzzles solved
	 * (one not solved counts in puzzles_given_up). */
	uint64_t puzzles_auth_sent, puzzles_auth_solved, puzzles_auth_weak, puzzles_auth_missing;
	uint64_t puzzles_auth_solved_local;
	/* RFC 8019 5: failed IKE_AUTH (responder), sources blocked for it,
	 * IKE_SA_INIT requests of blocked sources dropped. */
	uint64_t auth_failed, auth_blocked, drop_auth_blocked;
	/* Crypto workers: key-exchange jobs made (run inline without workers);
	 * messages dropped because their SA's job was still out (a
	 * retransmission, most often), requests dropped because the queue was
	 * full, results thrown away because their SA was gone. */
	uint64_t work_jobs, drop_work_pending, drop_work_busy, work_stale;
};
const struct ike_stats *ike_get_stats(const struct ike *ike);

/* ---- views for the host's metrics (riked's metrics.c) ---- */

/* Engine-wide gauges, now. */
struct ike_gauges {
	size_t half_open, half_open_bytes; /* responder SAs waiting for IKE_AUTH (RFC 8019) */
	bool under_attack;                 /* RFC 8019 4 */
	uint32_t dh_last_second;           /* IKE_SA_INIT DH computations in the last second */
};
void ike_get_gauges(const struct ike *ike, struct ike_gauges *g);
/* The extensions' counters (mobike_moves, redirects_sent_init, ...): fn gets
 * each one's stable snake_case name and value. */
void ike_ext_counters(struct ike *ike, void (*fn)(void *arg, const char *name, uint64_t v),
                      void *arg);
/* One IKE SA, and one of its Child SAs (with the byte and packet counters
 * last reported through ike_child_counters): values valid during the call. */
struct ike_sa_view {
	const char *conn;
	const char *state; /* sa_state_name() */
	uint64_t serial;
	size_t children;
};
struct ike_child_view {
	const char *conn;
	uint64_t ike_serial;
	uint32_t reqid, spi_in, spi_out;
	uint64_t bytes_in, pkts_in, bytes_out, pkts_out;
};
void ike_views(struct ike *ike, void (*sa_fn)(void *arg, const struct ike_sa_view *v),
               void (*child_fn)(void *arg, const struct ike_child_view *v), void *arg);
/* Every state name sa_state_name() returns, in order, NULL-terminated
 * (a gauge per state is exported even when no SA is in it). */
extern const char *const ike_state_names[];

/* Lookups for tests and the host (borrowed pointers, valid until the next engine call). */
struct ike_sa *ike_sa_by_conn(struct ike *ike, const char *conn);
size_t ike_sa_count(const struct ike *ike);
/* The connection name and SPIs that IKE SA `serial`'s log lines carry, so
 * that the host's lines about its Child SAs (the data plane's) name it the
 * same way; -1 if it is gone. */
int ike_sa_log_id(struct ike *ike, uint64_t serial, const char **conn, uint64_t *spi_i,
                  uint64_t *spi_r) WUR;

#endif
