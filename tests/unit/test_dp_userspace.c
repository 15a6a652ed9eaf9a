/*
 * The userspace backend end to end inside a private network namespace
 * (unshare(CLONE_NEWNET); skipped when that is not allowed): a local socket
 * sends into the TUN routes, the dp encrypts and sends ESP-in-UDP (RFC 3948)
 * to a "peer" socket, which this test decrypts with the peer's copy of the
 * SA; the peer's packets come back through dp_input_udp. Also: drops by
 * reason (replay, ICV, unknown SPI, selectors: RFC 4303 3.4, RFC 4301 5.2),
 * the acquire, unknown-SPI and expiry events, counters, and migration.
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
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "dataplane/esp.h"
#include "dp_test_util.h"

#define SPI_OUT 0x1000 /* ours -> peer */
#define SPI_IN  0x2000 /* peer -> ours */

struct env {
	struct event_base *base;
	struct dp *dp;
	int dp_sock, peer_sock, app_sock, peer3_sock;
	struct dp_esp_sa peer_in, peer_out; /* the peer's side of the Child SA */
	/* events seen */
	int acquires, unknowns, soft, hard;
	struct dp_acquire last_acq;
	uint32_t last_unknown;
	enum dp_expire_reason last_why;
	int send_logs; /* lines about ESP not sent */
	struct {
		uint32_t spi;
		bool hard;
	} exp[8]; /* the expiries in order, up to 8 */
	unsigned nexp;
	char last_log[256];
};

static void ev_acquire(void *ctx, const struct dp_acquire *a)
{
	struct env *e = ctx;
	e->acquires++;
	e->last_acq = *a;
}

static void ev_unknown(void *ctx, uint32_t spi, const struct sockaddr_storage *from)
{
	struct env *e = ctx;
	e->unknowns++;
	e->last_unknown = spi;
}

static void ev_expire(void *ctx, uint32_t reqid, enum dp_dir dir, uint32_t spi, bool hard,
                      enum dp_expire_reason why)
{
	struct env *e = ctx;
	if (hard)
		e->hard++;
	else
		e->soft++;
	e->last_why = why;
	if (e->nexp < 8) {
		e->exp[e->nexp].spi = spi;
		e->exp[e->nexp++].hard = hard;
	}
	/* Callbacks may call back in: delete the SA on hard expiry, as the daemon would. */
	if (hard)
		assert_int_equal(dp_sa_del(e->dp, reqid, dir, spi), 0);
}

static void ev_log(void *ctx, enum dp_log_level level, const char *msg)
{
	struct env *e = ctx;

	if (strstr(msg, "not sent"))
		e->send_logs++;
	snprintf(e->last_log, sizeof(e->last_log), "%s", msg);
}

/* Run the loop until fd is readable (or just for a while when fd < 0). */
static bool pump(struct env *e, int fd, int ms)
{
	for (int t = 0; t < ms; t += 5) {
		event_base_loop(e->base, EVLOOP_NONBLOCK);
		if (fd >= 0) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			if (poll(&p, 1, 5) == 1)
				return true;
		} else {
			usleep(5000);
		}
	}
	return false;
}

