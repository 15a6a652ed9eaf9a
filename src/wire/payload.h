/*
 * The parsed form of an IKEv2 message (RFC 7296 3) and the codec API.
 *
 * Decoding is zero-copy: every `data` pointer below borrows from the buffer
 * given to the decoder (or from a buffer adopted by the message), so that
 * buffer must outlive the struct wire_msg. Variable-length arrays
 * (proposals, transforms, selectors, CP attributes) live in the message's
 * arena and are freed by wire_msg_free().
 *
 * Encoding takes the same structs. Next-payload and length fields are
 * computed by the encoder, so `np` and `len` fields are outputs of the
 * decoder only. Decode-then-encode reproduces a well-formed message byte
 * for byte: reserved octets and attribute formats are kept for that reason.
 */
#ifndef RIKE_WIRE_PAYLOAD_H
#define RIKE_WIRE_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"
#include "wire/cursor.h"
#include "wire/ikev2.h"

/* Caps on peer-controlled counts (STYLE: cap before allocating). */
#define WIRE_MAX_PAYLOADS   64
#define WIRE_MAX_PROPOSALS  32
#define WIRE_MAX_TRANSFORMS 64 /* per proposal */
#define WIRE_MAX_ATTRS      4  /* per transform */
#define WIRE_MAX_TS         32 /* per TS payload */
#define WIRE_MAX_CP_ATTRS   64
#define WIRE_MAX_SPI        8

#define IKEV2_HDR_LEN            28
#define IKEV2_GEN_HDR_LEN        4
#define IKEV2_NON_ESP_MARKER_LEN 4

struct wire_hdr {
	uint8_t spi_i[8];
	uint8_t spi_r[8];
	uint8_t np;      /* decoder output */
	uint8_t version; /* 0x20 for IKEv2 */
	uint8_t exchange;
	uint8_t flags; /* IKEV2_FLAG_* */
	uint32_t msg_id;
	uint32_t length; /* decoder output */
};

/* A transform attribute (RFC 7296 3.3.5): TV if `tv`, else TLV in data/len. */
struct wire_attr {
	uint16_t type; /* without the AF bit */
	bool tv;
	uint16_t value; /* TV */
	const uint8_t *data;
	uint16_t len; /* TLV */
};

struct wire_transform {
	uint8_t type;
	uint8_t reserved;     /* kept for byte-exact re-encoding */
	uint8_t reserved_hdr; /* the octet after Last Substruc, kept likewise */
	uint16_t id;
	uint8_t nattrs;
	struct wire_attr attrs[WIRE_MAX_ATTRS];
};

struct wire_proposal {
	uint8_t reserved; /* the octet after Last Substruc, kept for re-encoding */
	uint8_t num;
	uint8_t protocol; /* IKEV2_PROTO_* */
	uint8_t spi_size;
	uint8_t spi[WIRE_MAX_SPI];
	uint8_t ntransforms;
	struct wire_transform *transforms; /* arena */
};

struct wire_sa {
	uint8_t nproposals;
	struct wire_proposal *proposals; /* arena */
};

struct wire_ke {
	uint16_t group;
	uint16_t reserved;
	const uint8_t *data;
	size_t len;
};

/* ID (3.5), CERT (3.6), CERTREQ (3.7), AUTH (3.8): a type octet and data. */
struct wire_typed {
	uint8_t type;        /* ID type, cert encoding or auth method */
	uint8_t reserved[3]; /* 3 octets for ID and AUTH; none for CERT/CERTREQ */
	const uint8_t *data;
	size_t len;
};

struct wire_notify {
	uint8_t protocol;
	uint8_t spi_size;
	uint8_t spi[WIRE_MAX_SPI];
	uint16_t type; /* IKEV2_N_* */
	const uint8_t *data;
	size_t len;
};

struct wire_delete {
	uint8_t protocol;
	uint8_t spi_size;
	uint16_t nspis;
	const uint8_t *spis; /* nspis * spi_size octets */
};

struct wire_ts {
	uint8_t type; /* IKEV2_TS_IPV4_ADDR_RANGE or _IPV6_ */
	uint8_t ip_proto;
	uint16_t start_port;
	uint16_t end_port;
	uint8_t start[16];
	uint8_t end[16]; /* 4 octets used for IPv4 */
	/*
	 * Other TS types (e.g. RFC 9478 TS_SECLABEL) are kept, not rejected:
	 * refusing them (TS_UNACCEPTABLE) is the exchange code's call. Then
	 * ip_proto is the second octet and raw/raw_len the selector after
	 * its 4-octet header; start/end and the ports are unused.
	 */
	const uint8_t *raw;
	uint16_t raw_len;
};

struct wire_ts_list {
	uint8_t reserved[3];
	uint8_t nts;
	struct wire_ts *ts; /* arena */
};

