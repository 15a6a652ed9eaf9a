/*
 * The address monitor's rtnetlink parsing (src/daemon/addrmon.c), with
 * messages built in memory with libmnl: which addresses are usable
 * (RFC 4555 3.5 needs the host's real paths), one report per burst, route
 * changes, and the answer to RTM_GETROUTE. No sockets: addrmon_new(NULL).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>

#include "daemon/addrmon.h"

#define UPRUN (IFF_UP | IFF_RUNNING)

struct batch {
	uint8_t buf[16384] __attribute__((aligned(8)));
	size_t len;
};

struct seen {
	int reports;
	size_t n;
	struct ike_addr addrs[ADDRMON_MAX_ADDRS];
};

static void on_report(void *ctx, const struct ike_addr *addrs, size_t n)
{
	struct seen *s = ctx;

	s->reports++;
	s->n = n;
	memcpy(s->addrs, addrs, n * sizeof(*addrs));
}

static struct nlmsghdr *put(struct batch *b, uint16_t type)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(b->buf + b->len);

	nlh->nlmsg_type = type;
	return nlh;
}

static void done(struct batch *b, struct nlmsghdr *nlh)
{
	b->len += nlh->nlmsg_len;
	assert_true(b->len < sizeof(b->buf) - 512);
}

static void link_msg(struct batch *b, uint16_t type, int ifindex, unsigned flags, const char *name)
{
	struct nlmsghdr *nlh = put(b, type);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = flags;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	done(b, nlh);
}

/* An address message; ifa_flags in the header (8 bits) and IFA_FLAGS (32). */
static void addr_msg(struct batch *b, uint16_t type, int ifindex, const char *text, uint32_t flags,
                     uint8_t scope)
{
	struct nlmsghdr *nlh = put(b, type);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	uint8_t a[16];
	int family = strchr(text, ':') ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(family, text, a), 1);
	ifa->ifa_family = (uint8_t)family;
	ifa->ifa_prefixlen = family == AF_INET ? 24 : 64;
	ifa->ifa_flags = (uint8_t)flags;
	ifa->ifa_scope = scope;
	ifa->ifa_index = (unsigned)ifindex;
	mnl_attr_put(nlh, IFA_ADDRESS, family == AF_INET ? 4 : 16, a);
	if (family == AF_INET)
		mnl_attr_put(nlh, IFA_LOCAL, 4, a);
	mnl_attr_put_u32(nlh, IFA_FLAGS, flags);
	done(b, nlh);
}

static void route_msg(struct batch *b, uint16_t type, uint8_t table, uint8_t rtype, unsigned flags,
                      int oif)
{
	struct nlmsghdr *nlh = put(b, type);
	struct rtmsg *rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));

	rt->rtm_family = AF_INET;
	rt->rtm_table = table;
	rt->rtm_type = rtype;
	rt->rtm_flags = flags;
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)oif);
	done(b, nlh);
}

static void feed(struct addrmon *am, struct batch *b)
{
	assert_int_equal(addrmon_input(am, b->buf, b->len), 0);
	b->len = 0;
}

static bool has(const struct seen *s, const char *text)
{
	struct ike_addr a;

	assert_int_equal(addr_parse(&a, text), 0);
	for (size_t i = 0; i < s->n; i++)
		if (addr_equal_host(&s->addrs[i], &a))
			return true;
	return false;
}

struct env {
	struct addrmon *am;
	struct seen seen;
	struct batch b;
};

