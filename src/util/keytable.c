/*
 * Reader for Wireshark's IKEv2 decryption table (ikev2_decryption_table
 * UAT rows). Owns the mapping from Wireshark's algorithm names to IKEv2
 * transform IDs (RFC 7296 3.3.2; RFC 3602, 3686/5930, 5282, 7634 for the
 * ciphers, RFC 4868 and 2404/4595 for integrity). Names are parsed by
 * their shape ("AES-<mode>-<bits>[ with <n> octet ICV]") rather than
 * listed, so every key size and ICV length is covered. The keys are
 * wiped when the table is freed.
 */
#include "util/keytable.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto/crypto.h"
#include "wire/ikev2.h"

#define KT_FIELDS   8
#define KT_NAME_MAX 96

struct kt_integ {
	const char *name;
	uint16_t id;
};

/* Integrity names as Wireshark spells them, without the "[RFC...]" suffix. */
static const struct kt_integ kt_integs[] = {
    {"NONE", IKEV2_AUTH_NONE},
    {"HMAC_MD5_96", IKEV2_AUTH_HMAC_MD5_96},
    {"HMAC_SHA1_96", IKEV2_AUTH_HMAC_SHA1_96},
    {"AES-XCBC-96", IKEV2_AUTH_AES_XCBC_96},
    {"AES_XCBC_96", IKEV2_AUTH_AES_XCBC_96},
    {"HMAC_MD5_128", IKEV2_AUTH_HMAC_MD5_128},
    {"HMAC_SHA1_160", IKEV2_AUTH_HMAC_SHA1_160},
    {"AES-CMAC-96", IKEV2_AUTH_AES_CMAC_96},
    {"HMAC_SHA2_256_128", IKEV2_AUTH_HMAC_SHA2_256_128},
    {"HMAC_SHA2_384_192", IKEV2_AUTH_HMAC_SHA2_384_192},
    {"HMAC_SHA2_512_256", IKEV2_AUTH_HMAC_SHA2_512_256},
};

/* Copy name without a trailing " [...]" reference and surrounding blanks. */
static void kt_base_name(const char *name, char *out, size_t outlen)
{
	const char *br = strchr(name, '[');
	size_t n = br ? (size_t)(br - name) : strlen(name);

	while (*name == ' ' && n) {
		name++;
		n--;
	}
	while (n && name[n - 1] == ' ')
		n--;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, name, n);
	out[n] = '\0';
}

/* "AES-GCM-256 with 16 octet ICV": the AEAD IDs by ICV length (RFC 5282 4, 8). */
static int kt_aead(const char *mode, unsigned icv, uint16_t *encr)
{
	static const struct {
		const char *mode;
		unsigned icv;
		uint16_t id;
	} t[] = {
	    {"GCM", 8, IKEV2_ENCR_AES_GCM_8},   {"GCM", 12, IKEV2_ENCR_AES_GCM_12},
	    {"GCM", 16, IKEV2_ENCR_AES_GCM_16}, {"CCM", 8, IKEV2_ENCR_AES_CCM_8},
	    {"CCM", 12, IKEV2_ENCR_AES_CCM_12}, {"CCM", 16, IKEV2_ENCR_AES_CCM_16},
	};

	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		if (!strcasecmp(mode, t[i].mode) && icv == t[i].icv) {
			*encr = t[i].id;
			return 0;
		}
	}
	return -1;
}

static int kt_aes(const char *base, uint16_t *encr, uint16_t *keybits)
{
	char mode[8], tail[32];
	unsigned bits, icv;
	int n;

	n = sscanf(base, "AES-%7[A-Za-z]-%u%31[^\n]", mode, &bits, tail);
	if (n < 2 || (bits != 128 && bits != 192 && bits != 256))
		return -1;
	*keybits = (uint16_t)bits;
	if (n == 2) {
		if (!strcasecmp(mode, "CBC"))
			*encr = IKEV2_ENCR_AES_CBC;
		else if (!strcasecmp(mode, "CTR"))
			*encr = IKEV2_ENCR_AES_CTR;
		else
			return -1;
		return 0;
	}
	if (sscanf(tail, " with %u octet ICV", &icv) != 1)
		return -1;
	return kt_aead(mode, icv, encr);
}

