/*
 * The data plane interface (dp.h): picks a backend and forwards every call
 * to it. The SAD/SPD model is RFC 4301 4.4; the backends own the state.
 */
#include "dataplane/dp_backend.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dp {
	const struct dp_backend_ops *ops;
	void *be; /* owned */
	struct dp_common c;
};

static const struct dp_backend_ops *dp_ops(enum dp_backend b)
{
	switch (b) {
	case DP_BACKEND_USERSPACE:
		return &dp_userspace_ops;
	case DP_BACKEND_XFRM:
		return &dp_xfrm_ops;
	}
	return NULL;
}

struct dp_common *dp_common(struct dp *dp)
{
	return &dp->c;
}

void dp_log(struct dp *dp, enum dp_log_level level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!dp->c.cb.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dp->c.cb.log(dp->c.ctx, level, msg);
}

int dp_probe(enum dp_backend b, char *why, size_t whylen)
{
	const struct dp_backend_ops *ops = dp_ops(b);

	if (!ops) {
		snprintf(why, whylen, "unknown data plane backend %d", (int)b);
		return -1;
	}
	return ops->probe(why, whylen);
}

struct dp *dp_new_opts(enum dp_backend b, struct event_base *base, const struct dp_events *cb,
                       void *ctx, const struct dp_options *opt)
{
	static const struct dp_options defaults = {.ifname = DP_DEFAULT_IFNAME,
	                                           .mtu = DP_DEFAULT_MTU};
	struct dp_options o = opt ? *opt : defaults;
	struct dp *dp;

	if (!o.ifname)
		o.ifname = defaults.ifname;
	if (!o.mtu)
		o.mtu = defaults.mtu;
	if (!dp_ops(b) || !base) {
		errno = EINVAL;
		return NULL;
	}
	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return NULL;
	dp->ops = dp_ops(b);
	if (cb)
		dp->c.cb = *cb;
	dp->c.ctx = ctx;
	dp->c.ike_port = o.ike_port ? o.ike_port : DP_IKE_PORT;
	dp->c.natt_port = o.natt_port ? o.natt_port : DP_NATT_PORT;
	dp->be = dp->ops->create(dp, base, &o);
	if (!dp->be) {
		int saved = errno;
		free(dp);
		errno = saved;
		return NULL;
	}
	return dp;
}

struct dp *dp_new(enum dp_backend b, struct event_base *base, const struct dp_events *cb, void *ctx)
{
	return dp_new_opts(b, base, cb, ctx, NULL);
}

void dp_free(struct dp *dp)
{
	if (!dp)
		return;
	dp->ops->destroy(dp->be);
	free(dp);
}

void *dp_backend_state(struct dp *dp, const struct dp_backend_ops *ops)
{
	return dp->ops == ops ? dp->be : NULL;
}

unsigned dp_features(const struct dp *dp)
{
	return dp->ops->features;
}

unsigned dp_ifindex(const struct dp *dp)
{
	return dp->ops->ifindex(dp->be);
}

int dp_sa_add(struct dp *dp, const struct dp_sa *sa)
{
	struct dp_sa fixed;
	int rc;

	if (!sa->encap)
		return dp->ops->sa_add(dp->be, sa);
	fixed = *sa;
	if (sa->dir == DP_DIR_OUT)
		dp_encap_ports(dp, sa->reqid, &fixed.src, &fixed.dst, NULL, NULL);
	else
		dp_encap_ports(dp, sa->reqid, &fixed.dst, &fixed.src, NULL, NULL);
	rc = dp->ops->sa_add(dp->be, &fixed);
	explicit_bzero(&fixed, sizeof(fixed)); /* keys */
	return rc;
}

static uint16_t ss_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

static void ss_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static bool ss_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return a->ss_family == AF_INET6 &&
	       !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	               &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
}

