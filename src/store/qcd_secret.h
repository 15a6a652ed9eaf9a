/*
 * The persistent QCD secret (RFC 6290 5.1): 32 random octets generated on
 * first start and kept in non-volatile storage, with up to 3 previous
 * generations after rollovers. The file is written atomically (temporary
 * file, fsync, rename, fsync of the directory) with mode 0600 and carries
 * a checksum, so a crash at any moment leaves either the old or the new
 * secret intact, and corruption is detected rather than trusted.
 */
#ifndef RIKE_STORE_QCD_SECRET_H
#define RIKE_STORE_QCD_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

#define QCD_SECRET_LEN  32
#define QCD_GENERATIONS 4 /* the current one and 3 previous (RFC 6290 4.5, 5.1) */

struct qcd_secret {
	size_t n;                                     /* generations held, newest first */
	uint32_t gen[QCD_GENERATIONS];                /* generation numbers */
	uint8_t key[QCD_GENERATIONS][QCD_SECRET_LEN]; /* wiped by qcd_secret_wipe */
};

enum qcd_load_result {
	QCD_LOADED,  /* the file was read and verified */
	QCD_CREATED, /* there was no file: a first secret was made and saved */
	QCD_CORRUPT, /* the file exists but fails its checks: nothing is replaced */
	QCD_IO_ERROR,
};

/*
 * Load the secret from path, or create it when the file does not exist.
 * A corrupt file is never overwritten here (tokens made from it may still
 * be outstanding): the caller reports it and runs without the maker role
 * until the operator forces a new secret with qcd_secret_reset().
 * why receives a reason on failure.
 */
enum qcd_load_result qcd_secret_load(const char *path, struct qcd_secret *s, char *why,
                                     size_t whylen);
/* Generate a new current secret, keep up to 3 previous ones, save atomically.
 * On failure the in-memory and on-disk secrets are unchanged. */
int qcd_secret_rollover(const char *path, struct qcd_secret *s, char *why, size_t whylen) WUR;
/* Replace the file with a fresh single-generation secret (operator action):
 * a corrupt file is kept aside as path.corrupt, a healthy one as
 * path.replaced. */
int qcd_secret_reset(const char *path, struct qcd_secret *s, char *why, size_t whylen) WUR;
/* Serialise / parse (exposed for tests and fuzzing). */
size_t qcd_secret_encode(const struct qcd_secret *s, uint8_t *out, size_t outlen);
int qcd_secret_decode(const uint8_t *buf, size_t len, struct qcd_secret *s) WUR;
void qcd_secret_wipe(struct qcd_secret *s);

/* Write a file atomically with the given mode: tmp + fsync + rename + fsync(dir). */
int store_write_atomic(const char *path, const void *data, size_t len, unsigned mode) WUR;

#endif
