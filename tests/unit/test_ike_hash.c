/*
 * The IKE engine's SA tables (src/ike/sa.c: open addressing, linear
 * probing, deletion by shifting back): 20,000 random puts and deletes of
 * 4,000 entries under 1,500 keys (so keys repeat, as a source's half-open
 * SAs do) against a reference array scanned in full. After each step every
 * key's SAs, seen through hash_each_key, are exactly the reference's; the
 * table grows past its first size and shrinks back to empty. A deletion
 * that broke a probe run (an entry no longer found) or left a stale one
 * fails here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "ike/sa.h"

enum { N = 4000, KEYS = 1500, STEPS = 20000 };

static struct ike_sa sas[N];
static uint64_t key_of[N];
static bool in[N];

struct seen {
	uint64_t key;
	unsigned n;
};

static void count(struct ike_sa *sa, void *arg)
{
	struct seen *s = arg;
	size_t i = (size_t)(sa - sas);

	assert_true(i < N);
	assert_true(in[i]);
	assert_int_equal(key_of[i], s->key);
	s->n++;
}

/* Every SA in the reference is found under its key, and nothing else. */
static void check_key(struct ike_hash *h, uint64_t key)
{
	struct seen s = {key, 0};
	unsigned want = 0;

	for (size_t i = 0; i < N; i++)
		want += in[i] && key_of[i] == key;
	hash_each_key(h, key, count, &s);
	assert_int_equal(s.n, want);
}

static void test_random_ops(void **state)
{
	struct ike_hash *h = hash_new();
	unsigned rnd = 12345, live = 0, most = 0;

	(void)state;
	assert_non_null(h);
	for (size_t i = 0; i < N; i++)
		key_of[i] = 0x5100000000ULL + (uint64_t)(i % KEYS) * 7919; /* keys repeat */
	for (int step = 0; step < STEPS; step++) {
		size_t i;

		rnd = rnd * 1103515245u + 12345u;
		i = (rnd >> 8) % N;
		if (in[i]) {
			hash_del(h, key_of[i], &sas[i]);
			in[i] = false;
			live--;
		} else {
			assert_int_equal(hash_put(h, key_of[i], &sas[i]), 0);
			in[i] = true;
			live++;
		}
		if (live > most)
			most = live;
		check_key(h, key_of[i]);
		check_key(h, key_of[(i + 1) % N]); /* a neighbour in the same runs */
	}
	assert_true(most > 1024 * 3 / 4); /* past the first size: grown */
	for (size_t i = 0; i < N; i++)
		check_key(h, key_of[i]);
	for (size_t i = 0; i < N; i++)
		if (in[i]) {
			hash_del(h, key_of[i], &sas[i]);
			in[i] = false;
		}
	for (size_t k = 0; k < KEYS; k++)
		check_key(h, key_of[k]);
	hash_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_ops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
