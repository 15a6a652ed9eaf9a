/*
 * The engine's operator and host interface: starting and stopping
 * connections, reloads, re-initiation of connections that must stay up,
 * data-plane events (lifetime expiry, counters, unknown ESP SPIs) and the
 * status report for rikectl.
 */
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "ike/attack.h"
#include "ike/sa.h"

/* ---- connections ---- */

struct find_ctx {
	const char *name;
	struct ike_sa *best;
};

static void find_fn(struct ike *ike, struct ike_sa *sa, void *arg)
{
	struct find_ctx *f = arg;

	(void)ike;
	if (strcmp(sa->conn_name, f->name))
		return;
	/* Prefer the established SA over a rekeyed or half-open one. */
	if (!f->best || (sa->state == IKE_S_ESTABLISHED && f->best->state != IKE_S_ESTABLISHED) ||
	    (sa->state == f->best->state && sa->serial > f->best->serial))
		f->best = sa;
}

struct ike_sa *ike_sa_by_conn(struct ike *ike, const char *conn)
{
	struct find_ctx f = {conn, NULL};

	sa_foreach(ike, find_fn, &f);
	return f.best;
}

struct ike_sa *ike_initiate_to(struct ike *ike, const struct cfg_conn *c, const struct ike_addr *gw)
{
	struct ike_sa *sa = sa_new(ike, c, true);

	if (!sa)
		return NULL;
	addr_from_ss(&sa->local, &c->local, ike->cfg->ike_port);
	if (addr_is_any(&c->local))
		sa->local.ss.sa.sa_family = gw->ss.sa.sa_family;
	sa->remote = *gw;
	return sa;
}

void ike_sa_start(struct ike *ike, struct ike_sa *sa)
{
	ike_queue(ike, sa, TASK_IKE_SA_INIT);
	ike_sa_changed(ike, sa);
}

static int initiate(struct ike *ike, const struct cfg_conn *c)
{
	struct ike_addr gw;

	if (addr_is_any(&c->remote))
		return -1; /* nobody to call */
	struct ike_sa *sa;

	addr_from_ss(&gw, &c->remote, ike->cfg->ike_port);
	sa = ike_initiate_to(ike, c, &gw);
	if (!sa)
		return -1;
	ike_sa_start(ike, sa);
	return 0;
}

void ike_start(struct ike *ike)
{
	for (size_t i = 0; i < ike->cfg->nconns; i++)
		if (ike->cfg->conns[i].start == CFG_START_START &&
		    !ike_sa_by_conn(ike, ike->cfg->conns[i].name))
			(void)initiate(ike, &ike->cfg->conns[i]);
}

int ike_up(struct ike *ike, const char *name)
{
	const struct cfg_conn *c = conf_conn_lookup(ike->cfg, name);
	struct ike_sa *sa;

	if (!c)
		return -1;
	sa = ike_sa_by_conn(ike, name);
	if (sa && sa->state != IKE_S_DELETING)
		return 0;                /* already up or coming up */
	ike_conn_error_clear(ike, name); /* a new attempt */
	return initiate(ike, c);
}

static void down_fn(struct ike *ike, struct ike_sa *sa, void *arg)
{
	if (strcmp(sa->conn_name, arg))
		return;
	sa->no_restart = true;
	if (sa->state == IKE_S_ESTABLISHED || sa->state == IKE_S_REKEYED)
		ike_queue(ike, sa, TASK_IKE_DELETE);
	else if (sa->state != IKE_S_DELETING)
		sa_kill(ike, sa, "down by operator");
}

int ike_down(struct ike *ike, const char *name)
{
	if (!conf_conn_lookup(ike->cfg, name) && !ike_sa_by_conn(ike, name))
		return -1;
	sa_foreach(ike, down_fn, (void *)name);
	sa_reap(ike);
	return 0;
}

/* RFC 6290 3, keep_up: bring a connection back after its SA died. */
void ike_restart(struct ike *ike, const char *name, uint64_t delay_ms)
{
	const struct cfg_conn *c = conf_conn_lookup(ike->cfg, name);

	if (!c || !c->keep_up || c->start != CFG_START_START || addr_is_any(&c->remote))
		return;
	if (ike->n_restarts >= IKE_MAX_RESTARTS)
		return;
	snprintf(ike->restarts[ike->n_restarts].name, CFG_NAME_MAX, "%s", name);
	ike->restarts[ike->n_restarts++].at_ms = ike_now(ike) + delay_ms;
}

