/*
 * The daemon's log (see log.h): formats the STYLE.md line, escapes control
 * characters so that peer-supplied strings (IDs, names) cannot forge lines,
 * and rate-limits messages that unauthenticated input can trigger with a
 * token bucket per (kind, source address) plus a global bucket, in the
 * manner of WireGuard's ratelimiter.c. The buckets live in a small
 * direct-mapped table indexed by a keyed hash, so memory is fixed however
 * many sources an attacker spoofs. Under systemd (the journal as stderr)
 * each line goes to the journal with the SA's identity as fields, so that
 * `journalctl RIKE_CONN=site-b` selects one connection's lines.
 */
#include "util/log.h"
#include "util/ratelimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
/* no CODE_FILE/CODE_LINE: they would always name emit_journal */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#define RL_SLOTS 256

struct rl_slot {
	uint64_t key; /* 0 = empty */
	struct ratelimit b;
	uint64_t suppressed;
	uint8_t kind;
	char addr[INET6_ADDRSTRLEN];
};

static struct {
	char ident[32];
	enum log_target target;
	int min_level;
	FILE *stream;
	uint64_t (*now_ms)(void);
	uint64_t (*wall_ms)(void);
	uint64_t seed;
	unsigned burst, per_sec, gburst, gper_sec;
	struct ratelimit global;
	uint64_t global_suppressed; /* counts of evicted slots and global denials */
	struct rl_slot slots[RL_SLOTS];
} lg = {
    .ident = "riked",
    .target = LOG_TARGET_STDERR,
    .min_level = LOG_INFO,
    .burst = 5,
    .per_sec = 1,
    .gburst = 50,
    .gper_sec = 20,
    .global = {.tokens = 50, .per_sec = 20, .burst = 50},
};

