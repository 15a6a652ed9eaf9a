/*
 * The Linux XFRM backend of dp.h: the kernel holds the SAD and the SPD
 * (RFC 4301 4.4) and does ESP (RFC 4303) and its UDP encapsulation
 * (RFC 3948). This file owns the netlink conversation: dp_sa becomes
 * XFRM_MSG_NEWSA with XFRMA_ALG_AEAD or XFRMA_ALG_CRYPT + AUTH_TRUNC,
 * XFRMA_ENCAP and XFRMA_REPLAY_ESN_VAL (RFC 4303 2.2.1, 3.4.3); dp_policy
 * becomes XFRM_MSG_NEWPOLICY in the out, in and (tunnel mode) fwd
 * directions with one template naming the reqid; MOBIKE (RFC 4555 3.5)
 * is XFRM_MSG_MIGRATE per policy; counters come from XFRM_MSG_GETSA; the
 * kernel's XFRM_MSG_ACQUIRE (RFC 4301 5.1.1) and XFRM_MSG_EXPIRE (RFC 4301
 * 4.4.2.1) events arrive on a second, multicast socket read from the event
 * loop. It remembers what it installed (a table of SAs and of policies) to
 * name kernel objects, map events back to (reqid, dir, spi) and remove
 * everything in dp_free. The kernel sees no unknown SPIs for us (they only
 * count in /proc/net/xfrm_stat), so unknown_spi is never raised, and
 * dp_stats stays zero: the kernel's counters are per SA (dp_sa_counters).
 *
 * Scale (issue 13): each dp_* call is a fixed number of request/answer
 * round trips (never a dump of the SAD or SPD), and the tables of what we
 * installed are dp_hash.h indexes (SAs by (reqid, dir, spi) and by SPI,
 * policies by selectors, both by reqid), so no call walks all SAs.
 */
#include "dataplane/dp_backend.h"
#include "dataplane/dp_hash.h"
#include "dataplane/dp_xfrm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <libmnl/libmnl.h>
#include <linux/udp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wire/ikev2.h"

#define DPX_PROBE_SPI 0x7269ffe5u /* "ri" + something unlikely to be in use */
#define DPX_NATT_PORT 4500        /* RFC 3948 2.1 */

/* ---- algorithms ---- */

const char *dpx_encr_name(uint16_t encr, unsigned *icv_bits, bool *aead)
{
	static const struct {
		uint16_t id;
		const char *name;
		unsigned icv; /* 0: not AEAD */
	} t[] = {
	    {IKEV2_ENCR_AES_GCM_16, "rfc4106(gcm(aes))", 128}, /* RFC 4106 */
	    {IKEV2_ENCR_AES_GCM_12, "rfc4106(gcm(aes))", 96},
	    {IKEV2_ENCR_AES_GCM_8, "rfc4106(gcm(aes))", 64},
	    {IKEV2_ENCR_AES_CCM_16, "rfc4309(ccm(aes))", 128}, /* RFC 4309 */
	    {IKEV2_ENCR_AES_CCM_12, "rfc4309(ccm(aes))", 96},
	    {IKEV2_ENCR_AES_CCM_8, "rfc4309(ccm(aes))", 64},
	    {IKEV2_ENCR_CHACHA20_POLY1305, "rfc7539esp(chacha20,poly1305)", 128}, /* RFC 7634 */
	    {IKEV2_ENCR_AES_CBC, "cbc(aes)", 0},                                  /* RFC 3602 */
	    {IKEV2_ENCR_AES_CTR, "rfc3686(ctr(aes))", 0},                         /* RFC 3686 */
	};

	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		if (t[i].id == encr) {
			*icv_bits = t[i].icv;
			*aead = t[i].icv != 0;
			return t[i].name;
		}
	}
	return NULL;
}

const char *dpx_integ_name(uint16_t integ, unsigned *trunc_bits)
{
	static const struct {
		uint16_t id;
		const char *name;
		unsigned trunc;
	} t[] = {
	    {IKEV2_AUTH_HMAC_SHA1_96, "hmac(sha1)", 96},         /* RFC 2404 */
	    {IKEV2_AUTH_HMAC_SHA2_256_128, "hmac(sha256)", 128}, /* RFC 4868 */
	    {IKEV2_AUTH_HMAC_SHA2_384_192, "hmac(sha384)", 192},
	    {IKEV2_AUTH_HMAC_SHA2_512_256, "hmac(sha512)", 256},
	    {IKEV2_AUTH_AES_XCBC_96, "xcbc(aes)", 96}, /* RFC 3566 */
	    {IKEV2_AUTH_AES_CMAC_96, "cmac(aes)", 96}, /* RFC 4494 */
	};

	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		if (t[i].id == integ) {
			*trunc_bits = t[i].trunc;
			return t[i].name;
		}
	}
	return NULL;
}

/* ---- addresses ---- */

static size_t fam_len(sa_family_t f)
{
	return f == AF_INET ? 4 : f == AF_INET6 ? 16 : 0;
}

