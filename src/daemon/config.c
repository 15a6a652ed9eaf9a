/*
 * riked.conf (see config.h and riked.conf(5)). libconfig does the syntax;
 * this file walks the tree with a list of the keys each group allows (an
 * unknown key is an error, so a typo never silently becomes a default),
 * converts each value and checks it, and reports "file:line: reason" with
 * the line of the offending setting. It also encodes identities (RFC 7296
 * 3.5), traffic selectors (RFC 7296 3.13.1) and the default proposals,
 * which follow the MUST/SHOULD levels of RFC 8247 (IKE) and RFC 8221 (ESP).
 */
#include "daemon/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <libconfig.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "wire/ikev2.h"

/* Loader state: where errors go and the file name for them. */
struct ld {
	const char *name;
	char *err;
	size_t errlen;
	const char *conn; /* connection being read, for messages */
	struct cfg *cfg;  /* being filled */
};

static int fail(struct ld *c, const config_setting_t *s, const char *fmt, ...) LOG_PRINTF(3, 4);

static int fail(struct ld *c, const config_setting_t *s, const char *fmt, ...)
{
	const char *file =
	    s && config_setting_source_file(s) ? config_setting_source_file(s) : c->name;
	unsigned line = s ? config_setting_source_line(s) : 0;
	va_list ap;
	int n;

	if (c->conn)
		n = snprintf(c->err, c->errlen, "%s:%u: connection '%s': ", file, line, c->conn);
	else
		n = snprintf(c->err, c->errlen, "%s:%u: ", file, line);
	if (n >= 0 && (size_t)n < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- typed getters: absent settings leave *out unchanged ---- */

/* The member `key` of group `g` (which may be NULL), or NULL. */
static const config_setting_t *member(const config_setting_t *g, const char *key)
{
	return g ? config_setting_get_member(g, key) : NULL;
}

static int check_keys(struct ld *c, const config_setting_t *grp, const char *const *keys,
                      const char *where)
{
	int n = config_setting_length(grp);

	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(grp, (unsigned)i);
		const char *name = config_setting_name(e);
		size_t k = 0;

		while (keys[k] && strcmp(keys[k], name))
			k++;
		if (!keys[k])
			return fail(c, e, "unknown setting '%s' in %s", name, where);
	}
	return 0;
}

static int get_str(struct ld *c, const config_setting_t *g, const char *key, const char **out)
{
	const config_setting_t *s = member(g, key);

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(c, s, "'%s' must be a string", key);
	*out = config_setting_get_string(s);
	return 0;
}

static int get_bool(struct ld *c, const config_setting_t *g, const char *key, bool *out)
{
	const config_setting_t *s = member(g, key);

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return fail(c, s, "'%s' must be true or false", key);
	*out = config_setting_get_bool(s) != 0;
	return 0;
}

static int get_u64(struct ld *c, const config_setting_t *g, const char *key, uint64_t min,
                   uint64_t max, uint64_t *out)
{
	const config_setting_t *s = member(g, key);
	long long v;

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return fail(c, s, "'%s' must be an integer", key);
	v = config_setting_get_int64(s);
	if (v < 0 || (uint64_t)v < min || (uint64_t)v > max)
		return fail(c, s, "'%s' = %lld is out of range %llu..%llu", key, v,
		            (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)v;
	return 0;
}

static int get_u32(struct ld *c, const config_setting_t *g, const char *key, uint32_t min,
                   uint32_t max, uint32_t *out)
{
	uint64_t v = *out;

	if (get_u64(c, g, key, min, max, &v) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int get_double(struct ld *c, const config_setting_t *g, const char *key, double min,
                      double max, double *out)
{
	const config_setting_t *s = member(g, key);
	double v;

	if (!s)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
		v = config_setting_get_float(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT ||
	         config_setting_type(s) == CONFIG_TYPE_INT64)
		v = (double)config_setting_get_int64(s);
	else
		return fail(c, s, "'%s' must be a number", key);
	if (!(v >= min && v <= max))
		return fail(c, s, "'%s' = %g is out of range %g..%g", key, v, min, max);
	*out = v;
	return 0;
}

/* "4h", "30s", "500ms", "2d", "1h30m": numbers each followed by a unit
 * (ms, s, m, h, d), in milliseconds; at most a year. */
int cfg_duration_parse(const char *str, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
	const uint64_t cap = 366ull * 86400000;
	uint64_t total = 0;
	const char *p = str;

	if (!*p)
		return -1;
	while (*p) {
		uint64_t v = 0;
		size_t u, digits = 0;

		for (; *p >= '0' && *p <= '9' && digits < 12; p++, digits++)
			v = v * 10 + (uint64_t)(*p - '0');
		if (!digits || (*p >= '0' && *p <= '9'))
			return -1;
		for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
			size_t n = strlen(units[u].unit);

			/* "m" must not take the "m" of "ms" */
			if (!strncmp(p, units[u].unit, n) && !(u == 2 && p[1] == 's'))
				break;
		}
		if (u == sizeof(units) / sizeof(units[0]))
			return -1;
		p += strlen(units[u].unit);
		total += v * units[u].ms;
		if (total > cap)
			return -1;
	}
	*ms = total;
	return 0;
}

/* A duration in milliseconds: a string with units (cfg_duration_parse), or
 * a plain number in `plain_ms` milliseconds (the setting's old unit). */
static int get_duration_ms(struct ld *c, const config_setting_t *g, const char *key,
                           uint64_t plain_ms, uint64_t min_ms, uint64_t max_ms, uint64_t *out)
{
	const config_setting_t *s = member(g, key);
	uint64_t v;

	if (!s)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		if (cfg_duration_parse(config_setting_get_string(s), &v) < 0)
			return fail(c, s,
			            "'%s' = \"%s\" is not a duration (a number and a unit: ms, s, "
			            "m, h, d; e.g. \"30s\", \"4h\", \"1h30m\")",
			            key, config_setting_get_string(s));
	} else if (config_setting_type(s) == CONFIG_TYPE_INT ||
	           config_setting_type(s) == CONFIG_TYPE_INT64) {
		long long n = config_setting_get_int64(s);

		if (n < 0 || (uint64_t)n > UINT64_MAX / 1000 / plain_ms)
			return fail(c, s, "'%s' = %lld is out of range", key, n);
		v = (uint64_t)n * plain_ms;
	} else if (config_setting_type(s) == CONFIG_TYPE_FLOAT && plain_ms == 1000) {
		double d = config_setting_get_float(s);

		if (!(d >= 0 && d <= 366.0 * 86400))
			return fail(c, s, "'%s' = %g is out of range", key, d);
		v = (uint64_t)(d * 1000 + 0.5);
	} else {
		return fail(c, s, "'%s' must be a duration (a number of seconds, or e.g. \"30s\")",
		            key);
	}
	if ((v < min_ms || v > max_ms) && config_setting_type(s) != CONFIG_TYPE_STRING &&
	    config_setting_type(s) != CONFIG_TYPE_FLOAT)
		return fail(c, s, "'%s' = %lld is out of range %llu..%llu", key,
		            config_setting_get_int64(s), (unsigned long long)(min_ms / plain_ms),
		            (unsigned long long)(max_ms / plain_ms));
	if (v < min_ms || v > max_ms)
		return fail(c, s, "'%s' = %s is out of range %gs..%gs", key,
		            config_setting_type(s) == CONFIG_TYPE_STRING
		                ? config_setting_get_string(s)
		                : "the value",
		            (double)min_ms / 1000, (double)max_ms / 1000);
	*out = v;
	return 0;
}

/* A duration setting kept in whole seconds (lifetimes, intervals, timeouts). */
static int get_secs(struct ld *c, const config_setting_t *g, const char *key, uint32_t min,
                    uint32_t max, uint32_t *out)
{
	uint64_t ms = (uint64_t)*out * 1000;

	if (get_duration_ms(c, g, key, 1000, (uint64_t)min * 1000, (uint64_t)max * 1000, &ms) < 0)
		return -1;
	if (ms % 1000)
		return fail(c, member(g, key), "'%s' must be whole seconds", key);
	*out = (uint32_t)(ms / 1000);
	return 0;
}

/* A string that must be one of `names`; stores its index. */
static int get_enum(struct ld *c, const config_setting_t *g, const char *key,
                    const char *const *names, int *out)
{
	const char *v = NULL;
	char list[128] = "";

	if (get_str(c, g, key, &v) < 0)
		return -1;
	if (!v)
		return 0;
	for (int i = 0; names[i]; i++) {
		if (!strcmp(names[i], v)) {
			*out = i;
			return 0;
		}
	}
	for (int i = 0; names[i]; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s\"%s\"",
		         i ? ", " : "", names[i]);
	return fail(c, member(g, key), "'%s' = \"%s\" is not one of %s", key, v, list);
}

/* An optional group; *out is NULL if absent. */
static int get_group(struct ld *c, const config_setting_t *g, const char *key,
                     const config_setting_t **out)
{
	const config_setting_t *s = member(g, key);

	*out = NULL;
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return fail(c, s, "'%s' must be a group { ... }", key);
	*out = s;
	return 0;
}

/* An optional array or list of strings; *out is NULL if absent. */
static int get_str_list(struct ld *c, const config_setting_t *g, const char *key, size_t max,
                        const config_setting_t **out)
{
	const config_setting_t *s = member(g, key);
	int n;

	*out = NULL;
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST)
		return fail(c, s, "'%s' must be a list of strings [ \"...\", ... ]", key);
	n = config_setting_length(s);
	if (n == 0 || (size_t)n > max)
		return fail(c, s, "'%s' must have 1 to %zu entries", key, max);
	for (int i = 0; i < n; i++)
		if (config_setting_type(config_setting_get_elem(s, (unsigned)i)) !=
		    CONFIG_TYPE_STRING)
			return fail(c, s, "'%s' must be a list of strings", key);
	*out = s;
	return 0;
}

/* ---- addresses, identities, traffic selectors ---- */

/* "%any" gives AF_UNSPEC; otherwise a numeric IPv4 or IPv6 address. */
static int addr_parse(const char *s, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (!strcmp(s, "%any")) {
		ss->ss_family = AF_UNSPEC;
		return 0;
	}
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		return 0;
	}
	return -1;
}

