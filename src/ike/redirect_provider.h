/*
 * Choosing where to redirect a client (RFC 5685 3: "how the selection is
 * made is beyond the scope of this document"). One file per provider:
 * redirect_anycast.c (RFC 5685 4), redirect_drain.c (the operator empties
 * this gateway), redirect_static.c (a list, round-robin or by weight) and
 * redirect_id.c (identity rules in IKE_AUTH). A cluster-wide least-loaded
 * provider fits the same shape: per-engine state from new(), a choice
 * from choose().
 */
#ifndef RIKE_IKE_REDIRECT_PROVIDER_H
#define RIKE_IKE_REDIRECT_PROVIDER_H

#include "ike/engine.h"

/* Where the redirect would happen. */
enum redirect_place {
	REDIRECT_IN_INIT,   /* IKE_SA_INIT response, statelessly (RFC 5685 3, 4) */
	REDIRECT_IN_AUTH,   /* IKE_AUTH response, client authenticated (6) */
	REDIRECT_IN_ACTIVE, /* INFORMATIONAL of an established SA (5) */
};

struct redirect_query {
	enum redirect_place place;
	struct ike *ike;
	const struct cfg_conn
	    *conn; /* the client's connection (by address in IKE_SA_INIT), or NULL */
	const struct ike_addr *client; /* the client's address */
	const struct ike_addr *local;  /* where its request arrived */
	const char *client_id;         /* its authenticated ID as text (IKE_AUTH), or NULL */
};

struct redirect_provider {
	const char *name;
	void *(*new)(void);
	void (*free)(void *state);
	/* 1: redirect to gw (an address or FQDN as text); 0: not this provider's call. */
	int (*choose)(void *state, const struct redirect_query *q, char gw[CFG_GW_MAX]);
};

extern const struct redirect_provider redirect_anycast, redirect_drain, redirect_static,
    redirect_by_id;

/* The drain provider's switch (rikectl redirect --drain): gw NULL stops. */
void redirect_drain_set(void *state, const char *gw);
const char *redirect_drain_target(const void *state);

#endif
