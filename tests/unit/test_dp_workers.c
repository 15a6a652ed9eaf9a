/*
 * The userspace backend with two packet workers (dp_options.workers = 2)
 * inside a private network namespace (skipped when unshare is not allowed):
 *
 *   - two Child SAs: their inbound SAs are dealt to the two workers, so the
 *     ESP of each is decrypted on its own thread; the counters of each
 *     worker must show its share (this fails if one thread does it all);
 *   - one outbound SA's flows read from both TUN queues: one worker (the
 *     Child SA's) encrypts them all, and the sequence numbers the peer
 *     sees are unique and without gaps (RFC 4303 3.3.3);
 *   - lifetimes, acquires and unknown SPIs still reach the callbacks from
 *     the loop, never from a worker;
 *   - the loop rekeys and deletes SAs and updates policies while workers
 *     carry traffic (run under TSan and ASan: no race, no use after free);
 *   - receive steering (dp_udp_steer): with a NAT-T socket bound with
 *     SO_REUSEPORT each worker reads the ESP of its own SAs (SPI mod 2)
 *     from a socket of its own, the loop none; IKE stays on the daemon's
 *     socket; the SPI residue a new or rekeyed Child SA is asked to have
 *     names the worker that gets its inbound SA.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "dataplane/dp_debug.h"
#include "dataplane/esp.h"
#include "dp_test_util.h"

#define NFLOWS 16 /* app sockets: source ports 20000.. */

struct peer {
	uint32_t spi_out, spi_in;
	struct dp_esp_sa in, out; /* the peer's side of the Child SA */
};

struct env {
	struct event_base *base;
	struct dp *dp;
	pthread_t loop_thread;
	int dp_sock, peer_sock, sink, app[NFLOWS];
	struct peer p[2];
	int acquires, unknowns, soft, hard;
	pthread_t cb_thread[4];
	int ncb;
};

static void note_thread(struct env *e)
{
	if (e->ncb < 4)
		e->cb_thread[e->ncb++] = pthread_self();
}

static void ev_acquire(void *ctx, const struct dp_acquire *a)
{
	struct env *e = ctx;
	note_thread(e);
	e->acquires++;
}

static void ev_unknown(void *ctx, uint32_t spi, const struct sockaddr_storage *from)
{
	struct env *e = ctx;
	note_thread(e);
	e->unknowns++;
}

static void ev_expire(void *ctx, uint32_t reqid, enum dp_dir dir, uint32_t spi, bool hard,
                      enum dp_expire_reason why)
{
	struct env *e = ctx;
	note_thread(e);
	if (hard)
		e->hard++;
	else
		e->soft++;
	if (hard) /* as the daemon would; a callback may call back in */
		assert_int_equal(dp_sa_del(e->dp, reqid, dir, spi), 0);
}

/* Run the loop (dispatch to workers, the mailbox) for about ms. The waits
 * below are bounds (up to 10 s on a loaded machine), not timing assertions. */
static void pump(struct env *e, int ms)
{
	for (int t = 0; t < ms; t += 2) {
		event_base_loop(e->base, EVLOOP_NONBLOCK);
		usleep(2000);
	}
}

/* An inbound SA of reqid from 127.0.0.2, 10.1.0.0/24 <-> remote, keys from seed. */
static void in_sa(struct dp_sa *sa, uint32_t reqid, const char *remote, uint32_t spi, uint8_t seed)
{
	dpt_sa(sa, &dpt_suites[0], DP_DIR_IN, spi, true, seed);
	sa->reqid = reqid;
	dpt_sin(&sa->src, "127.0.0.2", 4500);
	dpt_sin(&sa->dst, "127.0.0.1", 4500);
	assert_int_equal(dp_ts_parse(&sa->ts_local[0], "10.1.0.0/24"), 0);
	assert_int_equal(dp_ts_parse(&sa->ts_remote[0], remote), 0);
	sa->n_ts_local = sa->n_ts_remote = 1;
}

