/*
 * Redirect (RFC 5685), both roles, in all three places.
 *
 * Client: REDIRECT_SUPPORTED in the first IKE_SA_INIT, REDIRECTED_FROM
 * with the original gateway's address when re-initiating after a redirect
 * (3, 9.1, 9.3). A REDIRECT is followed only if we announced support and
 * the policy of the connection allows its target (redirect.allow, at most
 * redirect.max in redirect.period seconds: 7):
 *   - in the IKE_SA_INIT response, only if its nonce data is our Ni (3, 11);
 *     anything else is discarded and we keep waiting;
 *   - in the IKE_AUTH response, once the gateway's AUTH has verified (6):
 *     no Child SA, and the IKE SA is deleted once it is up;
 *   - in an INFORMATIONAL request of an established SA (5): answered
 *     empty by the engine; make before break: the old SA is deleted only
 *     when the new one has its first Child SA. Ignored during an IKE rekey.
 * An FQDN target is resolved by the host without blocking (ike_resolve).
 *
 * Gateway: the target comes from the providers (redirect_provider.h):
 *   - in IKE_SA_INIT, statelessly: from the request alone, after the
 *     cookie check, no SA, no DH, nothing kept (3, 4: anycast);
 *   - in IKE_AUTH, after the client is authenticated, by its identity:
 *     no Child SA, and the SA is deleted after redirect.grace seconds (6);
 *   - for established SAs on the operator's word (ike_redirect, 5), and
 *     at a bounded rate while draining; the SA is deleted when the client
 *     deletes it or after redirect.grace seconds.
 * Only clients that announced support are ever sent a REDIRECT (3).
 */
#include <fnmatch.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ike/ext.h"
#include "ike/redirect_provider.h"
#include "util/log.h"
#include "util/ratelimit.h"
#include "wire/notify.h"

#define REDIRECT_RETRY_MS 30000 /* a refused redirect: the connection tries again */
#define REDIRECT_JOBS     64    /* FQDN targets being resolved */
#define REDIRECT_DEADLINE 4096  /* SAs waiting for their grace time */
#define DRAIN_TICK_MS     100

/* Per IKE SA (the extension's state). */
/* What a redirect leaves in an SA: most SAs that support redirects are
 * never redirected, so these ~800 B come with the first of them. */
struct redirect_texts {
	struct ike_addr from;       /* client: the gateway that redirected us (has_from) */
	char from_text[CFG_GW_MAX]; /* the gateway that redirected us, or REDIRECTED_FROM seen */
	char to[CFG_GW_MAX];        /* where this SA was redirected to */
	char pending[CFG_GW_MAX];   /* gateway: REDIRECT to send in our INFORMATIONAL */
};

struct redirect_sa {
	bool announced;           /* client: REDIRECT_SUPPORTED or REDIRECTED_FROM sent */
	bool peer_supported;      /* gateway: the client announced it */
	bool has_from;            /* client: this SA follows a redirect from t->from */
	bool in_auth;             /* gateway: REDIRECT goes in the IKE_AUTH response */
	uint64_t replaces;        /* client: the SA this one replaces (make before break) */
	struct redirect_texts *t; /* owned; NULL until the first of them is set */
};

static const struct redirect_texts no_texts;

/* The texts to read: empty ones when s (or its texts) does not exist. */
static const struct redirect_texts *texts_of(const struct redirect_sa *s)
{
	return s && s->t ? s->t : &no_texts;
}

/* The texts to write, made when first needed (NULL: out of memory). */
static struct redirect_texts *texts(struct redirect_sa *s)
{
	if (!s->t)
		s->t = calloc(1, sizeof(*s->t));
	return s->t;
}

/* Client: an FQDN target being resolved. */
struct job {
	bool used;
	enum redirect_place place;
	char conn[CFG_NAME_MAX];
	char target[CFG_GW_MAX];
	struct ike_addr from;
	uint64_t replaces;
};

/* Client: when each connection followed its redirects (7). */
struct loop {
	char conn[CFG_NAME_MAX];
	uint64_t at[100]; /* ring of redirect.max (<= 100) follow times */
	size_t n, head;
};

struct deadline {
	uint64_t at, serial;
};

static const struct redirect_provider *const providers[] = {
    &redirect_anycast, /* 4: before anything else */
    &redirect_drain,
    &redirect_static,
    &redirect_by_id,
};
#define N_PROVIDERS (sizeof(providers) / sizeof(providers[0]))

struct redirect {
	void *pstate[N_PROVIDERS];
	struct job jobs[REDIRECT_JOBS];
	struct loop *loops; /* owned: one per connection that followed a redirect */
	size_t n_loops, cap_loops;
	struct deadline dl[REDIRECT_DEADLINE]; /* min-heap by at */
	size_t n_dl;
	unsigned drain_rate;
	double drain_budget;
	uint64_t drain_ms;
	uint64_t drain_cursor; /* the next serial the drain looks at */
	uint64_t drain_visits; /* serials it looked at, in all (status) */
	uint64_t sent_init, sent_auth, sent_active, followed, refused, ignored;
};

static struct redirect *rd_of(struct ike *ike)
{
	return ext_global(ike, &redirect_ext);
}

