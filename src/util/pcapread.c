/*
 * Walk a capture file and hand each IKE/NAT-T UDP datagram to a callback.
 * All header parsing goes through the wire cursor, so a truncated or
 * hostile frame is skipped rather than over-read.
 */
#include "util/pcapread.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <pcap/pcap.h>

#include "wire/cursor.h"

#define ETHERTYPE_IPV4  0x0800
#define ETHERTYPE_IPV6  0x86dd
#define ETHERTYPE_VLAN  0x8100
#define IPPROTO_UDP_NUM 17
#define IKE_PORT        500
#define NATT_PORT       4500

/* Parse a UDP header and its payload out of an IP payload. */
static int parse_udp(struct wire_rd *r, size_t udp_len, struct pcap_udp *d)
{
	uint16_t ulen, csum;

	if (wire_rd_u16(r, &d->sport) < 0 || wire_rd_u16(r, &d->dport) < 0 ||
	    wire_rd_u16(r, &ulen) < 0 || wire_rd_u16(r, &csum) < 0)
		return -1;
	if (ulen < 8 || ulen > udp_len)
		return -1;
	d->len = ulen - 8u;
	if (wire_rd_bytes(r, d->len, &d->payload) < 0)
		return -1;
	if (d->sport != IKE_PORT && d->dport != IKE_PORT && d->sport != NATT_PORT &&
	    d->dport != NATT_PORT)
		return -1;
	return 0;
}

static int parse_ipv4(struct wire_rd *r, struct pcap_udp *d)
{
	uint8_t vihl, tos, ttl, proto;
	uint16_t tot, id, frag, csum;
	size_t ihl;

	if (wire_rd_u8(r, &vihl) < 0 || (vihl >> 4) != 4)
		return -1;
	ihl = (size_t)(vihl & 0x0f) * 4;
	if (ihl < 20 || wire_rd_u8(r, &tos) < 0 || wire_rd_u16(r, &tot) < 0 ||
	    wire_rd_u16(r, &id) < 0 || wire_rd_u16(r, &frag) < 0 || wire_rd_u8(r, &ttl) < 0 ||
	    wire_rd_u8(r, &proto) < 0 || wire_rd_u16(r, &csum) < 0 ||
	    wire_rd_copy(r, d->src, 4) < 0 || wire_rd_copy(r, d->dst, 4) < 0 ||
	    wire_rd_skip(r, ihl - 20) < 0)
		return -1;
	/* Fragments (MF set or an offset) are not reassembled. */
	if (proto != IPPROTO_UDP_NUM || (frag & 0x3fff) || tot < ihl)
		return -1;
	d->family = AF_INET;
	return parse_udp(r, tot - ihl < wire_rd_left(r) ? tot - ihl : wire_rd_left(r), d);
}

static int parse_ipv6(struct wire_rd *r, struct pcap_udp *d)
{
	uint32_t vtf;
	uint16_t plen;
	uint8_t nh, hlim;

	if (wire_rd_u32(r, &vtf) < 0 || (vtf >> 28) != 6 || wire_rd_u16(r, &plen) < 0 ||
	    wire_rd_u8(r, &nh) < 0 || wire_rd_u8(r, &hlim) < 0 || wire_rd_copy(r, d->src, 16) < 0 ||
	    wire_rd_copy(r, d->dst, 16) < 0)
		return -1;
	if (nh != IPPROTO_UDP_NUM) /* extension headers are not followed */
		return -1;
	d->family = AF_INET6;
	return parse_udp(r, plen < wire_rd_left(r) ? plen : wire_rd_left(r), d);
}

static int parse_ip(struct wire_rd *r, struct pcap_udp *d)
{
	const uint8_t *p = wire_rd_ptr(r);

	if (!p || !wire_rd_left(r))
		return -1;
	return (p[0] >> 4) == 4 ? parse_ipv4(r, d) : parse_ipv6(r, d);
}

static int parse_ethertype(struct wire_rd *r, uint16_t type, struct pcap_udp *d)
{
	while (type == ETHERTYPE_VLAN)
		if (wire_rd_skip(r, 2) < 0 || wire_rd_u16(r, &type) < 0)
			return -1;
	if (type == ETHERTYPE_IPV4)
		return parse_ipv4(r, d);
	if (type == ETHERTYPE_IPV6)
		return parse_ipv6(r, d);
	return -1;
}

/* Strip the link layer; -1 when the frame does not carry an IKE datagram. */
static int parse_frame(int linktype, struct wire_rd *r, struct pcap_udp *d)
{
	uint16_t type;
	uint32_t family;

	switch (linktype) {
	case DLT_EN10MB:
		if (wire_rd_skip(r, 12) < 0 || wire_rd_u16(r, &type) < 0)
			return -1;
		return parse_ethertype(r, type, d);
	case DLT_LINUX_SLL:
		if (wire_rd_skip(r, 14) < 0 || wire_rd_u16(r, &type) < 0)
			return -1;
		return parse_ethertype(r, type, d);
	case DLT_LINUX_SLL2:
		if (wire_rd_u16(r, &type) < 0 || wire_rd_skip(r, 18) < 0)
			return -1;
		return parse_ethertype(r, type, d);
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return parse_ip(r, d);
	case DLT_NULL:
	case DLT_LOOP:
		/* Host or network order; the IP version nibble decides anyway. */
		if (wire_rd_u32(r, &family) < 0)
			return -1;
		return parse_ip(r, d);
	default:
		return -1;
	}
}

int pcapread_udp(const char *path, pcap_udp_fn fn, void *ctx, char *errbuf)
{
	struct pcap_pkthdr *ph;
	const u_char *data;
	pcap_t *p;
	unsigned frame = 0;
	int linktype, rc = 0, nx;

	p = pcap_open_offline(path, errbuf);
	if (!p)
		return -1;
	linktype = pcap_datalink(p);
	while ((nx = pcap_next_ex(p, &ph, &data)) == 1) {
		struct pcap_udp d;
		struct wire_rd r;

		frame++;
		memset(&d, 0, sizeof(d));
		d.frame = frame;
		d.ts = (double)ph->ts.tv_sec + (double)ph->ts.tv_usec / 1e6;
		wire_rd_init(&r, data, ph->caplen);
		if (parse_frame(linktype, &r, &d) < 0)
			continue;
		rc = fn(ctx, &d);
		if (rc)
			break;
	}
	if (nx == -1) {
		snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s: %s", path, pcap_geterr(p));
		rc = -1;
	}
	pcap_close(p);
	return rc;
}
