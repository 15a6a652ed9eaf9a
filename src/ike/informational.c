/*
 * The INFORMATIONAL exchange (RFC 7296 1.4, 1.5, 2.4, 3.11): deleting IKE
 * and Child SAs, the liveness check (an empty request), and extension
 * notifies. Collisions follow 1.4.1 and 2.25.
 *
 *   HDR, SK {[N,] [D,] [CP,] ...}  -->
 *                              <--  HDR, SK {[N,] [D,] [CP], ...}
 */
#include <string.h>

#include "ike/sa.h"
#include "util/log.h"

/* D(ESP, spis[0..n)) appended to m (3.11). */
static int add_esp_delete(struct wire_msg *m, const uint32_t *spis, size_t n)
{
	struct wire_payload *p = build_add(m, IKEV2_PL_D);

	return p ? wire_delete_set_spi32(m, &p->u.del, IKEV2_PROTO_ESP, spis, n) : -1;
}

/* D(ESP) with the inbound SPIs of the children marked for deletion (1.4.1). */
static int build_child_deletes(struct ike_sa *sa, struct wire_msg *m)
{
	uint32_t spis[64];
	size_t n = 0;

	for (struct child_sa *c = sa->children; c && n < 64; c = c->next)
		if (c->delete_pending) {
			spis[n++] = c->spi_in;
			c->delete_pending = false;
			c->deleting = true;
		}
	return n ? add_esp_delete(m, spis, n) : 0;
}

int info_start(struct ike *ike, struct ike_sa *sa, enum ike_task task)
{
	struct wire_msg m;
	unsigned owner = 0;
	int rc = -1;

	wire_msg_init(&m);
	switch (task) {
	case TASK_IKE_DELETE:
		if (build_delete(&m, IKEV2_PROTO_IKE, NULL, 0, 0) < 0)
			goto out;
		sa_set_state(ike, sa, IKE_S_DELETING, NULL);
		sa->ext_requests = 0; /* ike/ext.h 4.: dropped with the SA */
		break;
	case TASK_CHILD_DELETE:
		if (build_child_deletes(sa, &m) < 0)
			goto out;
		if (!m.npayloads) {
			rc = 0; /* nothing left to delete */
			goto out;
		}
		break;
	case TASK_EXT_REQUEST:
		/* An extension's own request: it alone builds it (ike/ext.h 4.). */
		if (ext_build_request(ike, sa, &owner, &m) < 0)
			goto out;
		if (!owner) {
			rc = 0; /* nothing left to say */
			goto out;
		}
		break;
	default: /* TASK_DPD (2.4: an empty request) */
		break;
	}
	rc = ike_send_request(ike, sa, IKEV2_EXCH_INFORMATIONAL, task, &m);
	sa->out->ext_owner = owner;
	if (rc == 0 && task == TASK_DPD)
		sa_log(sa, LOG_DEBUG, "dpd-sent", "message %u", sa->out->msg_id);
out:
	wire_msg_free(&m);
	return rc;
}

/* The peer deletes Child SAs: answer with ours for the same pairs (1.4.1). */
static int peer_child_deletes(struct ike *ike, struct ike_sa *sa, const struct wire_payload *d,
                              uint32_t *answer, size_t *n)
{
	uint32_t spi;

	for (uint16_t i = 0; wire_delete_spi32(&d->u.del, i, &spi) == 0; i++) {
		struct child_sa *c = child_by_spi_out(sa, spi);

		if (!c)
			continue; /* 2.25.1: gone already; answer without it */
		/* 2.25.1: if our own delete for it is out, answer without a D. */
		if (!c->deleting && *n < 64)
			answer[(*n)++] = c->spi_in;
		child_remove(ike, sa, c);
	}
	return 0;
}

void info_request(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m)
{
	struct wire_msg r;
	uint32_t spis[64];
	size_t n = 0;
	bool delete_ike = false;

	if (sa->state != IKE_S_ESTABLISHED && sa->state != IKE_S_REKEYED &&
	    sa->state != IKE_S_DELETING)
		return;
	switch (ext_run(ike, EXT_INFO_REQ_IN, sa, m, NULL, NULL, NULL)) {
	case EXT_HANDLED:
	case EXT_FAIL:
		return;
	default:
		break;
	}
	for (size_t i = 0; i < m->npayloads; i++) {
		const struct wire_payload *p = &m->payloads[i];

		if (p->type != IKEV2_PL_D)
			continue;
		if (p->u.del.protocol == IKEV2_PROTO_IKE)
			delete_ike = true;
		else if (p->u.del.protocol == IKEV2_PROTO_ESP && p->u.del.spi_size == 4)
			(void)peer_child_deletes(ike, sa, p, spis, &n);
	}
	wire_msg_init(&r);
	if (!delete_ike && n && add_esp_delete(&r, spis, n) < 0)
		goto out;
	if (!delete_ike && ext_run(ike, EXT_INFO_RESP_OUT, sa, m, &r, NULL, NULL) == EXT_FAIL)
		goto out;
	if (ike_send_response(ike, sa, IKEV2_EXCH_INFORMATIONAL, m->hdr.msg_id, &r) < 0)
		sa_log(sa, LOG_WARNING, "send-failed", "INFORMATIONAL response");
	if (delete_ike) {
		/* 1.4.1, 2.25.2: answer, then the IKE SA and its children are gone. */
		sa_log(sa, LOG_INFO, "deleted", "by the peer");
		ike_peer_gone(ike, sa, false, "deleted by peer");
	}
out:
	wire_msg_free(&r);
}

void info_response(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m)
{
	enum ike_task task = sa->out->task;

	switch (task) {
	case TASK_IKE_DELETE:
		sa_log(sa, LOG_INFO, "deleted", "by us");
		sa_fail(ike, sa, "deleted");
		return;
	case TASK_CHILD_DELETE:
		for (struct child_sa *c = sa->children, *nx; c; c = nx) {
			nx = c->next;
			if (c->deleting)
				child_remove(ike, sa, c);
		}
		break;
	case TASK_DPD:
		sa_log(sa, LOG_DEBUG, "dpd-ok", NULL);
		break;
	case TASK_EXT_REQUEST:
		ext_request_done(ike, sa, sa->out->ext_owner, m);
		if (sa->state == IKE_S_DEAD)
			return;
		break;
	default:
		break;
	}
	ike_request_done(ike, sa);
}
