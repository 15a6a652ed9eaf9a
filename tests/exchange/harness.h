/*
 * The exchange-test harness: two IKE engines ("a" at 192.0.2.1, "b" at
 * 192.0.2.2) joined by a mock network, with one fake clock and one
 * deterministic random stream for both, so every exchange replays bit for
 * bit. Header-only (static functions) so that each tests/exchange/test_*.c
 * is a single translation unit and needs no CMake change.
 *
 * The network is a FIFO of datagrams as they appear on the wire between
 * the two hosts. Tests step it explicitly (deliver, drop, duplicate,
 * reorder, tamper) and advance the clock, which runs both engines' timers.
 * NAT mode rewrites a's source address and port the way a NAPT box in
 * front of a would (RFC 7296 2.23), so b sees 203.0.113.5:40500/44500.
 *
 * The data-plane hooks record every child_up/child_down per peer, and the
 * set of currently installed Child SAs, for the SPI and key cross-checks.
 */
#ifndef RIKE_TEST_EXCHANGE_HARNESS_H
#define RIKE_TEST_EXCHANGE_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>

#include "crypto/crypto.h"
#include "daemon/config.h"
#include "util/log.h"
#include "ike/ike.h"
#include "ike/sa.h"
#include "wire/ikev2.h"
#include "wire/payload.h"
#include "wire/sk.h"

#define HX static __attribute__((unused))

#define HX_A         0
#define HX_B         1
#define HX_C         2 /* an optional second gateway like b (hx_new3) */
#define HX_QMAX      512
#define HX_MAX_CHILD 64
#define HX_CONN      "t"

#define HX_ADDR_A        "192.0.2.1"
#define HX_ADDR_B        "192.0.2.2"
#define HX_ADDR_C        "192.0.2.3"
#define HX_ADDR_NAT      "203.0.113.5"
#define HX_NAT_PORT_500  40500
#define HX_NAT_PORT_4500 44500

struct hx_dgram {
	struct ike_addr from, to;
	uint8_t *buf; /* owned */
	size_t len;
	int src; /* HX_A/HX_B: who sent it */
};

/* A copy of what the data plane was given. */
struct hx_child {
	uint32_t reqid, spi_in, spi_out;
	uint16_t encr, integ;
	bool transport, encap;
	uint8_t key_in_e[CRYPTO_MAX_KEY_LEN], key_in_a[CRYPTO_MAX_PRF_LEN];
	uint8_t key_out_e[CRYPTO_MAX_KEY_LEN], key_out_a[CRYPTO_MAX_PRF_LEN];
	size_t key_e_len, key_a_len;
	struct ike_ts_set ts_local, ts_remote;
};

struct hx_net;

struct hx_peer {
	const char *name;
	int idx;
	struct hx_net *net;
	struct ike *ike;
	struct cfg cfg;
	bool cfg_loaded;
	struct ike_host host;
	struct ike_addr ip; /* port 0 */
	/* Data plane record. */
	struct hx_child installed[HX_MAX_CHILD];
	size_t n_installed;
	size_t n_child_up, n_child_down, n_moved;
	unsigned fail_child_up; /* child_up calls still to refuse, as a full data plane would */
	uint32_t down_spis[HX_MAX_CHILD * 4];
	size_t n_down_spis;
	uint64_t sent; /* datagrams this peer sent */
	/* Its local addresses as told to the engine (hx_set_local); the route
	 * hook answers with the first of dst's family. */
	struct ike_addr locals[8];
	size_t nlocals;
	/* The SPI residue hook (a data plane that steers by SPI): with spi_mod
	 * > 1 a new Child SA's inbound SPI is asked to be spi_new mod
	 * spi_mod, a rekey's (rekey reqid) mod spi_mod; spi_rekeys records the
	 * rekey reqids asked about. spi_mod 0: no wish (the hook declines). */
	uint32_t spi_mod, spi_new;
	uint32_t spi_rekeys[8];
	size_t n_spi_asked;
};

/* A deterministic stream (splitmix64): not cryptographic, only reproducible. */
struct hx_rng {
	uint64_t s;
};

struct hx_net {
	uint64_t now;
	struct hx_dgram q[HX_QMAX];
	size_t nq;
	struct hx_peer p[3];
	int npeers; /* 2, or 3 with c */
	/* Name lookups the engines asked for (host.resolve), and the answers. */
	struct {
		char name[256];
		uint64_t id;
		int side;
	} lookups[16];
	size_t nlookups;
	struct {
		char name[64], addr[64];
	} hosts[8];
	size_t nhosts;
	/* More addresses of a peer (MOBIKE tests): datagrams to them reach it. */
	struct {
		char addr[64];
		int side;
	} aliases[8];
	size_t naliases;
	bool nat;
	struct hx_rng rng;
	size_t misrouted;
	/* When set, datagrams are also copied here as they are sent (all of them). */
	struct hx_dgram *log;
	size_t nlog, caplog;
};