/* Child SA i: 10.1.0.0/24 <-> 10.(2+2i).0.0/24, SPIs 0x1000+i out, 0x2000+i in. */
static void add_child(struct env *e, int i, uint32_t spi_out, uint64_t hard_packets)
{
	struct peer *p = &e->p[i];
	char remote[32];
	struct dp_sa sa;

	snprintf(remote, sizeof(remote), "10.%d.0.0/24", 2 + 2 * i);
	p->spi_out = spi_out;
	p->spi_in = 0x2000u + (uint32_t)i;
	dpt_sa(&sa, &dpt_suites[0], DP_DIR_OUT, p->spi_out, true, (uint8_t)(1 + i));
	sa.reqid = 1 + (uint32_t)i;
	dpt_sin(&sa.src, "127.0.0.1", 4500);
	dpt_sin(&sa.dst, "127.0.0.2", 4500);
	assert_int_equal(dp_ts_parse(&sa.ts_local[0], "10.1.0.0/24"), 0);
	assert_int_equal(dp_ts_parse(&sa.ts_remote[0], remote), 0);
	sa.n_ts_local = sa.n_ts_remote = 1;
	sa.life.soft_packets = hard_packets ? hard_packets - 1 : 0;
	sa.life.hard_packets = hard_packets;
	assert_int_equal(dp_sa_add(e->dp, &sa), 0);
	sa.dir = DP_DIR_IN;
	sa.replay_window = DP_REPLAY_MAX; /* two sending threads may reorder a little */
	dp_esp_clear(&p->in);
	assert_int_equal(dp_esp_init(&p->in, &sa), 0);
	if (p->out.cipher)
		return; /* a rekey of the outbound SA only */
	in_sa(&sa, 1 + (uint32_t)i, remote, p->spi_in, (uint8_t)(11 + i));
	assert_int_equal(dp_sa_add(e->dp, &sa), 0);
	sa.dir = DP_DIR_OUT;
	assert_int_equal(dp_esp_init(&p->out, &sa), 0);
}

static void add_policy(struct env *e, uint32_t reqid, const char *remote)
{
	struct dp_policy pol = {.reqid = reqid};

	assert_int_equal(dp_ts_parse(&pol.ts_local, "10.1.0.0/24"), 0);
	assert_int_equal(dp_ts_parse(&pol.ts_remote, remote), 0);
	dpt_sin(&pol.route_src, "10.1.0.1", 0);
	assert_int_equal(dp_policy_add(e->dp, &pol), 0);
}

static int setup(void **state)
{
	static const struct dp_events cb = {
	    .acquire = ev_acquire, .unknown_spi = ev_unknown, .expire = ev_expire};
	static struct env e;
	struct dp_options opt = {.ifname = "rw0", .mtu = 1400, .workers = 2};
	struct sockaddr_storage vip;

	if (unshare(CLONE_NEWNET)) {
		print_message("cannot unshare the network namespace (%s): skipped\n",
		              strerror(errno));
		exit(77);
	}
	dpt_lo_up();
	e.base = event_base_new();
	e.loop_thread = pthread_self();
	e.dp = dp_new_opts(DP_BACKEND_USERSPACE, e.base, &cb, &e, &opt);
	assert_non_null(e.dp);
	assert_int_equal(dp_debug_workers(e.dp), 2);
	e.dp_sock = dpt_udp_bound("127.0.0.1", 4500);
	e.peer_sock = dpt_udp_bound("127.0.0.2", 4500);
	assert_int_equal(dp_set_udp_socket(e.dp, AF_INET, e.dp_sock), 0);
	dpt_sin(&vip, "10.1.0.1", 0);
	assert_int_equal(dp_addr_add(e.dp, &vip, 32), 0);
	for (int i = 0; i < NFLOWS; i++)
		e.app[i] = dpt_udp_bound("10.1.0.1", (uint16_t)(20000 + i));
	e.sink = dpt_udp_bound("10.1.0.1", 9999); /* inbound packets end here: no ICMP back */
	add_child(&e, 0, 0x1000, 0);
	add_child(&e, 1, 0x1001, 0);
	add_policy(&e, 1, "10.2.0.0/24");
	add_policy(&e, 2, "10.4.0.0/24");
	add_policy(&e, 9, "10.3.0.0/24"); /* no SA: acquires */
	*state = &e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	dp_free(e->dp);
	for (int i = 0; i < 2; i++) {
		dp_esp_clear(&e->p[i].in);
		dp_esp_clear(&e->p[i].out);
	}
	event_base_free(e->base);
	return 0;
}