void ike_run_restarts(struct ike *ike, uint64_t now)
{
	for (size_t i = 0; i < ike->n_restarts;) {
		struct ike_sa *sa;

		if (ike->restarts[i].at_ms > now) {
			i++;
			continue;
		}
		sa = ike_sa_by_conn(ike, ike->restarts[i].name);
		if (!sa || sa->state == IKE_S_DELETING) {
			const struct cfg_conn *c =
			    conf_conn_lookup(ike->cfg, ike->restarts[i].name);

			if (c) {
				log_msg(LOG_INFO, "ike", "\"%s\" re-initiating", c->name);
				(void)initiate(ike, c);
			}
		}
		ike->restarts[i] = ike->restarts[--ike->n_restarts];
	}
}

int64_t ike_restart_next(const struct ike *ike, uint64_t now)
{
	int64_t best = -1;

	for (size_t i = 0; i < ike->n_restarts; i++) {
		int64_t d =
		    ike->restarts[i].at_ms > now ? (int64_t)(ike->restarts[i].at_ms - now) : 0;

		if (best < 0 || d < best)
			best = d;
	}
	return best;
}

static void reload_fn(struct ike *ike, struct ike_sa *sa, void *arg)
{
	const struct cfg *ncfg = arg;

	sa->conn = conf_conn_lookup(ncfg, sa->conn_name);
	if (sa->conn) {
		sa->conn_name = sa->conn->name; /* the old configuration goes */
		return;
	}
	/* Its name outlives the configuration, for the log lines and the
	 * counters of its last moments. */
	if (!sa->name_kept && (sa->name_kept = strdup(sa->conn_name)))
		sa->conn_name = sa->name_kept;
	else if (!sa->name_kept)
		sa->conn_name = "";
	sa->no_restart = true;
	sa_log(sa, LOG_INFO, "conn-removed", "connection gone after reload");
	if (sa->state == IKE_S_ESTABLISHED)
		ike_queue(ike, sa, TASK_IKE_DELETE);
	else
		sa_kill(ike, sa, "connection removed");
}

void ike_reload(struct ike *ike, const struct cfg *cfg)
{
	sa_foreach(ike, reload_fn, (void *)cfg);
	ike->cfg = cfg;
	ike->n_restarts = 0;
	ike_start(ike);
	sa_reap(ike);
}

static void replace_fn(struct ike *ike, struct ike_sa *sa, void *arg)
{
	if (strcmp(sa->conn_name, arg))
		return;
	sa->no_restart = true;
	sa_log(sa, LOG_INFO, "conn-changed", "connection changed by reload: replacing the SA");
	if (sa->state == IKE_S_ESTABLISHED)
		ike_queue(ike, sa, TASK_IKE_DELETE); /* RFC 7296 1.4.1 */
	else if (sa->state != IKE_S_DELETING && sa->state != IKE_S_REKEYED)
		sa_kill(ike, sa, "connection changed");
}

int ike_replace(struct ike *ike, const char *name)
{
	const struct cfg_conn *c = conf_conn_lookup(ike->cfg, name);

	if (!c)
		return -1;
	sa_foreach(ike, replace_fn, (void *)name);
	sa_reap(ike);
	ike_conn_error_clear(ike, name);
	/* The new SA is negotiated with the new settings; the old one's
	 * delete is already queued on it. */
	return c->start == CFG_START_START ? initiate(ike, c) : 0;
}

/* ---- operator-driven exchanges ---- */

static struct ike_sa *established(struct ike *ike, const char *name)
{
	struct ike_sa *sa = ike_sa_by_conn(ike, name);

	return sa && sa->state == IKE_S_ESTABLISHED ? sa : NULL;
}

int ike_rekey_ike(struct ike *ike, const char *name)
{
	struct ike_sa *sa = established(ike, name);

	if (!sa)
		return -1;
	ike_queue(ike, sa, TASK_IKE_REKEY);
	return 0;
}

int ike_rekey_child(struct ike *ike, const char *name)
{
	struct ike_sa *sa = established(ike, name);
	bool any = false;

	if (!sa)
		return -1;
	for (struct child_sa *c = sa->children; c; c = c->next)
		if (!c->rekeyed && !c->deleting) {
			c->rekey_pending = true;
			any = true;
		}
	if (!any)
		return -1;
	ike_queue(ike, sa, TASK_CHILD_REKEY);
	return 0;
}

