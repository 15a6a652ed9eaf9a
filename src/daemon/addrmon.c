/*
 * The address monitor: riked's view of the host's usable local addresses,
 * kept over rtnetlink (libmnl), for MOBIKE (RFC 4555 3.5: "the initiator
 * ... moves the IKE SA when its address goes away or a path changes").
 *
 * It owns two sockets: one subscribed to link, address and route events,
 * read on the event loop, and one for synchronous requests (the link and
 * address dumps, and RTM_GETROUTE for the engine's route hook) with a
 * bounded receive timeout. Each wakeup reads every datagram queued (up to
 * ADDRMON_BURST), then reports the whole usable set once if it or a route
 * changed: a burst of events (an interface going down takes its addresses
 * and routes with it) costs the engine one call, with no fixed delay. An
 * overrun (ENOBUFS: events were lost) re-reads everything.
 *
 * Usable: not loopback, not IPv6 link-local, not tentative, failed DAD or
 * deprecated (RFC 4862 5.5.4: do not start new communication from it), on
 * a link that is up and running, not on an ignored link.
 */
#include "daemon/addrmon.h"

#include <errno.h>
#include <event2/event.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "util/log.h"
#include "util/sockbuf.h"

#define AM_MAX_IGNORED 4
#define AM_SOCK_BUF    (1 << 20) /* events queued while riked is busy */
#define AM_RECV_BUF    32768
#define AM_DUMP_TRIES  3 /* a dump interrupted by changes (NLM_F_DUMP_INTR) is redone */

struct am_link {
	unsigned ifindex, flags;
	char name[IF_NAMESIZE];
};

struct am_addr {
	unsigned ifindex;
	uint32_t flags; /* IFA_F_* */
	uint8_t scope;
	struct ike_addr a;
};

/* Everything a dump rebuilds (copied whole to undo a failed re-read). */
struct am_table {
	struct am_link links[ADDRMON_MAX_LINKS];
	struct am_addr addrs[ADDRMON_MAX_ADDRS];
	size_t nlinks, naddrs;
};

struct addrmon {
	struct event_base *base;
	struct event *ev;
	struct mnl_socket *mon, *req; /* events; synchronous requests */
	uint32_t seq;
	addrmon_report_fn report;
	void *ctx;
	struct am_table t;
	/* the usable set last reported, and the one now */
	struct am_addr reported[ADDRMON_MAX_ADDRS], usable[ADDRMON_MAX_ADDRS];
	struct ike_addr out[ADDRMON_MAX_ADDRS];
	size_t nreported, nusable;
	bool ever_reported, route_changed;
	char ignored[AM_MAX_IGNORED][IF_NAMESIZE];
	size_t nignored;
	struct addrmon_stats st;
};

/* ---- the tables ---- */

static struct am_link *link_find(struct am_table *t, unsigned ifindex)
{
	for (size_t i = 0; i < t->nlinks; i++)
		if (t->links[i].ifindex == ifindex)
			return &t->links[i];
	return NULL;
}

static const char *link_name(const struct addrmon *am, unsigned ifindex, char *buf, size_t len)
{
	for (size_t i = 0; i < am->t.nlinks; i++)
		if (am->t.links[i].ifindex == ifindex && am->t.links[i].name[0])
			return am->t.links[i].name;
	snprintf(buf, len, "if%u", ifindex);
	return buf;
}

static bool link_ignored(const struct addrmon *am, const struct am_link *l)
{
	for (size_t i = 0; l && i < am->nignored; i++)
		if (!strcmp(l->name, am->ignored[i]))
			return true;
	return false;
}

static void addrs_of_link_del(struct am_table *t, unsigned ifindex)
{
	size_t j = 0;

	for (size_t i = 0; i < t->naddrs; i++)
		if (t->addrs[i].ifindex != ifindex)
			t->addrs[j++] = t->addrs[i];
	t->naddrs = j;
}

