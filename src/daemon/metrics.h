/*
 * riked's metrics endpoint: the IKE engine's and the data plane's counters
 * and gauges in the Prometheus text exposition format (version 0.0.4),
 * served over HTTP at GET /metrics on the address riked.conf names
 * (riked.conf(5) METRICS; the metric names are listed in riked-metrics(7)).
 *
 * HTTP is libmicrohttpd's, in its external-select mode: MHD's epoll file
 * descriptor and its timeout are two libevent events on the daemon's loop,
 * so a scrape runs on the engine's one thread between engine calls and
 * reads the counters directly, with no copy and no lock.
 */
#ifndef RIKE_DAEMON_METRICS_H
#define RIKE_DAEMON_METRICS_H

#include <stdio.h>
#include <sys/socket.h>

#include "util/compiler.h"

struct event_base;
struct ike;
struct dpglue;
struct metrics;

/*
 * Serve the metrics of ike and dpg (both borrowed; they must outlive the
 * server) on addr (with its port). version goes into rike_build_info.
 * NULL on failure, with the reason in why.
 */
struct metrics *metrics_new(struct event_base *base, const struct sockaddr_storage *addr,
                            struct ike *ike, struct dpglue *dpg, const char *version, char *why,
                            size_t whylen);
/* Stops serving and frees; NULL-safe. */
void metrics_free(struct metrics *m);

/* The exposition itself, for the server and tests; dpg may be NULL (no
 * data plane). start_time is the UNIX time riked started. */
void metrics_write(struct ike *ike, struct dpglue *dpg, const char *version, double start_time,
                   FILE *out);

#endif
