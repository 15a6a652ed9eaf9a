/*
 * Traffic selectors (RFC 7296 2.9, 3.13): conversion from payloads and
 * configuration, narrowing by the responder (intersection with what the
 * configuration allows) and the initiator's subset check on the answer.
 */
#include <string.h>

#include "ike/sa.h"

static size_t ts_alen(const struct cfg_ts *t)
{
	return t->type == IKEV2_TS_IPV4_ADDR_RANGE ? 4 : 16;
}

int ts_from_payload(const struct wire_ts_list *l, struct ike_ts_set *out)
{
	out->n = 0;
	for (uint8_t i = 0; i < l->nts; i++) {
		const struct wire_ts *w = &l->ts[i];
		struct cfg_ts *t;

		/* Types we do not know (e.g. RFC 9478 labels) are left out;
		 * narrowing then decides whether anything remains. */
		if (w->type != IKEV2_TS_IPV4_ADDR_RANGE && w->type != IKEV2_TS_IPV6_ADDR_RANGE)
			continue;
		if (out->n >= IKE_MAX_TS)
			return -1;
		t = &out->ts[out->n++];
		memset(t, 0, sizeof(*t));
		t->type = w->type;
		t->ip_proto = w->ip_proto;
		t->start_port = w->start_port;
		t->end_port = w->end_port;
		memcpy(t->start, w->start, 16);
		memcpy(t->end, w->end, 16);
	}
	return 0;
}

void ts_from_config(const struct cfg_ts *ts, size_t n, const struct ike_addr *addr,
                    struct ike_ts_set *out)
{
	size_t alen;
	const uint8_t *a;

	out->n = 0;
	for (size_t i = 0; i < n && i < IKE_MAX_TS; i++)
		out->ts[out->n++] = ts[i];
	if (out->n || !(a = addr_bytes(addr, &alen)))
		return;
	/* "dynamic": the host's own address (2.9, host-to-host). */
	memset(&out->ts[0], 0, sizeof(out->ts[0]));
	out->ts[0].type = alen == 4 ? IKEV2_TS_IPV4_ADDR_RANGE : IKEV2_TS_IPV6_ADDR_RANGE;
	out->ts[0].end_port = 65535;
	memcpy(out->ts[0].start, a, alen);
	memcpy(out->ts[0].end, a, alen);
	out->n = 1;
}

/* The intersection of two selectors; false when it is empty. */
static bool ts_intersect(const struct cfg_ts *a, const struct cfg_ts *b, struct cfg_ts *out)
{
	size_t alen = ts_alen(a);

	if (a->type != b->type)
		return false;
	if (a->ip_proto && b->ip_proto && a->ip_proto != b->ip_proto)
		return false;
	memset(out, 0, sizeof(*out));
	out->type = a->type;
	out->ip_proto = a->ip_proto ? a->ip_proto : b->ip_proto;
	out->start_port = a->start_port > b->start_port ? a->start_port : b->start_port;
	out->end_port = a->end_port < b->end_port ? a->end_port : b->end_port;
	if (out->start_port > out->end_port)
		return false;
	memcpy(out->start, memcmp(a->start, b->start, alen) > 0 ? a->start : b->start, alen);
	memcpy(out->end, memcmp(a->end, b->end, alen) < 0 ? a->end : b->end, alen);
	return memcmp(out->start, out->end, alen) <= 0;
}

int ts_narrow(const struct ike_ts_set *proposed, const struct ike_ts_set *allowed,
              struct ike_ts_set *out)
{
	out->n = 0;
	for (size_t i = 0; i < proposed->n; i++)
		for (size_t j = 0; j < allowed->n && out->n < IKE_MAX_TS; j++) {
			struct cfg_ts t;
			bool dup = false;

			if (!ts_intersect(&proposed->ts[i], &allowed->ts[j], &t))
				continue;
			for (size_t k = 0; k < out->n; k++)
				dup |= !memcmp(&out->ts[k], &t, sizeof(t));
			if (!dup)
				out->ts[out->n++] = t;
		}
	return out->n ? 0 : -1;
}

static bool ts_contains(const struct cfg_ts *outer, const struct cfg_ts *inner)
{
	struct cfg_ts t;

	return ts_intersect(outer, inner, &t) && !memcmp(&t, inner, sizeof(t));
}

bool ts_subset(const struct ike_ts_set *answer, const struct ike_ts_set *proposed)
{
	for (size_t i = 0; i < answer->n; i++) {
		bool ok = false;

		for (size_t j = 0; j < proposed->n && !ok; j++)
			ok = ts_contains(&proposed->ts[j], &answer->ts[i]);
		if (!ok)
			return false;
	}
	return answer->n > 0;
}
