/*
 * rike-load: a load generator for IKEv2 responders (rike-load(8)). From
 * one process it brings up N clients, each an IKE SA with one Child SA
 * (RFC 7296 1.2: IKE_SA_INIT, then IKE_AUTH carrying the first Child SA),
 * with distinct identities (3.5), at a target rate or concurrency, and
 * reports the setup rate, latency percentiles and failures by reason.
 *
 * It is not a second initiator: every client is an initiator SA of rike's
 * own IKE engine (src/ike), all of them on one engine and one pair of UDP
 * sockets (IKE port and NAT-T port, 2.23). The engine retransmits each
 * request on its own schedule (2.1); rike-load bounds each client's setup
 * (--timeout), the whole run (--time-limit) and the number of clients.
 * The connection is written as a riked.conf text and read by riked's own
 * parser, so it takes the proposals, identities and authentication riked
 * takes (pre-shared keys today). Child SAs are not installed: the host's
 * child_up hook records that the Child SA was negotiated and, with
 * --traffic, hands its keys to rike-load_traffic.c, which sends ICMP echo
 * requests through it as ESP in UDP (RFC 3948) once the setup is over.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/config.h"
#include "ike/engine.h"
#include "ike/ike.h"
#include "dataplane/probe.h"
#include "rike-load.h"
#include "util/log.h"
#include "wire/payload.h"

#define LOAD_MAX_COUNT   10000000u
#define LOAD_MAX_PROPS   CFG_MAX_PROPOSALS
#define LOAD_RX_BATCH    64
#define LOAD_RX_PER_TURN 4096 /* datagrams read before timers get a turn */
#define LOAD_CONF_MAX    16384
#define LOAD_MAX_PACKETS 10000000u /* --count x --packets with --traffic */

struct load_opts {
	const char *remote, *local, *id_format, *remote_id, *psk, *psk_file;
	const char *ike[LOAD_MAX_PROPS], *esp[LOAD_MAX_PROPS];
	size_t n_ike, n_esp;
	const char *remote_ts[CFG_MAX_TS];
	size_t n_remote_ts;
	const char *inner; /* --inner-net, "none": the outer address */
	unsigned port, natt_port;
	uint64_t count, id_start, concurrency;
	double rate, timeout, time_limit, hold, rtx_timeout;
	unsigned rtx_tries;
	bool json, no_delete, initial_contact, no_child, traffic, mobike;
	struct load_traffic_opts t;
	int log_level;
};

struct load {
	struct load_opts o;
	struct cfg cfg;
	const struct cfg_conn *conn;
	struct ike *ike;
	int fd[2]; /* IKE port, NAT-T port */
	struct ike_addr local[2], remote;
	struct cfg_ts inner; /* clients' inner addresses: start + index (IPv4 or IPv6) */
	bool use_inner;
	struct load_sa *sas; /* in start order, so serials ascend */
	size_t n;            /* started */
	size_t oldest;       /* first one that may still be pending */
	uint64_t in_flight;
	struct load_report rep;
	size_t *just_up; /* IKE SAs established in this engine call */
	size_t n_just_up;
	struct load_traffic *traffic; /* --traffic */
	struct load_esp_report esp;
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

uint64_t load_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- the engine's host ---- */

static struct load_sa *sa_rec(struct load *l, uint64_t serial)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->sas[mid].serial == serial)
			return &l->sas[mid];
		if (l->sas[mid].serial < serial)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void sa_done(struct load *l, struct load_sa *s, enum load_st st)
{
	if (s->st == LOAD_UP || s->st == LOAD_FAILED)
		return;
	s->st = (uint8_t)st;
	l->in_flight--;
}

static int host_send(void *ctx, const struct ike_addr *from, const struct ike_addr *to,
                     const uint8_t *buf, size_t len)
{
	struct load *l = ctx;
	int fd = addr_port(from) == l->o.natt_port ? l->fd[1] : l->fd[0];
	socklen_t sl = to->ss.sa.sa_family == AF_INET ? sizeof(struct sockaddr_in)
	                                              : sizeof(struct sockaddr_in6);

	if (sendto(fd, buf, len, 0, (const struct sockaddr *)&to->ss, sl) < 0) {
		l->rep.send_errors++; /* the engine retransmits (RFC 7296 2.1) */
		return -1;
	}
	return 0;
}

static uint64_t host_now(void *ctx)
{
	(void)ctx;
	return load_now_us() / 1000u;
}

static void client_up(struct load *l, struct load_sa *s)
{
	uint64_t t = load_now_us();

	if (s->st == LOAD_UP || s->st == LOAD_FAILED)
		return;
	s->latency_us = (uint32_t)(t - s->start_us < UINT32_MAX ? t - s->start_us : UINT32_MAX);
	sa_done(l, s, LOAD_UP);
	l->rep.established++;
	l->rep.last_up_us = t;
}

/* The Child SA was negotiated: the client is up (nothing is installed). */
static int host_child_up(void *ctx, const struct ike_child_info *c)
{
	struct load *l = ctx;
	struct load_sa *s = sa_rec(l, c->ike_serial);

	if (!s)
		return 0;
	client_up(l, s);
	if (l->traffic)
		load_traffic_child_up(l->traffic, (size_t)(s - l->sas), c);
	return 0;
}

