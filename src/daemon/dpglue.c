/*
 * Engine <-> data plane glue (see dpglue.h). It owns the list of Child SAs
 * it installed (reqid, SPIs, the policies each wants and which of them it
 * owns in the data plane), so that policies survive make-before-break:
 * a new pair with the same reqid takes the old pair's policies over when
 * the old one goes (rekeying, RFC 7296 2.8), and a new pair with another
 * reqid but the same selectors takes them over at once (a client
 * redirected to another gateway brings up its new SAs before deleting
 * the old, RFC 5685 6); whoever goes, the policy passes to the newest
 * remaining pair that wants it, and only the last one removes it. Counters
 * are read per reqid.
 *
 * Scale (issue 13): the pairs are hashed by (reqid, inbound SPI) and by
 * reqid, and the policies they want by selectors (dp_hash.h), so
 * installing, handing over and removing a pair costs O(1) in the number
 * of pairs; only dpglue_refresh_counters and dpglue_free walk them all. Outer addresses are the IKE
 * SA's: after a NAT-T float both ends use the NAT-T port and ESP is UDP-encapsulated (RFC
 * 7296 2.23, RFC 3948). Inner selectors come from the negotiated TSi/TSr (RFC 7296 2.9, RFC
 * 4301 4.4.1).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/dpglue.h"
#include "daemon/addrmon.h"
#include "util/log.h"
#include "dataplane/dp.h"
#include "dataplane/dp_hash.h"
#include "ike/ike.h"
#include "wire/ikev2.h"

/* riked.conf's limit on selectors must fit the data plane's. */
_Static_assert(DP_MAX_TS >= CFG_MAX_TS, "the data plane takes fewer selectors than the config");

#define DPG_PRIORITY_BASE 1000 /* policies: lower wins; minus prefix lengths */

struct dpg_child;

/* A policy a pair wants; `owned`: the data plane's entry is this pair's
 * (it names this pair's reqid, and this pair removes or hands it on).
 * The rest of its dp_policy (reqid, route source) is rebuilt by pol_dp. */
struct dpg_pol {
	struct dp_hnode h;       /* g->by_sel, key sel_key() */
	struct dpg_child *child; /* borrowed: the pair that wants it */
	struct dp_ts ts_local, ts_remote;
	uint32_t priority;
	bool owned;
	bool route_src; /* the local selector's single address is ours */
};

/* One installed Child SA (a pair of SAs). */
struct dpg_child {
	struct dp_hnode h_id;           /* g->by_id, key (reqid, spi_in) */
	struct dp_hnode h_reqid;        /* g->by_reqid, key reqid */
	struct dpg_child *next, **prev; /* g->children, newest first */
	uint64_t seq;                   /* installation order: newer is larger */
	uint32_t reqid, spi_in, spi_out;
	uint32_t npols; /* at most CFG_MAX_TS squared */
	uint64_t ike_serial;
	struct dpg_pol pols[]; /* one per selector pair, allocated with the pair */
};

struct dpglue {
	struct dp *dp;
	struct ike *ike; /* borrowed */
	void (*after)(void *ctx);
	void *after_ctx;
	enum cfg_dataplane which;
	uint16_t natt_port;
	struct dpg_child *children; /* newest first */
	size_t nchildren;
	uint64_t seq;
	struct dp_htab by_id, by_reqid, by_sel;
	const struct addrmon *am; /* borrowed; NULL: getifaddrs per question */
};

/* The Child SA whose install or removal is under way: the data plane
 * logs about it before dpglue lists it, or after it is gone (ev_log). */
static const struct ike_child_info *dpg_logging;

/* A failure about one Child SA, with errno's text. */
static void glue_fail(int level, const struct ike_child_info *c, const char *event)
{
	log_sa(level, "dp", c->conn, c->ike_serial, c->ike_spi_i, c->ike_spi_r, event,
	       "reqid %u: %s", c->reqid, strerror(errno));
}

void dpglue_set_addrmon(struct dpglue *g, const struct addrmon *am)
{
	g->am = am;
}

