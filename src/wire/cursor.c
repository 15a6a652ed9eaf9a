/*
 * Bounds-checked reader and growable writer for packet bytes. Every read
 * checks the remaining length first; every write checks the cap first.
 */
#include "wire/cursor.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

void wire_rd_init(struct wire_rd *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = p ? len : 0;
	r->off = 0;
}

size_t wire_rd_left(const struct wire_rd *r)
{
	return r->len - r->off;
}

const uint8_t *wire_rd_ptr(const struct wire_rd *r)
{
	return r->p ? r->p + r->off : NULL;
}

int wire_rd_bytes(struct wire_rd *r, size_t n, const uint8_t **out)
{
	if (n > wire_rd_left(r))
		return -1;
	*out = r->p ? r->p + r->off : NULL;
	r->off += n;
	return 0;
}

int wire_rd_skip(struct wire_rd *r, size_t n)
{
	const uint8_t *unused;

	return wire_rd_bytes(r, n, &unused);
}

int wire_rd_copy(struct wire_rd *r, void *dst, size_t n)
{
	const uint8_t *p;

	if (wire_rd_bytes(r, n, &p) < 0)
		return -1;
	if (n)
		memcpy(dst, p, n);
	return 0;
}

static int rd_be(struct wire_rd *r, size_t n, uint64_t *v)
{
	const uint8_t *p;

	if (wire_rd_bytes(r, n, &p) < 0)
		return -1;
	*v = 0;
	for (size_t i = 0; i < n; i++)
		*v = (*v << 8) | p[i];
	return 0;
}

int wire_rd_u8(struct wire_rd *r, uint8_t *v)
{
	uint64_t x;

	if (rd_be(r, 1, &x) < 0)
		return -1;
	*v = (uint8_t)x;
	return 0;
}

int wire_rd_u16(struct wire_rd *r, uint16_t *v)
{
	uint64_t x;

	if (rd_be(r, 2, &x) < 0)
		return -1;
	*v = (uint16_t)x;
	return 0;
}

int wire_rd_u32(struct wire_rd *r, uint32_t *v)
{
	uint64_t x;

	if (rd_be(r, 4, &x) < 0)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

int wire_rd_u64(struct wire_rd *r, uint64_t *v)
{
	return rd_be(r, 8, v);
}

int wire_rd_sub(struct wire_rd *r, size_t n, struct wire_rd *sub)
{
	const uint8_t *p;

	if (wire_rd_bytes(r, n, &p) < 0)
		return -1;
	wire_rd_init(sub, p, n);
	return 0;
}

void wire_wr_init(struct wire_wr *w, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->max = max;
}

void wire_wr_free(struct wire_wr *w)
{
	if (!w)
		return;
	if (w->p) {
		crypto_wipe(w->p, w->cap);
		free(w->p);
	}
	w->p = NULL;
	w->len = w->cap = 0;
	w->failed = false;
}

void wire_wr_reset(struct wire_wr *w)
{
	if (w->p)
		crypto_wipe(w->p, w->cap);
	w->len = 0;
	w->failed = false;
}

void wire_wr_trim(struct wire_wr *w)
{
	uint8_t *np;

	if (w->failed || w->cap - w->len < 32) /* malloc's granularity: nothing to win */
		return;
	if (!w->len) {
		wire_wr_free(w);
		return;
	}
	np = malloc(w->len);
	if (!np)
		return; /* keep the larger buffer */
	memcpy(np, w->p, w->len);
	crypto_wipe(w->p, w->cap);
	free(w->p);
	w->p = np;
	w->cap = w->len;
}

/* Make room for n more bytes; the old buffer is wiped when it moves. */
static int wr_grow(struct wire_wr *w, size_t n)
{
	size_t need, ncap;
	uint8_t *np;

	if (w->failed || n > w->max || w->len > w->max - n)
		goto fail;
	need = w->len + n;
	if (need <= w->cap)
		return 0;
	ncap = w->cap ? w->cap : 256;
	while (ncap < need)
		ncap *= 2;
	if (ncap > w->max)
		ncap = w->max;
	np = malloc(ncap);
	if (!np)
		goto fail;
	if (w->p) {
		memcpy(np, w->p, w->len);
		crypto_wipe(w->p, w->cap);
		free(w->p);
	}
	w->p = np;
	w->cap = ncap;
	return 0;
fail:
	w->failed = true;
	return -1;
}

int wire_wr_reserve(struct wire_wr *w, size_t n, size_t *off)
{
	if (wr_grow(w, n) < 0)
		return -1;
	if (n)
		memset(w->p + w->len, 0, n);
	*off = w->len;
	w->len += n;
	return 0;
}

int wire_wr_bytes(struct wire_wr *w, const void *p, size_t n)
{
	size_t off;

	if (wire_wr_reserve(w, n, &off) < 0)
		return -1;
	if (n)
		memcpy(w->p + off, p, n);
	return 0;
}

int wire_wr_zeros(struct wire_wr *w, size_t n)
{
	size_t off;

	return wire_wr_reserve(w, n, &off);
}

static int wr_be(struct wire_wr *w, uint64_t v, size_t n)
{
	uint8_t b[8];

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return wire_wr_bytes(w, b, n);
}

int wire_wr_u8(struct wire_wr *w, uint8_t v)
{
	return wr_be(w, v, 1);
}

int wire_wr_u16(struct wire_wr *w, uint16_t v)
{
	return wr_be(w, v, 2);
}

int wire_wr_u32(struct wire_wr *w, uint32_t v)
{
	return wr_be(w, v, 4);
}

int wire_wr_u64(struct wire_wr *w, uint64_t v)
{
	return wr_be(w, v, 8);
}

static int wr_patch(struct wire_wr *w, size_t off, uint64_t v, size_t n)
{
	if (w->failed || off > w->len || n > w->len - off)
		return -1;
	for (size_t i = 0; i < n; i++)
		w->p[off + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return 0;
}

int wire_wr_patch_u8(struct wire_wr *w, size_t off, uint8_t v)
{
	return wr_patch(w, off, v, 1);
}

int wire_wr_patch_u16(struct wire_wr *w, size_t off, uint16_t v)
{
	return wr_patch(w, off, v, 2);
}

int wire_wr_patch_u32(struct wire_wr *w, size_t off, uint32_t v)
{
	return wr_patch(w, off, v, 4);
}
