/*
 * The SA table: IKE SAs indexed by our SPI, by serial and (for responders
 * before IKE_AUTH) by the initiator's SPI and address, so that a
 * retransmitted IKE_SA_INIT finds its half-open SA (RFC 7296 2.1, 2.6).
 * Also Child SA bookkeeping and the state-change log line.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ike/attack.h"
#include "ike/sa.h"
#include "util/log.h"

/*
 * ---- a hash of uint64 keys to SAs ----
 * Open addressing with linear probing: a slot is the key and the SA (16
 * octets, no allocation per entry), the table at most 3/4 full and doubled
 * beyond, deletions shifting the run back (no tombstones). A key may map
 * to several SAs (a source's half-open SAs, a reqid during a rekey). The
 * home slot mixes a per-table random seed in, so keys a peer chooses
 * (SPIi, its address) cannot be precomputed to pile into one run.
 */

struct hslot {
	uint64_t key;
	struct ike_sa *sa; /* NULL: empty */
};

struct ike_hash {
	struct hslot *s;
	size_t cap, n; /* cap: a power of two */
	uint64_t seed;
};

#define HASH_MIN 1024

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static size_t home(const struct ike_hash *h, uint64_t key)
{
	return mix(key ^ h->seed) & (h->cap - 1);
}

struct ike_hash *hash_new(void)
{
	struct ike_hash *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->cap = HASH_MIN;
	h->s = calloc(h->cap, sizeof(*h->s));
	if (!h->s || crypto_random(&h->seed, sizeof(h->seed)) < 0) {
		free(h->s);
		free(h);
		return NULL;
	}
	return h;
}

void hash_free(struct ike_hash *h)
{
	if (!h)
		return;
	free(h->s);
	free(h);
}

static void slot_put(struct ike_hash *h, uint64_t key, struct ike_sa *sa)
{
	size_t i = home(h, key);

	while (h->s[i].sa)
		i = (i + 1) & (h->cap - 1);
	h->s[i].key = key;
	h->s[i].sa = sa;
}

static int hash_grow(struct ike_hash *h)
{
	struct hslot *old = h->s;
	size_t ocap = h->cap;

	if (!(h->s = calloc(2 * ocap, sizeof(*h->s)))) {
		h->s = old;
		return -1;
	}
	h->cap = 2 * ocap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].sa)
			slot_put(h, old[i].key, old[i].sa);
	free(old);
	return 0;
}

int hash_put(struct ike_hash *h, uint64_t key, struct ike_sa *sa)
{
	if (4 * (h->n + 1) > 3 * h->cap && hash_grow(h) < 0)
		return -1;
	slot_put(h, key, sa);
	h->n++;
	return 0;
}

/* The first SA under key that match accepts (any, when match is NULL). */
static struct ike_sa *hash_find(const struct ike_hash *h, uint64_t key,
                                bool (*match)(const struct ike_sa *, const void *), const void *arg)
{
	for (size_t i = home(h, key); h->s[i].sa; i = (i + 1) & (h->cap - 1))
		if (h->s[i].key == key && (!match || match(h->s[i].sa, arg)))
			return h->s[i].sa;
	return NULL;
}

static struct ike_sa *hash_get(const struct ike_hash *h, uint64_t key)
{
	return hash_find(h, key, NULL, NULL);
}

void hash_del(struct ike_hash *h, uint64_t key, const struct ike_sa *sa)
{
	size_t mask = h->cap - 1, i = home(h, key), j;

	for (; h->s[i].sa; i = (i + 1) & mask)
		if (h->s[i].key == key && h->s[i].sa == sa)
			break;
	if (!h->s[i].sa)
		return;
	/* Close the gap: an entry further on moves back into it unless its
	 * home lies cyclically in (i, j], where the gap would not be crossed. */
	for (j = (i + 1) & mask; h->s[j].sa; j = (j + 1) & mask) {
		size_t k = home(h, h->s[j].key);

		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			h->s[i] = h->s[j];
			i = j;
		}
	}
	h->s[i].sa = NULL;
	h->n--;
}

void hash_each_key(struct ike_hash *h, uint64_t key, void (*fn)(struct ike_sa *, void *), void *arg)
{
	for (size_t i = home(h, key); h->s[i].sa; i = (i + 1) & (h->cap - 1))
		if (h->s[i].key == key)
			fn(h->s[i].sa, arg);
}

uint64_t sa_spi64(const uint8_t spi[8])
{
	return wire_spi64_get(spi);
}

