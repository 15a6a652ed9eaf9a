/*
 * Parsing of inner IPv4/IPv6 headers for the SPD lookup and the inbound
 * selector check: addresses, the upper-layer protocol after IPv6 extension
 * headers, and ports or ICMP type/code (RFC 4301 4.4.1.1, RFC 7296 3.13.1).
 * Non-initial fragments have opaque ports (RFC 4301 7).
 */
#include "dataplane/pkt.h"

#include <netinet/in.h>

#define IPV6_MAX_EXT 8 /* extension headers we walk before giving up */

static void flow_ports(const uint8_t *p, size_t len, size_t at, struct dp_flow *f)
{
	f->sport = f->dport = 0;
	switch (f->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
	case IPPROTO_UDPLITE:
		if (at > len || len - at < 4)
			goto opaque;
		f->sport = dp_get16(p + at);
		f->dport = dp_get16(p + at + 2);
		return;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		/* RFC 7296 3.13.1: Type << 8 | Code as the port. */
		if (at > len || len - at < 2)
			goto opaque;
		f->sport = f->dport = dp_get16(p + at);
		return;
	default:
		return;
	}
opaque:
	f->opaque_ports = true;
}

static int flow_parse4(const uint8_t *p, size_t len, struct dp_flow *f)
{
	size_t ihl;

	if (len < 20)
		return -1;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	f->iplen = dp_get16(p + 2);
	if (ihl < 20 || ihl > f->iplen || f->iplen > len)
		return -1;
	f->family = AF_INET;
	f->proto = p[9];
	memcpy(f->src, p + 12, 4);
	memcpy(f->dst, p + 16, 4);
	f->opaque_ports = (dp_get16(p + 6) & 0x1fff) != 0;
	if (!f->opaque_ports)
		flow_ports(p, f->iplen, ihl, f);
	return 0;
}

static int flow_parse6(const uint8_t *p, size_t len, struct dp_flow *f)
{
	size_t at = 40;
	uint8_t nh;

	if (len < 40)
		return -1;
	f->iplen = (size_t)dp_get16(p + 4) + 40;
	if (f->iplen > len)
		return -1; /* jumbograms (payload length 0) are not supported */
	f->family = AF_INET6;
	memcpy(f->src, p + 8, 16);
	memcpy(f->dst, p + 24, 16);
	nh = p[6];
	for (int i = 0; i < IPV6_MAX_EXT; i++) {
		if (nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING && nh != IPPROTO_DSTOPTS &&
		    nh != IPPROTO_FRAGMENT && nh != IPPROTO_AH)
			break;
		if (at + 8 > f->iplen)
			return -1;
		if (nh == IPPROTO_FRAGMENT && (dp_get16(p + at + 2) & 0xfff8) != 0)
			f->opaque_ports = true;
		size_t hl = nh == IPPROTO_FRAGMENT ? 8
		            : nh == IPPROTO_AH     ? ((size_t)p[at + 1] + 2) * 4
		                                   : ((size_t)p[at + 1] + 1) * 8;
		nh = p[at];
		at += hl;
	}
	f->proto = nh;
	if (!f->opaque_ports)
		flow_ports(p, f->iplen, at, f);
	return 0;
}

int dp_flow_parse(const uint8_t *p, size_t len, struct dp_flow *f)
{
	f->opaque_ports = false;
	f->sport = f->dport = 0;
	if (len < 1)
		return -1;
	switch (p[0] >> 4) {
	case 4:
		return flow_parse4(p, len, f);
	case 6:
		return flow_parse6(p, len, f);
	default:
		return -1;
	}
}
