/*
 * riked's UDP sockets (see net.h). One socket per (local address, port):
 * the IKE port and the NAT-T port (RFC 7296 2.23), for every configured
 * local address, or the IPv4 and IPv6 wildcards when a connection accepts
 * %any. Datagrams are read with recvmsg() and their destination address
 * taken from IP_PKTINFO / IPV6_PKTINFO; sends name their source the same
 * way, so replies leave from the address the request reached (RFC 7296
 * 2.11) even on a wildcard socket. On the NAT-T port, RFC 3948 2.2 decides
 * what is IKE (non-ESP marker or keepalive) and what is ESP for the data
 * plane.
 */
#include <errno.h>
#include <event2/event.h>
#include <linux/udp.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"
#include "util/sockbuf.h"
#include "util/log.h"
#include "daemon/net.h"
#include "wire/payload.h"

struct net_sock {
	struct net *net;
	struct sockaddr_storage addr; /* bound address and port */
	bool wildcard, natt, keep;
	int fd;
	struct event *ev;
};

struct net {
	struct event_base *base;
	struct net_handlers h;
	void *ctx;
	uint16_t ike_port, natt_port;
	struct net_sock *socks[NET_MAX_SOCKETS];
	size_t n;
	bool udp_encap; /* NAT-T sockets get UDP_ENCAP_ESPINUDP (net_set_udp_encap) */
	uint8_t buf[NET_MAX_DATAGRAM + 1];
};

socklen_t net_sa_len(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return sizeof(struct sockaddr_in);
	if (ss->ss_family == AF_INET6)
		return sizeof(struct sockaddr_in6);
	return 0;
}

uint16_t net_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static bool is_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
	return true;
}

static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return IN6_ARE_ADDR_EQUAL(&((const struct sockaddr_in6 *)a)->sin6_addr,
		                          &((const struct sockaddr_in6 *)b)->sin6_addr);
	return false;
}

static struct sockaddr_storage *wildcard_of(sa_family_t family, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = family;
	return ss;
}

/* ---- receiving ---- */

/* The destination address of a received datagram, from its pktinfo. */
static void local_from_cmsg(const struct net_sock *s, struct msghdr *mh,
                            struct sockaddr_storage *local)
{
	*local = s->addr;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO &&
		    s->addr.ss_family == AF_INET) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			((struct sockaddr_in *)local)->sin_addr = pi.ipi_addr;
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO &&
		           s->addr.ss_family == AF_INET6) {
			struct in6_pktinfo pi;
			struct sockaddr_in6 *l6 = (struct sockaddr_in6 *)local;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			l6->sin6_addr = pi.ipi6_addr;
			l6->sin6_scope_id =
			    IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr) ? pi.ipi6_ifindex : 0;
		}
	}
}

/* RFC 3948 2.1-2.3: IKE (marker or keepalive) to the engine, ESP to the data plane. */
static void deliver(struct net_sock *s, uint8_t *buf, size_t len,
                    const struct sockaddr_storage *local, const struct sockaddr_storage *remote)
{
	struct net *net = s->net;
	const uint8_t *p = buf;
	size_t l = len;

	if (!s->natt) {
		if (net->h.ike)
			net->h.ike(net->ctx, local, remote, buf, len);
		return;
	}
	switch (wire_udp4500_classify(&p, &l)) {
	case 1: /* non-ESP marker: the engine strips it */
	case 2: /* NAT-keepalive: the engine drops it */
		if (net->h.ike)
			net->h.ike(net->ctx, local, remote, buf, len);
		break;
	case 0:
		if (net->h.esp)
			net->h.esp(net->ctx, buf, len, local, remote);
		break;
	default:
		log_ratelimited(LOG_DEBUG, LOG_RL_MALFORMED, (const struct sockaddr *)remote, "net",
		                "runt datagram of %zu octets on the NAT-T port", len);
		break;
	}
}

/* The segment size of a UDP GRO train (the datagrams it holds), or 0. */
static size_t gro_size(struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == IPPROTO_UDP && cm->cmsg_type == UDP_GRO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int v;

			memcpy(&v, CMSG_DATA(cm), sizeof(v));
			return v > 0 ? (size_t)v : 0;
		}
	}
	return 0;
}

/*
 * Reads at most one datagram, or one UDP GRO train of datagrams from one
 * peer, each handled on its own; 1 if one was handled, 0 when drained, -1
 * on error.
 */