void cfg_addr_format(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const void *a = NULL;

	if (ss->ss_family == AF_INET)
		a = &((const struct sockaddr_in *)ss)->sin_addr;
	else if (ss->ss_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (!a || !inet_ntop(ss->ss_family, a, buf, (socklen_t)len))
		snprintf(buf, len, "%%any");
}

/* Host names: labels of letters, digits, '-' and '_', dot-separated. */
static bool fqdn_valid(const char *s)
{
	return conf_fqdn_valid(s);
}

/* Non-empty hex (RFC 7296 3.5 KEY_ID, PSKs given as 0xHEX). */
static int hex_decode(const char *s, uint8_t *out, size_t cap, size_t *n)
{
	return s[0] ? crypto_hex_decode(s, out, cap, n) : -1;
}

static int id_set(struct cfg_id *id, uint8_t type, const void *data, size_t len)
{
	if (len == 0 || len > CFG_ID_MAX)
		return -1;
	id->type = type;
	id->len = (uint8_t)len;
	memcpy(id->data, data, len);
	return 0;
}

static int id_parse_email(const char *v, struct cfg_id *id)
{
	const char *at = strchr(v, '@');

	if (!at || at == v || !fqdn_valid(at + 1))
		return -1;
	return id_set(id, IKEV2_ID_RFC822_ADDR, v, strlen(v));
}

/* A typed value: "ipv4:", "ipv6:", "fqdn:", "email:", "keyid:". */
static int id_parse_prefixed(const char *s, struct cfg_id *id)
{
	const char *v = strchr(s, ':') + 1;
	uint8_t buf[CFG_ID_MAX];
	size_t n;

	if (!strncmp(s, "keyid:", 6))
		return hex_decode(v, buf, sizeof(buf), &n) ? -1
		                                           : id_set(id, IKEV2_ID_KEY_ID, buf, n);
	if (!strncmp(s, "ipv4:", 5))
		return inet_pton(AF_INET, v, buf) == 1 ? id_set(id, IKEV2_ID_IPV4_ADDR, buf, 4)
		                                       : -1;
	if (!strncmp(s, "ipv6:", 5))
		return inet_pton(AF_INET6, v, buf) == 1 ? id_set(id, IKEV2_ID_IPV6_ADDR, buf, 16)
		                                        : -1;
	if (!strncmp(s, "fqdn:", 5))
		return fqdn_valid(v) ? id_set(id, IKEV2_ID_FQDN, v, strlen(v)) : -1;
	if (!strncmp(s, "email:", 6))
		return id_parse_email(v, id);
	return -1;
}

/* RFC 7296 3.5: the ID type follows from the spelling unless prefixed. */
int cfg_id_parse(const char *s, struct cfg_id *id, char *err, size_t errlen)
{
	static const char *const prefixes[] = {"keyid:", "ipv4:", "ipv6:", "fqdn:", "email:"};
	uint8_t a[16];
	int rc = -1;

	memset(id, 0, sizeof(*id));
	snprintf(id->text, sizeof(id->text), "%s", s);
	for (size_t i = 0; i < ARRAY_LEN(prefixes); i++)
		if (!strncmp(s, prefixes[i], strlen(prefixes[i])))
			rc = id_parse_prefixed(s, id) ? -2 : 0;
	if (rc == -1) {
		if (!strcmp(s, "%any"))
			rc = 0; /* type 0: any identity (remote_id only) */
		else if (inet_pton(AF_INET, s, a) == 1)
			rc = id_set(id, IKEV2_ID_IPV4_ADDR, a, 4);
		else if (inet_pton(AF_INET6, s, a) == 1)
			rc = id_set(id, IKEV2_ID_IPV6_ADDR, a, 16);
		else if (strchr(s, '@'))
			rc = id_parse_email(s, id);
		else
			rc = fqdn_valid(s) ? id_set(id, IKEV2_ID_FQDN, s, strlen(s)) : -1;
	}
	if (rc < 0)
		snprintf(err, errlen,
		         "bad identity \"%s\" (expected an FQDN, an IPv4/IPv6 address, user@fqdn, "
		         "keyid:HEX or a typed ipv4:/ipv6:/fqdn:/email: value)",
		         s);
	return rc < 0 ? -1 : 0;
}

static const struct {
	const char *name;
	uint8_t proto;
} ip_protos[] = {
    {"any", 0},           {"icmp", IPPROTO_ICMP},     {"tcp", IPPROTO_TCP},   {"udp", IPPROTO_UDP},
    {"gre", IPPROTO_GRE}, {"icmpv6", IPPROTO_ICMPV6}, {"sctp", IPPROTO_SCTP},
};

static int num_parse(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || *end || *out > max ? -1 : 0;
}

/* "[proto]" or "[proto/port]" or "[proto/lo-hi]" without the brackets. */
static int ts_sel_parse(char *s, struct cfg_ts *ts)
{
	char *port = strchr(s, '/'), *dash;
	unsigned long lo, hi, v;
	size_t i;

	if (port)
		*port++ = '\0';
	for (i = 0; i < ARRAY_LEN(ip_protos) && strcmp(ip_protos[i].name, s); i++)
		;
	if (i < ARRAY_LEN(ip_protos))
		ts->ip_proto = ip_protos[i].proto;
	else if (num_parse(s, 255, &v) == 0)
		ts->ip_proto = (uint8_t)v;
	else
		return -1;
	if (!port || !strcmp(port, "any") || !strcmp(port, "%any"))
		return 0;
	if (ts->ip_proto == 0)
		return -1; /* ports without a protocol select nothing (RFC 4301 4.4.1.1) */
	dash = strchr(port, '-');
	if (dash)
		*dash++ = '\0';
	if (num_parse(port, 65535, &lo) < 0 || num_parse(dash ? dash : port, 65535, &hi) < 0 ||
	    lo > hi)
		return -1;
	ts->start_port = (uint16_t)lo;
	ts->end_port = (uint16_t)hi;
	return 0;
}

/* "a.b.c.d/len": start = address, end = address with the host bits set;
 * host bits set in the address are refused as a likely typo. */
static int ts_prefix_parse(char *s, char *slash, struct cfg_ts *ts, size_t alen)
{
	unsigned long plen;

	*slash = '\0';
	if (num_parse(slash + 1, alen * 8, &plen) < 0)
		return -1;
	memcpy(ts->end, ts->start, alen);
	for (size_t bit = plen; bit < alen * 8; bit++) {
		uint8_t m = (uint8_t)(0x80 >> (bit % 8));

		if (ts->start[bit / 8] & m)
			return -1;
		ts->end[bit / 8] |= m;
	}
	return 0;
}

static int ts_addr(const char *s, uint8_t *out, uint8_t *type)
{
	if (inet_pton(AF_INET, s, out) == 1) {
		*type = IKEV2_TS_IPV4_ADDR_RANGE;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*type = IKEV2_TS_IPV6_ADDR_RANGE;
		return 0;
	}
	return -1;
}

static int ts_parse_addrs(char *a, struct cfg_ts *ts)
{
	char *slash = strchr(a, '/'), *dash = strchr(a, '-');
	uint8_t type2;
	size_t alen;

	if (slash)
		*slash = '\0';
	if (dash)
		*dash = '\0';
	if (ts_addr(a, ts->start, &ts->type) < 0)
		return -1;
	alen = ts->type == IKEV2_TS_IPV4_ADDR_RANGE ? 4 : 16;
	if (slash && !dash) {
		*slash = '/';
		return ts_prefix_parse(a, slash, ts, alen);
	}
	if (slash)
		return -1;
	if (!dash) {
		memcpy(ts->end, ts->start, alen);
		return 0;
	}
	if (ts_addr(dash + 1, ts->end, &type2) < 0 || type2 != ts->type)
		return -1;
	return memcmp(ts->start, ts->end, alen) > 0 ? -1 : 0;
}

/* RFC 7296 3.13.1: "net/len", "addr", "lo-hi", each optionally followed by
 * "[proto]" or "[proto/port]" / "[proto/lo-hi]". */
int cfg_ts_parse(const char *s, struct cfg_ts *ts, char *err, size_t errlen)
{
	char buf[128], *br;
	int rc = -1;

	memset(ts, 0, sizeof(*ts));
	ts->end_port = 65535;
	if (strlen(s) < sizeof(buf)) {
		snprintf(buf, sizeof(buf), "%s", s);
		br = strchr(buf, '[');
		rc = 0;
		if (br) {
			size_t n = strlen(br);

			*br++ = '\0';
			rc = n < 2 || br[n - 2] != ']' ? -1 : 0;
			if (rc == 0) {
				br[n - 2] = '\0';
				rc = ts_sel_parse(br, ts);
			}
		}
		if (rc == 0)
			rc = ts_parse_addrs(buf, ts);
	}
	if (rc < 0)
		snprintf(err, errlen,
		         "bad traffic selector \"%s\" (expected NET/LEN, ADDR or LO-HI, optionally "
		         "followed by [PROTO] or [PROTO/PORT[-PORT]])",
		         s);
	return rc;
}

void cfg_ts_format(const struct cfg_ts *ts, char *buf, size_t len)
{
	conf_ts_format(ts, buf, len);
}

/* RFC 8247 2.1-2.4 and RFC 8031 for IKE: AEAD first (AES-GCM-16 and
 * ChaCha20-Poly1305, SHOULD), then AES-CBC (MUST) with HMAC-SHA2 (MUST /
 * SHOULD); groups 19 (SHOULD) and 14 (MUST) plus X25519, P-384 and 3072-bit.
 * RFC 8221 5-6 for ESP: AES-GCM-16 (MUST), ChaCha20-Poly1305 (SHOULD),
 * AES-CBC (MUST) with HMAC-SHA2-256-128 (MUST) / -512-256 (SHOULD). SHA-1 is
 * MUST- in both and is left for explicit configuration. */
static const char *const default_ike[] = {
    "aes256gcm16-aes128gcm16-chacha20poly1305-prfsha256-prfsha384-prfsha512-"
    "curve25519-ecp256-ecp384-modp3072-modp2048",
    "aes256-aes128-sha256-sha384-sha512-curve25519-ecp256-ecp384-modp3072-modp2048",
};
static const char *const default_esp[] = {
    "aes256gcm16-aes128gcm16-chacha20poly1305",
    "aes256-aes128-sha256-sha512",
};

void cfg_default_proposals(uint8_t protocol, struct proposal *out, size_t *n)
{
	const char *const *list = protocol == IKEV2_PROTO_IKE ? default_ike : default_esp;
	char err[128];

	*n = 0;
	for (size_t i = 0; i < 2; i++)
		if (proposal_parse(list[i], protocol, &out[*n], err, sizeof(err)) == 0)
			(*n)++;
}

/* ---- the riked = { ... } group ---- */

static int globals_anycast(struct ld *c, const config_setting_t *g, struct cfg *cfg);

static const char *const riked_keys[] = {"log",
                                         "log_level",
                                         "control_socket",
                                         "state_dir",
                                         "dataplane",
                                         "ike_port",
                                         "natt_port",
                                         "half_open_cookie_threshold",
                                         "half_open_timeout",
                                         "half_open_max",
                                         "half_open_per_source",
                                         "half_open_memory",
                                         "redirect_anycast",
                                         "qcd",
                                         "under_attack",
                                         "puzzles",
                                         "auth_failures",
                                         "crypto_workers",
                                         "dh_reuse",
                                         "mobike_announce_rate",
                                         "dataplane_workers",
                                         "metrics",
                                         "keylog",
                                         NULL};
static const char *const qcd_keys[] = {"enabled", "rollover_interval", NULL};
static const char *const attack_keys[] = {"half_open_timeout", "dh_per_second", NULL};
static const char *const puzzle_keys[] = {"enabled", "difficulty", "solve_work", "auth_difficulty",
                                          NULL};
static const char *const authfail_keys[] = {"max", "window", "block", NULL};
static const char *const log_targets[] = {"stderr", "syslog", "journal", NULL};
static const char *const dataplanes[] = {"userspace", "xfrm", NULL};

static void globals_default(struct cfg *cfg)
{
	cfg->log_target = LOG_TARGET_STDERR;
	cfg->log_level = LOG_INFO;
	cfg->dataplane = CFG_DP_USERSPACE;
	cfg->ike_port = 500;
	cfg->natt_port = 4500;
	cfg->half_open_cookie_threshold = 64;
	cfg->half_open_timeout = 30;
	cfg->half_open_max = 20000;
	cfg->half_open_per_source = 32;
	cfg->half_open_memory = 131072;
	cfg->qcd_enabled = true;
	cfg->qcd_rollover_interval = 0;
	cfg->attack_half_open_timeout = 5;
	cfg->dh_per_second = 0;
	cfg->mobike_announce_rate = 1000;
	cfg->crypto_workers = CFG_CRYPTO_WORKERS_AUTO;
	cfg->dataplane_workers = CFG_DP_WORKERS_AUTO;
	cfg->puzzles = false;
	cfg->puzzle_difficulty = 8;
	cfg->puzzle_solve_work = 16384;
	cfg->puzzle_auth_difficulty = 8;
	cfg->auth_fail_max = 5;
	cfg->auth_fail_window = 60;
	cfg->auth_fail_block = 300;
}

/* Absolute paths; the socket's must fit sun_path. */
static int get_path(struct ld *c, const config_setting_t *g, const char *key, size_t max,
                    const char *def, char **out)
{
	const char *v = def;

	if (get_str(c, g, key, &v) < 0)
		return -1;
	if (v[0] != '/' || strlen(v) >= max)
		return fail(c, member(g, key),
		            "'%s' must be an absolute path shorter than %zu characters", key, max);
	*out = strdup(v);
	return *out ? 0 : fail(c, g, "out of memory");
}

static int globals_log(struct ld *c, const config_setting_t *g, struct cfg *cfg)
{
	const char *lvl = NULL;
	int t = 0;

	if (get_enum(c, g, "log", log_targets, &t) < 0 || get_str(c, g, "log_level", &lvl) < 0)
		return -1;
	cfg->log_target = t == 2 ? LOG_TARGET_JOURNAL : t ? LOG_TARGET_SYSLOG : LOG_TARGET_STDERR;
	if (lvl && log_level_parse(lvl, &cfg->log_level) < 0)
		return fail(c, member(g, "log_level"),
		            "'log_level' = \"%s\" is not debug, info, notice, warning or error",
		            lvl);
	return 0;
}

static int globals_qcd(struct ld *c, const config_setting_t *g, struct cfg *cfg)
{
	const config_setting_t *q;

	if (get_group(c, g, "qcd", &q) < 0)
		return -1;
	if (!q)
		return 0;
	if (check_keys(c, q, qcd_keys, "riked.qcd") < 0 ||
	    get_bool(c, q, "enabled", &cfg->qcd_enabled) < 0 ||
	    get_secs(c, q, "rollover_interval", 0, 365u * 86400, &cfg->qcd_rollover_interval) < 0)
		return -1;
	return 0;
}

/* RFC 8019 4.1, 6: under_attack = { ... }; */
static int globals_attack(struct ld *c, const config_setting_t *g, struct cfg *cfg)
{
	const config_setting_t *a;

	if (get_group(c, g, "under_attack", &a) < 0)
		return -1;
	if (!a)
		return 0;
	if (check_keys(c, a, attack_keys, "riked.under_attack") < 0 ||
	    get_secs(c, a, "half_open_timeout", 2, 3600, &cfg->attack_half_open_timeout) < 0 ||
	    get_u32(c, a, "dh_per_second", 0, 1000000, &cfg->dh_per_second) < 0)
		return -1;
	return 0;
}

/* RFC 8019 7.1, 7.2: puzzles = { ... }; */
static int globals_puzzles(struct ld *c, const config_setting_t *g, struct cfg *cfg)
{
	const config_setting_t *p;
	uint32_t d = cfg->puzzle_difficulty, ad = cfg->puzzle_auth_difficulty;

	if (get_group(c, g, "puzzles", &p) < 0)
		return -1;
	if (!p)
		return 0;
	if (check_keys(c, p, puzzle_keys, "riked.puzzles") < 0 ||
	    get_bool(c, p, "enabled", &cfg->puzzles) < 0 ||
	    get_u32(c, p, "difficulty", 1, 20, &d) < 0 ||
	    get_u32(c, p, "solve_work", 0, 1u << 24, &cfg->puzzle_solve_work) < 0 ||
	    get_u32(c, p, "auth_difficulty", 0, 20, &ad) < 0)
		return -1;
	cfg->puzzle_difficulty = (uint8_t)d;
	cfg->puzzle_auth_difficulty = (uint8_t)ad;
	return 0;
}

/* RFC 8019 5: auth_failures = { ... }; */
static int globals_authfail(struct ld *c, const config_setting_t *g, struct cfg *cfg)
{
	const config_setting_t *a;

	if (get_group(c, g, "auth_failures", &a) < 0)
		return -1;
	if (!a)
		return 0;
	if (check_keys(c, a, authfail_keys, "riked.auth_failures") < 0 ||
	    get_u32(c, a, "max", 0, 1000, &cfg->auth_fail_max) < 0 ||
	    get_secs(c, a, "window", 1, 86400, &cfg->auth_fail_window) < 0 ||
	    get_secs(c, a, "block", 1, 86400, &cfg->auth_fail_block) < 0)
		return -1;
	return 0;
}

/* ---- metrics = { ... }; and keylog = { ... }; (riked.conf(5) METRICS, KEY EXPORT) ---- */

static const char *const metrics_keys[] = {"listen", "allow_remote", NULL};
static const char *const keylog_keys[] = {"directory", NULL};

/* "ADDR:PORT" or "[ADDR6]:PORT", numeric, port 1..65535. */
static int listen_parse(const char *s, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':'), *h = s;
	size_t hl;
	unsigned long port;

	if (!colon || num_parse(colon + 1, 65535, &port) < 0 || port == 0)
		return -1;
	hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		h = s + 1;
		hl -= 2;
	} else if (memchr(s, ':', hl)) {
		return -1; /* IPv6 needs brackets */
	}
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (addr_parse(host, (uint16_t)port, ss) < 0 || ss->ss_family == AF_UNSPEC)
		return -1;
	return (ss->ss_family == AF_INET6) == (h != s) ? 0 : -1;
}

