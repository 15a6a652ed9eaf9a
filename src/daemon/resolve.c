/*
 * The daemon's resolver (resolve.h): FQDN to addresses for the engine's
 * host.resolve hook, so that a REDIRECT naming the new gateway by FQDN
 * (RFC 5685 9.2) can be followed without blocking the IKE loop.
 *
 * It owns one c-ares channel, one libevent event per socket c-ares opens
 * (reported through ARES_OPT_SOCK_STATE_CB), one timer for c-ares's own
 * retransmissions (ares_timeout) and one record per lookup. A lookup is
 * ares_getaddrinfo with AF_UNSPEC (A and AAAA, the hosts file first as the
 * system's configuration says); its record carries a single event that is
 * first the lookup's deadline and then, once c-ares has answered, the
 * delivery of that answer from the loop. So the answer never arrives from
 * inside resolver_lookup (c-ares answers names from the hosts file at
 * once), arrives exactly once, and arrives within the deadline: a lookup
 * still running in c-ares then is answered as failed and its record
 * lives on, detached, until c-ares lets it go.
 */
#include "daemon/resolve.h"

#include <ares.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

struct rq {
	struct rq *prev, *next;
	struct resolver *r;
	struct event *ev; /* the deadline, then the delivery */
	uint64_t id;
	bool answered;  /* done() was called */
	bool ares_done; /* c-ares called back: the record is ours alone */
	struct sockaddr_storage addrs[RESOLVER_MAX_ADDRS];
	size_t n;
	char why[96];
	char name[RESOLVER_MAX_NAME + 1];
};

struct rfd {
	struct rfd *next;
	ares_socket_t fd;
	struct event *ev;
};

struct resolver {
	struct event_base *base;
	ares_channel ch;
	bool have_ch, closing;
	struct event *timer; /* c-ares's retransmission timer */
	struct rfd *fds;
	struct rq *rqs; /* every record, answered or not */
	size_t pending; /* not answered yet */
	unsigned timeout_ms;
	int ai_flags;
	resolver_done_fn done;
	void *ctx;
};

/* ---- c-ares on libevent ---- */

static void arm_timer(struct resolver *r)
{
	struct timeval max = {.tv_sec = r->timeout_ms / 1000,
	                      .tv_usec = r->timeout_ms % 1000 * 1000};
	struct timeval buf, *tv;

	if (r->closing)
		return;
	tv = ares_timeout(r->ch, &max, &buf);
	if (tv)
		evtimer_add(r->timer, tv);
	else
		evtimer_del(r->timer);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct resolver *r = arg;

	ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	arm_timer(r);
}

static void fd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct resolver *r = arg;

	ares_process_fd(r->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	                (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	arm_timer(r);
}

/* ARES_OPT_SOCK_STATE_CB: watch fd for what c-ares wants, or stop watching it. */
static void sock_state_cb(void *arg, ares_socket_t fd, int readable, int writable)
{
	struct resolver *r = arg;
	struct rfd **pp, *f;
	short what = (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));

	for (pp = &r->fds; *pp && (*pp)->fd != fd; pp = &(*pp)->next)
		;
	f = *pp;
	if (f) {
		event_free(f->ev);
		f->ev = NULL;
	}
	if (!what) {
		if (f) {
			*pp = f->next;
			free(f);
		}
		return;
	}
	if (!f) {
		f = calloc(1, sizeof(*f));
		if (!f)
			goto fail;
		f->fd = fd;
		f->next = r->fds;
		r->fds = f;
	}
	f->ev = event_new(r->base, fd, (short)(what | EV_PERSIST), fd_cb, r);
	if (f->ev && event_add(f->ev, NULL) == 0)
		return;
fail:
	/* Without the event c-ares's own timeouts still end the query. */
	log_ratelimited(LOG_ERR, LOG_RL_OTHER, NULL, "resolve", "cannot watch a DNS socket: %s",
	                strerror(errno));
}

/* ---- lookups ---- */

static void rq_free(struct rq *q)
{
	struct resolver *r = q->r;

	if (q->prev)
		q->prev->next = q->next;
	else
		r->rqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
	if (q->ev)
		event_free(q->ev);
	free(q);
}

