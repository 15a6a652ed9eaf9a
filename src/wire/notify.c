/*
 * Typed notify codecs (wire/notify.h): the notification data of REDIRECT,
 * REDIRECTED_FROM and REDIRECT_SUPPORTED (RFC 5685 9.1-9.3), the MOBIKE
 * address notifies, COOKIE2 and NO_NATS_ALLOWED (RFC 4555 4.2.2-4.2.6),
 * NAT detection and its hash input (RFC 7296 2.23), INVALID_KE_PAYLOAD
 * and INVALID_SPI (3.10.1), the COOKIE version (2.6) and QCD_TOKEN
 * (RFC 6290 4.1), PUZZLE and the cookie's puzzle record (RFC 8019 8.1,
 * 7.1.1.3). Decoders read through a bounds-checked cursor; encoders
 * check the struct with the same rules the decoder applies, so what
 * encodes decodes.
 */
#include "wire/notify.h"

#include <stdbool.h>
#include <string.h>

#include "crypto/crypto.h"

/* Reasons for the checks every decoder makes, naming the notify. */
struct reasons {
	const char *type; /* n is another notify */
	const char *spi;  /* SPI Size is not 0 */
};

#define REASONS(name) .type = name ": wrong notify type", .spi = name ": SPI Size is not 0"

static const struct reasons r_redirect = {REASONS("REDIRECT")};
static const struct reasons r_redirected_from = {REASONS("REDIRECTED_FROM")};
static const struct reasons r_redirect_supported = {REASONS("REDIRECT_SUPPORTED")};
static const struct reasons r_no_additional = {REASONS("NO_ADDITIONAL_ADDRESSES")};
static const struct reasons r_update_sa = {REASONS("UPDATE_SA_ADDRESSES")};
static const struct reasons r_additional = {REASONS("ADDITIONAL_IP*_ADDRESS")};
static const struct reasons r_cookie2 = {REASONS("COOKIE2")};
static const struct reasons r_no_nats = {REASONS("NO_NATS_ALLOWED")};
static const struct reasons r_nat_d = {REASONS("NAT_DETECTION_*_IP")};
static const struct reasons r_invalid_ke = {REASONS("INVALID_KE_PAYLOAD")};
static const struct reasons r_invalid_spi = {REASONS("INVALID_SPI")};
static const struct reasons r_qcd = {REASONS("QCD_TOKEN")};
static const struct reasons r_puzzle = {REASONS("PUZZLE")};

static int nerr(struct wire_error *err, size_t off, const char *reason)
{
	if (err) {
		err->notify = IKEV2_N_INVALID_SYNTAX;
		err->payload = IKEV2_PL_N;
		err->offset = off;
		err->reason = reason;
	}
	return -1;
}

/* n has one of the types t1, t2 and, if spi0, SPI Size 0; r reads its data. */
static int open_notify(const struct wire_notify *n, uint16_t t1, uint16_t t2, bool spi0,
                       const struct reasons *why, struct wire_rd *r, struct wire_error *err)
{
	if (n->type != t1 && n->type != t2)
		return nerr(err, 0, why->type);
	if (spi0 && n->spi_size != 0)
		return nerr(err, 0, why->spi);
	wire_rd_init(r, n->data, n->len);
	return 0;
}

/* Copy what w holds to out; w is freed either way. */
static int finish(struct wire_wr *w, uint8_t *out, size_t cap, size_t *len)
{
	int rc = -1;

	if (!w->failed && w->len <= cap) {
		if (w->len)
			memcpy(out, w->p, w->len);
		*len = w->len;
		rc = 0;
	}
	wire_wr_free(w);
	return rc;
}

/* ---- RFC 5685 9.2, 9.3 ---- */

