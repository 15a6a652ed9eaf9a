/*
 * Protection of IKE messages: the Encrypted payload SK (RFC 7296 3.14,
 * RFC 5282 for AEAD ciphers) and the Encrypted Fragment payload SKF with
 * fragmentation and reassembly (RFC 7383).
 *
 * A struct wire_prot holds one direction's keys (SK_ei/SK_ai for messages
 * the original initiator sends, SK_er/SK_ar for the responder's). Opening
 * verifies the ICV before anything is decrypted; a failed ICV yields an
 * error whose notify is 0: RFC 7296 2.21.2 and 3.14 say to drop such a
 * message without answering (the caller counts it).
 */
#ifndef RIKE_WIRE_SK_H
#define RIKE_WIRE_SK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "util/compiler.h"
#include "wire/cursor.h"
#include "wire/payload.h"

/* Largest IKE message handled (UDP datagram payload). */
#define WIRE_SK_MAX_MSG 65535u
/* Pass as pad length to wire_sk_seal for the least padding the cipher needs. */
#define WIRE_SK_PAD_MIN 0xffffu
/* RFC 7383 2.6 caps (peer-controlled): fragments per message and reassembled size. */
#define WIRE_SKF_MAX_FRAGS 128
#define WIRE_SKF_MAX_PLAIN 65535u

struct wire_prot {
	/* owned; SK_e with its salt, sealing and opening. It holds no OpenSSL
	 * context: each thread keys one from its bounded cache when needed
	 * (src/crypto/ctx_cache.c), so a quiet IKE SA holds a 48-B cipher here */
	struct crypto_cipher *cipher;
	struct crypto_integ *integ; /* owned; NULL for AEAD ciphers */
	/* What the transform is, of what its crypto_encr_info says. */
	uint8_t iv_len, block_len;
	bool aead;
	uint8_t icv_len; /* AEAD tag or truncated integrity output */
	/*
	 * Diagnostics only (rikectl decode with Wireshark's "ANY n-bits of
	 * Authentication [No Checking]"): an ICV of this length is skipped
	 * and never verified. Never set by the daemon.
	 */
	bool icv_unchecked;
}; /* 24 octets: two per IKE SA */

/* One direction's protection from one set of keys (SK_e with its salt, SK_a). */
int wire_prot_init(struct wire_prot *p, const struct crypto_ike_suite *s, const uint8_t *sk_e,
                   size_t sk_e_len, const uint8_t *sk_a, size_t sk_a_len) WUR;
/* Diagnostics: no integrity transform, skip (never verify) an ICV of icv_len octets. */
int wire_prot_init_unchecked(struct wire_prot *p, const struct crypto_ike_suite *s,
                             const uint8_t *sk_e, size_t sk_e_len, size_t icv_len) WUR;
/* Free the cipher and integrity objects (they wipe their keys). NULL-safe, idempotent. */
void wire_prot_clear(struct wire_prot *p);

/* What opening an SK/SKF payload found. Pointers borrow from the message or its arena. */
struct wire_sk_result {
	const uint8_t *plain; /* inner payloads || padding || pad length octet */
	size_t plain_len;
	size_t inner_len; /* plain_len - padding - 1 */
	uint8_t pad_len;
	bool icv_verified; /* false only with WIRE_SK_SKIP_ICV (and a bad ICV) or an unchecked prot
	                    */
	const uint8_t *iv;
	size_t iv_len;
	const uint8_t *icv;
	size_t icv_len;
};

/* wire_sk_decrypt flags */
#define WIRE_SK_SKIP_ICV 0x1 /* diagnostics only: decrypt a non-AEAD payload whose ICV failed */

/*
 * Decrypt the SK or SKF payload sk (the last payload of buf as decoded by
 * wire_decode) into plain (which is reset first). For non-AEAD ciphers the
 * ICV over the header through the ciphertext is verified first; for AEAD
 * the AAD is buf from the header to the end of the SK/SKF header (RFC 5282
 * 5.1, RFC 7383 2.5). res->plain points into plain.
 */
int wire_sk_decrypt(struct wire_prot *p, const uint8_t *buf, size_t len,
                    const struct wire_payload *sk, unsigned flags, struct wire_wr *plain,
                    struct wire_sk_result *res, struct wire_error *err) WUR;

/*
 * Verify and decrypt the SK payload of m (decoded from buf by wire_decode),
 * adopt the plaintext into m's arena and append the inner payloads (marked
 * encrypted). res (may be NULL) then points into the arena. Errors: ICV
 * failure => notify 0 (drop); bad padding or inner syntax => INVALID_SYNTAX.
 */
int wire_sk_open(struct wire_prot *p, const uint8_t *buf, size_t len, struct wire_msg *m,
                 struct wire_sk_result *res, struct wire_error *err) WUR;
/* The same with wire_sk_decrypt flags (diagnostics: WIRE_SK_SKIP_ICV). */
int wire_sk_open_flags(struct wire_prot *p, const uint8_t *buf, size_t len, struct wire_msg *m,
                       unsigned flags, struct wire_sk_result *res, struct wire_error *err) WUR;

/* The parts of an SK or SKF payload header that the caller chooses. */
struct wire_sk_params {
	uint8_t type;     /* IKEV2_PL_SK or IKEV2_PL_SKF */
	uint8_t flags;    /* the octet after next-payload (critical bit, reserved) */
	uint8_t inner_np; /* first inner payload; 0 for SKF fragments after the first */
	uint16_t frag_num, total_frags; /* SKF only */
	/* Encoded payloads before SK (RFC 8019 7.2.2), the last one's next
	 * payload already SK; clear_np is the first one's type. */
	const uint8_t *clear;
	size_t clear_len;
	uint8_t clear_np;
};

