/*
 * The metrics endpoint (see metrics.h): names, HELP texts and types of
 * every metric riked exports, the exposition writer, and the HTTP server
 * (libmicrohttpd on the libevent loop). The list of names is riked's
 * promise to dashboards: riked-metrics(7) lists the same ones, and a
 * name never changes meaning. Counters end in _total (Prometheus naming);
 * a Child SA's counters are one series per SA (its inbound SPI names it),
 * so they only grow: a rekey starts a new series.
 */
#include "daemon/metrics.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/dpglue.h"
#include "dataplane/dp.h"
#include "ike/ike.h"
#include "util/log.h"

#define METRICS_MAX_CONNS   16 /* HTTP connections at once */
#define METRICS_TIMEOUT_SEC 10 /* a scrape that stalls is dropped */
#define METRICS_PATH        "/metrics"
#define METRICS_CTYPE       "text/plain; version=0.0.4; charset=utf-8"

struct metrics {
	struct MHD_Daemon *mhd;
	struct event *ev_fd, *ev_timer;
	struct ike *ike;    /* borrowed */
	struct dpglue *dpg; /* borrowed */
	const char *version;
	double start_time;
};

/* ---- the exposition format ---- */

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void label_value(FILE *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', out);
		if (*v == '\n')
			fputs("\\n", out);
		else
			fputc(*v, out);
	}
}

/* name{k1="v1",k2="v2"} value; labels NULL-terminated in pairs, or NULL. */
static void sample(FILE *out, const char *name, const char *const *labels, uint64_t v)
{
	fputs(name, out);
	if (labels && labels[0]) {
		fputc('{', out);
		for (size_t i = 0; labels[i]; i += 2) {
			fprintf(out, "%s%s=\"", i ? "," : "", labels[i]);
			label_value(out, labels[i + 1]);
			fputc('"', out);
		}
		fputc('}', out);
	}
	fprintf(out, " %" PRIu64 "\n", v);
}

static void one(FILE *out, const char *name, const char *type, const char *help, uint64_t v)
{
	family(out, name, type, help);
	sample(out, name, NULL, v);
}

/* ---- the engine's counters (struct ike_stats) ---- */

struct stat_def {
	const char *name, *help;
	const char *label; /* "reason" value for a drop, or NULL */
	size_t off;
};

#define ST(f) offsetof(struct ike_stats, f)

