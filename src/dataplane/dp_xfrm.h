/*
 * Internal to the XFRM backend (xfrm.c) and its unit test: dp.h objects as
 * Linux XFRM netlink messages (linux/xfrm.h) and kernel messages back as
 * plain structs. The builders write into a caller's buffer and return the
 * message, or NULL with errno (EINVAL bad input, EOPNOTSUPP not expressible
 * in XFRM, EMSGSIZE buffer too small); they never talk to the kernel.
 */
#ifndef RIKE_DP_XFRM_H
#define RIKE_DP_XFRM_H

#include <linux/netlink.h>
#include <linux/xfrm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/dp.h"
#include "util/compiler.h"

/* Room for the largest request: NEWSA with keys and a 4096-bit ESN bitmap. */
#define DPX_MSG_MAX 4096

/* The outer side of a Child SA from our point of view (with ports). */
struct dpx_ends {
	enum dp_mode mode;
	struct sockaddr_storage local, remote;
	bool encap; /* ESP in UDP (RFC 3948) */
};

/* XFRM_MSG_NEWSA or XFRM_MSG_UPDSA for sa (keys end up in buf: wipe it). */
struct nlmsghdr *dpx_msg_sa(void *buf, size_t len, uint16_t type, const struct dp_sa *sa);
/* XFRM_MSG_DELSA or XFRM_MSG_GETSA for the ESP SA (dst, spi); spi in host order. */
struct nlmsghdr *dpx_msg_sa_id(void *buf, size_t len, uint16_t type,
                               const struct sockaddr_storage *dst, uint32_t spi);
/* XFRM_MSG_NEWPOLICY (with one XFRMA_TMPL) or XFRM_MSG_DELPOLICY for one
 * direction (XFRM_POLICY_IN / OUT / FWD) of p. */
struct nlmsghdr *dpx_msg_policy(void *buf, size_t len, uint16_t type, const struct dp_policy *p,
                                uint8_t xdir, const struct dpx_ends *e);
/* XFRM_MSG_MIGRATE (RFC 4555 3.5): one direction of p and the SAs of its
 * reqid move from the outer addresses `from` to `to`. */
struct nlmsghdr *dpx_msg_migrate(void *buf, size_t len, const struct dp_policy *p, uint8_t xdir,
                                 const struct dpx_ends *from, const struct dpx_ends *to);
/* The XFRM selector of traffic from src to dst (RFC 4301 4.4.1.1). */
int dpx_selector(struct xfrm_selector *sel, const struct dp_ts *src, const struct dp_ts *dst) WUR;

/* What the kernel says about an SA (GETSA answer or EXPIRE event). */
struct dpx_sa_state {
	sa_family_t family;
	uint8_t daddr[16];
	uint32_t spi, reqid; /* host order */
	uint8_t mode;        /* XFRM_MODE_* */
	uint64_t bytes, packets;
	uint64_t use_time; /* wall-clock seconds of the last packet, 0 if none */
	uint32_t replay_drops, auth_drops;
	uint64_t seq, oseq; /* highest received, last sent (64 bits with ESN) */
	bool hard;          /* EXPIRE only */
	enum dp_expire_reason why;
};

/* Parse an XFRM_MSG_NEWSA (GETSA answer) or an XFRM_MSG_EXPIRE event. */
int dpx_parse_sa(const struct nlmsghdr *nlh, struct dpx_sa_state *out) WUR;
/* Parse an XFRM_MSG_ACQUIRE event: the packet's selector and the reqid of
 * the policy's first template (out->reqid). */
int dpx_parse_acquire(const struct nlmsghdr *nlh, struct dp_acquire *out) WUR;

/* Kernel names of IKEv2 transforms ("rfc4106(gcm(aes))", "hmac(sha256)")
 * with ICV / truncation bits; NULL if XFRM has no counterpart here. */
const char *dpx_encr_name(uint16_t encr, unsigned *icv_bits, bool *aead);
const char *dpx_integ_name(uint16_t integ, unsigned *trunc_bits);

#endif
