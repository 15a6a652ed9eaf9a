/*
 * The XFRM backend (src/dataplane/xfrm.c). Two halves:
 *
 * - Messages: every request is built into a buffer and parsed back with
 *   libmnl (names, key lengths, ICV/truncation bits, encapsulation ports,
 *   ESN replay state, lifetimes, selectors, templates, MIGRATE entries), and
 *   hand-built kernel events are parsed. These run everywhere.
 * - Kernel: in a private network namespace (unshare(CLONE_NEWNET), root
 *   only) the backend installs and removes policies, migrates them, reports
 *   an ACQUIRE from real traffic, and the parsers read real kernel answers
 *   (GETSA, EXPIRE of a larval SA). Tests that need ESP SAs skip, printing
 *   the probe's reason, when the kernel has no ESP (CONFIG_INET_ESP).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <libmnl/libmnl.h>
#include <linux/udp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/dp.h"
#include "dataplane/dp_hash.h"
#include "dataplane/dp_xfrm.h"
#include "dp_test_util.h"

#define REQID 42

static bool in_netns;       /* main() got a private network namespace */
static char netns_why[128]; /* why not */
static bool have_esp;       /* dp_probe succeeded there */
static char probe_why[160]; /* its reason */
static bool have_tun;       /* a TUN device t0 with 10.0.0.1/24 is up */

/* ---- helpers ---- */

static void ss4(struct sockaddr_storage *ss, const char *a, uint16_t port)
{
	struct sockaddr_in *s = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, a, &s->sin_addr), 1);
}

static void ss6(struct sockaddr_storage *ss, const char *a, uint16_t port)
{
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, a, &s->sin6_addr), 1);
}

static void ts(struct dp_ts *t, const char *s)
{
	assert_int_equal(dp_ts_parse(t, s), 0);
}

struct attrs {
	const struct nlattr *tb[XFRMA_MAX + 1];
};

static int attr_cb(const struct nlattr *a, void *data)
{
	struct attrs *at = data;

	assert_true(mnl_attr_get_type(a) <= XFRMA_MAX);
	assert_null(at->tb[mnl_attr_get_type(a)]); /* each attribute once */
	at->tb[mnl_attr_get_type(a)] = a;
	return MNL_CB_OK;
}

/* Index the attributes after a fixed header of `fixed` octets. */
static void parse(const struct nlmsghdr *nlh, size_t fixed, struct attrs *at)
{
	memset(at, 0, sizeof(*at));
	assert_true(mnl_nlmsg_get_payload_len(nlh) >= fixed);
	assert_int_equal(mnl_attr_parse(nlh, (unsigned)fixed, attr_cb, at), MNL_CB_OK);
}

static void v4(const void *xaddr, const char *want)
{
	char got[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, xaddr, got, sizeof(got));
	assert_string_equal(got, want);
}

static void v6(const void *xaddr, const char *want)
{
	char got[INET6_ADDRSTRLEN];

	inet_ntop(AF_INET6, xaddr, got, sizeof(got));
	assert_string_equal(got, want);
}

/* An inbound tunnel-mode SA 192.0.2.2:31000 -> 192.0.2.1:4500. */
static void sa_in(struct dp_sa *sa, const struct dpt_suite *s)
{
	dpt_sa(sa, s, DP_DIR_IN, 0xc0010001, false, 7);
	sa->reqid = REQID;
	ss4(&sa->src, "192.0.2.2", 31000);
	ss4(&sa->dst, "192.0.2.1", 4500);
}

static const struct dpt_suite *suite(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(dpt_suites); i++)
		if (!strcmp(dpt_suites[i].name, name))
			return &dpt_suites[i];
	fail_msg("no suite %s", name);
	return NULL;
}

/* ---- algorithm names ---- */

static void test_names(void **state)
{
	unsigned bits = 0;
	bool aead = false;

	assert_string_equal(dpx_encr_name(IKEV2_ENCR_AES_GCM_16, &bits, &aead),
	                    "rfc4106(gcm(aes))");
	assert_int_equal(bits, 128);
	assert_true(aead);
	assert_string_equal(dpx_encr_name(IKEV2_ENCR_AES_GCM_8, &bits, &aead), "rfc4106(gcm(aes))");
	assert_int_equal(bits, 64);
	assert_string_equal(dpx_encr_name(IKEV2_ENCR_CHACHA20_POLY1305, &bits, &aead),
	                    "rfc7539esp(chacha20,poly1305)");
	assert_int_equal(bits, 128);
	assert_string_equal(dpx_encr_name(IKEV2_ENCR_AES_CBC, &bits, &aead), "cbc(aes)");
	assert_false(aead);
	assert_null(dpx_encr_name(3 /* 3DES */, &bits, &aead));
	assert_string_equal(dpx_integ_name(IKEV2_AUTH_HMAC_SHA2_256_128, &bits), "hmac(sha256)");
	assert_int_equal(bits, 128);
	assert_string_equal(dpx_integ_name(IKEV2_AUTH_HMAC_SHA2_512_256, &bits), "hmac(sha512)");
	assert_int_equal(bits, 256);
	assert_string_equal(dpx_integ_name(IKEV2_AUTH_HMAC_SHA1_96, &bits), "hmac(sha1)");
	assert_int_equal(bits, 96);
	assert_null(dpx_integ_name(IKEV2_AUTH_HMAC_MD5_96, &bits));
}

/* ---- NEWSA ---- */

/* Check an algorithm attribute: name, key bits, the extra length, the key. */
static void check_alg(const struct nlattr *a, const char *name, size_t extra_len, uint32_t extra,
                      const uint8_t *key, size_t keylen)
{
	const uint8_t *p;
	uint32_t v;

	assert_non_null(a);
	assert_int_equal(mnl_attr_get_payload_len(a), 64 + 4 + extra_len + keylen);
	p = mnl_attr_get_payload(a);
	assert_string_equal((const char *)p, name);
	memcpy(&v, p + 64, 4);
	assert_int_equal(v, keylen * 8);
	if (extra_len) {
		memcpy(&v, p + 68, 4);
		assert_int_equal(v, extra);
	}
	assert_memory_equal(p + 68 + extra_len, key, keylen);
}