/* The drain provider's state. */
static void *drain_of(struct redirect *r)
{
	for (size_t i = 0; i < N_PROVIDERS; i++)
		if (providers[i] == &redirect_drain)
			return r->pstate[i];
	return NULL;
}

/* NULL until the SA takes part in a redirect: a client that announces
 * support (3), a gateway's SA whose client did (ike/ext.h 1.). */
static struct redirect_sa *rsa_of(const struct ike_sa *sa)
{
	return ext_state(sa, &redirect_ext);
}

static const char *place_name(enum redirect_place p)
{
	return p == REDIRECT_IN_INIT   ? "IKE_SA_INIT"
	       : p == REDIRECT_IN_AUTH ? "IKE_AUTH"
	                               : "INFORMATIONAL";
}

/* ---- gateway identities (9.2) ---- */

/* Text (an address or FQDN) to a wire identity. */
static int gw_from_text(const char *text, struct wire_gw_id *gw)
{
	struct ike_addr a;
	size_t n;
	const uint8_t *p;

	memset(gw, 0, sizeof(*gw));
	gw->type = conf_gw_kind(text);
	if (gw->type == IKEV2_GW_ID_FQDN) {
		gw->len = (uint8_t)strlen(text);
		memcpy(gw->id, text, gw->len);
		return 0;
	}
	if (!gw->type || addr_parse(&a, text) < 0 || !(p = addr_bytes(&a, &n)))
		return -1;
	gw->len = (uint8_t)n;
	memcpy(gw->id, p, n);
	return 0;
}

static void gw_to_text(const struct wire_gw_id *gw, char out[CFG_GW_MAX])
{
	struct ike_addr a;

	if (gw->type == IKEV2_GW_ID_FQDN && gw->len < CFG_GW_MAX)
		snprintf(out, CFG_GW_MAX, "%.*s", (int)gw->len, (const char *)gw->id);
	else if (addr_from_bytes(&a, gw->id, gw->len) == 0)
		addr_format_host(&a, out, CFG_GW_MAX);
	else
		snprintf(out, CFG_GW_MAX, "?");
}

/* N(REDIRECT, gw[, nonce]) into m (9.2). */
static int add_redirect(struct wire_msg *m, const char *target, const uint8_t *nonce,
                        size_t nonce_len)
{
	struct wire_redirect r;
	uint8_t data[WIRE_REDIRECT_MAX];
	size_t len;

	memset(&r, 0, sizeof(r));
	if (gw_from_text(target, &r.gw) < 0 || nonce_len > sizeof(r.nonce))
		return -1;
	if (nonce_len)
		memcpy(r.nonce, nonce, nonce_len);
	r.nonce_len = (uint16_t)nonce_len;
	if (wire_redirect_encode(&r, data, sizeof(data), &len) < 0)
		return -1;
	return build_notify(m, 0, NULL, 0, IKEV2_N_REDIRECT, data, len);
}

/* ---- the gateway's choice ---- */

static int choose(struct ike *ike, const struct redirect_query *q, char gw[CFG_GW_MAX])
{
	struct redirect *r = rd_of(ike);

	for (size_t i = 0; i < N_PROVIDERS; i++)
		if (providers[i]->choose(r->pstate[i], q, gw) == 1 && conf_gw_kind(gw))
			return 1;
	return 0;
}

static bool announced(const struct wire_msg *m)
{
	return wire_msg_find_notify(m, IKEV2_N_REDIRECT_SUPPORTED) ||
	       wire_msg_find_notify(m, IKEV2_N_REDIRECTED_FROM);
}

/* ---- grace deadlines (a min-heap of serials) ---- */

static void dl_swap(struct redirect *r, size_t i, size_t j)
{
	struct deadline t = r->dl[i];

	r->dl[i] = r->dl[j];
	r->dl[j] = t;
}