static uint64_t init_key(const uint8_t spi_i[8], const struct ike_addr *peer)
{
	size_t n;
	const uint8_t *p = addr_bytes(peer, &n);
	uint64_t k = sa_spi64(spi_i);

	for (size_t i = 0; i < n; i++)
		k = mix(k ^ p[i]);
	return k ^ addr_port(peer);
}

/* ---- SAs ---- */

const uint8_t *sa_our_spi(const struct ike_sa *sa)
{
	return sa->initiator ? sa->spi_i : sa->spi_r;
}

static const char *const state_names[] = {
    [IKE_S_INIT_SENT] = "INIT_SENT", [IKE_S_AUTH_SENT] = "AUTH_SENT",
    [IKE_S_INIT_DONE] = "INIT_DONE", [IKE_S_ESTABLISHED] = "ESTABLISHED",
    [IKE_S_REKEYED] = "REKEYED",     [IKE_S_DELETING] = "DELETING",
    [IKE_S_DEAD] = "DEAD",
};

const char *sa_state_name(enum ike_state st)
{
	return st < sizeof(state_names) / sizeof(state_names[0]) ? state_names[st] : "?";
}

/* An identity as riked.conf spells IDs (RFC 7296 3.5): ipv4:, ipv6:,
 * fqdn:, email:, keyid:HEX (DNs and other types: id:HEX). */
void sa_id_text(uint8_t type, const uint8_t *data, size_t n, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	int o;

	switch (type) {
	case IKEV2_ID_IPV4_ADDR:
	case IKEV2_ID_IPV6_ADDR:
		if (n != (type == IKEV2_ID_IPV4_ADDR ? 4u : 16u) ||
		    !inet_ntop(type == IKEV2_ID_IPV4_ADDR ? AF_INET : AF_INET6, data, host,
		               sizeof(host)))
			break;
		snprintf(buf, len, "%s:%s", type == IKEV2_ID_IPV4_ADDR ? "ipv4" : "ipv6", host);
		return;
	case IKEV2_ID_FQDN:
	case IKEV2_ID_RFC822_ADDR:
		/* printable as it stands: log.c escapes control characters */
		snprintf(buf, len, "%s:%.*s", type == IKEV2_ID_FQDN ? "fqdn" : "email", (int)n,
		         (const char *)data);
		return;
	}
	o = snprintf(buf, len, "%s:", type == IKEV2_ID_KEY_ID ? "keyid" : "id");
	for (size_t i = 0; i < n && o > 0 && (size_t)o + 3 < len; i++)
		o += snprintf(buf + o, len - (size_t)o, "%02x", data[i]);
}

void sa_peer_text(const struct ike_sa *sa, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN + 16], id[2 * CFG_ID_MAX + 16] = "";

	addr_format(&sa->remote, a, sizeof(a));
	/* the identity only once AUTH has proven it (verify_auth) */
	if (sa->peer_id_type)
		sa_id_text(sa->peer_id_type, sa->peer_id, sa_peer_id_kept(sa), id, sizeof(id));
	snprintf(buf, len, "peer %s%s%s", a, id[0] ? " id " : "", id);
}

const char *sa_group_name(uint16_t group)
{
	const char *n = ikev2_dh_name(group);

	return n ? n : "unassigned";
}

/* A responder's connection is a candidate until IKE_AUTH has matched the
 * initiator's identity (RFC 7296 2.15): its label says so with a "?". */
static const char *sa_label(const struct ike_sa *sa, char *buf, size_t len)
{
	if (!sa->initiator && sa->state == IKE_S_INIT_DONE) {
		snprintf(buf, len, "%s?", sa->conn_name);
		return buf;
	}
	return sa->conn_name[0] ? sa->conn_name : NULL;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), m = strlen(tail);

	return n >= m && !strcmp(s + n - m, tail);
}

void sa_log(const struct ike_sa *sa, int level, const char *event, const char *fmt, ...)
{
	char details[LOG_LINE_MAX] = "", peer[INET6_ADDRSTRLEN + 2 * CFG_ID_MAX + 48],
	     label[CFG_NAME_MAX + 2];
	size_t n;
	va_list ap;

	if (!log_enabled(level))
		return;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(details, sizeof(details), fmt, ap);
		va_end(ap);
	}
	/* Every failure names whom it was with. */
	if (event && ends_with(event, "-failed")) {
		sa_peer_text(sa, peer, sizeof(peer));
		n = strlen(details);
		snprintf(details + n, sizeof(details) - n, "%s%s", n ? "; " : "", peer);
	}
	log_sa(level, "ike", sa_label(sa, label, sizeof(label)), sa->serial, sa_spi64(sa->spi_i),
	       sa_spi64(sa->spi_r), event, "%s", details);
}

