/*
 * The engine's internal state: IKE SAs, Child SAs, the SA table and the
 * exchange plumbing shared by the exchange files. Only src/ike includes
 * this header.
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
#include "daemon/config.h"
#include "ike/ike.h"
#include "wire/payload.h"
#include "util/ratelimit.h"
#include "wire/sk.h"

#define IKE_NONCE_LEN     32
#define IKE_MAX_NONCE     256
#define IKE_MAX_ADDRS     8   /* MOBIKE peer address set (RFC 4555 3.6) */
#define IKE_QCD_TOKENS    4   /* RFC 6290 4.5: up to 4 tokens stored */
#define IKE_QCD_TOKEN_MAX 128 /* RFC 6290 4.1 */
#define IKE_MAX_TS        CFG_MAX_TS
#define IKE_MAX_RESTARTS  256
#define IKE_MAX_OUT_FRAGS 64 /* IKE Fragment messages one message of ours may need */

/* RFC 7296 1, 2.x: the life of an IKE SA, one state per step. */
enum ike_state {
	IKE_S_INIT_SENT,   /* initiator: IKE_SA_INIT request out */
	IKE_S_AUTH_SENT,   /* initiator: IKE_AUTH request out */
	IKE_S_INIT_DONE,   /* responder: IKE_SA_INIT answered, waiting for IKE_AUTH */
	IKE_S_ESTABLISHED, /* authenticated */
	IKE_S_REKEYED,     /* replaced by a new IKE SA, waiting for its delete */
	IKE_S_DELETING,    /* our delete is out */
	IKE_S_DEAD,        /* to be freed at the end of this engine call */
};

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
	TASK_INFO_NOTIFY, /* extension notifies in an INFORMATIONAL (QCD token, redirect, MOBIKE) */
	TASK_MAX
};

struct ike_ts_set {
	struct cfg_ts ts[IKE_MAX_TS];
	size_t n;
};

/* One IPsec SA pair (RFC 7296 1.3). */
struct child_sa {
	struct child_sa *next;
	uint32_t reqid;  /* names the pair in the data plane */
	uint32_t spi_in; /* ours: the peer sends with it */
	uint32_t spi_out;
	uint8_t protocol; /* IKEV2_PROTO_ESP */
	uint16_t encr, encr_keybits, integ;
	bool esn, transport, encap;
	uint16_t pfs_group;
	uint8_t key_in_e[CRYPTO_MAX_KEY_LEN], key_in_a[CRYPTO_MAX_PRF_LEN];
	uint8_t key_out_e[CRYPTO_MAX_KEY_LEN], key_out_a[CRYPTO_MAX_PRF_LEN];
	size_t key_e_len, key_a_len;
	struct ike_ts_set ts_local, ts_remote;
	uint64_t created_ms, rekey_ms, expire_ms;
	uint64_t bytes_in, pkts_in, bytes_out, pkts_out;
	bool installed;
	bool rekeyed;        /* replaced; deleted once the delete completes */
	bool rekey_pending;  /* TASK_CHILD_REKEY is for this one */
	bool delete_pending; /* TASK_CHILD_DELETE includes this one */
	bool deleting;       /* our delete for it is out */
	/* RFC 7296 2.8.1: for collisions, who created it and the lower nonce of that exchange. */
	bool by_us;
	uint8_t nonce_min[IKE_MAX_NONCE];
	size_t nonce_min_len;
	uint32_t successor; /* reqid of the child that rekeyed this one (peer's exchange) */
};

/*
 * A message as sent, for retransmission: one datagram (nfrags 0), or its
 * IKE Fragment messages back to back (RFC 7383 2.5, wire_skf_split_flat),
 * which are resent as they are (2.6.1).
 */
struct ike_frags {
	size_t nfrags;
	uint32_t end[IKE_MAX_OUT_FRAGS];
};

/* One outstanding request we sent (window 1, RFC 7296 2.3). */
struct ike_out {
	enum ike_task task;
	uint32_t msg_id;
	struct wire_wr pkt; /* exactly what was sent, for retransmission */
	struct ike_frags frags;
	unsigned tries;
	uint64_t next_ms;
	bool active;
};

