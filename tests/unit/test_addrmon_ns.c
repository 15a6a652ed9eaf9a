/*
 * The address monitor against the real kernel, in a private network
 * namespace (unshare(CLONE_NEWNET); skipped when not allowed or without
 * ip(8)). Topology, all inside the namespace (it and the veth pair vanish
 * with the process):
 *
 *     va [192.0.2.1/24, 2001:db8::1/64] <--veth--> vb
 *
 * Checks that addresses removed or added, and a link losing its carrier,
 * reach the report callback (RFC 4555 3.5 depends on it), and that the
 * route hook answers with the kernel's source address. It prints how long
 * each change took to reach the callback and what a route query costs:
 * figures, not assertions (timing targets belong in bench/).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/addrmon.h"

#define WAIT_MS 3000 /* bound on waiting for one report (not a target) */

struct env {
	struct event_base *base;
	struct addrmon *am;
	int reports;
	size_t n;
	struct ike_addr addrs[ADDRMON_MAX_ADDRS];
	uint64_t t_report; /* ns, CLOCK_MONOTONIC */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_report(void *ctx, const struct ike_addr *addrs, size_t n)
{
	struct env *e = ctx;

	e->t_report = now_ns();
	e->reports++;
	e->n = n;
	memcpy(e->addrs, addrs, n * sizeof(*addrs));
}

static bool has(const struct env *e, const char *text)
{
	struct ike_addr a;

	assert_int_equal(addr_parse(&a, text), 0);
	for (size_t i = 0; i < e->n; i++)
		if (addr_equal_host(&e->addrs[i], &a))
			return true;
	return false;
}

static void sh(const char *cmd)
{
	if (system(cmd) != 0)
		fail_msg("%s failed", cmd);
}

/* Run the loop until the next report (bounded); the reports it took. */
static int wait_report(struct env *e, int before)
{
	uint64_t end = now_ns() + (uint64_t)WAIT_MS * 1000000u;
	struct timeval tick = {0, 10000};

	while (e->reports == before && now_ns() < end) {
		event_base_loopexit(e->base, &tick);
		event_base_dispatch(e->base);
	}
	assert_true(e->reports > before);
	return e->reports - before;
}

/* Remove an address with one rtnetlink request, the clock started just
 * before it is sent (ip(8) would add its own start-up time). */
static void nl_addr_del(const char *ifname, const char *text, unsigned plen)
{
	uint8_t buf[MNL_SOCKET_BUFFER_SIZE] __attribute__((aligned(8)));
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifaddrmsg *ifa;
	uint8_t a[4];

	assert_non_null(nl);
	assert_int_equal(mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0);
	assert_int_equal(inet_pton(AF_INET, text, a), 1);
	nlh->nlmsg_type = RTM_DELADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = 1;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (uint8_t)plen;
	ifa->ifa_index = if_nametoindex(ifname);
	mnl_attr_put(nlh, IFA_LOCAL, 4, a);
	assert_true(mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) > 0);
	ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	assert_true(n > 0);
	assert_true(mnl_cb_run(buf, (size_t)n, 1, mnl_socket_get_portid(nl), NULL, NULL) >= 0);
	mnl_socket_close(nl);
}

static int setup(void **state)
{
	static struct env e;

	if (unshare(CLONE_NEWNET)) {
		print_message("cannot unshare the network namespace (%s): skipped\n",
		              strerror(errno));
		exit(77);
	}
	if (system("ip -V >/dev/null 2>&1") != 0) {
		print_message("no ip(8): skipped\n");
		exit(77);
	}
	sh("ip link set lo up && ip link add va type veth peer name vb && "
	   "ip link set va up && ip link set vb up && "
	   "ip addr add 192.0.2.1/24 dev va && ip addr add 2001:db8::1/64 dev va nodad");
	e.base = event_base_new();
	assert_non_null(e.base);
	e.am = addrmon_new(e.base, on_report, &e);
	assert_non_null(e.am);
	*state = &e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	addrmon_free(e->am);
	event_base_free(e->base);
	return 0;
}

static double us_since(const struct env *e, uint64_t t0)
{
	return (double)(e->t_report - t0) / 1000.0;
}