/* Build the peer's ESP packet of child i carrying UDP 10.(2+2i).0.5 -> 10.1.0.1:9999. */
static size_t peer_packet(struct env *e, int i, uint8_t *buf, size_t cap)
{
	uint8_t pkt[128];
	char src[32];
	size_t len;

	snprintf(src, sizeof(src), "10.%d.0.5", 2 + 2 * i);
	len = dpt_packet(pkt, AF_INET, src, "10.1.0.1", 20);
	struct dp_buf b = {.base = buf, .cap = cap, .off = 64, .len = len};
	memcpy(buf + 64, pkt, len);
	assert_int_equal(dp_esp_encap(&e->p[i].out, &b, DP_ESP_NH_IPV4), DP_ESP_OK);
	memmove(buf, dp_buf_data(&b), b.len);
	return b.len;
}

static void input(struct env *e, uint8_t *pkt, size_t len)
{
	struct sockaddr_storage from, to;

	dpt_sin(&from, "127.0.0.2", 4500);
	dpt_sin(&to, "127.0.0.1", 4500);
	dp_input_udp(e->dp, pkt, len, &from, &to);
}

static void worker_stats(struct env *e, struct dp_stats st[2])
{
	for (unsigned w = 0; w < 2; w++)
		assert_int_equal(dp_debug_worker_stats(e->dp, w, &st[w]), 0);
}

/* Inbound: child 0's SA on worker 0, child 1's on worker 1, each in order. */
static void test_two_sas_two_workers(void **state)
{
	struct env *e = *state;
	struct dp_stats st[2], all;
	uint8_t pkt[2048];
	int got = 0, want = 200;

	for (int n = 0; n < want / 2; n++)
		for (int i = 0; i < 2; i++) {
			size_t len = peer_packet(e, i, pkt, sizeof(pkt));
			input(e, pkt, len);
		}
	/* The workers run on their own; the loop only hands datagrams over. */
	for (int t = 0; t < 5000 && got < want; t++) {
		pump(e, 2);
		worker_stats(e, st);
		got = (int)(st[0].rx_packets + st[1].rx_packets);
	}
	print_message("worker 0: %llu in, worker 1: %llu in\n",
	              (unsigned long long)st[0].rx_packets, (unsigned long long)st[1].rx_packets);
	assert_int_equal(st[0].rx_packets, want / 2);
	assert_int_equal(st[1].rx_packets, want / 2);
	assert_int_equal(st[0].drop_replay + st[1].drop_replay, 0); /* in order per SA */
	dp_stats(e->dp, &all);
	assert_int_equal(all.rx_packets, want);
	struct dp_sa_counters c;
	assert_int_equal(dp_sa_counters(e->dp, 2, DP_DIR_IN, 0x2001, &c), 0);
	assert_int_equal(c.packets, want / 2);
	assert_int_equal(c.seq, want / 2);

	/* A rekey of child 1's inbound SA stays on child 1's worker (1), though
	 * worker 0 owns fewer SAs: its SPI's residue says so (SPI mod 2). */
	struct dp_sa sa;
	struct dp_esp_sa peer;
	in_sa(&sa, 2, "10.4.0.0/24", 0x2101, 21);
	assert_int_equal(dp_sa_add(e->dp, &sa), 0);
	sa.dir = DP_DIR_OUT;
	assert_int_equal(dp_esp_init(&peer, &sa), 0);
	uint8_t inner[128];
	size_t ilen = dpt_packet(inner, AF_INET, "10.4.0.5", "10.1.0.1", 20);
	for (int n = 0; n < 10; n++) {
		struct dp_buf b = {.base = pkt, .cap = sizeof(pkt), .off = 64, .len = ilen};
		memcpy(pkt + 64, inner, ilen);
		assert_int_equal(dp_esp_encap(&peer, &b, DP_ESP_NH_IPV4), DP_ESP_OK);
		memmove(pkt, dp_buf_data(&b), b.len);
		input(e, pkt, b.len);
	}
	dp_esp_clear(&peer);
	for (int t = 0; t < 5000 && st[1].rx_packets < (uint64_t)want / 2 + 10; t++) {
		pump(e, 2);
		worker_stats(e, st);
	}
	assert_int_equal(st[1].rx_packets, want / 2 + 10);
	assert_int_equal(st[0].rx_packets, want / 2);
	assert_int_equal(dp_sa_del(e->dp, 2, DP_DIR_IN, 0x2101), 0);
}

