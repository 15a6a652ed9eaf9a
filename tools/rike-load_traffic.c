/*
 * rike-load --traffic: ESP through each client's Child SA, from the keys
 * the engine hands to the child_up hook, without a TUN device or the
 * kernel. Each client sends ICMP echo requests from its inner address
 * (its TSi) to an address inside the gateway's TSr, as tunnel-mode ESP
 * (RFC 4303, src/dataplane/esp.c through probe.c) in UDP (RFC 3948) from
 * the NAT-T socket to the gateway's NAT-T port; the gateway's echo replies
 * come back on the same socket and are decapsulated with the client's
 * inbound SA: anti-replay (RFC 4303 3.4.3), ICV (3.4.4), padding, then the
 * echo itself (ours, intact, to this client). Sending is paced over all
 * clients together, one packet per client in turn.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/probe.h"
#include "ike/ike.h"
#include "rike-load.h"
#include "wire/ikev2.h"

#define LT_REPLAY_WINDOW 1024
#define LT_SEND_BATCH    1024 /* packets per step before the loop reads again */

/* Reasons beyond the probe's own (dp_probe_result 1..N-1). */
enum {
	LT_F_UNKNOWN_SPI = DP_PROBE_N_RESULTS, /* no client has this inbound SPI */
	LT_F_MISMATCH,  /* our echo, but not this client's or from elsewhere */
	LT_F_DUPLICATE, /* a second reply to one request */
	LT_F_NO_ENCAP,  /* client: its Child SA is not UDP-encapsulated */
	LT_F_DST_TS,    /* client: the destination is outside its TSr */
	LT_F_SA,        /* client: the SA's transforms could not be set up */
	LT_F_GONE,      /* client: its Child SA went down before all was sent */
	LT_F_N,
};

static const char *const lt_extra[] = {"unknown_spi",    "mismatch", "duplicate", "no_udp_encap",
                                       "dst_outside_ts", "sa_setup", "child_gone"};

struct lt_sas {
	struct dp_esp_sa out, in;
};

struct lt_client {
	struct lt_sas *sas; /* owned; NULL: nothing to send through */
	uint32_t spi_in;
	struct sockaddr_storage remote; /* the gateway's NAT-T address */
	sa_family_t family;
	uint8_t src[16], dst[16]; /* inner */
	uint32_t sent, received;
	bool counted; /* in the run's client list */
	bool gone;    /* counted as child_gone */
};

struct load_traffic {
	struct load_traffic_opts o;
	int fd;
	uint16_t id; /* ICMP identifier of this run */
	bool have_dst;
	sa_family_t dst_family;
	uint8_t dst[16];
	struct lt_client *c;
	size_t n;
	uint8_t *seen;   /* a bit per (client, packet): replies already counted */
	size_t seen_row; /* octets per client */
	/* Inbound SPI -> client + 1 (open addressing; entries stay, checked against spi_in). */
	uint32_t *spi_key, *spi_val;
	size_t spi_cap, spi_used;
	/* The run. */
	size_t *order; /* the clients that send, in client order */
	size_t n_order;
	uint64_t pos, total; /* next packet, packets to send */
	uint64_t t0, last_send_us, last_rx_us;
	bool started;
	uint32_t *rtt; /* microseconds, one per reply */
	size_t n_rtt;
	struct load_esp_report r;
	uint64_t fail[LT_F_N];
};

static uint32_t spi_hash(uint32_t spi)
{
	return spi * 0x9e3779b1u;
}

static void spi_put(struct load_traffic *t, uint32_t spi, size_t idx)
{
	size_t m = t->spi_cap - 1, i = spi_hash(spi) & m;

	if (t->spi_used * 2 >= t->spi_cap)
		return; /* full (rekeys beyond one per client): replies count as unknown_spi */
	while (t->spi_val[i] && t->spi_key[i] != spi)
		i = (i + 1) & m;
	if (!t->spi_val[i])
		t->spi_used++;
	t->spi_key[i] = spi;
	t->spi_val[i] = (uint32_t)idx + 1;
}

static struct lt_client *spi_get(struct load_traffic *t, uint32_t spi, size_t *idx)
{
	size_t m = t->spi_cap - 1, i = spi_hash(spi) & m;

	for (; t->spi_val[i]; i = (i + 1) & m)
		if (t->spi_key[i] == spi) {
			*idx = t->spi_val[i] - 1;
			return t->c[*idx].spi_in == spi && t->c[*idx].sas ? &t->c[*idx] : NULL;
		}
	return NULL;
}

