/*
 * Receive steering's classic BPF program (src/dataplane/steer.c) on real
 * sockets: a "daemon" socket on 127.0.0.1 (and ::1, when the kernel has
 * IPv6) and an ephemeral port with
 * SO_REUSEPORT, bound first, then one socket per worker joined to its
 * reuseport group (dp_steer_socket) and the program attached. Datagrams
 * sent to the port must land as RFC 3948 2.1-2.3 and steer.h say: IKE
 * (non-ESP marker), a NAT-keepalive and runts on the daemon's socket, ESP
 * on worker (SPI mod N)'s. This also checks that the kernel runs the
 * program on the UDP payload (the UDP header pulled first): on the header
 * the ESP datagrams would be steered by the ports, all alike.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dataplane/steer.h"

#define MAXW 4

struct group {
	int daemon, w[MAXW];
	unsigned nw;
	struct sockaddr_storage addr;
	socklen_t alen;
};

static int udp_socket(int family)
{
	int s = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);

	assert_true(s >= 0);
	return s;
}

/* The daemon's socket (SO_REUSEPORT before bind, as net.c does), then nw
 * workers' and the program. */
static void group_open(struct group *g, int family, unsigned nw)
{
	int on = 1;

	memset(g, 0, sizeof(*g));
	g->nw = nw;
	g->daemon = udp_socket(family);
	assert_int_equal(setsockopt(g->daemon, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)), 0);
	g->addr.ss_family = (sa_family_t)family;
	if (family == AF_INET) {
		((struct sockaddr_in *)&g->addr)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		g->alen = sizeof(struct sockaddr_in);
	} else {
		assert_int_equal(setsockopt(g->daemon, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)),
		                 0);
		((struct sockaddr_in6 *)&g->addr)->sin6_addr = in6addr_loopback;
		g->alen = sizeof(struct sockaddr_in6);
	}
	assert_int_equal(bind(g->daemon, (struct sockaddr *)&g->addr, g->alen), 0);
	assert_int_equal(getsockname(g->daemon, (struct sockaddr *)&g->addr, &g->alen), 0);
	for (unsigned i = 0; i < nw; i++) {
		g->w[i] = dp_steer_socket(g->daemon);
		assert_true(g->w[i] >= 0);
	}
	assert_int_equal(dp_steer_attach(g->daemon, nw), 0);
}

static void group_close(struct group *g)
{
	for (unsigned i = 0; i < g->nw; i++)
		close(g->w[i]);
	close(g->daemon);
}

/* Send one datagram, then find the socket that got it (-1: the daemon's,
 * else the worker's number), bounded by 2 s; -2 if none did. */
static int landed(struct group *g, int tx, const uint8_t *p, size_t len)
{
	struct pollfd pfd[1 + MAXW];
	uint8_t buf[256];

	assert_int_equal(sendto(tx, p, len, 0, (struct sockaddr *)&g->addr, g->alen), (ssize_t)len);
	pfd[0] = (struct pollfd){.fd = g->daemon, .events = POLLIN};
	for (unsigned i = 0; i < g->nw; i++)
		pfd[1 + i] = (struct pollfd){.fd = g->w[i], .events = POLLIN};
	if (poll(pfd, 1 + g->nw, 2000) <= 0)
		return -2;
	for (unsigned i = 0; i <= g->nw; i++) {
		if (!(pfd[i].revents & POLLIN))
			continue;
		ssize_t n = recv(pfd[i].fd, buf, sizeof(buf), 0);
		assert_int_equal(n, (ssize_t)len);
		assert_memory_equal(buf, p, len);
		return (int)i - 1;
	}
	return -2;
}

static int esp_to(struct group *g, int tx, uint32_t spi)
{
	uint8_t esp[64] = {0};

	esp[0] = (uint8_t)(spi >> 24);
	esp[1] = (uint8_t)(spi >> 16);
	esp[2] = (uint8_t)(spi >> 8);
	esp[3] = (uint8_t)spi;
	esp[7] = 1; /* sequence number 1 (RFC 4303 2.2) */
	for (size_t i = 8; i < sizeof(esp); i++)
		esp[i] = (uint8_t)(i * 7);
	return landed(g, tx, esp, sizeof(esp));
}

