/*
 * Random bytes for nonces, SPIs, IVs and private values. By default they
 * come from OpenSSL's DRBG (RAND_bytes); tests install a deterministic
 * source with crypto_set_random() so that two in-process peers replay the
 * same exchange bit for bit.
 */
#include <limits.h>

#include <openssl/rand.h>

#include "crypto/crypto.h"
#include "crypto/crypto_impl.h"

static crypto_random_fn random_fn;
static void *random_ctx;

void crypto_set_random(crypto_random_fn fn, void *ctx)
{
	random_fn = fn;
	random_ctx = fn != NULL ? ctx : NULL;
}

bool crypto_random_is_deterministic(void)
{
	return random_fn != NULL;
}

int crypto_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	if (random_fn != NULL)
		return random_fn(random_ctx, buf, len) == 0 ? 0 : -1;
	while (len > 0) {
		int n = len > INT_MAX ? INT_MAX : (int)len;

		if (RAND_bytes(p, n) != 1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
