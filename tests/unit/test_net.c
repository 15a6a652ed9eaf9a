/* riked's UDP layer (src/daemon/net.c) on loopback: the local address of a
 * datagram comes from pktinfo, replies leave from a chosen source address,
 * and the NAT-T port splits IKE (non-ESP marker, keepalive) from ESP
 * (RFC 3948 2.1-2.3). Ports are picked per run so parallel runs do not collide. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include "daemon/config.h"
#include "util/log.h"
#include "daemon/net.h"

struct seen {
	unsigned ike, esp;
	struct sockaddr_storage local, remote;
	uint8_t buf[64];
	size_t len, total; /* octets of every datagram seen */
};

static void on_ike(void *ctx, const struct sockaddr_storage *local,
                   const struct sockaddr_storage *remote, const uint8_t *buf, size_t len)
{
	struct seen *s = ctx;

	s->ike++;
	s->local = *local;
	s->remote = *remote;
	s->len = len < sizeof(s->buf) ? len : sizeof(s->buf);
	s->total += len;
	memcpy(s->buf, buf, s->len);
}

static void on_esp(void *ctx, uint8_t *buf, size_t len, const struct sockaddr_storage *local,
                   const struct sockaddr_storage *remote)
{
	struct seen *s = ctx;

	s->esp++;
	s->local = *local;
	s->remote = *remote;
	s->len = len < sizeof(s->buf) ? len : sizeof(s->buf);
	s->total += len;
	memcpy(s->buf, buf, s->len);
}

static const struct net_handlers handlers = {.ike = on_ike, .esp = on_esp};

struct fixture {
	struct event_base *base;
	struct cfg cfg;
	struct net *net;
	struct seen seen;
	uint16_t ike_port, natt_port;
	int client4; /* a plain UDP socket on 127.0.0.1 */
};

static void sin4(struct sockaddr_storage *ss, const char *a, uint16_t port)
{
	struct sockaddr_in *s = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, a, &s->sin_addr), 1);
}

static const char *host_of(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const void *p = ss->ss_family == AF_INET
	                    ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
	                    : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

	return inet_ntop(ss->ss_family, p, buf, (socklen_t)len);
}

/* Run the loop until the handler saw `want` more datagrams (or 2 s). */
static void pump(struct fixture *f, unsigned want)
{
	unsigned before = f->seen.ike + f->seen.esp;

	for (int i = 0; i < 200 && f->seen.ike + f->seen.esp < before + want; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(10000);
	}
	event_base_loop(f->base, EVLOOP_NONBLOCK);
}

static void client_send(int fd, const char *to, uint16_t port, const void *buf, size_t len)
{
	struct sockaddr_storage ss;

	sin4(&ss, to, port);
	assert_int_equal(
	    sendto(fd, buf, len, 0, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)),
	    (ssize_t)len);
}

static int setup_with(void **state, const char *local)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char text[1024], err[256];
	struct sockaddr_storage ss;

	assert_non_null(f);
	log_init("test_net", LOG_TARGET_STDERR, LOG_WARNING);
	f->ike_port = (uint16_t)(20000 + getpid() % 20000);
	f->natt_port = (uint16_t)(f->ike_port + 1);
	snprintf(text, sizeof(text),
	         "riked = { ike_port = %u; natt_port = %u; };\n"
	         "connections = ( { name = \"a\"; local = \"%s\"; remote = \"127.0.0.9\";\n"
	         "  local_id = \"a.example\"; remote_id = \"b.example\";\n"
	         "  auth = { method = \"psk\"; secret = \"0x00112233445566778899aabbccddeeff\"; }; "
	         "} );\n",
	         f->ike_port, f->natt_port, local);
	if (cfg_load_string(text, "t.conf", &f->cfg, err, sizeof(err)) < 0)
		fail_msg("config: %s", err);
	f->base = event_base_new();
	assert_non_null(f->base);
	f->net = net_new(f->base, &f->cfg, &handlers, &f->seen);
	assert_non_null(f->net);
	f->client4 = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(f->client4 >= 0);
	sin4(&ss, "127.0.0.1", 0);
	assert_int_equal(bind(f->client4, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)), 0);
	*state = f;
	return 0;
}

static int setup_specific(void **state)
{
	return setup_with(state, "127.0.0.1");
}

static int setup_wildcard(void **state)
{
	return setup_with(state, "%any");
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	net_free(f->net);
	event_base_free(f->base);
	cfg_free(&f->cfg);
	close(f->client4);
	free(f);
	return 0;
}

