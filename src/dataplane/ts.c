/*
 * Traffic selectors (RFC 4301 4.4.1.1, RFC 7296 3.13.1): address ranges,
 * protocol and port ranges; matching packets against them, and turning an
 * address range into the CIDR prefixes that the userspace backend routes
 * into its TUN device.
 */
#include "dataplane/ts.h"
#include "dataplane/dp_hash.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

size_t dp_addr_len(sa_family_t family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

bool dp_ts_valid(const struct dp_ts *ts)
{
	size_t n = dp_addr_len(ts->family);

	return n && memcmp(ts->addr_lo, ts->addr_hi, n) <= 0 && ts->port_lo <= ts->port_hi;
}

/* Comparisons count in dp_hash_steps: a scan of the SPD would show. */
bool dp_ts_equal(const struct dp_ts *a, const struct dp_ts *b)
{
	size_t n = dp_addr_len(a->family);

	dp_hash_steps++;
	return a->family == b->family && a->proto == b->proto && a->port_lo == b->port_lo &&
	       a->port_hi == b->port_hi && !memcmp(a->addr_lo, b->addr_lo, n) &&
	       !memcmp(a->addr_hi, b->addr_hi, n);
}

bool dp_ts_has_addr(const struct dp_ts *ts, sa_family_t family, const uint8_t *addr)
{
	size_t n = dp_addr_len(family);

	return ts->family == family && memcmp(addr, ts->addr_lo, n) >= 0 &&
	       memcmp(addr, ts->addr_hi, n) <= 0;
}

bool dp_ts_match_flow(const struct dp_ts *ts, const struct dp_flow *f, bool src)
{
	uint16_t port = src ? f->sport : f->dport;

	dp_hash_steps++;
	if (!dp_ts_has_addr(ts, f->family, src ? f->src : f->dst))
		return false;
	if (ts->proto && ts->proto != f->proto)
		return false;
	if (ts->port_lo == 0 && ts->port_hi == 0xffff)
		return true;
	return !f->opaque_ports && port >= ts->port_lo && port <= ts->port_hi;
}

void dp_ts_from_flow(struct dp_ts *ts, const struct dp_flow *f, bool src)
{
	memset(ts, 0, sizeof(*ts));
	ts->family = f->family;
	ts->proto = f->proto;
	memcpy(ts->addr_lo, src ? f->src : f->dst, dp_addr_len(f->family));
	memcpy(ts->addr_hi, ts->addr_lo, sizeof(ts->addr_hi));
	ts->port_lo = ts->port_hi = src ? f->sport : f->dport;
	if (f->opaque_ports || ts->port_lo == 0) {
		ts->port_lo = 0;
		ts->port_hi = 0xffff;
	}
}

int dp_ts_from_prefix(struct dp_ts *ts, sa_family_t family, const void *addr, unsigned plen)
{
	size_t n = dp_addr_len(family);

	if (!n || plen > n * 8) {
		errno = EINVAL;
		return -1;
	}
	memset(ts, 0, sizeof(*ts));
	ts->family = family;
	ts->port_hi = 0xffff;
	memcpy(ts->addr_lo, addr, n);
	for (size_t i = 0; i < n; i++) {
		unsigned bits = plen > i * 8 ? plen - (unsigned)i * 8 : 0;
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
		ts->addr_lo[i] &= mask;
		ts->addr_hi[i] = ts->addr_lo[i] | (uint8_t)~mask;
	}
	return 0;
}

int dp_ts_parse(struct dp_ts *ts, const char *s)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	uint8_t addr[16];
	sa_family_t family;
	unsigned long plen;

	if (strlen(s) >= sizeof(buf))
		goto invalid;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(family, buf, addr) != 1)
		goto invalid;
	plen = dp_addr_len(family) * 8;
	if (slash) {
		char *end;
		plen = strtoul(slash, &end, 10);
		if (*slash == '\0' || *end != '\0')
			goto invalid;
	}
	return dp_ts_from_prefix(ts, family, addr, (unsigned)plen);
invalid:
	errno = EINVAL;
	return -1;
}

/* 128-bit arithmetic on addresses (IPv4 in the low 32 bits). */
typedef unsigned __int128 u128;

static u128 addr_to_u128(const uint8_t *a, size_t n)
{
	u128 v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | a[i];
	return v;
}

static void u128_to_addr(u128 v, uint8_t *a, size_t n)
{
	for (size_t i = n; i-- > 0; v >>= 8)
		a[i] = (uint8_t)v;
}

/* 2^k - 1 for k <= 128. */
static u128 block_mask(size_t k)
{
	return k >= 128 ? ~(u128)0 : ((u128)1 << k) - 1;
}

int dp_ts_prefixes(const struct dp_ts *ts, struct dp_prefix *out, size_t max, size_t *n)
{
	size_t alen = dp_addr_len(ts->family), bits = alen * 8;
	u128 lo = addr_to_u128(ts->addr_lo, alen), hi = addr_to_u128(ts->addr_hi, alen);

	*n = 0;
	for (;;) {
		/* The largest aligned block starting at lo that stays within hi. */
		size_t k = 0;
		while (k < bits && ((lo >> k) & 1) == 0 && lo + block_mask(k + 1) <= hi)
			k++;
		if (*n == max) {
			errno = E2BIG;
			return -1;
		}
		out[*n].family = ts->family;
		out[*n].len = (uint8_t)(bits - k);
		u128_to_addr(lo, out[*n].addr, alen);
		(*n)++;
		u128 last = lo + block_mask(k);
		if (last >= hi)
			return 0;
		lo = last + 1;
	}
}