static bool flags_usable(unsigned flags)
{
	return (flags & (IFF_UP | IFF_RUNNING)) == (IFF_UP | IFF_RUNNING) &&
	       !(flags & IFF_LOOPBACK);
}

static bool link_usable(const struct am_link *l)
{
	return flags_usable(l->flags);
}

/* One line when a link becomes usable or stops being so (a new link only when up). */
static void link_log(const struct am_link *l, unsigned old_flags, bool is_new)
{
	bool up = link_usable(l), was = !is_new && flags_usable(old_flags);

	if (up != was && (up || !is_new))
		log_msg(LOG_INFO, "addrmon", "link %s %s", l->name, up ? "up" : "down");
}

static int link_update(struct addrmon *am, const struct nlmsghdr *nlh)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	struct am_link *l;
	unsigned old;
	bool is_new;

	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(*ifi) || ifi->ifi_index <= 0)
		return MNL_CB_ERROR;
	l = link_find(&am->t, (unsigned)ifi->ifi_index);
	if (nlh->nlmsg_type == RTM_DELLINK) {
		if (l) {
			log_msg(LOG_INFO, "addrmon", "link %s removed", l->name);
			addrs_of_link_del(&am->t, l->ifindex);
			*l = am->t.links[--am->t.nlinks];
		}
		return MNL_CB_OK;
	}
	is_new = !l;
	if (is_new) {
		if (am->t.nlinks == ADDRMON_MAX_LINKS)
			return MNL_CB_OK; /* its addresses count as on a link that is up */
		l = &am->t.links[am->t.nlinks++];
		*l = (struct am_link){.ifindex = (unsigned)ifi->ifi_index};
	}
	old = l->flags;
	l->flags = ifi->ifi_flags;
	mnl_attr_for_each(a, nlh, sizeof(*ifi))
	{
		if (mnl_attr_get_type(a) == IFLA_IFNAME &&
		    !mnl_attr_validate(a, MNL_TYPE_NUL_STRING))
			snprintf(l->name, sizeof(l->name), "%s", mnl_attr_get_str(a));
	}
	if (!l->name[0])
		snprintf(l->name, sizeof(l->name), "if%u", l->ifindex);
	if (!link_ignored(am, l))
		link_log(l, old, is_new);
	return MNL_CB_OK;
}

/* The interface's own address: IFA_LOCAL (IFA_ADDRESS is the peer's on a
 * point-to-point link), else IFA_ADDRESS; and IFA_FLAGS over ifa_flags. */
static int addr_parse_msg(const struct nlmsghdr *nlh, struct am_addr *out)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *local = NULL, *address = NULL;
	size_t alen;

	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(*ifa))
		return -1;
	alen = ifa->ifa_family == AF_INET ? 4 : ifa->ifa_family == AF_INET6 ? 16 : 0;
	memset(out, 0, sizeof(*out));
	out->ifindex = ifa->ifa_index;
	out->flags = ifa->ifa_flags;
	out->scope = ifa->ifa_scope;
	mnl_attr_for_each(a, nlh, sizeof(*ifa))
	{
		switch (mnl_attr_get_type(a)) {
		case IFA_LOCAL:
			local = a;
			break;
		case IFA_ADDRESS:
			address = a;
			break;
		case IFA_FLAGS:
			if (!mnl_attr_validate(a, MNL_TYPE_U32))
				out->flags = mnl_attr_get_u32(a);
			break;
		}
	}
	a = local ? local : address;
	if (!alen || !a || mnl_attr_get_payload_len(a) != alen)
		return -1;
	return addr_from_bytes(&out->a, mnl_attr_get_payload(a), alen);
}

