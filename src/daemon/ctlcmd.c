/*
 * The daemon's control commands (ctlcmd.h, rikectl(8)). Each handler
 * answers in text into r->text or, with --json, fills r->json (json-c),
 * which ctl.c wraps in the versioned envelope. Where a command has both a
 * text view and a JSON one (list-sas, list-conns, config, reload), the
 * JSON is built first and the text is rendered from it, so that the two
 * never disagree. Handlers run on the event loop and never block: "up" and
 * "down" only start the work, and rikectl waits for the result by asking
 * "list-conns NAME" (rikectl_ctl.c).
 */
#include "daemon/ctlcmd.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "daemon/config.h"
#include "daemon/dpglue.h"
#include "daemon/redirect_cmd.h"
#include "dataplane/dp.h"
#include "ike/ike.h"
#include "util/compiler.h"

struct cmd {
	const char *name;
	const char *usage; /* after the name */
	int min_args, max_args;
	enum ctl_err (*fn)(struct ctlcmd_host *h, int argc, char **argv, struct ctl_reply *r);
};

/* ---- small helpers ---- */

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return "";
	return json_object_get_string(v);
}

static uint64_t ju64(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_uint64(v) : 0;
}

static bool jbool(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && v && json_object_get_boolean(v);
}

static struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

static void put_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

static void put_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static void put_bool(struct json_object *o, const char *key, bool v)
{
	json_object_object_add(o, key, json_object_new_boolean(v));
}

static void rearm(struct ctlcmd_host *h)
{
	if (h->rearm)
		h->rearm(h->ctx);
}

/* "1d02h03m04s"-like, for uptimes and lifetimes. */
static void fmt_secs(uint64_t s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h%02" PRIu64 "m", s / 86400,
		         s % 86400 / 3600, s % 3600 / 60);
	else if (s >= 3600)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m%02" PRIu64 "s", s / 3600,
		         s % 3600 / 60, s % 60);
	else if (s >= 60)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else
		snprintf(buf, len, "%" PRIu64 "s", s);
}

/* ---- status: the daemon in summary ---- */

static struct json_object *dataplane_json(struct ctlcmd_host *h)
{
	static const char *const names[] = {"rx_packets",
	                                    "rx_bytes",
	                                    "tx_packets",
	                                    "tx_bytes",
	                                    "drop_replay",
	                                    "drop_auth",
	                                    "drop_unknown_spi",
	                                    "drop_no_sa",
	                                    "drop_no_policy",
	                                    "drop_selector",
	                                    "drop_malformed",
	                                    "drop_expired",
	                                    "drop_io",
	                                    "dummy_packets",
	                                    "drop_send",
	                                    "rx_steered",
	                                    "rx_via_loop",
	                                    "steer_misses",
	                                    "spi_worker_mismatches"};
	struct json_object *o = json_object_new_object();
	struct dp_stats st;

	dpglue_stats(*h->dpg, &st);
	const uint64_t v[] = {st.rx_packets,
	                      st.rx_bytes,
	                      st.tx_packets,
	                      st.tx_bytes,
	                      st.drop_replay,
	                      st.drop_auth,
	                      st.drop_unknown_spi,
	                      st.drop_no_sa,
	                      st.drop_no_policy,
	                      st.drop_selector,
	                      st.drop_malformed,
	                      st.drop_expired,
	                      st.drop_io,
	                      st.dummy_packets,
	                      st.drop_send,
	                      st.rx_steered,
	                      st.rx_via_loop,
	                      st.steer_misses,
	                      st.spi_worker_mismatches};
	put_str(o, "backend", dpglue_backend_name((*h->cfg)->dataplane));
	for (size_t i = 0; i < ARRAY_LEN(v); i++)
		put_u64(o, names[i], v[i]);
	return o;
}

/* The per-thread cipher context caches (src/crypto/ctx_cache.c), summed
 * over the loop, the data-plane workers and the crypto workers. */
static struct json_object *cipher_contexts_json(void)
{
	struct json_object *o = json_object_new_object();
	struct crypto_cipher_cache_stats st;

	crypto_cipher_cache_stats_all(&st);
	put_u64(o, "threads", st.threads);
	put_u64(o, "capacity", st.capacity);
	put_u64(o, "contexts", st.contexts);
	put_u64(o, "keyed", st.keyed);
	put_u64(o, "hits", st.hits);
	put_u64(o, "misses", st.misses);
	return o;
}

/* The heap as the allocator counts it (glibc's mallinfo2, all arenas):
 * what the daemon's objects use, what the allocator holds from the kernel
 * for them (the difference is free chunks and holes), and large blocks
 * mapped on their own. The RSS adds code, stacks and buffers. */
