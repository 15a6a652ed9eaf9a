/*
 * MOBIKE (RFC 4555), both roles: the IKE SA and its Child SAs follow the
 * hosts' addresses (the standard form of draft-dupont-ikev2-addrmgmt).
 *
 * Negotiation: MOBIKE_SUPPORTED in IKE_AUTH (3.2); the initiator floats to
 * the NAT-T port before IKE_AUTH, NAT or not (3.3). Both sides announce
 * their other addresses (ADDITIONAL_IP4/IP6_ADDRESS or
 * NO_ADDITIONAL_ADDRESSES) in IKE_AUTH and whenever their set changes
 * (3.4, 3.6); the peer's set is kept per SA.
 *
 * Initiator (3.5): when its address is gone or the route to the peer now
 * leaves from another address, it moves the IKE SA and the Child SAs at
 * once and sends UPDATE_SA_ADDRESSES from the new path, with NAT-D,
 * COOKIE2 and its addresses (and NO_NATS_ALLOWED when configured, 3.9).
 * A newer change while an update is out makes the answer to the older one
 * moot and sends another (the draft's strong sequencing). When the
 * current path dies (retransmissions unanswered), the outstanding request
 * is retransmitted over the other local x peer address pairs, bounded by
 * the retransmissions; the first that answers becomes the path (3.10).
 *
 * Responder (3.5, 3.7, 3.9): an update is accepted only inside the SA and
 * only the newest (window of one, message IDs). The IKE SA answers on the
 * path the update came from; the Child SAs move only after the new
 * address has proven it receives (return routability: an INFORMATIONAL
 * with COOKIE2 sent there), unless it was verified before or is in the
 * peer's authenticated address set (no extra round trip). If the check
 * is not answered on the new path, the old path is kept. NAT-D in the
 * update is followed (3.8); with NO_NATS_ALLOWED a NAT is refused with
 * UNEXPECTED_NAT_DETECTED.
 *
 * Collisions (window of one each way; ike/ext.h 4.): an update waits for
 * our rekey, delete, liveness check or redirect acknowledgement to be
 * answered; a queued update moves to the new SA on an IKE rekey and is
 * dropped by our delete; the peer's requests are answered meanwhile.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ike/ext.h"
#include "util/log.h"
#include "wire/notify.h"

#define MOBIKE_PEER_ADDRS 8 /* the peer's additional addresses kept */
#define MOBIKE_VERIFIED   8 /* addresses that passed return routability */
#define MOBIKE_PROBE_FROM 2 /* retransmission from which other paths are probed */
#define RR_TRIES          2 /* transmissions of a check to the new path */

enum mobike_job {
	JOB_NONE,
	JOB_UPDATE, /* initiator: UPDATE_SA_ADDRESSES (3.5) */
	JOB_RR,     /* responder: return routability check (3.7) */
	JOB_ADDRS,  /* responder: our address set changed (3.6) */
};

struct mobike_sa {
	bool ours, peer; /* we announced MOBIKE_SUPPORTED / the peer did (3.2) */
	bool peer_natt;  /* initiator: the responder sent NAT-D in IKE_SA_INIT */
	struct ike_addr peer_addrs[MOBIKE_PEER_ADDRS]; /* the peer's other addresses */
	size_t n_peer_addrs;
	struct ike_addr verified[MOBIKE_VERIFIED]; /* remote addresses proven to receive */
	size_t n_verified;
	/* The peer's addresses this SA has used (its IKE_AUTH address first):
	 * the additional set leaves out the one in use, so without these a
	 * move away from it could never come back (IPv4 -> IPv6 -> IPv4). */
	struct ike_addr used[MOBIKE_PEER_ADDRS];
	size_t n_used;
	enum mobike_job job;    /* what our queued/outstanding request is for */
	uint32_t gen, sent_gen; /* initiator: changes seen / the one the update is for */
	struct ike_addr new_local, new_remote; /* the path the update or check is for */
	struct wire_cookie2 cookie;            /* COOKIE2 of our outstanding request */
	const char *why;                       /* the reason of the pending move, for the log */
	bool probing;                          /* the current path died: transmissions try others */
	struct ike_addr probe_local, probe_remote; /* the path the last probe used */
	uint64_t announced; /* a digest of the address set the peer last heard of */
	bool queued;        /* waits in mobike.aq for its turn to announce (3.6) */
	bool moved;         /* responder: moved to another of our addresses, to be announced */
};

/*
 * 3.6 on a gateway: one change of its address set is news for every
 * MOBIKE SA it holds. Announced all at once, 100,000 SAs would make a
 * burst of as many INFORMATIONAL exchanges (and answers) that the sockets
 * drop and retransmissions repeat; they are announced at
 * mobike_announce_rate per second instead, in the order the SAs were
 * queued, a second's worth at once. An SA whose other exchange is out
 * waits for its next turn.
 */
#define ANNOUNCE_TICK_MS 10

struct mobike {
	uint64_t updates_sent, updates_received, refused, rr_checks, moves, announcements;
	uint64_t *aq; /* owned ring of SA serials waiting to announce */
	size_t aq_head, aq_len, aq_cap;
	double budget; /* announcements allowed now */
	uint64_t budget_ms;
};