static void add_sas(struct env *e, uint32_t reqid, uint32_t spi_out, uint32_t spi_in,
                    uint64_t hard_packets)
{
	struct dp_sa sa;

	dpt_sa(&sa, &dpt_suites[0], DP_DIR_OUT, spi_out, true, 1);
	sa.reqid = reqid;
	dpt_sin(&sa.src, "127.0.0.1", 4500);
	dpt_sin(&sa.dst, "127.0.0.2", 4500);
	assert_int_equal(dp_ts_parse(&sa.ts_local[0], "10.1.0.0/24"), 0);
	assert_int_equal(dp_ts_parse(&sa.ts_remote[0], "10.2.0.0/24"), 0);
	sa.n_ts_local = sa.n_ts_remote = 1;
	sa.life.soft_packets = hard_packets ? hard_packets - 1 : 0;
	sa.life.hard_packets = hard_packets;
	assert_int_equal(dp_sa_add(e->dp, &sa), 0);
	sa.dir = DP_DIR_IN;
	assert_int_equal(dp_esp_init(&e->peer_in, &sa), 0);

	dpt_sa(&sa, &dpt_suites[0], DP_DIR_IN, spi_in, true, 2);
	sa.reqid = reqid;
	dpt_sin(&sa.src, "127.0.0.2", 4500);
	dpt_sin(&sa.dst, "127.0.0.1", 4500);
	assert_int_equal(dp_ts_parse(&sa.ts_local[0], "10.1.0.0/24"), 0);
	assert_int_equal(dp_ts_parse(&sa.ts_remote[0], "10.2.0.0/24"), 0);
	sa.n_ts_local = sa.n_ts_remote = 1;
	sa.life.soft_secs = 1;
	assert_int_equal(dp_sa_add(e->dp, &sa), 0);
	assert_int_equal(dp_sa_add(e->dp, &sa), -1); /* duplicate */
	assert_int_equal(errno, EEXIST);
	sa.dir = DP_DIR_OUT;
	assert_int_equal(dp_esp_init(&e->peer_out, &sa), 0);
}

static int setup(void **state)
{
	static const struct dp_events cb = {
	    .acquire = ev_acquire, .unknown_spi = ev_unknown, .expire = ev_expire, .log = ev_log};
	static struct env e;
	struct dp_options opt = {.ifname = "rt0", .mtu = 1400};
	struct dp_policy pol = {.reqid = 1};
	struct sockaddr_storage vip;

	if (unshare(CLONE_NEWNET)) {
		print_message("cannot unshare the network namespace (%s): skipped\n",
		              strerror(errno));
		exit(77);
	}
	dpt_lo_up();
	e.base = event_base_new();
	e.dp = dp_new_opts(DP_BACKEND_USERSPACE, e.base, &cb, &e, &opt);
	assert_non_null(e.dp);
	e.dp_sock = dpt_udp_bound("127.0.0.1", 4500);
	e.peer_sock = dpt_udp_bound("127.0.0.2", 4500);
	e.peer3_sock = dpt_udp_bound("127.0.0.3", 4500);
	assert_int_equal(dp_set_udp_socket(e.dp, AF_INET, e.dp_sock), 0);
	dpt_sin(&vip, "10.1.0.1", 0);
	assert_int_equal(dp_addr_add(e.dp, &vip, 32), 0);
	e.app_sock = dpt_udp_bound("10.1.0.1", 9999);
	add_sas(&e, 1, SPI_OUT, SPI_IN, 0);
	assert_int_equal(dp_ts_parse(&pol.ts_local, "10.1.0.0/24"), 0);
	assert_int_equal(dp_ts_parse(&pol.ts_remote, "10.2.0.0/24"), 0);
	pol.route_src = vip;
	assert_int_equal(dp_policy_add(e.dp, &pol), 0);
	/* A trap policy with no SA, for acquires. */
	pol.reqid = 2;
	assert_int_equal(dp_ts_parse(&pol.ts_remote, "10.3.0.0/24"), 0);
	assert_int_equal(dp_policy_add(e.dp, &pol), 0);
	*state = &e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	dp_free(e->dp);
	dp_esp_clear(&e->peer_in);
	dp_esp_clear(&e->peer_out);
	event_base_free(e->base);
	return 0;
}

static void app_send(struct env *e, const char *dst, const char *msg)
{
	struct sockaddr_storage ss;

	dpt_sin(&ss, dst, 7777);
	/* Route changes go to the kernel when the loop's pass ends (dp_policy_add). */
	event_base_loop(e->base, EVLOOP_NONBLOCK);
	assert_int_equal(sendto(e->app_sock, msg, strlen(msg), 0, (struct sockaddr *)&ss,
	                        sizeof(struct sockaddr_in)),
	                 (ssize_t)strlen(msg));
}

