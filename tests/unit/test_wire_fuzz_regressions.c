/*
 * Replays the saved fuzz inputs of the wire-layer targets
 * (tests/fuzz/regressions/{decode,sk,skf,keytable}/) through the same
 * bodies the fuzzers run (tests/fuzz/harness_wire.c): the decoder and
 * rules (RFC 7296 3), SK opening (3.14), SKF reassembly (RFC 7383 2.6) and
 * the key table. A crash or a broken invariant (abort) fails the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../fuzz/harness.h"

static void replay(const char *target, int (*fn)(const uint8_t *, size_t))
{
	int n = fuzz_replay_dir(target, fn);

	/* Every target keeps at least its hand-made edge cases. */
	assert_true(n > 0);
}

static void test_decode(void **state)
{
	replay("decode", fuzz_decode_one);
}

static void test_sk(void **state)
{
	replay("sk", fuzz_sk_one);
}

static void test_skf(void **state)
{
	replay("skf", fuzz_skf_one);
}

static void test_keytable(void **state)
{
	replay("keytable", fuzz_keytable_one);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode),
	    cmocka_unit_test(test_sk),
	    cmocka_unit_test(test_skf),
	    cmocka_unit_test(test_keytable),
	};
	int rc;

	if (!getenv("RIKE_SRC")) {
		printf("RIKE_SRC not set: skipping\n");
		return 77;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	fuzz_wire_cleanup();
	return rc;
}