/* ---- established SAs by the peer's identity (RFC 7296 2.4) ---- */

static uint64_t peer_id_key(const struct ike_sa *sa)
{
	uint64_t k;

	memcpy(&k, sa->peer_id_hash, sizeof(k)); /* a SHA-256: any 8 octets will do */
	return k ^ sa->peer_id_type;
}

/*
 * An SA is in the index exactly while it is ESTABLISHED with a known peer
 * identity, the SAs INITIAL_CONTACT replaces; so the index follows the
 * state changes, wherever the identity was set (IKE_AUTH or an IKE rekey).
 * The hash holds one SA per identity; the others of that identity hang off
 * it (id_prev/id_next), so that removing one costs the same however many
 * SAs share the identity (all of an initiator's SAs with one gateway do).
 */
static void peer_id_unlink(struct ike *ike, struct ike_sa *sa)
{
	if (sa->id_prev) {
		sa->id_prev->id_next = sa->id_next;
		if (sa->id_next)
			sa->id_next->id_prev = sa->id_prev;
	} else {
		hash_del(ike->by_peer_id, peer_id_key(sa), sa);
		if (sa->id_next) {
			sa->id_next->id_prev = NULL;
			if (hash_put(ike->by_peer_id, peer_id_key(sa), sa->id_next) < 0)
				sa_log(sa, LOG_ERR, "index-failed", "out of memory");
		}
	}
	sa->id_prev = sa->id_next = NULL;
}

static void peer_id_link(struct ike *ike, struct ike_sa *sa)
{
	struct ike_sa *head;

	if (!ike->by_peer_id)
		ike->by_peer_id = hash_new();
	if (!ike->by_peer_id) {
		sa_log(sa, LOG_ERR, "index-failed", "out of memory");
		return;
	}
	head = hash_get(ike->by_peer_id, peer_id_key(sa));
	if (head) {
		sa->id_prev = head;
		sa->id_next = head->id_next;
		if (head->id_next)
			head->id_next->id_prev = sa;
		head->id_next = sa;
	} else if (hash_put(ike->by_peer_id, peer_id_key(sa), sa) < 0) {
		sa_log(sa, LOG_ERR, "index-failed", "out of memory");
	}
}

static void sa_index_peer_id(struct ike *ike, struct ike_sa *sa, enum ike_state st)
{
	if (!sa->peer_id_type)
		return;
	if (sa->state == IKE_S_ESTABLISHED && st != IKE_S_ESTABLISHED && ike->by_peer_id)
		peer_id_unlink(ike, sa);
	if (st == IKE_S_ESTABLISHED && sa->state != IKE_S_ESTABLISHED)
		peer_id_link(ike, sa);
}

struct same_id_ctx {
	const struct ike_sa *sa;
	uint64_t *out;
	size_t max, n;
};

static void same_id_fn(struct ike_sa *other, struct same_id_ctx *c)
{
	if (other == c->sa || other->peer_id_type != c->sa->peer_id_type ||
	    other->peer_id_len != c->sa->peer_id_len ||
	    crypto_memcmp(other->peer_id_hash, c->sa->peer_id_hash, sizeof(other->peer_id_hash)))
		return;
	if (c->n < c->max)
		c->out[c->n] = other->serial;
	c->n++;
}

size_t sa_same_peer_id(struct ike *ike, const struct ike_sa *sa, uint64_t *out, size_t max)
{
	struct same_id_ctx c = {sa, out, max, 0};

	if (!sa->peer_id_type || !ike->by_peer_id)
		return 0;
	for (struct ike_sa *o = hash_get(ike->by_peer_id, peer_id_key(sa)); o; o = o->id_next)
		same_id_fn(o, &c);
	return c.n;
}

/* The state line: "state OLD -> NEW[: why]", with the peer's address and
 * identity when the SA is established or dies. */
void sa_set_state(struct ike *ike, struct ike_sa *sa, enum ike_state st, const char *why)
{
	enum ike_state old = sa->state;
	char peer[INET6_ADDRSTRLEN + 2 * CFG_ID_MAX + 48] = "";

	if (old == st)
		return;
	if (st == IKE_S_ESTABLISHED && sa->conn_name[0])
		ike_conn_error_clear(ike, sa->conn_name);
	if (st != IKE_S_INIT_DONE)
		halfopen_remove(ike, sa);
	sa_index_peer_id(ike, sa, st);
	if (ike->host.sa_state)
		ike->host.sa_state(ike->host.ctx, sa->serial, (int)sa->state, (int)st, why);
	sa->state = st;
	if (st == IKE_S_ESTABLISHED || st == IKE_S_DEAD)
		sa_peer_text(sa, peer, sizeof(peer));
	sa_log(sa, sa->quiet ? LOG_DEBUG : LOG_INFO, "state", "%s -> %s%s%s%s%s",
	       sa_state_name(old), sa_state_name(st), why ? ": " : "", why ? why : "",
	       peer[0] ? "; " : "", peer);
}

