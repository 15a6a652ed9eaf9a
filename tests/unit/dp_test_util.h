/* Helpers for the test_dp_* programs: building SAs and packets. */
#ifndef RIKE_DP_TEST_UTIL_H
#define RIKE_DP_TEST_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp.h"
#include "dataplane/dp_debug.h"
#include "wire/ikev2.h"

static inline size_t dpt_hex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = 0;

	while (hex[0] && hex[1] && n < max) {
		unsigned v;
		if (sscanf(hex, "%2x", &v) != 1)
			abort();
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	if (*hex)
		abort(); /* odd length or too long: a broken test */
	return n;
}

struct dpt_suite {
	const char *name;
	uint16_t encr, keybits, integ;
};

static const struct dpt_suite dpt_suites[] = {
    {"aes128gcm16", IKEV2_ENCR_AES_GCM_16, 128, IKEV2_AUTH_NONE},
    {"aes256gcm16", IKEV2_ENCR_AES_GCM_16, 256, IKEV2_AUTH_NONE},
    {"chacha20poly1305", IKEV2_ENCR_CHACHA20_POLY1305, 0, IKEV2_AUTH_NONE},
    {"aes128-sha256", IKEV2_ENCR_AES_CBC, 128, IKEV2_AUTH_HMAC_SHA2_256_128},
    {"aes256-sha512", IKEV2_ENCR_AES_CBC, 256, IKEV2_AUTH_HMAC_SHA2_512_256},
};

/* An SA with deterministic keys derived from seed. */
static inline void dpt_sa(struct dp_sa *sa, const struct dpt_suite *s, enum dp_dir dir,
                          uint32_t spi, bool esn, uint8_t seed)
{
	struct crypto_encr_info info;

	memset(sa, 0, sizeof(*sa));
	sa->reqid = 1;
	sa->dir = dir;
	sa->spi = spi;
	sa->mode = DP_MODE_TUNNEL;
	sa->encap = true;
	sa->encr = s->encr;
	sa->encr_keybits = s->keybits;
	if (crypto_encr_info(s->encr, s->keybits, &info))
		abort();
	sa->encr_key_len = info.key_len;
	for (size_t i = 0; i < info.key_len; i++)
		sa->encr_key[i] = (uint8_t)(seed + i);
	sa->integ = s->integ;
	sa->integ_key_len = crypto_integ_key_len(s->integ);
	for (size_t i = 0; i < sa->integ_key_len; i++)
		sa->integ_key[i] = (uint8_t)(seed * 3 + i);
	sa->esn = esn;
}

/* A minimal IPv4 or IPv6 UDP packet from src to dst with plen payload octets. */
static inline size_t dpt_packet(uint8_t *p, int family, const char *src, const char *dst,
                                size_t plen)
{
	size_t hl = family == AF_INET ? 20 : 40, len = hl + 8 + plen;

	memset(p, 0, len);
	if (family == AF_INET) {
		p[0] = 0x45;
		p[2] = (uint8_t)(len >> 8);
		p[3] = (uint8_t)len;
		p[8] = 64;
		p[9] = 17;
		inet_pton(AF_INET, src, p + 12);
		inet_pton(AF_INET, dst, p + 16);
	} else {
		p[0] = 0x60;
		p[4] = (uint8_t)((len - 40) >> 8);
		p[5] = (uint8_t)(len - 40);
		p[6] = 17;
		p[7] = 64;
		inet_pton(AF_INET6, src, p + 8);
		inet_pton(AF_INET6, dst, p + 24);
	}
	p[hl] = 0x30; /* ports 12345 -> 9999; UDP checksum 0 (none) for IPv4 */
	p[hl + 1] = 0x39;
	p[hl + 2] = 0x27;
	p[hl + 3] = 0x0f;
	p[hl + 4] = (uint8_t)((8 + plen) >> 8);
	p[hl + 5] = (uint8_t)(8 + plen);
	for (size_t i = 0; i < plen; i++)
		p[hl + 8 + i] = (uint8_t)(i * 7);
	if (family == AF_INET) {
		uint32_t sum = 0;
		for (size_t i = 0; i < 20; i += 2)
			sum += (uint32_t)(p[i] << 8 | p[i + 1]);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		p[10] = (uint8_t)(~sum >> 8);
		p[11] = (uint8_t)~sum;
	}
	return len;
}

/* ---- sockets on a namespace's loopback (the includer has cmocka.h) ---- */

static inline void dpt_sin(struct sockaddr_storage *ss, const char *addr, uint16_t port)
{
	struct sockaddr_in *s = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	inet_pton(AF_INET, addr, &s->sin_addr);
}

/* A non-blocking UDP socket bound to addr:port, with a 4 MiB receive buffer. */
static inline int dpt_udp_bound(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0), big = 4 << 20;

	dpt_sin(&ss, addr, port);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)), 0);
	return fd;
}

/* Bring up lo (a new network namespace has it down). */
static inline void dpt_lo_up(void)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	strcpy(ifr.ifr_name, "lo");
	assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
}

/* A userspace data plane on TUN ifname in a network namespace of its own,
 * its routes not installed: the fixture of the scale and memory tests (a
 * cmocka setup puts it in *state). Exits 77 (skipped) without the rights
 * to make the namespace; -1 when the data plane cannot be made. */
struct dpt_env {
	struct event_base *base;
	struct dp *dp;
};

static inline int dpt_env_setup(void **state, struct dpt_env *e, const char *ifname)
{
	struct dp_options opt = {.ifname = ifname, .mtu = 1400};

	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "cannot unshare the network namespace (%s): skipped\n",
		        strerror(errno));
		exit(77);
	}
	e->base = event_base_new();
	if (!e->base)
		return -1;
	e->dp = dp_new_opts(DP_BACKEND_USERSPACE, e->base, NULL, NULL, &opt);
	if (!e->dp || dp_debug_skip_routes(e->dp, true) != 0)
		return -1;
	*state = e;
	return 0;
}

static inline int dpt_env_teardown(void **state)
{
	struct dpt_env *e = *state;

	dp_free(e->dp);
	event_base_free(e->base);
	return 0;
}

/* Client i's address, 10.0.0.0 + i + 1, and an IPv4 address with the NAT-T
 * port (addr as the scale and memory tests pass it). */
static inline uint32_t dpt_client_addr(uint32_t i)
{
	return htonl(0x0a000000u + i + 1);
}

static inline void dpt_sin4(struct sockaddr_storage *ss, uint32_t addr)
{
	struct sockaddr_in *s = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin_family = AF_INET;
	s->sin_addr.s_addr = htonl(addr);
	s->sin_port = htons(4500);
}

#endif
