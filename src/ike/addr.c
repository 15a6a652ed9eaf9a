/* Address helpers for the engine: comparison, ports and formatting. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "ike/sa.h"

static const struct sockaddr_in *sin4(const struct ike_addr *a)
{
	return (const struct sockaddr_in *)&a->ss;
}

static const struct sockaddr_in6 *sin6(const struct ike_addr *a)
{
	return (const struct sockaddr_in6 *)&a->ss;
}

const uint8_t *addr_bytes(const struct ike_addr *a, size_t *len)
{
	if (a->ss.sa.sa_family == AF_INET) {
		*len = 4;
		return (const uint8_t *)&sin4(a)->sin_addr;
	}
	if (a->ss.sa.sa_family == AF_INET6) {
		*len = 16;
		return (const uint8_t *)&sin6(a)->sin6_addr;
	}
	*len = 0;
	return NULL;
}

bool addr_equal_host(const struct ike_addr *a, const struct ike_addr *b)
{
	size_t la, lb;
	const uint8_t *pa = addr_bytes(a, &la), *pb = addr_bytes(b, &lb);

	return a->ss.sa.sa_family == b->ss.sa.sa_family && la == lb && la && !memcmp(pa, pb, la);
}

uint16_t addr_port(const struct ike_addr *a)
{
	if (a->ss.sa.sa_family == AF_INET)
		return ntohs(sin4(a)->sin_port);
	if (a->ss.sa.sa_family == AF_INET6)
		return ntohs(sin6(a)->sin6_port);
	return 0;
}

void addr_set_port(struct ike_addr *a, uint16_t port)
{
	if (a->ss.sa.sa_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
	else if (a->ss.sa.sa_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
}

bool addr_equal(const struct ike_addr *a, const struct ike_addr *b)
{
	return addr_equal_host(a, b) && addr_port(a) == addr_port(b);
}

void addr_set_ss(struct ike_addr *a, const struct sockaddr_storage *ss)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET)
		memcpy(&a->ss.sin, ss, sizeof(a->ss.sin));
	else if (ss->ss_family == AF_INET6)
		memcpy(&a->ss.sin6, ss, sizeof(a->ss.sin6));
	else
		a->ss.sa.sa_family = ss->ss_family; /* AF_UNSPEC: "any" */
}

void addr_from_ss(struct ike_addr *a, const struct sockaddr_storage *ss, uint16_t port)
{
	addr_set_ss(a, ss);
	addr_set_port(a, port);
}

void addr_to_ss(const struct ike_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->ss.sa.sa_family == AF_INET6)
		memcpy(ss, &a->ss.sin6, sizeof(a->ss.sin6));
	else if (a->ss.sa.sa_family == AF_INET)
		memcpy(ss, &a->ss.sin, sizeof(a->ss.sin));
	else
		ss->ss_family = a->ss.sa.sa_family;
}

bool addr_is_any(const struct sockaddr_storage *ss)
{
	return ss->ss_family != AF_INET && ss->ss_family != AF_INET6;
}

void addr_format(const struct ike_addr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	size_t n;
	const uint8_t *p = addr_bytes(a, &n);

	if (p)
		inet_ntop(a->ss.sa.sa_family, p, host, sizeof(host));
	if (a->ss.sa.sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", host, addr_port(a));
	else
		snprintf(buf, len, "%s:%u", host, addr_port(a));
}

void addr_format_host(const struct ike_addr *a, char *buf, size_t len)
{
	size_t n;
	const uint8_t *p = addr_bytes(a, &n);

	if (!p || !inet_ntop(a->ss.sa.sa_family, p, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

int addr_from_bytes(struct ike_addr *a, const uint8_t *p, size_t len)
{
	memset(a, 0, sizeof(*a));
	if (len == 4) {
		struct sockaddr_in *s = (struct sockaddr_in *)&a->ss;

		s->sin_family = AF_INET;
		memcpy(&s->sin_addr, p, 4);
		return 0;
	}
	if (len == 16) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&a->ss;

		s->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, p, 16);
		return 0;
	}
	return -1;
}

int addr_parse(struct ike_addr *a, const char *text)
{
	uint8_t b[16];

	if (inet_pton(AF_INET, text, b) == 1)
		return addr_from_bytes(a, b, 4);
	if (inet_pton(AF_INET6, text, b) == 1)
		return addr_from_bytes(a, b, 16);
	return -1;
}

bool addr_in_prefix(const struct ike_addr *a, const struct ike_addr *net, unsigned plen)
{
	size_t la, ln;
	const uint8_t *pa = addr_bytes(a, &la), *pn = addr_bytes(net, &ln);

	if (!pa || la != ln || plen > 8 * la)
		return false;
	for (unsigned i = 0; i < plen; i++) {
		uint8_t m = (uint8_t)(0x80u >> (i % 8));

		if ((pa[i / 8] & m) != (pn[i / 8] & m))
			return false;
	}
	return true;
}
