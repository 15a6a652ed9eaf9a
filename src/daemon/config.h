/*
 * riked.conf: loading, validation and reload diffing. The file is parsed
 * with libconfig; every value is checked and converted here (addresses to
 * sockaddr_storage, IDs to their RFC 7296 3.5 encoding, traffic selectors
 * to ranges, proposals to transform lists), so the rest of the daemon never
 * sees a string it has to parse. The schema is documented in riked.conf(5).
 */
#ifndef RIKE_DAEMON_CONFIG_H
#define RIKE_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "daemon/proposal.h"
#include "ike/conf.h"
#include "util/compiler.h"

/* Loads and validates `path` into `cfg` (which the caller then owns and
 * frees with cfg_free). On failure returns -1, leaves `cfg` empty, and
 * writes "file:line: reason" to `err`. */
int cfg_load(const char *path, struct cfg *cfg, char *err, size_t errlen) WUR;
/* The same for a string (tests, rikectl check); `name` stands for the file. */
int cfg_load_string(const char *text, const char *name, struct cfg *cfg, char *err,
                    size_t errlen) WUR;
/* Frees and wipes (PSKs) everything; NULL-safe; leaves `cfg` empty. */
void cfg_free(struct cfg *cfg);
bool cfg_conn_equal(const struct cfg_conn *a, const struct cfg_conn *b);
/* a and b (the same connection, before and after a reload) differ only in
 * settings a running SA takes up by itself (lifetimes, rekey margin and
 * fuzz, DPD interval, retransmission, keep_up, start): no new SA needed. */
bool cfg_conn_in_place(const struct cfg_conn *a, const struct cfg_conn *b);
/* One line for riked -n: connections, data plane, extensions. */
void cfg_summary(const struct cfg *cfg, char *buf, size_t len);
/* The configuration as loaded, pre-shared keys masked (rikectl config);
 * a json-c object the caller owns. */
struct json_object;
struct json_object *cfg_to_json(const struct cfg *cfg);

/* Reload (SIGHUP, rikectl reload): what changed between two configs. */
enum cfg_change { CFG_CONN_ADDED, CFG_CONN_REMOVED, CFG_CONN_CHANGED };
/* Called for every connection that differs; `old_c` is NULL when added,
 * `new_c` is NULL when removed. Removals are reported first. */
typedef void (*cfg_diff_cb)(void *ctx, enum cfg_change change, const struct cfg_conn *old_c,
                            const struct cfg_conn *new_c);
/* Returns the number of changed connections. */
size_t cfg_diff(const struct cfg *old_cfg, const struct cfg *new_cfg, cfg_diff_cb cb, void *ctx);
/* True if a global setting that cannot change at run time differs (ports,
 * control socket, state directory, dataplane); the daemon then keeps the old
 * values and says a restart is needed. */
bool cfg_needs_restart(const struct cfg *old_cfg, const struct cfg *new_cfg);

/* Names for status output. */
const char *cfg_mode_name(enum cfg_mode m);
const char *cfg_start_name(enum cfg_start s);
/* "10.0.0.0/24", "10.1.1.1-10.1.1.9[tcp/80]", ... into buf. */
void cfg_ts_format(const struct cfg_ts *ts, char *buf, size_t len);
/* An address or "%any". */
void cfg_addr_format(const struct sockaddr_storage *ss, char *buf, size_t len);

/* Parsers shared with the control socket and tests. */
/* A duration with units ("500ms", "30s", "4h", "2d", "1h30m") in ms. */
int cfg_duration_parse(const char *s, uint64_t *ms) WUR;
int cfg_ts_parse(const char *s, struct cfg_ts *ts, char *err, size_t errlen) WUR;
int cfg_id_parse(const char *s, struct cfg_id *id, char *err, size_t errlen) WUR;
/* Fills the default proposals (RFC 8247 for IKE, RFC 8221 for ESP). */
void cfg_default_proposals(uint8_t protocol, struct proposal *out, size_t *n);

#endif
