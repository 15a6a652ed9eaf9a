/*
 * Client puzzles (RFC 8019 7), both roles: in IKE_SA_INIT (7.1) and in
 * IKE_AUTH (7.2). The cookie format and the COOKIE/PUZZLE answer are
 * cookie.c's; the solver and checker are crypto/puzzle.c's.
 *
 *   Initiator                            Responder (under attack)
 *   HDR, SA, KE, Ni  -->
 *                          <--  HDR, N(COOKIE), N(PUZZLE)         7.1.1
 *   (solve within puzzles.solve_work PRF computations, 7.1.2-7.1.3)
 *   HDR, N(COOKIE), [PS,] SA, KE, Ni  -->
 *                          (valid cookie: priority, 7.1.4; serve, 7.1.5)
 *                          <--  HDR, SA, KE, Nr, [N(PUZZLE)]      7.2.1
 *   (solve: S = Nr | SPIr, 7.2.2-7.2.3)
 *   HDR, PS, SK {IDi, AUTH, ...}  -->
 *                          (check PS, then DH and SK_*, 7.2.4)
 *
 * Priority has two classes: a solution that meets the difficulty is
 * served first (attack_dh_allow); no solution, a weak one, or a cookie
 * given without a puzzle is the low class, still served while resources
 * allow, since no common peer (strongSwan, libreswan, OpenIKED) solves
 * puzzles.
 *
 * 7.2: only an initiator that solved the IKE_SA_INIT puzzle gets one in
 * the IKE_SA_INIT response (7.2.1 forbids asking anyone else), so peers
 * that do not solve never meet it. Its difficulty is puzzles.auth_difficulty,
 * but never more than the initiator's 7.1 solution reached (7.2.1.1: its
 * power is known roughly from that), so a solver that got this far can
 * solve it within the same budget. The responder then defers its DH
 * computation: the IKE_AUTH request's PS is checked first, and only a
 * valid one buys SKEYSEED and the SK_* keys (7.2.4); requests without one
 * or with a weak one are dropped silently, counted. Once keys exist they
 * are kept, and later PS payloads are ignored (7.2.4).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ike/attack.h"
#include "util/log.h"

bool puzzle_priority(struct ike *ike, const struct wire_msg *req, const struct wire_notify *cookie,
                     const struct wire_cookie_info *info, unsigned *solved)
{
	const struct wire_payload *ps;
	const uint8_t *keys[WIRE_PS_KEYS];
	size_t klen = 0;
	unsigned zbc;

	*solved = 0;
	if (!ike->cfg->puzzles)
		return true; /* no classes without puzzles */
	/* 7.1.4: only a cookie was asked: a PS "MUST be ignored". */
	if (!info->puzzle)
		return false;
	ps = wire_msg_find(req, IKEV2_PL_PS, NULL);
	if (!ps) {
		ike->stats.puzzles_ignored++;
		return false;
	}
	for (unsigned i = 0; i < WIRE_PS_KEYS; i++)
		if (wire_ps_key(&ps->u.ps, i, &keys[i], &klen) < 0)
			goto weak;
	/* 7.1.3: S is the cookie's content; all four keys are checked (7.1.4). */
	if (crypto_puzzle_check(info->prf, keys, klen, cookie->data, cookie->len, &zbc) < 0 ||
	    zbc < info->difficulty)
		goto weak;
	ike->stats.puzzles_solved++;
	*solved = zbc;
	return true;
weak:
	ike->stats.puzzles_weak++;
	return false;
}

static bool prf_offered(const struct cfg_conn *c, uint16_t prf)
{
	for (size_t i = 0; i < c->n_ike_proposals; i++)
		for (size_t j = 0; j < c->ike_proposals[i].n_prf; j++)
			if (c->ike_proposals[i].prf[j] == prf)
				return true;
	return false;
}

