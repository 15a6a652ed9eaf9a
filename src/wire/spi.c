/*
 * SPIs as numbers (wire/payload.h): the 8-octet IKE SPIs of the header
 * (RFC 7296 3.1), the 4-octet ESP/AH SPIs of proposals, notifies
 * (3.3.1, 3.10) and Delete payloads (3.11). The SA tables key on these
 * numbers; the octets stay in src/wire.
 */
#include "wire/payload.h"

#include <string.h>

static uint64_t get_be(const uint8_t *p, size_t n)
{
	struct wire_rd r;
	uint64_t v = 0;
	uint32_t v32 = 0;

	wire_rd_init(&r, p, n);
	if (n == 8)
		return wire_rd_u64(&r, &v) == 0 ? v : 0;
	return wire_rd_u32(&r, &v32) == 0 ? v32 : 0;
}

static void put_be(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

uint64_t wire_spi64_get(const uint8_t spi[8])
{
	return get_be(spi, 8);
}

void wire_spi64_put(uint8_t spi[8], uint64_t v)
{
	put_be(spi, v, 8);
}

uint32_t wire_spi32_get(const uint8_t spi[4])
{
	return (uint32_t)get_be(spi, 4);
}

void wire_spi32_put(uint8_t spi[4], uint32_t v)
{
	put_be(spi, v, 4);
}

int wire_notify_spi32(const struct wire_notify *n, uint32_t *spi)
{
	if (n->spi_size != 4)
		return -1;
	*spi = wire_spi32_get(n->spi);
	return 0;
}

int wire_delete_spi32(const struct wire_delete *d, size_t i, uint32_t *spi)
{
	struct wire_rd r;

	/* 3.11: "SPI Size ... MUST be ... four for AH and ESP" */
	if (d->spi_size != 4 || i >= d->nspis)
		return -1;
	wire_rd_init(&r, d->spis, (size_t)d->nspis * 4);
	if (wire_rd_skip(&r, 4 * i) < 0 || wire_rd_u32(&r, spi) < 0)
		return -1;
	return 0;
}

int wire_delete_set_spi32(struct wire_msg *m, struct wire_delete *d, uint8_t protocol,
                          const uint32_t *spis, size_t n)
{
	uint8_t *p;

	if (n == 0 || n > UINT16_MAX)
		return -1;
	p = wire_msg_alloc(m, 4 * n);
	if (!p)
		return -1;
	for (size_t i = 0; i < n; i++)
		wire_spi32_put(p + 4 * i, spis[i]);
	d->protocol = protocol;
	d->spi_size = 4;
	d->nspis = (uint16_t)n;
	d->spis = p;
	return 0;
}
