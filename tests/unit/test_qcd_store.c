/*
 * Unit tests of rike's persistent QCD state (RFC 6290): the secret file of
 * 5.1 (created on first start with mode 0600 and kept indefinitely, with
 * up to 3 previous generations after rollovers, 4.5), its corruption
 * checks and the operator reset, the atomicity of a rollover against a
 * SIGKILL at any moment (a crash must never leave the maker without its
 * secret, 5: "MUST be able to re-generate ... even after it reboots"), and
 * the SQLite Child SPI -> IKE SPI map of 8.2 with its batched writes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <syslog.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "crypto/crypto.h"
#include "store/qcd_secret.h"
#include "store/spimap.h"

#define FILE_LEN(n) (8 + 4 + (n) * (4 + QCD_SECRET_LEN) + 32)

struct tdir {
	char dir[64];
	char path[128]; /* dir/qcd.secret */
	char db[128];   /* dir/qcd-spi.db */
};

static int rm_fn(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup_dir(void **state)
{
	struct tdir *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	snprintf(t->dir, sizeof(t->dir), "/tmp/rike-qcd-store-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/qcd.secret", t->dir);
	snprintf(t->db, sizeof(t->db), "%s/qcd-spi.db", t->dir);
	*state = t;
	return 0;
}

static int teardown_dir(void **state)
{
	struct tdir *t = *state;

	if (t) {
		(void)nftw(t->dir, rm_fn, 8, FTW_DEPTH | FTW_PHYS);
		free(t);
	}
	return 0;
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap);
	close(fd);
	assert_true(n >= 0);
	return (size_t)n;
}

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

static void load_ok(const char *path, struct qcd_secret *s, enum qcd_load_result want)
{
	char why[256] = "";

	assert_int_equal(qcd_secret_load(path, s, why, sizeof(why)), want);
}

/* ---- the secret file (5.1) ---- */

/* First start: 32 random octets, generation 1, written 0600; a reload gives the same secret. */
static void test_secret_created_then_reloaded(void **state)
{
	struct tdir *t = *state;
	struct qcd_secret s, again;
	struct stat st;
	uint8_t buf[256];

	assert_int_equal(stat(t->path, &st), -1);
	load_ok(t->path, &s, QCD_CREATED);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.gen[0], 1);
	assert_false(all_zero(s.key[0], QCD_SECRET_LEN));
	/* 9.1: "The QCD_SECRET MUST be protected from access by other parties." */
	assert_int_equal(stat(t->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, FILE_LEN(1));
	assert_int_equal(read_file(t->path, buf, sizeof(buf)), FILE_LEN(1));
	assert_memory_equal(buf, "RIKEQCD1", 8);
	/* "kept indefinitely": the second start loads, never re-creates. */
	load_ok(t->path, &again, QCD_LOADED);
	assert_int_equal(again.n, 1);
	assert_int_equal(again.gen[0], 1);
	assert_memory_equal(again.key[0], s.key[0], QCD_SECRET_LEN);
	assert_memory_equal(&again, &s, sizeof(s));
	qcd_secret_wipe(&s);
	assert_true(all_zero((const uint8_t *)&s, sizeof(s)));
	qcd_secret_wipe(&again);
}

/* Two secrets made independently differ (32 random octets each). */
static void test_secret_random(void **state)
{
	struct tdir *t = *state;
	struct qcd_secret a, b;
	char other[160];

	snprintf(other, sizeof(other), "%s/other.secret", t->dir);
	load_ok(t->path, &a, QCD_CREATED);
	load_ok(other, &b, QCD_CREATED);
	assert_memory_not_equal(a.key[0], b.key[0], QCD_SECRET_LEN);
	qcd_secret_wipe(&a);
	qcd_secret_wipe(&b);
}

