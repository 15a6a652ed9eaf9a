/*
 * SQLite storage of the Child SPI -> IKE SPI map (RFC 6290 8.2). The
 * database runs in WAL mode with synchronous=NORMAL: a crash loses at
 * most the last uncommitted batch, never the file's consistency, and a
 * lost entry only costs the peer the extra liveness round trip.
 *
 * Rows left by a previous run (SAs that died in a crash or a shutdown
 * without Deletes) are only good for answering INVALID_SPI for a while
 * after the restart: they are marked stale (stale_since, wall-clock
 * seconds, since it must survive restarts) when the map is opened and
 * deleted SPIMAP_STALE_SEC later. A failed flush (a full disk, say) keeps
 * the batch queued and is retried with exponential back-off; the map
 * reports the change to failing, with SQLite's reason and errno, and the
 * recovery, once each.
 */
#include "store/spimap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include <sqlite3.h>

#define SPIMAP_EXPIRE_EVERY_SEC 3600 /* a long run looks for expired rows this often */

struct op {
	bool del;
	struct spimap_entry e;
};

struct spimap {
	sqlite3 *db;
	sqlite3_stmt *put, *del, *get, *expire;
	struct op q[SPIMAP_BATCH];
	size_t nq;
	char *path;
	/* failed flushes: back-off state, the reason, counters */
	bool failing;
	uint32_t backoff_ms;
	uint64_t retry_at_ms;
	uint64_t failures, streak;
	uint64_t commits;
	char err[256];
	int64_t next_expire; /* wall-clock seconds */
};

static spimap_report_fn report_fn;

void spimap_set_report(spimap_report_fn fn)
{
	report_fn = fn;
}

static void report(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!report_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report_fn(level, msg);
}

/* SQLite's message and code for the last call, and the OS error under it. */
static void note_error(struct spimap *m, const char *what)
{
	int sys = sqlite3_system_errno(m->db);

	snprintf(m->err, sizeof(m->err), "%s: %s (SQLite code %d%s%s)", what, sqlite3_errmsg(m->db),
	         sqlite3_extended_errcode(m->db), sys ? "; " : "", sys ? strerror(sys) : "");
}

static int prepare(struct spimap *m)
{
	return sqlite3_prepare_v2(m->db,
	                          "INSERT OR REPLACE INTO spimap(spi, spi_i, spi_r, peer) "
	                          "VALUES (?1, ?2, ?3, ?4)",
	                          -1, &m->put, NULL) != SQLITE_OK ||
	       sqlite3_prepare_v2(m->db, "DELETE FROM spimap WHERE spi = ?1", -1, &m->del, NULL) !=
	           SQLITE_OK ||
	       sqlite3_prepare_v2(m->db, "SELECT spi_i, spi_r, peer FROM spimap WHERE spi = ?1", -1,
	                          &m->get, NULL) != SQLITE_OK ||
	       sqlite3_prepare_v2(m->db,
	                          "DELETE FROM spimap WHERE stale_since != 0 AND "
	                          "(stale_since <= ?1 - ?2 OR stale_since > ?1 + ?2)",
	                          -1, &m->expire, NULL) != SQLITE_OK;
}

/* The table, with stale_since added to a database of an earlier version. */
static int schema(struct spimap *m)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_exec(m->db,
	                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
	                 "CREATE TABLE IF NOT EXISTS spimap (spi INTEGER PRIMARY KEY, "
	                 "spi_i BLOB NOT NULL, spi_r BLOB NOT NULL, peer BLOB, "
	                 "stale_since INTEGER NOT NULL DEFAULT 0)",
	                 NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(m->db, "SELECT stale_since FROM spimap LIMIT 0", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_finalize(st);
		return 0;
	}
	return sqlite3_exec(m->db,
	                    "ALTER TABLE spimap ADD COLUMN stale_since INTEGER NOT NULL DEFAULT 0",
	                    NULL, NULL, NULL) == SQLITE_OK
	           ? 0
	           : -1;
}

/* The map names SAs and peers: mode 0600 for the database and for the
 * -wal/-shm files that an older version may have left at 0644 (SQLite
 * creates new ones with the database's mode). */