/* Per-side connection options (NULL/0 = the defaults below). */
struct hx_conf {
	const char
	    *ike; /* inside ike_proposals = [ ... ], e.g. "\"aes256gcm16-prfsha256-ecp256\"" */
	const char *esp;       /* inside esp_proposals = [ ... ] */
	const char *local_ts;  /* inside local_ts = [ ... ]; "" for none (dynamic) */
	const char *remote_ts; /* inside remote_ts = [ ... ] */
	const char *local_id, *remote_id;
	const char *psk;
	const char *remote;     /* the remote address ("%any" allowed) */
	const char *mode;       /* "tunnel" / "transport" */
	const char *start;      /* "wait" by default: tests call ike_up */
	const char *retransmit; /* e.g. "timeout = 1.0; base = 2.0; tries = 3;" */
	const char *extra;      /* appended to the connection group */
	const char *globals;    /* appended to the riked group, e.g. "half_open_max = 8;" */
	bool keep_up;
	bool mobike; /* off unless a test asks: RFC 4555 3.3 moves IKE_AUTH to port 4500 */
	unsigned dpd;
	unsigned cookie_threshold; /* 0 = the default 64; use HX_COOKIE_ALWAYS for 0 */
	const char *log_level;
	/* Crypto worker threads (crypto_workers); 0, the default, computes
	 * inline so that every step is deterministic. With workers, the
	 * harness waits for their results after each delivery (hx_pump). */
	unsigned workers;
};

#define HX_COOKIE_ALWAYS 0xffffffffu

static struct hx_net *hx_current; /* for the log clock */

/* ---- randomness and clock ---- */

static uint64_t hx_rng_next(struct hx_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int hx_random(void *ctx, void *buf, size_t len)
{
	struct hx_rng *r = ctx;
	uint8_t *p = buf;

	while (len) {
		uint64_t v = hx_rng_next(r);
		size_t n = len < 8 ? len : 8;

		memcpy(p, &v, n);
		p += n;
		len -= n;
	}
	return 0;
}

static uint64_t hx_now_ms(void *ctx)
{
	struct hx_peer *p = ctx;

	return p->net->now;
}

static uint64_t hx_log_clock(void)
{
	return hx_current ? hx_current->now : 0;
}

/* ---- addresses ---- */

HX void hx_addr(struct ike_addr *a, const char *ip, uint16_t port)
{
	struct sockaddr_in *s = (struct sockaddr_in *)&a->ss;

	memset(a, 0, sizeof(*a));
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &s->sin_addr), 1);
}