/* 5.1: a rollover keeps up to 3 previous generations (4 in all), newest first. */
static void test_secret_rollover_keeps_three(void **state)
{
	struct tdir *t = *state;
	struct qcd_secret s, prev, disk;
	char why[256] = "";
	struct stat st;

	load_ok(t->path, &s, QCD_CREATED);
	for (unsigned r = 1; r <= 6; r++) {
		size_t want_n = r + 1 < QCD_GENERATIONS ? r + 1 : QCD_GENERATIONS;

		prev = s;
		assert_int_equal(qcd_secret_rollover(t->path, &s, why, sizeof(why)), 0);
		assert_int_equal(s.n, want_n);
		assert_int_equal(s.gen[0], r + 1);
		assert_memory_not_equal(s.key[0], prev.key[0], QCD_SECRET_LEN);
		/* The older generations shift down by one; the oldest falls out at 4. */
		for (size_t g = 1; g < s.n; g++) {
			assert_int_equal(s.gen[g], prev.gen[g - 1]);
			assert_memory_equal(s.key[g], prev.key[g - 1], QCD_SECRET_LEN);
		}
		/* Durable before use: the file holds exactly what memory holds. */
		load_ok(t->path, &disk, QCD_LOADED);
		assert_memory_equal(&disk, &s, sizeof(s));
		assert_int_equal(stat(t->path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		assert_int_equal(st.st_size, FILE_LEN(want_n));
	}
	/* After 6 rollovers: generations 7, 6, 5, 4. */
	assert_int_equal(s.gen[0], 7);
	assert_int_equal(s.gen[3], 4);
	qcd_secret_wipe(&s);
	qcd_secret_wipe(&prev);
	qcd_secret_wipe(&disk);
}

/* Encode/decode agree, and decode refuses counts outside 1..4 even with a good checksum. */
static void test_secret_codec_counts(void **state)
{
	struct qcd_secret s, d;
	uint8_t buf[FILE_LEN(QCD_GENERATIONS) + 64];
	size_t len;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.n = 3;
	for (size_t g = 0; g < 3; g++) {
		s.gen[g] = 10 - (uint32_t)g;
		memset(s.key[g], 0x40 + (int)g, QCD_SECRET_LEN);
	}
	len = qcd_secret_encode(&s, buf, sizeof(buf));
	assert_int_equal(len, FILE_LEN(3));
	assert_int_equal(qcd_secret_decode(buf, len, &d), 0);
	assert_memory_equal(&d, &s, sizeof(s));
	/* Too small an output buffer: nothing. */
	assert_int_equal(qcd_secret_encode(&s, buf, FILE_LEN(3) - 1), 0);
	/* Count 0 and count 5, re-checksummed so that only the count is wrong. */
	for (int k = 0; k < 2; k++) {
		uint32_t bad = k ? QCD_GENERATIONS + 1 : 0;
		struct crypto_chunk c = {buf, len - 32};

		len = qcd_secret_encode(&s, buf, sizeof(buf));
		buf[8] = (uint8_t)(bad >> 24);
		buf[9] = (uint8_t)(bad >> 16);
		buf[10] = (uint8_t)(bad >> 8);
		buf[11] = (uint8_t)bad;
		assert_int_equal(crypto_sha256(&c, 1, buf + len - 32), 0);
		assert_int_equal(qcd_secret_decode(buf, len, &d), -1);
	}
	qcd_secret_wipe(&s);
	qcd_secret_wipe(&d);
}

/* A corrupt file is reported, and left exactly as it was (tokens from it may be out). */
static void expect_corrupt_untouched(const char *path, const uint8_t *bytes, size_t len)
{
	struct qcd_secret s;
	uint8_t after[512];
	char why[256] = "";

	write_file(path, bytes, len);
	assert_int_equal(qcd_secret_load(path, &s, why, sizeof(why)), QCD_CORRUPT);
	assert_true(why[0] != '\0');
	assert_int_equal(s.n, 0);
	assert_int_equal(read_file(path, after, sizeof(after)), len);
	if (len)
		assert_memory_equal(after, bytes, len);
}

static void test_secret_corrupt_not_replaced(void **state)
{
	struct tdir *t = *state;
	struct qcd_secret s;
	char why[256] = "";
	uint8_t good[512], bad[512];
	size_t len;

	load_ok(t->path, &s, QCD_CREATED);
	assert_int_equal(qcd_secret_rollover(t->path, &s, why, sizeof(why)), 0);
	len = read_file(t->path, good, sizeof(good));
	assert_int_equal(len, FILE_LEN(2));
	/* Every single flipped bit position of every octet is caught (checksum). */
	for (size_t i = 0; i < len; i++) {
		memcpy(bad, good, len);
		bad[i] ^= (uint8_t)(1u << (i % 8));
		expect_corrupt_untouched(t->path, bad, len);
	}
	/* Every truncation, including the empty file. */
	for (size_t l = 0; l < len; l++)
		expect_corrupt_untouched(t->path, good, l);
	/* A trailing extra octet. */
	memcpy(bad, good, len);
	bad[len] = 0;
	expect_corrupt_untouched(t->path, bad, len + 1);
	/* Wrong magic with a checksum that matches it. */
	{
		struct crypto_chunk c = {bad, len - 32};

		memcpy(bad, good, len);
		memcpy(bad, "RIKEQCD2", 8);
		assert_int_equal(crypto_sha256(&c, 1, bad + len - 32), 0);
		expect_corrupt_untouched(t->path, bad, len);
	}
	/* Way too long. */
	memset(bad, 'x', sizeof(bad));
	expect_corrupt_untouched(t->path, bad, sizeof(bad));
	qcd_secret_wipe(&s);
}

/* The operator's reset moves the corrupt file aside and makes a fresh secret. */
static void test_secret_reset(void **state)
{
	struct tdir *t = *state;
	struct qcd_secret s, old, disk;
	char why[256] = "", aside[160];
	uint8_t good[512], bad[512], kept[512];
	size_t len;

	load_ok(t->path, &old, QCD_CREATED);
	len = read_file(t->path, good, sizeof(good));
	memcpy(bad, good, len);
	bad[20] ^= 0x55;
	write_file(t->path, bad, len);
	load_ok(t->path, &s, QCD_CORRUPT);
	assert_int_equal(qcd_secret_reset(t->path, &s, why, sizeof(why)), 0);
	assert_int_equal(s.n, 1);
	assert_memory_not_equal(s.key[0], old.key[0], QCD_SECRET_LEN);
	snprintf(aside, sizeof(aside), "%s.corrupt", t->path);
	assert_int_equal(read_file(aside, kept, sizeof(kept)), len);
	assert_memory_equal(kept, bad, len);
	load_ok(t->path, &disk, QCD_LOADED);
	assert_memory_equal(&disk, &s, sizeof(s));
	/* A healthy secret reset by force is kept aside as .replaced, not as
	 * .corrupt (issue 14). */
	len = read_file(t->path, good, sizeof(good));
	assert_int_equal(qcd_secret_reset(t->path, &s, why, sizeof(why)), 0);
	snprintf(aside, sizeof(aside), "%s.replaced", t->path);
	assert_int_equal(read_file(aside, kept, sizeof(kept)), len);
	assert_memory_equal(kept, good, len);
	/* A reset with no file at all works too. */
	assert_int_equal(unlink(t->path), 0);
	assert_int_equal(qcd_secret_reset(t->path, &s, why, sizeof(why)), 0);
	load_ok(t->path, &disk, QCD_LOADED);
	assert_memory_equal(&disk, &s, sizeof(s));
	qcd_secret_wipe(&s);
	qcd_secret_wipe(&old);
	qcd_secret_wipe(&disk);
}

/* A state directory that does not exist is an I/O error, not a silent new secret. */
static void test_secret_io_error(void **state)
{
	struct tdir *t = *state;
	struct qcd_secret s;
	char why[256] = "", path[200];

	snprintf(path, sizeof(path), "%s/missing-dir/qcd.secret", t->dir);
	assert_int_equal(qcd_secret_load(path, &s, why, sizeof(why)), QCD_IO_ERROR);
	assert_int_equal(s.n, 0);
	/* A failed rollover leaves the in-memory secret as it was. */
	load_ok(t->path, &s, QCD_CREATED);
	{
		struct qcd_secret before = s;

		assert_int_equal(qcd_secret_rollover(path, &s, why, sizeof(why)), -1);
		assert_memory_equal(&before, &s, sizeof(s));
		qcd_secret_wipe(&before);
	}
	qcd_secret_wipe(&s);
}

/*
 * A crash during a rollover: a child rolls the secret over in a loop and
 * is SIGKILLed at random moments; every time, the file still loads, and
 * the generation never goes backwards.
 */
static void test_secret_rollover_sigkill(void **state)
{
	struct tdir *t = *state;
	struct qcd_secret s;
	uint32_t last_gen = 1;
	unsigned seed = 6290, rolled_once = 0;

	load_ok(t->path, &s, QCD_CREATED);
	qcd_secret_wipe(&s);
	/* 200 kills at 0..3 ms; on a loaded machine (fsync is slow) up to 50
	 * more at 0..50 ms until one rollover has completed. */
	for (int it = 0; it < 200 || (it < 250 && !rolled_once); it++) {
		int status;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			char why[256];

			if (qcd_secret_load(t->path, &s, why, sizeof(why)) != QCD_LOADED)
				_exit(3);
			for (;;)
				if (qcd_secret_rollover(t->path, &s, why, sizeof(why)) < 0)
					_exit(2);
		}
		/* 0..3 ms: enough to land inside write, fsync or rename. */
		usleep((useconds_t)(rand_r(&seed) % (it < 200 ? 3000 : 50000)));
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGKILL);
		load_ok(t->path, &s, QCD_LOADED);
		assert_true(s.n >= 1 && s.n <= QCD_GENERATIONS);
		assert_true(s.gen[0] >= last_gen);
		if (s.gen[0] > last_gen)
			rolled_once++;
		last_gen = s.gen[0];
		qcd_secret_wipe(&s);
	}
	/* The loop did roll over (the test exercised what it claims). */
	assert_true(rolled_once > 0);
	print_message("SIGKILL test: generation %u after the kills\n", last_gen);
}

