/*
 * Unit tests for the typed notify codecs (wire/notify.c), the SPI and
 * Delete helpers (wire/spi.c) and port-4500 framing (wire/udp4500.c):
 * round trips, every length boundary on both sides, wrong types and SPI
 * sizes, octet layouts written out from the RFC diagrams (RFC 5685 9.2,
 * 9.3; RFC 4555 4.2.6; RFC 7296 2.23, 3.10.1, 3.11), NAT-D hashes
 * computed independently (Python hashlib), and the notifies of
 * $RIKE_SHARED/captures decoded through the codecs, the NAT-D hashes
 * checked against the captured addresses. Notification data is a heap
 * copy of exactly the tested length, so ASan sees any overread.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "util/pcapread.h"
#include "wire/notify.h"
#include "wire/payload.h"

/* ---- helpers ---- */

/* A notify whose data is a heap copy of exactly len octets (freed by put_n). */
static struct wire_notify get_n(uint16_t type, const void *data, size_t len)
{
	struct wire_notify n = {.type = type};

	if (len) {
		uint8_t *p = malloc(len);

		assert_non_null(p);
		memcpy(p, data, len);
		n.data = p;
	}
	n.len = len;
	return n;
}

static void put_n(struct wire_notify *n)
{
	free((void *)n->data);
	n->data = NULL;
}

/* wire_notify_check refuses type/data with a reason containing want, at offset off. */
static void refused(uint16_t type, uint8_t spi_size, const void *data, size_t len, const char *want,
                    size_t off)
{
	struct wire_notify n = get_n(type, data, len);
	struct wire_error err = {0};

	n.spi_size = spi_size;
	assert_int_equal(wire_notify_check(&n, &err), -1);
	assert_int_equal(err.notify, IKEV2_N_INVALID_SYNTAX);
	assert_int_equal(err.payload, IKEV2_PL_N);
	assert_non_null(err.reason);
	if (!strstr(err.reason, want))
		fail_msg("reason \"%s\" does not say \"%s\"", err.reason, want);
	assert_int_equal(err.offset, off);
	put_n(&n);
}

static void accepted(uint16_t type, const void *data, size_t len)
{
	struct wire_notify n = get_n(type, data, len);
	struct wire_error err = {0};

	if (wire_notify_check(&n, &err) < 0)
		fail_msg("type %u, %zu octets refused: %s", type, len, err.reason);
	put_n(&n);
}

static uint8_t big[512]; /* filler for length boundaries, printable so FQDNs pass */

static int setup(void **state)
{
	memset(big, 'a', sizeof(big));
	return 0;
}

/* ---- RFC 5685 ---- */

/* 9.2: GW Ident Type 1, Len 4, 192.0.2.1; no nonce (INFORMATIONAL or IKE_AUTH). */
static const uint8_t redirect_v4[] = {0x01, 0x04, 0xc0, 0x00, 0x02, 0x01};
/* 9.2: type 3, "vpn2.example.com" (16), then a 16-octet nonce (IKE_SA_INIT). */
static const uint8_t redirect_fqdn_nonce[] = {
    0x03, 0x10, 'v', 'p', 'n', '2', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o',
    'm',  0,    1,   2,   3,   4,   5,   6,   7,   8,   9,   10,  11,  12,  13,  14,  15};

static void test_redirect_known(void **state)
{
	struct wire_notify n = get_n(IKEV2_N_REDIRECT, redirect_v4, sizeof(redirect_v4));
	struct wire_redirect r;
	struct wire_error err;
	uint8_t out[WIRE_REDIRECT_MAX];
	size_t len;

	assert_int_equal(wire_redirect_decode(&n, &r, &err), 0);
	assert_int_equal(r.gw.type, IKEV2_GW_ID_IPV4);
	assert_int_equal(r.gw.len, 4);
	assert_memory_equal(r.gw.id, "\xc0\x00\x02\x01", 4);
	assert_int_equal(r.nonce_len, 0);
	assert_int_equal(wire_redirect_encode(&r, out, sizeof(out), &len), 0);
	assert_int_equal(len, sizeof(redirect_v4));
	assert_memory_equal(out, redirect_v4, len);
	put_n(&n);

	n = get_n(IKEV2_N_REDIRECT, redirect_fqdn_nonce, sizeof(redirect_fqdn_nonce));
	assert_int_equal(wire_redirect_decode(&n, &r, &err), 0);
	assert_int_equal(r.gw.type, IKEV2_GW_ID_FQDN);
	assert_string_equal((const char *)r.gw.id, "vpn2.example.com"); /* NUL-terminated */
	assert_int_equal(r.nonce_len, 16);
	assert_memory_equal(r.nonce, redirect_fqdn_nonce + 18, 16);
	assert_int_equal(wire_redirect_encode(&r, out, sizeof(out), &len), 0);
	assert_int_equal(len, sizeof(redirect_fqdn_nonce));
	assert_memory_equal(out, redirect_fqdn_nonce, len);
	/* The buffer must hold it all. */
	assert_int_equal(wire_redirect_encode(&r, out, len - 1, &len), -1);
	put_n(&n);
}

/* Every identity type and nonce size at its limits survives encode -> decode. */
static void test_redirect_roundtrip(void **state)
{
	static const size_t nonces[] = {0, 16, 17, 255, 256};
	static const struct {
		uint8_t type, len;
	} ids[] = {{IKEV2_GW_ID_IPV4, 4},
	           {IKEV2_GW_ID_IPV6, 16},
	           {IKEV2_GW_ID_FQDN, 1},
	           {IKEV2_GW_ID_FQDN, 255}};

	for (size_t i = 0; i < ARRAY_LEN(ids); i++)
		for (size_t j = 0; j < ARRAY_LEN(nonces); j++) {
			struct wire_redirect in = {0}, back;
			struct wire_notify n;
			struct wire_error err;
			uint8_t out[WIRE_REDIRECT_MAX];
			size_t len;

			in.gw.type = ids[i].type;
			in.gw.len = ids[i].len;
			for (size_t k = 0; k < in.gw.len; k++)
				in.gw.id[k] =
				    (uint8_t)(ids[i].type == IKEV2_GW_ID_FQDN ? 'a' + k % 26
				                                              : k + 1);
			in.nonce_len = (uint16_t)nonces[j];
			for (size_t k = 0; k < in.nonce_len; k++)
				in.nonce[k] = (uint8_t)(k * 7);
			assert_int_equal(wire_redirect_encode(&in, out, sizeof(out), &len), 0);
			assert_int_equal(len, 2 + ids[i].len + nonces[j]);
			n = get_n(IKEV2_N_REDIRECT, out, len);
			assert_int_equal(wire_redirect_decode(&n, &back, &err), 0);
			assert_int_equal(back.gw.type, in.gw.type);
			assert_int_equal(back.gw.len, in.gw.len);
			assert_memory_equal(back.gw.id, in.gw.id, in.gw.len);
			assert_int_equal(back.gw.id[back.gw.len], 0);
			assert_int_equal(back.nonce_len, in.nonce_len);
			assert_memory_equal(back.nonce, in.nonce, in.nonce_len);
			put_n(&n);
		}
}