/* The address the IKE_SA_INIT came from is kept: the SA may float later. */
void sa_index_init(struct ike *ike, struct ike_sa *sa)
{
	sa->su->init_peer = sa->remote;
	if (sa->initiator)
		return;
	if (hash_put(ike->by_init, init_key(sa->spi_i, &sa->su->init_peer), sa) < 0)
		sa_log(sa, LOG_ERR, "index-failed", "out of memory");
	halfopen_add(ike, sa);
}

static void bytes_free(uint8_t **p, size_t *len);

/* Established (IKE_AUTH over, or a rekey's new SA up): a late copy of the
 * IKE_SA_INIT request is no retransmission to answer any more (2.1), so
 * the SA leaves the index; the IKE_SA_INIT copies, the COOKIE and a puzzle
 * solution go with the rest of what only set-up needs. */
void sa_setup_free(struct ike *ike, struct ike_sa *sa)
{
	struct ike_setup *su = sa->su;

	if (!su)
		return;
	if (!sa->initiator)
		hash_del(ike->by_init, init_key(sa->spi_i, &su->init_peer), sa);
	halfopen_remove(ike, sa);
	puzzle_drop_solution(sa);
	bytes_free(&su->cookie, &su->cookie_len);
	wire_wr_free(&su->init_req);
	wire_wr_free(&su->init_resp);
	free(su);
	sa->su = NULL;
}

/* IKE_AUTH is over: the nonces go too (AUTH and the first Child SA's keys
 * used them). */
void sa_unindex_init(struct ike *ike, struct ike_sa *sa)
{
	sa_setup_free(ike, sa);
	bytes_free(&sa->ni, &sa->ni_len);
	bytes_free(&sa->nr, &sa->nr_len);
}

struct ike_sa *sa_new(struct ike *ike, const struct cfg_conn *conn, bool initiator)
{
	struct ike_sa *sa = calloc(1, sizeof(*sa));
	uint8_t *our;

	if (!sa)
		return NULL;
	sa->serial = ++ike->next_serial;
	sa->conn = conn;
	sa->conn_name = conn ? conn->name : "";
	sa->initiator = initiator;
	sa->state = initiator ? IKE_S_INIT_SENT : IKE_S_INIT_DONE;
	sa->fake_nat = ike->host.force_encap || (conn && conn->encap);
	sa->created_ms = sa->last_rx_ms = ike_now(ike);
	if (!(sa->su = calloc(1, sizeof(*sa->su)))) {
		free(sa);
		return NULL;
	}
	wire_wr_init(&sa->su->init_req, WIRE_SK_MAX_MSG);
	wire_wr_init(&sa->su->init_resp, WIRE_SK_MAX_MSG);
	wire_wr_init(&sa->cache.pkt, WIRE_SKF_FLAT_MAX);
	/* Our SPI: random, non-zero and unique in the table (2.6). */
	our = initiator ? sa->spi_i : sa->spi_r;
	do {
		if (crypto_random(our, 8) < 0)
			goto fail;
	} while (!sa_spi64(our) || sa_lookup_spi(ike, our));
	if (hash_put(ike->by_spi, sa_spi64(our), sa) < 0)
		goto fail;
	if (hash_put(ike->by_serial, sa->serial, sa) < 0) {
		hash_del(ike->by_spi, sa_spi64(our), sa);
		goto fail;
	}
	return sa;
fail:
	ext_sa_free(sa);
	free(sa);
	return NULL;
}

struct ike_sa *sa_lookup_spi(struct ike *ike, const uint8_t spi[8])
{
	return hash_get(ike->by_spi, sa_spi64(spi));
}

struct ike_sa *sa_lookup_serial(struct ike *ike, uint64_t serial)
{
	return hash_get(ike->by_serial, serial);
}

/*
 * RFC 7296 2.1: a retransmitted IKE_SA_INIT is recognised by SPIi, the
 * peer and Ni, so a forged request with the same SPIi cannot capture the
 * real one.
 */
struct init_match {
	const uint8_t *spi_i;
	const struct ike_addr *peer;
	const uint8_t *ni;
	size_t ni_len;
};

