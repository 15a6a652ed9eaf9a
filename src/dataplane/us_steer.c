/*
 * The userspace backend's receive steering (issue 13): with packet
 * workers each reads the UDP-encapsulated ESP (RFC 3948) of the SAs it
 * owns from sockets of its own, so that the event loop no longer copies
 * every datagram into a worker's ring. For each of the daemon's NAT-T
 * sockets (bound first, with SO_REUSEPORT: index 0 of its reuseport
 * group) every worker gets a socket in the same group (index 1 + its
 * number), and steer.h's classic BPF program makes the kernel send IKE
 * and NAT-keepalives to the daemon's socket, ESP to worker (SPI mod N).
 * The SPI decides the worker, so the engine draws our inbound SPIs with
 * the residue us_spi_residue names and us_sa_add puts each inbound SA on
 * worker (SPI mod N): steering and ownership agree by construction
 * (RFC 4303 3.4.3: one thread keeps an SA's replay window in order).
 * Where steering cannot be set up the loop still receives ESP and hands
 * it over (us_dispatch).
 */
#include "dataplane/us.h"
#include "dataplane/steer.h"
#include "util/sockbuf.h"

#include <errno.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool us_steers(const void *be)
{
	return ((const struct us *)be)->threaded;
}

/* A worker: the ESP datagrams on one of its sockets, in batches. */
void us_sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct us_worker *w = arg;
	struct us *us = w->us;
	size_t slot = us->ring_slot;

	for (unsigned r = 0; r < US_RX_READS; r++) {
		for (unsigned k = 0; k < US_RX_BATCH; k++) {
			w->riov[k] = (struct iovec){w->rx + (size_t)k * slot, slot};
			w->rmsgs[k].msg_hdr = (struct msghdr){
			    .msg_name = &w->rfrom[k],
			    .msg_namelen = sizeof(w->rfrom[k]),
			    .msg_iov = &w->riov[k],
			    .msg_iovlen = 1,
			};
		}
		int n = recvmmsg(fd, w->rmsgs, US_RX_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return; /* drained (or an ICMP error reported on the socket) */
		w->now = us_now();
		us_rdlock(us);
		for (int k = 0; k < n; k++) {
			if (w->rmsgs[k].msg_hdr.msg_flags & MSG_TRUNC) {
				US_ADD(w->st->drop_io,
				       1); /* beyond any MTU we use, as us_dispatch */
				continue;
			}
			US_ADD(w->st->rx_steered, 1);
			us_in_one(w, w->rx + (size_t)k * slot, w->rmsgs[k].msg_len, &w->rfrom[k]);
		}
		us_gro_flush(w);
		us_unlock(us);
		if (n < US_RX_BATCH)
			return;
	}
}

/* The workers' events for the groups' sockets go (workers stopped). */
static void us_steer_events_free(struct us *us)
{
	for (unsigned i = 0; i < us->nw; i++) {
		struct us_worker *w = &us->w[i];
		for (unsigned k = 0; w->sock_ev && k < us->nsteer; k++)
			if (w->sock_ev[k])
				event_free(w->sock_ev[k]);
		free(w->sock_ev);
		w->sock_ev = NULL;
	}
}

/* Group k's worker sockets are closed (their queued datagrams with them). */
static void us_steer_close(struct us *us, struct us_steer *g)
{
	for (unsigned i = 0; g->wfd && i < us->nw; i++)
		if (g->wfd[i] >= 0)
			close(g->wfd[i]);
	free(g->wfd);
	g->wfd = NULL;
}

/* Every group goes (workers stopped). */
void us_steer_free(struct us *us)
{
	us_steer_events_free(us);
	for (unsigned k = 0; k < us->nsteer; k++)
		us_steer_close(us, &us->steer[k]);
	free(us->steer);
	us->steer = NULL;
	us->nsteer = 0;
}

/* One socket per worker in fd's group, then the program; -1 (errno)
 * leaves nothing behind: ESP on fd then reaches the loop. */