static struct json_object *memory_json(void)
{
	struct json_object *o = json_object_new_object();
	struct mallinfo2 m = mallinfo2();

	put_u64(o, "heap_in_use", m.uordblks + m.hblkhd);
	put_u64(o, "heap_held", m.arena + m.hblkhd);
	put_u64(o, "heap_free", m.fordblks);
	put_u64(o, "mmapped", m.hblkhd);
	return o;
}

/* Connections by state, IKE and Child SAs by state. */
static struct json_object *counts_json(struct ctlcmd_host *h)
{
	struct json_object *o = json_object_new_object(), *sas = ike_sas_json(*h->ike);
	const struct cfg *cfg = *h->cfg;
	uint64_t by[IKE_CONN_FAILED + 1] = {0}, ike_est = 0, child = 0, child_inst = 0;
	const char *why;

	for (size_t i = 0; i < cfg->nconns; i++)
		by[ike_conn_state(*h->ike, cfg->conns[i].name, &why)]++;
	for (size_t i = 0; i < json_object_array_length(sas); i++) {
		struct json_object *sa = json_object_array_get_idx(sas, i),
		                   *ch = jget(sa, "children");

		ike_est += !strcmp(jstr(sa, "state"), "ESTABLISHED");
		for (size_t k = 0; ch && k < json_object_array_length(ch); k++) {
			child++;
			child_inst += jbool(json_object_array_get_idx(ch, k), "installed");
		}
	}
	put_u64(o, "connections", cfg->nconns);
	for (int s = 0; s <= IKE_CONN_FAILED; s++)
		put_u64(o, ike_conn_state_name((enum ike_conn_state)s), by[s]);
	put_u64(o, "ike_sas", json_object_array_length(sas));
	put_u64(o, "ike_sas_established", ike_est);
	put_u64(o, "child_sas", child);
	put_u64(o, "child_sas_installed", child_inst);
	json_object_put(sas);
	return o;
}

static struct json_object *extensions_json(struct ctlcmd_host *h)
{
	struct json_object *o = json_object_new_object(), *rd = json_object_new_object();
	const struct cfg *cfg = *h->cfg;
	uint64_t qcd = 0, mobike = 0, frag = 0, redirect = 0;

	for (size_t i = 0; i < cfg->nconns; i++) {
		const struct cfg_conn *c = &cfg->conns[i];

		qcd += c->qcd && cfg->qcd_enabled;
		mobike += c->mobike;
		frag += c->fragmentation;
		redirect += c->redirect.accept || c->redirect.n_to || c->redirect.n_by_id;
	}
	put_bool(o, "qcd", cfg->qcd_enabled);
	put_u64(o, "qcd_connections", qcd);
	put_u64(o, "mobike_connections", mobike);
	put_u64(o, "fragmentation_connections", frag);
	put_u64(o, "redirect_connections", redirect);
	ike_redirect_status(*h->ike, NULL, rd);
	put_bool(o, "draining", jbool(rd, "draining"));
	json_object_put(rd);
	put_bool(o, "puzzles", cfg->puzzles);
	return o;
}

static enum ctl_err cmd_status(struct ctlcmd_host *h, int argc, char **argv, struct ctl_reply *r)
{
	struct json_object *o = r->json ? r->json : json_object_new_object(), *c, *dp, *x, *cc,
	                   *mem;
	uint64_t up = (uint64_t)(time(NULL) - h->started);
	char ups[32];

