/*
 * TUN offloads (see gso.h): the virtio-net header, the Internet checksum
 * (RFC 1071), segmentation of TCP (TSO) and UDP (USO) super-packets as the
 * kernel's own GSO would do it (each segment a complete IP packet: total
 * length, IPv4 identification + i and header checksum, TCP sequence number
 * + i * MSS, FIN and PSH only on the last segment, CWR only on the first,
 * TCP/UDP checksum over the pseudo-header, RFC 9293 3.1 / RFC 768 / RFC 8200
 * 8.1), and coalescing of consecutive segments of one TCP flow on the way in
 * under the rules the kernel's GRO applies (same addresses, ports, ACK,
 * window and options, contiguous sequence numbers, equal sizes but for a
 * shorter last one, no flags but ACK and a final PSH).
 */
#include "dataplane/gso.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "dataplane/pkt.h"

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* struct virtio_net_hdr; tun.c asks for little-endian fields (TUNSETVNETLE). */
void dp_vnet_get(const uint8_t *p, struct dp_vnet *h)
{
	h->flags = p[0];
	h->gso_type = p[1];
	h->hdr_len = le16(p + 2);
	h->gso_size = le16(p + 4);
	h->csum_start = le16(p + 6);
	h->csum_offset = le16(p + 8);
}

void dp_vnet_put(uint8_t *p, const struct dp_vnet *h)
{
	p[0] = h->flags;
	p[1] = h->gso_type;
	put_le16(p + 2, h->hdr_len);
	put_le16(p + 4, h->gso_size);
	put_le16(p + 6, h->csum_start);
	put_le16(p + 8, h->csum_offset);
}

/* RFC 1071: big-endian 32-bit words into 64 bits, end-around carries folded later.
 * Only the last region of a sum may have an odd length. */
uint32_t dp_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	uint64_t s = sum;

	while (len >= 16) {
		s += dp_get32(p);
		s += dp_get32(p + 4);
		s += dp_get32(p + 8);
		s += dp_get32(p + 12);
		p += 16;
		len -= 16;
	}
	while (len >= 4) {
		s += dp_get32(p);
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		s += dp_get16(p);
		p += 2;
		len -= 2;
	}
	if (len)
		s += (uint32_t)p[0] << 8;
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

/* The checksum to store: the one's complement of the folded sum. */
uint16_t dp_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t dp_csum_pseudo(int family, const uint8_t *iphdr, uint8_t proto, size_t l4len)
{
	uint32_t s =
	    family == AF_INET ? dp_csum_add(0, iphdr + 12, 8) : dp_csum_add(0, iphdr + 8, 32);
	uint64_t t = (uint64_t)s + proto + (l4len >> 16) + (l4len & 0xffff);

	t = (t & 0xffffffffu) + (t >> 32);
	return (uint32_t)t;
}

/* ---- segmentation ---- */

static int gso_l4(struct dp_gso *g, uint8_t proto)
{
	const uint8_t *p = g->pkt;

	if (g->family == AF_INET) {
		size_t ihl = (size_t)(p[0] & 0x0f) * 4;
		if (ihl < 20 || ihl > g->len || p[9] != proto)
			return -1;
		g->l4 = ihl;
	} else {
		g->l4 = 40;
		if (p[6] != proto) {
			/* Extension headers: the kernel names the transport header. */
			if (!(g->h.flags & DP_VNET_F_NEEDS_CSUM) || g->h.csum_start < 48)
				return -1;
			g->l4 = g->h.csum_start;
		}
	}
	if (proto == IPPROTO_TCP) {
		if (g->l4 + 20 > g->len)
			return -1;
		size_t thl = (size_t)(p[g->l4 + 12] >> 4) * 4;
		if (thl < 20)
			return -1;
		g->hdrlen = g->l4 + thl;
	} else {
		g->hdrlen = g->l4 + 8;
	}
	return g->hdrlen <= g->len ? 0 : -1;
}

int dp_gso_start(struct dp_gso *g, const struct dp_vnet *h, const uint8_t *pkt, size_t len)
{
	uint8_t type = h->gso_type & (uint8_t)~DP_VNET_GSO_ECN;

	memset(g, 0, sizeof(*g));
	g->pkt = pkt;
	g->len = len;
	g->h = *h;
	if (len < 20 || len > DP_GSO_MAX)
		return -1;
	g->family = pkt[0] >> 4 == 4 ? AF_INET : pkt[0] >> 4 == 6 ? AF_INET6 : 0;
	if (!g->family || (g->family == AF_INET6 && len < 40))
		return -1;
	if ((h->flags & DP_VNET_F_NEEDS_CSUM) &&
	    ((size_t)h->csum_start + h->csum_offset + 2 > len || h->csum_start < 20))
		return -1;
	switch (type) {
	case DP_VNET_GSO_NONE:
		g->mss = len;
		return 0;
	case DP_VNET_GSO_TCPV4:
	case DP_VNET_GSO_TCPV6:
		if ((type == DP_VNET_GSO_TCPV4) != (g->family == AF_INET))
			return -1;
		if (gso_l4(g, IPPROTO_TCP))
			return -1;
		break;
	case DP_VNET_GSO_UDP_L4:
		if (gso_l4(g, IPPROTO_UDP))
			return -1;
		break;
	default:
		return -1;
	}
	g->mss = h->gso_size;
	g->off = g->hdrlen;
	return g->mss ? 0 : -1;
}