static int addr_update(struct addrmon *am, const struct nlmsghdr *nlh)
{
	struct am_table *t = &am->t;
	struct am_addr n;
	size_t i;

	if (addr_parse_msg(nlh, &n) < 0)
		return MNL_CB_OK; /* another family, or no address: not ours to judge */
	for (i = 0; i < t->naddrs; i++)
		if (t->addrs[i].ifindex == n.ifindex && addr_equal_host(&t->addrs[i].a, &n.a))
			break;
	if (nlh->nlmsg_type == RTM_DELADDR) {
		if (i < t->naddrs)
			t->addrs[i] = t->addrs[--t->naddrs];
		return MNL_CB_OK;
	}
	if (i == t->naddrs) {
		if (t->naddrs == ADDRMON_MAX_ADDRS)
			return MNL_CB_OK;
		t->naddrs++;
	}
	t->addrs[i] = n; /* new, or new flags (e.g. DAD done, RFC 4862 5.4) */
	return MNL_CB_OK;
}

/* Routes of the main and policy tables change paths; the local table and
 * cached clones come and go with addresses and traffic. */
static int route_update(struct addrmon *am, const struct nlmsghdr *nlh)
{
	const struct rtmsg *rt = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	uint32_t table;

	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(*rt))
		return MNL_CB_ERROR;
	table = rt->rtm_table;
	mnl_attr_for_each(a, nlh, sizeof(*rt))
	{
		if (mnl_attr_get_type(a) == RTA_TABLE && !mnl_attr_validate(a, MNL_TYPE_U32))
			table = mnl_attr_get_u32(a);
		if (mnl_attr_get_type(a) == RTA_OIF && !mnl_attr_validate(a, MNL_TYPE_U32) &&
		    link_ignored(am, link_find(&am->t, mnl_attr_get_u32(a))))
			return MNL_CB_OK; /* the data plane's own routes into its TUN */
	}
	if (table != RT_TABLE_LOCAL && rt->rtm_type == RTN_UNICAST &&
	    !(rt->rtm_flags & RTM_F_CLONED))
		am->route_changed = true;
	return MNL_CB_OK;
}

static int msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct addrmon *am = data;

	am->st.messages++;
	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		return link_update(am, nlh);
	case RTM_NEWADDR:
	case RTM_DELADDR:
		return addr_update(am, nlh);
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		return route_update(am, nlh);
	}
	return MNL_CB_OK;
}

/* The buffer holds whole messages and nothing else (mnl_cb_run stops
 * silently at a torn one). */
static bool framing_ok(const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	int left = (int)len;

	if (len > INT32_MAX)
		return false;
	while (mnl_nlmsg_ok(nlh, left))
		nlh = mnl_nlmsg_next(nlh, &left);
	return left == 0;
}

int addrmon_input(struct addrmon *am, const void *buf, size_t len)
{
	if (!framing_ok(buf, len)) {
		errno = EBADMSG;
		return -1;
	}
	return mnl_cb_run(buf, len, 0, 0, msg_cb, am) < 0 ? -1 : 0;
}

/* ---- the usable set ---- */

static bool addr_usable(const struct addrmon *am, const struct am_addr *e)
{
	const struct am_link *l = link_find((struct am_table *)&am->t, e->ifindex);
	size_t len;
	const uint8_t *b = addr_bytes(&e->a, &len);

	if (l && (!link_usable(l) || link_ignored(am, l)))
		return false;
	if (e->scope == RT_SCOPE_HOST || e->scope == RT_SCOPE_NOWHERE)
		return false;
	if (len == 4)
		return b[0] != 127; /* 127/8, RFC 1122 3.2.1.3 */
	if (e->flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED | IFA_F_DEPRECATED))
		return false;
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) /* fe80::/10, RFC 4291 2.5.6 */
		return false;
	return !(e->scope == RT_SCOPE_LINK);
}

static bool in_set(const struct am_addr *set, size_t n, const struct ike_addr *a)
{
	for (size_t i = 0; i < n; i++)
		if (addr_equal_host(&set[i].a, a))
			return true;
	return false;
}