	/* The engine reports the counters it last heard of: refresh them. */
	dpglue_refresh_counters(*h->dpg);
	put_str(o, "version", h->version);
	put_u64(o, "pid", (uint64_t)getpid());
	put_u64(o, "uptime_s", up);
	put_str(o, "config", (*h->cfg)->path);
	json_object_object_add(o, "counts", c = counts_json(h));
	json_object_object_add(o, "dataplane", dp = dataplane_json(h));
	json_object_object_add(o, "extensions", x = extensions_json(h));
	json_object_object_add(o, "cipher_contexts", cc = cipher_contexts_json());
	json_object_object_add(o, "memory", mem = memory_json());
	if (r->json) {
		json_object_object_add(o, "stats", ike_stats_json(*h->ike));
		return CTL_OK;
	}
	fmt_secs(up, ups, sizeof(ups));
	fprintf(r->text, "riked %s, up %s, pid %" PRIu64 ", config %s\n", h->version, ups,
	        ju64(o, "pid"), jstr(o, "config"));
	fprintf(r->text,
	        "connections: %" PRIu64 " (%" PRIu64 " established, %" PRIu64
	        " connecting, %" PRIu64 " deleting, %" PRIu64 " failed, %" PRIu64 " idle)\n",
	        ju64(c, "connections"), ju64(c, "established"), ju64(c, "connecting"),
	        ju64(c, "deleting"), ju64(c, "failed"), ju64(c, "configured"));
	fprintf(r->text,
	        "sas: %" PRIu64 " IKE (%" PRIu64 " established), %" PRIu64 " Child (%" PRIu64
	        " installed)\n",
	        ju64(c, "ike_sas"), ju64(c, "ike_sas_established"), ju64(c, "child_sas"),
	        ju64(c, "child_sas_installed"));
	fprintf(r->text, "dataplane: %s", jstr(dp, "backend"));
	json_object_object_foreach(dp, k, v)
	{
		if (strcmp(k, "backend"))
			fprintf(r->text, " %s %s", k, json_object_get_string(v));
	}
	fprintf(r->text,
	        "\nextensions: qcd %s (%" PRIu64 " connections), mobike %" PRIu64
	        ", fragmentation %" PRIu64 ", redirect %" PRIu64 " (drain %s), puzzles %s\n",
	        jbool(x, "qcd") ? "on" : "off", ju64(x, "qcd_connections"),
	        ju64(x, "mobike_connections"), ju64(x, "fragmentation_connections"),
	        ju64(x, "redirect_connections"), jbool(x, "draining") ? "on" : "off",
	        jbool(x, "puzzles") ? "on" : "off");
	fprintf(r->text,
	        "cipher contexts: %" PRIu64 " (%" PRIu64 " keyed) of %" PRIu64 " in %" PRIu64
	        " threads, hits %" PRIu64 ", misses %" PRIu64 "\n",
	        ju64(cc, "contexts"), ju64(cc, "keyed"), ju64(cc, "capacity"), ju64(cc, "threads"),
	        ju64(cc, "hits"), ju64(cc, "misses"));
	fprintf(r->text,
	        "memory: heap %" PRIu64 " KiB in use, %" PRIu64 " KiB held (%" PRIu64
	        " KiB free in it), %" PRIu64 " KiB of it mapped apart\n",
	        ju64(mem, "heap_in_use") >> 10, ju64(mem, "heap_held") >> 10,
	        ju64(mem, "heap_free") >> 10, ju64(mem, "mmapped") >> 10);
	ike_stats_text(*h->ike, r->text);
	json_object_put(o);
	return CTL_OK;
}

/* ---- list-sas: every SA, close to swanctl --list-sas ---- */

/* An algorithm's registered name without its "ENCR_"/"AUTH_" prefix, as
 * swanctl shows them ("AES_GCM_16", "HMAC_SHA2_256_128"). */
static const char *alg(struct json_object *o, const char *key)
{
	const char *s = jstr(o, key);

	return !strncmp(s, "ENCR_", 5) || !strncmp(s, "AUTH_", 5) ? s + 5 : s;
}

/* No integrity transform (AEAD, RFC 5282): nothing to show. */
static bool no_integ(struct json_object *o)
{
	return !strcmp(alg(o, "integ"), "NONE");
}

static void text_algs(FILE *f, struct json_object *sa)
{
	fprintf(f, "  %s", alg(sa, "encr"));
	if (ju64(sa, "encr_keybits"))
		fprintf(f, "-%" PRIu64, ju64(sa, "encr_keybits"));
	if (!no_integ(sa))
		fprintf(f, "/%s", alg(sa, "integ"));
	fprintf(f, "/%s/%s\n", jstr(sa, "prf"), jstr(sa, "dh"));
}

static void text_ts(FILE *f, const char *label, struct json_object *a)
{
	fprintf(f, "    %-6s", label);
	for (size_t i = 0; a && i < json_object_array_length(a); i++)
		fprintf(f, " %s", json_object_get_string(json_object_array_get_idx(a, i)));
	if (!a || !json_object_array_length(a))
		fputs(" dynamic", f);
	fputc('\n', f);
}