static void dl_push(struct ike *ike, uint64_t serial, uint64_t at)
{
	struct redirect *r = rd_of(ike);
	size_t i = r->n_dl;

	if (i == REDIRECT_DEADLINE)
		return; /* the client deletes it, or liveness will */
	r->dl[r->n_dl++] = (struct deadline){at, serial};
	while (i && r->dl[(i - 1) / 2].at > r->dl[i].at) {
		dl_swap(r, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void dl_pop(struct redirect *r)
{
	size_t i = 0;

	r->dl[0] = r->dl[--r->n_dl];
	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l < r->n_dl && r->dl[l].at < r->dl[m].at)
			m = l;
		if (l + 1 < r->n_dl && r->dl[l + 1].at < r->dl[m].at)
			m = l + 1;
		if (m == i)
			return;
		dl_swap(r, i, m);
		i = m;
	}
}

static void grace_later(struct ike *ike, struct ike_sa *sa)
{
	const struct cfg_conn *c = ike_sa_conn(sa);

	dl_push(ike, ike_sa_serial(sa), ike_now(ike) + (c ? c->redirect.grace : 10) * 1000ull);
}

/* ---- the client: following a redirect ---- */

static bool allowed(const struct cfg_redirect *p, const char *target)
{
	struct ike_addr t, net;

	if (!p->n_allow)
		return true;
	for (size_t i = 0; i < p->n_allow; i++) {
		const char *e = p->allow[i], *slash = strchr(e, '/');
		char host[CFG_GW_MAX];

		if (conf_gw_kind(target) == IKEV2_GW_ID_FQDN) {
			if (!slash && fnmatch(e, target, FNM_CASEFOLD) == 0)
				return true;
			continue;
		}
		snprintf(host, sizeof(host), "%.*s", slash ? (int)(slash - e) : (int)strlen(e), e);
		if (addr_parse(&t, target) == 0 && addr_parse(&net, host) == 0 &&
		    addr_in_prefix(&t, &net, slash ? (unsigned)atoi(slash + 1) : 8 * 16))
			return true;
	}
	return false;
}

/* Each connection keeps its own history (7: "for a particular IKEv2 SA
 * setup"); NULL only when memory runs out. */
static struct loop *loop_of(struct redirect *r, const char *conn)
{
	struct loop *l;

	for (size_t i = 0; i < r->n_loops; i++)
		if (!strcmp(r->loops[i].conn, conn))
			return &r->loops[i];
	if (r->n_loops == r->cap_loops) {
		size_t cap = r->cap_loops ? 2 * r->cap_loops : 16;

		l = realloc(r->loops, cap * sizeof(*l));
		if (!l)
			return NULL;
		r->loops = l;
		r->cap_loops = cap;
	}
	l = &r->loops[r->n_loops++];
	memset(l, 0, sizeof(*l));
	snprintf(l->conn, CFG_NAME_MAX, "%s", conn);
	return l;
}

/* 7: a redirect that would be the (max+1)-th in period seconds is a loop. */
static bool loop_full(struct ike *ike, const struct cfg_conn *c, struct loop *l)
{
	uint64_t now = ike_now(ike), window = (uint64_t)c->redirect.period * 1000;
	size_t max = c->redirect.max < 100 ? c->redirect.max : 100, recent = 0;

	for (size_t i = 0; i < l->n; i++)
		if (now - l->at[i] < window)
			recent++;
	return recent >= max;
}

static void loop_note(struct ike *ike, struct loop *l)
{
	l->at[l->head] = ike_now(ike);
	l->head = (l->head + 1) % 100;
	if (l->n < 100)
		l->n++;
}

/* Bring conn up towards gw; the new SA remembers where it comes from. */
static void go(struct ike *ike, const char *conn, const struct ike_addr *gw,
               const struct ike_addr *from, uint64_t replaces, const char *target)
{
	const struct cfg_conn *c = conf_conn_lookup(ike_cfg(ike), conn);
	struct ike_sa *nsa;
	struct redirect_sa *s;
	struct redirect_texts *t;
	struct ike_addr to = *gw;

	if (!c)
		return;
	addr_set_port(&to, ike_cfg(ike)->ike_port);
	nsa = ike_initiate_to(ike, c, &to);
	if (!nsa) {
		log_msg(LOG_WARNING, "ike", "\"%s\" redirect to %s: cannot start an IKE SA", conn,
		        target);
		return;
	}
	/* Out of memory: the new SA goes without REDIRECTED_FROM (9.3). */
	s = ext_state_new(nsa, &redirect_ext);
	if (s) {
		s->replaces = replaces;
		if ((t = texts(s))) {
			s->has_from = true;
			t->from = *from;
			addr_format_host(from, t->from_text, sizeof(t->from_text));
		}
	}
	ike_sa_start(ike, nsa);
}

static void refuse(struct ike *ike, struct ike_sa *sa, enum redirect_place place, const char *why)
{
	struct redirect *r = rd_of(ike);

	r->refused++;
	sa_log(sa, LOG_WARNING, "redirect-refused", "%s (in %s)", why, place_name(place));
	if (place == REDIRECT_IN_ACTIVE)
		return; /* the SA we have stays; the gateway decides when it goes */
	/* 7: a clear error, then the connection's normal retry policy, which
	 * goes back to the configured gateway. */
	ike_retry(ike, ike_sa_name(sa), REDIRECT_RETRY_MS);
	ike_delete(ike, sa, "redirect refused");
}

/*
 * Follow a REDIRECT to target, seen on sa in place. The old SA: dropped
 * (IKE_SA_INIT), deleted once up (IKE_AUTH), or kept until the new SA has
 * its first Child SA (INFORMATIONAL: make before break).
 */
static void follow(struct ike *ike, struct ike_sa *sa, enum redirect_place place,
                   const char *target)
{
	struct redirect *r = rd_of(ike);
	const struct cfg_conn *c = ike_sa_conn(sa);
	struct redirect_sa *s = rsa_of(sa);
	struct loop *l;
	struct ike_addr from, gw;
	uint64_t replaces = place == REDIRECT_IN_ACTIVE ? ike_sa_serial(sa) : 0;
	char why[CFG_GW_MAX + 64];

	if (!c || !s)
		return; /* s: we announced support (find_redirect) */
	if (!allowed(&c->redirect, target)) {
		snprintf(why, sizeof(why), "%s is not allowed", target);
		refuse(ike, sa, place, why);
		return;
	}
	l = loop_of(r, c->name);
	if (!l || loop_full(ike, c, l)) {
		snprintf(why, sizeof(why), "loop: %u redirects in %u s", c->redirect.max,
		         c->redirect.period);
		refuse(ike, sa, place, why);
		return;
	}
	loop_note(ike, l);
	r->followed++;
	from = *ike_sa_remote(sa);
	addr_set_port(&from, 0);
	if (texts(s))
		snprintf(s->t->to, CFG_GW_MAX, "%s", target);
	{
		char old[64];

		addr_format_host(&from, old, sizeof(old));
		sa_log(sa, LOG_NOTICE, "redirect-followed", "to %s from %s (in %s)", target, old,
		       place_name(place));
	}
	if (conf_gw_kind(target) == IKEV2_GW_ID_FQDN) {
		size_t j;

		for (j = 0; j < REDIRECT_JOBS && r->jobs[j].used; j++)
			;
		if (j < REDIRECT_JOBS) {
			/* Noted before asking: the host may answer at once. */
			r->jobs[j] = (struct job){true, place, "", "", from, replaces};
			snprintf(r->jobs[j].conn, CFG_NAME_MAX, "%s", c->name);
			snprintf(r->jobs[j].target, CFG_GW_MAX, "%s", target);
		}
		if (j == REDIRECT_JOBS || ike_resolve(ike, target, &redirect_ext, j) < 0) {
			if (j < REDIRECT_JOBS)
				r->jobs[j].used = false;
			sa_log(sa, LOG_WARNING, "redirect-resolve-failed", "%s: cannot resolve now",
			       target);
			if (place != REDIRECT_IN_ACTIVE)
				ike_retry(ike, c->name, REDIRECT_RETRY_MS);
		}
	} else if (addr_parse(&gw, target) == 0) {
		go(ike, c->name, &gw, &from, replaces, target);
	}
	if (place != REDIRECT_IN_ACTIVE)
		ike_delete(ike, sa, "redirected");
}

static void redirect_resolved(struct ike *ike, uint64_t tag, const char *name,
                              const struct ike_addr *addrs, size_t n)
{
	struct redirect *r = rd_of(ike);
	struct job *j;

	if (!r || tag >= REDIRECT_JOBS || !r->jobs[tag].used)
		return;
	j = &r->jobs[tag];
	j->used = false;
	if (!n) {
		log_msg(LOG_WARNING, "ike", "\"%s\" redirect-resolve-failed %s: no address",
		        j->conn, name);
		/* The connection goes back to its configured gateway. */
		if (j->place != REDIRECT_IN_ACTIVE)
			ike_retry(ike, j->conn, REDIRECT_RETRY_MS);
		return;
	}
	go(ike, j->conn, &addrs[0], &j->from, j->replaces, name);
}

/* A REDIRECT in a message, decoded; 0 when there is none, -1 when it is
 * malformed or we never announced support (3: it is then ignored). */
static int find_redirect(struct ext_ctx *c, struct wire_redirect *out, char target[CFG_GW_MAX])
{
	const struct wire_payload *p = wire_msg_find_notify(c->in, IKEV2_N_REDIRECT);
	struct wire_error err;

	if (!p)
		return 0;
	if (wire_redirect_decode(&p->u.notify, out, &err) < 0) {
		if (log_rl_allow(LOG_RL_REDIRECT, (const struct sockaddr *)&c->remote->ss))
			sa_log(c->sa, LOG_NOTICE, "redirect-ignored", "%s", err.reason);
		rd_of(c->ike)->ignored++;
		return -1;
	}
	if (!c->state || !((struct redirect_sa *)c->state)->announced) {
		if (log_rl_allow(LOG_RL_REDIRECT, (const struct sockaddr *)&c->remote->ss))
			sa_log(c->sa, LOG_NOTICE, "redirect-ignored",
			       "REDIRECT although we did not announce support");
		rd_of(c->ike)->ignored++;
		return -1;
	}
	gw_to_text(&out->gw, target);
	if (!conf_gw_kind(target)) {
		if (log_rl_allow(LOG_RL_REDIRECT, (const struct sockaddr *)&c->remote->ss))
			sa_log(c->sa, LOG_NOTICE, "redirect-ignored", "not a gateway identity");
		rd_of(c->ike)->ignored++;
		return -1;
	}
	return 1;
}

static enum ext_result ignore(struct ext_ctx *c, const char *why, enum ext_result r)
{
	rd_of(c->ike)->ignored++;
	if (log_rl_allow(LOG_RL_REDIRECT, (const struct sockaddr *)&c->remote->ss))
		sa_log(c->sa, LOG_NOTICE, "redirect-ignored", "%s", why);
	return r;
}

/* IKE_SA_INIT response (3): our Ni must come back; else discard and wait. */
static enum ext_result client_init(struct ext_ctx *c)
{
	struct wire_redirect rr;
	char target[CFG_GW_MAX];
	const uint8_t *ni;
	size_t ni_len;
	int k = find_redirect(c, &rr, target);

	if (k == 0)
		return EXT_CONTINUE;
	if (k < 0)
		return EXT_HANDLED;
	ni = ike_sa_ni(c->sa, &ni_len);
	if (rr.nonce_len != ni_len || crypto_memcmp(rr.nonce, ni, ni_len))
		return ignore(c, "REDIRECT whose nonce data is not our Ni", EXT_HANDLED);
	follow(c->ike, c->sa, REDIRECT_IN_INIT, target);
	return EXT_HANDLED;
}

/* IKE_AUTH response (6): the gateway's AUTH has verified. */
static enum ext_result client_auth(struct ext_ctx *c)
{
	struct wire_redirect rr;
	char target[CFG_GW_MAX];

	if (find_redirect(c, &rr, target) <= 0)
		return EXT_CONTINUE;
	follow(c->ike, c->sa, REDIRECT_IN_AUTH, target);
	return EXT_NO_CHILD;
}

/* INFORMATIONAL request of an established SA (5): answered empty by the engine. */
static enum ext_result client_active(struct ext_ctx *c)
{
	struct wire_redirect rr;
	char target[CFG_GW_MAX];

	if (find_redirect(c, &rr, target) <= 0)
		return EXT_CONTINUE;
	if (rr.nonce_len)
		return ignore(c, "gateway-initiated REDIRECT with nonce data", EXT_CONTINUE);
	if (ike_sa_rekeying(c->sa))
		return ignore(c, "REDIRECT during an IKE rekey", EXT_CONTINUE);
	if (ike_sa_state(c->sa) != IKE_S_ESTABLISHED)
		return EXT_CONTINUE;
	follow(c->ike, c->sa, REDIRECT_IN_ACTIVE, target);
	return EXT_CONTINUE;
}

/* N(REDIRECT_SUPPORTED), or N(REDIRECTED_FROM) after a redirect (3, 9.3). */
static int announce(struct ext_ctx *c)
{
	struct redirect_sa *s;
	const struct cfg_conn *conn = ike_sa_conn(c->sa);
	struct wire_gw_id gw;
	uint8_t data[WIRE_REDIRECTED_MAX];
	size_t len, alen;
	const uint8_t *a;

	if (!conn || !conn->redirect.accept)
		return 0;
	if (!(s = ext_state_new(c->sa, &redirect_ext)))
		return -1;
	s->announced = true;
	if (!s->has_from)
		return build_notify(c->out, 0, NULL, 0, IKEV2_N_REDIRECT_SUPPORTED, NULL, 0);
	memset(&gw, 0, sizeof(gw));
	a = addr_bytes(&texts_of(s)->from, &alen);
	gw.type = alen == 4 ? IKEV2_GW_ID_IPV4 : IKEV2_GW_ID_IPV6;
	gw.len = (uint8_t)alen;
	memcpy(gw.id, a, alen);
	if (wire_redirected_from_encode(&gw, data, sizeof(data), &len) < 0)
		return -1;
	return build_notify(c->out, 0, NULL, 0, IKEV2_N_REDIRECTED_FROM, data, len);
}

/* ---- the gateway ---- */

/* IKE_SA_INIT request, after the cookie check: from the request alone (3, 4). */
static enum ext_result gateway_init(struct ext_ctx *c)
{
	struct redirect *r = rd_of(c->ike);
	const struct wire_payload *np = wire_msg_find(c->in, IKEV2_PL_NI_NR, NULL);
	struct redirect_query q = {REDIRECT_IN_INIT, c->ike, NULL, c->remote, c->local, NULL};
	char gw[CFG_GW_MAX], a[64];

	if (!np || !announced(c->in))
		return EXT_CONTINUE; /* 3: never to a client that did not announce it */
	q.conn = ike_conn_for_addrs(c->ike, c->local, c->remote);
	if (!choose(c->ike, &q, gw))
		return EXT_CONTINUE;
	if (add_redirect(c->out, gw, np->u.nonce.data, np->u.nonce.len) < 0)
		return EXT_CONTINUE;
	r->sent_init++;
	if (log_rl_allow(LOG_RL_REDIRECT, (const struct sockaddr *)&c->remote->ss)) {
		addr_format(c->remote, a, sizeof(a));
		log_msg(LOG_INFO, "ike", "\"%s\" redirect-sent in IKE_SA_INIT to %s, client %s",
		        q.conn ? q.conn->name : "-", gw, a);
	}
	return EXT_HANDLED;
}

/* Our IKE_SA_INIT response: note what the client announced. */
static void gateway_note(struct ext_ctx *c)
{
	struct redirect_sa *s;
	const struct wire_payload *p = wire_msg_find_notify(c->in, IKEV2_N_REDIRECTED_FROM);
	struct wire_gw_id gw;
	struct wire_error err;

	/* A client that did not announce support is never redirected (3):
	 * its SA keeps no state. Out of memory: taken as not announced. */
	if (!announced(c->in) || !(s = ext_state_new(c->sa, &redirect_ext)))
		return;
	s->peer_supported = true;
	if (p && wire_redirected_from_decode(&p->u.notify, &gw, &err) == 0 && texts(s))
		gw_to_text(&gw, s->t->from_text);
}

/* IKE_AUTH request, the client authenticated (6): by its identity. */
static enum ext_result gateway_auth(struct ext_ctx *c)
{
	struct redirect_sa *s = c->state;
	char id[512], to[CFG_GW_MAX];
	struct redirect_query q = {REDIRECT_IN_AUTH, c->ike,   ike_sa_conn(c->sa),
	                           c->remote,        c->local, id};

	if (!s || !s->peer_supported || !ike_sa_peer_id(c->sa, id, sizeof(id)) ||
	    !choose(c->ike, &q, to) || !texts(s))
		return EXT_CONTINUE;
	memcpy(s->t->to, to, sizeof(s->t->to));
	s->in_auth = true;
	rd_of(c->ike)->sent_auth++;
	sa_log(c->sa, LOG_NOTICE, "redirect-sent", "in IKE_AUTH to %s, client %s", s->t->to, id);
	grace_later(c->ike, c->sa);
	return EXT_NO_CHILD;
}

/* ---- the hook ---- */

static enum ext_result redirect_hook(enum ext_point pt, struct ext_ctx *c)
{
	struct redirect_sa *s = c->state;

	switch (pt) {
	case EXT_SA_INIT_REQ_OUT:
		return announce(c) < 0 ? EXT_FAIL : EXT_CONTINUE;
	case EXT_SA_INIT_REQ_IN:
		return gateway_init(c);
	case EXT_SA_INIT_RESP_OUT:
		gateway_note(c);
		return EXT_CONTINUE;
	case EXT_SA_INIT_RESP_IN:
		return client_init(c);
	case EXT_AUTH_REQ_IN:
		return gateway_auth(c);
	case EXT_AUTH_RESP_OUT:
		/* 6: after AUTH, instead of the Child SA. */
		if (s && s->in_auth && add_redirect(c->out, texts_of(s)->to, NULL, 0) < 0)
			return EXT_FAIL;
		return EXT_CONTINUE;
	case EXT_AUTH_RESP_IN:
		return client_auth(c);
	case EXT_INFO_REQ_OUT: /* our own request: a gateway-initiated REDIRECT (5) */
		if (!texts_of(s)->pending[0])
			return EXT_CONTINUE; /* else s->t holds it */
		if (add_redirect(c->out, s->t->pending, NULL, 0) < 0)
			return EXT_FAIL;
		memcpy(s->t->to, s->t->pending, sizeof(s->t->to));
		s->t->pending[0] = 0;
		return EXT_CONTINUE;
	case EXT_INFO_RESP_IN: /* 5: the client acknowledged */
		if (!s)
			return EXT_CONTINUE;
		rd_of(c->ike)->sent_active++;
		sa_log(c->sa, LOG_NOTICE, "redirect-sent", "in INFORMATIONAL to %s, acknowledged",
		       texts_of(s)->to);
		grace_later(c->ike, c->sa);
		return EXT_CONTINUE;
	case EXT_INFO_REQ_IN:
		return client_active(c);
	default:
		return EXT_CONTINUE;
	}
}

/* Make before break (5): the new SA has a Child SA; the old one can go. */
static void redirect_child_event(struct ext_ctx *c, struct child_sa *child, enum ext_child_event ev)
{
	struct redirect_sa *s = c->state;
	struct ike_sa *old;
	char why[64];

	(void)child;
	if (ev != EXT_CHILD_UP || !s || !s->replaces)
		return;
	old = ike_sa_by_serial(c->ike, s->replaces);
	s->replaces = 0;
	if (!old)
		return;
	snprintf(why, sizeof(why), "redirected: replaced by #%" PRIu64, ike_sa_serial(c->sa));
	ike_delete(c->ike, old, why);
}

static void redirect_sa_down(struct ext_ctx *c, bool peer_dead)
{
	struct redirect_sa *s = c->state;

	(void)peer_dead;
	if (s && s->replaces && ike_sa_state(c->sa) != IKE_S_ESTABLISHED)
		sa_log(c->sa, LOG_WARNING, "redirect-failed",
		       "the new gateway did not come up; #%" PRIu64 " stays", s->replaces);
}

static void redirect_state_free(void *state)
{
	struct redirect_sa *s = state;

	if (s->t)
		crypto_wipe(s->t, sizeof(*s->t));
	free(s->t);
	s->t = NULL;
}

static void redirect_inherit(struct ext_ctx *c, const void *old)
{
	const struct redirect_sa *o = old;
	struct redirect_sa *s = c->state;

	redirect_state_free(s);
	*s = *o;
	s->replaces = 0;
	s->t = NULL;
	if (o->t && (s->t = malloc(sizeof(*s->t))))
		*s->t = *o->t;
	else if (o->t)
		sa_log(c->sa, LOG_WARNING, "redirect-state-lost", "out of memory on rekey");
}

/* ---- the operator (ike/ike.h) ---- */

struct sel_ctx {
	const struct ike_redirect_sel *sel;
	const char *target;
	int n;
};

static bool selected(struct ike_sa *sa, const struct ike_redirect_sel *sel)
{
	char id[512];

	if (sel->all)
		return true;
	if (sel->serial && ike_sa_serial(sa) != sel->serial)
		return false;
	if (sel->conn && strcmp(ike_sa_name(sa), sel->conn))
		return false;
	if (sel->peer && !addr_in_prefix(ike_sa_remote(sa), sel->peer, sel->peer_plen))
		return false;
	if (sel->id && (!ike_sa_peer_id(sa, id, sizeof(id)) || fnmatch(sel->id, id, FNM_CASEFOLD)))
		return false;
	return sel->serial || sel->conn || sel->peer || sel->id;
}

static bool movable(struct ike_sa *sa)
{
	struct redirect_sa *s = rsa_of(sa);

	return s && ike_sa_state(sa) == IKE_S_ESTABLISHED && s->peer_supported &&
	       !texts_of(s)->to[0] && !texts_of(s)->pending[0];
}

static void send_to(struct ike *ike, struct ike_sa *sa, const char *target)
{
	struct redirect_sa *s = rsa_of(sa); /* movable(): it has one */

	if (!s || !texts(s))
		return;
	snprintf(s->t->pending, CFG_GW_MAX, "%s", target);
	ike_ext_request(ike, sa, &redirect_ext);
}

static void sel_fn(struct ike *ike, struct ike_sa *sa, void *arg)
{
	struct sel_ctx *x = arg;

	if (!movable(sa) || !selected(sa, x->sel))
		return;
	send_to(ike, sa, x->target);
	x->n++;
}

int ike_redirect(struct ike *ike, const struct ike_redirect_sel *sel, const char *target)
{
	struct sel_ctx x = {sel, target, 0};

	if (!rd_of(ike) || !conf_gw_kind(target))
		return -1;
	ike_sa_foreach(ike, sel_fn, &x);
	if (x.n)
		log_msg(LOG_NOTICE, "ike", "redirecting %d SA(s) to %s (operator)", x.n, target);
	return x.n;
}

int ike_redirect_drain(struct ike *ike, const char *target, unsigned rate)
{
	struct redirect *r = rd_of(ike);

	if (!r || (target && !conf_gw_kind(target)))
		return -1;
	redirect_drain_set(drain_of(r), target);
	r->drain_rate = rate ? rate : 50;
	r->drain_budget = 0;
	r->drain_ms = ike_now(ike);
	r->drain_cursor = 1;
	log_msg(LOG_NOTICE, "ike", target ? "draining to %s at %u SA(s)/s" : "drain stopped%s",
	        target ? target : "", r->drain_rate);
	return 0;
}

struct count_ctx {
	size_t left;
	struct ike_sa *pick[256];
	size_t n, want;
};

static void count_fn(struct ike *ike, struct ike_sa *sa, void *arg)
{
	struct count_ctx *x = arg;

	(void)ike;
	if (ike_sa_initiator(sa) || ike_sa_state(sa) != IKE_S_ESTABLISHED ||
	    texts_of(rsa_of(sa))->to[0])
		return;
	x->left++;
	if (x->n < x->want && movable(sa))
		x->pick[x->n++] = sa;
}

void ike_redirect_status(struct ike *ike, FILE *out, struct json_object *j)
{
	struct redirect *r = rd_of(ike);
	const char *to = r ? redirect_drain_target(drain_of(r)) : NULL;
	struct count_ctx x = {0};

	if (!r)
		return;
	ike_sa_foreach(ike, count_fn, &x);
	if (!j) {
		fprintf(out,
		        "drain: %s%s%s; %zu established client SA(s) not redirected\n"
		        "sent: %" PRIu64 " in IKE_SA_INIT, %" PRIu64 " in IKE_AUTH, %" PRIu64
		        " in INFORMATIONAL; followed %" PRIu64 ", refused %" PRIu64
		        ", ignored %" PRIu64 "\n",
		        to ? "to " : "off", to ? to : "", to ? "" : "", x.left, r->sent_init,
		        r->sent_auth, r->sent_active, r->followed, r->refused, r->ignored);
		return;
	}
	json_object_object_add(j, "draining", json_object_new_boolean(to != NULL));
	if (to)
		json_object_object_add(j, "to", json_object_new_string(to));
	json_object_object_add(j, "rate", json_object_new_uint64(r->drain_rate));
	json_object_object_add(j, "left", json_object_new_uint64(x.left));
	json_object_object_add(j, "drain_visits", json_object_new_uint64(r->drain_visits));
	json_object_object_add(j, "sent_init", json_object_new_uint64(r->sent_init));
	json_object_object_add(j, "sent_auth", json_object_new_uint64(r->sent_auth));
	json_object_object_add(j, "sent_active", json_object_new_uint64(r->sent_active));
	json_object_object_add(j, "followed", json_object_new_uint64(r->followed));
	json_object_object_add(j, "refused", json_object_new_uint64(r->refused));
	json_object_object_add(j, "ignored", json_object_new_uint64(r->ignored));
}

/* ---- timers: grace deadlines and the drain's pace ---- */

/*
 * The drain walks the SAs once, in serial order, from a cursor: each tick
 * costs what it moves plus the serials it skips, never a scan of the whole
 * table. An SA that appears later has a higher serial (an IKE rekey's new
 * SA too), so the cursor reaches it; new clients are redirected in
 * IKE_SA_INIT or IKE_AUTH by the drain provider instead.
 */
static void drain_tick(struct ike *ike, struct redirect *r, uint64_t now)
{
	const char *to = redirect_drain_target(drain_of(r));
	struct count_ctx x = {0};
	uint64_t last = ike_last_serial(ike);

	if (!to)
		return;
	r->drain_budget += (double)(now - r->drain_ms) * r->drain_rate / 1000.0;
	r->drain_ms = now;
	if (r->drain_budget > r->drain_rate)
		r->drain_budget = r->drain_rate; /* at most a second's worth at once */
	x.want = r->drain_budget < 256 ? (size_t)r->drain_budget : 256;
	if (!x.want)
		return;
	for (; r->drain_cursor <= last && x.n < x.want; r->drain_cursor++) {
		struct ike_sa *sa = ike_sa_by_serial(ike, r->drain_cursor);

		r->drain_visits++;
		if (sa)
			count_fn(ike, sa, &x);
	}
	for (size_t i = 0; i < x.n; i++)
		send_to(ike, x.pick[i], to);
	r->drain_budget -= (double)x.n;
}

static void redirect_timers(struct ike *ike, uint64_t now)
{
	struct redirect *r = rd_of(ike);

	if (!r)
		return;
	while (r->n_dl && r->dl[0].at <= now) {
		struct ike_sa *sa = ike_sa_by_serial(ike, r->dl[0].serial);

		dl_pop(r);
		if (sa && ike_sa_state(sa) == IKE_S_ESTABLISHED)
			ike_delete(ike, sa, "redirected; its grace time is over");
	}
	drain_tick(ike, r, now);
}

static int64_t redirect_next_timeout(struct ike *ike, uint64_t now)
{
	struct redirect *r = rd_of(ike);
	int64_t t = -1;

	if (!r)
		return -1;
	if (r->n_dl)
		t = r->dl[0].at > now ? (int64_t)(r->dl[0].at - now) : 0;
	if (redirect_drain_target(drain_of(r)) && (t < 0 || t > DRAIN_TICK_MS))
		t = DRAIN_TICK_MS;
	return t;
}

/* ---- status, setup ---- */

static void redirect_counters(struct ike *ike, void *global,
                              void (*fn)(void *arg, const char *name, uint64_t v), void *arg)
{
	struct redirect *r = global;

	(void)ike;
	if (!r)
		return;
	fn(arg, "redirects_sent_init", r->sent_init);
	fn(arg, "redirects_sent_auth", r->sent_auth);
	fn(arg, "redirects_sent_active", r->sent_active);
	fn(arg, "redirects_followed", r->followed);
	fn(arg, "redirects_refused", r->refused);
	fn(arg, "redirects_ignored", r->ignored);
}

static void redirect_status(struct ext_ctx *c, struct json_object *j, char *text, size_t len)
{
	static const struct redirect_sa none;
	const struct redirect_sa *s = c->state ? c->state : &none;
	const struct redirect_texts *t = texts_of(s);
	struct json_object *r;
	size_t used;

	if (!j) {
		used = strlen(text);
		snprintf(text + used, len - used, " redirect %s%s%s%s%s",
		         s->announced || s->peer_supported ? "supported" : "unsupported",
		         t->from_text[0] ? " from " : "", t->from_text, t->to[0] ? " to " : "",
		         t->to);
		return;
	}
	r = json_object_new_object();
	json_object_object_add(r, "peer_supported",
	                       json_object_new_boolean(s->announced || s->peer_supported));
	/* NULL values are JSON null. */
	json_object_object_add(r, "redirected_from",
	                       t->from_text[0] ? json_object_new_string(t->from_text) : NULL);
	json_object_object_add(r, "redirected_to", t->to[0] ? json_object_new_string(t->to) : NULL);
	json_object_object_add(j, "redirect", r);
}

static int redirect_init(struct ike *ike, void **global)
{
	struct redirect *r = calloc(1, sizeof(*r));

	(void)ike;
	if (!r)
		return -1;
	for (size_t i = 0; i < N_PROVIDERS; i++)
		if (providers[i]->new && !(r->pstate[i] = providers[i]->new ())) {
			for (size_t k = 0; k < i; k++)
				if (providers[k]->free)
					providers[k]->free(r->pstate[k]);
			free(r);
			return -1;
		}
	*global = r;
	return 0;
}

static void redirect_free(struct ike *ike, void *global)
{
	struct redirect *r = global;

	(void)ike;
	if (!r)
		return;
	for (size_t i = 0; i < N_PROVIDERS; i++)
		if (providers[i]->free)
			providers[i]->free(r->pstate[i]);
	free(r->loops);
	free(r);
}

const struct ike_ext redirect_ext = {
    .name = "redirect",
    .state_size = sizeof(struct redirect_sa),
    .init = redirect_init,
    .free = redirect_free,
    .hook = redirect_hook,
    .inherit = redirect_inherit,
    .state_free = redirect_state_free,
    .child_event = redirect_child_event,
    .sa_down = redirect_sa_down,
    .resolved = redirect_resolved,
    .timers = redirect_timers,
    .next_timeout = redirect_next_timeout,
    .status = redirect_status,
    .counters = redirect_counters,
};
