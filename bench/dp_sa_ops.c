/*
 * bench/dp_sa_ops: the cost of the userspace data plane's per-SA
 * operations as the number of Child SAs grows (issue 13). For each N it
 * installs N Child SAs the way dpglue does for a remote-access gateway
 * (an inbound and an outbound SA, one policy 0.0.0.0/0 <-> 10.x.y.z/32 and
 * its route into the TUN device), then times, per operation:
 *
 *   add       dp_sa_add x2 + dp_policy_add (with its kernel route)
 *   sa        dp_sa_counters on a random installed SA ((reqid, dir, spi) lookup)
 *   spi       the inbound lookup by SPI (dp_debug_sa_in)
 *   spd       the outbound selector lookup of a packet to a random client
 *   counters  dp_sa_counters on both SAs of every Child SA (a status pass), per Child SA
 *   rekey     make-before-break: new pair with the same reqid, old pair deleted
 *   del       dp_policy_del + dp_sa_del x2 (and the route)
 *
 * and the heap the data plane holds per Child SA (mallinfo2 before and
 * after the adds; the kernel's routes are not counted), and the mean
 * dp_hash_steps of an sa and an spd lookup (the unit tests bound them).
 *
 * It runs in a network namespace of its own (unshare, root): the TUN
 * device and the routes vanish with it.
 *
 *   bench/dp_sa_ops [-n] [-l] [-b K] [N ...]   default: 1000 100000 1000000
 *
 * -n: no kernel routes (dp_debug_skip_routes): the data plane's own share
 * of add and del, without the RTM_NEWROUTE/DELROUTE round trips.
 * -b K: the event loop runs once per K Child SAs added or deleted (default
 * 1): the routes queued in between go to the kernel together, as when the
 * daemon installs K Child SAs in one pass.
 * -l: every SA with lifetimes in seconds (soft 3,600, hard 3,960; RFC 4301
 * 4.4.2.1), which the data plane then times; riked's dpglue sets none (the
 * IKE engine rekeys by time itself).
 */
#include <errno.h>
#include <event2/event.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataplane/dp.h"
#include "dataplane/dp_debug.h"
#include "dataplane/dp_hash.h"
#include "wire/ikev2.h"

/* CPU time of this thread (the kernel's netlink work for our routes runs
 * in it too): on a machine shared with other jobs, wall-clock time per
 * operation measures the scheduler, not the data plane. */
static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static bool lifetimes; /* -l */

static uint64_t rng = 88172645463325252ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static void sin4(struct sockaddr_storage *ss, uint32_t addr, uint16_t port)
{
	struct sockaddr_in *s = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin_family = AF_INET;
	s->sin_addr.s_addr = htonl(addr);
	s->sin_port = htons(port);
}

/* Client i: inner address 10.0.0.0 + i + 1 (up to 16M clients), outer 198.18.x.y. */
static uint32_t client_addr(uint32_t i)
{
	return 0x0a000000u + i + 1;
}

static void client_sa(struct dp_sa *sa, uint32_t i, enum dp_dir dir, uint32_t spi)
{
	struct sockaddr_storage gw, peer;
	uint32_t a = htonl(client_addr(i));

	memset(sa, 0, sizeof(*sa));
	sa->reqid = i + 1;
	sa->dir = dir;
	sa->spi = spi;
	sa->mode = DP_MODE_TUNNEL;
	sa->encap = true;
	sa->encr = IKEV2_ENCR_AES_GCM_16;
	sa->encr_keybits = 256;
	sa->encr_key_len = 36;
	memset(sa->encr_key, (int)(i & 0xff), sa->encr_key_len);
	sa->integ = IKEV2_AUTH_NONE;
	sin4(&gw, 0xc0000201u, 4500);                  /* 192.0.2.1 */
	sin4(&peer, 0xc6120000u + (i & 0xffff), 4500); /* 198.18.x.y */
	sa->src = dir == DP_DIR_OUT ? gw : peer;
	sa->dst = dir == DP_DIR_OUT ? peer : gw;
	if (dp_ts_parse(&sa->ts_local[0], "0.0.0.0/0") ||
	    dp_ts_from_prefix(&sa->ts_remote[0], AF_INET, &a, 32))
		abort();
	sa->n_ts_local = sa->n_ts_remote = 1;
	if (lifetimes) {
		sa->life.soft_secs = 3600;
		sa->life.hard_secs = 3960;
	}
}

