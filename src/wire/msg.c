/*
 * The parsed-message container: its arena and payload lookups.
 *
 * Decoded messages need a few variable-length arrays (proposals,
 * transforms, traffic selectors, CP attributes) and sometimes a copy of a
 * decrypted SK plaintext (RFC 7296 3.14) that inner payloads borrow. All of
 * it lives in a per-message arena: a list of chunks freed (and wiped, since
 * a plaintext may hold keying material such as nonces or KE values) by
 * wire_msg_free(). The arena's total size is capped at WIRE_ARENA_MAX so a
 * peer cannot make us allocate without bound.
 */
#include "wire/payload.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

#define ARENA_CHUNK_MIN 4096u
#define ARENA_ALIGN     16u

struct wire_arena_chunk {
	struct wire_arena_chunk *next;
	size_t size;  /* usable bytes in data[] */
	size_t used;  /* bytes handed out from data[] */
	size_t total; /* sum of `size` over this chunk and all older ones */
	_Alignas(ARENA_ALIGN) uint8_t data[];
};

void wire_msg_init(struct wire_msg *m)
{
	memset(m, 0, sizeof(*m));
}

void wire_msg_free(struct wire_msg *m)
{
	struct wire_arena_chunk *c, *next;

	if (!m)
		return;
	for (c = m->arena; c; c = next) {
		next = c->next;
		crypto_wipe(c, sizeof(*c) + c->size);
		free(c);
	}
	wire_msg_init(m);
}

/* Start a new chunk able to hold at least `size` bytes, within the cap. */
static struct wire_arena_chunk *arena_grow(struct wire_msg *m, size_t size)
{
	struct wire_arena_chunk *c;
	size_t total = m->arena ? m->arena->total : 0;
	size_t csize = size < ARENA_CHUNK_MIN ? ARENA_CHUNK_MIN : size;

	if (size > WIRE_ARENA_MAX || total > WIRE_ARENA_MAX - size)
		return NULL;
	if (csize > WIRE_ARENA_MAX - total)
		csize = WIRE_ARENA_MAX - total;
	c = calloc(1, sizeof(*c) + csize);
	if (!c)
		return NULL;
	c->size = csize;
	c->total = total + csize;
	c->next = m->arena;
	m->arena = c;
	return c;
}

void *wire_msg_alloc(struct wire_msg *m, size_t size)
{
	struct wire_arena_chunk *c = m->arena;
	size_t start;
	void *p;

	if (size == 0)
		size = 1; /* a distinct, valid pointer even for empty arrays */
	if (size > WIRE_ARENA_MAX)
		return NULL;
	start = c ? (c->used + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1) : 0;
	if (!c || start > c->size || size > c->size - start) {
		c = arena_grow(m, size);
		if (!c)
			return NULL;
		start = 0;
	}
	p = &c->data[start];
	c->used = start + size;
	return p; /* chunks come from calloc and are never reused: already zero */
}

const uint8_t *wire_msg_adopt(struct wire_msg *m, const uint8_t *p, size_t len)
{
	uint8_t *dst = wire_msg_alloc(m, len);

	if (!dst)
		return NULL;
	if (len)
		memcpy(dst, p, len);
	return dst;
}

const struct wire_payload *wire_msg_find(const struct wire_msg *m, uint8_t type,
                                         const struct wire_payload *after)
{
	size_t i = 0;

	if (after) {
		if (after < m->payloads || after >= m->payloads + m->npayloads)
			return NULL;
		i = (size_t)(after - m->payloads) + 1;
	}
	for (; i < m->npayloads; i++) {
		if (m->payloads[i].type == type)
			return &m->payloads[i];
	}
	return NULL;
}

const struct wire_payload *wire_msg_find_notify(const struct wire_msg *m, uint16_t type)
{
	const struct wire_payload *p = NULL;

	while ((p = wire_msg_find(m, IKEV2_PL_N, p)) != NULL) {
		if (p->u.notify.type == type)
			return p;
	}
	return NULL;
}
