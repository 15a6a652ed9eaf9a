/*
 * Internal: packet buffers of the data plane and the only place (with
 * pkt.c, gso.c and probe.c) that reads or writes packet bytes at offsets. Every accessor takes
 * the buffer's length and checks the offset, in the spirit of
 * wire/cursor.h; the data plane does not use the wire cursors themselves
 * because it works in place on buffers with head- and tailroom and must not
 * allocate per packet.
 */
#ifndef RIKE_DP_PKT_H
#define RIKE_DP_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "util/compiler.h"

/* A packet in a buffer: data is base[off, off + len), cap the buffer size. */
struct dp_buf {
	uint8_t *base;
	size_t cap, off, len;
};

static inline uint8_t *dp_buf_data(const struct dp_buf *b)
{
	return b->base + b->off;
}

static inline size_t dp_buf_tailroom(const struct dp_buf *b)
{
	return b->cap - b->off - b->len;
}

/* Grow the data by n octets in front; returns the new start or NULL. */
static inline uint8_t *dp_buf_push(struct dp_buf *b, size_t n)
{
	if (b->off < n)
		return NULL;
	b->off -= n;
	b->len += n;
	return b->base + b->off;
}

/* Append n octets; returns where they start or NULL. */
static inline uint8_t *dp_buf_put(struct dp_buf *b, size_t n)
{
	if (dp_buf_tailroom(b) < n)
		return NULL;
	b->len += n;
	return b->base + b->off + b->len - n;
}

/* Drop n octets from the front / the back; -1 when there are fewer. */
static inline int dp_buf_pull(struct dp_buf *b, size_t n)
{
	if (b->len < n)
		return -1;
	b->off += n;
	b->len -= n;
	return 0;
}

static inline int dp_buf_trim(struct dp_buf *b, size_t n)
{
	if (b->len < n)
		return -1;
	b->len -= n;
	return 0;
}

/* Pointer to octets [at, at + n) of the data, or NULL if out of range. */
static inline uint8_t *dp_buf_at(const struct dp_buf *b, size_t at, size_t n)
{
	if (at > b->len || b->len - at < n)
		return NULL;
	return b->base + b->off + at;
}

static inline uint32_t dp_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t dp_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void dp_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void dp_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void dp_put64(uint8_t *p, uint64_t v)
{
	dp_put32(p, (uint32_t)(v >> 32));
	dp_put32(p + 4, (uint32_t)v);
}

/* What the SPD needs of an inner IP packet (RFC 4301 4.4.1.1). */
struct dp_flow {
	sa_family_t family;
	uint8_t proto;
	bool opaque_ports; /* non-initial fragment: ports unknown (RFC 4301 7) */
	uint16_t sport, dport;
	uint8_t src[16], dst[16];
	size_t iplen; /* total length from the IP header */
};

/* Parse an IPv4/IPv6 packet; -1 if it is not a well-formed one. */
int dp_flow_parse(const uint8_t *p, size_t len, struct dp_flow *f) WUR;

#endif
