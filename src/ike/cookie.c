/*
 * Stateless cookies (RFC 7296 2.6): when too many SAs are half-open the
 * responder answers IKE_SA_INIT with N(COOKIE) and keeps no state. The
 * cookie is <VersionIDofSecret> | SHA-256(Ni | IPi | SPIi | <secret>).
 * The secret changes every COOKIE_ROTATE_MS; cookies made with the one
 * before it stay valid until the next change, so an initiator that got a
 * cookie just before a change still gets in (2.6: "keep the old secret
 * for a while").
 *
 * A cookie sent with a puzzle (RFC 8019 7.1.1.3) carries what was asked,
 * integrity protected: <VersionIDofSecret> | <AdditionalInfo> |
 * SHA-256(Ni | IPi | SPIi | <AdditionalInfo> | <secret>), AdditionalInfo
 * being wire/notify.h's cookie record (puzzle given, difficulty, PRF). The
 * two kinds differ in length, so a plain cookie never passes for one that
 * came with a puzzle, nor the other way round.
 */
#include <string.h>

#include "ike/attack.h"
#include "util/log.h"
#include "wire/notify.h"

#define COOKIE_HASH_LEN 32

#define COOKIE_ROTATE_MS 120000

static const uint8_t *secret_for(const struct ike *ike, uint32_t version)
{
	if (version == ike->cookie_version)
		return ike->cookie_secret;
	if (version == ike->cookie_version - 1)
		return ike->cookie_prev;
	return NULL;
}

/* The cookie for version, with AdditionalInfo when info is given (7.1.1.3). */
static int cookie_make(struct ike *ike, uint32_t version, const struct wire_cookie_info *info,
                       const uint8_t *ni, size_t ni_len, const struct ike_addr *peer,
                       const uint8_t spi_i[8], uint8_t *out, size_t *len)
{
	size_t alen, off = WIRE_COOKIE_VERSION_LEN;
	const uint8_t *a = addr_bytes(peer, &alen);
	const uint8_t *secret = secret_for(ike, version);
	uint8_t ai[WIRE_COOKIE_INFO_LEN];
	struct crypto_chunk in[] = {{ni, ni_len}, {a, alen}, {spi_i, 8}, {ai, 0}, {secret, 32}};

	if (!secret)
		return -1;
	wire_cookie_put_version(out, version);
	if (info) {
		wire_cookie_put_info(ai, info);
		in[3].len = sizeof(ai);
		memcpy(out + off, ai, sizeof(ai));
		off += sizeof(ai);
	}
	*len = off + COOKIE_HASH_LEN;
	return crypto_sha256(in, 5, out + off);
}

int cookie_compute(struct ike *ike, uint32_t version, const uint8_t *ni, size_t ni_len,
                   const struct ike_addr *peer, const uint8_t spi_i[8], uint8_t *out, size_t *len)
{
	return cookie_make(ike, version, NULL, ni, ni_len, peer, spi_i, out, len);
}

bool cookie_check(struct ike *ike, const uint8_t *cookie, size_t len, const uint8_t *ni,
                  size_t ni_len, const struct ike_addr *peer, const uint8_t spi_i[8],
                  struct wire_cookie_info *info)
{
	uint8_t want[WIRE_COOKIE_VERSION_LEN + WIRE_COOKIE_INFO_LEN + COOKIE_HASH_LEN];
	size_t wlen;
	uint32_t version;
	bool with_info = len == sizeof(want);

	memset(info, 0, sizeof(*info));
	if ((len != sizeof(want) && len != sizeof(want) - WIRE_COOKIE_INFO_LEN) ||
	    wire_cookie_version(cookie, len, &version) < 0 ||
	    (with_info && wire_cookie_info(cookie, len, info) < 0))
		return false;
	if (cookie_make(ike, version, with_info ? info : NULL, ni, ni_len, peer, spi_i, want,
	                &wlen) < 0 ||
	    wlen != len)
		return false;
	if (crypto_memcmp(want, cookie, wlen)) {
		memset(info, 0, sizeof(*info));
		return false;
	}
	return true;
}