struct load_traffic *load_traffic_new(const struct load_traffic_opts *o, size_t clients, int fd)
{
	struct load_traffic *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->o = *o;
	t->fd = fd;
	t->n = clients;
	t->id = (uint16_t)getpid();
	if (o->dst) {
		t->have_dst = true;
		t->dst_family = strchr(o->dst, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(t->dst_family, o->dst, t->dst) != 1) {
			fprintf(stderr, "rike-load: --traffic-dst '%s' is not an address\n",
			        o->dst);
			free(t);
			return NULL;
		}
	}
	t->seen_row = (o->packets + 7) / 8;
	for (t->spi_cap = 16; t->spi_cap < clients * 4; t->spi_cap *= 2)
		;
	t->c = calloc(clients, sizeof(*t->c));
	t->seen = calloc(clients, t->seen_row);
	t->spi_key = calloc(t->spi_cap, sizeof(*t->spi_key));
	t->spi_val = calloc(t->spi_cap, sizeof(*t->spi_val));
	t->order = calloc(clients, sizeof(*t->order));
	if (!t->c || !t->seen || !t->spi_key || !t->spi_val || !t->order) {
		fprintf(stderr, "rike-load: out of memory for --traffic\n");
		load_traffic_free(t);
		return NULL;
	}
	return t;
}

static void client_clear(struct lt_client *c)
{
	if (!c->sas)
		return;
	dp_esp_clear(&c->sas->out);
	dp_esp_clear(&c->sas->in);
	free(c->sas);
	c->sas = NULL;
}

void load_traffic_free(struct load_traffic *t)
{
	if (!t)
		return;
	for (size_t i = 0; t->c && i < t->n; i++)
		client_clear(&t->c[i]);
	free(t->c);
	free(t->seen);
	free(t->spi_key);
	free(t->spi_val);
	free(t->order);
	free(t->rtt);
	free(t);
}

/* ---- a client's Child SA ---- */

static bool in_ts(const struct cfg_ts *ts, sa_family_t family, const uint8_t *a)
{
	size_t n = family == AF_INET6 ? 16 : 4;

	if ((ts->type == IKEV2_TS_IPV6_ADDR_RANGE) != (family == AF_INET6))
		return false;
	return memcmp(a, ts->start, n) >= 0 && memcmp(a, ts->end, n) <= 0;
}

/* Inner source (our TSi) and destination (in TSr) of the same family; -1: none. */
static int pick_inner(const struct load_traffic *t, const struct ike_child_info *ci,
                      struct lt_client *c)
{
	const struct ike_ts_set *rs = &ci->ts_remote;
	size_t k;

	if (!ci->ts_local.n || !rs->n)
		return -1;
	c->family = ci->ts_local.ts[0].type == IKEV2_TS_IPV6_ADDR_RANGE ? AF_INET6 : AF_INET;
	memcpy(c->src, ci->ts_local.ts[0].start, sizeof(c->src));
	if (!t->have_dst) {
		for (k = 0; k < rs->n && !in_ts(&rs->ts[k], c->family, rs->ts[k].start); k++)
			;
		if (k == rs->n)
			return -1;
		memcpy(c->dst, rs->ts[k].start, sizeof(c->dst));
		return 0;
	}
	if (t->dst_family != c->family)
		return -1;
	for (k = 0; k < rs->n; k++)
		if (in_ts(&rs->ts[k], t->dst_family, t->dst)) {
			memcpy(c->dst, t->dst, sizeof(c->dst));
			return 0;
		}
	return -1;
}

/* The dp_sa of one direction, as riked's data plane glue builds it. */
static void dp_sa_of(const struct ike_child_info *ci, bool out, struct dp_sa *d)
{
	memset(d, 0, sizeof(*d));
	d->reqid = ci->reqid;
	d->dir = out ? DP_DIR_OUT : DP_DIR_IN;
	d->spi = out ? ci->spi_out : ci->spi_in;
	d->mode = DP_MODE_TUNNEL;
	d->encap = true;
	d->encr = ci->encr;
	d->encr_keybits = ci->encr_keybits;
	d->encr_key_len = ci->key_e_len;
	d->integ = ci->integ;
	d->integ_key_len = ci->key_a_len;
	d->esn = ci->esn;
	d->replay_window = LT_REPLAY_WINDOW;
	memcpy(d->encr_key, out ? ci->key_out_e : ci->key_in_e, ci->key_e_len);
	memcpy(d->integ_key, out ? ci->key_out_a : ci->key_in_a, ci->key_a_len);
}