static const char *const level_names[] = {
    [LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit", [LOG_ERR] = "error",
    [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

static const char *const rl_kind_names[LOG_RL_KINDS] = {
    [LOG_RL_MALFORMED] = "malformed", [LOG_RL_UNKNOWN_SPI] = "unknown-spi",
    [LOG_RL_COOKIE] = "cookie",       [LOG_RL_PROPOSAL] = "proposal",
    [LOG_RL_AUTH] = "auth",           [LOG_RL_QCD] = "qcd",
    [LOG_RL_REDIRECT] = "redirect",   [LOG_RL_CTL] = "ctl",
    [LOG_RL_OTHER] = "other",
};

/* systemd.exec(5): JOURNAL_STREAM is "DEVICE:INODE" of the stream that
 * stdout and stderr were connected to; it counts only if stderr still is. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *ident, enum log_target target, int min_level)
{
	if (lg.target == LOG_TARGET_SYSLOG)
		closelog();
	if (target == LOG_TARGET_STDERR && stderr_is_journal())
		target = LOG_TARGET_JOURNAL;
	snprintf(lg.ident, sizeof(lg.ident), "%s", ident ? ident : "riked");
	lg.target = target;
	lg.min_level = min_level;
	if (target == LOG_TARGET_SYSLOG)
		openlog(lg.ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

enum log_target log_target(void)
{
	return lg.target;
}

void log_set_stream(FILE *f)
{
	lg.stream = f;
}

void log_set_level(int min_level)
{
	lg.min_level = min_level;
}

bool log_enabled(int level)
{
	return level <= lg.min_level;
}

void log_close(void)
{
	if (lg.target == LOG_TARGET_SYSLOG)
		closelog();
	lg.target = LOG_TARGET_STDERR;
}

int log_level_parse(const char *s, int *level)
{
	static const int allowed[] = {LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARNING, LOG_ERR};

	for (size_t i = 0; i < ARRAY_LEN(allowed); i++) {
		if (!strcmp(s, level_names[allowed[i]])) {
			*level = allowed[i];
			return 0;
		}
	}
	return -1;
}

const char *log_level_name(int level)
{
	if (level < 0 || (size_t)level >= ARRAY_LEN(level_names))
		return "?";
	return level_names[level];
}

/* Copies `src` to `dst` with control characters and backslashes escaped
 * as \xNN, so one call always produces one line. */
static void escape(char *dst, size_t cap, const char *src)
{
	size_t o = 0;

	for (; *src && o + 5 < cap; src++) {
		unsigned char c = (unsigned char)*src;

		if (c < 0x20 || c == 0x7f || c == '\\')
			o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
		else
			dst[o++] = (char)c;
	}
	dst[o] = '\0';
}

/* The SA of a line, for the journal's fields (NULL: a line without one). */
struct log_sa_id {
	const char *subsys, *conn, *event;
	uint64_t serial, spi_i, spi_r;
};

static uint64_t wall_ms(void)
{
	struct timespec ts;

	if (lg.wall_ms)
		return lg.wall_ms();
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* RFC 3339 5.6, UTC with milliseconds: 2026-12-07T05:20:01.123Z. */
static void timestamp(char *buf, size_t len)
{
	uint64_t ms = wall_ms();
	time_t sec = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&sec, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, len, "-");
		return;
	}
	snprintf(buf + strlen(buf), len - strlen(buf), ".%03uZ", (unsigned)(ms % 1000));
}

/* One journal entry: the line as MESSAGE plus fields (systemd.journal-fields(7)
 * for PRIORITY and SYSLOG_IDENTIFIER; RIKE_* are ours). */
static void emit_journal(int level, const char *subsys, const struct log_sa_id *sa,
                         const char *line)
{
	char f[9][LOG_LINE_MAX + 16];
	struct iovec iov[9];
	int n = 0;

	snprintf(f[n++], sizeof(f[0]), "MESSAGE=%s %s", log_level_name(level), line);
	snprintf(f[n++], sizeof(f[0]), "PRIORITY=%d", level);
	snprintf(f[n++], sizeof(f[0]), "SYSLOG_IDENTIFIER=%s", lg.ident);
	snprintf(f[n++], sizeof(f[0]), "RIKE_SUBSYS=%s", subsys ? subsys : "-");
	if (sa) {
		snprintf(f[n++], sizeof(f[0]), "RIKE_CONN=%s", sa->conn ? sa->conn : "-");
		snprintf(f[n++], sizeof(f[0]), "RIKE_SA_SERIAL=%llu",
		         (unsigned long long)sa->serial);
		snprintf(f[n++], sizeof(f[0]), "RIKE_SPI_I=%016llx", (unsigned long long)sa->spi_i);
		snprintf(f[n++], sizeof(f[0]), "RIKE_SPI_R=%016llx", (unsigned long long)sa->spi_r);
		snprintf(f[n++], sizeof(f[0]), "RIKE_EVENT=%s", sa->event ? sa->event : "-");
	}
	for (int i = 0; i < n; i++) {
		iov[i].iov_base = f[i];
		iov[i].iov_len = strlen(f[i]);
	}
	if (sd_journal_sendv(iov, n) < 0) /* the journal is gone: stderr still is ours */
		fprintf(stderr, "%s[%ld]: %s %s\n", lg.ident, (long)getpid(), log_level_name(level),
		        line);
}

static void emit(int level, const char *subsys, const struct log_sa_id *sa, const char *body)
{
	char line[LOG_LINE_MAX], ts[40];
	FILE *f;

	escape(line, sizeof(line), body);
	if (lg.target == LOG_TARGET_SYSLOG) {
		/* syslog adds "ident[pid]: " itself */
		syslog(level, "%s %s", log_level_name(level), line);
		return;
	}
	if (lg.target == LOG_TARGET_JOURNAL) {
		emit_journal(level, subsys, sa, line);
		return;
	}
	f = lg.target == LOG_TARGET_STREAM && lg.stream ? lg.stream : stderr;
	timestamp(ts, sizeof(ts));
	fprintf(f, "%s %s[%ld]: %s %s\n", ts, lg.ident, (long)getpid(), log_level_name(level),
	        line);
	fflush(f);
}

static void vlog(int level, const char *subsys, const struct log_sa_id *sa, const char *prefix,
                 const char *fmt, va_list ap)
{
	char body[LOG_LINE_MAX];
	int n = snprintf(body, sizeof(body), "%s", prefix);

	if (fmt && n >= 0 && (size_t)n < sizeof(body))
		vsnprintf(body + n, sizeof(body) - (size_t)n, fmt, ap);
	emit(level, subsys, sa, body);
}

void log_msg(int level, const char *subsys, const char *fmt, ...)
{
	char prefix[64];
	va_list ap;

	if (!log_enabled(level))
		return;
	snprintf(prefix, sizeof(prefix), "%s ", subsys ? subsys : "-");
	va_start(ap, fmt);
	vlog(level, subsys, NULL, prefix, fmt, ap);
	va_end(ap);
}

void log_sa(int level, const char *subsys, const char *conn, uint64_t serial, uint64_t spi_i,
            uint64_t spi_r, const char *event, const char *fmt, ...)
{
	const struct log_sa_id sa = {subsys, conn, event, serial, spi_i, spi_r};
	char prefix[256];
	va_list ap;

	if (!log_enabled(level))
		return;
	snprintf(prefix, sizeof(prefix), "%s \"%s\" #%llu %016llx:%016llx %s%s",
	         subsys ? subsys : "-", conn ? conn : "-", (unsigned long long)serial,
	         (unsigned long long)spi_i, (unsigned long long)spi_r, event ? event : "-",
	         fmt ? " " : "");
	va_start(ap, fmt);
	vlog(level, subsys, &sa, prefix, fmt, ap);
	va_end(ap);
}

/* ---- rate limiting ---- */

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void log_set_clock(uint64_t (*now_ms)(void))
{
	lg.now_ms = now_ms;
}

void log_set_wallclock(uint64_t (*now_ms)(void))
{
	lg.wall_ms = now_ms;
}

void log_rl_configure(unsigned burst, unsigned per_sec, unsigned global_burst,
                      unsigned global_per_sec)
{
	lg.burst = burst;
	lg.per_sec = per_sec;
	lg.gburst = global_burst;
	lg.gper_sec = global_per_sec;
	log_rl_reset();
}

void log_rl_reset(void)
{
	memset(lg.slots, 0, sizeof(lg.slots));
	ratelimit_init(&lg.global, lg.gper_sec, lg.gburst);
	lg.global_suppressed = 0;
}

static uint64_t now(void)
{
	return lg.now_ms ? lg.now_ms() : monotonic_ms();
}

/* FNV-1a over the seed, the kind and the address (not the port). */
static uint64_t rl_hash(enum log_rl_kind kind, const struct sockaddr *src, char *text,
                        size_t textlen)
{
	const uint8_t *p = NULL;
	size_t n = 0;
	uint64_t h = 0xcbf29ce484222325ULL ^ lg.seed;

	text[0] = '\0';
	if (src && src->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)src;

		p = (const uint8_t *)&sin->sin_addr;
		n = 4;
	} else if (src && src->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)src;

		p = (const uint8_t *)&sin6->sin6_addr;
		n = 16;
	}
	if (p)
		inet_ntop(src->sa_family, p, text, (socklen_t)textlen);
	h = (h ^ (uint64_t)kind) * 0x100000001b3ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h ? h : 1;
}