static void text_child(FILE *f, const char *conn, struct json_object *c)
{
	char a[32], b[32], e[32];

	fprintf(f, "  %s: reqid %" PRIu64 ", %s, %s, ESP:%s", conn, ju64(c, "reqid"),
	        jstr(c, "state"), jstr(c, "mode"), alg(c, "encr"));
	if (ju64(c, "encr_keybits"))
		fprintf(f, "-%" PRIu64, ju64(c, "encr_keybits"));
	if (!no_integ(c))
		fprintf(f, "/%s", alg(c, "integ"));
	if (strcmp(jstr(c, "pfs_group"), "none"))
		fprintf(f, "/%s", jstr(c, "pfs_group"));
	fprintf(f, "%s%s\n", jbool(c, "esn") ? "/ESN" : "", jbool(c, "udp_encap") ? ", UDP" : "");
	fmt_secs(ju64(c, "age_s"), a, sizeof(a));
	fmt_secs(ju64(c, "rekey_in_s"), b, sizeof(b));
	fmt_secs(ju64(c, "expires_in_s"), e, sizeof(e));
	fprintf(f, "    installed %s ago, rekeying in %s, expires in %s\n", a, b, e);
	fprintf(f, "    in  %s, %10" PRIu64 " bytes, %8" PRIu64 " packets\n", jstr(c, "spi_in"),
	        ju64(c, "bytes_in"), ju64(c, "packets_in"));
	fprintf(f, "    out %s, %10" PRIu64 " bytes, %8" PRIu64 " packets\n", jstr(c, "spi_out"),
	        ju64(c, "bytes_out"), ju64(c, "packets_out"));
	text_ts(f, "local", jget(c, "ts_local"));
	text_ts(f, "remote", jget(c, "ts_remote"));
}

static void text_sa(struct ctlcmd_host *h, FILE *f, struct json_object *sa)
{
	bool ini = !strcmp(jstr(sa, "role"), "initiator");
	struct json_object *ch = jget(sa, "children");
	char a[32], b[32], e[32], ext[256];

	fprintf(f, "%s: #%" PRIu64 ", %s, IKEv2, %s, %s_i%s %s_r%s\n", jstr(sa, "conn"),
	        ju64(sa, "serial"), jstr(sa, "state"), jstr(sa, "role"), jstr(sa, "spi_i"),
	        ini ? "*" : "", jstr(sa, "spi_r"), ini ? "" : "*");
	fprintf(f, "  local  '%s' @ %s[%" PRIu64 "]\n",
	        jstr(sa, "local_id")[0] ? jstr(sa, "local_id") : jstr(sa, "local_host"),
	        jstr(sa, "local_host"), ju64(sa, "local_port"));
	fprintf(f, "  remote '%s' @ %s[%" PRIu64 "]\n", jstr(sa, "remote_id"),
	        jstr(sa, "remote_host"), ju64(sa, "remote_port"));
	text_algs(f, sa);
	fmt_secs(ju64(sa, "age_s"), a, sizeof(a));
	fmt_secs(ju64(sa, "rekey_in_s"), b, sizeof(b));
	fmt_secs(ju64(sa, "expires_in_s"), e, sizeof(e));
	fprintf(f, "  established %s ago, rekeying in %s, expires in %s%s\n", a, b, e,
	        jbool(sa, "nat_t") ? ", NAT-T" : "");
	ike_sa_ext_text(*h->ike, ju64(sa, "serial"), ext, sizeof(ext));
	if (ext[0])
		fprintf(f, "  extensions:%s\n", ext);
	for (size_t i = 0; ch && i < json_object_array_length(ch); i++)
		text_child(f, jstr(sa, "conn"), json_object_array_get_idx(ch, i));
}

static enum ctl_err cmd_list_sas(struct ctlcmd_host *h, int argc, char **argv, struct ctl_reply *r)
{
	struct json_object *sas, *keep;
	const char *name = argc > 1 ? argv[1] : NULL;

	dpglue_refresh_counters(*h->dpg);
	sas = ike_sas_json(*h->ike);
	if (name && !conf_conn_lookup(*h->cfg, name)) {
		bool any = false;

		for (size_t i = 0; i < json_object_array_length(sas); i++)
			any |= !strcmp(jstr(json_object_array_get_idx(sas, i), "conn"), name);
		if (!any) {
			json_object_put(sas);
			fprintf(r->text, "no connection '%s'\n", name);
			return CTL_E_NOT_FOUND;
		}
	}
	keep = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(sas); i++) {
		struct json_object *sa = json_object_array_get_idx(sas, i);

		if (!name || !strcmp(jstr(sa, "conn"), name))
			json_object_array_add(keep, json_object_get(sa));
	}
	json_object_put(sas);
	if (r->json) {
		json_object_object_add(r->json, "sas", keep);
		return CTL_OK;
	}
	for (size_t i = 0; i < json_object_array_length(keep); i++)
		text_sa(h, r->text, json_object_array_get_idx(keep, i));
	if (!json_object_array_length(keep))
		fprintf(r->text, "no SAs\n");
	json_object_put(keep);
	return CTL_OK;
}

/* ---- list-conns: configured connections and their state ---- */

static struct json_object *conn_json(struct ctlcmd_host *h, const struct cfg_conn *c)
{
	struct json_object *o = json_object_new_object(), *lt = json_object_new_array(),
	                   *rt = json_object_new_array();
	char buf[128];
	const char *why;
	enum ike_conn_state st = ike_conn_state(*h->ike, c->name, &why);

