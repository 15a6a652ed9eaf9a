/*
 * What a Child SA costs the userspace data plane (issue 13, "Scale": a
 * gateway holds one per client, so every byte is multiplied by the
 * clients). These tests fail when the per-SA layout grows back:
 *
 * - sizes: struct us_sa and the records around it (reqid, policy, route),
 *   the ESP state and the cipher it holds, beyond today's sizes;
 * - allocations: an SA is one heap chunk of exactly its struct, its
 *   selectors (inbound only), its lifetimes (only when it has any) and its
 *   cipher and replay ring: adding one changes glibc's in-use bytes
 *   (mallinfo2) by that chunk and nothing else;
 * - heap per Child SA (two SAs, a policy, its route and reqid records and
 *   the index buckets) at 10,000 Child SAs.
 *
 * The bounds are today's figures: raise one only with the reason in the
 * commit (bench/README.md, "The data plane's heap per Child SA"). Under a
 * sanitizer (its own allocator: mallinfo2 sees nothing) the heap checks
 * are skipped, the size checks still run. Runs in a network namespace of
 * its own (the TUN device), as test_dp_scale.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <event2/event.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp_debug.h"
#include "dataplane/us.h"
#include "dp_test_util.h"

#define N_CHILD 10000

/* Today's heap per Child SA at N_CHILD (1,009 B measured; buckets are
 * ~13 B more per Child SA at 10,000 than at 100,000). */
#define HEAP_PER_CHILD_MAX 1025

static int setup(void **state)
{
	static struct dpt_env e;

	return dpt_env_setup(state, &e, "rm0");
}

/* Client i's SA of one direction, as dpglue installs a remote-access
 * client's (AES-256-GCM, one selector a side), lifetimes if asked. */
static void client_sa(struct dp_sa *sa, uint32_t i, enum dp_dir dir, uint32_t spi, bool life)
{
	uint32_t a = dpt_client_addr(i);
	bool out = dir == DP_DIR_OUT;

	dpt_sa(sa, &dpt_suites[1], dir, spi, false, (uint8_t)i);
	sa->reqid = i + 1;
	dpt_sin4(&sa->src, out ? 0xc0000201u : 0xc6120000u + (i & 0xffff));
	dpt_sin4(&sa->dst, out ? 0xc6120000u + (i & 0xffff) : 0xc0000201u);
	assert_int_equal(dp_ts_parse(&sa->ts_local[0], "0.0.0.0/0"), 0);
	assert_int_equal(dp_ts_from_prefix(&sa->ts_remote[0], AF_INET, &a, 32), 0);
	sa->n_ts_local = sa->n_ts_remote = 1;
	if (life) {
		sa->life.soft_secs = 3600; /* RFC 4301 4.4.2.1 */
		sa->life.hard_secs = 3960;
	}
}

static void add_child(struct dpt_env *e, uint32_t i)
{
	struct dp_sa sa;
	struct dp_policy p;
	uint32_t a = dpt_client_addr(i);

	client_sa(&sa, i, DP_DIR_IN, 0x10000000u + i * 4, false);
	assert_int_equal(dp_sa_add(e->dp, &sa), 0);
	client_sa(&sa, i, DP_DIR_OUT, 0x80000000u + i * 4, false);
	assert_int_equal(dp_sa_add(e->dp, &sa), 0);
	memset(&p, 0, sizeof(p));
	p.reqid = i + 1;
	p.priority = 1000 - 32;
	assert_int_equal(dp_ts_parse(&p.ts_local, "0.0.0.0/0"), 0);
	assert_int_equal(dp_ts_from_prefix(&p.ts_remote, AF_INET, &a, 32), 0);
	assert_int_equal(dp_policy_add(e->dp, &p), 0);
}

static size_t heap_in_use(void)
{
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
}

/* Whether mallinfo2 sees this program's allocations (not under a
 * sanitizer, whose allocator is its own). */
static bool heap_seen(void)
{
	size_t h0 = heap_in_use();
	void *volatile p = malloc(4000);
	bool seen = heap_in_use() >= h0 + 4000;

	free(p);
	if (!seen)
		print_message(
		    "mallinfo2 does not see the heap (a sanitizer's allocator): skipped\n");
	return seen;
}

