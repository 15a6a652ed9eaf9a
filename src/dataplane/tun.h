/* Internal: the TUN device and the rtnetlink requests of the userspace backend. */
#ifndef RIKE_DP_TUN_H
#define RIKE_DP_TUN_H

#include <stdbool.h>
#include <stdint.h>

#include "dataplane/ts.h"
#include "util/compiler.h"

struct dp_nl;

/* Create (or attach to) TUN device name; returns a non-blocking fd or -1. */
int dp_tun_open(const char *name, unsigned *ifindex) WUR;

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