static int read_one(struct net_sock *s)
{
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(struct in6_pktinfo)) +
		          CMSG_SPACE(sizeof(struct in_pktinfo)) + CMSG_SPACE(sizeof(int))];
	} ctl;
	struct sockaddr_storage remote, local;
	struct iovec iov = {s->net->buf, sizeof(s->net->buf)};
	struct msghdr mh = {
	    .msg_name = &remote,
	    .msg_namelen = sizeof(remote),
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = ctl.b,
	    .msg_controllen = sizeof(ctl.b),
	};
	ssize_t n;

	memset(&remote, 0, sizeof(remote));
	n = recvmsg(s->fd, &mh, MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	if ((mh.msg_flags & MSG_TRUNC) || (size_t)n > NET_MAX_DATAGRAM ||
	    remote.ss_family != s->addr.ss_family)
		return 1;
	local_from_cmsg(s, &mh, &local);
	size_t seg = gro_size(&mh), len = (size_t)n;
	if (seg == 0 || seg > len)
		seg = len;
	/* The kernel coalesced equal-size datagrams (the last may be shorter). */
	for (size_t off = 0; off < len; off += seg)
		deliver(s, s->net->buf + off, len - off < seg ? len - off : seg, &local, &remote);
	return 1;
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_sock *s = arg;

	(void)fd;
	(void)what;
	/* Bounded, so one busy socket cannot starve the loop. */
	for (unsigned i = 0; i < NET_RX_BATCH; i++) {
		int rc = read_one(s);

		if (rc == 0)
			return;
		if (rc < 0) {
			/* e.g. ICMP errors reported on the socket: not fatal */
			if (errno != EINTR && errno != ECONNREFUSED)
				log_msg(LOG_DEBUG, "net", "recvmsg: %s", strerror(errno));
			return;
		}
	}
}

/* ---- opening and closing ---- */

static int sock_options(int fd, sa_family_t family, bool wildcard, bool reuseport)
{
	int on = 1;

	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0)
		return -1;
	/* Before bind: the data plane's receive sockets join this one's group
	 * after it (dp_udp_steer), so it stays index 0, where IKE goes. */
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0)
		return -1;
	/* Under a flood of IKE_SA_INIT requests (RFC 8019) the default buffer
	 * holds a few milliseconds of them; a real initiator's request must
	 * not be lost whenever the loop is busy elsewhere for longer. */
	sockbuf_set(fd, NET_SOCK_BUF);
	/* Specific addresses may be bound before they are configured. */
	if (!wildcard && setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &on, sizeof(on)) < 0)
		return -1;
	if (family == AF_INET)
		return setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on));
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0)
		return -1;
	return setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on));
}

/* RFC 3948 2.2: with UDP_ENCAP_ESPINUDP the kernel's XFRM takes ESP off the
 * socket; IKE (behind the non-ESP marker) still reaches us. */
static int sock_udp_encap(int fd, bool on)
{
	int type = on ? UDP_ENCAP_ESPINUDP : 0, off = 0;

	/* XFRM's decapsulation wants one datagram per packet. */
	if (on)
		(void)setsockopt(fd, IPPROTO_UDP, UDP_GRO, &off, sizeof(off));
	return setsockopt(fd, IPPROTO_UDP, UDP_ENCAP, &type, sizeof(type));
}

/*
 * Without XFRM (the userspace data plane reads ESP here) the NAT-T socket
 * asks for UDP GRO: a burst of datagrams from one peer arrives as one train
 * (read_one splits it). Only on a socket that never had UDP_ENCAP: once set,
 * even to 0, the kernel treats the socket as an encapsulation socket and
 * cuts every train into datagrams again. Kernels before 5.0 have no UDP_GRO.
 * A socket the data plane steers (dp_udp_steer) has it turned off again:
 * a train would carry several SAs' ESP to one packet worker.
 */
static void sock_udp_gro(int fd)
{
	int on = 1;

	(void)setsockopt(fd, IPPROTO_UDP, UDP_GRO, &on, sizeof(on));
}

static void sock_close(struct net_sock *s)
{
	if (!s)
		return;
	if (s->ev)
		event_free(s->ev);
	/* Index 0 of its reuseport group must not pass to the data plane's. */
	if (s->fd >= 0 && s->natt && s->net->h.natt_closing)
		s->net->h.natt_closing(s->net->ctx, s->fd);
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}