/* The one answer to a lookup. */
static void rq_answer(struct rq *q, const char *why)
{
	struct resolver *r = q->r;

	q->answered = true;
	r->pending--;
	if (q->n == 0)
		/* RFC 5685 redirects are what ask: unauthenticated peers can
		 * name gateways in IKE_SA_INIT, so this is rate-limited. */
		log_ratelimited(LOG_WARNING, LOG_RL_OTHER, NULL, "resolve",
		                "redirect-resolve-failed %s: %s", q->name, why);
	r->done(r->ctx, q->id, q->name, q->addrs, q->n, q->n ? NULL : why);
}

/* The lookup's event: its deadline, or the delivery of c-ares's answer. */
static void rq_fire(evutil_socket_t fd, short what, void *arg)
{
	struct rq *q = arg;
	char why[64];

	if (!q->answered) {
		snprintf(why, sizeof(why), "no answer within %u ms", q->r->timeout_ms);
		rq_answer(q, q->ares_done ? q->why : why);
	}
	if (q->ares_done)
		rq_free(q);
	/* else c-ares still holds it: gai_cb frees it */
}

static void take_addrs(struct rq *q, const struct ares_addrinfo *res)
{
	for (const struct ares_addrinfo_node *a = res ? res->nodes : NULL;
	     a && q->n < RESOLVER_MAX_ADDRS; a = a->ai_next) {
		struct sockaddr_storage *ss = &q->addrs[q->n];

		memset(ss, 0, sizeof(*ss));
		if (a->ai_family == AF_INET && a->ai_addrlen >= sizeof(struct sockaddr_in)) {
			memcpy(ss, a->ai_addr, sizeof(struct sockaddr_in));
			((struct sockaddr_in *)ss)->sin_port = 0;
		} else if (a->ai_family == AF_INET6 &&
		           a->ai_addrlen >= sizeof(struct sockaddr_in6)) {
			memcpy(ss, a->ai_addr, sizeof(struct sockaddr_in6));
			((struct sockaddr_in6 *)ss)->sin6_port = 0;
		} else {
			continue;
		}
		q->n++;
	}
}

static void gai_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	static const struct timeval now = {0, 0};
	struct rq *q = arg;

	q->ares_done = true;
	if (q->r->closing || q->answered) {
		/* Destroyed, or answered at the deadline already. */
		ares_freeaddrinfo(res);
		rq_free(q);
		return;
	}
	if (status == ARES_SUCCESS)
		take_addrs(q, res);
	ares_freeaddrinfo(res);
	if (status == ARES_SUCCESS && q->n == 0)
		snprintf(q->why, sizeof(q->why), "no IPv4 or IPv6 address");
	else if (status != ARES_SUCCESS)
		snprintf(q->why, sizeof(q->why), "%s", ares_strerror(status));
	/* Deliver from the loop: c-ares may be answering inside resolver_lookup. */
	evtimer_del(q->ev);
	evtimer_add(q->ev, &now);
}

/* A host name as text (RFC 1123 2.1, RFC 1035 2.3.4); underscores are let
 * through, as some resolvers do. Not an address literal check: c-ares
 * answers those itself. */
static bool name_ok(const char *name)
{
	size_t len = strlen(name), label = 0;

	if (len == 0 || len > RESOLVER_MAX_NAME || name[0] == '.')
		return false;
	for (const char *p = name; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!(*p == '-' || *p == '_' || *p == ':' || (*p >= '0' && *p <= '9') ||
		      ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')) ||
		    ++label > 63)
			return false;
	}
	return true;
}

