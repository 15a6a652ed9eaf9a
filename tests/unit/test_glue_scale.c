/*
 * dpglue at scale (issue 13), timing nothing: with 1, 1,000 and 10,000
 * Child SAs installed through the engine's hooks (a remote-access
 * gateway: local 0.0.0.0/0, remote one /32 per client), installing a
 * rekeyed pair and removing the old one (RFC 7296 2.8), and a MOBIKE move
 * (RFC 4555 3.5), visit a bounded number of hash-chain nodes and selector
 * comparisons (dp_hash_steps, counted by dpglue's and the data plane's
 * indexes alike). The walk of all pairs that each of these used to do
 * would count thousands. The userspace data plane runs in a network
 * namespace of the test's own (skipped when unshare is not allowed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/dpglue.h"
#include "dataplane/dp.h"
#include "dataplane/dp_hash.h"
#include "ike/ike.h"
#include "util/log.h"
#include "wire/ikev2.h"

struct env {
	struct event_base *base;
	struct dpglue *g;
};

static struct env env;

static void sin4(struct ike_addr *a, uint32_t addr)
{
	struct sockaddr_in *s = &a->ss.sin;

	memset(a, 0, sizeof(*a));
	s->sin_family = AF_INET;
	s->sin_port = htons(4500);
	s->sin_addr.s_addr = htonl(addr);
}

static void ts4(struct cfg_ts *ts, uint32_t lo, uint32_t hi)
{
	uint32_t l = htonl(lo), h = htonl(hi);

	memset(ts, 0, sizeof(*ts));
	ts->type = IKEV2_TS_IPV4_ADDR_RANGE;
	ts->end_port = 65535;
	memcpy(ts->start, &l, 4);
	memcpy(ts->end, &h, 4);
}

/* Client i's Child SA, generation gen (a rekey keeps the reqid). */
static void child(struct ike_child_info *c, uint32_t i, uint32_t gen)
{
	struct crypto_encr_info info;

	memset(c, 0, sizeof(*c));
	c->conn = "rw";
	c->ike_serial = i + 1;
	c->reqid = i + 1;
	c->spi_in = 0x10000000u + i * 4 + gen;
	c->spi_out = 0x80000000u + i * 4 + gen;
	sin4(&c->local, 0xc0000201u);
	sin4(&c->remote, 0xc6120000u + i);
	c->natt = c->encap = true;
	c->encr = IKEV2_ENCR_AES_GCM_16;
	c->encr_keybits = 128;
	c->integ = IKEV2_AUTH_NONE;
	assert_int_equal(crypto_encr_info(c->encr, c->encr_keybits, &info), 0);
	c->key_e_len = info.key_len;
	ts4(&c->ts_local.ts[0], 0, 0xffffffffu);
	ts4(&c->ts_remote.ts[0], 0x0a000001u + i, 0x0a000001u + i);
	c->ts_local.n = c->ts_remote.n = 1;
}

static int setup(void **state)
{
	char why[256];

	if (unshare(CLONE_NEWNET)) {
		print_message("cannot unshare the network namespace (%s): skipped\n",
		              strerror(errno));
		exit(77);
	}
	log_init("test_glue_scale", LOG_TARGET_STDERR, LOG_WARNING);
	env.base = event_base_new();
	assert_non_null(env.base);
	env.g = dpglue_new(env.base, CFG_DP_USERSPACE, 500, 4500, why, sizeof(why));
	if (!env.g)
		fail_msg("dpglue_new: %s", why);
	return 0;
}

static int teardown(void **state)
{
	dpglue_free(env.g);
	event_base_free(env.base);
	return 0;
}

static void test_steps_bounded(void **state)
{
	static const uint32_t sizes[] = {1, 1000, 10000};
	struct ike_child_info c;
	uint32_t have = 0;

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint64_t max_rekey = 0, max_move = 0, total = 0;
		uint32_t sample = sizes[k] < 200 ? sizes[k] : 200;

		for (; have < sizes[k]; have++) {
			child(&c, have, 0);
			assert_int_equal(dpglue_child_up(env.g, &c), 0);
		}
		assert_int_equal(dpglue_nchildren(env.g), have);
		for (uint32_t i = 0; i < sample; i++) {
			uint64_t b = dp_hash_steps, n;
			/* Make-before-break: the new pair, then the old one goes. */
			child(&c, i, 1);
			assert_int_equal(dpglue_child_up(env.g, &c), 0);
			child(&c, i, 0);
			dpglue_child_down(env.g, &c);
			n = dp_hash_steps - b;
			max_rekey = n > max_rekey ? n : max_rekey;
			total += n;
			/* And back, so that every client is at generation 0 again. */
			child(&c, i, 0);
			assert_int_equal(dpglue_child_up(env.g, &c), 0);
			child(&c, i, 1);
			dpglue_child_down(env.g, &c);
			child(&c, i, 0);
			sin4(&c.remote, 0xc6130000u + i);
			b = dp_hash_steps;
			dpglue_child_moved(env.g, &c);
			n = dp_hash_steps - b;
			max_move = n > max_move ? n : max_move;
		}
		print_message(
		    "  N=%-5u rekey steps: max %3llu, mean %5.2f; MOBIKE move: max %llu\n", have,
		    (unsigned long long)max_rekey, (double)total / sample,
		    (unsigned long long)max_move);
		assert_true(max_rekey <= 200);
		assert_true(max_move <= 16);
		assert_int_equal(dpglue_nchildren(env.g), have);
	}
	for (uint32_t i = 0; i < have; i++) {
		child(&c, i, 0);
		dpglue_child_down(env.g, &c);
	}
	assert_int_equal(dpglue_nchildren(env.g), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_steps_bounded, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
