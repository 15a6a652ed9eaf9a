/*
 * libFuzzer target: the daemon's configuration parser (cfg_load_string).
 * The body is fuzz_config_one (harness_*.c).
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_config_one(data, size);
}