static bool addr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	return ss->ss_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* The Prometheus endpoint: off unless listen is set; only a loopback
 * address unless allow_remote (the counters tell an attacker how the
 * gateway is doing, and HTTP here has no authentication). */
static int globals_metrics(struct ld *c, const config_setting_t *g, struct cfg *cfg)
{
	const config_setting_t *m;
	const char *listen = NULL;
	bool remote = false;

	if (get_group(c, g, "metrics", &m) < 0)
		return -1;
	if (!m)
		return 0;
	if (check_keys(c, m, metrics_keys, "riked.metrics") < 0 ||
	    get_str(c, m, "listen", &listen) < 0 || get_bool(c, m, "allow_remote", &remote) < 0)
		return -1;
	if (!listen)
		return fail(c, m, "'metrics' needs 'listen' = \"ADDRESS:PORT\"");
	if (listen_parse(listen, &cfg->metrics_addr) < 0)
		return fail(c, member(m, "listen"),
		            "'listen' = \"%s\" is not a numeric ADDRESS:PORT ([ADDRESS]:PORT for "
		            "IPv6, port 1-65535)",
		            listen);
	if (!remote && !addr_is_loopback(&cfg->metrics_addr))
		return fail(c, member(m, "listen"),
		            "'listen' = \"%s\" is not a loopback address: the metrics endpoint has "
		            "no authentication; set 'allow_remote = true' to serve it anyway",
		            listen);
	return 0;
}

