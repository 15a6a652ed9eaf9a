/*
 * The engine's internal state: IKE SAs, Child SAs, the SA table and the
 * exchange plumbing shared by the exchange files. Only the engine and the
 * exchange files include this header; extensions see SAs through
 * ike/engine.h and the contract of ike/ext.h.
 *
 * Ownership: struct ike owns the SA table; the table owns every ike_sa and
 * each ike_sa owns its Child SAs. Timers and callbacks hold serial numbers,
 * never pointers, and look the SA up again when they fire.
 */
#ifndef RIKE_IKE_SA_H
#define RIKE_IKE_SA_H

#include <stdbool.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "ike/conf.h"
#include "ike/engine.h"
#include "ike/ext.h"
#include "ike/ike.h"
#include "util/ratelimit.h"
#include "util/theap.h"
#include "util/workpool.h"
#include "wire/payload.h"
#include "wire/sk.h"

#define IKE_NONCE_LEN     32
#define IKE_MAX_NONCE     256
#define IKE_MAX_RESTARTS  256
#define IKE_MAX_EXT       4  /* extensions (ext.c: 3 today; a slot per SA each) */
#define IKE_MAX_LOCAL     16 /* local addresses the host reports */
#define IKE_MAX_OUT_FRAGS 64 /* IKE Fragment messages one message of ours may need */
#define IKE_MAX_CONN_ERRS 64 /* connections whose last failure is remembered */

/* Work an SA may start as exchange initiator, one at a time (window 1). */
enum ike_task {
	TASK_NONE,
	TASK_IKE_SA_INIT,
	TASK_IKE_AUTH,
	TASK_CHILD_CREATE,
	TASK_CHILD_REKEY,
	TASK_IKE_REKEY,
	TASK_CHILD_DELETE,
	TASK_IKE_DELETE,
	TASK_DPD,
	TASK_EXT_REQUEST, /* INFORMATIONAL requests owned by extensions (ike_ext_request) */
	TASK_MAX
};

/* One IPsec SA pair (RFC 7296 1.3). */
struct child_keys {
	uint8_t in_e[CRYPTO_MAX_KEY_LEN], in_a[CRYPTO_MAX_PRF_LEN];
	uint8_t out_e[CRYPTO_MAX_KEY_LEN], out_a[CRYPTO_MAX_PRF_LEN];
};

/* Laid out without holes: 128 octets and the selectors, one allocation. */
struct child_sa {
	struct child_sa *next;
	uint32_t reqid;  /* names the pair in the data plane */
	uint32_t spi_in; /* ours: the peer sends with it */
	uint32_t spi_out;
	uint16_t encr, encr_keybits, integ, pfs_group;
	uint8_t protocol; /* IKEV2_PROTO_ESP */
	bool esn, transport, encap;
	/* owned, wiped: the keys (2.17) from derivation until the data plane
	 * has them (child_install); an installed Child SA keeps none. */
	struct child_keys *keys;
	uint8_t key_e_len, key_a_len;
	uint8_t n_ts_local, n_ts_remote; /* ts[] */
	bool installed;
	bool rekeyed;        /* replaced; deleted once the delete completes */
	bool rekey_pending;  /* TASK_CHILD_REKEY is for this one */
	bool delete_pending; /* TASK_CHILD_DELETE includes this one */
	bool deleting;       /* our delete for it is out */
	/* RFC 7296 2.8.1: for collisions, who created it and the lower nonce of that exchange. */
	bool by_us;
	uint32_t successor; /* reqid of the child that rekeyed this one (peer's exchange) */
	uint64_t created_ms, rekey_ms, expire_ms;
	uint64_t bytes_in, pkts_in, bytes_out, pkts_out;
	uint8_t *nonce_min; /* owned, nonce_min_len octets (sa_bytes_set) */
	size_t nonce_min_len;
	/* The narrowed selectors (RFC 7296 2.9), local ones then remote ones,
	 * allocated with the struct to their number (two struct ike_ts_set
	 * would be 1,232 B per Child SA for what is mostly one selector
	 * each): child_ts(). */
	struct cfg_ts ts[];
};

/*
 * A message as sent, for retransmission: one datagram (nfrags 0), or its
 * IKE Fragment messages back to back (RFC 7383 2.5, wire_skf_split_flat),
 * which are resent as they are (2.6.1).
 */
struct ike_frags {
	size_t nfrags;
	/* owned: where each fragment ends (IKE_MAX_OUT_FRAGS entries), made
	 * with the SA's first fragmented message (most SAs have none) */
	uint32_t *end;
};

/* One outstanding request we sent (window 1, RFC 7296 2.3). */
struct ike_out {
	enum ike_task task;
	uint32_t msg_id;
	struct wire_wr pkt; /* exactly what was sent, for retransmission */
	struct ike_frags frags;
	unsigned tries;
	uint64_t next_ms;
	unsigned ext_owner; /* TASK_EXT_REQUEST: the owner's index in ext.c + 1 */
};

/* The last response we sent, for retransmitted requests (2.1). */
struct ike_in_cache {
	uint32_t msg_id;
	struct wire_wr pkt;
	struct ike_frags frags;
	bool valid;
};

/* Task-specific exchange state that must live between request and response
 * of an exchange we start (sa_pend): SAs that only answer never have one. */
