/*
 * The userspace backend's packet path on one thread (the loop's when
 * single-threaded, else a packet worker's, us_worker.c): outbound (RFC 4301
 * 5.1) a TUN read, cut into MTU-sized packets (gso.c), SPD lookup -> SA ->
 * ESP -> UDP, sent as UDP GSO trains or with sendmmsg; inbound (5.2) UDP ->
 * SA by SPI -> ESP -> selector check -> TUN, TCP segments of one flow
 * coalesced into one write. Lifetimes in bytes and packets (4.4.2.1) are
 * counted here; packets never allocate.
 */
#include "dataplane/us.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Count a packet against the SA and enforce its lifetime (RFC 4301 4.4.2.1). */
static void us_count(struct us_worker *w, struct us_sa *sa, size_t bytes)
{
	struct us_life *life = us_sa_life(sa);
	const struct dp_lifetime *l = life ? &life->lim : NULL;
	struct us_ctr *c = &sa->ctr;

	c->bytes += bytes;
	c->packets++;
	c->last_used = w->now;
	if (!l)
		return;
	if ((l->hard_bytes && c->bytes >= l->hard_bytes) ||
	    (l->hard_packets && c->packets >= l->hard_packets)) {
		us_expire_post(w, sa, true,
		               l->hard_bytes && c->bytes >= l->hard_bytes ? DP_EXPIRE_BYTES
		                                                          : DP_EXPIRE_PACKETS);
	} else if (l->soft_bytes && c->bytes >= l->soft_bytes) {
		us_expire_post(w, sa, false, DP_EXPIRE_BYTES);
	} else if (l->soft_packets && c->packets >= l->soft_packets) {
		us_expire_post(w, sa, false, DP_EXPIRE_PACKETS);
	}
}

/* Fill message slot i to send b to the SA's peer from the SA's source address. */
static void us_msg(struct us_worker *w, size_t i, struct dp_buf *b, struct us_sa *sa, int fd)
{
	struct msghdr *m = &w->msgs[i].msg_hdr;
	static const uint8_t any6[16];
	struct cmsghdr *cm = (struct cmsghdr *)w->cmsg[i];

	w->iov[i] = (struct iovec){dp_buf_data(b), b->len};
	w->msg_fd[i] = fd;
	w->msg_sa[i] = sa;
	memcpy(&w->msg_dst[i], &sa->dst, sizeof(sa->dst));
	m->msg_name = &w->msg_dst[i];
	m->msg_namelen = sa->dst.sa.sa_family == AF_INET ? sizeof(struct sockaddr_in)
	                                                 : sizeof(struct sockaddr_in6);
	m->msg_iov = &w->iov[i];
	m->msg_iovlen = 1;
	m->msg_control = NULL;
	m->msg_controllen = 0;
	if (sa->src.sa.sa_family == AF_INET) {
		const struct sockaddr_in *s = &sa->src.sin;
		if (s->sin_addr.s_addr == INADDR_ANY)
			return;
		m->msg_control = cm;
		m->msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
		struct in_pktinfo pi = {.ipi_spec_dst = s->sin_addr};
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	} else {
		const struct sockaddr_in6 *s = &sa->src.sin6;
		if (!memcmp(s->sin6_addr.s6_addr, any6, 16))
			return;
		m->msg_control = cm;
		m->msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
		struct in6_pktinfo pi = {.ipi6_addr = s->sin6_addr};
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	}
}

/*
 * The kernel refused an ESP datagram: ENETUNREACH, or EADDRNOTAVAIL or
 * EINVAL once the SA's source address is gone (RFC 4555 3.5: until the
 * SA moves). Counted per SA and in drop_send; one line per SA per second
 * at most, and US_SEND_LOGS a second in all, each with the count since.
 */