	put_str(o, "name", c->name);
	put_str(o, "state", ike_conn_state_name(st));
	put_str(o, "last_error", why);
	cfg_addr_format(&c->local, buf, sizeof(buf));
	put_str(o, "local", buf);
	cfg_addr_format(&c->remote, buf, sizeof(buf));
	put_str(o, "remote", buf);
	put_str(o, "local_id", c->local_id.type ? c->local_id.text : "%any");
	put_str(o, "remote_id", c->remote_id.type ? c->remote_id.text : "%any");
	put_str(o, "start", cfg_start_name(c->start));
	put_str(o, "mode", cfg_mode_name(c->mode));
	for (size_t i = 0; i < c->n_local_ts; i++) {
		cfg_ts_format(&c->local_ts[i], buf, sizeof(buf));
		json_object_array_add(lt, json_object_new_string(buf));
	}
	for (size_t i = 0; i < c->n_remote_ts; i++) {
		cfg_ts_format(&c->remote_ts[i], buf, sizeof(buf));
		json_object_array_add(rt, json_object_new_string(buf));
	}
	json_object_object_add(o, "local_ts", lt);
	json_object_object_add(o, "remote_ts", rt);
	return o;
}

static void text_conn(FILE *f, struct json_object *c)
{
	fprintf(f, "%s: %s", jstr(c, "name"), jstr(c, "state"));
	if (jstr(c, "last_error")[0])
		fprintf(f, " (%s%s)", strcmp(jstr(c, "state"), "failed") ? "last error: " : "",
		        jstr(c, "last_error"));
	fprintf(f, "\n  %s <-> %s, start %s, %s\n", jstr(c, "local"), jstr(c, "remote"),
	        jstr(c, "start"), jstr(c, "mode"));
	fprintf(f, "  local  '%s'\n", jstr(c, "local_id"));
	text_ts(f, "", jget(c, "local_ts"));
	fprintf(f, "  remote '%s'\n", jstr(c, "remote_id"));
	text_ts(f, "", jget(c, "remote_ts"));
}

static enum ctl_err cmd_list_conns(struct ctlcmd_host *h, int argc, char **argv,
                                   struct ctl_reply *r)
{
	const struct cfg *cfg = *h->cfg;
	struct json_object *a = json_object_new_array();

	if (argc > 1 && !conf_conn_lookup(cfg, argv[1])) {
		json_object_put(a);
		fprintf(r->text, "no connection '%s'\n", argv[1]);
		return CTL_E_NOT_FOUND;
	}
	for (size_t i = 0; i < cfg->nconns; i++)
		if (argc < 2 || !strcmp(cfg->conns[i].name, argv[1]))
			json_object_array_add(a, conn_json(h, &cfg->conns[i]));
	if (r->json) {
		json_object_object_add(r->json, "connections", a);
		return CTL_OK;
	}
	for (size_t i = 0; i < json_object_array_length(a); i++)
		text_conn(r->text, json_object_array_get_idx(a, i));
	if (!cfg->nconns)
		fprintf(r->text, "no connections configured\n");
	json_object_put(a);
	return CTL_OK;
}

/* ---- up, down, rekey, dpd ---- */

static enum ctl_err conn_result(struct ctl_reply *r, const char *name, const char *state,
                                const char *text)
{
	if (r->json) {
		put_str(r->json, "conn", name);
		put_str(r->json, "state", state);
		put_bool(r->json, "already_established", !strcmp(text, "already established"));
	} else {
		fprintf(r->text, "'%s' %s\n", name, text);
	}
	return CTL_OK;
}

static enum ctl_err cmd_up(struct ctlcmd_host *h, int argc, char **argv, struct ctl_reply *r)
{
	const char *name = argv[1], *why;
	enum ike_conn_state st;

	if (!conf_conn_lookup(*h->cfg, name)) {
		fprintf(r->text, "no connection '%s'\n", name);
		return CTL_E_NOT_FOUND;
	}
	st = ike_conn_state(*h->ike, name, &why);
	if (st == IKE_CONN_ESTABLISHED)
		return conn_result(r, name, "established", "already established");
	if (st == IKE_CONN_CONNECTING)
		return conn_result(r, name, "connecting", "already connecting");
	if (ike_up(*h->ike, name) < 0) {
		rearm(h);
		fprintf(r->text, "cannot initiate '%s': it has no remote address (%%any)\n", name);
		return CTL_E_FAILED;
	}
	rearm(h);
	return conn_result(r, name, "connecting", "initiating");
}

static enum ctl_err cmd_down(struct ctlcmd_host *h, int argc, char **argv, struct ctl_reply *r)
{
	const char *name = argv[1], *why;
	enum ike_conn_state st;