/* lo (1) with 127.0.0.1 and ::1, eth0 (2) up with 192.0.2.1, eth1 (3) up. */
static int setup(void **state)
{
	static struct env e;

	memset(&e, 0, sizeof(e));
	e.am = addrmon_new(NULL, on_report, &e.seen);
	assert_non_null(e.am);
	link_msg(&e.b, RTM_NEWLINK, 1, UPRUN | IFF_LOOPBACK, "lo");
	link_msg(&e.b, RTM_NEWLINK, 2, UPRUN, "eth0");
	link_msg(&e.b, RTM_NEWLINK, 3, UPRUN, "eth1");
	addr_msg(&e.b, RTM_NEWADDR, 1, "127.0.0.1", IFA_F_PERMANENT, RT_SCOPE_HOST);
	addr_msg(&e.b, RTM_NEWADDR, 1, "::1", IFA_F_PERMANENT, RT_SCOPE_HOST);
	addr_msg(&e.b, RTM_NEWADDR, 2, "192.0.2.1", IFA_F_PERMANENT, RT_SCOPE_UNIVERSE);
	feed(e.am, &e.b);
	addrmon_flush(e.am);
	*state = &e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	addrmon_free(e->am);
	return 0;
}

static void test_initial_set(void **state)
{
	struct env *e = *state;
	size_t n;

	/* The first flush reports, loopback excluded. */
	assert_int_equal(e->seen.reports, 1);
	assert_int_equal(e->seen.n, 1);
	assert_true(has(&e->seen, "192.0.2.1"));
	assert_non_null(addrmon_addrs(e->am, &n));
	assert_int_equal(n, 1);
	assert_int_equal(addr_port(&e->seen.addrs[0]), 0);
	/* Nothing changed: no second report. */
	addrmon_flush(e->am);
	assert_int_equal(e->seen.reports, 1);
}

static void test_add_del(void **state)
{
	struct env *e = *state;

	addr_msg(&e->b, RTM_NEWADDR, 3, "198.51.100.7", 0, RT_SCOPE_UNIVERSE);
	feed(e->am, &e->b);
	addrmon_flush(e->am);
	assert_int_equal(e->seen.reports, 2);
	assert_int_equal(e->seen.n, 2);
	assert_true(has(&e->seen, "198.51.100.7"));
	/* The same address again (a flags update): no report. */
	addr_msg(&e->b, RTM_NEWADDR, 3, "198.51.100.7", IFA_F_PERMANENT, RT_SCOPE_UNIVERSE);
	feed(e->am, &e->b);
	addrmon_flush(e->am);
	assert_int_equal(e->seen.reports, 2);
	addr_msg(&e->b, RTM_DELADDR, 3, "198.51.100.7", 0, RT_SCOPE_UNIVERSE);
	feed(e->am, &e->b);
	addrmon_flush(e->am);
	assert_int_equal(e->seen.reports, 3);
	assert_int_equal(e->seen.n, 1);
	assert_false(has(&e->seen, "198.51.100.7"));
	/* Deleting an address we never saw changes nothing. */
	addr_msg(&e->b, RTM_DELADDR, 3, "203.0.113.9", 0, RT_SCOPE_UNIVERSE);
	feed(e->am, &e->b);
	addrmon_flush(e->am);
	assert_int_equal(e->seen.reports, 3);
}

/* A link that goes down takes its addresses out of the set (IPv4 ones stay
 * configured: they come back with the link); a removed link forgets them. */
static void test_link_down_up_removed(void **state)
{
	struct env *e = *state;

	link_msg(&e->b, RTM_NEWLINK, 2, IFF_UP, "eth0"); /* carrier lost */
	feed(e->am, &e->b);
	addrmon_flush(e->am);
	assert_int_equal(e->seen.reports, 2);
	assert_int_equal(e->seen.n, 0);
	link_msg(&e->b, RTM_NEWLINK, 2, UPRUN, "eth0");
	feed(e->am, &e->b);
	addrmon_flush(e->am);
	assert_int_equal(e->seen.reports, 3);
	assert_true(has(&e->seen, "192.0.2.1"));
	link_msg(&e->b, RTM_DELLINK, 2, 0, "eth0");
	feed(e->am, &e->b);
	addrmon_flush(e->am);
	assert_int_equal(e->seen.n, 0);
	link_msg(&e->b, RTM_NEWLINK, 2, UPRUN, "eth0"); /* back, without its address */
	feed(e->am, &e->b);
	addrmon_flush(e->am);
	assert_int_equal(e->seen.reports, 4);
	assert_int_equal(e->seen.n, 0);
}