static void steer_n(int family, unsigned nw)
{
	static const uint8_t keepalive[1] = {0xff};        /* RFC 3948 2.3 */
	static const uint8_t runt[3] = {0x12, 0x34, 0x56}; /* too short for either */
	uint8_t ike[36] = {0};                             /* 2.2: marker, then an IKE header */
	struct group g;
	int tx = udp_socket(family);

	group_open(&g, family, nw);
	for (size_t i = 4; i < sizeof(ike); i++)
		ike[i] = (uint8_t)(0xa0 + i);
	assert_int_equal(landed(&g, tx, ike, sizeof(ike)), -1);
	assert_int_equal(landed(&g, tx, keepalive, sizeof(keepalive)), -1);
	assert_int_equal(landed(&g, tx, runt, sizeof(runt)), -1);
	/* ESP: every residue, twice, and SPIs with high octets set (0xff...
	 * is ESP, not a keepalive, when 4 octets or more follow). */
	for (uint32_t k = 0; k < 2 * nw; k++) {
		uint32_t spi = 0x100u + 37u * k;
		assert_int_equal(esp_to(&g, tx, spi), (int)(spi % nw));
	}
	assert_int_equal(esp_to(&g, tx, 0xff000003u), (int)(0xff000003u % nw));
	assert_int_equal(esp_to(&g, tx, 0xfffffffeu), (int)(0xfffffffeu % nw));
	/* A bare 4-octet ESP-looking payload is steered too (the worker
	 * drops it as malformed, counted); 4 zero octets are the marker. */
	static const uint8_t four[4] = {0, 0, 1, 3}, zero4[4] = {0};
	assert_int_equal(landed(&g, tx, four, sizeof(four)), (int)(0x103u % nw));
	assert_int_equal(landed(&g, tx, zero4, sizeof(zero4)), -1);
	group_close(&g);
	close(tx);
}

static void test_steer_two_workers(void **state)
{
	steer_n(AF_INET, 2);
}

static void test_steer_three_workers(void **state)
{
	steer_n(AF_INET, 3);
}

/* IPv6: the kernel pulls the UDP header there too. */
static void test_steer_ipv6(void **state)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);

	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (s >= 0)
			close(s);
		skip(); /* no IPv6 (or no ::1) here */
	}
	close(s);
	steer_n(AF_INET6, 3);
}

/* A daemon socket bound without SO_REUSEPORT: no worker socket can join
 * (the backend then logs it and the loop keeps receiving ESP). */
static void test_no_reuseport_refused(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int d = udp_socket(AF_INET);

	assert_int_equal(bind(d, (struct sockaddr *)&a, sizeof(a)), 0);
	errno = 0;
	assert_int_equal(dp_steer_socket(d), -1);
	assert_int_equal(errno, EADDRINUSE);
	close(d);
}

/* The program as built: 1 + SPI mod N, the modulus never 0. */
static void test_prog_shape(void **state)
{
	struct sock_filter p[DP_STEER_PROG_LEN];

	dp_steer_prog(p, 5);
	assert_int_equal(p[4].code, BPF_ALU | BPF_MOD | BPF_K);
	assert_int_equal(p[4].k, 5);
	assert_int_equal(p[DP_STEER_PROG_LEN - 1].code, BPF_RET | BPF_K);
	assert_int_equal(p[DP_STEER_PROG_LEN - 1].k, 0);
	dp_steer_prog(p, 0);
	assert_int_equal(p[4].k, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_steer_two_workers), cmocka_unit_test(test_steer_three_workers),
	    cmocka_unit_test(test_steer_ipv6),        cmocka_unit_test(test_no_reuseport_refused),
	    cmocka_unit_test(test_prog_shape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