/* Receive and decrypt ESP at the peer until quiet; the sequence numbers of
 * each child's SA in seen[i] (a bitmap up to 4096). */
static int peer_drain(struct env *e, uint8_t seen[2][512], int *dups)
{
	uint8_t buf[2048], nh;
	int n = 0;

	for (int idle = 0; idle < 250;) { /* quiet for 0.5 s: a loaded CI machine */
		ssize_t r = recv(e->peer_sock, buf, sizeof(buf), 0);
		if (r <= 0) {
			pump(e, 2);
			idle++;
			continue;
		}
		idle = 0;
		uint32_t spi = dp_get32(buf), seq32 = dp_get32(buf + 4);
		int i = spi == e->p[0].spi_out ? 0 : spi == e->p[1].spi_out ? 1 : -1;
		if (i < 0 || seq32 >= 4096)
			continue;
		uint64_t seq;
		struct dp_buf b = {.base = buf, .cap = (size_t)r, .len = (size_t)r};
		assert_int_equal(dp_esp_decap(&e->p[i].in, &b, &nh, &seq), DP_ESP_OK);
		if (seen[i][seq32 / 8] & (1u << (seq32 % 8)))
			(*dups)++;
		seen[i][seq32 / 8] |= (uint8_t)(1u << (seq32 % 8));
		n++;
	}
	return n;
}

/* Outbound: 16 flows into one SA, spread over both TUN queues by the
 * kernel, all encrypted by the SA's worker; RFC 4303 3.3.3: every number
 * once, none skipped. */
static void test_outbound_seq_unique(void **state)
{
	struct env *e = *state;
	static uint8_t seen[2][512];
	struct sockaddr_storage dst;
	struct dp_stats before[2], after[2];
	struct dp_sa_counters c;
	int dups = 0, sent = 0, got;

	peer_drain(e, seen, &dups); /* anything earlier */
	memset(seen, 0, sizeof(seen));
	dups = 0;
	worker_stats(e, before);
	assert_int_equal(dp_sa_counters(e->dp, 1, DP_DIR_OUT, e->p[0].spi_out, &c), 0);
	uint64_t seq0 = c.seq;
	dpt_sin(&dst, "10.2.0.5", 7777);
	for (int round = 0; round < 40; round++) {
		for (int f = 0; f < NFLOWS; f++)
			if (sendto(e->app[f], "seq", 3, 0, (struct sockaddr *)&dst,
			           sizeof(struct sockaddr_in)) == 3)
				sent++;
		pump(e, 2);
	}
	got = peer_drain(e, seen, &dups);
	worker_stats(e, after);
	print_message("sent %d, ESP %d; worker 0: %llu out, worker 1: %llu out\n", sent, got,
	              (unsigned long long)(after[0].tx_packets - before[0].tx_packets),
	              (unsigned long long)(after[1].tx_packets - before[1].tx_packets));
	assert_int_equal(got, sent);
	assert_int_equal(dups, 0);
	assert_int_equal(dp_sa_counters(e->dp, 1, DP_DIR_OUT, e->p[0].spi_out, &c), 0);
	assert_int_equal(c.seq, seq0 + (uint64_t)sent);
	for (uint64_t s = seq0 + 1; s <= c.seq; s++)
		assert_true(seen[0][s / 8] & (1u << (s % 8)));
	/* 16 flows hashed over two TUN queues (all on one: P = 2^-15): what
	 * worker 1 reads for child 0's SA is handed to its owner, worker 0,
	 * which numbers and sends all of them (us_handover). */
	assert_int_equal(after[0].tx_packets - before[0].tx_packets, (uint64_t)sent);
	assert_int_equal(after[1].tx_packets, before[1].tx_packets);
}

