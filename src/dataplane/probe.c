/*
 * ESP probes (probe.h): ICMP echo requests and replies in IPv4 (RFC 791,
 * RFC 792) or IPv6 (RFC 8200, RFC 4443 4.1-4.2) as tunnel-mode inner
 * packets (RFC 4303 3.1.2), sealed and opened with esp.c. The echo data
 * (RFC 792: returned unchanged in the reply) carries a magic number, the
 * sender's tag and timestamp, then a counting pattern, so that an answer
 * is known to be ours and intact, and its round trip can be timed.
 */
#include "dataplane/probe.h"

#include <netinet/in.h>

#include "dataplane/gso.h"

#define PROBE_MAGIC   0x524b4c64u /* "RkLd" */
#define PROBE_IP4_LEN 20
#define PROBE_IP6_LEN 40
#define PROBE_ICMP    8 /* type, code, checksum, identifier, sequence number */
#define ICMP4_REPLY   0
#define ICMP4_REQUEST 8
#define ICMP6_REQUEST 128
#define ICMP6_REPLY   129

static size_t ip_len(sa_family_t family)
{
	return family == AF_INET6 ? PROBE_IP6_LEN : PROBE_IP4_LEN;
}

size_t dp_probe_len(const struct dp_probe *p)
{
	return ip_len(p->family) + PROBE_ICMP + p->data_len;
}

static uint8_t echo_type(sa_family_t family, bool reply)
{
	if (family == AF_INET6)
		return reply ? ICMP6_REPLY : ICMP6_REQUEST;
	return reply ? ICMP4_REPLY : ICMP4_REQUEST;
}

static void put_ip4(uint8_t *h, const struct dp_probe *p, size_t total)
{
	memset(h, 0, PROBE_IP4_LEN);
	h[0] = 0x45; /* version 4, 5 words */
	dp_put16(h + 2, (uint16_t)total);
	dp_put16(h + 4, p->seq); /* identification */
	h[8] = 64;               /* TTL */
	h[9] = IPPROTO_ICMP;
	memcpy(h + 12, p->src, 4);
	memcpy(h + 16, p->dst, 4);
	dp_put16(h + 10, dp_csum_fold(dp_csum_add(0, h, PROBE_IP4_LEN)));
}

static void put_ip6(uint8_t *h, const struct dp_probe *p, size_t total)
{
	memset(h, 0, PROBE_IP6_LEN);
	h[0] = 0x60;
	dp_put16(h + 4, (uint16_t)(total - PROBE_IP6_LEN));
	h[6] = IPPROTO_ICMPV6;
	h[7] = 64; /* hop limit */
	memcpy(h + 8, p->src, 16);
	memcpy(h + 24, p->dst, 16);
}

/* The ICMP checksum: ICMPv6 covers a pseudo-header too (RFC 4443 2.3). */
static uint32_t icmp_sum(sa_family_t family, const uint8_t *ip, const uint8_t *icmp, size_t len)
{
	uint32_t s = family == AF_INET6 ? dp_csum_pseudo(AF_INET6, ip, IPPROTO_ICMPV6, len) : 0;

	return dp_csum_add(s, icmp, len);
}

static int probe_build(struct dp_buf *b, const struct dp_probe *p, bool reply)
{
	size_t total = dp_probe_len(p), hl = ip_len(p->family);
	uint8_t *ip, *icmp, *data;

	if (p->data_len < DP_PROBE_MIN_DATA || p->data_len > DP_PROBE_MAX_DATA ||
	    (p->family != AF_INET && p->family != AF_INET6) || b->len ||
	    !(ip = dp_buf_put(b, total)))
		return -1;
	if (p->family == AF_INET)
		put_ip4(ip, p, total);
	else
		put_ip6(ip, p, total);
	icmp = ip + hl;
	data = icmp + PROBE_ICMP;
	icmp[0] = echo_type(p->family, reply);
	icmp[1] = 0;
	dp_put16(icmp + 2, 0);
	dp_put16(icmp + 4, p->id);
	dp_put16(icmp + 6, p->seq);
	dp_put32(data, PROBE_MAGIC);
	dp_put32(data + 4, p->tag);
	dp_put64(data + 8, p->stamp);
	for (size_t k = DP_PROBE_MIN_DATA; k < p->data_len; k++)
		data[k] = (uint8_t)k;
	dp_put16(icmp + 2, dp_csum_fold(icmp_sum(p->family, ip, icmp, total - hl)));
	return 0;
}

static enum dp_probe_result from_esp(enum dp_esp_result r)
{
	switch (r) {
	case DP_ESP_OK:
		return DP_PROBE_OK;
	case DP_ESP_MALFORMED:
		return DP_PROBE_ESP_MALFORMED;
	case DP_ESP_REPLAY:
		return DP_PROBE_REPLAY;
	case DP_ESP_AUTH:
		return DP_PROBE_AUTH;
	case DP_ESP_DUMMY:
		return DP_PROBE_DUMMY;
	default:
		return DP_PROBE_ERROR;
	}
}

enum dp_probe_result dp_probe_seal(struct dp_esp_sa *e, struct dp_buf *b, const struct dp_probe *p,
                                   bool reply, bool corrupt_icv)
{
	enum dp_esp_result r;
	uint8_t *icv;

	if (probe_build(b, p, reply))
		return DP_PROBE_ERROR;
	r = dp_esp_encap(e, b, p->family == AF_INET6 ? DP_ESP_NH_IPV6 : DP_ESP_NH_IPV4);
	if (r != DP_ESP_OK)
		return DP_PROBE_ERROR;
	if (corrupt_icv) {
		icv = dp_buf_at(b, b->len - 1, 1); /* the ICV ends the packet (RFC 4303 2) */
		if (!icv)
			return DP_PROBE_ERROR;
		icv[0] ^= 0x01;
	}
	return DP_PROBE_OK;
}