static bool init_matches(const struct ike_sa *sa, const void *arg)
{
	const struct init_match *m = arg;

	return sa->su && !memcmp(sa->spi_i, m->spi_i, 8) &&
	       addr_equal(&sa->su->init_peer, m->peer) && sa->ni_len == m->ni_len &&
	       (!m->ni_len || !memcmp(sa->ni, m->ni, m->ni_len));
}

struct ike_sa *sa_lookup_init(struct ike *ike, const uint8_t spi_i[8], const struct ike_addr *peer,
                              const uint8_t *ni, size_t ni_len)
{
	struct init_match m = {spi_i, peer, ni, ni_len};

	return hash_find(ike->by_init, init_key(spi_i, peer), init_matches, &m);
}

void sa_set_peer_spi(struct ike *ike, struct ike_sa *sa, const uint8_t spi[8])
{
	(void)ike;
	memcpy(sa->initiator ? sa->spi_r : sa->spi_i, spi, 8);
}

void child_free(struct child_sa *c)
{
	if (!c)
		return;
	free(c->nonce_min);
	child_keys_drop(c);
	crypto_wipe(c, sizeof(*c));
	free(c);
}

void child_ts(const struct child_sa *c, struct ike_ts_set *local, struct ike_ts_set *remote)
{
	if (local) {
		local->n = c->n_ts_local;
		memcpy(local->ts, c->ts, c->n_ts_local * sizeof(c->ts[0]));
	}
	if (remote) {
		remote->n = c->n_ts_remote;
		memcpy(remote->ts, c->ts + c->n_ts_local, c->n_ts_remote * sizeof(c->ts[0]));
	}
}

/* Most peers never fragment: the queues (2 KiB each) come with the first fragment. */
struct wire_skf_reasm *sa_reasm(struct ike_sa *sa, bool response)
{
	struct wire_skf_reasm **q = response ? &sa->reasm_resp : &sa->reasm;

	if (!*q) {
		*q = malloc(sizeof(**q));
		if (*q)
			wire_skf_reasm_init(*q);
	}
	return *q;
}

size_t sa_reasm_bytes(const struct ike_sa *sa)
{
	return (sa->reasm ? sa->reasm->bytes : 0) + (sa->reasm_resp ? sa->reasm_resp->bytes : 0);
}

void sa_reasm_clear(struct ike_sa *sa)
{
	wire_skf_reasm_clear(sa->reasm);
	wire_skf_reasm_clear(sa->reasm_resp);
	free(sa->reasm);
	free(sa->reasm_resp);
	sa->reasm = sa->reasm_resp = NULL;
}

static void bytes_free(uint8_t **p, size_t *len)
{
	if (*p && *len)
		crypto_wipe(*p, *len);
	free(*p);
	*p = NULL;
	*len = 0;
}

int sa_bytes_set(uint8_t **dst, size_t *dst_len, const uint8_t *p, size_t len)
{
	uint8_t *n = len ? malloc(len) : NULL;

	bytes_free(dst, dst_len);
	*dst = n;
	*dst_len = n ? len : 0;
	if (len && !n)
		return -1;
	if (p && len)
		memcpy(n, p, len);
	return 0;
}

size_t sa_peer_id_kept(const struct ike_sa *sa)
{
	return sa->peer_id ? (sa->peer_id_len < CFG_ID_MAX ? sa->peer_id_len : CFG_ID_MAX) : 0;
}

struct ike_out *sa_out_new(void)
{
	struct ike_out *o = calloc(1, sizeof(*o));

	if (o)
		wire_wr_init(&o->pkt, WIRE_SKF_FLAT_MAX);
	return o;
}

void sa_out_free(struct ike_sa *sa)
{
	if (!sa->out)
		return;
	wire_wr_free(&sa->out->pkt);
	free(sa->out->frags.end);
	free(sa->out);
	sa->out = NULL;
}

struct ike_pending *sa_pend(struct ike_sa *sa)
{
	if (!sa->pend)
		sa->pend = calloc(1, sizeof(*sa->pend));
	return sa->pend;
}

void sa_pend_free(struct ike_sa *sa)
{
	if (!sa->pend)
		return;
	crypto_dh_free(sa->pend->dh);
	crypto_wipe(sa->pend, sizeof(*sa->pend));
	free(sa->pend);
	sa->pend = NULL;
}