static void us_send_fail(struct us_worker *w, struct us_sa *sa, int err)
{
	char dst[INET6_ADDRSTRLEN];
	const void *a = sa->dst.sa.sa_family == AF_INET ? (const void *)&sa->dst.sin.sin_addr
	                                                : (const void *)&sa->dst.sin6.sin6_addr;
	unsigned long long unlogged, all;

	US_ADD(w->st->drop_send, 1);
	us_sa_lock(sa);
	sa->ctr.send_drops++;
	sa->send_unlogged++;
	if (w->send_log_sec != w->now) {
		w->send_log_sec = w->now;
		w->send_logs = 0;
	}
	if (sa->send_log_sec == w->now || w->send_logs >= US_SEND_LOGS) {
		us_sa_unlock(sa);
		return;
	}
	w->send_logs++;
	sa->send_log_sec = w->now;
	unlogged = sa->send_unlogged;
	all = sa->ctr.send_drops;
	sa->send_unlogged = 0;
	us_sa_unlock(sa);
	if (!inet_ntop(sa->dst.sa.sa_family, a, dst, sizeof(dst)))
		snprintf(dst, sizeof(dst), "?");
	us_wlog(w, DP_LOG_WARN,
	        "dp: reqid=%u spi=0x%08x: ESP to %s not sent: %s (%llu dropped, %llu in all)",
	        sa->reqid, sa->spi, dst, strerror(err), unlogged, all);
}

/* RFC 4301 5.1: SPD lookup, SA, ESP; 0 when slot i is ready to send. */
int us_out_one(struct us_worker *w, struct dp_buf *b, size_t i)
{
	struct us *us = w->us;
	struct dp_stats *st = w->st;
	enum dp_esp_result rc;
	struct dp_flow f;
	struct us_policy *p;
	struct us_sa *sa;
	size_t inner;
	int fd;

	if (dp_flow_parse(dp_buf_data(b), b->len, &f))
		return US_ADD(st->drop_malformed, 1), -1;
	b->len = inner = f.iplen;
	p = us_spd_lookup(us, &f);
	if (!p)
		return US_ADD(st->drop_no_policy, 1), -1;
	sa = p->sa;
	if (!sa) {
		us_acquire(w, p, &f);
		return US_ADD(st->drop_no_sa, 1), -1;
	}
	if (US_LOAD(sa->dead)) /* a worker's hard expiry the loop has not relinked yet */
		return US_ADD(st->drop_expired, 1), -1;
	if (us->threaded && sa->worker != w->id && !w->in_hq)
		return us_handover(w, &us->w[sa->worker], b), -1;
	fd = sa->dst.sa.sa_family == AF_INET ? us->udp4 : us->udp6;
	if (fd < 0) {
		us_send_fail(w, sa, EAFNOSUPPORT); /* no NAT-T socket of that family */
		return -1;
	}
	/* RFC 4303 3.3.3: one counter per SA, whichever thread sends. */
	us_sa_lock(sa);
	rc = dp_esp_encap(&sa->esp, b, f.family == AF_INET ? DP_ESP_NH_IPV4 : DP_ESP_NH_IPV6);
	if (rc == DP_ESP_OK) {
		if (!sa->esp.esn && sa->esp.seq >= US_SEQ_SOFT)
			us_expire_post(w, sa, false, DP_EXPIRE_SEQ);
		us_count(w, sa, inner);
	}
	us_sa_unlock(sa);
	switch (rc) {
	case DP_ESP_OK:
		break;
	case DP_ESP_SEQ_OVERFLOW:
		us_expire_post(w, sa, true, DP_EXPIRE_SEQ);
		return US_ADD(st->drop_expired, 1), -1;
	default:
		return US_ADD(st->drop_io, 1), -1;
	}
	US_ADD(st->tx_packets, 1);
	US_ADD(st->tx_bytes, inner);
	us_msg(w, i, b, sa, fd);
	return 0;
}

/* Slots a and b go out through the same socket, to the same peer, from the same address. */
static bool us_same_path(const struct us_worker *w, size_t a, size_t b)
{
	const struct msghdr *x = &w->msgs[a].msg_hdr, *y = &w->msgs[b].msg_hdr;

	return w->msg_fd[a] == w->msg_fd[b] && x->msg_namelen == y->msg_namelen &&
	       !memcmp(x->msg_name, y->msg_name, x->msg_namelen) &&
	       x->msg_controllen == y->msg_controllen &&
	       (!x->msg_controllen || !memcmp(x->msg_control, y->msg_control, x->msg_controllen));
}

/*
 * The end of the run of slots from i that one UDP GSO send can carry
 * (Linux UDP_SEGMENT): same path, equal sizes but for a shorter last one.
 */
