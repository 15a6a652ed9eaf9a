/*
 * The userspace data plane at scale (issue 13), without timing anything:
 *
 * - steps: with 1, 1,000 and 100,000 Child SAs installed (an inbound and an
 *   outbound SA and a /32 policy each, as a remote-access gateway has), the
 *   hash-chain and list nodes and the selector comparisons that each
 *   lookup, insert, rekey and delete costs (dp_hash_steps) stay under a
 *   constant. An index that falls back
 *   to a scan of all SAs or policies fails this at once.
 * - SPD order: random policies (prefixes, ranges that are no prefix,
 *   ports, protocols, IPv4 and IPv6, tied priorities), random updates and
 *   deletes; every lookup must return what the old priority-ordered linear
 *   scan returns (kept here, in the test only, as the reference).
 *
 * Each test runs in a network namespace of its own (the TUN device); the
 * kernel routes are skipped (dp_debug_skip_routes), their bookkeeping is not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp_debug.h"
#include "dataplane/dp_hash.h"
#include "dataplane/ts.h"
#include "dp_test_util.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static int setup(void **state)
{
	static struct dpt_env e;

	return dpt_env_setup(state, &e, "rs0");
}

/* ---- steps per operation ---- */

static uint32_t spi_in(uint32_t i, uint32_t gen)
{
	return 0x10000000u + i * 4 + gen;
}

static uint32_t spi_out(uint32_t i, uint32_t gen)
{
	return 0x80000000u + i * 4 + gen;
}

static void client_policy(struct dp_policy *p, uint32_t i)
{
	uint32_t a = dpt_client_addr(i);

	memset(p, 0, sizeof(*p));
	p->reqid = i + 1;
	p->priority = 1000 - 32;
	assert_int_equal(dp_ts_parse(&p->ts_local, "0.0.0.0/0"), 0);
	assert_int_equal(dp_ts_from_prefix(&p->ts_remote, AF_INET, &a, 32), 0);
}

static void add_pair(struct dpt_env *e, uint32_t i, uint32_t gen)
{
	struct dp_sa sa;
	uint32_t a = dpt_client_addr(i);

	for (int out = 0; out < 2; out++) {
		dpt_sa(&sa, &dpt_suites[0], out ? DP_DIR_OUT : DP_DIR_IN,
		       out ? spi_out(i, gen) : spi_in(i, gen), false, (uint8_t)i);
		sa.reqid = i + 1;
		dpt_sin4(&sa.src, out ? 0xc0000201u : 0xc6120000u + (i & 0xffff));
		dpt_sin4(&sa.dst, out ? 0xc6120000u + (i & 0xffff) : 0xc0000201u);
		assert_int_equal(dp_ts_parse(&sa.ts_local[0], "0.0.0.0/0"), 0);
		assert_int_equal(dp_ts_from_prefix(&sa.ts_remote[0], AF_INET, &a, 32), 0);
		sa.n_ts_local = sa.n_ts_remote = 1;
		assert_int_equal(dp_sa_add(e->dp, &sa), 0);
	}
}

static void del_pair(struct dpt_env *e, uint32_t i, uint32_t gen)
{
	assert_int_equal(dp_sa_del(e->dp, i + 1, DP_DIR_IN, spi_in(i, gen)), 0);
	assert_int_equal(dp_sa_del(e->dp, i + 1, DP_DIR_OUT, spi_out(i, gen)), 0);
}

static size_t packet_to(uint8_t *p, uint32_t i)
{
	char dst[INET_ADDRSTRLEN];
	uint32_t a = dpt_client_addr(i);

	inet_ntop(AF_INET, &a, dst, sizeof(dst));
	return dpt_packet(p, AF_INET, "192.0.2.10", dst, 0);
}

/* The most steps one operation took and the total, over a sample. */
struct steps {
	uint64_t max, total, ops;
};

static void count(struct steps *s, uint64_t before)
{
	uint64_t n = dp_hash_steps - before;

	s->max = n > s->max ? n : s->max;
	s->total += n;
	s->ops++;
}

enum { ST_SA, ST_SPI, ST_SPD, ST_REKEY, ST_POLICY, ST_N };
static const char *const st_names[ST_N] = {"SA lookup", "SPI lookup", "SPD lookup",
                                           "rekey (add pair, delete old)", "policy del+add"};

