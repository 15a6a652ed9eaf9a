/*
 * The data plane interface (dp.h): picks a backend and forwards every call
 * to it. The SAD/SPD model is RFC 4301 4.4; the backends own the state.
 */
#include "dataplane/dp_backend.h"

#include <errno.h>
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
	return dp->ops->sa_add(dp->be, sa);
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
}

int dp_set_udp_socket(struct dp *dp, sa_family_t family, int fd)
{
	return dp->ops->set_udp_socket(dp->be, family, fd);
}

void dp_input_udp(struct dp *dp, uint8_t *buf, size_t len, const struct sockaddr_storage *from,
                  const struct sockaddr_storage *to)
{
	dp->ops->input_udp(dp->be, buf, len, from, to);
}