/*
 * The rules for a GW identity (RFC 5685 9.2 via RFC 7296 3.5): addresses
 * of their exact length; an FQDN of printable ASCII without terminator
 * (a NUL would cut the name short wherever it is used as a string);
 * REDIRECTED_FROM only addresses (9.3). Returns NULL when id is fine,
 * else the reason, with *off the offending octet of the notify data.
 */
static const char *gw_id_check(uint8_t type, const uint8_t *id, size_t len, bool from, size_t *off)
{
	*off = 0;
	switch (type) {
	case IKEV2_GW_ID_IPV4:
		*off = 1;
		if (len != 4)
			return from ? "REDIRECTED_FROM: IPv4 GW identity is not 4 octets"
			            : "REDIRECT: IPv4 GW identity is not 4 octets";
		return NULL;
	case IKEV2_GW_ID_IPV6:
		*off = 1;
		if (len != 16)
			return from ? "REDIRECTED_FROM: IPv6 GW identity is not 16 octets"
			            : "REDIRECT: IPv6 GW identity is not 16 octets";
		return NULL;
	case IKEV2_GW_ID_FQDN:
		if (from)
			return "REDIRECTED_FROM: FQDN GW identity (only IPv4 and IPv6 allowed)";
		*off = 1;
		if (len == 0)
			return "REDIRECT: empty FQDN GW identity";
		for (size_t i = 0; i < len; i++) {
			*off = 2 + i;
			if (id[i] == 0)
				return "REDIRECT: FQDN GW identity holds a NUL";
			if (id[i] < 0x21 || id[i] > 0x7e)
				return "REDIRECT: FQDN GW identity holds a space, control or "
				       "non-ASCII octet";
		}
		return NULL;
	default:
		return from ? "REDIRECTED_FROM: unknown GW Ident Type"
		            : "REDIRECT: unknown GW Ident Type";
	}
}

static int dec_gw_id(struct wire_rd *r, bool from, struct wire_gw_id *gw, struct wire_error *err)
{
	uint8_t type, len;
	const uint8_t *id;
	const char *why;
	size_t off;

	if (wire_rd_u8(r, &type) < 0 || wire_rd_u8(r, &len) < 0)
		return nerr(err, 0,
		            from ? "REDIRECTED_FROM: shorter than GW Ident Type and GW Ident Len"
		                 : "REDIRECT: shorter than GW Ident Type and GW Ident Len");
	if (wire_rd_bytes(r, len, &id) < 0)
		return nerr(err, 1,
		            from ? "REDIRECTED_FROM: GW Ident Len runs past the notify data"
		                 : "REDIRECT: GW Ident Len runs past the notify data");
	if ((why = gw_id_check(type, id, len, from, &off)))
		return nerr(err, off, why);
	memset(gw, 0, sizeof(*gw));
	gw->type = type;
	gw->len = len;
	memcpy(gw->id, id, len);
	return 0;
}

static int enc_gw_id(const struct wire_gw_id *gw, bool from, struct wire_wr *w)
{
	size_t off;

	if (gw_id_check(gw->type, gw->id, gw->len, from, &off))
		return -1;
	if (wire_wr_u8(w, gw->type) < 0 || wire_wr_u8(w, gw->len) < 0 ||
	    wire_wr_bytes(w, gw->id, gw->len) < 0)
		return -1;
	return 0;
}

/* RFC 5685 9.2 */
int wire_redirect_decode(const struct wire_notify *n, struct wire_redirect *out,
                         struct wire_error *err)
{
	struct wire_rd r;
	size_t left;

	if (open_notify(n, IKEV2_N_REDIRECT, IKEV2_N_REDIRECT, true, &r_redirect, &r, err) < 0 ||
	    dec_gw_id(&r, false, &out->gw, err) < 0)
		return -1;
	/* 9.2: Nonce Data is the rest, present only in an IKE_SA_INIT response,
	 * and then the size of a nonce (RFC 7296 3.9). */
	left = wire_rd_left(&r);
	if (left && (left < WIRE_NONCE_MIN || left > WIRE_NONCE_MAX))
		return nerr(err, r.off, "REDIRECT: Nonce Data is not 16 to 256 octets");
	out->nonce_len = (uint16_t)left;
	if (wire_rd_copy(&r, out->nonce, left) < 0)
		return nerr(err, r.off, "REDIRECT: truncated Nonce Data");
	return 0;
}