static struct mobike *mb_of(struct ike *ike)
{
	return ext_global(ike, &mobike_ext);
}

/* NULL for an SA without MOBIKE: the state is made only for a connection
 * with mobike = true, and kept only once the peer offered it too (3.2). */
static struct mobike_sa *msa_of(const struct ike_sa *sa)
{
	return ext_state(sa, &mobike_ext);
}

static bool active(const struct mobike_sa *s)
{
	return s && s->ours && s->peer;
}

static void path_text(const struct ike_addr *l, const struct ike_addr *r, char *buf, size_t len)
{
	char a[64], b[64];

	addr_format(l, a, sizeof(a));
	addr_format(r, b, sizeof(b));
	snprintf(buf, len, "%s - %s", a, b);
}

static bool in_set(const struct ike_addr *set, size_t n, const struct ike_addr *a);

static void note_used(struct mobike_sa *s, const struct ike_addr *r)
{
	struct ike_addr a = *r;

	addr_set_port(&a, 0);
	if (in_set(s->used, s->n_used, &a))
		return;
	if (s->n_used == MOBIKE_PEER_ADDRS)
		memmove(&s->used[0], &s->used[1], sizeof(s->used[0]) * (MOBIKE_PEER_ADDRS - 1));
	else
		s->n_used++;
	s->used[s->n_used - 1] = a;
}

/* Move the SA (IKE and Child SAs) and say so, once (both sides). */
static void move(struct ike *ike, struct ike_sa *sa, const struct ike_addr *l,
                 const struct ike_addr *r, const char *why)
{
	char from[160], to[160];

	path_text(ike_sa_local(sa), ike_sa_remote(sa), from, sizeof(from));
	path_text(l, r, to, sizeof(to));
	mb_of(ike)->moves++;
	note_used(msa_of(sa), ike_sa_remote(sa));
	note_used(msa_of(sa), r);
	sa_log(sa, LOG_NOTICE, "mobike-moved", "%s -> %s (%s)", from, to, why);
	ike_sa_move(ike, sa, l, r);
}

/* ---- addresses ---- */

static bool same_host(const struct ike_addr *a, const struct ike_addr *b)
{
	return addr_equal_host(a, b);
}

static bool local_has(struct ike *ike, const struct ike_addr *a)
{
	size_t n;
	const struct ike_addr *l = ike_local_addrs(ike, &n);

	for (size_t i = 0; i < n; i++)
		if (same_host(&l[i], a))
			return true;
	return false;
}

/* 3.4, 3.6: our addresses other than the one in use, or NO_ADDITIONAL_ADDRESSES. */
static int add_addresses(struct ike *ike, struct ike_sa *sa, struct wire_msg *m)
{
	size_t n, k = 0, clen;
	const struct ike_addr *l = ike_local_addrs(ike, &n);
	struct ike_addr cur = *ike_sa_local(sa);
	const uint8_t *cb = addr_bytes(&cur, &clen);
	static const uint8_t zero[16];

	/* The address in use is not an additional one; with a wildcard local
	 * address, it is the one the routing table picks (3.4). */
	if (!cb || !memcmp(cb, zero, clen))
		(void)ike_route(ike, ike_sa_remote(sa), &cur);

	for (size_t i = 0; i < n; i++) {
		struct wire_addr wa;
		uint8_t data[16];
		size_t alen, dlen;
		const uint8_t *p = addr_bytes(&l[i], &alen);

		if (!p || same_host(&l[i], &cur) || k == WIRE_ADDITIONAL_ADDR_MAX)
			continue;
		wa.len = (uint8_t)alen;
		memcpy(wa.addr, p, alen);
		if (wire_additional_addr_encode(&wa, data, sizeof(data), &dlen) < 0 ||
		    build_notify(m, 0, NULL, 0, wire_additional_addr_type(&wa), data, dlen) < 0)
			return -1;
		k++;
	}
	return k ? 0 : build_notify(m, 0, NULL, 0, IKEV2_N_NO_ADDITIONAL_ADDRESSES, NULL, 0);
}

/* The peer's set, when the message carries one (3.4, 3.6). */
static void take_addresses(struct mobike_sa *s, const struct wire_msg *m)
{
	const struct wire_payload *p = NULL;
	bool any = wire_msg_find_notify(m, IKEV2_N_NO_ADDITIONAL_ADDRESSES) != NULL;
	size_t n = 0;

	while ((p = wire_msg_find(m, IKEV2_PL_N, p))) {
		struct wire_addr wa;
		struct wire_error err;

		if (p->u.notify.type != IKEV2_N_ADDITIONAL_IP4_ADDRESS &&
		    p->u.notify.type != IKEV2_N_ADDITIONAL_IP6_ADDRESS)
			continue;
		any = true;
		if (n == MOBIKE_PEER_ADDRS ||
		    wire_additional_addr_decode(&p->u.notify, &wa, &err) < 0 ||
		    addr_from_bytes(&s->peer_addrs[n], wa.addr, wa.len) < 0)
			continue;
		n++;
	}
	if (any)
		s->n_peer_addrs = n;
}