struct ike_pending {
	struct crypto_dh *dh;         /* owned */
	uint8_t nonce[IKE_NONCE_LEN]; /* ours (2.10: we always send IKE_NONCE_LEN) */
	size_t nonce_len;
	uint8_t new_spi[8]; /* IKE rekey: our SPI for the new IKE SA */
	uint32_t child_spi; /* new Child SA: our inbound SPI */
	uint32_t rekey_spi; /* Child rekey/delete: the old SA's inbound SPI */
	struct ike_ts_set ts_i, ts_r;
	uint64_t new_sa; /* IKE rekey: serial of the new IKE SA */
};

/* An initiator SA's own settings instead of its connection's (ike/engine.h:
 * ike_sa_set_local_id, _local_ts, _initial_contact). */
struct ike_sa_own {
	struct cfg_id id; /* type 0: the connection's local_id */
	struct cfg_ts ts[CFG_MAX_TS];
	size_t n_ts;         /* 0: the connection's local_ts */
	int initial_contact; /* -1: the engine decides, else 0/1 */
};

/*
 * What an SA needs only until it is established (issue 13, memory per SA:
 * ~200 octets an established SA does not keep). Made with the SA, freed by
 * sa_setup_free when IKE_AUTH is over or a rekey's new SA is up; NULL after.
 */
struct ike_setup {
	struct ike_addr init_peer;          /* responder: where IKE_SA_INIT came from (index key) */
	struct wire_wr init_req, init_resp; /* the IKE_SA_INIT messages, which AUTH signs (2.15) */
	/* owned (sa_bytes_set): initiator, the responder's COOKIE to echo
	 * (2.6), from its demand until IKE_AUTH is over; NULL mostly */
	uint8_t *cookie;
	size_t cookie_len;
	unsigned init_retries; /* INVALID_KE / COOKIE restarts, bounded */
	/* Responder, RFC 8019 7.2.1: the IKE_AUTH puzzle's difficulty (0: none);
	 * while it is set and the SA has no keys, the DH waits for the PS. */
	uint8_t auth_puzzle;
	bool ho_linked; /* on the half-open list (halfopen.c) */
	/* Initiator, RFC 8019 7.1.2, 7.2.2: the Puzzle Solution for the retried
	 * IKE_SA_INIT, then for the IKE_AUTH request. */
	uint8_t *ps; /* owned, WIRE_PS_MAX octets while a solution is held (puzzle.c) */
	size_t ps_len;
	/* Responder, half-open (halfopen.c): oldest-first list, source index, bytes held. */
	struct ike_sa *ho_prev, *ho_next;
	uint64_t ho_key;
	size_t ho_bytes;
	uint64_t ho_deadline_ms; /* RFC 8019 4.1: set when it became half-open */
};

struct ike_sa {
	uint64_t serial;
	/* never NULL: the connection's name (conn->name), "" before one is
	 * chosen, or name_kept once a reload removed the connection */
	const char *conn_name;
	char *name_kept;             /* owned: the removed connection's name; NULL mostly */
	const struct cfg_conn *conn; /* borrowed from the live config; NULL once removed */
	uint8_t spi_i[8], spi_r[8];
	bool initiator; /* we are the original initiator (2.14 key roles) */
	enum ike_state state;
	uint64_t created_ms, established_ms, rekey_ms, expire_ms, last_rx_ms;

	/* Addresses (RFC 4555: a set, one path in use). */
	struct ike_addr local, remote;
	struct ike_setup *su; /* owned, until established (sa_setup_free); NULL after */
	bool natt;            /* floated to port 4500 (RFC 7296 2.23) */
	bool nat_local;       /* we are behind a NAT */
	bool nat_remote;      /* the peer is behind a NAT */
	bool fake_nat;        /* we pretend a NAT to force UDP encapsulation */

	/* Negotiated algorithms and keys (2.14). */
	struct crypto_ike_suite suite;
	/* 2.17, 2.18: SK_d, all an established SA keeps of its keys (Child SA
	 * keys and the rekeyed IKE SA's SKEYSEED come from it). */
	uint8_t sk_d[CRYPTO_MAX_PRF_LEN];
	uint8_t sk_d_len;
	bool keyed; /* prot_out/prot_in are set up */
	/* owned, wiped: all seven SK_* from derivation until IKE_AUTH is over
	 * (SK_p makes and checks AUTH, 2.15; the SK contexts in prot_* hold
	 * SK_e and SK_a themselves); NULL after (ike_keys_drop). */
	struct crypto_ike_keys *keys;
	struct wire_prot prot_out, prot_in;

	/* What IKE_AUTH signs (2.15); the nonces, owned, of their length (sa_bytes_set). */
	uint8_t *ni, *nr;
	size_t ni_len, nr_len;
	struct crypto_dh *dh; /* owned until the keys are derived */
	uint16_t dh_group;

