/*
 * rike-load's report: setup rate, latency percentiles of the clients that
 * came up (start of IKE_SA_INIT to their Child SA, RFC 7296 1.2), and the
 * failures grouped by reason, as text or as one JSON object.
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "rike-load.h"

void load_fail_reason(struct load_report *r, const char *reason)
{
	size_t i;

	r->failed++;
	for (i = 0; i < r->n_reasons; i++)
		if (!strncmp(r->reasons[i].text, reason, LOAD_REASON_MAX - 1)) {
			r->reasons[i].n++;
			return;
		}
	if (r->n_reasons < LOAD_MAX_REASONS) {
		snprintf(r->reasons[i].text, LOAD_REASON_MAX, "%s", reason);
		r->reasons[r->n_reasons++].n = 1;
		return;
	}
	snprintf(r->reasons[LOAD_MAX_REASONS].text, LOAD_REASON_MAX, "other");
	r->reasons[LOAD_MAX_REASONS].n++;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

struct load_pct {
	double p50, p90, p99, max; /* milliseconds */
};

void load_percentiles(uint32_t *v, size_t k, double *p50, double *p90, double *p99, double *max)
{
	*p50 = *p90 = *p99 = *max = 0;
	if (!v || !k)
		return;
	qsort(v, k, sizeof(*v), cmp_u32);
	*p50 = v[(k * 50 + 99) / 100 - 1] / 1000.0;
	*p90 = v[(k * 90 + 99) / 100 - 1] / 1000.0;
	*p99 = v[(k * 99 + 99) / 100 - 1] / 1000.0;
	*max = v[k - 1] / 1000.0;
}

/* Nearest-rank percentiles of the Child SA setup latencies. */
static void percentiles(const struct load_sa *sas, size_t n, struct load_pct *p)
{
	uint32_t *v = malloc((n ? n : 1) * sizeof(*v));
	size_t k = 0;

	memset(p, 0, sizeof(*p));
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		if (sas[i].st == LOAD_UP)
			v[k++] = sas[i].latency_us;
	load_percentiles(v, k, &p->p50, &p->p90, &p->p99, &p->max);
	free(v);
}

static double setup_secs(const struct load_report *r)
{
	if (!r->established || r->last_up_us <= r->first_start_us)
		return 0;
	return (double)(r->last_up_us - r->first_start_us) / 1e6;
}