/* The debugging key export: off unless a directory is named. */
static int globals_keylog(struct ld *c, const config_setting_t *g, struct cfg *cfg)
{
	const config_setting_t *k;

	if (get_group(c, g, "keylog", &k) < 0)
		return -1;
	if (!k)
		return 0;
	if (check_keys(c, k, keylog_keys, "riked.keylog") < 0)
		return -1;
	if (!member(k, "directory"))
		return fail(c, k, "'keylog' needs 'directory' = \"/absolute/path\"");
	return get_path(c, k, "directory", PATH_MAX - 32, NULL, &cfg->keylog_dir);
}

static int globals_read(struct ld *c, const config_setting_t *root, struct cfg *cfg)
{
	const config_setting_t *g = NULL;
	uint32_t ike = 500, natt = 4500;
	int dp = 0;

	if (get_group(c, root, "riked", &g) < 0)
		return -1;
	if (g &&
	    (check_keys(c, g, riked_keys, "riked") < 0 || globals_log(c, g, cfg) < 0 ||
	     get_enum(c, g, "dataplane", dataplanes, &dp) < 0 ||
	     get_u32(c, g, "ike_port", 1, 65535, &ike) < 0 ||
	     get_u32(c, g, "natt_port", 1, 65535, &natt) < 0 ||
	     get_u32(c, g, "half_open_cookie_threshold", 0, 1000000,
	             &cfg->half_open_cookie_threshold) < 0 ||
	     get_secs(c, g, "half_open_timeout", 1, 3600, &cfg->half_open_timeout) < 0 ||
	     get_u32(c, g, "half_open_max", 1, 10000000, &cfg->half_open_max) < 0 ||
	     get_u32(c, g, "half_open_per_source", 1, 10000000, &cfg->half_open_per_source) < 0 ||
	     get_u32(c, g, "half_open_memory", 64, 64u * 1024 * 1024, &cfg->half_open_memory) < 0 ||
	     get_u32(c, g, "crypto_workers", 0, CFG_CRYPTO_WORKERS_MAX, &cfg->crypto_workers) < 0 ||
	     get_secs(c, g, "dh_reuse", 0, CFG_DH_REUSE_MAX, &cfg->dh_reuse) < 0 ||
	     get_u32(c, g, "mobike_announce_rate", 1, 1000000, &cfg->mobike_announce_rate) < 0 ||
	     get_u32(c, g, "dataplane_workers", 0, CFG_DP_WORKERS_MAX, &cfg->dataplane_workers) <
	         0 ||
	     globals_anycast(c, g, cfg) < 0 || globals_qcd(c, g, cfg) < 0 ||
	     globals_attack(c, g, cfg) < 0 || globals_puzzles(c, g, cfg) < 0 ||
	     globals_authfail(c, g, cfg) < 0 || globals_metrics(c, g, cfg) < 0 ||
	     globals_keylog(c, g, cfg) < 0))
		return -1;
	/* RFC 8019 4.1: under attack the half-open timeout gets shorter, never
	 * longer; the default (5) follows a shorter half_open_timeout. */
	if (cfg->attack_half_open_timeout > cfg->half_open_timeout) {
		const config_setting_t *a = member(g, "under_attack");

		if (!member(a, "half_open_timeout"))
			cfg->attack_half_open_timeout = cfg->half_open_timeout;
		else
			return fail(c, member(a, "half_open_timeout"),
			            "'under_attack.half_open_timeout' (%u) must not exceed "
			            "'half_open_timeout' (%u)",
			            cfg->attack_half_open_timeout, cfg->half_open_timeout);
	}
	if (get_path(c, g, "control_socket", sizeof(((struct sockaddr_un *)0)->sun_path),
	             "/run/riked/riked.sock", &cfg->control_socket) < 0 ||
	    get_path(c, g, "state_dir", PATH_MAX, "/var/lib/riked", &cfg->state_dir) < 0)
		return -1;
	cfg->dataplane = dp ? CFG_DP_XFRM : CFG_DP_USERSPACE;
	/* The kernel's XFRM has no packet threads of ours to set. */
	if (dp && member(g, "dataplane_workers"))
		return fail(c, member(g, "dataplane_workers"),
		            "'dataplane_workers' applies to dataplane = \"userspace\" only");
	cfg->ike_port = (uint16_t)ike;
	cfg->natt_port = (uint16_t)natt;
	/* RFC 3948 / RFC 7296 2.23: NAT-T floats to a different port. The
	 * error points at whichever of the two is written in the file (the
	 * other may be a default, with no line of its own). */
	if (ike == natt && member(g, "natt_port"))
		return fail(c, member(g, "natt_port"),
		            "'natt_port' must differ from 'ike_port' (%u)", ike);
	if (ike == natt)
		return fail(c, member(g, "ike_port"),
		            "'ike_port' must differ from 'natt_port' (default %u)", natt);
	return 0;
}

/* ---- one connection ---- */

static const char *const conn_keys[] = {
    "name",
    "local",
    "remote",
    "remote_port",
    "local_id",
    "remote_id",
    "auth",
    "ike_proposals",
    "esp_proposals",
    "local_ts",
    "remote_ts",
    "mode",
    "ike_lifetime",
    "child_lifetime",
    "rekey_margin",
    "rekey_fuzz",
    "child_life_bytes",
    "dpd_interval",
    "start",
    "keep_up",
    "retransmit",
    "qcd",
    "qcd_bind_address",
    "mobike",
    "mobike_no_nats",
    "redirect",
    "fragmentation",
    "fragment_size",
    "encap",
    NULL,
};
static const char *const psk_keys[] = {"method", "secret", NULL};
static const char *const retransmit_keys[] = {"timeout", "base", "tries", NULL};
static const char *const redirect_keys[] = {"accept", "allow",   "max",   "period", "to",
                                            "select", "weights", "by_id", "grace",  NULL};
static const char *const rule_keys[] = {"id", "to", NULL};
static const char *const anycast_keys[] = {"address", "to", NULL};
static const char *const selects[] = {"round-robin", "weight", NULL};
static const char *const modes[] = {"tunnel", "transport", NULL};
static const char *const starts[] = {"start", "wait", "trap", NULL};

static void conn_defaults(struct cfg_conn *cc)
{
	cc->mode = CFG_MODE_TUNNEL;
	cc->ike_lifetime = 14400;
	cc->child_lifetime = 3600;
	cc->rekey_margin = 540;
	cc->rekey_fuzz = 100;
	cc->dpd_interval = 30;
	cc->start = CFG_START_START;
	cc->retransmit.timeout = 1.0;
	cc->retransmit.base = 1.8;
	cc->retransmit.tries = 5;
	cc->qcd = true;
	cc->mobike = true;
	cc->redirect.accept = true;
	cc->redirect.max = 5;      /* RFC 5685 7: MAX_REDIRECTS */
	cc->redirect.period = 300; /* REDIRECT_LOOP_DETECT_PERIOD */
	cc->redirect.grace = 10;
	cc->fragmentation = true;
	cc->fragment_size = 1280; /* RFC 7383 2.5.1: the IPv6 minimum MTU (RFC 8200 5) */
}

static int conn_name(struct ld *c, const config_setting_t *g, struct cfg_conn *cc)
{
	const char *name = NULL;

	if (get_str(c, g, "name", &name) < 0)
		return -1;
	if (!name)
		return fail(c, g, "connection without 'name'");
	if (!name[0] || strlen(name) >= CFG_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
	        strlen(name))
		return fail(c, member(g, "name"),
		            "bad connection name \"%s\" (1-%d letters, digits, '.', '_', '-')",
		            name, CFG_NAME_MAX - 1);
	snprintf(cc->name, sizeof(cc->name), "%s", name);
	c->conn = cc->name;
	return 0;
}