/* Events from worker threads reach the callbacks on the loop's thread. */
static void test_events_on_loop(void **state)
{
	struct env *e = *state;
	struct sockaddr_storage dst;
	uint8_t pkt[2048];

	e->ncb = 0;
	dpt_sin(&dst, "10.3.0.5", 7777); /* policy 9 has no SA */
	assert_int_equal(
	    sendto(e->app[0], "acq", 3, 0, (struct sockaddr *)&dst, sizeof(struct sockaddr_in)), 3);
	for (int t = 0; t < 5000 && !e->acquires; t++)
		pump(e, 2);
	assert_int_equal(e->acquires, 1);
	size_t len = peer_packet(e, 0, pkt, sizeof(pkt));
	dp_put32(pkt, 0xdead);
	input(e, pkt, len);
	for (int t = 0; t < 5000 && !e->unknowns; t++)
		pump(e, 2);
	assert_int_equal(e->unknowns, 1);
	/* A packet lifetime reached on a worker: soft, then hard (RFC 4301
	 * 4.4.2.1); the callback deletes the SA, and child 1's outbound SA
	 * falls back to nothing: traffic is then dropped as no SA. */
	add_child(e, 1, 0x1101, 3);
	dpt_sin(&dst, "10.4.0.5", 7777);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sendto(e->app[0], "exp", 3, 0, (struct sockaddr *)&dst,
		                        sizeof(struct sockaddr_in)),
		                 3);
		pump(e, 20);
	}
	for (int t = 0; t < 5000 && !e->hard; t++)
		pump(e, 2);
	assert_int_equal(e->soft, 1);
	assert_int_equal(e->hard, 1);
	for (int i = 0; i < e->ncb; i++)
		assert_true(pthread_equal(e->cb_thread[i], e->loop_thread));
	/* The old outbound SA of child 1 (0x1001) is back in service. */
	uint8_t seen[2][512] = {{0}};
	int dups = 0;
	e->p[1].spi_out = 0x1001;
	dp_esp_clear(&e->p[1].in);
	struct dp_sa sa;
	dpt_sa(&sa, &dpt_suites[0], DP_DIR_IN, 0x1001, true, 2);
	sa.replay_window = DP_REPLAY_MAX;
	assert_int_equal(dp_esp_init(&e->p[1].in, &sa), 0);
	peer_drain(e, seen, &dups); /* what is still in flight */
	assert_int_equal(
	    sendto(e->app[0], "old", 3, 0, (struct sockaddr *)&dst, sizeof(struct sockaddr_in)), 3);
	memset(seen, 0, sizeof(seen));
	assert_int_equal(peer_drain(e, seen, &dups), 1);
}

struct churn {
	struct env *e;
	bool stop; /* atomic */
	int sent;
};

/* A traffic thread: the app sends into both children while the loop churns. */
static void *traffic(void *arg)
{
	struct churn *c = arg;
	struct sockaddr_storage dst[2];

	dpt_sin(&dst[0], "10.2.0.5", 7777);
	dpt_sin(&dst[1], "10.4.0.5", 7777);
	while (!__atomic_load_n(&c->stop, __ATOMIC_RELAXED)) {
		for (int f = 0; f < NFLOWS; f++)
			if (sendto(c->e->app[f], "churn", 5, 0, (struct sockaddr *)&dst[f & 1],
			           sizeof(struct sockaddr_in)) == 5)
				c->sent++;
		usleep(200);
	}
	return NULL;
}

/* The loop rekeys (make-before-break, then delete) child 0's outbound SA,
 * moves child 1's policy between reqids and feeds inbound ESP, while both
 * workers encrypt: what TSan and ASan check (races, use after free). */