/* A packet without GSO: at most its checksum to complete (virtio-net NEEDS_CSUM). */
static int gso_whole(struct dp_gso *g, uint8_t *out, size_t cap, size_t *len)
{
	if (g->len > cap)
		return -1;
	memcpy(out, g->pkt, g->len);
	if (g->h.flags & DP_VNET_F_NEEDS_CSUM) {
		size_t at = (size_t)g->h.csum_start + g->h.csum_offset;
		uint16_t c =
		    dp_csum_fold(dp_csum_add(0, out + g->h.csum_start, g->len - g->h.csum_start));
		dp_put16(out + at, c ? c : 0xffff); /* as skb_checksum_help */
	}
	*len = g->len;
	g->done = true;
	return 1;
}

static void gso_fix_ip(const struct dp_gso *g, uint8_t *out, size_t seglen)
{
	if (g->family == AF_INET) {
		dp_put16(out + 2, (uint16_t)seglen);
		dp_put16(out + 4, (uint16_t)(dp_get16(g->pkt + 4) + g->idx));
		dp_put16(out + 10, 0);
		dp_put16(out + 10, dp_csum_fold(dp_csum_add(0, out, g->l4)));
	} else {
		dp_put16(out + 4, (uint16_t)(seglen - 40));
	}
}

int dp_gso_next(struct dp_gso *g, uint8_t *out, size_t cap, size_t *len)
{
	size_t chunk, seglen;
	bool last, tcp;
	uint16_t c;

	if (g->done)
		return 0;
	if ((g->h.gso_type & (uint8_t)~DP_VNET_GSO_ECN) == DP_VNET_GSO_NONE)
		return gso_whole(g, out, cap, len);
	chunk = g->len - g->off < g->mss ? g->len - g->off : g->mss;
	seglen = g->hdrlen + chunk;
	last = g->off + chunk == g->len;
	if (seglen > cap)
		return -1;
	memcpy(out, g->pkt, g->hdrlen);
	memcpy(out + g->hdrlen, g->pkt + g->off, chunk);
	gso_fix_ip(g, out, seglen);
	tcp = g->h.gso_type != DP_VNET_GSO_UDP_L4;
	if (tcp) {
		uint8_t *th = out + g->l4;
		dp_put32(th + 4, dp_get32(th + 4) + (uint32_t)(g->off - g->hdrlen));
		if (!last)
			th[13] &= (uint8_t) ~(TCP_FIN | TCP_PSH);
		if (g->idx > 0)
			th[13] &= (uint8_t)~TCP_CWR;
		dp_put16(th + 16, 0);
	} else {
		dp_put16(out + g->l4 + 4, (uint16_t)(seglen - g->l4));
		dp_put16(out + g->l4 + 6, 0);
	}
	c = dp_csum_fold(dp_csum_add(
	    dp_csum_pseudo(g->family, out, tcp ? IPPROTO_TCP : IPPROTO_UDP, seglen - g->l4),
	    out + g->l4, seglen - g->l4));
	if (!tcp && c == 0)
		c = 0xffff; /* RFC 768: 0 means no checksum */
	dp_put16(out + g->l4 + (tcp ? 16 : 6), c);
	g->off += chunk;
	g->idx++;
	g->done = last;
	*len = seglen;
	return 1;
}

/* ---- coalescing ---- */

struct gro_seg {
	int family;
	size_t l4, thl, payload;
	uint8_t flags;
};

/* A TCP segment with data and no flags but ACK (and PSH), no IP options or fragments
 * (IPv4 header checksum verified). */
