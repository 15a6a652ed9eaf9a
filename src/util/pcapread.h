/*
 * Read the IKE datagrams (UDP ports 500 and 4500) out of a capture file,
 * pcap or pcapng, through libpcap. Used by `rikectl decode` and the tests.
 * Link types: Ethernet (with 802.1Q), Linux cooked (SLL, SLL2), raw IP and
 * BSD loopback. IPv4 and IPv6 outer headers; IP fragments are skipped.
 */
#ifndef RIKE_UTIL_PCAPREAD_H
#define RIKE_UTIL_PCAPREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

struct pcap_udp {
	unsigned frame; /* 1-based frame number, as tshark counts */
	int family;     /* AF_INET or AF_INET6 */
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	const uint8_t *payload; /* UDP payload, borrowed until the next callback returns */
	size_t len;
	double ts; /* seconds since the epoch */
};

/*
 * Call fn for every UDP datagram to or from port 500 or 4500. Frames that
 * are not such datagrams (or are truncated) are skipped. A non-zero return
 * from fn stops the walk and is returned. Returns -1 and fills errbuf
 * (at least 256 octets) when the file cannot be read.
 */
typedef int (*pcap_udp_fn)(void *ctx, const struct pcap_udp *d);
int pcapread_udp(const char *path, pcap_udp_fn fn, void *ctx, char *errbuf) WUR;

#endif
