/*
 * What exchange and extension files may call: the SA seen through
 * accessors, look-ups, and the engine's primitives. The SA table's
 * internals (struct ike, struct ike_sa, tasks, timers, the response
 * cache) are in ike/sa.h, which only the engine and the exchange files
 * include; an extension (ike/ext.h) sees an SA only through this header.
 *
 * Pointers to SAs are borrowed and valid until the engine call returns;
 * whoever keeps an SA across event-loop turns keeps its serial and looks
 * it up again (ike_sa_by_serial).
 */
#ifndef RIKE_IKE_ENGINE_H
#define RIKE_IKE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "ike/conf.h"
#include "ike/ike.h"
#include "util/log.h"
#include "wire/ikev2.h"
#include "wire/payload.h"

struct ike_sa;
struct child_sa;
struct ike_ext;

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

const char *sa_state_name(enum ike_state st);

/* ---- the engine ---- */

uint64_t ike_now(struct ike *ike);
const struct cfg *ike_cfg(const struct ike *ike);
/* True while the engine is being freed (SAs go without Deletes). */
bool ike_shutting_down(const struct ike *ike);
/* The local addresses the host last reported (ike_local_addresses). */
const struct ike_addr *ike_local_addrs(const struct ike *ike, size_t *n);
/* The first connection whose addresses fit (IKE_AUTH's IDs pick the final one). */
const struct cfg_conn *ike_conn_for_addrs(struct ike *ike, const struct ike_addr *local,
                                          const struct ike_addr *remote);

/* ---- an IKE SA, read-only ---- */

uint64_t ike_sa_serial(const struct ike_sa *sa);
const char *ike_sa_name(const struct ike_sa *sa);            /* the connection's name */
const struct cfg_conn *ike_sa_conn(const struct ike_sa *sa); /* NULL once removed */
enum ike_state ike_sa_state(const struct ike_sa *sa);
/* We are the original initiator (RFC 7296 2.14: key roles, the I flag). */
bool ike_sa_initiator(const struct ike_sa *sa);
/* We started the exchange that created this SA (IKE_SA_INIT or an IKE rekey, 2.8.2). */
bool ike_sa_created_by_us(const struct ike_sa *sa);
const uint8_t *ike_sa_spi_i(const struct ike_sa *sa);
const uint8_t *ike_sa_spi_r(const struct ike_sa *sa);
/* The path in use (RFC 4555: one of the address pairs). */
const struct ike_addr *ike_sa_local(const struct ike_sa *sa);
const struct ike_addr *ike_sa_remote(const struct ike_sa *sa);
/* Our Ni of the IKE_SA_INIT that made the SA (RFC 5685 3 checks a REDIRECT against it). */
const uint8_t *ike_sa_ni(const struct ike_sa *sa, size_t *len);
/* An IKE rekey of this SA is under way, or it was replaced (RFC 7296 2.8). */
bool ike_sa_rekeying(const struct ike_sa *sa);
/* The peer's authenticated identity as text (user@fqdn, an FQDN, an address,
 * or hex for other types) into buf; its length, 0 before IKE_AUTH. */
size_t ike_sa_peer_id(const struct ike_sa *sa, char *buf, size_t len);

uint32_t child_sa_reqid(const struct child_sa *c);
uint32_t child_sa_spi_in(const struct child_sa *c);