/* ---- the Child SPI map (8.2) ---- */

static void entry(struct spimap_entry *e, uint32_t spi, uint8_t tag, uint8_t peer_len)
{
	memset(e, 0, sizeof(*e));
	e->spi = spi;
	memset(e->spi_i, tag, 8);
	memset(e->spi_r, tag ^ 0xff, 8);
	for (uint8_t i = 0; i < peer_len; i++)
		e->peer[i] = (uint8_t)(tag + i);
	e->peer_len = peer_len;
}

static void expect_entry(struct spimap *m, const struct spimap_entry *want)
{
	struct spimap_entry got;

	assert_int_equal(spimap_get(m, want->spi, &got), 1);
	assert_int_equal(got.spi, want->spi);
	assert_memory_equal(got.spi_i, want->spi_i, 8);
	assert_memory_equal(got.spi_r, want->spi_r, 8);
	assert_int_equal(got.peer_len, want->peer_len);
	assert_memory_equal(got.peer, want->peer, want->peer_len);
}

static void expect_absent(struct spimap *m, uint32_t spi)
{
	struct spimap_entry got;

	assert_int_equal(spimap_get(m, spi, &got), 0);
}

static struct spimap *open_map(const struct tdir *t)
{
	char why[256] = "";
	struct spimap *m = spimap_open(t->db, why, sizeof(why));