void sa_free(struct ike *ike, struct ike_sa *sa)
{
	timer_cancel(ike, sa);
	while (sa->children) {
		struct child_sa *c = sa->children;

		sa->children = c->next;
		child_unindex(ike, sa, c);
		child_free(c);
	}
	crypto_dh_free(sa->dh);
	sa_pend_free(sa);
	bytes_free(&sa->ni, &sa->ni_len);
	bytes_free(&sa->nr, &sa->nr_len);
	bytes_free(&sa->nonce_min, &sa->nonce_min_len);
	free(sa->peer_id);
	wire_prot_clear(&sa->prot_in);
	wire_prot_clear(&sa->prot_out);
	ike_keys_drop(sa);
	sa_out_free(sa);
	wire_wr_free(&sa->cache.pkt);
	free(sa->cache.frags.end);
	sa_reasm_clear(sa);
	sa_setup_free(ike, sa);
	free(sa->own);
	free(sa->name_kept);
	ext_sa_free(sa);
	crypto_wipe(sa, sizeof(*sa));
	free(sa);
}

/* Unlink from every index; the struct stays until sa_reap(). */
void sa_kill(struct ike *ike, struct ike_sa *sa, const char *why)
{
	if (sa->state == IKE_S_DEAD)
		return;
	for (struct child_sa *c = sa->children; c; c = c->next) {
		child_uninstall(ike, sa, c);
		ext_child_event(ike, sa, c, EXT_CHILD_DOWN);
	}
	/* 2.25.2: a rekey that was under way goes with the SA it rekeys. */
	if (sa->out && sa->out->task == TASK_IKE_REKEY && sa->pend && sa->pend->new_sa) {
		struct ike_sa *nsa = sa_lookup_serial(ike, sa->pend->new_sa);

		sa->pend->new_sa = 0;
		if (nsa && nsa->state != IKE_S_ESTABLISHED)
			sa_kill(ike, nsa, "its rekey was abandoned");
	}
	/* The connection's last error (rikectl list-conns): an attempt of ours
	 * that failed before it was established, unless the operator or a
	 * reload stopped it (a dead peer: ike_peer_gone). */
	if (sa->conn_name[0] && sa->initiator && !sa->no_restart &&
	    sa->state != IKE_S_ESTABLISHED && sa->state != IKE_S_REKEYED &&
	    sa->state != IKE_S_DELETING)
		ike_conn_error_set(ike, sa->conn_name, why);
	sa_set_state(ike, sa, IKE_S_DEAD, why);
	hash_del(ike->by_spi, sa_spi64(sa_our_spi(sa)), sa);
	if (!sa->initiator && sa->su)
		hash_del(ike->by_init, init_key(sa->spi_i, &sa->su->init_peer), sa);
	sa->next_dead = ike->dead;
	ike->dead = sa;
	/* by_serial keeps it until the reaper runs, so sa_foreach can skip it. */
}

void sa_fail(struct ike *ike, struct ike_sa *sa, const char *why)
{
	ext_sa_down(ike, sa, false);
	sa_kill(ike, sa, why);
}

void sa_kill_quiet(struct ike *ike, struct ike_sa *sa, const char *why)
{
	sa->quiet = true;
	sa_kill(ike, sa, why);
}

/* Free the SAs killed during this engine call (kept until now so that
 * callers up the stack never hold a freed pointer). */
void sa_reap(struct ike *ike)
{
	while (ike->dead) {
		struct ike_sa *sa = ike->dead;

		ike->dead = sa->next_dead;
		hash_del(ike->by_serial, sa->serial, sa);
		sa_free(ike, sa);
	}
}

void sa_foreach(struct ike *ike, void (*fn)(struct ike *, struct ike_sa *, void *), void *arg)
{
	struct ike_hash *h = ike->by_serial;
	size_t n = 0, cap = h->n;
	uint64_t *serials = malloc((cap ? cap : 1) * sizeof(*serials));

	if (!serials)
		return;
	for (size_t i = 0; i < h->cap && n < cap; i++)
		if (h->s[i].sa)
			serials[n++] = h->s[i].key;
	for (size_t i = 0; i < n; i++) {
		struct ike_sa *sa = sa_lookup_serial(ike, serials[i]);

		if (sa && sa->state != IKE_S_DEAD)
			fn(ike, sa, arg);
	}
	free(serials);
}

/* ---- accessors and look-ups for exchanges and extensions (ike/engine.h) ---- */

uint64_t ike_sa_serial(const struct ike_sa *sa)
{
	return sa->serial;
}

const char *ike_sa_name(const struct ike_sa *sa)
{
	return sa->conn_name;
}