/* The usable addresses, each once (the same address may sit on two links). */
static void compute_usable(struct addrmon *am)
{
	am->nusable = 0;
	for (size_t i = 0; i < am->t.naddrs; i++) {
		const struct am_addr *e = &am->t.addrs[i];

		if (addr_usable(am, e) && !in_set(am->usable, am->nusable, &e->a))
			am->usable[am->nusable++] = *e;
	}
}

/* One line per address gained or lost since the last report. */
static bool log_diff(const struct addrmon *am)
{
	char a[INET6_ADDRSTRLEN], n[IF_NAMESIZE + 8];
	bool changed = am->nusable != am->nreported;

	for (size_t i = 0; i < am->nusable; i++) {
		if (in_set(am->reported, am->nreported, &am->usable[i].a))
			continue;
		addr_format_host(&am->usable[i].a, a, sizeof(a));
		log_msg(LOG_INFO, "addrmon", "address %s added on %s", a,
		        link_name(am, am->usable[i].ifindex, n, sizeof(n)));
		changed = true;
	}
	for (size_t i = 0; i < am->nreported; i++) {
		if (in_set(am->usable, am->nusable, &am->reported[i].a))
			continue;
		addr_format_host(&am->reported[i].a, a, sizeof(a));
		log_msg(LOG_INFO, "addrmon", "address %s removed from %s", a,
		        link_name(am, am->reported[i].ifindex, n, sizeof(n)));
		changed = true;
	}
	return changed;
}

void addrmon_flush(struct addrmon *am)
{
	bool changed;

	compute_usable(am);
	changed = log_diff(am);
	if (!changed && !am->route_changed && am->ever_reported)
		return;
	memcpy(am->reported, am->usable, am->nusable * sizeof(am->usable[0]));
	am->nreported = am->nusable;
	am->ever_reported = true;
	am->route_changed = false;
	for (size_t i = 0; i < am->nusable; i++)
		am->out[i] = am->usable[i].a;
	am->st.reports++;
	if (am->report)
		am->report(am->ctx, am->out, am->nusable);
}

const struct ike_addr *addrmon_addrs(const struct addrmon *am, size_t *n)
{
	*n = am->nreported;
	return am->out;
}

int addrmon_is_local(const struct addrmon *am, const struct ike_addr *a)
{
	for (size_t i = 0; i < am->t.naddrs; i++)
		if (addr_equal_host(&am->t.addrs[i].a, a))
			return 1;
	/* a full table may have missed it: the caller asks the kernel */
	return am->t.naddrs == ADDRMON_MAX_ADDRS ? -1 : 0;
}

/* ---- synchronous requests ---- */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * Send a request on the request socket and run cb on the answer until it
 * ends (an ACK, an error or NLMSG_DONE), giving up after ADDRMON_TIMEOUT_MS
 * of silence or twice that in all. Stale answers to an earlier request that
 * timed out carry another sequence number and are skipped.
 */
static int request(struct addrmon *am, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	uint8_t buf[AM_RECV_BUF] __attribute__((aligned(8)));
	uint64_t deadline = mono_ms() + 2 * ADDRMON_TIMEOUT_MS;
	uint32_t portid;
	int rc;

	if (!am->req) {
		errno = ENOTCONN;
		return -1;
	}
	portid = mnl_socket_get_portid(am->req);
	nlh->nlmsg_seq = ++am->seq;
	if (mnl_socket_sendto(am->req, nlh, nlh->nlmsg_len) < 0)
		return -1;
	do {
		ssize_t n = mnl_socket_recvfrom(am->req, buf, sizeof(buf));

		if (n < 0)
			return -1; /* EAGAIN: SO_RCVTIMEO expired */
		rc = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, portid, cb, data);
		if (rc < 0 && errno == ESRCH)
			rc = MNL_CB_OK; /* an answer to an earlier request that timed out */
		if (rc > MNL_CB_STOP && mono_ms() > deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
	} while (rc > MNL_CB_STOP);
	return rc < 0 ? -1 : 0;
}

