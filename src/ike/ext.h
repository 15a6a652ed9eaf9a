/*
 * The extension contract. Quick Crash Detection (RFC 6290), Redirect
 * (RFC 5685) and MOBIKE (RFC 4555) each live in one file that fills a
 * struct ike_ext and includes only this header (with ike/engine.h): the
 * exchange code runs the hooks at fixed points and knows nothing of what
 * the extensions do; an extension sees an SA only through ike/engine.h.
 *
 * How to write an extension
 * -------------------------
 * 1. Fill a const struct ike_ext in src/ike/NAME.c, declare it below and
 *    list it in ext.c. Engine-wide state: init() returns it, ext_global()
 *    finds it. Per-SA state: set state_size; an SA has none (ctx->state
 *    and ext_state() are NULL) until the extension asks for it with
 *    ext_state_new(), which allocates it zeroed, the first time it has
 *    something to keep for that SA (most SAs of a gateway never use most
 *    extensions: their memory is per SA). Every hook must take a NULL
 *    state as "nothing kept". ext_state_drop() gives it back early; the
 *    engine wipes and frees it with the SA. An IKE rekey (RFC 7296 2.8)
 *    calls inherit() when the old SA has a state, to carry what must
 *    survive into the new SA's (allocated for it); without inherit() or
 *    without an old state the new SA starts with none.
 * 2. hook() runs at the points below, in this order within an exchange.
 *    At an _OUT point, ctx->out is the message being built: add payloads.
 *    At an _IN point, ctx->in is the message received: read it. ctx->sa is
 *    the IKE SA (NULL only at EXT_SA_INIT_REQ_IN).
 *
 *    IKE_SA_INIT (RFC 7296 1.2)
 *      Initiator                         Responder
 *      HDR, SAi1, KEi, Ni  -->                            EXT_SA_INIT_REQ_OUT
 *                                        (cookie checked) EXT_SA_INIT_REQ_IN
 *                          <--  HDR, SAr1, KEr, Nr, [CERTREQ]
 *                                                         EXT_SA_INIT_RESP_OUT
 *      (before its notifies are acted on)                 EXT_SA_INIT_RESP_IN
 *    EXT_SA_INIT_REQ_IN runs after the cookie check (2.6) and before any
 *    state or DH work exists: a hook that returns EXT_HANDLED with
 *    payloads in ctx->out has them sent as the response, statelessly
 *    (RFC 5685 4: redirect in IKE_SA_INIT).
 *
 *    IKE_AUTH (RFC 7296 1.2)
 *      HDR, SK {IDi, [CERT,] [CERTREQ,] [IDr,] AUTH, SAi2, TSi, TSr}  -->
 *                                                         EXT_AUTH_REQ_OUT
 *                                  (initiator verified)   EXT_AUTH_REQ_IN
 *                          <--  HDR, SK {IDr, [CERT,] AUTH, SAr2, TSi, TSr}
 *                                      (after AUTH)       EXT_AUTH_RESP_OUT
 *      (responder's AUTH verified)                        EXT_AUTH_RESP_IN
 *    EXT_AUTH_REQ_IN may return EXT_NO_CHILD: the IKE SA is answered
 *    without a Child SA (RFC 5685 6: redirect in IKE_AUTH); at
 *    EXT_AUTH_RESP_IN it means the initiator makes none from this response.
 *    At a response's _OUT point, ctx->in is the request being answered.
 *
 *    CREATE_CHILD_SA rekeying the IKE SA (RFC 7296 1.3.2)
 *      HDR, SK {SA, Ni, KEi}  -->  <--  HDR, SK {SA, Nr, KEr}
 *                                                         EXT_IKE_REKEY_RESP_OUT
 *      new SA in place, on both sides (ctx->sa is the new SA, ctx->in
 *      the exchange's response or request)               EXT_IKE_REKEY_DONE
 *
 *    INFORMATIONAL (RFC 7296 1.4)
 *      HDR, SK {[N,] [D,] [CP,] ...}  -->  <--  HDR, SK {[N,] [D,] [CP], ...}
 *      our extension request (ike_ext_request): the owner alone
 *                                                         EXT_INFO_REQ_OUT
 *      the peer's request, every extension                EXT_INFO_REQ_IN
 *      our response to it                                 EXT_INFO_RESP_OUT
 *      the response to an extension's request: the owner alone
 *                                                         EXT_INFO_RESP_IN
 *
 * 3. What hook() returns is applied by the engine in one place (ext_run):
 *      EXT_CONTINUE  go on with the exchange;
 *      EXT_HANDLED   the hook answered or consumed the message: stop here
 *                    (at EXT_SA_INIT_REQ_IN: send ctx->out as the answer);
 *      EXT_NO_CHILD  (IKE_AUTH's _IN points only) no Child SA in this exchange;
 *      EXT_FAIL      end the exchange: a request is answered with
 *                    N(ctx->notify) (when set) and the IKE SA removed; a
 *                    response removes the IKE SA (RFC 7296 2.21).
 *    The first hook that does not return EXT_CONTINUE ends the round.
 * 4. Requests of its own: ike_ext_request() queues an INFORMATIONAL that
 *    the owner builds and whose response only the owner sees. Collisions
 *    (window of one, RFC 7296 2.3), by what is under way:
 *      - our rekey, delete, liveness check or another extension's request
 *        is out: the request waits its turn; deletes go first, then
 *        rekeys, then extension requests, then liveness checks;
 *      - the peer's rekey, delete or request arrives while ours is out:
 *        answered as usual; ours is answered on the SA it was sent on;
 *      - our IKE delete starts: queued extension requests are dropped
 *        (the owner hears sa_down when the SA goes);
 *      - an IKE rekey completes (either side) with the request queued:
 *        it moves to the new SA and is built there;
 *      - the request's retransmissions run out: the peer is dead, the
 *        owner hears sa_down(peer_dead).
 * 5. transmit() may choose the path of a request and of each of its
 *    retransmissions (RFC 4555 3.8); addresses_changed() hears the host's
 *    ike_local_addresses() (RFC 4555 3.5: the initiator's own addresses).
 * 6. An extension never touches engine timers or retransmission counters:
 *    its own deadlines go through next_timeout()/timers(), and the
 *    engine's through the primitives of ike/engine.h.
 */