/* The last response we sent, for retransmitted requests (2.1). */
struct ike_in_cache {
	uint32_t msg_id;
	struct wire_wr pkt;
	struct ike_frags frags;
	bool valid;
};

/* Task-specific exchange state that must live between request and response. */
struct ike_pending {
	struct crypto_dh *dh; /* owned */
	uint8_t nonce[IKE_MAX_NONCE];
	size_t nonce_len;
	uint8_t new_spi[8]; /* IKE rekey: our SPI for the new IKE SA */
	uint32_t child_spi; /* new Child SA: our inbound SPI */
	uint32_t rekey_spi; /* Child rekey/delete: the old SA's inbound SPI */
	struct ike_ts_set ts_i, ts_r;
	uint64_t new_sa; /* IKE rekey: serial of the new IKE SA */
};

struct ike_sa {
	uint64_t serial;
	char conn_name[CFG_NAME_MAX];
	const struct cfg_conn *conn; /* borrowed from the live config; NULL once removed */
	uint8_t spi_i[8], spi_r[8];
	bool initiator; /* we are the original initiator (2.14 key roles) */
	enum ike_state state;
	uint64_t created_ms, established_ms, rekey_ms, expire_ms, last_rx_ms;

	/* Addresses (RFC 4555: a set, one path in use). */
	struct ike_addr local, remote;
	struct ike_addr init_peer; /* responder: where IKE_SA_INIT came from (index key) */
	struct ike_addr peer_addrs[IKE_MAX_ADDRS];
	size_t n_peer_addrs;
	bool natt;       /* floated to port 4500 (RFC 7296 2.23) */
	bool nat_local;  /* we are behind a NAT */
	bool nat_remote; /* the peer is behind a NAT */
	bool fake_nat;   /* we pretend a NAT to force UDP encapsulation */

	/* Negotiated algorithms and keys (2.14). */
	struct crypto_ike_suite suite;
	struct crypto_ike_keys keys;
	struct wire_prot prot_out, prot_in;
	bool keyed;

	/* What IKE_AUTH signs (2.15). */
	uint8_t ni[IKE_MAX_NONCE], nr[IKE_MAX_NONCE];
	size_t ni_len, nr_len;
	struct wire_wr init_req, init_resp; /* the IKE_SA_INIT messages */
	struct crypto_dh *dh;               /* owned until the keys are derived */
	uint16_t dh_group;
	uint8_t cookie[64];
	size_t cookie_len;
	unsigned init_retries; /* INVALID_KE / COOKIE restarts, bounded */

	/* Message IDs (2.2) and windows of one. */
	uint32_t next_msg_id;   /* for our next request */
	uint32_t expect_msg_id; /* the next request we accept */
	struct ike_out out;
	struct ike_in_cache cache;
	struct ike_pending pend;
	uint32_t tasks; /* bitmap of queued enum ike_task */
	uint64_t dpd_ms;
	uint64_t keepalive_ms; /* next NAT-T keepalive (RFC 3948 4) */

	/* Peer capabilities seen in IKE_SA_INIT / IKE_AUTH. */
	bool peer_frag, peer_mobike, peer_redirect;

	/* RFC 6290 QCD: tokens the peer gave us (newest first). */
	uint8_t qcd_peer[IKE_QCD_TOKENS][IKE_QCD_TOKEN_MAX];
	size_t qcd_peer_len[IKE_QCD_TOKENS];
	size_t n_qcd_peer;
	bool qcd_sent;

	/* RFC 7383 2.6: the peer's fragmented requests and responses, apart. */
	struct wire_skf_reasm reasm, reasm_resp;
	struct child_sa *children; /* owned list */
	uint64_t rekeyed_to;       /* serial of the IKE SA that replaced this one */
	/* RFC 7296 2.8.2: for IKE rekey collisions, as for Child SAs. */
	bool by_us;
	uint8_t nonce_min[IKE_MAX_NONCE];
	size_t nonce_min_len;
	uint64_t peer_rekey_serial; /* new IKE SA the peer's rekey created while ours was out */
	bool no_restart;            /* taken down on purpose: keep_up does not apply */
	bool qcd_resend;            /* RFC 6290 4.3/4.4: send our token in an INFORMATIONAL */
	uint64_t temp_fail_ms;      /* first TEMPORARY_FAILURE of a series (RFC 7296 2.25) */
	struct ike_sa *next_dead;   /* on ike->dead once killed */
};