const char *dpglue_backend_name(enum cfg_dataplane which)
{
	return which == CFG_DP_XFRM ? "xfrm" : "userspace";
}

/* ---- selectors ---- */

static void ts_to_dp(const struct cfg_ts *in, struct dp_ts *out)
{
	memset(out, 0, sizeof(*out));
	out->family = in->type == IKEV2_TS_IPV6_ADDR_RANGE ? AF_INET6 : AF_INET;
	out->proto = in->ip_proto;
	out->port_lo = in->start_port;
	out->port_hi = in->end_port;
	memcpy(out->addr_lo, in->start, sizeof(out->addr_lo));
	memcpy(out->addr_hi, in->end, sizeof(out->addr_hi));
}

/* Leading bits that start and end share: the prefix length of a range. */
static unsigned ts_plen(const struct dp_ts *ts)
{
	size_t n = ts->family == AF_INET6 ? 16 : 4;
	unsigned bits = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t x = ts->addr_lo[i] ^ ts->addr_hi[i];

		if (!x) {
			bits += 8;
			continue;
		}
		while (!(x & 0x80)) {
			bits++;
			x <<= 1;
		}
		break;
	}
	return bits;
}

static void route_src_of(const struct dp_ts *local, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = local->family;
	if (local->family == AF_INET)
		memcpy(&((struct sockaddr_in *)ss)->sin_addr, local->addr_lo, 4);
	else
		memcpy(&((struct sockaddr_in6 *)ss)->sin6_addr, local->addr_lo, 16);
}

/*
 * True if the single address of `ts` is assigned to a local interface. The
 * address monitor's table answers without a request; getifaddrs (a netlink
 * dump of every link and address, 7% of a gateway's CPU when every Child
 * SA asked it) only without one.
 */
static bool ts_is_local_host(const struct dpglue *g, const struct dp_ts *ts)
{
	size_t n = ts->family == AF_INET6 ? 16 : 4;
	struct ifaddrs *ifa, *i;
	bool found = false;

	if (memcmp(ts->addr_lo, ts->addr_hi, n))
		return false;
	if (g->am) {
		struct sockaddr_storage ss;
		struct ike_addr a;
		int r;

		route_src_of(ts, &ss);
		addr_from_ss(&a, &ss, 0);
		if ((r = addrmon_is_local(g->am, &a)) >= 0)
			return r;
	}
	if (getifaddrs(&ifa) < 0)
		return false;
	for (i = ifa; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != ts->family)
			continue;
		if (ts->family == AF_INET)
			found =
			    !memcmp(&((struct sockaddr_in *)i->ifa_addr)->sin_addr, ts->addr_lo, 4);
		else
			found = !memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr,
			                ts->addr_lo, 16);
	}
	freeifaddrs(ifa);
	return found;
}

/* ---- the SAs ---- */

/* Fields that the inbound and outbound SA share. */
static int sa_common(struct dpglue *g, const struct ike_child_info *c, struct dp_sa *d)
{
	memset(d, 0, sizeof(*d));
	if (c->ts_local.n > DP_MAX_TS || c->ts_remote.n > DP_MAX_TS ||
	    c->key_e_len > sizeof(d->encr_key) || c->key_a_len > sizeof(d->integ_key)) {
		errno = E2BIG;
		return -1;
	}
	d->reqid = c->reqid;
	d->mode = c->transport ? DP_MODE_TRANSPORT : DP_MODE_TUNNEL;
	d->encap = c->encap || c->natt || dpglue_requires_encap(g);
	d->encr = c->encr;
	d->encr_keybits = c->encr_keybits;
	d->encr_key_len = c->key_e_len;
	d->integ = c->integ;
	d->integ_key_len = c->key_a_len;
	d->esn = c->esn;
	if (c->life_bytes) {
		/* RFC 4301 4.4.2.1: soft limit first, so a rekey can replace the SA. */
		d->life.hard_bytes = c->life_bytes;
		d->life.soft_bytes = c->life_bytes - c->life_bytes / 10;
	}
	for (size_t i = 0; i < c->ts_local.n; i++)
		ts_to_dp(&c->ts_local.ts[i], &d->ts_local[i]);
	for (size_t i = 0; i < c->ts_remote.n; i++)
		ts_to_dp(&c->ts_remote.ts[i], &d->ts_remote[i]);
	d->n_ts_local = c->ts_local.n;
	d->n_ts_remote = c->ts_remote.n;
	return 0;
}