/*
 * Build HDR, SK{plain} (or SKF) into out (appended): plain is inner payloads
 * || padding || pad length octet, encrypted with iv (iv_len octets), or a
 * random IV when iv is NULL. The header's next payload and length are set.
 * Given the IV and plaintext of a received message this reproduces it.
 */
int wire_sk_seal_raw(struct wire_prot *p, const struct wire_hdr *hdr,
                     const struct wire_sk_params *sp, const uint8_t *iv, const uint8_t *plain,
                     size_t plain_len, struct wire_wr *out) WUR;

/*
 * How many leading payloads of payloads[0..n) wire_sk_seal writes in the
 * clear before SK: the Puzzle Solution of RFC 8019 7.2.2 ("HDR, PS, SK
 * {...}"), which the responder checks before it has keys.
 */
size_t wire_sk_clear_prefix(const struct wire_payload *payloads, size_t n);

/*
 * Build HDR, [PS,] SK{payloads[nclear..n)} into out (nclear from
 * wire_sk_clear_prefix): encode the inner chain, pad with
 * pad_len zero octets (WIRE_SK_PAD_MIN: the least the cipher needs; for
 * CBC the total must reach a block boundary) and seal. iv as above.
 */
int wire_sk_seal(struct wire_prot *p, const struct wire_hdr *hdr,
                 const struct wire_payload *payloads, size_t n, const uint8_t *iv, size_t pad_len,
                 struct wire_wr *out) WUR;

/* ---- SKF: RFC 7383 ---- */

/* The largest IKE message (UDP payload) that fits an IP datagram of mtu octets. */
size_t wire_skf_msg_len_for_mtu(size_t mtu, bool ipv6, bool natt);

/*
 * Split HDR, SK{payloads} into IKE Fragment messages of at most max_len
 * octets each (RFC 7383 2.5): every fragment is separately protected,
 * fragment 1 carries the inner next payload, the others 0. frags[0..*nfrags)
 * are initialised here and must be freed with wire_wr_free by the caller.
 */
int wire_skf_split(struct wire_prot *p, const struct wire_hdr *hdr,
                   const struct wire_payload *payloads, size_t n, size_t max_len,
                   struct wire_wr *frags, size_t max_frags, size_t *nfrags) WUR;

/*
 * The same, with the fragments written back to back into out (reset first;
 * its max must leave room for WIRE_SKF_FLAT_MAX): ends[i] is where fragment
 * i ends. For a sender that keeps the fragments to retransmit them as they
 * were (RFC 7383 2.6.1); wire_skf_flat_frag gives fragment i back.
 */
int wire_skf_split_flat(struct wire_prot *p, const struct wire_hdr *hdr,
                        const struct wire_payload *payloads, size_t n, size_t max_len,
                        struct wire_wr *out, uint32_t *ends, size_t max_frags, size_t *nfrags) WUR;
/* Fragment i (< nfrags) of a buffer filled by wire_skf_split_flat (borrowed). */
void wire_skf_flat_frag(const struct wire_wr *w, const uint32_t *ends, size_t i, const uint8_t **p,
                        size_t *len);
/* Room a flat buffer needs: a largest message plus per-fragment overhead. */
#define WIRE_SKF_FLAT_MAX (WIRE_SK_MAX_MSG + WIRE_SKF_MAX_FRAGS * 128u)

/* Reassembly state for one direction of one IKE SA (RFC 7383 2.6). */
struct wire_skf_reasm {
	bool active;
	uint32_t msg_id;
	uint16_t total;
	uint16_t received;
	uint8_t inner_np;
	struct wire_hdr hdr; /* of the last fragment stored */
	size_t bytes;
	uint8_t *frag[WIRE_SKF_MAX_FRAGS]; /* owned decrypted contents, without padding */
	size_t frag_len[WIRE_SKF_MAX_FRAGS];
	unsigned dropped; /* fragments discarded (invalid, replayed, ICV failure) */
};

void wire_skf_reasm_init(struct wire_skf_reasm *r);
/* Discard the queue (wiping the plaintext). NULL-safe. */
void wire_skf_reasm_clear(struct wire_skf_reasm *r);

/*
 * Offer one IKE Fragment message (m decoded from buf; its last payload is
 * SKF). Returns 1 when all fragments have arrived, 0 when it was stored,
 * -1 when it was discarded (RFC 7383 2.6: invalid numbers, a replay, a
 * failed ICV, an older set, unprotected payloads besides SKF (2.5.3);
 * err->notify is 0 for all of these, and r->dropped counts them) or a cap
 * was exceeded. A fragment of another message than the queue's (message ID
 * or Response flag) restarts the queue once its ICV verifies.
 */
int wire_skf_add(struct wire_skf_reasm *r, struct wire_prot *p, const uint8_t *buf, size_t len,
                 const struct wire_msg *m, struct wire_error *err) WUR;

/*
 * After wire_skf_add returned 1: rebuild the original message into out
 * (initialised by the caller) as wire_sk_open would have left it (RFC 7383
 * 2.6): out->hdr is the fragments' header with next payload SK, payload 0
 * an unencrypted SK payload without a body (u.sk.inner_np set, data NULL),
 * then the merged content decoded as its inner chain, marked encrypted and
 * borrowing from out's arena. wire_rules_check then judges it like any
 * other protected message. The queue is cleared either way.
 */
int wire_skf_finish(struct wire_skf_reasm *r, struct wire_msg *out, struct wire_error *err) WUR;

#endif