struct wire_cp_attr {
	uint16_t type; /* without the reserved top bit */
	uint8_t r;     /* that reserved bit (RFC 7296 3.15.1), kept for re-encoding */
	const uint8_t *data;
	uint16_t len;
};

struct wire_cp {
	uint8_t cfg_type;
	uint8_t reserved[3];
	uint16_t nattrs;
	struct wire_cp_attr *attrs; /* arena */
};

/*
 * SK (3.14) and SKF (RFC 7383 2.5). `data` is IV || ciphertext || ICV as on
 * the wire; `inner_np` is the SK header's next-payload field, i.e. the type
 * of the first inner payload (for SKF fragments other than the first it is 0).
 */
struct wire_sk {
	uint8_t inner_np;
	uint16_t frag_num;    /* SKF only */
	uint16_t total_frags; /* SKF only */
	const uint8_t *data;
	size_t len;
};

/*
 * RFC 8019 8.2: the Puzzle Solution, four keys of one size back to back
 * ("the size of this field is always a multiple of 4 bytes"); the decoder
 * caps a key at WIRE_PS_KEY_MAX octets, the longest preferred key of a PRF.
 */
#define WIRE_PS_KEYS    4
#define WIRE_PS_KEY_MAX 64
#define WIRE_PS_MAX     (WIRE_PS_KEYS * WIRE_PS_KEY_MAX)

struct wire_ps {
	const uint8_t *data;
	size_t len; /* WIRE_PS_KEYS * the key size */
};

/* The i-th key (0..3) of a decoded PS payload (borrowed); -1 if i or ps is out of range. */
int wire_ps_key(const struct wire_ps *ps, unsigned i, const uint8_t **key, size_t *len) WUR;

/* Opaque bodies: Nonce, Vendor ID, EAP and unknown non-critical payloads. */
struct wire_blob {
	const uint8_t *data;
	size_t len;
};

struct wire_payload {
	uint8_t type;   /* IKEV2_PL_* */
	uint8_t flags;  /* the octet after next-payload: IKEV2_PL_CRITICAL | reserved bits */
	uint16_t len;   /* decoder output: the generic header's length */
	bool encrypted; /* decoder output: found inside SK/SKF */
	union {
		struct wire_sa sa;
		struct wire_ke ke;
		struct wire_typed id;   /* IDi, IDr */
		struct wire_typed cert; /* CERT, CERTREQ */
		struct wire_typed auth;
		struct wire_blob nonce;
		struct wire_notify notify;
		struct wire_delete del;
		struct wire_blob vendor;
		struct wire_ts_list ts; /* TSi, TSr */
		struct wire_sk sk;      /* SK, SKF */
		struct wire_cp cp;
		struct wire_blob eap;
		struct wire_ps ps;
		struct wire_blob raw; /* unknown payload types */
	} u;
};

struct wire_arena_chunk;

struct wire_msg {
	struct wire_hdr hdr;
	size_t npayloads;
	struct wire_payload payloads[WIRE_MAX_PAYLOADS];
	struct wire_arena_chunk *arena; /* owned */
	/*
	 * Octets after the last unencrypted payload (next-payload 0) that the
	 * header's length field still covers. Openswan pads some responses
	 * like this and tcpdump's ikev2-id-normal capture has them, so
	 * wire_decode tolerates them (borrowed) and wire_encode writes them
	 * back. Never set by wire_decode_chain, nor after an SK payload.
	 */
	const uint8_t *trailer;
	size_t trailer_len;
};

/* Why a decode failed, and what RFC 7296 says to answer. */
struct wire_error {
	uint16_t notify;    /* IKEV2_N_INVALID_SYNTAX, IKEV2_N_UNSUPPORTED_CRITICAL_PAYLOAD,
	                       IKEV2_N_INVALID_MAJOR_VERSION, ...; 0 = drop silently */
	uint8_t payload;    /* offending payload type (the data of UNSUPPORTED_CRITICAL_PAYLOAD) */
	size_t offset;      /* octet offset in the decoded buffer */
	const char *reason; /* static text for logs */
};

void wire_msg_init(struct wire_msg *m);
/* Frees the arena (wiping it) and resets the message. NULL-safe. */
void wire_msg_free(struct wire_msg *m);
/* Zeroed arena memory owned by the message; NULL when a cap is exceeded. */
void *wire_msg_alloc(struct wire_msg *m, size_t size);
/* Copy bytes into the arena, e.g. a decrypted SK plaintext that inner payloads will borrow. */
const uint8_t *wire_msg_adopt(struct wire_msg *m, const uint8_t *p, size_t len);

/* RFC 7296 3.1. Checks version and the length field against len. */
int wire_decode_hdr(const uint8_t *buf, size_t len, struct wire_hdr *h, struct wire_error *err) WUR;

