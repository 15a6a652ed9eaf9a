/*
 * The engine's configuration: what riked.conf says, already checked and
 * converted by the daemon's parser (src/daemon/config.c, riked.conf(5)),
 * so the engine never parses a string. The engine borrows a struct cfg for
 * its lifetime; a reload hands it a new one (ike_reload).
 */
#ifndef RIKE_IKE_CONF_H
#define RIKE_IKE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/log.h"

/* ---- proposals (RFC 7296 3.3), as transform lists ---- */

#define PROPOSAL_MAX_ALGS 16
/* Longest formatted proposal string (with the terminating NUL). */

/* An encryption transform: IKEV2_ENCR_* and its Key Length attribute in
 * bits (RFC 7296 3.3.5), 0 when the transform takes no attribute. */
struct proposal_encr {
	uint16_t id;
	uint16_t keylen;
};

struct proposal {
	uint8_t protocol; /* IKEV2_PROTO_IKE or IKEV2_PROTO_ESP */
	uint8_t n_encr, n_prf, n_integ, n_dh, n_esn;
	struct proposal_encr encr[PROPOSAL_MAX_ALGS];
	uint16_t prf[PROPOSAL_MAX_ALGS];   /* IKEV2_PRF_*; IKE only */
	uint16_t integ[PROPOSAL_MAX_ALGS]; /* IKEV2_AUTH_*; none with AEAD */
	uint16_t dh[PROPOSAL_MAX_ALGS];    /* IKEV2_DH_*; for ESP the PFS groups */
	uint16_t esn[2];                   /* IKEV2_ESN_*; ESP only */
};

/* ---- Redirect (RFC 5685) ---- */

#define CFG_REDIRECT_MAX 8   /* gateways, allow entries, identity rules */
#define CFG_GW_MAX       254 /* a gateway as text (an address or an FQDN), with NUL */

enum cfg_select { CFG_SELECT_ROUND_ROBIN, CFG_SELECT_WEIGHT };

struct cfg_redirect_rule {
	char id[CFG_GW_MAX]; /* fnmatch(3) pattern on the client's ID as text */
	char to[CFG_GW_MAX];
};

struct cfg_redirect {
	/* Client: announce REDIRECT_SUPPORTED and follow redirects (3, 5, 6). */
	bool accept;
	char allow[CFG_REDIRECT_MAX][CFG_GW_MAX]; /* allowed targets; none: any */
	size_t n_allow;
	uint32_t max, period; /* 7: at most max redirects in period seconds */
	/* Gateway: IKE_SA_INIT targets (static provider), IKE_AUTH rules. */
	char to[CFG_REDIRECT_MAX][CFG_GW_MAX];
	uint32_t weight[CFG_REDIRECT_MAX];
	size_t n_to;
	enum cfg_select select;
	struct cfg_redirect_rule by_id[CFG_REDIRECT_MAX];
	size_t n_by_id;
	uint32_t grace; /* seconds a redirected SA is kept for the client to delete (5) */
};

/* 4: an IKE_SA_INIT to an anycast address is redirected to a unicast one. */
struct cfg_anycast {
	struct sockaddr_storage address;
	char to[CFG_GW_MAX];
};

/* ---- connections ---- */

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
enum cfg_auth_method { CFG_AUTH_PSK };

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
	bool qcd, qcd_bind_address;   /* RFC 6290 */
	bool mobike;                  /* RFC 4555 */
	bool mobike_no_nats;          /* RFC 4555 3.9: NO_NATS_ALLOWED, refuse NATed updates */
	struct cfg_redirect redirect; /* RFC 5685 */
	bool fragmentation;           /* RFC 7383 */
	uint32_t fragment_size;       /* largest IP datagram of an IKE fragment (RFC 7383 2.5.1) */
	bool encap;                   /* force UDP encapsulation (RFC 3948) */
};

#define CFG_DH_REUSE_MAX        60 /* seconds */
#define CFG_CRYPTO_WORKERS_AUTO UINT32_MAX
#define CFG_CRYPTO_WORKERS_MAX  64
#define CFG_DP_WORKERS_AUTO     UINT32_MAX
#define CFG_DP_WORKERS_MAX      64 /* DP_MAX_WORKERS */