static int gro_parse(const uint8_t *p, size_t len, struct gro_seg *s)
{
	if (len < 40)
		return -1;
	if (p[0] == 0x45) {
		/* The header checksum too: we rewrite it, so it must not hide damage. */
		if (dp_get16(p + 2) != len || p[9] != IPPROTO_TCP || (dp_get16(p + 6) & 0x3fff) ||
		    dp_csum_fold(dp_csum_add(0, p, 20)) != 0)
			return -1;
		s->family = AF_INET;
		s->l4 = 20;
	} else if (p[0] >> 4 == 6) {
		if (len < 60 || (size_t)dp_get16(p + 4) + 40 != len || p[6] != IPPROTO_TCP)
			return -1;
		s->family = AF_INET6;
		s->l4 = 40;
	} else {
		return -1;
	}
	s->thl = (size_t)(p[s->l4 + 12] >> 4) * 4;
	if (s->thl < 20 || s->l4 + s->thl >= len)
		return -1;
	s->payload = len - s->l4 - s->thl;
	s->flags = p[s->l4 + 13];
	if ((s->flags & ~TCP_PSH) != TCP_ACK)
		return -1;
	return 0;
}

/* Same flow, next in sequence, same ACK, window and options: the kernel's GRO rules. */
static bool gro_fits(const struct dp_gro *g, const uint8_t *p, const struct gro_seg *s)
{
	const uint8_t *t = g->buf + DP_VNET_HDR_LEN, *th = t + g->l4, *ph = p + s->l4;

	if (g->closed || s->family != g->family || s->l4 + s->thl != g->hdrlen ||
	    s->payload > g->mss || g->len + s->payload > DP_GSO_MAX)
		return false;
	if (g->family == AF_INET) {
		/* version/IHL, TOS; fragment field (DF); TTL, protocol; addresses */
		if (t[1] != p[1] || dp_get16(t + 6) != dp_get16(p + 6) || t[8] != p[8] ||
		    memcmp(t + 12, p + 12, 8))
			return false;
	} else if (memcmp(t, p, 4) || t[7] != p[7] || memcmp(t + 8, p + 8, 32)) {
		return false;
	}
	return !memcmp(th, ph, 4) && dp_get32(ph + 4) == g->next_seq &&
	       !memcmp(th + 8, ph + 8, 5) && (th[13] & ~TCP_PSH) == (ph[13] & ~TCP_PSH) &&
	       !memcmp(th + 14, ph + 14, 2) && !memcmp(th + 20, ph + 20, s->thl - 20);
}

int dp_gro_add(struct dp_gro *g, const uint8_t *p, size_t len)
{
	struct gro_seg s;
	uint8_t *t = g->buf + DP_VNET_HDR_LEN;

	if (gro_parse(p, len, &s))
		return -1;
	if (g->len == 0) {
		memcpy(t, p, len);
		g->len = len;
		g->family = s.family;
		g->l4 = s.l4;
		g->hdrlen = s.l4 + s.thl;
		g->mss = s.payload;
		g->nseg = 1;
		g->next_seq = dp_get32(p + s.l4 + 4) + (uint32_t)s.payload;
		g->closed = (s.flags & TCP_PSH) != 0;
		return 1;
	}
	if (!gro_fits(g, p, &s))
		return 0;
	memcpy(t + g->len, p + g->hdrlen, s.payload);
	g->len += s.payload;
	g->nseg++;
	g->next_seq += (uint32_t)s.payload;
	if (s.flags & TCP_PSH) {
		t[g->l4 + 13] |= TCP_PSH;
		g->closed = true;
	}
	if (s.payload < g->mss)
		g->closed = true;
	return 1;
}

size_t dp_gro_finish(struct dp_gro *g)
{
	uint8_t *t = g->buf + DP_VNET_HDR_LEN;
	struct dp_vnet h = {.flags = DP_VNET_F_DATA_VALID};
	size_t len = g->len;

	if (g->nseg > 1) {
		if (g->family == AF_INET) {
			dp_put16(t + 2, (uint16_t)len);
			dp_put16(t + 10, 0);
			dp_put16(t + 10, dp_csum_fold(dp_csum_add(0, t, 20)));
		} else {
			dp_put16(t + 4, (uint16_t)(len - 40));
		}
		/* CHECKSUM_PARTIAL: the field holds the pseudo-header sum, not complemented. */
		dp_put16(t + g->l4 + 16, (uint16_t)~dp_csum_fold(dp_csum_pseudo(
		                             g->family, t, IPPROTO_TCP, len - g->l4)));
		h = (struct dp_vnet){.flags = DP_VNET_F_NEEDS_CSUM,
		                     .gso_type = g->family == AF_INET ? DP_VNET_GSO_TCPV4
		                                                      : DP_VNET_GSO_TCPV6,
		                     .hdr_len = (uint16_t)g->hdrlen,
		                     .gso_size = (uint16_t)g->mss,
		                     .csum_start = (uint16_t)g->l4,
		                     .csum_offset = 16};
	}
	dp_vnet_put(g->buf, &h);
	g->len = 0;
	g->nseg = 0;
	return len ? DP_VNET_HDR_LEN + len : 0;
}
