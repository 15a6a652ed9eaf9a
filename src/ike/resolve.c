/*
 * Name lookups for extensions (RFC 5685 9.2: a gateway identity may be an
 * FQDN). The engine does no I/O, so the host resolves (struct ike_host's
 * resolve hook) and answers with ike_resolved(); the engine keeps each
 * pending lookup with its owner and gives up on it after RESOLVE_MS, so an
 * extension always gets exactly one answer.
 */
#include <stdlib.h>
#include <string.h>

#include "ike/sa.h"
#include "util/log.h"

#define RESOLVE_MS      5000
#define RESOLVE_PENDING 256 /* lookups at once; more are refused */

struct ike_lookup {
	struct ike_lookup *next;
	uint64_t id, tag;
	uint64_t deadline_ms;
	const struct ike_ext *owner;
	char name[256];
};

static size_t pending(const struct ike *ike)
{
	size_t n = 0;

	for (const struct ike_lookup *l = ike->lookups; l; l = l->next)
		n++;
	return n;
}

int ike_resolve(struct ike *ike, const char *name, const struct ike_ext *owner, uint64_t tag)
{
	struct ike_lookup *l;

	if (!ike->host.resolve || strlen(name) >= sizeof(l->name) ||
	    pending(ike) >= RESOLVE_PENDING)
		return -1;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -1;
	l->id = ++ike->next_lookup_id;
	l->tag = tag;
	l->owner = owner;
	l->deadline_ms = ike_now(ike) + RESOLVE_MS;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->next = ike->lookups;
	ike->lookups = l;
	/* The host may answer at once: the lookup is on the list before. */
	if (ike->host.resolve(ike->host.ctx, name, l->id) < 0) {
		for (struct ike_lookup **pp = &ike->lookups; *pp; pp = &(*pp)->next)
			if (*pp == l) {
				*pp = l->next;
				free(l);
				return -1;
			}
		return -1; /* answered (and freed) already, as a failure */
	}
	return 0;
}

/* Take lookup id off the list (NULL when it is not pending). */
static struct ike_lookup *take(struct ike *ike, uint64_t id)
{
	for (struct ike_lookup **pp = &ike->lookups; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			struct ike_lookup *l = *pp;

			*pp = l->next;
			return l;
		}
	return NULL;
}

void ike_resolved(struct ike *ike, uint64_t id, const struct ike_addr *addrs, size_t n)
{
	struct ike_lookup *l = take(ike, id);

	if (!l)
		return; /* given up already */
	ext_resolved(ike, l->owner, l->tag, l->name, addrs, n);
	free(l);
	sa_reap(ike);
}

void resolve_timers(struct ike *ike, uint64_t now)
{
	struct ike_lookup *l;

	for (;;) {
		for (l = ike->lookups; l && l->deadline_ms > now; l = l->next)
			;
		if (!l)
			return;
		l = take(ike, l->id);
		log_msg(LOG_NOTICE, "ike", "no answer for %s in %u ms: given up", l->name,
		        RESOLVE_MS);
		ext_resolved(ike, l->owner, l->tag, l->name, NULL, 0);
		free(l);
	}
}

int64_t resolve_next(const struct ike *ike, uint64_t now)
{
	int64_t t = -1;

	for (const struct ike_lookup *l = ike->lookups; l; l = l->next) {
		int64_t d = l->deadline_ms > now ? (int64_t)(l->deadline_ms - now) : 0;

		if (t < 0 || d < t)
			t = d;
	}
	return t;
}

void resolve_free(struct ike *ike)
{
	while (ike->lookups) {
		struct ike_lookup *l = ike->lookups;

		ike->lookups = l->next;
		free(l);
	}
}