static size_t us_gso_run(const struct us_worker *w, size_t i, size_t n)
{
	size_t seg = w->iov[i].iov_len, total = seg, j = i + 1;

	while (j < n && us_same_path(w, i, j) && w->iov[j].iov_len <= seg &&
	       total + w->iov[j].iov_len <= US_GSO_MAX_BYTES) {
		total += w->iov[j].iov_len;
		if (w->iov[j++].iov_len < seg)
			break;
	}
	return j;
}

/*
 * Send slots i..j-1 as one UDP GSO datagram train (the kernel cuts it into
 * the same datagrams; RFC 3948 framing is unchanged). 1 if sent, 0 if the
 * caller should send them one by one, -1 on other errors.
 */
static int us_send_gso(struct us_worker *w, size_t i, size_t j)
{
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t))];
	} ctl;
	struct msghdr m = w->msgs[i].msg_hdr;
	uint16_t seg = (uint16_t)w->iov[i].iov_len;
	struct cmsghdr *cm;

	memset(&ctl, 0, sizeof(ctl));
	if (m.msg_controllen)
		memcpy(ctl.b, m.msg_control, m.msg_controllen);
	cm = (struct cmsghdr *)(ctl.b + m.msg_controllen);
	cm->cmsg_level = SOL_UDP;
	cm->cmsg_type = UDP_SEGMENT;
	cm->cmsg_len = CMSG_LEN(sizeof(seg));
	memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
	m.msg_control = ctl.b;
	m.msg_controllen += CMSG_SPACE(sizeof(seg));
	m.msg_iov = &w->iov[i];
	m.msg_iovlen = j - i;
	while (sendmsg(w->msg_fd[i], &m, 0) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EMSGSIZE || errno == EINVAL) /* a datagram over the path MTU */
			return 0;
		if (errno == EIO || errno == ENOPROTOOPT || errno == EOPNOTSUPP) {
			w->no_gso = true; /* e.g. no checksum offload on the route's device */
			return 0;
		}
		return -1;
	}
	return 1;
}

/* Send slots i..j-1 (one socket) with sendmmsg, skipping any that fail. */
static void us_send_each(struct us_worker *w, size_t i, size_t j)
{
	while (i < j) {
		int r = sendmmsg(w->msg_fd[i], &w->msgs[i], (unsigned)(j - i), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			us_send_fail(w, w->msg_sa[i], r < 0 ? errno : EIO); /* and skip it */
			i++;
			continue;
		}
		i += (size_t)r;
	}
}

/*
 * Send n prepared messages: a run of datagrams on one path as one UDP GSO
 * train, the others with sendmmsg (up to the next train or socket change).
 */
void us_flush(struct us_worker *w, size_t n)
{
	size_t i = 0, j;

	while (i < n) {
		j = w->no_gso ? i + 1 : us_gso_run(w, i, n);
		if (j - i > 1) {
			int rc = us_send_gso(w, i, j), err = errno;
			for (size_t k = i; rc < 0 && k < j; k++)
				us_send_fail(w, w->msg_sa[k], err);
			if (rc != 0) {
				i = j;
				continue;
			}
		}
		j = i + 1;
		while (j < n && w->msg_fd[j] == w->msg_fd[i] &&
		       (w->no_gso || us_gso_run(w, j, n) == j + 1))
			j++;
		us_send_each(w, i, j);
		i = j;
	}
}

/*
 * Cut one TUN read (w->tbuf, r octets) into IP packets (segmentation of a
 * TSO/USO super-packet, or the packet itself with its checksum completed)
 * and encapsulate each into the next slot from n, flushing when the slots
 * run out; returns the slots in use.
 */