int keytable_encr_name(const char *name, uint16_t *encr, uint16_t *keybits)
{
	char base[KT_NAME_MAX];

	kt_base_name(name, base, sizeof(base));
	*keybits = 0;
	if (!strcasecmp(base, "NULL")) {
		*encr = IKEV2_ENCR_NULL;
		return 0;
	}
	if (!strcasecmp(base, "3DES")) {
		*encr = IKEV2_ENCR_3DES;
		return 0;
	}
	if (!strncasecmp(base, "CHACHA20", 8) && strcasestr(base, "POLY1305")) {
		*encr = IKEV2_ENCR_CHACHA20_POLY1305;
		return 0;
	}
	return kt_aes(base, encr, keybits);
}

int keytable_integ_name(const char *name, uint16_t *integ, size_t *unchecked_icv_len)
{
	char base[KT_NAME_MAX];
	unsigned bits;

	kt_base_name(name, base, sizeof(base));
	*unchecked_icv_len = 0;
	/* "ANY 96-bits of Authentication [No Checking]" */
	if (sscanf(base, "ANY %u-bits of Authentication", &bits) == 1) {
		if (bits == 0 || bits % 8 || bits / 8 > CRYPTO_MAX_ICV_LEN)
			return -1;
		*integ = IKEV2_AUTH_NONE;
		*unchecked_icv_len = bits / 8;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_LEN(kt_integs); i++) {
		if (!strcasecmp(base, kt_integs[i].name)) {
			*integ = kt_integs[i].id;
			return 0;
		}
	}
	return -1;
}

/* Hex (an optional 0x prefix allowed) into out of at most max octets. */
static int kt_hex(const char *s, uint8_t *out, size_t max, size_t *len)
{
	if (!strncasecmp(s, "0x", 2))
		s += 2;
	return crypto_hex_decode(s, out, max, len);
}

