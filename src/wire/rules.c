/*
 * Which payloads each exchange may carry: a declarative table checked
 * once per decoded message, before any exchange code sees it.
 *
 * A row allows one payload type in one exchange and direction, either in
 * the clear or inside SK/SKF, at most `max` times (0: no limit beyond
 * WIRE_MAX_PAYLOADS). A payload no row allows makes the message
 * INVALID_SYNTAX. Unknown non-critical payloads are skipped as RFC 7296 3.2
 * requires (the decoder already refused unknown critical ones). Which
 * payloads must be present, and which notify types make sense, is for the
 * exchange code. Sources: RFC 7296 1.2-1.5, 2.16, 2.21, 3.14; RFC 7383
 * 2.5 (SKF); RFC 6290 4.5 and RFC 7296 2.21.1 (unprotected notifies);
 * RFC 5723 4.3.1 (resumption); RFC 8019 7.1.2, 7.2.2 (Puzzle Solution); RFC 9242 and RFC 9370
 * (intermediate and follow-up key exchanges).
 */
#include "wire/payload.h"

#include <string.h>

enum {
	R_REQ = 1,
	R_RESP = 2,
	R_BOTH = 3,
};

enum {
	R_CLEAR = 1, /* unencrypted */
	R_INNER = 2, /* inside SK/SKF */
	R_ALONE = 4, /* unencrypted, and only in a message without SK/SKF */
};

struct wire_rule {
	uint8_t exchange;
	uint8_t dir;
	uint8_t type;
	uint8_t place;
	uint8_t max;
};

#define RULE(x, d, t, p, m)                                                                        \
	{                                                                                          \
		IKEV2_EXCH_##x, R_##d, IKEV2_PL_##t, R_##p, m                                      \
	}

/* The SK or SKF payload that carries the rest (RFC 7296 3.14, RFC 7383 2.5). */
#define PROTECTED(x) RULE(x, BOTH, SK, CLEAR, 1), RULE(x, BOTH, SKF, CLEAR, 1)

static const struct wire_rule rules[] = {
    /* RFC 7296 1.2: HDR, SAi1, KEi, Ni --> <-- HDR, SAr1, KEr, Nr, [CERTREQ];
     * N for COOKIE (2.6), INVALID_KE_PAYLOAD (1.3), NAT_DETECTION_* (2.23) etc. */
    RULE(IKE_SA_INIT, BOTH, SA, CLEAR, 1),
    RULE(IKE_SA_INIT, BOTH, KE, CLEAR, 1),
    RULE(IKE_SA_INIT, BOTH, NI_NR, CLEAR, 1),
    RULE(IKE_SA_INIT, BOTH, N, CLEAR, 0),
    RULE(IKE_SA_INIT, BOTH, V, CLEAR, 0),
    /* RFC 7296 3.7: CERTREQ in the IKE_SA_INIT response or the IKE_AUTH request. */
    RULE(IKE_SA_INIT, RESP, CERTREQ, CLEAR, 0),
    /* RFC 8019 7.1.2: HDR, N(COOKIE), [PS,] SA, KE, Ni, [V+][N+] --> */
    RULE(IKE_SA_INIT, REQ, PS, CLEAR, 1),

    /* RFC 7296 1.2: HDR, SK {IDi, [CERT,] [CERTREQ,] [IDr,] AUTH, SAi2, TSi, TSr} -->
     * <-- HDR, SK {IDr, [CERT,] AUTH, SAr2, TSi, TSr}; 2.16 EAP; 2.19 CP; 3.2 V. */
    PROTECTED(IKE_AUTH),
    /* RFC 8019 7.2.2: HDR, PS, SK {...} -->; "The PS payload MUST be placed
     * outside the Encrypted payload" (and only in the first fragment). */
    RULE(IKE_AUTH, REQ, PS, CLEAR, 1),
    RULE(IKE_AUTH, REQ, IDI, INNER, 1),
    RULE(IKE_AUTH, BOTH, IDR, INNER, 1),
    RULE(IKE_AUTH, BOTH, CERT, INNER, 0),
    RULE(IKE_AUTH, REQ, CERTREQ, INNER, 0),
    RULE(IKE_AUTH, BOTH, AUTH, INNER, 1),
    RULE(IKE_AUTH, BOTH, N, INNER, 0),
    RULE(IKE_AUTH, BOTH, SA, INNER, 1),
    RULE(IKE_AUTH, BOTH, TSI, INNER, 1),
    RULE(IKE_AUTH, BOTH, TSR, INNER, 1),
    RULE(IKE_AUTH, BOTH, CP, INNER, 1),
    RULE(IKE_AUTH, BOTH, V, INNER, 0),
    RULE(IKE_AUTH, BOTH, EAP, INNER, 1),

    /* RFC 7296 1.3: HDR, SK {[N], SA, Ni, [KEi], [TSi, TSr]} -->
     * <-- HDR, SK {SA, Nr, [KEr], [TSi, TSr]}. */
    PROTECTED(CREATE_CHILD_SA),
    RULE(CREATE_CHILD_SA, BOTH, SA, INNER, 1),
    RULE(CREATE_CHILD_SA, BOTH, NI_NR, INNER, 1),
    RULE(CREATE_CHILD_SA, BOTH, KE, INNER, 1),
    RULE(CREATE_CHILD_SA, BOTH, TSI, INNER, 1),
    RULE(CREATE_CHILD_SA, BOTH, TSR, INNER, 1),
    RULE(CREATE_CHILD_SA, BOTH, N, INNER, 0),
    RULE(CREATE_CHILD_SA, BOTH, V, INNER, 0),

    /* RFC 7296 1.4: HDR, SK {[N,] [D,] [CP,] ...} in both directions. */
    PROTECTED(INFORMATIONAL),
    RULE(INFORMATIONAL, BOTH, N, INNER, 0),
    RULE(INFORMATIONAL, BOTH, D, INNER, 0),
    RULE(INFORMATIONAL, BOTH, CP, INNER, 1),
    RULE(INFORMATIONAL, BOTH, V, INNER, 0),
    /* RFC 7296 2.21.1 (INVALID_IKE_SPI) and RFC 6290 4.5 (QCD_TOKEN with it):
     * unprotected notifies, in a message that carries nothing else. */
    RULE(INFORMATIONAL, BOTH, N, ALONE, 0),

    /* RFC 5723 4.3.1: HDR, Ni, N(TICKET_OPAQUE) [,N+] --> <-- HDR, Nr [,N+]. */
    RULE(IKE_SESSION_RESUME, BOTH, NI_NR, CLEAR, 1),
    RULE(IKE_SESSION_RESUME, BOTH, N, CLEAR, 0),
    RULE(IKE_SESSION_RESUME, BOTH, V, CLEAR, 0),

    /* RFC 9242 2.3 and RFC 9370 2.2.1: HDR, SK {KEi(n), [N...]} and back. */
    PROTECTED(IKE_INTERMEDIATE),
    RULE(IKE_INTERMEDIATE, BOTH, KE, INNER, 1),
    RULE(IKE_INTERMEDIATE, BOTH, N, INNER, 0),
    RULE(IKE_INTERMEDIATE, BOTH, V, INNER, 0),

    /* RFC 9370 2.2.4: HDR, SK {KEi(n), N(ADDITIONAL_KEY_EXCHANGE)} and back. */
    PROTECTED(IKE_FOLLOWUP_KE),
    RULE(IKE_FOLLOWUP_KE, BOTH, KE, INNER, 1),
    RULE(IKE_FOLLOWUP_KE, BOTH, N, INNER, 0),
};

