/*
 * rike-flood: a spoofed IKE_SA_INIT flood for bench/flood.sh (RFC 7296 2.6
 * is what it exercises: a responder must answer such a flood with stateless
 * cookies and keep its half-open state bounded; RFC 8019 1, 4).
 *
 * Every datagram is a well-formed IKE_SA_INIT request (RFC 7296 1.2: HDR,
 * SA, KEi, Ni, N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP))
 * with a random SPIi, a random nonce, a random x25519 key share and correct
 * NAT-D hashes (2.23) for its own spoofed source, so it passes a responder's
 * parsing and proposal selection and costs it what a real request would.
 * The proposal is the benchmark's aes256gcm16-prfsha256-x25519. Messages are
 * encoded by src/wire (wire_encode); the kernel writes the IP and UDP
 * headers: the source address is set per datagram with IP_PKTINFO on a UDP
 * socket with IP_TRANSPARENT, so this file never touches packet bytes.
 *
 * Rate: a token bucket (burst 10 ms of tokens, at least one batch), sent
 * with sendmmsg(); bounded by --count and --secs. At the end one line on
 * stdout says what was really sent:
 *   rike-flood: sent=N secs=S rate=R target=T errors=E [last_error=...]
 *
 * Safety: the flood stays inside test namespaces. rike-flood runs only in a
 * namespace made by `ip netns` (tests/interop/lib.sh), and both the source
 * prefix and the destination must be private (RFC 1918) addresses.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "wire/payload.h"

#define FLOOD_MAX_BATCH 256
#define FLOOD_MAX_DGRAM 512
#define FLOOD_NONCE_LEN 32
#define FLOOD_KE_LEN    32 /* RFC 8031 3.1: an x25519 public value is 32 octets */

struct flood_opts {
	struct in_addr dst;
	uint16_t dport, sport;
	uint32_t src_net, src_hosts; /* host order; hosts = 2^(32-len) */
	double rate, secs;
	uint64_t count;
	unsigned batch;
	uint64_t seed;
};