int ike_sa_log_id(struct ike *ike, uint64_t serial, const char **conn, uint64_t *spi_i,
                  uint64_t *spi_r)
{
	const struct ike_sa *sa = sa_lookup_serial(ike, serial);

	if (!sa)
		return -1;
	*conn = sa->conn_name;
	*spi_i = sa_spi64(sa->spi_i);
	*spi_r = sa_spi64(sa->spi_r);
	return 0;
}

const struct cfg_conn *ike_sa_conn(const struct ike_sa *sa)
{
	return sa->conn;
}

enum ike_state ike_sa_state(const struct ike_sa *sa)
{
	return sa->state;
}

bool ike_sa_initiator(const struct ike_sa *sa)
{
	return sa->initiator;
}

bool ike_sa_created_by_us(const struct ike_sa *sa)
{
	return sa->by_us;
}

const uint8_t *ike_sa_spi_i(const struct ike_sa *sa)
{
	return sa->spi_i;
}

const uint8_t *ike_sa_spi_r(const struct ike_sa *sa)
{
	return sa->spi_r;
}

const struct ike_addr *ike_sa_local(const struct ike_sa *sa)
{
	return &sa->local;
}

const struct ike_addr *ike_sa_remote(const struct ike_sa *sa)
{
	return &sa->remote;
}

const uint8_t *ike_sa_ni(const struct ike_sa *sa, size_t *len)
{
	*len = sa->ni_len;
	return sa->ni;
}

bool ike_sa_rekeying(const struct ike_sa *sa)
{
	return sa->state == IKE_S_REKEYED || (sa->out && sa->out->task == TASK_IKE_REKEY);
}

size_t ike_sa_peer_id(const struct ike_sa *sa, char *buf, size_t len)
{
	size_t n = sa_peer_id_kept(sa);
	struct ike_addr a;
	size_t k = 0;

	if (!len)
		return 0;
	buf[0] = 0;
	switch (sa->peer_id_type) {
	case 0:
		return 0;
	case IKEV2_ID_FQDN:
	case IKEV2_ID_RFC822_ADDR:
		for (k = 0; k < n && k + 1 < len; k++)
			buf[k] = sa->peer_id[k] >= 0x20 && sa->peer_id[k] < 0x7f
			             ? (char)sa->peer_id[k]
			             : '?';
		buf[k] = 0;
		return k;
	case IKEV2_ID_IPV4_ADDR:
	case IKEV2_ID_IPV6_ADDR:
		if (addr_from_bytes(&a, sa->peer_id, n) == 0) {
			addr_format_host(&a, buf, len);
			return strlen(buf);
		}
		break;
	default:
		break;
	}
	for (k = 0; k < n && 2 * k + 2 < len; k++)
		snprintf(buf + 2 * k, 3, "%02x", sa->peer_id[k]);
	return strlen(buf);
}

uint32_t child_sa_reqid(const struct child_sa *c)
{
	return c->reqid;
}

uint32_t child_sa_spi_in(const struct child_sa *c)
{
	return c->spi_in;
}

struct ike_sa *ike_sa_by_serial(struct ike *ike, uint64_t serial)
{
	struct ike_sa *sa = sa_lookup_serial(ike, serial);

	return sa && sa->state != IKE_S_DEAD ? sa : NULL;
}

struct ike_sa *ike_sa_by_spis(struct ike *ike, const uint8_t spi_i[8], const uint8_t spi_r[8])
{
	const uint8_t *ours[2] = {spi_i, spi_r};

	for (size_t k = 0; k < 2; k++) {
		struct ike_sa *sa = sa_lookup_spi(ike, ours[k]);

		if (sa && !memcmp(sa->spi_i, spi_i, 8) && !memcmp(sa->spi_r, spi_r, 8))
			return sa;
	}
	return NULL;
}

struct child_find {
	uint32_t spi;
	struct ike_sa *sa;
};

static void child_find_fn(struct ike *ike, struct ike_sa *sa, void *arg)
{
	struct child_find *f = arg;

	(void)ike;
	if (!f->sa && child_by_spi_out(sa, f->spi))
		f->sa = sa;
}

struct ike_sa *ike_sa_by_child_out(struct ike *ike, uint32_t spi)
{
	struct child_find f = {spi, NULL};

	sa_foreach(ike, child_find_fn, &f);
	return f.sa;
}

void ike_sa_foreach(struct ike *ike, void (*fn)(struct ike *, struct ike_sa *, void *), void *arg)
{
	sa_foreach(ike, fn, arg);
}

uint64_t ike_last_serial(const struct ike *ike)
{
	return ike->next_serial;
}

size_t ike_sa_count(const struct ike *ike)
{
	return ike->by_spi->n;
}

/* ---- Child SAs ---- */