/* Plain counters, one family each. */
static const struct stat_def ike_plain[] = {
    {"rike_ike_messages_received_total", "IKE datagrams received (RFC 7296)", NULL, ST(rx)},
    {"rike_ike_messages_sent_total", "IKE datagrams sent, retransmissions included", NULL, ST(tx)},
    {"rike_ike_retransmits_total", "IKE requests retransmitted (RFC 7296 2.1)", NULL,
     ST(retransmits)},
    {"rike_ike_responses_resent_total", "cached IKE responses resent to retransmitted requests",
     NULL, ST(resent_responses)},
    {"rike_ike_cookies_sent_total", "COOKIE notifies sent (RFC 7296 2.6)", NULL, ST(cookies_sent)},
    {"rike_ike_cookies_invalid_total", "IKE_SA_INIT requests with a COOKIE that did not verify",
     NULL, ST(cookies_invalid)},
    {"rike_ike_half_open_expired_total", "half-open SAs that timed out (RFC 8019 4.1)", NULL,
     ST(half_open_expired)},
    {"rike_ike_half_open_evicted_total", "half-open SAs dropped for room (RFC 8019 5)", NULL,
     ST(half_open_evicted)},
    {"rike_ike_sa_established_total", "IKE SAs established", NULL, ST(sa_established)},
    {"rike_ike_sa_failed_total", "IKE SA setups that failed", NULL, ST(sa_failed)},
    {"rike_ike_fragments_sent_total", "IKE Fragment messages sent (RFC 7383)", NULL, ST(frags_tx)},
    {"rike_ike_fragments_received_total", "IKE Fragment messages accepted (RFC 7383)", NULL,
     ST(frags_rx)},
    {"rike_ike_attacks_total", "times the responder went under attack (RFC 8019 4)", NULL,
     ST(attack_started)},
    {"rike_ike_dh_computed_total", "IKE_SA_INIT Diffie-Hellman computations", NULL,
     ST(dh_computed)},
    {"rike_ike_dh_reused_total",
     "IKE_SA_INIT requests answered with a kept key pair (dh_reuse, RFC 7296 2.12)", NULL,
     ST(dh_reused)},
    {"rike_ike_dh_saturated_seconds_total", "seconds in which the DH budget was reached", NULL,
     ST(dh_saturated)},
    {"rike_ike_puzzles_sent_total", "puzzles sent with cookies (RFC 8019 7.1)", NULL,
     ST(puzzles_sent)},
    {"rike_ike_puzzles_solved_total", "IKE_SA_INIT puzzle solutions accepted", NULL,
     ST(puzzles_solved)},
    {"rike_ike_puzzles_weak_total", "IKE_SA_INIT puzzle solutions weak or malformed", NULL,
     ST(puzzles_weak)},
    {"rike_ike_puzzles_ignored_total", "IKE_SA_INIT requests without a solution to a puzzle", NULL,
     ST(puzzles_ignored)},
    {"rike_ike_puzzles_deferred_total", "low-priority requests deferred (RFC 8019 7.1.5)", NULL,
     ST(puzzles_deferred)},
    {"rike_ike_puzzles_auth_sent_total", "IKE_AUTH puzzles sent (RFC 8019 7.2)", NULL,
     ST(puzzles_auth_sent)},
    {"rike_ike_puzzles_auth_solved_total", "IKE_AUTH puzzle solutions accepted", NULL,
     ST(puzzles_auth_solved)},
    {"rike_ike_puzzles_auth_weak_total", "IKE_AUTH puzzle solutions weak or malformed", NULL,
     ST(puzzles_auth_weak)},
    {"rike_ike_puzzles_auth_missing_total", "IKE_AUTH requests without a puzzle solution", NULL,
     ST(puzzles_auth_missing)},
    {"rike_ike_puzzles_solved_local_total", "puzzles solved as initiator", NULL,
     ST(puzzles_solved_local)},
    {"rike_ike_puzzles_auth_solved_local_total", "IKE_AUTH puzzles solved as initiator", NULL,
     ST(puzzles_auth_solved_local)},
    {"rike_ike_puzzles_given_up_total", "puzzles not solved in the budget, as initiator", NULL,
     ST(puzzles_given_up)},
    {"rike_ike_auth_failed_total", "failed IKE_AUTH as responder (RFC 8019 5)", NULL,
     ST(auth_failed)},
    {"rike_ike_auth_blocked_total", "sources blocked after failed IKE_AUTH (RFC 8019 5)", NULL,
     ST(auth_blocked)},
};

/* rike_ike_dropped_total{reason}: IKE input dropped, by reason. */
static const struct stat_def ike_drops[] = {
    {NULL, NULL, "malformed", ST(drop_malformed)},
    {NULL, NULL, "unknown_spi", ST(drop_unknown_spi)},
    {NULL, NULL, "icv", ST(drop_icv)},
    {NULL, NULL, "message_id", ST(drop_msgid)},
    {NULL, NULL, "payload_rules", ST(drop_rules)},
    {NULL, NULL, "fragment_retransmit", ST(drop_frag_retrans)},
    {NULL, NULL, "dh_budget", ST(drop_dh_budget)},
    {NULL, NULL, "source_blocked", ST(drop_auth_blocked)},
};

static uint64_t stat_at(const struct ike_stats *st, size_t off)
{
	uint64_t v;

	memcpy(&v, (const uint8_t *)st + off, sizeof(v));
	return v;
}

