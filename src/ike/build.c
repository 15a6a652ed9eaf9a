/*
 * Helpers that append payloads to an outgoing message (a struct wire_msg
 * used as a builder: its arena holds proposal and selector arrays and any
 * bytes the payloads borrow). RFC 7296 3.
 */
#include <string.h>

#include "ike/sa.h"

struct wire_payload *build_add(struct wire_msg *m, uint8_t type)
{
	struct wire_payload *p;

	if (m->npayloads >= WIRE_MAX_PAYLOADS)
		return NULL;
	p = &m->payloads[m->npayloads++];
	memset(p, 0, sizeof(*p));
	p->type = type;
	return p;
}

const uint8_t *build_copy(struct wire_msg *m, const void *p, size_t len)
{
	return wire_msg_adopt(m, p, len);
}

int build_notify(struct wire_msg *m, uint8_t proto, const uint8_t *spi, size_t spi_len,
                 uint16_t type, const uint8_t *data, size_t len)
{
	struct wire_payload *p = build_add(m, IKEV2_PL_N);

	if (!p || spi_len > WIRE_MAX_SPI)
		return -1;
	p->u.notify.protocol = proto;
	p->u.notify.spi_size = (uint8_t)spi_len;
	if (spi_len)
		memcpy(p->u.notify.spi, spi, spi_len);
	p->u.notify.type = type;
	if (len) {
		p->u.notify.data = build_copy(m, data, len);
		if (!p->u.notify.data)
			return -1;
	}
	p->u.notify.len = len;
	return 0;
}

int build_nonce(struct wire_msg *m, const uint8_t *nonce, size_t len)
{
	struct wire_payload *p = build_add(m, IKEV2_PL_NI_NR);

	if (!p || !(p->u.nonce.data = build_copy(m, nonce, len)))
		return -1;
	p->u.nonce.len = len;
	return 0;
}

int build_ke(struct wire_msg *m, const struct crypto_dh *dh)
{
	uint8_t pub[CRYPTO_MAX_DH_LEN];
	size_t len = sizeof(pub);
	struct wire_payload *p = build_add(m, IKEV2_PL_KE);

	if (!p || crypto_dh_public(dh, pub, &len) < 0)
		return -1;
	p->u.ke.group = crypto_dh_group(dh);
	p->u.ke.data = build_copy(m, pub, len);
	p->u.ke.len = len;
	return p->u.ke.data ? 0 : -1;
}

/* The transforms of one configured proposal (RFC 7296 3.3.2, 3.3.5). */
static int fill_transforms(struct wire_msg *m, const struct proposal *pr, struct wire_proposal *wp)
{
	struct wire_transform *t;
	size_t n = (size_t)pr->n_encr + pr->n_prf + pr->n_integ + pr->n_dh + pr->n_esn;

	if (n > WIRE_MAX_TRANSFORMS)
		return -1;
	t = wire_msg_alloc(m, n * sizeof(*t));
	if (!t)
		return -1;
	wp->transforms = t;
	wp->ntransforms = (uint8_t)n;
	for (size_t i = 0; i < pr->n_encr; i++, t++) {
		t->type = IKEV2_TRANS_ENCR;
		t->id = pr->encr[i].id;
		if (pr->encr[i].keylen) {
			t->nattrs = 1;
			t->attrs[0].type = IKEV2_ATTR_KEY_LENGTH;
			t->attrs[0].tv = true;
			t->attrs[0].value = pr->encr[i].keylen;
		}
	}
	for (size_t i = 0; i < pr->n_prf; i++, t++) {
		t->type = IKEV2_TRANS_PRF;
		t->id = pr->prf[i];
	}
	for (size_t i = 0; i < pr->n_integ; i++, t++) {
		t->type = IKEV2_TRANS_INTEG;
		t->id = pr->integ[i];
	}
	for (size_t i = 0; i < pr->n_dh; i++, t++) {
		t->type = IKEV2_TRANS_KE;
		t->id = pr->dh[i];
	}
	for (size_t i = 0; i < pr->n_esn; i++, t++) {
		t->type = IKEV2_TRANS_SN;
		t->id = pr->esn[i];
	}
	return 0;
}

int build_sa(struct wire_msg *m, const struct proposal *props, size_t n, uint8_t protocol,
             const uint8_t *spi, size_t spi_len)
{
	struct wire_payload *p = build_add(m, IKEV2_PL_SA);
	struct wire_proposal *wp;

	if (!p || !n || n > WIRE_MAX_PROPOSALS || spi_len > WIRE_MAX_SPI)
		return -1;
	wp = wire_msg_alloc(m, n * sizeof(*wp));
	if (!wp)
		return -1;
	p->u.sa.proposals = wp;
	p->u.sa.nproposals = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		wp[i].num = (uint8_t)(i + 1); /* 3.3.1: numbered from 1 */
		wp[i].protocol = protocol;
		wp[i].spi_size = (uint8_t)spi_len;
		if (spi_len)
			memcpy(wp[i].spi, spi, spi_len);
		if (fill_transforms(m, &props[i], &wp[i]) < 0)
			return -1;
	}
	return 0;
}

int build_ts(struct wire_msg *m, uint8_t type, const struct ike_ts_set *ts)
{
	struct wire_payload *p = build_add(m, type);
	struct wire_ts *w;

	if (!p || !ts->n || ts->n > WIRE_MAX_TS)
		return -1;
	w = wire_msg_alloc(m, ts->n * sizeof(*w));
	if (!w)
		return -1;
	for (size_t i = 0; i < ts->n; i++) {
		w[i].type = ts->ts[i].type;
		w[i].ip_proto = ts->ts[i].ip_proto;
		w[i].start_port = ts->ts[i].start_port;
		w[i].end_port = ts->ts[i].end_port;
		memcpy(w[i].start, ts->ts[i].start, 16);
		memcpy(w[i].end, ts->ts[i].end, 16);
	}
	p->u.ts.ts = w;
	p->u.ts.nts = (uint8_t)ts->n;
	return 0;
}

int build_id(struct wire_msg *m, uint8_t type, const struct cfg_id *id)
{
	struct wire_payload *p = build_add(m, type);

	if (!p)
		return -1;
	p->u.id.type = id->type;
	p->u.id.data = build_copy(m, id->data, id->len);
	p->u.id.len = id->len;
	return p->u.id.data || !id->len ? 0 : -1;
}

int build_delete(struct wire_msg *m, uint8_t proto, const uint8_t *spis, size_t spi_size, size_t n)
{
	struct wire_payload *p = build_add(m, IKEV2_PL_D);

	if (!p)
		return -1;
	p->u.del.protocol = proto;
	p->u.del.spi_size = (uint8_t)spi_size;
	p->u.del.nspis = (uint16_t)n;
	if (n) {
		p->u.del.spis = build_copy(m, spis, spi_size * n);
		if (!p->u.del.spis)
			return -1;
	}
	return 0;
}