/* Receive one ESP datagram at the peer and decrypt it with the peer's SA. */
static void peer_recv(struct env *e, int fd, const char *want)
{
	uint8_t buf[2048], nh;
	uint64_t seq;
	struct dp_flow f;

	assert_true(pump(e, fd, 2000));
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	assert_true(n > 8);
	assert_int_equal(dp_get32(buf), SPI_OUT);
	struct dp_buf b = {.base = buf, .cap = (size_t)n, .len = (size_t)n};
	assert_int_equal(dp_esp_decap(&e->peer_in, &b, &nh, &seq), DP_ESP_OK);
	assert_int_equal(nh, DP_ESP_NH_IPV4);
	assert_int_equal(dp_flow_parse(dp_buf_data(&b), b.len, &f), 0);
	assert_int_equal(f.proto, IPPROTO_UDP);
	assert_int_equal(f.dport, 7777);
	assert_int_equal(b.len, 28 + strlen(want));
	assert_memory_equal(dp_buf_data(&b) + 28, want, strlen(want));
}

static void test_outbound(void **state)
{
	struct env *e = *state;
	struct dp_sa_counters c;

	app_send(e, "10.2.0.5", "hello through ESP");
	peer_recv(e, e->peer_sock, "hello through ESP");
	assert_int_equal(dp_sa_counters(e->dp, 1, DP_DIR_OUT, SPI_OUT, &c), 0);
	assert_int_equal(c.packets, 1);
	assert_int_equal(c.bytes, 28 + 17);
	assert_int_equal(c.seq, 1);
	assert_true(c.last_used > 0);
}

/* The SPI of the next ESP datagram at fd. */
static uint32_t next_spi(struct env *e, int fd)
{
	uint8_t buf[2048];

	assert_true(pump(e, fd, 2000));
	assert_true(recv(fd, buf, sizeof(buf), 0) > 8);
	return dp_get32(buf);
}

/* dp_policy_update: another reqid (a Child SA to another gateway, RFC 5685
 * 6) takes the policy over in one step, and gives it back. */