/* The parts of one request that change per datagram; the message borrows them. */
struct flood_req {
	struct wire_msg m;
	struct wire_proposal prop;
	struct wire_transform tr[3];
	uint8_t ke[FLOOD_KE_LEN], nonce[FLOOD_NONCE_LEN], nat_src[20], nat_dst[20];
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* xoshiro256** (Blackman, Vigna): fast, and randomness quality is not at stake here. */
static uint64_t rng_s[4];

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(void)
{
	uint64_t r = rotl(rng_s[1] * 5, 7) * 9, t = rng_s[1] << 17;

	rng_s[2] ^= rng_s[0];
	rng_s[3] ^= rng_s[1];
	rng_s[1] ^= rng_s[2];
	rng_s[0] ^= rng_s[3];
	rng_s[2] ^= t;
	rng_s[3] = rotl(rng_s[3], 45);
	return r;
}

static void rng_seed(uint64_t seed)
{
	for (int i = 0; i < 4; i++) { /* splitmix64 */
		uint64_t z = (seed += 0x9e3779b97f4a7c15ull);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		rng_s[i] = z ^ (z >> 31);
	}
}

static void rng_fill(uint8_t *p, size_t n)
{
	while (n) {
		uint64_t r = rng_next();
		size_t k = n < 8 ? n : 8;

		memcpy(p, &r, k);
		p += k;
		n -= k;
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool is_private(uint32_t a) /* host order; RFC 1918 */
{
	return (a >> 24) == 10 || (a >> 20) == (172u << 4 | 1) || (a >> 16) == (192u << 8 | 168);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: rike-flood --dst ADDR --src-net NET/LEN --rate PER_SEC --secs S\n"
	           "                  [--count N] [--dport 500] [--sport 500] [--batch 64] "
	           "[--seed N]\n"
	           "Sends spoofed IKE_SA_INIT requests (aes256gcm16-prfsha256-x25519) from\n"
	           "random addresses of NET/LEN to ADDR; only inside a network namespace,\n"
	           "only private addresses. Prints what it really sent.\n");
}

static int parse_net(const char *s, uint32_t *net, uint32_t *hosts)
{
	char buf[64];
	char *slash, *end;
	struct in_addr a;
	long len;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash)
		return -1;
	*slash = 0;
	len = strtol(slash + 1, &end, 10);
	if (*end || len < 8 || len > 30 || inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	*hosts = 1u << (32 - len);
	*net = ntohl(a.s_addr) & ~(*hosts - 1);
	return 0;
}

static int parse_opts(int argc, char **argv, struct flood_opts *o)
{
	static const struct option lo[] = {{"dst", required_argument, NULL, 'd'},
	                                   {"src-net", required_argument, NULL, 'n'},
	                                   {"rate", required_argument, NULL, 'r'},
	                                   {"secs", required_argument, NULL, 't'},
	                                   {"count", required_argument, NULL, 'c'},
	                                   {"dport", required_argument, NULL, 'p'},
	                                   {"sport", required_argument, NULL, 'P'},
	                                   {"batch", required_argument, NULL, 'b'},
	                                   {"seed", required_argument, NULL, 's'},
	                                   {"help", no_argument, NULL, 'h'},
	                                   {NULL, 0, NULL, 0}};
	bool have_dst = false, have_net = false;
	int c;

	memset(o, 0, sizeof(*o));
	o->dport = o->sport = 500;
	o->batch = 64;
	o->count = UINT64_MAX;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			have_dst = inet_pton(AF_INET, optarg, &o->dst) == 1;
			break;
		case 'n':
			have_net = parse_net(optarg, &o->src_net, &o->src_hosts) == 0;
			break;
		case 'r':
			o->rate = strtod(optarg, NULL);
			break;
		case 't':
			o->secs = strtod(optarg, NULL);
			break;
		case 'c':
			o->count = strtoull(optarg, NULL, 10);
			break;
		case 'p':
			o->dport = (uint16_t)strtoul(optarg, NULL, 10);
			break;
		case 'P':
			o->sport = (uint16_t)strtoul(optarg, NULL, 10);
			break;
		case 'b':
			o->batch = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			o->seed = strtoull(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (!have_dst || !have_net || !(o->rate > 0 && o->rate <= 1e7) ||
	    !(o->secs > 0 && o->secs <= 3600) || !o->count || !o->batch ||
	    o->batch > FLOOD_MAX_BATCH || optind != argc) {
		usage(stderr);
		return -1;
	}
	if (!is_private(ntohl(o->dst.s_addr)) || !is_private(o->src_net) ||
	    !is_private(o->src_net + o->src_hosts - 1)) {
		fprintf(stderr, "rike-flood: --dst and --src-net must be private (RFC 1918)\n");
		return -1;
	}
	return 0;
}

/*
 * Spoofed floods belong in test namespaces: run only in a namespace named by
 * `ip netns` (a bind mount under /run/netns), never in the host's own.
 */
static int check_netns(void)
{
	struct stat self, st;
	struct dirent *e;
	char path[512];
	DIR *d;
	int rc = -1;

	if (stat("/proc/self/ns/net", &self) < 0) {
		perror("rike-flood: /proc/self/ns/net");
		return -1;
	}
	d = opendir("/run/netns");
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' ||
		    snprintf(path, sizeof(path), "/run/netns/%s", e->d_name) >= (int)sizeof(path))
			continue;
		if (stat(path, &st) == 0 && st.st_ino == self.st_ino && st.st_dev == self.st_dev)
			rc = 0;
	}
	if (d)
		closedir(d);
	if (rc < 0)
		fprintf(stderr, "rike-flood: not in a named network namespace (ip netns exec); "
		                "refusing to flood\n");
	return rc;
}

/* The request's fixed parts (RFC 7296 1.2, 3.3, 3.4, 3.9, 3.10). */
static int req_init(struct flood_req *q)
{
	struct wire_payload *p;

	memset(q, 0, sizeof(*q));
	wire_msg_init(&q->m);
	q->m.hdr.exchange = IKEV2_EXCH_IKE_SA_INIT;
	q->m.hdr.flags = IKEV2_FLAG_INITIATOR;
	q->tr[0].type = IKEV2_TRANS_ENCR;
	q->tr[0].id = IKEV2_ENCR_AES_GCM_16;
	q->tr[0].nattrs = 1;
	q->tr[0].attrs[0].type = IKEV2_ATTR_KEY_LENGTH;
	q->tr[0].attrs[0].tv = true;
	q->tr[0].attrs[0].value = 256;
	q->tr[1].type = IKEV2_TRANS_PRF;
	q->tr[1].id = IKEV2_PRF_HMAC_SHA2_256;
	q->tr[2].type = IKEV2_TRANS_KE;
	q->tr[2].id = IKEV2_DH_CURVE25519;
	q->prop.num = 1;
	q->prop.protocol = IKEV2_PROTO_IKE;
	q->prop.ntransforms = 3;
	q->prop.transforms = q->tr;

	p = &q->m.payloads[q->m.npayloads++];
	p->type = IKEV2_PL_SA;
	p->u.sa.nproposals = 1;
	p->u.sa.proposals = &q->prop;
	p = &q->m.payloads[q->m.npayloads++];
	p->type = IKEV2_PL_KE;
	p->u.ke.group = IKEV2_DH_CURVE25519;
	p->u.ke.data = q->ke;
	p->u.ke.len = sizeof(q->ke);
	p = &q->m.payloads[q->m.npayloads++];
	p->type = IKEV2_PL_NI_NR;
	p->u.nonce.data = q->nonce;
	p->u.nonce.len = sizeof(q->nonce);
	p = &q->m.payloads[q->m.npayloads++];
	p->type = IKEV2_PL_N;
	p->u.notify.type = IKEV2_N_NAT_DETECTION_SOURCE_IP;
	p->u.notify.data = q->nat_src;
	p->u.notify.len = sizeof(q->nat_src);
	p = &q->m.payloads[q->m.npayloads++];
	p->type = IKEV2_PL_N;
	p->u.notify.type = IKEV2_N_NAT_DETECTION_DESTINATION_IP;
	p->u.notify.data = q->nat_dst;
	p->u.notify.len = sizeof(q->nat_dst);
	return 0;
}

/* 2.23: SHA-1(SPIi | SPIr | IP | Port), SPIr zero in the first request. */
static int nat_hash(const uint8_t spi_i[8], struct in_addr a, uint16_t port, uint8_t out[20])
{
	static const uint8_t zero[8];
	uint8_t pb[2] = {(uint8_t)(port >> 8), (uint8_t)port};
	struct crypto_chunk in[] = {
	    {spi_i, 8}, {zero, 8}, {(const uint8_t *)&a.s_addr, 4}, {pb, 2}};

	return crypto_sha1(in, ARRAY_LEN(in), out);
}

/* Fresh SPIi, KEi, Ni and NAT-D hashes for source src; encode into out. */
static int req_next(struct flood_req *q, const struct flood_opts *o, struct in_addr src,
                    struct wire_wr *w, uint8_t *out, size_t *len)
{
	rng_fill(q->m.hdr.spi_i, sizeof(q->m.hdr.spi_i));
	rng_fill(q->ke, sizeof(q->ke));
	rng_fill(q->nonce, sizeof(q->nonce));
	if (nat_hash(q->m.hdr.spi_i, src, o->sport, q->nat_src) < 0 ||
	    nat_hash(q->m.hdr.spi_i, o->dst, o->dport, q->nat_dst) < 0)
		return -1;
	wire_wr_reset(w);
	if (wire_encode(&q->m, w) < 0 || w->len > FLOOD_MAX_DGRAM)
		return -1;
	memcpy(out, w->p, w->len);
	*len = w->len;
	return 0;
}

static int open_socket(const struct flood_opts *o)
{
	int one = 1, buf = 4 << 20, fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(o->sport)};

