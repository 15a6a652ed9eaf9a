/*
 * dp_encap_port (dp.c), which both backends apply on dp_sa_add and
 * dp_sa_migrate: UDP-encapsulated ESP never uses port 0 or the IKE port
 * (RFC 3948 2.1; RFC 7296 2.23 keeps a NAT's mapping of the NAT-T port).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "dataplane/dp_backend.h"

static struct sockaddr_storage ss(const char *addr, uint16_t port)
{
	struct sockaddr_storage s;

	memset(&s, 0, sizeof(s));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&s;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&s;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
	}
	return s;
}

static uint16_t port_of(const struct sockaddr_storage *s)
{
	return ntohs(s->ss_family == AF_INET ? ((const struct sockaddr_in *)s)->sin_port
	                                     : ((const struct sockaddr_in6 *)s)->sin6_port);
}

static void test_ports(void **state)
{
	struct sockaddr_storage to, cur;

	(void)state;
	/* A NAT-T port or a NAT's mapping is taken as is. */
	to = ss("198.51.100.1", 4500);
	assert_false(dp_encap_port(&to, NULL, 500, 4500));
	assert_int_equal(port_of(&to), 4500);
	to = ss("198.51.100.1", 62000);
	cur = ss("192.0.2.9", 4500);
	assert_false(dp_encap_port(&to, &cur, 500, 4500));
	assert_int_equal(port_of(&to), 62000);
	/* Port 500 on a new address: the NAT-T port. */
	to = ss("198.51.100.1", 500);
	cur = ss("192.0.2.9", 61000);
	assert_true(dp_encap_port(&to, &cur, 500, 4500));
	assert_int_equal(port_of(&to), 4500);
	/* Port 500 on the same address: the mapping seen on NAT-T stays. */
	to = ss("192.0.2.9", 500);
	assert_true(dp_encap_port(&to, &cur, 500, 4500));
	assert_int_equal(port_of(&to), 61000);
	/* ... unless that was the IKE port too. */
	to = ss("192.0.2.9", 500);
	cur = ss("192.0.2.9", 500);
	assert_true(dp_encap_port(&to, &cur, 500, 4500));
	assert_int_equal(port_of(&to), 4500);
	/* Port 0, IPv6, and the daemon's own ports. */
	to = ss("2001:db8::1", 0);
	cur = ss("2001:db8::1", 4501);
	assert_true(dp_encap_port(&to, &cur, 501, 4501));
	assert_int_equal(port_of(&to), 4501);
	to = ss("2001:db8::1", 501);
	assert_true(dp_encap_port(&to, NULL, 501, 4501));
	assert_int_equal(port_of(&to), 4501);
	to = ss("2001:db8::1", 500); /* not our IKE port: someone's NAT mapping */
	assert_false(dp_encap_port(&to, NULL, 501, 4501));
	/* Not an address: left alone. */
	memset(&to, 0, sizeof(to));
	assert_false(dp_encap_port(&to, NULL, 500, 4500));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