/*
 * Decode a whole message (header and unencrypted payload chain). Decoding
 * stops after an SK or SKF payload, which RFC 7296 3.14 requires to be last.
 * m must have been initialized (wire_msg_init); its payload list and
 * trailer are reset, its arena kept. On failure m may hold some payloads:
 * wire_msg_free() it either way. Unknown non-critical payloads are kept
 * with u.raw. The SKF rule that fragments other than the first carry
 * next-payload 0 (RFC 7383 2.5) is left to the reassembly code.
 */
int wire_decode(const uint8_t *buf, size_t len, struct wire_msg *m, struct wire_error *err) WUR;

/*
 * Decode a payload chain starting with type first_np and append it to m,
 * marking the payloads `encrypted` if so asked. Used for SK plaintexts.
 */
int wire_decode_chain(const uint8_t *buf, size_t len, uint8_t first_np, bool encrypted,
                      struct wire_msg *m, struct wire_error *err) WUR;

/*
 * Encode payloads[0..n) as a chain (generic headers with next-payload and
 * lengths computed). Returns in *first_np the type of the first payload.
 */
int wire_encode_chain(const struct wire_payload *payloads, size_t n, struct wire_wr *w,
                      uint8_t *first_np) WUR;
/* The same for payloads that an SK payload follows (RFC 8019 7.2.2): the
 * last one's next-payload is last_np. SK/SKF themselves are refused. */
int wire_encode_chain_to(const struct wire_payload *payloads, size_t n, uint8_t last_np,
                         struct wire_wr *w) WUR;

/*
 * Encode the header and the unencrypted payloads of m (those not marked
 * `encrypted`). An SK/SKF payload must be last; its body is u.sk.data as
 * given. The header's length field is set to the total. A zero
 * hdr.version is written as IKEV2_VERSION.
 */
int wire_encode(const struct wire_msg *m, struct wire_wr *w) WUR;

/* Find the first / next payload of a type in m (borrowed), or NULL. */
const struct wire_payload *wire_msg_find(const struct wire_msg *m, uint8_t type,
                                         const struct wire_payload *after);
/* Find the first notify of a type in m, or NULL. */
const struct wire_payload *wire_msg_find_notify(const struct wire_msg *m, uint16_t type);

/*
 * The per-exchange payload rules (RFC 7296 1.2-1.5, 3; RFC 4555; RFC 5685;
 * RFC 6290). Checks that every payload of m may appear in this exchange
 * and direction, inside or outside SK as the rules say, and not more often
 * than allowed. Presence of required payloads is for the exchange code.
 */
int wire_rules_check(const struct wire_msg *m, struct wire_error *err) WUR;

/* Strip the non-ESP marker of a port-4500 datagram (RFC 3948 2.2). Returns
 * 1 for IKE (buf/len advanced), 0 for ESP, 2 for a NAT-keepalive (0xff), -1 if malformed. */
int wire_udp4500_classify(const uint8_t **buf, size_t *len);

/* The size of an IKE message of len octets framed for port 4500. */
#define WIRE_UDP4500_FRAME_LEN(len) ((len) + IKEV2_NON_ESP_MARKER_LEN)
/*
 * Frame an encoded IKE message for UDP port 4500 (RFC 3948 2.2): the
 * non-ESP marker, then the message, into out[0..cap). -1 if it does not fit.
 */
int wire_udp4500_frame(const uint8_t *msg, size_t len, uint8_t *out, size_t cap,
                       size_t *out_len) WUR;

/*
 * SPIs as numbers. IKE SPIs (RFC 7296 3.1) are 8 octets, ESP and AH SPIs
 * (RFC 4303 2.1, 3.3.1) 4, all in network order on the wire.
 */
uint64_t wire_spi64_get(const uint8_t spi[8]);
void wire_spi64_put(uint8_t spi[8], uint64_t v);
uint32_t wire_spi32_get(const uint8_t spi[4]);
void wire_spi32_put(uint8_t spi[4], uint32_t v);
/* The SPI of a notify as a number: -1 unless its SPI Size is 4. */
int wire_notify_spi32(const struct wire_notify *n, uint32_t *spi) WUR;

/*
 * Delete payload SPIs (RFC 7296 3.11). wire_delete_spi32 gives the i-th
 * SPI of an ESP or AH Delete (SPI Size 4); -1 for another SPI Size or i
 * out of range. wire_delete_set_spi32 fills d with n 4-octet SPIs, their
 * octets in m's arena; n is 1 to 65535.
 */
int wire_delete_spi32(const struct wire_delete *d, size_t i, uint32_t *spi) WUR;
int wire_delete_set_spi32(struct wire_msg *m, struct wire_delete *d, uint8_t protocol,
                          const uint32_t *spis, size_t n) WUR;

/* True for the payload types the decoder parses; others are kept raw. */
bool wire_pl_known(uint8_t type);

/* Upper bound on a message's arena (wire_msg_alloc/adopt fail beyond it). */
#define WIRE_ARENA_MAX (1024u * 1024u)

#endif
