/*
 * dp_static: a userspace ESP tunnel with static keys, for namespace tests
 * and benchmarks of the data plane (no IKE). It owns the UDP socket on the
 * outer address, feeds ESP-in-UDP datagrams (RFC 3948 2.2: not starting with
 * the non-ESP marker, not a NAT-keepalive) to dp_input_udp, and prints the
 * counters on SIGUSR1 and at exit (SIGTERM/SIGINT).
 *
 *   dp_static --local 192.0.2.1 --remote 192.0.2.2 --local-ts 10.1.0.0/24
 *     --remote-ts 10.2.0.0/24 --vip 10.1.0.1/32 --spi-in 0x200 --spi-out 0x100
 *     --encr aes128gcm16 --key-in HEX --key-out HEX [--integ sha256 --ikey-in HEX
 *     --ikey-out HEX] [--esn] [--replay N] [--ifname rike0] [--mtu 1400]
 *     [--port 4500] [--rport 4500] [--stats FILE] [--ready FILE]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dataplane/dp.h"
#include "wire/ikev2.h"

#define BATCH     32
#define DGRAM_MAX 9216

struct tool {
	struct dp *dp;
	struct event_base *base;
	int sock;
	const char *stats_path, *ready_path;
	struct dp_options opt;
	struct dp_sa in, out;
	struct dp_ts lts[DP_MAX_TS], rts[DP_MAX_TS];
	size_t nl, nr;
	struct {
		struct sockaddr_storage addr;
		unsigned plen;
	} vip[4];
	size_t nvip;
	uint8_t bufs[BATCH][DGRAM_MAX];
	struct sockaddr_storage from[BATCH];
};

__attribute__((noreturn)) static void die(const char *what)
{
	fprintf(stderr, "dp_static: %s: %s\n", what, strerror(errno));
	exit(1);
}

__attribute__((noreturn)) static void usage(const char *why)
{
	fprintf(stderr, "dp_static: %s (see the comment at the top of dp_static.c)\n", why);
	exit(2);
}

static void parse_addr(const char *s, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(s, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, s, &s6->sin6_addr) != 1)
			usage("bad IPv6 address");
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		if (inet_pton(AF_INET, s, &s4->sin_addr) != 1)
			usage("bad IPv4 address");
	}
}

static size_t parse_hex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = 0;

	for (; hex[0] && hex[1]; hex += 2) {
		unsigned v;
		if (n == max || sscanf(hex, "%2x", &v) != 1)
			usage("bad hex key");
		out[n++] = (uint8_t)v;
	}
	if (*hex)
		usage("odd-length hex key");
	return n;
}

static void set_encr(struct tool *t, const char *name)
{
	static const struct {
		const char *name;
		uint16_t encr, bits;
	} encrs[] = {
	    {"aes128gcm16", IKEV2_ENCR_AES_GCM_16, 128},
	    {"aes256gcm16", IKEV2_ENCR_AES_GCM_16, 256},
	    {"chacha20poly1305", IKEV2_ENCR_CHACHA20_POLY1305, 0},
	    {"aes128", IKEV2_ENCR_AES_CBC, 128},
	    {"aes256", IKEV2_ENCR_AES_CBC, 256},
	};
	for (size_t i = 0; i < sizeof(encrs) / sizeof(encrs[0]); i++) {
		if (strcmp(encrs[i].name, name) == 0) {
			t->in.encr = t->out.encr = encrs[i].encr;
			t->in.encr_keybits = t->out.encr_keybits = encrs[i].bits;
			return;
		}
	}
	usage("unknown --encr");
}

static void set_integ(struct tool *t, const char *name)
{
	if (strcmp(name, "sha256") == 0)
		t->in.integ = t->out.integ = IKEV2_AUTH_HMAC_SHA2_256_128;
	else if (strcmp(name, "sha512") == 0)
		t->in.integ = t->out.integ = IKEV2_AUTH_HMAC_SHA2_512_256;
	else
		usage("unknown --integ");
}

static void add_vip(struct tool *t, const char *arg)
{
	char buf[64];
	char *slash;

	if (t->nvip == 4 || strlen(arg) >= sizeof(buf))
		usage("too many or too long --vip");
	strcpy(buf, arg);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	parse_addr(buf, 0, &t->vip[t->nvip].addr);
	t->vip[t->nvip].plen = slash                                       ? (unsigned)atoi(slash)
	                       : t->vip[t->nvip].addr.ss_family == AF_INET ? 32
	                                                                   : 128;
	t->nvip++;
}

static void parse_args(struct tool *t, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"local", 1, 0, 'l'},    {"remote", 1, 0, 'r'},
	    {"local-ts", 1, 0, 'L'}, {"remote-ts", 1, 0, 'R'},
	    {"vip", 1, 0, 'v'},      {"spi-in", 1, 0, 'i'},
	    {"spi-out", 1, 0, 'o'},  {"encr", 1, 0, 'e'},
	    {"integ", 1, 0, 'a'},    {"key-in", 1, 0, 'k'},
	    {"key-out", 1, 0, 'K'},  {"ikey-in", 1, 0, 'j'},
	    {"ikey-out", 1, 0, 'J'}, {"esn", 0, 0, 'E'},
	    {"replay", 1, 0, 'w'},   {"ifname", 1, 0, 'n'},
	    {"mtu", 1, 0, 'm'},      {"port", 1, 0, 'p'},
	    {"rport", 1, 0, 'P'},    {"stats", 1, 0, 's'},
	    {"ready", 1, 0, 'y'},    {0, 0, 0, 0},
	};
	const char *local = NULL, *remote = NULL;
	uint16_t port = 4500, rport = 4500;
	int c;

	t->in.dir = DP_DIR_IN;
	t->out.dir = DP_DIR_OUT;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			local = optarg;
			break;
		case 'r':
			remote = optarg;
			break;
		case 'L':
		case 'R': {
			struct dp_ts *ts = c == 'L' ? &t->lts[t->nl] : &t->rts[t->nr];
			if ((c == 'L' ? t->nl : t->nr) == DP_MAX_TS || dp_ts_parse(ts, optarg))
				usage("bad traffic selector");
			(c == 'L' ? t->nl++ : t->nr++);
			break;
		}
		case 'v':
			add_vip(t, optarg);
			break;
		case 'i':
			t->in.spi = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'o':
			t->out.spi = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'e':
			set_encr(t, optarg);
			break;
		case 'a':
			set_integ(t, optarg);
			break;
		case 'k':
			t->in.encr_key_len = parse_hex(optarg, t->in.encr_key, CRYPTO_MAX_KEY_LEN);
			break;
		case 'K':
			t->out.encr_key_len =
			    parse_hex(optarg, t->out.encr_key, CRYPTO_MAX_KEY_LEN);
			break;
		case 'j':
			t->in.integ_key_len =
			    parse_hex(optarg, t->in.integ_key, DP_MAX_INTEG_KEY_LEN);
			break;
		case 'J':
			t->out.integ_key_len =
			    parse_hex(optarg, t->out.integ_key, DP_MAX_INTEG_KEY_LEN);
			break;
		case 'E':
			t->in.esn = t->out.esn = true;
			break;
		case 'w':
			t->in.replay_window = (uint32_t)atoi(optarg);
			break;
		case 'n':
			t->opt.ifname = optarg;
			break;
		case 'm':
			t->opt.mtu = (unsigned)atoi(optarg);
			break;
		case 'p':
			port = (uint16_t)atoi(optarg);
			break;
		case 'P':
			rport = (uint16_t)atoi(optarg);
			break;
		case 's':
			t->stats_path = optarg;
			break;
		case 'y':
			t->ready_path = optarg;
			break;
		default:
			usage("bad option");
		}
	}
	if (!local || !remote || !t->nl || !t->nr || !t->in.spi || !t->out.spi || !t->in.encr)
		usage("--local, --remote, --local-ts, --remote-ts, SPIs and --encr are required");
	parse_addr(local, port, &t->out.src);
	parse_addr(remote, rport, &t->out.dst);
	t->in.src = t->out.dst;
	t->in.dst = t->out.src;
	for (int i = 0; i < 2; i++) {
		struct dp_sa *sa = i ? &t->out : &t->in;
		sa->reqid = 1;
		sa->mode = DP_MODE_TUNNEL;
		sa->encap = true;
		memcpy(sa->ts_local, t->lts, sizeof(t->lts));
		memcpy(sa->ts_remote, t->rts, sizeof(t->rts));
		sa->n_ts_local = t->nl;
		sa->n_ts_remote = t->nr;
	}
}

static void write_stats(struct tool *t)
{
	struct dp_stats s;
	struct dp_sa_counters in = {0}, out = {0};
	FILE *f = t->stats_path ? fopen(t->stats_path, "w") : stdout;

	if (!f)
		die("stats file");
	dp_stats(t->dp, &s);
	if (dp_sa_counters(t->dp, 1, DP_DIR_IN, t->in.spi, &in) ||
	    dp_sa_counters(t->dp, 1, DP_DIR_OUT, t->out.spi, &out))
		fprintf(stderr, "dp_static: no SA counters\n");
	fprintf(f,
	        "tx_packets=%llu\ntx_bytes=%llu\nrx_packets=%llu\nrx_bytes=%llu\n"
	        "drop_replay=%llu\ndrop_auth=%llu\ndrop_unknown_spi=%llu\ndrop_no_sa=%llu\n"
	        "drop_no_policy=%llu\ndrop_selector=%llu\ndrop_malformed=%llu\n"
	        "drop_expired=%llu\ndrop_io=%llu\ndrop_send=%llu\n"
	        "sa_in_packets=%llu\nsa_in_bytes=%llu\nsa_in_seq=%llu\n"
	        "sa_out_packets=%llu\nsa_out_bytes=%llu\nsa_out_seq=%llu\n",
	        (unsigned long long)s.tx_packets, (unsigned long long)s.tx_bytes,
	        (unsigned long long)s.rx_packets, (unsigned long long)s.rx_bytes,
	        (unsigned long long)s.drop_replay, (unsigned long long)s.drop_auth,
	        (unsigned long long)s.drop_unknown_spi, (unsigned long long)s.drop_no_sa,
	        (unsigned long long)s.drop_no_policy, (unsigned long long)s.drop_selector,
	        (unsigned long long)s.drop_malformed, (unsigned long long)s.drop_expired,
	        (unsigned long long)s.drop_io, (unsigned long long)s.drop_send,
	        (unsigned long long)in.packets, (unsigned long long)in.bytes,
	        (unsigned long long)in.seq, (unsigned long long)out.packets,
	        (unsigned long long)out.bytes, (unsigned long long)out.seq);
	if (f != stdout)
		fclose(f);
	else
		fflush(f);
}

/* RFC 3948 2.2/2.3: ESP unless it starts with the non-ESP marker or is a keepalive. */
static void on_udp(evutil_socket_t fd, short what, void *arg)
{
	struct tool *t = arg;
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_storage to = t->out.src;
	int n;

	memset(m, 0, sizeof(m));
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){t->bufs[i], DGRAM_MAX};
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
		m[i].msg_hdr.msg_name = &t->from[i];
		m[i].msg_hdr.msg_namelen = sizeof(t->from[i]);
	}
	n = recvmmsg(fd, m, BATCH, MSG_DONTWAIT, NULL);
	for (int i = 0; i < n; i++) {
		size_t len = m[i].msg_len;
		if ((len == 1 && t->bufs[i][0] == 0xff) ||
		    (len >= 4 && !memcmp(t->bufs[i], "\0\0\0\0", 4)))
			continue;
		dp_input_udp(t->dp, t->bufs[i], len, &t->from[i], &to);
	}
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct tool *t = arg;

	if (sig == SIGUSR1) {
		write_stats(t);
		return;
	}
	event_base_loopbreak(t->base);
}

