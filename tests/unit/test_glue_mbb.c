/*
 * Make-before-break across Child SAs with different reqids (a client
 * redirected to another gateway, RFC 5685 6): the engine installs the new
 * pair B (reqid 2, other outer addresses, the same selectors) through
 * dpglue while the old pair A (reqid 1) is still up, then deletes A. Run
 * on the userspace data plane in a private network namespace (skipped
 * when unshare is not allowed): a local socket sends into the TUN route
 * and the test sees which "gateway" socket receives the ESP, and with
 * which SPI, after every step, so traffic never stops. Both orders of
 * removal.
 *
 *   app 10.1.0.1 --TUN--> dp (127.0.0.1:4500) --ESP--> A 127.0.0.2:4500 (reqid 1)
 *                                               \-----> B 127.0.0.3:4500 (reqid 2)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/dpglue.h"
#include "dataplane/dp.h"
#include "ike/ike.h"
#include "util/log.h"
#include "wire/ikev2.h"

#define NATT 4500

struct env {
	struct event_base *base;
	struct dpglue *g;
	int dp_sock, gw_a, gw_b, app;
};

static struct env env;

static void sin_set(struct sockaddr_storage *ss, const char *addr, uint16_t port)
{
	struct sockaddr_in *s = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, addr, &s->sin_addr), 1);
}

static int udp_bound(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	sin_set(&ss, addr, port);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)), 0);
	return fd;
}

static void ts_prefix(struct cfg_ts *ts, const char *lo, const char *hi)
{
	memset(ts, 0, sizeof(*ts));
	ts->type = IKEV2_TS_IPV4_ADDR_RANGE;
	ts->end_port = 65535;
	assert_int_equal(inet_pton(AF_INET, lo, ts->start), 1);
	assert_int_equal(inet_pton(AF_INET, hi, ts->end), 1);
}

/* A Child SA with the test's selectors (10.1.0.1 <-> 10.2.0.0/24) to gw. */
static void child(struct ike_child_info *c, uint32_t reqid, const char *gw, uint32_t spi_out)
{
	struct crypto_encr_info info;
	struct sockaddr_storage ss;

	memset(c, 0, sizeof(*c));
	c->conn = "roadwarrior";
	c->ike_serial = reqid;
	c->reqid = reqid;
	c->spi_out = spi_out;
	c->spi_in = spi_out + 1;
	sin_set(&ss, "127.0.0.1", NATT);
	addr_set_ss(&c->local, &ss);
	sin_set(&ss, gw, NATT);
	addr_set_ss(&c->remote, &ss);
	c->natt = c->encap = true;
	c->encr = IKEV2_ENCR_AES_GCM_16;
	c->encr_keybits = 128;
	c->integ = IKEV2_AUTH_NONE;
	assert_int_equal(crypto_encr_info(c->encr, c->encr_keybits, &info), 0);
	c->key_e_len = info.key_len;
	memset(c->key_in_e, (int)reqid, c->key_e_len);
	memset(c->key_out_e, (int)reqid + 0x10, c->key_e_len);
	ts_prefix(&c->ts_local.ts[0], "10.1.0.1", "10.1.0.1");
	ts_prefix(&c->ts_remote.ts[0], "10.2.0.0", "10.2.0.255");
	c->ts_local.n = c->ts_remote.n = 1;
}

/* Runs the loop until fd is readable; false after about 1 s. */
static bool pump(int fd)
{
	for (int t = 0; t < 200; t++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		event_base_loop(env.base, EVLOOP_NONBLOCK);
		if (poll(&p, 1, 5) == 1)
			return true;
	}
	return false;
}

static void drain(int fd)
{
	char buf[2048];

	while (recv(fd, buf, sizeof(buf), 0) > 0)
		;
}

/* One packet from the app; the SPI it arrives with at `want_fd`, and
 * nothing at `other_fd`. */
static void expect_esp(int want_fd, int other_fd, uint32_t want_spi)
{
	struct sockaddr_storage dst;
	uint8_t buf[2048];
	ssize_t n;
	uint32_t spi;

	drain(want_fd);
	drain(other_fd);
	sin_set(&dst, "10.2.0.5", 7777);
	event_base_loop(env.base, EVLOOP_NONBLOCK); /* the routes (dp_policy_add) */
	assert_int_equal(
	    sendto(env.app, "ping", 4, 0, (struct sockaddr *)&dst, sizeof(struct sockaddr_in)), 4);
	assert_true(pump(want_fd));
	n = recv(want_fd, buf, sizeof(buf), 0);
	assert_true(n > 8);
	memcpy(&spi, buf, 4);
	assert_int_equal(ntohl(spi), want_spi);
	assert_true(recv(other_fd, buf, sizeof(buf), 0) < 0);
}