static void put_u(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static void put_d(struct json_object *o, const char *k, double v)
{
	json_object_object_add(o, k, json_object_new_double(v));
}

/* --traffic: the "esp" object (man/rike-load.8, REPORT). */
static struct json_object *esp_json(const struct load_esp_report *e)
{
	struct json_object *o = json_object_new_object(), *rtt = json_object_new_object(),
	                   *fail = json_object_new_object();

	json_object_object_add(o, "dst", json_object_new_string(e->dst));
	put_u(o, "packets_per_client", e->packets_per_client);
	put_u(o, "data_len", e->data_len);
	put_u(o, "clients", e->clients);
	put_u(o, "clients_all_replies", e->clients_all);
	put_u(o, "clients_no_reply", e->clients_none);
	put_u(o, "sent", e->sent);
	put_u(o, "received", e->received);
	put_u(o, "lost", e->lost);
	put_u(o, "corrupted", e->corrupted);
	put_u(o, "send_errors", e->send_errors);
	put_u(o, "bytes_sent", e->bytes_sent);
	put_u(o, "bytes_received", e->bytes_received);
	put_u(o, "esp_bytes_sent", e->esp_bytes_sent);
	put_u(o, "esp_bytes_received", e->esp_bytes_received);
	put_d(o, "secs", e->secs);
	put_d(o, "pps", e->pps);
	put_d(rtt, "p50", e->rtt_p50);
	put_d(rtt, "p90", e->rtt_p90);
	put_d(rtt, "p99", e->rtt_p99);
	put_d(rtt, "max", e->rtt_max);
	json_object_object_add(o, "rtt_ms", rtt);
	for (size_t i = 0; i < e->n_fail; i++)
		put_u(fail, e->fail[i].text, e->fail[i].n);
	json_object_object_add(o, "failures", fail);
	return o;
}

static void print_json(const struct load_report *r, const struct load_pct *p, FILE *out)
{
	double secs = setup_secs(r);
	struct json_object *o = json_object_new_object(), *lat = json_object_new_object(),
	                   *fail = json_object_new_object();

	put_u(o, "count", r->count);
	put_u(o, "started", r->started);
	put_u(o, "established", r->established);
	put_u(o, "failed", r->failed);
	put_u(o, "ike_only", r->ike_only);
	put_d(o, "setup_secs", secs);
	put_d(o, "setup_rate", secs > 0 ? r->established / secs : 0.0);
	put_d(lat, "p50", p->p50);
	put_d(lat, "p90", p->p90);
	put_d(lat, "p99", p->p99);
	put_d(lat, "max", p->max);
	json_object_object_add(o, "latency_ms", lat);
	put_u(o, "retransmits", r->retransmits);
	put_u(o, "tx", r->tx);
	put_u(o, "rx", r->rx);
	put_u(o, "send_errors", r->send_errors);
	json_object_object_add(o, "time_limit_hit", json_object_new_boolean(r->time_limit_hit));
	json_object_object_add(o, "traffic", json_object_new_string(r->traffic));
	if (r->esp)
		json_object_object_add(o, "esp", esp_json(r->esp));
	for (size_t i = 0; i <= LOAD_MAX_REASONS; i++)
		if (r->reasons[i].n)
			put_u(fail, r->reasons[i].text, r->reasons[i].n);
	json_object_object_add(o, "failures", fail);
	fprintf(out, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static void print_text(const struct load_report *r, const struct load_pct *p, FILE *out)
{
	double secs = setup_secs(r);

	fprintf(out, "clients:     %llu asked, %llu started\n", (unsigned long long)r->count,
	        (unsigned long long)r->started);
	fprintf(out, "established: %llu IKE SAs with their Child SA",
	        (unsigned long long)r->established);
	if (r->ike_only)
		fprintf(out, " (%llu more without a Child SA, counted as failed)",
		        (unsigned long long)r->ike_only);
	fputc('\n', out);
	fprintf(out, "failed:      %llu\n", (unsigned long long)r->failed);
	for (size_t i = 0; i <= LOAD_MAX_REASONS; i++)
		if (r->reasons[i].n)
			fprintf(out, "  %8llu  %s\n", (unsigned long long)r->reasons[i].n,
			        r->reasons[i].text);
	fprintf(out, "setup:       %.3f s, %.1f SA/s%s\n", secs,
	        secs > 0 ? r->established / secs : 0.0,
	        r->time_limit_hit ? " (time limit reached)" : "");
	fprintf(out, "latency ms:  p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", p->p50, p->p90,
	        p->p99, p->max);
	fprintf(out, "messages:    %llu sent, %llu received, %llu retransmits, %llu send errors\n",
	        (unsigned long long)r->tx, (unsigned long long)r->rx,
	        (unsigned long long)r->retransmits, (unsigned long long)r->send_errors);
}

static void print_esp(const struct load_esp_report *e, FILE *out)
{
	fprintf(out,
	        "traffic:     ICMP echo to %s, %llu clients x %llu packets, %llu data octets\n",
	        e->dst, (unsigned long long)e->clients, (unsigned long long)e->packets_per_client,
	        (unsigned long long)e->data_len);
	fprintf(out,
	        "packets:     %llu sent (%llu with a corrupted ICV), %llu received, %llu lost, "
	        "%llu send errors\n",
	        (unsigned long long)e->sent, (unsigned long long)e->corrupted,
	        (unsigned long long)e->received, (unsigned long long)e->lost,
	        (unsigned long long)e->send_errors);
	fprintf(out, "octets:      %llu / %llu inner, %llu / %llu ESP (sent / received)\n",
	        (unsigned long long)e->bytes_sent, (unsigned long long)e->bytes_received,
	        (unsigned long long)e->esp_bytes_sent, (unsigned long long)e->esp_bytes_received);
	fprintf(out, "replies:     %llu clients got all, %llu none; %.3f s, %.0f packets/s\n",
	        (unsigned long long)e->clients_all, (unsigned long long)e->clients_none, e->secs,
	        e->pps);
	fprintf(out, "rtt ms:      p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", e->rtt_p50,
	        e->rtt_p90, e->rtt_p99, e->rtt_max);
	fprintf(out, "esp failed:  %llu\n", (unsigned long long)e->failures);
	for (size_t i = 0; i < e->n_fail; i++)
		if (e->fail[i].n)
			fprintf(out, "  %8llu  %s\n", (unsigned long long)e->fail[i].n,
			        e->fail[i].text);
}

void load_report_print(struct load_report *r, const struct load_sa *sas, size_t n, bool json,
                       FILE *out)
{
	struct load_pct p;

	percentiles(sas, n, &p);
	if (json)
		print_json(r, &p, out);
	else
		print_text(r, &p, out);
	if (!json && r->esp)
		print_esp(r->esp, out);
	fflush(out);
}
