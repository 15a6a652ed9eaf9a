/*
 * bench/ike_init_flood.c: load generator for redirects in IKE_SA_INIT
 * (RFC 5685 3), used by bench/redirect.sh.
 *
 * It sends well-formed IKE_SA_INIT requests (RFC 7296 1.2, 3.1-3.9: SA with
 * one IKE proposal AES-GCM-16-256 / PRF-HMAC-SHA2-256 / Curve25519, KE, Ni)
 * carrying N(REDIRECT_SUPPORTED) (RFC 5685 9.1) from many source addresses
 * and ports, keeps WINDOW requests in flight on every socket, and counts the
 * answers: REDIRECT (its Nonce Data must equal our Ni, RFC 5685 9.2),
 * COOKIE (answered once with the cookie, RFC 7296 2.6), anything else
 * ("other": served with SAr1, INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN, ...)
 * and requests left unanswered for a second ("lost"). After SECONDS it stops
 * sending and collects the answers still in flight for up to 0.5 s; the
 * rate is REDIRECT answers per second of sending.
 *
 * It is written on its own, not on src/wire, on purpose: the gateway meets
 * an encoder and a decoder it does not share code with. Ni is derived from
 * SPIi, so checking a REDIRECT's nonce needs no per-request state.
 *
 * usage: ike_init_flood -d DST -s FIRST_SRC [-a NADDR] [-k SOCKS] [-w WINDOW]
 *                       [-t SECONDS] [-n MAX_REQUESTS] [-p PORT]
 * Sources are NADDR consecutive IPv4 addresses from FIRST_SRC (they must
 * exist in the namespace), SOCKS sockets (ephemeral ports) on each.
 * Output (one line): sent S redirect R cookie C other O lost L
 *                    bad_nonce B secs T rate R/s
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
	PL_SA = 33,
	PL_KE = 34,
	PL_NONCE = 40,
	PL_NOTIFY = 41,
	EX_IKE_SA_INIT = 34,
	N_INVALID_KE = 17,
	N_COOKIE = 16390,
	N_REDIRECT_SUPPORTED = 16406,
	N_REDIRECT = 16407,
	NONCE_LEN = 32,
	KE_LEN = 32,
	MAX_COOKIE = 64,
	MAX_MSG = 2048,
	MAX_SOCKS = 65536,
};

struct sock {
	int fd;
	unsigned outstanding;
	double last_progress;
};

struct counts {
	unsigned long sent, redirect, cookie, other, lost, bad_nonce, send_err;
};

static uint8_t g_ke[KE_LEN];
static uint64_t g_spi_base;
static uint64_t g_spi_next;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Ni as a function of SPIi: 4 copies of SPIi, each XORed with its index. */
static void nonce_of(uint64_t spi, uint8_t *out)
{
	for (int i = 0; i < NONCE_LEN / 8; i++)
		put64(out + 8 * i, spi ^ (0x0101010101010101ULL * (uint64_t)(i + 1)));
}

/* One transform substructure (RFC 7296 3.3.2); keylen 0 = no attribute. */
static size_t transform(uint8_t *p, int last, unsigned type, unsigned id, unsigned keylen)
{
	size_t len = keylen ? 12 : 8;

	p[0] = last ? 0 : 3;
	p[1] = 0;
	put16(p + 2, (unsigned)len);
	p[4] = (uint8_t)type;
	p[5] = 0;
	put16(p + 6, id);
	if (keylen) {
		put16(p + 8, 0x8000 | 14); /* TV, Key Length */
		put16(p + 10, keylen);
	}
	return len;
}