/* Per-operation bounds: a handful of chain nodes per hash probe. A rekey
 * is 2 adds and 2 deletes, each touching 2-3 tables and the reqid's own
 * SAs and policies; a scan of the 100,000 others would take 100,000. */
static const uint64_t st_max[ST_N] = {32, 32, 48, 160, 96};
static const uint64_t st_avg[ST_N] = {4, 4, 12, 48, 32};

static void measure(struct dpt_env *e, uint32_t n, uint32_t gen)
{
	struct steps s[ST_N];
	struct dp_sa_counters c;
	struct dp_policy p;
	uint8_t pkt[64];
	uint32_t reqid, spi, sample = n < 1000 ? n : 1000;

	memset(s, 0, sizeof(s));
	for (uint32_t k = 0; k < sample; k++) {
		uint32_t i = rnd() % n;
		uint64_t b = dp_hash_steps;
		assert_int_equal(dp_sa_counters(e->dp, i + 1, DP_DIR_OUT, spi_out(i, gen), &c), 0);
		count(&s[ST_SA], b);
		b = dp_hash_steps;
		assert_int_equal(dp_debug_sa_in(e->dp, spi_in(i, gen), &reqid), 0);
		count(&s[ST_SPI], b);
		assert_int_equal(reqid, i + 1);
		size_t len = packet_to(pkt, i);
		b = dp_hash_steps;
		assert_int_equal(dp_debug_spd_lookup(e->dp, pkt, len, &reqid, &spi), 0);
		count(&s[ST_SPD], b);
		assert_int_equal(reqid, i + 1);
		assert_int_equal(spi, spi_out(i, gen));
	}
	/* Rekey the first `sample` clients (make-before-break), then back. */
	for (uint32_t i = 0; i < sample; i++) {
		uint64_t b = dp_hash_steps;
		add_pair(e, i, gen + 1);
		del_pair(e, i, gen);
		count(&s[ST_REKEY], b);
		size_t len = packet_to(pkt, i);
		assert_int_equal(dp_debug_spd_lookup(e->dp, pkt, len, &reqid, &spi), 0);
		assert_int_equal(spi, spi_out(i, gen + 1)); /* the new SA carries it */
		add_pair(e, i, gen);
		del_pair(e, i, gen + 1);
		client_policy(&p, i);
		b = dp_hash_steps;
		assert_int_equal(dp_policy_del(e->dp, &p), 0);
		assert_int_equal(dp_policy_add(e->dp, &p), 0);
		count(&s[ST_POLICY], b);
	}
	for (int k = 0; k < ST_N; k++) {
		double avg = (double)s[k].total / (double)s[k].ops;
		print_message("  N=%-6u %-30s steps: max %3llu, mean %5.2f\n", n, st_names[k],
		              (unsigned long long)s[k].max, avg);
		assert_true(s[k].max <= st_max[k]);
		assert_true(avg <= (double)st_avg[k]);
	}
}

static void test_steps_bounded(void **state)
{
	struct dpt_env *e = *state;
	static const uint32_t sizes[] = {1, 1000, 100000};
	uint32_t have = 0;
	struct dp_policy p;

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		for (; have < sizes[k]; have++) {
			add_pair(e, have, 0);
			client_policy(&p, have);
			assert_int_equal(dp_policy_add(e->dp, &p), 0);
		}
		measure(e, have, 0);
	}
	/* Take everything away again: the tables shrink and still answer. */
	for (uint32_t i = 0; i < have; i++) {
		client_policy(&p, i);
		assert_int_equal(dp_policy_del(e->dp, &p), 0);
		del_pair(e, i, 0);
	}
	uint8_t pkt[64];
	uint32_t reqid, spi;
	size_t len = packet_to(pkt, 7);
	assert_int_equal(dp_debug_spd_lookup(e->dp, pkt, len, &reqid, &spi), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(dp_debug_sa_in(e->dp, spi_in(7, 0), &reqid), -1);
}

/* ---- SPD order against the old linear scan ---- */

/* The reference: the SPD as a list ordered by priority, equal priorities
 * in insertion order, an update taking the entry out and in again, and a
 * lookup that returns the first match. (The code before issue 13.) */