int ike_dpd_now(struct ike *ike, const char *name)
{
	struct ike_sa *sa = established(ike, name);

	if (!sa)
		return -1;
	ike_queue(ike, sa, TASK_DPD);
	return 0;
}

/* ---- data-plane events ---- */

void ike_child_expired(struct ike *ike, uint32_t reqid, bool hard)
{
	struct ike_sa *sa;
	struct child_sa *c = child_by_reqid(ike, reqid, &sa);

	if (!c || c->rekeyed || c->deleting)
		return;
	if (!hard) {
		/* RFC 4301 4.4.2.1 soft lifetime: rekey (RFC 7296 2.8). */
		c->rekey_pending = true;
		ike_queue(ike, sa, TASK_CHILD_REKEY);
		return;
	}
	/* Hard lifetime: the SA must go; replace it if the connection stays up. */
	c->delete_pending = true;
	ike_queue(ike, sa, TASK_CHILD_DELETE);
	if (sa->conn && sa->conn->keep_up)
		ike_queue(ike, sa, TASK_CHILD_CREATE);
}

void ike_child_failed(struct ike *ike, uint32_t reqid, const char *why)
{
	struct ike_sa *sa;
	struct child_sa *c = child_by_reqid(ike, reqid, &sa);
	char what[160];

	if (!c || c->rekeyed || c->deleting || c->delete_pending)
		return;
	sa_log(sa, LOG_WARNING, "child-failed", "reqid %u: %s; deleted, not replaced", reqid, why);
	snprintf(what, sizeof(what), "Child SA reqid %u: %s", reqid, why);
	ike_conn_error_set(ike, sa->conn_name, what);
	/* RFC 7296 1.4.1: the peer deletes its half too. */
	c->delete_pending = true;
	ike_queue(ike, sa, TASK_CHILD_DELETE);
}

void ike_child_counters(struct ike *ike, uint32_t reqid, uint64_t bytes_in, uint64_t pkts_in,
                        uint64_t bytes_out, uint64_t pkts_out)
{
	struct ike_sa *sa;
	struct child_sa *c = child_by_reqid(ike, reqid, &sa);

	if (!c)
		return;
	/* RFC 7296 2.4: inbound ESP counts as proof of liveness. */
	if (pkts_in > c->pkts_in)
		sa->last_rx_ms = ike_now(ike);
	c->bytes_in = bytes_in;
	c->pkts_in = pkts_in;
	c->bytes_out = bytes_out;
	c->pkts_out = pkts_out;
}

void ike_esp_unknown_spi(struct ike *ike, uint32_t spi, const struct ike_addr *local,
                         const struct ike_addr *remote)
{
	ext_esp_unknown_spi(ike, spi, local, remote);
}

/* ---- status ---- */

static void hex(char *buf, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(buf + 2 * i, "%02x", p[i]);
}

static const char *nm(const char *s)
{
	return s ? s : "?";
}

static void put_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, json_object_new_string(v));
}

static void put_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static void put_bool(struct json_object *o, const char *key, bool v)
{
	json_object_object_add(o, key, json_object_new_boolean(v));
}

/* Seconds from now until t (0 when past or unset). */
static uint64_t secs_until(uint64_t t, uint64_t now)
{
	return t > now ? (t - now) / 1000 : 0;
}

static struct json_object *ts_array(const struct ike_ts_set *set)
{
	struct json_object *a = json_object_new_array();
	char buf[128];

	for (size_t i = 0; i < set->n; i++) {
		conf_ts_format(&set->ts[i], buf, sizeof(buf));
		json_object_array_add(a, json_object_new_string(buf));
	}
	return a;
}

static struct json_object *child_json(const struct child_sa *c, uint64_t now)
{
	struct json_object *j = json_object_new_object();
	struct ike_ts_set tl, tr;
	char spi[9];

