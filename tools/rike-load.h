/*
 * rike-load: many IKE SAs, each with a Child SA, from one process and one
 * IKE engine (rike-load(8)). rike-load.c drives the engine and the
 * sockets; rike-load_report.c keeps the per-SA records and writes the
 * report.
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

struct load_report {
	uint64_t count, started, established, failed, ike_only;
	uint64_t first_start_us, last_up_us;
	struct load_reason reasons[LOAD_MAX_REASONS + 1]; /* the last is "other" */
	size_t n_reasons;
	/* From the engine's counters (ike_get_stats). */
	uint64_t retransmits, tx, rx, send_errors;
	bool time_limit_hit;
	const char *traffic; /* "none" until traffic is implemented */
};

/* Count one failure under its reason (cut to LOAD_REASON_MAX). */
void load_fail_reason(struct load_report *r, const char *reason);
/* Fill the latency percentiles from the established SAs and print the
 * report, as text or one JSON object on one line. */
void load_report_print(struct load_report *r, const struct load_sa *sas, size_t n, bool json,
                       FILE *out);

#endif