int wire_redirect_encode(const struct wire_redirect *rd, uint8_t *out, size_t cap, size_t *len)
{
	struct wire_wr w;

	if (rd->nonce_len && (rd->nonce_len < WIRE_NONCE_MIN || rd->nonce_len > WIRE_NONCE_MAX))
		return -1;
	wire_wr_init(&w, WIRE_REDIRECT_MAX);
	if (enc_gw_id(&rd->gw, false, &w) < 0)
		w.failed = true;
	(void)(wire_wr_bytes(&w, rd->nonce, rd->nonce_len) == 0);
	return finish(&w, out, cap, len);
}

/* RFC 5685 9.3 */
int wire_redirected_from_decode(const struct wire_notify *n, struct wire_gw_id *out,
                                struct wire_error *err)
{
	struct wire_rd r;

	if (open_notify(n, IKEV2_N_REDIRECTED_FROM, IKEV2_N_REDIRECTED_FROM, true,
	                &r_redirected_from, &r, err) < 0 ||
	    dec_gw_id(&r, true, out, err) < 0)
		return -1;
	if (wire_rd_left(&r))
		return nerr(err, r.off, "REDIRECTED_FROM: octets after the GW identity");
	return 0;
}

int wire_redirected_from_encode(const struct wire_gw_id *gw, uint8_t *out, size_t cap, size_t *len)
{
	struct wire_wr w;

	wire_wr_init(&w, WIRE_REDIRECTED_MAX);
	if (enc_gw_id(gw, true, &w) < 0)
		w.failed = true;
	return finish(&w, out, cap, len);
}

/* RFC 5685 9.1, RFC 4555 4.2.3, 4.2.4: "There is no data". */
int wire_notify_empty_decode(const struct wire_notify *n, uint16_t type, struct wire_error *err)
{
	const struct reasons *why;
	const char *data;
	struct wire_rd r;

	switch (type) {
	case IKEV2_N_REDIRECT_SUPPORTED:
		why = &r_redirect_supported;
		data = "REDIRECT_SUPPORTED: carries data";
		break;
	case IKEV2_N_NO_ADDITIONAL_ADDRESSES:
		why = &r_no_additional;
		data = "NO_ADDITIONAL_ADDRESSES: carries data";
		break;
	case IKEV2_N_UPDATE_SA_ADDRESSES:
		why = &r_update_sa;
		data = "UPDATE_SA_ADDRESSES: carries data";
		break;
	default:
		return nerr(err, 0, "not a notify without data");
	}
	if (open_notify(n, type, type, true, why, &r, err) < 0)
		return -1;
	return wire_rd_left(&r) ? nerr(err, 0, data) : 0;
}

/* ---- RFC 4555 4.2.2, 4.2.5, 4.2.6 ---- */

int wire_additional_addr_decode(const struct wire_notify *n, struct wire_addr *out,
                                struct wire_error *err)
{
	struct wire_rd r;
	size_t want;

	if (open_notify(n, IKEV2_N_ADDITIONAL_IP4_ADDRESS, IKEV2_N_ADDITIONAL_IP6_ADDRESS, true,
	                &r_additional, &r, err) < 0)
		return -1;
	want = n->type == IKEV2_N_ADDITIONAL_IP4_ADDRESS ? 4 : 16;
	if (wire_rd_left(&r) != want)
		return nerr(err, 0,
		            want == 4 ? "ADDITIONAL_IP4_ADDRESS: data is not 4 octets"
		                      : "ADDITIONAL_IP6_ADDRESS: data is not 16 octets");
	memset(out, 0, sizeof(*out));
	out->len = (uint8_t)want;
	return wire_rd_copy(&r, out->addr, want) < 0 ? nerr(err, 0, r_additional.type) : 0;
}