/* RFC 4862 5.4, 5.5.4; RFC 4291 2.5.6: not tentative, failed or deprecated
 * addresses, not link-local. */
static void test_ipv6_states(void **state)
{
	struct env *e = *state;

	addr_msg(&e->b, RTM_NEWADDR, 3, "2001:db8::1", IFA_F_TENTATIVE, RT_SCOPE_UNIVERSE);
	addr_msg(&e->b, RTM_NEWADDR, 3, "2001:db8::2", IFA_F_DEPRECATED, RT_SCOPE_UNIVERSE);
	addr_msg(&e->b, RTM_NEWADDR, 3, "2001:db8::3", IFA_F_DADFAILED | IFA_F_TENTATIVE,
	         RT_SCOPE_UNIVERSE);
	addr_msg(&e->b, RTM_NEWADDR, 3, "fe80::1", IFA_F_PERMANENT, RT_SCOPE_LINK);
	addr_msg(&e->b, RTM_NEWADDR, 3, "fe80::2", 0, RT_SCOPE_UNIVERSE); /* scope lies */
	feed(e->am, &e->b);
	addrmon_flush(e->am);
	assert_int_equal(e->seen.reports, 1); /* nothing usable was added */
	/* DAD done: the kernel sends the address again without TENTATIVE. */
	addr_msg(&e->b, RTM_NEWADDR, 3, "2001:db8::1", IFA_F_PERMANENT, RT_SCOPE_UNIVERSE);
	feed(e->am, &e->b);
	addrmon_flush(e->am);
	assert_int_equal(e->seen.reports, 2);
	assert_int_equal(e->seen.n, 2);
	assert_true(has(&e->seen, "2001:db8::1"));
	/* Deprecated later (preferred lifetime over): gone from the set. */
	addr_msg(&e->b, RTM_NEWADDR, 3, "2001:db8::1", IFA_F_DEPRECATED, RT_SCOPE_UNIVERSE);
	feed(e->am, &e->b);
	addrmon_flush(e->am);
	assert_int_equal(e->seen.reports, 3);
	assert_false(has(&e->seen, "2001:db8::1"));
}

/* Many events read in one wakeup: one report with the final set. */
static void test_burst_one_report(void **state)
{
	struct env *e = *state;
	char text[32];

	for (int i = 1; i <= 20; i++) {
		snprintf(text, sizeof(text), "10.0.%d.1", i);
		addr_msg(&e->b, RTM_NEWADDR, 3, text, 0, RT_SCOPE_UNIVERSE);
	}
	addr_msg(&e->b, RTM_DELADDR, 2, "192.0.2.1", 0, RT_SCOPE_UNIVERSE);
	addr_msg(&e->b, RTM_DELADDR, 3, "10.0.20.1", 0, RT_SCOPE_UNIVERSE);
	feed(e->am, &e->b);
	addrmon_flush(e->am);
	assert_int_equal(e->seen.reports, 2);
	assert_int_equal(e->seen.n, 19);
	assert_false(has(&e->seen, "192.0.2.1"));
	assert_false(has(&e->seen, "10.0.20.1"));
	assert_true(has(&e->seen, "10.0.19.1"));
}

/* A change of the main routing table reports the (same) set again: paths
 * may have changed (RFC 4555 3.5); local-table and cloned routes do not. */