/* The IP header: addresses into p; *l4 and *l4len the ICMP message. */
static enum dp_probe_result parse_ip(const struct dp_buf *b, struct dp_probe *p, size_t *l4,
                                     size_t *l4len)
{
	const uint8_t *h = dp_buf_at(b, 0, 1);
	size_t hl, total;

	if (!h)
		return DP_PROBE_NOT_IP;
	if (h[0] >> 4 == 4) {
		hl = (size_t)(h[0] & 0x0f) * 4;
		if (hl < PROBE_IP4_LEN || !(h = dp_buf_at(b, 0, hl)) ||
		    dp_csum_fold(dp_csum_add(0, h, hl)) != 0)
			return DP_PROBE_NOT_IP;
		total = dp_get16(h + 2);
		if (total < hl || total > b->len)
			return DP_PROBE_NOT_IP;
		if (h[9] != IPPROTO_ICMP || (dp_get16(h + 6) & 0x3fff)) /* a fragment: not ours */
			return DP_PROBE_NOT_ECHO;
		p->family = AF_INET;
		memset(p->src, 0, sizeof(p->src));
		memset(p->dst, 0, sizeof(p->dst));
		memcpy(p->src, h + 12, 4);
		memcpy(p->dst, h + 16, 4);
	} else if (h[0] >> 4 == 6) {
		hl = PROBE_IP6_LEN;
		if (!(h = dp_buf_at(b, 0, hl)))
			return DP_PROBE_NOT_IP;
		total = hl + dp_get16(h + 4);
		if (total > b->len)
			return DP_PROBE_NOT_IP;
		if (h[6] != IPPROTO_ICMPV6) /* extension headers: not what we sent */
			return DP_PROBE_NOT_ECHO;
		p->family = AF_INET6;
		memcpy(p->src, h + 8, 16);
		memcpy(p->dst, h + 24, 16);
	} else {
		return DP_PROBE_NOT_IP;
	}
	*l4 = hl;
	*l4len = total - hl;
	return DP_PROBE_OK;
}

enum dp_probe_result dp_probe_parse(const struct dp_buf *b, bool reply, struct dp_probe *p)
{
	size_t at, len;
	const uint8_t *ip, *icmp, *data;
	enum dp_probe_result r = parse_ip(b, p, &at, &len);

	if (r != DP_PROBE_OK)
		return r;
	ip = dp_buf_at(b, 0, at);
	icmp = dp_buf_at(b, at, len);
	if (!ip || !icmp || len < PROBE_ICMP || icmp[0] != echo_type(p->family, reply) || icmp[1])
		return DP_PROBE_NOT_ECHO;
	if (dp_csum_fold(icmp_sum(p->family, ip, icmp, len)) != 0)
		return DP_PROBE_CHECKSUM;
	p->id = dp_get16(icmp + 4);
	p->seq = dp_get16(icmp + 6);
	p->data_len = len - PROBE_ICMP;
	data = icmp + PROBE_ICMP;
	if (p->data_len < DP_PROBE_MIN_DATA || p->data_len > DP_PROBE_MAX_DATA ||
	    dp_get32(data) != PROBE_MAGIC)
		return DP_PROBE_FOREIGN;
	p->tag = dp_get32(data + 4);
	p->stamp = (uint64_t)dp_get32(data + 8) << 32 | dp_get32(data + 12);
	for (size_t k = DP_PROBE_MIN_DATA; k < p->data_len; k++)
		if (data[k] != (uint8_t)k)
			return DP_PROBE_FOREIGN;
	return DP_PROBE_OK;
}

enum dp_probe_result dp_probe_open(struct dp_esp_sa *e, struct dp_buf *b, bool reply,
                                   struct dp_probe *p, uint64_t *esp_seq)
{
	uint8_t nh;
	enum dp_probe_result r = from_esp(dp_esp_decap(e, b, &nh, esp_seq));

	if (r != DP_PROBE_OK)
		return r;
	/* RFC 4303 2.6: tunnel mode carries a whole IP packet. */
	if (nh != DP_ESP_NH_IPV4 && nh != DP_ESP_NH_IPV6)
		return DP_PROBE_NOT_IP;
	r = dp_probe_parse(b, reply, p);
	if (r == DP_PROBE_OK && (p->family == AF_INET6) != (nh == DP_ESP_NH_IPV6))
		return DP_PROBE_NOT_IP;
	return r;
}

const char *dp_probe_result_name(enum dp_probe_result r)
{
	static const char *const names[DP_PROBE_N_RESULTS] = {
	    [DP_PROBE_OK] = "ok",
	    [DP_PROBE_ESP_MALFORMED] = "esp_malformed",
	    [DP_PROBE_REPLAY] = "replay",
	    [DP_PROBE_AUTH] = "auth",
	    [DP_PROBE_DUMMY] = "dummy",
	    [DP_PROBE_NOT_IP] = "not_ip",
	    [DP_PROBE_NOT_ECHO] = "not_echo",
	    [DP_PROBE_CHECKSUM] = "icmp_checksum",
	    [DP_PROBE_FOREIGN] = "foreign",
	    [DP_PROBE_ERROR] = "error",
	};

	return (unsigned)r < DP_PROBE_N_RESULTS ? names[r] : "?";
}