static void host_child_down(void *ctx, const struct ike_child_info *c)
{
	struct load *l = ctx;
	struct load_sa *s = sa_rec(l, c->ike_serial);

	if (s && l->traffic)
		load_traffic_child_down(l->traffic, (size_t)(s - l->sas), c);
}

static void host_sa_state(void *ctx, uint64_t serial, int from, int to, const char *why)
{
	struct load *l = ctx;
	struct load_sa *s = sa_rec(l, serial);
	char reason[LOAD_REASON_MAX];

	if (!s)
		return;
	if (to == IKE_S_ESTABLISHED && l->o.no_child) {
		client_up(l, s);
		return;
	}
	if (to == IKE_S_ESTABLISHED && s->st == LOAD_PENDING) {
		s->st = LOAD_IKE_UP;
		l->just_up[l->n_just_up++] = (size_t)(s - l->sas);
		return;
	}
	if (to != IKE_S_DEAD || s->st == LOAD_UP || s->st == LOAD_FAILED)
		return;
	snprintf(reason, sizeof(reason), "%s: %s", sa_state_name((enum ike_state)from),
	         why ? why : "gone");
	sa_done(l, s, LOAD_FAILED);
	load_fail_reason(&l->rep, reason);
}

/* After an engine call: an IKE SA that came up without its Child SA failed. */
static void check_just_up(struct load *l)
{
	for (size_t i = 0; i < l->n_just_up; i++) {
		struct load_sa *s = &l->sas[l->just_up[i]];
		struct ike_sa *sa;

		if (s->st != LOAD_IKE_UP)
			continue;
		sa_done(l, s, LOAD_FAILED);
		l->rep.ike_only++;
		load_fail_reason(&l->rep, "IKE SA up, Child SA refused");
		sa = ike_sa_by_serial(l->ike, s->serial);
		if (sa && !l->o.no_delete) {
			s->deleted = true;
			ike_delete(l->ike, sa, "rike-load: no Child SA");
		}
	}
	l->n_just_up = 0;
}

/* ---- the connection, as riked.conf text ---- */

/* A libconfig string literal's body. */
static int conf_str(char *buf, size_t len, size_t *off, const char *s)
{
	for (; *s; s++) {
		if (*off + 3 >= len)
			return -1;
		if (*s == '"' || *s == '\\')
			buf[(*off)++] = '\\';
		buf[(*off)++] = *s;
	}
	buf[*off] = 0;
	return 0;
}

static int conf_put(char *buf, size_t len, size_t *off, const char *fmt, const char *arg)
{
	int n;

	if (!arg) {
		n = snprintf(buf + *off, len - *off, "%s", fmt);
	} else {
		const char *p = strstr(fmt, "%s");
		size_t pre = p ? (size_t)(p - fmt) : strlen(fmt);

		n = snprintf(buf + *off, len - *off, "%.*s", (int)pre, fmt);
		if (n < 0 || (size_t)n >= len - *off)
			return -1;
		*off += (size_t)n;
		if (conf_str(buf, len, off, arg) < 0)
			return -1;
		n = p ? snprintf(buf + *off, len - *off, "%s", p + 2) : 0;
	}
	if (n < 0 || (size_t)n >= len - *off)
		return -1;
	*off += (size_t)n;
	return 0;
}

static int read_psk_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = 0;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = 0;
	return n ? 0 : -1;
}

