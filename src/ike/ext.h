/*
 * Extension hooks. Quick Crash Detection (RFC 6290), Redirect (RFC 5685)
 * and MOBIKE (RFC 4555) each live in one file that fills a struct ike_ext;
 * the exchange code calls the hooks at fixed points and knows nothing of
 * what the extensions do. A hook that is NULL is skipped.
 */
#ifndef RIKE_IKE_EXT_H
#define RIKE_IKE_EXT_H

#include "ike/sa.h"
#include "util/json.h"

/* Where in an exchange a hook runs. "OUT" points add payloads to a
 * message we are building; "IN" points see a message we received. */
enum ext_point {
	EXT_SA_INIT_REQ_OUT,
	EXT_SA_INIT_REQ_IN,
	EXT_SA_INIT_RESP_OUT,
	EXT_SA_INIT_RESP_IN,
	EXT_AUTH_REQ_OUT,
	EXT_AUTH_REQ_IN,
	EXT_AUTH_RESP_OUT, /* after AUTH (RFC 6290 4.2 wants the token there) */
	EXT_AUTH_RESP_IN,
	EXT_IKE_REKEY_RESP_OUT, /* CREATE_CHILD_SA response that rekeys the IKE SA */
	EXT_IKE_REKEY_DONE,     /* the new IKE SA is in place (sa is the new one) */
	EXT_INFO_REQ_OUT,       /* TASK_INFO_NOTIFY and DPD requests */
	EXT_INFO_REQ_IN,
	EXT_INFO_RESP_OUT,
	EXT_INFO_RESP_IN,
	EXT_POINTS
};

/* What an IN hook decided. */
enum ext_result {
	EXT_CONTINUE, /* go on with the exchange */
	EXT_HANDLED,  /* the hook answered or consumed the message: stop */
	EXT_FAIL,     /* abort the exchange (the hook logged why) */
};

enum ext_child_event { EXT_CHILD_UP, EXT_CHILD_DOWN, EXT_CHILD_MOVED };

struct ike_ext {
	const char *name;
	int (*init)(struct ike *ike);
	void (*free)(struct ike *ike);
	int (*add)(struct ike *ike, struct ike_sa *sa, enum ext_point pt, struct wire_msg *out);
	enum ext_result (*process)(struct ike *ike, struct ike_sa *sa, enum ext_point pt,
	                           const struct wire_msg *in);
	/* A request for an IKE SA we do not have (RFC 7296 2.21.1); may add
	 * payloads to the unprotected INVALID_IKE_SPI answer (RFC 6290 4.5). */
	int (*unknown_spi_answer)(struct ike *ike, const struct wire_msg *req,
	                          const struct ike_addr *local, const struct ike_addr *remote,
	                          struct wire_msg *answer);
	/* An unprotected INFORMATIONAL arrived (RFC 7296 2.21.1, RFC 6290 4.5);
	 * sa is the SA its header names, or NULL. */
	enum ext_result (*unprotected)(struct ike *ike, struct ike_sa *sa,
	                               const struct ike_addr *local, const struct ike_addr *remote,
	                               const struct wire_msg *m);
	/* A Child SA was installed, removed, or moved to another IKE SA. */
	void (*child_event)(struct ike *ike, struct ike_sa *sa, struct child_sa *c,
	                    enum ext_child_event ev);
	/* Milliseconds until the extension's timers want to run, or -1. */
	int64_t (*next_timeout)(struct ike *ike, uint64_t now);
	/* The SA goes away; peer_dead when liveness gave up on it. */
	void (*sa_down)(struct ike *ike, struct ike_sa *sa, bool peer_dead);
	/* An authenticated message came from another address or port. */
	void (*path_seen)(struct ike *ike, struct ike_sa *sa, const struct ike_addr *local,
	                  const struct ike_addr *remote, const struct wire_msg *m);
	void (*timers)(struct ike *ike, uint64_t now);
	/* An ESP packet with an SPI we do not know (RFC 7296 3.10.1, RFC 6290 8.2). */
	void (*esp_unknown_spi)(struct ike *ike, uint32_t spi, const struct ike_addr *local,
	                        const struct ike_addr *remote);
	/* Extra fields for an SA's status (JSON object open). */
	void (*status)(struct ike *ike, const struct ike_sa *sa, struct json *j);
};

/* The extensions (one file each). */
extern const struct ike_ext qcd_ext;

int ext_init(struct ike *ike) WUR;
void ext_free(struct ike *ike);
int ext_add(struct ike *ike, struct ike_sa *sa, enum ext_point pt, struct wire_msg *out) WUR;
enum ext_result ext_process(struct ike *ike, struct ike_sa *sa, enum ext_point pt,
                            const struct wire_msg *in);
void ext_unknown_spi(struct ike *ike, const struct ike_addr *local, const struct ike_addr *remote,
                     const uint8_t *buf, size_t len, const struct wire_msg *m);
enum ext_result ext_unprotected(struct ike *ike, struct ike_sa *sa, const struct ike_addr *local,
                                const struct ike_addr *remote, const struct wire_msg *m);
void ext_child_event(struct ike *ike, struct ike_sa *sa, struct child_sa *c,
                     enum ext_child_event ev);
int64_t ext_next_timeout(struct ike *ike, uint64_t now);
void ext_sa_down(struct ike *ike, struct ike_sa *sa, bool peer_dead);
void ext_path_seen(struct ike *ike, struct ike_sa *sa, const struct ike_addr *local,
                   const struct ike_addr *remote, const struct wire_msg *m);
void ext_timers(struct ike *ike, uint64_t now);
void ext_esp_unknown_spi(struct ike *ike, uint32_t spi, const struct ike_addr *local,
                         const struct ike_addr *remote);
void ext_status(struct ike *ike, const struct ike_sa *sa, struct json *j);
void ike_sa_changed(struct ike *ike, struct ike_sa *sa);

#endif
