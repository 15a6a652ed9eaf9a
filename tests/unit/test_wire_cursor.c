/*
 * Unit tests for wire/cursor.h: reads never pass the end, the writer
 * honours its cap and stays failed, and patches stay inside what was
 * written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wire/cursor.h"

static const uint8_t bytes[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09};

static void test_rd_integers(void **state)
{
	struct wire_rd r;
	uint8_t a;
	uint16_t b;
	uint32_t c;
	uint64_t d;

	wire_rd_init(&r, bytes, sizeof(bytes));
	assert_int_equal(wire_rd_u8(&r, &a), 0);
	assert_int_equal(a, 0x01);
	assert_int_equal(wire_rd_u16(&r, &b), 0);
	assert_int_equal(b, 0x0203);
	assert_int_equal(wire_rd_u32(&r, &c), 0);
	assert_int_equal(c, 0x04050607);
	assert_int_equal(wire_rd_left(&r), 2);
	/* 8 octets wanted, 2 left: fails and consumes nothing. */
	assert_int_equal(wire_rd_u64(&r, &d), -1);
	assert_int_equal(wire_rd_left(&r), 2);
	assert_int_equal(wire_rd_u16(&r, &b), 0);
	assert_int_equal(b, 0x0809);
	assert_int_equal(wire_rd_u8(&r, &a), -1);
	assert_int_equal(wire_rd_left(&r), 0);

	wire_rd_init(&r, bytes, 8);
	assert_int_equal(wire_rd_u64(&r, &d), 0);
	assert_true(d == 0x0102030405060708ull);
}

static void test_rd_bounds(void **state)
{
	struct wire_rd r, sub;
	const uint8_t *p;
	uint8_t buf[4];
	uint32_t v;

	wire_rd_init(&r, bytes, sizeof(bytes));
	assert_int_equal(wire_rd_bytes(&r, 10, &p), -1);
	assert_int_equal(wire_rd_skip(&r, SIZE_MAX), -1);
	assert_int_equal(wire_rd_copy(&r, buf, 4), 0);
	assert_memory_equal(buf, bytes, 4);
	assert_ptr_equal(wire_rd_ptr(&r), &bytes[4]);
	/* A sub-cursor is limited to its own length. */
	assert_int_equal(wire_rd_sub(&r, 3, &sub), 0);
	assert_int_equal(wire_rd_left(&sub), 3);
	assert_int_equal(wire_rd_u32(&sub, &v), -1);
	assert_int_equal(wire_rd_left(&r), 2);
	assert_int_equal(wire_rd_sub(&r, 3, &sub), -1);
	assert_int_equal(wire_rd_bytes(&r, 2, &p), 0);
	assert_ptr_equal(p, &bytes[7]);
	assert_int_equal(wire_rd_bytes(&r, 0, &p), 0);

	/* A NULL buffer reads as empty. */
	wire_rd_init(&r, NULL, 100);
	assert_int_equal(wire_rd_left(&r), 0);
	assert_null(wire_rd_ptr(&r));
	assert_int_equal(wire_rd_u8(&r, buf), -1);
}

static void test_wr_cap_sticky(void **state)
{
	struct wire_wr w;

	wire_wr_init(&w, 6);
	assert_int_equal(wire_wr_u32(&w, 0xdeadbeef), 0);
	assert_int_equal(wire_wr_u16(&w, 0x0102), 0);
	assert_int_equal(w.len, 6);
	assert_false(w.failed);
	/* Past the cap: fails, and every later append fails too. */
	assert_int_equal(wire_wr_u8(&w, 1), -1);
	assert_true(w.failed);
	assert_int_equal(wire_wr_zeros(&w, 0), -1);
	assert_int_equal(w.len, 6);
	assert_int_equal(wire_wr_patch_u8(&w, 0, 0), -1);
	wire_wr_reset(&w);
	assert_false(w.failed);
	assert_int_equal(w.len, 0);
	assert_int_equal(wire_wr_bytes(&w, bytes, 6), 0);
	assert_memory_equal(w.p, bytes, 6);
	wire_wr_free(&w);
	assert_null(w.p);
	wire_wr_free(NULL);

	/* A huge request fails without wrapping around. */
	wire_wr_init(&w, WIRE_WR_MAX_DEFAULT);
	assert_int_equal(wire_wr_u8(&w, 1), 0);
	assert_int_equal(wire_wr_zeros(&w, SIZE_MAX), -1);
	assert_true(w.failed);
	wire_wr_free(&w);
}

static void test_wr_grow_and_patch(void **state)
{
	struct wire_wr w;
	size_t off;
	static const uint8_t want[] = {0xaa, 0x12, 0x34, 0x00, 0x00, 0x00, 0x05, 0xff};

	wire_wr_init(&w, WIRE_WR_MAX_DEFAULT);
	/* Many small appends force the buffer to move several times. */
	for (unsigned i = 0; i < 3000; i++)
		assert_int_equal(wire_wr_u8(&w, (uint8_t)i), 0);
	for (unsigned i = 0; i < 3000; i++)
		assert_int_equal(w.p[i], (uint8_t)i);
	wire_wr_reset(&w);

	assert_int_equal(wire_wr_u8(&w, 0xaa), 0);
	assert_int_equal(wire_wr_reserve(&w, 2, &off), 0);
	assert_int_equal(off, 1);
	assert_int_equal(wire_wr_u32(&w, 0), 0);
	assert_int_equal(wire_wr_u8(&w, 0xff), 0);
	assert_int_equal(wire_wr_patch_u16(&w, off, 0x1234), 0);
	assert_int_equal(wire_wr_patch_u32(&w, 3, 5), 0);
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(w.p, want, sizeof(want));
	/* Patches must lie inside what was written. */
	assert_int_equal(wire_wr_patch_u16(&w, 7, 1), -1);
	assert_int_equal(wire_wr_patch_u32(&w, SIZE_MAX - 1, 1), -1);
	assert_int_equal(wire_wr_patch_u8(&w, 8, 1), -1);
	assert_int_equal(wire_wr_patch_u8(&w, 7, 1), 0);
	wire_wr_free(&w);
}

/* wire_wr_trim: the buffer shrinks to what was written and keeps it; a
 * small slack is left alone; an empty writer frees its buffer. */
static void test_wr_trim(void **state)
{
	struct wire_wr w;
	uint8_t big[300];

	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	wire_wr_init(&w, 4096);
	assert_int_equal(wire_wr_bytes(&w, big, sizeof(big)), 0);
	assert_int_equal(w.cap, 512); /* doubled from 256 */
	wire_wr_trim(&w);
	assert_int_equal(w.cap, sizeof(big));
	assert_int_equal(w.len, sizeof(big));
	assert_memory_equal(w.p, big, sizeof(big));
	/* it still grows after a trim */
	assert_int_equal(wire_wr_u8(&w, 7), 0);
	assert_int_equal(w.p[300], 7);
	assert_memory_equal(w.p, big, sizeof(big));
	wire_wr_free(&w);
	wire_wr_init(&w, 4096);
	assert_int_equal(wire_wr_bytes(&w, big, 250), 0);
	wire_wr_trim(&w); /* 6 octets of slack: kept */
	assert_int_equal(w.cap, 256);
	wire_wr_reset(&w);
	wire_wr_trim(&w); /* nothing written: no buffer */
	assert_null(w.p);
	assert_int_equal(w.cap, 0);
	wire_wr_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rd_integers),   cmocka_unit_test(test_rd_bounds),
	    cmocka_unit_test(test_wr_cap_sticky), cmocka_unit_test(test_wr_grow_and_patch),
	    cmocka_unit_test(test_wr_trim),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