static void on_log(void *ctx, enum dp_log_level level, const char *msg)
{
	fprintf(stderr, "dp_static: %s\n", msg);
}

static int open_socket(const struct sockaddr_storage *local)
{
	int fd = socket(local->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, size = 4 << 20;

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)local,
	         local->ss_family == AF_INET ? sizeof(struct sockaddr_in)
	                                     : sizeof(struct sockaddr_in6)))
		die("bind");
	return fd;
}

static void install(struct tool *t)
{
	for (size_t i = 0; i < t->nvip; i++)
		if (dp_addr_add(t->dp, &t->vip[i].addr, t->vip[i].plen))
			die("adding the local address");
	if (dp_sa_add(t->dp, &t->in) || dp_sa_add(t->dp, &t->out))
		die("adding the SAs");
	/* One policy per pair of selectors of the same family. */
	for (size_t l = 0; l < t->nl; l++) {
		for (size_t r = 0; r < t->nr; r++) {
			struct dp_policy p = {
			    .reqid = 1, .ts_local = t->lts[l], .ts_remote = t->rts[r]};
			if (t->lts[l].family != t->rts[r].family)
				continue;
			for (size_t v = 0; v < t->nvip; v++)
				if (t->vip[v].addr.ss_family == t->lts[l].family)
					p.route_src = t->vip[v].addr;
			if (dp_policy_add(t->dp, &p))
				die("adding a policy");
		}
	}
}

