/*
 * ESP probes (src/dataplane/probe.c): an ICMP echo request sealed by one
 * end, opened by the other, answered with an echo reply and opened again
 * (IPv4 and IPv6, every cipher suite of dp_test_util.h); then what a
 * receiver must refuse: a bad ICV (RFC 4303 3.4.4), a replay (3.4.3), a
 * request where a reply is expected, a broken ICMP checksum (RFC 792,
 * RFC 4443 2.3), echo data that changed with the checksum intact, a
 * truncated inner packet, and a probe too short to carry its stamp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dataplane/probe.h"
#include "dp_test_util.h"

/* Client -> gateway and gateway -> client: each SA's two ends. */
struct ends {
	struct dp_esp_sa c_out, g_in, g_out, c_in;
};

static void ends_init(struct ends *e, const struct dpt_suite *s)
{
	struct dp_sa sa;

	dpt_sa(&sa, s, DP_DIR_OUT, 0x0a0b0c0d, false, 3);
	assert_int_equal(dp_esp_init(&e->c_out, &sa), 0);
	sa.dir = DP_DIR_IN;
	assert_int_equal(dp_esp_init(&e->g_in, &sa), 0);
	dpt_sa(&sa, s, DP_DIR_OUT, 0xc1c2c3c4, false, 9);
	assert_int_equal(dp_esp_init(&e->g_out, &sa), 0);
	sa.dir = DP_DIR_IN;
	assert_int_equal(dp_esp_init(&e->c_in, &sa), 0);
}

static void ends_clear(struct ends *e)
{
	dp_esp_clear(&e->c_out);
	dp_esp_clear(&e->g_in);
	dp_esp_clear(&e->g_out);
	dp_esp_clear(&e->c_in);
}

static struct dp_buf empty(uint8_t *buf)
{
	return (struct dp_buf){.base = buf, .cap = DP_PROBE_BUF_CAP, .off = DP_PROBE_HEADROOM};
}

static void probe_init(struct dp_probe *p, int family, size_t data_len)
{
	memset(p, 0, sizeof(*p));
	p->family = (sa_family_t)family;
	assert_int_equal(inet_pton(family, family == AF_INET ? "10.128.0.7" : "fd00::7", p->src),
	                 1);
	assert_int_equal(inet_pton(family, family == AF_INET ? "10.0.0.1" : "fd00::1", p->dst), 1);
	p->id = 0x5151;
	p->seq = 42;
	p->tag = 7;
	p->stamp = 0x0102030405060708ull;
	p->data_len = data_len;
}

static void check_same(const struct dp_probe *a, const struct dp_probe *b)
{
	assert_int_equal(a->family, b->family);
	assert_memory_equal(a->src, b->src, a->family == AF_INET ? 4 : 16);
	assert_memory_equal(a->dst, b->dst, a->family == AF_INET ? 4 : 16);
	assert_int_equal(a->id, b->id);
	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->tag, b->tag);
	assert_int_equal(a->stamp, b->stamp);
	assert_int_equal(a->data_len, b->data_len);
}

static void echo_round_trip(const struct dpt_suite *s, int family, size_t data_len)
{
	uint8_t buf[DP_PROBE_BUF_CAP];
	struct dp_buf b = empty(buf);
	struct dp_probe req, got, rep;
	struct ends e;
	uint64_t seq;

	ends_init(&e, s);
	probe_init(&req, family, data_len);
	assert_int_equal(dp_probe_seal(&e.c_out, &b, &req, false, false), DP_PROBE_OK);
	assert_true(b.len > dp_probe_len(&req));
	assert_int_equal(dp_probe_open(&e.g_in, &b, false, &got, &seq), DP_PROBE_OK);
	assert_int_equal(seq, 1);
	assert_int_equal(b.len, dp_probe_len(&req));
	check_same(&req, &got);
	/* The gateway's host answers: addresses swapped, data unchanged. */
	rep = got;
	memcpy(rep.src, got.dst, sizeof(rep.src));
	memcpy(rep.dst, got.src, sizeof(rep.dst));
	b = empty(buf);
	assert_int_equal(dp_probe_seal(&e.g_out, &b, &rep, true, false), DP_PROBE_OK);
	assert_int_equal(dp_probe_open(&e.c_in, &b, true, &got, &seq), DP_PROBE_OK);
	check_same(&rep, &got);
	ends_clear(&e);
}

static void test_round_trips(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dpt_suites) / sizeof(dpt_suites[0]); i++) {
		echo_round_trip(&dpt_suites[i], AF_INET, 56);
		echo_round_trip(&dpt_suites[i], AF_INET6, 56);
	}
	echo_round_trip(&dpt_suites[0], AF_INET, DP_PROBE_MIN_DATA);
	echo_round_trip(&dpt_suites[3], AF_INET6, DP_PROBE_MAX_DATA);
}