struct cfg {
	char *path; /* owned */
	enum log_target log_target;
	int log_level;                    /* LOG_* */
	char *control_socket, *state_dir; /* owned */
	enum cfg_dataplane dataplane;
	uint16_t ike_port, natt_port;
	uint32_t half_open_cookie_threshold; /* RFC 7296 2.6, RFC 8019 */
	uint32_t half_open_timeout;          /* seconds a responder waits for IKE_AUTH */
	uint32_t half_open_max;              /* half-open SAs held at most, oldest dropped first */
	uint32_t half_open_per_source;       /* the same, per source address (RFC 8019 5) */
	uint32_t half_open_memory; /* KiB held by half-open SAs at most, fragments included */
	/* RFC 8019 4.1, 4.2, 6: what changes while the responder is under attack. */
	uint32_t attack_half_open_timeout; /* seconds, at most half_open_timeout */
	uint32_t dh_per_second;            /* responder IKE_SA_INIT DH budget, 0 = none */
	/* Seconds a responder key pair serves IKE_SA_INIT (RFC 7296 2.12), 0 = off. */
	uint32_t dh_reuse;
	/* RFC 4555 3.6: address announcements per second, all SAs together. */
	uint32_t mobike_announce_rate;
	/* Key-exchange worker threads, 0 = on the event loop; AUTO: one per online CPU. */
	uint32_t crypto_workers;
	/* Userspace data plane packet threads, 0 or 1 = on the event loop;
	 * AUTO: one per online CPU. */
	uint32_t dataplane_workers;
	/* RFC 8019 7.1: client puzzles. */
	bool puzzles;               /* present puzzles with cookies while under attack */
	uint8_t puzzle_difficulty;  /* trailing zero bits asked for, 1..20 */
	uint32_t puzzle_solve_work; /* initiator: PRF computations per attempt, 0 = never solve */
	uint8_t puzzle_auth_difficulty; /* RFC 8019 7.2: IKE_AUTH puzzles, at most; 0 = none */
	/* RFC 8019 5, 4.2: failed IKE_AUTH per source; 0 max = off. */
	uint32_t auth_fail_max, auth_fail_window, auth_fail_block; /* count, seconds, seconds */
	bool qcd_enabled;                                          /* RFC 6290 global switch */
	uint32_t qcd_rollover_interval;                            /* seconds, 0 = never */
	struct cfg_anycast anycast[CFG_REDIRECT_MAX];              /* RFC 5685 4 */
	size_t n_anycast;
	struct cfg_conn *conns; /* owned array */
	size_t nconns;
	/* riked only (metrics.c, keylog.c; riked.conf(5) METRICS, KEY EXPORT):
	 * the Prometheus endpoint, off when metrics_addr's family is 0, and the
	 * directory the debugging key export writes to, NULL when off. */
	struct sockaddr_storage metrics_addr; /* with its port */
	char *keylog_dir;                     /* owned */
	/* owned: the first file holding a pre-shared key that group or
	 * others may read (with its mode), or NULL; riked warns about it */
	char *secrets_exposed;
	unsigned secrets_mode;
};

/* RFC 5685 9.2: what a gateway written as text is: IKEV2_GW_ID_IPV4,
 * _IPV6 or _FQDN (RFC 1035 labels), or 0 when it is none of them. */
uint8_t conf_gw_kind(const char *s);
/* An FQDN as RFC 1035 2.3.1 writes one (and '_'). */
bool conf_fqdn_valid(const char *s);
/* A redirect allow-list entry: an address, a prefix ADDR/LEN, or an FQDN
 * pattern (FQDN characters with fnmatch's * and ?). */
bool conf_allow_valid(const char *s);

/* Borrowed pointer to the named connection, or NULL. */
const struct cfg_conn *conf_conn_lookup(const struct cfg *cfg, const char *name);
/* A selector as text: "10.0.0.0/24", "10.1.1.1-10.1.1.9[6/80]" (riked.conf(5)). */
void conf_ts_format(const struct cfg_ts *ts, char *buf, size_t len);

#endif
