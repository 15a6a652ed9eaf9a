/*
 * riked's log: one line per event in the format of STYLE.md,
 *   riked[pid]: <level> <subsystem> "<conn>" #<serial> <spi_i>:<spi_r> <event> <details>
 * written to stderr (after an RFC 3339 UTC timestamp with milliseconds),
 * syslog or systemd's journal (with the SA's fields as journal fields:
 * RIKE_CONN, RIKE_SA_SERIAL, RIKE_SPI_I, RIKE_SPI_R, RIKE_SUBSYS,
 * RIKE_EVENT), plus a token-bucket rate limiter for every
 * message that unauthenticated input can trigger. Secrets (keys, nonces,
 * PSKs, DH private values, the QCD secret) must never be passed to these
 * functions. Levels are syslog's: LOG_DEBUG, LOG_INFO, LOG_NOTICE,
 * LOG_WARNING, LOG_ERR. Not thread-safe: call from the event-loop thread.
 */
#ifndef RIKE_UTIL_LOG_H
#define RIKE_UTIL_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <syslog.h>

#include "util/compiler.h"

#define LOG_PRINTF(f, a) __attribute__((format(printf, f, a)))
/* Longest line written; longer ones are cut. */
#define LOG_LINE_MAX 1024

enum log_target {
	LOG_TARGET_STDERR,
	LOG_TARGET_SYSLOG,
	LOG_TARGET_STREAM, /* a caller-supplied FILE, for tests; formatted as stderr */
	LOG_TARGET_JOURNAL,
};

/* Starts logging as `ident` (e.g. "riked") at `min_level` and above.
 * Re-callable (e.g. after a reload changed the target). LOG_TARGET_STDERR
 * becomes LOG_TARGET_JOURNAL when stderr is systemd's journal stream
 * (JOURNAL_STREAM names stderr's device and inode, systemd.exec(5)). */
void log_init(const char *ident, enum log_target target, int min_level);
/* The target log_init chose. */
enum log_target log_target(void);
/* The FILE used by LOG_TARGET_STREAM (borrowed). */
void log_set_stream(FILE *f);
void log_set_level(int min_level);
bool log_enabled(int level);
void log_close(void);
/* "debug", "info", "notice", "warning", "error" <-> LOG_*. */
int log_level_parse(const char *s, int *level) WUR;
const char *log_level_name(int level);

/* A line without an SA: `riked[pid]: <level> <subsys> <details>`. */
void log_msg(int level, const char *subsys, const char *fmt, ...) LOG_PRINTF(3, 4);
/* The SA line of STYLE.md; `conn` may be NULL ("-"), SPIs print as 16 hex
 * digits, `fmt` may be NULL for no details. */
void log_sa(int level, const char *subsys, const char *conn, uint64_t serial, uint64_t spi_i,
            uint64_t spi_r, const char *event, const char *fmt, ...) LOG_PRINTF(8, 9);

/*
 * Rate limiting (STYLE.md "Logs"): each (kind, source address) pair has a
 * token bucket (default burst 5, 1 message per second), and all keys share
 * a global bucket (burst 50, 20 per second) so that spoofed sources cannot
 * flood the log either. Suppressed messages are counted and reported as
 * "N similar messages suppressed" with the next message of that key that
 * passes, or by log_rl_flush(). The source port is not part of the key.
 */
enum log_rl_kind {
	LOG_RL_MALFORMED,   /* undecodable or rule-breaking packets */
	LOG_RL_UNKNOWN_SPI, /* messages for SAs we do not have */
	LOG_RL_COOKIE,      /* cookie demanded or wrong */
	LOG_RL_PROPOSAL,    /* NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD */
	LOG_RL_AUTH,        /* authentication failures */
	LOG_RL_QCD,         /* QCD tokens from unauthenticated peers */
	LOG_RL_REDIRECT,    /* redirects sent or refused before authentication */
	LOG_RL_CTL,         /* control socket abuse */
	LOG_RL_OTHER,
	LOG_RL_KINDS
};

/* Burst and per-second rates of the per-key and global buckets. */
void log_rl_configure(unsigned burst, unsigned per_sec, unsigned global_burst,
                      unsigned global_per_sec);
/* Milliseconds of a monotonic clock; NULL restores CLOCK_MONOTONIC. */
void log_set_clock(uint64_t (*now_ms)(void));
/* Milliseconds since the epoch for the timestamps; NULL restores
 * CLOCK_REALTIME (tests). */
void log_set_wallclock(uint64_t (*now_ms)(void));
/* Forgets all buckets and counts (tests). */
void log_rl_reset(void);
/* True if a message of this kind from `src` (may be NULL) may be logged now;
 * false counts it as suppressed. */
bool log_rl_allow(enum log_rl_kind kind, const struct sockaddr *src);
/* log_msg() if log_rl_allow(); returns whether the line was written. */
bool log_ratelimited(int level, enum log_rl_kind kind, const struct sockaddr *src,
                     const char *subsys, const char *fmt, ...) LOG_PRINTF(5, 6);
/* Reports every pending suppressed count (call from a timer and at exit). */
void log_rl_flush(void);

#endif