	put_u64(j, "reqid", c->reqid);
	put_str(j, "state", c->installed ? "INSTALLED" : c->rekeyed ? "REKEYED" : "CREATED");
	snprintf(spi, sizeof(spi), "%08x", c->spi_in);
	put_str(j, "spi_in", spi);
	snprintf(spi, sizeof(spi), "%08x", c->spi_out);
	put_str(j, "spi_out", spi);
	put_str(j, "mode", c->transport ? "transport" : "tunnel");
	put_str(j, "encr", nm(ikev2_encr_name(c->encr)));
	put_u64(j, "encr_keybits", c->encr_keybits);
	put_str(j, "integ", nm(ikev2_integ_name(c->integ)));
	put_bool(j, "esn", c->esn);
	put_bool(j, "udp_encap", c->encap);
	put_str(j, "pfs_group", c->pfs_group ? nm(ikev2_dh_name(c->pfs_group)) : "none");
	child_ts(c, &tl, &tr);
	json_object_object_add(j, "ts_local", ts_array(&tl));
	json_object_object_add(j, "ts_remote", ts_array(&tr));
	put_u64(j, "age_s", (now - c->created_ms) / 1000);
	put_u64(j, "rekey_in_s", secs_until(c->rekey_ms, now));
	put_u64(j, "expires_in_s", secs_until(c->expire_ms, now));
	put_u64(j, "bytes_in", c->bytes_in);
	put_u64(j, "packets_in", c->pkts_in);
	put_u64(j, "bytes_out", c->bytes_out);
	put_u64(j, "packets_out", c->pkts_out);
	put_bool(j, "installed", c->installed);
	return j;
}

struct status_ctx {
	struct json_object *arr;
	uint64_t now;
};

/* One IKE SA, as list-sas shows it (rikectl(8) "list-sas"). */
static void status_sa(struct ike *ike, struct ike_sa *sa, void *arg)
{
	struct status_ctx *s = arg;
	struct json_object *j = json_object_new_object(), *ch = json_object_new_array();
	char si[17], sr[17], a[64], id[CFG_ID_MAX * 2 + 8];

	put_str(j, "conn", sa->conn_name);
	put_u64(j, "serial", sa->serial);
	put_str(j, "state", sa_state_name(sa->state));
	put_str(j, "role", sa->initiator ? "initiator" : "responder");
	hex(si, sa->spi_i, 8);
	hex(sr, sa->spi_r, 8);
	put_str(j, "spi_i", si);
	put_str(j, "spi_r", sr);
	addr_format_host(&sa->local, a, sizeof(a));
	put_str(j, "local_host", a);
	put_u64(j, "local_port", addr_port(&sa->local));
	addr_format_host(&sa->remote, a, sizeof(a));
	put_str(j, "remote_host", a);
	put_u64(j, "remote_port", addr_port(&sa->remote));
	addr_format(&sa->local, a, sizeof(a));
	put_str(j, "local", a);
	addr_format(&sa->remote, a, sizeof(a));
	put_str(j, "remote", a);
	put_str(j, "local_id",
	        sa->conn && sa->conn->local_id.text[0] ? sa->conn->local_id.text : "");
	ike_sa_peer_id(sa, id, sizeof(id));
	put_str(j, "remote_id", id);
	put_str(j, "encr", nm(ikev2_encr_name(sa->suite.encr)));
	put_u64(j, "encr_keybits", sa->suite.encr_keybits);
	put_str(j, "integ", nm(ikev2_integ_name(sa->suite.integ)));
	put_str(j, "prf", nm(ikev2_prf_name(sa->suite.prf)));
	put_str(j, "dh", nm(ikev2_dh_name(sa->suite.dh)));
	put_bool(j, "nat_t", sa->natt);
	put_bool(j, "nat_local", sa->nat_local);
	put_bool(j, "nat_remote", sa->nat_remote);
	put_u64(j, "age_s", (s->now - sa->created_ms) / 1000);
	put_u64(j, "rekey_in_s", secs_until(sa->rekey_ms, s->now));
	put_u64(j, "expires_in_s", secs_until(sa->expire_ms, s->now));
	ext_status(ike, sa, j, NULL, 0);
	for (struct child_sa *c = sa->children; c; c = c->next)
		json_object_array_add(ch, child_json(c, s->now));
	json_object_object_add(j, "children", ch);
	json_object_array_add(s->arr, j);
}

static void counter_json(void *arg, const char *name, uint64_t v)
{
	put_u64(arg, name, v);
}

struct json_object *ike_sas_json(struct ike *ike)
{
	struct status_ctx s = {json_object_new_array(), ike_now(ike)};