static bool in_set(const struct ike_addr *set, size_t n, const struct ike_addr *a)
{
	for (size_t i = 0; i < n; i++)
		if (same_host(&set[i], a))
			return true;
	return false;
}

static void note_verified(struct mobike_sa *s, const struct ike_addr *a)
{
	if (in_set(s->verified, s->n_verified, a))
		return;
	if (s->n_verified == MOBIKE_VERIFIED)
		memmove(&s->verified[0], &s->verified[1],
		        sizeof(s->verified[0]) * (MOBIKE_VERIFIED - 1));
	else
		s->n_verified++;
	s->verified[s->n_verified - 1] = *a;
}

/* ---- NO_NATS_ALLOWED (3.9) ---- */

static int add_no_nats(struct ike_sa *sa, struct wire_msg *m, const struct ike_addr *l,
                       const struct ike_addr *r)
{
	const struct cfg_conn *c = ike_sa_conn(sa);
	struct wire_no_nats nn;
	uint8_t data[WIRE_NO_NATS_MAX];
	size_t alen, dlen;
	const uint8_t *ls = addr_bytes(l, &alen), *rs;

	if (!c || !c->mobike_no_nats || !ls)
		return 0;
	rs = addr_bytes(r, &alen);
	memset(&nn, 0, sizeof(nn));
	nn.addr_len = (uint8_t)alen;
	memcpy(nn.src, ls, alen);
	memcpy(nn.dst, rs, alen);
	nn.src_port = addr_port(l);
	nn.dst_port = addr_port(r);
	if (wire_no_nats_encode(&nn, data, sizeof(data), &dlen) < 0)
		return -1;
	return build_notify(m, 0, NULL, 0, IKEV2_N_NO_NATS_ALLOWED, data, dlen);
}

/* The request's NO_NATS_ALLOWED names the addresses it came from and to. */
static bool no_nats_broken(const struct ext_ctx *c)
{
	const struct wire_payload *p = wire_msg_find_notify(c->in, IKEV2_N_NO_NATS_ALLOWED);
	struct wire_no_nats nn;
	struct wire_error err;
	struct ike_addr s, d;

	if (!p)
		return false;
	if (wire_no_nats_decode(&p->u.notify, &nn, &err) < 0 ||
	    addr_from_bytes(&s, nn.src, nn.addr_len) < 0 ||
	    addr_from_bytes(&d, nn.dst, nn.addr_len) < 0)
		return true;
	return !same_host(&s, c->remote) || !same_host(&d, c->local) ||
	       nn.src_port != addr_port(c->remote) || nn.dst_port != addr_port(c->local);
}

/* ---- our requests: update (initiator), return routability and addresses (responder) ---- */

static int add_cookie2(struct mobike_sa *s, struct wire_msg *m)
{
	uint8_t data[WIRE_COOKIE2_MAX];
	size_t len;

	s->cookie.len = 16;
	if (crypto_random(s->cookie.data, s->cookie.len) < 0 ||
	    wire_cookie2_encode(&s->cookie, data, sizeof(data), &len) < 0)
		return -1;
	return build_notify(m, 0, NULL, 0, IKEV2_N_COOKIE2, data, len);
}

static bool cookie2_echoed(const struct mobike_sa *s, const struct wire_msg *m)
{
	const struct wire_payload *p = wire_msg_find_notify(m, IKEV2_N_COOKIE2);
	struct wire_cookie2 got;
	struct wire_error err;

	if (!p || wire_cookie2_decode(&p->u.notify, &got, &err) < 0)
		return false;
	return got.len == s->cookie.len && !crypto_memcmp(got.data, s->cookie.data, got.len);
}

static int build_request(struct ext_ctx *c)
{
	struct mobike_sa *s = c->state;
	char path[160];

	if (!s)
		return 0;
	switch (s->job) {
	case JOB_UPDATE:
		/* 3.5: HDR, SK {N(UPDATE_SA_ADDRESSES), N(NAT_DETECTION_*),
		 * [N(NO_NATS_ALLOWED)], [N(COOKIE2)]}, plus our addresses (3.6). */
		s->sent_gen = s->gen;
		if (build_notify(c->out, 0, NULL, 0, IKEV2_N_UPDATE_SA_ADDRESSES, NULL, 0) < 0 ||
		    ike_nat_add(c->ike, c->sa, c->out, ike_sa_local(c->sa), ike_sa_remote(c->sa)) <
		        0 ||
		    add_no_nats(c->sa, c->out, ike_sa_local(c->sa), ike_sa_remote(c->sa)) < 0 ||
		    add_cookie2(s, c->out) < 0 || add_addresses(c->ike, c->sa, c->out) < 0)
			return -1;
		mb_of(c->ike)->updates_sent++;
		path_text(ike_sa_local(c->sa), ike_sa_remote(c->sa), path, sizeof(path));
		sa_log(c->sa, LOG_INFO, "mobike-update-sent", "%s (%s)", path,
		       s->why ? s->why : "address change");
		return 0;
	case JOB_RR:
		/* 3.7: any INFORMATIONAL with a COOKIE2 the peer must echo. */
		mb_of(c->ike)->rr_checks++;
		path_text(&s->new_local, &s->new_remote, path, sizeof(path));
		sa_log(c->sa, LOG_INFO, "mobike-rr-check", "COOKIE2 on %s", path);
		return add_cookie2(s, c->out);
	case JOB_ADDRS:
		return add_addresses(c->ike, c->sa, c->out);
	default:
		return 0;
	}
}