void puzzle_solve(struct ike *ike, struct ike_sa *sa, const struct wire_msg *resp)
{
	const struct wire_payload *p = wire_msg_find_notify(resp, IKEV2_N_PUZZLE);
	uint64_t budget = ike->cfg->puzzle_solve_work, work = 0;
	struct wire_puzzle pz;
	size_t klen;
	unsigned zbc;

	puzzle_drop_solution(sa);
	if (!p)
		return;
	/* 7.1.2: a puzzle we cannot or will not solve is ignored; the retry
	 * carries the cookie alone. 7.1.1.2: the PRF is one we offered. */
	if (!budget || wire_puzzle_decode(&p->u.notify, &pz, NULL) < 0 ||
	    !prf_offered(sa->conn, pz.prf) || !crypto_puzzle_key_len(pz.prf) ||
	    !(sa->su->ps = malloc(WIRE_PS_MAX)) ||
	    crypto_puzzle_solve(pz.prf, sa->su->cookie, sa->su->cookie_len, pz.difficulty, budget,
	                        sa->su->ps, &klen, &zbc, &work) < 0) {
		ike->stats.puzzles_given_up++;
		sa_log(sa, LOG_INFO, "puzzle-ignored",
		       "%s; retrying with the cookie alone (%" PRIu64 " PRF computations)",
		       !budget ? "puzzles.solve_work is 0" : "not solved within the budget", work);
		return;
	}
	sa->su->ps_len = WIRE_PS_KEYS * klen;
	ike->stats.puzzles_solved_local++;
	sa_log(sa, LOG_INFO, "puzzle-solved",
	       "difficulty %u, %u zero bits, %" PRIu64 " PRF computations", pz.difficulty, zbc,
	       work);
}

void puzzle_drop_solution(struct ike_sa *sa)
{
	if (!sa->su)
		return;
	if (sa->su->ps)
		crypto_wipe(sa->su->ps, WIRE_PS_MAX);
	free(sa->su->ps);
	sa->su->ps = NULL;
	sa->su->ps_len = 0;
}

int puzzle_add_solution(struct ike_sa *sa, struct wire_msg *m)
{
	struct wire_payload *p;

	if (!sa->su || !sa->su->ps || !sa->su->ps_len)
		return 0;
	p = build_add(m, IKEV2_PL_PS);
	if (!p)
		return -1;
	p->u.ps.data = build_copy(m, sa->su->ps, sa->su->ps_len);
	p->u.ps.len = sa->su->ps_len;
	return p->u.ps.data ? 0 : -1;
}

/* ---- RFC 8019 7.2: puzzles in IKE_AUTH ---- */

/* 7.2.3: S = Nr | SPIr; s holds IKE_MAX_NONCE + 8 octets. */
static size_t auth_string(const struct ike_sa *sa, uint8_t *s)
{
	memcpy(s, sa->nr, sa->nr_len);
	memcpy(s + sa->nr_len, sa->spi_r, 8);
	return sa->nr_len + 8;
}

bool puzzle_auth_wanted(const struct ike *ike, const struct ike_sa *sa, unsigned solved)
{
	/* 7.2.1: only after a puzzle solved in this IKE_SA_INIT exchange. */
	return ike->cfg->puzzles && ike->cfg->puzzle_auth_difficulty && solved &&
	       crypto_puzzle_key_len(sa->suite.prf);
}

int puzzle_auth_present(struct ike *ike, struct ike_sa *sa, unsigned solved, struct wire_msg *m)
{
	unsigned d = ike->cfg->puzzle_auth_difficulty;
	struct wire_puzzle pz = {.prf = sa->suite.prf};
	uint8_t pd[WIRE_PUZZLE_LEN];
	size_t plen;

	if (!puzzle_auth_wanted(ike, sa, solved))
		return 0;
	/* 7.2.1.1: never 0, and no harder than the 7.1 solution showed. */
	pz.difficulty = (uint8_t)(solved < d ? solved : d);
	/* 7.2.1.2: the negotiated PRF, one the initiator offered (7.1.1.2). */
	if (wire_puzzle_encode(&pz, pd, sizeof(pd), &plen) < 0 ||
	    build_notify(m, 0, NULL, 0, IKEV2_N_PUZZLE, pd, plen) < 0)
		return -1;
	sa->su->auth_puzzle = pz.difficulty;
	ike->stats.puzzles_auth_sent++;
	return 0;
}