	if (!m)
		fail_msg("spimap_open: %s", why);
	return m;
}

/*
 * Issue 13: a burst of Child SA installs (a gateway after a restart) is
 * written in transactions of SPIMAP_BATCH, not one per SA; every entry is
 * there afterwards, and so is every delete of the burst that removes them.
 */
static void test_spimap_burst_batched(void **state)
{
	struct tdir *t = *state;
	struct spimap *m = open_map(t);
	struct spimap_entry e;
	const uint32_t n = 1000, batches = (n + SPIMAP_BATCH - 1) / SPIMAP_BATCH;

	for (uint32_t i = 0; i < n; i++) {
		entry(&e, 0xd0000000u + i, (uint8_t)i, 4);
		assert_int_equal(spimap_put(m, &e), 0);
	}
	assert_int_equal(spimap_flush(m), 0);
	assert_int_equal(spimap_commits(m), batches);
	for (uint32_t i = 0; i < n; i += 97) {
		entry(&e, 0xd0000000u + i, (uint8_t)i, 4);
		expect_entry(m, &e);
	}
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(spimap_del(m, 0xd0000000u + i), 0);
	assert_int_equal(spimap_flush(m), 0);
	assert_int_equal(spimap_commits(m), 2 * batches);
	expect_absent(m, 0xd0000000u);
	expect_absent(m, 0xd0000000u + n - 1);
	spimap_close(m);
}