static void test_msg_sa_gcm_encap_esn(void **state)
{
	uint8_t buf[DPX_MSG_MAX] __attribute__((aligned(8)));
	struct xfrm_usersa_info info;
	struct xfrm_encap_tmpl enc;
	struct xfrm_replay_state_esn rs;
	struct nlmsghdr *nlh;
	struct attrs at;
	struct dp_sa sa;

	sa_in(&sa, suite("aes128gcm16"));
	sa.encap = true;
	sa.esn = true;
	sa.replay_window = 128;
	sa.life.soft_bytes = 900;
	sa.life.hard_bytes = 1000;
	sa.life.hard_secs = 3600;
	nlh = dpx_msg_sa(buf, sizeof(buf), XFRM_MSG_NEWSA, &sa);
	assert_non_null(nlh);
	assert_int_equal(nlh->nlmsg_type, XFRM_MSG_NEWSA);
	assert_true(nlh->nlmsg_flags & NLM_F_ACK);
	parse(nlh, sizeof(info), &at);
	memcpy(&info, mnl_nlmsg_get_payload(nlh), sizeof(info));
	assert_int_equal(ntohl(info.id.spi), 0xc0010001);
	assert_int_equal(info.id.proto, IPPROTO_ESP);
	v4(&info.id.daddr, "192.0.2.1");
	v4(&info.saddr, "192.0.2.2");
	assert_int_equal(info.family, AF_INET);
	assert_int_equal(info.reqid, REQID);
	assert_int_equal(info.mode, XFRM_MODE_TUNNEL);
	assert_int_equal(info.flags, XFRM_STATE_ESN | XFRM_STATE_AF_UNSPEC);
	assert_int_equal(info.replay_window, 0); /* the kernel wants it in the ESN attribute */
	assert_int_equal(info.lft.soft_byte_limit, 900);
	assert_int_equal(info.lft.hard_byte_limit, 1000);
	assert_true(info.lft.soft_packet_limit == XFRM_INF);
	assert_int_equal(info.lft.hard_add_expires_seconds, 3600);
	assert_int_equal(info.lft.soft_add_expires_seconds, 0);
	/* RFC 4106 8.1: 16 octets of key + 4 of salt = 160 bits; ICV 128 bits. */
	check_alg(at.tb[XFRMA_ALG_AEAD], "rfc4106(gcm(aes))", 4, 128, sa.encr_key, 20);
	assert_null(at.tb[XFRMA_ALG_CRYPT]);
	assert_null(at.tb[XFRMA_ALG_AUTH_TRUNC]);
	/* RFC 3948: ports as the SA sees them (inbound: the peer's NAT port is the source). */
	assert_non_null(at.tb[XFRMA_ENCAP]);
	assert_int_equal(mnl_attr_get_payload_len(at.tb[XFRMA_ENCAP]), sizeof(enc));
	memcpy(&enc, mnl_attr_get_payload(at.tb[XFRMA_ENCAP]), sizeof(enc));
	assert_int_equal(enc.encap_type, UDP_ENCAP_ESPINUDP);
	assert_int_equal(ntohs(enc.encap_sport), 31000);
	assert_int_equal(ntohs(enc.encap_dport), 4500);
	/* RFC 4303 2.2.1: ESN with a 128-packet window = four 32-bit words. */
	assert_non_null(at.tb[XFRMA_REPLAY_ESN_VAL]);
	assert_int_equal(mnl_attr_get_payload_len(at.tb[XFRMA_REPLAY_ESN_VAL]), sizeof(rs) + 16);
	memcpy(&rs, mnl_attr_get_payload(at.tb[XFRMA_REPLAY_ESN_VAL]), sizeof(rs));
	assert_int_equal(rs.bmp_len, 4);
	assert_int_equal(rs.replay_window, 128);
	assert_int_equal(rs.seq | rs.oseq | rs.seq_hi | rs.oseq_hi, 0);
}

static void test_msg_sa_cbc_hmac(void **state)
{
	uint8_t buf[DPX_MSG_MAX] __attribute__((aligned(8)));
	struct xfrm_usersa_info info;
	struct nlmsghdr *nlh;
	struct attrs at;
	struct dp_sa sa;

	dpt_sa(&sa, suite("aes256-sha512"), DP_DIR_OUT, 0x1234, false, 9);
	sa.mode = DP_MODE_TRANSPORT;
	sa.encap = false;
	ss6(&sa.src, "2001:db8::1", 0);
	ss6(&sa.dst, "2001:db8::2", 0);
	sa.life.hard_packets = 77;
	nlh = dpx_msg_sa(buf, sizeof(buf), XFRM_MSG_UPDSA, &sa);
	assert_non_null(nlh);
	assert_int_equal(nlh->nlmsg_type, XFRM_MSG_UPDSA);
	parse(nlh, sizeof(info), &at);
	memcpy(&info, mnl_nlmsg_get_payload(nlh), sizeof(info));
	assert_int_equal(info.family, AF_INET6);
	v6(&info.id.daddr, "2001:db8::2");
	v6(&info.saddr, "2001:db8::1");
	assert_int_equal(info.mode, XFRM_MODE_TRANSPORT);
	assert_int_equal(info.flags, 0);
	assert_int_equal(info.replay_window, 0); /* outbound without ESN */
	assert_int_equal(info.lft.hard_packet_limit, 77);
	assert_true(info.lft.hard_byte_limit == XFRM_INF);
	check_alg(at.tb[XFRMA_ALG_CRYPT], "cbc(aes)", 0, 0, sa.encr_key, 32);
	/* RFC 4868: HMAC-SHA-512 with a 64-octet key, truncated to 256 bits. */
	check_alg(at.tb[XFRMA_ALG_AUTH_TRUNC], "hmac(sha512)", 4, 256, sa.integ_key, 64);
	assert_null(at.tb[XFRMA_ALG_AEAD]);
	assert_null(at.tb[XFRMA_ENCAP]);
	assert_null(at.tb[XFRMA_REPLAY_ESN_VAL]);

	/* Inbound, 32-bit numbers, a 32-packet window: the legacy field. */
	sa_in(&sa, suite("aes128-sha256"));
	sa.encap = false;
	sa.replay_window = 32;
	nlh = dpx_msg_sa(buf, sizeof(buf), XFRM_MSG_NEWSA, &sa);
	assert_non_null(nlh);
	parse(nlh, sizeof(info), &at);
	memcpy(&info, mnl_nlmsg_get_payload(nlh), sizeof(info));
	assert_int_equal(info.replay_window, 32);
	assert_null(at.tb[XFRMA_REPLAY_ESN_VAL]);
	check_alg(at.tb[XFRMA_ALG_AUTH_TRUNC], "hmac(sha256)", 4, 128, sa.integ_key, 32);
	assert_null(at.tb[XFRMA_ENCAP]);
	/* The default window (64) exceeds the kernel's legacy 32-bit bitmap. */
	sa.replay_window = 0;
	nlh = dpx_msg_sa(buf, sizeof(buf), XFRM_MSG_NEWSA, &sa);
	assert_non_null(nlh);
	parse(nlh, sizeof(info), &at);
	memcpy(&info, mnl_nlmsg_get_payload(nlh), sizeof(info));
	assert_int_equal(info.replay_window, 0);
	assert_int_equal(mnl_attr_get_payload_len(at.tb[XFRMA_REPLAY_ESN_VAL]),
	                 sizeof(struct xfrm_replay_state_esn) + DP_REPLAY_DEFAULT / 8);
}

static void test_msg_sa_chacha_window(void **state)
{
	uint8_t buf[DPX_MSG_MAX] __attribute__((aligned(8)));
	struct xfrm_usersa_info info;
	struct xfrm_replay_state_esn rs;
	struct nlmsghdr *nlh;
	struct attrs at;
	struct dp_sa sa;

	sa_in(&sa, suite("chacha20poly1305"));
	sa.replay_window = DP_REPLAY_MAX;
	nlh = dpx_msg_sa(buf, sizeof(buf), XFRM_MSG_NEWSA, &sa);
	assert_non_null(nlh);
	parse(nlh, sizeof(info), &at);
	memcpy(&info, mnl_nlmsg_get_payload(nlh), sizeof(info));
	/* RFC 7634 2: 32 octets of key + 4 of salt. */
	check_alg(at.tb[XFRMA_ALG_AEAD], "rfc7539esp(chacha20,poly1305)", 4, 128, sa.encr_key, 36);
	/* A window beyond 32 packets needs the ESN structure even without ESN. */
	assert_int_equal(info.flags & XFRM_STATE_ESN, 0);
	assert_int_equal(info.replay_window, 0);
	memcpy(&rs, mnl_attr_get_payload(at.tb[XFRMA_REPLAY_ESN_VAL]), sizeof(rs));
	assert_int_equal(rs.bmp_len, DP_REPLAY_MAX / 32);
	assert_int_equal(rs.replay_window, DP_REPLAY_MAX);
	assert_int_equal(mnl_attr_get_payload_len(at.tb[XFRMA_REPLAY_ESN_VAL]),
	                 sizeof(rs) + DP_REPLAY_MAX / 8);
}

