/*
 * "Under attack" (RFC 8019 4.1, 4.2, 6), the DH budget and per-source
 * IKE_AUTH failure limits (5). The responder is under attack while the
 * half-open SAs are at the cookie threshold (half_open_cookie_threshold)
 * or the DH budget (under_attack.dh_per_second) was used up in this
 * second or the last. While it lasts cookies are demanded, with puzzles
 * if configured (7.1), new half-open SAs get the shorter
 * under_attack.half_open_timeout (4.1), and puzzle solvers are served
 * before those who did not solve (7.1.5, attack_dh_allow). It ends, with
 * hysteresis so that a count hovering at the threshold cannot flood the
 * log, when the half-open SAs fall below three quarters of the threshold
 * and the budget was not reached in the last second.
 *
 * A source whose IKE_AUTH fails auth_failures.max times within
 * auth_failures.window seconds is blocked for auth_failures.block seconds:
 * its IKE_SA_INIT requests are dropped before any work (a failed IKE_AUTH
 * needs a completed IKE_SA_INIT, so the source has shown it is reachable
 * there; spoofing it cannot block someone else). IPv6 sources are counted
 * by /64 (4.2). The table is direct-mapped and bounded; a blocked entry is
 * not replaced until its block ends.
 */
#include <inttypes.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "ike/attack.h"
#include "util/log.h"

#define DH_WINDOW_MS   1000
#define SAT_LOG_MS     10000
#define AUTH_SRC_SLOTS 1024

struct auth_src {
	uint64_t key; /* 0: free */
	uint32_t fails;
	uint64_t window_end_ms, blocked_until_ms;
};

struct ike_attack {
	bool on;
	uint64_t dh_window_ms;       /* start of the current second */
	uint32_t dh_window, dh_last; /* responder DH started in it, and in the one before */
	bool sat_now, sat_last;      /* the budget was reached in it, and in the one before */
	uint64_t sat_log_ms;         /* next saturation line allowed */
	struct auth_src src[AUTH_SRC_SLOTS];
};

int attack_new(struct ike *ike)
{
	ike->attack = calloc(1, sizeof(*ike->attack));
	return ike->attack ? 0 : -1;
}

void attack_free(struct ike *ike)
{
	free(ike->attack);
	ike->attack = NULL;
}

bool attack_on(const struct ike *ike)
{
	return ike->attack->on;
}

/* Move the one-second DH window on to now. */
static void dh_roll(struct ike *ike, uint64_t now)
{
	struct ike_attack *a = ike->attack;

	if (now < a->dh_window_ms + DH_WINDOW_MS)
		return;
	bool adjacent = now < a->dh_window_ms + 2 * DH_WINDOW_MS;

	a->dh_last = adjacent ? a->dh_window : 0;
	a->sat_last = adjacent && a->sat_now;
	a->dh_window = 0;
	a->sat_now = false;
	a->dh_window_ms = now - (now - a->dh_window_ms) % DH_WINDOW_MS;
}

bool attack_update(struct ike *ike)
{
	struct ike_attack *a = ike->attack;
	const struct cfg *cfg = ike->cfg;
	size_t thr = cfg->half_open_cookie_threshold;
	bool sat, on;

	dh_roll(ike, ike_now(ike));
	sat = a->sat_now || a->sat_last;
	if (!a->on)
		on = ike->half_open >= thr || sat;
	else
		on = ike->half_open * 4 >= thr * 3 || sat;
	if (on == a->on)
		return on;
	a->on = on;
	ike->cookie_mode = on;
	if (on) {
		ike->stats.attack_started++;
		log_msg(LOG_NOTICE, "ike",
		        "under attack (%zu half-open SAs, %" PRIu32
		        " DH/s): demanding cookies%s, half-open timeout %" PRIu32 " s",
		        ike->half_open, a->dh_last > a->dh_window ? a->dh_last : a->dh_window,
		        cfg->puzzles ? " and puzzles" : "", cfg->attack_half_open_timeout);
	} else {
		log_msg(LOG_NOTICE, "ike",
		        "no longer under attack (%zu half-open SAs): cookies no longer demanded "
		        "(%" PRIu64 " sent so far)",
		        ike->half_open, ike->stats.cookies_sent);
	}
	return on;
}