/* The initiator's decision (3.5): which path now, and go there at once. */
static void reconsider_from(struct ike *ike, struct ike_sa *sa, const char *why,
                            const struct ike_addr *prefer);

static void reconsider(struct ike *ike, struct ike_sa *sa, const char *why)
{
	reconsider_from(ike, sa, why, NULL);
}

/* prefer: the peer moved itself there (its new address set came from it and
 * leaves out the one in use, 3.5): try it first, and not the old one. */
static void reconsider_from(struct ike *ike, struct ike_sa *sa, const char *why,
                            const struct ike_addr *prefer)
{
	struct mobike_sa *s = msa_of(sa);
	struct ike_addr src, dst = *ike_sa_remote(sa);
	uint16_t lport = addr_port(ike_sa_local(sa));
	bool gone = !local_has(ike, ike_sa_local(sa));

	if (!active(s) || !ike_sa_initiator(sa) || ike_sa_state(sa) != IKE_S_ESTABLISHED)
		return;
	/* The peer's current address first, then its other addresses, then
	 * those it used before. */
	for (size_t i = 0; i <= s->n_peer_addrs + s->n_used; i++) {
		if (i)
			dst = i <= s->n_peer_addrs ? s->peer_addrs[i - 1]
			                           : s->used[i - 1 - s->n_peer_addrs];
		else if (prefer)
			dst = *prefer;
		if (prefer && i && same_host(&dst, ike_sa_remote(sa)))
			continue;
		if (ike_route(ike, &dst, &src) < 0 || !local_has(ike, &src))
			continue;
		addr_set_port(&src, lport);
		if (i || prefer)
			addr_set_port(&dst, addr_port(ike_sa_remote(sa)));
		else
			dst = *ike_sa_remote(sa);
		if (addr_equal(&src, ike_sa_local(sa)) && addr_equal(&dst, ike_sa_remote(sa)))
			return; /* the path in use is still the right one */
		s->gen++;
		s->why = why;
		s->probing = false;
		move(ike, sa, &src, &dst, why);
		s->job = JOB_UPDATE;
		ike_ext_request(ike, sa, &mobike_ext);
		return;
	}
	if (gone) {
		/* No route from an address we have: probe when one comes back (3.10). */
		sa_log(sa, LOG_WARNING, "mobike-no-path",
		       "no usable local address towards the peer");
		ike_check_liveness(ike, sa);
	}
}

/* ---- incoming ---- */

/* The responder gets UPDATE_SA_ADDRESSES (3.5). */
static enum ext_result update_in(struct ext_ctx *c)
{
	struct mobike_sa *s = c->state;
	struct mobike *mb = mb_of(c->ike);
	bool new_path = !addr_equal(c->remote, ike_sa_remote(c->sa)) ||
	                !addr_equal(c->local, ike_sa_local(c->sa));
	/* Authenticated before this update: its set, and addresses checked. */
	bool known = in_set(s->verified, s->n_verified, c->remote) ||
	             in_set(s->peer_addrs, s->n_peer_addrs, c->remote) ||
	             in_set(s->used, s->n_used, c->remote);
	int nat;

	mb->updates_received++;
	take_addresses(s, c->in);
	if (no_nats_broken(c)) {
		/* 3.9: refused; the answer goes where the request came from. */
		mb->refused++;
		sa_log(c->sa, LOG_WARNING, "mobike-refused", "UNEXPECTED_NAT_DETECTED");
		s->job = JOB_NONE;
		return EXT_CONTINUE; /* INFO_RESP_OUT adds the notify */
	}
	nat = ike_nat_check(c->ike, c->sa, c->in, c->local, c->remote);
	if (!new_path)
		return EXT_CONTINUE;
	/* 3.7, 5.2: traffic goes to an address only once it has proven it
	 * receives, unless it already did or is in the authenticated set. */
	if (known) {
		note_verified(s, c->remote);
		move(c->ike, c->sa, c->local, c->remote,
		     nat == 2 ? "peer's update, NAT" : "peer's update");
		return EXT_CONTINUE;
	}
	s->new_local = *c->local;
	s->new_remote = *c->remote;
	s->job = JOB_RR;
	ike_ext_request(c->ike, c->sa, &mobike_ext);
	return EXT_CONTINUE;
}

static enum ext_result info_req_in(struct ext_ctx *c)
{
	struct mobike_sa *s = c->state;