uint16_t wire_additional_addr_type(const struct wire_addr *a)
{
	return a->len == 4    ? IKEV2_N_ADDITIONAL_IP4_ADDRESS
	       : a->len == 16 ? IKEV2_N_ADDITIONAL_IP6_ADDRESS
	                      : 0;
}

int wire_additional_addr_encode(const struct wire_addr *a, uint8_t *out, size_t cap, size_t *len)
{
	struct wire_wr w;

	if (!wire_additional_addr_type(a))
		return -1;
	wire_wr_init(&w, WIRE_ADDITIONAL_ADDR_MAX);
	(void)(wire_wr_bytes(&w, a->addr, a->len) == 0);
	return finish(&w, out, cap, len);
}

/* 4.2.5: "between 8 and 64 octets in length (inclusive)". */
int wire_cookie2_decode(const struct wire_notify *n, struct wire_cookie2 *out,
                        struct wire_error *err)
{
	struct wire_rd r;
	size_t left;

	if (open_notify(n, IKEV2_N_COOKIE2, IKEV2_N_COOKIE2, true, &r_cookie2, &r, err) < 0)
		return -1;
	left = wire_rd_left(&r);
	if (left < WIRE_COOKIE2_MIN)
		return nerr(err, 0, "COOKIE2: shorter than 8 octets");
	if (left > WIRE_COOKIE2_MAX)
		return nerr(err, WIRE_COOKIE2_MAX, "COOKIE2: longer than 64 octets");
	memset(out, 0, sizeof(*out));
	out->len = (uint8_t)left;
	return wire_rd_copy(&r, out->data, left) < 0 ? nerr(err, 0, r_cookie2.type) : 0;
}

int wire_cookie2_encode(const struct wire_cookie2 *c, uint8_t *out, size_t cap, size_t *len)
{
	struct wire_wr w;

	if (c->len < WIRE_COOKIE2_MIN || c->len > WIRE_COOKIE2_MAX)
		return -1;
	wire_wr_init(&w, WIRE_COOKIE2_MAX);
	(void)(wire_wr_bytes(&w, c->data, c->len) == 0);
	return finish(&w, out, cap, len);
}

/* 4.2.6: source and destination address, then source and destination port. */
int wire_no_nats_decode(const struct wire_notify *n, struct wire_no_nats *out,
                        struct wire_error *err)
{
	struct wire_rd r;
	size_t alen;

	if (open_notify(n, IKEV2_N_NO_NATS_ALLOWED, IKEV2_N_NO_NATS_ALLOWED, true, &r_no_nats, &r,
	                err) < 0)
		return -1;
	switch (wire_rd_left(&r)) {
	case 2 * 4 + 4:
		alen = 4;
		break;
	case 2 * 16 + 4:
		alen = 16;
		break;
	default:
		return nerr(err, 0,
		            "NO_NATS_ALLOWED: data is neither 12 (IPv4) nor 36 (IPv6) octets");
	}
	memset(out, 0, sizeof(*out));
	out->addr_len = (uint8_t)alen;
	if (wire_rd_copy(&r, out->src, alen) < 0 || wire_rd_copy(&r, out->dst, alen) < 0 ||
	    wire_rd_u16(&r, &out->src_port) < 0 || wire_rd_u16(&r, &out->dst_port) < 0)
		return nerr(err, r.off, "NO_NATS_ALLOWED: truncated");
	return 0;
}

