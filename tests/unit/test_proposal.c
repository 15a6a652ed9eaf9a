/* Proposal strings: parsing into transform lists, the checks of RFC 7296
 * 3.3 / RFC 5282 8, refused algorithms, and format/parse round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/config.h"
#include "daemon/proposal.h"
#include "wire/ikev2.h"

static void parse_ok(const char *s, uint8_t proto, struct proposal *p)
{
	char err[256] = "";

	if (proposal_parse(s, proto, p, err, sizeof(err)) != 0)
		fail_msg("'%s' failed: %s", s, err);
}

static void parse_fails(const char *s, uint8_t proto, const char *needle)
{
	struct proposal p;
	char err[256] = "";

	assert_int_equal(proposal_parse(s, proto, &p, err, sizeof(err)), -1);
	if (!strstr(err, needle))
		fail_msg("'%s': error '%s' lacks '%s'", s, err, needle);
}

static void test_ike_aead(void **state)
{
	struct proposal p;

	parse_ok("aes256gcm16-prfsha384-ecp384", IKEV2_PROTO_IKE, &p);
	assert_int_equal(p.protocol, IKEV2_PROTO_IKE);
	assert_int_equal(p.n_encr, 1);
	assert_int_equal(p.encr[0].id, IKEV2_ENCR_AES_GCM_16);
	assert_int_equal(p.encr[0].keylen, 256);
	assert_int_equal(p.n_prf, 1);
	assert_int_equal(p.prf[0], IKEV2_PRF_HMAC_SHA2_384);
	assert_int_equal(p.n_integ, 0);
	assert_int_equal(p.n_dh, 1);
	assert_int_equal(p.dh[0], IKEV2_DH_ECP_384);
	assert_int_equal(p.n_esn, 0);
	assert_true(proposal_is_aead(&p));

	parse_ok("chacha20poly1305-prfsha256-x25519", IKEV2_PROTO_IKE, &p);
	assert_int_equal(p.encr[0].id, IKEV2_ENCR_CHACHA20_POLY1305);
	assert_int_equal(p.encr[0].keylen, 0); /* RFC 7634 2: no Key Length attribute */
	assert_int_equal(p.dh[0], IKEV2_DH_CURVE25519);
}

static void test_ike_cbc_derives_prf(void **state)
{
	struct proposal p;

	parse_ok("aes256-sha256-modp3072", IKEV2_PROTO_IKE, &p);
	assert_int_equal(p.encr[0].id, IKEV2_ENCR_AES_CBC);
	assert_int_equal(p.integ[0], IKEV2_AUTH_HMAC_SHA2_256_128);
	assert_int_equal(p.n_prf, 1);
	assert_int_equal(p.prf[0], IKEV2_PRF_HMAC_SHA2_256);
	assert_int_equal(p.dh[0], IKEV2_DH_MODP_3072);
	assert_false(proposal_is_aead(&p));

	parse_ok("aes128ctr-aes256ctr-sha1-sha512-modp2048-ecp256", IKEV2_PROTO_IKE, &p);
	assert_int_equal(p.n_encr, 2);
	assert_int_equal(p.encr[1].keylen, 256);
	assert_int_equal(p.encr[1].id, IKEV2_ENCR_AES_CTR);
	assert_int_equal(p.n_prf, 2);
	assert_int_equal(p.prf[0], IKEV2_PRF_HMAC_SHA1);
	assert_int_equal(p.prf[1], IKEV2_PRF_HMAC_SHA2_512);
	assert_int_equal(p.n_dh, 2);
}

static void test_esp(void **state)
{
	struct proposal p;

	parse_ok("aes256gcm16", IKEV2_PROTO_ESP, &p);
	assert_int_equal(p.n_esn, 1);
	assert_int_equal(p.esn[0], 0); /* noesn by default (RFC 7296 3.3.3) */
	assert_int_equal(p.n_prf, 0);

	parse_ok("aes128-sha256-ecp256-esn-noesn", IKEV2_PROTO_ESP, &p);
	assert_int_equal(p.n_esn, 2);
	assert_int_equal(p.esn[0], 1);
	assert_int_equal(p.esn[1], 0);
	assert_int_equal(p.dh[0], IKEV2_DH_ECP_256); /* PFS group */

	parse_ok("null-sha256", IKEV2_PROTO_ESP, &p); /* RFC 8221 5: ENCR_NULL MUST */
	assert_int_equal(p.encr[0].id, IKEV2_ENCR_NULL);
}

