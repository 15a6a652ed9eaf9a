/*
 * The arguments of "redirect" (rikectl(8), RFC 5685 5 gateway-initiated
 * redirect and drain), parsed for the daemon's control command and, before
 * anything is sent, by rikectl itself so that a usage error exits 2. Only
 * libc: rikectl compiles this file in.
 */
#ifndef RIKE_DAEMON_REDIRECT_CMD_H
#define RIKE_DAEMON_REDIRECT_CMD_H

#include <stddef.h>

#include "ike/ike.h"
#include "util/compiler.h"

#define REDIRECT_CMD_RATE_DEFAULT 50 /* SAs moved per second while draining */
#define REDIRECT_CMD_RATE_MAX     10000

#define REDIRECT_CMD_USAGE                                                                         \
	"redirect --to GW (--all | --conn NAME | --sa SERIAL | --peer ADDR[/LEN] | --id "          \
	"PATTERN)\n"                                                                               \
	"       redirect --drain --to GW [--rate N]\n"                                             \
	"       redirect --drain --stop\n"                                                         \
	"       redirect --status\n"

enum redirect_cmd_kind {
	REDIRECT_CMD_MOVE,   /* gateway-initiated redirect of the selected SAs */
	REDIRECT_CMD_DRAIN,  /* drain towards `to` at `rate` */
	REDIRECT_CMD_STOP,   /* stop draining */
	REDIRECT_CMD_STATUS, /* drain state and counters */
};

/* Points into argv and into itself (sel.peer = &peer): neither copy it nor
 * let argv go before it. */
struct redirect_cmd {
	enum redirect_cmd_kind kind;
	const char *to; /* GW as given: the engine judges it (address or FQDN) */
	unsigned rate;
	struct ike_redirect_sel sel;
	struct ike_addr peer;
};

/* argv[0] is "redirect"; "--json" words are skipped. 0, or -1 with one
 * line (no newline) in why saying what is wrong. */
int redirect_cmd_parse(int argc, char **argv, struct redirect_cmd *c, char *why, size_t whylen) WUR;

#endif