struct ref_pol {
	struct ref_pol *next;
	struct dp_policy p;
};

static void ref_insert(struct ref_pol **head, struct ref_pol *np)
{
	struct ref_pol **pp;

	for (pp = head; *pp && (*pp)->p.priority <= np->p.priority; pp = &(*pp)->next)
		;
	np->next = *pp;
	*pp = np;
}

static struct ref_pol **ref_find_sel(struct ref_pol **head, const struct dp_policy *p)
{
	struct ref_pol **pp = head;

	while (*pp && !(dp_ts_equal(&(*pp)->p.ts_local, &p->ts_local) &&
	                dp_ts_equal(&(*pp)->p.ts_remote, &p->ts_remote)))
		pp = &(*pp)->next;
	return pp;
}

static const struct ref_pol *ref_lookup(const struct ref_pol *head, const struct dp_flow *f)
{
	for (const struct ref_pol *p = head; p; p = p->next)
		if (dp_ts_match_flow(&p->p.ts_local, f, true) &&
		    dp_ts_match_flow(&p->p.ts_remote, f, false))
			return p;
	return NULL;
}

/* Addresses from a small space so that selectors overlap a lot:
 * IPv4 10.0.0.0/20, IPv6 2001:db8::/116 (the same low 12 bits). */
static void addr_of(sa_family_t family, uint32_t low12, uint8_t *a)
{
	memset(a, 0, 16);
	if (family == AF_INET) {
		a[0] = 10;
		a[2] = (uint8_t)(low12 >> 8 & 0x0f);
		a[3] = (uint8_t)low12;
	} else {
		a[0] = 0x20;
		a[1] = 0x01;
		a[2] = 0x0d;
		a[3] = 0xb8;
		a[14] = (uint8_t)(low12 >> 8 & 0x0f);
		a[15] = (uint8_t)low12;
	}
}

static void rand_ts(struct dp_ts *ts, sa_family_t family, bool ports)
{
	uint8_t a[16];
	uint32_t lo = rnd() & 0xfff, kind = rnd() % 8;

	addr_of(family, lo, a);
	if (kind < 3) { /* a single address: the remote-access case */
		assert_int_equal(dp_ts_from_prefix(ts, family, a, family == AF_INET ? 32 : 128), 0);
	} else if (kind < 6) { /* a prefix, /20 to /31 (or /116 to /127) */
		unsigned host = 1 + rnd() % 12, bits = family == AF_INET ? 32 : 128;
		assert_int_equal(dp_ts_from_prefix(ts, family, a, bits - host), 0);
	} else if (kind < 7) { /* any address */
		memset(ts, 0, sizeof(*ts));
		ts->family = family;
		ts->port_hi = 0xffff;
		memset(ts->addr_hi, 0xff, sizeof(ts->addr_hi));
	} else { /* a range that is (most likely) no prefix */
		uint32_t hi = lo + rnd() % 200;
		memset(ts, 0, sizeof(*ts));
		ts->family = family;
		ts->port_hi = 0xffff;
		addr_of(family, lo, ts->addr_lo);
		addr_of(family, hi > 0xfff ? 0xfff : hi, ts->addr_hi);
	}
	if (ports && rnd() % 4 == 0) {
		static const uint8_t protos[] = {IPPROTO_UDP, IPPROTO_TCP};
		ts->proto = protos[rnd() % 2];
		if (rnd() % 2) {
			ts->port_lo = (uint16_t)(1000 + rnd() % 8);
			ts->port_hi = (uint16_t)(ts->port_lo + rnd() % 3);
		}
	}
}

static void rand_policy(struct dp_policy *p, uint32_t reqid)
{
	sa_family_t family = rnd() % 4 ? AF_INET : AF_INET6;

	memset(p, 0, sizeof(*p));
	p->reqid = reqid;
	p->priority = 990 + rnd() % 4; /* ties on purpose */
	rand_ts(&p->ts_local, family, true);
	rand_ts(&p->ts_remote, family, true);
}