	st = ike_conn_state(*h->ike, name, &why);
	if (!conf_conn_lookup(*h->cfg, name) && st != IKE_CONN_ESTABLISHED &&
	    st != IKE_CONN_CONNECTING && st != IKE_CONN_DELETING) {
		fprintf(r->text, "no connection '%s'\n", name);
		return CTL_E_NOT_FOUND;
	}
	if (st != IKE_CONN_ESTABLISHED && st != IKE_CONN_CONNECTING) {
		fprintf(r->text, "no SA for '%s'%s\n", name,
		        st == IKE_CONN_DELETING ? " (already being deleted)" : "");
		return CTL_E_NO_SA;
	}
	if (ike_down(*h->ike, name) < 0) {
		rearm(h);
		fprintf(r->text, "no connection '%s'\n", name);
		return CTL_E_NOT_FOUND;
	}
	rearm(h);
	return conn_result(r, name, "deleting", "closing");
}

static enum ctl_err cmd_exchange(struct ctlcmd_host *h, int argc, char **argv, struct ctl_reply *r)
{
	static const struct {
		const char *cmd;
		int (*fn)(struct ike *, const char *);
	} cmds[] = {
	    {"rekey-ike", ike_rekey_ike},
	    {"rekey-child", ike_rekey_child},
	    {"dpd", ike_dpd_now},
	};
	int rc = -1;

	if (!conf_conn_lookup(*h->cfg, argv[1])) {
		fprintf(r->text, "no connection '%s'\n", argv[1]);
		return CTL_E_NOT_FOUND;
	}
	for (size_t i = 0; i < ARRAY_LEN(cmds); i++)
		if (!strcmp(argv[0], cmds[i].cmd))
			rc = cmds[i].fn(*h->ike, argv[1]);
	rearm(h);
	if (rc < 0) {
		fprintf(r->text, "no established SA for '%s'\n", argv[1]);
		return CTL_E_NO_SA;
	}
	if (r->json) {
		put_str(r->json, "conn", argv[1]);
		put_bool(r->json, "started", true);
	} else {
		fprintf(r->text, "%s '%s' started\n", argv[0], argv[1]);
	}
	return CTL_OK;
}

/* ---- reload ---- */

static void add_name(struct json_object *report, const char *key, const char *name)
{
	struct json_object *a = jget(report, key);

	json_object_array_add(a, json_object_new_string(name));
}

void ctlcmd_reload_plan(const struct cfg *old_cfg, const struct cfg *n, struct json_object *report)
{
	struct json_object *changed = json_object_new_array();

	json_object_object_add(report, "added", json_object_new_array());
	json_object_object_add(report, "removed", json_object_new_array());
	for (size_t i = 0; i < old_cfg->nconns; i++)
		if (!conf_conn_lookup(n, old_cfg->conns[i].name))
			add_name(report, "removed", old_cfg->conns[i].name);
	for (size_t i = 0; i < n->nconns; i++) {
		const struct cfg_conn *nc = &n->conns[i], *oc = conf_conn_lookup(old_cfg, nc->name);
		struct json_object *c;

		if (!oc) {
			add_name(report, "added", nc->name);
			continue;
		}
		if (cfg_conn_equal(oc, nc))
			continue;
		c = json_object_new_object();
		put_str(c, "name", nc->name);
		put_str(c, "action", cfg_conn_in_place(oc, nc) ? "in-place" : "replace");
		json_object_array_add(changed, c);
	}
	json_object_object_add(report, "changed", changed);
}

void ctlcmd_reload_apply(struct ike *ike, struct json_object *report)
{
	struct json_object *changed = jget(report, "changed");

	for (size_t i = 0; changed && i < json_object_array_length(changed); i++) {
		struct json_object *c = json_object_array_get_idx(changed, i);

		if (!strcmp(jstr(c, "action"), "replace"))
			(void)!ike_replace(ike, jstr(c, "name"));
	}
}

static size_t text_names(char *buf, size_t len, size_t off, const char *label,
                         struct json_object *a, bool changed)
{
	size_t n = a ? json_object_array_length(a) : 0;

	for (size_t i = 0; i < n && off < len; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		const char *name = changed ? jstr(e, "name") : json_object_get_string(e);
		const char *how = !changed                               ? ""
		                  : strcmp(jstr(e, "action"), "replace") ? " (in place)"
		                                                         : " (replaced)";

		off += (size_t)snprintf(buf + off, len - off, "%s%s%s%s",
		                        i     ? ", "
		                        : off ? "; "
		                              : "",
		                        i ? "" : label, name, how);
	}
	return off < len ? off : len;
}