HX uint16_t hx_port(const struct ike_addr *a)
{
	return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

HX bool hx_is_host(const struct ike_addr *a, const char *ip)
{
	struct in_addr in;

	assert_int_equal(inet_pton(AF_INET, ip, &in), 1);
	return a->ss.sa.sa_family == AF_INET &&
	       ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == in.s_addr;
}

HX void hx_set_port(struct ike_addr *a, uint16_t port)
{
	((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
}

/* ---- host hooks ---- */

static void hx_q_push(struct hx_net *n, int src, const struct ike_addr *from,
                      const struct ike_addr *to, const uint8_t *buf, size_t len)
{
	struct hx_dgram *d;

	if (n->nq == HX_QMAX) {
		fail_msg("network queue full (%d datagrams): a send loop?", HX_QMAX);
		return;
	}
	d = &n->q[n->nq++];
	d->from = *from;
	d->to = *to;
	d->src = src;
	d->len = len;
	d->buf = malloc(len ? len : 1);
	assert_non_null(d->buf);
	memcpy(d->buf, buf, len);
	if (n->log) {
		if (n->nlog == n->caplog) {
			n->caplog = n->caplog ? n->caplog * 2 : 64;
			n->log = realloc(n->log, n->caplog * sizeof(*n->log));
			assert_non_null(n->log);
		}
		n->log[n->nlog] = *d;
		n->log[n->nlog].buf = malloc(len ? len : 1);
		assert_non_null(n->log[n->nlog].buf);
		memcpy(n->log[n->nlog].buf, buf, len);
		n->nlog++;
	}
}

static int hx_send(void *ctx, const struct ike_addr *from, const struct ike_addr *to,
                   const uint8_t *buf, size_t len)
{
	struct hx_peer *p = ctx;
	struct ike_addr f = *from;

	p->sent++;
	/* The NAT in front of a rewrites its source (RFC 7296 2.23 scenario). */
	if (p->net->nat && p->idx == HX_A) {
		uint16_t port = hx_port(from) == 4500 ? HX_NAT_PORT_4500 : HX_NAT_PORT_500;

		hx_addr(&f, HX_ADDR_NAT, port);
	}
	hx_q_push(p->net, p->idx, &f, to, buf, len);
	return 0;
}

static void hx_copy_child(struct hx_child *r, const struct ike_child_info *c)
{
	memset(r, 0, sizeof(*r));
	r->reqid = c->reqid;
	r->spi_in = c->spi_in;
	r->spi_out = c->spi_out;
	r->encr = c->encr;
	r->integ = c->integ;
	r->transport = c->transport;
	r->encap = c->encap;
	r->key_e_len = c->key_e_len;
	r->key_a_len = c->key_a_len;
	memcpy(r->key_in_e, c->key_in_e, sizeof(r->key_in_e));
	memcpy(r->key_in_a, c->key_in_a, sizeof(r->key_in_a));
	memcpy(r->key_out_e, c->key_out_e, sizeof(r->key_out_e));
	memcpy(r->key_out_a, c->key_out_a, sizeof(r->key_out_a));
	r->ts_local = c->ts_local;
	r->ts_remote = c->ts_remote;
}

static int hx_child_up(void *ctx, const struct ike_child_info *c)
{
	struct hx_peer *p = ctx;

	p->n_child_up++;
	if (p->fail_child_up) {
		p->fail_child_up--;
		errno = E2BIG;
		return -1;
	}
	for (size_t i = 0; i < p->n_installed; i++)
		if (p->installed[i].spi_in == c->spi_in)
			fail_msg("%s: child_up for inbound SPI %08x that is already installed",
			         p->name, c->spi_in);
	assert_true(p->n_installed < HX_MAX_CHILD);
	hx_copy_child(&p->installed[p->n_installed++], c);
	return 0;
}

static void hx_child_down(void *ctx, const struct ike_child_info *c)
{
	struct hx_peer *p = ctx;
	size_t i;

	p->n_child_down++;
	if (p->n_down_spis < sizeof(p->down_spis) / sizeof(p->down_spis[0]))
		p->down_spis[p->n_down_spis++] = c->spi_in;
	for (i = 0; i < p->n_installed; i++)
		if (p->installed[i].spi_in == c->spi_in)
			break;
	if (i == p->n_installed)
		fail_msg("%s: child_down for inbound SPI %08x that is not installed", p->name,
		         c->spi_in);
	p->installed[i] = p->installed[--p->n_installed];
}

/* Counts Child SAs moved with their IKE SA. */
static void hx_child_moved(void *ctx, const struct ike_child_info *c)
{
	struct hx_peer *p = ctx;

	(void)c;
	p->n_moved++;
}

static int hx_spi_residue(void *ctx, uint32_t rekey_reqid, uint32_t *mod, uint32_t *residue)
{
	struct hx_peer *p = ctx;

	if (p->spi_mod < 2)
		return -1;
	if (p->n_spi_asked < 8)
		p->spi_rekeys[p->n_spi_asked] = rekey_reqid;
	p->n_spi_asked++;
	*mod = p->spi_mod;
	*residue = rekey_reqid ? rekey_reqid % p->spi_mod : p->spi_new;
	return 0;
}

/* Source address selection: the first local address of dst's family. */
static int hx_route_hook(void *ctx, const struct ike_addr *dst, struct ike_addr *src)
{
	struct hx_peer *p = ctx;

	for (size_t i = 0; i < p->nlocals; i++)
		if (p->locals[i].ss.sa.sa_family == dst->ss.sa.sa_family) {
			*src = p->locals[i];
			return 0;
		}
	return -1;
}

/* Lookups wait for hx_answer_lookups(), as a real resolver answers later. */
static int hx_resolve(void *ctx, const char *name, uint64_t id)
{
	struct hx_peer *p = ctx;
	struct hx_net *n = p->net;

	if (n->nlookups == sizeof(n->lookups) / sizeof(n->lookups[0]))
		return -1;
	snprintf(n->lookups[n->nlookups].name, sizeof(n->lookups[0].name), "%s", name);
	n->lookups[n->nlookups].id = id;
	n->lookups[n->nlookups++].side = p->idx;
	return 0;
}

/* ---- configuration ---- */

#define HX_PSK         "an exchange-test secret of reasonable length"
#define HX_IKE_DEFAULT "\"aes256gcm16-prfsha256-x25519\""
#define HX_ESP_DEFAULT "\"aes256gcm16\""

static char *hx_conf_text(const struct hx_conf *c, int side)
{
	const char *me = side == HX_A ? HX_ADDR_A : side == HX_B ? HX_ADDR_B : HX_ADDR_C;
	const char *peer = side == HX_A ? HX_ADDR_B : HX_ADDR_A;
	const char *my_id = side == HX_A ? "a.example" : "b.example";
	const char *peer_id = side == HX_A ? "b.example" : "a.example";
	const char *my_ts = side == HX_A ? "\"10.1.0.0/16\"" : "\"10.2.0.0/16\"";
	const char *peer_ts = side == HX_A ? "\"10.2.0.0/16\"" : "\"10.1.0.0/16\"";
	unsigned thr = c->cookie_threshold == HX_COOKIE_ALWAYS ? 0
	               : c->cookie_threshold                   ? c->cookie_threshold
	                                                       : 64;
	char *s = NULL;

	if (asprintf(
	        &s,
	        "riked = { log = \"stderr\"; log_level = \"%s\"; dataplane = \"userspace\";\n"
	        "  ike_port = 500; natt_port = 4500; half_open_cookie_threshold = %u;\n"
	        "  crypto_workers = %u; %s\n"
	        "  qcd = { enabled = false; }; };\n"
	        "connections = ( {\n"
	        "  name = \"" HX_CONN "\"; local = \"%s\"; remote = \"%s\";\n"
	        "  local_id = \"%s\"; remote_id = \"%s\";\n"
	        "  auth = { method = \"psk\"; secret = \"%s\"; };\n"
	        "  ike_proposals = [ %s ]; esp_proposals = [ %s ];\n"
	        "  %s%s%s %s%s%s\n"
	        "  mode = \"%s\"; start = \"%s\"; keep_up = %s; dpd_interval = %u; mobike = %s;\n"
	        "  retransmit = { %s };\n"
	        "  %s\n"
	        "} );\n",
	        c->log_level ? c->log_level : "info", thr, c->workers, c->globals ? c->globals : "",
	        me, c->remote ? c->remote : peer, c->local_id ? c->local_id : my_id,
	        c->remote_id ? c->remote_id : peer_id, c->psk ? c->psk : HX_PSK,
	        c->ike ? c->ike : HX_IKE_DEFAULT, c->esp ? c->esp : HX_ESP_DEFAULT,
	        c->local_ts && !*c->local_ts ? "" : "local_ts = [ ",
	        c->local_ts ? c->local_ts : my_ts, c->local_ts && !*c->local_ts ? "" : " ];",
	        c->remote_ts && !*c->remote_ts ? "" : "remote_ts = [ ",
	        c->remote_ts ? c->remote_ts : peer_ts, c->remote_ts && !*c->remote_ts ? "" : " ];",
	        c->mode ? c->mode : "tunnel", c->start ? c->start : "wait",
	        c->keep_up ? "true" : "false", c->dpd, c->mobike ? "true" : "false",
	        c->retransmit ? c->retransmit : "timeout = 1.0; base = 2.0; tries = 3;",
	        c->extra ? c->extra : "") < 0)
		return NULL;
	return s;
}

static void hx_peer_init(struct hx_net *n, int idx, const struct hx_conf *c)
{
	struct hx_peer *p = &n->p[idx];
	char err[512] = "";
	char *text = hx_conf_text(c, idx);

	p->name = idx == HX_A ? "a" : idx == HX_B ? "b" : "c";
	p->idx = idx;
	p->net = n;
	hx_addr(&p->ip, idx == HX_A ? HX_ADDR_A : idx == HX_B ? HX_ADDR_B : HX_ADDR_C, 0);
	assert_non_null(text);
	if (cfg_load_string(text,
	                    idx == HX_A   ? "a.conf"
	                    : idx == HX_B ? "b.conf"
	                                  : "c.conf",
	                    &p->cfg, err, sizeof(err)))
		fail_msg("%s config does not load: %s\n%s", p->name, err, text);
	free(text);
	p->cfg_loaded = true;
	p->host.ctx = p;
	p->host.send = hx_send;
	p->host.now_ms = hx_now_ms;
	p->host.child_up = hx_child_up;
	p->host.child_down = hx_child_down;
	p->host.child_moved = hx_child_moved;
	p->host.resolve = hx_resolve;
	p->host.route = hx_route_hook;
	p->host.spi_residue = hx_spi_residue;
	p->ike = ike_new(&p->cfg, &p->host);
	assert_non_null(p->ike);
}

static int hx_log_level(const struct hx_conf *a)
{
	const char *e = getenv("RIKE_EXCHANGE_LOG");
	int lvl = LOG_WARNING;

	(void)a;
	if (e && log_level_parse(e, &lvl) < 0)
		lvl = LOG_DEBUG;
	return lvl;
}

/* Two engines with the given per-side options (NULL: defaults). */
HX struct hx_net *hx_new_seeded(const struct hx_conf *ca, const struct hx_conf *cb, uint64_t seed)
{
	static const struct hx_conf none;
	struct hx_net *n = calloc(1, sizeof(*n));

	assert_non_null(n);
	n->now = 1000000; /* not zero: "0" often means "unset" */
	n->rng.s = seed;
	hx_current = n;
	crypto_set_random(hx_random, &n->rng);
	log_init("rike-exchange", LOG_TARGET_STDERR, hx_log_level(ca));
	log_set_clock(hx_log_clock);
	log_rl_reset();
	n->npeers = 2;
	hx_peer_init(n, HX_A, ca ? ca : &none);
	hx_peer_init(n, HX_B, cb ? cb : &none);
	return n;
}

HX struct hx_net *hx_new(const struct hx_conf *ca, const struct hx_conf *cb)
{
	return hx_new_seeded(ca, cb, 0x72696b65ull);
}

/* a, b and c: c is a second gateway like b (the same IDr, the same
 * connection) at HX_ADDR_C, e.g. the target of a redirect. */
HX struct hx_net *hx_new3(const struct hx_conf *ca, const struct hx_conf *cb,
                          const struct hx_conf *cc)
{
	static const struct hx_conf none;
	struct hx_net *n = hx_new(ca, cb);

	n->npeers = 3;
	hx_peer_init(n, HX_C, cc ? cc : &none);
	return n;
}

/* The answer the harness's resolver will give for name (hx_answer_lookups). */
HX void hx_host(struct hx_net *n, const char *name, const char *addr)
{
	assert_true(n->nhosts < sizeof(n->hosts) / sizeof(n->hosts[0]));
	snprintf(n->hosts[n->nhosts].name, sizeof(n->hosts[0].name), "%s", name);
	snprintf(n->hosts[n->nhosts++].addr, sizeof(n->hosts[0].addr), "%s", addr);
}

/* addr is another address of side: datagrams to it reach side. */
HX void hx_alias(struct hx_net *n, const char *addr, int side)
{
	assert_true(n->naliases < sizeof(n->aliases) / sizeof(n->aliases[0]));
	snprintf(n->aliases[n->naliases].addr, sizeof(n->aliases[0].addr), "%s", addr);
	n->aliases[n->naliases++].side = side;
}

/* side's local addresses are now addrs (NULL-terminated): tell its engine. */
HX void hx_set_local(struct hx_net *n, int side, const char *const *addrs)
{
	struct hx_peer *p = &n->p[side];

	p->nlocals = 0;
	for (size_t i = 0; addrs[i] && i < 8; i++)
		hx_addr(&p->locals[p->nlocals++], addrs[i], 0);
	ike_local_addresses(p->ike, p->locals, p->nlocals);
}

/* Answer every pending lookup from the hosts table (unknown names fail). */
HX void hx_answer_lookups(struct hx_net *n)
{
	while (n->nlookups) {
		size_t k = --n->nlookups;
		struct ike_addr a;
		bool found = false;

		for (size_t i = 0; i < n->nhosts && !found; i++)
			if (!strcmp(n->hosts[i].name, n->lookups[k].name)) {
				hx_addr(&a, n->hosts[i].addr, 0);
				found = true;
			}
		ike_resolved(n->p[n->lookups[k].side].ike, n->lookups[k].id, &a, found ? 1 : 0);
	}
}

HX void hx_q_clear(struct hx_net *n)
{
	for (size_t i = 0; i < n->nq; i++)
		free(n->q[i].buf);
	n->nq = 0;
}

HX void hx_free(struct hx_net *n)
{
	if (!n)
		return;
	for (int i = 0; i < n->npeers; i++) {
		ike_free(n->p[i].ike);
		if (n->p[i].cfg_loaded)
			cfg_free(&n->p[i].cfg);
	}
	hx_q_clear(n);
	for (size_t i = 0; i < n->nlog; i++)
		free(n->log[i].buf);
	free(n->log);
	crypto_set_random(NULL, NULL);
	log_set_clock(NULL);
	if (hx_current == n)
		hx_current = NULL;
	free(n);
}

/* cmocka teardown: tests store their net in *state. */
HX int hx_teardown(void **state)
{
	hx_free(*state);
	*state = NULL;
	return 0;
}

/* ---- stepping the network ---- */

/* Who receives a datagram addressed to `to` (and at which local address). */
static int hx_route(struct hx_net *n, const struct ike_addr *to, struct ike_addr *local)
{
	*local = *to;
	if (hx_is_host(to, HX_ADDR_A))
		return HX_A;
	if (hx_is_host(to, HX_ADDR_B))
		return HX_B;
	if (n->npeers > HX_C && hx_is_host(to, HX_ADDR_C))
		return HX_C;
	for (size_t i = 0; i < n->naliases; i++)
		if (hx_is_host(to, n->aliases[i].addr))
			return n->aliases[i].side;
	if (n->nat && hx_is_host(to, HX_ADDR_NAT)) {
		uint16_t port = hx_port(to);

		if (port != HX_NAT_PORT_500 && port != HX_NAT_PORT_4500)
			return -1;
		hx_addr(local, HX_ADDR_A, port == HX_NAT_PORT_4500 ? 4500 : 500);
		return HX_A;
	}
	return -1;
}

HX void hx_input(struct hx_net *n, const struct ike_addr *from, const struct ike_addr *to,
                 const uint8_t *buf, size_t len)
{
	struct ike_addr local;
	int dst = hx_route(n, to, &local);

	if (dst < 0) {
		n->misrouted++;
		return;
	}
	ike_input(n->p[dst].ike, &local, from, buf, len);
}

static void hx_q_remove(struct hx_net *n, size_t i, struct hx_dgram *out)
{
	*out = n->q[i];
	memmove(&n->q[i], &n->q[i + 1], (n->nq - i - 1) * sizeof(n->q[0]));
	n->nq--;
}

/*
 * Crypto workers: wait (poll on the engine's fd, 10 s at most) until every
 * job of side's engine is back, and resume them; the number of waits. A
 * test that wants something to happen while a job is out delivers with
 * hx_deliver_nopump and calls this itself.
 */
HX unsigned hx_pump_side(struct hx_net *n, int side)
{
	struct ike *ike = n->p[side].ike;
	unsigned waits = 0;

	for (unsigned i = 0; i < 1000 && ike_work_outstanding(ike); i++) {
		struct pollfd pfd = {.fd = ike_work_fd(ike), .events = POLLIN};

		if (poll(&pfd, 1, 10) > 0)
			ike_work_done(ike);
		waits++;
	}
	assert_int_equal(ike_work_outstanding(ike), 0);
	return waits;
}

HX void hx_pump(struct hx_net *n)
{
	for (int i = 0; i < n->npeers; i++)
		if (ike_work_fd(n->p[i].ike) >= 0)
			(void)hx_pump_side(n, i);
}

/* Deliver datagram i without waiting for the crypto jobs it starts. */
HX int hx_deliver_at_nopump(struct hx_net *n, size_t i)
{
	struct hx_dgram d;

	if (i >= n->nq)
		return -1;
	hx_q_remove(n, i, &d);
	hx_input(n, &d.from, &d.to, d.buf, d.len);
	free(d.buf);
	return 0;
}

HX int hx_deliver_nopump(struct hx_net *n)
{
	return hx_deliver_at_nopump(n, 0);
}

/* Deliver datagram i of the queue; -1 when there is none. */
HX int hx_deliver_at(struct hx_net *n, size_t i)
{
	int rc = hx_deliver_at_nopump(n, i);

	hx_pump(n);
	return rc;
}

HX int hx_deliver(struct hx_net *n)
{
	return hx_deliver_at(n, 0);
}

/* Deliver until the network is quiet, at most max datagrams; returns how many. */
HX size_t hx_deliver_all(struct hx_net *n, size_t max)
{
	size_t k = 0;

	hx_pump(n); /* what the test started (ike_up and the like) */
	while (n->nq && k < max) {
		assert_int_equal(hx_deliver(n), 0);
		k++;
	}
	return k;
}

HX void hx_drop_at(struct hx_net *n, size_t i)
{
	struct hx_dgram d;

	assert_true(i < n->nq);
	hx_q_remove(n, i, &d);
	free(d.buf);
}

HX void hx_drop(struct hx_net *n)
{
	hx_drop_at(n, 0);
}

/* Put a copy of datagram i right after it. */
HX void hx_dup(struct hx_net *n, size_t i)
{
	struct hx_dgram *d;

	assert_true(i < n->nq && n->nq < HX_QMAX);
	memmove(&n->q[i + 2], &n->q[i + 1], (n->nq - i - 1) * sizeof(n->q[0]));
	n->nq++;
	d = &n->q[i + 1];
	*d = n->q[i];
	d->buf = malloc(d->len ? d->len : 1);
	assert_non_null(d->buf);
	memcpy(d->buf, n->q[i].buf, d->len);
}

HX void hx_swap(struct hx_net *n, size_t i, size_t j)
{
	struct hx_dgram t;

	assert_true(i < n->nq && j < n->nq);
	t = n->q[i];
	n->q[i] = n->q[j];
	n->q[j] = t;
}

HX void hx_tamper(struct hx_net *n, size_t i, size_t off, uint8_t xor_mask)
{
	assert_true(i < n->nq && off < n->q[i].len);
	n->q[i].buf[off] ^= xor_mask;
}

/* Take datagram i off the wire (the caller owns d->buf). */
HX void hx_take(struct hx_net *n, size_t i, struct hx_dgram *d)
{
	assert_true(i < n->nq);
	hx_q_remove(n, i, d);
}

/* The IKE message of a datagram, without the non-ESP marker on 4500. */
HX void hx_ike_bytes(const struct hx_dgram *d, const uint8_t **p, size_t *len)
{
	*p = d->buf;
	*len = d->len;
	if ((hx_port(&d->to) == 4500 || hx_port(&d->from) == 4500 ||
	     hx_port(&d->from) == HX_NAT_PORT_4500 || hx_port(&d->to) == HX_NAT_PORT_4500) &&
	    *len >= 4) {
		*p += 4;
		*len -= 4;
	}
}

/* The header of queued datagram i. */
HX void hx_hdr(struct hx_net *n, size_t i, struct wire_hdr *h)
{
	const uint8_t *p;
	size_t len;
	struct wire_error err;

	assert_true(i < n->nq);
	hx_ike_bytes(&n->q[i], &p, &len);
	if (wire_decode_hdr(p, len, h, &err) < 0)
		fail_msg("queued datagram %zu has no valid IKE header: %s", i,
		         err.reason ? err.reason : "?");
}

/* Run both engines' timers up to now. */
HX void hx_timers(struct hx_net *n)
{
	for (int i = 0; i < n->npeers; i++)
		ike_run_timers(n->p[i].ike);
	hx_pump(n); /* what the timers started (rekeys) */
}

/* Advance the clock by ms, stopping at every timer deadline on the way. */
HX void hx_advance(struct hx_net *n, uint64_t ms)
{
	uint64_t end = n->now + ms;

	for (unsigned guard = 0; guard < 100000; guard++) {
		int64_t t = -1;

		for (int i = 0; i < n->npeers; i++) {
			int64_t ti = ike_next_timeout(n->p[i].ike);

			if (ti >= 0 && (t < 0 || ti < t))
				t = ti;
		}

		if (t < 0 || n->now + (uint64_t)t > end) {
			n->now = end;
			hx_timers(n);
			return;
		}
		n->now += (uint64_t)t;
		hx_timers(n);
	}
	fail_msg("timers keep firing without the clock moving");
}

/* Deliver and advance in turns until nothing is in flight (bounded). */
HX void hx_settle(struct hx_net *n, uint64_t ms)
{
	uint64_t end = n->now + ms;

	while (n->now < end) {
		hx_deliver_all(n, 1000);
		hx_advance(n, 100 < end - n->now ? 100 : end - n->now);
	}
	hx_deliver_all(n, 1000);
}

/* ---- inspecting the engines ---- */

HX struct ike *hx_ike(struct hx_net *n, int side)
{
	return n->p[side].ike;
}

/* The engine's status as the control socket's JSON gives it (plain,
 * no spaces): {"sas":[...],"stats":{...}}, for tests that grep it. */
HX void hx_status_json(struct ike *ike, FILE *f)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "sas", ike_sas_json(ike));
	json_object_object_add(o, "stats", ike_stats_json(ike));
	fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                            JSON_C_TO_STRING_NOSLASHESCAPE),
	      f);
	json_object_put(o);
}

