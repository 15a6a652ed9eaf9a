/*
 * The deadline heap (src/util/theap.c), which times every SA lifetime in
 * seconds of the userspace backend with one event, and the IKE engine's SAs:
 *
 * - order: random inserts, moves (earlier and later) and deletes against a
 *   reference array scanned in full (the test's only); after each, the
 *   heap's earliest deadline is the reference's, and popping empties it in
 *   deadline order.
 * - steps: the sift steps (theap_steps) of an insert, a move and a
 *   delete stay within 2 log2(n) + 2 as the heap grows from 1 to 100,000
 *   entries: a heap that degraded to a list (or a rescan on delete) fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "util/theap.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* The reference: the earliest deadline of the entries in the heap, by a scan. */
static struct theap_node *ref_min(struct theap_node *t, size_t n)
{
	struct theap_node *best = NULL;

	for (size_t i = 0; i < n; i++)
		if (theap_has(&t[i]) && (!best || t[i].at < best->at))
			best = &t[i];
	return best;
}

static void test_order(void **state)
{
	enum { N = 300, OPS = 20000 };
	struct theap_node *t = calloc(N, sizeof(*t));
	struct theap h = {0};
	uint64_t last = 0;
	size_t in = 0;

	assert_non_null(t);
	for (int op = 0; op < OPS; op++) {
		struct theap_node *x = &t[rnd() % N], *m;
		if (rnd() % 4 == 0) {
			in -= theap_has(x);
			theap_del(&h, x);
			assert_false(theap_has(x));
		} else {
			in += !theap_has(x);
			assert_int_equal(theap_set(&h, x, rnd() % 1000), 0); /* ties too */
		}
		assert_int_equal(h.n, in);
		m = theap_min(&h);
		if (!in) {
			assert_null(m);
			continue;
		}
		assert_non_null(m);
		assert_true(m->at == ref_min(t, N)->at);
	}
	while ((theap_min(&h))) {
		struct theap_node *m = theap_min(&h);
		assert_true(m->at >= last);
		assert_true(ref_min(t, N)->at == m->at);
		last = m->at;
		theap_del(&h, m);
		in--;
	}
	assert_int_equal(in, 0);
	assert_null(ref_min(t, N));
	theap_fini(&h);
	free(t);
}

static unsigned log2_ceil(size_t n)
{
	unsigned l = 0;

	while (((size_t)1 << l) < n)
		l++;
	return l;
}

static void test_steps_bounded(void **state)
{
	enum { N = 100000 };
	struct theap_node *t = calloc(N, sizeof(*t));
	struct theap h = {0};
	uint64_t worst = 0;

	assert_non_null(t);
	for (size_t i = 0; i < N; i++) {
		uint64_t b = theap_steps, bound = 2 * log2_ceil(i + 1) + 2;
		/* Decreasing deadlines: every insert sifts to the top, the worst case. */
		assert_int_equal(theap_set(&h, &t[i], (uint64_t)(N - i) * 1000), 0);
		assert_true(theap_steps - b <= bound);
		if (i % 97 == 0 && i) { /* a move to a random place, and a delete */
			struct theap_node *x = &t[rnd() % i];
			b = theap_steps;
			assert_int_equal(theap_set(&h, x, rnd() % ((uint64_t)N * 1000)), 0);
			assert_true(theap_steps - b <= bound);
			x = &t[rnd() % i];
			b = theap_steps;
			theap_del(&h, x);
			assert_true(theap_steps - b <= bound);
			if (theap_steps - b > worst)
				worst = theap_steps - b;
			assert_int_equal(theap_set(&h, x, rnd() % ((uint64_t)N * 1000)), 0);
		}
	}
	assert_int_equal(h.n, N);
	print_message("  N=%u: a delete took %llu sift steps at most (bound %u)\n", N,
	              (unsigned long long)worst, 2 * log2_ceil(N) + 2);
	/* Popping in order: each pop is a delete of the top, O(log n). */
	for (uint64_t last = 0, b; theap_min(&h);) {
		struct theap_node *m = theap_min(&h);
		assert_true(m->at >= last);
		last = m->at;
		b = theap_steps;
		theap_del(&h, m);
		assert_true(theap_steps - b <= 2 * log2_ceil(N) + 2);
	}
	theap_fini(&h);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order),
	    cmocka_unit_test(test_steps_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