	if (fd < 0) {
		perror("rike-flood: socket");
		return -1;
	}
	/* IP_TRANSPARENT lets IP_PKTINFO name a source address that is not ours. */
	if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		perror("rike-flood: IP_TRANSPARENT socket (needs CAP_NET_ADMIN)");
		close(fd);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	return fd;
}

struct flood_batch {
	struct mmsghdr mh[FLOOD_MAX_BATCH];
	struct iovec iov[FLOOD_MAX_BATCH];
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(struct in_pktinfo))];
	} cm[FLOOD_MAX_BATCH];
	uint8_t data[FLOOD_MAX_BATCH][FLOOD_MAX_DGRAM];
	struct sockaddr_in dst;
};

/* Fill n datagrams of the batch, each from a random address of the source prefix. */
static int batch_fill(struct flood_batch *b, unsigned n, struct flood_req *q,
                      const struct flood_opts *o, struct wire_wr *w)
{
	for (unsigned i = 0; i < n; i++) {
		struct msghdr *h = &b->mh[i].msg_hdr;
		struct cmsghdr *c;
		struct in_pktinfo pi = {0};
		uint32_t host = 1 + (uint32_t)(rng_next() % (o->src_hosts - 2));
		struct in_addr src = {.s_addr = htonl(o->src_net + host)};
		size_t len;

		if (req_next(q, o, src, w, b->data[i], &len) < 0)
			return -1;
		b->iov[i].iov_base = b->data[i];
		b->iov[i].iov_len = len;
		memset(h, 0, sizeof(*h));
		h->msg_name = &b->dst;
		h->msg_namelen = sizeof(b->dst);
		h->msg_iov = &b->iov[i];
		h->msg_iovlen = 1;
		h->msg_control = b->cm[i].b;
		h->msg_controllen = sizeof(b->cm[i].b);
		c = CMSG_FIRSTHDR(h);
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		pi.ipi_spec_dst = src;
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	}
	return 0;
}