static void test_msg_sa_errors(void **state)
{
	uint8_t buf[DPX_MSG_MAX] __attribute__((aligned(8)));
	struct dp_sa sa, bad;

	sa_in(&sa, suite("aes128gcm16"));
	bad = sa;
	bad.encr = 3; /* 3DES: not offered */
	assert_null(dpx_msg_sa(buf, sizeof(buf), XFRM_MSG_NEWSA, &bad));
	assert_int_equal(errno, EOPNOTSUPP);
	bad = sa;
	bad.integ = IKEV2_AUTH_HMAC_SHA2_256_128; /* AEAD plus integrity */
	assert_null(dpx_msg_sa(buf, sizeof(buf), XFRM_MSG_NEWSA, &bad));
	assert_int_equal(errno, EINVAL);
	bad = sa;
	ss6(&bad.src, "2001:db8::1", 500); /* mixed families */
	assert_null(dpx_msg_sa(buf, sizeof(buf), XFRM_MSG_NEWSA, &bad));
	assert_int_equal(errno, EINVAL);
	bad = sa;
	bad.replay_window = DP_REPLAY_MAX + 1;
	assert_null(dpx_msg_sa(buf, sizeof(buf), XFRM_MSG_NEWSA, &bad));
	assert_int_equal(errno, EINVAL);
	sa_in(&bad, suite("aes128-sha256"));
	bad.integ = IKEV2_AUTH_NONE; /* CBC without integrity */
	assert_null(dpx_msg_sa(buf, sizeof(buf), XFRM_MSG_NEWSA, &bad));
	assert_int_equal(errno, EOPNOTSUPP);
	assert_null(dpx_msg_sa(buf, sizeof(buf) - 1, XFRM_MSG_NEWSA, &sa));
	assert_int_equal(errno, EMSGSIZE);
}

static void test_msg_sa_id(void **state)
{
	uint8_t buf[DPX_MSG_MAX] __attribute__((aligned(8)));
	struct xfrm_usersa_id id;
	struct sockaddr_storage dst;
	struct nlmsghdr *nlh;

	ss4(&dst, "198.51.100.7", 4500);
	nlh = dpx_msg_sa_id(buf, sizeof(buf), XFRM_MSG_DELSA, &dst, 0xdeadbeef);
	assert_non_null(nlh);
	assert_int_equal(nlh->nlmsg_type, XFRM_MSG_DELSA);
	assert_int_equal(mnl_nlmsg_get_payload_len(nlh), MNL_ALIGN(sizeof(id)));
	memcpy(&id, mnl_nlmsg_get_payload(nlh), sizeof(id));
	v4(&id.daddr, "198.51.100.7");
	assert_int_equal(ntohl(id.spi), 0xdeadbeef);
	assert_int_equal(id.family, AF_INET);
	assert_int_equal(id.proto, IPPROTO_ESP);
	dst.ss_family = AF_UNIX;
	assert_null(dpx_msg_sa_id(buf, sizeof(buf), XFRM_MSG_GETSA, &dst, 1));
}

/* ---- selectors ---- */

static void test_selector(void **state)
{
	struct xfrm_selector sel;
	struct dp_ts a, b;

	ts(&a, "10.0.0.0/24");
	ts(&b, "10.1.2.3");
	assert_int_equal(dpx_selector(&sel, &a, &b), 0);
	assert_int_equal(sel.family, AF_INET);
	v4(&sel.saddr, "10.0.0.0");
	v4(&sel.daddr, "10.1.2.3");
	assert_int_equal(sel.prefixlen_s, 24);
	assert_int_equal(sel.prefixlen_d, 32);
	assert_int_equal(sel.proto, 0);
	assert_int_equal(sel.sport_mask | sel.dport_mask, 0);

	/* TCP to port 443, from a 1024-aligned block of ports. */
	a.proto = b.proto = IPPROTO_TCP;
	a.port_lo = 1024;
	a.port_hi = 2047;
	b.port_lo = b.port_hi = 443;
	assert_int_equal(dpx_selector(&sel, &a, &b), 0);
	assert_int_equal(sel.proto, IPPROTO_TCP);
	assert_int_equal(ntohs(sel.sport), 1024);
	assert_int_equal(ntohs(sel.sport_mask), 0xfc00);
	assert_int_equal(ntohs(sel.dport), 443);
	assert_int_equal(ntohs(sel.dport_mask), 0xffff);
	a.port_hi = 2000; /* not a block */
	assert_int_equal(dpx_selector(&sel, &a, &b), -1);
	assert_int_equal(errno, EOPNOTSUPP);

	/* A range that is not one prefix. */
	ts(&a, "10.0.0.0/24");
	a.addr_hi[3] = 0x7e;
	ts(&b, "10.1.0.0/16");
	assert_int_equal(dpx_selector(&sel, &a, &b), -1);
	assert_int_equal(errno, EOPNOTSUPP);

	/* ICMP echo request (type 8, any code), RFC 7296 3.13.1. */
	ts(&a, "0.0.0.0/0");
	a.proto = b.proto = IPPROTO_ICMP;
	a.port_lo = 8 << 8;
	a.port_hi = 8 << 8 | 0xff;
	assert_int_equal(dpx_selector(&sel, &a, &b), 0);
	assert_int_equal(sel.prefixlen_s, 0);
	assert_int_equal(ntohs(sel.sport), 8);
	assert_int_equal(ntohs(sel.sport_mask), 0xffff);
	assert_int_equal(sel.dport_mask, 0);
	a.port_hi = a.port_lo = 3 << 8 | 4; /* type 3 code 4 */
	assert_int_equal(dpx_selector(&sel, &a, &b), 0);
	assert_int_equal(ntohs(sel.sport), 3);
	assert_int_equal(ntohs(sel.dport), 4);
	assert_int_equal(ntohs(sel.dport_mask), 0xffff);

	ts(&a, "2001:db8::/32");
	ts(&b, "2001:db8:1::5");
	assert_int_equal(dpx_selector(&sel, &a, &b), 0);
	assert_int_equal(sel.family, AF_INET6);
	assert_int_equal(sel.prefixlen_s, 32);
	assert_int_equal(sel.prefixlen_d, 128);
	ts(&b, "10.0.0.1");
	assert_int_equal(dpx_selector(&sel, &a, &b), -1); /* mixed families */
	assert_int_equal(errno, EINVAL);
}

/* ---- policies ---- */

static void policy(struct dp_policy *p, bool with_tmpl)
{
	memset(p, 0, sizeof(*p));
	p->reqid = REQID;
	p->priority = 952;
	ts(&p->ts_local, "10.0.0.0/24");
	ts(&p->ts_remote, "10.1.0.0/16");
	if (with_tmpl) {
		ss4(&p->tmpl_local, "192.0.2.1", 4500);
		ss4(&p->tmpl_remote, "192.0.2.2", 4500);
	}
}

static void ends(struct dpx_ends *e, const char *l, const char *r, uint16_t rport)
{
	memset(e, 0, sizeof(*e));
	e->mode = DP_MODE_TUNNEL;
	ss4(&e->local, l, 4500);
	ss4(&e->remote, r, rport);
}