static void write_ike_stats(struct ike *ike, FILE *out)
{
	const struct ike_stats *st = ike_get_stats(ike);

	for (size_t i = 0; i < ARRAY_LEN(ike_plain); i++)
		one(out, ike_plain[i].name, "counter", ike_plain[i].help,
		    stat_at(st, ike_plain[i].off));
	family(out, "rike_ike_dropped_total", "counter", "IKE datagrams dropped, by reason");
	for (size_t i = 0; i < ARRAY_LEN(ike_drops); i++) {
		const char *l[] = {"reason", ike_drops[i].label, NULL};

		sample(out, "rike_ike_dropped_total", l, stat_at(st, ike_drops[i].off));
	}
}

/* ---- the extensions' counters (QCD, Redirect, MOBIKE), by their names ---- */

static const struct {
	const char *name, *help;
} ext_help[] = {
    {"qcd_tokens_sent", "QCD tokens sent to peers (RFC 6290 4.1)"},
    {"qcd_tokens_stored", "QCD tokens of peers stored (RFC 6290 4.2)"},
    {"qcd_tokens_answered", "INVALID_IKE_SPI answers carrying QCD tokens (RFC 6290 4.5)"},
    {"qcd_tokens_verified", "peers' QCD tokens that verified: SA removed (RFC 6290 4.4)"},
    {"qcd_tokens_rejected", "QCD tokens that matched none held (RFC 6290 8.1)"},
    {"redirects_sent_init", "REDIRECTs sent in IKE_SA_INIT (RFC 5685 4)"},
    {"redirects_sent_auth", "REDIRECTs sent in IKE_AUTH (RFC 5685 6)"},
    {"redirects_sent_active", "REDIRECTs sent to established SAs (RFC 5685 5)"},
    {"redirects_followed", "REDIRECTs followed as client (RFC 5685)"},
    {"redirects_refused", "REDIRECTs refused as client (not allowed, over the limit)"},
    {"redirects_ignored", "REDIRECTs ignored as client (malformed or unverifiable)"},
    {"mobike_updates_sent", "UPDATE_SA_ADDRESSES requests sent (RFC 4555 3.5)"},
    {"mobike_updates_received", "UPDATE_SA_ADDRESSES requests received (RFC 4555 3.5)"},
    {"mobike_refused", "MOBIKE updates refused"},
    {"mobike_rr_checks", "MOBIKE return routability checks (RFC 4555 3.7)"},
    {"mobike_moves", "IKE SAs moved to another path (RFC 4555)"},
    {"mobike_announcements", "address set announcements sent (RFC 4555 3.6)"},
};

static void ext_counter(void *arg, const char *name, uint64_t v)
{
	FILE *out = arg;
	char full[128];
	const char *help = "IKE extension counter";

	for (size_t i = 0; i < ARRAY_LEN(ext_help); i++)
		if (!strcmp(ext_help[i].name, name))
			help = ext_help[i].help;
	snprintf(full, sizeof(full), "rike_ike_%s_total", name);
	one(out, full, "counter", help, v);
}

/* ---- gauges and per-SA counters ---- */

#define METRICS_MAX_STATES 16

/* One IKE SA's connection and state, and its Child SAs, for the per-
 * connection gauges (sorted, then counted by runs: one series per
 * connection and state however many peers share a connection). */
struct conn_sa {
	char conn[CFG_NAME_MAX];
	const char *state; /* static */
	size_t children;
};

struct views {
	FILE *out;
	size_t by_state[METRICS_MAX_STATES];
	size_t children;
	int pass;            /* 0: count, 1: Child SA bytes, 2: packets */
	struct conn_sa *sas; /* owned */
	size_t n, cap;
	bool oom;
};

static void count_sa(void *arg, const struct ike_sa_view *v)
{
	struct views *w = arg;
	struct conn_sa *s;

	for (size_t i = 0; ike_state_names[i] && i < METRICS_MAX_STATES; i++)
		if (!strcmp(ike_state_names[i], v->state))
			w->by_state[i]++;
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;

		s = realloc(w->sas, cap * sizeof(*s));
		if (!s) {
			w->oom = true;
			return;
		}
		w->sas = s;
		w->cap = cap;
	}
	s = &w->sas[w->n++];
	snprintf(s->conn, sizeof(s->conn), "%s", v->conn);
	s->state = v->state;
	s->children = v->children;
}

