/*
 * Identity rules (redirect.by_id): in IKE_AUTH, once the client is
 * authenticated (RFC 5685 6), the first rule whose pattern matches its ID
 * (as text, fnmatch(3), case-insensitive) sends it to its gateway, e.g. a
 * user's home gateway.
 */
#include <fnmatch.h>
#include <string.h>

#include "ike/redirect_provider.h"

static int by_id_choose(void *state, const struct redirect_query *q, char gw[CFG_GW_MAX])
{
	const struct cfg_redirect *r = q->conn ? &q->conn->redirect : NULL;

	(void)state;
	if (q->place != REDIRECT_IN_AUTH || !r || !q->client_id || !q->client_id[0])
		return 0;
	for (size_t i = 0; i < r->n_by_id; i++)
		if (fnmatch(r->by_id[i].id, q->client_id, FNM_CASEFOLD) == 0) {
			snprintf(gw, CFG_GW_MAX, "%s", r->by_id[i].to);
			return 1;
		}
	return 0;
}

const struct redirect_provider redirect_by_id = {
    .name = "by_id",
    .choose = by_id_choose,
};
