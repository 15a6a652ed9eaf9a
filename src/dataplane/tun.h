/* Internal: the TUN device and the rtnetlink requests of the userspace backend. */
#ifndef RIKE_DP_TUN_H
#define RIKE_DP_TUN_H

#include <linux/if_tun.h>
#include <stdbool.h>
#include <stdint.h>

#include "dataplane/ts.h"
#include "util/compiler.h"

struct dp_nl;

/* Create (or attach to) TUN device name, with a virtio-net header on every
 * packet if vnet (IFF_VNET_HDR), as one of several queues if mq
 * (IFF_MULTI_QUEUE: each open adds a queue); returns a non-blocking fd or -1. */
int dp_tun_open(const char *name, unsigned *ifindex, bool vnet, bool mq) WUR;
#define DP_TUN_NO_VNET (~0u)
/* Linux 6.2 (UDP segmentation offload); Debian 12's headers predate them. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif
/* Ask for the offloads (TUN_F_*) of the kernel, best first: TSO and USO, TSO,
 * checksums only. Returns what was granted, or DP_TUN_NO_VNET if the
 * header cannot be used (then reopen without it). */
unsigned dp_tun_offload(int fd);

struct dp_nl *dp_nl_open(void);
void dp_nl_close(struct dp_nl *nl);
/* Set the link's MTU and bring it up. */
int dp_nl_link_up(struct dp_nl *nl, unsigned ifindex, unsigned mtu) WUR;
/* One route change via the device, for dp_nl_routes. */
struct dp_nl_rt {
	struct dp_prefix dst;
	bool add;
	bool has_src;    /* add: src is the preferred source (RTA_PREFSRC) */
	uint8_t src[16]; /* in network order, IPv4 in the first 4 */
	int err;         /* out: 0, or the kernel's errno for this change */
};
/* The n changes in as few sends as fit (one per ~60 routes), each answered
 * in its err (EEXIST: an add found the route there). -1 (errno) when the
 * socket failed: then the changes not answered carry that errno. */
int dp_nl_routes(struct dp_nl *nl, struct dp_nl_rt *rt, size_t n, unsigned ifindex,
                 uint32_t table) WUR;
int dp_nl_addr(struct dp_nl *nl, bool add, sa_family_t family, const uint8_t *addr, unsigned plen,
               unsigned ifindex) WUR;

#endif
