/*
 * libFuzzer target: the control socket's request line (ctl_parse_request).
 * The body is fuzz_ctl_one (harness_*.c).
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_ctl_one(data, size);
}
