/*
 * Look-ups in the engine's configuration (ike/conf.h).
 */
#include <string.h>

#include "ike/conf.h"

const struct cfg_conn *conf_conn_lookup(const struct cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nconns; i++)
		if (!strcmp(cfg->conns[i].name, name))
			return &cfg->conns[i];
	return NULL;
}
