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

#include "util/compiler.h"

/* Cap on transforms of one type in one proposal. */
#define PROPOSAL_MAX_ALGS 16
/* Longest formatted proposal string (with the terminating NUL). */
#define PROPOSAL_STR_MAX 512

/* An encryption transform: IKEV2_ENCR_* and its Key Length attribute in
 * bits (RFC 7296 3.3.5), 0 when the transform takes no attribute. */
struct proposal_encr {
	uint16_t id;
	uint16_t keylen;
};

struct proposal {
	uint8_t protocol; /* IKEV2_PROTO_IKE or IKEV2_PROTO_ESP */
	uint8_t n_encr, n_prf, n_integ, n_dh, n_esn;
	struct proposal_encr encr[PROPOSAL_MAX_ALGS];
	uint16_t prf[PROPOSAL_MAX_ALGS];   /* IKEV2_PRF_*; IKE only */
	uint16_t integ[PROPOSAL_MAX_ALGS]; /* IKEV2_AUTH_*; none with AEAD */
	uint16_t dh[PROPOSAL_MAX_ALGS];    /* IKEV2_DH_*; for ESP the PFS groups */
	uint16_t esn[2];                   /* IKEV2_ESN_*; ESP only */
};

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
bool proposal_encr_is_aead(uint16_t encr_id);
bool proposal_equal(const struct proposal *a, const struct proposal *b);
/* Token name of one transform, e.g. "aes256gcm16", or NULL if unknown.
 * `type` is IKEV2_TRANS_*; `keylen` is only used for encryption. */
const char *proposal_token_name(uint8_t type, uint16_t id, uint16_t keylen);

#endif