/* ---- the engine (engine.c) ---- */

struct ike_hash;

struct ike {
	const struct cfg *cfg; /* borrowed */
	struct ike_host host;
	struct ike_stats stats;
	struct ike_hash *by_spi;    /* our SPI -> sa */
	struct ike_hash *by_serial; /* serial -> sa */
	struct ike_hash
	    *by_init; /* responder: hash(SPIi, peer) -> sa, for IKE_SA_INIT retransmits */
	uint64_t next_serial;
	uint32_t next_reqid;
	struct ike_sa *dead; /* killed SAs, freed by sa_reap() */
	bool shutting_down;
	uint8_t cookie_secret[32];
	uint32_t cookie_version;
	size_t half_open;
	struct ike_timer_heap *timers;
	/* Connections to re-initiate (keep_up), with when. */
	struct {
		char name[CFG_NAME_MAX];
		uint64_t at_ms;
	} restarts[IKE_MAX_RESTARTS];
	size_t n_restarts;
	void *ext[8]; /* per-extension state, indexed by the extension */
	/* Budgets for answers to unauthenticated input (RFC 7296 2.21.1, RFC 8019). */
	struct ratelimit_keyed answer_src;
	struct ratelimit answer_all;
	/* The addresses of the request being processed (responses go there, 2.11). */
	const struct ike_addr *rx_local, *rx_remote;
};

/* ---- api.c ---- */

/* Re-initiate a keep_up connection after delay_ms (RFC 6290 3; restart-on-close). */
void ike_restart(struct ike *ike, const char *name, uint64_t delay_ms);
void ike_run_restarts(struct ike *ike, uint64_t now);
int64_t ike_restart_next(const struct ike *ike, uint64_t now);

/* ---- SA table (sa.c) ---- */

struct ike_hash *hash_new(void);
void hash_free(struct ike_hash *h);

struct ike_sa *sa_new(struct ike *ike, const struct cfg_conn *conn, bool initiator);
/* Mark dead and unlink; freed by sa_reap at the end of the engine call. */
void sa_kill(struct ike *ike, struct ike_sa *sa, const char *why);
void sa_reap(struct ike *ike);
void sa_free(struct ike *ike, struct ike_sa *sa);
struct ike_sa *sa_lookup_spi(struct ike *ike, const uint8_t spi[8]);
struct ike_sa *sa_lookup_serial(struct ike *ike, uint64_t serial);
struct ike_sa *sa_lookup_init(struct ike *ike, const uint8_t spi_i[8], const struct ike_addr *peer,
                              const uint8_t *ni, size_t ni_len);