/* ike_redirect_status's JSON, the same way. */
HX void hx_redirect_json(struct ike *ike, FILE *f)
{
	struct json_object *o = json_object_new_object();

	ike_redirect_status(ike, NULL, o);
	fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                            JSON_C_TO_STRING_NOSLASHESCAPE),
	      f);
	json_object_put(o);
}

HX struct ike_sa *hx_sa(struct hx_net *n, int side)
{
	return ike_sa_by_conn(n->p[side].ike, HX_CONN);
}

HX const struct ike_stats *hx_stats(struct hx_net *n, int side)
{
	return ike_get_stats(n->p[side].ike);
}

struct hx_count {
	size_t n, n_state;
	enum ike_state st;
	struct ike_sa *last;
};

static void hx_count_fn(struct ike *ike, struct ike_sa *sa, void *arg)
{
	struct hx_count *c = arg;

	(void)ike;
	c->n++;
	if (sa->state == c->st) {
		c->n_state++;
		c->last = sa;
	}
}

/* Live SAs of a side in state st (and the last one found). */
HX size_t hx_count_state(struct hx_net *n, int side, enum ike_state st, struct ike_sa **last)
{
	struct hx_count c = {.st = st};

	sa_foreach(n->p[side].ike, hx_count_fn, &c);
	if (last)
		*last = c.last;
	return c.n_state;
}