/* Split a row at commas outside double quotes; quotes are removed. */
static int kt_split(char *s, char *f[KT_FIELDS])
{
	size_t nf = 0;
	bool q = false;
	char *w = s;

	f[nf++] = w;
	for (char *r = s; *r && *r != '\n' && *r != '\r'; r++) {
		if (*r == '"') {
			q = !q;
		} else if (*r == ',' && !q) {
			*w++ = '\0';
			if (nf == KT_FIELDS)
				return -1;
			f[nf++] = w;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return nf == KT_FIELDS && !q ? 0 : -1;
}

static int kt_spi(const char *s, uint8_t spi[8])
{
	size_t n;

	return kt_hex(s, spi, 8, &n) < 0 || n != 8 ? -1 : 0;
}

static int kt_fill(char *f[KT_FIELDS], struct keytable_entry *e, const char **why)
{
	size_t er_len, ar_len;

	*why = "bad SPI";
	if (kt_spi(f[0], e->spi_i) < 0 || kt_spi(f[1], e->spi_r) < 0)
		return -1;
	*why = "bad SK_e hex";
	if (kt_hex(f[2], e->sk_ei, sizeof(e->sk_ei), &e->e_len) < 0 ||
	    kt_hex(f[3], e->sk_er, sizeof(e->sk_er), &er_len) < 0 || er_len != e->e_len)
		return -1;
	*why = "unknown encryption algorithm name";
	if (keytable_encr_name(f[4], &e->suite.encr, &e->suite.encr_keybits) < 0)
		return -1;
	*why = "bad SK_a hex";
	if (kt_hex(f[5], e->sk_ai, sizeof(e->sk_ai), &e->a_len) < 0 ||
	    kt_hex(f[6], e->sk_ar, sizeof(e->sk_ar), &ar_len) < 0 || ar_len != e->a_len)
		return -1;
	*why = "unknown integrity algorithm name";
	if (keytable_integ_name(f[7], &e->suite.integ, &e->unchecked_icv_len) < 0)
		return -1;
	return 0;
}

int keytable_parse_line(const char *line, struct keytable_entry *e, const char **why)
{
	char buf[KEYTABLE_MAX_LINE], *f[KT_FIELDS];
	const char *s = line;
	int rc = -1;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '#' || *s == '\0' || *s == '\n' || *s == '\r')
		return 0;
	memset(e, 0, sizeof(*e));
	*why = "line too long";
	if (strlen(s) >= sizeof(buf))
		goto out;
	strcpy(buf, s);
	*why = "expected 8 comma-separated fields";
	if (kt_split(buf, f) < 0 || kt_fill(f, e, why) < 0)
		goto out;
	rc = 1;
out:
	crypto_wipe(buf, sizeof(buf));
	if (rc < 0)
		crypto_wipe(e, sizeof(*e));
	return rc;
}

static int kt_append(struct keytable *t, const struct keytable_entry *e)
{
	struct keytable_entry *n;

	if (t->n >= KEYTABLE_MAX_ROWS)
		return -1;
	n = calloc(t->n + 1, sizeof(*n));
	if (!n)
		return -1;
	if (t->n)
		memcpy(n, t->rows, t->n * sizeof(*n));
	if (t->rows) {
		crypto_wipe(t->rows, t->n * sizeof(*n));
		free(t->rows);
	}
	n[t->n++] = *e;
	t->rows = n;
	return 0;
}

int keytable_load(const char *path, struct keytable *t, char *errbuf, size_t errlen)
{
	char line[KEYTABLE_MAX_LINE];
	struct keytable_entry e;
	const char *why = NULL;
	unsigned lineno = 0;
	FILE *f;
	int rc = -1, r;

	memset(t, 0, sizeof(*t));
	f = fopen(path, "r");
	if (!f) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		r = keytable_parse_line(line, &e, &why);
		if (r == 1) {
			e.line = lineno;
			why = "too many rows";
			if (kt_append(t, &e) < 0)
				r = -1;
		}
		if (r < 0) {
			snprintf(errbuf, errlen, "%s:%u: %s", path, lineno, why);
			goto out;
		}
	}
	rc = 0;
out:
	crypto_wipe(line, sizeof(line));
	crypto_wipe(&e, sizeof(e));
	fclose(f);
	if (rc < 0)
		keytable_free(t);
	return rc;
}

void keytable_free(struct keytable *t)
{
	if (!t)
		return;
	if (t->rows) {
		crypto_wipe(t->rows, t->n * sizeof(*t->rows));
		free(t->rows);
	}
	t->rows = NULL;
	t->n = 0;
}

const struct keytable_entry *keytable_lookup(const struct keytable *t, const uint8_t spi_i[8],
                                             const uint8_t spi_r[8])
{
	for (size_t i = 0; i < t->n; i++)
		if (!memcmp(t->rows[i].spi_i, spi_i, 8) && !memcmp(t->rows[i].spi_r, spi_r, 8))
			return &t->rows[i];
	return NULL;
}

/* ---- writing: Wireshark's names for IKEv2 transforms ---- */

static const struct {
	uint16_t id;
	const char *mode;
	unsigned icv; /* 0: not AEAD */
	const char *rfc;
} kt_aes_names[] = {
    {IKEV2_ENCR_AES_CBC, "CBC", 0, "RFC3602"},     {IKEV2_ENCR_AES_CTR, "CTR", 0, "RFC5930"},
    {IKEV2_ENCR_AES_CCM_8, "CCM", 8, "RFC5282"},   {IKEV2_ENCR_AES_CCM_12, "CCM", 12, "RFC5282"},
    {IKEV2_ENCR_AES_CCM_16, "CCM", 16, "RFC5282"}, {IKEV2_ENCR_AES_GCM_8, "GCM", 8, "RFC5282"},
    {IKEV2_ENCR_AES_GCM_12, "GCM", 12, "RFC5282"}, {IKEV2_ENCR_AES_GCM_16, "GCM", 16, "RFC5282"},
};

