/*
 * libFuzzer target: one row of Wireshark's IKEv2 decryption table
 * (keytable_parse_line), as rikectl decode --keys reads it.
 * The body is fuzz_keytable_one (harness_*.c).
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_keytable_one(data, size);
}
