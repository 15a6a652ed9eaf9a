/*
 * The engine's side of the extension contract (ike/ext.h): the registry,
 * the extensions' per-SA states, ext_run() which applies what hooks return
 * in one place, extension-owned INFORMATIONAL requests, and the default
 * answer to a request for an unknown IKE SA (RFC 7296 2.21.1): an
 * unprotected INVALID_IKE_SPI with the request's SPIs and message ID,
 * rate-limited, to which extensions may add payloads.
 */
#include <stdlib.h>
#include <string.h>

#include "ike/sa.h"
#include "util/log.h"
#include "util/ratelimit.h"

/* The extensions, in the order their hooks run. */
static const struct ike_ext *const extensions[] = {
    &qcd_ext,
    &redirect_ext,
    &mobike_ext,
};

#define N_EXT (sizeof(extensions) / sizeof(extensions[0]))
_Static_assert(N_EXT <= IKE_MAX_EXT, "IKE_MAX_EXT is too small");

static int ext_index(const struct ike_ext *e)
{
	for (size_t i = 0; i < N_EXT; i++)
		if (extensions[i] == e)
			return (int)i;
	return -1;
}

void *ext_global(struct ike *ike, const struct ike_ext *e)
{
	int i = ext_index(e);

	return i < 0 ? NULL : ike->ext[i];
}

void *ext_state(const struct ike_sa *sa, const struct ike_ext *e)
{
	int i = ext_index(e);

	return i < 0 || !sa ? NULL : sa->ext_state[i];
}

static void ctx_init(struct ext_ctx *c, struct ike *ike, struct ike_sa *sa, size_t i)
{
	memset(c, 0, sizeof(*c));
	c->ike = ike;
	c->sa = sa;
	c->state = sa ? sa->ext_state[i] : NULL;
	c->local = sa ? &sa->local : NULL;
	c->remote = sa ? &sa->remote : NULL;
}

int ext_init(struct ike *ike)
{
	for (size_t i = 0; i < N_EXT; i++)
		if (extensions[i]->init && extensions[i]->init(ike, &ike->ext[i]) < 0) {
			log_msg(LOG_ERR, "ike", "extension %s failed to start",
			        extensions[i]->name);
			return -1;
		}
	return 0;
}

void ext_free(struct ike *ike)
{
	for (size_t i = 0; i < N_EXT; i++) {
		if (extensions[i]->free)
			extensions[i]->free(ike, ike->ext[i]);
		ike->ext[i] = NULL;
	}
}

/* ---- per-SA states ---- */

/* ike/ext.h 1.: none exists until the extension asks for it. */
void *ext_state_new(struct ike_sa *sa, const struct ike_ext *e)
{
	int i = ext_index(e);

	if (i < 0 || !sa || !e->state_size)
		return NULL;
	if (!sa->ext_state[i])
		sa->ext_state[i] = calloc(1, e->state_size);
	return sa->ext_state[i];
}

static void state_drop(struct ike_sa *sa, size_t i)
{
	if (!sa->ext_state[i])
		return;
	if (extensions[i]->state_free)
		extensions[i]->state_free(sa->ext_state[i]);
	crypto_wipe(sa->ext_state[i], extensions[i]->state_size);
	free(sa->ext_state[i]);
	sa->ext_state[i] = NULL;
}

void ext_state_drop(struct ike_sa *sa, const struct ike_ext *e)
{
	int i = ext_index(e);

	if (i >= 0 && sa)
		state_drop(sa, (size_t)i);
}

void ext_sa_free(struct ike_sa *sa)
{
	for (size_t i = 0; i < N_EXT; i++)
		state_drop(sa, i);
}

/* Only states that exist carry over: an SA whose extension never needed
 * one gives its successor none either. */
void ext_inherit(struct ike *ike, struct ike_sa *old, struct ike_sa *nsa)
{
	struct ext_ctx c;

	for (size_t i = 0; i < N_EXT; i++) {
		if (!extensions[i]->inherit || !old->ext_state[i])
			continue;
		if (!ext_state_new(nsa, extensions[i])) {
			sa_log(nsa, LOG_WARNING, "ext-state-lost", "%s: out of memory on rekey",
			       extensions[i]->name);
			continue;
		}
		ctx_init(&c, ike, nsa, i);
		extensions[i]->inherit(&c, old->ext_state[i]);
	}
}

