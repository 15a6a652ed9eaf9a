/*
 * Settings of one initiator SA instead of its connection's: a host that
 * runs many clients from one engine (rike-load, the load generator) gives
 * each SA an identity of its own (RFC 7296 3.5), a TSi of its own for the
 * first Child SA (2.9, e.g. an inner address per client), and says whether
 * it is the only SA between its identities, which decides
 * N(INITIAL_CONTACT) in IKE_AUTH (2.4). Nothing is allocated for SAs that
 * use their connection's settings.
 */
#include <stdlib.h>
#include <string.h>

#include "ike/sa.h"

static struct ike_sa_own *own_get(struct ike_sa *sa)
{
	if (!sa->initiator)
		return NULL;
	if (!sa->own) {
		sa->own = calloc(1, sizeof(*sa->own));
		if (sa->own)
			sa->own->initial_contact = -1;
	}
	return sa->own;
}

int ike_sa_set_local_id(struct ike_sa *sa, const struct cfg_id *id)
{
	struct ike_sa_own *o;

	if (!id->type || !(o = own_get(sa)))
		return -1;
	o->id = *id;
	return 0;
}

int ike_sa_set_local_ts(struct ike_sa *sa, const struct cfg_ts *ts, size_t n)
{
	struct ike_sa_own *o;

	if (!n || n > CFG_MAX_TS || !(o = own_get(sa)))
		return -1;
	memcpy(o->ts, ts, n * sizeof(*ts));
	o->n_ts = n;
	return 0;
}

int ike_sa_set_initial_contact(struct ike_sa *sa, bool initial)
{
	struct ike_sa_own *o = own_get(sa);

	if (!o)
		return -1;
	o->initial_contact = initial;
	return 0;
}

bool sa_own_id(const struct ike_sa *sa, struct cfg_id *id)
{
	if (!sa->own || !sa->own->id.type)
		return false;
	*id = sa->own->id;
	return true;
}

bool sa_own_ts(const struct ike_sa *sa, struct ike_ts_set *ts)
{
	if (!sa->own || !sa->own->n_ts)
		return false;
	memcpy(ts->ts, sa->own->ts, sa->own->n_ts * sizeof(ts->ts[0]));
	ts->n = sa->own->n_ts;
	return true;
}

int sa_own_initial_contact(const struct ike_sa *sa)
{
	return sa->own ? sa->own->initial_contact : -1;
}
