/*
 * Helpers for the test_crypto_* programs: hex decoding and reading the
 * known-answer files under $RIKE_SRC/tests/vectors. A missing file makes
 * the program exit 77 (skipped), never pass.
 */
#ifndef RIKE_CRYPTO_TEST_UTIL_H
#define RIKE_CRYPTO_TEST_UTIL_H

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int tu_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode hex (whitespace ignored) into out; returns the length or -1. */
static inline long tu_hex(const char *hex, unsigned char *out, size_t max)
{
	size_t n = 0;
	int hi = -1;

	for (; *hex != '\0'; hex++) {
		int v;

		if (isspace((unsigned char)*hex))
			continue;
		v = tu_hexval((unsigned char)*hex);
		if (v < 0)
			return -1;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n == max)
			return -1;
		out[n++] = (unsigned char)(hi << 4 | v);
		hi = -1;
	}
	return hi < 0 ? (long)n : -1;
}

static inline FILE *tu_open_vector(const char *name)
{
	const char *src = getenv("RIKE_SRC");
	char path[4096];
	FILE *f;

	if (src == NULL) {
		fprintf(stderr, "RIKE_SRC is not set: cannot find tests/vectors/%s\n", name);
		exit(77);
	}
	snprintf(path, sizeof(path), "%s/tests/vectors/%s", src, name);
	f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "%s is missing\n", path);
		exit(77);
	}
	return f;
}

static inline char *tu_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Split "key = value"; returns 0 and points into line, or -1. */
static inline int tu_split(char *line, char **key, char **value)
{
	char *eq = strchr(line, '=');

	if (eq == NULL)
		return -1;
	*eq = '\0';
	*key = tu_trim(line);
	*value = tu_trim(eq + 1);
	return 0;
}

/*
 * The "[section]" / "NAME = hex" files (rfc-*.txt): the value of name in
 * the first section whose title starts with prefix, decoded into out.
 */
static inline long tu_section_hex(const char *file, const char *prefix, const char *name,
                                  unsigned char *out, size_t max)
{
	FILE *f = tu_open_vector(file);
	char line[8192], *key, *value;
	int in = 0;
	long ret = -1;

	while (fgets(line, sizeof(line), f) != NULL) {
		char *t = tu_trim(line);

		if (*t == '#' || *t == '\0')
			continue;
		if (*t == '[') {
			if (in)
				break;
			in = strncmp(t + 1, prefix, strlen(prefix)) == 0;
			continue;
		}
		if (in && tu_split(t, &key, &value) == 0 && strcmp(key, name) == 0) {
			ret = tu_hex(value, out, max);
			break;
		}
	}
	fclose(f);
	if (ret < 0) {
		fprintf(stderr, "%s: [%s] %s not found or bad hex\n", file, prefix, name);
		exit(1);
	}
	return ret;
}

#endif