static int add_sas(struct dpglue *g, const struct ike_child_info *c)
{
	struct dp_sa d;
	int rc = -1;

	if (sa_common(g, c, &d) < 0)
		return -1;
	d.dir = DP_DIR_IN;
	d.spi = c->spi_in;
	addr_to_ss(&c->remote, &d.src);
	addr_to_ss(&c->local, &d.dst);
	memcpy(d.encr_key, c->key_in_e, c->key_e_len);
	memcpy(d.integ_key, c->key_in_a, c->key_a_len);
	if (dp_sa_add(g->dp, &d) < 0)
		goto out;
	d.dir = DP_DIR_OUT;
	d.spi = c->spi_out;
	addr_to_ss(&c->local, &d.src);
	addr_to_ss(&c->remote, &d.dst);
	memcpy(d.encr_key, c->key_out_e, c->key_e_len);
	memcpy(d.integ_key, c->key_out_a, c->key_a_len);
	if (dp_sa_add(g->dp, &d) < 0) {
		int saved = errno;

		(void)!dp_sa_del(g->dp, c->reqid, DP_DIR_IN, c->spi_in);
		errno = saved;
		goto out;
	}
	rc = 0;
out:
	explicit_bzero(&d, sizeof(d));
	return rc;
}

/* ---- the policies ---- */

/* Counted in dp_hash_steps (test_glue_scale): a walk of all pairs shows. */
static bool same_ts(const struct dp_ts *a, const struct dp_ts *b)
{
	size_t n = a->family == AF_INET6 ? 16 : 4;

	dp_hash_steps++;
	return a->family == b->family && a->proto == b->proto && a->port_lo == b->port_lo &&
	       a->port_hi == b->port_hi && !memcmp(a->addr_lo, b->addr_lo, n) &&
	       !memcmp(a->addr_hi, b->addr_hi, n);
}

static uint64_t sel_key(const struct dp_ts *local, const struct dp_ts *remote)
{
	return dp_ts_pair_key(local, remote);
}

static bool pol_same(const struct dpg_pol *a, const struct dp_ts *local, const struct dp_ts *remote)
{
	return same_ts(&a->ts_local, local) && same_ts(&a->ts_remote, remote);
}

/* The dp_policy of a pair's entry. */
static void pol_dp(const struct dpg_pol *e, struct dp_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->reqid = e->child->reqid;
	p->priority = e->priority;
	p->ts_local = e->ts_local;
	p->ts_remote = e->ts_remote;
	if (e->route_src)
		route_src_of(&e->ts_local, &p->route_src);
}

/* The entry of a pair other than `skip` for these selectors that is
 * owned; NULL if none. */
static struct dpg_pol *owner_of(struct dpglue *g, const struct dpg_pol *mine,
                                const struct dpg_child *skip)
{
	uint64_t key = mine->h.key;

	for (struct dp_hnode *n = dp_htab_first(&g->by_sel, key); n; n = dp_htab_next(n, key)) {
		struct dpg_pol *o = dp_hentry(n, struct dpg_pol, h);
		if (o->child != skip && o->owned && pol_same(o, &mine->ts_local, &mine->ts_remote))
			return o;
	}
	return NULL;
}

/* The entry of the newest pair other than `skip` that wants these
 * selectors, one with `reqid` first (it needs no change in the data
 * plane); NULL if nobody does. */
static struct dpg_pol *heir_of(struct dpglue *g, const struct dpg_pol *mine,
                               const struct dpg_child *skip, uint32_t reqid)
{
	struct dpg_pol *same = NULL, *other = NULL;
	uint64_t key = mine->h.key;

	for (struct dp_hnode *n = dp_htab_first(&g->by_sel, key); n; n = dp_htab_next(n, key)) {
		struct dpg_pol *o = dp_hentry(n, struct dpg_pol, h);
		if (o->child == skip || !pol_same(o, &mine->ts_local, &mine->ts_remote))
			continue;
		if (o->child->reqid == reqid && (!same || o->child->seq > same->child->seq))
			same = o;
		if (!other || o->child->seq > other->child->seq)
			other = o;
	}
	return same ? same : other;
}