	/* Message IDs (2.2) and windows of one. */
	uint32_t next_msg_id;   /* for our next request */
	uint32_t expect_msg_id; /* the next request we accept */
	/* owned: the request we started and wait for the response to (a window
	 * of one, 2.3), from ike_send_request to ike_request_done; NULL when
	 * none (an idle SA keeps no request, memory per SA, issue 13) */
	struct ike_out *out;
	struct ike_in_cache cache;
	struct ike_pending *pend; /* owned; made by the first request we start, else NULL */
	uint32_t tasks;           /* bitmap of queued enum ike_task */
	/* Extensions (ike/ext.h): the INFORMATIONAL requests they queued (a
	 * bit per extension); their states of this SA are ext_state below. */
	uint32_t ext_requests;
	uint64_t dpd_ms;
	uint64_t keepalive_ms; /* next NAT-T keepalive (RFC 3948 4) */

	struct ike_sa_own *own; /* owned; settings of its own (sa_own.c), or NULL */

	/* The peer's authenticated identity (2.4: INITIAL_CONTACT is about it):
	 * its ID type, length and SHA-256, set once AUTH verified. */
	uint8_t peer_id_type;
	bool peer_frag; /* it sent IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 2.3) */
	size_t peer_id_len;
	uint8_t peer_id_hash[32];
	uint8_t *peer_id; /* owned: its first sa_peer_id_kept() octets, for logs and rules */

	/* Extensions (ike/ext.h): their states of this SA (owned). */
	void *ext_state[IKE_MAX_EXT];

	/* RFC 7383 2.6: the peer's fragmented requests and responses, apart. */
	struct wire_skf_reasm *reasm, *reasm_resp; /* owned; NULL until a fragment comes */
	struct child_sa *children;                 /* owned list */
	uint64_t rekeyed_to;                       /* serial of the IKE SA that replaced this one */
	/* RFC 7296 2.8.2: for IKE rekey collisions, as for Child SAs (and by_us below). */
	uint8_t *nonce_min; /* owned, nonce_min_len octets (sa_bytes_set) */
	size_t nonce_min_len;
	uint64_t peer_rekey_serial; /* new IKE SA the peer's rekey created while ours was out */
	/* One octet each, together (no padding between them). */
	bool by_us;               /* 2.8.2: we started the exchange that created it */
	bool no_restart;          /* taken down on purpose: keep_up does not apply */
	bool delete_when_up;      /* ike_delete during IKE_AUTH: delete once established */
	bool quiet;               /* unauthenticated and dropped in bulk: state lines at debug */
	uint64_t temp_fail_ms;    /* first TEMPORARY_FAILURE of a series (RFC 7296 2.25) */
	struct ike_sa *next_dead; /* on ike->dead once killed */
	struct ike_sa *id_prev, *id_next; /* established SAs of this peer identity (sa.c) */
	/* The ticket of the crypto job computing for this SA (work.c), 0: none. */
	uint64_t work;
	struct theap_node timer; /* ike->timers: its earliest deadline (timer.c) */
};

/* ---- the engine (engine.c) ---- */

struct ike_hash;

/* Why a connection's last SA failed (rikectl list-conns); cleared when
 * one is established or the operator starts it again. */
struct ike_conn_err {
	char name[CFG_NAME_MAX];
	char why[128];
};

#define IKE_DH_KEEP 4 /* groups with a kept key pair at once */

struct ike {
	const struct cfg *cfg; /* borrowed */
	struct ike_host host;
	struct ike_stats stats;
	struct ike_hash *by_spi;    /* our SPI -> sa */
	struct ike_hash *by_serial; /* serial -> sa */
	struct ike_hash *by_reqid;  /* a Child SA's reqid -> the IKE SA holding it */
	struct ike_hash *by_spi_in; /* a Child SA's inbound SPI -> the IKE SA holding it */
	struct ike_hash
	    *by_init; /* responder: hash(SPIi, peer) -> sa, for IKE_SA_INIT retransmits */
	uint64_t next_serial;
	uint32_t next_reqid;
	struct ike_sa *dead; /* killed SAs, freed by sa_reap() */
	bool shutting_down;
	uint8_t cookie_secret[32];
	uint32_t cookie_version;
	size_t half_open;                 /* responder SAs waiting for IKE_AUTH (halfopen.c) */
	struct ike_sa *ho_head, *ho_tail; /* those SAs, oldest first */
	struct ike_hash *ho_by_src;       /* and by source address */
	/* Established SAs by the peer's authenticated identity (RFC 7296 2.4:
	 * INITIAL_CONTACT); made with the first one (sa.c, sa_peer_id_key). */
	struct ike_hash *by_peer_id;
	size_t ho_bytes;           /* what they hold, fragments included */
	uint64_t ho_summary_ms;    /* next "at a cap" log line */
	uint8_t cookie_prev[32];   /* RFC 7296 2.6: the secret before the current one */
	uint64_t cookie_rotate_ms; /* next change of the cookie secret */
	bool cookie_mode;          /* cookies are demanded now */
	uint64_t cookie_log_ms;    /* next "cookie mode" log line allowed */
	struct ike_attack *attack; /* owned: RFC 8019 defences (attack.c) */
	struct theap timers;       /* the SAs by their earliest deadline (timer.c) */
	/* Connections to re-initiate (keep_up), with when. */
	struct {
		char name[CFG_NAME_MAX];
		uint64_t at_ms;
	} restarts[IKE_MAX_RESTARTS];
	size_t n_restarts;
	void *ext[IKE_MAX_EXT]; /* the extensions' engine-wide states, as in ext.c */
	struct ike_addr local_addrs[IKE_MAX_LOCAL]; /* ike_local_addresses() */
	size_t n_local_addrs;
	struct ike_lookup *lookups; /* resolve.c: pending name lookups */
	uint64_t next_lookup_id;
	/* Budgets for answers to unauthenticated input (RFC 7296 2.21.1, RFC 8019). */
	struct ratelimit_keyed answer_src;
	struct ratelimit answer_all;
	/* The addresses of the request being processed (responses go there, 2.11). */
	const struct ike_addr *rx_local, *rx_remote;
	/* Crypto workers (work.c): NULL when jobs run inline. */
	struct workpool *pool;
	size_t pool_max;           /* jobs out at most */
	uint64_t next_ticket;      /* of the last job */
	struct ike_work *resuming; /* the result a second pass may take (work_take_result) */
	/* RFC 7296 2.12: responder key pairs kept for reuse (work.c). */
	struct ike_dh_keep {
		struct crypto_dh *dh; /* owned; NULL: free */
		uint64_t born_ms;
	} dh_keep[IKE_DH_KEEP];
	struct ike_conn_err conn_errs[IKE_MAX_CONN_ERRS];
	size_t n_conn_errs;
};

