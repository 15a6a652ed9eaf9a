/*
 * SQLite storage of the Child SPI -> IKE SPI map (RFC 6290 8.2). The
 * database runs in WAL mode with synchronous=NORMAL: a crash loses at
 * most the last uncommitted batch, never the file's consistency, and a
 * lost entry only costs the peer the extra liveness round trip.
 */
#include "store/spimap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

struct op {
	bool del;
	struct spimap_entry e;
};

struct spimap {
	sqlite3 *db;
	sqlite3_stmt *put, *del, *get;
	struct op q[SPIMAP_BATCH];
	size_t nq;
};

static int prepare(struct spimap *m)
{
	return sqlite3_prepare_v2(m->db,
	                          "INSERT OR REPLACE INTO spimap(spi, spi_i, spi_r, peer) "
	                          "VALUES (?1, ?2, ?3, ?4)",
	                          -1, &m->put, NULL) != SQLITE_OK ||
	       sqlite3_prepare_v2(m->db, "DELETE FROM spimap WHERE spi = ?1", -1, &m->del, NULL) !=
	           SQLITE_OK ||
	       sqlite3_prepare_v2(m->db, "SELECT spi_i, spi_r, peer FROM spimap WHERE spi = ?1", -1,
	                          &m->get, NULL) != SQLITE_OK;
}

struct spimap *spimap_open(const char *path, char *why, size_t whylen)
{
	struct spimap *m = calloc(1, sizeof(*m));

	if (!m) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	if (sqlite3_open(path, &m->db) != SQLITE_OK ||
	    sqlite3_exec(m->db,
	                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
	                 "CREATE TABLE IF NOT EXISTS spimap (spi INTEGER PRIMARY KEY, "
	                 "spi_i BLOB NOT NULL, spi_r BLOB NOT NULL, peer BLOB)",
	                 NULL, NULL, NULL) != SQLITE_OK ||
	    prepare(m)) {
		snprintf(why, whylen, "%s: %s", path,
		         m->db ? sqlite3_errmsg(m->db) : "cannot open");
		spimap_close(m);
		return NULL;
	}
	return m;
}

void spimap_close(struct spimap *m)
{
	if (!m)
		return;
	if (m->db && m->nq && spimap_flush(m) < 0)
		m->nq = 0; /* lost: the peer falls back to a liveness check (8.2) */
	sqlite3_finalize(m->put);
	sqlite3_finalize(m->del);
	sqlite3_finalize(m->get);
	sqlite3_close(m->db);
	free(m);
}

size_t spimap_pending(const struct spimap *m)
{
	return m->nq;
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

int spimap_flush(struct spimap *m)
{
	int rc = 0;

	if (!m->nq)
		return 0;
	if (sqlite3_exec(m->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	for (size_t i = 0; i < m->nq; i++)
		if (apply(m, &m->q[i]) < 0)
			rc = -1;
	if (sqlite3_exec(m->db, rc ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = -1;
	if (rc == 0)
		m->nq = 0;
	return rc;
}

static int queue(struct spimap *m, const struct op *o)
{
	if (m->nq == SPIMAP_BATCH && spimap_flush(m) < 0)
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