void ctlcmd_reload_text(struct json_object *report, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	off = text_names(buf, len, off, "added ", jget(report, "added"), false);
	off = text_names(buf, len, off, "changed ", jget(report, "changed"), true);
	off = text_names(buf, len, off, "removed ", jget(report, "removed"), false);
	if (!off)
		snprintf(buf, len, "no connection changed");
}

static enum ctl_err cmd_reload(struct ctlcmd_host *h, int argc, char **argv, struct ctl_reply *r)
{
	struct json_object *rep = json_object_new_object();
	char err[512], text[1024];

	if (!h->reload || h->reload(h->ctx, rep, err, sizeof(err)) < 0) {
		json_object_put(rep);
		fprintf(r->text, "%s\n", h->reload ? err : "reload is not supported");
		return CTL_E_FAILED;
	}
	put_u64(rep, "connections", (*h->cfg)->nconns);
	if (r->json) {
		json_object_object_foreach(rep, k, v)
		    json_object_object_add(r->json, k, json_object_get(v));
	} else {
		ctlcmd_reload_text(rep, text, sizeof(text));
		fprintf(r->text, "reloaded %zu connections: %s\n", (*h->cfg)->nconns, text);
	}
	json_object_put(rep);
	return CTL_OK;
}

/* ---- qcd ---- */

static enum ctl_err cmd_qcd(struct ctlcmd_host *h, int argc, char **argv, struct ctl_reply *r)
{
	bool reset = !strcmp(argv[1], "reset"), force = argc == 3 && !strcmp(argv[2], "--force");
	char what[512] = "";
	int rc;

	if ((strcmp(argv[1], "rollover") && !reset) || (argc == 3 && (!reset || !force))) {
		fprintf(r->text, "usage: qcd rollover | qcd reset [--force]\n");
		return CTL_E_USAGE;
	}
	if (reset) {
		rc = ike_qcd_reset(*h->ike, force, what, sizeof(what));
	} else {
		rc = ike_qcd_rollover(*h->ike);
		snprintf(what, sizeof(what),
		         rc < 0 ? "rollover failed (see the log)" : "rolled over");
	}
	rearm(h);
	if (rc != 0) {
		fprintf(r->text, "qcd %s: %s\n", argv[1], what);
		return rc > 0 ? CTL_E_REFUSED : CTL_E_FAILED;
	}
	if (r->json) {
		put_str(r->json, "action", argv[1]);
		put_bool(r->json, "forced", force);
		put_str(r->json, "message", what);
	} else {
		fprintf(r->text, "qcd %s: %s\n", argv[1], what);
	}
	return CTL_OK;
}

/* ---- redirect (RFC 5685) ---- */

static enum ctl_err redirect_bad_gw(const char *gw, struct ctl_reply *r)
{
	fprintf(r->text, "bad gateway '%s': not an IPv4 or IPv6 address or an FQDN\n", gw);
	return CTL_E_FAILED;
}

/* RFC 5685 5: gateway-initiated redirect of the selected established SAs. */
static enum ctl_err redirect_move(struct ctlcmd_host *h, const struct redirect_cmd *c,
                                  struct ctl_reply *r)
{
	int n = ike_redirect(*h->ike, &c->sel, c->to);

	rearm(h);
	if (n < 0)
		return redirect_bad_gw(c->to, r);
	if (n == 0) {
		fprintf(r->text,
		        "no established SA matches whose peer announced REDIRECT_SUPPORTED\n");
		return CTL_E_NO_SA;
	}
	if (!r->json) {
		fprintf(r->text, "redirected %d SA(s) to %s\n", n, c->to);
		return CTL_OK;
	}
	put_u64(r->json, "redirected", (uint64_t)n);
	put_str(r->json, "to", c->to);
	return CTL_OK;
}

/* Drain: new clients are redirected in IKE_SA_INIT, established ones moved at c->rate/s. */
static enum ctl_err redirect_drain(struct ctlcmd_host *h, const struct redirect_cmd *c,
                                   struct ctl_reply *r)
{
	struct json_object *st = json_object_new_object();
	uint64_t left;

	if (ike_redirect_drain(*h->ike, c->kind == REDIRECT_CMD_DRAIN ? c->to : NULL, c->rate) <
	    0) {
		rearm(h);
		json_object_put(st);
		return redirect_bad_gw(c->to, r);
	}
	rearm(h);
	ike_redirect_status(*h->ike, NULL, st);
	left = ju64(st, "left");
	json_object_put(st);
	if (!r->json) {
		if (c->kind == REDIRECT_CMD_STOP)
			fprintf(r->text, "drain stopped\n");
		else
			fprintf(r->text, "draining to %s at %u/s, %" PRIu64 " SA(s) to move\n",
			        c->to, c->rate, left);
		return CTL_OK;
	}
	put_bool(r->json, "draining", c->kind == REDIRECT_CMD_DRAIN);
	if (c->kind == REDIRECT_CMD_DRAIN) {
		put_str(r->json, "to", c->to);
		put_u64(r->json, "rate", c->rate);
		put_u64(r->json, "left", left);
	}
	return CTL_OK;
}