/* The pair's entries leave the selector index. */
static void unindex_policies(struct dpglue *g, struct dpg_child *e)
{
	for (size_t i = 0; i < e->npols; i++)
		dp_htab_del(&g->by_sel, &e->pols[i].h);
}

/* e goes: each policy it owns passes to the newest pair that still wants
 * it, or is removed when none does. Traffic keeps its policy throughout. */
static void release_policies(struct dpglue *g, struct dpg_child *e)
{
	struct dp_policy p;

	unindex_policies(g, e);
	for (size_t i = 0; i < e->npols; i++) {
		struct dpg_pol *mine = &e->pols[i], *heir;

		if (!mine->owned)
			continue;
		heir = heir_of(g, mine, e, e->reqid);
		if (heir && heir->child->reqid == e->reqid) {
			heir->owned = true; /* rekeyed: same reqid, nothing to change */
			continue;
		}
		if (heir) {
			pol_dp(heir, &p);
			if (dp_policy_update(g->dp, &p) == 0) {
				heir->owned = true;
				log_msg(LOG_INFO, "dp",
				        "policy of reqid %u handed back to reqid %u", e->reqid,
				        heir->child->reqid);
				continue;
			}
			log_msg(LOG_WARNING, "dp", "handing a policy of reqid %u to reqid %u: %s",
			        e->reqid, heir->child->reqid, strerror(errno));
		}
		pol_dp(mine, &p);
		if (dp_policy_del(g->dp, &p) < 0)
			log_msg(LOG_WARNING, "dp", "removing a policy of reqid %u: %s", e->reqid,
			        strerror(errno));
	}
	e->npols = 0;
}

/*
 * Installs one policy of e. A pair with the same selectors may own it
 * already: with e's reqid it is the pair e rekeys and keeps the policy
 * until it goes (RFC 7296 2.8); with another reqid e takes it over now
 * (make-before-break to another gateway, RFC 5685 6), and the old pair
 * keeps its SAs but no longer owns the policy.
 */
static int add_policy(struct dpglue *g, struct dpg_child *e, const struct dp_policy *p)
{
	struct dpg_pol *theirs, *mine = &e->pols[e->npols];

	mine->child = e;
	mine->ts_local = p->ts_local;
	mine->ts_remote = p->ts_remote;
	mine->priority = p->priority;
	mine->route_src = p->route_src.ss_family != 0;
	mine->owned = false;
	mine->h.key = sel_key(&p->ts_local, &p->ts_remote);
	theirs = owner_of(g, mine, e);
	if (theirs && theirs->child->reqid == p->reqid)
		goto wanted;
	if (theirs) {
		if (dp_policy_update(g->dp, p) < 0)
			return -1;
		theirs->owned = false;
		mine->owned = true;
		log_msg(LOG_INFO, "dp", "policy of reqid %u taken over by reqid %u",
		        theirs->child->reqid, p->reqid);
		goto wanted;
	}
	if (dp_policy_add(g->dp, p) == 0)
		mine->owned = true;
	else if (errno != EEXIST)
		return -1;
	/* EEXIST: installed by something other than a pair of ours; leave it. */
wanted:
	dp_htab_add(&g->by_sel, &mine->h, mine->h.key);
	e->npols++;
	return 0;
}

