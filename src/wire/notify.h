/*
 * Typed codecs for the notifies whose data has structure (RFC 7296 2.6,
 * 2.23, 3.10.1; RFC 4555 4.2; RFC 5685 9; RFC 6290 4.1; RFC 8019 8.1), so that the
 * exchange and extension code reads numbers and addresses, never octets.
 *
 * Every decoder takes a decoded struct wire_notify (wire/payload.h) and
 * fills a self-contained struct (its octets are copied, nothing is
 * borrowed). On failure it returns -1 and sets *err: notify
 * IKEV2_N_INVALID_SYNTAX, payload IKEV2_PL_N, offset the octet of the
 * notification data where the problem lies, and reason a static text that
 * names the notify and what is wrong with it. err may be NULL.
 *
 * Every encoder writes the notification data (not the notify header) into
 * out[0..cap) and sets *len; it returns -1, writing nothing, when the
 * struct could not have come from the decoder or cap is too small. The
 * WIRE_*_MAX constants size the buffers.
 *
 * All these notifies are sent with Protocol ID 0 and SPI Size 0 except
 * QCD_TOKEN (Protocol ID 1, RFC 6290 4.1) and INVALID_SPI (the SA's
 * protocol); the decoders refuse a non-zero SPI Size where the RFC says
 * it is zero, and ignore the Protocol ID (RFC 7296 3.10).
 */
#ifndef RIKE_WIRE_NOTIFY_H
#define RIKE_WIRE_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"
#include "wire/payload.h"

/* ---- RFC 5685 9.1-9.3: REDIRECT_SUPPORTED, REDIRECT, REDIRECTED_FROM ---- */

#define WIRE_GW_ID_MAX      255 /* GW Ident Len is one octet */
#define WIRE_NONCE_MIN      16  /* RFC 7296 3.9 */
#define WIRE_NONCE_MAX      256
#define WIRE_REDIRECT_MAX   (2 + WIRE_GW_ID_MAX + WIRE_NONCE_MAX)
#define WIRE_REDIRECTED_MAX (2 + 16)

/*
 * A gateway identity: 4 or 16 address octets, or FQDN text (RFC 7296 3.5:
 * no terminator; printable ASCII without spaces is all this codec
 * accepts). The decoder puts a NUL after the identity so that an FQDN can
 * be used as a C string; len does not count it.
 */
struct wire_gw_id {
	uint8_t type; /* IKEV2_GW_ID_IPV4, _IPV6 or _FQDN */
	uint8_t len;
	uint8_t id[WIRE_GW_ID_MAX + 1];
};

struct wire_redirect {
	struct wire_gw_id gw;
	/* 9.2: Ni of the IKE_SA_INIT request, only in an IKE_SA_INIT response; else 0. */
	uint16_t nonce_len;
	uint8_t nonce[WIRE_NONCE_MAX];
};

int wire_redirect_decode(const struct wire_notify *n, struct wire_redirect *out,
                         struct wire_error *err) WUR;
int wire_redirect_encode(const struct wire_redirect *r, uint8_t *out, size_t cap, size_t *len) WUR;
/* 9.3: IPv4 or IPv6 only (an FQDN is not a valid REDIRECTED_FROM identity). */
int wire_redirected_from_decode(const struct wire_notify *n, struct wire_gw_id *out,
                                struct wire_error *err) WUR;
int wire_redirected_from_encode(const struct wire_gw_id *gw, uint8_t *out, size_t cap,
                                size_t *len) WUR;

/*
 * Notifies that carry no data: REDIRECT_SUPPORTED (RFC 5685 9.1),
 * NO_ADDITIONAL_ADDRESSES and UPDATE_SA_ADDRESSES (RFC 4555 4.2.3, 4.2.4).
 * Checks that n has the type asked for, SPI Size 0 and no data.
 */
int wire_notify_empty_decode(const struct wire_notify *n, uint16_t type,
                             struct wire_error *err) WUR;

/* ---- RFC 4555 4.2.2, 4.2.5, 4.2.6 ---- */

/* ADDITIONAL_IP4_ADDRESS (len 4) or ADDITIONAL_IP6_ADDRESS (len 16); n's type says which. */
struct wire_addr {
	uint8_t len; /* 4 or 16 */
	uint8_t addr[16];
};

#define WIRE_ADDITIONAL_ADDR_MAX 16

int wire_additional_addr_decode(const struct wire_notify *n, struct wire_addr *out,
                                struct wire_error *err) WUR;
int wire_additional_addr_encode(const struct wire_addr *a, uint8_t *out, size_t cap,
                                size_t *len) WUR;
/* The notify type for an address of that length (0 if neither 4 nor 16). */
uint16_t wire_additional_addr_type(const struct wire_addr *a);

#define WIRE_COOKIE2_MIN 8
#define WIRE_COOKIE2_MAX 64

struct wire_cookie2 {
	uint8_t len; /* 8 to 64 */
	uint8_t data[WIRE_COOKIE2_MAX];
};

int wire_cookie2_decode(const struct wire_notify *n, struct wire_cookie2 *out,
                        struct wire_error *err) WUR;
int wire_cookie2_encode(const struct wire_cookie2 *c, uint8_t *out, size_t cap, size_t *len) WUR;

/* 4.2.6: the addresses and ports the packet was sent from and to. */
struct wire_no_nats {
	uint8_t addr_len; /* 4 (12 octets of data) or 16 (36 octets) */
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t src_port;
	uint16_t dst_port;
};

#define WIRE_NO_NATS_MAX 36