static int us_steer_open(struct us *us, struct us_steer *g, int fd)
{
	int saved;

	g->fd = fd;
	g->wfd = malloc(us->nw * sizeof(*g->wfd));
	if (!g->wfd)
		return -1;
	for (unsigned i = 0; i < us->nw; i++)
		g->wfd[i] = -1;
	for (unsigned i = 0; i < us->nw; i++) {
		g->wfd[i] = dp_steer_socket(fd);
		if (g->wfd[i] < 0)
			goto fail;
		/* A TCP burst must not overflow them (see us_set_udp_socket). */
		sockbuf_set(g->wfd[i], US_SOCK_BUF);
	}
	if (dp_steer_attach(fd, us->nw))
		goto fail;
	/* No UDP GRO on the daemon's socket (the workers' never ask for it):
	 * the kernel picks the socket whose GRO setting counts by a hash of
	 * the addresses, without the program, then runs the program once for
	 * a whole train, and one peer's Child SAs share the addresses. A train
	 * of several SAs' ESP would reach one worker (each read so counts as a
	 * steer_miss: two threads on one SA reorder it). */
	int off = 0;
	(void)setsockopt(fd, IPPROTO_UDP, UDP_GRO, &off, sizeof(off));
	return 0;
fail:
	saved = errno;
	us_steer_close(us, g);
	errno = saved;
	return -1;
}

/* Each worker's events for its sockets, on its own base (workers stopped). */
static int us_steer_events(struct us *us)
{
	for (unsigned i = 0; i < us->nw; i++) {
		struct us_worker *w = &us->w[i];
		if (!w->rx && us->nsteer) {
			w->rx = malloc((size_t)US_RX_BATCH * us->ring_slot);
			if (!w->rx)
				return -1;
		}
		w->sock_ev = calloc(us->nsteer ? us->nsteer : 1, sizeof(*w->sock_ev));
		if (!w->sock_ev)
			return -1;
		for (unsigned k = 0; k < us->nsteer; k++) {
			w->sock_ev[k] = event_new(w->base, us->steer[k].wfd[i],
			                          EV_READ | EV_PERSIST, us_sock_cb, w);
			if (!w->sock_ev[k] || event_add(w->sock_ev[k], NULL))
				return -1;
		}
	}
	return 0;
}

static bool us_fd_in(int fd, const int *fds, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (fds[k] == fd)
			return true;
	return false;
}

/* Is the set of steered sockets already fds (n of them, at most US_MAX_STEER)? */
static bool us_steer_same(const struct us *us, const int *fds, size_t n)
{
	if (us->nsteer != n)
		return false;
	for (unsigned k = 0; k < us->nsteer; k++)
		if (!us_fd_in(us->steer[k].fd, fds, n))
			return false;
	return true;
}

/* The groups become those of fds (workers stopped): the groups of sockets
 * still there stay as they are (their queues with them); how many of fds
 * could not be steered. */
static unsigned us_steer_apply(struct us *us, const int *fds, size_t n, int *err)
{
	struct us_steer *ng = calloc(n ? n : 1, sizeof(*ng));
	unsigned nn = 0, bad = 0;

	us_steer_events_free(us);
	if (!ng) {
		*err = errno;
		us_steer_free(us);
		return (unsigned)n;
	}
	for (unsigned k = 0; k < us->nsteer; k++) {
		if (us_fd_in(us->steer[k].fd, fds, n))
			ng[nn++] = us->steer[k];
		else
			us_steer_close(us, &us->steer[k]);
	}
	for (size_t k = 0; k < n; k++) {
		bool have = false;
		for (unsigned j = 0; j < nn && !have; j++)
			have = ng[j].fd == fds[k];
		if (have)
			continue;
		if (us_steer_open(us, &ng[nn], fds[k]) == 0) {
			nn++;
			continue;
		}
		*err = errno;
		bad++;
	}
	free(us->steer);
	us->steer = ng;
	us->nsteer = nn;
	if (us_steer_events(us)) {
		*err = errno;
		bad = (unsigned)n;
		us_steer_free(us);
	}
	return bad;
}

/*
 * dp_udp_steer: the workers' sockets follow the daemon's set. When it
 * changes the worker threads stop meanwhile (their event bases are theirs
 * alone; this runs at start and when the daemon's sockets change, not per
 * packet); ESP queued in their rings waits and is worked after.
 */