	if (!active(s))
		return EXT_CONTINUE;
	if (wire_msg_find_notify(c->in, IKEV2_N_UPDATE_SA_ADDRESSES)) {
		/* Only the original initiator moves SAs (3.5). */
		if (ike_sa_initiator(c->sa))
			return EXT_CONTINUE;
		return update_in(c);
	}
	take_addresses(s, c->in);
	if (ike_sa_initiator(c->sa) &&
	    (wire_msg_find_notify(c->in, IKEV2_N_ADDITIONAL_IP4_ADDRESS) ||
	     wire_msg_find_notify(c->in, IKEV2_N_ADDITIONAL_IP6_ADDRESS) ||
	     wire_msg_find_notify(c->in, IKEV2_N_NO_ADDITIONAL_ADDRESSES))) {
		/* 3.5: the responder may move itself; it says so from its new
		 * address with a set that leaves the old one out. */
		bool moved = !same_host(c->remote, ike_sa_remote(c->sa)) &&
		             !in_set(s->peer_addrs, s->n_peer_addrs, ike_sa_remote(c->sa));

		if (moved || !in_set(s->peer_addrs, s->n_peer_addrs, ike_sa_remote(c->sa)))
			reconsider_from(c->ike, c->sa, "peer's addresses changed",
			                moved ? c->remote : NULL);
	}
	return EXT_CONTINUE;
}

/* Our response to the peer's INFORMATIONAL: echo COOKIE2 (3.7), NAT-D (3.8), refusals (3.9). */
static int info_resp_out(struct ext_ctx *c)
{
	const struct wire_payload *p = wire_msg_find_notify(c->in, IKEV2_N_COOKIE2);

	if (!active(c->state))
		return 0;
	if (p && build_notify(c->out, 0, NULL, 0, IKEV2_N_COOKIE2, p->u.notify.data,
	                      p->u.notify.len) < 0)
		return -1;
	if (wire_msg_find_notify(c->in, IKEV2_N_UPDATE_SA_ADDRESSES) && no_nats_broken(c))
		return build_notify(c->out, 0, NULL, 0, IKEV2_N_UNEXPECTED_NAT_DETECTED, NULL, 0);
	if (wire_msg_find_notify(c->in, IKEV2_N_NAT_DETECTION_SOURCE_IP))
		return ike_nat_add(c->ike, c->sa, c->out, c->local, c->remote);
	return 0;
}

/* The answer to our own request (owner only). */
static enum ext_result info_resp_in(struct ext_ctx *c)
{
	struct mobike_sa *s = c->state;
	enum mobike_job job;
	bool on_new;

	if (!s)
		return EXT_CONTINUE;
	job = s->job;
	on_new = addr_equal(c->remote, &s->new_remote);
	s->job = JOB_NONE;
	if ((job == JOB_UPDATE || job == JOB_RR) && !cookie2_echoed(s, c->in)) {
		/* 3.7: a COOKIE2 that does not come back closes the SA. */
		sa_log(c->sa, LOG_WARNING, "mobike-refused", "COOKIE2 not echoed");
		c->notify = 0;
		return EXT_FAIL;
	}
	if (job == JOB_UPDATE) {
		if (wire_msg_find_notify(c->in, IKEV2_N_UNEXPECTED_NAT_DETECTED) ||
		    wire_msg_find_notify(c->in, IKEV2_N_UNACCEPTABLE_ADDRESSES)) {
			mb_of(c->ike)->refused++;
			sa_log(c->sa, LOG_WARNING, "mobike-refused", "the peer refused our update");
			return EXT_CONTINUE;
		}
		if (s->sent_gen != s->gen) {
			/* A newer change came meanwhile: this answer is moot (3.5). */
			s->job = JOB_UPDATE;
			ike_ext_request(c->ike, c->sa, &mobike_ext);
			return EXT_CONTINUE;
		}
		take_addresses(s, c->in);
		(void)ike_nat_check(c->ike, c->sa, c->in, c->local, c->remote);
		return EXT_CONTINUE;
	}
	if (job == JOB_RR) {
		if (!on_new) {
			/* Answered on the old path only: the new one does not receive. */
			mb_of(c->ike)->refused++;
			sa_log(c->sa, LOG_WARNING, "mobike-rr-failed",
			       "the new address did not answer; staying on the current path");
			return EXT_CONTINUE;
		}
		note_verified(s, &s->new_remote);
		sa_log(c->sa, LOG_INFO, "mobike-rr-ok", "the new address receives");
		move(c->ike, c->sa, &s->new_local, &s->new_remote, "peer's update, verified");
	}
	return EXT_CONTINUE;
}

/*
 * Order-independent digest of what 3.6 announces to sa's peer: our local
 * addresses but the one sa uses (add_addresses leaves it out). Per SA, so
 * that the first report of our set after a start, made while the first
 * clients were already setting up, is news only for an SA whose additional
 * addresses it changes (a gateway with one address announces nothing).
 */
static uint64_t set_digest(struct ike *ike, const struct ike_sa *sa)
{
	size_t n, alen;
	const struct ike_addr *l = ike_local_addrs(ike, &n);
	uint64_t d = 0;

	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = addr_bytes(&l[i], &alen);
		uint64_t h = 0xcbf29ce484222325ULL;

		if (same_host(&l[i], ike_sa_local(sa)))
			continue;
		d++;
		for (size_t k = 0; p && k < alen; k++)
			h = (h ^ p[k]) * 0x100000001b3ULL;
		d += h;
	}
	return d;
}

