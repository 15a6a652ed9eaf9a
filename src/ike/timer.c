/*
 * The engine's timers: each SA is in one deadline heap (util/theap.h) once,
 * at its earliest deadline. sa_rearm (engine.c) moves it whenever a deadline
 * changes, in O(log n), so the heap holds one entry per SA whatever the
 * traffic: no stale entries pile up until their time comes.
 */
#include <stddef.h>

#include "ike/sa.h"

static struct ike_sa *node_sa(struct theap_node *t)
{
	return (struct ike_sa *)((char *)t - offsetof(struct ike_sa, timer));
}

/* An allocation failure here (the heap's array growing) would lose the
 * deadline: the next arm of this SA retries. */
static void timer_put(struct ike *ike, struct ike_sa *sa, uint64_t at_ms)
{
	if (theap_set(&ike->timers, &sa->timer, at_ms) < 0)
		sa_log(sa, 3, "timer-failed", "out of memory arming a timer");
}

void timer_arm(struct ike *ike, struct ike_sa *sa, uint64_t at_ms)
{
	if (!theap_has(&sa->timer) || at_ms < sa->timer.at)
		timer_put(ike, sa, at_ms);
}

void timer_set(struct ike *ike, struct ike_sa *sa, uint64_t at_ms)
{
	if (at_ms == UINT64_MAX)
		theap_del(&ike->timers, &sa->timer);
	else if (!theap_has(&sa->timer) || sa->timer.at != at_ms)
		timer_put(ike, sa, at_ms);
}

void timer_cancel(struct ike *ike, struct ike_sa *sa)
{
	theap_del(&ike->timers, &sa->timer);
}

struct ike_sa *timer_pop_due(struct ike *ike, uint64_t now_ms)
{
	struct theap_node *t = theap_min(&ike->timers);

	if (!t || t->at > now_ms)
		return NULL;
	theap_del(&ike->timers, t);
	return node_sa(t);
}

int64_t timer_next(struct ike *ike, uint64_t now_ms)
{
	struct theap_node *t = theap_min(&ike->timers);

	if (!t)
		return -1;
	return t->at <= now_ms ? 0 : (int64_t)(t->at - now_ms);
}