static void check_policy_msg(uint8_t xdir, const char *src, const char *dst, const char *tsrc,
                             const char *tdst)
{
	uint8_t buf[DPX_MSG_MAX] __attribute__((aligned(8)));
	struct xfrm_userpolicy_info pi;
	struct xfrm_user_tmpl t;
	struct dp_policy p;
	struct dpx_ends e;
	struct nlmsghdr *nlh;
	struct attrs at;

	policy(&p, false);
	ends(&e, "192.0.2.1", "192.0.2.2", 4500);
	nlh = dpx_msg_policy(buf, sizeof(buf), XFRM_MSG_NEWPOLICY, &p, xdir, &e);
	assert_non_null(nlh);
	parse(nlh, sizeof(pi), &at);
	memcpy(&pi, mnl_nlmsg_get_payload(nlh), sizeof(pi));
	assert_int_equal(pi.dir, xdir);
	assert_int_equal(pi.priority, 952);
	assert_int_equal(pi.action, XFRM_POLICY_ALLOW);
	v4(&pi.sel.saddr, src);
	v4(&pi.sel.daddr, dst);
	assert_int_equal(mnl_attr_get_payload_len(at.tb[XFRMA_TMPL]), sizeof(t));
	memcpy(&t, mnl_attr_get_payload(at.tb[XFRMA_TMPL]), sizeof(t));
	assert_int_equal(t.reqid, REQID);
	assert_int_equal(t.id.proto, IPPROTO_ESP);
	assert_int_equal(t.mode, XFRM_MODE_TUNNEL);
	assert_int_equal(t.family, AF_INET);
	v4(&t.saddr, tsrc);
	v4(&t.id.daddr, tdst);
	assert_int_equal(t.id.spi, 0);

	nlh = dpx_msg_policy(buf, sizeof(buf), XFRM_MSG_DELPOLICY, &p, xdir, &e);
	assert_non_null(nlh);
	assert_int_equal(mnl_nlmsg_get_payload_len(nlh),
	                 MNL_ALIGN(sizeof(struct xfrm_userpolicy_id)));
}

static void test_msg_policy(void **state)
{
	uint8_t buf[DPX_MSG_MAX] __attribute__((aligned(8)));
	struct xfrm_user_tmpl t;
	struct dp_policy p;
	struct dpx_ends e;
	struct nlmsghdr *nlh;
	struct attrs at;

	check_policy_msg(XFRM_POLICY_OUT, "10.0.0.0", "10.1.0.0", "192.0.2.1", "192.0.2.2");
	check_policy_msg(XFRM_POLICY_IN, "10.1.0.0", "10.0.0.0", "192.0.2.2", "192.0.2.1");
	check_policy_msg(XFRM_POLICY_FWD, "10.1.0.0", "10.0.0.0", "192.0.2.2", "192.0.2.1");
	/* Transport mode: the template has no addresses. */
	policy(&p, false);
	ends(&e, "192.0.2.1", "192.0.2.2", 4500);
	e.mode = DP_MODE_TRANSPORT;
	nlh = dpx_msg_policy(buf, sizeof(buf), XFRM_MSG_NEWPOLICY, &p, XFRM_POLICY_OUT, &e);
	assert_non_null(nlh);
	parse(nlh, sizeof(struct xfrm_userpolicy_info), &at);
	memcpy(&t, mnl_attr_get_payload(at.tb[XFRMA_TMPL]), sizeof(t));
	assert_int_equal(t.mode, XFRM_MODE_TRANSPORT);
	v4(&t.id.daddr, "0.0.0.0");
	/* Tunnel mode with mixed outer families. */
	e.mode = DP_MODE_TUNNEL;
	ss6(&e.remote, "2001:db8::2", 4500);
	assert_null(dpx_msg_policy(buf, sizeof(buf), XFRM_MSG_NEWPOLICY, &p, XFRM_POLICY_OUT, &e));
	assert_int_equal(errno, EINVAL);
}

static void test_msg_migrate(void **state)
{
	uint8_t buf[DPX_MSG_MAX] __attribute__((aligned(8)));
	struct xfrm_userpolicy_id pid;
	struct xfrm_user_migrate m;
	struct xfrm_encap_tmpl enc;
	struct dp_policy p;
	struct dpx_ends from, to;
	struct nlmsghdr *nlh;
	struct attrs at;

	policy(&p, false);
	ends(&from, "192.0.2.1", "192.0.2.2", 4500);
	ends(&to, "198.51.100.1", "203.0.113.9", 62000); /* RFC 4555: new addresses, behind a NAT */
	to.encap = true;
	nlh = dpx_msg_migrate(buf, sizeof(buf), &p, XFRM_POLICY_IN, &from, &to);
	assert_non_null(nlh);
	assert_int_equal(nlh->nlmsg_type, XFRM_MSG_MIGRATE);
	parse(nlh, sizeof(pid), &at);
	memcpy(&pid, mnl_nlmsg_get_payload(nlh), sizeof(pid));
	assert_int_equal(pid.dir, XFRM_POLICY_IN);
	v4(&pid.sel.saddr, "10.1.0.0");
	assert_int_equal(mnl_attr_get_payload_len(at.tb[XFRMA_MIGRATE]), sizeof(m));
	memcpy(&m, mnl_attr_get_payload(at.tb[XFRMA_MIGRATE]), sizeof(m));
	v4(&m.old_saddr, "192.0.2.2"); /* inbound: from the peer */
	v4(&m.old_daddr, "192.0.2.1");
	v4(&m.new_saddr, "203.0.113.9");
	v4(&m.new_daddr, "198.51.100.1");
	assert_int_equal(m.reqid, REQID);
	assert_int_equal(m.proto, IPPROTO_ESP);
	assert_int_equal(m.mode, XFRM_MODE_TUNNEL);
	assert_int_equal(m.old_family, AF_INET);
	assert_int_equal(m.new_family, AF_INET);
	memcpy(&enc, mnl_attr_get_payload(at.tb[XFRMA_ENCAP]), sizeof(enc));
	assert_int_equal(ntohs(enc.encap_sport), 62000);
	assert_int_equal(ntohs(enc.encap_dport), 4500);

	nlh = dpx_msg_migrate(buf, sizeof(buf), &p, XFRM_POLICY_OUT, &from, &to);
	assert_non_null(nlh);
	parse(nlh, sizeof(pid), &at);
	memcpy(&m, mnl_attr_get_payload(at.tb[XFRMA_MIGRATE]), sizeof(m));
	v4(&m.old_saddr, "192.0.2.1");
	v4(&m.new_daddr, "203.0.113.9");
	memcpy(&enc, mnl_attr_get_payload(at.tb[XFRMA_ENCAP]), sizeof(enc));
	assert_int_equal(ntohs(enc.encap_sport), 4500);
	assert_int_equal(ntohs(enc.encap_dport), 62000);
	to.encap = false;
	nlh = dpx_msg_migrate(buf, sizeof(buf), &p, XFRM_POLICY_OUT, &from, &to);
	parse(nlh, sizeof(pid), &at);
	assert_null(at.tb[XFRMA_ENCAP]);
}

/* ---- parsing kernel messages ---- */