/* With no policy left, the packet is dropped for want of one. */
static void expect_no_policy(void)
{
	struct sockaddr_storage dst;
	struct dp_stats before, after;

	dpglue_stats(env.g, &before);
	sin_set(&dst, "10.2.0.5", 7777);
	/* No TUN route is left either: the kernel may refuse at once. */
	event_base_loop(env.base, EVLOOP_NONBLOCK); /* the routes (dp_policy_add) */
	(void)!sendto(env.app, "ping", 4, 0, (struct sockaddr *)&dst, sizeof(struct sockaddr_in));
	for (int i = 0; i < 20; i++)
		event_base_loop(env.base, EVLOOP_NONBLOCK);
	dpglue_stats(env.g, &after);
	assert_int_equal(after.tx_packets, before.tx_packets);
	assert_false(pump(env.gw_a) || pump(env.gw_b));
}

static int setup(void **state)
{
	char why[256];

	if (unshare(CLONE_NEWNET)) {
		print_message("cannot unshare the network namespace (%s): skipped\n",
		              strerror(errno));
		exit(77);
	}
	/* Inside the test's own namespace only. */
	if (system("ip link set lo up && ip addr add 10.1.0.1/32 dev lo") != 0) {
		print_message("cannot configure lo with ip(8): skipped\n");
		exit(77);
	}
	log_init("test_glue_mbb", LOG_TARGET_STDERR, LOG_WARNING);
	env.base = event_base_new();
	assert_non_null(env.base);
	env.g = dpglue_new(env.base, CFG_DP_USERSPACE, 500, NATT, why, sizeof(why));
	if (!env.g)
		fail_msg("dpglue_new: %s", why);
	env.dp_sock = udp_bound("127.0.0.1", NATT);
	env.gw_a = udp_bound("127.0.0.2", NATT);
	env.gw_b = udp_bound("127.0.0.3", NATT);
	env.app = udp_bound("10.1.0.1", 9999);
	assert_int_equal(dpglue_set_sockets(env.g, env.dp_sock, -1), 0);
	return 0;
}

static int teardown(void **state)
{
	dpglue_free(env.g);
	close(env.dp_sock);
	close(env.gw_a);
	close(env.gw_b);
	close(env.app);
	event_base_free(env.base);
	return 0;
}

/* A up; B (the new gateway) up: B takes the traffic; A goes; B keeps it. */
static void test_old_removed_first(void **state)
{
	struct ike_child_info a, b;

	child(&a, 1, "127.0.0.2", 0xa000);
	child(&b, 2, "127.0.0.3", 0xb000);
	assert_int_equal(dpglue_child_up(env.g, &a), 0);
	expect_esp(env.gw_a, env.gw_b, 0xa000);
	assert_int_equal(dpglue_child_up(env.g, &b), 0);
	expect_esp(env.gw_b, env.gw_a, 0xb000);
	dpglue_child_down(env.g, &a);
	assert_int_equal(dpglue_nchildren(env.g), 1);
	expect_esp(env.gw_b, env.gw_a, 0xb000);
	dpglue_child_down(env.g, &b);
	assert_int_equal(dpglue_nchildren(env.g), 0);
	expect_no_policy();
}

/* The new pair goes first (e.g. its IKE SA failed): the old one gets the
 * policy back and carries the traffic again. */
static void test_new_removed_first(void **state)
{
	struct ike_child_info a, b;

	child(&a, 1, "127.0.0.2", 0xa100);
	child(&b, 2, "127.0.0.3", 0xb100);
	assert_int_equal(dpglue_child_up(env.g, &a), 0);
	assert_int_equal(dpglue_child_up(env.g, &b), 0);
	expect_esp(env.gw_b, env.gw_a, 0xb100);
	dpglue_child_down(env.g, &b);
	expect_esp(env.gw_a, env.gw_b, 0xa100);
	dpglue_child_down(env.g, &a);
	expect_no_policy();
}

/* A rekey of B (same reqid) while A is still up, then both old pairs go:
 * the policy ends with the newest pair. */
static void test_rekey_during_redirect(void **state)
{
	struct ike_child_info a, b, b2;

	child(&a, 1, "127.0.0.2", 0xa200);
	child(&b, 2, "127.0.0.3", 0xb200);
	child(&b2, 2, "127.0.0.3", 0xb210);
	assert_int_equal(dpglue_child_up(env.g, &a), 0);
	assert_int_equal(dpglue_child_up(env.g, &b), 0);
	assert_int_equal(dpglue_child_up(env.g, &b2), 0);
	expect_esp(env.gw_b, env.gw_a, 0xb210); /* the newest SA of reqid 2 */
	dpglue_child_down(env.g, &b);
	expect_esp(env.gw_b, env.gw_a, 0xb210);
	dpglue_child_down(env.g, &a);
	expect_esp(env.gw_b, env.gw_a, 0xb210);
	dpglue_child_down(env.g, &b2);
	expect_no_policy();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_old_removed_first),
	    cmocka_unit_test(test_new_removed_first),
	    cmocka_unit_test(test_rekey_during_redirect),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
