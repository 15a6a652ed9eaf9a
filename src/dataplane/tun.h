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
/* Add or delete a route for prefix via the device; src (may be NULL) is the preferred source. */
int dp_nl_route(struct dp_nl *nl, bool add, const struct dp_prefix *dst, unsigned ifindex,
                uint32_t table, const uint8_t *src) WUR;
int dp_nl_addr(struct dp_nl *nl, bool add, sa_family_t family, const uint8_t *addr, unsigned plen,
               unsigned ifindex) WUR;

#endif