int wire_no_nats_encode(const struct wire_no_nats *nn, uint8_t *out, size_t cap, size_t *len)
{
	struct wire_wr w;

	if (nn->addr_len != 4 && nn->addr_len != 16)
		return -1;
	wire_wr_init(&w, WIRE_NO_NATS_MAX);
	(void)(wire_wr_bytes(&w, nn->src, nn->addr_len) == 0 &&
	       wire_wr_bytes(&w, nn->dst, nn->addr_len) == 0 &&
	       wire_wr_u16(&w, nn->src_port) == 0 && wire_wr_u16(&w, nn->dst_port) == 0);
	return finish(&w, out, cap, len);
}

/* ---- RFC 7296 2.23 ---- */

int wire_nat_detection_decode(const struct wire_notify *n, struct wire_nat_detection *out,
                              struct wire_error *err)
{
	struct wire_rd r;

	if (open_notify(n, IKEV2_N_NAT_DETECTION_SOURCE_IP, IKEV2_N_NAT_DETECTION_DESTINATION_IP,
	                true, &r_nat_d, &r, err) < 0)
		return -1;
	if (wire_rd_left(&r) != WIRE_NAT_HASH_LEN)
		return nerr(err, 0, "NAT_DETECTION_*_IP: data is not a 20-octet SHA-1 value");
	return wire_rd_copy(&r, out->hash, WIRE_NAT_HASH_LEN) < 0 ? nerr(err, 0, r_nat_d.type) : 0;
}

int wire_nat_detection_encode(const struct wire_nat_detection *d, uint8_t *out, size_t cap,
                              size_t *len)
{
	if (cap < WIRE_NAT_HASH_LEN)
		return -1;
	memcpy(out, d->hash, WIRE_NAT_HASH_LEN);
	*len = WIRE_NAT_HASH_LEN;
	return 0;
}

/* 2.23: SHA-1(SPIi | SPIr | IP address | port), "in network order". */
int wire_nat_hash_input(const uint8_t spi_i[8], const uint8_t spi_r[8], const uint8_t *ip,
                        size_t ip_len, uint16_t port, uint8_t out[WIRE_NAT_HASH_INPUT_MAX],
                        size_t *len)
{
	struct wire_wr w;

	if (ip_len != 4 && ip_len != 16)
		return -1;
	wire_wr_init(&w, WIRE_NAT_HASH_INPUT_MAX);
	(void)(wire_wr_bytes(&w, spi_i, 8) == 0 && wire_wr_bytes(&w, spi_r, 8) == 0 &&
	       wire_wr_bytes(&w, ip, ip_len) == 0 && wire_wr_u16(&w, port) == 0);
	return finish(&w, out, WIRE_NAT_HASH_INPUT_MAX, len);
}

/* ---- RFC 7296 3.10.1, 2.6 ---- */

/* 3.10.1: "There are two octets of data associated with this notification:
 * the accepted D-H Group number in big endian order." */
int wire_invalid_ke_decode(const struct wire_notify *n, uint16_t *group, struct wire_error *err)
{
	struct wire_rd r;
	uint16_t g;

	if (open_notify(n, IKEV2_N_INVALID_KE_PAYLOAD, IKEV2_N_INVALID_KE_PAYLOAD, true,
	                &r_invalid_ke, &r, err) < 0)
		return -1;
	if (wire_rd_left(&r) != WIRE_INVALID_KE_LEN || wire_rd_u16(&r, &g) < 0)
		return nerr(err, 0, "INVALID_KE_PAYLOAD: data is not a 2-octet group number");
	if (g == IKEV2_DH_NONE)
		return nerr(err, 0, "INVALID_KE_PAYLOAD: names group 0 (NONE)");
	*group = g;
	return 0;
}

int wire_invalid_ke_encode(uint16_t group, uint8_t *out, size_t cap, size_t *len)
{
	struct wire_wr w;

	if (group == IKEV2_DH_NONE)
		return -1;
	wire_wr_init(&w, WIRE_INVALID_KE_LEN);
	(void)(wire_wr_u16(&w, group) == 0);
	return finish(&w, out, cap, len);
}

/* 3.10.1: "Indicates that a message was received with an invalid SPI ... the
 * notification data contains the SPI of the invalid SA." A 4-octet ESP/AH SPI. */