static int conn_sa_cmp(const void *a, const void *b)
{
	const struct conn_sa *x = a, *y = b;
	int c = strcmp(x->conn, y->conn);

	return c ? c : strcmp(x->state, y->state);
}

/* rike_conn_ike_sas{conn,state} and rike_conn_child_sas{conn}. */
static void write_conns(struct views *w)
{
	FILE *out = w->out;
	size_t i, j, n;

	if (w->n) /* qsort(NULL, 0) is undefined */
		qsort(w->sas, w->n, sizeof(*w->sas), conn_sa_cmp);
	family(out, "rike_conn_ike_sas", "gauge", "IKE SAs now, by connection and state");
	for (i = 0; i < w->n; i = j) {
		const char *l[] = {"conn", w->sas[i].conn, "state", w->sas[i].state, NULL};

		for (j = i; j < w->n && !conn_sa_cmp(&w->sas[i], &w->sas[j]); j++)
			;
		sample(out, "rike_conn_ike_sas", l, j - i);
	}
	family(out, "rike_conn_child_sas", "gauge", "Child SAs now, by connection");
	for (i = 0; i < w->n; i = j) {
		const char *l[] = {"conn", w->sas[i].conn, NULL};

		for (j = i, n = 0; j < w->n && !strcmp(w->sas[i].conn, w->sas[j].conn); j++)
			n += w->sas[j].children;
		sample(out, "rike_conn_child_sas", l, n);
	}
}

static void child_sample(void *arg, const struct ike_child_view *v)
{
	struct views *w = arg;
	const char *name =
	    w->pass == 1 ? "rike_child_sa_bytes_total" : "rike_child_sa_packets_total";
	char reqid[16], spi[16];
	const char *in[] = {"conn", v->conn,     "reqid", reqid, "spi_in",
	                    spi,    "direction", "in",    NULL};
	const char *outl[] = {"conn", v->conn,     "reqid", reqid, "spi_in",
	                      spi,    "direction", "out",   NULL};

	if (w->pass == 0) {
		w->children++;
		return;
	}
	snprintf(reqid, sizeof(reqid), "%" PRIu32, v->reqid);
	snprintf(spi, sizeof(spi), "%08" PRIx32, v->spi_in);
	sample(w->out, name, in, w->pass == 1 ? v->bytes_in : v->pkts_in);
	sample(w->out, name, outl, w->pass == 1 ? v->bytes_out : v->pkts_out);
}

static void write_views(struct ike *ike, FILE *out)
{
	struct views w = {.out = out};
	struct ike_gauges g;

	ike_views(ike, count_sa, child_sample, &w);
	family(out, "rike_ike_sas", "gauge", "IKE SAs now, by state");
	for (size_t i = 0; ike_state_names[i] && i < METRICS_MAX_STATES; i++) {
		const char *l[] = {"state", ike_state_names[i], NULL};

		sample(out, "rike_ike_sas", l, w.by_state[i]);
	}
	one(out, "rike_child_sas", "gauge", "Child SAs now (each a pair of ESP SAs)", w.children);
	if (!w.oom)
		write_conns(&w);
	free(w.sas);
	ike_get_gauges(ike, &g);
	one(out, "rike_ike_half_open", "gauge", "responder SAs waiting for IKE_AUTH (RFC 8019)",
	    g.half_open);
	one(out, "rike_ike_half_open_bytes", "gauge", "octets held by half-open SAs",
	    g.half_open_bytes);
	one(out, "rike_ike_under_attack", "gauge",
	    "1 while the responder is under attack (RFC 8019)", g.under_attack);
	one(out, "rike_ike_dh_last_second", "gauge",
	    "IKE_SA_INIT Diffie-Hellman computations in the last second", g.dh_last_second);
	family(out, "rike_child_sa_bytes_total", "counter",
	       "inner (plaintext) octets of a Child SA, by direction");
	w.pass = 1;
	ike_views(ike, NULL, child_sample, &w);
	family(out, "rike_child_sa_packets_total", "counter",
	       "packets of a Child SA, by direction");
	w.pass = 2;
	ike_views(ike, NULL, child_sample, &w);
}