/* A kernel-style NEWSA answer or EXPIRE event. */
static struct nlmsghdr *kernel_sa(void *buf, uint16_t type, const struct xfrm_usersa_info *i,
                                  uint8_t hard, const struct xfrm_replay_state_esn *rs)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	if (type == XFRM_MSG_EXPIRE) {
		struct xfrm_user_expire *ex = mnl_nlmsg_put_extra_header(nlh, sizeof(*ex));

		ex->state = *i;
		ex->hard = hard;
	} else {
		memcpy(mnl_nlmsg_put_extra_header(nlh, sizeof(*i)), i, sizeof(*i));
	}
	if (rs)
		mnl_attr_put(nlh, XFRMA_REPLAY_ESN_VAL, sizeof(*rs), rs);
	return nlh;
}

static void test_parse_sa(void **state)
{
	uint8_t buf[DPX_MSG_MAX] __attribute__((aligned(8)));
	struct xfrm_replay_state_esn rs = {.oseq = 5, .oseq_hi = 1, .seq = 9, .replay_window = 64};
	struct xfrm_usersa_info i;
	struct dpx_sa_state st;
	struct nlmsghdr *nlh;

	memset(&i, 0, sizeof(i));
	i.family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, "192.0.2.1", &i.id.daddr), 1);
	i.id.spi = htonl(0xc0010001);
	i.reqid = REQID;
	i.curlft.bytes = 1000;
	i.curlft.packets = 10;
	i.curlft.use_time = 1700000000;
	i.stats.replay = 3;
	i.stats.integrity_failed = 4;
	i.lft.soft_byte_limit = 900;
	i.lft.hard_byte_limit = 2000;
	i.lft.soft_packet_limit = i.lft.hard_packet_limit = XFRM_INF;
	nlh = kernel_sa(buf, XFRM_MSG_NEWSA, &i, 0, &rs);
	assert_int_equal(dpx_parse_sa(nlh, &st), 0);
	assert_int_equal(st.family, AF_INET);
	v4(st.daddr, "192.0.2.1");
	assert_int_equal(st.spi, 0xc0010001);
	assert_int_equal(st.reqid, REQID);
	assert_int_equal(st.bytes, 1000);
	assert_int_equal(st.packets, 10);
	assert_int_equal(st.use_time, 1700000000);
	assert_int_equal(st.replay_drops, 3);
	assert_int_equal(st.auth_drops, 4);
	assert_int_equal(st.oseq, (1ull << 32) + 5);
	assert_int_equal(st.seq, 9);

	/* EXPIRE: soft, on bytes (RFC 4301 4.4.2.1). */
	nlh = kernel_sa(buf, XFRM_MSG_EXPIRE, &i, 0, NULL);
	assert_int_equal(dpx_parse_sa(nlh, &st), 0);
	assert_false(st.hard);
	assert_int_equal(st.why, DP_EXPIRE_BYTES);
	nlh = kernel_sa(buf, XFRM_MSG_EXPIRE, &i, 1, NULL);
	assert_int_equal(dpx_parse_sa(nlh, &st), 0);
	assert_true(st.hard);
	assert_int_equal(st.why, DP_EXPIRE_TIME); /* 1000 < the hard limit: time */
	i.lft.hard_packet_limit = 10;
	nlh = kernel_sa(buf, XFRM_MSG_EXPIRE, &i, 1, NULL);
	assert_int_equal(dpx_parse_sa(nlh, &st), 0);
	assert_int_equal(st.why, DP_EXPIRE_PACKETS);

	/* Truncated, wrong type, bad family. */
	nlh = kernel_sa(buf, XFRM_MSG_NEWSA, &i, 0, NULL);
	nlh->nlmsg_len = MNL_NLMSG_HDRLEN + 8;
	assert_int_equal(dpx_parse_sa(nlh, &st), -1);
	assert_int_equal(errno, EBADMSG);
	nlh = kernel_sa(buf, XFRM_MSG_DELSA, &i, 0, NULL);
	assert_int_equal(dpx_parse_sa(nlh, &st), -1);
	i.family = AF_UNIX;
	nlh = kernel_sa(buf, XFRM_MSG_NEWSA, &i, 0, NULL);
	assert_int_equal(dpx_parse_sa(nlh, &st), -1);
}

static struct nlmsghdr *kernel_acquire(void *buf, uint8_t proto, uint16_t sport, uint16_t dport,
                                       bool with_tmpl)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct xfrm_user_acquire *ua;
	struct xfrm_user_tmpl t = {.reqid = REQID, .id.proto = IPPROTO_ESP};

	nlh->nlmsg_type = XFRM_MSG_ACQUIRE;
	ua = mnl_nlmsg_put_extra_header(nlh, sizeof(*ua));
	ua->sel.family = AF_INET;
	ua->sel.proto = proto;
	inet_pton(AF_INET, "10.0.0.1", &ua->sel.saddr);
	inet_pton(AF_INET, "10.1.0.5", &ua->sel.daddr);
	ua->sel.prefixlen_s = ua->sel.prefixlen_d = 32;
	ua->sel.sport = htons(sport);
	ua->sel.dport = htons(dport);
	ua->sel.sport_mask = ua->sel.dport_mask = htons(0xffff);
	if (with_tmpl)
		mnl_attr_put(nlh, XFRMA_TMPL, sizeof(t), &t);
	return nlh;
}

static void test_parse_acquire(void **state)
{
	uint8_t buf[DPX_MSG_MAX] __attribute__((aligned(8)));
	struct dp_acquire a;
	struct dp_ts want;

	assert_int_equal(dpx_parse_acquire(kernel_acquire(buf, IPPROTO_UDP, 5353, 9, true), &a), 0);
	assert_int_equal(a.reqid, REQID);
	ts(&want, "10.0.0.1");
	want.proto = IPPROTO_UDP;
	want.port_lo = want.port_hi = 5353;
	assert_memory_equal(&a.src, &want, sizeof(want));
	ts(&want, "10.1.0.5");
	want.proto = IPPROTO_UDP;
	want.port_lo = want.port_hi = 9;
	assert_memory_equal(&a.dst, &want, sizeof(want));
	/* ICMP type 8 code 0: one "port" 0x0800 on the source side. */
	assert_int_equal(dpx_parse_acquire(kernel_acquire(buf, IPPROTO_ICMP, 8, 0, true), &a), 0);
	assert_int_equal(a.src.port_lo, 0x0800);
	assert_int_equal(a.src.port_hi, 0x0800);
	assert_int_equal(a.dst.port_hi, 0xffff);
	assert_int_equal(dpx_parse_acquire(kernel_acquire(buf, IPPROTO_UDP, 1, 2, false), &a), -1);
	assert_int_equal(errno, EBADMSG);
}

/* ---- in the kernel (private namespace) ---- */

struct kpol {
	struct xfrm_userpolicy_info pi;
	struct xfrm_user_tmpl t;
};

struct kdump {
	struct kpol p[16];
	size_t n;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kdump *d = data;
	struct attrs at;

	if (nlh->nlmsg_type != XFRM_MSG_NEWPOLICY || d->n == ARRAY_LEN(d->p))
		return MNL_CB_OK;
	parse(nlh, sizeof(struct xfrm_userpolicy_info), &at);
	memcpy(&d->p[d->n].pi, mnl_nlmsg_get_payload(nlh), sizeof(d->p[0].pi));
	if (at.tb[XFRMA_TMPL])
		memcpy(&d->p[d->n].t, mnl_attr_get_payload(at.tb[XFRMA_TMPL]), sizeof(d->p[0].t));
	d->n++;
	return MNL_CB_OK;
}

