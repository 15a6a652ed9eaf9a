/*
 * The daemon's control commands (rikectl(8)): what each request on the
 * control socket (ctl.h) does and answers, in text and as the JSON result
 * (its members are rikectl(8)'s schema 1). main.c hands in its state
 * through struct ctlcmd_host and passes ctlcmd_run as the socket's handler.
 */
#ifndef RIKE_DAEMON_CTLCMD_H
#define RIKE_DAEMON_CTLCMD_H

#include <stdint.h>
#include <time.h>

#include "daemon/ctl.h"
#include "ike/conf.h"

struct ike;
struct dpglue;
struct json_object;

struct ctlcmd_host {
	/* borrowed: main.c's pointers, which a reload or start-up may change */
	struct ike *const *ike;
	struct dpglue *const *dpg;
	struct cfg *const *cfg;
	const char *version;
	time_t started; /* wall clock, for the uptime */
	void *ctx;
	/* Re-arm the engine's timer after an engine call. */
	void (*rearm)(void *ctx);
	/* Re-read the configuration: 0 with the plan's report in `report`
	 * (ctlcmd_reload_plan), or -1 with the file's error in err. */
	int (*reload)(void *ctx, struct json_object *report, char *err, size_t errlen);
};

/* The control socket's handler (ctl_ops.command); ctx is a struct ctlcmd_host. */
enum ctl_err ctlcmd_run(void *ctx, int argc, char **argv, struct ctl_reply *r);

/*
 * Reload (SIGHUP, rikectl reload): which connections of `n` are added,
 * removed, changed so that they need a new SA ("replace") or changed only
 * in settings applied in place (cfg_conn_in_place). Adds to `report`:
 *     "added": [NAME...], "removed": [NAME...],
 *     "changed": [{"name": NAME, "action": "replace" | "in-place"}...]
 */
void ctlcmd_reload_plan(const struct cfg *old_cfg, const struct cfg *n, struct json_object *report);
/* After ike_reload(n): replace the SAs of the connections the plan says
 * (ike_replace: deleted towards the peer, re-initiated per start action). */
void ctlcmd_reload_apply(struct ike *ike, struct json_object *report);
/* "added a; changed b (replaced), c (in place); removed d" or "no changes". */
void ctlcmd_reload_text(struct json_object *report, char *buf, size_t len);

#endif