/* ---- extensions (ext.c): the engine's side of ike/ext.h ---- */

int ext_init(struct ike *ike) WUR;
void ext_free(struct ike *ike);
/* Free the extensions' states of an SA (made on demand: ext_state_new). */
void ext_sa_free(struct ike_sa *sa);
/* IKE rekey: the new SA's states from the old ones (inherit hooks). */
void ext_inherit(struct ike *ike, struct ike_sa *old, struct ike_sa *nsa);
/* IKE rekey done: queued extension requests move to the new SA, then EXT_IKE_REKEY_DONE. */
void ext_rekey_done(struct ike *ike, struct ike_sa *old, struct ike_sa *nsa,
                    const struct wire_msg *in);
/*
 * Run every extension's hook at pt and apply the result (ike/ext.h, 3.):
 * the one place where EXT_HANDLED, EXT_NO_CHILD and EXT_FAIL take effect.
 * local/remote NULL: the request's addresses or the SA's path. Callers
 * stop on EXT_HANDLED and EXT_FAIL; EXT_NO_CHILD comes back from
 * IKE_AUTH's _IN points only.
 */
enum ext_result ext_run(struct ike *ike, enum ext_point pt, struct ike_sa *sa,
                        const struct wire_msg *in, struct wire_msg *out,
                        const struct ike_addr *local, const struct ike_addr *remote);
/* ext_run at an _OUT point: 0, or -1 when an extension could not add its part. */
int ext_add(struct ike *ike, struct ike_sa *sa, enum ext_point pt, struct wire_msg *out) WUR;
/* TASK_EXT_REQUEST: build the next queued extension request into out (its
 * owner recorded in sa->out.ext_owner by the caller); 0 with nothing built
 * when none is left. */
int ext_build_request(struct ike *ike, struct ike_sa *sa, unsigned *owner,
                      struct wire_msg *out) WUR;
/* The response to an extension's request: to its owner alone. */
void ext_request_done(struct ike *ike, struct ike_sa *sa, unsigned owner,
                      const struct wire_msg *in);
/* The path of transmission `tries` of the SA's outstanding request. */
void ext_transmit(struct ike *ike, struct ike_sa *sa, unsigned tries, struct ike_addr *local,
                  struct ike_addr *remote);
enum ext_result ext_path_seen(struct ike *ike, struct ike_sa *sa, const struct ike_addr *local,
                              const struct ike_addr *remote, const struct wire_msg *m);
void ext_unknown_spi(struct ike *ike, const struct ike_addr *local, const struct ike_addr *remote,
                     const struct wire_msg *m);
enum ext_result ext_unprotected(struct ike *ike, struct ike_sa *sa, const struct ike_addr *local,
                                const struct ike_addr *remote, const struct wire_msg *m);
void ext_child_event(struct ike *ike, struct ike_sa *sa, struct child_sa *c,
                     enum ext_child_event ev);
int64_t ext_next_timeout(struct ike *ike, uint64_t now);
void ext_timers(struct ike *ike, uint64_t now);
void ext_addresses_changed(struct ike *ike);
void ext_sa_down(struct ike *ike, struct ike_sa *sa, bool peer_dead);
void ext_esp_unknown_spi(struct ike *ike, uint32_t spi, const struct ike_addr *local,
                         const struct ike_addr *remote);
void ext_counters(struct ike *ike, void (*fn)(void *arg, const char *name, uint64_t v), void *arg);
/* The extensions' status of an SA: JSON fields into j, or text appended to text. */
void ext_status(struct ike *ike, const struct ike_sa *sa, struct json_object *j, char *text,
                size_t len);
void ike_sa_changed(struct ike *ike, struct ike_sa *sa);
/* A connection's last failure (api.c), for ike_conn_state(). */
void ike_conn_error_set(struct ike *ike, const char *name, const char *why);
void ike_conn_error_clear(struct ike *ike, const char *name);

/* ---- resolve.c: the host's name lookups for extensions ---- */

