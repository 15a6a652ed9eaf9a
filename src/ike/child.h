/* Child SA negotiation shared by IKE_AUTH and CREATE_CHILD_SA (child.c). */
#ifndef RIKE_IKE_CHILD_H
#define RIKE_IKE_CHILD_H

#include "ike/sa.h"

struct child_offer_result {
	struct ike_chosen chosen;
	struct ike_ts_set ts_local, ts_remote; /* narrowed, from our point of view */
	bool transport;
	uint32_t spi_out; /* the peer's SPI */
};

/* Our ESP proposals, without DH transforms unless with_dh (RFC 7296 1.2). */
size_t child_offer(const struct cfg_conn *conn, bool with_dh, struct proposal *out);
/* Responder: choose a proposal and narrow the selectors; returns 0 or the
 * notify to answer with (NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE, INVALID_SYNTAX). */
int child_select(struct ike *ike, struct ike_sa *sa, const struct wire_msg *req, bool with_dh,
                 struct child_offer_result *res);
/* Initiator: check the responder's SA, TSi and TSr against what we sent
 * (ts_i: ours, ts_r: the peer's). */
int child_check_answer(struct ike_sa *sa, const struct wire_msg *resp, bool with_dh,
                       const struct ike_ts_set *ts_i, const struct ike_ts_set *ts_r,
                       struct child_offer_result *res) WUR;
struct child_sa *child_from(struct ike *ike, struct ike_sa *sa, const struct child_offer_result *r,
                            uint32_t spi_in);
int child_build_offer(struct ike_sa *sa, struct wire_msg *m, bool with_dh, uint32_t spi_in) WUR;
int child_build_answer(struct wire_msg *m, const struct child_offer_result *r, uint32_t spi_in) WUR;
int child_build_ts(struct wire_msg *m, const struct ike_ts_set *ts_i, const struct ike_ts_set *ts_r,
                   bool transport) WUR;
uint16_t child_error_notify(const struct wire_msg *m);

#endif