/* put/get/del, before and after a flush; queued operations are visible at once. */
static void test_spimap_basic(void **state)
{
	struct tdir *t = *state;
	struct spimap *m = open_map(t);
	struct spimap_entry e1, e2, e3;

	entry(&e1, 0xc0000001, 0x11, 4);
	entry(&e2, 0xc0000002, 0x22, 16);
	entry(&e3, 0xc0000003, 0x33, 0);
	expect_absent(m, e1.spi);
	assert_int_equal(spimap_put(m, &e1), 0);
	assert_int_equal(spimap_put(m, &e2), 0);
	assert_int_equal(spimap_put(m, &e3), 0);
	assert_int_equal(spimap_pending(m), 3);
	expect_entry(m, &e1); /* from the queue */
	expect_entry(m, &e2);
	expect_entry(m, &e3);
	assert_int_equal(spimap_flush(m), 0);
	assert_int_equal(spimap_pending(m), 0);
	expect_entry(m, &e1); /* from the database */
	expect_entry(m, &e2);
	expect_entry(m, &e3);
	expect_absent(m, 0xc0000004);
	/* A delete hides the entry while queued and after the flush. */
	assert_int_equal(spimap_del(m, e2.spi), 0);
	expect_absent(m, e2.spi);
	assert_int_equal(spimap_flush(m), 0);
	expect_absent(m, e2.spi);
	expect_entry(m, &e1);
	/* Replacing an SPI's entry (the IKE SA was rekeyed): the newest wins. */
	entry(&e1, e1.spi, 0x44, 4);
	assert_int_equal(spimap_put(m, &e1), 0);
	expect_entry(m, &e1);
	assert_int_equal(spimap_flush(m), 0);
	expect_entry(m, &e1);
	/* An empty flush is fine; deleting what is not there too. */
	assert_int_equal(spimap_flush(m), 0);
	assert_int_equal(spimap_del(m, 0xdeadbeef), 0);
	assert_int_equal(spimap_flush(m), 0);
	/* SPI values above 2^31 round-trip (stored as INTEGER). */
	entry(&e2, 0xffffffff, 0x55, 4);
	assert_int_equal(spimap_put(m, &e2), 0);
	assert_int_equal(spimap_flush(m), 0);
	expect_entry(m, &e2);
	spimap_close(m);
}

/* A put and a delete of the same SPI in one batch: absent before and after the commit. */
static void test_spimap_put_del_same_batch(void **state)
{
	struct tdir *t = *state;
	struct spimap *m = open_map(t);
	struct spimap_entry e, f;

	entry(&e, 0x10, 0x10, 4);
	entry(&f, 0x11, 0x11, 4);
	assert_int_equal(spimap_put(m, &e), 0);
	assert_int_equal(spimap_put(m, &f), 0);
	assert_int_equal(spimap_del(m, e.spi), 0);
	expect_absent(m, e.spi);
	expect_entry(m, &f);
	assert_int_equal(spimap_flush(m), 0);
	expect_absent(m, e.spi);
	expect_entry(m, &f);
	/* And del then put: present. */
	assert_int_equal(spimap_del(m, f.spi), 0);
	entry(&f, 0x11, 0x12, 16);
	assert_int_equal(spimap_put(m, &f), 0);
	expect_entry(m, &f);
	assert_int_equal(spimap_flush(m), 0);
	expect_entry(m, &f);
	spimap_close(m);
}