/* The state line format of STYLE.md: conn, serial, SPIs, event, details. */
void sa_log(const struct ike_sa *sa, int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- look-ups (borrowed, valid until the engine call returns) ---- */

struct ike_sa *ike_sa_by_serial(struct ike *ike, uint64_t serial);
/* The serial the newest IKE SA got; serials grow by one per SA and are never reused. */
uint64_t ike_last_serial(const struct ike *ike);
/* The live SA with exactly these SPIs, whichever of them is ours (RFC 6290 9.2). */
struct ike_sa *ike_sa_by_spis(struct ike *ike, const uint8_t spi_i[8], const uint8_t spi_r[8]);
/* The SA holding a Child SA whose outbound SPI is spi (RFC 6290 8.2 hints). */
struct ike_sa *ike_sa_by_child_out(struct ike *ike, uint32_t spi);
/* Call fn for every live SA (safe against removals inside fn). */
void ike_sa_foreach(struct ike *ike, void (*fn)(struct ike *, struct ike_sa *, void *), void *arg);

/* ---- primitives ---- */

/*
 * An initiator SA for connection c towards gateway gw instead of its
 * configured remote (RFC 5685 3: after a redirect). Nothing is sent until
 * ike_sa_start(), so the caller can fill its extension state first (the
 * first IKE_SA_INIT request is built from it). NULL on failure.
 */
struct ike_sa *ike_initiate_to(struct ike *ike, const struct cfg_conn *c,
                               const struct ike_addr *gw);
void ike_sa_start(struct ike *ike, struct ike_sa *sa);
/*
 * Many clients from one engine (rike-load): before ike_sa_start, an
 * initiator SA may get settings of its own instead of its connection's.
 * Each returns -1 when out of memory or for a responder SA.
 *  - local_id: the IDi it authenticates with (RFC 7296 3.5; copied);
 *  - local_ts: the TSi it proposes for its first Child SA (2.9; 1 to
 *    CFG_MAX_TS selectors, copied), e.g. an inner address of its own;
 *  - initial_contact: whether it is the only IKE SA between its identities
 *    (2.4), so IKE_AUTH carries N(INITIAL_CONTACT) or not without the
 *    engine's search of the SA table for another SA with the same peer.
 */
int ike_sa_set_local_id(struct ike_sa *sa, const struct cfg_id *id) WUR;
int ike_sa_set_local_ts(struct ike_sa *sa, const struct cfg_ts *ts, size_t n) WUR;
int ike_sa_set_initial_contact(struct ike_sa *sa, bool initial) WUR;
/*
 * The peer is gone (liveness gave up, QCD verified its token, a redirect
 * took it elsewhere): extensions hear sa_down, a keep_up connection is
 * re-initiated unless it was taken down on purpose, and the SA is removed
 * without a Delete. peer_dead says the peer lost its state.
 */
void ike_peer_gone(struct ike *ike, struct ike_sa *sa, bool peer_dead, const char *why);
/*
 * Delete the SA towards its peer (an INFORMATIONAL with D, RFC 7296 1.4.1)
 * and do not re-initiate it. While its IKE_AUTH response is being processed
 * the delete goes out as soon as it is established (RFC 5685 6); an SA that
 * never got that far is dropped without a word.
 */
void ike_delete(struct ike *ike, struct ike_sa *sa, const char *why);
/* Re-initiate connection conn, if keep_up, after delay_ms towards its
 * configured gateway (a setup that was refused or failed). */
void ike_retry(struct ike *ike, const char *conn, uint64_t delay_ms);
/* Resolve name through the host without blocking (RFC 5685 9.2 FQDN
 * identities); owner's resolved hook gets the answer with tag, within 5 s.
 * -1 when the host cannot resolve names or too many lookups are pending. */
int ike_resolve(struct ike *ike, const char *name, const struct ike_ext *owner, uint64_t tag) WUR;
/* Check liveness now with an empty INFORMATIONAL (RFC 7296 2.4). */
void ike_check_liveness(struct ike *ike, struct ike_sa *sa);
/*
 * Retransmit the outstanding request now, unless it has been retransmitted
 * already: unauthenticated hints must not use up the retransmissions before
 * a live peer could answer (RFC 6290 9). False when no request is out.
 */
bool ike_retransmit_now(struct ike *ike, struct ike_sa *sa);
/*
 * Queue an INFORMATIONAL request owned by extension e: e's hook builds it
 * at EXT_INFO_REQ_OUT and alone sees its response at EXT_INFO_RESP_IN
 * (collisions: ike/ext.h). One per extension and SA is queued at a time.
 */
void ike_ext_request(struct ike *ike, struct ike_sa *sa, const struct ike_ext *e);
/* Switch the SA to another path; its Child SAs follow (RFC 4555 3.5, 2.23). */
void ike_sa_move(struct ike *ike, struct ike_sa *sa, const struct ike_addr *local,
                 const struct ike_addr *remote);
/* Build and send an unprotected message (RFC 7296 2.21.1, RFC 6290 4.5, 8.2). */
void ike_send_unprotected(struct ike *ike, const struct ike_addr *from, const struct ike_addr *to,
                          const struct wire_hdr *hdr, const struct wire_msg *payloads);

/* ---- NAT detection (RFC 7296 2.23) and paths (RFC 4555 3.3, 3.5, 3.8) ---- */

/* N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP) for a path. */
int ike_nat_add(struct ike *ike, struct ike_sa *sa, struct wire_msg *m,
                const struct ike_addr *local, const struct ike_addr *remote) WUR;
/* Check m's NAT-D against the path it came on: 0 without NAT-D, 1 no NAT,
 * 2 a NAT (the SA then uses UDP encapsulation). */
int ike_nat_check(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m,
                  const struct ike_addr *local, const struct ike_addr *remote);
bool ike_sa_natt(const struct ike_sa *sa);
/* Move the SA's IKE traffic to the NAT-T port (RFC 4555 3.3: with MOBIKE
 * even without a NAT), before IKE_AUTH. */
void ike_sa_float(struct ike *ike, struct ike_sa *sa);
/* The source address the host's routing would use to reach dst; -1: none. */
int ike_route(struct ike *ike, const struct ike_addr *dst, struct ike_addr *src);

/* ---- building payloads ---- */

int build_notify(struct wire_msg *m, uint8_t proto, const uint8_t *spi, size_t spi_len,
                 uint16_t type, const uint8_t *data, size_t len) WUR;

#endif
