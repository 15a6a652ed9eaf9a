/*
 * ESP probes: ICMP echo requests and replies (RFC 792, RFC 4443 4.1-4.2)
 * as the inner packets of one Child SA, for a host that holds the SA's
 * keys and sends ESP itself, without a TUN device or an SPD (rike-load's
 * --traffic). Building writes an echo into a dp_buf and encapsulates it
 * (esp.c); opening decapsulates an answer and checks that it is an echo
 * of ours, intact.
 */
#ifndef RIKE_DP_PROBE_H
#define RIKE_DP_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dataplane/esp.h"
#include "dataplane/pkt.h"

#define DP_PROBE_MIN_DATA 16   /* magic, tag, timestamp */
#define DP_PROBE_MAX_DATA 8192 /* ICMP data octets */
/* Room a probe needs in its buffer: ESP in front, the packet, ESP behind. */
#define DP_PROBE_HEADROOM DP_ESP_MAX_HEADROOM
#define DP_PROBE_BUF_CAP  (DP_PROBE_HEADROOM + 40 + 8 + DP_PROBE_MAX_DATA + DP_ESP_MAX_TAILROOM)

/* What one echo carries. Addresses are inner addresses, network order. */
struct dp_probe {
	sa_family_t family; /* AF_INET or AF_INET6 */
	uint8_t src[16], dst[16];
	uint16_t id, seq; /* ICMP identifier and sequence number */
	uint32_t tag;     /* the sender's own number (e.g. its client) */
	uint64_t stamp;   /* the sender's clock when sent; echoed back */
	size_t data_len;  /* ICMP data octets, DP_PROBE_MIN_DATA..DP_PROBE_MAX_DATA */
};

enum dp_probe_result {
	DP_PROBE_OK,
	DP_PROBE_ESP_MALFORMED, /* ESP framing or padding (RFC 4303 2.4-2.6) */
	DP_PROBE_REPLAY,        /* RFC 4303 3.4.3 */
	DP_PROBE_AUTH,          /* the ICV did not verify (RFC 4303 3.4.4) */
	DP_PROBE_DUMMY,         /* next header 59 (RFC 4303 2.6) */
	DP_PROBE_NOT_IP,        /* the inner packet is not a well-formed IPv4/IPv6 one */
	DP_PROBE_NOT_ECHO,      /* not the ICMP echo type asked for */
	DP_PROBE_CHECKSUM,      /* ICMP checksum (RFC 792, RFC 4443 2.3) */
	DP_PROBE_FOREIGN,       /* an echo, but not one of ours, or its data changed */
	DP_PROBE_ERROR,         /* no room in the buffer, crypto failure */
	DP_PROBE_N_RESULTS,
};

/* Octets of p's inner IP packet. */
size_t dp_probe_len(const struct dp_probe *p);
/*
 * Write p as an ICMP echo request (reply: an echo reply) in an IPv4 or IPv6
 * packet into b, which must be empty with DP_PROBE_HEADROOM in front, then
 * encapsulate it in ESP with e (tunnel mode). corrupt_icv flips a bit of
 * the ICV after sealing, for tests of the receiver's checks.
 */
enum dp_probe_result dp_probe_seal(struct dp_esp_sa *e, struct dp_buf *b, const struct dp_probe *p,
                                   bool reply, bool corrupt_icv);
/*
 * Decapsulate the ESP packet in b with e (in place) and parse the inner
 * packet as an echo request (reply: an echo reply) of ours. On DP_PROBE_OK,
 * p holds what it carried (src: the host that answered); esp_seq is the
 * ESP sequence number once the ICV verified.
 */
enum dp_probe_result dp_probe_open(struct dp_esp_sa *e, struct dp_buf *b, bool reply,
                                   struct dp_probe *p, uint64_t *esp_seq);
/* Parse an inner packet (no ESP) as above. */
enum dp_probe_result dp_probe_parse(const struct dp_buf *b, bool reply, struct dp_probe *p);
/* A short name for reports ("auth", "replay", ...). */
const char *dp_probe_result_name(enum dp_probe_result r);

#endif