static int conn_addrs(struct ld *c, const config_setting_t *g, struct cfg_conn *cc)
{
	const char *local = "%any", *remote = NULL;
	uint32_t port = 500;

	if (get_str(c, g, "local", &local) < 0 || get_str(c, g, "remote", &remote) < 0 ||
	    get_u32(c, g, "remote_port", 1, 65535, &port) < 0)
		return -1;
	if (!remote)
		return fail(c, g, "missing 'remote' (an address, or \"%%any\" for a responder)");
	if (addr_parse(local, 0, &cc->local) < 0)
		return fail(c, member(g, "local"),
		            "bad address \"%s\" for 'local' (IPv4, IPv6 or %%any)", local);
	if (addr_parse(remote, (uint16_t)port, &cc->remote) < 0)
		return fail(c, member(g, "remote"),
		            "bad address \"%s\" for 'remote' (IPv4, IPv6 or %%any)", remote);
	if (cc->local.ss_family != AF_UNSPEC && cc->remote.ss_family != AF_UNSPEC &&
	    cc->local.ss_family != cc->remote.ss_family)
		return fail(c, member(g, "remote"),
		            "'local' and 'remote' are of different families");
	return 0;
}

/* An address as an ID (RFC 7296 3.5 ID_IPV4_ADDR / ID_IPV6_ADDR). */
static void id_from_addr(const struct sockaddr_storage *ss, struct cfg_id *id)
{
	char err[8], text[INET6_ADDRSTRLEN];

	cfg_addr_format(ss, text, sizeof(text));
	if (cfg_id_parse(text, id, err, sizeof(err)) < 0)
		memset(id, 0, sizeof(*id));
}

static int conn_id(struct ld *c, const config_setting_t *g, const char *key,
                   const struct sockaddr_storage *addr, struct cfg_id *id)
{
	const char *v = NULL;
	char why[200];

	if (get_str(c, g, key, &v) < 0)
		return -1;
	if (!v && addr->ss_family != AF_UNSPEC) {
		id_from_addr(addr, id);
		return 0;
	}
	/* The local ID of a %any address is the address the IKE SA ends up
	 * using (type 0 here); a remote %any peer must say who it may be. */
	if (!v && !strcmp(key, "local_id"))
		return 0;
	if (!v)
		return fail(c, g, "'%s' is required when the address is %%any", key);
	if (cfg_id_parse(v, id, why, sizeof(why)) < 0)
		return fail(c, member(g, key), "'%s': %s", key, why);
	if (id->type == 0 && strcmp(key, "remote_id"))
		return fail(c, member(g, key), "'%s' cannot be %%any", key);
	return 0;
}

/* A pre-shared key in a file that group or others may read is worth a
 * warning (the first such file is kept for the caller to report). */
static int note_exposed_secret(struct ld *c, const config_setting_t *s)
{
	const char *file = s ? config_setting_source_file(s) : NULL;
	struct stat st;

	if (!file || c->cfg->secrets_exposed || stat(file, &st) < 0 ||
	    !(st.st_mode & (S_IRGRP | S_IROTH)))
		return 0;
	c->cfg->secrets_exposed = strdup(file);
	if (!c->cfg->secrets_exposed)
		return fail(c, s, "out of memory");
	c->cfg->secrets_mode = (unsigned)(st.st_mode & 07777);
	return 0;
}

static int auth_psk(struct ld *c, const config_setting_t *a, struct cfg_auth *au)
{
	const char *secret = NULL;
	uint8_t buf[CFG_PSK_MAX];
	size_t n = 0;
	int rc = 0;

	if (check_keys(c, a, psk_keys, "auth (method psk)") < 0 ||
	    get_str(c, a, "secret", &secret) < 0)
		return -1;
	if (!secret || !secret[0])
		return fail(c, a, "auth method psk needs a non-empty 'secret'");
	if (!strncmp(secret, "0x", 2))
		rc = hex_decode(secret + 2, buf, sizeof(buf), &n);
	else if ((n = strlen(secret)) <= sizeof(buf))
		memcpy(buf, secret, n);
	else
		rc = -1;
	/* Never echo the secret in the message. */
	if (rc < 0)
		rc = fail(c, member(a, "secret"),
		          "'secret' is not valid (0xHEX or up to %d characters)", CFG_PSK_MAX);
	else if (!(au->psk = malloc(n)))
		rc = fail(c, a, "out of memory");
	else
		memcpy(au->psk, buf, au->psk_len = n);
	explicit_bzero(buf, sizeof(buf));
	if (rc == 0)
		rc = note_exposed_secret(c, member(a, "secret"));
	return rc;
}

static int conn_auth(struct ld *c, const config_setting_t *g, struct cfg_auth *au)
{
	const config_setting_t *a;
	const char *method = NULL;

	if (get_group(c, g, "auth", &a) < 0)
		return -1;
	if (!a)
		return fail(c, g, "missing 'auth = { method = \"psk\"; secret = \"...\"; }'");
	if (get_str(c, a, "method", &method) < 0)
		return -1;
	if (!method)
		return fail(c, a, "auth without 'method'");
	if (!strcmp(method, "psk")) {
		au->method = CFG_AUTH_PSK;
		return auth_psk(c, a, au);
	}
	/* Certificates (RFC 7296 3.6-3.8) and EAP (2.16) are not implemented:
	 * refused here rather than accepted and left hanging in IKE_AUTH. */
	return fail(c, member(a, "method"),
	            "auth method \"%s\" is not supported: riked authenticates with pre-shared "
	            "keys only (method = \"psk\")",
	            method);
}

static const config_setting_t *elem_or(const config_setting_t *list, int i)
{
	const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);

	return e && config_setting_source_line(e) ? e : list;
}

static int conn_proposals(struct ld *c, const config_setting_t *g, const char *key,
                          uint8_t protocol, struct proposal *out, size_t *n)
{
	const config_setting_t *l;
	char why[200];

	if (get_str_list(c, g, key, CFG_MAX_PROPOSALS, &l) < 0)
		return -1;
	if (!l) {
		cfg_default_proposals(protocol, out, n);
		return 0;
	}
	*n = 0;
	for (int i = 0; i < config_setting_length(l); i++) {
		const char *s = config_setting_get_string_elem(l, i);

		if (proposal_parse(s, protocol, &out[i], why, sizeof(why)) < 0)
			return fail(c, elem_or(l, i), "%s[%d]: %s", key, i, why);
		*n = (size_t)i + 1;
	}
	return 0;
}

static int conn_ts(struct ld *c, const config_setting_t *g, const char *key, struct cfg_ts *out,
                   size_t *n)
{
	const config_setting_t *l;
	char why[200];

	*n = 0;
	if (get_str_list(c, g, key, CFG_MAX_TS, &l) < 0)
		return -1;
	for (int i = 0; l && i < config_setting_length(l); i++) {
		if (cfg_ts_parse(config_setting_get_string_elem(l, i), &out[i], why, sizeof(why)) <
		    0)
			return fail(c, elem_or(l, i), "%s[%d]: %s", key, i, why);
		*n = (size_t)i + 1;
	}
	return 0;
}

/* The line of whichever of the settings is present, else the group's. */
static const config_setting_t *either(const config_setting_t *g, const char *a, const char *b)
{
	return member(g, a) ? member(g, a) : member(g, b) ? member(g, b) : g;
}

/* RFC 7296 2.8: rekeying starts rekey_margin (+ up to rekey_fuzz percent of
 * it) before the lifetime ends, so the worst case must still be positive. */
static int conn_times(struct ld *c, const config_setting_t *g, struct cfg_conn *cc)
{
	uint64_t worst;

	if (get_secs(c, g, "ike_lifetime", 60, 30u * 86400, &cc->ike_lifetime) < 0 ||
	    get_secs(c, g, "child_lifetime", 60, 30u * 86400, &cc->child_lifetime) < 0 ||
	    get_secs(c, g, "rekey_margin", 1, 30u * 86400, &cc->rekey_margin) < 0 ||
	    get_u32(c, g, "rekey_fuzz", 0, 200, &cc->rekey_fuzz) < 0 ||
	    get_u64(c, g, "child_life_bytes", 0, UINT64_MAX >> 1, &cc->child_life_bytes) < 0 ||
	    get_secs(c, g, "dpd_interval", 0, 86400, &cc->dpd_interval) < 0)
		return -1;
	worst = (uint64_t)cc->rekey_margin * (100 + cc->rekey_fuzz) / 100;
	if (worst >= cc->child_lifetime)
		return fail(c, either(g, "rekey_margin", "child_lifetime"),
		            "rekey_margin %u plus rekey_fuzz %u%% (%llu s) must be less than "
		            "child_lifetime %u",
		            cc->rekey_margin, cc->rekey_fuzz, (unsigned long long)worst,
		            cc->child_lifetime);
	if (worst >= cc->ike_lifetime)
		return fail(c, either(g, "rekey_margin", "ike_lifetime"),
		            "rekey_margin %u plus rekey_fuzz %u%% (%llu s) must be less than "
		            "ike_lifetime %u",
		            cc->rekey_margin, cc->rekey_fuzz, (unsigned long long)worst,
		            cc->ike_lifetime);
	return 0;
}

/* retransmit.timeout: seconds as a number (0.5), or a duration ("500ms"). */
static int get_retransmit_timeout(struct ld *c, const config_setting_t *r, double *out)
{
	uint64_t ms = (uint64_t)(*out * 1000 + 0.5);

	if (get_duration_ms(c, r, "timeout", 1000, 50, 60000, &ms) < 0)
		return -1;
	*out = (double)ms / 1000;
	return 0;
}

static int conn_retransmit(struct ld *c, const config_setting_t *g, struct cfg_conn *cc)
{
	const config_setting_t *r;

	if (get_group(c, g, "retransmit", &r) < 0)
		return -1;
	if (!r)
		return 0;
	if (check_keys(c, r, retransmit_keys, "retransmit") < 0 ||
	    get_retransmit_timeout(c, r, &cc->retransmit.timeout) < 0 ||
	    get_double(c, r, "base", 1.0, 4.0, &cc->retransmit.base) < 0 ||
	    get_u32(c, r, "tries", 1, 20, &cc->retransmit.tries) < 0)
		return -1;
	return 0;
}