void resolve_timers(struct ike *ike, uint64_t now);
int64_t resolve_next(const struct ike *ike, uint64_t now);
void resolve_free(struct ike *ike);
/* ext.c: hand an answer to its owner. */
void ext_resolved(struct ike *ike, const struct ike_ext *owner, uint64_t tag, const char *name,
                  const struct ike_addr *addrs, size_t n);

/* ---- api.c ---- */

/* Re-initiate a keep_up connection after delay_ms (RFC 6290 3; restart-on-close). */
void ike_restart(struct ike *ike, const char *name, uint64_t delay_ms);
void ike_run_restarts(struct ike *ike, uint64_t now);
int64_t ike_restart_next(const struct ike *ike, uint64_t now);

/* ---- SA table (sa.c) ---- */

struct ike_hash *hash_new(void);
void hash_free(struct ike_hash *h);
int hash_put(struct ike_hash *h, uint64_t key, struct ike_sa *sa) WUR;
void hash_del(struct ike_hash *h, uint64_t key, const struct ike_sa *sa);
/* Call fn for each SA stored under key (fn must not change the hash). */
void hash_each_key(struct ike_hash *h, uint64_t key, void (*fn)(struct ike_sa *, void *),
                   void *arg);

struct ike_sa *sa_new(struct ike *ike, const struct cfg_conn *conn, bool initiator);
/* The state of the exchanges the SA starts, made (zeroed) on first use;
 * NULL: out of memory. */
/* The request an SA starts (ike_send_request), freed with its exchange. */
struct ike_out *sa_out_new(void);
void sa_out_free(struct ike_sa *sa);
struct ike_pending *sa_pend(struct ike_sa *sa);
/* *dst becomes a copy of len octets of p (p NULL: len octets to fill),
 * the old one freed; 0, or -1 out of memory (then *dst is NULL, *dst_len 0).
 * For the fields sized to what they hold: nonces, the peer's identity. */
int sa_bytes_set(uint8_t **dst, size_t *dst_len, const uint8_t *p, size_t len) WUR;
/* How many octets of the peer's identity an SA keeps (peer_id). */
size_t sa_peer_id_kept(const struct ike_sa *sa);
/* Free it (NULL-safe): the request it was for is done. */
void sa_pend_free(struct ike_sa *sa);
/* RFC 7383 2.6: the reassembly queue for the peer's requests or responses,
 * allocated with the first fragment (NULL: out of memory); what the queues
 * hold; and dropping them. */
struct wire_skf_reasm *sa_reasm(struct ike_sa *sa, bool response);
size_t sa_reasm_bytes(const struct ike_sa *sa);
void sa_reasm_clear(struct ike_sa *sa);
/* Mark dead and unlink; freed by sa_reap at the end of the engine call. */
void sa_kill(struct ike *ike, struct ike_sa *sa, const char *why);
/* The SA ends with nobody to tell (a failed setup, our delete answered):
 * extensions hear sa_down, keep_up does not apply. */
void sa_fail(struct ike *ike, struct ike_sa *sa, const char *why);
/* The same for SAs that unauthenticated input made: the state line at debug level. */
void sa_kill_quiet(struct ike *ike, struct ike_sa *sa, const char *why);
void sa_reap(struct ike *ike);
void sa_free(struct ike *ike, struct ike_sa *sa);
struct ike_sa *sa_lookup_spi(struct ike *ike, const uint8_t spi[8]);
struct ike_sa *sa_lookup_serial(struct ike *ike, uint64_t serial);
struct ike_sa *sa_lookup_init(struct ike *ike, const uint8_t spi_i[8], const struct ike_addr *peer,
                              const uint8_t *ni, size_t ni_len);
/* An IKE SPI as a number (for hashes and log lines). */
uint64_t sa_spi64(const uint8_t spi[8]);
/* "peer ADDR:PORT id TYPE:VALUE" for log lines; the identity only once
 * AUTH has verified it. */
void sa_peer_text(const struct ike_sa *sa, char *buf, size_t len);
/* An ID payload's identity as riked.conf spells it (fqdn:, ipv4:, ...). */
void sa_id_text(uint8_t type, const uint8_t *data, size_t n, char *buf, size_t len);
/* A DH group's IANA name (wire/names.c) for log lines, never NULL. */
const char *sa_group_name(uint16_t group);
/* Our own SPI of the SA (SPIi when we initiated it). */
const uint8_t *sa_our_spi(const struct ike_sa *sa);
void sa_set_peer_spi(struct ike *ike, struct ike_sa *sa, const uint8_t spi[8]);
void sa_index_init(struct ike *ike, struct ike_sa *sa);
void sa_unindex_init(struct ike *ike, struct ike_sa *sa);
/* What only set-up needs goes (struct ike_setup); idempotent. */
void sa_setup_free(struct ike *ike, struct ike_sa *sa);
void sa_set_state(struct ike *ike, struct ike_sa *sa, enum ike_state st, const char *why);
/* The established SAs whose peer has sa's authenticated identity, other
 * than sa (RFC 7296 2.4), as serials into out[max]; how many there are. */