static int proposals_conf(char *buf, size_t len, size_t *off, const char *key, const char *const *p,
                          size_t n)
{
	if (!n)
		return 0;
	if (conf_put(buf, len, off, key, NULL) < 0 || conf_put(buf, len, off, " = [ ", NULL) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (conf_put(buf, len, off, i ? ", \"%s\"" : "\"%s\"", p[i]) < 0)
			return -1;
	return conf_put(buf, len, off, " ];\n", NULL);
}

static int build_cfg(struct load *l)
{
	const struct load_opts *o = &l->o;
	char *buf = calloc(1, LOAD_CONF_MAX), psk[CFG_PSK_MAX + 1], err[256], num[160];
	size_t off = 0;
	int rc = -1;

	if (!buf)
		return -1;
	if (o->psk_file && read_psk_file(o->psk_file, psk, sizeof(psk)) < 0) {
		fprintf(stderr, "rike-load: cannot read a key from %s\n", o->psk_file);
		goto out;
	}
	snprintf(num, sizeof(num),
	         "riked = { log = \"stderr\"; ike_port = %u; natt_port = %u;\n"
	         "  qcd = { enabled = false; }; };\n"
	         "connections = ( {\n  name = \"load\";\n  start = \"wait\";\n",
	         o->port, o->natt_port);
	if (conf_put(buf, LOAD_CONF_MAX, &off, num, NULL) < 0 ||
	    conf_put(buf, LOAD_CONF_MAX, &off, "  local = \"%s\";\n", o->local) < 0 ||
	    conf_put(buf, LOAD_CONF_MAX, &off, "  remote = \"%s\";\n", o->remote) < 0 ||
	    conf_put(buf, LOAD_CONF_MAX, &off, "  remote_id = \"%s\";\n",
	             o->remote_id ? o->remote_id : "%any") < 0 ||
	    conf_put(buf, LOAD_CONF_MAX, &off, "  auth = { method = \"psk\"; secret = \"%s\"; };\n",
	             o->psk_file ? psk : o->psk) < 0 ||
	    proposals_conf(buf, LOAD_CONF_MAX, &off, "  ike_proposals", o->ike, o->n_ike) < 0 ||
	    proposals_conf(buf, LOAD_CONF_MAX, &off, "  esp_proposals", o->esp, o->n_esp) < 0 ||
	    proposals_conf(buf, LOAD_CONF_MAX, &off, "  remote_ts", o->remote_ts, o->n_remote_ts) <
	        0)
		goto toolong;
	snprintf(num, sizeof(num),
	         "  remote_port = %u;\n  mobike = %s;\n  dpd_interval = 0;\n"
	         "  retransmit = { timeout = %.3f; tries = %u; };\n} );\n",
	         o->port, o->mobike ? "true" : "false", o->rtx_timeout, o->rtx_tries);
	if (conf_put(buf, LOAD_CONF_MAX, &off, num, NULL) < 0)
		goto toolong;
	if (cfg_load_string(buf, "rike-load", &l->cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "rike-load: %s\n", err);
		goto out;
	}
	/* --no-child: IKE_AUTH without SA, TSi, TSr (RFC 6023 3). */
	if (o->no_child && l->cfg.nconns == 1)
		l->cfg.conns[0].n_esp_proposals = 0;
	l->conn = conf_conn_lookup(&l->cfg, "load");
	rc = l->conn ? 0 : -1;
	goto out;
toolong:
	fprintf(stderr, "rike-load: the connection's settings are too long\n");
out:
	explicit_bzero(psk, sizeof(psk));
	explicit_bzero(buf, LOAD_CONF_MAX);
	free(buf);
	return rc;
}

/* ---- sockets ---- */

static int parse_addr(const char *text, struct ike_addr *a)
{
	if (addr_parse(a, text) < 0) {
		fprintf(stderr, "rike-load: '%s' is not a numeric IPv4 or IPv6 address\n", text);
		return -1;
	}
	return 0;
}

/* The source address the routing table picks towards the responder. */
static int route_source(const struct ike_addr *remote, struct ike_addr *local)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = socket(remote->ss.sa.sa_family, SOCK_DGRAM, 0), rc = -1;
	struct ike_addr to = *remote;

	if (fd < 0)
		return -1;
	addr_set_port(&to, 9);
	if (connect(fd, (const struct sockaddr *)&to.ss, sizeof(to.ss)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		addr_from_ss(local, &ss, 0);
		rc = 0;
	}
	close(fd);
	return rc;
}

static int open_sock(const struct ike_addr *a)
{
	int on = 1, buf = 8 << 20;
	int fd = socket(a->ss.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	socklen_t sl = a->ss.sa.sa_family == AF_INET ? sizeof(struct sockaddr_in)
	                                             : sizeof(struct sockaddr_in6);
	char text[INET6_ADDRSTRLEN + 8];

	if (fd < 0)
		return -1;
	/* Bursts of responses must not be lost while the loop computes. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    bind(fd, (const struct sockaddr *)&a->ss, sl) < 0) {
		addr_format(a, text, sizeof(text));
		fprintf(stderr, "rike-load: cannot bind %s: %s\n", text, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void read_sock(struct load *l, int which)
{
	struct mmsghdr mm[LOAD_RX_BATCH];
	struct iovec iov[LOAD_RX_BATCH];
	struct sockaddr_storage from[LOAD_RX_BATCH];
	static uint8_t bufs[LOAD_RX_BATCH][65536];

	for (unsigned turn = 0; turn < LOAD_RX_PER_TURN / LOAD_RX_BATCH; turn++) {
		int n;

		memset(mm, 0, sizeof(mm));
		for (int i = 0; i < LOAD_RX_BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof(bufs[i]);
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
			mm[i].msg_hdr.msg_name = &from[i];
			mm[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		n = recvmmsg(l->fd[which], mm, LOAD_RX_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		for (int i = 0; i < n; i++) {
			struct ike_addr r;
			const uint8_t *p = bufs[i];
			size_t len = mm[i].msg_len;

			/* RFC 3948 2.1: ESP on the NAT-T port goes to the Child SAs
			 * (--traffic); IKE keeps its non-ESP marker for the engine. */
			if (which == 1 && wire_udp4500_classify(&p, &len) == 0) {
				if (l->traffic)
					load_traffic_input(l->traffic, bufs[i], mm[i].msg_len);
				continue;
			}
			addr_from_ss(&r, &from[i], 0);
			addr_set_port(&r,
			              ntohs(from[i].ss_family == AF_INET
			                        ? ((struct sockaddr_in *)&from[i])->sin_port
			                        : ((struct sockaddr_in6 *)&from[i])->sin6_port));
			ike_input(l->ike, &l->local[which], &r, bufs[i], mm[i].msg_len);
		}
		check_just_up(l);
		if (n < LOAD_RX_BATCH)
			return;
	}
}