int main(int argc, char **argv)
{
	static struct tool t;
	const struct dp_events cb = {.log = on_log};
	struct event *ev_udp, *ev_sig[3];
	int sigs[3] = {SIGTERM, SIGINT, SIGUSR1};

	parse_args(&t, argc, argv);
	t.base = event_base_new();
	if (!t.base)
		die("event_base_new");
	t.dp = dp_new_opts(DP_BACKEND_USERSPACE, t.base, &cb, &t, &t.opt);
	if (!t.dp)
		die("dp_new");
	t.sock = open_socket(&t.out.src);
	if (dp_set_udp_socket(t.dp, t.out.src.ss_family, t.sock))
		die("dp_set_udp_socket");
	install(&t);
	ev_udp = event_new(t.base, t.sock, EV_READ | EV_PERSIST, on_udp, &t);
	if (!ev_udp || event_add(ev_udp, NULL))
		die("event_add");
	for (int i = 0; i < 3; i++) {
		ev_sig[i] = evsignal_new(t.base, sigs[i], on_signal, &t);
		if (!ev_sig[i] || event_add(ev_sig[i], NULL))
			die("evsignal_new");
	}
	if (t.ready_path) {
		FILE *f = fopen(t.ready_path, "w");
		if (!f)
			die("ready file");
		fclose(f);
	}
	event_base_dispatch(t.base);
	write_stats(&t);
	for (int i = 0; i < 3; i++)
		event_free(ev_sig[i]);
	event_free(ev_udp);
	dp_free(t.dp);
	close(t.sock);
	event_base_free(t.base);
	return 0;
}