static size_t us_out_read(struct us_worker *w, size_t r, size_t n)
{
	struct dp_vnet h = {0};
	const uint8_t *pkt = w->tbuf;
	struct dp_gso g;

	if (w->us->vnet) {
		if (r < DP_VNET_HDR_LEN)
			return US_ADD(w->st->drop_malformed, 1), n;
		dp_vnet_get(w->tbuf, &h);
		pkt += DP_VNET_HDR_LEN;
		r -= DP_VNET_HDR_LEN;
	}
	if (dp_gso_start(&g, &h, pkt, r))
		return US_ADD(w->st->drop_malformed, 1), n;
	for (;;) {
		struct dp_buf *b;
		size_t len;
		int rc;

		if (n == US_BATCH) {
			us_flush(w, n);
			n = 0;
		}
		b = &w->bufs[n];
		b->off = US_HEADROOM;
		b->len = 0;
		rc = dp_gso_next(&g, dp_buf_data(b), b->cap - b->off - DP_ESP_MAX_TAILROOM, &len);
		if (rc <= 0) {
			if (rc < 0)
				US_ADD(w->st->drop_malformed, 1);
			return n;
		}
		b->len = len;
		if (us_out_one(w, b, n) == 0)
			n++;
	}
}

void us_tun_cb(evutil_socket_t fd, short what, void *arg)
{
	struct us_worker *w = arg;
	size_t n = 0;

	w->now = us_now();
	us_rdlock(w->us); /* until the batch is sent: msg_sa[] borrow SAs */
	for (int reads = 0; reads < US_TUN_READS; reads++) {
		ssize_t r = read(w->tun_fd, w->tbuf, US_TBUF_CAP);
		if (r <= 0) {
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				US_ADD(w->st->drop_io, 1);
			break;
		}
		n = us_out_read(w, (size_t)r, n);
	}
	us_flush(w, n);
	us_unlock(w->us);
}

/*
 * Write what the coalescer holds to TUN (one packet, or a TCP super-packet).
 * Should the kernel refuse a super-packet (EINVAL: a virtio-net header it
 * does not take), its segments are counted as lost and coalescing stops.
 */
void us_gro_flush(struct us_worker *w)
{
	unsigned nseg = w->gro.nseg;
	size_t n = dp_gro_finish(&w->gro);

	if (!n || write(w->tun_fd, w->gbuf, n) == (ssize_t)n)
		return;
	US_ADD(w->st->drop_io, nseg);
	if (nseg > 1 && errno == EINVAL && !w->no_gro) {
		w->no_gro = true;
		us_wlog(w, DP_LOG_WARN,
		        "dp: TUN refused a coalesced TCP packet (%s): "
		        "writing packets one by one from now on",
		        strerror(errno));
	}
}

void us_rx_cb(evutil_socket_t fd, short what, void *arg)
{
	us_gro_flush(arg);
}

/*
 * Hand an inbound inner packet to TUN: with the virtio-net header, TCP
 * segments of one flow are coalesced until the burst ends (rx_ev, run by
 * the loop after the input callbacks) and written as one; everything else
 * is written at once, after what is held, so nothing is reordered.
 */
static void us_tun_write(struct us_worker *w, const uint8_t *p, size_t len)
{
	uint8_t hdr[DP_VNET_HDR_LEN];
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)p, len}};
	int rc;

	if (!w->us->vnet) {
		if (write(w->tun_fd, p, len) != (ssize_t)len)
			US_ADD(w->st->drop_io, 1);
		return;
	}
	rc = w->no_gro ? -1 : dp_gro_add(&w->gro, p, len);
	if (rc == 0) {
		us_gro_flush(w);
		rc = dp_gro_add(&w->gro, p, len);
	}
	if (rc > 0) {
		/* A worker writes what is held when its batch ends (us_ring_cb). */
		if (w->rx_ev && !event_pending(w->rx_ev, EV_TIMEOUT, NULL))
			event_active(w->rx_ev, EV_TIMEOUT, 0);
		return;
	}
	us_gro_flush(w);
	/* Authenticated by ESP: the kernel need not verify the inner checksums. */
	dp_vnet_put(hdr, &(struct dp_vnet){.flags = DP_VNET_F_DATA_VALID});
	if (writev(w->tun_fd, iov, 2) != (ssize_t)(sizeof(hdr) + len))
		US_ADD(w->st->drop_io, 1);
}

/* RFC 4301 5.2 step 4: the inner packet must match the SA's selectors. */
static bool us_sa_selects(const struct us_sa *sa, const struct dp_flow *f)
{
	bool src = sa->n_remote == 0, dst = sa->n_local == 0; /* none = any */
	struct dp_ts tmp;

	for (size_t i = 0; i < sa->n_remote && !src; i++)
		src = dp_ts_match_flow(us_sa_ts(sa, sa->n_local + i, &tmp), f, true);
	for (size_t i = 0; i < sa->n_local && !dst; i++)
		dst = dp_ts_match_flow(us_sa_ts(sa, i, &tmp), f, false);
	return src && dst;
}

