/*
 * Wireshark's IKEv2 decryption table (the `ikev2_decryption_table` UAT):
 * one row per IKE SA,
 *   SPIi,SPIr,SK_ei,SK_er,"<encryption name>",SK_ai,SK_ar,"<integrity name>"
 * with hex fields and Wireshark's algorithm names, mapped here to IKEv2
 * transform IDs. SK_ei/SK_er include the salt for CTR/AEAD ciphers (RFC
 * 7296 2.14). Used by `rikectl decode --keys` and the capture tests.
 */
#ifndef RIKE_UTIL_KEYTABLE_H
#define RIKE_UTIL_KEYTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "util/compiler.h"

#define KEYTABLE_MAX_ROWS 1024
#define KEYTABLE_MAX_LINE 1024

struct keytable_entry {
	uint8_t spi_i[8], spi_r[8];
	struct crypto_ike_suite suite; /* encr, encr_keybits, integ; prf and dh unknown (0) */
	uint8_t sk_ei[CRYPTO_MAX_KEY_LEN], sk_er[CRYPTO_MAX_KEY_LEN];
	size_t e_len;
	uint8_t sk_ai[CRYPTO_MAX_PRF_LEN], sk_ar[CRYPTO_MAX_PRF_LEN];
	size_t a_len;
	/* "ANY n-bits of Authentication [No Checking]": an ICV of n/8 octets, not checked. */
	size_t unchecked_icv_len;
	unsigned line; /* in the table file */
};

struct keytable {
	size_t n;
	struct keytable_entry *rows; /* owned; wiped when freed */
};

/*
 * Parse one row. Returns 1 for a row, 0 for a blank or comment line, -1
 * with *why set (static text) for a malformed row or an unknown name.
 */
int keytable_parse_line(const char *line, struct keytable_entry *e, const char **why) WUR;

/* Load a file; on failure errbuf (errlen octets) says where and why. */
int keytable_load(const char *path, struct keytable *t, char *errbuf, size_t errlen) WUR;
void keytable_free(struct keytable *t);

/* The row for an IKE SA (borrowed), or NULL. */
const struct keytable_entry *keytable_lookup(const struct keytable *t, const uint8_t spi_i[8],
                                             const uint8_t spi_r[8]);

/* Map Wireshark's names (e.g. "AES-GCM-256 with 16 octet ICV [RFC5282]"); -1 if unknown. */
int keytable_encr_name(const char *name, uint16_t *encr, uint16_t *keybits) WUR;
int keytable_integ_name(const char *name, uint16_t *integ, size_t *unchecked_icv_len) WUR;

/*
 * The other way, for writers of the tables (riked's keylog): Wireshark's
 * name for an IKEv2 cipher with its key length in bits (0 when it has
 * one size) into buf, in the ikev2_decryption_table; -1 when Wireshark
 * has none. The integrity name, or NULL. Every name written parses back
 * to the same transform with keytable_encr_name/keytable_integ_name.
 */
int keytable_encr_wsname(uint16_t encr, uint16_t keybits, char *buf, size_t len) WUR;
const char *keytable_integ_wsname(uint16_t integ);
/* The same for the ESP SA table (Wireshark's esp_sa UAT), or NULL. */
const char *keytable_esp_encr_wsname(uint16_t encr);
const char *keytable_esp_integ_wsname(uint16_t integ);

#endif