#ifndef RIKE_IKE_EXT_H
#define RIKE_IKE_EXT_H

#include "ike/engine.h"

#include <json-c/json.h>

enum ext_point {
	EXT_SA_INIT_REQ_OUT,
	EXT_SA_INIT_REQ_IN,
	EXT_SA_INIT_RESP_OUT,
	EXT_SA_INIT_RESP_IN,
	EXT_AUTH_REQ_OUT,
	EXT_AUTH_REQ_IN,
	EXT_AUTH_RESP_OUT,
	EXT_AUTH_RESP_IN,
	EXT_IKE_REKEY_RESP_OUT,
	EXT_IKE_REKEY_DONE,
	EXT_INFO_REQ_OUT,
	EXT_INFO_REQ_IN,
	EXT_INFO_RESP_OUT,
	EXT_INFO_RESP_IN,
	EXT_POINTS
};

enum ext_result {
	EXT_CONTINUE,
	EXT_HANDLED,
	EXT_NO_CHILD,
	EXT_FAIL,
};

/* Everything a hook gets. */
struct ext_ctx {
	struct ike *ike;
	struct ike_sa *sa;         /* NULL only at EXT_SA_INIT_REQ_IN and for unprotected input */
	const struct wire_msg *in; /* the message received (IN points), or NULL */
	struct wire_msg *out;      /* the message being built (OUT points), or NULL */
	const struct ike_addr *local, *remote; /* where in came from / out goes */
	void *state;                           /* this extension's state of sa, or NULL */
	uint16_t notify;                       /* set with EXT_FAIL: the notify to answer */
};

enum ext_child_event { EXT_CHILD_UP, EXT_CHILD_DOWN, EXT_CHILD_MOVED };