size_t sa_same_peer_id(struct ike *ike, const struct ike_sa *sa, uint64_t *out, size_t max);
/* Call fn for every live SA (safe against sa_kill inside fn). */
void sa_foreach(struct ike *ike, void (*fn)(struct ike *, struct ike_sa *, void *), void *arg);
/* A Child SA with room for n_ts selectors, indexed and on sa's list. */
struct child_sa *child_new(struct ike *ike, struct ike_sa *sa, uint32_t spi_in, size_t n_ts);
void child_free(struct child_sa *c);
/* A Child SA's selectors as sets (either may be NULL). */
void child_ts(const struct child_sa *c, struct ike_ts_set *local, struct ike_ts_set *remote);
struct child_sa *child_by_spi_in(struct ike_sa *sa, uint32_t spi);
struct child_sa *child_by_spi_out(struct ike_sa *sa, uint32_t spi);
void child_remove(struct ike *ike, struct ike_sa *sa, struct child_sa *c);
struct child_sa *child_by_reqid(struct ike *ike, uint32_t reqid, struct ike_sa **sa);
/* A Child SA's reqid and inbound SPI into the engine's indexes, and out. */
int child_index(struct ike *ike, struct ike_sa *sa, struct child_sa *c) WUR;
void child_unindex(struct ike *ike, struct ike_sa *sa, struct child_sa *c);
/* A fresh inbound SPI for a new Child SA, or for the rekey of rekey_reqid
 * (0: none), of the residue the host's spi_residue hook asks for; 0 when
 * none could be drawn. */
uint32_t child_alloc_spi(struct ike *ike, uint32_t rekey_reqid);

/* ---- sa_own.c ---- */

/* Our ID and TSi for IKE_AUTH from the SA's own settings; false: none set. */
bool sa_own_id(const struct ike_sa *sa, struct cfg_id *id);
bool sa_own_ts(const struct ike_sa *sa, struct ike_ts_set *ts);
/* -1: the engine decides INITIAL_CONTACT; else 0 or 1. */
int sa_own_initial_contact(const struct ike_sa *sa);

/* ---- timers (timer.c): one deadline heap entry per SA ---- */

/* sa due at at_ms at the latest (an earlier deadline it has stays). */
void timer_arm(struct ike *ike, struct ike_sa *sa, uint64_t at_ms);
/* sa due exactly at at_ms, its earliest deadline (UINT64_MAX: none). */
void timer_set(struct ike *ike, struct ike_sa *sa, uint64_t at_ms);
void timer_cancel(struct ike *ike, struct ike_sa *sa);
/* Take out one SA whose deadline has come, or NULL. */
struct ike_sa *timer_pop_due(struct ike *ike, uint64_t now_ms);
int64_t timer_next(struct ike *ike, uint64_t now_ms);

/* ---- exchange plumbing (engine.c) ---- */

/* Queue a task and start it if the window is free. */
void ike_queue(struct ike *ike, struct ike_sa *sa, enum ike_task task);
/* Start the next queued task if no request is outstanding. */
void ike_kick(struct ike *ike, struct ike_sa *sa);
/* Send a request (owned by sa->out) built from payloads, protected unless IKE_SA_INIT. */
int ike_send_request(struct ike *ike, struct ike_sa *sa, uint8_t exchange, enum ike_task task,
                     const struct wire_msg *payloads) WUR;
/* Send a response to the request with message ID msg_id, and cache it. */
int ike_send_response(struct ike *ike, struct ike_sa *sa, uint8_t exchange, uint32_t msg_id,
                      const struct wire_msg *payloads) WUR;
/* Send raw bytes on the SA's current path (adds the non-ESP marker on 4500). */
void ike_send_raw(struct ike *ike, const struct ike_addr *from, const struct ike_addr *to,
                  const uint8_t *buf, size_t len);
/* The request is done: free the retransmission state and kick the queue. */
void ike_request_done(struct ike *ike, struct ike_sa *sa);

/* ---- payload building helpers (build.c) ---- */

int build_nonce(struct wire_msg *m, const uint8_t *nonce, size_t len) WUR;
int build_ke(struct wire_msg *m, const struct crypto_dh *dh) WUR;
int build_sa(struct wire_msg *m, const struct proposal *props, size_t n, uint8_t protocol,
             const uint8_t *spi, size_t spi_len) WUR;
int build_ts(struct wire_msg *m, uint8_t type, const struct ike_ts_set *ts) WUR;
int build_id(struct wire_msg *m, uint8_t type, const struct cfg_id *id) WUR;
int build_delete(struct wire_msg *m, uint8_t proto, const uint8_t *spis, size_t spi_size,
                 size_t n) WUR;
struct wire_payload *build_add(struct wire_msg *m, uint8_t type);
/* Copy bytes into the message's arena so a payload can borrow them. */
const uint8_t *build_copy(struct wire_msg *m, const void *p, size_t len);

/* ---- proposal selection (propsel.c), RFC 7296 2.7, 3.3.6 ---- */

struct ike_chosen {
	uint8_t num;
	uint8_t protocol;
	uint8_t spi[8];
	uint8_t spi_size;
	uint16_t encr, encr_keybits, prf, integ, dh, esn;
};

/* Responder: the first peer proposal our config accepts. -1 => NO_PROPOSAL_CHOSEN. */
int propsel_choose(const struct wire_sa *offer, const struct proposal *ours, size_t n,
                   uint8_t protocol, bool need_dh, struct ike_chosen *out) WUR;