int keytable_encr_wsname(uint16_t encr, uint16_t keybits, char *buf, size_t len)
{
	int n = -1;

	if (encr == IKEV2_ENCR_NULL)
		n = snprintf(buf, len, "NULL [RFC2410]");
	else if (encr == IKEV2_ENCR_3DES)
		n = snprintf(buf, len, "3DES [RFC2451]");
	for (size_t i = 0; n < 0 && i < ARRAY_LEN(kt_aes_names); i++) {
		if (kt_aes_names[i].id != encr)
			continue;
		if (keybits != 128 && keybits != 192 && keybits != 256)
			return -1;
		if (kt_aes_names[i].icv)
			n = snprintf(buf, len, "AES-%s-%u with %u octet ICV [%s]",
			             kt_aes_names[i].mode, keybits, kt_aes_names[i].icv,
			             kt_aes_names[i].rfc);
		else
			n = snprintf(buf, len, "AES-%s-%u [%s]", kt_aes_names[i].mode, keybits,
			             kt_aes_names[i].rfc);
	}
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

const char *keytable_integ_wsname(uint16_t integ)
{
	static const struct {
		uint16_t id;
		const char *name;
	} t[] = {
	    {IKEV2_AUTH_NONE, "NONE [RFC4306]"},
	    {IKEV2_AUTH_HMAC_MD5_96, "HMAC_MD5_96 [RFC2403]"},
	    {IKEV2_AUTH_HMAC_SHA1_96, "HMAC_SHA1_96 [RFC2404]"},
	    {IKEV2_AUTH_HMAC_MD5_128, "HMAC_MD5_128 [RFC4595]"},
	    {IKEV2_AUTH_HMAC_SHA1_160, "HMAC_SHA1_160 [RFC4595]"},
	    {IKEV2_AUTH_HMAC_SHA2_256_128, "HMAC_SHA2_256_128 [RFC4868]"},
	    {IKEV2_AUTH_HMAC_SHA2_384_192, "HMAC_SHA2_384_192 [RFC4868]"},
	    {IKEV2_AUTH_HMAC_SHA2_512_256, "HMAC_SHA2_512_256 [RFC4868]"},
	};

	for (size_t i = 0; i < ARRAY_LEN(t); i++)
		if (t[i].id == integ)
			return t[i].name;
	return NULL;
}

/* ESP (RFC 4303) as Wireshark's ESP dissector names them; the key length
 * comes from the key itself (with the salt for CTR and GCM, RFC 3686 5.1,
 * RFC 4106 8.1). */
const char *keytable_esp_encr_wsname(uint16_t encr)
{
	switch (encr) {
	case IKEV2_ENCR_NULL:
		return "NULL";
	case IKEV2_ENCR_3DES:
		return "TripleDES-CBC [RFC2451]";
	case IKEV2_ENCR_AES_CBC:
		return "AES-CBC [RFC3602]";
	case IKEV2_ENCR_AES_CTR:
		return "AES-CTR [RFC3686]";
	case IKEV2_ENCR_AES_GCM_8:
		return "AES-GCM with 8 octet ICV [RFC4106]";
	case IKEV2_ENCR_AES_GCM_12:
		return "AES-GCM with 12 octet ICV [RFC4106]";
	case IKEV2_ENCR_AES_GCM_16:
		return "AES-GCM with 16 octet ICV [RFC4106]";
	default:
		return NULL;
	}
}

const char *keytable_esp_integ_wsname(uint16_t integ)
{
	switch (integ) {
	case IKEV2_AUTH_NONE:
		return "NULL";
	case IKEV2_AUTH_HMAC_MD5_96:
		return "HMAC-MD5-96 [RFC2403]";
	case IKEV2_AUTH_HMAC_SHA1_96:
		return "HMAC-SHA-1-96 [RFC2404]";
	case IKEV2_AUTH_HMAC_SHA2_256_128:
		return "HMAC-SHA-256-128 [RFC4868]";
	case IKEV2_AUTH_HMAC_SHA2_384_192:
		return "HMAC-SHA-384-192 [RFC4868]";
	case IKEV2_AUTH_HMAC_SHA2_512_256:
		return "HMAC-SHA-512-256 [RFC4868]";
	default:
		return NULL;
	}
}