/* An authentic inner packet of sa (under its lock): selectors (RFC 4301 5.2)
 * and counters; true when it is to be written to TUN. */
static bool us_deliver(struct us_worker *w, struct us_sa *sa, struct dp_buf *b, uint8_t nh)
{
	struct dp_stats *st = w->st;
	struct dp_flow f;

	if ((nh != DP_ESP_NH_IPV4 && nh != DP_ESP_NH_IPV6) ||
	    dp_flow_parse(dp_buf_data(b), b->len, &f) ||
	    (nh == DP_ESP_NH_IPV4) != (f.family == AF_INET)) {
		US_ADD(st->drop_malformed, 1);
		return false;
	}
	if (!us_sa_selects(sa, &f)) {
		sa->ctr.selector_drops++;
		US_ADD(st->drop_selector, 1);
		return false;
	}
	b->len = f.iplen; /* drop TFC padding (RFC 4303 2.4) */
	us_count(w, sa, b->len);
	US_ADD(st->rx_packets, 1);
	US_ADD(st->rx_bytes, b->len);
	return true;
}

/* RFC 4301 5.2: one ESP datagram on worker w (the loop's when single-threaded).
 * from: its sender, or NULL when the loop handed it over (us_dispatch, which
 * has reported an unknown SPI already). */
void us_in_one(struct us_worker *w, uint8_t *buf, size_t len, const struct sockaddr_storage *from)
{
	struct us *us = w->us;
	struct dp_stats *st = w->st;
	struct dp_buf b = {.base = buf, .cap = len, .off = 0, .len = len};
	enum dp_esp_result rc;
	bool deliver = false;
	struct us_sa *sa;
	uint32_t spi;
	uint64_t seq;
	uint8_t nh;

	if (dp_esp_peek_spi(buf, len, &spi)) {
		US_ADD(st->drop_malformed, 1);
		return;
	}
	sa = us_sa_in(us, spi);
	if (!sa) { /* threaded: deleted since us_dispatch saw it, or steered here */
		US_ADD(st->drop_unknown_spi, 1);
		if (!us->threaded)
			us_report_unknown(us, spi, from);
		else if (from)
			us_unknown_post(w, spi, from);
		return;
	}
	/* Steered by the kernel (us_steer.c) to a worker that does not own the
	 * SA: only a UDP GRO train of several SAs' datagrams should do that. It
	 * is worked here all the same: the SA's lock keeps its window whole. */
	if (us->threaded && from && sa->worker != w->id)
		US_ADD(st->steer_misses, 1);
	if (US_LOAD(sa->dead)) {
		US_ADD(st->drop_expired, 1);
		return;
	}
	us_sa_lock(sa); /* RFC 4303 3.4.3: check, verify, update as one */
	rc = dp_esp_decap(&sa->esp, &b, &nh, &seq);
	switch (rc) {
	case DP_ESP_OK:
		deliver = us_deliver(w, sa, &b, nh);
		break;
	case DP_ESP_REPLAY:
		sa->ctr.replay_drops++;
		US_ADD(st->drop_replay, 1);
		break;
	case DP_ESP_AUTH:
		sa->ctr.auth_drops++;
		US_ADD(st->drop_auth, 1);
		break;
	case DP_ESP_DUMMY:
		US_ADD(st->dummy_packets, 1);
		break;
	default:
		US_ADD(st->drop_malformed, 1);
		break;
	}
	us_sa_unlock(sa);
	if (deliver)
		us_tun_write(w, dp_buf_data(&b), b.len);
}

void us_input_udp(void *be, uint8_t *buf, size_t len, const struct sockaddr_storage *from,
                  const struct sockaddr_storage *to)
{
	struct us *us = be;

	us->now = us_now();
	if (us->threaded) {
		us_dispatch(us, buf, len, from);
		return;
	}
	us->w[0].now = us->now;
	us_in_one(&us->w[0], buf, len, from);
}
