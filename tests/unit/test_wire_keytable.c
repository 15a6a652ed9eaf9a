/*
 * Wireshark ikev2_decryption_table rows (util/keytable.c): algorithm names
 * mapped to IKEv2 transform IDs and key sizes, hex fields, comments, and
 * malformed rows refused with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/keytable.h"
#include "wire/ikev2.h"

static void test_encr_names(void **state)
{
	static const struct {
		const char *name;
		uint16_t id, bits;
	} t[] = {
	    {"3DES [RFC2451]", IKEV2_ENCR_3DES, 0},
	    {"NULL [RFC2410]", IKEV2_ENCR_NULL, 0},
	    {"AES-CBC-256 [RFC3602]", IKEV2_ENCR_AES_CBC, 256},
	    {"AES-CTR-192 [RFC5930]", IKEV2_ENCR_AES_CTR, 192},
	    {"AES-GCM-256 with 16 octet ICV [RFC5282]", IKEV2_ENCR_AES_GCM_16, 256},
	    {"AES-GCM-128 with 8 octet ICV [RFC5282]", IKEV2_ENCR_AES_GCM_8, 128},
	    {"AES-CCM-128 with 12 octet ICV [RFC5282]", IKEV2_ENCR_AES_CCM_12, 128},
	    {"AES-CCM-256 with 16 octet ICV [RFC5282]", IKEV2_ENCR_AES_CCM_16, 256},
	};
	uint16_t id, bits;

	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		assert_int_equal(keytable_encr_name(t[i].name, &id, &bits), 0);
		assert_int_equal(id, t[i].id);
		assert_int_equal(bits, t[i].bits);
	}
	assert_int_equal(keytable_encr_name("AES-GCM-256 with 10 octet ICV", &id, &bits), -1);
	assert_int_equal(keytable_encr_name("AES-CBC-100 [RFC3602]", &id, &bits), -1);
	assert_int_equal(keytable_encr_name("Blowfish", &id, &bits), -1);
}

static void test_integ_names(void **state)
{
	uint16_t id;
	size_t unchecked;

	assert_int_equal(keytable_integ_name("HMAC_SHA1_160 [RFC4595]", &id, &unchecked), 0);
	assert_int_equal(id, IKEV2_AUTH_HMAC_SHA1_160);
	assert_int_equal(keytable_integ_name("HMAC_SHA2_512_256 [RFC4868]", &id, &unchecked), 0);
	assert_int_equal(id, IKEV2_AUTH_HMAC_SHA2_512_256);
	assert_int_equal(keytable_integ_name("NONE [RFC4306]", &id, &unchecked), 0);
	assert_int_equal(id, IKEV2_AUTH_NONE);
	assert_int_equal(unchecked, 0);
	assert_int_equal(
	    keytable_integ_name("ANY 96-bits of Authentication [No Checking]", &id, &unchecked), 0);
	assert_int_equal(id, IKEV2_AUTH_NONE);
	assert_int_equal(unchecked, 12);
	assert_int_equal(keytable_integ_name("HMAC_SHA3", &id, &unchecked), -1);
}

static void test_rows(void **state)
{
	struct keytable_entry e;
	const char *why = NULL;

	assert_int_equal(keytable_parse_line("# comment\n", &e, &why), 0);
	assert_int_equal(keytable_parse_line("   \n", &e, &why), 0);
	assert_int_equal(keytable_parse_line(
	                     "0158b8fb90b7623d,13514610cea16160,00112233445566778899aabbccddeeff0"
	                     "1020304,ffeeddccbbaa99887766554433221100a1a2a3a4,\"AES-GCM-128 with "
	                     "16 octet ICV [RFC5282]\",,,\"NONE [RFC4306]\"\n",
	                     &e, &why),
	                 1);
	assert_int_equal(e.spi_i[0], 0x01);
	assert_int_equal(e.spi_r[7], 0x60);
	assert_int_equal(e.e_len, 20);
	assert_int_equal(e.sk_er[19], 0xa4);
	assert_int_equal(e.a_len, 0);
	assert_int_equal(e.suite.encr, IKEV2_ENCR_AES_GCM_16);
	/* Bad SPI, odd hex, unequal key lengths, unknown name, missing field. */
	assert_int_equal(keytable_parse_line("01,02,,,\"NULL\",,,\"NONE\"", &e, &why), -1);
	assert_non_null(strstr(why, "SPI"));
	assert_int_equal(keytable_parse_line("0102030405060708,0102030405060708,abc,abc,\"NULL\",,,"
	                                     "\"NONE\"",
	                                     &e, &why),
	                 -1);
	assert_int_equal(keytable_parse_line("0102030405060708,0102030405060708,ab,abcd,\"NULL\",,,"
	                                     "\"NONE\"",
	                                     &e, &why),
	                 -1);
	assert_int_equal(keytable_parse_line("0102030405060708,0102030405060708,ab,ab,\"RC5\",,,"
	                                     "\"NONE\"",
	                                     &e, &why),
	                 -1);
	assert_non_null(strstr(why, "encryption"));
	assert_int_equal(
	    keytable_parse_line("0102030405060708,0102030405060708,ab,ab,\"NULL\",,", &e, &why),
	    -1);
}