struct ike_ext {
	const char *name;
	size_t state_size; /* per-SA state, 0: none */
	/* Engine-wide state: returned through *global, freed by free(). */
	int (*init)(struct ike *ike, void **global);
	void (*free)(struct ike *ike, void *global);
	enum ext_result (*hook)(enum ext_point pt, struct ext_ctx *c);
	/* IKE rekey: c->sa is the new SA and c->state its state; old is the
	 * old SA's state (RFC 7296 2.8). */
	void (*inherit)(struct ext_ctx *c, const void *old);
	/* Free what a per-SA state owns (allocations of its own), before the
	 * engine wipes and frees the state itself; NULL: it owns nothing. */
	void (*state_free)(void *state);
	/* The path for transmission `tries` (0: the first) of the outstanding
	 * request; return true after changing the addresses. */
	bool (*transmit)(struct ext_ctx *c, unsigned tries, struct ike_addr *local,
	                 struct ike_addr *remote);
	/* The host's local addresses changed (ike_local_addresses). */
	void (*addresses_changed)(struct ike *ike);
	/* An authenticated message came from another path than the SA's
	 * (c->local, c->remote); EXT_HANDLED: the extension decides where the
	 * SA goes (RFC 4555 3.5), else the engine follows NAT-T (RFC 7296 2.23). */
	enum ext_result (*path_seen)(struct ext_ctx *c);
	/* A protected request for an IKE SA we do not have (RFC 7296 2.21.1):
	 * c->in is the request, c->out the unprotected INVALID_IKE_SPI answer
	 * (RFC 6290 4.5 adds tokens to it). */
	int (*unknown_spi_answer)(struct ext_ctx *c);
	/* An unprotected INFORMATIONAL (RFC 7296 2.21.1, RFC 6290 4.5); c->sa
	 * is the SA its header names, or NULL. */
	enum ext_result (*unprotected)(struct ext_ctx *c);
	/* ESP with an SPI we do not know (RFC 7296 3.10.1, RFC 6290 8.2). */
	void (*esp_unknown_spi)(struct ike *ike, uint32_t spi, const struct ike_addr *local,
	                        const struct ike_addr *remote);
	/* A Child SA of c->sa was installed, removed, or moved to it by a rekey. */
	void (*child_event)(struct ext_ctx *c, struct child_sa *child, enum ext_child_event ev);
	/* The SA goes away; peer_dead when the peer lost it. */
	void (*sa_down)(struct ext_ctx *c, bool peer_dead);
	/* The answer to ike_resolve(tag): n addresses, 0 when name did not resolve. */
	void (*resolved)(struct ike *ike, uint64_t tag, const char *name,
	                 const struct ike_addr *addrs, size_t n);
	/* The extension's own deadlines: milliseconds until due (-1: none), and run them. */
	int64_t (*next_timeout)(struct ike *ike, uint64_t now);
	void (*timers)(struct ike *ike, uint64_t now);
	/* The extension's counters: fn(arg, name, value) for each, with a
	 * stable snake_case name (status shows them as fields of its stats
	 * object, metrics as rike_ike_NAME_total). */
	void (*counters)(struct ike *ike, void *global,
	                 void (*fn)(void *arg, const char *name, uint64_t v), void *arg);
	/* Status of c->sa: members added to the JSON object j (json-c), or,
	 * with j NULL, a short " name value" text appended to text (len
	 * octets, NUL-terminated). */
	void (*status)(struct ext_ctx *c, struct json_object *j, char *text, size_t len);
};

/* The extensions (one file each). */
extern const struct ike_ext qcd_ext;
extern const struct ike_ext redirect_ext;
extern const struct ike_ext mobike_ext;

/* A read-only view of QCD's state of an SA (status, tests). */
#define QCD_VIEW_TOKENS 4
struct qcd_view {
	bool token_sent;                      /* ours went to the peer */
	size_t n_peer;                        /* the peer's tokens held, newest first */
	const uint8_t *peer[QCD_VIEW_TOKENS]; /* borrowed */
	size_t peer_len[QCD_VIEW_TOKENS];
};
struct qcd_view qcd_view(const struct ike_sa *sa);

/* An extension's engine-wide state, and its state of an SA (NULL: none yet). */
void *ext_global(struct ike *ike, const struct ike_ext *e);
void *ext_state(const struct ike_sa *sa, const struct ike_ext *e);
/* The SA's state, allocated zeroed when it has none; NULL: out of memory. */
void *ext_state_new(struct ike_sa *sa, const struct ike_ext *e);
/* Wipe and free the SA's state (NULL-safe); ext_state() is NULL after. */
void ext_state_drop(struct ike_sa *sa, const struct ike_ext *e);

#endif
