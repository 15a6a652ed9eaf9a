/* Internal: what a data plane backend implements (see dp.h for the semantics). */
#ifndef RIKE_DP_BACKEND_H
#define RIKE_DP_BACKEND_H

#include "dataplane/dp.h"

struct dp_backend_ops {
	unsigned features;
	int (*probe)(char *why, size_t whylen);
	void *(*create)(struct dp *dp, struct event_base *base, const struct dp_options *opt);
	void (*destroy)(void *be);
	unsigned (*ifindex)(const void *be);
	int (*sa_add)(void *be, const struct dp_sa *sa);
	int (*sa_del)(void *be, uint32_t reqid, enum dp_dir dir, uint32_t spi);
	int (*sa_migrate)(void *be, uint32_t reqid, const struct sockaddr_storage *local,
	                  const struct sockaddr_storage *remote);
	int (*sa_counters)(void *be, uint32_t reqid, enum dp_dir dir, uint32_t spi,
	                   struct dp_sa_counters *out);
	int (*policy_add)(void *be, const struct dp_policy *p);
	int (*policy_update)(void *be, const struct dp_policy *p);
	int (*policy_del)(void *be, const struct dp_policy *p);
	int (*addr)(void *be, bool add, const struct sockaddr_storage *a, unsigned plen);
	int (*set_udp_socket)(void *be, sa_family_t family, int fd);
	void (*input_udp)(void *be, uint8_t *buf, size_t len, const struct sockaddr_storage *from,
	                  const struct sockaddr_storage *to);
	/* May be NULL: receive steering and the SPI residue (dp.h). */
	bool (*udp_steers)(const void *be);
	int (*udp_steer)(void *be, const int *fds, size_t n);
	int (*udp_unsteer)(void *be, int fd);
	int (*spi_residue)(void *be, uint32_t rekey_reqid, uint32_t *mod, uint32_t *residue);
	/* May be NULL: add counters the backend keeps apart (per thread) to out. */
	void (*stats)(const void *be, struct dp_stats *out);
};

extern const struct dp_backend_ops dp_userspace_ops;
extern const struct dp_backend_ops dp_xfrm_ops;

/* The part of struct dp that backends share (dp.c owns it). */
struct dp_common {
	struct dp_events cb;
	void *ctx;
	struct dp_stats stats;
	uint16_t ike_port, natt_port; /* dp_options, defaults applied */
};

/*
 * RFC 3948 2.1, RFC 7296 2.23: the port `to` names for one end of a
 * UDP-encapsulated SA, corrected when it is 0 or the IKE port: the current
 * port of that end (cur, may be NULL) if cur has the same address and a
 * usable port, else natt_port. True when the port was replaced.
 */
bool dp_encap_port(struct sockaddr_storage *to, const struct sockaddr_storage *cur,
                   uint16_t ike_port, uint16_t natt_port);
/* dp_encap_port on both ends, with a warning naming reqid when one changed. */
void dp_encap_ports(struct dp *dp, uint32_t reqid, struct sockaddr_storage *local,
                    struct sockaddr_storage *remote, const struct sockaddr_storage *cur_local,
                    const struct sockaddr_storage *cur_remote);

struct dp_common *dp_common(struct dp *dp);
/* dp's backend state if dp runs `ops`, else NULL (dp_debug.h's hooks). */
void *dp_backend_state(struct dp *dp, const struct dp_backend_ops *ops);
void dp_log(struct dp *dp, enum dp_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