/* ---- the hook ---- */

static enum ext_result mobike_hook(enum ext_point pt, struct ext_ctx *c)
{
	struct mobike_sa *s = c->state;
	const struct cfg_conn *conn = c->sa ? ike_sa_conn(c->sa) : NULL;

	switch (pt) {
	case EXT_SA_INIT_RESP_IN:
		if (!conn || !conn->mobike)
			return EXT_CONTINUE;
		if (!(s = ext_state_new(c->sa, &mobike_ext)))
			return EXT_FAIL;
		/* The responder does NAT-T (2.23): it can move to port 4500. */
		s->peer_natt = wire_msg_find_notify(c->in, IKEV2_N_NAT_DETECTION_SOURCE_IP) != NULL;
		return EXT_CONTINUE;
	case EXT_AUTH_REQ_OUT:
		/* 3.3: with MOBIKE and NAT-T on both ends, IKE_AUTH goes on the
		 * NAT-T port, NAT or not (after NAT detection saw port 500). */
		if (conn && conn->mobike && s && s->peer_natt)
			ike_sa_float(c->ike, c->sa);
		/* fall through */
	case EXT_AUTH_RESP_OUT:
		if (!conn || !conn->mobike)
			return EXT_CONTINUE;
		if (pt == EXT_AUTH_RESP_OUT && !(s && s->peer))
			return EXT_CONTINUE; /* 3.2: answer only an initiator that offered it */
		if (!(s = ext_state_new(c->sa, &mobike_ext)))
			return EXT_FAIL;
		s->ours = true;
		s->announced = set_digest(c->ike, c->sa);
		if (build_notify(c->out, 0, NULL, 0, IKEV2_N_MOBIKE_SUPPORTED, NULL, 0) < 0 ||
		    add_addresses(c->ike, c->sa, c->out) < 0 ||
		    (pt == EXT_AUTH_REQ_OUT &&
		     add_no_nats(c->sa, c->out, ike_sa_local(c->sa), ike_sa_remote(c->sa)) < 0))
			return EXT_FAIL;
		return EXT_CONTINUE;
	case EXT_AUTH_REQ_IN:
	case EXT_AUTH_RESP_IN:
		/* 3.2: MOBIKE is used only when both ends support it; otherwise
		 * this SA never needs the state (it is made here or dropped). */
		if (!conn || !conn->mobike ||
		    !wire_msg_find_notify(c->in, IKEV2_N_MOBIKE_SUPPORTED)) {
			ext_state_drop(c->sa, &mobike_ext);
			return EXT_CONTINUE;
		}
		if (!(s = ext_state_new(c->sa, &mobike_ext)))
			return EXT_FAIL;
		s->peer = true;
		take_addresses(s, c->in);
		note_used(s, c->remote); /* authenticated: the peer is there */
		return EXT_CONTINUE;
	case EXT_INFO_REQ_OUT:
		return build_request(c) < 0 ? EXT_FAIL : EXT_CONTINUE;
	case EXT_INFO_REQ_IN:
		return info_req_in(c);
	case EXT_INFO_RESP_OUT:
		return info_resp_out(c) < 0 ? EXT_FAIL : EXT_CONTINUE;
	case EXT_INFO_RESP_IN:
		return info_resp_in(c);
	default:
		return EXT_CONTINUE;
	}
}

/*
 * The path of each (re)transmission (3.7, 3.10): a return routability
 * check goes to the new address first, then back to the current one; once
 * the current path seems dead, the initiator tries the other local x peer
 * address pairs in turn.
 */
static bool mobike_transmit(struct ext_ctx *c, unsigned tries, struct ike_addr *local,
                            struct ike_addr *remote)
{
	struct mobike_sa *s = c->state;
	size_t nl, np, k;
	const struct ike_addr *l;

	if (!active(s))
		return false;
	if (s->job == JOB_RR) {
		if (tries >= RR_TRIES)
			return false;
		*local = s->new_local;
		*remote = s->new_remote;
		return true;
	}
	if (!ike_sa_initiator(c->sa) || tries < MOBIKE_PROBE_FROM)
		return false;
	l = ike_local_addrs(c->ike, &nl);
	np = s->n_peer_addrs + s->n_used + 1;
	if (!nl)
		return false;
	k = tries - MOBIKE_PROBE_FROM;
	*local = l[k % nl];
	if (!(k / nl % np))
		*remote = *ike_sa_remote(c->sa);
	else if (k / nl % np <= s->n_peer_addrs)
		*remote = s->peer_addrs[k / nl % np - 1];
	else
		*remote = s->used[k / nl % np - 1 - s->n_peer_addrs];
	if (local->ss.sa.sa_family != remote->ss.sa.sa_family)
		return false;
	addr_set_port(local, addr_port(ike_sa_local(c->sa)));
	addr_set_port(remote, addr_port(ike_sa_remote(c->sa)));
	s->probing = true;
	s->probe_local = *local;
	s->probe_remote = *remote;
	sa_log(c->sa, LOG_DEBUG, "mobike-probe", "try %u", tries);
	return true;
}

