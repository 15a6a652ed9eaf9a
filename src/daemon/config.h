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

#include "daemon/log.h"
#include "daemon/proposal.h"
#include "util/compiler.h"

#define CFG_NAME_MAX      64  /* connection name, with NUL */
#define CFG_ID_MAX        255 /* identification data octets */
#define CFG_MAX_PROPOSALS 16  /* per connection and protocol */
#define CFG_MAX_TS        16  /* per side */
#define CFG_MAX_CONNS     4096
#define CFG_PSK_MAX       1024

enum cfg_dataplane { CFG_DP_USERSPACE, CFG_DP_XFRM };
enum cfg_mode { CFG_MODE_TUNNEL, CFG_MODE_TRANSPORT };
enum cfg_start {
	CFG_START_START, /* initiate when loaded */
	CFG_START_WAIT,  /* responder only */
	CFG_START_TRAP,  /* initiate on matching traffic */
};
enum cfg_auth_method { CFG_AUTH_PSK, CFG_AUTH_PUBKEY };

/* An identity, already in Identification payload form (RFC 7296 3.5).
 * Type 0 means: for remote_id "%any" (any identity is accepted), for
 * local_id "the local address of the IKE SA" (local = "%any", no local_id). */
struct cfg_id {
	uint8_t type; /* IKEV2_ID_*, or 0 as above */
	uint8_t len;
	uint8_t data[CFG_ID_MAX];
	char text[CFG_ID_MAX + 8]; /* as written in the file, for logs and status */
};

/* One traffic selector (RFC 7296 3.13.1): addresses and ports inclusive. */
struct cfg_ts {
	uint8_t type;     /* IKEV2_TS_IPV4_ADDR_RANGE or IKEV2_TS_IPV6_ADDR_RANGE */
	uint8_t ip_proto; /* 0 = any */
	uint16_t start_port, end_port;
	uint8_t start[16], end[16]; /* network order; 4 octets used for IPv4 */
};

struct cfg_auth {
	enum cfg_auth_method method;
	uint8_t *psk; /* owned, wiped on free; CFG_AUTH_PSK */
	size_t psk_len;
	char *cert, *key, *ca; /* owned file paths; CFG_AUTH_PUBKEY (ca optional) */
};

struct cfg_conn {
	char name[CFG_NAME_MAX];
	unsigned line; /* where the connection starts in the file */
	/* ss_family AF_UNSPEC means "%any". local's port is 0 (the daemon's
	 * ike_port applies); remote's is remote_port (default 500). */
	struct sockaddr_storage local, remote;
	struct cfg_id local_id, remote_id;
	struct cfg_auth auth;
	struct proposal ike_proposals[CFG_MAX_PROPOSALS];
	size_t n_ike_proposals;
	struct proposal esp_proposals[CFG_MAX_PROPOSALS];
	size_t n_esp_proposals;
	/* Zero selectors means "dynamic": the side's IKE address (host to host). */
	struct cfg_ts local_ts[CFG_MAX_TS];
	size_t n_local_ts;
	struct cfg_ts remote_ts[CFG_MAX_TS];
	size_t n_remote_ts;
	enum cfg_mode mode;
	uint32_t ike_lifetime, child_lifetime; /* seconds */
	uint32_t rekey_margin;                 /* seconds before expiry to rekey */
	uint32_t rekey_fuzz;                   /* percent of rekey_margin added at random */
	uint64_t child_life_bytes;             /* 0 = no volume limit */
	uint32_t dpd_interval;                 /* seconds, 0 = off (RFC 7296 2.4) */
	enum cfg_start start;
	bool keep_up;
	struct {
		double timeout; /* seconds before the first retransmission */
		double base;    /* backoff factor */
		unsigned tries;
	} retransmit;
	bool qcd, qcd_bind_address; /* RFC 6290 */
	bool mobike;                /* RFC 4555 */
	bool redirect_accept;       /* RFC 5685 */
	char *redirect_to;          /* owned; gateway to redirect initiators to, or NULL */
	bool fragmentation;         /* RFC 7383 */
	uint32_t fragment_size;     /* largest IP datagram of an IKE fragment (RFC 7383 2.5.1) */
	bool encap;                 /* force UDP encapsulation (RFC 3948) */
};

struct cfg {
	char *path; /* owned */
	enum log_target log_target;
	int log_level;                    /* LOG_* */
	char *control_socket, *state_dir; /* owned */
	enum cfg_dataplane dataplane;
	uint16_t ike_port, natt_port;
	uint32_t half_open_cookie_threshold; /* RFC 7296 2.6, RFC 8019 */
	bool qcd_enabled;                    /* RFC 6290 global switch */
	uint32_t qcd_rollover_interval;      /* seconds, 0 = never */
	struct cfg_conn *conns;              /* owned array */
	size_t nconns;
};

/* Loads and validates `path` into `cfg` (which the caller then owns and
 * frees with cfg_free). On failure returns -1, leaves `cfg` empty, and
 * writes "file:line: reason" to `err`. */
int cfg_load(const char *path, struct cfg *cfg, char *err, size_t errlen) WUR;
/* The same for a string (tests, rikectl check); `name` stands for the file. */
int cfg_load_string(const char *text, const char *name, struct cfg *cfg, char *err,
                    size_t errlen) WUR;
/* Frees and wipes (PSKs) everything; NULL-safe; leaves `cfg` empty. */
void cfg_free(struct cfg *cfg);
/* Borrowed pointer to the named connection, or NULL. */
const struct cfg_conn *cfg_conn_lookup(const struct cfg *cfg, const char *name);
bool cfg_conn_equal(const struct cfg_conn *a, const struct cfg_conn *b);

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
int cfg_ts_parse(const char *s, struct cfg_ts *ts, char *err, size_t errlen) WUR;
int cfg_id_parse(const char *s, struct cfg_id *id, char *err, size_t errlen) WUR;
/* Fills the default proposals (RFC 8247 for IKE, RFC 8221 for ESP). */
void cfg_default_proposals(uint8_t protocol, struct proposal *out, size_t *n);

#endif
