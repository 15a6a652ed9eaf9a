/*
 * The host's usable local addresses, followed over rtnetlink (RFC 4555 3.5:
 * MOBIKE moves SAs when an address goes away or a path changes), and the
 * kernel's source address selection for a destination (the engine's
 * host.route hook).
 */
#ifndef RIKE_DAEMON_ADDRMON_H
#define RIKE_DAEMON_ADDRMON_H

#include <stddef.h>
#include <stdint.h>

#include "ike/ike.h"
#include "util/compiler.h"

struct event_base;
struct addrmon;

#define ADDRMON_MAX_LINKS  256
#define ADDRMON_MAX_ADDRS  512 /* addresses remembered, usable or not */
#define ADDRMON_BURST      64  /* datagrams read per wakeup before reporting */
#define ADDRMON_TIMEOUT_MS 100 /* a synchronous request's reply (route, dumps) */

/* The whole usable set (port 0), after every change; borrowed for the call. */
typedef void (*addrmon_report_fn)(void *ctx, const struct ike_addr *addrs, size_t n);

/*
 * Open the rtnetlink sockets, dump links and addresses, and watch them on
 * base (borrowed). The first report is not made here: call addrmon_flush
 * once the receiver is ready. base NULL: no sockets (tests feed messages
 * with addrmon_input; addrmon_route then fails).
 */
struct addrmon *addrmon_new(struct event_base *base, addrmon_report_fn report, void *ctx);
void addrmon_free(struct addrmon *am);

/* Addresses on this link never count (e.g. the userspace data plane's TUN
 * device, which carries virtual IPs, not paths). Before addrmon_flush. */
int addrmon_ignore_link(struct addrmon *am, const char *ifname) WUR;

/* The current usable set (borrowed, valid until the next input). */
const struct ike_addr *addrmon_addrs(const struct addrmon *am, size_t *n);

/*
 * Whether a is assigned to any local interface, ignored links and links
 * down included (the table the events keep; no request): 1 or 0, -1 when
 * the table is full and may have missed it.
 */
int addrmon_is_local(const struct addrmon *am, const struct ike_addr *a);

/*
 * The source address the kernel would use to reach dst (RTM_GETROUTE:
 * RTA_PREFSRC, else the first usable address of the outgoing link of
 * dst's family), port 0. 0, or -1 when there is no route or no answer
 * within ADDRMON_TIMEOUT_MS (struct ike_host's route hook).
 */
int addrmon_route(struct addrmon *am, const struct ike_addr *dst, struct ike_addr *src) WUR;

/* ---- the parts the event loop drives, exposed for tests ---- */

/* Apply a buffer of rtnetlink messages (events or dump parts). -1 on a
 * malformed buffer (what parsed before it stays applied). */
int addrmon_input(struct addrmon *am, const void *buf, size_t len);
/* Report the usable set if it or a route changed since the last report
 * (the first call always reports); logs one line per address gained or lost. */
void addrmon_flush(struct addrmon *am);
/* The answer to an RTM_GETROUTE request, as addrmon_route reads it. */
int addrmon_route_reply(const struct addrmon *am, const void *buf, size_t len, sa_family_t family,
                        struct ike_addr *src) WUR;

struct addrmon_stats {
	uint64_t messages, reports, overruns, resyncs, resync_failed;
	uint64_t route_queries, route_failed;
};
void addrmon_stats(const struct addrmon *am, struct addrmon_stats *out);

#endif
