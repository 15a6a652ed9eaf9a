/*
 * The engine's operator and host interface: starting and stopping
 * connections, reloads, re-initiation of connections that must stay up,
 * data-plane events (lifetime expiry, counters, unknown ESP SPIs) and the
 * status report for rikectl.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "ike/attack.h"
#include "ike/sa.h"
#include "util/json.h"

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
		sa->local.ss.ss_family = gw->ss.ss_family;
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
		return 0; /* already up or coming up */
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
	if (sa->conn)
		return;
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

struct reqid_ctx {
	uint32_t reqid;
	struct ike_sa *sa;
	struct child_sa *c;
};

static void reqid_fn(struct ike *ike, struct ike_sa *sa, void *arg)
{
	struct reqid_ctx *r = arg;

	(void)ike;
	for (struct child_sa *c = sa->children; c && !r->c; c = c->next)
		if (c->reqid == r->reqid) {
			r->sa = sa;
			r->c = c;
		}
}

static struct child_sa *child_by_reqid(struct ike *ike, uint32_t reqid, struct ike_sa **sa)
{
	struct reqid_ctx r = {reqid, NULL, NULL};

	sa_foreach(ike, reqid_fn, &r);
	*sa = r.sa;
	return r.c;
}

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

static void status_child_json(struct json *j, const struct child_sa *c, uint64_t now)
{
	char spi[9];

	json_obj_begin(j);
	json_kv_uint(j, "reqid", c->reqid);
	snprintf(spi, sizeof(spi), "%08x", c->spi_in);
	json_kv_str(j, "spi_in", spi);
	snprintf(spi, sizeof(spi), "%08x", c->spi_out);
	json_kv_str(j, "spi_out", spi);
	json_kv_str(j, "mode", c->transport ? "transport" : "tunnel");
	json_kv_str(j, "encr", nm(ikev2_encr_name(c->encr)));
	json_kv_uint(j, "encr_keybits", c->encr_keybits);
	json_kv_str(j, "integ", nm(ikev2_integ_name(c->integ)));
	json_kv_bool(j, "esn", c->esn);
	json_kv_bool(j, "udp_encap", c->encap);
	json_kv_str(j, "pfs_group", c->pfs_group ? nm(ikev2_dh_name(c->pfs_group)) : "none");
	json_kv_uint(j, "age_s", (now - c->created_ms) / 1000);
	json_kv_uint(j, "rekey_in_s", c->rekey_ms > now ? (c->rekey_ms - now) / 1000 : 0);
	json_kv_uint(j, "expires_in_s", c->expire_ms > now ? (c->expire_ms - now) / 1000 : 0);
	json_kv_uint(j, "bytes_in", c->bytes_in);
	json_kv_uint(j, "packets_in", c->pkts_in);
	json_kv_uint(j, "bytes_out", c->bytes_out);
	json_kv_uint(j, "packets_out", c->pkts_out);
	json_kv_bool(j, "installed", c->installed);
	json_obj_end(j);
}

struct status_ctx {
	struct json *j;
	FILE *out;
	bool json;
	uint64_t now;
};