void ext_rekey_done(struct ike *ike, struct ike_sa *old, struct ike_sa *nsa,
                    const struct wire_msg *in)
{
	/* ike/ext.h 4.: queued extension requests move to the new SA. */
	nsa->ext_requests |= old->ext_requests;
	old->ext_requests = 0;
	if (nsa->ext_requests)
		ike_queue(ike, nsa, TASK_EXT_REQUEST);
	(void)ext_run(ike, EXT_IKE_REKEY_DONE, nsa, in, NULL, NULL, NULL);
}

/* ---- hooks and their results ---- */

static bool request_in(enum ext_point pt)
{
	return pt == EXT_SA_INIT_REQ_IN || pt == EXT_AUTH_REQ_IN || pt == EXT_INFO_REQ_IN;
}

static bool response_in(enum ext_point pt)
{
	return pt == EXT_SA_INIT_RESP_IN || pt == EXT_AUTH_RESP_IN || pt == EXT_INFO_RESP_IN ||
	       pt == EXT_IKE_REKEY_DONE;
}

/* EXT_SA_INIT_REQ_IN: there is no SA; the answer goes out unprotected (2.6-style). */
static void answer_stateless(struct ike *ike, const struct ext_ctx *c)
{
	struct wire_hdr h = c->in->hdr;
	struct wire_msg m;

	h.flags = IKEV2_FLAG_RESPONSE;
	if (c->out && c->out->npayloads) {
		ike_send_unprotected(ike, c->local, c->remote, &h, c->out);
		return;
	}
	if (!c->notify)
		return;
	wire_msg_init(&m);
	if (build_notify(&m, 0, NULL, 0, c->notify, NULL, 0) == 0)
		ike_send_unprotected(ike, c->local, c->remote, &h, &m);
	wire_msg_free(&m);
}

/* EXT_FAIL on a request inside an SA: answer N(notify) when set, then the SA goes. */
static void fail_request(struct ike *ike, struct ike_sa *sa, const struct ext_ctx *c,
                         const char *ext)
{
	struct wire_msg r;

	if (c->notify) {
		wire_msg_init(&r);
		if (build_notify(&r, 0, NULL, 0, c->notify, NULL, 0) < 0 ||
		    ike_send_response(ike, sa, c->in->hdr.exchange, c->in->hdr.msg_id, &r) < 0)
			sa_log(sa, LOG_WARNING, "send-failed", "error answer of extension %s", ext);
		wire_msg_free(&r);
	}
	sa_fail(ike, sa, ext);
}

enum ext_result ext_run(struct ike *ike, enum ext_point pt, struct ike_sa *sa,
                        const struct wire_msg *in, struct wire_msg *out,
                        const struct ike_addr *local, const struct ike_addr *remote)
{
	struct ext_ctx c;
	enum ext_result r = EXT_CONTINUE;
	size_t i;

	for (i = 0; i < N_EXT && r == EXT_CONTINUE; i++) {
		if (!extensions[i]->hook)
			continue;
		ctx_init(&c, ike, sa, i);
		c.in = in;
		c.out = out;
		if (local && remote) {
			c.local = local;
			c.remote = remote;
		} else if (ike->rx_remote && pt != EXT_SA_INIT_REQ_OUT && pt != EXT_AUTH_REQ_OUT &&
		           pt != EXT_INFO_REQ_OUT) {
			/* About the message being processed: its path (RFC 7296 2.11). */
			c.local = ike->rx_local;
			c.remote = ike->rx_remote;
		}
		r = extensions[i]->hook(pt, &c);
	}
	if (r == EXT_NO_CHILD && pt != EXT_AUTH_REQ_IN && pt != EXT_AUTH_RESP_IN)
		r = EXT_CONTINUE;
	if (r == EXT_HANDLED && pt == EXT_SA_INIT_REQ_IN)
		answer_stateless(ike, &c);
	if (r != EXT_FAIL)
		return r;
	if (pt == EXT_SA_INIT_REQ_IN)
		answer_stateless(ike, &c);
	else if (sa && request_in(pt))
		fail_request(ike, sa, &c, extensions[i - 1]->name);
	else if (sa && response_in(pt)) {
		/* 2.21.2: a response we cannot accept ends the SA; nothing is sent. */
		sa_fail(ike, sa, extensions[i - 1]->name);
	}
	return r;
}