/* ---- clients ---- */

/* Client i's TSi: one inner address, --inner-net's first address + i (RFC 7296 2.9). */
static int set_inner(struct load *l, struct ike_sa *sa, uint64_t i)
{
	struct cfg_ts ts = l->inner;
	size_t n = ts.type == IKEV2_TS_IPV4_ADDR_RANGE ? 4 : 16;
	unsigned carry = 0;

	for (size_t k = n; k-- > 0;) {
		unsigned v = ts.start[k] + (unsigned)(i & 0xff) + carry;

		ts.start[k] = (uint8_t)v;
		carry = v >> 8;
		i >>= 8;
	}
	memcpy(ts.end, ts.start, n);
	return ike_sa_set_local_ts(sa, &ts, 1);
}

/* --inner-net NET/LEN: room for every client, else an error. */
static int inner_parse(struct load *l)
{
	char err[160];
	size_t n;
	uint64_t room = 0;

	if (!strcmp(l->o.inner, "none"))
		return 0;
	if (cfg_ts_parse(l->o.inner, &l->inner, err, sizeof(err)) < 0) {
		fprintf(stderr, "rike-load: --inner-net: %s\n", err);
		return -1;
	}
	n = l->inner.type == IKEV2_TS_IPV4_ADDR_RANGE ? 4 : 16;
	/* The range's size, saturated at 2^40: far above --count's limit. */
	for (size_t k = 0; k < n; k++) {
		room = room * 256 + (uint64_t)(l->inner.end[k] - l->inner.start[k]);
		if (room > (1ull << 40))
			room = 1ull << 40;
	}
	if (room + 1 < l->o.count) {
		fprintf(stderr, "rike-load: --inner-net %s has no room for %llu clients\n",
		        l->o.inner, (unsigned long long)l->o.count);
		return -1;
	}
	l->use_inner = true;
	return 0;
}

static int start_one(struct load *l)
{
	char text[CFG_ID_MAX + 1], err[128];
	struct cfg_id id;
	struct ike_sa *sa;
	struct load_sa *s = &l->sas[l->n];
	uint64_t idx = l->o.id_start + l->n;

	/* The format was checked to hold exactly one %d (or %u). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(text, sizeof(text), l->o.id_format, (unsigned)idx);
#pragma GCC diagnostic pop
	if (cfg_id_parse(text, &id, err, sizeof(err)) < 0) {
		fprintf(stderr, "rike-load: identity '%s': %s\n", text, err);
		return -1;
	}
	sa = ike_initiate_to(l->ike, l->conn, &l->remote);
	if (!sa || ike_sa_set_local_id(sa, &id) < 0) {
		/* Out of memory: the run stops (the SA, if any, goes with the engine). */
		fprintf(stderr, "rike-load: cannot create client %llu\n", (unsigned long long)idx);
		return -1;
	}
	if (ike_sa_set_initial_contact(sa, l->o.initial_contact) < 0 ||
	    (l->use_inner && set_inner(l, sa, l->n) < 0)) {
		fprintf(stderr, "rike-load: cannot set up client %llu\n", (unsigned long long)idx);
		return -1;
	}
	s->serial = ike_sa_serial(sa);
	s->start_us = load_now_us();
	s->st = LOAD_PENDING;
	if (!l->rep.started)
		l->rep.first_start_us = s->start_us;
	l->n++;
	l->rep.started++;
	l->in_flight++;
	ike_sa_start(l->ike, sa);
	return 0;
}

/* Start as many clients as the rate and the concurrency allow now. */
static int start_due(struct load *l, uint64_t t0, uint64_t now)
{
	uint64_t allowed = l->o.count;

	if (l->o.rate > 0) {
		double due = (double)(now - t0) / 1e6 * l->o.rate + 1;

		if (due < (double)allowed)
			allowed = (uint64_t)due;
	}
	while (l->n < allowed && l->in_flight < l->o.concurrency)
		if (start_one(l) < 0)
			return -1;
	return 0;
}

/* Clients pending longer than --timeout fail; they were started in order. */
static void expire(struct load *l, uint64_t now)
{
	uint64_t limit = (uint64_t)(l->o.timeout * 1e6);

	for (; l->oldest < l->n; l->oldest++) {
		struct load_sa *s = &l->sas[l->oldest];
		struct ike_sa *sa;

		if (s->st == LOAD_UP || s->st == LOAD_FAILED)
			continue;
		if (now < s->start_us + limit)
			break;
		sa_done(l, s, LOAD_FAILED);
		load_fail_reason(&l->rep, "timeout");
		sa = ike_sa_by_serial(l->ike, s->serial);
		if (sa) {
			s->deleted = true;
			ike_delete(l->ike, sa, "rike-load: timeout");
		}
	}
}