static void client_policy(struct dp_policy *p, uint32_t i)
{
	uint32_t a = htonl(client_addr(i));

	memset(p, 0, sizeof(*p));
	p->reqid = i + 1;
	p->priority = 1000 - 32;
	if (dp_ts_parse(&p->ts_local, "0.0.0.0/0") ||
	    dp_ts_from_prefix(&p->ts_remote, AF_INET, &a, 32))
		abort();
}

static uint32_t spi_in(uint32_t i, uint32_t gen)
{
	return 0x10000000u + i * 4 + gen;
}

static uint32_t spi_out(uint32_t i, uint32_t gen)
{
	return 0x80000000u + i * 4 + gen;
}

static int add_pair(struct dp *dp, uint32_t i, uint32_t gen)
{
	struct dp_sa sa;

	client_sa(&sa, i, DP_DIR_IN, spi_in(i, gen));
	if (dp_sa_add(dp, &sa))
		return -1;
	client_sa(&sa, i, DP_DIR_OUT, spi_out(i, gen));
	return dp_sa_add(dp, &sa);
}

static int del_pair(struct dp *dp, uint32_t i, uint32_t gen)
{
	return dp_sa_del(dp, i + 1, DP_DIR_IN, spi_in(i, gen)) ||
	       dp_sa_del(dp, i + 1, DP_DIR_OUT, spi_out(i, gen));
}