/* Entries survive close and reopen (the point of 8.2), including a batch close() flushed. */
static void test_spimap_reopen(void **state)
{
	struct tdir *t = *state;
	struct spimap *m = open_map(t);
	struct spimap_entry e1, e2;

	entry(&e1, 0x1001, 0x01, 4);
	entry(&e2, 0x1002, 0x02, 16);
	assert_int_equal(spimap_put(m, &e1), 0);
	assert_int_equal(spimap_flush(m), 0);
	assert_int_equal(spimap_put(m, &e2), 0); /* queued only */
	spimap_close(m);
	m = open_map(t);
	assert_int_equal(spimap_pending(m), 0);
	expect_entry(m, &e1);
	expect_entry(m, &e2);
	spimap_close(m);
	spimap_close(NULL);
}

/* A full batch commits by itself. */
static void test_spimap_batch_autoflush(void **state)
{
	struct tdir *t = *state;
	struct spimap *m = open_map(t);
	struct spimap_entry e;

	for (uint32_t i = 0; i < SPIMAP_BATCH; i++) {
		entry(&e, 0x20000 + i, (uint8_t)i, 4);
		assert_int_equal(spimap_put(m, &e), 0);
	}
	assert_int_equal(spimap_pending(m), SPIMAP_BATCH);
	entry(&e, 0x30000, 0x77, 4);
	assert_int_equal(spimap_put(m, &e), 0);
	assert_int_equal(spimap_pending(m), 1); /* the full batch went to disk */
	for (uint32_t i = 0; i < SPIMAP_BATCH; i += 37) {
		struct spimap_entry want;

		entry(&want, 0x20000 + i, (uint8_t)i, 4);
		expect_entry(m, &want);
	}
	expect_entry(m, &e);
	spimap_close(m);
	/* A second connection (as after a restart) sees the committed batch. */
	m = open_map(t);
	entry(&e, 0x20000 + 5, 5, 4);
	expect_entry(m, &e);
	spimap_close(m);
}

/* A database that cannot be opened is reported, not fatal. */
static void test_spimap_open_fails(void **state)
{
	struct tdir *t = *state;
	char why[256] = "", path[200];

	snprintf(path, sizeof(path), "%s/missing-dir/qcd-spi.db", t->dir);
	assert_null(spimap_open(path, why, sizeof(why)));
	assert_true(why[0] != '\0');
}

/* The database and its -wal/-shm files are 0600 whatever the umask, and
 * files an older version left at 0644 are tightened at open. */
static void expect_mode(const char *path, const char *sfx, mode_t want)
{
	char p[200];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", path, sfx);
	if (stat(p, &st) < 0)
		fail_msg("%s: %s", p, strerror(errno));
	if ((st.st_mode & 07777) != want)
		fail_msg("%s: mode %04o, want %04o", p, st.st_mode & 07777, want);
}

static void test_spimap_modes(void **state)
{
	struct tdir *t = *state;
	mode_t old = umask(022);
	struct spimap *m = open_map(t);
	struct spimap_entry e;

	entry(&e, 0x1001, 1, 4);
	assert_int_equal(spimap_put(m, &e), 0);
	assert_int_equal(spimap_flush(m), 0);
	expect_mode(t->db, "", 0600);
	expect_mode(t->db, "-wal", 0600);
	expect_mode(t->db, "-shm", 0600);
	spimap_close(m);
	/* As an older version left it; the -wal and -shm files created at
	 * the next open copy its mode and are tightened too. */
	assert_int_equal(chmod(t->db, 0644), 0);
	m = open_map(t);
	expect_mode(t->db, "", 0600);
	expect_mode(t->db, "-wal", 0600);
	expect_mode(t->db, "-shm", 0600);
	expect_entry(m, &e);
	spimap_close(m);
	umask(old);
}

