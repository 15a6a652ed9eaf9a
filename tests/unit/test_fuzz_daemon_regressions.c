/*
 * Replays the saved fuzz inputs of the daemon's local-input targets
 * (tests/fuzz/regressions/{config,ctl}/) through the bodies the fuzzers
 * run (tests/fuzz/harness_daemon.c): cfg_load_string and
 * ctl_parse_request. A crash or a broken invariant (abort) fails the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../fuzz/harness.h"

static void test_config(void **state)
{
	assert_true(fuzz_replay_dir("config", fuzz_config_one) > 0);
}

static void test_ctl(void **state)
{
	assert_true(fuzz_replay_dir("ctl", fuzz_ctl_one) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config),
	    cmocka_unit_test(test_ctl),
	};

	if (!getenv("RIKE_SRC")) {
		printf("RIKE_SRC not set: skipping\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