int us_udp_steer(void *be, const int *fds, size_t n)
{
	struct us *us = be;
	unsigned bad = 0;
	int err = 0;

	if (!us->threaded) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (n > US_MAX_STEER) {
		err = E2BIG;
		bad = (unsigned)(n - US_MAX_STEER);
		n = US_MAX_STEER;
	}
	if (!bad && us_steer_same(us, fds, n))
		return 0;
	us_workers_stop(us);
	bad += us_steer_apply(us, fds, n, &err);
	if (us_workers_start(us)) {
		dp_log(us->dp, DP_LOG_ERR, "dp: cannot restart the packet workers: %s",
		       strerror(errno));
		return -1;
	}
	/* A worker that stopped took its wake-up with it: what its ring or
	 * hand-over queue got meanwhile is worked now, not at the next one. */
	for (unsigned i = 0; i < us->nw; i++) {
		uint64_t one = 1;
		if (write(us->w[i].efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			us->c->stats.drop_io++; /* cannot happen on an eventfd */
	}
	if (bad && !us->steer_logged) {
		/* Once: the event loop receives that ESP and hands it over
		 * (rx_via_loop counts it). */
		us->steer_logged = true;
		dp_log(us->dp, DP_LOG_WARN,
		       "dp: %u NAT-T socket%s not steered to the packet workers (%s): "
		       "their ESP goes through the event loop",
		       bad, bad == 1 ? "" : "s", strerror(err));
	}
	dp_log(us->dp, DP_LOG_INFO,
	       "dp: ESP of %u NAT-T socket%s steered by SPI to %u packet workers", us->nsteer,
	       us->nsteer == 1 ? "" : "s", us->nw);
	if (bad) {
		errno = err;
		return -1;
	}
	return 0;
}

/* dp_udp_unsteer: the daemon is about to close fd. */
int us_udp_unsteer(void *be, int fd)
{
	struct us *us = be;
	int fds[US_MAX_STEER];
	size_t n = 0;

	if (!us->threaded) {
		errno = EOPNOTSUPP;
		return -1;
	}
	for (unsigned k = 0; k < us->nsteer; k++)
		if (us->steer[k].fd != fd)
			fds[n++] = us->steer[k].fd;
	return us_udp_steer(us, fds, n);
}

/* The worker of reqid r's Child SA: its newest inbound SA's, else any SA's. */
unsigned us_reqid_worker(const struct us_reqid *r)
{
	for (const struct us_sa *sa = r->sas; sa; sa = sa->rnext)
		if (sa->dir == DP_DIR_IN)
			return sa->worker;
	return r->sas ? r->sas->worker : 0;
}

/* The worker that owns the fewest inbound SAs; a tie goes round the
 * workers (rr), so that Child SAs negotiated at the same time, asked for
 * before any is installed (us_spi_residue), still go to different ones. */
unsigned us_least_loaded(struct us *us)
{
	unsigned best = us->rr % us->nw;

	for (unsigned k = 1; k < us->nw; k++) {
		unsigned i = (us->rr + k) % us->nw;
		if (us->w[i].sas < us->w[best].sas)
			best = i;
	}
	us->rr = best + 1;
	return best;
}

/* dp_spi_residue: a rekey stays on its Child SA's worker, a new Child SA
 * goes to the least loaded one. */
int us_spi_residue(void *be, uint32_t rekey_reqid, uint32_t *mod, uint32_t *residue)
{
	struct us *us = be;
	const struct us_reqid *r = NULL;

	if (!us->threaded) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (rekey_reqid) {
		for (struct dp_hnode *h = dp_htab_first(&us->reqids, rekey_reqid); h && !r;
		     h = dp_htab_next(h, rekey_reqid)) {
			const struct us_reqid *c = dp_hentry(h, struct us_reqid, h);
			if (c->reqid == rekey_reqid && c->sas)
				r = c;
		}
	}
	*mod = us->nw;
	*residue = r ? us_reqid_worker(r) : us_least_loaded(us);
	return 0;
}