int ext_add(struct ike *ike, struct ike_sa *sa, enum ext_point pt, struct wire_msg *out)
{
	return ext_run(ike, pt, sa, NULL, out, NULL, NULL) == EXT_FAIL ? -1 : 0;
}

/* ---- extension-owned requests ---- */

void ike_ext_request(struct ike *ike, struct ike_sa *sa, const struct ike_ext *e)
{
	int i = ext_index(e);

	if (i < 0 || sa->state == IKE_S_DEAD || sa->state == IKE_S_DELETING)
		return;
	sa->ext_requests |= 1u << i;
	ike_queue(ike, sa, TASK_EXT_REQUEST);
}

int ext_build_request(struct ike *ike, struct ike_sa *sa, unsigned *owner, struct wire_msg *out)
{
	struct ext_ctx c;

	for (size_t i = 0; i < N_EXT; i++) {
		if (!(sa->ext_requests & (1u << i)))
			continue;
		sa->ext_requests &= ~(1u << i);
		if (!extensions[i]->hook)
			continue;
		ctx_init(&c, ike, sa, i);
		c.out = out;
		if (extensions[i]->hook(EXT_INFO_REQ_OUT, &c) == EXT_FAIL)
			return -1;
		if (!out->npayloads)
			continue; /* nothing left to say */
		*owner = (unsigned)i + 1;
		/* More requests queued: they go after this one (window 1). */
		if (sa->ext_requests)
			sa->tasks |= 1u << TASK_EXT_REQUEST;
		return 0;
	}
	*owner = 0;
	return 0;
}

void ext_request_done(struct ike *ike, struct ike_sa *sa, unsigned owner, const struct wire_msg *in)
{
	struct ext_ctx c;

	if (!owner || owner > N_EXT || !extensions[owner - 1]->hook)
		return;
	ctx_init(&c, ike, sa, owner - 1);
	c.in = in;
	if (ike->rx_remote) {
		c.local = ike->rx_local;
		c.remote = ike->rx_remote;
	}
	if (extensions[owner - 1]->hook(EXT_INFO_RESP_IN, &c) == EXT_FAIL)
		sa_fail(ike, sa, extensions[owner - 1]->name);
}

/* ---- paths ---- */

void ext_transmit(struct ike *ike, struct ike_sa *sa, unsigned tries, struct ike_addr *local,
                  struct ike_addr *remote)
{
	struct ext_ctx c;

	for (size_t i = 0; i < N_EXT; i++) {
		if (!extensions[i]->transmit)
			continue;
		ctx_init(&c, ike, sa, i);
		if (extensions[i]->transmit(&c, tries, local, remote))
			return;
	}
}

enum ext_result ext_path_seen(struct ike *ike, struct ike_sa *sa, const struct ike_addr *local,
                              const struct ike_addr *remote, const struct wire_msg *m)
{
	struct ext_ctx c;

	for (size_t i = 0; i < N_EXT; i++) {
		if (!extensions[i]->path_seen)
			continue;
		ctx_init(&c, ike, sa, i);
		c.in = m;
		c.local = local;
		c.remote = remote;
		if (extensions[i]->path_seen(&c) == EXT_HANDLED)
			return EXT_HANDLED;
	}
	return EXT_CONTINUE;
}

void ike_local_addresses(struct ike *ike, const struct ike_addr *addrs, size_t n)
{
	if (n > IKE_MAX_LOCAL) {
		log_msg(LOG_WARNING, "ike",
		        "%zu local addresses: only the first %d are used for MOBIKE", n,
		        IKE_MAX_LOCAL);
		n = IKE_MAX_LOCAL;
	}
	memcpy(ike->local_addrs, addrs, n * sizeof(*addrs));
	ike->n_local_addrs = n;
	ext_addresses_changed(ike);
	sa_reap(ike);
}

const struct ike_addr *ike_local_addrs(const struct ike *ike, size_t *n)
{
	*n = ike->n_local_addrs;
	return ike->local_addrs;
}

void ext_addresses_changed(struct ike *ike)
{
	for (size_t i = 0; i < N_EXT; i++)
		if (extensions[i]->addresses_changed)
			extensions[i]->addresses_changed(ike);
}

/* ---- unauthenticated input ---- */

