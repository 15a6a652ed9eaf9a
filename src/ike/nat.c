/*
 * NAT detection (RFC 7296 2.23): the NAT_DETECTION_SOURCE_IP and
 * NAT_DETECTION_DESTINATION_IP notifies carry SHA-1(SPIi | SPIr | IP | Port).
 * A mismatch on the destination hash means we are behind a NAT; on the
 * source hash, the peer is. Either way the SA floats to port 4500 and
 * protects ESP with UDP encapsulation (RFC 3948).
 */
#include <string.h>

#include "ike/sa.h"
#include "wire/notify.h"

static int nat_hash(const uint8_t spi_i[8], const uint8_t spi_r[8], const struct ike_addr *a,
                    uint8_t out[WIRE_NAT_HASH_LEN])
{
	size_t alen, ilen;
	const uint8_t *ab = addr_bytes(a, &alen);
	uint8_t input[WIRE_NAT_HASH_INPUT_MAX];

	if (wire_nat_hash_input(spi_i, spi_r, ab, alen, addr_port(a), input, &ilen) < 0)
		return -1;
	return crypto_sha1(&(struct crypto_chunk){input, ilen}, 1, out);
}

int nat_add_detection(struct wire_msg *m, const uint8_t spi_i[8], const uint8_t spi_r[8],
                      const struct ike_addr *src, const struct ike_addr *dst, bool fake_nat)
{
	uint8_t hs[WIRE_NAT_HASH_LEN], hd[WIRE_NAT_HASH_LEN];

	if (nat_hash(spi_i, spi_r, src, hs) < 0 || nat_hash(spi_i, spi_r, dst, hd) < 0)
		return -1;
	/* 2.23: a hash that cannot match makes the peer see a NAT in front of
	 * us, so both ends use port 4500 and UDP-encapsulated ESP. */
	if (fake_nat && crypto_random(hs, sizeof(hs)) < 0)
		return -1;
	if (build_notify(m, 0, NULL, 0, IKEV2_N_NAT_DETECTION_SOURCE_IP, hs, sizeof(hs)) < 0)
		return -1;
	return build_notify(m, 0, NULL, 0, IKEV2_N_NAT_DETECTION_DESTINATION_IP, hd, sizeof(hd));
}

/*
 * Compare the peer's hashes with what we see. A forced encapsulation
 * (conn->encap) pretends a NAT on our side, as 2.23 allows: the peer then
 * encapsulates too.
 */
void nat_check(struct ike_sa *sa, const struct wire_msg *m)
{
	(void)nat_check_path(sa, m, &sa->local, &sa->remote);
}

int nat_check_path(struct ike_sa *sa, const struct wire_msg *m, const struct ike_addr *local,
                   const struct ike_addr *remote)
{
	const uint8_t zero[8] = {0};
	const uint8_t *spi_r = sa->state == IKE_S_INIT_DONE && !sa->initiator ? zero : sa->spi_r;
	uint8_t h[WIRE_NAT_HASH_LEN];
	struct wire_nat_detection d;
	bool src_seen = false, src_match = false, dst_seen = false, dst_match = false;

	for (size_t i = 0; i < m->npayloads; i++) {
		const struct wire_payload *p = &m->payloads[i];

		/* A malformed NAT_DETECTION_*_IP counts as absent. */
		if (p->type != IKEV2_PL_N || wire_nat_detection_decode(&p->u.notify, &d, NULL) < 0)
			continue;
		if (p->u.notify.type == IKEV2_N_NAT_DETECTION_SOURCE_IP) {
			src_seen = true;
			if (nat_hash(sa->spi_i, spi_r, remote, h) == 0 &&
			    !crypto_memcmp(h, d.hash, sizeof(h)))
				src_match = true;
		} else {
			dst_seen = true;
			if (nat_hash(sa->spi_i, spi_r, local, h) == 0 &&
			    !crypto_memcmp(h, d.hash, sizeof(h)))
				dst_match = true;
		}
	}
	if (!src_seen || !dst_seen)
		return 0; /* the peer does not do NAT-T */
	sa->nat_remote = !src_match;
	sa->nat_local = !dst_match || sa->fake_nat;
	if (sa->nat_remote || sa->nat_local)
		sa->natt = true;
	return sa->nat_remote || !dst_match ? 2 : 1;
}

/* ---- for extensions (ike/engine.h) ---- */

int ike_nat_add(struct ike *ike, struct ike_sa *sa, struct wire_msg *m,
                const struct ike_addr *local, const struct ike_addr *remote)
{
	(void)ike;
	return nat_add_detection(m, sa->spi_i, sa->spi_r, local, remote, sa->fake_nat);
}

int ike_nat_check(struct ike *ike, struct ike_sa *sa, const struct wire_msg *m,
                  const struct ike_addr *local, const struct ike_addr *remote)
{
	(void)ike;
	return nat_check_path(sa, m, local, remote);
}

bool ike_sa_natt(const struct ike_sa *sa)
{
	return sa->natt;
}
