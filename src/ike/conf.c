/*
 * Look-ups in the engine's configuration (ike/conf.h), and the syntax of
 * the gateway names that both the parser and Redirect read (RFC 5685 9.2).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ike/conf.h"
#include "wire/ikev2.h"

/* RFC 1035 2.3.1 labels (and '_', which real names carry); with glob, also * and ?. */
static bool fqdn_ok(const char *s, bool glob)
{
	size_t label = 0, total = strlen(s);

	if (total == 0 || total > 253)
		return false;
	for (; *s; s++) {
		if (*s == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		           (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
		           (glob && (*s == '*' || *s == '?'))) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

bool conf_fqdn_valid(const char *s)
{
	return fqdn_ok(s, false);
}

uint8_t conf_gw_kind(const char *s)
{
	uint8_t a[16];

	if (inet_pton(AF_INET, s, a) == 1)
		return IKEV2_GW_ID_IPV4;
	if (inet_pton(AF_INET6, s, a) == 1)
		return IKEV2_GW_ID_IPV6;
	return fqdn_ok(s, false) ? IKEV2_GW_ID_FQDN : 0;
}

bool conf_allow_valid(const char *s)
{
	const char *slash = strchr(s, '/');
	char host[64], *end;
	uint8_t a[16];
	unsigned long plen;

	if (!slash)
		return conf_gw_kind(s) == IKEV2_GW_ID_IPV4 || conf_gw_kind(s) == IKEV2_GW_ID_IPV6 ||
		       fqdn_ok(s, true);
	if ((size_t)(slash - s) >= sizeof(host))
		return false;
	memcpy(host, s, (size_t)(slash - s));
	host[slash - s] = 0;
	plen = strtoul(slash + 1, &end, 10);
	if (!slash[1] || *end)
		return false;
	if (inet_pton(AF_INET, host, a) == 1)
		return plen <= 32;
	return inet_pton(AF_INET6, host, a) == 1 && plen <= 128;
}

const struct cfg_conn *conf_conn_lookup(const struct cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nconns; i++)
		if (!strcmp(cfg->conns[i].name, name))
			return &cfg->conns[i];
	return NULL;
}

void conf_ts_format(const struct cfg_ts *ts, char *buf, size_t len)
{
	int af = ts->type == IKEV2_TS_IPV4_ADDR_RANGE ? AF_INET : AF_INET6;
	size_t alen = af == AF_INET ? 4 : 16, plen = 0, off;
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	bool prefix = true;

	inet_ntop(af, ts->start, a, sizeof(a));
	inet_ntop(af, ts->end, b, sizeof(b));
	/* A prefix if end = start with a run of trailing bits set. */
	while (plen < alen * 8 &&
	       !((ts->start[plen / 8] ^ ts->end[plen / 8]) & (0x80 >> (plen % 8))))
		plen++;
	for (size_t bit = plen; bit < alen * 8; bit++)
		if ((ts->start[bit / 8] & (0x80 >> (bit % 8))) ||
		    !(ts->end[bit / 8] & (0x80 >> (bit % 8))))
			prefix = false;
	if (prefix)
		snprintf(buf, len, "%s/%zu", a, plen);
	else
		snprintf(buf, len, "%s-%s", a, b);
	off = strlen(buf);
	if (ts->ip_proto == 0 || off >= len)
		return;
	if (ts->start_port == 0 && ts->end_port == 65535)
		snprintf(buf + off, len - off, "[%u]", ts->ip_proto);
	else if (ts->start_port == ts->end_port)
		snprintf(buf + off, len - off, "[%u/%u]", ts->ip_proto, ts->start_port);
	else
		snprintf(buf + off, len - off, "[%u/%u-%u]", ts->ip_proto, ts->start_port,
		         ts->end_port);
}