/* IKE_SA_INIT request with SPIi spi, an optional cookie, into buf. */
static size_t build_init(uint8_t *buf, uint64_t spi, const uint8_t *cookie, size_t cookie_len)
{
	uint8_t *p = buf + 28, *sa, *prop;
	size_t n;

	memset(buf, 0, 28);
	put64(buf, spi);
	buf[16] = cookie_len ? PL_NOTIFY : PL_SA;
	buf[17] = 0x20; /* IKEv2 */
	buf[18] = EX_IKE_SA_INIT;
	buf[19] = 0x08;   /* Initiator */
	if (cookie_len) { /* RFC 7296 2.6: N(COOKIE) first */
		p[0] = PL_SA;
		put16(p + 2, (unsigned)(8 + cookie_len));
		p[4] = 0;
		p[5] = 0;
		put16(p + 6, N_COOKIE);
		memcpy(p + 8, cookie, cookie_len);
		p += 8 + cookie_len;
	}
	sa = p;
	sa[0] = PL_KE;
	sa[1] = 0;
	prop = sa + 4;
	prop[0] = 0; /* last proposal */
	prop[1] = 0;
	prop[4] = 1; /* proposal 1 */
	prop[5] = 1; /* IKE */
	prop[6] = 0; /* SPI size */
	prop[7] = 3; /* transforms */
	n = 8;
	n += transform(prop + n, 0, 1, 20, 256); /* ENCR_AES_GCM_16, 256 */
	n += transform(prop + n, 0, 2, 5, 0);    /* PRF_HMAC_SHA2_256 */
	n += transform(prop + n, 1, 4, 31, 0);   /* Curve25519 */
	put16(prop + 2, (unsigned)n);
	put16(sa + 2, (unsigned)(4 + n));
	p = sa + 4 + n;
	p[0] = PL_NONCE; /* KE */
	p[1] = 0;
	put16(p + 2, 8 + KE_LEN);
	put16(p + 4, 31);
	p[6] = p[7] = 0;
	memcpy(p + 8, g_ke, KE_LEN);
	p += 8 + KE_LEN;
	p[0] = PL_NOTIFY; /* Ni */
	p[1] = 0;
	put16(p + 2, 4 + NONCE_LEN);
	nonce_of(spi, p + 4);
	p += 4 + NONCE_LEN;
	p[0] = 0; /* N(REDIRECT_SUPPORTED), RFC 5685 9.1 */
	p[1] = 0;
	put16(p + 2, 8);
	p[4] = 0;
	p[5] = 0;
	put16(p + 6, N_REDIRECT_SUPPORTED);
	p += 8;
	n = (size_t)(p - buf);
	put32(buf + 24, (uint32_t)n);
	return n;
}

static int send_new(struct sock *s, struct counts *c)
{
	uint8_t buf[MAX_MSG];
	size_t n = build_init(buf, g_spi_base + g_spi_next++, NULL, 0);

	if (send(s->fd, buf, n, 0) != (ssize_t)n) {
		c->send_err++;
		return -1;
	}
	c->sent++;
	s->outstanding++;
	return 0;
}

enum answer { A_NONE, A_REDIRECT, A_COOKIE, A_OTHER, A_BAD_NONCE };

/* Classify a response; for COOKIE, the cookie is copied out. */
static enum answer parse(const uint8_t *m, size_t len, uint64_t *spi, uint8_t *cookie,
                         size_t *cookie_len)
{
	unsigned next;
	size_t off = 28;

	if (len < 28 || m[17] != 0x20 || m[18] != EX_IKE_SA_INIT || !(m[19] & 0x20))
		return A_NONE;
	*spi = get64(m);
	if ((*spi & 0xffffffff00000000ULL) != (g_spi_base & 0xffffffff00000000ULL))
		return A_NONE;
	next = m[16];
	while (next && off + 4 <= len) {
		size_t plen = get16(m + off + 2);

		if (plen < 4 || off + plen > len)
			return A_OTHER;
		if (next == PL_NOTIFY && plen >= 8) {
			unsigned type = get16(m + off + 6), spisz = m[off + 5];
			const uint8_t *d = m + off + 8 + spisz;
			size_t dlen = plen - 8 - spisz;

			if (8 + spisz > plen)
				return A_OTHER;
			if (type == N_COOKIE && dlen >= 1 && dlen <= MAX_COOKIE) {
				memcpy(cookie, d, dlen);
				*cookie_len = dlen;
				return A_COOKIE;
			}
			if (type == N_REDIRECT) {
				uint8_t want[NONCE_LEN];

				/* GW Ident Type, Len, identity, then Nonce Data */
				if (dlen < 2 || (size_t)2 + d[1] > dlen)
					return A_BAD_NONCE;
				nonce_of(*spi, want);
				if (dlen - 2 - d[1] != NONCE_LEN ||
				    memcmp(d + 2 + d[1], want, NONCE_LEN))
					return A_BAD_NONCE;
				return A_REDIRECT;
			}
			if (type == N_INVALID_KE)
				return A_OTHER;
		}
		next = m[off];
		off += plen;
	}
	return A_OTHER;
}