static struct net_sock *sock_open(struct net *net, const struct sockaddr_storage *addr,
                                  uint16_t port)
{
	struct net_sock *s = calloc(1, sizeof(*s));
	char text[64];

	if (!s)
		return NULL;
	s->net = net;
	s->addr = *addr;
	set_port(&s->addr, port);
	s->wildcard = is_wildcard(addr);
	s->natt = port == net->natt_port;
	s->fd = socket(addr->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (s->fd < 0 ||
	    sock_options(s->fd, addr->ss_family, s->wildcard, s->natt && net->h.natt_reuseport) <
	        0 ||
	    (s->natt && net->udp_encap && sock_udp_encap(s->fd, true) < 0) ||
	    bind(s->fd, (const struct sockaddr *)&s->addr, net_sa_len(&s->addr)) < 0)
		goto fail;
	if (s->natt && !net->udp_encap)
		sock_udp_gro(s->fd);
	s->ev = event_new(net->base, s->fd, EV_READ | EV_PERSIST, read_cb, s);
	if (!s->ev || event_add(s->ev, NULL) < 0)
		goto fail;
	cfg_addr_format(addr, text, sizeof(text));
	log_msg(LOG_INFO, "net", "listening on %s port %u%s", s->wildcard ? "*" : text, port,
	        addr->ss_family == AF_INET6 ? " (IPv6)" : "");
	return s;
fail:
	cfg_addr_format(addr, text, sizeof(text));
	log_msg(addr->ss_family == AF_INET6 && s->wildcard ? LOG_NOTICE : LOG_WARNING, "net",
	        "cannot listen on %s%s port %u: %s", s->wildcard ? "*" : text,
	        addr->ss_family == AF_INET6 ? " (IPv6)" : "", port, strerror(errno));
	sock_close(s);
	return NULL;
}

static struct net_sock *sock_find(struct net *net, const struct sockaddr_storage *addr,
                                  uint16_t port)
{
	for (size_t i = 0; i < net->n; i++) {
		struct net_sock *s = net->socks[i];

		if (net_port(&s->addr) == port && s->wildcard == is_wildcard(addr) &&
		    s->addr.ss_family == addr->ss_family &&
		    (s->wildcard || same_host(&s->addr, addr)))
			return s;
	}
	return NULL;
}

/* Make sure sockets for `addr` on both ports exist and are marked to keep. */
static void want_addr(struct net *net, const struct sockaddr_storage *addr)
{
	const uint16_t ports[2] = {net->ike_port, net->natt_port};

	for (size_t i = 0; i < 2; i++) {
		struct net_sock *s = sock_find(net, addr, ports[i]);

		if (!s && net->n < NET_MAX_SOCKETS) {
			s = sock_open(net, addr, ports[i]);
			if (s)
				net->socks[net->n++] = s;
		} else if (!s) {
			log_msg(LOG_WARNING, "net",
			        "more than %d sockets wanted; some addresses "
			        "are not served",
			        NET_MAX_SOCKETS);
		}
		if (s)
			s->keep = true;
	}
}

int net_sync(struct net *net, const struct cfg *cfg)
{
	struct sockaddr_storage any;
	bool wild = cfg->nconns == 0;
	size_t kept = 0;

	for (size_t i = 0; i < net->n; i++)
		net->socks[i]->keep = false;
	for (size_t i = 0; i < cfg->nconns; i++) {
		const struct sockaddr_storage *l = &cfg->conns[i].local;

		if (l->ss_family != AF_INET && l->ss_family != AF_INET6)
			wild = true;
		else
			want_addr(net, l);
	}
	if (wild) {
		wildcard_of(AF_INET, &any);
		want_addr(net, &any);
		wildcard_of(AF_INET6, &any);
		want_addr(net, &any);
	}
	for (size_t i = 0; i < net->n; i++) {
		if (net->socks[i]->keep)
			net->socks[kept++] = net->socks[i];
		else
			sock_close(net->socks[i]);
	}
	net->n = kept;
	if (kept == 0) {
		log_msg(LOG_ERR, "net", "no UDP socket could be opened");
		errno = EADDRNOTAVAIL;
		return -1;
	}
	return 0;
}

struct net *net_new(struct event_base *base, const struct cfg *cfg, const struct net_handlers *h,
                    void *ctx)
{
	struct net *net = calloc(1, sizeof(*net));

	if (!net)
		return NULL;
	net->base = base;
	net->h = *h;
	net->ctx = ctx;
	net->ike_port = cfg->ike_port;
	net->natt_port = cfg->natt_port;
	if (net_sync(net, cfg) < 0) {
		net_free(net);
		return NULL;
	}
	return net;
}

void net_free(struct net *net)
{
	if (!net)
		return;
	for (size_t i = 0; i < net->n; i++)
		sock_close(net->socks[i]);
	free(net);
}

/* ---- sending ---- */

/* The socket to send from: the one bound to `from`, else the wildcard. */
static struct net_sock *sock_for_send(struct net *net, sa_family_t family,
                                      const struct sockaddr_storage *from, uint16_t port)
{
	struct sockaddr_storage any;
	struct net_sock *s = NULL;

	if (from->ss_family == family && !is_wildcard(from)) {
		s = sock_find(net, from, port);
		return s ? s : sock_find(net, wildcard_of(family, &any), port);
	}
	/* No source given: the wildcard socket, else any of this family and port. */
	s = sock_find(net, wildcard_of(family, &any), port);
	for (size_t i = 0; !s && i < net->n; i++)
		if (net->socks[i]->addr.ss_family == family &&
		    net_port(&net->socks[i]->addr) == port)
			s = net->socks[i];
	return s;
}

/* IP_PKTINFO / IPV6_PKTINFO naming the source address (none for the wildcard). */
static void set_source(struct msghdr *mh, struct cmsghdr *cm, const struct sockaddr_storage *from)
{
	if (is_wildcard(from))
		return;
	if (from->ss_family == AF_INET) {
		struct in_pktinfo pi = {.ipi_spec_dst =
		                            ((const struct sockaddr_in *)from)->sin_addr};

		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		mh->msg_controllen = CMSG_SPACE(sizeof(pi));
	} else {
		const struct sockaddr_in6 *f6 = (const struct sockaddr_in6 *)from;
		struct in6_pktinfo pi = {.ipi6_addr = f6->sin6_addr,
		                         .ipi6_ifindex = f6->sin6_scope_id};

		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		mh->msg_controllen = CMSG_SPACE(sizeof(pi));
	}
	mh->msg_control = cm;
}

int net_send(struct net *net, const struct sockaddr_storage *from,
             const struct sockaddr_storage *to, const uint8_t *buf, size_t len)
{
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} ctl;
	struct iovec iov = {(void *)buf, len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	uint16_t port = net_port(from);
	struct net_sock *s;

	if (to->ss_family != AF_INET && to->ss_family != AF_INET6) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	if (port == 0)
		port = net_port(to) == net->natt_port ? net->natt_port : net->ike_port;
	s = sock_for_send(net, to->ss_family, from, port);
	if (!s) {
		errno = EADDRNOTAVAIL;
		return -1;
	}
	memset(&ctl, 0, sizeof(ctl));
	mh.msg_name = (void *)to;
	mh.msg_namelen = net_sa_len(to);
	if (s->wildcard && from->ss_family == to->ss_family)
		set_source(&mh, &ctl.align, from);
	if (sendmsg(s->fd, &mh, MSG_DONTWAIT) < 0)
		return -1;
	return 0;
}

int net_natt_fd(const struct net *net, sa_family_t family)
{
	int fd = -1;

	for (size_t i = 0; i < net->n; i++) {
		const struct net_sock *s = net->socks[i];

		if (!s->natt || s->addr.ss_family != family)
			continue;
		if (s->wildcard)
			return s->fd;
		if (fd < 0)
			fd = s->fd;
	}
	return fd;
}

size_t net_natt_fds(const struct net *net, int *fds, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < net->n; i++)
		if (net->socks[i]->natt) {
			if (n < max)
				fds[n] = net->socks[i]->fd;
			n++;
		}
	return n;
}

size_t net_nsockets(const struct net *net)
{
	return net->n;
}

int net_set_udp_encap(struct net *net, bool on)
{
	net->udp_encap = on;
	for (size_t i = 0; i < net->n; i++)
		if (net->socks[i]->natt && sock_udp_encap(net->socks[i]->fd, on) < 0)
			return -1;
	return 0;
}