static void status_sa(struct ike *ike, struct ike_sa *sa, void *arg)
{
	struct status_ctx *s = arg;
	char si[17], sr[17], la[64], ra[64], ext[256] = "";
	struct json *j = s->j;

	hex(si, sa->spi_i, 8);
	hex(sr, sa->spi_r, 8);
	addr_format(&sa->local, la, sizeof(la));
	addr_format(&sa->remote, ra, sizeof(ra));
	if (!s->json) {
		ext_status(ike, sa, NULL, ext, sizeof(ext));
		fprintf(s->out, "\"%s\" #%" PRIu64 " %s %s:%s %s <-> %s %s/%s/%s/%s%s%s\n",
		        sa->conn_name, sa->serial, sa_state_name(sa->state), si, sr, la, ra,
		        nm(ikev2_encr_name(sa->suite.encr)), nm(ikev2_integ_name(sa->suite.integ)),
		        nm(ikev2_prf_name(sa->suite.prf)), nm(ikev2_dh_name(sa->suite.dh)),
		        sa->natt ? " natt" : "", ext);
		for (struct child_sa *c = sa->children; c; c = c->next)
			fprintf(s->out,
			        "  child reqid %u %08x/%08x %s %s %" PRIu64 " bytes in %" PRIu64
			        " out %" PRIu64 " pkts in %" PRIu64 " out\n",
			        c->reqid, c->spi_in, c->spi_out,
			        c->transport ? "transport" : "tunnel", nm(ikev2_encr_name(c->encr)),
			        c->bytes_in, c->bytes_out, c->pkts_in, c->pkts_out);
		return;
	}
	json_obj_begin(j);
	json_kv_str(j, "conn", sa->conn_name);
	json_kv_uint(j, "serial", sa->serial);
	json_kv_str(j, "state", sa_state_name(sa->state));
	json_kv_str(j, "role", sa->initiator ? "initiator" : "responder");
	json_kv_str(j, "spi_i", si);
	json_kv_str(j, "spi_r", sr);
	json_kv_str(j, "local", la);
	json_kv_str(j, "remote", ra);
	json_kv_str(j, "encr", nm(ikev2_encr_name(sa->suite.encr)));
	json_kv_uint(j, "encr_keybits", sa->suite.encr_keybits);
	json_kv_str(j, "integ", nm(ikev2_integ_name(sa->suite.integ)));
	json_kv_str(j, "prf", nm(ikev2_prf_name(sa->suite.prf)));
	json_kv_str(j, "dh", nm(ikev2_dh_name(sa->suite.dh)));
	json_kv_bool(j, "nat_t", sa->natt);
	json_kv_bool(j, "nat_local", sa->nat_local);
	json_kv_bool(j, "nat_remote", sa->nat_remote);
	json_kv_uint(j, "age_s", (s->now - sa->created_ms) / 1000);
	json_kv_uint(j, "rekey_in_s", sa->rekey_ms > s->now ? (sa->rekey_ms - s->now) / 1000 : 0);
	json_kv_uint(j, "expires_in_s",
	             sa->expire_ms > s->now ? (sa->expire_ms - s->now) / 1000 : 0);
	ext_status(ike, sa, j, NULL, 0);
	json_key(j, "children");
	json_arr_begin(j);
	for (struct child_sa *c = sa->children; c; c = c->next)
		status_child_json(j, c, s->now);
	json_arr_end(j);
	json_obj_end(j);
}

static void counter_json(void *arg, const char *name, uint64_t v)
{
	json_kv_uint(arg, name, v);
}