/* A list of gateways or allow entries into fixed slots; valid() checks each. */
static int redirect_list(struct ld *c, const config_setting_t *r, const char *key,
                         char (*out)[CFG_GW_MAX], size_t *n, bool (*valid)(const char *),
                         const char *what)
{
	const config_setting_t *l;

	if (get_str_list(c, r, key, CFG_REDIRECT_MAX, &l) < 0)
		return -1;
	for (int i = 0; l && i < config_setting_length(l); i++) {
		const char *v = config_setting_get_string_elem(l, i);

		if (strlen(v) >= CFG_GW_MAX || !valid(v))
			return fail(c, l, "'%s' entry \"%s\" is not %s", key, v, what);
		snprintf(out[(*n)++], CFG_GW_MAX, "%s", v);
	}
	return 0;
}

static bool gw_valid(const char *s)
{
	return conf_gw_kind(s) != 0;
}

/* RFC 5685 3, 6: redirect = { by_id = ( { id = "PATTERN"; to = "GW"; }, ... ); } */
static int redirect_rules(struct ld *c, const config_setting_t *r, struct cfg_redirect *rd)
{
	const config_setting_t *l = member(r, "by_id");

	if (!l)
		return 0;
	if (config_setting_type(l) != CONFIG_TYPE_LIST || config_setting_length(l) == 0 ||
	    config_setting_length(l) > CFG_REDIRECT_MAX)
		return fail(c, l,
		            "'by_id' must be a list of 1 to %d groups ( { id = ...; to = ...; } )",
		            CFG_REDIRECT_MAX);
	for (int i = 0; i < config_setting_length(l); i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		const char *id = NULL, *to = NULL;

		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			return fail(c, e, "'by_id' entries must be groups { id = ...; to = ...; }");
		if (check_keys(c, e, rule_keys, "redirect.by_id") < 0 ||
		    get_str(c, e, "id", &id) < 0 || get_str(c, e, "to", &to) < 0)
			return -1;
		if (!id || !*id || strlen(id) >= CFG_GW_MAX)
			return fail(c, e, "'by_id' entries need an 'id' pattern");
		if (!to || strlen(to) >= CFG_GW_MAX || !gw_valid(to))
			return fail(c, e, "'by_id' entry 'to' must be an address or FQDN");
		snprintf(rd->by_id[rd->n_by_id].id, CFG_GW_MAX, "%s", id);
		snprintf(rd->by_id[rd->n_by_id++].to, CFG_GW_MAX, "%s", to);
	}
	return 0;
}

static int redirect_weights(struct ld *c, const config_setting_t *r, struct cfg_redirect *rd)
{
	const config_setting_t *l = member(r, "weights");
	int sel = 0;

	for (size_t i = 0; i < CFG_REDIRECT_MAX; i++)
		rd->weight[i] = 1;
	if (get_enum(c, r, "select", selects, &sel) < 0)
		return -1;
	rd->select = (enum cfg_select)sel;
	if (!l)
		return 0;
	if (rd->select != CFG_SELECT_WEIGHT)
		return fail(c, l, "'weights' needs select = \"weight\"");
	if ((config_setting_type(l) != CONFIG_TYPE_ARRAY &&
	     config_setting_type(l) != CONFIG_TYPE_LIST) ||
	    (size_t)config_setting_length(l) != rd->n_to)
		return fail(c, l, "'weights' must have one integer per entry of 'to'");
	for (int i = 0; i < config_setting_length(l); i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);

		if (config_setting_type(e) != CONFIG_TYPE_INT || config_setting_get_int(e) < 1 ||
		    config_setting_get_int(e) > 1000)
			return fail(c, l, "'weights' entries must be integers 1..1000");
		rd->weight[i] = (uint32_t)config_setting_get_int(e);
	}
	return 0;
}

static int conn_redirect(struct ld *c, const config_setting_t *g, struct cfg_conn *cc)
{
	struct cfg_redirect *rd = &cc->redirect;
	const config_setting_t *r;

	if (get_group(c, g, "redirect", &r) < 0)
		return -1;
	if (!r)
		return 0;
	if (check_keys(c, r, redirect_keys, "redirect") < 0 ||
	    get_bool(c, r, "accept", &rd->accept) < 0 ||
	    get_u32(c, r, "max", 1, 100, &rd->max) < 0 ||
	    get_secs(c, r, "period", 1, 86400, &rd->period) < 0 ||
	    get_secs(c, r, "grace", 0, 3600, &rd->grace) < 0 ||
	    /* RFC 5685 9.2: a new gateway is an IPv4 or IPv6 address or an FQDN. */
	    redirect_list(c, r, "to", rd->to, &rd->n_to, gw_valid, "an address or FQDN") < 0 ||
	    redirect_list(c, r, "allow", rd->allow, &rd->n_allow, conf_allow_valid,
	                  "an address, ADDRESS/LENGTH or FQDN pattern") < 0 ||
	    redirect_weights(c, r, rd) < 0 || redirect_rules(c, r, rd) < 0)
		return -1;
	return 0;
}

/* riked.redirect_anycast = ( { address = "ANYCAST"; to = "UNICAST"; } ) (RFC 5685 4). */
static int globals_anycast(struct ld *c, const config_setting_t *g, struct cfg *cfg)
{
	const config_setting_t *l = member(g, "redirect_anycast");

	if (!l)
		return 0;
	if (config_setting_type(l) != CONFIG_TYPE_LIST || config_setting_length(l) == 0 ||
	    config_setting_length(l) > CFG_REDIRECT_MAX)
		return fail(c, l, "'redirect_anycast' must be a list of 1 to %d groups",
		            CFG_REDIRECT_MAX);
	for (int i = 0; i < config_setting_length(l); i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		struct cfg_anycast *a = &cfg->anycast[cfg->n_anycast];
		const char *addr = NULL, *to = NULL;

		if (config_setting_type(e) != CONFIG_TYPE_GROUP ||
		    check_keys(c, e, anycast_keys, "redirect_anycast") < 0 ||
		    get_str(c, e, "address", &addr) < 0 || get_str(c, e, "to", &to) < 0)
			return config_setting_type(e) != CONFIG_TYPE_GROUP
			           ? fail(c, e, "'redirect_anycast' entries must be groups")
			           : -1;
		if (!addr || addr_parse(addr, 0, &a->address) < 0 ||
		    a->address.ss_family == AF_UNSPEC)
			return fail(c, e, "'redirect_anycast' entries need an 'address'");
		if (!to || strlen(to) >= CFG_GW_MAX ||
		    (conf_gw_kind(to) != IKEV2_GW_ID_IPV4 && conf_gw_kind(to) != IKEV2_GW_ID_IPV6))
			return fail(c, e, "'redirect_anycast' 'to' must be a unicast address");
		snprintf(a->to, CFG_GW_MAX, "%s", to);
		cfg->n_anycast++;
	}
	return 0;
}

static int conn_flags(struct ld *c, const config_setting_t *g, struct cfg_conn *cc)
{
	int mode = 0, start = cc->remote.ss_family == AF_UNSPEC ? CFG_START_WAIT : CFG_START_START;

	if (get_enum(c, g, "mode", modes, &mode) < 0 ||
	    get_enum(c, g, "start", starts, &start) < 0 ||
	    get_bool(c, g, "keep_up", &cc->keep_up) < 0 || get_bool(c, g, "qcd", &cc->qcd) < 0 ||
	    get_bool(c, g, "qcd_bind_address", &cc->qcd_bind_address) < 0 ||
	    get_bool(c, g, "mobike", &cc->mobike) < 0 ||
	    get_bool(c, g, "mobike_no_nats", &cc->mobike_no_nats) < 0 ||
	    get_bool(c, g, "fragmentation", &cc->fragmentation) < 0 ||
	    get_u32(c, g, "fragment_size", 512, 65535, &cc->fragment_size) < 0 ||
	    get_bool(c, g, "encap", &cc->encap) < 0 || conn_retransmit(c, g, cc) < 0 ||
	    conn_redirect(c, g, cc) < 0)
		return -1;
	cc->mode = (enum cfg_mode)mode;
	cc->start = (enum cfg_start)start;
	if (cc->start != CFG_START_WAIT && cc->remote.ss_family == AF_UNSPEC)
		return fail(c, either(g, "start", "remote"),
		            "start = \"%s\" needs a 'remote' address, not %%any", starts[start]);
	if (cc->keep_up && cc->remote.ss_family == AF_UNSPEC)
		return fail(c, member(g, "keep_up"), "keep_up needs a 'remote' address, not %%any");
	/* keep_up re-initiates what we initiated: with "wait" it would do nothing. */
	if (cc->keep_up && cc->start != CFG_START_START)
		return fail(c, member(g, "keep_up"), "keep_up needs start = \"start\"");
	if (cc->qcd_bind_address && !cc->qcd)
		return fail(c, member(g, "qcd_bind_address"), "qcd_bind_address needs qcd = true");
	return 0;
}

