/*
 * Unit tests for the per-exchange payload rules (wire/rules.c): a legal
 * message of each exchange and direction passes; a payload in the wrong
 * exchange, direction or place (clear vs inside SK), or repeated too
 * often, is INVALID_SYNTAX naming the payload.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wire/payload.h"

#define REQ    0
#define RESP   IKEV2_FLAG_RESPONSE
#define SK_END 0xff /* in a list: the payloads after it are inside SK */

/* A message from a list of types; those after SK_END are encrypted and an SK precedes them. */
static void build(struct wire_msg *m, uint8_t exchange, uint8_t flags, const uint8_t *types,
                  size_t n)
{
	bool inner = false;

	wire_msg_init(m);
	m->hdr.version = IKEV2_VERSION;
	m->hdr.exchange = exchange;
	m->hdr.flags = flags;
	for (size_t i = 0; i < n; i++) {
		struct wire_payload *p = &m->payloads[m->npayloads++];

		if (types[i] == SK_END) {
			p->type = IKEV2_PL_SK;
			inner = true;
			continue;
		}
		p->type = types[i];
		p->encrypted = inner;
	}
}

static int check(uint8_t exchange, uint8_t flags, const uint8_t *types, size_t n,
                 struct wire_error *err)
{
	struct wire_msg m;
	int rc;

	build(&m, exchange, flags, types, n);
	rc = wire_rules_check(&m, err);
	wire_msg_free(&m);
	return rc;
}