/* One turn of the loop: wait for input or the next timer (at most wait_ms). */
static void turn(struct load *l, int wait_ms)
{
	/* The third: the engine's crypto workers have results (ike_work_fd,
	 * -1 without workers: poll skips it). */
	struct pollfd p[3] = {{.fd = l->fd[0], .events = POLLIN},
	                      {.fd = l->fd[1], .events = POLLIN},
	                      {.fd = ike_work_fd(l->ike), .events = POLLIN}};
	int64_t t = ike_next_timeout(l->ike);

	if (t >= 0 && t < wait_ms)
		wait_ms = (int)t;
	if (poll(p, 3, wait_ms) > 0) {
		if (p[0].revents & POLLIN)
			read_sock(l, 0);
		if (p[1].revents & POLLIN)
			read_sock(l, 1);
		if (p[2].revents & POLLIN)
			ike_work_done(l->ike);
	}
	ike_run_timers(l->ike);
	check_just_up(l);
}

static void run_setup(struct load *l)
{
	uint64_t t0 = load_now_us(), end = t0 + (uint64_t)(l->o.time_limit * 1e6);

	while (!interrupted && (l->n < l->o.count || l->in_flight)) {
		uint64_t now = load_now_us();

		if (now >= end) {
			l->rep.time_limit_hit = true;
			break;
		}
		if (start_due(l, t0, now) < 0)
			break;
		expire(l, now);
		/* Paced: wake up for the next start; otherwise for input. */
		turn(l, l->o.rate > 0 && l->n < l->o.count ? 1 : 50);
	}
	/* Whatever is still pending at the end failed. */
	for (size_t i = 0; i < l->n; i++)
		if (l->sas[i].st == LOAD_PENDING || l->sas[i].st == LOAD_IKE_UP) {
			sa_done(l, &l->sas[i], LOAD_FAILED);
			load_fail_reason(&l->rep, interrupted ? "interrupted" : "time limit");
		}
}

/* --traffic: every client up sends its packets, paced over all of them;
 * bounded by the packets at the rate, the reply wait and --time-limit. */
static void run_traffic(struct load *l)
{
	uint64_t t0 = load_now_us(), end = t0 + (uint64_t)(l->o.time_limit * 1e6);
	int wait;

	load_traffic_start(l->traffic, t0);
	while (!interrupted && load_now_us() < end &&
	       (wait = load_traffic_step(l->traffic, load_now_us())) >= 0)
		turn(l, wait < 50 ? wait : 50);
	load_traffic_report(l->traffic, &l->esp);
	l->rep.esp = &l->esp;
}

static void run_for(struct load *l, double secs)
{
	uint64_t end = load_now_us() + (uint64_t)(secs * 1e6);

	while (!interrupted && load_now_us() < end && (secs > 0 || ike_sa_count(l->ike)))
		turn(l, 50);
}

/* Delete every client's IKE SA (RFC 7296 1.4.1), paced like the setup. */
static void delete_all(struct load *l)
{
	uint64_t burst = l->o.concurrency ? l->o.concurrency : 1;
	size_t i = 0;
	uint64_t end = load_now_us() + 10000000u + l->n * 1000u; /* 10 s + 1 ms per client */

	interrupted = 0;
	while (!interrupted && i < l->n && load_now_us() < end) {
		for (uint64_t k = 0; k < burst && i < l->n; i++) {
			struct ike_sa *sa = ike_sa_by_serial(l->ike, l->sas[i].serial);

			if (sa && !l->sas[i].deleted) {
				ike_delete(l->ike, sa, "rike-load done");
				k++;
			}
		}
		turn(l, 5);
	}
	while (!interrupted && ike_sa_count(l->ike) && load_now_us() < end)
		turn(l, 50);
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: rike-load --remote ADDR (--psk SECRET | --psk-file FILE) [options]\n"
	    "  --count N            clients (IKE SA + Child SA each), default 1\n"
	    "  --rate R             clients started per second (default: as fast as allowed)\n"
	    "  --concurrency C      clients being set up at once, default 100\n"
	    "  --id-format FMT      each client's IDi, one %%d (default lt-%%d@load.example)\n"
	    "  --id-start N         first number for %%d, default 1\n"
	    "  --remote-id ID       the responder's ID to ask for and check\n"
	    "  --local ADDR         our address (default: the route's source)\n"
	    "  --inner-net NET/LEN  client i proposes TSi = NET's first address + i\n"
	    "                       (default 10.128.0.0/10; none: the outer address)\n"
	    "  --remote-ts TS       TSr to propose, repeatable (default 0.0.0.0/0 or ::/0)\n"
	    "  --port P --natt-port Q   IKE and NAT-T ports, both ends (500, 4500)\n"
	    "  --ike PROPOSAL --esp PROPOSAL   as in riked.conf(5), repeatable\n"
	    "  --timeout S          a client's setup limit, default 30\n"
	    "  --retransmit-timeout S --retransmit-tries N   default 1 and 5\n"
	    "  --time-limit S       the whole setup's limit, default 600\n"
	    "  --hold S             keep the SAs up S seconds after the report\n"
	    "  --no-delete          leave the SAs on the responder at exit\n"
	    "  --no-initial-contact do not send N(INITIAL_CONTACT)\n"
	    "  --mobike             offer MOBIKE (RFC 4555): the gateway tells each client of\n"
	    "                       its address changes (3.6)\n"
	    "  --no-child           IKE SAs only: IKE_AUTH carries no Child SA\n"
	    "  --traffic            then ICMP echo requests through each Child SA (ESP in UDP)\n"
	    "  --traffic-dst ADDR   their inner destination (default: each TSr's first address)\n"
	    "  --packets N          per client, default 10\n"
	    "  --packet-rate PPS    all clients together, default 1000 (0: as fast as possible)\n"
	    "  --payload-size B     ICMP data octets, default 56 (16 to 8192)\n"
	    "  --reply-timeout S    wait for replies after the last send, default 2\n"
	    "  --corrupt-icv N      every Nth packet with a corrupted ICV (tests), default 0\n"
	    "  --json               the report as one JSON object\n"
	    "  --log-level LEVEL    engine log on stderr, default warning\n");
}