/* One request on a fresh socket of the test's own; the answer to cb. */
static int ask(struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	uint8_t buf[MNL_SOCKET_BUFFER_SIZE] __attribute__((aligned(8)));
	struct mnl_socket *nl = mnl_socket_open(NETLINK_XFRM);
	int rc;

	assert_non_null(nl);
	assert_int_equal(mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0);
	nlh->nlmsg_seq = 1;
	assert_true(mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) > 0);
	do {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));

		assert_true(n > 0);
		rc = mnl_cb_run(buf, (size_t)n, 1, mnl_socket_get_portid(nl), cb, data);
	} while (rc > MNL_CB_STOP);
	mnl_socket_close(nl);
	return rc;
}

static void dump_policies(struct kdump *d)
{
	uint8_t buf[256] __attribute__((aligned(8)));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	memset(d, 0, sizeof(*d));
	nlh->nlmsg_type = XFRM_MSG_GETPOLICY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	assert_int_equal(ask(nlh, dump_cb, d), MNL_CB_STOP);
}

static const struct kpol *find_dir(const struct kdump *d, uint8_t dir)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->p[i].pi.dir == dir)
			return &d->p[i];
	return NULL;
}

/* The policy of a direction whose destination selector has plen bits. */
static const struct kpol *find_dir_plen(const struct kdump *d, uint8_t dir, uint8_t plen_d)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->p[i].pi.dir == dir && d->p[i].pi.sel.prefixlen_d == plen_d)
			return &d->p[i];
	return NULL;
}

struct env {
	struct event_base *base;
	struct dp *dp;
	int acquires;
	struct dp_acquire last;
};

static void ev_acquire(void *ctx, const struct dp_acquire *a)
{
	struct env *e = ctx;

	e->acquires++;
	e->last = *a;
	event_base_loopbreak(e->base);
}

static void ev_log(void *ctx, enum dp_log_level level, const char *msg)
{
	print_message("dp log %d: %s\n", (int)level, msg);
}

static int kernel_setup(void **state)
{
	static const struct dp_events ev = {.acquire = ev_acquire, .log = ev_log};
	struct dp_options o = {.skip_probe = true};
	struct env *e;

	if (!in_netns)
		return 0; /* the tests skip */
	e = calloc(1, sizeof(*e));
	assert_non_null(e);
	e->base = event_base_new();
	assert_non_null(e->base);
	e->dp = dp_new_opts(DP_BACKEND_XFRM, e->base, &ev, e, &o);
	assert_non_null(e->dp);
	*state = e;
	return 0;
}

static int kernel_teardown(void **state)
{
	struct env *e = *state;
	struct kdump d;

	if (!e)
		return 0;
	dp_free(e->dp);
	event_base_free(e->base);
	free(e);
	*state = NULL;
	dump_policies(&d); /* dp_free removed everything it installed */
	assert_int_equal(d.n, 0);
	return 0;
}