/* RFC 4301 4.4.1: one SPD entry per (local, remote) selector pair. */
static int add_policies(struct dpglue *g, const struct ike_child_info *c, struct dpg_child *e)
{
	struct dp_policy p;

	for (size_t i = 0; i < c->ts_local.n; i++) {
		for (size_t j = 0; j < c->ts_remote.n; j++) {
			memset(&p, 0, sizeof(p));
			p.reqid = c->reqid;
			ts_to_dp(&c->ts_local.ts[i], &p.ts_local);
			ts_to_dp(&c->ts_remote.ts[j], &p.ts_remote);
			if (p.ts_local.family != p.ts_remote.family)
				continue;
			p.priority =
			    DPG_PRIORITY_BASE - ts_plen(&p.ts_local) - ts_plen(&p.ts_remote);
			if (ts_is_local_host(g, &p.ts_local))
				route_src_of(&p.ts_local, &p.route_src);
			if (add_policy(g, e, &p) < 0) {
				int saved = errno;

				release_policies(g, e);
				errno = saved;
				return -1;
			}
		}
	}
	return 0;
}

/* ---- the engine's hooks ---- */

static uint64_t child_key(uint32_t reqid, uint32_t spi_in)
{
	return (uint64_t)reqid << 32 | spi_in;
}

int dpglue_child_up(struct dpglue *g, const struct ike_child_info *c)
{
	/* A policy per selector pair, no spare (most Child SAs have one pair). */
	struct dpg_child *e =
	    calloc(1, sizeof(*e) + c->ts_local.n * c->ts_remote.n * sizeof(e->pols[0]));

	dpg_logging = c;
	if (!e)
		goto fail;
	e->reqid = c->reqid;
	e->spi_in = c->spi_in;
	e->spi_out = c->spi_out;
	e->ike_serial = c->ike_serial;
	if (add_sas(g, c) < 0)
		goto fail;
	if (add_policies(g, c, e) < 0) {
		int saved = errno;

		(void)!dp_sa_del(g->dp, c->reqid, DP_DIR_IN, c->spi_in);
		(void)!dp_sa_del(g->dp, c->reqid, DP_DIR_OUT, c->spi_out);
		errno = saved;
		goto fail;
	}
	e->seq = ++g->seq;
	e->next = g->children;
	if (e->next)
		e->next->prev = &e->next;
	e->prev = &g->children;
	g->children = e;
	g->nchildren++;
	dp_htab_add(&g->by_id, &e->h_id, child_key(e->reqid, e->spi_in));
	dp_htab_add(&g->by_reqid, &e->h_reqid, e->reqid);
	log_sa(LOG_INFO, "dp", c->conn, c->ike_serial, c->ike_spi_i, c->ike_spi_r,
	       "child-installed", "reqid %u spi_in %08x spi_out %08x %s%s, %u policies", c->reqid,
	       c->spi_in, c->spi_out, c->transport ? "transport" : "tunnel",
	       c->encap || c->natt || dpglue_requires_encap(g) ? " in UDP" : "", e->npols);
	dpg_logging = NULL;
	return 0;
fail:
	glue_fail(LOG_ERR, c, "child-install-failed");
	free(e);
	dpg_logging = NULL;
	return -1;
}

static struct dpg_child *find_child(struct dpglue *g, uint32_t reqid, uint32_t spi_in)
{
	uint64_t key = child_key(reqid, spi_in);

	for (struct dp_hnode *n = dp_htab_first(&g->by_id, key); n; n = dp_htab_next(n, key)) {
		struct dpg_child *e = dp_hentry(n, struct dpg_child, h_id);
		if (e->reqid == reqid && e->spi_in == spi_in)
			return e;
	}
	return NULL;
}

void dpglue_child_down(struct dpglue *g, const struct ike_child_info *c)
{
	struct dpg_child *e = find_child(g, c->reqid, c->spi_in);
	bool bad;

	if (!e)
		return; /* never installed (or install failed) */
	*e->prev = e->next;
	if (e->next)
		e->next->prev = e->prev;
	dp_htab_del(&g->by_id, &e->h_id);
	dp_htab_del(&g->by_reqid, &e->h_reqid);
	g->nchildren--;
	release_policies(g, e);
	dpg_logging = c;
	bad = dp_sa_del(g->dp, e->reqid, DP_DIR_IN, e->spi_in) < 0;
	bad |= dp_sa_del(g->dp, e->reqid, DP_DIR_OUT, e->spi_out) < 0;
	dpg_logging = NULL;
	if (bad)
		glue_fail(LOG_WARNING, c, "child-remove-failed");
	else
		log_sa(LOG_INFO, "dp", c->conn, c->ike_serial, c->ike_spi_i, c->ike_spi_r,
		       "child-removed", "reqid %u spi_in %08x spi_out %08x", e->reqid, e->spi_in,
		       e->spi_out);
	free(e);
}

