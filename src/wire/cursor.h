/*
 * Bounds-checked cursors over packet bytes (in the spirit of OpenBGPD's ibuf).
 * Nothing else in rike does pointer arithmetic on packets: decoders take
 * sub-cursors of exactly a payload's length, and encoders append through a
 * writer that grows up to a hard cap.
 */
#ifndef RIKE_WIRE_CURSOR_H
#define RIKE_WIRE_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

/* A read view; the bytes are borrowed from the caller. */
struct wire_rd {
	const uint8_t *p;
	size_t len;
	size_t off;
};

void wire_rd_init(struct wire_rd *r, const uint8_t *p, size_t len);
size_t wire_rd_left(const struct wire_rd *r);
/* Pointer to the unread bytes (borrowed); NULL-safe when nothing is left. */
const uint8_t *wire_rd_ptr(const struct wire_rd *r);
int wire_rd_u8(struct wire_rd *r, uint8_t *v) WUR;
int wire_rd_u16(struct wire_rd *r, uint16_t *v) WUR; /* network order */
int wire_rd_u32(struct wire_rd *r, uint32_t *v) WUR;
int wire_rd_u64(struct wire_rd *r, uint64_t *v) WUR;
/* A borrowed view of the next n bytes. */
int wire_rd_bytes(struct wire_rd *r, size_t n, const uint8_t **out) WUR;
int wire_rd_copy(struct wire_rd *r, void *dst, size_t n) WUR;
int wire_rd_skip(struct wire_rd *r, size_t n) WUR;
/* Split off the next n bytes as their own cursor. */
int wire_rd_sub(struct wire_rd *r, size_t n, struct wire_rd *sub) WUR;

/*
 * An append-only writer. Its buffer is owned and grows up to max bytes; a
 * failed append sets `failed`, and every later append fails too, so an
 * encoder can append many fields and check once.
 */
struct wire_wr {
	uint8_t *p; /* owned */
	size_t len;
	size_t cap;
	size_t max;
	bool failed;
};

#define WIRE_WR_MAX_DEFAULT 65535u

void wire_wr_init(struct wire_wr *w, size_t max);
/* Wipes and frees the buffer (it may hold plaintext or keys). NULL-safe. */
void wire_wr_free(struct wire_wr *w);
void wire_wr_reset(struct wire_wr *w);
/* Shrink the buffer to the bytes written (a message kept for a long time:
 * the last response, RFC 7296 2.1); the old buffer is wiped. */
void wire_wr_trim(struct wire_wr *w);
int wire_wr_u8(struct wire_wr *w, uint8_t v) WUR;
int wire_wr_u16(struct wire_wr *w, uint16_t v) WUR;
int wire_wr_u32(struct wire_wr *w, uint32_t v) WUR;
int wire_wr_u64(struct wire_wr *w, uint64_t v) WUR;
int wire_wr_bytes(struct wire_wr *w, const void *p, size_t n) WUR;
int wire_wr_zeros(struct wire_wr *w, size_t n) WUR;
/* Append n bytes and return their offset (the buffer may move later). */
int wire_wr_reserve(struct wire_wr *w, size_t n, size_t *off) WUR;
/* Overwrite a field written earlier, e.g. a length. */
int wire_wr_patch_u8(struct wire_wr *w, size_t off, uint8_t v) WUR;
int wire_wr_patch_u16(struct wire_wr *w, size_t off, uint16_t v) WUR;
int wire_wr_patch_u32(struct wire_wr *w, size_t off, uint32_t v) WUR;

#endif
