/*
 * The extension registry and the default behaviour around it, notably the
 * answer to a request for an unknown IKE SA (RFC 7296 2.21.1): an
 * unprotected INVALID_IKE_SPI with the request's SPIs and message ID,
 * rate-limited, to which extensions may add payloads.
 */
#include <string.h>

#include "util/log.h"
#include "ike/ext.h"
#include "util/ratelimit.h"

/* The extensions, in the order their hooks run. */
static const struct ike_ext *const extensions[] = {
    &qcd_ext,
};

#define FOR_EACH_EXT(e)                                                                            \
	for (size_t i_ = 0; i_ < sizeof(extensions) / sizeof(extensions[0]); i_++)                 \
		if (((e) = extensions[i_]) != NULL)

int ext_init(struct ike *ike)
{
	const struct ike_ext *e;

	FOR_EACH_EXT(e)
	if (e->init && e->init(ike) < 0) {
		log_msg(LOG_ERR, "ike", "extension %s failed to start", e->name);
		return -1;
	}
	return 0;
}

void ext_free(struct ike *ike)
{
	const struct ike_ext *e;

	FOR_EACH_EXT(e)
	if (e->free)
		e->free(ike);
}

int ext_add(struct ike *ike, struct ike_sa *sa, enum ext_point pt, struct wire_msg *out)
{
	const struct ike_ext *e;

	FOR_EACH_EXT(e)
	if (e->add && e->add(ike, sa, pt, out) < 0)
		return -1;
	return 0;
}

enum ext_result ext_process(struct ike *ike, struct ike_sa *sa, enum ext_point pt,
                            const struct wire_msg *in)
{
	const struct ike_ext *e;

	FOR_EACH_EXT(e)
	if (e->process) {
		enum ext_result r = e->process(ike, sa, pt, in);

		if (r != EXT_CONTINUE)
			return r;
	}
	return EXT_CONTINUE;
}

void ext_unknown_spi(struct ike *ike, const struct ike_addr *local, const struct ike_addr *remote,
                     const uint8_t *buf, size_t len, const struct wire_msg *m)
{
	const struct ike_ext *e;
	struct wire_msg answer;
	struct wire_hdr h = m->hdr;
	char a[64];

	size_t alen;
	const uint8_t *ab = addr_bytes(remote, &alen);
	uint64_t now = ike_now(ike);

	(void)buf;
	(void)len;
	/* 2.21.1: never answer a response; a request may get INVALID_IKE_SPI,
	 * within a per-source and a global budget (RFC 6290 8.1: under a
	 * flood, silence). */
	if (m->hdr.flags & IKEV2_FLAG_RESPONSE)
		return;
	if (!ratelimit_keyed_take(&ike->answer_src, ab, alen, now) ||
	    !ratelimit_take(&ike->answer_all, now))
		return;
	if (log_rl_allow(LOG_RL_UNKNOWN_SPI, (const struct sockaddr *)&remote->ss)) {
		addr_format(remote, a, sizeof(a));
		log_msg(LOG_INFO, "ike",
		        "request %s #%u from %s for unknown IKE SA, answering INVALID_IKE_SPI",
		        ikev2_exchange_name(m->hdr.exchange) ? ikev2_exchange_name(m->hdr.exchange)
		                                             : "?",
		        m->hdr.msg_id, a);
	}
	wire_msg_init(&answer);
	/* Same SPIs and message ID; I set if the sender was the original responder. */
	h.flags =
	    (m->hdr.flags & IKEV2_FLAG_INITIATOR ? 0 : IKEV2_FLAG_INITIATOR) | IKEV2_FLAG_RESPONSE;
	h.version = IKEV2_VERSION;
	h.exchange = IKEV2_EXCH_INFORMATIONAL;
	if (build_notify(&answer, 0, NULL, 0, IKEV2_N_INVALID_IKE_SPI, NULL, 0) < 0)
		goto out;
	FOR_EACH_EXT(e)
	if (e->unknown_spi_answer && e->unknown_spi_answer(ike, m, local, remote, &answer) < 0)
		goto out;
	ike_send_unprotected(ike, local, remote, &h, &answer);
out:
	wire_msg_free(&answer);
}

enum ext_result ext_unprotected(struct ike *ike, struct ike_sa *sa, const struct ike_addr *local,
                                const struct ike_addr *remote, const struct wire_msg *m)
{
	const struct ike_ext *e;

	FOR_EACH_EXT(e)
	if (e->unprotected) {
		enum ext_result r = e->unprotected(ike, sa, local, remote, m);

		if (r != EXT_CONTINUE)
			return r;
	}
	return EXT_CONTINUE;
}

void ext_sa_down(struct ike *ike, struct ike_sa *sa, bool peer_dead)
{
	const struct ike_ext *e;

	FOR_EACH_EXT(e)
	if (e->sa_down)
		e->sa_down(ike, sa, peer_dead);
}

void ext_path_seen(struct ike *ike, struct ike_sa *sa, const struct ike_addr *local,
                   const struct ike_addr *remote, const struct wire_msg *m)
{
	const struct ike_ext *e;

	FOR_EACH_EXT(e)
	if (e->path_seen)
		e->path_seen(ike, sa, local, remote, m);
}

void ext_timers(struct ike *ike, uint64_t now)
{
	const struct ike_ext *e;

	FOR_EACH_EXT(e)
	if (e->timers)
		e->timers(ike, now);
}

void ext_esp_unknown_spi(struct ike *ike, uint32_t spi, const struct ike_addr *local,
                         const struct ike_addr *remote)
{
	const struct ike_ext *e;

	FOR_EACH_EXT(e)
	if (e->esp_unknown_spi)
		e->esp_unknown_spi(ike, spi, local, remote);
}

void ext_status(struct ike *ike, const struct ike_sa *sa, struct json *j)
{
	const struct ike_ext *e;

	FOR_EACH_EXT(e)
	if (e->status)
		e->status(ike, sa, j);
}

void ext_child_event(struct ike *ike, struct ike_sa *sa, struct child_sa *c,
                     enum ext_child_event ev)
{
	const struct ike_ext *e;

	FOR_EACH_EXT(e)
	if (e->child_event)
		e->child_event(ike, sa, c, ev);
}

int64_t ext_next_timeout(struct ike *ike, uint64_t now)
{
	const struct ike_ext *e;
	int64_t best = -1;

	FOR_EACH_EXT(e)
	if (e->next_timeout) {
		int64_t t = e->next_timeout(ike, now);

		if (t >= 0 && (best < 0 || t < best))
			best = t;
	}
	return best;
}