/* ---- the data plane's counters (struct dp_stats) ---- */

#define DS(f) offsetof(struct dp_stats, f)

static const struct {
	const char *reason;
	size_t off;
} dp_drops[] = {
    {"replay", DS(drop_replay)},
    {"auth", DS(drop_auth)},
    {"unknown_spi", DS(drop_unknown_spi)},
    {"no_sa", DS(drop_no_sa)},
    {"no_policy", DS(drop_no_policy)},
    {"selector", DS(drop_selector)},
    {"malformed", DS(drop_malformed)},
    {"expired", DS(drop_expired)},
    {"io", DS(drop_io)},
    {"send", DS(drop_send)},
};

static uint64_t dp_at(const struct dp_stats *st, size_t off)
{
	uint64_t v;

	memcpy(&v, (const uint8_t *)st + off, sizeof(v));
	return v;
}

static void write_dataplane(struct dpglue *dpg, FILE *out)
{
	struct dp_stats st;
	const char *in[] = {"direction", "in", NULL}, *o[] = {"direction", "out", NULL};

	memset(&st, 0, sizeof(st));
	dpglue_stats(dpg, &st);
	family(out, "rike_dataplane_packets_total", "counter",
	       "inner packets through the userspace data plane, by direction");
	sample(out, "rike_dataplane_packets_total", in, st.rx_packets);
	sample(out, "rike_dataplane_packets_total", o, st.tx_packets);
	family(out, "rike_dataplane_bytes_total", "counter",
	       "inner octets through the userspace data plane, by direction");
	sample(out, "rike_dataplane_bytes_total", in, st.rx_bytes);
	sample(out, "rike_dataplane_bytes_total", o, st.tx_bytes);
	family(out, "rike_dataplane_dropped_total", "counter",
	       "packets the userspace data plane dropped, by reason (RFC 4303 3.4)");
	for (size_t i = 0; i < ARRAY_LEN(dp_drops); i++) {
		const char *l[] = {"reason", dp_drops[i].reason, NULL};

		sample(out, "rike_dataplane_dropped_total", l, dp_at(&st, dp_drops[i].off));
	}
	one(out, "rike_dataplane_dummy_packets_total", "counter",
	    "dummy packets (next header 59, RFC 4303 2.6) dropped", st.dummy_packets);
	const char *w[] = {"reader", "worker", NULL}, *lp[] = {"reader", "loop", NULL};
	family(out, "rike_dataplane_esp_received_total", "counter",
	       "ESP datagrams received by the packet workers' own sockets or the event loop");
	sample(out, "rike_dataplane_esp_received_total", w, st.rx_steered);
	sample(out, "rike_dataplane_esp_received_total", lp, st.rx_via_loop);
	one(out, "rike_dataplane_steer_misses_total", "counter",
	    "ESP datagrams a packet worker received for another worker's SA", st.steer_misses);
	one(out, "rike_dataplane_spi_worker_mismatches_total", "counter",
	    "inbound SAs whose SPI names another worker than their Child SA's",
	    st.spi_worker_mismatches);
	one(out, "rike_dataplane_child_sas", "gauge", "Child SAs installed in the data plane",
	    dpglue_nchildren(dpg));
}

void metrics_write(struct ike *ike, struct dpglue *dpg, const char *version, double start_time,
                   FILE *out)
{
	const char *l[] = {"version", version, NULL};

	/* The engine holds the Child SA counters it last heard of. */
	if (dpg)
		dpglue_refresh_counters(dpg);
	family(out, "rike_build_info", "gauge", "riked's version (value 1)");
	sample(out, "rike_build_info", l, 1);
	family(out, "rike_start_time_seconds", "gauge", "when riked started, UNIX time");
	fprintf(out, "rike_start_time_seconds %.3f\n", start_time);
	write_ike_stats(ike, out);
	ike_ext_counters(ike, ext_counter, out);
	write_views(ike, out);
	if (dpg)
		write_dataplane(dpg, out);
}

