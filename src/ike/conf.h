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
	uint32_t half_open_timeout;          /* seconds a responder waits for IKE_AUTH */
	uint32_t half_open_max;              /* half-open SAs held at most, oldest dropped first */
	uint32_t half_open_per_source;       /* the same, per source address (RFC 8019 5) */
	uint32_t half_open_memory; /* KiB held by half-open SAs at most, fragments included */
	/* RFC 8019 4.1, 4.2, 6: what changes while the responder is under attack. */
	uint32_t attack_half_open_timeout; /* seconds, at most half_open_timeout */
	uint32_t dh_per_second;            /* responder IKE_SA_INIT DH budget, 0 = none */
	/* RFC 8019 7.1: client puzzles. */
	bool puzzles;               /* present puzzles with cookies while under attack */
	uint8_t puzzle_difficulty;  /* trailing zero bits asked for, 1..20 */
	uint32_t puzzle_solve_work; /* initiator: PRF computations per attempt, 0 = never solve */
	/* RFC 8019 5, 4.2: failed IKE_AUTH per source; 0 max = off. */
	uint32_t auth_fail_max, auth_fail_window, auth_fail_block; /* count, seconds, seconds */
	bool qcd_enabled;                                          /* RFC 6290 global switch */
	uint32_t qcd_rollover_interval;                            /* seconds, 0 = never */
	struct cfg_conn *conns;                                    /* owned array */
	size_t nconns;
	/* owned: the first file holding a pre-shared key that group or
	 * others may read (with its mode), or NULL; riked warns about it */
	char *secrets_exposed;
	unsigned secrets_mode;
};

/* Borrowed pointer to the named connection, or NULL. */
const struct cfg_conn *conf_conn_lookup(const struct cfg *cfg, const char *name);

#endif
