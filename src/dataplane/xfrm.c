/*
 * The Linux XFRM backend: detection only, for now. dp_probe() asks the
 * kernel to install a throw-away ESP SA (XFRM_MSG_NEWSA, RFC 4106 AES-GCM,
 * transport mode to 127.0.0.1) and deletes it again; the kernel refuses when
 * it has XFRM but no ESP (CONFIG_INET_ESP / CONFIG_INET6_ESP), as on the
 * test machines. What is missing for a real backend: SA add/delete/update
 * (XFRM_MSG_NEWSA/UPDSA/DELSA with XFRMA_ALG_AEAD/CRYPT/AUTH_TRUNC,
 * XFRMA_ENCAP, XFRMA_REPLAY_ESN_VAL, XFRMA_LTIME_VAL), policies in, out and
 * fwd (XFRM_MSG_NEWPOLICY with templates by reqid), XFRM_MSG_MIGRATE for
 * MOBIKE, XFRM_MSG_GETSA for counters, and listening to the XFRMNLGRP_ACQUIRE
 * and XFRMNLGRP_EXPIRE groups for the dp_events; UDP encapsulation needs
 * UDP_ENCAP_ESPINUDP on the daemon's 4500 socket.
 */
#include "dataplane/dp_backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define XFRM_PROBE_SPI 0x7269ffe5u /* "ri" + something unlikely to be in use */

static void xfrm_probe_sa_id(struct xfrm_usersa_id *id)
{
	memset(id, 0, sizeof(*id));
	id->daddr.a4 = htonl(INADDR_LOOPBACK);
	id->spi = htonl(XFRM_PROBE_SPI);
	id->family = AF_INET;
	id->proto = IPPROTO_ESP;
}

/* Build the NEWSA (add) or DELSA request. */
static struct nlmsghdr *xfrm_probe_msg(char *buf, bool add)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = (unsigned)time(NULL);
	if (!add) {
		nlh->nlmsg_type = XFRM_MSG_DELSA;
		xfrm_probe_sa_id(mnl_nlmsg_put_extra_header(nlh, sizeof(struct xfrm_usersa_id)));
		return nlh;
	}
	nlh->nlmsg_type = XFRM_MSG_NEWSA;
	struct xfrm_usersa_info *sa = mnl_nlmsg_put_extra_header(nlh, sizeof(*sa));
	struct xfrm_usersa_id id;
	xfrm_probe_sa_id(&id);
	sa->id.daddr = id.daddr;
	sa->id.spi = id.spi;
	sa->id.proto = id.proto;
	sa->saddr.a4 = htonl(INADDR_LOOPBACK);
	sa->family = AF_INET;
	sa->mode = XFRM_MODE_TRANSPORT;
	sa->lft.soft_byte_limit = sa->lft.hard_byte_limit = XFRM_INF;
	sa->lft.soft_packet_limit = sa->lft.hard_packet_limit = XFRM_INF;
	char alg[sizeof(struct xfrm_algo_aead) + 20] = {0};
	struct xfrm_algo_aead *aead = (struct xfrm_algo_aead *)alg;
	strcpy(aead->alg_name, "rfc4106(gcm(aes))");
	aead->alg_key_len = 160; /* 128-bit key + 32-bit salt, all zero: never used */
	aead->alg_icv_len = 128;
	mnl_attr_put(nlh, XFRMA_ALG_AEAD, sizeof(alg), alg);
	return nlh;
}

static int xfrm_talk(struct mnl_socket *nl, bool add)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = xfrm_probe_msg(buf, add);
	unsigned seq = nlh->nlmsg_seq;
	ssize_t n;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0)
		return -1;
	return mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(nl), NULL, NULL) < 0 ? -1 : 0;
}

static int xfrm_probe(char *why, size_t whylen)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_XFRM);
	int rc = -1;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(why, whylen, "kernel has no XFRM (CONFIG_XFRM_USER): %s", strerror(errno));
		goto out;
	}
	if (xfrm_talk(nl, true) < 0) {
		if (errno == EPROTONOSUPPORT || errno == ENOSYS || errno == ENOENT)
			snprintf(why, whylen, "kernel has no ESP support (CONFIG_INET_ESP): %s",
			         strerror(errno));
		else
			snprintf(why, whylen, "kernel refused a test ESP SA: %s", strerror(errno));
		goto out;
	}
	(void)xfrm_talk(nl, false); /* remove the test SA; nothing to do if that fails */
	snprintf(why, whylen, "kernel has ESP, but rike's XFRM backend is not implemented yet");
out:
	if (nl)
		mnl_socket_close(nl);
	return rc;
}

static void *xfrm_create(struct dp *dp, struct event_base *base, const struct dp_options *opt)
{
	char why[160];

	if (xfrm_probe(why, sizeof(why)))
		dp_log(dp, DP_LOG_ERR, "xfrm: %s", why);
	errno = EOPNOTSUPP;
	return NULL;
}

/* create() always fails, so dp.c never reaches the other operations. */
const struct dp_backend_ops dp_xfrm_ops = {
    .features = 0,
    .probe = xfrm_probe,
    .create = xfrm_create,
};
