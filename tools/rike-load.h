/*
 * rike-load: many IKE SAs, each with a Child SA, from one process and one
 * IKE engine (rike-load(8)). rike-load.c drives the engine and the
 * sockets; rike-load_report.c keeps the per-SA records and writes the
 * report; rike-load_traffic.c sends ESP through each client's Child SA
 * (--traffic) and counts the answers.
 */
#ifndef RIKE_TOOLS_RIKE_LOAD_H
#define RIKE_TOOLS_RIKE_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LOAD_MAX_REASONS 16 /* distinct failure reasons kept; the rest are "other" */
#define LOAD_REASON_MAX  96

enum load_st {
	LOAD_PENDING, /* started, not yet up */
	LOAD_IKE_UP,  /* IKE SA established, Child SA not (yet) */
	LOAD_UP,      /* IKE SA and Child SA established */
	LOAD_FAILED,
};

/* One client: an IKE SA of the engine (by serial) and its timing. */
struct load_sa {
	uint64_t serial;
	uint64_t start_us;
	uint32_t latency_us; /* start to Child SA up */
	uint8_t st;          /* enum load_st */
	bool deleted;        /* our Delete is out */
};

struct load_reason {
	char text[LOAD_REASON_MAX];
	uint64_t n;
};

/* What --traffic sent and got back (rike-load_traffic.c fills it). */
#define LOAD_ESP_REASONS 24
struct load_esp_report {
	char dst[64]; /* the inner destination: --traffic-dst, or "first address of TSr" */
	uint64_t packets_per_client, data_len;
	uint64_t clients;      /* clients with a Child SA to send through */
	uint64_t clients_all;  /* ... that got every reply */
	uint64_t clients_none; /* ... that got no reply */
	uint64_t sent, received, lost, corrupted, send_errors;
	uint64_t bytes_sent, bytes_received;         /* inner IP octets */
	uint64_t esp_bytes_sent, esp_bytes_received; /* ESP octets (UDP payload) */
	double secs, pps;                            /* first send to last reply */
	double rtt_p50, rtt_p90, rtt_p99, rtt_max;   /* milliseconds */
	struct load_reason fail[LOAD_ESP_REASONS];   /* every reason, zeros too */
	size_t n_fail;
	uint64_t failures; /* their sum */
};

struct load_report {
	uint64_t count, started, established, failed, ike_only;
	uint64_t first_start_us, last_up_us;
	struct load_reason reasons[LOAD_MAX_REASONS + 1]; /* the last is "other" */
	size_t n_reasons;
	/* From the engine's counters (ike_get_stats). */
	uint64_t retransmits, tx, rx, send_errors;
	bool time_limit_hit;
	const char *traffic;               /* "none", or "icmp-echo" with --traffic */
	const struct load_esp_report *esp; /* with --traffic */
};

/* Count one failure under its reason (cut to LOAD_REASON_MAX). */
void load_fail_reason(struct load_report *r, const char *reason);
/* Fill the latency percentiles from the established SAs and print the
 * report, as text or one JSON object on one line. */
void load_report_print(struct load_report *r, const struct load_sa *sas, size_t n, bool json,
                       FILE *out);

/* CLOCK_MONOTONIC in microseconds. */
uint64_t load_now_us(void);
/* Nearest-rank percentiles of v[0..n) (sorted here), microseconds in, ms out. */
void load_percentiles(uint32_t *v, size_t n, double *p50, double *p90, double *p99, double *max);

/* ---- --traffic (rike-load_traffic.c) ---- */
struct ike_child_info;

struct load_traffic_opts {
	const char *dst;  /* inner destination; NULL: each Child SA's first TSr address */
	unsigned packets; /* per client */
	double rate;      /* packets per second, all clients together */
	size_t data_len;  /* ICMP data octets */
	double wait;      /* seconds to wait for replies after the last send */
	unsigned corrupt; /* every corrupt-th packet gets a bad ICV; 0: none */
};

struct load_traffic;
/* fd: the NAT-T socket (borrowed). NULL on a bad --traffic-dst or no memory. */
struct load_traffic *load_traffic_new(const struct load_traffic_opts *o, size_t clients, int fd);
void load_traffic_free(struct load_traffic *t);
/* Client idx's Child SA is up (or was rekeyed) / went down. */
void load_traffic_child_up(struct load_traffic *t, size_t idx, const struct ike_child_info *c);
void load_traffic_child_down(struct load_traffic *t, size_t idx, const struct ike_child_info *c);
/* An ESP packet arrived on the NAT-T socket (RFC 3948 2.1); buf is decrypted in place. */
void load_traffic_input(struct load_traffic *t, uint8_t *buf, size_t len);
/* Start sending: the clients up now take part. */
void load_traffic_start(struct load_traffic *t, uint64_t now_us);
/* Send what is due; milliseconds until something is due again, -1 when done. */
int load_traffic_step(struct load_traffic *t, uint64_t now_us);
/* The counters so far, into r. */
void load_traffic_report(struct load_traffic *t, struct load_esp_report *r);

#endif