struct dump_ctx {
	struct addrmon *am;
	bool interrupted;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;

	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		d->interrupted = true;
	return msg_cb(nlh, d->am);
}

static int dump(struct addrmon *am, uint16_t type)
{
	uint8_t buf[MNL_NLMSG_HDRLEN + 64] __attribute__((aligned(8)));
	struct nlmsghdr *nlh;

	for (int i = 0; i < AM_DUMP_TRIES; i++) {
		struct dump_ctx d = {am, false};

		nlh = mnl_nlmsg_put_header(buf);
		nlh->nlmsg_type = type;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		if (type == RTM_GETLINK)
			((struct ifinfomsg *)mnl_nlmsg_put_extra_header(nlh,
			                                                sizeof(struct ifinfomsg)))
			    ->ifi_family = AF_UNSPEC;
		else
			((struct ifaddrmsg *)mnl_nlmsg_put_extra_header(nlh,
			                                                sizeof(struct ifaddrmsg)))
			    ->ifa_family = AF_UNSPEC;
		if (request(am, nlh, dump_cb, &d) < 0)
			return -1;
		if (!d.interrupted)
			return 0;
	}
	errno = EAGAIN;
	return -1;
}

/* Read links, then addresses, from scratch; on failure keep what we had. */
static int resync(struct addrmon *am)
{
	struct am_table *old = malloc(sizeof(*old));

	if (!old)
		return -1;
	*old = am->t;
	memset(&am->t, 0, sizeof(am->t));
	am->st.resyncs++;
	if (dump(am, RTM_GETLINK) < 0 || dump(am, RTM_GETADDR) < 0) {
		int saved = errno;

		am->t = *old;
		free(old);
		am->st.resync_failed++;
		errno = saved;
		return -1;
	}
	free(old);
	am->route_changed = true; /* routes may have changed unseen too */
	return 0;
}

struct route_ctx {
	const struct addrmon *am;
	sa_family_t family;
	struct ike_addr *src;
	bool found;
};

static int route_reply_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_ctx *r = data;
	const struct rtmsg *rt = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	unsigned oif = 0;
	size_t alen = r->family == AF_INET ? 4 : 16;

	if (nlh->nlmsg_type != RTM_NEWROUTE || nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(*rt) ||
	    rt->rtm_family != r->family)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*rt))
	{
		if (mnl_attr_get_type(a) == RTA_PREFSRC && mnl_attr_get_payload_len(a) == alen &&
		    addr_from_bytes(r->src, mnl_attr_get_payload(a), alen) == 0) {
			r->found = true;
			return MNL_CB_STOP;
		}
		if (mnl_attr_get_type(a) == RTA_OIF && !mnl_attr_validate(a, MNL_TYPE_U32))
			oif = mnl_attr_get_u32(a);
	}
	/* No preferred source: the first usable address of the outgoing link. */
	for (size_t i = 0; oif && i < r->am->t.naddrs && !r->found; i++) {
		const struct am_addr *e = &r->am->t.addrs[i];

		if (e->ifindex == oif && e->a.ss.sa.sa_family == r->family &&
		    addr_usable(r->am, e)) {
			*r->src = e->a;
			r->found = true;
		}
	}
	return MNL_CB_STOP;
}

int addrmon_route_reply(const struct addrmon *am, const void *buf, size_t len, sa_family_t family,
                        struct ike_addr *src)
{
	struct route_ctx r = {am, family, src, false};

	if (mnl_cb_run(buf, len, 0, 0, route_reply_cb, &r) < 0 || !r.found)
		return -1;
	return 0;
}