int resolver_lookup(struct resolver *r, const char *name, uint64_t id)
{
	struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC, .ai_flags = r->ai_flags};
	struct timeval tv = {.tv_sec = r->timeout_ms / 1000,
	                     .tv_usec = r->timeout_ms % 1000 * 1000};
	struct rq *q;

	if (!name_ok(name)) {
		errno = EINVAL;
		return -1;
	}
	if (r->pending >= RESOLVER_MAX_QUERY) {
		log_ratelimited(LOG_WARNING, LOG_RL_OTHER, NULL, "resolve",
		                "redirect-resolve-failed %s: %u lookups in flight already", name,
		                RESOLVER_MAX_QUERY);
		errno = EAGAIN;
		return -1;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		return -1;
	q->r = r;
	q->id = id;
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->ev = evtimer_new(r->base, rq_fire, q);
	if (!q->ev || evtimer_add(q->ev, &tv) < 0) {
		if (q->ev)
			event_free(q->ev);
		free(q);
		errno = ENOMEM;
		return -1;
	}
	q->next = r->rqs;
	if (q->next)
		q->next->prev = q;
	r->rqs = q;
	r->pending++;
	ares_getaddrinfo(r->ch, q->name, NULL, &hints, gai_cb, q);
	arm_timer(r);
	return 0;
}

/* ---- life cycle ---- */

static int init_channel(struct resolver *r, const struct resolver_opts *o, char *why, size_t whylen)
{
	struct ares_options ao = {0};
	int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES, rc;

	ao.sock_state_cb = sock_state_cb;
	ao.sock_state_cb_data = r;
	/* Two tries per server within the lookup's time; the deadline is ours. */
	ao.timeout = (int)(o && o->try_ms ? o->try_ms : r->timeout_ms / 4 ? r->timeout_ms / 4 : 1);
	ao.tries = 2;
	if (o && o->lookups) {
		ao.lookups = (char *)o->lookups;
		mask |= ARES_OPT_LOOKUPS;
	}
	if (o && o->resolvconf) {
		ao.resolvconf_path = (char *)o->resolvconf;
		mask |= ARES_OPT_RESOLVCONF;
	}
	rc = ares_init_options(&r->ch, &ao, mask);
	if (rc == ARES_SUCCESS) {
		r->have_ch = true;
		if (o && o->servers)
			rc = ares_set_servers_ports_csv(r->ch, o->servers);
	}
	if (rc != ARES_SUCCESS)
		snprintf(why, whylen, "c-ares: %s", ares_strerror(rc));
	return rc == ARES_SUCCESS ? 0 : -1;
}

struct resolver *resolver_new(struct event_base *base, const struct resolver_opts *opts,
                              resolver_done_fn done, void *ctx, char *why, size_t whylen)
{
	struct resolver *r = calloc(1, sizeof(*r));
	int rc;

	if (!r) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	rc = ares_library_init(ARES_LIB_INIT_ALL);
	if (rc != ARES_SUCCESS) {
		snprintf(why, whylen, "c-ares: %s", ares_strerror(rc));
		free(r);
		return NULL;
	}
	r->base = base;
	r->done = done;
	r->ctx = ctx;
	r->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : RESOLVER_TIMEOUT_MS;
	r->ai_flags = opts && opts->hosts_from_env ? ARES_AI_ENVHOSTS : 0;
	r->timer = evtimer_new(base, timer_cb, r);
	if (!r->timer) {
		snprintf(why, whylen, "out of memory");
		resolver_free(r);
		return NULL;
	}
	if (init_channel(r, opts, why, whylen) < 0) {
		resolver_free(r);
		return NULL;
	}
	return r;
}

void resolver_free(struct resolver *r)
{
	if (!r)
		return;
	r->closing = true;
	/* Records c-ares has let go of; ares_destroy calls back for the rest. */
	for (struct rq *q = r->rqs, *next; q; q = next) {
		next = q->next;
		if (q->ares_done)
			rq_free(q);
	}
	if (r->have_ch)
		ares_destroy(r->ch);
	while (r->rqs) /* cannot happen: ares_destroy answered them all */
		rq_free(r->rqs);
	while (r->fds) {
		struct rfd *f = r->fds;

		r->fds = f->next;
		if (f->ev)
			event_free(f->ev);
		free(f);
	}
	if (r->timer)
		event_free(r->timer);
	ares_library_cleanup();
	free(r);
}

size_t resolver_pending(const struct resolver *r)
{
	return r->pending;
}