HX size_t hx_count_sas(struct hx_net *n, int side)
{
	struct hx_count c = {.st = IKE_S_DEAD};

	sa_foreach(n->p[side].ike, hx_count_fn, &c);
	return c.n;
}

HX size_t hx_count_children(const struct ike_sa *sa)
{
	size_t k = 0;

	for (const struct child_sa *c = sa ? sa->children : NULL; c; c = c->next)
		k++;
	return k;
}

HX const struct hx_child *hx_installed_by_in(const struct hx_peer *p, uint32_t spi_in)
{
	for (size_t i = 0; i < p->n_installed; i++)
		if (p->installed[i].spi_in == spi_in)
			return &p->installed[i];
	return NULL;
}

/* Exactly one Child SA pair is installed on both sides and they match crosswise. */
HX void hx_assert_one_child_pair(struct hx_net *n)
{
	const struct hx_child *a, *b;

	assert_int_equal(n->p[HX_A].n_installed, 1);
	assert_int_equal(n->p[HX_B].n_installed, 1);
	a = &n->p[HX_A].installed[0];
	b = &n->p[HX_B].installed[0];
	assert_int_equal(a->spi_in, b->spi_out);
	assert_int_equal(a->spi_out, b->spi_in);
	assert_int_not_equal(a->spi_in, 0);
	assert_int_not_equal(a->spi_out, 0);
	assert_int_equal(a->key_e_len, b->key_e_len);
	assert_int_equal(a->key_a_len, b->key_a_len);
	assert_true(a->key_e_len > 0);
	assert_memory_equal(a->key_in_e, b->key_out_e, a->key_e_len);
	assert_memory_equal(a->key_out_e, b->key_in_e, a->key_e_len);
	if (a->key_a_len) {
		assert_memory_equal(a->key_in_a, b->key_out_a, a->key_a_len);
		assert_memory_equal(a->key_out_a, b->key_in_a, a->key_a_len);
	}
	/* 2.17: the two directions use different keys. */
	assert_memory_not_equal(a->key_in_e, a->key_out_e, a->key_e_len);
	assert_int_equal(a->transport, b->transport);
}