int wire_invalid_spi_decode(const struct wire_notify *n, uint32_t *spi, struct wire_error *err)
{
	struct wire_rd r;

	if (open_notify(n, IKEV2_N_INVALID_SPI, IKEV2_N_INVALID_SPI, false, &r_invalid_spi, &r,
	                err) < 0)
		return -1;
	if (wire_rd_left(&r) != WIRE_INVALID_SPI_LEN || wire_rd_u32(&r, spi) < 0)
		return nerr(err, 0, "INVALID_SPI: data is not a 4-octet SPI");
	return 0;
}

int wire_invalid_spi_encode(uint32_t spi, uint8_t *out, size_t cap, size_t *len)
{
	struct wire_wr w;

	wire_wr_init(&w, WIRE_INVALID_SPI_LEN);
	(void)(wire_wr_u32(&w, spi) == 0);
	return finish(&w, out, cap, len);
}

int wire_cookie_version(const uint8_t *cookie, size_t len, uint32_t *version)
{
	struct wire_rd r;

	wire_rd_init(&r, cookie, len);
	return wire_rd_u32(&r, version);
}

void wire_cookie_put_version(uint8_t out[WIRE_COOKIE_VERSION_LEN], uint32_t version)
{
	for (size_t i = 0; i < WIRE_COOKIE_VERSION_LEN; i++)
		out[i] = (uint8_t)(version >> (8 * (WIRE_COOKIE_VERSION_LEN - 1 - i)));
}

/* RFC 8019 7.1.1.3: the AdditionalInfo after the version (notify.h). */
int wire_cookie_info(const uint8_t *cookie, size_t len, struct wire_cookie_info *info)
{
	struct wire_rd r;
	uint32_t version;

	wire_rd_init(&r, cookie, len);
	if (wire_rd_u32(&r, &version) < 0 || wire_rd_u8(&r, &info->puzzle) < 0 ||
	    wire_rd_u8(&r, &info->difficulty) < 0 || wire_rd_u16(&r, &info->prf) < 0)
		return -1;
	return 0;
}

void wire_cookie_put_info(uint8_t out[WIRE_COOKIE_INFO_LEN], const struct wire_cookie_info *info)
{
	out[0] = info->puzzle;
	out[1] = info->difficulty;
	out[2] = (uint8_t)(info->prf >> 8);
	out[3] = (uint8_t)info->prf;
}

/* ---- RFC 8019 8.1 ---- */

/* "PRF (2 octets) -- Transform ID of the PRF algorithm", "Difficulty (1 octet)". */
int wire_puzzle_decode(const struct wire_notify *n, struct wire_puzzle *out, struct wire_error *err)
{
	struct wire_rd r;

	if (open_notify(n, IKEV2_N_PUZZLE, IKEV2_N_PUZZLE, true, &r_puzzle, &r, err) < 0)
		return -1;
	if (wire_rd_left(&r) != WIRE_PUZZLE_LEN || wire_rd_u16(&r, &out->prf) < 0 ||
	    wire_rd_u8(&r, &out->difficulty) < 0)
		return nerr(err, 0, "PUZZLE: data is not a 2-octet PRF and a difficulty octet");
	if (out->prf == 0)
		return nerr(err, 0, "PUZZLE: names PRF 0 (reserved)");
	return 0;
}

int wire_puzzle_encode(const struct wire_puzzle *p, uint8_t *out, size_t cap, size_t *len)
{
	struct wire_wr w;

	if (p->prf == 0)
		return -1;
	wire_wr_init(&w, WIRE_PUZZLE_LEN);
	(void)(wire_wr_u16(&w, p->prf) == 0 && wire_wr_u8(&w, p->difficulty) == 0);
	return finish(&w, out, cap, len);
}

/* ---- RFC 6290 4.1, 5 ---- */