bool cookie_valid(struct ike *ike, const uint8_t *cookie, size_t len, const uint8_t *ni,
                  size_t ni_len, const struct ike_addr *peer, const uint8_t spi_i[8])
{
	struct wire_cookie_info info;

	return cookie_check(ike, cookie, len, ni, ni_len, peer, spi_i, &info);
}

/* RFC 8019 7.1.1.2: the puzzle's PRF is the one the responder would choose from the offer. */
static int puzzle_prf(const struct cfg_conn *conn, const struct wire_msg *req, uint16_t *prf)
{
	const struct wire_payload *sap = wire_msg_find(req, IKEV2_PL_SA, NULL);
	struct ike_chosen c;

	if (!conn || !sap ||
	    propsel_choose(&sap->u.sa, conn->ike_proposals, conn->n_ike_proposals, IKEV2_PROTO_IKE,
	                   true, &c) < 0 ||
	    !crypto_puzzle_key_len(c.prf))
		return -1;
	*prf = c.prf;
	return 0;
}

/*
 * RFC 7296 2.6, RFC 8019 7.1.1: <-- HDR, N(COOKIE), [N(PUZZLE)]. It costs
 * a hash (and a proposal selection) and keeps no state, so it is limited
 * by nothing but the CPU and counted rather than logged.
 */
void cookie_demand(struct ike *ike, const struct cfg_conn *conn, const struct ike_addr *local,
                   const struct ike_addr *remote, const struct wire_msg *req)
{
	const struct wire_payload *np = wire_msg_find(req, IKEV2_PL_NI_NR, NULL);
	struct wire_cookie_info ci = {.puzzle = 1, .difficulty = ike->cfg->puzzle_difficulty};
	struct wire_puzzle pz;
	uint8_t cookie[WIRE_COOKIE_MAX], pd[WIRE_PUZZLE_LEN];
	size_t clen, plen = 0;
	bool puzzle = ike->cfg->puzzles && puzzle_prf(conn, req, &ci.prf) == 0;
	struct wire_hdr h = req->hdr;
	struct wire_msg m;

	if (!np || cookie_make(ike, ike->cookie_version, puzzle ? &ci : NULL, np->u.nonce.data,
	                       np->u.nonce.len, remote, req->hdr.spi_i, cookie, &clen) < 0)
		return;
	pz.prf = ci.prf;
	pz.difficulty = ci.difficulty;
	if (puzzle && wire_puzzle_encode(&pz, pd, sizeof(pd), &plen) < 0)
		return;
	wire_msg_init(&m);
	h.flags = IKEV2_FLAG_RESPONSE;
	if (build_notify(&m, 0, NULL, 0, IKEV2_N_COOKIE, cookie, clen) == 0 &&
	    (!puzzle || build_notify(&m, 0, NULL, 0, IKEV2_N_PUZZLE, pd, plen) == 0)) {
		ike->stats.cookies_sent++;
		ike->stats.puzzles_sent += puzzle;
		ike_send_unprotected(ike, local, remote, &h, &m);
	}
	wire_msg_free(&m);
}

uint64_t cookie_timers(struct ike *ike, uint64_t now)
{
	if (!ike->cookie_rotate_ms) {
		ike->cookie_rotate_ms = now + COOKIE_ROTATE_MS;
		return ike->cookie_rotate_ms;
	}
	if (now < ike->cookie_rotate_ms)
		return ike->cookie_rotate_ms;
	memcpy(ike->cookie_prev, ike->cookie_secret, sizeof(ike->cookie_prev));
	if (crypto_random(ike->cookie_secret, sizeof(ike->cookie_secret)) < 0)
		memcpy(ike->cookie_secret, ike->cookie_prev, sizeof(ike->cookie_secret));
	else
		ike->cookie_version++;
	ike->cookie_rotate_ms = now + COOKIE_ROTATE_MS;
	return ike->cookie_rotate_ms;
}
