/*
 * Stateless cookies (RFC 7296 2.6): when too many SAs are half-open the
 * responder answers IKE_SA_INIT with N(COOKIE) and keeps no state. The
 * cookie is <VersionIDofSecret> | SHA-256(Ni | IPi | SPIi | <secret>).
 * The secret changes every COOKIE_ROTATE_MS; cookies made with the one
 * before it stay valid until the next change, so an initiator that got a
 * cookie just before a change still gets in (2.6: "keep the old secret
 * for a while").
 */
#include <string.h>

#include "ike/sa.h"
#include "wire/notify.h"

#define COOKIE_ROTATE_MS 120000

static const uint8_t *secret_for(const struct ike *ike, uint32_t version)
{
	if (version == ike->cookie_version)
		return ike->cookie_secret;
	if (version == ike->cookie_version - 1)
		return ike->cookie_prev;
	return NULL;
}

int cookie_compute(struct ike *ike, uint32_t version, const uint8_t *ni, size_t ni_len,
                   const struct ike_addr *peer, const uint8_t spi_i[8], uint8_t *out, size_t *len)
{
	size_t alen;
	const uint8_t *a = addr_bytes(peer, &alen);
	const uint8_t *secret = secret_for(ike, version);
	struct crypto_chunk in[] = {{ni, ni_len}, {a, alen}, {spi_i, 8}, {secret, 32}};

	if (!secret)
		return -1;
	wire_cookie_put_version(out, version);
	*len = WIRE_COOKIE_VERSION_LEN + 32;
	return crypto_sha256(in, 4, out + WIRE_COOKIE_VERSION_LEN);
}

bool cookie_valid(struct ike *ike, const uint8_t *cookie, size_t len, const uint8_t *ni,
                  size_t ni_len, const struct ike_addr *peer, const uint8_t spi_i[8])
{
	uint8_t want[36];
	size_t wlen;
	uint32_t version;

	if (len != sizeof(want) || wire_cookie_version(cookie, len, &version) < 0)
		return false;
	if (cookie_compute(ike, version, ni, ni_len, peer, spi_i, want, &wlen) < 0)
		return false;
	return !crypto_memcmp(want, cookie, wlen);
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