int wire_qcd_token_decode(const struct wire_notify *n, struct wire_qcd_token *out,
                          struct wire_error *err)
{
	struct wire_rd r;
	size_t left;

	if (open_notify(n, IKEV2_N_QUICK_CRASH_DETECTION, IKEV2_N_QUICK_CRASH_DETECTION, true,
	                &r_qcd, &r, err) < 0)
		return -1;
	left = wire_rd_left(&r);
	/* 5: "at least 16 octets long, and no more than 128 octets long" */
	if (left < WIRE_QCD_TOKEN_MIN)
		return nerr(err, 0, "QCD_TOKEN: token shorter than 16 octets");
	if (left > WIRE_QCD_TOKEN_MAX)
		return nerr(err, WIRE_QCD_TOKEN_MAX, "QCD_TOKEN: token longer than 128 octets");
	memset(out, 0, sizeof(*out));
	out->len = (uint8_t)left;
	return wire_rd_copy(&r, out->token, left) < 0 ? nerr(err, 0, r_qcd.type) : 0;
}

int wire_qcd_token_encode(const struct wire_qcd_token *t, uint8_t *out, size_t cap, size_t *len)
{
	if (t->len < WIRE_QCD_TOKEN_MIN || t->len > WIRE_QCD_TOKEN_MAX || cap < t->len)
		return -1;
	memcpy(out, t->token, t->len);
	*len = t->len;
	return 0;
}

/* ---- dispatch ---- */

int wire_notify_check(const struct wire_notify *n, struct wire_error *err)
{
	union {
		struct wire_redirect redirect;
		struct wire_gw_id gw;
		struct wire_addr addr;
		struct wire_cookie2 cookie2;
		struct wire_no_nats no_nats;
		struct wire_nat_detection nat_d;
		struct wire_qcd_token qcd;
		struct wire_puzzle puzzle;
		uint16_t group;
		uint32_t spi;
	} u;
	int rc = 0;

	switch (n->type) {
	case IKEV2_N_REDIRECT:
		rc = wire_redirect_decode(n, &u.redirect, err);
		break;
	case IKEV2_N_REDIRECTED_FROM:
		rc = wire_redirected_from_decode(n, &u.gw, err);
		break;
	case IKEV2_N_REDIRECT_SUPPORTED:
	case IKEV2_N_NO_ADDITIONAL_ADDRESSES:
	case IKEV2_N_UPDATE_SA_ADDRESSES:
		rc = wire_notify_empty_decode(n, n->type, err);
		break;
	case IKEV2_N_ADDITIONAL_IP4_ADDRESS:
	case IKEV2_N_ADDITIONAL_IP6_ADDRESS:
		rc = wire_additional_addr_decode(n, &u.addr, err);
		break;
	case IKEV2_N_COOKIE2:
		rc = wire_cookie2_decode(n, &u.cookie2, err);
		break;
	case IKEV2_N_NO_NATS_ALLOWED:
		rc = wire_no_nats_decode(n, &u.no_nats, err);
		break;
	case IKEV2_N_NAT_DETECTION_SOURCE_IP:
	case IKEV2_N_NAT_DETECTION_DESTINATION_IP:
		rc = wire_nat_detection_decode(n, &u.nat_d, err);
		break;
	case IKEV2_N_INVALID_KE_PAYLOAD:
		rc = wire_invalid_ke_decode(n, &u.group, err);
		break;
	case IKEV2_N_INVALID_SPI:
		rc = wire_invalid_spi_decode(n, &u.spi, err);
		break;
	case IKEV2_N_QUICK_CRASH_DETECTION:
		rc = wire_qcd_token_decode(n, &u.qcd, err);
		break;
	case IKEV2_N_PUZZLE:
		rc = wire_puzzle_decode(n, &u.puzzle, err);
		break;
	default:
		break;
	}
	crypto_wipe(&u, sizeof(u)); /* a QCD token is a secret */
	return rc;
}