/* glibc's chunk for a request of n octets: n and an 8-octet size field,
 * rounded up to 16, at least 32. */
static size_t chunk(size_t n)
{
	size_t c = (n + 8 + 15) & ~(size_t)15;

	return c < 32 ? 32 : c;
}

static void test_sizes(void **state)
{
	(void)state;
	assert_in_range(sizeof(struct us_sa), 0, 256);
	/* an inbound SA has no outer addresses nor send-failure state */
	assert_in_range(us_sa_head(DP_DIR_IN), 0, 208);
	assert_in_range(sizeof(struct dp_esp_sa), 0, 72);
	assert_in_range(crypto_cipher_size(), 0, 56);
	assert_in_range(sizeof(struct us_life), 0, 64);
	assert_in_range(sizeof(struct us_reqid), 0, 40);
	assert_in_range(sizeof(struct us_policy), 0, 168);
	assert_in_range(sizeof(struct us_route), 0, 48);
	/* What one direction alone uses shares a union: the outbound SA's
	 * outer addresses are no larger than two compact sockaddrs. */
	assert_in_range(sizeof(union us_addr), 0, 28);
	assert_int_equal(sizeof(struct us_ts4), 16);
}

/* An SA is one allocation: adding one to a reqid that has SAs already (a
 * rekey's, RFC 7296 2.8), where no index grows, adds exactly one chunk of
 * its computed size. */
static void test_one_chunk_per_sa(void **state)
{
	struct dpt_env *e = *state;
	struct dp_sa in, out, lin;
	size_t h0, h1, h2, h3, win, wout, wlife;

	for (uint32_t i = 0; i < 100; i++)
		add_child(e, i);
	client_sa(&in, 7, DP_DIR_IN, 0x10000000u + 7 * 4 + 1, false);
	client_sa(&out, 7, DP_DIR_OUT, 0x80000000u + 7 * 4 + 1, false);
	client_sa(&lin, 7, DP_DIR_IN, 0x10000000u + 7 * 4 + 2, true);
	/* IPv4 selectors: kept as struct us_ts4 */
	win = chunk(us_sa_head(DP_DIR_IN) + 2 * sizeof(struct us_ts4) + dp_esp_extra_size(&in));
	wout = chunk(us_sa_head(DP_DIR_OUT) + dp_esp_extra_size(&out));
	wlife = chunk(us_sa_head(DP_DIR_IN) + 2 * sizeof(struct us_ts4) + sizeof(struct us_life) +
	              dp_esp_extra_size(&lin));
	/* aes256gcm16: the cipher and, inbound, a ring of 4 words (64 packets) */
	assert_int_equal(dp_esp_extra_size(&out), crypto_cipher_size());
	assert_int_equal(dp_esp_extra_size(&in), crypto_cipher_size() + 32);
	if (!heap_seen())
		skip();
	h0 = heap_in_use();
	assert_int_equal(dp_sa_add(e->dp, &in), 0);
	h1 = heap_in_use();
	assert_int_equal(dp_sa_add(e->dp, &out), 0);
	h2 = heap_in_use();
	assert_int_equal(dp_sa_add(e->dp, &lin), 0);
	h3 = heap_in_use();
	print_message("inbound SA %zu B, outbound %zu B, inbound with lifetimes %zu B\n", h1 - h0,
	              h2 - h1, h3 - h2);
	assert_int_equal(h1 - h0, win);
	assert_int_equal(h2 - h1, wout);
	/* the timer heap's slots grow by doubling: at most once here */
	assert_in_range(h3 - h2, wlife, wlife + 128 * sizeof(void *));
	/* (freed chunks go to glibc's per-thread cache, which mallinfo2
	 * counts as in use: no check of the deletes here) */
	assert_int_equal(dp_sa_del(e->dp, 8, DP_DIR_IN, in.spi), 0);
	assert_int_equal(dp_sa_del(e->dp, 8, DP_DIR_OUT, out.spi), 0);
	assert_int_equal(dp_sa_del(e->dp, 8, DP_DIR_IN, lin.spi), 0);
}