/* RFC 4555 3.5, RFC 7296 2.23: the IKE SA moved; its Child SAs follow. */
void dpglue_child_moved(struct dpglue *g, const struct ike_child_info *c)
{
	char l[64], r[64];
	struct sockaddr_storage ls, rs;

	if (!find_child(g, c->reqid, c->spi_in))
		return;
	addr_to_ss(&c->local, &ls);
	addr_to_ss(&c->remote, &rs);
	if (dp_sa_migrate(g->dp, c->reqid, &ls, &rs) < 0) {
		glue_fail(LOG_WARNING, c, "child-migrate-failed");
		return;
	}
	addr_format(&c->local, l, sizeof(l));
	addr_format(&c->remote, r, sizeof(r));
	log_sa(LOG_INFO, "dp", c->conn, c->ike_serial, c->ike_spi_i, c->ike_spi_r, "child-migrated",
	       "reqid %u now %s - %s", c->reqid, l, r);
}

/* ---- counters ---- */

/* Another pair with e's reqid is newer (a rekey in progress): a look at
 * the few pairs of this reqid, not at all of them. */
static bool newer_with_reqid(const struct dpglue *g, const struct dpg_child *e)
{
	for (const struct dp_hnode *n = dp_htab_first(&g->by_reqid, e->reqid); n;
	     n = dp_htab_next(n, e->reqid)) {
		const struct dpg_child *o = dp_hentry(n, struct dpg_child, h_reqid);
		if (o->reqid == e->reqid && o->seq > e->seq)
			return true;
	}
	return false;
}

void dpglue_refresh_counters(struct dpglue *g)
{
	struct dp_sa_counters in, out;

	if (!g->ike)
		return;
	for (struct dpg_child *e = g->children; e; e = e->next) {
		/* The engine names pairs by reqid; the newest pair speaks for it. */
		if (newer_with_reqid(g, e))
			continue;
		if (dp_sa_counters(g->dp, e->reqid, DP_DIR_IN, e->spi_in, &in) < 0 ||
		    dp_sa_counters(g->dp, e->reqid, DP_DIR_OUT, e->spi_out, &out) < 0)
			continue;
		ike_child_counters(g->ike, e->reqid, in.bytes, in.packets, out.bytes, out.packets);
	}
}

size_t dpglue_nchildren(const struct dpglue *g)
{
	return g->nchildren;
}

void dpglue_stats(const struct dpglue *g, struct dp_stats *out)
{
	dp_stats(g->dp, out);
}

/* The engine was called from an event: let the host re-arm its timer. */
static void engine_called(struct dpglue *g)
{
	if (g->after)
		g->after(g->after_ctx);
}

/* ---- data plane events ---- */

/* RFC 7296 2.21.4: ESP for an SPI we do not know; the engine may answer INVALID_SPI. */
static void ev_unknown_spi(void *ctx, uint32_t spi, const struct sockaddr_storage *from)
{
	struct dpglue *g = ctx;
	struct ike_addr local, remote;

	if (!g->ike)
		return;
	/* The data plane does not say which local address the packet reached:
	 * the wildcard lets the kernel pick the source of any answer. */
	memset(&local, 0, sizeof(local));
	local.ss.sa.sa_family = from->ss_family;
	addr_set_port(&local, g->natt_port);
	addr_set_ss(&remote, from);
	ike_esp_unknown_spi(g->ike, spi, &local, &remote);
	engine_called(g);
}

static void ev_expire(void *ctx, uint32_t reqid, enum dp_dir dir, uint32_t spi, bool hard,
                      enum dp_expire_reason why)
{
	static const char *const reasons[] = {"bytes", "packets", "time", "sequence numbers"};
	struct dpglue *g = ctx;

