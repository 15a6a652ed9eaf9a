/*
 * Proposal strings: the configuration's compact spelling of one IKEv2
 * proposal (RFC 7296 3.3), e.g. "aes256gcm16-prfsha384-ecp384" for an IKE
 * SA or "aes256-sha256-modp3072-esn" for an ESP Child SA. Each dash-separated
 * token names one transform; the tokens of one type are listed in preference
 * order and all belong to the same proposal.
 */
#ifndef RIKE_DAEMON_PROPOSAL_H
#define RIKE_DAEMON_PROPOSAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ike/conf.h"
#include "util/compiler.h"

#define PROPOSAL_STR_MAX 512 /* a formatted proposal, with NUL */

/* Cap on transforms of one type in one proposal. */

/*
 * Parses `s` for `protocol` (IKEV2_PROTO_IKE or IKEV2_PROTO_ESP) into `p`.
 * Unknown tokens, forbidden algorithms and incomplete proposals fail with a
 * message naming the token in `err`. For IKE without a "prf" token the PRFs
 * are derived from the integrity algorithms; ESP without "esn"/"noesn" gets
 * "noesn" (RFC 7296 3.3.3 makes the ESN transform mandatory for ESP).
 */
int proposal_parse(const char *s, uint8_t protocol, struct proposal *p, char *err,
                   size_t errlen) WUR;
/* Writes the canonical string (tokens in the order encr, integ, prf, dh,
 * esn); returns 0, or -1 if `len` is too small. */
int proposal_format(const struct proposal *p, char *buf, size_t len) WUR;
/* True if the proposal's ciphers are combined-mode (AEAD, RFC 5282). */
bool proposal_is_aead(const struct proposal *p);
/* True for AEAD encryption transform IDs. */
bool proposal_equal(const struct proposal *a, const struct proposal *b);
/* Token name of one transform, e.g. "aes256gcm16", or NULL if unknown.
 * `type` is IKEV2_TRANS_*; `keylen` is only used for encryption. */
const char *proposal_token_name(uint8_t type, uint16_t id, uint16_t keylen);

#endif
