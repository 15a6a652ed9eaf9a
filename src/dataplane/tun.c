/*
 * The TUN device of the userspace backend (IFF_TUN | IFF_NO_PI: one IP
 * packet per read or write, with IFF_VNET_HDR a virtio-net header in front
 * and the offloads of dp_tun_offload, see gso.h) and the rtnetlink requests (via libmnl) that
 * bring it up, route the remote traffic selectors into it and put local
 * addresses (virtual IPs) on it, all in the current network namespace.
 */
#include "dataplane/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define DP_TUN_TXQLEN 4096 /* packets the kernel queues for us to read */

struct dp_nl {
	struct mnl_socket *sock;
	unsigned portid;
	unsigned seq;
};

int dp_tun_open(const char *name, unsigned *ifindex, bool vnet, bool mq)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags =
	    IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0) | (mq ? IFF_MULTI_QUEUE : 0);
	if (strlen(name) >= IFNAMSIZ) {
		errno = EINVAL;
		goto fail;
	}
	strcpy(ifr.ifr_name, name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		goto fail;
	*ifindex = if_nametoindex(ifr.ifr_name);
	if (*ifindex == 0)
		goto fail;
	return fd;
fail:;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

unsigned dp_tun_offload(int fd)
{
	static const unsigned tries[] = {
	    TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_USO4 | TUN_F_USO6,
	    TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
	    TUN_F_CSUM,
	};
	int le = 1, sz = 10; /* struct virtio_net_hdr */

	/* Fields in little-endian whatever the host (the default on little-endian
	 * hosts, where kernels without cross-endian support refuse the ioctl). */
	if (ioctl(fd, TUNSETVNETLE, &le) < 0 && htons(1) == 1)
		return DP_TUN_NO_VNET;
	if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0)
		return DP_TUN_NO_VNET;
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++)
		if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)tries[i]) == 0)
			return tries[i];
	return 0;
}

struct dp_nl *dp_nl_open(void)
{
	struct dp_nl *nl = calloc(1, sizeof(*nl));

	if (!nl)
		return NULL;
	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->sock || mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		dp_nl_close(nl);
		return NULL;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (unsigned)time(NULL);
	return nl;
}

void dp_nl_close(struct dp_nl *nl)
{
	if (!nl)
		return;
	if (nl->sock)
		mnl_socket_close(nl->sock);
	free(nl);
}

/* Send one request and wait for its acknowledgement; -1 with the kernel's errno. */
static int nl_talk(struct dp_nl *nl, struct nlmsghdr *nlh)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	ssize_t n;
	int rc;

	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++nl->seq;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -1;
	do {
		n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
		if (n < 0)
			return -1;
		rc = mnl_cb_run(buf, (size_t)n, nl->seq, nl->portid, NULL, NULL);
	} while (rc > 0);
	return rc < 0 ? -1 : 0;
}

int dp_nl_link_up(struct dp_nl *nl, unsigned ifindex, unsigned mtu)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = RTM_NEWLINK;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	/* The kernel drops what does not fit the TUN's queue (500 by default);
	 * TCP Small Queues lets one flow have up to 4 MiB queued here. */
	mnl_attr_put_u32(nlh, IFLA_TXQLEN, DP_TUN_TXQLEN);
	return nl_talk(nl, nlh);
}

/* The request for one route change, its sequence number seq; no NLM_F_ACK
 * (the kernel answers an error anyway). */
static struct nlmsghdr *route_msg(void *buf, const struct dp_nl_rt *r, unsigned ifindex,
                                  uint32_t table, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;
	size_t alen = dp_addr_len(r->dst.family);

	nlh->nlmsg_type = r->add ? RTM_NEWROUTE : RTM_DELROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | (r->add ? NLM_F_CREATE | NLM_F_EXCL : 0);
	nlh->nlmsg_seq = seq;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (unsigned char)r->dst.family;
	rtm->rtm_dst_len = r->dst.len;
	rtm->rtm_table = table < 256 ? (unsigned char)table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put(nlh, RTA_DST, alen, r->dst.addr);
	mnl_attr_put_u32(nlh, RTA_OIF, ifindex);
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	if (r->add && r->has_src)
		mnl_attr_put(nlh, RTA_PREFSRC, alen, r->src);
	return nlh;
}

/* The answers to requests first .. first + n - 1 (rt[0 .. n-1]): errors as
 * they come, until the last request's acknowledgement (the kernel handles
 * the messages of one send in order, so nothing of ours follows it). */
static int routes_answers(struct dp_nl *nl, struct dp_nl_rt *rt, size_t n, uint32_t first)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];

	for (;;) {
		ssize_t got = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
		int len = (int)got;
		if (got < 0)
			return -1;
		for (const struct nlmsghdr *h = (const void *)buf; mnl_nlmsg_ok(h, len);
		     h = mnl_nlmsg_next(h, &len)) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
			uint32_t k = h->nlmsg_seq - first;
			if (h->nlmsg_type != NLMSG_ERROR || k >= n ||
			    h->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(*e))
				continue; /* not an answer of ours */
			rt[k].err = -e->error;
			if (k == n - 1)
				return 0;
		}
	}
}

int dp_nl_routes(struct dp_nl *nl, struct dp_nl_rt *rt, size_t n, unsigned ifindex, uint32_t table)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];

	for (size_t i = 0; i < n;) {
		struct nlmsghdr *last = NULL;
		uint32_t first = nl->seq + 1;
		size_t off = 0, j = i;
		/* As many as surely fit: a route request is under 128 octets. */
		for (; j < n && off + 128 <= sizeof(buf); j++) {
			last = route_msg(buf + off, &rt[j], ifindex, table, ++nl->seq);
			rt[j].err = 0;
			off += last->nlmsg_len;
		}
		last->nlmsg_flags |= NLM_F_ACK;
		if (mnl_socket_sendto(nl->sock, buf, off) < 0 ||
		    routes_answers(nl, rt + i, j - i, first) < 0) {
			for (int err = errno; i < n; i++)
				rt[i].err = err;
			return -1;
		}
		i = j;
	}
	return 0;
}

int dp_nl_addr(struct dp_nl *nl, bool add, sa_family_t family, const uint8_t *addr, unsigned plen,
               unsigned ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifaddrmsg *ifa;
	size_t alen = dp_addr_len(family);

	nlh->nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
	nlh->nlmsg_flags = add ? NLM_F_CREATE | NLM_F_REPLACE : 0;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (unsigned char)family;
	ifa->ifa_prefixlen = (unsigned char)plen;
	ifa->ifa_flags = IFA_F_NODAD; /* no peer answers DAD on a TUN link */
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = ifindex;
	mnl_attr_put(nlh, IFA_LOCAL, alen, addr);
	mnl_attr_put(nlh, IFA_ADDRESS, alen, addr);
	return nl_talk(nl, nlh);
}