	sa_foreach(ike, status_sa, &s);
	return s.arr;
}

/* The extensions' one-word states of an SA ("qcd token-sent/...", "mobike on"). */
void ike_sa_ext_text(struct ike *ike, uint64_t serial, char *buf, size_t len)
{
	struct ike_sa *sa = sa_lookup_serial(ike, serial);

	buf[0] = '\0';
	if (sa)
		ext_status(ike, sa, NULL, buf, len);
}

void ike_stats_text(struct ike *ike, FILE *out)
{
	const struct ike_stats *st = &ike->stats;

	fprintf(out,
	        "stats: rx %" PRIu64 " tx %" PRIu64 " drops: malformed %" PRIu64
	        " unknown-spi %" PRIu64 " icv %" PRIu64 " msgid %" PRIu64 " rules %" PRIu64
	        "; retransmits %" PRIu64 " cookies %" PRIu64 " (invalid %" PRIu64
	        "); half-open %zu (%zu KiB, expired %" PRIu64 " evicted %" PRIu64
	        "); fragments tx %" PRIu64 " rx %" PRIu64 " ignored %" PRIu64 "\n",
	        st->rx, st->tx, st->drop_malformed, st->drop_unknown_spi, st->drop_icv,
	        st->drop_msgid, st->drop_rules, st->retransmits, st->cookies_sent,
	        st->cookies_invalid, ike->half_open, ike->ho_bytes / 1024, st->half_open_expired,
	        st->half_open_evicted, st->frags_tx, st->frags_rx, st->drop_frag_retrans);
	/* RFC 8019 */
	fprintf(out,
	        "defence: under-attack %s (started %" PRIu64 "); dh %" PRIu64 " (reused %" PRIu64
	        ", last second %" PRIu32 ", saturated %" PRIu64 ", refused %" PRIu64
	        "); puzzles sent %" PRIu64 " solved %" PRIu64 " weak %" PRIu64 " ignored %" PRIu64
	        " deferred %" PRIu64 "; ike_auth puzzles sent %" PRIu64 " solved %" PRIu64
	        " weak %" PRIu64 " missing %" PRIu64 ", as initiator solved %" PRIu64
	        " (ike_auth %" PRIu64 ") given-up %" PRIu64 "; auth failed %" PRIu64
	        " blocked %" PRIu64 " refused %" PRIu64 "\n",
	        attack_on(ike) ? "yes" : "no", st->attack_started, st->dh_computed, st->dh_reused,
	        attack_dh_last_second(ike), st->dh_saturated, st->drop_dh_budget, st->puzzles_sent,
	        st->puzzles_solved, st->puzzles_weak, st->puzzles_ignored, st->puzzles_deferred,
	        st->puzzles_auth_sent, st->puzzles_auth_solved, st->puzzles_auth_weak,
	        st->puzzles_auth_missing, st->puzzles_solved_local, st->puzzles_auth_solved_local,
	        st->puzzles_given_up, st->auth_failed, st->auth_blocked, st->drop_auth_blocked);
	fprintf(out,
	        "crypto workers %u: jobs %" PRIu64 " out %zu; dropped pending %" PRIu64
	        " busy %" PRIu64 "; stale %" PRIu64 "\n",
	        ike_work_threads(ike), st->work_jobs, ike_work_outstanding(ike),
	        st->drop_work_pending, st->drop_work_busy, st->work_stale);
}