/* Both sides hold exactly one ESTABLISHED IKE SA for the connection, with the same SPIs. */
HX void hx_assert_ike_up(struct hx_net *n)
{
	struct ike_sa *a = hx_sa(n, HX_A), *b = hx_sa(n, HX_B);

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->state, IKE_S_ESTABLISHED);
	assert_int_equal(b->state, IKE_S_ESTABLISHED);
	assert_memory_equal(a->spi_i, b->spi_i, 8);
	assert_memory_equal(a->spi_r, b->spi_r, 8);
	assert_true(a->keyed && b->keyed);
	/* 2.17, 2.18: the same SK_d; the other SK_* are gone after IKE_AUTH. */
	assert_true(a->sk_d_len > 0 && a->sk_d_len == b->sk_d_len);
	assert_memory_equal(a->sk_d, b->sk_d, a->sk_d_len);
	assert_null(a->keys);
	assert_null(b->keys);
	assert_int_equal(hx_count_state(n, HX_A, IKE_S_ESTABLISHED, NULL), 1);
	assert_int_equal(hx_count_state(n, HX_B, IKE_S_ESTABLISHED, NULL), 1);
}

/* The engine's SA children and the data plane agree (every child installed is recorded). */
HX void hx_assert_dp_matches(struct hx_net *n, int side)
{
	struct ike_sa *sa = hx_sa(n, side);
	size_t k = 0;

	for (const struct child_sa *c = sa ? sa->children : NULL; c; c = c->next) {
		if (!c->installed)
			continue;
		k++;
		assert_non_null(hx_installed_by_in(&n->p[side], c->spi_in));
	}
	assert_int_equal(k, n->p[side].n_installed);
}

