/*
 * riked's UDP sockets: IKE on cfg->ike_port and IKE + ESP-in-UDP on
 * cfg->natt_port (RFC 7296 2.23, RFC 3948), IPv4 and IPv6, on every
 * configured local address (or the wildcard when a connection's local is
 * %any). Each datagram is delivered with the local address it arrived on
 * (IP_PKTINFO / IPV6_RECVPKTINFO), and datagrams are sent from a chosen
 * local address (IP_PKTINFO / IPV6_PKTINFO), so the IKE SA's addresses
 * are always the real ones.
 */
#ifndef RIKE_DAEMON_NET_H
#define RIKE_DAEMON_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/compiler.h"

struct event_base;
struct cfg;
struct net;

#define NET_MAX_SOCKETS  64        /* distinct (address, port) pairs we listen on */
#define NET_RX_BATCH     64        /* datagrams read per wakeup of one socket */
#define NET_SOCK_BUF     (8 << 20) /* socket buffers: ~0.2 s of a 50k/s flood */
#define NET_MAX_DATAGRAM 65535

/*
 * Where received datagrams go. `local` and `remote` carry addresses and
 * ports. `ike` gets IKE messages on either port and NAT-keepalives on the
 * NAT-T port, exactly as received (the non-ESP marker still in place);
 * `esp` gets ESP-in-UDP from the NAT-T port (buf is scratch, may be
 * modified). Either may be NULL (dropped).
 */
struct net_handlers {
	void (*ike)(void *ctx, const struct sockaddr_storage *local,
	            const struct sockaddr_storage *remote, const uint8_t *buf, size_t len);
	void (*esp)(void *ctx, uint8_t *buf, size_t len, const struct sockaddr_storage *local,
	            const struct sockaddr_storage *remote);
	/* Set SO_REUSEPORT on the NAT-T sockets before bind (the data plane's
	 * receive steering, dp_udp_steer: each of ours is then the first of
	 * its reuseport group, the one IKE is steered to). */
	bool natt_reuseport;
	/* May be NULL: a NAT-T socket is about to be closed (net_sync,
	 * net_free); the data plane's sockets in its group go first. */
	void (*natt_closing)(void *ctx, int fd);
};

/* Opens the sockets `cfg` needs on `base` (both borrowed). NULL on failure
 * (logged), e.g. when no socket at all could be bound. */
struct net *net_new(struct event_base *base, const struct cfg *cfg, const struct net_handlers *h,
                    void *ctx);
void net_free(struct net *net);
/* After a reload: open sockets for new local addresses, close unused ones.
 * The ports never change at run time (cfg_needs_restart). */
int net_sync(struct net *net, const struct cfg *cfg) WUR;

/*
 * Sends one datagram from `from` to `to`. The socket is chosen by from's
 * family and port (a port of 0 means the IKE port, or the NAT-T port when
 * `to` uses it); an unspecified or wildcard `from` lets the kernel choose
 * the source address. Returns 0 or -1 with errno set.
 */
int net_send(struct net *net, const struct sockaddr_storage *from,
             const struct sockaddr_storage *to, const uint8_t *buf, size_t len) WUR;

/* A NAT-T port socket of `family` for the data plane's ESP-in-UDP (the
 * wildcard one if there is one), or -1. Valid until the next net_sync. */
int net_natt_fd(const struct net *net, sa_family_t family);
/* Every NAT-T port socket, up to max of them in fds; how many there are.
 * Valid until the next net_sync. */
size_t net_natt_fds(const struct net *net, int *fds, size_t max);
/* The kernel data plane (DP_FEAT_UDP_ENCAP_SOCKOPT) decapsulates ESP-in-UDP
 * itself (RFC 3948): set UDP_ENCAP_ESPINUDP on every NAT-T socket, now and
 * on those net_sync opens later (on = false clears it). */
int net_set_udp_encap(struct net *net, bool on) WUR;
/* Number of open sockets (tests, status). */
size_t net_nsockets(const struct net *net);

/* Helpers shared with tests: sockaddr length of a family, and the port of
 * an AF_INET / AF_INET6 address (0 otherwise). */
socklen_t net_sa_len(const struct sockaddr_storage *ss);
uint16_t net_port(const struct sockaddr_storage *ss);

#endif
