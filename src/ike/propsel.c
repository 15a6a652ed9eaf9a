/*
 * Proposal selection (RFC 7296 2.7, 3.3.6): the responder takes the
 * peer's proposals in the peer's order and, for each transform type, the
 * first of the peer's transforms that our configuration also lists. The
 * initiator checks that the answer is one of the proposals it sent.
 */
#include <string.h>

#include "ike/sa.h"

static uint16_t keylen_of(const struct wire_transform *t)
{
	for (uint8_t i = 0; i < t->nattrs; i++)
		if (t->attrs[i].type == IKEV2_ATTR_KEY_LENGTH && t->attrs[i].tv)
			return t->attrs[i].value;
	return 0;
}

/* 3.3.6: a transform with an attribute we do not know is not acceptable. */
static bool attrs_known(const struct wire_transform *t)
{
	for (uint8_t i = 0; i < t->nattrs; i++)
		if (t->attrs[i].type != IKEV2_ATTR_KEY_LENGTH || !t->attrs[i].tv)
			return false;
	return true;
}

static bool in_list(const uint16_t *l, size_t n, uint16_t id)
{
	for (size_t i = 0; i < n; i++)
		if (l[i] == id)
			return true;
	return false;
}

static bool accepts(const struct proposal *our, const struct wire_transform *t, bool need_dh)
{
	switch (t->type) {
	case IKEV2_TRANS_ENCR:
		for (size_t i = 0; i < our->n_encr; i++)
			if (our->encr[i].id == t->id && our->encr[i].keylen == keylen_of(t))
				return true;
		return false;
	case IKEV2_TRANS_PRF:
		return in_list(our->prf, our->n_prf, t->id);
	case IKEV2_TRANS_INTEG:
		/* AEAD proposals may carry INTEG NONE (RFC 5282 8). */
		return in_list(our->integ, our->n_integ, t->id) ||
		       (t->id == IKEV2_AUTH_NONE && !our->n_integ);
	case IKEV2_TRANS_KE:
		if (!need_dh)
			return true;
		return in_list(our->dh, our->n_dh, t->id) || (t->id == IKEV2_DH_NONE && !our->n_dh);
	case IKEV2_TRANS_SN:
		return in_list(our->esn, our->n_esn, t->id);
	default:
		return false;
	}
}

/* Match one peer proposal against one of ours; fills out on success. */
static int match(const struct wire_proposal *wp, const struct proposal *our, bool need_dh,
                 struct ike_chosen *out)
{
	bool seen[16] = {false}, have[16] = {false};

	memset(out, 0, sizeof(*out));
	for (uint8_t i = 0; i < wp->ntransforms; i++) {
		const struct wire_transform *t = &wp->transforms[i];

		if (t->type == 0 || t->type >= 16 || !attrs_known(t))
			return -1; /* 3.3.6: unknown transform type rejects the proposal */
		seen[t->type] = true;
		if (have[t->type] || !accepts(our, t, need_dh))
			continue;
		have[t->type] = true;
		switch (t->type) {
		case IKEV2_TRANS_ENCR:
			out->encr = t->id;
			out->encr_keybits = keylen_of(t);
			break;
		case IKEV2_TRANS_PRF:
			out->prf = t->id;
			break;
		case IKEV2_TRANS_INTEG:
			out->integ = t->id;
			break;
		case IKEV2_TRANS_KE:
			out->dh = need_dh ? t->id : 0;
			break;
		case IKEV2_TRANS_SN:
			out->esn = t->id;
			break;
		}
	}
	for (int type = 1; type < 16; type++)
		if (seen[type] && !have[type])
			return -1; /* every offered type must find a match */
	if (!have[IKEV2_TRANS_ENCR])
		return -1;
	if (!have[IKEV2_TRANS_INTEG] && !crypto_encr_is_aead(out->encr))
		return -1;
	if (our->protocol == IKEV2_PROTO_IKE && (!have[IKEV2_TRANS_PRF] || !have[IKEV2_TRANS_KE]))
		return -1;
	if (need_dh && our->n_dh && !out->dh)
		return -1; /* PFS required by our config */
	out->num = wp->num;
	out->protocol = wp->protocol;
	out->spi_size = wp->spi_size;
	memcpy(out->spi, wp->spi, wp->spi_size);
	return 0;
}

int propsel_choose(const struct wire_sa *offer, const struct proposal *ours, size_t n,
                   uint8_t protocol, bool need_dh, struct ike_chosen *out)
{
	for (uint8_t i = 0; i < offer->nproposals; i++) {
		const struct wire_proposal *wp = &offer->proposals[i];

		if (wp->protocol != protocol)
			continue;
		for (size_t j = 0; j < n; j++)
			if (ours[j].protocol == protocol && match(wp, &ours[j], need_dh, out) == 0)
				return 0;
	}
	return -1;
}

int propsel_check(const struct wire_sa *answer, const struct proposal *ours, size_t n,
                  uint8_t protocol, struct ike_chosen *out)
{
	/* 2.7: exactly one proposal with one transform of each type. */
	if (answer->nproposals != 1 || answer->proposals[0].protocol != protocol)
		return -1;
	for (uint8_t i = 0; i < answer->proposals[0].ntransforms; i++)
		for (uint8_t j = 0; j < i; j++)
			if (answer->proposals[0].transforms[i].type ==
			    answer->proposals[0].transforms[j].type)
				return -1;
	for (size_t j = 0; j < n; j++)
		if (match(&answer->proposals[0], &ours[j], true, out) == 0)
			return 0;
	return -1;
}

int build_sa_chosen(struct wire_msg *m, const struct ike_chosen *c)
{
	struct proposal p;
	struct wire_payload *pl;

	memset(&p, 0, sizeof(p));
	p.protocol = c->protocol;
	p.n_encr = 1;
	p.encr[0].id = c->encr;
	p.encr[0].keylen = c->encr_keybits;
	if (c->prf)
		p.prf[p.n_prf++] = c->prf;
	if (c->integ)
		p.integ[p.n_integ++] = c->integ;
	if (c->dh)
		p.dh[p.n_dh++] = c->dh;
	if (c->protocol != IKEV2_PROTO_IKE)
		p.esn[p.n_esn++] = c->esn;
	if (build_sa(m, &p, 1, c->protocol, c->spi, c->spi_size) < 0)
		return -1;
	/* 3.3.1: the answer keeps the number of the proposal it accepted. */
	pl = &m->payloads[m->npayloads - 1];
	pl->u.sa.proposals[0].num = c->num;
	return 0;
}
