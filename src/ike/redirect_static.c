/*
 * A static list of gateways per connection (redirect.to): new clients are
 * spread over it in IKE_SA_INIT, round-robin or by weight (smooth weighted
 * round-robin: each pick adds every weight to its credit and takes the
 * largest, which then pays the total, so gateways alternate in proportion
 * without bursts).
 */
#include <stdlib.h>
#include <string.h>

#include "ike/redirect_provider.h"

#define STATIC_CONNS 64 /* connections with their own turn; more share the last slot */

struct turn {
	char conn[CFG_NAME_MAX];
	size_t next;                      /* round-robin */
	int64_t credit[CFG_REDIRECT_MAX]; /* weighted */
};

struct statics {
	struct turn turn[STATIC_CONNS];
	size_t n;
};

static void *static_new(void)
{
	return calloc(1, sizeof(struct statics));
}

static void static_free(void *state)
{
	free(state);
}

static struct turn *turn_of(struct statics *s, const char *conn)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->turn[i].conn, conn))
			return &s->turn[i];
	if (s->n == STATIC_CONNS)
		return &s->turn[STATIC_CONNS - 1];
	snprintf(s->turn[s->n].conn, CFG_NAME_MAX, "%s", conn);
	return &s->turn[s->n++];
}

static size_t pick_weighted(struct turn *t, const struct cfg_redirect *r)
{
	int64_t total = 0;
	size_t best = 0;

	for (size_t i = 0; i < r->n_to; i++) {
		t->credit[i] += r->weight[i];
		total += r->weight[i];
		if (t->credit[i] > t->credit[best])
			best = i;
	}
	t->credit[best] -= total;
	return best;
}

static int static_choose(void *state, const struct redirect_query *q, char gw[CFG_GW_MAX])
{
	const struct cfg_redirect *r = q->conn ? &q->conn->redirect : NULL;
	struct turn *t;
	size_t i;

	if (q->place != REDIRECT_IN_INIT || !r || !r->n_to)
		return 0;
	t = turn_of(state, q->conn->name);
	if (r->select == CFG_SELECT_WEIGHT) {
		i = pick_weighted(t, r);
	} else {
		i = t->next % r->n_to;
		t->next = i + 1;
	}
	snprintf(gw, CFG_GW_MAX, "%s", r->to[i]);
	return 1;
}

const struct redirect_provider redirect_static = {
    .name = "static",
    .new = static_new,
    .free = static_free,
    .choose = static_choose,
};