/* An authenticated message on another path: never followed blindly (3.8). */
static enum ext_result mobike_path_seen(struct ext_ctx *c)
{
	struct mobike_sa *s = c->state;
	const struct cfg_conn *conn = ike_sa_conn(c->sa);

	/* 3.3: the initiator's IKE_AUTH on the NAT-T port sets the IKE SA's addresses. */
	if (ike_sa_state(c->sa) == IKE_S_INIT_DONE && conn && conn->mobike &&
	    wire_msg_find_notify(c->in, IKEV2_N_MOBIKE_SUPPORTED)) {
		ike_sa_move(c->ike, c->sa, c->local, c->remote);
		return EXT_HANDLED;
	}
	if (!active(s))
		return EXT_CONTINUE;
	/* 3.10: a response on a probed path: that path works; move and update. */
	if (ike_sa_initiator(c->sa) && (c->in->hdr.flags & IKEV2_FLAG_RESPONSE) && s->probing) {
		s->probing = false;
		s->gen++;
		s->why = "path test";
		move(c->ike, c->sa, c->local, c->remote, "the current path died");
		s->job = JOB_UPDATE;
		ike_ext_request(c->ike, c->sa, &mobike_ext);
	}
	return EXT_HANDLED;
}

/* ---- our addresses changed (3.5, 3.6) ---- */

static int aq_push(struct mobike *mb, uint64_t serial)
{
	if (mb->aq_len == mb->aq_cap) {
		size_t cap = mb->aq_cap ? 2 * mb->aq_cap : 64;
		uint64_t *q = malloc(cap * sizeof(*q));

		if (!q)
			return -1;
		for (size_t i = 0; i < mb->aq_len; i++)
			q[i] = mb->aq[(mb->aq_head + i) % mb->aq_cap];
		free(mb->aq);
		mb->aq = q;
		mb->aq_cap = cap;
		mb->aq_head = 0;
	}
	mb->aq[(mb->aq_head + mb->aq_len++) % mb->aq_cap] = serial;
	return 0;
}

static uint64_t aq_pop(struct mobike *mb)
{
	uint64_t serial = mb->aq[mb->aq_head];

	mb->aq_head = (mb->aq_head + 1) % mb->aq_cap;
	mb->aq_len--;
	return serial;
}

static void announce_now(struct ike *ike, struct ike_sa *sa, struct mobike_sa *s, uint64_t digest)
{
	s->announced = digest;
	s->moved = false;
	s->job = JOB_ADDRS;
	mb_of(ike)->announcements++;
	sa_log(sa, LOG_DEBUG, "mobike-announce", "our address set changed (3.6)");
	ike_ext_request(ike, sa, &mobike_ext);
}

/* The SA's peer is to hear of our set: in its turn (or now, without memory). */
static void announce_queue(struct ike *ike, struct ike_sa *sa, struct mobike_sa *s)
{
	if (s->queued)
		return;
	if (aq_push(mb_of(ike), ike_sa_serial(sa)) < 0) {
		if (s->job == JOB_NONE)
			announce_now(ike, sa, s, set_digest(ike, sa));
		return;
	}
	s->queued = true;
}

/* Release the queue at the configured rate; each waiting SA is looked at
 * once per call (bounded), an SA gone or busy costs no budget. */
static void announce_tick(struct ike *ike, uint64_t now)
{
	struct mobike *mb = mb_of(ike);
	double rate = ike_cfg(ike)->mobike_announce_rate;
	size_t n = mb->aq_len;

	mb->budget += (double)(now - mb->budget_ms) * rate / 1000.0;
	mb->budget_ms = now;
	if (mb->budget > rate)
		mb->budget = rate;
	while (n-- && mb->budget >= 1) {
		uint64_t serial = aq_pop(mb);
		struct ike_sa *sa = ike_sa_by_serial(ike, serial);
		struct mobike_sa *s = sa ? msa_of(sa) : NULL;

		if (!s)
			continue; /* gone meanwhile */
		s->queued = false;
		uint64_t digest = set_digest(ike, sa);
		if (!active(s) || ike_sa_state(sa) != IKE_S_ESTABLISHED ||
		    (digest == s->announced && !s->moved))
			continue;
		if (s->job != JOB_NONE) {
			announce_queue(ike, sa, s); /* its other exchange first */
			continue;
		}
		announce_now(ike, sa, s, digest);
		mb->budget -= 1;
	}
}

