/*
 * Non-blocking name resolution for the IKE engine's host.resolve hook
 * (RFC 5685 9.2: a REDIRECT may name the new gateway by FQDN). Built on
 * c-ares, driven by the daemon's libevent loop: no call here ever blocks,
 * and every lookup is answered exactly once, from the loop (never from
 * inside resolver_lookup), within the configured time.
 */
#ifndef RIKE_DAEMON_RESOLVE_H
#define RIKE_DAEMON_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/compiler.h"

struct event_base;
struct resolver;

#define RESOLVER_TIMEOUT_MS 4000 /* per lookup; under the engine's own 5 s give-up */
#define RESOLVER_MAX_ADDRS  16   /* addresses handed back per name */
#define RESOLVER_MAX_QUERY  64   /* lookups in flight; more are refused */
#define RESOLVER_MAX_NAME   253  /* RFC 1035 2.3.4, as text */

/* Answer to one lookup: n addresses (port 0, A and AAAA), or n = 0 and a
 * reason when the name did not resolve. addrs is valid for the call. */
typedef void (*resolver_done_fn)(void *ctx, uint64_t id, const char *name,
                                 const struct sockaddr_storage *addrs, size_t n, const char *why);

/* Test hooks; NULL members mean the system's configuration. */
struct resolver_opts {
	unsigned timeout_ms;    /* 0: RESOLVER_TIMEOUT_MS */
	unsigned try_ms;        /* c-ares's first per-try timeout; 0: timeout_ms / 4 */
	const char *lookups;    /* c-ares lookup order: "fb" (hosts file, then DNS), "f", "b" */
	const char *resolvconf; /* a resolv.conf to read instead of /etc/resolv.conf */
	const char *servers;    /* "127.0.0.1:5353,[::1]:53": overrides resolv.conf */
	bool hosts_from_env;    /* read the hosts file named by $CARES_HOSTS */
};

/* base is borrowed; opts may be NULL. NULL with a reason in why on failure. */
struct resolver *resolver_new(struct event_base *base, const struct resolver_opts *opts,
                              resolver_done_fn done, void *ctx, char *why, size_t whylen);
/* Drops every lookup in flight without answering it. NULL-safe. */
void resolver_free(struct resolver *r);
/* Starts resolving name; 0 (done will be called once, later) or -1 with
 * errno (EINVAL bad name, EAGAIN too many in flight, ENOMEM). */
int resolver_lookup(struct resolver *r, const char *name, uint64_t id) WUR;
/* Lookups not yet answered (tests). */
size_t resolver_pending(const struct resolver *r);

#endif
