/*
 * RFC 5685 4: an IKE_SA_INIT that reaches this gateway on an anycast
 * address is redirected to a unicast address (riked.redirect_anycast).
 */
#include <string.h>

#include "ike/redirect_provider.h"

static int anycast_choose(void *state, const struct redirect_query *q, char gw[CFG_GW_MAX])
{
	const struct cfg *cfg = ike_cfg(q->ike);

	(void)state;
	if (q->place != REDIRECT_IN_INIT)
		return 0;
	for (size_t i = 0; i < cfg->n_anycast; i++) {
		struct ike_addr a;

		addr_set_ss(&a, &cfg->anycast[i].address);
		if (!addr_equal_host(&a, q->local))
			continue;
		snprintf(gw, CFG_GW_MAX, "%s", cfg->anycast[i].to);
		return 1;
	}
	return 0;
}

const struct redirect_provider redirect_anycast = {
    .name = "anycast",
    .choose = anycast_choose,
};