static void test_redirect_malformed(void **state)
{
	uint8_t b[2 + 16 + 257];
	struct wire_redirect r = {0};
	uint8_t out[WIRE_REDIRECT_MAX];
	size_t len;

	refused(IKEV2_N_REDIRECT, 0, NULL, 0, "shorter than GW Ident Type", 0);
	refused(IKEV2_N_REDIRECT, 0, "\x01", 1, "shorter than GW Ident Type", 0);
	/* GW Ident Len past the end, by one octet. */
	refused(IKEV2_N_REDIRECT, 0, "\x01\x04\xc0\x00\x02", 5, "runs past", 1);
	/* An IPv4 identity of 16 octets (and 0, 3, 5); an IPv6 one of 0, 4, 15, 17. */
	memset(b, 1, sizeof(b));
	b[0] = IKEV2_GW_ID_IPV4;
	for (uint8_t l = 0; l <= 16; l++) {
		b[1] = l;
		if (l != 4)
			refused(IKEV2_N_REDIRECT, 0, b, 2u + l, "IPv4 GW identity is not 4 octets",
			        1);
	}
	b[0] = IKEV2_GW_ID_IPV6;
	for (uint8_t l = 0; l <= 17; l++) {
		b[1] = l;
		if (l != 16)
			refused(IKEV2_N_REDIRECT, 0, b, 2u + l, "IPv6 GW identity is not 16 octets",
			        1);
	}
	/* Unknown types: 0 and 4 (IANA's registry ends at 3). */
	b[0] = 0;
	b[1] = 4;
	refused(IKEV2_N_REDIRECT, 0, b, 6, "unknown GW Ident Type", 0);
	b[0] = 4;
	refused(IKEV2_N_REDIRECT, 0, b, 6, "unknown GW Ident Type", 0);
	/* FQDNs: empty, a NUL inside or at the end, a space, control and 8-bit octets. */
	refused(IKEV2_N_REDIRECT, 0, "\x03\x00", 2, "empty FQDN", 1);
	refused(IKEV2_N_REDIRECT, 0,
	        "\x03\x05"
	        "ab\0cd",
	        7, "holds a NUL", 4);
	refused(IKEV2_N_REDIRECT, 0,
	        "\x03\x03"
	        "ab\0",
	        5, "holds a NUL", 4);
	refused(IKEV2_N_REDIRECT, 0,
	        "\x03\x03"
	        "a b",
	        5, "space, control", 3);
	refused(IKEV2_N_REDIRECT, 0,
	        "\x03\x03"
	        "ab\n",
	        5, "space, control", 4);
	refused(IKEV2_N_REDIRECT, 0,
	        "\x03\x03"
	        "\xc3\xa9z",
	        5, "non-ASCII", 2);
	refused(IKEV2_N_REDIRECT, 0,
	        "\x03\x02"
	        "a\x7f",
	        4, "control", 3);
	/* Nonce Data: 1, 15 and 257 octets. */
	memcpy(b, redirect_v4, 6);
	memset(b + 6, 0x55, 257);
	refused(IKEV2_N_REDIRECT, 0, b, 6 + 1, "Nonce Data is not 16 to 256", 6);
	refused(IKEV2_N_REDIRECT, 0, b, 6 + 15, "Nonce Data is not 16 to 256", 6);
	refused(IKEV2_N_REDIRECT, 0, b, 6 + 257, "Nonce Data is not 16 to 256", 6);
	accepted(IKEV2_N_REDIRECT, b, 6 + 16);
	accepted(IKEV2_N_REDIRECT, b, 6 + 256);
	/* 9.2: "The 'SPI Size' field MUST be set to 0". */
	refused(IKEV2_N_REDIRECT, 4, redirect_v4, 6, "REDIRECT: SPI Size is not 0", 0);

	/* The encoder applies the same rules. */
	r.gw.type = IKEV2_GW_ID_IPV4;
	r.gw.len = 16;
	assert_int_equal(wire_redirect_encode(&r, out, sizeof(out), &len), -1);
	r.gw.len = 4;
	r.nonce_len = 15;
	assert_int_equal(wire_redirect_encode(&r, out, sizeof(out), &len), -1);
	r.nonce_len = 257;
	assert_int_equal(wire_redirect_encode(&r, out, sizeof(out), &len), -1);
	r.nonce_len = 0;
	r.gw.type = IKEV2_GW_ID_FQDN;
	memcpy(r.gw.id, "a\0b\0", 4);
	assert_int_equal(wire_redirect_encode(&r, out, sizeof(out), &len), -1);
	r.gw.type = 9;
	assert_int_equal(wire_redirect_encode(&r, out, sizeof(out), &len), -1);
	r.gw.type = IKEV2_GW_ID_FQDN;
	r.gw.len = 0;
	assert_int_equal(wire_redirect_encode(&r, out, sizeof(out), &len), -1);
}

