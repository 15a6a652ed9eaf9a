/*
 * TUN offloads (src/dataplane/gso.c): the Internet checksum against a
 * byte-wise reference (RFC 1071), segmentation of TSO/USO super-packets
 * (every segment checked on its own: lengths, IPv4 identification and
 * header checksum, TCP sequence numbers and flags, TCP/UDP checksums
 * recomputed here from scratch, payload), completion of a partial checksum,
 * malformed headers, and coalescing back into a super-packet that
 * segments into the same packets again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dataplane/gso.h"
#include "dataplane/pkt.h"

#define MAXPKT (DP_GSO_MAX + 64)

/* RFC 1071 the slow way: 16-bit big-endian words, carries folded at the end. */
static uint16_t ref_sum(const uint8_t *p, size_t len, uint32_t start)
{
	uint64_t s = start;

	for (size_t i = 0; i < len; i++)
		s += i % 2 ? p[i] : (uint32_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The pseudo-header sum built field by field (RFC 9293 3.1, RFC 8200 8.1). */
static uint32_t ref_pseudo(const uint8_t *ip, uint8_t proto, size_t l4len)
{
	uint8_t ph[40];
	size_t n;

	memset(ph, 0, sizeof(ph));
	if (ip[0] >> 4 == 4) {
		memcpy(ph, ip + 12, 8);
		ph[9] = proto;
		dp_put16(ph + 10, (uint16_t)l4len);
		n = 12;
	} else {
		memcpy(ph, ip + 8, 32);
		dp_put32(ph + 32, (uint32_t)l4len);
		ph[39] = proto;
		n = 40;
	}
	return ref_sum(ph, n, 0);
}

/* A TCP/UDP packet is valid when its sum with the pseudo-header is all ones. */
static bool l4_valid(const uint8_t *ip, size_t len, size_t l4, uint8_t proto)
{
	return ref_sum(ip + l4, len - l4, ref_pseudo(ip, proto, len - l4)) == 0xffff;
}

static void ip4_csum(uint8_t *p)
{
	dp_put16(p + 10, 0);
	dp_put16(p + 10, (uint16_t)~ref_sum(p, (size_t)(p[0] & 15) * 4, 0));
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

/* IPv4 header (ihl words) + TCP header (thl octets, options = timestamps) + payload. */
static size_t mk_tcp4(uint8_t *p, size_t ihl, size_t thl, size_t payload, uint8_t flags)
{
	size_t len = ihl * 4 + thl + payload;
	uint8_t *th = p + ihl * 4;

	memset(p, 0, ihl * 4 + thl);
	p[0] = (uint8_t)(0x40 | ihl);
	dp_put16(p + 2, (uint16_t)len);
	dp_put16(p + 4, 0x1234);
	dp_put16(p + 6, 0x4000); /* DF */
	p[8] = 64;
	p[9] = IPPROTO_TCP;
	memcpy(p + 12, "\x0a\x01\x00\x01\x0a\x02\x00\x01", 8);
	for (size_t i = 20; i < ihl * 4; i++)
		p[i] = 1; /* NOP options */
	dp_put16(th, 40000);
	dp_put16(th + 2, 5201);
	dp_put32(th + 4, 0xfffff000u); /* wraps within the packet */
	dp_put32(th + 8, 0x11223344);
	th[12] = (uint8_t)(thl / 4 << 4);
	th[13] = flags;
	dp_put16(th + 14, 502);
	for (size_t i = 20; i < thl; i++)
		th[i] = (uint8_t)(i == 20 ? 1 : i == 21 ? 1 : i == 22 ? 8 : i == 23 ? 10 : i);
	fill(th + thl, payload, 1);
	ip4_csum(p);
	return len;
}

static size_t mk_ip6(uint8_t *p, uint8_t proto, size_t l4hdr, size_t payload)
{
	size_t len = 40 + l4hdr + payload;

	memset(p, 0, 40 + l4hdr);
	p[0] = 0x60;
	dp_put16(p + 4, (uint16_t)(len - 40));
	p[6] = proto;
	p[7] = 64;
	p[8] = 0xfd;
	p[23] = 1;
	p[24] = 0xfd;
	p[39] = 2;
	dp_put16(p + 40, 5000);
	dp_put16(p + 42, 6000);
	if (proto == IPPROTO_TCP) {
		dp_put32(p + 44, 1000);
		dp_put32(p + 48, 77);
		p[52] = (uint8_t)(l4hdr / 4 << 4);
		p[53] = 0x18; /* ACK | PSH */
		dp_put16(p + 54, 1000);
	} else {
		dp_put16(p + 44, (uint16_t)(l4hdr + payload));
	}
	fill(p + 40 + l4hdr, payload, 2);
	return len;
}

static void test_csum(void **state)
{
	static const uint8_t rfc1071[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	uint8_t buf[300];

	/* RFC 1071 3: the sum of this example is 0xddf2. */
	assert_int_equal(dp_csum_fold(dp_csum_add(0, rfc1071, 8)), (uint16_t)~0xddf2);
	fill(buf, sizeof(buf), 9);
	for (size_t len = 0; len <= sizeof(buf); len++)
		for (size_t at = 0; at < 4; at++) {
			size_t n = len > at ? len - at : 0;
			assert_int_equal(dp_csum_fold(dp_csum_add(0, buf + at, n)),
			                 (uint16_t)~ref_sum(buf + at, n, 0));
		}
	memset(buf, 0xff, sizeof(buf)); /* the carries of many all-ones words */
	assert_int_equal(dp_csum_fold(dp_csum_add(0xffffffffu, buf, 300)),
	                 (uint16_t)~ref_sum(buf, 300, 0xffffffffu));
}

/* Segment pkt and check every segment against the rules of GSO. */
static unsigned check_segments(const struct dp_vnet *h, const uint8_t *pkt, size_t len, size_t l4,
                               size_t hdrlen, uint8_t proto, uint8_t **segs, size_t *seglens)
{
	struct dp_gso g;
	uint8_t out[2048];
	size_t slen, off = hdrlen;
	unsigned i = 0;
	bool v4 = pkt[0] >> 4 == 4;
	int rc;

	assert_int_equal(dp_gso_start(&g, h, pkt, len), 0);
	while ((rc = dp_gso_next(&g, out, sizeof(out), &slen)) == 1) {
		size_t chunk = slen - hdrlen;
		bool last = off + chunk == len;

		assert_true(chunk == h->gso_size || (last && chunk <= h->gso_size));
		assert_memory_equal(out + hdrlen, pkt + off, chunk);
		if (v4) {
			assert_int_equal(dp_get16(out + 2), slen);
			assert_int_equal(dp_get16(out + 4), (uint16_t)(dp_get16(pkt + 4) + i));
			assert_int_equal(ref_sum(out, l4, 0), 0xffff);
			assert_memory_equal(out + 6, pkt + 6, 4); /* DF, TTL, protocol */
			assert_memory_equal(out + 12, pkt + 12, l4 - 12);
		} else {
			assert_int_equal(dp_get16(out + 4), slen - 40);
			assert_memory_equal(out + 6, pkt + 6, l4 - 6);
		}
		if (proto == IPPROTO_TCP) {
			const uint8_t *th = out + l4, *oth = pkt + l4;
			uint8_t want = oth[13];
			assert_int_equal(dp_get32(th + 4),
			                 (uint32_t)(dp_get32(oth + 4) + (off - hdrlen)));
			if (!last)
				want &= (uint8_t)~0x09; /* FIN, PSH */
			if (i > 0)
				want &= (uint8_t)~0x80; /* CWR */
			assert_int_equal(th[13], want);
			assert_memory_equal(th + 8, oth + 8, 5);
			assert_memory_equal(th + 14, oth + 14, 2);
			assert_memory_equal(th + 20, oth + 20, hdrlen - l4 - 20);
		} else {
			assert_int_equal(dp_get16(out + l4 + 4), slen - l4);
			assert_int_not_equal(dp_get16(out + l4 + 6), 0);
		}
		assert_true(l4_valid(out, slen, l4, proto));
		if (segs) {
			segs[i] = malloc(slen);
			memcpy(segs[i], out, slen);
			seglens[i] = slen;
		}
		off += chunk;
		i++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(off, len);
	assert_int_equal(dp_gso_next(&g, out, sizeof(out), &slen), 0);
	return i;
}

static void test_tso4(void **state)
{
	static uint8_t pkt[MAXPKT];
	/* Timestamps option, FIN|PSH|ACK|CWR: the last segment is short. */
	size_t len = mk_tcp4(pkt, 5, 32, 5000, 0x99);
	struct dp_vnet h = {.flags = DP_VNET_F_NEEDS_CSUM,
	                    .gso_type = DP_VNET_GSO_TCPV4 | DP_VNET_GSO_ECN,
	                    .gso_size = 1448,
	                    .hdr_len = 52,
	                    .csum_start = 20,
	                    .csum_offset = 16};

	assert_int_equal(check_segments(&h, pkt, len, 20, 52, IPPROTO_TCP, NULL, NULL), 4);
	/* IPv4 options are copied into every segment. */
	len = mk_tcp4(pkt, 7, 20, 4000, 0x10);
	h.gso_type = DP_VNET_GSO_TCPV4;
	h.csum_start = 28;
	assert_int_equal(check_segments(&h, pkt, len, 28, 48, IPPROTO_TCP, NULL, NULL), 3);
	/* Exactly one segment, and 64 KiB (the largest the kernel hands over). */
	len = mk_tcp4(pkt, 5, 20, 1000, 0x18);
	h.csum_start = 20;
	assert_int_equal(check_segments(&h, pkt, len, 20, 40, IPPROTO_TCP, NULL, NULL), 1);
	len = mk_tcp4(pkt, 5, 20, DP_GSO_MAX - 40, 0x10);
	h.gso_size = 536;
	assert_int_equal(check_segments(&h, pkt, len, 20, 40, IPPROTO_TCP, NULL, NULL),
	                 (DP_GSO_MAX - 40 + 535) / 536);
}

static void test_tso6_uso(void **state)
{
	static uint8_t pkt[MAXPKT];
	size_t len = mk_ip6(pkt, IPPROTO_TCP, 20, 3000); /* a multiple of the MSS */
	struct dp_vnet h = {.flags = DP_VNET_F_NEEDS_CSUM,
	                    .gso_type = DP_VNET_GSO_TCPV6,
	                    .gso_size = 1000,
	                    .csum_start = 40,
	                    .csum_offset = 16};

	assert_int_equal(check_segments(&h, pkt, len, 40, 60, IPPROTO_TCP, NULL, NULL), 3);
	/* USO: each segment is a datagram of its own. */
	len = mk_ip6(pkt, IPPROTO_UDP, 8, 2500);
	h.gso_type = DP_VNET_GSO_UDP_L4;
	h.csum_offset = 6;
	assert_int_equal(check_segments(&h, pkt, len, 40, 48, IPPROTO_UDP, NULL, NULL), 3);
	len = mk_tcp4(pkt, 5, 8, 2500, 0); /* reuse the IPv4 header; make it UDP */
	pkt[9] = IPPROTO_UDP;
	dp_put16(pkt + 24, (uint16_t)(len - 20));
	h.csum_start = 20;
	assert_int_equal(check_segments(&h, pkt, len, 20, 28, IPPROTO_UDP, NULL, NULL), 3);
}

/* No GSO, checksum left to us (CHECKSUM_PARTIAL): the field holds the pseudo-header sum. */
static void test_partial_csum(void **state)
{
	uint8_t pkt[200], out[256];
	size_t len = mk_ip6(pkt, IPPROTO_UDP, 8, 100), olen;
	struct dp_vnet h = {.flags = DP_VNET_F_NEEDS_CSUM, .csum_start = 40, .csum_offset = 6};
	struct dp_gso g;

	dp_put16(pkt + 46, (uint16_t)~dp_csum_fold(ref_pseudo(pkt, IPPROTO_UDP, len - 40)));
	assert_int_equal(dp_gso_start(&g, &h, pkt, len), 0);
	assert_int_equal(dp_gso_next(&g, out, sizeof(out), &olen), 1);
	assert_int_equal(olen, len);
	assert_true(l4_valid(out, len, 40, IPPROTO_UDP));
	assert_int_equal(dp_gso_next(&g, out, sizeof(out), &olen), 0);
	/* Without NEEDS_CSUM the packet passes unchanged. */
	h.flags = 0;
	assert_int_equal(dp_gso_start(&g, &h, pkt, len), 0);
	assert_int_equal(dp_gso_next(&g, out, sizeof(out), &olen), 1);
	assert_memory_equal(out, pkt, len);
	/* Too small a buffer is an error, not an overrun. */
	assert_int_equal(dp_gso_start(&g, &h, pkt, len), 0);
	assert_int_equal(dp_gso_next(&g, out, len - 1, &olen), -1);
}

static void test_gso_malformed(void **state)
{
	static uint8_t pkt[MAXPKT];
	size_t len = mk_tcp4(pkt, 5, 20, 3000, 0x10);
	struct dp_vnet h = {.gso_type = DP_VNET_GSO_TCPV4, .gso_size = 1000};
	struct dp_gso g;
	uint8_t out[600];
	size_t olen;

	assert_int_equal(dp_gso_start(&g, &h, pkt, len), 0);
	assert_int_equal(dp_gso_next(&g, out, sizeof(out), &olen), -1); /* does not fit */
	h.gso_size = 0;
	assert_int_equal(dp_gso_start(&g, &h, pkt, len), -1);
	h.gso_size = 1000;
	h.gso_type = DP_VNET_GSO_TCPV6; /* IPv4 packet */
	assert_int_equal(dp_gso_start(&g, &h, pkt, len), -1);
	h.gso_type = 3; /* UFO: never asked for */
	assert_int_equal(dp_gso_start(&g, &h, pkt, len), -1);
	h.gso_type = DP_VNET_GSO_UDP_L4; /* but it is TCP */
	assert_int_equal(dp_gso_start(&g, &h, pkt, len), -1);
	h.gso_type = DP_VNET_GSO_TCPV4;
	assert_int_equal(dp_gso_start(&g, &h, pkt, 30), -1); /* TCP header cut off */
	assert_int_equal(dp_gso_start(&g, &h, pkt, 10), -1);
	pkt[32] = 0x40; /* data offset 16 octets */
	assert_int_equal(dp_gso_start(&g, &h, pkt, len), -1);
	pkt[32] = 0x50;
	h.flags = DP_VNET_F_NEEDS_CSUM;
	h.csum_start = (uint16_t)len;
	assert_int_equal(dp_gso_start(&g, &h, pkt, len), -1);
	pkt[0] = 0x75; /* IP version 7 */
	h.flags = 0;
	assert_int_equal(dp_gso_start(&g, &h, pkt, len), -1);
	assert_int_equal(dp_gso_start(&g, &h, pkt, DP_GSO_MAX + 1), -1);
}

/* Segments coalesce into a super-packet that segments into the same packets again. */
static void test_gro_roundtrip(int family)
{
	static uint8_t pkt[MAXPKT], gbuf[DP_VNET_HDR_LEN + DP_GSO_MAX];
	uint8_t *segs[64];
	size_t seglens[64], len, l4 = family == AF_INET ? 20 : 40, hdrlen = l4 + 32;
	struct dp_gro gro = {.buf = gbuf};
	struct dp_vnet h = {.gso_size = 1348}, gh;
	unsigned n;

	if (family == AF_INET) {
		len = mk_tcp4(pkt, 5, 32, 40000, 0x18);
		h.gso_type = DP_VNET_GSO_TCPV4;
	} else {
		len = mk_ip6(pkt, IPPROTO_TCP, 32, 40000);
		pkt[52] = 0x80; /* 32-octet header: NOP options */
		memset(pkt + 60, 1, 12);
		h.gso_type = DP_VNET_GSO_TCPV6;
	}
	n = check_segments(&h, pkt, len, l4, hdrlen, IPPROTO_TCP, segs, seglens);
	assert_int_equal(n, 30);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(dp_gro_add(&gro, segs[i], seglens[i]), 1);
	assert_int_equal(gro.nseg, n);
	size_t w = dp_gro_finish(&gro);
	assert_int_equal(w, DP_VNET_HDR_LEN + len);
	dp_vnet_get(gbuf, &gh);
	assert_int_equal(gh.flags, DP_VNET_F_NEEDS_CSUM);
	assert_int_equal(gh.gso_type, h.gso_type);
	assert_int_equal(gh.gso_size, 1348);
	assert_int_equal(gh.hdr_len, hdrlen);
	assert_int_equal(gh.csum_start, l4);
	assert_int_equal(gh.csum_offset, 16);
	const uint8_t *sp = gbuf + DP_VNET_HDR_LEN;
	/* The checksum field holds the pseudo-header sum over the whole length. */
	assert_int_equal(dp_get16(sp + l4 + 16), ref_pseudo(sp, IPPROTO_TCP, len - l4));
	if (family == AF_INET) {
		assert_int_equal(dp_get16(sp + 2), len);
		assert_int_equal(ref_sum(sp, 20, 0), 0xffff);
	} else {
		assert_int_equal(dp_get16(sp + 4), len - 40);
	}
	assert_memory_equal(sp + hdrlen, pkt + hdrlen, len - hdrlen);
	/* As the kernel would segment it again (e.g. when it forwards it). */
	uint8_t *again[64];
	size_t againlens[64];
	assert_int_equal(check_segments(&gh, sp, len, l4, hdrlen, IPPROTO_TCP, again, againlens),
	                 n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(againlens[i], seglens[i]);
		assert_memory_equal(again[i], segs[i], seglens[i]);
		free(again[i]);
		free(segs[i]);
	}
}

static void test_gro4(void **state)
{
	test_gro_roundtrip(AF_INET);
}

static void test_gro6(void **state)
{
	test_gro_roundtrip(AF_INET6);
}

static void test_gro_rules(void **state)
{
	static uint8_t gbuf[DP_VNET_HDR_LEN + DP_GSO_MAX];
	uint8_t a[1600], b[1600];
	struct dp_gro gro = {.buf = gbuf};
	struct dp_vnet gh;
	size_t la = mk_tcp4(a, 5, 20, 1000, 0x10), lb;

	/* Not coalesced at all: SYN, pure ACK, UDP, IPv4 options, fragments. */
	memcpy(b, a, la);
	b[33] = 0x12;
	assert_int_equal(dp_gro_add(&gro, b, la), -1);
	lb = mk_tcp4(b, 5, 20, 0, 0x10);
	assert_int_equal(dp_gro_add(&gro, b, lb), -1);
	memcpy(b, a, la);
	b[9] = IPPROTO_UDP;
	ip4_csum(b);
	assert_int_equal(dp_gro_add(&gro, b, la), -1);
	lb = mk_tcp4(b, 6, 20, 100, 0x10);
	assert_int_equal(dp_gro_add(&gro, b, lb), -1);
	memcpy(b, a, la);
	dp_put16(b + 6, 0x2000); /* MF */
	ip4_csum(b);
	assert_int_equal(dp_gro_add(&gro, b, la), -1);
	memcpy(b, a, la);
	b[10] ^= 1; /* header checksum */
	assert_int_equal(dp_gro_add(&gro, b, la), -1);
	assert_int_equal(dp_gro_add(&gro, a, la - 1), -1); /* length disagrees with the header */
	assert_int_equal(gro.len, 0);

	/* One segment alone is written as it is, marked verified. */
	assert_int_equal(dp_gro_add(&gro, a, la), 1);
	assert_int_equal(dp_gro_finish(&gro), DP_VNET_HDR_LEN + la);
	dp_vnet_get(gbuf, &gh);
	assert_int_equal(gh.flags, DP_VNET_F_DATA_VALID);
	assert_int_equal(gh.gso_type, DP_VNET_GSO_NONE);
	assert_memory_equal(gbuf + DP_VNET_HDR_LEN, a, la);
	assert_int_equal(dp_gro_finish(&gro), 0);

	/* The next segment must follow in sequence, on the same flow, with the same ACK,
	 * window and options, and be no larger than the first. */
	struct {
		size_t at;
		uint8_t v;
	} differ[] = {{1, 4},  {8, 63}, {15, 9}, {19, 2},    {21, 1},
	              {23, 9}, {27, 1}, {31, 7}, {33, 0x11}, {35, 1}};
	for (size_t i = 0; i < sizeof(differ) / sizeof(differ[0]); i++) {
		assert_int_equal(dp_gro_add(&gro, a, la), 1);
		memcpy(b, a, la);
		dp_put32(b + 24, dp_get32(a + 24) + 1000);
		b[differ[i].at] ^= differ[i].v;
		ip4_csum(b);
		assert_int_equal(dp_gro_add(&gro, b, la), b[33] == 0x10 ? 0 : -1);
		dp_gro_finish(&gro);
	}
	/* Larger than the first: no. */
	assert_int_equal(dp_gro_add(&gro, a, la), 1);
	lb = mk_tcp4(b, 5, 20, 1001, 0x10);
	dp_put32(b + 24, dp_get32(a + 24) + 1000);
	assert_int_equal(dp_gro_add(&gro, b, lb), 0);
	/* Shorter: yes, and it ends the super-packet; so does PSH. */
	lb = mk_tcp4(b, 5, 20, 999, 0x10);
	dp_put32(b + 24, dp_get32(a + 24) + 1000);
	assert_int_equal(dp_gro_add(&gro, b, lb), 1);
	memcpy(b, a, la);
	dp_put32(b + 24, dp_get32(a + 24) + 1999);
	assert_int_equal(dp_gro_add(&gro, b, la), 0);
	dp_gro_finish(&gro);
	assert_int_equal(dp_gro_add(&gro, a, la), 1);
	memcpy(b, a, la);
	b[33] = 0x18;
	dp_put32(b + 24, dp_get32(a + 24) + 1000);
	assert_int_equal(dp_gro_add(&gro, b, la), 1);
	assert_int_equal(gbuf[DP_VNET_HDR_LEN + 33], 0x18); /* PSH carried over */
	dp_put32(b + 24, dp_get32(a + 24) + 2000);
	assert_int_equal(dp_gro_add(&gro, b, la), 0);
	dp_gro_finish(&gro);
	/* Never past 64 KiB. */
	assert_int_equal(dp_gro_add(&gro, a, la), 1);
	uint32_t seq = dp_get32(a + 24);
	int rc;
	unsigned k = 1;
	memcpy(b, a, la);
	do {
		seq += 1000;
		dp_put32(b + 24, seq);
		rc = dp_gro_add(&gro, b, la);
		k += rc == 1;
	} while (rc == 1 && k < 100);
	assert_int_equal(rc, 0);
	assert_int_equal(k, (DP_GSO_MAX - 40) / 1000);
	assert_true(dp_gro_finish(&gro) <= DP_VNET_HDR_LEN + DP_GSO_MAX);
}

/* Garbage from either side (a broken TUN header, a peer's decrypted packet) never
 * reads or writes out of bounds (run under ASan in CI) and never loops. */
static void test_garbage(void **state)
{
	static uint8_t pkt[MAXPKT], gbuf[DP_VNET_HDR_LEN + DP_GSO_MAX];
	uint8_t out[1600];
	struct dp_gro gro = {.buf = gbuf};
	uint32_t x = 4303;

	for (int i = 0; i < 3000; i++) {
		struct dp_vnet h;
		struct dp_gso g;
		size_t len, olen, segs = 0;

		x = x * 1103515245u + 12345u;
		len = i % 3 ? (x >> 8) % 3000 : (x >> 8) % (DP_GSO_MAX + 2);
		for (size_t k = 0; k < len; k++) {
			x = x * 1103515245u + 12345u;
			pkt[k] = (uint8_t)(x >> 16);
		}
		if (len > 0)
			pkt[0] = (uint8_t)(i % 2 ? 0x45 : 0x60); /* get past the version check */
		if (len >= 10)
			pkt[9] = pkt[6] = i % 4 ? IPPROTO_TCP : IPPROTO_UDP;
		if (len >= 4) {
			dp_put16(pkt + 2, (uint16_t)len);
			dp_put16(pkt + 4, (uint16_t)(len - 40));
		}
		dp_vnet_get(pkt + (len > 20 ? len - 10 : 0), &h);
		h.gso_type = (uint8_t)(h.gso_type % 6);
		if (dp_gso_start(&g, &h, pkt, len) == 0)
			while (dp_gso_next(&g, out, sizeof(out), &olen) == 1)
				assert_true(olen <= sizeof(out) && ++segs <= DP_GSO_MAX);
		if (dp_gro_add(&gro, pkt, len) == 0) {
			assert_true(dp_gro_finish(&gro) <= sizeof(gbuf));
			assert_int_equal(dp_gro_add(&gro, pkt, len), 1);
		}
	}
	assert_true(dp_gro_finish(&gro) <= sizeof(gbuf));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_csum),          cmocka_unit_test(test_tso4),
	    cmocka_unit_test(test_tso6_uso),      cmocka_unit_test(test_partial_csum),
	    cmocka_unit_test(test_gso_malformed), cmocka_unit_test(test_gro4),
	    cmocka_unit_test(test_gro6),          cmocka_unit_test(test_gro_rules),
	    cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