#define PASS(x, f, ...)                                                                            \
	do {                                                                                       \
		static const uint8_t t_[] = {__VA_ARGS__};                                         \
		struct wire_error e_;                                                              \
		if (check(IKEV2_EXCH_##x, f, t_, sizeof(t_), &e_) < 0)                             \
			fail_msg("%s: %s (payload %u)", #x, e_.reason, e_.payload);                \
	} while (0)

#define FAIL(x, f, bad, ...)                                                                       \
	do {                                                                                       \
		static const uint8_t t_[] = {__VA_ARGS__};                                         \
		struct wire_error e_;                                                              \
		assert_int_equal(check(IKEV2_EXCH_##x, f, t_, sizeof(t_), &e_), -1);               \
		assert_int_equal(e_.notify, IKEV2_N_INVALID_SYNTAX);                               \
		assert_int_equal(e_.payload, bad);                                                 \
		assert_non_null(e_.reason);                                                        \
	} while (0)

enum {
	SA = IKEV2_PL_SA,
	KE = IKEV2_PL_KE,
	IDI = IKEV2_PL_IDI,
	IDR = IKEV2_PL_IDR,
	CERT = IKEV2_PL_CERT,
	CREQ = IKEV2_PL_CERTREQ,
	AUTH = IKEV2_PL_AUTH,
	NONCE = IKEV2_PL_NI_NR,
	N = IKEV2_PL_N,
	D = IKEV2_PL_D,
	V = IKEV2_PL_V,
	TSI = IKEV2_PL_TSI,
	TSR = IKEV2_PL_TSR,
	SK = IKEV2_PL_SK,
	CP = IKEV2_PL_CP,
	EAP = IKEV2_PL_EAP,
	SKF = IKEV2_PL_SKF,
	PS = IKEV2_PL_PS,
};

/* RFC 7296 1.2 */
static void test_ike_sa_init(void **state)
{
	PASS(IKE_SA_INIT, REQ, SA, KE, NONCE, N, N, V);
	PASS(IKE_SA_INIT, REQ, N, SA, KE, NONCE); /* retried with a COOKIE (2.6) */
	PASS(IKE_SA_INIT, RESP, SA, KE, NONCE, N, CREQ, CREQ, V);
	PASS(IKE_SA_INIT, RESP, N); /* INVALID_KE_PAYLOAD, COOKIE, NO_PROPOSAL_CHOSEN */
	PASS(IKE_SA_INIT, REQ, SA, KE, NONCE, IKEV2_PL_GSPM); /* unknown: skipped */
	FAIL(IKE_SA_INIT, REQ, SA, SA, KE, NONCE, SA);
	FAIL(IKE_SA_INIT, REQ, NONCE, SA, KE, NONCE, NONCE);
	FAIL(IKE_SA_INIT, REQ, CREQ, SA, KE, NONCE, CREQ);
	FAIL(IKE_SA_INIT, RESP, IDR, SA, KE, NONCE, IDR);
	FAIL(IKE_SA_INIT, REQ, SK, SA, KE, NONCE, SK_END, N);
	/* RFC 8019 7.1.2: HDR, N(COOKIE), [PS,] SA, KE, Ni; only in the request, once. */
	PASS(IKE_SA_INIT, REQ, N, PS, SA, KE, NONCE);
	FAIL(IKE_SA_INIT, RESP, PS, N, PS);
	FAIL(IKE_SA_INIT, REQ, PS, N, PS, PS, SA, KE, NONCE);
}

/* RFC 7296 1.2, 2.16, 3.14 */
static void test_ike_auth(void **state)
{
	PASS(IKE_AUTH, REQ, SK_END, IDI, CERT, CERT, CREQ, IDR, AUTH, N, CP, SA, TSI, TSR, V);
	PASS(IKE_AUTH, RESP, SK_END, IDR, CERT, AUTH, N, CP, SA, TSI, TSR);
	PASS(IKE_AUTH, REQ, SK_END, EAP);
	PASS(IKE_AUTH, RESP, SK_END, IDR, AUTH, EAP);
	PASS(IKE_AUTH, RESP, SK_END, N); /* AUTHENTICATION_FAILED */
	PASS(IKE_AUTH, REQ, SK);         /* before decryption */
	PASS(IKE_AUTH, REQ, SKF);
	FAIL(IKE_AUTH, REQ, IDI, IDI, SK_END, AUTH);
	FAIL(IKE_AUTH, REQ, N, N);
	FAIL(IKE_AUTH, RESP, IDI, SK_END, IDI, AUTH);
	FAIL(IKE_AUTH, RESP, CREQ, SK_END, IDR, CREQ, AUTH);
	FAIL(IKE_AUTH, REQ, AUTH, SK_END, IDI, AUTH, AUTH);
	FAIL(IKE_AUTH, REQ, KE, SK_END, IDI, AUTH, KE);
	FAIL(IKE_AUTH, REQ, D, SK_END, IDI, AUTH, D);
	FAIL(IKE_AUTH, REQ, SK, SK, SKF); /* one SK or SKF only */
	/* RFC 8019 7.2.2: HDR, PS, SK {...}: outside SK, in the request only. */
	PASS(IKE_AUTH, REQ, PS, SK_END, IDI, AUTH, SA, TSI, TSR);
	PASS(IKE_AUTH, REQ, PS, SKF);
	FAIL(IKE_AUTH, REQ, PS, SK_END, IDI, PS, AUTH);
	FAIL(IKE_AUTH, RESP, PS, PS, SK_END, IDR, AUTH);
	FAIL(CREATE_CHILD_SA, REQ, PS, PS, SK_END, SA, NONCE);
}

/* RFC 7296 1.3 */
static void test_create_child_sa(void **state)
{
	PASS(CREATE_CHILD_SA, REQ, SK_END, N, SA, NONCE, KE, TSI, TSR);
	PASS(CREATE_CHILD_SA, RESP, SK_END, SA, NONCE, KE, TSI, TSR, N, V);
	PASS(CREATE_CHILD_SA, REQ, SK_END, SA, NONCE, KE); /* IKE SA rekey */
	FAIL(CREATE_CHILD_SA, REQ, SA, SA, NONCE, SK_END, N);
	FAIL(CREATE_CHILD_SA, REQ, AUTH, SK_END, SA, NONCE, AUTH);
	FAIL(CREATE_CHILD_SA, REQ, CP, SK_END, SA, NONCE, CP);
	FAIL(CREATE_CHILD_SA, RESP, NONCE, SK_END, SA, NONCE, NONCE);
}

/* RFC 7296 1.4, 2.21.1; RFC 6290 4.5 */
static void test_informational(void **state)
{
	PASS(INFORMATIONAL, REQ, SK); /* liveness check */
	PASS(INFORMATIONAL, RESP, SK);
	PASS(INFORMATIONAL, REQ, SK_END, D, D, N, N);
	PASS(INFORMATIONAL, REQ, SK_END, N, CP, V);
	PASS(INFORMATIONAL, REQ, N);    /* INVALID_IKE_SPI, unprotected */
	PASS(INFORMATIONAL, REQ, N, N); /* ... with QCD_TOKEN */
	PASS(INFORMATIONAL, RESP, N);
	FAIL(INFORMATIONAL, REQ, N, N, SK_END, D); /* clear N only without SK */
	FAIL(INFORMATIONAL, REQ, D, D);
	FAIL(INFORMATIONAL, REQ, SA, SK_END, SA);
	FAIL(INFORMATIONAL, REQ, CP, SK_END, CP, CP);
	FAIL(INFORMATIONAL, REQ, V, V);
}

/* RFC 5723 4.3.1, RFC 9242, RFC 9370 */
static void test_other_exchanges(void **state)
{
	struct wire_error err;
	static const uint8_t n[] = {N};

	PASS(IKE_SESSION_RESUME, REQ, NONCE, N, N, V);
	PASS(IKE_SESSION_RESUME, RESP, NONCE, N);
	FAIL(IKE_SESSION_RESUME, REQ, SA, NONCE, SA);
	FAIL(IKE_SESSION_RESUME, REQ, SK, SK_END, N);
	PASS(IKE_INTERMEDIATE, REQ, SK_END, KE, N);
	FAIL(IKE_INTERMEDIATE, REQ, KE, KE);
	PASS(IKE_FOLLOWUP_KE, RESP, SK_END, KE, N);
	/* An exchange type without rules (GSA_AUTH). */
	assert_int_equal(check(IKEV2_EXCH_GSA_AUTH, REQ, n, 1, &err), -1);
	assert_int_equal(err.notify, IKEV2_N_INVALID_SYNTAX);
	assert_int_equal(check(0, REQ, n, 1, &err), -1);
}

/* Encrypted payloads need their SK, and one SK only. */
static void test_structure(void **state)
{
	struct wire_msg m;
	struct wire_error err;
	static const uint8_t t[] = {SK_END, IDI, AUTH};

	build(&m, IKEV2_EXCH_IKE_AUTH, REQ, t, 3);
	assert_int_equal(wire_rules_check(&m, &err), 0);
	assert_int_equal(wire_rules_check(&m, NULL), 0);
	m.payloads[0].type = IKEV2_PL_V; /* SK gone: inner payloads without it */
	assert_int_equal(wire_rules_check(&m, &err), -1);
	assert_string_equal(err.reason, "encrypted payloads without SK/SKF");
	wire_msg_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ike_sa_init),     cmocka_unit_test(test_ike_auth),
	    cmocka_unit_test(test_create_child_sa), cmocka_unit_test(test_informational),
	    cmocka_unit_test(test_other_exchanges), cmocka_unit_test(test_structure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
