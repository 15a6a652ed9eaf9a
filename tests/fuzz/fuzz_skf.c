/*
 * libFuzzer target: IKE fragment reassembly (RFC 7383 2.6) of validly
 * protected SKF fragments described by the input.
 * The body is fuzz_skf_one (harness_*.c).
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_skf_one(data, size);
}