static int conn_read(struct ld *c, const config_setting_t *g, struct cfg_conn *cc)
{
	conn_defaults(cc);
	cc->line = config_setting_source_line(g);
	c->conn = NULL;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return fail(c, g, "each connection must be a group { ... }");
	if (conn_name(c, g, cc) < 0 || check_keys(c, g, conn_keys, "connection") < 0 ||
	    conn_addrs(c, g, cc) < 0 || conn_id(c, g, "local_id", &cc->local, &cc->local_id) < 0 ||
	    conn_id(c, g, "remote_id", &cc->remote, &cc->remote_id) < 0 ||
	    conn_auth(c, g, &cc->auth) < 0 ||
	    conn_proposals(c, g, "ike_proposals", IKEV2_PROTO_IKE, cc->ike_proposals,
	                   &cc->n_ike_proposals) < 0 ||
	    conn_proposals(c, g, "esp_proposals", IKEV2_PROTO_ESP, cc->esp_proposals,
	                   &cc->n_esp_proposals) < 0 ||
	    conn_ts(c, g, "local_ts", cc->local_ts, &cc->n_local_ts) < 0 ||
	    conn_ts(c, g, "remote_ts", cc->remote_ts, &cc->n_remote_ts) < 0 ||
	    conn_times(c, g, cc) < 0 || conn_flags(c, g, cc) < 0)
		return -1;
	c->conn = NULL;
	return 0;
}

/* ---- the file ---- */

static const char *const top_keys[] = {"riked", "connections", NULL};

static int conns_read(struct ld *c, const config_setting_t *root, struct cfg *cfg)
{
	const config_setting_t *l = member(root, "connections");
	int n;

	if (!l)
		return 0;
	if (config_setting_type(l) != CONFIG_TYPE_LIST)
		return fail(c, l, "'connections' must be a list ( { ... }, { ... } )");
	n = config_setting_length(l);
	if (n > CFG_MAX_CONNS)
		return fail(c, l, "more than %d connections", CFG_MAX_CONNS);
	if (n == 0)
		return 0;
	cfg->conns = calloc((size_t)n, sizeof(*cfg->conns));
	if (!cfg->conns)
		return fail(c, l, "out of memory");
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		const struct cfg_conn *dup;

		cfg->nconns = (size_t)i + 1; /* so cfg_free sees a half-read one */
		if (conn_read(c, g, &cfg->conns[i]) < 0)
			return -1;
		cfg->nconns = (size_t)i;
		dup = conf_conn_lookup(cfg, cfg->conns[i].name);
		cfg->nconns = (size_t)i + 1;
		c->conn = cfg->conns[i].name;
		if (dup)
			return fail(c, member(g, "name"),
			            "duplicate connection name \"%s\" (first at line %u)",
			            dup->name, dup->line);
		c->conn = NULL;
	}
	return 0;
}

static int cfg_read(struct ld *c, config_t *lc, struct cfg *cfg)
{
	const config_setting_t *root = config_root_setting(lc);

	globals_default(cfg);
	if (check_keys(c, root, top_keys, "the top level") < 0 || globals_read(c, root, cfg) < 0 ||
	    conns_read(c, root, cfg) < 0)
		return -1;
	return 0;
}

/* libconfig keeps no errno for a file it could not read; ask again. A
 * directory opens fine and fails only on read(), so name that case. */
static const char *io_reason(const char *name)
{
	struct stat st;

	if (access(name, R_OK) < 0)
		return strerror(errno);
	if (stat(name, &st) == 0 && S_ISDIR(st.st_mode))
		return strerror(EISDIR);
	return "I/O error";
}

/* libconfig reports a failed @include as "cannot open include file" at
 * the directive's line without naming the file: read that line again and
 * say which file, resolved as libconfig resolves it, and why. Returns -1
 * when the error is another one (or the line cannot be read back). */
static int include_failed(const config_t *lc, char *err, size_t errlen)
{
	const char *file = config_error_file(lc), *dir = config_get_include_dir(lc);
	const char *text = config_error_text(lc);
	char line[PATH_MAX + 64], inc[PATH_MAX], path[2 * PATH_MAX];
	int n = config_error_line(lc);
	FILE *f;

	if (!file || !text || strcmp(text, "cannot open include file") || n <= 0)
		return -1;
	f = fopen(file, "r");
	if (!f)
		return -1;
	while (n-- > 0 && fgets(line, sizeof(line), f))
		;
	fclose(f);
	if (n >= 0 || sscanf(line, " @include \"%4095[^\"]\"", inc) != 1)
		return -1;
	if (dir && inc[0] != '/')
		snprintf(path, sizeof(path), "%s/%s", dir, inc);
	else
		snprintf(path, sizeof(path), "%s", inc);
	snprintf(err, errlen, "%s:%d: cannot include %s: %s", file, config_error_line(lc), path,
	         access(path, R_OK) < 0 ? strerror(errno) : io_reason(path));
	return 0;
}

static int load(config_t *lc, int read_rc, const char *name, struct cfg *cfg, char *err,
                size_t errlen)
{
	struct ld c = {.name = name, .err = err, .errlen = errlen, .cfg = cfg};
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	err[0] = '\0';
	if (read_rc != CONFIG_TRUE) {
		if (config_error_type(lc) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s: cannot read: %s", name, io_reason(name));
		else if (include_failed(lc, err, errlen) < 0)
			snprintf(err, errlen, "%s:%d: %s",
			         config_error_file(lc) ? config_error_file(lc) : name,
			         config_error_line(lc), config_error_text(lc));
		goto out;
	}
	cfg->path = strdup(name);
	if (!cfg->path)
		snprintf(err, errlen, "%s: out of memory", name);
	else
		rc = cfg_read(&c, lc, cfg);
out:
	if (rc < 0)
		cfg_free(cfg);
	config_destroy(lc);
	return rc;
}

int cfg_load(const char *path, struct cfg *cfg, char *err, size_t errlen)
{
	config_t lc;
	char dir[PATH_MAX];
	char *slash;

	config_init(&lc);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		config_set_include_dir(&lc, dir[0] ? dir : "/");
	}
	return load(&lc, config_read_file(&lc, path), path, cfg, err, errlen);
}

int cfg_load_string(const char *text, const char *name, struct cfg *cfg, char *err, size_t errlen)
{
	config_t lc;

	config_init(&lc);
	return load(&lc, config_read_string(&lc, text), name, cfg, err, errlen);
}

static void conn_free(struct cfg_conn *cc)
{
	if (cc->auth.psk) {
		explicit_bzero(cc->auth.psk, cc->auth.psk_len);
		free(cc->auth.psk);
	}
	explicit_bzero(cc, sizeof(*cc));
}

void cfg_free(struct cfg *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->nconns; i++)
		conn_free(&cfg->conns[i]);
	free(cfg->conns);
	free(cfg->path);
	free(cfg->control_socket);
	free(cfg->state_dir);
	free(cfg->secrets_exposed);
	free(cfg->keylog_dir);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- reload ---- */

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool id_eq(const struct cfg_id *a, const struct cfg_id *b)
{
	return a->type == b->type && a->len == b->len && !memcmp(a->data, b->data, a->len);
}

static bool auth_eq(const struct cfg_auth *a, const struct cfg_auth *b)
{
	return a->method == b->method && a->psk_len == b->psk_len &&
	       (a->psk_len == 0 || !memcmp(a->psk, b->psk, a->psk_len));
}

static bool props_eq(const struct proposal *a, size_t na, const struct proposal *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!proposal_equal(&a[i], &b[i]))
			return false;
	return true;
}

bool cfg_conn_equal(const struct cfg_conn *a, const struct cfg_conn *b)
{
	/* Addresses and selectors are zero-filled before being set, so the
	 * padding compares equal too. */
	return !strcmp(a->name, b->name) && !memcmp(&a->local, &b->local, sizeof(a->local)) &&
	       !memcmp(&a->remote, &b->remote, sizeof(a->remote)) &&
	       id_eq(&a->local_id, &b->local_id) && id_eq(&a->remote_id, &b->remote_id) &&
	       auth_eq(&a->auth, &b->auth) &&
	       props_eq(a->ike_proposals, a->n_ike_proposals, b->ike_proposals,
	                b->n_ike_proposals) &&
	       props_eq(a->esp_proposals, a->n_esp_proposals, b->esp_proposals,
	                b->n_esp_proposals) &&
	       a->n_local_ts == b->n_local_ts && a->n_remote_ts == b->n_remote_ts &&
	       !memcmp(a->local_ts, b->local_ts, a->n_local_ts * sizeof(a->local_ts[0])) &&
	       !memcmp(a->remote_ts, b->remote_ts, a->n_remote_ts * sizeof(a->remote_ts[0])) &&
	       a->mode == b->mode && a->ike_lifetime == b->ike_lifetime &&
	       a->child_lifetime == b->child_lifetime && a->rekey_margin == b->rekey_margin &&
	       a->rekey_fuzz == b->rekey_fuzz && a->child_life_bytes == b->child_life_bytes &&
	       a->dpd_interval == b->dpd_interval && a->start == b->start &&
	       a->keep_up == b->keep_up && a->retransmit.timeout == b->retransmit.timeout &&
	       a->retransmit.base == b->retransmit.base &&
	       a->retransmit.tries == b->retransmit.tries && a->qcd == b->qcd &&
	       a->qcd_bind_address == b->qcd_bind_address && a->mobike == b->mobike &&
	       a->mobike_no_nats == b->mobike_no_nats &&
	       !memcmp(&a->redirect, &b->redirect, sizeof(a->redirect)) &&
	       a->fragmentation == b->fragmentation && a->fragment_size == b->fragment_size &&
	       a->encap == b->encap;
}