/* "redirect ..." (rikectl(8)); rikectl checks the syntax too, so a usage
 * error normally never gets here. */
static enum ctl_err cmd_redirect(struct ctlcmd_host *h, int argc, char **argv, struct ctl_reply *r)
{
	struct redirect_cmd c;
	char why[160];

	if (redirect_cmd_parse(argc, argv, &c, why, sizeof(why)) < 0) {
		fprintf(r->text, "%s\nusage: " REDIRECT_CMD_USAGE, why);
		return CTL_E_USAGE;
	}
	switch (c.kind) {
	case REDIRECT_CMD_MOVE:
		return redirect_move(h, &c, r);
	case REDIRECT_CMD_DRAIN:
	case REDIRECT_CMD_STOP:
		return redirect_drain(h, &c, r);
	case REDIRECT_CMD_STATUS:
		ike_redirect_status(*h->ike, r->json ? NULL : r->text, r->json);
		return CTL_OK;
	}
	return CTL_E_USAGE;
}

/* ---- config: the configuration as loaded ---- */

/* JSON as indented "key = value" lines (strings quoted, arrays inline). */
static void text_tree(FILE *f, struct json_object *o, int depth)
{
	json_object_object_foreach(o, k, v)
	{
		if (v && json_object_is_type(v, json_type_object)) {
			fprintf(f, "%*s%s {\n", depth * 2, "", k);
			text_tree(f, v, depth + 1);
			fprintf(f, "%*s}\n", depth * 2, "");
		} else {
			fprintf(f, "%*s%s = %s\n", depth * 2, "", k,
			        json_object_to_json_string_ext(
			            v, JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
		}
	}
}

static enum ctl_err cmd_config(struct ctlcmd_host *h, int argc, char **argv, struct ctl_reply *r)
{
	struct json_object *o = cfg_to_json(*h->cfg), *conns = jget(o, "connections");

	if (r->json) {
		json_object_object_foreach(o, k, v)
		    json_object_object_add(r->json, k, json_object_get(v));
		json_object_put(o);
		return CTL_OK;
	}
	fprintf(r->text, "# %s as loaded (pre-shared keys hidden)\n", jstr(o, "file"));
	text_tree(r->text, jget(o, "global"), 0);
	for (size_t i = 0; conns && i < json_object_array_length(conns); i++) {
		struct json_object *c = json_object_array_get_idx(conns, i);

		fprintf(r->text, "connection %s {\n", jstr(c, "name"));
		text_tree(r->text, c, 1);
		fprintf(r->text, "}\n");
	}
	json_object_put(o);
	return CTL_OK;
}

/* ---- dispatch ---- */

static const struct cmd cmds[] = {
    {"status", "", 0, 0, cmd_status},
    {"list-sas", "[NAME]", 0, 1, cmd_list_sas},
    {"list-conns", "[NAME]", 0, 1, cmd_list_conns},
    {"up", "NAME", 1, 1, cmd_up},
    {"down", "NAME", 1, 1, cmd_down},
    {"rekey-ike", "NAME", 1, 1, cmd_exchange},
    {"rekey-child", "NAME", 1, 1, cmd_exchange},
    {"dpd", "NAME", 1, 1, cmd_exchange},
    {"reload", "", 0, 0, cmd_reload},
    {"config", "", 0, 0, cmd_config},
    {"qcd", "rollover | qcd reset [--force]", 1, 2, cmd_qcd},
    {"redirect", "...", 1, CTL_MAX_ARGS, cmd_redirect},
};

enum ctl_err ctlcmd_run(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	struct ctlcmd_host *h = ctx;

	for (size_t i = 0; i < ARRAY_LEN(cmds); i++) {
		if (strcmp(argv[0], cmds[i].name))
			continue;
		if (argc - 1 < cmds[i].min_args || argc - 1 > cmds[i].max_args) {
			fprintf(r->text, "usage: %s%s%s\n", cmds[i].name,
			        cmds[i].usage[0] ? " " : "", cmds[i].usage);
			return CTL_E_USAGE;
		}
		return cmds[i].fn(h, argc, argv, r);
	}
	fprintf(r->text, "unknown command '%s'\n", argv[0]);
	return CTL_E_UNKNOWN;
}
