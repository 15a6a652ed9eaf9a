/*
 * The QCD secret file (RFC 6290 5.1, 9.1). Layout, all integers big-endian:
 *   "RIKEQCD1" | u32 count | count * (u32 generation | 32-octet secret) | SHA-256 of all before
 * The checksum catches torn or corrupted files; atomic replacement means a
 * crash during a rollover leaves the previous file in place.
 */
#include "store/qcd_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "wire/cursor.h"

static const char magic[8] = {'R', 'I', 'K', 'E', 'Q', 'C', 'D', '1'};
#define FILE_MAX (8 + 4 + QCD_GENERATIONS * (4 + QCD_SECRET_LEN) + 32)

void qcd_secret_wipe(struct qcd_secret *s)
{
	crypto_wipe(s, sizeof(*s));
}

size_t qcd_secret_encode(const struct qcd_secret *s, uint8_t *out, size_t outlen)
{
	struct wire_wr w;
	struct crypto_chunk c;
	size_t len = 0;

	wire_wr_init(&w, FILE_MAX);
	if (wire_wr_bytes(&w, magic, sizeof(magic)) < 0 || wire_wr_u32(&w, (uint32_t)s->n) < 0)
		goto out;
	for (size_t i = 0; i < s->n; i++)
		if (wire_wr_u32(&w, s->gen[i]) < 0 ||
		    wire_wr_bytes(&w, s->key[i], QCD_SECRET_LEN) < 0)
			goto out;
	c.p = w.p;
	c.len = w.len;
	if (w.len + 32 > outlen || crypto_sha256(&c, 1, out + w.len) < 0)
		goto out;
	memcpy(out, w.p, w.len);
	len = w.len + 32;
out:
	wire_wr_free(&w);
	return len;
}

int qcd_secret_decode(const uint8_t *buf, size_t len, struct qcd_secret *s)
{
	struct wire_rd r;
	uint8_t sum[32];
	struct crypto_chunk c = {buf, len >= 32 ? len - 32 : 0};
	uint32_t n;
	char m[8];

	memset(s, 0, sizeof(*s));
	if (len < 8 + 4 + 32 || crypto_sha256(&c, 1, sum) < 0 ||
	    crypto_memcmp(sum, buf + len - 32, 32))
		return -1;
	wire_rd_init(&r, buf, len - 32);
	if (wire_rd_copy(&r, m, 8) < 0 || memcmp(m, magic, 8) || wire_rd_u32(&r, &n) < 0 || !n ||
	    n > QCD_GENERATIONS)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		if (wire_rd_u32(&r, &s->gen[i]) < 0 ||
		    wire_rd_copy(&r, s->key[i], QCD_SECRET_LEN) < 0)
			goto bad;
	if (wire_rd_left(&r))
		goto bad;
	s->n = n;
	return 0;
bad:
	qcd_secret_wipe(s);
	return -1;
}

static int fsync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = -1;

	if (!copy)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}

int store_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	char tmp[4096];
	const uint8_t *p = data;
	size_t off = 0;
	int fd;

	/* One writer (riked holds its pid file lock), so one fixed temporary
	 * name: a file left by a crash is simply truncated next time. */
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	return fsync_dir(path);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

static int save(const char *path, const struct qcd_secret *s, char *why, size_t whylen)
{
	uint8_t buf[FILE_MAX];
	size_t len = qcd_secret_encode(s, buf, sizeof(buf));
	int rc;

	if (!len) {
		snprintf(why, whylen, "cannot encode the secret");
		return -1;
	}
	rc = store_write_atomic(path, buf, len, 0600);
	if (rc < 0)
		snprintf(why, whylen, "cannot write %s: %s", path, strerror(errno));
	crypto_wipe(buf, sizeof(buf));
	return rc;
}

static int fresh(struct qcd_secret *s, uint32_t gen)
{
	memset(s, 0, sizeof(*s));
	s->n = 1;
	s->gen[0] = gen;
	return crypto_random(s->key[0], QCD_SECRET_LEN);
}

enum qcd_load_result qcd_secret_load(const char *path, struct qcd_secret *s, char *why,
                                     size_t whylen)
{
	uint8_t buf[FILE_MAX + 1];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	memset(s, 0, sizeof(*s));
	if (fd < 0 && errno == ENOENT) {
		if (fresh(s, 1) < 0 || save(path, s, why, whylen) < 0) {
			qcd_secret_wipe(s);
			return QCD_IO_ERROR;
		}
		return QCD_CREATED;
	}
	if (fd < 0) {
		snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
		return QCD_IO_ERROR;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
		return QCD_IO_ERROR;
	}
	if ((size_t)n > FILE_MAX || qcd_secret_decode(buf, (size_t)n, s) < 0) {
		snprintf(why, whylen, "%s is corrupt (bad length, magic or checksum)", path);
		crypto_wipe(buf, sizeof(buf));
		return QCD_CORRUPT;
	}
	crypto_wipe(buf, sizeof(buf));
	return QCD_LOADED;
}

int qcd_secret_rollover(const char *path, struct qcd_secret *s, char *why, size_t whylen)
{
	struct qcd_secret next;

	memset(&next, 0, sizeof(next));
	next.n = s->n < QCD_GENERATIONS ? s->n + 1 : QCD_GENERATIONS;
	next.gen[0] = s->n ? s->gen[0] + 1 : 1;
	if (crypto_random(next.key[0], QCD_SECRET_LEN) < 0)
		goto fail;
	for (size_t i = 1; i < next.n; i++) {
		next.gen[i] = s->gen[i - 1];
		memcpy(next.key[i], s->key[i - 1], QCD_SECRET_LEN);
	}
	/* Durable first: tokens from the new secret go out only after this. */
	if (save(path, &next, why, whylen) < 0)
		goto fail;
	*s = next;
	qcd_secret_wipe(&next);
	return 0;
fail:
	qcd_secret_wipe(&next);
	return -1;
}

int qcd_secret_reset(const char *path, struct qcd_secret *s, char *why, size_t whylen)
{
	char aside[4096], ignored[256];
	struct qcd_secret next, old;
	/* The file is kept aside under a name that says what it was: a healthy
	 * secret the operator replaced (rikectl qcd reset --force) or a corrupt
	 * one. Only an existing file is probed: load would create a missing one. */
	bool healthy = access(path, F_OK) == 0 &&
	               qcd_secret_load(path, &old, ignored, sizeof(ignored)) == QCD_LOADED;

	qcd_secret_wipe(&old);
	if (snprintf(aside, sizeof(aside), "%s.%s", path, healthy ? "replaced" : "corrupt") <
	    (int)sizeof(aside))
		(void)rename(path, aside); /* keep the evidence; absence is fine */
	if (fresh(&next, s->n ? s->gen[0] + 1 : 1) < 0 || save(path, &next, why, whylen) < 0) {
		qcd_secret_wipe(&next);
		return -1;
	}
	*s = next;
	qcd_secret_wipe(&next);
	return 0;
}
