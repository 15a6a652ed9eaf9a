/*
 * The anti-replay window (src/dataplane/replay.c): RFC 4303 3.4.3 checks
 * and the ESN high-bit inference of Appendix A2.2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dataplane/dp.h"
#include "dataplane/replay.h"

/* Check then update, as the ESP code does after a good ICV. */
static int rp_accept(struct dp_replay *r, uint32_t lo, uint64_t *seq)
{
	uint64_t s;

	if (dp_replay_check(r, lo, &s))
		return -1;
	dp_replay_update(r, s);
	if (seq)
		*seq = s;
	return 0;
}

static void test_basic(void **state)
{
	struct dp_replay r;

	assert_int_equal(dp_replay_init(&r, 0, false), 0);
	assert_int_equal(r.window, DP_REPLAY_DEFAULT);
	assert_int_equal(rp_accept(&r, 0, NULL), -1); /* 0 is never sent */
	assert_int_equal(rp_accept(&r, 1, NULL), 0);
	assert_int_equal(rp_accept(&r, 1, NULL), -1); /* duplicate */
	assert_int_equal(rp_accept(&r, 3, NULL), 0);
	assert_int_equal(rp_accept(&r, 2, NULL), 0); /* late but in window */
	assert_int_equal(rp_accept(&r, 2, NULL), -1);
	assert_int_equal(rp_accept(&r, 100, NULL), 0); /* slide: 37..100 */
	assert_int_equal(rp_accept(&r, 36, NULL), -1); /* too old */
	assert_int_equal(rp_accept(&r, 37, NULL), 0);  /* oldest in the window */
	assert_int_equal(rp_accept(&r, 37, NULL), -1);
	assert_int_equal(rp_accept(&r, 3, NULL), -1);
	/* Checking alone does not move the window (a forged packet must not). */
	uint64_t s;
	assert_int_equal(dp_replay_check(&r, 5000, &s), 0);
	assert_int_equal(r.top, 100);
	assert_int_equal(rp_accept(&r, 99, NULL), 0);
	dp_replay_free(&r);
}

static void test_sizes(void **state)
{
	struct dp_replay r;

	assert_int_equal(dp_replay_init(&r, DP_REPLAY_MAX + 1, false), -1);
	assert_int_equal(dp_replay_init(&r, DP_REPLAY_MAX, false), 0);
	for (uint32_t i = 1; i <= 10000; i += 2)
		assert_int_equal(rp_accept(&r, i, NULL), 0);
	/* The top is 9999, so 9999 - 4096 + 1 = 5904 is the bottom of the window. */
	assert_int_equal(rp_accept(&r, 5902, NULL), -1);
	assert_int_equal(rp_accept(&r, 5904, NULL), 0);
	assert_int_equal(rp_accept(&r, 5905, NULL), -1); /* odd ones were seen */
	assert_int_equal(rp_accept(&r, 9998, NULL), 0);
	/* A big jump clears everything. */
	assert_int_equal(rp_accept(&r, 1000000, NULL), 0);
	assert_int_equal(rp_accept(&r, 1000000 - 4095, NULL), 0);
	assert_int_equal(rp_accept(&r, 1000000 - 4096, NULL), -1);
	dp_replay_free(&r);
	/* Odd sizes round up internally but keep their exact edge. */
	assert_int_equal(dp_replay_init(&r, 100, false), 0);
	assert_int_equal(rp_accept(&r, 1000, NULL), 0);
	assert_int_equal(rp_accept(&r, 901, NULL), 0);
	assert_int_equal(rp_accept(&r, 900, NULL), -1);
	assert_int_equal(r.words, 4); /* sized to the window: 100 / 64 + 2, rounded up */
	dp_replay_free(&r);
	dp_replay_free(&r); /* NULL-safe */
}

/* Every sequence number in order, word boundaries included. */
static void test_slide(void **state)
{
	struct dp_replay r;

	assert_int_equal(dp_replay_init(&r, 128, false), 0);
	for (uint32_t i = 1; i < 2000; i++) {
		assert_int_equal(rp_accept(&r, i, NULL), 0);
		assert_int_equal(rp_accept(&r, i, NULL), -1);
		if (i > 130)
			assert_int_equal(rp_accept(&r, i - 128, NULL), -1);
	}
	dp_replay_free(&r);
}

/* RFC 4303 Appendix A2.2, both cases, across 2^32. */
static void test_esn(void **state)
{
	struct dp_replay r;
	uint64_t s;

	assert_int_equal(dp_replay_init(&r, 64, true), 0);
	assert_int_equal(rp_accept(&r, 0xfffffff0u, &s), 0);
	assert_int_equal(s, 0xfffffff0ull);
	/* Case A: window within one subspace; a small number is the next subspace. */
	assert_int_equal(rp_accept(&r, 2, &s), 0);
	assert_int_equal(s, 0x100000002ull);
	/* Case B: the window now spans both; late packets from below still count. */
	assert_int_equal(rp_accept(&r, 0xfffffff5u, &s), 0);
	assert_int_equal(s, 0xfffffff5ull);
	assert_int_equal(rp_accept(&r, 0xfffffff5u, &s), -1);
	assert_int_equal(rp_accept(&r, 0, &s), 0); /* 2^32: valid with ESN */
	assert_int_equal(s, 0x100000000ull);
	/* Below the window: A2.2 reads it as the next subspace, far ahead; only the
	 * ICV (computed with other high bits) can then reject it. */
	assert_int_equal(dp_replay_check(&r, 0xffffffc0u, &s), 0);
	assert_int_equal(s, 0x1ffffffc0ull);
	assert_int_equal(rp_accept(&r, 1, &s), 0);
	assert_int_equal(rp_accept(&r, 100, &s), 0);
	assert_int_equal(s, 0x100000064ull);
	dp_replay_free(&r);
	/* Without ESN, 0 is still invalid and nothing wraps. */
	assert_int_equal(dp_replay_init(&r, 64, false), 0);
	assert_int_equal(rp_accept(&r, 0xffffffffu, &s), 0);
	assert_int_equal(rp_accept(&r, 1, &s), -1);
	dp_replay_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_slide),
	    cmocka_unit_test(test_esn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