	/* A refused route is no lifetime: the engine deletes the Child SA
	 * without replacing it, and says so in its own line. */
	if (why != DP_EXPIRE_ROUTE)
		log_msg(LOG_INFO, "dp", "reqid %u %s SA %08x: %s lifetime (%s) reached", reqid,
		        dir == DP_DIR_IN ? "inbound" : "outbound", spi, hard ? "hard" : "soft",
		        (size_t)why < ARRAY_LEN(reasons) ? reasons[why] : "?");
	if (!g->ike)
		return;
	if (why == DP_EXPIRE_ROUTE)
		ike_child_failed(g->ike, reqid, "the data plane's route was refused");
	else
		ike_child_expired(g->ike, reqid, hard);
	engine_called(g);
}

static void ev_acquire(void *ctx, const struct dp_acquire *a)
{
	(void)ctx;
	log_msg(LOG_DEBUG, "dp", "acquire for reqid %u ignored (no trap support yet)", a->reqid);
}

/* The IKE SA serial of the Child SA `reqid`, 0 if unknown. */
static uint64_t serial_of(const struct dpglue *g, uint32_t reqid)
{
	if (dpg_logging && dpg_logging->reqid == reqid)
		return dpg_logging->ike_serial;
	for (const struct dpg_child *e = g->children; e; e = e->next)
		if (e->reqid == reqid)
			return e->ike_serial;
	return 0;
}

/*
 * The data plane's lines in the SA line format (util/log.h): a message
 * naming "reqid=N" of a Child SA we installed, such as
 *   dp: SA added reqid=3 dir=in spi=0x0a0b0c0d
 * is logged as
 *   dp "site-b" #4 SPI_I:SPI_R sa-added reqid=3 dir=in spi=0x0a0b0c0d
 * with the connection and IKE SA of that Child SA; other messages keep
 * the plain "dp <message>" line.
 */