static void test_esp_refusals(void **state)
{
	uint8_t buf[DP_PROBE_BUF_CAP], copy[DP_PROBE_BUF_CAP];
	struct dp_buf b = empty(buf), c;
	struct dp_probe req, got;
	struct ends e;
	uint64_t seq;

	(void)state;
	ends_init(&e, &dpt_suites[3]); /* CBC + HMAC: the ICV is the integrity transform's */
	probe_init(&req, AF_INET, 64);
	/* A corrupted ICV: refused, and the window does not move. */
	assert_int_equal(dp_probe_seal(&e.c_out, &b, &req, false, true), DP_PROBE_OK);
	assert_int_equal(dp_probe_open(&e.g_in, &b, false, &got, &seq), DP_PROBE_AUTH);
	assert_int_equal(e.g_in.replay.top, 0);
	/* A good one, then the same datagram again: a replay. */
	b = empty(buf);
	assert_int_equal(dp_probe_seal(&e.c_out, &b, &req, false, false), DP_PROBE_OK);
	memcpy(copy, buf, sizeof(buf));
	c = b;
	c.base = copy;
	assert_int_equal(dp_probe_open(&e.g_in, &b, false, &got, &seq), DP_PROBE_OK);
	assert_int_equal(seq, 2);
	assert_int_equal(dp_probe_open(&e.g_in, &c, false, &got, &seq), DP_PROBE_REPLAY);
	/* A request where a reply is wanted (our own echo looped back). */
	b = empty(buf);
	assert_int_equal(dp_probe_seal(&e.c_out, &b, &req, false, false), DP_PROBE_OK);
	assert_int_equal(dp_probe_open(&e.g_in, &b, true, &got, &seq), DP_PROBE_NOT_ECHO);
	/* Too short to carry the stamp: not built. */
	req.data_len = DP_PROBE_MIN_DATA - 1;
	b = empty(buf);
	assert_int_equal(dp_probe_seal(&e.c_out, &b, &req, false, false), DP_PROBE_ERROR);
	ends_clear(&e);
}

/* An opened request in buf/b, to be damaged by the caller. */
static void opened(struct ends *e, int family, uint8_t *buf, struct dp_buf *b)
{
	struct dp_probe req, got;
	uint64_t seq;

	probe_init(&req, family, 64);
	*b = empty(buf);
	assert_int_equal(dp_probe_seal(&e->c_out, b, &req, false, false), DP_PROBE_OK);
	assert_int_equal(dp_probe_open(&e->g_in, b, false, &got, &seq), DP_PROBE_OK);
}

static void test_inner_refusals(void **state)
{
	uint8_t buf[DP_PROBE_BUF_CAP];
	struct dp_buf b;
	struct dp_probe got;
	struct ends e;
	int fams[2] = {AF_INET, AF_INET6};

	(void)state;
	ends_init(&e, &dpt_suites[0]);
	for (int i = 0; i < 2; i++) {
		size_t data = fams[i] == AF_INET ? 28 : 48; /* IP + ICMP headers */
		uint8_t *d;

		/* One octet of the data changed: the checksum catches it. */
		opened(&e, fams[i], buf, &b);
		d = dp_buf_at(&b, data + 20, 1);
		d[0] ^= 0x40;
		assert_int_equal(dp_probe_parse(&b, false, &got), DP_PROBE_CHECKSUM);
		/* Two 16-bit words of the pattern swapped: the sum holds, the data is not ours. */
		opened(&e, fams[i], buf, &b);
		d = dp_buf_at(&b, data + 16, 4);
		uint8_t t[2] = {d[0], d[1]};
		memcpy(d, d + 2, 2);
		memcpy(d + 2, t, 2);
		assert_int_equal(dp_probe_parse(&b, false, &got), DP_PROBE_FOREIGN);
		/* Cut short: the IP length says more than there is. */
		opened(&e, fams[i], buf, &b);
		assert_int_equal(dp_buf_trim(&b, 1), 0);
		assert_int_equal(dp_probe_parse(&b, false, &got), DP_PROBE_NOT_IP);
	}
	/* Not IP at all. */
	opened(&e, AF_INET, buf, &b);
	dp_buf_at(&b, 0, 1)[0] = 0x55;
	assert_int_equal(dp_probe_parse(&b, false, &got), DP_PROBE_NOT_IP);
	assert_string_equal(dp_probe_result_name(DP_PROBE_AUTH), "auth");
	ends_clear(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trips),
	    cmocka_unit_test(test_esp_refusals),
	    cmocka_unit_test(test_inner_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
