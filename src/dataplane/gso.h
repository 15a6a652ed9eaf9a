/*
 * Internal: TUN offloads of the userspace backend. The TUN device (with
 * IFF_VNET_HDR) prefixes every packet with a virtio-net header; with TSO/USO
 * enabled it hands us TCP and UDP super-packets of up to 64 KiB that we cut
 * into MTU-sized packets before ESP (segmentation), and it accepts TCP
 * super-packets that we build from consecutive inbound segments of one flow
 * (coalescing), so the inner stacks handle one packet where the wire had
 * dozens. Works on plain buffers; like pkt.c, it reads and writes packet
 * bytes only through bounds-checked offsets.
 */
#ifndef RIKE_DP_GSO_H
#define RIKE_DP_GSO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

/* The virtio-net header as TUN reads and writes it (little-endian on the
 * wire, see dp_vnet_get/put; struct virtio_net_hdr in linux/virtio_net.h). */
#define DP_VNET_HDR_LEN 10

#define DP_VNET_F_NEEDS_CSUM 1 /* complete the checksum at csum_start + csum_offset */
#define DP_VNET_F_DATA_VALID 2 /* checksum already verified */

#define DP_VNET_GSO_NONE   0
#define DP_VNET_GSO_TCPV4  1
#define DP_VNET_GSO_TCPV6  4
#define DP_VNET_GSO_UDP_L4 5
#define DP_VNET_GSO_ECN    0x80

#define DP_GSO_MAX 65535 /* largest packet after the header (no BIG TCP) */

struct dp_vnet {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset;
};

void dp_vnet_get(const uint8_t *p, struct dp_vnet *h);
void dp_vnet_put(uint8_t *p, const struct dp_vnet *h);

/* The Internet checksum (RFC 1071): a running 32-bit sum and its fold. */
uint32_t dp_csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t dp_csum_fold(uint32_t sum);
/* The TCP/UDP pseudo-header sum (RFC 9293 3.1, RFC 8200 8.1) for l4len octets. */
uint32_t dp_csum_pseudo(int family, const uint8_t *iphdr, uint8_t proto, size_t l4len);

/* Segmentation of one packet read from TUN (virtio-net semantics). */
struct dp_gso {
	const uint8_t *pkt; /* borrowed: the packet after the header */
	size_t len;
	struct dp_vnet h;
	int family;    /* AF_INET or AF_INET6 */
	size_t l4;     /* offset of the TCP/UDP header */
	size_t hdrlen; /* IP + TCP/UDP header: copied into every segment */
	size_t mss;    /* payload per segment */
	size_t off;    /* payload offset of the next segment */
	unsigned idx;  /* segments done */
	bool done;
};

/* -1 when h and pkt do not describe a packet we can segment (counted as malformed). */
int dp_gso_start(struct dp_gso *g, const struct dp_vnet *h, const uint8_t *pkt, size_t len) WUR;
/*
 * Write the next segment, checksums complete, into out (cap octets); sets
 * *len. 1 for a segment, 0 when there are no more, -1 if it does not fit.
 */
int dp_gso_next(struct dp_gso *g, uint8_t *out, size_t cap, size_t *len) WUR;

/* Coalescing of inbound TCP segments into one super-packet for TUN. */
struct dp_gro {
	uint8_t *buf; /* borrowed: DP_VNET_HDR_LEN + DP_GSO_MAX octets; packet at DP_VNET_HDR_LEN */
	size_t len;   /* packet octets held; 0 = empty */
	int family;
	size_t l4, hdrlen, mss;
	unsigned nseg;
	uint32_t next_seq;
	bool closed; /* a shorter or PSH segment ended it */
};

/*
 * Add the IP packet p: 1 when it was appended to (or started) the
 * super-packet, 0 when the held one must be finished first (then call
 * again), -1 when p is no TCP segment that can be coalesced (finish the
 * held one, then send p on its own).
 */
int dp_gro_add(struct dp_gro *g, const uint8_t *p, size_t len);
/* Fix lengths and checksums, write the header; returns the octets to write from g->buf. */
size_t dp_gro_finish(struct dp_gro *g);

#endif