/* Initiator: check that the responder's single proposal is one we offered. */
int propsel_check(const struct wire_sa *answer, const struct proposal *ours, size_t n,
                  uint8_t protocol, struct ike_chosen *out) WUR;
/* Encode a chosen proposal as the responder's SA payload. */
int build_sa_chosen(struct wire_msg *m, const struct ike_chosen *c) WUR;

/* ---- traffic selectors (ts.c), RFC 7296 2.9 ---- */

int ts_from_payload(const struct wire_ts_list *l, struct ike_ts_set *out) WUR;
/* Our configured selectors for a side; "dynamic" (none) becomes the address. */
void ts_from_config(const struct cfg_ts *ts, size_t n, const struct ike_addr *addr,
                    struct ike_ts_set *out);
/* Narrow the proposed set to what the config allows; -1 => TS_UNACCEPTABLE. */
int ts_narrow(const struct ike_ts_set *proposed, const struct ike_ts_set *allowed,
              struct ike_ts_set *out) WUR;
/* Initiator: the responder's answer must be a subset of what we proposed. */
bool ts_subset(const struct ike_ts_set *answer, const struct ike_ts_set *proposed);

/* ---- crypto work off the event loop (work.c) ---- */

enum work_kind {
	WORK_INIT_RESPOND, /* responder IKE_SA_INIT: our key pair and g^ir, then the answer */
	WORK_INIT_KEYGEN,  /* initiator IKE_SA_INIT: our key pair, then the request */
	WORK_INIT_DERIVE,  /* initiator, the IKE_SA_INIT response: g^ir, then the keys */
	WORK_CCSA_KEYGEN,  /* CREATE_CHILD_SA initiator: our key pair, then the request */
	WORK_CCSA_DERIVE,  /* CREATE_CHILD_SA initiator, the response: g^ir */
	WORK_CCSA_RESPOND, /* CREATE_CHILD_SA responder: our key pair and g^ir, then the answer */
};

struct ike_work {
	struct workpool_job job; /* the pool's */
	enum work_kind kind;
	uint64_t serial, ticket; /* the SA that asked, and the ticket it holds */
	/* In: the group and seed of a key pair to make (crypto_dh_seed), or
	 * a key pair given (dh, owned); the peer's KE data, if any. */
	uint16_t group;
	uint8_t seed[CRYPTO_DH_SEED_MAX];
	size_t seed_len;
	uint8_t peer_ke[CRYPTO_MAX_DH_LEN];
	size_t peer_ke_len;
	struct crypto_dh *dh;
	bool reused; /* dh is a kept key pair (RFC 7296 2.12), not made for this job */
	/* Out: 0, or -1 when the key pair could not be made or the peer's
	 * value is invalid (RFC 6989); g^ir when peer_ke was given. */
	int rc;
	uint8_t gir[CRYPTO_MAX_DH_LEN];
	size_t gir_len;
	/* What the exchange resumes with (the engine's thread only). */
	struct ike_chosen chosen;
	unsigned solved;    /* RFC 8019 7.1: the request's puzzle solution */
	enum ike_task task; /* CREATE_CHILD_SA initiator: the task it is */
	/* CREATE_CHILD_SA: the message being processed, decrypted (work_keep_msg),
	 * and where it came from (2.11: the response goes there). */
	struct wire_hdr hdr;
	uint8_t msg_np;
	struct wire_wr msg;
	struct ike_addr local, remote;
	bool has_addrs;
};

int work_init(struct ike *ike) WUR;
void work_fini(struct ike *ike);
/* RFC 7296 2.12 (riked.conf dh_reuse): keep a copy of a responder's fresh
 * IKE_SA_INIT key pair for the next ones; forget kept pairs on time. */
void work_keep_dh(struct ike *ike, const struct crypto_dh *dh);
void work_keep_timers(struct ike *ike, uint64_t now);
int64_t work_keep_next(const struct ike *ike, uint64_t now);
/* A job for sa; group != 0: a key pair of that group is to be made, and its
 * seed is drawn now. NULL on failure. */
struct ike_work *work_new(struct ike *ike, struct ike_sa *sa, enum work_kind kind, uint16_t group);
int work_set_peer_ke(struct ike_work *w, const uint8_t *ke, size_t len) WUR;
void work_free(struct ike_work *w);
/* A job could be queued now (always without workers). */
bool work_room(const struct ike *ike);
/*
 * Hand w to a worker; sa then waits (sa->work) until the exchange's resume
 * function gets the result. Without workers it runs at once and the resume
 * function is called before this returns. -1 when the queue is full (w is
 * freed, the drop counted).
 */
int work_submit(struct ike *ike, struct ike_sa *sa, struct ike_work *w) WUR;
/* Keep the (decrypted) message m in w, and the addresses of the request
 * being processed, for the second pass; the message again from w (free
 * with wire_msg_free and free), NULL on failure. */
int work_keep_msg(struct ike *ike, struct ike_work *w, const struct wire_msg *m) WUR;
struct wire_msg *work_msg(struct ike_work *w);
/*
 * CREATE_CHILD_SA runs its processors twice around a job: the first pass
 * stops where the key exchange is needed and submits a job; when it is
 * done the same processor runs again on the same message, and takes the
 * result here (once). NULL: no result of this kind for sa (first pass).
 */