/* ---- HTTP (libmicrohttpd, external select on the libevent loop) ---- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, char *body, size_t len,
                             const char *ctype)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    len, body, body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result plain(struct MHD_Connection *conn, unsigned status, const char *text)
{
	char *b = strdup(text);

	return reply(conn, status, b, b ? strlen(b) : 0, "text/plain; charset=utf-8");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_len, void **req_ctx)
{
	struct metrics *m = cls;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)version;
	(void)upload;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return plain(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
	/* A GET has no body: answer on the first call. */
	if (*upload_len) {
		*upload_len = 0;
		return MHD_YES;
	}
	(void)req_ctx;
	if (strcmp(url, METRICS_PATH))
		return plain(conn, MHD_HTTP_NOT_FOUND, "riked serves " METRICS_PATH "\n");
	f = open_memstream(&buf, &len);
	if (!f)
		return plain(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	metrics_write(m->ike, m->dpg, m->version, m->start_time, f);
	if (fclose(f) != 0) {
		free(buf);
		return plain(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	}
	return reply(conn, MHD_HTTP_OK, buf, len, METRICS_CTYPE);
}

/* MHD's next deadline as a libevent timer (idle connections time out). */
static void rearm(struct metrics *m)
{
	MHD_UNSIGNED_LONG_LONG ms;
	struct timeval tv;

	if (MHD_get_timeout(m->mhd, &ms) != MHD_YES) {
		evtimer_del(m->ev_timer);
		return;
	}
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(m->ev_timer, &tv);
}

static void run_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics *m = arg;

	(void)fd;
	(void)what;
	MHD_run(m->mhd);
	rearm(m);
}

/* MHD's own errors (a failed accept, a client that sent garbage): its
 * clients are local, but still rate-limited like any network input. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_ratelimited(LOG_WARNING, LOG_RL_OTHER, NULL, "metrics", "%s", line);
}

struct metrics *metrics_new(struct event_base *base, const struct sockaddr_storage *addr,
                            struct ike *ike, struct dpglue *dpg, const char *version, char *why,
                            size_t whylen)
{
	struct metrics *m = calloc(1, sizeof(*m));
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	struct timespec now;

	if (!m) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	m->ike = ike;
	m->dpg = dpg;
	m->version = version;
	clock_gettime(CLOCK_REALTIME, &now);
	m->start_time = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	if (addr->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* No MHD_USE_INTERNAL_POLLING_THREAD: MHD runs only from MHD_run on our loop. */
	m->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, m, MHD_OPTION_SOCK_ADDR,
	                          (const struct sockaddr *)addr, MHD_OPTION_CONNECTION_LIMIT,
	                          (unsigned)METRICS_MAX_CONNS, MHD_OPTION_CONNECTION_TIMEOUT,
	                          (unsigned)METRICS_TIMEOUT_SEC, MHD_OPTION_EXTERNAL_LOGGER,
	                          mhd_log, NULL, MHD_OPTION_END);
	if (!m->mhd) {
		snprintf(why, whylen, "cannot serve metrics: %s",
		         errno ? strerror(errno) : "libmicrohttpd failed to start");
		goto fail;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || info->epoll_fd < 0) {
		snprintf(why, whylen, "cannot serve metrics: no epoll descriptor");
		goto fail;
	}
	m->ev_fd = event_new(base, info->epoll_fd, EV_READ | EV_PERSIST, run_cb, m);
	m->ev_timer = evtimer_new(base, run_cb, m);
	if (!m->ev_fd || !m->ev_timer || event_add(m->ev_fd, NULL) < 0) {
		snprintf(why, whylen, "cannot serve metrics: out of memory");
		goto fail;
	}
	rearm(m);
	return m;
fail:
	metrics_free(m);
	return NULL;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	if (m->ev_fd)
		event_free(m->ev_fd);
	if (m->ev_timer)
		event_free(m->ev_timer);
	if (m->mhd)
		MHD_stop_daemon(m->mhd);
	free(m);
}