/* RFC 5685 9.3 */
static void test_redirected_from(void **state)
{
	static const uint8_t v6[] = {0x02, 0x10, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,
	                             0,    0,    0,    0,    0,    0,    0, 0, 0x01};
	struct wire_notify n = get_n(IKEV2_N_REDIRECTED_FROM, v6, sizeof(v6));
	struct wire_gw_id gw;
	struct wire_error err;
	uint8_t out[WIRE_REDIRECTED_MAX], b[20];
	size_t len;

	assert_int_equal(wire_redirected_from_decode(&n, &gw, &err), 0);
	assert_int_equal(gw.type, IKEV2_GW_ID_IPV6);
	assert_int_equal(gw.len, 16);
	assert_memory_equal(gw.id, v6 + 2, 16);
	assert_int_equal(wire_redirected_from_encode(&gw, out, sizeof(out), &len), 0);
	assert_int_equal(len, sizeof(v6));
	assert_memory_equal(out, v6, len);
	put_n(&n);
	accepted(IKEV2_N_REDIRECTED_FROM, redirect_v4, sizeof(redirect_v4));

	/* Only addresses; no nonce, nor anything else, after the identity. */
	refused(IKEV2_N_REDIRECTED_FROM, 0,
	        "\x03\x03"
	        "a.b",
	        5, "FQDN GW identity", 0);
	memcpy(b, redirect_v4, 6);
	b[6] = 0;
	refused(IKEV2_N_REDIRECTED_FROM, 0, b, 7, "octets after the GW identity", 6);
	refused(IKEV2_N_REDIRECTED_FROM, 0, v6, sizeof(v6) - 1, "runs past", 1);
	b[1] = 16;
	refused(IKEV2_N_REDIRECTED_FROM, 0, b, 7, "runs past", 1);
	memset(b + 2, 0, 16);
	refused(IKEV2_N_REDIRECTED_FROM, 0, b, 18, "IPv4 GW identity is not 4 octets", 1);
	refused(IKEV2_N_REDIRECTED_FROM, 0, NULL, 0, "shorter than", 0);
	refused(IKEV2_N_REDIRECTED_FROM, 1, v6, sizeof(v6), "SPI Size", 0);
	gw.type = IKEV2_GW_ID_FQDN;
	gw.len = 3;
	memcpy(gw.id, "a.b", 4);
	assert_int_equal(wire_redirected_from_encode(&gw, out, sizeof(out), &len), -1);
}

/* RFC 5685 9.1, RFC 4555 4.2.3, 4.2.4 */
static void test_empty(void **state)
{
	static const uint16_t types[] = {IKEV2_N_REDIRECT_SUPPORTED,
	                                 IKEV2_N_NO_ADDITIONAL_ADDRESSES,
	                                 IKEV2_N_UPDATE_SA_ADDRESSES};
	struct wire_error err;

	for (size_t i = 0; i < ARRAY_LEN(types); i++) {
		struct wire_notify n = get_n(types[i], NULL, 0);

		assert_int_equal(wire_notify_empty_decode(&n, types[i], NULL), 0);
		/* Asked for another type. */
		assert_int_equal(wire_notify_empty_decode(&n, types[(i + 1) % 3], &err), -1);
		assert_non_null(strstr(err.reason, "wrong notify type"));
		assert_int_equal(wire_notify_empty_decode(&n, IKEV2_N_COOKIE, &err), -1);
		accepted(types[i], NULL, 0);
		refused(types[i], 0, "x", 1, "carries data", 0);
		refused(types[i], 8, NULL, 0, "SPI Size is not 0", 0);
	}
}

/* ---- RFC 4555 ---- */