struct json_object *ike_stats_json(struct ike *ike)
{
	const struct ike_stats *st = &ike->stats;
	struct json_object *j = json_object_new_object();
	const struct {
		const char *name;
		uint64_t v;
	} v[] = {
	    {"rx", st->rx},
	    {"tx", st->tx},
	    {"drop_malformed", st->drop_malformed},
	    {"drop_unknown_spi", st->drop_unknown_spi},
	    {"drop_icv", st->drop_icv},
	    {"drop_msgid", st->drop_msgid},
	    {"drop_rules", st->drop_rules},
	    {"retransmits", st->retransmits},
	    {"resent_responses", st->resent_responses},
	    {"cookies_sent", st->cookies_sent},
	    {"cookies_invalid", st->cookies_invalid},
	    {"half_open", ike->half_open},
	    {"half_open_bytes", ike->ho_bytes},
	    {"half_open_expired", st->half_open_expired},
	    {"half_open_evicted", st->half_open_evicted},
	    {"frags_tx", st->frags_tx},
	    {"frags_rx", st->frags_rx},
	    {"drop_frag_retrans", st->drop_frag_retrans},
	    {"sa_established", st->sa_established},
	    {"sa_failed", st->sa_failed},
	    /* RFC 8019 */
	    {"under_attack", attack_on(ike)},
	    {"attack_started", st->attack_started},
	    {"dh_computed", st->dh_computed},
	    {"dh_reused", st->dh_reused},
	    {"dh_last_second", attack_dh_last_second(ike)},
	    {"dh_saturated", st->dh_saturated},
	    {"drop_dh_budget", st->drop_dh_budget},
	    {"puzzles_sent", st->puzzles_sent},
	    {"puzzles_solved", st->puzzles_solved},
	    {"puzzles_weak", st->puzzles_weak},
	    {"puzzles_ignored", st->puzzles_ignored},
	    {"puzzles_deferred", st->puzzles_deferred},
	    {"puzzles_solved_local", st->puzzles_solved_local},
	    {"puzzles_given_up", st->puzzles_given_up},
	    {"puzzles_auth_sent", st->puzzles_auth_sent},
	    {"puzzles_auth_solved", st->puzzles_auth_solved},
	    {"puzzles_auth_weak", st->puzzles_auth_weak},
	    {"puzzles_auth_missing", st->puzzles_auth_missing},
	    {"puzzles_auth_solved_local", st->puzzles_auth_solved_local},
	    {"auth_failed", st->auth_failed},
	    {"auth_blocked", st->auth_blocked},
	    {"drop_auth_blocked", st->drop_auth_blocked},
	    /* crypto workers */
	    {"crypto_workers", ike_work_threads(ike)},
	    {"work_outstanding", ike_work_outstanding(ike)},
	    {"work_jobs", st->work_jobs},
	    {"drop_work_pending", st->drop_work_pending},
	    {"drop_work_busy", st->drop_work_busy},
	    {"work_stale", st->work_stale},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		put_u64(j, v[i].name, v[i].v);
	ext_counters(ike, counter_json, j);
	return j;
}

/* ---- connection states (rikectl list-conns, up, down) ---- */

static struct ike_conn_err *conn_err_find(struct ike *ike, const char *name)
{
	for (size_t i = 0; i < ike->n_conn_errs; i++)
		if (!strcmp(ike->conn_errs[i].name, name))
			return &ike->conn_errs[i];
	return NULL;
}

void ike_conn_error_set(struct ike *ike, const char *name, const char *why)
{
	struct ike_conn_err *e = conn_err_find(ike, name);

	if (!e && ike->n_conn_errs < IKE_MAX_CONN_ERRS)
		e = &ike->conn_errs[ike->n_conn_errs++];
	if (!e)
		return; /* the table is full: the state shows as "configured" */
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->why, sizeof(e->why), "%s", why ? why : "failed");
}

void ike_conn_error_clear(struct ike *ike, const char *name)
{
	struct ike_conn_err *e = conn_err_find(ike, name);

	if (e)
		*e = ike->conn_errs[--ike->n_conn_errs];
}

enum ike_conn_state ike_conn_state(struct ike *ike, const char *name, const char **why)
{
	struct ike_sa *sa = ike_sa_by_conn(ike, name);
	const struct ike_conn_err *e = conn_err_find(ike, name);

	*why = e ? e->why : NULL;
	if (!sa)
		return e ? IKE_CONN_FAILED : IKE_CONN_CONFIGURED;
	switch (sa->state) {
	case IKE_S_ESTABLISHED:
	case IKE_S_REKEYED:
		return IKE_CONN_ESTABLISHED;
	case IKE_S_DELETING:
		return IKE_CONN_DELETING;
	case IKE_S_DEAD:
		return e ? IKE_CONN_FAILED : IKE_CONN_CONFIGURED;
	default:
		return IKE_CONN_CONNECTING;
	}
}

const char *ike_conn_state_name(enum ike_conn_state st)
{
	static const char *const names[] = {
	    [IKE_CONN_CONFIGURED] = "configured",   [IKE_CONN_CONNECTING] = "connecting",
	    [IKE_CONN_ESTABLISHED] = "established", [IKE_CONN_DELETING] = "deleting",
	    [IKE_CONN_FAILED] = "failed",
	};

	return st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}