/* Rows of a previous run are answered for SPIMAP_STALE_SEC after the
 * restart that found them, then deleted; rows of this run, and a stale
 * SPI put again, stay. */
static void test_spimap_stale_expiry(void **state)
{
	struct tdir *t = *state;
	struct spimap *m = open_map(t);
	struct spimap_entry e1, e2, e3;
	int64_t now;

	entry(&e1, 0x2001, 1, 4);
	entry(&e2, 0x2002, 2, 0);
	entry(&e3, 0x2003, 3, 16);
	assert_int_equal(spimap_put(m, &e1), 0);
	assert_int_equal(spimap_put(m, &e2), 0);
	assert_int_equal(spimap_flush(m), 0);
	/* Rows of this run never expire, however old. */
	assert_int_equal(spimap_expire(m, (int64_t)time(NULL) + 10 * SPIMAP_STALE_SEC), 0);
	spimap_close(m); /* a crash, as far as the map can tell */

	now = (int64_t)time(NULL);
	m = open_map(t);
	expect_entry(m, &e1); /* still answered after the restart (8.2) */
	expect_entry(m, &e2);
	assert_int_equal(spimap_put(m, &e3), 0);
	entry(&e2, 0x2002, 0x22, 4); /* the SPI is in use again: replaced, live */
	assert_int_equal(spimap_put(m, &e2), 0);
	assert_int_equal(spimap_flush(m), 0);
	assert_int_equal(spimap_expire(m, now + SPIMAP_STALE_SEC - 60), 0);
	expect_entry(m, &e1);
	assert_int_equal(spimap_expire(m, now + SPIMAP_STALE_SEC + 60), 1);
	expect_absent(m, e1.spi);
	expect_entry(m, &e2);
	expect_entry(m, &e3);
	spimap_close(m);

	/* An open long after marks and then expires on its own. */
	m = open_map(t);
	assert_int_equal(spimap_expire(m, now + SPIMAP_STALE_SEC - 60), 0);
	/* A clock stepped back by more than the period does not keep them forever. */
	assert_int_equal(spimap_expire(m, now - SPIMAP_STALE_SEC - 60), 2);
	expect_absent(m, e2.spi);
	expect_absent(m, e3.spi);
	spimap_close(m);
}

/* A database written by a version without stale_since is upgraded. */
static void test_spimap_old_schema(void **state)
{
	struct tdir *t = *state;
	struct spimap_entry e;
	struct spimap *m;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "CREATE TABLE spimap (spi INTEGER PRIMARY KEY, spi_i BLOB "
	                              "NOT NULL, spi_r BLOB NOT NULL, peer BLOB);"
	                              "INSERT INTO spimap VALUES (12289, x'0404040404040404', "
	                              "x'fbfbfbfbfbfbfbfb', x'')",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	m = open_map(t);
	entry(&e, 0x3001, 4, 0);
	expect_entry(m, &e);
	assert_int_equal(spimap_expire(m, (int64_t)time(NULL) + SPIMAP_STALE_SEC + 60), 1);
	expect_absent(m, e.spi);
	spimap_close(m);
}

/* ---- a full disk ---- */

static int n_warn, n_notice;
static char last_report[512];

static void capture(int level, const char *msg)
{
	if (level == LOG_WARNING)
		n_warn++;
	else if (level == LOG_NOTICE)
		n_notice++;
	snprintf(last_report, sizeof(last_report), "%s", msg);
}

/* Fills the file system of `path` until ENOSPC. */
static void fill(const char *path)
{
	static char chunk[4096];
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	ssize_t w = 0;

	assert_true(fd >= 0);
	for (int i = 0; i < 100000 && (w = write(fd, chunk, sizeof(chunk))) > 0; i++)
		;
	assert_true(w < 0 && errno == ENOSPC);
	close(fd);
}