/* The identity format must hold exactly one %d or %u and no other conversion. */
static bool id_format_ok(const char *f)
{
	unsigned n = 0;

	for (const char *p = strchr(f, '%'); p; p = strchr(p + 2, '%')) {
		if (p[1] == '%')
			continue;
		if (p[1] != 'd' && p[1] != 'u')
			return false;
		n++;
	}
	return n == 1 && strlen(f) < 200;
}

static int num_arg(const char *name, const char *v, double lo, double hi, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(v, &end);
	if (errno || end == v || *end || *out < lo || *out > hi) {
		fprintf(stderr, "rike-load: --%s wants a number from %g to %g, not '%s'\n", name,
		        lo, hi, v);
		return -1;
	}
	return 0;
}

enum {
	OPT_PSK_FILE = 256,
	OPT_ID_FORMAT,
	OPT_ID_START,
	OPT_REMOTE_ID,
	OPT_NATT_PORT,
	OPT_RTX_TIMEOUT,
	OPT_RTX_TRIES,
	OPT_TIME_LIMIT,
	OPT_NO_DELETE,
	OPT_NO_IC,
	OPT_MOBIKE,
	OPT_LOG_LEVEL,
	OPT_TRAFFIC,
	OPT_INNER,
	OPT_REMOTE_TS,
	OPT_NO_CHILD,
	OPT_TRAFFIC_DST,
	OPT_PACKETS,
	OPT_PACKET_RATE,
	OPT_PAYLOAD,
	OPT_REPLY_TIMEOUT,
	OPT_CORRUPT,
};

