/*
 * Half-open responder SAs: those that answered IKE_SA_INIT and wait for
 * IKE_AUTH (RFC 7296 2.6, RFC 8019 4-5). Anyone can make one with a single
 * datagram, so each has a deadline, and together they are capped in number,
 * per source address and in memory (fragments of an IKE_AUTH in
 * reassembly included). When a cap is reached the oldest go first, and
 * every eviction and expiry is counted; the log gets one summary line per
 * interval, never a line per packet.
 *
 * The SAs are kept on a list in order of creation (oldest first) and in a
 * hash by source address, so admission, eviction and the per-source count
 * cost the same whatever the number of half-open SAs.
 */
#include <inttypes.h>
#include <string.h>

#include "util/log.h"
#include "ike/attack.h"

#define HO_SUMMARY_MS 10000

static uint64_t src_key(const struct ike_addr *a)
{
	size_t n;
	const uint8_t *p = addr_bytes(a, &n);
	uint64_t k = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		k = (k ^ p[i]) * 0x100000001b3ULL;
	return k;
}

/* What one half-open SA holds: the struct, the IKE_SA_INIT messages it
 * keeps for AUTH, its response cache and fragments in reassembly. */
static size_t ho_cost(const struct ike_sa *sa)
{
	return sizeof(*sa) + sizeof(*sa->su) + sa->su->init_req.cap + sa->su->init_resp.cap +
	       sa->cache.pkt.cap + (sa->out ? sa->out->pkt.cap : 0) + sa_reasm_bytes(sa);
}

void halfopen_add(struct ike *ike, struct ike_sa *sa)
{
	if (!sa->su || sa->su->ho_linked || sa->initiator)
		return;
	sa->su->ho_prev = ike->ho_tail;
	sa->su->ho_next = NULL;
	if (ike->ho_tail)
		ike->ho_tail->su->ho_next = sa;
	else
		ike->ho_head = sa;
	ike->ho_tail = sa;
	sa->su->ho_key = src_key(&sa->su->init_peer);
	if (hash_put(ike->ho_by_src, sa->su->ho_key, sa) < 0)
		sa->su->ho_key = 0; /* counted nowhere per source; still capped overall */
	sa->su->ho_linked = true;
	/* RFC 8019 4.1: while under attack, a shorter wait for IKE_AUTH. */
	sa->su->ho_deadline_ms =
	    sa->created_ms + (uint64_t)(attack_on(ike) ? ike->cfg->attack_half_open_timeout
	                                               : ike->cfg->half_open_timeout) *
	                         1000;
	sa->su->ho_bytes = ho_cost(sa);
	ike->ho_bytes += sa->su->ho_bytes;
	ike->half_open++;
}

void halfopen_remove(struct ike *ike, struct ike_sa *sa)
{
	if (!sa->su || !sa->su->ho_linked)
		return;
	if (sa->su->ho_prev)
		sa->su->ho_prev->su->ho_next = sa->su->ho_next;
	else
		ike->ho_head = sa->su->ho_next;
	if (sa->su->ho_next)
		sa->su->ho_next->su->ho_prev = sa->su->ho_prev;
	else
		ike->ho_tail = sa->su->ho_prev;
	sa->su->ho_prev = sa->su->ho_next = NULL;
	if (sa->su->ho_key)
		hash_del(ike->ho_by_src, sa->su->ho_key, sa);
	ike->ho_bytes -= sa->su->ho_bytes;
	sa->su->ho_bytes = 0;
	sa->su->ho_linked = false;
	ike->half_open--;
}

static void summary(struct ike *ike)
{
	uint64_t now = ike_now(ike);
	struct ike_stats *st = &ike->stats;

	if (ike->ho_summary_ms && now < ike->ho_summary_ms)
		return;
	ike->ho_summary_ms = now + HO_SUMMARY_MS;
	log_msg(LOG_NOTICE, "ike",
	        "half-open SAs at a cap: %zu held (%zu KiB); %" PRIu64 " evicted, %" PRIu64
	        " expired so far",
	        ike->half_open, ike->ho_bytes / 1024, st->half_open_evicted, st->half_open_expired);
}

static void evict(struct ike *ike, struct ike_sa *sa, const char *why)
{
	ike->stats.half_open_evicted++;
	summary(ike);
	sa_kill_quiet(ike, sa, why);
}

struct oldest_ctx {
	const struct ike_addr *src;
	struct ike_sa *oldest;
	size_t n;
};

static void src_visit(struct ike_sa *sa, void *arg)
{
	struct oldest_ctx *o = arg;

	if (sa->state == IKE_S_DEAD || !addr_equal_host(&sa->su->init_peer, o->src))
		return;
	o->n++;
	if (!o->oldest || sa->serial < o->oldest->serial)
		o->oldest = sa;
}

/* Make room for a new half-open SA from src (RFC 8019 5: per source, then overall). */
void halfopen_admit(struct ike *ike, const struct ike_addr *src)
{
	const struct cfg *cfg = ike->cfg;
	size_t need = sizeof(struct ike_sa) + sizeof(struct ike_setup);
	struct oldest_ctx o = {.src = src};

	hash_each_key(ike->ho_by_src, src_key(src), src_visit, &o);
	if (o.oldest && o.n >= cfg->half_open_per_source)
		evict(ike, o.oldest, "half-open SAs per source at the cap");
	while (ike->ho_head && (ike->half_open >= cfg->half_open_max ||
	                        ike->ho_bytes + need > (size_t)cfg->half_open_memory * 1024))
		evict(ike, ike->ho_head, "half-open SAs at the cap");
}

/* An SA's holdings changed (fragments stored or reassembled): re-count
 * them and, above the memory cap, drop the oldest others first. */
void halfopen_account(struct ike *ike, struct ike_sa *sa)
{
	size_t cap = (size_t)ike->cfg->half_open_memory * 1024;

	if (!sa->su || !sa->su->ho_linked)
		return;
	ike->ho_bytes -= sa->su->ho_bytes;
	sa->su->ho_bytes = ho_cost(sa);
	ike->ho_bytes += sa->su->ho_bytes;
	while (ike->ho_bytes > cap && ike->ho_head && ike->ho_head != sa)
		evict(ike, ike->ho_head, "half-open SAs over the memory cap");
	if (ike->ho_bytes > cap && sa_reasm_bytes(sa)) {
		/* Only this one is left over the cap: its fragments go. */
		sa_reasm_clear(sa);
		ike->stats.half_open_evicted++;
		ike->ho_bytes -= sa->su->ho_bytes;
		sa->su->ho_bytes = ho_cost(sa);
		ike->ho_bytes += sa->su->ho_bytes;
	}
}

/* RFC 8019 4: the deadline by which a half-open SA must be authenticated. */
uint64_t halfopen_deadline(const struct ike *ike, const struct ike_sa *sa)
{
	(void)ike;
	return sa->su && sa->su->ho_linked ? sa->su->ho_deadline_ms : 0;
}

void halfopen_expire(struct ike *ike, struct ike_sa *sa)
{
	ike->stats.half_open_expired++;
	sa_kill_quiet(ike, sa, "no IKE_AUTH in time (half-open)");
}