/* A flush that fails on a full disk (a 512 KiB tmpfs in a private mount
 * namespace) keeps the batch, says why (SQLite's message) once,
 * retries with back-off and says so once when it works again. Ten
 * simulated minutes with a flush every 100 ms, as riked's QCD timer does. */
static void test_spimap_full_disk(void **state)
{
	struct tdir *t = *state;
	char mnt[128], db[160], filler[160];
	struct spimap_entry e;
	struct spimap *m;
	char why[256];
	uint64_t now, attempts = 0, deferred = 0;

	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0) {
		print_message("needs root for a private tmpfs; skipped\n");
		skip();
	}
	assert_int_equal(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	snprintf(mnt, sizeof(mnt), "%s/tiny", t->dir);
	assert_int_equal(mkdir(mnt, 0700), 0);
	assert_int_equal(mount("tmpfs", mnt, "tmpfs", 0, "size=512k,mode=0700"), 0);
	snprintf(db, sizeof(db), "%s/qcd-spi.db", mnt);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	m = spimap_open(db, why, sizeof(why));
	if (!m)
		fail_msg("%s", why);
	entry(&e, 0x4000, 0x40, 4);
	assert_int_equal(spimap_put(m, &e), 0);
	assert_int_equal(spimap_flush_at(m, 0), 0);

	fill(filler);
	n_warn = n_notice = 0;
	spimap_set_report(capture);
	for (now = 1000; now <= 601000; now += 100) {
		int rc;

		if (now % 1000 == 0 && now <= 100000) {
			entry(&e, 0x4000 + (uint32_t)(now / 1000), 0x41, 4);
			assert_int_equal(spimap_put(m, &e), 0);
		}
		rc = spimap_flush_at(m, now);
		assert_true(rc == -1 || rc == SPIMAP_DEFERRED);
		attempts += rc == -1;
		deferred += rc == SPIMAP_DEFERRED;
	}
	print_message("full disk: %llu attempts, %llu deferred; %s\n", (unsigned long long)attempts,
	              (unsigned long long)deferred, last_report);
	/* 1, 2, 4, ... 32 s, then every 60 s: 16 attempts in 600 s. */
	assert_true(attempts >= 10 && attempts <= 20);
	assert_int_equal(spimap_failures(m), attempts);
	assert_int_equal(spimap_pending(m), 100);
	assert_int_equal(n_warn, 1);
	assert_int_equal(n_notice, 0);
	/* SQLite turns ENOSPC into SQLITE_FULL (13) and keeps no errno for it. */
	assert_non_null(strstr(last_report, "database or disk is full (SQLite code 13)"));
	assert_non_null(strstr(last_report, db));
	assert_non_null(strstr(spimap_error(m), "disk is full"));
	/* Queued entries are still answered. */
	expect_entry(m, &e);

	assert_int_equal(unlink(filler), 0);
	assert_int_equal(spimap_flush_at(m, now), SPIMAP_DEFERRED); /* still backing off */
	assert_int_equal(spimap_flush_at(m, now + SPIMAP_RETRY_MAX_MS), 0);
	assert_int_equal(spimap_pending(m), 0);
	assert_int_equal(n_warn, 1);
	assert_int_equal(n_notice, 1);
	assert_non_null(strstr(last_report, "work again"));
	expect_entry(m, &e);
	spimap_set_report(NULL);
	spimap_close(m);
	assert_int_equal(umount(mnt), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_secret_created_then_reloaded, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_secret_random, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_secret_rollover_keeps_three, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test(test_secret_codec_counts),
	    cmocka_unit_test_setup_teardown(test_secret_corrupt_not_replaced, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_secret_reset, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_secret_io_error, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_secret_rollover_sigkill, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_spimap_basic, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_spimap_put_del_same_batch, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_spimap_reopen, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_spimap_batch_autoflush, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_spimap_burst_batched, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_spimap_open_fails, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_spimap_modes, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_spimap_stale_expiry, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_spimap_old_schema, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_spimap_full_disk, setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
