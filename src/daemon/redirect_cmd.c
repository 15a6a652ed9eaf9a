/*
 * Parsing of "redirect ..." (redirect_cmd.h): the operator's side of
 * RFC 5685 5 (gateway-initiated redirect) and of draining a gateway.
 * Exactly one form per command: a selector with --to, --drain with --to
 * (and --rate) or --stop, or --status; anything else is refused with a
 * reason. The selector becomes the engine's struct ike_redirect_sel.
 */
#include "daemon/redirect_cmd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -1;
}

/* A decimal number in [min, max], nothing else. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* ADDR or ADDR/LEN, IPv4 or IPv6; without LEN the host (32 or 128). */
static int parse_peer(const char *s, struct redirect_cmd *c)
{
	char buf[INET6_ADDRSTRLEN + 8];
	char *slash;
	uint64_t plen;
	unsigned max;

	if (strlen(s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, strlen(s) + 1);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	memset(&c->peer, 0, sizeof(c->peer));
	if (inet_pton(AF_INET, buf, &((struct sockaddr_in *)&c->peer.ss)->sin_addr) == 1) {
		c->peer.ss.sa.sa_family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, &((struct sockaddr_in6 *)&c->peer.ss)->sin6_addr) ==
	           1) {
		c->peer.ss.sa.sa_family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	if (slash && parse_u64(slash, 0, max, &plen) < 0)
		return -1;
	c->sel.peer = &c->peer;
	c->sel.peer_plen = slash ? (unsigned)plen : max;
	return 0;
}

/* Which option words take a value. */
static const char *const with_value[] = {"--to", "--conn", "--sa", "--peer", "--id", "--rate"};

static bool takes_value(const char *opt)
{
	for (size_t i = 0; i < ARRAY_LEN(with_value); i++)
		if (!strcmp(opt, with_value[i]))
			return true;
	return false;
}

/* One option and its value (NULL for flags) into c; seen counts selectors. */
static int take(struct redirect_cmd *c, const char *opt, const char *val, unsigned *selectors,
                char *why, size_t len)
{
	uint64_t v;

	if (!strcmp(opt, "--to")) {
		c->to = val;
	} else if (!strcmp(opt, "--rate")) {
		if (parse_u64(val, 1, REDIRECT_CMD_RATE_MAX, &v) < 0)
			return fail(why, len, "--rate: '%s' is not a number from 1 to %u", val,
			            REDIRECT_CMD_RATE_MAX);
		c->rate = (unsigned)v;
	} else if (!strcmp(opt, "--conn")) {
		c->sel.conn = val;
	} else if (!strcmp(opt, "--sa")) {
		if (parse_u64(val, 1, UINT64_MAX, &v) < 0)
			return fail(why, len, "--sa: '%s' is not an SA serial number (1 or more)",
			            val);
		c->sel.serial = v;
	} else if (!strcmp(opt, "--peer")) {
		if (parse_peer(val, c) < 0)
			return fail(why, len,
			            "--peer: '%s' is not an IPv4 or IPv6 address with an optional "
			            "/prefix length",
			            val);
	} else if (!strcmp(opt, "--id")) {
		c->sel.id = val;
	} else if (!strcmp(opt, "--all")) {
		c->sel.all = true;
	} else {
		return 0; /* --drain, --stop, --status: counted by the caller */
	}
	if (!strcmp(opt, "--conn") || !strcmp(opt, "--sa") || !strcmp(opt, "--peer") ||
	    !strcmp(opt, "--id") || !strcmp(opt, "--all"))
		(*selectors)++;
	return 0;
}

/* The combination of options makes exactly one of the four forms. */
static int check_form(struct redirect_cmd *c, bool drain, bool stop, bool status,
                      unsigned selectors, char *why, size_t len)
{
	if (status) {
		if (drain || stop || c->to || c->rate || selectors)
			return fail(why, len, "--status takes no other option");
		c->kind = REDIRECT_CMD_STATUS;
		return 0;
	}
	if (drain) {
		if (selectors)
			return fail(why, len, "--drain moves every SA: it takes no selector");
		if (stop && (c->to || c->rate))
			return fail(why, len, "--drain --stop takes no --to or --rate");
		if (!stop && !c->to)
			return fail(why, len, "--drain needs --to GW (or --stop)");
		c->kind = stop ? REDIRECT_CMD_STOP : REDIRECT_CMD_DRAIN;
		if (!stop && !c->rate)
			c->rate = REDIRECT_CMD_RATE_DEFAULT;
		return 0;
	}
	if (stop)
		return fail(why, len, "--stop goes with --drain");
	if (c->rate)
		return fail(why, len, "--rate goes with --drain");
	if (!c->to)
		return fail(why, len, "--to GW is missing");
	if (selectors != 1)
		return fail(why, len, "%s",
		            selectors ? "more than one of --all, --conn, --sa, --peer, --id"
		                      : "which SAs? one of --all, --conn NAME, --sa "
		                        "SERIAL, --peer ADDR[/LEN], --id PATTERN");
	c->kind = REDIRECT_CMD_MOVE;
	return 0;
}

int redirect_cmd_parse(int argc, char **argv, struct redirect_cmd *c, char *why, size_t len)
{
	bool drain = false, stop = false, status = false;
	unsigned selectors = 0;
	char seen[16][12];
	size_t nseen = 0;

	memset(c, 0, sizeof(*c));
	if (argc < 2)
		return fail(why, len, "redirect needs options");
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = NULL;

		if (!strcmp(opt, "--json"))
			continue;
		if (strncmp(opt, "--", 2) ||
		    !(takes_value(opt) || !strcmp(opt, "--all") || !strcmp(opt, "--drain") ||
		      !strcmp(opt, "--stop") || !strcmp(opt, "--status")))
			return fail(why, len, "unknown option '%s'", opt);
		for (size_t k = 0; k < nseen; k++)
			if (!strcmp(seen[k], opt))
				return fail(why, len, "%s given twice", opt);
		if (nseen < ARRAY_LEN(seen))
			snprintf(seen[nseen++], sizeof(seen[0]), "%s", opt);
		if (takes_value(opt)) {
			if (i + 1 >= argc || !argv[i + 1][0] || !strncmp(argv[i + 1], "--", 2))
				return fail(why, len, "%s needs a value", opt);
			val = argv[++i];
		}
		drain |= !strcmp(opt, "--drain");
		stop |= !strcmp(opt, "--stop");
		status |= !strcmp(opt, "--status");
		if (take(c, opt, val, &selectors, why, len) < 0)
			return -1;
	}
	return check_form(c, drain, stop, status, selectors, why, len);
}
