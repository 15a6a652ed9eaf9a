/*
 * The bodies of the fuzz targets, one function per target, shared by the
 * libFuzzer entry points (fuzz_*.c) and by the regression replay in the
 * unit suite (tests/unit/test_wire_fuzz_regressions.c,
 * test_fuzz_daemon_regressions.c), so that a saved crash input goes
 * through exactly the code the fuzzer ran. Each returns 0 and abort()s
 * when an invariant of the code under test is broken; sanitizers report
 * memory errors on their own.
 */
#ifndef RIKE_TESTS_FUZZ_HARNESS_H
#define RIKE_TESTS_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

/* harness_wire.c: rike_wire, rike_crypto (and rike_util for keytable). */
int fuzz_decode_one(const uint8_t *data, size_t size);
int fuzz_sk_one(const uint8_t *data, size_t size);
int fuzz_skf_one(const uint8_t *data, size_t size);
int fuzz_keytable_one(const uint8_t *data, size_t size);
/* Frees the fixed-key protection contexts (for leak checkers at exit). */
void fuzz_wire_cleanup(void);

/* harness_daemon.c: src/daemon/config.c and ctl.c. */
int fuzz_config_one(const uint8_t *data, size_t size);
int fuzz_ctl_one(const uint8_t *data, size_t size);

/*
 * replay.c (unit suite only): run fn on every file of
 * $RIKE_SRC/tests/fuzz/regressions/<target>/. Returns the number of files,
 * or -1 if the directory or a file cannot be read.
 */
int fuzz_replay_dir(const char *target, int (*fn)(const uint8_t *, size_t));

#endif
