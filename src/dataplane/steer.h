/*
 * Receive steering of UDP-encapsulated ESP (RFC 3948) to packet workers:
 * a classic BPF program for a SO_REUSEPORT group on the NAT-T port, and
 * the sockets that join such a group. No backend state: the userspace
 * backend's us_steer.c uses it, the unit tests run it on real sockets.
 */
#ifndef RIKE_DATAPLANE_STEER_H
#define RIKE_DATAPLANE_STEER_H

#include <linux/filter.h>

#include "util/compiler.h"

#define DP_STEER_PROG_LEN 8

/*
 * The program of a reuseport group of 1 + workers sockets, index 0 the
 * daemon's (bound first), 1 + i worker i's. The kernel runs it on the UDP
 * payload (it pulls the UDP header first): fewer than 4 octets (a
 * NAT-keepalive, RFC 3948 2.3, or a runt) or the 4-octet zero non-ESP
 * marker (IKE, 2.2) -> 0; ESP (2.1: its SPI first, never 0) -> 1 + SPI
 * mod workers. workers >= 1.
 */
void dp_steer_prog(struct sock_filter prog[DP_STEER_PROG_LEN], unsigned workers);
/* Attach it to the group of fd (bound, with SO_REUSEPORT): 0 or -1 (errno). */
int dp_steer_attach(int fd, unsigned workers) WUR;
/* A new UDP socket in fd's reuseport group: bound to fd's address and
 * port with SO_REUSEPORT (fd must have it set before its bind), non-
 * blocking; -1 (errno) when the kernel refuses, e.g. fd has no
 * SO_REUSEPORT (EADDRINUSE). The caller owns it. */
int dp_steer_socket(int fd) WUR;

#endif