static void sleep_until(double t)
{
	struct timespec ts;
	double now = now_s();

	if (t <= now)
		return;
	t -= now;
	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	struct flood_opts o;
	static struct flood_batch b;
	static struct flood_req q;
	struct wire_wr w;
	uint64_t sent = 0, errors = 0;
	int fd, last_errno = 0, rc = 1;
	double t0, end, last, tokens, burst;
	struct sigaction sa = {.sa_handler = on_signal};

	if (parse_opts(argc, argv, &o) < 0 || check_netns() < 0)
		return 2;
	if (!o.seed && getrandom(&o.seed, sizeof(o.seed), 0) != sizeof(o.seed))
		o.seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	rng_seed(o.seed);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fd = open_socket(&o);
	if (fd < 0 || req_init(&q) < 0)
		return 1;
	wire_wr_init(&w, FLOOD_MAX_DGRAM);
	b.dst = (struct sockaddr_in){
	    .sin_family = AF_INET, .sin_port = htons(o.dport), .sin_addr = o.dst};
	/* At least one batch, and 10 ms worth: a stall is not made up in one burst. */
	burst = o.rate / 100 > o.batch ? o.rate / 100 : o.batch;
	t0 = last = now_s();
	end = t0 + o.secs;
	tokens = 1;
	while (!stop && sent < o.count) {
		double now = now_s();
		unsigned n;
		int k;

		if (now >= end)
			break;
		tokens += (now - last) * o.rate;
		last = now;
		if (tokens > burst)
			tokens = burst;
		if (tokens < 1) {
			sleep_until(now + (1 - tokens) / o.rate);
			continue;
		}
		n = tokens < o.batch ? (unsigned)tokens : o.batch;
		if (o.count - sent < n)
			n = (unsigned)(o.count - sent);
		if (batch_fill(&b, n, &q, &o, &w) < 0) {
			fprintf(stderr, "rike-flood: cannot encode a request\n");
			goto out;
		}
		k = sendmmsg(fd, b.mh, n, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			errors++;
			last_errno = errno;
			if (!sent && errors > 100) {
				fprintf(stderr, "rike-flood: sendmmsg: %s\n", strerror(errno));
				goto out;
			}
			k = 1; /* skip the datagram that failed */
		} else {
			sent += (uint64_t)k;
		}
		tokens -= k;
	}
	rc = 0;
out : {
	double secs = now_s() - t0;

	printf("rike-flood: sent=%" PRIu64 " secs=%.3f rate=%.0f target=%.0f errors=%" PRIu64
	       "%s%s\n",
	       sent, secs, secs > 0 ? (double)sent / secs : 0.0, o.rate, errors,
	       last_errno ? " last_error=" : "", last_errno ? strerror(last_errno) : "");
}
	wire_wr_free(&w);
	wire_msg_free(&q.m);
	close(fd);
	return rc;
}
