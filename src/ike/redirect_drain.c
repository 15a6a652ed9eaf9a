/*
 * Drain: the operator empties this gateway (rikectl redirect --drain).
 * While it is on, every new client that supports redirects goes to the
 * drain target, in IKE_SA_INIT or, if it got past that, in IKE_AUTH;
 * redirect.c moves the established ones at a bounded rate.
 */
#include <stdlib.h>
#include <string.h>

#include "ike/redirect_provider.h"

struct drain {
	char to[CFG_GW_MAX]; /* "" when off */
};

static void *drain_new(void)
{
	return calloc(1, sizeof(struct drain));
}

static void drain_free(void *state)
{
	free(state);
}

void redirect_drain_set(void *state, const char *gw)
{
	struct drain *d = state;

	snprintf(d->to, sizeof(d->to), "%s", gw ? gw : "");
}

const char *redirect_drain_target(const void *state)
{
	const struct drain *d = state;

	return d->to[0] ? d->to : NULL;
}

static int drain_choose(void *state, const struct redirect_query *q, char gw[CFG_GW_MAX])
{
	struct drain *d = state;

	if (!d->to[0] || q->place == REDIRECT_IN_ACTIVE)
		return 0;
	snprintf(gw, CFG_GW_MAX, "%s", d->to);
	return 1;
}

const struct redirect_provider redirect_drain = {
    .name = "drain",
    .new = drain_new,
    .free = drain_free,
    .choose = drain_choose,
};
