/*
 * libFuzzer target: opening the Encrypted payload SK (RFC 7296 3.14,
 * RFC 5282) with fixed keys, as received and behind a valid ICV.
 * The body is fuzz_sk_one (harness_*.c).
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_sk_one(data, size);
}