/* a initiates, everything is delivered: the common starting point of most tests.
 *   HDR, SAi1, KEi, Ni -->  <-- HDR, SAr1, KEr, Nr
 *   HDR, SK {IDi, AUTH, SAi2, TSi, TSr} -->  <-- HDR, SK {IDr, AUTH, SAr2, TSi, TSr} */
HX void hx_establish(struct hx_net *n)
{
	assert_int_equal(ike_up(n->p[HX_A].ike, HX_CONN), 0);
	assert_int_equal(hx_deliver_all(n, 20), 4);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
}

/*
 * Decode queued datagram i; if it is protected, open SK with the keys of
 * the SA the receiver holds for it (its prot_in). 0 on success; m must be
 * wire_msg_free()d by the caller either way. The datagram's bytes must stay
 * queued while m is used (m borrows them).
 */
HX int hx_decode_dgram(struct hx_net *n, const struct hx_dgram *d, struct wire_msg *m)
{
	const uint8_t *p;
	size_t len;
	struct wire_error err;
	struct ike_addr local;
	int dst = hx_route(n, &d->to, &local);
	struct ike_sa *sa;
	const struct wire_payload *last;

	wire_msg_init(m);
	hx_ike_bytes(d, &p, &len);
	if (wire_decode(p, len, m, &err) < 0)
		return -1;
	last = m->npayloads ? &m->payloads[m->npayloads - 1] : NULL;
	if (!last || last->type != IKEV2_PL_SK)
		return 0;
	if (dst < 0)
		return -1;
	sa = sa_lookup_spi(n->p[dst].ike,
	                   m->hdr.flags & IKEV2_FLAG_INITIATOR ? m->hdr.spi_r : m->hdr.spi_i);
	if (!sa || !sa->keyed)
		return -1;
	return wire_sk_open(&sa->prot_in, p, len, m, NULL, &err);
}