static int sas_init(struct lt_sas *s, const struct ike_child_info *ci)
{
	struct dp_sa d;
	int rc = -1;

	if (ci->key_e_len > sizeof(d.encr_key) || ci->key_a_len > sizeof(d.integ_key))
		return -1;
	dp_sa_of(ci, true, &d);
	if (dp_esp_init(&s->out, &d) == 0) {
		dp_sa_of(ci, false, &d);
		if (dp_esp_init(&s->in, &d) == 0)
			rc = 0;
		else
			dp_esp_clear(&s->out);
	}
	explicit_bzero(&d, sizeof(d));
	return rc;
}

void load_traffic_child_up(struct load_traffic *t, size_t idx, const struct ike_child_info *ci)
{
	struct lt_client *c = &t->c[idx];
	struct lt_sas *s;

	/* RFC 3948: ESP goes in UDP on the NAT-T port; the engine was told to
	 * float there (ike_host.force_encap), a transport-mode SA is not ours. */
	if (!(ci->natt || ci->encap) || ci->transport) {
		t->fail[LT_F_NO_ENCAP]++;
		return;
	}
	if (pick_inner(t, ci, c) < 0) {
		t->fail[LT_F_DST_TS]++;
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s || sas_init(s, ci) < 0) {
		free(s);
		t->fail[LT_F_SA]++;
		return;
	}
	client_clear(c); /* a rekeyed Child SA: the new SAs take over */
	c->sas = s;
	c->spi_in = ci->spi_in;
	addr_to_ss(&ci->remote, &c->remote);
	spi_put(t, ci->spi_in, idx);
}

void load_traffic_child_down(struct load_traffic *t, size_t idx, const struct ike_child_info *ci)
{
	struct lt_client *c = &t->c[idx];

	if (c->sas && c->spi_in == ci->spi_in)
		client_clear(c);
}

/* ---- receiving ---- */

static void bump(struct load_traffic *t, unsigned reason)
{
	t->fail[reason]++;
}

void load_traffic_input(struct load_traffic *t, uint8_t *buf, size_t len)
{
	struct dp_buf b = {.base = buf, .cap = len, .off = 0, .len = len};
	struct dp_probe p;
	struct lt_client *c;
	uint64_t now, seq;
	size_t idx, alen;
	uint32_t spi;
	enum dp_probe_result r;

	if (dp_esp_peek_spi(buf, len, &spi) < 0) {
		bump(t, DP_PROBE_ESP_MALFORMED);
		return;
	}
	c = spi_get(t, spi, &idx);
	if (!c) {
		bump(t, LT_F_UNKNOWN_SPI);
		return;
	}
	t->r.esp_bytes_received += len;
	r = dp_probe_open(&c->sas->in, &b, true, &p, &seq);
	if (r != DP_PROBE_OK) {
		bump(t, r);
		return;
	}
	alen = c->family == AF_INET6 ? 16 : 4;
	if (p.id != t->id || p.tag != (uint32_t)idx || p.seq >= t->o.packets ||
	    p.family != c->family || memcmp(p.src, c->dst, alen) || memcmp(p.dst, c->src, alen)) {
		bump(t, LT_F_MISMATCH);
		return;
	}
	uint8_t *bit = &t->seen[idx * t->seen_row + p.seq / 8];
	if (*bit & (1u << (p.seq % 8))) {
		bump(t, LT_F_DUPLICATE);
		return;
	}
	*bit |= (uint8_t)(1u << (p.seq % 8));
	now = load_now_us();
	c->received++;
	t->r.received++;
	t->r.bytes_received += b.len;
	t->last_rx_us = now;
	if (t->rtt && t->n_rtt < t->total)
		t->rtt[t->n_rtt++] =
		    (uint32_t)(now - p.stamp < UINT32_MAX ? now - p.stamp : UINT32_MAX);
}

/* ---- sending ---- */

void load_traffic_start(struct load_traffic *t, uint64_t now_us)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->c[i].sas) {
			t->c[i].counted = true;
			t->order[t->n_order++] = i;
		}
	t->total = (uint64_t)t->n_order * t->o.packets;
	t->rtt = t->total ? calloc(t->total, sizeof(*t->rtt)) : NULL;
	if (t->total && !t->rtt)
		fprintf(stderr, "rike-load: no memory for round-trip times; not kept\n");
	t->t0 = now_us;
	t->started = true;
}