/* What riked's keylog writes reads back as the same transform, and the
 * names are Wireshark's own spelling (a few checked literally). */
static void test_write_names(void **state)
{
	static const uint16_t encrs[] = {IKEV2_ENCR_AES_CBC,    IKEV2_ENCR_AES_CTR,
	                                 IKEV2_ENCR_AES_CCM_8,  IKEV2_ENCR_AES_CCM_12,
	                                 IKEV2_ENCR_AES_CCM_16, IKEV2_ENCR_AES_GCM_8,
	                                 IKEV2_ENCR_AES_GCM_12, IKEV2_ENCR_AES_GCM_16};
	static const uint16_t bits[] = {128, 192, 256};
	static const uint16_t integs[] = {IKEV2_AUTH_NONE,
	                                  IKEV2_AUTH_HMAC_MD5_96,
	                                  IKEV2_AUTH_HMAC_SHA1_96,
	                                  IKEV2_AUTH_HMAC_MD5_128,
	                                  IKEV2_AUTH_HMAC_SHA1_160,
	                                  IKEV2_AUTH_HMAC_SHA2_256_128,
	                                  IKEV2_AUTH_HMAC_SHA2_384_192,
	                                  IKEV2_AUTH_HMAC_SHA2_512_256};
	char name[96];
	uint16_t id, kb;
	size_t icv;

	(void)state;
	for (size_t i = 0; i < sizeof(encrs) / sizeof(encrs[0]); i++) {
		for (size_t b = 0; b < 3; b++) {
			assert_int_equal(
			    keytable_encr_wsname(encrs[i], bits[b], name, sizeof(name)), 0);
			assert_int_equal(keytable_encr_name(name, &id, &kb), 0);
			assert_int_equal(id, encrs[i]);
			assert_int_equal(kb, bits[b]);
		}
		/* AES without a key length cannot be named */
		assert_int_equal(keytable_encr_wsname(encrs[i], 0, name, sizeof(name)), -1);
	}
	assert_int_equal(keytable_encr_wsname(IKEV2_ENCR_AES_GCM_16, 256, name, sizeof(name)), 0);
	assert_string_equal(name, "AES-GCM-256 with 16 octet ICV [RFC5282]");
	assert_int_equal(keytable_encr_wsname(IKEV2_ENCR_AES_CBC, 128, name, sizeof(name)), 0);
	assert_string_equal(name, "AES-CBC-128 [RFC3602]");
	assert_int_equal(keytable_encr_wsname(IKEV2_ENCR_3DES, 0, name, sizeof(name)), 0);
	assert_int_equal(keytable_encr_name(name, &id, &kb), 0);
	assert_int_equal(id, IKEV2_ENCR_3DES);
	assert_int_equal(keytable_encr_wsname(IKEV2_ENCR_CHACHA20_POLY1305, 0, name, sizeof(name)),
	                 -1);
	assert_int_equal(keytable_encr_wsname(IKEV2_ENCR_AES_GCM_16, 256, name, 8), -1);
	for (size_t i = 0; i < sizeof(integs) / sizeof(integs[0]); i++) {
		const char *n = keytable_integ_wsname(integs[i]);

		assert_non_null(n);
		assert_int_equal(keytable_integ_name(n, &id, &icv), 0);
		assert_int_equal(id, integs[i]);
		assert_int_equal(icv, 0);
		assert_non_null(keytable_esp_integ_wsname(integs[i]) ||
		                integs[i] == IKEV2_AUTH_HMAC_MD5_128 ||
		                integs[i] == IKEV2_AUTH_HMAC_SHA1_160);
	}
	assert_null(keytable_integ_wsname(IKEV2_AUTH_AES_XCBC_96));
	assert_string_equal(keytable_esp_encr_wsname(IKEV2_ENCR_AES_GCM_16),
	                    "AES-GCM with 16 octet ICV [RFC4106]");
	assert_string_equal(keytable_esp_encr_wsname(IKEV2_ENCR_AES_CBC), "AES-CBC [RFC3602]");
	assert_string_equal(keytable_esp_integ_wsname(IKEV2_AUTH_HMAC_SHA2_256_128),
	                    "HMAC-SHA-256-128 [RFC4868]");
	assert_string_equal(keytable_esp_integ_wsname(IKEV2_AUTH_NONE), "NULL");
	assert_null(keytable_esp_encr_wsname(IKEV2_ENCR_CHACHA20_POLY1305));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encr_names),
	    cmocka_unit_test(test_integ_names),
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_write_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