static void test_changes_reach_callback(void **state)
{
	struct env *e = *state;
	uint64_t t0;
	int r;

	/* The start-up dump; veth carrier may still be coming up. */
	addrmon_flush(e->am);
	for (int i = 0; i < 100 && !has(e, "192.0.2.1"); i++)
		wait_report(e, e->reports);
	assert_true(has(e, "192.0.2.1"));
	assert_true(has(e, "2001:db8::1"));
	assert_false(has(e, "127.0.0.1"));

	t0 = now_ns();
	nl_addr_del("va", "192.0.2.1", 24);
	r = wait_report(e, e->reports);
	assert_false(has(e, "192.0.2.1"));
	print_message("RTM_DELADDR sent -> callback: %.0f us (%d report)\n", us_since(e, t0), r);

	t0 = now_ns();
	sh("ip addr add 192.0.2.7/24 dev va");
	r = wait_report(e, e->reports);
	assert_true(has(e, "192.0.2.7"));
	print_message("ip addr add -> callback: %.0f us (%d report)\n", us_since(e, t0), r);

	t0 = now_ns();
	sh("ip addr del 192.0.2.7/24 dev va");
	r = wait_report(e, e->reports);
	assert_false(has(e, "192.0.2.7"));
	print_message("ip addr del -> callback: %.0f us, ip(8) included (%d report)\n",
	              us_since(e, t0), r);

	/* The peer end goes down: va loses its carrier, its addresses go. */
	sh("ip addr add 192.0.2.1/24 dev va");
	wait_report(e, e->reports);
	t0 = now_ns();
	sh("ip link set vb down");
	r = wait_report(e, e->reports);
	for (int i = 0; i < 50 && (has(e, "2001:db8::1") || has(e, "192.0.2.1")); i++)
		r += wait_report(e, e->reports);
	assert_false(has(e, "192.0.2.1"));
	assert_false(has(e, "2001:db8::1"));
	print_message("ip link set (peer) down -> callback without va's addresses: %.0f us "
	              "(%d report(s))\n",
	              us_since(e, t0), r);
	sh("ip link set vb up");
	for (int i = 0; i < 50 && !has(e, "192.0.2.1"); i++)
		wait_report(e, e->reports);
	assert_true(has(e, "192.0.2.1"));
}

static void test_route_hook(void **state)
{
	struct env *e = *state;
	struct ike_addr dst, src, want;
	struct addrmon_stats st;
	uint64_t t0;
	const int n = 1000;

	sh("ip addr add 192.0.2.3/24 dev va && ip route add 203.0.113.0/24 dev va src 192.0.2.3");
	assert_int_equal(addr_parse(&dst, "192.0.2.2"), 0);
	assert_int_equal(addrmon_route(e->am, &dst, &src), 0);
	assert_int_equal(addr_parse(&want, "192.0.2.1"), 0);
	assert_true(addr_equal_host(&src, &want));
	assert_int_equal(addr_parse(&dst, "203.0.113.5"), 0);
	assert_int_equal(addrmon_route(e->am, &dst, &src), 0);
	assert_int_equal(addr_parse(&want, "192.0.2.3"), 0);
	assert_true(addr_equal_host(&src, &want));
	assert_int_equal(addr_parse(&dst, "2001:db8::2"), 0);
	assert_int_equal(addrmon_route(e->am, &dst, &src), 0);
	assert_int_equal(addr_parse(&want, "2001:db8::1"), 0);
	assert_true(addr_equal_host(&src, &want));
	/* No default route in here. */
	assert_int_equal(addr_parse(&dst, "198.51.100.1"), 0);
	assert_int_equal(addrmon_route(e->am, &dst, &src), -1);
	assert_int_equal(addr_parse(&dst, "192.0.2.2"), 0);
	t0 = now_ns();
	for (int i = 0; i < n; i++)
		assert_int_equal(addrmon_route(e->am, &dst, &src), 0);
	print_message("route hook: %.1f us per RTM_GETROUTE (%d queries)\n",
	              (double)(now_ns() - t0) / 1000.0 / n, n);
	addrmon_stats(e->am, &st);
	assert_int_equal(st.route_failed, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_changes_reach_callback),
	    cmocka_unit_test(test_route_hook),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