void ext_unknown_spi(struct ike *ike, const struct ike_addr *local, const struct ike_addr *remote,
                     const struct wire_msg *m)
{
	struct wire_msg answer;
	struct wire_hdr h = m->hdr;
	struct ext_ctx c;
	char a[64];
	size_t alen;
	const uint8_t *ab = addr_bytes(remote, &alen);
	uint64_t now = ike_now(ike);

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
	for (size_t i = 0; i < N_EXT; i++) {
		if (!extensions[i]->unknown_spi_answer)
			continue;
		ctx_init(&c, ike, NULL, i);
		c.in = m;
		c.out = &answer;
		c.local = local;
		c.remote = remote;
		if (extensions[i]->unknown_spi_answer(&c) < 0)
			goto out;
	}
	ike_send_unprotected(ike, local, remote, &h, &answer);
out:
	wire_msg_free(&answer);
}

enum ext_result ext_unprotected(struct ike *ike, struct ike_sa *sa, const struct ike_addr *local,
                                const struct ike_addr *remote, const struct wire_msg *m)
{
	struct ext_ctx c;

	for (size_t i = 0; i < N_EXT; i++) {
		enum ext_result r;

		if (!extensions[i]->unprotected)
			continue;
		ctx_init(&c, ike, sa, i);
		c.in = m;
		c.local = local;
		c.remote = remote;
		r = extensions[i]->unprotected(&c);
		if (r != EXT_CONTINUE)
			return r;
	}
	return EXT_CONTINUE;
}

void ext_esp_unknown_spi(struct ike *ike, uint32_t spi, const struct ike_addr *local,
                         const struct ike_addr *remote)
{
	for (size_t i = 0; i < N_EXT; i++)
		if (extensions[i]->esp_unknown_spi)
			extensions[i]->esp_unknown_spi(ike, spi, local, remote);
}

void ext_resolved(struct ike *ike, const struct ike_ext *owner, uint64_t tag, const char *name,
                  const struct ike_addr *addrs, size_t n)
{
	if (ext_index(owner) >= 0 && owner->resolved)
		owner->resolved(ike, tag, name, addrs, n);
}

/* ---- SA and Child SA events ---- */

void ext_sa_down(struct ike *ike, struct ike_sa *sa, bool peer_dead)
{
	struct ext_ctx c;

	for (size_t i = 0; i < N_EXT; i++) {
		if (!extensions[i]->sa_down)
			continue;
		ctx_init(&c, ike, sa, i);
		extensions[i]->sa_down(&c, peer_dead);
	}
}

void ext_child_event(struct ike *ike, struct ike_sa *sa, struct child_sa *child,
                     enum ext_child_event ev)
{
	struct ext_ctx c;

	for (size_t i = 0; i < N_EXT; i++) {
		if (!extensions[i]->child_event)
			continue;
		ctx_init(&c, ike, sa, i);
		extensions[i]->child_event(&c, child, ev);
	}
}

void ext_counters(struct ike *ike, void (*fn)(void *arg, const char *name, uint64_t v), void *arg)
{
	for (size_t i = 0; i < N_EXT; i++)
		if (extensions[i]->counters)
			extensions[i]->counters(ike, ike->ext[i], fn, arg);
}

void ext_status(struct ike *ike, const struct ike_sa *sa, struct json_object *j, char *text,
                size_t len)
{
	struct ext_ctx c;

	for (size_t i = 0; i < N_EXT; i++) {
		if (!extensions[i]->status)
			continue;
		/* Status only reads: the SA is passed on as the hooks take it. */
		ctx_init(&c, ike, (struct ike_sa *)sa, i);
		extensions[i]->status(&c, j, text, len);
	}
}

/* ---- the extensions' own deadlines ---- */

void ext_timers(struct ike *ike, uint64_t now)
{
	for (size_t i = 0; i < N_EXT; i++)
		if (extensions[i]->timers)
			extensions[i]->timers(ike, now);
}

int64_t ext_next_timeout(struct ike *ike, uint64_t now)
{
	int64_t best = -1;

	for (size_t i = 0; i < N_EXT; i++) {
		int64_t t;

		if (!extensions[i]->next_timeout)
			continue;
		t = extensions[i]->next_timeout(ike, now);
		if (t >= 0 && (best < 0 || t < best))
			best = t;
	}
	return best;
}
