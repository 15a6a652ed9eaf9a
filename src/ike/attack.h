/*
 * The responder's defences of RFC 8019 that are not the half-open caps
 * (halfopen.c): the "under attack" mode (4.1, 4.2, 6), the budget of DH
 * computations per second, per-source limits on failed IKE_AUTH (5, 4.2),
 * and client puzzles (7.1, 7.2) in both roles. Engine-internal, like ike/sa.h:
 * only the engine and the exchange files include it.
 */
#ifndef RIKE_IKE_ATTACK_H
#define RIKE_IKE_ATTACK_H

#include <stdbool.h>
#include <stdint.h>

#include "ike/sa.h"
#include "wire/notify.h"

/* ---- attack.c ---- */

int attack_new(struct ike *ike) WUR;
void attack_free(struct ike *ike);
/* Re-evaluate the mode from the half-open count and the DH budget; one
 * log line and a counter per change. Returns whether we are under attack. */
bool attack_update(struct ike *ike);
bool attack_on(const struct ike *ike);
/*
 * RFC 8019 4.2, 7.1.5: may the responder start one more IKE_SA_INIT DH
 * computation now? Within dh_per_second (when set); a request of the low
 * priority class only within half of it and while a half-open SA can be
 * made without evicting another. A refusal is counted (and the saturation
 * logged once per interval); the initiator's retransmission comes back later.
 */
bool attack_dh_allow(struct ike *ike, bool low_priority);
/* One IKE_SA_INIT DH computation was made (either role). */
void attack_dh_done(struct ike *ike);
/* Responder DH computations started in the last full second. */
uint32_t attack_dh_last_second(const struct ike *ike);
/* RFC 8019 5: an IKE_AUTH from src failed; too many in the window block src. */
void attack_auth_failed(struct ike *ike, const struct ike_addr *src);
/* src is blocked: its IKE_SA_INIT requests are dropped (counted, log rate-limited). */
bool attack_src_blocked(struct ike *ike, const struct ike_addr *src);
void attack_timers(struct ike *ike, uint64_t now);

/* ---- cookie.c: RFC 8019 7.1.1.3, cookies that say whether a puzzle came with them ---- */

/* A valid cookie of ours; *info says what was asked with it (puzzle 0: a cookie only). */
bool cookie_check(struct ike *ike, const uint8_t *cookie, size_t len, const uint8_t *ni,
                  size_t ni_len, const struct ike_addr *peer, const uint8_t spi_i[8],
                  struct wire_cookie_info *info);
/* Answer req with N(COOKIE), and N(PUZZLE) when puzzles are on and a PRF is shared (7.1.1). */
void cookie_demand(struct ike *ike, const struct cfg_conn *conn, const struct ike_addr *local,
                   const struct ike_addr *remote, const struct wire_msg *req);

/* ---- puzzle.c: RFC 8019 7.1, 7.2 ---- */

/* Responder, 7.1.4: is this request with a valid cookie of the high priority
 * class? *solved: the trailing zero bits its solution reached, 0 for none. */
bool puzzle_priority(struct ike *ike, const struct wire_msg *req, const struct wire_notify *cookie,
                     const struct wire_cookie_info *info, unsigned *solved);
/* Initiator, 7.1.2: after N(COOKIE), solve the response's PUZZLE if any, within the budget. */
void puzzle_solve(struct ike *ike, struct ike_sa *sa, const struct wire_msg *resp);
/* Initiator: the PS payload of the retried request, if a solution is held. */
int puzzle_add_solution(struct ike_sa *sa, struct wire_msg *m) WUR;
/* Wipe and free the solution held (NULL-safe; sa_free calls it too). */
void puzzle_drop_solution(struct ike_sa *sa);
/*
 * Responder, 7.2.1: to the IKE_SA_INIT response m of a request whose 7.1
 * solution reached `solved` zero bits (0: none), add N(PUZZLE) when
 * puzzles are on; sa->auth_puzzle is then the difficulty asked, and the
 * caller defers the DH computation to puzzle_auth_check.
 */
/* Would puzzle_auth_present() ask for an IKE_AUTH puzzle (the DH then waits)? */
bool puzzle_auth_wanted(const struct ike *ike, const struct ike_sa *sa, unsigned solved);
int puzzle_auth_present(struct ike *ike, struct ike_sa *sa, unsigned solved,
                        struct wire_msg *m) WUR;
/* Initiator, 7.2.2-7.2.3: solve the IKE_SA_INIT response's PUZZLE, if any,
 * within the budget; -1 when it could not be solved (the SA gives up). */
int puzzle_auth_solve(struct ike *ike, struct ike_sa *sa, const struct wire_msg *resp) WUR;
/* Initiator: the PS of the IKE_AUTH request (call first: PS leads, outside SK). */
int puzzle_add_auth_solution(struct ike_sa *sa, struct wire_msg *m) WUR;
/*
 * Responder, 7.2.4: before a protected message of sa is opened. When sa
 * asked for an IKE_AUTH puzzle and has no keys yet, check m's PS and only
 * then compute the DH and SK_* keys. -1: m is dropped (counted).
 */
int puzzle_auth_check(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m) WUR;

#endif