int puzzle_auth_solve(struct ike *ike, struct ike_sa *sa, const struct wire_msg *resp)
{
	const struct wire_payload *p = wire_msg_find_notify(resp, IKEV2_N_PUZZLE);
	uint64_t budget = ike->cfg->puzzle_solve_work, work = 0;
	uint8_t s[IKE_MAX_NONCE + 8];
	struct wire_puzzle pz;
	size_t klen, slen;
	unsigned zbc;

	/* The IKE_SA_INIT solution is spent; the IKE_AUTH one replaces it. */
	puzzle_drop_solution(sa);
	if (!p)
		return 0;
	/* puzzles.solve_work 0: we do not support puzzles (7.2.2 binds only
	 * those who do) and go on as strongSwan would, without a PS. */
	if (!budget)
		return 0;
	slen = auth_string(sa, s);
	/* 7.2.1.1: difficulty 0 is not allowed here; 7.2.1.2: an offered PRF. */
	if (wire_puzzle_decode(&p->u.notify, &pz, NULL) < 0 || !pz.difficulty ||
	    !prf_offered(sa->conn, pz.prf) || !crypto_puzzle_key_len(pz.prf) ||
	    !(sa->su->ps = malloc(WIRE_PS_MAX)) ||
	    crypto_puzzle_solve(pz.prf, s, slen, pz.difficulty, budget, sa->su->ps, &klen, &zbc,
	                        &work) < 0) {
		/* 7.2.2 says MUST solve, and 7.2.4 has the responder drop an
		 * IKE_AUTH without the solution: give up now rather than
		 * retransmit into silence. */
		ike->stats.puzzles_given_up++;
		sa_log(sa, LOG_NOTICE, "puzzle-failed",
		       "IKE_AUTH puzzle (difficulty %u) not solved within %" PRIu64
		       " PRF computations",
		       pz.difficulty, work);
		return -1;
	}
	sa->su->ps_len = WIRE_PS_KEYS * klen;
	ike->stats.puzzles_auth_solved_local++;
	sa_log(sa, LOG_INFO, "puzzle-solved",
	       "IKE_AUTH difficulty %u, %u zero bits, %" PRIu64 " PRF computations", pz.difficulty,
	       zbc, work);
	return 0;
}

int puzzle_add_auth_solution(struct ike_sa *sa, struct wire_msg *m)
{
	int rc = puzzle_add_solution(sa, m); /* 7.2.2: HDR, PS, SK {...}: PS first */

	puzzle_drop_solution(sa);
	return rc;
}

/* The peer's KE from the IKE_SA_INIT request we kept (sa->su->init_req). */
static int deferred_derive(struct ike *ike, struct ike_sa *sa)
{
	struct wire_msg *req = malloc(sizeof(*req));
	const struct wire_payload *ke;
	struct wire_error err;
	int rc = -1;

	if (!req)
		return -1;
	wire_msg_init(req);
	if (wire_decode(sa->su->init_req.p, sa->su->init_req.len, req, &err) == 0 &&
	    (ke = wire_msg_find(req, IKEV2_PL_KE, NULL)))
		rc = ike_sa_init_derive(ike, sa, ke->u.ke.data, ke->u.ke.len);
	wire_msg_free(req);
	free(req);
	return rc;
}

static int auth_drop(struct ike *ike, struct ike_sa *sa, uint64_t *counter, const char *why)
{
	(*counter)++;
	if (log_rl_allow(LOG_RL_AUTH, (const struct sockaddr *)&sa->remote.ss))
		sa_log(sa, LOG_INFO, "puzzle-drop", "IKE_AUTH request %s", why);
	return -1;
}

int puzzle_auth_check(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m)
{
	const struct wire_payload *ps = wire_msg_find(m, IKEV2_PL_PS, NULL);
	const uint8_t *keys[WIRE_PS_KEYS];
	uint8_t s[IKE_MAX_NONCE + 8];
	size_t klen = 0, slen;
	unsigned zbc;

	if (sa->initiator || sa->keyed || !sa->su || !sa->su->auth_puzzle ||
	    m->hdr.exchange != IKEV2_EXCH_IKE_AUTH || (m->hdr.flags & IKEV2_FLAG_RESPONSE))
		return 0; /* not ours to judge: without keys the engine drops it */
	/* 7.2.4: "MUST silently discard all the IKE_AUTH request messages without the PS". */
	if (!ps || ps->encrypted)
		return auth_drop(ike, sa, &ike->stats.puzzles_auth_missing, "without a solution");
	for (unsigned i = 0; i < WIRE_PS_KEYS; i++)
		if (wire_ps_key(&ps->u.ps, i, &keys[i], &klen) < 0)
			return auth_drop(ike, sa, &ike->stats.puzzles_auth_weak,
			                 "with a malformed PS");
	/* 7.2.4: all four keys, before any DH or key derivation. */
	slen = auth_string(sa, s);
	if (crypto_puzzle_check(sa->suite.prf, keys, klen, s, slen, &zbc) < 0 ||
	    zbc < sa->su->auth_puzzle)
		return auth_drop(ike, sa, &ike->stats.puzzles_auth_weak, "with a weak solution");
	ike->stats.puzzles_auth_solved++;
	if (deferred_derive(ike, sa) < 0) {
		sa_kill_quiet(ike, sa, "key derivation failed (bad KE?)");
		return -1;
	}
	sa_log(sa, LOG_DEBUG, "puzzle-checked", "IKE_AUTH solution with %u zero bits", zbc);
	return 0;
}