bool dp_encap_port(struct sockaddr_storage *to, const struct sockaddr_storage *cur,
                   uint16_t ike_port, uint16_t natt_port)
{
	uint16_t p = ss_port(to), keep = cur ? ss_port(cur) : 0;

	if ((to->ss_family != AF_INET && to->ss_family != AF_INET6) || (p && p != ike_port))
		return false;
	/* Same address: the NAT mapping seen on the NAT-T port still holds. */
	if (cur && keep && keep != ike_port && ss_same_host(to, cur))
		ss_set_port(to, keep);
	else
		ss_set_port(to, natt_port);
	return true;
}

void dp_encap_ports(struct dp *dp, uint32_t reqid, struct sockaddr_storage *local,
                    struct sockaddr_storage *remote, const struct sockaddr_storage *cur_local,
                    const struct sockaddr_storage *cur_remote)
{
	uint16_t lp = ss_port(local), rp = ss_port(remote);
	bool l = dp_encap_port(local, cur_local, dp->c.ike_port, dp->c.natt_port);
	bool r = dp_encap_port(remote, cur_remote, dp->c.ike_port, dp->c.natt_port);

	if (l || r)
		dp_log(dp, DP_LOG_WARN,
		       "dp: reqid=%u: ESP in UDP cannot use ports %u/%u (RFC 3948 2.1): "
		       "using %u/%u",
		       reqid, lp, rp, ss_port(local), ss_port(remote));
}

int dp_sa_del(struct dp *dp, uint32_t reqid, enum dp_dir dir, uint32_t spi)
{
	return dp->ops->sa_del(dp->be, reqid, dir, spi);
}

int dp_sa_migrate(struct dp *dp, uint32_t reqid, const struct sockaddr_storage *local,
                  const struct sockaddr_storage *remote)
{
	return dp->ops->sa_migrate(dp->be, reqid, local, remote);
}

int dp_sa_counters(struct dp *dp, uint32_t reqid, enum dp_dir dir, uint32_t spi,
                   struct dp_sa_counters *out)
{
	return dp->ops->sa_counters(dp->be, reqid, dir, spi, out);
}

int dp_policy_add(struct dp *dp, const struct dp_policy *p)
{
	return dp->ops->policy_add(dp->be, p);
}

int dp_policy_update(struct dp *dp, const struct dp_policy *p)
{
	return dp->ops->policy_update(dp->be, p);
}

int dp_policy_del(struct dp *dp, const struct dp_policy *p)
{
	return dp->ops->policy_del(dp->be, p);
}

int dp_addr_add(struct dp *dp, const struct sockaddr_storage *addr, unsigned prefixlen)
{
	return dp->ops->addr(dp->be, true, addr, prefixlen);
}

int dp_addr_del(struct dp *dp, const struct sockaddr_storage *addr, unsigned prefixlen)
{
	return dp->ops->addr(dp->be, false, addr, prefixlen);
}

void dp_stats(const struct dp *dp, struct dp_stats *out)
{
	*out = dp->c.stats;
	if (dp->ops->stats)
		dp->ops->stats(dp->be, out);
}

int dp_set_udp_socket(struct dp *dp, sa_family_t family, int fd)
{
	return dp->ops->set_udp_socket(dp->be, family, fd);
}

bool dp_udp_steers(const struct dp *dp)
{
	return dp->ops->udp_steers && dp->ops->udp_steers(dp->be);
}

int dp_udp_steer(struct dp *dp, const int *fds, size_t n)
{
	if (!dp->ops->udp_steer) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return dp->ops->udp_steer(dp->be, fds, n);
}

int dp_udp_unsteer(struct dp *dp, int fd)
{
	if (!dp->ops->udp_unsteer) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return dp->ops->udp_unsteer(dp->be, fd);
}

int dp_spi_residue(struct dp *dp, uint32_t rekey_reqid, uint32_t *mod, uint32_t *residue)
{
	if (!dp->ops->spi_residue) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return dp->ops->spi_residue(dp->be, rekey_reqid, mod, residue);
}

void dp_input_udp(struct dp *dp, uint8_t *buf, size_t len, const struct sockaddr_storage *from,
                  const struct sockaddr_storage *to)
{
	dp->ops->input_udp(dp->be, buf, len, from, to);
}
