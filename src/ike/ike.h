/*
 * The IKE engine's public face: what riked's main loop and the in-process
 * exchange tests drive. The engine does no I/O of its own and reads no
 * clock: packets come in through ike_input(), go out through the send hook,
 * and time advances through ike_run_timers(). This keeps every exchange
 * test deterministic (a mock network and a fake clock) and lets riked put
 * the engine on libevent.
 */
#ifndef RIKE_IKE_H
#define RIKE_IKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "util/compiler.h"

struct ike;
struct cfg;
struct cfg_conn;
struct ike_sa;
struct child_sa;

/* An address with its port. */
struct ike_addr {
	struct sockaddr_storage ss;
};

/* What the engine needs from its host (riked or a test). */
struct ike_host {
	void *ctx;
	/* Send one UDP datagram from `from` (its port selects 500 or 4500;
	 * on 4500 the engine has already prefixed the non-ESP marker). */
	int (*send)(void *ctx, const struct ike_addr *from, const struct ike_addr *to,
	            const uint8_t *buf, size_t len);
	/* Milliseconds of a monotonic clock. */
	uint64_t (*now_ms)(void *ctx);
	/* Data plane: install/remove a Child SA's two SAs and its policies.
	 * NULL hooks mean "no data plane" (tests that only check IKE). */
	int (*child_up)(void *ctx, const struct ike_sa *sa, const struct child_sa *c);
	void (*child_down)(void *ctx, const struct ike_sa *sa, const struct child_sa *c);
	/* The SA's addresses changed (NAT mapping change or MOBIKE): move its Child SAs. */
	void (*sa_moved)(void *ctx, const struct ike_sa *sa);
	/* The data plane only does ESP in UDP (userspace backend): make every
	 * SA float to 4500 by reporting a NAT on our side (RFC 7296 2.23). */
	bool force_encap;
};

/* cfg is borrowed and must outlive the engine (or be replaced by ike_reload). */
struct ike *ike_new(const struct cfg *cfg, const struct ike_host *host);
void ike_free(struct ike *ike);
/* Start connections whose start action is "start". */
void ike_start(struct ike *ike);
/* Swap in a new configuration: removed connections are torn down, new ones started. */
void ike_reload(struct ike *ike, const struct cfg *cfg);

/* One UDP datagram arrived on a local address/port (port 4500 datagrams
 * still carry their non-ESP marker; ESP must not be passed here). */
void ike_input(struct ike *ike, const struct ike_addr *local, const struct ike_addr *remote,
               const uint8_t *buf, size_t len);

/* Milliseconds until the next timer is due (-1: none), and run those due. */
int64_t ike_next_timeout(struct ike *ike);
void ike_run_timers(struct ike *ike);

/* Operator commands. -1 when the connection does not exist. */
int ike_up(struct ike *ike, const char *conn) WUR;
int ike_down(struct ike *ike, const char *conn) WUR;
/* Start a rekey or liveness check now (tests and rikectl). */
int ike_rekey_ike(struct ike *ike, const char *conn) WUR;
int ike_rekey_child(struct ike *ike, const char *conn) WUR;
int ike_dpd_now(struct ike *ike, const char *conn) WUR;

/* Data-plane events. */
void ike_esp_unknown_spi(struct ike *ike, uint32_t spi, const struct ike_addr *local,
                         const struct ike_addr *remote);
void ike_child_expired(struct ike *ike, uint32_t reqid, bool hard);
void ike_child_counters(struct ike *ike, uint32_t reqid, uint64_t bytes_in, uint64_t pkts_in,
                        uint64_t bytes_out, uint64_t pkts_out);

/* RFC 6290: roll the QCD secret over now (also on a schedule). */
int ike_qcd_rollover(struct ike *ike) WUR;
/* Force a new QCD secret after the file was found corrupt (operator action). */
int ike_qcd_reset(struct ike *ike) WUR;

/* Status for rikectl (text or JSON). */
void ike_status(struct ike *ike, bool json, FILE *out);

/* Counters of dropped input, by reason, for status and tests. */
struct ike_stats {
	uint64_t rx, tx;
	uint64_t drop_malformed, drop_unknown_spi, drop_icv, drop_msgid, drop_rules;
	uint64_t retransmits, resent_responses, cookies_sent, half_open;
	uint64_t sa_established, sa_failed;
	/* RFC 7383: IKE Fragment messages sent (retransmissions included) and
	 * accepted into reassembly; retransmitted fragments other than number 1
	 * of a request already answered, ignored (2.6.1). */
	uint64_t frags_tx, frags_rx, drop_frag_retrans;
};
const struct ike_stats *ike_get_stats(const struct ike *ike);

/* Lookups for tests and the host (borrowed pointers, valid until the next engine call). */
struct ike_sa *ike_sa_by_conn(struct ike *ike, const char *conn);
size_t ike_sa_count(const struct ike *ike);

#endif
