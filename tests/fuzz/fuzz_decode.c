/*
 * libFuzzer target: the IKEv2 decoder and rules table on untrusted bytes
 * (RFC 7296 3). Anything that decodes must re-encode without error. The
 * body is fuzz_decode_one (harness_wire.c).
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_decode_one(data, size);
}