static int restrict_modes(const char *path)
{
	static const char *const sfx[] = {"-wal", "-shm", "-journal"};
	char p[4096 + 16];

	if (chmod(path, 0600) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		if (chmod(p, 0600) < 0 && errno != ENOENT)
			return -1;
	}
	return 0;
}

/* Every row present at open is from a previous run: stale from now on. */
static int mark_stale(struct spimap *m, int64_t now)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "UPDATE spimap SET stale_since = %lld WHERE stale_since = 0",
	         (long long)now);
	return sqlite3_exec(m->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

struct spimap *spimap_open(const char *path, char *why, size_t whylen)
{
	struct spimap *m = calloc(1, sizeof(*m));
	int64_t now = (int64_t)time(NULL);
	mode_t old;
	int rc;

	if (!m || !(m->path = strdup(path))) {
		snprintf(why, whylen, "out of memory");
		free(m);
		return NULL;
	}
	old = umask(077); /* born 0600, and so are the -wal and -shm files */
	rc = sqlite3_open(path, &m->db) != SQLITE_OK || schema(m) < 0 || prepare(m) ||
	     mark_stale(m, now) < 0 || spimap_expire(m, now) < 0;
	umask(old);
	if (rc) {
		snprintf(why, whylen, "%s: %s", path,
		         m->db ? sqlite3_errmsg(m->db) : "cannot open");
		spimap_close(m);
		return NULL;
	}
	if (restrict_modes(path) < 0) {
		snprintf(why, whylen, "%s: cannot make it mode 0600: %s", path, strerror(errno));
		spimap_close(m);
		return NULL;
	}
	m->next_expire = now + SPIMAP_EXPIRE_EVERY_SEC;
	return m;
}

static int commit_queue(struct spimap *m);

void spimap_close(struct spimap *m)
{
	if (!m)
		return;
	/* One last try whatever the back-off; if it fails the batch is lost
	 * and the peer falls back to a liveness check (8.2). */
	if (m->db && m->nq && commit_queue(m) < 0)
		m->nq = 0;
	sqlite3_finalize(m->put);
	sqlite3_finalize(m->del);
	sqlite3_finalize(m->get);
	sqlite3_finalize(m->expire);
	sqlite3_close(m->db);
	free(m->path);
	free(m);
}

size_t spimap_pending(const struct spimap *m)
{
	return m->nq;
}

const char *spimap_error(const struct spimap *m)
{
	return m->err;
}

uint64_t spimap_failures(const struct spimap *m)
{
	return m->failures;
}

uint64_t spimap_commits(const struct spimap *m)
{
	return m->commits;
}

int spimap_expire(struct spimap *m, int64_t now)
{
	int rc;

	sqlite3_bind_int64(m->expire, 1, now);
	sqlite3_bind_int64(m->expire, 2, SPIMAP_STALE_SEC);
	rc = sqlite3_step(m->expire);
	sqlite3_reset(m->expire);
	sqlite3_clear_bindings(m->expire);
	return rc == SQLITE_DONE ? sqlite3_changes(m->db) : -1;
}

static int run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int apply(struct spimap *m, const struct op *o)
{
	if (o->del) {
		sqlite3_bind_int64(m->del, 1, o->e.spi);
		return run(m->del);
	}
	sqlite3_bind_int64(m->put, 1, o->e.spi);
	sqlite3_bind_blob(m->put, 2, o->e.spi_i, 8, SQLITE_STATIC);
	sqlite3_bind_blob(m->put, 3, o->e.spi_r, 8, SQLITE_STATIC);
	sqlite3_bind_blob(m->put, 4, o->e.peer, o->e.peer_len, SQLITE_STATIC);
	return run(m->put);
}

/* The queue in one transaction; the reason is kept on failure, before a
 * ROLLBACK can overwrite SQLite's error. */
static int commit_queue(struct spimap *m)
{
	if (sqlite3_exec(m->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		note_error(m, "BEGIN");
		return -1;
	}
	for (size_t i = 0; i < m->nq; i++) {
		if (apply(m, &m->q[i]) < 0) {
			note_error(m, m->q[i].del ? "DELETE" : "INSERT");
			goto rollback;
		}
	}
	if (sqlite3_exec(m->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		note_error(m, "COMMIT");
		goto rollback;
	}
	m->nq = 0;
	m->commits++;
	return 0;
rollback:
	sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static void flush_failed(struct spimap *m, uint64_t now_ms)
{
	m->failures++;
	m->streak++;
	if (!m->failing) {
		m->backoff_ms = SPIMAP_RETRY_MIN_MS;
		report(LOG_WARNING,
		       "Child SPI map %s: writes failing: %s; %zu operation(s) kept queued, "
		       "retrying with back-off up to %u s",
		       m->path, m->err, m->nq, SPIMAP_RETRY_MAX_MS / 1000);
	} else if (m->backoff_ms < SPIMAP_RETRY_MAX_MS / 2) {
		m->backoff_ms *= 2;
	} else {
		m->backoff_ms = SPIMAP_RETRY_MAX_MS;
	}
	m->failing = true;
	m->retry_at_ms = now_ms + m->backoff_ms;
}

int spimap_flush_at(struct spimap *m, uint64_t now_ms)
{
	int64_t now;

	if (!m->nq)
		return 0;
	if (m->failing && now_ms < m->retry_at_ms)
		return SPIMAP_DEFERRED;
	if (commit_queue(m) < 0) {
		flush_failed(m, now_ms);
		return -1;
	}
	if (m->failing) {
		report(LOG_NOTICE,
		       "Child SPI map %s: writes work again after %llu failed attempt(s)", m->path,
		       (unsigned long long)m->streak);
		m->failing = false;
		m->streak = 0;
	}
	now = (int64_t)time(NULL);
	if (now >= m->next_expire) {
		m->next_expire = now + SPIMAP_EXPIRE_EVERY_SEC;
		if (spimap_expire(m, now) < 0)
			note_error(m, "expire");
	}
	return 0;
}

int spimap_flush(struct spimap *m)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return spimap_flush_at(m, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

static int queue(struct spimap *m, const struct op *o)
{
	/* A full queue that cannot be written (or waits for its retry) takes
	 * no more: the caller learns the entry is lost. */
	if (m->nq == SPIMAP_BATCH && spimap_flush(m) != 0)
		return -1;
	m->q[m->nq++] = *o;
	return 0;
}

int spimap_put(struct spimap *m, const struct spimap_entry *e)
{
	struct op o = {false, *e};

	return queue(m, &o);
}

int spimap_del(struct spimap *m, uint32_t spi)
{
	struct op o;

	memset(&o, 0, sizeof(o));
	o.del = true;
	o.e.spi = spi;
	return queue(m, &o);
}

static int blob(sqlite3_stmt *st, int col, uint8_t *dst, size_t want, size_t max)
{
	int n = sqlite3_column_bytes(st, col);
	const void *p = sqlite3_column_blob(st, col);

	if (n < 0 || (size_t)n > max || (want && (size_t)n != want) || (n && !p))
		return -1;
	if (n)
		memcpy(dst, p, (size_t)n);
	return n;
}

int spimap_get(struct spimap *m, uint32_t spi, struct spimap_entry *out)
{
	int rc, n;

	/* The newest queued operation for this SPI wins. */
	for (size_t i = m->nq; i-- > 0;)
		if (m->q[i].e.spi == spi) {
			if (m->q[i].del)
				return 0;
			*out = m->q[i].e;
			return 1;
		}
	memset(out, 0, sizeof(*out));
	sqlite3_bind_int64(m->get, 1, spi);
	rc = sqlite3_step(m->get);
	if (rc == SQLITE_ROW) {
		out->spi = spi;
		n = blob(m->get, 2, out->peer, 0, sizeof(out->peer));
		if (blob(m->get, 0, out->spi_i, 8, 8) < 0 ||
		    blob(m->get, 1, out->spi_r, 8, 8) < 0 || n < 0)
			rc = SQLITE_ERROR;
		else
			out->peer_len = (uint8_t)n;
	}
	sqlite3_reset(m->get);
	sqlite3_clear_bindings(m->get);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}