static void test_additional_addr(void **state)
{
	static const uint8_t v4[] = {198, 51, 100, 7};
	struct wire_notify n = get_n(IKEV2_N_ADDITIONAL_IP4_ADDRESS, v4, 4);
	struct wire_addr a = {0};
	struct wire_error err;
	uint8_t out[WIRE_ADDITIONAL_ADDR_MAX];
	size_t len;

	assert_int_equal(wire_additional_addr_decode(&n, &a, &err), 0);
	assert_int_equal(a.len, 4);
	assert_memory_equal(a.addr, v4, 4);
	assert_int_equal(wire_additional_addr_type(&a), IKEV2_N_ADDITIONAL_IP4_ADDRESS);
	assert_int_equal(wire_additional_addr_encode(&a, out, sizeof(out), &len), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(out, v4, 4);
	put_n(&n);

	n = get_n(IKEV2_N_ADDITIONAL_IP6_ADDRESS, big, 16);
	assert_int_equal(wire_additional_addr_decode(&n, &a, &err), 0);
	assert_int_equal(a.len, 16);
	assert_int_equal(wire_additional_addr_type(&a), IKEV2_N_ADDITIONAL_IP6_ADDRESS);
	assert_int_equal(wire_additional_addr_encode(&a, out, sizeof(out), &len), 0);
	assert_int_equal(len, 16);
	assert_int_equal(wire_additional_addr_encode(&a, out, 15, &len), -1);
	put_n(&n);

	for (size_t l = 0; l <= 17; l++) {
		if (l != 4)
			refused(IKEV2_N_ADDITIONAL_IP4_ADDRESS, 0, big, l, "not 4 octets", 0);
		if (l != 16)
			refused(IKEV2_N_ADDITIONAL_IP6_ADDRESS, 0, big, l, "not 16 octets", 0);
	}
	refused(IKEV2_N_ADDITIONAL_IP4_ADDRESS, 4, v4, 4, "SPI Size", 0);
	/* The decoder refuses a notify of another type. */
	n = get_n(IKEV2_N_COOKIE2, v4, 4);
	assert_int_equal(wire_additional_addr_decode(&n, &a, &err), -1);
	assert_non_null(strstr(err.reason, "wrong notify type"));
	put_n(&n);
	a.len = 5;
	assert_int_equal(wire_additional_addr_type(&a), 0);
	assert_int_equal(wire_additional_addr_encode(&a, out, sizeof(out), &len), -1);
}

/* 4.2.5: 8 to 64 octets, inclusive. */
static void test_cookie2(void **state)
{
	struct wire_cookie2 c = {0}, back;
	struct wire_notify n;
	struct wire_error err;
	uint8_t out[WIRE_COOKIE2_MAX];
	size_t len;

	refused(IKEV2_N_COOKIE2, 0, NULL, 0, "COOKIE2: shorter than 8", 0);
	refused(IKEV2_N_COOKIE2, 0, big, 7, "COOKIE2: shorter than 8", 0);
	refused(IKEV2_N_COOKIE2, 0, big, 65, "COOKIE2: longer than 64", 64);
	refused(IKEV2_N_COOKIE2, 0, big, 300, "COOKIE2: longer than 64", 64);
	refused(IKEV2_N_COOKIE2, 1, big, 8, "COOKIE2: SPI Size", 0);
	for (uint8_t l = 8; l <= 64; l += 56) {
		c.len = l;
		for (uint8_t k = 0; k < l; k++)
			c.data[k] = (uint8_t)(0xa0 ^ k);
		assert_int_equal(wire_cookie2_encode(&c, out, sizeof(out), &len), 0);
		assert_int_equal(len, l);
		n = get_n(IKEV2_N_COOKIE2, out, len);
		assert_int_equal(wire_cookie2_decode(&n, &back, &err), 0);
		assert_int_equal(back.len, l);
		assert_memory_equal(back.data, c.data, l);
		put_n(&n);
	}
	c.len = 7;
	assert_int_equal(wire_cookie2_encode(&c, out, sizeof(out), &len), -1);
	c.len = 65;
	assert_int_equal(wire_cookie2_encode(&c, out, sizeof(out), &len), -1);
	c.len = 8;
	assert_int_equal(wire_cookie2_encode(&c, out, 7, &len), -1);
}

/* 4.2.6: the diagrams, IPv4 (12 octets) and IPv6 (36). */
static void test_no_nats(void **state)
{
	static const uint8_t v4[] = {192, 0, 2, 1, 198, 51, 100, 2, 0x01, 0xf4, 0x11, 0x94};
	uint8_t v6[36], out[WIRE_NO_NATS_MAX];
	struct wire_notify n = get_n(IKEV2_N_NO_NATS_ALLOWED, v4, sizeof(v4));
	struct wire_no_nats nn;
	struct wire_error err;
	size_t len;

	assert_int_equal(wire_no_nats_decode(&n, &nn, &err), 0);
	assert_int_equal(nn.addr_len, 4);
	assert_memory_equal(nn.src, v4, 4);
	assert_memory_equal(nn.dst, v4 + 4, 4);
	assert_int_equal(nn.src_port, 500);
	assert_int_equal(nn.dst_port, 4500);
	assert_int_equal(wire_no_nats_encode(&nn, out, sizeof(out), &len), 0);
	assert_int_equal(len, sizeof(v4));
	assert_memory_equal(out, v4, len);
	put_n(&n);

	for (size_t k = 0; k < 32; k++)
		v6[k] = (uint8_t)k;
	memcpy(v6 + 32, "\x12\x34\xab\xcd", 4);
	n = get_n(IKEV2_N_NO_NATS_ALLOWED, v6, sizeof(v6));
	assert_int_equal(wire_no_nats_decode(&n, &nn, &err), 0);
	assert_int_equal(nn.addr_len, 16);
	assert_memory_equal(nn.dst, v6 + 16, 16);
	assert_int_equal(nn.src_port, 0x1234);
	assert_int_equal(nn.dst_port, 0xabcd);
	assert_int_equal(wire_no_nats_encode(&nn, out, sizeof(out), &len), 0);
	assert_int_equal(len, 36);
	assert_memory_equal(out, v6, 36);
	assert_int_equal(wire_no_nats_encode(&nn, out, 35, &len), -1);
	put_n(&n);

	static const size_t bad[] = {0, 4, 8, 11, 13, 24, 35, 37, 40};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		refused(IKEV2_N_NO_NATS_ALLOWED, 0, big, bad[i], "neither 12 (IPv4) nor 36", 0);
	refused(IKEV2_N_NO_NATS_ALLOWED, 4, v4, 12, "SPI Size", 0);
	nn.addr_len = 8;
	assert_int_equal(wire_no_nats_encode(&nn, out, sizeof(out), &len), -1);
}

/* ---- RFC 7296 ---- */

/* 2.23: the hash input's layout, and SHA-1 values from Python's hashlib. */
static void test_nat_detection(void **state)
{
	static const uint8_t spi_i[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	static const uint8_t spi_r[8] = {0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18};
	static const uint8_t zero[8];
	static const uint8_t v4[4] = {192, 0, 2, 1};
	static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	/* hashlib.sha1(spi_i + bytes(8) + bytes([192,0,2,1]) + (500).to_bytes(2,'big')) */
	static const uint8_t h4[20] = {0x64, 0x4b, 0x45, 0x75, 0x45, 0x5b, 0xd6, 0xfc, 0xc1, 0xef,
	                               0xe2, 0xbe, 0x81, 0x62, 0xa9, 0x21, 0x8e, 0x44, 0x8e, 0x5f};
	/* hashlib.sha1(spi_i + spi_r + 2001:db8::1 + (4500).to_bytes(2,'big')) */
	static const uint8_t h6[20] = {0x1e, 0xe2, 0x44, 0x23, 0xbf, 0x8f, 0x59, 0x51, 0x5e, 0x02,
	                               0x65, 0xc6, 0xd0, 0xf0, 0x8b, 0xe3, 0xd0, 0x38, 0xf7, 0xe5};
	uint8_t in[WIRE_NAT_HASH_INPUT_MAX], h[20], out[20];
	struct wire_nat_detection d;
	struct wire_notify n;
	struct wire_error err;
	size_t len;

	assert_int_equal(wire_nat_hash_input(spi_i, zero, v4, 4, 500, in, &len), 0);
	assert_int_equal(len, 8 + 8 + 4 + 2);
	assert_memory_equal(in, spi_i, 8);
	assert_memory_equal(in + 8, zero, 8);
	assert_memory_equal(in + 16, v4, 4);
	assert_int_equal(in[20], 0x01);
	assert_int_equal(in[21], 0xf4);
	assert_int_equal(crypto_sha1(&(struct crypto_chunk){in, len}, 1, h), 0);
	assert_memory_equal(h, h4, 20);
	assert_int_equal(wire_nat_hash_input(spi_i, spi_r, v6, 16, 4500, in, &len), 0);
	assert_int_equal(len, WIRE_NAT_HASH_INPUT_MAX);
	assert_int_equal(crypto_sha1(&(struct crypto_chunk){in, len}, 1, h), 0);
	assert_memory_equal(h, h6, 20);
	assert_int_equal(wire_nat_hash_input(spi_i, spi_r, v6, 5, 4500, in, &len), -1);
	assert_int_equal(wire_nat_hash_input(spi_i, spi_r, v6, 0, 4500, in, &len), -1);

	n = get_n(IKEV2_N_NAT_DETECTION_DESTINATION_IP, h6, 20);
	assert_int_equal(wire_nat_detection_decode(&n, &d, &err), 0);
	assert_memory_equal(d.hash, h6, 20);
	assert_int_equal(wire_nat_detection_encode(&d, out, sizeof(out), &len), 0);
	assert_int_equal(len, 20);
	assert_memory_equal(out, h6, 20);
	assert_int_equal(wire_nat_detection_encode(&d, out, 19, &len), -1);
	put_n(&n);
	accepted(IKEV2_N_NAT_DETECTION_SOURCE_IP, h4, 20);
	refused(IKEV2_N_NAT_DETECTION_SOURCE_IP, 0, big, 0, "not a 20-octet SHA-1", 0);
	refused(IKEV2_N_NAT_DETECTION_SOURCE_IP, 0, big, 19, "not a 20-octet SHA-1", 0);
	refused(IKEV2_N_NAT_DETECTION_DESTINATION_IP, 0, big, 21, "not a 20-octet SHA-1", 0);
	refused(IKEV2_N_NAT_DETECTION_DESTINATION_IP, 0, big, 32, "not a 20-octet SHA-1", 0);
	refused(IKEV2_N_NAT_DETECTION_SOURCE_IP, 8, h4, 20, "SPI Size", 0);
}

/* 3.10.1: two octets, the group in network order. */
static void test_invalid_ke(void **state)
{
	static const uint8_t ecp256[] = {0x00, 0x13};
	struct wire_notify n = get_n(IKEV2_N_INVALID_KE_PAYLOAD, ecp256, 2);
	struct wire_error err;
	uint8_t out[WIRE_INVALID_KE_LEN];
	uint16_t g = 0;
	size_t len;

	assert_int_equal(wire_invalid_ke_decode(&n, &g, &err), 0);
	assert_int_equal(g, IKEV2_DH_ECP_256);
	put_n(&n);
	assert_int_equal(wire_invalid_ke_encode(IKEV2_DH_ECP_256, out, sizeof(out), &len), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(out, ecp256, 2);
	assert_int_equal(wire_invalid_ke_encode(0x1234, out, sizeof(out), &len), 0);
	assert_memory_equal(out, "\x12\x34", 2);
	assert_int_equal(wire_invalid_ke_encode(IKEV2_DH_ECP_256, out, 1, &len), -1);
	assert_int_equal(wire_invalid_ke_encode(IKEV2_DH_NONE, out, sizeof(out), &len), -1);

	refused(IKEV2_N_INVALID_KE_PAYLOAD, 0, NULL, 0, "not a 2-octet group", 0);
	refused(IKEV2_N_INVALID_KE_PAYLOAD, 0, ecp256, 1, "not a 2-octet group", 0);
	refused(IKEV2_N_INVALID_KE_PAYLOAD, 0, "\x00\x13\x00", 3, "not a 2-octet group", 0);
	refused(IKEV2_N_INVALID_KE_PAYLOAD, 0, "\x00\x00", 2, "group 0", 0);
	refused(IKEV2_N_INVALID_KE_PAYLOAD, 4, ecp256, 2, "SPI Size", 0);
	n = get_n(IKEV2_N_COOKIE, ecp256, 2);
	assert_int_equal(wire_invalid_ke_decode(&n, &g, &err), -1);
	assert_non_null(strstr(err.reason, "INVALID_KE_PAYLOAD: wrong notify type"));
	put_n(&n);
}

/* RFC 8019 8.1: PRF (2 octets) and Difficulty (1 octet); 7.1.1.3: the cookie's record. */
static void test_puzzle(void **state)
{
	static const uint8_t sha256_8[] = {0x00, 0x05, 0x08};
	struct wire_notify n = get_n(IKEV2_N_PUZZLE, sha256_8, 3);
	struct wire_puzzle pz = {0}, back;
	struct wire_cookie_info ci = {.puzzle = 1, .difficulty = 20, .prf = 0x1234}, cb;
	uint8_t out[WIRE_PUZZLE_LEN], cookie[8];
	struct wire_error err;
	size_t len;

	(void)state;
	assert_int_equal(wire_puzzle_decode(&n, &pz, &err), 0);
	assert_int_equal(pz.prf, IKEV2_PRF_HMAC_SHA2_256);
	assert_int_equal(pz.difficulty, 8);
	assert_int_equal(wire_notify_check(&n, &err), 0);
	put_n(&n);
	assert_int_equal(wire_puzzle_encode(&pz, out, sizeof(out), &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(out, sha256_8, 3);
	back = (struct wire_puzzle){.prf = 0xabcd, .difficulty = 0};
	assert_int_equal(wire_puzzle_encode(&back, out, sizeof(out), &len), 0);
	assert_memory_equal(out, "\xab\xcd\x00", 3);
	assert_int_equal(wire_puzzle_encode(&back, out, 2, &len), -1);
	back.prf = 0;
	assert_int_equal(wire_puzzle_encode(&back, out, sizeof(out), &len), -1);

	refused(IKEV2_N_PUZZLE, 0, NULL, 0, "not a 2-octet PRF", 0);
	refused(IKEV2_N_PUZZLE, 0, sha256_8, 2, "not a 2-octet PRF", 0);
	refused(IKEV2_N_PUZZLE, 0, "\x00\x05\x08\x00", 4, "not a 2-octet PRF", 0);
	refused(IKEV2_N_PUZZLE, 0, "\x00\x00\x08", 3, "PRF 0", 0);
	refused(IKEV2_N_PUZZLE, 4, sha256_8, 3, "SPI Size", 0);
	n = get_n(IKEV2_N_COOKIE, sha256_8, 3);
	assert_int_equal(wire_puzzle_decode(&n, &pz, &err), -1);
	assert_non_null(strstr(err.reason, "PUZZLE: wrong notify type"));
	put_n(&n);

	/* The cookie's AdditionalInfo sits after the 4-octet version. */
	wire_cookie_put_version(cookie, 0x01020304);
	wire_cookie_put_info(cookie + WIRE_COOKIE_VERSION_LEN, &ci);
	assert_memory_equal(cookie, "\x01\x02\x03\x04\x01\x14\x12\x34", 8);
	assert_int_equal(wire_cookie_info(cookie, 8, &cb), 0);
	assert_int_equal(cb.puzzle, 1);
	assert_int_equal(cb.difficulty, 20);
	assert_int_equal(cb.prf, 0x1234);
	assert_int_equal(wire_cookie_info(cookie, 7, &cb), -1);
}

static void test_invalid_spi_cookie(void **state)
{
	struct wire_notify n = get_n(IKEV2_N_INVALID_SPI, "\xc0\x01\x02\x03", 4);
	uint8_t out[WIRE_INVALID_SPI_LEN], cookie[36] = {0};
	struct wire_error err;
	uint32_t spi = 0, v = 0;
	size_t len;

	n.protocol = IKEV2_PROTO_ESP;
	assert_int_equal(wire_invalid_spi_decode(&n, &spi, &err), 0);
	assert_int_equal(spi, 0xc0010203);
	put_n(&n);
	assert_int_equal(wire_invalid_spi_encode(0xc0010203, out, sizeof(out), &len), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(out, "\xc0\x01\x02\x03", 4);
	assert_int_equal(wire_invalid_spi_encode(1, out, 3, &len), -1);
	refused(IKEV2_N_INVALID_SPI, 0, big, 3, "not a 4-octet SPI", 0);
	refused(IKEV2_N_INVALID_SPI, 0, big, 5, "not a 4-octet SPI", 0);

	/* 2.6: <VersionIDofSecret> first. */
	wire_cookie_put_version(cookie, 0x01020304);
	assert_memory_equal(cookie, "\x01\x02\x03\x04", 4);
	assert_int_equal(wire_cookie_version(cookie, sizeof(cookie), &v), 0);
	assert_int_equal(v, 0x01020304);
	assert_int_equal(wire_cookie_version(cookie, 3, &v), -1);
}

/* ---- RFC 6290 ---- */

static void test_qcd_token(void **state)
{
	struct wire_qcd_token t = {0}, back;
	struct wire_notify n;
	struct wire_error err;
	uint8_t out[WIRE_QCD_TOKEN_MAX];
	size_t len;

	for (size_t l = 16; l <= 128; l += 112) {
		t.len = (uint8_t)l;
		for (size_t k = 0; k < l; k++)
			t.token[k] = (uint8_t)(k + 3);
		assert_int_equal(wire_qcd_token_encode(&t, out, sizeof(out), &len), 0);
		assert_int_equal(len, l);
		n = get_n(IKEV2_N_QUICK_CRASH_DETECTION, out, len);
		n.protocol = IKEV2_PROTO_IKE; /* 4.1 */
		assert_int_equal(wire_qcd_token_decode(&n, &back, &err), 0);
		assert_int_equal(back.len, l);
		assert_memory_equal(back.token, t.token, l);
		put_n(&n);
	}
	assert_int_equal(wire_qcd_token_encode(&t, out, 127, &len), -1);
	t.len = 15;
	assert_int_equal(wire_qcd_token_encode(&t, out, sizeof(out), &len), -1);
	t.len = 129;
	assert_int_equal(wire_qcd_token_encode(&t, out, sizeof(out), &len), -1);
	refused(IKEV2_N_QUICK_CRASH_DETECTION, 0, NULL, 0, "shorter than 16", 0);
	refused(IKEV2_N_QUICK_CRASH_DETECTION, 0, big, 15, "shorter than 16", 0);
	refused(IKEV2_N_QUICK_CRASH_DETECTION, 0, big, 129, "longer than 128", 128);
	refused(IKEV2_N_QUICK_CRASH_DETECTION, 8, big, 32, "QCD_TOKEN: SPI Size", 0);
}

/* Types without a codec pass; a NULL err is allowed. */
static void test_check_dispatch(void **state)
{
	struct wire_notify n = get_n(IKEV2_N_INITIAL_CONTACT, "junk", 4);

	assert_int_equal(wire_notify_check(&n, NULL), 0);
	put_n(&n);
	n = get_n(IKEV2_N_REDIRECT, "\x07", 1);
	assert_int_equal(wire_notify_check(&n, NULL), -1);
	put_n(&n);
}

/* Encoded notifies survive a whole message: wire_encode -> wire_decode -> codec. */
static void test_in_message(void **state)
{
	struct wire_redirect r = {.gw = {.type = IKEV2_GW_ID_FQDN, .len = 3, .id = "a.b"}};
	struct wire_msg m, back;
	struct wire_error err;
	struct wire_wr w;
	uint8_t rd[WIRE_REDIRECT_MAX], ke[2];
	size_t rlen, klen;
	uint16_t g;

	assert_int_equal(wire_redirect_encode(&r, rd, sizeof(rd), &rlen), 0);
	assert_int_equal(wire_invalid_ke_encode(IKEV2_DH_CURVE25519, ke, sizeof(ke), &klen), 0);
	wire_msg_init(&m);
	m.hdr.exchange = IKEV2_EXCH_IKE_SA_INIT;
	m.hdr.flags = IKEV2_FLAG_RESPONSE;
	m.npayloads = 2;
	m.payloads[0].type = m.payloads[1].type = IKEV2_PL_N;
	m.payloads[0].u.notify =
	    (struct wire_notify){.type = IKEV2_N_INVALID_KE_PAYLOAD, .data = ke, .len = klen};
	m.payloads[1].u.notify =
	    (struct wire_notify){.type = IKEV2_N_REDIRECT, .data = rd, .len = rlen};
	wire_wr_init(&w, WIRE_WR_MAX_DEFAULT);
	assert_int_equal(wire_encode(&m, &w), 0);
	wire_msg_init(&back);
	assert_int_equal(wire_decode(w.p, w.len, &back, &err), 0);
	assert_int_equal(back.npayloads, 2);
	for (size_t i = 0; i < back.npayloads; i++)
		assert_int_equal(wire_notify_check(&back.payloads[i].u.notify, &err), 0);
	assert_int_equal(wire_invalid_ke_decode(&back.payloads[0].u.notify, &g, &err), 0);
	assert_int_equal(g, IKEV2_DH_CURVE25519);
	assert_int_equal(wire_redirect_decode(&back.payloads[1].u.notify, &r, &err), 0);
	assert_string_equal((const char *)r.gw.id, "a.b");
	wire_msg_free(&back);
	wire_msg_free(&m);
	wire_wr_free(&w);
}

/* ---- SPIs, Delete, port 4500 ---- */

static void test_spis(void **state)
{
	static const uint8_t s8[8] = {0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0xff};
	uint8_t b[8];
	struct wire_notify n = {.spi_size = 4, .spi = {0xde, 0xad, 0xbe, 0xef}};
	uint32_t v;

	assert_true(wire_spi64_get(s8) == 0x80010203040506ffull);
	wire_spi64_put(b, 0x80010203040506ffull);
	assert_memory_equal(b, s8, 8);
	assert_int_equal(wire_spi32_get(s8), 0x80010203u);
	wire_spi32_put(b, 0xc0000001u);
	assert_memory_equal(b, "\xc0\x00\x00\x01", 4);
	assert_int_equal(wire_notify_spi32(&n, &v), 0);
	assert_int_equal(v, 0xdeadbeefu);
	n.spi_size = 8;
	assert_int_equal(wire_notify_spi32(&n, &v), -1);
	n.spi_size = 0;
	assert_int_equal(wire_notify_spi32(&n, &v), -1);
}

/* RFC 7296 3.11: build D(ESP) from numbers, encode, decode, read the numbers back. */
static void test_delete_spis(void **state)
{
	static const uint32_t spis[3] = {0xc0000001u, 0x00000100u, 0xffffffffu};
	static const uint8_t want[] = {3, 4, 0, 3, 0xc0, 0,    0,    1,
	                               0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff};
	struct wire_msg m, back;
	struct wire_error err;
	struct wire_wr w;
	uint8_t np;
	uint32_t v;

	wire_msg_init(&m);
	m.npayloads = 1;
	m.payloads[0].type = IKEV2_PL_D;
	assert_int_equal(wire_delete_set_spi32(&m, &m.payloads[0].u.del, IKEV2_PROTO_ESP, spis, 0),
	                 -1);
	assert_int_equal(wire_delete_set_spi32(&m, &m.payloads[0].u.del, IKEV2_PROTO_ESP, spis, 3),
	                 0);
	wire_wr_init(&w, WIRE_WR_MAX_DEFAULT);
	assert_int_equal(wire_encode_chain(m.payloads, 1, &w, &np), 0);
	assert_int_equal(w.len, 4 + sizeof(want));
	assert_memory_equal(w.p + 4, want, sizeof(want));
	wire_msg_init(&back);
	assert_int_equal(wire_decode_chain(w.p, w.len, IKEV2_PL_D, true, &back, &err), 0);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(wire_delete_spi32(&back.payloads[0].u.del, i, &v), 0);
		assert_int_equal(v, spis[i]);
	}
	assert_int_equal(wire_delete_spi32(&back.payloads[0].u.del, 3, &v), -1);
	assert_int_equal(wire_delete_spi32(&back.payloads[0].u.del, SIZE_MAX, &v), -1);
	/* D(IKE) has no SPIs to read. */
	struct wire_delete ike = {.protocol = IKEV2_PROTO_IKE, .spi_size = 0, .nspis = 0};
	assert_int_equal(wire_delete_spi32(&ike, 0, &v), -1);
	ike.spi_size = 8;
	ike.nspis = 1;
	ike.spis = want;
	assert_int_equal(wire_delete_spi32(&ike, 0, &v), -1);
	wire_msg_free(&back);
	wire_msg_free(&m);
	wire_wr_free(&w);
}

/* RFC 3948 2.2: what wire_udp4500_frame writes, wire_udp4500_classify unwraps. */
static void test_udp4500_frame(void **state)
{
	static const uint8_t msg[] = {0xaa, 0xbb, 0xcc};
	uint8_t out[WIRE_UDP4500_FRAME_LEN(sizeof(msg))];
	const uint8_t *p = out;
	size_t len;

	assert_int_equal(sizeof(out), 7);
	assert_int_equal(wire_udp4500_frame(msg, sizeof(msg), out, sizeof(out), &len), 0);
	assert_int_equal(len, 7);
	assert_memory_equal(out, "\0\0\0\0\xaa\xbb\xcc", 7);
	assert_int_equal(wire_udp4500_classify(&p, &len), 1);
	assert_ptr_equal(p, out + 4);
	assert_int_equal(len, sizeof(msg));
	assert_int_equal(wire_udp4500_frame(msg, sizeof(msg), out, 6, &len), -1);
	assert_int_equal(wire_udp4500_frame(msg, sizeof(msg), out, 2, &len), -1);
	assert_int_equal(wire_udp4500_frame(msg, 0, out, 4, &len), 0);
	assert_int_equal(len, 4);
}

/* ---- captures ---- */

struct cap_stats {
	unsigned notifies, refused, nat_d, nat_d_match, invalid_ke, typed;
	const char *file;
};

static void cap_notify(struct cap_stats *s, const struct pcap_udp *d, const struct wire_msg *m,
                       const struct wire_notify *n)
{
	struct wire_nat_detection nd;
	struct wire_error err;
	uint8_t in[WIRE_NAT_HASH_INPUT_MAX], h[20];
	size_t len, alen = d->family == AF_INET6 ? 16 : 4;
	bool src;
	uint16_t g;

	s->notifies++;
	if (wire_notify_check(n, &err) < 0) {
		s->refused++;
		print_message("  %s frame %u: %s refused: %s\n", s->file, d->frame,
		              ikev2_notify_name(n->type) ?: "?", err.reason);
		/* Openswan's lp08/lp09 tests answer with an INVALID_KE_PAYLOAD
		 * without its group (Wireshark calls it malformed too). Nothing
		 * else in the captures may be refused. */
		if (n->type != IKEV2_N_INVALID_KE_PAYLOAD || n->len != 0)
			fail_msg("a well-formed notify was refused");
		return;
	}
	switch (n->type) {
	case IKEV2_N_NAT_DETECTION_SOURCE_IP:
	case IKEV2_N_NAT_DETECTION_DESTINATION_IP:
		s->nat_d++;
		s->typed++;
		assert_int_equal(wire_nat_detection_decode(n, &nd, &err), 0);
		/* 2.23: the sender hashes its source (SOURCE_IP) or our address
		 * (DESTINATION_IP) as it sent them; without a NAT they are the
		 * captured ones. */
		src = n->type == IKEV2_N_NAT_DETECTION_SOURCE_IP;
		assert_int_equal(wire_nat_hash_input(m->hdr.spi_i, m->hdr.spi_r,
		                                     src ? d->src : d->dst, alen,
		                                     src ? d->sport : d->dport, in, &len),
		                 0);
		assert_int_equal(crypto_sha1(&(struct crypto_chunk){in, len}, 1, h), 0);
		if (!memcmp(h, nd.hash, 20))
			s->nat_d_match++;
		break;
	case IKEV2_N_INVALID_KE_PAYLOAD:
		s->invalid_ke++;
		s->typed++;
		assert_int_equal(wire_invalid_ke_decode(n, &g, &err), 0);
		print_message("  %s frame %u: INVALID_KE_PAYLOAD asks for group %u\n", s->file,
		              d->frame, g);
		break;
	case IKEV2_N_REDIRECT:
	case IKEV2_N_REDIRECTED_FROM:
	case IKEV2_N_REDIRECT_SUPPORTED:
	case IKEV2_N_ADDITIONAL_IP4_ADDRESS:
	case IKEV2_N_ADDITIONAL_IP6_ADDRESS:
	case IKEV2_N_COOKIE2:
	case IKEV2_N_NO_NATS_ALLOWED:
	case IKEV2_N_QUICK_CRASH_DETECTION:
		s->typed++;
		break;
	default:
		break;
	}
}

static int cap_datagram(void *ctx, const struct pcap_udp *d)
{
	const uint8_t *p = d->payload;
	size_t len = d->len;
	struct wire_msg m;
	struct wire_error err;

	if ((d->sport == 4500 || d->dport == 4500) && wire_udp4500_classify(&p, &len) != 1)
		return 0;
	wire_msg_init(&m);
	if (wire_decode(p, len, &m, &err) == 0)
		for (size_t i = 0; i < m.npayloads; i++)
			if (m.payloads[i].type == IKEV2_PL_N)
				cap_notify(ctx, d, &m, &m.payloads[i].u.notify);
	wire_msg_free(&m);
	return 0;
}

static void cap_dir(const char *dir, struct cap_stats *s)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);

	for (int i = 0; i < n; i++) {
		char path[4096], errbuf[512];
		struct stat st;
		size_t l = strlen(ents[i]->d_name);

		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		if (ents[i]->d_name[0] == '.') {
		} else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			cap_dir(path, s);
		} else if ((l > 5 && !strcmp(ents[i]->d_name + l - 5, ".pcap")) ||
		           (l > 7 && !strcmp(ents[i]->d_name + l - 7, ".pcapng"))) {
			s->file = ents[i]->d_name;
			(void)(pcapread_udp(path, cap_datagram, s, errbuf) == 0);
		}
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
}

/*
 * The captures hold NAT_DETECTION_* (IKE_SA_INIT of most of them) and
 * INVALID_KE_PAYLOAD (Openswan's lp08/lp09 notify tests); none has REDIRECT,
 * ADDITIONAL_*_ADDRESS, COOKIE2 or QCD_TOKEN in the clear (their SK
 * plaintexts have none either). Every notify of a well-formed capture
 * message goes through wire_notify_check; what the codecs refuse is
 * printed and counted.
 */
static void test_captures(void **state)
{
	const char *shared = getenv("RIKE_SHARED");
	char dir[4096], wsdir[4096];
	struct cap_stats all = {0}, ws = {0};
	struct stat st;

	if (!shared) {
		print_message("RIKE_SHARED is not set: skipping\n");
		skip();
	}
	snprintf(dir, sizeof(dir), "%s/captures", shared);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		print_message("%s is absent: skipping\n", dir);
		skip();
	}
	cap_dir(dir, &all);
	print_message("captures: %u notifies, %u refused by a codec; %u NAT-D (%u match the "
	              "captured addresses), %u INVALID_KE_PAYLOAD, %u with a typed codec\n",
	              all.notifies, all.refused, all.nat_d, all.nat_d_match, all.invalid_ke,
	              all.typed);
	assert_true(all.nat_d > 0);
	assert_true(all.invalid_ke > 0);
	/* Wireshark's captures: strongSwan on both ends of one LAN, no NAT, so
	 * every hash must come out of wire_nat_hash_input exactly. */
	snprintf(wsdir, sizeof(wsdir), "%s/captures/wireshark", shared);
	cap_dir(wsdir, &ws);
	print_message("wireshark/: %u NAT-D, %u match\n", ws.nat_d, ws.nat_d_match);
	assert_true(ws.nat_d >= 16);
	assert_int_equal(ws.nat_d_match, ws.nat_d);
	assert_int_equal(ws.refused, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_redirect_known),
	    cmocka_unit_test(test_redirect_roundtrip),
	    cmocka_unit_test(test_redirect_malformed),
	    cmocka_unit_test(test_redirected_from),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_additional_addr),
	    cmocka_unit_test(test_cookie2),
	    cmocka_unit_test(test_no_nats),
	    cmocka_unit_test(test_nat_detection),
	    cmocka_unit_test(test_invalid_ke),
	    cmocka_unit_test(test_puzzle),
	    cmocka_unit_test(test_invalid_spi_cookie),
	    cmocka_unit_test(test_qcd_token),
	    cmocka_unit_test(test_check_dispatch),
	    cmocka_unit_test(test_in_message),
	    cmocka_unit_test(test_spis),
	    cmocka_unit_test(test_delete_spis),
	    cmocka_unit_test(test_udp4500_frame),
	    cmocka_unit_test(test_captures),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
