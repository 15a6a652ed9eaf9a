/*
 * Replay of saved fuzz inputs (tests/fuzz/regressions/<target>/) in the
 * normal unit suite: every file goes through the target's body
 * (harness_*.c), so a crash the fuzzer once found fails `ctest` if it
 * comes back, with or without sanitizers.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define REPLAY_MAX_INPUT (1u << 20)

static int replay_file(const char *path, int (*fn)(const uint8_t *, size_t))
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t n;
	int rc = -1;

	if (!f)
		return -1;
	buf = malloc(REPLAY_MAX_INPUT);
	if (!buf)
		goto out;
	n = fread(buf, 1, REPLAY_MAX_INPUT, f);
	if (ferror(f))
		goto out;
	printf("replay %s (%zu octets)\n", path, n);
	fflush(stdout); /* so that a crash shows which input */
	rc = fn(buf, n);
out:
	free(buf);
	fclose(f);
	return rc;
}

int fuzz_replay_dir(const char *target, int (*fn)(const uint8_t *, size_t))
{
	const char *src = getenv("RIKE_SRC");
	char dir[4096], path[4352];
	struct dirent *de;
	DIR *d;
	int n = 0;

	if (!src || snprintf(dir, sizeof(dir), "%s/tests/fuzz/regressions/%s", src, target) >=
	                (int)sizeof(dir))
		return -1;
	d = opendir(dir);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (replay_file(path, fn) != 0) {
			n = -1;
			break;
		}
		n++;
	}
	closedir(d);
	return n;
}