static void send_one(struct load_traffic *t, struct lt_client *c, size_t idx, uint32_t k)
{
	uint8_t buf[DP_PROBE_BUF_CAP];
	struct dp_buf b = {.base = buf, .cap = sizeof(buf), .off = DP_PROBE_HEADROOM};
	struct dp_probe p = {.family = c->family,
	                     .id = t->id,
	                     .seq = (uint16_t)k,
	                     .tag = (uint32_t)idx,
	                     .stamp = load_now_us(),
	                     .data_len = t->o.data_len};
	bool corrupt = t->o.corrupt && (t->r.sent + 1) % t->o.corrupt == 0;
	socklen_t sl = c->remote.ss_family == AF_INET ? sizeof(struct sockaddr_in)
	                                              : sizeof(struct sockaddr_in6);

	memcpy(p.src, c->src, sizeof(p.src));
	memcpy(p.dst, c->dst, sizeof(p.dst));
	if (dp_probe_seal(&c->sas->out, &b, &p, false, corrupt) != DP_PROBE_OK) {
		bump(t, DP_PROBE_ERROR);
		return;
	}
	if (sendto(t->fd, dp_buf_data(&b), b.len, 0, (const struct sockaddr *)&c->remote, sl) < 0) {
		t->r.send_errors++;
		return;
	}
	c->sent++;
	t->r.sent++;
	t->r.corrupted += corrupt;
	t->r.bytes_sent += dp_probe_len(&p);
	t->r.esp_bytes_sent += b.len;
	t->last_send_us = p.stamp;
}

int load_traffic_step(struct load_traffic *t, uint64_t now)
{
	uint64_t due = t->total, wait_us = (uint64_t)(t->o.wait * 1e6);

	if (!t->started)
		return -1;
	if (t->o.rate > 0) {
		double d = (double)(now - t->t0) / 1e6 * t->o.rate + 1;

		if (d < (double)due)
			due = (uint64_t)d;
	}
	for (unsigned k = 0; t->pos < due && k < LT_SEND_BATCH; k++, t->pos++) {
		size_t idx = t->order[t->pos % t->n_order];
		struct lt_client *c = &t->c[idx];

		if (!c->sas) {
			if (!c->gone)
				bump(t, LT_F_GONE);
			c->gone = true;
			continue;
		}
		send_one(t, c, idx, (uint32_t)(t->pos / t->n_order));
	}
	if (t->pos < t->total) {
		if (t->pos < due)
			return 0; /* a batch is out: read, then go on */
		/* The next one is due in under 1 ms at high rates: sleep 1 ms
		 * and send what fell due meanwhile, rather than spin. */
		double ms = ((double)t->pos / t->o.rate - (double)(now - t->t0) / 1e6) * 1000;

		return ms < 1 ? 1 : (int)ms + 1;
	}
	/* All out: done when every packet that can be answered was, or after the wait. */
	if (t->r.received >= t->r.sent - t->r.corrupted || now >= t->last_send_us + wait_us)
		return -1;
	return (int)((t->last_send_us + wait_us - now) / 1000) + 1;
}

/* ---- the report ---- */

void load_traffic_report(struct load_traffic *t, struct load_esp_report *r)
{
	uint64_t end;

	t->r.packets_per_client = t->o.packets;
	t->r.data_len = t->o.data_len;
	if (t->o.dst)
		snprintf(t->r.dst, sizeof(t->r.dst), "%s", t->o.dst);
	else
		snprintf(t->r.dst, sizeof(t->r.dst), "first address of TSr");
	t->r.clients = t->r.clients_all = t->r.clients_none = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct lt_client *c = &t->c[i];

		if (!c->counted)
			continue;
		t->r.clients++;
		t->r.clients_all += c->received == t->o.packets;
		t->r.clients_none += c->received == 0;
	}
	t->r.lost = t->r.sent - (t->r.received < t->r.sent ? t->r.received : t->r.sent);
	end = t->last_rx_us > t->last_send_us ? t->last_rx_us : t->last_send_us;
	t->r.secs = t->r.sent && end > t->t0 ? (double)(end - t->t0) / 1e6 : 0;
	t->r.pps = t->r.secs > 0 ? (double)(t->r.sent + t->r.received) / t->r.secs : 0;
	load_percentiles(t->rtt, t->n_rtt, &t->r.rtt_p50, &t->r.rtt_p90, &t->r.rtt_p99,
	                 &t->r.rtt_max);
	t->r.n_fail = 0;
	t->r.failures = 0;
	for (unsigned k = 1; k < LT_F_N && t->r.n_fail < LOAD_ESP_REASONS; k++) {
		struct load_reason *f = &t->r.fail[t->r.n_fail++];

		snprintf(f->text, sizeof(f->text), "%s",
		         k < DP_PROBE_N_RESULTS ? dp_probe_result_name((enum dp_probe_result)k)
		                                : lt_extra[k - DP_PROBE_N_RESULTS]);
		f->n = t->fail[k];
		t->r.failures += f->n;
	}
	*r = t->r;
}