HX int hx_decode(struct hx_net *n, size_t i, struct wire_msg *m)
{
	assert_true(i < n->nq);
	return hx_decode_dgram(n, &n->q[i], m);
}

/* The exchange type and response flag of queued datagram i. */
HX void hx_expect(struct hx_net *n, size_t i, int src, uint8_t exchange, bool response)
{
	struct wire_hdr h;

	assert_true(i < n->nq);
	hx_hdr(n, i, &h);
	assert_int_equal(n->q[i].src, src);
	assert_int_equal(h.exchange, exchange);
	assert_int_equal(!!(h.flags & IKEV2_FLAG_RESPONSE), response);
}

/* Queued datagram i carries (in clear or in SK) a notify of this type. */
HX bool hx_has_notify(struct hx_net *n, size_t i, uint16_t type)
{
	struct wire_msg m;
	bool found;

	if (hx_decode(n, i, &m) < 0) {
		wire_msg_free(&m);
		fail_msg("queued datagram %zu does not decode/open", i);
	}
	found = wire_msg_find_notify(&m, type) != NULL;
	wire_msg_free(&m);
	return found;
}

HX bool hx_has_payload(struct hx_net *n, size_t i, uint8_t type)
{
	struct wire_msg m;
	bool found;

	if (hx_decode(n, i, &m) < 0) {
		wire_msg_free(&m);
		fail_msg("queued datagram %zu does not decode/open", i);
	}
	found = wire_msg_find(&m, type, NULL) != NULL;
	wire_msg_free(&m);
	return found;
}

/* Start recording every datagram sent from now on (n->log). */
HX void hx_record(struct hx_net *n)
{
	if (!n->log) {
		n->caplog = 64;
		n->log = calloc(n->caplog, sizeof(*n->log));
		assert_non_null(n->log);
	}
}

#endif