size_t cfg_diff(const struct cfg *old_cfg, const struct cfg *new_cfg, cfg_diff_cb cb, void *ctx)
{
	size_t n = 0;

	for (size_t i = 0; i < old_cfg->nconns; i++) {
		if (!conf_conn_lookup(new_cfg, old_cfg->conns[i].name)) {
			n++;
			if (cb)
				cb(ctx, CFG_CONN_REMOVED, &old_cfg->conns[i], NULL);
		}
	}
	for (size_t i = 0; i < new_cfg->nconns; i++) {
		const struct cfg_conn *nc = &new_cfg->conns[i];
		const struct cfg_conn *oc = conf_conn_lookup(old_cfg, nc->name);

		if (oc && cfg_conn_equal(oc, nc))
			continue;
		n++;
		if (cb)
			cb(ctx, oc ? CFG_CONN_CHANGED : CFG_CONN_ADDED, oc, nc);
	}
	return n;
}

bool cfg_needs_restart(const struct cfg *a, const struct cfg *b)
{
	return a->ike_port != b->ike_port || a->natt_port != b->natt_port ||
	       a->dataplane != b->dataplane || a->dataplane_workers != b->dataplane_workers ||
	       !str_eq(a->control_socket, b->control_socket) ||
	       !str_eq(a->state_dir, b->state_dir) || !str_eq(a->keylog_dir, b->keylog_dir) ||
	       memcmp(&a->metrics_addr, &b->metrics_addr, sizeof(a->metrics_addr));
}

const char *cfg_mode_name(enum cfg_mode m)
{
	return m == CFG_MODE_TRANSPORT ? "transport" : "tunnel";
}

const char *cfg_start_name(enum cfg_start s)
{
	return s == CFG_START_WAIT ? "wait" : s == CFG_START_TRAP ? "trap" : "start";
}

/* Settings that a running SA picks up from its connection when next used
 * (lifetimes at the next rekey, DPD at the next check, retransmission at
 * the next send, keep_up and start at the next decision); any other change
 * needs a new SA. */
bool cfg_conn_in_place(const struct cfg_conn *a, const struct cfg_conn *b)
{
	struct cfg_conn t = *b; /* a shallow copy: only compared, never freed */

	t.ike_lifetime = a->ike_lifetime;
	t.child_lifetime = a->child_lifetime;
	t.rekey_margin = a->rekey_margin;
	t.rekey_fuzz = a->rekey_fuzz;
	t.child_life_bytes = a->child_life_bytes;
	t.dpd_interval = a->dpd_interval;
	t.retransmit = a->retransmit;
	t.keep_up = a->keep_up;
	t.start = a->start;
	return cfg_conn_equal(a, &t);
}

void cfg_summary(const struct cfg *cfg, char *buf, size_t len)
{
	size_t start = 0, wait = 0, qcd = 0, mobike = 0, redirect = 0, frag = 0;

	for (size_t i = 0; i < cfg->nconns; i++) {
		const struct cfg_conn *c = &cfg->conns[i];

		start += c->start == CFG_START_START;
		wait += c->start != CFG_START_START;
		qcd += c->qcd && cfg->qcd_enabled;
		mobike += c->mobike;
		redirect += c->redirect.accept || c->redirect.n_to || c->redirect.n_by_id;
		frag += c->fragmentation;
	}
	snprintf(buf, len,
	         "%s: %zu connection(s) (%zu start, %zu wait); dataplane %s; extensions: qcd %zu, "
	         "mobike %zu, redirect %zu, fragmentation %zu; puzzles %s",
	         cfg->path ? cfg->path : "configuration", cfg->nconns, start, wait,
	         cfg->dataplane == CFG_DP_XFRM ? "xfrm" : "userspace", qcd, mobike, redirect, frag,
	         cfg->puzzles ? "on" : "off");
}

/* ---- the configuration as loaded, for rikectl config (secrets masked) ---- */

static void js_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

static void js_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static void js_bool(struct json_object *o, const char *k, bool v)
{
	json_object_object_add(o, k, json_object_new_boolean(v));
}

static struct json_object *js_ts(const struct cfg_ts *ts, size_t n)
{
	struct json_object *a = json_object_new_array();
	char buf[128];

	for (size_t i = 0; i < n; i++) {
		cfg_ts_format(&ts[i], buf, sizeof(buf));
		json_object_array_add(a, json_object_new_string(buf));
	}
	return a;
}

static struct json_object *js_props(const struct proposal *p, size_t n)
{
	struct json_object *a = json_object_new_array();
	char buf[512];

	for (size_t i = 0; i < n; i++)
		if (proposal_format(&p[i], buf, sizeof(buf)) == 0)
			json_object_array_add(a, json_object_new_string(buf));
	return a;
}

static struct json_object *js_conn(const struct cfg *cfg, const struct cfg_conn *c)
{
	struct json_object *o = json_object_new_object(), *au = json_object_new_object(),
	                   *rt = json_object_new_object();
	char buf[INET6_ADDRSTRLEN + 8];

	js_str(o, "name", c->name);
	js_u64(o, "line", c->line);
	cfg_addr_format(&c->local, buf, sizeof(buf));
	js_str(o, "local", buf);
	cfg_addr_format(&c->remote, buf, sizeof(buf));
	js_str(o, "remote", buf);
	js_u64(o, "remote_port",
	       c->remote.ss_family == AF_INET
	           ? ntohs(((const struct sockaddr_in *)&c->remote)->sin_port)
	       : c->remote.ss_family == AF_INET6
	           ? ntohs(((const struct sockaddr_in6 *)&c->remote)->sin6_port)
	           : 0);
	js_str(o, "local_id", c->local_id.type ? c->local_id.text : "%any");
	js_str(o, "remote_id", c->remote_id.type ? c->remote_id.text : "%any");
	js_str(au, "method", "psk");
	js_str(au, "secret", "<hidden>"); /* never shown, not even its length */
	json_object_object_add(o, "auth", au);
	json_object_object_add(o, "ike", js_props(c->ike_proposals, c->n_ike_proposals));
	json_object_object_add(o, "esp", js_props(c->esp_proposals, c->n_esp_proposals));
	json_object_object_add(o, "local_ts", js_ts(c->local_ts, c->n_local_ts));
	json_object_object_add(o, "remote_ts", js_ts(c->remote_ts, c->n_remote_ts));
	js_str(o, "mode", cfg_mode_name(c->mode));
	js_u64(o, "ike_lifetime", c->ike_lifetime);
	js_u64(o, "child_lifetime", c->child_lifetime);
	js_u64(o, "rekey_margin", c->rekey_margin);
	js_u64(o, "rekey_fuzz", c->rekey_fuzz);
	js_u64(o, "child_life_bytes", c->child_life_bytes);
	js_u64(o, "dpd_interval", c->dpd_interval);
	js_str(o, "start", cfg_start_name(c->start));
	js_bool(o, "keep_up", c->keep_up);
	json_object_object_add(rt, "timeout", json_object_new_double(c->retransmit.timeout));
	json_object_object_add(rt, "base", json_object_new_double(c->retransmit.base));
	js_u64(rt, "tries", c->retransmit.tries);
	json_object_object_add(o, "retransmit", rt);
	js_bool(o, "qcd", c->qcd && cfg->qcd_enabled);
	js_bool(o, "mobike", c->mobike);
	js_bool(o, "redirect_accept", c->redirect.accept);
	js_u64(o, "redirect_targets", c->redirect.n_to);
	js_bool(o, "fragmentation", c->fragmentation);
	js_u64(o, "fragment_size", c->fragment_size);
	js_bool(o, "encap", c->encap);
	return o;
}

struct json_object *cfg_to_json(const struct cfg *cfg)
{
	struct json_object *o = json_object_new_object(), *g = json_object_new_object(),
	                   *conns = json_object_new_array();

	js_str(o, "file", cfg->path);
	js_str(g, "log_target", cfg->log_target == LOG_TARGET_SYSLOG ? "syslog" : "stderr");
	js_str(g, "log_level", log_level_name(cfg->log_level));
	js_str(g, "control_socket", cfg->control_socket);
	js_str(g, "state_dir", cfg->state_dir);
	js_str(g, "dataplane", cfg->dataplane == CFG_DP_XFRM ? "xfrm" : "userspace");
	js_u64(g, "ike_port", cfg->ike_port);
	js_u64(g, "natt_port", cfg->natt_port);
	js_u64(g, "half_open_cookie_threshold", cfg->half_open_cookie_threshold);
	js_u64(g, "half_open_timeout", cfg->half_open_timeout);
	js_u64(g, "half_open_max", cfg->half_open_max);
	js_u64(g, "half_open_per_source", cfg->half_open_per_source);
	js_u64(g, "half_open_memory", cfg->half_open_memory);
	js_u64(g, "attack_half_open_timeout", cfg->attack_half_open_timeout);
	js_u64(g, "dh_per_second", cfg->dh_per_second);
	js_u64(g, "dh_reuse", cfg->dh_reuse);
	js_u64(g, "mobike_announce_rate", cfg->mobike_announce_rate);
	js_bool(g, "puzzles", cfg->puzzles);
	js_u64(g, "auth_fail_max", cfg->auth_fail_max);
	js_u64(g, "auth_fail_window", cfg->auth_fail_window);
	js_u64(g, "auth_fail_block", cfg->auth_fail_block);
	js_bool(g, "qcd", cfg->qcd_enabled);
	js_u64(g, "qcd_rollover_interval", cfg->qcd_rollover_interval);
	json_object_object_add(o, "global", g);
	for (size_t i = 0; i < cfg->nconns; i++)
		json_object_array_add(conns, js_conn(cfg, &cfg->conns[i]));
	json_object_object_add(o, "connections", conns);
	return o;
}