/* Our own SPI of the SA (SPIi when we initiated it). */
const uint8_t *sa_our_spi(const struct ike_sa *sa);
void sa_set_peer_spi(struct ike *ike, struct ike_sa *sa, const uint8_t spi[8]);
void sa_index_init(struct ike *ike, struct ike_sa *sa);
void sa_set_state(struct ike *ike, struct ike_sa *sa, enum ike_state st, const char *why);
void sa_log(const struct ike_sa *sa, int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
const char *sa_state_name(enum ike_state st);
/* Call fn for every live SA (safe against sa_kill inside fn). */
void sa_foreach(struct ike *ike, void (*fn)(struct ike *, struct ike_sa *, void *), void *arg);
struct child_sa *child_new(struct ike *ike, struct ike_sa *sa);
void child_free(struct child_sa *c);
struct child_sa *child_by_spi_in(struct ike_sa *sa, uint32_t spi);
struct child_sa *child_by_spi_out(struct ike_sa *sa, uint32_t spi);
void child_remove(struct ike *ike, struct ike_sa *sa, struct child_sa *c);
uint32_t child_alloc_spi(struct ike *ike);

/* ---- timers (timer.c): a min-heap of (deadline, serial) ---- */

struct ike_timer_heap;
struct ike_timer_heap *timer_heap_new(void);
void timer_heap_free(struct ike_timer_heap *h);
void timer_arm(struct ike *ike, struct ike_sa *sa, uint64_t at_ms);
/* Pop one due entry (serial), or 0. */
uint64_t timer_pop_due(struct ike_timer_heap *h, uint64_t now_ms);
int64_t timer_next(struct ike_timer_heap *h, uint64_t now_ms);

/* ---- exchange plumbing (engine.c) ---- */

uint64_t ike_now(struct ike *ike);
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
/* Build and send an unprotected message (IKE_SA_INIT errors, INVALID_IKE_SPI). */
void ike_send_unprotected(struct ike *ike, const struct ike_addr *from, const struct ike_addr *to,
                          const struct wire_hdr *hdr, const struct wire_msg *payloads);
/* The request is done: free the retransmission state and kick the queue. */
void ike_request_done(struct ike *ike, struct ike_sa *sa);

/* ---- payload building helpers (build.c) ---- */

int build_notify(struct wire_msg *m, uint8_t proto, const uint8_t *spi, size_t spi_len,
                 uint16_t type, const uint8_t *data, size_t len) WUR;
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

/* ---- exchanges ---- */

/* ike_sa_init.c */
int ike_sa_init_start(struct ike *ike, struct ike_sa *sa) WUR;
void ike_sa_init_request(struct ike *ike, const struct ike_addr *local,
                         const struct ike_addr *remote, const uint8_t *buf, size_t len,
                         const struct wire_msg *m);
void ike_sa_init_response(struct ike *ike, struct ike_sa *sa, const uint8_t *buf, size_t len,
                          const struct wire_msg *m);
bool conn_matches_addrs(const struct cfg_conn *c, const struct ike_addr *local,
                        const struct ike_addr *remote);
const struct cfg_conn *ike_conn_for_addrs(struct ike *ike, const struct ike_addr *local,
                                          const struct ike_addr *remote);
int ike_sa_init_derive(struct ike *ike, struct ike_sa *sa, const uint8_t *peer_ke,
                       size_t peer_ke_len) WUR;
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
/* Child SA keys and installation (child.c): 2.17 */
int child_derive_keys(struct ike_sa *sa, struct child_sa *c, const uint8_t *ni, size_t ni_len,
                      const uint8_t *nr, size_t nr_len, const uint8_t *gir, size_t gir_len,
                      bool we_initiated) WUR;
int child_install(struct ike *ike, struct ike_sa *sa, struct child_sa *c) WUR;
void child_schedule(struct ike *ike, struct ike_sa *sa, struct child_sa *c);
/* informational.c */
int info_start(struct ike *ike, struct ike_sa *sa, enum ike_task task) WUR;
void info_request(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m);
void info_response(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m);
/* nat.c: RFC 7296 2.23 */
int nat_add_detection(struct wire_msg *m, const uint8_t spi_i[8], const uint8_t spi_r[8],
                      const struct ike_addr *src, const struct ike_addr *dst, bool fake_nat) WUR;
void nat_check(struct ike_sa *sa, const struct wire_msg *m);
/* cookie.c: RFC 7296 2.6 */
int cookie_compute(struct ike *ike, uint32_t version, const uint8_t *ni, size_t ni_len,
                   const struct ike_addr *peer, const uint8_t spi_i[8], uint8_t *out,
                   size_t *len) WUR;
bool cookie_valid(struct ike *ike, const uint8_t *cookie, size_t len, const uint8_t *ni,
                  size_t ni_len, const struct ike_addr *peer, const uint8_t spi_i[8]);

/* ---- addresses (addr.c) ---- */

bool addr_equal(const struct ike_addr *a, const struct ike_addr *b); /* with port */
bool addr_equal_host(const struct ike_addr *a, const struct ike_addr *b);
uint16_t addr_port(const struct ike_addr *a);
void addr_set_port(struct ike_addr *a, uint16_t port);
void addr_from_ss(struct ike_addr *a, const struct sockaddr_storage *ss, uint16_t port);
/* Raw address octets (4 or 16) and their length. */
const uint8_t *addr_bytes(const struct ike_addr *a, size_t *len);
void addr_format(const struct ike_addr *a, char *buf, size_t len);
bool addr_is_any(const struct sockaddr_storage *ss);

#endif