void ike_status(struct ike *ike, bool json, FILE *out)
{
	struct json j;
	struct status_ctx s = {&j, out, json, ike_now(ike)};
	const struct ike_stats *st = &ike->stats;

	json_init(&j, out);
	if (json) {
		json_obj_begin(&j);
		json_key(&j, "sas");
		json_arr_begin(&j);
	}
	sa_foreach(ike, status_sa, &s);
	if (!json) {
		fprintf(out,
		        "stats: rx %" PRIu64 " tx %" PRIu64 " drops: malformed %" PRIu64
		        " unknown-spi %" PRIu64 " icv %" PRIu64 " msgid %" PRIu64 " rules %" PRIu64
		        "; retransmits %" PRIu64 " cookies %" PRIu64 " (invalid %" PRIu64
		        "); half-open %zu (%zu KiB, expired %" PRIu64 " evicted %" PRIu64
		        "); fragments tx %" PRIu64 " rx %" PRIu64 " ignored %" PRIu64 "\n",
		        st->rx, st->tx, st->drop_malformed, st->drop_unknown_spi, st->drop_icv,
		        st->drop_msgid, st->drop_rules, st->retransmits, st->cookies_sent,
		        st->cookies_invalid, ike->half_open, ike->ho_bytes / 1024,
		        st->half_open_expired, st->half_open_evicted, st->frags_tx, st->frags_rx,
		        st->drop_frag_retrans);
		/* RFC 8019 */
		fprintf(out,
		        "defence: under-attack %s (started %" PRIu64 "); dh %" PRIu64
		        " (last second %" PRIu32 ", saturated %" PRIu64 ", refused %" PRIu64
		        "); puzzles sent %" PRIu64 " solved %" PRIu64 " weak %" PRIu64
		        " ignored %" PRIu64 " deferred %" PRIu64 "; ike_auth puzzles sent %" PRIu64
		        " solved %" PRIu64 " weak %" PRIu64 " missing %" PRIu64
		        ", as initiator solved %" PRIu64 " (ike_auth %" PRIu64 ") given-up %" PRIu64
		        "; auth failed %" PRIu64 " blocked %" PRIu64 " refused %" PRIu64 "\n",
		        attack_on(ike) ? "yes" : "no", st->attack_started, st->dh_computed,
		        attack_dh_last_second(ike), st->dh_saturated, st->drop_dh_budget,
		        st->puzzles_sent, st->puzzles_solved, st->puzzles_weak, st->puzzles_ignored,
		        st->puzzles_deferred, st->puzzles_auth_sent, st->puzzles_auth_solved,
		        st->puzzles_auth_weak, st->puzzles_auth_missing, st->puzzles_solved_local,
		        st->puzzles_auth_solved_local, st->puzzles_given_up, st->auth_failed,
		        st->auth_blocked, st->drop_auth_blocked);
		fprintf(out,
		        "crypto workers %u: jobs %" PRIu64 " out %zu; dropped pending %" PRIu64
		        " busy %" PRIu64 "; stale %" PRIu64 "\n",
		        ike_work_threads(ike), st->work_jobs, ike_work_outstanding(ike),
		        st->drop_work_pending, st->drop_work_busy, st->work_stale);
		return;
	}
	json_arr_end(&j);
	json_key(&j, "stats");
	json_obj_begin(&j);
	json_kv_uint(&j, "rx", st->rx);
	json_kv_uint(&j, "tx", st->tx);
	json_kv_uint(&j, "drop_malformed", st->drop_malformed);
	json_kv_uint(&j, "drop_unknown_spi", st->drop_unknown_spi);
	json_kv_uint(&j, "drop_icv", st->drop_icv);
	json_kv_uint(&j, "drop_msgid", st->drop_msgid);
	json_kv_uint(&j, "drop_rules", st->drop_rules);
	json_kv_uint(&j, "retransmits", st->retransmits);
	json_kv_uint(&j, "resent_responses", st->resent_responses);
	json_kv_uint(&j, "cookies_sent", st->cookies_sent);
	json_kv_uint(&j, "cookies_invalid", st->cookies_invalid);
	json_kv_uint(&j, "half_open", ike->half_open);
	json_kv_uint(&j, "half_open_bytes", ike->ho_bytes);
	json_kv_uint(&j, "half_open_expired", st->half_open_expired);
	json_kv_uint(&j, "half_open_evicted", st->half_open_evicted);
	json_kv_uint(&j, "frags_tx", st->frags_tx);
	json_kv_uint(&j, "frags_rx", st->frags_rx);
	json_kv_uint(&j, "drop_frag_retrans", st->drop_frag_retrans);
	ext_counters(ike, counter_json, &j);
	json_kv_uint(&j, "sa_established", st->sa_established);
	json_kv_uint(&j, "sa_failed", st->sa_failed);
	/* RFC 8019 */
	json_kv_uint(&j, "under_attack", attack_on(ike));
	json_kv_uint(&j, "attack_started", st->attack_started);
	json_kv_uint(&j, "dh_computed", st->dh_computed);
	json_kv_uint(&j, "dh_last_second", attack_dh_last_second(ike));
	json_kv_uint(&j, "dh_saturated", st->dh_saturated);
	json_kv_uint(&j, "drop_dh_budget", st->drop_dh_budget);
	json_kv_uint(&j, "puzzles_sent", st->puzzles_sent);
	json_kv_uint(&j, "puzzles_solved", st->puzzles_solved);
	json_kv_uint(&j, "puzzles_weak", st->puzzles_weak);
	json_kv_uint(&j, "puzzles_ignored", st->puzzles_ignored);
	json_kv_uint(&j, "puzzles_deferred", st->puzzles_deferred);
	json_kv_uint(&j, "puzzles_solved_local", st->puzzles_solved_local);
	json_kv_uint(&j, "puzzles_given_up", st->puzzles_given_up);
	json_kv_uint(&j, "puzzles_auth_sent", st->puzzles_auth_sent);
	json_kv_uint(&j, "puzzles_auth_solved", st->puzzles_auth_solved);
	json_kv_uint(&j, "puzzles_auth_weak", st->puzzles_auth_weak);
	json_kv_uint(&j, "puzzles_auth_missing", st->puzzles_auth_missing);
	json_kv_uint(&j, "puzzles_auth_solved_local", st->puzzles_auth_solved_local);
	json_kv_uint(&j, "auth_failed", st->auth_failed);
	json_kv_uint(&j, "auth_blocked", st->auth_blocked);
	json_kv_uint(&j, "drop_auth_blocked", st->drop_auth_blocked);
	/* crypto workers (work.c) */
	json_kv_uint(&j, "crypto_workers", ike_work_threads(ike));
	json_kv_uint(&j, "work_outstanding", ike_work_outstanding(ike));
	json_kv_uint(&j, "work_jobs", st->work_jobs);
	json_kv_uint(&j, "drop_work_pending", st->drop_work_pending);
	json_kv_uint(&j, "drop_work_busy", st->drop_work_busy);
	json_kv_uint(&j, "work_stale", st->work_stale);
	json_obj_end(&j);
	json_obj_end(&j);
}