int wire_no_nats_decode(const struct wire_notify *n, struct wire_no_nats *out,
                        struct wire_error *err) WUR;
int wire_no_nats_encode(const struct wire_no_nats *nn, uint8_t *out, size_t cap, size_t *len) WUR;

/* ---- RFC 7296 2.23: NAT_DETECTION_SOURCE_IP / NAT_DETECTION_DESTINATION_IP ---- */

#define WIRE_NAT_HASH_LEN       20 /* SHA-1 */
#define WIRE_NAT_HASH_INPUT_MAX (8 + 8 + 16 + 2)

struct wire_nat_detection {
	uint8_t hash[WIRE_NAT_HASH_LEN];
};

int wire_nat_detection_decode(const struct wire_notify *n, struct wire_nat_detection *out,
                              struct wire_error *err) WUR;
int wire_nat_detection_encode(const struct wire_nat_detection *d, uint8_t *out, size_t cap,
                              size_t *len) WUR;
/*
 * The octets the hash is taken over: SPIi | SPIr | IP | port, the port in
 * network order. ip_len is 4 or 16; port is in host order. The hashing is
 * the caller's (src/crypto).
 */
int wire_nat_hash_input(const uint8_t spi_i[8], const uint8_t spi_r[8], const uint8_t *ip,
                        size_t ip_len, uint16_t port, uint8_t out[WIRE_NAT_HASH_INPUT_MAX],
                        size_t *len) WUR;

/* ---- RFC 7296 3.10.1: INVALID_KE_PAYLOAD, INVALID_SPI; 2.6: COOKIE ---- */

#define WIRE_INVALID_KE_LEN 2

/* The Diffie-Hellman group the responder wants (never 0, NONE). */
int wire_invalid_ke_decode(const struct wire_notify *n, uint16_t *group,
                           struct wire_error *err) WUR;
int wire_invalid_ke_encode(uint16_t group, uint8_t *out, size_t cap, size_t *len) WUR;

#define WIRE_INVALID_SPI_LEN 4

/* The 4-octet SPI of an ESP or AH SA (3.10.1: "the SPI of the invalid SA"). */
int wire_invalid_spi_decode(const struct wire_notify *n, uint32_t *spi, struct wire_error *err) WUR;
int wire_invalid_spi_encode(uint32_t spi, uint8_t *out, size_t cap, size_t *len) WUR;

#define WIRE_COOKIE_MAX         64 /* 3.10.1: 1 to 64 octets */
#define WIRE_COOKIE_VERSION_LEN 4

/*
 * 2.6 suggests Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>);
 * rike's version is a 4-octet number. These read and write it; the
 * rest of the cookie is opaque here.
 */
int wire_cookie_version(const uint8_t *cookie, size_t len, uint32_t *version) WUR;
void wire_cookie_put_version(uint8_t out[WIRE_COOKIE_VERSION_LEN], uint32_t version);

/*
 * RFC 8019 7.1.1.3: a cookie that came with a puzzle also says, integrity
 * protected, what was asked: Cookie = <VersionIDofSecret> | <AdditionalInfo>
 * | Hash(Ni | IPi | SPIi | <AdditionalInfo> | <secret>). rike's
 * AdditionalInfo is WIRE_COOKIE_INFO_LEN octets: a format octet (1: a
 * puzzle was given), the difficulty and the PRF of the puzzle. These
 * read and write it at its place after the version.
 */
#define WIRE_COOKIE_INFO_LEN 4

struct wire_cookie_info {
	uint8_t puzzle; /* 1: a puzzle was given with the cookie */
	uint8_t difficulty;
	uint16_t prf; /* IKEV2_PRF_* */
};

int wire_cookie_info(const uint8_t *cookie, size_t len, struct wire_cookie_info *info) WUR;
void wire_cookie_put_info(uint8_t out[WIRE_COOKIE_INFO_LEN], const struct wire_cookie_info *info);

/* ---- RFC 8019 8.1: PUZZLE ---- */

#define WIRE_PUZZLE_LEN 3

/* The PRF (Transform Type 2 ID, never 0) and difficulty in trailing zero bits (0: any). */
struct wire_puzzle {
	uint16_t prf;
	uint8_t difficulty;
};

int wire_puzzle_decode(const struct wire_notify *n, struct wire_puzzle *out,
                       struct wire_error *err) WUR;
int wire_puzzle_encode(const struct wire_puzzle *p, uint8_t *out, size_t cap, size_t *len) WUR;

/* ---- RFC 6290 4.1: QCD_TOKEN ---- */

#define WIRE_QCD_TOKEN_MIN 16 /* RFC 6290 5 */
#define WIRE_QCD_TOKEN_MAX 128

/* A token is a secret: wipe the struct after use. */
struct wire_qcd_token {
	uint8_t len; /* 16 to 128 */
	uint8_t token[WIRE_QCD_TOKEN_MAX];
};

int wire_qcd_token_decode(const struct wire_notify *n, struct wire_qcd_token *out,
                          struct wire_error *err) WUR;
int wire_qcd_token_encode(const struct wire_qcd_token *t, uint8_t *out, size_t cap,
                          size_t *len) WUR;

/* ---- all of the above ---- */

/*
 * Run n through the codec for its type. Returns 0 for a well-formed
 * notify, or for a type this file has no codec for; -1 with *err set
 * otherwise. For the fuzzer, the capture tests and logging.
 */
int wire_notify_check(const struct wire_notify *n, struct wire_error *err) WUR;

#endif