static int rules_fail(struct wire_error *err, uint8_t type, const char *reason)
{
	err->notify = IKEV2_N_INVALID_SYNTAX;
	err->payload = type;
	err->offset = 0; /* the parsed message keeps no offsets */
	err->reason = reason;
	return -1;
}

static bool exchange_known(uint8_t exchange)
{
	for (size_t i = 0; i < ARRAY_LEN(rules); i++) {
		if (rules[i].exchange == exchange)
			return true;
	}
	return false;
}

/* The row allowing a payload in this exchange, direction and place, or -1. */
static ptrdiff_t rule_find(uint8_t exchange, uint8_t dir, uint8_t type, uint8_t place)
{
	for (size_t i = 0; i < ARRAY_LEN(rules); i++) {
		const struct wire_rule *r = &rules[i];

		if (r->exchange == exchange && (r->dir & dir) && r->type == type &&
		    (r->place & place))
			return (ptrdiff_t)i;
	}
	return -1;
}

/* How many SK/SKF payloads are in the clear, and whether any payload is encrypted. */
static void count_sk(const struct wire_msg *m, size_t *nsk, bool *inner)
{
	*nsk = 0;
	*inner = false;
	for (size_t i = 0; i < m->npayloads; i++) {
		const struct wire_payload *p = &m->payloads[i];

		if (p->encrypted)
			*inner = true;
		else if (p->type == IKEV2_PL_SK || p->type == IKEV2_PL_SKF)
			(*nsk)++;
	}
}

int wire_rules_check(const struct wire_msg *m, struct wire_error *err)
{
	struct wire_error dummy;
	uint8_t seen[ARRAY_LEN(rules)] = {0};
	uint8_t dir = (m->hdr.flags & IKEV2_FLAG_RESPONSE) ? R_RESP : R_REQ;
	size_t nsk;
	bool inner;

	if (!err)
		err = &dummy;
	memset(err, 0, sizeof(*err));
	if (!exchange_known(m->hdr.exchange))
		return rules_fail(err, 0, "exchange type without payload rules");
	count_sk(m, &nsk, &inner);
	if (nsk > 1)
		return rules_fail(err, IKEV2_PL_SK, "more than one SK/SKF payload");
	if (inner && nsk == 0)
		return rules_fail(err, 0, "encrypted payloads without SK/SKF");
	for (size_t i = 0; i < m->npayloads; i++) {
		const struct wire_payload *p = &m->payloads[i];
		uint8_t place = p->encrypted ? R_INNER : nsk ? R_CLEAR : (R_CLEAR | R_ALONE);
		ptrdiff_t row;

		if (!wire_pl_known(p->type))
			continue; /* RFC 7296 3.2: skip unknown non-critical payloads */
		row = rule_find(m->hdr.exchange, dir, p->type, place);
		if (row < 0)
			return rules_fail(err, p->type,
			                  p->encrypted ? "payload not allowed inside SK here"
			                               : "payload not allowed unencrypted here");
		seen[row]++;
		if (rules[row].max && seen[row] > rules[row].max)
			return rules_fail(err, p->type, "payload repeated more often than allowed");
	}
	return 0;
}