static void test_churn_under_traffic(void **state)
{
	struct env *e = *state;
	struct churn c = {.e = e};
	struct dp_policy pol = {.reqid = 2};
	uint8_t pkt[2048], drain[2048];
	pthread_t t;
	struct dp_stats st;
	uint32_t spi = 0x1000;

	assert_int_equal(dp_ts_parse(&pol.ts_local, "10.1.0.0/24"), 0);
	assert_int_equal(dp_ts_parse(&pol.ts_remote, "10.4.0.0/24"), 0);
	assert_int_equal(pthread_create(&t, NULL, traffic, &c), 0);
	for (int i = 0; i < 150; i++) {
		uint32_t next = 0x3000u + (uint32_t)i;
		add_child(e, 0, next, 0); /* the new outbound SA takes over */
		pump(e, 2);
		assert_int_equal(dp_sa_del(e->dp, 1, DP_DIR_OUT, spi), 0);
		spi = next;
		pol.reqid = i & 1 ? 2 : 1; /* child 1's selectors to reqid 1 and back */
		assert_int_equal(dp_policy_update(e->dp, &pol), 0);
		for (int k = 0; k < 4; k++) {
			size_t len = peer_packet(e, k & 1, pkt, sizeof(pkt));
			input(e, pkt, len);
		}
		struct dp_sa_counters sc;
		assert_int_equal(dp_sa_counters(e->dp, 1, DP_DIR_OUT, spi, &sc), 0);
		while (recv(e->peer_sock, drain, sizeof(drain), 0) > 0)
			;
	}
	__atomic_store_n(&c.stop, true, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	pump(e, 50);
	dp_stats(e->dp, &st);
	print_message("churn: app sent %d, ESP sent %llu, received %llu\n", c.sent,
	              (unsigned long long)st.tx_packets, (unsigned long long)st.rx_packets);
	assert_true(st.tx_packets > 0);
	assert_int_equal(st.drop_auth, 0);
	assert_int_equal(st.drop_malformed, 0);
}

/* The send and the receive of real datagrams: the peer's socket to the
 * steered port (the workers read them on their own threads). */
static void peer_send(struct env *e, const uint8_t *p, size_t len, uint16_t port)
{
	struct sockaddr_storage to;

	dpt_sin(&to, "127.0.0.1", port);
	assert_int_equal(
	    sendto(e->peer_sock, p, len, 0, (struct sockaddr *)&to, sizeof(struct sockaddr_in)),
	    (ssize_t)len);
}

static void test_steered_receive(void **state)
{
	struct env *e = *state;
	struct dp_stats before[2], after[2], all0, all1;
	uint8_t pkt[2048];
	uint32_t mod, res;
	unsigned w;
	int on = 1, want = 40;
	struct sockaddr_storage a;
	int d = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	/* The daemon's socket, SO_REUSEPORT before bind (net.c). */
	assert_true(d >= 0);
	assert_int_equal(setsockopt(d, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)), 0);
	dpt_sin(&a, "127.0.0.1", 4600);
	assert_int_equal(bind(d, (struct sockaddr *)&a, sizeof(struct sockaddr_in)), 0);
	assert_int_equal(dp_udp_steer(e->dp, &d, 1), 0);

	/* The SPI names the worker: the residue asked for a rekey of reqid 2
	 * (child 1, SPI 0x2001 on worker 1) is 1; the owner of each SPI is
	 * SPI mod 2. */
	assert_int_equal(dp_spi_residue(e->dp, 2, &mod, &res), 0);
	assert_int_equal(mod, 2);
	assert_int_equal(res, 1);
	/* Two new Child SAs asked for before either is installed (two
	 * connections started together): two workers, though both own one. */
	uint32_t res2;
	assert_int_equal(dp_spi_residue(e->dp, 0, &mod, &res), 0);
	assert_int_equal(dp_spi_residue(e->dp, 0, &mod, &res2), 0);
	assert_int_not_equal(res, res2);
	assert_int_equal(dp_debug_sa_worker(e->dp, 0x2000, &w), 0);
	assert_int_equal(w, 0);
	assert_int_equal(dp_debug_sa_worker(e->dp, 0x2001, &w), 0);
	assert_int_equal(w, 1);

	worker_stats(e, before);
	dp_stats(e->dp, &all0);
	for (int n = 0; n < want / 2; n++)
		for (int i = 0; i < 2; i++) {
			size_t len = peer_packet(e, i, pkt, sizeof(pkt));
			peer_send(e, pkt, len, 4600);
		}
	for (int t = 0; t < 5000; t++) { /* a bound, not a timing assertion */
		worker_stats(e, after);
		if (after[0].rx_packets + after[1].rx_packets >=
		    before[0].rx_packets + before[1].rx_packets + (uint64_t)want)
			break;
		usleep(2000);
	}
	for (int i = 0; i < 2; i++) {
		print_message("worker %d: %llu steered, %llu in\n", i,
		              (unsigned long long)(after[i].rx_steered - before[i].rx_steered),
		              (unsigned long long)(after[i].rx_packets - before[i].rx_packets));
		assert_int_equal(after[i].rx_steered - before[i].rx_steered, want / 2);
		assert_int_equal(after[i].rx_packets - before[i].rx_packets, want / 2);
		assert_int_equal(after[i].steer_misses, before[i].steer_misses);
	}
	dp_stats(e->dp, &all1);
	assert_int_equal(all1.rx_via_loop, all0.rx_via_loop); /* the loop saw none */

	/* The set changes again and again (a reload adding and removing a
	 * second address each time) while ESP arrives: the workers stop and
	 * start around each change, d's group stays (nothing queued there is
	 * lost), and ESP the loop queued meanwhile is still worked (TSan,
	 * ASan: no race). */
	int d2 = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(d2 >= 0);
	assert_int_equal(setsockopt(d2, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)), 0);
	dpt_sin(&a, "127.0.0.1", 4601);
	assert_int_equal(bind(d2, (struct sockaddr *)&a, sizeof(struct sockaddr_in)), 0);
	worker_stats(e, before);
	int sent = 0;
	for (int k = 0; k < 10; k++) {
		int both[2] = {d, d2};
		if (k & 1)
			assert_int_equal(dp_udp_unsteer(e->dp, d2), 0);
		else
			assert_int_equal(dp_udp_steer(e->dp, both, 2), 0);
		for (int i = 0; i < 2; i++) {
			size_t len = peer_packet(e, i, pkt, sizeof(pkt));
			peer_send(e, pkt, len, 4600);
			len = peer_packet(e, i, pkt, sizeof(pkt));
			input(e, pkt, len); /* through the loop and the ring */
			sent += 2;
		}
	}
	for (int t = 0; t < 5000; t++) {
		pump(e, 2);
		worker_stats(e, after);
		if (after[0].rx_packets + after[1].rx_packets >=
		    before[0].rx_packets + before[1].rx_packets + (uint64_t)sent)
			break;
	}
	assert_int_equal(after[0].rx_packets + after[1].rx_packets,
	                 before[0].rx_packets + before[1].rx_packets + (uint64_t)sent);
	assert_int_equal(dp_udp_unsteer(e->dp, d2), 0); /* not steered: nothing to do */
	close(d2);

	/* IKE (RFC 3948 2.2: behind the non-ESP marker) stays on the daemon's. */
	uint8_t ike[32] = {0};
	ike[4] = 0x42;
	peer_send(e, ike, sizeof(ike), 4600);
	struct pollfd pfd = {.fd = d, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_int_equal(recv(d, pkt, sizeof(pkt), 0), (ssize_t)sizeof(ike));

	/* An unknown SPI read by a worker is reported on the loop's thread. */
	int unknowns = e->unknowns;
	e->ncb = 0;
	size_t len = peer_packet(e, 0, pkt, sizeof(pkt));
	dp_put32(pkt, 0xbeef);
	peer_send(e, pkt, len, 4600);
	for (int t = 0; t < 5000 && e->unknowns == unknowns; t++)
		pump(e, 2);
	assert_int_equal(e->unknowns, unknowns + 1);
	for (int i = 0; i < e->ncb; i++)
		assert_true(pthread_equal(e->cb_thread[i], e->loop_thread));

	/* An inbound SA whose SPI disagrees with its Child SA's worker (reqid
	 * 2 is on worker 1; 0x2200 is even) is put on its SPI's worker, and
	 * counted. */
	struct dp_sa sa;
	in_sa(&sa, 2, "10.4.0.0/24", 0x2200, 31);
	assert_int_equal(dp_sa_add(e->dp, &sa), 0);
	assert_int_equal(dp_debug_sa_worker(e->dp, 0x2200, &w), 0);
	assert_int_equal(w, 0);
	dp_stats(e->dp, &all1);
	assert_int_equal(all1.spi_worker_mismatches, all0.spi_worker_mismatches + 1);
	assert_int_equal(dp_sa_del(e->dp, 2, DP_DIR_IN, 0x2200), 0);

	/* The daemon's sockets go: so do the workers'; ESP then reaches the
	 * daemon's socket again (the daemon hands it to dp_input_udp). */
	assert_int_equal(dp_udp_steer(e->dp, NULL, 0), 0);
	len = peer_packet(e, 1, pkt, sizeof(pkt));
	peer_send(e, pkt, len, 4600);
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_int_equal(recv(d, pkt, sizeof(pkt), 0), (ssize_t)len);
	close(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_two_sas_two_workers), cmocka_unit_test(test_outbound_seq_unique),
	    cmocka_unit_test(test_events_on_loop),      cmocka_unit_test(test_churn_under_traffic),
	    cmocka_unit_test(test_steered_receive),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