static void test_policy_update(void **state)
{
	struct env *e = *state;
	struct dp_policy pol = {.reqid = 3};
	struct dp_sa sa;

	dpt_sa(&sa, &dpt_suites[0], DP_DIR_OUT, 0x3000, true, 7);
	sa.reqid = 3;
	dpt_sin(&sa.src, "127.0.0.1", 4500);
	dpt_sin(&sa.dst, "127.0.0.3", 4500);
	assert_int_equal(dp_sa_add(e->dp, &sa), 0);
	assert_int_equal(dp_ts_parse(&pol.ts_local, "10.1.0.0/24"), 0);
	assert_int_equal(dp_ts_parse(&pol.ts_remote, "10.2.0.0/24"), 0);
	/* Selectors are the SPD's key, whatever the reqid. */
	assert_int_equal(dp_policy_add(e->dp, &pol), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(dp_policy_update(e->dp, &pol), 0);
	app_send(e, "10.2.0.5", "to the new gateway");
	assert_int_equal(next_spi(e, e->peer3_sock), 0x3000);
	/* The old reqid no longer names it; the new one does. */
	pol.reqid = 1;
	assert_int_equal(dp_policy_update(e->dp, &pol), 0);
	app_send(e, "10.2.0.5", "back");
	peer_recv(e, e->peer_sock, "back");
	assert_int_equal(dp_sa_del(e->dp, 3, DP_DIR_OUT, 0x3000), 0);
	assert_int_equal(dp_ts_parse(&pol.ts_remote, "10.9.0.0/24"), 0);
	assert_int_equal(dp_policy_update(e->dp, &pol), -1);
	assert_int_equal(errno, ENOENT);
}

/* Build one ESP packet from the peer carrying a UDP packet from src. */
static size_t peer_packet(struct env *e, const char *src, uint8_t *buf, size_t cap)
{
	uint8_t pkt[128];
	size_t len = dpt_packet(pkt, AF_INET, src, "10.1.0.1", 20);
	struct dp_buf b = {.base = buf, .cap = cap, .off = 64, .len = len};

	memcpy(buf + 64, pkt, len);
	assert_int_equal(dp_esp_encap(&e->peer_out, &b, DP_ESP_NH_IPV4), DP_ESP_OK);
	memmove(buf, dp_buf_data(&b), b.len);
	return b.len;
}

static void input(struct env *e, const uint8_t *pkt, size_t len)
{
	uint8_t scratch[2048];
	struct sockaddr_storage from, to;

	dpt_sin(&from, "127.0.0.2", 4500);
	dpt_sin(&to, "127.0.0.1", 4500);
	memcpy(scratch, pkt, len);
	dp_input_udp(e->dp, scratch, len, &from, &to);
}

static void test_inbound_and_drops(void **state)
{
	struct env *e = *state;
	uint8_t pkt[2048], got[256];
	struct dp_stats st;
	struct dp_sa_counters c;
	size_t len = peer_packet(e, "10.2.0.5", pkt, sizeof(pkt));

	input(e, pkt, len);
	assert_true(pump(e, e->app_sock, 2000));
	assert_int_equal(recv(e->app_sock, got, sizeof(got), 0), 20);
	/* RFC 4303 3.4.3: the same packet again is dropped and counted. */
	input(e, pkt, len);
	/* 3.4.4: a modified one fails the ICV. */
	len = peer_packet(e, "10.2.0.5", pkt, sizeof(pkt));
	pkt[len - 3] ^= 1;
	input(e, pkt, len);
	/* RFC 4301 5.2: an inner source outside the SA's selectors. */
	len = peer_packet(e, "10.9.9.9", pkt, sizeof(pkt));
	input(e, pkt, len);
	/* 3.4.2: an unknown SPI, five times: one event. */
	dp_put32(pkt, 0xdead);
	for (int i = 0; i < 5; i++)
		input(e, pkt, len);
	input(e, pkt, 3); /* shorter than an ESP header */
	dp_stats(e->dp, &st);
	assert_int_equal(st.rx_packets, 1);
	assert_int_equal(st.drop_replay, 1);
	assert_int_equal(st.drop_auth, 1);
	assert_int_equal(st.drop_selector, 1);
	assert_int_equal(st.drop_unknown_spi, 5);
	assert_int_equal(st.drop_malformed, 1);
	assert_int_equal(dp_sa_counters(e->dp, 1, DP_DIR_IN, SPI_IN, &c), 0);
	assert_int_equal(c.packets, 1);
	assert_int_equal(c.replay_drops, 1);
	assert_int_equal(c.auth_drops, 1);
	assert_int_equal(c.selector_drops, 1);
	assert_int_equal(e->unknowns, 0); /* never from inside a dp call */
	pump(e, -1, 50);
	assert_int_equal(e->unknowns, 1);
	assert_int_equal(e->last_unknown, 0xdead);
}

static void test_acquire(void **state)
{
	struct env *e = *state;
	struct dp_stats st;
	uint8_t want[4];

	app_send(e, "10.3.0.7", "trap");
	app_send(e, "10.3.0.7", "trap"); /* rate-limited: one event */
	pump(e, -1, 100);
	dp_stats(e->dp, &st);
	assert_int_equal(st.drop_no_sa, 2);
	assert_int_equal(e->acquires, 1);
	assert_int_equal(e->last_acq.reqid, 2);
	inet_pton(AF_INET, "10.3.0.7", want);
	assert_memory_equal(e->last_acq.dst.addr_lo, want, 4);
	assert_int_equal(e->last_acq.dst.proto, IPPROTO_UDP);
	assert_int_equal(e->last_acq.dst.port_lo, 7777);
}

/* RFC 4555 3.5: after migration the outbound SA sends to the new address. */
static void test_migrate(void **state)
{
	struct env *e = *state;
	struct sockaddr_storage local, remote;

	dpt_sin(&local, "127.0.0.1", 4500);
	dpt_sin(&remote, "127.0.0.3", 4500);
	assert_int_equal(dp_sa_migrate(e->dp, 1, &local, &remote), 0);
	app_send(e, "10.2.0.5", "moved");
	peer_recv(e, e->peer3_sock, "moved");
	dpt_sin(&remote, "127.0.0.2", 4500);
	assert_int_equal(dp_sa_migrate(e->dp, 1, &local, &remote), 0);
	assert_int_equal(dp_sa_migrate(e->dp, 99, &local, &remote), -1);
}

/*
 * RFC 4555 3.5 with RFC 4303 3.3.3 and 3.4.3: a move changes only the outer
 * addresses. Outbound sequence numbers continue (the peer's replay window,
 * which saw the earlier ones, accepts the next), a packet sent before the
 * move and arriving after it is accepted, and an old one is still a replay.
 * The move names port 500 (an update that came in on the IKE port): ESP in
 * UDP still goes to the NAT-T port (RFC 3948 2.1), nothing to 500.
 */
static void test_migrate_keeps_replay_and_seq(void **state)
{
	struct env *e = *state;
	struct sockaddr_storage local, remote;
	struct dp_sa_counters before, after;
	struct dp_stats st0, st;
	uint8_t old[2048], inflight[2048], got[256];
	size_t old_len, inflight_len;
	int ike3 = dpt_udp_bound("127.0.0.3", 500);

	for (int i = 0; i < 3; i++) {
		app_send(e, "10.2.0.5", "before");
		peer_recv(e, e->peer_sock, "before");
	}
	assert_int_equal(dp_sa_counters(e->dp, 1, DP_DIR_OUT, SPI_OUT, &before), 0);
	old_len = peer_packet(e, "10.2.0.5", old, sizeof(old));
	input(e, old, old_len);
	assert_true(pump(e, e->app_sock, 2000));
	assert_int_equal(recv(e->app_sock, got, sizeof(got), 0), 20);
	inflight_len = peer_packet(e, "10.2.0.5", inflight, sizeof(inflight));
	dp_stats(e->dp, &st0);

	dpt_sin(&local, "127.0.0.1", 500);
	dpt_sin(&remote, "127.0.0.3", 500);
	assert_int_equal(dp_sa_migrate(e->dp, 1, &local, &remote), 0);
	assert_non_null(strstr(e->last_log, "RFC 3948"));
	app_send(e, "10.2.0.5", "after");
	peer_recv(e, e->peer3_sock, "after"); /* on 4500; decrypts past the peer's window */
	assert_int_equal(recv(ike3, got, sizeof(got), MSG_DONTWAIT), -1);
	assert_int_equal(dp_sa_counters(e->dp, 1, DP_DIR_OUT, SPI_OUT, &after), 0);
	assert_int_equal(after.seq, before.seq + 1);
	assert_int_equal(after.packets, before.packets + 1);

	input(e, inflight, inflight_len);
	assert_true(pump(e, e->app_sock, 2000));
	assert_int_equal(recv(e->app_sock, got, sizeof(got), 0), 20);
	input(e, old, old_len);
	dp_stats(e->dp, &st);
	assert_int_equal(st.drop_replay, st0.drop_replay + 1);
	assert_int_equal(st.rx_packets, st0.rx_packets + 1);

	dpt_sin(&local, "127.0.0.1", 4500);
	dpt_sin(&remote, "127.0.0.2", 4500);
	assert_int_equal(dp_sa_migrate(e->dp, 1, &local, &remote), 0);
	close(ike3);
}

/*
 * ESP the kernel refuses (no route; a source address that is gone, as
 * before a MOBIKE move) is counted per SA and in drop_send, and logged at
 * most once a second per SA.
 */
static void test_send_failures(void **state)
{
	struct env *e = *state;
	struct sockaddr_storage local, remote;
	struct dp_sa_counters c0, c;
	struct dp_stats st0, st;

	dp_stats(e->dp, &st0);
	assert_int_equal(dp_sa_counters(e->dp, 1, DP_DIR_OUT, SPI_OUT, &c0), 0);
	e->send_logs = 0;
	dpt_sin(&local, "127.0.0.1", 4500);
	dpt_sin(&remote, "192.0.2.1", 4500); /* no route in this namespace */
	assert_int_equal(dp_sa_migrate(e->dp, 1, &local, &remote), 0);
	for (int i = 0; i < 5; i++)
		app_send(e, "10.2.0.5", "lost");
	pump(e, -1, 100);
	dp_stats(e->dp, &st);
	assert_int_equal(st.drop_send, st0.drop_send + 5);
	assert_int_equal(st.drop_io, st0.drop_io);
	assert_int_equal(dp_sa_counters(e->dp, 1, DP_DIR_OUT, SPI_OUT, &c), 0);
	assert_int_equal(c.send_drops, c0.send_drops + 5);
	assert_in_range(e->send_logs, 1, 2); /* 5 failures, at most one line a second */
	assert_non_null(strstr(e->last_log, "unreachable"));

	/* Our source address is gone (EINVAL from the kernel). */
	dpt_sin(&local, "10.9.9.9", 4500);
	dpt_sin(&remote, "127.0.0.2", 4500);
	assert_int_equal(dp_sa_migrate(e->dp, 1, &local, &remote), 0);
	app_send(e, "10.2.0.5", "lost");
	pump(e, -1, 100);
	dp_stats(e->dp, &st);
	assert_int_equal(st.drop_send, st0.drop_send + 6);

	dpt_sin(&local, "127.0.0.1", 4500);
	assert_int_equal(dp_sa_migrate(e->dp, 1, &local, &remote), 0);
	app_send(e, "10.2.0.5", "back");
	peer_recv(e, e->peer_sock, "back");
}

/* Rekey make-before-break, then packet-count lifetimes (RFC 4301 4.4.2.1). */
static void test_rekey_and_expire(void **state)
{
	struct env *e = *state;
	uint8_t buf[2048];

	/* A newer outbound SA of the same reqid takes over. */
	dp_esp_clear(&e->peer_in);
	dp_esp_clear(&e->peer_out);
	assert_int_equal(dp_sa_del(e->dp, 1, DP_DIR_IN, SPI_IN), 0);
	add_sas(e, 1, SPI_OUT + 1, SPI_IN, 3);
	for (int i = 0; i < 3; i++) {
		app_send(e, "10.2.0.5", "x");
		assert_true(pump(e, e->peer_sock, 2000));
		ssize_t n = recv(e->peer_sock, buf, sizeof(buf), 0);
		assert_true(n > 8);
		assert_int_equal(dp_get32(buf), SPI_OUT + 1);
	}
	pump(e, -1, 50);
	assert_int_equal(e->soft, 1);
	assert_int_equal(e->hard, 1);
	assert_int_equal(e->last_why, DP_EXPIRE_PACKETS);
	/* The callback deleted it; the old SA (SPI_OUT) is still installed and live. */
	app_send(e, "10.2.0.5", "y");
	assert_true(pump(e, e->peer_sock, 2000));
	assert_true(recv(e->peer_sock, buf, sizeof(buf), 0) > 8);
	assert_int_equal(dp_get32(buf), SPI_OUT);
	/* The inbound SA has soft_secs = 1. */
	pump(e, -1, 1300);
	assert_int_equal(e->soft, 2);
	assert_int_equal(e->last_why, DP_EXPIRE_TIME);
	assert_int_equal(dp_sa_del(e->dp, 1, DP_DIR_OUT, SPI_OUT), 0);
	assert_int_equal(dp_sa_del(e->dp, 1, DP_DIR_OUT, SPI_OUT), -1);
	assert_int_equal(errno, ENOENT);
}

/*
 * RFC 4301 4.4.2.1 lifetimes in seconds, all SAs on the backend's one timer
 * (theap): A soft at 1 s and hard at 3 s, B hard only at 1 s, C soft at
 * 1 s but deleted first. Checked by the order of the events, not by time:
 * A's and B's 1-s events (either order), then A's hard one; nothing for C.
 */
static void test_lifetimes_in_seconds(void **state)
{
	struct env *e = *state;
	struct dp_sa sa;

	for (uint32_t i = 0; i < 3; i++) {
		dpt_sa(&sa, &dpt_suites[0], DP_DIR_IN, 0x7001 + i, true, 3);
		sa.reqid = 7;
		dpt_sin(&sa.src, "127.0.0.2", 4500);
		dpt_sin(&sa.dst, "127.0.0.1", 4500);
		sa.life.soft_secs = i == 1 ? 0 : 1;
		sa.life.hard_secs = i == 0 ? 3 : i == 1 ? 1 : 0;
		assert_int_equal(dp_sa_add(e->dp, &sa), 0);
	}
	assert_int_equal(dp_sa_del(e->dp, 7, DP_DIR_IN, 0x7003), 0);
	e->nexp = 0;
	for (int t = 0; t < 100 && e->nexp < 3; t++)
		pump(e, -1, 100);
	pump(e, -1, 100);
	assert_int_equal(e->nexp, 3);
	assert_true((e->exp[0].spi == 0x7001 && !e->exp[0].hard && e->exp[1].spi == 0x7002 &&
	             e->exp[1].hard) ||
	            (e->exp[1].spi == 0x7001 && !e->exp[1].hard && e->exp[0].spi == 0x7002 &&
	             e->exp[0].hard));
	assert_int_equal(e->exp[2].spi, 0x7001);
	assert_true(e->exp[2].hard);
	assert_int_equal(e->last_why, DP_EXPIRE_TIME);
	/* ev_expire deleted both on their hard expiry. */
	assert_int_equal(dp_sa_del(e->dp, 7, DP_DIR_IN, 0x7001), -1);
	assert_int_equal(dp_sa_del(e->dp, 7, DP_DIR_IN, 0x7002), -1);
}

/*
 * Routes into the TUN device are sent when the loop's pass ends, together
 * (dp_policy_add): in one pass, reqid 9's route is refused by the kernel
 * (a preferred source that is no local address: EINVAL), reqid 10's is
 * good, and reqid 11's policy goes again before the pass ends. Then reqid
 * 9's outbound SA has a hard expiry DP_EXPIRE_ROUTE (its inbound SA none),
 * reqid 10's route carries packets to the SPD (an acquire: it has no SA),
 * and reqid 11 left no route behind.
 */
static void test_route_batch_and_failure(void **state)
{
	struct env *e = *state;
	struct dp_policy pol = {.priority = 100};
	struct sockaddr_storage dst;
	int acquires = e->acquires;
	struct dp_sa sa;

	for (int out = 0; out < 2; out++) {
		dpt_sa(&sa, &dpt_suites[0], out ? DP_DIR_OUT : DP_DIR_IN, out ? 0x9001 : 0x9002,
		       true, 4);
		sa.reqid = 9;
		dpt_sin(&sa.src, out ? "127.0.0.1" : "127.0.0.2", 4500);
		dpt_sin(&sa.dst, out ? "127.0.0.2" : "127.0.0.1", 4500);
		assert_int_equal(dp_sa_add(e->dp, &sa), 0);
	}
	assert_int_equal(dp_ts_parse(&pol.ts_local, "10.1.0.0/24"), 0);
	pol.reqid = 9;
	assert_int_equal(dp_ts_parse(&pol.ts_remote, "10.9.0.0/24"), 0);
	dpt_sin(&pol.route_src, "192.0.2.99", 0); /* not ours */
	assert_int_equal(dp_policy_add(e->dp, &pol), 0);
	memset(&pol.route_src, 0, sizeof(pol.route_src));
	pol.reqid = 10;
	assert_int_equal(dp_ts_parse(&pol.ts_remote, "10.10.0.0/24"), 0);
	assert_int_equal(dp_policy_add(e->dp, &pol), 0);
	pol.reqid = 11;
	assert_int_equal(dp_ts_parse(&pol.ts_remote, "10.11.0.0/24"), 0);
	assert_int_equal(dp_policy_add(e->dp, &pol), 0);
	assert_int_equal(dp_policy_del(e->dp, &pol), 0);
	e->nexp = 0;
	pump(e, -1, 100);
	assert_int_equal(e->nexp, 1);
	assert_int_equal(e->exp[0].spi, 0x9001);
	assert_true(e->exp[0].hard);
	assert_int_equal(e->last_why, DP_EXPIRE_ROUTE);
	assert_int_equal(dp_sa_del(e->dp, 9, DP_DIR_OUT, 0x9001), -1); /* ev_expire did */
	app_send(e, "10.10.0.5", "to the SPD");
	pump(e, -1, 100);
	assert_int_equal(e->acquires, acquires + 1);
	assert_int_equal(e->last_acq.reqid, 10);
	dpt_sin(&dst, "10.11.0.5", 7777);
	assert_true(sendto(e->app_sock, "x", 1, 0, (struct sockaddr *)&dst,
	                   sizeof(struct sockaddr_in)) < 0); /* no route at all */
	/* A failed route goes with its policy; the next add asks the kernel again. */
	pol.reqid = 9;
	assert_int_equal(dp_ts_parse(&pol.ts_remote, "10.9.0.0/24"), 0);
	assert_int_equal(dp_policy_del(e->dp, &pol), 0);
	assert_int_equal(dp_policy_add(e->dp, &pol), 0);
	app_send(e, "10.9.0.5", "now routed");
	pump(e, -1, 100);
	assert_int_equal(e->last_acq.reqid, 9); /* its inbound SA is no outbound one */
	assert_int_equal(dp_policy_del(e->dp, &pol), 0);
	pol.reqid = 10;
	assert_int_equal(dp_ts_parse(&pol.ts_remote, "10.10.0.0/24"), 0);
	assert_int_equal(dp_policy_del(e->dp, &pol), 0);
	assert_int_equal(dp_sa_del(e->dp, 9, DP_DIR_IN, 0x9002), 0);
	event_base_loop(e->base, EVLOOP_NONBLOCK);
}

/* test_dp_xfrm tests the XFRM backend; here only its probe, on a kernel without ESP. */
static void test_xfrm_probe(void **state)
{
	struct env *e = *state;
	char why[160] = "";

	assert_int_equal(dp_probe(DP_BACKEND_XFRM, why, sizeof(why)), -1);
	print_message("xfrm: %s\n", why);
	assert_true(strlen(why) > 10);
	assert_null(dp_new(DP_BACKEND_XFRM, e->base, NULL, NULL));
	assert_int_equal(errno, EOPNOTSUPP);
	assert_int_equal(dp_probe(DP_BACKEND_USERSPACE, why, sizeof(why)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_outbound),
	    cmocka_unit_test(test_policy_update),
	    cmocka_unit_test(test_inbound_and_drops),
	    cmocka_unit_test(test_acquire),
	    cmocka_unit_test(test_migrate),
	    cmocka_unit_test(test_migrate_keeps_replay_and_seq),
	    cmocka_unit_test(test_send_failures),
	    cmocka_unit_test(test_rekey_and_expire),
	    cmocka_unit_test(test_lifetimes_in_seconds),
	    cmocka_unit_test(test_route_batch_and_failure),
	    cmocka_unit_test(test_xfrm_probe),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