int addrmon_route(struct addrmon *am, const struct ike_addr *dst, struct ike_addr *src)
{
	uint8_t buf[MNL_NLMSG_HDRLEN + 128] __attribute__((aligned(8)));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rt;
	const uint8_t *b;
	size_t len;
	struct route_ctx r = {am, dst->ss.sa.sa_family, src, false};

	am->st.route_queries++;
	b = addr_bytes(dst, &len);
	if (!b || (len != 4 && len != 16)) {
		am->st.route_failed++;
		return -1;
	}
	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));
	rt->rtm_family = dst->ss.sa.sa_family;
	rt->rtm_dst_len = (uint8_t)(len * 8);
	mnl_attr_put(nlh, RTA_DST, len, b);
	if (request(am, nlh, route_reply_cb, &r) < 0 || !r.found) {
		am->st.route_failed++;
		return -1;
	}
	return 0;
}

/* ---- the event socket ---- */

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
	uint8_t buf[AM_RECV_BUF] __attribute__((aligned(8)));
	struct addrmon *am = arg;

	(void)what;
	for (int i = 0; i < ADDRMON_BURST; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOBUFS) {
			/* The kernel dropped events: what we hold may be stale. */
			am->st.overruns++;
			if (resync(am) < 0)
				log_msg(LOG_WARNING, "addrmon",
				        "events lost and re-reading the addresses failed: %s",
				        strerror(errno));
			else
				log_msg(LOG_NOTICE, "addrmon", "events lost: addresses re-read");
			continue;
		}
		if (n <= 0)
			break;
		if (addrmon_input(am, buf, (size_t)n) < 0)
			log_msg(LOG_WARNING, "addrmon", "malformed rtnetlink message: %s",
			        strerror(errno));
	}
	addrmon_flush(am);
}

static struct mnl_socket *open_nl(int flags, unsigned groups)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, flags | SOCK_CLOEXEC);

	if (nl && mnl_socket_bind(nl, groups, MNL_SOCKET_AUTOPID) < 0) {
		int saved = errno;

		mnl_socket_close(nl);
		errno = saved;
		return NULL;
	}
	return nl;
}

static int open_sockets(struct addrmon *am)
{
	const unsigned groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
	                        RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
	struct timeval tv = {0, ADDRMON_TIMEOUT_MS * 1000};

	am->mon = open_nl(SOCK_NONBLOCK, groups);
	am->req = open_nl(0, 0);
	if (!am->mon || !am->req)
		return -1;
	sockbuf_set(mnl_socket_get_fd(am->mon), AM_SOCK_BUF);
	if (setsockopt(mnl_socket_get_fd(am->req), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -1;
	am->ev = event_new(am->base, mnl_socket_get_fd(am->mon), EV_READ | EV_PERSIST, read_cb, am);
	if (!am->ev || event_add(am->ev, NULL) < 0)
		return -1;
	/* Subscribed first, then dumped: events queued meanwhile replay on top. */
	return resync(am);
}

struct addrmon *addrmon_new(struct event_base *base, addrmon_report_fn report, void *ctx)
{
	struct addrmon *am = calloc(1, sizeof(*am));

	if (!am)
		return NULL;
	am->base = base;
	am->report = report;
	am->ctx = ctx;
	if (base && open_sockets(am) < 0) {
		int saved = errno;

		log_msg(LOG_ERR, "addrmon", "cannot follow the local addresses: %s",
		        strerror(saved));
		addrmon_free(am);
		errno = saved;
		return NULL;
	}
	return am;
}

void addrmon_free(struct addrmon *am)
{
	if (!am)
		return;
	if (am->ev)
		event_free(am->ev);
	if (am->mon)
		mnl_socket_close(am->mon);
	if (am->req)
		mnl_socket_close(am->req);
	free(am);
}

int addrmon_ignore_link(struct addrmon *am, const char *ifname)
{
	if (am->nignored == AM_MAX_IGNORED || strlen(ifname) >= IF_NAMESIZE) {
		errno = ENOSPC;
		return -1;
	}
	snprintf(am->ignored[am->nignored++], IF_NAMESIZE, "%s", ifname);
	return 0;
}

void addrmon_stats(const struct addrmon *am, struct addrmon_stats *out)
{
	*out = am->st;
}