static void test_heap_per_child(void **state)
{
	struct dpt_env *e = *state;
	size_t h0, per;

	if (!heap_seen())
		skip();
	h0 = heap_in_use();
	for (uint32_t i = 0; i < N_CHILD; i++)
		add_child(e, i);
	per = (heap_in_use() - h0) / N_CHILD;
	print_message("heap per Child SA at %u: %zu B\n", N_CHILD, per);
	assert_in_range(per, 1, HEAP_PER_CHILD_MAX);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* A random selector of family fam around 10.0.0.0/28 or fd00::/124 (so
 * that random flows hit and miss it): a range, ports, a protocol. */
static void rnd_ts(struct dp_ts *ts, sa_family_t fam)
{
	size_t alen = fam == AF_INET ? 4 : 16;
	uint8_t a = (uint8_t)(rnd() % 16), b = (uint8_t)(rnd() % 16);

	memset(ts, 0, sizeof(*ts));
	ts->family = fam;
	ts->proto = rnd() % 3 ? 0 : (rnd() % 2 ? IPPROTO_UDP : IPPROTO_TCP);
	ts->port_lo = rnd() % 2 ? 0 : (uint16_t)(rnd() % 100);
	ts->port_hi = ts->port_lo == 0 && rnd() % 2 ? 0xffff : (uint16_t)(ts->port_lo + rnd() % 50);
	ts->addr_lo[0] = ts->addr_hi[0] = fam == AF_INET ? 10 : 0xfd;
	ts->addr_lo[alen - 1] = a < b ? a : b;
	ts->addr_hi[alen - 1] = a < b ? b : a;
}

static void rnd_flow(struct dp_flow *f, sa_family_t fam)
{
	size_t alen = fam == AF_INET ? 4 : 16;

	memset(f, 0, sizeof(*f));
	f->family = fam;
	f->proto = rnd() % 2 ? IPPROTO_UDP : IPPROTO_TCP;
	f->opaque_ports = rnd() % 8 == 0;
	f->sport = (uint16_t)(rnd() % 160);
	f->dport = (uint16_t)(rnd() % 160);
	f->src[0] = f->dst[0] = fam == AF_INET ? 10 : 0xfd;
	f->src[alen - 1] = (uint8_t)(rnd() % 20);
	f->dst[alen - 1] = (uint8_t)(rnd() % 20);
}

/* RFC 4301 5.2 step 4 on a compact IPv4 selector decides as on the
 * struct dp_ts it came from; an IPv6 one is kept whole. */
static void test_compact_selectors(void **state)
{
	_Alignas(8) uint8_t mem[512];
	struct us_sa *sa = (struct us_sa *)(void *)mem;
	uint8_t *tail = mem + us_sa_head(DP_DIR_IN);
	unsigned hits = 0;

	(void)state;
	for (int fam = 0; fam < 2; fam++) {
		sa_family_t f4 = fam ? AF_INET6 : AF_INET;
		for (int k = 0; k < 2000; k++) {
			struct dp_ts ts, tmp;
			struct dp_flow f;
			bool src = rnd() % 2;

			memset(mem, 0, sizeof(mem));
			sa->dir = DP_DIR_IN;
			sa->ts4 = f4 == AF_INET;
			sa->n_local = 1;
			rnd_ts(&ts, f4);
			us_sa_ts_put(tail, &ts, sa->ts4);
			rnd_flow(&f, f4);
			assert_int_equal(dp_ts_match_flow(us_sa_ts(sa, 0, &tmp), &f, src),
			                 dp_ts_match_flow(&ts, &f, src));
			hits += dp_ts_match_flow(&ts, &f, src);
			if (!sa->ts4)
				assert_ptr_equal(us_sa_ts(sa, 0, &tmp), (const void *)tail);
		}
	}
	assert_true(hits > 100 && hits < 3900); /* both answers were tried */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_compact_selectors),
	    cmocka_unit_test_setup_teardown(test_one_chunk_per_sa, setup, dpt_env_teardown),
	    cmocka_unit_test_setup_teardown(test_heap_per_child, setup, dpt_env_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