/* An IPv4 UDP packet from 192.0.2.10 to client i. */
static size_t packet_to(uint8_t *p, uint32_t i)
{
	uint32_t d = htonl(client_addr(i)), s = htonl(0xc000020au);

	memset(p, 0, 28);
	p[0] = 0x45;
	p[3] = 28;
	p[8] = 64;
	p[9] = IPPROTO_UDP;
	memcpy(p + 12, &s, 4);
	memcpy(p + 16, &d, 4);
	p[20] = 0x30;
	p[22] = 0x27;
	p[25] = 8;
	return 28;
}

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (x) {                                                                           \
			fprintf(stderr, "dp_sa_ops: %s failed: %s\n", #x, strerror(errno));        \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

static bool no_routes;
static uint32_t per_pass = 1; /* -b: Child SAs added (deleted) per loop pass */

static void run(struct event_base *base, uint32_t n)
{
	struct dp_options opt = {.ifname = "bench0", .mtu = 1400};
	struct dp *dp = dp_new_opts(DP_BACKEND_USERSPACE, base, NULL, NULL, &opt);
	struct dp_sa_counters c;
	struct dp_policy p;
	uint32_t lookups = n < 1000000 ? 1000000 : n, reqid, probes = n < 100000 ? n : 100000;
	uint8_t pkt[64];
	double t0, t_add, t_sa, t_spi, t_spd, t_ctr, t_rekey, t_del;
	struct mallinfo2 m0, m1;
	uint64_t sink = 0, st_sa, st_spd;

	if (!dp) {
		fprintf(stderr, "dp_sa_ops: cannot create the userspace data plane: %s\n",
		        strerror(errno));
		exit(1);
	}
	CHECK(no_routes && dp_debug_skip_routes(dp, true));
	m0 = mallinfo2();
	t0 = now_ns();
	for (uint32_t i = 0; i < n; i++) {
		CHECK(add_pair(dp, i, 0));
		client_policy(&p, i);
		CHECK(dp_policy_add(dp, &p));
		if ((i + 1) % per_pass == 0 || i + 1 == n)
			event_base_loop(base, EVLOOP_NONBLOCK); /* the queued routes */
	}
	t_add = (now_ns() - t0) / n;
	m1 = mallinfo2();

	st_sa = dp_hash_steps;
	t0 = now_ns();
	for (uint32_t k = 0; k < lookups; k++) {
		uint32_t i = rnd() % n;
		CHECK(dp_sa_counters(dp, i + 1, DP_DIR_OUT, spi_out(i, 0), &c));
		sink += c.seq;
	}
	t_sa = (now_ns() - t0) / lookups;
	st_sa = dp_hash_steps - st_sa;

	t0 = now_ns();
	for (uint32_t k = 0; k < lookups; k++) {
		uint32_t i = rnd() % n;
		CHECK(dp_debug_sa_in(dp, spi_in(i, 0), &reqid) || reqid != i + 1);
	}
	t_spi = (now_ns() - t0) / lookups;

	st_spd = dp_hash_steps;
	t0 = now_ns();
	for (uint32_t k = 0; k < lookups; k++) {
		uint32_t i = rnd() % n, spi;
		size_t len = packet_to(pkt, i);
		CHECK(dp_debug_spd_lookup(dp, pkt, len, &reqid, &spi) || reqid != i + 1 ||
		      spi != spi_out(i, 0));
	}
	t_spd = (now_ns() - t0) / lookups;
	st_spd = dp_hash_steps - st_spd;

	t0 = now_ns();
	for (uint32_t i = 0; i < n; i++) {
		CHECK(dp_sa_counters(dp, i + 1, DP_DIR_IN, spi_in(i, 0), &c));
		sink += c.packets;
		CHECK(dp_sa_counters(dp, i + 1, DP_DIR_OUT, spi_out(i, 0), &c));
		sink += c.packets;
	}
	t_ctr = (now_ns() - t0) / n;

	/* Rekey the first `probes` clients: the new pair first, then the old one goes. */
	t0 = now_ns();
	for (uint32_t k = 0; k < probes; k++) {
		CHECK(add_pair(dp, k, 1));
		CHECK(del_pair(dp, k, 0));
	}
	t_rekey = (now_ns() - t0) / probes;

	t0 = now_ns();
	for (uint32_t i = 0; i < n; i++) {
		client_policy(&p, i);
		CHECK(dp_policy_del(dp, &p));
		CHECK(del_pair(dp, i, i < probes ? 1 : 0));
		if ((i + 1) % per_pass == 0 || i + 1 == n)
			event_base_loop(base, EVLOOP_NONBLOCK);
	}
	t_del = (now_ns() - t0) / n;

	printf("%9u  %8.0f  %6.0f  %6.0f  %6.0f  %8.0f  %7.0f  %8.0f  %9.0f  %8.2f  %5.2f%s\n", n,
	       t_add, t_sa, t_spi, t_spd, t_ctr, t_rekey, t_del,
	       (double)(m1.uordblks + m1.hblkhd - m0.uordblks - m0.hblkhd) / n,
	       (double)st_sa / lookups, (double)st_spd / lookups, sink == 42 ? " " : "");
	dp_free(dp);
}

int main(int argc, char **argv)
{
	static const uint32_t defaults[] = {1000, 100000, 1000000};
	struct event_base *base;
	int first = 1;

	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "dp_sa_ops: needs a network namespace of its own (root): %s\n",
		        strerror(errno));
		return 77;
	}
	base = event_base_new();
	if (!base)
		return 1;
	for (; first < argc && argv[first][0] == '-'; first++) {
		if (!strcmp(argv[first], "-n"))
			no_routes = true;
		else if (!strcmp(argv[first], "-l"))
			lifetimes = true;
		else if (!strcmp(argv[first], "-b") && first + 1 < argc &&
		         (per_pass = (uint32_t)strtoul(argv[first + 1], NULL, 10)) > 0)
			first++;
		else {
			fprintf(stderr, "usage: dp_sa_ops [-n] [-l] [-b K] [N ...]\n");
			return 2;
		}
	}
	printf("# CPU ns per operation; heap = bytes the data plane holds per Child SA%s%s; "
	       "%u per loop pass\n",
	       no_routes ? "; no kernel routes (-n)" : "", lifetimes ? "; lifetimes (-l)" : "",
	       per_pass);
	printf("#       N       add      sa     spi     spd  counters    rekey       del  heap/SA"
	       "  steps:sa    spd\n");
	fflush(stdout);
	if (argc > first) {
		for (int i = first; i < argc; i++) {
			run(base, (uint32_t)strtoul(argv[i], NULL, 10));
			fflush(stdout);
		}
	} else {
		for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
			run(base, defaults[i]);
			fflush(stdout);
		}
	}
	event_base_free(base);
	return 0;
}