/* The Child SA's keys into the engine's indexes (reqid, inbound SPI). */
int child_index(struct ike *ike, struct ike_sa *sa, struct child_sa *c)
{
	if (hash_put(ike->by_reqid, c->reqid, sa) < 0)
		return -1;
	if (hash_put(ike->by_spi_in, c->spi_in, sa) < 0) {
		hash_del(ike->by_reqid, c->reqid, sa);
		return -1;
	}
	return 0;
}

void child_unindex(struct ike *ike, struct ike_sa *sa, struct child_sa *c)
{
	hash_del(ike->by_reqid, c->reqid, sa);
	hash_del(ike->by_spi_in, c->spi_in, sa);
}

/*
 * The residue modulo *mod the host wants a new inbound SPI to have (its
 * data plane steers ESP to a packet thread by SPI): false when it has no
 * wish (no hook, or it declines).
 */
static bool child_spi_residue(struct ike *ike, uint32_t rekey_reqid, uint32_t *mod,
                              uint32_t *residue)
{
	if (!ike->host.spi_residue ||
	    ike->host.spi_residue(ike->host.ctx, rekey_reqid, mod, residue) < 0)
		return false;
	return *mod > 1 && *residue < *mod;
}

uint32_t child_alloc_spi(struct ike *ike, uint32_t rekey_reqid)
{
	uint32_t mod = 1, residue = 0;
	uint64_t spi;

	if (!child_spi_residue(ike, rekey_reqid, &mod, &residue)) {
		mod = 1;
		residue = 0;
	}
	/* RFC 4303 2.1: SPIs 1-255 are reserved. Uniqueness across the
	 * whole daemon matters to the data plane's inbound lookup: with
	 * random SPIs a gateway of 100,000 Child SAs would see about one
	 * collision (the birthday bound), so the SPIs in use are skipped.
	 * A random SPI moved down to the residue wanted is as random in
	 * its other bits (only the last block of 2^32, short of a whole
	 * modulus, is drawn again). */
	for (unsigned tries = 0; tries < 64; tries++) {
		uint32_t r;
		if (crypto_random(&r, sizeof(r)) < 0)
			return 0;
		spi = (uint64_t)r - r % mod + residue;
		if (spi >= 256 && spi <= UINT32_MAX && !hash_get(ike->by_spi_in, (uint32_t)spi))
			return (uint32_t)spi;
	}
	return 0;
}

struct child_sa *child_new(struct ike *ike, struct ike_sa *sa, uint32_t spi_in, size_t n_ts)
{
	struct child_sa *c = calloc(1, sizeof(*c) + n_ts * sizeof(c->ts[0]));

	if (!c)
		return NULL;
	c->reqid = ++ike->next_reqid;
	c->spi_in = spi_in;
	if (child_index(ike, sa, c) < 0) {
		free(c);
		return NULL;
	}
	c->protocol = IKEV2_PROTO_ESP;
	c->created_ms = ike_now(ike);
	c->next = sa->children;
	sa->children = c;
	return c;
}

/* The live IKE SA holding the Child SA of reqid, and that child: one hash
 * probe and the children of one IKE SA, whatever the number of SAs. */
struct child_sa *child_by_reqid(struct ike *ike, uint32_t reqid, struct ike_sa **sa)
{
	struct ike_sa *s = hash_get(ike->by_reqid, reqid);

	*sa = NULL;
	if (!s || s->state == IKE_S_DEAD)
		return NULL;
	for (struct child_sa *c = s->children; c; c = c->next)
		if (c->reqid == reqid) {
			*sa = s;
			return c;
		}
	return NULL;
}

struct child_sa *child_by_spi_in(struct ike_sa *sa, uint32_t spi)
{
	for (struct child_sa *c = sa->children; c; c = c->next)
		if (c->spi_in == spi)
			return c;
	return NULL;
}

struct child_sa *child_by_spi_out(struct ike_sa *sa, uint32_t spi)
{
	for (struct child_sa *c = sa->children; c; c = c->next)
		if (c->spi_out == spi)
			return c;
	return NULL;
}

void child_remove(struct ike *ike, struct ike_sa *sa, struct child_sa *c)
{
	for (struct child_sa **pp = &sa->children; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	child_unindex(ike, sa, c);
	child_uninstall(ike, sa, c);
	ext_child_event(ike, sa, c, EXT_CHILD_DOWN);
	sa_log(sa, LOG_INFO, "child-deleted", "reqid %u spi %08x/%08x", c->reqid, c->spi_in,
	       c->spi_out);
	child_free(c);
}