/* The budget was reached in this second: a counter, and a line per SAT_LOG_MS at most. */
static void saturated(struct ike *ike)
{
	struct ike_attack *a = ike->attack;
	uint64_t now = ike_now(ike);

	if (!a->sat_now) {
		a->sat_now = true;
		ike->stats.dh_saturated++;
	}
	if (now >= a->sat_log_ms) {
		a->sat_log_ms = now + SAT_LOG_MS;
		log_msg(LOG_NOTICE, "ike",
		        "DH budget of %" PRIu32 "/s reached: IKE_SA_INIT requests deferred "
		        "(%" PRIu64 " so far, %" PRIu64 " saturated seconds)",
		        ike->cfg->dh_per_second, ike->stats.drop_dh_budget,
		        ike->stats.dh_saturated);
	}
	attack_update(ike);
}

bool attack_dh_allow(struct ike *ike, bool low_priority)
{
	struct ike_attack *a = ike->attack;
	uint32_t budget = ike->cfg->dh_per_second;

	dh_roll(ike, ike_now(ike));
	if (low_priority) {
		/* 7.1.5: those who did not solve get what solvers leave:
		 * half the budget, and no eviction of a half-open SA. */
		if ((budget && a->dh_window >= budget / 2) ||
		    ike->half_open >= ike->cfg->half_open_max) {
			ike->stats.puzzles_deferred++;
			return false;
		}
	}
	if (budget && a->dh_window >= budget) {
		ike->stats.drop_dh_budget++;
		saturated(ike);
		return false;
	}
	a->dh_window++;
	if (budget && a->dh_window >= budget)
		saturated(ike);
	return true;
}

void attack_dh_done(struct ike *ike)
{
	ike->stats.dh_computed++;
}

uint32_t attack_dh_last_second(const struct ike *ike)
{
	const struct ike_attack *a = ike->attack;

	return ike_now((struct ike *)ike) < a->dh_window_ms + 2 * DH_WINDOW_MS ? a->dh_last : 0;
}

/* ---- RFC 8019 5: failed IKE_AUTH per source ---- */

/* IPv4 by address, IPv6 by /64 (4.2). Never 0. */
static uint64_t src_key(const struct ike_addr *s)
{
	size_t n;
	const uint8_t *p = addr_bytes(s, &n);
	uint64_t k = 0xcbf29ce484222325ULL;

	if (n == 16)
		n = 8;
	for (size_t i = 0; i < n; i++)
		k = (k ^ p[i]) * 0x100000001b3ULL;
	return k ? k : 1;
}

static struct auth_src *src_slot(struct ike *ike, uint64_t key)
{
	return &ike->attack->src[(key ^ (key >> 32)) % AUTH_SRC_SLOTS];
}

void attack_auth_failed(struct ike *ike, const struct ike_addr *src)
{
	const struct cfg *cfg = ike->cfg;
	uint64_t now = ike_now(ike), key = src_key(src);
	struct auth_src *e = src_slot(ike, key);
	char a[INET6_ADDRSTRLEN + 8];

	ike->stats.auth_failed++;
	if (!cfg->auth_fail_max)
		return;
	if (e->key != key) {
		if (e->key && now < e->blocked_until_ms)
			return; /* the slot holds a blocked source: counted, not tracked */
		*e = (struct auth_src){.key = key};
	}
	if (now >= e->window_end_ms) {
		e->fails = 0;
		e->window_end_ms = now + (uint64_t)cfg->auth_fail_window * 1000;
	}
	if (++e->fails < cfg->auth_fail_max || now < e->blocked_until_ms)
		return;
	e->blocked_until_ms = now + (uint64_t)cfg->auth_fail_block * 1000;
	ike->stats.auth_blocked++;
	if (log_rl_allow(LOG_RL_AUTH, (const struct sockaddr *)&src->ss)) {
		addr_format(src, a, sizeof(a));
		log_msg(LOG_WARNING, "ike",
		        "%s: %" PRIu32 " failed IKE_AUTH within %" PRIu32
		        " s: its IKE_SA_INIT requests are refused for %" PRIu32 " s",
		        a, e->fails, cfg->auth_fail_window, cfg->auth_fail_block);
	}
}

bool attack_src_blocked(struct ike *ike, const struct ike_addr *src)
{
	uint64_t key = src_key(src);
	struct auth_src *e = src_slot(ike, key);
	char a[INET6_ADDRSTRLEN + 8];

	if (!ike->cfg->auth_fail_max || e->key != key || ike_now(ike) >= e->blocked_until_ms)
		return false;
	ike->stats.drop_auth_blocked++;
	if (log_rl_allow(LOG_RL_AUTH, (const struct sockaddr *)&src->ss)) {
		addr_format(src, a, sizeof(a));
		log_msg(LOG_INFO, "ike", "%s: IKE_SA_INIT refused (too many failed IKE_AUTH)", a);
	}
	return true;
}

void attack_timers(struct ike *ike, uint64_t now)
{
	(void)now;
	attack_update(ike);
}