/* A packet of a random flow inside the address space. */
static size_t rand_packet(uint8_t *p, sa_family_t family)
{
	size_t hl = family == AF_INET ? 20 : 40, len = hl + 8;
	uint8_t src[16], dst[16];
	uint8_t proto = rnd() % 2 ? IPPROTO_UDP : IPPROTO_TCP;
	uint16_t sport = (uint16_t)(1000 + rnd() % 10), dport = (uint16_t)(1000 + rnd() % 10);

	if (proto == IPPROTO_TCP)
		len = hl + 20;
	addr_of(family, rnd() & 0xfff, src);
	addr_of(family, rnd() & 0xfff, dst);
	memset(p, 0, len);
	if (family == AF_INET) {
		p[0] = 0x45;
		p[3] = (uint8_t)len;
		p[8] = 64;
		p[9] = proto;
		memcpy(p + 12, src, 4);
		memcpy(p + 16, dst, 4);
	} else {
		p[0] = 0x60;
		p[5] = (uint8_t)(len - 40);
		p[6] = proto;
		p[7] = 64;
		memcpy(p + 8, src, 16);
		memcpy(p + 24, dst, 16);
	}
	p[hl] = (uint8_t)(sport >> 8);
	p[hl + 1] = (uint8_t)sport;
	p[hl + 2] = (uint8_t)(dport >> 8);
	p[hl + 3] = (uint8_t)dport;
	if (proto == IPPROTO_TCP)
		p[hl + 12] = 0x50;
	else
		p[hl + 5] = 8;
	return len;
}

static void check_lookups(struct dpt_env *e, const struct ref_pol *ref, unsigned n)
{
	uint8_t pkt[80];
	struct dp_flow f;

	for (unsigned k = 0; k < n; k++) {
		sa_family_t family = rnd() % 4 ? AF_INET : AF_INET6;
		size_t len = rand_packet(pkt, family);
		uint32_t reqid = 0, spi;
		assert_int_equal(dp_flow_parse(pkt, len, &f), 0);
		const struct ref_pol *want = ref_lookup(ref, &f);
		int rc = dp_debug_spd_lookup(e->dp, pkt, len, &reqid, &spi);
		if (!want) {
			assert_int_equal(rc, -1);
			assert_int_equal(errno, ENOENT);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(reqid, want->p.reqid); /* reqids are unique here */
		}
	}
}

static void test_spd_matches_linear_scan(void **state)
{
	struct dpt_env *e = *state;
	struct ref_pol *ref = NULL, **pp;
	uint32_t next_reqid = 1;
	unsigned live = 0;

	for (unsigned round = 0; round < 3000; round++) {
		struct dp_policy p;
		unsigned op = rnd() % 10;

		if (op < 6 || live < 20) { /* add */
			rand_policy(&p, next_reqid++);
			pp = ref_find_sel(&ref, &p);
			int rc = dp_policy_add(e->dp, &p);
			if (*pp) {
				assert_int_equal(rc, -1);
				assert_int_equal(errno, EEXIST);
			} else {
				assert_int_equal(rc, 0);
				struct ref_pol *np = calloc(1, sizeof(*np));
				assert_non_null(np);
				np->p = p;
				ref_insert(&ref, np);
				live++;
			}
		} else {
			/* pick the k-th live policy */
			unsigned k = rnd() % live;
			for (pp = &ref; k--; pp = &(*pp)->next)
				;
			struct ref_pol *op_ = *pp;
			if (op < 8) { /* update: another reqid and priority, same selectors */
				p = op_->p;
				p.reqid = next_reqid++;
				p.priority = 990 + rnd() % 4;
				assert_int_equal(dp_policy_update(e->dp, &p), 0);
				*pp = op_->next;
				op_->p = p;
				ref_insert(&ref, op_);
			} else { /* delete */
				assert_int_equal(dp_policy_del(e->dp, &op_->p), 0);
				*pp = op_->next;
				free(op_);
				live--;
			}
		}
		check_lookups(e, ref, 20);
	}
	while (ref) {
		struct ref_pol *p = ref;
		ref = p->next;
		assert_int_equal(dp_policy_del(e->dp, &p->p), 0);
		free(p);
	}
	check_lookups(e, NULL, 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_spd_matches_linear_scan, setup, dpt_env_teardown),
	    cmocka_unit_test_setup_teardown(test_steps_bounded, setup, dpt_env_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