struct ike_work *work_take_result(struct ike *ike, const struct ike_sa *sa, enum work_kind kind);

/* ---- exchanges ---- */

/* ike_sa_init.c */
int ike_sa_init_start(struct ike *ike, struct ike_sa *sa) WUR;
void ike_sa_init_request(struct ike *ike, const struct ike_addr *local,
                         const struct ike_addr *remote, const uint8_t *buf, size_t len,
                         const struct wire_msg *m);
void ike_sa_init_response(struct ike *ike, struct ike_sa *sa, const uint8_t *buf, size_t len,
                          const struct wire_msg *m);
/* A job of kind WORK_INIT_* finished for sa, which still waited for it. */
void ike_sa_init_resume(struct ike *ike, struct ike_sa *sa, struct ike_work *w);
bool conn_matches_addrs(const struct cfg_conn *c, const struct ike_addr *local,
                        const struct ike_addr *remote);
int ike_sa_init_derive(struct ike *ike, struct ike_sa *sa, const uint8_t *peer_ke,
                       size_t peer_ke_len) WUR;
/* Wipe and free sa->keys once nothing needs SK_a, SK_e or SK_p (SK_d stays). */
void ike_keys_drop(struct ike_sa *sa);
int ike_keys_install(struct ike_sa *sa, const uint8_t *skeyseed, const struct crypto_chunk *ni,
                     const struct crypto_chunk *nr) WUR;
/* views.c: hand the SA's fresh SK_e and SK_a to host.ike_keys, if set. */
void ike_keys_to_host(struct ike *ike, const struct ike_sa *sa);
/* ike_auth.c */
int ike_auth_start(struct ike *ike, struct ike_sa *sa) WUR;
void ike_auth_request(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m);
void ike_auth_response(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m);
/* ike_auth.c: lifetimes and the state change for a (re)authenticated or rekeyed SA */
void ike_established(struct ike *ike, struct ike_sa *sa, const char *why);
/* create_child_sa.c */
int ccsa_start(struct ike *ike, struct ike_sa *sa, enum ike_task task) WUR;
void ccsa_request(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m);
void ccsa_response(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m);
void ccsa_resume(struct ike *ike, struct ike_sa *sa, struct ike_work *w);
/* Child SA keys and installation (child.c): 2.17 */
int child_derive_keys(struct ike_sa *sa, struct child_sa *c, const uint8_t *ni, size_t ni_len,
                      const uint8_t *nr, size_t nr_len, const uint8_t *gir, size_t gir_len,
                      bool we_initiated) WUR;
int child_install(struct ike *ike, struct ike_sa *sa, struct child_sa *c) WUR;
/* Wipe and free c->keys (child_install does once the data plane has them). */
void child_keys_drop(struct child_sa *c);
void child_abandon(struct ike *ike, struct ike_sa *sa, struct child_sa *c);
/* Take an installed Child SA out of the data plane (it stays in the SA). */
void child_uninstall(struct ike *ike, struct ike_sa *sa, struct child_sa *c);
/* The IKE SA moved: its installed Child SAs follow (RFC 7296 2.23, RFC 4555 3.5). */
void child_move_all(struct ike *ike, struct ike_sa *sa, const struct ike_addr *old_remote);
void child_schedule(struct ike *ike, struct ike_sa *sa, struct child_sa *c);
/* informational.c */
int info_start(struct ike *ike, struct ike_sa *sa, enum ike_task task) WUR;
void info_request(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m);
void info_response(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m);
/* nat.c: RFC 7296 2.23 */
int nat_add_detection(struct wire_msg *m, const uint8_t spi_i[8], const uint8_t spi_r[8],
                      const struct ike_addr *src, const struct ike_addr *dst, bool fake_nat) WUR;
void nat_check(struct ike_sa *sa, const struct wire_msg *m);
/* The same against a given path: 0 without NAT-D, 1 no NAT, 2 a NAT (2.23). */
int nat_check_path(struct ike_sa *sa, const struct wire_msg *m, const struct ike_addr *local,
                   const struct ike_addr *remote);
/* cookie.c: RFC 7296 2.6 */
int cookie_compute(struct ike *ike, uint32_t version, const uint8_t *ni, size_t ni_len,
                   const struct ike_addr *peer, const uint8_t spi_i[8], uint8_t *out,
                   size_t *len) WUR;
bool cookie_valid(struct ike *ike, const uint8_t *cookie, size_t len, const uint8_t *ni,
                  size_t ni_len, const struct ike_addr *peer, const uint8_t spi_i[8]);
/* Change the secret when due, keeping the previous one; returns the next deadline. */
uint64_t cookie_timers(struct ike *ike, uint64_t now);
/* halfopen.c: RFC 8019 4-5 */
void halfopen_add(struct ike *ike, struct ike_sa *sa);
void halfopen_remove(struct ike *ike, struct ike_sa *sa);
void halfopen_admit(struct ike *ike, const struct ike_addr *src);
void halfopen_account(struct ike *ike, struct ike_sa *sa);
uint64_t halfopen_deadline(const struct ike *ike, const struct ike_sa *sa);
void halfopen_expire(struct ike *ike, struct ike_sa *sa);

#endif
