/*
 * A small streaming JSON writer for rikectl's --json output and the
 * control protocol. It tracks nesting so callers never place commas.
 */
#ifndef RIKE_UTIL_JSON_H
#define RIKE_UTIL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json {
	FILE *out;
	int depth;
	bool first[JSON_MAX_DEPTH];
	bool pending_key; /* a key was written; the next value follows it */
};

void json_init(struct json *j, FILE *out);
void json_obj_begin(struct json *j);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j);
void json_arr_end(struct json *j);
void json_key(struct json *j, const char *key);
void json_str(struct json *j, const char *s);
void json_strn(struct json *j, const char *s, size_t n);
void json_hex(struct json *j, const uint8_t *p, size_t n);
void json_uint(struct json *j, uint64_t v);
void json_int(struct json *j, int64_t v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* Key and value in one call. */
void json_kv_str(struct json *j, const char *key, const char *s);
void json_kv_uint(struct json *j, const char *key, uint64_t v);
void json_kv_hex(struct json *j, const char *key, const uint8_t *p, size_t n);
void json_kv_bool(struct json *j, const char *key, bool v);

#endif
