/*
 * The glue between the IKE engine and the data plane (dp.h): the engine's
 * child_up / child_down / sa_moved hooks become dp_sa_add / dp_policy_add,
 * dp_sa_del / dp_policy_del and dp_sa_migrate calls, and the data plane's
 * events (unknown SPI, expiry, counters) go back to the engine through
 * ike_esp_unknown_spi, ike_child_expired and ike_child_counters.
 */
#ifndef RIKE_DAEMON_DPGLUE_H
#define RIKE_DAEMON_DPGLUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "daemon/config.h"
#include "util/compiler.h"

struct event_base;
struct dp;
struct dp_stats;
struct ike;
struct ike_child_info;
struct dpglue;

/*
 * Probes and creates the data plane `which` on `base` (borrowed). On
 * failure returns NULL and writes the reason to `why`. natt_port is the
 * daemon's NAT-T port (the local port reported with unknown-SPI events).
 */
struct dpglue *dpglue_new(struct event_base *base, enum cfg_dataplane which, uint16_t ike_port,
                          uint16_t natt_port, char *why, size_t whylen);
/* The same with `workers` packet threads for the userspace backend
 * (riked.conf's dataplane_workers; CFG_DP_WORKERS_AUTO: one per online CPU). */
struct dpglue *dpglue_new_workers(struct event_base *base, enum cfg_dataplane which,
                                  uint16_t ike_port, uint16_t natt_port, uint32_t workers,
                                  char *why, size_t whylen);
/* Removes everything installed (dp_free) and frees. NULL-safe. */
void dpglue_free(struct dpglue *g);
/* The engine that receives data-plane events (borrowed; NULL to detach);
 * `after` runs after every such engine call (riked re-arms its timer). */
void dpglue_set_ike(struct dpglue *g, struct ike *ike, void (*after)(void *ctx), void *ctx);
const char *dpglue_backend_name(enum cfg_dataplane which);
struct addrmon;
/* Where to ask whether an address is local (borrowed; NULL: getifaddrs). */
void dpglue_set_addrmon(struct dpglue *g, const struct addrmon *am);

/* The backend only handles UDP-encapsulated SAs (userspace): the daemon
 * then forces NAT-T on every connection (RFC 7296 2.23). */
bool dpglue_requires_encap(const struct dpglue *g);
/* The kernel takes ESP-in-UDP off our NAT-T sockets (XFRM: UDP_ENCAP). */
bool dpglue_wants_udp_encap(const struct dpglue *g);
/* The backend wants ESP-in-UDP through dpglue_input_udp. */
bool dpglue_wants_udp(const struct dpglue *g);
/* The NAT-T sockets used to send ESP-in-UDP (-1: none for that family). */
int dpglue_set_sockets(struct dpglue *g, int fd4, int fd6) WUR;
/* The data plane stops sending on the NAT-T sockets (before they may be
 * closed: its packet threads send on them; dpglue_set_sockets gives them back). */
void dpglue_drop_sockets(struct dpglue *g);
/* The backend wants its own receive sockets beside every NAT-T socket
 * (dp_udp_steers): those need SO_REUSEPORT before bind. */
bool dpglue_steers(const struct dpglue *g);
/* Every NAT-T socket now (dp_udp_steer); -1 when some are not steered
 * (the backend logged it: their ESP keeps coming through the loop). */
int dpglue_steer(struct dpglue *g, const int *fds, size_t n);
/* The daemon is about to close NAT-T socket fd: the backend's receive
 * sockets in its group go first (dp_udp_unsteer). */
void dpglue_unsteer(struct dpglue *g, int fd);
/* struct ike_host's spi_residue (dp_spi_residue). */
int dpglue_spi_residue(struct dpglue *g, uint32_t rekey_reqid, uint32_t *mod, uint32_t *residue);
void dpglue_input_udp(struct dpglue *g, uint8_t *buf, size_t len,
                      const struct sockaddr_storage *local, const struct sockaddr_storage *remote);

/* The engine's hooks (struct ike_host). */
int dpglue_child_up(struct dpglue *g, const struct ike_child_info *c) WUR;
void dpglue_child_down(struct dpglue *g, const struct ike_child_info *c);
void dpglue_child_moved(struct dpglue *g, const struct ike_child_info *c);

/* Pushes every installed Child SA's byte and packet counters to the
 * engine (ike_child_counters), e.g. before ike_status. */
void dpglue_refresh_counters(struct dpglue *g);
/* Child SAs installed now (tests, logs). */
size_t dpglue_nchildren(const struct dpglue *g);
/* The data plane's global counters and drops by reason (rikectl status). */
void dpglue_stats(const struct dpglue *g, struct dp_stats *out);

#endif