#define NEED_NETNS()                                                                               \
	do {                                                                                       \
		if (!in_netns) {                                                                   \
			print_message("skipped: %s\n", netns_why);                                 \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

static void test_kernel_probe(void **state)
{
	struct event_base *base;
	struct dp *dp;
	char why[160];
	int err;

	NEED_NETNS();
	print_message("xfrm probe: %s\n", probe_why);
	base = event_base_new();
	dp = dp_new(DP_BACKEND_XFRM, base, NULL, NULL);
	err = errno;
	if (dp_probe(DP_BACKEND_XFRM, why, sizeof(why)) < 0) {
		/* What riked prints at start-up before it exits. */
		assert_non_null(strstr(why, "ESP"));
		assert_null(dp);
		assert_int_equal(err, EOPNOTSUPP);
	} else {
		assert_non_null(dp);
		assert_int_equal(dp_features(dp), DP_FEAT_UDP_ENCAP_SOCKOPT);
	}
	dp_free(dp);
	event_base_free(base);
}

static void test_kernel_policies(void **state)
{
	struct env *e = *state;
	struct dp_policy p, q;
	const struct kpol *k;
	struct kdump d;

	NEED_NETNS();
	policy(&p, true);
	assert_int_equal(dp_policy_add(e->dp, &p), 0);
	dump_policies(&d);
	assert_int_equal(d.n, 3); /* out, in, fwd (RFC 4301 5.2) */
	k = find_dir(&d, XFRM_POLICY_OUT);
	assert_non_null(k);
	v4(&k->pi.sel.saddr, "10.0.0.0");
	assert_int_equal(k->pi.sel.prefixlen_s, 24);
	v4(&k->pi.sel.daddr, "10.1.0.0");
	assert_int_equal(k->pi.sel.prefixlen_d, 16);
	assert_int_equal(k->pi.priority, 952);
	assert_int_equal(k->t.reqid, REQID);
	v4(&k->t.saddr, "192.0.2.1");
	v4(&k->t.id.daddr, "192.0.2.2");
	k = find_dir(&d, XFRM_POLICY_FWD);
	assert_non_null(k);
	v4(&k->pi.sel.saddr, "10.1.0.0");
	v4(&k->t.id.daddr, "192.0.2.1");
	assert_non_null(find_dir(&d, XFRM_POLICY_IN));

	assert_int_equal(dp_policy_add(e->dp, &p), -1);
	assert_int_equal(errno, EEXIST);
	/* Without template addresses and without SAs of its reqid. */
	policy(&q, false);
	q.reqid = REQID + 1;
	assert_int_equal(dp_policy_add(e->dp, &q), -1);
	assert_int_equal(errno, ENOENT);
	/* A selector XFRM cannot express: nothing is left behind. */
	policy(&q, true);
	q.ts_remote.addr_hi[3] = 0x7e;
	assert_int_equal(dp_policy_add(e->dp, &q), -1);
	assert_int_equal(errno, EOPNOTSUPP);
	/* Transport mode: out and in only. */
	policy(&q, true);
	q.reqid = REQID + 2;
	q.tmpl_mode = DP_MODE_TRANSPORT;
	ts(&q.ts_local, "192.0.2.1");
	ts(&q.ts_remote, "192.0.2.2");
	assert_int_equal(dp_policy_add(e->dp, &q), 0);
	dump_policies(&d);
	assert_int_equal(d.n, 5);

	/* The same selectors under another reqid (RFC 5685 6 make-before-break):
	 * refused by add, handed over by update (XFRM_MSG_UPDPOLICY) in place. */
	struct dp_policy r;
	policy(&r, true);
	r.reqid = REQID + 3;
	ss4(&r.tmpl_remote, "192.0.2.3", 4500);
	assert_int_equal(dp_policy_add(e->dp, &r), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(dp_policy_update(e->dp, &r), 0);
	dump_policies(&d);
	assert_int_equal(d.n, 5);
	k = find_dir_plen(&d, XFRM_POLICY_OUT, 16); /* 10.0.0.0/24 -> 10.1.0.0/16 */
	assert_non_null(k);
	assert_int_equal(k->t.reqid, REQID + 3);
	v4(&k->t.id.daddr, "192.0.2.3");
	k = find_dir_plen(&d, XFRM_POLICY_IN, 24);
	assert_non_null(k);
	assert_int_equal(k->t.reqid, REQID + 3);
	assert_non_null(find_dir_plen(&d, XFRM_POLICY_FWD, 24));
	/* p's reqid no longer names it; back to p. */
	assert_int_equal(dp_policy_del(e->dp, &p), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(dp_policy_update(e->dp, &p), 0);
	r.ts_remote.addr_hi[2] = 0x7f; /* other selectors */
	assert_int_equal(dp_policy_update(e->dp, &r), -1);
	assert_int_equal(errno, ENOENT);

	assert_int_equal(dp_policy_del(e->dp, &p), 0);
	dump_policies(&d);
	assert_int_equal(d.n, 2);
	assert_int_equal(dp_policy_del(e->dp, &p), -1);
	assert_int_equal(errno, ENOENT);
	/* q stays: kernel_teardown checks that dp_free removes it. */
}

/* RFC 4555 3.5: the policy's template follows the new addresses. */
static void test_kernel_migrate(void **state)
{
	struct env *e = *state;
	struct sockaddr_storage l, r;
	struct dp_policy p;
	const struct kpol *k;
	struct kdump d;

	NEED_NETNS();
	policy(&p, true);
	assert_int_equal(dp_policy_add(e->dp, &p), 0);
	ss4(&l, "198.51.100.1", 4500);
	ss4(&r, "203.0.113.9", 4500);
	assert_int_equal(dp_sa_migrate(e->dp, REQID + 9, &l, &r), -1);
	assert_int_equal(errno, ENOENT);
	if (dp_sa_migrate(e->dp, REQID, &l, &r) < 0) {
		assert_int_equal(errno, ENOPROTOOPT);
		print_message("skipped: kernel without CONFIG_XFRM_MIGRATE\n");
		skip();
	}
	dump_policies(&d);
	assert_int_equal(d.n, 3);
	k = find_dir(&d, XFRM_POLICY_OUT);
	v4(&k->t.saddr, "198.51.100.1");
	v4(&k->t.id.daddr, "203.0.113.9");
	k = find_dir(&d, XFRM_POLICY_IN);
	v4(&k->t.saddr, "203.0.113.9");
	v4(&k->t.id.daddr, "198.51.100.1");
	/* And back: the backend remembered where the templates are now. */
	ss4(&l, "192.0.2.1", 4500);
	ss4(&r, "192.0.2.2", 4500);
	assert_int_equal(dp_sa_migrate(e->dp, REQID, &l, &r), 0);
	dump_policies(&d);
	v4(&find_dir(&d, XFRM_POLICY_FWD)->t.saddr, "192.0.2.2");
	assert_int_equal(dp_policy_del(e->dp, &p), 0);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* RFC 4301 5.1.1: traffic matching a policy without an SA raises an ACQUIRE. */
static void test_kernel_acquire(void **state)
{
	struct env *e = *state;
	struct timeval tv = {.tv_sec = 3};
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
	struct event *timer;
	struct dp_policy p;
	int fd;

	NEED_NETNS();
	if (!have_tun) {
		print_message("skipped: no TUN device to route 10.1.0.0/16 through\n");
		skip();
	}
	policy(&p, true);
	ts(&p.ts_local, "10.0.0.1");
	assert_int_equal(dp_policy_add(e->dp, &p), 0);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	inet_pton(AF_INET, "10.1.0.5", &to.sin_addr);
	/* The kernel drops the packet (no SA yet) and tells us. */
	(void)sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to));
	close(fd);
	timer = evtimer_new(e->base, on_timeout, e->base);
	evtimer_add(timer, &tv);
	event_base_dispatch(e->base);
	event_free(timer);
	assert_int_equal(e->acquires, 1);
	assert_int_equal(e->last.reqid, REQID);
	v4(e->last.src.addr_lo, "10.0.0.1");
	v4(e->last.dst.addr_lo, "10.1.0.5");
	assert_int_equal(e->last.dst.proto, IPPROTO_UDP);
	assert_int_equal(e->last.dst.port_lo, 9);
	assert_int_equal(dp_policy_del(e->dp, &p), 0);
}

static int expire_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_type == XFRM_MSG_EXPIRE)
		assert_int_equal(dpx_parse_sa(nlh, data), 0);
	return MNL_CB_OK;
}

static int getsa_cb(const struct nlmsghdr *nlh, void *data)
{
	assert_int_equal(dpx_parse_sa(nlh, data), 0);
	return MNL_CB_OK;
}

/*
 * The parsers on real kernel output, without ESP: XFRM_MSG_ALLOCSPI makes
 * a larval SA that GETSA reports and that expires (hard) after
 * net.core.xfrm_acq_expires seconds.
 */
static void test_kernel_larval_sa(void **state)
{
	uint8_t buf[DPX_MSG_MAX] __attribute__((aligned(8)));
	struct sockaddr_storage dst;
	struct xfrm_userspi_info *u;
	struct dpx_sa_state st, ex;
	struct mnl_socket *mc;
	struct nlmsghdr *nlh;
	int grp = XFRMNLGRP_EXPIRE;
	FILE *f;

	NEED_NETNS();
	f = fopen("/proc/sys/net/core/xfrm_acq_expires", "w");
	assert_non_null(f);
	fprintf(f, "1\n");
	fclose(f);
	mc = mnl_socket_open(NETLINK_XFRM);
	assert_non_null(mc);
	assert_int_equal(mnl_socket_bind(mc, 0, MNL_SOCKET_AUTOPID), 0);
	assert_int_equal(mnl_socket_setsockopt(mc, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)), 0);

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = XFRM_MSG_ALLOCSPI;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	u = mnl_nlmsg_put_extra_header(nlh, sizeof(*u));
	u->info.family = AF_INET;
	u->info.id.proto = IPPROTO_ESP;
	u->info.reqid = REQID;
	u->info.mode = XFRM_MODE_TUNNEL;
	inet_pton(AF_INET, "192.0.2.1", &u->info.id.daddr);
	inet_pton(AF_INET, "192.0.2.2", &u->info.saddr);
	u->min = u->max = 0xc0010001;
	assert_int_equal(ask(nlh, getsa_cb, &st), MNL_CB_STOP);
	assert_int_equal(st.spi, 0xc0010001);

	ss4(&dst, "192.0.2.1", 0);
	memset(&st, 0, sizeof(st));
	assert_non_null(dpx_msg_sa_id(buf, sizeof(buf), XFRM_MSG_GETSA, &dst, 0xc0010001));
	assert_int_equal(ask((struct nlmsghdr *)buf, getsa_cb, &st), MNL_CB_STOP);
	assert_int_equal(st.spi, 0xc0010001);
	assert_int_equal(st.reqid, REQID);
	assert_int_equal(st.mode, XFRM_MODE_TUNNEL);
	v4(st.daddr, "192.0.2.1");
	assert_int_equal(st.bytes + st.packets, 0);

	memset(&ex, 0, sizeof(ex));
	for (int i = 0; i < 5 && !ex.spi; i++) {
		uint8_t rx[MNL_SOCKET_BUFFER_SIZE] __attribute__((aligned(8)));
		struct timeval tv = {.tv_sec = 1};
		ssize_t n;

		setsockopt(mnl_socket_get_fd(mc), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		n = mnl_socket_recvfrom(mc, rx, sizeof(rx));
		if (n > 0)
			(void)mnl_cb_run(rx, (size_t)n, 0, 0, expire_cb, &ex);
	}
	mnl_socket_close(mc);
	assert_int_equal(ex.spi, 0xc0010001);
	assert_true(ex.hard);
	assert_int_equal(ex.why, DP_EXPIRE_TIME);
	assert_int_equal(ex.reqid, REQID);
}

/* RFC 3948: the daemon's NAT-T socket gets UDP_ENCAP_ESPINUDP. */
static void test_kernel_udp_encap(void **state)
{
	struct env *e = *state;
	int fd, v = 0;
	socklen_t len = sizeof(v);

	NEED_NETNS();
	assert_true(dp_features(e->dp) & DP_FEAT_UDP_ENCAP_SOCKOPT);
	assert_false(dp_features(e->dp) & (DP_FEAT_REQUIRES_ENCAP | DP_FEAT_NEEDS_UDP_INPUT));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(dp_set_udp_socket(e->dp, AF_INET, fd), 0);
	assert_int_equal(getsockopt(fd, IPPROTO_UDP, UDP_ENCAP, &v, &len), 0);
	assert_int_equal(v, UDP_ENCAP_ESPINUDP);
	close(fd);
	assert_int_equal(dp_ifindex(e->dp), 0);
}

/* Everything that needs kernel ESP. */
static void test_kernel_sas(void **state)
{
	struct env *e = *state;
	struct sockaddr_storage l, r;
	struct dp_sa_counters c;
	struct dp_policy p;
	struct dp_sa in, out;
	const struct kpol *k;
	struct kdump d;

	NEED_NETNS();
	if (!have_esp) {
		print_message("skipped: %s\n", probe_why);
		skip();
	}
	sa_in(&in, suite("aes128gcm16"));
	in.encap = in.esn = true;
	out = in;
	out.dir = DP_DIR_OUT;
	out.spi = 0xd0020002;
	out.src = in.dst;
	out.dst = in.src;
	assert_int_equal(dp_sa_add(e->dp, &in), 0);
	assert_int_equal(dp_sa_add(e->dp, &out), 0);
	assert_int_equal(dp_sa_add(e->dp, &out), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(dp_sa_counters(e->dp, REQID, DP_DIR_IN, in.spi, &c), 0);
	assert_int_equal(c.bytes + c.packets + c.seq + c.last_used, 0);
	/* The template comes from the SAs of the reqid. */
	policy(&p, false);
	assert_int_equal(dp_policy_add(e->dp, &p), 0);
	dump_policies(&d);
	k = find_dir(&d, XFRM_POLICY_OUT);
	v4(&k->t.id.daddr, "192.0.2.2");
	ss4(&l, "198.51.100.1", 4500);
	ss4(&r, "203.0.113.9", 40000);
	if (dp_sa_migrate(e->dp, REQID, &l, &r) == 0) {
		/* The SAs moved with the policy: they are found at the new address. */
		assert_int_equal(dp_sa_counters(e->dp, REQID, DP_DIR_OUT, out.spi, &c), 0);
		assert_int_equal(dp_sa_counters(e->dp, REQID, DP_DIR_IN, in.spi, &c), 0);
	}
	assert_int_equal(dp_policy_del(e->dp, &p), 0);
	assert_int_equal(dp_sa_del(e->dp, REQID, DP_DIR_IN, in.spi), 0);
	assert_int_equal(dp_sa_del(e->dp, REQID, DP_DIR_IN, in.spi), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(dp_sa_counters(e->dp, REQID, DP_DIR_IN, in.spi, &c), -1);
	/* out stays for dp_free. */
}

/* ---- set-up ---- */

/*
 * Issue 13: with 1, 1,000 and 3,000 policies installed (one /32 client
 * each, as a remote-access gateway has), handing one to another reqid
 * (make-before-break, XFRM_MSG_UPDPOLICY), deleting and adding it again
 * visit a bounded number of index nodes and selector comparisons
 * (dp_hash_steps) in the backend's tables, whatever the number installed.
 */
static void client_policy(struct dp_policy *p, uint32_t i, uint32_t reqid)
{
	uint32_t a = htonl(0x0a000001u + i);

	policy(p, true);
	p->reqid = reqid;
	assert_int_equal(dp_ts_from_prefix(&p->ts_remote, AF_INET, &a, 32), 0);
}

static void test_kernel_policy_steps(void **state)
{
	static const uint32_t sizes[] = {1, 1000, 3000};
	struct env *e = *state;
	struct dp_policy p;
	uint32_t have = 0;

	NEED_NETNS();
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint64_t max = 0;
		for (; have < sizes[k]; have++) {
			client_policy(&p, have, 1000 + have);
			assert_int_equal(dp_policy_add(e->dp, &p), 0);
		}
		for (uint32_t i = 0; i < have && i < 100; i++) {
			uint64_t b = dp_hash_steps;
			client_policy(&p, i, 900000 + i);
			assert_int_equal(dp_policy_update(e->dp, &p), 0);
			assert_int_equal(dp_policy_del(e->dp, &p), 0);
			client_policy(&p, i, 1000 + i);
			assert_int_equal(dp_policy_add(e->dp, &p), 0);
			max = dp_hash_steps - b > max ? dp_hash_steps - b : max;
		}
		print_message("  %u policies: update + del + add, at most %llu steps\n", have,
		              (unsigned long long)max);
		/* Chains vary with the hash's random seed (the worst of 100 ran
		 * 25-45 steps at 1,000 policies); a walk of the table would take
		 * at least as many steps as policies. */
		assert_true(max <= 80);
	}
}

/* A private network namespace, so nothing here touches the host's SPD. */
static void enter_netns(void)
{
	if (unshare(CLONE_NEWNET) < 0) {
		snprintf(netns_why, sizeof(netns_why),
		         "no private network namespace (%s); "
		         "the kernel tests need root",
		         strerror(errno));
		return;
	}
	in_netns = true;
	have_esp = dp_probe(DP_BACKEND_XFRM, probe_why, sizeof(probe_why)) == 0;
	/* A device to route traffic through (loopback has disable_xfrm). */
	have_tun = system("ip tuntap add dev t0 mode tun 2>/dev/null && "
	                  "ip addr add 10.0.0.1/24 dev t0 && ip link set t0 up && "
	                  "ip route add 10.1.0.0/16 dev t0") == 0;
}

int main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_names),           cmocka_unit_test(test_msg_sa_gcm_encap_esn),
	    cmocka_unit_test(test_msg_sa_cbc_hmac), cmocka_unit_test(test_msg_sa_chacha_window),
	    cmocka_unit_test(test_msg_sa_errors),   cmocka_unit_test(test_msg_sa_id),
	    cmocka_unit_test(test_selector),        cmocka_unit_test(test_msg_policy),
	    cmocka_unit_test(test_msg_migrate),     cmocka_unit_test(test_parse_sa),
	    cmocka_unit_test(test_parse_acquire),
	};
	const struct CMUnitTest kernel[] = {
	    cmocka_unit_test(test_kernel_probe),
	    cmocka_unit_test_setup_teardown(test_kernel_policies, kernel_setup, kernel_teardown),
	    cmocka_unit_test_setup_teardown(test_kernel_migrate, kernel_setup, kernel_teardown),
	    cmocka_unit_test_setup_teardown(test_kernel_acquire, kernel_setup, kernel_teardown),
	    cmocka_unit_test(test_kernel_larval_sa),
	    cmocka_unit_test_setup_teardown(test_kernel_udp_encap, kernel_setup, kernel_teardown),
	    cmocka_unit_test_setup_teardown(test_kernel_sas, kernel_setup, kernel_teardown),
	    cmocka_unit_test_setup_teardown(test_kernel_policy_steps, kernel_setup,
	                                    kernel_teardown),
	};
	int rc = cmocka_run_group_tests_name("xfrm messages", pure, NULL, NULL);

	enter_netns();
	return rc | cmocka_run_group_tests_name("xfrm in the kernel", kernel, NULL, NULL);
}