static const struct option long_opts[] = {
    {"remote", required_argument, NULL, 'r'},
    {"local", required_argument, NULL, 'l'},
    {"psk", required_argument, NULL, 'k'},
    {"psk-file", required_argument, NULL, OPT_PSK_FILE},
    {"count", required_argument, NULL, 'n'},
    {"rate", required_argument, NULL, 'R'},
    {"concurrency", required_argument, NULL, 'c'},
    {"id-format", required_argument, NULL, OPT_ID_FORMAT},
    {"id-start", required_argument, NULL, OPT_ID_START},
    {"remote-id", required_argument, NULL, OPT_REMOTE_ID},
    {"port", required_argument, NULL, 'p'},
    {"natt-port", required_argument, NULL, OPT_NATT_PORT},
    {"ike", required_argument, NULL, 'i'},
    {"esp", required_argument, NULL, 'e'},
    {"timeout", required_argument, NULL, 't'},
    {"retransmit-timeout", required_argument, NULL, OPT_RTX_TIMEOUT},
    {"retransmit-tries", required_argument, NULL, OPT_RTX_TRIES},
    {"time-limit", required_argument, NULL, OPT_TIME_LIMIT},
    {"hold", required_argument, NULL, 'H'},
    {"no-delete", no_argument, NULL, OPT_NO_DELETE},
    {"no-initial-contact", no_argument, NULL, OPT_NO_IC},
    {"mobike", no_argument, NULL, OPT_MOBIKE},
    {"traffic", no_argument, NULL, OPT_TRAFFIC},
    {"traffic-dst", required_argument, NULL, OPT_TRAFFIC_DST},
    {"packets", required_argument, NULL, OPT_PACKETS},
    {"packet-rate", required_argument, NULL, OPT_PACKET_RATE},
    {"payload-size", required_argument, NULL, OPT_PAYLOAD},
    {"reply-timeout", required_argument, NULL, OPT_REPLY_TIMEOUT},
    {"corrupt-icv", required_argument, NULL, OPT_CORRUPT},
    {"inner-net", required_argument, NULL, OPT_INNER},
    {"remote-ts", required_argument, NULL, OPT_REMOTE_TS},
    {"no-child", no_argument, NULL, OPT_NO_CHILD},
    {"json", no_argument, NULL, 'j'},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_opts(int argc, char **argv, struct load_opts *o)
{
	double v;
	int ch;

	*o = (struct load_opts){.id_format = "lt-%d@load.example",
	                        .port = 500,
	                        .natt_port = 4500,
	                        .count = 1,
	                        .id_start = 1,
	                        .concurrency = 0,
	                        .timeout = 30,
	                        .time_limit = 600,
	                        .rtx_timeout = 1,
	                        .rtx_tries = 5,
	                        .initial_contact = true,
	                        .log_level = LOG_WARNING,
	                        .inner = "10.128.0.0/10",
	                        .t = {.packets = 10, .rate = 1000, .data_len = 56, .wait = 2}};
	bool traffic_knob = false;
	while ((ch = getopt_long(argc, argv, "r:l:k:n:R:c:p:i:e:t:H:jh", long_opts, NULL)) != -1) {
		int rc = 0;

		switch (ch) {
		case 'r':
			o->remote = optarg;
			break;
		case 'l':
			o->local = optarg;
			break;
		case 'k':
			o->psk = optarg;
			break;
		case OPT_PSK_FILE:
			o->psk_file = optarg;
			break;
		case OPT_ID_FORMAT:
			o->id_format = optarg;
			break;
		case OPT_REMOTE_ID:
			o->remote_id = optarg;
			break;
		case OPT_NO_CHILD:
			o->no_child = true;
			break;
		case OPT_INNER:
			o->inner = optarg;
			break;
		case OPT_REMOTE_TS:
			if (o->n_remote_ts >= CFG_MAX_TS) {
				fprintf(stderr, "rike-load: at most %d --remote-ts\n", CFG_MAX_TS);
				return 2;
			}
			o->remote_ts[o->n_remote_ts++] = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case OPT_NO_DELETE:
			o->no_delete = true;
			break;
		case OPT_NO_IC:
			o->initial_contact = false;
			break;
		case OPT_MOBIKE:
			o->mobike = true;
			break;
		case 'n':
			rc = num_arg("count", optarg, 1, LOAD_MAX_COUNT, &v);
			o->count = (uint64_t)v;
			break;
		case OPT_ID_START:
			rc = num_arg("id-start", optarg, 0, 1e9, &v);
			o->id_start = (uint64_t)v;
			break;
		case 'R':
			rc = num_arg("rate", optarg, 0.001, 1e7, &o->rate);
			break;
		case 'c':
			rc = num_arg("concurrency", optarg, 1, 1e6, &v);
			o->concurrency = (uint64_t)v;
			break;
		case 'p':
			rc = num_arg("port", optarg, 1, 65535, &v);
			o->port = (unsigned)v;
			break;
		case OPT_NATT_PORT:
			rc = num_arg("natt-port", optarg, 1, 65535, &v);
			o->natt_port = (unsigned)v;
			break;
		case 't':
			rc = num_arg("timeout", optarg, 0.1, 3600, &o->timeout);
			break;
		case OPT_RTX_TIMEOUT:
			rc = num_arg("retransmit-timeout", optarg, 0.05, 60, &o->rtx_timeout);
			break;
		case OPT_RTX_TRIES:
			rc = num_arg("retransmit-tries", optarg, 0, 20, &v);
			o->rtx_tries = (unsigned)v;
			break;
		case OPT_TIME_LIMIT:
			rc = num_arg("time-limit", optarg, 1, 86400, &o->time_limit);
			break;
		case 'H':
			rc = num_arg("hold", optarg, 0, 86400, &o->hold);
			break;
		case 'i':
		case 'e':
			if ((ch == 'i' ? o->n_ike : o->n_esp) >= LOAD_MAX_PROPS) {
				fprintf(stderr, "rike-load: at most %d proposals of a kind\n",
				        LOAD_MAX_PROPS);
				return 2;
			}
			if (ch == 'i')
				o->ike[o->n_ike++] = optarg;
			else
				o->esp[o->n_esp++] = optarg;
			break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &o->log_level) < 0) {
				fprintf(stderr, "rike-load: unknown log level '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_TRAFFIC:
			o->traffic = true;
			break;
		case OPT_TRAFFIC_DST:
			o->t.dst = optarg;
			traffic_knob = true;
			break;
		case OPT_PACKETS:
			/* The ICMP sequence number is 16 bits (RFC 792). */
			rc = num_arg("packets", optarg, 1, 65535, &v);
			o->t.packets = (unsigned)v;
			traffic_knob = true;
			break;
		case OPT_PACKET_RATE:
			rc = num_arg("packet-rate", optarg, 0, 1e7, &o->t.rate);
			traffic_knob = true;
			break;
		case OPT_PAYLOAD:
			rc = num_arg("payload-size", optarg, DP_PROBE_MIN_DATA, DP_PROBE_MAX_DATA,
			             &v);
			o->t.data_len = (size_t)v;
			traffic_knob = true;
			break;
		case OPT_REPLY_TIMEOUT:
			rc = num_arg("reply-timeout", optarg, 0, 3600, &o->t.wait);
			traffic_knob = true;
			break;
		case OPT_CORRUPT:
			rc = num_arg("corrupt-icv", optarg, 0, 1e9, &v);
			o->t.corrupt = (unsigned)v;
			traffic_knob = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
		if (rc < 0)
			return 2;
	}
	if (optind != argc || !o->remote || (!o->psk == !o->psk_file)) {
		fprintf(stderr, "rike-load: --remote and one of --psk, --psk-file are needed\n");
		usage(stderr);
		return 2;
	}
	if (!id_format_ok(o->id_format)) {
		fprintf(stderr, "rike-load: --id-format wants exactly one %%d, not '%s'\n",
		        o->id_format);
		return 2;
	}
	if (traffic_knob && !o->traffic) {
		fprintf(stderr, "rike-load: the traffic options need --traffic\n");
		return 2;
	}
	if (o->traffic && o->no_child) {
		fprintf(stderr, "rike-load: --traffic needs Child SAs, not --no-child\n");
		return 2;
	}
	/* Every reply's round trip is kept: bounded memory (40 MB). */
	if (o->traffic && (double)o->count * o->t.packets > LOAD_MAX_PACKETS) {
		fprintf(stderr, "rike-load: --count x --packets is at most %u\n", LOAD_MAX_PACKETS);
		return 2;
	}
	if (o->port == o->natt_port) {
		fprintf(stderr, "rike-load: --port and --natt-port must differ\n");
		return 2;
	}
	if (!o->n_remote_ts)
		o->remote_ts[o->n_remote_ts++] = strchr(o->remote, ':') ? "::/0" : "0.0.0.0/0";
	if (!o->concurrency)
		o->concurrency = o->rate > 0 ? 1000000 : 100;
	return 0;
}

/* ---- main ---- */

static int setup(struct load *l)
{
	struct ike_addr local;
	char ltext[INET6_ADDRSTRLEN];
	struct ike_host host = {.ctx = l,
	                        .send = host_send,
	                        .now_ms = host_now,
	                        .child_up = host_child_up,
	                        .child_down = host_child_down,
	                        .sa_state = host_sa_state,
	                        /* ESP only in UDP (RFC 3948): float to the NAT-T
	                         * port as behind a NAT (RFC 7296 2.23). */
	                        .force_encap = l->o.traffic};

	if (parse_addr(l->o.remote, &l->remote) < 0)
		return -1;
	if (l->o.local ? parse_addr(l->o.local, &local) < 0
	               : route_source(&l->remote, &local) < 0) {
		if (!l->o.local)
			fprintf(stderr, "rike-load: no route to %s\n", l->o.remote);
		return -1;
	}
	addr_format_host(&local, ltext, sizeof(ltext));
	l->o.local = ltext;
	if (build_cfg(l) < 0 || inner_parse(l) < 0)
		return -1;
	l->o.local = NULL; /* ltext goes out of scope */
	addr_set_port(&l->remote, (uint16_t)l->o.port);
	for (int i = 0; i < 2; i++) {
		l->local[i] = local;
		addr_set_port(&l->local[i], (uint16_t)(i ? l->o.natt_port : l->o.port));
		l->fd[i] = open_sock(&l->local[i]);
		if (l->fd[i] < 0)
			return -1;
	}
	l->sas = calloc(l->o.count, sizeof(*l->sas));
	l->just_up = calloc(l->o.count, sizeof(*l->just_up));
	l->ike = ike_new(&l->cfg, &host);
	if (l->o.traffic) {
		l->traffic = load_traffic_new(&l->o.t, l->o.count, l->fd[1]);
		if (!l->traffic)
			return -1;
	}
	if (!l->sas || !l->just_up || !l->ike) {
		fprintf(stderr, "rike-load: out of memory\n");
		return -1;
	}
	local.ss = l->local[0].ss;
	addr_set_port(&local, 0);
	ike_local_addresses(l->ike, &local, 1);
	return 0;
}

int main(int argc, char **argv)
{
	struct load l = {.fd = {-1, -1}};
	struct sigaction sa = {.sa_handler = on_signal};
	const struct ike_stats *st;
	int rc;

	rc = parse_opts(argc, argv, &l.o);
	if (rc)
		return rc;
	log_init("rike-load", LOG_TARGET_STDERR, l.o.log_level);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	l.rep.count = l.o.count;
	l.rep.traffic = l.o.traffic ? "icmp-echo" : "none";
	if (setup(&l) < 0) {
		rc = 1;
		goto out;
	}
	run_setup(&l);
	if (l.traffic)
		run_traffic(&l);
	st = ike_get_stats(l.ike);
	l.rep.retransmits = st->retransmits;
	l.rep.tx = st->tx;
	l.rep.rx = st->rx;
	load_report_print(&l.rep, l.sas, l.n, l.o.json, stdout);
	if (l.o.hold > 0)
		run_for(&l, l.o.hold);
	if (!l.o.no_delete)
		delete_all(&l);
	rc = l.rep.established == l.o.count ? 0 : 1;
	/* --traffic: every packet answered and nothing refused. */
	if (l.traffic && (l.esp.lost || l.esp.failures || l.esp.send_errors ||
	                  l.esp.clients != l.rep.established))
		rc = 1;
out:
	/* --no-delete: the engine goes without sending Deletes (ike_free). */
	ike_free(l.ike);
	load_traffic_free(l.traffic);
	for (int i = 0; i < 2; i++)
		if (l.fd[i] >= 0)
			close(l.fd[i]);
	cfg_free(&l.cfg);
	free(l.sas);
	free(l.just_up);
	return rc;
}
