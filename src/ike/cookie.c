/*
 * Stateless cookies (RFC 7296 2.6): when too many SAs are half-open the
 * responder answers IKE_SA_INIT with N(COOKIE) and keeps no state. The
 * cookie is <VersionIDofSecret> | SHA-256(Ni | IPi | SPIi | <secret>);
 * the version lets the secret change without rejecting cookies in flight.
 */
#include <string.h>

#include "ike/sa.h"

int cookie_compute(struct ike *ike, uint32_t version, const uint8_t *ni, size_t ni_len,
                   const struct ike_addr *peer, const uint8_t spi_i[8], uint8_t *out, size_t *len)
{
	size_t alen;
	const uint8_t *a = addr_bytes(peer, &alen);
	uint8_t v[4] = {(uint8_t)(version >> 24), (uint8_t)(version >> 16), (uint8_t)(version >> 8),
	                (uint8_t)version};
	struct crypto_chunk in[] = {
	    {ni, ni_len}, {a, alen}, {spi_i, 8}, {ike->cookie_secret, sizeof(ike->cookie_secret)}};

	memcpy(out, v, 4);
	*len = 4 + 32;
	return crypto_sha256(in, 4, out + 4);
}

bool cookie_valid(struct ike *ike, const uint8_t *cookie, size_t len, const uint8_t *ni,
                  size_t ni_len, const struct ike_addr *peer, const uint8_t spi_i[8])
{
	uint8_t want[36];
	size_t wlen;

	if (len != sizeof(want))
		return false;
	if (cookie_compute(ike, ike->cookie_version, ni, ni_len, peer, spi_i, want, &wlen) < 0)
		return false;
	return !crypto_memcmp(want, cookie, wlen);
}