static void usage(void)
{
	fprintf(stderr, "usage: ike_init_flood -d DST -s FIRST_SRC [-a NADDR] [-k SOCKS] "
	                "[-w WINDOW] [-t SECONDS] [-n MAX_REQUESTS] [-p PORT]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *dst = NULL, *src = NULL;
	unsigned naddr = 1, socks = 16, window = 4, port = 500;
	double secs = 5;
	unsigned long max_req = 0;
	struct counts c = {0};
	struct sock *s;
	size_t ns = 0;
	int opt, ep;
	struct in_addr a0;
	struct sockaddr_in to = {.sin_family = AF_INET};
	double t0, tend, last_check;

	while ((opt = getopt(argc, argv, "d:s:a:k:w:t:n:p:")) != -1) {
		switch (opt) {
		case 'd':
			dst = optarg;
			break;
		case 's':
			src = optarg;
			break;
		case 'a':
			naddr = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'k':
			socks = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'w':
			window = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 't':
			secs = strtod(optarg, NULL);
			break;
		case 'n':
			max_req = strtoul(optarg, NULL, 10);
			break;
		case 'p':
			port = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (!dst || !src || !naddr || !socks || !window || secs <= 0 ||
	    (size_t)naddr * socks > MAX_SOCKS || inet_pton(AF_INET, dst, &to.sin_addr) != 1 ||
	    inet_pton(AF_INET, src, &a0) != 1 || port == 0 || port > 65535)
		usage();
	to.sin_port = htons((uint16_t)port);
	if (getrandom(g_ke, sizeof(g_ke), 0) != sizeof(g_ke) ||
	    getrandom(&g_spi_base, sizeof(g_spi_base), 0) != sizeof(g_spi_base)) {
		perror("getrandom");
		return 1;
	}
	g_spi_base = (g_spi_base | 0x8000000000000000ULL) & 0xffffffff00000000ULL;
	g_spi_next = 1;

	s = calloc((size_t)naddr * socks, sizeof(*s));
	ep = epoll_create1(0);
	if (!s || ep < 0) {
		perror("setup");
		return 1;
	}
	for (unsigned i = 0; i < naddr; i++) {
		struct sockaddr_in from = {.sin_family = AF_INET};

		from.sin_addr.s_addr = htonl(ntohl(a0.s_addr) + i);
		for (unsigned k = 0; k < socks; k++) {
			struct epoll_event ev = {.events = EPOLLIN};
			int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

			if (fd < 0 || bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0 ||
			    connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
				fprintf(stderr, "socket from %s: %s\n", inet_ntoa(from.sin_addr),
				        strerror(errno));
				return 1;
			}
			s[ns].fd = fd;
			ev.data.u64 = ns;
			if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
				perror("epoll_ctl");
				return 1;
			}
			ns++;
		}
	}

	t0 = last_check = now_s();
	tend = t0 + secs;
	for (size_t i = 0; i < ns; i++) {
		s[i].last_progress = t0;
		for (unsigned w = 0; w < window && (!max_req || c.sent < max_req); w++)
			(void)send_new(&s[i], &c);
	}
	for (;;) {
		struct epoll_event evs[256];
		double now = now_s();
		int n;

		/* after the end, only collect answers still in flight (0.5 s) */
		if (now >= tend + 0.5 || (max_req && c.sent >= max_req && !c.send_err &&
		                          c.redirect + c.other + c.lost + c.bad_nonce >= c.sent))
			break;
		if (now >= tend) {
			size_t left = 0;

			for (size_t i = 0; i < ns; i++)
				left += s[i].outstanding;
			if (!left)
				break;
		}
		n = epoll_wait(ep, evs, 256, 20);
		now = now_s();
		for (int e = 0; e < n; e++) {
			struct sock *k = &s[evs[e].data.u64];
			uint8_t m[MAX_MSG], cookie[MAX_COOKIE];
			ssize_t len;

			while ((len = recv(k->fd, m, sizeof(m), 0)) > 0) {
				uint64_t spi = 0;
				size_t clen = 0;
				enum answer a = parse(m, (size_t)len, &spi, cookie, &clen);

				if (a == A_NONE)
					continue;
				k->last_progress = now;
				if (a == A_COOKIE) {
					uint8_t buf[MAX_MSG];
					size_t bl = build_init(buf, spi, cookie, clen);

					c.cookie++;
					if (send(k->fd, buf, bl, 0) != (ssize_t)bl)
						c.send_err++;
					continue;
				}
				if (a == A_REDIRECT)
					c.redirect++;
				else if (a == A_BAD_NONCE)
					c.bad_nonce++;
				else
					c.other++;
				if (k->outstanding)
					k->outstanding--;
				if (now < tend && (!max_req || c.sent < max_req))
					(void)send_new(k, &c);
			}
		}
		if (now - last_check >= 0.05) { /* requests without answer for 1 s: lost */
			last_check = now;
			for (size_t i = 0; i < ns; i++) {
				if (!s[i].outstanding || now - s[i].last_progress < 1.0)
					continue;
				c.lost += s[i].outstanding;
				s[i].outstanding = 0;
				s[i].last_progress = now;
				for (unsigned w = 0;
				     now < tend && w < window && (!max_req || c.sent < max_req);
				     w++)
					(void)send_new(&s[i], &c);
			}
		}
	}
	{
		double el = now_s() - t0;

		if (el > secs) /* the rate is over the sending time */
			el = secs;

		for (size_t i = 0; i < ns; i++) {
			c.lost += s[i].outstanding;
			close(s[i].fd);
		}
		printf("sent %lu redirect %lu cookie %lu other %lu lost %lu bad_nonce %lu "
		       "send_err %lu secs %.3f rate %.0f\n",
		       c.sent, c.redirect, c.cookie, c.other, c.lost, c.bad_nonce, c.send_err, el,
		       (double)c.redirect / el);
	}
	free(s);
	close(ep);
	return 0;
}