static void test_route_changes(void **state)
{
	struct env *e = *state;

	assert_int_equal(addrmon_ignore_link(e->am, "rike0"), 0);
	link_msg(&e->b, RTM_NEWLINK, 9, UPRUN, "rike0");
	route_msg(&e->b, RTM_NEWROUTE, RT_TABLE_LOCAL, RTN_LOCAL, 0, 2);
	route_msg(&e->b, RTM_NEWROUTE, RT_TABLE_MAIN, RTN_UNICAST, RTM_F_CLONED, 2);
	route_msg(&e->b, RTM_NEWROUTE, RT_TABLE_MAIN, RTN_UNICAST, 0, 9); /* the TUN's */
	feed(e->am, &e->b);
	addrmon_flush(e->am);
	assert_int_equal(e->seen.reports, 1);
	route_msg(&e->b, RTM_DELROUTE, RT_TABLE_MAIN, RTN_UNICAST, 0, 2);
	feed(e->am, &e->b);
	addrmon_flush(e->am);
	assert_int_equal(e->seen.reports, 2);
	assert_int_equal(e->seen.n, 1);
	addrmon_flush(e->am);
	assert_int_equal(e->seen.reports, 2);
}

/* Virtual IPs on the data plane's TUN device are not paths. */
static void test_ignored_link(void **state)
{
	struct env *e = *state;

	assert_int_equal(addrmon_ignore_link(e->am, "rike0"), 0);
	link_msg(&e->b, RTM_NEWLINK, 9, UPRUN, "rike0");
	addr_msg(&e->b, RTM_NEWADDR, 9, "10.99.0.2", 0, RT_SCOPE_UNIVERSE);
	feed(e->am, &e->b);
	addrmon_flush(e->am);
	assert_int_equal(e->seen.reports, 1);
	assert_false(has(&e->seen, "10.99.0.2"));
	/* Not usable for paths, but local all the same (dpglue's question:
	 * routes to a Child SA's selectors take it as their source). */
	struct ike_addr a;

	assert_int_equal(addr_parse(&a, "10.99.0.2"), 0);
	assert_int_equal(addrmon_is_local(e->am, &a), 1);
	assert_int_equal(addr_parse(&a, "10.99.0.3"), 0);
	assert_int_equal(addrmon_is_local(e->am, &a), 0);
	addr_msg(&e->b, RTM_DELADDR, 9, "10.99.0.2", 0, RT_SCOPE_UNIVERSE);
	feed(e->am, &e->b);
	assert_int_equal(addr_parse(&a, "10.99.0.2"), 0);
	assert_int_equal(addrmon_is_local(e->am, &a), 0);
}

/* The same address on two links counts once; a point-to-point address is
 * the local one (IFA_LOCAL), not the peer's (IFA_ADDRESS). */
static void test_duplicates_and_ptp(void **state)
{
	struct env *e = *state;
	struct nlmsghdr *nlh = put(&e->b, RTM_NEWADDR);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	uint8_t local[4] = {100, 64, 0, 1}, peer[4] = {100, 64, 0, 2};

	ifa->ifa_family = AF_INET;
	ifa->ifa_index = 3;
	mnl_attr_put(nlh, IFA_ADDRESS, 4, peer);
	mnl_attr_put(nlh, IFA_LOCAL, 4, local);
	done(&e->b, nlh);
	addr_msg(&e->b, RTM_NEWADDR, 3, "192.0.2.1", 0, RT_SCOPE_UNIVERSE);
	feed(e->am, &e->b);
	addrmon_flush(e->am);
	assert_int_equal(e->seen.n, 2);
	assert_true(has(&e->seen, "100.64.0.1"));
	assert_false(has(&e->seen, "100.64.0.2"));
}