/* The address of ss into a; -1 (EINVAL) unless IPv4 or IPv6. */
static int ss_to_xaddr(const struct sockaddr_storage *ss, xfrm_address_t *a)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET) {
		memcpy(a, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		memcpy(a, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
		return 0;
	}
	errno = EINVAL;
	return -1;
}

/* The port of ss in network order; 4500 (RFC 3948 2.1) when unset. */
static uint16_t ss_encap_port(const struct sockaddr_storage *ss)
{
	uint16_t p = ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
	                                      : ((const struct sockaddr_in6 *)ss)->sin6_port;

	return p ? p : htons(DPX_NATT_PORT);
}

static void encap_tmpl(struct xfrm_encap_tmpl *t, const struct sockaddr_storage *src,
                       const struct sockaddr_storage *dst)
{
	memset(t, 0, sizeof(*t));
	t->encap_type = UDP_ENCAP_ESPINUDP; /* RFC 3948 2.1 */
	t->encap_sport = ss_encap_port(src);
	t->encap_dport = ss_encap_port(dst);
}

/* ---- selectors (RFC 4301 4.4.1.1) ---- */

/* Prefix length of the range [lo, hi] if it is exactly one prefix, else -1. */
static int range_plen(const uint8_t *lo, const uint8_t *hi, size_t n)
{
	int plen = -1;

	for (size_t bit = 0; bit < n * 8; bit++) {
		unsigned m = 0x80u >> (bit % 8);
		bool l = lo[bit / 8] & m, h = hi[bit / 8] & m;

		if (plen < 0 && l != h)
			plen = (int)bit;
		if (plen >= 0 && (l || !h))
			return -1; /* host part must be all zeros in lo, all ones in hi */
	}
	return plen < 0 ? (int)(n * 8) : plen;
}

/* A port range as XFRM's value and mask (network order): any, one port,
 * or an aligned power-of-two block. */
static int port_mask(uint16_t lo, uint16_t hi, __be16 *port, __be16 *mask)
{
	uint32_t size = (uint32_t)hi - lo + 1;

	if (lo > hi || (size & (size - 1)) || lo % size) {
		errno = EOPNOTSUPP;
		return -1;
	}
	*port = htons(size == 65536 ? 0 : lo);
	*mask = htons((uint16_t)(size == 65536 ? 0 : ~(size - 1)));
	return 0;
}

static bool ports_any(const struct dp_ts *ts)
{
	return ts->port_lo == 0 && ts->port_hi == 0xffff;
}

/* ICMP: the kernel keeps the type in sport and the code in dport; IKEv2
 * carries them as one 16-bit "port", Type << 8 | Code (RFC 7296 3.13.1). */
static int icmp_sel(struct xfrm_selector *sel, const struct dp_ts *src, const struct dp_ts *dst)
{
	const struct dp_ts *t = ports_any(src) ? dst : src;
	uint8_t type = (uint8_t)(t->port_lo >> 8);

	if (ports_any(t))
		return 0;
	if (!ports_any(src) && !ports_any(dst))
		goto unsupported;
	if ((t->port_hi >> 8) != type)
		goto unsupported;
	sel->sport = htons(type);
	sel->sport_mask = htons(0xffff);
	if ((t->port_lo & 0xff) == 0 && (t->port_hi & 0xff) == 0xff)
		return 0; /* any code */
	if (t->port_lo != t->port_hi)
		goto unsupported;
	sel->dport = htons(t->port_lo & 0xff);
	sel->dport_mask = htons(0xffff);
	return 0;
unsupported:
	errno = EOPNOTSUPP;
	return -1;
}

int dpx_selector(struct xfrm_selector *sel, const struct dp_ts *src, const struct dp_ts *dst)
{
	size_t n = fam_len(src->family);
	int sp, dplen;

	memset(sel, 0, sizeof(*sel));
	if (!n || src->family != dst->family ||
	    (src->proto && dst->proto && src->proto != dst->proto)) {
		errno = EINVAL;
		return -1;
	}
	sp = range_plen(src->addr_lo, src->addr_hi, n);
	dplen = range_plen(dst->addr_lo, dst->addr_hi, n);
	if (sp < 0 || dplen < 0) {
		errno = EOPNOTSUPP; /* XFRM selectors are prefixes */
		return -1;
	}
	sel->family = src->family;
	memcpy(&sel->saddr, src->addr_lo, n);
	memcpy(&sel->daddr, dst->addr_lo, n);
	sel->prefixlen_s = (uint8_t)sp;
	sel->prefixlen_d = (uint8_t)dplen;
	sel->proto = src->proto ? src->proto : dst->proto;
	if (sel->proto == IPPROTO_ICMP || sel->proto == IPPROTO_ICMPV6)
		return icmp_sel(sel, src, dst);
	if (port_mask(src->port_lo, src->port_hi, &sel->sport, &sel->sport_mask) < 0 ||
	    port_mask(dst->port_lo, dst->port_hi, &sel->dport, &sel->dport_mask) < 0)
		return -1;
	if (!sel->proto && (sel->sport_mask || sel->dport_mask)) {
		errno = EINVAL; /* ports without a protocol */
		return -1;
	}
	return 0;
}

/* ---- building messages ---- */

static struct nlmsghdr *msg_start(void *buf, size_t len, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	if (len < DPX_MSG_MAX) {
		errno = EMSGSIZE;
		return NULL;
	}
	memset(buf, 0, DPX_MSG_MAX);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	return nlh;
}

static int put(struct nlmsghdr *nlh, uint16_t type, size_t len, const void *data)
{
	if (!mnl_attr_put_check(nlh, DPX_MSG_MAX, type, len, data)) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

/*
 * One algorithm attribute: struct xfrm_algo, xfrm_algo_auth or
 * xfrm_algo_aead are all a 64-octet name, the key length in bits, for the
 * last two one more 32-bit length (truncation or ICV bits), then the key.
 */
static int put_alg(struct nlmsghdr *nlh, uint16_t type, const char *name, unsigned extra_bits,
                   const uint8_t *key, size_t keylen)
{
	uint8_t tmp[64 + 8 + CRYPTO_MAX_KEY_LEN + DP_MAX_INTEG_KEY_LEN];
	uint32_t bits = (uint32_t)(keylen * 8), extra = extra_bits;
	size_t off = 64 + 4;
	int rc;

	memset(tmp, 0, sizeof(tmp));
	snprintf((char *)tmp, 64, "%s", name);
	memcpy(tmp + 64, &bits, 4);
	if (type != XFRMA_ALG_CRYPT) {
		memcpy(tmp + off, &extra, 4);
		off += 4;
	}
	memcpy(tmp + off, key, keylen);
	rc = put(nlh, type, off + keylen, tmp);
	explicit_bzero(tmp, sizeof(tmp));
	return rc;
}

static int put_algs(struct nlmsghdr *nlh, const struct dp_sa *sa)
{
	unsigned icv, trunc;
	bool aead;
	const char *e = dpx_encr_name(sa->encr, &icv, &aead), *a;

	if (!e || !sa->encr_key_len || sa->encr_key_len > sizeof(sa->encr_key)) {
		errno = e ? EINVAL : EOPNOTSUPP;
		return -1;
	}
	if (aead) {
		if (sa->integ != IKEV2_AUTH_NONE) {
			errno = EINVAL; /* RFC 4106 8.1: no separate integrity */
			return -1;
		}
		return put_alg(nlh, XFRMA_ALG_AEAD, e, icv, sa->encr_key, sa->encr_key_len);
	}
	a = dpx_integ_name(sa->integ, &trunc);
	if (!a || sa->integ_key_len > sizeof(sa->integ_key)) {
		errno = EOPNOTSUPP; /* ESP without integrity is not offered */
		return -1;
	}
	if (put_alg(nlh, XFRMA_ALG_CRYPT, e, 0, sa->encr_key, sa->encr_key_len) < 0)
		return -1;
	return put_alg(nlh, XFRMA_ALG_AUTH_TRUNC, a, trunc, sa->integ_key, sa->integ_key_len);
}

/* RFC 4303 3.4.3: windows beyond the legacy 32 bits, and ESN (2.2.1),
 * need struct xfrm_replay_state_esn with a bitmap of the window. */
static int put_replay(struct nlmsghdr *nlh, struct xfrm_usersa_info *info, const struct dp_sa *sa)
{
	uint32_t w = sa->replay_window ? sa->replay_window : DP_REPLAY_DEFAULT;
	uint8_t tmp[sizeof(struct xfrm_replay_state_esn) + DP_REPLAY_MAX / 8];
	struct xfrm_replay_state_esn rs;

	if (w > DP_REPLAY_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (!sa->esn && sa->dir == DP_DIR_OUT)
		return 0; /* outbound, 32-bit numbers: nothing to check */
	if (!sa->esn && w <= 32) {
		info->replay_window = (uint8_t)w;
		return 0;
	}
	memset(&rs, 0, sizeof(rs));
	rs.bmp_len = (w + 31) / 32;
	rs.replay_window = w;
	memset(tmp, 0, sizeof(tmp));
	memcpy(tmp, &rs, sizeof(rs));
	if (sa->esn)
		info->flags |= XFRM_STATE_ESN;
	return put(nlh, XFRMA_REPLAY_ESN_VAL, sizeof(rs) + rs.bmp_len * 4, tmp);
}

static uint64_t lim(uint64_t v)
{
	return v ? v : XFRM_INF;
}

static int sa_info(struct xfrm_usersa_info *info, const struct dp_sa *sa)
{
	if (sa->src.ss_family != sa->dst.ss_family || ss_to_xaddr(&sa->dst, &info->id.daddr) < 0 ||
	    ss_to_xaddr(&sa->src, &info->saddr) < 0) {
		errno = EINVAL;
		return -1;
	}
	info->id.spi = htonl(sa->spi);
	info->id.proto = IPPROTO_ESP;
	info->family = sa->dst.ss_family;
	info->reqid = sa->reqid;
	info->mode = sa->mode == DP_MODE_TUNNEL ? XFRM_MODE_TUNNEL : XFRM_MODE_TRANSPORT;
	/* Tunnel mode may carry either inner family; the policies select. */
	if (sa->mode == DP_MODE_TUNNEL)
		info->flags |= XFRM_STATE_AF_UNSPEC;
	info->lft.soft_byte_limit = lim(sa->life.soft_bytes);
	info->lft.hard_byte_limit = lim(sa->life.hard_bytes);
	info->lft.soft_packet_limit = lim(sa->life.soft_packets);
	info->lft.hard_packet_limit = lim(sa->life.hard_packets);
	info->lft.soft_add_expires_seconds = sa->life.soft_secs;
	info->lft.hard_add_expires_seconds = sa->life.hard_secs;
	return 0;
}

struct nlmsghdr *dpx_msg_sa(void *buf, size_t len, uint16_t type, const struct dp_sa *sa)
{
	struct nlmsghdr *nlh = msg_start(buf, len, type, 0);
	struct xfrm_usersa_info *info;
	struct xfrm_encap_tmpl enc;

	if (!nlh)
		return NULL;
	info = mnl_nlmsg_put_extra_header(nlh, sizeof(*info));
	if (sa_info(info, sa) < 0 || put_algs(nlh, sa) < 0 || put_replay(nlh, info, sa) < 0)
		return NULL;
	if (sa->encap) {
		encap_tmpl(&enc, &sa->src, &sa->dst);
		if (put(nlh, XFRMA_ENCAP, sizeof(enc), &enc) < 0)
			return NULL;
	}
	return nlh;
}

struct nlmsghdr *dpx_msg_sa_id(void *buf, size_t len, uint16_t type,
                               const struct sockaddr_storage *dst, uint32_t spi)
{
	struct nlmsghdr *nlh = msg_start(buf, len, type, 0);
	struct xfrm_usersa_id *id;

	if (!nlh)
		return NULL;
	id = mnl_nlmsg_put_extra_header(nlh, sizeof(*id));
	if (ss_to_xaddr(dst, &id->daddr) < 0)
		return NULL;
	id->spi = htonl(spi);
	id->family = dst->ss_family;
	id->proto = IPPROTO_ESP;
	return nlh;
}

/* The selector of one direction: out is local -> remote, in and fwd the reverse. */
static int dir_selector(struct xfrm_selector *sel, const struct dp_policy *p, uint8_t xdir)
{
	if (xdir == XFRM_POLICY_OUT)
		return dpx_selector(sel, &p->ts_local, &p->ts_remote);
	return dpx_selector(sel, &p->ts_remote, &p->ts_local);
}

/* RFC 4301 4.4.1.2: the template: ESP, the reqid, and in tunnel mode the outer addresses. */
static int tmpl_of(struct xfrm_user_tmpl *t, const struct dp_policy *p, uint8_t xdir,
                   const struct dpx_ends *e)
{
	bool out = xdir == XFRM_POLICY_OUT;

	memset(t, 0, sizeof(*t));
	t->id.proto = IPPROTO_ESP;
	t->reqid = p->reqid;
	t->aalgos = t->ealgos = t->calgos = ~0u;
	if (e->mode == DP_MODE_TRANSPORT) {
		t->mode = XFRM_MODE_TRANSPORT; /* addresses come from the packet */
		t->family = p->ts_local.family;
		return 0;
	}
	t->mode = XFRM_MODE_TUNNEL;
	t->family = e->remote.ss_family;
	if (e->local.ss_family != e->remote.ss_family ||
	    ss_to_xaddr(out ? &e->remote : &e->local, &t->id.daddr) < 0 ||
	    ss_to_xaddr(out ? &e->local : &e->remote, &t->saddr) < 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

struct nlmsghdr *dpx_msg_policy(void *buf, size_t len, uint16_t type, const struct dp_policy *p,
                                uint8_t xdir, const struct dpx_ends *e)
{
	struct nlmsghdr *nlh = msg_start(buf, len, type, 0);
	struct xfrm_userpolicy_info *pi;
	struct xfrm_userpolicy_id *pid;
	struct xfrm_user_tmpl t;

	if (!nlh)
		return NULL;
	if (type == XFRM_MSG_DELPOLICY) {
		pid = mnl_nlmsg_put_extra_header(nlh, sizeof(*pid));
		pid->dir = xdir;
		return dir_selector(&pid->sel, p, xdir) < 0 ? NULL : nlh;
	}
	pi = mnl_nlmsg_put_extra_header(nlh, sizeof(*pi));
	if (dir_selector(&pi->sel, p, xdir) < 0 || tmpl_of(&t, p, xdir, e) < 0)
		return NULL;
	pi->lft.soft_byte_limit = pi->lft.hard_byte_limit = XFRM_INF;
	pi->lft.soft_packet_limit = pi->lft.hard_packet_limit = XFRM_INF;
	pi->priority = p->priority;
	pi->dir = xdir;
	pi->action = XFRM_POLICY_ALLOW;
	pi->share = XFRM_SHARE_ANY;
	return put(nlh, XFRMA_TMPL, sizeof(t), &t) < 0 ? NULL : nlh;
}

/* One struct xfrm_user_migrate: the SAs of the direction and its template. */
static int migrate_entry(struct xfrm_user_migrate *m, uint32_t reqid, uint8_t xdir,
                         const struct dpx_ends *from, const struct dpx_ends *to)
{
	bool out = xdir == XFRM_POLICY_OUT;

	memset(m, 0, sizeof(*m));
	if (ss_to_xaddr(out ? &from->remote : &from->local, &m->old_daddr) < 0 ||
	    ss_to_xaddr(out ? &from->local : &from->remote, &m->old_saddr) < 0 ||
	    ss_to_xaddr(out ? &to->remote : &to->local, &m->new_daddr) < 0 ||
	    ss_to_xaddr(out ? &to->local : &to->remote, &m->new_saddr) < 0 ||
	    from->local.ss_family != from->remote.ss_family ||
	    to->local.ss_family != to->remote.ss_family)
		return -1;
	m->proto = IPPROTO_ESP;
	m->mode = from->mode == DP_MODE_TUNNEL ? XFRM_MODE_TUNNEL : XFRM_MODE_TRANSPORT;
	m->reqid = reqid;
	m->old_family = from->remote.ss_family;
	m->new_family = to->remote.ss_family;
	return 0;
}

struct nlmsghdr *dpx_msg_migrate(void *buf, size_t len, const struct dp_policy *p, uint8_t xdir,
                                 const struct dpx_ends *from, const struct dpx_ends *to)
{
	struct nlmsghdr *nlh = msg_start(buf, len, XFRM_MSG_MIGRATE, 0);
	struct xfrm_userpolicy_id *pid;
	struct xfrm_user_migrate m;
	struct xfrm_encap_tmpl enc;
	bool out = xdir == XFRM_POLICY_OUT;

	if (!nlh)
		return NULL;
	pid = mnl_nlmsg_put_extra_header(nlh, sizeof(*pid));
	pid->dir = xdir;
	if (dir_selector(&pid->sel, p, xdir) < 0)
		return NULL;
	if (migrate_entry(&m, p->reqid, xdir, from, to) < 0) {
		errno = EINVAL;
		return NULL;
	}
	if (put(nlh, XFRMA_MIGRATE, sizeof(m), &m) < 0)
		return NULL;
	if (!to->encap)
		return nlh;
	/* RFC 7296 2.23: the (new) NAT mapping's ports, as the SAs of this direction see them. */
	encap_tmpl(&enc, out ? &to->local : &to->remote, out ? &to->remote : &to->local);
	return put(nlh, XFRMA_ENCAP, sizeof(enc), &enc) < 0 ? NULL : nlh;
}

/* ---- parsing kernel messages ---- */

struct attrs {
	const struct nlattr *tb[XFRMA_MAX + 1];
};

static int attr_cb(const struct nlattr *a, void *data)
{
	struct attrs *at = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type <= XFRMA_MAX)
		at->tb[type] = a;
	return MNL_CB_OK;
}

/* Copy the fixed header of nlh (after checking its size) and index its attributes. */
static int msg_fixed(const struct nlmsghdr *nlh, void *fixed, size_t len, struct attrs *at)
{
	memset(at, 0, sizeof(*at));
	if (mnl_nlmsg_get_payload_len(nlh) < len) {
		errno = EBADMSG;
		return -1;
	}
	memcpy(fixed, mnl_nlmsg_get_payload(nlh), len);
	if (mnl_attr_parse(nlh, (unsigned)len, attr_cb, at) < 0) {
		errno = EBADMSG;
		return -1;
	}
	return 0;
}

/* Sequence numbers from XFRMA_REPLAY_ESN_VAL or the legacy XFRMA_REPLAY_VAL. */
static void parse_replay(const struct attrs *at, struct dpx_sa_state *out)
{
	struct xfrm_replay_state_esn esn;
	struct xfrm_replay_state rs;
	const struct nlattr *a = at->tb[XFRMA_REPLAY_ESN_VAL];

	if (a && mnl_attr_get_payload_len(a) >= sizeof(esn)) {
		memcpy(&esn, mnl_attr_get_payload(a), sizeof(esn));
		out->seq = (uint64_t)esn.seq_hi << 32 | esn.seq;
		out->oseq = (uint64_t)esn.oseq_hi << 32 | esn.oseq;
		return;
	}
	a = at->tb[XFRMA_REPLAY_VAL];
	if (a && mnl_attr_get_payload_len(a) >= sizeof(rs)) {
		memcpy(&rs, mnl_attr_get_payload(a), sizeof(rs));
		out->seq = rs.seq;
		out->oseq = rs.oseq;
	}
}

/* Which limit an expiry hit (RFC 4301 4.4.2.1): bytes, packets, else time. */
static enum dp_expire_reason expire_reason(const struct xfrm_usersa_info *i, bool hard)
{
	uint64_t b = hard ? i->lft.hard_byte_limit : i->lft.soft_byte_limit;
	uint64_t p = hard ? i->lft.hard_packet_limit : i->lft.soft_packet_limit;

	if (b != XFRM_INF && i->curlft.bytes >= b)
		return DP_EXPIRE_BYTES;
	if (p != XFRM_INF && i->curlft.packets >= p)
		return DP_EXPIRE_PACKETS;
	return DP_EXPIRE_TIME;
}

int dpx_parse_sa(const struct nlmsghdr *nlh, struct dpx_sa_state *out)
{
	struct xfrm_user_expire ex;
	struct xfrm_usersa_info *i = &ex.state;
	struct attrs at;

	memset(out, 0, sizeof(*out));
	memset(&ex, 0, sizeof(ex));
	if (nlh->nlmsg_type != XFRM_MSG_NEWSA && nlh->nlmsg_type != XFRM_MSG_EXPIRE) {
		errno = EBADMSG;
		return -1;
	}
	if (msg_fixed(nlh, &ex, nlh->nlmsg_type == XFRM_MSG_EXPIRE ? sizeof(ex) : sizeof(*i), &at))
		return -1;
	if (!fam_len(i->family)) {
		errno = EBADMSG;
		return -1;
	}
	out->family = i->family;
	memcpy(out->daddr, &i->id.daddr, fam_len(i->family));
	out->spi = ntohl(i->id.spi);
	out->reqid = i->reqid;
	out->mode = i->mode;
	out->bytes = i->curlft.bytes;
	out->packets = i->curlft.packets;
	out->use_time = i->curlft.use_time;
	out->replay_drops = i->stats.replay;
	out->auth_drops = i->stats.integrity_failed;
	parse_replay(&at, out);
	if (nlh->nlmsg_type == XFRM_MSG_EXPIRE) {
		out->hard = ex.hard;
		out->why = expire_reason(i, ex.hard);
	}
	return 0;
}

/* One end of the packet's own selector as a dp_ts (single address and port). */
static void sel_end(struct dp_ts *ts, const struct xfrm_selector *sel, bool src)
{
	size_t n = fam_len(sel->family);
	uint16_t port = ntohs(src ? sel->sport : sel->dport);
	bool any = !(src ? sel->sport_mask : sel->dport_mask);

	memset(ts, 0, sizeof(*ts));
	ts->family = sel->family;
	ts->proto = sel->proto;
	memcpy(ts->addr_lo, src ? &sel->saddr : &sel->daddr, n);
	memcpy(ts->addr_hi, ts->addr_lo, n);
	ts->port_lo = any ? 0 : port;
	ts->port_hi = any ? 0xffff : port;
}

int dpx_parse_acquire(const struct nlmsghdr *nlh, struct dp_acquire *out)
{
	struct xfrm_user_acquire ua;
	struct xfrm_user_tmpl t;
	struct attrs at;
	const struct nlattr *a;

	memset(out, 0, sizeof(*out));
	if (nlh->nlmsg_type != XFRM_MSG_ACQUIRE || msg_fixed(nlh, &ua, sizeof(ua), &at) < 0)
		goto bad;
	a = at.tb[XFRMA_TMPL];
	if (!a || mnl_attr_get_payload_len(a) < sizeof(t) || !fam_len(ua.sel.family))
		goto bad;
	memcpy(&t, mnl_attr_get_payload(a), sizeof(t));
	out->reqid = t.reqid;
	sel_end(&out->src, &ua.sel, true);
	sel_end(&out->dst, &ua.sel, false);
	if (ua.sel.proto == IPPROTO_ICMP || ua.sel.proto == IPPROTO_ICMPV6) {
		/* RFC 7296 3.13.1: Type << 8 | Code, on the source side. */
		uint16_t tc = (uint16_t)(ntohs(ua.sel.sport) << 8 | (ntohs(ua.sel.dport) & 0xff));

		out->src.port_lo = out->src.port_hi = tc;
		out->dst.port_lo = 0;
		out->dst.port_hi = 0xffff;
	}
	return 0;
bad:
	errno = EBADMSG;
	return -1;
}

/* ---- the backend: what we installed ---- */

struct dpx_reqid;

struct dpx_sa {
	struct dp_hnode h_id, h_spi;   /* x->sa_by_id (sa_key), x->sa_by_spi (spi) */
	struct dpx_sa *next, **prev;   /* x->sas */
	struct dpx_sa *rnext, **rprev; /* r->sas, newest first */
	struct dpx_reqid *r;
	uint32_t reqid, spi;
	enum dp_dir dir;
	enum dp_mode mode;
	bool encap;
	bool gone; /* hard-expired: the kernel already removed it */
	struct sockaddr_storage src, dst;
};

#define DPX_DIRS 3 /* out, in, fwd */

struct dpx_pol {
	struct dp_hnode h_sel;          /* x->pol_by_sel, key sel_key() */
	struct dpx_pol *next, **prev;   /* x->pols */
	struct dpx_pol *rnext, **rprev; /* r->pols */
	struct dpx_reqid *r;
	struct dp_policy p;
	struct dpx_ends ends;
	uint8_t dirs[DPX_DIRS];
	size_t ndirs;
	time_t last_acquire; /* CLOCK_MONOTONIC seconds */
};

struct dpx {
	struct dp *dp;         /* borrowed: our owner */
	struct mnl_socket *nl; /* requests */
	struct mnl_socket *mc; /* ACQUIRE and EXPIRE events */
	struct event *ev;
	uint32_t seq;
	struct dpx_sa *sas;   /* newest first */
	struct dpx_pol *pols; /* newest first */
	struct dp_htab sa_by_id, sa_by_spi, pol_by_sel, reqids;
};

/* What one reqid (a Child SA and its rekeyed successors) has installed. */
struct dpx_reqid {
	struct dp_hnode h; /* x->reqids, key reqid */
	uint32_t reqid;
	struct dpx_sa *sas;   /* newest first */
	struct dpx_pol *pols; /* newest first */
};

/* Intrusive doubly linked lists: push at the head, unlink in O(1). */
#define DPX_PUSH(head, e, nx, pv)                                                                  \
	do {                                                                                       \
		(e)->nx = (head);                                                                  \
		if ((e)->nx)                                                                       \
			(e)->nx->pv = &(e)->nx;                                                    \
		(e)->pv = &(head);                                                                 \
		(head) = (e);                                                                      \
	} while (0)
#define DPX_UNLINK(e, nx, pv)                                                                      \
	do {                                                                                       \
		*(e)->pv = (e)->nx;                                                                \
		if ((e)->nx)                                                                       \
			(e)->nx->pv = (e)->pv;                                                     \
	} while (0)

static struct dpx_reqid *reqid_find(struct dpx *x, uint32_t reqid)
{
	for (struct dp_hnode *n = dp_htab_first(&x->reqids, reqid); n; n = dp_htab_next(n, reqid)) {
		struct dpx_reqid *r = dp_hentry(n, struct dpx_reqid, h);
		if (r->reqid == reqid)
			return r;
	}
	return NULL;
}

static struct dpx_reqid *reqid_get(struct dpx *x, uint32_t reqid)
{
	struct dpx_reqid *r = reqid_find(x, reqid);

	if (r)
		return r;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->reqid = reqid;
	dp_htab_add(&x->reqids, &r->h, reqid);
	return r;
}

static void reqid_put(struct dpx *x, struct dpx_reqid *r)
{
	if (!r || r->sas || r->pols)
		return;
	dp_htab_del(&x->reqids, &r->h);
	free(r);
}

/* Send a request and wait for the kernel's answer; cb sees data replies. */
static int dpx_talk(struct dpx *x, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	uint8_t buf[MNL_SOCKET_BUFFER_SIZE] __attribute__((aligned(8)));
	uint32_t portid = mnl_socket_get_portid(x->nl);
	ssize_t n;
	int rc;

	nlh->nlmsg_seq = ++x->seq;
	if (mnl_socket_sendto(x->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	do {
		n = mnl_socket_recvfrom(x->nl, buf, sizeof(buf));
		if (n < 0)
			return -1;
		rc = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, portid, cb, data);
	} while (rc > MNL_CB_STOP);
	return rc < 0 ? -1 : 0;
}

/* dpx_talk for a message with keys in it: wipes buf whatever happens. */
static int dpx_talk_secret(struct dpx *x, struct nlmsghdr *nlh, void *buf, size_t len)
{
	int rc = nlh ? dpx_talk(x, nlh, NULL, NULL) : -1;
	int saved = errno;

	explicit_bzero(buf, len);
	errno = saved;
	return rc;
}

/* Counted in dp_hash_steps, so a walk of all policies shows in the tests. */
static bool ts_equal(const struct dp_ts *a, const struct dp_ts *b)
{
	size_t n = fam_len(a->family);

	dp_hash_steps++;
	return a->family == b->family && a->proto == b->proto && a->port_lo == b->port_lo &&
	       a->port_hi == b->port_hi && !memcmp(a->addr_lo, b->addr_lo, n) &&
	       !memcmp(a->addr_hi, b->addr_hi, n);
}

static uint64_t sa_key(uint32_t reqid, enum dp_dir dir, uint32_t spi)
{
	return (uint64_t)reqid << 33 ^ (uint64_t)(dir == DP_DIR_OUT) << 32 ^ spi;
}

static struct dpx_sa *sa_find(struct dpx *x, uint32_t reqid, enum dp_dir dir, uint32_t spi)
{
	uint64_t key = sa_key(reqid, dir, spi);

	for (struct dp_hnode *n = dp_htab_first(&x->sa_by_id, key); n; n = dp_htab_next(n, key)) {
		struct dpx_sa *s = dp_hentry(n, struct dpx_sa, h_id);
		if (s->reqid == reqid && s->dir == dir && s->spi == spi)
			return s;
	}
	return NULL;
}

/* The SA a kernel event is about: ESP SAs are named by (daddr, spi). */
static struct dpx_sa *sa_by_kernel_id(struct dpx *x, const struct dpx_sa_state *st)
{
	for (struct dp_hnode *n = dp_htab_first(&x->sa_by_spi, st->spi); n;
	     n = dp_htab_next(n, st->spi)) {
		struct dpx_sa *s = dp_hentry(n, struct dpx_sa, h_spi);
		xfrm_address_t d;

		if (s->spi != st->spi || s->dst.ss_family != st->family ||
		    ss_to_xaddr(&s->dst, &d) < 0)
			continue;
		if (!memcmp(&d, st->daddr, fam_len(st->family)))
			return s;
	}
	return NULL;
}

static uint64_t sel_key(const struct dp_policy *p)
{
	return dp_ts_pair_key(&p->ts_local, &p->ts_remote);
}

/* The policy with p's selectors, whatever its reqid: the kernel's key. */
static struct dpx_pol *pol_find_sel(struct dpx *x, const struct dp_policy *p)
{
	uint64_t key = sel_key(p);

	for (struct dp_hnode *n = dp_htab_first(&x->pol_by_sel, key); n; n = dp_htab_next(n, key)) {
		struct dpx_pol *e = dp_hentry(n, struct dpx_pol, h_sel);
		if (ts_equal(&e->p.ts_local, &p->ts_local) &&
		    ts_equal(&e->p.ts_remote, &p->ts_remote))
			return e;
	}
	return NULL;
}

/* The policy with p's selectors and reqid. */
static struct dpx_pol *pol_find(struct dpx *x, const struct dp_policy *p)
{
	struct dpx_pol *e = pol_find_sel(x, p);

	return e && e->p.reqid == p->reqid ? e : NULL;
}

/* ---- SAD ---- */

static int dpx_sa_add(void *be, const struct dp_sa *sa)
{
	struct dpx *x = be;
	uint8_t buf[DPX_MSG_MAX] __attribute__((aligned(8)));
	struct dpx_reqid *r;
	struct dpx_sa *e;

	if (sa_find(x, sa->reqid, sa->dir, sa->spi)) {
		errno = EEXIST;
		return -1;
	}
	e = calloc(1, sizeof(*e));
	r = e ? reqid_get(x, sa->reqid) : NULL;
	if (!r) {
		free(e);
		return -1;
	}
	if (dpx_talk_secret(x, dpx_msg_sa(buf, sizeof(buf), XFRM_MSG_NEWSA, sa), buf, sizeof(buf)) <
	    0) {
		int saved = errno;

		free(e);
		reqid_put(x, r);
		errno = saved;
		return -1;
	}
	e->reqid = sa->reqid;
	e->spi = sa->spi;
	e->dir = sa->dir;
	e->mode = sa->mode;
	e->encap = sa->encap;
	e->src = sa->src;
	e->dst = sa->dst;
	e->r = r;
	DPX_PUSH(x->sas, e, next, prev);
	DPX_PUSH(r->sas, e, rnext, rprev);
	dp_htab_add(&x->sa_by_id, &e->h_id, sa_key(e->reqid, e->dir, e->spi));
	dp_htab_add(&x->sa_by_spi, &e->h_spi, e->spi);
	return 0;
}

static int kernel_del_sa(struct dpx *x, const struct dpx_sa *e)
{
	uint8_t buf[DPX_MSG_MAX] __attribute__((aligned(8)));
	struct nlmsghdr *nlh;

	if (e->gone)
		return 0;
	nlh = dpx_msg_sa_id(buf, sizeof(buf), XFRM_MSG_DELSA, &e->dst, e->spi);
	if (!nlh)
		return -1;
	/* ESRCH: the kernel removed it (hard expiry we have not read yet). */
	return dpx_talk(x, nlh, NULL, NULL) < 0 && errno != ESRCH ? -1 : 0;
}

/* Out of our tables (the kernel's entry is gone or being removed). */
static void sa_forget(struct dpx *x, struct dpx_sa *e)
{
	DPX_UNLINK(e, next, prev);
	DPX_UNLINK(e, rnext, rprev);
	dp_htab_del(&x->sa_by_id, &e->h_id);
	dp_htab_del(&x->sa_by_spi, &e->h_spi);
	reqid_put(x, e->r);
	free(e);
}

static int dpx_sa_del(void *be, uint32_t reqid, enum dp_dir dir, uint32_t spi)
{
	struct dpx *x = be;
	struct dpx_sa *e = sa_find(x, reqid, dir, spi);

	if (!e) {
		errno = ENOENT;
		return -1;
	}
	if (kernel_del_sa(x, e) < 0)
		return -1;
	sa_forget(x, e);
	return 0;
}

static int getsa_cb(const struct nlmsghdr *nlh, void *data)
{
	return dpx_parse_sa(nlh, data) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

/* The kernel's use_time is wall-clock; dp.h wants CLOCK_MONOTONIC. */
static uint64_t mono_of_wall(uint64_t wall)
{
	struct timespec m, r;

	if (!wall)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	if ((uint64_t)r.tv_sec < wall)
		return (uint64_t)m.tv_sec;
	return (uint64_t)m.tv_sec > (uint64_t)r.tv_sec - wall
	           ? (uint64_t)m.tv_sec - ((uint64_t)r.tv_sec - wall)
	           : 0;
}

static int dpx_sa_counters(void *be, uint32_t reqid, enum dp_dir dir, uint32_t spi,
                           struct dp_sa_counters *out)
{
	struct dpx *x = be;
	uint8_t buf[DPX_MSG_MAX] __attribute__((aligned(8)));
	struct dpx_sa *e = sa_find(x, reqid, dir, spi);
	struct dpx_sa_state st;
	struct nlmsghdr *nlh;

	if (!e) {
		errno = ENOENT;
		return -1;
	}
	nlh = dpx_msg_sa_id(buf, sizeof(buf), XFRM_MSG_GETSA, &e->dst, spi);
	memset(&st, 0, sizeof(st));
	if (!nlh || dpx_talk(x, nlh, getsa_cb, &st) < 0)
		return -1;
	memset(out, 0, sizeof(*out));
	out->bytes = st.bytes;
	out->packets = st.packets;
	out->replay_drops = st.replay_drops;
	out->auth_drops = st.auth_drops;
	out->seq = dir == DP_DIR_OUT ? st.oseq : st.seq;
	out->last_used = mono_of_wall(st.use_time);
	return 0;
}

/* ---- SPD ---- */

/* The outer side of reqid's Child SA from the SAs we installed (RFC 4301 4.4.1.2). */
static int ends_from_sas(struct dpx *x, uint32_t reqid, struct dpx_ends *e)
{
	const struct dpx_reqid *r = reqid_find(x, reqid);
	const struct dpx_sa *in = NULL;

	for (const struct dpx_sa *s = r ? r->sas : NULL; s; s = s->rnext) {
		if (s->gone)
			continue;
		if (s->dir == DP_DIR_OUT) {
			*e = (struct dpx_ends){s->mode, s->src, s->dst, s->encap};
			return 0;
		}
		in = in ? in : s;
	}
	if (!in) {
		errno = ENOENT;
		return -1;
	}
	*e = (struct dpx_ends){in->mode, in->dst, in->src, in->encap};
	return 0;
}

static bool reqid_encap(struct dpx *x, uint32_t reqid)
{
	const struct dpx_reqid *r = reqid_find(x, reqid);

	for (const struct dpx_sa *s = r ? r->sas : NULL; s; s = s->rnext)
		if (s->encap)
			return true;
	return false;
}

static int ends_of(struct dpx *x, const struct dp_policy *p, struct dpx_ends *e)
{
	if (!p->tmpl_remote.ss_family)
		return ends_from_sas(x, p->reqid, e);
	memset(e, 0, sizeof(*e));
	e->mode = p->tmpl_mode;
	e->local = p->tmpl_local;
	e->remote = p->tmpl_remote;
	if (!e->local.ss_family)
		e->local.ss_family = e->remote.ss_family; /* wildcard local */
	e->encap = reqid_encap(x, p->reqid);
	return 0;
}

static int policy_msg(struct dpx *x, uint16_t type, const struct dpx_pol *e, uint8_t xdir)
{
	uint8_t buf[DPX_MSG_MAX] __attribute__((aligned(8)));
	struct nlmsghdr *nlh = dpx_msg_policy(buf, sizeof(buf), type, &e->p, xdir, &e->ends);

	return nlh ? dpx_talk(x, nlh, NULL, NULL) : -1;
}

/* Removes the kernel policies of e (all directions it installed). */
static int kernel_del_policy(struct dpx *x, struct dpx_pol *e)
{
	int rc = 0;

	while (e->ndirs) {
		uint8_t xdir = e->dirs[--e->ndirs];

		if (policy_msg(x, XFRM_MSG_DELPOLICY, e, xdir) < 0 && errno != ENOENT)
			rc = -1;
	}
	return rc;
}

static const uint8_t dpx_dirs[DPX_DIRS] = {XFRM_POLICY_OUT, XFRM_POLICY_IN, XFRM_POLICY_FWD};

/*
 * dp.h: XFRM_MSG_UPDPOLICY replaces the kernel's policy of the same
 * selector and direction atomically (the new template names the new
 * reqid and outer addresses), so no packet meets a missing policy. A
 * direction the new mode does not use (fwd, in transport mode) goes.
 */
static int dpx_policy_update(void *be, const struct dp_policy *p)
{
	struct dpx *x = be;
	struct dpx_pol *e = pol_find_sel(x, p);
	struct dpx_reqid *r;
	struct dpx_pol n;
	size_t ndirs;

	if (!e) {
		errno = ENOENT;
		return -1;
	}
	memset(&n, 0, sizeof(n));
	n.p = *p;
	if (ends_of(x, p, &n.ends) < 0)
		return -1;
	r = reqid_get(x, p->reqid);
	if (!r)
		return -1;
	ndirs = n.ends.mode == DP_MODE_TUNNEL ? DPX_DIRS : 2;
	for (size_t i = 0; i < ndirs; i++) {
		if (policy_msg(x, XFRM_MSG_UPDPOLICY, &n, dpx_dirs[i]) < 0) {
			int saved = errno;

			reqid_put(x, r);
			errno = saved;
			return -1; /* directions done so far already carry the new reqid */
		}
		n.dirs[n.ndirs++] = dpx_dirs[i];
	}
	for (size_t i = 0; i < e->ndirs; i++)
		if (!memchr(n.dirs, e->dirs[i], n.ndirs) &&
		    policy_msg(x, XFRM_MSG_DELPOLICY, e, e->dirs[i]) < 0 && errno != ENOENT)
			dp_log(x->dp, DP_LOG_WARN, "xfrm: removing a policy direction: %s",
			       strerror(errno));
	if (e->r != r) {
		struct dpx_reqid *old = e->r;

		DPX_UNLINK(e, rnext, rprev);
		e->r = r;
		DPX_PUSH(r->pols, e, rnext, rprev);
		reqid_put(x, old);
	}
	e->p = n.p;
	e->ends = n.ends;
	memcpy(e->dirs, n.dirs, sizeof(e->dirs));
	e->ndirs = n.ndirs;
	e->last_acquire = 0;
	return 0;
}

static int dpx_policy_add(void *be, const struct dp_policy *p)
{
	const uint8_t *dirs = dpx_dirs;
	struct dpx *x = be;
	struct dpx_reqid *r;
	struct dpx_pol *e;
	size_t ndirs;
	int saved;

	if (pol_find(x, p)) {
		errno = EEXIST;
		return -1;
	}
	e = calloc(1, sizeof(*e));
	r = e ? reqid_get(x, p->reqid) : NULL;
	if (!r) {
		free(e);
		return -1;
	}
	e->p = *p;
	if (ends_of(x, p, &e->ends) < 0)
		goto fail;
	if (pol_find_sel(x, p)) {
		errno = EEXIST; /* another reqid's: dp_policy_update hands it over */
		goto fail;
	}
	/* RFC 4301 5.2: fwd checks forwarded traffic from the tunnel (tunnel mode only). */
	ndirs = e->ends.mode == DP_MODE_TUNNEL ? DPX_DIRS : 2;
	for (size_t i = 0; i < ndirs; i++) {
		if (policy_msg(x, XFRM_MSG_NEWPOLICY, e, dirs[i]) < 0)
			goto fail;
		e->dirs[e->ndirs++] = dirs[i];
	}
	e->r = r;
	DPX_PUSH(x->pols, e, next, prev);
	DPX_PUSH(r->pols, e, rnext, rprev);
	dp_htab_add(&x->pol_by_sel, &e->h_sel, sel_key(p));
	return 0;
fail:
	saved = errno;
	(void)kernel_del_policy(x, e);
	free(e);
	reqid_put(x, r);
	errno = saved;
	return -1;
}

static void pol_forget(struct dpx *x, struct dpx_pol *e)
{
	DPX_UNLINK(e, next, prev);
	DPX_UNLINK(e, rnext, rprev);
	dp_htab_del(&x->pol_by_sel, &e->h_sel);
	reqid_put(x, e->r);
	free(e);
}

static int dpx_policy_del(void *be, const struct dp_policy *p)
{
	struct dpx *x = be;
	struct dpx_pol *e = pol_find(x, p);
	int rc;

	if (!e) {
		errno = ENOENT;
		return -1;
	}
	rc = kernel_del_policy(x, e);
	pol_forget(x, e);
	return rc;
}

/* ---- MOBIKE (RFC 4555 3.5) and NAT mapping changes (RFC 7296 2.23) ---- */

static int migrate_policy(struct dpx *x, struct dpx_pol *e, const struct dpx_ends *to)
{
	uint8_t buf[DPX_MSG_MAX] __attribute__((aligned(8)));

	for (size_t i = 0; i < e->ndirs; i++) {
		struct nlmsghdr *nlh =
		    dpx_msg_migrate(buf, sizeof(buf), &e->p, e->dirs[i], &e->ends, to);

		if (!nlh || dpx_talk(x, nlh, NULL, NULL) < 0)
			return -1;
	}
	e->ends.local = to->local;
	e->ends.remote = to->remote;
	return 0;
}

/* XFRM moves SAs through their policies: XFRM_MSG_MIGRATE names a policy
 * (selector and direction) and the old and new outer addresses, and the
 * kernel moves the template and every SA of the reqid with those addresses. */
static int dpx_sa_migrate(void *be, uint32_t reqid, const struct sockaddr_storage *local,
                          const struct sockaddr_storage *remote)
{
	struct dpx *x = be;
	struct sockaddr_storage l = *local, r = *remote;
	struct dpx_reqid *rq = reqid_find(x, reqid);
	struct dpx_ends to, cur;
	bool any = false, encap = reqid_encap(x, reqid);

	if (local->ss_family != remote->ss_family || !fam_len(local->ss_family)) {
		errno = EINVAL;
		return -1;
	}
	for (struct dpx_pol *e = rq ? rq->pols : NULL; e && !encap; e = e->rnext)
		encap = e->ends.encap;
	/* ESP in UDP never on the IKE port (RFC 3948 2.1): the kernel would
	 * send it to port 500, where the peer takes it for IKE. */
	if (encap && ends_from_sas(x, reqid, &cur) == 0)
		dp_encap_ports(x->dp, reqid, &l, &r, &cur.local, &cur.remote);
	else if (encap)
		dp_encap_ports(x->dp, reqid, &l, &r, NULL, NULL);
	for (struct dpx_pol *e = rq ? rq->pols : NULL; e; e = e->rnext) {
		/* SAs added after the policy may be UDP-encapsulated: the
		 * kernel then needs the (new) ports (RFC 7296 2.23). */
		to = (struct dpx_ends){e->ends.mode, l, r, encap};
		if (migrate_policy(x, e, &to) < 0)
			return -1;
		any = true;
	}
	if (!any) {
		errno = ENOENT; /* nothing to name the SAs by */
		return -1;
	}
	for (struct dpx_sa *s = rq->sas; s; s = s->rnext) {
		s->src = s->dir == DP_DIR_OUT ? l : r;
		s->dst = s->dir == DP_DIR_OUT ? r : l;
	}
	return 0;
}

/* ---- events ---- */

static void on_expire(struct dpx *x, const struct nlmsghdr *nlh)
{
	struct dp_common *c = dp_common(x->dp);
	struct dpx_sa_state st;
	struct dpx_sa *s;

	if (dpx_parse_sa(nlh, &st) < 0) {
		dp_log(x->dp, DP_LOG_WARN, "xfrm: malformed EXPIRE event");
		return;
	}
	s = sa_by_kernel_id(x, &st);
	if (!s)
		return; /* someone else's SA, or one we already removed */
	/* RFC 4301 4.4.2.1: after a hard expiry the kernel has deleted it. */
	s->gone |= st.hard;
	if (c->cb.expire)
		c->cb.expire(c->ctx, s->reqid, s->dir, s->spi, st.hard, st.why);
}

static struct dpx_pol *pol_by_reqid(struct dpx *x, uint32_t reqid)
{
	struct dpx_reqid *r = reqid_find(x, reqid);

	return r ? r->pols : NULL;
}

static void on_acquire(struct dpx *x, const struct nlmsghdr *nlh)
{
	struct dp_common *c = dp_common(x->dp);
	struct dp_acquire a;
	struct dpx_pol *e;
	struct timespec now;

	if (dpx_parse_acquire(nlh, &a) < 0) {
		dp_log(x->dp, DP_LOG_WARN, "xfrm: malformed ACQUIRE event");
		return;
	}
	e = pol_by_reqid(x, a.reqid);
	if (!e)
		return; /* not one of our policies */
	/* dp.h: one per policy per second (the kernel's larval SA already
	 * holds back repeats of one flow for xfrm_acq_expires seconds). */
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (e->last_acquire == now.tv_sec)
		return;
	e->last_acquire = now.tv_sec;
	c->stats.drop_no_sa++;
	if (c->cb.acquire)
		c->cb.acquire(c->ctx, &a);
}

static int event_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_type == XFRM_MSG_EXPIRE)
		on_expire(data, nlh);
	else if (nlh->nlmsg_type == XFRM_MSG_ACQUIRE)
		on_acquire(data, nlh);
	return MNL_CB_OK;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	uint8_t buf[MNL_SOCKET_BUFFER_SIZE] __attribute__((aligned(8)));
	struct dpx *x = arg;

	/* Bounded: a flood of events cannot starve the loop. */
	for (int i = 0; i < 64; i++) {
		ssize_t n = mnl_socket_recvfrom(x->mc, buf, sizeof(buf));

		if (n < 0) {
			if (errno == ENOBUFS)
				dp_log(x->dp, DP_LOG_WARN, "xfrm: kernel events lost (ENOBUFS)");
			else if (errno != EAGAIN && errno != EINTR)
				dp_log(x->dp, DP_LOG_WARN, "xfrm: reading events: %s",
				       strerror(errno));
			if (errno != ENOBUFS)
				return;
			continue;
		}
		(void)mnl_cb_run(buf, (size_t)n, 0, 0, event_cb, x);
	}
}

/* ---- life cycle ---- */

static struct mnl_socket *open_nl(int flags)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_XFRM, flags | SOCK_CLOEXEC);

	if (nl && mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int saved = errno;

		mnl_socket_close(nl);
		errno = saved;
		return NULL;
	}
	return nl;
}

static int open_events(struct dpx *x, struct event_base *base)
{
	int groups[] = {XFRMNLGRP_ACQUIRE, XFRMNLGRP_EXPIRE};

	x->mc = open_nl(SOCK_NONBLOCK);
	if (!x->mc)
		return -1;
	for (size_t i = 0; i < ARRAY_LEN(groups); i++)
		if (mnl_socket_setsockopt(x->mc, NETLINK_ADD_MEMBERSHIP, &groups[i],
		                          sizeof(groups[i])) < 0)
			return -1;
	x->ev = event_new(base, mnl_socket_get_fd(x->mc), EV_READ | EV_PERSIST, on_readable, x);
	if (!x->ev || event_add(x->ev, NULL) < 0)
		return -1;
	return 0;
}

static void dpx_destroy(void *be)
{
	struct dpx *x = be;

	if (!x)
		return;
	while (x->pols) {
		struct dpx_pol *e = x->pols;

		if (x->nl && kernel_del_policy(x, e) < 0)
			dp_log(x->dp, DP_LOG_WARN, "xfrm: removing a policy of reqid %u: %s",
			       e->p.reqid, strerror(errno));
		pol_forget(x, e);
	}
	while (x->sas) {
		struct dpx_sa *s = x->sas;

		if (x->nl && kernel_del_sa(x, s) < 0)
			dp_log(x->dp, DP_LOG_WARN, "xfrm: removing SA %08x: %s", s->spi,
			       strerror(errno));
		sa_forget(x, s);
	}
	dp_htab_fini(&x->sa_by_id);
	dp_htab_fini(&x->sa_by_spi);
	dp_htab_fini(&x->pol_by_sel);
	dp_htab_fini(&x->reqids);
	if (x->ev)
		event_free(x->ev);
	if (x->mc)
		mnl_socket_close(x->mc);
	if (x->nl)
		mnl_socket_close(x->nl);
	free(x);
}

static int dpx_probe(char *why, size_t whylen);

static void *dpx_create(struct dp *dp, struct event_base *base, const struct dp_options *opt)
{
	struct dpx *x;
	char why[160];

	if (!opt->skip_probe && dpx_probe(why, sizeof(why)) < 0) {
		dp_log(dp, DP_LOG_ERR, "xfrm: %s", why);
		errno = EOPNOTSUPP;
		return NULL;
	}
	x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->dp = dp;
	x->seq = (uint32_t)time(NULL);
	if (dp_htab_init(&x->sa_by_id) < 0 || dp_htab_init(&x->sa_by_spi) < 0 ||
	    dp_htab_init(&x->pol_by_sel) < 0 || dp_htab_init(&x->reqids) < 0) {
		dpx_destroy(x);
		errno = ENOMEM;
		return NULL;
	}
	x->nl = open_nl(0);
	if (!x->nl || open_events(x, base) < 0) {
		int saved = errno;

		dp_log(dp, DP_LOG_ERR, "xfrm: netlink: %s", strerror(errno));
		dpx_destroy(x);
		errno = saved;
		return NULL;
	}
	return x;
}

static unsigned dpx_ifindex(const void *be)
{
	return 0; /* no device of our own */
}

/* Virtual IPs (RFC 7296 3.15) belong on a real interface; not done yet. */
static int dpx_addr(void *be, bool add, const struct sockaddr_storage *a, unsigned plen)
{
	errno = EOPNOTSUPP;
	return -1;
}

/* RFC 3948 2.2: the kernel then takes ESP (non-zero first four octets) off
 * the socket and leaves IKE (the non-ESP marker) and keepalives to us. */
static int dpx_set_udp_socket(void *be, sa_family_t family, int fd)
{
	int type = UDP_ENCAP_ESPINUDP;

	return setsockopt(fd, IPPROTO_UDP, UDP_ENCAP, &type, sizeof(type));
}

static void dpx_input_udp(void *be, uint8_t *buf, size_t len, const struct sockaddr_storage *from,
                          const struct sockaddr_storage *to)
{
	/* The kernel decapsulates ESP itself (DP_FEAT_UDP_ENCAP_SOCKOPT). */
}

/* ---- detection ---- */

/* A throw-away transport-mode SA to 127.0.0.1 with AES-CBC and
 * HMAC-SHA-256, the algorithms every ESP-capable kernel has. */
static void probe_sa(struct dp_sa *sa)
{
	struct sockaddr_in *lo = (struct sockaddr_in *)&sa->dst;

	memset(sa, 0, sizeof(*sa));
	lo->sin_family = AF_INET;
	lo->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa->src = sa->dst;
	sa->spi = DPX_PROBE_SPI;
	sa->dir = DP_DIR_IN;
	sa->mode = DP_MODE_TRANSPORT;
	sa->encr = IKEV2_ENCR_AES_CBC;
	sa->encr_keybits = 128;
	sa->encr_key_len = 16; /* all zero: never used */
	sa->integ = IKEV2_AUTH_HMAC_SHA2_256_128;
	sa->integ_key_len = 32;
}

static void probe_reason(int err, char *why, size_t whylen)
{
	if (err == EPROTONOSUPPORT || err == ENOENT)
		snprintf(why, whylen, "kernel has no ESP support (CONFIG_INET_ESP): %s",
		         strerror(err));
	else if (err == ENOSYS)
		snprintf(why, whylen,
		         "kernel has no ESP support (CONFIG_INET_ESP) or lacks cbc(aes) / "
		         "hmac(sha256): %s",
		         strerror(err));
	else
		snprintf(why, whylen, "kernel refused a test ESP SA: %s", strerror(err));
}

static int dpx_probe(char *why, size_t whylen)
{
	struct dpx x = {.seq = (uint32_t)time(NULL)};
	uint8_t buf[DPX_MSG_MAX] __attribute__((aligned(8)));
	struct dp_sa sa;
	int rc = -1;

	x.nl = open_nl(0);
	if (!x.nl) {
		snprintf(why, whylen, "kernel has no XFRM (CONFIG_XFRM_USER): %s", strerror(errno));
		return -1;
	}
	probe_sa(&sa);
	if (dpx_talk_secret(&x, dpx_msg_sa(buf, sizeof(buf), XFRM_MSG_NEWSA, &sa), buf,
	                    sizeof(buf)) < 0 &&
	    errno != EEXIST) {
		probe_reason(errno, why, whylen);
		goto out;
	}
	/* Remove the test SA; nothing to do if that fails. */
	if (dpx_msg_sa_id(buf, sizeof(buf), XFRM_MSG_DELSA, &sa.dst, sa.spi))
		(void)dpx_talk(&x, (struct nlmsghdr *)buf, NULL, NULL);
	snprintf(why, whylen, "kernel has XFRM with ESP");
	rc = 0;
out:
	mnl_socket_close(x.nl);
	return rc;
}

const struct dp_backend_ops dp_xfrm_ops = {
    .features = DP_FEAT_UDP_ENCAP_SOCKOPT,
    .probe = dpx_probe,
    .create = dpx_create,
    .destroy = dpx_destroy,
    .ifindex = dpx_ifindex,
    .sa_add = dpx_sa_add,
    .sa_del = dpx_sa_del,
    .sa_migrate = dpx_sa_migrate,
    .sa_counters = dpx_sa_counters,
    .policy_add = dpx_policy_add,
    .policy_update = dpx_policy_update,
    .policy_del = dpx_policy_del,
    .addr = dpx_addr,
    .set_udp_socket = dpx_set_udp_socket,
    .input_udp = dpx_input_udp,
};