static void test_errors(void **state)
{
	parse_fails("aes256gcm16-prfsha384-ecp384-bogus", IKEV2_PROTO_IKE,
	            "unknown algorithm 'bogus'");
	parse_fails("aes256-md5-modp2048", IKEV2_PROTO_IKE, "'md5' is not allowed");
	parse_fails("aes256-sha256-modp768", IKEV2_PROTO_IKE, "'modp768' is not allowed");
	parse_fails("des-sha256", IKEV2_PROTO_ESP, "'des' is not allowed");
	parse_fails("aes256gcm16-sha256-prfsha256-ecp256", IKEV2_PROTO_IKE, "RFC 5282");
	parse_fails("aes256gcm16-aes256-sha256-ecp256", IKEV2_PROTO_IKE, "mixed");
	parse_fails("aes256-modp2048", IKEV2_PROTO_IKE, "without an integrity");
	parse_fails("aes256", IKEV2_PROTO_ESP, "without an integrity");
	parse_fails("aes256gcm16-ecp256", IKEV2_PROTO_IKE, "needs a PRF");
	parse_fails("aes256gcm16-prfsha256", IKEV2_PROTO_IKE, "key exchange group");
	parse_fails("null-sha256-ecp256", IKEV2_PROTO_IKE, "not allowed for IKE");
	parse_fails("aes256gcm16-prfsha256-ecp256-esn", IKEV2_PROTO_IKE, "ESN");
	parse_fails("aes256gcm16-prfsha256", IKEV2_PROTO_ESP, "PRF is not an ESP");
	parse_fails("sha256-ecp256", IKEV2_PROTO_ESP, "no encryption");
	parse_fails("aes256gcm16--ecp256", IKEV2_PROTO_ESP, "empty algorithm");
	parse_fails("", IKEV2_PROTO_ESP, "empty algorithm");
	parse_fails("aes256gcm16-aes256gcm16", IKEV2_PROTO_ESP, "duplicate");
	parse_fails("aes256gcm16-esn-esn", IKEV2_PROTO_ESP, "duplicate");
}

static void roundtrip(const char *s, uint8_t proto, const char *canonical)
{
	struct proposal a, b;
	char buf[PROPOSAL_STR_MAX];

	parse_ok(s, proto, &a);
	assert_int_equal(proposal_format(&a, buf, sizeof(buf)), 0);
	assert_string_equal(buf, canonical);
	parse_ok(buf, proto, &b);
	assert_true(proposal_equal(&a, &b));
}

static void test_roundtrip(void **state)
{
	roundtrip("aes256gcm16-prfsha384-ecp384", IKEV2_PROTO_IKE, "aes256gcm16-prfsha384-ecp384");
	roundtrip("aes256gcm-prfsha384-ecp384", IKEV2_PROTO_IKE, "aes256gcm16-prfsha384-ecp384");
	roundtrip("aes256-sha256-modp3072", IKEV2_PROTO_IKE, "aes256-sha256-prfsha256-modp3072");
	roundtrip("chacha20poly1305-prfsha256-x25519", IKEV2_PROTO_IKE,
	          "chacha20poly1305-prfsha256-curve25519");
	roundtrip("ecp256-aes128ctr-sha1", IKEV2_PROTO_IKE, "aes128ctr-sha1-prfsha1-ecp256");
	roundtrip("aes256gcm16", IKEV2_PROTO_ESP, "aes256gcm16-noesn");
	roundtrip("aes192ccm8-esn", IKEV2_PROTO_ESP, "aes192ccm8-esn");
	roundtrip("3des-sha2_512-modp4096-noesn-esn", IKEV2_PROTO_ESP,
	          "3des-sha512-modp4096-noesn-esn");
}

static void test_format_small_buffer(void **state)
{
	struct proposal p;
	char buf[8];

	parse_ok("aes256gcm16-prfsha384-ecp384", IKEV2_PROTO_IKE, &p);
	assert_int_equal(proposal_format(&p, buf, sizeof(buf)), -1);
	assert_int_equal(proposal_format(&p, buf, 0), -1);
}

/* The defaults must parse and follow RFC 8247 / RFC 8221. */
static void test_defaults(void **state)
{
	struct proposal p[CFG_MAX_PROPOSALS];
	size_t n;
	bool gcm = false, cbc = false, g14 = false, g19 = false, sha256 = false;

	cfg_default_proposals(IKEV2_PROTO_IKE, p, &n);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < p[i].n_encr; k++) {
			gcm |= p[i].encr[k].id == IKEV2_ENCR_AES_GCM_16;
			cbc |= p[i].encr[k].id == IKEV2_ENCR_AES_CBC;
		}
		for (size_t k = 0; k < p[i].n_dh; k++) {
			g14 |= p[i].dh[k] == IKEV2_DH_MODP_2048;
			g19 |= p[i].dh[k] == IKEV2_DH_ECP_256;
		}
		for (size_t k = 0; k < p[i].n_prf; k++)
			sha256 |= p[i].prf[k] == IKEV2_PRF_HMAC_SHA2_256;
	}
	assert_true(gcm && cbc && g14 && g19 && sha256);
	cfg_default_proposals(IKEV2_PROTO_ESP, p, &n);
	assert_int_equal(n, 2);
	assert_int_equal(p[0].encr[0].id, IKEV2_ENCR_AES_GCM_16);
	assert_int_equal(p[1].integ[0], IKEV2_AUTH_HMAC_SHA2_256_128);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ike_aead),  cmocka_unit_test(test_ike_cbc_derives_prf),
	    cmocka_unit_test(test_esp),       cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_format_small_buffer),
	    cmocka_unit_test(test_defaults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