/* Truncated or odd messages: an error or nothing, never a crash. */
static void test_malformed(void **state)
{
	struct env *e = *state;
	struct nlmsghdr *nlh;

	/* An address attribute of the wrong length is skipped. */
	nlh = put(&e->b, RTM_NEWADDR);
	((struct ifaddrmsg *)mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifaddrmsg)))
	    ->ifa_family = AF_INET;
	mnl_attr_put(nlh, IFA_LOCAL, 3, "abc");
	done(&e->b, nlh);
	/* An unknown family is skipped. */
	nlh = put(&e->b, RTM_NEWADDR);
	((struct ifaddrmsg *)mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifaddrmsg)))
	    ->ifa_family = AF_PACKET;
	done(&e->b, nlh);
	feed(e->am, &e->b);
	/* A link message too short for its header is an error. */
	nlh = put(&e->b, RTM_NEWLINK);
	nlh->nlmsg_len = MNL_NLMSG_HDRLEN + 4;
	e->b.len += nlh->nlmsg_len;
	assert_int_equal(addrmon_input(e->am, e->b.buf, e->b.len), -1);
	/* A length past the buffer is an error too. */
	assert_int_equal(addrmon_input(e->am, e->b.buf, 10), -1);
	addrmon_flush(e->am);
	assert_int_equal(e->seen.reports, 1);
	assert_int_equal(e->seen.n, 1);
}

static void route_reply(struct batch *b, int family, const char *prefsrc, int oif)
{
	struct nlmsghdr *nlh = put(b, RTM_NEWROUTE);
	struct rtmsg *rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));
	uint8_t a[16];

	rt->rtm_family = (uint8_t)family;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_type = RTN_UNICAST;
	if (prefsrc) {
		assert_int_equal(inet_pton(family, prefsrc, a), 1);
		mnl_attr_put(nlh, RTA_PREFSRC, family == AF_INET ? 4 : 16, a);
	}
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)oif);
	done(b, nlh);
}

static void test_route_reply(void **state)
{
	struct env *e = *state;
	struct ike_addr src, want;
	struct nlmsghdr *nlh;
	struct nlmsgerr *err;

	route_reply(&e->b, AF_INET, "192.0.2.1", 2);
	assert_int_equal(addrmon_route_reply(e->am, e->b.buf, e->b.len, AF_INET, &src), 0);
	assert_int_equal(addr_parse(&want, "192.0.2.1"), 0);
	assert_true(addr_equal_host(&src, &want));
	e->b.len = 0;
	/* No RTA_PREFSRC: the first usable address of the outgoing link. */
	addr_msg(&e->b, RTM_NEWADDR, 3, "2001:db8::1", IFA_F_TENTATIVE, RT_SCOPE_UNIVERSE);
	addr_msg(&e->b, RTM_NEWADDR, 3, "203.0.113.5", 0, RT_SCOPE_UNIVERSE);
	addr_msg(&e->b, RTM_NEWADDR, 3, "2001:db8::2", 0, RT_SCOPE_UNIVERSE);
	feed(e->am, &e->b);
	route_reply(&e->b, AF_INET6, NULL, 3);
	assert_int_equal(addrmon_route_reply(e->am, e->b.buf, e->b.len, AF_INET6, &src), 0);
	assert_int_equal(addr_parse(&want, "2001:db8::2"), 0);
	assert_true(addr_equal_host(&src, &want));
	e->b.len = 0;
	/* A link with no usable address of that family: no source. */
	route_reply(&e->b, AF_INET6, NULL, 2);
	assert_int_equal(addrmon_route_reply(e->am, e->b.buf, e->b.len, AF_INET6, &src), -1);
	e->b.len = 0;
	/* The kernel's "no route" (ENETUNREACH) is -1. */
	nlh = put(&e->b, NLMSG_ERROR);
	err = mnl_nlmsg_put_extra_header(nlh, sizeof(*err));
	err->error = -ENETUNREACH;
	done(&e->b, nlh);
	assert_int_equal(addrmon_route_reply(e->am, e->b.buf, e->b.len, AF_INET, &src), -1);
	e->b.len = 0;
	/* Without sockets, the hook says "no route" rather than guess. */
	assert_int_equal(addrmon_route(e->am, &want, &src), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_initial_set, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_del, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_link_down_up_removed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_states, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_burst_one_report, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_route_changes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ignored_link, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicates_and_ptp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_route_reply, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