static void ev_log(void *ctx, enum dp_log_level level, const char *msg)
{
	static const int levels[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	const struct dpglue *g = ctx;
	int lvl = (size_t)level < ARRAY_LEN(levels) ? levels[level] : LOG_DEBUG;
	const char *r, *conn;
	uint64_t serial = 0, spi_i, spi_r;
	char event[48];
	size_t n = 0;

	if (!log_enabled(lvl))
		return;
	if (!strncmp(msg, "dp: ", 4)) /* the subsystem is already "dp" */
		msg += 4;
	r = strstr(msg, "reqid=");
	if (r && g && g->ike)
		serial = serial_of(g, (uint32_t)strtoul(r + 6, NULL, 10));
	if (!serial || ike_sa_log_id(g->ike, serial, &conn, &spi_i, &spi_r) < 0) {
		log_msg(lvl, "dp", "%s", msg);
		return;
	}
	/* The words before "reqid=" are the event: "SA added" -> "sa-added". */
	for (const char *p = msg; p < r && n + 1 < sizeof(event); p++)
		event[n++] = *p == ' ' || *p == ':' ? '-' : (char)tolower((unsigned char)*p);
	while (n && event[n - 1] == '-')
		n--;
	event[n] = '\0';
	log_sa(lvl, "dp", conn, serial, spi_i, spi_r, n ? event : "dataplane", "%s", r);
}

/* ---- life cycle ---- */

struct dpglue *dpglue_new(struct event_base *base, enum cfg_dataplane which, uint16_t ike_port,
                          uint16_t natt_port, char *why, size_t whylen)
{
	return dpglue_new_workers(base, which, ike_port, natt_port, 0, why, whylen);
}

/* riked.conf's dataplane_workers: AUTO follows the cores. */
static unsigned dp_workers(uint32_t workers)
{
	long n;

	if (workers != CFG_DP_WORKERS_AUTO)
		return workers;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > CFG_DP_WORKERS_MAX ? CFG_DP_WORKERS_MAX : (unsigned)n;
}

struct dpglue *dpglue_new_workers(struct event_base *base, enum cfg_dataplane which,
                                  uint16_t ike_port, uint16_t natt_port, uint32_t workers,
                                  char *why, size_t whylen)
{
	static const struct dp_events ev = {
	    .acquire = ev_acquire,
	    .unknown_spi = ev_unknown_spi,
	    .expire = ev_expire,
	    .log = ev_log,
	};
	enum dp_backend b = which == CFG_DP_XFRM ? DP_BACKEND_XFRM : DP_BACKEND_USERSPACE;
	struct dpglue *g;

	if (dp_probe(b, why, whylen) < 0)
		return NULL;
	g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	g->which = which;
	g->natt_port = natt_port;
	if (dp_htab_init(&g->by_id) < 0 || dp_htab_init(&g->by_reqid) < 0 ||
	    dp_htab_init(&g->by_sel) < 0) {
		snprintf(why, whylen, "out of memory");
		dpglue_free(g);
		return NULL;
	}
	g->dp = dp_new_opts(b, base, &ev, g,
	                    &(struct dp_options){.ike_port = ike_port,
	                                         .natt_port = natt_port,
	                                         .workers = dp_workers(workers)});
	if (!g->dp) {
		snprintf(why, whylen, "cannot create the %s data plane: %s",
		         dpglue_backend_name(which), strerror(errno));
		dpglue_free(g);
		return NULL;
	}
	return g;
}

void dpglue_free(struct dpglue *g)
{
	if (!g)
		return;
	while (g->children) {
		struct dpg_child *e = g->children;

		g->children = e->next;
		free(e);
	}
	dp_free(g->dp); /* removes every SA, policy and route */
	dp_htab_fini(&g->by_id);
	dp_htab_fini(&g->by_reqid);
	dp_htab_fini(&g->by_sel);
	free(g);
}

void dpglue_set_ike(struct dpglue *g, struct ike *ike, void (*after)(void *ctx), void *ctx)
{
	g->ike = ike;
	g->after = after;
	g->after_ctx = ctx;
}

bool dpglue_requires_encap(const struct dpglue *g)
{
	return dp_features(g->dp) & DP_FEAT_REQUIRES_ENCAP;
}

bool dpglue_wants_udp_encap(const struct dpglue *g)
{
	return dp_features(g->dp) & DP_FEAT_UDP_ENCAP_SOCKOPT;
}

bool dpglue_wants_udp(const struct dpglue *g)
{
	return dp_features(g->dp) & DP_FEAT_NEEDS_UDP_INPUT;
}

int dpglue_set_sockets(struct dpglue *g, int fd4, int fd6)
{
	if (fd4 >= 0 && dp_set_udp_socket(g->dp, AF_INET, fd4) < 0)
		return -1;
	if (fd6 >= 0 && dp_set_udp_socket(g->dp, AF_INET6, fd6) < 0)
		return -1;
	return 0;
}

void dpglue_drop_sockets(struct dpglue *g)
{
	if (!dpglue_wants_udp(g))
		return;
	if (dp_set_udp_socket(g->dp, AF_INET, -1) < 0 || dp_set_udp_socket(g->dp, AF_INET6, -1) < 0)
		log_msg(LOG_WARNING, "dp", "cannot detach the NAT-T sockets: %s", strerror(errno));
}

bool dpglue_steers(const struct dpglue *g)
{
	return dp_udp_steers(g->dp);
}

int dpglue_steer(struct dpglue *g, const int *fds, size_t n)
{
	return dp_udp_steer(g->dp, fds, n);
}

void dpglue_unsteer(struct dpglue *g, int fd)
{
	if (dpglue_steers(g) && dp_udp_unsteer(g->dp, fd) < 0)
		log_msg(LOG_WARNING, "dp",
		        "cannot close the packet workers' sockets beside fd %d: %s", fd,
		        strerror(errno));
}

int dpglue_spi_residue(struct dpglue *g, uint32_t rekey_reqid, uint32_t *mod, uint32_t *residue)
{
	return dp_spi_residue(g->dp, rekey_reqid, mod, residue);
}

void dpglue_input_udp(struct dpglue *g, uint8_t *buf, size_t len,
                      const struct sockaddr_storage *local, const struct sockaddr_storage *remote)
{
	dp_input_udp(g->dp, buf, len, remote, local);
}