static uint16_t client_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	return net_port(&ss);
}

/* A datagram from `fd` arrives with its source; returns the source port. */
static void client_recv(int fd, const char *want_from, uint16_t want_port, const char *want)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	char buf[64], host[64];
	ssize_t n;

	assert_int_equal(poll(&p, 1, 2000), 1);
	n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
	assert_int_equal(n, (ssize_t)strlen(want));
	assert_memory_equal(buf, want, strlen(want));
	assert_string_equal(host_of(&from, host, sizeof(host)), want_from);
	assert_int_equal(net_port(&from), want_port);
}

static void test_ike_port_roundtrip(void **state)
{
	struct fixture *f = *state;
	char host[64];
	struct sockaddr_storage from;

	assert_int_equal(net_nsockets(f->net), 2);
	client_send(f->client4, "127.0.0.1", f->ike_port, "hello", 5);
	pump(f, 1);
	assert_int_equal(f->seen.ike, 1);
	assert_int_equal(f->seen.len, 5);
	assert_string_equal(host_of(&f->seen.local, host, sizeof(host)), "127.0.0.1");
	assert_int_equal(net_port(&f->seen.local), f->ike_port);
	assert_int_equal(net_port(&f->seen.remote), client_port(f->client4));
	/* The reply leaves from the port it was addressed to. */
	assert_int_equal(
	    net_send(f->net, &f->seen.local, &f->seen.remote, (const uint8_t *)"ok", 2), 0);
	client_recv(f->client4, "127.0.0.1", f->ike_port, "ok");
	/* An unspecified source means "the IKE port, any address". */
	memset(&from, 0, sizeof(from));
	assert_int_equal(net_send(f->net, &from, &f->seen.remote, (const uint8_t *)"any", 3), 0);
	client_recv(f->client4, "127.0.0.1", f->ike_port, "any");
	/* No socket for 127.0.0.5: refused, not sent from somewhere else. */
	sin4(&from, "127.0.0.5", f->ike_port);
	assert_int_equal(net_send(f->net, &from, &f->seen.remote, (const uint8_t *)"x", 1), -1);
}

/* RFC 3948 2.2, 2.3, 2.1: marker -> IKE, keepalive -> IKE, else ESP; runts dropped. */
static void test_natt_demux(void **state)
{
	struct fixture *f = *state;
	static const uint8_t ike[] = {0, 0, 0, 0, 0x11, 0x22};
	static const uint8_t ka[] = {0xff};
	static const uint8_t esp[] = {0, 0, 0x12, 0x34, 0, 0, 0, 1, 0xaa};
	static const uint8_t runt[] = {1, 2};

	client_send(f->client4, "127.0.0.1", f->natt_port, ike, sizeof(ike));
	pump(f, 1);
	assert_int_equal(f->seen.ike, 1);
	assert_int_equal(f->seen.len, sizeof(ike)); /* marker left for the engine */
	assert_memory_equal(f->seen.buf, ike, sizeof(ike));
	assert_int_equal(net_port(&f->seen.local), f->natt_port);
	client_send(f->client4, "127.0.0.1", f->natt_port, ka, sizeof(ka));
	pump(f, 1);
	assert_int_equal(f->seen.ike, 2);
	client_send(f->client4, "127.0.0.1", f->natt_port, esp, sizeof(esp));
	pump(f, 1);
	assert_int_equal(f->seen.esp, 1);
	assert_int_equal(f->seen.len, sizeof(esp));
	assert_int_equal(net_port(&f->seen.local), f->natt_port);
	client_send(f->client4, "127.0.0.1", f->natt_port, runt, sizeof(runt));
	pump(f, 1);
	assert_int_equal(f->seen.ike + f->seen.esp, 3);
	/* The IKE port never sends anything to the data plane. */
	client_send(f->client4, "127.0.0.1", f->ike_port, esp, sizeof(esp));
	pump(f, 1);
	assert_int_equal(f->seen.ike, 3);
	assert_int_equal(f->seen.esp, 1);
	assert_true(net_natt_fd(f->net, AF_INET) >= 0);
	assert_int_equal(net_natt_fd(f->net, AF_INET6), -1);
}

/* A UDP GSO train to the NAT-T port (which asks for UDP GRO, so it may
 * arrive in one read): every datagram is classified and handed on alone. */
