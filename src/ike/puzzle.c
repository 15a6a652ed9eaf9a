/*
 * Client puzzles in IKE_SA_INIT (RFC 8019 7.1), both roles. The cookie
 * format and the COOKIE/PUZZLE answer are cookie.c's; the solver and
 * checker are crypto/puzzle.c's.
 *
 *   Initiator                            Responder (under attack)
 *   HDR, SA, KE, Ni  -->
 *                          <--  HDR, N(COOKIE), N(PUZZLE)         7.1.1
 *   (solve within puzzles.solve_work PRF computations, 7.1.2-7.1.3)
 *   HDR, N(COOKIE), [PS,] SA, KE, Ni  -->
 *                          (valid cookie: priority, 7.1.4; serve, 7.1.5)
 *
 * Priority has two classes: a solution that meets the difficulty is
 * served first (attack_dh_allow); no solution, a weak one, or a cookie
 * given without a puzzle is the low class, still served while resources
 * allow, since no common peer (strongSwan, libreswan, OpenIKED) solves
 * puzzles. Puzzles in IKE_AUTH (7.2) are not implemented: the responder
 * never asks for one, and a PS in an IKE_AUTH request is ignored.
 */
#include <inttypes.h>
#include <string.h>

#include "ike/attack.h"
#include "util/log.h"

bool puzzle_priority(struct ike *ike, const struct wire_msg *req, const struct wire_notify *cookie,
                     const struct wire_cookie_info *info)
{
	const struct wire_payload *ps;
	const uint8_t *keys[WIRE_PS_KEYS];
	size_t klen = 0;
	unsigned zbc;

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

	crypto_wipe(sa->ps, sizeof(sa->ps));
	sa->ps_len = 0;
	if (!p)
		return;
	/* 7.1.2: a puzzle we cannot or will not solve is ignored; the retry
	 * carries the cookie alone. 7.1.1.2: the PRF is one we offered. */
	if (!budget || wire_puzzle_decode(&p->u.notify, &pz, NULL) < 0 ||
	    !prf_offered(sa->conn, pz.prf) || !crypto_puzzle_key_len(pz.prf) ||
	    crypto_puzzle_solve(pz.prf, sa->cookie, sa->cookie_len, pz.difficulty, budget, sa->ps,
	                        &klen, &zbc, &work) < 0) {
		ike->stats.puzzles_given_up++;
		sa_log(sa, LOG_INFO, "puzzle-ignored",
		       "%s; retrying with the cookie alone (%" PRIu64 " PRF computations)",
		       !budget ? "puzzles.solve_work is 0" : "not solved within the budget", work);
		return;
	}
	sa->ps_len = WIRE_PS_KEYS * klen;
	ike->stats.puzzles_solved_local++;
	sa_log(sa, LOG_INFO, "puzzle-solved",
	       "difficulty %u, %u zero bits, %" PRIu64 " PRF computations", pz.difficulty, zbc,
	       work);
}

int puzzle_add_solution(struct ike_sa *sa, struct wire_msg *m)
{
	struct wire_payload *p;

	if (!sa->ps_len)
		return 0;
	p = build_add(m, IKEV2_PL_PS);
	if (!p)
		return -1;
	p->u.ps.data = build_copy(m, sa->ps, sa->ps_len);
	p->u.ps.len = sa->ps_len;
	return p->u.ps.data ? 0 : -1;
}
