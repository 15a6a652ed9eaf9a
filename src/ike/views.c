/*
 * Read-only views of the engine for the host's metrics (riked's
 * metrics.c): engine-wide gauges, the extensions' counters by name, and
 * every IKE SA and Child SA as a value. Nothing here changes state, so a
 * scrape cannot disturb an exchange. Also the hand-off of an IKE SA's
 * keys to the host (host.ike_keys), for the debugging key export.
 */
#include <string.h>

#include "ike/attack.h"
#include "ike/sa.h"

/* Every state an SA is seen in between engine calls (IKE_S_DEAD SAs are
 * freed before the call returns). */
const char *const ike_state_names[] = {"INIT_SENT", "AUTH_SENT", "INIT_DONE", "ESTABLISHED",
                                       "REKEYED",   "DELETING",  NULL};

void ike_get_gauges(const struct ike *ike, struct ike_gauges *g)
{
	memset(g, 0, sizeof(*g));
	g->half_open = ike->half_open;
	g->half_open_bytes = ike->ho_bytes;
	g->under_attack = attack_on(ike);
	g->dh_last_second = attack_dh_last_second(ike);
}

void ike_ext_counters(struct ike *ike, void (*fn)(void *arg, const char *name, uint64_t v),
                      void *arg)
{
	ext_counters(ike, fn, arg);
}

struct views_ctx {
	void (*sa_fn)(void *arg, const struct ike_sa_view *v);
	void (*child_fn)(void *arg, const struct ike_child_view *v);
	void *arg;
};

static void view_sa(struct ike *ike, struct ike_sa *sa, void *arg)
{
	const struct views_ctx *x = arg;
	struct ike_sa_view v = {sa->conn_name, sa_state_name(sa->state), sa->serial, 0};

	(void)ike;
	for (const struct child_sa *c = sa->children; c; c = c->next) {
		struct ike_child_view cv = {sa->conn_name, sa->serial,   c->reqid,
		                            c->spi_in,     c->spi_out,   c->bytes_in,
		                            c->pkts_in,    c->bytes_out, c->pkts_out};
		v.children++;
		if (x->child_fn)
			x->child_fn(x->arg, &cv);
	}
	if (x->sa_fn)
		x->sa_fn(x->arg, &v);
}

void ike_views(struct ike *ike, void (*sa_fn)(void *arg, const struct ike_sa_view *v),
               void (*child_fn)(void *arg, const struct ike_child_view *v), void *arg)
{
	struct views_ctx x = {sa_fn, child_fn, arg};

	sa_foreach(ike, view_sa, &x);
}

/* RFC 7296 2.14: SK_e and SK_a of both directions, as the host's key
 * export wants them (the SA's SPIs name the row). */
void ike_keys_to_host(struct ike *ike, const struct ike_sa *sa)
{
	struct ike_keys_info k;

	if (!ike->host.ike_keys || !sa->keys)
		return;
	memset(&k, 0, sizeof(k));
	k.conn = sa->conn_name;
	k.ike_serial = sa->serial;
	memcpy(k.spi_i, sa->spi_i, 8);
	memcpy(k.spi_r, sa->spi_r, 8);
	k.encr = sa->suite.encr;
	k.encr_keybits = sa->suite.encr_keybits;
	k.integ = sa->suite.integ;
	k.sk_ei = sa->keys->sk_ei;
	k.sk_er = sa->keys->sk_er;
	k.sk_ai = sa->keys->sk_ai;
	k.sk_ar = sa->keys->sk_ar;
	k.e_len = sa->keys->e_len;
	k.a_len = sa->keys->a_len;
	ike->host.ike_keys(ike->host.ctx, &k);
}
