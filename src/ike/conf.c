/*
 * Look-ups in the engine's configuration (ike/conf.h), and the syntax of
 * the gateway names that both the parser and Redirect read (RFC 5685 9.2).
 */
#include <arpa/inet.h>
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