static void changed_fn(struct ike *ike, struct ike_sa *sa, void *arg)
{
	struct mobike_sa *s = msa_of(sa);
	struct ike_addr src;

	(void)arg;
	if (!active(s) || ike_sa_state(sa) != IKE_S_ESTABLISHED)
		return;
	if (ike_sa_initiator(sa)) {
		reconsider(ike, sa,
		           local_has(ike, ike_sa_local(sa)) ? "route changed" : "address gone");
		if (s->job == JOB_UPDATE) {
			s->announced = set_digest(ike, sa); /* the update carries the set */
			return;
		}
	} else if (!local_has(ike, ike_sa_local(sa)) &&
	           ike_route(ike, ike_sa_remote(sa), &src) == 0 && local_has(ike, &src)) {
		/* 3.5: the responder's own address is gone: it may move its SAs
		 * to another one, and tells the initiator from there (3.6). */
		addr_set_port(&src, addr_port(ike_sa_local(sa)));
		move(ike, sa, &src, ike_sa_remote(sa), "our address gone");
		s->moved = true; /* the peer learns it from the announcement's source */
	}
	/* 3.6: the peer hears of every change of our set, in its turn (after
	 * a move above: from the path it uses now). */
	if (s->moved || set_digest(ike, sa) != s->announced)
		announce_queue(ike, sa, s);
}

static void mobike_addresses_changed(struct ike *ike)
{
	ike_sa_foreach(ike, changed_fn, NULL);
	announce_tick(ike, ike_now(ike)); /* up to a second's worth at once */
}

static void mobike_timers(struct ike *ike, uint64_t now)
{
	if (mb_of(ike)->aq_len)
		announce_tick(ike, now);
}

static int64_t mobike_next_timeout(struct ike *ike, uint64_t now)
{
	(void)now;
	return mb_of(ike)->aq_len ? ANNOUNCE_TICK_MS : -1;
}

/* ---- rekey, status, setup ---- */

static void mobike_inherit(struct ext_ctx *c, const void *old)
{
	const struct mobike_sa *o = old;
	struct mobike_sa *s = c->state;

	*s = *o;
	s->probing = false;
	s->queued = false; /* the old SA's turn is lost with it: this one takes its own */
	if (o->queued)
		announce_queue(c->ike, c->sa, s);
}

static void mobike_status(struct ext_ctx *c, struct json_object *j, char *text, size_t len)
{
	const struct mobike_sa *s = c->state;
	struct json_object *m, *path, *peers;
	char a[64];
	size_t used;

	if (!j) {
		used = strlen(text);
		snprintf(text + used, len - used, " mobike %s", active(s) ? "on" : "off");
		return;
	}
	m = json_object_new_object();
	json_object_object_add(m, "enabled", json_object_new_boolean(active(s)));
	/* 3.6: waiting for its turn to announce our new address set */
	json_object_object_add(m, "announce_waiting", json_object_new_boolean(s && s->queued));
	path = json_object_new_object();
	addr_format(ike_sa_local(c->sa), a, sizeof(a));
	json_object_object_add(path, "local", json_object_new_string(a));
	addr_format(ike_sa_remote(c->sa), a, sizeof(a));
	json_object_object_add(path, "remote", json_object_new_string(a));
	json_object_object_add(m, "path", path);
	peers = json_object_new_array();
	for (size_t i = 0; s && i < s->n_peer_addrs; i++) {
		struct json_object *p = json_object_new_object();

		addr_format_host(&s->peer_addrs[i], a, sizeof(a));
		json_object_object_add(p, "address", json_object_new_string(a));
		json_object_object_add(
		    p, "verified",
		    json_object_new_boolean(in_set(s->verified, s->n_verified, &s->peer_addrs[i])));
		json_object_array_add(peers, p);
	}
	json_object_object_add(m, "peer_addresses", peers);
	json_object_object_add(j, "mobike", m);
}

static void mobike_counters(struct ike *ike, void *global,
                            void (*fn)(void *arg, const char *name, uint64_t v), void *arg)
{
	struct mobike *mb = global;

	(void)ike;
	if (!mb)
		return;
	fn(arg, "mobike_updates_sent", mb->updates_sent);
	fn(arg, "mobike_updates_received", mb->updates_received);
	fn(arg, "mobike_refused", mb->refused);
	fn(arg, "mobike_rr_checks", mb->rr_checks);
	fn(arg, "mobike_moves", mb->moves);
	fn(arg, "mobike_announcements", mb->announcements);
}

static int mobike_init(struct ike *ike, void **global)
{
	struct mobike *mb = calloc(1, sizeof(*mb));

	*global = mb;
	if (!mb)
		return -1;
	mb->budget_ms = ike_now(ike);
	mb->budget = ike_cfg(ike)->mobike_announce_rate; /* a second's worth */
	return 0;
}

static void mobike_free(struct ike *ike, void *global)
{
	struct mobike *mb = global;

	(void)ike;
	if (mb)
		free(mb->aq);
	free(mb);
}

const struct ike_ext mobike_ext = {
    .name = "mobike",
    .state_size = sizeof(struct mobike_sa),
    .init = mobike_init,
    .free = mobike_free,
    .hook = mobike_hook,
    .inherit = mobike_inherit,
    .transmit = mobike_transmit,
    .path_seen = mobike_path_seen,
    .addresses_changed = mobike_addresses_changed,
    .next_timeout = mobike_next_timeout,
    .timers = mobike_timers,
    .status = mobike_status,
    .counters = mobike_counters,
};