static void rl_report(uint64_t count, const struct rl_slot *s)
{
	if (s)
		log_msg(LOG_NOTICE, "log", "%llu similar messages suppressed (%s%s%s)",
		        (unsigned long long)count, rl_kind_names[s->kind],
		        s->addr[0] ? " from " : "", s->addr);
	else
		log_msg(LOG_NOTICE, "log", "%llu similar messages suppressed",
		        (unsigned long long)count);
}

/* The slot for `key`; a different key in it is evicted and its pending
 * count moves to the global one. */
static struct rl_slot *rl_slot(uint64_t key, enum log_rl_kind kind, const char *text)
{
	struct rl_slot *s = &lg.slots[key % RL_SLOTS];

	if (s->key != key) {
		lg.global_suppressed += s->suppressed;
		memset(s, 0, sizeof(*s));
		ratelimit_init(&s->b, lg.per_sec, lg.burst);
		s->key = key;
		s->kind = (uint8_t)kind;
		snprintf(s->addr, sizeof(s->addr), "%s", text);
	}
	return s;
}

bool log_rl_allow(enum log_rl_kind kind, const struct sockaddr *src)
{
	char text[INET6_ADDRSTRLEN];
	struct rl_slot *s;
	uint64_t t = now();

	if ((unsigned)kind >= LOG_RL_KINDS)
		kind = LOG_RL_OTHER;
	if (lg.seed == 0 && getrandom(&lg.seed, sizeof(lg.seed), GRND_NONBLOCK) < 0)
		lg.seed = (uint64_t)t ^ (uint64_t)getpid();
	s = rl_slot(rl_hash(kind, src, text, sizeof(text)), kind, text);
	if (!ratelimit_take(&s->b, t)) {
		s->suppressed++;
		return false;
	}
	if (!ratelimit_take(&lg.global, t)) {
		lg.global_suppressed++;
		return false;
	}
	if (s->suppressed) {
		rl_report(s->suppressed, s);
		s->suppressed = 0;
	}
	return true;
}

bool log_ratelimited(int level, enum log_rl_kind kind, const struct sockaddr *src,
                     const char *subsys, const char *fmt, ...)
{
	char prefix[64];
	va_list ap;

	if (!log_enabled(level) || !log_rl_allow(kind, src))
		return false;
	snprintf(prefix, sizeof(prefix), "%s ", subsys ? subsys : "-");
	va_start(ap, fmt);
	vlog(level, subsys, NULL, prefix, fmt, ap);
	va_end(ap);
	return true;
}

void log_rl_flush(void)
{
	for (size_t i = 0; i < RL_SLOTS; i++) {
		if (lg.slots[i].suppressed) {
			rl_report(lg.slots[i].suppressed, &lg.slots[i]);
			lg.slots[i].suppressed = 0;
		}
	}
	if (lg.global_suppressed) {
		rl_report(lg.global_suppressed, NULL);
		lg.global_suppressed = 0;
	}
}
