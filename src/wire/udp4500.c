/*
 * Demultiplexing of UDP port 4500 (RFC 3948 2.1-2.3): an IKE message behind
 * the 4-octet zero non-ESP marker, a 1-octet 0xff NAT-keepalive, or an ESP
 * packet, whose SPI is never zero (RFC 4303 2.1), so the marker cannot be
 * mistaken for one. Outgoing IKE messages get the marker from
 * wire_udp4500_frame.
 */
#include "wire/payload.h"

#include <string.h>

#define NATT_KEEPALIVE 0xff
#define ESP_MIN_HDR    8 /* SPI and sequence number (RFC 4303 2) */

int wire_udp4500_classify(const uint8_t **buf, size_t *len)
{
	struct wire_rd r;
	uint32_t marker;
	uint8_t b;

	wire_rd_init(&r, *buf, *len);
	/* RFC 3948 2.3 */
	if (*len == 1)
		return wire_rd_u8(&r, &b) == 0 && b == NATT_KEEPALIVE ? 2 : -1;
	if (wire_rd_u32(&r, &marker) < 0)
		return -1;
	/* RFC 3948 2.2: the non-ESP marker, then the IKE header. */
	if (marker == 0) {
		*buf = wire_rd_ptr(&r);
		*len = wire_rd_left(&r);
		return 1;
	}
	/* RFC 3948 2.1: otherwise ESP, with its non-zero SPI first. */
	return *len >= ESP_MIN_HDR ? 0 : -1;
}

/* RFC 3948 2.2: "the Non-ESP Marker ... 4 bytes of zero", then the IKE header. */
int wire_udp4500_frame(const uint8_t *msg, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	if (len > cap || cap - len < IKEV2_NON_ESP_MARKER_LEN)
		return -1;
	memset(out, 0, IKEV2_NON_ESP_MARKER_LEN);
	if (len)
		memcpy(out + IKEV2_NON_ESP_MARKER_LEN, msg, len);
	*out_len = WIRE_UDP4500_FRAME_LEN(len);
	return 0;
}