static void test_natt_gro_train(void **state)
{
	struct fixture *f = *state;
	uint8_t train[6 * 40 + 17];
	uint16_t seg = 40;
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(uint16_t))];
	} ctl;
	struct sockaddr_storage to;
	struct iovec iov = {train, sizeof(train)};
	struct msghdr mh = {.msg_name = &to,
	                    .msg_namelen = sizeof(struct sockaddr_in),
	                    .msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = ctl.b,
	                    .msg_controllen = sizeof(ctl.b)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	for (size_t i = 0; i < sizeof(train); i++)
		train[i] = (uint8_t)(i % 40 == 0 ? 0x80 + i / 40 : i);
	memset(train + 2 * 40, 0, 4); /* datagram 2: non-ESP marker, IKE */
	sin4(&to, "127.0.0.1", f->natt_port);
	cm->cmsg_level = IPPROTO_UDP;
	cm->cmsg_type = 103; /* UDP_SEGMENT */
	cm->cmsg_len = CMSG_LEN(sizeof(seg));
	memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
	if (sendmsg(f->client4, &mh, 0) < 0) {
		print_message("no UDP GSO here (%s): skipped\n", strerror(errno));
		skip();
	}
	pump(f, 7);
	assert_int_equal(f->seen.esp, 6);
	assert_int_equal(f->seen.ike, 1);
	assert_int_equal(f->seen.total, sizeof(train));
	assert_int_equal(f->seen.len, 17); /* the shorter last one, last */
	assert_memory_equal(f->seen.buf, train + 6 * 40, 17);
}

/* On the wildcard socket pktinfo names the address used (127.0.0.2, not
 * the socket's 0.0.0.0), and a reply from it leaves from that address. */
static void test_wildcard_pktinfo(void **state)
{
	struct fixture *f = *state;
	char host[64];

	assert_true(net_nsockets(f->net) >= 2);
	client_send(f->client4, "127.0.0.2", f->ike_port, "ping", 4);
	pump(f, 1);
	assert_int_equal(f->seen.ike, 1);
	assert_string_equal(host_of(&f->seen.local, host, sizeof(host)), "127.0.0.2");
	assert_int_equal(net_port(&f->seen.local), f->ike_port);
	assert_int_equal(
	    net_send(f->net, &f->seen.local, &f->seen.remote, (const uint8_t *)"pong", 4), 0);
	client_recv(f->client4, "127.0.0.2", f->ike_port, "pong");
	/* The same on the NAT-T port, which the data plane also sends from. */
	client_send(f->client4, "127.0.0.3", f->natt_port, "\0\0\0\0x", 5);
	pump(f, 1);
	assert_int_equal(f->seen.ike, 2);
	assert_string_equal(host_of(&f->seen.local, host, sizeof(host)), "127.0.0.3");
	assert_int_equal(
	    net_send(f->net, &f->seen.local, &f->seen.remote, (const uint8_t *)"nat", 3), 0);
	client_recv(f->client4, "127.0.0.3", f->natt_port, "nat");
}

/* IPv6 loopback with IPV6_PKTINFO, when the machine has IPv6. */
static void test_wildcard_ipv6(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_port = htons(f->ike_port)};
	struct sockaddr_in6 me = {.sin6_family = AF_INET6};
	char host[64];
	int fd;

	if (net_natt_fd(f->net, AF_INET6) < 0)
		skip();
	fd = socket(AF_INET6, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	me.sin6_addr = in6addr_loopback;
	to.sin6_addr = in6addr_loopback;
	if (bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
		close(fd);
		skip();
	}
	assert_int_equal(sendto(fd, "v6", 2, 0, (struct sockaddr *)&to, sizeof(to)), 2);
	pump(f, 1);
	assert_int_equal(f->seen.ike, 1);
	assert_int_equal(f->seen.local.ss_family, AF_INET6);
	assert_string_equal(host_of(&f->seen.local, host, sizeof(host)), "::1");
	assert_int_equal(
	    net_send(f->net, &f->seen.local, &f->seen.remote, (const uint8_t *)"6v", 2), 0);
	client_recv(fd, "::1", f->ike_port, "6v");
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ike_port_roundtrip, setup_specific, teardown),
	    cmocka_unit_test_setup_teardown(test_natt_demux, setup_specific, teardown),
	    cmocka_unit_test_setup_teardown(test_natt_gro_train, setup_specific, teardown),
	    cmocka_unit_test_setup_teardown(test_wildcard_pktinfo, setup_wildcard, teardown),
	    cmocka_unit_test_setup_teardown(test_wildcard_ipv6, setup_wildcard, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
